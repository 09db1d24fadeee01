/* The spool behind the public meter_spool: shared by spool.c (open, submit,
 * close), commit.c (group commit), sender.c (the sender and flush) and
 * inspect.c (stats, list, export, dead letters). */
#ifndef MTR_SPOOL_INTERNAL_H
#define MTR_SPOOL_INTERNAL_H

#include "api/client.h"
#include "core/sync.h"
#include "meter/reliable.h"
#include "store.h"

#include <stdatomic.h>

/* One submit call waiting for its records to be committed. */
typedef struct mtr_commit_ticket {
  mtr_store_input *const *in;
  size_t n;
  int status;                 /* the store's answer for the whole group */
  meter_error err;
  int done;
  mtr_cond cond;              /* its owner sleeps here */
  struct mtr_commit_ticket *next;
} mtr_commit_ticket;

/* Group commit: concurrent submitters share one transaction (one fsync). The
 * first to arrive while no commit runs becomes the leader: it takes every
 * waiting ticket, appends them in one transaction, wakes their owners, and
 * goes on with whatever arrived meanwhile before handing over. No extra
 * thread. */
typedef struct mtr_group_commit {
  mtr_mutex lock;
  mtr_commit_ticket *head, *tail;
  int leader;
  int arriving;               /* submitters encoding records, about to enqueue */
  int queued;                 /* tickets waiting */
  int last_group;             /* tickets in the last commit */
  int64_t commit_delay_us;    /* longest wait for a group to form (fsync only) */
  mtr_store_input **batch;    /* the leader's gathering array */
  size_t cap;
} mtr_group_commit;

struct meter_spool {
  meter_client *client;       /* NULL: inspection only */
  const mtr_backend_ops *ops;
  mtr_backend *be;            /* the spool's own back-end instance, bound to env */
  mtr_env env;                /* the client's, with the spool's hooks and deadline */
  mtr_hooks hooks;            /* the client's clock; sleeps that close interrupts */
  const mtr_hooks *inner;     /* the client's hooks */
  mtr_logger *log;
  const char *backend;        /* back-end name (the client's, or the spool's) */

  const mtr_store_ops *sops;
  mtr_store *store;
  unsigned long fork_gen;
  char owner[40];             /* this spool's sender id (lease owner) */

  /* Options, defaults applied, in microseconds. */
  meter_spool_options o;
  int64_t grace_us, backoff_base_us, backoff_max_us, poll_us, dead_after_us, keep_us;
  int64_t full_wait_us, lease_us;

  mtr_group_commit gc;

  mtr_mutex lock;             /* everything below */
  pthread_cond_t cond;        /* any change: commits, sends, flush, stop (CLOCK_MONOTONIC) */
  int closing;                /* no new calls */
  int stopping;               /* the sender must stop */
  atomic_int abort_io;        /* the send in flight must give up now */
  unsigned active;            /* public calls in progress */
  int thread_started;
  pthread_t thread;
  int sending;                /* the sender role is taken (thread or an inline flush) */
  int is_sender;              /* this process holds the store's sender role */
  unsigned long kicks;        /* bumped to wake the sender */
  unsigned long cycles;       /* sender cycles done (flush waits on it) */
  int64_t send_deadline_mono; /* a flush/close deadline for sends (0: none) */
  unsigned seal_started;      /* flushes with OPEN_HOURS in progress: the
                                 sender also seals hours that have begun */
  unsigned failures;          /* consecutive failed requests (backoff) */
  int64_t backoff_until_mono;
  int64_t last_purge_us;
  uint64_t waiting_records, waiting_bytes;   /* approximate; refreshed when full */

  uint64_t submitted, requests, requests_failed;
  int last_status;
  char last_message[METER_ERROR_MESSAGE_SIZE];
  meter_error last_error;     /* meter_spool_last_error */
};

/* ---- spool.c ---- */
/* Entry and exit of every public call: refuses a forked child and a closing
 * spool (METER_ECLOSED, recorded in err). */
int mtr_spool_enter(meter_spool *s, meter_error *err);
void mtr_spool_leave(meter_spool *s);
/* Records err as the spool's last error; returns err->status. */
int mtr_spool_fail(meter_spool *s, const meter_error *err);
/* Waits on s->cond (s->lock held) until the monotonic time `until_mono`
 * (hooks clock) or a broadcast. With a non-default clock (tests), sleeps on
 * that clock instead. */
void mtr_spool_wait(meter_spool *s, int64_t until_mono);
void mtr_spool_kick(meter_spool *s);

/* ---- commit.c ---- */
void mtr_group_commit_init(mtr_group_commit *gc);
void mtr_group_commit_dispose(mtr_group_commit *gc);
/* A submitter announces itself before encoding (arrive); then either runs
 * its ticket, which counts as having arrived, or gives up (leave). */
void mtr_group_commit_arrive(mtr_group_commit *gc);
void mtr_group_commit_leave(mtr_group_commit *gc);
/* Appends the ticket's inputs in a group transaction; returns the status. */
int mtr_group_commit_run(meter_spool *s, mtr_commit_ticket *t);

/* ---- sender.c ---- */
int mtr_sender_start(meter_spool *s, meter_error *err);
void mtr_sender_stop(meter_spool *s);
/* One round: sort what was submitted (ingest), seal the hours that are due,
 * claim a batch, send it, record the outcomes. Returns 1 if it sent
 * something, 0 if idle (*wait_us: until something is due), or a negative
 * meter status on a store failure (*wait_us: backoff). */
int mtr_sender_cycle(meter_spool *s, int include_started, int64_t *wait_us);
int mtr_spool_flush(meter_spool *s, long deadline_ms, unsigned flags);
/* Sorts the records received so far (ingest). Any handle may: it is one
 * transaction per chunk, and a record sorted after its hour was sealed is
 * late whoever sorts it. Inspection sorts first, to show the real picture. */
int mtr_spool_sort(meter_spool *s, meter_error *err);

/* ---- inspect.c ---- */
/* The outcome callback for a unit after a send (sent = 1) or after sorting
 * made it a dead letter (sent = 0). */
void mtr_spool_notify(meter_spool *s, const mtr_unit *u, int state, int outcome, int sent,
                      const char *error_code, const char *message, const char *record_id);

#endif

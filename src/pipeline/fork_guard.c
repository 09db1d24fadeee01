/* The pipeline's pthread_atfork handlers (see fork_guard.h). */
#include "fork_guard.h"

#include "core/alloc.h"
#include "core/sync.h"

#include <stdatomic.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static mtr_mutex lock = MTR_MUTEX_INIT;
static atomic_ulong generation;
static int *fds;
static size_t nfds, capfds;

/* Taken around fork() so the child never sees the list half-updated. */
static void prepare(void) { mtr_mutex_lock(&lock); }
static void parent(void) { mtr_mutex_unlock(&lock); }

static void child(void)
{
  for (size_t i = 0; i < nfds; i++)
    close(fds[i]);
  nfds = 0;
  atomic_fetch_add(&generation, 1);
  mtr_mutex_unlock(&lock);
}

static void install(void)
{
  pthread_atfork(prepare, parent, child);
}

unsigned long mtr_fork_generation(void)
{
  pthread_once(&once, install);
  return atomic_load(&generation);
}

int mtr_fork_register_fd(int fd)
{
  pthread_once(&once, install);
  mtr_mutex_lock(&lock);
  int rc = 0;
  if (nfds == capfds) {
    size_t cap = capfds ? capfds * 2 : 8;
    int *grown = mtr_realloc(fds, cap * sizeof *grown);
    if (grown) {
      fds = grown;
      capfds = cap;
    } else {
      rc = -1;
    }
  }
  if (rc == 0)
    fds[nfds++] = fd;
  mtr_mutex_unlock(&lock);
  return rc;
}

void mtr_fork_unregister_fd(int fd)
{
  mtr_mutex_lock(&lock);
  for (size_t i = 0; i < nfds; i++) {
    if (fds[i] == fd) {
      fds[i] = fds[--nfds];
      break;
    }
  }
  mtr_mutex_unlock(&lock);
}

/* Integration-test harness: a throwaway PostgreSQL cluster in a temporary
 * folder, listening on a free loopback port, for the fleet-mode tests.
 * Runs the server as the `postgres` user when the tests run as root
 * (initdb refuses root). */
#ifndef PG_PROC_H
#define PG_PROC_H

typedef struct pg_proc {
  char dir[256];       /* data directory (removed by pg_stop) */
  char bindir[256];
  int port;
  char conninfo[256];  /* "postgresql://meter@127.0.0.1:PORT/meter" */
  int running;
} pg_proc;

/* initdb + start + create the `meter` database. 0 on success; -1 with a
 * message on stderr (PostgreSQL missing: scripts/test.sh installs it). */
int pg_start(pg_proc *p);
/* Stops the server (fast shutdown), keeping the data. */
int pg_halt(pg_proc *p);
/* Starts it again on the same port and data. */
int pg_resume(pg_proc *p);
/* Stops the server and removes the data directory. */
void pg_stop(pg_proc *p);

#endif

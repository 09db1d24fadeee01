/* fork() and the reliable mode. A forked child inherits the parent's memory
 * (spools, their SQLite connections) but not its threads, and must not use
 * the parent's database connections (SQLite forbids it). Two things make
 * that safe:
 *  - a process-wide generation number, bumped in every child by a
 *    pthread_atfork handler: a spool remembers the generation it was opened
 *    in, and refuses calls from another one (METER_ECLOSED);
 *  - the sender lock descriptors are closed in the child, so a child that
 *    outlives its parent does not keep the spool's sender role locked. */
#ifndef MTR_FORK_GUARD_H
#define MTR_FORK_GUARD_H

/* The current generation (0 in the original process). */
unsigned long mtr_fork_generation(void);

/* Descriptors to close in a forked child. Register returns 0 on success. */
int mtr_fork_register_fd(int fd);
void mtr_fork_unregister_fd(int fd);

#endif

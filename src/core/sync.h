/* Thin wrappers over pthreads so the rest of the code reads plainly. */
#ifndef MTR_SYNC_H
#define MTR_SYNC_H

#include <pthread.h>

typedef pthread_mutex_t mtr_mutex;
typedef pthread_cond_t mtr_cond;

#define MTR_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER

static inline int mtr_mutex_init(mtr_mutex *m) { return pthread_mutex_init(m, NULL); }
static inline void mtr_mutex_destroy(mtr_mutex *m) { pthread_mutex_destroy(m); }
static inline void mtr_mutex_lock(mtr_mutex *m) { pthread_mutex_lock(m); }
static inline void mtr_mutex_unlock(mtr_mutex *m) { pthread_mutex_unlock(m); }
static inline int mtr_cond_init(mtr_cond *c) { return pthread_cond_init(c, NULL); }
static inline void mtr_cond_destroy(mtr_cond *c) { pthread_cond_destroy(c); }
static inline void mtr_cond_wait(mtr_cond *c, mtr_mutex *m) { pthread_cond_wait(c, m); }
static inline void mtr_cond_broadcast(mtr_cond *c) { pthread_cond_broadcast(c); }
static inline void mtr_cond_signal(mtr_cond *c) { pthread_cond_signal(c); }

#endif

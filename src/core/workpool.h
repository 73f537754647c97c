/* Worker threads for work that must not block the event loop: storage and
 * password hashing.
 *
 * A vn_work_t is embedded in the caller's job struct. work() runs on a
 * worker thread; done() runs afterwards on the loop thread that submitted it.
 * Jobs of one pool start in submission order; with one thread (the storage
 * pool) they also finish in that order, and done() callbacks run in the
 * order jobs finished. The storage order that modules rely on is promised
 * by xmpp/server.h (vn_store_submit_ordered, vn_store_barrier) on top of
 * this.
 *
 * Ownership: the job struct belongs to the caller until done() is called;
 * done() typically frees it. vn_pool_free() waits for queued jobs, then runs
 * their done() callbacks. */
#ifndef VN_CORE_WORKPOOL_H
#define VN_CORE_WORKPOOL_H

#include "core/loop.h"

typedef struct vn_work vn_work_t;
typedef struct vn_pool vn_pool_t;

struct vn_work {
    void (*work)(vn_work_t *w);
    void (*done)(vn_work_t *w);
    vn_work_t *next;
};

vn_pool_t *vn_pool_new(vn_loop_t *loop, int nthreads, const char *name);
void vn_pool_submit(vn_pool_t *p, vn_work_t *w, void (*work)(vn_work_t *), void (*done)(vn_work_t *));
/* Group commit: a worker takes up to max_batch queued jobs at once, calls
 * begin(ud) before the first work() and commit(ud) after the last, and only
 * then lets their done() callbacks run. When begin or commit fails, each
 * job of the batch runs again on its own: work() functions of such a pool
 * must be safe to run twice (reset their outputs first). For a
 * single-thread pool only. */
void vn_pool_set_batch(vn_pool_t *p, int (*begin)(void *ud), int (*commit)(void *ud), void *ud,
                       int max_batch);
/* Jobs submitted but whose done() has not run yet. */
size_t vn_pool_pending(const vn_pool_t *p);
/* Drains the queue, joins the threads, runs the remaining done() callbacks. */
void vn_pool_free(vn_pool_t *p);

#endif

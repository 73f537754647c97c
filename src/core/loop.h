/* The event loop: a thin epoll reactor with timers and deferred calls.
 *
 * One loop runs per event-loop thread; every object registered with it
 * (sockets, timers, deferred calls) belongs to that thread and is touched
 * only there. Other threads reach a loop through vn_pool completions (see
 * workpool.h), which wake it with an eventfd.
 *
 * Ownership: the loop never owns the vn_io_t / vn_timer_t structures; they
 * are embedded in their owners (sessions, listeners), which must remove them
 * before freeing. */
#ifndef VN_CORE_LOOP_H
#define VN_CORE_LOOP_H

#include <stddef.h>
#include <stdint.h>

typedef struct vn_loop vn_loop_t;
typedef struct vn_io vn_io_t;
typedef struct vn_timer vn_timer_t;

typedef void (*vn_io_cb)(vn_io_t *io, uint32_t events);
typedef void (*vn_timer_cb)(vn_timer_t *t);
typedef void (*vn_defer_cb)(void *arg);

struct vn_io {
    int fd;
    uint32_t events; /* EPOLLIN | EPOLLOUT currently registered */
    vn_io_cb cb;
};

struct vn_timer {
    uint64_t due_ms;
    uint32_t heap_index; /* 0: not armed */
    vn_timer_cb cb;
    void *cb_data; /* for timers not embedded in their owner */
};

vn_loop_t *vn_loop_new(void);
void vn_loop_free(vn_loop_t *loop);
/* Runs until vn_loop_stop(). Returns 0, or -1 when epoll_wait fails
 * (logged). */
int vn_loop_run(vn_loop_t *loop);
void vn_loop_stop(vn_loop_t *loop);
int vn_loop_stopping(const vn_loop_t *loop);
/* Monotonic milliseconds, cached once per loop iteration. */
uint64_t vn_loop_now(const vn_loop_t *loop);

int vn_io_start(vn_loop_t *loop, vn_io_t *io, int fd, uint32_t events, vn_io_cb cb);
int vn_io_set(vn_loop_t *loop, vn_io_t *io, uint32_t events);
void vn_io_stop(vn_loop_t *loop, vn_io_t *io);

void vn_timer_start(vn_loop_t *loop, vn_timer_t *t, uint64_t after_ms, vn_timer_cb cb);
void vn_timer_stop(vn_loop_t *loop, vn_timer_t *t);

/* Calls fn(arg) once, after the current batch of events has been handled
 * (used to free objects outside their own callbacks and to flush output in
 * batches). */
void vn_loop_defer(vn_loop_t *loop, vn_defer_cb fn, void *arg);

#endif

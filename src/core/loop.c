#include "core/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

typedef struct deferred {
    vn_defer_cb fn;
    void *arg;
} deferred_t;

struct vn_loop {
    int epfd;
    int stop;
    uint64_t now;
    /* Binary min-heap of armed timers, 1-based (index 0 unused). */
    vn_timer_t **heap;
    uint32_t heap_len;
    uint32_t heap_cap;
    deferred_t *deferred;
    size_t ndeferred;
    size_t deferred_cap;
};

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

vn_loop_t *vn_loop_new(void)
{
    vn_loop_t *loop = vn_xcalloc(1, sizeof(*loop));
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }
    loop->now = monotonic_ms();
    loop->heap_cap = 64;
    loop->heap = vn_xcalloc(loop->heap_cap, sizeof(*loop->heap));
    return loop;
}

void vn_loop_free(vn_loop_t *loop)
{
    if (!loop) return;
    close(loop->epfd);
    free(loop->heap);
    free(loop->deferred);
    free(loop);
}

void vn_loop_stop(vn_loop_t *loop)
{
    loop->stop = 1;
}

int vn_loop_stopping(const vn_loop_t *loop)
{
    return loop->stop;
}

uint64_t vn_loop_now(const vn_loop_t *loop)
{
    return loop->now;
}

int vn_io_start(vn_loop_t *loop, vn_io_t *io, int fd, uint32_t events, vn_io_cb cb)
{
    io->fd = fd;
    io->cb = cb;
    io->events = events;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int vn_io_set(vn_loop_t *loop, vn_io_t *io, uint32_t events)
{
    if (io->events == events) return 0;
    io->events = events;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

void vn_io_stop(vn_loop_t *loop, vn_io_t *io)
{
    if (io->fd >= 0) epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->events = 0;
}

/* ---- timer heap ---- */

static void heap_swap(vn_loop_t *loop, uint32_t a, uint32_t b)
{
    vn_timer_t *t = loop->heap[a];
    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
    loop->heap[a]->heap_index = a;
    loop->heap[b]->heap_index = b;
}

static void heap_up(vn_loop_t *loop, uint32_t i)
{
    while (i > 1 && loop->heap[i / 2]->due_ms > loop->heap[i]->due_ms) {
        heap_swap(loop, i, i / 2);
        i /= 2;
    }
}

static void heap_down(vn_loop_t *loop, uint32_t i)
{
    for (;;) {
        uint32_t l = i * 2, r = l + 1, m = i;
        if (l <= loop->heap_len && loop->heap[l]->due_ms < loop->heap[m]->due_ms) m = l;
        if (r <= loop->heap_len && loop->heap[r]->due_ms < loop->heap[m]->due_ms) m = r;
        if (m == i) return;
        heap_swap(loop, i, m);
        i = m;
    }
}

void vn_timer_stop(vn_loop_t *loop, vn_timer_t *t)
{
    uint32_t i = t->heap_index;
    if (i == 0) return;
    t->heap_index = 0;
    if (i != loop->heap_len) {
        loop->heap[i] = loop->heap[loop->heap_len];
        loop->heap[i]->heap_index = i;
        loop->heap_len--;
        heap_up(loop, i);
        heap_down(loop, i);
    } else {
        loop->heap_len--;
    }
}

void vn_timer_start(vn_loop_t *loop, vn_timer_t *t, uint64_t after_ms, vn_timer_cb cb)
{
    vn_timer_stop(loop, t);
    t->cb = cb;
    t->due_ms = loop->now + after_ms;
    if (loop->heap_len + 1 >= loop->heap_cap) {
        loop->heap_cap *= 2;
        loop->heap = vn_xrealloc(loop->heap, loop->heap_cap * sizeof(*loop->heap));
    }
    loop->heap[++loop->heap_len] = t;
    t->heap_index = loop->heap_len;
    heap_up(loop, loop->heap_len);
}

static void run_timers(vn_loop_t *loop)
{
    while (loop->heap_len > 0 && loop->heap[1]->due_ms <= loop->now) {
        vn_timer_t *t = loop->heap[1];
        vn_timer_stop(loop, t);
        t->cb(t);
    }
}

void vn_loop_defer(vn_loop_t *loop, vn_defer_cb fn, void *arg)
{
    if (loop->ndeferred == loop->deferred_cap) {
        loop->deferred_cap = loop->deferred_cap ? loop->deferred_cap * 2 : 64;
        loop->deferred = vn_xrealloc(loop->deferred, loop->deferred_cap * sizeof(deferred_t));
    }
    loop->deferred[loop->ndeferred++] = (deferred_t){fn, arg};
}

static void run_deferred(vn_loop_t *loop)
{
    /* Deferred calls may defer more; run until the queue is empty. */
    size_t i = 0;
    while (i < loop->ndeferred) {
        deferred_t d = loop->deferred[i++];
        d.fn(d.arg);
    }
    loop->ndeferred = 0;
}

int vn_loop_run(vn_loop_t *loop)
{
    enum { MAX_EVENTS = 256 };
    struct epoll_event events[MAX_EVENTS];
    while (!loop->stop) {
        run_deferred(loop);
        int timeout = -1;
        if (loop->heap_len > 0) {
            uint64_t due = loop->heap[1]->due_ms;
            timeout = due <= loop->now ? 0 : (int)(due - loop->now);
        }
        int n = epoll_wait(loop->epfd, events, MAX_EVENTS, timeout);
        loop->now = monotonic_ms();
        if (n < 0) {
            if (errno == EINTR) continue;
            vn_error("epoll_wait: %s", strerror(errno));
            return -1;
        }
        for (int i = 0; i < n; i++) {
            vn_io_t *io = events[i].data.ptr;
            io->cb(io, events[i].events);
        }
        run_timers(loop);
    }
    run_deferred(loop);
    return 0;
}

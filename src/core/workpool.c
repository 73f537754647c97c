#include "core/workpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

typedef struct queue {
    vn_work_t *head, *tail;
} queue_t;

struct vn_pool {
    vn_loop_t *loop;
    vn_io_t io; /* eventfd: workers signal finished jobs */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    queue_t todo;
    queue_t finished;
    size_t pending;
    int quit;
    int nthreads;
    pthread_t *threads;
    char name[16];
    int (*batch_begin)(void *ud);
    int (*batch_commit)(void *ud);
    void *batch_ud;
    int max_batch;
};

void vn_pool_set_batch(vn_pool_t *p, int (*begin)(void *ud), int (*commit)(void *ud), void *ud,
                       int max_batch)
{
    pthread_mutex_lock(&p->mu);
    p->batch_begin = begin;
    p->batch_commit = commit;
    p->batch_ud = ud;
    p->max_batch = max_batch < 1 ? 1 : max_batch;
    pthread_mutex_unlock(&p->mu);
}

/* Runs a chain of jobs (linked through next), grouped when configured. */
static void run_chain(vn_pool_t *p, vn_work_t *first, int n)
{
    int grouped = n > 1 && p->batch_begin && p->batch_begin(p->batch_ud) == 0;
    vn_work_t *w = first;
    for (int i = 0; i < n; i++, w = w->next)
        w->work(w);
    if (grouped && p->batch_commit(p->batch_ud) != 0) {
        /* Nothing of the group is durable: redo every job alone. */
        w = first;
        for (int i = 0; i < n; i++, w = w->next)
            w->work(w);
    }
}

static void q_push(queue_t *q, vn_work_t *w)
{
    w->next = NULL;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
}

static vn_work_t *q_take_all(queue_t *q)
{
    vn_work_t *h = q->head;
    q->head = q->tail = NULL;
    return h;
}

static void *worker_main(void *arg)
{
    vn_pool_t *p = arg;
    pthread_setname_np(pthread_self(), p->name);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->todo.head && !p->quit)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->todo.head) break; /* quitting and nothing left */
        /* Take a batch (one job unless group commit is configured). */
        int limit = p->batch_begin ? p->max_batch : 1;
        vn_work_t *first = p->todo.head, *last = first;
        int n = 1;
        while (n < limit && last->next) {
            last = last->next;
            n++;
        }
        p->todo.head = last->next;
        if (!p->todo.head) p->todo.tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&p->mu);

        run_chain(p, first, n);

        pthread_mutex_lock(&p->mu);
        int was_empty = p->finished.head == NULL;
        if (p->finished.tail)
            p->finished.tail->next = first;
        else
            p->finished.head = first;
        p->finished.tail = last;
        if (was_empty) {
            uint64_t one = 1;
            ssize_t r = write(p->io.fd, &one, sizeof(one));
            (void)r;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void run_finished(vn_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    vn_work_t *w = q_take_all(&p->finished);
    pthread_mutex_unlock(&p->mu);
    while (w) {
        vn_work_t *next = w->next;
        p->pending--;
        w->done(w);
        w = next;
    }
}

static void on_wakeup(vn_io_t *io, uint32_t events)
{
    (void)events;
    vn_pool_t *p = (vn_pool_t *)((char *)io - offsetof(vn_pool_t, io));
    uint64_t v;
    ssize_t r = read(io->fd, &v, sizeof(v));
    (void)r;
    run_finished(p);
}

vn_pool_t *vn_pool_new(vn_loop_t *loop, int nthreads, const char *name)
{
    vn_pool_t *p = vn_xcalloc(1, sizeof(*p));
    p->loop = loop;
    p->nthreads = nthreads < 1 ? 1 : nthreads;
    snprintf(p->name, sizeof(p->name), "%s", name);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0 || vn_io_start(loop, &p->io, fd, EPOLLIN, on_wakeup) < 0) {
        vn_error("pool %s: eventfd: %s", name, strerror(errno));
        abort();
    }
    p->threads = vn_xcalloc((size_t)p->nthreads, sizeof(pthread_t));
    for (int i = 0; i < p->nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
            vn_error("pool %s: cannot start thread", name);
            abort();
        }
    }
    return p;
}

void vn_pool_submit(vn_pool_t *p, vn_work_t *w, void (*work)(vn_work_t *), void (*done)(vn_work_t *))
{
    w->work = work;
    w->done = done;
    p->pending++;
    pthread_mutex_lock(&p->mu);
    q_push(&p->todo, w);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

size_t vn_pool_pending(const vn_pool_t *p)
{
    return p->pending;
}

void vn_pool_free(vn_pool_t *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    /* The threads are gone; done() callbacks may still submit work (a
     * session closing during shutdown saves its state), so run the rest
     * inline until nothing is left. */
    /* Bounded: a done() that always submits more must not hang shutdown. */
    for (int round = 0;; round++) {
        run_finished(p);
        vn_work_t *w = q_take_all(&p->todo);
        if (!w) break;
        if (round == 100000) {
            vn_error("pool %s: jobs keep coming during shutdown; giving up", p->name);
            break;
        }
        while (w) {
            vn_work_t *next = w->next;
            w->work(w);
            q_push(&p->finished, w);
            w = next;
        }
    }
    vn_io_stop(p->loop, &p->io);
    close(p->io.fd);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

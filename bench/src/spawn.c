/* Parent side: fork the worker processes, talk to them, collect results. */
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int bench_spawn(struct bench *b, uint32_t accounts)
{
    const struct opts *o = b->o;
    raise_nofile();
    int nw = o->workers;
    if (nw <= 0) {
        /* two by default (the generator then scales past one core when it is
         * not pinned), more when the open-files cap requires it */
        nw = (int)((accounts + CONNS_PER_WORKER_MAX - 1) / CONNS_PER_WORKER_MAX);
        if (nw < 2) nw = 2;
    }
    if ((uint32_t)nw > accounts) nw = (int)(accounts ? accounts : 1);
    if (nw > MAX_WORKERS) die("too many workers (%d, max %d)", nw, MAX_WORKERS);
    if ((accounts + (uint32_t)nw - 1) / (uint32_t)nw > CONNS_PER_WORKER_MAX)
        die("%u connections need at least %u workers", accounts,
            (accounts + CONNS_PER_WORKER_MAX - 1) / CONNS_PER_WORKER_MAX);
    b->nw = nw;
    b->total = accounts;
    b->shm_size = sizeof(struct shm) + (size_t)accounts * sizeof(struct ring_slot);
    b->shm = mmap(NULL, b->shm_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b->shm == MAP_FAILED) die("mmap: %s", strerror(errno));
    fflush(NULL);
    uint32_t at = 0;
    for (int i = 0; i < nw; i++) {
        uint32_t cnt = accounts / (uint32_t)nw + ((uint32_t)i < accounts % (uint32_t)nw);
        b->wfirst[i] = b->sc->interleave ? (uint32_t)i : at;
        b->wcount[i] = cnt;
        at += cnt;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
            die("socketpair: %s", strerror(errno));
        pid_t pid = fork();
        if (pid < 0) die("fork: %s", strerror(errno));
        if (pid == 0) {
            close(sv[0]);
            for (int j = 0; j < i; j++)
                close(b->ctl[j]);
            struct worker w = {0};
            w.o = o;
            w.sc = b->sc;
            w.id = i;
            w.ctl = sv[1];
            w.first = b->wfirst[i];
            w.stride = b->sc->interleave ? (uint32_t)nw : 1;
            w.count = cnt;
            w.total = accounts;
            w.nw = nw;
            w.shm = b->shm;
            worker_main(&w);
            _exit(0);
        }
        close(sv[1]);
        b->pid[i] = pid;
        b->ctl[i] = sv[0];
    }
    return 0;
}

void bench_send(struct bench *b, int i, int cmd, int64_t a, int64_t bb, int64_t c)
{
    struct ctl m = {.cmd = cmd, .worker = i, .a = a, .b = bb, .c = c};
    if (send(b->ctl[i], &m, sizeof m, MSG_NOSIGNAL) != sizeof m)
        fprintf(stderr, "vestnik-bench: worker %d is gone\n", i);
}

void bench_send_all(struct bench *b, int cmd, int64_t a, int64_t bb, int64_t c)
{
    for (int i = 0; i < b->nw; i++)
        bench_send(b, i, cmd, a, bb, c);
}

int bench_wait_all(struct bench *b, int ev, double timeout_s, struct ctl *replies)
{
    int got[MAX_WORKERS] = {0};
    int left = b->nw;
    int64_t deadline = now_ns() + (int64_t)(timeout_s * 1e9);
    while (left > 0) {
        struct pollfd pf[MAX_WORKERS];
        for (int i = 0; i < b->nw; i++)
            pf[i] = (struct pollfd){.fd = got[i] ? -1 : b->ctl[i], .events = POLLIN};
        int64_t rem = (deadline - now_ns()) / 1000000;
        if (rem <= 0) return -1;
        int n = poll(pf, (nfds_t)b->nw, (int)(rem > 1000 ? 1000 : rem));
        if (n < 0 && errno != EINTR) return -1;
        for (int i = 0; i < b->nw; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            struct ctl m;
            ssize_t r = recv(b->ctl[i], &m, sizeof m, 0);
            if (r != sizeof m) {
                fprintf(stderr, "vestnik-bench: worker %d died\n", i);
                return -1;
            }
            if (m.cmd != ev) continue;
            if (replies) replies[i] = m;
            got[i] = 1;
            left--;
        }
    }
    return 0;
}

int bench_wait_one(struct bench *b, int i, int ev, double timeout_s, struct ctl *reply)
{
    int64_t deadline = now_ns() + (int64_t)(timeout_s * 1e9);
    for (;;) {
        int64_t rem = (deadline - now_ns()) / 1000000;
        if (rem <= 0) return -1;
        struct pollfd pf = {.fd = b->ctl[i], .events = POLLIN};
        int n = poll(&pf, 1, (int)(rem > 1000 ? 1000 : rem));
        if (n < 0 && errno != EINTR) return -1;
        if (n <= 0) continue;
        struct ctl m;
        if (recv(b->ctl[i], &m, sizeof m, 0) != sizeof m) {
            fprintf(stderr, "vestnik-bench: worker %d died\n", i);
            return -1;
        }
        if (m.cmd != ev) continue;
        if (reply) *reply = m;
        return 0;
    }
}

void bench_stop(struct bench *b)
{
    bench_send_all(b, CMD_QUIT, 0, 0, 0);
    for (int i = 0; i < b->nw; i++) {
        int st;
        int64_t deadline = now_ns() + 10000000000LL;
        while (waitpid(b->pid[i], &st, WNOHANG) == 0) {
            if (now_ns() > deadline) {
                kill(b->pid[i], SIGKILL);
                waitpid(b->pid[i], &st, 0);
                break;
            }
            usleep(10000);
        }
        close(b->ctl[i]);
    }
    munmap(b->shm, b->shm_size);
    b->shm = NULL;
}

double bench_gen_cpu(struct bench *b)
{
    struct pidset ps = {0};
    double total = self_cpu_s();
    for (int i = 0; i < b->nw; i++) {
        ps.n = 1;
        ps.pid[0] = b->pid[i];
        double c = proc_cpu_s(&ps);
        if (c > 0) total += c;
    }
    return total;
}

void bench_sum_results(struct bench *b, struct wres *sum)
{
    memset(sum, 0, sizeof *sum);
    hist_init(&sum->lat);
    for (int i = 0; i < b->nw; i++) {
        const struct wres *r = &b->shm->w[i];
        hist_merge(&sum->lat, &r->lat);
        sum->ok += r->ok;
        sum->failed += r->failed;
        sum->sent += r->sent;
        sum->sent_window += r->sent_window;
        sum->delivered += r->delivered;
        sum->delivered_window += r->delivered_window;
        sum->dups += r->dups;
        sum->reordered += r->reordered;
        sum->misrouted += r->misrouted;
        sum->errors += r->errors;
        sum->late += r->late;
        sum->stale += r->stale;
        sum->pbkdf2_runs += r->pbkdf2_runs;
        sum->cache_hits += r->cache_hits;
        if (!sum->mech_used) sum->mech_used = r->mech_used;
        if (!sum->tls_desc[0]) memcpy(sum->tls_desc, r->tls_desc, sizeof sum->tls_desc);
        if (!sum->first_error[0] && r->first_error[0])
            memcpy(sum->first_error, r->first_error, sizeof sum->first_error);
        sum->nerrors += r->nerrors;
    }
}

/* idle: sessions signed in (with initial presence) and held, in steps; at
 * each step the server's resident memory is read from /proc and divided by
 * the number of sessions, so the growth is visible. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"

/* ---- worker ---- */

static void w_cmd(struct worker *w, const struct ctl *m)
{
    if (m->cmd == CMD_CONNECT) hold_cmd(w, (uint32_t)m->a);
}

static void w_online(struct worker *w, struct xsess *s)
{
    (void)s;
    w->res->ok++;
    hold_check(w);
}

static void w_closed(struct worker *w, struct xsess *s, const char *err)
{
    (void)err;
    if (!s->t_online)
        hold_failed++;
    else
        w->res->errors++; /* an established session was dropped */
    hold_check(w);
}

/* ---- parent ---- */

static int run(struct bench *b)
{
    const struct opts *o = b->o;
    if (!o->server.n) die("idle needs --server-pid (the server's resident memory is the result)");
    unsigned max = o->steps[o->nsteps - 1];
    bench_spawn(b, max);
    sleep_until(now_ns() + 500000000);
    long base = proc_rss_kib(&o->server);
    if (base < 0) die("cannot read /proc/%d/status", (int)o->server.pid[0]);
    struct row rows[MAX_STEPS];
    int nr = 0, rc = 0;
    long prev_rss = base;
    unsigned prev_n = 0;
    for (int i = 0; i < o->nsteps; i++) {
        unsigned n = o->steps[i];
        int64_t t0 = now_ns();
        double sc0 = proc_cpu_s(&o->server);
        long failed = bench_hold(b, n);
        double ramp = (double)(now_ns() - t0) / 1e9;
        double srv = proc_cpu_s(&o->server) - sc0;
        if (failed != 0) {
            fprintf(stderr, "vestnik-bench: %s at step %u\n",
                    failed < 0 ? "timed out" : "sign-ins failed", n);
            rc = 1;
            if (failed < 0) break;
        }
        sleep_until(now_ns() + (int64_t)(o->settle_s * 1e9));
        struct wres sum;
        bench_sum_results(b, &sum);
        long rss = proc_rss_kib(&o->server);
        struct row *r = &rows[nr++];
        memset(r, 0, sizeof *r);
        row_head(b, r);
        row_int(r, "sessions", (long long)sum.ok - (long long)sum.errors);
        row_int(r, "failed", failed);
        row_int(r, "rss_kib", rss);
        row_int(r, "base_kib", base);
        row_num(r, "kib_per_session", (double)(rss - base) / n, 1);
        row_num(r, "marginal_kib_per_session", (double)(rss - prev_rss) / (n - prev_n), 1);
        row_num(r, "ramp_s", ramp, 1);
        row_num(r, "ramp_logins_per_s", (n - prev_n) / ramp, 0);
        row_num(r, "ramp_server_cpu_pct", 100 * srv / ramp, 0);
        prev_rss = rss;
        prev_n = n;
    }
    struct wres sum;
    bench_sum_results(b, &sum);
    bench_meta(b, &sum);
    bench_emit(b,
               "idle (server RSS from /proc; per session = (RSS - RSS before any session) / "
               "sessions; marginal = growth since the previous step)",
               rows, nr);
    if (sum.errors) {
        fprintf(stderr, "vestnik-bench: %llu held sessions were dropped\n",
                (unsigned long long)sum.errors);
        rc = 1;
    }
    bench_stop(b);
    return rc;
}

const struct scenario scenario_idle = {
    .name = "idle",
    .interleave = 1,
    .run = run,
    .w_cmd = w_cmd,
    .w_online = w_online,
    .w_closed = w_closed,
};

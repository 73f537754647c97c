/* login: every account signs in (TCP, TLS, SASL, bind, presence) and out
 * again, as many at once as --concurrency; logins/s and the latency of a full
 * sign-in (connect() to the bind result). Rounds are repeated; the first
 * --warmup-rounds are not measured. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"

/* ---- worker ---- */

static uint32_t done;
static int measured;

static void w_cmd(struct worker *w, const struct ctl *m)
{
    if (m->cmd != CMD_LOGIN) return;
    done = 0;
    measured = (int)m->b;
    hist_init(&w->res->lat);
    w->res->ok = w->res->failed = 0;
    uint32_t conc = w->o->concurrency / (unsigned)w->nw;
    if (!w->count) {
        worker_send(w, EV_DONE, 0, 0);
        return;
    }
    worker_connect(w, 0, w->count, conc ? conc : 1);
}

static void w_online(struct worker *w, struct xsess *s)
{
    w->res->ok++;
    if (measured) hist_add(&w->res->lat, s->t_online - s->t_start);
    xmpp_close(s);
}

static void w_closed(struct worker *w, struct xsess *s, const char *err)
{
    (void)err;
    if (!s->t_online) w->res->failed++;
    if (++done == w->count) worker_send(w, EV_DONE, 0, 0);
}

/* ---- parent ---- */

static int run(struct bench *b)
{
    const struct opts *o = b->o;
    bench_spawn(b, o->n);
    int total = o->warmup_rounds + o->rounds;
    struct row *rows = xcalloc((size_t)total + 1, sizeof *rows);
    double *rates = xcalloc((size_t)total + 1, sizeof *rates);
    int nr = 0, rc = 0;
    struct hist all;
    hist_init(&all);
    struct wres sum;
    memset(&sum, 0, sizeof sum);
    uint64_t failed = 0;
    double srv_cpu_all = 0, gen_cpu_all = 0, wall_all = 0;
    for (int r = 0; r < total; r++) {
        int meas = r >= o->warmup_rounds;
        double sc0 = o->server.n ? proc_cpu_s(&o->server) : 0;
        double gc0 = bench_gen_cpu(b);
        int64_t t0 = now_ns();
        bench_send_all(b, CMD_LOGIN, r, meas, 0);
        if (bench_wait_all(b, EV_DONE, 120 + o->n / 20.0, NULL) < 0) {
            fprintf(stderr, "vestnik-bench: login round %d timed out\n", r);
            rc = 1;
            break;
        }
        double wall = (double)(now_ns() - t0) / 1e9;
        double srv = o->server.n ? proc_cpu_s(&o->server) - sc0 : 0;
        double gen = bench_gen_cpu(b) - gc0;
        bench_sum_results(b, &sum);
        failed += sum.failed;
        if (!meas) continue;
        hist_merge(&all, &sum.lat);
        srv_cpu_all += srv;
        gen_cpu_all += gen;
        wall_all += wall;
        struct row *row = &rows[nr];
        memset(row, 0, sizeof *row);
        row_head(b, row);
        row_str(row, "run", "");
        snprintf(row->f[row->n - 1].val, sizeof row->f[0].val, "%d", r - o->warmup_rounds + 1);
        row_int(row, "accounts", o->n);
        row_int(row, "concurrency", o->concurrency);
        row_int(row, "ok", (long long)sum.ok);
        row_int(row, "failed", (long long)sum.failed);
        rates[nr] = (double)sum.ok / wall;
        row_num(row, "logins_per_s", rates[nr], 0);
        row_num(row, "p50_ms", hist_quantile(&sum.lat, 0.5) / 1e6, 2);
        row_num(row, "p90_ms", hist_quantile(&sum.lat, 0.9) / 1e6, 2);
        row_num(row, "p99_ms", hist_quantile(&sum.lat, 0.99) / 1e6, 2);
        row_num(row, "max_ms", hist_quantile(&sum.lat, 1.0) / 1e6, 2);
        if (o->server.n)
            row_num(row, "server_cpu_pct", 100 * srv / wall, 0);
        else
            row_str(row, "server_cpu_pct", "");
        row_num(row, "gen_cpu_pct", 100 * gen / wall, 0);
        nr++;
    }
    bench_sum_results(b, &sum);
    sum.nerrors = 0;
    for (int i = 0; i < b->nw; i++)
        sum.nerrors += b->shm->w[i].nerrors;
    bench_meta(b, &sum);
    if (nr) {
        struct row *row = &rows[nr];
        memset(row, 0, sizeof *row);
        row_head(b, row);
        row_str(row, "run", "median");
        row_int(row, "accounts", o->n);
        row_int(row, "concurrency", o->concurrency);
        row_int(row, "ok", (long long)all.count);
        row_int(row, "failed", (long long)failed);
        row_num(row, "logins_per_s", median(rates, nr), 0);
        row_num(row, "p50_ms", hist_quantile(&all, 0.5) / 1e6, 2);
        row_num(row, "p90_ms", hist_quantile(&all, 0.9) / 1e6, 2);
        row_num(row, "p99_ms", hist_quantile(&all, 0.99) / 1e6, 2);
        row_num(row, "max_ms", hist_quantile(&all, 1.0) / 1e6, 2);
        if (o->server.n)
            row_num(row, "server_cpu_pct", 100 * srv_cpu_all / wall_all, 0);
        else
            row_str(row, "server_cpu_pct", "");
        row_num(row, "gen_cpu_pct", 100 * gen_cpu_all / wall_all, 0);
        nr++;
        bench_emit(b, "login (latency: connect to bind result; all rounds for 'median')", rows, nr);
    }
    bench_stop(b);
    free(rows);
    free(rates);
    if (failed) {
        fprintf(stderr, "vestnik-bench: %llu sign-ins failed\n", (unsigned long long)failed);
        rc = 1;
    }
    return rc;
}

const struct scenario scenario_login = {
    .name = "login",
    .run = run,
    .w_cmd = w_cmd,
    .w_online = w_online,
    .w_closed = w_closed,
};

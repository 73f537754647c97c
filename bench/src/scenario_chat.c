/* chat: users in a ring, user k sends to user k+1 (full JID), in batches of
 * --batch stanzas per write, with at most --window messages per sender sent
 * but not yet received by its partner. Each body carries the sender, a
 * sequence number and the send time (CLOCK_MONOTONIC, which all workers
 * share), so the receiver measures end-to-end latency and detects loss,
 * duplication, reordering and misrouting. A warm-up precedes the measured
 * window; afterwards every message in flight must arrive (drain). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"

/* ---- worker ---- */

#define SEEN_BITS 512

static int64_t t0, tms, tme;
static int running, started;
static uint64_t *next_seq;               /* per local receiver */
static uint64_t (*seen)[SEEN_BITS / 64]; /* received above next_seq */
static uint64_t *run_base;               /* ring sent count at run start, per local sender */
static char **prefix;                    /* "<message to='partner' ...><body>" per local sender */
static char *pad;
static size_t padlen;
static int remote_blocked;
static int64_t last_rate_tick;

static uint32_t partner(const struct worker *w, uint32_t g)
{
    return g + 1 == w->total ? 0 : g + 1;
}

static uint32_t sender_of(const struct worker *w, uint32_t g)
{
    return g == 0 ? w->total - 1 : g - 1;
}

static int is_local(const struct worker *w, uint32_t g)
{
    return g >= w->first && g < w->first + w->count;
}

static void w_init(struct worker *w)
{
    next_seq = xcalloc(w->count, sizeof *next_seq);
    seen = xcalloc(w->count, sizeof *seen);
    run_base = xcalloc(w->count, sizeof *run_base);
    prefix = xcalloc(w->count, sizeof *prefix);
    padlen = w->o->body_size > 48 ? w->o->body_size - 48 : 0;
    pad = xmalloc(padlen + 1);
    memset(pad, 'x', padlen);
    pad[padlen] = 0;
}

static const char *msg_prefix(struct worker *w, uint32_t i)
{
    if (!prefix[i]) {
        char local[48], buf[256];
        snprintf(local, sizeof local, w->o->user_fmt, w->o->first + partner(w, w->first + i));
        snprintf(buf, sizeof buf, "<message to='%s@%s/%s' type='chat'><body>", local, w->o->domain,
                 w->o->resource);
        prefix[i] = xstrdup(buf);
    }
    return prefix[i];
}

/* Send as many batches as the window (and, with --rate, the schedule) allow. */
static void try_send(struct worker *w, uint32_t i, int64_t now)
{
    if (!running || !started || now >= tme) return;
    struct xsess *s = &w->sess[i];
    if (s->state != XS_ONLINE) return;
    const struct opts *o = w->o;
    uint32_t g = w->first + i, p = partner(w, g);
    struct ring_slot *ring = w->shm->ring;
    uint64_t sent = atomic_load_explicit(&ring[g].sent, memory_order_relaxed);
    for (;;) {
        uint64_t recvd = atomic_load_explicit(&ring[p].recvd, memory_order_acquire);
        uint64_t inflight = sent > recvd ? sent - recvd : 0;
        uint64_t room = inflight >= o->window ? 0 : o->window - inflight;
        uint64_t nb = o->batch;
        if (o->rate > 0) {
            uint64_t target = (uint64_t)((double)(now - t0) * o->rate / 1e9) + 1;
            uint64_t done = sent - run_base[i];
            if (target <= done) return;
            if (target - done < nb) nb = target - done;
            if (room < nb) nb = room;
        } else if (room < nb) {
            nb = 0;
        }
        if (nb == 0) {
            if (!is_local(w, p)) remote_blocked = 1;
            return;
        }
        struct sbuf *out = xmpp_out(s);
        const char *pre = msg_prefix(w, i);
        for (uint64_t k = 0; k < nb; k++) {
            sbuf_adds(out, pre);
            sbuf_printf(out, "%x %u %llu %lld %s</body></message>", w->o->token, g,
                        (unsigned long long)(sent + k), (long long)now, pad);
        }
        sent += nb;
        atomic_store_explicit(&ring[g].sent, sent, memory_order_release);
        w->res->sent += nb;
        if (now >= tms) w->res->sent_window += nb;
        xmpp_flush(s); /* one write per batch */
        if (s->pending) return;
    }
}

static void w_message(struct worker *w, struct xsess *s, const char *body, size_t n, int is_error)
{
    (void)n;
    int64_t now = now_ns();
    struct wres *res = w->res;
    if (is_error) {
        res->errors++;
        worker_error(w, "message bounced with type='error'");
        return;
    }
    char *end;
    unsigned long token = strtoul(body, &end, 16);
    if (token != w->o->token) {
        res->stale++; /* left over from an earlier run, e.g. offline storage */
        return;
    }
    unsigned long long from = strtoull(end, &end, 10);
    unsigned long long seq = strtoull(end, &end, 10);
    long long ts = strtoll(end, &end, 10);
    uint32_t g = s->user, es = sender_of(w, g);
    if (from != es || ts <= 0) {
        res->misrouted++;
        worker_error(w, "message from the wrong sender or without a timestamp");
        return;
    }
    uint32_t j = s->idx;
    uint64_t nx = next_seq[j];
    int uniq = 0;
    if (seq == nx) {
        nx++;
        while (seen[j][(nx % SEEN_BITS) / 64] & (1ull << (nx % 64))) {
            seen[j][(nx % SEEN_BITS) / 64] &= ~(1ull << (nx % 64));
            nx++;
        }
        next_seq[j] = nx;
        uniq = 1;
    } else if (seq > nx) {
        if (seq - nx < SEEN_BITS) {
            uint64_t *word = &seen[j][(seq % SEEN_BITS) / 64];
            uint64_t bit = 1ull << (seq % 64);
            if (*word & bit) {
                res->dups++;
            } else {
                *word |= bit;
                uniq = 1;
                res->reordered++;
            }
        } else {
            uniq = 1; /* too far ahead to be tracked */
            res->late++;
        }
    } else {
        res->dups++;
    }
    if (!uniq) return;
    struct ring_slot *ring = w->shm->ring;
    atomic_store_explicit(&ring[g].recvd,
                          atomic_load_explicit(&ring[g].recvd, memory_order_relaxed) + 1,
                          memory_order_release);
    res->delivered++;
    if (now >= tms && now < tme) {
        res->delivered_window++;
        hist_add(&res->lat, now - ts);
    }
    if (is_local(w, es)) try_send(w, es - w->first, now);
}

static void w_cmd(struct worker *w, const struct ctl *m)
{
    if (m->cmd == CMD_CONNECT) {
        hold_cmd(w, (uint32_t)m->a);
        return;
    }
    if (m->cmd == CMD_WINDOW) {
        tms = m->a;
        tme = m->b;
        return;
    }
    if (m->cmd == CMD_STOP) {
        running = 0;
        worker_send(w, EV_DONE, 0, 0);
        return;
    }
    if (m->cmd != CMD_CHAT) return;
    t0 = m->a;
    tms = tme = INT64_MAX;
    struct wres *r = w->res;
    hist_init(&r->lat);
    r->sent = r->sent_window = r->delivered = r->delivered_window = 0;
    r->dups = r->reordered = r->misrouted = r->errors = r->late = r->stale = 0;
    for (uint32_t i = 0; i < w->count; i++)
        run_base[i] = atomic_load(&w->shm->ring[w->first + i].sent);
    running = 1;
    started = 0;
    remote_blocked = 0;
    last_rate_tick = 0;
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
        w->res->failed++; /* an established session was dropped */
    hold_check(w);
}

static int w_tick(struct worker *w, int64_t now)
{
    if (!running) return -1;
    if (!started) {
        if (now < t0) return (int)((t0 - now) / 1000000) + 1;
        started = 1;
        for (uint32_t i = 0; i < w->count; i++)
            try_send(w, i, now);
        last_rate_tick = now;
    }
    if (now < tme) {
        int timeout = 1000;
        if (w->o->rate > 0) {
            if (now - last_rate_tick >= 2000000) {
                last_rate_tick = now;
                for (uint32_t i = 0; i < w->count; i++)
                    try_send(w, i, now);
            }
            timeout = 2;
        }
        if (remote_blocked) {
            /* the last sender of this worker waits for a receiver elsewhere */
            remote_blocked = 0;
            if (w->count) try_send(w, w->count - 1, now);
            timeout = 1;
        }
        int64_t left = (tme - now) / 1000000 + 1;
        return left < timeout ? (int)left : timeout;
    }
    return -1; /* after the window: the parent watches the drain */
}

/* ---- parent ---- */

static uint64_t ring_delivered(struct bench *b)
{
    uint64_t n = 0;
    for (uint32_t g = 0; g < b->total; g++)
        n += atomic_load_explicit(&b->shm->ring[g].recvd, memory_order_relaxed);
    return n;
}

static uint64_t ring_lost(struct bench *b)
{
    uint64_t lost = 0;
    for (uint32_t g = 0; g < b->total; g++) {
        uint32_t p = g + 1 == b->total ? 0 : g + 1;
        uint64_t s = atomic_load(&b->shm->ring[g].sent), r = atomic_load(&b->shm->ring[p].recvd);
        if (s > r) lost += s - r;
    }
    return lost;
}

static void fill_row(struct bench *b, struct row *r, const char *run, const struct wres *sum,
                     double mps, double sps, uint64_t lost, double srv, double gen, long rss,
                     double dur, double warm)
{
    const struct opts *o = b->o;
    row_head(b, r);
    row_str(r, "run", run);
    row_int(r, "users", b->total);
    if (o->rate > 0)
        row_num(r, "rate_per_sender", o->rate, 1);
    else
        row_str(r, "rate_per_sender", "max");
    row_num(r, "warmup_s", warm, 1);
    row_num(r, "sent_per_s", sps, 0);
    row_num(r, "msgs_per_s", mps, 0);
    row_num(r, "p50_ms", hist_quantile(&sum->lat, 0.5) / 1e6, 2);
    row_num(r, "p90_ms", hist_quantile(&sum->lat, 0.9) / 1e6, 2);
    row_num(r, "p99_ms", hist_quantile(&sum->lat, 0.99) / 1e6, 2);
    row_num(r, "p999_ms", hist_quantile(&sum->lat, 0.999) / 1e6, 2);
    row_num(r, "max_ms", hist_quantile(&sum->lat, 1.0) / 1e6, 2);
    row_int(r, "lost", (long long)lost);
    row_int(r, "dup", (long long)sum->dups);
    row_int(r, "reordered", (long long)(sum->reordered + sum->late));
    row_int(r, "stale", (long long)sum->stale);
    row_int(r, "misrouted", (long long)(sum->misrouted + sum->errors));
    if (o->server.n) {
        row_num(r, "server_cpu_pct", 100 * srv / dur, 0);
        row_num(r, "server_us_per_msg", mps > 0 ? srv / dur / mps * 1e6 : 0, 1);
        row_int(r, "server_rss_kib", rss);
    } else {
        row_str(r, "server_cpu_pct", "");
        row_str(r, "server_us_per_msg", "");
        row_str(r, "server_rss_kib", "");
    }
    row_num(r, "gen_cpu_pct", 100 * gen / dur, 0);
    row_num(r, "gen_us_per_msg", mps > 0 ? gen / dur / mps * 1e6 : 0, 1);
}

static int run(struct bench *b)
{
    const struct opts *o = b->o;
    if (o->n < 2) die("chat needs at least 2 users");
    bench_spawn(b, o->n);
    long failed = bench_hold(b, o->n);
    int rc = 0;
    struct wres sum;
    if (failed != 0) {
        bench_sum_results(b, &sum);
        bench_meta(b, &sum);
        fprintf(stderr, "vestnik-bench: %s while signing %u users in\n",
                failed < 0 ? "timed out" : "sign-ins failed", o->n);
        bench_stop(b);
        return 1;
    }
    struct row *rows = xcalloc((size_t)o->repeat + 1, sizeof *rows);
    double *mps = xcalloc((size_t)o->repeat, sizeof(double));
    double *sps = xcalloc((size_t)o->repeat, sizeof(double));
    double *srvv = xcalloc((size_t)o->repeat, sizeof(double));
    double *genv = xcalloc((size_t)o->repeat, sizeof(double));
    double *warm = xcalloc((size_t)o->repeat + 1, sizeof(double));
    uint64_t lost_before = 0, lost_all = 0, dup_all = 0, bad_all = 0;
    long rss = -1;
    int nr = 0;
    struct hist all;
    hist_init(&all);
    for (int r = 0; r < o->repeat; r++) {
        int64_t start = now_ns() + 300000000;
        uint64_t base = ring_delivered(b);
        bench_send_all(b, CMD_CHAT, start, 0, 0);
        /* Warm-up: at least --warmup seconds and, flat out, until the first
         * full window of every sender has been delivered (the initial burst
         * has left the server's queues), at most --warmup-max seconds. */
        int64_t wmin = start + (int64_t)(o->warmup_s * 1e9);
        int64_t wmax = start + (int64_t)(o->warmup_max_s * 1e9);
        uint64_t need = o->rate > 0 ? 0 : (uint64_t)b->total * o->window;
        for (;;) {
            int64_t now = now_ns();
            if (now >= wmax || (now >= wmin && ring_delivered(b) - base >= need)) break;
            sleep_until(now + 20000000);
        }
        int64_t ms = now_ns() + 50000000;
        int64_t me = ms + (int64_t)(o->duration_s * 1e9);
        bench_send_all(b, CMD_WINDOW, ms, me, 0);
        warm[nr] = (double)(ms - start) / 1e9;
        sleep_until(ms);
        double sc0 = o->server.n ? proc_cpu_s(&o->server) : 0, gc0 = bench_gen_cpu(b);
        sleep_until(me);
        double srv = o->server.n ? proc_cpu_s(&o->server) - sc0 : 0;
        double gen = bench_gen_cpu(b) - gc0;
        if (o->server.n) rss = proc_rss_kib(&o->server);
        /* drain: wait until every message sent has arrived, or until
         * nothing arrived for --drain seconds */
        sleep_until(me + 50000000);
        uint64_t lost = ring_lost(b), seen_lost = lost;
        int64_t last_change = now_ns();
        while (lost > lost_before) {
            int64_t now = now_ns();
            if (now - last_change > (int64_t)(o->drain_s * 1e9)) break;
            sleep_until(now + 20000000);
            lost = ring_lost(b);
            if (lost != seen_lost) {
                seen_lost = lost;
                last_change = now_ns();
            }
        }
        double drain = (double)(now_ns() - me) / 1e9;
        bench_send_all(b, CMD_STOP, 0, 0, 0);
        if (bench_wait_all(b, EV_DONE, 30, NULL) < 0) {
            fprintf(stderr, "vestnik-bench: chat run %d did not finish\n", r + 1);
            rc = 1;
            break;
        }
        lost = ring_lost(b);
        uint64_t run_lost = lost - lost_before;
        lost_before = lost;
        bench_sum_results(b, &sum);
        hist_merge(&all, &sum.lat);
        double dur = o->duration_s;
        mps[nr] = (double)sum.delivered_window / dur;
        sps[nr] = (double)sum.sent_window / dur;
        srvv[nr] = srv;
        genv[nr] = gen;
        lost_all += run_lost;
        dup_all += sum.dups;
        bad_all += sum.misrouted + sum.errors;
        char name[16];
        snprintf(name, sizeof name, "%d", r + 1);
        fill_row(b, &rows[nr], name, &sum, mps[nr], sps[nr], run_lost, srv, gen, rss, dur,
                 warm[nr]);
        row_num(&rows[nr], "drain_s", drain, 1);
        nr++;
        if (sum.delivered_window == 0) {
            fprintf(stderr, "vestnik-bench: nothing was delivered in run %d\n", r + 1);
            rc = 1;
        }
    }
    bench_sum_results(b, &sum);
    bench_meta(b, &sum);
    if (nr > 1) {
        /* median row: throughput and CPU are medians over runs; latency
         * percentiles come from all runs' samples together */
        struct wres med = sum;
        med.lat = all;
        med.dups = dup_all;
        med.misrouted = bad_all;
        med.errors = 0;
        double m = median(mps, nr), s = median(sps, nr);
        double sv = median(srvv, nr), gv = median(genv, nr);
        double wm = median(warm, nr);
        fill_row(b, &rows[nr], "median", &med, m, s, lost_all, sv, gv, rss, o->duration_s, wm);
        row_str(&rows[nr], "drain_s", "");
        nr++;
    }
    char title[200];
    snprintf(title, sizeof title,
             "chat (ring of %u; batch %u, window %u, body %u B; measured %.0f s after the "
             "warm-up; latency from the timestamp in each message)",
             o->n, o->batch, o->window, o->body_size, o->duration_s);
    bench_emit(b, title, rows, nr);
    uint64_t dropped = 0;
    for (int i = 0; i < b->nw; i++)
        dropped += b->shm->w[i].failed;
    bench_stop(b);
    if (lost_all || dup_all || bad_all || dropped) {
        fprintf(stderr,
                "vestnik-bench: FAILED: lost %llu, duplicated %llu, misrouted/bounced %llu, "
                "sessions dropped %llu\n",
                (unsigned long long)lost_all, (unsigned long long)dup_all,
                (unsigned long long)bad_all, (unsigned long long)dropped);
        rc = 1;
    }
    free(rows);
    free(mps);
    free(sps);
    free(srvv);
    free(genv);
    free(warm);
    return rc;
}

const struct scenario scenario_chat = {
    .name = "chat",
    .run = run,
    .w_init = w_init,
    .w_cmd = w_cmd,
    .w_online = w_online,
    .w_message = w_message,
    .w_closed = w_closed,
    .w_tick = w_tick,
};

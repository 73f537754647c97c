#include "common.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include "scram.h"

static int holding;
static uint32_t hold_target;
uint64_t hold_failed;

void hold_cmd(struct worker *w, uint32_t target)
{
    if (target > w->count) target = w->count;
    holding = 1;
    uint32_t from = w->end;
    if (target < from) target = from;
    hold_target = target;
    uint32_t conc = w->o->concurrency / (unsigned)w->nw;
    worker_connect(w, from, target, conc ? conc : 1);
    hold_check(w);
}

void hold_check(struct worker *w)
{
    if (!holding || w->next < hold_target || w->inflight) return;
    holding = 0;
    worker_send(w, EV_READY, w->online, (int64_t)hold_failed);
}

long bench_hold(struct bench *b, uint32_t total)
{
    for (int i = 0; i < b->nw; i++) {
        uint32_t t;
        if (b->sc->interleave) /* accounts i, i + nw, ... below total */
            t = total > (uint32_t)i ? (total - (uint32_t)i + (uint32_t)b->nw - 1) / (uint32_t)b->nw
                                    : 0;
        else /* the same share as in the final partition */
            t = (uint32_t)((uint64_t)total * b->wcount[i] / b->total);
        bench_send(b, i, CMD_CONNECT, t, 0, 0);
    }
    struct ctl rep[MAX_WORKERS];
    double timeout = 60 + total / 50.0;
    if (bench_wait_all(b, EV_READY, timeout, rep) < 0) return -1;
    long failed = 0;
    for (int i = 0; i < b->nw; i++)
        failed += (long)rep[i].b;
    return failed;
}

void row_head(struct bench *b, struct row *r)
{
    row_str(r, "scenario", b->sc->name);
    row_str(r, "server", b->o->label);
}

void bench_emit(struct bench *b, const char *title, struct row *rows, int n)
{
    if (!b->o->json_only) report_table(stdout, title, rows, n);
    if (b->json)
        for (int i = 0; i < n; i++)
            report_json(b->json, &rows[i]);
}

void bench_meta(struct bench *b, const struct wres *sum)
{
    const struct opts *o = b->o;
    static const char *tlsn[] = {"starttls", "direct", "none"};
    struct row r = {0};
    row_str(&r, "type", "meta");
    row_head(b, &r);
    char addr[80];
    snprintf(addr, sizeof addr, "%s:%d", o->host, o->port);
    row_str(&r, "address", addr);
    row_str(&r, "domain", o->domain);
    row_str(&r, "tls_mode", tlsn[o->tls]);
    row_str(&r, "tls", sum->tls_desc);
    row_str(&r, "sasl", sum->mech_used ? sasl_mech_name(sum->mech_used) : "?");
    row_int(&r, "pbkdf2_runs", (long long)sum->pbkdf2_runs);
    row_int(&r, "salted_password_cache_hits", (long long)sum->cache_hits);
    row_int(&r, "workers", b->nw);
    row_int(&r, "src_addrs", o->src_addrs);
    if (!o->json_only) {
        printf("vestnik-bench %s: server=%s %s (%s; %s; %s); workers=%d src-addrs=%d; "
               "PBKDF2 runs %llu, SaltedPassword cache hits %llu\n",
               b->sc->name, o->label, addr, tlsn[o->tls], sum->tls_desc,
               sum->mech_used ? sasl_mech_name(sum->mech_used) : "?", b->nw, o->src_addrs,
               (unsigned long long)sum->pbkdf2_runs, (unsigned long long)sum->cache_hits);
        if (sum->nerrors)
            printf("errors: %llu, first: %s\n", (unsigned long long)sum->nerrors, sum->first_error);
    }
    if (b->json) report_json(b->json, &r);
}

void sleep_until(int64_t t)
{
    struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
        ;
}

/* Pieces every scenario uses: holding N sessions online (worker side and
 * parent side), the common head of each result row, output. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include "bench.h"
#include "report.h"

/* worker: CMD_CONNECT -> bring local sessions [0, target) online, then
 * EV_READY(online, failed). */
void hold_cmd(struct worker *w, uint32_t target);
/* worker: call from online/closed callbacks while holding. */
void hold_check(struct worker *w);
extern uint64_t hold_failed;

/* parent: every worker holds its share of `total` sessions; returns the
 * number of sessions that failed to sign in, or -1 on timeout. */
long bench_hold(struct bench *b, uint32_t total);
/* parent: scenario, server label. */
void row_head(struct bench *b, struct row *r);
/* parent: table on stdout (unless --json-only) and JSON lines. */
void bench_emit(struct bench *b, const char *title, struct row *rows, int n);
/* parent: one line about the setup (TLS, mechanism, workers, ...). */
void bench_meta(struct bench *b, const struct wres *sum);
void sleep_until(int64_t t_ns);

#endif

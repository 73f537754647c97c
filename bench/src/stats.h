/* Latency histogram (log-linear buckets, < 0.8% relative error, 1 ns to
 * hours) and the summary statistics taken from it. Plain data so that
 * workers can fill it in shared memory and the parent can merge. */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_MAX_SHIFT 37
#define HIST_BUCKETS (HIST_SUB * (HIST_MAX_SHIFT + 2))

struct hist {
    uint64_t count;
    uint64_t min, max; /* exact, ns */
    double sum;
    uint64_t b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, int64_t v_ns);
void hist_merge(struct hist *into, const struct hist *from);
/* Value (ns) at quantile q in [0,1]; the exact max for q = 1. */
double hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);

/* Median of a small array of doubles (sorted in place). */
double median(double *v, int n);

#endif

#include "stats.h"

#include <stdlib.h>
#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static unsigned bucket_of(uint64_t v)
{
    if (v < 2 * HIST_SUB) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - HIST_SUB_BITS;
    if (shift > HIST_MAX_SHIFT) return HIST_BUCKETS - 1;
    return HIST_SUB * shift + (unsigned)(v >> shift);
}

/* Midpoint of a bucket. */
static double bucket_value(unsigned i)
{
    if (i < 2 * HIST_SUB) return i;
    unsigned shift = i / HIST_SUB - 1;
    uint64_t top = i - (uint64_t)HIST_SUB * shift;
    return (double)(top << shift) + (double)(1ull << shift) / 2.0;
}

void hist_add(struct hist *h, int64_t v)
{
    if (v < 0) v = 0;
    uint64_t u = (uint64_t)v;
    h->b[bucket_of(u)]++;
    h->count++;
    h->sum += (double)u;
    if (u < h->min) h->min = u;
    if (u > h->max) h->max = u;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    if (!from->count) return;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->min < into->min) into->min = from->min;
    if (from->max > into->max) into->max = from->max;
}

double hist_quantile(const struct hist *h, double q)
{
    if (!h->count) return 0;
    if (q >= 1.0) return (double)h->max;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count) rank = h->count - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > rank) {
            double v = bucket_value(i);
            if (v > (double)h->max) v = (double)h->max;
            if (v < (double)h->min) v = (double)h->min;
            return v;
        }
    }
    return (double)h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? h->sum / (double)h->count : 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double median(double *v, int n)
{
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

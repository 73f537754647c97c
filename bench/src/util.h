/* Small helpers shared by every part of vestnik-bench: clock, allocation,
 * growable byte buffers. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic clock in nanoseconds. CLOCK_MONOTONIC is system-wide on Linux,
 * so timestamps taken in different worker processes compare directly. */
int64_t now_ns(void);

_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Growable byte buffer; data lives in [off, len). */
struct sbuf {
    char *p;
    size_t off, len, cap;
};

void sbuf_reserve(struct sbuf *b, size_t extra);
void sbuf_add(struct sbuf *b, const void *data, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_consume(struct sbuf *b, size_t n);
void sbuf_reset(struct sbuf *b);
void sbuf_free(struct sbuf *b);
static inline size_t sbuf_pending(const struct sbuf *b)
{
    return b->len - b->off;
}

/* Append s to b with XML escaping of & < > ' ". */
void sbuf_add_xml(struct sbuf *b, const char *s);

#endif

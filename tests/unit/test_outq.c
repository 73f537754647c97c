/* Unit tests for the connection output queue (src/net/outq.c): order and
 * contents across chunk boundaries, that consuming never moves the unsent
 * bytes (the quadratic compaction it replaces), and that memory follows the
 * backlog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/outq.h"

static void fill(char *p, size_t n, size_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (seed + i) % 26);
}

/* Reads everything back through iovecs and compares with what went in. */
static void test_order_across_chunks(void **state)
{
    (void)state;
    vn_outq_t q = {0};
    size_t total = 0;
    char *ref = malloc(1 << 20);
    size_t sizes[] = {1, 100, 511, 512, 513, 4000, 16384, 16385, 70000, 3};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        fill(ref + total, sizes[k], total);
        vn_outq_append(&q, ref + total, sizes[k]);
        total += sizes[k];
    }
    assert_int_equal(q.len, total);
    size_t off = 0;
    while (q.len) {
        struct iovec iov[3];
        int n = vn_outq_iov(&q, iov, 3);
        assert_true(n >= 1 && n <= 3);
        /* consume part of the first iovec, then the rest of those seen */
        size_t first = iov[0].iov_len;
        assert_true(first > 0 && first <= VN_OUTQ_CHUNK_MAX);
        assert_memory_equal(iov[0].iov_base, ref + off, first);
        size_t part = first > 7 ? first - 7 : first;
        vn_outq_consume(&q, part);
        off += part;
        size_t len;
        const char *p = vn_outq_peek(&q, &len);
        if (q.len) assert_memory_equal(p, ref + off, len < 16 ? len : 16);
    }
    assert_int_equal(off, total);
    assert_null(q.head);
    assert_int_equal(q.alloc, 0);
    free(ref);
}

/* A partial write leaves the rest exactly where it was: a retried
 * SSL_write() sees the same bytes, and nothing is copied per write. */
static void test_consume_does_not_move(void **state)
{
    (void)state;
    vn_outq_t q = {0};
    char buf[VN_OUTQ_CHUNK_MAX];
    fill(buf, sizeof(buf), 0);
    for (int i = 0; i < 64; i++)
        vn_outq_append(&q, buf, sizeof(buf));
    size_t len0;
    const char *p0 = vn_outq_peek(&q, &len0);
    vn_outq_consume(&q, 1000);
    size_t len1;
    const char *p1 = vn_outq_peek(&q, &len1);
    assert_ptr_equal(p1, p0 + 1000);
    assert_int_equal(len1, len0 - 1000);
    vn_outq_free(&q);
    assert_int_equal(q.len, 0);
    assert_int_equal(q.alloc, 0);
}

/* Chunks start small: one small stanza does not cost a full chunk; a large
 * backlog costs about its size, and draining it gives the memory back. */
static void test_memory_follows_backlog(void **state)
{
    (void)state;
    vn_outq_t q = {0};
    vn_outq_append(&q, "<iq/>", 5);
    assert_true(q.alloc < 1024);
    vn_outq_consume(&q, 5);
    assert_int_equal(q.alloc, 0);
    char buf[1000];
    fill(buf, sizeof(buf), 3);
    for (int i = 0; i < 64 * 1024; i++) /* 64 MB */
        vn_outq_append(&q, buf, sizeof(buf));
    assert_int_equal(q.len, (size_t)64 * 1024 * 1000);
    assert_true(q.alloc < q.len + q.len / 50);
    size_t before = q.alloc, half = q.len / 2;
    while (q.len > half) {
        size_t len;
        vn_outq_peek(&q, &len);
        vn_outq_consume(&q, len);
    }
    assert_true(q.alloc < before / 2 + 2 * VN_OUTQ_CHUNK_MAX);
    vn_outq_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_across_chunks),
        cmocka_unit_test(test_consume_does_not_move),
        cmocka_unit_test(test_memory_follows_backlog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

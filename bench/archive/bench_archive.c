/* bench_archive: message archive (XEP-0313) query cost against archive size.
 *
 * Fills one owner's archive through the store API to 10^3, 10^4, ... up to
 * --max messages, spread over 100 correspondents, and at each size times the
 * queries a client makes (median and 90th percentile over --reps runs, each
 * at a different random position so the cache is not always hot for the same
 * page). The claim under test: the cost of a page does not grow with the
 * archive, because every query is a handful of index seeks plus one page.
 *
 * For contrast it also times SELECT count(*) over the owner's rows, which is
 * what an RSM <count/> would cost if the store counted rows instead of
 * subtracting positions (the store does not run this query).
 *
 * Output: a table and, after each row, one JSON object per line on stdout
 * (`grep '^{'` extracts them).
 *
 * Build (from the repository root):
 *   cc -std=gnu11 -O2 -D_GNU_SOURCE -Isrc src/core/mem.c src/core/log.c \
 *      $(find src/store -name '*.c') bench/archive/bench_archive.c \
 *      $(pkg-config --cflags --libs sqlite3) -o bench_archive
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/log.h"
#include "store/store.h"
#include "store/store_internal.h"

#define OWNER "owner@bench.example"
#define NWITH 100
#define PAGE 50
#define TS0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z in µs */
#define TS_STEP INT64_C(1000000)      /* one message a second */
/* Appends per transaction while filling; the last AUTOCOMMIT_SAMPLE before
 * each measured size go one per transaction, as the server writes them, to
 * report the real per-message append cost at that size. */
#define FILL_BATCH 1000
#define AUTOCOMMIT_SAMPLE 1000

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Stanza-ids look random (as XEP-0359 ids do, so inserts into the
 * UNIQUE (owner, id) index land all over it) but are a function of the
 * message number, so any id can be named again without keeping them. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void msg_id(char *buf, size_t sz, int64_t i)
{
    snprintf(buf, sz, "%016" PRIx64, mix((uint64_t)i));
}

static int msg_with(int64_t i)
{
    return (int)(mix((uint64_t)i ^ 0x5555) % NWITH);
}

static void with_jid(char *buf, size_t sz, int w)
{
    snprintf(buf, sz, "contact%02d@bench.example", w);
}

static uint64_t g_rng = 0x2545f4914f6cdd1dull;
static uint64_t rnd(uint64_t n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng % n;
}

static int append_one(vn_store_t *st, int64_t i)
{
    char id[32], with[64], xml[512];
    int w = msg_with(i);
    msg_id(id, sizeof(id), i);
    with_jid(with, sizeof(with), w);
    /* about the size of a real chat message with its stanza-id */
    int len = snprintf(xml, sizeof(xml),
                       "<message xmlns='jabber:client' from='%s/phone' to='" OWNER
                       "' type='chat' id='c%" PRId64 "'><body>Сообщение номер %" PRId64
                       ": встреча переносится на завтра, 10:00, кабинет 214.</body>"
                       "<stanza-id xmlns='urn:xmpp:sid:0' by='" OWNER "' id='%s'/></message>",
                       with, i, i, id);
    return vn_store_archive_append(st, OWNER, id, TS0 + i * TS_STEP, with, xml, (size_t)len);
}

typedef struct {
    int n;
    size_t bytes;
} sink_t;

static void sink(const vn_archive_item_t *it, void *ud)
{
    sink_t *s = ud;
    s->n++;
    s->bytes += it->len + (size_t)it->xml[0]; /* touch the data */
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *name;
    double median, p90;
    int items;
    int64_t total;
} result_t;

enum { Q_LAST, Q_AFTER, Q_WITH, Q_WINDOW, Q_SCROLL, Q_COUNT_SQL, NQ };
static const char *const k_qname[NQ] = {"last_page", "after_id",       "with_last_page",
                                        "window",    "with_before_id", "count_sql"};
static const char *const k_qhead[NQ] = {"last page", "after id",     "with: last",
                                        "start/end", "with: before", "count(*)*"};

/* Runs query kind k once on an archive of n messages; returns µs. */
static double run_query(vn_store_t *st, sqlite3 *raw, int k, int64_t n, result_t *r)
{
    char id[32], with[64];
    vn_archive_query_t q = {.max = PAGE};
    switch (k) {
    case Q_LAST:
        q.last_page = 1; /* RSM <before/>: what a client shows first */
        break;
    case Q_AFTER: /* catching up from a known position anywhere in history */
        msg_id(id, sizeof(id), (int64_t)rnd((uint64_t)n));
        q.after_id = id;
        break;
    case Q_WITH: /* opening one conversation */
        with_jid(with, sizeof(with), (int)rnd(NWITH));
        q.with = with;
        q.last_page = 1;
        break;
    case Q_WINDOW: { /* a day-long window starting anywhere */
        int64_t a = (int64_t)rnd((uint64_t)n);
        q.start_us = TS0 + a * TS_STEP;
        q.end_us = q.start_us + INT64_C(86400) * TS_STEP;
        break;
    }
    case Q_SCROLL: { /* scrolling back in a conversation from a position */
        int64_t a = (int64_t)rnd((uint64_t)n);
        msg_id(id, sizeof(id), a);
        with_jid(with, sizeof(with), msg_with(a));
        q.with = with;
        q.before_id = id;
        break;
    }
    case Q_COUNT_SQL: {
        static sqlite3_stmt *s;
        if (!s && sqlite3_prepare_v2(raw, "SELECT count(*) FROM archive WHERE owner = ?1", -1, &s,
                                     NULL) != SQLITE_OK) {
            fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(raw));
            exit(1);
        }
        double t0 = now_us();
        sqlite3_bind_text(s, 1, OWNER, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_ROW) {
            fprintf(stderr, "count: %s\n", sqlite3_errmsg(raw));
            exit(1);
        }
        r->total = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        double t1 = now_us();
        r->items = 0;
        return t1 - t0;
    }
    }
    sink_t sk = {0};
    vn_archive_page_t pg;
    double t0 = now_us();
    int rc = vn_store_archive_query(st, OWNER, &q, sink, &sk, &pg);
    double t1 = now_us();
    if (rc != 0 || pg.after_not_found || sk.n != pg.count) {
        fprintf(stderr, "query %s failed (rc %d)\n", k_qname[k], rc);
        exit(1);
    }
    r->items = sk.n;
    r->total = pg.total;
    return t1 - t0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--max N] [--reps R] [--dir DIR] [--keep]\n"
            "  --max N   largest archive size (default 1000000; sizes are 10^3 .. N)\n"
            "  --reps R  runs per query and size (default 201)\n"
            "  --dir DIR parent of the temporary data directory (default $TMPDIR or /tmp)\n"
            "  --keep    do not delete the data directory at the end\n",
            argv0);
}

int main(int argc, char **argv)
{
    int64_t max = 1000000;
    int reps = 201, keep = 0;
    const char *parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    static const struct option opts[] = {
        {"max", required_argument, NULL, 'm'}, {"reps", required_argument, NULL, 'r'},
        {"dir", required_argument, NULL, 'd'}, {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:r:d:kh", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            max = strtoll(optarg, NULL, 10);
            break;
        case 'r':
            reps = atoi(optarg);
            break;
        case 'd':
            parent = optarg;
            break;
        case 'k':
            keep = 1;
            break;
        default:
            usage(argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (max < 1000 || reps < 1) {
        usage(argv[0]);
        return 2;
    }
    vn_log_set_level(VN_LOG_WARN);

    char tmp[512], dir[600], dbpath[700];
    snprintf(tmp, sizeof(tmp), "%s/vn-bench-archive-XXXXXX", parent);
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s/data", tmp);
    snprintf(dbpath, sizeof(dbpath), "%s/vestnik.db", dir);

    char *err = NULL;
    vn_config_t cfg = {.data_dir = dir}; /* and the default backend */
    vn_store_t *st = vn_store_open(&cfg, &err);
    if (!st) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    vn_account_t acct = {0};
    snprintf(acct.jid, sizeof(acct.jid), "%s", OWNER);
    if (vn_store_account_create(st, &acct) != 0) return 1;
    /* A second connection for the count(*) contrast only. */
    sqlite3 *raw;
    if (sqlite3_open_v2(dbpath, &raw, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return 1;

    printf("archive query cost vs archive size: one owner, %d correspondents, page %d, "
           "median / p90 of %d runs, µs\n",
           NWITH, PAGE, reps);
    printf("%10s %9s %9s", "messages", "fill/s", "append");
    for (int k = 0; k < NQ; k++)
        printf(" %15s", k_qhead[k]);
    printf(" %8s\n", "db MiB");

    int64_t have = 0;
    double *samples = malloc(sizeof(double) * (size_t)reps);
    for (int64_t size = 1000; size <= max; size *= 10) {
        /* fill: batched up to the sample, then one transaction per append */
        int64_t prev = have;
        int64_t batched_until = size - AUTOCOMMIT_SAMPLE;
        double t0 = now_us();
        while (have < batched_until) {
            if (vn_store_batch_begin(st) != 0) return 1;
            for (int b = 0; b < FILL_BATCH && have < batched_until; b++)
                if (append_one(st, have++) != 0) return 1;
            if (vn_store_batch_commit(st) != 0) return 1;
        }
        double t1 = now_us();
        double fill_per_s = t1 > t0 ? 1e6 * (double)(have - prev) / (t1 - t0) : 0;
        int64_t from = have;
        double a0 = now_us();
        while (have < size)
            if (append_one(st, have++) != 0) return 1;
        double append_us = (now_us() - a0) / (double)(have - from);

        result_t res[NQ];
        for (int k = 0; k < NQ; k++) {
            for (int i = 0; i < reps; i++)
                samples[i] = run_query(st, raw, k, size, &res[k]);
            qsort(samples, (size_t)reps, sizeof(double), cmp_dbl);
            res[k].name = k_qname[k];
            res[k].median = samples[reps / 2];
            res[k].p90 = samples[(reps * 9) / 10];
        }
        struct stat sb;
        double mib = stat(dbpath, &sb) == 0 ? (double)sb.st_size / (1024.0 * 1024.0) : 0;
        char fill[32] = "-"; /* the first size has no batched part */
        if (fill_per_s > 0) snprintf(fill, sizeof(fill), "%.0f", fill_per_s);
        printf("%10" PRId64 " %9s %7.1fµs", size, fill, append_us);
        for (int k = 0; k < NQ; k++) {
            char cell[32];
            snprintf(cell, sizeof(cell), "%.0f / %.0f", res[k].median, res[k].p90);
            printf(" %15s", cell);
        }
        printf(" %8.1f\n", mib);
        for (int k = 0; k < NQ; k++)
            printf("{\"bench\":\"archive\",\"messages\":%" PRId64 ",\"query\":\"%s\","
                   "\"median_us\":%.1f,\"p90_us\":%.1f,\"items\":%d,\"total\":%" PRId64
                   ",\"reps\":%d}\n",
                   size, res[k].name, res[k].median, res[k].p90, res[k].items, res[k].total, reps);
        printf("{\"bench\":\"archive\",\"messages\":%" PRId64 ",\"append_autocommit_us\":%.1f,"
               "\"fill_batched_per_s\":%.0f,\"db_bytes\":%lld}\n",
               size, append_us, fill_per_s, (long long)(stat(dbpath, &sb) == 0 ? sb.st_size : 0));
        fflush(stdout);
    }
    printf("* count(*) over the owner's rows: shown for contrast, not run by the store "
           "(RSM <count/> is computed from positions)\n");

    free(samples);
    sqlite3_close(raw);
    vn_store_close(st);
    if (!keep)
        nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else
        fprintf(stderr, "data kept in %s\n", dir);
    return 0;
}

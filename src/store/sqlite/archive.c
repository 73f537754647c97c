/* SQLite storage of message archives (XEP-0313, schema migration 2):
 * user archives (store.h) and, through the same code and statements built
 * per table, room archives (muc_archive, store_muc.h). See migration 2 in
 * schema.c for the layout and the two invariants (ts never decreases along
 * an owner's seq order; pos / with_pos number an owner's items without
 * gaps) that bound every query by the page size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/sqlite/sqlite.h"
#include "store/store_internal.h"

/* The archive statements, for a table name T (archive or muc_archive).
 *
 * The append keeps the invariants of migration 2: ts is at least the
 * owner's newest ts (the last row in seq order has it), pos and with_pos
 * continue from the owner's / the conversation's last row. One statement in
 * autocommit mode, so it reads and appends under the same write lock even
 * when another process appends too. */
#define ARC_SQL_APPEND(T)                                                                          \
    "INSERT INTO " T " (owner, id, ts, with_jid, pos, with_pos, stanza) VALUES (?1, ?2, "          \
    "max(?3, coalesce((SELECT ts FROM " T " WHERE owner = ?1 ORDER BY seq DESC LIMIT 1), ?3)), "   \
    "?4, "                                                                                         \
    "coalesce((SELECT pos FROM " T " WHERE owner = ?1 ORDER BY seq DESC LIMIT 1), 0) + 1, "        \
    "coalesce((SELECT with_pos FROM " T " WHERE owner = ?1 AND with_jid = ?4 "                     \
    "ORDER BY seq DESC LIMIT 1), 0) + 1, "                                                         \
    "?5)"
#define ARC_SQL_FIND_ID(T) "SELECT seq FROM " T " WHERE owner = ?1 AND id = ?2"
/* ts is non-decreasing in seq per owner, so the first row at or after
 * start and the last row at or before end bound the window in seq. */
#define ARC_SQL_TS_FIRST(T)                                                                        \
    "SELECT seq FROM " T " WHERE owner = ?1 AND ts >= ?2 ORDER BY ts, seq LIMIT 1"
#define ARC_SQL_TS_LAST(T)                                                                         \
    "SELECT seq FROM " T " WHERE owner = ?1 AND ts <= ?2 ORDER BY ts DESC, seq DESC LIMIT 1"
/* The paging variants: {all, with} x {seq only, full rows}. Parameters
 * are the same in all: ?1 owner, ?2..?3 inclusive seq range, ?4 LIMIT,
 * ?5 with. The seq-only ones are answered from the index alone. */
#define ARC_SQL_SEQ_ASC(T)                                                                         \
    "SELECT seq FROM " T " WHERE owner = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq LIMIT ?4"
#define ARC_SQL_SEQ_ASC_W(T)                                                                       \
    "SELECT seq FROM " T " WHERE owner = ?1 AND with_jid = ?5 "                                    \
    "AND seq BETWEEN ?2 AND ?3 ORDER BY seq LIMIT ?4"
#define ARC_SQL_SEQ_DESC(T)                                                                        \
    "SELECT seq FROM " T " WHERE owner = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq DESC LIMIT ?4"
#define ARC_SQL_SEQ_DESC_W(T)                                                                      \
    "SELECT seq FROM " T " WHERE owner = ?1 AND with_jid = ?5 "                                    \
    "AND seq BETWEEN ?2 AND ?3 ORDER BY seq DESC LIMIT ?4"
#define ARC_SQL_PAGE(T)                                                                            \
    "SELECT seq, id, ts, with_jid, stanza FROM " T " "                                             \
    "WHERE owner = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq LIMIT ?4"
#define ARC_SQL_PAGE_W(T)                                                                          \
    "SELECT seq, id, ts, with_jid, stanza FROM " T " "                                             \
    "WHERE owner = ?1 AND with_jid = ?5 AND seq BETWEEN ?2 AND ?3 ORDER BY seq LIMIT ?4"
#define ARC_SQL_POS(T) "SELECT pos, with_pos FROM " T " WHERE seq = ?1"

/* The statements of one archive table, in this order. */
enum {
    A_APPEND,
    A_FIND_ID,
    A_TS_FIRST,
    A_TS_LAST,
    A_SEQ_ASC,
    A_SEQ_ASC_W,
    A_SEQ_DESC,
    A_SEQ_DESC_W,
    A_PAGE,
    A_PAGE_W,
    A_POS,
    A_COUNT
};

/* The tables: user archives and room archives have the same layout and
 * invariants and share every statement but the table name. */
enum { ARC_USERS = 0, ARC_ROOMS = 1 };

#define ARC_SQL(T)                                                                                 \
    {                                                                                              \
        [A_APPEND] = ARC_SQL_APPEND(T), [A_FIND_ID] = ARC_SQL_FIND_ID(T),                          \
        [A_TS_FIRST] = ARC_SQL_TS_FIRST(T), [A_TS_LAST] = ARC_SQL_TS_LAST(T),                      \
        [A_SEQ_ASC] = ARC_SQL_SEQ_ASC(T), [A_SEQ_ASC_W] = ARC_SQL_SEQ_ASC_W(T),                    \
        [A_SEQ_DESC] = ARC_SQL_SEQ_DESC(T), [A_SEQ_DESC_W] = ARC_SQL_SEQ_DESC_W(T),                \
        [A_PAGE] = ARC_SQL_PAGE(T), [A_PAGE_W] = ARC_SQL_PAGE_W(T), [A_POS] = ARC_SQL_POS(T),      \
    }

static const char *const k_arc[2][A_COUNT] = {
    [ARC_USERS] = ARC_SQL("archive"),
    [ARC_ROOMS] = ARC_SQL("muc_archive"),
};

/* One retention batch: the oldest rows (in each owner's order, so always
 * a prefix of it) of the accounts from ?2 on, at most ?3 of them.
 * Walking accounts and seeking (owner, ts) for each costs one seek per
 * account over a whole run, and spares an index on ts alone. RETURNING
 * owner tells where the next batch starts. */
static const char k_expire[] = "DELETE FROM archive WHERE seq IN ("
                               "SELECT a.seq FROM accounts c JOIN archive a ON a.owner = c.jid "
                               "WHERE c.jid >= ?2 AND a.ts < ?1 ORDER BY c.jid, a.ts, a.seq "
                               "LIMIT ?3) RETURNING owner";

/* Every statement, to be prepared when the store opens: the same pointers
 * as k_arc (the statement cache is keyed by them), so filled at start-up
 * rather than in an initializer (not a constant expression in C11). */
const char *vn_sqlite_archive_sql[2 * A_COUNT + 2];

__attribute__((constructor)) static void archive_sql_list(void)
{
    int n = 0;
    for (int i = 0; i < A_COUNT; i++)
        vn_sqlite_archive_sql[n++] = k_arc[ARC_USERS][i];
    vn_sqlite_archive_sql[n++] = k_expire;
    for (int i = 0; i < A_COUNT; i++)
        vn_sqlite_archive_sql[n++] = k_arc[ARC_ROOMS][i];
    vn_sqlite_archive_sql[n] = NULL;
}

/* The prepared statement i of table tab (prepared when the store opened,
 * so never NULL once it is open). */
static sqlite3_stmt *arc_stmt(vn_store_t *st, int tab, int i)
{
    return vn_sql_stmt(st, k_arc[tab][i]);
}

/* Rows per retention transaction: small enough that the write lock is
 * released every few milliseconds, so vestnikd's writes (another process
 * when vestnikctl runs retention) wait at most one batch. */
#define ARCHIVE_EXPIRE_BATCH 1000

static int archive_append(vn_store_t *st, int tab, const char *owner, const char *id, int64_t ts_us,
                          const char *with, const char *xml, size_t len)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (!owner || !id || !with || !xml)
        return vn_sql_error(st, "archive append with a missing field");
    if (len > INT32_MAX)
        return vn_sql_error(st, "archived stanza for %s too large (%zu bytes)", owner, len);
    /* One INSERT in autocommit mode: committed (kill -9 safe) when step
     * returns SQLITE_DONE. A duplicate id violates UNIQUE (owner, id). */
    sqlite3_stmt *s = arc_stmt(st, tab, A_APPEND);
    vn_sql_bind_text(s, 1, owner);
    vn_sql_bind_text(s, 2, id);
    sqlite3_bind_int64(s, 3, ts_us);
    vn_sql_bind_text(s, 4, with);
    sqlite3_bind_text(s, 5, xml, (int)len, SQLITE_STATIC);
    return vn_sql_exec(st, s, "archive append");
}

/* Steps a statement that yields at most one seq. 0 found, 1 no row, -1. */
static int seq_one(vn_store_t *st, sqlite3_stmt *s, int64_t *out, const char *what)
{
    int rc = sqlite3_step(s);
    int ret = 1;
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        ret = 0;
    } else if (rc != SQLITE_DONE) {
        ret = vn_sql_fail(st, what);
    }
    vn_sql_done(s);
    return ret;
}

/* Binds one of the range statements (same parameter layout for all). */
static sqlite3_stmt *range_stmt(vn_store_t *st, int tab, int id_all, int id_with, const char *owner,
                                const char *with, int64_t lo, int64_t hi, int64_t limit)
{
    sqlite3_stmt *s = arc_stmt(st, tab, with ? id_with : id_all);
    vn_sql_bind_text(s, 1, owner);
    sqlite3_bind_int64(s, 2, lo);
    sqlite3_bind_int64(s, 3, hi);
    sqlite3_bind_int64(s, 4, limit);
    if (with) vn_sql_bind_text(s, 5, with);
    return s;
}

static int find_id(vn_store_t *st, int tab, const char *owner, const char *id, int64_t *seq)
{
    sqlite3_stmt *s = arc_stmt(st, tab, A_FIND_ID);
    vn_sql_bind_text(s, 1, owner);
    vn_sql_bind_text(s, 2, id);
    return seq_one(st, s, seq, "archive find id");
}

/* Number of matching items in the inclusive seq window [lo, hi]: by the
 * migration-2 invariant they carry consecutive pos (with_pos for a 'with'
 * query), so the count is last - first + 1, found with two seeks. */
static int archive_total(vn_store_t *st, int tab, const char *owner, const char *with, int64_t lo,
                         int64_t hi, int64_t *total)
{
    int64_t first = 0, last = 0;
    *total = 0;
    int r = seq_one(st, range_stmt(st, tab, A_SEQ_ASC, A_SEQ_ASC_W, owner, with, lo, hi, 1), &first,
                    "archive first");
    if (r != 0) return r < 0 ? -1 : 0;
    r = seq_one(st, range_stmt(st, tab, A_SEQ_DESC, A_SEQ_DESC_W, owner, with, lo, hi, 1), &last,
                "archive last");
    if (r != 0) return -1; /* a row was just there in the same snapshot */
    int64_t pos[2];
    int64_t seqs[2] = {first, last};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *s = arc_stmt(st, tab, A_POS);
        sqlite3_bind_int64(s, 1, seqs[i]);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) pos[i] = sqlite3_column_int64(s, with ? 1 : 0);
        int ret = rc == SQLITE_ROW ? 0 : vn_sql_fail(st, "archive position");
        vn_sql_done(s);
        if (ret != 0) return -1;
    }
    *total = pos[1] - pos[0] + 1;
    return 0;
}

/* Streams the first max rows of [lo, hi] in seq order to cb; *n gets the
 * number delivered. With probe, one more row is read (not delivered) and
 * *complete tells whether there was none. */
static int archive_stream(vn_store_t *st, int tab, const char *owner, const char *with, int64_t lo,
                          int64_t hi, int64_t max, int probe,
                          void (*cb)(const vn_archive_item_t *it, void *ud), void *ud, int *n,
                          int *complete)
{
    sqlite3_stmt *s =
        range_stmt(st, tab, A_PAGE, A_PAGE_W, owner, with, lo, hi, max + (probe ? 1 : 0));
    int rc;
    *n = 0;
    if (complete) *complete = 1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == max) {
            if (complete) *complete = 0;
            continue; /* the probe row; LIMIT ends the scan after it */
        }
        vn_archive_item_t it;
        it.seq = sqlite3_column_int64(s, 0);
        it.id = (const char *)sqlite3_column_text(s, 1);
        it.ts_us = sqlite3_column_int64(s, 2);
        it.with = (const char *)sqlite3_column_text(s, 3);
        /* text before bytes: bytes then reports the length of that text. */
        it.xml = (const char *)sqlite3_column_text(s, 4);
        it.len = (size_t)sqlite3_column_bytes(s, 4);
        if (!it.id || !it.with || !it.xml) {
            rc = SQLITE_NOMEM; /* the only way a NOT NULL text column reads NULL */
            break;
        }
        vn_sql_callback_enter(st);
        cb(&it, ud);
        vn_sql_callback_leave(st);
        (*n)++;
    }
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "archive page");
    vn_sql_done(s);
    return ret;
}

/* Query plan. Everything is reduced to an inclusive seq window [lo, hi] of
 * the owner's items (optionally of one correspondent):
 *  - start/end become seq bounds with one seek each on (owner, ts), valid
 *    because ts never decreases along seq;
 *  - after_id / before_id narrow the window to strictly after / before the
 *    seq of that item;
 *  - the page is the first (forwards) or last (backwards) `max` rows of the
 *    window, read from (owner) or (owner, with_jid) in seq order. One extra
 *    row is looked at to tell whether the page is complete.
 * A backward page is found with a seq-only descending scan (answered from
 * the index), then streamed forwards from its oldest row, so rows reach the
 * callback in chronological order without being copied.
 * Every step touches at most max + 1 index entries and max rows, whatever
 * the archive size; all of it runs in one read transaction so the total,
 * the page and `complete` describe the same snapshot. */
static int archive_query(vn_store_t *st, int tab, const char *owner, const vn_archive_query_t *q,
                         void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                         vn_archive_page_t *page)
{
    if (vn_sql_guard(st, __func__)) return -1;
    memset(page, 0, sizeof(*page));
    if (!owner || !q || q->max < 0 || !cb) return vn_sql_error(st, "bad archive query");
    if (vn_sql_tx_begin_read(st) != 0) return -1;

    const char *with = q->with;
    int64_t after = 0, before = 0;
    int r;
    if (q->after_id && (r = find_id(st, tab, owner, q->after_id, &after)) != 0) goto not_found;
    if (q->before_id && (r = find_id(st, tab, owner, q->before_id, &before)) != 0) goto not_found;

    /* The filters' window. seq starts at 1, so 0 and INT64_MAX are open. */
    int64_t lo = 0, hi = INT64_MAX;
    int empty = 0;
    if (q->start_us) {
        sqlite3_stmt *s = arc_stmt(st, tab, A_TS_FIRST);
        vn_sql_bind_text(s, 1, owner);
        sqlite3_bind_int64(s, 2, q->start_us);
        if ((r = seq_one(st, s, &lo, "archive start")) < 0) goto fail;
        empty |= r == 1;
    }
    if (!empty && q->end_us) {
        sqlite3_stmt *s = arc_stmt(st, tab, A_TS_LAST);
        vn_sql_bind_text(s, 1, owner);
        sqlite3_bind_int64(s, 2, q->end_us);
        if ((r = seq_one(st, s, &hi, "archive end")) < 0) goto fail;
        empty |= r == 1;
    }
    empty |= lo > hi;
    if (!empty && archive_total(st, tab, owner, with, lo, hi, &page->total) != 0) goto fail;

    /* The paging window inside it. */
    if (q->after_id && after + 1 > lo) lo = after + 1;
    if (q->before_id && before - 1 < hi) hi = before - 1;
    empty |= lo > hi;
    int backward = q->before_id || q->last_page;
    int64_t max = q->max;

    if (empty) {
        page->complete = 1;
    } else if (!backward) {
        int n;
        if (archive_stream(st, tab, owner, with, lo, hi, max, 1, cb, ud, &n, &page->complete) != 0)
            goto fail;
        page->count = n;
    } else {
        /* Walk back max + 1 index entries: the max-th is the page's oldest
         * row; the one more tells whether anything lies before it. */
        sqlite3_stmt *s =
            range_stmt(st, tab, A_SEQ_DESC, A_SEQ_DESC_W, owner, with, lo, hi, max + 1);
        int64_t oldest = 0, seen = 0;
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if (seen < max) oldest = sqlite3_column_int64(s, 0);
            seen++;
        }
        int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "archive page (backwards)");
        vn_sql_done(s);
        if (ret != 0) goto fail;
        page->complete = seen <= max;
        if (seen > 0 && max > 0) {
            int n;
            if (archive_stream(st, tab, owner, with, oldest, hi, max, 0, cb, ud, &n, NULL) != 0)
                goto fail;
            page->count = n;
        }
    }
    if (vn_sql_tx_commit(st) != 0) {
        memset(page, 0, sizeof(*page));
        return -1;
    }
    return 0;

not_found:
    if (r < 0) goto fail;
    vn_sql_tx_rollback(st);
    page->after_not_found = 1;
    return 0;
fail:
    vn_sql_tx_rollback(st);
    memset(page, 0, sizeof(*page));
    return -1;
}

static int user_archive_append(vn_store_t *st, const char *owner, const char *id, int64_t ts_us,
                               const char *with, const char *xml, size_t len)
{
    return archive_append(st, ARC_USERS, owner, id, ts_us, with, xml, len);
}

static int user_archive_query(vn_store_t *st, const char *owner, const vn_archive_query_t *q,
                              void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                              vn_archive_page_t *page)
{
    return archive_query(st, ARC_USERS, owner, q, cb, ud, page);
}

/* The same on room archives (muc_archive, muc.c). */
int vn_sql_room_archive_append(vn_store_t *st, const char *room, const char *id, int64_t ts_us,
                               const char *with, const char *xml, size_t len)
{
    return archive_append(st, ARC_ROOMS, room, id, ts_us, with, xml, len);
}

int vn_sql_room_archive_query(vn_store_t *st, const char *room, const vn_archive_query_t *q,
                              void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                              vn_archive_page_t *page)
{
    return archive_query(st, ARC_ROOMS, room, q, cb, ud, page);
}

/* Retention runs in batches of ARCHIVE_EXPIRE_BATCH rows, each its own
 * autocommit DELETE, walking the accounts in JID order. Each batch removes
 * the oldest rows of the accounts it visits, so at every commit an owner has
 * lost a prefix of its archive and the pos / with_pos numbering stays
 * gap-free (see migration 2); a concurrent reader never sees a hole. */
static int archive_expire(vn_store_t *st, int64_t before_us, int64_t *deleted)
{
    if (vn_sql_guard(st, __func__)) return -1;
    int64_t total = 0;
    char *cursor = vn_xstrdup(""); /* sorts before every JID */
    int ret = 0;
    for (;;) {
        sqlite3_stmt *s = vn_sql_stmt(st, k_expire);
        sqlite3_bind_int64(s, 1, before_us);
        vn_sql_bind_text(s, 2, cursor);
        sqlite3_bind_int(s, 3, ARCHIVE_EXPIRE_BATCH);
        int n = 0, rc;
        char *next = NULL;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            const char *o = (const char *)sqlite3_column_text(s, 0);
            n++;
            /* The next batch resumes at the greatest owner touched: that
             * owner may have more old rows; the ones before it have none. */
            if (o && (!next || strcmp(o, next) > 0)) {
                free(next);
                next = vn_xstrdup(o);
            }
        }
        if (rc != SQLITE_DONE) ret = vn_sql_fail(st, "archive expire");
        vn_sql_done(s); /* finishes the statement: the batch commits here */
        if (ret != 0) {
            free(next);
            break;
        }
        total += n;
        if (n < ARCHIVE_EXPIRE_BATCH || !next) {
            free(next);
            break;
        }
        free(cursor);
        cursor = next;
    }
    free(cursor);
    if (deleted) *deleted = total;
    return ret;
}

const vn_store_archive_ops_t vn_sqlite_archive_ops = {
    .append = user_archive_append,
    .query = user_archive_query,
    .expire = archive_expire,
};

/* ---- test hook (store_internal.h) ---- */

int vn_store_archive_plans(vn_store_t *st,
                           void (*cb)(const char *sql, const char *detail, void *ud), void *ud)
{
    if (st->be != &vn_store_backend_sqlite)
        return vn_sql_error(st, "archive plans: not an SQLite store");
    if (vn_sql_guard(st, __func__)) return -1;
    for (const char *const *sqlp = vn_sqlite_archive_sql; *sqlp; sqlp++) {
        const char *sql = *sqlp;
        size_t n = strlen(sql) + sizeof("EXPLAIN QUERY PLAN ");
        char *text = vn_xmalloc(n);
        snprintf(text, n, "EXPLAIN QUERY PLAN %s", sql);
        sqlite3_stmt *s;
        int rc = sqlite3_prepare_v2(vn_sql_db(st), text, -1, &s, NULL);
        free(text);
        if (rc != SQLITE_OK) return vn_sql_fail(st, "explain");
        while ((rc = sqlite3_step(s)) == SQLITE_ROW)
            cb(sql, (const char *)sqlite3_column_text(s, 3), ud);
        int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "explain");
        sqlite3_finalize(s);
        if (ret != 0) return -1;
    }
    return 0;
}

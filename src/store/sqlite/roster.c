/* SQLite storage of rosters (RFC 6121 §2) with XEP-0237 versions (store.h,
 * schema migration 1): a row per contact, its groups in their own table in
 * the client's order, and a version counter per owner bumped in the same
 * transaction as every change. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "store/sqlite/sqlite.h"

static const char k_version[] = "SELECT version FROM roster_version WHERE owner = ?1";
static const char k_bump[] = "INSERT INTO roster_version (owner, version) VALUES (?1, 1) "
                             "ON CONFLICT (owner) DO UPDATE SET version = version + 1 "
                             "RETURNING version";
static const char k_load[] = "SELECT contact, name, subscription, ask_out, pending_in, approved, "
                             "in_roster, pending_stanza FROM roster WHERE owner = ?1 "
                             "ORDER BY contact";
static const char k_load_groups[] = "SELECT contact, name FROM roster_groups WHERE owner = ?1 "
                                    "ORDER BY contact, pos";
static const char k_get[] = "SELECT contact, name, subscription, ask_out, pending_in, approved, "
                            "in_roster, pending_stanza FROM roster "
                            "WHERE owner = ?1 AND contact = ?2";
static const char k_get_groups[] = "SELECT name FROM roster_groups "
                                   "WHERE owner = ?1 AND contact = ?2 ORDER BY pos";
static const char k_put[] = "INSERT INTO roster (owner, contact, name, subscription, ask_out, "
                            "pending_in, approved, in_roster, pending_stanza) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                            "ON CONFLICT (owner, contact) DO UPDATE SET "
                            "name = excluded.name, subscription = excluded.subscription, "
                            "ask_out = excluded.ask_out, pending_in = excluded.pending_in, "
                            "approved = excluded.approved, in_roster = excluded.in_roster, "
                            "pending_stanza = excluded.pending_stanza";
static const char k_del_groups[] = "DELETE FROM roster_groups WHERE owner = ?1 AND contact = ?2";
static const char k_add_group[] = "INSERT INTO roster_groups (owner, contact, pos, name) "
                                  "VALUES (?1, ?2, ?3, ?4)";
static const char k_delete[] = "DELETE FROM roster WHERE owner = ?1 AND contact = ?2";
static const char k_count[] = "SELECT coalesce(sum(in_roster != 0), 0), "
                              "coalesce(sum(in_roster = 0), 0) FROM roster WHERE owner = ?1";

const char *const vn_sqlite_roster_sql[] = {
    k_version, k_bump,       k_load,      k_load_groups, k_get,   k_get_groups,
    k_put,     k_del_groups, k_add_group, k_delete,      k_count, NULL,
};

/* Growable NULL-terminated string array for groups. Always allocated, so an
 * item without groups gets an empty array rather than NULL. */
typedef struct {
    char **v;
    size_t n, cap;
} strvec_t;

static void strvec_init(strvec_t *sv)
{
    sv->cap = 4;
    sv->n = 0;
    sv->v = vn_xcalloc(sv->cap, sizeof(*sv->v));
}

static void strvec_push(strvec_t *sv, const char *s)
{
    if (sv->n + 2 > sv->cap) {
        sv->cap *= 2;
        sv->v = vn_xrealloc(sv->v, sv->cap * sizeof(*sv->v));
    }
    sv->v[sv->n++] = vn_xstrdup(s);
    sv->v[sv->n] = NULL;
}

static void strvec_clear(strvec_t *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    sv->n = 0;
    sv->v[0] = NULL;
}

static const char *col_text_or_null(sqlite3_stmt *s, int col)
{
    if (sqlite3_column_type(s, col) == SQLITE_NULL) return NULL;
    return (const char *)sqlite3_column_text(s, col);
}

/* Fills the scalar fields of *it from a row of k_load / k_get. The strings
 * point into the statement (valid until the next step). */
static void roster_row(sqlite3_stmt *s, vn_roster_item_t *it)
{
    it->contact = (char *)sqlite3_column_text(s, 0);
    it->name = (char *)col_text_or_null(s, 1);
    it->subscription = (vn_subscription_t)sqlite3_column_int(s, 2);
    it->ask_out = sqlite3_column_int(s, 3);
    it->pending_in = sqlite3_column_int(s, 4);
    it->approved = sqlite3_column_int(s, 5);
    it->in_roster = sqlite3_column_int(s, 6);
    it->pending_stanza = (char *)col_text_or_null(s, 7);
}

/* Reads the owner's version inside the current transaction (0 when the owner
 * has never had a roster change). */
static int version_read(vn_store_t *st, const char *owner, uint64_t *version)
{
    sqlite3_stmt *s = vn_sql_stmt(st, k_version);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    int r = vn_sql_step_one(st, s, "roster version");
    if (r >= 0) *version = r == 0 ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    vn_sql_done(s);
    return r < 0 ? -1 : 0;
}

static int version_bump(vn_store_t *st, const char *owner, uint64_t *new_version)
{
    sqlite3_stmt *s = vn_sql_stmt(st, k_bump);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    int rc = sqlite3_step(s);
    uint64_t v = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    /* RETURNING: the row comes first; the statement only completes (and its
     * error, e.g. a foreign key violation, shows) on the next step. */
    if (rc == SQLITE_ROW) rc = sqlite3_step(s);
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "roster version bump");
    vn_sql_done(s);
    if (ret == 0 && new_version) *new_version = v;
    return ret;
}

/* The end of every roster change: a new version, then the commit (the
 * transaction is rolled back when the bump fails). */
static int bump_and_commit(vn_store_t *st, const char *owner, uint64_t *new_version)
{
    uint64_t v;
    if (version_bump(st, owner, &v) != 0) {
        vn_sql_tx_rollback(st);
        return -1;
    }
    if (vn_sql_tx_commit(st) != 0) return -1;
    if (new_version) *new_version = v;
    return 0;
}

static int roster_load(vn_store_t *st, const char *owner, uint64_t *version,
                       void (*cb)(const vn_roster_item_t *item, void *ud), void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    /* One read transaction so the version matches the rows: another process
     * (vestnikctl) may be writing the same roster. */
    if (vn_sql_tx_begin_read(st) != 0) return -1;
    uint64_t ver = 0;
    if (version_read(st, owner, &ver) != 0) {
        vn_sql_tx_rollback(st);
        return -1;
    }

    /* Merge join: rows and groups are both ordered by contact, so one pass
     * over each attaches the groups without a query per contact. */
    sqlite3_stmt *rs = vn_sql_stmt(st, k_load);
    sqlite3_stmt *gs = vn_sql_stmt(st, k_load_groups);
    if (!rs || !gs) {
        vn_sql_tx_rollback(st);
        return -1;
    }
    vn_sql_bind_text(rs, 1, owner);
    vn_sql_bind_text(gs, 1, owner);
    strvec_t groups;
    strvec_init(&groups);
    int grc = sqlite3_step(gs);
    int rrc;
    int ret = 0;
    while ((rrc = sqlite3_step(rs)) == SQLITE_ROW) {
        vn_roster_item_t it;
        roster_row(rs, &it);
        strvec_clear(&groups);
        while (grc == SQLITE_ROW) {
            int c = strcmp((const char *)sqlite3_column_text(gs, 0), it.contact);
            if (c > 0) break;
            if (c == 0) strvec_push(&groups, (const char *)sqlite3_column_text(gs, 1));
            grc = sqlite3_step(gs);
        }
        if (grc != SQLITE_ROW && grc != SQLITE_DONE) break;
        it.groups = groups.v;
        vn_sql_callback_enter(st);
        cb(&it, ud);
        vn_sql_callback_leave(st);
    }
    if (grc != SQLITE_ROW && grc != SQLITE_DONE)
        ret = vn_sql_fail(st, "roster load groups");
    else if (rrc != SQLITE_DONE)
        ret = vn_sql_fail(st, "roster load");
    strvec_clear(&groups);
    free(groups.v);
    vn_sql_done(rs);
    vn_sql_done(gs);
    if (ret == 0) {
        ret = vn_sql_tx_commit(st);
    } else {
        vn_sql_tx_rollback(st);
    }
    if (ret == 0 && version) *version = ver;
    return ret;
}

static int roster_get(vn_store_t *st, const char *owner, const char *contact, vn_roster_item_t *out)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_get);
    sqlite3_stmt *gs = vn_sql_stmt(st, k_get_groups);
    if (!s || !gs) return -1;
    if (vn_sql_tx_begin_read(st) != 0) return -1;
    vn_sql_bind_text(s, 1, owner);
    vn_sql_bind_text(s, 2, contact);
    int r = vn_sql_step_one(st, s, "roster get");
    if (r != 0) {
        vn_sql_done(s);
        vn_sql_tx_rollback(st);
        return r;
    }
    vn_roster_item_t it;
    roster_row(s, &it);
    memset(out, 0, sizeof(*out));
    out->contact = vn_xstrdup(it.contact);
    out->name = it.name ? vn_xstrdup(it.name) : NULL;
    out->subscription = it.subscription;
    out->ask_out = it.ask_out;
    out->pending_in = it.pending_in;
    out->approved = it.approved;
    out->in_roster = it.in_roster;
    out->pending_stanza = it.pending_stanza ? vn_xstrdup(it.pending_stanza) : NULL;
    vn_sql_done(s);

    vn_sql_bind_text(gs, 1, owner);
    vn_sql_bind_text(gs, 2, contact);
    strvec_t groups;
    strvec_init(&groups);
    int rc;
    while ((rc = sqlite3_step(gs)) == SQLITE_ROW)
        strvec_push(&groups, (const char *)sqlite3_column_text(gs, 0));
    out->groups = groups.v; /* ownership passes to *out */
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "roster get groups");
    vn_sql_done(gs);
    if (ret == 0)
        ret = vn_sql_tx_commit(st);
    else
        vn_sql_tx_rollback(st);
    if (ret != 0) vn_roster_item_free_fields(out);
    return ret;
}

static int roster_put(vn_store_t *st, const char *owner, const vn_roster_item_t *item,
                      uint64_t *new_version)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (!item->contact) return vn_sql_error(st, "roster put for %s without a contact", owner);
    if ((int)item->subscription < VN_SUB_NONE || (int)item->subscription > VN_SUB_BOTH)
        return vn_sql_error(st, "roster put %s/%s: bad subscription %d", owner, item->contact,
                            (int)item->subscription);
    if (vn_sql_tx_begin(st) != 0) return -1;

    sqlite3_stmt *s = vn_sql_stmt(st, k_put);
    if (!s) goto fail;
    vn_sql_bind_text(s, 1, owner);
    vn_sql_bind_text(s, 2, item->contact);
    vn_sql_bind_text(s, 3, item->name);
    sqlite3_bind_int(s, 4, (int)item->subscription);
    /* Flags are stored as 0/1 whatever non-zero value the caller used. */
    sqlite3_bind_int(s, 5, !!item->ask_out);
    sqlite3_bind_int(s, 6, !!item->pending_in);
    sqlite3_bind_int(s, 7, !!item->approved);
    sqlite3_bind_int(s, 8, !!item->in_roster);
    vn_sql_bind_text(s, 9, item->pending_stanza);
    if (vn_sql_exec(st, s, "roster put") != 0) goto fail;

    /* Replace the groups wholesale: a roster set carries the full list. */
    s = vn_sql_stmt(st, k_del_groups);
    if (!s) goto fail;
    vn_sql_bind_text(s, 1, owner);
    vn_sql_bind_text(s, 2, item->contact);
    if (vn_sql_exec(st, s, "roster put (clear groups)") != 0) goto fail;
    for (int i = 0; item->groups && item->groups[i]; i++) {
        s = vn_sql_stmt(st, k_add_group);
        if (!s) goto fail;
        vn_sql_bind_text(s, 1, owner);
        vn_sql_bind_text(s, 2, item->contact);
        sqlite3_bind_int(s, 3, i);
        vn_sql_bind_text(s, 4, item->groups[i]);
        if (vn_sql_exec(st, s, "roster put (group)") != 0) goto fail;
    }

    return bump_and_commit(st, owner, new_version);
fail:
    vn_sql_tx_rollback(st);
    return -1;
}

static int roster_delete(vn_store_t *st, const char *owner, const char *contact,
                         uint64_t *new_version)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (vn_sql_tx_begin(st) != 0) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_delete);
    if (!s) goto fail;
    vn_sql_bind_text(s, 1, owner);
    vn_sql_bind_text(s, 2, contact);
    if (vn_sql_exec(st, s, "roster delete") != 0) goto fail;
    if (sqlite3_changes(vn_sql_db(st)) == 0) {
        /* Nothing removed: the version must not move. */
        vn_sql_tx_rollback(st);
        return 1;
    }
    return bump_and_commit(st, owner, new_version);
fail:
    vn_sql_tx_rollback(st);
    return -1;
}

static int roster_count(vn_store_t *st, const char *owner, int64_t *items, int64_t *pending)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_count);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    int r = vn_sql_step_one(st, s, "roster count");
    if (r == 0) {
        *items = sqlite3_column_int64(s, 0);
        *pending = sqlite3_column_int64(s, 1);
    }
    vn_sql_done(s);
    /* An aggregate always yields one row. */
    return r == 0 ? 0 : -1;
}

const vn_store_roster_ops_t vn_sqlite_roster_ops = {
    .load = roster_load,
    .get = roster_get,
    .put = roster_put,
    .delete = roster_delete,
    .count = roster_count,
};

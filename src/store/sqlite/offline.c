/* SQLite storage of offline messages (store.h, schema migration 1): one
 * queue per account, rows with never-reused increasing ids, read in
 * arrival order and deleted as a prefix. */
#include <stdint.h>

#include "store/sqlite/sqlite.h"

static const char k_push[] = "INSERT INTO offline (owner, stanza) VALUES (?1, ?2)";
static const char k_load[] = "SELECT id, stanza FROM offline WHERE owner = ?1 ORDER BY id";
static const char k_delete[] = "DELETE FROM offline WHERE owner = ?1 AND id <= ?2";
static const char k_count[] = "SELECT count(*) FROM offline WHERE owner = ?1";

const char *const vn_sqlite_offline_sql[] = {k_push, k_load, k_delete, k_count, NULL};

static int offline_push(vn_store_t *st, const char *owner, const char *xml, size_t len, int64_t *id)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (len > INT32_MAX)
        return vn_sql_error(st, "offline stanza for %s too large (%zu bytes)", owner, len);
    /* A single INSERT in autocommit mode: when step returns SQLITE_DONE the
     * transaction has committed (see the durability note in db.c). */
    sqlite3_stmt *s = vn_sql_stmt(st, k_push);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    sqlite3_bind_text(s, 2, xml, (int)len, SQLITE_STATIC);
    if (vn_sql_exec(st, s, "offline push") != 0) return -1;
    if (id) *id = sqlite3_last_insert_rowid(vn_sql_db(st));
    return 0;
}

static int offline_load(vn_store_t *st, const char *owner,
                        void (*cb)(int64_t id, const char *xml, size_t len, void *ud), void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_load);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        /* text before bytes: bytes then reports the length of that text. */
        const char *xml = (const char *)sqlite3_column_text(s, 1);
        size_t len = (size_t)sqlite3_column_bytes(s, 1);
        vn_sql_callback_enter(st);
        cb(id, xml ? xml : "", len, ud);
        vn_sql_callback_leave(st);
    }
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "offline load");
    vn_sql_done(s);
    return ret;
}

static int offline_delete(vn_store_t *st, const char *owner, int64_t up_to_id)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_delete);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    sqlite3_bind_int64(s, 2, up_to_id);
    return vn_sql_exec(st, s, "offline delete");
}

static int offline_count(vn_store_t *st, const char *owner, int64_t *count)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_count);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    int r = vn_sql_step_one(st, s, "offline count");
    if (r == 0) *count = sqlite3_column_int64(s, 0);
    vn_sql_done(s);
    return r == 0 ? 0 : -1;
}

const vn_store_offline_ops_t vn_sqlite_offline_ops = {
    .push = offline_push,
    .load = offline_load,
    .delete = offline_delete,
    .count = offline_count,
};

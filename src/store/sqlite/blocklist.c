/* SQLite storage of blocklists (XEP-0191, store.h, schema migration 2):
 * one row per (owner, blocked JID). */
#include "store/sqlite/sqlite.h"

static const char k_list[] = "SELECT jid FROM blocklist WHERE owner = ?1 ORDER BY jid";
static const char k_add[] = "INSERT INTO blocklist (owner, jid) VALUES (?1, ?2) "
                            "ON CONFLICT (owner, jid) DO NOTHING";
static const char k_del[] = "DELETE FROM blocklist WHERE owner = ?1 AND jid = ?2";
static const char k_del_all[] = "DELETE FROM blocklist WHERE owner = ?1";

const char *const vn_sqlite_block_sql[] = {k_list, k_add, k_del, k_del_all, NULL};

static int block_list(vn_store_t *st, const char *owner, void (*cb)(const char *jid, void *ud),
                      void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_list);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        vn_sql_callback_enter(st);
        cb((const char *)sqlite3_column_text(s, 0), ud);
        vn_sql_callback_leave(st);
    }
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "block list");
    vn_sql_done(s);
    return ret;
}

static int block_add(vn_store_t *st, const char *owner, const char *jid)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (!jid) return vn_sql_error(st, "block add for %s without a JID", owner);
    sqlite3_stmt *s = vn_sql_stmt(st, k_add);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    vn_sql_bind_text(s, 2, jid);
    return vn_sql_exec(st, s, "block add");
}

static int block_remove(vn_store_t *st, const char *owner, const char *jid)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, jid ? k_del : k_del_all);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    if (jid) vn_sql_bind_text(s, 2, jid);
    return vn_sql_exec(st, s, "block remove");
}

const vn_store_block_ops_t vn_sqlite_block_ops = {
    .list = block_list,
    .add = block_add,
    .remove = block_remove,
};

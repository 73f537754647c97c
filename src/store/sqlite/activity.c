/* SQLite storage for last activity (XEP-0012), see store_activity.h. */
#include <stdlib.h>

#include "core/mem.h"
#include "store/sqlite/sqlite.h"

/* Schema migration 8 (see k_migrations in schema.c). One row per
 * account, replaced at every logout, gone with the account. */
const char vn_store_schema_activity[] =
    "CREATE TABLE last_activity ("
    "  owner TEXT PRIMARY KEY NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
    "  ts INTEGER NOT NULL,"
    "  status TEXT NOT NULL DEFAULT ''"
    ") WITHOUT ROWID;";

static const char k_last_put[] =
    "INSERT INTO last_activity (owner, ts, status) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (owner) DO UPDATE SET ts = excluded.ts, status = excluded.status";
static const char k_last_get[] = "SELECT ts, status FROM last_activity WHERE owner = ?1";

const char *const vn_sqlite_activity_sql[] = {k_last_put, k_last_get, NULL};

static int last_set(vn_store_t *st, const char *owner, int64_t ts, const char *status)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (!owner) return vn_sql_error(st, "last activity set without an owner");
    sqlite3_stmt *s = vn_sql_stmt(st, k_last_put);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    sqlite3_bind_int64(s, 2, ts);
    vn_sql_bind_text(s, 3, status ? status : "");
    return vn_sql_exec(st, s, "last activity set");
}

static int last_get(vn_store_t *st, const char *owner, int64_t *ts, char **status)
{
    *ts = 0;
    *status = NULL;
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_last_get);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    int ret = vn_sql_step_one(st, s, "last activity get");
    if (ret == 0) {
        const char *t = (const char *)sqlite3_column_text(s, 1);
        *ts = sqlite3_column_int64(s, 0);
        *status = vn_xstrdup(t ? t : "");
    }
    vn_sql_done(s);
    return ret;
}

const vn_store_activity_ops_t vn_sqlite_activity_ops = {
    .last_set = last_set,
    .last_get = last_get,
};

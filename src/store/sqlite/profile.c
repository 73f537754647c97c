/* SQLite storage for vcard-temp (XEP-0054, with the XEP-0153 photo hash)
 * and private XML storage (XEP-0049). See store_profile.h. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "store/sqlite/sqlite.h"

/* Schema migration 3 (see k_migrations in schema.c). Both tables
 * belong to an account and go with it. The photo hash sits next to the
 * vCard so that a login (XEP-0153 presence) reads a few bytes, not the
 * photo. */
const char vn_store_schema_profile[] =
    "CREATE TABLE vcards ("
    "  owner TEXT PRIMARY KEY NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
    "  xml TEXT NOT NULL,"
    "  photo_hash TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE TABLE private_xml ("
    "  owner TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
    "  ns TEXT NOT NULL,"
    "  xml TEXT NOT NULL,"
    "  PRIMARY KEY (owner, ns)"
    ") WITHOUT ROWID;";

static const char k_vcard_get[] = "SELECT xml, photo_hash FROM vcards WHERE owner = ?1";
static const char k_vcard_hash[] = "SELECT photo_hash FROM vcards WHERE owner = ?1";
static const char k_vcard_put[] =
    "INSERT INTO vcards (owner, xml, photo_hash) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (owner) DO UPDATE SET xml = excluded.xml, photo_hash = excluded.photo_hash";
static const char k_vcard_del[] = "DELETE FROM vcards WHERE owner = ?1";
static const char k_priv_get[] = "SELECT xml FROM private_xml WHERE owner = ?1 AND ns = ?2";
static const char k_priv_count[] = "SELECT count(*) FROM private_xml WHERE owner = ?1";
static const char k_priv_put[] = "INSERT INTO private_xml (owner, ns, xml) VALUES (?1, ?2, ?3) "
                                 "ON CONFLICT (owner, ns) DO UPDATE SET xml = excluded.xml";
static const char k_priv_del[] = "DELETE FROM private_xml WHERE owner = ?1 AND ns = ?2";

const char *const vn_sqlite_profile_sql[] = {
    k_vcard_get,  k_vcard_hash, k_vcard_put, k_vcard_del, k_priv_get,
    k_priv_count, k_priv_put,   k_priv_del,  NULL,
};

static char *col_dup(sqlite3_stmt *s, int col)
{
    const char *t = (const char *)sqlite3_column_text(s, col);
    return vn_xstrdup(t ? t : "");
}

static int vcard_get(vn_store_t *st, const char *owner, char **xml, char **photo_hash)
{
    if (xml) *xml = NULL;
    if (photo_hash) *photo_hash = NULL;
    if (vn_sql_guard(st, __func__)) return -1;
    /* Only the hash: do not read the photo. */
    sqlite3_stmt *s = vn_sql_stmt(st, xml ? k_vcard_get : k_vcard_hash);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    int rc = sqlite3_step(s), ret;
    if (rc == SQLITE_ROW) {
        if (xml) *xml = col_dup(s, 0);
        if (photo_hash) *photo_hash = col_dup(s, xml ? 1 : 0);
        ret = 0;
    } else {
        ret = rc == SQLITE_DONE ? 1 : vn_sql_fail(st, "vcard get");
    }
    vn_sql_done(s);
    return ret;
}

static int vcard_set(vn_store_t *st, const char *owner, const char *xml, const char *photo_hash)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, xml ? k_vcard_put : k_vcard_del);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    if (xml) {
        vn_sql_bind_text(s, 2, xml);
        vn_sql_bind_text(s, 3, photo_hash ? photo_hash : "");
    }
    return vn_sql_exec(st, s, xml ? "vcard set" : "vcard delete");
}

static int private_get(vn_store_t *st, const char *owner, const char *ns, char **xml)
{
    *xml = NULL;
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_priv_get);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    vn_sql_bind_text(s, 2, ns);
    int rc = sqlite3_step(s), ret;
    if (rc == SQLITE_ROW) {
        *xml = col_dup(s, 0);
        ret = 0;
    } else {
        ret = rc == SQLITE_DONE ? 1 : vn_sql_fail(st, "private get");
    }
    vn_sql_done(s);
    return ret;
}

/* Does owner already keep ns? 1, 0, or -1. */
static int private_has(vn_store_t *st, const char *owner, const char *ns)
{
    sqlite3_stmt *s = vn_sql_stmt(st, k_priv_get);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    vn_sql_bind_text(s, 2, ns);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "private get");
    vn_sql_done(s);
    return ret;
}

static int private_count(vn_store_t *st, const char *owner, long long *n)
{
    sqlite3_stmt *s = vn_sql_stmt(st, k_priv_count);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *n = sqlite3_column_int64(s, 0);
    int ret = rc == SQLITE_ROW ? 0 : vn_sql_fail(st, "private count");
    vn_sql_done(s);
    return ret;
}

static int private_set(vn_store_t *st, const char *owner, const char *ns, const char *xml,
                       int max_entries)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (!ns) return vn_sql_error(st, "private set for %s without a namespace", owner);
    if (!xml) {
        sqlite3_stmt *s = vn_sql_stmt(st, k_priv_del);
        if (!s) return -1;
        vn_sql_bind_text(s, 1, owner);
        vn_sql_bind_text(s, 2, ns);
        return vn_sql_exec(st, s, "private delete");
    }
    if (vn_sql_tx_begin(st) != 0) return -1;
    if (max_entries > 0) {
        int has = private_has(st, owner, ns);
        long long n = 0;
        if (has < 0 || (!has && private_count(st, owner, &n) != 0)) goto fail;
        if (!has && n >= max_entries) {
            vn_sql_tx_rollback(st);
            return VN_STORE_FULL;
        }
    }
    sqlite3_stmt *s = vn_sql_stmt(st, k_priv_put);
    if (!s) goto fail;
    vn_sql_bind_text(s, 1, owner);
    vn_sql_bind_text(s, 2, ns);
    vn_sql_bind_text(s, 3, xml);
    if (vn_sql_exec(st, s, "private set") != 0) goto fail;
    return vn_sql_tx_commit(st);
fail:
    vn_sql_tx_rollback(st);
    return -1;
}

const vn_store_profile_ops_t vn_sqlite_profile_ops = {
    .vcard_get = vcard_get,
    .vcard_set = vcard_set,
    .private_get = private_get,
    .private_set = private_set,
};

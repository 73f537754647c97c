/* SQLite storage for publish-subscribe (XEP-0060) nodes, items,
 * affiliations and subscriptions, for PEP (XEP-0163) and the pubsub
 * service. See store_pubsub.h. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "store/sqlite/sqlite.h"

/* Schema migration 4 (see k_migrations in schema.c).
 * Items are ordered by seq (per node, increasing with every publish), so
 * "the newest N" and "trim to N" read one index range. */
const char vn_store_schema_pubsub[] =
    "CREATE TABLE pubsub_nodes ("
    "  id INTEGER PRIMARY KEY,"
    "  service TEXT NOT NULL,"
    "  node TEXT NOT NULL,"
    "  owner TEXT REFERENCES accounts (jid) ON DELETE CASCADE,"
    "  config TEXT NOT NULL DEFAULT '',"
    "  UNIQUE (service, node)"
    ");"
    "CREATE INDEX pubsub_nodes_owner ON pubsub_nodes (owner);"
    "CREATE TABLE pubsub_items ("
    "  node_id INTEGER NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,"
    "  item_id TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  publisher TEXT,"
    "  payload BLOB NOT NULL,"
    "  PRIMARY KEY (node_id, item_id)"
    ");"
    "CREATE UNIQUE INDEX pubsub_items_seq ON pubsub_items (node_id, seq);"
    "CREATE TABLE pubsub_affiliations ("
    "  node_id INTEGER NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,"
    "  jid TEXT NOT NULL,"
    "  affiliation TEXT NOT NULL,"
    "  PRIMARY KEY (node_id, jid)"
    ") WITHOUT ROWID;"
    "CREATE TABLE pubsub_subscriptions ("
    "  node_id INTEGER NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,"
    "  jid TEXT NOT NULL,"
    "  subid TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  PRIMARY KEY (node_id, jid)"
    ") WITHOUT ROWID;"
    "CREATE INDEX pubsub_subscriptions_jid ON pubsub_subscriptions (jid);"
    /* Service nodes are keyed by domain, not by account: a deleted account
     * leaves them, with its affiliations and subscriptions. */
    "CREATE TRIGGER pubsub_account_deleted AFTER DELETE ON accounts BEGIN"
    "  DELETE FROM pubsub_affiliations WHERE jid = old.jid"
    "    OR substr(jid, 1, length(old.jid) + 1) = old.jid || '/';"
    "  DELETE FROM pubsub_subscriptions WHERE jid = old.jid"
    "    OR substr(jid, 1, length(old.jid) + 1) = old.jid || '/';"
    "END;";

/* Schema migration 6: who created each service node, for the per-account
 * node limit ([pubsub] service_max_nodes_per_account). Counted by creator,
 * not by owner affiliation: an owner can make anyone an owner (XEP-0060
 * §8.9), and a limit on owned nodes would let an attacker use up someone
 * else's share. Existing service nodes get one of their owners. A deleted
 * account's nodes stay (service nodes have no owning account) but no
 * longer count against the JID if it is created again. */
const char vn_store_schema_pubsub_creator[] =
    "ALTER TABLE pubsub_nodes ADD COLUMN creator TEXT;"
    "UPDATE pubsub_nodes SET creator = (SELECT min(a.jid) FROM pubsub_affiliations a"
    "  WHERE a.node_id = pubsub_nodes.id AND a.affiliation = 'owner') WHERE owner IS NULL;"
    "CREATE INDEX pubsub_nodes_creator ON pubsub_nodes (creator, service);"
    "CREATE TRIGGER pubsub_creator_deleted AFTER DELETE ON accounts BEGIN"
    "  UPDATE pubsub_nodes SET creator = NULL WHERE creator = old.jid;"
    "END;";

static const char k_node_get[] =
    "SELECT id, config FROM pubsub_nodes WHERE service = ?1 AND node = ?2";
static const char k_node_insert[] = "INSERT INTO pubsub_nodes (service, node, owner, config, "
                                    "creator) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char k_node_set_config[] = "UPDATE pubsub_nodes SET config = ?2 WHERE id = ?1";
static const char k_node_delete[] = "DELETE FROM pubsub_nodes WHERE id = ?1";
static const char k_node_list[] =
    "SELECT id, node, config FROM pubsub_nodes WHERE service = ?1 ORDER BY node";
static const char k_node_count[] = "SELECT count(*) FROM pubsub_nodes WHERE service = ?1";
static const char k_node_count_by[] =
    "SELECT count(*) FROM pubsub_nodes WHERE creator = ?2 AND service = ?1";
/* The requester's affiliation comes along (one primary-key lookup per
 * node inside one statement, instead of a query per node). */
static const char k_node_list_aff[] =
    "SELECT n.id, n.node, n.config, a.affiliation FROM pubsub_nodes n"
    " LEFT JOIN pubsub_affiliations a ON a.node_id = n.id AND a.jid = ?2"
    " WHERE n.service = ?1 ORDER BY n.node";
static const char k_item_next_seq[] =
    "SELECT coalesce(max(seq), 0) + 1 FROM pubsub_items WHERE node_id = ?1";
static const char k_item_put[] =
    "INSERT OR REPLACE INTO pubsub_items (node_id, item_id, seq, publisher, payload)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char k_item_trim[] =
    "DELETE FROM pubsub_items WHERE node_id = ?1 AND seq <= (SELECT seq FROM pubsub_items"
    " WHERE node_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)";
static const char k_item_get[] =
    "SELECT item_id, publisher, payload FROM pubsub_items WHERE node_id = ?1 AND item_id = ?2";
static const char k_items_newest[] =
    "SELECT item_id, publisher, payload FROM (SELECT item_id, publisher, payload, seq"
    " FROM pubsub_items WHERE node_id = ?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq";
static const char k_item_delete[] = "DELETE FROM pubsub_items WHERE node_id = ?1 AND item_id = ?2";
static const char k_items_purge[] = "DELETE FROM pubsub_items WHERE node_id = ?1";
static const char k_item_count[] = "SELECT count(*) FROM pubsub_items WHERE node_id = ?1";
static const char k_aff_set[] =
    "INSERT OR REPLACE INTO pubsub_affiliations (node_id, jid, affiliation) VALUES (?1, ?2, ?3)";
static const char k_aff_del[] = "DELETE FROM pubsub_affiliations WHERE node_id = ?1 AND jid = ?2";
static const char k_aff_get[] =
    "SELECT affiliation FROM pubsub_affiliations WHERE node_id = ?1 AND jid = ?2";
static const char k_aff_list[] =
    "SELECT jid, affiliation FROM pubsub_affiliations WHERE node_id = ?1 ORDER BY jid";
static const char k_sub_set[] =
    "INSERT OR REPLACE INTO pubsub_subscriptions (node_id, jid, subid, state)"
    " VALUES (?1, ?2, ?3, ?4)";
static const char k_sub_del[] = "DELETE FROM pubsub_subscriptions WHERE node_id = ?1 AND jid = ?2";
static const char k_sub_get[] =
    "SELECT subid, state FROM pubsub_subscriptions WHERE node_id = ?1 AND jid = ?2";
static const char k_sub_list[] =
    "SELECT jid, subid, state FROM pubsub_subscriptions WHERE node_id = ?1 ORDER BY jid";
static const char k_subs_of[] =
    "SELECT n.node, s.jid, s.subid, s.state FROM pubsub_subscriptions s"
    " JOIN pubsub_nodes n ON n.id = s.node_id WHERE n.service = ?1 AND (s.jid = ?2"
    " OR substr(s.jid, 1, length(?2) + 1) = ?2 || '/') ORDER BY n.node, s.jid";

const char *const vn_sqlite_pubsub_sql[] = {
    k_node_get,   k_node_insert,   k_node_set_config, k_node_delete,   k_node_list,
    k_node_count, k_node_count_by, k_node_list_aff,   k_item_next_seq, k_item_put,
    k_item_trim,  k_item_get,      k_items_newest,    k_item_delete,   k_items_purge,
    k_item_count, k_aff_set,       k_aff_del,         k_aff_get,       k_aff_list,
    k_sub_set,    k_sub_del,       k_sub_get,         k_sub_list,      k_subs_of,
    NULL,
};

static void copy_out(const unsigned char *v, char *out, size_t cap)
{
    if (!out || !cap) return;
    size_t n = v ? strlen((const char *)v) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(out, v, n);
    out[n] = '\0';
}

/* Steps a one-row query: 0 row (left current), 1 none, -1 error. */
static int step_one(vn_store_t *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) return 0;
    if (rc == SQLITE_DONE) return 1;
    return vn_sql_fail(st, what);
}

static int node_get(vn_store_t *st, const char *service, const char *node, int64_t *id,
                    char **config)
{
    if (config) *config = NULL;
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_node_get);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, service);
    vn_sql_bind_text(s, 2, node);
    int r = step_one(st, s, "pubsub node get");
    if (r == 0) {
        if (id) *id = sqlite3_column_int64(s, 0);
        if (config) *config = vn_xstrdup((const char *)sqlite3_column_text(s, 1));
    }
    vn_sql_done(s);
    return r;
}

static int node_create_by(vn_store_t *st, const char *service, const char *node,
                          const char *owner_account, const char *creator, const char *config,
                          int64_t *id)
{
    int64_t existing;
    int r = node_get(st, service, node, &existing, NULL);
    if (r < 0) return -1;
    if (r == 0) {
        if (id) *id = existing;
        return 1;
    }
    sqlite3_stmt *s = vn_sql_stmt(st, k_node_insert);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, service);
    vn_sql_bind_text(s, 2, node);
    vn_sql_bind_text(s, 3, owner_account);
    vn_sql_bind_text(s, 4, config ? config : "");
    vn_sql_bind_text(s, 5, creator);
    if (vn_sql_exec(st, s, "pubsub node create") < 0) return -1;
    if (id) *id = sqlite3_last_insert_rowid(vn_sql_db(st));
    return 0;
}

static int node_set_config(vn_store_t *st, int64_t id, const char *config)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_node_set_config);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    vn_sql_bind_text(s, 2, config ? config : "");
    if (vn_sql_exec(st, s, "pubsub node config") < 0) return -1;
    return sqlite3_changes(vn_sql_db(st)) > 0 ? 0 : 1;
}

static int node_delete(vn_store_t *st, int64_t id)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_node_delete);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    if (vn_sql_exec(st, s, "pubsub node delete") < 0) return -1;
    return sqlite3_changes(vn_sql_db(st)) > 0 ? 0 : 1;
}

static int node_list(vn_store_t *st, const char *service,
                     void (*cb)(int64_t id, const char *node, const char *config, void *ud),
                     void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_node_list);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, service);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        vn_sql_callback_enter(st);
        cb(sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
           (const char *)sqlite3_column_text(s, 2), ud);
        vn_sql_callback_leave(st);
    }
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "pubsub node list");
    vn_sql_done(s);
    return ret;
}

static int count_query(vn_store_t *st, const char *sql, const char *text, int64_t id,
                       int64_t *count, const char *what)
{
    if (vn_sql_guard(st, what)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, sql);
    if (!s) return -1;
    if (text)
        vn_sql_bind_text(s, 1, text);
    else
        sqlite3_bind_int64(s, 1, id);
    int r = step_one(st, s, what);
    if (r == 0) *count = sqlite3_column_int64(s, 0);
    vn_sql_done(s);
    return r == 0 ? 0 : -1;
}

static int node_count(vn_store_t *st, const char *service, int64_t *count)
{
    return count_query(st, k_node_count, service, 0, count, "pubsub node count");
}

static int node_count_by(vn_store_t *st, const char *service, const char *creator, int64_t *count)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_node_count_by);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, service);
    vn_sql_bind_text(s, 2, creator);
    int r = step_one(st, s, "pubsub node count by creator");
    if (r == 0) *count = sqlite3_column_int64(s, 0);
    vn_sql_done(s);
    return r == 0 ? 0 : -1;
}

static int node_list_aff(vn_store_t *st, const char *service, const char *jid,
                         void (*cb)(int64_t id, const char *node, const char *config,
                                    const char *aff, void *ud),
                         void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_node_list_aff);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, service);
    vn_sql_bind_text(s, 2, jid ? jid : "");
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        vn_sql_callback_enter(st);
        cb(sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
           (const char *)sqlite3_column_text(s, 2), (const char *)sqlite3_column_text(s, 3), ud);
        vn_sql_callback_leave(st);
    }
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "pubsub node list");
    vn_sql_done(s);
    return ret;
}

static int item_put(vn_store_t *st, int64_t node_id, const vn_ps_item_t *it, int keep, int *evicted)
{
    if (evicted) *evicted = 0;
    if (vn_sql_guard(st, __func__)) return -1;
    if (vn_sql_tx_begin(st) < 0) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_item_next_seq);
    if (!s) goto fail;
    sqlite3_bind_int64(s, 1, node_id);
    if (step_one(st, s, "pubsub item seq") != 0) {
        vn_sql_done(s);
        goto fail;
    }
    int64_t seq = sqlite3_column_int64(s, 0);
    vn_sql_done(s);
    s = vn_sql_stmt(st, k_item_put);
    if (!s) goto fail;
    sqlite3_bind_int64(s, 1, node_id);
    vn_sql_bind_text(s, 2, it->id);
    sqlite3_bind_int64(s, 3, seq);
    vn_sql_bind_text(s, 4, it->publisher);
    sqlite3_bind_blob(s, 5, it->payload, (int)it->len, SQLITE_STATIC);
    if (vn_sql_exec(st, s, "pubsub item put") < 0) goto fail;
    if (keep > 0) {
        s = vn_sql_stmt(st, k_item_trim);
        if (!s) goto fail;
        sqlite3_bind_int64(s, 1, node_id);
        sqlite3_bind_int(s, 2, keep);
        if (vn_sql_exec(st, s, "pubsub item trim") < 0) goto fail;
        if (evicted) *evicted = sqlite3_changes(vn_sql_db(st));
    }
    return vn_sql_tx_commit(st);
fail:
    vn_sql_tx_rollback(st);
    return -1;
}

static void item_row(vn_store_t *st, sqlite3_stmt *s, void (*cb)(const vn_ps_item_t *, void *),
                     void *ud)
{
    vn_ps_item_t it = {
        .id = (const char *)sqlite3_column_text(s, 0),
        .publisher = (const char *)sqlite3_column_text(s, 1),
        .payload = sqlite3_column_blob(s, 2),
        .len = (size_t)sqlite3_column_bytes(s, 2),
    };
    if (!it.payload) it.payload = "";
    vn_sql_callback_enter(st);
    cb(&it, ud);
    vn_sql_callback_leave(st);
}

static int item_get(vn_store_t *st, int64_t node_id, const char *item_id,
                    void (*cb)(const vn_ps_item_t *it, void *ud), void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_item_get);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, node_id);
    vn_sql_bind_text(s, 2, item_id);
    int r = step_one(st, s, "pubsub item get");
    if (r == 0) item_row(st, s, cb, ud);
    vn_sql_done(s);
    return r;
}

static int items(vn_store_t *st, int64_t node_id, int max,
                 void (*cb)(const vn_ps_item_t *it, void *ud), void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_items_newest);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, node_id);
    sqlite3_bind_int(s, 2, max > 0 ? max : -1);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        item_row(st, s, cb, ud);
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "pubsub items");
    vn_sql_done(s);
    return ret;
}

static int item_delete(vn_store_t *st, int64_t node_id, const char *item_id)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_item_delete);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, node_id);
    vn_sql_bind_text(s, 2, item_id);
    if (vn_sql_exec(st, s, "pubsub item delete") < 0) return -1;
    return sqlite3_changes(vn_sql_db(st)) > 0 ? 0 : 1;
}

static int items_purge(vn_store_t *st, int64_t node_id)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_items_purge);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, node_id);
    return vn_sql_exec(st, s, "pubsub items purge");
}

static int items_trim(vn_store_t *st, int64_t node_id, int keep)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (keep < 1) return 0;
    sqlite3_stmt *s = vn_sql_stmt(st, k_item_trim);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, node_id);
    sqlite3_bind_int(s, 2, keep);
    return vn_sql_exec(st, s, "pubsub item trim");
}

static int item_count(vn_store_t *st, int64_t node_id, int64_t *count)
{
    return count_query(st, k_item_count, NULL, node_id, count, "pubsub item count");
}

static int aff_set(vn_store_t *st, int64_t node_id, const char *jid, const char *aff)
{
    if (vn_sql_guard(st, __func__)) return -1;
    int del = !aff || !strcmp(aff, "none");
    sqlite3_stmt *s = vn_sql_stmt(st, del ? k_aff_del : k_aff_set);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, node_id);
    vn_sql_bind_text(s, 2, jid);
    if (!del) vn_sql_bind_text(s, 3, aff);
    return vn_sql_exec(st, s, "pubsub affiliation set");
}

static int aff_get(vn_store_t *st, int64_t node_id, const char *jid, char *out, size_t cap)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_aff_get);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, node_id);
    vn_sql_bind_text(s, 2, jid);
    int r = step_one(st, s, "pubsub affiliation get");
    if (r == 0) copy_out(sqlite3_column_text(s, 0), out, cap);
    vn_sql_done(s);
    return r;
}

static int aff_list(vn_store_t *st, int64_t node_id,
                    void (*cb)(const char *jid, const char *aff, void *ud), void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_aff_list);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, node_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        vn_sql_callback_enter(st);
        cb((const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1), ud);
        vn_sql_callback_leave(st);
    }
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "pubsub affiliation list");
    vn_sql_done(s);
    return ret;
}

static int sub_set(vn_store_t *st, int64_t node_id, const char *jid, const char *subid,
                   const char *state)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, state ? k_sub_set : k_sub_del);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, node_id);
    vn_sql_bind_text(s, 2, jid);
    if (state) {
        vn_sql_bind_text(s, 3, subid ? subid : "");
        vn_sql_bind_text(s, 4, state);
    }
    return vn_sql_exec(st, s, "pubsub subscription set");
}

static int sub_get(vn_store_t *st, int64_t node_id, const char *jid, char *subid, size_t subid_cap,
                   char *state, size_t state_cap)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_sub_get);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, node_id);
    vn_sql_bind_text(s, 2, jid);
    int r = step_one(st, s, "pubsub subscription get");
    if (r == 0) {
        copy_out(sqlite3_column_text(s, 0), subid, subid_cap);
        copy_out(sqlite3_column_text(s, 1), state, state_cap);
    }
    vn_sql_done(s);
    return r;
}

static int sub_list(vn_store_t *st, int64_t node_id,
                    void (*cb)(const char *jid, const char *subid, const char *state, void *ud),
                    void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_sub_list);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, node_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        vn_sql_callback_enter(st);
        cb((const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
           (const char *)sqlite3_column_text(s, 2), ud);
        vn_sql_callback_leave(st);
    }
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "pubsub subscription list");
    vn_sql_done(s);
    return ret;
}

static int subs_of(vn_store_t *st, const char *service, const char *jid,
                   void (*cb)(const char *node, const char *jid, const char *subid,
                              const char *state, void *ud),
                   void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_subs_of);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, service);
    vn_sql_bind_text(s, 2, jid);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        vn_sql_callback_enter(st);
        cb((const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
           (const char *)sqlite3_column_text(s, 2), (const char *)sqlite3_column_text(s, 3), ud);
        vn_sql_callback_leave(st);
    }
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "pubsub subscriptions of");
    vn_sql_done(s);
    return ret;
}

const vn_store_pubsub_ops_t vn_sqlite_pubsub_ops = {
    .node_get = node_get,
    .node_create_by = node_create_by,
    .node_set_config = node_set_config,
    .node_delete = node_delete,
    .node_list = node_list,
    .node_count = node_count,
    .node_count_by = node_count_by,
    .node_list_aff = node_list_aff,
    .item_put = item_put,
    .item_get = item_get,
    .items = items,
    .item_delete = item_delete,
    .items_purge = items_purge,
    .items_trim = items_trim,
    .item_count = item_count,
    .aff_set = aff_set,
    .aff_get = aff_get,
    .aff_list = aff_list,
    .sub_set = sub_set,
    .sub_get = sub_get,
    .sub_list = sub_list,
    .subs_of = subs_of,
};

/* SQLite storage of accounts and their credentials (store.h, schema
 * migration 1). The credentials are the caller's (vn_store_cred_t): stored
 * and read back field by field, never interpreted. */
#include <stdio.h>
#include <string.h>

#include "store/sqlite/sqlite.h"

/* The columns of the VN_STORE_CRED_SLOTS slots, four per slot (salt,
 * iterations, key[0], key[1]); see migration 1 for their names. */
#define CRED_COLS                                                                                  \
    "sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, "                               \
    "sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key"
_Static_assert(VN_STORE_CRED_SLOTS == 2, "update CRED_COLS and the accounts schema");

static const char k_get[] = "SELECT " CRED_COLS " FROM accounts WHERE jid = ?1";
static const char k_create[] = "INSERT INTO accounts (jid, domain, " CRED_COLS ") "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
                               "ON CONFLICT (jid) DO NOTHING";
static const char k_set[] = "UPDATE accounts SET "
                            "sha1_salt = ?3, sha1_iterations = ?4, sha1_stored_key = ?5, "
                            "sha1_server_key = ?6, sha256_salt = ?7, sha256_iterations = ?8, "
                            "sha256_stored_key = ?9, sha256_server_key = ?10 "
                            "WHERE jid = ?1";
static const char k_delete[] = "DELETE FROM accounts WHERE jid = ?1";
static const char k_list[] = "SELECT jid FROM accounts ORDER BY jid";
static const char k_list_domain[] = "SELECT jid FROM accounts WHERE domain = ?1 ORDER BY jid";

const char *const vn_sqlite_account_sql[] = {
    k_get, k_create, k_set, k_delete, k_list, k_list_domain, NULL,
};

/* Binds the credential columns at parameters 3..10. An empty slot
 * (iterations == 0) is stored as NULLs; lengths out of range are refused
 * rather than truncated. */
static int bind_creds(vn_store_t *st, sqlite3_stmt *s, const vn_account_t *a)
{
    for (int i = 0; i < VN_STORE_CRED_SLOTS; i++) {
        const vn_store_cred_t *c = &a->cred[i];
        int base = 3 + 4 * i;
        int rc;
        if (c->iterations == 0) {
            rc = sqlite3_bind_null(s, base) | sqlite3_bind_null(s, base + 1) |
                 sqlite3_bind_null(s, base + 2) | sqlite3_bind_null(s, base + 3);
        } else {
            if (c->salt_len > sizeof(c->salt) || c->key_len == 0 || c->key_len > sizeof(c->key[0]))
                return vn_sql_error(st,
                                    "account %s: credential slot %d: salt length %zu or key "
                                    "length %zu out of range",
                                    a->jid, i, c->salt_len, c->key_len);
            rc = sqlite3_bind_blob(s, base, c->salt, (int)c->salt_len, SQLITE_STATIC) |
                 sqlite3_bind_int64(s, base + 1, c->iterations) |
                 sqlite3_bind_blob(s, base + 2, c->key[0], (int)c->key_len, SQLITE_STATIC) |
                 sqlite3_bind_blob(s, base + 3, c->key[1], (int)c->key_len, SQLITE_STATIC);
        }
        if (rc != SQLITE_OK) return vn_sql_fail(st, "bind credentials");
    }
    return 0;
}

/* Checks that a NUL-terminated JID fits vn_account_t.jid. */
static int jid_fits(vn_store_t *st, const char *jid)
{
    if (strnlen(jid, sizeof(((vn_account_t *)0)->jid)) < sizeof(((vn_account_t *)0)->jid)) return 1;
    vn_sql_error(st, "JID too long");
    return 0;
}

/* Reads slot i of a row of k_get into *c. 0, or -1 when the row holds
 * something the fields cannot (a damaged or foreign database). */
static int read_slot(sqlite3_stmt *s, int i, vn_store_cred_t *c)
{
    int base = 4 * i;
    if (sqlite3_column_type(s, base + 1) == SQLITE_NULL) return 0; /* empty slot */
    size_t salt_len = (size_t)sqlite3_column_bytes(s, base);
    const void *salt = sqlite3_column_blob(s, base);
    sqlite3_int64 iter = sqlite3_column_int64(s, base + 1);
    const void *k0 = sqlite3_column_blob(s, base + 2);
    size_t k0_len = (size_t)sqlite3_column_bytes(s, base + 2);
    const void *k1 = sqlite3_column_blob(s, base + 3);
    size_t k1_len = (size_t)sqlite3_column_bytes(s, base + 3);
    if (salt_len > sizeof(c->salt) || iter <= 0 || iter > UINT32_MAX || k0_len != k1_len ||
        k0_len == 0 || k0_len > sizeof(c->key[0]) || !k0 || !k1)
        return -1;
    if (salt_len) memcpy(c->salt, salt, salt_len);
    c->salt_len = salt_len;
    c->iterations = (uint32_t)iter;
    c->key_len = k0_len;
    memcpy(c->key[0], k0, k0_len);
    memcpy(c->key[1], k1, k1_len);
    return 0;
}

static int account_get(vn_store_t *st, const char *jid, vn_account_t *out)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (!jid_fits(st, jid)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_get);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, jid);
    int r = vn_sql_step_one(st, s, "account get");
    if (r != 0) {
        vn_sql_done(s);
        return r;
    }
    memset(out, 0, sizeof(*out));
    snprintf(out->jid, sizeof(out->jid), "%s", jid);
    int ret = 0;
    for (int i = 0; i < VN_STORE_CRED_SLOTS && ret == 0; i++)
        if (read_slot(s, i, &out->cred[i]) != 0)
            ret = vn_sql_error(st, "account %s has malformed credentials", jid);
    vn_sql_done(s);
    if (ret != 0) memset(out, 0, sizeof(*out));
    return ret;
}

static int account_create(vn_store_t *st, const vn_account_t *acct)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (!jid_fits(st, acct->jid)) return -1;
    /* A bare JID's domain follows the '@' (RFC 7622 forbids '@' in the
     * localpart); a JID without one is a domain itself. */
    const char *at = strchr(acct->jid, '@');
    const char *domain = at ? at + 1 : acct->jid;

    sqlite3_stmt *s = vn_sql_stmt(st, k_create);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, acct->jid);
    vn_sql_bind_text(s, 2, domain);
    if (bind_creds(st, s, acct) != 0) {
        vn_sql_done(s);
        return -1;
    }
    if (vn_sql_exec(st, s, "account create") != 0) return -1;
    /* ON CONFLICT DO NOTHING: no row changed means the JID already existed. */
    return sqlite3_changes(vn_sql_db(st)) == 0 ? 1 : 0;
}

static int account_set_creds(vn_store_t *st, const vn_account_t *acct)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (!jid_fits(st, acct->jid)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_set);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, acct->jid);
    if (bind_creds(st, s, acct) != 0) {
        vn_sql_done(s);
        return -1;
    }
    if (vn_sql_exec(st, s, "account set credentials") != 0) return -1;
    return sqlite3_changes(vn_sql_db(st)) == 0 ? 1 : 0;
}

static int account_delete(vn_store_t *st, const char *jid)
{
    if (vn_sql_guard(st, __func__)) return -1;
    /* One statement: the foreign keys' ON DELETE CASCADE (and the triggers
     * of the later areas) remove everything the account owns, atomically.
     * sqlite3_changes() counts only the account row itself. */
    sqlite3_stmt *s = vn_sql_stmt(st, k_delete);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, jid);
    if (vn_sql_exec(st, s, "account delete") != 0) return -1;
    return sqlite3_changes(vn_sql_db(st)) == 0 ? 1 : 0;
}

static int account_list(vn_store_t *st, const char *domain, void (*cb)(const char *jid, void *ud),
                        void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, domain ? k_list_domain : k_list);
    if (!s) return -1;
    if (domain) vn_sql_bind_text(s, 1, domain);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        vn_sql_callback_enter(st);
        cb((const char *)sqlite3_column_text(s, 0), ud);
        vn_sql_callback_leave(st);
    }
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "account list");
    vn_sql_done(s);
    return ret;
}

const vn_store_account_ops_t vn_sqlite_account_ops = {
    .get = account_get,
    .create = account_create,
    .set_creds = account_set_creds,
    .delete = account_delete,
    .list = account_list,
};

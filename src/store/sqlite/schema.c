/* The SQLite backend's schema: the ordered list of migrations and the code
 * that applies them (sqlite.h). A database newer than this build is
 * refused. */
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/sqlite/sqlite.h"

/* Migrations, applied in order. The schema version is PRAGMA user_version
 * (stored in the database header, so it changes atomically with the
 * migration's transaction); migration i brings the database to version i+1.
 * Never edit a released step: append a new one. */
static const char *const k_migrations[] = {
    /* 1: accounts, rosters, offline messages.
     *
     * Rows owned by an account reference it with ON DELETE CASCADE, so deleting
     * the account removes its roster, roster version and offline queue in the
     * same statement (hence the same transaction), and no write that races
     * with a deletion can leave orphans behind that a re-created account
     * would inherit.
     *
     * accounts.domain is derived from the JID on insert so that listing one
     * domain's accounts (vestnikctl) is an index range scan. The credential
     * columns hold the two slots of store.h's vn_store_cred_t (named after
     * what vestnik keeps there: slot 0 the SCRAM-SHA-1 verifier, slot 1 the
     * SCRAM-SHA-256 one; the store does not interpret them) and are NULL
     * for an empty slot.
     *
     * Roster groups live in their own table rather than in a delimited text
     * column: group names are arbitrary XML text (they may contain newlines,
     * may be empty), and a table keeps "no groups" distinct from "one empty
     * group". pos keeps the order the client gave. */
    "CREATE TABLE accounts ("
    "  jid TEXT PRIMARY KEY NOT NULL,"
    "  domain TEXT NOT NULL,"
    "  sha1_salt BLOB, sha1_iterations INTEGER,"
    "  sha1_stored_key BLOB, sha1_server_key BLOB,"
    "  sha256_salt BLOB, sha256_iterations INTEGER,"
    "  sha256_stored_key BLOB, sha256_server_key BLOB"
    ") WITHOUT ROWID;"
    "CREATE INDEX accounts_domain ON accounts (domain, jid);"
    "CREATE TABLE roster ("
    "  owner TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
    "  contact TEXT NOT NULL,"
    "  name TEXT,"
    "  subscription INTEGER NOT NULL DEFAULT 0,"
    "  ask_out INTEGER NOT NULL DEFAULT 0,"
    "  pending_in INTEGER NOT NULL DEFAULT 0,"
    "  approved INTEGER NOT NULL DEFAULT 0,"
    "  in_roster INTEGER NOT NULL DEFAULT 1,"
    "  pending_stanza TEXT,"
    "  PRIMARY KEY (owner, contact)"
    ") WITHOUT ROWID;"
    "CREATE TABLE roster_groups ("
    "  owner TEXT NOT NULL,"
    "  contact TEXT NOT NULL,"
    "  pos INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  PRIMARY KEY (owner, contact, pos),"
    "  FOREIGN KEY (owner, contact) REFERENCES roster (owner, contact) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE TABLE roster_version ("
    "  owner TEXT PRIMARY KEY NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    /* AUTOINCREMENT so that ids are never reused after a delete: a client's
     * "delete up to id N" must not hit a message queued later. */
    "CREATE TABLE offline ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  owner TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
    "  stanza TEXT NOT NULL,"
    "  created INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))"
    ");"
    "CREATE INDEX offline_owner ON offline (owner, id);",

    /* 2: message archive (XEP-0313), archiving preferences, blocklist
     * (XEP-0191). Only adds tables, so a version-1 database upgrades in place.
     *
     * archive.seq is the archive order. AUTOINCREMENT: never reused, so an RSM
     * position (which maps to a seq) never points at a newer message after
     * retention deleted the old one.
     *
     * Two invariants, kept by vn_store_archive_append and relied on by the
     * query code (see there):
     *  - ts never decreases along one owner's seq order (append raises it to
     *    the owner's newest ts if the clock stepped back), so a start/end
     *    window is one contiguous seq range and paging by seq is paging in
     *    chronological order;
     *  - pos / with_pos number the owner's items (and the owner's items with
     *    one correspondent) 1, 2, 3... with no gaps inside what is stored:
     *    rows are only ever deleted as a prefix of an owner's order
     *    (retention, by ts) or all at once (account deletion). Then the
     *    number of items between two rows is a subtraction, so RSM <count/>
     *    costs two index seeks instead of a COUNT over the whole archive.
     *    Any future code that deletes single items must give this up.
     *
     * Indexes: every index on a rowid table ends with the rowid (seq), so
     * (owner) is (owner, seq) and serves unfiltered pages and the cascade on
     * account deletion; (owner, with_jid) is (owner, with_jid, seq) for
     * 'with' pages; (owner, ts) maps start/end to seq bounds and drives
     * retention per owner. There is deliberately no index on ts alone:
     * retention walks the accounts instead (one index fewer to update on
     * every append). stanza is the last column so reading the small columns
     * of a row never touches its overflow pages. */
    "CREATE TABLE archive ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  owner TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
    "  id TEXT NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  with_jid TEXT NOT NULL,"
    "  pos INTEGER NOT NULL,"
    "  with_pos INTEGER NOT NULL,"
    "  stanza TEXT NOT NULL,"
    "  UNIQUE (owner, id)"
    ");"
    "CREATE INDEX archive_owner ON archive (owner);"
    "CREATE INDEX archive_with ON archive (owner, with_jid);"
    "CREATE INDEX archive_ts ON archive (owner, ts);"
    /* The JID lists are newline-separated text as the interface hands them
     * over: they are read and written whole, never searched by the store. */
    "CREATE TABLE archive_prefs ("
    "  owner TEXT PRIMARY KEY NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
    "  default_mode TEXT NOT NULL CHECK (default_mode IN ('always', 'never', 'roster')),"
    "  always TEXT NOT NULL DEFAULT '',"
    "  never TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE TABLE blocklist ("
    "  owner TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
    "  jid TEXT NOT NULL,"
    "  PRIMARY KEY (owner, jid)"
    ") WITHOUT ROWID;",

    /* From here on each protocol area keeps its schema next to its storage
     * code (sqlite/<area>.c); this list only fixes their order. A new step
     * is one line at the end. */
    /* 3: profiles and private data (vcard-temp, XEP-0049) */
    vn_store_schema_profile,
    /* 4: publish-subscribe nodes and items (PEP and the pubsub service) */
    vn_store_schema_pubsub,
    /* 5: multi-user chat rooms, affiliations and room archives */
    vn_store_schema_muc,
    /* 6: the creator of each pubsub service node (per-account node limit) */
    vn_store_schema_pubsub_creator,
    /* 7: nicks reserved in rooms (XEP-0045 §7.10), on their affiliations */
    vn_store_schema_muc_nicks,
    /* 8: last activity (XEP-0012) */
    vn_store_schema_activity,
};

#define N_MIGRATIONS ((int)(sizeof(k_migrations) / sizeof(k_migrations[0])))

int vn_sqlite_schema_latest(void)
{
    return N_MIGRATIONS;
}

/* Runs SQL text without parameters (a migration step). */
static int exec_sql(sqlite3 *db, const char *sql, char **err, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    vn_sqlite_set_err(err, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

int vn_sqlite_user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK) return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Brings the schema up to target (N_MIGRATIONS except in the test hook,
 * sqlite.h), one transaction per step. The version is re-read inside each write transaction
 * because another process may be opening the same database at the same
 * moment and have applied the step already. */
int vn_sqlite_migrate(sqlite3 *db, const char *path, int target, char **err)
{
    int v;
    if (vn_sqlite_user_version(db, &v) != 0) {
        vn_sqlite_set_err(err, "%s: cannot read schema version: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    if (v > N_MIGRATIONS || v < 0) {
        vn_sqlite_set_err(
            err,
            "%s: database schema version %d is newer than this vestnik supports (%d); "
            "upgrade vestnik or restore a matching backup",
            path, v, N_MIGRATIONS);
        return -1;
    }
    while (v < target) {
        if (exec_sql(db, "BEGIN IMMEDIATE", err, "begin migration") != 0) return -1;
        if (vn_sqlite_user_version(db, &v) != 0) {
            vn_sqlite_set_err(err, "%s: cannot read schema version: %s", path, sqlite3_errmsg(db));
            goto fail;
        }
        if (v > N_MIGRATIONS) {
            vn_sqlite_set_err(
                err, "%s: database schema version %d is newer than this vestnik supports (%d)",
                path, v, N_MIGRATIONS);
            goto fail;
        }
        if (v < target) {
            char what[64], bump[64];
            snprintf(what, sizeof(what), "schema migration %d", v + 1);
            /* A pragma value cannot be a bound parameter; v is our own integer. */
            snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
            if (exec_sql(db, k_migrations[v], err, what) != 0) goto fail;
            if (exec_sql(db, bump, err, what) != 0) goto fail;
        }
        if (exec_sql(db, "COMMIT", err, "commit migration") != 0) goto fail;
        if (vn_sqlite_user_version(db, &v) != 0) {
            vn_sqlite_set_err(err, "%s: cannot read schema version: %s", path, sqlite3_errmsg(db));
            return -1;
        }
        vn_info("store %s: schema at version %d", path, v);
    }
    return 0;
fail:
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

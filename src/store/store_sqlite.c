/* SQLite backend for the storage interface (store.h).
 *
 * One connection per vn_store_t, used by one thread (SQLITE_OPEN_NOMUTEX).
 * Other processes (vestnikctl next to a running vestnikd) may open the same
 * file: WAL lets readers and one writer proceed together, busy_timeout makes a
 * writer wait for the other's write lock instead of failing, and every write
 * transaction starts with BEGIN IMMEDIATE so it takes the write lock up front
 * (a deferred transaction that upgrades from read to write can get
 * SQLITE_BUSY_SNAPSHOT, which busy_timeout does not retry).
 *
 * All SQL is prepared once at open and kept in st->stmt[]; data is only ever
 * bound as parameters. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/sqlite_priv.h"
#include "store/store_internal.h"

/* ------------------------------------------------------------------------ */
/* Schema                                                                     */
/* ------------------------------------------------------------------------ */

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
     * domain's accounts (vestnikctl) is an index range scan. SCRAM columns are
     * NULL when the account has no credentials for that hash.
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
     * code (store_<area>.c); this table only fixes their order. */
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

/* ------------------------------------------------------------------------ */
/* Prepared statements                                                        */
/* ------------------------------------------------------------------------ */

enum {
    S_BEGIN,
    S_BEGIN_READ,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_ACCT_GET,
    S_ACCT_CREATE,
    S_ACCT_SET,
    S_ACCT_DELETE,
    S_ACCT_LIST,
    S_ACCT_LIST_DOMAIN,
    S_ROSTER_VERSION,
    S_ROSTER_BUMP,
    S_ROSTER_LOAD,
    S_ROSTER_LOAD_GROUPS,
    S_ROSTER_GET,
    S_ROSTER_GET_GROUPS,
    S_ROSTER_PUT,
    S_ROSTER_DEL_GROUPS,
    S_ROSTER_ADD_GROUP,
    S_ROSTER_DELETE,
    S_ROSTER_COUNT,
    S_OFF_PUSH,
    S_OFF_LOAD,
    S_OFF_DELETE,
    S_OFF_COUNT,
    S_ARC_APPEND,
    S_ARC_FIND_ID,
    S_ARC_TS_FIRST,
    S_ARC_TS_LAST,
    S_ARC_SEQ_ASC,
    S_ARC_SEQ_ASC_W,
    S_ARC_SEQ_DESC,
    S_ARC_SEQ_DESC_W,
    S_ARC_PAGE,
    S_ARC_PAGE_W,
    S_ARC_POS,
    S_ARC_EXPIRE,
    S_PREFS_GET,
    S_PREFS_SET,
    S_BLOCK_LIST,
    S_BLOCK_ADD,
    S_BLOCK_DEL,
    S_BLOCK_DEL_ALL,
    /* The room archive (store_muc.c): the statements S_ARC_APPEND..S_ARC_POS
     * on muc_archive, in the same order (see ARC_STMT). */
    S_MARC_APPEND,
    S_MARC_FIND_ID,
    S_MARC_TS_FIRST,
    S_MARC_TS_LAST,
    S_MARC_SEQ_ASC,
    S_MARC_SEQ_ASC_W,
    S_MARC_SEQ_DESC,
    S_MARC_SEQ_DESC_W,
    S_MARC_PAGE,
    S_MARC_PAGE_W,
    S_MARC_POS,
    S_COUNT
};

/* User archives (archive) and room archives (muc_archive) have the same
 * layout and invariants and share every statement but the table name: an
 * archive is selected by the offset of its statements from S_ARC_*. */
enum { ARC_USERS = 0, ARC_ROOMS = S_MARC_APPEND - S_ARC_APPEND };
_Static_assert(S_MARC_POS - S_MARC_APPEND == S_ARC_POS - S_ARC_APPEND,
               "room archive statements must mirror the user archive's");
#define ARC_STMT(tab, id) ((id) + (tab))

/* First and last statement of the archive (for vn_store_archive_plans). */
#define S_ARC_FIRST S_ARC_APPEND
#define S_ARC_LAST S_ARC_EXPIRE

#define SCRAM_COLS                                                                                 \
    "sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, "                               \
    "sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key"

/* The archive statements, for a table name T (archive or muc_archive).
 * See the comments at their uses in k_sql. */
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

static const char *const k_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    /* Read-only snapshot for calls that read several statements. */
    [S_BEGIN_READ] = "BEGIN DEFERRED",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    /* Inside a group transaction (vn_store_group_begin) each operation is a
     * savepoint: it can still fail alone, and the group commits once. */
    [S_SAVEPOINT] = "SAVEPOINT op",
    [S_RELEASE] = "RELEASE op",
    [S_ROLLBACK_TO] = "ROLLBACK TO op",

    [S_ACCT_GET] = "SELECT " SCRAM_COLS " FROM accounts WHERE jid = ?1",
    [S_ACCT_CREATE] = "INSERT INTO accounts (jid, domain, " SCRAM_COLS ") "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
                      "ON CONFLICT (jid) DO NOTHING",
    [S_ACCT_SET] = "UPDATE accounts SET "
                   "sha1_salt = ?3, sha1_iterations = ?4, sha1_stored_key = ?5, "
                   "sha1_server_key = ?6, sha256_salt = ?7, sha256_iterations = ?8, "
                   "sha256_stored_key = ?9, sha256_server_key = ?10 "
                   "WHERE jid = ?1",
    [S_ACCT_DELETE] = "DELETE FROM accounts WHERE jid = ?1",
    [S_ACCT_LIST] = "SELECT jid FROM accounts ORDER BY jid",
    [S_ACCT_LIST_DOMAIN] = "SELECT jid FROM accounts WHERE domain = ?1 ORDER BY jid",

    [S_ROSTER_VERSION] = "SELECT version FROM roster_version WHERE owner = ?1",
    [S_ROSTER_BUMP] = "INSERT INTO roster_version (owner, version) VALUES (?1, 1) "
                      "ON CONFLICT (owner) DO UPDATE SET version = version + 1 "
                      "RETURNING version",
    [S_ROSTER_LOAD] = "SELECT contact, name, subscription, ask_out, pending_in, approved, "
                      "in_roster, pending_stanza FROM roster WHERE owner = ?1 "
                      "ORDER BY contact",
    [S_ROSTER_LOAD_GROUPS] = "SELECT contact, name FROM roster_groups WHERE owner = ?1 "
                             "ORDER BY contact, pos",
    [S_ROSTER_GET] = "SELECT contact, name, subscription, ask_out, pending_in, approved, "
                     "in_roster, pending_stanza FROM roster "
                     "WHERE owner = ?1 AND contact = ?2",
    [S_ROSTER_GET_GROUPS] = "SELECT name FROM roster_groups "
                            "WHERE owner = ?1 AND contact = ?2 ORDER BY pos",
    [S_ROSTER_PUT] = "INSERT INTO roster (owner, contact, name, subscription, ask_out, "
                     "pending_in, approved, in_roster, pending_stanza) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                     "ON CONFLICT (owner, contact) DO UPDATE SET "
                     "name = excluded.name, subscription = excluded.subscription, "
                     "ask_out = excluded.ask_out, pending_in = excluded.pending_in, "
                     "approved = excluded.approved, in_roster = excluded.in_roster, "
                     "pending_stanza = excluded.pending_stanza",
    [S_ROSTER_DEL_GROUPS] = "DELETE FROM roster_groups WHERE owner = ?1 AND contact = ?2",
    [S_ROSTER_ADD_GROUP] = "INSERT INTO roster_groups (owner, contact, pos, name) "
                           "VALUES (?1, ?2, ?3, ?4)",
    [S_ROSTER_DELETE] = "DELETE FROM roster WHERE owner = ?1 AND contact = ?2",
    [S_ROSTER_COUNT] = "SELECT coalesce(sum(in_roster != 0), 0), coalesce(sum(in_roster = 0), 0) "
                       "FROM roster WHERE owner = ?1",

    [S_OFF_PUSH] = "INSERT INTO offline (owner, stanza) VALUES (?1, ?2)",
    [S_OFF_LOAD] = "SELECT id, stanza FROM offline WHERE owner = ?1 ORDER BY id",
    [S_OFF_DELETE] = "DELETE FROM offline WHERE owner = ?1 AND id <= ?2",
    [S_OFF_COUNT] = "SELECT count(*) FROM offline WHERE owner = ?1",

    /* Keeps the invariants of migration 2: ts is at least the owner's newest
     * ts (the last row in seq order has it), pos and with_pos continue from
     * the owner's / the conversation's last row. One statement in autocommit
     * mode, so it reads and appends under the same write lock even when
     * another process appends too. */
    [S_ARC_APPEND] = ARC_SQL_APPEND("archive"),
    [S_ARC_FIND_ID] = ARC_SQL_FIND_ID("archive"),
    [S_ARC_TS_FIRST] = ARC_SQL_TS_FIRST("archive"),
    [S_ARC_TS_LAST] = ARC_SQL_TS_LAST("archive"),
    [S_ARC_SEQ_ASC] = ARC_SQL_SEQ_ASC("archive"),
    [S_ARC_SEQ_ASC_W] = ARC_SQL_SEQ_ASC_W("archive"),
    [S_ARC_SEQ_DESC] = ARC_SQL_SEQ_DESC("archive"),
    [S_ARC_SEQ_DESC_W] = ARC_SQL_SEQ_DESC_W("archive"),
    [S_ARC_PAGE] = ARC_SQL_PAGE("archive"),
    [S_ARC_PAGE_W] = ARC_SQL_PAGE_W("archive"),
    [S_ARC_POS] = ARC_SQL_POS("archive"),
    /* One retention batch: the oldest rows (in each owner's order, so always
     * a prefix of it) of the accounts from ?2 on, at most ?3 of them.
     * Walking accounts and seeking (owner, ts) for each costs one seek per
     * account over a whole run, and spares an index on ts alone. RETURNING
     * owner tells where the next batch starts. */
    [S_ARC_EXPIRE] = "DELETE FROM archive WHERE seq IN ("
                     "SELECT a.seq FROM accounts c JOIN archive a ON a.owner = c.jid "
                     "WHERE c.jid >= ?2 AND a.ts < ?1 ORDER BY c.jid, a.ts, a.seq LIMIT ?3) "
                     "RETURNING owner",

    [S_PREFS_GET] = "SELECT default_mode, always, never FROM archive_prefs WHERE owner = ?1",
    [S_PREFS_SET] = "INSERT INTO archive_prefs (owner, default_mode, always, never) "
                    "VALUES (?1, ?2, ?3, ?4) "
                    "ON CONFLICT (owner) DO UPDATE SET default_mode = excluded.default_mode, "
                    "always = excluded.always, never = excluded.never",

    [S_BLOCK_LIST] = "SELECT jid FROM blocklist WHERE owner = ?1 ORDER BY jid",
    [S_BLOCK_ADD] = "INSERT INTO blocklist (owner, jid) VALUES (?1, ?2) "
                    "ON CONFLICT (owner, jid) DO NOTHING",
    [S_BLOCK_DEL] = "DELETE FROM blocklist WHERE owner = ?1 AND jid = ?2",
    [S_BLOCK_DEL_ALL] = "DELETE FROM blocklist WHERE owner = ?1",
    [S_MARC_APPEND] = ARC_SQL_APPEND("muc_archive"),
    [S_MARC_FIND_ID] = ARC_SQL_FIND_ID("muc_archive"),
    [S_MARC_TS_FIRST] = ARC_SQL_TS_FIRST("muc_archive"),
    [S_MARC_TS_LAST] = ARC_SQL_TS_LAST("muc_archive"),
    [S_MARC_SEQ_ASC] = ARC_SQL_SEQ_ASC("muc_archive"),
    [S_MARC_SEQ_ASC_W] = ARC_SQL_SEQ_ASC_W("muc_archive"),
    [S_MARC_SEQ_DESC] = ARC_SQL_SEQ_DESC("muc_archive"),
    [S_MARC_SEQ_DESC_W] = ARC_SQL_SEQ_DESC_W("muc_archive"),
    [S_MARC_PAGE] = ARC_SQL_PAGE("muc_archive"),
    [S_MARC_PAGE_W] = ARC_SQL_PAGE_W("muc_archive"),
    [S_MARC_POS] = ARC_SQL_POS("muc_archive"),
};

/* Statements of the per-area files (store_<area>.c), prepared on first use
 * and keyed by the address of their SQL text (static strings). */
#define SQL_CACHE_SLOTS 256

struct vn_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[S_COUNT];
    struct {
        const char *sql;
        sqlite3_stmt *s;
    } cache[SQL_CACHE_SLOTS];
    /* Set while a caller's callback runs: the callback must not call back into
     * the store, because the statement feeding it (and, for roster_load, a
     * read transaction) is still open. Caught here with a clear message
     * rather than surfacing as a confusing SQLite error or a half-read
     * result. */
    int in_callback;
    int group; /* inside vn_store_group_begin/commit */
};

/* Key lengths per vn_scram_hash_t. Kept here rather than calling
 * vn_scram_hash_len() so the store does not link the SCRAM code. */
_Static_assert(VN_SCRAM_NHASH == 2, "update k_key_len and the accounts schema");
static const size_t k_key_len[VN_SCRAM_NHASH] = {[VN_SCRAM_SHA1] = 20, [VN_SCRAM_SHA256] = 32};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */
/* ------------------------------------------------------------------------ */

static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char **err, const char *fmt, ...)
{
    if (!err) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    *err = vn_xstrdup(buf);
}

/* Logs the connection's last error and returns -1. */
static int db_fail(vn_store_t *st, const char *what)
{
    int code = sqlite3_extended_errcode(st->db);
    /* The only foreign keys point at accounts (or at roster rows written in
     * the same transaction), so this is almost always a missing account. */
    vn_error("store %s: %s: %s (code %d)%s", st->path, what, sqlite3_errmsg(st->db), code,
             code == SQLITE_CONSTRAINT_FOREIGNKEY ? "; the owner has no account" : "");
    return -1;
}

static int reentry_fail(vn_store_t *st, const char *fn)
{
    vn_error("store %s: %s called from inside a store callback (not supported)", st->path, fn);
    return -1;
}

#define GUARD(st)                                                                                  \
    do {                                                                                           \
        if ((st)->in_callback) return reentry_fail((st), __func__);                                \
    } while (0)

/* Returns the cached statement for id, ready for binding. */
static sqlite3_stmt *stmt_get(vn_store_t *st, int id)
{
    return st->stmt[id];
}

/* Resets a statement after use and drops its bindings. Bindings are
 * SQLITE_STATIC pointers into the caller's memory; clearing them means a
 * cached statement never holds a pointer past the call that bound it. */
static void stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Runs a statement that returns no rows. 0 or -1 (logged). */
static int stmt_exec(vn_store_t *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_DONE ? 0 : db_fail(st, what);
    stmt_done(s);
    return ret;
}

static int bind_text(sqlite3_stmt *s, int idx, const char *v)
{
    if (!v) return sqlite3_bind_null(s, idx);
    return sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC);
}

static int tx_begin(vn_store_t *st)
{
    if (st->group) return stmt_exec(st, stmt_get(st, S_SAVEPOINT), "SAVEPOINT");
    return stmt_exec(st, stmt_get(st, S_BEGIN), "BEGIN");
}

static int tx_begin_read(vn_store_t *st)
{
    if (st->group) return stmt_exec(st, stmt_get(st, S_SAVEPOINT), "SAVEPOINT");
    return stmt_exec(st, stmt_get(st, S_BEGIN_READ), "BEGIN");
}

/* Abandons the current transaction (or, in a group, the operation's
 * savepoint). Errors are logged but not returned: the caller is already on
 * an error (or "not found") path. */
static void tx_rollback(vn_store_t *st)
{
    if (sqlite3_get_autocommit(st->db)) return; /* SQLite already rolled back */
    if (st->group) {
        sqlite3_stmt *s = stmt_get(st, S_ROLLBACK_TO);
        if (sqlite3_step(s) != SQLITE_DONE) db_fail(st, "ROLLBACK TO");
        stmt_done(s);
        s = stmt_get(st, S_RELEASE);
        if (sqlite3_step(s) != SQLITE_DONE) db_fail(st, "RELEASE");
        stmt_done(s);
        return;
    }
    sqlite3_stmt *s = stmt_get(st, S_ROLLBACK);
    if (sqlite3_step(s) != SQLITE_DONE) db_fail(st, "ROLLBACK");
    stmt_done(s);
}

/* On failure the transaction is rolled back (if SQLite left it open). */
static int tx_commit(vn_store_t *st)
{
    if (st->group) {
        if (stmt_exec(st, stmt_get(st, S_RELEASE), "RELEASE") == 0) return 0;
        tx_rollback(st);
        return -1;
    }
    if (stmt_exec(st, stmt_get(st, S_COMMIT), "COMMIT") == 0) return 0;
    if (!sqlite3_get_autocommit(st->db)) {
        sqlite3_stmt *s = stmt_get(st, S_ROLLBACK);
        sqlite3_step(s);
        stmt_done(s);
    }
    return -1;
}

/* Runs SQL text without parameters (pragmas, migrations). */
static int exec_sql(sqlite3 *db, const char *sql, char **err, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    set_err(err, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

static int read_user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK) return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Open / close                                                               */
/* ------------------------------------------------------------------------ */

/* Brings the schema up to target (N_MIGRATIONS except in the test hook), one
 * transaction per step. The version is re-read inside each write transaction
 * because another process may be opening the same database at the same
 * moment and have applied the step already. */
static int migrate(sqlite3 *db, const char *path, int target, char **err)
{
    int v;
    if (read_user_version(db, &v) != 0) {
        set_err(err, "%s: cannot read schema version: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    if (v > N_MIGRATIONS || v < 0) {
        set_err(err,
                "%s: database schema version %d is newer than this vestnik supports (%d); "
                "upgrade vestnik or restore a matching backup",
                path, v, N_MIGRATIONS);
        return -1;
    }
    while (v < target) {
        if (exec_sql(db, "BEGIN IMMEDIATE", err, "begin migration") != 0) return -1;
        if (read_user_version(db, &v) != 0) {
            set_err(err, "%s: cannot read schema version: %s", path, sqlite3_errmsg(db));
            goto fail;
        }
        if (v > N_MIGRATIONS) {
            set_err(err, "%s: database schema version %d is newer than this vestnik supports (%d)",
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
        if (read_user_version(db, &v) != 0) {
            set_err(err, "%s: cannot read schema version: %s", path, sqlite3_errmsg(db));
            return -1;
        }
        vn_info("store %s: schema at version %d", path, v);
    }
    return 0;
fail:
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Creates data_dir (0700) when missing; warns when an existing one is readable
 * by others, since the database holds SCRAM keys. */
static int ensure_dir(const char *dir, char **err)
{
    if (mkdir(dir, 0700) == 0) return 0;
    if (errno != EEXIST) {
        set_err(err, "cannot create data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        set_err(err, "cannot stat data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        set_err(err, "data directory %s is not a directory", dir);
        return -1;
    }
    if (sb.st_mode & 0077)
        vn_warn("data directory %s is accessible by group/others (mode %04o); "
                "it holds account credentials, consider chmod 0700",
                dir, (unsigned)(sb.st_mode & 07777));
    return 0;
}

/* Opens the store with the schema at version target. Statements are only
 * prepared for the full schema (they name the newest tables); a store opened
 * at an older version is only good for closing (test hook below). */
static vn_store_t *store_open(const char *data_dir, int target, char **err)
{
    if (err) *err = NULL;
    if (!data_dir || !*data_dir) {
        set_err(err, "no data directory given");
        return NULL;
    }
    if (ensure_dir(data_dir, err) != 0) return NULL;

    vn_store_t *st = vn_xcalloc(1, sizeof(*st));
    size_t plen = strlen(data_dir) + sizeof("/vestnik.db");
    st->path = vn_xmalloc(plen);
    snprintf(st->path, plen, "%s/vestnik.db", data_dir);

    /* Create the file ourselves so it starts out 0600 whatever the umask;
     * SQLite gives the -wal and -shm files the main file's permissions. */
    int fd = open(st->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        set_err(err, "cannot open %s: %s", st->path, strerror(errno));
        goto fail;
    }
    close(fd);

    int rc = sqlite3_open_v2(
        st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        set_err(err, "cannot open %s: %s", st->path,
                st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    /* Another process holding the write lock makes us wait up to 5 s rather
     * than fail at once. Set first so the pragmas below wait too. */
    sqlite3_busy_timeout(st->db, 5000);

    /* Durability: in WAL mode a commit appends to the -wal file with write(2)
     * before sqlite3_step returns, so the data is in the kernel's page cache
     * and survives kill -9 of the process. synchronous=NORMAL skips the fsync
     * on every commit (it syncs at checkpoints), so only a power loss or
     * kernel crash can lose the last transactions; the database itself stays
     * consistent. Operators who need power-loss durability call
     * vn_store_set_synchronous_full(). */
    if (exec_sql(st->db, "PRAGMA foreign_keys = ON", err, st->path) != 0) goto fail;
    {
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK) {
            set_err(err, "%s: journal_mode: %s", st->path, sqlite3_errmsg(st->db));
            goto fail;
        }
        rc = sqlite3_step(s);
        const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
        if (!mode) {
            set_err(err, "%s: journal_mode: %s", st->path, sqlite3_errmsg(st->db));
            sqlite3_finalize(s);
            goto fail;
        }
        /* Rollback journal with synchronous=NORMAL is still kill -9 safe, so
         * a filesystem without WAL support (no shared memory) only costs
         * concurrency: warn, do not refuse. */
        if (sqlite3_stricmp(mode, "wal") != 0)
            vn_warn("store %s: WAL not available, journal mode is %s", st->path, mode);
        sqlite3_finalize(s);
    }
    if (exec_sql(st->db, "PRAGMA synchronous = NORMAL", err, st->path) != 0) goto fail;
    /* Reads through a memory map instead of a pread per page: every message
     * touches several index pages (archive, offline). The map is file-backed
     * (shared, reclaimable), unlike a larger private page cache. */
    if (exec_sql(st->db, "PRAGMA mmap_size = 1073741824", err, st->path) != 0) goto fail;
    if (exec_sql(st->db, "PRAGMA cache_size = -8192", err, st->path) != 0) goto fail;
    /* Checkpoints (the only fsyncs in WAL mode with synchronous=NORMAL) every
     * 64 MiB of WAL rather than 4 MiB: far fewer under a stream of messages. */
    if (exec_sql(st->db, "PRAGMA wal_autocheckpoint = 16384", err, st->path) != 0) goto fail;

    if (migrate(st->db, st->path, target, err) != 0) goto fail;
    if (target < N_MIGRATIONS) return st;

    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, k_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK) {
            set_err(err, "%s: preparing \"%s\": %s", st->path, k_sql[i], sqlite3_errmsg(st->db));
            goto fail;
        }
    }
    return st;

fail:
    vn_store_close(st);
    return NULL;
}

vn_store_t *vn_store_open(const char *data_dir, char **err)
{
    return store_open(data_dir, N_MIGRATIONS, err);
}

int vn_store_create_at_version(const char *data_dir, int version, char **err)
{
    if (err) *err = NULL;
    if (version < 0 || version > N_MIGRATIONS) {
        set_err(err, "schema version %d out of range 0..%d", version, N_MIGRATIONS);
        return -1;
    }
    vn_store_t *st = store_open(data_dir, version, err);
    if (!st) return -1;
    vn_store_close(st);
    return 0;
}

void vn_store_close(vn_store_t *st)
{
    if (!st) return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    for (int i = 0; i < SQL_CACHE_SLOTS; i++)
        sqlite3_finalize(st->cache[i].s);
    if (st->db && sqlite3_close(st->db) != SQLITE_OK)
        vn_error("store %s: close: %s", st->path, sqlite3_errmsg(st->db));
    free(st->path);
    free(st);
}

int vn_store_schema_latest(void)
{
    return N_MIGRATIONS;
}

int vn_store_schema_version(vn_store_t *st)
{
    int v;
    if (read_user_version(st->db, &v) != 0) return db_fail(st, "read schema version");
    return v;
}

int vn_store_set_synchronous_full(vn_store_t *st, int on)
{
    GUARD(st);
    const char *sql = on ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(st, "set synchronous");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Accounts                                                                   */
/* ------------------------------------------------------------------------ */

/* Binds the SCRAM columns at parameters 3..10. A hash with iterations == 0
 * means "no credentials for this hash" and is stored as NULLs. */
static int bind_creds(vn_store_t *st, sqlite3_stmt *s, const vn_account_t *a)
{
    for (int h = 0; h < VN_SCRAM_NHASH; h++) {
        const vn_scram_creds_t *c = &a->scram[h];
        int base = 3 + 4 * h;
        if (c->salt_len > sizeof(c->salt)) {
            vn_error("store %s: account %s: salt length %zu too large", st->path, a->jid,
                     c->salt_len);
            return -1;
        }
        int rc;
        if (c->iterations == 0) {
            rc = sqlite3_bind_null(s, base) | sqlite3_bind_null(s, base + 1) |
                 sqlite3_bind_null(s, base + 2) | sqlite3_bind_null(s, base + 3);
        } else {
            rc = sqlite3_bind_blob(s, base, c->salt, (int)c->salt_len, SQLITE_STATIC) |
                 sqlite3_bind_int64(s, base + 1, c->iterations) |
                 sqlite3_bind_blob(s, base + 2, c->stored_key, (int)k_key_len[h], SQLITE_STATIC) |
                 sqlite3_bind_blob(s, base + 3, c->server_key, (int)k_key_len[h], SQLITE_STATIC);
        }
        if (rc != SQLITE_OK) return db_fail(st, "bind credentials");
    }
    return 0;
}

/* Checks that a NUL-terminated JID fits vn_account_t.jid. */
static int jid_fits(vn_store_t *st, const char *jid)
{
    if (strnlen(jid, sizeof(((vn_account_t *)0)->jid)) < sizeof(((vn_account_t *)0)->jid)) return 1;
    vn_error("store %s: JID too long", st->path);
    return 0;
}

int vn_store_account_get(vn_store_t *st, const char *jid, vn_account_t *out)
{
    GUARD(st);
    if (!jid_fits(st, jid)) return -1;
    sqlite3_stmt *s = stmt_get(st, S_ACCT_GET);
    bind_text(s, 1, jid);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        stmt_done(s);
        return 1;
    }
    if (rc != SQLITE_ROW) {
        db_fail(st, "account get");
        stmt_done(s);
        return -1;
    }
    memset(out, 0, sizeof(*out));
    snprintf(out->jid, sizeof(out->jid), "%s", jid);
    int ret = 0;
    for (int h = 0; h < VN_SCRAM_NHASH && ret == 0; h++) {
        vn_scram_creds_t *c = &out->scram[h];
        int base = 4 * h;
        if (sqlite3_column_type(s, base + 1) == SQLITE_NULL) continue; /* no creds */
        size_t salt_len = (size_t)sqlite3_column_bytes(s, base);
        const void *salt = sqlite3_column_blob(s, base);
        sqlite3_int64 iter = sqlite3_column_int64(s, base + 1);
        const void *sk = sqlite3_column_blob(s, base + 2);
        size_t sk_len = (size_t)sqlite3_column_bytes(s, base + 2);
        const void *vk = sqlite3_column_blob(s, base + 3);
        size_t vk_len = (size_t)sqlite3_column_bytes(s, base + 3);
        /* Refuse malformed rows rather than hand out truncated keys. */
        if (salt_len > sizeof(c->salt) || iter <= 0 || iter > UINT32_MAX ||
            sk_len != k_key_len[h] || vk_len != k_key_len[h]) {
            vn_error("store %s: account %s has malformed credentials", st->path, jid);
            ret = -1;
            break;
        }
        if (salt_len) memcpy(c->salt, salt, salt_len);
        c->salt_len = salt_len;
        c->iterations = (uint32_t)iter;
        memcpy(c->stored_key, sk, sk_len);
        memcpy(c->server_key, vk, vk_len);
    }
    stmt_done(s);
    if (ret != 0) memset(out, 0, sizeof(*out));
    return ret;
}

int vn_store_account_create(vn_store_t *st, const vn_account_t *acct)
{
    GUARD(st);
    if (!jid_fits(st, acct->jid)) return -1;
    /* A bare JID's domain follows the '@' (RFC 7622 forbids '@' in the
     * localpart); a JID without one is a domain itself. */
    const char *at = strchr(acct->jid, '@');
    const char *domain = at ? at + 1 : acct->jid;

    sqlite3_stmt *s = stmt_get(st, S_ACCT_CREATE);
    bind_text(s, 1, acct->jid);
    bind_text(s, 2, domain);
    if (bind_creds(st, s, acct) != 0) {
        stmt_done(s);
        return -1;
    }
    if (stmt_exec(st, s, "account create") != 0) return -1;
    /* ON CONFLICT DO NOTHING: no row changed means the JID already existed. */
    return sqlite3_changes(st->db) == 0 ? 1 : 0;
}

int vn_store_account_set_creds(vn_store_t *st, const vn_account_t *acct)
{
    GUARD(st);
    if (!jid_fits(st, acct->jid)) return -1;
    sqlite3_stmt *s = stmt_get(st, S_ACCT_SET);
    bind_text(s, 1, acct->jid);
    if (bind_creds(st, s, acct) != 0) {
        stmt_done(s);
        return -1;
    }
    if (stmt_exec(st, s, "account set credentials") != 0) return -1;
    return sqlite3_changes(st->db) == 0 ? 1 : 0;
}

int vn_store_account_delete(vn_store_t *st, const char *jid)
{
    GUARD(st);
    /* One statement: the foreign keys' ON DELETE CASCADE removes the roster,
     * its groups and version, and the offline queue within it, atomically.
     * sqlite3_changes() counts only the account row itself. */
    sqlite3_stmt *s = stmt_get(st, S_ACCT_DELETE);
    bind_text(s, 1, jid);
    if (stmt_exec(st, s, "account delete") != 0) return -1;
    return sqlite3_changes(st->db) == 0 ? 1 : 0;
}

int vn_store_account_list(vn_store_t *st, const char *domain, void (*cb)(const char *jid, void *ud),
                          void *ud)
{
    GUARD(st);
    sqlite3_stmt *s = stmt_get(st, domain ? S_ACCT_LIST_DOMAIN : S_ACCT_LIST);
    if (domain) bind_text(s, 1, domain);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        st->in_callback = 1;
        cb((const char *)sqlite3_column_text(s, 0), ud);
        st->in_callback = 0;
    }
    int ret = rc == SQLITE_DONE ? 0 : db_fail(st, "account list");
    stmt_done(s);
    return ret;
}

/* ------------------------------------------------------------------------ */
/* Roster                                                                     */
/* ------------------------------------------------------------------------ */

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

/* Fills the scalar fields of *it from a row of S_ROSTER_LOAD / S_ROSTER_GET.
 * The strings point into the statement (valid until the next step). */
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
static int roster_version_read(vn_store_t *st, const char *owner, uint64_t *version)
{
    sqlite3_stmt *s = stmt_get(st, S_ROSTER_VERSION);
    bind_text(s, 1, owner);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        *version = (uint64_t)sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE)
        *version = 0;
    else
        ret = db_fail(st, "roster version");
    stmt_done(s);
    return ret;
}

static int roster_version_bump(vn_store_t *st, const char *owner, uint64_t *new_version)
{
    sqlite3_stmt *s = stmt_get(st, S_ROSTER_BUMP);
    bind_text(s, 1, owner);
    int rc = sqlite3_step(s);
    uint64_t v = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    /* RETURNING: the row comes first; the statement only completes (and its
     * error, e.g. a foreign key violation, shows) on the next step. */
    if (rc == SQLITE_ROW) rc = sqlite3_step(s);
    int ret = rc == SQLITE_DONE ? 0 : db_fail(st, "roster version bump");
    stmt_done(s);
    if (ret == 0 && new_version) *new_version = v;
    return ret;
}

int vn_store_roster_load(vn_store_t *st, const char *owner, uint64_t *version,
                         void (*cb)(const vn_roster_item_t *item, void *ud), void *ud)
{
    GUARD(st);
    /* One read transaction so the version matches the rows: another process
     * (vestnikctl) may be writing the same roster. */
    if (tx_begin_read(st) != 0) return -1;
    uint64_t ver = 0;
    if (roster_version_read(st, owner, &ver) != 0) {
        tx_rollback(st);
        return -1;
    }

    /* Merge join: rows and groups are both ordered by contact, so one pass
     * over each attaches the groups without a query per contact. */
    sqlite3_stmt *rs = stmt_get(st, S_ROSTER_LOAD);
    sqlite3_stmt *gs = stmt_get(st, S_ROSTER_LOAD_GROUPS);
    bind_text(rs, 1, owner);
    bind_text(gs, 1, owner);
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
        st->in_callback = 1;
        cb(&it, ud);
        st->in_callback = 0;
    }
    if (grc != SQLITE_ROW && grc != SQLITE_DONE)
        ret = db_fail(st, "roster load groups");
    else if (rrc != SQLITE_DONE)
        ret = db_fail(st, "roster load");
    strvec_clear(&groups);
    free(groups.v);
    stmt_done(rs);
    stmt_done(gs);
    if (ret == 0) {
        ret = tx_commit(st);
    } else {
        tx_rollback(st);
    }
    if (ret == 0 && version) *version = ver;
    return ret;
}

int vn_store_roster_get(vn_store_t *st, const char *owner, const char *contact,
                        vn_roster_item_t *out)
{
    GUARD(st);
    if (tx_begin_read(st) != 0) return -1;
    sqlite3_stmt *s = stmt_get(st, S_ROSTER_GET);
    bind_text(s, 1, owner);
    bind_text(s, 2, contact);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        int ret = rc == SQLITE_DONE ? 1 : db_fail(st, "roster get");
        stmt_done(s);
        tx_rollback(st);
        return ret;
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
    stmt_done(s);

    s = stmt_get(st, S_ROSTER_GET_GROUPS);
    bind_text(s, 1, owner);
    bind_text(s, 2, contact);
    strvec_t groups;
    strvec_init(&groups);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        strvec_push(&groups, (const char *)sqlite3_column_text(s, 0));
    out->groups = groups.v; /* ownership passes to *out */
    int ret = rc == SQLITE_DONE ? 0 : db_fail(st, "roster get groups");
    stmt_done(s);
    if (ret == 0)
        ret = tx_commit(st);
    else
        tx_rollback(st);
    if (ret != 0) vn_roster_item_free_fields(out);
    return ret;
}

int vn_store_roster_put(vn_store_t *st, const char *owner, const vn_roster_item_t *item,
                        uint64_t *new_version)
{
    GUARD(st);
    if (!item->contact) {
        vn_error("store %s: roster put for %s without a contact", st->path, owner);
        return -1;
    }
    if ((int)item->subscription < VN_SUB_NONE || (int)item->subscription > VN_SUB_BOTH) {
        vn_error("store %s: roster put %s/%s: bad subscription %d", st->path, owner, item->contact,
                 (int)item->subscription);
        return -1;
    }
    if (tx_begin(st) != 0) return -1;

    sqlite3_stmt *s = stmt_get(st, S_ROSTER_PUT);
    bind_text(s, 1, owner);
    bind_text(s, 2, item->contact);
    bind_text(s, 3, item->name);
    sqlite3_bind_int(s, 4, (int)item->subscription);
    /* Flags are stored as 0/1 whatever non-zero value the caller used. */
    sqlite3_bind_int(s, 5, !!item->ask_out);
    sqlite3_bind_int(s, 6, !!item->pending_in);
    sqlite3_bind_int(s, 7, !!item->approved);
    sqlite3_bind_int(s, 8, !!item->in_roster);
    bind_text(s, 9, item->pending_stanza);
    if (stmt_exec(st, s, "roster put") != 0) goto fail;

    /* Replace the groups wholesale: a roster set carries the full list. */
    s = stmt_get(st, S_ROSTER_DEL_GROUPS);
    bind_text(s, 1, owner);
    bind_text(s, 2, item->contact);
    if (stmt_exec(st, s, "roster put (clear groups)") != 0) goto fail;
    for (int i = 0; item->groups && item->groups[i]; i++) {
        s = stmt_get(st, S_ROSTER_ADD_GROUP);
        bind_text(s, 1, owner);
        bind_text(s, 2, item->contact);
        sqlite3_bind_int(s, 3, i);
        bind_text(s, 4, item->groups[i]);
        if (stmt_exec(st, s, "roster put (group)") != 0) goto fail;
    }

    uint64_t v;
    if (roster_version_bump(st, owner, &v) != 0) goto fail;
    if (tx_commit(st) != 0) return -1;
    if (new_version) *new_version = v;
    return 0;
fail:
    tx_rollback(st);
    return -1;
}

int vn_store_roster_delete(vn_store_t *st, const char *owner, const char *contact,
                           uint64_t *new_version)
{
    GUARD(st);
    if (tx_begin(st) != 0) return -1;
    sqlite3_stmt *s = stmt_get(st, S_ROSTER_DELETE);
    bind_text(s, 1, owner);
    bind_text(s, 2, contact);
    if (stmt_exec(st, s, "roster delete") != 0) goto fail;
    if (sqlite3_changes(st->db) == 0) {
        /* Nothing removed: the version must not move. */
        tx_rollback(st);
        return 1;
    }
    uint64_t v;
    if (roster_version_bump(st, owner, &v) != 0) goto fail;
    if (tx_commit(st) != 0) return -1;
    if (new_version) *new_version = v;
    return 0;
fail:
    tx_rollback(st);
    return -1;
}

int vn_store_roster_count(vn_store_t *st, const char *owner, int64_t *items, int64_t *pending)
{
    GUARD(st);
    sqlite3_stmt *s = stmt_get(st, S_ROSTER_COUNT);
    bind_text(s, 1, owner);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        *items = sqlite3_column_int64(s, 0);
        *pending = sqlite3_column_int64(s, 1);
    } else {
        ret = db_fail(st, "roster count");
    }
    stmt_done(s);
    return ret;
}

void vn_roster_item_free_fields(vn_roster_item_t *item)
{
    if (!item) return;
    free(item->contact);
    free(item->name);
    if (item->groups) {
        for (char **g = item->groups; *g; g++)
            free(*g);
        free(item->groups);
    }
    free(item->pending_stanza);
    memset(item, 0, sizeof(*item));
}

/* ------------------------------------------------------------------------ */
/* Offline messages                                                           */
/* ------------------------------------------------------------------------ */

int vn_store_offline_push(vn_store_t *st, const char *owner, const char *xml, size_t len,
                          int64_t *id)
{
    GUARD(st);
    if (len > INT32_MAX) {
        vn_error("store %s: offline stanza for %s too large (%zu bytes)", st->path, owner, len);
        return -1;
    }
    /* A single INSERT in autocommit mode: when step returns SQLITE_DONE the
     * transaction has committed (see the durability note in vn_store_open). */
    sqlite3_stmt *s = stmt_get(st, S_OFF_PUSH);
    bind_text(s, 1, owner);
    sqlite3_bind_text(s, 2, xml, (int)len, SQLITE_STATIC);
    if (stmt_exec(st, s, "offline push") != 0) return -1;
    if (id) *id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int vn_store_offline_load(vn_store_t *st, const char *owner,
                          void (*cb)(int64_t id, const char *xml, size_t len, void *ud), void *ud)
{
    GUARD(st);
    sqlite3_stmt *s = stmt_get(st, S_OFF_LOAD);
    bind_text(s, 1, owner);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        /* text before bytes: bytes then reports the length of that text. */
        const char *xml = (const char *)sqlite3_column_text(s, 1);
        size_t len = (size_t)sqlite3_column_bytes(s, 1);
        st->in_callback = 1;
        cb(id, xml ? xml : "", len, ud);
        st->in_callback = 0;
    }
    int ret = rc == SQLITE_DONE ? 0 : db_fail(st, "offline load");
    stmt_done(s);
    return ret;
}

int vn_store_offline_delete(vn_store_t *st, const char *owner, int64_t up_to_id)
{
    GUARD(st);
    sqlite3_stmt *s = stmt_get(st, S_OFF_DELETE);
    bind_text(s, 1, owner);
    sqlite3_bind_int64(s, 2, up_to_id);
    return stmt_exec(st, s, "offline delete");
}

int vn_store_offline_count(vn_store_t *st, const char *owner, int64_t *count)
{
    GUARD(st);
    sqlite3_stmt *s = stmt_get(st, S_OFF_COUNT);
    bind_text(s, 1, owner);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        *count = sqlite3_column_int64(s, 0);
    else
        ret = db_fail(st, "offline count");
    stmt_done(s);
    return ret;
}

/* ------------------------------------------------------------------------ */
/* Message archive (XEP-0313)                                                 */
/* ------------------------------------------------------------------------ */

/* Rows per retention transaction: small enough that the write lock is
 * released every few milliseconds, so vestnikd's writes (another process
 * when vestnikctl runs retention) wait at most one batch. */
#define ARCHIVE_EXPIRE_BATCH 1000

static int archive_append(vn_store_t *st, int tab, const char *owner, const char *id, int64_t ts_us,
                          const char *with, const char *xml, size_t len)
{
    GUARD(st);
    if (!owner || !id || !with || !xml) {
        vn_error("store %s: archive append with a missing field", st->path);
        return -1;
    }
    if (len > INT32_MAX) {
        vn_error("store %s: archived stanza for %s too large (%zu bytes)", st->path, owner, len);
        return -1;
    }
    /* One INSERT in autocommit mode: committed (kill -9 safe) when step
     * returns SQLITE_DONE. A duplicate id violates UNIQUE (owner, id). */
    sqlite3_stmt *s = stmt_get(st, ARC_STMT(tab, S_ARC_APPEND));
    bind_text(s, 1, owner);
    bind_text(s, 2, id);
    sqlite3_bind_int64(s, 3, ts_us);
    bind_text(s, 4, with);
    sqlite3_bind_text(s, 5, xml, (int)len, SQLITE_STATIC);
    return stmt_exec(st, s, "archive append");
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
        ret = db_fail(st, what);
    }
    stmt_done(s);
    return ret;
}

/* Binds one of the range statements (same parameter layout for all). */
static sqlite3_stmt *range_stmt(vn_store_t *st, int tab, int id_all, int id_with, const char *owner,
                                const char *with, int64_t lo, int64_t hi, int64_t limit)
{
    sqlite3_stmt *s = stmt_get(st, ARC_STMT(tab, with ? id_with : id_all));
    bind_text(s, 1, owner);
    sqlite3_bind_int64(s, 2, lo);
    sqlite3_bind_int64(s, 3, hi);
    sqlite3_bind_int64(s, 4, limit);
    if (with) bind_text(s, 5, with);
    return s;
}

static int find_id(vn_store_t *st, int tab, const char *owner, const char *id, int64_t *seq)
{
    sqlite3_stmt *s = stmt_get(st, ARC_STMT(tab, S_ARC_FIND_ID));
    bind_text(s, 1, owner);
    bind_text(s, 2, id);
    return seq_one(st, s, seq, "archive find id");
}

/* Number of matching items in the inclusive seq window [lo, hi]: by the
 * migration-2 invariant they carry consecutive pos (with_pos for a 'with'
 * query), so the count is last - first + 1, found with two seeks. */
static int archive_total(vn_store_t *st, int tab, const char *owner, const char *with, int64_t lo,
                         int64_t hi, int64_t *total)
{
    int64_t first, last;
    *total = 0;
    int r = seq_one(st, range_stmt(st, tab, S_ARC_SEQ_ASC, S_ARC_SEQ_ASC_W, owner, with, lo, hi, 1),
                    &first, "archive first");
    if (r != 0) return r < 0 ? -1 : 0;
    r = seq_one(st, range_stmt(st, tab, S_ARC_SEQ_DESC, S_ARC_SEQ_DESC_W, owner, with, lo, hi, 1),
                &last, "archive last");
    if (r != 0) return -1; /* a row was just there in the same snapshot */
    int64_t pos[2];
    int64_t seqs[2] = {first, last};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *s = stmt_get(st, ARC_STMT(tab, S_ARC_POS));
        sqlite3_bind_int64(s, 1, seqs[i]);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) pos[i] = sqlite3_column_int64(s, with ? 1 : 0);
        int ret = rc == SQLITE_ROW ? 0 : db_fail(st, "archive position");
        stmt_done(s);
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
        range_stmt(st, tab, S_ARC_PAGE, S_ARC_PAGE_W, owner, with, lo, hi, max + (probe ? 1 : 0));
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
        st->in_callback = 1;
        cb(&it, ud);
        st->in_callback = 0;
        (*n)++;
    }
    int ret = rc == SQLITE_DONE ? 0 : db_fail(st, "archive page");
    stmt_done(s);
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
    GUARD(st);
    memset(page, 0, sizeof(*page));
    if (!owner || !q || q->max < 0 || !cb) {
        vn_error("store %s: bad archive query", st->path);
        return -1;
    }
    if (tx_begin_read(st) != 0) return -1;

    const char *with = q->with;
    int64_t after = 0, before = 0;
    int r;
    if (q->after_id && (r = find_id(st, tab, owner, q->after_id, &after)) != 0) goto not_found;
    if (q->before_id && (r = find_id(st, tab, owner, q->before_id, &before)) != 0) goto not_found;

    /* The filters' window. seq starts at 1, so 0 and INT64_MAX are open. */
    int64_t lo = 0, hi = INT64_MAX;
    int empty = 0;
    if (q->start_us) {
        sqlite3_stmt *s = stmt_get(st, ARC_STMT(tab, S_ARC_TS_FIRST));
        bind_text(s, 1, owner);
        sqlite3_bind_int64(s, 2, q->start_us);
        if ((r = seq_one(st, s, &lo, "archive start")) < 0) goto fail;
        empty |= r == 1;
    }
    if (!empty && q->end_us) {
        sqlite3_stmt *s = stmt_get(st, ARC_STMT(tab, S_ARC_TS_LAST));
        bind_text(s, 1, owner);
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
            range_stmt(st, tab, S_ARC_SEQ_DESC, S_ARC_SEQ_DESC_W, owner, with, lo, hi, max + 1);
        int64_t oldest = 0, seen = 0;
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if (seen < max) oldest = sqlite3_column_int64(s, 0);
            seen++;
        }
        int ret = rc == SQLITE_DONE ? 0 : db_fail(st, "archive page (backwards)");
        stmt_done(s);
        if (ret != 0) goto fail;
        page->complete = seen <= max;
        if (seen > 0 && max > 0) {
            int n;
            if (archive_stream(st, tab, owner, with, oldest, hi, max, 0, cb, ud, &n, NULL) != 0)
                goto fail;
            page->count = n;
        }
    }
    if (tx_commit(st) != 0) {
        memset(page, 0, sizeof(*page));
        return -1;
    }
    return 0;

not_found:
    if (r < 0) goto fail;
    tx_rollback(st);
    page->after_not_found = 1;
    return 0;
fail:
    tx_rollback(st);
    memset(page, 0, sizeof(*page));
    return -1;
}

int vn_store_archive_append(vn_store_t *st, const char *owner, const char *id, int64_t ts_us,
                            const char *with, const char *xml, size_t len)
{
    return archive_append(st, ARC_USERS, owner, id, ts_us, with, xml, len);
}

int vn_store_archive_query(vn_store_t *st, const char *owner, const vn_archive_query_t *q,
                           void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                           vn_archive_page_t *page)
{
    return archive_query(st, ARC_USERS, owner, q, cb, ud, page);
}

/* The same on room archives (muc_archive, store_muc.c). */
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
int vn_store_archive_expire(vn_store_t *st, int64_t before_us, int64_t *deleted)
{
    GUARD(st);
    int64_t total = 0;
    char *cursor = vn_xstrdup(""); /* sorts before every JID */
    int ret = 0;
    for (;;) {
        sqlite3_stmt *s = stmt_get(st, S_ARC_EXPIRE);
        sqlite3_bind_int64(s, 1, before_us);
        bind_text(s, 2, cursor);
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
        if (rc != SQLITE_DONE) ret = db_fail(st, "archive expire");
        stmt_done(s); /* finishes the statement: the batch commits here */
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

static int valid_mode(const char *m)
{
    return !strcmp(m, "always") || !strcmp(m, "never") || !strcmp(m, "roster");
}

int vn_store_archive_prefs_get(vn_store_t *st, const char *owner, vn_archive_prefs_t *out)
{
    GUARD(st);
    /* Defined contents on every return: empty mode and NULL lists unless
     * found, so freeing always/never is always safe. */
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = stmt_get(st, S_PREFS_GET);
    bind_text(s, 1, owner);
    int rc = sqlite3_step(s);
    int ret;
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(s, 0);
        const char *always = (const char *)sqlite3_column_text(s, 1);
        const char *never = (const char *)sqlite3_column_text(s, 2);
        snprintf(out->default_mode, sizeof(out->default_mode), "%s", mode ? mode : "");
        out->always = vn_xstrdup(always ? always : "");
        out->never = vn_xstrdup(never ? never : "");
        ret = 0;
    } else {
        ret = rc == SQLITE_DONE ? 1 : db_fail(st, "archive prefs get");
    }
    stmt_done(s);
    return ret;
}

int vn_store_archive_prefs_set(vn_store_t *st, const char *owner, const vn_archive_prefs_t *p)
{
    GUARD(st);
    /* default_mode is a fixed char array: refuse one without a terminator
     * or outside the three XEP-0313 values (the CHECK would too, less
     * clearly). */
    if (!memchr(p->default_mode, '\0', sizeof(p->default_mode)) || !valid_mode(p->default_mode)) {
        vn_error("store %s: archive prefs for %s: bad default mode", st->path, owner);
        return -1;
    }
    sqlite3_stmt *s = stmt_get(st, S_PREFS_SET);
    bind_text(s, 1, owner);
    bind_text(s, 2, p->default_mode);
    bind_text(s, 3, p->always ? p->always : "");
    bind_text(s, 4, p->never ? p->never : "");
    return stmt_exec(st, s, "archive prefs set");
}

/* ------------------------------------------------------------------------ */
/* Blocking (XEP-0191)                                                        */
/* ------------------------------------------------------------------------ */

int vn_store_block_list(vn_store_t *st, const char *owner, void (*cb)(const char *jid, void *ud),
                        void *ud)
{
    GUARD(st);
    sqlite3_stmt *s = stmt_get(st, S_BLOCK_LIST);
    bind_text(s, 1, owner);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        st->in_callback = 1;
        cb((const char *)sqlite3_column_text(s, 0), ud);
        st->in_callback = 0;
    }
    int ret = rc == SQLITE_DONE ? 0 : db_fail(st, "block list");
    stmt_done(s);
    return ret;
}

int vn_store_block_add(vn_store_t *st, const char *owner, const char *jid)
{
    GUARD(st);
    if (!jid) {
        vn_error("store %s: block add for %s without a JID", st->path, owner);
        return -1;
    }
    sqlite3_stmt *s = stmt_get(st, S_BLOCK_ADD);
    bind_text(s, 1, owner);
    bind_text(s, 2, jid);
    return stmt_exec(st, s, "block add");
}

int vn_store_block_remove(vn_store_t *st, const char *owner, const char *jid)
{
    GUARD(st);
    sqlite3_stmt *s = stmt_get(st, jid ? S_BLOCK_DEL : S_BLOCK_DEL_ALL);
    bind_text(s, 1, owner);
    if (jid) bind_text(s, 2, jid);
    return stmt_exec(st, s, "block remove");
}

/* ------------------------------------------------------------------------ */
/* Group commit                                                               */
/* ------------------------------------------------------------------------ */

int vn_store_group_begin(vn_store_t *st)
{
    GUARD(st);
    if (st->group) return -1;
    if (stmt_exec(st, stmt_get(st, S_BEGIN), "BEGIN group") != 0) return -1;
    st->group = 1;
    return 0;
}

int vn_store_group_commit(vn_store_t *st)
{
    GUARD(st);
    if (!st->group) return -1;
    st->group = 0;
    if (stmt_exec(st, stmt_get(st, S_COMMIT), "COMMIT group") == 0) return 0;
    if (!sqlite3_get_autocommit(st->db)) {
        sqlite3_stmt *s = stmt_get(st, S_ROLLBACK);
        sqlite3_step(s);
        stmt_done(s);
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* For the per-area files (sqlite_priv.h)                                     */
/* ------------------------------------------------------------------------ */

sqlite3_stmt *vn_sql_stmt(vn_store_t *st, const char *sql)
{
    size_t h = ((uintptr_t)sql >> 3) % SQL_CACHE_SLOTS;
    for (size_t i = 0; i < SQL_CACHE_SLOTS; i++, h = (h + 1) % SQL_CACHE_SLOTS) {
        if (st->cache[h].sql == sql) return st->cache[h].s;
        if (st->cache[h].sql) continue;
        sqlite3_stmt *s;
        if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
            vn_error("store %s: preparing \"%s\": %s", st->path, sql, sqlite3_errmsg(st->db));
            return NULL;
        }
        st->cache[h].sql = sql;
        st->cache[h].s = s;
        return s;
    }
    vn_error("store %s: statement cache full", st->path);
    return NULL;
}

void vn_sql_done(sqlite3_stmt *s)
{
    stmt_done(s);
}
int vn_sql_exec(vn_store_t *st, sqlite3_stmt *s, const char *what)
{
    return stmt_exec(st, s, what);
}
int vn_sql_bind_text(sqlite3_stmt *s, int idx, const char *v)
{
    return bind_text(s, idx, v);
}
int vn_sql_fail(vn_store_t *st, const char *what)
{
    return db_fail(st, what);
}
int vn_sql_tx_begin(vn_store_t *st)
{
    return tx_begin(st);
}
int vn_sql_tx_begin_read(vn_store_t *st)
{
    return tx_begin_read(st);
}
int vn_sql_tx_commit(vn_store_t *st)
{
    return tx_commit(st);
}
void vn_sql_tx_rollback(vn_store_t *st)
{
    tx_rollback(st);
}
int vn_sql_guard(vn_store_t *st, const char *fn)
{
    return st->in_callback ? reentry_fail(st, fn) : 0;
}
void vn_sql_callback_enter(vn_store_t *st)
{
    st->in_callback = 1;
}
void vn_sql_callback_leave(vn_store_t *st)
{
    st->in_callback = 0;
}
sqlite3 *vn_sql_db(vn_store_t *st)
{
    return st->db;
}

/* ------------------------------------------------------------------------ */
/* Test and benchmark hooks (store_internal.h)                                */
/* ------------------------------------------------------------------------ */

int vn_store_batch_begin(vn_store_t *st)
{
    GUARD(st);
    return tx_begin(st);
}

int vn_store_batch_commit(vn_store_t *st)
{
    GUARD(st);
    return tx_commit(st);
}

int vn_store_archive_plans(vn_store_t *st,
                           void (*cb)(const char *sql, const char *detail, void *ud), void *ud)
{
    GUARD(st);
    for (int i = S_ARC_FIRST; i <= S_MARC_POS; i++) {
        if (i > S_ARC_LAST && i < S_MARC_APPEND) continue;
        size_t n = strlen(k_sql[i]) + sizeof("EXPLAIN QUERY PLAN ");
        char *sql = vn_xmalloc(n);
        snprintf(sql, n, "EXPLAIN QUERY PLAN %s", k_sql[i]);
        sqlite3_stmt *s;
        int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
        free(sql);
        if (rc != SQLITE_OK) return db_fail(st, "explain");
        while ((rc = sqlite3_step(s)) == SQLITE_ROW)
            cb(k_sql[i], (const char *)sqlite3_column_text(s, 3), ud);
        int ret = rc == SQLITE_DONE ? 0 : db_fail(st, "explain");
        sqlite3_finalize(s);
        if (ret != 0) return -1;
    }
    return 0;
}

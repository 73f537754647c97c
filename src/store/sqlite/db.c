/* The SQLite backend: the connection, its statement cache and
 * transactions, and the backend's table (store/backend.h) that puts the
 * area files together.
 *
 * One connection per vn_store_t, used by one thread (SQLITE_OPEN_NOMUTEX).
 * Other processes (vestnikctl next to a running vestnikd) may open the same
 * file: WAL lets readers and one writer proceed together, busy_timeout makes a
 * writer wait for the other's write lock instead of failing, and every write
 * transaction starts with BEGIN IMMEDIATE so it takes the write lock up front
 * (a deferred transaction that upgrades from read to write can get
 * SQLITE_BUSY_SNAPSHOT, which busy_timeout does not retry).
 *
 * Every statement of every area is prepared once at open and kept in a
 * cache keyed by the address of its (static) SQL text. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/sqlite/sqlite.h"
#include "store/store_internal.h"

/* Room for every statement of every area (about a hundred today) at a low
 * load factor; the cache is an open-addressing table. */
#define SQL_CACHE_SLOTS 512

typedef struct vn_sqlite {
    vn_store_t super; /* first: the interface's handle */
    sqlite3 *db;
    char *path;
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
} vn_sqlite_t;

static vn_sqlite_t *sq(vn_store_t *st)
{
    return (vn_sqlite_t *)st;
}

/* Transaction control, through the cache like everything else. */
static const char k_begin[] = "BEGIN IMMEDIATE";
/* Read-only snapshot for calls that read several statements. */
static const char k_begin_read[] = "BEGIN DEFERRED";
static const char k_commit[] = "COMMIT";
static const char k_rollback[] = "ROLLBACK";
/* Inside a group transaction (vn_store_group_begin) each operation is a
 * savepoint: it can still fail alone, and the group commits once. */
static const char k_savepoint[] = "SAVEPOINT op";
static const char k_release[] = "RELEASE op";
static const char k_rollback_to[] = "ROLLBACK TO op";

static const char *const k_tx_sql[] = {
    k_begin, k_begin_read, k_commit, k_rollback, k_savepoint, k_release, k_rollback_to, NULL,
};

/* Every statement, prepared at open. */
static const char *const *const k_all_sql[] = {
    k_tx_sql,
    vn_sqlite_account_sql,
    vn_sqlite_roster_sql,
    vn_sqlite_offline_sql,
    vn_sqlite_archive_sql,
    vn_sqlite_prefs_sql,
    vn_sqlite_block_sql,
    vn_sqlite_profile_sql,
    vn_sqlite_pubsub_sql,
    vn_sqlite_muc_sql,
    vn_sqlite_activity_sql,
};

/* ------------------------------------------------------------------------ */
/* Helpers (sqlite.h)                                                         */
/* ------------------------------------------------------------------------ */

void vn_sqlite_set_err(char **err, const char *fmt, ...)
{
    if (!err) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    *err = vn_xstrdup(buf);
}

int vn_sql_fail(vn_store_t *st, const char *what)
{
    sqlite3 *db = sq(st)->db;
    int code = sqlite3_extended_errcode(db);
    /* Most foreign keys point at accounts (the others at rows written in
     * the same transaction, or at rooms and nodes), so this is almost
     * always a missing owner. */
    vn_error("store %s: %s: %s (code %d)%s", sq(st)->path, what, sqlite3_errmsg(db), code,
             code == SQLITE_CONSTRAINT_FOREIGNKEY ? "; the owner does not exist" : "");
    return -1;
}

int vn_sql_error(vn_store_t *st, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    vn_error("store %s: %s", sq(st)->path, buf);
    return -1;
}

int vn_sql_guard(vn_store_t *st, const char *fn)
{
    if (!sq(st)->in_callback) return 0;
    return vn_sql_error(st, "%s called from inside a store callback (not supported)", fn);
}

void vn_sql_callback_enter(vn_store_t *st)
{
    sq(st)->in_callback = 1;
}

void vn_sql_callback_leave(vn_store_t *st)
{
    sq(st)->in_callback = 0;
}

sqlite3 *vn_sql_db(vn_store_t *st)
{
    return sq(st)->db;
}

const char *vn_sql_path(vn_store_t *st)
{
    return sq(st)->path;
}

/* Looks sql up in the cache, preparing it into a free slot when missing. */
static sqlite3_stmt *cache_get(vn_sqlite_t *q, const char *sql, char **err)
{
    size_t h = ((uintptr_t)sql >> 3) % SQL_CACHE_SLOTS;
    for (size_t i = 0; i < SQL_CACHE_SLOTS; i++, h = (h + 1) % SQL_CACHE_SLOTS) {
        if (q->cache[h].sql == sql) return q->cache[h].s;
        if (q->cache[h].sql) continue;
        sqlite3_stmt *s;
        if (sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
            vn_sqlite_set_err(err, "%s: preparing \"%s\": %s", q->path, sql, sqlite3_errmsg(q->db));
            return NULL;
        }
        q->cache[h].sql = sql;
        q->cache[h].s = s;
        return s;
    }
    vn_sqlite_set_err(err, "%s: statement cache full", q->path);
    return NULL;
}

sqlite3_stmt *vn_sql_stmt(vn_store_t *st, const char *sql)
{
    char *err = NULL;
    sqlite3_stmt *s = cache_get(sq(st), sql, &err);
    if (!s) {
        vn_error("store %s", err);
        free(err);
    }
    return s;
}

/* Bindings are SQLITE_STATIC pointers into the caller's memory; clearing
 * them means a cached statement never holds a pointer past the call that
 * bound it. */
void vn_sql_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

int vn_sql_exec(vn_store_t *st, sqlite3_stmt *s, const char *what)
{
    if (!s) return -1;
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, what);
    vn_sql_done(s);
    return ret;
}

int vn_sql_step_one(vn_store_t *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) return 0;
    if (rc == SQLITE_DONE) return 1;
    return vn_sql_fail(st, what);
}

int vn_sql_bind_text(sqlite3_stmt *s, int idx, const char *v)
{
    if (!v) return sqlite3_bind_null(s, idx);
    return sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC);
}

static int run(vn_store_t *st, const char *sql, const char *what)
{
    return vn_sql_exec(st, vn_sql_stmt(st, sql), what);
}

int vn_sql_tx_begin(vn_store_t *st)
{
    if (sq(st)->group) return run(st, k_savepoint, "SAVEPOINT");
    return run(st, k_begin, "BEGIN");
}

int vn_sql_tx_begin_read(vn_store_t *st)
{
    if (sq(st)->group) return run(st, k_savepoint, "SAVEPOINT");
    return run(st, k_begin_read, "BEGIN");
}

/* Abandons the current transaction (or, in a group, the operation's
 * savepoint). Errors are logged but not returned: the caller is already on
 * an error (or "not found") path. */
void vn_sql_tx_rollback(vn_store_t *st)
{
    if (sqlite3_get_autocommit(sq(st)->db)) return; /* SQLite already rolled back */
    if (sq(st)->group) {
        run(st, k_rollback_to, "ROLLBACK TO");
        run(st, k_release, "RELEASE");
        return;
    }
    run(st, k_rollback, "ROLLBACK");
}

/* On failure the transaction is rolled back (if SQLite left it open). */
int vn_sql_tx_commit(vn_store_t *st)
{
    if (sq(st)->group) {
        if (run(st, k_release, "RELEASE") == 0) return 0;
        vn_sql_tx_rollback(st);
        return -1;
    }
    if (run(st, k_commit, "COMMIT") == 0) return 0;
    if (!sqlite3_get_autocommit(sq(st)->db)) run(st, k_rollback, "ROLLBACK");
    return -1;
}

/* Runs SQL text without parameters (pragmas). */
static int exec_sql(sqlite3 *db, const char *sql, char **err, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    vn_sqlite_set_err(err, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Open / close                                                               */
/* ------------------------------------------------------------------------ */

/* Creates data_dir (0700) when missing; warns when an existing one is readable
 * by others, since the database holds credentials. */
static int ensure_dir(const char *dir, char **err)
{
    if (mkdir(dir, 0700) == 0) return 0;
    if (errno != EEXIST) {
        vn_sqlite_set_err(err, "cannot create data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        vn_sqlite_set_err(err, "cannot stat data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        vn_sqlite_set_err(err, "data directory %s is not a directory", dir);
        return -1;
    }
    if (sb.st_mode & 0077)
        vn_warn("data directory %s is accessible by group/others (mode %04o); "
                "it holds account credentials, consider chmod 0700",
                dir, (unsigned)(sb.st_mode & 07777));
    return 0;
}

static void sqlite_close(vn_store_t *st)
{
    if (!st) return;
    vn_sqlite_t *q = sq(st);
    for (int i = 0; i < SQL_CACHE_SLOTS; i++)
        sqlite3_finalize(q->cache[i].s);
    if (q->db && sqlite3_close(q->db) != SQLITE_OK)
        vn_error("store %s: close: %s", q->path, sqlite3_errmsg(q->db));
    free(q->path);
    free(q);
}

/* Opens the store with the schema at version target. Statements are only
 * prepared for the full schema (they name the newest tables); a store opened
 * at an older version is only good for closing (test hook below). */
static vn_store_t *store_open(const char *data_dir, int target, char **err)
{
    if (err) *err = NULL;
    if (!data_dir || !*data_dir) {
        vn_sqlite_set_err(err, "no data directory given");
        return NULL;
    }
    if (ensure_dir(data_dir, err) != 0) return NULL;

    vn_sqlite_t *q = vn_xcalloc(1, sizeof(*q));
    q->super.be = &vn_store_backend_sqlite;
    size_t plen = strlen(data_dir) + sizeof("/vestnik.db");
    q->path = vn_xmalloc(plen);
    snprintf(q->path, plen, "%s/vestnik.db", data_dir);

    /* Create the file ourselves so it starts out 0600 whatever the umask;
     * SQLite gives the -wal and -shm files the main file's permissions. */
    int fd = open(q->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        vn_sqlite_set_err(err, "cannot open %s: %s", q->path, strerror(errno));
        goto fail;
    }
    close(fd);

    int rc = sqlite3_open_v2(
        q->path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        vn_sqlite_set_err(err, "cannot open %s: %s", q->path,
                          q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(q->db, 1);
    /* Another process holding the write lock makes us wait up to 5 s rather
     * than fail at once. Set first so the pragmas below wait too. */
    sqlite3_busy_timeout(q->db, 5000);

    /* Durability: in WAL mode a commit appends to the -wal file with write(2)
     * before sqlite3_step returns, so the data is in the kernel's page cache
     * and survives kill -9 of the process. synchronous=NORMAL skips the fsync
     * on every commit (it syncs at checkpoints), so only a power loss or
     * kernel crash can lose the last transactions; the database itself stays
     * consistent. Operators who need power-loss durability call
     * vn_store_set_synchronous_full(). */
    if (exec_sql(q->db, "PRAGMA foreign_keys = ON", err, q->path) != 0) goto fail;
    {
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(q->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK) {
            vn_sqlite_set_err(err, "%s: journal_mode: %s", q->path, sqlite3_errmsg(q->db));
            goto fail;
        }
        rc = sqlite3_step(s);
        const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
        if (!mode) {
            vn_sqlite_set_err(err, "%s: journal_mode: %s", q->path, sqlite3_errmsg(q->db));
            sqlite3_finalize(s);
            goto fail;
        }
        /* Rollback journal with synchronous=NORMAL is still kill -9 safe, so
         * a filesystem without WAL support (no shared memory) only costs
         * concurrency: warn, do not refuse. */
        if (sqlite3_stricmp(mode, "wal") != 0)
            vn_warn("store %s: WAL not available, journal mode is %s", q->path, mode);
        sqlite3_finalize(s);
    }
    if (exec_sql(q->db, "PRAGMA synchronous = NORMAL", err, q->path) != 0) goto fail;
    /* Reads through a memory map instead of a pread per page: every message
     * touches several index pages (archive, offline). The map is file-backed
     * (shared, reclaimable), unlike a larger private page cache. */
    if (exec_sql(q->db, "PRAGMA mmap_size = 1073741824", err, q->path) != 0) goto fail;
    if (exec_sql(q->db, "PRAGMA cache_size = -8192", err, q->path) != 0) goto fail;
    /* Checkpoints (the only fsyncs in WAL mode with synchronous=NORMAL) every
     * 64 MiB of WAL rather than 4 MiB: far fewer under a stream of messages. */
    if (exec_sql(q->db, "PRAGMA wal_autocheckpoint = 16384", err, q->path) != 0) goto fail;

    if (vn_sqlite_migrate(q->db, q->path, target, err) != 0) goto fail;
    if (target < vn_sqlite_schema_latest()) return &q->super;

    for (size_t l = 0; l < sizeof(k_all_sql) / sizeof(k_all_sql[0]); l++)
        for (const char *const *sql = k_all_sql[l]; *sql; sql++)
            if (!cache_get(q, *sql, err)) goto fail;
    return &q->super;

fail:
    sqlite_close(&q->super);
    return NULL;
}

static vn_store_t *sqlite_open(const vn_config_t *cfg, char **err)
{
    return store_open(cfg->data_dir, vn_sqlite_schema_latest(), err);
}

static int sqlite_schema_version(vn_store_t *st, int *version)
{
    if (vn_sqlite_user_version(sq(st)->db, version) != 0)
        return vn_sql_fail(st, "read schema version");
    return 0;
}

static int sqlite_set_synchronous_full(vn_store_t *st, int on)
{
    if (vn_sql_guard(st, __func__)) return -1;
    const char *sql = on ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
    if (sqlite3_exec(sq(st)->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return vn_sql_fail(st, "set synchronous");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Group commit                                                               */
/* ------------------------------------------------------------------------ */

static int sqlite_group_begin(vn_store_t *st)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (sq(st)->group) return vn_sql_error(st, "group commit: begin inside a group");
    if (run(st, k_begin, "BEGIN group") != 0) return -1;
    sq(st)->group = 1;
    return 0;
}

static int sqlite_group_commit(vn_store_t *st)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (!sq(st)->group) return vn_sql_error(st, "group commit: commit outside a group");
    sq(st)->group = 0;
    if (run(st, k_commit, "COMMIT group") == 0) return 0;
    if (!sqlite3_get_autocommit(sq(st)->db)) run(st, k_rollback, "ROLLBACK group");
    return -1;
}

const vn_store_backend_t vn_store_backend_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .set_synchronous_full = sqlite_set_synchronous_full,
    .group_begin = sqlite_group_begin,
    .group_commit = sqlite_group_commit,
    .account = &vn_sqlite_account_ops,
    .roster = &vn_sqlite_roster_ops,
    .offline = &vn_sqlite_offline_ops,
    .archive = &vn_sqlite_archive_ops,
    .prefs = &vn_sqlite_prefs_ops,
    .block = &vn_sqlite_block_ops,
    .profile = &vn_sqlite_profile_ops,
    .pubsub = &vn_sqlite_pubsub_ops,
    .muc = &vn_sqlite_muc_ops,
    .activity = &vn_sqlite_activity_ops,
};

/* ------------------------------------------------------------------------ */
/* Test and benchmark hooks (store_internal.h)                                */
/* ------------------------------------------------------------------------ */

int vn_store_create_at_version(const char *data_dir, int version, char **err)
{
    if (err) *err = NULL;
    int latest = vn_sqlite_schema_latest();
    if (version < 0 || version > latest) {
        vn_sqlite_set_err(err, "schema version %d out of range 0..%d", version, latest);
        return -1;
    }
    vn_store_t *st = store_open(data_dir, version, err);
    if (!st) return -1;
    sqlite_close(st);
    return 0;
}

int vn_store_schema_latest(void)
{
    return vn_sqlite_schema_latest();
}

/* The hooks below are SQLite's own: refuse another backend's store. */
static int is_sqlite(vn_store_t *st, const char *fn)
{
    if (st->be == &vn_store_backend_sqlite) return 1;
    vn_error("%s: not an SQLite store (%s)", fn, st->be->name);
    return 0;
}

int vn_store_batch_begin(vn_store_t *st)
{
    if (!is_sqlite(st, __func__) || vn_sql_guard(st, __func__)) return -1;
    return vn_sql_tx_begin(st);
}

int vn_store_batch_commit(vn_store_t *st)
{
    if (!is_sqlite(st, __func__) || vn_sql_guard(st, __func__)) return -1;
    return vn_sql_tx_commit(st);
}

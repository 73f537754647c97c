/* The SQLite backend's private interface: what its per-area files
 * (accounts.c, roster.c, offline.c, archive.c, prefs.c, blocklist.c,
 * profile.c, pubsub.c, muc.c, activity.c) share with db.c (the connection, statement
 * cache, transactions, error reporting) and schema.c (the migrations).
 * Private to src/store/sqlite.
 *
 * Each area file implements one table of store/backend.h with static
 * functions, exports it (vn_sqlite_<area>_ops), and lists its SQL in
 * vn_sqlite_<area>_sql so that db.c prepares every statement when the store
 * opens: SQL that does not match the schema stops the server at start, not
 * at first use.
 *
 * Pattern of a call:
 *
 *     if (vn_sql_guard(st, __func__)) return -1;
 *     sqlite3_stmt *s = vn_sql_stmt(st, k_sql_something);  // static SQL text
 *     if (!s) return -1;
 *     vn_sql_bind_text(s, 1, owner);
 *     return vn_sql_exec(st, s, "something");
 *
 * Several statements that must be atomic go between vn_sql_tx_begin() and
 * vn_sql_tx_commit() (a savepoint inside a group commit). Rows are read with
 * sqlite3_step() and the statement is released with vn_sql_done(). A caller's
 * callback runs between vn_sql_callback_enter/leave so that it cannot call
 * back into the store. Data is only ever bound as parameters. */
#ifndef VN_STORE_SQLITE_SQLITE_H
#define VN_STORE_SQLITE_SQLITE_H

#include <sqlite3.h>

#include "store/backend.h"

/* ---- the connection (db.c) ---- */

/* The prepared statement for a static SQL string (cached by the string's
 * address for the life of the store). NULL on error (logged). */
sqlite3_stmt *vn_sql_stmt(vn_store_t *st, const char *sql);
/* Resets a statement and clears its bindings (bindings are SQLITE_STATIC). */
void vn_sql_done(sqlite3_stmt *s);
/* Steps a statement that returns no rows, then vn_sql_done. 0 or -1 (logged). */
int vn_sql_exec(vn_store_t *st, sqlite3_stmt *s, const char *what);
/* Steps a statement that yields at most one row: 0 with the row current,
 * 1 no row, -1 (logged). The caller calls vn_sql_done in every case. */
int vn_sql_step_one(vn_store_t *st, sqlite3_stmt *s, const char *what);
/* Binds a string as SQLITE_STATIC (NULL binds NULL). */
int vn_sql_bind_text(sqlite3_stmt *s, int idx, const char *v);
/* Logs the connection's last error with what; returns -1. */
int vn_sql_fail(vn_store_t *st, const char *what);
/* Logs "store <path>: <message>" (a refused argument); returns -1. */
int vn_sql_error(vn_store_t *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vn_sql_tx_begin(vn_store_t *st);      /* write transaction (BEGIN IMMEDIATE) */
int vn_sql_tx_begin_read(vn_store_t *st); /* read snapshot */
int vn_sql_tx_commit(vn_store_t *st);     /* rolls back on failure */
void vn_sql_tx_rollback(vn_store_t *st);
/* -1 (logged) when called from inside a store callback, else 0. */
int vn_sql_guard(vn_store_t *st, const char *fn);
void vn_sql_callback_enter(vn_store_t *st);
void vn_sql_callback_leave(vn_store_t *st);
sqlite3 *vn_sql_db(vn_store_t *st);
/* The database file, for messages. */
const char *vn_sql_path(vn_store_t *st);

/* ---- the schema (schema.c) ---- */

/* Brings the schema of db (the file at path, for messages) up to version
 * target, one transaction per migration. 0, or -1 with a malloc'd *err
 * (also for a database newer than this build). */
int vn_sqlite_migrate(sqlite3 *db, const char *path, int target, char **err);
/* The schema version this build migrates to. */
int vn_sqlite_schema_latest(void);
/* PRAGMA user_version. 0 or -1. */
int vn_sqlite_user_version(sqlite3 *db, int *out);

/* Schema migrations kept by the area files, in the order schema.c applies
 * them. Each is SQL text for sqlite3_exec, run in one transaction. */
extern const char vn_store_schema_profile[];
extern const char vn_store_schema_pubsub[];
extern const char vn_store_schema_muc[];
extern const char vn_store_schema_pubsub_creator[];
extern const char vn_store_schema_muc_nicks[];
extern const char vn_store_schema_activity[];

/* ---- the areas ---- */

extern const vn_store_account_ops_t vn_sqlite_account_ops;
extern const vn_store_roster_ops_t vn_sqlite_roster_ops;
extern const vn_store_offline_ops_t vn_sqlite_offline_ops;
extern const vn_store_archive_ops_t vn_sqlite_archive_ops;
extern const vn_store_prefs_ops_t vn_sqlite_prefs_ops;
extern const vn_store_block_ops_t vn_sqlite_block_ops;
extern const vn_store_profile_ops_t vn_sqlite_profile_ops;
extern const vn_store_pubsub_ops_t vn_sqlite_pubsub_ops;
extern const vn_store_muc_ops_t vn_sqlite_muc_ops;
extern const vn_store_activity_ops_t vn_sqlite_activity_ops;

/* Their statements, each list NULL-terminated. */
extern const char *const vn_sqlite_account_sql[];
extern const char *const vn_sqlite_roster_sql[];
extern const char *const vn_sqlite_offline_sql[];
extern const char *vn_sqlite_archive_sql[];
extern const char *const vn_sqlite_prefs_sql[];
extern const char *const vn_sqlite_block_sql[];
extern const char *const vn_sqlite_profile_sql[];
extern const char *const vn_sqlite_pubsub_sql[];
extern const char *const vn_sqlite_muc_sql[];
extern const char *const vn_sqlite_activity_sql[];

/* The user archive's append and query (archive.c) on the room archive
 * table muc_archive, whose owner column is the room's bare JID (muc.c). */
int vn_sql_room_archive_append(vn_store_t *st, const char *room, const char *id, int64_t ts_us,
                               const char *with, const char *xml, size_t len);
int vn_sql_room_archive_query(vn_store_t *st, const char *room, const vn_archive_query_t *q,
                              void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                              vn_archive_page_t *page);

/* *err = a malloc'd message (nothing when err is NULL), for open and
 * migration failures. */
void vn_sqlite_set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

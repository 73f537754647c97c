/* What the SQLite backend's per-area files (store_profile.c,
 * store_pubsub.c, store_muc.c...) share with store_sqlite.c: statement
 * cache, transactions and error reporting. Private to src/store.
 *
 * Pattern of a call (see store_sqlite.c for the conventions it follows):
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
 * back into the store. */
#ifndef VN_STORE_SQLITE_PRIV_H
#define VN_STORE_SQLITE_PRIV_H

#include <sqlite3.h>

#include "store/store.h"

/* The prepared statement for a static SQL string (cached by the string's
 * address for the life of the store). NULL on error (logged). */
sqlite3_stmt *vn_sql_stmt(vn_store_t *st, const char *sql);
/* Resets a statement and clears its bindings (bindings are SQLITE_STATIC). */
void vn_sql_done(sqlite3_stmt *s);
/* Steps a statement that returns no rows, then vn_sql_done. 0 or -1 (logged). */
int vn_sql_exec(vn_store_t *st, sqlite3_stmt *s, const char *what);
/* Binds a string as SQLITE_STATIC (NULL binds NULL). */
int vn_sql_bind_text(sqlite3_stmt *s, int idx, const char *v);
/* Logs the connection's last error with what; returns -1. */
int vn_sql_fail(vn_store_t *st, const char *what);
int vn_sql_tx_begin(vn_store_t *st);      /* write transaction (BEGIN IMMEDIATE) */
int vn_sql_tx_begin_read(vn_store_t *st); /* read snapshot */
int vn_sql_tx_commit(vn_store_t *st);     /* rolls back on failure */
void vn_sql_tx_rollback(vn_store_t *st);
/* -1 (logged) when called from inside a store callback, else 0. */
int vn_sql_guard(vn_store_t *st, const char *fn);
void vn_sql_callback_enter(vn_store_t *st);
void vn_sql_callback_leave(vn_store_t *st);
sqlite3 *vn_sql_db(vn_store_t *st);

/* The user archive's append and query (store.h) on the room archive table
 * muc_archive, whose owner column is the room's bare JID (store_muc.c). */
int vn_sql_room_archive_append(vn_store_t *st, const char *room, const char *id, int64_t ts_us,
                               const char *with, const char *xml, size_t len);
int vn_sql_room_archive_query(vn_store_t *st, const char *room, const vn_archive_query_t *q,
                              void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                              vn_archive_page_t *page);

/* Schema migrations of the areas, in the order store_sqlite.c applies them.
 * Each is SQL text for sqlite3_exec, run in one transaction. */
extern const char vn_store_schema_profile[];
extern const char vn_store_schema_pubsub[];
extern const char vn_store_schema_muc[];
extern const char vn_store_schema_pubsub_creator[];
extern const char vn_store_schema_muc_nicks[];
extern const char vn_store_schema_activity[];

#endif

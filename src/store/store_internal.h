/* Hooks into the SQLite backend (store/sqlite/) for tests and benchmarks
 * only.
 *
 * Not part of the storage interface (store.h): the server and vestnikctl must
 * not use them, and another backend need not provide them (the calls that
 * take a store refuse one of another backend with -1). */
#ifndef VN_STORE_STORE_INTERNAL_H
#define VN_STORE_STORE_INTERNAL_H

#include "store/store.h"

/* Creates (or opens) the database under data_dir and applies only the first
 * `version` schema migrations, then closes it: a test builds an old database
 * this way and checks that vn_store_open upgrades it in place. A database
 * already past `version` is left as it is. 0 or -1 with a malloc'd *err. */
int vn_store_create_at_version(const char *data_dir, int version, char **err);
/* The schema version this build migrates to. */
int vn_store_schema_latest(void);

/* Groups the following vn_store_archive_append calls into one transaction
 * (bulk loading in benchmarks; one commit instead of one per row). Only
 * single-statement writes may run inside; a call that opens its own
 * transaction fails. 0 or -1. */
int vn_store_batch_begin(vn_store_t *st);
int vn_store_batch_commit(vn_store_t *st);

/* Calls cb with every line of EXPLAIN QUERY PLAN of every archive statement,
 * so a test can check that none of them scans a table or sorts. */
int vn_store_archive_plans(vn_store_t *st,
                           void (*cb)(const char *sql, const char *detail, void *ud), void *ud);

#endif

/* Storage of last activity (XEP-0012 §4): when an account's last available
 * resource went offline, and the status text it left with. Schema
 * migration 8 of the SQLite backend (vn_store_schema_activity).
 *
 * Same conventions as store.h (return codes, threads, durability);
 * returned strings are malloc'd and the caller frees them. */
#ifndef VN_STORE_STORE_ACTIVITY_H
#define VN_STORE_STORE_ACTIVITY_H

#include <stdint.h>

#include "store/store.h"

/* Records that owner went offline at ts (seconds since the epoch) with
 * status (NULL: none). 0, or -1 (also when owner is not an account). */
int vn_store_last_set(vn_store_t *st, const char *owner, int64_t ts, const char *status);
/* 0 with *ts and *status (malloc'd, "" for none) set, VN_STORE_NOT_FOUND
 * (1) when nothing was recorded for owner (it never went offline since
 * this was kept; *status NULL), -1 on error. */
int vn_store_last_get(vn_store_t *st, const char *owner, int64_t *ts, char **status);

#endif

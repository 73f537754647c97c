/* SQLite storage for publish-subscribe (XEP-0060) nodes, items and subscriptions, for PEP (XEP-0163) and the pubsub service. */
#include <string.h>

#include "store/sqlite_priv.h"

/* Schema migration (see k_migrations in store_sqlite.c). */
const char vn_store_schema_pubsub[] = "SELECT 1;";

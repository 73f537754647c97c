/* SQLite storage for multi-user chat (XEP-0045): persistent rooms, affiliations and room archives. */
#include <string.h>

#include "store/sqlite_priv.h"

/* Schema migration (see k_migrations in store_sqlite.c). */
const char vn_store_schema_muc[] = "SELECT 1;";

/* SQLite storage for vcard-temp (XEP-0054) and private XML storage (XEP-0049). */
#include <string.h>

#include "store/sqlite_priv.h"

/* Schema migration (see k_migrations in store_sqlite.c). */
const char vn_store_schema_profile[] = "SELECT 1;";

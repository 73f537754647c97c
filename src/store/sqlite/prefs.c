/* SQLite storage of archiving preferences (XEP-0313 §7 / XEP-0441, store.h,
 * schema migration 2): one row per account, the JID lists kept whole as the
 * interface hands them over (never searched by the store). */
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "store/sqlite/sqlite.h"

static const char k_get[] =
    "SELECT default_mode, always, never FROM archive_prefs WHERE owner = ?1";
static const char k_set[] =
    "INSERT INTO archive_prefs (owner, default_mode, always, never) "
    "VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (owner) DO UPDATE SET default_mode = excluded.default_mode, "
    "always = excluded.always, never = excluded.never";

const char *const vn_sqlite_prefs_sql[] = {k_get, k_set, NULL};

static int valid_mode(const char *m)
{
    return !strcmp(m, "always") || !strcmp(m, "never") || !strcmp(m, "roster");
}

static int prefs_get(vn_store_t *st, const char *owner, vn_archive_prefs_t *out)
{
    /* Defined contents on every return: empty mode and NULL lists unless
     * found, so freeing always/never is always safe. */
    memset(out, 0, sizeof(*out));
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_get);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    int r = vn_sql_step_one(st, s, "archive prefs get");
    if (r == 0) {
        const char *mode = (const char *)sqlite3_column_text(s, 0);
        const char *always = (const char *)sqlite3_column_text(s, 1);
        const char *never = (const char *)sqlite3_column_text(s, 2);
        snprintf(out->default_mode, sizeof(out->default_mode), "%s", mode ? mode : "");
        out->always = vn_xstrdup(always ? always : "");
        out->never = vn_xstrdup(never ? never : "");
    }
    vn_sql_done(s);
    return r;
}

static int prefs_set(vn_store_t *st, const char *owner, const vn_archive_prefs_t *p)
{
    if (vn_sql_guard(st, __func__)) return -1;
    /* default_mode is a fixed char array: refuse one without a terminator
     * or outside the three XEP-0313 values (the CHECK would too, less
     * clearly). */
    if (!memchr(p->default_mode, '\0', sizeof(p->default_mode)) || !valid_mode(p->default_mode))
        return vn_sql_error(st, "archive prefs for %s: bad default mode", owner);
    sqlite3_stmt *s = vn_sql_stmt(st, k_set);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, owner);
    vn_sql_bind_text(s, 2, p->default_mode);
    vn_sql_bind_text(s, 3, p->always ? p->always : "");
    vn_sql_bind_text(s, 4, p->never ? p->never : "");
    return vn_sql_exec(st, s, "archive prefs set");
}

const vn_store_prefs_ops_t vn_sqlite_prefs_ops = {
    .get = prefs_get,
    .set = prefs_set,
};

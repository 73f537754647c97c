/* SQLite storage for multi-user chat (XEP-0045): persistent rooms,
 * affiliations and room archives (store_muc.h). */
#include <string.h>

#include "store/sqlite/sqlite.h"

/* Schema migration 5 (see k_migrations in schema.c).
 *
 * muc_rooms: one row per persistent room; service + jid serves disco#items
 * of a service (public rooms first by the (service, is_public, jid) index).
 * muc_affiliations: rooms own them; a local account's affiliations go with
 * the account (trigger, since jid may also be a remote JID, so no foreign
 * key). muc_archive: the user archive's layout, invariants and indexes
 * (migration 2 in schema.c; archive.c shares its statements), owned by
 * the room. */
const char vn_store_schema_muc[] =
    "CREATE TABLE muc_rooms ("
    "  jid TEXT PRIMARY KEY NOT NULL,"
    "  service TEXT NOT NULL,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  is_public INTEGER NOT NULL DEFAULT 1,"
    "  config TEXT NOT NULL DEFAULT '',"
    "  subject TEXT NOT NULL DEFAULT '',"
    "  subject_by TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX muc_rooms_service ON muc_rooms (service, is_public, jid);"
    "CREATE TABLE muc_affiliations ("
    "  room TEXT NOT NULL REFERENCES muc_rooms (jid) ON DELETE CASCADE,"
    "  jid TEXT NOT NULL,"
    "  affiliation TEXT NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY (room, jid)"
    ") WITHOUT ROWID;"
    "CREATE INDEX muc_affiliations_jid ON muc_affiliations (jid);"
    "CREATE TRIGGER muc_affiliations_account_gone AFTER DELETE ON accounts BEGIN"
    "  DELETE FROM muc_affiliations WHERE jid = old.jid;"
    "END;"
    "CREATE TABLE muc_archive ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  owner TEXT NOT NULL REFERENCES muc_rooms (jid) ON DELETE CASCADE,"
    "  id TEXT NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  with_jid TEXT NOT NULL,"
    "  pos INTEGER NOT NULL,"
    "  with_pos INTEGER NOT NULL,"
    "  stanza TEXT NOT NULL,"
    "  UNIQUE (owner, id)"
    ");"
    "CREATE INDEX muc_archive_owner ON muc_archive (owner);"
    "CREATE INDEX muc_archive_with ON muc_archive (owner, with_jid);"
    "CREATE INDEX muc_archive_ts ON muc_archive (owner, ts);";

/* Schema migration 7: a nick reserved by registering with a room
 * (XEP-0045 §7.10) belongs to the JID's affiliation row and goes with it;
 * one JID per nick in a room. */
const char vn_store_schema_muc_nicks[] =
    "ALTER TABLE muc_affiliations ADD COLUMN nick TEXT NOT NULL DEFAULT '';"
    "CREATE UNIQUE INDEX muc_affiliations_nick ON muc_affiliations (room, nick) "
    "WHERE nick <> '';";

static const char k_room_put[] =
    "INSERT INTO muc_rooms (jid, service, name, is_public, config, subject, subject_by) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
    "ON CONFLICT (jid) DO UPDATE SET service = excluded.service, name = excluded.name, "
    "is_public = excluded.is_public, config = excluded.config, subject = excluded.subject, "
    "subject_by = excluded.subject_by";
static const char k_room_get[] =
    "SELECT jid, name, is_public, config, subject, subject_by FROM muc_rooms WHERE jid = ?1";
static const char k_room_affs[] =
    "SELECT jid, affiliation, reason FROM muc_affiliations WHERE room = ?1 ORDER BY jid";
static const char k_room_delete[] = "DELETE FROM muc_rooms WHERE jid = ?1";
static const char k_room_list[] =
    "SELECT jid, name, is_public, config, subject, subject_by FROM muc_rooms "
    "WHERE service = ?1 AND (?2 = 0 OR is_public = 1) ORDER BY jid LIMIT ?3";
static const char k_aff_put[] =
    "INSERT INTO muc_affiliations (room, jid, affiliation, reason) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (room, jid) DO UPDATE SET affiliation = excluded.affiliation, "
    "reason = excluded.reason, "
    "nick = CASE WHEN excluded.affiliation = 'outcast' THEN '' ELSE muc_affiliations.nick END";
static const char k_nick_set[] =
    "UPDATE muc_affiliations SET nick = ?3 WHERE room = ?1 AND jid = ?2";
static const char k_nicks[] =
    "SELECT jid, nick FROM muc_affiliations WHERE room = ?1 AND nick <> '' ORDER BY jid";
static const char k_owned_count[] =
    "SELECT COUNT(*) FROM muc_affiliations WHERE jid = ?1 AND affiliation = 'owner'";
static const char k_aff_del[] = "DELETE FROM muc_affiliations WHERE room = ?1 AND jid = ?2";

const char *const vn_sqlite_muc_sql[] = {
    k_room_put, k_room_get, k_room_affs,   k_room_delete, k_room_list, k_aff_put,
    k_nick_set, k_nicks,    k_owned_count, k_aff_del,     NULL,
};

static const char *col(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? t : "";
}

static void read_row(sqlite3_stmt *s, vn_muc_room_row_t *row)
{
    row->jid = col(s, 0);
    row->name = col(s, 1);
    row->is_public = sqlite3_column_int(s, 2);
    row->config = col(s, 3);
    row->subject = col(s, 4);
    row->subject_by = col(s, 5);
}

static int room_put(vn_store_t *st, const char *service, const vn_muc_room_row_t *row)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (!service || !row || !row->jid) return vn_sql_error(st, "muc room put without a JID");
    sqlite3_stmt *s = vn_sql_stmt(st, k_room_put);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, row->jid);
    vn_sql_bind_text(s, 2, service);
    vn_sql_bind_text(s, 3, row->name ? row->name : "");
    sqlite3_bind_int(s, 4, row->is_public ? 1 : 0);
    vn_sql_bind_text(s, 5, row->config ? row->config : "");
    vn_sql_bind_text(s, 6, row->subject ? row->subject : "");
    vn_sql_bind_text(s, 7, row->subject_by ? row->subject_by : "");
    return vn_sql_exec(st, s, "muc room put");
}

static int
room_load(vn_store_t *st, const char *room, void (*room_cb)(const vn_muc_room_row_t *row, void *ud),
          void (*aff_cb)(const char *jid, const char *affiliation, const char *reason, void *ud),
          void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (vn_sql_tx_begin_read(st) != 0) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_room_get);
    if (!s) goto fail;
    vn_sql_bind_text(s, 1, room);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        vn_sql_done(s);
        if (rc != SQLITE_DONE) {
            vn_sql_fail(st, "muc room load");
            goto fail;
        }
        vn_sql_tx_rollback(st);
        return 1;
    }
    vn_muc_room_row_t row;
    read_row(s, &row);
    vn_sql_callback_enter(st);
    if (room_cb) room_cb(&row, ud);
    vn_sql_callback_leave(st);
    vn_sql_done(s);
    s = vn_sql_stmt(st, k_room_affs);
    if (!s) goto fail;
    vn_sql_bind_text(s, 1, room);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        vn_sql_callback_enter(st);
        if (aff_cb) aff_cb(col(s, 0), col(s, 1), col(s, 2), ud);
        vn_sql_callback_leave(st);
    }
    vn_sql_done(s);
    if (rc != SQLITE_DONE) {
        vn_sql_fail(st, "muc affiliations load");
        goto fail;
    }
    return vn_sql_tx_commit(st) == 0 ? 0 : -1;
fail:
    vn_sql_tx_rollback(st);
    return -1;
}

static int room_delete(vn_store_t *st, const char *room)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_room_delete);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, room);
    if (vn_sql_exec(st, s, "muc room delete") != 0) return -1;
    return sqlite3_changes(vn_sql_db(st)) > 0 ? 0 : 1;
}

static int room_list(vn_store_t *st, const char *service, int public_only, int limit,
                     void (*cb)(const vn_muc_room_row_t *row, void *ud), void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_room_list);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, service);
    sqlite3_bind_int(s, 2, public_only ? 1 : 0);
    sqlite3_bind_int64(s, 3, limit > 0 ? limit : -1);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        vn_muc_room_row_t row;
        read_row(s, &row);
        vn_sql_callback_enter(st);
        cb(&row, ud);
        vn_sql_callback_leave(st);
    }
    int ret = rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "muc room list");
    vn_sql_done(s);
    return ret;
}

static int aff_set(vn_store_t *st, const char *room, const char *jid, const char *affiliation,
                   const char *reason)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (!room || !jid || !affiliation)
        return vn_sql_error(st, "muc affiliation set with a missing field");
    int none = !strcmp(affiliation, "none");
    sqlite3_stmt *s = vn_sql_stmt(st, none ? k_aff_del : k_aff_put);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, room);
    vn_sql_bind_text(s, 2, jid);
    if (!none) {
        vn_sql_bind_text(s, 3, affiliation);
        vn_sql_bind_text(s, 4, reason ? reason : "");
    }
    return vn_sql_exec(st, s, "muc affiliation set");
}

static int nick_set(vn_store_t *st, const char *room, const char *jid, const char *nick)
{
    if (vn_sql_guard(st, __func__)) return -1;
    if (!room || !jid) return vn_sql_error(st, "muc nick set with a missing field");
    sqlite3_stmt *s = vn_sql_stmt(st, k_nick_set);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, room);
    vn_sql_bind_text(s, 2, jid);
    vn_sql_bind_text(s, 3, nick ? nick : "");
    if (vn_sql_exec(st, s, "muc nick set") != 0) return -1;
    return sqlite3_changes(vn_sql_db(st)) > 0 ? 0 : 1;
}

static int nicks(vn_store_t *st, const char *room,
                 void (*cb)(const char *jid, const char *nick, void *ud), void *ud)
{
    if (vn_sql_guard(st, __func__)) return -1;
    sqlite3_stmt *s = vn_sql_stmt(st, k_nicks);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, room);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        vn_sql_callback_enter(st);
        cb(col(s, 0), col(s, 1), ud);
        vn_sql_callback_leave(st);
    }
    vn_sql_done(s);
    return rc == SQLITE_DONE ? 0 : vn_sql_fail(st, "muc nicks");
}

static int owned_count(vn_store_t *st, const char *jid, int *count)
{
    if (vn_sql_guard(st, __func__)) return -1;
    *count = 0;
    sqlite3_stmt *s = vn_sql_stmt(st, k_owned_count);
    if (!s) return -1;
    vn_sql_bind_text(s, 1, jid);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *count = sqlite3_column_int(s, 0);
    int ret = rc == SQLITE_ROW ? 0 : vn_sql_fail(st, "muc owned count");
    vn_sql_done(s);
    return ret;
}

const vn_store_muc_ops_t vn_sqlite_muc_ops = {
    .room_put = room_put,
    .room_load = room_load,
    .room_delete = room_delete,
    .room_list = room_list,
    .aff_set = aff_set,
    .nick_set = nick_set,
    .nicks = nicks,
    .owned_count = owned_count,
    .archive_append = vn_sql_room_archive_append,
    .archive_query = vn_sql_room_archive_query,
};

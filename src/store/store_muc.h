/* Storage for multi-user chat (XEP-0045): persistent rooms, their
 * affiliations, and room archives (XEP-0313 on the room's JID).
 *
 * Same conventions as store.h: strings are normalised by the caller; return
 * codes, threads and callbacks as written there. The room configuration is an opaque
 * text the MUC module writes and reads back; store knows no XMPP.
 *
 * Rows: a room row (muc_rooms) owns its affiliations and its archive
 * (deleting the room deletes both). An affiliation of a local account goes
 * when the account is deleted. */
#ifndef VN_STORE_STORE_MUC_H
#define VN_STORE_STORE_MUC_H

#include "store/store.h"

typedef struct vn_muc_room_row {
    const char *jid;     /* room bare JID */
    const char *name;    /* human-readable name, "" when unset */
    int is_public;       /* listed in the service's disco#items */
    const char *config;  /* opaque */
    const char *subject; /* "" when none */
    const char *subject_by;
} vn_muc_room_row_t;

/* Inserts or replaces the room row (affiliations and archive stay). 0 or
 * -1. */
int vn_store_muc_room_put(vn_store_t *st, const char *service, const vn_muc_room_row_t *row);
/* Calls room_cb once with the row, then aff_cb for each affiliation
 * (sorted by JID); either may be NULL. 0 found, 1 no such room, -1 error. */
int vn_store_muc_room_load(vn_store_t *st, const char *room,
                           void (*room_cb)(const vn_muc_room_row_t *row, void *ud),
                           void (*aff_cb)(const char *jid, const char *affiliation,
                                          const char *reason, void *ud),
                           void *ud);
/* Deletes the room with its affiliations and archive. 0, 1 no such room,
 * -1. */
int vn_store_muc_room_delete(vn_store_t *st, const char *room);
/* Calls cb for each room of the service (sorted by JID); public_only skips
 * hidden rooms. At most limit rooms (0: no limit). 0 or -1. */
int vn_store_muc_room_list(vn_store_t *st, const char *service, int public_only, int limit,
                           void (*cb)(const vn_muc_room_row_t *row, void *ud), void *ud);

/* Sets a JID's affiliation with a stored room ("owner", "admin", "member",
 * "outcast"); "none" removes it (none to remove is 0). 0 or -1 (also for
 * an unknown room or affiliation). */
int vn_store_muc_aff_set(vn_store_t *st, const char *room, const char *jid, const char *affiliation,
                         const char *reason);

/* The nick jid reserved in a stored room by registering (XEP-0045 §7.10);
 * nick "" or NULL removes it. It lives on jid's affiliation row: set the
 * affiliation first (an affiliation set to "none" or "outcast" drops the
 * nick). 0, 1 when jid has no affiliation there, -1 on error (also when
 * another JID holds the nick in that room). */
int vn_store_muc_nick_set(vn_store_t *st, const char *room, const char *jid, const char *nick);
/* Calls cb for each reserved nick of a room (sorted by JID). 0 or -1. */
int vn_store_muc_nicks(vn_store_t *st, const char *room,
                       void (*cb)(const char *jid, const char *nick, void *ud), void *ud);

/* How many stored rooms have jid (a bare JID) as an owner (the room quota
 * per user). 0 or -1. */
int vn_store_muc_owned_count(vn_store_t *st, const char *jid, int *count);

/* The room archive: vn_store_archive_append / _query semantics (and cost
 * bounds, return codes) with the room's bare JID as owner; the room must be
 * stored. */
int vn_store_muc_archive_append(vn_store_t *st, const char *room, const char *id, int64_t ts_us,
                                const char *with, const char *xml, size_t len);
int vn_store_muc_archive_query(vn_store_t *st, const char *room, const vn_archive_query_t *q,
                               void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                               vn_archive_page_t *page);

#endif

/* Room archives (XEP-0313 §5 "MUC archives" on the room's bare JID): the
 * groupchat messages of a persistent room with logging on, stored by the
 * same statements as user archives (store_muc.h) and queried with the
 * same parser, paging and result code (mod/mam_query.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mod/mam_query.h"
#include "mod/muc/muc.h"
#include "store/store_muc.h"
#include "xmpp/router.h"

void muc_archive_append(muc_room_t *r, const char *id, int64_t ts_us, const char *with,
                        const char *xml, size_t len)
{
    /* The room row must be written first: muc_room_save() submitted it when
     * the room became persistent, as an ordered job of the room, like this
     * append (mam_query.h). */
    vn_mam_submit_append(r->svc->srv, vn_store_muc_archive_append, r->jid, with, id, ts_us,
                         vn_xstrndup(xml, len), len);
}

void muc_on_mam_iq(muc_room_t *r, vn_stanza_t *st)
{
    vn_xnode_t *payload = vn_xnode_first_element(st->node);
    if (strcmp(payload->name, "query") != 0) {
        muc_error(st, "cancel", "feature-not-implemented", "room archives have no preferences");
        return;
    }
    if (!muc_room_archiving(r)) {
        muc_error(st, "cancel", "item-not-found", "this room keeps no archive");
        return;
    }
    /* Who may read: occupants, and in members-only rooms members (who may
     * come back for what they missed); never outcasts; in open rooms
     * anyone, as anyone could have joined and read along. */
    char *bare = vn_jid_bare_str(&(vn_jid_t){st->from.local, st->from.domain, NULL}, st->arena);
    muc_aff_t aff = muc_aff_of(r, bare);
    int occupant = muc_occ_by_jid(r, &st->from) != NULL;
    if (aff == AFF_OUTCAST || (r->cfg.members_only && aff < AFF_MEMBER && !occupant) ||
        (r->cfg.password_protected && !occupant && aff < AFF_MEMBER)) {
        muc_error(st, "auth", "forbidden", "only occupants and members may read this archive");
        return;
    }
    if (!strcmp(st->type, "get")) {
        vn_mam_query_form(r->svc->srv, st);
        return;
    }
    vn_session_t *s = st->origin ? st->origin : vn_router_session(r->svc->srv, &st->from);
    if (!s) return;
    vn_mam_query_start_room(r->svc->srv, st, s, r->jid, vn_store_muc_archive_query);
}

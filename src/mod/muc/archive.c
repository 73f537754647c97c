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

typedef struct append_job {
    vn_work_t work;
    char *room, *with, *xml;
    size_t len;
    char id[VN_MAM_ID_LEN + 1];
    int64_t ts;
    int rc;
} append_job_t;

static void append_work(vn_work_t *w)
{
    append_job_t *j = (append_job_t *)w;
    j->rc =
        vn_store_muc_archive_append(vn_store_of(w), j->room, j->id, j->ts, j->with, j->xml, j->len);
}

static void append_done(vn_work_t *w)
{
    append_job_t *j = (append_job_t *)w;
    if (j->rc < 0) vn_debug("muc: message %s not archived in %s", j->id, j->room);
    free(j->room);
    free(j->with);
    free(j->xml);
    free(j);
}

void muc_archive_append(muc_room_t *r, const char *id, int64_t ts_us, const char *with,
                        const char *xml, size_t len)
{
    /* The room row must be written first; muc_room_save() queued it when
     * the room became persistent, and the storage thread is FIFO. */
    append_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->room = vn_xstrdup(r->jid);
    j->with = vn_xstrdup(with);
    j->xml = vn_xstrndup(xml, len);
    j->len = len;
    snprintf(j->id, sizeof(j->id), "%s", id);
    j->ts = ts_us;
    vn_store_submit(r->svc->srv, &j->work, append_work, append_done);
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
    vn_mam_query_start(r->svc->srv, st, s, r->jid, vn_store_muc_archive_query);
}

/* Messages in a room (XEP-0045 §7.4 groupchat, §7.5 private messages,
 * §8.1 subject, §7.8 mediated invitations and declines) and IQs addressed
 * to occupants (§7.9 relaying, XEP-0410 self-ping).
 *
 * A groupchat message gets a XEP-0359 <stanza-id by='room'/>, goes into
 * the history and, when the room is archived, into the room archive: the
 * append is submitted to the storage thread before the broadcast, while the
 * sender's stanza is being handled, so a XEP-0198 acknowledgement (which
 * waits for a barrier queued behind it, mod/sm.c) means it is stored. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mod/mam_query.h"
#include "mod/muc/muc.h"
#include "xmpp/router.h"

#define NS_HINTS "urn:xmpp:hints"

static int is_el(const vn_xnode_t *c, const char *ns, const char *name)
{
    return c->name && c->ns && !strcmp(c->ns, ns) && !strcmp(c->name, name);
}

/* The payload a room passes on: everything but forged ids and delays
 * claiming to be the room's, and the sender's MUC elements. */
static void copy_payload(vn_stanza_t *dst, const vn_stanza_t *src)
{
    for (vn_xnode_t *c = src->node->children; c; c = c->next) {
        if (!c->name) continue;
        if (is_el(c, VN_NS_SID, "stanza-id") || is_el(c, NS_DELAY, "delay")) continue;
        if (c->ns && !strcmp(c->ns, NS_MUC_USER)) continue;
        vn_xnode_append(dst->node, vn_xnode_copy(dst->arena, c));
    }
}

static void groupchat(muc_room_t *r, muc_occ_t *o, vn_stanza_t *st)
{
    vn_xnode_t *subject = vn_xnode_child(st->node, VN_NS_CLIENT, "subject");
    vn_xnode_t *body = vn_xnode_child(st->node, VN_NS_CLIENT, "body");
    vn_xnode_t *thread = vn_xnode_child(st->node, VN_NS_CLIENT, "thread");
    if (o->role < ROLE_PARTICIPANT) { /* §7.4: visitors have no voice */
        muc_error(st, "auth", "forbidden", "you have no voice in this room");
        return;
    }
    char *subj = NULL;
    /* §8.1: only a subject without a body and without a thread changes the
     * subject; with either it is an ordinary message that happens to carry
     * a subject line (extension elements such as XEP-0359 origin-id do not
     * count: clients add them to subject changes too). */
    if (subject && !body && !thread) {
        if (o->role != ROLE_MODERATOR && !r->cfg.change_subject) {
            muc_error(st, "auth", "forbidden", "you may not change the subject");
            return;
        }
        subj = vn_xnode_text(st->arena, subject);
        if (strlen(subj) > MUC_SUBJECT_MAX) {
            muc_error(st, "modify", "not-acceptable", "subject too long");
            return;
        }
    }
    vn_stanza_t *out = muc_stanza_new("message", r, o->nick);
    vn_arena_t *a = out->arena;
    vn_xnode_set_attr(a, out->node, "type", "groupchat");
    out->type = "groupchat";
    const char *id = vn_xnode_attr(st->node, "id");
    if (id) vn_xnode_set_attr(a, out->node, "id", vn_arena_strdup(a, id));
    copy_payload(out, st);
    if (subj) {
        free(r->subject);
        free(r->subject_by);
        r->subject = vn_xstrdup(subj);
        r->subject_by = vn_xstrdup(o->nick);
        if (r->stored) muc_room_save(r);
    }
    int store = body && !vn_xnode_child(st->node, NS_HINTS, "no-store") &&
                !vn_xnode_child(st->node, NS_HINTS, "no-permanent-store");
    if (store) {
        /* XEP-0359 / XEP-0313 §3.5 on room archives. */
        char sid[VN_MAM_ID_LEN + 1];
        vn_mam_new_id(sid);
        vn_xnode_t *s = vn_xnode_add(a, out->node, VN_NS_SID, "stanza-id");
        vn_xnode_set_attr(a, s, "by", r->jid);
        vn_xnode_set_attr(a, s, "id", vn_arena_strdup(a, sid));
        /* History and archive keep it without 'to', standalone. */
        vn_xnode_set_attr(a, out->node, "to", NULL);
        vn_buf_t xml = VN_BUF_INIT;
        vn_xnode_serialize(out->node, NULL, &xml);
        vn_xnode_set_attr(a, out->node, "to", MUC_TO_PLACEHOLDER);
        int64_t now = vn_mam_now_us();
        /* 'with' is the occupant JID, never the real one: a filter must
         * not tell who is behind a nick in a semi-anonymous room. */
        if (muc_room_archiving(r))
            muc_archive_append(r, sid, now, vn_arena_printf(a, "%s/%s", r->jid, o->nick), xml.data,
                               xml.len);
        muc_hist_add(r, now, xml.data, xml.len);
        vn_buf_free(&xml);
    }
    /* Reflected to everyone, the sender included (§7.4). */
    muc_broadcast(r, out, NULL, NULL);
}

/* §7.5: a private message to room/nick, passed on as from room/sender. */
static void private_message(muc_room_t *r, muc_occ_t *o, vn_stanza_t *st)
{
    if (!r->cfg.allow_pm || (r->cfg.allow_pm == 2 && o->role != ROLE_MODERATOR)) {
        muc_error(st, "cancel", "not-allowed", "private messages are not allowed in this room");
        return;
    }
    muc_occ_t *to = vn_map_get(r->by_nick, st->to.resource);
    if (!to) {
        muc_error(st, "cancel", "item-not-found", "no such occupant");
        return;
    }
    vn_stanza_t *out = muc_stanza_new("message", r, o->nick);
    vn_arena_t *a = out->arena;
    if (st->type[0]) vn_xnode_set_attr(a, out->node, "type", vn_arena_strdup(a, st->type));
    out->type = st->type[0] ? vn_xnode_attr(out->node, "type") : "";
    const char *id = vn_xnode_attr(st->node, "id");
    if (id) vn_xnode_set_attr(a, out->node, "id", vn_arena_strdup(a, id));
    copy_payload(out, st);
    vn_xnode_add(a, out->node, NS_MUC_USER, "x"); /* §7.5 */
    muc_send_to_all(to, out);                     /* every session of the occupant */
}

/* §7.8.2 mediated invitations and §7.8.2.1 declines. */
static void invitation(muc_room_t *r, vn_stanza_t *st, vn_xnode_t *x)
{
    muc_occ_t *o = muc_occ_by_jid(r, &st->from);
    char *from_bare =
        vn_jid_bare_str(&(vn_jid_t){st->from.local, st->from.domain, NULL}, st->arena);
    for (vn_xnode_t *c = x->children; c; c = c->next) {
        int invite = is_el(c, NS_MUC_USER, "invite");
        if (!invite && !is_el(c, NS_MUC_USER, "decline")) continue;
        const char *to = vn_xnode_attr(c, "to");
        vn_jid_t tj;
        if (!to || vn_jid_parse(to, strlen(to), &tj, st->arena) < 0) {
            muc_error(st, "modify", "jid-malformed", "invitation without a valid 'to'");
            return;
        }
        vn_xnode_t *reason = vn_xnode_child(c, NS_MUC_USER, "reason");
        const char *why = reason ? vn_xnode_text(st->arena, reason) : NULL;
        vn_stanza_t *out = muc_stanza_new("message", r, NULL);
        vn_arena_t *a = out->arena;
        vn_xnode_t *ux = vn_xnode_add(a, out->node, NS_MUC_USER, "x");
        vn_xnode_t *el = vn_xnode_add(a, ux, NS_MUC_USER, invite ? "invite" : "decline");
        vn_xnode_set_attr(a, el, "from", vn_arena_strdup(a, vn_jid_full_str(&st->from, st->arena)));
        if (why) {
            vn_xnode_t *rn = vn_xnode_add(a, el, NS_MUC_USER, "reason");
            vn_xnode_add_text(a, rn, why, strlen(why));
        }
        if (invite) {
            muc_aff_t aff = muc_aff_of(r, from_bare);
            if (!o) {
                vn_stanza_free(out);
                muc_error(st, "cancel", "not-acceptable", "only occupants may invite");
                return;
            }
            if (r->cfg.members_only && !r->cfg.allow_invites && aff < AFF_ADMIN) {
                vn_stanza_free(out);
                muc_error(st, "auth", "forbidden", "only admins may invite to this room");
                return;
            }
            char *tb = vn_jid_bare_str(&(vn_jid_t){tj.local, tj.domain, NULL}, st->arena);
            /* §7.8.2: a members-only room makes the invitee a member. */
            if (r->cfg.members_only && muc_aff_of(r, tb) == AFF_NONE)
                muc_aff_put(r, tb, AFF_MEMBER, NULL);
            if (r->cfg.password_protected && r->cfg.secret[0]) {
                vn_xnode_t *pw = vn_xnode_add(a, ux, NS_MUC_USER, "password");
                vn_xnode_add_text(a, pw, r->cfg.secret, strlen(r->cfg.secret));
            }
            vn_xnode_t *body = vn_xnode_add(a, out->node, VN_NS_CLIENT, "body");
            const char *txt =
                vn_arena_printf(a, "%s invites you to the room %s", from_bare, r->jid);
            vn_xnode_add_text(a, body, txt, strlen(txt));
        }
        vn_xnode_set_attr(a, out->node, "to", vn_arena_strdup(a, to));
        out->to = tj;
        vn_route(r->svc->srv, out);
        vn_stanza_free(out);
    }
}

void muc_on_message(muc_room_t *r, vn_stanza_t *st)
{
    if (!strcmp(st->type, "error")) {
        /* §7.13 (optional): an occupant whose client bounces a message is
         * a ghost; remove it so the room stops sending to it. */
        muc_occ_t *o = muc_occ_by_jid(r, &st->from);
        if (o && !st->to.resource) {
            int code = 333;
            muc_occ_leave(o, &code, 1);
        }
        return;
    }
    muc_occ_t *o = muc_occ_by_jid(r, &st->from);
    if (st->to.resource) {
        if (!o) {
            muc_error(st, "cancel", "not-acceptable", "you are not in this room");
            return;
        }
        if (!strcmp(st->type, "groupchat")) {
            muc_error(st, "modify", "bad-request", "groupchat goes to the room's bare JID");
            return;
        }
        private_message(r, o, st);
        return;
    }
    if (!strcmp(st->type, "groupchat")) {
        if (!o) {
            muc_error(st, "cancel", "not-acceptable", "you are not in this room");
            return;
        }
        groupchat(r, o, st);
        return;
    }
    vn_xnode_t *x = vn_xnode_child(st->node, NS_MUC_USER, "x");
    if (x) {
        invitation(r, st, x);
        return;
    }
    muc_error(st, "modify", "bad-request", "only groupchat messages go to the room");
}

/* ---- IQs to room/nick ---- */

void muc_on_occupant_iq(muc_room_t *r, vn_stanza_t *st)
{
    muc_occ_t *from = muc_occ_by_jid(r, &st->from);
    muc_occ_t *to = vn_map_get(r->by_nick, st->to.resource);
    int request = !strcmp(st->type, "get") || !strcmp(st->type, "set");
    vn_xnode_t *payload = vn_xnode_first_element(st->node);
    /* XEP-0410 §3: the service answers a ping to one's own occupant JID. */
    if (request && payload && payload->ns && !strcmp(payload->ns, NS_PING) && from && to &&
        to->id == from->id) {
        vn_stanza_t *res = vn_stanza_iq_result(st);
        vn_route(r->svc->srv, res);
        return;
    }
    if (!from) {
        if (request && payload && payload->ns && !strcmp(payload->ns, NS_PING))
            muc_error(st, "cancel", "not-acceptable", "you are not in this room");
        else if (request)
            muc_error(st, "cancel", "not-acceptable", "you are not in this room");
        return;
    }
    if (!to) {
        if (request) muc_error(st, "cancel", "item-not-found", "no such occupant");
        return;
    }
    /* §7.9 (and XEP-0410 §4 for pings to others): relayed as from the
     * sender's occupant JID; the answer comes back the same way. */
    vn_stanza_t *out = muc_stanza_new("iq", r, from->nick);
    vn_arena_t *a = out->arena;
    vn_xnode_set_attr(a, out->node, "type", vn_arena_strdup(a, st->type));
    out->type = vn_xnode_attr(out->node, "type");
    const char *id = vn_xnode_attr(st->node, "id");
    if (id) vn_xnode_set_attr(a, out->node, "id", vn_arena_strdup(a, id));
    for (vn_xnode_t *c = st->node->children; c; c = c->next)
        if (c->name) vn_xnode_append(out->node, vn_xnode_copy(a, c));
    muc_send_to(to, out);
}

/* Occupants (XEP-0045 §7.1-7.3, §7.6, §7.14): entering a room, presence
 * updates, nickname changes, leaving, and removal by a moderator or an
 * affiliation change (§8.2, §9.1, §9.4).
 *
 * Lookup by nick and by real full JID are hash maps (O(1)); entering is
 * O(N) for the presence of everyone already there (inherent, §7.2.3), and
 * is announced to everyone only when the newcomer's role is broadcast
 * (muc#roomconfig_presencebroadcast): a room that broadcasts moderators
 * only fills with N listeners in O(N) presences, not O(N^2). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mod/muc/muc.h"
#include "xmpp/router.h"
#include "xmpp/session.h"

muc_occ_t *muc_occ_by_jid(const muc_room_t *r, const vn_jid_t *full)
{
    char buf[3200];
    if (!full->local || !full->resource) return NULL;
    int n = snprintf(buf, sizeof(buf), "%s@%s/%s", full->local, full->domain, full->resource);
    if (n < 0 || (size_t)n >= sizeof(buf)) return NULL;
    return vn_map_get(r->by_jid, buf);
}

muc_role_t muc_default_role(const muc_room_t *r, muc_aff_t a)
{
    switch (a) {
    case AFF_OWNER:
    case AFF_ADMIN:
        return ROLE_MODERATOR;
    case AFF_MEMBER:
        return ROLE_PARTICIPANT;
    case AFF_NONE:
        return r->cfg.moderated ? ROLE_VISITOR : ROLE_PARTICIPANT;
    default:
        return ROLE_NONE;
    }
}

/* §7.2.3: real JIDs go to everyone in non-anonymous rooms, to moderators
 * in semi-anonymous ones. */
int muc_sees_jid(const muc_room_t *r, const muc_occ_t *viewer)
{
    return r->cfg.whois_anyone || viewer->role == ROLE_MODERATOR;
}

static void add_status(vn_arena_t *a, vn_xnode_t *x, int code)
{
    vn_xnode_t *s = vn_xnode_add(a, x, NS_MUC_USER, "status");
    vn_xnode_set_attr(a, s, "code", vn_arena_printf(a, "%d", code));
}

static void add_text(vn_arena_t *a, vn_xnode_t *parent, const char *ns, const char *name,
                     const char *text)
{
    vn_xnode_t *n = vn_xnode_add(a, parent, ns, name);
    vn_xnode_add_text(a, n, text, strlen(text));
}

vn_stanza_t *muc_presence_of(muc_occ_t *o, int with_jid, const char *type, const int *codes,
                             int ncodes, const char *new_nick, const char *reason,
                             const char *actor)
{
    muc_room_t *r = o->room;
    vn_stanza_t *st = muc_stanza_new("presence", r, o->nick);
    vn_arena_t *a = st->arena;
    if (type) {
        vn_xnode_set_attr(a, st->node, "type", type);
        st->type = type;
    }
    if (o->payload && (!type || o->leaving)) {
        for (vn_xnode_t *c = o->payload->children; c; c = c->next)
            vn_xnode_append(st->node, vn_xnode_copy(a, c));
    }
    vn_xnode_t *x = vn_xnode_add(a, st->node, NS_MUC_USER, "x");
    vn_xnode_t *item = vn_xnode_add(a, x, NS_MUC_USER, "item");
    muc_aff_t aff = muc_aff_of(r, o->bare);
    vn_xnode_set_attr(a, item, "affiliation", muc_aff_name(aff));
    vn_xnode_set_attr(a, item, "role", muc_role_name(type ? ROLE_NONE : o->role));
    if (with_jid) vn_xnode_set_attr(a, item, "jid", o->jid);
    if (new_nick) vn_xnode_set_attr(a, item, "nick", new_nick);
    if (actor) {
        vn_xnode_t *ac = vn_xnode_add(a, item, NS_MUC_USER, "actor");
        vn_xnode_set_attr(a, ac, "nick", vn_arena_strdup(a, actor));
    }
    if (reason && *reason) add_text(a, item, NS_MUC_USER, "reason", reason);
    for (int i = 0; i < ncodes; i++)
        add_status(a, x, codes[i]);
    return st;
}

int muc_role_broadcast(const muc_room_t *r, muc_role_t role)
{
    return (r->cfg.pres_broadcast >> role) & 1;
}

static void set_shown(muc_occ_t *o, int shown)
{
    muc_occ_t *p = o;
    do {
        p->shown = shown ? 1 : 0;
        p = p->sib;
    } while (p != o);
}

/* The presence of o to everyone but o (two serialisations when the room
 * hides real JIDs from some). */
static void to_others(muc_occ_t *o, const char *type, const int *codes, int ncodes,
                      const char *new_nick, const char *reason, const char *actor)
{
    muc_room_t *r = o->room;
    vn_stanza_t *full = muc_presence_of(o, 1, type, codes, ncodes, new_nick, reason, actor);
    vn_stanza_t *anon = r->cfg.whois_anyone
                            ? NULL
                            : muc_presence_of(o, 0, type, codes, ncodes, new_nick, reason, actor);
    muc_broadcast(r, full, anon, o);
}

/* The presence of o to the others when its role is broadcast
 * (muc#roomconfig_presencebroadcast, XEP-0045 §15.5.3): an occupant they
 * were shown and that is no longer broadcast (a role change) leaves their
 * view as unavailable; one never shown is not announced leaving. Then o's
 * own copy with 110, always (§7.2.3). */
static void broadcast_presence(muc_occ_t *o, const char *type, const int *codes, int ncodes,
                               const char *new_nick, const char *reason, const char *actor,
                               const int *self_codes, int nself)
{
    int show = !type && muc_role_broadcast(o->room, o->role);
    if (show)
        to_others(o, NULL, codes, ncodes, new_nick, reason, actor);
    else if (o->shown)
        to_others(o, type ? type : "unavailable", codes, ncodes, new_nick, reason, actor);
    set_shown(o, show);
    int all[16];
    int n = 0;
    for (int i = 0; i < ncodes && n < 15; i++)
        all[n++] = codes[i];
    for (int i = 0; i < nself && n < 15; i++)
        all[n++] = self_codes[i];
    all[n++] = 110;
    /* Every session of the occupant sees itself (§7.2.3 with several
     * sessions: each gets 110). */
    muc_send_to_all(o, muc_presence_of(o, 1, type, all, n, new_nick, reason, actor));
}

void muc_occ_sync_shown(muc_occ_t *o)
{
    int show = muc_role_broadcast(o->room, o->role);
    if (show == (int)o->shown) return;
    to_others(o, show ? NULL : "unavailable", NULL, 0, NULL, NULL, NULL);
    set_shown(o, show);
}

int muc_occ_is_main(const muc_occ_t *o)
{
    return vn_map_get(o->room->by_nick, o->nick) == o;
}

void muc_occ_set_role(muc_occ_t *o, muc_role_t role)
{
    muc_occ_t *p = o;
    do {
        p->role = role;
        p = p->sib;
    } while (p != o);
}

void muc_occ_broadcast(muc_occ_t *o, const char *type, const int *codes, int ncodes,
                       const char *reason, const char *actor)
{
    broadcast_presence(o, type, codes, ncodes, NULL, reason, actor, NULL, 0);
}

void muc_occ_free(muc_occ_t *o)
{
    muc_occ_forget_session(o);
    free(o->nick);
    free(o->jid);
    free(o->jid_esc);
    free(o->bare);
    vn_jid_clear(&o->rjid);
    if (o->pres) vn_arena_free(o->pres);
    free(o);
}

/* Takes one session out of the room (and out of its occupant's ring). */
static void occ_unlink(muc_occ_t *o)
{
    muc_room_t *r = o->room;
    if (o->sib == o) {
        vn_map_del(r->by_nick, o->nick);
    } else {
        muc_occ_t *prev = o;
        while (prev->sib != o)
            prev = prev->sib;
        prev->sib = o->sib;
        if (muc_occ_is_main(o)) vn_map_put(r->by_nick, o->sib->nick, o->sib);
        o->sib = o;
    }
    vn_map_del(r->by_jid, o->jid);
    r->occ[o->slot] = NULL;
    r->nocc--;
}

void muc_occ_remove(muc_occ_t *o, const int *codes, int ncodes, const char *reason,
                    const char *actor)
{
    muc_room_t *r = o->room;
    broadcast_presence(o, "unavailable", codes, ncodes, NULL, reason, actor, NULL, 0);
    while (o->sib != o) {
        muc_occ_t *p = o->sib;
        occ_unlink(p);
        muc_occ_free(p);
    }
    occ_unlink(o);
    muc_occ_free(o);
    muc_room_maybe_gone(r);
}

/* One session leaves (§7.14) or bounced (code 333). The occupant stays
 * while another of its sessions remains: only the leaving session hears
 * of it. */
void muc_occ_leave(muc_occ_t *o, const int *codes, int ncodes)
{
    if (o->sib == o) {
        muc_occ_remove(o, codes, ncodes, NULL, NULL);
        return;
    }
    int all[4], n = 0;
    for (int i = 0; i < ncodes && n < 3; i++)
        all[n++] = codes[i];
    all[n++] = 110;
    muc_room_t *r = o->room;
    occ_unlink(o);
    muc_send_to(o, muc_presence_of(o, 1, "unavailable", all, n, NULL, NULL, NULL));
    muc_occ_free(o);
    muc_room_maybe_gone(r);
}

/* Keeps what others should see of a presence: everything but the MUC
 * elements (§7.7). */
static int kept(const vn_xnode_t *c)
{
    if (!c->name) return 0;
    if (c->ns && (!strcmp(c->ns, NS_MUC) || !strcmp(c->ns, NS_MUC_USER))) return 0;
    return !(c->ns && !strcmp(c->ns, VN_NS_CLIENT) && !strcmp(c->name, "error"));
}

static void keep_payload(muc_occ_t *o, const vn_stanza_t *st)
{
    const vn_xnode_t *c = st->node->children;
    while (c && !kept(c))
        c = c->next;
    if (!c) {
        /* A bare presence (the usual case in large rooms) costs nothing. */
        if (o->pres) vn_arena_free(o->pres);
        o->pres = NULL;
        o->payload = NULL;
        return;
    }
    if (!o->pres) o->pres = vn_arena_new(512);
    vn_arena_reset(o->pres);
    o->payload = vn_xnode_new(o->pres, VN_NS_CLIENT, "presence");
    for (; c; c = c->next)
        if (kept(c)) vn_xnode_append(o->payload, vn_xnode_copy(o->pres, c));
}

static void send_subject(muc_room_t *r, muc_occ_t *o)
{
    /* §7.2.15: the subject (possibly empty) always ends the join. */
    vn_stanza_t *st = muc_stanza_new("message", r, r->subject_by);
    vn_arena_t *a = st->arena;
    vn_xnode_set_attr(a, st->node, "type", "groupchat");
    vn_xnode_t *s = vn_xnode_add(a, st->node, VN_NS_CLIENT, "subject");
    if (r->subject) vn_xnode_add_text(a, s, r->subject, strlen(r->subject));
    muc_send_to(o, st);
}

/* §7.2: entering the room. */
static void join(muc_room_t *r, vn_stanza_t *st, const char *nick)
{
    muc_service_t *svc = r->svc;
    char *bare = vn_jid_bare_str(&(vn_jid_t){st->from.local, st->from.domain, NULL}, st->arena);
    char *full = vn_jid_full_str(&st->from, st->arena);
    const vn_xnode_t *mx = vn_xnode_child(st->node, NS_MUC, "x");
    int creating = !r->exists;
    if (strlen(nick) > MUC_NICK_MAX) {
        muc_error(st, "modify", "not-acceptable", "nickname too long");
        return;
    }
    if (creating) {
        /* The quota counts the user's rooms in storage too: one lookup
         * first (the join waits for it, room.c). */
        if (svc->srv->cfg.muc_max_rooms_per_user > 0 &&
            (!r->quota_for || strcmp(r->quota_for, bare) != 0)) {
            muc_room_quota_lookup(r, bare);
            return;
        }
        if (!muc_room_quota_ok(r, bare)) {
            muc_error(st, "wait", "resource-constraint", "too many rooms owned by this user");
            return;
        }
        r->exists = 1;
        r->locked = 1;
        r->creator = vn_xstrdup(bare);
        muc_room_quota_sync(r);
        muc_aff_put(r, bare, AFF_OWNER, NULL);
    }
    muc_aff_t aff = muc_aff_of(r, bare);
    /* §10.1.1: a locked room admits its owner only. */
    if (r->locked && aff != AFF_OWNER) {
        muc_error(st, "cancel", "item-not-found",
                  "the room is locked until its owner configures it");
        return;
    }
    if (aff == AFF_OUTCAST) { /* §7.2.7 */
        muc_error(st, "auth", "forbidden", "you are banned from this room");
        return;
    }
    if (r->cfg.members_only && aff < AFF_MEMBER) { /* §7.2.6 */
        muc_error(st, "auth", "registration-required", "this room is members-only");
        return;
    }
    /* §7.2.9, except for another session of the same account, which
     * joins the occupant that has the nick (multiple sessions). */
    muc_occ_t *other = vn_map_get(r->by_nick, nick);
    if (other && strcmp(other->bare, bare) != 0) {
        muc_error(st, "cancel", "conflict", "that nickname is in use");
        return;
    }
    /* §7.2.9: a nick another user reserved (§7.10) is theirs. */
    const char *holder = muc_reg_holder(r, nick);
    if (holder && strcmp(holder, bare) != 0) {
        muc_error(st, "cancel", "conflict", "that nickname is reserved");
        return;
    }
    if (r->cfg.password_protected && aff < AFF_ADMIN) { /* §7.2.5 */
        const vn_xnode_t *pw = mx ? vn_xnode_child(mx, NS_MUC, "password") : NULL;
        char *given = pw ? vn_xnode_text(st->arena, pw) : NULL;
        if (!given || strcmp(given, r->cfg.secret) != 0) {
            muc_error(st, "auth", "not-authorized", "a password is required");
            return;
        }
    }
    if (!other && (int)vn_map_size(r->by_nick) >= r->cfg.max_users &&
        aff < AFF_ADMIN) { /* §7.2.10 */
        muc_error(st, "wait", "service-unavailable", "the room is full");
        return;
    }
    muc_occ_t *o = vn_xcalloc(1, sizeof(*o));
    o->room = r;
    o->nick = vn_xstrdup(nick);
    o->jid = vn_xstrdup(full);
    vn_buf_t esc = VN_BUF_INIT;
    vn_xml_append_escaped(&esc, full, strlen(full), 1);
    o->jid_esc = vn_xstrndup(esc.data ? esc.data : "", esc.len);
    vn_buf_free(&esc);
    o->bare = vn_xstrdup(bare);
    o->rjid.local = vn_xstrdup(st->from.local);
    o->rjid.domain = vn_xstrdup(st->from.domain);
    o->rjid.resource = vn_xstrdup(st->from.resource);
    o->sib = o;
    if (other) {
        o->id = other->id;
        o->role = other->role;
        o->shown = other->shown;
    } else {
        o->id = ++r->next_occ_id;
        o->role = muc_default_role(r, aff);
        o->shown = muc_role_broadcast(r, o->role) ? 1 : 0;
    }
    keep_payload(o, st);

    /* §7.2.3: the presence of everyone already there (once per occupant)
     * whose role is broadcast, to the newcomer; its own comes last, with
     * 110. */
    for (size_t i = 0; i < r->nslots; i++) {
        muc_occ_t *p = r->occ[i];
        if (!p || p->id == o->id || !p->shown || !muc_occ_is_main(p)) continue;
        muc_send_to(o, muc_presence_of(p, muc_sees_jid(r, o), NULL, NULL, 0, NULL, NULL, NULL));
    }
    /* The newcomer's presence to the others, before it takes its slot
     * (nothing when it is one more session of an occupant they know, or
     * when its role is not broadcast). */
    if (!other && r->nocc && o->shown) {
        vn_stanza_t *pf = muc_presence_of(o, 1, NULL, NULL, 0, NULL, NULL, NULL);
        vn_stanza_t *pa =
            r->cfg.whois_anyone ? NULL : muc_presence_of(o, 0, NULL, NULL, 0, NULL, NULL, NULL);
        muc_broadcast(r, pf, pa, NULL);
    }
    if (r->nslots == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->occ = vn_xrealloc(r->occ, r->cap * sizeof(*r->occ));
    }
    o->slot = r->nslots;
    r->occ[r->nslots++] = o;
    r->nocc++;
    if (other) {
        o->sib = other->sib;
        other->sib = o;
    } else {
        vn_map_put(r->by_nick, o->nick, o);
    }
    vn_map_put(r->by_jid, o->jid, o);

    /* Self-presence: 110, 100 non-anonymous, 170 logged, 201 created. */
    int codes[4], n = 0;
    if (r->cfg.whois_anyone) codes[n++] = 100;
    if (muc_room_archiving(r)) codes[n++] = 170;
    if (creating) codes[n++] = 201;
    codes[n++] = 110;
    muc_send_to(o, muc_presence_of(o, 1, NULL, codes, n, NULL, NULL, NULL));
    if (!creating) muc_hist_send(r, o, mx ? vn_xnode_child(mx, NS_MUC, "history") : NULL);
    /* §7.2.15: every new occupant, the creator of a new room too, gets the
     * subject (empty here); clients take it as the end of the join. */
    send_subject(r, o);
}

/* §7.6: a nickname change, as unavailable (303) then available. */
static void change_nick(muc_occ_t *o, vn_stanza_t *st, const char *nick)
{
    muc_room_t *r = o->room;
    if (strlen(nick) > MUC_NICK_MAX) {
        muc_error(st, "modify", "not-acceptable", "nickname too long");
        return;
    }
    const char *holder = muc_reg_holder(r, nick);
    if (vn_map_get(r->by_nick, nick) || (holder && strcmp(holder, o->bare) != 0)) {
        muc_error(st, "cancel", "conflict", "that nickname is in use or reserved");
        return;
    }
    /* With several sessions the occupant changes its nick as a whole. */
    int code = 303;
    broadcast_presence(o, "unavailable", &code, 1, nick, NULL, NULL, NULL, 0);
    vn_map_del(r->by_nick, o->nick);
    muc_occ_t *p = o;
    do {
        free(p->nick);
        p->nick = vn_xstrdup(nick);
        p = p->sib;
    } while (p != o);
    vn_map_put(r->by_nick, o->nick, o);
    keep_payload(o, st);
    broadcast_presence(o, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0);
}

void muc_on_presence(muc_room_t *r, vn_stanza_t *st)
{
    muc_occ_t *o = muc_occ_by_jid(r, &st->from);
    if (!strcmp(st->type, "error")) {
        /* An occupant's client bounced something: a ghost (§7.13 is
         * permissive; removing it stops further bounces). */
        if (o) {
            int code = 333;
            muc_occ_leave(o, &code, 1);
            muc_room_maybe_gone(r);
        }
        return;
    }
    if (!strcmp(st->type, "unavailable")) {
        if (o) { /* §7.14, with the occupant's exit status for the others */
            keep_payload(o, st);
            o->leaving = 1;
            muc_occ_leave(o, NULL, 0);
        }
        muc_room_maybe_gone(r);
        return;
    }
    if (st->type[0]) return; /* subscriptions and probes: nothing to do */
    if (!st->to.resource || !*st->to.resource) {
        /* §7.2.1: no nickname. */
        muc_error(st, "modify", "jid-malformed", "a nickname is required");
        return;
    }
    if (!o) {
        join(r, st, st->to.resource);
        muc_room_maybe_gone(r);
        return;
    }
    if (strcmp(o->nick, st->to.resource) != 0) {
        change_nick(o, st, st->to.resource);
        return;
    }
    /* §7.7: a presence update. */
    keep_payload(o, st);
    broadcast_presence(o, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0);
}

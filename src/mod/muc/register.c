/* Registering with a room (XEP-0045 §7.10): a user reserves a nick, which
 * makes it a member, and §7.2.4 lets its clients discover that nick
 * (disco#info node 'x-roomuser-item'). A reserved nick is its holder's:
 * nobody else may enter with it or take it (§7.2.9, conflict).
 *
 * Who may register: anyone affiliated with the room (reserving a nick),
 * and an unaffiliated user only where becoming a member grants nothing
 * else, i.e. in a room that is neither members-only (membership is the
 * admission) nor moderated (members get voice). Elsewhere registration is
 * not-allowed (§7.10); an admin grants membership (§9.3) and the member
 * then reserves its nick.
 *
 * A reservation belongs to the affiliation: it goes when the affiliation
 * goes (none, outcast), and <remove/> (XEP-0077 §3.2) gives it up, with the
 * membership of a plain member. In storage it is the nick column of the
 * affiliation row (store_muc.h). */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "mod/muc/muc.h"
#include "store/store_muc.h"
#include "xmpp/router.h"

#define FORM_TYPE_REGISTER "http://jabber.org/protocol/muc#register"
#define FIELD_NICK "muc#register_roomnick"
#define NODE_ROOMUSER "x-roomuser-item"

const char *muc_reg_nick(const muc_room_t *r, const char *bare)
{
    return r->reg_nick ? vn_map_get(r->reg_nick, bare) : NULL;
}

const char *muc_reg_holder(const muc_room_t *r, const char *nick)
{
    return r->reg_jid ? vn_map_get(r->reg_jid, nick) : NULL;
}

void muc_reg_put(muc_room_t *r, const char *bare, const char *nick)
{
    if (!r->reg_nick) {
        if (!nick) return;
        r->reg_nick = vn_map_new();
        r->reg_jid = vn_map_new();
    }
    char *old = vn_map_del(r->reg_nick, bare);
    if (old) free(vn_map_del(r->reg_jid, old));
    free(old);
    if (!nick) return;
    vn_map_put(r->reg_nick, bare, vn_xstrdup(nick));
    vn_map_put(r->reg_jid, nick, vn_xstrdup(bare));
}

static void free_value(const char *key, void *value, void *ud)
{
    (void)key, (void)ud;
    free(value);
}

void muc_reg_free(muc_room_t *r)
{
    if (!r->reg_nick) return;
    vn_map_each(r->reg_nick, free_value, NULL);
    vn_map_each(r->reg_jid, free_value, NULL);
    vn_map_free(r->reg_nick);
    vn_map_free(r->reg_jid);
    r->reg_nick = r->reg_jid = NULL;
}

/* ---- storage ---- */

typedef struct nick_job {
    vn_work_t work;
    char *room, *jid, *nick;
} nick_job_t;

static void nick_work(vn_work_t *w)
{
    nick_job_t *j = (nick_job_t *)w;
    vn_store_muc_nick_set(vn_store_of(w), j->room, j->jid, j->nick);
}

static void nick_done(vn_work_t *w)
{
    nick_job_t *j = (nick_job_t *)w;
    free(j->room);
    free(j->jid);
    free(j->nick);
    free(j);
}

/* Ordered under the room's JID, like the affiliation writes (room.c): it
 * runs after the affiliation row it lives on is written, and a later
 * affiliation change (which may drop the nick) runs after it. */
static void nick_store(muc_room_t *r, const char *bare, const char *nick)
{
    nick_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->room = vn_xstrdup(r->jid);
    j->jid = vn_xstrdup(bare);
    j->nick = vn_xstrdup(nick ? nick : "");
    vn_store_submit_ordered(r->svc->srv, j->room, &j->work, nick_work, nick_done);
}

static void store_one(const char *key, void *value, void *ud)
{
    nick_store(ud, key, value);
}

void muc_reg_store_all(muc_room_t *r)
{
    if (r->reg_nick) vn_map_each(r->reg_nick, store_one, r);
}

static void reserve(muc_room_t *r, const char *bare, const char *nick)
{
    muc_reg_put(r, bare, nick);
    if (r->stored) nick_store(r, bare, nick);
}

/* ---- §7.10 ---- */

static void add_text(vn_arena_t *a, vn_xnode_t *parent, const char *ns, const char *name,
                     const char *text)
{
    vn_xnode_t *n = vn_xnode_add(a, parent, ns, name);
    vn_xnode_add_text(a, n, text, strlen(text));
}

/* The registration form (§7.10 example): only the nick is asked for. */
static void send_form(muc_room_t *r, vn_stanza_t *st, const char *nick)
{
    vn_stanza_t *res = vn_stanza_iq_result(st);
    vn_arena_t *a = res->arena;
    vn_xnode_t *q = vn_xnode_add(a, res->node, NS_REGISTER, "query");
    if (nick) { /* XEP-0077 §3.1: already registered */
        vn_xnode_add(a, q, NS_REGISTER, "registered");
        add_text(a, q, NS_REGISTER, "username", nick);
    }
    vn_xnode_t *x = vn_xnode_add(a, q, NS_DATA, "x");
    vn_xnode_set_attr(a, x, "type", "form");
    const char *title = vn_arena_printf(a, "Registration with %s", r->jid);
    add_text(a, x, NS_DATA, "title", title);
    add_text(a, x, NS_DATA, "instructions", "Choose the nickname to reserve in this room.");
    vn_xnode_t *ft = vn_xnode_add(a, x, NS_DATA, "field");
    vn_xnode_set_attr(a, ft, "var", "FORM_TYPE");
    vn_xnode_set_attr(a, ft, "type", "hidden");
    add_text(a, ft, NS_DATA, "value", FORM_TYPE_REGISTER);
    vn_xnode_t *f = vn_xnode_add(a, x, NS_DATA, "field");
    vn_xnode_set_attr(a, f, "var", FIELD_NICK);
    vn_xnode_set_attr(a, f, "type", "text-single");
    vn_xnode_set_attr(a, f, "label", "Desired nickname");
    vn_xnode_add(a, f, NS_DATA, "required");
    if (nick) add_text(a, f, NS_DATA, "value", nick);
    vn_route(r->svc->srv, res);
}

/* The submitted nick, normalised as a resourcepart like the nicks of
 * occupant JIDs (RFC 7622 §3.4), or NULL with *why set. */
static char *submitted_nick(vn_stanza_t *st, const vn_xnode_t *x, const char **why)
{
    const char *type = vn_xnode_attr(x, "type");
    if (!type || strcmp(type, "submit") != 0) {
        *why = "expected a data form of type submit";
        return NULL;
    }
    const char *nick = NULL;
    for (const vn_xnode_t *f = x->children; f; f = f->next) {
        if (!f->name || !f->ns || strcmp(f->ns, NS_DATA) || strcmp(f->name, "field")) continue;
        const char *var = vn_xnode_attr(f, "var");
        const vn_xnode_t *v = vn_xnode_child(f, NS_DATA, "value");
        const char *val = v ? vn_xnode_text(st->arena, v) : "";
        if (var && !strcmp(var, "FORM_TYPE") && strcmp(val, FORM_TYPE_REGISTER) != 0) {
            *why = "wrong FORM_TYPE";
            return NULL;
        }
        if (var && !strcmp(var, FIELD_NICK)) nick = val;
    }
    char *norm = NULL;
    if (!nick || !*nick || strlen(nick) > MUC_NICK_MAX ||
        vn_jid_prep_resource(nick, strlen(nick), &norm, st->arena) < 0 || !*norm) {
        *why = "a valid nickname is required";
        return NULL;
    }
    return norm;
}

static void do_register(muc_room_t *r, vn_stanza_t *st, const char *bare, muc_aff_t aff,
                        const vn_xnode_t *x)
{
    const char *why = NULL;
    char *nick = submitted_nick(st, x, &why);
    if (!nick) {
        muc_error(st, "modify", "bad-request", why);
        return;
    }
    const char *holder = muc_reg_holder(r, nick);
    const muc_occ_t *occ = vn_map_get(r->by_nick, nick);
    if ((holder && strcmp(holder, bare) != 0) || (occ && strcmp(occ->bare, bare) != 0)) {
        muc_error(st, "cancel", "conflict", "that nickname is reserved or in use");
        return;
    }
    muc_room_ref(r);
    /* §7.10: registering makes the user a member (the affiliation row
     * first: the nick is stored on it). */
    if (aff == AFF_NONE) muc_aff_change(r, bare, AFF_MEMBER, NULL, NULL);
    if (!r->dead) reserve(r, bare, nick);
    vn_route(r->svc->srv, vn_stanza_iq_result(st));
    muc_room_unref(r);
}

static void do_unregister(muc_room_t *r, vn_stanza_t *st, const char *bare, muc_aff_t aff)
{
    if (!muc_reg_nick(r, bare) && aff != AFF_MEMBER) {
        muc_error(st, "cancel", "item-not-found", "you are not registered with this room");
        return;
    }
    muc_room_ref(r);
    vn_route(r->svc->srv, vn_stanza_iq_result(st));
    /* A plain member gives up the membership registration gave it (and
     * leaves a members-only room, 321); admins and owners keep theirs. */
    if (aff == AFF_MEMBER)
        muc_aff_change(r, bare, AFF_NONE, NULL, NULL);
    else
        reserve(r, bare, NULL);
    muc_room_unref(r);
}

void muc_on_register_iq(muc_room_t *r, vn_stanza_t *st)
{
    char *bare = vn_jid_bare_str(&(vn_jid_t){st->from.local, st->from.domain, NULL}, st->arena);
    muc_aff_t aff = muc_aff_of(r, bare);
    if (r->locked && aff != AFF_OWNER) { /* §10.1.1: not there yet for others */
        muc_error(st, "cancel", "item-not-found",
                  "the room is locked until its owner configures it");
        return;
    }
    if (aff == AFF_OUTCAST) {
        muc_error(st, "auth", "forbidden", "you are banned from this room");
        return;
    }
    if (aff == AFF_NONE && (r->cfg.members_only || r->cfg.moderated)) {
        muc_error(st, "cancel", "not-allowed",
                  r->cfg.members_only ? "only members register with this room"
                                      : "only affiliated users register with a moderated room");
        return;
    }
    if (!strcmp(st->type, "get")) {
        send_form(r, st, muc_reg_nick(r, bare));
        return;
    }
    const vn_xnode_t *q = vn_xnode_child(st->node, NS_REGISTER, "query");
    if (q && vn_xnode_child(q, NS_REGISTER, "remove")) {
        do_unregister(r, st, bare, aff);
        return;
    }
    const vn_xnode_t *x = q ? vn_xnode_child(q, NS_DATA, "x") : NULL;
    if (!x) {
        muc_error(st, "modify", "bad-request", "expected the registration form");
        return;
    }
    do_register(r, st, bare, aff, x);
}

void muc_roomuser_item(muc_room_t *r, vn_stanza_t *st)
{
    char *bare = vn_jid_bare_str(&(vn_jid_t){st->from.local, st->from.domain, NULL}, st->arena);
    const char *nick = st->from.local ? muc_reg_nick(r, bare) : NULL;
    vn_stanza_t *res = vn_stanza_iq_result(st);
    vn_arena_t *a = res->arena;
    vn_xnode_t *q = vn_xnode_add(a, res->node, NS_DISCO_INFO, "query");
    vn_xnode_set_attr(a, q, "node", NODE_ROOMUSER);
    /* §7.2.4: the nick as the identity's name; none registered: empty. */
    if (nick) {
        vn_xnode_t *id = vn_xnode_add(a, q, NS_DISCO_INFO, "identity");
        vn_xnode_set_attr(a, id, "category", "conference");
        vn_xnode_set_attr(a, id, "name", vn_arena_strdup(a, nick));
        vn_xnode_set_attr(a, id, "type", "text");
    }
    vn_route(r->svc->srv, res);
}

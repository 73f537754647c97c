/* Moderation and administration (XEP-0045 §8 moderator use cases, §9 admin
 * use cases, §10.3-10.8 owner lists): muc#admin items that change a role
 * (by nick) or an affiliation (by JID), and the lists by role or
 * affiliation. A request is checked whole before anything changes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "mod/muc/form.h"
#include "mod/muc/muc.h"
#include "xmpp/router.h"

typedef muc_change_t change_t;

#define MAX_ITEMS 64

typedef struct owners {
    int n;
} owners_t;

static void count_owner_cb(const char *key, void *value, void *ud)
{
    (void)key;
    if ((muc_aff_t)(intptr_t)value == AFF_OWNER) ((owners_t *)ud)->n++;
}

/* Checks one item; NULL or the condition (with *type). */
const char *muc_admin_check(muc_room_t *r, vn_stanza_t *st, muc_aff_t my_aff, muc_role_t my_role,
                            change_t *c, const char **type, const char **text)
{
    const vn_xnode_t *it = c->item;
    const char *role = vn_xnode_attr(it, "role");
    const char *aff = vn_xnode_attr(it, "affiliation");
    vn_xnode_t *rn = vn_xnode_child(it, NS_MUC_ADMIN, "reason");
    c->reason = rn ? vn_xnode_text(st->arena, rn) : NULL;
    if (c->reason && strlen(c->reason) > MUC_REASON_MAX) {
        *type = "modify";
        *text = "reason too long";
        return "not-acceptable";
    }
    *type = "modify";
    if (role && !aff) {
        c->by_role = 1;
        if (muc_role_parse(role, &c->role) < 0) return "bad-request";
        const char *nick = vn_xnode_attr(it, "nick");
        if (!nick) return "bad-request";
        c->occ = vn_map_get(r->by_nick, nick);
        *type = "cancel";
        if (!c->occ) return "item-not-found";
        *type = "auth";
        if (my_role != ROLE_MODERATOR) return "forbidden";
        muc_aff_t target = muc_aff_of(r, c->occ->bare);
        *type = "cancel";
        /* §8.2: no kicking or silencing of admins and owners; §9.6-9.7:
         * moderator grants are for admins. */
        if ((c->role < ROLE_PARTICIPANT || c->occ->role == ROLE_MODERATOR) && target >= AFF_ADMIN)
            return "not-allowed";
        if ((c->role == ROLE_MODERATOR || c->occ->role == ROLE_MODERATOR) && my_aff < AFF_ADMIN) {
            *type = "auth";
            return "forbidden";
        }
        return NULL;
    }
    if (!aff || role) return "bad-request";
    if (muc_aff_parse(aff, &c->aff) < 0) return "bad-request";
    const char *jid = vn_xnode_attr(it, "jid");
    vn_jid_t j;
    if (!jid) return "bad-request";
    if (vn_jid_parse(jid, strlen(jid), &j, st->arena) < 0) return "jid-malformed";
    c->jid = vn_jid_bare_str(&(vn_jid_t){j.local, j.domain, NULL}, st->arena);
    muc_aff_t cur = muc_aff_of(r, c->jid);
    *type = "auth";
    if (my_aff < AFF_ADMIN) return "forbidden";
    /* §10.3-10.7: owners and admins are managed by owners. */
    if ((c->aff >= AFF_ADMIN || cur >= AFF_ADMIN) && my_aff < AFF_OWNER) {
        *type = "cancel";
        return "not-allowed";
    }
    if (cur == AFF_OWNER && c->aff != AFF_OWNER) {
        owners_t o = {0};
        vn_map_each(r->affs, count_owner_cb, &o);
        if (o.n <= 1) { /* §10.5: never ownerless */
            *type = "cancel";
            *text = "the room must keep an owner";
            return "conflict";
        }
    }
    return NULL;
}

static void apply(muc_room_t *r, change_t *c, const char *actor)
{
    if (c->by_role) {
        muc_occ_t *o = c->occ;
        if (c->role == ROLE_NONE) { /* §8.2 kick */
            int code = 307;
            muc_occ_remove(o, &code, 1, c->reason, actor);
            return;
        }
        if (o->role == c->role) return;
        muc_occ_set_role(o, c->role);
        muc_occ_broadcast(o, NULL, NULL, 0, c->reason, actor);
        return;
    }
    muc_aff_put(r, c->jid, c->aff, c->reason);
    /* Occupants with that bare JID follow the change (§9.1, §9.4, §10.6). */
    for (size_t i = 0; i < r->nslots; i++) {
        muc_occ_t *o = r->occ[i];
        if (!o || !muc_occ_is_main(o) || strcmp(o->bare, c->jid) != 0) continue;
        if (c->aff == AFF_OUTCAST) {
            int code = 301;
            muc_occ_remove(o, &code, 1, c->reason, actor);
        } else if (r->cfg.members_only && c->aff == AFF_NONE) {
            int code = 321;
            muc_occ_remove(o, &code, 1, c->reason, actor);
        } else {
            muc_occ_set_role(o, muc_default_role(r, c->aff));
            muc_occ_broadcast(o, NULL, NULL, 0, c->reason, actor);
        }
    }
}

void muc_aff_change(muc_room_t *r, const char *bare, muc_aff_t aff, const char *reason,
                    const char *actor)
{
    change_t c;
    memset(&c, 0, sizeof(c));
    c.aff = aff;
    c.jid = (char *)bare;
    c.reason = reason;
    apply(r, &c, actor);
}

typedef struct list_ctx {
    vn_arena_t *a;
    vn_xnode_t *q;
    muc_aff_t aff;
    const muc_room_t *r;
} list_ctx_t;

static void list_aff_cb(const char *key, void *value, void *ud)
{
    list_ctx_t *l = ud;
    if ((muc_aff_t)(intptr_t)value != l->aff) return;
    vn_xnode_t *it = vn_xnode_add(l->a, l->q, NS_MUC_ADMIN, "item");
    vn_xnode_set_attr(l->a, it, "affiliation", muc_aff_name(l->aff));
    vn_xnode_set_attr(l->a, it, "jid", vn_arena_strdup(l->a, key));
    /* §9.5: the nick the member reserved (§7.10). */
    const char *nick = muc_reg_nick(l->r, key);
    if (nick) vn_xnode_set_attr(l->a, it, "nick", vn_arena_strdup(l->a, nick));
}

static void get_list(muc_room_t *r, vn_stanza_t *st, const vn_xnode_t *item, muc_aff_t my_aff,
                     muc_role_t my_role)
{
    const char *role = vn_xnode_attr(item, "role");
    const char *aff = vn_xnode_attr(item, "affiliation");
    vn_stanza_t *res = vn_stanza_iq_result(st);
    vn_arena_t *a = res->arena;
    vn_xnode_t *q = vn_xnode_add(a, res->node, NS_MUC_ADMIN, "query");
    if (aff) {
        muc_aff_t want;
        if (muc_aff_parse(aff, &want) < 0 || want == AFF_NONE) {
            muc_error(st, "modify", "bad-request", "unknown affiliation");
            return;
        }
        /* §9.5 member list: admins (and members, if the room is members-only
         * it is fine for them to know each other); others forbidden. */
        if (my_aff < AFF_ADMIN && !(want == AFF_MEMBER && my_aff == AFF_MEMBER)) {
            muc_error(st, "auth", "forbidden", NULL);
            return;
        }
        list_ctx_t l = {a, q, want, r};
        vn_map_each(r->affs, list_aff_cb, &l);
    } else if (role) {
        muc_role_t want;
        if (muc_role_parse(role, &want) < 0 || want == ROLE_NONE) {
            muc_error(st, "modify", "bad-request", "unknown role");
            return;
        }
        if (my_role != ROLE_MODERATOR) {
            muc_error(st, "auth", "forbidden", NULL);
            return;
        }
        for (size_t i = 0; i < r->nslots; i++) {
            muc_occ_t *o = r->occ[i];
            if (!o || o->role != want || !muc_occ_is_main(o)) continue;
            vn_xnode_t *it = vn_xnode_add(a, q, NS_MUC_ADMIN, "item");
            vn_xnode_set_attr(a, it, "role", muc_role_name(o->role));
            vn_xnode_set_attr(a, it, "affiliation", muc_aff_name(muc_aff_of(r, o->bare)));
            vn_xnode_set_attr(a, it, "nick", o->nick);
            vn_xnode_set_attr(a, it, "jid", o->jid);
        }
    } else {
        muc_error(st, "modify", "bad-request", "a role or an affiliation is required");
        return;
    }
    vn_route(r->svc->srv, res);
}

void muc_on_admin_iq(muc_room_t *r, vn_stanza_t *st)
{
    char *bare = vn_jid_bare_str(&(vn_jid_t){st->from.local, st->from.domain, NULL}, st->arena);
    muc_aff_t my_aff = muc_aff_of(r, bare);
    muc_occ_t *me = muc_occ_by_jid(r, &st->from);
    muc_role_t my_role = me ? me->role : ROLE_NONE;
    vn_xnode_t *q = vn_xnode_child(st->node, NS_MUC_ADMIN, "query");
    vn_xnode_t *first = q ? vn_xnode_child(q, NS_MUC_ADMIN, "item") : NULL;
    if (!first) {
        muc_error(st, "modify", "bad-request", "no item");
        return;
    }
    if (!strcmp(st->type, "get")) {
        get_list(r, st, first, my_aff, my_role);
        return;
    }
    change_t changes[MAX_ITEMS];
    int n = 0;
    for (vn_xnode_t *it = q->children; it; it = it->next) {
        if (!it->name || !it->ns || strcmp(it->ns, NS_MUC_ADMIN) || strcmp(it->name, "item"))
            continue;
        if (n == MAX_ITEMS) {
            muc_error(st, "modify", "not-acceptable", "too many items");
            return;
        }
        change_t *c = &changes[n++];
        memset(c, 0, sizeof(*c));
        c->item = it;
        const char *type = "modify", *text = NULL;
        const char *cond = muc_admin_check(r, st, my_aff, my_role, c, &type, &text);
        if (cond) {
            muc_error(st, type, cond, text);
            return;
        }
    }
    const char *actor = me ? vn_arena_strdup(st->arena, me->nick) : NULL;
    muc_room_ref(r);
    vn_route(r->svc->srv, vn_stanza_iq_result(st));
    for (int i = 0; i < n && !r->dead; i++) {
        /* A kick may have removed an occupant another item names. */
        if (changes[i].by_role) {
            changes[i].occ = vn_map_get(r->by_nick, vn_xnode_attr(changes[i].item, "nick"));
            if (!changes[i].occ) continue;
        }
        apply(r, &changes[i], actor);
    }
    muc_room_unref(r);
}

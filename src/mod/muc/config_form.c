/* Room configuration by its owners (XEP-0045 §10.1-10.2, §10.9): the
 * muc#roomconfig data form (XEP-0004), the instant room, cancellation of a
 * new room, and destruction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "mod/muc/form.h"
#include "mod/muc/muc.h"
#include "xmpp/router.h"

#define FORM_TYPE "http://jabber.org/protocol/muc#roomconfig"

static vn_xnode_t *field(vn_arena_t *a, vn_xnode_t *x, const char *var, const char *type,
                         const char *label, const char *value)
{
    vn_xnode_t *f = vn_xnode_add(a, x, NS_DATA, "field");
    vn_xnode_set_attr(a, f, "var", var);
    if (type) vn_xnode_set_attr(a, f, "type", type);
    if (label) vn_xnode_set_attr(a, f, "label", label);
    if (value) {
        vn_xnode_t *v = vn_xnode_add(a, f, NS_DATA, "value");
        vn_xnode_add_text(a, v, value, strlen(value));
    }
    return f;
}

static void option(vn_arena_t *a, vn_xnode_t *f, const char *label, const char *value)
{
    vn_xnode_t *o = vn_xnode_add(a, f, NS_DATA, "option");
    vn_xnode_set_attr(a, o, "label", label);
    vn_xnode_t *v = vn_xnode_add(a, o, NS_DATA, "value");
    vn_xnode_add_text(a, v, value, strlen(value));
}

static const char *b(int v)
{
    return v ? "1" : "0";
}

static void send_form(muc_room_t *r, vn_stanza_t *st)
{
    vn_stanza_t *res = vn_stanza_iq_result(st);
    vn_arena_t *a = res->arena;
    const muc_config_t *c = &r->cfg;
    vn_xnode_t *q = vn_xnode_add(a, res->node, NS_MUC_OWNER, "query");
    vn_xnode_t *x = vn_xnode_add(a, q, NS_DATA, "x");
    vn_xnode_set_attr(a, x, "type", "form");
    vn_xnode_t *t = vn_xnode_add(a, x, NS_DATA, "title");
    const char *title = vn_arena_printf(a, "Configuration of %s", r->jid);
    vn_xnode_add_text(a, t, title, strlen(title));
    field(a, x, "FORM_TYPE", "hidden", NULL, FORM_TYPE);
    field(a, x, "muc#roomconfig_roomname", "text-single", "Name", c->name);
    field(a, x, "muc#roomconfig_roomdesc", "text-single", "Description", c->desc);
    field(a, x, "muc#roomconfig_persistentroom", "boolean", "Persistent", b(c->persistent));
    field(a, x, "muc#roomconfig_publicroom", "boolean", "Listed publicly", b(c->is_public));
    field(a, x, "muc#roomconfig_membersonly", "boolean", "Members only", b(c->members_only));
    field(a, x, "muc#roomconfig_moderatedroom", "boolean", "Moderated", b(c->moderated));
    field(a, x, "muc#roomconfig_passwordprotectedroom", "boolean", "Password protected",
          b(c->password_protected));
    field(a, x, "muc#roomconfig_roomsecret", "text-private", "Password", c->secret);
    vn_xnode_t *f = field(a, x, "muc#roomconfig_maxusers", "list-single", "Maximum occupants",
                          vn_arena_printf(a, "%d", c->max_users));
    static const int sizes[] = {10, 20, 50, 100, 200, 500, 1000, 5000, 10000, 20000, 50000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        if (sizes[i] > r->svc->srv->cfg.muc_max_occupants) break;
        const char *v = vn_arena_printf(a, "%d", sizes[i]);
        option(a, f, v, v);
    }
    f = field(a, x, "muc#roomconfig_whois", "list-single", "Who may see real JIDs",
              c->whois_anyone ? "anyone" : "moderators");
    option(a, f, "Moderators", "moderators");
    option(a, f, "Anyone", "anyone");
    field(a, x, "muc#roomconfig_changesubject", "boolean", "Occupants may change the subject",
          b(c->change_subject));
    field(a, x, "muc#roomconfig_allowinvites", "boolean", "Occupants may invite",
          b(c->allow_invites));
    f = field(a, x, "muc#roomconfig_allowpm", "list-single", "Who may send private messages",
              c->allow_pm == 0   ? "none"
              : c->allow_pm == 2 ? "moderators"
                                 : "anyone");
    option(a, f, "Anyone", "anyone");
    option(a, f, "Moderators", "moderators");
    option(a, f, "Nobody", "none");
    field(a, x, "muc#roomconfig_enablelogging", "boolean", "Archive messages (XEP-0313)",
          b(c->logging));
    field(a, x, "mam", "boolean", "Archive messages (XEP-0313)", b(c->logging));
    field(a, x, "muc#roomconfig_historylength", "text-single", "History on join (messages)",
          vn_arena_printf(a, "%d", c->history_length));
    f = field(a, x, "muc#roomconfig_presencebroadcast", "list-multi",
              "Roles for which presence is broadcast", NULL);
    static const struct {
        muc_role_t role;
        const char *label;
    } pb[] = {{ROLE_MODERATOR, "Moderator"},
              {ROLE_PARTICIPANT, "Participant"},
              {ROLE_VISITOR, "Visitor"}};
    for (size_t i = 0; i < sizeof(pb) / sizeof(pb[0]); i++) {
        if (!((c->pres_broadcast >> pb[i].role) & 1)) continue;
        const char *name = muc_role_name(pb[i].role);
        vn_xnode_t *v = vn_xnode_add(a, f, NS_DATA, "value");
        vn_xnode_add_text(a, v, name, strlen(name));
    }
    for (size_t i = 0; i < sizeof(pb) / sizeof(pb[0]); i++)
        option(a, f, pb[i].label, muc_role_name(pb[i].role));
    vn_route(r->svc->srv, res);
}

static const char *first_value(vn_arena_t *a, const vn_xnode_t *f)
{
    vn_xnode_t *v = vn_xnode_child(f, NS_DATA, "value");
    return v ? vn_xnode_text(a, v) : "";
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "1") || !strcmp(v, "true"))
        *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_int(const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi) return -1;
    *out = (int)n;
    return 0;
}

static void set_text(char **dst, const char *v)
{
    free(*dst);
    *dst = vn_xstrdup(v);
}

/* Applies a submitted form to a copy of the configuration; NULL or the
 * error text (bad-request / not-acceptable). */
const char *muc_form_apply(muc_room_t *r, vn_arena_t *a, const vn_xnode_t *x, muc_config_t *c)
{
    const vn_config_t *g = &r->svc->srv->cfg;
    const char *old_secret = vn_arena_strdup(a, c->secret);
    int flag_given = -1; /* muc#roomconfig_passwordprotectedroom in this form */
    for (const vn_xnode_t *f = x->children; f; f = f->next) {
        if (!f->name || !f->ns || strcmp(f->ns, NS_DATA) || strcmp(f->name, "field")) continue;
        const char *var = vn_xnode_attr(f, "var");
        if (!var) continue;
        const char *v = first_value(a, f);
        int iv = 0;
        if (!strcmp(var, "FORM_TYPE")) {
            if (strcmp(v, FORM_TYPE)) return "wrong FORM_TYPE";
        } else if (!strcmp(var, "muc#roomconfig_roomname")) {
            if (strlen(v) > MUC_TEXT_MAX) return "room name too long";
            set_text(&c->name, v);
        } else if (!strcmp(var, "muc#roomconfig_roomdesc")) {
            if (strlen(v) > MUC_TEXT_MAX) return "description too long";
            set_text(&c->desc, v);
        } else if (!strcmp(var, "muc#roomconfig_roomsecret")) {
            if (strlen(v) > MUC_TEXT_MAX) return "password too long";
            set_text(&c->secret, v);
        } else if (!strcmp(var, "muc#roomconfig_maxusers")) {
            if (!strcmp(v, "none") || !*v)
                c->max_users = g->muc_max_occupants;
            else if (parse_int(v, 1, g->muc_max_occupants, &c->max_users) < 0)
                return "maxusers out of range";
        } else if (!strcmp(var, "muc#roomconfig_historylength")) {
            if (parse_int(v, 0, g->muc_max_history, &c->history_length) < 0)
                return "historylength out of range";
        } else if (!strcmp(var, "muc#roomconfig_whois")) {
            if (!strcmp(v, "anyone"))
                c->whois_anyone = 1;
            else if (!strcmp(v, "moderators"))
                c->whois_anyone = 0;
            else
                return "whois is moderators or anyone";
        } else if (!strcmp(var, "muc#roomconfig_presencebroadcast")) {
            /* list-multi: every <value/> is a role; none at all is allowed
             * (nobody's presence is broadcast). */
            int mask = 0;
            for (const vn_xnode_t *e = f->children; e; e = e->next) {
                if (!e->name || !e->ns || strcmp(e->ns, NS_DATA) || strcmp(e->name, "value"))
                    continue;
                muc_role_t role;
                if (muc_role_parse(vn_xnode_text(a, e), &role) < 0 || role == ROLE_NONE)
                    return "presencebroadcast values are moderator, participant or visitor";
                mask |= 1 << role;
            }
            c->pres_broadcast = mask;
        } else if (!strcmp(var, "muc#roomconfig_allowpm")) {
            if (!strcmp(v, "anyone") || !strcmp(v, "participants"))
                c->allow_pm = 1;
            else if (!strcmp(v, "moderators"))
                c->allow_pm = 2;
            else if (!strcmp(v, "none"))
                c->allow_pm = 0;
            else
                return "allowpm is anyone, moderators or none";
        } else {
            static const struct {
                const char *var;
                size_t off;
            } bools[] = {
                {"muc#roomconfig_persistentroom", offsetof(muc_config_t, persistent)},
                {"muc#roomconfig_publicroom", offsetof(muc_config_t, is_public)},
                {"muc#roomconfig_membersonly", offsetof(muc_config_t, members_only)},
                {"muc#roomconfig_moderatedroom", offsetof(muc_config_t, moderated)},
                {"muc#roomconfig_passwordprotectedroom",
                 offsetof(muc_config_t, password_protected)},
                {"muc#roomconfig_changesubject", offsetof(muc_config_t, change_subject)},
                {"muc#roomconfig_allowinvites", offsetof(muc_config_t, allow_invites)},
                {"muc#roomconfig_enablelogging", offsetof(muc_config_t, logging)},
                {"mam", offsetof(muc_config_t, logging)},
            };
            size_t i;
            for (i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
                if (!strcmp(var, bools[i].var)) break;
            if (i == sizeof(bools) / sizeof(bools[0])) continue; /* unknown: ignored */
            if (parse_bool(v, &iv) < 0) return "not a boolean";
            *(int *)((char *)c + bools[i].off) = iv;
            if (bools[i].off == offsetof(muc_config_t, password_protected)) flag_given = iv;
        }
    }
    /* The password (roomsecret) and the protection flag are two fields of
     * §10.2's form; an owner who types a password and leaves the flag as
     * the form showed it believes the room protected. So a room is
     * password-protected exactly when it has a password: a new password
     * turns protection on, removing it (without setting the flag) turns
     * it off, and a room left unprotected keeps no password. Only the
     * flag set on explicitly without a password is refused. */
    int changed = strcmp(c->secret, old_secret) != 0;
    if (changed && c->secret[0])
        c->password_protected = 1;
    else if (changed && flag_given != 1)
        c->password_protected = 0;
    if (!c->password_protected && c->secret[0]) set_text(&c->secret, "");
    if (c->password_protected && !c->secret[0]) return "a password-protected room needs a password";
    return NULL;
}

static void copy_config(muc_config_t *dst, const muc_config_t *src)
{
    *dst = *src;
    dst->name = vn_xstrdup(src->name);
    dst->desc = vn_xstrdup(src->desc);
    dst->secret = vn_xstrdup(src->secret);
}

/* §10.2 / §10.1.2: a submitted form (possibly empty: the instant room). */
static void submit(muc_room_t *r, vn_stanza_t *st, const vn_xnode_t *x)
{
    muc_config_t c;
    copy_config(&c, &r->cfg);
    const char *err = muc_form_apply(r, st->arena, x, &c);
    if (err) {
        muc_config_free(&c);
        muc_error(st, "modify", "bad-request", err);
        return;
    }
    muc_config_t old = r->cfg;
    r->cfg = c;
    int was_locked = r->locked;
    r->locked = 0;
    muc_hist_resize(r, c.history_length);
    /* Roles follow the new moderation setting for occupants without an
     * affiliation (§10.2). */
    if (old.moderated != c.moderated) {
        for (size_t i = 0; i < r->nslots; i++) {
            muc_occ_t *o = r->occ[i];
            if (!o || !muc_occ_is_main(o) || muc_aff_of(r, o->bare) != AFF_NONE) continue;
            muc_role_t want = muc_default_role(r, AFF_NONE);
            if (o->role != want && o->role != ROLE_MODERATOR) {
                muc_occ_set_role(o, want);
                muc_occ_broadcast(o, NULL, NULL, 0, NULL, NULL);
            }
        }
    }
    muc_room_save(r);
    vn_route(r->svc->srv, vn_stanza_iq_result(st));
    /* Occupants whose role stopped (or started) being broadcast leave (or
     * enter) the others' view. */
    if (old.pres_broadcast != c.pres_broadcast) {
        for (size_t i = 0; i < r->nslots; i++) {
            muc_occ_t *o = r->occ[i];
            if (o && muc_occ_is_main(o)) muc_occ_sync_shown(o);
        }
    }
    /* §10.2.1: tell the occupants what changed about privacy. */
    int codes[4], n = 0;
    if (!was_locked) {
        if (old.whois_anyone != c.whois_anyone) codes[n++] = c.whois_anyone ? 172 : 173;
        if (muc_room_archiving(r) != (old.persistent && old.logging))
            codes[n++] = muc_room_archiving(r) ? 170 : 171;
    }
    if (n) {
        vn_stanza_t *m = muc_stanza_new("message", r, NULL);
        vn_arena_t *a = m->arena;
        vn_xnode_set_attr(a, m->node, "type", "groupchat");
        vn_xnode_t *ux = vn_xnode_add(a, m->node, NS_MUC_USER, "x");
        for (int i = 0; i < n; i++) {
            vn_xnode_t *s = vn_xnode_add(a, ux, NS_MUC_USER, "status");
            vn_xnode_set_attr(a, s, "code", vn_arena_printf(a, "%d", codes[i]));
        }
        muc_broadcast(r, m, NULL, NULL);
    }
    /* §10.2: occupants that are no longer welcome in a members-only room. */
    if (c.members_only && !old.members_only) {
        for (size_t i = 0; i < r->nslots; i++) {
            muc_occ_t *o = r->occ[i];
            if (o && muc_aff_of(r, o->bare) < AFF_MEMBER) {
                int code = 322;
                muc_occ_remove(o, &code, 1, NULL, NULL);
            }
        }
    }
    muc_config_free(&old);
}

void muc_room_destroy(muc_room_t *r, const char *alt, const char *reason)
{
    muc_room_ref(r);
    /* §10.9: every occupant gets unavailable with <destroy/>. */
    for (size_t i = 0; i < r->nslots; i++) {
        muc_occ_t *o = r->occ[i];
        if (!o) continue;
        vn_stanza_t *p = muc_presence_of(o, 1, "unavailable", NULL, 0, NULL, NULL, NULL);
        vn_arena_t *a = p->arena;
        vn_xnode_t *x = vn_xnode_child(p->node, NS_MUC_USER, "x");
        vn_xnode_t *d = vn_xnode_add(a, x, NS_MUC_USER, "destroy");
        if (alt) vn_xnode_set_attr(a, d, "jid", vn_arena_strdup(a, alt));
        if (reason) {
            vn_xnode_t *rn = vn_xnode_add(a, d, NS_MUC_USER, "reason");
            vn_xnode_add_text(a, rn, reason, strlen(reason));
        }
        muc_send_to(o, p);
    }
    if (r->stored || r->cfg.persistent) muc_room_delete_stored(r);
    muc_fanout_drop(r);
    muc_room_remove(r);
    muc_room_unref(r);
}

void muc_on_owner_iq(muc_room_t *r, vn_stanza_t *st)
{
    char *bare = vn_jid_bare_str(&(vn_jid_t){st->from.local, st->from.domain, NULL}, st->arena);
    if (muc_aff_of(r, bare) != AFF_OWNER) { /* §10.1.3 */
        muc_error(st, "auth", "forbidden", "only owners configure the room");
        return;
    }
    vn_xnode_t *q = vn_xnode_child(st->node, NS_MUC_OWNER, "query");
    if (!strcmp(st->type, "get")) {
        send_form(r, st);
        return;
    }
    vn_xnode_t *destroy = vn_xnode_child(q, NS_MUC_OWNER, "destroy");
    if (destroy) {
        vn_xnode_t *rn = vn_xnode_child(destroy, NS_MUC_OWNER, "reason");
        const char *alt = vn_xnode_attr(destroy, "jid");
        vn_route(r->svc->srv, vn_stanza_iq_result(st));
        muc_room_destroy(r, alt, rn ? vn_xnode_text(st->arena, rn) : NULL);
        return;
    }
    vn_xnode_t *x = vn_xnode_child(q, NS_DATA, "x");
    const char *type = x ? vn_xnode_attr(x, "type") : NULL;
    if (x && type && !strcmp(type, "cancel")) {
        vn_route(r->svc->srv, vn_stanza_iq_result(st));
        /* §10.1.3: cancelling the initial configuration destroys the room. */
        if (r->locked) muc_room_destroy(r, NULL, NULL);
        return;
    }
    if (!x || !type || strcmp(type, "submit") != 0) {
        muc_error(st, "modify", "bad-request", "expected a data form of type submit");
        return;
    }
    submit(r, st, x);
}

/* XEP-0045 multi-user chat service on its own domain (cfg.muc_domain,
 * default conference.<first served domain>). The router hands this
 * component every stanza for the domain or a JID under it; here they are
 * sorted into the service's own (disco, §6) and the rooms'.
 *
 * See muc.h for the files and what each does. */
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mod/mam_query.h"
#include "mod/muc/muc.h"
#include "mod/roster.h"
#include "store/store_muc.h"
#include "xmpp/router.h"

#define DISCO_ITEMS_MAX 1000

muc_service_t *muc_svc;

void muc_error(vn_stanza_t *st, const char *type, const char *cond, const char *text)
{
    vn_route_error(muc_svc->srv, st, type, cond, text);
}

/* ---- disco (§6) ---- */

static vn_xnode_t *add_feature(vn_arena_t *a, vn_xnode_t *q, const char *var)
{
    vn_xnode_t *f = vn_xnode_add(a, q, NS_DISCO_INFO, "feature");
    vn_xnode_set_attr(a, f, "var", var);
    return f;
}

static void service_info(vn_stanza_t *st)
{
    vn_stanza_t *r = vn_stanza_iq_result(st);
    vn_arena_t *a = r->arena;
    vn_xnode_t *q = vn_xnode_add(a, r->node, NS_DISCO_INFO, "query");
    vn_xnode_t *id = vn_xnode_add(a, q, NS_DISCO_INFO, "identity");
    vn_xnode_set_attr(a, id, "category", "conference");
    vn_xnode_set_attr(a, id, "type", "text");
    vn_xnode_set_attr(a, id, "name", "Chatrooms");
    static const char *const features[] = {
        NS_DISCO_INFO,
        NS_DISCO_ITEMS,
        NS_MUC,
        "muc_persistent",
        "muc_temporary",
        "muc_public",
        "muc_hidden",
        "muc_open",
        "muc_membersonly",
        "muc_moderated",
        "muc_unmoderated",
        "muc_semianonymous",
        "muc_nonanonymous",
        "muc_passwordprotected",
        "muc_unsecured",
        VN_NS_MAM,
        VN_NS_SID,
        NS_PING,
    };
    for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
        add_feature(a, q, features[i]);
    vn_route(muc_svc->srv, r);
}

typedef struct items_job {
    vn_work_t work;
    vn_stanza_t *req;
    vn_buf_t rooms; /* "jid\0name\0" */
    int rc;
} items_job_t;

static void items_row(const vn_muc_room_row_t *row, void *ud)
{
    items_job_t *j = ud;
    vn_buf_append(&j->rooms, row->jid, strlen(row->jid) + 1);
    vn_buf_append(&j->rooms, row->name, strlen(row->name) + 1);
}

static void items_work(vn_work_t *w)
{
    items_job_t *j = (items_job_t *)w;
    vn_buf_reset(&j->rooms);
    j->rc =
        vn_store_muc_room_list(vn_store_of(w), muc_svc->domain, 1, DISCO_ITEMS_MAX, items_row, j);
}

typedef struct items_ctx {
    vn_arena_t *a;
    vn_xnode_t *q;
    vn_map_t *seen;
    int n;
} items_ctx_t;

static void add_item(items_ctx_t *c, const char *jid, const char *name)
{
    if (vn_map_get(c->seen, jid) || c->n >= DISCO_ITEMS_MAX) return;
    vn_map_put(c->seen, jid, (void *)1);
    vn_xnode_t *it = vn_xnode_add(c->a, c->q, NS_DISCO_ITEMS, "item");
    vn_xnode_set_attr(c->a, it, "jid", vn_arena_strdup(c->a, jid));
    if (name && *name) vn_xnode_set_attr(c->a, it, "name", vn_arena_strdup(c->a, name));
    c->n++;
}

static void live_room_cb(const char *key, void *value, void *ud)
{
    muc_room_t *r = value;
    if (r->exists && !r->locked && r->cfg.is_public) add_item(ud, key, r->cfg.name);
}

static void items_done(vn_work_t *w)
{
    items_job_t *j = (items_job_t *)w;
    if (muc_svc) {
        vn_stanza_t *r = vn_stanza_iq_result(j->req);
        items_ctx_t c = {r->arena, vn_xnode_add(r->arena, r->node, NS_DISCO_ITEMS, "query"),
                         vn_map_new(), 0};
        /* Rooms in memory have the current settings; stored ones the rest. */
        vn_map_each(muc_svc->rooms, live_room_cb, &c);
        for (size_t off = 0; off < j->rooms.len;) {
            const char *jid = j->rooms.data + off;
            off += strlen(jid) + 1;
            const char *name = j->rooms.data + off;
            off += strlen(name) + 1;
            muc_room_t *live = muc_room_find(jid);
            if (!live || !live->exists) add_item(&c, jid, name);
        }
        vn_map_free(c.seen);
        vn_route(muc_svc->srv, r);
    }
    vn_stanza_free(j->req);
    vn_buf_free(&j->rooms);
    free(j);
}

static void service_items(vn_stanza_t *st)
{
    items_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->req = vn_mam_request_copy(st);
    vn_store_submit(muc_svc->srv, &j->work, items_work, items_done);
}

static void room_info(muc_room_t *r, vn_stanza_t *st)
{
    const muc_config_t *c = &r->cfg;
    vn_stanza_t *res = vn_stanza_iq_result(st);
    vn_arena_t *a = res->arena;
    vn_xnode_t *q = vn_xnode_add(a, res->node, NS_DISCO_INFO, "query");
    vn_xnode_t *id = vn_xnode_add(a, q, NS_DISCO_INFO, "identity");
    vn_xnode_set_attr(a, id, "category", "conference");
    vn_xnode_set_attr(a, id, "type", "text");
    vn_xnode_set_attr(a, id, "name", *c->name ? vn_arena_strdup(a, c->name) : r->jid);
    const char *features[] = {
        NS_MUC,
        NS_REGISTER, /* §7.10 */
        VN_NS_SID,
        "http://jabber.org/protocol/muc#self-ping-optimization",
        c->is_public ? "muc_public" : "muc_hidden",
        c->members_only ? "muc_membersonly" : "muc_open",
        c->moderated ? "muc_moderated" : "muc_unmoderated",
        c->persistent ? "muc_persistent" : "muc_temporary",
        c->whois_anyone ? "muc_nonanonymous" : "muc_semianonymous",
        c->password_protected ? "muc_passwordprotected" : "muc_unsecured",
        muc_room_archiving(r) ? VN_NS_MAM : NULL,
    };
    for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
        if (features[i]) add_feature(a, q, features[i]);
    /* §6.4: the muc#roominfo extended information (XEP-0128). */
    vn_xnode_t *x = vn_xnode_add(a, q, NS_DATA, "x");
    vn_xnode_set_attr(a, x, "type", "result");
    const char *fields[][2] = {
        {"FORM_TYPE", "http://jabber.org/protocol/muc#roominfo"},
        {"muc#roominfo_description", c->desc},
        {"muc#roominfo_occupants", vn_arena_printf(a, "%zu", vn_map_size(r->by_nick))},
        {"muc#roomconfig_roomname", c->name},
        {"muc#roominfo_subject", r->subject ? r->subject : ""},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        vn_xnode_t *f = vn_xnode_add(a, x, NS_DATA, "field");
        vn_xnode_set_attr(a, f, "var", fields[i][0]);
        if (i == 0) vn_xnode_set_attr(a, f, "type", "hidden");
        vn_xnode_t *v = vn_xnode_add(a, f, NS_DATA, "value");
        vn_xnode_add_text(a, v, fields[i][1], strlen(fields[i][1]));
    }
    vn_route(muc_svc->srv, res);
}

/* ---- dispatch ---- */

static int is_payload(const vn_stanza_t *st, const char *ns)
{
    vn_xnode_t *p = vn_xnode_first_element(st->node);
    return p && p->ns && !strcmp(p->ns, ns);
}

static void room_iq(muc_room_t *r, vn_stanza_t *st)
{
    int request = !strcmp(st->type, "get") || !strcmp(st->type, "set");
    if (st->to.resource) {
        muc_on_occupant_iq(r, st);
        return;
    }
    if (!request) return;
    int get = !strcmp(st->type, "get");
    if (is_payload(st, NS_MUC_OWNER)) {
        muc_on_owner_iq(r, st);
    } else if (is_payload(st, NS_MUC_ADMIN)) {
        muc_on_admin_iq(r, st);
    } else if (is_payload(st, VN_NS_MAM)) {
        muc_on_mam_iq(r, st);
    } else if (is_payload(st, NS_REGISTER)) {
        muc_on_register_iq(r, st);
    } else if (get && is_payload(st, NS_DISCO_INFO)) {
        /* XEP-0030 §3.2: an answer for a node mirrors it; a node the room
         * does not have is item-not-found (never the room's own info). */
        const char *node = vn_xnode_attr(vn_xnode_first_element(st->node), "node");
        if (!node)
            room_info(r, st);
        else if (!strcmp(node, "x-roomuser-item"))
            muc_roomuser_item(r, st);
        else
            muc_error(st, "cancel", "item-not-found", NULL);
    } else if (get && is_payload(st, NS_DISCO_ITEMS) &&
               vn_xnode_attr(vn_xnode_first_element(st->node), "node")) {
        muc_error(st, "cancel", "item-not-found", NULL);
    } else if (get && is_payload(st, NS_DISCO_ITEMS)) {
        /* §6.5: occupants are not listed (privacy). */
        vn_stanza_t *res = vn_stanza_iq_result(st);
        vn_xnode_add(res->arena, res->node, NS_DISCO_ITEMS, "query");
        vn_route(muc_svc->srv, res);
    } else if (get && is_payload(st, NS_PING)) {
        vn_route(muc_svc->srv, vn_stanza_iq_result(st));
    } else {
        muc_error(st, "cancel", "service-unavailable", NULL);
    }
}

void muc_dispatch_room(muc_room_t *r, vn_stanza_t *st)
{
    muc_room_ref(r);
    if (!r->exists) {
        /* No such room: only a join creates one (§10.1.1). */
        if (st->kind == VN_PRESENCE && !st->type[0]) {
            muc_on_presence(r, st);
        } else if (st->kind == VN_IQ && st->to.resource) {
            if (!strcmp(st->type, "get") || !strcmp(st->type, "set"))
                muc_error(st, "cancel", "not-acceptable", "you are not in this room");
        } else if (st->kind != VN_PRESENCE) {
            muc_error(st, "cancel", "item-not-found", "no such room");
        }
        muc_room_maybe_gone(r);
    } else if (st->kind == VN_PRESENCE) {
        muc_on_presence(r, st);
    } else if (st->kind == VN_MESSAGE) {
        muc_on_message(r, st);
    } else if (st->kind == VN_IQ) {
        room_iq(r, st);
    }
    muc_room_unref(r);
}

static void on_stanza(vn_server_t *srv, vn_stanza_t *st, void *ud)
{
    (void)srv, (void)ud;
    if (!st->from.domain) return;
    if (!st->to.local) {
        /* The service itself. */
        if (st->kind != VN_IQ) {
            if (st->kind == VN_MESSAGE) muc_error(st, "cancel", "service-unavailable", NULL);
            return;
        }
        if (strcmp(st->type, "get") != 0 && strcmp(st->type, "set") != 0) return;
        int get = !strcmp(st->type, "get");
        int disco = is_payload(st, NS_DISCO_INFO) || is_payload(st, NS_DISCO_ITEMS);
        if (get && disco && vn_xnode_attr(vn_xnode_first_element(st->node), "node"))
            muc_error(st, "cancel", "item-not-found", NULL); /* XEP-0030: no such node */
        else if (get && is_payload(st, NS_DISCO_INFO))
            service_info(st);
        else if (get && is_payload(st, NS_DISCO_ITEMS))
            service_items(st);
        else if (get && is_payload(st, NS_PING))
            vn_route(muc_svc->srv, vn_stanza_iq_result(st));
        else
            muc_error(st, "cancel", "service-unavailable", NULL);
        return;
    }
    vn_jid_t bare = {st->to.local, st->to.domain, NULL};
    char *jid = vn_jid_bare_str(&bare, st->arena);
    muc_room_t *r = muc_room_find(jid);
    if (!r) {
        r = muc_room_new(jid);
        muc_room_load(r);
    }
    if (r->loading) {
        /* Kept in order until the room is known (room.c). */
        muc_room_defer(r, st);
        return;
    }
    muc_room_ref(r);
    muc_dispatch_room(r, st);
    /* A join that creates the room may wait for the quota lookup. */
    if (r->loading && !r->dead) muc_room_defer(r, st);
    muc_room_unref(r);
}

/* Runs last, after presence told the rooms the session went (which may
 * have removed its occupants): the references left go now, so that the
 * session can be freed (a server shutting down waits for that). */
static vn_result_t on_session_end(vn_server_t *srv, void *ctx)
{
    (void)srv;
    if (muc_svc) muc_session_end(ctx);
    return VN_PASS;
}

static const vn_hook_t hooks[] = {
    {VN_HOOK_SESSION_END, on_session_end, -1000},
    {VN_HOOK_COUNT, NULL, 0},
};

static int init(vn_server_t *srv)
{
    if (!srv->cfg.muc_enabled) return 1;
    char buf[1100];
    const char *domain = srv->cfg.muc_domain;
    if (!domain) {
        snprintf(buf, sizeof(buf), "conference.%s", srv->domains[0]);
        domain = buf;
    }
    muc_svc = vn_xcalloc(1, sizeof(*muc_svc));
    muc_svc->srv = srv;
    muc_svc->rooms = vn_map_new();
    muc_svc->created = vn_map_new();
    muc_svc->slot = vn_slot_alloc();
    if (muc_svc->slot < 0 || vn_component_add(srv, domain, "Chatrooms", on_stanza, NULL) < 0) {
        vn_map_free(muc_svc->rooms);
        vn_map_free(muc_svc->created);
        free(muc_svc);
        muc_svc = NULL;
        return -1;
    }
    const vn_component_t *c = NULL;
    char *norm = NULL;
    if (vn_jid_prep_domain(domain, strlen(domain), &norm, NULL) == 0) c = vn_component_find(norm);
    free(norm);
    muc_svc->domain = vn_xstrdup(c ? c->domain : domain);
    return 0;
}

static void fini(vn_server_t *srv)
{
    (void)srv;
    if (!muc_svc) return;
    vn_info("muc: %llu stanzas delivered by room broadcasts",
            (unsigned long long)muc_svc->deliveries);
    muc_rooms_free_all();
    vn_map_free(muc_svc->rooms);
    vn_map_free(muc_svc->created);
    free(muc_svc->domain);
    free(muc_svc);
    muc_svc = NULL;
}

static const vn_cfg_key_t config_keys[] = {
    {"muc", "enabled", VN_CFG_BOOL, offsetof(vn_config_t, muc_enabled), "true",
     .help = "XEP-0045 multi-user chat on its own domain."},
    {"muc", "domain", VN_CFG_STR, offsetof(vn_config_t, muc_domain), "",
     .help = "Default: conference.<first [server] domain>"},
    {"muc", "max_occupants", VN_CFG_INT, offsetof(vn_config_t, muc_max_occupants), "20000",
     .min = 1, .max = 1000000,
     .help = "Default: conference.<first [server] domain> Occupants per room: the default room "
             "size and the most an owner may set."},
    {"muc", "history_length", VN_CFG_INT, offsetof(vn_config_t, muc_history_length), "20", .min = 0,
     .max = 1000,
     .help = "Groupchat messages a room replays to a joining occupant (XEP-0045 §7.2.15) unless "
             "its owner sets otherwise, and the most an owner may set."},
    {"muc", "max_history", VN_CFG_INT, offsetof(vn_config_t, muc_max_history), "100", .min = 0,
     .max = 1000,
     .help = "Groupchat messages a room replays to a joining occupant (XEP-0045 §7.2.15) unless "
             "its owner sets otherwise, and the most an owner may set."},
    {"muc", "max_rooms_per_user", VN_CFG_INT, offsetof(vn_config_t, muc_max_rooms_per_user), "100",
     .min = 0, .max = 1000000,
     .help = "Rooms one user may have: persistent rooms it owns in storage plus temporary rooms it "
             "created that are still open (0: no limit)."},
    {NULL},
};

const vn_module_t vn_mod_muc = {
    .config_keys = config_keys,
    .name = "muc",
    .init = init,
    .fini = fini,
    .hooks = hooks,
};

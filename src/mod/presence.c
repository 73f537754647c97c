/* RFC 6121 §3 and §4: presence subscriptions and presence exchange.
 *
 * Subscription stanzas change rosters first (through storage, see
 * roster.h) and are routed or delivered afterwards, so what a client sees
 * always matches what is stored. Presence of local contacts is probed
 * directly from their sessions (no probe stanza on the wire). */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "mod/roster.h"
#include "xmpp/router.h"

static int presence_slot = -1; /* session slot: last available presence (vn_stanza_t*) */

enum {
    EFFECT_NONE = 0,
    EFFECT_ROUTE = 1,         /* route the subscription stanza on */
    EFFECT_DELIVER = 2,       /* deliver it to the owner's resources */
    EFFECT_AUTO_REPLY = 4,    /* answer 'subscribed' on the owner's behalf */
    EFFECT_SEND_PRESENCE = 8, /* send the owner's presence to the contact */
    EFFECT_SEND_UNAVAIL = 16, /* send unavailable from the owner to the contact */
};

static vn_stanza_t *last_presence(vn_session_t *s)
{
    return s->slot[presence_slot];
}

static void set_last_presence(vn_session_t *s, vn_stanza_t *p)
{
    vn_stanza_t *old = s->slot[presence_slot];
    if (old) vn_stanza_free(old);
    s->slot[presence_slot] = p;
}

static void set_to_str(vn_stanza_t *st, const char *to)
{
    vn_jid_t j;
    if (vn_jid_parse(to, strlen(to), &j, st->arena) == 0) vn_stanza_set_to(st, &j);
}

/* A stored presence addressed to one recipient: a copy, so that the
 * stored stanza's arena does not grow with every probe it answers. */
static vn_stanza_t *addressed_copy(const vn_stanza_t *p, const char *to)
{
    vn_stanza_t *c = stanza_clone(p);
    set_to_str(c, to);
    return c;
}

/* Sends the owner's current presence (each available resource) to `to`. */
static void send_presence_of(vn_server_t *srv, const char *owner, const char *to, int unavailable)
{
    vn_user_t *u = vn_router_user(srv, owner);
    if (!u) return;
    for (vn_session_t *s = u->sessions; s; s = s->next_of_user) {
        vn_stanza_t *p = last_presence(s);
        if (!s->available || !p) continue;
        if (unavailable) {
            vn_stanza_t *un = vn_stanza_new("presence");
            vn_xnode_set_attr(un->arena, un->node, "type", "unavailable");
            un->type = "unavailable";
            vn_stanza_set_from(un, &s->jid);
            set_to_str(un, to);
            vn_route(srv, un);
            vn_stanza_free(un);
        } else {
            vn_stanza_t *c = addressed_copy(p, to);
            vn_route(srv, c);
            vn_stanza_free(c);
        }
    }
}

/* The same, once the contact's storage jobs submitted so far have
 * completed. A subscription stanza routed to a local contact is handled
 * through storage (the contact's roster change, an ordered job of the
 * contact, then push and delivery); RFC 6121 §3.1.5 has the contact see
 * <presence type='subscribed'/> and its roster push before the presence
 * that follows it, and clients (profanity) rely on it. A storage barrier
 * on the contact (xmpp/server.h) comes after that change. */
typedef struct presence_after {
    vn_work_t work;
    vn_server_t *srv;
    char *owner;
    char *to;
    int unavailable;
} presence_after_t;

static void presence_after_done(vn_work_t *w)
{
    presence_after_t *pa = (presence_after_t *)w;
    send_presence_of(pa->srv, pa->owner, pa->to, pa->unavailable);
    free(pa->owner);
    free(pa->to);
    free(pa);
}

static void send_presence_after_storage(vn_server_t *srv, const char *owner, const char *to,
                                        int unavailable)
{
    presence_after_t *pa = vn_xcalloc(1, sizeof(*pa));
    pa->srv = srv;
    pa->owner = vn_xstrdup(owner);
    pa->to = vn_xstrdup(to);
    pa->unavailable = unavailable;
    vn_store_barrier(srv, to, &pa->work, presence_after_done);
}

void presence_unavailable_after_storage(vn_server_t *srv, const char *owner, const char *contact)
{
    send_presence_after_storage(srv, owner, contact, 1);
}

/* ---- subscription edits (run on the storage thread) ---- */

enum { OUT_SUBSCRIBE, OUT_SUBSCRIBED, OUT_UNSUBSCRIBE, OUT_UNSUBSCRIBED };
enum { IN_SUBSCRIBE, IN_SUBSCRIBED, IN_UNSUBSCRIBE, IN_UNSUBSCRIBED };

static int sub_kind(const char *type)
{
    if (!strcmp(type, "subscribe")) return 0;
    if (!strcmp(type, "subscribed")) return 1;
    if (!strcmp(type, "unsubscribe")) return 2;
    if (!strcmp(type, "unsubscribed")) return 3;
    return -1;
}

static void drop_from(vn_roster_item_t *it)
{
    if (it->subscription == VN_SUB_FROM) it->subscription = VN_SUB_NONE;
    if (it->subscription == VN_SUB_BOTH) it->subscription = VN_SUB_TO;
}

static void drop_to(vn_roster_item_t *it)
{
    if (it->subscription == VN_SUB_TO) it->subscription = VN_SUB_NONE;
    if (it->subscription == VN_SUB_BOTH) it->subscription = VN_SUB_FROM;
}

static void add_from(vn_roster_item_t *it)
{
    if (it->subscription == VN_SUB_NONE) it->subscription = VN_SUB_FROM;
    if (it->subscription == VN_SUB_TO) it->subscription = VN_SUB_BOTH;
}

static void add_to(vn_roster_item_t *it)
{
    if (it->subscription == VN_SUB_NONE) it->subscription = VN_SUB_TO;
    if (it->subscription == VN_SUB_FROM) it->subscription = VN_SUB_BOTH;
}

static void clear_pending_in(vn_roster_item_t *it)
{
    it->pending_in = 0;
    free(it->pending_stanza);
    it->pending_stanza = NULL;
}

/* The user (owner) sent a subscription stanza to the contact: §3.1.2,
 * §3.1.5, §3.2.2, §3.3.2. c->effects receives the effects. */
static int edit_outbound(roster_change_t *c, vn_roster_item_t *it, int exists)
{
    (void)exists;
    int kind = c->arg;
    c->effects = EFFECT_NONE;
    switch (kind) {
    case OUT_SUBSCRIBE:
        c->effects = EFFECT_ROUTE;
        if (roster_has_to(it) || (it->ask_out && it->in_roster)) return 0;
        it->ask_out = 1;
        it->in_roster = 1;
        return 1;
    case OUT_SUBSCRIBED:
        if (roster_has_from(it)) return 0;
        if (it->pending_in) {
            add_from(it);
            clear_pending_in(it);
            it->in_roster = 1;
            it->approved = 0;
            c->effects = EFFECT_ROUTE | EFFECT_SEND_PRESENCE;
            return 1;
        }
        /* §3.4: pre-approval. */
        if (it->approved) return 0;
        it->approved = 1;
        it->in_roster = 1;
        return 1;
    case OUT_UNSUBSCRIBE:
        c->effects = EFFECT_ROUTE;
        if (!roster_has_to(it) && !it->ask_out) return 0;
        drop_to(it);
        it->ask_out = 0;
        return it->in_roster || exists ? 1 : 0;
    case OUT_UNSUBSCRIBED:
        if (!roster_has_from(it) && !it->pending_in && !it->approved) return 0;
        c->effects = roster_has_from(it) ? (EFFECT_ROUTE | EFFECT_SEND_UNAVAIL) : EFFECT_ROUTE;
        drop_from(it);
        clear_pending_in(it);
        it->approved = 0;
        /* A row that existed only for the pending request goes away. */
        return it->in_roster ? 1 : 2;
    }
    return 0;
}

/* The contact (sender) sent a subscription stanza to the owner: §3.1.3,
 * §3.1.6, §3.2.3, §3.3.3. */
static int edit_inbound(roster_change_t *c, vn_roster_item_t *it, int exists)
{
    (void)exists;
    int kind = c->arg;
    c->effects = EFFECT_NONE;
    switch (kind) {
    case IN_SUBSCRIBE:
        if (roster_has_from(it)) {
            c->effects = EFFECT_AUTO_REPLY;
            return 0;
        }
        if (it->approved) {
            add_from(it);
            it->approved = 0;
            c->effects = EFFECT_AUTO_REPLY;
            return 1;
        }
        c->effects = EFFECT_DELIVER;
        it->pending_in = 1;
        free(it->pending_stanza);
        it->pending_stanza = c->arg_str ? vn_xstrdup(c->arg_str) : NULL;
        return 1;
    case IN_SUBSCRIBED:
        if (!it->ask_out) return 0;
        add_to(it);
        it->ask_out = 0;
        c->effects = EFFECT_DELIVER;
        return 1;
    case IN_UNSUBSCRIBE:
        if (!roster_has_from(it) && !it->pending_in) return 0;
        c->effects = roster_has_from(it) ? (EFFECT_DELIVER | EFFECT_SEND_UNAVAIL) : EFFECT_NONE;
        drop_from(it);
        clear_pending_in(it);
        return it->in_roster ? 1 : 2;
    case IN_UNSUBSCRIBED:
        if (!roster_has_to(it) && !it->ask_out) return 0;
        drop_to(it);
        it->ask_out = 0;
        c->effects = EFFECT_DELIVER;
        return 1;
    }
    return 0;
}

static void send_subscription(vn_server_t *srv, const char *from, const char *to, const char *type)
{
    vn_stanza_t *p = vn_stanza_new("presence");
    vn_xnode_set_attr(p->arena, p->node, "type", type);
    p->type = type;
    vn_jid_t f;
    if (vn_jid_parse(from, strlen(from), &f, p->arena) == 0) {
        vn_stanza_set_from(p, &f);
        set_to_str(p, to);
        vn_route(srv, p);
    }
    vn_stanza_free(p);
}

/* A subscription stanza from the owner that would have added a roster item
 * past [roster] max_items (roster.c over_limit): nothing was stored, so it
 * is not routed either (the contact would otherwise hold a state the
 * owner's roster does not show). The owner's resources get the presence
 * error (RFC 6120 §8.3) from the contact's bare JID. */
static void refuse_outbound(roster_change_t *c)
{
    /* (in c->stanza's arena, freed with it) */
    vn_stanza_t *err = vn_stanza_error_reply(c->stanza, "cancel", c->refused,
                                             "the roster has reached its size limit");
    vn_user_t *u = vn_router_user(c->srv, c->owner);
    if (!err) return;
    for (vn_session_t *s = u ? u->sessions : NULL; s; s = s->next_of_user)
        if (s->state == VN_SS_READY) vn_router_deliver(c->srv, s, err);
}

static void outbound_then(roster_change_t *c)
{
    if (c->rc < 0) return;
    if (c->refused) {
        refuse_outbound(c);
        return;
    }
    if (c->effects & EFFECT_ROUTE) vn_route(c->srv, c->stanza);
    if (c->effects & EFFECT_SEND_PRESENCE)
        send_presence_after_storage(c->srv, c->owner, c->contact, 0);
    if (c->effects & EFFECT_SEND_UNAVAIL)
        send_presence_after_storage(c->srv, c->owner, c->contact, 1);
}

static void inbound_then(roster_change_t *c)
{
    if (c->rc < 0) return; /* e.g. no such account: nothing to tell */
    if (c->refused) {
        /* [roster] max_pending requests from contacts not in the roster are
         * already waiting for the owner: the sender learns that this one
         * was not kept (and may ask again later). */
        vn_route_error(c->srv, c->stanza, "wait", c->refused,
                       "too many subscription requests are waiting for this account");
        return;
    }
    if (c->effects & EFFECT_DELIVER) {
        vn_user_t *u = vn_router_user(c->srv, c->owner);
        if (u) {
            set_to_str(c->stanza, c->owner);
            vn_router_broadcast(c->srv, u, c->stanza, 1);
        }
    }
    if (c->effects & EFFECT_AUTO_REPLY) {
        send_subscription(c->srv, c->owner, c->contact, "subscribed");
        send_presence_after_storage(c->srv, c->owner, c->contact, 0);
    }
    if (c->effects & EFFECT_SEND_UNAVAIL) send_presence_of(c->srv, c->owner, c->contact, 1);
}

/* ---- presence from the client (RFC 6121 §4.2 - §4.6) ---- */

typedef struct bcast_ctx {
    vn_server_t *srv;
    vn_stanza_t *p;
} bcast_ctx_t;

static void bcast_item(const char *k, void *v, void *ud)
{
    bcast_ctx_t *bc = ud;
    vn_roster_item_t *it = v;
    if (!roster_has_from(it)) return;
    set_to_str(bc->p, k);
    vn_route(bc->srv, bc->p);
}

static void to_own_resources(vn_server_t *srv, vn_session_t *s, vn_stanza_t *p)
{
    for (vn_session_t *o = s->user->sessions; o; o = o->next_of_user) {
        if (o->state != VN_SS_READY || !o->available) continue;
        set_to_str(p, o->full);
        vn_router_deliver(srv, o, p);
    }
}

typedef struct probe_ctx {
    vn_server_t *srv;
    vn_session_t *s;
} probe_ctx_t;

/* §4.3: the presence of the contacts the user is subscribed to. */
static void probe_item(const char *k, void *v, void *ud)
{
    probe_ctx_t *pc = ud;
    vn_roster_item_t *it = v;
    if (!roster_has_to(it)) return;
    vn_user_t *cu = vn_router_user(pc->srv, k);
    if (!cu) return;
    roster_t *cr = roster_of(cu);
    if (!roster_has_from(roster_find(cr, pc->s->bare))) return;
    for (vn_session_t *cs = cu->sessions; cs; cs = cs->next_of_user) {
        vn_stanza_t *p = last_presence(cs);
        if (!cs->available || !p) continue;
        vn_stanza_t *c = addressed_copy(p, pc->s->full);
        vn_router_deliver(pc->srv, pc->s, c);
        vn_stanza_free(c);
    }
}

typedef struct pending_ctx {
    vn_server_t *srv;
    vn_session_t *s;
} pending_ctx_t;

/* §3.1.3: subscription requests that arrived while the user was offline. */
static void pending_item(const char *k, void *v, void *ud)
{
    (void)k;
    pending_ctx_t *pc = ud;
    vn_roster_item_t *it = v;
    if (!it->pending_in || !it->pending_stanza) return;
    vn_session_send_stanza_raw(pc->s, it->pending_stanza, strlen(it->pending_stanza));
}

static void initial_presence(vn_server_t *srv, vn_session_t *s)
{
    roster_t *r = roster_of(s->user);
    /* Presence of the user's other resources (§4.2.2). */
    for (vn_session_t *o = s->user->sessions; o; o = o->next_of_user) {
        vn_stanza_t *p = last_presence(o);
        if (o == s || !o->available || !p) continue;
        vn_stanza_t *c = addressed_copy(p, s->full);
        vn_router_deliver(srv, s, c);
        vn_stanza_free(c);
    }
    if (r) {
        probe_ctx_t pc = {srv, s};
        vn_map_each(r->items, probe_item, &pc);
        pending_ctx_t pend = {srv, s};
        vn_map_each(r->items, pending_item, &pend);
    }
    vn_hook_run(srv, VN_HOOK_AVAILABLE, s);
}

static void remember_directed(vn_session_t *s, const char *to, int available);
static void unavailable_to_directed(vn_server_t *srv, vn_session_t *s);

static void broadcast(vn_server_t *srv, vn_session_t *s, vn_stanza_t *p)
{
    roster_t *r = roster_of(s->user);
    if (r) {
        bcast_ctx_t bc = {srv, p};
        vn_map_each(r->items, bcast_item, &bc);
    }
    to_own_resources(srv, s, p);
}

static vn_result_t from_client(vn_server_t *srv, void *ctx)
{
    vn_stanza_t *st = ctx;
    if (st->kind != VN_PRESENCE) return VN_PASS;
    vn_session_t *s = st->origin;
    int sk = sub_kind(st->type);
    if (sk >= 0) {
        if (!st->to.domain || !st->to.local) return VN_HANDLED;
        /* §3.1.2: subscription stanzas carry the bare JIDs. */
        vn_jid_t bare_from = {s->jid.local, s->jid.domain, NULL};
        vn_stanza_set_from(st, &bare_from);
        vn_jid_t bare_to = {st->to.local, st->to.domain, NULL};
        vn_stanza_set_to(st, &bare_to);
        char *contact = vn_jid_bare_str(&bare_to, st->arena);
        roster_change_t *c = roster_change_new(srv, s->bare, contact, edit_outbound);
        c->arg = sk;
        c->stanza = stanza_clone(st);
        c->then = outbound_then;
        roster_change_submit(c);
        return VN_HANDLED;
    }
    if (!strcmp(st->type, "probe")) return VN_HANDLED; /* servers probe, clients do not */
    if (st->to.domain) {
        /* §4.6 directed presence. */
        if (!strcmp(st->type, "") || !strcmp(st->type, "unavailable"))
            remember_directed(s, vn_jid_full_str(&st->to, st->arena), st->type[0] == '\0');
        return VN_PASS; /* routed as is */
    }
    if (!strcmp(st->type, "unavailable")) {
        if (!s->available) return VN_HANDLED;
        broadcast(srv, s, st);
        unavailable_to_directed(srv, s);
        s->available = 0;
        set_last_presence(s, NULL);
        return VN_HANDLED;
    }
    if (st->type[0] != '\0') return VN_HANDLED; /* error or unknown type */
    vn_xnode_t *prio = vn_xnode_child(st->node, NULL, "priority");
    int priority = 0;
    if (prio) {
        char *t = vn_xnode_text(st->arena, prio);
        priority = atoi(t);
        if (priority < -128) priority = -128;
        if (priority > 127) priority = 127;
    }
    int first = !s->available;
    s->priority = priority;
    s->available = 1;
    set_last_presence(s, stanza_clone(st));
    broadcast(srv, s, st);
    if (first) initial_presence(srv, s);
    return VN_HANDLED;
}

/* ---- directed presence bookkeeping (§4.6.3) ---- */

typedef struct directed {
    char **jids;
    int n;
} directed_t;

static int directed_slot = -1;

static void remember_directed(vn_session_t *s, const char *to, int available)
{
    directed_t *d = s->slot[directed_slot];
    if (!d) {
        if (!available) return;
        d = vn_xcalloc(1, sizeof(*d));
        s->slot[directed_slot] = d;
    }
    for (int i = 0; i < d->n; i++) {
        if (strcmp(d->jids[i], to) == 0) {
            if (!available) {
                free(d->jids[i]);
                d->jids[i] = d->jids[--d->n];
            }
            return;
        }
    }
    if (!available || d->n >= 256) return;
    d->jids = vn_xrealloc(d->jids, sizeof(char *) * (size_t)(d->n + 1));
    d->jids[d->n++] = vn_xstrdup(to);
}

static void unavailable_to_directed(vn_server_t *srv, vn_session_t *s)
{
    directed_t *d = s->slot[directed_slot];
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        vn_stanza_t *un = vn_stanza_new("presence");
        vn_xnode_set_attr(un->arena, un->node, "type", "unavailable");
        un->type = "unavailable";
        vn_stanza_set_from(un, &s->jid);
        set_to_str(un, d->jids[i]);
        vn_route(srv, un);
        vn_stanza_free(un);
        free(d->jids[i]);
    }
    free(d->jids);
    free(d);
    s->slot[directed_slot] = NULL;
}

static vn_result_t session_end(vn_server_t *srv, void *ctx)
{
    vn_session_t *s = ctx;
    if (s->available && s->user) {
        /* §4.5.2: the server generates unavailable presence for a session
         * that ends without sending it. */
        vn_stanza_t *un = vn_stanza_new("presence");
        vn_xnode_set_attr(un->arena, un->node, "type", "unavailable");
        un->type = "unavailable";
        vn_stanza_set_from(un, &s->jid);
        s->available = 0;
        roster_t *r = roster_of(s->user);
        if (r) {
            bcast_ctx_t bc = {srv, un};
            vn_map_each(r->items, bcast_item, &bc);
        }
        for (vn_session_t *o = s->user->sessions; o; o = o->next_of_user) {
            if (o == s || o->state != VN_SS_READY || !o->available) continue;
            set_to_str(un, o->full);
            vn_router_deliver(srv, o, un);
        }
        vn_stanza_free(un);
    }
    unavailable_to_directed(srv, s);
    set_last_presence(s, NULL);
    return VN_PASS;
}

/* ---- presence to a local account (§3 inbound, §4.3.2 probes) ---- */

static vn_result_t to_account(vn_server_t *srv, void *ctx)
{
    vn_stanza_t *st = ctx;
    if (st->kind != VN_PRESENCE) return VN_PASS;
    int sk = sub_kind(st->type);
    char *owner = vn_arena_printf(st->arena, "%s@%s", st->to.local, st->to.domain);
    if (sk >= 0) {
        if (!st->from.local) return VN_HANDLED;
        vn_jid_t bare_from = {st->from.local, st->from.domain, NULL};
        char *contact = vn_jid_bare_str(&bare_from, st->arena);
        roster_change_t *c = roster_change_new(srv, owner, contact, edit_inbound);
        c->arg = sk;
        c->stanza = stanza_clone(st);
        if (sk == IN_SUBSCRIBE) {
            vn_buf_t b = VN_BUF_INIT;
            vn_xnode_serialize(st->node, VN_NS_CLIENT, &b);
            c->arg_str = vn_xstrndup(b.data, b.len);
            vn_buf_free(&b);
        }
        c->then = inbound_then;
        roster_change_submit(c);
        return VN_HANDLED;
    }
    if (!strcmp(st->type, "probe")) {
        vn_user_t *u = vn_router_user(srv, owner);
        roster_t *r = roster_of(u);
        char *prober =
            vn_jid_bare_str(&(vn_jid_t){st->from.local, st->from.domain, NULL}, st->arena);
        if (u && roster_has_from(roster_find(r, prober)))
            send_presence_of(srv, owner, vn_jid_full_str(&st->from, st->arena), 0);
        return VN_HANDLED;
    }
    return VN_PASS;
}

static int init(vn_server_t *srv)
{
    (void)srv;
    presence_slot = vn_slot_alloc();
    directed_slot = vn_slot_alloc();
    return 0;
}

static const vn_hook_t hooks[] = {
    {VN_HOOK_FROM_CLIENT, from_client, 0},
    {VN_HOOK_TO_ACCOUNT, to_account, 0},
    {VN_HOOK_SESSION_END, session_end, 0},
    {VN_HOOK_COUNT, NULL, 0},
};

const vn_module_t vn_mod_presence = {
    .name = "presence",
    .hooks = hooks,
    .init = init,
};

/* XEP-0280: Message Carbons (urn:xmpp:carbons:2).
 *
 * A client enables carbons for its session (§4, §5); from then on it gets
 * a <sent/> copy of the IM messages its user's other resources send (§8)
 * and a <received/> copy of the IM messages addressed to its user that the
 * RFC 6121 rules deliver to another resource (§7). Which sessions get the
 * original is asked of the router (vn_router_message_targets), so the copy
 * rule and the delivery rule cannot drift apart.
 *
 * The flag lives in a session slot, so it moves with a resumed session
 * (XEP-0198) and dies with the session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "xmpp/module.h"
#include "xmpp/router.h"

#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_HINTS "urn:xmpp:hints"

static int carbons_slot = -1;
static void *const ENABLED = (void *)&carbons_slot; /* any non-NULL marker */

static int enabled(const vn_session_t *s)
{
    return s->state == VN_SS_READY && s->slot[carbons_slot] == ENABLED;
}

/* Payloads that make a type-'normal' message an IM message even without a
 * body (§6 leaves the exact set to the server): receipts, chat markers,
 * chat states and end-to-end encrypted payloads. */
static int im_payload(const vn_xnode_t *m)
{
    for (const vn_xnode_t *c = m->children; c; c = c->next) {
        if (!c->name || !c->ns) continue;
        if (!strcmp(c->ns, "urn:xmpp:receipts") || !strcmp(c->ns, "urn:xmpp:chat-markers:0") ||
            !strcmp(c->ns, "http://jabber.org/protocol/chatstates") ||
            !strcmp(c->name, "encrypted"))
            return 1;
    }
    return 0;
}

/* §6: eligible are chat messages and normal messages with a body (or an IM
 * payload); not errors, groupchat or headlines (MUC private messages are
 * type chat and stay eligible). §9 / XEP-0334: <private/> and <no-copy/>
 * opt out. A message that already is a carbon is never copied again. */
static int eligible(const vn_stanza_t *st)
{
    if (st->kind != VN_MESSAGE) return 0;
    const vn_xnode_t *m = st->node;
    if (!strcmp(st->type, "chat")) {
        /* eligible */
    } else if (!st->type[0] || !strcmp(st->type, "normal")) {
        if (!vn_xnode_child(m, VN_NS_CLIENT, "body") && !im_payload(m)) return 0;
    } else {
        return 0;
    }
    if (vn_xnode_child(m, NS_CARBONS, "private") || vn_xnode_child(m, NS_HINTS, "no-copy") ||
        vn_xnode_child(m, NS_CARBONS, "sent") || vn_xnode_child(m, NS_CARBONS, "received"))
        return 0;
    return 1;
}

/* The wrapper of §7 / §8: from the user's bare JID, same type, the original
 * inside <forwarded/> (XEP-0297). 'to' is set per recipient. */
static vn_stanza_t *wrap(const vn_stanza_t *orig, const char *dir, const vn_jid_t *owner)
{
    vn_stanza_t *c = vn_stanza_new("message");
    vn_arena_t *a = c->arena;
    if (orig->type[0]) {
        c->type = vn_arena_strdup(a, orig->type);
        vn_xnode_set_attr(a, c->node, "type", c->type);
    }
    vn_jid_t bare = {owner->local, owner->domain, NULL};
    vn_stanza_set_from(c, &bare);
    vn_xnode_t *w = vn_xnode_add(a, c->node, NS_CARBONS, dir);
    vn_xnode_t *f = vn_xnode_add(a, w, NS_FORWARD, "forwarded");
    vn_xnode_append(f, vn_xnode_copy(a, orig->node));
    return c;
}

/* One pass over an account's sessions: a copy (wrapped once, on first
 * need) to every Carbons-enabled session that is neither the origin nor
 * among the sessions that get the original. */
typedef struct copy_pass {
    const vn_stanza_t *st;
    const char *dir;        /* "sent" or "received" */
    const vn_jid_t *by;     /* the wrapper's 'from' */
    vn_session_t *skip;     /* the sender's session */
    vn_session_t **targets; /* get the original */
    int ntargets;
    vn_stanza_t *copy;
    int want; /* counting pass: someone would get a copy */
} copy_pass_t;

static int gets_copy(const copy_pass_t *cp, const vn_session_t *o)
{
    if (!enabled(o) || o == cp->skip) return 0;
    for (int i = 0; i < cp->ntargets; i++)
        if (cp->targets[i] == o) return 0;
    return 1;
}

static int visit_copy(vn_server_t *srv, vn_session_t *o, void *ud)
{
    copy_pass_t *cp = ud;
    if (!gets_copy(cp, o)) return 0;
    if (!cp->copy) cp->copy = wrap(cp->st, cp->dir, cp->by);
    vn_router_deliver_to(srv, o, cp->copy);
    return 0;
}

static int visit_want(vn_server_t *srv, vn_session_t *o, void *ud)
{
    (void)srv;
    copy_pass_t *cp = ud;
    cp->want = gets_copy(cp, o);
    return cp->want; /* stop at the first */
}

static int same_account(const vn_jid_t *a, const vn_jid_t *b)
{
    return a->local && b->local && !strcmp(a->local, b->local) && !strcmp(a->domain, b->domain);
}

/* ---- §4 / §5: enable and disable ---- */

static vn_result_t on_set(vn_server_t *srv, vn_stanza_t *st)
{
    vn_session_t *s = st->origin;
    /* §4.1 / §5.1: only the user's own client, addressed to its own account. */
    if (!s || !same_account(&st->from, &st->to) || st->to.resource) {
        vn_route_error(srv, st, "cancel", "not-allowed", NULL);
        return VN_HANDLED;
    }
    vn_xnode_t *p = vn_xnode_first_element(st->node);
    if (!strcmp(p->name, "enable")) {
        s->slot[carbons_slot] = ENABLED;
    } else if (!strcmp(p->name, "disable")) {
        s->slot[carbons_slot] = NULL;
    } else {
        vn_route_error(srv, st, "modify", "bad-request", NULL);
        return VN_HANDLED;
    }
    /* §10.1: enabling twice (or disabling twice) is not an error. */
    vn_debug("session %llu: carbons %sd", s->id, p->name);
    vn_stanza_t *r = vn_stanza_iq_result(st);
    vn_router_deliver(srv, s, r);
    return VN_HANDLED;
}

/* ---- §8: messages the user's clients send ---- */

static vn_result_t from_client(vn_server_t *srv, void *ctx)
{
    vn_stanza_t *st = ctx;
    if (st->kind != VN_MESSAGE || !st->origin) return VN_PASS;
    vn_session_t *s = st->origin;
    if (!s->user || !st->to.domain) return VN_PASS;
    /* A message to the user's own account is copied by the receiving side
     * (§7) to the resources that do not get it. */
    if (same_account(&st->to, &s->jid)) return VN_PASS;
    if (!eligible(st)) return VN_PASS;
    /* §8: every other Carbons-enabled resource, not the sender. */
    copy_pass_t cp = {.st = st, .dir = "sent", .by = &s->jid, .skip = s};
    vn_router_each_session(srv, s->user, visit_copy, &cp);
    if (cp.copy) vn_stanza_free(cp.copy);
    return VN_PASS;
}

/* ---- §7: messages to the user ---- */

static void unlink_child(vn_xnode_t *parent, vn_xnode_t *child)
{
    vn_xnode_t *prev = NULL;
    for (vn_xnode_t *c = parent->children; c; prev = c, c = c->next) {
        if (c != child) continue;
        if (prev)
            prev->next = c->next;
        else
            parent->children = c->next;
        if (parent->last_child == c) parent->last_child = prev;
        c->next = NULL;
        c->parent = NULL;
        return;
    }
}

static vn_result_t to_account(vn_server_t *srv, void *ctx)
{
    vn_stanza_t *st = ctx;
    if (st->kind != VN_MESSAGE) return VN_PASS;
    int copy = eligible(st);
    /* §9: the receiving server removes <private/> before delivery. */
    vn_xnode_t *priv;
    while ((priv = vn_xnode_child(st->node, NS_CARBONS, "private")) != NULL)
        unlink_child(st->node, priv);
    if (!copy) return VN_PASS;
    char bare[2100];
    snprintf(bare, sizeof(bare), "%s@%s", st->to.local, st->to.domain);
    vn_user_t *u = vn_router_user(srv, bare);
    if (!u) return VN_PASS;
    /* §7: not to the resources that get the original; nor back to the
     * session that sent a message to its own account. */
    copy_pass_t cp = {.st = st, .dir = "received", .by = &u->jid, .skip = st->origin};
    vn_router_each_session(srv, u, visit_want, &cp);
    if (!cp.want) return VN_PASS;
    vn_session_t *buf[16], **targets = buf;
    int n = vn_router_message_targets(srv, u, st, targets, 16);
    if (n > 16) {
        targets = vn_xmalloc(sizeof(*targets) * (size_t)n);
        n = vn_router_message_targets(srv, u, st, targets, n);
    }
    cp.targets = targets;
    cp.ntargets = n;
    vn_router_each_session(srv, u, visit_copy, &cp);
    if (cp.copy) vn_stanza_free(cp.copy);
    if (targets != buf) free(targets);
    return VN_PASS;
}

static int init(vn_server_t *srv)
{
    (void)srv;
    carbons_slot = vn_slot_alloc();
    return 0;
}

static const char *const features[] = {NS_CARBONS, NULL};
static const vn_iq_handler_t iq[] = {
    {"set", NS_CARBONS, VN_TARGET_ACCOUNT, on_set},
    {NULL, NULL, 0, NULL},
};
/* Low priority: blocking (and anything else that may refuse or rewrite a
 * message) runs first, so refused messages are never copied and copies
 * carry what the recipient gets. */
static const vn_hook_t hooks[] = {
    {VN_HOOK_FROM_CLIENT, from_client, -50},
    {VN_HOOK_TO_ACCOUNT, to_account, -50},
    {VN_HOOK_COUNT, NULL, 0},
};

const vn_module_t vn_mod_carbons = {
    .name = "carbons",
    .features = features,
    .iq = iq,
    .hooks = hooks,
    .init = init,
};

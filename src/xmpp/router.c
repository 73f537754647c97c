#include "xmpp/router.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"

int vn_router_init(vn_server_t *srv)
{
    srv->users = vn_map_new();
    return 0;
}

void vn_router_fini(vn_server_t *srv)
{
    vn_map_free(srv->users);
    srv->users = NULL;
}

vn_user_t *vn_router_user(vn_server_t *srv, const char *bare)
{
    return vn_map_get(srv->users, bare);
}

vn_user_t *vn_router_add(vn_server_t *srv, vn_session_t *s)
{
    vn_user_t *u = vn_map_get(srv->users, s->bare);
    if (!u) {
        u = vn_xcalloc(1, sizeof(*u));
        u->bare = vn_xstrdup(s->bare);
        u->jid.local = u->bare;
        u->jid.domain = strchr(u->bare, '@') + 1;
        /* jid.local must end at '@': keep a separate copy of the localpart. */
        u->jid.local = vn_xstrndup(u->bare, (size_t)(u->jid.domain - 1 - u->bare));
        vn_map_put(srv->users, u->bare, u);
    }
    s->user = u;
    s->next_of_user = u->sessions;
    u->sessions = s;
    s->in_router = 1;
    return u;
}

void vn_router_remove(vn_server_t *srv, vn_session_t *s)
{
    vn_user_t *u = s->user;
    if (!s->in_router || !u) return;
    for (vn_session_t **pp = &u->sessions; *pp; pp = &(*pp)->next_of_user) {
        if (*pp == s) {
            *pp = s->next_of_user;
            break;
        }
    }
    s->in_router = 0;
    s->user = NULL;
    s->next_of_user = NULL;
    if (!u->sessions) {
        vn_hook_run(srv, VN_HOOK_USER_GONE, u);
        vn_map_del(srv->users, u->bare);
        free(u->jid.local);
        free(u->bare);
        free(u);
    }
}

vn_session_t *vn_router_session(vn_server_t *srv, const vn_jid_t *full)
{
    if (!full->local || !full->resource) return NULL;
    char buf[3200];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "%s@%s", full->local, full->domain);
    if (n >= sizeof(buf)) return NULL;
    vn_user_t *u = vn_map_get(srv->users, buf);
    if (!u) return NULL;
    for (vn_session_t *s = u->sessions; s; s = s->next_of_user)
        if (strcmp(s->jid.resource, full->resource) == 0) return s;
    return NULL;
}

void vn_router_deliver(vn_server_t *srv, vn_session_t *s, vn_stanza_t *st)
{
    vn_delivery_t d = {s, st};
    if (vn_hook_run(srv, VN_HOOK_DELIVER, &d) != VN_PASS) return;
    vn_session_send(s, st->node);
}

void vn_route_error(vn_server_t *srv, vn_stanza_t *st, const char *type, const char *condition,
                    const char *text)
{
    vn_stanza_t *r = vn_stanza_error_reply(st, type, condition, text);
    if (!r) return;
    if (!r->to.domain) return;
    /* Errors from the server itself come from the addressed entity, or the
     * domain when nothing was addressed. */
    if (!r->from.domain) {
        vn_jid_t dom = {NULL, st->from.domain, NULL};
        if (st->origin) dom.domain = srv->domains[st->origin->domain_idx];
        vn_stanza_set_from(r, &dom);
    }
    vn_route(srv, r);
}

void vn_router_each_session(vn_server_t *srv, vn_user_t *u, vn_session_visit_fn fn, void *ud)
{
    for (vn_session_t *s = u ? u->sessions : NULL, *next; s; s = next) {
        next = s->next_of_user;
        if (fn(srv, s, ud)) return;
    }
}

void vn_router_deliver_to(vn_server_t *srv, vn_session_t *s, vn_stanza_t *st)
{
    const char *saved = vn_xnode_attr(st->node, "to");
    vn_jid_t saved_to = st->to;
    vn_xnode_set_attr(st->arena, st->node, "to", s->full);
    st->to = s->jid;
    vn_router_deliver(srv, s, st);
    /* The session's strings are not the stanza's to keep. */
    if (saved)
        vn_xnode_set_attr(st->arena, st->node, "to", saved);
    else
        vn_xnode_set_attr(st->arena, st->node, "to", NULL);
    st->to = saved_to;
}

int vn_router_broadcast(vn_server_t *srv, vn_user_t *u, vn_stanza_t *st, int include_negative)
{
    int n = 0;
    for (vn_session_t *s = u->sessions; s; s = s->next_of_user) {
        if (s->state != VN_SS_READY || !s->available) continue;
        if (!include_negative && s->priority < 0) continue;
        vn_router_deliver(srv, s, st);
        n++;
    }
    return n;
}

static void iq_to_handler(vn_server_t *srv, vn_stanza_t *st, int target)
{
    if (strcmp(st->type, "get") != 0 && strcmp(st->type, "set") != 0) return; /* results: drop */
    vn_xnode_t *payload = vn_xnode_first_element(st->node);
    const vn_iq_handler_t *h =
        payload && payload->ns ? vn_iq_find(st->type, payload->ns, target) : NULL;
    if (!h || h->fn(srv, st) == VN_PASS) {
        vn_route_error(srv, st, "cancel", "service-unavailable", NULL);
    }
}

/* RFC 6121 §8.5.3.1 / §8.5.2.1: the sessions a message is delivered to.
 * A full JID with a bound session gets exactly that session; otherwise
 * (bare JID, or no such resource, §8.5.3.2.1) errors and groupchat go
 * nowhere, headlines go to every available resource with a non-negative
 * priority, and normal/chat to the available ones with the highest
 * non-negative priority. The one place the rule is written (carbons use
 * it to know who gets the original). */
int vn_router_message_targets(vn_server_t *srv, vn_user_t *u, const vn_stanza_t *st,
                              vn_session_t **out, int max)
{
    if (st->to.resource) {
        vn_session_t *t = vn_router_session(srv, &st->to);
        if (t && t->state == VN_SS_READY) {
            if (max > 0) out[0] = t;
            return 1;
        }
    }
    if (!u || !strcmp(st->type, "error") || !strcmp(st->type, "groupchat")) return 0;
    int headline = !strcmp(st->type, "headline");
    int best = -1;
    for (vn_session_t *s = u->sessions; s; s = s->next_of_user)
        if (s->state == VN_SS_READY && s->available && s->priority >= 0 && s->priority > best)
            best = s->priority;
    if (best < 0) return 0;
    int n = 0;
    for (vn_session_t *s = u->sessions; s; s = s->next_of_user) {
        if (s->state == VN_SS_READY && s->available && s->priority >= 0 &&
            (headline || s->priority == best)) {
            if (n < max) out[n] = s;
            n++;
        }
    }
    return n;
}

static int deliver_message(vn_server_t *srv, vn_user_t *u, vn_stanza_t *st)
{
    vn_session_t *local_buf[16], **targets = local_buf;
    int n = vn_router_message_targets(srv, u, st, targets, 16);
    if (n > 16) {
        targets = vn_xmalloc(sizeof(*targets) * (size_t)n);
        n = vn_router_message_targets(srv, u, st, targets, n);
    }
    for (int i = 0; i < n; i++)
        vn_router_deliver(srv, targets[i], st);
    if (targets != local_buf) free(targets);
    return n;
}

void vn_router_to_account(vn_server_t *srv, vn_stanza_t *st)
{
    char bare[2100];
    snprintf(bare, sizeof(bare), "%s@%s", st->to.local, st->to.domain);
    vn_user_t *u = vn_map_get(srv->users, bare);
    vn_session_t *target = st->to.resource ? vn_router_session(srv, &st->to) : NULL;
    if (target && target->state != VN_SS_READY) target = NULL;

    switch (st->kind) {
    case VN_IQ:
        if (st->to.resource) {
            if (target)
                vn_router_deliver(srv, target, st);
            else if (!strcmp(st->type, "get") || !strcmp(st->type, "set"))
                vn_route_error(srv, st, "cancel", "service-unavailable", NULL);
            return;
        }
        iq_to_handler(srv, st, VN_TARGET_ACCOUNT);
        return;
    case VN_PRESENCE:
        if (st->to.resource) {
            if (target) vn_router_deliver(srv, target, st);
            return;
        }
        if (u) vn_router_broadcast(srv, u, st, 1);
        return;
    case VN_MESSAGE:
        /* RFC 6121 §8.5.3.2.1 (no such resource) and §8.5.2 (bare JID). */
        if (!target && !strcmp(st->type, "groupchat")) {
            vn_route_error(srv, st, "cancel", "service-unavailable", NULL);
            return;
        }
        /* A headline for a resource that is gone is ignored (§8.5.3.2.1). */
        if (!target && st->to.resource && !strcmp(st->type, "headline")) return;
        if (deliver_message(srv, u, st) > 0) return;
        if (!strcmp(st->type, "error") || !strcmp(st->type, "headline")) return;
        if (vn_hook_run(srv, VN_HOOK_UNDELIVERABLE, st) == VN_PASS)
            vn_route_error(srv, st, "cancel", "service-unavailable", NULL);
        return;
    default:
        return;
    }
}

void vn_route(vn_server_t *srv, vn_stanza_t *st)
{
    /* RFC 6120 §10.3: no 'to' means the sender's own account. */
    if (!st->to.domain) {
        if (!st->origin) return;
        vn_jid_t own = {st->from.local, st->from.domain, NULL};
        st->to = own;
        if (st->kind == VN_IQ) {
            iq_to_handler(srv, st, VN_TARGET_ACCOUNT);
            return;
        }
    }
    if (vn_server_domain_index(srv, st->to.domain) < 0) {
        const vn_component_t *c = vn_component_find(st->to.domain);
        if (c) {
            c->fn(srv, st, c->ud);
            return;
        }
        /* No server-to-server yet. */
        if (strcmp(st->type, "error") != 0 && st->kind != VN_PRESENCE)
            vn_route_error(srv, st, "cancel", "remote-server-not-found", NULL);
        return;
    }
    if (!st->to.local) {
        if (st->kind == VN_IQ) iq_to_handler(srv, st, VN_TARGET_SERVER);
        return;
    }
    if (vn_hook_run(srv, VN_HOOK_TO_ACCOUNT, st) != VN_PASS) return;
    vn_router_to_account(srv, st);
}

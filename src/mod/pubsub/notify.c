/* Event notifications (XEP-0060 §7.1.2, §7.2.2, §8.4.2; XEP-0163 §4.3):
 * building <message type='headline'><event/></message> and sending it to
 * one JID, to a PEP owner's interested resources and contacts, or to the
 * many subscribers of a service node in chunks (one chunk per loop turn,
 * so a node with a hundred thousand subscribers never stalls the loop). */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mod/pubsub/ps.h"
#include "mod/roster.h"
#include "xml/parser.h"
#include "xmpp/router.h"

#define FANOUT_CHUNK 500

/* ---- payload fragments ---- */

vn_xnode_t *ps_parse_payload(vn_arena_t *a, const char *xml, size_t len, int max_depth)
{
    return vn_xml_parse_element(a, xml, len, "urn:vestnik:fragment", max_depth);
}

/* ---- building events ---- */

static vn_stanza_t *event_shell(const char *from, vn_xnode_t **event)
{
    vn_stanza_t *m = vn_stanza_new("message");
    vn_xnode_set_attr(m->arena, m->node, "type", "headline");
    m->type = "headline";
    vn_jid_t f;
    if (vn_jid_parse(from, strlen(from), &f, m->arena) == 0) vn_stanza_set_from(m, &f);
    *event = vn_xnode_add(m->arena, m->node, NS_PUBSUB_EVENT, "event");
    return m;
}

vn_stanza_t *ps_event_items(const char *from, const char *node, const char *item_id,
                            const char *payload, size_t len, int retract, const char *publisher)
{
    vn_xnode_t *ev;
    vn_stanza_t *m = event_shell(from, &ev);
    vn_xnode_t *items = vn_xnode_add(m->arena, ev, NS_PUBSUB_EVENT, "items");
    vn_xnode_set_attr(m->arena, items, "node", vn_arena_strdup(m->arena, node));
    vn_xnode_t *it = vn_xnode_add(m->arena, items, NS_PUBSUB_EVENT, retract ? "retract" : "item");
    vn_xnode_set_attr(m->arena, it, "id", vn_arena_strdup(m->arena, item_id));
    if (publisher)
        vn_xnode_set_attr(m->arena, it, "publisher", vn_arena_strdup(m->arena, publisher));
    if (!retract && payload) {
        vn_xnode_t *p = ps_parse_payload(m->arena, payload, len, 256);
        if (p) vn_xnode_append(it, p);
    }
    return m;
}

vn_stanza_t *ps_event_simple(const char *from, const char *node, const char *what)
{
    vn_xnode_t *ev;
    vn_stanza_t *m = event_shell(from, &ev);
    vn_xnode_t *x = vn_xnode_add(m->arena, ev, NS_PUBSUB_EVENT, what);
    vn_xnode_set_attr(m->arena, x, "node", vn_arena_strdup(m->arena, node));
    return m;
}

void ps_event_style(vn_stanza_t *ev, const ps_config_t *c)
{
    if (c->notification_type != PS_NOTIFY_NORMAL) return; /* headline already */
    vn_xnode_set_attr(ev->arena, ev->node, "type", "normal");
    ev->type = "normal";
}

const char *ps_item_publisher(const ps_config_t *c, const char *publisher)
{
    return c->itemreply == PS_ITEMREPLY_PUBLISHER && publisher && *publisher ? publisher : NULL;
}

void ps_send_event(vn_server_t *srv, vn_stanza_t *ev, const char *to)
{
    vn_jid_t t;
    if (vn_jid_parse(to, strlen(to), &t, ev->arena) < 0) return;
    vn_stanza_set_to(ev, &t);
    vn_route(srv, ev);
}

/* ---- fan-out in chunks ---- */

typedef struct fanout {
    vn_timer_t timer;
    vn_server_t *srv;
    vn_stanza_t *ev;
    char **jids;
    int n, next;
    struct fanout *prev_f, *next_f;
} fanout_t;

static fanout_t *fanouts;

static void fanout_free(fanout_t *f)
{
    if (f->prev_f)
        f->prev_f->next_f = f->next_f;
    else
        fanouts = f->next_f;
    if (f->next_f) f->next_f->prev_f = f->prev_f;
    for (int i = 0; i < f->n; i++)
        free(f->jids[i]);
    free(f->jids);
    vn_stanza_free(f->ev);
    free(f);
}

static void fanout_step(vn_timer_t *t)
{
    fanout_t *f = t->cb_data;
    int end = f->next + FANOUT_CHUNK < f->n ? f->next + FANOUT_CHUNK : f->n;
    for (; f->next < end; f->next++)
        ps_send_event(f->srv, f->ev, f->jids[f->next]);
    if (f->next < f->n) {
        vn_timer_start(f->srv->loop, &f->timer, 0, fanout_step);
        return;
    }
    fanout_free(f);
}

void ps_fanout(vn_server_t *srv, vn_stanza_t *ev, char **jids, int n)
{
    if (n <= FANOUT_CHUNK) {
        for (int i = 0; i < n; i++) {
            ps_send_event(srv, ev, jids[i]);
            free(jids[i]);
        }
        free(jids);
        vn_stanza_free(ev);
        return;
    }
    fanout_t *f = vn_xcalloc(1, sizeof(*f));
    f->srv = srv;
    f->ev = ev;
    f->jids = jids;
    f->n = n;
    f->timer.cb_data = f;
    f->next_f = fanouts;
    if (fanouts) fanouts->prev_f = f;
    fanouts = f;
    fanout_step(&f->timer);
}

void ps_fanout_fini(vn_server_t *srv)
{
    while (fanouts) {
        vn_timer_stop(srv->loop, &fanouts->timer);
        fanout_free(fanouts);
    }
}

/* ---- PEP recipients (XEP-0163 §4.3.1) ---- */

/* The resources of a local account that want node (+notify). */
static void to_interested(vn_server_t *srv, vn_user_t *u, const char *node, vn_stanza_t *ev)
{
    for (vn_session_t *s = u->sessions; s; s = s->next_of_user) {
        if (s->state != VN_SS_READY || !s->available || !s->full) continue;
        if (!caps_wants(s->full, node)) continue;
        ps_send_event(srv, ev, s->full);
    }
}

void pep_notify(vn_server_t *srv, const char *owner, const char *node, char **contacts,
                int ncontacts, vn_stanza_t *ev)
{
    vn_user_t *u = vn_router_user(srv, owner);
    if (u) to_interested(srv, u, node, ev);
    for (int i = 0; i < ncontacts; i++) {
        if (!strcmp(contacts[i], owner)) continue;
        vn_user_t *cu = vn_router_user(srv, contacts[i]);
        if (cu) to_interested(srv, cu, node, ev);
        /* Remote contacts: no server-to-server yet. */
    }
}

/* ---- observers (pep.h) ---- */

typedef void (*observer_fn)(vn_server_t *srv, const char *owner, const char *node,
                            const char *item_id, const char *payload, size_t len, int retracted);

static struct {
    char *node;
    observer_fn fn;
} observers[16];
static int nobservers;

void vn_pep_observe(const char *node, observer_fn fn)
{
    if (nobservers == (int)(sizeof(observers) / sizeof(observers[0]))) {
        vn_error("pep: too many observers");
        return;
    }
    observers[nobservers].node = vn_xstrdup(node);
    observers[nobservers++].fn = fn;
}

void pep_observers_run(vn_server_t *srv, const char *owner, const char *node, const char *item_id,
                       const char *payload, size_t len, int retracted)
{
    for (int i = 0; i < nobservers; i++)
        if (!strcmp(observers[i].node, node))
            observers[i].fn(srv, owner, node, item_id, payload, len, retracted);
}

void pep_observers_fini(void)
{
    for (int i = 0; i < nobservers; i++)
        free(observers[i].node);
    nobservers = 0;
}

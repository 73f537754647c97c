/* The pubsub protocol (XEP-0060 §6-§8) for PEP (an account's bare JID,
 * XEP-0163) and the service (pubsub.DOMAIN): requests are checked here
 * for shape (§7.1.3.x bad-request conditions, payload limits), run as
 * storage jobs (ops.c), answered and notified from the job's completion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mod/pubsub/ps.h"
#include "mod/roster.h"
#include "xmpp/router.h"

void ps_make_id(char *out, size_t cap)
{
    static unsigned long long counter;
    unsigned char rnd[8];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t n = f ? fread(rnd, 1, sizeof(rnd), f) : 0;
    if (f) fclose(f);
    unsigned long long r = 0;
    for (size_t i = 0; i < n; i++)
        r = (r << 8) | rnd[i];
    snprintf(out, cap, "%llx%llx", r, ++counter);
}

static const char *service_of(vn_stanza_t *st, int pep)
{
    if (pep) return vn_arena_printf(st->arena, "%s@%s", st->to.local, st->to.domain);
    return st->to.domain;
}

static int is_admin(vn_server_t *srv, const char *bare)
{
    const char *list = srv->cfg.pubsub_admins;
    if (!list || !bare) return 0;
    size_t n = strlen(bare);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if ((size_t)(e - p) == n && !strncmp(p, bare, n)) return 1;
        p = e;
    }
    return 0;
}

static ps_job_t *job_for(vn_server_t *srv, vn_stanza_t *st, int pep, ps_op_t op, const char *node)
{
    const char *service = service_of(st, pep);
    ps_job_t *j = ps_job_new(srv, op, pep, service, node);
    if (st->from.local) {
        j->requester = vn_arena_printf(st->arena, "%s@%s", st->from.local, st->from.domain);
        j->requester = vn_xstrdup(j->requester);
    } else {
        j->requester = vn_xstrdup(st->from.domain);
    }
    j->requester_full = vn_xstrdup(vn_jid_full_str(&st->from, st->arena));
    j->requester_admin = pep ? !strcmp(j->requester, service) : is_admin(srv, j->requester);
    if (pep)
        j->create_ok = j->requester_admin;
    else
        j->create_ok =
            is_admin(srv, j->requester) || (srv->cfg.pubsub_create_local && st->from.local &&
                                            vn_server_domain_index(srv, st->from.domain) >= 0);
    j->req = stanza_clone(st);
    return j;
}

/* ---- completions ---- */

static vn_xnode_t *result_pubsub(vn_stanza_t **r, ps_job_t *j, const char *ns)
{
    *r = vn_stanza_iq_result(j->req);
    return vn_xnode_add((*r)->arena, (*r)->node, ns, "pubsub");
}

static void reply_empty(ps_job_t *j)
{
    vn_route(j->srv, vn_stanza_iq_result(j->req));
}

static const char *service_jid(ps_job_t *j)
{
    return j->service;
}

/* Sends ev to the job's recipients (PEP: owner's and contacts' interested
 * resources; service: subscribers). Takes ev. */
static void notify(ps_job_t *j, vn_stanza_t *ev)
{
    ps_event_style(ev, &j->cfg);
    if (j->pep) {
        pep_notify(j->srv, j->service, j->node, j->contacts, j->ncontacts, ev);
        vn_stanza_free(ev);
        return;
    }
    char **jids = j->contacts;
    int n = j->ncontacts;
    j->contacts = NULL;
    j->ncontacts = 0;
    ps_fanout(j->srv, ev, jids, n);
}

void ps_publish_then(ps_job_t *j)
{
    if (j->rc < 0) {
        ps_job_error_reply(j);
        if (j->api_done) j->api_done(j->ud, -1);
        return;
    }
    if (j->req) {
        vn_stanza_t *r;
        vn_xnode_t *ps = result_pubsub(&r, j, NS_PUBSUB);
        vn_xnode_t *p = vn_xnode_add(r->arena, ps, NS_PUBSUB, "publish");
        vn_xnode_set_attr(r->arena, p, "node", vn_arena_strdup(r->arena, j->node));
        vn_xnode_t *it = vn_xnode_add(r->arena, p, NS_PUBSUB, "item");
        vn_xnode_set_attr(r->arena, it, "id", vn_arena_strdup(r->arena, j->item_id));
        vn_route(j->srv, r);
    }
    if (j->cfg.deliver_notifications) {
        vn_stanza_t *ev = ps_event_items(service_jid(j), j->node, j->item_id,
                                         j->cfg.deliver_payloads ? j->payload : NULL, j->len, 0,
                                         ps_item_publisher(&j->cfg, j->requester));
        notify(j, ev);
    }
    if (j->pep && j->req)
        pep_observers_run(j->srv, j->service, j->node, j->item_id, j->payload, j->len, 0);
    if (j->api_done) j->api_done(j->ud, 0);
}

const char *ps_list_nodes_prepare(ps_job_t *j)
{
    const vn_xnode_t *q = vn_xnode_child(j->req->node, NS_DISCO_ITEMS, "query");
    return vn_rsm_parse(j->req->arena, q, &j->rsm);
}

/* disco#items of a PEP account or the service: the page of nodes the job
 * listed (pairs: node, name or NULL), all on the job's service JID. With
 * the XEP-0059 <set/> (UIDs: node names) when the client sent one, and
 * whenever the page is not everything: a client that did not ask for RSM
 * still gets a bounded answer and learns how to ask for the rest (the
 * responder may include <set/> unasked, XEP-0059 abstract and §2.1). */
void ps_disco_items_then(ps_job_t *j)
{
    if (j->rc < 0) {
        ps_job_error_reply(j);
        return;
    }
    vn_stanza_t *r = vn_stanza_iq_result(j->req);
    vn_xnode_t *q = vn_xnode_add(r->arena, r->node, NS_DISCO_ITEMS, "query");
    for (int i = 0; i < j->npairs; i++) {
        vn_xnode_t *it = vn_xnode_add(r->arena, q, NS_DISCO_ITEMS, "item");
        vn_xnode_set_attr(r->arena, it, "jid", vn_arena_strdup(r->arena, j->service));
        vn_xnode_set_attr(r->arena, it, "node", vn_arena_strdup(r->arena, j->pairs[i].a));
        if (j->pairs[i].b)
            vn_xnode_set_attr(r->arena, it, "name", vn_arena_strdup(r->arena, j->pairs[i].b));
    }
    if (j->rsm.present || (size_t)j->npairs < j->listed)
        vn_rsm_add_result(r->arena, q, j->npairs ? j->pairs[0].a : NULL, j->page_first,
                          j->npairs ? j->pairs[j->npairs - 1].a : NULL, j->listed);
    vn_route(j->srv, r);
}

void ps_items_then(ps_job_t *j)
{
    if (j->api_item) {
        if (j->rc < 0 || !j->nitems)
            j->api_item(j->ud, NULL, 0);
        else
            j->api_item(j->ud, j->items[j->nitems - 1].payload, j->items[j->nitems - 1].len);
        return;
    }
    if (j->api_items) {
        const char **ids = vn_xcalloc((size_t)j->nitems + 1, sizeof(char *));
        const char **pl = vn_xcalloc((size_t)j->nitems + 1, sizeof(char *));
        for (int i = 0; i < j->nitems; i++) {
            ids[i] = j->items[i].id;
            pl[i] = j->items[i].payload;
        }
        j->api_items(j->ud, j->rc < 0 ? 0 : j->nitems, ids, pl);
        free(ids);
        free(pl);
        return;
    }
    if (j->rc < 0) {
        ps_job_error_reply(j);
        return;
    }
    vn_stanza_t *r;
    vn_xnode_t *ps = result_pubsub(&r, j, NS_PUBSUB);
    vn_xnode_t *items = vn_xnode_add(r->arena, ps, NS_PUBSUB, "items");
    vn_xnode_set_attr(r->arena, items, "node", vn_arena_strdup(r->arena, j->node));
    for (int i = 0; i < j->nitems; i++) {
        vn_xnode_t *it = vn_xnode_add(r->arena, items, NS_PUBSUB, "item");
        vn_xnode_set_attr(r->arena, it, "id", vn_arena_strdup(r->arena, j->items[i].id));
        const char *pub = ps_item_publisher(&j->cfg, j->items[i].publisher);
        if (pub) vn_xnode_set_attr(r->arena, it, "publisher", vn_arena_strdup(r->arena, pub));
        vn_xnode_t *p = ps_parse_payload(r->arena, j->items[i].payload, j->items[i].len, 256);
        if (p) vn_xnode_append(it, p);
    }
    vn_route(j->srv, r);
}

void ps_retract_then(ps_job_t *j)
{
    if (j->rc < 0) {
        ps_job_error_reply(j);
        if (j->api_done) j->api_done(j->ud, -1);
        return;
    }
    if (j->req) reply_empty(j);
    if (j->evicted && (j->cfg.notify_retract || j->notify)) {
        vn_stanza_t *ev = ps_event_items(service_jid(j), j->node, j->item_id, NULL, 0, 1, NULL);
        notify(j, ev);
    }
    if (j->pep && j->req && j->evicted)
        pep_observers_run(j->srv, j->service, j->node, j->item_id, NULL, 0, 1);
    if (j->api_done) j->api_done(j->ud, 0);
}

static void create_then(ps_job_t *j)
{
    if (j->rc < 0) {
        ps_job_error_reply(j);
        return;
    }
    vn_stanza_t *r;
    vn_xnode_t *ps = result_pubsub(&r, j, NS_PUBSUB);
    vn_xnode_t *c = vn_xnode_add(r->arena, ps, NS_PUBSUB, "create");
    vn_xnode_set_attr(r->arena, c, "node", vn_arena_strdup(r->arena, j->node));
    vn_route(j->srv, r);
}

static void simple_event_then(ps_job_t *j, const char *what)
{
    if (j->rc < 0) {
        ps_job_error_reply(j);
        return;
    }
    reply_empty(j);
    if (what && (j->ncontacts || j->pep)) notify(j, ps_event_simple(service_jid(j), j->node, what));
    if (j->pep && what && !strcmp(what, "delete"))
        pep_observers_run(j->srv, j->service, j->node, NULL, NULL, 0, 1);
}

static void delete_then(ps_job_t *j)
{
    simple_event_then(j, j->cfg.notify_delete ? "delete" : NULL);
}

static void purge_then(ps_job_t *j)
{
    simple_event_then(j, j->cfg.notify_retract ? "purge" : NULL);
}

static void config_set_then(ps_job_t *j)
{
    simple_event_then(j, j->cfg.notify_config ? "configuration" : NULL);
}

static void config_get_then(ps_job_t *j)
{
    if (j->rc < 0) {
        ps_job_error_reply(j);
        return;
    }
    vn_stanza_t *r;
    vn_xnode_t *ps = result_pubsub(&r, j, NS_PUBSUB_OWNER);
    vn_xnode_t *c = vn_xnode_add(r->arena, ps, NS_PUBSUB_OWNER, "configure");
    vn_xnode_set_attr(r->arena, c, "node", vn_arena_strdup(r->arena, j->node));
    ps_config_to_form(r->arena, c, &j->cfg, "form", NS_PUBSUB_NODE_CONFIG);
    vn_route(j->srv, r);
}

static void subscribe_then(ps_job_t *j)
{
    if (j->rc < 0) {
        ps_job_error_reply(j);
        return;
    }
    vn_stanza_t *r;
    vn_xnode_t *ps = result_pubsub(&r, j, NS_PUBSUB);
    vn_xnode_t *s = vn_xnode_add(r->arena, ps, NS_PUBSUB, "subscription");
    vn_xnode_set_attr(r->arena, s, "node", vn_arena_strdup(r->arena, j->node));
    vn_xnode_set_attr(r->arena, s, "jid", vn_arena_strdup(r->arena, j->requester_full));
    vn_xnode_set_attr(r->arena, s, "subid", vn_arena_strdup(r->arena, j->subid));
    vn_xnode_set_attr(r->arena, s, "subscription", "subscribed");
    vn_route(j->srv, r);
    /* XEP-0060 §6.1.7: the last published item on subscription. */
    for (int i = 0; i < j->nitems; i++) {
        vn_stanza_t *ev =
            ps_event_items(service_jid(j), j->node, j->items[i].id, j->items[i].payload,
                           j->items[i].len, 0, ps_item_publisher(&j->cfg, j->items[i].publisher));
        ps_event_style(ev, &j->cfg);
        ps_send_event(j->srv, ev, j->requester_full);
        vn_stanza_free(ev);
    }
}

static void unsubscribe_then(ps_job_t *j)
{
    if (j->rc < 0)
        ps_job_error_reply(j);
    else
        reply_empty(j);
}

static void subscriptions_then(ps_job_t *j)
{
    if (j->rc < 0) {
        ps_job_error_reply(j);
        return;
    }
    vn_stanza_t *r;
    vn_xnode_t *ps = result_pubsub(&r, j, NS_PUBSUB);
    vn_xnode_t *subs = vn_xnode_add(r->arena, ps, NS_PUBSUB, "subscriptions");
    if (j->node) vn_xnode_set_attr(r->arena, subs, "node", vn_arena_strdup(r->arena, j->node));
    for (int i = 0; i < j->npairs; i++) {
        vn_xnode_t *s = vn_xnode_add(r->arena, subs, NS_PUBSUB, "subscription");
        vn_xnode_set_attr(r->arena, s, "node", vn_arena_strdup(r->arena, j->pairs[i].a));
        vn_xnode_set_attr(r->arena, s, "jid", vn_arena_strdup(r->arena, j->pairs[i].b));
        vn_xnode_set_attr(r->arena, s, "subid", vn_arena_strdup(r->arena, j->pairs[i].c));
        vn_xnode_set_attr(r->arena, s, "subscription", "subscribed");
    }
    vn_route(j->srv, r);
}

static void owner_list_then(ps_job_t *j)
{
    if (j->rc < 0) {
        ps_job_error_reply(j);
        return;
    }
    if (j->op == PS_OP_OWNER_AFFS_SET || j->op == PS_OP_OWNER_SUBS_SET) {
        reply_empty(j);
        return;
    }
    int affs = j->op == PS_OP_OWNER_AFFS_GET;
    vn_stanza_t *r;
    vn_xnode_t *ps = result_pubsub(&r, j, NS_PUBSUB_OWNER);
    vn_xnode_t *l =
        vn_xnode_add(r->arena, ps, NS_PUBSUB_OWNER, affs ? "affiliations" : "subscriptions");
    vn_xnode_set_attr(r->arena, l, "node", vn_arena_strdup(r->arena, j->node));
    for (int i = 0; i < j->npairs; i++) {
        vn_xnode_t *e =
            vn_xnode_add(r->arena, l, NS_PUBSUB_OWNER, affs ? "affiliation" : "subscription");
        vn_xnode_set_attr(r->arena, e, "jid", vn_arena_strdup(r->arena, j->pairs[i].a));
        vn_xnode_set_attr(r->arena, e, affs ? "affiliation" : "subscription",
                          vn_arena_strdup(r->arena, j->pairs[i].b));
        if (!affs && j->pairs[i].c)
            vn_xnode_set_attr(r->arena, e, "subid", vn_arena_strdup(r->arena, j->pairs[i].c));
    }
    vn_route(j->srv, r);
}

/* ---- requests ---- */

static vn_result_t bad(vn_server_t *srv, vn_stanza_t *st, const char *cond, const char *app)
{
    ps_error(srv, st, "modify", cond, app, NULL);
    return VN_HANDLED;
}

static vn_result_t unsupported(vn_server_t *srv, vn_stanza_t *st, const char *feature)
{
    ps_error(srv, st, "cancel", "feature-not-implemented", "unsupported", feature);
    return VN_HANDLED;
}

static int read_form(ps_job_t *j, const vn_xnode_t *parent)
{
    if (!parent || !vn_xnode_child(parent, NS_DATA, "x")) return 0;
    j->form_arena = vn_arena_new(1024);
    if (ps_form_read(j->form_arena, parent, &j->form) < 0) return -1;
    j->has_form = 1;
    return 0;
}

static vn_result_t do_publish(vn_server_t *srv, vn_stanza_t *st, int pep, const vn_xnode_t *ps,
                              const vn_xnode_t *pub)
{
    const char *node = vn_xnode_attr(pub, "node");
    if (!node || !*node) return bad(srv, st, "bad-request", "nodeid-required");
    const vn_xnode_t *item = vn_xnode_child(pub, NS_PUBSUB, "item");
    /* XEP-0060 §7.1.3.6: persistent nodes need an item with a payload. */
    if (!item) return bad(srv, st, "bad-request", "item-required");
    const vn_xnode_t *payload = NULL;
    int npayload = 0;
    for (const vn_xnode_t *c = item->children; c; c = c->next)
        if (c->name) {
            payload = c;
            npayload++;
        }
    if (npayload == 0) return bad(srv, st, "bad-request", "payload-required");
    if (npayload > 1) return bad(srv, st, "bad-request", "invalid-payload");
    vn_buf_t b = VN_BUF_INIT;
    vn_xnode_serialize(payload, NULL, &b);
    if (b.len > srv->cfg.pubsub_max_payload) {
        vn_buf_free(&b);
        ps_error(srv, st, "modify", "not-acceptable", "payload-too-big", NULL);
        return VN_HANDLED;
    }
    ps_job_t *j = job_for(srv, st, pep, PS_OP_PUBLISH, node);
    const char *id = vn_xnode_attr(item, "id");
    char gen[40];
    if (!id || !*id) {
        ps_make_id(gen, sizeof(gen));
        id = gen;
    }
    if (strlen(id) > 1024) {
        vn_buf_free(&b);
        j->then = NULL;
        ps_job_discard(j);
        return bad(srv, st, "bad-request", NULL);
    }
    j->item_id = vn_xstrdup(id);
    vn_buf_cstr(&b);
    j->payload = b.data ? b.data : vn_xstrdup("");
    j->len = b.len;
    const vn_xnode_t *po = vn_xnode_child(ps, NS_PUBSUB, "publish-options");
    if (read_form(j, po) < 0) {
        ps_job_discard(j);
        return bad(srv, st, "bad-request", "invalid-options");
    }
    /* §7.1.5: a FORM_TYPE other than publish-options is not ours to check. */
    if (j->has_form && j->form.form_type && strcmp(j->form.form_type, NS_PUBSUB_PUBLISH_OPTIONS)) {
        ps_job_discard(j);
        return bad(srv, st, "bad-request", "invalid-options");
    }
    j->then = ps_publish_then;
    ps_job_submit(j);
    return VN_HANDLED;
}

static vn_result_t do_items(vn_server_t *srv, vn_stanza_t *st, int pep, const vn_xnode_t *items)
{
    const char *node = vn_xnode_attr(items, "node");
    if (!node || !*node) return bad(srv, st, "bad-request", "nodeid-required");
    ps_job_t *j = job_for(srv, st, pep, PS_OP_ITEMS, node);
    const char *max = vn_xnode_attr(items, "max_items");
    if (max) {
        char *end;
        long n = strtol(max, &end, 10);
        if (end == max || *end || n < 1) {
            ps_job_discard(j);
            return bad(srv, st, "bad-request", NULL);
        }
        j->max_items_req = n > 100000 ? 100000 : (int)n;
    }
    int nids = 0;
    for (const vn_xnode_t *c = items->children; c; c = c->next)
        if (c->name && !strcmp(c->name, "item") && vn_xnode_attr(c, "id")) nids++;
    if (nids) {
        if (nids > 256) {
            ps_job_discard(j);
            return bad(srv, st, "bad-request", NULL);
        }
        j->ids = vn_xcalloc((size_t)nids + 1, sizeof(char *));
        int k = 0;
        for (const vn_xnode_t *c = items->children; c; c = c->next)
            if (c->name && !strcmp(c->name, "item") && vn_xnode_attr(c, "id"))
                j->ids[k++] = vn_xstrdup(vn_xnode_attr(c, "id"));
    }
    j->then = ps_items_then;
    ps_job_submit(j);
    return VN_HANDLED;
}

static vn_result_t do_retract(vn_server_t *srv, vn_stanza_t *st, int pep, const vn_xnode_t *rt)
{
    const char *node = vn_xnode_attr(rt, "node");
    if (!node || !*node) return bad(srv, st, "bad-request", "nodeid-required");
    const vn_xnode_t *item = vn_xnode_child(rt, NS_PUBSUB, "item");
    const char *id = item ? vn_xnode_attr(item, "id") : NULL;
    if (!id || !*id) return bad(srv, st, "bad-request", "item-required");
    ps_job_t *j = job_for(srv, st, pep, PS_OP_RETRACT, node);
    j->item_id = vn_xstrdup(id);
    const char *n = vn_xnode_attr(rt, "notify");
    j->notify = n && (!strcmp(n, "1") || !strcmp(n, "true"));
    j->then = ps_retract_then;
    ps_job_submit(j);
    return VN_HANDLED;
}

static vn_result_t do_create(vn_server_t *srv, vn_stanza_t *st, int pep, const vn_xnode_t *ps,
                             const vn_xnode_t *cr)
{
    const char *node = vn_xnode_attr(cr, "node");
    char gen[40];
    if (!node || !*node) {
        if (pep) return bad(srv, st, "not-acceptable", "nodeid-required");
        ps_make_id(gen, sizeof(gen)); /* §8.1.2 instant node */
        node = gen;
    }
    if (strlen(node) > 1024) return bad(srv, st, "bad-request", NULL);
    ps_job_t *j = job_for(srv, st, pep, PS_OP_CREATE, node);
    const vn_xnode_t *conf = vn_xnode_child(ps, NS_PUBSUB, "configure");
    if (read_form(j, conf) < 0) {
        ps_job_discard(j);
        return bad(srv, st, "bad-request", NULL);
    }
    j->then = create_then;
    ps_job_submit(j);
    return VN_HANDLED;
}

static vn_result_t do_subscribe(vn_server_t *srv, vn_stanza_t *st, int pep, const vn_xnode_t *sub,
                                int unsub)
{
    if (pep) return unsupported(srv, st, "subscribe");
    const char *node = vn_xnode_attr(sub, "node");
    if (!node || !*node) return bad(srv, st, "bad-request", "nodeid-required");
    const char *jid = vn_xnode_attr(sub, "jid");
    vn_jid_t jj;
    /* §6.1.3.1: the JID must be the requester's (bare or full). */
    if (!jid || vn_jid_parse(jid, strlen(jid), &jj, st->arena) < 0 ||
        !vn_jid_bare_equal(&jj, &st->from) ||
        (jj.resource && (!st->from.resource || strcmp(jj.resource, st->from.resource))))
        return bad(srv, st, "bad-request", "invalid-jid");
    ps_job_t *j = job_for(srv, st, pep, unsub ? PS_OP_UNSUBSCRIBE : PS_OP_SUBSCRIBE, node);
    free(j->requester_full);
    j->requester_full = vn_xstrdup(vn_jid_full_str(&jj, st->arena));
    char subid[40];
    ps_make_id(subid, sizeof(subid));
    j->item_id = vn_xstrdup(subid);
    j->then = unsub ? unsubscribe_then : subscribe_then;
    ps_job_submit(j);
    return VN_HANDLED;
}

static vn_result_t do_owner_node(vn_server_t *srv, vn_stanza_t *st, int pep, ps_op_t op,
                                 const vn_xnode_t *e, void (*then)(ps_job_t *))
{
    const char *node = vn_xnode_attr(e, "node");
    if (!node || !*node) return bad(srv, st, "bad-request", "nodeid-required");
    ps_job_t *j = job_for(srv, st, pep, op, node);
    if (op == PS_OP_CONFIG_SET) {
        if (read_form(j, e) < 0 || !j->has_form) {
            ps_job_discard(j);
            return bad(srv, st, "bad-request", NULL);
        }
        if (!j->form.type_submit) { /* type='cancel': nothing changes */
            ps_job_discard(j);
            vn_route(srv, vn_stanza_iq_result(st));
            return VN_HANDLED;
        }
    }
    if (op == PS_OP_OWNER_AFFS_SET || op == PS_OP_OWNER_SUBS_SET) {
        int affs = op == PS_OP_OWNER_AFFS_SET;
        for (const vn_xnode_t *c = e->children; c; c = c->next) {
            if (!c->name || strcmp(c->name, affs ? "affiliation" : "subscription")) continue;
            const char *jid = vn_xnode_attr(c, "jid");
            const char *v = vn_xnode_attr(c, affs ? "affiliation" : "subscription");
            vn_jid_t jj;
            if (!jid || !v || vn_jid_parse(jid, strlen(jid), &jj, st->arena) < 0 ||
                j->nin_pairs >= 256) {
                ps_job_discard(j);
                return bad(srv, st, "bad-request", NULL);
            }
            const char *norm =
                affs ? vn_jid_bare_str(&jj, st->arena) : vn_jid_full_str(&jj, st->arena);
            char subid[40];
            const char *sid = vn_xnode_attr(c, "subid");
            if (!affs && !sid) {
                ps_make_id(subid, sizeof(subid));
                sid = subid;
            }
            j->in_pairs = vn_xrealloc(j->in_pairs, sizeof(ps_pair_t) * (size_t)(j->nin_pairs + 1));
            j->in_pairs[j->nin_pairs++] =
                (ps_pair_t){vn_xstrdup(norm), vn_xstrdup(v), affs ? NULL : vn_xstrdup(sid)};
        }
    }
    j->then = then;
    ps_job_submit(j);
    return VN_HANDLED;
}

static vn_result_t owner_iq(vn_server_t *srv, vn_stanza_t *st, int pep, const vn_xnode_t *ps)
{
    int set = !strcmp(st->type, "set");
    const vn_xnode_t *e = vn_xnode_first_element(ps);
    if (!e) return bad(srv, st, "bad-request", NULL);
    if (!strcmp(e->name, "configure"))
        return do_owner_node(srv, st, pep, set ? PS_OP_CONFIG_SET : PS_OP_CONFIG_GET, e,
                             set ? config_set_then : config_get_then);
    if (!strcmp(e->name, "default") && !set) {
        ps_config_t c;
        ps_config_default(&c, pep);
        vn_stanza_t *r = vn_stanza_iq_result(st);
        vn_xnode_t *p = vn_xnode_add(r->arena, r->node, NS_PUBSUB_OWNER, "pubsub");
        vn_xnode_t *d = vn_xnode_add(r->arena, p, NS_PUBSUB_OWNER, "default");
        ps_config_to_form(r->arena, d, &c, "form", NS_PUBSUB_NODE_CONFIG);
        vn_route(srv, r);
        return VN_HANDLED;
    }
    if (!strcmp(e->name, "delete") && set)
        return do_owner_node(srv, st, pep, PS_OP_DELETE, e, delete_then);
    if (!strcmp(e->name, "purge") && set)
        return do_owner_node(srv, st, pep, PS_OP_PURGE, e, purge_then);
    if (!strcmp(e->name, "affiliations"))
        return do_owner_node(srv, st, pep, set ? PS_OP_OWNER_AFFS_SET : PS_OP_OWNER_AFFS_GET, e,
                             owner_list_then);
    if (!strcmp(e->name, "subscriptions")) {
        if (pep) return unsupported(srv, st, "manage-subscriptions");
        return do_owner_node(srv, st, pep, set ? PS_OP_OWNER_SUBS_SET : PS_OP_OWNER_SUBS_GET, e,
                             owner_list_then);
    }
    return bad(srv, st, "bad-request", NULL);
}

vn_result_t ps_handle_iq(vn_server_t *srv, vn_stanza_t *st, int pep)
{
    if (strcmp(st->type, "get") && strcmp(st->type, "set")) return VN_HANDLED;
    const vn_xnode_t *ps = vn_xnode_first_element(st->node);
    if (!ps || !ps->ns || strcmp(ps->name, "pubsub")) return bad(srv, st, "bad-request", NULL);
    if (!strcmp(ps->ns, NS_PUBSUB_OWNER)) return owner_iq(srv, st, pep, ps);
    if (strcmp(ps->ns, NS_PUBSUB)) return bad(srv, st, "bad-request", NULL);
    int set = !strcmp(st->type, "set");
    const vn_xnode_t *e = NULL;
    /* The verb is the first child other than the option forms. */
    for (const vn_xnode_t *c = ps->children; c; c = c->next) {
        if (!c->name || !strcmp(c->name, "publish-options") || !strcmp(c->name, "configure") ||
            !strcmp(c->name, "options"))
            continue;
        e = c;
        break;
    }
    if (!e) {
        const vn_xnode_t *conf = vn_xnode_child(ps, NS_PUBSUB, "configure");
        if (!conf) return bad(srv, st, "bad-request", NULL);
        return unsupported(srv, st, "config-node");
    }
    if (set) {
        if (!strcmp(e->name, "publish")) return do_publish(srv, st, pep, ps, e);
        if (!strcmp(e->name, "retract")) return do_retract(srv, st, pep, e);
        if (!strcmp(e->name, "create")) return do_create(srv, st, pep, ps, e);
        if (!strcmp(e->name, "subscribe")) return do_subscribe(srv, st, pep, e, 0);
        if (!strcmp(e->name, "unsubscribe")) return do_subscribe(srv, st, pep, e, 1);
        if (!strcmp(e->name, "options")) return unsupported(srv, st, "subscription-options");
    } else {
        if (!strcmp(e->name, "items")) return do_items(srv, st, pep, e);
        if (!strcmp(e->name, "subscriptions")) {
            if (pep) return unsupported(srv, st, "retrieve-subscriptions");
            ps_job_t *j = job_for(srv, st, pep, PS_OP_SUBSCRIPTIONS, vn_xnode_attr(e, "node"));
            j->then = subscriptions_then;
            ps_job_submit(j);
            return VN_HANDLED;
        }
        if (!strcmp(e->name, "affiliations")) return unsupported(srv, st, "retrieve-affiliations");
        if (!strcmp(e->name, "options")) return unsupported(srv, st, "subscription-options");
    }
    return bad(srv, st, "bad-request", NULL);
}

/* The pubsub service (XEP-0060) on its own domain (pubsub.DOMAIN by
 * default): broadcast channels with explicit subscriptions, affiliations
 * (owner, publisher, member, outcast) and persistent items. The protocol is
 * shared with PEP (iq.c, ops.c); this file is the component: addressing,
 * service discovery (§5) and anything that is not a pubsub IQ. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mod/pubsub/ps.h"
#include "mod/roster.h"
#include "xmpp/router.h"

static const char *const service_features[] = {
    NS_DISCO_INFO,
    NS_DISCO_ITEMS,
    NS_PUBSUB,
    NS_PUBSUB "#access-open",
    NS_PUBSUB "#access-whitelist",
    NS_PUBSUB "#auto-create",
    NS_PUBSUB "#config-node",
    NS_PUBSUB "#create-and-configure",
    NS_PUBSUB "#create-nodes",
    NS_PUBSUB "#delete-items",
    NS_PUBSUB "#delete-nodes",
    NS_PUBSUB "#instant-nodes",
    NS_PUBSUB "#item-ids",
    NS_PUBSUB "#last-published",
    NS_PUBSUB "#manage-subscriptions",
    NS_PUBSUB "#meta-data",
    NS_PUBSUB "#modify-affiliations",
    NS_PUBSUB "#multi-items",
    NS_PUBSUB "#persistent-items",
    NS_PUBSUB "#publish",
    NS_PUBSUB "#publish-options",
    NS_PUBSUB "#publisher-affiliation",
    NS_PUBSUB "#member-affiliation",
    NS_PUBSUB "#outcast-affiliation",
    NS_PUBSUB "#purge-nodes",
    NS_PUBSUB "#retract-items",
    NS_PUBSUB "#retrieve-default",
    NS_PUBSUB "#retrieve-items",
    NS_PUBSUB "#retrieve-subscriptions",
    NS_PUBSUB "#subscribe",
    VN_NS_RSM, /* disco#items is paged (XEP-0059 §3) */
    NULL,
};

/* §5.3: a node's identity and meta-data. */
static void node_info_then(ps_job_t *j)
{
    if (j->rc < 0) {
        ps_job_error_reply(j);
        return;
    }
    vn_stanza_t *r = vn_stanza_iq_result(j->req);
    vn_xnode_t *q = vn_xnode_add(r->arena, r->node, NS_DISCO_INFO, "query");
    vn_xnode_set_attr(r->arena, q, "node", vn_arena_strdup(r->arena, j->node));
    vn_xnode_t *id = vn_xnode_add(r->arena, q, NS_DISCO_INFO, "identity");
    vn_xnode_set_attr(r->arena, id, "category", "pubsub");
    vn_xnode_set_attr(r->arena, id, "type", "leaf");
    vn_xnode_t *f = vn_xnode_add(r->arena, q, NS_DISCO_INFO, "feature");
    vn_xnode_set_attr(r->arena, f, "var", NS_PUBSUB);
    ps_config_to_form(r->arena, q, &j->cfg, "result", NS_PUBSUB "#meta-data");
    vn_route(j->srv, r);
}

static ps_job_t *disco_job(vn_server_t *srv, vn_stanza_t *st, ps_op_t op, const char *node)
{
    ps_job_t *j = ps_job_new(srv, op, 0, st->to.domain, node);
    j->requester = vn_xstrdup(
        st->from.local
            ? vn_jid_bare_str(&(vn_jid_t){st->from.local, st->from.domain, NULL}, st->arena)
            : st->from.domain);
    j->requester_full = vn_xstrdup(vn_jid_full_str(&st->from, st->arena));
    j->req = stanza_clone(st);
    return j;
}

static void disco(vn_server_t *srv, vn_stanza_t *st, const vn_xnode_t *q)
{
    const char *node = vn_xnode_attr(q, "node");
    int info = !strcmp(q->ns, NS_DISCO_INFO);
    if (node) {
        if (!info) { /* leaf nodes have no items to browse as disco items here */
            vn_stanza_t *r = vn_stanza_iq_result(st);
            vn_xnode_t *rq = vn_xnode_add(r->arena, r->node, NS_DISCO_ITEMS, "query");
            vn_xnode_set_attr(r->arena, rq, "node", node);
            vn_route(srv, r);
            return;
        }
        ps_job_t *j = disco_job(srv, st, PS_OP_NODE_INFO, node);
        j->then = node_info_then;
        ps_job_submit(j);
        return;
    }
    if (!info) {
        ps_job_t *j = disco_job(srv, st, PS_OP_LIST_NODES, NULL);
        const char *err = ps_list_nodes_prepare(j);
        if (err) {
            ps_job_discard(j);
            vn_route_error(srv, st, "modify", "bad-request", err);
            return;
        }
        j->then = ps_disco_items_then;
        ps_job_submit(j);
        return;
    }
    vn_stanza_t *r = vn_stanza_iq_result(st);
    vn_xnode_t *rq = vn_xnode_add(r->arena, r->node, NS_DISCO_INFO, "query");
    vn_xnode_t *id = vn_xnode_add(r->arena, rq, NS_DISCO_INFO, "identity");
    vn_xnode_set_attr(r->arena, id, "category", "pubsub");
    vn_xnode_set_attr(r->arena, id, "type", "service");
    vn_xnode_set_attr(r->arena, id, "name", "vestnik channels");
    for (const char *const *f = service_features; *f; f++) {
        vn_xnode_t *fe = vn_xnode_add(r->arena, rq, NS_DISCO_INFO, "feature");
        vn_xnode_set_attr(r->arena, fe, "var", *f);
    }
    vn_route(srv, r);
}

static void on_stanza(vn_server_t *srv, vn_stanza_t *st, void *ud)
{
    (void)ud;
    if (!strcmp(st->type, "error")) return;
    if (st->kind == VN_PRESENCE) return; /* no presence-based delivery */
    if (st->kind != VN_IQ) {
        vn_route_error(srv, st, "cancel", "service-unavailable", NULL);
        return;
    }
    if (strcmp(st->type, "get") && strcmp(st->type, "set")) return;
    if (st->to.local || st->to.resource) {
        vn_route_error(srv, st, "cancel", "item-not-found", NULL);
        return;
    }
    const vn_xnode_t *q = vn_xnode_first_element(st->node);
    if (!q || !q->ns) {
        vn_route_error(srv, st, "modify", "bad-request", NULL);
        return;
    }
    if ((!strcmp(q->ns, NS_DISCO_INFO) || !strcmp(q->ns, NS_DISCO_ITEMS)) &&
        !strcmp(st->type, "get")) {
        disco(srv, st, q);
        return;
    }
    if (!strcmp(q->ns, NS_PUBSUB) || !strcmp(q->ns, NS_PUBSUB_OWNER)) {
        ps_handle_iq(srv, st, 0);
        return;
    }
    vn_route_error(srv, st, "cancel", "service-unavailable", NULL);
}

static int init(vn_server_t *srv)
{
    if (!srv->cfg.pubsub_enabled) return 1;
    char buf[1100];
    const char *domain = srv->cfg.pubsub_domain;
    if (!domain) {
        snprintf(buf, sizeof(buf), "pubsub.%s", srv->domains[0]);
        domain = buf;
    }
    return vn_component_add(srv, domain, "Publish-subscribe", on_stanza, NULL) < 0 ? -1 : 0;
}

static const vn_cfg_key_t config_keys[] = {
    {"pubsub", "enabled", VN_CFG_BOOL, offsetof(vn_config_t, pubsub_enabled), "true",
     .help = "XEP-0060 publish-subscribe service for broadcast channels. PEP (XEP-0163) on every "
             "account is always on: end-to-end encryption (OMEMO) depends on it."},
    {"pubsub", "domain", VN_CFG_STR, offsetof(vn_config_t, pubsub_domain), "",
     .help = "Default: pubsub.<first [server] domain>"},
    {"pubsub", "max_payload", VN_CFG_SIZE, offsetof(vn_config_t, pubsub_max_payload), "65536",
     .min = 256, .max = 16LL << 20,
     .help = "Default: pubsub.<first [server] domain> Largest item payload in bytes (PEP and "
             "service); bigger publishes get <not-acceptable/> with <payload-too-big/>."},
    {"pubsub", "max_items", VN_CFG_INT, offsetof(vn_config_t, pubsub_max_items), "256", .min = 1,
     .max = 100000,
     .help = "Items a node keeps when its pubsub#max_items is \"max\" (and the cap for any number "
             "asked for)."},
    {"pubsub", "max_nodes", VN_CFG_INT, offsetof(vn_config_t, pubsub_max_nodes), "100", .min = 1,
     .max = 100000, .help = "PEP nodes per account."},
    {"pubsub", "service_max_nodes", VN_CFG_INT, offsetof(vn_config_t, pubsub_service_nodes),
     "100000", .min = 1, .max = 10000000, .help = "Nodes on the pubsub service."},
    {"pubsub", "service_max_nodes_per_account", VN_CFG_INT,
     offsetof(vn_config_t, pubsub_service_nodes_per_account), "100", .min = 0, .max = 10000000,
     .help = "Service nodes one account may have created (and not deleted); one more gets "
             "<not-allowed/> with <max-nodes-exceeded/>. 0: only the service-wide cap applies. "
             "Admins are not limited."},
    {"pubsub", "disco_max_items", VN_CFG_INT, offsetof(vn_config_t, pubsub_disco_max_items), "100",
     .min = 1, .max = 100000,
     .help = "Most items in one disco#items answer of the service or of a PEP account; clients "
             "page through the rest with XEP-0059 (<set/> with <after/>)."},
    {"pubsub", "create", VN_CFG_CHOICE, offsetof(vn_config_t, pubsub_create_local), "local",
     .choices = "local=1,admins=0",
     .help = "Who may create service nodes: local (any user of a served domain) or admins (only "
             "the JIDs below)."},
    {"pubsub", "admins", VN_CFG_STR, offsetof(vn_config_t, pubsub_admins), "",
     .help = "Comma-separated bare JIDs that may create nodes and own every node."},
    {NULL},
};

const vn_module_t vn_mod_pubsub = {
    .config_keys = config_keys,
    .name = "pubsub",
    .init = init,
};

/* XEP-0030: Service Discovery. The server lists exactly the features its
 * modules registered; an account answers as an account (RFC 6121 / XEP-0030
 * §3.2: the server replies on behalf of a bare JID). */
#include <string.h>

#include "mod/pep.h"
#include "xmpp/module.h"
#include "xmpp/router.h"

#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"

typedef struct feat_ctx {
    vn_arena_t *a;
    vn_xnode_t *q;
} feat_ctx_t;

static void add_feature(const char *feature, void *ud)
{
    feat_ctx_t *c = ud;
    vn_xnode_t *f = vn_xnode_add(c->a, c->q, NS_INFO, "feature");
    vn_xnode_set_attr(c->a, f, "var", feature);
}

static vn_result_t on_info(vn_server_t *srv, vn_stanza_t *st)
{
    vn_xnode_t *req = vn_xnode_child(st->node, NS_INFO, "query");
    const char *node = req ? vn_xnode_attr(req, "node") : NULL;
    if (node) {
        vn_route_error(srv, st, "cancel", "item-not-found", NULL);
        return VN_HANDLED;
    }
    vn_stanza_t *r = vn_stanza_iq_result(st);
    vn_xnode_t *q = vn_xnode_add(r->arena, r->node, NS_INFO, "query");
    vn_xnode_t *id = vn_xnode_add(r->arena, q, NS_INFO, "identity");
    if (st->to.local) {
        /* XEP-0030 §3.1: an account is an account/registered identity. Only
         * the account itself learns more (no presence leak to others). */
        vn_xnode_set_attr(r->arena, id, "category", "account");
        vn_xnode_set_attr(r->arena, id, "type", "registered");
        /* XEP-0163 §6.1: every account is a PEP service. */
        vn_xnode_t *pep = vn_xnode_add(r->arena, q, NS_INFO, "identity");
        vn_xnode_set_attr(r->arena, pep, "category", "pubsub");
        vn_xnode_set_attr(r->arena, pep, "type", "pep");
        add_feature(NS_INFO, &(feat_ctx_t){r->arena, q});
        add_feature(NS_ITEMS, &(feat_ctx_t){r->arena, q});
        vn_account_features_each(add_feature, &(feat_ctx_t){r->arena, q});
    } else {
        vn_xnode_set_attr(r->arena, id, "category", "server");
        vn_xnode_set_attr(r->arena, id, "type", "im");
        vn_xnode_set_attr(r->arena, id, "name", "vestnik");
        vn_features_each(add_feature, &(feat_ctx_t){r->arena, q});
        vn_server_info_each(srv, r->arena, q); /* XEP-0128 */
    }
    vn_route(srv, r);
    return VN_HANDLED;
}

static void add_service(const vn_component_t *c, void *ud)
{
    feat_ctx_t *f = ud;
    vn_xnode_t *it = vn_xnode_add(f->a, f->q, NS_ITEMS, "item");
    vn_xnode_set_attr(f->a, it, "jid", c->domain);
    vn_xnode_set_attr(f->a, it, "name", c->name);
}

static vn_result_t on_items(vn_server_t *srv, vn_stanza_t *st)
{
    /* An account's items are its PEP nodes (XEP-0163 §6). */
    vn_xnode_t *ireq = vn_xnode_child(st->node, NS_ITEMS, "query");
    const char *inode = ireq ? vn_xnode_attr(ireq, "node") : NULL;
    if (st->to.local && !inode) return vn_pep_disco_items(srv, st);
    /* XEP-0030 §4.2: the server has no item nodes; an account's node is a
     * PEP leaf, whose answer mirrors the node. */
    if (inode && !st->to.local) {
        vn_route_error(srv, st, "cancel", "item-not-found", NULL);
        return VN_HANDLED;
    }
    vn_stanza_t *r = vn_stanza_iq_result(st);
    vn_xnode_t *q = vn_xnode_add(r->arena, r->node, NS_ITEMS, "query");
    if (inode) vn_xnode_set_attr(r->arena, q, "node", vn_arena_strdup(r->arena, inode));
    /* The server's own items are its services (XEP-0030 §4); an account's
     * items are left to the modules that own them. */
    vn_xnode_t *req = vn_xnode_child(st->node, NS_ITEMS, "query");
    if (!st->to.local && !(req && vn_xnode_attr(req, "node")))
        vn_components_each(add_service, &(feat_ctx_t){r->arena, q});
    vn_route(srv, r);
    return VN_HANDLED;
}

static const char *const features[] = {NS_INFO, NS_ITEMS, NULL};
static const vn_iq_handler_t iq[] = {
    {"get", NS_INFO, VN_TARGET_SERVER | VN_TARGET_ACCOUNT, on_info},
    {"get", NS_ITEMS, VN_TARGET_SERVER | VN_TARGET_ACCOUNT, on_items},
    {NULL, NULL, 0, NULL},
};

const vn_module_t vn_mod_disco = {.name = "disco", .features = features, .iq = iq};

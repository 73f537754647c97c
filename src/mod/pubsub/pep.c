/* XEP-0163 Personal Eventing Protocol: every account's bare JID is a
 * pubsub service for its owner (auto-create on publish, presence access
 * by default, one item per node unless configured), with notifications
 * filtered by XEP-0115 capabilities and the last items sent when a
 * contact's (or the owner's) resource becomes available. Also the pep.h
 * API for other modules and the account's disco#items (XEP-0030 §4 via
 * XEP-0060 §5.2). */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mod/pep.h"
#include "mod/pubsub/ps.h"
#include "mod/roster.h"
#include "xmpp/router.h"

static vn_result_t on_pubsub(vn_server_t *srv, vn_stanza_t *st)
{
    /* RFC 6121 / XEP-0163: only local accounts are PEP services; an IQ for
     * an account that does not exist finds no nodes (item-not-found). */
    return ps_handle_iq(srv, st, 1);
}

/* ---- last items on presence (XEP-0163 §4.3.4) ---- */

static void last_then(ps_job_t *j)
{
    if (j->rc < 0) return;
    for (int i = 0; i < j->nitems; i++) {
        vn_stanza_t *ev = ps_event_items(j->service, j->items[i].node, j->items[i].id,
                                         j->items[i].payload, j->items[i].len, 0, NULL);
        ps_send_event(j->srv, ev, j->requester_full);
        vn_stanza_free(ev);
    }
}

static void deliver_last(vn_server_t *srv, const char *full, const char *owner,
                         const char *const *skip)
{
    char **want = caps_notify_nodes(full);
    if (!want) return;
    /* A caps change: only the nodes not served before. */
    int n = 0;
    for (int i = 0; want[i]; i++) {
        int old = 0;
        for (int k = 0; skip && skip[k] && !old; k++)
            old = !strcmp(skip[k], want[i]);
        if (old)
            free(want[i]);
        else
            want[n++] = want[i];
    }
    want[n] = NULL;
    if (!n) {
        free(want);
        return;
    }
    ps_job_t *j = ps_job_new(srv, PS_OP_LAST_ITEMS, 1, owner, NULL);
    j->want = want;
    j->requester_full = vn_xstrdup(full);
    const char *slash = strchr(full, '/');
    j->requester = slash ? vn_xstrndup(full, (size_t)(slash - full)) : vn_xstrdup(full);
    j->requester_admin = !strcmp(j->requester, owner);
    j->then = last_then;
    ps_job_submit(j);
}

/* ---- hooks ---- */

static vn_result_t from_client(vn_server_t *srv, void *ctx)
{
    return caps_from_client(srv, ctx);
}

static vn_result_t to_account(vn_server_t *srv, void *ctx)
{
    return caps_to_account(srv, ctx);
}

static vn_result_t session_end(vn_server_t *srv, void *ctx)
{
    caps_session_end(srv, ctx);
    return VN_PASS;
}

/* ---- disco#items of an account (XEP-0060 §5.2, XEP-0163 §6) ---- */

vn_result_t vn_pep_disco_items(vn_server_t *srv, vn_stanza_t *st)
{
    const char *owner = vn_arena_printf(st->arena, "%s@%s", st->to.local, st->to.domain);
    ps_job_t *j = ps_job_new(srv, PS_OP_LIST_NODES, 1, owner, NULL);
    j->requester =
        vn_xstrdup(vn_jid_bare_str(&(vn_jid_t){st->from.local, st->from.domain, NULL}, st->arena));
    j->requester_full = vn_xstrdup(vn_jid_full_str(&st->from, st->arena));
    j->requester_admin = !strcmp(j->requester, owner);
    j->req = stanza_clone(st);
    const char *err = ps_list_nodes_prepare(j);
    if (err) {
        ps_job_discard(j);
        vn_route_error(srv, st, "modify", "bad-request", err);
        return VN_HANDLED;
    }
    j->then = ps_disco_items_then;
    ps_job_submit(j);
    return VN_HANDLED;
}

/* ---- pep.h ---- */

typedef struct api_item_ctx {
    void (*cb)(void *ud, const char *payload, size_t len);
    void *ud;
} api_item_ctx_t;

static ps_job_t *api_job(vn_server_t *srv, ps_op_t op, const char *owner, const char *node)
{
    ps_job_t *j = ps_job_new(srv, op, 1, owner, node);
    j->requester = vn_xstrdup(owner);
    j->requester_full = vn_xstrdup(owner);
    j->requester_admin = 1;
    j->create_ok = 1;
    return j;
}

typedef struct fail_ctx {
    vn_timer_t t;
    void (*done)(void *ud, int rc);
    void *ud;
} fail_ctx_t;

static void fail_later_cb(vn_timer_t *t)
{
    fail_ctx_t *f = t->cb_data;
    f->done(f->ud, -1);
    free(f);
}

/* Callbacks never run inside the call: failures go out from a timer. */
static void fail_later(vn_server_t *srv, void (*done)(void *ud, int rc), void *ud)
{
    if (!done) return;
    fail_ctx_t *f = vn_xcalloc(1, sizeof(*f));
    f->done = done;
    f->ud = ud;
    f->t.cb_data = f;
    vn_timer_start(srv->loop, &f->t, 0, fail_later_cb);
}

void vn_pep_publish(vn_server_t *srv, const char *owner, const char *node, const char *item_id,
                    const char *payload, size_t len, const char *const *options,
                    void (*done)(void *ud, int rc), void *ud)
{
    vn_arena_t *a = vn_arena_new(1024);
    vn_xnode_t *p = payload && len <= srv->cfg.pubsub_max_payload
                        ? ps_parse_payload(a, payload, len, 256)
                        : NULL;
    if (!p || !node || !*node || !owner) {
        vn_arena_free(a);
        vn_warn("pep: refused a publish to %s node %s (payload not one element or too big)",
                owner ? owner : "?", node ? node : "?");
        fail_later(srv, done, ud);
        return;
    }
    ps_job_t *j = api_job(srv, PS_OP_PUBLISH, owner, node);
    j->form_arena = a;
    if (options) {
        for (int i = 0; options[i] && options[i + 1]; i += 2) {
            if (j->form.n == (int)(sizeof(j->form.var) / sizeof(j->form.var[0]))) break;
            j->form.var[j->form.n] = vn_arena_strdup(a, options[i]);
            j->form.value[j->form.n++] = vn_arena_strdup(a, options[i + 1]);
        }
        j->has_form = 1;
        j->options_create_only = 1;
    }
    char gen[40];
    if (!item_id) {
        ps_make_id(gen, sizeof(gen));
        item_id = gen;
    }
    j->item_id = vn_xstrdup(item_id);
    /* Stored as we would serialise it, like a client's payload. */
    vn_buf_t b = VN_BUF_INIT;
    vn_xnode_serialize(p, NULL, &b);
    vn_buf_cstr(&b);
    j->payload = b.data;
    j->len = b.len;
    j->api_done = done;
    j->ud = ud;
    j->then = ps_publish_then;
    ps_job_submit(j);
}

void vn_pep_get_item(vn_server_t *srv, const char *owner, const char *node, const char *item_id,
                     void (*cb)(void *ud, const char *payload, size_t len), void *ud)
{
    ps_job_t *j = api_job(srv, PS_OP_ITEMS, owner, node);
    if (item_id) {
        j->ids = vn_xcalloc(2, sizeof(char *));
        j->ids[0] = vn_xstrdup(item_id);
    } else {
        j->max_items_req = 1;
    }
    j->api_item = cb;
    j->ud = ud;
    j->then = ps_items_then;
    ps_job_submit(j);
}

void vn_pep_get_items(vn_server_t *srv, const char *owner, const char *node,
                      void (*cb)(void *ud, int n, const char *const *ids,
                                 const char *const *payloads),
                      void *ud)
{
    ps_job_t *j = api_job(srv, PS_OP_ITEMS, owner, node);
    j->api_items = cb;
    j->ud = ud;
    j->then = ps_items_then;
    ps_job_submit(j);
}

void vn_pep_retract(vn_server_t *srv, const char *owner, const char *node, const char *item_id,
                    void (*done)(void *ud, int rc), void *ud)
{
    if (!item_id) {
        fail_later(srv, done, ud);
        return;
    }
    ps_job_t *j = api_job(srv, PS_OP_RETRACT, owner, node);
    j->item_id = vn_xstrdup(item_id);
    j->api_done = done;
    j->ud = ud;
    j->then = ps_retract_then;
    ps_job_submit(j);
}

/* ---- module ---- */

static int init(vn_server_t *srv)
{
    caps_init(srv);
    caps_on_known = deliver_last;
    return 0;
}

static void fini(vn_server_t *srv)
{
    ps_fanout_fini(srv);
    caps_fini();
    caps_on_known = NULL;
    pep_observers_fini();
}

static const vn_iq_handler_t iq[] = {
    {"get", NS_PUBSUB, VN_TARGET_ACCOUNT, on_pubsub},
    {"set", NS_PUBSUB, VN_TARGET_ACCOUNT, on_pubsub},
    {"get", NS_PUBSUB_OWNER, VN_TARGET_ACCOUNT, on_pubsub},
    {"set", NS_PUBSUB_OWNER, VN_TARGET_ACCOUNT, on_pubsub},
    {NULL, NULL, 0, NULL},
};

static const vn_hook_t hooks[] = {
    /* Before the presence module, to see a session's first available presence. */
    {VN_HOOK_FROM_CLIENT, from_client, 10},
    {VN_HOOK_TO_ACCOUNT, to_account, 10},
    {VN_HOOK_SESSION_END, session_end, 10},
    {VN_HOOK_COUNT, NULL, 0},
};

/* XEP-0163 §6.1: what an account's PEP service does, exactly. */
static const char *const account_features[] = {
    NS_PUBSUB "#access-open",
    NS_PUBSUB "#access-presence",
    NS_PUBSUB "#access-roster",
    NS_PUBSUB "#access-whitelist",
    NS_PUBSUB "#auto-create",
    NS_PUBSUB "#auto-subscribe",
    NS_PUBSUB "#config-node",
    NS_PUBSUB "#create-and-configure",
    NS_PUBSUB "#create-nodes",
    NS_PUBSUB "#delete-items",
    NS_PUBSUB "#delete-nodes",
    NS_PUBSUB "#filtered-notifications",
    NS_PUBSUB "#item-ids",
    NS_PUBSUB "#last-published",
    NS_PUBSUB "#modify-affiliations",
    NS_PUBSUB "#multi-items",
    NS_PUBSUB "#persistent-items",
    NS_PUBSUB "#presence-notifications",
    NS_PUBSUB "#publish",
    NS_PUBSUB "#publish-options",
    NS_PUBSUB "#purge-nodes",
    NS_PUBSUB "#retract-items",
    NS_PUBSUB "#retrieve-default",
    NS_PUBSUB "#retrieve-items",
    NULL,
};

/* On the server's own disco#info too: clients such as profanity look there,
 * not at the account, before they attach publish-options (without them
 * OMEMO nodes keep the presence access model and strangers cannot start a
 * session). The server domain hosts the accounts' PEP services, so the
 * feature describes what it offers. */
static const char *const server_features[] = {
    NS_PUBSUB "#publish-options",
    NULL,
};

const vn_module_t vn_mod_pep = {
    .name = "pep",
    .features = server_features,
    .iq = iq,
    .hooks = hooks,
    .init = init,
    .fini = fini,
    .account_features = account_features,
};

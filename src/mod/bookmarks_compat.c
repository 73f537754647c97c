/* XEP-0402 §5.3 compatibility: bookmarks stored the XEP-0048 way through
 * private XML storage (XEP-0049, <storage xmlns='storage:bookmarks'/>) and
 * the PEP bookmarks of XEP-0402 (urn:xmpp:bookmarks:1) are one list.
 *
 *   - a private XML set of storage:bookmarks (already stored by private.c)
 *     is converted: each <conference/> becomes the item (id = room JID)
 *     <conference xmlns='urn:xmpp:bookmarks:1' name autojoin><nick/>
 *     <password/></conference> on the account's urn:xmpp:bookmarks:1 node
 *     (created whitelist / max items / never send the last item, §6), and
 *     items for rooms no longer in the list are retracted;
 *   - a private XML get of storage:bookmarks is answered from the PEP
 *     items, so bookmarks a newer client made show in an older one; what
 *     the XEP-0048 list holds that XEP-0402 cannot (<url/> bookmarks) is
 *     kept from the stored copy.
 * The account advertises urn:xmpp:bookmarks:1#compat (§5.3). */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "mod/pep.h"
#include "mod/profile.h"
#include "mod/roster.h"
#include "store/store_profile.h"
#include "xmpp/router.h"

#define NS_LEGACY "storage:bookmarks"
#define NS_BOOKMARKS "urn:xmpp:bookmarks:1"
#define NS_COMPAT "urn:xmpp:bookmarks:1#compat"
#define MAX_CONFERENCES 1000

static const char *const node_options[] = {
    "pubsub#access_model",
    "whitelist",
    "pubsub#max_items",
    "max",
    "pubsub#send_last_published_item",
    "never",
    "pubsub#persist_items",
    "true",
    NULL,
};

static int truthy(const char *v)
{
    return v && (!strcmp(v, "true") || !strcmp(v, "1"));
}

static void text_child(vn_buf_t *b, const vn_xnode_t *parent, const char *ns, const char *name,
                       vn_arena_t *a)
{
    vn_xnode_t *c = vn_xnode_child(parent, ns, name);
    if (!c) return;
    char *t = vn_xnode_text(a, c);
    vn_buf_printf(b, "<%s>", name);
    vn_xml_append_escaped(b, t, strlen(t), 0);
    vn_buf_printf(b, "</%s>", name);
}

static void attr_out(vn_buf_t *b, const char *name, const char *v)
{
    if (!v) return;
    vn_buf_printf(b, " %s='", name);
    vn_xml_append_escaped(b, v, strlen(v), 1);
    vn_buf_puts(b, "'");
}

/* ---- XEP-0048 -> XEP-0402 ---- */

const char *vn_bookmarks_legacy_jid(vn_arena_t *a, const vn_xnode_t *cf)
{
    if (!cf->name || strcmp(cf->name, "conference") != 0 || !cf->ns ||
        strcmp(cf->ns, NS_LEGACY) != 0)
        return NULL;
    const char *jid = vn_xnode_attr(cf, "jid");
    vn_jid_t j;
    if (!jid || vn_jid_parse(jid, strlen(jid), &j, a) < 0 || !j.local || j.resource) return NULL;
    return vn_jid_bare_str(&j, a);
}

char *vn_bookmarks_to_item(vn_arena_t *a, const vn_xnode_t *cf)
{
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_puts(&b, "<conference xmlns='" NS_BOOKMARKS "'");
    attr_out(&b, "name", vn_xnode_attr(cf, "name"));
    attr_out(&b, "autojoin", truthy(vn_xnode_attr(cf, "autojoin")) ? "true" : NULL);
    vn_buf_puts(&b, ">");
    text_child(&b, cf, NS_LEGACY, "nick", a);
    text_child(&b, cf, NS_LEGACY, "password", a);
    vn_buf_puts(&b, "</conference>");
    char *out = vn_xstrndup(b.data, b.len);
    vn_buf_free(&b);
    return out;
}

typedef struct sync_ctx {
    vn_server_t *srv;
    char *owner;
    int n;
    char **jids;     /* normalised room JIDs, no duplicates */
    char **payloads; /* bookmarks:1 <conference/> */
} sync_ctx_t;

static void sync_free(sync_ctx_t *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->jids[i]);
        free(c->payloads[i]);
    }
    free(c->jids);
    free(c->payloads);
    free(c->owner);
    free(c);
}

static void op_done(void *ud, int rc)
{
    char *what = ud;
    if (rc < 0) vn_warn("bookmarks: PEP update failed (%s)", what);
    free(what);
}

/* The current items are known: publish the list and retract the rest. */
static void got_current(void *ud, int n, const char *const *ids, const char *const *payloads)
{
    sync_ctx_t *c = ud;
    for (int i = 0; i < c->n; i++) {
        /* Unchanged bookmarks are not published again (no notifications
         * to the owner's other clients for nothing). */
        int same = 0;
        for (int k = 0; k < n && !same; k++)
            same =
                !strcmp(ids[k], c->jids[i]) && payloads[k] && !strcmp(payloads[k], c->payloads[i]);
        if (same) continue;
        vn_pep_publish(c->srv, c->owner, NS_BOOKMARKS, c->jids[i], c->payloads[i],
                       strlen(c->payloads[i]), node_options, op_done, vn_xstrdup(c->jids[i]));
    }
    for (int i = 0; i < n; i++) {
        int keep = 0;
        for (int k = 0; k < c->n && !keep; k++)
            keep = !strcmp(ids[i], c->jids[k]);
        if (!keep)
            vn_pep_retract(c->srv, c->owner, NS_BOOKMARKS, ids[i], op_done, vn_xstrdup(ids[i]));
    }
    sync_free(c);
}

static void stored(vn_server_t *srv, const char *owner, const vn_xnode_t *el)
{
    if (strcmp(el->name, "storage") != 0) return;
    sync_ctx_t *c = vn_xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->owner = vn_xstrdup(owner);
    vn_arena_t *a = vn_arena_new(1024);
    for (vn_xnode_t *cf = el->children; cf; cf = cf->next) {
        const char *norm = vn_bookmarks_legacy_jid(a, cf);
        if (!norm) continue;
        int dup = 0;
        for (int i = 0; i < c->n && !dup; i++)
            dup = !strcmp(c->jids[i], norm);
        if (dup) continue;
        if (c->n == MAX_CONFERENCES) {
            vn_warn("bookmarks: %s has more than %d rooms; the rest is not converted", owner,
                    MAX_CONFERENCES);
            break;
        }
        c->jids = vn_xrealloc(c->jids, sizeof(char *) * (size_t)(c->n + 1));
        c->payloads = vn_xrealloc(c->payloads, sizeof(char *) * (size_t)(c->n + 1));
        c->jids[c->n] = vn_xstrdup(norm);
        c->payloads[c->n] = vn_bookmarks_to_item(a, cf);
        c->n++;
    }
    vn_arena_free(a);
    vn_pep_get_items(srv, owner, NS_BOOKMARKS, got_current, c);
}

/* ---- XEP-0402 -> XEP-0048 ---- */

void vn_bookmarks_to_legacy(vn_buf_t *b, vn_arena_t *a, const char *id, const char *payload)
{
    vn_xnode_t *cf = vn_profile_parse(a, payload, strlen(payload));
    if (!cf || !cf->ns || strcmp(cf->ns, NS_BOOKMARKS) != 0 || strcmp(cf->name, "conference"))
        return;
    vn_buf_puts(b, "<conference");
    attr_out(b, "jid", id);
    attr_out(b, "name", vn_xnode_attr(cf, "name"));
    attr_out(b, "autojoin", truthy(vn_xnode_attr(cf, "autojoin")) ? "true" : "false");
    vn_buf_puts(b, ">");
    text_child(b, cf, NS_BOOKMARKS, "nick", a);
    text_child(b, cf, NS_BOOKMARKS, "password", a);
    vn_buf_puts(b, "</conference>");
}

typedef struct get_ctx {
    vn_work_t work;
    vn_server_t *srv;
    vn_stanza_t *req; /* owned copy */
    char *owner;
    char *conferences; /* XEP-0048 <conference/> elements from PEP */
    char *xml;         /* the stored private copy */
    int rc;
} get_ctx_t;

static void read_work(vn_work_t *w)
{
    get_ctx_t *c = (get_ctx_t *)w;
    free(c->xml);
    c->rc = vn_store_private_get(vn_store_of(w), c->owner, NS_LEGACY, &c->xml);
}

static void read_done(vn_work_t *w)
{
    get_ctx_t *c = (get_ctx_t *)w;
    vn_stanza_t *st = c->req;
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_puts(&b, "<storage xmlns='" NS_LEGACY "'>");
    vn_buf_puts(&b, c->conferences);
    /* What only XEP-0048 has (<url/>) stays from the stored copy. */
    vn_arena_t *a = vn_arena_new(1024);
    vn_xnode_t *old = c->rc == VN_STORE_OK ? vn_profile_parse(a, c->xml, strlen(c->xml)) : NULL;
    for (vn_xnode_t *u = old ? old->children : NULL; u; u = u->next) {
        if (!u->name || !strcmp(u->name, "conference")) continue;
        vn_xnode_serialize(u, NS_LEGACY, &b);
    }
    vn_arena_free(a);
    vn_buf_puts(&b, "</storage>");
    vn_xnode_t *storage = vn_profile_parse(st->arena, b.data, b.len);
    vn_buf_free(&b);
    if (!storage) {
        vn_route_error(c->srv, st, "wait", "internal-server-error", NULL);
    } else {
        vn_stanza_t *r = vn_stanza_iq_result(st);
        vn_xnode_t *q = vn_xnode_add(r->arena, r->node, VN_NS_PRIVATE, "query");
        vn_xnode_append(q, storage);
        vn_route(c->srv, r);
    }
    vn_stanza_free(st);
    free(c->conferences);
    free(c->xml);
    free(c->owner);
    free(c);
}

static void got_items(void *ud, int n, const char *const *ids, const char *const *payloads)
{
    get_ctx_t *c = ud;
    vn_buf_t b = VN_BUF_INIT;
    vn_arena_t *a = vn_arena_new(1024);
    for (int i = 0; i < n; i++) {
        vn_bookmarks_to_legacy(&b, a, ids[i], payloads[i]);
        vn_arena_reset(a);
    }
    vn_arena_free(a);
    c->conferences = vn_xstrndup(b.data ? b.data : "", b.len);
    vn_buf_free(&b);
    vn_store_submit_ordered(c->srv, c->owner, &c->work, read_work, read_done);
}

static vn_result_t get(vn_server_t *srv, vn_stanza_t *st, const vn_xnode_t *req)
{
    if (strcmp(req->name, "storage") != 0) return VN_PASS;
    get_ctx_t *c = vn_xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->req = stanza_clone(st);
    c->owner = vn_xstrdup(vn_profile_target_bare(st));
    vn_pep_get_items(srv, c->owner, NS_BOOKMARKS, got_items, c);
    return VN_HANDLED;
}

static const vn_private_handler_t handler = {NS_LEGACY, get, stored};

static int init(vn_server_t *srv)
{
    (void)srv;
    vn_private_register(&handler);
    return 0;
}

static const char *const account_features[] = {NS_COMPAT, NULL};

const vn_module_t vn_mod_bookmarks_compat = {
    .name = "bookmarks_compat",
    .init = init,
    .account_features = account_features,
};

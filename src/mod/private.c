#include <stddef.h>
/* XEP-0049: Private XML Storage (jabber:iq:private).
 *
 * An account keeps one element per namespace (§2.1); a set replaces the
 * stored element of each namespace it carries, a get returns the stored
 * element or, when there is none, the requested empty element (§2.2).
 * Errors (§3): a request about another account is <forbidden/>; a query
 * without a child element, or a child in a reserved namespace
 * (jabber:client, jabber:server, jabber:iq:private), is <not-acceptable/>;
 * a get for several namespaces at once is <bad-request/>. Limits: an
 * element larger than [profile] private_max_size is <not-acceptable/>,
 * more namespaces than private_max_entries is <resource-constraint/>.
 *
 * Other modules may take over a namespace (vn_private_register): the
 * bookmarks compatibility (XEP-0402 §5.3) answers storage:bookmarks from
 * PEP and converts what is stored.
 *
 * Gets and sets are ordered storage jobs of the account (xmpp/server.h): a
 * get sees every set submitted before it. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mod/profile.h"
#include "mod/roster.h"
#include "store/store_profile.h"
#include "xmpp/router.h"

#define MAX_HANDLERS 4
#define MAX_SET_ELEMENTS 16

static const vn_private_handler_t *handlers[MAX_HANDLERS];
static int nhandlers;
static size_t max_size;
static int max_entries;

void vn_private_register(const vn_private_handler_t *h)
{
    if (nhandlers < MAX_HANDLERS) handlers[nhandlers++] = h;
}

static const vn_private_handler_t *handler_for(const char *ns)
{
    for (int i = 0; i < nhandlers; i++)
        if (!strcmp(handlers[i]->ns, ns)) return handlers[i];
    return NULL;
}

static int reserved(const char *ns)
{
    return !ns || !*ns || !strcmp(ns, VN_NS_CLIENT) || !strcmp(ns, "jabber:server") ||
           !strcmp(ns, VN_NS_PRIVATE);
}

/* ---- get ---- */

typedef struct get_job {
    vn_work_t work;
    vn_server_t *srv;
    char *owner;
    char *ns;
    vn_stanza_t *req; /* owned copy */
    char *xml;
    int rc;
} get_job_t;

static void get_work(vn_work_t *w)
{
    get_job_t *j = (get_job_t *)w;
    free(j->xml);
    j->rc = vn_store_private_get(vn_store_of(w), j->owner, j->ns, &j->xml);
}

static void get_done(vn_work_t *w)
{
    get_job_t *j = (get_job_t *)w;
    vn_stanza_t *st = j->req;
    vn_xnode_t *el = NULL;
    if (j->rc == VN_STORE_OK && !(el = vn_profile_parse(st->arena, j->xml, strlen(j->xml))))
        vn_error("private XML %s of %s in storage is not well-formed", j->ns, j->owner);
    if (j->rc < 0 || (j->rc == VN_STORE_OK && !el)) {
        vn_route_error(j->srv, st, "wait", "internal-server-error", NULL);
    } else {
        vn_stanza_t *r = vn_stanza_iq_result(st);
        vn_xnode_t *q = vn_xnode_add(r->arena, r->node, VN_NS_PRIVATE, "query");
        if (!el) {
            /* §2.2: nothing stored, the empty element as requested. */
            vn_xnode_t *req = vn_xnode_first_element(vn_xnode_first_element(st->node));
            el = vn_xnode_new(r->arena, req->ns, req->name);
        }
        vn_xnode_append(q, vn_xnode_copy(r->arena, el));
        vn_route(j->srv, r);
    }
    vn_stanza_free(st);
    free(j->xml);
    free(j->ns);
    free(j->owner);
    free(j);
}

void vn_private_answer_stored(vn_server_t *srv, vn_stanza_t *st)
{
    vn_xnode_t *q = vn_xnode_first_element(st->node);
    vn_xnode_t *el = q ? vn_xnode_first_element(q) : NULL;
    if (!el || !el->ns) {
        vn_route_error(srv, st, "modify", "not-acceptable", NULL);
        return;
    }
    get_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->srv = srv;
    j->owner = vn_xstrdup(vn_profile_target_bare(st));
    j->ns = vn_xstrdup(el->ns);
    j->req = stanza_clone(st);
    vn_store_submit_ordered(srv, j->owner, &j->work, get_work, get_done);
}

/* The one requested element, after the checks common to get and set; NULL
 * when an error was sent. */
static int check_request(vn_server_t *srv, vn_stanza_t *st, vn_xnode_t **query)
{
    if (!vn_profile_own_account(st)) {
        vn_route_error(srv, st, "cancel", "forbidden", NULL);
        return -1;
    }
    vn_xnode_t *q = vn_xnode_first_element(st->node);
    if (strcmp(q->name, "query") != 0) {
        vn_route_error(srv, st, "modify", "bad-request", NULL);
        return -1;
    }
    int n = 0;
    for (vn_xnode_t *c = q->children; c; c = c->next) {
        if (!c->name) continue;
        n++;
        if (reserved(c->ns)) {
            vn_route_error(srv, st, "modify", "not-acceptable", "reserved namespace");
            return -1;
        }
    }
    if (!n) {
        vn_route_error(srv, st, "modify", "not-acceptable", "no element to store or retrieve");
        return -1;
    }
    *query = q;
    return n;
}

static vn_result_t on_get(vn_server_t *srv, vn_stanza_t *st)
{
    vn_xnode_t *q;
    int n = check_request(srv, st, &q);
    if (n < 0) return VN_HANDLED;
    if (n > 1) {
        vn_route_error(srv, st, "modify", "bad-request", "one namespace per request");
        return VN_HANDLED;
    }
    vn_xnode_t *el = vn_xnode_first_element(q);
    const vn_private_handler_t *h = handler_for(el->ns);
    if (h && h->get && h->get(srv, st, el) == VN_HANDLED) return VN_HANDLED;
    vn_private_answer_stored(srv, st);
    return VN_HANDLED;
}

/* ---- set ---- */

typedef struct set_job {
    vn_work_t work;
    vn_server_t *srv;
    char *owner;
    int n;
    char *ns[MAX_SET_ELEMENTS];
    char *xml[MAX_SET_ELEMENTS];
    vn_stanza_t *req; /* owned copy */
    int rc;
} set_job_t;

static void set_work(vn_work_t *w)
{
    set_job_t *j = (set_job_t *)w;
    vn_store_t *store = vn_store_of(w);
    j->rc = 0;
    for (int i = 0; i < j->n && j->rc == 0; i++)
        j->rc = vn_store_private_set(store, j->owner, j->ns[i], j->xml[i], max_entries);
}

static void set_done(vn_work_t *w)
{
    set_job_t *j = (set_job_t *)w;
    vn_stanza_t *st = j->req;
    if (j->rc == VN_STORE_FULL) {
        vn_route_error(j->srv, st, "wait", "resource-constraint", "too many namespaces stored");
    } else if (j->rc < 0) {
        vn_route_error(j->srv, st, "wait", "internal-server-error", NULL);
    } else {
        vn_route(j->srv, vn_stanza_iq_result(st));
    }
    /* What was stored goes to the handlers of its namespace (nothing
     * after an error: the client will store again). */
    vn_xnode_t *q = vn_xnode_first_element(st->node);
    for (vn_xnode_t *c = q ? q->children : NULL; c && j->rc == 0; c = c->next) {
        if (!c->name) continue;
        const vn_private_handler_t *h = handler_for(c->ns);
        if (h && h->stored) h->stored(j->srv, j->owner, c);
    }
    for (int i = 0; i < j->n; i++) {
        free(j->ns[i]);
        free(j->xml[i]);
    }
    vn_stanza_free(st);
    free(j->owner);
    free(j);
}

static vn_result_t on_set(vn_server_t *srv, vn_stanza_t *st)
{
    vn_xnode_t *q;
    int n = check_request(srv, st, &q);
    if (n < 0) return VN_HANDLED;
    if (n > MAX_SET_ELEMENTS) {
        vn_route_error(srv, st, "modify", "not-acceptable", "too many elements");
        return VN_HANDLED;
    }
    set_job_t *j = vn_xcalloc(1, sizeof(*j));
    for (vn_xnode_t *c = q->children; c; c = c->next) {
        if (!c->name) continue;
        size_t len;
        char *xml = vn_profile_serialize(c, &len);
        if (len > max_size) {
            free(xml);
            for (int i = 0; i < j->n; i++) {
                free(j->ns[i]);
                free(j->xml[i]);
            }
            free(j);
            vn_route_error(srv, st, "modify", "not-acceptable", "element too large");
            return VN_HANDLED;
        }
        /* A later element of the same namespace replaces an earlier one. */
        int k = 0;
        while (k < j->n && strcmp(j->ns[k], c->ns) != 0)
            k++;
        if (k == j->n) {
            j->ns[j->n++] = vn_xstrdup(c->ns);
        } else {
            free(j->xml[k]);
        }
        j->xml[k] = xml;
    }
    j->srv = srv;
    j->owner = vn_xstrdup(st->origin->bare);
    j->req = stanza_clone(st);
    vn_store_submit_ordered(srv, j->owner, &j->work, set_work, set_done);
    return VN_HANDLED;
}

static int init(vn_server_t *srv)
{
    max_size = srv->cfg.private_max_size;
    max_entries = srv->cfg.private_max_entries;
    return 0;
}

static void fini(vn_server_t *srv)
{
    (void)srv;
    nhandlers = 0;
}

static const char *const features[] = {VN_NS_PRIVATE, NULL};
static const vn_iq_handler_t iq[] = {
    {"get", VN_NS_PRIVATE, VN_TARGET_ACCOUNT, on_get},
    {"set", VN_NS_PRIVATE, VN_TARGET_ACCOUNT, on_set},
    {NULL, NULL, 0, NULL},
};

static const vn_cfg_key_t config_keys[] = {
    {"profile", "private_max_size", VN_CFG_SIZE, offsetof(vn_config_t, private_max_size), "65536",
     .min = 256, .max = 64LL << 20,
     .help = "Private XML storage (XEP-0049): largest element, and how many namespaces one account "
             "may keep."},
    {"profile", "private_max_entries", VN_CFG_INT, offsetof(vn_config_t, private_max_entries),
     "100", .min = 1, .max = 100000,
     .help = "Private XML storage (XEP-0049): largest element, and how many namespaces one account "
             "may keep."},
    {NULL},
};

const vn_module_t vn_mod_private = {
    .config_keys = config_keys,
    .name = "private",
    .features = features,
    .iq = iq,
    .init = init,
    .fini = fini,
    .account_features = features,
};

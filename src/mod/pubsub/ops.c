/* The storage side of every pubsub operation (PEP and the service): one
 * job type whose work() runs on the storage thread, checks permissions
 * against stored nodes, affiliations and rosters (XEP-0060 §4.5 access
 * models, §4.1 affiliations), changes storage and collects what the loop
 * thread needs to answer and notify. work() may run twice (group commit):
 * it resets its outputs first and every write is idempotent. */
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/log.h"
#include "core/mem.h"
#include "mod/pubsub/ps.h"
#include "store/store_pubsub.h"

char **ps_strv_dup(const char *const *v)
{
    if (!v) return NULL;
    int n = 0;
    while (v[n])
        n++;
    char **r = vn_xcalloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; i < n; i++)
        r[i] = vn_xstrdup(v[i]);
    return r;
}

void ps_strv_free(char **v)
{
    if (!v) return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static void free_items(ps_job_t *j)
{
    for (int i = 0; i < j->nitems; i++) {
        free(j->items[i].id);
        free(j->items[i].publisher);
        free(j->items[i].node);
        free(j->items[i].payload);
    }
    free(j->items);
    j->items = NULL;
    j->nitems = 0;
}

static void free_pairs(ps_pair_t *p, int n)
{
    for (int i = 0; i < n; i++) {
        free(p[i].a);
        free(p[i].b);
        free(p[i].c);
    }
    free(p);
}

static void free_contacts(ps_job_t *j)
{
    for (int i = 0; i < j->ncontacts; i++)
        free(j->contacts[i]);
    free(j->contacts);
    j->contacts = NULL;
    j->ncontacts = 0;
}

static void reset_outputs(ps_job_t *j)
{
    j->rc = 0;
    j->err_type = j->err_cond = j->err_app = j->err_feature = NULL;
    j->created = 0;
    j->node_id = 0;
    j->evicted = 0;
    j->affiliation[0] = j->subid[0] = j->substate[0] = '\0';
    j->listed = j->page_first = 0;
    free_items(j);
    free_pairs(j->pairs, j->npairs);
    j->pairs = NULL;
    j->npairs = 0;
    free_contacts(j);
}

static int fail(ps_job_t *j, const char *type, const char *cond, const char *app)
{
    j->rc = -1;
    j->err_type = type;
    j->err_cond = cond;
    j->err_app = app;
    return -1;
}

static int internal(ps_job_t *j)
{
    return fail(j, "wait", "internal-server-error", NULL);
}

static void add_item(ps_job_t *j, const char *node, const vn_ps_item_t *it)
{
    j->items = vn_xrealloc(j->items, sizeof(*j->items) * (size_t)(j->nitems + 1));
    ps_item_out_t *o = &j->items[j->nitems++];
    o->id = vn_xstrdup(it->id);
    o->publisher = it->publisher ? vn_xstrdup(it->publisher) : NULL;
    o->node = node ? vn_xstrdup(node) : NULL;
    o->payload = vn_xstrndup(it->payload, it->len);
    o->len = it->len;
}

static void add_pair(ps_job_t *j, const char *a, const char *b, const char *c)
{
    j->pairs = vn_xrealloc(j->pairs, sizeof(*j->pairs) * (size_t)(j->npairs + 1));
    ps_pair_t *p = &j->pairs[j->npairs++];
    p->a = a ? vn_xstrdup(a) : NULL;
    p->b = b ? vn_xstrdup(b) : NULL;
    p->c = c ? vn_xstrdup(c) : NULL;
}

static void add_contact(ps_job_t *j, const char *jid)
{
    j->contacts = vn_xrealloc(j->contacts, sizeof(char *) * (size_t)(j->ncontacts + 1));
    j->contacts[j->ncontacts++] = vn_xstrdup(jid);
}

/* ---- who is the requester to this node ---- */

typedef struct who {
    int owner;     /* owner affiliation (or the PEP account / a service admin) */
    int publisher; /* may publish (owner or publisher) */
    int member;    /* whitelisted (owner, publisher, member) */
    int outcast;
    int roster_from; /* PEP: the owner's roster gives the requester a presence subscription */
    char **groups;   /* PEP: the requester's groups in the owner's roster */
} who_t;

static void who_free(who_t *w)
{
    ps_strv_free(w->groups);
    w->groups = NULL;
}

/* What an affiliation with a node grants (XEP-0060 §4.1). */
static void apply_aff(who_t *w, const char *aff)
{
    if (!strcmp(aff, "owner"))
        w->owner = w->publisher = w->member = 1;
    else if (!strcmp(aff, "publisher"))
        w->publisher = w->member = 1;
    else if (!strcmp(aff, "member"))
        w->member = 1;
    else if (!strcmp(aff, "outcast"))
        w->outcast = 1;
}

/* Reads the requester's standing with the node (node_id 0: service level). */
static int who_is(vn_store_t *st, ps_job_t *j, int64_t node_id, who_t *w)
{
    memset(w, 0, sizeof(*w));
    if (!j->requester || j->requester_admin) {
        w->owner = w->publisher = w->member = 1;
        return 0;
    }
    if (node_id) {
        char aff[16];
        int r = vn_store_ps_aff_get(st, node_id, j->requester, aff, sizeof(aff));
        if (r < 0) return -1;
        if (r == 0) apply_aff(w, aff);
    }
    if (j->pep) {
        vn_roster_item_t it;
        int r = vn_store_roster_get(st, j->service, j->requester, &it);
        if (r < 0) return -1;
        if (r == 0) {
            w->roster_from = it.subscription == VN_SUB_FROM || it.subscription == VN_SUB_BOTH;
            w->groups = it.groups;
            it.groups = NULL;
            vn_roster_item_free_fields(&it);
        }
    }
    return 0;
}

/* XEP-0060 §6.1.3 / §6.5.9: may the requester subscribe / retrieve items?
 * On refusal sets the job's error. */
static int may_access(ps_job_t *j, const ps_config_t *c, const who_t *w)
{
    if (w->owner) return 1;
    if (w->outcast) {
        fail(j, "auth", "forbidden", NULL);
        return 0;
    }
    switch (c->access) {
    case PS_ACCESS_OPEN:
        return 1;
    case PS_ACCESS_PRESENCE:
        if (w->roster_from || w->member) return 1;
        fail(j, "auth", "not-authorized", "presence-subscription-required");
        return 0;
    case PS_ACCESS_ROSTER:
        if (w->member) return 1;
        if (w->roster_from && w->groups) {
            for (char **g = w->groups; *g; g++) {
                const char *p = c->roster_groups;
                size_t n = strlen(*g);
                while (*p) {
                    const char *nl = strchr(p, '\n');
                    size_t len = nl ? (size_t)(nl - p) : strlen(p);
                    if (len == n && !memcmp(p, *g, n)) return 1;
                    p += len + (nl ? 1 : 0);
                }
            }
        }
        fail(j, "auth", "not-authorized", "not-in-roster-group");
        return 0;
    case PS_ACCESS_WHITELIST:
        if (w->member) return 1;
        fail(j, "cancel", "not-allowed", "closed-node");
        return 0;
    }
    return 0;
}

/* Loads the node into j->node_id / j->cfg. 0 found, 1 missing, -1 error. */
static int load_node(vn_store_t *st, ps_job_t *j)
{
    char *text = NULL;
    int r = vn_store_ps_node_get(st, j->service, j->node, &j->node_id, &text);
    if (r < 0) return internal(j);
    ps_config_default(&j->cfg, j->pep);
    if (r == 0) ps_config_parse(&j->cfg, text);
    free(text);
    return r;
}

static int save_config(vn_store_t *st, int64_t id, const ps_config_t *c)
{
    vn_buf_t b = VN_BUF_INIT;
    ps_config_serialize(c, &b);
    int r = vn_store_ps_node_set_config(st, id, b.data);
    vn_buf_free(&b);
    return r;
}

static int create_node(vn_store_t *st, ps_job_t *j, const ps_config_t *c)
{
    int64_t count = 0;
    if (vn_store_ps_node_count(st, j->service, &count) < 0) return internal(j);
    if (count >= j->max_nodes) return fail(j, "cancel", "not-allowed", "max-nodes-exceeded");
    /* The service's nodes one account has created ([pubsub]
     * service_max_nodes_per_account; admins are not limited). XEP-0060
     * §8.1.1 lets a service refuse creation by who asks; the answer is the
     * one of the service-wide cap, <not-allowed/> with the pubsub#errors
     * condition <max-nodes-exceeded/>: type cancel, because waiting does
     * not help (only deleting one of the account's nodes does), which
     * <resource-constraint/> (type wait) would suggest. */
    const char *creator = j->pep ? NULL : j->requester;
    if (creator && !j->requester_admin && j->max_nodes_per_account > 0) {
        if (vn_store_ps_node_count_by(st, j->service, creator, &count) < 0) return internal(j);
        if (count >= j->max_nodes_per_account)
            return fail(j, "cancel", "not-allowed", "max-nodes-exceeded");
    }
    vn_buf_t b = VN_BUF_INIT;
    ps_config_serialize(c, &b);
    int r = vn_store_ps_node_create_by(st, j->service, j->node, j->pep ? j->service : NULL, creator,
                                       b.data, &j->node_id);
    vn_buf_free(&b);
    if (r < 0) return internal(j);
    if (r == 1) return fail(j, "cancel", "conflict", NULL);
    if (!j->pep && j->requester && vn_store_ps_aff_set(st, j->node_id, j->requester, "owner") < 0)
        return internal(j);
    j->cfg = *c;
    j->created = 1;
    return 0;
}

/* ---- recipients ---- */

typedef struct roster_collect {
    ps_job_t *j;
} roster_collect_t;

static void roster_cb(const vn_roster_item_t *it, void *ud)
{
    ps_job_t *j = ud;
    if (it->subscription == VN_SUB_FROM || it->subscription == VN_SUB_BOTH)
        add_contact(j, it->contact);
}

static void member_cb(const char *jid, const char *aff, void *ud)
{
    ps_job_t *j = ud;
    if (strcmp(aff, "outcast") && strcmp(aff, "none")) add_contact(j, jid);
}

static void sub_cb(const char *jid, const char *subid, const char *state, void *ud)
{
    (void)subid;
    ps_job_t *j = ud;
    if (!strcmp(state, "subscribed")) add_contact(j, jid);
}

/* Who may be notified of the node's events: PEP contacts (by access model;
 * caps filtering happens on the loop thread), service subscribers. */
static int collect_recipients(vn_store_t *st, ps_job_t *j)
{
    if (!j->pep) return vn_store_ps_sub_list(st, j->node_id, sub_cb, j) < 0 ? internal(j) : 0;
    if (j->cfg.access == PS_ACCESS_WHITELIST)
        return vn_store_ps_aff_list(st, j->node_id, member_cb, j) < 0 ? internal(j) : 0;
    uint64_t v;
    if (vn_store_roster_load(st, j->service, &v, roster_cb, j) < 0) return internal(j);
    return 0;
}

/* ---- operations ---- */

static void item_cb(const vn_ps_item_t *it, void *ud)
{
    ps_job_t *j = ud;
    add_item(j, NULL, it);
}

/* Loads the job's node, which must exist, and who the requester is to it.
 * 0, or -1 with the job's error set (w is then not to be freed). */
static int load_existing(vn_store_t *st, ps_job_t *j, who_t *w)
{
    int r = load_node(st, j);
    if (r < 0) return -1;
    if (r == 1) return fail(j, "cancel", "item-not-found", NULL);
    if (who_is(st, j, j->node_id, w) < 0) return internal(j);
    return 0;
}

static void op_publish(vn_store_t *st, ps_job_t *j)
{
    int r = load_node(st, j);
    if (r < 0) return;
    who_t w;
    if (who_is(st, j, r == 0 ? j->node_id : 0, &w) < 0) {
        internal(j);
        return;
    }
    int publisher = w.publisher || (r == 0 && j->cfg.publish_model == PS_PUBLISH_OPEN);
    who_free(&w);
    if (r == 1) {
        /* XEP-0060 §7.1.4 / XEP-0163 §3: auto-create, with the
         * publish-options as the configuration (§7.1.5). */
        if (!j->pep && !j->create_ok) {
            fail(j, "cancel", "item-not-found", NULL);
            return;
        }
        if (j->pep && !publisher) {
            fail(j, "auth", "forbidden", NULL);
            return;
        }
        ps_config_t c;
        ps_config_default(&c, j->pep);
        const char *bad = NULL;
        if (j->has_form && ps_config_apply(&c, &j->form, 0, j->max_keep, &bad) < 0) {
            fail(j, "cancel", "conflict", "precondition-not-met");
            return;
        }
        if (create_node(st, j, &c) < 0) return;
    } else {
        if (!publisher) {
            fail(j, "auth", "forbidden", NULL);
            return;
        }
        if (j->has_form && !j->options_create_only &&
            !ps_config_matches(&j->cfg, &j->form, j->max_keep)) {
            fail(j, "cancel", "conflict", "precondition-not-met");
            return;
        }
    }
    vn_ps_item_t it = {j->item_id, j->requester, j->payload, j->len};
    int keep = j->cfg.persist_items ? ps_config_keep(&j->cfg, j->max_keep) : 1;
    if (vn_store_ps_item_put(st, j->node_id, &it, keep, &j->evicted) < 0) {
        internal(j);
        return;
    }
    if (j->cfg.deliver_notifications) collect_recipients(st, j);
}

static void op_items(vn_store_t *st, ps_job_t *j)
{
    who_t w;
    if (load_existing(st, j, &w) < 0) return;
    int ok = may_access(j, &j->cfg, &w);
    who_free(&w);
    if (!ok) return;
    if (j->ids) {
        for (char **id = j->ids; *id; id++)
            if (vn_store_ps_item_get(st, j->node_id, *id, item_cb, j) < 0) {
                internal(j);
                return;
            }
        return;
    }
    int keep = ps_config_keep(&j->cfg, j->max_keep);
    int max = j->max_items_req > 0 && j->max_items_req < keep ? j->max_items_req : keep;
    if (vn_store_ps_items(st, j->node_id, max, item_cb, j) < 0) internal(j);
}

static void op_retract(vn_store_t *st, ps_job_t *j)
{
    who_t w;
    if (load_existing(st, j, &w) < 0) return;
    int ok = w.publisher;
    who_free(&w);
    if (!ok) {
        fail(j, "auth", "forbidden", NULL);
        return;
    }
    int r = vn_store_ps_item_delete(st, j->node_id, j->item_id);
    if (r < 0) {
        internal(j);
        return;
    }
    /* Retracting an item that is gone already: success (idempotent re-run
     * included) but nothing to notify. */
    if (r == 1) return;
    j->evicted = 1; /* this run removed it: notify */
    if (j->cfg.notify_retract || j->notify) collect_recipients(st, j);
}

static void op_create(vn_store_t *st, ps_job_t *j)
{
    int r = load_node(st, j);
    if (r < 0) return;
    if (r == 0) {
        /* A re-run of our own create finds the node: ours if we own it. */
        fail(j, "cancel", "conflict", NULL);
        return;
    }
    if (!j->create_ok) {
        fail(j, "auth", "forbidden", NULL);
        return;
    }
    ps_config_t c;
    ps_config_default(&c, j->pep);
    const char *bad = NULL;
    /* XEP-0004: fields the server does not know are ignored (clients and
     * other servers send pubsub#... fields from newer revisions). */
    if (j->has_form && ps_config_apply(&c, &j->form, 0, j->max_keep, &bad) < 0) {
        fail(j, "modify", "not-acceptable", NULL);
        return;
    }
    create_node(st, j, &c);
}

static int require_owner(vn_store_t *st, ps_job_t *j)
{
    who_t w;
    if (load_existing(st, j, &w) < 0) return -1;
    int ok = w.owner;
    who_free(&w);
    if (!ok) return fail(j, "auth", "forbidden", NULL);
    return 0;
}

static void op_delete(vn_store_t *st, ps_job_t *j)
{
    if (require_owner(st, j) < 0) return;
    if (j->cfg.notify_delete) collect_recipients(st, j);
    if (vn_store_ps_node_delete(st, j->node_id) < 0) internal(j);
}

static void op_purge(vn_store_t *st, ps_job_t *j)
{
    if (require_owner(st, j) < 0) return;
    if (vn_store_ps_items_purge(st, j->node_id) < 0)
        internal(j);
    else
        collect_recipients(st, j);
}

static void op_config_set(vn_store_t *st, ps_job_t *j)
{
    if (require_owner(st, j) < 0) return;
    ps_config_t c = j->cfg;
    const char *bad = NULL;
    if (ps_config_apply(&c, &j->form, 0, j->max_keep, &bad) < 0) { /* as at creation */
        fail(j, "modify", "not-acceptable", NULL);
        return;
    }
    if (save_config(st, j->node_id, &c) < 0) {
        internal(j);
        return;
    }
    j->cfg = c;
    /* Fewer items kept now (a lower max_items, or persist_items off):
     * the oldest go at once, without retract notifications. */
    if (vn_store_ps_items_trim(st, j->node_id,
                               c.persist_items ? ps_config_keep(&c, j->max_keep) : 1) < 0) {
        internal(j);
        return;
    }
    if (c.notify_config) collect_recipients(st, j);
}

typedef struct list_ctx {
    ps_job_t *j;
    const who_t *base; /* the requester's standing apart from affiliations */
    char **names;      /* the nodes it may see, in node order */
    char **titles;     /* their pubsub#title, or NULL */
    size_t n, cap;
} list_ctx_t;

static void node_cb(int64_t id, const char *node, const char *config, const char *aff, void *ud)
{
    (void)id;
    list_ctx_t *l = ud;
    ps_job_t *j = l->j;
    ps_config_t c;
    ps_config_default(&c, j->pep);
    ps_config_parse(&c, config);
    who_t w = *l->base; /* (shares base's groups: not freed here) */
    if (aff && !w.owner) apply_aff(&w, aff);
    /* Owners see every node; others the ones they may access (a
     * whitelist node stays hidden, XEP-0060 §5.2). */
    int ok = may_access(j, &c, &w);
    j->rc = 0;
    j->err_type = j->err_cond = j->err_app = NULL;
    if (!ok) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->names = vn_xrealloc(l->names, l->cap * sizeof(char *));
        l->titles = vn_xrealloc(l->titles, l->cap * sizeof(char *));
    }
    l->names[l->n] = vn_xstrdup(node);
    l->titles[l->n] = c.title[0] ? vn_xstrdup(c.title) : NULL;
    l->n++;
}

/* disco#items (XEP-0060 §5.2, XEP-0163 §6): the nodes the requester may
 * see, one XEP-0059 page of them. The UIDs are the node names, listed in
 * their (byte) order, so a page after a node that was deleted meanwhile
 * still starts at the right place (XEP-0059 §2.4). The whole visible list
 * is built here on the storage thread (one statement, the requester's
 * affiliation joined in) for the count; only the page goes to the loop
 * thread and on the wire. */
static void op_list_nodes(vn_store_t *st, ps_job_t *j)
{
    who_t base;
    if (who_is(st, j, 0, &base) < 0) {
        internal(j);
        return;
    }
    list_ctx_t l = {j, &base, NULL, NULL, 0, 0};
    if (vn_store_ps_node_list_aff(st, j->service, j->requester, node_cb, &l) < 0) {
        internal(j);
    } else {
        vn_rsm_page_t p;
        vn_rsm_select_sorted(&j->rsm, (const char *const *)l.names, l.n,
                             vn_rsm_limit(&j->rsm, j->page_limit, j->page_limit), &p);
        for (size_t i = p.first; i < p.first + p.count; i++)
            add_pair(j, l.names[i], l.titles[i], NULL);
        j->listed = l.n;
        j->page_first = p.first;
    }
    for (size_t i = 0; i < l.n; i++) {
        free(l.names[i]);
        free(l.titles[i]);
    }
    free(l.names);
    free(l.titles);
    who_free(&base);
}

typedef struct last_ctx {
    ps_job_t *j;
    const char *node;
} last_ctx_t;

static void last_cb(const vn_ps_item_t *it, void *ud)
{
    last_ctx_t *l = ud;
    add_item(l->j, l->node, it);
}

/* XEP-0163 §4.3.4 / XEP-0060 §9.3.2: the newest item of each wanted node
 * the requester may access (send_last_published_item not "never"). */
static void op_last_items(vn_store_t *st, ps_job_t *j)
{
    for (char **n = j->want; n && *n; n++) {
        char *text = NULL;
        int64_t id;
        int r = vn_store_ps_node_get(st, j->service, *n, &id, &text);
        if (r < 0) {
            internal(j);
            return;
        }
        if (r == 1) continue;
        ps_config_t c;
        ps_config_default(&c, j->pep);
        ps_config_parse(&c, text);
        free(text);
        if (c.send_last == PS_SEND_LAST_NEVER || !c.deliver_notifications) continue;
        who_t w;
        if (who_is(st, j, id, &w) < 0) {
            internal(j);
            return;
        }
        int ok = may_access(j, &c, &w);
        who_free(&w);
        j->rc = 0;
        if (!ok) continue;
        last_ctx_t l = {j, *n};
        if (vn_store_ps_items(st, id, 1, last_cb, &l) < 0) {
            internal(j);
            return;
        }
    }
}

static void op_subscribe(vn_store_t *st, ps_job_t *j)
{
    who_t w;
    if (load_existing(st, j, &w) < 0) return;
    int ok = may_access(j, &j->cfg, &w);
    who_free(&w);
    if (!ok) return;
    char subid[48], state[16];
    int r = vn_store_ps_sub_get(st, j->node_id, j->requester_full, subid, sizeof(subid), state,
                                sizeof(state));
    if (r < 0) {
        internal(j);
        return;
    }
    if (r == 0) {
        /* Already subscribed (or our own re-run): the existing one stands. */
        snprintf(j->subid, sizeof(j->subid), "%s", subid);
    } else {
        if (vn_store_ps_sub_set(st, j->node_id, j->requester_full, j->item_id, "subscribed") < 0) {
            internal(j);
            return;
        }
        snprintf(j->subid, sizeof(j->subid), "%s", j->item_id);
    }
    snprintf(j->substate, sizeof(j->substate), "subscribed");
    if (j->cfg.send_last != PS_SEND_LAST_NEVER &&
        vn_store_ps_items(st, j->node_id, 1, item_cb, j) < 0)
        internal(j);
}

static void op_unsubscribe(vn_store_t *st, ps_job_t *j)
{
    int r = load_node(st, j);
    if (r < 0) return;
    if (r == 1) {
        fail(j, "cancel", "item-not-found", NULL);
        return;
    }
    char subid[48], state[16];
    r = vn_store_ps_sub_get(st, j->node_id, j->requester_full, subid, sizeof(subid), state,
                            sizeof(state));
    if (r < 0) {
        internal(j);
        return;
    }
    if (r == 1) {
        fail(j, "cancel", "unexpected-request", "not-subscribed");
        return;
    }
    if (vn_store_ps_sub_set(st, j->node_id, j->requester_full, NULL, NULL) < 0) internal(j);
}

static void subs_of_cb(const char *node, const char *jid, const char *subid, const char *state,
                       void *ud)
{
    ps_job_t *j = ud;
    if (j->node && strcmp(node, j->node)) return;
    add_pair(j, node, jid, subid);
    (void)state;
}

static void op_subscriptions(vn_store_t *st, ps_job_t *j)
{
    if (vn_store_ps_subs_of(st, j->service, j->requester, subs_of_cb, j) < 0) internal(j);
}

static void aff_cb(const char *jid, const char *aff, void *ud)
{
    add_pair(ud, jid, aff, NULL);
}

static void owner_sub_cb(const char *jid, const char *subid, const char *state, void *ud)
{
    add_pair(ud, jid, state, subid);
}

static int valid_aff(const char *a)
{
    return !strcmp(a, "owner") || !strcmp(a, "publisher") || !strcmp(a, "member") ||
           !strcmp(a, "none") || !strcmp(a, "outcast") || !strcmp(a, "publish-only");
}

static void op_owner(vn_store_t *st, ps_job_t *j)
{
    if (require_owner(st, j) < 0) return;
    switch (j->op) {
    case PS_OP_OWNER_AFFS_GET:
        if (vn_store_ps_aff_list(st, j->node_id, aff_cb, j) < 0) internal(j);
        return;
    case PS_OP_OWNER_SUBS_GET:
        if (vn_store_ps_sub_list(st, j->node_id, owner_sub_cb, j) < 0) internal(j);
        return;
    case PS_OP_OWNER_AFFS_SET:
        for (int i = 0; i < j->nin_pairs; i++)
            if (!valid_aff(j->in_pairs[i].b)) {
                fail(j, "modify", "bad-request", NULL);
                return;
            }
        for (int i = 0; i < j->nin_pairs; i++) {
            if (vn_store_ps_aff_set(st, j->node_id, j->in_pairs[i].a, j->in_pairs[i].b) < 0) {
                internal(j);
                return;
            }
            /* XEP-0060 §8.9.2.4: an outcast loses its subscription. */
            if (!strcmp(j->in_pairs[i].b, "outcast") &&
                vn_store_ps_sub_set(st, j->node_id, j->in_pairs[i].a, NULL, NULL) < 0) {
                internal(j);
                return;
            }
        }
        return;
    case PS_OP_OWNER_SUBS_SET:
        for (int i = 0; i < j->nin_pairs; i++) {
            const char *state = j->in_pairs[i].b;
            if (strcmp(state, "subscribed") && strcmp(state, "none")) {
                fail(j, "modify", "bad-request", NULL);
                return;
            }
            const char *subid = j->in_pairs[i].c;
            if (vn_store_ps_sub_set(st, j->node_id, j->in_pairs[i].a, subid,
                                    !strcmp(state, "none") ? NULL : state) < 0) {
                internal(j);
                return;
            }
        }
        return;
    default:
        return;
    }
}

static void op_node_info(vn_store_t *st, ps_job_t *j)
{
    int r = load_node(st, j);
    if (r == 1) fail(j, "cancel", "item-not-found", NULL);
}

static void ps_work(vn_work_t *w)
{
    ps_job_t *j = (ps_job_t *)w;
    vn_store_t *st = vn_store_of(w);
    reset_outputs(j);
    switch (j->op) {
    case PS_OP_PUBLISH:
        op_publish(st, j);
        break;
    case PS_OP_ITEMS:
        op_items(st, j);
        break;
    case PS_OP_RETRACT:
        op_retract(st, j);
        break;
    case PS_OP_CREATE:
        op_create(st, j);
        break;
    case PS_OP_DELETE:
        op_delete(st, j);
        break;
    case PS_OP_PURGE:
        op_purge(st, j);
        break;
    case PS_OP_CONFIG_GET:
        require_owner(st, j);
        break;
    case PS_OP_CONFIG_SET:
        op_config_set(st, j);
        break;
    case PS_OP_LIST_NODES:
        op_list_nodes(st, j);
        break;
    case PS_OP_LAST_ITEMS:
        op_last_items(st, j);
        break;
    case PS_OP_SUBSCRIBE:
        op_subscribe(st, j);
        break;
    case PS_OP_UNSUBSCRIBE:
        op_unsubscribe(st, j);
        break;
    case PS_OP_SUBSCRIPTIONS:
        op_subscriptions(st, j);
        break;
    case PS_OP_AFFILIATIONS:
        break;
    case PS_OP_OWNER_AFFS_GET:
    case PS_OP_OWNER_AFFS_SET:
    case PS_OP_OWNER_SUBS_GET:
    case PS_OP_OWNER_SUBS_SET:
        op_owner(st, j);
        break;
    case PS_OP_NODE_INFO:
        op_node_info(st, j);
        break;
    }
}

static void ps_done(vn_work_t *w)
{
    ps_job_t *j = (ps_job_t *)w;
    if (j->then) j->then(j);
    reset_outputs(j);
    free_pairs(j->in_pairs, j->nin_pairs);
    ps_strv_free(j->ids);
    ps_strv_free(j->want);
    if (j->form_arena) vn_arena_free(j->form_arena);
    vn_stanza_free(j->req);
    free(j->service);
    free(j->node);
    free(j->requester);
    free(j->requester_full);
    free(j->item_id);
    free(j->payload);
    free(j);
}

ps_job_t *ps_job_new(vn_server_t *srv, ps_op_t op, int pep, const char *service, const char *node)
{
    ps_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->srv = srv;
    j->op = op;
    j->pep = pep;
    j->service = vn_xstrdup(service);
    j->node = node ? vn_xstrdup(node) : NULL;
    j->max_keep = srv->cfg.pubsub_max_items;
    j->max_nodes = pep ? srv->cfg.pubsub_max_nodes : srv->cfg.pubsub_service_nodes;
    j->max_nodes_per_account = pep ? 0 : srv->cfg.pubsub_service_nodes_per_account;
    j->page_limit = (size_t)srv->cfg.pubsub_disco_max_items;
    vn_rsm_parse(NULL, NULL, &j->rsm); /* no <set/> */
    return j;
}

void ps_job_discard(ps_job_t *j)
{
    j->then = NULL;
    ps_done(&j->work);
}

void ps_job_submit(ps_job_t *j)
{
    /* In order per service (for PEP, the account): a node is created
     * before it is published to, and items keep the order of publication. */
    vn_store_submit_ordered(j->srv, j->service, &j->work, ps_work, ps_done);
}

void ps_job_error_reply(ps_job_t *j)
{
    if (!j->req) return;
    ps_error(j->srv, j->req, j->err_type ? j->err_type : "wait",
             j->err_cond ? j->err_cond : "internal-server-error", j->err_app, j->err_feature);
}

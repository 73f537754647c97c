/* XEP-0191: Blocking Command (urn:xmpp:blocking).
 *
 * The blocklist of an online user is loaded before the first bind result
 * (like the roster) and kept in a user slot; changes go through storage
 * first and reach the copy when committed, in submission order (the load,
 * the reads and the changes are ordered storage jobs of the list's owner,
 * xmpp/server.h). The same
 * slot index marks, in a session's slots, the sessions that requested the
 * blocklist (they get the pushes, §5.3 / §5.4).
 *
 * Enforcement (§5.3), immediate once the block result is sent:
 *   - inbound, before delivery (TO_ACCOUNT): presence dropped silently,
 *     messages and IQ get/set answered with <service-unavailable/>, other
 *     IQs dropped. An account without a session keeps its list in a
 *     bounded cache; when it is not there, the stanzas that would leave a
 *     trace (messages for offline storage, subscription requests, IQs
 *     answered on the account's behalf) wait for a storage read and are
 *     then routed on (a local sender's stream is held meanwhile, as the
 *     archive module does, so acknowledgements stay behind the writes);
 *   - outbound, from the client (FROM_CLIENT): refused with
 *     <not-acceptable/> + <blocked xmlns='urn:xmpp:blocking:errors'/>;
 *     presence the server sends on the user's behalf (broadcast, probe
 *     answers) does not reach a blocked JID either;
 *   - DELIVER catches what modules hand to sessions directly (presence of
 *     contacts at login).
 * JIDs match per §4: full JID, bare JID, domain/resource, domain (with its
 * users, resources and subdomains). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"
#include "mod/roster.h"
#include "xmpp/router.h"

#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
#define BLOCKLIST_MAX 10000

typedef struct blocklist {
    vn_map_t *jids; /* normalised JID -> MARK */
    int loaded;
    vn_session_t **waiting; /* sessions whose bind waits for the load */
    int nwaiting;
} blocklist_t;

/* One index, used in vn_user_t.slot (blocklist_t*) and in
 * vn_session_t.slot (MARK: the session requested the blocklist). */
static int bl_slot = -1;
static void *const MARK = (void *)&bl_slot;
/* Users whose loaded list is not empty: zero means nothing to enforce. */
static int nonempty_lists;
static unsigned long long push_seq;
/* A stanza this module let pass after reading a list, or an error telling
 * the user a JID is blocked: passes this module's hooks. */
static const vn_stanza_t *resumed;

static blocklist_t *list_of(vn_user_t *u)
{
    blocklist_t *bl = u ? u->slot[bl_slot] : NULL;
    return bl && bl->loaded ? bl : NULL;
}

static void size_changed(size_t before, size_t after)
{
    if (!before && after) nonempty_lists++;
    if (before && !after) nonempty_lists--;
}

static void blocklist_free(blocklist_t *bl)
{
    if (!bl) return;
    if (bl->loaded) size_changed(vn_map_size(bl->jids), 0);
    vn_map_free(bl->jids);
    for (int i = 0; i < bl->nwaiting; i++)
        vn_session_unref(bl->waiting[i]);
    free(bl->waiting);
    free(bl);
}

/* ---- §4 JID matching ---- */

/* Calls fn with each blocklist entry that would match j, most specific
 * first; stops at the first nonzero answer and returns it. */
static int each_key(const vn_jid_t *j, int (*fn)(const char *key, void *ud), void *ud)
{
    char buf[3200];
    int r;
    if (!j->domain) return 0;
    if (j->local && j->resource &&
        (size_t)snprintf(buf, sizeof(buf), "%s@%s/%s", j->local, j->domain, j->resource) <
            sizeof(buf) &&
        (r = fn(buf, ud)))
        return r;
    if (j->local &&
        (size_t)snprintf(buf, sizeof(buf), "%s@%s", j->local, j->domain) < sizeof(buf) &&
        (r = fn(buf, ud)))
        return r;
    if (j->resource &&
        (size_t)snprintf(buf, sizeof(buf), "%s/%s", j->domain, j->resource) < sizeof(buf) &&
        (r = fn(buf, ud)))
        return r;
    /* The domain, then each parent domain (a subdomain matches too). */
    for (const char *d = j->domain; d && *d;) {
        if ((r = fn(d, ud))) return r;
        d = strchr(d, '.');
        if (d) d++;
    }
    return 0;
}

static int in_map(const char *key, void *ud)
{
    return vn_map_get(ud, key) != NULL;
}

static int matches(const blocklist_t *bl, const vn_jid_t *j)
{
    if (!bl || !bl->jids || !vn_map_size(bl->jids)) return 0;
    return each_key(j, in_map, bl->jids);
}

static int equals(const char *key, void *ud)
{
    return strcmp(key, ud) == 0;
}

/* Does the blocklist entry `pattern` match j? */
static int pattern_matches(const char *pattern, const vn_jid_t *j)
{
    return each_key(j, equals, (void *)pattern);
}

static int same_account(const vn_jid_t *a, const vn_jid_t *b)
{
    return a->local && b->local && !strcmp(a->local, b->local) && !strcmp(a->domain, b->domain);
}

static vn_user_t *local_user(vn_server_t *srv, const vn_jid_t *j)
{
    if (!j->local || !j->domain) return NULL;
    char bare[2100];
    if ((size_t)snprintf(bare, sizeof(bare), "%s@%s", j->local, j->domain) >= sizeof(bare))
        return NULL;
    return vn_router_user(srv, bare);
}

/* The server itself (errors, results from the domain) is never blocked
 * from talking to its own users. */
static int from_own_server(vn_server_t *srv, const vn_stanza_t *st)
{
    return !st->from.local && !st->from.resource && st->from.domain &&
           vn_server_domain_index(srv, st->from.domain) >= 0;
}

/* ---- refusals ---- */

/* §5.3: what the user's server does with a stanza from a blocked entity. */
static void refuse_inbound(vn_server_t *srv, vn_stanza_t *st)
{
    switch (st->kind) {
    case VN_MESSAGE:
        vn_route_error(srv, st, "cancel", "service-unavailable", NULL);
        return;
    case VN_IQ:
        if (!strcmp(st->type, "get") || !strcmp(st->type, "set"))
            vn_route_error(srv, st, "cancel", "service-unavailable", NULL);
        return;
    default:
        return; /* presence (notifications, subscriptions, probes): silence */
    }
}

/* §5.3: a stanza from the user to a blocked entity is not routed; the
 * client learns why. */
static void refuse_outbound(vn_server_t *srv, vn_stanza_t *st)
{
    if (st->kind == VN_IQ && strcmp(st->type, "get") != 0 && strcmp(st->type, "set") != 0)
        return; /* results and errors: nobody to tell */
    vn_stanza_t *r = vn_stanza_error_reply(st, "cancel", "not-acceptable", NULL);
    if (!r) return;
    vn_xnode_t *err = r->node->last_child;
    vn_xnode_add(r->arena, err, NS_BLOCKING_ERRORS, "blocked");
    const vn_stanza_t *saved = resumed;
    resumed = r; /* from the blocked JID, yet for the user to read */
    vn_router_deliver(srv, st->origin, r);
    resumed = saved;
}

/* ---- loading at bind ---- */

typedef struct load_job {
    vn_work_t work;
    vn_server_t *srv;
    char *owner;
    vn_map_t *jids;
    int rc;
} load_job_t;

static void load_cb(const char *jid, void *ud)
{
    vn_map_put(ud, jid, MARK);
}

static void load_work(vn_work_t *w)
{
    load_job_t *j = (load_job_t *)w;
    j->rc = vn_store_block_list(vn_store_of(w), j->owner, load_cb, j->jids);
}

static void load_done(vn_work_t *w)
{
    load_job_t *j = (load_job_t *)w;
    vn_user_t *u = vn_router_user(j->srv, j->owner);
    blocklist_t *bl = u ? u->slot[bl_slot] : NULL;
    if (bl && !bl->loaded) {
        if (j->rc < 0) vn_error("blocklist of %s could not be loaded", j->owner);
        vn_map_free(bl->jids);
        bl->jids = j->jids;
        j->jids = NULL;
        bl->loaded = 1;
        size_changed(0, vn_map_size(bl->jids));
        vn_session_t **waiting = bl->waiting;
        int n = bl->nwaiting;
        bl->waiting = NULL;
        bl->nwaiting = 0;
        for (int i = 0; i < n; i++) {
            vn_session_bind_done(waiting[i]);
            vn_session_unref(waiting[i]);
        }
        free(waiting);
    }
    if (j->jids) vn_map_free(j->jids);
    free(j->owner);
    free(j);
}

/* ---- lists of accounts without a session ---- */

/* Owner bare JID -> loaded blocklist_t of an account that has no session
 * (moved here when its last session leaves, or read when a stanza for it
 * needed the list). Every change goes through an online session, which
 * uses the user slot; the entry is dropped at bind. Bounded; cleared when
 * full. Empty lists share one sentinel. */
static vn_map_t *offline;
static blocklist_t empty_list = {NULL, 1, NULL, 0};
#define OFFLINE_MAX 50000

static void offline_free_entry(const char *k, void *v, void *ud)
{
    (void)k, (void)ud;
    blocklist_t *bl = v;
    if (bl == &empty_list) return;
    vn_map_free(bl->jids);
    free(bl);
}

static void offline_clear(void)
{
    if (!offline) return;
    vn_map_each(offline, offline_free_entry, NULL);
    vn_map_free(offline);
    offline = NULL;
}

static void offline_drop(const char *owner)
{
    blocklist_t *bl = offline ? vn_map_del(offline, owner) : NULL;
    if (bl) offline_free_entry(owner, bl, NULL);
}

/* Takes ownership of jids. */
static blocklist_t *offline_put(const char *owner, vn_map_t *jids)
{
    if (!offline || vn_map_size(offline) >= OFFLINE_MAX) {
        offline_clear();
        offline = vn_map_new();
    }
    offline_drop(owner);
    blocklist_t *bl = &empty_list;
    if (vn_map_size(jids)) {
        bl = vn_xcalloc(1, sizeof(*bl));
        bl->jids = jids;
        bl->loaded = 1;
    } else {
        vn_map_free(jids);
    }
    vn_map_put(offline, owner, bl);
    return bl;
}

/* The list of a local account when it is in memory: its sessions' copy,
 * or the offline cache. NULL: unknown (a storage read is needed). */
static blocklist_t *known_list(vn_server_t *srv, const vn_jid_t *owner)
{
    vn_user_t *u = local_user(srv, owner);
    if (u) return list_of(u);
    if (!offline || !owner->local) return NULL;
    char bare[2100];
    snprintf(bare, sizeof(bare), "%s@%s", owner->local, owner->domain);
    return vn_map_get(offline, bare);
}

static vn_result_t on_bind(vn_server_t *srv, void *ctx)
{
    vn_session_t *s = ctx;
    vn_user_t *u = s->user;
    blocklist_t *bl = u->slot[bl_slot];
    if (bl && bl->loaded) return VN_PASS;
    if (!bl) {
        offline_drop(u->bare); /* read afresh for the sessions */
        bl = vn_xcalloc(1, sizeof(*bl));
        bl->jids = vn_map_new();
        u->slot[bl_slot] = bl;
        load_job_t *j = vn_xcalloc(1, sizeof(*j));
        j->srv = srv;
        j->owner = vn_xstrdup(u->bare);
        j->jids = vn_map_new();
        vn_store_submit_ordered(srv, j->owner, &j->work, load_work, load_done);
    }
    bl->waiting = vn_xrealloc(bl->waiting, sizeof(*bl->waiting) * (size_t)(bl->nwaiting + 1));
    bl->waiting[bl->nwaiting++] = s;
    vn_session_ref(s);
    return VN_HOLD;
}

static vn_result_t on_user_gone(vn_server_t *srv, void *ctx)
{
    (void)srv;
    vn_user_t *u = ctx;
    blocklist_t *bl = u->slot[bl_slot];
    u->slot[bl_slot] = NULL;
    if (bl && bl->loaded && !bl->nwaiting) {
        /* Still exact: keep it for the stanzas that come while offline. */
        size_changed(vn_map_size(bl->jids), 0);
        offline_put(u->bare, bl->jids);
        bl->jids = NULL;
        bl->loaded = 0;
    }
    blocklist_free(bl);
    return VN_PASS;
}

/* ---- reading an offline account's list ---- */

/* Stanzas to an account without a session that leave a trace: messages
 * kept for later, subscription changes, and IQs the server answers on the
 * account's behalf. The rest reaches no session anyway (no session of an
 * account is ready before its list is loaded). */
static int needs_check(const vn_stanza_t *st)
{
    switch (st->kind) {
    case VN_MESSAGE:
        return !st->type[0] || !strcmp(st->type, "normal") || !strcmp(st->type, "chat");
    case VN_PRESENCE:
        return !strcmp(st->type, "subscribe") || !strcmp(st->type, "subscribed") ||
               !strcmp(st->type, "unsubscribe") || !strcmp(st->type, "unsubscribed");
    case VN_IQ:
        return !st->to.resource && (!strcmp(st->type, "get") || !strcmp(st->type, "set"));
    default:
        return 0;
    }
}

typedef struct read_job {
    vn_work_t work;
    vn_server_t *srv;
    char *owner;
    vn_map_t *jids;
    int rc;
    vn_stanza_t *st; /* owned copy; st->origin referenced when from_client */
    int from_client; /* continue the FROM_CLIENT chain (else TO_ACCOUNT) */
    int held;        /* the sender's stream waits: resume it */
} read_job_t;

static void read_work(vn_work_t *w)
{
    read_job_t *j = (read_job_t *)w;
    vn_map_free(j->jids); /* a retried job starts afresh */
    j->jids = vn_map_new();
    j->rc = vn_store_block_list(vn_store_of(w), j->owner, load_cb, j->jids);
}

static void read_done(vn_work_t *w)
{
    read_job_t *j = (read_job_t *)w;
    vn_server_t *srv = j->srv;
    vn_stanza_t *st = j->st;
    /* Whatever is in memory now is as fresh as what was read. */
    blocklist_t *bl = known_list(srv, &st->to);
    blocklist_t tmp = {j->jids, 1, NULL, 0};
    if (!bl) {
        if (j->rc < 0) vn_error("blocklist of %s could not be read; delivering", j->owner);
        if (j->rc == 0 && !vn_router_user(srv, j->owner)) {
            bl = offline_put(j->owner, j->jids);
            j->jids = NULL;
        } else {
            bl = &tmp;
        }
    }
    int blocked = matches(bl, &st->from);
    vn_result_t r = VN_HANDLED;
    resumed = st;
    if (blocked) {
        refuse_inbound(srv, st);
    } else if (j->from_client) {
        /* Go on where the stanza stopped: the rest of FROM_CLIENT, then
         * routing (this module's hooks run first, nothing runs twice). */
        r = vn_hook_run(srv, VN_HOOK_FROM_CLIENT, st);
        if (r == VN_PASS) vn_route(srv, st);
    } else {
        if (vn_hook_run(srv, VN_HOOK_TO_ACCOUNT, st) == VN_PASS) vn_router_to_account(srv, st);
    }
    resumed = NULL;
    if (j->from_client) {
        /* A later holder (the archive) resumes the stream itself. */
        if (j->held && r != VN_HOLD) vn_session_resume(st->origin);
        vn_session_unref(st->origin);
    }
    vn_stanza_free(st);
    if (j->jids) vn_map_free(j->jids);
    free(j->owner);
    free(j);
}

static void read_submit(vn_server_t *srv, const vn_stanza_t *st, int from_client, int held)
{
    read_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->srv = srv;
    j->owner = vn_jid_bare_str(&(vn_jid_t){st->to.local, st->to.domain, NULL}, NULL);
    j->st = stanza_clone(st);
    j->from_client = from_client;
    j->held = held;
    if (from_client) {
        j->st->origin = st->origin;
        vn_session_ref(st->origin);
    }
    vn_store_submit_ordered(srv, j->owner, &j->work, read_work, read_done);
}

/* ---- enforcement hooks ---- */

static vn_result_t to_account(vn_server_t *srv, void *ctx)
{
    vn_stanza_t *st = ctx;
    if (st == resumed || !st->from.domain || same_account(&st->from, &st->to) ||
        from_own_server(srv, st))
        return VN_PASS;
    /* The sender's list: the user's presence (broadcast, probe answers)
     * does not reach a JID the user blocks. Unavailable presence does
     * (§5.3 sends it on block). */
    if (nonempty_lists && st->kind == VN_PRESENCE && (!st->type[0] || !strcmp(st->type, "probe")) &&
        matches(list_of(local_user(srv, &st->from)), &st->to))
        return VN_HANDLED;
    /* The recipient's list. */
    blocklist_t *bl = known_list(srv, &st->to);
    if (bl) {
        if (!matches(bl, &st->from)) return VN_PASS;
        vn_debug("blocking: %s@%s refused a %s from %s", st->to.local, st->to.domain,
                 st->node->name, vn_jid_full_str(&st->from, st->arena));
        refuse_inbound(srv, st);
        return VN_HANDLED;
    }
    if (!needs_check(st)) return VN_PASS;
    /* Not from a client of ours (those were read in FROM_CLIENT, with the
     * stream held): route on once the list is read. */
    read_submit(srv, st, 0, 0);
    return VN_HANDLED;
}

static vn_result_t from_client(vn_server_t *srv, void *ctx)
{
    vn_stanza_t *st = ctx;
    vn_session_t *s = st->origin;
    if (st == resumed || !s || !s->user || !st->to.domain || same_account(&st->to, &s->jid))
        return VN_PASS;
    if (nonempty_lists && matches(list_of(s->user), &st->to)) {
        refuse_outbound(srv, st);
        return VN_HANDLED;
    }
    /* A local recipient whose list is not in memory: read it with the
     * sender's stream held, so that what the stanza causes (offline
     * storage, archive) is submitted before anything the client sends
     * next; XEP-0198 acknowledgements rely on that order (mod/sm.c). */
    if (st->to.local && needs_check(st) && vn_server_domain_index(srv, st->to.domain) >= 0 &&
        !known_list(srv, &st->to)) {
        /* Held here, not with VN_HOLD: that would let the later hooks of
         * the chain (the archive) see a stanza that may yet be refused. */
        int held = s->in_parser && s->parser;
        read_submit(srv, st, 1, held);
        if (held) vn_xml_parser_suspend(s->parser);
        return VN_HANDLED;
    }
    return VN_PASS;
}

static vn_result_t on_deliver(vn_server_t *srv, void *ctx)
{
    vn_delivery_t *d = ctx;
    vn_stanza_t *st = d->st;
    vn_session_t *s = d->s;
    if (!nonempty_lists || st == resumed || !s->user || !st->from.domain ||
        same_account(&st->from, &s->jid) || from_own_server(srv, st))
        return VN_PASS;
    if (matches(list_of(s->user), &st->from)) return VN_HANDLED;
    if (st->kind == VN_PRESENCE && !st->type[0] &&
        matches(list_of(local_user(srv, &st->from)), &s->jid))
        return VN_HANDLED;
    return VN_PASS;
}

/* ---- the protocol ---- */

static int own_account(const vn_stanza_t *st)
{
    return st->origin && st->origin->user && same_account(&st->from, &st->to) && !st->to.resource;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct keys_ctx {
    const char **v;
    size_t n;
} keys_ctx_t;

static void collect_entry(const char *k, void *v, void *ud)
{
    (void)v;
    keys_ctx_t *c = ud;
    c->v[c->n++] = k;
}

/* §5.2: the blocklist, which also subscribes the session to pushes. */
static vn_result_t on_get(vn_server_t *srv, vn_stanza_t *st)
{
    if (!own_account(st)) {
        vn_route_error(srv, st, "auth", "forbidden", NULL);
        return VN_HANDLED;
    }
    vn_xnode_t *p = vn_xnode_first_element(st->node);
    if (strcmp(p->name, "blocklist") != 0) {
        vn_route_error(srv, st, "modify", "bad-request", NULL);
        return VN_HANDLED;
    }
    vn_session_t *s = st->origin;
    blocklist_t *bl = list_of(s->user);
    if (!bl) {
        vn_route_error(srv, st, "wait", "internal-server-error", NULL);
        return VN_HANDLED;
    }
    s->slot[bl_slot] = MARK;
    vn_stanza_t *r = vn_stanza_iq_result(st);
    vn_xnode_t *list = vn_xnode_add(r->arena, r->node, NS_BLOCKING, "blocklist");
    size_t n = vn_map_size(bl->jids);
    if (n) {
        keys_ctx_t kc = {vn_xmalloc(n * sizeof(char *)), 0};
        vn_map_each(bl->jids, collect_entry, &kc);
        qsort(kc.v, kc.n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < kc.n; i++) {
            vn_xnode_t *it = vn_xnode_add(r->arena, list, NS_BLOCKING, "item");
            vn_xnode_set_attr(r->arena, it, "jid", vn_arena_strdup(r->arena, kc.v[i]));
        }
        free(kc.v);
    }
    vn_router_deliver(srv, s, r);
    return VN_HANDLED;
}

enum { OP_BLOCK, OP_UNBLOCK, OP_UNBLOCK_ALL };

typedef struct change_job {
    vn_work_t work;
    vn_server_t *srv;
    char *owner;
    int op;
    char **jids; /* normalised, no duplicates */
    int n;
    int written; /* jids committed before an error */
    int rc;
    vn_session_t *session; /* referenced */
    vn_stanza_t *request;  /* owned copy, for the reply */
} change_job_t;

static void change_work(vn_work_t *w)
{
    change_job_t *j = (change_job_t *)w;
    vn_store_t *store = vn_store_of(w);
    if (j->op == OP_UNBLOCK_ALL) {
        j->rc = vn_store_block_remove(store, j->owner, NULL);
        return;
    }
    for (j->written = 0; j->written < j->n; j->written++) {
        int rc = j->op == OP_BLOCK ? vn_store_block_add(store, j->owner, j->jids[j->written])
                                   : vn_store_block_remove(store, j->owner, j->jids[j->written]);
        if (rc < 0) {
            j->rc = -1;
            return;
        }
    }
}

static void change_free(change_job_t *j)
{
    for (int i = 0; i < j->n; i++)
        free(j->jids[i]);
    free(j->jids);
    free(j->owner);
    if (j->request) vn_stanza_free(j->request);
    if (j->session) vn_session_unref(j->session);
    free(j);
}

static int visit_push(vn_server_t *srv, vn_session_t *s, void *push)
{
    if (s->state == VN_SS_READY && s->slot[bl_slot] == MARK) vn_router_deliver_to(srv, s, push);
    return 0;
}

/* §5.3 / §5.4 / §5.5: the same change, pushed to every session that
 * requested the blocklist. */
static void push(vn_server_t *srv, vn_user_t *u, const char *what, char **jids, int n)
{
    vn_stanza_t *p = vn_stanza_new("iq");
    vn_arena_t *a = p->arena;
    vn_xnode_set_attr(a, p->node, "type", "set");
    p->type = "set";
    vn_xnode_set_attr(a, p->node, "id", vn_arena_printf(a, "block-push-%llu", ++push_seq));
    vn_xnode_t *el = vn_xnode_add(a, p->node, NS_BLOCKING, what);
    for (int i = 0; i < n; i++) {
        vn_xnode_t *it = vn_xnode_add(a, el, NS_BLOCKING, "item");
        vn_xnode_set_attr(a, it, "jid", jids[i]);
    }
    vn_router_each_session(srv, u, visit_push, p);
    vn_stanza_free(p);
}

typedef struct contacts_ctx {
    char **patterns;
    int n;
    blocklist_t *still; /* when set: skip contacts this list still blocks */
    vn_buf_t out;       /* "contact\0target\0" pairs */
    vn_arena_t *a;
} contacts_ctx_t;

static void add_target(contacts_ctx_t *c, const char *contact, const char *target)
{
    vn_buf_append(&c->out, contact, strlen(contact) + 1);
    vn_buf_append(&c->out, target, strlen(target) + 1);
}

/* Which addresses of a roster contact the patterns concern: the contact's
 * bare JID when a pattern matches it (bare JID, domain), or one of its
 * resources when a pattern names that resource. */
static void match_contact(const char *k, void *v, void *ud)
{
    contacts_ctx_t *c = ud;
    vn_roster_item_t *it = v;
    if (!roster_has_from(it) && !roster_has_to(it)) return;
    vn_jid_t cj;
    if (vn_jid_parse(k, strlen(k), &cj, c->a) < 0) return;
    if (c->still && matches(c->still, &cj)) return;
    size_t klen = strlen(k);
    for (int i = 0; i < c->n; i++) {
        const char *pat = c->patterns[i];
        if (pattern_matches(pat, &cj)) {
            add_target(c, k, k);
            return;
        }
        if (cj.local && !strncmp(pat, k, klen) && pat[klen] == '/') add_target(c, k, pat);
    }
}

/* The roster contacts the patterns concern, with the address to use. */
static void roster_contacts(vn_user_t *u, char **patterns, int n, blocklist_t *still,
                            contacts_ctx_t *c)
{
    memset(c, 0, sizeof(*c));
    c->patterns = patterns;
    c->n = n;
    c->still = still;
    c->a = vn_arena_new(1024);
    roster_t *r = roster_of(u);
    if (r) vn_map_each(r->items, match_contact, c);
}

static void contacts_free(contacts_ctx_t *c)
{
    vn_buf_free(&c->out);
    vn_arena_free(c->a);
}

/* Walks the pairs: sets *contact and *target, returns the next offset. */
static size_t next_target(const contacts_ctx_t *c, size_t off, const char **contact,
                          const char **target)
{
    *contact = c->out.data + off;
    *target = *contact + strlen(*contact) + 1;
    return (size_t)(*target - c->out.data) + strlen(*target) + 1;
}

static void route_presence(vn_server_t *srv, const char *type, const vn_jid_t *from, const char *to)
{
    vn_stanza_t *p = vn_stanza_new("presence");
    vn_jid_t tj;
    if (vn_jid_parse(to, strlen(to), &tj, p->arena) == 0) {
        vn_xnode_set_attr(p->arena, p->node, "type", type);
        p->type = type;
        vn_stanza_set_from(p, from);
        vn_stanza_set_to(p, &tj);
        vn_route(srv, p);
    }
    vn_stanza_free(p);
}

static int visit_unavailable(vn_server_t *srv, vn_session_t *s, void *target)
{
    if (s->state == VN_SS_READY && s->available)
        route_presence(srv, "unavailable", &s->jid, target);
    return 0;
}

/* §5.3: on block, unavailable presence from each available resource to
 * the blocked contacts that receive the user's presence (RFC 6121 'from'
 * subscription). */
static void after_block(vn_server_t *srv, vn_user_t *u, char **jids, int n)
{
    contacts_ctx_t c;
    roster_contacts(u, jids, n, NULL, &c);
    const char *contact, *target;
    for (size_t off = 0; off < c.out.len;) {
        off = next_target(&c, off, &contact, &target);
        if (!roster_has_from(roster_find(roster_of(u), contact))) continue;
        vn_router_each_session(srv, u, visit_unavailable, (void *)target);
    }
    contacts_free(&c);
}

/* §5.4 / §5.5: on unblock, the contact gets the user's current presence
 * again, and the user the contact's. Both are asked of the presence
 * module's probe handling (internal probes, never on the wire for local
 * accounts), which applies the subscription rules (RFC 6121 §4.3). */
static void after_unblock(vn_server_t *srv, vn_user_t *u, char **jids, int n)
{
    contacts_ctx_t c;
    roster_contacts(u, jids, n, list_of(u), &c);
    vn_jid_t owner = {u->jid.local, u->jid.domain, NULL};
    const char *contact, *target;
    for (size_t off = 0; off < c.out.len;) {
        off = next_target(&c, off, &contact, &target);
        vn_jid_t tj;
        if (vn_jid_parse(target, strlen(target), &tj, c.a) < 0) continue;
        route_presence(srv, "probe", &tj, u->bare);
        route_presence(srv, "probe", &owner, contact);
    }
    contacts_free(&c);
}

static void change_done(vn_work_t *w)
{
    change_job_t *j = (change_job_t *)w;
    vn_server_t *srv = j->srv;
    vn_user_t *u = vn_router_user(srv, j->owner);
    blocklist_t *bl = list_of(u);
    int applied = j->op == OP_UNBLOCK_ALL ? (j->rc == 0 ? 1 : 0) : j->written;
    char **changed = NULL; /* what the copy gained or lost */
    int nchanged = 0;
    if (bl && applied) {
        size_t before = vn_map_size(bl->jids);
        if (j->op == OP_UNBLOCK_ALL) {
            keys_ctx_t kc = {vn_xmalloc((before + 1) * sizeof(char *)), 0};
            vn_map_each(bl->jids, collect_entry, &kc);
            changed = vn_xmalloc((before + 1) * sizeof(char *));
            for (size_t i = 0; i < kc.n; i++)
                changed[nchanged++] = vn_xstrdup(kc.v[i]);
            free(kc.v);
            vn_map_free(bl->jids);
            bl->jids = vn_map_new();
        } else {
            changed = vn_xmalloc(sizeof(char *) * (size_t)applied);
            for (int i = 0; i < applied; i++) {
                int had = vn_map_get(bl->jids, j->jids[i]) != NULL;
                if (j->op == OP_BLOCK && !had) {
                    vn_map_put(bl->jids, j->jids[i], MARK);
                    changed[nchanged++] = vn_xstrdup(j->jids[i]);
                } else if (j->op == OP_UNBLOCK && had) {
                    vn_map_del(bl->jids, j->jids[i]);
                    changed[nchanged++] = vn_xstrdup(j->jids[i]);
                }
            }
        }
        size_changed(before, vn_map_size(bl->jids));
    }
    /* The result first (the change is in force from now on), then pushes,
     * then what the contacts see. */
    vn_session_t *s = j->session;
    if (s && vn_session_alive(s)) {
        vn_stanza_t *r =
            j->rc < 0 ? vn_stanza_error_reply(j->request, "wait", "internal-server-error", NULL)
                      : vn_stanza_iq_result(j->request);
        if (r) vn_router_deliver(srv, s, r);
    }
    if (u && applied) {
        if (j->op == OP_BLOCK)
            push(srv, u, "block", j->jids, applied);
        else if (j->op == OP_UNBLOCK)
            push(srv, u, "unblock", j->jids, applied);
        else
            push(srv, u, "unblock", NULL, 0);
        if (bl && nchanged) {
            if (j->op == OP_BLOCK)
                after_block(srv, u, changed, nchanged);
            else
                after_unblock(srv, u, changed, nchanged);
        }
    }
    for (int i = 0; i < nchanged; i++)
        free(changed[i]);
    free(changed);
    change_free(j);
}

/* §5.3 / §5.4 / §5.5: block and unblock. */
static vn_result_t on_set(vn_server_t *srv, vn_stanza_t *st)
{
    if (!own_account(st)) {
        vn_route_error(srv, st, "auth", "forbidden", NULL);
        return VN_HANDLED;
    }
    vn_session_t *s = st->origin;
    vn_xnode_t *p = vn_xnode_first_element(st->node);
    int op;
    if (!strcmp(p->name, "block"))
        op = OP_BLOCK;
    else if (!strcmp(p->name, "unblock"))
        op = OP_UNBLOCK;
    else {
        vn_route_error(srv, st, "modify", "bad-request", NULL);
        return VN_HANDLED;
    }
    blocklist_t *bl = list_of(s->user);
    if (!bl) {
        vn_route_error(srv, st, "wait", "internal-server-error", NULL);
        return VN_HANDLED;
    }
    int count = 0;
    for (vn_xnode_t *it = p->children; it; it = it->next)
        if (it->name) count++;
    /* §5.3: a block without items is a bad request; §5.5: an unblock
     * without items unblocks everything. */
    if (!count) {
        if (op == OP_BLOCK) {
            vn_route_error(srv, st, "modify", "bad-request", NULL);
            return VN_HANDLED;
        }
        op = OP_UNBLOCK_ALL;
    }
    char **jids = count ? vn_xcalloc((size_t)count, sizeof(char *)) : NULL;
    int n = 0;
    const char *cond = NULL;
    for (vn_xnode_t *it = p->children; it && !cond; it = it->next) {
        if (!it->name) continue;
        const char *jid = vn_xnode_attr(it, "jid");
        vn_jid_t j;
        if (strcmp(it->name, "item") != 0 || !it->ns || strcmp(it->ns, NS_BLOCKING) != 0 || !jid) {
            cond = "bad-request";
        } else if (vn_jid_parse(jid, strlen(jid), &j, st->arena) < 0) {
            cond = "jid-malformed";
        } else {
            char *norm = vn_jid_full_str(&j, st->arena);
            int dup = 0;
            for (int i = 0; i < n && !dup; i++)
                dup = !strcmp(jids[i], norm);
            if (!dup) jids[n++] = vn_xstrdup(norm);
        }
    }
    if (!cond && op == OP_BLOCK && vn_map_size(bl->jids) + (size_t)n > BLOCKLIST_MAX)
        cond = "resource-constraint";
    if (cond) {
        for (int i = 0; i < n; i++)
            free(jids[i]);
        free(jids);
        vn_route_error(srv, st, !strcmp(cond, "resource-constraint") ? "wait" : "modify", cond,
                       NULL);
        return VN_HANDLED;
    }
    change_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->srv = srv;
    j->owner = vn_xstrdup(s->user->bare);
    j->op = op;
    j->jids = jids;
    j->n = n;
    j->session = s;
    vn_session_ref(s);
    j->request = stanza_clone(st);
    vn_store_submit_ordered(srv, j->owner, &j->work, change_work, change_done);
    return VN_HANDLED;
}

static int init(vn_server_t *srv)
{
    (void)srv;
    bl_slot = vn_slot_alloc();
    nonempty_lists = 0;
    resumed = NULL;
    return 0;
}

static void fini(vn_server_t *srv)
{
    (void)srv;
    offline_clear();
}

static const char *const features[] = {NS_BLOCKING, NULL};
static const vn_iq_handler_t iq[] = {
    {"get", NS_BLOCKING, VN_TARGET_ACCOUNT, on_get},
    {"set", NS_BLOCKING, VN_TARGET_ACCOUNT, on_set},
    {NULL, NULL, 0, NULL},
};
static const vn_hook_t hooks[] = {
    {VN_HOOK_BIND, on_bind, 0},
    {VN_HOOK_USER_GONE, on_user_gone, -100},
    /* First: nothing else sees a stanza this module refuses. */
    {VN_HOOK_TO_ACCOUNT, to_account, 1000},
    {VN_HOOK_FROM_CLIENT, from_client, 1000},
    /* Before CSI, which would otherwise hold what is to be dropped. */
    {VN_HOOK_DELIVER, on_deliver, 100},
    {VN_HOOK_COUNT, NULL, 0},
};

const vn_module_t vn_mod_blocking = {
    .name = "blocking",
    .features = features,
    .iq = iq,
    .hooks = hooks,
    .init = init,
    .fini = fini,
};

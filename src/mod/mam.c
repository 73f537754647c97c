/* XEP-0313: Message Archive Management (urn:xmpp:mam:2) for user archives,
 * with XEP-0359 stanza ids, XEP-0059 paging and the archiving preferences
 * of XEP-0441 (formerly XEP-0313 §7, same namespace).
 *
 * What is archived (XEP-0313 §6.1.1): messages of type normal or chat with
 * a <body/> or a XEP-0334 <store/> hint (OMEMO key transport and heartbeat
 * messages have no body), without a <no-store/> or <no-permanent-store/> hint;
 * never errors, headlines or groupchat. A message from a local client goes
 * into the sender's archive, a message to a local account into the
 * recipient's archive; each copy gets its own id. The recipient's id is
 * added to the stanza as <stanza-id by='recipient'/> before delivery
 * (XEP-0313 §3.5), so live delivery, offline storage and the archive carry
 * the same id.
 *
 * Durability: every append is submitted to the storage thread while the
 * stanza is being routed, i.e. before anything the client sends later, as
 * an ordered job of the archive's owner; XEP-0198 acknowledges only after
 * a storage barrier over all owners submitted behind those writes
 * (mod/sm.c, xmpp/server.h), so an acknowledged message is in the archive
 * even after kill -9. (This holds as long as no module defers
 * the routing of a message without holding the sender's stream.)
 *
 * Preferences decide per message, so they must be known while routing.
 * They are cached on the loop thread (owner bare JID -> prefs); "roster"
 * mode also needs the roster, which is in memory only for online users.
 * When a message needs something that is not in memory (first message
 * after start, a recipient in roster mode who is offline, an account that
 * may not exist), the sender's stream is held (VN_HOOK_FROM_CLIENT returns
 * VN_HOLD, so nothing the client sends later, <r/> included, is processed
 * before it), the storage thread decides, and the message is routed from
 * the job's completion. The cache is bounded and dropped hourly (accounts
 * deleted and re-created with vestnikctl get fresh preferences). */
#include <openssl/rand.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"
#include "mod/mam_query.h"
#include "mod/roster.h"
#include "xmpp/router.h"

#define NS_MAM VN_NS_MAM
#define NS_SID VN_NS_SID
#define NS_HINTS "urn:xmpp:hints"

#define CACHE_MAX 100000
#define TICK_MS (3600ULL * 1000)

/* ---- small helpers ---- */

static char *bare_str(const vn_jid_t *j, vn_arena_t *a)
{
    vn_jid_t b = {j->local, j->domain, NULL};
    return vn_jid_bare_str(&b, a);
}

/* The message as archived: serialised with its own xmlns='jabber:client',
 * so that it can be embedded in <forwarded/> as is (XEP-0297). */
static char *serialize_standalone(const vn_xnode_t *n, size_t *len)
{
    vn_buf_t b = VN_BUF_INIT;
    vn_xnode_serialize(n, NULL, &b);
    *len = b.len;
    return b.data;
}

/* XEP-0313 §6.1.1 and XEP-0334 §4: is this message worth archiving? */
static int archivable(const vn_stanza_t *st)
{
    if (st->kind != VN_MESSAGE) return 0;
    if (strcmp(st->type, "") && strcmp(st->type, "normal") && strcmp(st->type, "chat")) return 0;
    if (!vn_xnode_child(st->node, VN_NS_CLIENT, "body") &&
        !vn_xnode_child(st->node, NS_HINTS, "store"))
        return 0;
    if (vn_xnode_child(st->node, NS_HINTS, "no-store") ||
        vn_xnode_child(st->node, NS_HINTS, "no-permanent-store"))
        return 0;
    return 1;
}

/* ---- preferences (XEP-0441) ---- */

enum { MODE_ALWAYS, MODE_NEVER, MODE_ROSTER };

typedef struct prefs {
    int mode;
    vn_map_t *always, *never; /* bare JID -> (void *)1, NULL when empty */
} prefs_t;

/* Accounts without stored preferences share this one (archive everything). */
static prefs_t default_prefs = {MODE_ALWAYS, NULL, NULL};
static vn_map_t *cache; /* owner bare JID -> prefs_t* */

static int mode_of(const char *s)
{
    if (!s) return -1;
    if (!strcmp(s, "always")) return MODE_ALWAYS;
    if (!strcmp(s, "never")) return MODE_NEVER;
    if (!strcmp(s, "roster")) return MODE_ROSTER;
    return -1;
}

static vn_map_t *set_of_lines(const char *lines)
{
    vn_map_t *m = NULL;
    for (const char *p = lines; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n) {
            char *jid = vn_xstrndup(p, n);
            if (!m) m = vn_map_new();
            vn_map_put(m, jid, (void *)1);
            free(jid);
        }
        p = nl ? nl + 1 : p + n;
    }
    return m;
}

/* rc: what vn_store_archive_prefs_get returned (0 found, 1 none). */
static prefs_t *prefs_from_stored(const vn_archive_prefs_t *sp, int rc)
{
    if (rc != 0) return &default_prefs;
    prefs_t *p = vn_xcalloc(1, sizeof(*p));
    p->mode = mode_of(sp->default_mode);
    if (p->mode < 0) p->mode = MODE_ALWAYS;
    p->always = set_of_lines(sp->always);
    p->never = set_of_lines(sp->never);
    return p;
}

static void prefs_free(prefs_t *p)
{
    if (!p || p == &default_prefs) return;
    if (p->always) vn_map_free(p->always);
    if (p->never) vn_map_free(p->never);
    free(p);
}

static void free_entry(const char *key, void *value, void *ud)
{
    (void)key, (void)ud;
    prefs_free(value);
}

static void cache_clear(void)
{
    if (!cache) return;
    vn_map_each(cache, free_entry, NULL);
    vn_map_free(cache);
    cache = vn_map_new();
}

static void cache_put(const char *owner, prefs_t *p)
{
    prefs_t *old = vn_map_get(cache, owner);
    if (!old && vn_map_size(cache) >= CACHE_MAX) cache_clear();
    vn_map_put(cache, owner, p);
    prefs_free(old);
}

/* Should owner's archive keep a message exchanged with contact (bare JIDs)?
 * 1 yes, 0 no, -1 unknown without storage. The never list wins over the
 * always list (the privacy-preserving reading of XEP-0441). */
static int decide_cached(vn_server_t *srv, const char *owner, const char *contact)
{
    prefs_t *p = vn_map_get(cache, owner);
    if (!p) return -1;
    if (p->never && vn_map_get(p->never, contact)) return 0;
    if (p->always && vn_map_get(p->always, contact)) return 1;
    switch (p->mode) {
    case MODE_ALWAYS:
        return 1;
    case MODE_NEVER:
        return 0;
    default: {
        roster_t *r = roster_of(vn_router_user(srv, owner));
        if (!r) return -1;
        vn_roster_item_t *it = roster_find(r, contact);
        return it && it->in_roster;
    }
    }
}

static int line_in(const char *lines, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = lines; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, s, n) == 0) return 1;
        p = nl ? nl + 1 : p + len;
    }
    return 0;
}

/* The same decision on the storage thread, from stored rows. */
static int decide_stored(vn_store_t *db, const char *owner, const char *contact,
                         const vn_archive_prefs_t *sp, int rc)
{
    if (rc < 0) return 0;
    int mode = MODE_ALWAYS;
    if (rc == 0) {
        if (line_in(sp->never, contact)) return 0;
        if (line_in(sp->always, contact)) return 1;
        mode = mode_of(sp->default_mode);
    }
    if (mode == MODE_NEVER) return 0;
    if (mode != MODE_ROSTER) return 1;
    vn_roster_item_t it;
    if (vn_store_roster_get(db, owner, contact, &it) != 0) return 0;
    int in = it.in_roster;
    vn_roster_item_free_fields(&it);
    return in;
}

/* ---- appending ---- */

/* Takes ownership of xml (mam_query.c). */
static void submit_append(vn_server_t *srv, const char *owner, const char *with, const char *id,
                          int64_t ts, char *xml, size_t len)
{
    vn_mam_submit_append(srv, vn_store_archive_append, owner, with, id, ts, xml, len);
}

/* The sender's copy: the message as it leaves, under an id of its own. */
static void archive_outgoing(vn_server_t *srv, const vn_stanza_t *st, const char *owner,
                             const char *peer)
{
    char id[VN_MAM_ID_LEN + 1];
    vn_mam_new_id(id);
    size_t len;
    char *xml = serialize_standalone(st->node, &len);
    submit_append(srv, owner, peer, id, vn_mam_now_us(), xml, len);
}

/* The recipient's copy: XEP-0359 §2.1 <stanza-id/> added to the stanza that
 * is delivered (or stored offline), then archived with it. */
static void archive_incoming(vn_server_t *srv, vn_stanza_t *st, const char *owner, const char *peer)
{
    char id[VN_MAM_ID_LEN + 1];
    vn_mam_new_id(id);
    vn_xnode_t *sid = vn_xnode_add(st->arena, st->node, NS_SID, "stanza-id");
    vn_xnode_set_attr(st->arena, sid, "by", vn_arena_strdup(st->arena, owner));
    vn_xnode_set_attr(st->arena, sid, "id", vn_arena_strdup(st->arena, id));
    size_t len;
    char *xml = serialize_standalone(st->node, &len);
    submit_append(srv, owner, peer, id, vn_mam_now_us(), xml, len);
}

/* XEP-0359 §5: a <stanza-id/> claiming to come from the recipient's archive
 * can only be forged by the sender: remove it. */
static void strip_stanza_ids(vn_stanza_t *st, const char *owner)
{
    vn_xnode_t *prev = NULL;
    for (vn_xnode_t *c = st->node->children, *next; c; c = next) {
        next = c->next;
        int drop = 0;
        if (c->name && c->ns && !strcmp(c->name, "stanza-id") && !strcmp(c->ns, NS_SID)) {
            const char *by = vn_xnode_attr(c, "by");
            vn_jid_t j;
            drop = !by || !strcmp(by, owner) ||
                   (vn_jid_parse(by, strlen(by), &j, st->arena) == 0 &&
                    !strcmp(bare_str(&j, st->arena), owner));
        }
        if (!drop) {
            prev = c;
            continue;
        }
        if (prev)
            prev->next = next;
        else
            st->node->children = next;
        if (st->node->last_child == c) st->node->last_child = prev;
    }
}

/* ---- archiving while routing ---- */

/* Set while a held message is routed from its job: the recipient decision
 * that the storage thread made for it. */
static struct {
    const vn_stanza_t *st;
    int archive;
} decided;

typedef struct prep_job {
    vn_work_t work;
    vn_server_t *srv;
    vn_stanza_t *st; /* owned copy; st->origin referenced */
    char *sender, *peer;
    int self, local_rcpt;
    char *xml; /* the sender's copy */
    size_t len;
    char id[VN_MAM_ID_LEN + 1];
    int64_t ts;
    /* results */
    vn_archive_prefs_t sp, rp;
    int sp_rc, rp_rc, rcpt_exists;
    int sd, rd;
} prep_job_t;

/* Releases what a previous run of a work() callback left: the storage
 * thread runs a job again when the group commit it was part of failed. */
static void prefs_reset(vn_archive_prefs_t *p)
{
    free(p->always);
    free(p->never);
    memset(p, 0, sizeof(*p));
}

static void prep_work(vn_work_t *w)
{
    prep_job_t *j = (prep_job_t *)w;
    vn_store_t *db = vn_store_of(w);
    prefs_reset(&j->sp);
    prefs_reset(&j->rp);
    j->sp_rc = j->rp_rc = j->rcpt_exists = j->sd = j->rd = 0;
    if (!j->self) {
        j->sp_rc = vn_store_archive_prefs_get(db, j->sender, &j->sp);
        j->sd = decide_stored(db, j->sender, j->peer, &j->sp, j->sp_rc);
        if (j->sd &&
            vn_store_archive_append(db, j->sender, j->id, j->ts, j->peer, j->xml, j->len) < 0)
            vn_debug("archive: message %s not archived for %s", j->id, j->sender);
    }
    if (j->local_rcpt) {
        vn_account_t acct;
        j->rcpt_exists = vn_store_account_get(db, j->peer, &acct) == 0;
        if (j->rcpt_exists) {
            j->rp_rc = vn_store_archive_prefs_get(db, j->peer, &j->rp);
            j->rd = decide_stored(db, j->peer, j->sender, &j->rp, j->rp_rc);
        }
    }
}

static void prep_done(vn_work_t *w)
{
    prep_job_t *j = (prep_job_t *)w;
    if (!j->self && j->sp_rc >= 0) cache_put(j->sender, prefs_from_stored(&j->sp, j->sp_rc));
    if (j->rcpt_exists && j->rp_rc >= 0) cache_put(j->peer, prefs_from_stored(&j->rp, j->rp_rc));
    prefs_reset(&j->sp);
    prefs_reset(&j->rp);
    /* The client's stream was held: route now, then read on. The stanza is
     * routed even if the stream is gone meanwhile, since it was counted as
     * handled (XEP-0198). */
    vn_session_t *s = j->st->origin;
    decided.st = j->st;
    decided.archive = j->rd;
    vn_route(j->srv, j->st);
    decided.st = NULL;
    vn_session_resume(s);
    vn_session_unref(s);
    vn_stanza_free(j->st);
    free(j->sender);
    free(j->peer);
    free(j->xml);
    free(j);
}

/* Priority -100, the last of the chain: after modules that refuse a
 * message (blocking), so that only messages really sent are archived, and
 * because VN_HOLD does not stop the chain (hooks after this one would see
 * a message that is not routed yet). */
static vn_result_t from_client(vn_server_t *srv, void *ctx)
{
    vn_stanza_t *st = ctx;
    vn_session_t *s = st->origin;
    if (!s || !s->bare || !archivable(st)) return VN_PASS;
    const char *sender = s->bare;
    /* RFC 6120 §10.3: no 'to' is the sender's own account. */
    const char *peer = st->to.domain ? bare_str(&st->to, st->arena) : sender;
    int self = !strcmp(peer, sender);
    int local_rcpt =
        !st->to.domain || (st->to.local && vn_server_domain_index(srv, st->to.domain) >= 0);
    /* A message to oneself is archived once, as received (with its id). */
    int sd = self ? 0 : decide_cached(srv, sender, peer);
    int rd = local_rcpt ? decide_cached(srv, peer, sender) : 0;
    if (sd >= 0 && rd >= 0) {
        if (sd) archive_outgoing(srv, st, sender, peer);
        return VN_PASS;
    }
    prep_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->srv = srv;
    j->st = stanza_clone(st);
    j->st->origin = s;
    vn_session_ref(s);
    j->sender = vn_xstrdup(sender);
    j->peer = vn_xstrdup(peer);
    j->self = self;
    j->local_rcpt = local_rcpt;
    if (!self) {
        j->xml = serialize_standalone(st->node, &j->len);
        vn_mam_new_id(j->id);
        j->ts = vn_mam_now_us();
    }
    vn_debug("archive: preferences of %s / %s not in memory, holding the stream", sender, peer);
    /* It may append to the sender's archive: in order with its appends. */
    vn_store_submit_ordered(srv, j->sender, &j->work, prep_work, prep_done);
    return VN_HOLD;
}

/* A message to a local account whose preferences are not in memory and
 * that was not decided in from_client(): routed by another module after a
 * storage round trip of its own (blocking, for offline recipients), sent
 * to an account that does not exist, or (later) from another server. The
 * decision is made on the storage thread and the delivery continues from
 * there, without the TO_ACCOUNT hooks after this one (carbons: an offline
 * or unknown recipient has no session to copy to). */
typedef struct late_job {
    vn_work_t work;
    vn_server_t *srv;
    vn_stanza_t *st; /* owned copy */
    char *owner, *peer;
    vn_archive_prefs_t p;
    int rc, exists, archive;
} late_job_t;

static void late_work(vn_work_t *w)
{
    late_job_t *j = (late_job_t *)w;
    vn_store_t *db = vn_store_of(w);
    vn_account_t acct;
    prefs_reset(&j->p);
    j->rc = j->archive = 0;
    j->exists = vn_store_account_get(db, j->owner, &acct) == 0;
    if (!j->exists) return;
    j->rc = vn_store_archive_prefs_get(db, j->owner, &j->p);
    j->archive = decide_stored(db, j->owner, j->peer, &j->p, j->rc);
}

static void late_done(vn_work_t *w)
{
    late_job_t *j = (late_job_t *)w;
    if (j->exists && j->rc >= 0) cache_put(j->owner, prefs_from_stored(&j->p, j->rc));
    prefs_reset(&j->p);
    if (j->archive) archive_incoming(j->srv, j->st, j->owner, j->peer);
    vn_router_to_account(j->srv, j->st);
    if (j->st->origin) vn_session_unref(j->st->origin);
    vn_stanza_free(j->st);
    free(j->owner);
    free(j->peer);
    free(j);
}

/* Priority -40: after modules that refuse a message (blocking; XEP-0313
 * §6.1: a rejected message is not archived), before carbons (-50),
 * delivery and offline storage, so that all of them carry the stanza-id
 * (XEP-0313 §3.5) and none a forged one. */
static vn_result_t to_account(vn_server_t *srv, void *ctx)
{
    vn_stanza_t *st = ctx;
    if (st->kind != VN_MESSAGE || !st->to.local) return VN_PASS;
    char *owner = bare_str(&st->to, st->arena);
    strip_stanza_ids(st, owner);
    if (!archivable(st) || !st->from.domain) return VN_PASS;
    char *peer = bare_str(&st->from, st->arena);
    int d = decided.st == st ? decided.archive : decide_cached(srv, owner, peer);
    if (d < 0) {
        late_job_t *j = vn_xcalloc(1, sizeof(*j));
        j->srv = srv;
        j->st = stanza_clone(st);
        j->st->origin = st->origin;
        if (st->origin) vn_session_ref(st->origin);
        j->owner = vn_xstrdup(owner);
        j->peer = vn_xstrdup(peer);
        vn_store_submit_ordered(srv, j->owner, &j->work, late_work, late_done);
        return VN_HANDLED;
    }
    if (d) archive_incoming(srv, st, owner, peer);
    return VN_PASS;
}

/* ---- queries (XEP-0313 §4, XEP-0059; mam_query.c) ---- */

/* Only the owner reads or configures an archive (XEP-0313 §8.1). */
static int own_archive(vn_server_t *srv, vn_stanza_t *st)
{
    if (st->from.local && st->to.local && vn_jid_bare_equal(&st->from, &st->to)) return 1;
    vn_route_error(srv, st, "auth", "forbidden", NULL);
    return 0;
}

static vn_result_t on_query(vn_server_t *srv, vn_stanza_t *st)
{
    if (!own_archive(srv, st)) return VN_HANDLED;
    vn_session_t *s = st->origin ? st->origin : vn_router_session(srv, &st->from);
    if (!s) return VN_HANDLED;
    vn_mam_query_start(srv, st, s, bare_str(&st->to, st->arena), vn_store_archive_query);
    return VN_HANDLED;
}

static vn_result_t on_query_form(vn_server_t *srv, vn_stanza_t *st)
{
    if (!own_archive(srv, st)) return VN_HANDLED;
    vn_mam_query_form(srv, st);
    return VN_HANDLED;
}

/* ---- preferences IQ (XEP-0441) ---- */

typedef struct prefs_job {
    vn_work_t work;
    vn_server_t *srv;
    vn_stanza_t *req; /* owned copy */
    char *owner;
    int set;
    vn_archive_prefs_t p; /* for set: owned always/never */
    int rc;
} prefs_job_t;

static void prefs_work(vn_work_t *w)
{
    prefs_job_t *j = (prefs_job_t *)w;
    if (j->set) {
        j->rc = vn_store_archive_prefs_set(vn_store_of(w), j->owner, &j->p);
    } else {
        prefs_reset(&j->p);
        j->rc = vn_store_archive_prefs_get(vn_store_of(w), j->owner, &j->p);
    }
}

static void add_jid_list(vn_arena_t *a, vn_xnode_t *prefs, const char *name, const char *lines)
{
    vn_xnode_t *l = vn_xnode_add(a, prefs, NS_MAM, name);
    for (const char *p = lines; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n) {
            vn_xnode_t *jn = vn_xnode_add(a, l, NS_MAM, "jid");
            vn_xnode_add_text(a, jn, p, n);
        }
        p = nl ? nl + 1 : p + n;
    }
}

static void prefs_done(vn_work_t *w)
{
    prefs_job_t *j = (prefs_job_t *)w;
    if (j->rc < 0) {
        vn_route_error(j->srv, j->req, "wait", "internal-server-error", NULL);
    } else {
        int found = j->set ? 0 : j->rc;
        cache_put(j->owner, prefs_from_stored(&j->p, found));
        vn_stanza_t *r = vn_stanza_iq_result(j->req);
        vn_arena_t *a = r->arena;
        vn_xnode_t *p = vn_xnode_add(a, r->node, NS_MAM, "prefs");
        vn_xnode_set_attr(a, p, "default",
                          vn_arena_strdup(a, found == 0 ? j->p.default_mode : "always"));
        add_jid_list(a, p, "always", found == 0 ? j->p.always : NULL);
        add_jid_list(a, p, "never", found == 0 ? j->p.never : NULL);
        vn_route(j->srv, r);
    }
    vn_stanza_free(j->req);
    free(j->p.always);
    free(j->p.never);
    free(j->owner);
    free(j);
}

/* <always/> or <never/>: normalised bare JIDs, newline-separated. */
static int parse_jid_list(vn_arena_t *a, const vn_xnode_t *list, vn_buf_t *out)
{
    for (const vn_xnode_t *c = list ? list->children : NULL; c; c = c->next) {
        if (!c->name || !c->ns || strcmp(c->ns, NS_MAM) || strcmp(c->name, "jid")) continue;
        const char *text = vn_xnode_text(a, c);
        vn_jid_t j;
        if (vn_jid_parse(text, strlen(text), &j, a) < 0) return -1;
        const char *b = bare_str(&j, a);
        if (out->len) vn_buf_append(out, "\n", 1);
        vn_buf_puts(out, b);
    }
    vn_buf_cstr(out);
    return 0;
}

static vn_result_t on_prefs(vn_server_t *srv, vn_stanza_t *st)
{
    if (!own_archive(srv, st)) return VN_HANDLED;
    prefs_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->set = !strcmp(st->type, "set");
    if (j->set) {
        vn_xnode_t *p = vn_xnode_child(st->node, NS_MAM, "prefs");
        const char *mode = vn_xnode_attr(p, "default");
        vn_buf_t always = VN_BUF_INIT, never = VN_BUF_INIT;
        if (mode_of(mode) < 0 ||
            parse_jid_list(st->arena, vn_xnode_child(p, NS_MAM, "always"), &always) < 0 ||
            parse_jid_list(st->arena, vn_xnode_child(p, NS_MAM, "never"), &never) < 0) {
            vn_buf_free(&always);
            vn_buf_free(&never);
            free(j);
            vn_route_error(srv, st, "modify", "bad-request", NULL);
            return VN_HANDLED;
        }
        snprintf(j->p.default_mode, sizeof(j->p.default_mode), "%s", mode);
        j->p.always = always.data ? always.data : vn_xstrdup("");
        j->p.never = never.data ? never.data : vn_xstrdup("");
    }
    j->srv = srv;
    j->req = vn_mam_request_copy(st);
    j->owner = vn_xstrdup(bare_str(&st->to, st->arena));
    vn_store_submit_ordered(srv, j->owner, &j->work, prefs_work, prefs_done);
    return VN_HANDLED;
}

/* ---- retention ---- */

typedef struct expire_job {
    vn_work_t work;
    int64_t before;
    int64_t deleted;
    int rc;
} expire_job_t;

static void expire_work(vn_work_t *w)
{
    expire_job_t *j = (expire_job_t *)w;
    j->rc = vn_store_archive_expire(vn_store_of(w), j->before, &j->deleted);
}

static void expire_done(vn_work_t *w)
{
    expire_job_t *j = (expire_job_t *)w;
    if (j->rc < 0)
        vn_error("archive: retention failed");
    else if (j->deleted > 0)
        vn_info("archive: %lld message(s) past retention deleted", (long long)j->deleted);
    free(j);
}

static vn_server_t *tick_srv;
static vn_timer_t tick_timer;

static void expire_now(vn_server_t *srv)
{
    int days = srv->cfg.archive_retention_days;
    if (days <= 0) return;
    expire_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->before = vn_mam_now_us() - (int64_t)days * 86400 * 1000000;
    vn_store_submit(srv, &j->work, expire_work, expire_done);
}

static void on_tick(vn_timer_t *t)
{
    cache_clear();
    expire_now(tick_srv);
    vn_timer_start(tick_srv->loop, t, TICK_MS, on_tick);
}

static int init(vn_server_t *srv)
{
    if (!srv->cfg.archive_enabled) return 1;
    cache = vn_map_new();
    tick_srv = srv;
    expire_now(srv);
    vn_timer_start(srv->loop, &tick_timer, TICK_MS, on_tick);
    return 0;
}

static void fini(vn_server_t *srv)
{
    vn_timer_stop(srv->loop, &tick_timer);
    cache_clear();
    vn_map_free(cache);
    cache = NULL;
    tick_srv = NULL;
}

/* <query/> and <prefs/> share the namespace: dispatch on the element. */
static vn_result_t on_iq(vn_server_t *srv, vn_stanza_t *st)
{
    vn_xnode_t *payload = vn_xnode_first_element(st->node);
    int set = !strcmp(st->type, "set");
    if (!strcmp(payload->name, "query")) return set ? on_query(srv, st) : on_query_form(srv, st);
    if (!strcmp(payload->name, "prefs")) return on_prefs(srv, st);
    return VN_PASS;
}

static const char *const account_features[] = {NS_MAM, NS_SID, NULL};
static const vn_iq_handler_t iq[] = {
    {"set", NS_MAM, VN_TARGET_ACCOUNT, on_iq},
    {"get", NS_MAM, VN_TARGET_ACCOUNT, on_iq},
    {NULL, NULL, 0, NULL},
};
static const vn_hook_t hooks[] = {
    {VN_HOOK_FROM_CLIENT, from_client, -100},
    {VN_HOOK_TO_ACCOUNT, to_account, -40},
    {VN_HOOK_COUNT, NULL, 0},
};

static const vn_cfg_key_t config_keys[] = {
    {"archive", "enabled", VN_CFG_BOOL, offsetof(vn_config_t, archive_enabled), "true",
     .help = "Server-side message archive (XEP-0313). Every chat message is then written twice "
             "(sender's and recipient's archive), which bounds message throughput by storage; off "
             "turns the module off entirely."},
    {"archive", "retention_days", VN_CFG_INT, offsetof(vn_config_t, archive_retention_days), "0",
     .min = 0, .max = 36500,
     .help = "Message archive (XEP-0313): days an archived message is kept; older ones are deleted "
             "at start and then hourly. 0 keeps everything."},
    {NULL},
};

const vn_module_t vn_mod_mam = {
    .config_keys = config_keys,
    .name = "mam",
    .account_features = account_features,
    .iq = iq,
    .hooks = hooks,
    .init = init,
    .fini = fini,
};

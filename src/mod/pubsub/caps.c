/* Entity capabilities (XEP-0115) for PEP filtered notifications
 * (XEP-0163 §4.2, XEP-0060 §9.2): which resources want which nodes.
 *
 * An available presence with <c hash ver node/> ties a full JID to a
 * verification string. Unknown strings are resolved once with a disco#info
 * query to that full JID from the server; the answer is checked against
 * the hash (§5.1, §5.4) before it is cached for everybody with that string.
 * The ver cache is global and bounded; the per-JID table holds only JIDs
 * that are available (an unavailable presence or the session's end drops
 * the entry). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"
#include "mod/pubsub/ps.h"
#include "xmpp/router.h"

#define CAPS_MAX_VERS 4096
#define CAPS_MAX_PENDING 1024
#define CAPS_MAX_FEATURES 1024
#define JID_MAX_OWNERS 1024

typedef struct capsver {
    char **feat; /* sorted */
    int n;
} capsver_t;

typedef struct jidrec {
    char *ver;
    char **waiting; /* owners whose last items wait for the features */
    int nwaiting;
    char **done; /* owners whose last items were sent since available */
    int ndone;
    char *served; /* the ver whose +notify nodes the owners in done got */
} jidrec_t;

typedef struct pending {
    char *id;
    char *ver;
    char *algo;
    char *full;
} pending_t;

static vn_map_t *vers;     /* ver -> capsver_t */
static vn_map_t *jids;     /* full JID -> jidrec_t */
static vn_map_t *pend_id;  /* query id -> pending_t */
static vn_map_t *pend_ver; /* ver -> pending_t (same objects) */
static unsigned long long next_query;

void (*caps_on_known)(vn_server_t *srv, const char *full, const char *owner,
                      const char *const *skip);

static void strv_push(char ***v, int *n, const char *s)
{
    *v = vn_xrealloc(*v, sizeof(char *) * (size_t)(*n + 1));
    (*v)[(*n)++] = vn_xstrdup(s);
}

static void strv_clear(char ***v, int *n)
{
    for (int i = 0; i < *n; i++)
        free((*v)[i]);
    free(*v);
    *v = NULL;
    *n = 0;
}

static int strv_has(char **v, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return 1;
    return 0;
}

static void capsver_free(capsver_t *c)
{
    strv_clear(&c->feat, &c->n);
    free(c);
}

static void free_ver(const char *k, void *v, void *ud)
{
    (void)k, (void)ud;
    capsver_free(v);
}

static void jidrec_free(jidrec_t *r)
{
    free(r->ver);
    free(r->served);
    strv_clear(&r->waiting, &r->nwaiting);
    strv_clear(&r->done, &r->ndone);
    free(r);
}

static void free_jid(const char *k, void *v, void *ud)
{
    (void)k, (void)ud;
    jidrec_free(v);
}

static void pending_free(pending_t *p)
{
    free(p->id);
    free(p->ver);
    free(p->algo);
    free(p->full);
    free(p);
}

static void free_pending(const char *k, void *v, void *ud)
{
    (void)k, (void)ud;
    pending_free(v);
}

void caps_init(vn_server_t *srv)
{
    (void)srv;
    vers = vn_map_new();
    jids = vn_map_new();
    pend_id = vn_map_new();
    pend_ver = vn_map_new();
}

void caps_fini(void)
{
    if (!vers) return;
    vn_map_each(vers, free_ver, NULL);
    vn_map_each(jids, free_jid, NULL);
    vn_map_each(pend_id, free_pending, NULL);
    vn_map_free(vers);
    vn_map_free(jids);
    vn_map_free(pend_id);
    vn_map_free(pend_ver);
    vers = jids = pend_id = pend_ver = NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const capsver_t *features_of(const char *full)
{
    jidrec_t *r = jids ? vn_map_get(jids, full) : NULL;
    if (!r || !r->ver) return NULL;
    return vn_map_get(vers, r->ver);
}

int caps_wants(const char *full, const char *node)
{
    const capsver_t *c = features_of(full);
    if (!c) return 0;
    char key[1100];
    if ((size_t)snprintf(key, sizeof(key), "%s+notify", node) >= sizeof(key)) return 0;
    const char *k = key;
    return bsearch(&k, c->feat, (size_t)c->n, sizeof(char *), cmp_str) != NULL;
}

static char **notify_nodes(const capsver_t *c)
{
    if (!c) return NULL;
    char **out = NULL;
    int n = 0;
    for (int i = 0; i < c->n; i++) {
        size_t len = strlen(c->feat[i]);
        if (len > 7 && !strcmp(c->feat[i] + len - 7, "+notify")) {
            out = vn_xrealloc(out, sizeof(char *) * (size_t)(n + 2));
            out[n++] = vn_xstrndup(c->feat[i], len - 7);
            out[n] = NULL;
        }
    }
    return out;
}

char **caps_notify_nodes(const char *full)
{
    return notify_nodes(features_of(full));
}

/* ---- XEP-0115 §5.1 verification string ---- */

typedef struct ident {
    const char *cat, *type, *lang, *name;
} ident_t;

static int cmp_ident(const void *a, const void *b)
{
    const ident_t *x = a, *y = b;
    int r = strcmp(x->cat, y->cat);
    if (!r) r = strcmp(x->type, y->type);
    if (!r) r = strcmp(x->lang, y->lang);
    if (!r) r = strcmp(x->name, y->name);
    return r;
}

typedef struct xform {
    const char *form_type;
    const vn_xnode_t *x;
} xform_t;

static int cmp_xform(const void *a, const void *b)
{
    return strcmp(((const xform_t *)a)->form_type, ((const xform_t *)b)->form_type);
}

typedef struct xfield {
    const char *var;
    const vn_xnode_t *f;
} xfield_t;

static int cmp_xfield(const void *a, const void *b)
{
    return strcmp(((const xfield_t *)a)->var, ((const xfield_t *)b)->var);
}

static const char *attr_or_empty(const vn_xnode_t *n, const char *name)
{
    const char *v = vn_xnode_attr(n, name);
    return v ? v : "";
}

static const char *xml_lang(const vn_xnode_t *n)
{
    for (const vn_xattr_t *a = n->attrs; a; a = a->next)
        if (a->ns && !strcmp(a->ns, VN_NS_XML) && !strcmp(a->name, "lang")) return a->value;
    return "";
}

/* Appends the sorted values of a field, each followed by '<'. */
static int append_values(vn_arena_t *a, vn_buf_t *s, const vn_xnode_t *f)
{
    const char *vals[256];
    int n = 0;
    for (const vn_xnode_t *v = f->children; v; v = v->next) {
        if (!v->name || strcmp(v->name, "value")) continue;
        if (n == 256) return -1;
        vals[n++] = vn_xnode_text(a, v);
    }
    qsort(vals, (size_t)n, sizeof(vals[0]), cmp_str);
    for (int i = 0; i < n; i++) {
        vn_buf_puts(s, vals[i]);
        vn_buf_puts(s, "<");
    }
    return 0;
}

static char *verification_string(vn_arena_t *a, const vn_xnode_t *q)
{
    ident_t ids[64];
    const char *feats[CAPS_MAX_FEATURES];
    xform_t forms[16];
    int ni = 0, nf = 0, nx = 0;
    for (const vn_xnode_t *c = q->children; c; c = c->next) {
        if (!c->name) continue;
        if (!strcmp(c->name, "identity") && c->ns && !strcmp(c->ns, NS_DISCO_INFO)) {
            if (ni == 64) return NULL;
            ids[ni++] = (ident_t){attr_or_empty(c, "category"), attr_or_empty(c, "type"),
                                  xml_lang(c), attr_or_empty(c, "name")};
        } else if (!strcmp(c->name, "feature") && c->ns && !strcmp(c->ns, NS_DISCO_INFO)) {
            if (nf == CAPS_MAX_FEATURES) return NULL;
            feats[nf++] = attr_or_empty(c, "var");
        } else if (!strcmp(c->name, "x") && c->ns && !strcmp(c->ns, NS_DATA)) {
            /* §5.4 3.6: forms without a FORM_TYPE are ignored; §5.4 3.5: a
             * form with two FORM_TYPEs (fields or differing values) makes
             * the answer ill-formed (which one counted would depend on
             * the order). */
            const char *ft = NULL;
            for (const vn_xnode_t *f = c->children; f; f = f->next) {
                if (!f->name || strcmp(f->name, "field") ||
                    strcmp(attr_or_empty(f, "var"), "FORM_TYPE"))
                    continue;
                if (ft) return NULL;
                ft = "";
                int nv = 0;
                for (const vn_xnode_t *v = f->children; v; v = v->next) {
                    if (!v->name || strcmp(v->name, "value")) continue;
                    const char *t = vn_xnode_text(a, v);
                    if (nv++ && strcmp(ft, t)) return NULL;
                    ft = t;
                }
            }
            if (!ft) continue;
            if (nx == 16) return NULL;
            forms[nx++] = (xform_t){ft, c};
        }
    }
    qsort(ids, (size_t)ni, sizeof(ids[0]), cmp_ident);
    qsort(feats, (size_t)nf, sizeof(feats[0]), cmp_str);
    qsort(forms, (size_t)nx, sizeof(forms[0]), cmp_xform);
    /* §5.4 3.3-3.5: duplicate identities, features or FORM_TYPEs make the
     * answer invalid. */
    for (int i = 1; i < ni; i++)
        if (!cmp_ident(&ids[i - 1], &ids[i])) return NULL;
    for (int i = 1; i < nf; i++)
        if (!strcmp(feats[i - 1], feats[i])) return NULL;
    for (int i = 1; i < nx; i++)
        if (!strcmp(forms[i - 1].form_type, forms[i].form_type)) return NULL;
    vn_buf_t s = VN_BUF_INIT;
    for (int i = 0; i < ni; i++)
        vn_buf_printf(&s, "%s/%s/%s/%s<", ids[i].cat, ids[i].type, ids[i].lang, ids[i].name);
    for (int i = 0; i < nf; i++) {
        vn_buf_puts(&s, feats[i]);
        vn_buf_puts(&s, "<");
    }
    for (int i = 0; i < nx; i++) {
        vn_buf_puts(&s, forms[i].form_type);
        vn_buf_puts(&s, "<");
        xfield_t fl[128];
        int nfl = 0;
        for (const vn_xnode_t *f = forms[i].x->children; f; f = f->next) {
            if (!f->name || strcmp(f->name, "field")) continue;
            const char *var = attr_or_empty(f, "var");
            if (!strcmp(var, "FORM_TYPE")) continue;
            if (nfl == 128) goto bad;
            fl[nfl++] = (xfield_t){var, f};
        }
        qsort(fl, (size_t)nfl, sizeof(fl[0]), cmp_xfield);
        /* XEP-0004 §3.2: one field per var (else the order would count). */
        for (int k = 1; k < nfl; k++)
            if (!strcmp(fl[k - 1].var, fl[k].var)) goto bad;
        for (int k = 0; k < nfl; k++) {
            vn_buf_puts(&s, fl[k].var);
            vn_buf_puts(&s, "<");
            if (append_values(a, &s, fl[k].f) < 0) goto bad;
        }
    }
    char *r = vn_arena_strndup(a, s.data ? s.data : "", s.len);
    vn_buf_free(&s);
    return r;
bad:
    vn_buf_free(&s);
    return NULL;
}

char *caps_ver_of(vn_arena_t *a, const vn_xnode_t *query, const char *algo)
{
    /* §5.1 names the hash by its IANA name ("sha-1"); OpenSSL's differ. */
    const EVP_MD *md = !strcmp(algo, "sha-1")     ? EVP_sha1()
                       : !strcmp(algo, "sha-224") ? EVP_sha224()
                       : !strcmp(algo, "sha-256") ? EVP_sha256()
                       : !strcmp(algo, "sha-384") ? EVP_sha384()
                       : !strcmp(algo, "sha-512") ? EVP_sha512()
                                                  : NULL;
    if (!md) return NULL;
    char *s = verification_string(a, query);
    if (!s) return NULL;
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (!EVP_Digest(s, strlen(s), dig, &dlen, md, NULL)) return NULL;
    char *out = vn_arena_alloc(a, 4 * ((dlen + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, dig, (int)dlen);
    return out;
}

/* ---- presence ---- */

static jidrec_t *rec_for(const char *full)
{
    jidrec_t *r = vn_map_get(jids, full);
    if (!r) {
        r = vn_xcalloc(1, sizeof(*r));
        vn_map_put(jids, full, r);
    }
    return r;
}

static void forget(const char *full)
{
    jidrec_t *r = vn_map_del(jids, full);
    if (r) jidrec_free(r);
}

static void send_query(vn_server_t *srv, const char *full, const char *domain, const char *node,
                       const char *ver, const char *algo)
{
    if (vn_map_get(pend_ver, ver)) return; /* one question per string */
    if (vn_map_size(pend_id) >= CAPS_MAX_PENDING) {
        /* Unanswered questions pile up only with silent clients: start over. */
        vn_map_each(pend_id, free_pending, NULL);
        vn_map_free(pend_id);
        vn_map_free(pend_ver);
        pend_id = vn_map_new();
        pend_ver = vn_map_new();
    }
    pending_t *p = vn_xcalloc(1, sizeof(*p));
    char id[40];
    snprintf(id, sizeof(id), "vn-caps-%llu", ++next_query);
    p->id = vn_xstrdup(id);
    p->ver = vn_xstrdup(ver);
    p->algo = vn_xstrdup(algo);
    p->full = vn_xstrdup(full);
    vn_map_put(pend_id, id, p);
    vn_map_put(pend_ver, ver, p);
    vn_stanza_t *iq = vn_stanza_new("iq");
    vn_xnode_set_attr(iq->arena, iq->node, "type", "get");
    iq->type = "get";
    vn_xnode_set_attr(iq->arena, iq->node, "id", vn_arena_strdup(iq->arena, id));
    vn_xnode_t *q = vn_xnode_add(iq->arena, iq->node, NS_DISCO_INFO, "query");
    /* §6.2: ask about the node#ver the entity advertised. */
    vn_xnode_set_attr(iq->arena, q, "node", vn_arena_printf(iq->arena, "%s#%s", node, ver));
    vn_jid_t from = {NULL, (char *)domain, NULL}, to;
    if (vn_jid_parse(full, strlen(full), &to, iq->arena) == 0) {
        vn_stanza_set_from(iq, &from);
        vn_stanza_set_to(iq, &to);
        vn_route(srv, iq);
    }
    vn_stanza_free(iq);
}

/* Records the caps of an available presence from full. Returns 1 when the
 * features are known now, 0 when a query is out (or no caps). */
static int note_presence(vn_server_t *srv, const vn_stanza_t *st, const char *full,
                         const char *domain)
{
    const vn_xnode_t *c = vn_xnode_child(st->node, NS_CAPS, "c");
    const char *hash = c ? vn_xnode_attr(c, "hash") : NULL;
    const char *ver = c ? vn_xnode_attr(c, "ver") : NULL;
    const char *node = c ? vn_xnode_attr(c, "node") : NULL;
    jidrec_t *r = rec_for(full);
    if (!c || !hash || !ver || !node || strlen(ver) > 256) {
        /* No (or legacy, §8.1) caps: nothing wanted. */
        free(r->ver);
        r->ver = NULL;
        return 1;
    }
    if (!r->ver || strcmp(r->ver, ver)) {
        free(r->ver);
        r->ver = vn_xstrdup(ver);
    }
    if (vn_map_get(vers, ver)) return 1;
    send_query(srv, full, domain, node, ver, hash);
    return 0;
}

static int mark_done(jidrec_t *r, const char *owner)
{
    if (strv_has(r->done, r->ndone, owner)) return 0;
    if (r->ndone < JID_MAX_OWNERS) strv_push(&r->done, &r->ndone, owner);
    return 1;
}

/* An available presence reached owner's account from full: its last
 * items are due once (XEP-0163 §4.3.4). */
static void due(vn_server_t *srv, const char *full, const char *owner, int known)
{
    jidrec_t *r = rec_for(full);
    if (!known) {
        if (!strv_has(r->waiting, r->nwaiting, owner) && r->nwaiting < JID_MAX_OWNERS)
            strv_push(&r->waiting, &r->nwaiting, owner);
        return;
    }
    if (!mark_done(r, owner)) return;
    if (!r->served && r->ver) r->served = vn_xstrdup(r->ver);
    if (caps_on_known) caps_on_known(srv, full, owner, NULL);
}

/* full's caps changed to a known ver while owners had their last items:
 * the nodes it newly wants are due to it from each of them (a client
 * that turns on OMEMO after signing in gets the device lists then). */
static void caps_changed(vn_server_t *srv, const char *full)
{
    jidrec_t *r = vn_map_get(jids, full);
    if (!r || !r->ver || !vn_map_get(vers, r->ver)) return;
    if (r->served && !strcmp(r->served, r->ver)) return;
    if (r->ndone) {
        /* No caps before, or an old ver evicted from the cache: everything
         * is due again. */
        char **skip = r->served ? notify_nodes(vn_map_get(vers, r->served)) : NULL;
        char **owners = vn_xcalloc((size_t)r->ndone + 1, sizeof(char *));
        int n = r->ndone;
        for (int i = 0; i < n; i++)
            owners[i] = vn_xstrdup(r->done[i]);
        for (int i = 0; i < n; i++) {
            if (caps_on_known) caps_on_known(srv, full, owners[i], (const char *const *)skip);
            free(owners[i]);
        }
        free(owners);
        ps_strv_free(skip);
    }
    free(r->served);
    r->served = r->ndone ? vn_xstrdup(r->ver) : NULL;
}

typedef struct waiters {
    const char *ver;
    char **fulls;
    int n;
} waiters_t;

static void collect_waiting(const char *k, void *v, void *ud)
{
    waiters_t *w = ud;
    jidrec_t *r = v;
    if (r->nwaiting && r->ver && !strcmp(r->ver, w->ver)) strv_push(&w->fulls, &w->n, k);
}

static void collect_changed(const char *k, void *v, void *ud)
{
    waiters_t *w = ud;
    jidrec_t *r = v;
    if (r->ndone && r->ver && !strcmp(r->ver, w->ver) && (!r->served || strcmp(r->served, r->ver)))
        strv_push(&w->fulls, &w->n, k);
}

vn_result_t caps_from_client(vn_server_t *srv, vn_stanza_t *st)
{
    vn_session_t *s = st->origin;
    if (!s || !s->full) return VN_PASS;
    const char *domain = srv->domains[s->domain_idx];
    if (st->kind == VN_IQ && (!strcmp(st->type, "result") || !strcmp(st->type, "error")) &&
        st->to.domain && !st->to.local && !strcmp(st->to.domain, domain)) {
        const char *id = vn_xnode_attr(st->node, "id");
        pending_t *p = id ? vn_map_get(pend_id, id) : NULL;
        if (!p || strcmp(p->full, s->full)) return VN_PASS;
        vn_map_del(pend_id, p->id);
        vn_map_del(pend_ver, p->ver);
        const vn_xnode_t *q = vn_xnode_child(st->node, NS_DISCO_INFO, "query");
        char *got = q && !strcmp(st->type, "result") ? caps_ver_of(st->arena, q, p->algo) : NULL;
        if (!got || strcmp(got, p->ver)) {
            vn_info("caps: %s answered for ver %s with %s; not cached", p->full, p->ver,
                    got ? got : "no valid answer");
            pending_free(p);
            return VN_HANDLED;
        }
        if (vn_map_size(vers) >= CAPS_MAX_VERS) {
            vn_map_each(vers, free_ver, NULL);
            vn_map_free(vers);
            vers = vn_map_new();
        }
        capsver_t *cv = vn_xcalloc(1, sizeof(*cv));
        /* Only what the hash covered (disco#info features): anything else
         * in the answer would be cached for every client of this ver. */
        for (const vn_xnode_t *c = q->children; c; c = c->next)
            if (c->name && !strcmp(c->name, "feature") && c->ns && !strcmp(c->ns, NS_DISCO_INFO) &&
                vn_xnode_attr(c, "var"))
                strv_push(&cv->feat, &cv->n, vn_xnode_attr(c, "var"));
        qsort(cv->feat, (size_t)cv->n, sizeof(char *), cmp_str);
        vn_map_put(vers, p->ver, cv);
        /* Everybody who changed to this string while served gets what they
         * newly want; everybody waiting for last items gets them
         * (collected first: sending may change the table). */
        waiters_t wt = {p->ver, NULL, 0};
        vn_map_each(jids, collect_changed, &wt);
        for (int i = 0; i < wt.n; i++) {
            caps_changed(srv, wt.fulls[i]);
            free(wt.fulls[i]);
        }
        free(wt.fulls);
        wt.fulls = NULL;
        wt.n = 0;
        vn_map_each(jids, collect_waiting, &wt);
        for (int i = 0; i < wt.n; i++) {
            jidrec_t *r = vn_map_get(jids, wt.fulls[i]);
            if (r) {
                char **owners = r->waiting;
                int n = r->nwaiting;
                r->waiting = NULL;
                r->nwaiting = 0;
                for (int k = 0; k < n; k++)
                    due(srv, wt.fulls[i], owners[k], 1);
                strv_clear(&owners, &n);
            }
            free(wt.fulls[i]);
        }
        free(wt.fulls);
        pending_free(p);
        return VN_HANDLED;
    }
    if (st->kind != VN_PRESENCE || st->to.domain) return VN_PASS;
    if (!strcmp(st->type, "unavailable")) {
        forget(s->full);
        return VN_PASS;
    }
    if (st->type[0]) return VN_PASS;
    int first = !s->available;
    int known = note_presence(srv, st, s->full, domain);
    /* The account's own new resource gets the last items of its own nodes. */
    if (first)
        due(srv, s->full, s->bare, known);
    else if (known)
        caps_changed(srv, s->full);
    return VN_PASS;
}

vn_result_t caps_to_account(vn_server_t *srv, vn_stanza_t *st)
{
    if (st->kind != VN_PRESENCE || !st->from.local || !st->from.resource || st->to.resource)
        return VN_PASS;
    char *full = vn_jid_full_str(&st->from, st->arena);
    char *owner = vn_arena_printf(st->arena, "%s@%s", st->to.local, st->to.domain);
    char *from_bare = vn_arena_printf(st->arena, "%s@%s", st->from.local, st->from.domain);
    if (!strcmp(owner, from_bare)) return VN_PASS;
    jidrec_t *r = vn_map_get(jids, full);
    if (!strcmp(st->type, "unavailable")) {
        /* Next time this resource comes back, the owner's items are due again. */
        if (r) {
            for (int i = 0; i < r->ndone; i++)
                if (!strcmp(r->done[i], owner)) {
                    free(r->done[i]);
                    r->done[i] = r->done[--r->ndone];
                    break;
                }
        }
        return VN_PASS;
    }
    if (st->type[0]) return VN_PASS;
    int known;
    if (vn_server_domain_index(srv, st->from.domain) >= 0) {
        /* A local resource: its caps were noted from its own presence. */
        known = !r || !r->ver || vn_map_get(vers, r->ver) != NULL;
        if (!r || !r->ver) return VN_PASS; /* no caps: wants nothing */
    } else {
        known = note_presence(srv, st, full, st->to.domain);
        if (known) caps_changed(srv, full);
    }
    due(srv, full, owner, known);
    return VN_PASS;
}

void caps_session_end(vn_server_t *srv, vn_session_t *s)
{
    (void)srv;
    if (s->full && jids) forget(s->full);
}

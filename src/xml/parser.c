#include "xml/parser.h"

#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define NS_SEP ' '
/* Bytes beyond max_stanza that may be buffered, so that the closing tags of
 * a stanza right at the limit still fit. */
#define SIZE_SLACK 4096

#define MAX_ROOT_NS 8

struct vn_xml_parser {
    XML_Parser xp;                     /* NULL while released between stanzas (idle) */
    unsigned long long index_base;     /* stream offset of expat's byte 0 */
    int replaying;                     /* feeding the synthetic root after re-creation */
    int nroot_ns;                      /* namespace declarations on the stream root */
    char *root_ns_prefix[MAX_ROOT_NS]; /* NULL: default namespace */
    char *root_ns_uri[MAX_ROOT_NS];
    char *root_qname; /* the root's name as written, e.g. "stream:stream" */
    vn_xml_limits_t limits;
    vn_xml_callbacks_t cb;
    void *ud;
    int depth; /* 0 outside the root, 1 inside the root, >= 2 in a stanza */
    int suspended;
    int stopped;
    vn_xml_error_t error;
    char error_text[128];
    unsigned long long fed;      /* bytes fed since the stream started */
    unsigned long long boundary; /* byte offset where the current stanza began */
    vn_arena_t *arena;           /* arena of the stanza being built, NULL between stanzas */
    vn_xnode_t *root;            /* stanza being built */
    vn_xnode_t *cur;
    size_t text_bytes;     /* decoded text and re-declared namespaces (see on_start) */
    vn_xnode_t *text_node; /* last text node built, whose buffer has spare room */
    size_t text_cap;       /* size of text_node's buffer */
    vn_buf_t pending;      /* input not yet given to expat when it suspended */
    char default_ns[256];
};

/* Arenas recycled between stanzas of all parsers on this thread, so that an
 * idle connection holds none. */
static __thread vn_arena_t *arena_cache[32];
static __thread int arena_cache_len;

static vn_arena_t *arena_get(void)
{
    if (arena_cache_len > 0) return arena_cache[--arena_cache_len];
    return vn_arena_new(2048);
}

static void arena_put(vn_arena_t *a)
{
    if (arena_cache_len < 32) {
        vn_arena_reset(a);
        arena_cache[arena_cache_len++] = a;
    } else {
        vn_arena_free(a);
    }
}

static void fail(vn_xml_parser_t *p, vn_xml_error_t e, const char *text)
{
    if (p->error == VN_XERR_NONE) {
        p->error = e;
        snprintf(p->error_text, sizeof(p->error_text), "%s", text);
    }
    p->stopped = 1;
    XML_StopParser(p->xp, XML_FALSE);
}

/* expat reports "uri local prefix", "uri local" or just "local" (triplets
 * are on so that the root's prefix can be replayed). */
static void split_name(vn_arena_t *a, const char *qname, const char **ns, const char **local)
{
    const char *sep = strchr(qname, NS_SEP);
    if (sep) {
        *ns = vn_arena_strndup(a, qname, (size_t)(sep - qname));
        const char *l = sep + 1;
        const char *sep2 = strchr(l, NS_SEP);
        *local = sep2 ? vn_arena_strndup(a, l, (size_t)(sep2 - l)) : vn_arena_strdup(a, l);
    } else {
        *ns = NULL;
        *local = vn_arena_strdup(a, qname);
    }
}

/* "prefix:local" or "local" of an expat triplet name. */
static char *qualified_name(const char *qname)
{
    const char *sep = strchr(qname, NS_SEP);
    if (!sep) return vn_xstrdup(qname);
    const char *l = sep + 1;
    const char *sep2 = strchr(l, NS_SEP);
    if (!sep2) return vn_xstrdup(l);
    size_t ln = (size_t)(sep2 - l), pn = strlen(sep2 + 1);
    char *q = vn_xmalloc(pn + 1 + ln + 1);
    memcpy(q, sep2 + 1, pn);
    q[pn] = ':';
    memcpy(q + pn + 1, l, ln);
    q[pn + 1 + ln] = '\0';
    return q;
}

/* Offset in the whole stream of the event being reported. */
static unsigned long long pos_now(vn_xml_parser_t *p)
{
    return p->index_base + (unsigned long long)XML_GetCurrentByteIndex(p->xp);
}

static int check_size(vn_xml_parser_t *p)
{
    unsigned long long pos = pos_now(p);
    if (pos > p->boundary && pos - p->boundary > p->limits.max_stanza) {
        fail(p, VN_XERR_POLICY, "stanza too large");
        return -1;
    }
    return 0;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    vn_xml_parser_t *p = ud;
    if (p->stopped) return;
    int nattrs = 0;
    for (const XML_Char **a = atts; *a; a += 2)
        nattrs++;
    if (nattrs > p->limits.max_attrs) {
        fail(p, VN_XERR_POLICY, "too many attributes");
        return;
    }
    if (p->depth == 0) {
        vn_arena_t *a = arena_get();
        const char *ns, *local;
        split_name(a, name, &ns, &local);
        vn_xattr_t *attrs = NULL, **tail = &attrs;
        for (const XML_Char **at = atts; *at; at += 2) {
            vn_xattr_t *x = vn_arena_zalloc(a, sizeof(*x));
            split_name(a, at[0], &x->ns, &x->name);
            x->value = vn_arena_strdup(a, at[1]);
            *tail = x;
            tail = &x->next;
        }
        p->depth = 1;
        if (p->replaying) {
            arena_put(a);
            return;
        }
        free(p->root_qname);
        p->root_qname = qualified_name(name);
        p->boundary = pos_now(p) + (unsigned long long)XML_GetCurrentByteCount(p->xp);
        p->cb.stream_open(p->ud, ns ? ns : "", local, p->default_ns, attrs);
        arena_put(a);
        return;
    }
    if (p->depth >= p->limits.max_depth + 1) {
        fail(p, VN_XERR_POLICY, "elements nested too deeply");
        return;
    }
    if (check_size(p) < 0) return;
    if (p->depth == 1) {
        p->arena = arena_get();
        p->text_bytes = 0;
        p->text_node = NULL;
    }
    const char *ns, *local;
    split_name(p->arena, name, &ns, &local);
    vn_xnode_t *n = vn_xnode_new(p->arena, ns, local);
    /* vn_xnode_serialize writes the namespace URI out again on every
     * element whose namespace differs from its parent's, and on every
     * namespaced attribute: count those URIs against the limit, or a short
     * prefixed name bound to a long URI would make a stanza under the limit
     * serialise to thousands of times its size. */
    const char *parent_ns = p->depth == 1 ? p->default_ns : p->cur->ns;
    if (ns ? !parent_ns || strcmp(ns, parent_ns) != 0 : parent_ns && *parent_ns)
        p->text_bytes += (ns ? strlen(ns) : 0) + sizeof(" xmlns=''");
    vn_xattr_t **tail = &n->attrs;
    for (const XML_Char **at = atts; *at; at += 2) {
        vn_xattr_t *x = vn_arena_zalloc(p->arena, sizeof(*x));
        split_name(p->arena, at[0], &x->ns, &x->name);
        x->value = vn_arena_strdup(p->arena, at[1]);
        if (x->ns && strcmp(x->ns, VN_NS_XML) != 0)
            p->text_bytes += strlen(x->ns) + sizeof(" xmlns:a00=''");
        *tail = x;
        tail = &x->next;
    }
    if (p->text_bytes > p->limits.max_stanza) {
        fail(p, VN_XERR_POLICY, "stanza too large");
        return;
    }
    if (p->depth == 1)
        p->root = n;
    else
        vn_xnode_append(p->cur, n);
    p->cur = n;
    p->depth++;
}

static void on_end(void *ud, const XML_Char *name)
{
    (void)name;
    vn_xml_parser_t *p = ud;
    if (p->stopped) return;
    p->depth--;
    if (p->depth == 0) {
        p->cb.stream_close(p->ud);
        return;
    }
    if (check_size(p) < 0) return;
    if (p->depth > 1) {
        p->cur = p->cur->parent;
        return;
    }
    /* A stanza is complete. */
    vn_xnode_t *root = p->root;
    vn_arena_t *a = p->arena;
    p->root = p->cur = NULL;
    p->arena = NULL;
    p->text_node = NULL;
    p->boundary = pos_now(p) + (unsigned long long)XML_GetCurrentByteCount(p->xp);
    p->cb.stanza(p->ud, root, a);
    arena_put(a);
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    vn_xml_parser_t *p = ud;
    if (p->stopped) return;
    if (p->depth <= 1) {
        /* RFC 6120 §11.7: only whitespace may appear between stanzas. */
        for (int i = 0; i < len; i++) {
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
                fail(p, VN_XERR_BAD_FORMAT, "text outside stanzas");
                return;
            }
        }
        if (p->depth == 1) p->boundary = pos_now(p) + (unsigned)len;
        return;
    }
    p->text_bytes += (size_t)len;
    if (p->text_bytes > p->limits.max_stanza) {
        fail(p, VN_XERR_POLICY, "stanza too large");
        return;
    }
    /* Merge adjacent text chunks (expat splits at buffer and entity edges
     * and at every newline). The buffer grows geometrically: a fresh copy
     * per chunk would cost arena memory quadratic in the number of chunks. */
    vn_xnode_t *last = p->cur->last_child;
    if (last && !last->name) {
        size_t need = last->text_len + (size_t)len + 1;
        char *t;
        if (last == p->text_node && need <= p->text_cap) {
            t = (char *)last->text; /* our own arena buffer, with room */
        } else {
            size_t cap = need < 64 ? 64 : need * 2;
            t = vn_arena_alloc(p->arena, cap);
            memcpy(t, last->text, last->text_len);
            p->text_node = last;
            p->text_cap = cap;
        }
        memcpy(t + last->text_len, s, (size_t)len);
        last->text_len += (size_t)len;
        t[last->text_len] = '\0';
        last->text = t;
    } else {
        vn_xnode_add_text(p->arena, p->cur, s, (size_t)len);
    }
}

static void on_ns_start(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    vn_xml_parser_t *p = ud;
    if (p->depth != 0 || p->replaying) return;
    if (!prefix) snprintf(p->default_ns, sizeof(p->default_ns), "%s", uri ? uri : "");
    /* Remembered so that an idle parser can be re-created (see
     * vn_xml_parser_release_idle); more than a few disables that. */
    if (p->nroot_ns < MAX_ROOT_NS) {
        p->root_ns_prefix[p->nroot_ns] = prefix ? vn_xstrdup(prefix) : NULL;
        p->root_ns_uri[p->nroot_ns] = vn_xstrdup(uri ? uri : "");
    }
    p->nroot_ns++;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                       int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    fail(ud, VN_XERR_RESTRICTED, "DTD not allowed");
}

static void on_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                           int value_length, const XML_Char *base, const XML_Char *sysid,
                           const XML_Char *pubid, const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_length, (void)base, (void)sysid,
        (void)pubid, (void)notation;
    fail(ud, VN_XERR_RESTRICTED, "entity declarations not allowed");
}

static void on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    fail(ud, VN_XERR_RESTRICTED, "comments not allowed");
}

static void on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target, (void)data;
    fail(ud, VN_XERR_RESTRICTED, "processing instructions not allowed");
}

static int on_unknown_encoding(void *ud, const XML_Char *name, XML_Encoding *info)
{
    (void)name, (void)info;
    fail(ud, VN_XERR_NOT_WELL_FORMED, "only UTF-8 is allowed");
    return XML_STATUS_ERROR;
}

static void setup(vn_xml_parser_t *p)
{
    XML_SetUserData(p->xp, p);
    XML_SetElementHandler(p->xp, on_start, on_end);
    XML_SetCharacterDataHandler(p->xp, on_text);
    XML_SetStartNamespaceDeclHandler(p->xp, on_ns_start);
    XML_SetStartDoctypeDeclHandler(p->xp, on_doctype);
    XML_SetEntityDeclHandler(p->xp, on_entity_decl);
    XML_SetCommentHandler(p->xp, on_comment);
    XML_SetProcessingInstructionHandler(p->xp, on_pi);
    XML_SetUnknownEncodingHandler(p->xp, on_unknown_encoding, p);
    XML_SetParamEntityParsing(p->xp, XML_PARAM_ENTITY_PARSING_NEVER);
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
    /* expat >= 2.6 may hold back a complete token until twice as many bytes
     * as it last saw are buffered; on a live stream that stalls a stanza
     * until the client sends something else. The size limit already bounds
     * the re-parsing work that deferral protects against. */
    XML_SetReparseDeferralEnabled(p->xp, XML_FALSE);
#endif
    XML_SetReturnNSTriplet(p->xp, XML_TRUE);
}

static void forget_root(vn_xml_parser_t *p)
{
    for (int i = 0; i < p->nroot_ns && i < MAX_ROOT_NS; i++) {
        free(p->root_ns_prefix[i]);
        free(p->root_ns_uri[i]);
    }
    p->nroot_ns = 0;
    free(p->root_qname);
    p->root_qname = NULL;
}

static void clear_state(vn_xml_parser_t *p)
{
    if (p->arena) arena_put(p->arena);
    p->arena = NULL;
    p->root = p->cur = NULL;
    p->text_node = NULL;
    vn_buf_free(&p->pending);
    p->depth = 0;
    p->suspended = 0;
    p->stopped = 0;
    p->error = VN_XERR_NONE;
    p->error_text[0] = '\0';
    p->fed = 0;
    p->boundary = 0;
    p->index_base = 0;
    p->replaying = 0;
    p->default_ns[0] = '\0';
    forget_root(p);
}

vn_xml_parser_t *vn_xml_parser_new(const vn_xml_limits_t *limits, const vn_xml_callbacks_t *cb,
                                   void *ud)
{
    vn_xml_parser_t *p = vn_xcalloc(1, sizeof(*p));
    p->limits = *limits;
    p->cb = *cb;
    p->ud = ud;
    p->xp = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!p->xp) {
        free(p);
        return NULL;
    }
    setup(p);
    return p;
}

void vn_xml_parser_free(vn_xml_parser_t *p)
{
    if (!p) return;
    if (p->arena) arena_put(p->arena);
    vn_buf_free(&p->pending);
    if (p->xp) XML_ParserFree(p->xp);
    forget_root(p);
    free(p);
}

void vn_xml_parser_reset(vn_xml_parser_t *p)
{
    clear_state(p);
    if (p->xp)
        XML_ParserReset(p->xp, "UTF-8");
    else
        p->xp = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!p->xp) abort();
    setup(p);
}

void vn_xml_parser_set_limits(vn_xml_parser_t *p, const vn_xml_limits_t *limits)
{
    p->limits = *limits;
}

int vn_xml_parser_release_idle(vn_xml_parser_t *p)
{
    /* Only between stanzas with nothing half-read: then the whole state is
     * the root element and its namespace declarations, which we keep. */
    if (!p->xp || p->depth != 1 || p->suspended || p->stopped || p->error != VN_XERR_NONE ||
        p->fed != p->boundary || !p->root_qname || p->nroot_ns > MAX_ROOT_NS)
        return 0;
    XML_ParserFree(p->xp);
    p->xp = NULL;
    return 1;
}

/* Re-creates a released parser by replaying the stream root. */
static int recreate(vn_xml_parser_t *p)
{
    p->xp = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!p->xp) return -1;
    setup(p);
    char head[2048];
    size_t n = (size_t)snprintf(head, sizeof(head), "<%s", p->root_qname);
    for (int i = 0; i < p->nroot_ns && n < sizeof(head); i++) {
        const char *pre = p->root_ns_prefix[i];
        n += (size_t)snprintf(head + n, sizeof(head) - n, " xmlns%s%s='%s'", pre ? ":" : "",
                              pre ? pre : "", p->root_ns_uri[i]);
    }
    if (n + 2 >= sizeof(head)) return -1;
    head[n++] = '>';
    p->depth = 0;
    p->replaying = 1;
    enum XML_Status st = XML_Parse(p->xp, head, (int)n, XML_FALSE);
    p->replaying = 0;
    if (st != XML_STATUS_OK || p->depth != 1) return -1;
    /* Offsets continue where the real stream left off. */
    p->index_base = p->fed - n;
    return 0;
}

static vn_xml_status_t status_of(vn_xml_parser_t *p, enum XML_Status st)
{
    if (st == XML_STATUS_SUSPENDED) return VN_XML_SUSPENDED;
    if (p->error != VN_XERR_NONE) return VN_XML_ERROR;
    if (p->stopped) return VN_XML_STOPPED;
    if (st == XML_STATUS_ERROR) {
        enum XML_Error code = XML_GetErrorCode(p->xp);
        if (code == XML_ERROR_ABORTED) return VN_XML_STOPPED;
        p->error = VN_XERR_NOT_WELL_FORMED;
        snprintf(p->error_text, sizeof(p->error_text), "%s", XML_ErrorString(code));
        return VN_XML_ERROR;
    }
    return VN_XML_OK;
}

/* Everything since the last stanza boundary is buffered somewhere (expat's
 * token buffer or our tree): expat gets only as many bytes as the limit
 * leaves past that boundary. A read that completes stanzas moves the
 * boundary while it is parsed, so it goes in as several pieces rather than
 * being refused for the sum of its stanzas. */
static vn_xml_status_t parse_bounded(vn_xml_parser_t *p, const char *data, size_t len)
{
    const unsigned long long cap = (unsigned long long)p->limits.max_stanza + SIZE_SLACK;
    vn_xml_status_t st = VN_XML_OK;
    while (len > 0) {
        unsigned long long held = p->fed - p->boundary;
        if (held >= cap) {
            p->error = VN_XERR_POLICY;
            snprintf(p->error_text, sizeof(p->error_text), "stanza too large");
            return VN_XML_ERROR;
        }
        size_t n = cap - held < len ? (size_t)(cap - held) : len;
        p->fed += n;
        st = status_of(p, XML_Parse(p->xp, data, (int)n, XML_FALSE));
        data += n;
        len -= n;
        if (st != VN_XML_OK) break;
    }
    /* expat keeps the rest of the piece it suspended in; we keep the rest
     * of the read until vn_xml_parser_resume(). */
    if (st == VN_XML_SUSPENDED && len > 0) vn_buf_append(&p->pending, data, len);
    return st;
}

vn_xml_status_t vn_xml_parser_feed(vn_xml_parser_t *p, const char *data, size_t len)
{
    if (p->error != VN_XERR_NONE) return VN_XML_ERROR;
    if (p->stopped) return VN_XML_STOPPED;
    if (!p->xp && recreate(p) < 0) {
        p->error = VN_XERR_NOT_WELL_FORMED;
        snprintf(p->error_text, sizeof(p->error_text), "cannot restore the stream");
        return VN_XML_ERROR;
    }
    return parse_bounded(p, data, len);
}

void vn_xml_parser_suspend(vn_xml_parser_t *p)
{
    if (p->stopped || p->suspended) return;
    p->suspended = 1;
    XML_StopParser(p->xp, XML_TRUE);
}

vn_xml_status_t vn_xml_parser_resume(vn_xml_parser_t *p)
{
    if (!p->suspended) return VN_XML_OK;
    p->suspended = 0;
    vn_xml_status_t st = status_of(p, XML_ResumeParser(p->xp));
    if (st != VN_XML_OK || p->pending.len == 0) return st;
    vn_buf_t rest = p->pending;
    p->pending = (vn_buf_t)VN_BUF_INIT;
    st = parse_bounded(p, rest.data, rest.len);
    vn_buf_free(&rest);
    return st;
}

int vn_xml_parser_suspended(const vn_xml_parser_t *p)
{
    return p->suspended;
}

void vn_xml_parser_stop(vn_xml_parser_t *p)
{
    if (p->stopped) return;
    p->stopped = 1;
    XML_StopParser(p->xp, XML_FALSE);
}

vn_xml_error_t vn_xml_parser_error(const vn_xml_parser_t *p)
{
    return p->error;
}

const char *vn_xml_parser_error_text(const vn_xml_parser_t *p)
{
    return p->error_text;
}

/* ---- one element from text ---- */

typedef struct element_ctx {
    vn_arena_t *a;
    vn_xnode_t *out;
    int n;
} element_ctx_t;

static void element_open(void *ud, const char *ns, const char *name, const char *dns,
                         const vn_xattr_t *attrs)
{
    (void)ud, (void)ns, (void)name, (void)dns, (void)attrs;
}

static void element_done(void *ud, vn_xnode_t *n, vn_arena_t *a)
{
    (void)a;
    element_ctx_t *c = ud;
    if (c->n++ == 0) c->out = vn_xnode_copy(c->a, n);
}

static void element_close(void *ud)
{
    (void)ud;
}

vn_xnode_t *vn_xml_parse_element(vn_arena_t *a, const char *xml, size_t len, const char *default_ns,
                                 int max_depth)
{
    static const vn_xml_callbacks_t cb = {element_open, element_done, element_close};
    vn_xml_limits_t lim = {len + 4096, max_depth, 64};
    element_ctx_t c = {a, NULL, 0};
    char head[512];
    int hn = default_ns ? snprintf(head, sizeof(head), "<r xmlns='%s'>", default_ns)
                        : snprintf(head, sizeof(head), "<r>");
    if (hn < 0 || (size_t)hn >= sizeof(head)) return NULL;
    vn_xml_parser_t *p = vn_xml_parser_new(&lim, &cb, &c);
    vn_xml_status_t s = vn_xml_parser_feed(p, head, (size_t)hn);
    if (s == VN_XML_OK) s = vn_xml_parser_feed(p, xml, len);
    if (s == VN_XML_OK) s = vn_xml_parser_feed(p, "</r>", 4);
    vn_xml_parser_free(p);
    return s == VN_XML_OK && c.n == 1 ? c.out : NULL;
}

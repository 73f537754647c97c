/* Unit tests for the streaming XMPP parser (src/xml/parser.c) and the
 * element tree (src/xml/node.c).
 *
 * Every test drives the parser the way a session does: bytes in arbitrary
 * chunks, callbacks recorded, suspension and stop honoured. Stanzas are
 * recorded by serialising them, which also exercises vn_xnode_serialize. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/mem.h"
#include "xml/node.h"
#include "xml/parser.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define HDR_ROOT                                                                                   \
    "<stream:stream xmlns='jabber:client' xmlns:stream='" NS_STREAMS                               \
    "' to='example.org' version='1.0' xml:lang='en'>"
#define HDR "<?xml version='1.0'?>" HDR_ROOT

#define MAX_REC 4096

typedef struct rec {
    vn_xml_parser_t *p;
    int opens, closes;
    char open_ns[128], open_name[64], open_default_ns[128];
    char open_attrs[512]; /* "ns|name=value;" for each attribute */
    int nstanzas;
    char *ser[MAX_REC]; /* serialised stanzas (malloc'd) */
    vn_arena_t *keep;   /* copies of the first stanzas, for structural checks */
    vn_xnode_t *tree[16];
    size_t max_footprint; /* largest stanza arena seen in the callback */
    int suspend_in_stanza;
    int suspend_in_open;
    int stop_at; /* stop inside the callback of this stanza (1-based), 0: never */
} rec_t;

static const vn_xml_limits_t lim_small = {1024, 8, 4};
static const vn_xml_limits_t lim_prod = {65536, 32, 32};

static void on_open(void *ud, const char *ns, const char *name, const char *default_ns,
                    const vn_xattr_t *attrs)
{
    rec_t *r = ud;
    r->opens++;
    snprintf(r->open_ns, sizeof(r->open_ns), "%s", ns);
    snprintf(r->open_name, sizeof(r->open_name), "%s", name);
    snprintf(r->open_default_ns, sizeof(r->open_default_ns), "%s", default_ns);
    r->open_attrs[0] = '\0';
    for (const vn_xattr_t *a = attrs; a; a = a->next) {
        size_t len = strlen(r->open_attrs);
        snprintf(r->open_attrs + len, sizeof(r->open_attrs) - len, "%s|%s=%s;", a->ns ? a->ns : "",
                 a->name, a->value);
    }
    if (r->suspend_in_open) vn_xml_parser_suspend(r->p);
}

static void on_stanza(void *ud, vn_xnode_t *stanza, vn_arena_t *arena)
{
    rec_t *r = ud;
    size_t fp = vn_arena_footprint(arena);
    if (fp > r->max_footprint) r->max_footprint = fp;
    if (r->nstanzas < MAX_REC) {
        vn_buf_t b = VN_BUF_INIT;
        vn_xnode_serialize(stanza, "jabber:client", &b);
        r->ser[r->nstanzas] = vn_xstrndup(b.data, b.len);
        vn_buf_free(&b);
    }
    if (r->nstanzas < 16) r->tree[r->nstanzas] = vn_xnode_copy(r->keep, stanza);
    r->nstanzas++;
    if (r->stop_at && r->nstanzas == r->stop_at) vn_xml_parser_stop(r->p);
    if (r->suspend_in_stanza) vn_xml_parser_suspend(r->p);
}

static void on_close(void *ud)
{
    rec_t *r = ud;
    r->closes++;
}

static const vn_xml_callbacks_t cbs = {on_open, on_stanza, on_close};

static rec_t *rec_new(const vn_xml_limits_t *lim)
{
    rec_t *r = vn_xcalloc(1, sizeof(*r));
    r->keep = vn_arena_new(4096);
    r->p = vn_xml_parser_new(lim, &cbs, r);
    assert_non_null(r->p);
    return r;
}

static void rec_clear(rec_t *r)
{
    for (int i = 0; i < r->nstanzas && i < MAX_REC; i++)
        free(r->ser[i]);
    r->nstanzas = 0;
    r->opens = r->closes = 0;
    r->max_footprint = 0;
    vn_arena_reset(r->keep);
    memset(r->tree, 0, sizeof(r->tree));
}

static void rec_free(rec_t *r)
{
    rec_clear(r);
    vn_xml_parser_free(r->p);
    vn_arena_free(r->keep);
    free(r);
}

/* Feeds s in chunks of `chunk` bytes (0: all at once). A suspension is
 * resumed at once, as a session does when its handler finishes. Returns the
 * first status that is neither OK nor a resumed suspension, or OK. */
static vn_xml_status_t feed_n(rec_t *r, const char *s, size_t len, size_t chunk)
{
    if (!chunk) chunk = len ? len : 1;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        vn_xml_status_t st = vn_xml_parser_feed(r->p, s + off, n);
        while (st == VN_XML_SUSPENDED) {
            assert_true(vn_xml_parser_suspended(r->p));
            st = vn_xml_parser_resume(r->p);
        }
        if (st != VN_XML_OK) return st;
    }
    return VN_XML_OK;
}

static vn_xml_status_t feed(rec_t *r, const char *s, size_t chunk)
{
    return feed_n(r, s, strlen(s), chunk);
}

static void expect_error(rec_t *r, const char *s, size_t chunk, vn_xml_error_t want)
{
    vn_xml_status_t st = feed(r, s, chunk);
    if (st != VN_XML_ERROR) fail_msg("status %d for \"%.80s\", expected an error", st, s);
    if (vn_xml_parser_error(r->p) != want)
        fail_msg("error %d (%s) for \"%.80s\", expected %d", vn_xml_parser_error(r->p),
                 vn_xml_parser_error_text(r->p), s, want);
    assert_true(vn_xml_parser_error_text(r->p)[0] != '\0');
    /* An error is final until reset. */
    assert_int_equal(vn_xml_parser_feed(r->p, "<a/>", 4), VN_XML_ERROR);
}

/* Opens a stream, then checks that `body` yields error `want`. */
static void stream_error(const vn_xml_limits_t *lim, const char *body, size_t chunk,
                         vn_xml_error_t want)
{
    rec_t *r = rec_new(lim);
    assert_int_equal(feed(r, HDR, 0), VN_XML_OK);
    expect_error(r, body, chunk, want);
    rec_free(r);
}

/* Builds a string from a prefix, `n` copies of `unit` and a suffix. */
static char *repeat(const char *prefix, const char *unit, size_t n, const char *suffix)
{
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_puts(&b, prefix);
    for (size_t i = 0; i < n; i++)
        vn_buf_puts(&b, unit);
    vn_buf_puts(&b, suffix);
    char *s = vn_xstrndup(b.data, b.len);
    vn_buf_free(&b);
    return s;
}

/* ---- stream header ---- */

static void test_stream_header(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    assert_int_equal(feed(r, HDR, 0), VN_XML_OK);
    assert_int_equal(r->opens, 1);
    assert_string_equal(r->open_ns, NS_STREAMS);
    assert_string_equal(r->open_name, "stream");
    assert_string_equal(r->open_default_ns, "jabber:client");
    /* Namespace declarations are not attributes; xml:lang is in the XML
     * namespace. */
    assert_string_equal(r->open_attrs, "|to=example.org;|version=1.0;" VN_NS_XML "|lang=en;");
    assert_int_equal(r->nstanzas, 0);
    rec_free(r);
}

static void test_stream_header_no_default_ns(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    assert_int_equal(feed(r, "<stream:stream xmlns:stream='" NS_STREAMS "' version='1.0'>", 0),
                     VN_XML_OK);
    assert_int_equal(r->opens, 1);
    assert_string_equal(r->open_ns, NS_STREAMS);
    assert_string_equal(r->open_default_ns, "");
    rec_free(r);

    /* A root in no namespace at all is reported with ns "". */
    r = rec_new(&lim_prod);
    assert_int_equal(feed(r, "<stream a='1'>", 0), VN_XML_OK);
    assert_string_equal(r->open_ns, "");
    assert_string_equal(r->open_name, "stream");
    assert_string_equal(r->open_attrs, "|a=1;");
    rec_free(r);
}

static void test_stream_header_split(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    assert_int_equal(feed(r, HDR, 1), VN_XML_OK);
    assert_int_equal(r->opens, 1);
    assert_string_equal(r->open_default_ns, "jabber:client");
    rec_free(r);
}

/* ---- stanzas ---- */

static const char session_text[] =
    HDR "\n  <message to='bob@example.org' id='1' type='chat'><body>Привет &amp; hi</body>"
        "</message>\r\n"
        "<iq type='get' id='2'><ping xmlns='urn:xmpp:ping'/></iq>"
        "<presence><show>away</show><status>a &lt;b&gt; c</status></presence>"
        "<r xmlns='urn:xmpp:sm:3'/>\t </stream:stream>";

static const char *const session_stanzas[] = {
    "<message to='bob@example.org' id='1' type='chat'><body>Привет &amp; hi</body></message>",
    "<iq type='get' id='2'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<presence><show>away</show><status>a &lt;b&gt; c</status></presence>",
    "<r xmlns='urn:xmpp:sm:3'/>",
};

static void check_session(rec_t *r)
{
    assert_int_equal(r->opens, 1);
    assert_int_equal(r->closes, 1);
    assert_int_equal(r->nstanzas, 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(r->ser[i], session_stanzas[i]);
}

static void test_stanzas_any_split(void **state)
{
    (void)state;
    /* Whole, byte by byte (which also splits the UTF-8 of the Cyrillic
     * text), and a few odd chunk sizes: the same events every time. */
    static const size_t chunks[] = {0, 1, 2, 3, 7, 64};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        rec_t *r = rec_new(&lim_prod);
        assert_int_equal(feed(r, session_text, chunks[i]), VN_XML_OK);
        check_session(r);
        rec_free(r);
    }
}

static void test_nested_and_text_merge(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    const char *s = HDR "<message><body>a&amp;b&lt;c&#x41;\nline2&#10;</body>"
                        "<x xmlns='urn:x'><y a='1'/>t1<z/>t2<p:w xmlns:p='urn:p'/></x></message>";
    /* Byte by byte: expat then reports the text in many pieces. */
    assert_int_equal(feed(r, s, 1), VN_XML_OK);
    assert_int_equal(r->nstanzas, 1);
    vn_xnode_t *m = r->tree[0];
    assert_string_equal(m->name, "message");
    assert_string_equal(m->ns, "jabber:client");
    assert_null(m->parent);

    vn_xnode_t *body = vn_xnode_child(m, "jabber:client", "body");
    assert_non_null(body);
    assert_ptr_equal(body->parent, m);
    /* One text node, not one per chunk / entity / line. */
    assert_non_null(body->children);
    assert_ptr_equal(body->children, body->last_child);
    assert_null(body->children->name);
    assert_int_equal(body->children->text_len, strlen("a&b<cA\nline2\n"));
    assert_string_equal(body->children->text, "a&b<cA\nline2\n");
    assert_string_equal(vn_xnode_text(r->keep, body), "a&b<cA\nline2\n");

    vn_xnode_t *x = vn_xnode_child(m, "urn:x", "x");
    assert_non_null(x);
    assert_ptr_equal(vn_xnode_first_element(m), body);
    assert_ptr_equal(body->next, x);
    vn_xnode_t *c = x->children;
    assert_string_equal(c->name, "y");
    assert_string_equal(c->ns, "urn:x"); /* inherited default namespace */
    assert_string_equal(vn_xnode_attr(c, "a"), "1");
    assert_null(vn_xnode_attr(c, "b"));
    c = c->next;
    assert_null(c->name);
    assert_string_equal(c->text, "t1");
    c = c->next;
    assert_string_equal(c->name, "z");
    c = c->next;
    assert_string_equal(c->text, "t2");
    c = c->next;
    assert_string_equal(c->name, "w");
    assert_string_equal(c->ns, "urn:p");
    assert_ptr_equal(c->parent, x);
    assert_null(c->next);
    assert_ptr_equal(x->last_child, c);
    assert_string_equal(vn_xnode_text(r->keep, x), "t1t2");
    assert_null(vn_xnode_child(m, "urn:other", "x"));
    assert_ptr_equal(vn_xnode_child(m, NULL, "x"), x);
    assert_ptr_equal(vn_xnode_child(m, "urn:x", NULL), x);
    rec_free(r);
}

/* Many text pieces in one element (each newline and each entity reference
 * is its own expat event) must not cost memory quadratic in their number. */
static void test_text_merge_memory(void **state)
{
    (void)state;
    static const char *const units[] = {"\n", "&amp;", "a\n"};
    for (size_t u = 0; u < 3; u++) {
        rec_t *r = rec_new(&lim_prod);
        char *s = repeat(HDR "<message><body>", units[u], 12000, "</body></message>");
        assert_int_equal(feed(r, s, 4096), VN_XML_OK);
        assert_int_equal(r->nstanzas, 1);
        vn_xnode_t *body = vn_xnode_first_element(r->tree[0]);
        assert_non_null(body);
        assert_ptr_equal(body->children, body->last_child);
        assert_int_equal(body->children->text_len, 12000 * (u == 2 ? 2 : 1));
        if (r->max_footprint > 256 * 1024)
            fail_msg("a %zu-byte text took %zu bytes of arena", body->children->text_len,
                     r->max_footprint);
        free(s);
        rec_free(r);
    }
}

/* ---- serialisation ---- */

static void test_serialize_roundtrip(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    const char *in = HDR "<message to='a&amp;b@example.org' id=\"q&quot;'&lt;&gt;\" xml:lang='ru'>"
                         "<body>&lt;tag&gt; &amp; &apos;q&apos; &quot;d&quot; ]]&gt; é</body>"
                         "<x xmlns='urn:x'><y/><c xmlns='jabber:client'><d/></c></x>"
                         "<e xmlns='urn:x' xmlns:f='urn:f' f:g='1'/></message>";
    assert_int_equal(feed(r, in, 0), VN_XML_OK);
    assert_int_equal(r->nstanzas, 1);
    /* xmlns only where the namespace changes (x, c, e; not message, y, d). */
    const char *want = "<message to='a&amp;b@example.org' id='q&quot;&apos;&lt;&gt;' xml:lang='ru'>"
                       "<body>&lt;tag&gt; &amp; &apos;q&apos; &quot;d&quot; ]]&gt; é</body>"
                       "<x xmlns='urn:x'><y/><c xmlns='jabber:client'><d/></c></x>"
                       "<e xmlns='urn:x' xmlns:a0='urn:f' a0:g='1'/></message>";
    assert_string_equal(r->ser[0], want);

    /* Parsing the output gives the same tree again (a fixed point). */
    vn_buf_t again = VN_BUF_INIT;
    vn_buf_puts(&again, HDR);
    vn_buf_puts(&again, r->ser[0]);
    rec_t *r2 = rec_new(&lim_prod);
    assert_int_equal(feed_n(r2, again.data, again.len, 0), VN_XML_OK);
    assert_int_equal(r2->nstanzas, 1);
    assert_string_equal(r2->ser[0], want);
    vn_xnode_t *e = vn_xnode_child(r2->tree[0], "urn:x", "e");
    assert_non_null(e);
    assert_string_equal(e->attrs->ns, "urn:f");
    assert_string_equal(e->attrs->name, "g");
    assert_string_equal(vn_xnode_attr(r2->tree[0], "id"), "q\"'<>");
    assert_null(vn_xnode_attr(r2->tree[0], "lang")); /* xml:lang is namespaced */
    vn_buf_free(&again);
    rec_free(r2);

    /* On a stream whose default namespace differs, the stanza declares its own. */
    vn_buf_t b = VN_BUF_INIT;
    vn_xnode_serialize(r->tree[0], "jabber:server", &b);
    assert_true(b.len > 40);
    assert_memory_equal(b.data, "<message xmlns='jabber:client' to=", 34);
    vn_buf_free(&b);
    rec_free(r);
}

/* Values a parser can produce but that raw output would change on the way
 * back: whitespace characters in attribute values (normalised to spaces by
 * any XML parser) and CR in text (normalised to LF). */
static void test_serialize_whitespace_refs(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    const char *in = HDR "<message id='a&#9;b&#10;c&#13;d'><body>x&#13;y\tz\n</body>"
                         "<x xmlns='urn:a&#9;b&#13;' xmlns:p='urn:c&#10;' p:q='1'/></message>";
    assert_int_equal(feed(r, in, 0), VN_XML_OK);
    assert_int_equal(r->nstanzas, 1);
    assert_string_equal(vn_xnode_attr(r->tree[0], "id"), "a\tb\nc\rd");

    vn_buf_t again = VN_BUF_INIT;
    vn_buf_puts(&again, HDR);
    vn_buf_puts(&again, r->ser[0]);
    rec_t *r2 = rec_new(&lim_prod);
    assert_int_equal(feed_n(r2, again.data, again.len, 0), VN_XML_OK);
    assert_int_equal(r2->nstanzas, 1);
    assert_string_equal(vn_xnode_attr(r2->tree[0], "id"), "a\tb\nc\rd");
    assert_string_equal(vn_xnode_text(r2->keep, vn_xnode_first_element(r2->tree[0])), "x\ry\tz\n");
    /* Namespace names too: raw, they would come back as other names (or,
     * with a space, be refused by expat as containing its separator). */
    vn_xnode_t *x = vn_xnode_child(r2->tree[0], NULL, "x");
    assert_non_null(x);
    assert_string_equal(x->ns, "urn:a\tb\r");
    assert_string_equal(x->attrs->ns, "urn:c\n");
    assert_string_equal(r2->ser[0], r->ser[0]);
    vn_buf_free(&again);
    rec_free(r2);
    rec_free(r);
}

static void test_serialize_built_tree(void **state)
{
    (void)state;
    vn_arena_t *a = vn_arena_new(1024);
    vn_xnode_t *m = vn_xnode_new(a, "jabber:client", "message");
    vn_xnode_set_attr(a, m, "to", "a'b\"<&>");
    vn_xnode_set_attr(a, m, "id", "1");
    vn_xnode_set_attr(a, m, "type", "chat");
    vn_xnode_set_attr(a, m, "id", "2");    /* replaces */
    vn_xnode_set_attr(a, m, "type", NULL); /* removes */
    vn_xnode_set_attr(a, m, "absent", NULL);
    vn_xnode_t *body = vn_xnode_add(a, m, "jabber:client", "body");
    vn_xnode_add_text(a, body, "<&>'\"", 5);
    vn_xnode_add_text(a, body, "tail", 2); /* only "ta" */
    vn_xnode_t *x = vn_xnode_add(a, m, "urn:x", "x");
    vn_xnode_add(a, x, "urn:x", "y");
    vn_xnode_add(a, x, NULL, "z");
    vn_xnode_add(a, m, "jabber:client", "thread");

    vn_buf_t b = VN_BUF_INIT;
    vn_xnode_serialize(m, "jabber:client", &b);
    assert_string_equal(vn_buf_cstr(&b),
                        "<message to='a&apos;b&quot;&lt;&amp;&gt;' id='2'>"
                        "<body>&lt;&amp;&gt;&apos;&quot;ta</body>"
                        "<x xmlns='urn:x'><y/><z xmlns=''/></x><thread/></message>");

    /* A deep copy into another arena is independent and serialises the same. */
    vn_arena_t *a2 = vn_arena_new(64);
    vn_xnode_t *copy = vn_xnode_copy(a2, m);
    vn_arena_free(a);
    vn_buf_t b2 = VN_BUF_INIT;
    vn_xnode_serialize(copy, "jabber:client", &b2);
    assert_string_equal(vn_buf_cstr(&b2), vn_buf_cstr(&b));
    assert_ptr_equal(copy->children->parent, copy);
    vn_buf_free(&b);
    vn_buf_free(&b2);
    vn_arena_free(a2);
}

/* ---- limits ---- */

static void test_limit_huge_text(void **state)
{
    (void)state;
    char *s = repeat("<message><body>", "a", 5000, "</body></message>");
    /* In pieces: the text counter trips. */
    stream_error(&lim_small, s, 100, VN_XERR_POLICY);
    /* In one read: refused before expat buffers it. */
    stream_error(&lim_small, s, 0, VN_XERR_POLICY);
    free(s);
    /* Production limits: a 70 000-byte body in 16 KiB reads. */
    s = repeat("<message><body>", "0123456789", 7000, "</body></message>");
    stream_error(&lim_prod, s, 16384, VN_XERR_POLICY);
    free(s);
}

/* One start tag that never ends: expat would buffer it whole, so the parser
 * must refuse it by counting bytes as they are fed. */
static void test_limit_huge_unterminated_attribute(void **state)
{
    (void)state;
    const vn_xml_limits_t *lims[] = {&lim_small, &lim_prod};
    for (int l = 0; l < 2; l++) {
        rec_t *r = rec_new(lims[l]);
        assert_int_equal(feed(r, HDR, 0), VN_XML_OK);
        assert_int_equal(feed(r, "<message to='", 0), VN_XML_OK);
        char chunk[512];
        memset(chunk, 'a', sizeof(chunk));
        size_t fed = 0;
        vn_xml_status_t st = VN_XML_OK;
        while (st == VN_XML_OK && fed < 10u * 1024 * 1024) {
            st = vn_xml_parser_feed(r->p, chunk, sizeof(chunk));
            fed += sizeof(chunk);
        }
        assert_int_equal(st, VN_XML_ERROR);
        assert_int_equal(vn_xml_parser_error(r->p), VN_XERR_POLICY);
        /* Refused within the limit plus the documented slack and one read. */
        assert_true(fed <= lims[l]->max_stanza + 4096 + 2 * sizeof(chunk));
        assert_int_equal(r->nstanzas, 0);
        rec_free(r);
    }
}

/* The same terminated huge attribute value, in one read and in pieces. */
static void test_limit_huge_attribute(void **state)
{
    (void)state;
    char *s = repeat("<message to='", "b", 3000, "'/>");
    stream_error(&lim_small, s, 0, VN_XERR_POLICY);
    stream_error(&lim_small, s, 1, VN_XERR_POLICY);
    stream_error(&lim_small, s, 100, VN_XERR_POLICY);
    free(s);
}

static void test_limit_many_small_pieces(void **state)
{
    (void)state;
    /* Many tiny elements: no single text node is large. */
    char *s = repeat("<message>", "<x/>", 1000, "</message>");
    stream_error(&lim_small, s, 7, VN_XERR_POLICY);
    stream_error(&lim_small, s, 1, VN_XERR_POLICY);
    free(s);
    /* Many attribute-free nested elements' text, a byte at a time. */
    s = repeat("<message>", "<b>xy</b>", 400, "</message>");
    stream_error(&lim_small, s, 3, VN_XERR_POLICY);
    free(s);
}

/* The limit is per stanza: any number of stanzas under it are fine, however
 * they are grouped into reads. */
static void test_limit_is_per_stanza(void **state)
{
    (void)state;
    static const size_t chunks[] = {1, 100, 5000, 0};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        rec_t *r = rec_new(&lim_small);
        assert_int_equal(feed(r, HDR, 0), VN_XML_OK);
        char *s = repeat("", "<message to='x@y'><body>hello</body></message> ", 2000, "");
        if (feed(r, s, chunks[i]) != VN_XML_OK)
            fail_msg("chunk %zu: %s", chunks[i], vn_xml_parser_error_text(r->p));
        assert_int_equal(r->nstanzas, 2000);
        free(s);
        rec_free(r);
    }
}

/* A stanza just under the limit whose end arrives in the same read as
 * following stanzas (pipelining) is not a policy violation. */
static void test_limit_near_limit_pipelined(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    assert_int_equal(feed(r, HDR, 0), VN_XML_OK);
    char *big = repeat("<message><body>", "x", 65000, "</body></message>");
    char *small = repeat("", "<message><body>y</body></message>", 400, "");
    size_t big_len = strlen(big);
    vn_buf_t all = VN_BUF_INIT;
    vn_buf_puts(&all, big);
    vn_buf_puts(&all, small);
    /* The big stanza minus its last bytes, then reads of 16 KiB (the
     * connection's read buffer), the first of which ends it. */
    size_t first = big_len - 20;
    vn_xml_status_t st = feed_n(r, all.data, first, 0);
    assert_int_equal(st, VN_XML_OK);
    st = feed_n(r, all.data + first, all.len - first, 16384);
    if (st != VN_XML_OK) fail_msg("status %d: %s", st, vn_xml_parser_error_text(r->p));
    assert_int_equal(r->nstanzas, 401);
    assert_int_equal(strlen(r->ser[0]), big_len);
    vn_buf_free(&all);
    free(big);
    free(small);
    rec_free(r);
}

/* The serialiser writes a namespace URI again wherever the namespace
 * changes, so a long URI bound to a short prefix and used many times must
 * count against the limit: a stanza under the limit once serialised to
 * 2500 times its size. */
static void test_limit_namespace_amplification(void **state)
{
    (void)state;
    char *uri = repeat("urn:", "u", 30000, "");
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_printf(&b, "<message><x xmlns:p='%s'>", uri);
    for (int i = 0; i < 5000; i++)
        vn_buf_puts(&b, "<p:a/>");
    vn_buf_puts(&b, "</x></message>");
    char *s = vn_xstrndup(b.data, b.len);
    assert_true(strlen(s) < lim_prod.max_stanza);
    stream_error(&lim_prod, s, 16384, VN_XERR_POLICY);
    free(s);
    /* The same through namespaced attributes. */
    vn_buf_reset(&b);
    vn_buf_printf(&b, "<message xmlns:p='%s'>", uri);
    for (int i = 0; i < 1500; i++)
        vn_buf_puts(&b, "<a p:b=''/>");
    vn_buf_puts(&b, "</message>");
    s = vn_xstrndup(b.data, b.len);
    stream_error(&lim_prod, s, 16384, VN_XERR_POLICY);
    free(s);
    vn_buf_free(&b);
    free(uri);

    /* Ordinary payload namespaces are nowhere near it; what is accepted
     * serialises to a bounded multiple of the limit. */
    rec_t *r = rec_new(&lim_prod);
    s = repeat(HDR "<iq type='set' id='p'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                   "<publish node='n'>",
               "<item><entry xmlns='http://www.w3.org/2005/Atom'><title>t</title></entry></item>",
               300, "</publish></pubsub></iq>");
    assert_int_equal(feed(r, s, 4096), VN_XML_OK);
    assert_int_equal(r->nstanzas, 1);
    assert_true(strlen(r->ser[0]) < 2 * lim_prod.max_stanza);
    free(s);
    rec_free(r);
}

static char *nested(int depth)
{
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_puts(&b, "<message>");
    for (int i = 1; i < depth; i++)
        vn_buf_puts(&b, "<a>");
    for (int i = 1; i < depth; i++)
        vn_buf_puts(&b, "</a>");
    vn_buf_puts(&b, "</message>");
    char *s = vn_xstrndup(b.data, b.len);
    vn_buf_free(&b);
    return s;
}

static void test_limit_depth(void **state)
{
    (void)state;
    const vn_xml_limits_t *lims[] = {&lim_small, &lim_prod};
    for (int l = 0; l < 2; l++) {
        int max = lims[l]->max_depth;
        /* A stanza max_depth elements deep (the stanza element counts) is fine. */
        rec_t *r = rec_new(lims[l]);
        assert_int_equal(feed(r, HDR, 0), VN_XML_OK);
        char *s = nested(max);
        assert_int_equal(feed(r, s, 0), VN_XML_OK);
        assert_int_equal(r->nstanzas, 1);
        free(s);
        rec_free(r);
        /* One more is not. */
        s = nested(max + 1);
        stream_error(lims[l], s, 0, VN_XERR_POLICY);
        stream_error(lims[l], s, 1, VN_XERR_POLICY);
        free(s);
    }
    /* Very deep input is refused early, not after building it. */
    char *s = repeat("<message>", "<a>", 100000, "");
    stream_error(&lim_prod, s, 4096, VN_XERR_POLICY);
    free(s);
}

static void test_limit_attributes(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_small);
    assert_int_equal(feed(r, HDR, 0), VN_XML_OK);
    assert_int_equal(feed(r, "<message a='1' b='2' c='3' xml:lang='en'/>", 0), VN_XML_OK);
    /* Namespace declarations are not attributes. */
    assert_int_equal(feed(r, "<message xmlns:p='urn:p' xmlns:q='urn:q' a='1'/>", 0), VN_XML_OK);
    assert_int_equal(r->nstanzas, 2);
    rec_free(r);
    stream_error(&lim_small, "<message a='1' b='2' c='3' d='4' e='5'/>", 0, VN_XERR_POLICY);
    stream_error(&lim_small, "<message><x a='1' b='2' c='3' d='4' e='5'/></message>", 0,
                 VN_XERR_POLICY);
    /* The stream header is limited too. */
    r = rec_new(&lim_small);
    expect_error(r, "<stream:stream xmlns:stream='" NS_STREAMS "' a='1' b='2' c='3' d='4' e='5'>",
                 0, VN_XERR_POLICY);
    assert_int_equal(r->opens, 0);
    rec_free(r);
}

/* ---- restricted XML (RFC 6120 §11.1) ---- */

static void prolog_error(const char *doc, vn_xml_error_t want)
{
    static const size_t chunks[] = {0, 1, 5};
    for (size_t i = 0; i < 3; i++) {
        rec_t *r = rec_new(&lim_prod);
        expect_error(r, doc, chunks[i], want);
        assert_int_equal(r->nstanzas, 0);
        rec_free(r);
    }
}

static void test_restricted_dtd(void **state)
{
    (void)state;
    prolog_error("<?xml version='1.0'?><!DOCTYPE stream>" HDR, VN_XERR_RESTRICTED);
    prolog_error("<!DOCTYPE stream:stream SYSTEM 'http://example.org/x.dtd'>" HDR,
                 VN_XERR_RESTRICTED);
    prolog_error("<?xml version='1.0'?><!DOCTYPE s [<!ENTITY x 'y'>]><s>&x;</s>",
                 VN_XERR_RESTRICTED);
    prolog_error("<!DOCTYPE s [<!ENTITY % p 'x'> %p;]><s/>", VN_XERR_RESTRICTED);
    /* Billion laughs. */
    prolog_error("<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
                 "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
                 "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"
                 "<!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>"
                 "<!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>"
                 "<!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>"
                 "<!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>"
                 "<!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>"
                 "<!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>"
                 "]><stream:stream xmlns='jabber:client' xmlns:stream='" NS_STREAMS "'>"
                 "<message><body>&lol9;</body></message>",
                 VN_XERR_RESTRICTED);
}

static void test_restricted_comment_pi(void **state)
{
    (void)state;
    prolog_error("<!-- hi -->" HDR, VN_XERR_RESTRICTED);
    prolog_error("<?xml version='1.0'?><?xml-stylesheet href='a'?>" HDR, VN_XERR_RESTRICTED);
    stream_error(&lim_prod, "<!-- between -->", 0, VN_XERR_RESTRICTED);
    stream_error(&lim_prod, "<message><!-- inside --></message>", 0, VN_XERR_RESTRICTED);
    stream_error(&lim_prod, "<message><body>a<!---->b</body></message>", 1, VN_XERR_RESTRICTED);
    stream_error(&lim_prod, "<?pi between?>", 0, VN_XERR_RESTRICTED);
    stream_error(&lim_prod, "<message><?pi inside?></message>", 0, VN_XERR_RESTRICTED);
    /* The XML declaration itself is allowed (every client sends it). */
    rec_t *r = rec_new(&lim_prod);
    assert_int_equal(feed(r, "<?xml version='1.0' encoding='UTF-8'?>" HDR_ROOT "<presence/>", 1),
                     VN_XML_OK);
    assert_int_equal(r->nstanzas, 1);
    rec_free(r);
}

static void test_entities_and_malformed(void **state)
{
    (void)state;
    /* No DTD: only the five predefined entities and character references. */
    stream_error(&lim_prod, "<message><body>&lol;</body></message>", 0, VN_XERR_NOT_WELL_FORMED);
    stream_error(&lim_prod, "<message to='&nbsp;'/>", 0, VN_XERR_NOT_WELL_FORMED);
    stream_error(&lim_prod, "<message><body>&#0;</body></message>", 0, VN_XERR_NOT_WELL_FORMED);
    stream_error(&lim_prod, "<message></iq>", 0, VN_XERR_NOT_WELL_FORMED);
    stream_error(&lim_prod, "<message a='1' a='2'/>", 0, VN_XERR_NOT_WELL_FORMED);
    stream_error(&lim_prod, "<p:message/>", 0, VN_XERR_NOT_WELL_FORMED);
    stream_error(&lim_prod, "<message a=1/>", 0, VN_XERR_NOT_WELL_FORMED);
    stream_error(&lim_prod, "<message><body>\xc3\x28</body></message>", 0, VN_XERR_NOT_WELL_FORMED);
    stream_error(&lim_prod, "<message><body>\x01</body></message>", 0, VN_XERR_NOT_WELL_FORMED);
    prolog_error("junk" HDR, VN_XERR_NOT_WELL_FORMED);
    prolog_error("<a></b>", VN_XERR_NOT_WELL_FORMED);
    /* A second root after the stream closed. */
    stream_error(&lim_prod, "</stream:stream><stream:stream xmlns:stream='" NS_STREAMS "'>", 0,
                 VN_XERR_NOT_WELL_FORMED);
}

/* CDATA sections are not among the restricted constructs: plain text. */
static void test_cdata(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    assert_int_equal(feed(r, HDR "<message><body>a<![CDATA[<b>&amp;]]>c</body></message>", 1),
                     VN_XML_OK);
    assert_int_equal(r->nstanzas, 1);
    assert_string_equal(r->ser[0], "<message><body>a&lt;b&gt;&amp;amp;c</body></message>");
    rec_free(r);
}

static void test_text_between_stanzas(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    assert_int_equal(feed(r, HDR " \t\r\n<presence/>\n\n \r\n<presence/> ", 1), VN_XML_OK);
    assert_int_equal(r->nstanzas, 2);
    rec_free(r);
    stream_error(&lim_prod, "hello", 0, VN_XERR_BAD_FORMAT);
    stream_error(&lim_prod, "<presence/> x <presence/>", 0, VN_XERR_BAD_FORMAT);
    stream_error(&lim_prod, "\n&amp;\n", 0, VN_XERR_BAD_FORMAT);
    stream_error(&lim_prod, "\xc2\xa0", 0, VN_XERR_BAD_FORMAT); /* NBSP is not XML space */
}

/* ---- suspend, stop, reset ---- */

static void test_suspend_resume(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    assert_int_equal(feed(r, HDR, 0), VN_XML_OK);
    r->suspend_in_stanza = 1;
    const char *five = "<iq id='1'/><iq id='2'><q xmlns='urn:q'/></iq>\n<iq id='3'/>"
                       "<iq id='4'>t</iq><iq id='5'/><iq id='6'><b";
    vn_xml_status_t st = vn_xml_parser_feed(r->p, five, strlen(five));
    assert_int_equal(st, VN_XML_SUSPENDED);
    assert_true(vn_xml_parser_suspended(r->p));
    assert_int_equal(r->nstanzas, 1);
    for (int i = 2; i <= 5; i++) {
        st = vn_xml_parser_resume(r->p);
        assert_int_equal(st, VN_XML_SUSPENDED);
        assert_int_equal(r->nstanzas, i);
    }
    /* Nothing complete is left: the partial sixth stanza stays buffered. */
    st = vn_xml_parser_resume(r->p);
    assert_int_equal(st, VN_XML_OK);
    assert_false(vn_xml_parser_suspended(r->p));
    assert_int_equal(r->nstanzas, 5);
    /* Resuming when not suspended is harmless. */
    assert_int_equal(vn_xml_parser_resume(r->p), VN_XML_OK);

    st = vn_xml_parser_feed(r->p, "/></iq><iq id='7'/>", 19);
    assert_int_equal(st, VN_XML_SUSPENDED);
    assert_int_equal(r->nstanzas, 6);
    assert_int_equal(vn_xml_parser_resume(r->p), VN_XML_SUSPENDED);
    assert_int_equal(r->nstanzas, 7);
    assert_int_equal(vn_xml_parser_resume(r->p), VN_XML_OK);

    static const char *const want[] = {
        "<iq id='1'/>", "<iq id='2'><q xmlns='urn:q'/></iq>",
        "<iq id='3'/>", "<iq id='4'>t</iq>",
        "<iq id='5'/>", "<iq id='6'><b/></iq>",
        "<iq id='7'/>",
    };
    for (int i = 0; i < 7; i++)
        assert_string_equal(r->ser[i], want[i]);
    rec_free(r);
}

/* Suspending after every stanza while feeding byte by byte or in odd
 * chunks delivers exactly the same stanzas. */
static void test_suspend_any_split(void **state)
{
    (void)state;
    static const size_t chunks[] = {0, 1, 3, 50};
    for (size_t i = 0; i < 4; i++) {
        rec_t *r = rec_new(&lim_prod);
        r->suspend_in_stanza = 1;
        r->suspend_in_open = 1;
        assert_int_equal(feed(r, session_text, chunks[i]), VN_XML_OK);
        check_session(r);
        rec_free(r);
    }
}

/* Suspension while the parser had to split a large read (near-limit stanza
 * followed by others) keeps the rest of the read too. */
static void test_suspend_with_large_read(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_small);
    assert_int_equal(feed(r, HDR, 0), VN_XML_OK);
    r->suspend_in_stanza = 1;
    char *s = repeat("", "<message><body>0123456789</body></message>", 500, "");
    vn_xml_status_t st = feed(r, s, 0);
    if (st != VN_XML_OK) fail_msg("status %d: %s", st, vn_xml_parser_error_text(r->p));
    assert_int_equal(r->nstanzas, 500);
    free(s);
    rec_free(r);
}

static void test_stop(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    r->stop_at = 2;
    vn_xml_status_t st = feed(r, HDR "<iq id='1'/><iq id='2'/><iq id='3'/>", 0);
    assert_int_equal(st, VN_XML_STOPPED);
    assert_int_equal(r->nstanzas, 2);
    assert_int_equal(vn_xml_parser_error(r->p), VN_XERR_NONE);
    assert_false(vn_xml_parser_suspended(r->p));
    /* Dropped for good. */
    assert_int_equal(vn_xml_parser_feed(r->p, "<iq id='4'/>", 12), VN_XML_STOPPED);
    assert_int_equal(r->nstanzas, 2);

    /* A new stream on the same parser (as after STARTTLS). */
    vn_xml_parser_reset(r->p);
    r->stop_at = 0;
    st = feed(r, HDR "<iq id='5'/>", 1);
    assert_int_equal(st, VN_XML_OK);
    assert_int_equal(r->opens, 2);
    assert_int_equal(r->nstanzas, 3);
    assert_string_equal(r->ser[2], "<iq id='5'/>");
    rec_free(r);

    /* Stop from the stream header callback and from outside a callback. */
    r = rec_new(&lim_prod);
    vn_xml_parser_stop(r->p);
    assert_int_equal(vn_xml_parser_feed(r->p, HDR, strlen(HDR)), VN_XML_STOPPED);
    assert_int_equal(r->opens, 0);
    rec_free(r);
}

static void test_reset(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    /* Mid-stanza: the partial stanza and its arena are dropped. */
    assert_int_equal(feed(r, HDR "<message><body>partial", 0), VN_XML_OK);
    vn_xml_parser_reset(r->p);
    assert_int_equal(feed(r,
                          "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                          "xmlns:stream='" NS_STREAMS "'><iq/>",
                          0),
                     VN_XML_OK);
    assert_int_equal(r->opens, 2);
    assert_string_equal(r->open_default_ns, "jabber:server");
    assert_int_equal(r->nstanzas, 1);
    assert_string_equal(r->tree[0]->ns, "jabber:server");

    /* After an error: the error is cleared. */
    expect_error(r, "<!-- x -->", 0, VN_XERR_RESTRICTED);
    vn_xml_parser_reset(r->p);
    assert_int_equal(vn_xml_parser_error(r->p), VN_XERR_NONE);
    assert_int_equal(feed(r, HDR "<presence/>", 0), VN_XML_OK);
    assert_int_equal(r->nstanzas, 2);

    /* While suspended: the rest is discarded and the parser is usable. */
    r->suspend_in_stanza = 1;
    assert_int_equal(vn_xml_parser_feed(r->p, "<a/><b/>", 8), VN_XML_SUSPENDED);
    assert_int_equal(r->nstanzas, 3);
    vn_xml_parser_reset(r->p);
    assert_false(vn_xml_parser_suspended(r->p));
    r->suspend_in_stanza = 0;
    assert_int_equal(feed(r, HDR "<c/>", 0), VN_XML_OK);
    assert_int_equal(r->nstanzas, 4);
    assert_string_equal(r->ser[3], "<c/>");

    /* The size accounting restarts with the stream. */
    vn_xml_parser_reset(r->p);
    rec_clear(r);
    char *s = repeat(
        HDR, "<message><body>0123456789012345678901234567890123456789</body></message>", 3000, "");
    assert_int_equal(feed(r, s, 4000), VN_XML_OK);
    vn_xml_parser_reset(r->p);
    assert_int_equal(feed(r, s, 4000), VN_XML_OK);
    assert_int_equal(r->nstanzas, 6000);
    free(s);
    rec_free(r);
}

/* A c2s session parses with a small limit before authentication and the
 * full one after the restart that follows SASL success
 * (vn_xml_parser_set_limits, src/xmpp/session.c). */
static void test_limit_switch_at_restart(void **state)
{
    (void)state;
    static const vn_xml_limits_t preauth = {1024, 8, 4};
    static const vn_xml_limits_t full = {65536, 32, 32};
    char *big = repeat("<message><body>", "0123456789", 2000, "</body></message>"); /* 20 KB */
    char *unfinished = repeat("<message><body>", "0123456789", 2000, "");

    /* Before: a 20 KB stanza, finished or not, is a policy violation, and
     * the parser stops taking bytes near the limit (nothing more is held). */
    rec_t *r = rec_new(&preauth);
    assert_int_equal(feed(r, HDR, 0), VN_XML_OK);
    expect_error(r, unfinished, 100, VN_XERR_POLICY);
    rec_free(r);

    /* A small exchange under the small limit, then the switch and a restart:
     * the same 20 KB stanza now goes through, in any split. */
    static const size_t chunks[] = {1, 333, 0};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        r = rec_new(&preauth);
        assert_int_equal(feed(r, HDR "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", chunks[i]),
                         VN_XML_OK);
        assert_int_equal(r->nstanzas, 1);
        vn_xml_parser_set_limits(r->p, &full);
        vn_xml_parser_reset(r->p);
        assert_int_equal(feed(r, HDR, chunks[i]), VN_XML_OK);
        if (feed(r, big, chunks[i]) != VN_XML_OK)
            fail_msg("chunk %zu: %s", chunks[i], vn_xml_parser_error_text(r->p));
        assert_int_equal(r->nstanzas, 2);
        assert_int_equal(r->opens, 2);
        /* A reset keeps the limits that were set. */
        vn_xml_parser_reset(r->p);
        assert_int_equal(feed(r, HDR, 0), VN_XML_OK);
        assert_int_equal(feed(r, big, chunks[i]), VN_XML_OK);
        assert_int_equal(r->nstanzas, 3);
        rec_free(r);
    }

    /* The full limit still holds after the switch. */
    r = rec_new(&preauth);
    vn_xml_parser_set_limits(r->p, &full);
    assert_int_equal(feed(r, HDR, 0), VN_XML_OK);
    char *huge = repeat("<message><body>", "0123456789", 8000, "</body></message>");
    expect_error(r, huge, 4096, VN_XERR_POLICY);
    rec_free(r);
    free(huge);
    free(big);
    free(unfinished);
}

static void test_stream_close(void **state)
{
    (void)state;
    rec_t *r = rec_new(&lim_prod);
    assert_int_equal(feed(r, HDR "<presence/></stream:stream>\n", 0), VN_XML_OK);
    assert_int_equal(r->closes, 1);
    assert_int_equal(r->nstanzas, 1);
    rec_free(r);
}

/* vn_xml_parse_element: exactly one element, default namespace, limits. */
static void test_parse_element(void **state)
{
    (void)state;
    vn_arena_t *a = vn_arena_new(1024);
    const char one[] = "<message type='chat'><body>\xd0\x9f\xd1\x80\xd0\xb8</body></message>";
    vn_xnode_t *n = vn_xml_parse_element(a, one, sizeof(one) - 1, "jabber:client", 8);
    assert_non_null(n);
    assert_string_equal(n->name, "message");
    assert_string_equal(n->ns, "jabber:client");
    assert_string_equal(vn_xnode_attr(n, "type"), "chat");
    assert_non_null(vn_xnode_child(n, "jabber:client", "body"));

    const char own[] = "<x xmlns='urn:a'/>";
    n = vn_xml_parse_element(a, own, sizeof(own) - 1, NULL, 8);
    assert_non_null(n);
    assert_string_equal(n->ns, "urn:a");

    static const char *const bad[] = {
        "",                          /* nothing */
        "<a/><b/>",                  /* two elements */
        "<a>",                       /* unclosed */
        "<a></b>",                   /* mismatched */
        "text",                      /* no element */
        "<a/></r><r>",               /* escaping the wrapper */
        "<!DOCTYPE a><a/>",          /* restricted XML */
        "<a><b><c><d/></c></b></a>", /* deeper than allowed below */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (vn_xml_parse_element(a, bad[i], strlen(bad[i]), "jabber:client", 3))
            fail_msg("accepted %s", bad[i]);
    vn_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_header),
        cmocka_unit_test(test_stream_header_no_default_ns),
        cmocka_unit_test(test_stream_header_split),
        cmocka_unit_test(test_stanzas_any_split),
        cmocka_unit_test(test_nested_and_text_merge),
        cmocka_unit_test(test_text_merge_memory),
        cmocka_unit_test(test_serialize_roundtrip),
        cmocka_unit_test(test_serialize_whitespace_refs),
        cmocka_unit_test(test_serialize_built_tree),
        cmocka_unit_test(test_limit_huge_text),
        cmocka_unit_test(test_limit_huge_unterminated_attribute),
        cmocka_unit_test(test_limit_huge_attribute),
        cmocka_unit_test(test_limit_many_small_pieces),
        cmocka_unit_test(test_limit_is_per_stanza),
        cmocka_unit_test(test_limit_near_limit_pipelined),
        cmocka_unit_test(test_limit_namespace_amplification),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_attributes),
        cmocka_unit_test(test_restricted_dtd),
        cmocka_unit_test(test_restricted_comment_pi),
        cmocka_unit_test(test_entities_and_malformed),
        cmocka_unit_test(test_cdata),
        cmocka_unit_test(test_text_between_stanzas),
        cmocka_unit_test(test_suspend_resume),
        cmocka_unit_test(test_suspend_any_split),
        cmocka_unit_test(test_suspend_with_large_read),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_limit_switch_at_restart),
        cmocka_unit_test(test_stream_close),
        cmocka_unit_test(test_parse_element),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for core pieces that need no network: the hash map, the arena,
 * the byte buffer, stanza replies (src/xmpp/stanza.c), and the delivery
 * rules of RFC 6121 §8.5 in src/xmpp/router.c.
 *
 * The router tests run a real server object and event loop with fake
 * client sessions on socketpairs, and check what each client's end of the
 * socket received. Modules are not initialised: no hooks run, so what is
 * tested is the router's own default handling (e.g. a message nobody can
 * take is bounced rather than stored offline). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/loop.h"
#include "core/map.h"
#include "core/mem.h"
#include "xml/parser.h"
#include "xmpp/jid.h"
#include "xmpp/module.h"
#include "xmpp/router.h"
#include "xmpp/session.h"
#include "xmpp/stanza.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define STREAM_HDR "<stream:stream xmlns='jabber:client' xmlns:stream='" NS_STREAMS "'>"

/* ---- map ---- */

static void test_map_basic(void **state)
{
    (void)state;
    vn_map_t *m = vn_map_new();
    int a = 1, b = 2, c = 3;
    assert_int_equal(vn_map_size(m), 0);
    assert_null(vn_map_get(m, "x"));
    assert_null(vn_map_del(m, "x"));
    vn_map_put(m, "x", &a);
    vn_map_put(m, "y", &b);
    assert_int_equal(vn_map_size(m), 2);
    assert_ptr_equal(vn_map_get(m, "x"), &a);
    assert_ptr_equal(vn_map_get(m, "y"), &b);
    /* Replace keeps the size. */
    vn_map_put(m, "x", &c);
    assert_int_equal(vn_map_size(m), 2);
    assert_ptr_equal(vn_map_get(m, "x"), &c);
    /* Keys are copied. */
    char key[8] = "zz";
    vn_map_put(m, key, &a);
    key[0] = 'q';
    assert_ptr_equal(vn_map_get(m, "zz"), &a);
    assert_null(vn_map_get(m, "qz"));
    /* Empty key and near-miss keys. */
    vn_map_put(m, "", &b);
    assert_ptr_equal(vn_map_get(m, ""), &b);
    assert_null(vn_map_get(m, "x "));
    assert_ptr_equal(vn_map_del(m, "x"), &c);
    assert_null(vn_map_get(m, "x"));
    assert_null(vn_map_del(m, "x"));
    assert_int_equal(vn_map_size(m), 3);
    /* Re-insert over the tombstone. */
    vn_map_put(m, "x", &a);
    assert_ptr_equal(vn_map_get(m, "x"), &a);
    assert_int_equal(vn_map_size(m), 4);
    vn_map_free(m);
    vn_map_free(NULL);
}

static void count_cb(const char *key, void *value, void *ud)
{
    size_t *acc = ud;
    /* The value stored for key "k<i>" is i + 1. */
    assert_int_equal(strtoul(key + 1, NULL, 10) + 1, (uintptr_t)value);
    acc[0]++;
    acc[1] += (uintptr_t)value;
}

static void test_map_growth_100k(void **state)
{
    (void)state;
    enum { N = 100000 };
    vn_map_t *m = vn_map_new();
    char k[32];
    for (uintptr_t i = 0; i < N; i++) {
        snprintf(k, sizeof(k), "k%lu", (unsigned long)i);
        vn_map_put(m, k, (void *)(i + 1));
    }
    assert_int_equal(vn_map_size(m), N);
    for (uintptr_t i = 0; i < N; i++) {
        snprintf(k, sizeof(k), "k%lu", (unsigned long)i);
        assert_ptr_equal(vn_map_get(m, k), (void *)(i + 1));
    }
    size_t acc[2] = {0, 0};
    vn_map_each(m, count_cb, acc);
    assert_int_equal(acc[0], N);
    assert_int_equal(acc[1], (size_t)N * (N + 1) / 2);

    /* Delete the even ones: the odd ones stay reachable across tombstones. */
    for (uintptr_t i = 0; i < N; i += 2) {
        snprintf(k, sizeof(k), "k%lu", (unsigned long)i);
        assert_ptr_equal(vn_map_del(m, k), (void *)(i + 1));
    }
    assert_int_equal(vn_map_size(m), N / 2);
    for (uintptr_t i = 0; i < N; i++) {
        snprintf(k, sizeof(k), "k%lu", (unsigned long)i);
        if (i % 2)
            assert_ptr_equal(vn_map_get(m, k), (void *)(i + 1));
        else
            assert_null(vn_map_get(m, k));
    }
    acc[0] = acc[1] = 0;
    vn_map_each(m, count_cb, acc);
    assert_int_equal(acc[0], N / 2);
    /* And back. */
    for (uintptr_t i = 0; i < N; i += 2) {
        snprintf(k, sizeof(k), "k%lu", (unsigned long)i);
        vn_map_put(m, k, (void *)(i + 1));
    }
    assert_int_equal(vn_map_size(m), N);
    for (uintptr_t i = 0; i < N; i++) {
        snprintf(k, sizeof(k), "k%lu", (unsigned long)i);
        assert_ptr_equal(vn_map_get(m, k), (void *)(i + 1));
    }
    vn_map_free(m);
}

/* Sessions come and go for ever: a map with few live keys and endless
 * insert/delete churn must keep working (tombstones are reclaimed, lookups
 * of absent keys terminate). */
static void test_map_tombstone_churn(void **state)
{
    (void)state;
    vn_map_t *m = vn_map_new();
    char k[32];
    for (uintptr_t i = 0; i < 300000; i++) {
        snprintf(k, sizeof(k), "s%lu", (unsigned long)i);
        vn_map_put(m, k, (void *)(i + 1));
        if (i >= 5) {
            snprintf(k, sizeof(k), "s%lu", (unsigned long)(i - 5));
            assert_ptr_equal(vn_map_del(m, k), (void *)(i - 4));
        }
        assert_null(vn_map_get(m, "absent"));
    }
    assert_int_equal(vn_map_size(m), 5);
    for (uintptr_t i = 300000 - 5; i < 300000; i++) {
        snprintf(k, sizeof(k), "s%lu", (unsigned long)i);
        assert_ptr_equal(vn_map_get(m, k), (void *)(i + 1));
    }
    vn_map_free(m);
}

/* ---- arena ---- */

static void test_arena(void **state)
{
    (void)state;
    vn_arena_t *a = vn_arena_new(256);
    size_t empty = vn_arena_footprint(a);
    assert_true(empty >= 256);
    /* Every allocation is aligned for any type and does not overlap. */
    char *prev = NULL;
    for (int i = 0; i < 1000; i++) {
        size_t n = (size_t)(i % 37) + 1;
        char *p = vn_arena_alloc(a, n);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
        memset(p, i & 0xff, n);
        if (prev) assert_true(prev[0] == (char)((i - 1) & 0xff));
        prev = p;
    }
    assert_true(vn_arena_footprint(a) > empty);
    /* Bigger than any block so far, and bigger than the 1 MiB block cap. */
    char *big = vn_arena_alloc(a, 3u << 20);
    memset(big, 1, 3u << 20);
    char *z = vn_arena_zalloc(a, 5000);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(z[i], 0);
    assert_string_equal(vn_arena_strdup(a, "héllo"), "héllo");
    assert_string_equal(vn_arena_strndup(a, "abcdef", 3), "abc");
    char *e = vn_arena_strndup(a, "", 0);
    assert_string_equal(e, "");
    char *pf = vn_arena_printf(a, "%s-%d-%05.1f", "x", 42, 3.14159);
    assert_string_equal(pf, "x-42-003.1");
    /* A printf longer than a whole block. */
    char *long_pf = vn_arena_printf(a, "%4000d", 7);
    assert_int_equal(strlen(long_pf), 4000);
    /* Reset keeps only the first block; the arena is usable again. */
    vn_arena_reset(a);
    assert_int_equal(vn_arena_footprint(a), empty);
    char *again = vn_arena_strdup(a, "again");
    assert_string_equal(again, "again");
    vn_arena_reset(a);
    vn_arena_reset(a);
    assert_int_equal(vn_arena_footprint(a), empty);
    vn_arena_free(a);
    vn_arena_free(NULL);

    /* first_block 0 picks a default. */
    a = vn_arena_new(0);
    assert_non_null(vn_arena_alloc(a, 1));
    vn_arena_free(a);
}

/* ---- buf ---- */

static void test_buf(void **state)
{
    (void)state;
    vn_buf_t b = VN_BUF_INIT;
    assert_string_equal(vn_buf_cstr(&b), "");
    vn_buf_append_xml_escaped(&b, "a<b>&'c\"d", 9);
    assert_string_equal(vn_buf_cstr(&b), "a&lt;b&gt;&amp;&apos;c&quot;d");
    vn_buf_reset(&b);
    /* Length-delimited: embedded text after n is not read; NUL is copied. */
    vn_buf_append_xml_escaped(&b, "&&xyz", 2);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "&amp;&amp;", 10);
    vn_buf_reset(&b);
    vn_buf_append_xml_escaped(&b, "plain text, no markup", 21);
    assert_string_equal(vn_buf_cstr(&b), "plain text, no markup");
    vn_buf_reset(&b);
    vn_buf_append_xml_escaped(&b, "", 0);
    assert_int_equal(b.len, 0);
    /* UTF-8 passes through untouched. */
    vn_buf_append_xml_escaped(&b, "Привет<", strlen("Привет<"));
    assert_string_equal(vn_buf_cstr(&b), "Привет&lt;");

    /* Growth across many appends and a long printf. */
    vn_buf_reset(&b);
    for (int i = 0; i < 10000; i++)
        vn_buf_append(&b, "0123456789", 10);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap > b.len);
    vn_buf_reset(&b);
    vn_buf_printf(&b, "%s=%d;", "k", 1);
    vn_buf_printf(&b, "%1000d", 2);
    assert_int_equal(b.len, 4 + 1000);
    assert_memory_equal(b.data, "k=1;", 4);
    vn_buf_consume(&b, 4);
    assert_int_equal(b.len, 1000);
    assert_int_equal(b.data[999], '2');
    vn_buf_consume(&b, 5000);
    assert_int_equal(b.len, 0);
    vn_buf_puts(&b, "after");
    assert_string_equal(vn_buf_cstr(&b), "after");
    vn_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    vn_buf_puts(&b, "reused");
    assert_string_equal(vn_buf_cstr(&b), "reused");
    vn_buf_free(&b);
}

/* ---- parsing helpers shared by the stanza and router tests ---- */

typedef struct parsed {
    vn_arena_t *arena; /* copies of the stanzas */
    vn_xnode_t *st[64];
    int n;
} parsed_t;

static void ignore_open(void *ud, const char *ns, const char *name, const char *dns,
                        const vn_xattr_t *attrs)
{
    (void)ud, (void)ns, (void)name, (void)dns, (void)attrs;
}

static void collect_stanza(void *ud, vn_xnode_t *node, vn_arena_t *arena)
{
    (void)arena;
    parsed_t *p = ud;
    assert_true(p->n < 64);
    p->st[p->n++] = vn_xnode_copy(p->arena, node);
}

static void ignore_close(void *ud)
{
    (void)ud;
}

/* Parses stanzas written as on a c2s stream into p (appending). */
static void parse_into(parsed_t *p, const char *xml, size_t len)
{
    static const vn_xml_limits_t lim = {65536, 32, 32};
    static const vn_xml_callbacks_t cb = {ignore_open, collect_stanza, ignore_close};
    if (!p->arena) p->arena = vn_arena_new(4096);
    vn_xml_parser_t *xp = vn_xml_parser_new(&lim, &cb, p);
    assert_int_equal(vn_xml_parser_feed(xp, STREAM_HDR, strlen(STREAM_HDR)), VN_XML_OK);
    vn_xml_status_t st = vn_xml_parser_feed(xp, xml, len);
    if (st != VN_XML_OK)
        fail_msg("cannot parse \"%.*s\": %s", (int)len, xml, vn_xml_parser_error_text(xp));
    vn_xml_parser_free(xp);
}

static void parsed_free(parsed_t *p)
{
    vn_arena_free(p->arena);
    memset(p, 0, sizeof(*p));
}

static char *serialize(const vn_xnode_t *n)
{
    vn_buf_t b = VN_BUF_INIT;
    vn_xnode_serialize(n, VN_NS_CLIENT, &b);
    char *s = vn_xstrndup(b.data, b.len);
    vn_buf_free(&b);
    return s;
}

static void assert_serializes(const vn_xnode_t *n, const char *want)
{
    char *got = serialize(n);
    if (strcmp(got, want) != 0) fail_msg("got  %s\nwant %s", got, want);
    free(got);
}

/* ---- stanza replies ---- */

static void test_stanza_error_reply(void **state)
{
    (void)state;
    parsed_t p = {0};
    const char *in = "<message from='bob@example.org/phone' to='alice@example.org' id='m1' "
                     "type='chat' xml:lang='en'><body>hi &amp; bye</body><thread>t1</thread>"
                     "<active xmlns='http://jabber.org/protocol/chatstates'/></message>";
    parse_into(&p, in, strlen(in));
    vn_stanza_t st;
    assert_int_equal(vn_stanza_init(&st, p.st[0], p.arena), 0);
    assert_int_equal(st.kind, VN_MESSAGE);
    assert_string_equal(st.type, "chat");
    assert_string_equal(st.from.resource, "phone");
    assert_null(st.to.resource);

    vn_stanza_t *r = vn_stanza_error_reply(&st, "cancel", "service-unavailable", "no <one>");
    assert_non_null(r);
    assert_int_equal(r->kind, VN_MESSAGE);
    assert_string_equal(r->type, "error");
    /* Addresses swapped, in the fields and in the attributes. */
    assert_string_equal(r->to.local, "bob");
    assert_string_equal(r->to.resource, "phone");
    assert_string_equal(r->from.local, "alice");
    assert_null(r->from.resource);
    assert_serializes(
        r->node, "<message id='m1' type='error' from='alice@example.org' to='bob@example.org/phone'>"
                 "<body>hi &amp; bye</body><thread>t1</thread>"
                 "<active xmlns='http://jabber.org/protocol/chatstates'/>"
                 "<error type='cancel'><service-unavailable xmlns='" VN_NS_STANZA_ERR "'/>"
                 "<text xmlns='" VN_NS_STANZA_ERR "'>no &lt;one&gt;</text></error></message>");
    /* The original is left alone. */
    assert_string_equal(vn_xnode_attr(st.node, "type"), "chat");
    assert_string_equal(vn_xnode_attr(st.node, "from"), "bob@example.org/phone");

    /* Structure, independently of the serialiser. */
    vn_xnode_t *err = vn_xnode_child(r->node, VN_NS_CLIENT, "error");
    assert_non_null(err);
    assert_null(err->next);
    assert_string_equal(vn_xnode_attr(err, "type"), "cancel");
    vn_xnode_t *cond = vn_xnode_first_element(err);
    assert_string_equal(cond->name, "service-unavailable");
    assert_string_equal(cond->ns, VN_NS_STANZA_ERR);

    /* Never answer an error with an error (RFC 6120 §8.3.1). */
    assert_null(vn_stanza_error_reply(r, "cancel", "service-unavailable", NULL));

    /* IQ: error without text; the request's payload is kept. */
    const char *iq = "<iq from='bob@example.org/phone' to='example.org' id='q1' type='get'>"
                     "<query xmlns='jabber:iq:version'/></iq>";
    parse_into(&p, iq, strlen(iq));
    assert_int_equal(vn_stanza_init(&st, p.st[1], p.arena), 0);
    assert_int_equal(st.kind, VN_IQ);
    r = vn_stanza_error_reply(&st, "modify", "bad-request", NULL);
    assert_serializes(r->node,
                      "<iq id='q1' type='error' from='example.org' to='bob@example.org/phone'>"
                      "<query xmlns='jabber:iq:version'/><error type='modify'>"
                      "<bad-request xmlns='" VN_NS_STANZA_ERR "'/></error></iq>");

    /* No 'to': the reply has no 'from' (the caller supplies one). */
    const char *pr = "<presence from='bob@example.org/phone' type='subscribe'/>";
    parse_into(&p, pr, strlen(pr));
    assert_int_equal(vn_stanza_init(&st, p.st[2], p.arena), 0);
    assert_null(st.to.domain);
    r = vn_stanza_error_reply(&st, "auth", "forbidden", NULL);
    assert_null(r->from.domain);
    assert_null(vn_xnode_attr(r->node, "from"));
    assert_string_equal(vn_xnode_attr(r->node, "to"), "bob@example.org/phone");

    /* An incoming error is never answered, whatever its kind. */
    const char *e = "<iq from='a@example.org/x' to='b@example.org/y' id='e' type='error'/>";
    parse_into(&p, e, strlen(e));
    assert_int_equal(vn_stanza_init(&st, p.st[3], p.arena), 0);
    assert_null(vn_stanza_error_reply(&st, "cancel", "item-not-found", NULL));

    /* A malformed address is refused by vn_stanza_init. */
    const char *bad = "<message to='a@b@example.org'/>";
    parse_into(&p, bad, strlen(bad));
    assert_int_equal(vn_stanza_init(&st, p.st[4], p.arena), -1);
    parsed_free(&p);
}

static void test_stanza_iq_result(void **state)
{
    (void)state;
    parsed_t p = {0};
    const char *in = "<iq from='bob@example.org/phone' to='alice@example.org/pc' id='ping-1' "
                     "type='get'><ping xmlns='urn:xmpp:ping'/></iq>";
    parse_into(&p, in, strlen(in));
    vn_stanza_t st;
    assert_int_equal(vn_stanza_init(&st, p.st[0], p.arena), 0);
    vn_stanza_t *r = vn_stanza_iq_result(&st);
    assert_int_equal(r->kind, VN_IQ);
    assert_string_equal(r->type, "result");
    assert_ptr_equal(r->arena, st.arena);
    assert_serializes(r->node, "<iq id='ping-1' type='result' from='alice@example.org/pc' "
                               "to='bob@example.org/phone'/>");

    /* vn_stanza_new owns its arena. */
    vn_stanza_t *n = vn_stanza_new("message");
    assert_int_equal(n->kind, VN_MESSAGE);
    assert_string_equal(n->type, "");
    vn_jid_t to;
    assert_int_equal(vn_jid_parse("Alice@Example.org/PC", 20, &to, n->arena), 0);
    vn_stanza_set_to(n, &to);
    assert_serializes(n->node, "<message to='alice@example.org/PC'/>");
    vn_stanza_free(n);
    vn_stanza_free(NULL);
    parsed_free(&p);
}

/* RFC 6120 §4.7.4: the stream's xml:lang becomes a stanza's when it has
 * none; what does not look like a language tag is not kept. */
static void test_stream_lang(void **state)
{
    (void)state;
    vn_xattr_t ver = {NULL, "version", "1.0", NULL};
    vn_xattr_t lang = {VN_NS_XML, "lang", "ru-RU", &ver};
    char *l = vn_stream_lang(&lang);
    assert_non_null(l);
    assert_string_equal(l, "ru-RU");
    assert_null(vn_stream_lang(&ver));
    vn_xattr_t bad = {VN_NS_XML, "lang", "en' evil='1", NULL};
    assert_null(vn_stream_lang(&bad));
    vn_xattr_t empty = {VN_NS_XML, "lang", "", NULL};
    assert_null(vn_stream_lang(&empty));
    vn_xattr_t nons = {NULL, "lang", "de", NULL}; /* not the XML namespace */
    assert_null(vn_stream_lang(&nons));
    parsed_t p = {0};
    const char *in = "<message to='a@example.org' id='1'><body>x</body></message>"
                     "<message to='a@example.org' id='2' xml:lang='de'><body>y</body></message>";
    parse_into(&p, in, strlen(in));
    vn_stanza_default_lang(p.st[0], p.arena, l);
    vn_stanza_default_lang(p.st[1], p.arena, l);
    vn_stanza_default_lang(p.st[1], p.arena, NULL);
    free(l);
    assert_serializes(p.st[0], "<message xml:lang='ru-RU' to='a@example.org' id='1'>"
                               "<body>x</body></message>");
    assert_serializes(p.st[1], "<message to='a@example.org' id='2' xml:lang='de'>"
                               "<body>y</body></message>");
    parsed_free(&p);
}

/* ---- router ---- */

#define DOMAIN "example.org"

typedef struct peer {
    vn_session_t *s; /* freed by run() */
    char full[256];
    int fd; /* our end of the socketpair */
    vn_buf_t got;
    parsed_t in; /* what got parses to */
} peer_t;

#define MAX_PEERS 16

static struct {
    vn_server_t *srv;
    peer_t peers[MAX_PEERS];
    int npeers;
    vn_timer_t timer;
    int phase;
    int ticks;
} T;

static int router_setup(void **state)
{
    (void)state;
    memset(&T, 0, sizeof(T));
    vn_server_t *srv = vn_xcalloc(1, sizeof(*srv));
    srv->loop = vn_loop_new();
    assert_non_null(srv->loop);
    srv->cfg.max_stanza_size = 65536;
    srv->cfg.max_depth = 32;
    srv->cfg.max_attributes = 32;
    srv->cfg.auth_timeout = 60;
    srv->domains[0] = vn_xstrdup(DOMAIN);
    srv->domains[1] = vn_xstrdup("muc.example.org");
    srv->ndomains = 2;
    assert_int_equal(vn_router_init(srv), 0);
    T.srv = srv;
    return 0;
}

static int router_teardown(void **state)
{
    (void)state;
    vn_server_t *srv = T.srv;
    for (int i = 0; i < T.npeers; i++) {
        vn_buf_free(&T.peers[i].got);
        parsed_free(&T.peers[i].in);
        if (T.peers[i].fd >= 0) close(T.peers[i].fd);
    }
    /* Every session was closed and freed by run(). */
    assert_int_equal(srv->nsessions, 0);
    assert_int_equal(vn_map_size(srv->users), 0);
    vn_router_fini(srv);
    vn_loop_free(srv->loop);
    for (int i = 0; i < srv->ndomains; i++)
        free(srv->domains[i]);
    free(srv);
    return 0;
}

/* A bound client session: READY, with the given full JID, availability and
 * priority, and in the router. */
static peer_t *client(const char *full, int available, int priority)
{
    assert_true(T.npeers < MAX_PEERS);
    peer_t *p = &T.peers[T.npeers++];
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    p->fd = sv[1];
    vn_session_t *s = vn_session_new(T.srv, sv[0], 0, "test");
    assert_int_equal(vn_jid_parse(full, strlen(full), &s->jid, NULL), 0);
    assert_non_null(s->jid.resource);
    s->bare = vn_jid_bare_str(&s->jid, NULL);
    s->full = vn_jid_full_str(&s->jid, NULL);
    snprintf(p->full, sizeof(p->full), "%s", s->full);
    s->domain_idx = vn_server_domain_index(T.srv, s->jid.domain);
    assert_true(s->domain_idx >= 0);
    s->state = VN_SS_READY;
    s->stream_open_sent = 1;
    s->available = available ? 1 : 0;
    s->priority = priority;
    vn_router_add(T.srv, s);
    p->s = s;
    return p;
}

/* Routes a stanza as if `from` had sent it: parsed from XML, 'from' stamped
 * with the session's full JID when the XML has none. */
static void route_from(peer_t *from, const char *xml)
{
    parsed_t p = {0};
    parse_into(&p, xml, strlen(xml));
    assert_int_equal(p.n, 1);
    vn_stanza_t st;
    assert_int_equal(vn_stanza_init(&st, p.st[0], p.arena), 0);
    if (from) {
        st.origin = from->s;
        if (!st.from.domain) vn_stanza_set_from(&st, &from->s->jid);
    }
    assert_non_null(st.from.domain);
    vn_route(T.srv, &st);
    parsed_free(&p);
}

static void drain(peer_t *p)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(p->fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        vn_buf_append(&p->got, buf, (size_t)n);
    }
}

/* Phase 0 (10 ms after start): output has been flushed; read it all, then
 * hang up every client. Phase 1: wait until every session is freed. */
static void on_tick(vn_timer_t *t)
{
    T.ticks++;
    if (T.phase == 0) {
        for (int i = 0; i < T.npeers; i++) {
            drain(&T.peers[i]);
            close(T.peers[i].fd);
            T.peers[i].fd = -1;
        }
        T.phase = 1;
    }
    if (T.srv->nsessions == 0 || T.ticks > 5000) {
        vn_loop_stop(T.srv->loop);
        return;
    }
    vn_timer_start(T.srv->loop, t, 1, on_tick);
}

/* Runs the loop once per test (the loop stops for good): collects what
 * each client received and tears the sessions down. */
static void run(void)
{
    vn_timer_start(T.srv->loop, &T.timer, 10, on_tick);
    vn_loop_run(T.srv->loop);
    assert_int_equal(T.srv->nsessions, 0);
    for (int i = 0; i < T.npeers; i++)
        if (T.peers[i].got.len) parse_into(&T.peers[i].in, T.peers[i].got.data, T.peers[i].got.len);
}

/* Number of stanzas p received with this id. */
static int got(const peer_t *p, const char *id)
{
    int n = 0;
    for (int i = 0; i < p->in.n; i++) {
        const char *v = vn_xnode_attr(p->in.st[i], "id");
        if (v && strcmp(v, id) == 0) n++;
    }
    return n;
}

static const vn_xnode_t *find(const peer_t *p, const char *id)
{
    for (int i = 0; i < p->in.n; i++) {
        const char *v = vn_xnode_attr(p->in.st[i], "id");
        if (v && strcmp(v, id) == 0) return p->in.st[i];
    }
    return NULL;
}

/* p received exactly one stanza with this id, an error of the given
 * condition, from `from`; the original payload came back with it. */
static void got_error(const peer_t *p, const char *id, const char *from, const char *condition)
{
    assert_int_equal(got(p, id), 1);
    const vn_xnode_t *n = find(p, id);
    assert_string_equal(vn_xnode_attr(n, "type"), "error");
    assert_string_equal(vn_xnode_attr(n, "from"), from);
    assert_string_equal(vn_xnode_attr(n, "to"), p->full);
    const vn_xnode_t *err = vn_xnode_child(n, VN_NS_CLIENT, "error");
    assert_non_null(err);
    assert_non_null(vn_xnode_attr(err, "type"));
    const vn_xnode_t *cond = vn_xnode_first_element(err);
    assert_non_null(cond);
    assert_string_equal(cond->ns, VN_NS_STANZA_ERR);
    assert_string_equal(cond->name, condition);
}

static int total(const peer_t *p)
{
    return p->in.n;
}

/* RFC 6121 §8.5.2.1.1: chat/normal to a bare JID go to the available
 * resources with the highest non-negative priority (all of them on a tie). */
static void test_route_bare_highest_priority(void **state)
{
    (void)state;
    peer_t *a1 = client("alice@example.org/one", 1, 5);
    peer_t *a2 = client("alice@example.org/two", 1, 5);
    peer_t *a3 = client("alice@example.org/three", 1, 1);
    peer_t *a4 = client("alice@example.org/four", 0, 50); /* no initial presence */
    peer_t *a5 = client("alice@example.org/five", 1, -1);
    peer_t *b = client("bob@example.org/b", 1, 0);
    route_from(b, "<message to='alice@example.org' type='chat' id='c1'><body>hi</body></message>");
    route_from(b, "<message to='Alice@EXAMPLE.org' id='n1'><body>normal</body></message>");
    run();
    for (int i = 0; i < 2; i++) {
        peer_t *p = i ? a2 : a1;
        assert_int_equal(got(p, "c1"), 1);
        assert_int_equal(got(p, "n1"), 1);
        assert_int_equal(total(p), 2);
    }
    assert_int_equal(total(a3), 0);
    assert_int_equal(total(a4), 0);
    assert_int_equal(total(a5), 0);
    assert_int_equal(total(b), 0);
    /* Delivered as is, 'from' stamped with the sender's full JID. */
    const vn_xnode_t *m = find(a1, "c1");
    assert_string_equal(vn_xnode_attr(m, "from"), "bob@example.org/b");
    assert_string_equal(vn_xnode_attr(m, "to"), "alice@example.org");
    assert_serializes(vn_xnode_first_element(m), "<body>hi</body>");
}

/* Negative priority: never chosen for a bare JID (§8.5.2.1.1), but a full
 * JID reaches its session (§8.5.3.1). */
static void test_route_negative_priority(void **state)
{
    (void)state;
    peer_t *a1 = client("alice@example.org/one", 1, -1);
    peer_t *a2 = client("alice@example.org/two", 1, -128);
    peer_t *c0 = client("carol@example.org/zero", 1, 0);
    peer_t *c1 = client("carol@example.org/neg", 1, -5);
    peer_t *b = client("bob@example.org/b", 1, 0);
    route_from(b, "<message to='alice@example.org' type='chat' id='bare'><body>x</body></message>");
    route_from(b, "<message to='alice@example.org/one' type='chat' id='full1'/>");
    route_from(b, "<message to='alice@example.org/two' id='full2'/>");
    route_from(b, "<message to='carol@example.org' type='chat' id='c'/>");
    run();
    assert_int_equal(got(a1, "bare"), 0);
    assert_int_equal(got(a2, "bare"), 0);
    assert_int_equal(got(a1, "full1"), 1);
    assert_int_equal(got(a2, "full2"), 1);
    assert_int_equal(total(a1), 1);
    assert_int_equal(total(a2), 1);
    assert_int_equal(got(c0, "c"), 1);
    assert_int_equal(got(c1, "c"), 0);
    /* No session can take the bare-JID message and no module stores it
     * offline: the sender gets service-unavailable (§8.5.2.2.1). */
    got_error(b, "bare", "alice@example.org", "service-unavailable");
    assert_int_equal(total(b), 1);
    const vn_xnode_t *e = find(b, "bare");
    assert_string_equal(vn_xnode_attr(e, "to"), "bob@example.org/b");
    assert_non_null(vn_xnode_child(e, VN_NS_CLIENT, "body"));
}

/* §8.5.3.2.1: a message to a full JID with no such resource. */
static void test_route_unknown_resource(void **state)
{
    (void)state;
    peer_t *a1 = client("alice@example.org/one", 1, 0);
    peer_t *a2 = client("alice@example.org/two", 1, 3);
    peer_t *a3 = client("alice@example.org/neg", 1, -1);
    peer_t *b = client("bob@example.org/b", 1, 0);
    /* chat and normal: as if sent to the bare JID. */
    route_from(b, "<message to='alice@example.org/gone' type='chat' id='chat'/>");
    route_from(b, "<message to='alice@example.org/gone' id='normal'/>");
    route_from(b, "<message to='alice@example.org/gone' type='normal' id='normal2'/>");
    /* groupchat: an error, delivered to nobody. */
    route_from(b, "<message to='alice@example.org/gone' type='groupchat' id='gc'>"
                  "<body>g</body></message>");
    /* groupchat to the bare JID too (§8.5.2.1.1). */
    route_from(b, "<message to='alice@example.org' type='groupchat' id='gc-bare'/>");
    /* error: silently dropped. */
    route_from(b, "<message to='alice@example.org/gone' type='error' id='err'/>");
    run();
    assert_int_equal(got(a2, "chat"), 1);
    assert_int_equal(got(a2, "normal"), 1);
    assert_int_equal(got(a2, "normal2"), 1);
    assert_int_equal(total(a2), 3);
    assert_int_equal(total(a1), 0);
    assert_int_equal(total(a3), 0);
    got_error(b, "gc", "alice@example.org/gone", "service-unavailable");
    got_error(b, "gc-bare", "alice@example.org", "service-unavailable");
    assert_non_null(vn_xnode_child(find(b, "gc"), VN_NS_CLIENT, "body"));
    assert_int_equal(got(b, "err"), 0);
    assert_int_equal(total(b), 2);
}

/* §8.5.3.2.1 item 3: a headline to a full JID with no such resource is
 * silently ignored. The router currently treats it like a bare-JID
 * headline (delivers it to every non-negative resource). */
static void test_route_headline_unknown_resource(void **state)
{
    (void)state;
    peer_t *a1 = client("alice@example.org/one", 1, 0);
    peer_t *b = client("bob@example.org/b", 1, 0);
    route_from(b, "<message to='alice@example.org/gone' type='headline' id='h'/>");
    run();
    assert_int_equal(total(a1), 0);
    assert_int_equal(total(b), 0);
}

/* §8.5.2.1.1: a headline to a bare JID goes to every available resource
 * with non-negative priority; with none, it is dropped without an error. */
static void test_route_headline_bare(void **state)
{
    (void)state;
    peer_t *a1 = client("alice@example.org/one", 1, 0);
    peer_t *a2 = client("alice@example.org/two", 1, 7);
    peer_t *a3 = client("alice@example.org/neg", 1, -1);
    peer_t *a4 = client("alice@example.org/unavail", 0, 9);
    peer_t *c1 = client("carol@example.org/neg", 1, -1);
    peer_t *b = client("bob@example.org/b", 1, 0);
    route_from(b, "<message to='alice@example.org' type='headline' id='h1'><body>news</body></message>");
    route_from(b, "<message to='carol@example.org' type='headline' id='h2'/>");
    route_from(b, "<message to='dave@example.org' type='headline' id='h3'/>");
    run();
    assert_int_equal(got(a1, "h1"), 1);
    assert_int_equal(got(a2, "h1"), 1);
    assert_int_equal(total(a3), 0);
    assert_int_equal(total(a4), 0);
    assert_int_equal(total(c1), 0);
    assert_int_equal(total(b), 0);
}

/* A full JID reaches a bound session even before its initial presence. */
static void test_route_full_jid_unavailable_session(void **state)
{
    (void)state;
    peer_t *a1 = client("alice@example.org/one", 0, 0);
    peer_t *b = client("bob@example.org/b", 1, 0);
    route_from(b, "<message to='alice@example.org/one' type='chat' id='m'/>");
    route_from(b, "<iq to='alice@example.org/one' type='get' id='q'><query xmlns='urn:x'/></iq>");
    run();
    assert_int_equal(got(a1, "m"), 1);
    assert_int_equal(got(a1, "q"), 1);
    assert_int_equal(total(b), 0);
}

/* §8.5.3.2.1: presence to an unknown full JID is dropped; an IQ get/set is
 * answered with service-unavailable; IQ results and errors are dropped. */
static void test_route_presence_iq_unknown_full(void **state)
{
    (void)state;
    peer_t *a1 = client("alice@example.org/one", 1, 0);
    peer_t *b = client("bob@example.org/b", 1, 0);
    route_from(b, "<presence to='alice@example.org/gone' id='p1'/>");
    route_from(b, "<presence to='alice@example.org/gone' type='unavailable' id='p2'/>");
    route_from(b, "<presence to='alice@example.org/one' id='p3'/>");
    route_from(b, "<iq to='alice@example.org/gone' type='get' id='q1'>"
                  "<query xmlns='jabber:iq:version'/></iq>");
    route_from(b, "<iq to='alice@example.org/gone' type='set' id='q2'><x xmlns='urn:x'/></iq>");
    route_from(b, "<iq to='alice@example.org/gone' type='result' id='q3'/>");
    route_from(b, "<iq to='alice@example.org/gone' type='error' id='q4'/>");
    route_from(b, "<iq to='alice@example.org/one' type='get' id='q5'><x xmlns='urn:x'/></iq>");
    route_from(b, "<iq to='alice@example.org/one' type='result' id='q6'/>");
    /* A user with no session at all. */
    route_from(b, "<iq to='nobody@example.org/x' type='get' id='q7'><x xmlns='urn:x'/></iq>");
    route_from(b, "<presence to='nobody@example.org/x' id='p4'/>");
    run();
    assert_int_equal(got(a1, "p3"), 1);
    assert_int_equal(got(a1, "q5"), 1);
    assert_int_equal(got(a1, "q6"), 1);
    assert_int_equal(total(a1), 3);
    got_error(b, "q1", "alice@example.org/gone", "service-unavailable");
    got_error(b, "q2", "alice@example.org/gone", "service-unavailable");
    got_error(b, "q7", "nobody@example.org/x", "service-unavailable");
    assert_non_null(vn_xnode_child(find(b, "q1"), "jabber:iq:version", "query"));
    assert_string_equal(vn_xnode_attr(find(b, "q1"), "to"), "bob@example.org/b");
    assert_int_equal(total(b), 3);
}

/* No server-to-server yet: a stanza to a domain this server does not serve
 * bounces with remote-server-not-found (RFC 6120 §10.4.3 / §8.3.3.16),
 * except presence and errors, which are dropped. */
static void test_route_remote_domain(void **state)
{
    (void)state;
    peer_t *b = client("bob@example.org/b", 1, 0);
    peer_t *a1 = client("alice@example.org/one", 1, 0);
    route_from(b, "<message to='zoe@remote.example' type='chat' id='m1'><body>hi</body></message>");
    route_from(b, "<iq to='remote.example' type='get' id='q1'><query xmlns='urn:x'/></iq>");
    route_from(b, "<presence to='zoe@remote.example' type='subscribe' id='p1'/>");
    route_from(b, "<message to='zoe@remote.example' type='error' id='e1'/>");
    /* A subdomain of a served domain is not served. */
    route_from(b, "<message to='x@sub.example.org' id='m2'/>");
    run();
    got_error(b, "m1", "zoe@remote.example", "remote-server-not-found");
    got_error(b, "q1", "remote.example", "remote-server-not-found");
    got_error(b, "m2", "x@sub.example.org", "remote-server-not-found");
    const vn_xnode_t *e = find(b, "m1");
    assert_string_equal(vn_xnode_attr(e, "to"), "bob@example.org/b");
    assert_string_equal(vn_xnode_attr(vn_xnode_child(e, VN_NS_CLIENT, "error"), "type"), "cancel");
    assert_serializes(vn_xnode_child(e, VN_NS_CLIENT, "body"), "<body>hi</body>");
    assert_int_equal(got(b, "p1"), 0);
    assert_int_equal(got(b, "e1"), 0);
    assert_int_equal(total(b), 3);
    assert_int_equal(total(a1), 0);
}

/* Addresses are compared after RFC 7622 preparation: a Cyrillic localpart
 * in another case reaches the same account. */
static void test_route_prepared_addresses(void **state)
{
    (void)state;
    peer_t *v = client("вася@example.org/телефон", 1, 0);
    peer_t *b = client("bob@example.org/b", 1, 0);
    route_from(b, "<message to='ВАСЯ@Example.ORG' type='chat' id='m1'/>");
    route_from(b, "<message to='Вася@example.org/телефон' type='chat' id='m2'/>");
    run();
    assert_int_equal(got(v, "m1"), 1);
    assert_int_equal(got(v, "m2"), 1);
    assert_int_equal(total(b), 0);
}

/* Router bookkeeping: users appear with their first session and go with
 * their last; lookups by full JID. */
static void test_router_tables(void **state)
{
    (void)state;
    peer_t *a1 = client("alice@example.org/one", 1, 0);
    peer_t *a2 = client("alice@example.org/two", 1, 0);
    vn_user_t *u = vn_router_user(T.srv, "alice@example.org");
    assert_non_null(u);
    assert_string_equal(u->jid.local, "alice");
    assert_string_equal(u->jid.domain, "example.org");
    assert_ptr_equal(a1->s->user, u);
    assert_ptr_equal(a2->s->user, u);
    vn_jid_t j;
    vn_arena_t *a = vn_arena_new(256);
    assert_int_equal(vn_jid_parse("alice@example.org/two", 21, &j, a), 0);
    assert_ptr_equal(vn_router_session(T.srv, &j), a2->s);
    assert_int_equal(vn_jid_parse("alice@example.org/three", 23, &j, a), 0);
    assert_null(vn_router_session(T.srv, &j));
    assert_int_equal(vn_jid_parse("alice@example.org", 17, &j, a), 0);
    assert_null(vn_router_session(T.srv, &j));
    vn_arena_free(a);

    vn_router_remove(T.srv, a1->s);
    assert_ptr_equal(vn_router_user(T.srv, "alice@example.org"), u);
    assert_ptr_equal(u->sessions, a2->s);
    vn_router_remove(T.srv, a1->s); /* twice is harmless */
    vn_router_remove(T.srv, a2->s);
    assert_null(vn_router_user(T.srv, "alice@example.org"));
    run();
}

int main(void)
{
    vn_jid_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_basic),
        cmocka_unit_test(test_map_growth_100k),
        cmocka_unit_test(test_map_tombstone_churn),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_stanza_error_reply),
        cmocka_unit_test(test_stanza_iq_result),
        cmocka_unit_test(test_stream_lang),
        cmocka_unit_test_setup_teardown(test_route_bare_highest_priority, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_route_negative_priority, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_route_unknown_resource, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_route_headline_unknown_resource, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_route_headline_bare, router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_route_full_jid_unavailable_session, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_route_presence_iq_unknown_full, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_route_remote_domain, router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_route_prepared_addresses, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_router_tables, router_setup, router_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

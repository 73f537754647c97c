/* libFuzzer target for the streaming XMPP parser (src/xml/parser.c) and the
 * serialiser (src/xml/node.c).
 *
 * The input drives a parser the way a session does, with the production
 * limits: the bytes arrive in chunks of varying size, the stanza callback
 * sometimes suspends (a handler waiting for storage) and the driver
 * resumes, a <starttls/> or <success/> stops the parser and the driver
 * resets it for a new stream, as does any error (bounded per input).
 *
 * Besides memory safety it checks that every stanza delivered serialises
 * to XML that parses back to the same serialisation (what the server
 * writes to recipients must be well-formed and stable).
 *
 * Input layout:
 *   byte 0  chunk size scale (0: the whole rest in one feed)
 *   byte 1  seed of the chunk size sequence
 *   byte 2  suspension pattern (bit i: suspend at stanza n when n % 8 == i)
 *   byte 3  flags: 1 stop at starttls/success, 2 reset while suspended,
 *           4 release idle parser state after each read
 *   rest    the stream */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "xml/node.h"
#include "xml/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { F_STOP = 1, F_RESET_SUSPENDED = 2, F_RELEASE_IDLE = 4 };

typedef struct driver {
    vn_xml_parser_t *p;
    uint8_t suspend_mask;
    uint8_t flags;
    unsigned nstanzas;
    char default_ns[512];
    int default_ns_ok; /* fits default_ns */
} driver_t;

/* ---- round-trip checker ---- */

typedef struct checker {
    const char *want;
    size_t want_len;
    const char *parent_ns;
    int got;
} checker_t;

static void chk_open(void *ud, const char *ns, const char *name, const char *dns,
                     const vn_xattr_t *attrs)
{
    (void)ud, (void)ns, (void)name, (void)dns, (void)attrs;
}

static void chk_stanza(void *ud, vn_xnode_t *n, vn_arena_t *a)
{
    (void)a;
    checker_t *c = ud;
    vn_buf_t b = VN_BUF_INIT;
    vn_xnode_serialize(n, c->parent_ns, &b);
    if (c->got++ || b.len != c->want_len || memcmp(b.data, c->want, b.len) != 0) {
        fprintf(stderr, "round trip differs:\n first: %.*s\nsecond: %.*s\n", (int)c->want_len,
                c->want, (int)b.len, b.data);
        abort();
    }
    vn_buf_free(&b);
}

static void chk_close(void *ud)
{
    (void)ud;
}

/* Parses the serialisation of a stanza on a fresh stream with the same
 * default namespace and requires the same serialisation back. */
static void check_roundtrip(const char *parent_ns, const char *xml, size_t len)
{
    /* Serialised output may exceed the input limits (escaping, namespace
     * declarations); the parser bounds that expansion, see on_start. */
    static const vn_xml_limits_t lim = {16u << 20, 64, 64};
    static const vn_xml_callbacks_t cb = {chk_open, chk_stanza, chk_close};
    checker_t c = {xml, len, parent_ns, 0};
    vn_xml_parser_t *p = vn_xml_parser_new(&lim, &cb, &c);
    vn_buf_t head = VN_BUF_INIT;
    vn_buf_puts(&head, "<s xmlns='");
    vn_xml_append_escaped(&head, parent_ns, strlen(parent_ns), 1);
    vn_buf_puts(&head, "'>");
    vn_xml_status_t st = vn_xml_parser_feed(p, head.data, head.len);
    if (st == VN_XML_OK) st = vn_xml_parser_feed(p, xml, len);
    if (st != VN_XML_OK || c.got != 1) {
        fprintf(stderr, "serialisation does not parse back (%s) [default ns '%s']: %.*s\n",
                vn_xml_parser_error_text(p), parent_ns, (int)len, xml);
        abort();
    }
    vn_buf_free(&head);
    vn_xml_parser_free(p);
}

/* ---- callbacks of the parser under test ---- */

static void on_open(void *ud, const char *ns, const char *name, const char *default_ns,
                    const vn_xattr_t *attrs)
{
    driver_t *d = ud;
    (void)ns, (void)name;
    for (const vn_xattr_t *a = attrs; a; a = a->next)
        if (!a->name || !a->value) abort();
    size_t n = strlen(default_ns);
    d->default_ns_ok = n < sizeof(d->default_ns);
    if (d->default_ns_ok) memcpy(d->default_ns, default_ns, n + 1);
    if (d->suspend_mask & 0x80) vn_xml_parser_suspend(d->p);
}

static void on_stanza(void *ud, vn_xnode_t *n, vn_arena_t *a)
{
    driver_t *d = ud;
    unsigned k = d->nstanzas++;
    /* Touch the whole tree the way handlers do. */
    vn_xnode_t *copy = vn_xnode_copy(a, n);
    char *text = vn_xnode_text(a, copy);
    (void)text;
    (void)vn_xnode_attr(n, "to");
    (void)vn_xnode_child(n, NULL, "body");

    if (d->default_ns_ok) {
        vn_buf_t b = VN_BUF_INIT;
        vn_xnode_serialize(n, d->default_ns, &b);
        check_roundtrip(d->default_ns, b.data, b.len);
        vn_buf_free(&b);
    }

    if ((d->flags & F_STOP) && n->name &&
        (strcmp(n->name, "starttls") == 0 || strcmp(n->name, "success") == 0)) {
        vn_xml_parser_stop(d->p);
        return;
    }
    if (d->suspend_mask & (1u << (k % 8))) vn_xml_parser_suspend(d->p);
}

static void on_close(void *ud)
{
    (void)ud;
}

/* A deterministic sequence of chunk sizes from the first input bytes. */
static size_t next_chunk(uint32_t *state, uint8_t scale)
{
    *state = *state * 1103515245u + 12345u;
    size_t max = (size_t)scale * 16;
    return 1 + (size_t)((*state >> 8) % max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const vn_xml_limits_t lim = {65536, 32, 32};
    static const vn_xml_callbacks_t cb = {on_open, on_stanza, on_close};
    if (size < 4) return 0;
    driver_t d;
    memset(&d, 0, sizeof(d));
    uint8_t scale = data[0];
    uint32_t seed = data[1];
    d.suspend_mask = data[2];
    d.flags = data[3];
    data += 4;
    size -= 4;
    d.p = vn_xml_parser_new(&lim, &cb, &d);
    if (!d.p) abort();

    int resets = 0;
    size_t off = 0;
    while (off < size) {
        size_t n = scale ? next_chunk(&seed, scale) : size - off;
        if (n > size - off) n = size - off;
        vn_xml_status_t st = vn_xml_parser_feed(d.p, (const char *)data + off, n);
        off += n;
        int rounds = 0;
        while (st == VN_XML_SUSPENDED) {
            if (!vn_xml_parser_suspended(d.p)) abort();
            if ((d.flags & F_RESET_SUSPENDED) && ++rounds == 3) {
                vn_xml_parser_reset(d.p);
                st = VN_XML_OK;
                break;
            }
            st = vn_xml_parser_resume(d.p);
        }
        if (st == VN_XML_OK) {
            if (vn_xml_parser_error(d.p) != VN_XERR_NONE) abort();
            if (d.flags & F_RELEASE_IDLE) vn_xml_parser_release_idle(d.p);
            continue;
        }
        if (st == VN_XML_ERROR && vn_xml_parser_error(d.p) == VN_XERR_NONE) abort();
        if (st == VN_XML_STOPPED && vn_xml_parser_error(d.p) != VN_XERR_NONE) abort();
        /* Once stopped or failed, the parser refuses input until reset. */
        if (vn_xml_parser_feed(d.p, "<a/>", 4) != st) abort();
        if (++resets > 8) break;
        vn_xml_parser_reset(d.p);
    }
    vn_xml_parser_free(d.p);
    return 0;
}

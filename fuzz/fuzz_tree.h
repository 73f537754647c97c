/* Shared by the module fuzz targets: the input as one stanza tree, parsed
 * by the server's own stream parser with the production c2s limits, the
 * way a handler receives it (default namespace jabber:client). */
#ifndef VN_FUZZ_TREE_H
#define VN_FUZZ_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "xml/node.h"
#include "xml/parser.h"

typedef struct fuzz_tree_ctx {
    vn_arena_t *a;
    vn_xnode_t *out;
} fuzz_tree_ctx_t;

static void fuzz_tree_open(void *ud, const char *ns, const char *name, const char *dns,
                           const vn_xattr_t *attrs)
{
    (void)ud, (void)ns, (void)name, (void)dns, (void)attrs;
}

static void fuzz_tree_stanza(void *ud, vn_xnode_t *n, vn_arena_t *a)
{
    (void)a;
    fuzz_tree_ctx_t *c = ud;
    if (!c->out) c->out = vn_xnode_copy(c->a, n);
}

static void fuzz_tree_close(void *ud)
{
    (void)ud;
}

/* The first top-level element of data (copied into a), or NULL. */
static vn_xnode_t *fuzz_tree(vn_arena_t *a, const uint8_t *data, size_t size)
{
    static const vn_xml_limits_t lim = {262144, 32, 32};
    static const vn_xml_callbacks_t cb = {fuzz_tree_open, fuzz_tree_stanza, fuzz_tree_close};
    static const char head[] = "<stream:stream xmlns='jabber:client' "
                               "xmlns:stream='http://etherx.jabber.org/streams'>";
    fuzz_tree_ctx_t c = {a, NULL};
    vn_xml_parser_t *p = vn_xml_parser_new(&lim, &cb, &c);
    if (!p) abort();
    if (vn_xml_parser_feed(p, head, sizeof(head) - 1) == VN_XML_OK)
        (void)vn_xml_parser_feed(p, (const char *)data, size);
    vn_xml_parser_free(p);
    return c.out;
}

/* Depth-first walk over the elements of n (n included). */
typedef void (*fuzz_visit_fn)(vn_xnode_t *n, void *ud);
static void fuzz_walk(vn_xnode_t *n, fuzz_visit_fn fn, void *ud)
{
    if (!n->name) return;
    fn(n, ud);
    for (vn_xnode_t *c = n->children; c; c = c->next)
        fuzz_walk(c, fn, ud);
}

#endif

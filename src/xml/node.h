/* A small XML element tree for one stanza.
 *
 * Every node, attribute and string of a tree lives in one arena (the
 * stanza's): the tree is freed with the arena, never node by node.
 * Names are split into namespace URI and local name; attributes without a
 * namespace have ns == NULL (xml:lang has the XML namespace). */
#ifndef VN_XML_NODE_H
#define VN_XML_NODE_H

#include <stddef.h>
#include "core/arena.h"
#include "core/buf.h"

#define VN_NS_XML "http://www.w3.org/XML/1998/namespace"

typedef struct vn_xattr {
    const char *ns; /* NULL for the default (no) namespace */
    const char *name;
    const char *value;
    struct vn_xattr *next;
} vn_xattr_t;

typedef struct vn_xnode {
    const char *name; /* NULL for a text node */
    const char *ns;
    vn_xattr_t *attrs;
    struct vn_xnode *parent;
    struct vn_xnode *children;
    struct vn_xnode *last_child;
    struct vn_xnode *next;
    const char *text; /* text nodes only */
    size_t text_len;
} vn_xnode_t;

vn_xnode_t *vn_xnode_new(vn_arena_t *a, const char *ns, const char *name);
/* Appends an element child and returns it. */
vn_xnode_t *vn_xnode_add(vn_arena_t *a, vn_xnode_t *parent, const char *ns, const char *name);
/* Appends a text child (copied into the arena). */
void vn_xnode_add_text(vn_arena_t *a, vn_xnode_t *parent, const char *text, size_t len);
void vn_xnode_append(vn_xnode_t *parent, vn_xnode_t *child);

const char *vn_xnode_attr(const vn_xnode_t *n, const char *name);
/* Sets (replaces) a no-namespace attribute; value NULL removes it. The value
 * is not copied: it must live as long as the tree (arena or static). */
void vn_xnode_set_attr(vn_arena_t *a, vn_xnode_t *n, const char *name, const char *value);
/* First element child with that name and namespace (either may be NULL = any). */
vn_xnode_t *vn_xnode_child(const vn_xnode_t *n, const char *ns, const char *name);
/* First element child at all. */
vn_xnode_t *vn_xnode_first_element(const vn_xnode_t *n);
/* Concatenated text content of the direct text children (arena copy). */
char *vn_xnode_text(vn_arena_t *a, const vn_xnode_t *n);
/* Deep copy into another arena. */
vn_xnode_t *vn_xnode_copy(vn_arena_t *a, const vn_xnode_t *n);

/* Appends s escaped for XML text (attr 0) or an attribute value (attr 1),
 * with whitespace that XML would normalise written as character
 * references, so that the value parses back unchanged. */
void vn_xml_append_escaped(vn_buf_t *out, const char *s, size_t n, int attr);

/* Serialises n. parent_ns is the default namespace in scope where n is
 * written (e.g. "jabber:client" for stanzas on a c2s stream); an xmlns
 * attribute is emitted only where the namespace changes. */
void vn_xnode_serialize(const vn_xnode_t *n, const char *parent_ns, vn_buf_t *out);

#endif

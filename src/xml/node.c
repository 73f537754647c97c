#include "xml/node.h"

#include <string.h>

vn_xnode_t *vn_xnode_new(vn_arena_t *a, const char *ns, const char *name)
{
    vn_xnode_t *n = vn_arena_zalloc(a, sizeof(*n));
    n->ns = ns;
    n->name = name;
    return n;
}

void vn_xnode_append(vn_xnode_t *parent, vn_xnode_t *child)
{
    child->parent = parent;
    child->next = NULL;
    if (parent->last_child)
        parent->last_child->next = child;
    else
        parent->children = child;
    parent->last_child = child;
}

vn_xnode_t *vn_xnode_add(vn_arena_t *a, vn_xnode_t *parent, const char *ns, const char *name)
{
    vn_xnode_t *n = vn_xnode_new(a, ns, name);
    vn_xnode_append(parent, n);
    return n;
}

void vn_xnode_add_text(vn_arena_t *a, vn_xnode_t *parent, const char *text, size_t len)
{
    vn_xnode_t *t = vn_arena_zalloc(a, sizeof(*t));
    t->text = vn_arena_strndup(a, text, len);
    t->text_len = len;
    vn_xnode_append(parent, t);
}

const char *vn_xnode_attr(const vn_xnode_t *n, const char *name)
{
    for (const vn_xattr_t *at = n->attrs; at; at = at->next)
        if (!at->ns && strcmp(at->name, name) == 0) return at->value;
    return NULL;
}

void vn_xnode_set_attr(vn_arena_t *a, vn_xnode_t *n, const char *name, const char *value)
{
    vn_xattr_t **pp = &n->attrs;
    for (; *pp; pp = &(*pp)->next) {
        if (!(*pp)->ns && strcmp((*pp)->name, name) == 0) {
            if (value)
                (*pp)->value = value;
            else
                *pp = (*pp)->next;
            return;
        }
    }
    if (!value) return;
    vn_xattr_t *at = vn_arena_zalloc(a, sizeof(*at));
    at->name = name;
    at->value = value;
    *pp = at;
}

vn_xnode_t *vn_xnode_child(const vn_xnode_t *n, const char *ns, const char *name)
{
    for (vn_xnode_t *c = n->children; c; c = c->next) {
        if (!c->name) continue;
        if (name && strcmp(c->name, name) != 0) continue;
        if (ns && (!c->ns || strcmp(c->ns, ns) != 0)) continue;
        return c;
    }
    return NULL;
}

vn_xnode_t *vn_xnode_first_element(const vn_xnode_t *n)
{
    for (vn_xnode_t *c = n->children; c; c = c->next)
        if (c->name) return c;
    return NULL;
}

char *vn_xnode_text(vn_arena_t *a, const vn_xnode_t *n)
{
    size_t len = 0;
    for (const vn_xnode_t *c = n->children; c; c = c->next)
        if (!c->name) len += c->text_len;
    char *s = vn_arena_alloc(a, len + 1);
    size_t off = 0;
    for (const vn_xnode_t *c = n->children; c; c = c->next) {
        if (c->name) continue;
        memcpy(s + off, c->text, c->text_len);
        off += c->text_len;
    }
    s[len] = '\0';
    return s;
}

vn_xnode_t *vn_xnode_copy(vn_arena_t *a, const vn_xnode_t *n)
{
    vn_xnode_t *c = vn_arena_zalloc(a, sizeof(*c));
    if (!n->name) {
        c->text = vn_arena_strndup(a, n->text, n->text_len);
        c->text_len = n->text_len;
        return c;
    }
    c->name = vn_arena_strdup(a, n->name);
    c->ns = n->ns ? vn_arena_strdup(a, n->ns) : NULL;
    vn_xattr_t **tail = &c->attrs;
    for (const vn_xattr_t *at = n->attrs; at; at = at->next) {
        vn_xattr_t *x = vn_arena_zalloc(a, sizeof(*x));
        x->ns = at->ns ? vn_arena_strdup(a, at->ns) : NULL;
        x->name = vn_arena_strdup(a, at->name);
        x->value = vn_arena_strdup(a, at->value);
        *tail = x;
        tail = &x->next;
    }
    for (const vn_xnode_t *ch = n->children; ch; ch = ch->next)
        vn_xnode_append(c, vn_xnode_copy(a, ch));
    return c;
}

static int ns_equal(const char *a, const char *b)
{
    if (!a || !b) return a == b;
    return a == b || strcmp(a, b) == 0;
}

/* Escapes markup, and also the whitespace a parser would not give back as
 * is: CR anywhere (XML 1.0 §2.11 turns it into LF), TAB and LF in attribute
 * values (§3.3.3 turns them into spaces). */
void vn_xml_append_escaped(vn_buf_t *out, const char *s, size_t n, int attr)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *ref;
        if (s[i] == '\r')
            ref = "&#13;";
        else if (attr && s[i] == '\n')
            ref = "&#10;";
        else if (attr && s[i] == '\t')
            ref = "&#9;";
        else
            continue;
        vn_buf_append_xml_escaped(out, s + start, i - start);
        vn_buf_puts(out, ref);
        start = i + 1;
    }
    vn_buf_append_xml_escaped(out, s + start, n - start);
}

static void serialize(const vn_xnode_t *n, const char *parent_ns, vn_buf_t *out)
{
    if (!n->name) {
        vn_xml_append_escaped(out, n->text, n->text_len, 0);
        return;
    }
    vn_buf_reserve(out, 64);
    out->data[out->len++] = '<';
    vn_buf_puts(out, n->name);
    if (!ns_equal(n->ns, parent_ns)) {
        vn_buf_puts(out, " xmlns='");
        if (n->ns) vn_xml_append_escaped(out, n->ns, strlen(n->ns), 1);
        vn_buf_append(out, "'", 1);
    }
    int nsattr = 0;
    for (const vn_xattr_t *at = n->attrs; at; at = at->next) {
        vn_buf_append(out, " ", 1);
        if (at->ns) {
            if (strcmp(at->ns, VN_NS_XML) == 0) {
                vn_buf_puts(out, "xml:");
            } else {
                /* A namespaced attribute outside xml: declare a prefix for it. */
                vn_buf_printf(out, "xmlns:a%d='", nsattr);
                vn_xml_append_escaped(out, at->ns, strlen(at->ns), 1);
                vn_buf_printf(out, "' a%d:", nsattr++);
            }
        }
        vn_buf_puts(out, at->name);
        vn_buf_append(out, "='", 2);
        vn_xml_append_escaped(out, at->value, strlen(at->value), 1);
        vn_buf_append(out, "'", 1);
    }
    if (!n->children) {
        vn_buf_append(out, "/>", 2);
        return;
    }
    vn_buf_append(out, ">", 1);
    for (const vn_xnode_t *c = n->children; c; c = c->next)
        serialize(c, n->ns, out);
    vn_buf_append(out, "</", 2);
    vn_buf_puts(out, n->name);
    vn_buf_append(out, ">", 1);
}

void vn_xnode_serialize(const vn_xnode_t *n, const char *parent_ns, vn_buf_t *out)
{
    serialize(n, parent_ns, out);
}

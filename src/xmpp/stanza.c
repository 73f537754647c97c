#include "xmpp/stanza.h"

#include <string.h>

#include "core/mem.h"

vn_stanza_kind_t vn_stanza_kind_of(const vn_xnode_t *n)
{
    /* RFC 6120 §4.8.3: the same stanzas in jabber:client (c2s) and
     * jabber:server (s2s), so that one stanza path serves both. */
    if (!n->ns || (strcmp(n->ns, VN_NS_CLIENT) != 0 && strcmp(n->ns, VN_NS_SERVER) != 0))
        return VN_OTHER;
    if (strcmp(n->name, "message") == 0) return VN_MESSAGE;
    if (strcmp(n->name, "presence") == 0) return VN_PRESENCE;
    if (strcmp(n->name, "iq") == 0) return VN_IQ;
    return VN_OTHER;
}

int vn_stanza_init(vn_stanza_t *st, vn_xnode_t *node, vn_arena_t *arena)
{
    memset(st, 0, sizeof(*st));
    st->node = node;
    st->arena = arena;
    st->kind = vn_stanza_kind_of(node);
    const char *type = vn_xnode_attr(node, "type");
    st->type = type ? type : "";
    const char *to = vn_xnode_attr(node, "to");
    const char *from = vn_xnode_attr(node, "from");
    if (to && vn_jid_parse(to, strlen(to), &st->to, arena) < 0) return -1;
    if (from && vn_jid_parse(from, strlen(from), &st->from, arena) < 0) return -1;
    return 0;
}

void vn_stanza_set_from(vn_stanza_t *st, const vn_jid_t *from)
{
    st->from = *from;
    vn_xnode_set_attr(st->arena, st->node, "from", vn_jid_full_str(from, st->arena));
}

void vn_stanza_set_to(vn_stanza_t *st, const vn_jid_t *to)
{
    st->to = *to;
    vn_xnode_set_attr(st->arena, st->node, "to", to ? vn_jid_full_str(to, st->arena) : NULL);
}

static vn_stanza_t *reply_shell(const vn_stanza_t *req, const char *type)
{
    vn_stanza_t *r = vn_arena_zalloc(req->arena, sizeof(*r));
    r->arena = req->arena;
    r->node = vn_xnode_new(req->arena, VN_NS_CLIENT, req->node->name);
    r->kind = req->kind;
    r->type = type;
    const char *id = vn_xnode_attr(req->node, "id");
    if (id) vn_xnode_set_attr(r->arena, r->node, "id", id);
    vn_xnode_set_attr(r->arena, r->node, "type", type);
    if (req->to.domain) vn_stanza_set_from(r, &req->to);
    if (req->from.domain) vn_stanza_set_to(r, &req->from);
    return r;
}

vn_stanza_t *vn_stanza_iq_result(const vn_stanza_t *req)
{
    return reply_shell(req, "result");
}

vn_stanza_t *vn_stanza_error_reply(const vn_stanza_t *st, const char *error_type,
                                   const char *condition, const char *text)
{
    if (strcmp(st->type, "error") == 0) return NULL;
    vn_stanza_t *r = reply_shell(st, "error");
    /* RFC 6120 §8.3.1: include the original payload so the sender can match it. */
    for (vn_xnode_t *c = st->node->children; c; c = c->next)
        if (c->name) vn_xnode_append(r->node, vn_xnode_copy(r->arena, c));
    vn_xnode_t *err = vn_xnode_add(r->arena, r->node, VN_NS_CLIENT, "error");
    vn_xnode_set_attr(r->arena, err, "type", error_type);
    vn_xnode_add(r->arena, err, VN_NS_STANZA_ERR, condition);
    if (text) {
        vn_xnode_t *t = vn_xnode_add(r->arena, err, VN_NS_STANZA_ERR, "text");
        vn_xnode_add_text(r->arena, t, text, strlen(text));
    }
    return r;
}

vn_stanza_t *vn_stanza_new(const char *name)
{
    vn_arena_t *a = vn_arena_new(1024);
    vn_stanza_t *st = vn_arena_zalloc(a, sizeof(*st));
    st->arena = a;
    st->node = vn_xnode_new(a, VN_NS_CLIENT, vn_arena_strdup(a, name));
    st->kind = vn_stanza_kind_of(st->node);
    st->type = "";
    return st;
}

char *vn_stream_lang(const vn_xattr_t *attrs)
{
    static const char tag_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-";
    for (const vn_xattr_t *a = attrs; a; a = a->next) {
        if (!a->ns || strcmp(a->ns, VN_NS_XML) != 0 || strcmp(a->name, "lang") != 0) continue;
        size_t n = strlen(a->value);
        if (n == 0 || n > 35 || strspn(a->value, tag_chars) != n) return NULL;
        return vn_xstrdup(a->value);
    }
    return NULL;
}

void vn_stanza_default_lang(vn_xnode_t *node, vn_arena_t *arena, const char *lang)
{
    if (!lang) return;
    for (const vn_xattr_t *a = node->attrs; a; a = a->next)
        if (a->ns && !strcmp(a->ns, VN_NS_XML) && !strcmp(a->name, "lang")) return;
    vn_xattr_t *at = vn_arena_zalloc(arena, sizeof(*at));
    at->ns = VN_NS_XML;
    at->name = "lang";
    at->value = vn_arena_strdup(arena, lang);
    at->next = node->attrs;
    node->attrs = at;
}

void vn_stanza_free(vn_stanza_t *st)
{
    if (st) vn_arena_free(st->arena);
}

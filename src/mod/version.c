/* XEP-0092: Software Version of the server. */
#include <string.h>
#include <sys/utsname.h>

#include "xmpp/module.h"
#include "xmpp/router.h"

#define NS_VERSION "jabber:iq:version"

#ifndef VN_VERSION
#define VN_VERSION "0.1.0"
#endif

static void add_text_child(vn_arena_t *a, vn_xnode_t *parent, const char *name, const char *text)
{
    vn_xnode_t *n = vn_xnode_add(a, parent, parent->ns, name);
    vn_xnode_add_text(a, n, text, strlen(text));
}

static vn_result_t on_version(vn_server_t *srv, vn_stanza_t *st)
{
    vn_stanza_t *r = vn_stanza_iq_result(st);
    vn_xnode_t *q = vn_xnode_add(r->arena, r->node, NS_VERSION, "query");
    add_text_child(r->arena, q, "name", "vestnik");
    add_text_child(r->arena, q, "version", VN_VERSION);
    struct utsname u;
    if (uname(&u) == 0) add_text_child(r->arena, q, "os", u.sysname);
    vn_route(srv, r);
    return VN_HANDLED;
}

static const char *const features[] = {NS_VERSION, NULL};
static const vn_iq_handler_t iq[] = {
    {"get", NS_VERSION, VN_TARGET_SERVER, on_version},
    {NULL, NULL, 0, NULL},
};

const vn_module_t vn_mod_version = {.name = "version", .features = features, .iq = iq};

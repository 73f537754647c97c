/* XEP-0157: Contact Addresses for XMPP Services. The server's disco#info
 * carries a XEP-0128 form (FORM_TYPE http://jabber.org/network/serverinfo)
 * with the addresses the operator configured ([server] contact_abuse,
 * contact_admin, contact_feedback, contact_sales, contact_security,
 * contact_support: comma-separated URIs, checked at load time); a kind
 * with no address is left out, and with none at all there is no form.
 * The same form answers for every served domain (one operator). */
#include <stddef.h>
#include <string.h>

#include "xmpp/module.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DATA "jabber:x:data"
#define FORM_TYPE_SERVERINFO "http://jabber.org/network/serverinfo"

/* In the order of vn_config_t.contact: the key is contact_<kind>, the form
 * field <kind>-addresses. */
static const char *const vn_contact_kinds[VN_CONTACT_KINDS] = {"abuse", "admin",    "feedback",
                                                               "sales", "security", "support"};

#define CONTACT_KEY(i, kind)                                                                       \
    {                                                                                              \
        "server", "contact_" kind, VN_CFG_URIS, offsetof(vn_config_t, contact[i]), "",             \
            .help = "XEP-0157 " kind " addresses: comma-separated URIs (mailto:, xmpp:, https:)"   \
    }
static const vn_cfg_key_t config_keys[] = {
    CONTACT_KEY(0, "abuse"),
    CONTACT_KEY(1, "admin"),
    CONTACT_KEY(2, "feedback"),
    CONTACT_KEY(3, "sales"),
    CONTACT_KEY(4, "security"),
    CONTACT_KEY(5, "support"),
    {NULL},
};

static void add_value(vn_arena_t *a, vn_xnode_t *field, const char *v, size_t n)
{
    vn_xnode_t *val = vn_xnode_add(a, field, NS_DATA, "value");
    vn_xnode_add_text(a, val, v, n);
}

static void server_info(vn_server_t *srv, vn_arena_t *a, vn_xnode_t *query)
{
    const vn_config_t *c = &srv->cfg;
    int any = 0;
    for (int i = 0; i < VN_CONTACT_KINDS; i++)
        any |= c->contact[i] != NULL;
    if (!any) return;
    vn_xnode_t *x = vn_xnode_add(a, query, NS_DATA, "x");
    vn_xnode_set_attr(a, x, "type", "result");
    vn_xnode_t *ft = vn_xnode_add(a, x, NS_DATA, "field");
    vn_xnode_set_attr(a, ft, "var", "FORM_TYPE");
    vn_xnode_set_attr(a, ft, "type", "hidden");
    add_value(a, ft, FORM_TYPE_SERVERINFO, strlen(FORM_TYPE_SERVERINFO));
    for (int i = 0; i < VN_CONTACT_KINDS; i++) {
        if (!c->contact[i]) continue;
        vn_xnode_t *f = vn_xnode_add(a, x, NS_DATA, "field");
        vn_xnode_set_attr(a, f, "var", vn_arena_printf(a, "%s-addresses", vn_contact_kinds[i]));
        vn_xnode_set_attr(a, f, "type", "list-multi");
        /* One <value/> per address, in the configured order. */
        for (const char *p = c->contact[i]; *p;) {
            while (*p == ' ' || *p == '\t')
                p++;
            size_t len = strcspn(p, ","), end = len;
            while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
                end--;
            if (end) add_value(a, f, p, end);
            p += len;
            if (*p == ',') p++;
        }
    }
}

const vn_module_t vn_mod_contact_info = {
    .name = "contact_info",
    .config_keys = config_keys,
    .server_info = server_info,
};

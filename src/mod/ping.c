/* XEP-0199: XMPP Ping. A ping to the server is answered with an empty
 * result; pings to accounts and full JIDs are routed by the core. */
#include "xmpp/module.h"
#include "xmpp/router.h"

#define NS_PING "urn:xmpp:ping"

static vn_result_t on_ping(vn_server_t *srv, vn_stanza_t *st)
{
    vn_route(srv, vn_stanza_iq_result(st));
    return VN_HANDLED;
}

static const char *const features[] = {NS_PING, NULL};
static const vn_iq_handler_t iq[] = {
    {"get", NS_PING, VN_TARGET_SERVER | VN_TARGET_ACCOUNT, on_ping},
    {NULL, NULL, 0, NULL},
};

const vn_module_t vn_mod_ping = {.name = "ping", .features = features, .iq = iq};

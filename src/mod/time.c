/* XEP-0202: Entity Time of the server, in UTC (XEP-0082 format). */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "xmpp/module.h"
#include "xmpp/router.h"

#define NS_TIME "urn:xmpp:time"

static vn_result_t on_time(vn_server_t *srv, vn_stanza_t *st)
{
    vn_stanza_t *r = vn_stanza_iq_result(st);
    vn_xnode_t *t = vn_xnode_add(r->arena, r->node, NS_TIME, "time");
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char utc[96];
    snprintf(utc, sizeof(utc), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec / 1000);
    vn_xnode_t *tzo = vn_xnode_add(r->arena, t, NS_TIME, "tzo");
    vn_xnode_add_text(r->arena, tzo, "+00:00", 6);
    vn_xnode_t *u = vn_xnode_add(r->arena, t, NS_TIME, "utc");
    vn_xnode_add_text(r->arena, u, utc, strlen(utc));
    vn_route(srv, r);
    return VN_HANDLED;
}

static const char *const features[] = {NS_TIME, NULL};
static const vn_iq_handler_t iq[] = {
    {"get", NS_TIME, VN_TARGET_SERVER, on_time},
    {NULL, NULL, 0, NULL},
};

const vn_module_t vn_mod_time = {.name = "time", .features = features, .iq = iq};

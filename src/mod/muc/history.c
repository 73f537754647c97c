/* Discussion history (XEP-0045 §7.2.15): the last groupchat messages of a
 * room, kept in memory in a ring of the room's historylength, replayed to
 * a joining occupant with XEP-0203 delay stamps before the subject. The
 * joiner may narrow it with <history maxstanzas/maxchars/seconds/since/>
 * (maxchars counts the bytes of the stanzas as they are kept). */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "mod/mam_query.h"
#include "mod/muc/form.h"
#include "mod/muc/muc.h"
#include "xml/parser.h"
#include "xmpp/session.h"
#include "xmpp/router.h"

void muc_hist_free(muc_room_t *r)
{
    for (int i = 0; i < r->hist_len; i++)
        free(r->hist[(r->hist_start + i) % r->hist_cap].xml);
    free(r->hist);
    r->hist = NULL;
    r->hist_start = r->hist_len = r->hist_cap = 0;
}

void muc_hist_resize(muc_room_t *r, int cap)
{
    if (cap < 0) cap = 0;
    if (cap == r->hist_cap) return;
    muc_hist_t *h = cap ? vn_xcalloc((size_t)cap, sizeof(*h)) : NULL;
    int keep = r->hist_len < cap ? r->hist_len : cap;
    int drop = r->hist_len - keep;
    for (int i = 0; i < r->hist_len; i++) {
        muc_hist_t *it = &r->hist[(r->hist_start + i) % r->hist_cap];
        if (i < drop)
            free(it->xml);
        else
            h[i - drop] = *it;
    }
    free(r->hist);
    r->hist = h;
    r->hist_cap = cap;
    r->hist_start = 0;
    r->hist_len = keep;
}

void muc_hist_add(muc_room_t *r, int64_t ts_us, const char *xml, size_t len)
{
    if (!r->hist_cap) return;
    muc_hist_t *it;
    if (r->hist_len == r->hist_cap) {
        it = &r->hist[r->hist_start];
        free(it->xml);
        r->hist_start = (r->hist_start + 1) % r->hist_cap;
    } else {
        it = &r->hist[(r->hist_start + r->hist_len++) % r->hist_cap];
    }
    it->ts_us = ts_us;
    it->xml = vn_xstrndup(xml, len);
    it->len = len;
}

static long attr_long(const vn_xnode_t *n, const char *name, long dflt)
{
    const char *v = n ? vn_xnode_attr(n, name) : NULL;
    if (!v) return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    return *v && !*end && x >= 0 ? x : dflt;
}

int muc_hist_first(const muc_room_t *r, const vn_xnode_t *history, int64_t now_us)
{
    long maxstanzas = attr_long(history, "maxstanzas", r->hist_len);
    long maxchars = attr_long(history, "maxchars", -1);
    long seconds = attr_long(history, "seconds", -1);
    int64_t since = 0;
    const char *sv = history ? vn_xnode_attr(history, "since") : NULL;
    if (sv && vn_mam_parse_datetime(sv, &since) < 0) since = 0;
    /* More seconds than since the epoch is everything (and would overflow). */
    if (seconds >= 0 && seconds < now_us / 1000000) {
        int64_t t = now_us - (int64_t)seconds * 1000000;
        if (t > since) since = t;
    }
    /* Walk back from the newest while the limits allow. */
    int first = r->hist_len;
    long chars = 0;
    while (first > 0 && r->hist_len - first < maxstanzas) {
        const muc_hist_t *it = &r->hist[(r->hist_start + first - 1) % r->hist_cap];
        if (since && it->ts_us < since) break;
        if (maxchars >= 0 && chars + (long)it->len > maxchars) break;
        chars += (long)it->len;
        first--;
    }
    return first;
}

void muc_hist_send(muc_room_t *r, muc_occ_t *o, const vn_xnode_t *history)
{
    if (!r->hist_len) return;
    vn_session_t *s = muc_occ_session(o);
    if (!s) return;
    int first = muc_hist_first(r, history, vn_mam_now_us());
    /* Each message goes to the session like any other stanza, through the
     * DELIVER hooks: blocking (XEP-0191) drops what comes from a blocked
     * JID, CSI (XEP-0352) sees it in order after the presences it may be
     * holding, XEP-0198 counts it. */
    vn_server_t *srv = r->svc->srv;
    for (int i = first; i < r->hist_len; i++) {
        const muc_hist_t *it = &r->hist[(r->hist_start + i) % r->hist_cap];
        vn_stanza_t *st = vn_stanza_new("message");
        vn_xnode_t *n = vn_xml_parse_element(st->arena, it->xml, it->len, VN_NS_CLIENT, 64);
        if (!n || vn_stanza_init(st, n, st->arena) != 0 || st->kind != VN_MESSAGE) {
            vn_stanza_free(st);
            continue;
        }
        char stamp[48];
        vn_mam_format_stamp(it->ts_us, stamp, sizeof(stamp));
        vn_xnode_t *d = vn_xnode_add(st->arena, n, NS_DELAY, "delay");
        vn_xnode_set_attr(st->arena, d, "from", r->jid);
        vn_xnode_set_attr(st->arena, d, "stamp", vn_arena_strdup(st->arena, stamp));
        vn_xnode_set_attr(st->arena, n, "to", o->jid);
        st->to = o->rjid;
        vn_router_deliver(srv, s, st);
        vn_stanza_free(st);
    }
}

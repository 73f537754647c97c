/* XEP-0198: Stream Management (urn:xmpp:sm:3): acknowledgements and
 * resumption.
 *
 * - Every stanza written to a session after <enable/> is kept until the
 *   client acknowledges it; a lost connection keeps the session, detached,
 *   for [c2s] resume_timeout seconds, during which it still receives.
 * - <resume/> on a new stream moves the session there and retransmits
 *   everything unacknowledged, in order.
 * - A session that ends with unacknowledged messages (timeout, shutdown,
 *   closed without resuming) hands them to offline storage: never dropped.
 * - <a h/> to the client is sent only after every write the counted
 *   stanzas caused (offline storage, archive) has committed: the answer
 *   waits for a storage barrier over all owners (vn_store_barrier with no
 *   owner, xmpp/server.h), since those writes belong to the recipients'
 *   accounts and to rooms, not to the client's. */
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"
#include "xml/parser.h"
#include "xmpp/router.h"

#define NS_SM "urn:xmpp:sm:3"

typedef struct unacked {
    char *xml;
    size_t len;
} unacked_t;

typedef struct sm {
    vn_session_t *s;
    char id[40]; /* resumption id, "" when resumption is off */
    int resume;
    uint32_t in_base;   /* s->stanzas_in when counting started */
    uint32_t out_acked; /* stanzas the client has acknowledged */
    uint32_t out_sent;  /* stanzas sent since <enable/> */
    unacked_t *q;       /* ring of out_sent - out_acked entries */
    size_t qcap, qhead, qlen;
    size_t qbytes; /* bytes of the queued stanzas */
    int request_scheduled;
    vn_timer_t resume_timer;
} sm_t;

static int sm_slot = -1;
static vn_map_t *resumable; /* resumption id -> sm_t* */

static sm_t *sm_of(vn_session_t *s)
{
    return s ? s->slot[sm_slot] : NULL;
}

static uint32_t handled(const sm_t *m)
{
    return m->s->stanzas_in - m->in_base;
}

static void send_fmt(vn_session_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_fmt(vn_session_t *s, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof(buf)) vn_session_send_raw(s, buf, (size_t)n);
}

static void q_push(sm_t *m, const char *xml, size_t len)
{
    if (m->qlen == m->qcap) {
        size_t cap = m->qcap ? m->qcap * 2 : 16;
        unacked_t *nq = vn_xmalloc(cap * sizeof(*nq));
        for (size_t i = 0; i < m->qlen; i++)
            nq[i] = m->q[(m->qhead + i) % m->qcap];
        free(m->q);
        m->q = nq;
        m->qcap = cap;
        m->qhead = 0;
    }
    unacked_t *u = &m->q[(m->qhead + m->qlen) % m->qcap];
    u->xml = vn_xstrndup(xml, len);
    u->len = len;
    m->qlen++;
    m->qbytes += len;
}

static void q_pop(sm_t *m)
{
    unacked_t *u = &m->q[m->qhead];
    m->qbytes -= u->len;
    free(u->xml);
    m->qhead = (m->qhead + 1) % m->qcap;
    m->qlen--;
}

static void sm_free(sm_t *m)
{
    if (!m) return;
    while (m->qlen)
        q_pop(m);
    free(m->q);
    if (m->id[0] && vn_map_get(resumable, m->id) == m) vn_map_del(resumable, m->id);
    vn_timer_stop(m->s->srv->loop, &m->resume_timer);
    free(m);
}

/* XEP-0198 §4: the client acknowledged h stanzas in total. */
static int acknowledge(sm_t *m, uint32_t h)
{
    uint32_t newly = h - m->out_acked; /* modulo 2^32, as the XEP says */
    if (newly > m->qlen) return -1;
    for (uint32_t i = 0; i < newly; i++)
        q_pop(m);
    m->out_acked = h;
    return 0;
}

static int parse_h(const vn_xnode_t *n, uint32_t *h)
{
    const char *v = vn_xnode_attr(n, "h");
    if (!v || !*v) return -1;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || x > 0xffffffffULL) return -1;
    *h = (uint32_t)x;
    return 0;
}

/* ---- <r/>: answer once everything before it is durable ---- */

typedef struct barrier {
    vn_work_t work;
    vn_session_t *s;
    uint32_t h;
} barrier_t;

static void barrier_done(vn_work_t *w)
{
    barrier_t *b = (barrier_t *)w;
    if (vn_session_alive(b->s) && !b->s->conn_closed)
        send_fmt(b->s, "<a xmlns='" NS_SM "' h='%u'/>", b->h);
    vn_session_unref(b->s);
    free(b);
}

static void answer_request(vn_server_t *srv, sm_t *m)
{
    barrier_t *b = vn_xcalloc(1, sizeof(*b));
    b->s = m->s;
    b->h = handled(m);
    vn_session_ref(m->s);
    /* Every earlier job, whoever's rows it wrote. */
    vn_store_barrier(srv, NULL, &b->work, barrier_done);
}

/* We ask for an acknowledgement once per batch of output. */
static void request_ack(void *arg)
{
    vn_session_t *s = arg;
    sm_t *m = sm_of(s);
    if (m) {
        m->request_scheduled = 0;
        if (m->qlen && !s->conn_closed && !s->closing)
            vn_session_send_raw(s, "<r xmlns='" NS_SM "'/>", sizeof("<r xmlns='" NS_SM "'/>") - 1);
    }
    vn_session_unref(s);
}

static vn_result_t on_sent(vn_server_t *srv, void *ctx)
{
    vn_sent_t *ev = ctx;
    sm_t *m = sm_of(ev->s);
    if (!m) return VN_PASS;
    /* Kept first, then checked: the stanza that goes past the bound is not
     * lost either; with the stream ended, all that is kept goes offline. */
    q_push(m, ev->xml, ev->len);
    m->out_sent++;
    if ((m->qlen > (size_t)srv->cfg.max_unacked || m->qbytes > srv->cfg.max_unacked_bytes) &&
        !ev->s->closing) {
        vn_info("session %llu: %zu unacknowledged stanzas (%zu bytes), ending the stream",
                ev->s->id, m->qlen, m->qbytes);
        m->request_scheduled = 1; /* no <r/> after the stream error */
        vn_session_stream_error(ev->s, "resource-constraint", "too many unacknowledged stanzas");
        return VN_PASS;
    }
    if (!m->request_scheduled && !ev->s->conn_closed) {
        m->request_scheduled = 1;
        vn_session_ref(ev->s);
        vn_loop_defer(srv->loop, request_ack, ev->s);
    }
    return VN_PASS;
}

/* ---- enable / resume ---- */

static void enable(vn_server_t *srv, vn_session_t *s, const vn_xnode_t *n)
{
    if (sm_of(s)) {
        send_fmt(s, "<failed xmlns='" NS_SM "'><unexpected-request "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
        return;
    }
    sm_t *m = vn_xcalloc(1, sizeof(*m));
    m->s = s;
    m->in_base = s->stanzas_in;
    const char *r = vn_xnode_attr(n, "resume");
    m->resume = r && (!strcmp(r, "true") || !strcmp(r, "1")) && srv->cfg.resume_timeout > 0;
    s->slot[sm_slot] = m;
    if (m->resume) {
        unsigned char rnd[18];
        RAND_bytes(rnd, sizeof(rnd));
        for (size_t i = 0; i < sizeof(rnd); i++)
            snprintf(m->id + 2 * i, 3, "%02x", rnd[i]);
        vn_map_put(resumable, m->id, m);
        send_fmt(s, "<enabled xmlns='" NS_SM "' id='%s' resume='true' max='%d'/>", m->id,
                 srv->cfg.resume_timeout);
    } else {
        send_fmt(s, "<enabled xmlns='" NS_SM "'/>");
    }
}

static void resume(vn_server_t *srv, vn_session_t *s, const vn_xnode_t *n)
{
    const char *previd = vn_xnode_attr(n, "previd");
    uint32_t h;
    sm_t *m = previd ? vn_map_get(resumable, previd) : NULL;
    vn_session_t *old = m ? m->s : NULL;
    if (parse_h(n, &h) < 0 || !old || old->closing || !old->bare || !s->bare ||
        strcmp(old->bare, s->bare) != 0) {
        send_fmt(s, "<failed xmlns='" NS_SM "'><item-not-found "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
        return;
    }
    if (acknowledge(m, h) < 0) {
        send_fmt(s,
                 "<failed xmlns='" NS_SM "' h='%u'><undefined-condition "
                 "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
                 handled(m));
        return;
    }
    uint32_t in_h = handled(m);
    vn_timer_stop(srv->loop, &m->resume_timer);
    vn_session_adopt(s, old); /* moves the slots, m among them */
    m->s = s;
    m->in_base = s->stanzas_in - in_h;
    vn_info("session %llu: resumed %s (%zu stanzas to retransmit)", s->id, s->full, m->qlen);
    send_fmt(s, "<resumed xmlns='" NS_SM "' h='%u' previd='%s'/>", in_h, m->id);
    /* Retransmit in order; they are queued (and counted) again as sent.
     * As held output they go out as fast as the client reads, not all at
     * once past the connection's output bound. */
    unacked_t *q = m->q;
    size_t qcap = m->qcap, qhead = m->qhead, qlen = m->qlen;
    m->q = NULL;
    m->qcap = m->qhead = m->qlen = 0;
    m->qbytes = 0;
    m->out_sent = m->out_acked;
    vn_buf_t list = VN_BUF_INIT;
    for (size_t i = 0; i < qlen; i++) {
        unacked_t *u = &q[(qhead + i) % qcap];
        vn_stanza_list_append(&list, u->xml, u->len);
        free(u->xml);
    }
    free(q);
    vn_session_hold_output(s);
    vn_session_release_output_after(s, &list);
    vn_buf_free(&list);
}

static vn_result_t on_nonza(vn_server_t *srv, void *ctx)
{
    vn_nonza_t *nz = ctx;
    vn_xnode_t *n = nz->node;
    if (!n->ns || strcmp(n->ns, NS_SM) != 0) return VN_PASS;
    vn_session_t *s = nz->s;
    if (s->state != VN_SS_READY) {
        /* Before bind only <resume/> makes sense (XEP-0198 §5). */
        if (!strcmp(n->name, "resume")) {
            resume(srv, s, n);
            return VN_HANDLED;
        }
        send_fmt(s, "<failed xmlns='" NS_SM "'><unexpected-request "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
        return VN_HANDLED;
    }
    sm_t *m = sm_of(s);
    if (!strcmp(n->name, "enable")) {
        enable(srv, s, n);
    } else if (!strcmp(n->name, "r")) {
        if (m)
            answer_request(srv, m);
        else
            vn_session_stream_error(s, "unsupported-stanza-type",
                                    "stream management is not enabled");
    } else if (!strcmp(n->name, "a")) {
        uint32_t h;
        if (!m) {
            vn_session_stream_error(s, "unsupported-stanza-type",
                                    "stream management is not enabled");
        } else if (parse_h(n, &h) < 0 || acknowledge(m, h) < 0) {
            vn_session_stream_error(s, "undefined-condition", "handled count too high");
        }
    } else if (!strcmp(n->name, "resume")) {
        send_fmt(s, "<failed xmlns='" NS_SM "'><unexpected-request "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
    } else {
        return VN_PASS;
    }
    return VN_HANDLED;
}

/* ---- connection loss and the end of a session ---- */

static void on_resume_timeout(vn_timer_t *t)
{
    sm_t *m = (sm_t *)((char *)t - offsetof(sm_t, resume_timer));
    vn_info("session %llu: %s was not resumed in time", m->s->id, m->s->full);
    vn_session_end_detached(m->s);
}

static vn_result_t on_conn_lost(vn_server_t *srv, void *ctx)
{
    vn_session_t *s = ctx;
    sm_t *m = sm_of(s);
    if (!m || !m->resume) return VN_PASS;
    vn_timer_start(srv->loop, &m->resume_timer, (uint64_t)srv->cfg.resume_timeout * 1000,
                   on_resume_timeout);
    return VN_HOLD;
}

/* Re-parses a queued stanza so that it can be handed to offline storage. */
typedef struct reparse {
    vn_server_t *srv;
    vn_session_t *s;
    int stored;
} reparse_t;

static void rp_open(void *ud, const char *ns, const char *name, const char *dns,
                    const vn_xattr_t *attrs)
{
    (void)ud, (void)ns, (void)name, (void)dns, (void)attrs;
}

static void rp_close(void *ud)
{
    (void)ud;
}

static void rp_stanza(void *ud, vn_xnode_t *node, vn_arena_t *arena)
{
    reparse_t *rp = ud;
    vn_stanza_t st;
    if (vn_stanza_kind_of(node) != VN_MESSAGE || vn_stanza_init(&st, node, arena) < 0) return;
    /* Only messages worth keeping: the offline module applies RFC 6121
     * (chat and normal); others (headline, groupchat, errors) are
     * transient by definition. */
    if (!vn_xnode_child(node, NULL, "body") && strcmp(st.type, "chat") != 0) return;
    vn_jid_t bare = {rp->s->jid.local, rp->s->jid.domain, NULL};
    vn_stanza_set_to(&st, &bare);
    if (!st.from.domain) return;
    /* Already accepted once: the offline quota is for new messages. */
    st.redelivery = 1;
    if (vn_hook_run(rp->srv, VN_HOOK_UNDELIVERABLE, &st) != VN_PASS) rp->stored++;
}

static void store_unacked(vn_server_t *srv, vn_session_t *s, sm_t *m)
{
    if (!m->qlen || !s->jid.local) return;
    static const vn_xml_callbacks_t cb = {rp_open, rp_stanza, rp_close};
    vn_xml_limits_t lim = {srv->cfg.max_stanza_size * 2, srv->cfg.max_depth + 2,
                           srv->cfg.max_attributes + 4};
    reparse_t rp = {srv, s, 0};
    vn_xml_parser_t *p = vn_xml_parser_new(&lim, &cb, &rp);
    static const char head[] = "<stream:stream xmlns='jabber:client' "
                               "xmlns:stream='http://etherx.jabber.org/streams'>";
    vn_xml_parser_feed(p, head, sizeof(head) - 1);
    size_t n = m->qlen;
    while (m->qlen) {
        unacked_t *u = &m->q[m->qhead];
        vn_xml_parser_feed(p, u->xml, u->len);
        q_pop(m);
    }
    vn_xml_parser_free(p);
    vn_info("session %llu: %zu unacknowledged stanzas, %d message(s) moved to offline storage",
            s->id, n, rp.stored);
}

static vn_result_t on_session_end(vn_server_t *srv, void *ctx)
{
    vn_session_t *s = ctx;
    sm_t *m = sm_of(s);
    if (!m) return VN_PASS;
    store_unacked(srv, s, m);
    s->slot[sm_slot] = NULL;
    sm_free(m);
    return VN_PASS;
}

static int init(vn_server_t *srv)
{
    (void)srv;
    sm_slot = vn_slot_alloc();
    resumable = vn_map_new();
    return 0;
}

static void fini(vn_server_t *srv)
{
    (void)srv;
    vn_map_free(resumable);
    resumable = NULL;
}

static const vn_hook_t hooks[] = {
    {VN_HOOK_NONZA, on_nonza, 0},
    {VN_HOOK_SENT, on_sent, 0},
    {VN_HOOK_CONN_LOST, on_conn_lost, 0},
    {VN_HOOK_SESSION_END, on_session_end, -50}, /* after presence went out */
    {VN_HOOK_COUNT, NULL, 0},
};

const vn_module_t vn_mod_sm = {
    .name = "sm",
    .stream_features = "<sm xmlns='" NS_SM "'/>",
    .hooks = hooks,
    .init = init,
    .fini = fini,
};

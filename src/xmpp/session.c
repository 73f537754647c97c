#include "xmpp/session.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "xmpp/module.h"
#include "xmpp/router.h"
#include "xmpp/sasl.h"

#define SEND_LIT(s, lit) vn_session_send_raw((s), (lit), sizeof(lit) - 1)

static void on_data(vn_conn_t *c, const char *data, size_t len);
static void on_tls_ready(vn_conn_t *c);
static void on_closed(vn_conn_t *c, const char *reason);
static void on_overflow(vn_conn_t *c, const char *why);
static void on_drained(vn_conn_t *c);
static void on_stream_open(void *ud, const char *ns, const char *name, const char *default_ns,
                           const vn_xattr_t *attrs);
static void on_stanza(void *ud, vn_xnode_t *node, vn_arena_t *arena);
static void on_stream_close(void *ud);

static const vn_conn_handler_t conn_handler = {on_data, on_tls_ready, on_closed, on_overflow,
                                               on_drained};
static const vn_xml_callbacks_t xml_callbacks = {on_stream_open, on_stanza, on_stream_close};

static void on_auth_timeout(vn_timer_t *t);
static void maybe_throttle(vn_session_t *s, uint64_t submits_before);

vn_session_t *vn_session_new(vn_server_t *srv, int fd, int direct_tls, const char *peer)
{
    vn_session_t *s = vn_xcalloc(1, sizeof(*s));
    s->srv = srv;
    s->refs = 1; /* the connection's own reference */
    s->direct_tls = direct_tls ? 1 : 0;
    s->domain_idx = -1;
    s->id = ++srv->next_id;
    vn_conn_init(&s->conn, srv->loop, fd, &conn_handler);
    vn_conn_set_limits(&s->conn, &srv->preauth_limits);
    snprintf(s->conn.peer, sizeof(s->conn.peer), "%s", peer);
    vn_xml_limits_t lim = {srv->cfg.max_stanza_size, srv->cfg.max_depth, srv->cfg.max_attributes};
    s->parser = vn_xml_parser_new(&lim, &xml_callbacks, s);
    s->next_all = srv->all_sessions;
    if (srv->all_sessions) srv->all_sessions->prev_all = s;
    srv->all_sessions = s;
    srv->nsessions++;
    vn_timer_start(srv->loop, &s->timer, (uint64_t)srv->cfg.auth_timeout * 1000, on_auth_timeout);
    if (direct_tls) vn_conn_start_tls(&s->conn, srv->tls);
    return s;
}

static void session_free(void *arg)
{
    vn_session_t *s = arg;
    vn_server_t *srv = s->srv;
    vn_timer_stop(srv->loop, &s->timer);
    vn_conn_release(&s->conn);
    if (s->parser) vn_xml_parser_free(s->parser);
    vn_sasl_free(s);
    vn_jid_clear(&s->jid);
    free(s->bind_id);
    vn_buf_free(&s->held);
    free(s->bare);
    free(s->full);
    free(s->lang);
    if (s->prev_all)
        s->prev_all->next_all = s->next_all;
    else
        srv->all_sessions = s->next_all;
    if (s->next_all) s->next_all->prev_all = s->prev_all;
    srv->nsessions--;
    free(s);
}

void vn_session_ref(vn_session_t *s)
{
    s->refs++;
}

void vn_session_unref(vn_session_t *s)
{
    if (--s->refs == 0) vn_loop_defer(s->srv->loop, session_free, s);
}

int vn_session_alive(const vn_session_t *s)
{
    return !s->closing && (!s->conn_closed || s->detached);
}

void vn_session_send_raw(vn_session_t *s, const char *xml, size_t len)
{
    if (s->conn_closed) return;
    vn_conn_write(&s->conn, xml, len);
}

void vn_session_hold_output(vn_session_t *s)
{
    s->output_held = 1;
}

/* Held stanzas are kept as [length][bytes] so that each is still counted
 * as one stanza (XEP-0198) when it is finally written. */

void vn_stanza_list_append(vn_buf_t *list, const char *xml, size_t len)
{
    uint32_t n = (uint32_t)len;
    vn_buf_append(list, &n, sizeof(n));
    vn_buf_append(list, xml, len);
}

/* Writes one stanza now and tells the hooks (stream management counts it). */
static void write_stanza(vn_session_t *s, const char *xml, size_t len)
{
    if (!s->conn_closed) vn_conn_write(&s->conn, xml, len);
    vn_sent_t ev = {s, xml, len};
    vn_hook_run(s->srv, VN_HOOK_SENT, &ev);
}

/* Writes held stanzas while the connection has room; the rest waits for
 * on_drained(). Without a connection (lost, or closing) everything goes
 * through the hooks at once, so stream management keeps it. */
static void pump_held(vn_session_t *s)
{
    while (s->held_off + sizeof(uint32_t) <= s->held.len) {
        if (!s->conn_closed && !s->closing && !vn_conn_has_room(&s->conn)) {
            vn_conn_want_drain(&s->conn);
            return;
        }
        uint32_t n;
        memcpy(&n, s->held.data + s->held_off, sizeof(n));
        const char *xml = s->held.data + s->held_off + sizeof(n);
        s->held_off += sizeof(n) + n;
        write_stanza(s, xml, n);
        if (!s->releasing) return; /* the session ended meanwhile */
    }
    vn_buf_free(&s->held);
    s->held_off = 0;
    s->releasing = 0;
}

static void on_drained(vn_conn_t *c)
{
    vn_session_t *s = (vn_session_t *)c;
    if (s->releasing && !s->output_held) pump_held(s);
}

void vn_session_release_output_after(vn_session_t *s, const vn_buf_t *first)
{
    if (!s->output_held) return;
    s->output_held = 0;
    if (first && first->len) {
        /* first, then whatever is still queued, in that order */
        vn_buf_t merged = VN_BUF_INIT;
        vn_buf_append(&merged, first->data, first->len);
        if (s->held.len > s->held_off)
            vn_buf_append(&merged, s->held.data + s->held_off, s->held.len - s->held_off);
        vn_buf_free(&s->held);
        s->held = merged;
        s->held_off = 0;
    }
    if (s->held.len == s->held_off) {
        vn_buf_free(&s->held);
        s->held_off = 0;
        s->releasing = 0;
        return;
    }
    /* Live stanzas may queue behind the backlog, but no further than the
     * connection's own hard bound would let them. */
    const vn_conn_limits_t *lim = s->conn.lim;
    s->held_limit =
        s->held.len - s->held_off + (lim && lim->out_hard ? lim->out_hard : SIZE_MAX / 2);
    s->releasing = 1;
    pump_held(s);
}

void vn_session_release_output(vn_session_t *s)
{
    vn_session_release_output_after(s, NULL);
}

void vn_session_send_stanza_raw(vn_session_t *s, const char *xml, size_t len)
{
    if (s->closing) return;
    if (s->output_held || s->releasing) {
        vn_stanza_list_append(&s->held, xml, len);
        if (s->releasing && !s->output_held && s->held.len - s->held_off > s->held_limit &&
            !s->conn_closed)
            vn_conn_overflow(&s->conn); /* the client does not keep up */
        return;
    }
    write_stanza(s, xml, len);
}

/* One serialisation buffer per thread, reused for every stanza. */
static __thread vn_buf_t send_buf;

void vn_session_send(vn_session_t *s, const vn_xnode_t *n)
{
    if (!vn_session_alive(s)) return;
    vn_buf_reset(&send_buf);
    vn_xnode_serialize(n, VN_NS_CLIENT, &send_buf);
    /* The hooks (and what they send) may serialise again: take the shared
     * buffer out while the stanza is in flight, and keep it for reuse
     * afterwards unless it grew large or a nested send made a new one. */
    vn_buf_t mine = send_buf;
    send_buf = (vn_buf_t)VN_BUF_INIT;
    vn_session_send_stanza_raw(s, mine.data, mine.len);
    if (mine.cap > 65536 || send_buf.data) {
        vn_buf_free(&mine);
    } else {
        send_buf = mine;
    }
}

static void send_stream_header(vn_session_t *s, const char *to_attr)
{
    vn_buf_t b = VN_BUF_INIT;
    const char *domain = s->domain_idx >= 0 ? s->srv->domains[s->domain_idx] : s->srv->domains[0];
    vn_buf_puts(&b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                    "xmlns:stream='http://etherx.jabber.org/streams' id='");
    vn_buf_puts(&b, s->stream_id);
    vn_buf_puts(&b, "' from='");
    vn_buf_append_xml_escaped(&b, domain, strlen(domain));
    vn_buf_puts(&b, "'");
    if (to_attr) {
        vn_buf_puts(&b, " to='");
        vn_buf_append_xml_escaped(&b, to_attr, strlen(to_attr));
        vn_buf_puts(&b, "'");
    }
    vn_buf_puts(&b, " version='1.0' xml:lang='en'>");
    vn_session_send_raw(s, b.data, b.len);
    vn_buf_free(&b);
    s->stream_open_sent = 1;
}

static void new_stream_id(vn_session_t *s)
{
    unsigned char r[9];
    RAND_bytes(r, sizeof(r));
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(r); i++) {
        s->stream_id[2 * i] = hex[r[i] >> 4];
        s->stream_id[2 * i + 1] = hex[r[i] & 15];
    }
    s->stream_id[2 * sizeof(r)] = '\0';
}

/* Takes the session out of the router (presence unavailable etc.). */
static void leave(vn_session_t *s)
{
    /* Held output the client never got: through the hooks, unwritten, so
     * that stream management hands it to offline storage. */
    if (s->held.len > s->held_off && s->in_router) {
        s->output_held = 0;
        s->releasing = 1;
        unsigned cc = s->conn_closed;
        s->conn_closed = 1; /* not written: the stream is ending */
        pump_held(s);
        s->conn_closed = cc;
    }
    if (s->in_router) {
        vn_hook_run(s->srv, VN_HOOK_SESSION_END, s);
        vn_router_remove(s->srv, s);
    }
}

void vn_session_close(vn_session_t *s, const char *reason)
{
    if (s->closing || s->conn_closed) return;
    s->closing = 1;
    vn_debug("session %llu closing: %s", s->id, reason);
    if (s->in_parser) vn_xml_parser_stop(s->parser);
    leave(s);
    vn_timer_stop(s->srv->loop, &s->timer);
    if (!s->stream_open_sent) send_stream_header(s, NULL);
    vn_session_release_output(s);
    vn_conn_write(&s->conn, "</stream:stream>", 16);
    vn_conn_close(&s->conn, reason);
}

void vn_session_stream_error(vn_session_t *s, const char *condition, const char *text)
{
    if (s->closing || s->conn_closed) return;
    vn_debug("session %llu stream error %s%s%s", s->id, condition, text ? ": " : "",
             text ? text : "");
    /* RFC 6120 §4.9.1.2: open the stream first if we have not yet. */
    if (!s->stream_open_sent) {
        new_stream_id(s);
        send_stream_header(s, NULL);
    }
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_printf(&b, "<stream:error><%s xmlns='" VN_NS_STREAM_ERR "'/>", condition);
    if (text) {
        vn_buf_puts(&b, "<text xmlns='" VN_NS_STREAM_ERR "'>");
        vn_buf_append_xml_escaped(&b, text, strlen(text));
        vn_buf_puts(&b, "</text>");
    }
    vn_buf_puts(&b, "</stream:error>");
    vn_session_send_raw(s, b.data, b.len);
    vn_buf_free(&b);
    vn_session_close(s, condition);
}

static void on_closed(vn_conn_t *c, const char *reason)
{
    vn_session_t *s = (vn_session_t *)c;
    s->conn_closed = 1;
    /* A backlog being written goes to the hooks (stream management) now. */
    if (s->releasing && !s->output_held) pump_held(s);
    if (!s->closing && s->state == VN_SS_READY && s->in_router &&
        vn_hook_run(s->srv, VN_HOOK_CONN_LOST, s) == VN_HOLD) {
        /* Kept for resumption: the connection's resources go now, the
         * connection's reference stays until vn_session_end_detached(). */
        vn_debug("session %llu: connection lost (%s), detached", s->id, reason);
        s->detached = 1;
        vn_timer_stop(s->srv->loop, &s->timer);
        vn_conn_release(&s->conn);
        if (!s->in_parser) {
            vn_xml_parser_free(s->parser);
            s->parser = NULL;
        }
        return;
    }
    if (!s->closing) {
        vn_debug("session %llu: connection lost: %s", s->id, reason);
        s->closing = 1;
        leave(s);
    }
    vn_timer_stop(s->srv->loop, &s->timer);
    vn_session_unref(s);
}

/* The client stopped reading its stream (net/conn.h: output bounds). A bound
 * session ends like a lost connection: with stream management it waits for
 * resumption and keeps every unacknowledged stanza, otherwise it ends and
 * its messages are in the archive. */
static void on_overflow(vn_conn_t *c, const char *why)
{
    vn_session_t *s = (vn_session_t *)c;
    if (s->closing || s->conn_closed) return;
    if (s->state != VN_SS_READY || !s->in_router) {
        vn_session_stream_error(s, "policy-violation", "the client does not read its stream");
        return;
    }
    vn_info("session %llu (%s): %s, closing the connection", s->id, s->full, why);
    static const char err[] = "<stream:error><resource-constraint xmlns='" VN_NS_STREAM_ERR
                              "'/><text xmlns='" VN_NS_STREAM_ERR
                              "'>the client does not read its stream</text></stream:error>"
                              "</stream:stream>";
    vn_conn_write(&s->conn, err, sizeof(err) - 1);
    /* Not vn_session_close(): on_closed() then decides, as for any lost
     * connection, whether the session is kept for resumption. */
    if (s->in_parser) vn_xml_parser_stop(s->parser);
    vn_conn_close(&s->conn, why);
}

void vn_session_end_detached(vn_session_t *s)
{
    if (!s->detached || s->closing) return;
    s->closing = 1;
    leave(s);
    vn_session_unref(s);
}

void vn_session_adopt(vn_session_t *s, vn_session_t *old)
{
    vn_server_t *srv = s->srv;
    /* The identity: same account (the caller checked), old resource. */
    free(s->jid.resource);
    s->jid.resource = old->jid.resource;
    old->jid.resource = NULL;
    free(s->full);
    s->full = old->full;
    old->full = NULL;
    s->available = old->available;
    s->interested = old->interested;
    s->priority = old->priority;
    memcpy(s->slot, old->slot, sizeof(s->slot));
    memset(old->slot, 0, sizeof(old->slot));
    /* Take old's place in the user's session list, silently. */
    vn_user_t *u = old->user;
    for (vn_session_t **pp = &u->sessions; *pp; pp = &(*pp)->next_of_user) {
        if (*pp == old) {
            *pp = s;
            s->next_of_user = old->next_of_user;
            break;
        }
    }
    s->user = u;
    s->in_router = 1;
    old->in_router = 0;
    old->user = NULL;
    old->next_of_user = NULL;
    old->available = 0;
    s->state = VN_SS_READY;
    vn_timer_stop(srv->loop, &s->timer);
    if (old->detached) {
        old->closing = 1;
        vn_session_unref(old);
    } else {
        /* Still connected (the client noticed the loss first): close it. */
        vn_session_stream_error(old, "conflict", "the session was resumed elsewhere");
    }
}

static void on_auth_timeout(vn_timer_t *t)
{
    vn_session_t *s = (vn_session_t *)((char *)t - offsetof(vn_session_t, timer));
    vn_session_stream_error(s, "connection-timeout", "authentication took too long");
}

static void on_idle_timer(vn_timer_t *t)
{
    vn_session_t *s = (vn_session_t *)((char *)t - offsetof(vn_session_t, timer));
    vn_session_stream_error(s, "connection-timeout", "idle");
}

/* ---- parser status handling ---- */

static const char *xml_error_condition(vn_xml_error_t e)
{
    switch (e) {
    case VN_XERR_RESTRICTED:
        return "restricted-xml";
    case VN_XERR_POLICY:
        return "policy-violation";
    case VN_XERR_BAD_FORMAT:
        return "bad-format";
    default:
        return "not-well-formed";
    }
}

static void after_parse(vn_session_t *s, vn_xml_status_t st)
{
    switch (st) {
    case VN_XML_OK:
        break;
    case VN_XML_SUSPENDED:
        vn_conn_pause(&s->conn, 1);
        break;
    case VN_XML_ERROR:
        vn_session_stream_error(s, xml_error_condition(vn_xml_parser_error(s->parser)),
                                vn_xml_parser_error_text(s->parser));
        break;
    case VN_XML_STOPPED:
        if (s->pending_restart) {
            s->pending_restart = 0;
            vn_xml_parser_reset(s->parser);
        }
        if (s->pending_tls) {
            s->pending_tls = 0;
            vn_xml_parser_reset(s->parser);
            s->state = VN_SS_HEADER;
            if (vn_conn_start_tls(&s->conn, s->srv->tls) < 0) vn_session_close(s, "TLS failed");
        }
        break;
    }
}

static void on_data(vn_conn_t *c, const char *data, size_t len)
{
    vn_session_t *s = (vn_session_t *)c;
    if (s->closing) return;
    s->last_input_ms = vn_loop_now(s->srv->loop);
    uint64_t submits = s->srv->store_submits;
    s->in_parser = 1;
    vn_xml_status_t st = vn_xml_parser_feed(s->parser, data, len);
    s->in_parser = 0;
    after_parse(s, st);
    if (s->state == VN_SS_READY) maybe_throttle(s, submits);
    if (s->state == VN_SS_READY && s->srv->cfg.idle_timeout > 0 && !s->closing)
        vn_timer_start(s->srv->loop, &s->timer, (uint64_t)s->srv->cfg.idle_timeout * 1000,
                       on_idle_timer);
}

int vn_sessions_trim_idle(vn_server_t *srv, uint64_t idle_ms)
{
    uint64_t now = vn_loop_now(srv->loop);
    int n = 0;
    for (vn_session_t *s = srv->all_sessions; s; s = s->next_all) {
        if (s->closing || !s->parser || s->state != VN_SS_READY || now - s->last_input_ms < idle_ms)
            continue;
        n += vn_xml_parser_release_idle(s->parser);
    }
    return n;
}

/* Back-pressure: when storage falls behind (every message may cause
 * archive and offline writes), stop reading from the clients whose input
 * caused storage writes until the queue drains, instead of letting it grow
 * without bound. Sessions whose input needs no storage (pings, presence to
 * nobody offline) keep being read. */
#define STORE_QUEUE_HIGH 4000
#define STORE_QUEUE_LOW 1000

static void throttle_check(vn_timer_t *t)
{
    vn_server_t *srv = (vn_server_t *)t->cb_data;
    if (vn_pool_pending(srv->store_pool) > STORE_QUEUE_LOW) {
        vn_timer_start(srv->loop, t, 2, throttle_check);
        return;
    }
    srv->store_throttling = 0;
    for (vn_session_t *s = srv->all_sessions; s; s = s->next_all)
        if (s->conn.throttled) vn_conn_throttle(&s->conn, 0);
}

static void maybe_throttle(vn_session_t *s, uint64_t submits_before)
{
    vn_server_t *srv = s->srv;
    if (srv->store_submits == submits_before || s->conn_closed ||
        vn_pool_pending(srv->store_pool) <= STORE_QUEUE_HIGH)
        return;
    vn_conn_throttle(&s->conn, 1);
    if (!srv->store_throttling) {
        srv->store_throttling = 1;
        vn_debug("storage queue above %d jobs: throttling the clients that write",
                 STORE_QUEUE_HIGH);
        srv->store_throttle_timer.cb_data = srv;
        vn_timer_start(srv->loop, &srv->store_throttle_timer, 2, throttle_check);
    }
}

void vn_session_resume(vn_session_t *s)
{
    if (!vn_session_alive(s) || s->conn_closed || !vn_xml_parser_suspended(s->parser)) return;
    vn_conn_pause(&s->conn, 0);
    uint64_t submits = s->srv->store_submits;
    s->in_parser = 1;
    vn_xml_status_t st = vn_xml_parser_resume(s->parser);
    s->in_parser = 0;
    after_parse(s, st);
    if (s->state == VN_SS_READY) maybe_throttle(s, submits);
}

static void on_tls_ready(vn_conn_t *c)
{
    vn_session_t *s = (vn_session_t *)c;
    vn_debug("session %llu: TLS established (%s)", s->id, SSL_get_version(c->ssl));
}

static void restart_stream(vn_session_t *s)
{
    s->state = VN_SS_HEADER;
    if (s->in_parser) {
        s->pending_restart = 1;
        vn_xml_parser_stop(s->parser);
    } else {
        vn_xml_parser_reset(s->parser);
        vn_conn_pause(&s->conn, 0);
    }
}

void vn_session_auth_succeeded(vn_session_t *s, const char *local)
{
    const char *domain = s->srv->domains[s->domain_idx];
    s->jid.local = vn_xstrdup(local);
    s->jid.domain = vn_xstrdup(domain);
    size_t n = strlen(local) + strlen(domain) + 2;
    s->bare = vn_xmalloc(n);
    snprintf(s->bare, n, "%s@%s", local, domain);
    vn_info("session %llu: %s authenticated from %s", s->id, s->bare, s->conn.peer);
    vn_conn_set_limits(&s->conn, &s->srv->c2s_limits);
    s->state = VN_SS_AUTHED; /* the header handler checks this after restart */
    restart_stream(s);
    s->state = VN_SS_AUTHED;
}

/* ---- stream header and features (RFC 6120 §4.2, §4.3) ---- */

static void send_features(vn_session_t *s)
{
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_puts(&b, "<stream:features>");
    if (!vn_conn_is_tls(&s->conn)) {
        vn_buf_puts(&b, "<starttls xmlns='" VN_NS_TLS "'><required/></starttls>");
    } else if (!s->bare) {
        vn_sasl_features(s, &b);
    } else {
        vn_buf_puts(&b, "<bind xmlns='" VN_NS_BIND "'/>"
                        "<session xmlns='" VN_NS_SESSION "'><optional/></session>");
        vn_buf_puts(&b, vn_stream_features_xml());
    }
    vn_buf_puts(&b, "</stream:features>");
    vn_session_send_raw(s, b.data, b.len);
    vn_buf_free(&b);
}

static void on_stream_open(void *ud, const char *ns, const char *name, const char *default_ns,
                           const vn_xattr_t *attrs)
{
    vn_session_t *s = ud;
    const char *to = NULL, *from = NULL, *version = NULL;
    for (const vn_xattr_t *a = attrs; a; a = a->next) {
        if (a->ns) continue;
        if (!strcmp(a->name, "to"))
            to = a->value;
        else if (!strcmp(a->name, "from"))
            from = a->value;
        else if (!strcmp(a->name, "version"))
            version = a->value;
    }
    new_stream_id(s);
    free(s->lang); /* RFC 6120 §4.7.4: the default language of what follows */
    s->lang = vn_stream_lang(attrs);
    /* RFC 6120 §4.7.1: a 'from' we echo back as 'to' only when it is a JID. */
    vn_jid_t fj;
    vn_arena_t *tmp = vn_arena_new(512);
    int from_ok = from && vn_jid_parse(from, strlen(from), &fj, tmp) == 0;
    if (to) {
        char *d = NULL;
        if (vn_jid_prep_domain(to, strlen(to), &d, tmp) == 0) {
            int idx = vn_server_domain_index(s->srv, d);
            if (idx >= 0 && s->domain_idx >= 0 && idx != s->domain_idx) idx = -1;
            s->domain_idx = idx;
        } else {
            s->domain_idx = -1;
        }
    }
    send_stream_header(s, from_ok ? from : NULL);
    vn_arena_free(tmp);
    if (strcmp(ns, VN_NS_STREAMS) != 0 || strcmp(name, "stream") != 0) {
        vn_session_stream_error(s, "invalid-namespace", NULL);
        return;
    }
    if (strcmp(default_ns, VN_NS_CLIENT) != 0) {
        vn_session_stream_error(s, "invalid-namespace",
                                "the default namespace must be jabber:client");
        return;
    }
    if (!to) {
        vn_session_stream_error(s, "host-unknown", "the stream header has no 'to'");
        return;
    }
    if (s->domain_idx < 0) {
        vn_session_stream_error(s, "host-unknown", "this server does not serve that domain");
        return;
    }
    if (!version || strncmp(version, "1.", 2) != 0) {
        vn_session_stream_error(s, "unsupported-version", NULL);
        return;
    }
    if (s->state == VN_SS_HEADER) s->state = s->bare ? VN_SS_AUTHED : VN_SS_FEATURES;
    send_features(s);
}

static void on_stream_close(void *ud)
{
    vn_session_t *s = ud;
    vn_session_close(s, "client closed the stream");
}

/* ---- stanzas ---- */

static int is(const vn_xnode_t *n, const char *ns, const char *name)
{
    return n->ns && strcmp(n->ns, ns) == 0 && strcmp(n->name, name) == 0;
}

static void send_iq_error(vn_session_t *s, vn_xnode_t *node, vn_arena_t *arena, const char *type,
                          const char *cond)
{
    vn_stanza_t st;
    memset(&st, 0, sizeof(st));
    st.node = node;
    st.arena = arena;
    st.kind = VN_IQ;
    const char *t = vn_xnode_attr(node, "type");
    st.type = t ? t : "";
    vn_stanza_t *r = vn_stanza_error_reply(&st, type, cond, NULL);
    if (r) vn_session_send(s, r->node);
}

/* RFC 6120 §7: resource binding. */
static void handle_bind(vn_session_t *s, vn_xnode_t *node, vn_arena_t *arena)
{
    const char *type = vn_xnode_attr(node, "type");
    vn_xnode_t *bind = vn_xnode_child(node, VN_NS_BIND, "bind");
    if (!type || strcmp(type, "set") != 0 || !bind || !vn_xnode_attr(node, "id")) {
        vn_xnode_t *sess = vn_xnode_child(node, VN_NS_SESSION, "session");
        (void)sess;
        send_iq_error(s, node, arena, "cancel", "not-allowed");
        return;
    }
    char *resource = NULL;
    vn_xnode_t *rn = vn_xnode_child(bind, VN_NS_BIND, "resource");
    if (rn) {
        char *text = vn_xnode_text(arena, rn);
        if (text[0] && vn_jid_prep_resource(text, strlen(text), &resource, arena) < 0) {
            send_iq_error(s, node, arena, "modify", "bad-request");
            return;
        }
        if (!text[0]) resource = NULL;
    }
    char gen[32];
    if (!resource) {
        unsigned char r[8];
        RAND_bytes(r, sizeof(r));
        snprintf(gen, sizeof(gen), "vn-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
                 r[4], r[5], r[6], r[7]);
        resource = gen;
    }
    s->jid.resource = vn_xstrdup(resource);
    s->full = vn_xmalloc(strlen(s->bare) + strlen(resource) + 2);
    sprintf(s->full, "%s/%s", s->bare, resource);
    /* RFC 6120 §7.7.2.2: the new session wins; the old one is told why. */
    vn_session_t *old = vn_router_session(s->srv, &s->jid);
    if (old) vn_session_stream_error(old, "conflict", "replaced by a new session");
    vn_router_add(s->srv, s);
    /* Keep the request's id for the reply. */
    const char *id = vn_xnode_attr(node, "id");
    s->bind_id = vn_xstrdup(id);
    int holds = 0;
    if (vn_hook_run_counted(s->srv, VN_HOOK_BIND, s, &holds) == VN_HOLD && holds > 0) {
        /* Several modules may load state before the result (roster,
         * blocklist): the last one to finish completes the bind. */
        s->bind_holds = holds;
        s->bind_held = 1;
        vn_xml_parser_suspend(s->parser);
        return;
    }
    vn_session_bind_done(s);
}

void vn_session_bind_done(vn_session_t *s)
{
    if (s->bind_holds > 1) {
        s->bind_holds--;
        return;
    }
    s->bind_holds = 0;
    char *id = s->bind_id;
    s->bind_id = NULL;
    if (vn_session_alive(s)) {
        s->state = VN_SS_READY;
        vn_buf_t b = VN_BUF_INIT;
        vn_buf_puts(&b, "<iq type='result' id='");
        vn_buf_append_xml_escaped(&b, id, strlen(id));
        vn_buf_puts(&b, "'><bind xmlns='" VN_NS_BIND "'><jid>");
        vn_buf_append_xml_escaped(&b, s->full, strlen(s->full));
        vn_buf_puts(&b, "</jid></bind></iq>");
        vn_session_send_raw(s, b.data, b.len);
        vn_buf_free(&b);
        vn_info("session %llu: bound %s", s->id, s->full);
        if (s->srv->cfg.idle_timeout > 0)
            vn_timer_start(s->srv->loop, &s->timer, (uint64_t)s->srv->cfg.idle_timeout * 1000,
                           on_idle_timer);
        else
            vn_timer_stop(s->srv->loop, &s->timer);
    }
    free(id);
    if (s->bind_held) {
        s->bind_held = 0;
        vn_session_resume(s);
    }
}

static void handle_client_stanza(vn_session_t *s, vn_xnode_t *node, vn_arena_t *arena)
{
    s->stanzas_in++;
    vn_stanza_t st;
    memset(&st, 0, sizeof(st));
    st.node = node;
    st.arena = arena;
    st.kind = vn_stanza_kind_of(node);
    st.origin = s;
    const char *type = vn_xnode_attr(node, "type");
    st.type = type ? type : "";
    vn_stanza_default_lang(node, arena, s->lang); /* RFC 6120 §4.7.4 */
    vn_stanza_set_from(&st, &s->jid);
    const char *to = vn_xnode_attr(node, "to");
    if (to) {
        if (vn_jid_parse(to, strlen(to), &st.to, arena) < 0) {
            vn_stanza_t *r = vn_stanza_error_reply(&st, "modify", "jid-malformed", NULL);
            if (r) {
                vn_xnode_set_attr(arena, r->node, "from", NULL);
                vn_session_send(s, r->node);
            }
            return;
        }
        /* Normalise the address as written on the wire too. */
        vn_xnode_set_attr(arena, node, "to", vn_jid_full_str(&st.to, arena));
    }
    if (st.kind == VN_IQ) {
        /* RFC 6120 §8.2.3: an IQ has an id and one of four types. */
        int ok = vn_xnode_attr(node, "id") != NULL;
        if (strcmp(st.type, "get") && strcmp(st.type, "set") && strcmp(st.type, "result") &&
            strcmp(st.type, "error"))
            ok = 0;
        if (!ok) {
            vn_stanza_t *r = vn_stanza_error_reply(&st, "modify", "bad-request", NULL);
            if (r) vn_session_send(s, r->node);
            return;
        }
        /* Legacy session establishment (RFC 3921 §3): accept and succeed. */
        if (!strcmp(st.type, "set") && vn_xnode_child(node, VN_NS_SESSION, "session") &&
            (!to || vn_server_domain_index(s->srv, st.to.domain) >= 0) && !st.to.local) {
            vn_stanza_t *r = vn_stanza_iq_result(&st);
            vn_xnode_set_attr(arena, r->node, "from", NULL);
            vn_session_send(s, r->node);
            return;
        }
    }
    vn_result_t r = vn_hook_run(s->srv, VN_HOOK_FROM_CLIENT, &st);
    if (r == VN_HOLD) {
        vn_xml_parser_suspend(s->parser);
        return;
    }
    /* VN_HANDLED: a module took the stanza (presence broadcast, a refusal). */
    if (r == VN_PASS && st.node) vn_route(s->srv, &st);
}

static void on_stanza(void *ud, vn_xnode_t *node, vn_arena_t *arena)
{
    vn_session_t *s = ud;
    if (s->closing) return;
    switch (s->state) {
    case VN_SS_HEADER:
        vn_session_stream_error(s, "not-well-formed", NULL);
        return;
    case VN_SS_FEATURES:
        if (!vn_conn_is_tls(&s->conn)) {
            if (is(node, VN_NS_TLS, "starttls")) {
                SEND_LIT(s, "<proceed xmlns='" VN_NS_TLS "'/>");
                s->pending_tls = 1;
                vn_xml_parser_stop(s->parser);
                return;
            }
            if (node->ns && strcmp(node->ns, VN_NS_SASL) == 0) {
                /* RFC 6120 §6.4.3 / §5.3.1: TLS first. */
                SEND_LIT(s, "<failure xmlns='" VN_NS_SASL "'><encryption-required/></failure>");
                return;
            }
            vn_session_stream_error(s, "policy-violation", "TLS is required");
            return;
        }
        if (node->ns && strcmp(node->ns, VN_NS_SASL) == 0) {
            if (vn_sasl_handle(s, node, arena) == VN_HOLD) vn_xml_parser_suspend(s->parser);
            return;
        }
        vn_session_stream_error(s, "not-authorized", NULL);
        return;
    case VN_SS_AUTHED:
        if (vn_stanza_kind_of(node) == VN_OTHER) {
            vn_nonza_t nz = {s, node, arena};
            if (vn_hook_run(s->srv, VN_HOOK_NONZA, &nz) != VN_PASS) return;
        }
        if (vn_stanza_kind_of(node) == VN_IQ && vn_xnode_child(node, VN_NS_BIND, "bind")) {
            handle_bind(s, node, arena);
            return;
        }
        if (vn_stanza_kind_of(node) == VN_IQ) {
            send_iq_error(s, node, arena, "wait", "not-authorized");
            return;
        }
        vn_session_stream_error(s, "not-authorized", "bind a resource first");
        return;
    case VN_SS_READY:
        if (vn_stanza_kind_of(node) == VN_OTHER) {
            vn_nonza_t nz = {s, node, arena};
            vn_result_t r = vn_hook_run(s->srv, VN_HOOK_NONZA, &nz);
            if (r == VN_HOLD) vn_xml_parser_suspend(s->parser);
            if (r == VN_PASS) vn_session_stream_error(s, "unsupported-stanza-type", NULL);
            return;
        }
        handle_client_stanza(s, node, arena);
        return;
    }
}

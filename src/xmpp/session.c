#include "xmpp/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "xmpp/admission.h"
#include "xmpp/module.h"
#include "xmpp/router.h"
#include "xmpp/sasl.h"
#include "xmpp/session_priv.h"
#include "xmpp/stream.h"

static void on_data(vn_conn_t *c, const char *data, size_t len);
static void on_tls_ready(vn_conn_t *c);
static void on_closed(vn_conn_t *c, const char *reason);
static void on_overflow(vn_conn_t *c, const char *why);

static const vn_conn_handler_t conn_handler = {on_data, on_tls_ready, on_closed, on_overflow,
                                               vn_session_on_drained};
/* The stream (stream.c) and what the client says on it (c2s.c). */
static const vn_xml_callbacks_t xml_callbacks = {vn_stream_on_open, vn_c2s_on_stanza,
                                                 vn_stream_on_close};

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
    s->framing = &vn_framing_rfc6120;
    vn_conn_init(&s->conn, srv->loop, fd, &conn_handler);
    vn_conn_set_limits(&s->conn, &srv->preauth_limits);
    snprintf(s->conn.peer, sizeof(s->conn.peer), "%s", peer);
    /* Before authentication nothing needs a large stanza (a SASL <auth/> or
     * <response/> with SCRAM and channel binding is a few hundred bytes, a
     * stream header and STARTTLS less), so an unauthenticated connection may
     * hold only max_stanza_size_preauth of unfinished stanza; the full limit
     * applies from the stream restart after SASL success. Exceeding either is
     * <policy-violation/> (RFC 6120 §4.9.3.14). */
    vn_xml_limits_t lim = {srv->cfg.max_stanza_size_preauth, srv->cfg.max_depth,
                           srv->cfg.max_attributes};
    s->parser = vn_xml_parser_new(&lim, &xml_callbacks, s);
    s->next_all = srv->all_sessions;
    if (srv->all_sessions) srv->all_sessions->prev_all = s;
    srv->all_sessions = s;
    srv->nsessions++;
    vn_admission_preauth_add(srv, s);
    vn_timer_start(srv->loop, &s->timer, (uint64_t)srv->cfg.auth_timeout * 1000, on_auth_timeout);
    if (direct_tls) vn_conn_start_tls(&s->conn, srv->tls);
    return s;
}

static void session_free(void *arg)
{
    vn_session_t *s = arg;
    vn_server_t *srv = s->srv;
    vn_timer_stop(srv->loop, &s->timer);
    vn_admission_conn_closed(srv, s); /* (done already unless it never closed) */
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

/* Takes the session out of the router (presence unavailable etc.). */
static void leave(vn_session_t *s)
{
    /* Held output the client never got: through the hooks, unwritten, so
     * that stream management hands it to offline storage. */
    if (s->in_router) vn_session_held_to_hooks(s);
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
    if (!s->stream_open_sent) vn_stream_send_header(s, NULL);
    vn_session_release_output(s);
    vn_stream_send_close(s);
    vn_conn_close(&s->conn, reason);
}

void vn_session_stream_error(vn_session_t *s, const char *condition, const char *text)
{
    if (s->closing || s->conn_closed) return;
    vn_debug("session %llu stream error %s%s%s", s->id, condition, text ? ": " : "",
             text ? text : "");
    vn_stream_send_error(s, condition, text);
    vn_session_close(s, condition);
}

void vn_session_shed(vn_session_t *s, const char *condition, const char *text)
{
    if (s->conn_closed) return;
    vn_session_stream_error(s, condition, text); /* a no-op if already closing */
    vn_conn_abort(&s->conn, condition);
}

static void on_closed(vn_conn_t *c, const char *reason)
{
    vn_session_t *s = (vn_session_t *)c;
    s->conn_closed = 1;
    /* A backlog being written goes to the hooks (stream management) now. */
    if (s->releasing && !s->output_held) vn_session_pump_held(s);
    vn_admission_conn_closed(s->srv, s);
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
    vn_stream_send_error(s, "resource-constraint", "the client does not read its stream");
    vn_stream_send_close(s);
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

void vn_session_arm_idle_timer(vn_session_t *s)
{
    if (s->srv->cfg.idle_timeout > 0)
        vn_timer_start(s->srv->loop, &s->timer, (uint64_t)s->srv->cfg.idle_timeout * 1000,
                       on_idle_timer);
    else
        vn_timer_stop(s->srv->loop, &s->timer);
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
    vn_debug("session %llu: TLS established (%s)", s->id, vn_conn_tls_version(c));
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
    vn_admission_authenticated(s->srv, s); /* never shed for descriptors from now on */
    /* RFC 6120 §6.4.6: the stream restarts; the restarted one may carry
     * full-size stanzas. */
    vn_xml_limits_t lim = {s->srv->cfg.max_stanza_size, s->srv->cfg.max_depth,
                           s->srv->cfg.max_attributes};
    vn_xml_parser_set_limits(s->parser, &lim);
    s->state = VN_SS_AUTHED; /* the header handler checks this after restart */
    restart_stream(s);
    s->state = VN_SS_AUTHED;
}

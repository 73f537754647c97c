#include "net/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "net/conn_priv.h"
#include "net/transport.h"

/* One read buffer per thread: connections hold no read buffer while idle. */
static __thread char read_buf[16384];
/* Output accounting of this thread's connections (one loop per thread). */
static __thread vn_net_stats_t stats;

/* A close whose output cannot drain (the peer does not read) is forced
 * after this long; then, output done, we wait this long for the peer's
 * close before we close ourselves. */
#define CLOSE_DEADLINE_MS 5000
#define LINGER_MS 2000

/* Descriptors held by connections (for the descriptor budget). */
static int open_conns;

int vn_conn_open_count(void)
{
    return open_conns;
}

static void on_io(vn_io_t *io, uint32_t events);
static void do_flush(void *arg);
static void flush_now(vn_conn_t *c);
static void on_timer(vn_timer_t *t);

void vn_net_set_output_budget(uint64_t bytes)
{
    stats.out_budget = bytes;
}

const vn_net_stats_t *vn_net_stats(void)
{
    return &stats;
}

static int reading_allowed(const vn_conn_t *c)
{
    return !c->read_paused && !c->throttled && !c->out_full && !c->shaped;
}

static void update_events(vn_conn_t *c)
{
    if (c->released || c->io.fd < 0) return;
    uint32_t ev = 0;
    if (reading_allowed(c) || c->handshaking || c->lingering) ev |= EPOLLIN;
    if ((c->out.len > 0 && !c->handshaking && !c->lingering) || c->read_wants_write) ev |= EPOLLOUT;
    if ((c->handshaking && c->hs_want_write) || c->connecting) ev |= EPOLLOUT;
    vn_io_set(c->loop, &c->io, ev);
}

/* Every change to the queue goes through these two, so that the process
 * total stays exact. */
static void out_append(vn_conn_t *c, const void *data, size_t len)
{
    vn_outq_append(&c->out, data, len);
    stats.out_bytes += len;
}

static void out_consume(vn_conn_t *c, size_t n)
{
    size_t before = c->out.len;
    vn_outq_consume(&c->out, n);
    stats.out_bytes -= before - c->out.len;
}

static void out_drop(vn_conn_t *c)
{
    stats.out_bytes -= c->out.len;
    vn_outq_free(&c->out);
    c->tls_retry = 0;
}

static void set_out_full(vn_conn_t *c, int on)
{
    if ((int)c->out_full == on) return;
    c->out_full = on ? 1 : 0;
    if (on)
        stats.out_paused++;
    else
        stats.out_paused--;
}

static void report_closed(vn_conn_t *c, const char *reason)
{
    if (c->closed) return;
    c->closed = 1;
    set_out_full(c, 0);
    vn_timer_stop(c->loop, &c->timer);
    vn_timer_stop(c->loop, &c->shape_timer);
    vn_io_stop(c->loop, &c->io);
    c->h->closed(c, reason);
}

void vn_conn_init(vn_conn_t *c, vn_loop_t *loop, int fd, const vn_conn_handler_t *h)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->h = h;
    c->tokens_ms = vn_loop_now(loop);
    c->tp = &vn_transport_tcp;
    if (fd >= 0) open_conns++;
    vn_io_start(loop, &c->io, fd, EPOLLIN, on_io);
}

int vn_conn_connect(vn_conn_t *c, vn_loop_t *loop, const struct sockaddr *sa, socklen_t salen,
                    const vn_conn_handler_t *h)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, sa, salen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    vn_conn_init(c, loop, fd, h);
    c->outgoing = 1;
    c->connecting = 1;
    update_events(c);
    return 0;
}

/* The non-blocking connect() finished: writable means done, SO_ERROR says
 * how. */
static void connect_done(vn_conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    c->connecting = 0;
    if (err) {
        report_closed(c, strerror(err));
        return;
    }
    update_events(c);
    c->h->connected(c);
}

void vn_conn_set_limits(vn_conn_t *c, const vn_conn_limits_t *lim)
{
    c->lim = lim;
    c->tokens = lim ? (int64_t)lim->burst : 0;
    c->tokens_ms = vn_loop_now(c->loop);
}

int vn_conn_is_tls(const vn_conn_t *c)
{
    return c->tp == &vn_transport_tls && !c->handshaking;
}

size_t vn_conn_channel_binding(const vn_conn_t *c, vn_cb_type_t type, uint8_t *out)
{
    return c->handshaking ? 0 : c->tp->channel_binding(c, type, out);
}

const char *vn_conn_tls_version(const vn_conn_t *c)
{
    return c->handshaking ? NULL : c->tp->version(c);
}

static void handshake(vn_conn_t *c)
{
    int want_write;
    int r = vn_tls_conn_handshake(c, &want_write);
    if (r == 1) {
        c->handshaking = 0;
        c->hs_want_write = 0;
        update_events(c);
        c->h->tls_ready(c);
        return;
    }
    if (r == 0) {
        c->hs_want_write = want_write ? 1 : 0;
        update_events(c);
        return;
    }
    /* OpenSSL may have queued an alert: let it out, then linger. */
    c->tp = &vn_transport_tcp;
    c->handshaking = 0;
    c->hs_want_write = 0;
    c->closing = 1;
    out_drop(c);
    vn_timer_start(c->loop, &c->timer, CLOSE_DEADLINE_MS, on_timer);
    flush_now(c);
}

static void begin_tls(vn_conn_t *c)
{
    c->tls_pending = 0;
    SSL_CTX *ctx = c->tls_ctx_pending;
    c->tls_ctx_pending = NULL;
    if (vn_tls_conn_begin(c, ctx, !c->outgoing, c->tls_sni) < 0) {
        vn_transport_tls.release(c);
        report_closed(c, "TLS setup failed");
        return;
    }
    c->tp = &vn_transport_tls;
    c->handshaking = 1;
    handshake(c);
}

static int start_tls(vn_conn_t *c, SSL_CTX *ctx)
{
    if (c->tp == &vn_transport_tls || c->tls_pending || c->closed) return -1;
    c->tls_ctx_pending = ctx;
    c->tls_pending = 1;
    if (c->out.len > 0) {
        do_flush(c); /* <proceed/> must go out in the clear first; */
        if (c->closed) return -1;
        return 0; /* flush_now began TLS once drained, or will */
    }
    begin_tls(c);
    return 0;
}

int vn_conn_start_tls(vn_conn_t *c, SSL_CTX *ctx)
{
    return start_tls(c, ctx);
}

int vn_conn_start_tls_client(vn_conn_t *c, SSL_CTX *ctx, const char *sni)
{
    free(c->tls_sni);
    c->tls_sni = sni ? vn_xstrdup(sni) : NULL;
    return start_tls(c, ctx);
}

static void on_timer(vn_timer_t *t)
{
    vn_conn_t *c = (vn_conn_t *)((char *)t - offsetof(vn_conn_t, timer));
    if (c->stalling) {
        /* Output stayed above out_max for out_stall_ms. */
        c->stalling = 0;
        c->overflowed = 1;
        do_flush(c);
        return;
    }
    if (!c->lingering) {
        stats.close_timeouts++;
        vn_debug("%s: output not drained at close, closing anyway", c->peer);
    }
    report_closed(c, "closed");
}

/* Back-pressure and bounds, after the queue changed. Cheap: called on every
 * write. Overflow itself is handled in do_flush (deferred), never here. */
static void check_bounds(vn_conn_t *c)
{
    const vn_conn_limits_t *lim = c->lim;
    if (!lim || c->closing || c->closed) return;
    size_t len = c->out.len;
    /* A bound of 0 is no bound. */
    if ((lim->out_hard && len > lim->out_hard) ||
        (stats.out_budget && stats.out_bytes > stats.out_budget && len > lim->out_high)) {
        c->overflowed = 1;
        return;
    }
    if (lim->out_high && len > lim->out_high && !c->out_full) {
        set_out_full(c, 1);
        update_events(c);
    } else if (c->out_full && len <= lim->out_high / 2) {
        set_out_full(c, 0);
        update_events(c); /* flush_now resumes TLS data already decrypted */
    }
    if (lim->out_max && len > lim->out_max) {
        if (!c->stalling) {
            c->stalling = 1;
            vn_timer_start(c->loop, &c->timer, lim->out_stall_ms, on_timer);
        }
    } else if (c->stalling) {
        c->stalling = 0;
        vn_timer_stop(c->loop, &c->timer);
    }
}

static void resume_read(void *arg);

int vn_conn_has_room(const vn_conn_t *c)
{
    return !c->lim || !c->lim->out_high || c->out.len < c->lim->out_high / 2;
}

void vn_conn_want_drain(vn_conn_t *c)
{
    c->want_drain = 1;
}

/* Writes as much of the output as the socket takes. */
static void flush_now(vn_conn_t *c)
{
    int was_full = c->out_full;
    while (c->out.len > 0) {
        const char *why = "write error";
        ssize_t n = c->tp->write(c, &why);
        if (n < 0) {
            report_closed(c, why);
            return;
        }
        if (n == 0) break;
        c->bytes_out += (uint64_t)n;
        out_consume(c, (size_t)n);
    }
    check_bounds(c);
    if (c->want_drain && !c->closing && vn_conn_has_room(c)) {
        c->want_drain = 0;
        c->h->drained(c); /* may write more: flushed on the next round */
        if (c->closed) return;
    }
    if (was_full && !c->out_full && reading_allowed(c) && c->tp->pending(c))
        vn_loop_defer(c->loop, resume_read, c);
    if (c->out.len == 0) {
        if (c->tls_pending) {
            begin_tls(c);
            return;
        }
        if (c->closing && !c->lingering) {
            c->tp->shutdown(c);
            shutdown(c->io.fd, SHUT_WR);
            /* Closing a socket with unread input makes the kernel send a
             * reset, which can destroy the stream error we just wrote: read
             * and discard until the peer closes too, for a short while. */
            c->lingering = 1;
            c->read_paused = 0;
            update_events(c);
            vn_timer_start(c->loop, &c->timer, LINGER_MS, on_timer);
            return;
        }
    }
    update_events(c);
}

static void do_flush(void *arg)
{
    vn_conn_t *c = arg;
    c->flush_scheduled = 0;
    if (c->closed || c->released || c->handshaking) return;
    if (c->overflowed && !c->closing) {
        /* The peer is not reading: what is queued will not reach it in
         * time. Drop it now (that is the memory) and let the owner end the
         * stream; stream management keeps the stanzas themselves. */
        c->overflowed = 0;
        stats.out_overflows++;
        size_t dropped = c->out.len;
        out_drop(c);
        if (c->stalling) {
            c->stalling = 0;
            vn_timer_stop(c->loop, &c->timer);
        }
        set_out_full(c, 0);
        vn_info("%s: output not read (%zu bytes queued), ending the stream", c->peer, dropped);
        c->h->overflow(c, "output not read");
        if (c->closed) return;
    }
    flush_now(c);
}

static void schedule_flush(vn_conn_t *c)
{
    if (!c->flush_scheduled) {
        c->flush_scheduled = 1;
        vn_loop_defer(c->loop, do_flush, c);
    }
}

void vn_conn_overflow(vn_conn_t *c)
{
    if (c->closed || c->closing) return;
    c->overflowed = 1;
    schedule_flush(c);
}

void vn_conn_write(vn_conn_t *c, const void *data, size_t len)
{
    if (c->closed || c->closing || c->overflowed) return;
    out_append(c, data, len);
    check_bounds(c);
    schedule_flush(c);
}

static void on_shape_timer(vn_timer_t *t);

/* Input shaping: a token bucket of lim->burst bytes refilled at lim->rate
 * bytes per second. Returns 0 when reading must wait. */
static int shape_allows(vn_conn_t *c)
{
    const vn_conn_limits_t *lim = c->lim;
    if (!lim || !lim->rate) return 1;
    uint64_t now = vn_loop_now(c->loop);
    if (now > c->tokens_ms) {
        c->tokens += (int64_t)((now - c->tokens_ms) * lim->rate / 1000);
        if (c->tokens > (int64_t)lim->burst) c->tokens = (int64_t)lim->burst;
        c->tokens_ms = now;
    }
    if (c->tokens > 0) return 1;
    uint64_t wait = (uint64_t)(1 - c->tokens) * 1000 / lim->rate + 1;
    c->shaped = 1;
    stats.shaped_pauses++;
    update_events(c);
    vn_timer_start(c->loop, &c->shape_timer, wait, on_shape_timer);
    return 0;
}

static void read_some(vn_conn_t *c)
{
    /* A few reads per wake-up, then yield to other connections; level-
     * triggered epoll brings us back for the rest. */
    for (int i = 0; i < 4 && reading_allowed(c) && !c->closed && !c->closing; i++) {
        if (!shape_allows(c)) return;
        const char *why = "read error";
        ssize_t n = c->tp->read(c, read_buf, sizeof(read_buf), &why);
        if (n < 0) {
            report_closed(c, why);
            return;
        }
        if (n == 0) {
            if (c->read_wants_write) update_events(c);
            return;
        }
        c->bytes_in += (uint64_t)n;
        c->tokens -= n;
        c->h->data(c, read_buf, (size_t)n);
        /* STARTTLS: the rest of this read predates the handshake; drop it. */
        if (c->tls_pending || c->handshaking) return;
    }
}

static void on_io(vn_io_t *io, uint32_t events)
{
    vn_conn_t *c = (vn_conn_t *)io;
    if (c->closed || c->released) return;
    if (c->connecting) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) connect_done(c);
        return;
    }
    if (c->lingering) {
        ssize_t n = recv(c->io.fd, read_buf, sizeof(read_buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) report_closed(c, "closed");
        return;
    }
    if (c->handshaking) {
        handshake(c);
        return;
    }
    if (events & EPOLLOUT) {
        if (c->read_wants_write) {
            c->read_wants_write = 0;
            read_some(c);
            if (c->closed) return;
        }
        flush_now(c);
        if (c->closed) return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (!reading_allowed(c)) {
            if (events & (EPOLLHUP | EPOLLERR)) report_closed(c, "connection reset");
            return;
        }
        if (c->closing) {
            /* Drain and ignore input while our close is in progress. */
            ssize_t n = recv(c->io.fd, read_buf, sizeof(read_buf), 0);
            if (n == 0 || (n < 0 && errno != EAGAIN)) report_closed(c, "closed");
            return;
        }
        read_some(c);
    }
}

static void resume_read(void *arg)
{
    vn_conn_t *c = arg;
    if (c->closed || c->released || !reading_allowed(c)) return;
    read_some(c);
}

static void on_shape_timer(vn_timer_t *t)
{
    vn_conn_t *c = (vn_conn_t *)((char *)t - offsetof(vn_conn_t, shape_timer));
    if (!c->shaped || c->closed) return;
    c->shaped = 0;
    update_events(c);
    /* TLS may hold decrypted bytes that epoll will never announce. */
    if (reading_allowed(c) && c->tp->pending(c)) vn_loop_defer(c->loop, resume_read, c);
}

void vn_conn_pause(vn_conn_t *c, int paused)
{
    if (c->closed) return;
    if ((int)c->read_paused == paused) return;
    c->read_paused = paused ? 1 : 0;
    update_events(c);
    if (!paused && reading_allowed(c) && c->tp->pending(c)) vn_loop_defer(c->loop, resume_read, c);
}

void vn_conn_throttle(vn_conn_t *c, int on)
{
    if (c->closed || (int)c->throttled == on) return;
    c->throttled = on ? 1 : 0;
    update_events(c);
    if (!on && reading_allowed(c) && c->tp->pending(c)) vn_loop_defer(c->loop, resume_read, c);
}

void vn_conn_close(vn_conn_t *c, const char *reason)
{
    (void)reason;
    if (c->closed || c->closing) return;
    c->closing = 1;
    c->read_paused = 0;
    c->throttled = 0;
    c->shaped = 0;
    set_out_full(c, 0);
    vn_timer_stop(c->loop, &c->shape_timer);
    /* Bounded: a peer that never reads must not keep us forever. */
    c->stalling = 0;
    vn_timer_start(c->loop, &c->timer, CLOSE_DEADLINE_MS, on_timer);
    schedule_flush(c);
}

void vn_conn_abort(vn_conn_t *c, const char *reason)
{
    if (c->closed || c->released) return;
    c->closing = 1;
    c->tls_pending = 0; /* no STARTTLS handshake for a connection on its way out */
    /* One non-blocking attempt: the stream error and, once it is all out,
     * close_notify and FIN (flush_now's closing path). */
    if (!c->handshaking && c->out.len > 0) flush_now(c);
    int fd = c->io.fd;
    report_closed(c, reason); /* unregisters the fd (if flush_now did not) */
    if (fd >= 0 && !c->released) {
        close(fd);
        c->io.fd = -1;
        open_conns--;
    }
}

void vn_conn_release(vn_conn_t *c)
{
    if (c->released) return;
    c->released = 1;
    set_out_full(c, 0);
    vn_timer_stop(c->loop, &c->timer);
    vn_timer_stop(c->loop, &c->shape_timer);
    if (!c->closed) {
        c->closed = 1;
        vn_io_stop(c->loop, &c->io);
    }
    c->tp->release(c);
    c->tp = &vn_transport_tcp;
    free(c->tls_sni);
    c->tls_sni = NULL;
    if (c->io.fd >= 0) {
        close(c->io.fd);
        open_conns--;
    }
    c->io.fd = -1;
    out_drop(c);
}

#include "net/conn.h"

#include <errno.h>
#include <openssl/err.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

/* One read buffer per thread: connections hold no read buffer while idle. */
static __thread char read_buf[16384];

/* Descriptors held by connections (for the descriptor budget). */
static int open_conns;

int vn_conn_open_count(void)
{
    return open_conns;
}

static void on_io(vn_io_t *io, uint32_t events);
static void do_flush(void *arg);
static void flush_now(vn_conn_t *c);

static void update_events(vn_conn_t *c)
{
    if (c->released || c->io.fd < 0) return;
    uint32_t ev = 0;
    if ((!c->read_paused && !c->throttled) || c->handshaking) ev |= EPOLLIN;
    if ((c->out.len > 0 && !c->handshaking) || c->read_wants_write) ev |= EPOLLOUT;
    if (c->handshaking && SSL_want_write(c->ssl)) ev |= EPOLLOUT;
    vn_io_set(c->loop, &c->io, ev);
}

static void report_closed(vn_conn_t *c, const char *reason)
{
    if (c->closed) return;
    c->closed = 1;
    vn_timer_stop(c->loop, &c->linger);
    vn_io_stop(c->loop, &c->io);
    c->h->closed(c, reason);
}

void vn_conn_init(vn_conn_t *c, vn_loop_t *loop, int fd, const vn_conn_handler_t *h)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->h = h;
    if (fd >= 0) open_conns++;
    vn_io_start(loop, &c->io, fd, EPOLLIN, on_io);
}

int vn_conn_is_tls(const vn_conn_t *c)
{
    return c->ssl != NULL && !c->handshaking;
}

static void handshake(vn_conn_t *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->handshaking = 0;
        update_events(c);
        c->h->tls_ready(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        update_events(c);
        return;
    }
    char buf[160];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    ERR_clear_error();
    vn_debug("%s: TLS handshake failed: %s", c->peer, buf);
    /* OpenSSL may have queued an alert: let it out, then linger. */
    SSL_free(c->ssl);
    c->ssl = NULL;
    c->handshaking = 0;
    c->closing = 1;
    vn_buf_free(&c->out);
    flush_now(c);
}

static void begin_tls(vn_conn_t *c)
{
    c->tls_pending = 0;
    c->ssl = SSL_new(c->tls_ctx_pending);
    c->tls_ctx_pending = NULL;
    if (!c->ssl || SSL_set_fd(c->ssl, c->io.fd) != 1) {
        report_closed(c, "TLS setup failed");
        return;
    }
    SSL_set_accept_state(c->ssl);
    c->handshaking = 1;
    handshake(c);
}

int vn_conn_start_tls(vn_conn_t *c, SSL_CTX *ctx)
{
    if (c->ssl || c->closed) return -1;
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

static void on_linger_timeout(vn_timer_t *t)
{
    vn_conn_t *c = (vn_conn_t *)((char *)t - offsetof(vn_conn_t, linger));
    report_closed(c, "closed");
}

/* Writes as much of the output as the socket takes. */
static void flush_now(vn_conn_t *c)
{
    while (c->out.len > 0) {
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, c->out.data, (int)(c->out.len > 1 << 30 ? 1 << 30 : c->out.len));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
                report_closed(c, "TLS write error");
                return;
            }
            n = r;
        } else {
            n = send(c->io.fd, c->out.data, c->out.len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) break;
                report_closed(c, strerror(errno));
                return;
            }
        }
        c->bytes_out += (uint64_t)n;
        vn_buf_consume(&c->out, (size_t)n);
    }
    if (c->out.len == 0) {
        /* Idle connections keep no output buffer. */
        vn_buf_free(&c->out);
        if (c->tls_pending) {
            begin_tls(c);
            return;
        }
        if (c->closing && !c->lingering) {
            if (c->ssl) SSL_shutdown(c->ssl);
            shutdown(c->io.fd, SHUT_WR);
            /* Closing a socket with unread input makes the kernel send a
             * reset, which can destroy the stream error we just wrote: read
             * and discard until the peer closes too, for a short while. */
            c->lingering = 1;
            c->read_paused = 0;
            vn_io_set(c->loop, &c->io, EPOLLIN);
            vn_timer_start(c->loop, &c->linger, 2000, on_linger_timeout);
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
    flush_now(c);
}

void vn_conn_write(vn_conn_t *c, const void *data, size_t len)
{
    if (c->closed || c->closing) return;
    vn_buf_append(&c->out, data, len);
    if (!c->flush_scheduled) {
        c->flush_scheduled = 1;
        vn_loop_defer(c->loop, do_flush, c);
    }
}

static void read_some(vn_conn_t *c)
{
    /* A few reads per wake-up, then yield to other connections; level-
     * triggered epoll brings us back for the rest. */
    for (int i = 0; i < 4 && !c->read_paused && !c->throttled && !c->closed && !c->closing; i++) {
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, read_buf, sizeof(read_buf));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ) return;
                if (e == SSL_ERROR_WANT_WRITE) {
                    c->read_wants_write = 1;
                    update_events(c);
                    return;
                }
                report_closed(c, e == SSL_ERROR_ZERO_RETURN ? "peer closed" : "TLS read error");
                return;
            }
            n = r;
        } else {
            n = recv(c->io.fd, read_buf, sizeof(read_buf), 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                report_closed(c, strerror(errno));
                return;
            }
            if (n == 0) {
                report_closed(c, "peer closed");
                return;
            }
        }
        c->bytes_in += (uint64_t)n;
        c->h->data(c, read_buf, (size_t)n);
        /* STARTTLS: the rest of this read predates the handshake; drop it. */
        if (c->tls_pending || c->handshaking) return;
    }
}

static void on_io(vn_io_t *io, uint32_t events)
{
    vn_conn_t *c = (vn_conn_t *)io;
    if (c->closed || c->released) return;
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
        if (c->read_paused || c->throttled) {
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
    if (c->closed || c->released || c->read_paused || c->throttled) return;
    read_some(c);
}

void vn_conn_pause(vn_conn_t *c, int paused)
{
    if (c->closed) return;
    if ((int)c->read_paused == paused) return;
    c->read_paused = paused ? 1 : 0;
    update_events(c);
    /* TLS may hold decrypted bytes that epoll will never announce. */
    if (!paused && c->ssl && SSL_pending(c->ssl) > 0) vn_loop_defer(c->loop, resume_read, c);
}

void vn_conn_throttle(vn_conn_t *c, int on)
{
    if (c->closed || (int)c->throttled == on) return;
    c->throttled = on ? 1 : 0;
    update_events(c);
    if (!on && !c->read_paused && c->ssl && SSL_pending(c->ssl) > 0)
        vn_loop_defer(c->loop, resume_read, c);
}

void vn_conn_close(vn_conn_t *c, const char *reason)
{
    (void)reason;
    if (c->closed || c->closing) return;
    c->closing = 1;
    c->read_paused = 0;
    c->throttled = 0;
    if (!c->flush_scheduled) {
        c->flush_scheduled = 1;
        vn_loop_defer(c->loop, do_flush, c);
    }
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
    vn_timer_stop(c->loop, &c->linger);
    if (!c->closed) {
        c->closed = 1;
        vn_io_stop(c->loop, &c->io);
    }
    if (c->ssl) SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->io.fd >= 0) {
        close(c->io.fd);
        open_conns--;
    }
    c->io.fd = -1;
    vn_buf_free(&c->out);
}

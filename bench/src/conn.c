#include "conn.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

SSL_CTX *conn_client_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) die("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_read_ahead(ctx, 1); /* whole socket reads, not record by record */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

int conn_connect(struct conn *c, int epfd, const struct sockaddr_in *dst, const struct in_addr *src,
                 void *ptr)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -errno;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src && src->s_addr) {
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = *src};
        if (bind(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            int e = errno;
            close(c->fd);
            c->fd = -1;
            return -e;
        }
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = ptr};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        return -e;
    }
    c->state = CONN_CONNECTING;
    if (connect(c->fd, (const struct sockaddr *)dst, sizeof *dst) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        c->state = CONN_CLOSED;
        return -e;
    }
    return 0;
}

int conn_start_tls(struct conn *c, SSL_CTX *ctx, const char *sni)
{
    c->ssl = SSL_new(ctx);
    if (!c->ssl) return -1;
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    if (sni) SSL_set_tlsext_host_name(c->ssl, sni);
    c->state = CONN_HANDSHAKE;
    return 0;
}

static int handshake(struct conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->state = CONN_OPEN;
        return CONN_EV_TLS_DONE;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return CONN_EV_NONE;
    c->failed = 1;
    return CONN_EV_ERROR;
}

int conn_step(struct conn *c)
{
    if (c->state == CONN_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err) {
            c->failed = 1;
            errno = err;
            return CONN_EV_ERROR;
        }
        /* Still in progress?  A zero-length send tells us nothing; rely on
         * getpeername. */
        struct sockaddr_in peer;
        l = sizeof peer;
        if (getpeername(c->fd, (struct sockaddr *)&peer, &l) < 0) return CONN_EV_NONE;
        c->state = CONN_OPEN;
        return CONN_EV_CONNECTED;
    }
    if (c->state == CONN_HANDSHAKE) return handshake(c);
    return CONN_EV_NONE;
}

int conn_flush(struct conn *c)
{
    if (c->state != CONN_OPEN) return c->failed ? -1 : 0;
    while (sbuf_pending(&c->out)) {
        size_t n = sbuf_pending(&c->out);
        const char *p = c->out.p + c->out.off;
        if (c->ssl) {
            if (n > 65536) n = 65536;
            ERR_clear_error();
            int r = SSL_write(c->ssl, p, (int)n);
            if (r > 0) {
                sbuf_consume(&c->out, (size_t)r);
                continue;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return 0;
            c->failed = 1;
            return -1;
        }
        ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
        if (r > 0) {
            sbuf_consume(&c->out, (size_t)r);
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
        c->failed = 1;
        return -1;
    }
    return 0;
}

long conn_read(struct conn *c, char *buf, size_t cap)
{
    if (c->state != CONN_OPEN) return 0;
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, buf, (int)cap);
        if (r > 0) return r;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
        if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
            c->eof = 1;
        else
            c->failed = 1;
        return -1;
    }
    for (;;) {
        ssize_t r = recv(c->fd, buf, cap, 0);
        if (r > 0) return r;
        if (r == 0) {
            c->eof = 1;
            return -1;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return 0;
        c->failed = 1;
        return -1;
    }
}

void conn_close(struct conn *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd); /* also removes it from the epoll set */
        c->fd = -1;
    }
    sbuf_free(&c->out);
    c->state = CONN_CLOSED;
}

const char *conn_tls_desc(struct conn *c, char *buf, size_t cap)
{
    if (!c->ssl) {
        snprintf(buf, cap, "none");
        return buf;
    }
    snprintf(buf, cap, "%s %s", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
    return buf;
}

/* One non-blocking TCP connection with optional TLS (OpenSSL), driven by an
 * edge-triggered epoll set. Knows nothing about XMPP. */
#ifndef BENCH_CONN_H
#define BENCH_CONN_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include "util.h"

enum conn_state {
    CONN_IDLE,
    CONN_CONNECTING,
    CONN_HANDSHAKE,
    CONN_OPEN,
    CONN_CLOSED,
};

struct conn {
    int fd;
    enum conn_state state;
    SSL *ssl;
    struct sbuf out;     /* plaintext waiting to be written */
    unsigned eof : 1;    /* peer closed */
    unsigned failed : 1; /* I/O or TLS error */
};

/* Result of conn_step(): what the connection became ready for. */
enum {
    CONN_EV_NONE = 0,
    CONN_EV_CONNECTED = 1, /* TCP connect finished (plain) */
    CONN_EV_TLS_DONE = 2,  /* TLS handshake finished */
    CONN_EV_ERROR = 4,
};

/* Start a non-blocking connect from src (port chosen at connect time) to dst
 * and register it in epfd with data pointer ptr. Returns 0 or -errno. */
int conn_connect(struct conn *c, int epfd, const struct sockaddr_in *dst, const struct in_addr *src,
                 void *ptr);
/* Begin a client TLS handshake on an established connection. */
int conn_start_tls(struct conn *c, SSL_CTX *ctx, const char *sni);
/* Advance connect/handshake after an epoll event. */
int conn_step(struct conn *c);
/* Queue bytes; conn_flush() writes as much as the socket takes. */
static inline void conn_queue(struct conn *c, const void *p, size_t n)
{
    sbuf_add(&c->out, p, n);
}
/* Returns 0, or -1 on a fatal error (c->failed set). */
int conn_flush(struct conn *c);
/* Read decrypted bytes: >0 bytes, 0 would block, -1 EOF or error. */
long conn_read(struct conn *c, char *buf, size_t cap);
void conn_close(struct conn *c);
/* Description of the negotiated TLS version and cipher ("" when plain). */
const char *conn_tls_desc(struct conn *c, char *buf, size_t cap);

/* A client SSL_CTX: TLS 1.2+, no certificate verification (benchmark on
 * loopback against a self-signed certificate), no session resumption so that
 * every sign-in does a full handshake. */
SSL_CTX *conn_client_ctx(void);

#endif

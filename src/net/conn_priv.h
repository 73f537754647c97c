/* Between the connection (conn.c) and its TLS transport (tls_conn.c). */
#ifndef VN_NET_CONN_PRIV_H
#define VN_NET_CONN_PRIV_H

#include <openssl/ssl.h>

#include "net/conn.h"

/* Creates the SSL object on the connection's socket. 0 or -1. */
int vn_tls_conn_begin(vn_conn_t *c, SSL_CTX *ctx, int server, const char *sni);
/* One handshake step: 1 done, 0 in progress (*want_write: wait for the
 * socket to be writable), -1 failed (the SSL object is freed). */
int vn_tls_conn_handshake(vn_conn_t *c, int *want_write);

#endif

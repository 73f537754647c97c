/* TLS over a connection's socket (OpenSSL 3): the handshake, both sides,
 * and the transport once it is done. */
#include <openssl/err.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "net/conn.h"
#include "net/conn_priv.h"
#include "net/tls.h"

SSL_CTX *vn_tls_client_ctx(const char *ca_file, char **err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        *err = vn_xstrdup("SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (ca_file && !ca_file[0]) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        *err = vn_xstrdup(ca_file ? ca_file : "cannot load the system CA store");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

int vn_tls_conn_begin(vn_conn_t *c, SSL_CTX *ctx, int server, const char *sni)
{
    c->ssl = SSL_new(ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->io.fd) != 1) return -1;
    if (server) {
        SSL_set_accept_state(c->ssl);
    } else {
        if (sni) {
            /* RFC 6125: the certificate must name the host we asked for. */
            SSL_set_tlsext_host_name(c->ssl, sni);
            SSL_set1_host(c->ssl, sni);
        }
        SSL_set_connect_state(c->ssl);
    }
    return 0;
}

int vn_tls_conn_handshake(vn_conn_t *c, int *want_write)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    *want_write = 0;
    if (r == 1) return 1;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want_write = e == SSL_ERROR_WANT_WRITE || SSL_want_write(c->ssl);
        return 0;
    }
    char buf[160];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    ERR_clear_error();
    vn_debug("%s: TLS handshake failed: %s", c->peer, buf);
    SSL_free(c->ssl);
    c->ssl = NULL;
    return -1;
}

static ssize_t tls_read(vn_conn_t *c, char *buf, size_t n, const char **why)
{
    ERR_clear_error();
    int r = SSL_read(c->ssl, buf, (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return 0;
    if (e == SSL_ERROR_WANT_WRITE) {
        /* A TLS 1.3 key update or the like: read again when writable. */
        c->read_wants_write = 1;
        return 0;
    }
    *why = e == SSL_ERROR_ZERO_RETURN ? "peer closed" : "TLS read error";
    return -1;
}

/* One record's worth (the head chunk) per call. */
static ssize_t tls_write(vn_conn_t *c, const char **why)
{
    size_t len;
    const char *p = vn_outq_peek(&c->out, &len);
    /* A retried SSL_write must be given the same bytes (the chunk has not
     * moved; it may have grown if it is the tail, so the length is kept). */
    if (c->tls_retry) len = c->tls_retry;
    ERR_clear_error();
    int r = SSL_write(c->ssl, p, (int)len);
    if (r > 0) {
        c->tls_retry = 0;
        return r;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        c->tls_retry = len;
        return 0;
    }
    *why = "TLS write error";
    return -1;
}

static int tls_pending(const vn_conn_t *c)
{
    return c->ssl && SSL_pending(c->ssl) > 0;
}

static void tls_shutdown(vn_conn_t *c)
{
    if (c->ssl) SSL_shutdown(c->ssl);
}

static void tls_release(vn_conn_t *c)
{
    if (c->ssl) SSL_free(c->ssl);
    c->ssl = NULL;
}

static size_t tls_channel_binding(const vn_conn_t *c, vn_cb_type_t type, uint8_t *out)
{
    if (!c->ssl) return 0;
    switch (type) {
    case VN_CB_TLS_EXPORTER:
        return vn_tls_cb_exporter(c->ssl, out);
    case VN_CB_TLS_SERVER_END_POINT:
        return vn_tls_cb_server_end_point(c->ssl, out);
    }
    return 0;
}

static const char *tls_version(const vn_conn_t *c)
{
    return c->ssl ? SSL_get_version(c->ssl) : NULL;
}

const vn_transport_t vn_transport_tls = {
    .name = "tls",
    .read = tls_read,
    .write = tls_write,
    .pending = tls_pending,
    .shutdown = tls_shutdown,
    .release = tls_release,
    .channel_binding = tls_channel_binding,
    .version = tls_version,
};

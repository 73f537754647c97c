/* TLS server context and helpers (OpenSSL 3).
 * TLS 1.2 minimum (or 1.3), the server's cipher order, the configured
 * suites only; buffers released while idle. */
#ifndef VN_NET_TLS_H
#define VN_NET_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

/* What a server context offers ([tls] in the configuration). */
typedef struct vn_tls_opts {
    const char *ciphers;      /* OpenSSL cipher list for TLS 1.2 */
    const char *ciphersuites; /* TLS 1.3 suites */
    int min_version;          /* 12 or 13 */
} vn_tls_opts_t;

/* Returns a context, or NULL with a malloc'd *err (also when the cipher
 * settings select nothing). */
SSL_CTX *vn_tls_server_ctx(const char *cert_path, const char *key_path, const vn_tls_opts_t *opts,
                           char **err);
/* Writes a self-signed certificate (EC P-256, 10 years, subjectAltName for
 * each domain as DNS and as xmppAddr-less DNS entry) and its key. Returns 0
 * or -1 with a malloc'd *err. */
int vn_tls_generate_selfsigned(const char *const *domains, int ndomains, const char *cert_path,
                               const char *key_path, char **err);

/* A client context for outgoing connections (s2s, push): TLS 1.2 at least,
 * peers verified against ca_file (PEM bundle; NULL: the system store), or
 * not at all when ca_file is "" (tests only). NULL with a malloc'd *err. */
SSL_CTX *vn_tls_client_ctx(const char *ca_file, char **err);

/* Channel binding data for SCRAM -PLUS. Return the length written, or 0 when
 * the binding type is not available on this connection. out must hold 64 bytes. */
size_t vn_tls_cb_exporter(SSL *ssl, uint8_t *out);         /* RFC 9266 */
size_t vn_tls_cb_server_end_point(SSL *ssl, uint8_t *out); /* RFC 5929 §4 */

#endif

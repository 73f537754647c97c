#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"

static char *ssl_error(const char *what)
{
    char buf[512], e[256];
    unsigned long code = ERR_get_error();
    ERR_error_string_n(code, e, sizeof(e));
    snprintf(buf, sizeof(buf), "%s: %s", what, code ? e : "unknown error");
    ERR_clear_error();
    return vn_xstrdup(buf);
}

/* The versions and suites offered ([tls] min_version, ciphers,
 * ciphersuites; the defaults in core/config.h offer forward-secret AEAD
 * suites only, RFC 9325 §4.2 and RFC 10015). The server's order wins
 * (SSL_OP_CIPHER_SERVER_PREFERENCE below), so a client that lists a weaker
 * suite first still gets the strongest both sides have. */
static int set_suites(SSL_CTX *ctx, const vn_tls_opts_t *o, char **err)
{
    if (SSL_CTX_set_min_proto_version(ctx, o->min_version >= 13 ? TLS1_3_VERSION
                                                                : TLS1_2_VERSION) != 1) {
        *err = ssl_error("[tls] min_version");
        return -1;
    }
    /* set_cipher_list ignores unknown names but fails when nothing is left. */
    if (SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1) {
        *err = ssl_error("[tls] ciphers selects no cipher");
        return -1;
    }
    if (SSL_CTX_set_ciphersuites(ctx, o->ciphersuites) != 1) {
        *err = ssl_error("[tls] ciphersuites");
        return -1;
    }
    /* Not used by default; for an operator who adds DHE suites for old
     * clients: parameters matched to the certificate's strength. */
    SSL_CTX_set_dh_auto(ctx, 1);
    return 0;
}

SSL_CTX *vn_tls_server_ctx(const char *cert_path, const char *key_path, const vn_tls_opts_t *opts,
                           char **err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        *err = ssl_error("SSL_CTX_new");
        return NULL;
    }
    if (set_suites(ctx, opts, err) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* Release the 34 KiB of record buffers while a connection is idle:
     * idle sessions are the common case for a messaging server. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
        *err = ssl_error(cert_path);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        *err = ssl_error(key_path);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int vn_tls_generate_selfsigned(const char *const *domains, int ndomains, const char *cert_path,
                               const char *key_path, char **err)
{
    int rc = -1;
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    FILE *f = NULL;
    if (!pkey || !x) {
        *err = ssl_error("key generation");
        goto out;
    }
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)domains[0], -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    char san[4096] = "";
    size_t off = 0;
    for (int i = 0; i < ndomains; i++) {
        int n = snprintf(san + off, sizeof(san) - off, "%sDNS:%s", i ? "," : "", domains[i]);
        if (n < 0 || (size_t)n >= sizeof(san) - off) break;
        off += (size_t)n;
    }
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    if (ext) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (!X509_sign(x, pkey, EVP_sha256())) {
        *err = ssl_error("X509_sign");
        goto out;
    }
    f = fopen(key_path, "w");
    if (!f || !PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL)) {
        *err = ssl_error(key_path);
        goto out;
    }
    fclose(f);
    f = fopen(cert_path, "w");
    if (!f || !PEM_write_X509(f, x)) {
        *err = ssl_error(cert_path);
        goto out;
    }
    rc = 0;
out:
    if (f) fclose(f);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}

size_t vn_tls_cb_exporter(SSL *ssl, uint8_t *out)
{
    /* RFC 9266: defined for TLS 1.3 (and 1.2 with extended master secret);
     * we offer it only on TLS 1.3 where it is always safe. */
    if (SSL_version(ssl) < TLS1_3_VERSION) return 0;
    static const char label[] = "EXPORTER-Channel-Binding";
    if (SSL_export_keying_material(ssl, out, 32, label, sizeof(label) - 1, NULL, 0, 0) != 1)
        return 0;
    return 32;
}

size_t vn_tls_cb_server_end_point(SSL *ssl, uint8_t *out)
{
    /* RFC 5929 §4.1: hash of our certificate with its signature's hash,
     * where MD5 and SHA-1 are replaced by SHA-256. */
    X509 *cert = SSL_get_certificate(ssl);
    if (!cert) return 0;
    int md_nid = NID_undef, pk_nid;
    if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, &pk_nid)) return 0;
    const EVP_MD *md;
    if (md_nid == NID_md5 || md_nid == NID_sha1 || md_nid == NID_undef)
        md = EVP_sha256();
    else
        md = EVP_get_digestbynid(md_nid);
    if (!md) return 0;
    unsigned int len = 0;
    if (!X509_digest(cert, md, out, &len)) return 0;
    return len;
}

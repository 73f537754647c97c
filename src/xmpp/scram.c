/* SCRAM server side: RFC 5802 (SCRAM-SHA-1), RFC 7677 (SCRAM-SHA-256),
 * channel binding types from RFC 5929 (tls-server-end-point) and RFC 9266
 * (tls-exporter). See scram.h for the contract.
 *
 * Every message is hostile input: lengths are checked before anything is
 * copied, the whole message must be valid UTF-8 without NUL (RFC 5802 §7:
 * every attribute value is UTF-8 without NUL), and the grammar of §7 is
 * checked attribute by attribute. */
#include "xmpp/scram.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/mem.h"
#include "store/store.h"

/* s->state */
enum { ST_INIT = 0, ST_CLIENT_FIRST, ST_SERVER_FIRST, ST_DONE };

#define SERVER_NONCE_BYTES 24
#define DEFAULT_FAKE_ITERATIONS 4096u

/* ------------------------------------------------------------------ */
/* Hash primitives                                                     */

size_t vn_scram_hash_len(vn_scram_hash_t h)
{
    switch (h) {
    case VN_SCRAM_SHA1: return 20;
    case VN_SCRAM_SHA256: return 32;
    default: return 0;
    }
}

const char *vn_scram_hash_name(vn_scram_hash_t h)
{
    switch (h) {
    case VN_SCRAM_SHA1: return "SHA-1";
    case VN_SCRAM_SHA256: return "SHA-256";
    default: return NULL;
    }
}

static const EVP_MD *hash_md(vn_scram_hash_t h)
{
    switch (h) {
    case VN_SCRAM_SHA1: return EVP_sha1();
    case VN_SCRAM_SHA256: return EVP_sha256();
    default: return NULL;
    }
}

/* Digest name as OpenSSL's EVP_MAC "digest" parameter spells it. */
static const char *hash_ossl_name(vn_scram_hash_t h)
{
    switch (h) {
    case VN_SCRAM_SHA1: return "SHA1";
    case VN_SCRAM_SHA256: return "SHA256";
    default: return NULL;
    }
}

/* RFC 5802 §2.2 HMAC(key, str); writes vn_scram_hash_len(h) bytes. */
static int hmac(vn_scram_hash_t h, const uint8_t *key, size_t keylen, const void *data, size_t len,
                uint8_t *out)
{
    const char *name = hash_ossl_name(h);
    size_t outlen = 0;
    if (!name) return -1;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, name, NULL, key, keylen, data, len, out, VN_SCRAM_MAX_HASH,
                   &outlen))
        return -1;
    return outlen == vn_scram_hash_len(h) ? 0 : -1;
}

/* RFC 5802 §2.2 H(str). */
static int hash(vn_scram_hash_t h, const void *data, size_t len, uint8_t *out)
{
    const EVP_MD *md = hash_md(h);
    unsigned int outlen = 0;
    if (!md || !EVP_Digest(data, len, out, &outlen, md, NULL)) return -1;
    return outlen == vn_scram_hash_len(h) ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Key derivation (RFC 5802 §3)                                        */

int vn_scram_salted_password(vn_scram_hash_t h, const char *password, size_t pwlen,
                             const uint8_t *salt, size_t salt_len, uint32_t iterations,
                             uint8_t *out)
{
    const EVP_MD *md = hash_md(h);
    if (!md || !password || !salt || !out) return -1;
    if (pwlen > VN_SCRAM_MAX_PASSWORD || salt_len == 0 || salt_len > INT_MAX) return -1;
    if (iterations < VN_SCRAM_MIN_ITERATIONS || iterations > VN_SCRAM_MAX_ITERATIONS) return -1;
    /* Hi(str, salt, i) of §2.2 is PBKDF2 (RFC 8018) with HMAC as the PRF and
     * dkLen = the hash output length, as the note in §2.2 says. */
    if (!PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, (int)salt_len, (int)iterations, md,
                           (int)vn_scram_hash_len(h), out))
        return -1;
    return 0;
}

/* ClientKey := HMAC(SaltedPassword, "Client Key"); StoredKey := H(ClientKey);
 * ServerKey := HMAC(SaltedPassword, "Server Key") (RFC 5802 §3). */
static int keys_from_salted(vn_scram_hash_t h, const uint8_t *salted, uint8_t *stored_key,
                            uint8_t *server_key)
{
    size_t hl = vn_scram_hash_len(h);
    uint8_t client_key[VN_SCRAM_MAX_HASH];
    int rc = -1;
    if (hl == 0) return -1;
    if (hmac(h, salted, hl, "Client Key", 10, client_key) == 0 &&
        hash(h, client_key, hl, stored_key) == 0 &&
        hmac(h, salted, hl, "Server Key", 10, server_key) == 0)
        rc = 0;
    OPENSSL_cleanse(client_key, sizeof client_key);
    return rc;
}

void vn_scram_keys_from_salted(vn_scram_hash_t h, const uint8_t *salted, uint8_t *stored_key,
                               uint8_t *server_key)
{
    /* HMAC and a digest over a few bytes only fail if the crypto library is
     * broken or h is invalid; like out-of-memory, that is not recoverable. */
    if (keys_from_salted(h, salted, stored_key, server_key) != 0) {
        fprintf(stderr, "vestnik: SCRAM key derivation failed (hash %d)\n", (int)h);
        abort();
    }
}

int vn_scram_derive_keys(vn_scram_hash_t h, const char *password, size_t pwlen,
                         uint32_t iterations, vn_scram_creds_t *c)
{
    uint8_t salted[VN_SCRAM_MAX_HASH];
    int rc = -1;
    if (!c || vn_scram_hash_len(h) == 0) return -1;
    if (c->salt_len == 0) {
        if (RAND_bytes(c->salt, VN_SCRAM_SALT_LEN) != 1) return -1;
        c->salt_len = VN_SCRAM_SALT_LEN;
    } else if (c->salt_len > sizeof c->salt) {
        return -1;
    }
    if (vn_scram_salted_password(h, password, pwlen, c->salt, c->salt_len, iterations, salted) ==
            0 &&
        keys_from_salted(h, salted, c->stored_key, c->server_key) == 0) {
        c->iterations = iterations;
        rc = 0;
    }
    OPENSSL_cleanse(salted, sizeof salted);
    return rc;
}

static int creds_valid(const vn_scram_creds_t *c)
{
    return c->salt_len > 0 && c->salt_len <= sizeof c->salt &&
           c->iterations >= VN_SCRAM_MIN_ITERATIONS && c->iterations <= VN_SCRAM_MAX_ITERATIONS;
}

int vn_scram_check_password(vn_scram_hash_t h, const char *password, size_t pwlen,
                            const vn_scram_creds_t *c)
{
    uint8_t salted[VN_SCRAM_MAX_HASH], stored[VN_SCRAM_MAX_HASH], server[VN_SCRAM_MAX_HASH];
    size_t hl = vn_scram_hash_len(h);
    int match = 0;
    if (!c || hl == 0 || !creds_valid(c)) return 0;
    if (vn_scram_salted_password(h, password, pwlen, c->salt, c->salt_len, c->iterations,
                                 salted) == 0 &&
        keys_from_salted(h, salted, stored, server) == 0)
        match = CRYPTO_memcmp(stored, c->stored_key, hl) == 0;
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(stored, sizeof stored);
    OPENSSL_cleanse(server, sizeof server);
    return match;
}

_Static_assert(VN_SCRAM_NHASH <= VN_STORE_CRED_SLOTS, "a store slot per SCRAM hash");
_Static_assert(VN_SCRAM_MAX_HASH <= VN_STORE_CRED_BYTES, "a SCRAM key fits a store key");
_Static_assert(sizeof(((vn_scram_creds_t *)0)->salt) <= VN_STORE_CRED_BYTES,
               "a SCRAM salt fits a store salt");

void vn_scram_creds_to_store(vn_scram_hash_t h, const vn_scram_creds_t *c, vn_store_cred_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t hl = vn_scram_hash_len(h);
    if (!c || hl == 0 || c->iterations == 0) return; /* an empty slot */
    out->iterations = c->iterations;
    /* An oversized salt is passed on as it is: the store refuses it. */
    out->salt_len = c->salt_len;
    memcpy(out->salt, c->salt, c->salt_len <= sizeof(c->salt) ? c->salt_len : sizeof(c->salt));
    out->key_len = hl;
    memcpy(out->key[0], c->stored_key, hl);
    memcpy(out->key[1], c->server_key, hl);
}

int vn_scram_creds_from_store(vn_scram_hash_t h, const vn_store_cred_t *in, vn_scram_creds_t *out)
{
    memset(out, 0, sizeof(*out));
    if (in->iterations == 0) return 1;
    size_t hl = vn_scram_hash_len(h);
    if (hl == 0 || in->key_len != hl || in->salt_len > sizeof(out->salt)) return -1;
    memcpy(out->salt, in->salt, in->salt_len);
    out->salt_len = in->salt_len;
    out->iterations = in->iterations;
    memcpy(out->stored_key, in->key[0], hl);
    memcpy(out->server_key, in->key[1], hl);
    if (!creds_valid(out)) {
        OPENSSL_cleanse(out, sizeof(*out));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Base64 (RFC 4648 §4), strict                                        */

char *vn_base64_encode(const uint8_t *p, size_t n)
{
    /* EVP_EncodeBlock takes an int length: feed it whole 3-byte groups. */
    const size_t chunk_max = (size_t)3 << 20;
    size_t groups = n / 3 + (n % 3 != 0), o = 0;
    char *out;
    if (groups > (SIZE_MAX - 1) / 4) {
        fprintf(stderr, "vestnik: base64 input too large\n");
        abort();
    }
    out = vn_xmalloc(groups * 4 + 1);
    while (n > 0) {
        size_t chunk = n > chunk_max ? chunk_max : n;
        o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, p, (int)chunk);
        p += chunk;
        n -= chunk;
    }
    out[o] = '\0';
    return out;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int vn_base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
    size_t pad = 0;
    uint8_t *buf;
    int r;
    *out = NULL;
    *outlen = 0;
    /* Padding is mandatory (RFC 5802 §7 base64 production); EVP_DecodeBlock
     * itself would skip white space, so the alphabet is checked here first. */
    if (n % 4 != 0 || n > INT_MAX) return -1;
    if (n == 0) {
        *out = vn_xmalloc(1);
        return 0;
    }
    if (s[n - 1] == '=') pad = s[n - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < n - pad; i++)
        if (b64_value((unsigned char)s[i]) < 0) return -1;
    /* Canonical encoding only: the bits beyond the data must be zero
     * (RFC 4648 §3.5), so that one value has exactly one spelling. */
    if (pad == 2 && (b64_value((unsigned char)s[n - 3]) & 0x0f)) return -1;
    if (pad == 1 && (b64_value((unsigned char)s[n - 2]) & 0x03)) return -1;
    buf = vn_xmalloc(n / 4 * 3);
    r = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
    if (r < 0 || (size_t)r != n / 4 * 3) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = (size_t)r - pad;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Unknown users (RFC 5802 §9: do not reveal whether a user exists)   */

static pthread_once_t fake_once = PTHREAD_ONCE_INIT;
static uint8_t fake_secret[32];
static int fake_ready;
static uint32_t fake_iterations = DEFAULT_FAKE_ITERATIONS;

static void fake_init(void)
{
    fake_ready = RAND_bytes(fake_secret, sizeof fake_secret) == 1;
}

void vn_scram_set_unknown_user_params(const uint8_t *secret, size_t secret_len,
                                      uint32_t iterations)
{
    unsigned int len = 0;
    pthread_once(&fake_once, fake_init);
    if (secret && secret_len > 0 &&
        EVP_Digest(secret, secret_len, fake_secret, &len, EVP_sha256(), NULL) && len == 32)
        fake_ready = 1;
    if (iterations >= VN_SCRAM_MIN_ITERATIONS && iterations <= VN_SCRAM_MAX_ITERATIONS)
        fake_iterations = iterations;
}

/* HMAC-SHA-256(secret, label 0x00 mechanism-hash 0x00 username): the same
 * name always gets the same salt, and keys that match no password. */
static int fake_derive(const char *label, vn_scram_hash_t h, const char *user, uint8_t *out)
{
    size_t ll = strlen(label), ul = strlen(user), n = ll + 2 + 1 + ul;
    uint8_t *data = vn_xmalloc(n);
    int rc;
    memcpy(data, label, ll);
    data[ll] = 0;
    data[ll + 1] = (uint8_t)h;
    data[ll + 2] = 0;
    memcpy(data + ll + 3, user, ul);
    rc = hmac(VN_SCRAM_SHA256, fake_secret, sizeof fake_secret, data, n, out);
    free(data);
    return rc;
}

static int fake_creds(vn_scram_server_t *s)
{
    uint8_t buf[VN_SCRAM_MAX_HASH];
    vn_scram_creds_t *c = &s->creds;
    pthread_once(&fake_once, fake_init);
    if (!fake_ready) return -1;
    memset(c, 0, sizeof *c);
    if (fake_derive("salt", s->hash, s->username, buf) != 0 ||
        fake_derive("stored", s->hash, s->username, c->stored_key) != 0 ||
        fake_derive("server", s->hash, s->username, c->server_key) != 0)
        return -1;
    memcpy(c->salt, buf, VN_SCRAM_SALT_LEN);
    c->salt_len = VN_SCRAM_SALT_LEN;
    c->iterations = fake_iterations;
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Message grammar helpers (RFC 5802 §7)                               */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF. */
static int valid_utf8(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

/* Every SCRAM message: bounded, UTF-8, no NUL (value-char excludes NUL). */
static int valid_message(const char *m, size_t len)
{
    if (!m || len == 0 || len > VN_SCRAM_MAX_MESSAGE) return 0;
    if (memchr(m, '\0', len)) return 0;
    return valid_utf8((const unsigned char *)m, len);
}

/* Iterates over the ','-separated attributes of p[0..n). An empty input, or
 * ",," or a trailing ',', yields empty fields, which no production accepts. */
typedef struct {
    const char *p, *end;
    int done;
} fields_t;

static int field_next(fields_t *it, const char **f, size_t *n)
{
    const char *c;
    if (it->done) return 0;
    c = memchr(it->p, ',', (size_t)(it->end - it->p));
    *f = it->p;
    if (c) {
        *n = (size_t)(c - it->p);
        it->p = c + 1;
    } else {
        *n = (size_t)(it->end - it->p);
        it->p = it->end;
        it->done = 1;
    }
    return 1;
}

/* "x=" prefix test: attribute name x (RFC 5802 §5.1). */
static int is_attr(const char *f, size_t n, char name)
{
    return n >= 2 && f[0] == name && f[1] == '=';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* attr-val = ALPHA "=" value; value = 1*value-char. The value characters
 * are already known to be UTF-8 without NUL or ','. The reserved "m"
 * attribute must make authentication fail (RFC 5802 §5.1). */
static int valid_extension(const char *f, size_t n)
{
    return n >= 3 && is_alpha(f[0]) && f[1] == '=' && f[0] != 'm';
}

/* printable = %x21-2B / %x2D-7E: ASCII without ',' and space. */
static int valid_nonce(const char *p, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',') return 0;
    return 1;
}

/* cb-name = 1*(ALPHA / DIGIT / "." / "-") */
static int is_cb_name_char(char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* saslname = 1*(value-safe-char / "=2C" / "=3D"): ',' and '=' travel as
 * "=2C" and "=3D"; any other '=' sequence is malformed (RFC 5802 §5.1).
 * ABNF literals are case-insensitive (RFC 5234 §2.3), so "=2c" is accepted.
 * Returns a malloc'd string or NULL. */
static char *saslname_decode(const char *p, size_t n)
{
    char *out;
    size_t o = 0;
    if (n == 0) return NULL;
    out = vn_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '=') {
            out[o++] = p[i];
            continue;
        }
        if (n - i < 3) goto bad;
        if (p[i + 1] == '2' && (p[i + 2] == 'C' || p[i + 2] == 'c'))
            out[o++] = ',';
        else if (p[i + 1] == '3' && (p[i + 2] == 'D' || p[i + 2] == 'd'))
            out[o++] = '=';
        else
            goto bad;
        i += 2;
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The exchange                                                        */

void vn_scram_server_init(vn_scram_server_t *s, vn_scram_hash_t h, int plus,
                          int server_offers_plus)
{
    memset(s, 0, sizeof *s);
    s->hash = h;
    s->plus = plus != 0;
    s->server_offers_plus = server_offers_plus != 0;
    s->cb_flag = VN_SCRAM_CB_NONE;
    s->state = ST_INIT;
}

/* Channel binding negotiation, RFC 5802 §6 with the types of RFC 5929 §4
 * and RFC 9266 §2. */
static vn_scram_status_t cb_policy(const vn_scram_server_t *s, vn_scram_cb_flag_t flag,
                                   const char *cb, size_t cblen)
{
    switch (flag) {
    case VN_SCRAM_CB_NONE:
        /* Plain mechanism: the client does not bind. -PLUS with "n" is
         * contrary to §6 but sent by slixmpp under TLS 1.3; it is treated
         * as a non-binding exchange, which is no weaker than the plain
         * mechanism because the gs2 header is covered by the proof. */
        return VN_SCRAM_OK;
    case VN_SCRAM_CB_Y:
        /* "y": the client could bind but believes the server cannot. If
         * -PLUS was offered (or even selected) this is a downgrade. */
        if (s->plus || s->server_offers_plus) return VN_SCRAM_ERR_CB;
        return VN_SCRAM_OK;
    case VN_SCRAM_CB_P:
        if (!s->plus) return VN_SCRAM_ERR_CB; /* binding needs -PLUS (§6) */
        if ((cblen == 12 && memcmp(cb, "tls-exporter", 12) == 0) ||
            (cblen == 20 && memcmp(cb, "tls-server-end-point", 20) == 0))
            return VN_SCRAM_OK;
        return VN_SCRAM_ERR_CB; /* tls-unique (unsafe under TLS 1.3) or unknown */
    }
    return VN_SCRAM_ERR_CB;
}

vn_scram_status_t vn_scram_server_client_first(vn_scram_server_t *s, const char *msg, size_t len)
{
    const char *p = msg, *end = msg + len, *cb = NULL, *az = NULL, *f, *user_f, *nonce_f;
    size_t cblen = 0, azlen = 0, fl, user_fl, nonce_fl, hdrlen;
    vn_scram_cb_flag_t flag;
    vn_scram_status_t st;
    char *user, *authzid = NULL;
    fields_t it;

    if (s->state != ST_INIT) return VN_SCRAM_ERR_MALFORMED;
    s->state = ST_DONE; /* until this message is accepted */
    if (vn_scram_hash_len(s->hash) == 0 || !valid_message(msg, len))
        return VN_SCRAM_ERR_MALFORMED;

    /* gs2-header = gs2-cbind-flag "," [ authzid ] "," */
    if (*p == 'n' || *p == 'y') {
        flag = *p == 'n' ? VN_SCRAM_CB_NONE : VN_SCRAM_CB_Y;
        p++;
    } else if (end - p >= 2 && p[0] == 'p' && p[1] == '=') {
        flag = VN_SCRAM_CB_P;
        cb = p += 2;
        while (p < end && *p != ',') {
            if (!is_cb_name_char(*p)) return VN_SCRAM_ERR_MALFORMED;
            p++;
        }
        cblen = (size_t)(p - cb);
        if (cblen == 0) return VN_SCRAM_ERR_MALFORMED;
    } else {
        return VN_SCRAM_ERR_MALFORMED;
    }
    if (p == end || *p != ',') return VN_SCRAM_ERR_MALFORMED;
    p++;
    if (end - p >= 2 && p[0] == 'a' && p[1] == '=') {
        const char *comma;
        az = p + 2;
        comma = memchr(az, ',', (size_t)(end - az));
        if (!comma) return VN_SCRAM_ERR_MALFORMED;
        azlen = (size_t)(comma - az);
        p = comma;
    }
    if (p == end || *p != ',') return VN_SCRAM_ERR_MALFORMED;
    p++;
    hdrlen = (size_t)(p - msg);

    /* client-first-message-bare = [reserved-mext ","] username "," nonce
     *                             ["," extensions]
     * A leading "m=" is a mandatory extension we do not support: fail. */
    it = (fields_t){p, end, 0};
    if (!field_next(&it, &user_f, &user_fl) || !is_attr(user_f, user_fl, 'n'))
        return VN_SCRAM_ERR_MALFORMED;
    if (!field_next(&it, &nonce_f, &nonce_fl) || !is_attr(nonce_f, nonce_fl, 'r') ||
        !valid_nonce(nonce_f + 2, nonce_fl - 2))
        return VN_SCRAM_ERR_MALFORMED;
    while (field_next(&it, &f, &fl))
        if (!valid_extension(f, fl)) return VN_SCRAM_ERR_MALFORMED;

    /* Grammar is fine; decode the names (the UTF-8 check above covers the
     * decoded forms too: only ASCII escapes are replaced). */
    user = saslname_decode(user_f + 2, user_fl - 2);
    if (!user) return VN_SCRAM_ERR_MALFORMED;
    if (az) {
        authzid = saslname_decode(az, azlen);
        if (!authzid) {
            free(user);
            return VN_SCRAM_ERR_MALFORMED;
        }
    }

    st = cb_policy(s, flag, cb, cblen);
    if (st != VN_SCRAM_OK) {
        free(user);
        free(authzid);
        return st;
    }

    s->cb_flag = flag;
    if (flag == VN_SCRAM_CB_P) {
        memcpy(s->cb_type, cb, cblen); /* cb_policy allowed <= 20 bytes */
        s->cb_type[cblen] = '\0';
    }
    s->gs2_header = vn_xstrndup(msg, hdrlen);
    s->authzid = authzid;
    s->username = user;
    s->client_first_bare = vn_xstrndup(msg + hdrlen, len - hdrlen);
    s->nonce = vn_xstrndup(nonce_f + 2, nonce_fl - 2);
    s->state = ST_CLIENT_FIRST;
    return VN_SCRAM_OK;
}

const char *vn_scram_server_first(vn_scram_server_t *s, const vn_scram_creds_t *creds,
                                  const char *server_nonce)
{
    char *snonce, *salt64, *nonce, *msg;
    size_t cl, sl, n;
    int len;

    if (s->state != ST_CLIENT_FIRST) return NULL;
    s->state = ST_DONE; /* until the message is built */

    /* server-first-message = [reserved-mext ","] nonce "," salt ","
     *                        iteration-count ["," extensions]  (§7) */
    if (server_nonce) {
        if (!valid_nonce(server_nonce, strlen(server_nonce))) return NULL;
        snonce = vn_xstrdup(server_nonce);
    } else {
        uint8_t rnd[SERVER_NONCE_BYTES];
        if (RAND_bytes(rnd, sizeof rnd) != 1) return NULL;
        snonce = vn_base64_encode(rnd, sizeof rnd); /* base64 is printable, no ',' */
    }

    if (creds && creds_valid(creds)) {
        s->creds = *creds;
        s->have_creds = 1;
    } else {
        /* Unknown user (or unusable stored record): carry on with fake but
         * stable parameters and fail at the proof (§9). */
        s->have_creds = 0;
        if (fake_creds(s) != 0) {
            free(snonce);
            return NULL;
        }
    }

    cl = strlen(s->nonce);
    sl = strlen(snonce);
    nonce = vn_xmalloc(cl + sl + 1);
    memcpy(nonce, s->nonce, cl);
    memcpy(nonce + cl, snonce, sl + 1);
    free(snonce);
    free(s->nonce);
    s->nonce = nonce;

    salt64 = vn_base64_encode(s->creds.salt, s->creds.salt_len);
    n = strlen(nonce) + strlen(salt64) + 32;
    msg = vn_xmalloc(n);
    len = snprintf(msg, n, "r=%s,s=%s,i=%u", nonce, salt64, (unsigned)s->creds.iterations);
    free(salt64);
    if (len < 0 || (size_t)len >= n) {
        free(msg);
        return NULL;
    }
    s->server_first = msg;
    s->state = ST_SERVER_FIRST;
    return msg;
}

/* c= must carry cbind-input = gs2-header [ cbind-data ] (RFC 5802 §7), with
 * cbind-data present exactly when the client chose "p=". */
static vn_scram_status_t check_cbind(const vn_scram_server_t *s, const uint8_t *c, size_t clen,
                                     const uint8_t *cb_data, size_t cb_len)
{
    size_t hl = strlen(s->gs2_header);
    if (s->cb_flag == VN_SCRAM_CB_P) {
        if (!cb_data || cb_len == 0) return VN_SCRAM_ERR_CB;
    } else {
        cb_len = 0;
    }
    if (clen != hl + cb_len) return VN_SCRAM_ERR_CB;
    if (memcmp(c, s->gs2_header, hl) != 0) return VN_SCRAM_ERR_CB;
    if (cb_len && CRYPTO_memcmp(c + hl, cb_data, cb_len) != 0) return VN_SCRAM_ERR_CB;
    return VN_SCRAM_OK;
}

vn_scram_status_t vn_scram_server_client_final(vn_scram_server_t *s, const char *msg, size_t len,
                                               const uint8_t *cb_data, size_t cb_len,
                                               char **server_final)
{
    const char *end = msg + len, *last = NULL, *f, *c_f, *r_f;
    size_t fl, c_fl, r_fl, wp_len, hl = vn_scram_hash_len(s->hash);
    size_t bl, sl, am_len, cbind_len = 0, proof_len = 0;
    uint8_t *cbind = NULL, *proof = NULL;
    uint8_t sig[VN_SCRAM_MAX_HASH], client_key[VN_SCRAM_MAX_HASH], stored[VN_SCRAM_MAX_HASH];
    char *am = NULL;
    vn_scram_status_t st;
    fields_t it;
    int ok;

    if (server_final) *server_final = NULL;
    if (s->state != ST_SERVER_FIRST) return VN_SCRAM_ERR_MALFORMED;
    s->state = ST_DONE; /* one attempt per exchange, whatever the outcome */
    if (!server_final || !valid_message(msg, len)) return VN_SCRAM_ERR_MALFORMED;

    /* client-final-message = client-final-message-without-proof "," proof,
     * the proof being the last attribute (§7). */
    for (const char *q = msg; q < end; q++)
        if (*q == ',') last = q;
    if (!last || !is_attr(last + 1, (size_t)(end - last - 1), 'p'))
        return VN_SCRAM_ERR_MALFORMED;
    wp_len = (size_t)(last - msg);

    /* client-final-message-without-proof = channel-binding "," nonce
     *                                      ["," extensions] */
    it = (fields_t){msg, last, 0};
    if (!field_next(&it, &c_f, &c_fl) || !is_attr(c_f, c_fl, 'c') ||
        !field_next(&it, &r_f, &r_fl) || !is_attr(r_f, r_fl, 'r'))
        return VN_SCRAM_ERR_MALFORMED;
    while (field_next(&it, &f, &fl))
        if (!valid_extension(f, fl) || f[0] == 'p') return VN_SCRAM_ERR_MALFORMED;

    /* The nonce must be the combined one of server-first (§5.1 "r"). */
    if (r_fl - 2 != strlen(s->nonce) || memcmp(r_f + 2, s->nonce, r_fl - 2) != 0)
        return VN_SCRAM_ERR_MALFORMED;
    if (vn_base64_decode(c_f + 2, c_fl - 2, &cbind, &cbind_len) != 0)
        return VN_SCRAM_ERR_MALFORMED;
    if (vn_base64_decode(last + 3, (size_t)(end - last - 3), &proof, &proof_len) != 0 ||
        proof_len != hl) {
        st = VN_SCRAM_ERR_MALFORMED;
        goto out;
    }

    st = check_cbind(s, cbind, cbind_len, cb_data, cb_len);
    if (st != VN_SCRAM_OK) goto out;

    /* AuthMessage := client-first-message-bare + "," + server-first-message
     *                + "," + client-final-message-without-proof  (§3) */
    bl = strlen(s->client_first_bare);
    sl = strlen(s->server_first);
    am_len = bl + 1 + sl + 1 + wp_len;
    am = vn_xmalloc(am_len);
    memcpy(am, s->client_first_bare, bl);
    am[bl] = ',';
    memcpy(am + bl + 1, s->server_first, sl);
    am[bl + 1 + sl] = ',';
    memcpy(am + bl + 2 + sl, msg, wp_len);

    /* ClientSignature := HMAC(StoredKey, AuthMessage)
     * ClientKey := ClientProof XOR ClientSignature; H(ClientKey) == StoredKey.
     * The same work is done for an unknown user, which then fails. */
    if (hmac(s->hash, s->creds.stored_key, hl, am, am_len, sig) != 0) {
        st = VN_SCRAM_ERR_NOT_AUTHORIZED;
        goto out;
    }
    for (size_t i = 0; i < hl; i++)
        client_key[i] = proof[i] ^ sig[i];
    ok = hash(s->hash, client_key, hl, stored) == 0;
    ok = (CRYPTO_memcmp(stored, s->creds.stored_key, hl) == 0) & ok & (s->have_creds != 0);
    if (!ok) {
        st = VN_SCRAM_ERR_NOT_AUTHORIZED;
        goto out;
    }

    /* ServerSignature := HMAC(ServerKey, AuthMessage); server-final "v=" */
    if (hmac(s->hash, s->creds.server_key, hl, am, am_len, sig) != 0) {
        st = VN_SCRAM_ERR_NOT_AUTHORIZED;
        goto out;
    }
    {
        char *v = vn_base64_encode(sig, hl);
        size_t vl = strlen(v);
        *server_final = vn_xmalloc(vl + 3);
        memcpy(*server_final, "v=", 2);
        memcpy(*server_final + 2, v, vl + 1);
        free(v);
    }
    st = VN_SCRAM_OK;

out:
    OPENSSL_cleanse(sig, sizeof sig);
    OPENSSL_cleanse(client_key, sizeof client_key);
    OPENSSL_cleanse(stored, sizeof stored);
    if (proof) OPENSSL_cleanse(proof, proof_len);
    free(proof);
    free(cbind);
    free(am);
    return st;
}

void vn_scram_server_clear(vn_scram_server_t *s)
{
    free(s->gs2_header);
    free(s->authzid);
    free(s->username);
    free(s->client_first_bare);
    free(s->server_first);
    free(s->nonce);
    /* Wipes the keys (creds) along with everything else. */
    OPENSSL_cleanse(s, sizeof *s);
}

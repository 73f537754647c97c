/* Unit tests for src/xmpp/scram.c: RFC 5802 §5 and RFC 7677 §3 test
 * vectors, full exchanges through the server API, hostile input, and the
 * channel-binding rules (RFC 5802 §6, RFC 5929, RFC 9266).
 *
 * The proofs for exchanges other than the RFC vectors come from a small
 * SCRAM client written here directly on OpenSSL (PBKDF2, HMAC, digest), so
 * that the server is not checked against itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "xmpp/scram.h"

/* RFC 5802 §5 (SCRAM-SHA-1) */
#define R1_CLIENT_FIRST "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
#define R1_SNONCE "3rfcNHYJY1ZVvWVs7j"
#define R1_NONCE "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
#define R1_SALT "QSXCR+Q6sek8bf92"
#define R1_SERVER_FIRST "r=" R1_NONCE ",s=" R1_SALT ",i=4096"
#define R1_PROOF "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
#define R1_CLIENT_FINAL "c=biws,r=" R1_NONCE ",p=" R1_PROOF
#define R1_SERVER_FINAL "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="

/* RFC 7677 §3 (SCRAM-SHA-256) */
#define R256_CLIENT_FIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define R256_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define R256_NONCE "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define R256_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="
#define R256_SERVER_FIRST "r=" R256_NONCE ",s=" R256_SALT ",i=4096"
#define R256_PROOF "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define R256_CLIENT_FINAL "c=biws,r=" R256_NONCE ",p=" R256_PROOF
#define R256_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static vn_scram_creds_t creds_sha1, creds_sha256;

static vn_scram_creds_t make_creds(vn_scram_hash_t h, const char *password, const char *salt64,
                                   uint32_t iterations)
{
    vn_scram_creds_t c;
    uint8_t *salt;
    size_t salt_len;
    memset(&c, 0, sizeof c);
    assert_int_equal(vn_base64_decode(salt64, strlen(salt64), &salt, &salt_len), 0);
    assert_true(salt_len <= sizeof c.salt);
    memcpy(c.salt, salt, salt_len);
    c.salt_len = salt_len;
    free(salt);
    assert_int_equal(vn_scram_derive_keys(h, password, strlen(password), iterations, &c), 0);
    assert_int_equal(c.iterations, iterations);
    return c;
}

static int group_setup(void **state)
{
    (void)state;
    creds_sha1 = make_creds(VN_SCRAM_SHA1, "pencil", R1_SALT, 4096);
    creds_sha256 = make_creds(VN_SCRAM_SHA256, "pencil", R256_SALT, 4096);
    return 0;
}

static const vn_scram_creds_t *creds_for(vn_scram_hash_t h)
{
    return h == VN_SCRAM_SHA1 ? &creds_sha1 : &creds_sha256;
}

/* ------------------------------------------------------------------ */
/* Independent test client (RFC 5802 §3)                              */

static const EVP_MD *md_for(vn_scram_hash_t h)
{
    return h == VN_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

/* Computes ClientProof and ServerSignature for AuthMessage. */
static void client_compute(vn_scram_hash_t h, const char *password, const uint8_t *salt,
                           size_t salt_len, unsigned iterations, const char *auth_message,
                           uint8_t *proof, uint8_t *server_sig)
{
    const EVP_MD *md = md_for(h);
    int hl = EVP_MD_get_size(md);
    uint8_t salted[64], client_key[64], stored[64], client_sig[64], server_key[64];
    unsigned int l;
    assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len,
                                       (int)iterations, md, hl, salted),
                     1);
    assert_non_null(HMAC(md, salted, hl, (const uint8_t *)"Client Key", 10, client_key, &l));
    assert_int_equal(EVP_Digest(client_key, (size_t)hl, stored, &l, md, NULL), 1);
    assert_non_null(HMAC(md, stored, hl, (const uint8_t *)auth_message, strlen(auth_message),
                         client_sig, &l));
    for (int i = 0; i < hl; i++)
        proof[i] = client_key[i] ^ client_sig[i];
    assert_non_null(HMAC(md, salted, hl, (const uint8_t *)"Server Key", 10, server_key, &l));
    assert_non_null(HMAC(md, server_key, hl, (const uint8_t *)auth_message, strlen(auth_message),
                         server_sig, &l));
}

static char *concat(const char *a, const char *b, const char *c, const char *d, const char *e)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + strlen(e) + 1;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s%s%s%s%s", a, b, c, d, e);
    return s;
}

/* Builds client-final-message for server_first. c64: the c= value to send
 * (base64 of gs2 header + cb data); ext: "" or ",x=..." before the proof.
 * *expect_v receives the server-final-message the client expects. */
static char *client_final(vn_scram_hash_t h, const char *password, const char *bare,
                          const char *server_first, const char *c64, const char *ext,
                          char **expect_v)
{
    const char *r = strstr(server_first, "r="), *s = strstr(server_first, ",s="),
               *i = strstr(server_first, ",i=");
    char nonce[512], salt64[256];
    uint8_t *salt, proof[64], sig[64];
    size_t salt_len, hl = vn_scram_hash_len(h);
    assert_true(r == server_first && s && i && s < i);
    assert_true((size_t)(s - r - 2) < sizeof nonce && (size_t)(i - s - 3) < sizeof salt64);
    memcpy(nonce, r + 2, (size_t)(s - r - 2));
    nonce[s - r - 2] = '\0';
    memcpy(salt64, s + 3, (size_t)(i - s - 3));
    salt64[i - s - 3] = '\0';
    unsigned iterations = (unsigned)strtoul(i + 3, NULL, 10);
    assert_int_equal(vn_base64_decode(salt64, strlen(salt64), &salt, &salt_len), 0);

    char *without_proof = concat("c=", c64, ",r=", nonce, ext);
    char *am = concat(bare, ",", server_first, ",", without_proof);
    client_compute(h, password, salt, salt_len, iterations, am, proof, sig);
    char *p64 = vn_base64_encode(proof, hl), *v64 = vn_base64_encode(sig, hl);
    char *msg = concat(without_proof, ",p=", p64, "", "");
    if (expect_v) *expect_v = concat("v=", v64, "", "", "");
    free(salt);
    free(without_proof);
    free(am);
    free(p64);
    free(v64);
    return msg;
}

static char *cbind64(const char *gs2, const uint8_t *cb, size_t cb_len)
{
    size_t gl = strlen(gs2);
    uint8_t *buf = malloc(gl + cb_len + 1);
    assert_non_null(buf);
    memcpy(buf, gs2, gl);
    if (cb_len) memcpy(buf + gl, cb, cb_len);
    char *s = vn_base64_encode(buf, gl + cb_len);
    free(buf);
    return s;
}

/* One exchange; returns the first failing status or VN_SCRAM_OK. */
typedef struct {
    vn_scram_hash_t h;
    int plus, offers;
    const char *gs2;            /* e.g. "n,," */
    const char *password;       /* what the client types */
    int unknown_user;           /* pass NULL creds */
    const uint8_t *client_cb;   /* appended to gs2 in c= */
    size_t client_cb_len;
    const char *c64;            /* overrides c= entirely when set */
    const uint8_t *server_cb;   /* cb_data of the connection */
    size_t server_cb_len;
} exchange_t;

static vn_scram_status_t run_exchange(const exchange_t *e, vn_scram_server_t *out_state)
{
    vn_scram_server_t s;
    const char *bare = "n=user,r=cl1entN0nce";
    char *first = concat(e->gs2, bare, "", "", ""), *v = NULL, *sf = NULL;
    vn_scram_status_t st;

    vn_scram_server_init(&s, e->h, e->plus, e->offers);
    st = vn_scram_server_client_first(&s, first, strlen(first));
    free(first);
    if (st != VN_SCRAM_OK) goto out;
    assert_string_equal(s.username, "user");
    assert_string_equal(s.gs2_header, e->gs2);
    const char *server_first =
        vn_scram_server_first(&s, e->unknown_user ? NULL : creds_for(e->h), NULL);
    assert_non_null(server_first);
    char *c64 = e->c64 ? strdup(e->c64) : cbind64(e->gs2, e->client_cb, e->client_cb_len);
    char *final = client_final(e->h, e->password, bare, server_first, c64, "", &v);
    st = vn_scram_server_client_final(&s, final, strlen(final), e->server_cb, e->server_cb_len,
                                      &sf);
    if (st == VN_SCRAM_OK)
        assert_string_equal(sf, v);
    else
        assert_null(sf);
    free(c64);
    free(final);
    free(v);
    free(sf);
out:
    if (out_state)
        *out_state = s;
    else
        vn_scram_server_clear(&s);
    return st;
}

/* ------------------------------------------------------------------ */
/* Primitives                                                          */

static void test_hash_info(void **state)
{
    (void)state;
    assert_int_equal(vn_scram_hash_len(VN_SCRAM_SHA1), 20);
    assert_int_equal(vn_scram_hash_len(VN_SCRAM_SHA256), 32);
    assert_int_equal(vn_scram_hash_len(VN_SCRAM_NHASH), 0);
    assert_string_equal(vn_scram_hash_name(VN_SCRAM_SHA1), "SHA-1");
    assert_string_equal(vn_scram_hash_name(VN_SCRAM_SHA256), "SHA-256");
    assert_null(vn_scram_hash_name(VN_SCRAM_NHASH));
}

/* Hi() is PBKDF2: RFC 6070 §2 PBKDF2-HMAC-SHA1 vectors. */
static void test_salted_password_rfc6070(void **state)
{
    static const uint8_t c1[20] = {0x0c, 0x60, 0xc8, 0x0f, 0x96, 0x1f, 0x0e, 0x71, 0xf3, 0xa9,
                                   0xb5, 0x24, 0xaf, 0x60, 0x12, 0x06, 0x2f, 0xe0, 0x37, 0xa6};
    static const uint8_t c4096[20] = {0x4b, 0x00, 0x79, 0x01, 0xb7, 0x65, 0x48,
                                      0x9a, 0xbe, 0xad, 0x49, 0xd9, 0x26, 0xf7,
                                      0x21, 0xd0, 0x65, 0xa4, 0x29, 0xc1};
    uint8_t out[VN_SCRAM_MAX_HASH];
    (void)state;
    assert_int_equal(
        vn_scram_salted_password(VN_SCRAM_SHA1, "password", 8, (const uint8_t *)"salt", 4, 1, out),
        0);
    assert_memory_equal(out, c1, 20);
    assert_int_equal(vn_scram_salted_password(VN_SCRAM_SHA1, "password", 8,
                                              (const uint8_t *)"salt", 4, 4096, out),
                     0);
    assert_memory_equal(out, c4096, 20);
    /* out-of-range parameters */
    assert_int_equal(
        vn_scram_salted_password(VN_SCRAM_SHA1, "password", 8, (const uint8_t *)"salt", 4, 0, out),
        -1);
    assert_int_equal(vn_scram_salted_password(VN_SCRAM_SHA1, "password", 8,
                                              (const uint8_t *)"salt", 4,
                                              VN_SCRAM_MAX_ITERATIONS + 1, out),
                     -1);
    assert_int_equal(
        vn_scram_salted_password(VN_SCRAM_SHA1, "password", 8, (const uint8_t *)"salt", 0, 1, out),
        -1);
    assert_int_equal(vn_scram_salted_password(VN_SCRAM_NHASH, "password", 8,
                                              (const uint8_t *)"salt", 4, 1, out),
                     -1);
}

/* vn_scram_keys_from_salted against the RFC 5802 §3 definitions. */
static void test_keys_from_salted(void **state)
{
    uint8_t salted[VN_SCRAM_MAX_HASH], stored[VN_SCRAM_MAX_HASH], server[VN_SCRAM_MAX_HASH];
    uint8_t ck[64], exp_stored[64], exp_server[64];
    unsigned int l;
    (void)state;
    for (int h = 0; h < VN_SCRAM_NHASH; h++) {
        const EVP_MD *md = md_for((vn_scram_hash_t)h);
        int hl = EVP_MD_get_size(md);
        for (int i = 0; i < hl; i++)
            salted[i] = (uint8_t)(i * 7 + h);
        vn_scram_keys_from_salted((vn_scram_hash_t)h, salted, stored, server);
        HMAC(md, salted, hl, (const uint8_t *)"Client Key", 10, ck, &l);
        EVP_Digest(ck, (size_t)hl, exp_stored, &l, md, NULL);
        HMAC(md, salted, hl, (const uint8_t *)"Server Key", 10, exp_server, &l);
        assert_memory_equal(stored, exp_stored, (size_t)hl);
        assert_memory_equal(server, exp_server, (size_t)hl);
    }
}

static void test_derive_keys(void **state)
{
    vn_scram_creds_t a, b;
    (void)state;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    assert_int_equal(vn_scram_derive_keys(VN_SCRAM_SHA256, "secret", 6, 4096, &a), 0);
    assert_int_equal(vn_scram_derive_keys(VN_SCRAM_SHA256, "secret", 6, 4096, &b), 0);
    assert_int_equal(a.salt_len, VN_SCRAM_SALT_LEN);
    assert_int_equal(a.iterations, 4096);
    assert_memory_not_equal(a.salt, b.salt, VN_SCRAM_SALT_LEN); /* fresh random salts */
    assert_memory_not_equal(a.stored_key, b.stored_key, 32);
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA256, "secret", 6, &a), 1);

    memset(&a, 0, sizeof a);
    assert_int_equal(vn_scram_derive_keys(VN_SCRAM_SHA1, "x", 1, 0, &a), -1);
    memset(&a, 0, sizeof a);
    assert_int_equal(vn_scram_derive_keys(VN_SCRAM_SHA1, "x", 1, VN_SCRAM_MAX_ITERATIONS + 1, &a),
                     -1);
    memset(&a, 0, sizeof a);
    a.salt_len = sizeof a.salt + 1;
    assert_int_equal(vn_scram_derive_keys(VN_SCRAM_SHA1, "x", 1, 1, &a), -1);
    memset(&a, 0, sizeof a);
    assert_int_equal(vn_scram_derive_keys(VN_SCRAM_NHASH, "x", 1, 1, &a), -1);
}

static void test_check_password(void **state)
{
    vn_scram_creds_t c = creds_sha1;
    char *big = malloc(VN_SCRAM_MAX_PASSWORD + 1);
    (void)state;
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, "pencil", 6, &creds_sha1), 1);
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA256, "pencil", 6, &creds_sha256), 1);
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, "pencil2", 7, &creds_sha1), 0);
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, "pencil", 5, &creds_sha1), 0);
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, "", 0, &creds_sha1), 0);
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, "Pencil", 6, &creds_sha1), 0);
    /* credentials of the other hash */
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, "pencil", 6, &creds_sha256), 0);
    assert_int_equal(vn_scram_check_password(VN_SCRAM_NHASH, "pencil", 6, &creds_sha1), 0);
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, "pencil", 6, NULL), 0);
    /* corrupt records */
    c.iterations = 0;
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, "pencil", 6, &c), 0);
    c = creds_sha1;
    c.salt_len = 0;
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, "pencil", 6, &c), 0);
    c.salt_len = 1000;
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, "pencil", 6, &c), 0);
    /* over-long password */
    assert_non_null(big);
    memset(big, 'a', VN_SCRAM_MAX_PASSWORD + 1);
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, big, VN_SCRAM_MAX_PASSWORD + 1,
                                             &creds_sha1),
                     0);
    free(big);
    /* an empty password works if it was set so */
    memset(&c, 0, sizeof c);
    assert_int_equal(vn_scram_derive_keys(VN_SCRAM_SHA1, "", 0, 16, &c), 0);
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, "", 0, &c), 1);
    assert_int_equal(vn_scram_check_password(VN_SCRAM_SHA1, "a", 1, &c), 0);
}

static void b64_ok(const char *in, const char *raw, size_t rawlen)
{
    uint8_t *out;
    size_t n;
    char *enc = vn_base64_encode((const uint8_t *)raw, rawlen);
    assert_string_equal(enc, in);
    free(enc);
    assert_int_equal(vn_base64_decode(in, strlen(in), &out, &n), 0);
    assert_non_null(out);
    assert_int_equal(n, rawlen);
    if (rawlen) assert_memory_equal(out, raw, rawlen);
    free(out);
}

static void b64_bad(const char *in, size_t n)
{
    uint8_t *out = (uint8_t *)"x";
    size_t l = 99;
    assert_int_equal(vn_base64_decode(in, n, &out, &l), -1);
    assert_null(out);
    assert_int_equal(l, 0);
}

static void test_base64(void **state)
{
    (void)state;
    /* RFC 4648 §10 */
    b64_ok("", "", 0);
    b64_ok("Zg==", "f", 1);
    b64_ok("Zm8=", "fo", 2);
    b64_ok("Zm9v", "foo", 3);
    b64_ok("Zm9vYg==", "foob", 4);
    b64_ok("Zm9vYmE=", "fooba", 5);
    b64_ok("Zm9vYmFy", "foobar", 6);
    b64_ok("AP8A", "\0\xff\0", 3);

    b64_bad("Zg=", 3);      /* length not a multiple of 4 */
    b64_bad("Zg", 2);       /* padding missing */
    b64_bad("Z===", 4);     /* too much padding */
    b64_bad("====", 4);
    b64_bad("Zg==Zg==", 8); /* padding in the middle */
    b64_bad("Zg=a", 4);
    b64_bad(" Zg=", 4);     /* white space */
    b64_bad("Zm8\n", 4);
    b64_bad("Zm9v\0Zg=", 8);
    b64_bad("Zh==", 4);     /* non-canonical: trailing bits set */
    b64_bad("Zm9=", 4);
    b64_bad("Zm-_", 4);     /* base64url alphabet */

    /* Large buffer: the encoder works in chunks below INT_MAX. */
    size_t n = (size_t)7 << 20;
    uint8_t *big = malloc(n), *back;
    size_t back_len;
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i * 31 + (i >> 11));
    char *enc = vn_base64_encode(big, n);
    assert_int_equal(strlen(enc), (n + 2) / 3 * 4);
    assert_int_equal(vn_base64_decode(enc, strlen(enc), &back, &back_len), 0);
    assert_int_equal(back_len, n);
    assert_memory_equal(back, big, n);
    free(enc);
    free(back);
    free(big);
}

/* ------------------------------------------------------------------ */
/* RFC test vectors through the server API                             */

static void vector_exchange(vn_scram_hash_t h, const vn_scram_creds_t *c, const char *cf,
                            const char *snonce, const char *expect_sf, const char *final,
                            const char *expect_v)
{
    vn_scram_server_t s;
    char *v = NULL;
    vn_scram_server_init(&s, h, 0, 0);
    assert_int_equal(vn_scram_server_client_first(&s, cf, strlen(cf)), VN_SCRAM_OK);
    assert_string_equal(s.username, "user");
    assert_null(s.authzid);
    assert_int_equal(s.cb_flag, VN_SCRAM_CB_NONE);
    assert_string_equal(s.gs2_header, "n,,");
    const char *sf = vn_scram_server_first(&s, c, snonce);
    assert_non_null(sf);
    assert_string_equal(sf, expect_sf);
    assert_int_equal(s.have_creds, 1);
    assert_int_equal(vn_scram_server_client_final(&s, final, strlen(final), NULL, 0, &v),
                     VN_SCRAM_OK);
    assert_non_null(v);
    assert_string_equal(v, expect_v);
    free(v);
    /* The exchange is over: a replay on the same state fails. */
    assert_int_equal(vn_scram_server_client_final(&s, final, strlen(final), NULL, 0, &v),
                     VN_SCRAM_ERR_MALFORMED);
    assert_null(v);
    vn_scram_server_clear(&s);
    assert_null(s.username);
}

static void test_rfc5802_vector(void **state)
{
    uint8_t *salt, proof[64], sig[64];
    size_t salt_len;
    (void)state;
    /* The test client reproduces the RFC's proof and signature. */
    assert_int_equal(vn_base64_decode(R1_SALT, strlen(R1_SALT), &salt, &salt_len), 0);
    client_compute(VN_SCRAM_SHA1, "pencil", salt, salt_len, 4096,
                   "n=user,r=fyko+d2lbbFgONRv9qkxdawL," R1_SERVER_FIRST ",c=biws,r=" R1_NONCE,
                   proof, sig);
    char *p64 = vn_base64_encode(proof, 20), *v64 = vn_base64_encode(sig, 20);
    assert_string_equal(p64, R1_PROOF);
    assert_string_equal(v64, &R1_SERVER_FINAL[2]);
    free(p64);
    free(v64);
    free(salt);

    vector_exchange(VN_SCRAM_SHA1, &creds_sha1, R1_CLIENT_FIRST, R1_SNONCE, R1_SERVER_FIRST,
                    R1_CLIENT_FINAL, R1_SERVER_FINAL);
}

static void test_rfc7677_vector(void **state)
{
    (void)state;
    vector_exchange(VN_SCRAM_SHA256, &creds_sha256, R256_CLIENT_FIRST, R256_SNONCE,
                    R256_SERVER_FIRST, R256_CLIENT_FINAL, R256_SERVER_FINAL);
}

static void test_random_server_nonce(void **state)
{
    vn_scram_server_t s;
    (void)state;
    vn_scram_server_init(&s, VN_SCRAM_SHA1, 0, 0);
    assert_int_equal(vn_scram_server_client_first(&s, R1_CLIENT_FIRST, strlen(R1_CLIENT_FIRST)),
                     VN_SCRAM_OK);
    const char *sf = vn_scram_server_first(&s, &creds_sha1, NULL);
    assert_non_null(sf);
    /* r=<client nonce><32 base64 chars of 24 random bytes>,s=...,i=4096 */
    assert_memory_equal(sf, "r=fyko+d2lbbFgONRv9qkxdawL", 26);
    assert_int_equal(strlen(s.nonce), 24 + 32);
    assert_non_null(strstr(sf, ",s=" R1_SALT ",i=4096"));
    vn_scram_server_clear(&s);
}

static void test_full_exchange_client(void **state)
{
    (void)state;
    for (int h = 0; h < VN_SCRAM_NHASH; h++) {
        exchange_t e = {.h = (vn_scram_hash_t)h, .gs2 = "n,,", .password = "pencil"};
        assert_int_equal(run_exchange(&e, NULL), VN_SCRAM_OK);
    }
}

static void test_wrong_password(void **state)
{
    (void)state;
    for (int h = 0; h < VN_SCRAM_NHASH; h++) {
        exchange_t e = {.h = (vn_scram_hash_t)h, .gs2 = "n,,", .password = "pencil!"};
        assert_int_equal(run_exchange(&e, NULL), VN_SCRAM_ERR_NOT_AUTHORIZED);
    }
}

/* RFC 5802 §9: an unknown user looks like a real one until the proof. */
static void test_unknown_user(void **state)
{
    vn_scram_server_t a, b, c;
    char sa[256], sb[256], sc[256];
    (void)state;
    const char *cf = "n,,n=nobody,r=abcdef";
    const char *cf2 = "n,,n=nobody2,r=abcdef";
    vn_scram_server_init(&a, VN_SCRAM_SHA256, 0, 0);
    vn_scram_server_init(&b, VN_SCRAM_SHA256, 0, 0);
    vn_scram_server_init(&c, VN_SCRAM_SHA256, 0, 0);
    assert_int_equal(vn_scram_server_client_first(&a, cf, strlen(cf)), VN_SCRAM_OK);
    assert_int_equal(vn_scram_server_client_first(&b, cf, strlen(cf)), VN_SCRAM_OK);
    assert_int_equal(vn_scram_server_client_first(&c, cf2, strlen(cf2)), VN_SCRAM_OK);
    const char *fa = vn_scram_server_first(&a, NULL, "X"),
               *fb = vn_scram_server_first(&b, NULL, "X"),
               *fc = vn_scram_server_first(&c, NULL, "X");
    assert_non_null(fa);
    assert_non_null(fb);
    assert_non_null(fc);
    assert_int_equal(a.have_creds, 0);
    snprintf(sa, sizeof sa, "%s", fa);
    snprintf(sb, sizeof sb, "%s", fb);
    snprintf(sc, sizeof sc, "%s", fc);
    assert_string_equal(sa, sb);     /* deterministic per name */
    assert_string_not_equal(sa, sc); /* and differs between names */
    assert_non_null(strstr(sa, ",i=4096"));
    assert_int_equal(a.creds.salt_len, VN_SCRAM_SALT_LEN);
    /* Whatever the client sends, the proof fails. */
    char *final = client_final(VN_SCRAM_SHA256, "pencil", "n=nobody,r=abcdef", fa, "biws", "",
                               NULL);
    char *v = (char *)"junk";
    assert_int_equal(vn_scram_server_client_final(&a, final, strlen(final), NULL, 0, &v),
                     VN_SCRAM_ERR_NOT_AUTHORIZED);
    assert_null(v);
    free(final);
    vn_scram_server_clear(&a);
    vn_scram_server_clear(&b);
    vn_scram_server_clear(&c);

    /* Through the helper, for both hashes */
    for (int h = 0; h < VN_SCRAM_NHASH; h++) {
        exchange_t e = {.h = (vn_scram_hash_t)h, .gs2 = "n,,", .password = "pencil",
                        .unknown_user = 1};
        assert_int_equal(run_exchange(&e, NULL), VN_SCRAM_ERR_NOT_AUTHORIZED);
    }
}

/* A stored record that is out of range is handled like an unknown user. */
static void test_corrupt_creds(void **state)
{
    vn_scram_server_t s;
    vn_scram_creds_t c = creds_sha1;
    (void)state;
    c.iterations = 0;
    vn_scram_server_init(&s, VN_SCRAM_SHA1, 0, 0);
    assert_int_equal(vn_scram_server_client_first(&s, R1_CLIENT_FIRST, strlen(R1_CLIENT_FIRST)),
                     VN_SCRAM_OK);
    const char *sf = vn_scram_server_first(&s, &c, R1_SNONCE);
    assert_non_null(sf);
    assert_int_equal(s.have_creds, 0);
    char *final = client_final(VN_SCRAM_SHA1, "pencil", "n=user,r=fyko+d2lbbFgONRv9qkxdawL", sf,
                               "biws", "", NULL);
    char *v = NULL;
    assert_int_equal(vn_scram_server_client_final(&s, final, strlen(final), NULL, 0, &v),
                     VN_SCRAM_ERR_NOT_AUTHORIZED);
    free(final);
    vn_scram_server_clear(&s);
}

static void test_unknown_user_params(void **state)
{
    vn_scram_server_t s;
    char first[3][256];
    static const char *secrets[3] = {"cluster-secret-1", "cluster-secret-1", "cluster-secret-2"};
    (void)state;
    for (int k = 0; k < 3; k++) {
        vn_scram_set_unknown_user_params((const uint8_t *)secrets[k], strlen(secrets[k]), 10000);
        vn_scram_server_init(&s, VN_SCRAM_SHA1, 0, 0);
        assert_int_equal(vn_scram_server_client_first(&s, "n,,n=ghost,r=a", 14), VN_SCRAM_OK);
        const char *sf = vn_scram_server_first(&s, NULL, "b");
        assert_non_null(sf);
        snprintf(first[k], sizeof first[k], "%s", sf);
        vn_scram_server_clear(&s);
    }
    assert_non_null(strstr(first[0], ",i=10000"));
    assert_string_equal(first[0], first[1]);
    assert_string_not_equal(first[0], first[2]);
    /* out-of-range iteration counts are ignored; restore the default */
    vn_scram_set_unknown_user_params(NULL, 0, 0);
    vn_scram_set_unknown_user_params(NULL, 0, 4096);
}

/* ------------------------------------------------------------------ */
/* Hostile client-first-message                                        */

typedef struct {
    const char *msg;
    vn_scram_status_t expect;
} case_t;

static vn_scram_status_t first_status(vn_scram_hash_t h, int plus, int offers, const char *m,
                                      size_t n)
{
    vn_scram_server_t s;
    vn_scram_server_init(&s, h, plus, offers);
    vn_scram_status_t st = vn_scram_server_client_first(&s, m, n);
    if (st != VN_SCRAM_OK) {
        assert_null(s.username);
        assert_null(s.gs2_header);
        /* and the state refuses to go on */
        assert_null(vn_scram_server_first(&s, &creds_sha1, "x"));
    }
    vn_scram_server_clear(&s);
    return st;
}

static void test_client_first_malformed(void **state)
{
    static const case_t cases[] = {
        {"", VN_SCRAM_ERR_MALFORMED},
        {"n", VN_SCRAM_ERR_MALFORMED},
        {"n,", VN_SCRAM_ERR_MALFORMED},
        {"n,,", VN_SCRAM_ERR_MALFORMED},
        {"x,,n=user,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"nn,,n=user,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,,n=user,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,n=user,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,r=abc,n=user", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,r=", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,r=abc,", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,r=abc,,x=y", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,r=abc,x", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,r=abc,x=", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,r=abc,1=y", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,r=abc,xy=z", VN_SCRAM_ERR_MALFORMED},
        /* nonce: printable ASCII only */
        {"n,,n=user,r=ab c", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,r=ab\tc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,r=ab\x7f", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,r=\xd0\xb6", VN_SCRAM_ERR_MALFORMED},
        /* reserved mandatory extension "m" (RFC 5802 §5.1) */
        {"n,,m=ext,n=user,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,r=abc,m=ext", VN_SCRAM_ERR_MALFORMED},
        /* saslname escapes */
        {"n,,n=us=2Xer,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user=,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user=2,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n==3,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=a=20b,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=a==3D,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,a=,n=user,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,a=ad=min,n=user,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,a=admin,,n=user,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,a=admin", VN_SCRAM_ERR_MALFORMED},
        {"n,b=admin,n=user,r=abc", VN_SCRAM_ERR_MALFORMED},
        /* cb-name syntax */
        {"p=,,n=user,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"p=tls exporter,,n=user,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"p=tls_exporter,,n=user,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"p", VN_SCRAM_ERR_MALFORMED},
        {"p=tls-exporter", VN_SCRAM_ERR_MALFORMED},
        /* invalid UTF-8 in the username: bare continuation, overlong,
         * surrogate, truncated */
        {"n,,n=\x80,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=\xc0\xae,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=\xed\xa0\x80,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=\xf4\x90\x80\x80,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=\xd0,r=abc", VN_SCRAM_ERR_MALFORMED},
        {"n,,n=user,r=abc,x=\xff", VN_SCRAM_ERR_MALFORMED},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vn_scram_status_t st =
            first_status(VN_SCRAM_SHA256, 0, 0, cases[i].msg, strlen(cases[i].msg));
        if (st != cases[i].expect) fail_msg("case %zu \"%s\": got %d", i, cases[i].msg, st);
    }
    /* embedded NUL */
    assert_int_equal(first_status(VN_SCRAM_SHA1, 0, 0, "n,,n=us\0er,r=abc", 16),
                     VN_SCRAM_ERR_MALFORMED);
    assert_int_equal(first_status(VN_SCRAM_SHA1, 0, 0, "n,,n=user,r=abc\0", 16),
                     VN_SCRAM_ERR_MALFORMED);
    /* NULL */
    assert_int_equal(first_status(VN_SCRAM_SHA1, 0, 0, NULL, 0), VN_SCRAM_ERR_MALFORMED);
}

static void test_client_first_valid(void **state)
{
    vn_scram_server_t s;
    (void)state;
    const char *m = "n,a=ad=3Dmin=2C,n=us=2Cer=3D=2c,r=abc,x=ext,Y=more";
    vn_scram_server_init(&s, VN_SCRAM_SHA1, 0, 0);
    assert_int_equal(vn_scram_server_client_first(&s, m, strlen(m)), VN_SCRAM_OK);
    assert_string_equal(s.authzid, "ad=min,");
    assert_string_equal(s.username, "us,er=,");
    assert_string_equal(s.gs2_header, "n,a=ad=3Dmin=2C,");
    assert_string_equal(s.client_first_bare, "n=us=2Cer=3D=2c,r=abc,x=ext,Y=more");
    assert_string_equal(s.nonce, "abc");
    /* second client-first on the same state */
    assert_int_equal(vn_scram_server_client_first(&s, m, strlen(m)), VN_SCRAM_ERR_MALFORMED);
    vn_scram_server_clear(&s);

    /* UTF-8 usernames (Cyrillic), left as sent for the caller's SASLprep */
    m = "n,,n=\xd0\xb2\xd0\xb5\xd1\x81\xd1\x82\xd0\xbd\xd0\xb8\xd0\xba,r=!\"#$%&'()*+-./~";
    vn_scram_server_init(&s, VN_SCRAM_SHA1, 0, 0);
    assert_int_equal(vn_scram_server_client_first(&s, m, strlen(m)), VN_SCRAM_OK);
    assert_string_equal(s.username, "\xd0\xb2\xd0\xb5\xd1\x81\xd1\x82\xd0\xbd\xd0\xb8\xd0\xba");
    vn_scram_server_clear(&s);
}

static void test_client_first_huge(void **state)
{
    (void)state;
    /* just at the limit (a long username) is accepted, one more byte is not */
    size_t n = VN_SCRAM_MAX_MESSAGE;
    char *m = malloc(100000);
    assert_non_null(m);
    memcpy(m, "n,,n=", 5);
    memset(m + 5, 'u', n - 5 - 6);
    memcpy(m + n - 6, ",r=abc", 6);
    assert_int_equal(first_status(VN_SCRAM_SHA1, 0, 0, m, n), VN_SCRAM_OK);
    m[n - 6] = 'u';
    memcpy(m + n - 5, ",r=abc", 6);
    assert_int_equal(first_status(VN_SCRAM_SHA1, 0, 0, m, n + 1), VN_SCRAM_ERR_MALFORMED);
    /* 100 kB nonce */
    memcpy(m, "n,,n=user,r=", 12);
    memset(m + 12, 'a', 100000 - 12);
    assert_int_equal(first_status(VN_SCRAM_SHA1, 0, 0, m, 100000), VN_SCRAM_ERR_MALFORMED);
    free(m);
}

/* ------------------------------------------------------------------ */
/* Hostile client-final-message (state from the RFC 5802 vector)       */

static void setup_r1(vn_scram_server_t *s)
{
    vn_scram_server_init(s, VN_SCRAM_SHA1, 0, 0);
    assert_int_equal(vn_scram_server_client_first(s, R1_CLIENT_FIRST, strlen(R1_CLIENT_FIRST)),
                     VN_SCRAM_OK);
    assert_non_null(vn_scram_server_first(s, &creds_sha1, R1_SNONCE));
}

static vn_scram_status_t final_status(const char *m, size_t n)
{
    vn_scram_server_t s;
    char *v = (char *)"junk";
    setup_r1(&s);
    vn_scram_status_t st = vn_scram_server_client_final(&s, m, n, NULL, 0, &v);
    if (st == VN_SCRAM_OK) {
        assert_string_equal(v, R1_SERVER_FINAL);
        free(v);
    } else {
        assert_null(v);
    }
    vn_scram_server_clear(&s);
    return st;
}

static void test_client_final_malformed(void **state)
{
    static const case_t cases[] = {
        {R1_CLIENT_FINAL, VN_SCRAM_OK},
        {"", VN_SCRAM_ERR_MALFORMED},
        {"p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=" R1_NONCE, VN_SCRAM_ERR_MALFORMED},                 /* no proof */
        {"c=biws,r=" R1_NONCE ",p=", VN_SCRAM_ERR_MALFORMED},           /* empty proof */
        {"r=" R1_NONCE ",p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},         /* no c= */
        {"c=biws,p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},                 /* no r= */
        {"r=" R1_NONCE ",c=biws,p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},  /* order */
        {"c=biws,r=" R1_NONCE ",p=" R1_PROOF ",x=y", VN_SCRAM_ERR_MALFORMED}, /* proof not last */
        {"c=biws,r=" R1_NONCE ",p=" R1_PROOF ",p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=" R1_NONCE ",p=" R1_PROOF ",", VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=" R1_NONCE ",m=ext,p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=" R1_NONCE ",,p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=" R1_NONCE ",x,p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},
        /* nonce */
        {"c=biws,r=" R1_NONCE "x,p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=,p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=" R1_SNONCE ",p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},
        /* base64 */
        {"c=bi!s,r=" R1_NONCE ",p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},
        {"c=biw,r=" R1_NONCE ",p=" R1_PROOF, VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=" R1_NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts", VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=" R1_NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Tt=", VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=" R1_NONCE ",p=v0X8v3Bz 2T0CJGbJQyF0X+HI4Ts=", VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=" R1_NONCE ",p=dGVzdA==", VN_SCRAM_ERR_MALFORMED}, /* wrong length */
        {"c=biws,r=" R1_NONCE ",p=" R256_PROOF, VN_SCRAM_ERR_MALFORMED},
        {"c=biws,r=" R1_NONCE ",p=\xff" R1_PROOF, VN_SCRAM_ERR_MALFORMED},
        /* channel binding header that differs from client-first */
        {"c=,r=" R1_NONCE ",p=" R1_PROOF, VN_SCRAM_ERR_CB},
        {"c=eSws,r=" R1_NONCE ",p=" R1_PROOF, VN_SCRAM_ERR_CB},       /* "y,," */
        {"c=biwsAA==,r=" R1_NONCE ",p=" R1_PROOF, VN_SCRAM_ERR_CB},   /* "n,," + 0 */
        /* proof */
        {"c=biws,r=" R1_NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Tk=", VN_SCRAM_ERR_NOT_AUTHORIZED},
        {"c=biws,r=" R1_NONCE ",p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", VN_SCRAM_ERR_NOT_AUTHORIZED},
        /* an extension is fine, but it is part of AuthMessage */
        {"c=biws,r=" R1_NONCE ",x=ext,p=" R1_PROOF, VN_SCRAM_ERR_NOT_AUTHORIZED},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vn_scram_status_t st = final_status(cases[i].msg, strlen(cases[i].msg));
        if (st != cases[i].expect) fail_msg("case %zu \"%s\": got %d", i, cases[i].msg, st);
    }
    /* embedded NUL, NULL */
    static const char nul[] = "c=biws,r=" R1_NONCE ",p=" R1_PROOF "\0";
    assert_int_equal(final_status(nul, sizeof nul - 1), VN_SCRAM_ERR_MALFORMED);
    assert_int_equal(final_status(NULL, 0), VN_SCRAM_ERR_MALFORMED);

    /* huge */
    char *m = malloc(200000);
    assert_non_null(m);
    memcpy(m, "c=", 2);
    memset(m + 2, 'A', 200000 - 2);
    memcpy(m + 100000, ",r=" R1_NONCE ",p=" R1_PROOF, strlen(",r=" R1_NONCE ",p=" R1_PROOF));
    assert_int_equal(final_status(m, 100000 + strlen(",r=" R1_NONCE ",p=" R1_PROOF)),
                     VN_SCRAM_ERR_MALFORMED);
    free(m);

    /* extension computed into the proof by a real client is accepted */
    vn_scram_server_t s;
    char *v = NULL, *expect = NULL;
    setup_r1(&s);
    char *final = client_final(VN_SCRAM_SHA1, "pencil", "n=user,r=fyko+d2lbbFgONRv9qkxdawL",
                               s.server_first, "biws", ",x=ext", &expect);
    assert_int_equal(vn_scram_server_client_final(&s, final, strlen(final), NULL, 0, &v),
                     VN_SCRAM_OK);
    assert_string_equal(v, expect);
    free(v);
    free(expect);
    free(final);
    vn_scram_server_clear(&s);
}

static void test_out_of_order(void **state)
{
    vn_scram_server_t s;
    char *v = (char *)"junk";
    (void)state;
    /* server-first before client-first */
    vn_scram_server_init(&s, VN_SCRAM_SHA1, 0, 0);
    assert_null(vn_scram_server_first(&s, &creds_sha1, NULL));
    vn_scram_server_clear(&s);
    /* client-final before server-first */
    vn_scram_server_init(&s, VN_SCRAM_SHA1, 0, 0);
    assert_int_equal(vn_scram_server_client_first(&s, R1_CLIENT_FIRST, strlen(R1_CLIENT_FIRST)),
                     VN_SCRAM_OK);
    assert_int_equal(vn_scram_server_client_final(&s, R1_CLIENT_FINAL, strlen(R1_CLIENT_FINAL),
                                                  NULL, 0, &v),
                     VN_SCRAM_ERR_MALFORMED);
    assert_null(v);
    vn_scram_server_clear(&s);
    /* server-first twice */
    setup_r1(&s);
    assert_null(vn_scram_server_first(&s, &creds_sha1, R1_SNONCE));
    vn_scram_server_clear(&s);
    /* unusable server nonces */
    static const char *bad_nonces[] = {"", "a,b", "a b", "\xd0\xb6"};
    for (size_t i = 0; i < 4; i++) {
        vn_scram_server_init(&s, VN_SCRAM_SHA1, 0, 0);
        assert_int_equal(
            vn_scram_server_client_first(&s, R1_CLIENT_FIRST, strlen(R1_CLIENT_FIRST)),
            VN_SCRAM_OK);
        assert_null(vn_scram_server_first(&s, &creds_sha1, bad_nonces[i]));
        vn_scram_server_clear(&s);
    }
    /* invalid hash */
    vn_scram_server_init(&s, VN_SCRAM_NHASH, 0, 0);
    assert_int_equal(vn_scram_server_client_first(&s, R1_CLIENT_FIRST, strlen(R1_CLIENT_FIRST)),
                     VN_SCRAM_ERR_MALFORMED);
    vn_scram_server_clear(&s);
    /* a failed client-final ends the exchange: no second guess */
    setup_r1(&s);
    const char *bad = "c=biws,r=" R1_NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Tk=";
    assert_int_equal(vn_scram_server_client_final(&s, bad, strlen(bad), NULL, 0, &v),
                     VN_SCRAM_ERR_NOT_AUTHORIZED);
    assert_int_equal(vn_scram_server_client_final(&s, R1_CLIENT_FINAL, strlen(R1_CLIENT_FINAL),
                                                  NULL, 0, &v),
                     VN_SCRAM_ERR_MALFORMED);
    vn_scram_server_clear(&s);
}

/* ------------------------------------------------------------------ */
/* Channel binding (RFC 5802 §6, RFC 5929 §4, RFC 9266)                */

static const uint8_t cb_a[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t cb_b[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 33};

/* Flag policy at client-first for every mechanism/offer combination. */
static void test_cb_flags(void **state)
{
    static const struct {
        int plus, offers;
        const char *msg;
        vn_scram_status_t expect;
    } cases[] = {
        /* plain mechanism, -PLUS not offered (e.g. no TLS) */
        {0, 0, "n,,n=user,r=abc", VN_SCRAM_OK},
        {0, 0, "y,,n=user,r=abc", VN_SCRAM_OK},
        {0, 0, "p=tls-exporter,,n=user,r=abc", VN_SCRAM_ERR_CB},
        {0, 0, "p=tls-server-end-point,,n=user,r=abc", VN_SCRAM_ERR_CB},
        /* plain mechanism, -PLUS offered: "y" is a downgrade */
        {0, 1, "n,,n=user,r=abc", VN_SCRAM_OK},
        {0, 1, "y,,n=user,r=abc", VN_SCRAM_ERR_CB},
        {0, 1, "p=tls-exporter,,n=user,r=abc", VN_SCRAM_ERR_CB},
        /* -PLUS */
        {1, 1, "n,,n=user,r=abc", VN_SCRAM_OK}, /* slixmpp interop */
        {1, 1, "y,,n=user,r=abc", VN_SCRAM_ERR_CB},
        {1, 1, "p=tls-exporter,,n=user,r=abc", VN_SCRAM_OK},
        {1, 1, "p=tls-server-end-point,,n=user,r=abc", VN_SCRAM_OK},
        {1, 1, "p=tls-unique,,n=user,r=abc", VN_SCRAM_ERR_CB},
        {1, 1, "p=TLS-EXPORTER,,n=user,r=abc", VN_SCRAM_ERR_CB},
        {1, 1, "p=tls-exporter-,,n=user,r=abc", VN_SCRAM_ERR_CB},
        {1, 1, "p=tls-exporte,,n=user,r=abc", VN_SCRAM_ERR_CB},
        {1, 1, "p=foo.bar-1,,n=user,r=abc", VN_SCRAM_ERR_CB},
        {1, 1, "p=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,,n=user,r=abc",
         VN_SCRAM_ERR_CB},
        {1, 0, "y,,n=user,r=abc", VN_SCRAM_ERR_CB},
        /* syntax errors win over policy */
        {1, 1, "p=tls-exporter,,n=user", VN_SCRAM_ERR_MALFORMED},
        {0, 1, "y,,n=user,r=a b", VN_SCRAM_ERR_MALFORMED},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vn_scram_status_t st = first_status(VN_SCRAM_SHA256, cases[i].plus, cases[i].offers,
                                            cases[i].msg, strlen(cases[i].msg));
        if (st != cases[i].expect) fail_msg("case %zu \"%s\": got %d", i, cases[i].msg, st);
    }

    vn_scram_server_t s;
    const char *m = "p=tls-exporter,a=boss,n=user,r=abc";
    vn_scram_server_init(&s, VN_SCRAM_SHA256, 1, 1);
    assert_int_equal(vn_scram_server_client_first(&s, m, strlen(m)), VN_SCRAM_OK);
    assert_int_equal(s.cb_flag, VN_SCRAM_CB_P);
    assert_string_equal(s.cb_type, "tls-exporter");
    assert_string_equal(s.authzid, "boss");
    assert_string_equal(s.gs2_header, "p=tls-exporter,a=boss,");
    vn_scram_server_clear(&s);

    vn_scram_server_init(&s, VN_SCRAM_SHA256, 1, 1);
    assert_int_equal(vn_scram_server_client_first(&s, "n,,n=user,r=abc", 15), VN_SCRAM_OK);
    assert_int_equal(s.cb_flag, VN_SCRAM_CB_NONE);
    assert_string_equal(s.cb_type, "");
    vn_scram_server_clear(&s);
}

/* Complete exchanges with and without binding data. */
static void test_cb_exchanges(void **state)
{
    (void)state;
    for (int h = 0; h < VN_SCRAM_NHASH; h++) {
        vn_scram_hash_t hh = (vn_scram_hash_t)h;
        const exchange_t cases[] = {
            /* non-binding exchanges: cb_data of the connection is ignored */
            {hh, 0, 0, "n,,", "pencil", 0, NULL, 0, NULL, NULL, 0},
            {hh, 0, 0, "y,,", "pencil", 0, NULL, 0, NULL, NULL, 0},
            {hh, 0, 1, "n,,", "pencil", 0, NULL, 0, NULL, cb_a, 32},
            {hh, 1, 1, "n,,", "pencil", 0, NULL, 0, NULL, cb_a, 32}, /* interop */
            {hh, 1, 1, "n,a=boss,", "pencil", 0, NULL, 0, NULL, cb_a, 32},
            /* p=tls-exporter: the right data */
            {hh, 1, 1, "p=tls-exporter,,", "pencil", 0, cb_a, 32, NULL, cb_a, 32},
            {hh, 1, 1, "p=tls-server-end-point,,", "pencil", 0, cb_a, 32, NULL, cb_a, 32},
            {hh, 1, 1, "p=tls-exporter,a=boss,", "pencil", 0, cb_a, 32, NULL, cb_a, 32},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            vn_scram_status_t st = run_exchange(&cases[i], NULL);
            if (st != VN_SCRAM_OK) fail_msg("hash %d case %zu: got %d", h, i, st);
        }

        const exchange_t bad[] = {
            /* data of another connection (MITM) */
            {hh, 1, 1, "p=tls-exporter,,", "pencil", 0, cb_b, 32, NULL, cb_a, 32},
            /* data of another length */
            {hh, 1, 1, "p=tls-exporter,,", "pencil", 0, cb_a, 31, NULL, cb_a, 32},
            {hh, 1, 1, "p=tls-exporter,,", "pencil", 0, cb_a, 32, NULL, cb_a, 31},
            /* the connection has no binding data of that type */
            {hh, 1, 1, "p=tls-exporter,,", "pencil", 0, cb_a, 32, NULL, NULL, 0},
            {hh, 1, 1, "p=tls-exporter,,", "pencil", 0, NULL, 0, NULL, NULL, 0},
            {hh, 1, 1, "p=tls-exporter,,", "pencil", 0, cb_a, 32, NULL, cb_a, 0},
            /* client leaves the data out of c= */
            {hh, 1, 1, "p=tls-exporter,,", "pencil", 0, NULL, 0, NULL, cb_a, 32},
            /* c= claims another gs2 header than client-first (stripping) */
            {hh, 1, 1, "p=tls-exporter,,", "pencil", 0, NULL, 0, "biws", cb_a, 32},
            {hh, 1, 1, "n,,", "pencil", 0, NULL, 0, "eSws", cb_a, 32},
            /* "n" with binding data appended */
            {hh, 1, 1, "n,,", "pencil", 0, cb_a, 32, NULL, cb_a, 32},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            vn_scram_status_t st = run_exchange(&bad[i], NULL);
            if (st != VN_SCRAM_ERR_CB) fail_msg("hash %d bad case %zu: got %d", h, i, st);
        }

        /* right binding, wrong password */
        exchange_t wp = {hh, 1, 1, "p=tls-exporter,,", "pen", 0, cb_a, 32, NULL, cb_a, 32};
        assert_int_equal(run_exchange(&wp, NULL), VN_SCRAM_ERR_NOT_AUTHORIZED);
        /* right binding, unknown user */
        exchange_t uu = {hh, 1, 1, "p=tls-exporter,,", "pencil", 1, cb_a, 32, NULL, cb_a, 32};
        assert_int_equal(run_exchange(&uu, NULL), VN_SCRAM_ERR_NOT_AUTHORIZED);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_info),
        cmocka_unit_test(test_salted_password_rfc6070),
        cmocka_unit_test(test_keys_from_salted),
        cmocka_unit_test(test_derive_keys),
        cmocka_unit_test(test_check_password),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_rfc5802_vector),
        cmocka_unit_test(test_rfc7677_vector),
        cmocka_unit_test(test_random_server_nonce),
        cmocka_unit_test(test_full_exchange_client),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_unknown_user),
        cmocka_unit_test(test_corrupt_creds),
        cmocka_unit_test(test_unknown_user_params),
        cmocka_unit_test(test_client_first_malformed),
        cmocka_unit_test(test_client_first_valid),
        cmocka_unit_test(test_client_first_huge),
        cmocka_unit_test(test_client_final_malformed),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_cb_flags),
        cmocka_unit_test(test_cb_exchanges),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}

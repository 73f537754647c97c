#include "scram.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define MAXH 32 /* SHA-256 output size */

struct sasl_client {
    int mech;
    char *user, *password;
    char cnonce[40];
    struct sbuf first_bare; /* client-first-message-bare */
    unsigned char server_sig[MAXH];
    int have_sig, verified;
};

const char *sasl_mech_name(int mech)
{
    switch (mech) {
    case MECH_PLAIN:
        return "PLAIN";
    case MECH_SCRAM_SHA1:
        return "SCRAM-SHA-1";
    case MECH_SCRAM_SHA256:
        return "SCRAM-SHA-256";
    }
    return "?";
}

int sasl_mech_from_name(const char *name)
{
    if (!strcmp(name, "PLAIN")) return MECH_PLAIN;
    if (!strcmp(name, "SCRAM-SHA-1")) return MECH_SCRAM_SHA1;
    if (!strcmp(name, "SCRAM-SHA-256")) return MECH_SCRAM_SHA256;
    return 0;
}

void b64_encode(struct sbuf *out, const unsigned char *in, size_t n)
{
    sbuf_reserve(out, 4 * ((n + 2) / 3) + 1);
    int w = EVP_EncodeBlock((unsigned char *)out->p + out->len, in, (int)n);
    out->len += (size_t)w;
}

long b64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    while (n && (in[n - 1] == ' ' || in[n - 1] == '\n' || in[n - 1] == '\r' || in[n - 1] == '\t'))
        n--;
    while (n && (*in == ' ' || *in == '\n' || *in == '\r' || *in == '\t')) {
        in++;
        n--;
    }
    if (n == 1 && *in == '=') return 0; /* "=" is the empty response in XMPP SASL */
    if (n % 4 || 3 * (n / 4) > cap) return -1;
    int r = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (r < 0) return -1;
    if (n && in[n - 1] == '=') r--;
    if (n > 1 && in[n - 2] == '=') r--;
    return r;
}

/* ---- SaltedPassword cache ------------------------------------------------ */

struct cache_ent {
    struct cache_ent *next;
    int mech;
    unsigned iter;
    size_t saltlen;
    char *password;
    unsigned char *salt;
    unsigned char client_key[MAXH], stored_key[MAXH], server_key[MAXH];
};

#define CACHE_BUCKETS 4096
static struct cache_ent *cache[CACHE_BUCKETS];
static struct scram_cache_stats cstats;

struct scram_cache_stats scram_cache_stats(void)
{
    return cstats;
}

static const EVP_MD *mech_md(int mech)
{
    return mech == MECH_SCRAM_SHA256 ? EVP_sha256() : EVP_sha1();
}

static unsigned fnv(const void *p, size_t n, unsigned h)
{
    const unsigned char *c = p;
    while (n--)
        h = (h ^ *c++) * 16777619u;
    return h;
}

static const struct cache_ent *salted_keys(int mech, const char *password,
                                           const unsigned char *salt, size_t saltlen, unsigned iter)
{
    unsigned h = fnv(salt, saltlen, 2166136261u);
    h = fnv(password, strlen(password), h);
    h = fnv(&iter, sizeof iter, h) ^ (unsigned)mech;
    struct cache_ent **bucket = &cache[h % CACHE_BUCKETS];
    for (struct cache_ent *e = *bucket; e; e = e->next) {
        if (e->mech == mech && e->iter == iter && e->saltlen == saltlen &&
            !memcmp(e->salt, salt, saltlen) && !strcmp(e->password, password)) {
            cstats.cache_hits++;
            return e;
        }
    }
    const EVP_MD *md = mech_md(mech);
    int hl = EVP_MD_get_size(md);
    unsigned char salted[MAXH];
    if (!PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen, (int)iter, md, hl,
                           salted))
        die("PBKDF2 failed");
    cstats.pbkdf2_runs++;
    struct cache_ent *e = xcalloc(1, sizeof *e);
    e->mech = mech;
    e->iter = iter;
    e->saltlen = saltlen;
    e->salt = xmalloc(saltlen);
    memcpy(e->salt, salt, saltlen);
    e->password = xstrdup(password);
    unsigned len = 0;
    HMAC(md, salted, hl, (const unsigned char *)"Client Key", 10, e->client_key, &len);
    HMAC(md, salted, hl, (const unsigned char *)"Server Key", 10, e->server_key, &len);
    EVP_Digest(e->client_key, (size_t)hl, e->stored_key, &len, md, NULL);
    OPENSSL_cleanse(salted, sizeof salted);
    e->next = *bucket;
    *bucket = e;
    return e;
}

/* ---- exchange ------------------------------------------------------------- */

/* RFC 5802 saslname: ',' -> =2C, '=' -> =3D. */
static void add_saslname(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == ',')
            sbuf_adds(b, "=2C");
        else if (*s == '=')
            sbuf_adds(b, "=3D");
        else
            sbuf_add(b, s, 1);
    }
}

struct sasl_client *sasl_new(int mech, const char *user, const char *password)
{
    struct sasl_client *s = xcalloc(1, sizeof *s);
    s->mech = mech;
    s->user = xstrdup(user);
    s->password = xstrdup(password);
    unsigned char rnd[18];
    if (RAND_bytes(rnd, sizeof rnd) != 1) die("RAND_bytes failed");
    struct sbuf nb = {0};
    b64_encode(&nb, rnd, sizeof rnd);
    memcpy(s->cnonce, nb.p, nb.len);
    s->cnonce[nb.len] = 0;
    sbuf_free(&nb);
    return s;
}

void sasl_free(struct sasl_client *s)
{
    if (!s) return;
    OPENSSL_cleanse(s->password, strlen(s->password));
    free(s->user);
    free(s->password);
    sbuf_free(&s->first_bare);
    free(s);
}

void sasl_initial(struct sasl_client *s, struct sbuf *out)
{
    struct sbuf m = {0};
    if (s->mech == MECH_PLAIN) {
        sbuf_add(&m, "", 1);
        sbuf_adds(&m, s->user);
        sbuf_add(&m, "", 1);
        sbuf_adds(&m, s->password);
    } else {
        sbuf_adds(&s->first_bare, "n=");
        add_saslname(&s->first_bare, s->user);
        sbuf_adds(&s->first_bare, ",r=");
        sbuf_adds(&s->first_bare, s->cnonce);
        sbuf_adds(&m, "n,,");
        sbuf_add(&m, s->first_bare.p, s->first_bare.len);
    }
    b64_encode(out, (unsigned char *)m.p, m.len);
    OPENSSL_cleanse(m.p, m.cap);
    sbuf_free(&m);
}

/* Find "k=" attribute in a SCRAM message; returns pointer and length. */
static const char *scram_attr(const char *msg, size_t n, char k, size_t *vlen)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && msg[j] != ',')
            j++;
        if (j - i >= 2 && msg[i] == k && msg[i + 1] == '=') {
            *vlen = j - i - 2;
            return msg + i + 2;
        }
        i = j + 1;
    }
    return NULL;
}

int sasl_step(struct sasl_client *s, const char *challenge, struct sbuf *out)
{
    if (s->mech == MECH_PLAIN) return -1;
    unsigned char sf[1024];
    long n = b64_decode(challenge, strlen(challenge), sf, sizeof sf - 1);
    if (n <= 0) return -1;
    if (s->have_sig) /* server-final delivered as a challenge */
        return sasl_finish(s, challenge) == 0 ? (sbuf_reset(out), 1) : -1;
    const char *msg = (const char *)sf;
    size_t rl, sl, il;
    const char *r = scram_attr(msg, (size_t)n, 'r', &rl);
    const char *salt64 = scram_attr(msg, (size_t)n, 's', &sl);
    const char *it = scram_attr(msg, (size_t)n, 'i', &il);
    size_t cl = strlen(s->cnonce);
    if (!r || !salt64 || !it || rl <= cl || memcmp(r, s->cnonce, cl) || il == 0 || il > 9)
        return -1;
    char itbuf[16];
    memcpy(itbuf, it, il);
    itbuf[il] = 0;
    unsigned long iter = strtoul(itbuf, NULL, 10);
    unsigned char salt[256];
    long saltlen = b64_decode(salt64, sl, salt, sizeof salt);
    if (iter == 0 || saltlen <= 0) return -1;
    const struct cache_ent *k =
        salted_keys(s->mech, s->password, salt, (size_t)saltlen, (unsigned)iter);
    const EVP_MD *md = mech_md(s->mech);
    int hl = EVP_MD_get_size(md);

    struct sbuf fin = {0}; /* client-final-message-without-proof */
    sbuf_adds(&fin, "c=biws,r=");
    sbuf_add(&fin, r, rl);
    struct sbuf auth = {0};
    sbuf_add(&auth, s->first_bare.p, s->first_bare.len);
    sbuf_adds(&auth, ",");
    sbuf_add(&auth, msg, (size_t)n);
    sbuf_adds(&auth, ",");
    sbuf_add(&auth, fin.p, fin.len);

    unsigned char csig[MAXH], proof[MAXH];
    unsigned len = 0;
    HMAC(md, k->stored_key, hl, (unsigned char *)auth.p, auth.len, csig, &len);
    for (int i = 0; i < hl; i++)
        proof[i] = k->client_key[i] ^ csig[i];
    HMAC(md, k->server_key, hl, (unsigned char *)auth.p, auth.len, s->server_sig, &len);
    s->have_sig = 1;

    sbuf_adds(&fin, ",p=");
    b64_encode(&fin, proof, (size_t)hl);
    b64_encode(out, (unsigned char *)fin.p, fin.len);
    sbuf_free(&fin);
    sbuf_free(&auth);
    return 0;
}

int sasl_finish(struct sasl_client *s, const char *success_b64)
{
    if (s->mech == MECH_PLAIN || s->verified) return 0;
    if (!s->have_sig) return -1;
    unsigned char sf[512];
    long n = b64_decode(success_b64, strlen(success_b64), sf, sizeof sf);
    if (n <= 0) return -1;
    size_t vl;
    const char *v = scram_attr((const char *)sf, (size_t)n, 'v', &vl);
    if (!v) return -1;
    unsigned char sig[MAXH + 4];
    long sigl = b64_decode(v, vl, sig, sizeof sig);
    int hl = EVP_MD_get_size(mech_md(s->mech));
    if (sigl != hl || CRYPTO_memcmp(sig, s->server_sig, (size_t)hl)) return -1;
    s->verified = 1;
    return 0;
}

/* Client side of SASL PLAIN (RFC 4616) and SCRAM-SHA-1 / SCRAM-SHA-256
 * (RFC 5802, RFC 7677), without channel binding. SaltedPassword is cached per
 * (hash, password, salt, iterations), as real clients do, so that repeated
 * sign-ins measure the server and not the client's PBKDF2. */
#ifndef BENCH_SCRAM_H
#define BENCH_SCRAM_H

#include "util.h"

enum sasl_mech {
    MECH_PLAIN = 1,
    MECH_SCRAM_SHA1 = 2,
    MECH_SCRAM_SHA256 = 4,
};

const char *sasl_mech_name(int mech);
int sasl_mech_from_name(const char *name); /* 0 if unknown */

struct sasl_client;

struct sasl_client *sasl_new(int mech, const char *user, const char *password);
void sasl_free(struct sasl_client *s);
/* Base64 initial response for <auth/>. */
void sasl_initial(struct sasl_client *s, struct sbuf *out);
/* Answer a base64 <challenge/>; returns 0 or -1 (malformed / bad nonce). */
int sasl_step(struct sasl_client *s, const char *challenge, struct sbuf *out);
/* Check the server's final message (from <success/>, may be empty if it came
 * as a challenge before). Returns 0 when the server proved itself. */
int sasl_finish(struct sasl_client *s, const char *success_b64);

/* Process-wide counters: PBKDF2 runs and cache hits. */
struct scram_cache_stats {
    uint64_t pbkdf2_runs, cache_hits;
};
struct scram_cache_stats scram_cache_stats(void);

/* Base64 helpers (no line breaks). decode returns length or -1. */
void b64_encode(struct sbuf *out, const unsigned char *in, size_t n);
long b64_decode(const char *in, size_t n, unsigned char *out, size_t cap);

#endif

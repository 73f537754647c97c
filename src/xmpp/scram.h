/* SCRAM (RFC 5802, RFC 7677) for the server side, with channel binding
 * (RFC 5929 tls-server-end-point, RFC 9266 tls-exporter).
 *
 * Passwords are never stored: an account holds, per hash, the salt, the
 * iteration count, StoredKey and ServerKey. vn_scram_derive_keys() is the
 * expensive step (PBKDF2) and must not run on the event loop.
 *
 * The exchange is a pure state machine with no I/O:
 *   vn_scram_server_init()
 *   vn_scram_server_client_first()  -> username to look up
 *   (look up credentials off-loop)
 *   vn_scram_server_first()         -> server-first-message
 *   vn_scram_server_client_final()  -> verifies the proof and channel
 *                                      binding, produces server-final-message
 *   vn_scram_server_clear()
 * Thread-safe: a state belongs to one thread at a time. */
#ifndef VN_XMPP_SCRAM_H
#define VN_XMPP_SCRAM_H

#include <stddef.h>
#include <stdint.h>

typedef enum { VN_SCRAM_SHA1 = 0, VN_SCRAM_SHA256 = 1, VN_SCRAM_NHASH = 2 } vn_scram_hash_t;

#define VN_SCRAM_MAX_HASH 32 /* SHA-256 */
#define VN_SCRAM_SALT_LEN 16
/* Limits applied to hostile input. A message longer than this is malformed
 * (the longest legitimate one carries a 3071-byte authzid JID plus an
 * escaped 1023-byte username). */
#define VN_SCRAM_MAX_MESSAGE 8192
#define VN_SCRAM_MIN_ITERATIONS 1u
#define VN_SCRAM_MAX_ITERATIONS 10000000u
/* Plaintext passwords longer than this are rejected (SASL PLAIN, derive). */
#define VN_SCRAM_MAX_PASSWORD 4096

typedef struct vn_scram_creds {
    uint8_t salt[64];
    size_t salt_len;
    uint32_t iterations;
    uint8_t stored_key[VN_SCRAM_MAX_HASH];
    uint8_t server_key[VN_SCRAM_MAX_HASH];
} vn_scram_creds_t;

size_t vn_scram_hash_len(vn_scram_hash_t h);
/* "SHA-1" / "SHA-256" */
const char *vn_scram_hash_name(vn_scram_hash_t h);

/* SaltedPassword := Hi(Normalize(password), salt, i). Returns 0 on success. */
int vn_scram_salted_password(vn_scram_hash_t h, const char *password, size_t pwlen,
                             const uint8_t *salt, size_t salt_len, uint32_t iterations,
                             uint8_t *out);
/* StoredKey and ServerKey from SaltedPassword. */
void vn_scram_keys_from_salted(vn_scram_hash_t h, const uint8_t *salted, uint8_t *stored_key,
                               uint8_t *server_key);
/* Full derivation with a fresh random salt (when salt_len == 0) or the given
 * salt already in c->salt. Sets c->iterations. Returns 0 on success. */
int vn_scram_derive_keys(vn_scram_hash_t h, const char *password, size_t pwlen,
                         uint32_t iterations, vn_scram_creds_t *c);
/* Checks a plaintext password against stored credentials (for SASL PLAIN).
 * Expensive (PBKDF2). Returns 1 on match, 0 otherwise. Constant-time compare. */
int vn_scram_check_password(vn_scram_hash_t h, const char *password, size_t pwlen,
                            const vn_scram_creds_t *c);

/* The verifier of hash h as the store keeps it, and back. The store keeps
 * it in slot h of an account's credentials (store/store.h vn_store_cred_t:
 * key[0] is StoredKey, key[1] ServerKey) and never looks inside; this is
 * the only place that knows the mapping. */
struct vn_store_cred;
void vn_scram_creds_to_store(vn_scram_hash_t h, const vn_scram_creds_t *c,
                             struct vn_store_cred *out);
/* 0 with *out set, 1 when the slot is empty, -1 when it does not hold a
 * verifier for h (key length not h's, salt or iteration count out of
 * range: a damaged row). *out is wiped unless 0. */
int vn_scram_creds_from_store(vn_scram_hash_t h, const struct vn_store_cred *in,
                              vn_scram_creds_t *out);

typedef enum {
    VN_SCRAM_OK = 0,
    VN_SCRAM_ERR_MALFORMED,       /* SASL malformed-request */
    VN_SCRAM_ERR_AUTHZID,         /* SASL invalid-authzid */
    VN_SCRAM_ERR_CB,              /* channel binding mismatch or downgrade */
    VN_SCRAM_ERR_NOT_AUTHORIZED,  /* bad proof or unknown user */
} vn_scram_status_t;

typedef enum {
    VN_SCRAM_CB_NONE = 0,  /* gs2 "n": client does not support binding */
    VN_SCRAM_CB_Y,         /* gs2 "y": client supports it, thinks server doesn't */
    VN_SCRAM_CB_P,         /* gs2 "p=type" */
} vn_scram_cb_flag_t;

typedef struct vn_scram_server {
    vn_scram_hash_t hash;
    int plus;                  /* the -PLUS mechanism was selected */
    int server_offers_plus;    /* the server advertised -PLUS variants */
    vn_scram_cb_flag_t cb_flag;
    char cb_type[32];          /* for p=: "tls-exporter", "tls-server-end-point" */
    char *gs2_header;          /* malloc'd, e.g. "n,," or "p=tls-exporter,," */
    char *authzid;             /* malloc'd or NULL, decoded */
    char *username;            /* malloc'd, decoded (=2C, =3D); the caller SASLpreps it */
    char *client_first_bare;   /* malloc'd */
    char *server_first;        /* malloc'd */
    char *nonce;               /* malloc'd: client nonce + server nonce */
    vn_scram_creds_t creds;
    int have_creds;            /* 0: unknown user; the exchange continues with fake creds */
    int state;                 /* internal: step of the exchange */
} vn_scram_server_t;

/* Unknown users get a salt derived from their name with a secret, and this
 * iteration count, so that they look like real accounts. The default secret
 * is random per process; a cluster whose nodes share one user store should
 * set the same secret on every node (otherwise the salt shown for an unknown
 * name differs between nodes and gives it away), and the iteration count
 * used for real accounts (default 4096). Call at start-up, before any
 * exchange; secret_len may be anything > 0. */
void vn_scram_set_unknown_user_params(const uint8_t *secret, size_t secret_len,
                                      uint32_t iterations);

void vn_scram_server_init(vn_scram_server_t *s, vn_scram_hash_t h, int plus,
                          int server_offers_plus);
/* Parses client-first-message. On VN_SCRAM_OK, s->username holds the name
 * (valid UTF-8, non-empty, not yet SASLprep'd: the caller normalises it),
 * s->authzid the decoded authzid or NULL, s->cb_flag/cb_type the binding
 * the client asked for (the caller computes cb_data for s->cb_type).
 * Errors: MALFORMED for syntax (including the reserved "m=" attribute),
 * CB for a binding request that does not fit the mechanism:
 *   -PLUS with "p=tls-exporter" / "p=tls-server-end-point": binding;
 *   -PLUS with "n": accepted as a non-binding exchange (slixmpp does this
 *     under TLS 1.3; no weaker than the plain mechanism, since the gs2
 *     header is covered by the proof);
 *   -PLUS with "y", or "p=" with another type: CB;
 *   plain with "p=": CB; plain with "y" while -PLUS was offered: CB
 *   (downgrade, RFC 5802 §6). */
vn_scram_status_t vn_scram_server_client_first(vn_scram_server_t *s, const char *msg, size_t len);
/* Sets the credentials found for s->username; pass NULL for an unknown user
 * (a deterministic fake salt is used so that unknown users are not revealed).
 * server_nonce may be NULL (random) or given for test vectors.
 * Credentials whose salt or iteration count is out of range are treated
 * like an unknown user (the exchange then fails with NOT_AUTHORIZED).
 * Returns a malloc'd server-first-message (owned by s; do not free), or NULL
 * when called out of order, when server_nonce is not printable ASCII without
 * ',', or when the random generator fails. */
const char *vn_scram_server_first(vn_scram_server_t *s, const vn_scram_creds_t *creds,
                                  const char *server_nonce);
/* Verifies client-final-message. cb_data is the channel binding data for
 * s->cb_type of this TLS connection (NULL when unavailable). On VN_SCRAM_OK,
 * *server_final is a malloc'd server-final-message ("v=...") to be freed by
 * the caller; otherwise *server_final is NULL. Either way the exchange is
 * over: a second call fails. */
vn_scram_status_t vn_scram_server_client_final(vn_scram_server_t *s, const char *msg, size_t len,
                                               const uint8_t *cb_data, size_t cb_len,
                                               char **server_final);
void vn_scram_server_clear(vn_scram_server_t *s);

/* Base64 helpers (OpenSSL EVP). Return malloc'd strings / buffers. */
char *vn_base64_encode(const uint8_t *p, size_t n);
/* Returns -1 on invalid input; *out malloc'd. */
int vn_base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen);

#endif

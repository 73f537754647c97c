/* Sign-in throttling: a brute-force defence that does not hand attackers a
 * way to lock the real user out (issue 18, defect 3).
 *
 * Failed sign-ins are counted in three tiers, checked in this order:
 *   address  one client address across every account (IPv6 by /64), so one
 *            host cannot try many accounts;
 *   pair     one (address, account) pair, so one host cannot guess one
 *            account's password; the tier that [auth] max_failures and
 *            lockout have always configured;
 *   account  one account from every address together, at a much higher and
 *            slower rate, against a guessing campaign spread over many
 *            addresses. Even when it trips, a known device of the account
 *            (vn_login_begin's known_device) still gets through, so an
 *            attacker cannot lock out a user who signs in from where she
 *            signed in before.
 * Each tier is a leaky bucket of max_failures failures, one of which is
 * forgiven every window / max_failures seconds. The failure that fills the
 * bucket locks the key for lockout seconds; afterwards one attempt is
 * allowed, and its failure locks again for twice as long, never above
 * max_lockout. The doubling restarts once the key is forgotten (bucket
 * empty, and a window past the end of its last lockout). While a key is locked,
 * and while its level plus the attempts still in progress reaches
 * max_failures (so parallel connections cannot overshoot the limit), an
 * attempt is refused before any password is looked at, whether it is right
 * or not: the answer must not tell a guesser whether the guess was good.
 * Refused attempts are not failures.
 *
 * Memory is bounded: at most max_entries failure keys and
 * known_max_accounts known-address records. Keys are a keyed hash (a random
 * secret per process) of the address and account, so they have a fixed size
 * whatever the client sends and cannot be chosen to collide in the map.
 * Every key carries the time it may be forgotten; vn_login_throttle_expire()
 * (run every few seconds by vn_login_throttle_start()) drops those that are
 * due, and when a table is full the key that would be forgotten soonest
 * makes room (a one-off failure goes before a locked or heavily used key).
 *
 * Known devices: today an address from which the account signed in
 * successfully within known_age seconds (up to known_addresses per account).
 * The session-level judgement lives in sasl.c (is_known_device()), which is
 * where enrolled client certificates (SASL EXTERNAL) and FAST tokens
 * (XEP-0484) will be recognised once they exist.
 *
 * Times are monotonic milliseconds passed in by the caller (vn_loop_now()),
 * so the logic can be tested without a loop. Not thread-safe: one throttle
 * per event loop. */
#ifndef VN_XMPP_LOGIN_THROTTLE_H
#define VN_XMPP_LOGIN_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/loop.h"

typedef struct vn_login_throttle vn_login_throttle_t;

typedef struct vn_login_tier {
    int max_failures; /* bucket size */
    int window;       /* seconds for a full bucket to drain */
    int lockout;      /* first lockout in seconds, doubling after that */
} vn_login_tier_t;

typedef struct vn_login_limits {
    vn_login_tier_t pair, address, account;
    int max_lockout;           /* seconds, cap of every tier's backoff */
    size_t max_entries;        /* failure keys of all tiers together */
    int known_addresses;       /* remembered successful addresses per account */
    int known_age;             /* seconds an address stays known */
    size_t known_max_accounts; /* accounts with remembered addresses */
} vn_login_limits_t;

typedef enum {
    VN_LOGIN_OK,
    VN_LOGIN_LOCKED_ADDRESS,
    VN_LOGIN_LOCKED_PAIR,
    VN_LOGIN_LOCKED_ACCOUNT,
} vn_login_verdict_t;

typedef enum { VN_LOGIN_FAILED, VN_LOGIN_SUCCEEDED, VN_LOGIN_ABANDONED } vn_login_outcome_t;

#define VN_LOGIN_KEY_LEN 32 /* hex characters of a key */

/* One attempt in progress, between vn_login_begin() and vn_login_end().
 * Embedded in its owner (the SASL state), which must end it exactly once;
 * vn_login_end() on an inactive ticket does nothing. */
typedef struct vn_login_ticket {
    int active;
    char addr[64];                     /* normalised address, for log lines */
    const char *account;               /* borrowed, for log lines; must outlive the ticket */
    char key[3][VN_LOGIN_KEY_LEN + 1]; /* address, pair, account */
    char known_key[VN_LOGIN_KEY_LEN + 1];
    uint64_t addr_hash;
} vn_login_ticket_t;

typedef struct vn_login_stats {
    size_t entries;          /* failure keys held */
    size_t peak_entries;     /* most failure keys held at once */
    size_t known_accounts;   /* accounts with known addresses */
    uint64_t expired;        /* keys forgotten by age (total) */
    uint64_t evicted;        /* keys dropped because a table was full (total) */
    uint64_t lockouts;       /* lockouts started (total) */
    uint64_t refused;        /* attempts refused (total) */
    uint64_t log_suppressed; /* log lines dropped by the rate limit (total) */
} vn_login_stats_t;

/* The limits from [auth] (see vestnik.conf.example). */
void vn_login_limits_from_config(const vn_config_t *cfg, vn_login_limits_t *out);

vn_login_throttle_t *vn_login_throttle_new(const vn_login_limits_t *lim);
/* Stops the sweep timer and frees every key. */
void vn_login_throttle_free(vn_login_throttle_t *t);
/* Arms a periodic timer on loop that expires keys and writes a debug line
 * with the table sizes when they changed (and a warning with the count of
 * log lines the rate limit dropped). */
void vn_login_throttle_start(vn_login_throttle_t *t, vn_loop_t *loop);

/* The address tier alone, for an attempt whose account is not known yet. */
vn_login_verdict_t vn_login_check_address(vn_login_throttle_t *t, const char *addr, uint64_t now);

/* Starts an attempt for account from addr: VN_LOGIN_OK (the ticket is
 * active) or the tier that refuses it (the ticket stays inactive).
 * known_device exempts the attempt from the account tier only. */
vn_login_verdict_t vn_login_begin(vn_login_throttle_t *t, vn_login_ticket_t *tk, const char *addr,
                                  const char *account, int known_device, uint64_t now);
/* Ends it: a failure counts in all three tiers; a success forgets the pair's
 * failures and remembers addr as a known address of the account; an
 * abandoned attempt (connection gone, SASL restarted) counts nothing. */
void vn_login_end(vn_login_throttle_t *t, vn_login_ticket_t *tk, vn_login_outcome_t outcome,
                  uint64_t now);
/* A failure whose account could not be determined (a malformed or foreign
 * username): the address tier only. */
void vn_login_fail_address(vn_login_throttle_t *t, const char *addr, uint64_t now);

/* Did account sign in successfully from addr within known_age? */
int vn_login_known_address(vn_login_throttle_t *t, const char *addr, const char *account,
                           uint64_t now);

/* Forgets every key that is due; returns how many went. */
size_t vn_login_throttle_expire(vn_login_throttle_t *t, uint64_t now);
void vn_login_throttle_stats(const vn_login_throttle_t *t, vn_login_stats_t *out);

/* Rate limit for sign-in log lines (failures, refusals): at most 10 lines
 * per ten seconds; 1 when a line may be written now. Lockout lines have a
 * budget of their own of the same size. Lines dropped are counted and
 * reported by the sweep timer. */
int vn_login_log_allow(vn_login_throttle_t *t, uint64_t now);

/* The address as throttled: IPv4 (also IPv4-mapped IPv6) as is, IPv6
 * reduced to its /64 (RFC 4291 §2.5.4: one subnet, and an end site is handed
 * at least that many addresses, RFC 6177), anything else copied. */
void vn_login_addr_norm(const char *peer, char *out, size_t n);

#endif

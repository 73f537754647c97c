#include "xmpp/login_throttle.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"

#define SWEEP_MS 5000
#define LOG_WINDOW_MS 10000
#define LOG_LINES_PER_WINDOW 10
#define MAX_STRIKES 30
#define NEVER UINT64_MAX

/* ---- a table of keys that expire: a map for lookups, a min-heap on the
 * time each key may be forgotten for the sweep and for eviction ---- */

typedef struct item {
    uint64_t expires_ms; /* NEVER while an attempt on the key is in progress */
    size_t heap_index;
    char key[VN_LOGIN_KEY_LEN + 1];
} item_t;

typedef struct table {
    vn_map_t *map;
    item_t **heap;
    size_t len, cap, max;
    size_t peak; /* highest len so far */
    uint64_t expired, evicted;
} table_t;

static void heap_swap(table_t *tb, size_t i, size_t j)
{
    item_t *a = tb->heap[i];
    tb->heap[i] = tb->heap[j];
    tb->heap[j] = a;
    tb->heap[i]->heap_index = i;
    tb->heap[j]->heap_index = j;
}

static void heap_fix(table_t *tb, size_t i)
{
    while (i > 0 && tb->heap[(i - 1) / 2]->expires_ms > tb->heap[i]->expires_ms) {
        heap_swap(tb, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < tb->len && tb->heap[l]->expires_ms < tb->heap[m]->expires_ms) m = l;
        if (r < tb->len && tb->heap[r]->expires_ms < tb->heap[m]->expires_ms) m = r;
        if (m == i) return;
        heap_swap(tb, i, m);
        i = m;
    }
}

static void table_init(table_t *tb, size_t max)
{
    memset(tb, 0, sizeof(*tb));
    tb->map = vn_map_new();
    tb->max = max;
}

static void table_remove(table_t *tb, item_t *it)
{
    vn_map_del(tb->map, it->key);
    size_t i = it->heap_index;
    tb->len--;
    if (i != tb->len) {
        heap_swap(tb, i, tb->len);
        heap_fix(tb, i);
    }
    free(it);
}

static void table_clear(table_t *tb)
{
    for (size_t i = 0; i < tb->len; i++)
        free(tb->heap[i]);
    free(tb->heap);
    vn_map_free(tb->map);
    memset(tb, 0, sizeof(*tb));
}

/* Adds it (whose key and expiry are set); a full table first drops the key
 * that would be forgotten soonest. */
static void table_insert(table_t *tb, item_t *it)
{
    if (tb->len >= tb->max && tb->len > 0) {
        table_remove(tb, tb->heap[0]);
        tb->evicted++;
    }
    if (tb->len == tb->cap) {
        tb->cap = tb->cap ? tb->cap * 2 : 64;
        tb->heap = vn_xrealloc(tb->heap, tb->cap * sizeof(*tb->heap));
    }
    it->heap_index = tb->len;
    tb->heap[tb->len++] = it;
    if (tb->len > tb->peak) tb->peak = tb->len;
    vn_map_put(tb->map, it->key, it);
    heap_fix(tb, it->heap_index);
}

/* The key's item, unless it is absent or due (then it goes now: a lookup
 * never sees a key the sweep would have dropped). */
static item_t *table_get(table_t *tb, const char *key, uint64_t now)
{
    item_t *it = vn_map_get(tb->map, key);
    if (it && it->expires_ms <= now) {
        table_remove(tb, it);
        tb->expired++;
        return NULL;
    }
    return it;
}

static size_t table_expire(table_t *tb, uint64_t now)
{
    size_t n = 0;
    while (tb->len > 0 && tb->heap[0]->expires_ms <= now) {
        table_remove(tb, tb->heap[0]);
        n++;
    }
    tb->expired += n;
    return n;
}

/* ---- the throttle ---- */

enum { T_ADDRESS, T_PAIR, T_ACCOUNT, T_COUNT };
static const char *const tier_name[T_COUNT] = {"address", "address+account", "account"};
static const char tier_tag[T_COUNT] = {'a', 'p', 'u'};

typedef struct fail_entry {
    item_t it;        /* first: the table frees the entry through it */
    uint32_t level;   /* failures not yet forgiven */
    uint64_t leak_ms; /* when the last one was forgiven (or the bucket was empty) */
    uint64_t locked_until_ms;
    uint32_t inflight; /* attempts begun and not yet ended */
    uint8_t strikes;   /* lockouts since the key was last forgotten */
} fail_entry_t;

typedef struct known_slot {
    uint64_t addr_hash;
    uint64_t at_ms; /* 0: empty */
} known_slot_t;

typedef struct known_entry {
    item_t it;
    known_slot_t slot[]; /* limits.known_addresses */
} known_entry_t;

struct vn_login_throttle {
    vn_login_limits_t lim;
    vn_login_tier_t tier[T_COUNT];
    table_t fails, known;
    EVP_MD_CTX *md;
    uint8_t secret[32];
    uint64_t lockouts, refused;
    /* log rate limit */
    /* log rate limits: [0] failures and refusals, [1] lockouts, so that a
     * flood of the first cannot hide the second */
    struct log_limit {
        uint64_t window_ms;
        int used;
    } log[2];
    uint64_t log_suppressed, log_suppressed_reported;
    /* sweep */
    vn_loop_t *loop;
    vn_timer_t timer;
    size_t last_entries, last_known;
};

void vn_login_limits_from_config(const vn_config_t *cfg, vn_login_limits_t *out)
{
    memset(out, 0, sizeof(*out));
    out->pair = (vn_login_tier_t){cfg->max_failures, cfg->failure_window, cfg->lockout};
    out->address =
        (vn_login_tier_t){cfg->address_max_failures, cfg->address_window, cfg->address_lockout};
    out->account =
        (vn_login_tier_t){cfg->account_max_failures, cfg->account_window, cfg->account_lockout};
    out->max_lockout = cfg->max_lockout;
    out->max_entries = cfg->throttle_max_entries;
    out->known_addresses = cfg->known_addresses;
    out->known_age = cfg->known_address_age;
    out->known_max_accounts = cfg->known_max_accounts;
}

vn_login_throttle_t *vn_login_throttle_new(const vn_login_limits_t *lim)
{
    vn_login_throttle_t *t = vn_xcalloc(1, sizeof(*t));
    t->lim = *lim;
    t->tier[T_ADDRESS] = lim->address;
    t->tier[T_PAIR] = lim->pair;
    t->tier[T_ACCOUNT] = lim->account;
    for (int i = 0; i < T_COUNT; i++) {
        if (t->tier[i].max_failures < 1) t->tier[i].max_failures = 1;
        if (t->tier[i].window < 1) t->tier[i].window = 1;
        if (t->tier[i].lockout < 1) t->tier[i].lockout = 1;
    }
    if (t->lim.max_lockout < 1) t->lim.max_lockout = 1;
    if (t->lim.known_addresses < 0) t->lim.known_addresses = 0;
    table_init(&t->fails, lim->max_entries ? lim->max_entries : 1);
    table_init(&t->known, lim->known_max_accounts ? lim->known_max_accounts : 1);
    t->md = EVP_MD_CTX_new();
    if (!t->md || RAND_bytes(t->secret, sizeof(t->secret)) != 1) {
        vn_error("login throttle: no randomness for the key secret");
        abort();
    }
    return t;
}

void vn_login_throttle_free(vn_login_throttle_t *t)
{
    if (!t) return;
    if (t->loop) vn_timer_stop(t->loop, &t->timer);
    table_clear(&t->fails);
    table_clear(&t->known);
    EVP_MD_CTX_free(t->md);
    OPENSSL_cleanse(t->secret, sizeof(t->secret));
    free(t);
}

/* ---- keys ---- */

void vn_login_addr_norm(const char *peer, char *out, size_t n)
{
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, peer, &a4) == 1) {
        inet_ntop(AF_INET, &a4, out, (socklen_t)n);
        return;
    }
    if (inet_pton(AF_INET6, peer, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            memcpy(&a4, &a6.s6_addr[12], 4);
            inet_ntop(AF_INET, &a4, out, (socklen_t)n);
            return;
        }
        memset(&a6.s6_addr[8], 0, 8);
        char buf[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a6, buf, sizeof(buf));
        snprintf(out, n, "%s/64", buf);
        return;
    }
    snprintf(out, n, "%s", peer);
}

/* SHA-256 over a per-process secret and the fields: the map's hash cannot
 * be steered by crafted account names, and a key is 32 bytes however long
 * the account name is. */
static void digest(vn_login_throttle_t *t, char tag, const char *a, const char *b, uint8_t out[32])
{
    unsigned len = 0;
    EVP_DigestInit_ex(t->md, EVP_sha256(), NULL);
    EVP_DigestUpdate(t->md, t->secret, sizeof(t->secret));
    EVP_DigestUpdate(t->md, &tag, 1);
    EVP_DigestUpdate(t->md, a, strlen(a) + 1);
    if (b) EVP_DigestUpdate(t->md, b, strlen(b) + 1);
    EVP_DigestFinal_ex(t->md, out, &len);
}

static void make_key(vn_login_throttle_t *t, char tag, const char *a, const char *b,
                     char key[VN_LOGIN_KEY_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t d[32];
    digest(t, tag, a, b, d);
    for (int i = 0; i < VN_LOGIN_KEY_LEN / 2; i++) {
        key[2 * i] = hex[d[i] >> 4];
        key[2 * i + 1] = hex[d[i] & 15];
    }
    key[VN_LOGIN_KEY_LEN] = '\0';
}

static uint64_t addr_hash(vn_login_throttle_t *t, const char *addr)
{
    uint8_t d[32];
    uint64_t h;
    digest(t, 'h', addr, NULL, d);
    memcpy(&h, d, sizeof(h));
    return h ? h : 1;
}

/* ---- failure buckets ---- */

/* One failure is forgiven every window / max_failures. */
static uint64_t leak_interval(const vn_login_tier_t *tr)
{
    uint64_t iv = (uint64_t)tr->window * 1000 / (uint64_t)tr->max_failures;
    return iv ? iv : 1;
}

/* Forgives what is due; never moves the key's expiry. */
static void leak(const vn_login_tier_t *tr, fail_entry_t *e, uint64_t now)
{
    if (now <= e->leak_ms) return;
    if (e->level == 0) {
        e->leak_ms = now;
        return;
    }
    uint64_t iv = leak_interval(tr);
    uint64_t n = (now - e->leak_ms) / iv;
    if (n >= e->level) {
        e->level = 0;
        e->leak_ms = now;
    } else {
        e->level -= (uint32_t)n;
        e->leak_ms += n * iv;
    }
}

/* When the key may be forgotten: its bucket is empty, no lockout is in
 * force, and a window has passed since its last lockout (so that the next
 * one still doubles). */
static void set_expiry(table_t *tb, const vn_login_tier_t *tr, fail_entry_t *e)
{
    uint64_t exp;
    if (e->inflight) {
        exp = NEVER;
    } else {
        exp = e->leak_ms + (uint64_t)e->level * leak_interval(tr);
        uint64_t w = (uint64_t)tr->window * 1000;
        if (e->strikes && e->locked_until_ms + w > exp) exp = e->locked_until_ms + w;
    }
    e->it.expires_ms = exp;
    heap_fix(tb, e->it.heap_index);
}

static fail_entry_t *fail_get(vn_login_throttle_t *t, const char *key, uint64_t now)
{
    return (fail_entry_t *)table_get(&t->fails, key, now);
}

static fail_entry_t *fail_get_or_add(vn_login_throttle_t *t, const char *key, uint64_t now)
{
    fail_entry_t *e = fail_get(t, key, now);
    if (e) return e;
    e = vn_xcalloc(1, sizeof(*e));
    memcpy(e->it.key, key, VN_LOGIN_KEY_LEN + 1);
    e->leak_ms = now;
    e->it.expires_ms = NEVER; /* set by the caller */
    table_insert(&t->fails, &e->it);
    return e;
}

static int refuses(vn_login_throttle_t *t, int tier, const char *key, uint64_t now)
{
    fail_entry_t *e = fail_get(t, key, now);
    if (!e) return 0;
    const vn_login_tier_t *tr = &t->tier[tier];
    if (now < e->locked_until_ms) return 1;
    leak(tr, e, now);
    if (e->level >= (uint32_t)tr->max_failures) return 1;
    /* Attempts in progress count as failures for the pair (parallel
     * guesses at one account); for an address or an account only once it
     * has failed at all: many people behind one NAT signing in at once
     * (after a network outage, at nine in the morning) are not guessing.
     * An attacker's first parallel wave is bounded by
     * [c2s] max_connections_per_address and then locks the address. */
    if (tier != T_PAIR && e->level == 0) return 0;
    return (uint64_t)e->level + e->inflight >= (uint64_t)tr->max_failures;
}

static int log_allow(vn_login_throttle_t *t, struct log_limit *l, uint64_t now)
{
    if (now >= l->window_ms + LOG_WINDOW_MS) {
        l->window_ms = now;
        l->used = 0;
    }
    if (l->used < LOG_LINES_PER_WINDOW) {
        l->used++;
        return 1;
    }
    t->log_suppressed++;
    return 0;
}

int vn_login_log_allow(vn_login_throttle_t *t, uint64_t now)
{
    return log_allow(t, &t->log[0], now);
}

static void add_failure(vn_login_throttle_t *t, int tier, fail_entry_t *e, const char *addr,
                        const char *account, uint64_t now)
{
    const vn_login_tier_t *tr = &t->tier[tier];
    leak(tr, e, now);
    e->level++;
    if (e->level < (uint32_t)tr->max_failures) return;
    if (e->strikes < MAX_STRIKES) e->strikes++;
    uint64_t secs = (uint64_t)tr->lockout << (e->strikes - 1 > 20 ? 20 : e->strikes - 1);
    if (secs > (uint64_t)t->lim.max_lockout) secs = (uint64_t)t->lim.max_lockout;
    e->locked_until_ms = now + secs * 1000;
    /* One attempt is possible right after the lockout, the next failure
     * locks again for twice as long. */
    e->level = (uint32_t)tr->max_failures - 1;
    t->lockouts++;
    if (vn_log_enabled(VN_LOG_WARN) && log_allow(t, &t->log[1], now))
        vn_warn("login throttled by %s: address %s, account %s locked for %llus (lockout %u)",
                tier_name[tier], tier == T_ACCOUNT ? "(any)" : addr,
                tier == T_ADDRESS ? "(any)" : (account ? account : "?"), (unsigned long long)secs,
                (unsigned)e->strikes);
}

vn_login_verdict_t vn_login_check_address(vn_login_throttle_t *t, const char *addr, uint64_t now)
{
    char a[64], key[VN_LOGIN_KEY_LEN + 1];
    vn_login_addr_norm(addr, a, sizeof(a));
    make_key(t, tier_tag[T_ADDRESS], a, NULL, key);
    if (!refuses(t, T_ADDRESS, key, now)) return VN_LOGIN_OK;
    t->refused++;
    return VN_LOGIN_LOCKED_ADDRESS;
}

vn_login_verdict_t vn_login_begin(vn_login_throttle_t *t, vn_login_ticket_t *tk, const char *addr,
                                  const char *account, int known_device, uint64_t now)
{
    memset(tk, 0, sizeof(*tk));
    vn_login_addr_norm(addr, tk->addr, sizeof(tk->addr));
    tk->account = account;
    make_key(t, tier_tag[T_ADDRESS], tk->addr, NULL, tk->key[T_ADDRESS]);
    make_key(t, tier_tag[T_PAIR], tk->addr, account, tk->key[T_PAIR]);
    make_key(t, tier_tag[T_ACCOUNT], account, NULL, tk->key[T_ACCOUNT]);
    static const vn_login_verdict_t verdict[T_COUNT] = {
        VN_LOGIN_LOCKED_ADDRESS, VN_LOGIN_LOCKED_PAIR, VN_LOGIN_LOCKED_ACCOUNT};
    for (int i = 0; i < T_COUNT; i++) {
        if (i == T_ACCOUNT && known_device) continue;
        if (refuses(t, i, tk->key[i], now)) {
            t->refused++;
            return verdict[i];
        }
    }
    /* Reserve the attempt in every tier (no pointer is kept: adding one key
     * may evict another). */
    for (int i = 0; i < T_COUNT; i++) {
        fail_entry_t *e = fail_get_or_add(t, tk->key[i], now);
        e->inflight++;
        set_expiry(&t->fails, &t->tier[i], e);
    }
    make_key(t, 'k', account, NULL, tk->known_key);
    tk->addr_hash = addr_hash(t, tk->addr);
    tk->active = 1;
    return VN_LOGIN_OK;
}

static void remember_known(vn_login_throttle_t *t, const vn_login_ticket_t *tk, uint64_t now)
{
    int n = t->lim.known_addresses;
    if (n <= 0) return;
    known_entry_t *k = (known_entry_t *)table_get(&t->known, tk->known_key, now);
    if (!k) {
        k = vn_xcalloc(1, sizeof(*k) + (size_t)n * sizeof(known_slot_t));
        memcpy(k->it.key, tk->known_key, VN_LOGIN_KEY_LEN + 1);
        k->it.expires_ms = NEVER;
        table_insert(&t->known, &k->it);
    }
    /* The same address again, else an empty slot, else the oldest. */
    int pick = 0;
    for (int i = 0; i < n; i++) {
        if (k->slot[i].addr_hash == tk->addr_hash) {
            pick = i;
            break;
        }
        if (k->slot[i].at_ms < k->slot[pick].at_ms) pick = i;
    }
    k->slot[pick].addr_hash = tk->addr_hash;
    k->slot[pick].at_ms = now ? now : 1;
    k->it.expires_ms = now + (uint64_t)t->lim.known_age * 1000;
    heap_fix(&t->known, k->it.heap_index);
}

void vn_login_end(vn_login_throttle_t *t, vn_login_ticket_t *tk, vn_login_outcome_t outcome,
                  uint64_t now)
{
    if (!tk->active) return;
    tk->active = 0;
    for (int i = 0; i < T_COUNT; i++) {
        /* A key evicted meanwhile is added again for a failure only. */
        fail_entry_t *e = outcome == VN_LOGIN_FAILED ? fail_get_or_add(t, tk->key[i], now)
                                                     : fail_get(t, tk->key[i], now);
        if (!e) continue;
        if (e->inflight) e->inflight--;
        if (outcome == VN_LOGIN_FAILED) {
            add_failure(t, i, e, tk->addr, tk->account, now);
        } else if (outcome == VN_LOGIN_SUCCEEDED && i == T_PAIR) {
            /* The pair proved itself: its failures are forgiven. The
             * address and account tiers keep theirs, or an attacker with
             * one account of its own could reset them at will. */
            e->level = 0;
            e->strikes = 0;
            e->locked_until_ms = 0;
        }
        set_expiry(&t->fails, &t->tier[i], e);
        if (e->it.expires_ms <= now) table_remove(&t->fails, &e->it);
    }
    if (outcome == VN_LOGIN_SUCCEEDED) remember_known(t, tk, now);
}

void vn_login_fail_address(vn_login_throttle_t *t, const char *addr, uint64_t now)
{
    char a[64], key[VN_LOGIN_KEY_LEN + 1];
    vn_login_addr_norm(addr, a, sizeof(a));
    make_key(t, tier_tag[T_ADDRESS], a, NULL, key);
    fail_entry_t *e = fail_get_or_add(t, key, now);
    add_failure(t, T_ADDRESS, e, a, NULL, now);
    set_expiry(&t->fails, &t->tier[T_ADDRESS], e);
}

int vn_login_known_address(vn_login_throttle_t *t, const char *addr, const char *account,
                           uint64_t now)
{
    if (t->lim.known_addresses <= 0) return 0;
    char a[64], key[VN_LOGIN_KEY_LEN + 1];
    make_key(t, 'k', account, NULL, key);
    known_entry_t *k = (known_entry_t *)table_get(&t->known, key, now);
    if (!k) return 0;
    vn_login_addr_norm(addr, a, sizeof(a));
    uint64_t h = addr_hash(t, a);
    uint64_t age = (uint64_t)t->lim.known_age * 1000;
    for (int i = 0; i < t->lim.known_addresses; i++)
        if (k->slot[i].addr_hash == h && k->slot[i].at_ms && now - k->slot[i].at_ms < age) return 1;
    return 0;
}

size_t vn_login_throttle_expire(vn_login_throttle_t *t, uint64_t now)
{
    return table_expire(&t->fails, now) + table_expire(&t->known, now);
}

void vn_login_throttle_stats(const vn_login_throttle_t *t, vn_login_stats_t *out)
{
    out->entries = t->fails.len;
    out->peak_entries = t->fails.peak;
    out->known_accounts = t->known.len;
    out->expired = t->fails.expired + t->known.expired;
    out->evicted = t->fails.evicted + t->known.evicted;
    out->lockouts = t->lockouts;
    out->refused = t->refused;
    out->log_suppressed = t->log_suppressed;
}

/* ---- periodic sweep ---- */

static void sweep(vn_timer_t *tm)
{
    vn_login_throttle_t *t = tm->cb_data;
    uint64_t now = vn_loop_now(t->loop);
    vn_login_throttle_expire(t, now);
    if (t->fails.len != t->last_entries || t->known.len != t->last_known) {
        vn_login_stats_t st;
        vn_login_throttle_stats(t, &st);
        vn_debug("login throttle: %zu keys (peak %zu), %zu known accounts (%llu expired, %llu "
                 "evicted, %llu lockouts, %llu refused so far)",
                 st.entries, st.peak_entries, st.known_accounts, (unsigned long long)st.expired,
                 (unsigned long long)st.evicted, (unsigned long long)st.lockouts,
                 (unsigned long long)st.refused);
        t->last_entries = t->fails.len;
        t->last_known = t->known.len;
    }
    if (t->log_suppressed != t->log_suppressed_reported) {
        vn_warn("login throttle: %llu sign-in log lines suppressed; %llu lockouts, %llu "
                "refused attempts so far",
                (unsigned long long)(t->log_suppressed - t->log_suppressed_reported),
                (unsigned long long)t->lockouts, (unsigned long long)t->refused);
        t->log_suppressed_reported = t->log_suppressed;
    }
    vn_timer_start(t->loop, &t->timer, SWEEP_MS, sweep);
}

void vn_login_throttle_start(vn_login_throttle_t *t, vn_loop_t *loop)
{
    t->loop = loop;
    t->timer.cb_data = t;
    vn_timer_start(loop, &t->timer, SWEEP_MS, sweep);
}

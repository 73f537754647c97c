/* Unit tests for src/xmpp/login_throttle.c: the three tiers of sign-in
 * throttling, the known-address exemption, attempts in progress, backoff
 * and its cap, and the memory bounds (issue 18, defect 3). Time is passed
 * in, so nothing here sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "xmpp/login_throttle.h"
#include "xmpp/module.h"

#define SEC 1000ULL
#define T0 (1000000ULL * SEC)

static vn_login_limits_t limits(void)
{
    vn_login_limits_t l = {
        .pair = {5, 900, 10},
        .address = {30, 900, 60},
        .account = {100, 3600, 60},
        .max_lockout = 3600,
        .max_entries = 100000,
        .known_addresses = 4,
        .known_age = 14 * 86400,
        .known_max_accounts = 1000,
    };
    return l;
}

/* One complete attempt: the verdict; when admitted, ended with ok. */
static vn_login_verdict_t attempt(vn_login_throttle_t *t, const char *addr, const char *acct,
                                  int ok, uint64_t now)
{
    vn_login_ticket_t tk;
    int known = vn_login_known_address(t, addr, acct, now);
    vn_login_verdict_t v = vn_login_begin(t, &tk, addr, acct, known, now);
    if (v == VN_LOGIN_OK)
        vn_login_end(t, &tk, ok ? VN_LOGIN_SUCCEEDED : VN_LOGIN_FAILED, now);
    else
        assert_false(tk.active);
    return v;
}

static size_t entries(vn_login_throttle_t *t)
{
    vn_login_stats_t st;
    vn_login_throttle_stats(t, &st);
    return st.entries;
}

/* The defect: 50 wrong passwords from one address locked the account for
 * every address. Now they lock only the pair. */
static void test_pair_lockout_spares_other_addresses(void **state)
{
    (void)state;
    vn_login_limits_t l = limits();
    vn_login_throttle_t *t = vn_login_throttle_new(&l);
    uint64_t now = T0;
    int refused = 0;
    for (int i = 0; i < 50; i++) {
        vn_login_verdict_t v = attempt(t, "192.0.2.2", "alice@example.org", 0, now += 10);
        if (i < 5)
            assert_int_equal(v, VN_LOGIN_OK);
        else
            refused += v == VN_LOGIN_LOCKED_PAIR;
    }
    assert_int_equal(refused, 45);
    /* The right password from the attacker's address is refused too. */
    assert_int_equal(attempt(t, "192.0.2.2", "alice@example.org", 1, now), VN_LOGIN_LOCKED_PAIR);
    /* The real user elsewhere, and other accounts from that address, pass. */
    assert_int_equal(attempt(t, "192.0.2.3", "alice@example.org", 1, now), VN_LOGIN_OK);
    assert_int_equal(attempt(t, "192.0.2.2", "bob@example.org", 1, now), VN_LOGIN_OK);
    assert_int_equal(vn_login_check_address(t, "192.0.2.2", now), VN_LOGIN_OK);
    vn_login_throttle_free(t);
}

/* The first lockout lasts lockout seconds, each one after it twice as
 * long, never more than max_lockout; one attempt is allowed after each. */
static void test_pair_backoff_doubles_and_is_capped(void **state)
{
    (void)state;
    vn_login_limits_t l = limits();
    l.max_lockout = 100;
    l.pair.window = 86400; /* nothing forgiven meanwhile */
    vn_login_throttle_t *t = vn_login_throttle_new(&l);
    const char *a = "192.0.2.9", *u = "carol@example.org";
    uint64_t now = T0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(attempt(t, a, u, 0, now), VN_LOGIN_OK);
    const uint64_t expect[] = {10, 20, 40, 80, 100, 100};
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        uint64_t len = (i == 0 ? 10 : expect[i]) * SEC;
        if (i > 0) {
            assert_int_equal(attempt(t, a, u, 0, now), VN_LOGIN_OK); /* starts lockout i */
        }
        assert_int_equal(attempt(t, a, u, 1, now + len - 1), VN_LOGIN_LOCKED_PAIR);
        /* Just after it: one attempt, the next one refused again. */
        now += len;
        assert_int_equal(vn_login_check_address(t, a, now), VN_LOGIN_OK);
    }
    /* A success after the lockout forgives the pair completely. */
    assert_int_equal(attempt(t, a, u, 1, now), VN_LOGIN_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(attempt(t, a, u, 0, now), VN_LOGIN_OK);
    assert_int_equal(attempt(t, a, u, 0, now), VN_LOGIN_OK); /* the fifth locks for 10 s */
    assert_int_equal(attempt(t, a, u, 1, now + 10 * SEC - 1), VN_LOGIN_LOCKED_PAIR);
    assert_int_equal(attempt(t, a, u, 1, now + 10 * SEC), VN_LOGIN_OK);
    vn_login_throttle_free(t);
}

/* The bucket forgives one failure every window / max_failures: a slow
 * trickle of typos never locks anyone. */
static void test_slow_failures_are_forgiven(void **state)
{
    (void)state;
    vn_login_limits_t l = limits();
    vn_login_throttle_t *t = vn_login_throttle_new(&l);
    uint64_t now = T0;
    /* 900 s / 5 = one forgiven every 180 s */
    for (int i = 0; i < 100; i++)
        assert_int_equal(attempt(t, "192.0.2.4", "dave@example.org", 0, now += 180 * SEC),
                         VN_LOGIN_OK);
    /* ... but four more in a row make five and lock. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(attempt(t, "192.0.2.4", "dave@example.org", 0, now), VN_LOGIN_OK);
    assert_int_equal(attempt(t, "192.0.2.4", "dave@example.org", 1, now), VN_LOGIN_LOCKED_PAIR);
    vn_login_throttle_free(t);
}

/* One address failing on many accounts is throttled as an address: every
 * account, with any password, until its lockout ends. */
static void test_address_tier(void **state)
{
    (void)state;
    vn_login_limits_t l = limits();
    vn_login_throttle_t *t = vn_login_throttle_new(&l);
    uint64_t now = T0;
    char acct[64];
    for (int i = 0; i < 30; i++) {
        snprintf(acct, sizeof(acct), "user%d@example.org", i);
        assert_int_equal(attempt(t, "198.51.100.7", acct, 0, now), VN_LOGIN_OK);
    }
    assert_int_equal(vn_login_check_address(t, "198.51.100.7", now), VN_LOGIN_LOCKED_ADDRESS);
    assert_int_equal(attempt(t, "198.51.100.7", "erin@example.org", 1, now),
                     VN_LOGIN_LOCKED_ADDRESS);
    assert_int_equal(attempt(t, "198.51.100.8", "erin@example.org", 1, now), VN_LOGIN_OK);
    /* Failures whose account is unknown (a malformed username) count too. */
    for (int i = 0; i < 30; i++)
        vn_login_fail_address(t, "198.51.100.9", now);
    assert_int_equal(vn_login_check_address(t, "198.51.100.9", now), VN_LOGIN_LOCKED_ADDRESS);
    assert_int_equal(vn_login_check_address(t, "198.51.100.7", now + 60 * SEC), VN_LOGIN_OK);
    vn_login_throttle_free(t);
}

/* An attacker rotating over 200 addresses (the second case): the
 * account tier trips, yet the real user from an address where she signed
 * in before gets in every time; a new address waits. */
static void test_account_tier_spares_known_devices(void **state)
{
    (void)state;
    vn_login_limits_t l = limits();
    vn_login_throttle_t *t = vn_login_throttle_new(&l);
    const char *u = "alice@example.org";
    uint64_t now = T0;
    assert_int_equal(attempt(t, "10.0.0.1", u, 1, now), VN_LOGIN_OK);
    assert_true(vn_login_known_address(t, "10.0.0.1", u, now));
    assert_false(vn_login_known_address(t, "10.0.0.2", u, now));
    assert_false(vn_login_known_address(t, "10.0.0.1", "bob@example.org", now));
    char addr[32];
    int real_ok = 0, real_tries = 0, attacker_refused = 0;
    for (int i = 0; i < 400; i++) {
        snprintf(addr, sizeof(addr), "203.0.113.%d", i % 200);
        now += 50;
        attacker_refused += attempt(t, addr, u, 0, now) == VN_LOGIN_LOCKED_ACCOUNT;
        if (i % 25 == 0) {
            real_tries++;
            real_ok += attempt(t, "10.0.0.1", u, 1, now) == VN_LOGIN_OK;
        }
    }
    assert_int_equal(real_ok, real_tries);
    assert_true(attacker_refused >= 250); /* the tier did trip, after 100 */
    assert_int_equal(attempt(t, "10.0.0.99", u, 1, now), VN_LOGIN_LOCKED_ACCOUNT);
    /* A known address is known for known_age only. */
    uint64_t later = now + (uint64_t)l.known_age * SEC;
    assert_false(vn_login_known_address(t, "10.0.0.1", u, later));
    vn_login_throttle_free(t);
}

/* Attempts in progress count against the limit, so parallel connections
 * cannot get more guesses than max_failures; an abandoned attempt (the
 * connection went away) costs nothing afterwards. */
static void test_attempts_in_progress(void **state)
{
    (void)state;
    vn_login_limits_t l = limits();
    vn_login_throttle_t *t = vn_login_throttle_new(&l);
    vn_login_ticket_t tk[6];
    uint64_t now = T0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(vn_login_begin(t, &tk[i], "192.0.2.5", "frank@example.org", 0, now),
                         VN_LOGIN_OK);
    assert_int_equal(vn_login_begin(t, &tk[5], "192.0.2.5", "frank@example.org", 0, now),
                     VN_LOGIN_LOCKED_PAIR);
    vn_login_end(t, &tk[5], VN_LOGIN_FAILED, now); /* inactive: nothing */
    for (int i = 0; i < 5; i++)
        vn_login_end(t, &tk[i], VN_LOGIN_ABANDONED, now);
    vn_login_end(t, &tk[0], VN_LOGIN_FAILED, now); /* ended already: nothing */
    assert_int_equal(entries(t), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(attempt(t, "192.0.2.5", "frank@example.org", 0, now), VN_LOGIN_OK);
    assert_int_equal(attempt(t, "192.0.2.5", "frank@example.org", 1, now), VN_LOGIN_OK);
    vn_login_throttle_free(t);
}

/* A success forgives its pair, not the address or the account tier (an
 * attacker signing in to an account of its own must not reset them). */
static void test_success_keeps_address_and_account_counts(void **state)
{
    (void)state;
    vn_login_limits_t l = limits();
    l.address.max_failures = 6;
    vn_login_throttle_t *t = vn_login_throttle_new(&l);
    uint64_t now = T0;
    char acct[64];
    for (int round = 0; round < 6; round++) {
        snprintf(acct, sizeof(acct), "grace%d@example.org", round);
        assert_int_equal(attempt(t, "192.0.2.6", acct, 0, now), VN_LOGIN_OK);
        if (round < 5)
            assert_int_equal(attempt(t, "192.0.2.6", "mallory@example.org", 1, now), VN_LOGIN_OK);
    }
    assert_int_equal(vn_login_check_address(t, "192.0.2.6", now), VN_LOGIN_LOCKED_ADDRESS);
    /* Successful sign-ins leave no failure keys behind. */
    vn_login_throttle_t *t2 = vn_login_throttle_new(&l);
    for (int i = 0; i < 100; i++)
        assert_int_equal(attempt(t2, "192.0.2.7", "heidi@example.org", 1, now + (uint64_t)i),
                         VN_LOGIN_OK);
    assert_int_equal(entries(t2), 0);
    vn_login_stats_t st;
    vn_login_throttle_stats(t2, &st);
    assert_int_equal(st.known_accounts, 1);
    vn_login_throttle_free(t2);
    vn_login_throttle_free(t);
}

/* An attacker rotating addresses and account names cannot grow the table
 * past max_entries; one-off keys make room first, so a locked pair
 * survives the flood. */
static void test_table_is_bounded(void **state)
{
    (void)state;
    vn_login_limits_t l = limits();
    l.max_entries = 500;
    vn_login_throttle_t *t = vn_login_throttle_new(&l);
    uint64_t now = T0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(attempt(t, "192.0.2.10", "ivan@example.org", 0, now), VN_LOGIN_OK);
    char addr[32], acct[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(addr, sizeof(addr), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        snprintf(acct, sizeof(acct), "spray%d@example.org", i);
        attempt(t, addr, acct, 0, now + 1);
        assert_true(entries(t) <= 500);
    }
    vn_login_stats_t st;
    vn_login_throttle_stats(t, &st);
    assert_true(st.evicted >= 20000 * 3 - 500);
    assert_int_equal(st.peak_entries, 500);
    assert_int_equal(attempt(t, "192.0.2.10", "ivan@example.org", 1, now + 2),
                     VN_LOGIN_LOCKED_PAIR);
    /* Long account names cost no more: keys are fixed-size digests. */
    char longname[1100];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(attempt(t, "192.0.2.11", longname, 0, now + 3), VN_LOGIN_OK);
    vn_login_throttle_free(t);
}

/* The sweep forgets keys by age without any lookup. */
static void test_expiry_without_lookups(void **state)
{
    (void)state;
    vn_login_limits_t l = limits();
    l.known_age = 600;
    vn_login_throttle_t *t = vn_login_throttle_new(&l);
    uint64_t now = T0;
    char addr[32], acct[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(addr, sizeof(addr), "10.1.%d.%d", i >> 8, i & 255);
        snprintf(acct, sizeof(acct), "user%d@example.org", i);
        attempt(t, addr, acct, i % 10 == 0, now);
    }
    for (int i = 0; i < 5; i++)
        attempt(t, "192.0.2.12", "judy@example.org", 0, now);
    vn_login_stats_t st;
    vn_login_throttle_stats(t, &st);
    assert_true(st.entries > 1000);
    assert_int_equal(st.known_accounts, 100);
    assert_int_equal(vn_login_throttle_expire(t, now + 1), 0);
    /* One failure: forgotten after one leak interval of its tier (the
     * address tier's 30 s, the pair's 180 s, the account's 36 s). */
    vn_login_throttle_expire(t, now + 181 * SEC);
    vn_login_throttle_stats(t, &st);
    assert_true(st.entries <= 3); /* the locked pair and its address and account */
    assert_int_equal(st.known_accounts, 100);
    vn_login_throttle_expire(t, now + 601 * SEC);
    vn_login_throttle_stats(t, &st);
    assert_int_equal(st.known_accounts, 0);
    /* The lockout plus one window after it. */
    vn_login_throttle_expire(t, now + (10 + 900) * SEC + 1);
    vn_login_throttle_stats(t, &st);
    assert_int_equal(st.entries, 0);
    assert_true(st.expired > 1000);
    vn_login_throttle_free(t);
}

/* Known addresses: at most known_addresses per account (the oldest goes),
 * at most known_max_accounts accounts. */
static void test_known_addresses_bounded(void **state)
{
    (void)state;
    vn_login_limits_t l = limits();
    l.known_addresses = 2;
    l.known_max_accounts = 100;
    vn_login_throttle_t *t = vn_login_throttle_new(&l);
    uint64_t now = T0;
    attempt(t, "10.2.0.1", "kim@example.org", 1, now);
    attempt(t, "10.2.0.2", "kim@example.org", 1, now + 1);
    attempt(t, "10.2.0.1", "kim@example.org", 1, now + 2); /* refreshes .1 */
    attempt(t, "10.2.0.3", "kim@example.org", 1, now + 3); /* replaces .2 */
    assert_true(vn_login_known_address(t, "10.2.0.1", "kim@example.org", now + 4));
    assert_false(vn_login_known_address(t, "10.2.0.2", "kim@example.org", now + 4));
    assert_true(vn_login_known_address(t, "10.2.0.3", "kim@example.org", now + 4));
    char acct[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(acct, sizeof(acct), "u%d@example.org", i);
        attempt(t, "10.2.1.1", acct, 1, now + 10 + (uint64_t)i);
    }
    vn_login_stats_t st;
    vn_login_throttle_stats(t, &st);
    assert_int_equal(st.known_accounts, 100);
    assert_true(vn_login_known_address(t, "10.2.1.1", "u999@example.org", now + 2000));
    assert_false(vn_login_known_address(t, "10.2.1.1", "u0@example.org", now + 2000));
    /* Disabled: nothing is ever known. */
    l.known_addresses = 0;
    vn_login_throttle_t *t0 = vn_login_throttle_new(&l);
    attempt(t0, "10.2.0.1", "kim@example.org", 1, now);
    assert_false(vn_login_known_address(t0, "10.2.0.1", "kim@example.org", now));
    vn_login_throttle_free(t0);
    vn_login_throttle_free(t);
}

static void test_address_normalisation(void **state)
{
    (void)state;
    char out[64];
    vn_login_addr_norm("127.0.0.2", out, sizeof(out));
    assert_string_equal(out, "127.0.0.2");
    vn_login_addr_norm("::ffff:192.0.2.1", out, sizeof(out));
    assert_string_equal(out, "192.0.2.1");
    vn_login_addr_norm("2001:db8:1:2:3:4:5:6", out, sizeof(out));
    assert_string_equal(out, "2001:db8:1:2::/64");
    vn_login_addr_norm("?", out, sizeof(out));
    assert_string_equal(out, "?");
    /* Addresses of one IPv6 /64 are one address to the throttle. */
    vn_login_limits_t l = limits();
    vn_login_throttle_t *t = vn_login_throttle_new(&l);
    char addr[64];
    for (int i = 0; i < 30; i++) {
        snprintf(addr, sizeof(addr), "2001:db8:1:2::%x", i + 1);
        char acct[32];
        snprintf(acct, sizeof(acct), "v6-%d@example.org", i);
        assert_int_equal(attempt(t, addr, acct, 0, T0), VN_LOGIN_OK);
    }
    assert_int_equal(vn_login_check_address(t, "2001:db8:1:2:ffff::1", T0),
                     VN_LOGIN_LOCKED_ADDRESS);
    assert_int_equal(vn_login_check_address(t, "2001:db8:1:3::1", T0), VN_LOGIN_OK);
    vn_login_throttle_free(t);
}

static void test_log_rate_limit(void **state)
{
    (void)state;
    vn_login_limits_t l = limits();
    vn_login_throttle_t *t = vn_login_throttle_new(&l);
    int allowed = 0;
    for (int i = 0; i < 10000; i++)
        allowed += vn_login_log_allow(t, T0 + (uint64_t)i); /* 10 s */
    assert_int_equal(allowed, 10);
    allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += vn_login_log_allow(t, T0 + 10 * SEC + (uint64_t)i);
    assert_int_equal(allowed, 10);
    vn_login_stats_t st;
    vn_login_throttle_stats(t, &st);
    assert_int_equal(st.log_suppressed, 10000 - 10 + 100 - 10);
    vn_login_throttle_free(t);
}

/* [auth] keys: defaults, max_failures/lockout kept as the pair tier. */
static void test_config_keys(void **state)
{
    (void)state;
    char path[] = "/tmp/vn-test-login-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "[auth]\nmax_failures = 7\nlockout = 3\naddress_window = 120\n"
                       "known_addresses = 0\nthrottle_max_entries = 1000\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    vn_config_t cfg;
    char *err = NULL;
    assert_int_equal(vn_config_load(path, &cfg, vn_config_tables(), &err), 0);
    vn_login_limits_t l;
    vn_login_limits_from_config(&cfg, &l);
    assert_int_equal(l.pair.max_failures, 7);
    assert_int_equal(l.pair.lockout, 3);
    assert_int_equal(l.pair.window, 900);
    assert_int_equal(l.address.max_failures, 30);
    assert_int_equal(l.address.window, 120);
    assert_int_equal(l.account.max_failures, 100);
    assert_int_equal(l.account.window, 3600);
    assert_int_equal(l.max_lockout, 3600);
    assert_int_equal(l.max_entries, 1000);
    assert_int_equal(l.known_addresses, 0);
    assert_int_equal(l.known_age, 14 * 86400);
    vn_config_free(&cfg);
    /* Out of range: refused with the key in the message. */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    text = "[auth]\nthrottle_max_entries = 5\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(vn_config_load(path, &cfg, vn_config_tables(), &err), -1);
    assert_non_null(strstr(err, "throttle_max_entries"));
    free(err);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_lockout_spares_other_addresses),
        cmocka_unit_test(test_pair_backoff_doubles_and_is_capped),
        cmocka_unit_test(test_slow_failures_are_forgiven),
        cmocka_unit_test(test_address_tier),
        cmocka_unit_test(test_account_tier_spares_known_devices),
        cmocka_unit_test(test_attempts_in_progress),
        cmocka_unit_test(test_success_keeps_address_and_account_counts),
        cmocka_unit_test(test_table_is_bounded),
        cmocka_unit_test(test_expiry_without_lookups),
        cmocka_unit_test(test_known_addresses_bounded),
        cmocka_unit_test(test_address_normalisation),
        cmocka_unit_test(test_log_rate_limit),
        cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

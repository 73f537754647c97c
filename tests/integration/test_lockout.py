"""Sign-in throttling that does not lock out the real user (issue 18,
defect 3; README "Sign-in throttling").

Attackers come from their own loopback addresses (127.0.0.x, 127.0.1.x: the
whole of 127.0.0.0/8 is local on Linux, a client binds its socket to one
before connecting); the real users and a bystander come from others. Every
test runs against a fresh server with the production limits (the harness
default raises them, since all other modules sign in from 127.0.0.1), and a
bystander session pings the server throughout and must get every answer.

Wrong guesses use a random SCRAM proof (the server cannot tell it from a
wrong password and the test skips the PBKDF2), one connection per attacker
address with several <auth/> attempts on it (RFC 6120 §6.4.5 allows retries).
"""

import asyncio
import base64
import os
import re
import time

from harness import NS_SASL, AuthFailed, StreamClosed, TestFailure, check, options, q, \
    sasl_failure_condition, Scram

SCALE = float(os.environ.get("VESTNIK_TIMEOUT_SCALE", "1"))

# The production defaults of vestnik.conf.example, stated here because the
# harness raises them for every other module.
LIMITS = {
    "max_failures": 5, "lockout": 10, "failure_window": 900,
    "address_max_failures": 30, "address_lockout": 60, "address_window": 900,
    "account_max_failures": 100, "account_lockout": 60, "account_window": 3600,
    "max_lockout": 3600, "throttle_max_entries": 100000,
    "known_addresses": 4, "known_address_age": 1209600,
}
CONFIG = {"auth": LIMITS}

ACCOUNTS = {
    "alice@localhost": "alice-pass",
    "bob@localhost": "bob-pass",
    "carol@localhost": "carol-pass",
    "dave@localhost": "dave-pass",
}

THROTTLED = "temporary-auth-failure"


def fresh(**overrides):
    return dict(LIMITS, **overrides)


# --- clients -------------------------------------------------------------------

class Bystander:
    """bob, signed in from 127.0.0.1 before the attack, pings the server every
    50 ms; every ping must be answered (a slow answer is recorded, not
    failed on, unless it is absurdly slow)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.rtts = []
        self.errors = []
        self._stop = False
        self._task = None

    async def start(self):
        self.c = await self.ctx.raw_session("bob@localhost", "bystander")
        self._task = asyncio.ensure_future(self._run())
        return self

    async def _run(self):
        while not self._stop:
            t0 = time.monotonic()
            try:
                await self.c.ping_server(timeout=10 * SCALE)
                self.rtts.append(time.monotonic() - t0)
            except Exception as e:  # noqa: BLE001 - reported by check()
                self.errors.append(repr(e))
                return
            await asyncio.sleep(0.05)

    async def check(self):
        """After the attack: every ping was answered, and one more is."""
        self._stop = True
        await self._task
        check(not self.errors, "the bystander's ping went unanswered: %s" % self.errors[:1])
        t0 = time.monotonic()
        await self.c.ping_server(timeout=10 * SCALE)
        self.rtts.append(time.monotonic() - t0)
        check(len(self.rtts) >= 2, "the bystander pinged only %d times" % len(self.rtts))
        worst = max(self.rtts)
        check(worst < 5 * SCALE, "a bystander ping took %.2fs" % worst)
        return len(self.rtts), worst


async def connect(ctx, addr, label=None):
    r = await ctx.raw(local_addr=addr, label=label or "raw[%s]" % addr)
    await r.secure()
    return r


async def bad_attempt(r, user):
    """One SCRAM-SHA-256 exchange with a random proof: the failure condition
    (and the <failure/> element)."""
    sc = Scram("SCRAM-SHA-256", user, "not-the-password")
    el = await r.sasl("SCRAM-SHA-256", sc.first())
    if el.tag == q("failure", NS_SASL):
        return sasl_failure_condition(el), el
    check(el.tag == q("challenge", NS_SASL), "%s: expected a SCRAM challenge" % r.label, el)
    attrs = dict(kv.split("=", 1) for kv in base64.b64decode(el.text or "").decode().split(","))
    final = "c=biws,r=%s,p=%s" % (attrs["r"], base64.b64encode(os.urandom(32)).decode())
    r.send("<response xmlns='%s'>%s</response>" % (NS_SASL, base64.b64encode(final.encode()).decode()))
    el = await r.element(what="SASL outcome")
    check(el.tag == q("failure", NS_SASL), "%s: a random proof was accepted" % r.label, el)
    return sasl_failure_condition(el), el


async def sign_in(ctx, user, password, addr):
    """A real sign-in on a fresh connection: 'success' or the condition, and
    how long the exchange took."""
    r = await connect(ctx, addr, "raw[%s %s]" % (addr, user))
    t0 = time.monotonic()
    try:
        await r.auth_scram(user, password, "SCRAM-SHA-256")
        res = "success"
    except AuthFailed as e:
        res = e.condition
    except StreamClosed:
        res = "closed"
    dt = time.monotonic() - t0
    await r.close()
    return res, dt


def throttled_text_ok(el):
    text = el.find(q("text", NS_SASL))
    return text is not None and "try again later" in (text.text or "")


# --- (a) one address, 50 wrong passwords -------------------------------------------

@options(config={"auth": fresh()}, timeout=30)
async def test_fifty_wrong_passwords_do_not_lock_out_the_real_user(ctx):
    """The issue's first case: 50 wrong passwords for alice from 127.0.0.2
    locked alice out everywhere for about 10 s. Now they lock only that
    (address, account) pair: alice signs in from 127.0.0.3 at once."""
    by = await Bystander(ctx).start()
    r = await connect(ctx, "127.0.0.2")
    results = []
    for i in range(50):
        cond, el = await bad_attempt(r, "alice")
        results.append(cond)
        if cond == THROTTLED:
            check(throttled_text_ok(el), "a throttled attempt has no 'try again later' text", el)
    check(results[:5] == ["not-authorized"] * 5, "the first 5 guesses: %s" % results[:5])
    check(results[5:] == [THROTTLED] * 45,
          "guesses 6-50 were not all throttled: %s" % sorted(set(results[5:])))
    await r.close()
    res, dt = await sign_in(ctx, "alice", ACCOUNTS["alice@localhost"], "127.0.0.3")
    check(res == "success", "alice from 127.0.0.3 was refused (%s) after guessing on 127.0.0.2" % res)
    check(dt < 5 * SCALE, "alice from 127.0.0.3 took %.1fs" % dt)
    # Another account from the guessing address is not held either.
    res, _ = await sign_in(ctx, "bob", ACCOUNTS["bob@localhost"], "127.0.0.2")
    check(res == "success", "bob from the guessing address was refused: %s" % res)
    await by.check()


# --- (b) many addresses against one account -------------------------------------------

@options(config={"auth": fresh()}, timeout=40)
async def test_rotating_attacker_cannot_keep_out_a_known_device(ctx):
    """The issue's second case: an attacker rotating over 200 addresses kept
    alice out of 14 of 15 attempts. Now the attack trips the per-account tier
    (100 failures an hour), which refuses new addresses, but alice from an
    address where she signed in before gets in every time."""
    by = await Bystander(ctx).start()
    res, _ = await sign_in(ctx, "alice", ACCOUNTS["alice@localhost"], "127.0.0.3")
    check(res == "success", "alice's first sign-in failed: %s" % res)

    addrs = ["127.0.1.%d" % i for i in range(1, 201)]
    outcomes = {}
    real = []
    sem = asyncio.Semaphore(8)

    async def attacker(addr):
        async with sem:
            r = await connect(ctx, addr)
            for _ in range(2):
                cond, _el = await bad_attempt(r, "alice")
                outcomes[cond] = outcomes.get(cond, 0) + 1
            await r.close()

    tasks = []
    for i, addr in enumerate(addrs):
        tasks.append(asyncio.ensure_future(attacker(addr)))
        if i % 20 == 19:
            await asyncio.gather(*tasks[-20:])
            real.append(await sign_in(ctx, "alice", ACCOUNTS["alice@localhost"], "127.0.0.3"))
    await asyncio.gather(*tasks)
    real.append(await sign_in(ctx, "alice", ACCOUNTS["alice@localhost"], "127.0.0.3"))

    refused_real = [r for r in real if r[0] != "success"]
    check(not refused_real, "alice (known address) was refused %d of %d times: %s"
          % (len(refused_real), len(real), refused_real[:3]))
    check(sum(outcomes.values()) == 400, "attempts: %s" % outcomes)
    check(outcomes.get("not-authorized", 0) == 100 and outcomes.get(THROTTLED, 0) == 300,
          "the per-account tier did not stop the attack after 100 failures: %s" % outcomes)
    # The trade-off: during the account lockout a new address waits, even
    # with the right password (README "Sign-in throttling").
    res, _ = await sign_in(ctx, "alice", ACCOUNTS["alice@localhost"], "127.0.0.9")
    check(res == THROTTLED, "alice from a new address during the account lockout: %s" % res)
    # Other accounts are untouched.
    res, _ = await sign_in(ctx, "carol", ACCOUNTS["carol@localhost"], "127.0.0.9")
    check(res == "success", "carol was refused during alice's lockout: %s" % res)
    n, worst = await by.check()
    print("  %d real sign-ins of alice all succeeded; attacker %s; bystander %d pings, worst %.0f ms"
          % (len(real), outcomes, n, worst * 1000))


# --- (c) the attacker's own address ----------------------------------------------------

@options(config={"auth": fresh()}, timeout=30)
async def test_attackers_address_is_throttled(ctx):
    """The attacker's address is throttled: per pair after 5 failures (even
    the right password is then refused, so the answer tells a guesser
    nothing), and per address after 30 failures over any accounts."""
    by = await Bystander(ctx).start()
    r = await connect(ctx, "127.0.0.4")
    conds = [(await bad_attempt(r, "carol"))[0] for _ in range(5)]
    check(conds == ["not-authorized"] * 5, "first 5 guesses on carol: %s" % conds)
    await r.close()
    res, _ = await sign_in(ctx, "carol", ACCOUNTS["carol@localhost"], "127.0.0.4")
    check(res == THROTTLED, "the right password inside the pair lockout: %s" % res)
    res, _ = await sign_in(ctx, "carol", ACCOUNTS["carol@localhost"], "127.0.0.6")
    check(res == "success", "carol from another address: %s" % res)

    # One address trying many account names (most of them do not exist).
    r = await connect(ctx, "127.0.0.5")
    conds = []
    for i in range(30):
        conds.append((await bad_attempt(r, "user%d" % i if i % 3 else "dave"))[0])
    # dave gets 10 of them: 5 counted, then the pair holds.
    check(conds.count("not-authorized") == 25 and conds.count(THROTTLED) == 5,
          "30 guesses over many accounts: %s" % conds)
    for i in range(30, 36):
        conds.append((await bad_attempt(r, "user%d" % i))[0])
    check(conds[30:35].count("not-authorized") == 5 and conds[35] == THROTTLED,
          "the address was not throttled after 30 failures: %s" % conds[30:])
    # Refused at <auth/>, before a challenge, and with any account name.
    cond, el = await bad_attempt(r, "bob")
    check(cond == THROTTLED and throttled_text_ok(el), "address lockout answer", el)
    await r.close()
    res, _ = await sign_in(ctx, "bob", ACCOUNTS["bob@localhost"], "127.0.0.5")
    check(res == THROTTLED, "bob's right password from the locked address: %s" % res)
    res, _ = await sign_in(ctx, "dave", ACCOUNTS["dave@localhost"], "127.0.0.6")
    check(res == "success", "dave from another address: %s" % res)
    await by.check()


@options(config={"auth": fresh(lockout=1, max_lockout=2)}, timeout=30)
async def test_parallel_connections_cannot_overshoot(ctx):
    """20 connections from one address start SCRAM for carol at once: the
    attempts in progress count, so no more than max_failures (5) reach the
    proof check before the pair locks."""
    by = await Bystander(ctx).start()
    conns = await asyncio.gather(*[connect(ctx, "127.0.0.7") for _ in range(20)])
    sc = [Scram("SCRAM-SHA-256", "carol", "x") for _ in conns]
    answers = await asyncio.gather(*[c.sasl("SCRAM-SHA-256", s.first()) for c, s in zip(conns, sc)])
    challenged = [c for c, el in zip(conns, answers) if el.tag == q("challenge", NS_SASL)]
    refused = [el for el in answers if el.tag == q("failure", NS_SASL)]
    check(len(challenged) == 5, "%d parallel attempts got a challenge" % len(challenged))
    check(all(sasl_failure_condition(el) == THROTTLED for el in refused), "refusals", *refused[:1])
    for c in conns:
        await c.close()
    # Abandoned attempts cost nothing: carol can sign in from there now.
    res, _ = await sign_in(ctx, "carol", ACCOUNTS["carol@localhost"], "127.0.0.7")
    check(res == "success", "carol after abandoned attempts: %s" % res)
    await by.check()


NAT_USERS = 60


@options(timeout=60)
async def test_many_people_behind_one_address_sign_in_at_once(ctx):
    """An office behind one NAT after an outage: 60 accounts (twice the
    per-address failure limit) sign in at the same moment from one address.
    Attempts in progress are not failures: every one succeeds."""
    srv = ctx.new_server({"auth": LIMITS},
                         accounts={"nat%d@localhost" % i: "nat-pass-%d" % i for i in range(NAT_USERS)})

    async def one(i):
        r = await ctx.raw(local_addr="127.0.0.9", server=srv, label="raw[nat%d]" % i)
        await r.secure()
        try:
            await r.auth_scram("nat%d" % i, "nat-pass-%d" % i, "SCRAM-SHA-256")
            return "success"
        except AuthFailed as e:
            return e.condition
    results = await asyncio.gather(*[one(i) for i in range(NAT_USERS)])
    bad = [(i, r) for i, r in enumerate(results) if r != "success"]
    check(not bad, "%d of %d simultaneous sign-ins from one address failed: %r"
          % (len(bad), NAT_USERS, bad[:5]))


# --- memory and log bounds ---------------------------------------------------------------

def _throttle_stats(text):
    """(keys, peak, evicted) from each 'login throttle: N keys ...' debug line."""
    return [tuple(int(g) for g in m.groups()) for m in re.finditer(
        r"login throttle: (\d+) keys \(peak (\d+)\), \d+ known accounts \(\d+ expired, (\d+) "
        r"evicted", text)]


# One-off keys live about 1 s (failure_window 5 / max_failures 5, account_window
# 100 / 100), an address key at most 4 s after its last failure or lockout.
@options(config={"auth": fresh(throttle_max_entries=300, failure_window=5, address_window=4,
                               account_window=100, lockout=1, address_lockout=1,
                               account_lockout=1, max_lockout=1)}, timeout=40)
async def test_table_and_log_are_bounded(ctx):
    """40 addresses each try 35 account names (1,400 failures, about 2,900
    keys wanted): the table never holds more than throttle_max_entries, it is
    emptied by the periodic sweep without any further sign-in, and the 40
    address lockouts and 1,400 failures write a rate-limited log."""
    srv = ctx.server
    log0 = srv.stderr_size()
    rss0 = srv.rss_kib()
    by = await Bystander(ctx).start()
    sem = asyncio.Semaphore(8)
    outcomes = {}

    async def attacker(k):
        async with sem:
            r = await connect(ctx, "127.0.2.%d" % (k + 1))
            for i in range(35):
                cond, _ = await bad_attempt(r, "spray-%d-%d" % (k, i))
                outcomes[cond] = outcomes.get(cond, 0) + 1
            await r.close()

    t0 = time.monotonic()
    await asyncio.gather(*[attacker(k) for k in range(40)])
    attack_s = time.monotonic() - t0
    check(outcomes.get("not-authorized", 0) >= 1000, "attack outcomes: %s" % outcomes)
    # The sweep runs every 5 s; windows of 3 s: all keys go without lookups.
    deadline = time.monotonic() + 15 * SCALE
    stats = []
    while time.monotonic() < deadline:
        stats = _throttle_stats(srv.stderr_text(log0))
        if stats and stats[-1][0] == 0 and time.monotonic() - t0 > attack_s + 1:
            break
        await asyncio.sleep(0.5)
    check(stats, "no 'login throttle:' statistics in the log")
    most = stats[-1][1]
    check(most <= 300, "the throttle table held %d keys (cap 300)" % most)
    check(stats[-1][2] > 0, "no key was evicted: %s" % stats[-1:])
    check(stats[-1][0] == 0, "keys left %.0fs after the attack: %s" % (15 * SCALE, stats[-1:]))
    rss1 = srv.rss_kib()
    log = srv.stderr_text(log0)
    failed_lines = log.count("authentication failed for")
    lockout_lines = log.count("login throttled by")
    elapsed = time.monotonic() - t0
    budget = 2 * 10 * (int(elapsed / 10) + 2)  # 10 lines of each kind per 10 s window
    check(failed_lines + lockout_lines <= budget,
          "%d sign-in log lines in %.0fs (budget %d)" % (failed_lines + lockout_lines, elapsed, budget))
    check("sign-in log lines suppressed" in log, "no summary of suppressed log lines")
    # RSS is reported, not bounded: the key count above is the bound, and a
    # sanitizer build's quarantine grows RSS by a hundred MiB on its own.
    n, worst = await by.check()
    print("  %s; at most %d keys; %d+%d log lines; RSS %+d KiB; bystander %d pings, worst %.0f ms"
          % (outcomes, most, failed_lines, lockout_lines, rss1 - rss0, n, worst * 1000))

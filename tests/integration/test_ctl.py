"""vestnikctl user add/list/passwd/del, with the password read from stdin,
checked by signing in with a real client."""

import asyncio

from harness import IDN_DOMAIN, LoginFailed, check, options

ACCOUNTS = {"keeper@localhost": "pw-keeper"}


def listed(out):
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def ok(srv, *args, input=None):
    rc, out, err = srv.ctl(*args, input=input)
    check(rc == 0, "vestnikctl %s failed (rc=%d): %s%s" % (" ".join(args), rc, out, err))
    return out


def fails(srv, *args, input=None):
    rc, out, err = srv.ctl(*args, input=input)
    check(rc != 0, "vestnikctl %s should fail but exited 0: %s" % (" ".join(args), out))
    check(err.strip(), "vestnikctl %s failed without a message on stderr" % " ".join(args))
    return err


async def signs_in(ctx, srv, jid, password):
    try:
        c = await ctx.client(jid, "ctl", password=password, server=srv)
    except LoginFailed as e:
        if e.condition == "not-authorized":
            return False
        raise
    await c.stop()
    return True


@options(server=False, timeout=40)
async def test_ctl_round_trip_without_server(ctx):
    srv = ctx.new_server(accounts={}, start=False)
    ok(srv, "user", "add", "nina@localhost", input="first password\n")
    ok(srv, "user", "add", "Пётр@" + IDN_DOMAIN, input="пароль без перевода строки")  # no trailing newline
    ok(srv, "user", "add", "oleg@" + IDN_DOMAIN.encode("idna").decode(), input="pw-oleg\n")
    out = ok(srv, "user", "list")
    check(listed(out) >= {"nina@localhost", "пётр@" + IDN_DOMAIN, "oleg@" + IDN_DOMAIN},
          "user list (normalised JIDs expected):\n" + out)
    out = ok(srv, "user", "list", "localhost")
    check(listed(out) == {"nina@localhost"}, "user list localhost:\n" + out)
    out = ok(srv, "user", "list", IDN_DOMAIN)
    check(listed(out) == {"пётр@" + IDN_DOMAIN, "oleg@" + IDN_DOMAIN}, "user list %s:\n%s" % (IDN_DOMAIN, out))

    fails(srv, "user", "add", "NINA@localhost", input="again\n")  # same account, other case
    fails(srv, "user", "add", "bad user@localhost", input="x\n")
    fails(srv, "user", "add", "someone@unserved.example", input="x\n")
    fails(srv, "user", "del", "ghost@localhost")
    fails(srv, "user", "passwd", "ghost@localhost", input="x\n")

    ok(srv, "user", "passwd", "nina@localhost", input="second password\n")
    ok(srv, "user", "add", "gone@localhost", input="pw-gone\n")
    ok(srv, "user", "del", "gone@localhost")
    check("gone@localhost" not in listed(ok(srv, "user", "list")), "deleted user still listed")

    await asyncio.get_running_loop().run_in_executor(None, srv.start)
    check(await signs_in(ctx, srv, "nina@localhost", "second password"), "new password refused")
    check(not await signs_in(ctx, srv, "nina@localhost", "first password"), "old password still accepted")
    check(await signs_in(ctx, srv, "пётр@" + IDN_DOMAIN, "пароль без перевода строки"),
          "password given without a trailing newline refused")
    check(await signs_in(ctx, srv, "oleg@" + IDN_DOMAIN, "pw-oleg"), "user added with the A-label domain")
    check(not await signs_in(ctx, srv, "gone@localhost", "pw-gone"), "deleted user signed in")


@options(timeout=40)
async def test_ctl_while_server_runs(ctx):
    srv = ctx.server
    ok(srv, "user", "add", "live@localhost", input="live-1\n")
    check("live@localhost" in listed(ok(srv, "user", "list", "localhost")), "new user not listed")
    check(await signs_in(ctx, srv, "live@localhost", "live-1"), "user added at run time cannot sign in")
    ok(srv, "user", "passwd", "live@localhost", input="live-2\n")
    check(not await signs_in(ctx, srv, "live@localhost", "live-1"), "old password accepted after passwd")
    check(await signs_in(ctx, srv, "live@localhost", "live-2"), "new password refused after passwd")
    ok(srv, "user", "del", "live@localhost")
    check(not await signs_in(ctx, srv, "live@localhost", "live-2"), "deleted user signed in")
    check(await signs_in(ctx, srv, "keeper@localhost", "pw-keeper"), "other account affected")


async def test_ctl_given_salt_is_used(ctx):
    """--salt sets the SCRAM salt the server then announces (RFC 5802 s=)."""
    import base64
    from harness import Scram
    srv = ctx.server
    salt = b"vestnik-bench-salt"
    ok(srv, "--salt", base64.b64encode(salt).decode(), "user", "add", "salty@localhost",
       input="pw-salty\n")
    fails(srv, "--salt", "***", "user", "add", "bland@localhost", input="x\n")
    r = await ctx.raw()
    await r.secure()
    sc = Scram("SCRAM-SHA-256", "salty", "pw-salty")
    el = await r.sasl("SCRAM-SHA-256", sc.first())
    attrs = dict(kv.split("=", 1) for kv in base64.b64decode(el.text).decode().split(","))
    check(base64.b64decode(attrs["s"]) == salt, "server-first salt %r" % attrs["s"])
    check(await signs_in(ctx, srv, "salty@localhost", "pw-salty"), "account with a given salt")

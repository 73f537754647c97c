"""auth_timeout closes connections that do not authenticate in time (even if
they trickle bytes); with idle_timeout = 0 an authenticated idle client
stays connected."""

import asyncio
import time

from harness import check

AUTH_TIMEOUT = 2

CONFIG = {"c2s": {"auth_timeout": AUTH_TIMEOUT, "idle_timeout": 0}}

ACCOUNTS = {"idle@localhost": "pw-idle", "idle2@localhost": "pw-idle2"}

SLACK = 3.0  # allowed lateness of the timer


async def _closed_within(r, t0, what, allow_errors=("connection-timeout", "policy-violation", None)):
    cond, closed, elems = await r.stream_end(AUTH_TIMEOUT + SLACK + 2)
    dt = time.monotonic() - t0
    check(dt >= AUTH_TIMEOUT - 0.5, "%s: closed after %.1fs, before auth_timeout=%ds" % (what, dt, AUTH_TIMEOUT))
    check(dt <= AUTH_TIMEOUT + SLACK, "%s: closed only after %.1fs (auth_timeout=%ds)" % (what, dt, AUTH_TIMEOUT))
    check(cond in allow_errors, "%s: unexpected stream error <%s/>" % (what, cond), *elems)
    return dt


async def test_unauthenticated_connections_time_out(ctx):
    async def silent_tcp():
        t0 = time.monotonic()
        r = await ctx.raw()
        return await _closed_within(r, t0, "silent TCP connection")

    async def silent_tls():
        t0 = time.monotonic()
        r = await ctx.raw(direct_tls=True)
        return await _closed_within(r, t0, "silent direct-TLS connection")

    async def stream_opened():
        t0 = time.monotonic()
        r = await ctx.raw()
        await r.open()
        await r.starttls()
        return await _closed_within(r, t0, "stream opened, no SASL")

    async def trickle():
        t0 = time.monotonic()
        r = await ctx.raw()
        await r.open()
        async def drip():
            try:
                while True:
                    await asyncio.sleep(0.3)
                    await r.send_drain(" ")
            except (ConnectionError, OSError, RuntimeError):
                pass
        task = asyncio.ensure_future(drip())
        try:
            return await _closed_within(r, t0, "connection trickling whitespace")
        finally:
            task.cancel()

    async def mid_sasl():
        t0 = time.monotonic()
        r = await ctx.raw(direct_tls=True)
        await r.secure()
        r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
               "biwsbj1pZGxlLHI9YWJjZGVmZ2hpams=</auth>")  # n,,n=idle,r=abcdefghijk
        return await _closed_within(r, t0, "SASL started, never finished")

    results = await asyncio.gather(silent_tcp(), silent_tls(), stream_opened(), trickle(), mid_sasl(),
                                   return_exceptions=True)
    errs = [e for e in results if isinstance(e, BaseException)]
    if errs:
        raise errs[0]


async def test_authenticated_idle_client_stays_connected(ctx):
    r = await ctx.raw_session("idle@localhost", "raw", presence=True)
    c = await ctx.client("idle2@localhost", "slix", presence=True)
    await asyncio.sleep(AUTH_TIMEOUT * 2 + 1)
    await r.quiet(0.1, lambda el: el.tag == "{http://etherx.jabber.org/streams}error")
    await r.ping_server()
    check(not c.disconnected.is_set(), "idle slixmpp client was disconnected")
    rr = await c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    check(rr.get("type") == "result", "idle slixmpp client cannot ping", rr)

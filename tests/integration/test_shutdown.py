"""SIGTERM closes every stream with </stream:stream> and exits 0; a restart
keeps accounts, rosters and offline messages."""

import asyncio

from harness import NS_ROSTER, check, is_message, options, roster_items

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in ["alice@localhost", "bob@localhost", "carol@localhost"]}


@options(config={})
async def test_sigterm_closes_all_streams(ctx):
    authed = await ctx.raw_session("alice@localhost", "a", presence=True)
    authed_tls = await ctx.raw_session("bob@localhost", "b", direct_tls=True)
    preauth = await ctx.raw()
    await preauth.open()
    await preauth.starttls()
    slix = await ctx.client("carol@localhost", "c", presence=True)
    ctx.server.terminate()
    for r in (authed, authed_tls, preauth):
        cond, closed, elems = await r.stream_end(5)
        check(closed, "%s: connection closed without </stream:stream> on SIGTERM" % r.label, *elems)
        check(cond in (None, "system-shutdown"), "%s: stream error <%s/> on SIGTERM" % (r.label, cond), *elems)
    await asyncio.wait_for(slix.disconnected.wait(), 5)
    rc = await asyncio.get_running_loop().run_in_executor(None, ctx.server.wait, 5)
    check(rc == 0, "vestnikd exit status after SIGTERM: %r" % rc)


@options(config={}, timeout=40)
async def test_restart_keeps_state(ctx):
    a = await ctx.client("alice@localhost", "a", presence=True)
    r = await a.iq("set", "<query xmlns='%s'><item jid='bob@localhost' name='Боб'/></query>" % NS_ROSTER)
    check(r.get("type") == "result", "roster set", r)
    a.message("bob@localhost", "survives a restart")
    r = await a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    check(r.get("type") == "result", "ping", r)
    await asyncio.sleep(0.2)
    await asyncio.get_running_loop().run_in_executor(None, ctx.server.restart)
    b = await ctx.client("bob@localhost", "b", presence=True)
    await b.expect(is_message(body="survives a restart"), what="offline message stored before the restart")
    a = await ctx.client("alice@localhost", "a2")
    r = await a.iq("get", "<query xmlns='%s'/>" % NS_ROSTER)
    it = (roster_items(r) or {}).get("bob@localhost")
    check(it is not None and it.get("name") == "Боб", "roster item lost over a restart", r)

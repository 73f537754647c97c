"""Resource binding, message routing (RFC 6121 §8), offline storage."""

from harness import (NS_DELAY, NS_PING, check, q, bare, body_of, stanza_error, is_message, options)

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "bind1@localhost", "bind2@localhost", "bind3@localhost",
    "alice@localhost", "bob@localhost",
    "prio@localhost", "neg@localhost", "negonly@localhost", "fallback@localhost",
    "sender@localhost", "erin@localhost", "erin2@localhost", "frank@localhost",
    "iqa@localhost", "iqb@localhost",
]}


def ping_xml():
    return "<ping xmlns='%s'/>" % NS_PING


async def sync(c):
    """Round trip to the server so that everything c sent before has been processed."""
    r = await c.iq("get", ping_xml(), to="localhost")
    check(r.get("type") == "result", "%s: ping failed" % c.label, r)


# --- resource binding -----------------------------------------------------------

async def test_bind_server_generated_resource(ctx):
    r1 = await ctx.raw_session("bind1@localhost", None)
    r2 = await ctx.raw_session("bind1@localhost", None)
    for r in (r1, r2):
        b, _, res = r.jid.partition("/")
        check(b == "bind1@localhost" and res, "server-generated bind gave %r" % r.jid)
    check(r1.jid != r2.jid, "two sessions got the same generated resource %s" % r1.jid)
    c = await ctx.client("bind1@localhost")  # slixmpp without a resource
    check(c.jid.resource, "slixmpp got no resource: %s" % c.jid)
    await r1.ping_server()
    await r2.ping_server()


async def test_bind_requested_resource_kept_verbatim(ctx):
    r = await ctx.raw_session("bind2@localhost", "Телефон 1")
    check(r.jid == "bind2@localhost/Телефон 1", "requested resource not kept verbatim: %r" % r.jid)
    c = await ctx.client("bind2@localhost", "Desk")
    check(str(c.jid) == "bind2@localhost/Desk", "slixmpp bound %s" % c.jid)
    # the exact (case-sensitive) resource routes
    c.message("bind2@localhost/Телефон 1", "to the phone")
    el = await r.wait_for(is_message(body="to the phone"), what="message to the Unicode resource")
    check(el.get("from") == "bind2@localhost/Desk", "from is %r" % el.get("from"), el)


async def test_bind_conflict_replaces_old_session(ctx):
    old = await ctx.raw_session("bind3@localhost", "dup", presence=True)
    await old.ping_server()
    new = await ctx.raw_session("bind3@localhost", "dup")
    check(new.jid == "bind3@localhost/dup", "second session bound %r" % new.jid)
    await old.expect_stream_error("conflict")
    # the new session owns the resource now
    c = await ctx.client("alice@localhost", "conf")
    c.message("bind3@localhost/dup", "who has dup?")
    el = await new.wait_for(is_message(body="who has dup?"), what="message to the new /dup session")
    check(el.get("from") == "alice@localhost/conf", "from is %r" % el.get("from"), el)


# --- message routing ---------------------------------------------------------------

async def test_message_between_resources_of_one_account(ctx):
    a = await ctx.client("alice@localhost", "a", presence=True)
    b = await ctx.client("alice@localhost", "b", presence=True)
    a.message("alice@localhost/b", "hi other me")
    el = await b.expect(is_message(frm="alice@localhost/a", body="hi other me", type_="chat"))
    check(el.get("to") == "alice@localhost/b", "to is %r" % el.get("to"), el)
    await a.quiet(is_message(body="hi other me"), 0.3, "echo of own message")


async def test_message_between_accounts_full_and_bare(ctx):
    a = await ctx.client("alice@localhost", "m1", presence=True)
    b = await ctx.client("bob@localhost", "m2", presence=True)
    a.message("bob@localhost/m2", "full jid hello")
    el = await b.expect(is_message(frm="alice@localhost/m1", body="full jid hello"))
    check(el.get("to") == "bob@localhost/m2", "to is %r" % el.get("to"), el)
    b.message("alice@localhost", "bare jid reply")
    el = await a.expect(is_message(frm="bob@localhost/m2", body="bare jid reply"))
    # id is preserved end to end
    b.message("alice@localhost", "with id", id_="keep-this-id")
    el = await a.expect(is_message(body="with id"))
    check(el.get("id") == "keep-this-id", "message id not preserved", el)


async def test_bare_jid_goes_to_highest_priority(ctx):
    hi = await ctx.client("prio@localhost", "hi", presence=5)
    lo = await ctx.client("prio@localhost", "lo", presence=1)
    a = await ctx.client("alice@localhost", "p", presence=True)
    await sync(hi)
    await sync(lo)
    a.message("prio@localhost", "to the most available")
    await hi.expect(is_message(frm="alice@localhost/p", body="to the most available"))
    # lo may or may not get a copy (RFC 6121 §8.5.2.1.1 allows both); swap priorities:
    lo.presence(priority=10)
    await sync(lo)
    a.message("prio@localhost", "priorities swapped")
    await lo.expect(is_message(body="priorities swapped"))


async def test_negative_priority_never_gets_bare_jid_messages(ctx):
    neg = await ctx.client("neg@localhost", "neg", presence=-1)
    pos = await ctx.client("neg@localhost", "pos", presence=0)
    a = await ctx.client("alice@localhost", "n", presence=True)
    await sync(neg)
    await sync(pos)
    a.message("neg@localhost", "bare to neg account")
    await pos.expect(is_message(body="bare to neg account"))
    await neg.quiet(is_message(body="bare to neg account"), 0.7, "bare-JID message at negative priority")
    # full-JID messages still reach a negative-priority resource
    a.message("neg@localhost/neg", "full to neg")
    await neg.expect(is_message(frm="alice@localhost/n", body="full to neg"))


async def test_only_negative_priority_means_offline(ctx):
    """RFC 6121 §8.5.2.1.1: only negative-priority resources -> as if none
    were available (offline storage)."""
    neg = await ctx.client("negonly@localhost", "neg", presence=-5)
    a = await ctx.client("alice@localhost", "no", presence=True)
    await sync(neg)
    a.message("negonly@localhost", "stored for later")
    await sync(a)
    await neg.quiet(is_message(body="stored for later"), 0.7, "bare-JID message at negative priority")
    pos = await ctx.client("negonly@localhost", "pos", presence=1)
    el = await pos.expect(is_message(body="stored for later"), what="offline message on first available presence")
    check(bare(el.get("from")) == "alice@localhost", "from is %r" % el.get("from"), el)


async def test_chat_to_unavailable_full_jid_goes_to_bare(ctx):
    here = await ctx.client("fallback@localhost", "here", presence=True)
    a = await ctx.client("alice@localhost", "f", presence=True)
    await sync(here)
    a.message("fallback@localhost/gone", "old resource", type_="chat")
    await here.expect(is_message(body="old resource"), what="chat to a gone resource, routed as bare JID")


async def test_message_to_unknown_account_bounces(ctx):
    a = await ctx.client("alice@localhost", "u", presence=True)
    mid = a.message("nobody@localhost", "anyone there?")
    el = await a.expect(lambda e: e.tag == q("message") and e.get("type") == "error", what="error bounce")
    check(el.get("id") == mid, "bounce has id %r, want %r" % (el.get("id"), mid), el)
    check(el.get("from") == "nobody@localhost", "bounce from %r" % el.get("from"), el)
    etype, cond = stanza_error(el)
    check(cond == "service-unavailable" and etype == "cancel",
          "bounce condition %s/%s, want cancel/service-unavailable" % (etype, cond), el)
    # an error must never bounce an error (no loops)
    a.send_raw("<message to='nobody@localhost' type='error' id='e1'><body>x</body>"
               "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
               "</message>")
    await a.quiet(lambda e: e.get("id") == "e1", 0.5, "reply to a type=error message")


async def test_iq_routing_between_clients(ctx):
    a = await ctx.client("iqa@localhost", "x", presence=True)
    await ctx.client("iqb@localhost", "y", presence=True)  # answers the ping
    r = await a.iq("get", ping_xml(), to="iqb@localhost/y")  # slixmpp answers pings
    check(r.get("type") == "result" and r.get("from") == "iqb@localhost/y", "ping to a client", r)
    r = await a.iq("get", ping_xml(), to="iqb@localhost/nonexistent")
    etype, cond = stanza_error(r)
    check(r.get("type") == "error" and cond == "service-unavailable",
          "iq to an unavailable full JID: want service-unavailable", r)


# --- offline storage ---------------------------------------------------------------

async def test_offline_messages_in_order_after_initial_presence(ctx):
    a = await ctx.client("sender@localhost", "s", presence=True)
    a.message("erin@localhost", "offline one", type_="chat")
    a.send_raw("<message to='erin@localhost' id='n2'><body>offline two</body></message>")  # type normal
    a.message("erin@localhost", "offline three", type_="chat")
    await sync(a)
    await a.quiet(lambda e: e.tag == q("message") and e.get("type") == "error", 0.3, "bounce")
    e = await ctx.client("erin@localhost", "phone")
    roster = await e.iq("get", "<query xmlns='jabber:iq:roster'/>")
    check(roster.get("type") == "result", "roster get", roster)
    await e.quiet(lambda el: el.tag == q("message"), 0.7, "offline message before initial presence")
    e.presence()
    got = []
    for _ in range(3):
        el = await e.expect(lambda el: el.tag == q("message"), what="offline message %d" % (len(got) + 1))
        got.append(el)
    bodies = [body_of(el) for el in got]
    check(bodies == ["offline one", "offline two", "offline three"], "offline order %r" % bodies)
    for el in got:
        check(bare(el.get("from")) == "sender@localhost", "offline message from %r" % el.get("from"), el)
        delay = el.find(q("delay", NS_DELAY))
        check(delay is not None and delay.get("stamp"), "offline message without XEP-0203 delay", el)
    # delivered once
    e2 = await ctx.client("erin@localhost", "laptop", presence=True)
    await e2.quiet(lambda el: el.tag == q("message"), 0.7, "offline message delivered twice")


async def test_connected_but_unavailable_gets_message_on_presence(ctx):
    e = await ctx.client("erin2@localhost", "quiet")  # bound, no presence yet
    a = await ctx.client("sender@localhost", "s2", presence=True)
    a.message("erin2@localhost", "wait for presence")
    await sync(a)
    await e.quiet(lambda el: el.tag == q("message"), 0.7, "bare-JID message before initial presence")
    e.presence()
    await e.expect(is_message(body="wait for presence"))


@options(config={"c2s": {"max_offline": 2}})
async def test_offline_quota(ctx):
    a = await ctx.client("sender@localhost", "q", presence=True)
    for i in range(3):
        a.message("frank@localhost", "quota %d" % i, id_="quota%d" % i)
    el = await a.expect(lambda e: e.tag == q("message") and e.get("type") == "error",
                        what="bounce beyond max_offline")
    check(el.get("id") == "quota2", "bounced %r, want the third message" % el.get("id"), el)
    check(stanza_error(el)[1] == "service-unavailable", "quota bounce condition", el)
    await a.quiet(lambda e: e.tag == q("message") and e.get("type") == "error", 0.3, "second bounce")
    f = await ctx.client("frank@localhost", "f", presence=True)
    for i in range(2):
        await f.expect(is_message(body="quota %d" % i))
    await f.quiet(is_message(body="quota 2"), 0.5, "message beyond the quota")

"""XEP-0198 stream management: acknowledgements, resumption, and what
happens to unacknowledged messages when a session is never resumed."""
import asyncio
import re

from harness import check, is_message, options, q

NS_SM = "urn:xmpp:sm:3"
ACCOUNTS = {"alice@localhost": "pw-a", "bob@localhost": "pw-b", "carol@localhost": "pw-c"}
CONFIG = {"c2s": {"resume_timeout": 30}}


def sm(tag):
    return lambda el: el.tag == q(tag, NS_SM)


def body(el):
    b = el.find(q("body"))
    return b.text if b is not None else None


async def enable(c, resume=True):
    c.send("<enable xmlns='%s'%s/>" % (NS_SM, " resume='true'" if resume else ""))
    el = await c.wait_for(lambda e: e.tag in (q("enabled", NS_SM), q("failed", NS_SM)),
                          what="<enabled/>")
    check(el.tag == q("enabled", NS_SM), "enable failed", el)
    return el


async def ack_count(c):
    """Sends <r/> and returns the server's h."""
    c.send("<r xmlns='%s'/>" % NS_SM)
    el = await c.wait_for(sm("a"), what="<a/>")
    return int(el.get("h"))


async def collect_bodies(c, want, timeout=5):
    got = []
    while len(got) < want:
        el = await c.wait_for(lambda e: e.tag == q("message") and body(e) is not None,
                              timeout=timeout, what="message %d of %d" % (len(got) + 1, want))
        got.append(body(el))
    return got


async def test_feature_and_enable(ctx):
    c = await ctx.raw(label="raw:alice")
    await c.secure()
    await c.auth_scram("alice", ACCOUNTS["alice@localhost"])
    await c.open()
    check(c.features.find(q("sm", NS_SM)) is not None, "no <sm/> stream feature after auth",
          c.features)
    # enable before bind is refused (XEP-0198 §3)
    c.send("<enable xmlns='%s'/>" % NS_SM)
    el = await c.wait_for(lambda e: e.tag in (q("enabled", NS_SM), q("failed", NS_SM)))
    check(el.tag == q("failed", NS_SM), "enable before bind must fail", el)
    await c.bind("r1")
    el = await enable(c)
    check(el.get("resume") in ("true", "1") and el.get("id"), "resumable enable without id", el)
    check(int(el.get("max")) == 30, "max should be the configured resume_timeout", el)
    # h counts the stanzas we sent since enable
    c.send("<presence/>")
    await c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    check(await ack_count(c) == 2, "h after a presence and an iq")


async def test_server_requests_acks_and_accepts_them(ctx):
    a = await ctx.raw_session("alice@localhost", "phone", presence=True)
    await enable(a)
    b = await ctx.raw_session("bob@localhost", "pc", presence=True)
    for i in range(3):
        b.message("alice@localhost/phone", "m%d" % i)
    await collect_bodies(a, 3)
    el = await a.wait_for(sm("r"), what="a <r/> from the server")
    a.send("<a xmlns='%s' h='3'/>" % NS_SM)
    # acknowledging more than was sent is a stream error (XEP-0198 §4)
    a.send("<a xmlns='%s' h='1000'/>" % NS_SM)
    await a.expect_stream_error("undefined-condition")


async def test_cut_connection_resume_exactly_once(ctx):
    a = await ctx.raw_session("alice@localhost", "phone", presence=True)
    smid = (await enable(a)).get("id")
    b = await ctx.raw_session("bob@localhost", "pc", presence=True)
    for i in range(5):
        b.message("alice@localhost/phone", "before %d" % i)
    got = await collect_bodies(a, 5)
    check(got == ["before %d" % i for i in range(5)], "live delivery order %r" % got)
    # ack only the first two messages (the stanza count starts after enable)
    a.send("<a xmlns='%s' h='2'/>" % NS_SM)
    await asyncio.sleep(0.1)
    a.abort()  # the TCP connection is cut mid-conversation
    await asyncio.sleep(0.2)
    for i in range(4):
        b.message("alice@localhost/phone", "during %d" % i)
    await asyncio.sleep(0.2)
    n = await ctx.raw(label="raw:alice-resumed")
    await n.secure()
    await n.auth_scram("alice", ACCOUNTS["alice@localhost"])
    await n.open()
    n.send("<resume xmlns='%s' h='2' previd='%s'/>" % (NS_SM, smid))
    el = await n.wait_for(lambda e: e.tag in (q("resumed", NS_SM), q("failed", NS_SM)),
                          what="<resumed/>")
    check(el.tag == q("resumed", NS_SM) and el.get("previd") == smid, "resume failed", el)
    got = await collect_bodies(n, 7)
    want = ["before %d" % i for i in range(2, 5)] + ["during %d" % i for i in range(4)]
    check(got == want, "after resumption got %r, want %r" % (got, want))
    await n.quiet(0.5, lambda e: e.tag == q("message") and body(e) is not None)
    # the resumed session is the same full JID and still receives
    b.message("alice@localhost/phone", "after")
    check(await collect_bodies(n, 1) == ["after"], "delivery after resumption")


async def test_resume_unknown_id_fails(ctx):
    n = await ctx.raw(label="raw:alice")
    await n.secure()
    await n.auth_scram("alice", ACCOUNTS["alice@localhost"])
    await n.open()
    n.send("<resume xmlns='%s' h='0' previd='no-such-session'/>" % NS_SM)
    el = await n.wait_for(lambda e: e.tag in (q("resumed", NS_SM), q("failed", NS_SM)))
    check(el.tag == q("failed", NS_SM), "unknown previd must fail", el)
    check(el.find(q("item-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas")) is not None,
          "failed without item-not-found", el)
    await n.bind("fresh")  # the client may bind normally afterwards


async def test_resume_by_another_account_fails(ctx):
    a = await ctx.raw_session("alice@localhost", "phone", presence=True)
    smid = (await enable(a)).get("id")
    a.abort()
    n = await ctx.raw(label="raw:carol")
    await n.secure()
    await n.auth_scram("carol", ACCOUNTS["carol@localhost"])
    await n.open()
    n.send("<resume xmlns='%s' h='0' previd='%s'/>" % (NS_SM, smid))
    el = await n.wait_for(lambda e: e.tag in (q("resumed", NS_SM), q("failed", NS_SM)))
    check(el.tag == q("failed", NS_SM), "another account resumed alice's session", el)


@options(config={"c2s": {"resume_timeout": 1}})
async def test_never_resumed_unacked_go_offline(ctx):
    a = await ctx.raw_session("alice@localhost", "phone", presence=True)
    await enable(a)
    b = await ctx.raw_session("bob@localhost", "pc", presence=True)
    for i in range(3):
        b.message("alice@localhost", "unacked %d" % i)
    await collect_bodies(a, 3)
    a.abort()  # never acknowledged, never resumed
    await asyncio.sleep(0.3)
    b.message("alice@localhost", "while detached")
    await asyncio.sleep(2.0)  # resume_timeout passes
    c = await ctx.raw_session("alice@localhost", "laptop", presence=True)
    got = await collect_bodies(c, 4)
    want = ["unacked 0", "unacked 1", "unacked 2", "while detached"]
    check(got == want, "offline after an unresumed session: got %r, want %r" % (got, want))
    await c.quiet(0.5, lambda e: e.tag == q("message") and body(e) is not None)


async def test_clean_close_with_unacked_goes_offline(ctx):
    """A client that closes its stream without acknowledging what it got
    leaves those messages in offline storage (XEP-0198 §4)."""
    a = await ctx.raw_session("alice@localhost", "phone", presence=True)
    await enable(a, resume=False)
    b = await ctx.raw_session("bob@localhost", "pc", presence=True)
    b.message("alice@localhost", "not acked")
    await collect_bodies(a, 1)
    await a.close()
    await asyncio.sleep(0.3)
    c = await ctx.raw_session("alice@localhost", "again", presence=True)
    check(await collect_bodies(c, 1) == ["not acked"], "unacked message not in offline storage")

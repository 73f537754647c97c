"""XEP-0280 Message Carbons: enable/disable, <sent/> and <received/> copies,
the <private/> and <no-copy/> opt-outs, and who gets nothing."""
import asyncio

from harness import (NS_DISCO_INFO, NS_PING, check, q, body_of, stanza_error, is_message,
                     xattr, xesc, new_id)

NS_CARBONS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"
NS_HINTS = "urn:xmpp:hints"

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "cara@localhost", "carb@localhost", "carc@localhost", "card@localhost", "care@localhost",
    "carf@localhost", "carg@localhost", "carh@localhost", "cari@localhost", "carj@localhost",
    "cark@localhost", "carl@localhost",
]}


async def sync(c):
    r = await c.iq("get", "<ping xmlns='%s'/>" % NS_PING, to="localhost")
    check(r.get("type") == "result", "%s: ping failed" % c.label, r)


async def enable(c, what="enable"):
    r = await c.iq("set", "<%s xmlns='%s'/>" % (what, NS_CARBONS))
    check(r.get("type") == "result", "%s: carbons %s failed" % (c.label, what), r)
    return r


def is_carbon(direction, body=None):
    def pred(el):
        if el.tag != q("message"):
            return False
        w = el.find(q(direction, NS_CARBONS))
        if w is None:
            return False
        if body is None:
            return True
        inner = forwarded(el, direction)
        return inner is not None and body_of(inner) == body
    return pred


def any_carbon(el):
    return el.tag == q("message") and (el.find(q("sent", NS_CARBONS)) is not None or
                                       el.find(q("received", NS_CARBONS)) is not None)


def forwarded(el, direction):
    w = el.find(q(direction, NS_CARBONS))
    if w is None:
        return None
    f = w.find(q("forwarded", NS_FORWARD))
    return None if f is None else f.find(q("message"))


def send_msg(c, to, body, type_="chat", extra=""):
    c.send("<message to=%s type='%s' id='%s'><body>%s</body>%s</message>" %
           (xattr(to), type_, new_id("m"), xesc(body), extra))


async def test_disco_feature(ctx):
    c = await ctx.raw_session("cara@localhost", "d")
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    feats = {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))}
    check(NS_CARBONS in feats, "carbons feature missing from disco#info", r)


async def test_enable_disable_and_errors(ctx):
    c = await ctx.raw_session("cara@localhost", "e", presence=True)
    r = await enable(c)
    check(r.get("from") in (None, "cara@localhost") and r.get("to") == "cara@localhost/e",
          "enable result addressing", r)
    await enable(c)  # §10.1: twice is not an error
    await enable(c, "disable")
    await enable(c, "disable")
    # explicitly to the own bare JID works too (§4)
    r = await c.iq("set", "<enable xmlns='%s'/>" % NS_CARBONS, to="cara@localhost")
    check(r.get("type") == "result", "enable to own bare JID", r)
    # somebody else's account: not-allowed (§4.1)
    r = await c.iq("set", "<enable xmlns='%s'/>" % NS_CARBONS, to="carb@localhost")
    check(stanza_error(r) == ("cancel", "not-allowed"), "enable for another account", r)
    # unknown payload in the namespace
    r = await c.iq("set", "<bogus xmlns='%s'/>" % NS_CARBONS)
    check(stanza_error(r)[1] == "bad-request", "unknown carbons element", r)


async def test_sent_and_received_copies_slixmpp(ctx):
    """A real client library (slixmpp's xep_0280) enables carbons and sees both
    directions; the raw desk session checks the originals."""
    phone = await ctx.client("carb@localhost", "phone", presence=True)
    phone.x.register_plugin("xep_0297")
    phone.x.register_plugin("xep_0280")
    events = {"received": [], "sent": []}
    phone.x.add_event_handler("carbon_received", lambda m: events["received"].append(m))
    phone.x.add_event_handler("carbon_sent", lambda m: events["sent"].append(m))
    await phone.x["xep_0280"].enable()
    desk = await ctx.raw_session("carb@localhost", "desk", presence=True)
    peer = await ctx.raw_session("carc@localhost", "pc", presence=True)

    # received: peer -> carb/desk; the phone gets a <received/> copy
    send_msg(peer, "carb@localhost/desk", "hello desk")
    orig = await desk.wait_for(is_message(body="hello desk"), what="original at desk")
    check(orig.find(q("received", NS_CARBONS)) is None, "desk got a carbon, not the original", orig)
    el = await phone.expect(is_carbon("received", "hello desk"), what="received carbon")
    check(el.get("from") == "carb@localhost", "carbon must come from the bare JID", el)
    check(el.get("to") == "carb@localhost/phone", "carbon to the phone's full JID", el)
    check(el.get("type") == "chat", "carbon keeps the type", el)
    inner = forwarded(el, "received")
    check(inner.get("from") == "carc@localhost/pc" and inner.get("to") == "carb@localhost/desk",
          "forwarded original keeps its addresses", el)

    # sent: desk -> peer; the phone gets a <sent/> copy, the desk none
    send_msg(desk, "carc@localhost/pc", "hello peer")
    await peer.wait_for(is_message(body="hello peer"), what="original at peer")
    el = await phone.expect(is_carbon("sent", "hello peer"), what="sent carbon")
    inner = forwarded(el, "sent")
    check(el.get("from") == "carb@localhost" and el.get("to") == "carb@localhost/phone",
          "sent carbon addressing", el)
    check(inner.get("from") == "carb@localhost/desk" and inner.get("to") == "carc@localhost/pc",
          "forwarded sent message keeps from/to", el)
    await desk.quiet(0.4, any_carbon)
    await asyncio.sleep(0.1)
    check(len(events["received"]) == 1 and len(events["sent"]) == 1,
          "slixmpp carbon events: %r" % {k: len(v) for k, v in events.items()})

    # the phone sends: the desk has not enabled carbons, so nothing for it
    phone.message("carc@localhost/pc", "from phone")
    await peer.wait_for(is_message(body="from phone"), what="phone's message at peer")
    await desk.quiet(0.4, any_carbon)


async def test_bare_jid_and_priorities(ctx):
    """Received copies go exactly to the enabled resources that the RFC 6121
    rules do not deliver the original to."""
    hi = await ctx.raw_session("card@localhost", "hi", presence=5)
    lo = await ctx.raw_session("card@localhost", "lo", presence=1)
    neg = await ctx.raw_session("card@localhost", "neg", presence=-1)
    for c in (hi, lo, neg):
        await enable(c)
    peer = await ctx.raw_session("care@localhost", "p", presence=True)
    await sync(peer)
    send_msg(peer, "card@localhost", "to bare")
    await hi.wait_for(is_message(body="to bare"), what="original at highest priority")
    for c in (lo, neg):
        el = await c.wait_for(is_carbon("received", "to bare"), what="received carbon")
        check(el.get("to") == c.jid, "carbon to %s" % c.jid, el)
    await hi.quiet(0.3, any_carbon)

    # equal top priority: both get the original, nobody a copy
    lo.send("<presence><priority>5</priority></presence>")
    await sync(lo)
    send_msg(peer, "card@localhost", "to both")
    await hi.wait_for(is_message(body="to both"), what="original at hi")
    await lo.wait_for(is_message(body="to both"), what="original at lo")
    el = await neg.wait_for(is_carbon("received", "to both"), what="carbon at neg")
    await hi.quiet(0.3, any_carbon)
    await lo.quiet(0.1, any_carbon)


async def test_private_and_no_copy(ctx):
    a = await ctx.raw_session("carf@localhost", "a", presence=True)
    b = await ctx.raw_session("carf@localhost", "b", presence=True)
    await enable(a)
    await enable(b)
    peer = await ctx.raw_session("carg@localhost", "p", presence=True)
    await sync(peer)

    # §9: <private/> inbound: no copy for b; a gets it without <private/>
    send_msg(peer, "carf@localhost/a", "private in", extra="<private xmlns='%s'/>" % NS_CARBONS)
    el = await a.wait_for(is_message(body="private in"), what="private message at a")
    check(el.find(q("private", NS_CARBONS)) is None, "<private/> must be stripped on delivery", el)
    # XEP-0334 <no-copy/>
    send_msg(peer, "carf@localhost/a", "nocopy in", extra="<no-copy xmlns='%s'/>" % NS_HINTS)
    await a.wait_for(is_message(body="nocopy in"), what="no-copy message at a")
    # outbound private and no-copy: no <sent/> copy
    send_msg(a, "carg@localhost/p", "private out", extra="<private xmlns='%s'/>" % NS_CARBONS)
    send_msg(a, "carg@localhost/p", "nocopy out", extra="<no-copy xmlns='%s'/>" % NS_HINTS)
    await peer.wait_for(is_message(body="private out"))
    await peer.wait_for(is_message(body="nocopy out"))
    # a plain message still is copied (and proves b's queue is in order)
    send_msg(peer, "carf@localhost/a", "plain")
    el = await b.wait_for(is_carbon("received"), what="a carbon at b")
    check(body_of(forwarded(el, "received")) == "plain",
          "b got a copy of a private/no-copy message", el)


async def test_disabled_and_never_enabled_get_nothing(ctx):
    on = await ctx.raw_session("carh@localhost", "on", presence=True)
    off = await ctx.raw_session("carh@localhost", "off", presence=True)
    never = await ctx.raw_session("carh@localhost", "never", presence=True)
    await enable(on)
    await enable(off)
    await enable(off, "disable")
    peer = await ctx.raw_session("cari@localhost", "p", presence=True)
    await sync(peer)
    send_msg(peer, "carh@localhost/never", "in 1")
    await never.wait_for(is_message(body="in 1"))
    await on.wait_for(is_carbon("received", "in 1"), what="carbon at the enabled resource")
    send_msg(never, "cari@localhost/p", "out 1")
    await peer.wait_for(is_message(body="out 1"))
    await on.wait_for(is_carbon("sent", "out 1"), what="sent carbon at the enabled resource")
    await off.quiet(0.5, any_carbon)
    await never.quiet(0.1, any_carbon)
    # after disabling, the last one gets nothing either
    await enable(on, "disable")
    send_msg(peer, "carh@localhost/never", "in 2")
    await never.wait_for(is_message(body="in 2"))
    await on.quiet(0.5, any_carbon)


async def test_ineligible_messages_not_copied(ctx):
    a = await ctx.raw_session("carj@localhost", "a", presence=True)
    b = await ctx.raw_session("carj@localhost", "b", presence=True)
    await enable(b)
    peer = await ctx.raw_session("cark@localhost", "p", presence=True)
    await sync(peer)
    # headline, normal without a body, error: not IM messages (§6)
    send_msg(peer, "carj@localhost/a", "news", type_="headline")
    peer.send("<message to='carj@localhost/a' type='normal'><subject>s</subject></message>")
    peer.send("<message to='carj@localhost/a' type='error'><error type='cancel'>"
              "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
    # normal with a body is eligible, and so is a chat message without one
    send_msg(peer, "carj@localhost/a", "normal body", type_="normal")
    el = await b.wait_for(is_carbon("received"), what="first carbon at b")
    check(body_of(forwarded(el, "received")) == "normal body",
          "an ineligible message was copied", el)
    peer.send("<message to='carj@localhost/a' type='chat'>"
              "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
    el = await b.wait_for(is_carbon("received"), what="carbon of a chat state")
    inner = forwarded(el, "received")
    check(inner.find(q("composing", "http://jabber.org/protocol/chatstates")) is not None,
          "chat-state carbon payload", el)
    # a carbon is never copied again (a forged one from outside neither)
    peer.send("<message to='carj@localhost/a' type='chat'><received xmlns='%s'><forwarded "
              "xmlns='%s'><message xmlns='jabber:client' type='chat'><body>x</body></message>"
              "</forwarded></received></message>" % (NS_CARBONS, NS_FORWARD))
    await a.wait_for(lambda e: e.find(q("received", NS_CARBONS)) is not None, what="forged carbon at a")
    await b.quiet(0.5, any_carbon)


async def test_message_to_own_account(ctx):
    """A message to the user's own bare JID: the resources that get it do not
    get a copy, the sender none either."""
    a = await ctx.raw_session("carl@localhost", "a", presence=2)
    b = await ctx.raw_session("carl@localhost", "b", presence=1)
    await enable(a)
    await enable(b)
    send_msg(b, "carl@localhost", "note to self")
    await a.wait_for(is_message(body="note to self"), what="original at the top resource")
    await a.quiet(0.3, any_carbon)
    await b.quiet(0.2, any_carbon)

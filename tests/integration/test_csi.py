"""XEP-0352 Client State Indication: an inactive session gets no presence
until it is active again, then only the latest per contact resource; chat
states are superseded; anything urgent flushes what is held, in order."""
import asyncio

from harness import (NS_PING, NS_SASL, check, q, bare, body_of, is_message, is_presence,
                     new_id, tostr, xattr)

NS_CSI = "urn:xmpp:csi:0"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
INACTIVE = "<inactive xmlns='%s'/>" % NS_CSI
ACTIVE = "<active xmlns='%s'/>" % NS_CSI

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "csia@localhost", "csib@localhost", "csic@localhost", "csid@localhost", "csie@localhost",
    "csif@localhost", "csig@localhost", "csih@localhost", "csii@localhost", "csij@localhost",
    "csik@localhost", "csil@localhost",
]}


async def ping(c):
    iid = new_id("ping")
    c.send("<iq type='get' id='%s' to='localhost'><ping xmlns='%s'/></iq>" % (iid, NS_PING))
    return iid


async def sync(c):
    await c.ping_server()


async def wait_all(c, preds, what, timeout=5):
    """Waits until each predicate matched one element, in any order."""
    left = list(preds)
    while left:
        el = await c.wait_for(lambda e: any(p(e) for p in left), timeout, what)
        left = [p for p in left if not p(el)]


async def befriend(observer, contact):
    """observer subscribes to contact's presence; contact approves."""
    observer.send("<presence to=%s type='subscribe'/>" % xattr(bare(contact.jid)))
    await contact.wait_for(is_presence(type_="subscribe", frm=bare(observer.jid)),
                           what="subscription request")
    contact.send("<presence to=%s type='subscribed'/>" % xattr(bare(observer.jid)))
    # the approval (after the roster change) and the contact's presence, in any order
    await wait_all(observer, [is_presence(type_="subscribed", frm=bare(contact.jid)),
                              is_presence(frm=contact.jid)], "approval and presence")


def status_of(el):
    s = el.find(q("status"))
    return s.text if s is not None else None


def set_status(c, text):
    c.send("<presence><status>%s</status></presence>" % text)


async def drain(c, quiet=0.5):
    """Everything the server sends until it is quiet for `quiet` seconds."""
    out = []
    while True:
        try:
            ev = await c.next_event(quiet)
        except asyncio.TimeoutError:
            return out
        if ev.kind != "element":
            raise AssertionError("%s: stream %s" % (c.label, ev.kind))
        out.append(ev.elem)


def describe(els):
    return [tostr(e) for e in els]


async def test_stream_feature_and_not_before_bind(ctx):
    c = await ctx.raw(label="raw:csia")
    await c.secure()
    await c.auth_scram("csia", ACCOUNTS["csia@localhost"])
    await c.open()
    check(c.features.find(q("csi", NS_CSI)) is not None, "no <csi/> stream feature after auth",
          c.features)
    # only a bound session has a state to indicate
    c.send(INACTIVE)
    await c.expect_stream_error("not-authorized")


async def test_presence_held_until_active_then_latest(ctx):
    obs = await ctx.raw_session("csib@localhost", "phone", presence=True)
    c1 = await ctx.raw_session("csic@localhost", "r1", presence=True)
    await befriend(obs, c1)
    c2 = await ctx.raw_session("csic@localhost", "r2", presence=True)
    await obs.wait_for(is_presence(frm=c2.jid), what="second resource's presence")
    obs.send(INACTIVE)
    await sync(obs)
    for i in range(1, 6):
        set_status(c1, "one-%d" % i)
        set_status(c2, "two-%d" % i)
    await sync(c1)
    await sync(c2)
    got = await drain(obs, 0.6)
    check(not got, "inactive session received %s" % describe(got))
    # §5.1: <active/> flushes before anything sent after it is answered
    obs.send(ACTIVE)
    iid = await ping(obs)
    got = await drain(obs, 0.5)
    check(len(got) == 3 and got[-1].tag == q("iq") and got[-1].get("id") == iid,
          "want two presences then the ping result, got %s" % describe(got))
    pres = {p.get("from"): status_of(p) for p in got[:2]}
    check(pres == {c1.jid: "one-5", c2.jid: "two-5"},
          "only the latest presence per resource: %r" % pres)
    # active again: presence flows at once
    set_status(c1, "live")
    el = await obs.wait_for(is_presence(frm=c1.jid), timeout=2, what="presence while active")
    check(status_of(el) == "live", "live presence", el)


async def test_unavailable_supersedes(ctx):
    obs = await ctx.raw_session("csid@localhost", "phone", presence=True)
    c = await ctx.raw_session("csie@localhost", "pc", presence=True)
    await befriend(obs, c)
    obs.send(INACTIVE)
    await sync(obs)
    set_status(c, "busy")
    await sync(c)
    await c.close()
    await asyncio.sleep(0.3)
    check(not await drain(obs, 0.3), "inactive session got presence")
    obs.send(ACTIVE)
    got = await drain(obs, 0.5)
    check(len(got) == 1 and got[0].get("type") == "unavailable" and got[0].get("from") == c.jid,
          "want only the unavailable presence, got %s" % describe(got))


async def test_body_message_flushes_in_order(ctx):
    obs = await ctx.raw_session("csif@localhost", "phone", presence=True)
    c = await ctx.raw_session("csig@localhost", "pc", presence=True)
    await befriend(obs, c)
    obs.send(INACTIVE)
    await sync(obs)
    set_status(c, "s1")
    for state in ("composing", "paused", "composing"):
        c.send("<message to=%s type='chat'><%s xmlns='%s'/></message>" %
               (xattr(obs.jid), state, NS_CHATSTATES))
    set_status(c, "s2")
    await sync(c)
    check(not await drain(obs, 0.5), "inactive session got something before the body")
    c.message(obs.jid, "wake up")
    got = await drain(obs, 0.5)
    kinds = []
    for el in got:
        if el.tag == q("presence"):
            kinds.append("presence:%s" % status_of(el))
        elif body_of(el) is not None:
            kinds.append("body:%s" % body_of(el))
        else:
            states = [e.tag.split("}")[1] for e in el if e.tag.startswith("{%s}" % NS_CHATSTATES)]
            kinds.append("state:%s" % ",".join(states))
    # the superseded s1 and the first two chat states are gone; the rest in
    # delivery order, then the urgent message
    check(kinds == ["state:composing", "presence:s2", "body:wake up"],
          "flush order/content: %r" % kinds)
    # still inactive: presence is held again
    set_status(c, "s3")
    await sync(c)
    check(not await drain(obs, 0.4), "presence after the flush was not held")
    obs.send(ACTIVE)
    el = await obs.wait_for(is_presence(frm=c.jid), what="held presence after active")
    check(status_of(el) == "s3", "latest presence", el)


async def test_urgent_payloads_flush(ctx):
    obs = await ctx.raw_session("csih@localhost", "phone", presence=True)
    c = await ctx.raw_session("csii@localhost", "pc", presence=True)
    await befriend(obs, c)
    obs.send(INACTIVE)
    await sync(obs)
    # a receipt (no request) waits; a receipt request and an IQ do not
    set_status(c, "a")
    c.send("<message to=%s type='chat'><received xmlns='urn:xmpp:receipts' id='x1'/></message>"
           % xattr(obs.jid))
    await sync(c)
    check(not await drain(obs, 0.4), "non-urgent stanzas were sent")
    c.send("<message to=%s type='chat'><request xmlns='urn:xmpp:receipts'/>"
           "<encrypted xmlns='eu.siacs.conversations.axolotl'/></message>" % xattr(obs.jid))
    got = await drain(obs, 0.5)
    check(len(got) == 3 and got[0].tag == q("presence") and
          got[1].find(q("received", "urn:xmpp:receipts")) is not None and
          got[2].find(q("request", "urn:xmpp:receipts")) is not None,
          "receipt request must flush in order: %s" % describe(got))
    set_status(c, "b")
    await sync(c)
    check(not await drain(obs, 0.3), "presence not held after flush")
    # an IQ to the inactive client is urgent too
    iid = new_id("v")
    c.send("<iq type='get' id='%s' to=%s><query xmlns='jabber:iq:version'/></iq>" %
           (iid, xattr(obs.jid)))
    got = await drain(obs, 0.5)
    check(len(got) == 2 and status_of(got[0]) == "b" and got[1].get("id") == iid,
          "IQ must flush the held presence first: %s" % describe(got))


async def test_queue_cap_flushes(ctx):
    obs = await ctx.raw_session("csij@localhost", "phone", presence=True)
    c = await ctx.raw_session("csik@localhost", "pc", presence=True)
    obs.send(INACTIVE)
    await sync(obs)
    for i in range(499):
        c.send("<message to=%s><received xmlns='urn:xmpp:receipts' id='r%d'/></message>"
               % (xattr(obs.jid), i))
    await sync(c)
    check(not await drain(obs, 0.5), "held stanzas sent before the cap")
    c.send("<message to=%s><received xmlns='urn:xmpp:receipts' id='r499'/></message>"
           % xattr(obs.jid))
    got = await drain(obs, 1.0)
    ids = [el.find(q("received", "urn:xmpp:receipts")).get("id") for el in got]
    check(ids == ["r%d" % i for i in range(500)], "cap flush: got %d stanzas" % len(ids))


async def test_slixmpp_client_and_session_end_while_holding(ctx):
    """A slixmpp client indicating its state with raw nonzas; the session
    then ends with stanzas held (the sanitizer build checks they are freed)."""
    obs = await ctx.client("csil@localhost", "phone", presence=True)
    peer = await ctx.raw_session("csia@localhost", "x", presence=True)
    obs.send_raw(INACTIVE)
    await asyncio.sleep(0.2)
    peer.send("<message to=%s type='chat'><active xmlns='%s'/></message>" %
              (xattr(str(obs.jid)), NS_CHATSTATES))
    peer.send("<presence to=%s/>" % xattr(str(obs.jid)))  # directed presence
    await sync(peer)
    await obs.quiet(lambda el: el.get("from") == peer.jid, 0.5)
    obs.send_raw(ACTIVE)
    await obs.expect(is_presence(frm=peer.jid), what="directed presence after active")
    await obs.expect(lambda el: el.find(q("active", NS_CHATSTATES)) is not None,
                     what="chat state after active")
    obs.send_raw(INACTIVE)
    peer.send("<presence to=%s type='unavailable'/>" % xattr(str(obs.jid)))
    await sync(peer)
    await obs.stop()
    await peer.ping_server()

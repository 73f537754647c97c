"""XEP-0191 Blocking Command: the blocklist, pushes to interested resources,
errors, and enforcement in both directions (online and offline), presence
on block and unblock."""
import asyncio

from harness import (IDN_DOMAIN, NS_DISCO_INFO, check, q, bare, body_of, stanza_error,
                     is_message, is_presence, new_id, tostr, xattr)

NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "bla@localhost", "blb@localhost", "blc@localhost", "bld@localhost", "ble@localhost",
    "blf@localhost", "blg@localhost", "blh@localhost", "bli@localhost", "blj@localhost",
    "blk@localhost", "bll@localhost", "blm@" + IDN_DOMAIN,
]}


def items_of(el, what="blocklist"):
    b = el.find(q(what, NS_BLOCKING))
    if b is None:
        return None
    return sorted(i.get("jid") for i in b.findall(q("item", NS_BLOCKING)))


def is_push(what):
    return lambda el: (el.tag == q("iq") and el.get("type") == "set" and
                       el.find(q(what, NS_BLOCKING)) is not None)


async def blocklist(c):
    r = await c.iq("get", "<blocklist xmlns='%s'/>" % NS_BLOCKING)
    check(r.get("type") == "result", "%s: blocklist get failed" % c.label, r)
    return items_of(r)


async def block(c, *jids, expect="result"):
    body = "".join("<item jid=%s/>" % xattr(j) for j in jids)
    r = await c.iq("set", "<block xmlns='%s'>%s</block>" % (NS_BLOCKING, body))
    if expect == "result":
        check(r.get("type") == "result", "%s: block %s failed" % (c.label, jids), r)
    return r


async def unblock(c, *jids):
    body = "".join("<item jid=%s/>" % xattr(j) for j in jids)
    r = await c.iq("set", "<unblock xmlns='%s'>%s</unblock>" % (NS_BLOCKING, body))
    check(r.get("type") == "result", "%s: unblock %s failed" % (c.label, jids), r)
    return r


async def wait_all(c, preds, what, timeout=5):
    """Waits until each predicate matched one element, in any order."""
    left = list(preds)
    while left:
        el = await c.wait_for(lambda e: any(p(e) for p in left), timeout, what)
        left = [p for p in left if not p(el)]


async def befriend(a, b):
    """a subscribes to b; b approves (both raw, both available)."""
    a.send("<presence to=%s type='subscribe'/>" % xattr(bare(b.jid)))
    await b.wait_for(is_presence(type_="subscribe", frm=bare(a.jid)), what="subscribe")
    b.send("<presence to=%s type='subscribed'/>" % xattr(bare(a.jid)))
    # the approval (after the roster change) and b's presence, in any order
    await wait_all(a, [is_presence(type_="subscribed", frm=bare(b.jid)), is_presence(frm=b.jid)],
                   "approval and presence")


def status_of(el):
    s = el.find(q("status"))
    return s.text if s is not None else None


async def test_disco_feature(ctx):
    c = await ctx.raw_session("bla@localhost", "d")
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    feats = {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))}
    check(NS_BLOCKING in feats, "blocking feature missing from disco#info", r)


async def test_list_block_push_unblock(ctx):
    # slixmpp's own XEP-0191 plugin as one of the user's clients
    x = await ctx.client("bla@localhost", "slix")
    x.x.register_plugin("xep_0191")
    got = await x.x["xep_0191"].get_blocked()
    check(len(got["blocklist"]["items"]) == 0, "fresh blocklist not empty: %s" % got)
    interested = await ctx.raw_session("bla@localhost", "int")
    check(await blocklist(interested) == [], "empty blocklist")
    other = await ctx.raw_session("bla@localhost", "other")  # never asked for the list

    r = await block(interested, "spam@localhost", "Troll@LOCALHOST", "example.org")
    check(r.get("to") == "bla@localhost/int", "block result addressed to the requester", r)
    want = ["example.org", "spam@localhost", "troll@localhost"]
    for c in (interested,):
        el = await c.wait_for(is_push("block"), what="block push")
        check(items_of(el, "block") == want, "push items (normalised)", el)
    el = await x.expect(is_push("block"), what="block push at slixmpp")
    check(items_of(el, "block") == want, "slixmpp push items", el)
    got = await x.x["xep_0191"].get_blocked()
    check(sorted(str(j) for j in got["blocklist"]["items"]) == want,
          "slixmpp sees the list: %s" % got)
    check(await blocklist(other) == want, "list as seen by another resource")
    # 'other' asked only now: it gets the next push, not the previous one
    await unblock(interested, "spam@localhost")
    el = await other.wait_for(is_push("unblock"), what="unblock push at other")
    check(items_of(el, "unblock") == ["spam@localhost"], "unblock push items", el)
    await x.expect(is_push("unblock"), what="unblock push at slixmpp")
    check(await blocklist(interested) == ["example.org", "troll@localhost"], "after unblock")
    # §5.5: an empty unblock unblocks everything, and the push is empty too
    await unblock(other)
    el = await interested.wait_for(lambda e: is_push("unblock")(e) and items_of(e, "unblock") == [],
                                   what="unblock-all push")
    check(await blocklist(x) == [], "list after unblock all")
    # the list survives a restart of the sessions (storage)
    await block(interested, "kept@localhost")
    await interested.close()
    again = await ctx.raw_session("bla@localhost", "again")
    check(await blocklist(again) == ["kept@localhost"], "blocklist from storage at a new login")
    await unblock(again)


async def test_errors(ctx):
    c = await ctx.raw_session("blb@localhost", "e")
    r = await c.iq("set", "<block xmlns='%s'/>" % NS_BLOCKING)
    check(stanza_error(r)[1] == "bad-request", "empty block must be bad-request", r)
    r = await block(c, "a@b@c", expect="error")
    check(stanza_error(r)[1] == "jid-malformed", "invalid JID must be jid-malformed", r)
    r = await c.iq("set", "<block xmlns='%s'><item/></block>" % NS_BLOCKING)
    check(stanza_error(r)[1] == "bad-request", "item without jid", r)
    r = await c.iq("get", "<blocklist xmlns='%s'/>" % NS_BLOCKING, to="blc@localhost")
    check(r.get("type") == "error", "another account's blocklist must not be readable", r)
    check(await blocklist(c) == [], "failed requests changed the list")


async def test_inbound_enforcement(ctx):
    bob = await ctx.raw_session("blc@localhost", "pc", presence=True)
    mal = await ctx.raw_session("bld@localhost", "evil", presence=True)
    good = await ctx.raw_session("bld@localhost", "good", presence=True)
    idn = await ctx.raw_session("blm@" + IDN_DOMAIN, "x", presence=True)
    await block(bob, "bld@localhost/evil", IDN_DOMAIN)
    # message: the sender gets service-unavailable, bob nothing
    mal.message(bob.jid, "let me in")
    el = await mal.wait_for(is_message(type_="error"), what="bounce")
    check(stanza_error(el) == ("cancel", "service-unavailable"), "message bounce", el)
    # IQ get: service-unavailable
    r = await mal.iq("get", "<query xmlns='jabber:iq:version'/>", to=bob.jid)
    check(stanza_error(r)[1] == "service-unavailable", "IQ from a blocked JID", r)
    # presence: silence both ways
    mal.send("<presence to=%s><status>hi</status></presence>" % xattr(bob.jid))
    # a whole domain (§4), IDN included
    idn.message(bob.jid, "from the other domain")
    el = await idn.wait_for(is_message(type_="error"), what="bounce for the blocked domain")
    # the same account's other resource is not blocked
    good.message(bob.jid, "hello from good")
    el = await bob.wait_for(lambda e: e.tag in (q("message"), q("presence")) and
                            e.get("from") != bob.jid, what="first stanza from outside")
    check(body_of(el) == "hello from good" and el.get("from") == good.jid,
          "bob must see only the unblocked resource's message", el)
    await mal.quiet(0.4, lambda e: e.tag == q("presence"))
    await bob.quiet(0.2, lambda e: e.get("from") in (mal.jid, idn.jid))
    # unblock: delivered again at once
    await unblock(bob, "bld@localhost/evil")
    mal.message(bob.jid, "finally")
    await bob.wait_for(is_message(body="finally", frm=mal.jid), what="message after unblock")
    await unblock(bob)


async def test_outbound_refused(ctx):
    bob = await ctx.raw_session("ble@localhost", "pc", presence=True)
    mal = await ctx.raw_session("blf@localhost", "m", presence=True)
    await block(bob, "blf@localhost")
    bob.message(mal.jid, "can you hear me")
    el = await bob.wait_for(is_message(type_="error"), what="not-acceptable")
    check(stanza_error(el) == ("cancel", "not-acceptable"), "outbound message error", el)
    err = el.find(q("error"))
    check(err.find(q("blocked", NS_BLOCKING_ERRORS)) is not None, "<blocked/> condition", el)
    check(el.get("from") == mal.jid and body_of(el) == "can you hear me",
          "error comes from the blocked JID with the original", el)
    r = await bob.iq("get", "<query xmlns='jabber:iq:version'/>", to=mal.jid)
    check(stanza_error(r)[1] == "not-acceptable", "outbound IQ", r)
    check(r.find(q("error")).find(q("blocked", NS_BLOCKING_ERRORS)) is not None,
          "IQ error carries <blocked/>", r)
    bob.send("<presence to=%s/>" % xattr(mal.jid))
    await mal.quiet(0.5, lambda e: e.get("from", "").startswith("ble@"))
    await unblock(bob)
    bob.message(mal.jid, "now yes")
    await mal.wait_for(is_message(body="now yes"), what="message after unblock")


async def test_offline_recipient(ctx):
    """The list applies while the user is offline: no offline message and no
    subscription request from a blocked JID is waiting at the next login."""
    bob = await ctx.raw_session("blg@localhost", "pc", presence=True)
    await block(bob, "blh@localhost")
    await bob.close()
    await asyncio.sleep(0.2)
    mal = await ctx.raw_session("blh@localhost", "m", presence=True)
    friend = await ctx.raw_session("bli@localhost", "f", presence=True)
    mal.message("blg@localhost", "while you were away")
    el = await mal.wait_for(is_message(type_="error"), what="bounce for an offline blocker")
    check(stanza_error(el)[1] == "service-unavailable", "offline bounce", el)
    # IQs the server answers on the offline account's behalf
    r = await mal.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="blg@localhost")
    check(stanza_error(r)[1] == "service-unavailable", "disco to an offline blocker", r)
    r = await friend.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="blg@localhost")
    check(r.get("type") == "result", "disco from an unblocked JID", r)
    mal.send("<presence to='blg@localhost' type='subscribe'/>")
    friend.message("blg@localhost", "from a friend")
    await friend.ping_server()
    await mal.ping_server()
    bob = await ctx.raw_session("blg@localhost", "pc", presence=True)
    el = await bob.wait_for(is_message(body="from a friend"), what="the friend's offline message")
    await bob.quiet(0.6, lambda e: e.get("from", "").startswith("blh@"))
    await unblock(bob)


async def test_presence_on_block_and_unblock(ctx):
    alice = await ctx.raw_session("blj@localhost", "a", presence=True)
    eve = await ctx.raw_session("blk@localhost", "e", presence=True)
    await befriend(alice, eve)
    await befriend(eve, alice)
    # §5.3: blocking sends unavailable presence to the contact
    await block(alice, "blk@localhost")
    el = await eve.wait_for(is_presence(type_="unavailable", frm=alice.jid),
                            what="unavailable from the blocker")
    # presence no longer flows in either direction
    alice.send("<presence><status>secret</status></presence>")
    eve.send("<presence><status>ignored</status></presence>")
    await alice.ping_server()
    await eve.ping_server()
    await eve.quiet(0.4, lambda e: e.tag == q("presence") and e.get("from") == alice.jid)
    await alice.quiet(0.2, lambda e: e.tag == q("presence") and e.get("from") == eve.jid)
    # nor at login (probes answered from memory)
    eve2 = await ctx.raw_session("blk@localhost", "e2", presence=True)
    await eve2.quiet(0.5, lambda e: e.tag == q("presence") and bare(e.get("from", "")) == "blj@localhost")
    alice2 = await ctx.raw_session("blj@localhost", "a2", presence=True)
    await alice2.quiet(0.5, lambda e: e.tag == q("presence") and bare(e.get("from", "")) == "blk@localhost")
    # §5.4: unblocking sends the current presence, and the user gets the contact's
    await unblock(alice, "blk@localhost")
    el = await eve.wait_for(lambda e: is_presence(frm=alice.jid)(e) and status_of(e) == "secret",
                            what="alice's current presence after unblock")
    el = await alice.wait_for(lambda e: is_presence(frm=eve.jid)(e) and status_of(e) == "ignored",
                              what="eve's presence after unblock")
    # and flows again
    alice.send("<presence><status>open</status></presence>")
    await eve.wait_for(lambda e: is_presence(frm=alice.jid)(e) and status_of(e) == "open")


async def test_block_is_immediate_for_queued_stanzas(ctx):
    """Stanzas the blocked contact sends right after the block result are
    refused (nothing slips through between storage and memory)."""
    bob = await ctx.raw_session("bll@localhost", "pc", presence=True)
    mal = await ctx.raw_session("bld@localhost", "burst", presence=True)
    r = await block(bob, "bld@localhost")
    for i in range(20):
        mal.message(bob.jid, "burst %d" % i)
    await mal.ping_server()
    await bob.quiet(0.5, lambda e: e.tag == q("message") and e.get("from") == mal.jid)
    await unblock(bob)

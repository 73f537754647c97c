"""Presence subscriptions (RFC 6121 §3) and presence broadcast/probes (§4)."""

import asyncio
import time

from harness import (NS_ROSTER, TestFailure, check, q, roster_items, is_presence, is_roster_push,
                     tostr)

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "sub1@localhost", "sub2@localhost", "sub3@localhost", "sub4@localhost",
    "sub5@localhost", "sub6@localhost",
    "pa@localhost", "pb@localhost", "pc@localhost", "self@localhost",
]}


def item(el, jid):
    return (roster_items(el) or {}).get(jid)


async def expect_push(c, jid, subscription, ask=None):
    """Next roster push for jid; asserts subscription and ask exactly."""
    el = await c.expect(is_roster_push(jid), what="roster push for %s (%s%s)" %
                        (jid, subscription, ", ask=" + ask if ask else ""))
    it = item(el, jid)
    check(it.get("subscription") == subscription and it.get("ask") == ask,
          "%s: roster push for %s has subscription=%r ask=%r, want %r/%r" %
          (c.label, jid, it.get("subscription"), it.get("ask"), subscription, ask), el)
    return el


async def expect_sub_presence(c, type_, frm_bare):
    el = await c.expect(is_presence(type_=type_, frm=frm_bare, bare_from=True),
                        what="presence type=%s from %s" % (type_, frm_bare))
    check(el.get("from") == frm_bare, "%s: subscription presence %s must come from the bare JID, got %r"
          % (c.label, type_, el.get("from")), el)
    return el


async def arrived_in_order(c, named, timeout=5):
    """Waits until each (name, pred) has a match in c's inbox and checks that
    the first matches arrived in the given order; consumes them."""
    deadline = time.monotonic() + timeout
    while True:
        idx = [next((i for i, st in enumerate(c.inbox) if pred(st.xml)), None) for _, pred in named]
        if None not in idx:
            break
        if time.monotonic() > deadline:
            missing = [name for (name, _), i in zip(named, idx) if i is None]
            raise TestFailure("%s: never got %s; inbox: %s" %
                              (c.label, ", ".join(missing), [tostr(st.xml) for st in c.inbox]))
        await asyncio.sleep(0.05)
    order = [name for _, name in sorted(zip(idx, [n for n, _ in named]))]
    check(idx == sorted(idx), "%s: got %s, in that order; RFC 6121 §3.1.5 wants %s" %
          (c.label, ", ".join(order), ", ".join(n for n, _ in named)))
    for _, pred in named:
        await c.expect(pred)


async def roster_of(c):
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_ROSTER)
    check(r.get("type") == "result", "%s: roster get" % c.label, r)
    return roster_items(r)


async def test_subscription_state_machine_both_online(ctx):
    u1 = await ctx.client("sub1@localhost", "r1", roster=True, presence=True)
    u2 = await ctx.client("sub2@localhost", "r2", roster=True, presence=True)
    A, B = "sub1@localhost", "sub2@localhost"

    # u1 asks to see u2's presence
    u1.presence(to=B, type_="subscribe")
    await expect_push(u1, B, "none", "subscribe")
    await expect_sub_presence(u2, "subscribe", A)
    # u2 approves
    u2.presence(to=A, type_="subscribed")
    await expect_push(u2, A, "from")
    # the roster push and 'subscribed' come before the contact's presence
    await arrived_in_order(u1, [
        ("the roster push (subscription=to)",
         lambda el: is_roster_push(B)(el) and item(el, B).get("subscription") == "to"),
        ("presence type=subscribed", is_presence(type_="subscribed", frm=B, bare_from=True)),
        ("u2's available presence", is_presence(frm=B + "/r2")),
    ])

    # and back: u2 subscribes to u1
    u2.presence(to=A, type_="subscribe")
    await expect_push(u2, A, "from", "subscribe")
    await expect_sub_presence(u1, "subscribe", B)
    u1.presence(to=B, type_="subscribed")
    await expect_push(u1, B, "both")
    await expect_push(u2, A, "both")
    await expect_sub_presence(u2, "subscribed", A)
    await u2.expect(is_presence(frm=A + "/r1"), what="u1's available presence after approval")

    items = await roster_of(u1)
    check(items[B].get("subscription") == "both", "stored state for sub2 is %r" % items[B].get("subscription"))

    # u1 unsubscribes from u2 (stops seeing u2)
    u1.presence(to=B, type_="unsubscribe")
    await expect_push(u1, B, "from")
    await expect_sub_presence(u2, "unsubscribe", A)
    await expect_push(u2, A, "to")
    # RFC 6121 §3.3.3: unavailable from the contact's resources (a bare-JID
    # unavailable means the same to clients, so accept either)
    await u1.expect(is_presence(type_="unavailable", frm=B, bare_from=True),
                    what="unavailable from u2 after unsubscribing")

    # u1 cancels u2's subscription to u1
    u1.presence(to=B, type_="unsubscribed")
    await expect_push(u1, B, "none")
    await expect_sub_presence(u2, "unsubscribed", A)
    await expect_push(u2, A, "none")
    await u2.expect(is_presence(type_="unavailable", frm=A, bare_from=True),
                    what="unavailable from u1 after the subscription was cancelled")

    # no presence flows any more
    u1.presence(status="nobody should see this")
    await u2.quiet(is_presence(frm=A + "/r1"), 0.5, "presence without subscription")


async def test_subscription_request_to_offline_contact(ctx):
    A, B = "sub3@localhost", "sub4@localhost"
    u3 = await ctx.client(A, "r3", roster=True, presence=True)
    u3.presence(to=B, type_="subscribe")
    await expect_push(u3, B, "none", "subscribe")
    # B comes online later and gets the stored request after initial presence
    u4 = await ctx.client(B, "r4", roster=True)
    await u4.quiet(is_presence(type_="subscribe"), 0.5, "subscription request before initial presence")
    u4.presence()
    await expect_sub_presence(u4, "subscribe", A)
    u4.presence(to=A, type_="subscribed")
    await expect_push(u4, A, "from")
    await expect_push(u3, B, "to")
    await expect_sub_presence(u3, "subscribed", B)
    await u3.expect(is_presence(frm=B + "/r4"), what="available presence of the new contact")
    # the request is not delivered again on the next login
    u4b = await ctx.client(B, "r4b", roster=True, presence=True)
    await u4b.quiet(is_presence(type_="subscribe"), 0.5, "already-approved subscription request")


async def test_approval_while_user_offline_then_probe(ctx):
    A, B = "sub5@localhost", "sub6@localhost"
    u5 = await ctx.client(A, "r5", roster=True, presence=True)
    u6 = await ctx.client(B, "r6", roster=True, presence=True)
    u6.presence(status="я на месте")
    u5.presence(to=B, type_="subscribe")
    await expect_push(u5, B, "none", "subscribe")
    await expect_sub_presence(u6, "subscribe", A)
    await u5.stop()
    await asyncio.sleep(0.2)
    u6.presence(to=A, type_="subscribed")
    await expect_push(u6, A, "from")
    # u5 logs in again: roster shows 'to' and initial presence probes u6
    u5 = await ctx.client(A, "r5again")
    items = await roster_of(u5)
    check(items.get(B) is not None and items[B].get("subscription") == "to" and items[B].get("ask") is None,
          "roster after offline approval: %s" % tostr(items.get(B)))
    u5.presence()
    el = await u5.expect(is_presence(frm=B + "/r6"), what="probed presence of sub6")
    st = el.find(q("status"))
    check(st is not None and st.text == "я на месте", "probed presence lost its status", el)


async def make_mutual(a, b):
    ja, jb = a.jid.bare, b.jid.bare
    a.presence(to=jb, type_="subscribe")
    await expect_sub_presence(b, "subscribe", ja)
    b.presence(to=ja, type_="subscribed")
    b.presence(to=ja, type_="subscribe")
    await expect_sub_presence(a, "subscribe", jb)
    a.presence(to=jb, type_="subscribed")
    await expect_sub_presence(b, "subscribed", ja)
    await expect_sub_presence(a, "subscribed", jb)
    a.drop(lambda e: True)
    b.drop(lambda e: True)


async def test_presence_broadcast_probe_and_unavailable(ctx):
    A, B = "pa@localhost", "pb@localhost"
    a = await ctx.client(A, "home", roster=True, presence=True)
    b = await ctx.client(B, "setup", roster=True, presence=True)
    await make_mutual(a, b)
    await b.stop()
    await a.expect(is_presence(type_="unavailable", frm=B + "/setup"), what="unavailable on clean disconnect")
    a.presence(status="here")
    stranger = await ctx.client("pc@localhost", "x", roster=True, presence=True)

    # B comes online: A gets the broadcast, B gets A's presence through a probe
    b = await ctx.client(B, "phone", roster=True)
    b.presence(show="away", status="в отпуске")
    el = await a.expect(is_presence(frm=B + "/phone"), what="B's initial presence broadcast")
    check(el.findtext(q("show")) == "away" and el.findtext(q("status")) == "в отпуске",
          "broadcast lost show/status", el)
    el = await b.expect(is_presence(frm=A + "/home"), what="A's presence after B's probe")
    check(el.findtext(q("status")) == "here", "probe answer lost status", el)

    # an update is broadcast, but not to a stranger
    b.presence(show="dnd")
    el = await a.expect(is_presence(frm=B + "/phone"), what="B's presence update")
    check(el.findtext(q("show")) == "dnd", "update show", el)
    await stranger.quiet(is_presence(frm=B + "/phone", type_="*"), 0.3, "presence to a non-subscriber")

    # abrupt disconnect (no </stream:stream>) -> unavailable on B's behalf
    b.abort()
    await a.expect(is_presence(type_="unavailable", frm=B + "/phone"), what="unavailable after TCP reset")


async def test_own_resources_see_each_other(ctx):
    """RFC 6121 §4.2.2: initial presence goes to all of the user's available
    resources, including the sender."""
    J = "self@localhost"
    first = await ctx.client(J, "first", roster=True, presence=True)
    await first.expect(is_presence(frm=J + "/first"), what="reflection of own initial presence")
    second = await ctx.client(J, "second", roster=True)
    second.presence(status="второй")
    el = await first.expect(is_presence(frm=J + "/second"), what="presence of the other resource")
    check(el.findtext(q("status")) == "второй", "status", el)
    await second.expect(is_presence(frm=J + "/second"), what="reflection of own initial presence")
    await second.stop()
    await first.expect(is_presence(type_="unavailable", frm=J + "/second"),
                       what="unavailable of own other resource")

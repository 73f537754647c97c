"""Offline delivery (RFC 6121 §8.5.2.2.1, XEP-0160) that ends in the middle:
a queue longer than the stream-management queue may hold (MAX_UNACKED in
src/mod/sm.c) is flushed to a client that enables XEP-0198 and never
acknowledges. The server cuts the session (resource-constraint) part-way;
what it had written and not had acknowledged goes back to offline storage
(XEP-0198 §4), and what it had not written yet must stay there. Found by
the kill -9 campaign: the flush deleted the whole queue although the rest
of it was never written."""

import asyncio

from harness import NS_PING, check, new_id, options, q
from kill_campaign import NS_SM

ACCOUNTS = {"alice@localhost": "pw-a", "carol@localhost": "pw-c", "dave@localhost": "pw-d",
            "erin@localhost": "pw-e"}
CONFIG = {"c2s": {"max_offline": 50000}}
N = 10500  # more than MAX_UNACKED (10000)


async def storage_barrier(a):
    """XEP-0198 <r/> on the sender's stream: the <a/> comes after every
    storage job queued so far (src/mod/sm.c)."""
    a.send("<r xmlns='%s'/>" % NS_SM)
    await a.wait_for(lambda e: e.tag == q("a", NS_SM), timeout=120, what="<a/>")


async def send_acked(ctx, to, n):
    """n messages to `to`, all acknowledged; returns the sender's stream."""
    a = await ctx.raw_session("alice@localhost", "sender")
    a.send("<enable xmlns='%s'/>" % NS_SM)
    await a.wait_for(lambda e: e.tag == q("enabled", NS_SM), what="<enabled/>")
    for i in range(0, n, 500):
        a.send("".join("<message to='%s' type='chat' id='f%d'><body>f%05d</body></message>" % (to, j, j)
                       for j in range(i, min(n, i + 500))) + "<r xmlns='%s'/>" % NS_SM)
        await a.writer.drain()
    h = 0
    while h < n:
        el = await a.wait_for(lambda e: e.tag == q("a", NS_SM), timeout=60, what="<a/>")
        h = int(el.get("h"))
    return a


async def read_until_end(c, quiet=3.0):
    """Bodies until the server closes the stream (or stays quiet)."""
    bodies = []
    while True:
        try:
            ev = await c.next_event(quiet)
        except asyncio.TimeoutError:
            return bodies, None
        if ev.kind != "element":
            return bodies, ev.kind
        if ev.elem.tag == q("message") and ev.elem.findtext(q("body")):
            bodies.append(ev.elem.findtext(q("body")))
        elif ev.elem.tag.endswith("}error"):
            return bodies, "error"


async def offline_queue(ctx, jid):
    """Everything in jid's offline queue: what comes before the answer to
    a ping sent right after the initial presence."""
    c = await ctx.raw_session(jid, "drain")
    iid = new_id("ping")
    c.send("<presence/><iq type='get' id='%s' to='localhost'><ping xmlns='%s'/></iq>" % (iid, NS_PING))
    bodies = []
    while True:
        el = await c.element(60, "offline messages")
        if el.tag == q("message") and el.findtext(q("body")):
            bodies.append(el.findtext(q("body")))
        elif el.tag == q("iq") and el.get("id") == iid:
            return bodies


@options(timeout=180)
async def test_flush_cut_part_way_loses_nothing(ctx):
    a = await send_acked(ctx, "carol@localhost", N)
    want = {"f%05d" % i for i in range(N)}
    c = await ctx.raw_session("carol@localhost", "phone")
    c.send("<enable xmlns='%s'/>" % NS_SM)
    await c.wait_for(lambda e: e.tag == q("enabled", NS_SM), what="<enabled/>")
    c.send("<presence/>")  # the flush; carol never acknowledges
    first, end = await read_until_end(c)
    c.abort()
    await asyncio.sleep(0.5)  # the session's end moves the unacknowledged back,
    await storage_barrier(a)  # and that is stored
    second = await offline_queue(ctx, "carol@localhost")
    missing = want - set(first) - set(second)
    check(not missing, "%d acknowledged messages lost (first session got %d, ended by %s; then %d "
          "offline), e.g. %s" % (len(missing), len(first), end, len(second), sorted(missing)[:5]))
    check(len(second) == len(set(second)), "offline queue holds duplicates: %d of %d distinct" %
          (len(set(second)), len(second)))
    # Unacknowledged is unacknowledged: all of the first session's messages
    # come again, except at most the one that tripped the limit (written,
    # not queued: issue 18, output and memory).
    check(len(set(first) - set(second)) <= 1, "%d messages the first session did not acknowledge "
          "are not offline" % len(set(first) - set(second)))


@options(timeout=180)
async def test_long_queue_to_a_client_without_sm(ctx):
    """The same queue to a client without stream management: all of it,
    once, in order, and nothing left afterwards."""
    await send_acked(ctx, "dave@localhost", N)
    got = await offline_queue(ctx, "dave@localhost")
    check(got == ["f%05d" % i for i in range(N)], "offline flush: %d messages, in order: %s" %
          (len(got), got == sorted(got)))
    check(await offline_queue(ctx, "dave@localhost") == [], "the flushed queue was not deleted")


@options(timeout=120)
async def test_presence_again_during_flush(ctx):
    """Unavailable and available again while a long queue is flushed: a
    second initial presence (RFC 6121 §4.2) must not start a second flush
    of the same rows."""
    await send_acked(ctx, "erin@localhost", 3500)
    c = await ctx.raw_session("erin@localhost", "phone")
    iid = new_id("ping")
    c.send("<presence/><presence type='unavailable'/><presence/>"
           "<iq type='get' id='%s' to='localhost'><ping xmlns='%s'/></iq>" % (iid, NS_PING))
    got, end = await read_until_end(c, quiet=3.0)
    check(end is None, "stream ended: %s" % end)
    check(len(got) == len(set(got)), "%d messages, %d distinct: the queue was flushed twice" %
          (len(got), len(set(got))))
    check(got == ["f%05d" % i for i in range(3500)], "%d of 3500, in order: %s" % (len(got), got == sorted(got)))

"""Never lose an acknowledged message: vestnikd is killed with SIGKILL while a
client streams messages with XEP-0198 acknowledgements; after a restart on
the same data_dir, every message covered by the last <a h/> the client got
is in the sender's archive, in the recipient's archive and in the
recipient's offline queue."""

import asyncio

from harness import check, options, q
from test_mam import all_items, chat, query

NS_SM = "urn:xmpp:sm:3"
ACCOUNTS = {"alice@localhost": "pw-a", "bob@localhost": "pw-b"}
CONFIG = {"c2s": {"max_offline": 100000}}


@options(config={}, timeout=120)
async def test_kill9_keeps_acknowledged_messages(ctx):
    a = await ctx.raw_session("alice@localhost", "phone")
    a.send("<enable xmlns='%s'/>" % NS_SM)
    el = await a.wait_for(lambda e: e.tag in (q("enabled", NS_SM), q("failed", NS_SM)))
    check(el.tag == q("enabled", NS_SM), "enable failed", el)

    acked = 0
    reader_done = asyncio.Event()

    async def reader():
        nonlocal acked
        try:
            while True:
                e = await a.element(30, "acks")
                if e.tag == q("a", NS_SM):
                    acked = max(acked, int(e.get("h")))
        except Exception:
            pass  # the connection dies with the server
        finally:
            reader_done.set()

    task = asyncio.ensure_future(reader())
    batch, sent = 100, 0
    try:
        # h counts only these messages: nothing else is sent after <enable/>
        while True:
            stanzas = [chat("bob@localhost", "d%05d" % (sent + i)) for i in range(batch)]
            await a.send_drain("".join(stanzas) + "<r xmlns='%s'/>" % NS_SM)
            sent += batch
            await asyncio.sleep(0.005)
            if acked >= 1000:
                # keep the pipe full, then kill in the middle of it
                await a.send_drain("".join(chat("bob@localhost", "d%05d" % (sent + i))
                                           for i in range(batch)) + "<r xmlns='%s'/>" % NS_SM)
                sent += batch
                ctx.server.proc.kill()
                break
            check(sent < 200000, "no acknowledgements (acked %d)" % acked)
    finally:
        await asyncio.wait_for(reader_done.wait(), 10)
        task.cancel()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ctx.server.proc.wait)
    a.abort()
    check(0 < acked <= sent, "acked %d of %d" % (acked, sent))
    want = ["d%05d" % i for i in range(acked)]

    await loop.run_in_executor(None, ctx.server.start)
    a = await ctx.raw_session("alice@localhost", "phone2")
    got = [i.body for i in await all_items(a)]
    check(got[:acked] == want, "alice's archive after kill -9: %d items, %d acknowledged; "
          "first missing: %s" % (len(got), acked, sorted(set(want) - set(got))[:5]))
    check(len(got) <= sent and got == ["d%05d" % i for i in range(len(got))],
          "alice's archive holds something else or out of order")
    b = await ctx.raw_session("bob@localhost", "pc")
    got_b = [i.body for i in await all_items(b)]
    check(got_b[:acked] == want, "bob's archive after kill -9: %d items, %d acknowledged" %
          (len(got_b), acked))
    # and the offline queue: delivered at bob's initial presence, in order
    b.send("<presence/>")
    bodies = []
    while len(bodies) < acked:
        e = await b.wait_for(lambda x: x.tag == q("message") and x.find(q("body")) is not None,
                             timeout=30, what="offline message %d of %d" % (len(bodies) + 1, acked))
        bodies.append(e.findtext(q("body")))
    check(bodies == want, "offline messages after kill -9")
    p = await query(b, rsm={"max": 0})
    check(p.count == len(got_b), "count after restart %s" % p.count, p.iq)

"""Issue 18, defect 1: when storage falls behind, only the sessions whose
input causes storage writes are throttled; a bystander that only pings is
still read and answered, and nothing the flooder sent is lost.

Storage is made to fall behind for real: the test holds SQLite's write lock
on the server's database from another process (the storage thread waits
in its busy timeout), while a client floods messages to an offline account
(each one an offline row and archive rows)."""

import asyncio
import os
import sqlite3
import time

from harness import check, q

ACCOUNTS = {
    "flood@localhost": "pw-flood",
    "away@localhost": "pw-away",
    "watch@localhost": "pw-watch",
}
N = 6000
CONFIG = {"c2s": {"rate": 0, "max_offline": N + 100}}


def store_queue(server):
    return server.metrics()["vestnik_store_queue"]


async def test_only_writers_are_throttled(ctx):
    srv = ctx.server
    w = await ctx.raw_session("watch@localhost", "w")
    f = await ctx.raw_session("flood@localhost", "f")
    # First message: the archive module loads the sender's preferences (the
    # stream waits for that), so load them before storage is blocked.
    f.send("<message to='away@localhost' type='chat' id='first'><body>-1</body></message>")
    await f.ping_server(timeout=10)
    db = sqlite3.connect(os.path.join(srv.data_dir, "vestnik.db"), timeout=1, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")  # the write lock: the storage thread now waits
    locked_at = time.monotonic()
    try:
        pad = "z" * 64
        for i in range(N):
            f.send("<message to='away@localhost' type='chat' id='s-%d'><body>%d %s</body></message>"
                   % (i, i, pad))
            if i % 200 == 199:
                await f.writer.drain()
        peak = 0
        while time.monotonic() - locked_at < 3.0:
            peak = max(peak, store_queue(srv))
            if peak > 4500:
                break
            await asyncio.sleep(0.05)
        check(peak > 4000, "storage queue reached only %d jobs: the test did not load it" % peak)
        # The queue is long: the flooder is throttled, the bystander is not.
        rtts = []
        for _ in range(3):
            t0 = time.monotonic()
            await w.ping_server(timeout=10)
            rtts.append(time.monotonic() - t0)
        waited = time.monotonic() - locked_at
    finally:
        db.execute("COMMIT")
        db.close()
    check(max(rtts) < 1.0, "a bystander's ping took %.2fs while storage was behind (%r)"
          % (max(rtts), rtts))
    # Nothing lost: every message reaches offline storage once storage runs.
    await f.ping_server(timeout=60)
    errors = 0
    while await f.poll(0.2):
        el = await f.element()
        errors += el.tag == q("message") and el.get("type") == "error"
    check(errors == 0, "%d messages bounced" % errors)
    deadline = time.monotonic() + 60
    while store_queue(srv) > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    a = await ctx.raw_session("away@localhost", "back", presence=True)
    got = set()
    while await a.poll(3.0):
        el = await a.element()
        if el.tag == q("message"):
            n = int(el.find(q("body")).text.split()[0])
            if n >= 0:
                got.add(n)
    check(got == set(range(N)), "offline delivery: %d of %d (lock held %.1fs)"
          % (len(got), N, waited))
test_only_writers_are_throttled.timeout = 120

#!/usr/bin/python3
"""Quick local measurement of the MUC fan-out path (not a test; the proper
benchmark lives in bench/): N sessions of one account join one room, one of
them sends M groupchat messages, and we time until every occupant has every
copy, with vestnikd's CPU time over the same interval.

    VESTNIKD=build/vestnikd VESTNIKCTL=build/vestnikctl \
        tests/integration/muc_fanout_probe.py [N] [M]
"""
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SVC = "conference.localhost"
NS_MUC = "http://jabber.org/protocol/muc"


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Counter:
    """Reads a session's socket without parsing; counts markers."""

    def __init__(self, c):
        self.c = c
        self.tail = b""
        self.joined = asyncio.Event()
        self.bodies = 0
        self.want = None
        self.done = asyncio.Event()

    async def run(self):
        r = self.c.reader
        while True:
            data = await r.read(1 << 16)
            if not data:
                return
            buf = self.tail + data
            if not self.joined.is_set() and b"code='110'" in buf:
                self.joined.set()
            self.bodies += buf.count(b"<body>probe-") - self.tail.count(b"<body>probe-")
            self.tail = buf[-32:]
            if self.want is not None and self.bodies >= self.want:
                self.done.set()


async def main(n, m):
    # Every occupant connects from 127.0.0.1: no per-address limit.
    srv = harness.Server("muc-probe", {"muc": {"max_occupants": str(n + 10)},
                                        "server": {"log_level": "info"},
                                        "c2s": {"max_connections_per_address": "0"}},
                         {"crowd@localhost": "pw"})
    srv.start()
    try:
        owner = harness.RawClient(srv, label="owner")
        await owner.connect()
        await owner.login("crowd", "pw", "owner")
        owner.send("<presence to='probe@%s/owner'><x xmlns='%s'><history maxstanzas='0'/></x>"
                   "</presence>" % (SVC, NS_MUC))
        await owner.wait_for(lambda e: e.tag == harness.q("presence"), what="self-presence")
        r = await owner.iq("set", "<query xmlns='%s#owner'><x xmlns='jabber:x:data' "
                           "type='submit'/></query>" % NS_MUC, to="probe@" + SVC)
        assert r.get("type") == "result", r
        oc = Counter(owner)
        asyncio.ensure_future(oc.run())

        counters = []
        sem = asyncio.Semaphore(40)
        t_join = time.monotonic()

        async def one(i):
            async with sem:
                c = harness.RawClient(srv, label="o%d" % i)
                await c.connect()
                await c.login("crowd", "pw", "o%d" % i)
                k = Counter(c)
                counters.append(k)
                asyncio.ensure_future(k.run())
                c.send("<presence to='probe@%s/o%d'><x xmlns='%s'><history maxstanzas='0'/>"
                       "</x></presence>" % (SVC, i, NS_MUC))
                await asyncio.wait_for(k.joined.wait(), 120)

        await asyncio.gather(*(one(i) for i in range(n)))
        join_s = time.monotonic() - t_join
        await asyncio.sleep(2)  # let the join presence broadcasts drain
        for k in counters + [oc]:
            k.want = m
            k.bodies = 0
        pid = srv.proc.pid
        cpu0, t0, rss0 = cpu_seconds(pid), time.monotonic(), rss_kib(pid)
        owner.send("".join("<message to='probe@%s' type='groupchat' id='p%d'><body>probe-%d"
                           "</body></message>" % (SVC, j, j) for j in range(m)))
        await asyncio.wait_for(asyncio.gather(*(k.done.wait() for k in counters + [oc])), 300)
        t1 = time.monotonic()
        time.sleep(0.2)
        cpu1 = cpu_seconds(pid)
        copies = (n + 1) * m
        print("occupants %d, messages %d, copies %d" % (n + 1, m, copies))
        print("joins: %.1f s for %d (O(N) presence each)" % (join_s, n))
        print("fan-out wall: %.3f s total, %.1f ms per message to all" %
              (t1 - t0, 1000 * (t1 - t0) / m))
        print("server CPU: %.3f s, %.2f us per delivered copy (incl. TLS)" %
              (cpu1 - cpu0, 1e6 * (cpu1 - cpu0) / copies))
        print("server RSS: %d KiB before the messages, %d KiB after" % (rss0, rss_kib(pid)))
    finally:
        srv.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
                     int(sys.argv[2]) if len(sys.argv) > 2 else 20))

"""Issue 18, defect 1: clients that do not read their stream cannot grow the
server's memory, and a bystander keeps getting answers throughout.

Each attack runs against the real vestnikd; the bounds asserted are far
below what the unbounded server reached (1 GiB pre-auth, 767 MiB for a
client that stopped reading while others messaged it) and far above what
the bounded one needs, so that machine noise cannot decide a result."""

import asyncio
import socket
import time

from harness import NS_CLIENT, check, q

NS_SM = "urn:xmpp:sm:3"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"

ACCOUNTS = {
    "victim@localhost": "pw-victim",
    "flood@localhost": "pw-flood",
    "bystander@localhost": "pw-bystander",
    "greedy@localhost": "pw-greedy",
}

# Small bounds so that the attacks are short; shaping off (tested on its
# own below) so that only the output bounds act here.
MAX_OUTPUT = 262144  # reading pauses at 64 KiB; overflow at once above 4 MiB
CONFIG = {
    "c2s": {
        "max_output": MAX_OUTPUT,
        "max_output_preauth": 8192,
        "output_timeout": 2,
        "rate": 0,
        "max_unacked_bytes": 64 << 20,
        "max_unacked": 100000,
        "resume_timeout": 60,
    },
}


def metrics(server):
    return server.metrics()


class Bystander:
    """Pings the server every 100 ms on its own session; records round trips."""

    def __init__(self, client):
        self.c = client
        self.rtts = []
        self.failures = []
        self.task = None

    def start(self):
        self.task = asyncio.ensure_future(self._run())
        return self

    async def _run(self):
        while True:
            t0 = time.monotonic()
            try:
                await self.c.ping_server(timeout=10)
                self.rtts.append(time.monotonic() - t0)
            except Exception as e:  # noqa: BLE001 - reported by check()
                self.failures.append(repr(e))
                return
            await asyncio.sleep(0.1)

    async def stop_and_check(self, what, worst=3.0, min_pings=2):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        # The attacks may end within a few ping intervals on a fast machine:
        # one more answer, now, shows the server still serves the bystander.
        t0 = time.monotonic()
        try:
            await self.c.ping_server(timeout=10)
            self.rtts.append(time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001 - reported by check()
            self.failures.append(repr(e))
        check(not self.failures, "%s: the bystander's ping failed: %s" % (what, self.failures))
        check(len(self.rtts) >= min_pings, "%s: the bystander got only %d ping answers"
              % (what, len(self.rtts)))
        # Generous: the unbounded server kept the bystander waiting 6 s.
        check(max(self.rtts) < worst, "%s: a bystander ping took %.2fs (%d pings)"
              % (what, max(self.rtts), len(self.rtts)))


async def bystander(ctx):
    c = await ctx.raw_session("bystander@localhost", "watch")
    return Bystander(c).start()


def sanitized(server):
    """Under AddressSanitizer freed memory sits in quarantine: RSS says
    nothing there, and only the exact bounds (the metrics) are checked."""
    try:
        with open("/proc/%d/maps" % server.pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False


def grow_kib(server, base):
    if sanitized(server):
        return 0
    return (server.rss_kib() or 0) - base


async def test_preauth_client_that_never_reads(ctx):
    """Before TLS and authentication: many requests, no reading. The server
    stops reading from the connection instead of buffering the answers."""
    b = await bystander(ctx)
    srv = ctx.server
    base = srv.rss_kib()
    request = b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>" * 64
    socks = []
    sent = 0
    for i in range(8):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind(("127.0.0.%d" % (10 + i), 0))
        s.connect(("127.0.0.1", srv.port))
        s.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
        s.setblocking(False)
        socks.append(s)
    deadline = time.monotonic() + 4
    blocked = set()
    while time.monotonic() < deadline and len(blocked) < len(socks):
        for s in socks:
            try:
                sent += s.send(request)
            except BlockingIOError:
                blocked.add(s)
        await asyncio.sleep(0)
    await asyncio.sleep(0.5)
    growth = grow_kib(srv, base)
    m = metrics(srv)
    for s in socks:
        s.close()
    await b.stop_and_check("pre-auth flood")
    # Unbounded, the server grew by 1 GiB in 7 s here.
    check(growth < 32 * 1024, "server grew by %d KiB while %d bytes of requests were sent"
          % (growth, sent))
    check(len(blocked) == len(socks), "only %d of %d non-reading clients were stopped (sent %d bytes)"
          % (len(blocked), len(socks), sent))
    check(m["vestnik_output_bytes"] < 8 * 64 * 1024,
          "%d bytes of output queued for 8 pre-auth clients" % m["vestnik_output_bytes"])
test_preauth_client_that_never_reads.timeout = 40


async def test_authenticated_client_that_never_reads(ctx):
    """Signed in: disco#info requests as fast as the socket takes, reading
    nothing. Reading from it stops at a quarter of max_output."""
    b = await bystander(ctx)
    srv = ctx.server
    g = await ctx.raw_session("greedy@localhost", "g")
    base = srv.rss_kib()
    g.writer.transport.pause_reading()
    req = ("<iq type='get' id='d' to='localhost'><query xmlns='%s'/></iq>" % NS_DISCO_INFO) * 32
    sent = 0
    stopped = False
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        g.send(req)
        sent += len(req)
        try:
            await asyncio.wait_for(g.writer.drain(), 1.0)
        except asyncio.TimeoutError:
            stopped = True
            break
    growth = grow_kib(srv, base)
    m = metrics(srv)
    await b.stop_and_check("authenticated flood")
    check(stopped, "the server kept reading %d bytes of requests from a client that reads nothing"
          % sent)
    check(growth < 48 * 1024, "server grew by %d KiB (sent %d bytes of requests)" % (growth, sent))
    check(m["vestnik_output_paused"] >= 1, "no connection paused for back-pressure: %r" % m)
    check(m["vestnik_output_bytes"] <= 16 * MAX_OUTPUT,
          "%d bytes queued for one client" % m["vestnik_output_bytes"])
test_authenticated_client_that_never_reads.timeout = 40


async def _flood(sender, to, n, size, tag):
    pad = "x" * size
    for i in range(n):
        sender.send("<message to='%s' type='chat' id='%s-%d'><body>%s %d %s</body></message>"
                    % (to, tag, i, tag, i, pad))
        if i % 64 == 63:
            await sender.writer.drain()
    await sender.writer.drain()


def bodies(elems):
    out = []
    for el in elems:
        if el.tag == q("message"):
            bd = el.find(q("body"))
            if bd is not None and bd.text:
                out.append(bd.text.split(" ", 2)[:2])
    return out


async def test_stalled_reader_ends_and_resumes_without_loss(ctx):
    """A phone with stream management stops reading (a tunnel) while another
    account sends it 12 MB. Its connection is cut once its output passes the
    bound; its session waits for resumption, and resuming delivers every
    message exactly once, in order."""
    b = await bystander(ctx)
    srv = ctx.server
    v = await ctx.raw_session("victim@localhost", "phone", presence=True)
    v.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    en = await v.wait_for(lambda e: e.tag in (q("enabled", NS_SM), q("failed", NS_SM)))
    check(en.tag == q("enabled", NS_SM), "enable failed", en)
    smid = en.get("id")
    v.writer.transport.pause_reading()
    f = await ctx.raw_session("flood@localhost", "f")
    base = srv.rss_kib()
    before = metrics(srv)
    N, SIZE = 3000, 4000
    await _flood(f, "victim@localhost/phone", N, SIZE, "m")
    await f.ping_server(timeout=20)  # every message went through the router
    deadline = time.monotonic() + 15
    m = metrics(srv)
    while m["vestnik_output_overflows_total"] == before["vestnik_output_overflows_total"] \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        m = metrics(srv)
    growth = grow_kib(srv, base)
    check(m["vestnik_output_overflows_total"] > before["vestnik_output_overflows_total"],
          "the stalled client was never disconnected: %r" % m)
    # Queued once in stream management (12 MB) and at most 16 x max_output
    # in the connection; unbounded it was twice the flood and growing.
    check(growth < 64 * 1024, "server grew by %d KiB for a 12 MB flood" % growth)
    v.abort()
    # Resume on a new connection, acknowledging nothing: all N come back.
    n = await ctx.raw(label="raw:victim-resumed")
    await n.secure()
    await n.auth_scram("victim", ACCOUNTS["victim@localhost"])
    await n.open()
    n.send("<resume xmlns='%s' h='0' previd='%s'/>" % (NS_SM, smid))
    el = await n.wait_for(lambda e: e.tag in (q("resumed", NS_SM), q("failed", NS_SM)),
                          what="<resumed/>", timeout=10)
    check(el.tag == q("resumed", NS_SM), "resumption after the overflow failed", el)
    got = []
    deadline = time.monotonic() + 30
    while len(got) < N and time.monotonic() < deadline:
        el = await n.element(timeout=20, what="message %d" % len(got))
        if el.tag == q("r", NS_SM):
            n.send("<a xmlns='%s' h='%d'/>" % (NS_SM, len(got)))
        got += bodies([el])
    idx = [int(x[1]) for x in got]
    check(idx == list(range(N)), "after resumption got %d messages, first gaps/dups near %r"
          % (len(idx), [i for j, i in enumerate(idx) if i != j][:5]))
    await b.stop_and_check("stalled reader")
test_stalled_reader_ends_and_resumes_without_loss.timeout = 90


async def test_unacked_queue_bound_in_bytes_goes_offline(ctx):
    """A client reads but never acknowledges: the stream-management queue is
    bounded in bytes; the stanza that trips it is kept too, and all that was
    kept goes to offline storage even past the offline quota (100 here)."""
    srv = ctx.new_server({"c2s": {"max_unacked_bytes": 1 << 20}})
    v = await ctx.raw_session("victim@localhost", "tab", presence=True, server=srv)
    v.send("<enable xmlns='%s'/>" % NS_SM)
    await v.wait_for(lambda e: e.tag == q("enabled", NS_SM))
    f = await ctx.raw_session("flood@localhost", "f", server=srv)
    N, SIZE = 300, 4000
    await _flood(f, "victim@localhost", N, SIZE, "u")
    cond, _, elems = await v.stream_end(timeout=20)
    check(cond == "resource-constraint", "expected <resource-constraint/>, got %s" % cond)
    live = len(bodies(elems))
    # Messages after the cut find the account offline: stored up to the
    # quota, refused with an error beyond it. None may vanish.
    bounced = set()
    f.send("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    while True:
        el = await f.element(timeout=20, what="the ping result")
        if el.tag == q("message") and el.get("type") == "error":
            bounced.add(int(el.get("id").split("-")[1]))
        if el.tag == q("iq") and el.get("id") == "sync":
            break
    await asyncio.sleep(0.5)
    while await f.poll(0.5):
        el = await f.element()
        if el.tag == q("message") and el.get("type") == "error":
            bounced.add(int(el.get("id").split("-")[1]))
    await asyncio.sleep(0.5)
    o = await ctx.raw_session("victim@localhost", "again", presence=True, server=srv)
    stored = set()
    while await o.poll(2.0):
        for b_ in bodies([await o.element()]):
            stored.add(int(b_[1]))
    check(live > 100 and len(stored) > 100,
          "the stream-management queue (%d messages seen live) went offline only up to the "
          "quota: %d stored" % (live, len(stored)))
    missing = set(range(N)) - stored - bounced
    check(not missing, "%d messages neither stored nor refused, e.g. %r"
          % (len(missing), sorted(missing)[:5]))
test_unacked_queue_bound_in_bytes_goes_offline.timeout = 60


async def test_large_backlog_drains_without_stalling_others(ctx):
    """A 48 MB backlog (allowed by a large max_output) drains in chunks: the
    bystander's pings stay prompt while it does (the compacting buffer
    stalled everyone for seconds)."""
    srv = ctx.new_server({"c2s": {"max_output": 128 << 20, "output_timeout": 120}})
    by = Bystander(await ctx.raw_session("bystander@localhost", "w", server=srv))
    v = await ctx.raw_session("victim@localhost", "slow", presence=True, server=srv)
    v.writer.transport.pause_reading()
    f = await ctx.raw_session("flood@localhost", "f", server=srv)
    N, SIZE = 3000, 16000
    await _flood(f, "victim@localhost/slow", N, SIZE, "d")
    await f.ping_server(timeout=30)
    m = metrics(srv)
    check(m["vestnik_output_bytes"] > 24 << 20, "the backlog did not build up: %r" % m)
    by.start()
    v.writer.transport.resume_reading()
    got = 0
    deadline = time.monotonic() + 60
    while got < N and time.monotonic() < deadline:
        got += len(bodies([await v.element(timeout=20)]))
    check(got == N, "the slow reader got %d of %d" % (got, N))
    await by.stop_and_check("draining 48 MB", worst=1.5)
test_large_backlog_drains_without_stalling_others.timeout = 120


async def test_input_shaping(ctx):
    """One session sending as fast as it can is held to [c2s] rate (with its
    burst), is not disconnected, and the bystander is not slowed down."""
    RATE, BURST, T = 65536, 65536, 3.0
    srv = ctx.new_server({"c2s": {"rate": RATE, "burst": BURST}})
    by = Bystander(await ctx.raw_session("bystander@localhost", "w", server=srv)).start()
    r = await ctx.raw_session("victim@localhost", "sink", presence=True, server=srv)
    f = await ctx.raw_session("flood@localhost", "f", server=srv)
    msg = ("<message to='victim@localhost/sink' type='chat'><body>%s</body></message>"
           % ("y" * 150)).encode()
    # Twice what the shaper lets through in T: the rest waits in socket
    # buffers and drains at RATE afterwards (about T seconds).
    budget = 2 * (BURST + RATE * T)
    state = {"sent": 0}

    async def flood():
        while state["sent"] < budget:
            f.send(msg * 16)
            state["sent"] += 16 * len(msg)
            await f.writer.drain()

    t0 = time.monotonic()
    task = asyncio.ensure_future(flood())
    got = 0
    while time.monotonic() - t0 < T:
        if await r.poll(0.05):
            got += 1 if (await r.element()).tag == q("message") else 0
    elapsed = time.monotonic() - t0
    await asyncio.wait_for(task, 30)
    m = metrics(srv)
    allowed = BURST + RATE * elapsed
    check(m["vestnik_input_shaped_total"] > 0, "input shaping never paused the flooder: %r" % m)
    check(state["sent"] >= 1.5 * allowed, "the flooder could not even try (%d bytes)" % state["sent"])
    # Each message delivered is len(msg) bytes the server read from the
    # flooder; unshaped, a client pushed 14,700 messages a second.
    check(got * len(msg) <= 1.25 * allowed,
          "%d messages (%d bytes) got through in %.1fs at rate %d, burst %d"
          % (got, got * len(msg), elapsed, RATE, BURST))
    check(got * len(msg) >= 0.3 * RATE * elapsed,
          "shaping starved the flooder: %d messages in %.1fs" % (got, elapsed))
    # Held back, not cut off: it still gets answers (after its backlog).
    await f.ping_server(timeout=30)
    await by.stop_and_check("input shaping")
test_input_shaping.timeout = 60

"""The kill -9 campaign (issue 18): vestnikd is killed with SIGKILL at
random moments while a sender with XEP-0198 stream management writes to
one recipient that is offline and one that is online, and restarted on the
same data_dir and ports; at the end every message the server acknowledged
must be found by its recipient. Used by test_kill_campaign.py (a few
cycles, in `make test`) and by tools/kill-campaign (hundreds of cycles).

Who takes part (all over raw sockets, harness.RawClient):
* the sender (alice) enables stream management (no resumption), sends only
  chat messages after <enable/> (so <a h='N'/> counts exactly the first N
  of them, XEP-0198 §4) in batches of 1..20, each batch followed by <r/>.
  The server answers <r/> only after every storage write of the stanzas it
  counts has committed (src/mod/sm.c). The sender never re-sends an
  unacknowledged message after a crash, so the server never sees a message
  twice: any second copy would be the server's own doing.
* the offline recipient (bob) is never online until the end: every
  acknowledged message to him must come out of offline storage then.
* the online recipient (carol) signs in at each restart (trying <resume/>
  with the id of the last run first, which must fail: the session died with
  the process), enables stream management with resumption, sends presence
  and a ping (whose answer follows the offline messages), answers every <r/>
  of the server with the number of stanzas she got, and sends one <r/> of
  her own after the ping's answer.

Each message has a unique body, id and XEP-0359 origin-id, "k<cycle>-<n>".
A cycle: the server runs, the clients connect (carol after a random delay
of up to 0.6 s, so that some messages to her go to offline storage and are
flushed at her presence), the process is killed and then started again.
Where the kill falls (Campaign.cycle): in 60 % of the cycles at a random
moment of the given range, in 15 % within 30 ms of the start (sign-in,
the resumption attempt), in 25 % the moment carol has read her first
offline message (the flush: written, its deletion perhaps not committed).

What is counted at the end (one last clean run: bob and carol sign in,
send presence and a ping, and everything delivered before the ping's
answer is the offline queue; then the three archives are read with
XEP-0313 queries):
* acknowledged: covered by an <a h/> the sender received;
* found: an acknowledged message delivered to its recipient live or from
  offline storage, or (only for carol) not delivered but in her archive
  ("archive only": she was online when it was routed, so it was written to
  her connection, not to offline storage, and the process died before the
  bytes reached her; XEP-0313 is how a client catches up on that);
* lost: acknowledged and neither delivered nor in the recipient's archive.
  Stricter: every acknowledged message must also be in the recipient's and
  the sender's archive exactly once, and every one to bob must come out of
  offline storage, since those writes precede the acknowledgement;
* duplicated: a message id delivered twice in one server run (a bug);
* out of order: within one server run, messages of one sender stream to
  one recipient read in another order than sent (a bug);
* re-delivered after a crash: delivered from offline storage in a later
  run although it had been delivered before. Offline messages are deleted
  after they have been written to the connection, by a storage job of their
  own; a kill between the write and that job's commit leaves them stored,
  so they come again at the next sign-in. That is legitimate only if the
  second copy carries the same <stanza-id/> (one stored message, delivered
  twice: at-least-once across crashes, as XEP-0198 has it for stanzas the
  client could not acknowledge; a different stanza-id would mean two
  stored copies) and every earlier copy came from offline storage in a run
  that died before carol knew the deletion had committed: after the flush
  (the ping's answer) she sends <r/>, and the server's <a/> comes after a
  storage barrier queued behind the deletion. Anything else fails.
Unacknowledged messages are counted apart (found or not): the server made
no promise about them.
"""

import asyncio
import collections
import random
import time
import traceback

from harness import NS_PING, RawClient, check, new_id, q, xattr
from test_mam import all_items

NS_SM = "urn:xmpp:sm:3"
NS_SID = "urn:xmpp:sid:0"
NS_DELAY = "urn:xmpp:delay"

SENDER = "alice@localhost"
OFFLINE = "bob@localhost"
ONLINE = "carol@localhost"
ACCOUNTS = {SENDER: "pw-alice", OFFLINE: "pw-bob", ONLINE: "pw-carol"}
# Room for everything bob gets in a long run; carol's sessions would wait
# a minute for <resume/> (they never do: the process dies first).
CONFIG = {"c2s": {"max_offline": 1000000, "resume_timeout": 60}}

STANZAS = (q("message"), q("presence"), q("iq"))


def _local(jid):
    return jid.split("@", 1)[0]


def _sm(el, name):
    return el.tag == q(name, NS_SM)


class Campaign:
    """Runs the cycles against a started harness.Server and counts.

    server: running; left running (a fresh start) when run() returns.
    cycles: kills. delay: (min, max) seconds from a start to its kill.
    rate_cap: messages per cycle at most (the sender then only asks for
    acknowledgements), about 1,000 per cycle on average then.
    """

    def __init__(self, server, cycles, seed=None, delay=(0.0, 1.5), rate_cap=2000, log=None):
        self.srv = server
        self.cycles = cycles
        self.seed = seed if seed is not None else random.randrange(1 << 32)
        self.rng = random.Random(self.seed)
        self.delay = delay
        self.rate_cap = rate_cap
        self.log = log or (lambda *_: None)
        self.sent = {}  # id -> (recipient, cycle)
        self.acked = set()
        self.deliveries = collections.defaultdict(list)  # id -> [(kind, run, stanza-id)]
        self.unknown = []  # bodies delivered that nobody sent
        self.delivery_order = []  # (run, body) as the recipients read them
        self.archives = {}  # jid -> Counter(body)
        self.archive_ids = {}  # jid -> {body: stanza-id}
        self.problems = []  # client-side failures while the server was up
        self.killed = False
        self.carol_smid = None
        self.flush_committed = set()  # runs whose offline flush was deleted for sure
        self.state = self.ostate = None
        self.kill_on_flush = False
        self.done = None
        self.run_no = 0
        self.kill_points = collections.Counter()  # what the clients were doing at each kill

    # -- a client failure counts only while the server is alive -----------
    def _fail(self, who, exc):
        if not self.killed:
            self.problems.append("run %d, %s: %s" % (self.run_no, who,
                                                      "".join(traceback.format_exception_only(type(exc), exc)).strip()))

    # -- the sender ---------------------------------------------------------
    async def sender(self, cycle):
        c = RawClient(self.srv, label="sender")
        self.state = "connect"
        try:
            await c.connect()
            self.state = "sign-in"
            await c.login(_local(SENDER), ACCOUNTS[SENDER], "kc")
            c.send("<enable xmlns='%s'/>" % NS_SM)
            el = await c.wait_for(lambda e: _sm(e, "enabled") or _sm(e, "failed"), 10, "<enabled/>")
            check(_sm(el, "enabled"), "sender: enable failed", el)
        except Exception as e:  # noqa: B902 - the kill may land anywhere
            self._fail("sender sign-in", e)
            c.abort()
            return
        order = []  # ids in the order this stream sent them: h indexes it
        state = {"h": 0, "got": 0}

        async def reader():
            while True:
                el = await c.element(120, "acknowledgements")
                if _sm(el, "a"):
                    h = int(el.get("h"))
                    if h > len(order) or h < state["h"]:
                        self.problems.append("run %d: sender got h=%d after h=%d with %d sent" %
                                             (self.run_no, h, state["h"], len(order)))
                        return
                    for mid in order[state["h"]:h]:
                        self.acked.add(mid)
                    state["h"] = h
                elif _sm(el, "r"):
                    c.send("<a xmlns='%s' h='%d'/>" % (NS_SM, state["got"]))
                elif el.tag in STANZAS:
                    state["got"] += 1

        rtask = asyncio.ensure_future(reader())
        self.state = "sending"
        try:
            n = 0
            while not rtask.done():
                if n >= self.rate_cap:
                    self.state = "idle"
                    c.send("<r xmlns='%s'/>" % NS_SM)
                    await c.writer.drain()
                    await asyncio.sleep(0.05)
                    continue
                parts = []
                for _ in range(self.rng.randint(1, 20)):
                    mid = "k%04d-%06d" % (cycle, n)
                    n += 1
                    to = OFFLINE if self.rng.random() < 0.5 else ONLINE
                    self.sent[mid] = (to, cycle)
                    order.append(mid)
                    parts.append("<message to=%s type='chat' id='%s'><body>%s</body>"
                                 "<origin-id xmlns='%s' id='%s'/></message>" %
                                 (xattr(to), mid, mid, NS_SID, mid))
                parts.append("<r xmlns='%s'/>" % NS_SM)
                c.send("".join(parts))
                await c.writer.drain()
                await asyncio.sleep(self.rng.uniform(0.001, 0.01))
            rtask.result()
        except Exception as e:  # noqa: B902
            self._fail("sender", e)
        finally:
            rtask.cancel()
            try:
                await rtask
            except BaseException:  # noqa: B902 - it died with the connection
                pass
            c.abort()

    # -- the online recipient ---------------------------------------------
    def _record(self, el, run):
        body = el.findtext(q("body"))
        if body is None:
            return
        if body not in self.sent:
            self.unknown.append(body)
            return
        d = el.find(q("delay", NS_DELAY))
        kind = "offline" if d is not None else "live"
        sid = None
        for s in el.findall(q("stanza-id", NS_SID)):
            sid = s.get("id")
        self.deliveries[body].append((kind, run, sid))
        self.delivery_order.append((run, body))
        if kind == "offline" and self.kill_on_flush:
            self.kill()

    async def online(self, run, wait):
        await asyncio.sleep(wait)
        if self.killed:
            return
        c = RawClient(self.srv, label="online")
        self.ostate = "sign-in"
        try:
            await c.connect()
            await c.secure()
            await c.auth_scram(_local(ONLINE), ACCOUNTS[ONLINE])
            await c.open()
            if self.carol_smid:
                # XEP-0198 §5: a client first tries to resume; the session
                # died with the process, so this must fail.
                c.send("<resume xmlns='%s' h='0' previd='%s'/>" % (NS_SM, self.carol_smid))
                el = await c.wait_for(lambda e: _sm(e, "resumed") or _sm(e, "failed"), 10,
                                      "<resumed/> or <failed/>")
                check(_sm(el, "failed"), "a session of a killed process was resumed", el)
            await c.bind("phone")
            c.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
            el = await c.wait_for(lambda e: _sm(e, "enabled") or _sm(e, "failed"), 10, "<enabled/>")
            check(_sm(el, "enabled"), "online: enable failed", el)
            self.carol_smid = el.get("id")
            # The ping's answer comes after the offline messages (the
            # session's output is held until they are loaded).
            iid = new_id("ping")
            c.send("<presence/><iq type='get' id='%s' to='localhost'><ping xmlns='%s'/></iq>" %
                   (iid, NS_PING))
            self.ostate = "offline flush"
            got = 0
            while True:
                el = await c.element(120, "messages")
                if el.tag in STANZAS:
                    got += 1
                    if el.tag == q("message"):
                        self._record(el, run)
                    elif el.tag == q("iq") and el.get("id") == iid:
                        self.ostate = "online"
                        # The flushed messages' deletion was submitted to
                        # the (FIFO) storage thread before the ping's
                        # answer went out; the <a/> to this <r/> comes
                        # after a barrier behind it: then it is committed.
                        c.send("<r xmlns='%s'/>" % NS_SM)
                elif _sm(el, "r"):
                    c.send("<a xmlns='%s' h='%d'/>" % (NS_SM, got))
                elif _sm(el, "a") and self.ostate == "online":
                    self.flush_committed.add(run)
        except Exception as e:  # noqa: B902
            self._fail("online recipient", e)
        finally:
            c.abort()

    # -- one cycle ----------------------------------------------------------
    def kill(self):
        if self.killed:
            return
        self.kill_points["sender %s, online recipient %s" % (self.state, self.ostate)] += 1
        self.killed = True
        self.kill_on_flush = False
        self.srv.kill()
        self.done.set()

    async def cycle(self, n):
        loop = asyncio.get_running_loop()
        self.killed = False
        self.run_no = n
        self.state = "connect"
        self.ostate = "waiting"
        self.done = asyncio.Event()
        tasks = [asyncio.ensure_future(self.sender(n)),
                 asyncio.ensure_future(self.online(n, self.rng.uniform(0.0, 0.6)))]
        # Where the kill falls: most anywhere in the given range; some in
        # the first 30 ms (sign-in, the resumption attempt); some at the
        # moment the online recipient has read her first offline message
        # (the flush: messages written to her, their deletion perhaps not
        # yet committed).
        lo, hi = self.delay
        pick = self.rng.random()
        if pick < 0.15:
            wait = self.rng.uniform(0, 0.03)
        elif pick < 0.4:
            self.kill_on_flush = True
            wait = hi + 1  # if she gets none
        else:
            wait = self.rng.uniform(lo, hi)
        try:
            await asyncio.wait_for(self.done.wait(), wait)
        except asyncio.TimeoutError:
            self.kill()
        _, pending = await asyncio.wait(tasks, timeout=15)
        for t in pending:
            t.cancel()
        if pending:
            self.problems.append("run %d: a client did not notice the kill" % n)
            await asyncio.wait(pending, timeout=2)
        self.killed = False
        self.run_no = n + 1
        await loop.run_in_executor(None, self.srv.start)

    # -- the end: offline queues and archives -----------------------------
    async def drain(self, jid, resource):
        """Sign in, send presence and a ping; every message before the
        ping's answer came out of offline storage. Then the archive."""
        c = RawClient(self.srv, label="final:" + jid)
        await c.connect()
        await c.login(_local(jid), ACCOUNTS[jid], resource)
        c.send("<presence/>")
        iid = new_id("ping")
        c.send("<iq type='get' id='%s' to='localhost'><ping xmlns='%s'/></iq>" % (iid, NS_PING))
        while True:
            el = await c.element(120, "offline messages and the ping's answer")
            if el.tag == q("message"):
                self._record(el, self.run_no)
            elif el.tag == q("iq") and el.get("id") == iid:
                break
        await c.quiet(0.3, lambda e: e.tag == q("message"))
        await self.read_archive(c, jid)
        await c.close()

    async def read_archive(self, c, jid):
        items = await all_items(c)
        self.archives[jid] = collections.Counter(i.body for i in items)
        self.archive_ids[jid] = {i.body: i.id for i in items}

    async def run(self):
        t0 = time.monotonic()
        for n in range(1, self.cycles + 1):
            await self.cycle(n)
            if n % 10 == 0 or n == self.cycles:
                self.log("cycle %d/%d: %d sent, %d acknowledged, %.0f s" %
                         (n, self.cycles, len(self.sent), len(self.acked), time.monotonic() - t0))
        await self.drain(OFFLINE, "final")
        await self.drain(ONLINE, "final")
        c = RawClient(self.srv, label="final:sender")
        await c.connect()
        await c.login(_local(SENDER), ACCOUNTS[SENDER], "final")
        await self.read_archive(c, SENDER)
        await c.close()
        self.seconds = time.monotonic() - t0

    # -- counting -----------------------------------------------------------
    def counts(self):
        r = collections.OrderedDict()
        r["seed"] = self.seed
        r["cycles"] = self.cycles
        r["kills"] = self.srv.kills
        r["kill points"] = dict(self.kill_points)
        r["sent"] = len(self.sent)
        to = collections.Counter(rcpt for rcpt, _ in self.sent.values())
        r["sent to offline / online"] = (to[OFFLINE], to[ONLINE])
        r["acknowledged"] = len(self.acked)
        ack_to = collections.Counter(self.sent[m][0] for m in self.acked)
        r["acknowledged to offline / online"] = (ack_to[OFFLINE], ack_to[ONLINE])
        found = collections.Counter()
        lost, miss_rcpt_arch, miss_send_arch, miss_offline = [], [], [], []
        dup_run, redelivered, other_sid, arch_dup, bad_redelivery = [], [], [], [], []
        for mid, (rcpt, _) in self.sent.items():
            dl = self.deliveries.get(mid, [])
            arch = self.archives[rcpt][mid]
            if arch > 1 or self.archives[SENDER][mid] > 1:
                arch_dup.append(mid)
            runs = collections.Counter(run for _, run, _ in dl)
            if any(k > 1 for k in runs.values()):
                dup_run.append(mid)
            elif len(dl) > 1:
                redelivered.append(mid)
                sids = {sid for _, _, sid in dl} | {self.archive_ids[rcpt].get(mid)}
                if len(sids) > 1:
                    other_sid.append(mid)
                # Legitimate only if every earlier copy came from offline
                # storage in a run that died before the deletion was
                # confirmed (a live message is never stored offline here:
                # carol's sessions end only by the kill).
                if any(kind != "offline" or run in self.flush_committed for kind, run, _ in dl[:-1]):
                    bad_redelivery.append(mid)
            if mid not in self.acked:
                found["unacknowledged delivered" if dl else
                      "unacknowledged archived only" if arch else "unacknowledged nowhere"] += 1
                continue
            if dl:
                found["offline" if dl[0][0] == "offline" else "live"] += 1
            elif arch:
                found["archive only"] += 1
            else:
                lost.append(mid)
            if not arch:
                miss_rcpt_arch.append(mid)
            if not self.archives[SENDER][mid]:
                miss_send_arch.append(mid)
            if rcpt == OFFLINE and not any(k == "offline" for k, _, _ in dl):
                miss_offline.append(mid)
        r["found live"] = found["live"]
        r["found offline"] = found["offline"]
        r["found in archive only"] = found["archive only"]
        r["lost"] = len(lost)
        r["acknowledged, not in recipient's archive"] = len(miss_rcpt_arch)
        r["acknowledged, not in sender's archive"] = len(miss_send_arch)
        r["acknowledged to offline, not delivered offline"] = len(miss_offline)
        r["duplicated (twice in one run)"] = len(dup_run)
        r["re-delivered after a crash"] = len(redelivered)
        r["re-delivered with another stanza-id"] = len(other_sid)
        r["re-delivered although deleted or delivered live"] = len(bad_redelivery)
        r["archive duplicates"] = len(arch_dup)
        # RFC 6120 §10.1, RFC 6121 §8.5.2.2.1 (offline in arrival order):
        # within one run, what one sender stream sent to one recipient is
        # read in the order it was sent, offline copies before live ones.
        last, disorder = {}, []
        for run, body in self.delivery_order:
            rcpt, cycle = self.sent[body]
            n = int(body.split("-")[1])
            key = (run, rcpt, cycle)
            if key in last and n <= last[key]:
                disorder.append(body)
            last[key] = max(n, last.get(key, -1))
        r["delivered out of order"] = len(disorder)
        r["unacknowledged: delivered / archived only / nowhere"] = (
            found["unacknowledged delivered"], found["unacknowledged archived only"],
            found["unacknowledged nowhere"])
        r["unknown bodies delivered"] = len(self.unknown)
        r["client errors while the server was up"] = len(self.problems)
        def how(ids):  # "id: kind@run, ..." for the report
            return ["%s (%s)" % (m, " ".join("%s@%d" % (k, run) for k, run, _ in self.deliveries.get(m, [])))
                    for m in ids[:10]]
        self.examples = {"lost": lost[:10], "not in recipient's archive": miss_rcpt_arch[:10],
                         "not in sender's archive": miss_send_arch[:10],
                         "not delivered offline": miss_offline[:10], "duplicated": how(dup_run),
                         "other stanza-id": other_sid[:10], "archive duplicates": arch_dup[:10],
                         "unknown": self.unknown[:10], "client errors": self.problems[:10],
                         "out of order": how(disorder), "re-delivered": how(redelivered),
                         "re-delivered although deleted or live": how(bad_redelivery)}
        return r

    def failures(self, r):
        bad = ["lost", "acknowledged, not in recipient's archive",
               "acknowledged, not in sender's archive",
               "acknowledged to offline, not delivered offline", "duplicated (twice in one run)",
               "re-delivered with another stanza-id",
               "re-delivered although deleted or delivered live", "archive duplicates",
               "delivered out of order",
               "unknown bodies delivered", "client errors while the server was up"]
        return [k for k in bad if r[k]]

    def report(self, r):
        lines = ["%s: %s" % (k, v) for k, v in r.items()]
        for k, v in self.examples.items():
            if v:
                lines.append("  e.g. %s: %s" % (k, ", ".join(map(str, v))))
        return "\n".join(lines)

"""Per-account limits (issue 18, defect 4): each attack a hostile but
authenticated (or not yet authenticated) client can make against one
account's share of the server, reproduced against the real vestnikd, with
the bound asserted and a bystander that must keep getting answers.

  - roster size ([roster] max_items, max_pending): a roster past the limit is
    refused and stays at the limit, also through presence subscriptions;
  - roster groups ([roster] max_groups, max_group_length, max_name_length):
    12,000 groups on one item are refused at once; the duplicate check is
    n log n (it used to be quadratic: 150 ms of loop time per request);
  - pubsub service nodes per account ([pubsub] service_max_nodes_per_account);
  - disco#items on the pubsub service paged with XEP-0059 ([pubsub]
    disco_max_items): a bounded stanza, and paging with <after/> returns every
    node exactly once;
  - the pre-authentication stanza limit ([c2s] max_stanza_size_preauth): an
    unauthenticated client cannot park more than a few KiB of unfinished
    stanza, and 200 of them do not grow the server.

CPU time is read from /proc/PID/stat and RSS from /proc/PID/status; the
bounds are generous (and scaled with VESTNIK_TIMEOUT_SCALE for sanitizer
builds) but far below what the unfixed server needed."""

import asyncio
import os
import time

from harness import (NS_DISCO_ITEMS, NS_ROSTER, NS_STANZA_ERR, STREAM_HEADER, StreamClosed,
                     TestFailure, check, is_message, is_presence, is_roster_push, options, q,
                     roster_items, stanza_error, tostr, xesc)

NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_PUBSUB_ERRORS = "http://jabber.org/protocol/pubsub#errors"
NS_RSM = "http://jabber.org/protocol/rsm"

SCALE = float(os.environ.get("VESTNIK_TIMEOUT_SCALE", "1") or 1)

# The production stanza limit: the attacks below need room (12,000 groups
# are about 220 KB).
CONFIG = {"c2s": {"max_stanza_size": 262144}}

SENDERS = ["fan%d@localhost" % i for i in range(8)]
ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "rfull@localhost", "rgroups@localhost", "rdup@localhost", "rlen@localhost",
    "pend@localhost", "bystander@localhost", "psuser@localhost", "psother@localhost",
    "psmany1@localhost", "psmany2@localhost", "psmany3@localhost", "pspage@localhost",
    "pep@localhost", "big@localhost",
] + SENDERS}


# ---- measuring the server ---------------------------------------------------

def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bystander:
    """Pings the server in a loop from its own signed-in session and keeps
    the round trips; every ping must be answered."""

    def __init__(self, client):
        self.c = client
        self.rtts = []
        self.task = None
        self.stopping = False

    def start(self):
        self.task = asyncio.ensure_future(self._run())
        return self

    async def _run(self):
        while not self.stopping:
            t0 = time.monotonic()
            await self.c.ping_server(timeout=10 * SCALE)
            self.rtts.append(time.monotonic() - t0)
            await asyncio.sleep(0.02)

    async def stop(self):
        self.stopping = True
        await asyncio.wait_for(self.task, 15 * SCALE)  # re-raises a failed ping
        check(self.rtts, "the bystander got no ping answered")
        return max(self.rtts)


async def bystander(ctx, resource):
    c = await ctx.raw_session("bystander@localhost", resource)
    return Bystander(c).start()


# ---- roster helpers ---------------------------------------------------------

def item_set(jid, name=None, groups=(), subscription=None):
    attrs = " jid='%s'" % jid
    if name is not None:
        attrs += " name='%s'" % xesc(name)
    if subscription is not None:
        attrs += " subscription='%s'" % subscription
    return "<query xmlns='%s'><item%s>%s</item></query>" % (
        NS_ROSTER, attrs, "".join("<group>%s</group>" % xesc(g) for g in groups))


def err_cond(el):
    return stanza_error(el)[1] if el.get("type") == "error" else None


async def roster_of(c):
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_ROSTER)
    check(r.get("type") == "result", "roster get", r)
    return roster_items(r)


async def pipelined_iqs(c, type_, payloads, to=None, timeout=20):
    """Sends every request at once, then collects the answers by id."""
    ids = []
    for i, p in enumerate(payloads):
        iid = "pl%d-%d" % (id(payloads) & 0xffff, i)
        ids.append(iid)
        to_attr = " to='%s'" % to if to else ""
        c.send("<iq type='%s' id='%s'%s>%s</iq>" % (type_, iid, to_attr, p))
    want = set(ids)
    got = {}
    deadline = time.monotonic() + timeout * SCALE
    while want - set(got):
        el = await c.wait_for(lambda e: e.tag == q("iq") and e.get("id") in want
                              and e.get("type") in ("result", "error"),
                              deadline - time.monotonic(), "answers to %d pipelined iqs" % len(ids))
        got[el.get("id")] = el
    return [got[i] for i in ids]


def many_groups(n, dup_last=False):
    """n distinct short group names (base-36), the last one a copy of the
    first when dup_last."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = []
    for i in range(n):
        s, v = "", i
        while True:
            s = digits[v % 36] + s
            v //= 36
            if not v:
                break
        out.append(s)
    if dup_last:
        out[-1] = out[0]
    return out


# ---- roster size --------------------------------------------------------------

@options(config={"roster": {"max_items": 40, "max_pending": 5}}, timeout=60)
async def test_roster_size_limit(ctx):
    by = await bystander(ctx, "size")
    c = await ctx.raw_session("rfull@localhost", "a")
    c.send("<iq type='get' id='r0'><query xmlns='%s'/></iq>" % NS_ROSTER)  # interested
    await c.wait_for(lambda e: e.get("id") == "r0")
    answers = await pipelined_iqs(c, "set", [item_set("c%03d@localhost" % i) for i in range(40)])
    check(all(a.get("type") == "result" for a in answers), "the first 40 items must be accepted",
          *[a for a in answers if a.get("type") != "result"][:3])
    # One past the limit, and a burst of them: RFC 6121 §2.3.3 leaves the size
    # to the server; the answer is <not-allowed/> (cancel: waiting does not help).
    answers = await pipelined_iqs(c, "set", [item_set("x%03d@localhost" % i) for i in range(60)])
    for a in answers:
        check(err_cond(a) == "not-allowed" and stanza_error(a)[0] == "cancel",
              "a roster set past max_items: want cancel/not-allowed", a)
    items = await roster_of(c)
    check(len(items) == 40 and all(j.startswith("c") for j in items),
          "the roster must stay at the limit (got %d items)" % len(items))
    # Existing items may still change, and a removal makes room.
    r = await c.iq("set", item_set("c000@localhost", name="renamed", groups=["g"]))
    check(r.get("type") == "result", "updating an item at the limit", r)
    r = await c.iq("set", item_set("c001@localhost", subscription="remove"))
    check(r.get("type") == "result", "removing an item", r)
    r = await c.iq("set", item_set("x000@localhost"))
    check(r.get("type") == "result", "adding after a removal", r)
    r = await c.iq("set", item_set("x001@localhost"))
    check(err_cond(r) == "not-allowed", "full again", r)

    # An outbound subscription would create an item too (RFC 6121 §3.1.2):
    # refused with a presence error, not routed, no roster push.
    other = await ctx.raw_session(SENDERS[0], "o", presence=True)
    c.send("<presence type='subscribe' to='%s'/>" % SENDERS[0])
    el = await c.wait_for(lambda e: e.tag == q("presence") and e.get("type") == "error",
                          what="presence error for a subscription past max_items")
    check(err_cond(el) == "not-allowed", "subscription past max_items: want not-allowed", el)
    await other.quiet(0.5, lambda e: e.tag == q("presence") and e.get("type") == "subscribe")
    await c.quiet(0.3, is_roster_push(SENDERS[0]))
    items = await roster_of(c)
    check(len(items) == 40 and SENDERS[0] not in items, "the subscription must not grow the roster")
    rtt = await by.stop()
    check(rtt < 2 * SCALE, "bystander ping took %.2fs" % rtt)


@options(config={"roster": {"max_items": 40, "max_pending": 5}}, timeout=60)
async def test_inbound_subscriptions_bounded_apart(ctx):
    """Requests from strangers (pending, not in the roster) have their own,
    smaller bound: they cannot fill the owner's roster, and the owner can
    still add contacts while the queue is full."""
    owner = "pend@localhost"
    fans = [await ctx.raw_session(j, "f", presence=True) for j in SENDERS]
    for f in fans:
        f.send("<presence type='subscribe' to='%s'/>" % owner)

    async def answer(f):
        """The error a fan got, or None (its request was kept)."""
        try:
            el = await f.wait_for(lambda e: e.tag == q("presence") and e.get("type") == "error",
                                  timeout=2 * SCALE)
        except TestFailure:
            return None
        return err_cond(el)

    # The requests reach the server in any order: whichever 5 come first are
    # kept, the other 3 are bounced.
    conds = await asyncio.gather(*[answer(f) for f in fans])
    kept = [j for j, c in zip(SENDERS, conds) if c is None]
    check(sorted(c for c in conds if c) == ["resource-constraint"] * 3 and len(kept) == 5,
          "requests past max_pending: want 3 x resource-constraint, got %s" % conds)
    o = await ctx.raw_session(owner, "o")
    o.send("<presence/>")
    subs = []
    while True:
        try:
            el = await o.wait_for(lambda e: e.tag == q("presence") and e.get("type") == "subscribe",
                                  timeout=1.0)
        except TestFailure:
            break
        subs.append(el.get("from"))
    check(sorted(subs) == sorted(kept),
          "the owner must see exactly the 5 stored requests %s, got %s" % (kept, subs))
    r = await o.iq("set", item_set("friend@localhost"))
    check(r.get("type") == "result", "adding a contact while the request queue is full", r)
    # Approving a request makes an item (counted against max_items).
    o.send("<presence type='subscribed' to='%s'/>" % kept[0])
    await fans[SENDERS.index(kept[0])].wait_for(
        lambda e: e.tag == q("presence") and e.get("type") == "subscribed")
    items = await roster_of(o)
    check(set(items) == {"friend@localhost", kept[0]}, "roster after approval: %s" % items)


# ---- roster groups --------------------------------------------------------------

async def group_attack(ctx, jid, groups, want_cond, n=10):
    """n roster sets of one item with the given groups from jid, while a
    bystander pings; returns (server CPU seconds, worst ping round trip)."""
    by = await bystander(ctx, jid.split("@")[0])
    c = await ctx.raw_session(jid, "a")
    payload = item_set("many@localhost", groups=groups)
    check(len(payload) > 150000, "payload too small to be an attack (%d bytes)" % len(payload))
    pid = ctx.server.pid
    cpu0 = cpu_seconds(pid)
    answers = await pipelined_iqs(c, "set", [payload] * n, timeout=60)
    cpu = cpu_seconds(pid) - cpu0
    rtt = await by.stop()
    print("  %d groups x %d: server CPU %.3fs, worst bystander ping %.3fs"
          % (len(groups), n, cpu, rtt))
    for a in answers:
        check(err_cond(a) == want_cond, "%d groups: want %s" % (len(groups), want_cond), a)
    items = await roster_of(c)
    check("many@localhost" not in items, "the refused item was stored")
    return cpu, rtt


@options(timeout=120)
async def test_twelve_thousand_groups_refused_quickly(ctx):
    # RFC 6121 §2.3.3: the server refuses a roster set it will not store with
    # <not-acceptable/>; default [roster] max_groups is far below 12,000.
    cpu, rtt = await group_attack(ctx, "rgroups@localhost", many_groups(12000), "not-acceptable")
    check(cpu < 0.6 * SCALE, "10 roster sets with 12,000 groups cost %.2fs of server CPU" % cpu)
    check(rtt < 0.5 * SCALE, "a bystander's ping took %.3fs during the attack" % rtt)


@options(config={"roster": {"max_groups": 20000}}, timeout=120)
async def test_duplicate_group_check_is_not_quadratic(ctx):
    # The duplicate is the last group: a quadratic check compares all
    # 72 million pairs before finding it.
    cpu, rtt = await group_attack(ctx, "rdup@localhost", many_groups(12000, dup_last=True),
                                  "bad-request")
    check(cpu < 0.6 * SCALE, "10 roster sets with 12,000 groups cost %.2fs of server CPU" % cpu)
    check(rtt < 0.5 * SCALE, "a bystander's ping took %.3fs during the attack" % rtt)


async def test_group_and_name_length(ctx):
    # RFC 6121 §2.3.3: a group or name over the server's limit, and an empty
    # group, are <not-acceptable/>; [roster] max_group_length and
    # max_name_length are 1024 bytes by default (counted in UTF-8).
    c = await ctx.raw_session("rlen@localhost", "a")
    cases = [
        ("a group of 1025 bytes", item_set("l1@localhost", groups=["g" * 1025]), "not-acceptable"),
        ("a Cyrillic group of 1026 bytes", item_set("l2@localhost", groups=["ж" * 513]),
         "not-acceptable"),
        ("a name of 1025 bytes", item_set("l3@localhost", name="n" * 1025), "not-acceptable"),
        ("an empty group", item_set("l4@localhost", groups=[""]), "not-acceptable"),
        ("65 groups", item_set("l5@localhost", groups=many_groups(65)), "not-acceptable"),
        ("a duplicate group", item_set("l6@localhost", groups=["a", "b", "a"]), "bad-request"),
    ]
    for what, payload, cond in cases:
        r = await c.iq("set", payload)
        check(err_cond(r) == cond, "%s: want %s" % (what, cond), r)
    ok = [
        ("a group and a name of 1024 bytes",
         item_set("k1@localhost", name="n" * 1024, groups=["g" * 1024])),
        ("a Cyrillic group of 1024 bytes", item_set("k2@localhost", groups=["ж" * 512])),
        ("64 groups", item_set("k3@localhost", groups=many_groups(64))),
    ]
    for what, payload in ok:
        r = await c.iq("set", payload)
        check(r.get("type") == "result", "%s must be accepted" % what, r)
    items = await roster_of(c)
    check(set(items) == {"k1@localhost", "k2@localhost", "k3@localhost"},
          "only the accepted items are stored: %s" % sorted(items))


# ---- pubsub: nodes per account, paged disco#items ----------------------------

SVC = "pubsub.localhost"


def create(node):
    return "<pubsub xmlns='%s'><create node='%s'/></pubsub>" % (NS_PUBSUB, xesc(node))


def publish(node):
    return ("<pubsub xmlns='%s'><publish node='%s'><item><entry xmlns='urn:x'/></item></publish>"
            "</pubsub>" % (NS_PUBSUB, xesc(node)))


def pubsub_error(el):
    """(condition, pubsub#errors condition) of an error reply."""
    err = el.find(q("error"))
    if err is None:
        return None, None
    cond = app = None
    for child in err:
        if child.tag.startswith("{%s}" % NS_STANZA_ERR) and not child.tag.endswith("}text"):
            cond = child.tag.split("}")[1]
        elif child.tag.startswith("{%s}" % NS_PUBSUB_ERRORS):
            app = child.tag.split("}")[1]
    return cond, app


@options(config={"pubsub": {"service_max_nodes_per_account": 10}}, timeout=60)
async def test_pubsub_nodes_per_account(ctx):
    by = await bystander(ctx, "ps")
    u = await ctx.raw_session("psuser@localhost", "a")
    o = await ctx.raw_session("psother@localhost", "a")
    answers = await pipelined_iqs(u, "set", [create("u-%02d" % i) for i in range(10)], to=SVC)
    check(all(a.get("type") == "result" for a in answers), "the first 10 nodes",
          *[a for a in answers if a.get("type") != "result"][:2])
    # XEP-0060 §8.1.1: creation refused by who asks; not-allowed (cancel) with
    # <max-nodes-exceeded/>, as for the service-wide cap.
    answers = await pipelined_iqs(u, "set", [create("u-x%02d" % i) for i in range(30)], to=SVC)
    for a in answers:
        check(pubsub_error(a) == ("not-allowed", "max-nodes-exceeded")
              and a.find(q("error")).get("type") == "cancel",
              "creating an 11th node: want cancel/not-allowed + max-nodes-exceeded", a)
    # Auto-create by publishing (§7.1.4) counts too.
    r = await u.iq("set", publish("u-auto"), to=SVC)
    check(pubsub_error(r) == ("not-allowed", "max-nodes-exceeded"), "auto-create past the limit", r)
    # Making another account an owner of one's nodes (§8.9) does not use up
    # its share: the count is by creator.
    r = await u.iq("set", "<pubsub xmlns='%s#owner'><affiliations node='u-00'>"
                          "<affiliation jid='psother@localhost' affiliation='owner'/>"
                          "</affiliations></pubsub>" % NS_PUBSUB, to=SVC)
    check(r.get("type") == "result", "adding an owner", r)
    answers = await pipelined_iqs(o, "set", [create("o-%02d" % i) for i in range(10)], to=SVC)
    check(all(a.get("type") == "result" for a in answers), "another account's 10 nodes",
          *[a for a in answers if a.get("type") != "result"][:2])
    r = await o.iq("set", create("o-10"), to=SVC)
    check(pubsub_error(r)[1] == "max-nodes-exceeded", "the other account's 11th node", r)
    # Deleting a node makes room again.
    r = await u.iq("set", "<pubsub xmlns='%s#owner'><delete node='u-03'/></pubsub>" % NS_PUBSUB,
                   to=SVC)
    check(r.get("type") == "result", "delete", r)
    r = await u.iq("set", create("u-new"), to=SVC)
    check(r.get("type") == "result", "creating after a delete", r)
    r = await u.iq("set", create("u-new2"), to=SVC)
    check(pubsub_error(r)[1] == "max-nodes-exceeded", "full again", r)
    rtt = await by.stop()
    check(rtt < 2 * SCALE, "bystander ping took %.2fs" % rtt)


def disco_items(set_xml=""):
    return "<query xmlns='%s'>%s</query>" % (NS_DISCO_ITEMS, set_xml)


def rsm(max_=None, after=None, before=None, index=None):
    parts = []
    if max_ is not None:
        parts.append("<max>%s</max>" % max_)
    if after is not None:
        parts.append("<after>%s</after>" % xesc(after))
    if before is not None:
        parts.append("<before>%s</before>" % xesc(before) if before else "<before/>")
    if index is not None:
        parts.append("<index>%d</index>" % index)
    return "<set xmlns='%s'>%s</set>" % (NS_RSM, "".join(parts))


def page_of(el):
    """(node names, {first, index, last, count}) of a disco#items result."""
    qe = el.find(q("query", NS_DISCO_ITEMS))
    check(qe is not None, "disco#items result without <query/>", el)
    nodes = [it.get("node") for it in qe.findall(q("item", NS_DISCO_ITEMS))]
    s = qe.find(q("set", NS_RSM))
    info = None
    if s is not None:
        first = s.find(q("first", NS_RSM))
        info = {"first": first.text if first is not None else None,
                "index": int(first.get("index")) if first is not None else None,
                "last": s.findtext(q("last", NS_RSM)),
                "count": int(s.findtext(q("count", NS_RSM)))}
    return nodes, info


NODES = 300
LONG = "x" * 200  # long node names make the unpaged answer large, as in the report


@options(config={"pubsub": {"service_max_nodes_per_account": 1000, "disco_max_items": 50}},
         timeout=120)
async def test_disco_items_paged(ctx):
    c = await ctx.raw_session("pspage@localhost", "a")
    names = ["n%03d-%s" % (i, LONG) for i in range(NODES)]
    for k in range(0, NODES, 100):
        answers = await pipelined_iqs(c, "set", [create(n) for n in names[k:k + 100]], to=SVC)
        check(all(a.get("type") == "result" for a in answers), "creating nodes",
              *[a for a in answers if a.get("type") != "result"][:2])
    by = await bystander(ctx, "page")

    # XEP-0030 without RSM: capped at disco_max_items, with a <set/> saying
    # how to go on (XEP-0059 §2.2).
    r = await c.iq("get", disco_items(), to=SVC)
    nodes, info = page_of(r)
    size = len(tostr(r).encode("utf-8"))
    check(len(nodes) == 50, "unpaged disco#items: want 50 items, got %d" % len(nodes))
    check(size < 20000, "unpaged disco#items answer is %d bytes" % size)
    check(info and info["count"] == NODES and info["index"] == 0 and info["first"] == nodes[0]
          and info["last"] == nodes[-1], "the <set/> of an unrequested page: %s" % info, r)
    check(nodes == sorted(names)[:50], "the first page holds the first nodes in order")

    # Paging forwards with <after/> returns every node exactly once.
    seen, after, pages = [], None, 0
    while True:
        r = await c.iq("get", disco_items(rsm(37, after=after)), to=SVC)
        nodes, info = page_of(r)
        check(info is not None and info["count"] == NODES, "page %d: <set/> %s" % (pages, info), r)
        if not nodes:
            check(info["first"] is None, "an empty page has no <first/>", r)
            break
        check(len(nodes) <= 37 and info["index"] == len(seen) and info["last"] == nodes[-1],
              "page %d: %d items, %s" % (pages, len(nodes), info), r)
        seen += nodes
        after = nodes[-1]
        pages += 1
        check(pages <= NODES // 37 + 2, "paging does not end")
    check(seen == sorted(names), "paging with <after/>: %d nodes, %d distinct, want %d in order"
          % (len(seen), len(set(seen)), NODES))

    # Backwards from the last page (§2.5, §2.3).
    seen, before = [], ""
    while True:
        r = await c.iq("get", disco_items(rsm(64, before=before)), to=SVC)
        nodes, info = page_of(r)
        if not nodes:
            break
        seen = nodes + seen
        before = nodes[0]
    check(seen == sorted(names), "paging backwards: %d nodes" % len(seen))

    # A huge <max/> is capped; <max>0</max> is the count only (§2.7); an
    # index (§2.6); a node deleted between pages keeps its place (§2.4).
    nodes, info = page_of(await c.iq("get", disco_items(rsm(100000)), to=SVC))
    check(len(nodes) == 50, "max=100000 must be capped at disco_max_items, got %d" % len(nodes))
    nodes, info = page_of(await c.iq("get", disco_items(rsm(0)), to=SVC))
    check(nodes == [] and info["count"] == NODES, "max=0: count only, got %d items" % len(nodes))
    nodes, info = page_of(await c.iq("get", disco_items(rsm(5, index=120)), to=SVC))
    check(nodes == sorted(names)[120:125] and info["index"] == 120, "index 120: %s" % info)
    gone = sorted(names)[99]
    r = await c.iq("set", "<pubsub xmlns='%s#owner'><delete node='%s'/></pubsub>" % (NS_PUBSUB, gone),
                   to=SVC)
    check(r.get("type") == "result", "delete", r)
    nodes, info = page_of(await c.iq("get", disco_items(rsm(3, after=gone)), to=SVC))
    check(nodes == sorted(names)[100:103] and info["count"] == NODES - 1,
          "after a deleted node: %s %s" % ([n[:4] for n in nodes], info))
    r = await c.iq("get", disco_items(rsm("-1")), to=SVC)
    check(err_cond(r) == "bad-request", "a negative <max/>: want bad-request", r)

    # The service says it pages (XEP-0059 §3).
    r = await c.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=SVC)
    feats = {f.get("var") for f in r.iter(q("feature", "http://jabber.org/protocol/disco#info"))}
    check(NS_RSM in feats, "rsm feature not advertised by the service", r)
    rtt = await by.stop()
    check(rtt < 2 * SCALE, "bystander ping took %.2fs" % rtt)


@options(config={"pubsub": {"disco_max_items": 10}}, timeout=60)
async def test_pep_disco_items_paged(ctx):
    """An account's PEP nodes (XEP-0163 §6) are listed the same way."""
    c = await ctx.raw_session("pep@localhost", "a")
    names = ["urn:x:pep:%02d" % i for i in range(30)]
    answers = await pipelined_iqs(c, "set", [publish(n) for n in names])
    check(all(a.get("type") == "result" for a in answers), "publishing to 30 PEP nodes",
          *[a for a in answers if a.get("type") != "result"][:2])
    r = await c.iq("get", disco_items(), to="pep@localhost")
    nodes, info = page_of(r)
    check(len(nodes) == 10 and info and info["count"] == 30, "PEP disco#items: %d, %s" % (len(nodes), info), r)
    seen, after = [], None
    while True:
        nodes, info = page_of(await c.iq("get", disco_items(rsm(7, after=after)), to="pep@localhost"))
        if not nodes:
            break
        seen += nodes
        after = nodes[-1]
    check(seen == sorted(names), "paging PEP nodes: %s" % seen)
    # A short list without <set/> in the request comes without one.
    other = await ctx.raw_session("big@localhost", "a")
    r = await other.iq("set", publish("urn:x:one"))
    check(r.get("type") == "result", "publish", r)
    nodes, info = page_of(await other.iq("get", disco_items(), to="big@localhost"))
    check(nodes == ["urn:x:one"] and info is None, "a complete short list: %s %s" % (nodes, info))


# ---- pre-authentication stanza limit --------------------------------------------

HEADER = STREAM_HEADER.format(to=" to='localhost'", version="1.0")
PREAUTH = 8192  # [c2s] max_stanza_size_preauth default


async def test_preauth_unfinished_stanza_policy_violation(ctx):
    # Plain TCP before STARTTLS, and inside TLS before SASL: 20 KiB of an
    # unfinished stanza is far past the pre-auth limit.
    for tls in (False, True):
        r = await ctx.raw()
        await r.open()
        if tls:
            await r.starttls()
        r.send("<message to='bystander@localhost'><body>" + "x" * 20480)
        await r.expect_stream_error("policy-violation")
    # A long stream header is no way around it.
    r = await ctx.raw()
    r.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
           "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0' "
           "a='" + "y" * 20480)
    await r.expect_stream_error("policy-violation")
    # SASL itself fits: SCRAM-SHA-256-PLUS with channel binding, and after it
    # the full limit applies (a 100 KiB message to oneself goes through).
    c = await ctx.raw_session("big@localhost", "big", mech="SCRAM-SHA-256-PLUS")
    body = "ж" * 50000
    c.message("big@localhost/big", body)
    el = await c.wait_for(is_message(body=body), timeout=10, what="the 100 KB message")
    check(el is not None, "the 100 KB message after authentication")


@options(timeout=120)
async def test_preauth_connections_do_not_grow_the_server(ctx):
    """200 unauthenticated connections each try to park 200 KiB of an
    unfinished stanza (below max_stanza_size, which used to be the only
    limit before authentication: 40 MB held). Each is cut off at the
    pre-auth limit with <policy-violation/>, the server's RSS stays about
    where it was, and a bystander keeps getting its pings answered."""
    by = await bystander(ctx, "preauth")
    n, chunk, total = 200, 16384, 200 * 1024
    rss0 = ctx.server.rss_kib()
    conns = []
    for _ in range(n):
        r = await ctx.raw()
        r.send("<?xml version='1.0'?>" + HEADER + "<message to='bystander@localhost'><body>")
        conns.append(r)

    async def push(r):
        sent = 0
        try:
            while sent < total:
                await r.send_drain("x" * chunk)
                sent += chunk
                await asyncio.sleep(0)
        except (ConnectionError, OSError):
            pass  # the server hung up mid-way: what it should do
        return sent

    sent = await asyncio.gather(*[push(r) for r in conns])
    rss_peak = ctx.server.rss_kib()
    conds = await asyncio.gather(*[r.stream_end(timeout=15 * SCALE) for r in conns],
                                 return_exceptions=True)
    bad = [c for c in conds if isinstance(c, BaseException) or c[0] != "policy-violation"]
    rss1 = ctx.server.rss_kib()
    rtt = await by.stop()
    grew = max(rss_peak, rss1) - rss0
    print("  %d pre-auth connections x %d KiB pushed: RSS %+d KiB (peak), worst bystander ping "
          "%.3fs" % (n, total // 1024, grew, rtt))
    check(not bad, "%d of %d connections did not end with <policy-violation/>: %s"
          % (len(bad), n, [repr(b)[:120] for b in bad[:3]]))
    check(grew < 12 * 1024 * SCALE, "server RSS grew by %d KiB for %d pre-auth connections" % (grew, n))
    check(rtt < 2 * SCALE, "bystander ping took %.2fs" % rtt)

"""XEP-0313 message archive (urn:xmpp:mam:2) with XEP-0359 stanza ids and
XEP-0059 paging: what is archived in both directions, the stanza-id on
live and offline delivery, filters, paging over thousands of messages,
errors, preferences and retention."""

import asyncio
import datetime
import os
import sqlite3

from harness import (NS_DISCO_INFO, NS_ROSTER, check, new_id, options, q,
                     stanza_error, xattr, xesc)

NS_MAM = "urn:xmpp:mam:2"
NS_SID = "urn:xmpp:sid:0"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FORWARD = "urn:xmpp:forward:0"
NS_DELAY = "urn:xmpp:delay"
NS_DATA = "jabber:x:data"

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "harry", "ivan", "judy",
         "ken", "liz", "mike", "nina", "oscar", "pat", "quinn", "rita", "sam", "tina", "uma", "vera", "walt"]
ACCOUNTS = {n + "@localhost": "pw-" + n for n in NAMES}
CONFIG = {"c2s": {"max_offline": 10000}}


class Item:
    def __init__(self, el):
        r = el.find(q("result", NS_MAM))
        fwd = r.find(q("forwarded", NS_FORWARD))
        self.outer = el
        self.id = r.get("id")
        self.queryid = r.get("queryid")
        self.stamp = fwd.find(q("delay", NS_DELAY)).get("stamp")
        self.msg = fwd.find(q("message"))
        b = self.msg.find(q("body")) if self.msg is not None else None
        self.body = b.text if b is not None else None

    def __repr__(self):
        return "<item %s %s %r>" % (self.id, self.stamp, self.body)


class Page:
    def __init__(self, items, iq):
        self.items, self.iq = items, iq
        self.fin = iq.find(q("fin", NS_MAM))
        rsm = self.fin.find(q("set", NS_RSM)) if self.fin is not None else None

        def text(tag):
            e = rsm.find(q(tag, NS_RSM)) if rsm is not None else None
            return e.text if e is not None else None
        self.first, self.last = text("first"), text("last")
        c = text("count")
        self.count = int(c) if c is not None else None
        self.complete = self.fin is not None and self.fin.get("complete") in ("true", "1")

    @property
    def bodies(self):
        return [i.body for i in self.items]


def form_xml(fields):
    if fields is None:
        return ""
    out = ["<x xmlns='%s' type='submit'><field var='FORM_TYPE' type='hidden'><value>%s</value>"
           "</field>" % (NS_DATA, NS_MAM)]
    for k, v in fields.items():
        out.append("<field var=%s><value>%s</value></field>" % (xattr(k), xesc(v)))
    out.append("</x>")
    return "".join(out)


def rsm_xml(rsm):
    if rsm is None:
        return ""
    out = ["<set xmlns='%s'>" % NS_RSM]
    for k, v in rsm.items():
        out.append("<%s/>" % k if v == "" else "<%s>%s</%s>" % (k, xesc(str(v)), k))
    out.append("</set>")
    return "".join(out)


async def query(c, form=None, rsm=None, to=None, queryid=None, raw_payload=None, timeout=10):
    """MAM query on a raw client: returns a Page (iq may be an error)."""
    iid = new_id("mam")
    queryid = queryid or new_id("qid")
    payload = raw_payload or "<query xmlns='%s' queryid=%s>%s%s</query>" % (
        NS_MAM, xattr(queryid), form_xml(form), rsm_xml(rsm))
    c.send("<iq type='set' id='%s'%s>%s</iq>" % (iid, " to=%s" % xattr(to) if to else "", payload))
    items = []
    while True:
        el = await c.element(timeout, "MAM results for %s" % iid)
        if el.tag == q("message") and el.find(q("result", NS_MAM)) is not None:
            it = Item(el)
            check(it.queryid == queryid, "result with a foreign queryid", el)
            items.append(it)
            continue
        if el.tag == q("iq") and el.get("id") == iid:
            return Page(items, el)


async def all_items(c, form=None, page_size=250):
    """Pages forwards through everything."""
    out, after = [], None
    while True:
        rsm = {"max": page_size}
        if after:
            rsm["after"] = after
        p = await query(c, form, rsm)
        check(p.iq.get("type") == "result", "query failed", p.iq)
        out += p.items
        if p.complete or not p.items:
            return out
        after = p.last


def stanza_ids(el):
    return [(s.get("by"), s.get("id")) for s in el.findall(q("stanza-id", NS_SID))]


def is_body(body):
    return lambda el: el.tag == q("message") and el.findtext(q("body")) == body


def parse_stamp(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


async def send_all(c, stanzas, batch=200):
    for i in range(0, len(stanzas), batch):
        await c.send_drain("".join(stanzas[i:i + batch]))


def chat(to, body, extra=""):
    return "<message to=%s type='chat' id='%s'><body>%s</body>%s</message>" % (
        xattr(to), new_id("m"), xesc(body), extra)


async def sync(c):
    """A round trip: everything sent before has been routed (and its
    archive writes queued before any later query)."""
    await c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")


async def test_disco_and_form(ctx):
    a = await ctx.raw_session("alice@localhost", "d")
    r = await a.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="alice@localhost")
    feats = {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))}
    check(NS_MAM in feats and NS_SID in feats, "account disco#info lacks mam/sid: %s" % feats, r)
    r = await a.iq("get", "<query xmlns='%s'/>" % NS_MAM)
    check(r.get("type") == "result", "form discovery failed", r)
    fields = {f.get("var") for f in r.iter(q("field", NS_DATA))}
    check({"FORM_TYPE", "with", "start", "end"} <= fields, "form fields %s" % fields, r)


async def test_both_directions_and_stanza_id(ctx):
    a = await ctx.raw_session("alice@localhost", "a", presence=True)
    b = await ctx.raw_session("bob@localhost", "b", presence=True)
    # a forged stanza-id "by" the recipient is removed (XEP-0359 §5)
    a.send(chat("bob@localhost", "hello bob",
                "<stanza-id xmlns='%s' by='Bob@LOCALHOST' id='forged'/>"
                "<stanza-id xmlns='%s' by='other.example' id='kept'/>" % (NS_SID, NS_SID)))
    el = await b.wait_for(is_body("hello bob"))
    ids = stanza_ids(el)
    mine = [i for by, i in ids if by == "bob@localhost"]
    check(len(mine) == 1 and mine[0] != "forged", "recipient stanza-id %r" % ids, el)
    check(("other.example", "kept") in ids, "foreign stanza-id must stay", el)
    check(not [1 for by, i in ids if i == "forged"], "forged stanza-id delivered", el)
    b.send(chat("alice@localhost/a", "hello alice"))
    el2 = await a.wait_for(is_body("hello alice"))
    await sync(a)
    await sync(b)

    pa = await query(a)
    check(pa.iq.get("type") == "result", "query failed", pa.iq)
    check(pa.bodies == ["hello bob", "hello alice"], "alice's archive %r" % pa.items)
    check(pa.complete and pa.count == 2, "fin complete/count", pa.iq)
    check(pa.first == pa.items[0].id and pa.last == pa.items[-1].id, "first/last", pa.iq)
    check(pa.items[1].id == dict(stanza_ids(el2)).get("alice@localhost"),
          "alice's archive id is the stanza-id she received", pa.iq)
    check(pa.items[0].id != mine[0], "the sender's copy must have its own id")
    o = pa.items[0].outer
    check(o.get("to") == a.jid and o.get("from") in (None, "alice@localhost"),
          "result message addressing", o)
    m = pa.items[0].msg
    check(m.get("to") == "bob@localhost" and m.get("from") == "alice@localhost/a",
          "archived message addressing", m)

    pb = await query(b)
    check(pb.bodies == ["hello bob", "hello alice"], "bob's archive %r" % pb.items)
    check(pb.items[0].id == mine[0], "bob's archive id %s, delivered stanza-id %s" %
          (pb.items[0].id, mine[0]))
    check(pb.items[0].msg.find(q("stanza-id", NS_SID)) is not None, "archived copy has its id")
    # XEP-0082 stamps, chronological
    s = [parse_stamp(i.stamp) for i in pb.items]
    check(s == sorted(s), "stamps not chronological %s" % s)
    now = datetime.datetime.now(datetime.timezone.utc)
    check(abs((now - s[0]).total_seconds()) < 60, "stamp %s is not now" % s[0])


async def test_offline_message_carries_stanza_id(ctx):
    a = await ctx.raw_session("carol@localhost", "c")
    a.send(chat("dave@localhost", "while you were away"))
    await sync(a)
    d = await ctx.raw_session("dave@localhost", "d", presence=True)
    el = await d.wait_for(is_body("while you were away"))
    check(el.find(q("delay", NS_DELAY)) is not None, "offline delivery without delay", el)
    ids = dict(stanza_ids(el))
    p = await query(d)
    check(p.bodies == ["while you were away"], "dave's archive %r" % p.items)
    check(ids.get("dave@localhost") == p.items[0].id, "offline stanza-id %r vs archive %s" %
          (ids, p.items[0].id), el)


async def test_what_is_not_archived(ctx):
    a = await ctx.raw_session("erin@localhost", "e")
    b = await ctx.raw_session("frank@localhost", "f", presence=True)
    to = xattr("frank@localhost")
    await send_all(a, [
        "<message to=%s type='headline'><body>headline</body></message>" % to,
        "<message to=%s type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/>"
        "</message>" % to,
        "<message to=%s type='chat'><body>no-store</body>"
        "<no-store xmlns='urn:xmpp:hints'/></message>" % to,
        "<message to=%s type='chat'><body>no-permanent-store</body>"
        "<no-permanent-store xmlns='urn:xmpp:hints'/></message>" % to,
        "<message to=%s type='error'><body>error</body></message>" % to,
        "<message to=%s type='groupchat'><body>groupchat</body></message>" % to,
        "<message to=%s><body>normal</body></message>" % to,
        "<message to='nobody@localhost' type='chat'><body>to nobody</body></message>",
    ])
    got = {}
    while "normal" not in got:
        el = await b.wait_for(lambda e: e.tag == q("message") and e.find(q("body")) is not None)
        got[el.findtext(q("body"))] = dict(stanza_ids(el))
    check(got["normal"].get("frank@localhost"), "stanza-id on the archived message", el)
    check(got.get("no-store") == {}, "no stanza-id on a message not archived: %r" % got)
    await sync(a)
    pa = await query(a)
    check(pa.bodies == ["normal", "to nobody"], "sender archive %r" % pa.items)
    pb = await query(b)
    check(pb.bodies == ["normal"], "recipient archive %r" % pb.items)


async def test_filters(ctx):
    a = await ctx.raw_session("gina@localhost", "g")
    for i in range(6):
        a.send(chat("harry@localhost" if i % 2 == 0 else "ivan@localhost", "f%d" % i))
        await sync(a)
        await asyncio.sleep(0.02)
    items = await all_items(a)
    check([i.body for i in items] == ["f%d" % i for i in range(6)], "all %r" % items)
    p = await query(a, {"with": "Harry@LocalHost"})
    check(p.bodies == ["f0", "f2", "f4"] and p.count == 3, "with=harry %r" % p.items, p.iq)
    stamps = [i.stamp for i in items]
    p = await query(a, {"start": stamps[2]})
    check(p.bodies == ["f2", "f3", "f4", "f5"], "start (inclusive) %r" % p.items)
    p = await query(a, {"end": stamps[3]})
    check(p.bodies == ["f0", "f1", "f2", "f3"], "end (inclusive) %r" % p.items)
    p = await query(a, {"start": stamps[1], "end": stamps[4], "with": "ivan@localhost"})
    check(p.bodies == ["f1", "f3"] and p.count == 2, "start+end+with %r" % p.items)
    # the same instant in another time zone
    t = parse_stamp(stamps[2]).astimezone(datetime.timezone(datetime.timedelta(hours=3)))
    p = await query(a, {"start": t.isoformat()})
    check(p.bodies == ["f2", "f3", "f4", "f5"], "start with +03:00 %r (%s)" % (p.items, t))
    p = await query(a, {"start": "2000-01-01T00:00:00Z", "end": "2000-01-02T00:00:00Z"})
    check(p.iq.get("type") == "result" and not p.items and p.complete and p.count == 0,
          "empty window", p.iq)
    # errors
    for bad in ({"start": "yesterday"}, {"end": "2024-02-30T00:00:00Z"},
                {"start": "2024-01-01T00:00:00"}, {"with": "@@"}):
        p = await query(a, bad)
        check(stanza_error(p.iq) == ("modify", "bad-request"), "%s should be bad-request" % bad,
              p.iq)
    # XEP-0313 §4.1.5: a field the server does not know
    p = await query(a, {"colour": "red"})
    check(stanza_error(p.iq) == ("cancel", "feature-not-implemented"), "unknown field", p.iq)
    p = await query(a, raw_payload="<query xmlns='%s'><x xmlns='%s' type='submit'><field "
                    "var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x></query>" %
                    (NS_MAM, NS_DATA))
    check(stanza_error(p.iq)[1] == "bad-request", "wrong FORM_TYPE", p.iq)
    p = await query(a, {"with": "harry@localhost/res"})
    check(p.iq.get("type") == "error", "full JID 'with' is not supported", p.iq)


@options(timeout=120)
async def test_paging_thousands(ctx):
    n = 3000
    a = await ctx.raw_session("judy@localhost", "j")
    b = await ctx.raw_session("ken@localhost", "k", presence=True)
    await send_all(a, [chat("ken@localhost", "p%04d" % i) for i in range(n)])
    await sync(a)
    want = ["p%04d" % i for i in range(n)]
    # the first live deliveries (read now: queries skip what else arrives)
    live = []
    for _ in range(3):
        el = await b.wait_for(lambda e: e.tag == q("message") and e.find(q("body")) is not None,
                              timeout=20)
        live.append((el.findtext(q("body")), dict(stanza_ids(el)).get("ken@localhost")))

    # forwards with <after/>; max above the cap is capped at 250
    got, after, pages = [], None, 0
    while True:
        rsm = {"max": 1000}
        if after:
            rsm["after"] = after
        p = await query(a, rsm=rsm, timeout=30)
        check(p.iq.get("type") == "result", "page failed", p.iq)
        check(len(p.items) <= 250, "page of %d items, cap is 250" % len(p.items))
        check(p.count == n, "count %s" % p.count, p.iq)
        got += p.bodies
        pages += 1
        if p.complete:
            break
        check(p.items and p.last == p.items[-1].id, "last", p.iq)
        after = p.last
    check(got == want, "forward paging: %d items, first differences %s" %
          (len(got), [(i, x, y) for i, (x, y) in enumerate(zip(got, want)) if x != y][:5]))
    check(pages == n // 250, "%d pages" % pages)

    # backwards from the last page with <before/>
    chunks, before = [], ""
    while True:
        p = await query(a, rsm={"max": 170, "before": before}, timeout=30)
        check(p.iq.get("type") == "result", "page failed", p.iq)
        check(p.count == n, "count %s" % p.count, p.iq)
        chunks.insert(0, p.bodies)
        if p.complete:
            break
        check(len(p.items) == 170 and p.first == p.items[0].id, "page size/first", p.iq)
        before = p.first
    got = [b for c in chunks for b in c]
    check(got == want, "backward paging: %d items" % len(got))
    check(len(chunks[0]) == n % 170, "oldest page has the remainder")

    # count only (max 0) and the recipient's archive
    p = await query(b, rsm={"max": 0})
    check(p.count == n and not p.items, "ken's count %s" % p.count, p.iq)
    p = await query(b, rsm={"max": 5, "before": ""})
    check(p.bodies == want[-5:], "ken's last page %r" % p.bodies)
    # stanza-ids of live delivery match ken's archive ids
    p2 = await query(b, rsm={"max": 3})
    check(live == [(i.body, i.id) for i in p2.items], "live %r vs archive %r" % (live, p2.items))


async def test_slixmpp_client(ctx):
    """Debian's slixmpp (xep_0313 / xep_0059 / xep_0359 plugins) pages
    through the archive forwards and backwards and sees the stanza-id."""
    v = await ctx.raw_session("vera@localhost", "v")
    w = await ctx.client("walt@localhost", "w", presence=True)
    for p in ("xep_0059", "xep_0297", "xep_0313", "xep_0359"):
        w.x.register_plugin(p)
    await send_all(v, [chat("walt@localhost", "s%02d" % i) for i in range(25)])
    await sync(v)
    live = await w.expect(lambda el: el.tag == q("message") and el.findtext(q("body")) == "s00")
    check(dict(stanza_ids(live)).get("walt@localhost"), "stanza-id", live)
    mam = w.x["xep_0313"]
    own = w.x.boundjid.bare
    got = [m["mam_result"]["forwarded"]["stanza"]["body"]
           async for m in mam.iterate(jid=own, rsm={"max": 10})]
    check(got == ["s%02d" % i for i in range(25)], "slixmpp forward iteration %r" % got)
    got = [m["mam_result"]["forwarded"]["stanza"]["body"]
           async for m in mam.iterate(jid=own, rsm={"max": 7}, reverse=True)]
    check(got == ["s%02d" % i for i in reversed(range(25))], "slixmpp reverse iteration %r" % got)
    first = None
    async for m in mam.iterate(jid=own, with_jid="vera@localhost", rsm={"max": 5}, total=1):
        first = m
    check(first["mam_result"]["id"] == dict(stanza_ids(live))["walt@localhost"],
          "archive id of the first message is its stanza-id")


async def test_rsm_errors(ctx):
    a = await ctx.raw_session("liz@localhost", "l")
    a.send(chat("mike@localhost", "one"))
    await sync(a)
    for rsm in ({"after": "no-such-id"}, {"before": "no-such-id"}):
        p = await query(a, rsm=rsm)
        check(stanza_error(p.iq) == ("cancel", "item-not-found"), "%s" % rsm, p.iq)
    p = await query(a, rsm={"max": "-1"})
    check(stanza_error(p.iq)[1] == "bad-request", "negative max", p.iq)
    p = await query(a, rsm={"max": "ten"})
    check(stanza_error(p.iq)[1] == "bad-request", "max not a number", p.iq)


async def test_forbidden(ctx):
    a = await ctx.raw_session("nina@localhost", "n")
    a.send(chat("oscar@localhost", "private"))
    await sync(a)
    p = await query(a, to="oscar@localhost")
    check(stanza_error(p.iq) == ("auth", "forbidden"), "query of another archive", p.iq)
    check(not p.items, "results leaked")
    r = await a.iq("get", "<prefs xmlns='%s'/>" % NS_MAM, to="oscar@localhost")
    check(stanza_error(r)[1] == "forbidden", "prefs of another account", r)
    r = await a.iq("set", "<prefs xmlns='%s' default='never'/>" % NS_MAM, to="oscar@localhost")
    check(stanza_error(r)[1] == "forbidden", "prefs set of another account", r)
    p = await query(a, to="nina@localhost")
    check(p.bodies == ["private"], "own archive with explicit to", p.iq)


async def set_prefs(c, default, always=(), never=()):
    def lst(name, jids):
        return "<%s>%s</%s>" % (name, "".join("<jid>%s</jid>" % xesc(j) for j in jids), name)
    r = await c.iq("set", "<prefs xmlns='%s' default='%s'>%s%s</prefs>" %
                   (NS_MAM, default, lst("always", always), lst("never", never)))
    check(r.get("type") == "result", "prefs set", r)
    return r


def prefs_of(r):
    p = r.find(q("prefs", NS_MAM))
    return (p.get("default"),
            [j.text for j in p.findall("%s/%s" % (q("always", NS_MAM), q("jid", NS_MAM)))],
            [j.text for j in p.findall("%s/%s" % (q("never", NS_MAM), q("jid", NS_MAM)))])


async def test_prefs(ctx):
    p_ = await ctx.raw_session("pat@localhost", "p", presence=True)
    qn = await ctx.raw_session("quinn@localhost", "q", presence=True)
    r = await p_.iq("get", "<prefs xmlns='%s'/>" % NS_MAM)
    check(prefs_of(r) == ("always", [], []), "default prefs", r)
    r = await p_.iq("set", "<prefs xmlns='%s' default='sometimes'/>" % NS_MAM)
    check(stanza_error(r)[1] == "bad-request", "invalid default", r)

    # never: pat's outgoing messages are not archived by pat, quinn still archives
    await set_prefs(p_, "never")
    p_.send(chat("quinn@localhost", "n1"))
    el = await qn.wait_for(is_body("n1"))
    check(dict(stanza_ids(el)).get("quinn@localhost"), "quinn archives and marks n1", el)
    # always with a never list
    r = await set_prefs(p_, "always", always=["Rita@LocalHost"], never=["QUINN@localhost"])
    check(prefs_of(r) == ("always", ["rita@localhost"], ["quinn@localhost"]),
          "normalised lists in the answer", r)
    r = await p_.iq("get", "<prefs xmlns='%s'/>" % NS_MAM)
    check(prefs_of(r) == ("always", ["rita@localhost"], ["quinn@localhost"]), "prefs get", r)
    p_.send(chat("quinn@localhost", "n2"))
    p_.send(chat("rita@localhost", "a1"))
    await sync(p_)
    # the recipient's preferences: quinn archives nothing; no stanza-id then
    await set_prefs(qn, "never")
    p_.send(chat("quinn@localhost", "n3"))
    el = await qn.wait_for(is_body("n3"))
    check(not stanza_ids(el), "no stanza-id for a message quinn does not archive", el)
    # never wins over always (same JID in both lists)
    await set_prefs(p_, "never", always=["quinn@localhost", "rita@localhost"],
                    never=["quinn@localhost"])
    p_.send(chat("quinn@localhost", "n4"))
    p_.send(chat("rita@localhost", "a2"))
    await sync(p_)
    pp = await query(p_)
    check(pp.bodies == ["a1", "a2"], "pat's archive %r" % pp.items)
    pq = await query(qn)
    check(pq.bodies == ["n1", "n2"], "quinn's archive %r" % pq.items)


async def test_prefs_roster_mode(ctx):
    i = await ctx.raw_session("sam@localhost", "s")
    r = await i.iq("set", "<query xmlns='%s'><item jid='tina@localhost'/></query>" % NS_ROSTER)
    check(r.get("type") == "result", "roster set", r)
    await set_prefs(i, "roster")
    i.send(chat("tina@localhost", "to contact"))
    i.send(chat("uma@localhost", "to stranger"))
    await sync(i)
    await i.close()
    await asyncio.sleep(0.2)
    # sam is offline now: the decision needs his stored roster
    m = await ctx.raw_session("tina@localhost", "t")
    o = await ctx.raw_session("uma@localhost", "u")
    m.send(chat("sam@localhost", "from contact"))
    o.send(chat("sam@localhost", "from stranger"))
    await sync(m)
    await sync(o)
    i = await ctx.raw_session("sam@localhost", "s2", presence=True)
    got = {}
    for _ in range(2):
        el = await i.wait_for(lambda e: e.tag == q("message") and e.find(q("body")) is not None)
        got[el.findtext(q("body"))] = dict(stanza_ids(el)).get("sam@localhost")
    check(got.get("from contact") and got.get("from stranger") is None and
          set(got) == {"from contact", "from stranger"}, "stanza-ids on offline delivery %r" % got)
    p = await query(i)
    check(p.bodies == ["to contact", "from contact"], "rita's archive %r" % p.items)
    check(p.items[1].id == got["from contact"], "offline stanza-id is the archive id")


@options(config={"archive": {"retention_days": 2}}, timeout=40)
async def test_retention(ctx):
    a = await ctx.raw_session("alice@localhost", "a")
    for i in range(5):
        a.send(chat("bob@localhost", "r%d" % i))
    await sync(a)
    check(len((await query(a)).items) == 5, "archived before restart")
    problems = await asyncio.get_running_loop().run_in_executor(None, ctx.server.stop)
    check(not problems, "stop: %s" % problems)
    # age the three oldest items of alice by three days (keeps the archive
    # order: they stay the oldest)
    db = sqlite3.connect(os.path.join(ctx.server.data_dir, "vestnik.db"))
    with db:
        seqs = [r[0] for r in db.execute(
            "SELECT seq FROM archive WHERE owner = 'alice@localhost' ORDER BY seq LIMIT 3")]
        db.execute("UPDATE archive SET ts = ts - 3 * 86400 * 1000000 WHERE seq IN (%s)" %
                   ",".join(map(str, seqs)))
    db.close()
    await asyncio.get_running_loop().run_in_executor(None, ctx.server.start)
    a = await ctx.raw_session("alice@localhost", "a2")
    for _ in range(50):
        p = await query(a)
        if len(p.items) == 2:
            break
        await asyncio.sleep(0.1)
    check(p.bodies == ["r3", "r4"] and p.count == 2, "after retention %r" % p.items, p.iq)
    # bob's copies are younger: untouched
    b = await ctx.raw_session("bob@localhost", "b")
    check(len((await query(b)).items) == 5, "bob's archive")

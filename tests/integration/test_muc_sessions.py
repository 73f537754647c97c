"""XEP-0045 rooms with real-life clients: several sessions of one account
under one nick (a phone and a desktop), history on join through the same
delivery path as live stanzas (blocking, CSI), the room archive's 'with'
filter in semi-anonymous rooms, the room quota across restarts, a join +
groupchat + XEP-0198 <r/> to a room still in storage surviving kill -9, and
a shutdown with occupants in rooms."""
import asyncio

from harness import check, q, is_message, is_presence, new_id, options, body_of
from test_muc import (SVC, NS_MUC, NS_DELAY, codes, item, error_of, join, configure,
                      new_room, session, groupchat, is_gc, instant)
from test_mam import query

NS_SM = "urn:xmpp:sm:3"
NS_BLOCKING = "urn:xmpp:blocking"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"

NAMES = ["owner", "amy", "ben", "cat", "dan", "eve", "fay", "gus"]
ACCOUNTS = {n + "@localhost": "pw-" + n for n in NAMES}
CONFIG = {"c2s": {"max_offline": 100000}}


def occupants_count(info):
    for f in info.iter(q("field", "jabber:x:data")):
        if f.get("var") == "muc#roominfo_occupants":
            return int(f.find(q("value", "jabber:x:data")).text)
    return None


async def test_one_nick_several_sessions(ctx):
    """Two sessions of one account join with one nick: one occupant for the
    room, both sessions get the room's traffic and private messages, each
    its own 110; the occupant stays while a session remains; another
    account asking for the nick gets <conflict/>."""
    o = await new_room(ctx, "multi", owner="owner", nick="boss")
    phone = await ctx.raw_session("amy@localhost", "phone")
    desk = await ctx.raw_session("amy@localhost", "desk")
    await join(phone, "multi", "amy")
    await o.wait_for(is_presence(frm="multi@%s/amy" % SVC), what="amy joins")
    el = await join(desk, "multi", "amy")
    check(item(el).get("jid") == desk.jid, "self-presence names this session", el)
    # the desk session learns of boss (once), not of a second amy
    await desk.quiet(0.3, lambda e: e.tag == q("presence") and
                     e.get("from") == "multi@%s/amy" % SVC)
    # the others see one occupant: no second presence, two occupants in all
    await o.quiet(0.3, is_presence(frm="multi@%s/amy" % SVC, type_="*"))
    info = await o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="multi@" + SVC)
    check(occupants_count(info) == 2, "two occupants", info)
    # room messages reach both sessions, from either
    groupchat(o, "multi", "hi both")
    for c in (phone, desk):
        await c.wait_for(is_gc("multi", "boss", "hi both"), what="groupchat to each session")
    groupchat(desk, "multi", "from the desk")
    for c in (o, phone, desk):
        await c.wait_for(is_gc("multi", "amy", "from the desk"), what="reflection")
    # a private message to the nick goes to every session
    o.send("<message to='multi@%s/amy' type='chat'><body>psst</body></message>" % SVC)
    for c in (phone, desk):
        await c.wait_for(is_message(frm="multi@%s/boss" % SVC, body="psst"), what="pm")
    # another account cannot take the nick
    b = await session(ctx, "ben")
    await join(b, "multi", "amy", expect="conflict")
    # one session leaves: only it hears of it, the occupant stays
    desk.send("<presence to='multi@%s/amy' type='unavailable'/>" % SVC)
    el = await desk.wait_for(is_presence(frm="multi@%s/amy" % SVC, type_="unavailable"))
    check(110 in codes(el), "110 on the leaving session's unavailable", el)
    await o.quiet(0.3, is_presence(frm="multi@%s/amy" % SVC, type_="unavailable"))
    groupchat(o, "multi", "still there?")
    await phone.wait_for(is_gc("multi", "boss", "still there?"))
    await desk.quiet(0.3, is_gc("multi", "boss", "still there?"))
    # the last session leaves: now the room sees it go
    phone.send("<presence to='multi@%s/amy' type='unavailable'/>" % SVC)
    await phone.wait_for(is_presence(frm="multi@%s/amy" % SVC, type_="unavailable"))
    await o.wait_for(is_presence(frm="multi@%s/amy" % SVC, type_="unavailable"))
    # and a kick removes every session
    phone.send("<presence to='multi@%s/amy'><x xmlns='%s'/></presence>" % (SVC, NS_MUC))
    desk.send("<presence to='multi@%s/amy'><x xmlns='%s'/></presence>" % (SVC, NS_MUC))
    for c in (phone, desk):
        await c.wait_for(lambda e: e.tag == q("presence") and
                         e.get("from") == "multi@%s/amy" % SVC and 110 in codes(e))
    r = await o.iq("set", "<query xmlns='%s#admin'><item nick='amy' role='none'/></query>"
                   % NS_MUC, to="multi@" + SVC)
    check(r.get("type") == "result", "kick", r)
    for c in (phone, desk):
        el = await c.wait_for(is_presence(frm="multi@%s/amy" % SVC, type_="unavailable"))
        check({307, 110} <= codes(el), "kicked session told", el)


async def test_history_respects_blocking(ctx):
    """History on join goes through delivery like live messages: a user who
    blocked an occupant JID does not get its messages from the history."""
    o = await new_room(ctx, "hblock", owner="owner", nick="boss")
    c = await session(ctx, "cat")
    await join(c, "hblock", "troll")
    groupchat(c, "hblock", "spam from troll")
    groupchat(o, "hblock", "hello from boss")
    await o.wait_for(is_gc("hblock", "boss", "hello from boss"))
    d = await session(ctx, "dan")
    r = await d.iq("set", "<block xmlns='%s'><item jid='hblock@%s/troll'/></block>"
                   % (NS_BLOCKING, SVC))
    check(r.get("type") == "result", "block", r)
    await join(d, "hblock", "dan", history=20)
    got = []
    while True:
        e = await d.wait_for(lambda e: e.tag == q("message") and e.get("type") == "groupchat")
        if e.find(q("subject")) is not None:
            break
        got.append((e.get("from"), body_of(e), e.find(q("delay", NS_DELAY)) is not None))
    check(got == [("hblock@%s/boss" % SVC, "hello from boss", True)],
          "history without the blocked occupant: %r" % got)


async def test_history_keeps_order_with_csi(ctx):
    """An inactive client (XEP-0352) gets the join's presences before the
    history: history does not overtake what CSI holds back."""
    o = await new_room(ctx, "hcsi", owner="owner", nick="boss")
    groupchat(o, "hcsi", "old news")
    await o.wait_for(is_gc("hcsi", "boss", "old news"))
    e = await session(ctx, "eve")
    e.send("<inactive xmlns='urn:xmpp:csi:0'/>")
    await e.ping_server()
    e.send("<presence to='hcsi@%s/eve'><x xmlns='%s'/></presence>" % (SVC, NS_MUC))
    seen = []
    while True:
        el = await e.element(5, "join traffic")
        if el.tag == q("message") and body_of(el) == "old news":
            break
        seen.append(el)
    kinds = [(x.tag == q("presence") and x.get("from")) for x in seen]
    check("hcsi@%s/boss" % SVC in kinds and "hcsi@%s/eve" % SVC in kinds,
          "presences before the history: %r" % kinds)


async def test_archive_with_is_the_occupant_jid(ctx):
    """In a semi-anonymous room the archive's 'with' is the occupant JID: a
    participant cannot find out whose messages a real JID sent."""
    o = await new_room(ctx, "anon", owner="owner", nick="boss", persistentroom=1)
    f = await session(ctx, "fay")
    await join(f, "anon", "mask")
    groupchat(f, "anon", "who am i")
    await o.wait_for(is_gc("anon", "mask", "who am i"))
    g = await session(ctx, "gus")
    await join(g, "anon", "gus")
    form = lambda w: {"with": w}
    p = await query(g, form("fay@localhost"), to="anon@" + SVC)
    check(p.iq.get("type") == "result" and not p.items,
          "a real JID finds nothing: %r" % [i.body for i in p.items], p.iq)
    p = await query(g, form("anon@%s/mask" % SVC), to="anon@" + SVC)
    check(p.iq.get("type") == "result" and [i.body for i in p.items] == ["who am i"],
          "the occupant JID finds it", p.iq)


@options(config={"muc": {"max_rooms_per_user": 2}}, timeout=60)
async def test_quota_counts_stored_rooms(ctx):
    """[muc] max_rooms_per_user counts the persistent rooms a user owns in
    storage, not only those in memory: after a restart (nothing loaded)
    the third room is still refused."""
    c = await session(ctx, "gus")
    for room in ("keep1", "keep2"):
        await join(c, room, "g")
        r = await configure(c, room, persistentroom=1)
        check(r.get("type") == "result", "persistent", r)
    await join(c, "keep3", "g", expect="resource-constraint")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ctx.server.restart)
    c = await session(ctx, "gus")
    await join(c, "keep3", "g", expect="resource-constraint")
    # another user is not affected; destroying one frees a place
    d = await session(ctx, "dan")
    await join(d, "other", "d")
    await join(c, "keep1", "g")
    r = await c.iq("set", "<query xmlns='%s#owner'><destroy/></query>" % NS_MUC,
                   to="keep1@" + SVC)
    check(r.get("type") == "result", "destroy", r)
    await join(c, "keep3", "g")


@options(config={}, timeout=90)
async def test_cold_room_groupchat_acked_survives_kill9(ctx):
    """A client pipelines join + groupchat + <r/> to a persistent room that
    is still in storage, and more stanzas behind; the server is killed
    (SIGKILL) as soon as the <a/> arrives: after a restart the room archive
    has the message."""
    o = await new_room(ctx, "cold", owner="owner", nick="boss", persistentroom=1)
    groupchat(o, "cold", "warm-up")
    await o.wait_for(is_gc("cold", "boss", "warm-up"))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ctx.server.restart)  # the room is not loaded now
    a = await ctx.raw_session("amy@localhost", "phone")
    a.send("<enable xmlns='%s'/>" % NS_SM)
    el = await a.wait_for(lambda e: e.tag in (q("enabled", NS_SM), q("failed", NS_SM)))
    check(el.tag == q("enabled", NS_SM), "enable", el)
    # behind the <r/>: enough storage work to keep the storage thread busy
    tail = "".join("<message to='ben@localhost' type='chat' id='t%d'><body>filler %d</body>"
                   "</message>" % (i, i) for i in range(1500))
    await a.send_drain("<presence to='cold@%s/amy'><x xmlns='%s'><history maxstanzas='0'/>"
                       "</x></presence>"
                       "<message to='cold@%s' type='groupchat' id='durable'><body>must stay"
                       "</body></message><r xmlns='%s'/>%s" % (SVC, NS_MUC, SVC, NS_SM, tail))
    ack = await a.wait_for(lambda e: e.tag == q("a", NS_SM), timeout=30, what="<a/>")
    ctx.server.proc.kill()
    await loop.run_in_executor(None, ctx.server.proc.wait)
    a.abort()
    check(int(ack.get("h")) >= 2, "the join and the message are acknowledged", ack)
    await loop.run_in_executor(None, ctx.server.start)
    o = await session(ctx, "owner")
    await join(o, "cold", "boss")
    p = await query(o, None, to="cold@" + SVC)
    bodies = [i.body for i in p.items]
    check("must stay" in bodies, "acknowledged groupchat lost after kill -9: %r" % bodies, p.iq)


@options(config={})
async def test_shutdown_with_occupants(ctx):
    """The server stops cleanly (and, under the sanitizers, without leaks)
    while sessions sit in rooms, some with several sessions per nick, one
    room still broadcasting."""
    o = await new_room(ctx, "bye", owner="owner", nick="boss")
    for i in range(3):
        c = await ctx.raw_session("cat@localhost", "s%d" % i)
        await join(c, "bye", "cat")
    x = await session(ctx, "dan")
    x.send("<presence to='coldbye@%s/d'><x xmlns='%s'/></presence>" % (SVC, NS_MUC))
    groupchat(o, "bye", "last words")
    problems = await asyncio.get_running_loop().run_in_executor(None, ctx.server.stop)
    check(not problems, "shutdown: %s" % "; ".join(problems))
    await asyncio.get_running_loop().run_in_executor(None, ctx.server.start)


@options(config={})
async def test_shutdown_after_resumption(ctx):
    """An occupant whose stream was resumed (XEP-0198) on a new connection
    still pointed at the old session; shutdown must not wait for it (nor,
    under the sanitizers, leak it): every session reference the rooms hold
    goes when the session ends."""
    o = await new_room(ctx, "resumed", owner="owner", nick="boss")
    a = await ctx.raw_session("fay@localhost", "phone", presence=True)
    a.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    en = await a.wait_for(lambda e: e.tag == q("enabled", NS_SM), what="<enabled/>")
    await join(a, "resumed", "fay")
    groupchat(o, "resumed", "before")
    await a.wait_for(is_gc("resumed", "boss", "before"))
    a.abort()
    await asyncio.sleep(0.2)
    n = await ctx.raw(label="raw:fay-resumed")
    await n.secure()
    await n.auth_scram("fay", ACCOUNTS["fay@localhost"])
    await n.open()
    n.send("<resume xmlns='%s' h='0' previd='%s'/>" % (NS_SM, en.get("id")))
    el = await n.wait_for(lambda e: e.tag in (q("resumed", NS_SM), q("failed", NS_SM)))
    check(el.tag == q("resumed", NS_SM), "resume", el)
    await n.ping_server()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    problems = await loop.run_in_executor(None, ctx.server.stop)
    took = loop.time() - t0
    check(not problems, "shutdown: %s" % "; ".join(problems))
    check(took < 2.0, "shutdown took %.1fs: a session was kept alive" % took)
    await loop.run_in_executor(None, ctx.server.start)

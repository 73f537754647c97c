"""XEP-0045 multi-user chat on conference.localhost: room lifecycle, nicks,
roles and affiliations with their errors, moderation, private messages,
subject, history, invitations, self-ping, disco, room archives (XEP-0313),
persistence across a restart, occupants removed when their client goes."""
import asyncio

from harness import (check, q, stanza_error, is_message, is_presence, new_id, options, xattr, xesc,
                     body_of)

SVC = "conference.localhost"
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = NS_MUC + "#user"
NS_MUC_ADMIN = NS_MUC + "#admin"
NS_MUC_OWNER = NS_MUC + "#owner"
NS_DATA = "jabber:x:data"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_SID = "urn:xmpp:sid:0"
NS_DELAY = "urn:xmpp:delay"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FORWARD = "urn:xmpp:forward:0"

NAMES = ["owner", "amy", "ben", "cat", "dan", "eve", "fay", "gus", "hal", "ivy", "jon", "kim",
         "lea", "max", "ned", "oli", "pam", "quin", "rob", "sue", "tom", "uma", "vic", "wes"]
ACCOUNTS = {n + "@localhost": "pw-" + n for n in NAMES}


def codes(el):
    x = el.find(q("x", NS_MUC_USER))
    if x is None:
        return set()
    return {int(s.get("code")) for s in x.findall(q("status", NS_MUC_USER))}


def item(el):
    x = el.find(q("x", NS_MUC_USER))
    return x.find(q("item", NS_MUC_USER)) if x is not None else None


def error_of(el):
    return stanza_error(el)[1] if el.get("type") == "error" else None


async def join(c, room, nick, history=0, password=None, expect=None):
    """Sends a MUC join; returns the self-presence (status 110) or, with
    expect=condition, the error presence."""
    hist = "<history maxstanzas='%d'/>" % history if history is not None else ""
    pw = "<password>%s</password>" % xesc(password) if password is not None else ""
    jid = "%s@%s/%s" % (room, SVC, nick)
    c.send("<presence to=%s><x xmlns='%s'>%s%s</x></presence>" % (xattr(jid), NS_MUC, hist, pw))
    if expect:
        el = await c.wait_for(lambda e: e.tag == q("presence") and e.get("type") == "error"
                              and e.get("from") == jid, what="join error")
        check(error_of(el) == expect, "join %s: expected %s" % (jid, expect), el)
        return el
    el = await c.wait_for(lambda e: e.tag == q("presence") and e.get("from") == jid and
                          (110 in codes(e) or e.get("type") == "error"), what="self-presence")
    check(el.get("type") != "error", "join %s failed" % jid, el)
    return el


async def instant(c, room):
    r = await c.iq("set", "<query xmlns='%s'><x xmlns='%s' type='submit'/></query>"
                   % (NS_MUC_OWNER, NS_DATA), to="%s@%s" % (room, SVC))
    check(r.get("type") == "result", "instant room %s" % room, r)


async def configure(c, room, **fields):
    body = "".join("<field var='%s'><value>%s</value></field>" % (k if k == "mam" else
                   "muc#roomconfig_" + k, xesc(str(v))) for k, v in fields.items())
    r = await c.iq("set", "<query xmlns='%s'><x xmlns='%s' type='submit'>"
                   "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig"
                   "</value></field>%s</x></query>" % (NS_MUC_OWNER, NS_DATA, body),
                   to="%s@%s" % (room, SVC))
    return r


async def new_room(ctx, room, owner="owner", nick="boss", **config):
    c = await ctx.raw_session(owner + "@localhost", "r" + new_id())
    el = await join(c, room, nick)
    check(201 in codes(el), "new room: 201", el)
    if config:
        r = await configure(c, room, **config)
        check(r.get("type") == "result", "configure %s" % room, r)
    else:
        await instant(c, room)
    return c


async def session(ctx, name, presence=False):
    return await ctx.raw_session(name + "@localhost", "r" + new_id(), presence=presence)


async def admin(c, room, items, type_="set"):
    return await c.iq(type_, "<query xmlns='%s'>%s</query>" % (NS_MUC_ADMIN, items),
                      to="%s@%s" % (room, SVC))


def groupchat(c, room, body, id_=None):
    c.send("<message to='%s@%s' type='groupchat' id='%s'><body>%s</body></message>"
           % (room, SVC, id_ or new_id("g"), xesc(body)))


def is_gc(room, nick=None, body=None):
    frm = "%s@%s/%s" % (room, SVC, nick) if nick else None
    return lambda e: is_message(frm=frm, body=body, type_="groupchat")(e) and \
        (frm is not None or (e.get("from") or "").startswith(room + "@"))


async def test_bench_flow_create_instant_reflect(ctx):
    """The benchmark's sequence: locked new room (201), empty instant form,
    joins with maxstanzas=0, groupchat reflected to everyone incl. sender."""
    o = await session(ctx, "owner")
    el = await join(o, "bench", "boss")
    check(codes(el) >= {110, 201}, "201 and 110 on creation", el)
    it = item(el)
    check(it.get("affiliation") == "owner" and it.get("role") == "moderator", "owner", el)
    a = await session(ctx, "amy")
    # locked until configured (§10.1.1)
    await join(a, "bench", "amy", expect="item-not-found")
    await instant(o, "bench")
    el = await join(a, "bench", "amy")
    check(item(el).get("role") == "participant", "participant", el)
    # the owner sees amy arrive (semi-anonymous: owner is a moderator, sees jid)
    p = await o.wait_for(is_presence(frm="bench@%s/amy" % SVC), what="amy's presence")
    check(item(p).get("jid") == a.jid, "moderator sees real JID", p)
    groupchat(a, "bench", "hello all", id_="m1")
    for c in (a, o):
        m = await c.wait_for(is_gc("bench", "amy", "hello all"), what="reflection")
        check(m.get("to") == c.jid, "addressed to the occupant", m)
        check(m.get("id") == "m1", "id kept", m)
        sid = m.find(q("stanza-id", NS_SID))
        check(sid is not None and sid.get("by") == "bench@" + SVC, "stanza-id by room", m)
    # a visitor-free room: anyone joined can talk; a non-occupant cannot
    b = await session(ctx, "ben")
    groupchat(b, "bench", "not in")
    e = await b.wait_for(lambda e: e.tag == q("message") and e.get("type") == "error")
    check(error_of(e) == "not-acceptable", "non-occupant groupchat", e)


async def test_nick_conflict_change_leave(ctx):
    o = await new_room(ctx, "nicks")
    a = await session(ctx, "amy")
    b = await session(ctx, "ben")
    await join(a, "nicks", "amy")
    await join(b, "nicks", "amy", expect="conflict")
    await join(b, "nicks", "ben")
    await a.wait_for(is_presence(frm="nicks@%s/ben" % SVC))
    # nick change: unavailable with 303 and the new nick, then available
    b.send("<presence to='nicks@%s/benny'/>" % SVC)
    u = await a.wait_for(is_presence(frm="nicks@%s/ben" % SVC, type_="unavailable"))
    check(303 in codes(u) and item(u).get("nick") == "benny", "303 + nick", u)
    await a.wait_for(is_presence(frm="nicks@%s/benny" % SVC))
    s = await b.wait_for(lambda e: is_presence(frm="nicks@%s/benny" % SVC)(e) and 110 in codes(e))
    # changing to a taken nick
    b.send("<presence to='nicks@%s/amy'/>" % SVC)
    e = await b.wait_for(lambda e: e.tag == q("presence") and e.get("type") == "error")
    check(error_of(e) == "conflict", "nick change conflict", e)
    # leave
    b.send("<presence to='nicks@%s/benny' type='unavailable'/>" % SVC)
    u = await a.wait_for(is_presence(frm="nicks@%s/benny" % SVC, type_="unavailable"))
    u = await b.wait_for(lambda e: is_presence(frm="nicks@%s/benny" % SVC, type_="unavailable")(e)
                         and 110 in codes(e))
    # no nick at all
    b.send("<presence to='nicks@%s'><x xmlns='%s'/></presence>" % (SVC, NS_MUC))
    e = await b.wait_for(lambda e: e.tag == q("presence") and e.get("type") == "error")
    check(error_of(e) == "jid-malformed", "join without nick", e)
    # a nick over the limit
    await join(b, "nicks", "x" * 200, expect="not-acceptable")
    del o


async def test_permission_errors(ctx):
    o = await new_room(ctx, "perm")
    a = await session(ctx, "amy")
    await join(a, "perm", "amy")
    # non-owner configures -> forbidden
    r = await configure(a, "perm", roomname="x")
    check(error_of(r) == "forbidden", "non-owner configure", r)
    r = await a.iq("get", "<query xmlns='%s'/>" % NS_MUC_OWNER, to="perm@" + SVC)
    check(error_of(r) == "forbidden", "non-owner form get", r)
    # non-admin bans -> forbidden
    r = await admin(a, "perm", "<item affiliation='outcast' jid='ben@localhost'/>")
    check(error_of(r) == "forbidden", "non-admin ban", r)
    # ban, then rejoin -> forbidden
    r = await admin(o, "perm", "<item affiliation='outcast' jid='amy@localhost'>"
                    "<reason>spam</reason></item>")
    check(r.get("type") == "result", "ban", r)
    u = await a.wait_for(is_presence(frm="perm@%s/amy" % SVC, type_="unavailable"))
    check(301 in codes(u), "301 on ban", u)
    await join(a, "perm", "amy", expect="forbidden")
    r = await admin(o, "perm", "<item affiliation='outcast'/>", type_="get")
    check([i.get("jid") for i in r.iter(q("item", NS_MUC_ADMIN))] == ["amy@localhost"],
          "outcast list", r)
    # the last owner cannot step down
    r = await admin(o, "perm", "<item affiliation='member' jid='owner@localhost'/>")
    check(error_of(r) == "conflict", "last owner", r)
    # bad requests
    r = await admin(o, "perm", "<item affiliation='king' jid='ben@localhost'/>")
    check(error_of(r) == "bad-request", "unknown affiliation", r)
    r = await admin(o, "perm", "<item role='none' nick='nobody'/>")
    check(error_of(r) == "item-not-found", "kick unknown nick", r)


async def test_members_only_password_full_moderated(ctx):
    o = await new_room(ctx, "mo", membersonly=1)
    b = await session(ctx, "ben")
    await join(b, "mo", "ben", expect="registration-required")
    r = await admin(o, "mo", "<item affiliation='member' jid='ben@localhost'/>")
    check(r.get("type") == "result", "add member", r)
    await join(b, "mo", "ben")
    r = await admin(b, "mo", "<item affiliation='member'/>", type_="get")
    check({i.get("jid") for i in r.iter(q("item", NS_MUC_ADMIN))} == {"ben@localhost"},
          "member list", r)
    # removing membership removes the occupant (321)
    r = await admin(o, "mo", "<item affiliation='none' jid='ben@localhost'/>")
    u = await b.wait_for(is_presence(frm="mo@%s/ben" % SVC, type_="unavailable"))
    check(321 in codes(u), "321", u)

    o2 = await new_room(ctx, "pw", passwordprotectedroom=1, roomsecret="s3cret")
    c = await session(ctx, "cat")
    await join(c, "pw", "cat", expect="not-authorized")
    await join(c, "pw", "cat", password="wrong", expect="not-authorized")
    await join(c, "pw", "cat", password="s3cret")
    r = await configure(o2, "pw", passwordprotectedroom=1, roomsecret="")
    check(error_of(r) == "bad-request", "password room without password", r)

    o3 = await new_room(ctx, "full", maxusers=2)
    d = await session(ctx, "dan")
    e = await session(ctx, "eve")
    await join(d, "full", "dan")
    await join(e, "full", "eve", expect="service-unavailable")
    r = await configure(o3, "full", maxusers=10 ** 9)
    check(error_of(r) == "bad-request", "maxusers over the limit", r)

    o4 = await new_room(ctx, "mod", moderatedroom=1)
    f = await session(ctx, "fay")
    el = await join(f, "mod", "fay")
    check(item(el).get("role") == "visitor", "visitor in moderated room", el)
    groupchat(f, "mod", "may I?")
    err = await f.wait_for(lambda e: e.tag == q("message") and e.get("type") == "error")
    check(error_of(err) == "forbidden", "visitor message", err)
    # voice granted by the moderator
    r = await admin(o4, "mod", "<item role='participant' nick='fay'/>")
    check(r.get("type") == "result", "grant voice", r)
    p = await f.wait_for(lambda e: is_presence(frm="mod@%s/fay" % SVC)(e) and
                         item(e).get("role") == "participant")
    groupchat(f, "mod", "now I can")
    await o4.wait_for(is_gc("mod", "fay", "now I can"))


async def test_kick_private_messages_subject(ctx):
    o = await new_room(ctx, "talk")
    a = await session(ctx, "amy")
    b = await session(ctx, "ben")
    await join(a, "talk", "amy")
    await join(b, "talk", "ben")
    # private message: from the sender's occupant JID, to the real JID
    a.send("<message to='talk@%s/ben' type='chat'><body>psst</body></message>" % SVC)
    m = await b.wait_for(is_message(frm="talk@%s/amy" % SVC, body="psst"))
    check(m.get("type") == "chat" and m.find(q("x", NS_MUC_USER)) is not None, "pm", m)
    a.send("<message to='talk@%s/nobody' type='chat'><body>x</body></message>" % SVC)
    e = await a.wait_for(lambda e: e.tag == q("message") and e.get("type") == "error")
    check(error_of(e) == "item-not-found", "pm to unknown nick", e)
    # subject: participants may not (default), the moderator may
    a.send("<message to='talk@%s' type='groupchat'><subject>mine</subject></message>" % SVC)
    e = await a.wait_for(lambda e: e.tag == q("message") and e.get("type") == "error")
    check(error_of(e) == "forbidden", "participant subject", e)
    o.send("<message to='talk@%s' type='groupchat'><subject>Agenda</subject></message>" % SVC)
    s = await a.wait_for(lambda e: is_gc("talk", "boss")(e) and e.find(q("subject")) is not None)
    check(s.find(q("subject")).text == "Agenda", "subject broadcast", s)
    # kick: 307 to the victim and the others; a participant cannot kick
    r = await admin(a, "talk", "<item role='none' nick='ben'/>")
    check(error_of(r) == "forbidden", "participant kicks", r)
    r = await admin(o, "talk", "<item role='none' nick='ben'><reason>bye</reason></item>")
    check(r.get("type") == "result", "kick", r)
    u = await b.wait_for(is_presence(frm="talk@%s/ben" % SVC, type_="unavailable"))
    check(codes(u) >= {307, 110}, "307 to the victim", u)
    check(item(u).find(q("reason", NS_MUC_USER)).text == "bye", "reason", u)
    u = await a.wait_for(is_presence(frm="talk@%s/ben" % SVC, type_="unavailable"))
    check(307 in codes(u), "307 to others", u)
    # the owner (admin affiliation) cannot be kicked by anyone
    r = await admin(o, "talk", "<item role='moderator' nick='amy'/>")
    check(r.get("type") == "result", "owner grants moderator", r)
    r = await admin(a, "talk", "<item role='none' nick='boss'/>")
    check(error_of(r) == "not-allowed", "kick the owner", r)


async def test_history_on_join(ctx):
    o = await new_room(ctx, "hist")
    for i in range(5):
        groupchat(o, "hist", "h%d" % i)
        await o.wait_for(is_gc("hist", "boss", "h%d" % i))
    o.send("<message to='hist@%s' type='groupchat'><subject>Topic</subject></message>" % SVC)
    await o.wait_for(lambda e: e.find(q("subject")) is not None)
    a = await session(ctx, "amy")
    await join(a, "hist", "amy", history=None)
    got = []
    while True:
        m = await a.wait_for(lambda e: e.tag == q("message"))
        if m.find(q("subject")) is not None and body_of(m) is None:
            check(m.find(q("subject")).text == "Topic", "subject after history", m)
            break
        d = m.find(q("delay", NS_DELAY))
        check(d is not None and d.get("from") == "hist@" + SVC and d.get("stamp"),
              "delay on history", m)
        check(m.get("to") == a.jid and m.get("from") == "hist@%s/boss" % SVC, "addresses", m)
        got.append(body_of(m))
    check(got == ["h0", "h1", "h2", "h3", "h4"], "history %s" % got)
    b = await session(ctx, "ben")
    await join(b, "hist", "ben", history=2)
    got = []
    while True:
        m = await b.wait_for(lambda e: e.tag == q("message"))
        if body_of(m) is None:
            break
        got.append(body_of(m))
    check(got == ["h3", "h4"], "maxstanzas=2: %s" % got)
    c = await session(ctx, "cat")
    await join(c, "hist", "cat", history=0)
    m = await c.wait_for(lambda e: e.tag == q("message"))
    check(body_of(m) is None and m.find(q("subject")) is not None, "maxstanzas=0: subject only", m)


async def test_invitations(ctx):
    o = await new_room(ctx, "inv", membersonly=1)
    g = await session(ctx, "gus", presence=True)  # invitations go to the bare JID
    o.send("<message to='inv@%s'><x xmlns='%s'><invite to='gus@localhost'><reason>join us"
           "</reason></invite></x></message>" % (SVC, NS_MUC_USER))
    m = await g.wait_for(lambda e: e.tag == q("message") and e.get("from") == "inv@" + SVC)
    inv = m.find(q("x", NS_MUC_USER)).find(q("invite", NS_MUC_USER))
    check(inv is not None and inv.get("from").startswith("owner@localhost/"), "invite", m)
    # the invitee became a member of the members-only room
    await join(g, "inv", "gus")
    # decline goes back to the inviter
    g.send("<message to='inv@%s'><x xmlns='%s'><decline to=%s><reason>busy</reason></decline>"
           "</x></message>" % (SVC, NS_MUC_USER, xattr(o.jid)))
    m = await o.wait_for(lambda e: e.tag == q("message") and e.find(q("x", NS_MUC_USER))
                         is not None and e.find(q("x", NS_MUC_USER)).find(
                             q("decline", NS_MUC_USER)) is not None)
    # XEP-0249 direct invitation: a plain user-to-user message
    h = await session(ctx, "hal", presence=True)
    o.send("<message to=%s><x xmlns='jabber:x:conference' jid='inv@%s' reason='hi'/></message>"
           % (xattr(h.jid), SVC))
    m = await h.wait_for(lambda e: e.tag == q("message") and
                         e.find(q("x", "jabber:x:conference")) is not None)
    check(m.find(q("x", "jabber:x:conference")).get("jid") == "inv@" + SVC, "direct invite", m)


async def test_self_ping_and_relay(ctx):
    o = await new_room(ctx, "ping")
    a = await session(ctx, "amy")
    r = await a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="ping@%s/amy" % SVC)
    check(error_of(r) == "not-acceptable", "self-ping when not joined", r)
    await join(a, "ping", "amy")
    r = await a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="ping@%s/amy" % SVC)
    check(r.get("type") == "result" and r.get("from") == "ping@%s/amy" % SVC, "self-ping", r)
    # a ping to another occupant is relayed to its client, and back
    a.send("<iq type='get' id='rp1' to='ping@%s/boss'><ping xmlns='urn:xmpp:ping'/></iq>" % SVC)
    req = await o.wait_for(lambda e: e.tag == q("iq") and e.get("id") == "rp1")
    check(req.get("from") == "ping@%s/amy" % SVC, "relayed from occupant JID", req)
    o.send("<iq type='result' id='rp1' to='ping@%s/amy'/>" % SVC)
    res = await a.wait_for(lambda e: e.tag == q("iq") and e.get("id") == "rp1")
    check(res.get("type") == "result" and res.get("from") == "ping@%s/boss" % SVC, "answer", res)


async def test_disconnect_removes_occupant(ctx):
    o = await new_room(ctx, "ghost")
    a = await session(ctx, "amy")
    await join(a, "ghost", "amy")
    await o.wait_for(is_presence(frm="ghost@%s/amy" % SVC))
    a.abort()
    u = await o.wait_for(is_presence(frm="ghost@%s/amy" % SVC, type_="unavailable"), timeout=10)
    a = await session(ctx, "amy")
    await join(a, "ghost", "amy")  # the nick is free again


async def test_disco_and_destroy(ctx):
    o = await new_room(ctx, "disco", roomname="Disco Room", roomdesc="About things")
    await new_room(ctx, "hidden", publicroom=0)
    r = await o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=SVC)
    ident = r.find(q("query", NS_DISCO_INFO)).find(q("identity", NS_DISCO_INFO))
    check(ident.get("category") == "conference" and ident.get("type") == "text", "identity", r)
    feats = {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))}
    check(NS_MUC in feats, "muc feature", r)
    r = await o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to=SVC)
    jids = {i.get("jid") for i in r.iter(q("item", NS_DISCO_ITEMS))}
    check("disco@" + SVC in jids and "hidden@" + SVC not in jids, "public rooms %s" % jids, r)
    r = await o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="disco@" + SVC)
    feats = {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))}
    for f in ("muc_public", "muc_open", "muc_unmoderated", "muc_temporary", "muc_semianonymous",
              "muc_unsecured", NS_SID, "http://jabber.org/protocol/muc#self-ping-optimization"):
        check(f in feats, "room feature %s" % f, r)
    fields = {f.get("var"): f.findtext(q("value", NS_DATA)) for f in r.iter(q("field", NS_DATA))}
    check(fields.get("muc#roominfo_occupants") == "1" and
          fields.get("muc#roominfo_description") == "About things", "roominfo %s" % fields, r)
    # the form has the fields
    r = await o.iq("get", "<query xmlns='%s'/>" % NS_MUC_OWNER, to="disco@" + SVC)
    vars_ = {f.get("var") for f in r.iter(q("field", NS_DATA))}
    for v in ("muc#roomconfig_roomname", "muc#roomconfig_persistentroom",
              "muc#roomconfig_membersonly", "muc#roomconfig_whois", "muc#roomconfig_maxusers"):
        check(v in vars_, "form field %s" % v, r)
    # unknown room
    r = await o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="nosuch@" + SVC)
    check(error_of(r) == "item-not-found", "disco of a missing room", r)
    # destroy
    a = await session(ctx, "amy")
    await join(a, "disco", "amy")
    r = await o.iq("set", "<query xmlns='%s'><destroy jid='other@%s'><reason>done</reason>"
                   "</destroy></query>" % (NS_MUC_OWNER, SVC), to="disco@" + SVC)
    check(r.get("type") == "result", "destroy", r)
    u = await a.wait_for(is_presence(frm="disco@%s/amy" % SVC, type_="unavailable"))
    d = u.find(q("x", NS_MUC_USER)).find(q("destroy", NS_MUC_USER))
    check(d is not None and d.get("jid") == "other@" + SVC, "destroy element", u)
    r = await o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="disco@" + SVC)
    check(error_of(r) == "item-not-found", "destroyed room is gone", r)


async def mam_page(c, room, max_, after=None, before=None):
    rsm = "<max>%d</max>" % max_
    if after:
        rsm += "<after>%s</after>" % after
    if before is not None:
        rsm += "<before>%s</before>" % before
    qid = new_id("q")
    c.send("<iq type='set' id='%s' to='%s@%s'><query xmlns='%s' queryid='%s'>"
           "<set xmlns='%s'>%s</set></query></iq>" % (qid, room, SVC, NS_MAM, qid, NS_RSM, rsm))
    items = []
    while True:
        el = await c.wait_for(lambda e: (e.tag == q("message") and e.find(q("result", NS_MAM))
                                         is not None) or (e.tag == q("iq") and e.get("id") == qid))
        if el.tag == q("iq"):
            return items, el
        res = el.find(q("result", NS_MAM))
        check(res.get("queryid") == qid and el.get("from") == "%s@%s" % (room, SVC), "result", el)
        m = res.find(q("forwarded", NS_FORWARD)).find(q("message"))
        items.append((res.get("id"), body_of(m), m.get("from")))


async def test_room_archive_and_persistence(ctx):
    o = await new_room(ctx, "keep", persistentroom=1, roomname="Kept", membersonly=0)
    a = await session(ctx, "amy")
    await join(a, "keep", "amy")
    ids = []
    for i in range(25):
        groupchat(a, "keep", "k%02d" % i)
        m = await a.wait_for(is_gc("keep", "amy", "k%02d" % i))
        ids.append(m.find(q("stanza-id", NS_SID)).get("id"))
    o.send("<message to='keep@%s' type='groupchat'><subject>Kept topic</subject></message>" % SVC)
    await o.wait_for(lambda e: e.find(q("subject")) is not None)
    r = await admin(o, "keep", "<item affiliation='member' jid='ben@localhost'/>")
    r = await admin(o, "keep", "<item affiliation='outcast' jid='cat@localhost'/>")
    # archive: paging forwards and backwards
    items, fin = await mam_page(a, "keep", 10)
    check([b for _, b, _ in items] == ["k%02d" % i for i in range(10)], "first page", fin)
    check([i for i, _, _ in items] == ids[:10], "archive ids are the stanza-ids", fin)
    f = fin.find(q("fin", NS_MAM))
    check(f.get("complete") != "true" and f.find(q("set", NS_RSM)).findtext(q("count", NS_RSM))
          == "25", "count", fin)
    items, fin = await mam_page(a, "keep", 10, after=ids[19])
    check([b for _, b, _ in items] == ["k%02d" % i for i in range(20, 25)], "after", fin)
    check(fin.find(q("fin", NS_MAM)).get("complete") == "true", "complete", fin)
    items, fin = await mam_page(a, "keep", 3, before="")
    check([b for _, b, _ in items] == ["k22", "k23", "k24"], "last page", fin)
    check(items[0][2] == "keep@%s/amy" % SVC, "from occupant JID", fin)
    # outcasts may not read it
    c = await session(ctx, "cat")
    _, fin = await mam_page(c, "keep", 5)
    check(error_of(fin) == "forbidden", "outcast reads archive", fin)
    r = await a.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="keep@" + SVC)
    feats = {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))}
    check("muc_persistent" in feats and NS_MAM in feats, "persistent, archived", r)

    # restart: the room, its subject, affiliations, history and archive stay
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ctx.server.restart)
    b = await session(ctx, "ben")
    el = await join(b, "keep", "ben", history=3)
    check(170 in codes(el), "170: logged room", el)
    got = []
    while True:
        m = await b.wait_for(lambda e: e.tag == q("message"))
        if body_of(m) is None:
            check(m.find(q("subject")).text == "Kept topic", "subject kept", m)
            break
        got.append(body_of(m))
    check(got == ["k22", "k23", "k24"], "history from the archive: %s" % got)
    c = await session(ctx, "cat")
    await join(c, "keep", "cat", expect="forbidden")
    items, fin = await mam_page(b, "keep", 30)
    check(len(items) == 25, "archive after restart", fin)
    o = await session(ctx, "owner")
    r = await o.iq("get", "<query xmlns='%s'/>" % NS_MUC_OWNER, to="keep@" + SVC)
    fields = {f.get("var"): f.findtext(q("value", NS_DATA)) for f in r.iter(q("field", NS_DATA))}
    check(fields.get("muc#roomconfig_roomname") == "Kept" and
          fields.get("muc#roomconfig_persistentroom") == "1", "config kept %s" % fields, r)
    r = await o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to=SVC)
    jids = {i.get("jid") for i in r.iter(q("item", NS_DISCO_ITEMS))}
    check("keep@" + SVC in jids, "stored room listed", r)
    # a temporary room is gone after a restart
    r = await o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="bench@" + SVC)
    check(error_of(r) == "item-not-found", "temporary room gone", r)


async def test_slixmpp_plugin(ctx):
    """Debian's slixmpp xep_0045 plugin: join with history, config form
    round trip, affiliation list, groupchat, XEP-0249 direct invitation."""
    o = await new_room(ctx, "slix")
    groupchat(o, "slix", "before")
    await o.wait_for(is_gc("slix", "boss", "before"))
    c = await ctx.client("ivy@localhost", "s", presence=True)
    for p in ("xep_0004", "xep_0045", "xep_0249"):
        c.x.register_plugin(p)
    muc = c.x["xep_0045"]
    pres, subject, occupants, history = await muc.join_muc_wait(
        "slix@" + SVC, "ivy", maxstanzas=5, timeout=10)
    check(pres["muc"]["role"] == "participant", "slixmpp self-presence %s" % pres)
    check([m["body"] for m in history] == ["before"], "slixmpp history %r" % history)
    check("boss" in [p["muc"]["nick"] for p in occupants], "slixmpp occupants %r" % occupants)
    # the owner's slixmpp view of the configuration form
    w = await ctx.client("owner@localhost", "s2", presence=True)
    for p in ("xep_0004", "xep_0045"):
        w.x.register_plugin(p)
    form = await w.x["xep_0045"].get_room_config("slix@" + SVC)
    check("muc#roomconfig_persistentroom" in form.get_fields(), "slixmpp form fields")
    await w.x["xep_0045"].set_affiliation("slix@" + SVC, "member", jid="jon@localhost")
    members = await w.x["xep_0045"].get_affiliation_list("slix@" + SVC, "member")
    check([str(j) for j in members] == ["jon@localhost"], "slixmpp member list %r" % members)
    c.x.send_message(mto="slix@" + SVC, mbody="from slixmpp", mtype="groupchat")
    await o.wait_for(is_gc("slix", "ivy", "from slixmpp"))
    # XEP-0249 direct invitation between users, untouched
    j = await session(ctx, "jon")
    c.x["xep_0249"].send_invitation(j.jid, "slix@" + SVC, reason="come")
    m = await j.wait_for(lambda e: e.tag == q("message") and
                         e.find(q("x", "jabber:x:conference")) is not None)
    check(m.find(q("x", "jabber:x:conference")).get("jid") == "slix@" + SVC, "xep-0249", m)


class _Bodies:
    """Reads a signed-in RawClient's socket without parsing (a large room
    sends every joiner the presence of everyone) and collects the bodies
    'fan-NNN' in the order they arrive."""

    def __init__(self, c):
        self.c = c
        self.buf = b""
        self.joined = asyncio.Event()
        self.got = []
        self.changed = asyncio.Event()

    async def run(self):
        import re
        pat = re.compile(rb"<body>(fan-\d+)</body>")
        while True:
            data = await self.c.reader.read(1 << 16)
            if not data:
                return
            self.buf += data
            if not self.joined.is_set() and b"code='110'" in self.buf:
                self.joined.set()
            last = 0
            for mt in pat.finditer(self.buf):
                self.got.append(mt.group(1).decode())
                last = mt.end()
            self.buf = self.buf[max(last, len(self.buf) - 64):]
            self.changed.set()


@options(timeout=120)
async def test_large_room_chunked_fanout(ctx):
    """More occupants than one broadcast chunk (500): every occupant gets
    every message exactly once and in order, the sender included; another
    client is answered while the broadcast runs."""
    n = 620
    owner = await new_room(ctx, "big", owner="kim", nick="kim")
    readers, sem = [], asyncio.Semaphore(40)

    async def one(i):
        async with sem:
            c = await ctx.raw_session("lea@localhost", "f%d" % i)
            b = _Bodies(c)
            b.nick = "n%d" % i
            readers.append(b)
            asyncio.ensure_future(b.run())
            c.send("<presence to='big@%s/n%d'><x xmlns='%s'><history maxstanzas='0'/></x>"
                   "</presence>" % (SVC, i, NS_MUC))
            await asyncio.wait_for(b.joined.wait(), 60)

    await asyncio.gather(*(one(i) for i in range(n)))
    sender = readers[0]
    want = ["fan-%03d" % j for j in range(30)]
    sender.c.send("".join("<message to='big@%s' type='groupchat'><body>%s</body></message>"
                          % (SVC, b) for b in want))
    other = await session(ctx, "max")
    await other.ping_server(timeout=10)
    deadline = asyncio.get_running_loop().time() + 60
    while any(len(r.got) < len(want) for r in readers):
        check(asyncio.get_running_loop().time() < deadline,
              "fan-out incomplete: %d of %d occupants done" %
              (sum(len(r.got) >= len(want) for r in readers), n))
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    for r in readers:
        check(r.got == want, "%s got %s" % (r.c.label, r.got[:5]))
    m = await owner.wait_for(is_gc("big", sender.nick, "fan-029"), timeout=10)


NS_SM = "urn:xmpp:sm:3"


async def test_stream_management_keeps_groupchat(ctx):
    """Groupchat copies written raw by the fan-out are counted and kept by
    XEP-0198: unacknowledged ones come back on resumption, and one sent
    while the connection is gone is queued for it."""
    o = await new_room(ctx, "smroom", owner="ned", nick="ned")
    a = await ctx.raw_session("oli@localhost", "phone", presence=True)
    a.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    en = await a.wait_for(lambda e: e.tag == q("enabled", NS_SM), what="<enabled/>")
    await join(a, "smroom", "oli")
    groupchat(o, "smroom", "g1")
    await a.wait_for(is_gc("smroom", "ned", "g1"))
    a.abort()
    await o.wait_for(is_gc("smroom", "ned", "g1"))
    await asyncio.sleep(0.2)
    groupchat(o, "smroom", "g2")
    await o.wait_for(is_gc("smroom", "ned", "g2"))
    await asyncio.sleep(0.2)
    n = await ctx.raw(label="raw:oli-resumed")
    await n.secure()
    await n.auth_scram("oli", ACCOUNTS["oli@localhost"])
    await n.open()
    n.send("<resume xmlns='%s' h='0' previd='%s'/>" % (NS_SM, en.get("id")))
    el = await n.wait_for(lambda e: e.tag in (q("resumed", NS_SM), q("failed", NS_SM)))
    check(el.tag == q("resumed", NS_SM), "resume", el)
    got = []
    while len(got) < 2:
        m = await n.wait_for(is_gc("smroom", "ned"))
        got.append(body_of(m))
    check(got == ["g1", "g2"], "groupchat after resumption %r" % got)
    # still an occupant: the room did not see the cut connection
    groupchat(n, "smroom", "back")
    await o.wait_for(is_gc("smroom", "oli", "back"))


@options(config={"muc": {"max_rooms_per_user": 2, "max_occupants": 50}})
async def test_limits(ctx):
    """Hostile or careless input gets clear errors: room quota per user,
    subject, reason and nick lengths, maxusers above the server's limit,
    and a broken form."""
    c = await session(ctx, "pam")
    await join(c, "q1", "p")
    await join(c, "q2", "p")
    el = await join(c, "q3", "p", expect="resource-constraint")
    # leaving a room frees its slot in the quota
    c.send("<presence to='q2@%s/p' type='unavailable'/>" % SVC)
    await c.wait_for(is_presence(frm="q2@%s/p" % SVC, type_="unavailable"))
    await join(c, "q3", "p")
    await instant(c, "q3")
    c.send("<message to='q3@%s' type='groupchat'><subject>%s</subject></message>"
           % (SVC, "s" * 2000))
    e = await c.wait_for(lambda e: e.tag == q("message") and e.get("type") == "error")
    check(error_of(e) == "not-acceptable", "subject too long", e)
    r = await admin(c, "q3", "<item affiliation='member' jid='rob@localhost'><reason>%s</reason>"
                    "</item>" % ("r" * 600))
    check(error_of(r) == "not-acceptable", "reason too long", r)
    r = await configure(c, "q3", maxusers=51)
    check(error_of(r) == "bad-request", "maxusers above [muc] max_occupants", r)
    r = await configure(c, "q3", persistentroom="maybe")
    check(error_of(r) == "bad-request", "not a boolean", r)
    r = await c.iq("set", "<query xmlns='%s'><x xmlns='%s' type='form'/></query>"
                   % (NS_MUC_OWNER, NS_DATA), to="q3@" + SVC)
    check(error_of(r) == "bad-request", "form of the wrong type", r)
    # groupchat to an occupant JID, chat to the room: bad-request
    c.send("<message to='q3@%s/p' type='groupchat'><body>x</body></message>" % SVC)
    e = await c.wait_for(lambda e: e.tag == q("message") and e.get("type") == "error")
    check(error_of(e) == "bad-request", "groupchat to an occupant", e)
    c.send("<message to='q3@%s' type='chat'><body>x</body></message>" % SVC)
    e = await c.wait_for(lambda e: e.tag == q("message") and e.get("type") == "error")
    check(error_of(e) == "bad-request", "chat to the room", e)
    # the service itself
    r = await c.iq("get", "<query xmlns='jabber:iq:version'/>", to=SVC)
    check(error_of(r) == "service-unavailable", "unknown IQ to the service", r)


async def until(c, pred, what="a matching stanza"):
    """Reads up to the first element matching pred; returns (it, what came before)."""
    before = []
    while True:
        el = await c.element(what=what)
        if pred(el):
            return el, before
        before.append(el)


def presences_from(els, room, nicks):
    jids = {"%s@%s/%s" % (room, SVC, n) for n in nicks}
    return [e for e in els if e.tag == q("presence") and e.get("from") in jids]


async def pb_form(c, room):
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_MUC_OWNER, to="%s@%s" % (room, SVC))
    check(r.get("type") == "result", "config form", r)
    for f in r.iter(q("field", NS_DATA)):
        if f.get("var") == "muc#roomconfig_presencebroadcast":
            check(f.get("type") == "list-multi", "list-multi", r)
            opts = {o.findtext(q("value", NS_DATA)) for o in f.findall(q("option", NS_DATA))}
            check(opts == {"moderator", "participant", "visitor"}, "options %s" % opts, r)
            return sorted(v.text or "" for v in f.findall(q("value", NS_DATA)))
    raise AssertionError("no presencebroadcast field in %s" % r)


async def configure_pb(c, room, roles):
    values = "".join("<value>%s</value>" % xesc(v) for v in roles)
    return await c.iq("set", "<query xmlns='%s'><x xmlns='%s' type='submit'>"
                      "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig"
                      "</value></field><field var='muc#roomconfig_presencebroadcast'>%s</field>"
                      "</x></query>" % (NS_MUC_OWNER, NS_DATA, values), to="%s@%s" % (room, SVC))


async def test_presence_broadcast(ctx):
    """muc#roomconfig_presencebroadcast (XEP-0045 §15.5.3): in a room that
    broadcasts moderators only, participants get the moderator's presence
    and their own (110), never each other's, nor does anyone get theirs;
    messages reach everyone; role changes across the line show or hide
    the occupant, and so does a new configuration; the form round-trips
    the field (a restart keeps it); values other than the roles are
    refused; the room info counts everyone."""
    room = "chan"
    o = await new_room(ctx, room, persistentroom=1)
    check(await pb_form(o, room) == ["moderator", "participant", "visitor"], "default: all")
    r = await configure(o, room, presencebroadcast="moderator")
    check(r.get("type") == "result", "configure moderator only", r)
    check(await pb_form(o, room) == ["moderator"], "form shows moderator only")
    for bad in (["owner"], ["moderator", "none"], ["Participant"]):
        r = await configure_pb(o, room, bad)
        check(error_of(r) == "bad-request", "invalid value %s refused" % bad, r)
    check(await pb_form(o, room) == ["moderator"], "a refused form changed nothing")

    a = await session(ctx, "amy")
    b = await session(ctx, "ben")
    boss = "%s@%s/boss" % (room, SVC)

    async def joined(c, nick):
        jid = "%s@%s/%s" % (room, SVC, nick)
        c.send("<presence to=%s><x xmlns='%s'><history maxstanzas='0'/></x></presence>"
               % (xattr(jid), NS_MUC))
        el, before = await until(c, lambda e: e.tag == q("presence") and e.get("from") == jid
                                 and (110 in codes(e) or e.get("type") == "error"), "self")
        check(el.get("type") != "error" and item(el).get("role") == "participant",
              "%s joins as participant" % nick, el)
        return before

    async def sync(tag):
        """The owner speaks; returns what o, a, b each got before it."""
        groupchat(o, room, tag)
        got = []
        for c in (o, a, b):
            _, before = await until(c, is_gc(room, "boss", tag), "sync " + tag)
            got.append(before)
        return got

    before = await joined(a, "amy")
    check([e.get("from") for e in before if e.tag == q("presence")] == [boss],
          "amy gets the moderator's presence only", before)
    before = await joined(b, "ben")
    check([e.get("from") for e in before if e.tag == q("presence")] == [boss],
          "ben gets the moderator's presence, not amy's", before)
    got = await sync("s1")
    for who, els in zip("oab", got):
        check(not presences_from(els, room, ["amy", "ben"]), "%s: no participant joins" % who, els)

    # messages reach everyone, and a presence change stays with its sender
    groupchat(a, room, "from amy")
    for c in (o, a, b):
        await c.wait_for(is_gc(room, "amy", "from amy"))
    a.send("<presence to='%s@%s/amy'><show>away</show></presence>" % (room, SVC))
    el = await a.wait_for(is_presence(frm="%s@%s/amy" % (room, SVC)))
    check(110 in codes(el) and el.findtext(q("show")) == "away", "self copy of a change", el)
    got = await sync("s2")
    check(not presences_from(got[0] + got[2], room, ["amy"]), "amy's change not broadcast", got)

    # a role change across the line: amy appears as moderator, then leaves
    # the others' view as unavailable when she is a participant again
    r = await admin(o, room, "<item nick='amy' role='moderator'/>")
    check(r.get("type") == "result", "grant moderator", r)
    for c in (o, b):
        el = await c.wait_for(is_presence(frm="%s@%s/amy" % (room, SVC), type_="*"))
        check(el.get("type") is None and item(el).get("role") == "moderator" and
              el.findtext(q("show")) == "away", "amy shown as moderator", el)
    el = await a.wait_for(is_presence(frm="%s@%s/amy" % (room, SVC)))
    check(110 in codes(el) and item(el).get("role") == "moderator", "amy told", el)
    r = await admin(o, room, "<item nick='amy' role='participant'/>")
    check(r.get("type") == "result", "revoke moderator", r)
    for c in (o, b):
        el = await c.wait_for(is_presence(frm="%s@%s/amy" % (room, SVC), type_="*"))
        check(el.get("type") == "unavailable", "amy hidden again", el)
    el = await a.wait_for(is_presence(frm="%s@%s/amy" % (room, SVC), type_="*"))
    check(el.get("type") is None and 110 in codes(el) and item(el).get("role") == "participant",
          "amy told of her role", el)
    got = await sync("s3")
    check(not presences_from(got[0] + got[2], room, ["amy", "ben"]), "nothing more", got)

    # everyone is counted in the room info
    r = await o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="%s@%s" % (room, SVC))
    fields = {f.get("var"): f.findtext(q("value", NS_DATA)) for f in r.iter(q("field", NS_DATA))}
    check(fields.get("muc#roominfo_occupants") == "3", "occupants counted %s" % fields, r)

    # leaving: only the leaver hears of it
    a.send("<presence to='%s@%s/amy' type='unavailable'/>" % (room, SVC))
    el = await a.wait_for(is_presence(frm="%s@%s/amy" % (room, SVC), type_="unavailable"))
    check(110 in codes(el), "self unavailable", el)
    groupchat(o, room, "s4")
    for c in (o, b):
        _, before = await until(c, is_gc(room, "boss", "s4"), "sync s4")
        check(not presences_from(before, room, ["amy"]), "amy's leave not broadcast", before)

    # broadcasting participants again: ben enters the others' view
    r = await configure_pb(o, room, ["participant", "moderator"])
    check(r.get("type") == "result", "configure participants too", r)
    el = await o.wait_for(is_presence(frm="%s@%s/ben" % (room, SVC), type_="*"))
    check(el.get("type") is None and item(el).get("role") == "participant", "ben shown", el)
    check(await pb_form(o, room) == ["moderator", "participant"], "form after change")
    c = await session(ctx, "cat")
    jid = "%s@%s/cat" % (room, SVC)
    c.send("<presence to=%s><x xmlns='%s'/></presence>" % (xattr(jid), NS_MUC))
    _, before = await until(c, lambda e: e.tag == q("presence") and 110 in codes(e), "cat joins")
    seen = sorted(e.get("from") for e in before if e.tag == q("presence"))
    check(seen == sorted([boss, "%s@%s/ben" % (room, SVC)]), "cat sees boss and ben %s" % seen)
    await b.wait_for(is_presence(frm=jid))

    # no participants again, nobody at all: an empty list is allowed
    r = await configure_pb(o, room, [])
    check(r.get("type") == "result", "configure nobody", r)
    for who in ("ben", "cat"):
        el = await o.wait_for(is_presence(frm="%s@%s/%s" % (room, SVC, who), type_="*"))
        check(el.get("type") == "unavailable", "%s hidden" % who, el)
    el = await b.wait_for(is_presence(frm=boss, type_="*"))
    check(el.get("type") == "unavailable", "the owner hidden too", el)
    check(await pb_form(o, room) == [], "form: empty list")
    r = await configure_pb(o, room, ["moderator"])
    check(r.get("type") == "result", "configure moderator only again", r)

    # the stored configuration keeps the field
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ctx.server.restart)
    o = await session(ctx, "owner")
    check(await pb_form(o, room) == ["moderator"], "kept across a restart")

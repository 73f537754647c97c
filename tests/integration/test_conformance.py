"""Conformance defects a peer server's scripted conversations found (issue
19): roster removal presence (RFC 6121 §3.2.2), MUC subject rules, the
subject after a room's creation and exit status (XEP-0045 §8.1, §7.2.15,
§7.14), a room secret without the protection flag, disco#info nodes
(XEP-0030, XEP-0045 §7.2.4), PubSub forms with fields the server does not
know (XEP-0004, XEP-0060 §16.4.4), and xml:lang stamping (RFC 6120 §4.7.4).

XEP-0012, XEP-0157 and MUC nick registration: test_small_services.py."""
import asyncio

from harness import (NS_ROSTER, RawClient, STREAM_HEADER, XClient, bare, check, is_presence,
                     new_id, q, xattr, xesc)

from test_muc import SVC, NS_MUC, NS_MUC_USER, NS_DATA, codes, configure, error_of, join, instant
from test_pep import NS_PUBSUB, NS_OWNER, NS_EVENT, befriend, event_items, ok, publish

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_MUC_OWNER = NS_MUC + "#owner"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
PUBSUB = "pubsub.localhost"

NAMES = ["rema", "remb", "rembx", "sub_o", "sub_a", "sub_b", "cre_o", "cre_s", "ex_a", "ex_b",
         "sec_o", "sec_x", "dn_o", "dn_x", "ps_o", "ps_s", "lang_a", "lang_b", "lang_c"]
ACCOUNTS = {n + "@localhost": "pw-" + n for n in NAMES}


def room_jid(room):
    return "%s@%s" % (room, SVC)


async def raw(ctx, name, presence=False):
    return await ctx.raw_session(name + "@localhost", "r" + new_id(), presence=presence)


def subject_of(el):
    s = el.find(q("subject"))
    return None if s is None else (s.text or "")


def is_subject(room, text=None):
    return lambda e: (e.tag == q("message") and bare(e.get("from") or "") == room_jid(room)
                      and e.find(q("subject")) is not None and e.find(q("body")) is None
                      and e.find(q("thread")) is None
                      and (text is None or subject_of(e) == text))


# ---- 1. RFC 6121 §3.2.2: roster removal also sends unavailable ---------------

async def test_roster_remove_sends_unavailable(ctx):
    """Removing a contact with a mutual subscription: the contact gets
    unsubscribe, unsubscribed and then unavailable from each of the user's
    available resources (as an explicit <unsubscribed/> already does)."""
    a = await raw(ctx, "rema", presence=True)
    a2 = await raw(ctx, "rema", presence=True)
    b = await raw(ctx, "remb", presence=True)
    bystander = await raw(ctx, "rembx", presence=True)
    await befriend(a, b)
    await befriend(a, bystander)
    avail = set()
    while avail != {a.jid, a2.jid}:
        el = await b.wait_for(is_presence(frm="rema@localhost", bare_from=True),
                              what="rema's resources available (have %s)" % avail)
        avail.add(el.get("from"))
    r = await a.iq("set", "<query xmlns='%s'><item jid='remb@localhost' subscription='remove'/>"
                   "</query>" % NS_ROSTER)
    check(r.get("type") == "result", "roster remove", r)
    seen = []
    want = {("unsubscribe", "rema@localhost"), ("unsubscribed", "rema@localhost"),
            ("unavailable", a.jid), ("unavailable", a2.jid)}
    while not want <= set(seen):
        el = await b.wait_for(lambda e: e.tag == q("presence") and bare(e.get("from") or "") ==
                              "rema@localhost", what="presence from rema after the removal "
                              "(have %s)" % seen)
        seen.append((el.get("type"), el.get("from")))
    # nothing of the user's presence reaches the contact any more; the
    # bystander (still subscribed) does get it
    a.send("<presence><status>after removal</status></presence>")
    await bystander.wait_for(is_presence(frm=a.jid), what="presence to the remaining contact")
    await b.quiet(0.4, lambda e: e.tag == q("presence") and e.get("from") == a.jid
                  and e.get("type") is None)


# ---- 2. XEP-0045 §8.1: subject + thread (no body) is not a subject change ----

async def test_muc_subject_with_thread_is_a_message(ctx):
    o = await raw(ctx, "sub_o")
    await join(o, "subj", "boss")
    await instant(o, "subj")
    o.send("<message to='%s' type='groupchat'><subject>Real topic</subject></message>"
           % room_jid("subj"))
    await o.wait_for(is_subject("subj", "Real topic"), what="subject change reflected")
    a = await raw(ctx, "sub_a")
    await join(a, "subj", "amy")
    el = await a.wait_for(is_subject("subj"), what="subject on join")
    check(subject_of(el) == "Real topic", "joiner sees the subject", el)
    # a threaded message that carries a subject line but no body
    a.send("<message to='%s' type='groupchat' id='t1'><subject>Re: lunch</subject>"
           "<thread>th-1</thread></message>" % room_jid("subj"))
    el = await o.wait_for(lambda e: e.tag == q("message") and e.get("id") == "t1",
                          what="the threaded message passed on")
    check(el.findtext(q("thread")) == "th-1", "thread kept", el)
    # the same from a moderator, who may change the subject
    o.send("<message to='%s' type='groupchat' id='t2'><subject>Re: dinner</subject>"
           "<thread>th-2</thread></message>" % room_jid("subj"))
    await a.wait_for(lambda e: e.tag == q("message") and e.get("id") == "t2",
                     what="the moderator's threaded message passed on")
    b = await raw(ctx, "sub_b")
    await join(b, "subj", "ben")
    el = await b.wait_for(is_subject("subj"), what="subject on join")
    check(subject_of(el) == "Real topic",
          "a <subject/> with <thread/> changed the room's subject to %r" % subject_of(el), el)
    r = await b.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=room_jid("subj"))
    vals = {f.get("var"): f.findtext(q("value", NS_DATA)) for f in r.iter(q("field", NS_DATA))}
    check(vals.get("muc#roominfo_subject") == "Real topic", "roominfo subject", r)
    # a bare subject message (what clients send) still changes it
    o.send("<message to='%s' type='groupchat'><subject>New topic</subject></message>"
           % room_jid("subj"))
    await b.wait_for(is_subject("subj", "New topic"), what="subject change")


# ---- 3. XEP-0045 §7.2.15: the creator gets the (empty) subject too -----------

async def test_muc_creator_gets_empty_subject(ctx):
    o = await raw(ctx, "cre_o")
    el = await join(o, "fresh", "boss")
    check(201 in codes(el), "201", el)
    m = await o.wait_for(lambda e: e.tag == q("message"), what="the subject after the "
                         "self-presence of a new room")
    check(is_subject("fresh")(m) and subject_of(m) == "", "an empty <subject/>", m)
    await instant(o, "fresh")
    # slixmpp's join_muc_wait only returns once the subject came
    s = XClient(ctx.server, "cre_s@localhost/slix", ctx.password("cre_s@localhost"))
    s.x.register_plugin("xep_0045")
    ctx._clients.append(s)
    await s.start()
    try:
        pres, subject, occupants, history = await asyncio.wait_for(
            s.x["xep_0045"].join_muc_wait(room_jid("slixnew"), "me", maxstanzas=0), 5)
    except asyncio.TimeoutError:
        check(False, "slixmpp's join_muc_wait on a new room never completed (no subject)")
    check(201 in {int(c) for c in pres["muc"]["status_codes"]}, "201 for slixmpp", pres)
    check(subject["subject"] == "", "empty subject for slixmpp", subject)


# ---- 4. XEP-0045 §7.14: the exit status goes to the others ------------------

async def test_muc_exit_status_passed_on(ctx):
    o = await raw(ctx, "ex_a")
    await join(o, "exit", "boss")
    await instant(o, "exit")
    b = await raw(ctx, "ex_b")
    await join(b, "exit", "ben")
    await o.wait_for(is_presence(frm=room_jid("exit") + "/ben"), what="ben joins")
    b.send("<presence to='%s/ben' type='unavailable'><status>Gone to lunch</status></presence>"
           % room_jid("exit"))
    el = await o.wait_for(is_presence(frm=room_jid("exit") + "/ben", type_="unavailable"),
                          what="ben leaves")
    check(el.findtext(q("status")) == "Gone to lunch", "exit status passed on", el)
    el = await b.wait_for(is_presence(frm=room_jid("exit") + "/ben", type_="unavailable"),
                          what="own exit")
    check(110 in codes(el), "110 on own exit", el)
    # a kick carries no stale status
    await join(b, "exit", "ben")
    b.send("<presence to='%s/ben'><status>back</status></presence>" % room_jid("exit"))
    await o.wait_for(lambda e: is_presence(frm=room_jid("exit") + "/ben")(e)
                     and e.findtext(q("status")) == "back", what="status update")
    r = await o.iq("set", "<query xmlns='%s#admin'><item nick='ben' role='none'/></query>"
                   % NS_MUC, to=room_jid("exit"))
    check(r.get("type") == "result", "kick", r)
    el = await o.wait_for(is_presence(frm=room_jid("exit") + "/ben", type_="unavailable"),
                          what="kick")
    check(307 in codes(el) and el.find(q("status")) is None, "kick without status", el)


# ---- 5. roomsecret without passwordprotectedroom ----------------------------

def form_values(r):
    return {f.get("var"): [v.text or "" for v in f.findall(q("value", NS_DATA))]
            for f in r.iter(q("field", NS_DATA))}


async def room_features(c, room):
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=room_jid(room))
    return {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))}


async def test_muc_roomsecret_turns_protection_on(ctx):
    o = await raw(ctx, "sec_o")
    await join(o, "sec", "boss")
    r = await configure(o, "sec", roomsecret="s3cret")
    check(r.get("type") == "result", "configure with only a secret", r)
    x = await raw(ctx, "sec_x")
    await join(x, "sec", "x", expect="not-authorized")
    await join(x, "sec", "x", password="wrong", expect="not-authorized")
    await join(x, "sec", "x", password="s3cret")
    feats = await room_features(x, "sec")
    check("muc_passwordprotected" in feats and "muc_unsecured" not in feats, "disco: protected")
    r = await o.iq("get", "<query xmlns='%s'/>" % NS_MUC_OWNER, to=room_jid("sec"))
    vals = form_values(r)
    check(vals["muc#roomconfig_passwordprotectedroom"] == ["1"], "the form shows protection", r)
    x.send("<presence to='%s/x' type='unavailable'/>" % room_jid("sec"))
    # Turning protection off (the whole form back, flag 0, same secret)
    # clears the secret: the room is open and says so.
    fields = "".join("<field var=%s>%s</field>" % (xattr(k), "".join(
        "<value>%s</value>" % xesc(v) for v in vs)) for k, vs in vals.items()
        if k != "muc#roomconfig_passwordprotectedroom")
    fields += ("<field var='muc#roomconfig_passwordprotectedroom'><value>0</value></field>")
    r = await o.iq("set", "<query xmlns='%s'><x xmlns='%s' type='submit'>%s</x></query>"
                   % (NS_MUC_OWNER, NS_DATA, fields), to=room_jid("sec"))
    check(r.get("type") == "result", "protection off", r)
    feats = await room_features(x, "sec")
    check("muc_unsecured" in feats, "disco: unsecured after turning protection off")
    r = await o.iq("get", "<query xmlns='%s'/>" % NS_MUC_OWNER, to=room_jid("sec"))
    vals = form_values(r)
    check(vals["muc#roomconfig_roomsecret"] in ([], [""]), "secret cleared", r)
    await join(x, "sec", "x2")
    # The whole form back with a new secret and the flag still 0 (what a
    # client does when the user only types a password) protects the room.
    fields = "".join("<field var=%s>%s</field>" % (xattr(k), "".join(
        "<value>%s</value>" % xesc(v) for v in vs)) for k, vs in vals.items()
        if k != "muc#roomconfig_roomsecret")
    fields += "<field var='muc#roomconfig_roomsecret'><value>n3w</value></field>"
    r = await o.iq("set", "<query xmlns='%s'><x xmlns='%s' type='submit'>%s</x></query>"
                   % (NS_MUC_OWNER, NS_DATA, fields), to=room_jid("sec"))
    check(r.get("type") == "result", "new secret, flag 0", r)
    feats = await room_features(x, "sec")
    check("muc_passwordprotected" in feats, "disco: protected again")
    x2 = await raw(ctx, "sec_x")
    await join(x2, "sec", "x3", expect="not-authorized")
    await join(x2, "sec", "x3", password="n3w")
    # the flag without a secret is still refused
    r = await configure(o, "sec", passwordprotectedroom=1, roomsecret="")
    check(error_of(r) == "not-acceptable" or error_of(r) == "bad-request",
          "protection without a password refused", r)


# ---- 6. XEP-0030 nodes ------------------------------------------------------

async def test_disco_info_node_mirrored(ctx):
    o = await raw(ctx, "dn_o")
    await join(o, "dnode", "boss")
    await instant(o, "dnode")
    x = await raw(ctx, "dn_x")
    # XEP-0045 §7.2.4: no registered nick -> an empty answer for that node
    r = await x.iq("get", "<query xmlns='%s' node='x-roomuser-item'/>" % NS_DISCO_INFO,
                   to=room_jid("dnode"))
    check(r.get("type") == "result", "x-roomuser-item", r)
    qq = r.find(q("query", NS_DISCO_INFO))
    check(qq is not None and qq.get("node") == "x-roomuser-item", "node mirrored", r)
    check(qq.find(q("identity", NS_DISCO_INFO)) is None and
          qq.find(q("feature", NS_DISCO_INFO)) is None, "no identity without a nick", r)
    # any other node: item-not-found, never the un-noded answer
    for to in (room_jid("dnode"), SVC, "localhost", "dn_o@localhost"):
        r = await x.iq("get", "<query xmlns='%s' node='no-such-node'/>" % NS_DISCO_INFO, to=to)
        check(r.get("type") == "error" and error_of(r) == "item-not-found",
              "unknown node on %s: item-not-found" % to, r)
    # disco#items: no nodes on the server (item-not-found); an account's
    # PEP node (a leaf) answers for the node, never as the account's list
    r = await x.iq("get", "<query xmlns='%s' node='no-such-node'/>" % NS_DISCO_ITEMS, to="localhost")
    check(r.get("type") == "error" and error_of(r) == "item-not-found", "server items node", r)
    for to in (room_jid("dnode"), SVC):
        r = await x.iq("get", "<query xmlns='%s' node='x'/>" % NS_DISCO_ITEMS, to=to)
        check(error_of(r) == "item-not-found", "items of a node on %s" % to, r)
    r = await x.iq("get", "<query xmlns='%s' node='urn:xmpp:avatar:metadata'/>" % NS_DISCO_ITEMS,
                   to="dn_o@localhost")
    check(r.get("type") == "result" and
          r.find(q("query", NS_DISCO_ITEMS)).get("node") == "urn:xmpp:avatar:metadata",
          "account items of a node: mirrored", r)
    # a node on the pubsub service still answers for the node
    ps = await raw(ctx, "dn_o")
    ok(await ps.iq("set", "<pubsub xmlns='%s'><create node='dnode'/></pubsub>" % NS_PUBSUB,
                   to=PUBSUB), "create")
    r = ok(await x.iq("get", "<query xmlns='%s' node='dnode'/>" % NS_DISCO_INFO, to=PUBSUB),
           "node info")
    check(r.find(q("query", NS_DISCO_INFO)).get("node") == "dnode", "pubsub node mirrored", r)


# ---- 7. PubSub forms: unknown fields, notification_type, itemreply ----------

def config_form(fields):
    return ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
            "<value>%s#node_config</value></field>%s</x>" % (NS_PUBSUB, "".join(
                "<field var=%s><value>%s</value></field>" % (xattr(k), xesc(v))
                for k, v in fields.items())))


async def node_config(c, node):
    r = ok(await c.iq("get", "<pubsub xmlns='%s'><configure node=%s/></pubsub>"
                      % (NS_OWNER, xattr(node)), to=PUBSUB), "configure get")
    return {f.get("var"): f.findtext(q("value", NS_DATA)) for f in r.iter(q("field", NS_DATA))}, r


async def test_pubsub_forms_unknown_fields(ctx):
    o = await raw(ctx, "ps_o", presence=True)
    s = await raw(ctx, "ps_s", presence=True)
    # create with a configuration that has a field this server does not know
    ok(await o.iq("set", "<pubsub xmlns='%s'><create node='forms'/><configure>%s</configure>"
                  "</pubsub>" % (NS_PUBSUB, config_form({
                      "pubsub#title": "Forms", "pubsub#x-vendor-thing": "1"})), to=PUBSUB),
       "create with an unknown field")
    vals, _ = await node_config(o, "forms")
    check(vals.get("pubsub#title") == "Forms", "title set at creation", vals)
    # configure with pubsub#notification_type (sent by many clients)
    r = await o.iq("set", "<pubsub xmlns='%s'><configure node='forms'>%s</configure></pubsub>"
                   % (NS_OWNER, config_form({
                       "pubsub#title": "Form news", "pubsub#notification_type": "normal",
                       "pubsub#itemreply": "publisher", "pubsub#unheard_of": "x"})), to=PUBSUB)
    ok(r, "configure with notification_type and an unknown field")
    vals, form = await node_config(o, "forms")
    check(vals.get("pubsub#title") == "Form news", "title changed", form)
    check(vals.get("pubsub#notification_type") == "normal", "notification_type offered", form)
    check(vals.get("pubsub#itemreply") == "publisher", "itemreply offered", form)
    opts = {f.get("var"): [o_.findtext(q("value", NS_DATA)) for o_ in f.findall(q("option", NS_DATA))]
            for f in form.iter(q("field", NS_DATA))}
    check(set(opts["pubsub#notification_type"]) == {"normal", "headline"}, "types", form)
    check(set(opts["pubsub#itemreply"]) == {"owner", "publisher"}, "itemreply", form)
    # a known field with a bad value is still refused, and changes nothing
    r = await o.iq("set", "<pubsub xmlns='%s'><configure node='forms'>%s</configure></pubsub>"
                   % (NS_OWNER, config_form({"pubsub#title": "Nope",
                                             "pubsub#notification_type": "loud"})), to=PUBSUB)
    check(r.get("type") == "error", "invalid notification_type refused", r)
    vals, _ = await node_config(o, "forms")
    check(vals.get("pubsub#title") == "Form news", "nothing applied from a refused form", vals)
    ok(await s.iq("set", "<pubsub xmlns='%s'><subscribe node='forms' jid=%s/></pubsub>"
                  % (NS_PUBSUB, xattr(s.jid)), to=PUBSUB), "subscribe")
    ok(await publish(o, "forms", "<entry xmlns='http://www.w3.org/2005/Atom'>hi</entry>", "i1",
                     to=PUBSUB), "publish")
    ev = await s.wait_for(lambda e: event_items(e, "forms") is not None, what="notification")
    check(ev.get("type") == "normal", "notification_type normal honoured", ev)
    it = event_items(ev, "forms").find(q("item", NS_EVENT))
    check(it.get("publisher") == "ps_o@localhost", "itemreply=publisher: publisher attribute", ev)
    r = ok(await s.iq("get", "<pubsub xmlns='%s'><items node='forms'/></pubsub>" % NS_PUBSUB,
                      to=PUBSUB), "items")
    it = r.find(".//" + q("item", NS_PUBSUB))
    check(it is not None and it.get("publisher") == "ps_o@localhost", "publisher on items", r)
    # back to headline and owner: no publisher attribute
    ok(await o.iq("set", "<pubsub xmlns='%s'><configure node='forms'>%s</configure></pubsub>"
                  % (NS_OWNER, config_form({"pubsub#notification_type": "headline",
                                            "pubsub#itemreply": "owner"})), to=PUBSUB),
       "configure back")
    ok(await publish(o, "forms", "<entry xmlns='http://www.w3.org/2005/Atom'>2</entry>", "i2",
                     to=PUBSUB), "publish")
    ev = await s.wait_for(lambda e: event_items(e, "forms") is not None, what="notification 2")
    check(ev.get("type") == "headline", "headline", ev)
    check(event_items(ev, "forms").find(q("item", NS_EVENT)).get("publisher") is None,
          "no publisher attribute", ev)
    # slixmpp's xep_0060 sees the fields in the form it gets
    c = XClient(ctx.server, "ps_o@localhost/slix", ctx.password("ps_o@localhost"))
    for p in ("xep_0004", "xep_0060"):
        c.x.register_plugin(p)
    ctx._clients.append(c)
    await c.start()
    iq = await c.x["xep_0060"].get_node_config(PUBSUB, "forms")
    form = iq["pubsub_owner"]["configure"]["form"]
    fields = form.get_fields()
    check("pubsub#notification_type" in fields and "pubsub#itemreply" in fields,
          "slixmpp parses both fields", iq)
    form["type"] = "submit"
    form.set_values({"pubsub#title": "From slixmpp"})
    await c.x["xep_0060"].set_node_config(PUBSUB, "forms", form)
    vals, _ = await node_config(o, "forms")
    check(vals.get("pubsub#title") == "From slixmpp", "slixmpp's whole form accepted", vals)


# ---- 8. RFC 6120 §4.7.4: xml:lang of the stream on stanzas ------------------

class LangClient(RawClient):
    """A raw client whose stream headers declare xml:lang=lang (or none)."""

    def __init__(self, server, lang, **kw):
        super().__init__(server, **kw)
        self.lang = lang

    def send_header(self, to=None, version="1.0", header=None, prolog="<?xml version='1.0'?>"):
        if header is None:
            to = self.domain if to is None else to
            header = STREAM_HEADER.format(to=" to=%s" % xattr(to), version=version)
            header = header.replace(" xml:lang='en'",
                                    " xml:lang=%s" % xattr(self.lang) if self.lang else "")
        super().send_header(to, version, header, prolog)


async def lang_session(ctx, name, lang):
    c = LangClient(ctx.server, lang, label="lang:%s" % name)
    ctx._clients.append(c)
    await c.connect()
    await c.login(name, ctx.password(name + "@localhost"), "r" + new_id())
    return c


async def test_xml_lang_stamped(ctx):
    a = await lang_session(ctx, "lang_a", "ru")
    b = await raw(ctx, "lang_b")
    c = await lang_session(ctx, "lang_c", None)
    a.send("<message to=%s type='chat' id='l1'><body>привет</body></message>" % xattr(b.jid))
    el = await b.wait_for(lambda e: e.get("id") == "l1", what="message from a ru stream")
    check(el.get(XML_LANG) == "ru", "xml:lang of the stream stamped", el)
    a.send("<message to=%s type='chat' id='l2' xml:lang='de'><body>hallo</body></message>"
           % xattr(b.jid))
    el = await b.wait_for(lambda e: e.get("id") == "l2", what="message with its own xml:lang")
    check(el.get(XML_LANG) == "de", "a stanza's own xml:lang is kept", el)
    c.send("<message to=%s type='chat' id='l3'><body>hi</body></message>" % xattr(b.jid))
    el = await b.wait_for(lambda e: e.get("id") == "l3", what="message from a stream without lang")
    check(el.get(XML_LANG) is None, "no xml:lang invented", el)
    # IQs and presence too (here relayed to b's full JID)
    a.send("<iq type='get' id='l4' to=%s><query xmlns='jabber:iq:version'/></iq>" % xattr(b.jid))
    el = await b.wait_for(lambda e: e.get("id") == "l4", what="iq from a ru stream")
    check(el.get(XML_LANG) == "ru", "iq stamped", el)
    a.send("<presence to=%s/>" % xattr(b.jid))
    el = await b.wait_for(is_presence(frm=a.jid), what="directed presence")
    check(el.get(XML_LANG) == "ru", "presence stamped", el)

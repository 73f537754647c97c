"""XEP-0163 PEP on accounts: publish with notifications filtered by
XEP-0115 caps (+notify) and presence subscription, retrieval, retract,
publish-options preconditions, access models, last item on presence,
limits, disco."""
import asyncio
import base64
import hashlib

import xml.etree.ElementTree as ET

from harness import XClient, check, q, bare, slix, stanza_error, is_presence, xattr

NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_OWNER = NS_PUBSUB + "#owner"
NS_EVENT = NS_PUBSUB + "#event"
NS_ERRORS = NS_PUBSUB + "#errors"
NS_INFO = "http://jabber.org/protocol/disco#info"
NS_ITEMS = "http://jabber.org/protocol/disco#items"
NS_CAPS = "http://jabber.org/protocol/caps"
TUNE = "http://jabber.org/protocol/tune"

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "pa@localhost", "pb@localhost", "pc@localhost", "pd@localhost",
    "pe@localhost", "pf@localhost", "pg@localhost", "ph@localhost",
    "pi@localhost", "pj@localhost", "pk@localhost", "pl@localhost",
    "pm@localhost", "pn@localhost", "po@localhost", "pp@localhost", "pq@localhost",
    "pr@localhost", "ps@localhost",
]}

CAPS_NODE = "https://vestnik.test/client"
CONFIG = {"pubsub": {"max_payload": "4096"}}
_nonce = [0]


def caps_ver(features, ident=("client", "pc", "", "vt")):
    s = "%s/%s/%s/%s<" % ident + "".join(f + "<" for f in sorted(features))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


async def online(c, features=(), answer=True, smuggled=()):
    """Available presence with caps; answers the server's disco#info query."""
    # A feature unique to this call: the server has never seen the ver and
    # must ask (so nothing else is skipped while we wait for the query).
    _nonce[0] += 1
    feats = ["http://jabber.org/protocol/disco#info", "urn:vt:n%d" % _nonce[0]] + list(features)
    ver = caps_ver(feats)
    c.send("<presence><c xmlns='%s' hash='sha-1' node='%s' ver='%s'/></presence>"
           % (NS_CAPS, CAPS_NODE, ver))
    if not answer:
        return ver
    iq = await c.wait_for(lambda el: el.tag == q("iq") and el.get("type") == "get"
                          and el.find(q("query", NS_INFO)) is not None, 5, "caps query")
    node = iq.find(q("query", NS_INFO)).get("node")
    check(node == CAPS_NODE + "#" + ver, "caps query for the wrong node", iq)
    body = "<identity category='client' type='pc' name='vt'/>" + "".join(
        "<feature var=%s/>" % xattr(f) for f in feats) + "".join(
        "<feature xmlns='urn:vt:elsewhere' var=%s/>" % xattr(f) for f in smuggled)
    c.send("<iq type='result' id=%s to=%s><query xmlns='%s' node=%s>%s</query></iq>"
           % (xattr(iq.get("id")), xattr(iq.get("from")), NS_INFO, xattr(node), body))
    return ver


async def befriend(a, b):
    a.send("<presence to=%s type='subscribe'/>" % xattr(bare(b.jid)))
    await b.wait_for(is_presence(type_="subscribe", frm=bare(a.jid)), what="subscribe")
    b.send("<presence to=%s type='subscribed'/>" % xattr(bare(a.jid)))
    await a.wait_for(is_presence(type_="subscribed", frm=bare(b.jid)), what="subscribed")
    b.send("<presence to=%s type='subscribe'/>" % xattr(bare(a.jid)))
    await a.wait_for(is_presence(type_="subscribe", frm=bare(b.jid)), what="subscribe")
    a.send("<presence to=%s type='subscribed'/>" % xattr(bare(b.jid)))
    await b.wait_for(is_presence(type_="subscribed", frm=bare(a.jid)), what="subscribed")


def tune(title):
    return "<tune xmlns='%s'><title>%s</title></tune>" % (TUNE, title)


async def publish(c, node, payload, item_id=None, options=None, to=None):
    opts = ""
    if options:
        opts = ("<publish-options><x xmlns='jabber:x:data' type='submit'>"
                "<field var='FORM_TYPE' type='hidden'><value>%s#publish-options</value></field>%s"
                "</x></publish-options>" % (NS_PUBSUB, "".join(
                    "<field var=%s><value>%s</value></field>" % (xattr(k), v)
                    for k, v in options.items())))
    item = "<item%s>%s</item>" % (" id=%s" % xattr(item_id) if item_id else "", payload)
    return await c.iq("set", "<pubsub xmlns='%s'><publish node=%s>%s</publish>%s</pubsub>"
                      % (NS_PUBSUB, xattr(node), item, opts), to=to)


def ok(r, what):
    check(r.get("type") == "result", what, r)
    return r


def event_items(el, node):
    ev = el.find(q("event", NS_EVENT))
    if el.tag != q("message") or ev is None:
        return None
    items = ev.find(q("items", NS_EVENT))
    if items is None or items.get("node") != node:
        return None
    return items


def is_event(node, frm, item_id=None, retract=False):
    def pred(el):
        items = event_items(el, node)
        if items is None or el.get("from") != frm:
            return False
        it = items.find(q("retract" if retract else "item", NS_EVENT))
        return it is not None and (item_id is None or it.get("id") == item_id)
    return pred


async def items_of(c, owner, node, extra="", attrs=""):
    r = await c.iq("get", "<pubsub xmlns='%s'><items node=%s%s>%s</items></pubsub>"
                   % (NS_PUBSUB, xattr(node), attrs, extra), to=owner)
    return r


def item_ids(r):
    return [i.get("id") for i in r.iter(q("item", NS_PUBSUB))]


def error_of(r):
    err = r.find(q("error"))
    check(err is not None, "expected an error", r)
    conds = [c.tag.split("}")[1] for c in err]
    return conds


async def test_publish_notifications_filtered(ctx):
    a = await ctx.raw_session("pa@localhost", "r1")
    a2 = await ctx.raw_session("pa@localhost", "r2")
    b = await ctx.raw_session("pb@localhost", "r")
    c = await ctx.raw_session("pc@localhost", "r")
    d = await ctx.raw_session("pd@localhost", "r")
    await online(a, [TUNE + "+notify"])
    await online(a2, [])
    await online(b, [TUNE + "+notify"])
    await online(c, ["urn:other+notify"])
    await online(d, [TUNE + "+notify"])
    await befriend(a, b)
    await befriend(a, c)
    r = ok(await publish(a, TUNE, tune("one"), "t1"), "publish")
    pub = r.find(".//" + q("item", NS_PUBSUB))
    check(pub is not None and pub.get("id") == "t1", "publish result carries the item id", r)
    ev = await b.wait_for(is_event(TUNE, "pa@localhost", "t1"), what="tune event at contact")
    check(ev.get("type") == "headline", "events are headlines", ev)
    title = ev.find(".//{%s}title" % TUNE)
    check(title is not None and title.text == "one", "payload delivered", ev)
    await a.wait_for(is_event(TUNE, "pa@localhost", "t1"), what="own resource with +notify")
    await c.quiet(0.5, is_event(TUNE, "pa@localhost"))
    await d.quiet(0.1, is_event(TUNE, "pa@localhost"))
    await a2.quiet(0.1, is_event(TUNE, "pa@localhost"))
    # A server-generated id when none is given.
    r = ok(await publish(a, TUNE, tune("two")), "publish without id")
    gen = r.find(".//" + q("item", NS_PUBSUB)).get("id")
    check(gen, "server generated an item id", r)
    await b.wait_for(is_event(TUNE, "pa@localhost", gen), what="event with generated id")


async def test_caps_only_disco_features_count(ctx):
    """Features outside the disco#info namespace are not part of the XEP-0115
    hash, so they must not count: otherwise one client could add +notify
    for everybody who shares its ver string."""
    a = await ctx.raw_session("pr@localhost", "r")
    b = await ctx.raw_session("ps@localhost", "r")
    await online(a, [])
    await online(b, [], smuggled=[TUNE + "+notify"])
    await befriend(a, b)
    ok(await publish(a, TUNE, tune("hidden"), "h1"), "publish")
    await b.quiet(0.7, is_event(TUNE, "pr@localhost"))


async def test_retrieve_and_retract(ctx):
    a = await ctx.raw_session("pe@localhost", "r")
    b = await ctx.raw_session("pf@localhost", "r")
    await online(a, [])
    await online(b, ["urn:x:multi+notify"])
    await befriend(a, b)
    for i in range(1, 5):
        ok(await publish(a, "urn:x:multi", "<v xmlns='urn:x:multi'>%d</v>" % i, "i%d" % i,
                         options={"pubsub#max_items": "max"}), "publish %d" % i)
    r = ok(await items_of(b, "pe@localhost", "urn:x:multi"), "items")
    check(item_ids(r) == ["i1", "i2", "i3", "i4"], "all items, oldest first", r)
    r = ok(await items_of(b, "pe@localhost", "urn:x:multi", attrs=" max_items='2'"), "max_items")
    check(item_ids(r) == ["i3", "i4"], "max_items=2 gives the newest two", r)
    r = ok(await items_of(b, "pe@localhost", "urn:x:multi", extra="<item id='i2'/>"), "by id")
    check(item_ids(r) == ["i2"], "item by id", r)
    check(r.find(".//{urn:x:multi}v").text == "2", "payload of item by id", r)
    # Retract with notify.
    ok(await a.iq("set", "<pubsub xmlns='%s'><retract node='urn:x:multi' notify='true'>"
                  "<item id='i3'/></retract></pubsub>" % NS_PUBSUB), "retract")
    await b.wait_for(is_event("urn:x:multi", "pe@localhost", "i3", retract=True), what="retract event")
    r = ok(await items_of(b, "pe@localhost", "urn:x:multi"), "items after retract")
    check(item_ids(r) == ["i1", "i2", "i4"], "retracted item gone", r)
    # Only the owner publishes / retracts.
    r = await publish(b, "urn:x:multi", "<v xmlns='urn:x:multi'/>", to="pe@localhost")
    check("forbidden" in error_of(r), "a contact cannot publish to another's PEP", r)
    r = await b.iq("set", "<pubsub xmlns='%s'><retract node='urn:x:multi'><item id='i1'/>"
                   "</retract></pubsub>" % NS_PUBSUB, to="pe@localhost")
    check("forbidden" in error_of(r), "a contact cannot retract", r)
    # Lowering max_items by configuration drops the oldest at once.
    ok(await a.iq("set", "<pubsub xmlns='%s'><configure node='urn:x:multi'><x xmlns='jabber:x:data' "
                  "type='submit'><field var='pubsub#max_items'><value>2</value></field></x>"
                  "</configure></pubsub>" % NS_OWNER), "lower max_items")
    ok(await a.iq("set", "<pubsub xmlns='%s'><configure node='urn:x:multi'><x xmlns='jabber:x:data' "
                  "type='submit'><field var='pubsub#max_items'><value>10</value></field></x>"
                  "</configure></pubsub>" % NS_OWNER), "raise it again")
    r = ok(await items_of(b, "pe@localhost", "urn:x:multi"), "items after lowering max_items")
    check(item_ids(r) == ["i2", "i4"], "only the newest two kept", r)
    r = await items_of(b, "pe@localhost", "urn:x:nothing")
    check("item-not-found" in error_of(r), "missing node", r)
    # Delete the node.
    ok(await a.iq("set", "<pubsub xmlns='%s'><delete node='urn:x:multi'/></pubsub>" % NS_OWNER),
       "delete")
    r = await items_of(a, "pe@localhost", "urn:x:multi")
    check("item-not-found" in error_of(r), "deleted node is gone", r)


async def test_publish_options(ctx):
    a = await ctx.raw_session("pg@localhost", "r")
    await online(a, [])
    node = "eu.siacs.conversations.axolotl.devicelist"
    ok(await publish(a, node, "<list xmlns='eu.siacs.conversations.axolotl'><device id='1'/></list>",
                     "current", options={"pubsub#access_model": "open"}), "create with options")
    r = ok(await a.iq("get", "<pubsub xmlns='%s'><configure node=%s/></pubsub>"
                      % (NS_OWNER, xattr(node))), "configure get")
    fields = {f.get("var"): [v.text for v in f.findall("{jabber:x:data}value")]
              for f in r.iter("{jabber:x:data}field")}
    check(fields.get("pubsub#access_model") == ["open"], "node created with access_model open", r)
    # Mismatch: conflict + precondition-not-met.
    r = await publish(a, node, "<list xmlns='eu.siacs.conversations.axolotl'/>", "current",
                      options={"pubsub#access_model": "presence"})
    conds = error_of(r)
    check("conflict" in conds and "precondition-not-met" in conds,
          "precondition failure is conflict + precondition-not-met", r)
    check(r.find(q("error")).get("type") == "cancel", "precondition error type cancel", r)
    # Matching (boolean spelled differently, no FORM_TYPE) is fine.
    r = await a.iq("set", "<pubsub xmlns='%s'><publish node=%s><item id='current'>"
                   "<list xmlns='eu.siacs.conversations.axolotl'/></item></publish>"
                   "<publish-options><x xmlns='jabber:x:data' type='submit'>"
                   "<field var='pubsub#access_model'><value>open</value></field>"
                   "<field var='pubsub#persist_items'><value>true</value></field>"
                   "</x></publish-options></pubsub>" % (NS_PUBSUB, xattr(node)))
    ok(r, "matching publish-options without FORM_TYPE")
    # Reconfigure, then the original options fail.
    ok(await a.iq("set", "<pubsub xmlns='%s'><configure node=%s><x xmlns='jabber:x:data' "
                  "type='submit'><field var='FORM_TYPE' type='hidden'><value>%s#node_config"
                  "</value></field><field var='pubsub#max_items'><value>max</value></field>"
                  "</x></configure></pubsub>" % (NS_OWNER, xattr(node), NS_PUBSUB)), "configure set")
    r = ok(await a.iq("get", "<pubsub xmlns='%s'><configure node=%s/></pubsub>"
                      % (NS_OWNER, xattr(node))), "configure get")
    fields = {f.get("var"): [v.text for v in f.findall("{jabber:x:data}value")]
              for f in r.iter("{jabber:x:data}field")}
    check(fields.get("pubsub#max_items") == ["max"], "max_items changed", r)
    r = await a.iq("set", "<pubsub xmlns='%s'><configure node=%s><x xmlns='jabber:x:data' "
                   "type='submit'><field var='pubsub#access_model'><value>bogus</value></field>"
                   "</x></configure></pubsub>" % (NS_OWNER, xattr(node)))
    check("not-acceptable" in error_of(r), "invalid configuration refused", r)


async def test_access_models(ctx):
    a = await ctx.raw_session("ph@localhost", "r")
    stranger = await ctx.raw_session("pi@localhost", "r")
    await online(a, [])
    ok(await publish(a, "urn:x:open", "<o xmlns='urn:x:open'/>", "1",
                     options={"pubsub#access_model": "open"}), "open node")
    ok(await publish(a, "urn:x:pres", "<p xmlns='urn:x:pres'/>", "1"), "presence node")
    ok(await publish(a, "urn:x:wl", "<w xmlns='urn:x:wl'/>", "1",
                     options={"pubsub#access_model": "whitelist"}), "whitelist node")
    r = ok(await items_of(stranger, "ph@localhost", "urn:x:open"), "stranger reads open node")
    check(item_ids(r) == ["1"], "open item", r)
    r = await items_of(stranger, "ph@localhost", "urn:x:pres")
    conds = error_of(r)
    check("not-authorized" in conds and "presence-subscription-required" in conds,
          "presence access refuses a stranger (XEP-0060 §6.5.9.3)", r)
    r = await items_of(stranger, "ph@localhost", "urn:x:wl")
    conds = error_of(r)
    check("not-allowed" in conds and "closed-node" in conds, "whitelist refuses", r)
    # disco#items: all to the owner, accessible ones to others.
    r = ok(await a.iq("get", "<query xmlns='%s'/>" % NS_ITEMS, to="ph@localhost"), "own disco#items")
    nodes = sorted(i.get("node") for i in r.iter(q("item", NS_ITEMS)))
    check(nodes == ["urn:x:open", "urn:x:pres", "urn:x:wl"], "owner sees every node", r)
    r = ok(await stranger.iq("get", "<query xmlns='%s'/>" % NS_ITEMS, to="ph@localhost"),
           "stranger disco#items")
    nodes = sorted(i.get("node") for i in r.iter(q("item", NS_ITEMS)))
    check(nodes == ["urn:x:open"], "stranger sees only the open node", r)
    r = ok(await stranger.iq("get", "<query xmlns='%s'/>" % NS_INFO, to="ph@localhost"), "disco#info")
    idents = {(i.get("category"), i.get("type")) for i in r.iter(q("identity", NS_INFO))}
    check(("pubsub", "pep") in idents, "account has the pubsub/pep identity", r)
    feats = {f.get("var") for f in r.iter(q("feature", NS_INFO))}
    for f in ("#publish", "#publish-options", "#auto-create", "#access-presence", "#last-published"):
        check(NS_PUBSUB + f in feats, "feature %s advertised" % f, r)


async def test_last_item_on_presence(ctx):
    a = await ctx.raw_session("pj@localhost", "r")
    b = await ctx.raw_session("pk@localhost", "r")
    await online(a, [])
    await online(b, [])
    await befriend(a, b)
    ok(await publish(a, TUNE, tune("last"), "L"), "publish")
    # b's new resource with +notify comes online: gets the last item.
    b2 = await ctx.raw_session("pk@localhost", "phone")
    await online(b2, [TUNE + "+notify", "urn:other+notify"])
    ev = await b2.wait_for(is_event(TUNE, "pj@localhost", "L"), what="last item on presence")
    check(ev.find(".//{%s}title" % TUNE).text == "last", "last item payload", ev)
    # The owner's own new resource gets it too.
    a2 = await ctx.raw_session("pj@localhost", "tablet")
    await online(a2, [TUNE + "+notify"])
    await a2.wait_for(is_event(TUNE, "pj@localhost", "L"), what="own last item")


async def test_last_items_on_caps_change(ctx):
    """A client that adds +notify features while online (e.g. turning on
    OMEMO) gets the last items of the newly wanted nodes, and only those."""
    a = await ctx.raw_session("pm@localhost", "r")
    b = await ctx.raw_session("pn@localhost", "r")
    await online(a, [])
    await online(b, [])
    await befriend(a, b)
    ok(await publish(a, TUNE, tune("t"), "T"), "publish tune")
    ok(await publish(a, "urn:x:mood", "<m xmlns='urn:x:mood'/>", "M"), "publish mood")
    await b.quiet(0.3, is_event(TUNE, "pm@localhost"))
    await online(b, [TUNE + "+notify"])
    await b.wait_for(is_event(TUNE, "pm@localhost", "T"), what="tune after caps change")
    await online(b, [TUNE + "+notify", "urn:x:mood+notify"])
    await b.wait_for(is_event("urn:x:mood", "pm@localhost", "M"), what="mood after caps change")
    await b.quiet(0.5, is_event(TUNE, "pm@localhost"))
    # The same caps again (a plain presence update): nothing is resent.
    b.send("<presence><show>away</show><c xmlns='%s' hash='sha-1' node='%s' ver='%s'/></presence>"
           % (NS_CAPS, CAPS_NODE, caps_ver(["http://jabber.org/protocol/disco#info",
                                            "urn:vt:n%d" % _nonce[0], TUNE + "+notify",
                                            "urn:x:mood+notify"])))
    await b.quiet(0.5, lambda el: event_items(el, TUNE) is not None
                  or event_items(el, "urn:x:mood") is not None)


async def test_limits(ctx):
    a = await ctx.raw_session("pl@localhost", "r")
    await online(a, [])
    big = "<big xmlns='urn:x:big'>%s</big>" % ("x" * 5000)
    r = await publish(a, "urn:x:big", big)
    conds = error_of(r)
    check("not-acceptable" in conds and "payload-too-big" in conds, "payload too big", r)
    r = await a.iq("set", "<pubsub xmlns='%s'><publish node='urn:x:e'><item id='1'/></publish>"
                   "</pubsub>" % NS_PUBSUB)
    conds = error_of(r)
    check("bad-request" in conds and "payload-required" in conds, "payload required", r)
    r = await a.iq("set", "<pubsub xmlns='%s'><publish><item/></publish></pubsub>" % NS_PUBSUB)
    check("nodeid-required" in error_of(r), "node required", r)


# ---- the same paths driven by a client library we did not write ----

async def slix_client(ctx, jid, resource, plugins=(), presence=True):
    """Debian's slixmpp with xep_0060/0115/0163 (+ plugins), signed in."""
    c = XClient(ctx.server, "%s/%s" % (jid, resource), ctx.password(jid),
                label="%s/%s" % (jid, resource))
    for p in ("xep_0004", "xep_0060", "xep_0115", "xep_0163") + tuple(plugins):
        c.x.register_plugin(p)
    ctx._clients.append(c)
    await c.start()
    await c.x["xep_0115"].update_caps(broadcast=False)
    if presence:
        c.presence()
    return c


async def slix_befriend(a, b):
    for x, y in ((a, b), (b, a)):
        x.x.send_presence(pto=y.jid.bare, ptype="subscribe")
        await y.expect(is_presence(type_="subscribe", frm=x.jid.bare), what="subscribe")
        y.x.send_presence(pto=x.jid.bare, ptype="subscribed")
        await x.expect(is_presence(type_="subscribed", frm=y.jid.bare), what="subscribed")


async def slix_call(coro):
    """The reply IQ of a slixmpp request, result or error."""
    try:
        return await coro
    except slix().exceptions.IqError as e:
        return e.iq


async def test_slixmpp_pep(ctx):
    """slixmpp's user tune plugin (XEP-0118 over xep_0163) publishes; a
    contact's slixmpp gets user_tune_publish through its caps +notify; items
    get / retract / delete through xep_0060."""
    a = await slix_client(ctx, "po@localhost", "r", plugins=["xep_0118"])
    b = await slix_client(ctx, "pp@localhost", "r", plugins=["xep_0118"])
    stranger = await slix_client(ctx, "pq@localhost", "r", plugins=["xep_0118"])
    await slix_befriend(a, b)
    tunes = []
    b.x.add_event_handler("user_tune_publish", lambda m: tunes.append(m))
    b.x.add_event_handler("pubsub_retract", lambda m: tunes.append(m))
    # the caps with tune+notify (xep_0118 registered its interest at bind)
    b.presence()
    await asyncio.sleep(0.3)
    r = await slix_call(a.x["xep_0118"].publish_tune(artist="Кино", title="Группа крови", length=287))
    check(r["type"] == "result", "publish_tune", r)
    await b.expect(is_event(TUNE, "po@localhost", "current"), what="tune event")
    for _ in range(20):
        if tunes:
            break
        await asyncio.sleep(0.05)
    check(tunes and tunes[0]["pubsub_event"]["items"]["item"]["tune"]["title"] == "Группа крови",
          "slixmpp parsed the tune: %r" % tunes)
    await stranger.quiet(lambda el: event_items(el, TUNE) is not None, 0.3, "tune to a stranger")
    r = await slix_call(b.x["xep_0060"].get_items("po@localhost", TUNE, timeout=5))
    check(r["type"] == "result" and [i["id"] for i in r["pubsub"]["items"]] == ["current"], "items", r)
    check(r["pubsub"]["items"]["item"]["payload"].findtext("{%s}artist" % TUNE) == "Кино", "payload", r)
    r = await slix_call(b.x["xep_0060"].get_item("po@localhost", TUNE, "current", timeout=5))
    check(r["type"] == "result", "get_item", r)
    r = await slix_call(stranger.x["xep_0060"].get_items("po@localhost", TUNE, timeout=5))
    check(r["type"] == "error" and r["error"]["pubsub"]["condition"] == "presence-subscription-required",
          "presence access: stranger refused", r)
    # Retract with notify, through xep_0060.
    r = await slix_call(a.x["xep_0060"].retract(None, TUNE, "current", notify=True, timeout=5))
    check(r["type"] == "result", "retract", r)
    await b.expect(is_event(TUNE, "po@localhost", "current", retract=True), what="retract event")
    r = await slix_call(b.x["xep_0060"].get_items("po@localhost", TUNE, timeout=5))
    check(r["type"] == "result" and len(r["pubsub"]["items"]) == 0, "no items after retract", r)
    # A contact may not publish to another's PEP.
    r = await slix_call(b.x["xep_0060"].publish("po@localhost", TUNE, id="x",
                                                payload=ET.fromstring(tune("x")), timeout=5))
    check(r["type"] == "error" and r["error"]["condition"] == "forbidden", "forbidden", r)
    # Node configuration and deletion through the owner namespace.
    r = await slix_call(a.x["xep_0060"].get_node_config(None, TUNE, timeout=5))
    vals = r["pubsub_owner"]["configure"]["form"].get_values()
    check(vals.get("pubsub#access_model") == "presence", "PEP default access %r" % vals, r)
    r = await slix_call(a.x["xep_0060"].delete_node(None, TUNE, timeout=5))
    check(r["type"] == "result", "delete", r)
    r = await slix_call(b.x["xep_0060"].get_items("po@localhost", TUNE, timeout=5))
    check(r["type"] == "error" and r["error"]["condition"] == "item-not-found", "deleted", r)

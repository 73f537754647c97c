"""XEP-0402 §5.3: XEP-0048 bookmarks in private XML storage and the PEP
node urn:xmpp:bookmarks:1 are one list, both ways."""
import asyncio
import base64
import hashlib

from harness import NS_DISCO_INFO, TestFailure, check, q, stanza_error, xattr

NS_PRIVATE = "jabber:iq:private"
NS_LEGACY = "storage:bookmarks"
NS_BM = "urn:xmpp:bookmarks:1"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_COMPAT = "urn:xmpp:bookmarks:1#compat"

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "ba@localhost", "bb@localhost", "bc@localhost", "bd@localhost", "be@localhost",
    "bf@localhost",
]}
NS_CAPS = "http://jabber.org/protocol/caps"
NS_EVENT = "http://jabber.org/protocol/pubsub#event"


async def private_set(c, inner):
    r = await c.iq("set", "<query xmlns='%s'><storage xmlns='%s'>%s</storage></query>"
                          % (NS_PRIVATE, NS_LEGACY, inner))
    check(r.get("type") == "result", "private set of bookmarks failed", r)


async def private_get(c):
    r = await c.iq("get", "<query xmlns='%s'><storage xmlns='%s'/></query>" % (NS_PRIVATE, NS_LEGACY))
    check(r.get("type") == "result", "private get of bookmarks failed", r)
    st = r.find(q("query", NS_PRIVATE) + "/" + q("storage", NS_LEGACY))
    check(st is not None, "no <storage/> in the answer", r)
    return st


async def pep_items(c, owner):
    return await c.iq("get", "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (NS_PUBSUB, NS_BM),
                      to=owner)


def bookmarks_of(r):
    out = {}
    for it in r.iter(q("item", NS_PUBSUB)):
        cf = it.find(q("conference", NS_BM))
        if cf is not None:
            out[it.get("id")] = cf
    return out


async def eventually(fn, what, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        ok, last = await fn()
        if ok:
            return last
        if loop.time() > deadline:
            raise TestFailure("%s: never happened (last: %r)" % (what, last))
        await asyncio.sleep(0.1)


async def test_account_feature(ctx):
    c = await ctx.raw_session("ba@localhost", "d")
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="ba@localhost")
    feats = {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))}
    check(NS_COMPAT in feats, "bookmarks#compat missing from the account's disco#info", r)


async def test_private_to_pep_and_back(ctx):
    c = await ctx.raw_session("bb@localhost", "r")
    await private_set(c, "<conference jid='Room1@conference.localhost' name='Оперативный штаб' "
                         "autojoin='1'><nick>диспетчер</nick><password>s3cret</password></conference>"
                         "<conference jid='room2@conference.localhost' name='Второй'/>"
                         "<url name='портал' url='https://example.org/'/>")

    async def two_items():
        r = await pep_items(c, "bb@localhost")
        bm = bookmarks_of(r)
        return set(bm) == {"room1@conference.localhost", "room2@conference.localhost"}, r
    r = await eventually(two_items, "PEP bookmarks:1 items from the private bookmarks")
    bm = bookmarks_of(r)
    r1 = bm["room1@conference.localhost"]
    check(r1.get("name") == "Оперативный штаб" and r1.get("autojoin") in ("true", "1"),
          "name/autojoin not converted", r)
    check(r1.find(q("nick", NS_BM)).text == "диспетчер", "nick not converted", r)
    check(r1.find(q("password", NS_BM)).text == "s3cret", "password not converted", r)
    check(bm["room2@conference.localhost"].get("autojoin") in (None, "false", "0"),
          "autojoin invented", r)
    # a shorter list retracts what is gone
    await private_set(c, "<conference jid='room2@conference.localhost' name='Второй'/>")

    async def one_item():
        r = await pep_items(c, "bb@localhost")
        return set(bookmarks_of(r)) == {"room2@conference.localhost"}, r
    await eventually(one_item, "room1 retracted from PEP")
    # the private get answers from PEP
    st = await private_get(c)
    jids = sorted(cf.get("jid") for cf in st.findall(q("conference", NS_LEGACY)))
    check(jids == ["room2@conference.localhost"], "private get does not show the PEP list", st)


async def test_pep_bookmark_visible_to_old_clients(ctx):
    c = await ctx.raw_session("bc@localhost", "r")
    await private_set(c, "<url name='портал' url='https://example.org/'/>")
    r = await c.iq("set", "<pubsub xmlns='%s'><publish node='%s'><item id='new@conference.localhost'>"
                          "<conference xmlns='%s' name='Новая' autojoin='true'><nick>ник</nick>"
                          "</conference></item></publish><publish-options><x xmlns='jabber:x:data' "
                          "type='submit'><field var='FORM_TYPE' type='hidden'><value>"
                          "http://jabber.org/protocol/pubsub#publish-options</value></field>"
                          "<field var='pubsub#persist_items'><value>true</value></field>"
                          "<field var='pubsub#access_model'><value>whitelist</value></field>"
                          "</x></publish-options></pubsub>" % (NS_PUBSUB, NS_BM, NS_BM))
    check(r.get("type") == "result", "XEP-0402 publish failed", r)
    st = await private_get(c)
    cfs = {cf.get("jid"): cf for cf in st.findall(q("conference", NS_LEGACY))}
    check("new@conference.localhost" in cfs, "a XEP-0402 bookmark is not in the private list", st)
    cf = cfs["new@conference.localhost"]
    check(cf.get("name") == "Новая" and cf.get("autojoin") in ("true", "1"), "attributes", st)
    check(cf.find(q("nick", NS_LEGACY)).text == "ник", "nick", st)
    check(st.find(q("url", NS_LEGACY)) is not None, "the <url/> bookmark was lost", st)


async def test_node_is_private(ctx):
    c = await ctx.raw_session("bd@localhost", "r")
    other = await ctx.raw_session("be@localhost", "r")
    await private_set(c, "<conference jid='secret@conference.localhost' name='S'/>")

    async def has_item():
        r = await pep_items(c, "bd@localhost")
        return bool(bookmarks_of(r)), r
    await eventually(has_item, "converted item")
    r = await pep_items(other, "bd@localhost")
    check(r.get("type") == "error" or not bookmarks_of(r),
          "another account can read the converted bookmarks", r)


async def test_slixmpp_xep_0048(ctx):
    x = await ctx.client("be@localhost", "slix")
    for p in ("xep_0049", "xep_0060", "xep_0163", "xep_0223", "xep_0048"):
        x.x.register_plugin(p)
    from slixmpp.plugins.xep_0048.stanza import Bookmarks
    b = Bookmarks()
    b.add_conference("slix@conference.localhost", "слава", name="Slix room", autojoin=True)
    await x.x["xep_0048"].set_bookmarks(b, method="xep_0049")

    async def converted():
        r = await x.iq("get", "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (NS_PUBSUB, NS_BM),
                       to="be@localhost")
        return "slix@conference.localhost" in bookmarks_of(r), r
    await eventually(converted, "slixmpp's bookmarks in PEP")
    got = await x.x["xep_0048"].get_bookmarks(method="xep_0049")
    confs = got["private"]["bookmarks"]["conferences"]
    check(any(str(cf["jid"]) == "slix@conference.localhost" and cf["nick"] == "слава"
              for cf in confs), "slixmpp does not read back its bookmark: %s" % got)


async def online_with_caps(c, features):
    """Available presence with XEP-0115 caps, answering the server's query."""
    feats = ["http://jabber.org/protocol/disco#info", "urn:vt:bm"] + features
    s = "client/pc//vt<" + "".join(f + "<" for f in sorted(feats))
    ver = base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()
    node = "https://vestnik.test/bm"
    c.send("<presence><c xmlns='%s' hash='sha-1' node='%s' ver='%s'/></presence>"
           % (NS_CAPS, node, ver))
    iq = await c.wait_for(lambda el: el.tag == q("iq") and el.get("type") == "get"
                          and el.find(q("query", NS_DISCO_INFO)) is not None, 5, "caps query")
    body = "<identity category='client' type='pc' name='vt'/>" + "".join(
        "<feature var=%s/>" % xattr(f) for f in feats)
    c.send("<iq type='result' id=%s to=%s><query xmlns='%s' node=%s>%s</query></iq>"
           % (xattr(iq.get("id")), xattr(iq.get("from")), NS_DISCO_INFO,
              xattr(node + "#" + ver), body))


async def test_new_client_notified_once(ctx):
    """An XEP-0402 client of the same account gets the converted bookmark as
    an event; storing the same list again publishes nothing."""
    old = await ctx.raw_session("bf@localhost", "old")
    new = await ctx.raw_session("bf@localhost", "new")
    await online_with_caps(new, [NS_BM + "+notify"])
    await asyncio.sleep(0.2)
    lst = "<conference jid='ops@conference.localhost' name='Ops' autojoin='true'><nick>n</nick></conference>"
    await private_set(old, lst)

    def is_bm_event(el):
        items = el.find(q("event", NS_EVENT) + "/" + q("items", NS_EVENT))
        return el.tag == q("message") and items is not None and items.get("node") == NS_BM
    ev = await new.wait_for(is_bm_event, what="bookmarks:1 event at the XEP-0402 client")
    item = ev.find(".//" + q("item", NS_EVENT))
    check(item is not None and item.get("id") == "ops@conference.localhost", "event item", ev)
    await private_set(old, lst)
    await new.quiet(0.7, is_bm_event)

"""XEP-0060 pubsub service on pubsub.localhost: create, subscribe (many),
publisher-only publish, notifications to all subscribers, affiliations,
disco, items persisting across a restart."""
from harness import check, q, xattr

from test_pep import NS_PUBSUB, NS_OWNER, NS_INFO, NS_ITEMS, ok, error_of, publish, item_ids, items_of, is_event

SVC = "pubsub.localhost"
ACCOUNTS = {"owner@localhost": "pw-o", "pub@localhost": "pw-p", "other@localhost": "pw-x"}
ACCOUNTS.update({"sub%d@localhost" % i: "pw-s%d" % i for i in range(12)})


async def subscribe(c, node):
    r = await c.iq("set", "<pubsub xmlns='%s'><subscribe node=%s jid=%s/></pubsub>"
                   % (NS_PUBSUB, xattr(node), xattr(c.jid)), to=SVC)
    return r


async def test_channel(ctx):
    o = await ctx.raw_session("owner@localhost", "r", presence=True)
    p = await ctx.raw_session("pub@localhost", "r", presence=True)
    x = await ctx.raw_session("other@localhost", "r", presence=True)
    r = ok(await o.iq("get", "<query xmlns='%s'/>" % NS_INFO, to=SVC), "service disco#info")
    idents = {(i.get("category"), i.get("type")) for i in r.iter(q("identity", NS_INFO))}
    check(("pubsub", "service") in idents, "pubsub/service identity", r)
    ok(await o.iq("set", "<pubsub xmlns='%s'><create node='news'/></pubsub>" % NS_PUBSUB, to=SVC),
       "create")
    r = await x.iq("set", "<pubsub xmlns='%s'><create node='news'/></pubsub>" % NS_PUBSUB, to=SVC)
    check("conflict" in error_of(r), "second create conflicts", r)
    subs = [await ctx.raw_session("sub%d@localhost" % i, "r", presence=True) for i in range(12)]
    for s in subs:
        r = ok(await subscribe(s, "news"), "subscribe")
        sub = r.find(".//" + q("subscription", NS_PUBSUB))
        check(sub is not None and sub.get("subscription") == "subscribed", "subscribed", r)
    # Only owner / publisher may publish.
    r = await publish(p, "news", "<entry xmlns='http://www.w3.org/2005/Atom'>x</entry>", to=SVC)
    check("forbidden" in error_of(r), "non-publisher forbidden", r)
    ok(await o.iq("set", "<pubsub xmlns='%s'><affiliations node='news'><affiliation jid=%s "
                  "affiliation='publisher'/></affiliations></pubsub>" % (NS_OWNER, xattr("pub@localhost")),
                  to=SVC), "grant publisher")
    r = ok(await o.iq("get", "<pubsub xmlns='%s'><affiliations node='news'/></pubsub>" % NS_OWNER,
                      to=SVC), "affiliations get")
    affs = {a.get("jid"): a.get("affiliation") for a in r.iter(q("affiliation", NS_OWNER))}
    check(affs == {"owner@localhost": "owner", "pub@localhost": "publisher"}, "affiliations", r)
    ok(await publish(p, "news", "<entry xmlns='http://www.w3.org/2005/Atom'>hello</entry>", "e1",
                     to=SVC), "publisher publishes")
    for s in subs:
        await s.wait_for(is_event("news", SVC, "e1"), what="notification to subscriber")
    await x.quiet(0.3, is_event("news", SVC))
    r = ok(await o.iq("get", "<pubsub xmlns='%s'><subscriptions node='news'/></pubsub>" % NS_OWNER,
                      to=SVC), "subscriptions get")
    check(len(list(r.iter(q("subscription", NS_OWNER)))) == 12, "12 subscribers", r)
    ok(await subs[0].iq("set", "<pubsub xmlns='%s'><unsubscribe node='news' jid=%s/></pubsub>"
                        % (NS_PUBSUB, xattr(subs[0].jid)), to=SVC), "unsubscribe")
    r = await subs[0].iq("set", "<pubsub xmlns='%s'><unsubscribe node='news' jid=%s/></pubsub>"
                         % (NS_PUBSUB, xattr(subs[0].jid)), to=SVC)
    check("not-subscribed" in error_of(r), "not subscribed any more", r)
    r = ok(await x.iq("get", "<query xmlns='%s'/>" % NS_ITEMS, to=SVC), "disco#items")
    check([i.get("node") for i in r.iter(q("item", NS_ITEMS))] == ["news"], "node listed", r)
    # Items survive a restart.
    for c in [o, p, x] + subs:
        c.abort()
    ctx.server.restart()
    o = await ctx.raw_session("owner@localhost", "r2", presence=True)
    r = ok(await items_of(o, SVC, "news"), "items after restart")
    check(item_ids(r) == ["e1"], "item persisted", r)
    ok(await o.iq("set", "<pubsub xmlns='%s'><delete node='news'/></pubsub>" % NS_OWNER, to=SVC),
       "delete")
    r = await items_of(o, SVC, "news")
    check("item-not-found" in error_of(r), "deleted", r)

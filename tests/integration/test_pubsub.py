"""XEP-0060 pubsub service on pubsub.localhost: create, subscribe (many),
publisher-only publish, notifications to all subscribers, affiliations,
disco, items persisting across a restart."""
import asyncio
import xml.etree.ElementTree as ET

from harness import check, q, xattr

from test_pep import slix_client, slix_call, event_items
from test_pep import NS_PUBSUB, NS_OWNER, NS_INFO, NS_ITEMS, ok, error_of, publish, item_ids, items_of, is_event

SVC = "pubsub.localhost"
ACCOUNTS = {"owner@localhost": "pw-o", "pub@localhost": "pw-p", "other@localhost": "pw-x"}
ACCOUNTS.update({"sub%d@localhost" % i: "pw-s%d" % i for i in range(12)})
ACCOUNTS.update({n + "@localhost": "pw-" + n for n in ("sowner", "spub", "sreader", "soutcast")})


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


ATOM = "http://www.w3.org/2005/Atom"


def entry(title):
    return ET.fromstring("<entry xmlns='%s'><title>%s</title></entry>" % (ATOM, title))


async def test_slixmpp_service(ctx):
    """The service driven by slixmpp's xep_0060: create with a configuration
    form, configure, subscribe, publish / notify / items / retract, owner
    affiliations (publisher, outcast), permission errors, delete."""
    o = await slix_client(ctx, "sowner@localhost", "r")
    p = await slix_client(ctx, "spub@localhost", "r")
    rd = await slix_client(ctx, "sreader@localhost", "r")
    out = await slix_client(ctx, "soutcast@localhost", "r")
    ps = o.x["xep_0060"]
    cfg = o.x["xep_0004"].make_form(ftype="submit")
    cfg.add_field(var="pubsub#title", value="Оперативные сводки")
    cfg.add_field(var="pubsub#max_items", value="10")
    cfg.add_field(var="pubsub#publish_model", value="publishers")
    r = await slix_call(ps.create_node(SVC, "bulletins", config=cfg, timeout=5))
    check(r["type"] == "result", "create with configuration", r)
    r = await slix_call(ps.get_node_config(SVC, "bulletins", timeout=5))
    vals = r["pubsub_owner"]["configure"]["form"].get_values()
    check(vals.get("pubsub#title") == "Оперативные сводки" and vals.get("pubsub#max_items") == "10",
          "configuration applied %r" % vals, r)
    # Reconfigure (title), through set_node_config.
    f = o.x["xep_0004"].make_form(ftype="submit")
    f.add_field(var="FORM_TYPE", ftype="hidden", value=NS_PUBSUB + "#node_config")
    f.add_field(var="pubsub#title", value="Сводки")
    r = await slix_call(ps.set_node_config(SVC, "bulletins", f, timeout=5))
    check(r["type"] == "result", "configure", r)
    r = await slix_call(ps.get_nodes(SVC, timeout=5))
    check("bulletins" in [i[1] for i in r["disco_items"]["items"]], "disco#items lists the node", r)
    # Subscribe (reader and publisher).
    for c in (rd, p):
        r = await slix_call(c.x["xep_0060"].subscribe(SVC, "bulletins", timeout=5))
        check(r["type"] == "result" and r["pubsub"]["subscription"]["subscription"] == "subscribed",
              "subscribe", r)
    # Publisher-only node: a subscriber that is not a publisher is forbidden.
    r = await slix_call(rd.x["xep_0060"].publish(SVC, "bulletins", id="x", payload=entry("x"),
                                                 timeout=5))
    check(r["type"] == "error" and r["error"]["condition"] == "forbidden", "non-publisher", r)
    r = await slix_call(ps.modify_affiliations(SVC, "bulletins", [(p.jid.bare, "publisher"),
                                                                   (out.jid.bare, "outcast")],
                                               timeout=5))
    check(r["type"] == "result", "set affiliations", r)
    r = await slix_call(ps.get_node_affiliations(SVC, "bulletins", timeout=5))
    affs = {str(a["jid"]): a["affiliation"] for a in r["pubsub_owner"]["affiliations"]}
    check(affs.get("spub@localhost") == "publisher" and affs.get("soutcast@localhost") == "outcast"
          and affs.get("sowner@localhost") == "owner", "affiliations %r" % affs, r)
    # The outcast can neither subscribe nor read.
    r = await slix_call(out.x["xep_0060"].subscribe(SVC, "bulletins", timeout=5))
    check(r["type"] == "error" and r["error"]["condition"] == "forbidden", "outcast subscribe", r)
    r = await slix_call(out.x["xep_0060"].get_items(SVC, "bulletins", timeout=5))
    check(r["type"] == "error" and r["error"]["condition"] == "forbidden", "outcast items", r)
    # Publish by the publisher: notifications to both subscribers, slixmpp parses.
    got = []
    rd.x.add_event_handler("pubsub_publish", lambda m: got.append(m))
    r = await slix_call(p.x["xep_0060"].publish(SVC, "bulletins", id="b1", payload=entry("Первая"),
                                                timeout=5))
    check(r["type"] == "result" and r["pubsub"]["publish"]["item"]["id"] == "b1", "publish", r)
    await rd.expect(is_event("bulletins", SVC, "b1"), what="notification")
    await p.expect(is_event("bulletins", SVC, "b1"), what="notification to publisher")
    await out.quiet(lambda el: event_items(el, "bulletins") is not None, 0.3, "event to outcast")
    for _ in range(20):
        if got:
            break
        await asyncio.sleep(0.05)
    check(got and got[0]["pubsub_event"]["items"]["item"]["payload"].findtext("{%s}title" % ATOM)
          == "Первая", "slixmpp pubsub_publish %r" % got)
    r = await slix_call(p.x["xep_0060"].publish(SVC, "bulletins", payload=entry("Вторая"), timeout=5))
    gen = r["pubsub"]["publish"]["item"]["id"]
    check(r["type"] == "result" and gen, "server-generated id", r)
    r = await slix_call(rd.x["xep_0060"].get_items(SVC, "bulletins", timeout=5))
    check([i["id"] for i in r["pubsub"]["items"]] == ["b1", gen], "items in order", r)
    r = await slix_call(rd.x["xep_0060"].get_items(SVC, "bulletins", max_items=1, timeout=5))
    check([i["id"] for i in r["pubsub"]["items"]] == [gen], "max_items=1", r)
    # Retract (publisher may retract; a reader may not), with notify.
    r = await slix_call(rd.x["xep_0060"].retract(SVC, "bulletins", "b1", timeout=5))
    check(r["type"] == "error" and r["error"]["condition"] == "forbidden", "reader retract", r)
    r = await slix_call(p.x["xep_0060"].retract(SVC, "bulletins", "b1", notify=True, timeout=5))
    check(r["type"] == "result", "retract", r)
    await rd.expect(is_event("bulletins", SVC, "b1", retract=True), what="retract notification")
    # Subscriptions as the subscriber and as the owner see them.
    r = await slix_call(rd.x["xep_0060"].get_subscriptions(SVC, "bulletins", timeout=5))
    check([s["node"] for s in r["pubsub"]["subscriptions"]] == ["bulletins"], "own subscriptions", r)
    r = await slix_call(ps.get_node_subscriptions(SVC, "bulletins", timeout=5))
    check(sorted(str(s["jid"]) for s in r["pubsub_owner"]["subscriptions"]) ==
          ["spub@localhost", "sreader@localhost"], "owner's view", r)
    # Only the owner configures or deletes.
    r = await slix_call(p.x["xep_0060"].delete_node(SVC, "bulletins", timeout=5))
    check(r["type"] == "error" and r["error"]["condition"] == "forbidden", "publisher delete", r)
    r = await slix_call(p.x["xep_0060"].get_node_config(SVC, "bulletins", timeout=5))
    check(r["type"] == "error" and r["error"]["condition"] == "forbidden", "publisher configure", r)
    r = await slix_call(ps.delete_node(SVC, "bulletins", timeout=5))
    check(r["type"] == "result", "owner delete", r)
    await rd.expect(lambda el: el.find(".//{%s#event}delete" % NS_PUBSUB) is not None,
                    what="delete notification")

"""XEP-0402 PEP native bookmarks (urn:xmpp:bookmarks:1) as clients keep
them: one item per room (item id = room JID) published with the
publish-options of §3 (whitelist, max_items max, persistent, never send
the last item), retrieval of all, retract, notifications to the owner's
resources with +notify, and nobody else may read them. Debian 12's
slixmpp has no xep_0402 plugin, so this is driven with the raw client."""
from harness import check, q, xattr
from test_pep import (NS_PUBSUB, error_of, event_items, is_event, item_ids, items_of, ok, online,
                      publish, befriend)

NS_BM = "urn:xmpp:bookmarks:1"
OPTIONS = {"pubsub#persist_items": "true", "pubsub#max_items": "max",
           "pubsub#send_last_published_item": "never", "pubsub#access_model": "whitelist"}
ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in
            ["ba@localhost", "bb@localhost", "bc@localhost", "bd@localhost"]}


def conference(name, nick, autojoin=True, password=None):
    return ("<conference xmlns='%s' name=%s autojoin='%s'><nick>%s</nick>%s</conference>"
            % (NS_BM, xattr(name), "true" if autojoin else "false", nick,
               "<password>%s</password>" % password if password else ""))


async def test_bookmarks(ctx):
    a = await ctx.raw_session("ba@localhost", "laptop")
    a2 = await ctx.raw_session("ba@localhost", "phone")
    a3 = await ctx.raw_session("ba@localhost", "old")  # no +notify
    friend = await ctx.raw_session("bb@localhost", "r")
    stranger = await ctx.raw_session("bc@localhost", "r")
    await online(a, [NS_BM + "+notify"])
    await online(a2, [NS_BM + "+notify"])
    await online(a3, [])
    await online(friend, [NS_BM + "+notify"])
    await online(stranger, [NS_BM + "+notify"])
    await befriend(a, friend)
    rooms = {"council@conference.localhost": conference("Council", "Анна"),
             "ops@conference.localhost": conference("Ops", "anna", False, "s3cret"),
             "дежурные@conference.localhost": conference("Дежурные", "anna")}
    for jid, payload in rooms.items():
        r = ok(await publish(a, NS_BM, payload, jid, OPTIONS), "publish bookmark %s" % jid)
        ev = await a2.wait_for(is_event(NS_BM, "ba@localhost", jid), what="bookmark event at phone")
        conf = ev.find(".//{%s}conference" % NS_BM)
        check(conf is not None and conf.get("name") is not None, "payload in the event", ev)
        await a.wait_for(is_event(NS_BM, "ba@localhost", jid), what="event at publishing resource")
    # The bookmark with a password reached the owner's phone intact.
    r = ok(await items_of(a2, "ba@localhost", NS_BM), "retrieve all bookmarks")
    check(sorted(item_ids(r)) == sorted(rooms), "every bookmark kept (max_items max)", r)
    ops = [i for i in r.iter(q("item", NS_PUBSUB)) if i.get("id") == "ops@conference.localhost"][0]
    check(ops.findtext(".//{%s}password" % NS_BM) == "s3cret" and
          ops.find("{%s}conference" % NS_BM).get("autojoin") == "false", "payload kept", r)
    nick = [i for i in r.iter(q("item", NS_PUBSUB)) if i.get("id") == "council@conference.localhost"][0]
    check(nick.findtext(".//{%s}nick" % NS_BM) == "Анна", "Cyrillic nick kept", r)
    # The node has the options of XEP-0402 §3.
    r = ok(await a.iq("get", "<pubsub xmlns='%s#owner'><configure node='%s'/></pubsub>"
                      % (NS_PUBSUB, NS_BM)), "configure get")
    fields = {f.get("var"): [v.text for v in f.findall("{jabber:x:data}value")]
              for f in r.iter("{jabber:x:data}field")}
    check(fields.get("pubsub#access_model") == ["whitelist"] and
          fields.get("pubsub#max_items") == ["max"] and
          fields.get("pubsub#send_last_published_item") == ["never"] and
          fields.get("pubsub#persist_items") in (["1"], ["true"]), "node options %r" % fields, r)
    # Updating one bookmark replaces the item of that id.
    ok(await publish(a, NS_BM, conference("Council (new)", "Анна"), "council@conference.localhost",
                     OPTIONS), "update bookmark")
    await a2.wait_for(is_event(NS_BM, "ba@localhost", "council@conference.localhost"), what="update")
    r = ok(await items_of(a, "ba@localhost", NS_BM, extra="<item id='council@conference.localhost'/>"),
           "one bookmark by id")
    check(r.find(".//{%s}conference" % NS_BM).get("name") == "Council (new)", "updated", r)
    check(len(item_ids(ok(await items_of(a, "ba@localhost", NS_BM), "all"))) == 3, "still three")
    # Retract with notify (§3.5).
    ok(await a.iq("set", "<pubsub xmlns='%s'><retract node='%s' notify='true'>"
                  "<item id='ops@conference.localhost'/></retract></pubsub>" % (NS_PUBSUB, NS_BM)),
       "retract bookmark")
    await a2.wait_for(is_event(NS_BM, "ba@localhost", "ops@conference.localhost", retract=True),
                      what="retract event at phone")
    r = ok(await items_of(a2, "ba@localhost", NS_BM), "after retract")
    check(sorted(item_ids(r)) == sorted(set(rooms) - {"ops@conference.localhost"}), "retracted", r)
    # Nobody else: not a contact with +notify, not a stranger; neither
    # events nor items nor disco#items.
    await friend.quiet(0.3, lambda el: event_items(el, NS_BM) is not None)
    await stranger.quiet(0.1, lambda el: event_items(el, NS_BM) is not None)
    await a3.quiet(0.1, lambda el: event_items(el, NS_BM) is not None)
    for other in (friend, stranger):
        r = await items_of(other, "ba@localhost", NS_BM)
        conds = error_of(r)
        check("not-allowed" in conds and "closed-node" in conds, "whitelist keeps others out", r)
        check(not item_ids(r), "no items leaked", r)
        r = await items_of(other, "ba@localhost", NS_BM,
                           extra="<item id='council@conference.localhost'/>")
        check("not-allowed" in error_of(r), "no item by id either", r)
        r = ok(await other.iq("get", "<query xmlns='http://jabber.org/protocol/disco#items'/>",
                              to="ba@localhost"), "disco#items")
        check(NS_BM not in [i.get("node") for i in r.iter()], "bookmarks node not listed", r)
        r = await publish(other, NS_BM, conference("X", "x"), "x@conference.localhost", to="ba@localhost")
        check("forbidden" in error_of(r), "others cannot publish", r)
    # send_last_published_item = never: a new resource gets no last item,
    # it asks for the items itself.
    a4 = await ctx.raw_session("ba@localhost", "tablet")
    await online(a4, [NS_BM + "+notify"])
    await a4.quiet(0.7, lambda el: event_items(el, NS_BM) is not None)
    r = ok(await items_of(a4, "ba@localhost", NS_BM), "new resource retrieves")
    check(len(item_ids(r)) == 2, "two bookmarks", r)


async def test_publish_options_mismatch(ctx):
    """A client that publishes with the XEP-0402 options to a node an older
    client made with other options gets the precondition error."""
    a = await ctx.raw_session("bd@localhost", "r")
    await online(a, [])
    ok(await publish(a, NS_BM, conference("A", "a"), "a@conference.localhost",
                     {"pubsub#access_model": "presence"}), "node with presence access")
    r = await publish(a, NS_BM, conference("B", "b"), "b@conference.localhost", OPTIONS)
    conds = error_of(r)
    check("conflict" in conds and "precondition-not-met" in conds, "precondition", r)
    r = ok(await items_of(a, "bd@localhost", NS_BM), "items")
    check(item_ids(r) == ["a@conference.localhost"], "nothing published on failure", r)

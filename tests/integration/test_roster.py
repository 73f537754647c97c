"""Roster management and versioning (RFC 6121 §2)."""

from harness import NS_ROSTER, NS_ROSTERVER, check, q, roster_items, stanza_error, is_roster_push

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "rost@localhost", "rost2@localhost", "rost3@localhost",
]}

CONTACT = "nurse@localhost"


def get(ver=None):
    return "<query xmlns='%s'%s/>" % (NS_ROSTER, "" if ver is None else " ver='%s'" % ver)


def item_set(jid, name=None, groups=(), subscription=None):
    attrs = " jid='%s'" % jid
    if name is not None:
        attrs += " name='%s'" % name
    if subscription is not None:
        attrs += " subscription='%s'" % subscription
    return "<query xmlns='%s'><item%s>%s</item></query>" % (
        NS_ROSTER, attrs, "".join("<group>%s</group>" % g for g in groups))


def query_ver(el):
    qe = el.find(q("query", NS_ROSTER))
    return None if qe is None else qe.get("ver")


def check_push(el, owner_bare, what):
    frm = el.get("from")
    check(frm in (None, owner_bare), "%s: roster push from %r (must be absent or the user's bare JID)" % (what, frm), el)
    check(query_ver(el), "%s: roster push without ver" % what, el)


async def test_rosterver_stream_feature(ctx):
    r = await ctx.raw_session("rost3@localhost", "feat")
    # the features seen after SASL (stream restart) are kept in r.features
    check(r.features.find(q("ver", NS_ROSTERVER)) is not None,
          "roster versioning stream feature not advertised", r.features)


async def test_roster_set_push_versioning_remove(ctx):
    one = await ctx.client("rost@localhost", "one")
    two = await ctx.client("rost@localhost", "two")
    r = await one.iq("get", get(""))
    check(r.get("type") == "result", "roster get with ver=''", r)
    v0 = query_ver(r)
    check(v0 is not None, "roster result lacks ver although versioning is advertised", r)
    check(roster_items(r) == {}, "fresh roster not empty", r)
    r = await two.iq("get", get())  # two is an interested resource too
    check(r.get("type") == "result" and roster_items(r) == {}, "roster get (no ver)", r)

    # add an item (Cyrillic name and group)
    r = await one.iq("set", item_set(CONTACT, "Медсестра", ["Работа"]))
    check(r.get("type") == "result", "roster set", r)
    pushes = {}
    for c in (one, two):
        el = await c.expect(is_roster_push(CONTACT), what="roster push of the new item")
        check_push(el, "rost@localhost", c.label)
        it = roster_items(el)[CONTACT]
        check(it.get("subscription") == "none" and it.get("name") == "Медсестра",
              "%s: pushed item attributes" % c.label, el)
        check([g.text for g in it.findall(q("group", NS_ROSTER))] == ["Работа"], "pushed groups", el)
        check(it.get("ask") is None, "ask set on a plain roster add", el)
        pushes[c.label] = query_ver(el)
    v1 = pushes[one.label]
    check(v1 != v0, "roster version did not change after a set (%r)" % v1)
    check(pushes[two.label] == v1, "resources got different versions %r" % pushes)

    # unchanged version -> empty result
    r = await one.iq("get", get(v1))
    check(r.get("type") == "result", "roster get with current ver", r)
    check(len(list(r)) == 0, "roster get with the current version must return an empty result", r)

    # older version -> full roster or pushes
    r = await one.iq("get", get(v0))
    items = roster_items(r)
    if items is not None:
        check(CONTACT in items and query_ver(r) == v1, "roster get with an old ver", r)
    else:
        await one.expect(is_roster_push(CONTACT), what="push after get with an old ver")

    # a new session sees the stored item
    three = await ctx.client("rost@localhost", "three")
    r = await three.iq("get", get())
    it = (roster_items(r) or {}).get(CONTACT)
    check(it is not None and it.get("name") == "Медсестра", "stored roster item", r)

    # update
    r = await two.iq("set", item_set(CONTACT, "Старшая медсестра", ["Работа", "Больница"]))
    check(r.get("type") == "result", "roster update", r)
    for c in (one, two):
        el = await c.expect(is_roster_push(CONTACT), what="push of the update")
        it = roster_items(el)[CONTACT]
        check(it.get("name") == "Старшая медсестра", "%s: updated name" % c.label, el)
        check(sorted(g.text for g in it.findall(q("group", NS_ROSTER))) == ["Больница", "Работа"],
              "%s: updated groups" % c.label, el)
    # three requested the roster above, so it is an interested resource too
    await three.expect(is_roster_push(CONTACT), what="push to the third interested resource")

    # remove
    r = await one.iq("set", item_set(CONTACT, subscription="remove"))
    check(r.get("type") == "result", "roster remove", r)
    for c in (one, two, three):
        el = await c.expect(is_roster_push(CONTACT, "remove"), what="push of the removal")
        check_push(el, "rost@localhost", c.label)
    r = await one.iq("get", get())
    check(roster_items(r) == {}, "item still there after remove", r)


async def test_roster_errors(ctx):
    c = await ctx.client("rost2@localhost", "e")
    r = await c.iq("set", item_set("ghost@localhost", subscription="remove"))
    check(r.get("type") == "error" and stanza_error(r)[1] == "item-not-found",
          "removing a missing item: want item-not-found", r)
    two = ("<query xmlns='%s'><item jid='x1@localhost'/><item jid='x2@localhost'/></query>" % NS_ROSTER)
    r = await c.iq("set", two)
    check(r.get("type") == "error" and stanza_error(r)[1] == "bad-request",
          "roster set with two items: want bad-request", r)
    r = await c.iq("get", get())
    check(roster_items(r) == {}, "failed roster sets changed the roster", r)

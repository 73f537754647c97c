"""XEP-0049 private XML storage: set/get/replace per namespace, the empty
answer, reserved namespaces, other accounts, limits, persistence, and
slixmpp's plugin."""
import asyncio

from harness import NS_DISCO_INFO, check, q, stanza_error, tostr

NS_PRIVATE = "jabber:iq:private"

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "pa@localhost", "pb@localhost", "pc@localhost", "pd@localhost", "pe@localhost",
    "pf@localhost", "pg@localhost",
]}
CONFIG = {"profile": {"private_max_size": 2048, "private_max_entries": 3}}


async def priv(c, type_, inner, to=None):
    return await c.iq(type_, "<query xmlns='%s'>%s</query>" % (NS_PRIVATE, inner), to=to)


def stored(r, ns, name):
    check(r.get("type") == "result", "private get failed", r)
    qe = r.find(q("query", NS_PRIVATE))
    check(qe is not None, "no <query/> in the result", r)
    el = qe.find(q(name, ns))
    check(el is not None, "no <%s xmlns='%s'/> in the result" % (name, ns), r)
    return el


async def test_disco_features(ctx):
    c = await ctx.raw_session("pa@localhost", "d")
    for to in ("localhost", "pa@localhost"):
        r = await c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=to)
        feats = {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))}
        check(NS_PRIVATE in feats, "jabber:iq:private missing from disco#info of " + to, r)


async def test_set_get_replace(ctx):
    c = await ctx.raw_session("pa@localhost", "r")
    # nothing stored: the requested element comes back empty (§2.2)
    el = stored(await priv(c, "get", "<prefs xmlns='ex:prefs'/>"), "ex:prefs", "prefs")
    check(len(list(el)) == 0 and not el.text, "empty get returned content", el)
    r = await priv(c, "set", "<prefs xmlns='ex:prefs'><colour>синий</colour><size n='3'/></prefs>")
    check(r.get("type") == "result", "set failed", r)
    el = stored(await priv(c, "get", "<prefs xmlns='ex:prefs'/>", to="pa@localhost"),
                "ex:prefs", "prefs")
    check(el.find("{ex:prefs}colour").text == "синий", "stored content lost", el)
    check(el.find("{ex:prefs}size").get("n") == "3", "attribute lost", el)
    # another namespace is independent
    r = await priv(c, "set", "<notes xmlns='ex:notes'>one</notes>")
    check(r.get("type") == "result", "second namespace set failed", r)
    # a set replaces the element of that namespace
    r = await priv(c, "set", "<prefs xmlns='ex:prefs'><colour>red</colour></prefs>")
    el = stored(await priv(c, "get", "<prefs xmlns='ex:prefs'/>"), "ex:prefs", "prefs")
    check(el.find("{ex:prefs}size") is None and el.find("{ex:prefs}colour").text == "red",
          "set did not replace", el)
    el = stored(await priv(c, "get", "<notes xmlns='ex:notes'/>"), "ex:notes", "notes")
    check(el.text == "one", "other namespace changed", el)


async def test_reserved_and_malformed(ctx):
    c = await ctx.raw_session("pb@localhost", "r")
    for inner in ("<x xmlns='jabber:client'/>", "<x xmlns='jabber:server'/>", "<x/>",
                  "<query xmlns='jabber:iq:private'/>", ""):
        for t in ("get", "set"):
            r = await priv(c, t, inner)
            check(stanza_error(r) == ("modify", "not-acceptable"),
                  "%s %r not refused with not-acceptable" % (t, inner), r)
    r = await priv(c, "get", "<a xmlns='ex:a'/><b xmlns='ex:b'/>")
    check(stanza_error(r)[1] == "bad-request", "get of two namespaces", r)


async def test_other_account_forbidden(ctx):
    a = await ctx.raw_session("pc@localhost", "r")
    b = await ctx.raw_session("pd@localhost", "r")
    r = await priv(b, "set", "<s xmlns='ex:secret'>b's</s>")
    check(r.get("type") == "result", "set failed", r)
    for t, inner in (("get", "<s xmlns='ex:secret'/>"), ("set", "<s xmlns='ex:secret'>x</s>")):
        r = await priv(a, t, inner, to="pd@localhost")
        check(stanza_error(r)[1] == "forbidden", "%s on another account not forbidden" % t, r)
    el = stored(await priv(b, "get", "<s xmlns='ex:secret'/>"), "ex:secret", "s")
    check(el.text == "b's", "another account changed it", el)


async def test_limits(ctx):
    c = await ctx.raw_session("pe@localhost", "r")
    r = await priv(c, "set", "<big xmlns='ex:big'>%s</big>" % ("x" * 3000))
    check(stanza_error(r) == ("modify", "not-acceptable"), "oversized element stored", r)
    for i in range(3):
        r = await priv(c, "set", "<e xmlns='ex:%d'/>" % i)
        check(r.get("type") == "result", "set %d failed" % i, r)
    r = await priv(c, "set", "<e xmlns='ex:3'/>")
    check(stanza_error(r) == ("wait", "resource-constraint"), "fourth namespace accepted", r)
    # replacing an existing one is still fine
    r = await priv(c, "set", "<e xmlns='ex:1'>again</e>")
    check(r.get("type") == "result", "replace at the limit refused", r)


async def test_persistence(ctx):
    c = await ctx.raw_session("pf@localhost", "r")
    r = await priv(c, "set", "<keep xmlns='ex:keep'>навсегда</keep>")
    check(r.get("type") == "result", "set failed", r)
    await c.close()
    await asyncio.get_running_loop().run_in_executor(None, ctx.server.restart)
    c = await ctx.raw_session("pf@localhost", "r")
    el = stored(await priv(c, "get", "<keep xmlns='ex:keep'/>"), "ex:keep", "keep")
    check(el.text == "навсегда", "lost over a restart", el)


async def test_slixmpp_plugin(ctx):
    from slixmpp.xmlstream import ElementBase

    class Game(ElementBase):
        name = "game"
        namespace = "ex:game"
        plugin_attrib = "game"
        interfaces = {"level"}
        sub_interfaces = {"level"}

    x = await ctx.client("pg@localhost", "slix")
    x.x.register_plugin("xep_0049")
    p = x.x["xep_0049"]
    p.register(Game)
    g = Game()
    g["level"] = "7"
    await p.store(g)
    r = await p.retrieve("game")
    check(r["private"]["game"]["level"] == "7", "slixmpp did not read back its data: "
          + tostr(r.xml))

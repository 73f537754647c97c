"""Server-side IQ services: disco#info/items, ping, version, time, and
<service-unavailable/> for everything else."""

import datetime

from harness import (NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_ROSTER, NS_TIME, NS_VERSION, IDN_DOMAIN,
                     check, q, stanza_error)

ACCOUNTS = {"svc@localhost": "pw-svc", "svc@" + IDN_DOMAIN: "pw-svc-idn"}

REQUIRED_FEATURES = [NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_VERSION, NS_TIME, NS_ROSTER]


async def _disco_info(ctx, c, domain):
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=domain)
    check(r.get("type") == "result", "disco#info on %s failed" % domain, r)
    check(r.get("from") == domain, "disco#info reply from %r, want %r" % (r.get("from"), domain), r)
    query = r.find(q("query", NS_DISCO_INFO))
    check(query is not None, "disco#info result without <query/>", r)
    ids = [(i.get("category"), i.get("type")) for i in query.findall(q("identity", NS_DISCO_INFO))]
    check(("server", "im") in ids, "server identity missing: %s" % ids, r)
    feats = [f.get("var") for f in query.findall(q("feature", NS_DISCO_INFO))]
    missing = [f for f in REQUIRED_FEATURES if f not in feats]
    check(not missing, "disco#info lacks %s" % missing, r)
    check(len(feats) == len(set(feats)), "duplicate features: %s" % feats, r)
    return feats


async def test_disco_info_both_domains(ctx):
    c = await ctx.client("svc@localhost", "d")
    await _disco_info(ctx, c, "localhost")
    c2 = await ctx.client("svc@" + IDN_DOMAIN, "d")
    await _disco_info(ctx, c2, IDN_DOMAIN)


async def test_disco_items(ctx):
    c = await ctx.client("svc@localhost", "i")
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to="localhost")
    check(r.get("type") == "result", "disco#items failed", r)
    check(r.find(q("query", NS_DISCO_ITEMS)) is not None, "disco#items result without <query/>", r)


async def test_ping_server(ctx):
    c = await ctx.client("svc@localhost", "p")
    r = await c.iq("get", "<ping xmlns='%s'/>" % NS_PING, to="localhost")
    check(r.get("type") == "result" and r.get("from") == "localhost", "ping to server", r)
    check(len(list(r)) == 0, "ping result must be empty", r)
    # a ping without 'to' is answered by the server on behalf of the account (RFC 6120 §10.3.3)
    r = await c.iq("get", "<ping xmlns='%s'/>" % NS_PING)
    check(r.get("type") == "result", "ping without to", r)


async def test_version(ctx):
    c = await ctx.client("svc@localhost", "v")
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_VERSION, to="localhost")
    check(r.get("type") == "result", "jabber:iq:version failed", r)
    query = r.find(q("query", NS_VERSION))
    check(query is not None and (query.findtext(q("name", NS_VERSION)) or "").strip()
          and (query.findtext(q("version", NS_VERSION)) or "").strip(), "version needs name and version", r)


async def test_time(ctx):
    c = await ctx.client("svc@localhost", "t")
    r = await c.iq("get", "<time xmlns='%s'/>" % NS_TIME, to="localhost")
    check(r.get("type") == "result", "urn:xmpp:time failed", r)
    t = r.find(q("time", NS_TIME))
    check(t is not None, "time result without <time/>", r)
    tzo = t.findtext(q("tzo", NS_TIME)) or ""
    utc = t.findtext(q("utc", NS_TIME)) or ""
    import re
    check(re.fullmatch(r"Z|[+-]\d\d:\d\d", tzo), "bad tzo %r" % tzo, r)
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", utc), "bad utc %r" % utc, r)
    when = datetime.datetime.strptime(utc[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    skew = abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds())
    check(skew < 60, "server time is %ss off" % skew, r)


async def test_unknown_iq_service_unavailable(ctx):
    c = await ctx.client("svc@localhost", "u")
    for type_ in ("get", "set"):
        for to in ("localhost", "svc@localhost", None):
            r = await c.iq(type_, "<query xmlns='urn:example:unknown'/>", to=to)
            etype, cond = stanza_error(r)
            check(r.get("type") == "error" and cond == "service-unavailable" and etype == "cancel",
                  "unknown iq %s to %s: want cancel/service-unavailable" % (type_, to), r)


async def test_malformed_iq_gets_error_and_result_is_not_answered(ctx):
    c = await ctx.client("svc@localhost", "m")
    r = await c.iq("get", None, to="localhost")  # no child element
    etype, cond = stanza_error(r)
    check(r.get("type") == "error" and cond in ("bad-request", "service-unavailable", "feature-not-implemented"),
          "iq get without a child: want an error reply", r)
    # unsolicited result/error IQs are never answered (no ping-pong)
    c.send_raw("<iq type='result' id='unsolicited1' to='localhost'/>")
    c.send_raw("<iq type='error' id='unsolicited2' to='localhost'><error type='cancel'>"
               "<bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
    await c.quiet(lambda e: e.get("id") in ("unsolicited1", "unsolicited2"), 0.5, "reply to a result/error IQ")
    r = await c.iq("get", "<ping xmlns='%s'/>" % NS_PING, to="localhost")
    check(r.get("type") == "result", "session broken after unsolicited IQs", r)

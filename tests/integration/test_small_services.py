"""Small services every peer has and clients show (issue 19 item 9):
XEP-0012 last activity (accounts and the server's uptime), XEP-0157
contact addresses of the served domain, and MUC nick registration
(XEP-0045 §7.10) with x-roomuser-item (§7.2.4) and members-only rooms."""
import asyncio
import subprocess

from harness import VESTNIKD, XClient, check, is_presence, new_id, options, q, stanza_error, xattr, xesc

from test_muc import SVC, NS_MUC_ADMIN, NS_DATA, codes, configure, error_of, instant, item, join
from test_pep import befriend

NS_LAST = "jabber:iq:last"
NS_REGISTER = "jabber:iq:register"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_SERVERINFO = "http://jabber.org/network/serverinfo"
NS_MUC_REGISTER = "http://jabber.org/protocol/muc#register"

NAMES = ["la_a", "la_b", "la_x", "ci_a", "rg_o", "rg_u", "rg_v", "rg_w", "rg_m"]
ACCOUNTS = {n + "@localhost": "pw-" + n for n in NAMES}


async def raw(ctx, name, presence=False, resource=None):
    return await ctx.raw_session(name + "@localhost", resource or "r" + new_id(), presence=presence)


def last_of(r):
    qq = r.find(q("query", NS_LAST))
    check(qq is not None and qq.get("seconds") is not None, "jabber:iq:last with seconds", r)
    return int(qq.get("seconds")), (qq.text or "")


# ---- XEP-0012 ---------------------------------------------------------------

async def test_last_activity(ctx):
    a = await raw(ctx, "la_a", presence=True, resource="phone")
    b = await raw(ctx, "la_b", presence=True)
    x = await raw(ctx, "la_x", presence=True)
    # XEP-0012 §5: the server answers with its uptime
    r = await x.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="localhost")
    check(r.get("type") == "result", "server last activity (uptime)", r)
    up, _ = last_of(r)
    # the module's server started before this test, within the runner's time
    check(0 <= up <= 600, "uptime %d s" % up, r)
    await befriend(a, b)
    # §4: a contact with a presence subscription asks about an online user: 0
    r = await b.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="la_a@localhost")
    check(r.get("type") == "result", "last activity of an online contact", r)
    check(last_of(r)[0] == 0, "online: 0 seconds", r)
    # someone without a subscription: forbidden
    r = await x.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="la_a@localhost")
    check(r.get("type") == "error" and stanza_error(r) == ("auth", "forbidden"),
          "no subscription: forbidden", r)
    # the user goes offline with a status
    a.send("<presence type='unavailable'><status>Gone fishing</status></presence>")
    await b.wait_for(is_presence(frm=a.jid, type_="unavailable"), what="a goes offline")
    await a.close()
    await asyncio.sleep(1.2)
    r = await b.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="la_a@localhost")
    secs, text = last_of(r)
    check(1 <= secs <= 30 and text == "Gone fishing", "offline for %ds with %r" % (secs, text), r)
    r = await x.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="la_a@localhost")
    check(stanza_error(r) == ("auth", "forbidden"), "still forbidden offline", r)
    # it survives a restart (stored)
    for c in (b, x):
        c.abort()
    ctx.server.restart()
    b = await raw(ctx, "la_b", presence=True)
    r = await b.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="localhost")
    check(last_of(r)[0] <= 10, "uptime counts from the restart", r)
    r = await b.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="la_a@localhost")
    secs, text = last_of(r)
    check(secs >= 1 and text == "Gone fishing", "after a restart: %ds %r" % (secs, text), r)
    # a connection lost without unavailable counts too (status empty)
    a = await raw(ctx, "la_a", presence=True, resource="phone")
    await b.wait_for(is_presence(frm=a.jid), what="a back")
    r = await b.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="la_a@localhost")
    check(last_of(r)[0] == 0, "online again: 0", r)
    a.abort()
    await b.wait_for(is_presence(frm=a.jid, type_="unavailable"), what="a's connection lost")
    r = await b.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="la_a@localhost")
    secs, text = last_of(r)
    check(secs <= 5 and text == "", "after a lost connection: %ds %r" % (secs, text), r)
    # the user asks about itself; slixmpp's xep_0012 reads the server's uptime
    s = XClient(ctx.server, "la_b@localhost/slix", ctx.password("la_b@localhost"))
    s.x.register_plugin("xep_0012")
    ctx._clients.append(s)
    await s.start()
    r = await s.x["xep_0012"].get_last_activity("localhost")
    check(int(r["last_activity"]["seconds"]) >= 0, "slixmpp reads the uptime", r)
    r = await s.x["xep_0012"].get_last_activity("la_b@localhost")
    check(int(r["last_activity"]["seconds"]) == 0, "own account online: 0", r)


# ---- XEP-0157 ---------------------------------------------------------------

CONTACTS = {"server": {
    "contact_abuse": "mailto:abuse@localhost",
    "contact_admin": "xmpp:admin@localhost, mailto:admin@localhost",
    "contact_support": "https://support.localhost/help",
}}


@options(config=CONTACTS)
async def test_contact_addresses(ctx):
    s = XClient(ctx.server, "ci_a@localhost/slix", ctx.password("ci_a@localhost"))
    s.x.register_plugin("xep_0128")
    ctx._clients.append(s)
    await s.start()
    info = await s.x["xep_0030"].get_info(jid="localhost")
    forms = [f for f in info["disco_info"]["forms"]
             if f.get_values().get("FORM_TYPE") in (NS_SERVERINFO, [NS_SERVERINFO])]
    check(len(forms) == 1, "one serverinfo form in disco#info", info)
    vals = forms[0].get_values()
    check(vals.get("abuse-addresses") == ["mailto:abuse@localhost"], "abuse", info)
    check(vals.get("admin-addresses") == ["xmpp:admin@localhost", "mailto:admin@localhost"],
          "admin (two, in order)", info)
    check(vals.get("support-addresses") == ["https://support.localhost/help"], "support", info)
    check("sales-addresses" not in vals, "unconfigured kinds are left out", info)
    # XEP-0128: the form is not in an account's or a service's disco#info
    c = await raw(ctx, "ci_a")
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="ci_a@localhost")
    check(r.find(".//" + q("x", NS_DATA)) is None, "no form on an account", r)
    # the same form on the second served domain
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="испытание.рф")
    check(any(v.text == NS_SERVERINFO for v in r.iter(q("value", NS_DATA))), "IDN domain too", r)


async def test_contact_addresses_not_configured(ctx):
    c = await raw(ctx, "ci_a")
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    check(r.get("type") == "result" and r.find(".//" + q("x", NS_DATA)) is None,
          "no serverinfo form when no address is configured", r)


@options(server=False)
async def test_contact_addresses_invalid(ctx):
    """A contact address that is not a URI stops vestnikd at start, with
    the file, line and key (the config is written, vestnikd run by hand:
    the runner would count a server that must not start as a failure)."""
    for bad in ("admin at example", "admin@example", "mailto:a@example,, xmpp:b@example"):
        srv = ctx.new_server({"server": {"contact_admin": bad}}, accounts={}, start=False)
        p = subprocess.run([VESTNIKD, "--config", srv.config_path], capture_output=True,
                           text=True, timeout=10)
        check(p.returncode != 0, "contact_admin = %r (not a list of URIs) must stop vestnikd" % bad)
        check("invalid value for [server] contact_admin" in p.stderr,
              "the error names the key: %s" % p.stderr)
    srv = ctx.new_server({"server": {"contact_sales": "mailto:sales@localhost"}}, accounts={})
    c = await ctx.raw(server=srv)
    await c.open()
    await c.close()


# ---- XEP-0045 §7.10 nick registration ---------------------------------------

def room_jid(room):
    return "%s@%s" % (room, SVC)


def reg_form(nick):
    return ("<query xmlns='%s'><x xmlns='%s' type='submit'>"
            "<field var='FORM_TYPE'><value>%s</value></field>"
            "<field var='muc#register_roomnick'><value>%s</value></field></x></query>"
            % (NS_REGISTER, NS_DATA, NS_MUC_REGISTER, xesc(nick)))


async def roomuser_item(c, room):
    r = await c.iq("get", "<query xmlns='%s' node='x-roomuser-item'/>" % NS_DISCO_INFO,
                   to=room_jid(room))
    check(r.get("type") == "result", "x-roomuser-item", r)
    qq = r.find(q("query", NS_DISCO_INFO))
    check(qq.get("node") == "x-roomuser-item", "node mirrored", r)
    ids = qq.findall(q("identity", NS_DISCO_INFO))
    if not ids:
        return None
    check(ids[0].get("category") == "conference" and ids[0].get("type") == "text", "identity", r)
    return ids[0].get("name")


async def members(c, room):
    r = await c.iq("get", "<query xmlns='%s'><item affiliation='member'/></query>" % NS_MUC_ADMIN,
                   to=room_jid(room))
    check(r.get("type") == "result", "member list", r)
    return {i.get("jid"): i.get("nick") for i in r.iter(q("item", NS_MUC_ADMIN))}


@options(timeout=40)
async def test_muc_nick_registration(ctx):
    o = await raw(ctx, "rg_o")
    await join(o, "reg", "boss")
    r = await configure(o, "reg", persistentroom=1)
    check(r.get("type") == "result", "persistent room", r)
    u = await raw(ctx, "rg_u")
    # the room says it supports registration
    r = await u.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=room_jid("reg"))
    check(NS_REGISTER in {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))},
          "jabber:iq:register on the room", r)
    # §7.10: the form
    r = await u.iq("get", "<query xmlns='%s'/>" % NS_REGISTER, to=room_jid("reg"))
    check(r.get("type") == "result", "registration form", r)
    fields = {f.get("var"): f for f in r.iter(q("field", NS_DATA))}
    check(fields.get("FORM_TYPE") is not None and
          fields["FORM_TYPE"].findtext(q("value", NS_DATA)) == NS_MUC_REGISTER, "FORM_TYPE", r)
    check("muc#register_roomnick" in fields and
          fields["muc#register_roomnick"].find(q("required", NS_DATA)) is not None,
          "roomnick required", r)
    check(r.find(".//" + q("registered", NS_REGISTER)) is None, "not registered yet", r)
    check(await roomuser_item(u, "reg") is None, "no nick yet")
    # bad forms
    r = await u.iq("set", "<query xmlns='%s'/>" % NS_REGISTER, to=room_jid("reg"))
    check(error_of(r) == "bad-request", "no form", r)
    r = await u.iq("set", reg_form(""), to=room_jid("reg"))
    check(error_of(r) == "bad-request" or error_of(r) == "not-acceptable", "empty nick", r)
    # register
    r = await u.iq("set", reg_form("Ursula"), to=room_jid("reg"))
    check(r.get("type") == "result", "registration", r)
    check(await roomuser_item(u, "reg") == "Ursula", "x-roomuser-item gives the nick")
    r = await u.iq("get", "<query xmlns='%s'/>" % NS_REGISTER, to=room_jid("reg"))
    check(r.find(".//" + q("registered", NS_REGISTER)) is not None and
          r.findtext(".//" + q("username", NS_REGISTER)) == "Ursula", "registered + username", r)
    check(await members(o, "reg") == {"rg_u@localhost": "Ursula"}, "member with its nick")
    # the nick is reserved: another user can neither join with it nor register it
    v = await raw(ctx, "rg_v")
    await join(v, "reg", "Ursula", expect="conflict")
    r = await v.iq("set", reg_form("Ursula"), to=room_jid("reg"))
    check(error_of(r) == "conflict", "registering a reserved nick", r)
    # a nick someone else is using now cannot be registered either
    await join(v, "reg", "vic")
    r = await u.iq("set", reg_form("vic"), to=room_jid("reg"))
    check(error_of(r) == "conflict", "registering a nick in use", r)
    # nor can v change to the reserved nick
    v.send("<presence to='%s/Ursula'/>" % room_jid("reg"))
    el = await v.wait_for(lambda e: e.tag == q("presence") and e.get("type") == "error",
                          what="nick change refused")
    check(error_of(el) == "conflict", "nick change to a reserved nick", el)
    # the registered user joins with it, as a member
    el = await join(u, "reg", "Ursula")
    check(item(el).get("affiliation") == "member", "registered user is a member", el)
    # survives a restart
    for c in (o, u, v):
        c.abort()
    ctx.server.restart()
    u = await raw(ctx, "rg_u")
    check(await roomuser_item(u, "reg") == "Ursula", "nick kept across a restart")
    v = await raw(ctx, "rg_v")
    await join(v, "reg", "Ursula", expect="conflict")
    # unregister (XEP-0077 <remove/>): no longer a member, the nick is free
    r = await u.iq("set", "<query xmlns='%s'><remove/></query>" % NS_REGISTER, to=room_jid("reg"))
    check(r.get("type") == "result", "unregister", r)
    check(await roomuser_item(u, "reg") is None, "no nick after unregistering")
    await join(v, "reg", "Ursula")


async def test_muc_registration_members_only(ctx):
    o = await raw(ctx, "rg_o")
    await join(o, "club", "boss")
    r = await configure(o, "club", membersonly=1)
    check(r.get("type") == "result", "members-only", r)
    w = await raw(ctx, "rg_w")
    # a stranger can neither register (which would make it a member) nor join
    r = await w.iq("get", "<query xmlns='%s'/>" % NS_REGISTER, to=room_jid("club"))
    check(error_of(r) == "not-allowed", "registration closed to non-members", r)
    r = await w.iq("set", reg_form("Walt"), to=room_jid("club"))
    check(error_of(r) == "not-allowed", "registration refused to non-members", r)
    await join(w, "club", "Walt", expect="registration-required")
    # a member the owner added reserves its nick
    r = await o.iq("set", "<query xmlns='%s'><item affiliation='member' jid='rg_m@localhost'/>"
                   "</query>" % NS_MUC_ADMIN, to=room_jid("club"))
    check(r.get("type") == "result", "add member", r)
    m = await raw(ctx, "rg_m")
    r = await m.iq("set", reg_form("Mia"), to=room_jid("club"))
    check(r.get("type") == "result", "member registers", r)
    check(await roomuser_item(m, "club") == "Mia", "member's nick")
    el = await join(m, "club", "Mia")
    check(item(el).get("affiliation") == "member", "member", el)
    # unregistering takes the membership: the member is removed (321)
    r = await m.iq("set", "<query xmlns='%s'><remove/></query>" % NS_REGISTER, to=room_jid("club"))
    check(r.get("type") == "result", "unregister", r)
    el = await m.wait_for(lambda e: is_presence(frm=room_jid("club") + "/Mia", type_="unavailable")(e),
                          what="removed from the members-only room")
    check(321 in codes(el), "321", el)
    await join(m, "club", "Mia", expect="registration-required")
    # the owner reserves a nick too (stays owner)
    r = await o.iq("set", reg_form("Boss"), to=room_jid("club"))
    check(r.get("type") == "result", "owner registers", r)
    r = await o.iq("get", "<query xmlns='%s'><item affiliation='owner'/></query>" % NS_MUC_ADMIN,
                   to=room_jid("club"))
    check({i.get("jid"): i.get("nick") for i in r.iter(q("item", NS_MUC_ADMIN))} ==
          {"rg_o@localhost": "Boss"}, "owner keeps its affiliation, with the nick", r)

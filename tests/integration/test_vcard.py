"""XEP-0054 vcard-temp (own and others' vCards, errors, limits, Unicode,
persistence) and XEP-0153 vCard-based avatar hashes in presence."""
import asyncio
import base64
import hashlib

from harness import (IDN_DOMAIN, NS_DISCO_INFO, bare, check, is_presence, q, stanza_error,
                     xattr, xesc)

NS_VCARD = "vcard-temp"
NS_UPDATE = "vcard-temp:x:update"

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "va@localhost", "vb@localhost", "vc@localhost", "vd@localhost", "ve@localhost",
    "vf@localhost", "vg@localhost", "vh@localhost", "vi@localhost", "vj@localhost",
    "vk@localhost", "vl@localhost", "vm@localhost", "vn@localhost", "вера@" + IDN_DOMAIN,
]}
# A small limit, well below the stanza limit, so that the refusal is the
# module's and not the stream's.
CONFIG = {"profile": {"vcard_max_size": 16384}}

PNG1 = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
PNG2 = b"\x89PNG\r\n\x1a\n" + bytes(range(255, 0, -1)) * 3


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def photo_xml(data, type_="image/png", fold=False):
    b64 = base64.b64encode(data).decode()
    if fold:  # vCards often carry folded base64
        b64 = "\n".join(b64[i:i + 60] for i in range(0, len(b64), 60))
    return "<PHOTO><TYPE>%s</TYPE><BINVAL>%s</BINVAL></PHOTO>" % (type_, b64)


async def vcard_set(c, inner, to=None, expect="result"):
    r = await c.iq("set", "<vCard xmlns='%s'>%s</vCard>" % (NS_VCARD, inner), to=to)
    if expect == "result":
        check(r.get("type") == "result", "%s: vCard set failed" % c.label, r)
    return r


async def vcard_get(c, to=None):
    return await c.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to=to)


def card_of(r):
    check(r.get("type") == "result", "vCard get failed", r)
    v = r.find(q("vCard", NS_VCARD))
    check(v is not None, "no <vCard/> in the result", r)
    return v


def field(card, *path):
    el = card
    for p in path:
        el = el.find(q(p, NS_VCARD)) if el is not None else None
    return el.text if el is not None else None


def photo_hash(el):
    """None: no x:update; '' : empty <photo/>; else the hash."""
    x = el.find(q("x", NS_UPDATE))
    if x is None:
        return None
    ph = x.find(q("photo", NS_UPDATE))
    if ph is None:
        return "<no photo element>"
    return ph.text or ""


async def befriend(a, b):
    """a and b see each other's presence (raw clients, both available), then
    everything the subscriptions caused is read."""
    for x, y in ((a, b), (b, a)):
        x.send("<presence to=%s type='subscribe'/>" % xattr(bare(y.jid)))
        await y.wait_for(is_presence(type_="subscribe", frm=bare(x.jid)), what="subscribe")
        y.send("<presence to=%s type='subscribed'/>" % xattr(bare(x.jid)))
        await x.wait_for(is_presence(type_="subscribed", frm=bare(y.jid)), what="subscribed")
    for c in (a, b):
        await drain(c)


async def drain(c, quiet_for=0.3):
    """Reads and drops what c has been sent until it is quiet."""
    while await c.poll(quiet_for):
        await c.element()


async def test_disco_feature(ctx):
    c = await ctx.raw_session("va@localhost", "d")
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    feats = {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))}
    check(NS_VCARD in feats, "vcard-temp missing from the server's disco#info", r)


async def test_own_empty_then_set_get(ctx):
    c = await ctx.raw_session("va@localhost", "r")
    # XEP-0054 §3.1: no vCard yet -> an empty <vCard/> for the account itself
    card = card_of(await vcard_get(c))
    check(len(list(card)) == 0, "a fresh account's vCard is not empty", card)
    await vcard_set(c, "<FN>Alice Example</FN><NICKNAME>al</NICKNAME>"
                       "<EMAIL><INTERNET/><USERID>al@example.org</USERID></EMAIL>")
    for to in (None, "va@localhost"):
        card = card_of(await vcard_get(c, to=to))
        check(field(card, "FN") == "Alice Example", "FN not stored", card)
        check(field(card, "EMAIL", "USERID") == "al@example.org", "nested field lost", card)
    # a set replaces the whole vCard (§3.2)
    await vcard_set(c, "<NICKNAME>only</NICKNAME>", to="va@localhost")
    card = card_of(await vcard_get(c))
    check(field(card, "FN") is None and field(card, "NICKNAME") == "only",
          "set did not replace the whole vCard", card)


async def test_read_another_account(ctx):
    a = await ctx.raw_session("vb@localhost", "r")
    b = await ctx.raw_session("vc@localhost", "r")
    await vcard_set(a, "<FN>Bee</FN>")
    card = card_of(await vcard_get(b, to="vb@localhost"))
    check(field(card, "FN") == "Bee", "another account's vCard not readable", card)
    # no vCard and no account: one and the same error (§3.3, no harvesting)
    r1 = await vcard_get(a, to="vc@localhost")
    r2 = await vcard_get(a, to="nobody-here@localhost")
    check(stanza_error(r1) == ("cancel", "item-not-found"), "no vCard: item-not-found", r1)
    check(stanza_error(r2) == stanza_error(r1), "unknown account answered differently", r2)


async def test_set_for_another_forbidden(ctx):
    a = await ctx.raw_session("vd@localhost", "r")
    b = await ctx.raw_session("ve@localhost", "r")
    await vcard_set(b, "<FN>Original</FN>")
    r = await vcard_set(a, "<FN>Hijack</FN>", to="ve@localhost", expect="error")
    check(stanza_error(r) == ("auth", "forbidden"), "set on another's vCard not forbidden", r)
    card = card_of(await vcard_get(a, to="ve@localhost"))
    check(field(card, "FN") == "Original", "another's vCard was changed", card)


async def test_oversized_refused(ctx):
    c = await ctx.raw_session("vf@localhost", "r")
    await vcard_set(c, "<FN>Small</FN>")
    r = await vcard_set(c, "<FN>Big</FN>" + photo_xml(bytes(20000)), expect="error")
    check(stanza_error(r) == ("modify", "not-acceptable"), "oversized vCard not refused", r)
    card = card_of(await vcard_get(c))
    check(field(card, "FN") == "Small", "refused set changed the vCard", card)
    # a BINVAL that is not base64
    r = await vcard_set(c, "<PHOTO><TYPE>image/png</TYPE><BINVAL>@@not base64@@</BINVAL></PHOTO>",
                        expect="error")
    check(stanza_error(r) == ("modify", "bad-request"), "bad BINVAL not refused", r)
    # the connection is fine afterwards
    await c.ping_server()


async def test_cyrillic_and_persistence(ctx):
    jid = "вера@" + IDN_DOMAIN
    c = await ctx.raw_session(jid, "r")
    fn = "Вера Павловна Иванова"
    desc = "Диспетчер, смена «Б» — <важно> & срочно"
    await vcard_set(c, "<FN>%s</FN><DESC>%s</DESC><ORG><ORGNAME>РЖД</ORGNAME></ORG>%s"
                    % (xesc(fn), xesc(desc), photo_xml(PNG1)))
    card = card_of(await vcard_get(c))
    check(field(card, "FN") == fn and field(card, "DESC") == desc, "Cyrillic round trip", card)
    await c.close()
    await asyncio.get_running_loop().run_in_executor(None, ctx.server.restart)
    c = await ctx.raw_session(jid, "r2")
    card = card_of(await vcard_get(c))
    check(field(card, "FN") == fn, "vCard lost over a restart", card)
    check(field(card, "ORG", "ORGNAME") == "РЖД", "nested Cyrillic lost over a restart", card)
    got = base64.b64decode(field(card, "PHOTO", "BINVAL"))
    check(got == PNG1, "photo changed over a restart")
    # the photo hash survives too: it is in the first presence after login
    b = await ctx.raw_session("vl@localhost", "r", presence=True)
    await c.close()
    c = await ctx.raw_session(jid, "r3", presence=True)
    await befriend(b, c)
    c.send("<presence/>")
    el = await b.wait_for(is_presence(frm=c.jid), what="presence with hash")
    check(photo_hash(el) == sha1(PNG1), "hash after a restart", el)


async def test_slixmpp_plugin(ctx):
    x = await ctx.client("vg@localhost", "slix")
    x.x.register_plugin("xep_0054")
    v = x.x["xep_0054"]
    card = v.make_vcard()
    card["FN"] = "Слава Слixmpp"
    card["NICKNAME"] = "slava"
    await v.publish_vcard(card)
    got = await v.get_vcard(x.x.boundjid.bare, local=False, cached=False)
    check(got["vcard_temp"]["FN"] == "Слава Слixmpp", "slixmpp did not read back its vCard",
          got.xml)


async def test_presence_photo_hash(ctx):
    a = await ctx.raw_session("vh@localhost", "r", presence=True)
    b = await ctx.raw_session("vi@localhost", "r", presence=True)
    await befriend(a, b)
    a.send("<presence/>")
    el = await b.wait_for(is_presence(frm=a.jid), what="a's first presence")
    check(photo_hash(el) == "", "no photo: the server must say so with an empty <photo/>", el)
    # a sets a PHOTO: b gets a's presence again with the hash (XEP-0153 §4.3)
    await vcard_set(a, "<FN>A</FN>" + photo_xml(PNG1, fold=True))
    el = await b.wait_for(is_presence(frm=a.jid), what="presence after the photo")
    check(photo_hash(el) == sha1(PNG1), "hash of the new photo", el)
    # a's client claims another hash, or is "not ready": the server's hash wins
    a.send("<presence><status>st</status><x xmlns='%s'><photo>%s</photo></x></presence>"
           % (NS_UPDATE, "0" * 40))
    el = await b.wait_for(is_presence(frm=a.jid), what="presence with a client hash")
    check(photo_hash(el) == sha1(PNG1), "client's stale hash not replaced", el)
    check(len(el.findall(q("x", NS_UPDATE))) == 1, "more than one x:update", el)
    a.send("<presence><x xmlns='%s'/></presence>" % NS_UPDATE)
    el = await b.wait_for(is_presence(frm=a.jid), what="presence of a client not ready")
    check(photo_hash(el) == sha1(PNG1), "not-ready client's presence without the hash", el)
    # the photo changes
    await vcard_set(a, "<FN>A</FN>" + photo_xml(PNG2))
    el = await b.wait_for(is_presence(frm=a.jid), what="presence after the photo changed")
    check(photo_hash(el) == sha1(PNG2), "hash did not follow the photo", el)
    # the photo goes away
    await vcard_set(a, "<FN>A</FN>")
    el = await b.wait_for(is_presence(frm=a.jid), what="presence after the photo was removed")
    check(photo_hash(el) == "", "removed photo: expected an empty <photo/>", el)
    # a vCard change that keeps the photo sends no presence
    await vcard_set(a, "<FN>A2</FN>")
    await b.quiet(0.5, lambda e: e.tag == q("presence"))


async def test_hash_to_own_resources_and_second_login(ctx):
    a1 = await ctx.raw_session("vj@localhost", "one", presence=True)
    await vcard_set(a1, photo_xml(PNG2))
    a2 = await ctx.raw_session("vj@localhost", "two")
    a2.send("<presence/>")
    el = await a1.wait_for(is_presence(frm=a2.jid), what="own other resource's presence")
    check(photo_hash(el) == sha1(PNG2), "hash missing in presence to own resources", el)


async def test_slixmpp_xep_0153(ctx):
    """slixmpp's XEP-0153 plugin sets the avatar through the vCard; a contact
    sees the hash."""
    w = await ctx.raw_session("vk@localhost", "w", presence=True)
    x = await ctx.client("vm@localhost", "slix", presence=True)
    for p in ("xep_0054", "xep_0153"):
        x.x.register_plugin(p)
    # w subscribes to vm's presence; vm approves
    w.send("<presence to='vm@localhost' type='subscribe'/>")
    await x.expect(lambda e: e.tag == q("presence") and e.get("type") == "subscribe",
                   what="subscribe")
    x.x.send_presence(pto="vk@localhost", ptype="subscribed")
    await w.wait_for(is_presence(type_="subscribed", frm="vm@localhost"), what="subscribed")
    await x.x["xep_0153"].set_avatar(avatar=PNG1, mtype="image/png")
    x.presence()
    el = await w.wait_for(lambda e: is_presence(frm=str(x.jid))(e) and photo_hash(e) == sha1(PNG1),
                          what="presence with the slixmpp avatar's hash")
    check(photo_hash(el) == sha1(PNG1), "hash", el)

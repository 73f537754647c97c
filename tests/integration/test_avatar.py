"""XEP-0398 avatar conversion: an XEP-0084 avatar published to PEP becomes
the vCard PHOTO (and the XEP-0153 hash in presence); a vCard PHOTO becomes
the XEP-0084 data and metadata items."""
import asyncio
import base64
import hashlib
import itertools

from harness import NS_DISCO_INFO, TestFailure, bare, check, is_presence, q, xattr

NS_VCARD = "vcard-temp"
NS_UPDATE = "vcard-temp:x:update"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_DATA = "urn:xmpp:avatar:data"
NS_META = "urn:xmpp:avatar:metadata"
NS_CONVERSION = "urn:xmpp:pep-vcard-conversion:0"

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "aa@localhost", "ab@localhost", "ac@localhost", "ad@localhost", "ae@localhost",
    "af@localhost", "ag@localhost", "ah@localhost",
]}
NS_CAPS = "http://jabber.org/protocol/caps"
NS_EVENT = "http://jabber.org/protocol/pubsub#event"

IMG1 = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2
IMG2 = b"GIF89a" + bytes(range(100, 200))


def sha1(b):
    return hashlib.sha1(b).hexdigest()


def b64(b):
    return base64.b64encode(b).decode()


async def publish(c, node, item_id, payload):
    r = await c.iq("set", "<pubsub xmlns='%s'><publish node=%s><item id=%s>%s</item></publish>"
                          "</pubsub>" % (NS_PUBSUB, xattr(node), xattr(item_id), payload))
    check(r.get("type") == "result", "publish to %s failed" % node, r)


async def publish_avatar(c, data, type_="image/png"):
    h = sha1(data)
    await publish(c, NS_DATA, h, "<data xmlns='%s'>%s</data>" % (NS_DATA, b64(data)))
    await publish(c, NS_META, h, "<metadata xmlns='%s'><info bytes='%d' id='%s' type='%s'/>"
                                 "</metadata>" % (NS_META, len(data), h, type_))


async def items(c, owner, node):
    r = await c.iq("get", "<pubsub xmlns='%s'><items node=%s/></pubsub>" % (NS_PUBSUB, xattr(node)),
                   to=owner)
    return r


async def vcard(c):
    r = await c.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD)
    check(r.get("type") == "result", "vCard get failed", r)
    return r.find(q("vCard", NS_VCARD))


def photo_of(card):
    ph = card.find(q("PHOTO", NS_VCARD)) if card is not None else None
    if ph is None:
        return None, None
    t = ph.find(q("TYPE", NS_VCARD))
    bv = ph.find(q("BINVAL", NS_VCARD))
    return (t.text if t is not None else None,
            base64.b64decode("".join((bv.text or "").split())) if bv is not None else None)


async def eventually(fn, what, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ok, last = await fn()
        if ok:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise TestFailure("%s: never happened (last: %r)" % (what, last))
        await asyncio.sleep(0.1)


def photo_hash(el):
    x = el.find(q("x", NS_UPDATE))
    ph = x.find(q("photo", NS_UPDATE)) if x is not None else None
    return None if ph is None else (ph.text or "")


async def befriend(a, b):
    for x, y in ((a, b), (b, a)):
        x.send("<presence to=%s type='subscribe'/>" % xattr(bare(y.jid)))
        await y.wait_for(is_presence(type_="subscribe", frm=bare(x.jid)), what="subscribe")
        y.send("<presence to=%s type='subscribed'/>" % xattr(bare(x.jid)))
        await x.wait_for(is_presence(type_="subscribed", frm=bare(y.jid)), what="subscribed")
    for c in (a, b):
        while await c.poll(0.3):
            await c.element()


async def test_account_feature(ctx):
    c = await ctx.raw_session("aa@localhost", "d")
    r = await c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="aa@localhost")
    feats = {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))}
    check(NS_CONVERSION in feats, "conversion feature missing from the account's disco#info", r)


async def test_pep_avatar_to_vcard_and_presence(ctx):
    a = await ctx.raw_session("ab@localhost", "r", presence=True)
    b = await ctx.raw_session("ac@localhost", "r", presence=True)
    await befriend(a, b)
    await publish_avatar(a, IMG1)

    async def photo_is_img1():
        t, data = photo_of(await vcard(a))
        return data == IMG1 and t == "image/png", (t, data and len(data))
    await eventually(photo_is_img1, "vCard PHOTO from the XEP-0084 avatar")
    el = await b.wait_for(lambda e: is_presence(frm=a.jid)(e) and photo_hash(e) == sha1(IMG1),
                          what="presence with the new avatar's hash")
    # another avatar, another type
    await publish_avatar(a, IMG2, "image/gif")

    async def photo_is_img2():
        t, data = photo_of(await vcard(a))
        return data == IMG2 and t == "image/gif", (t, data and len(data))
    await eventually(photo_is_img2, "vCard PHOTO follows the avatar")
    await b.wait_for(lambda e: is_presence(frm=a.jid)(e) and photo_hash(e) == sha1(IMG2),
                     what="presence with the second avatar's hash")
    # XEP-0084 §4.5: empty metadata disables the avatar
    await publish(a, NS_META, "stop", "<metadata xmlns='%s'/>" % NS_META)

    async def no_photo():
        t, data = photo_of(await vcard(a))
        return data is None, (t, data and len(data))
    await eventually(no_photo, "PHOTO removed when the avatar is disabled")
    el = await b.wait_for(lambda e: is_presence(frm=a.jid)(e) and photo_hash(e) == "",
                          what="presence with an empty photo")


async def test_other_vcard_fields_kept(ctx):
    a = await ctx.raw_session("ad@localhost", "r")
    r = await a.iq("set", "<vCard xmlns='%s'><FN>Дарья</FN><NICKNAME>dasha</NICKNAME></vCard>"
                          % NS_VCARD)
    check(r.get("type") == "result", "vCard set failed", r)
    await publish_avatar(a, IMG1)

    async def photo_is_img1():
        card = await vcard(a)
        return photo_of(card)[1] == IMG1, card
    card = await eventually(photo_is_img1, "PHOTO added")
    fn = card.find(q("FN", NS_VCARD))
    check(fn is not None and fn.text == "Дарья", "the avatar conversion lost the vCard's FN", card)


async def test_vcard_photo_to_pep(ctx):
    a = await ctx.raw_session("ae@localhost", "r")
    folded = "\n".join(b64(IMG1)[i:i + 64] for i in range(0, len(b64(IMG1)), 64))
    r = await a.iq("set", "<vCard xmlns='%s'><PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL>"
                          "</PHOTO></vCard>" % (NS_VCARD, folded))
    check(r.get("type") == "result", "vCard set failed", r)
    h = sha1(IMG1)

    async def meta_published():
        r = await items(a, "ae@localhost", NS_META)
        info = r.find(".//" + q("info", NS_META))
        return info is not None and info.get("id") == h, r
    r = await eventually(meta_published, "metadata published from the vCard")
    info = r.find(".//" + q("info", NS_META))
    check(info.get("bytes") == str(len(IMG1)) and info.get("type") == "image/png",
          "metadata info attributes", r)
    r = await items(a, "ae@localhost", NS_DATA)
    item = r.find(".//" + q("item", NS_PUBSUB))
    check(item is not None and item.get("id") == h, "data item id is not the SHA-1", r)
    data = item.find(q("data", NS_DATA))
    check(data is not None and base64.b64decode(data.text) == IMG1, "data item content", r)
    # the photo goes away: empty metadata
    r = await a.iq("set", "<vCard xmlns='%s'><FN>no photo</FN></vCard>" % NS_VCARD)

    async def meta_empty():
        r = await items(a, "ae@localhost", NS_META)
        md = r.findall(".//" + q("metadata", NS_META))
        return bool(md) and all(len(list(m)) == 0 for m in md[-1:]), r
    await eventually(meta_empty, "empty metadata after the PHOTO was removed")


async def test_slixmpp_xep_0084(ctx):
    x = await ctx.client("af@localhost", "slix")
    for p in ("xep_0060", "xep_0163", "xep_0084", "xep_0054"):
        x.x.register_plugin(p)
    av = x.x["xep_0084"]
    await av.publish_avatar(IMG2)
    await av.publish_avatar_metadata([{"id": sha1(IMG2), "type": "image/gif", "bytes": len(IMG2)}])

    async def photo():
        card = await x.x["xep_0054"].get_vcard(x.x.boundjid.bare, local=False, cached=False)
        v = card["vcard_temp"]
        return v["PHOTO"]["BINVAL"] == IMG2, v["PHOTO"]["TYPE"]
    await eventually(photo, "slixmpp reads the converted vCard photo")


_nonce = itertools.count()


async def online_with_caps(c, features):
    """Available presence with XEP-0115 caps (a fresh ver), answering the
    server's disco#info query, so that PEP knows what c wants (+notify)."""
    feats = ["http://jabber.org/protocol/disco#info", "urn:vt:avatar%d" % next(_nonce)] + features
    s = "client/pc//vt<" + "".join(f + "<" for f in sorted(feats))
    ver = base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()
    node = "https://vestnik.test/avatar"
    c.send("<presence><c xmlns='%s' hash='sha-1' node='%s' ver='%s'/></presence>"
           % (NS_CAPS, node, ver))
    iq = await c.wait_for(lambda el: el.tag == q("iq") and el.get("type") == "get"
                          and el.find(q("query", NS_DISCO_INFO)) is not None, 5, "caps query")
    body = "<identity category='client' type='pc' name='vt'/>" + "".join(
        "<feature var=%s/>" % xattr(f) for f in feats)
    c.send("<iq type='result' id=%s to=%s><query xmlns='%s' node=%s>%s</query></iq>"
           % (xattr(iq.get("id")), xattr(iq.get("from")), NS_DISCO_INFO,
              xattr(node + "#" + ver), body))


async def test_vcard_photo_notifies_contacts(ctx):
    """A contact interested in avatars (+notify) learns of a photo set
    through vcard-temp as an XEP-0084 metadata event."""
    a = await ctx.raw_session("ag@localhost", "r", presence=True)
    b = await ctx.raw_session("ah@localhost", "r", presence=True)
    await befriend(a, b)
    await online_with_caps(b, [NS_META + "+notify"])
    await asyncio.sleep(0.2)
    r = await a.iq("set", "<vCard xmlns='%s'><PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL>"
                          "</PHOTO></vCard>" % (NS_VCARD, b64(IMG1)))
    check(r.get("type") == "result", "vCard set failed", r)

    def is_meta_event(el):
        if el.tag != q("message") or el.get("from") != "ag@localhost":
            return False
        items = el.find(q("event", NS_EVENT) + "/" + q("items", NS_EVENT))
        return items is not None and items.get("node") == NS_META
    ev = await b.wait_for(is_meta_event, what="avatar metadata event at the contact")
    info = ev.find(".//" + q("info", NS_META))
    check(info is not None and info.get("id") == sha1(IMG1), "event names the new avatar", ev)

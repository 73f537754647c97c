"""What OMEMO (XEP-0384) needs from the server, driven by Debian's slixmpp
(xep_0060 / xep_0163 / xep_0115 plugins; there is no OMEMO plugin in
Debian 12, so the PEP side of the OMEMO flow is done here by hand):
device lists and bundles of both the legacy namespace
(eu.siacs.conversations.axolotl) and OMEMO 2 (urn:xmpp:omemo:2) with
publish-options, fetching them as a contact and as a stranger (open
access), +notify device-list notifications and the last item on coming
online, the precondition failure and the usual client recovery (configure
the node to open, publish again), and an encrypted message delivered and
archived unchanged."""
import asyncio
import base64
import os
import sqlite3
import xml.etree.ElementTree as ET

from harness import XClient, check, is_presence, new_id, q, slix, tostr, xattr
from test_pep import NS_PUBSUB, NS_ERRORS, is_event

AXO = "eu.siacs.conversations.axolotl"
DEVICELIST = AXO + ".devicelist"
BUNDLES = AXO + ".bundles:"
OMEMO2 = "urn:xmpp:omemo:2"
DEVICES2 = OMEMO2 + ":devices"
BUNDLES2 = OMEMO2 + ":bundles"
NS_HINTS = "urn:xmpp:hints"

NAMES = ["alice", "bob", "eve", "carol", "dan", "mallory", "olga", "pavel", "yuri", "zoe"]
ACCOUNTS = {n + "@localhost": "pw-" + n for n in NAMES}


def b64(n):
    return base64.b64encode(os.urandom(n)).decode()


def device_list(*ids):
    return "<list xmlns='%s'>%s</list>" % (AXO, "".join("<device id='%d'/>" % i for i in ids))


def bundle(prekeys=100):
    """A legacy bundle as Conversations publishes it: Curve25519 keys with
    the 0x05 type byte (33 bytes), a 64-byte XEdDSA signature."""
    return ("<bundle xmlns='%s'><signedPreKeyPublic signedPreKeyId='1'>%s</signedPreKeyPublic>"
            "<signedPreKeySignature>%s</signedPreKeySignature><identityKey>%s</identityKey>"
            "<prekeys>%s</prekeys></bundle>" % (
                AXO, b64(33), b64(64), b64(33),
                "".join("<preKeyPublic preKeyId='%d'>%s</preKeyPublic>" % (i, b64(33))
                        for i in range(1, prekeys + 1))))


def devices2(*ids):
    return "<devices xmlns='%s'>%s</devices>" % (OMEMO2, "".join(
        "<device id='%d' label='phone %d'/>" % (i, i) for i in ids))


def bundle2(prekeys=100):
    """An OMEMO 2 bundle: Ed25519 identity key, X25519 prekeys (32 bytes)."""
    return ("<bundle xmlns='%s'><spk id='1'>%s</spk><spks>%s</spks><ik>%s</ik><prekeys>%s</prekeys>"
            "</bundle>" % (OMEMO2, b64(32), b64(64), b64(32), "".join(
                "<pk id='%d'>%s</pk>" % (i, b64(32)) for i in range(1, prekeys + 1))))


def canon(el):
    """Namespace-qualified tree with sorted attributes and stripped text:
    what must survive the server unchanged."""
    if isinstance(el, str):
        el = ET.fromstring(el)
    return (el.tag, tuple(sorted(el.attrib.items())), (el.text or "").strip(),
            tuple(canon(c) for c in el))


async def omemo_client(ctx, jid, resource, notify=(), presence=True):
    """slixmpp with the PEP plugins; caps advertise node+notify for notify."""
    c = XClient(ctx.server, "%s/%s" % (jid, resource), ctx.password(jid),
                label="%s/%s" % (jid, resource))
    for p in ("xep_0004", "xep_0060", "xep_0115", "xep_0163"):
        c.x.register_plugin(p)
    ctx._clients.append(c)
    await c.start()
    for n in notify:
        c.x["xep_0163"].add_interest(n)
    await c.x["xep_0115"].update_caps(broadcast=False)
    if presence:
        c.presence()
    return c


async def befriend(a, b):
    """Mutual presence subscription between two slixmpp clients (both have
    sent their initial presence: requests wait for it)."""
    for x, y in ((a, b), (b, a)):
        x.x.send_presence(pto=y.jid.bare, ptype="subscribe")
        await y.expect(is_presence(type_="subscribe", frm=x.jid.bare), what="subscribe")
        y.x.send_presence(pto=x.jid.bare, ptype="subscribed")
        await x.expect(is_presence(type_="subscribed", frm=y.jid.bare), what="subscribed")


def form(c, fields, ftype="submit", form_type=NS_PUBSUB + "#publish-options"):
    f = c.x["xep_0004"].make_form(ftype=ftype)
    if form_type:
        f.add_field(var="FORM_TYPE", ftype="hidden", value=form_type)
    for k, v in fields.items():
        f.add_field(var=k, value=v)
    return f


async def publish(c, node, xml, item_id, options=None):
    """Publishes to the client's own PEP; returns the result or error IQ."""
    opts = form(c, options) if options else None
    try:
        return await c.x["xep_0060"].publish(None, node, id=item_id, payload=ET.fromstring(xml),
                                             options=opts, timeout=5)
    except slix().exceptions.IqError as e:
        return e.iq


def precondition_not_met(iq):
    return iq.xml.find("{jabber:client}error/{%s}precondition-not-met" % NS_ERRORS) is not None


def ok(iq, what):
    check(iq["type"] == "result", what, iq)
    return iq


async def items(c, owner, node, item_ids=None):
    try:
        return await c.x["xep_0060"].get_items(owner, node, item_ids=item_ids, timeout=5)
    except slix().exceptions.IqError as e:
        return e.iq


def payloads(iq):
    """{item id: payload element} of an items result (slixmpp's parsing)."""
    return {it["id"]: it["payload"] for it in iq["pubsub"]["items"]}


def archive_rows(ctx, owner, msg_id):
    db = sqlite3.connect(os.path.join(ctx.server.data_dir, "vestnik.db"), timeout=5)
    try:
        return [r[0] for r in db.execute("SELECT stanza FROM archive WHERE owner = ?", (owner,))
                if ("id='%s'" % msg_id) in r[0] or ('id="%s"' % msg_id) in r[0]]
    finally:
        db.close()


async def archived(ctx, owner, msg_id):
    for _ in range(40):
        rows = archive_rows(ctx, owner, msg_id)
        if rows:
            return rows
        await asyncio.sleep(0.05)
    return []


async def test_legacy_device_lists_and_bundles(ctx):
    # Online first without interest in device lists (caps without +notify).
    a = await omemo_client(ctx, "alice@localhost", "conv")
    b = await omemo_client(ctx, "bob@localhost", "conv")
    await befriend(a, b)
    open_ = {"pubsub#access_model": "open"}
    a_bundle, b_bundle = bundle(), bundle()
    ok(await publish(a, DEVICELIST, device_list(1001), "current", open_), "alice's device list")
    ok(await publish(a, BUNDLES + "1001", a_bundle, "current", open_), "alice's bundle")
    ok(await publish(b, DEVICELIST, device_list(2002), "current", open_), "bob's device list")
    ok(await publish(b, BUNDLES + "2002", b_bundle, "current", open_), "bob's bundle")
    # Both (as after an OMEMO upgrade) announce caps with devicelist+notify:
    # each gets the other's device list (last item on presence) and its own.
    a.x["xep_0163"].add_interest(DEVICELIST)
    b.x["xep_0163"].add_interest(DEVICELIST)
    await a.x["xep_0115"].update_caps(broadcast=False)
    await b.x["xep_0115"].update_caps(broadcast=False)
    a.presence()
    b.presence()
    got = {}
    a.x.add_event_handler("pubsub_publish", lambda m: got.setdefault(
        (str(m["from"]), m["pubsub_event"]["items"]["node"]), m))
    ev = await a.expect(is_event(DEVICELIST, "bob@localhost", "current"), what="bob's last device list")
    check(canon(ev.find(".//{%s}list" % AXO)) == canon(device_list(2002)), "bob's list", ev)
    await a.expect(is_event(DEVICELIST, "alice@localhost", "current"), what="own device list")
    await b.expect(is_event(DEVICELIST, "alice@localhost", "current"), what="alice's last device list")
    # A contact fetches the other's device list and bundle (slixmpp parses).
    r = ok(await items(b, "alice@localhost", DEVICELIST), "bob fetches alice's device list")
    check([d.get("id") for d in payloads(r)["current"]] == ["1001"], "device ids", r)
    r = ok(await items(b, "alice@localhost", BUNDLES + "1001"), "bob fetches alice's bundle")
    check(canon(payloads(r)["current"]) == canon(a_bundle), "bundle unchanged", r)
    check(len(payloads(r)["current"].findall("{%s}prekeys/{%s}preKeyPublic" % (AXO, AXO))) == 100,
          "100 prekeys", r)
    r = ok(await items(a, "bob@localhost", BUNDLES + "2002", item_ids=["current"]), "by item id")
    check(canon(payloads(r)["current"]) == canon(b_bundle), "bob's bundle unchanged", r)
    # A stranger (not in the roster) may fetch both: access model open.
    e = await omemo_client(ctx, "eve@localhost", "gajim", notify=[DEVICELIST])
    r = ok(await items(e, "alice@localhost", DEVICELIST), "stranger fetches the device list")
    check("current" in payloads(r), "stranger got the list", r)
    r = ok(await items(e, "bob@localhost", BUNDLES + "2002"), "stranger fetches a bundle")
    check(canon(payloads(r)["current"]) == canon(b_bundle), "stranger's copy of the bundle", r)
    # Alice adds a device: bob is notified, the stranger (with +notify) is not.
    a.drop(lambda el: True)
    ok(await publish(a, DEVICELIST, device_list(1001, 1002), "current", open_), "new device")
    ev = await b.expect(is_event(DEVICELIST, "alice@localhost", "current"), what="device list change")
    check([d.get("id") for d in ev.iter("{%s}device" % AXO)] == ["1001", "1002"], "new list", ev)
    await a.expect(is_event(DEVICELIST, "alice@localhost", "current"), what="own change")
    await e.quiet(is_event(DEVICELIST, "alice@localhost"), 0.5, "notification to a stranger")
    # slixmpp's own event parsing saw the notifications.
    # A second resource of bob coming online gets the last item too.
    b2 = await omemo_client(ctx, "bob@localhost", "tablet", notify=[DEVICELIST])
    ev = await b2.expect(is_event(DEVICELIST, "alice@localhost", "current"), what="last item")
    check([d.get("id") for d in ev.iter("{%s}device" % AXO)] == ["1001", "1002"], "latest list", ev)
    await b2.expect(is_event(DEVICELIST, "bob@localhost", "current"), what="own last item")
    check(("bob@localhost", DEVICELIST) in got, "slixmpp raised pubsub_publish: %r" % list(got))
    item = got[("bob@localhost", DEVICELIST)]["pubsub_event"]["items"]["item"]
    check(item["id"] == "current" and item["payload"].tag == "{%s}list" % AXO, "parsed event", item)


async def test_precondition_and_recovery(ctx):
    c = await omemo_client(ctx, "carol@localhost", "prof")
    d = await omemo_client(ctx, "dan@localhost", "conv")  # not a contact of carol
    # An old client created the node with the PEP default (presence access).
    ok(await publish(c, DEVICELIST, device_list(7), "current"), "publish without options")
    r = await items(d, "carol@localhost", DEVICELIST)
    check(r["type"] == "error" and r["error"]["condition"] == "not-authorized"
          and r["error"]["pubsub"]["condition"] == "presence-subscription-required",
          "presence access keeps a stranger out", r)
    # The OMEMO client publishes with access_model open: the precondition fails
    # the way Conversations and profanity test for it (XEP-0060 §7.1.5).
    r = await publish(c, DEVICELIST, device_list(7, 8), "current", {"pubsub#access_model": "open"})
    check(r["type"] == "error", "precondition mismatch fails", r)
    check(r["error"]["type"] == "cancel" and r["error"]["condition"] == "conflict",
          "<conflict/> of type cancel", r)
    # (slixmpp 1.8's PubsubErrorCondition does not know this condition:
    # look at the XML as Conversations and profanity do.)
    check(precondition_not_met(r), "<precondition-not-met/> in pubsub#errors", r)
    r = ok(await items(c, "carol@localhost", DEVICELIST), "items after the failed publish")
    check([x.get("id") for x in payloads(r)["current"]] == ["7"], "failed publish changed nothing", r)
    # Recovery as profanity does it: fetch the configuration form, change
    # access_model, submit the whole form back; then publish again.
    cfg = await c.x["xep_0060"].get_node_config(None, DEVICELIST, timeout=5)
    got = cfg["pubsub_owner"]["configure"]["form"]
    check(got["type"] == "form", "configuration form", cfg)
    values = got.get_values()
    check(values.get("pubsub#access_model") == "presence", "current access model", cfg)
    sub = c.x["xep_0004"].make_form(ftype="submit")
    for var, val in values.items():
        ftype = got.get_fields()[var]["type"]
        if ftype == "fixed":
            continue
        sub.add_field(var=var, ftype=ftype or None, value=val)
    sub.field["pubsub#access_model"]["value"] = "open"
    ok(await c.x["xep_0060"].set_node_config(None, DEVICELIST, sub, timeout=5), "configure to open")
    ok(await publish(c, DEVICELIST, device_list(7, 8), "current", {"pubsub#access_model": "open"}),
       "publish again after the reconfiguration")
    r = ok(await items(d, "carol@localhost", DEVICELIST), "stranger reads after recovery")
    check([x.get("id") for x in payloads(r)["current"]] == ["7", "8"], "new list", r)
    # Conversations' way: submit only FORM_TYPE and access_model.
    ok(await publish(d, BUNDLES + "9", bundle(), "current", {"pubsub#access_model": "presence"}),
       "bundle node with presence access")
    r = await publish(d, BUNDLES + "9", bundle(), "current", {"pubsub#access_model": "open"})
    check(r["type"] == "error" and precondition_not_met(r),
          "second precondition failure", r)
    ok(await d.x["xep_0060"].set_node_config(
        None, BUNDLES + "9", form(d, {"pubsub#access_model": "open"},
                                  form_type=NS_PUBSUB + "#node_config"), timeout=5),
       "minimal configure form")
    fresh = bundle()
    ok(await publish(d, BUNDLES + "9", fresh, "current", {"pubsub#access_model": "open"}), "republish")
    r = ok(await items(c, "dan@localhost", BUNDLES + "9"), "carol fetches dan's bundle")
    check(canon(payloads(r)["current"]) == canon(fresh), "republished bundle", r)


async def test_omemo2_nodes(ctx):
    m = await omemo_client(ctx, "mallory@localhost", "phone", notify=[DEVICES2])
    m2 = await omemo_client(ctx, "mallory@localhost", "laptop", notify=[DEVICES2])
    o = await omemo_client(ctx, "olga@localhost", "kaidan", notify=[DEVICES2])
    await befriend(m, o)
    opts = {"pubsub#access_model": "open", "pubsub#max_items": "max"}
    bundles = {"31": bundle2(), "32": bundle2()}
    ok(await publish(m, DEVICES2, devices2(31), "current", {"pubsub#access_model": "open"}),
       "OMEMO 2 device list")
    await o.expect(is_event(DEVICES2, "mallory@localhost", "current"), what="device list to contact")
    ok(await publish(m, BUNDLES2, bundles["31"], "31", opts), "bundle of device 31")
    ok(await publish(m2, BUNDLES2, bundles["32"], "32", opts), "bundle of device 32")
    ok(await publish(m2, DEVICES2, devices2(31, 32), "current", {"pubsub#access_model": "open"}),
       "second device joins the list")
    ev = await o.expect(is_event(DEVICES2, "mallory@localhost", "current"), what="updated list")
    check([d.get("id") for d in ev.iter("{%s}device" % OMEMO2)] == ["31", "32"], "both devices", ev)
    # One node holds every device's bundle, item id = device id.
    r = ok(await items(o, "mallory@localhost", BUNDLES2), "all bundles")
    got = payloads(r)
    check(sorted(got) == ["31", "32"], "both bundles kept (max_items=max)", r)
    for k in got:
        check(canon(got[k]) == canon(bundles[k]), "bundle %s unchanged" % k, r)
    r = ok(await items(o, "mallory@localhost", BUNDLES2, item_ids=["32"]), "one bundle")
    check(list(payloads(r)) == ["32"], "bundle by item id", r)
    # A stranger fetches too (open).
    y = await omemo_client(ctx, "yuri@localhost", "dino")
    r = ok(await items(y, "mallory@localhost", BUNDLES2, item_ids=["31"]), "stranger fetches")
    check(canon(payloads(r)["31"]) == canon(bundles["31"]), "stranger's copy", r)
    r = ok(await items(y, "mallory@localhost", DEVICES2), "stranger's device list")
    # The node keeps the options it was created with.
    cfg = await m.x["xep_0060"].get_node_config(None, BUNDLES2, timeout=5)
    vals = cfg["pubsub_owner"]["configure"]["form"].get_values()
    check(vals.get("pubsub#access_model") == "open" and vals.get("pubsub#max_items") == "max",
          "bundles node configuration %r" % vals, cfg)
    # Publishing the same options again matches (no precondition failure).
    ok(await publish(m, BUNDLES2, bundles["31"], "31", opts), "republish with the same options")


def encrypted_legacy(sid, rids):
    return ("<encrypted xmlns='%s'><header sid='%d'>%s<iv>%s</iv></header><payload>%s</payload>"
            "</encrypted>" % (AXO, sid, "".join(
                "<key rid='%d'%s>%s</key>" % (rid, " prekey='true'" if i == 0 else "", b64(120))
                for i, rid in enumerate(rids)), b64(12), b64(48)))


def encrypted2(sid, jid, rid):
    return ("<encrypted xmlns='%s'><header sid='%d'><keys jid=%s><key rid='%d' kex='true'>%s</key>"
            "</keys></header><payload>%s</payload></encrypted>" % (
                OMEMO2, sid, xattr(jid), rid, b64(200), b64(64)))


async def send_and_check(ctx, a, b, enc, body):
    mid = new_id("omemo")
    msg = ("<message to=%s type='chat' id=%s>%s%s<store xmlns='%s'/></message>"
           % (xattr(str(b.jid)), xattr(mid), enc,
              "<body>%s</body>" % body if body else "", NS_HINTS))
    a.send_raw(msg)
    el = await b.expect(lambda el: el.tag == q("message") and el.get("id") == mid, what="message")
    enc_el = ET.fromstring(enc)
    got = el.find(enc_el.tag)
    check(got is not None and canon(got) == canon(enc_el), "encrypted element intact", el)
    check(el.find("{%s}store" % NS_HINTS) is not None, "store hint kept", el)
    for owner in (a.jid.bare, b.jid.bare):
        rows = await archived(ctx, owner, mid)
        check(len(rows) == 1, "%s's archive holds the message once (body: %r): %r" % (owner, body, rows))
        st = ET.fromstring(rows[0])
        arch = st.find(enc_el.tag) if st.tag.endswith("message") else st.find(".//" + enc_el.tag)
        check(arch is not None and canon(arch) == canon(enc_el),
              "%s's archived copy unchanged: %s" % (owner, rows[0]))


async def test_encrypted_message_delivered_and_archived(ctx):
    p = await omemo_client(ctx, "pavel@localhost", "conv")
    y = await omemo_client(ctx, "zoe@localhost", "conv2")
    await befriend(p, y)
    # Conversations adds a fallback body; key-transport and heartbeat
    # messages have none and rely on the <store/> hint (XEP-0384 §5.5).
    await send_and_check(ctx, p, y, encrypted_legacy(1001, [2002, 2003]),
                         "I sent you an OMEMO encrypted message but your client doesn't seem to "
                         "support that.")
    await send_and_check(ctx, y, p, encrypted_legacy(2002, [1001]), None)
    await send_and_check(ctx, p, y, encrypted2(31, "zoe@localhost", 41), None)

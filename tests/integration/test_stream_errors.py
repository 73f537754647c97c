"""Hostile and broken input: every case gets a clear stream error followed by
</stream:stream>, and nothing else (no delivery, no crash, no effect on other
clients)."""

import asyncio
import time

from harness import STREAM_HEADER, check, is_message, q, TestFailure

LIMIT = 8192

CONFIG = {"c2s": {"max_stanza_size": LIMIT, "max_depth": 16, "max_attributes": 16}}

ACCOUNTS = {j: "pw-" + j.split("@")[0] for j in [
    "mallory@localhost", "victim@localhost", "good1@localhost", "good2@localhost",
]}

HEADER = STREAM_HEADER.format(to=" to='localhost'", version="1.0")

BILLION_LAUGHS = (
    "<?xml version='1.0'?>"
    "<!DOCTYPE stream:stream ["
    "<!ENTITY lol 'lol'>"
    + "".join("<!ENTITY lol%d '%s'>" % (i, ("&lol%s;" % ("" if i == 1 else i - 1)) * 10) for i in range(1, 10))
    + "]>" + HEADER + "<message to='victim@localhost'><body>&lol9;</body></message>")


async def mallory(ctx, resource="m"):
    return await ctx.raw_session("mallory@localhost", resource)


async def victim(ctx, resource="v"):
    return await ctx.client("victim@localhost", resource, presence=True)


async def test_host_unknown(ctx):
    for direct in (False, True):
        r = await ctx.raw(direct_tls=direct)
        r.send_header(to="example.org")
        await r.expect_stream_error("host-unknown")


async def test_host_unknown_after_starttls(ctx):
    r = await ctx.raw()
    await r.open()
    await r.starttls(open_stream=False)
    r.send_header(to="unserved.example")  # the post-TLS stream header names an unserved host
    # host-unknown, or not-authorized for changing 'to' across a restart
    await r.expect_stream_error(("host-unknown", "not-authorized"))


async def test_invalid_namespace_and_version(ctx):
    r = await ctx.raw()
    r.send_header(header="<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' to='localhost' version='1.0'>")
    await r.expect_stream_error("invalid-namespace")
    r = await ctx.raw()
    r.send_header(version="2.0")
    await r.expect_stream_error("unsupported-version")


async def test_not_well_formed_before_tls(ctx):
    r = await ctx.raw()
    await r.open()
    r.send("<message><<oops/></message>")
    await r.expect_stream_error("not-well-formed")


async def test_not_well_formed_after_auth(ctx):
    bad = [
        ("mismatched tag", "<message to='victim@localhost'><body>x</mesage>", ("not-well-formed",)),
        ("invalid UTF-8", b"<message to='victim@localhost'><body>\xff\xfe\xc0\xaf</body></message>",
         ("not-well-formed", "unsupported-encoding")),
        ("unbound prefix", "<message to='victim@localhost'><x:body>x</x:body></message>",
         ("not-well-formed", "invalid-namespace")),
        ("duplicate attribute", "<message to='victim@localhost' to='mallory@localhost'><body>x</body></message>",
         ("not-well-formed",)),
        ("control character", "<message to='victim@localhost'><body>\x01</body></message>", ("not-well-formed",)),
    ]
    v = await victim(ctx)
    for i, (what, data, conds) in enumerate(bad):
        r = await mallory(ctx, "nwf%d" % i)
        r.send(data)
        try:
            await r.expect_stream_error(conds)
        except TestFailure as e:
            raise TestFailure("%s: %s" % (what, e))
    await v.quiet(lambda e: e.tag == q("message"), 0.3, "delivery of a broken stanza")
    r = await v.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    check(r.get("type") == "result", "bystander lost its session", r)


async def flood(r, prefix, total):
    """Send prefix then filler in 1 KiB pieces, stopping as soon as the server
    reacts (a server that closes with unread input may send a TCP RST, which
    can destroy its stream error before we read it)."""
    await r.send_drain(prefix)
    sent = len(prefix)
    while sent < total:
        try:
            await r.send_drain("F" * 1024)
        except (ConnectionError, OSError):
            return
        sent += 1024
        if await r.poll(0.01):
            return


async def test_oversized_stanza_policy_violation(ctx):
    v = await victim(ctx, "big")
    # complete stanza just over the limit, after auth
    r = await mallory(ctx, "big1")
    r.message("victim@localhost/big", "A" * LIMIT)
    await r.expect_stream_error("policy-violation")
    # an element that never ends: the server must cut it off, not buffer forever
    r = await mallory(ctx, "big2")
    await flood(r, "<message to='victim@localhost/big'><body>", LIMIT * 8)
    await r.expect_stream_error("policy-violation")
    # before authentication too
    r = await ctx.raw()
    await r.secure()
    await flood(r, "<junk xmlns='urn:x'>", LIMIT * 8)
    await r.expect_stream_error("policy-violation")
    await v.quiet(lambda e: e.tag == q("message"), 0.3, "delivery of an oversized stanza")
    # well under the limit is fine
    r = await mallory(ctx, "ok")
    body = "D" * (LIMIT // 2)
    r.message("victim@localhost/big", body)
    await v.expect(is_message(body=body), what="a large stanza under the limit")


async def test_depth_and_attribute_limits(ctx):
    r = await mallory(ctx, "deep")
    r.send("<message to='victim@localhost'>" + "<x xmlns='urn:x'>" * 40 + "</x>" * 40 + "</message>")
    await r.expect_stream_error("policy-violation")
    r = await mallory(ctx, "attrs")
    r.send("<message to='victim@localhost' %s><body>x</body></message>" %
           " ".join("a%d='%d'" % (i, i) for i in range(40)))
    await r.expect_stream_error("policy-violation")
    # the limits are not hit by an ordinary stanza
    r = await mallory(ctx, "normal")
    await r.ping_server()


async def test_unsupported_stanza_type(ctx):
    r = await mallory(ctx, "ust")
    r.send("<foo xmlns='jabber:client'><bar/></foo>")
    await r.expect_stream_error("unsupported-stanza-type")


async def test_stanza_before_auth_not_authorized(ctx):
    v = await victim(ctx, "preauth")
    r = await ctx.raw()
    await r.secure()
    r.message("victim@localhost/preauth", "spoofed before auth")
    await r.expect_stream_error("not-authorized")
    await v.quiet(is_message(body="spoofed before auth"), 0.5, "delivery of a pre-auth stanza")


async def test_doctype_rejected(ctx):
    r = await ctx.raw()
    r.send_header(prolog="<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY x 'y'>]>")
    await r.expect_stream_error("restricted-xml")


async def test_billion_laughs_does_not_expand(ctx):
    v = await victim(ctx, "lol")
    rss0 = ctx.server.rss_kib()
    t0 = time.monotonic()
    r = await ctx.raw()
    r.send(BILLION_LAUGHS)
    await r.expect_stream_error("restricted-xml")
    check(time.monotonic() - t0 < 3, "billion laughs took %.1fs to reject" % (time.monotonic() - t0))
    rss1 = ctx.server.rss_kib()
    if rss0 and rss1:
        check(rss1 - rss0 < 50 * 1024, "server RSS grew by %d KiB" % (rss1 - rss0))
    # entity reference without a DTD, after authentication
    r = await mallory(ctx, "ent")
    r.message("victim@localhost/lol", "x")  # harmless first
    r.send("<message to='victim@localhost/lol'><body>&lol9;</body></message>")
    await r.expect_stream_error(("restricted-xml", "not-well-formed"))
    await v.quiet(lambda e: e.tag == q("message") and "lol" in (e.findtext(q("body")) or ""), 0.3,
                  "expanded entity")


async def test_comment_and_processing_instruction_rejected(ctx):
    r = await mallory(ctx, "cmt")
    r.send("<message to='victim@localhost'><!-- hidden --><body>x</body></message>")
    await r.expect_stream_error("restricted-xml")
    r = await mallory(ctx, "pi")
    r.send("<?evil instruction?>")
    await r.expect_stream_error("restricted-xml")


async def test_predefined_and_character_entities_are_fine(ctx):
    v = await victim(ctx, "ent")
    r = await mallory(ctx, "ent-ok")
    r.send("<message to='victim@localhost/ent' type='chat'><body>a &amp; b &lt;c&gt; &quot;&apos; "
           "&#x418;&#1074;</body></message>")
    await v.expect(is_message(body="a & b <c> \"' Ив"), what="message with predefined/character entities")
    await r.ping_server()


async def test_bad_input_does_not_affect_other_clients(ctx):
    g1 = await ctx.client("good1@localhost", "g", presence=True)
    g2 = await ctx.client("good2@localhost", "g", presence=True)

    async def garbage_after_auth():
        r = await mallory(ctx, "chaos1")
        r.send(b"<message><body>\xff</body>")
        await r.stream_end()

    async def flood_preauth():
        r = await ctx.raw(direct_tls=True)
        await r.secure()
        await flood(r, "<x xmlns='urn:x'>", LIMIT * 8)
        await r.stream_end()

    async def laughs():
        r = await ctx.raw()
        r.send(BILLION_LAUGHS)
        await r.stream_end()

    async def not_tls_on_tls_port():
        reader, writer = await asyncio.open_connection("127.0.0.1", ctx.server.tls_port)
        writer.write(b"<stream:stream xmlns='jabber:client'>" * 50)
        await writer.drain()
        try:
            await asyncio.wait_for(reader.read(), 5)  # the server must hang up (FIN or RST)
        except ConnectionError:
            pass
        writer.close()

    async def reset_mid_stanza():
        r = await mallory(ctx, "chaos2")
        r.send("<message to='good1@localhost/g'><body>half")
        await asyncio.sleep(0.1)
        r.abort()

    async def reset_mid_header():
        r = await ctx.raw()
        r.send("<?xml version='1.0'?><stream:stream xmlns='jabber:cli")
        await asyncio.sleep(0.1)
        r.abort()

    async def reset_mid_tls_handshake():
        reader, writer = await asyncio.open_connection("127.0.0.1", ctx.server.tls_port)
        writer.write(bytes.fromhex("160301020001"))  # the start of a ClientHello, then RST
        await writer.drain()
        writer.transport.abort()

    jobs = [garbage_after_auth(), flood_preauth(), laughs(), not_tls_on_tls_port(),
            reset_mid_stanza(), reset_mid_header(), reset_mid_tls_handshake()]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    errors = [repr(e) for e in results if isinstance(e, BaseException)]
    check(not errors, "abusive connections were not closed cleanly by the server: %s" % errors)

    check(not g1.disconnected.is_set() and not g2.disconnected.is_set(), "a bystander was disconnected")
    g1.message("good2@localhost/g", "still here?")
    await g2.expect(is_message(frm="good1@localhost/g", body="still here?"))
    g2.message("good1@localhost", "yes")
    await g1.expect(is_message(frm="good2@localhost/g", body="yes"))
    await g1.quiet(is_message(body="half"), 0.2, "half stanza from a reset connection")
    check(ctx.server.alive(), "server died")

"""Unicode addresses (RFC 7622): Cyrillic localparts compared
case-insensitively, and the IDN domain испытание.рф next to localhost."""

from harness import IDN_DOMAIN, IDN_DOMAIN_ACE, check, is_message, q, xattr

IVAN = "иван@localhost"
OLGA = "ольга@" + IDN_DOMAIN
DAVE = "dave@" + IDN_DOMAIN

ACCOUNTS = {
    IVAN: "пароль-Ивана",
    OLGA: "секрет ольги",
    DAVE: "pw-dave",
    "alice@localhost": "pw-alice",
}


async def test_cyrillic_localpart_signin_any_case(ctx):
    for typed in ("Иван", "ИВАН", "иван"):
        r = await ctx.raw(domain="localhost", label="raw:" + typed)
        await r.login(typed, ACCOUNTS[IVAN], "r-" + typed, mech="SCRAM-SHA-256")
        check(r.jid == "иван@localhost/r-" + typed,
              "signing in as %s@localhost bound %r (want the canonical иван@localhost)" % (typed, r.jid))
        await r.ping_server()
    c = await ctx.client(IVAN, "slix", mech="SCRAM-SHA-1")
    check(c.jid.bare == IVAN, "slixmpp bound %s" % c.jid)


async def test_message_to_case_variant_reaches_cyrillic_account(ctx):
    ivan = await ctx.client(IVAN, "desk", presence=True)
    alice = await ctx.client("alice@localhost", "a", presence=True)
    alice.send_raw("<message to=%s type='chat' id='c1'><body>привет</body></message>" % xattr("ИВАН@LocalHost"))
    el = await ivan.expect(is_message(body="привет"), what="message to ИВАН@LocalHost")
    check(el.get("from") == "alice@localhost/a", "from %r" % el.get("from"), el)
    alice.send_raw("<message to=%s type='chat' id='c2'><body>ресурс</body></message>" % xattr("Иван@localhost/desk"))
    await ivan.expect(is_message(body="ресурс"), what="message to Иван@localhost/desk")
    ivan.message("alice@localhost", "ответ")
    el = await alice.expect(is_message(body="ответ"))
    check(el.get("from") == "иван@localhost/desk", "reply from %r (want canonical form)" % el.get("from"), el)


async def test_idn_domain_signin_unicode_and_ace(ctx):
    c = await ctx.client(DAVE, "u")
    check(c.jid.bare == DAVE, "slixmpp bound %s" % c.jid)
    # stream to the A-label form; the bound JID uses the U-label form (RFC 7622 §3.2)
    r = await ctx.raw(domain=IDN_DOMAIN_ACE, label="raw-ace")
    await r.login("dave", ACCOUNTS[DAVE], "ace", mech="SCRAM-SHA-1")
    check(r.jid == DAVE + "/ace", "ACE-domain sign-in bound %r" % r.jid)
    # Cyrillic localpart on the IDN domain, typed in upper case
    r2 = await ctx.raw(domain=IDN_DOMAIN, label="raw-olga")
    await r2.login("ОЛЬГА", ACCOUNTS[OLGA], "o", mech="SCRAM-SHA-256")
    check(r2.jid == OLGA + "/o", "bound %r" % r2.jid)


async def test_messages_across_domains(ctx):
    dave = await ctx.client(DAVE, "d", presence=True)
    alice = await ctx.client("alice@localhost", "x", presence=True)
    alice.message(DAVE, "на рф")
    el = await dave.expect(is_message(body="на рф"))
    check(el.get("from") == "alice@localhost/x", "from %r" % el.get("from"), el)
    dave.message("alice@localhost", "с рф")
    el = await alice.expect(is_message(body="с рф"))
    check(el.get("from") == DAVE + "/d", "from %r" % el.get("from"), el)
    # addressed with the A-label form and in upper case: same account
    for i, to in enumerate(("dave@" + IDN_DOMAIN_ACE, "DAVE@" + IDN_DOMAIN.upper())):
        alice.send_raw("<message to=%s type='chat' id='v%d'><body>variant %d</body></message>" % (xattr(to), i, i))
        await dave.expect(is_message(body="variant %d" % i), what="message to %s" % to)
    # same localpart on both domains are different accounts
    alice.message("dave@localhost", "wrong dave")
    el = await alice.expect(lambda e: e.tag == q("message") and e.get("type") == "error",
                            what="bounce for dave@localhost")
    await dave.quiet(is_message(body="wrong dave"), 0.3, "message for dave@localhost")

/* Unit tests for src/xmpp/jid.c (RFC 7622 addresses). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include "core/arena.h"
#include "xmpp/jid.h"

static vn_arena_t *arena;

static int setup(void **state)
{
    (void)state;
    arena = vn_arena_new(4096);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vn_arena_free(arena);
    arena = NULL;
    return 0;
}

static int parse(const char *s, vn_jid_t *j)
{
    return vn_jid_parse(s, strlen(s), j, arena);
}

static void part_is(const char *what, const char *in, const char *got, const char *want)
{
    if (!want && !got) return;
    if (!want || !got || strcmp(want, got) != 0)
        fail_msg("%s of \"%s\" is \"%s\", expected \"%s\"", what, in,
                 got ? got : "(null)", want ? want : "(null)");
}

/* Parse `in` and check the prepared parts (NULL: part absent). */
static void ok(const char *in, const char *l, const char *d, const char *r)
{
    vn_jid_t j;
    if (parse(in, &j) != 0) fail_msg("\"%s\" rejected, expected valid", in);
    part_is("localpart", in, j.local, l);
    part_is("domainpart", in, j.domain, d);
    part_is("resourcepart", in, j.resource, r);
}

static void bad_n(const char *in, size_t len)
{
    vn_jid_t j;
    if (vn_jid_parse(in, len, &j, arena) == 0)
        fail_msg("\"%.*s\" accepted (%s|%s|%s), expected invalid", (int)len, in,
                 j.local ? j.local : "-", j.domain, j.resource ? j.resource : "-");
    assert_null(j.local);
    assert_null(j.domain);
    assert_null(j.resource);
}

static void bad(const char *in)
{
    bad_n(in, strlen(in));
}

/* RFC 7622 §3.5 (Table 1): valid addresses. */
static void test_rfc7622_valid(void **state)
{
    (void)state;
    ok("juliet@example.com", "juliet", "example.com", NULL);
    ok("juliet@example.com/foo", "juliet", "example.com", "foo");
    ok("juliet@example.com/foo bar", "juliet", "example.com", "foo bar");
    ok("juliet@example.com/foo@bar", "juliet", "example.com", "foo@bar");
    ok("foo\\20bar@example.com", "foo\\20bar", "example.com", NULL);
    ok("fussball@example.com", "fussball", "example.com", NULL);
    ok("fußball@example.com", "fußball", "example.com", NULL);
    ok("π@example.com", "π", "example.com", NULL);
    ok("Σ@example.com/foo", "σ", "example.com", "foo");
    ok("σ@example.com/foo", "σ", "example.com", "foo");
    ok("ς@example.com/foo", "ς", "example.com", "foo");
    ok("king@example.com/♚", "king", "example.com", "♚");
    ok("example.com", NULL, "example.com", NULL);
    ok("example.com/foobar", NULL, "example.com", "foobar");
    ok("a.example.com/b@example.net", NULL, "a.example.com", "b@example.net");
}

/* RFC 7622 §3.5 (Table 2): invalid addresses. */
static void test_rfc7622_invalid(void **state)
{
    (void)state;
    bad("\"juliet\"@example.com");
    bad("foo bar@example.com");
    bad("@example.com/");
    /* ROMAN NUMERAL FOUR: has a compatibility decomposition ("IV"), so it
     * is HasCompat and thus not in the IdentifierClass (RFC 8264 §9.17);
     * its lower case U+2173 is HasCompat too. */
    bad("henry\u2163@example.com");
    bad("♚@example.com");
    bad("juliet@");
    bad("/foobar");
    /* Table 2 also lists "juliet@example.com/ foo", but OpaqueString allows
     * spaces anywhere (RFC 8265 §4.2); the entry has no rule behind it, so
     * it is accepted here, as other servers do. */
    ok("juliet@example.com/ foo", "juliet", "example.com", " foo");
}

static void test_cyrillic_localpart(void **state)
{
    (void)state;
    ok("Иван@localhost", "иван", "localhost", NULL);
    ok("иван@localhost", "иван", "localhost", NULL);
    ok("ИВАН@localhost", "иван", "localhost", NULL);
    ok("ЁЖиК@Localhost/Телефон", "ёжик", "localhost", "Телефон");
    /* Decomposed й (и + U+0306) composes under NFC. */
    ok("и\u0306@localhost", "й", "localhost", NULL);

    vn_jid_t a, b;
    assert_int_equal(parse("Иван@localhost/x", &a), 0);
    assert_int_equal(parse("иВАН@LOCALHOST/y", &b), 0);
    assert_true(vn_jid_bare_equal(&a, &b));
    assert_false(vn_jid_full_equal(&a, &b));
}

static void test_idn_domain(void **state)
{
    (void)state;
    ok("испытание.рф", NULL, "испытание.рф", NULL);
    ok("XN--80AKHBYKNJ4F.XN--P1AI", NULL, "испытание.рф", NULL);
    ok("xn--80akhbyknj4f.xn--p1ai", NULL, "испытание.рф", NULL);
    ok("Испытание.РФ", NULL, "испытание.рф", NULL);
    ok("Иван@Испытание.РФ/Дом", "иван", "испытание.рф", "Дом");
    ok("испытание.рф.", NULL, "испытание.рф", NULL);
    /* Ideographic and fullwidth full stops are label separators (RFC 5895). */
    ok("испытание\u3002рф", NULL, "испытание.рф", NULL);
    ok("испытание\uFF0Eрф", NULL, "испытание.рф", NULL);
    /* Fullwidth letters are width-mapped. */
    ok("\uFF45\uFF58\uFF41\uFF4D\uFF50\uFF4C\uFF45.com", NULL, "example.com", NULL);
    ok("Bücher.example", NULL, "bücher.example", NULL);
    ok("xn--bcher-kva.example", NULL, "bücher.example", NULL);
    /* Cherokee: the upper-case letters are the PVALID ones (they are
     * case-fold stable) and must survive preparation unchanged. */
    ok("xn--ju0fejjjjjjjjjjjj--ju0fejjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjxx.example", NULL,
       "ᏌᏍᏐᏏᏊjuᏒᏑ0feᏓᏎᏋᏐjᏏᏒᏉᏑᏍᏌjjᏊjᏐᏎjᏑᏏᏉjᏋᏍjᏌᏐjᏑjᏒᏎᏏjjᏊj-ᏐᏑᏍ.example", NULL);
    ok("\u13A0\u13A1.example", NULL, "\u13A0\u13A1.example", NULL);
    /* Mixed A-label and U-label. */
    ok("xn--80akhbyknj4f.рф", NULL, "испытание.рф", NULL);
    /* Invalid A-labels: bad punycode, not round-tripping, pure ASCII. */
    bad("xn--zz-zzz.example");
    bad("xn--abc-.example");
    bad("xn--.example");
    bad("xn--80akhbyknj4f-.example");
    /* IDNA2008 disallows symbols and compatibility characters in U-labels. */
    bad("♚.example");
    bad("\uFB01sh.example"); /* ﬁ ligature */
    /* Hyphen rules for U-labels (RFC 5891 §4.2.3.1). */
    bad("-тест.example");
    bad("тест-.example");
    bad("xn----jtb0bcc.example"); /* A-label of "-тест" */
    bad("те--ст.example");
    bad("\u0301тест.example");   /* leading combining mark */
    ok("-test.example", NULL, "-test.example", NULL); /* ASCII: no LDH check */
    /* Hebrew label; an RTL domain needs every label to obey the Bidi rule. */
    ok("שלום.example", NULL, "שלום.example", NULL);
    bad("שלום.1example");
}

static void test_ascii_domain(void **state)
{
    (void)state;
    ok("Localhost", NULL, "localhost", NULL);
    ok("EXAMPLE.Com", NULL, "example.com", NULL);
    ok("example.com.", NULL, "example.com", NULL);
    ok("user@example.com./res", "user", "example.com", "res");
    ok("_xmpp.example", NULL, "_xmpp.example", NULL);
    ok("a-b.c_d.example", NULL, "a-b.c_d.example", NULL);
    ok("1example.com", NULL, "1example.com", NULL);
    bad("example.com..");
    bad(".example.com");
    bad("a..example");
    bad(".");
    bad("exa mple.com");
    bad("exa\tmple.com");
    bad("a@b@example.com"); /* domain would be "b@example.com" */
    bad("exa:mple.com");
    bad("exa<mple.com");
    bad("exa\"mple.com");
    bad("exa\\mple.com");
    bad("exa[mple.com");
    bad("exa\x7Fmple.com");
}

static void test_ip_literals(void **state)
{
    (void)state;
    ok("127.0.0.1", NULL, "127.0.0.1", NULL);
    ok("juliet@192.0.2.1/r", "juliet", "192.0.2.1", "r");
    ok("[::1]", NULL, "[::1]", NULL);
    ok("juliet@[2001:DB8:0:0:0:0:0:1]/r", "juliet", "[2001:db8::1]", "r");
    ok("[::ffff:192.0.2.1]", NULL, "[::ffff:192.0.2.1]", NULL);
    bad("[::g]");
    bad("[::1");
    bad("[]");
    bad("[127.0.0.1]");
    bad("[::1].");
    bad("1.2.3");
    bad("256.0.0.1");
    bad("01.2.3.4");
}

static char *repeat(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = vn_arena_alloc(arena, ul * n + 1);
    for (size_t i = 0; i < n; i++) memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

static void test_length_limits(void **state)
{
    (void)state;
    vn_jid_t j;
    char *s;

    /* localpart: 1023 bytes ok, 1024 not; also in two-byte Cyrillic. */
    s = vn_arena_printf(arena, "%s@d", repeat("a", 1023));
    assert_int_equal(parse(s, &j), 0);
    assert_int_equal(strlen(j.local), 1023);
    bad(vn_arena_printf(arena, "%s@d", repeat("a", 1024)));
    s = vn_arena_printf(arena, "%sa@d", repeat("Ж", 511));
    assert_int_equal(parse(s, &j), 0);
    assert_int_equal(strlen(j.local), 1023);
    bad(vn_arena_printf(arena, "%s@d", repeat("Ж", 512)));
    /* Fullwidth input is longer than its mapping: 1023 fullwidth letters
     * (3069 bytes) prepare to 1023 bytes. */
    s = vn_arena_printf(arena, "%s@d", repeat("\uFF41", 1023));
    assert_int_equal(parse(s, &j), 0);
    assert_int_equal(strlen(j.local), 1023);
    bad(vn_arena_printf(arena, "%s@d", repeat("\uFF41", 1024)));

    /* resourcepart */
    s = vn_arena_printf(arena, "d/%s", repeat("R", 1023));
    assert_int_equal(parse(s, &j), 0);
    assert_int_equal(strlen(j.resource), 1023);
    bad(vn_arena_printf(arena, "d/%s", repeat("R", 1024)));
    bad(vn_arena_printf(arena, "d/%s", repeat("Я", 512)));

    /* domain labels: 63 ok, 64 not */
    ok(vn_arena_printf(arena, "%s.example", repeat("a", 63)), NULL,
       vn_arena_printf(arena, "%s.example", repeat("a", 63)), NULL);
    bad(vn_arena_printf(arena, "%s.example", repeat("a", 64)));
    /* U-label whose A-label exceeds 63 octets */
    bad(vn_arena_printf(arena, "%s.example", repeat("ж", 60)));
    /* domain: 16 labels of 63 + 15 dots = 1023 ok; one more byte not */
    s = repeat(vn_arena_printf(arena, "%s.", repeat("b", 63)), 16);
    s[1023] = '\0';
    assert_int_equal(parse(s, &j), 0);
    assert_int_equal(strlen(j.domain), 1023);
    s = vn_arena_printf(arena, "%s.", s); /* trailing dot is stripped */
    assert_int_equal(parse(s, &j), 0);
    s[1023] = 'c';
    s[1024] = '\0';
    bad(s);

    /* Huge input is refused without work. */
    bad(repeat("x", 100000));
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *const seqs[] = {
        "\xC0\x80",         /* overlong NUL */
        "\xC1\xBF",         /* overlong */
        "\xE0\x80\xAF",     /* overlong '/' */
        "\xED\xA0\x80",     /* UTF-16 surrogate */
        "\xF4\x90\x80\x80", /* above U+10FFFF */
        "\xF8\x88\x80\x80\x80",
        "\xD0",             /* truncated */
        "\x80",             /* stray continuation */
        "\xFE",
        "\xFF",
    };
    for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
        bad(vn_arena_printf(arena, "a%s@example.com", seqs[i]));
        bad(vn_arena_printf(arena, "a@exa%smple.com", seqs[i]));
        bad(vn_arena_printf(arena, "a@example.com/r%s", seqs[i]));
    }
    /* Embedded NUL in each part */
    bad_n("a\0b@example.com", 15);
    bad_n("ab@exam\0le.com", 14);
    bad_n("ab@\x02\0\0\0\xD5\x9D/r", 11); /* NUL in a non-ASCII label */
    bad("ab@\x02\xD5\x9D");
    bad("ab@a_\xD0\x96.example");           /* '_' not allowed in a U-label */
    bad_n("ab@example.com/r\0s", 18);
}

static void test_localpart_precis(void **state)
{
    (void)state;
    /* Width mapping (RFC 8265 §3.3.1 step 1) then lower case. */
    ok("\uFF2A\uFF35\uFF2C\uFF29\uFF25\uFF34@example.com", "juliet", "example.com", NULL);
    /* FULLWIDTH COMMERCIAL AT maps to '@', excluded by RFC 7622 §3.3.1. */
    bad("a\uFF20b@example.com");
    /* Other excluded characters. */
    bad("a&b@example.com");
    bad("a'b@example.com");
    bad("a:b@example.com");
    bad("a<b@example.com");
    bad("a>b@example.com");
    /* Other printable ASCII is fine. */
    ok("a+b.c_d-e!#$%*=?^`{|}~@example.com", "a+b.c_d-e!#$%*=?^`{|}~", "example.com", NULL);
    /* The class is checked after mapping and NFC, so canonically
     * equivalent input is treated alike: KELVIN SIGN is K, ANGSTROM SIGN
     * is Å, NFD Hangul composes. */
    ok("\u212Aelvin@example.com", "kelvin", "example.com", NULL);
    ok("\u212B@example.com", "\u00E5", "example.com", NULL);
    ok("\u1100\u1161\u11A8@example.com", "\uAC01", "example.com", NULL);
    /* Symbols, punctuation, spaces, controls, unassigned, ignorables. */
    bad("\u221E@example.com");             /* ∞ Sm */
    bad("a\u2014b@example.com");           /* em dash Pd */
    bad("a\u00A0b@example.com");           /* NBSP */
    bad("a\xC2\x85" "b@example.com");           /* NEL, Cc */
    bad("a\u0378b@example.com");           /* unassigned */
    bad("a\u00ADb@example.com");           /* soft hyphen, default ignorable */
    bad("a\u200Bb@example.com");           /* ZWSP */
    bad("a\U000E0001b@example.com");       /* language tag */
    bad("a\uFDD0b@example.com");           /* noncharacter */
    bad("a\uE000b@example.com");           /* private use */
    bad("\u00AA@example.com");             /* ª has <super> decomposition */
    bad("\u1100@example.com");             /* old Hangul jamo alone */
    ok("\u1100\u1161@example.com", "\uAC00", "example.com", NULL); /* composes to 가 */
    /* Full lower case: U+0130 becomes i + COMBINING DOT ABOVE. */
    ok("\u0130@example.com", "i\u0307", "example.com", NULL);
    /* Final sigma is not context-mapped: every Σ becomes σ. */
    ok("ΌΣΟΣ@example.com", "όσοσ", "example.com", NULL);
    /* ß stays (no case folding); ẞ lowers to ß. */
    ok("\u1E9E@example.com", "ß", "example.com", NULL);
    /* Letters and marks of other scripts. */
    ok("日本語@example.com", "日本語", "example.com", NULL);
    ok("e\u0301@example.com", "\u00E9", "example.com", NULL);
    /* Context rules (RFC 5892 Appendix A). */
    ok("col\u00B7la@example.com", "col\u00B7la", "example.com", NULL);
    bad("co\u00B7la@example.com");
    ok("\u0375\u03B1@example.com", "\u0375\u03B1", "example.com", NULL);
    bad("\u0375a@example.com");
    ok("\u05D0\u05F3@example.com", "\u05D0\u05F3", "example.com", NULL);
    bad("a\u05F3@example.com");
    ok("\u30A2\u30FB\u30A4@example.com", "\u30A2\u30FB\u30A4", "example.com", NULL);
    bad("a\u30FBb@example.com");
    ok("\u0915\u094D\u200D@example.com", "\u0915\u094D\u200D", "example.com", NULL); /* virama + ZWJ */
    bad("a\u200Db@example.com");
    ok("\u0628\u200C\u0628@example.com", "\u0628\u200C\u0628", "example.com", NULL); /* D ZWNJ D */
    bad("\u0627\u200C\u0628@example.com"); /* alef is right-joining only */
    ok("\u0628\u0661@example.com", "\u0628\u0661", "example.com", NULL);
    bad("\u0628\u0661\u06F1@example.com"); /* mixed Arabic-Indic digit sets */
    /* Bidi rule (RFC 5893). */
    ok("שלום@example.com", "שלום", "example.com", NULL);
    ok("\u05D0\u05D1" "1@example.com", "\u05D0\u05D1" "1", "example.com", NULL);
    bad("a\u05D0@example.com");
    bad("1\u05D0@example.com");
    bad("\u05D0a@example.com");
    bad("\u0628\u0661" "1@example.com"); /* AN and EN together */
}

static void test_resource_opaque(void **state)
{
    (void)state;
    ok("d/Foo Bar", NULL, "d", "Foo Bar");
    ok("d/a/b@c/", NULL, "d", "a/b@c/");
    ok("d/ ", NULL, "d", " ");
    /* Non-ASCII spaces map to U+0020 (RFC 8265 §4.2.1). */
    ok("d/a\u00A0b\u3000c\u2009d", NULL, "d", "a b c d");
    /* Case is preserved; NFC applies; width is not mapped. */
    ok("d/ÉCOLE\uFF21", NULL, "d", "ÉCOLE\uFF21");
    ok("d/E\u0301", NULL, "d", "\u00C9");
    /* Symbols and compatibility characters are fine in the FreeformClass. */
    ok("d/\u2163 \u221E ♚", NULL, "d", "\u2163 \u221E ♚");
    ok("d/l\u00B7l", NULL, "d", "l\u00B7l");
}

static void test_resource_opaque_invalid(void **state)
{
    (void)state;
    bad("d/a\tb");
    bad("d/a\nb");
    bad("d/a\x7F");
    bad("d/a\xC2\x85");
    bad("d/a\u200Bb");
    bad("d/a\u0378");
    bad("d/a\uE000");
    bad("d/a\U0010FFFF");
    bad("d/a\u2028b"); /* line separator, Zl */
    /* The RFC 5892 exceptions and context rules apply to both classes. */
    bad("d/a\u00B7b");
}

static void test_parse_split(void **state)
{
    (void)state;
    ok("a/b@c", NULL, "a", "b@c");
    ok("a@b/c/d@e", "a", "b", "c/d@e");
    ok("a@b//", "a", "b", "/");
    bad("");
    bad("@");
    bad("/");
    bad("@d");
    bad("d/");
    bad("a@/r");
    bad("a@d/");
    bad("@/");

    vn_jid_t j;
    assert_int_equal(vn_jid_parse(NULL, 0, &j, arena), -1);
    /* Length-delimited: trailing bytes beyond len are ignored. */
    assert_int_equal(vn_jid_parse("a@b/cXYZ", 5, &j, arena), 0);
    assert_string_equal(j.resource, "c");
}

static void test_part_helpers(void **state)
{
    (void)state;
    char *p;
    assert_int_equal(vn_jid_prep_local("JuLiet", 6, &p, arena), 0);
    assert_string_equal(p, "juliet");
    assert_int_equal(vn_jid_prep_local("", 0, &p, arena), -1);
    assert_int_equal(vn_jid_prep_domain("Испытание.РФ", strlen("Испытание.РФ"), &p, NULL), 0);
    assert_string_equal(p, "испытание.рф");
    free(p);
    assert_int_equal(vn_jid_prep_domain("", 0, &p, arena), -1);
    assert_int_equal(vn_jid_prep_resource("Phone", 5, &p, NULL), 0);
    assert_string_equal(p, "Phone");
    free(p);
    assert_int_equal(vn_jid_prep_resource("", 0, &p, arena), -1);
}

static void test_strings_and_equality(void **state)
{
    (void)state;
    vn_jid_t a, b, c, d;
    assert_int_equal(parse("Juliet@Example.COM/Balcony", &a), 0);
    assert_string_equal(vn_jid_bare_str(&a, arena), "juliet@example.com");
    assert_string_equal(vn_jid_full_str(&a, arena), "juliet@example.com/Balcony");
    assert_int_equal(parse("juliet@example.com/balcony", &b), 0);
    assert_true(vn_jid_bare_equal(&a, &b));
    assert_false(vn_jid_full_equal(&a, &b)); /* resource is case-sensitive */
    assert_int_equal(parse("juliet@example.com", &c), 0);
    assert_true(vn_jid_bare_equal(&a, &c));
    assert_false(vn_jid_full_equal(&a, &c));
    assert_string_equal(vn_jid_full_str(&c, arena), "juliet@example.com");

    assert_int_equal(parse("example.com/x", &d), 0);
    assert_string_equal(vn_jid_bare_str(&d, arena), "example.com");
    assert_string_equal(vn_jid_full_str(&d, arena), "example.com/x");
    assert_false(vn_jid_bare_equal(&c, &d));

    assert_int_equal(parse("иван@xn--80akhbyknj4f.xn--p1ai", &a), 0);
    assert_int_equal(parse("ИВАН@испытание.рф.", &b), 0);
    assert_true(vn_jid_full_equal(&a, &b));
    assert_string_equal(vn_jid_bare_str(&a, arena), "иван@испытание.рф");

    /* Without an arena the parts are malloc'd and freed by vn_jid_clear(). */
    vn_jid_t m;
    const char *s = "Иван@Испытание.РФ/Телефон";
    assert_int_equal(vn_jid_parse(s, strlen(s), &m, NULL), 0);
    assert_string_equal(m.local, "иван");
    char *full = vn_jid_full_str(&m, NULL);
    assert_string_equal(full, "иван@испытание.рф/Телефон");
    free(full);
    assert_true(vn_jid_full_equal(&m, &b) == 0);
    vn_jid_clear(&m);
    assert_null(m.local);
    assert_null(m.domain);
    assert_null(m.resource);
    /* Failure without an arena leaks nothing (checked by ASan/LSan). */
    s = "Иван@Испытание.РФ/a\tb";
    assert_int_equal(vn_jid_parse(s, strlen(s), &m, NULL), -1);
}

/* The per-thread IDN domain cache must give the same answers as a cold
 * preparation, across evictions. */
static void test_domain_cache(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 20; i++) {
            char *in = vn_arena_printf(arena, "S%d.Испытание.РФ.", i);
            char *want = vn_arena_printf(arena, "s%d.испытание.рф", i);
            char *got = NULL;
            assert_int_equal(vn_jid_prep_domain(in, strlen(in), &got, arena), 0);
            assert_string_equal(got, want);
            in = vn_arena_printf(arena, "s%d.XN--80AKHBYKNJ4F.xn--p1ai", i);
            assert_int_equal(vn_jid_prep_domain(in, strlen(in), &got, arena), 0);
            assert_string_equal(got, want);
        }
        bad("Испытание.РФ..");
        bad("-Испытание.РФ");
    }
}

/* Preparing a prepared address again changes nothing. */
static void test_idempotence(void **state)
{
    (void)state;
    static const char *const in[] = {
        "Иван@Испытание.РФ/Дом", "ΌΣΟΣ@example.com/\u00A0x", "\u0130i@XN--P1AI/E\u0301",
        "\uFF2A@\uFF45.com/\uFF21", "col\u00B7la@[::FFFF:1.2.3.4]/r", "שלום@שלום.example",
        "\u1100\u1161\u11A8@example.com", "a@b/c/d@e",
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        vn_jid_t a, b;
        if (parse(in[i], &a) != 0) fail_msg("\"%s\" rejected", in[i]);
        char *full = vn_jid_full_str(&a, arena);
        if (parse(full, &b) != 0) fail_msg("\"%s\" (from \"%s\") rejected", full, in[i]);
        assert_true(vn_jid_full_equal(&a, &b));
        assert_string_equal(full, vn_jid_full_str(&b, arena));
    }
}

/* jid.c relies on these Unicode facts for its fast paths; check them
 * against the ICU actually linked so that an ICU upgrade that breaks one
 * fails here rather than silently. */
static void test_unicode_assumptions(void **state)
{
    (void)state;
    for (UChar32 c = 0; c <= 0x10FFFF; c++) {
        int32_t dt = u_getIntPropertyValue(c, UCHAR_DECOMPOSITION_TYPE);
        if (dt == U_DT_WIDE || dt == U_DT_NARROW)
            if (c != 0x3000 && (c < 0xFF00 || c > 0xFFEF)) fail_msg("U+%04X is wide/narrow", (unsigned)c);
        if (u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL) && c != 0x200C && c != 0x200D)
            fail_msg("U+%04X is Join_Control", (unsigned)c);
        switch (u_getIntPropertyValue(c, UCHAR_HANGUL_SYLLABLE_TYPE)) {
        case U_HST_LEADING_JAMO: case U_HST_VOWEL_JAMO: case U_HST_TRAILING_JAMO:
            if (!((c >= 0x1100 && c <= 0x11FF) || (c >= 0xA960 && c <= 0xA97F) ||
                  (c >= 0xD7B0 && c <= 0xD7FF)))
                fail_msg("U+%04X is a conjoining jamo", (unsigned)c);
            break;
        default:
            break;
        }
        if (u_hasBinaryProperty(c, UCHAR_NONCHARACTER_CODE_POINT) && u_charType(c) != U_UNASSIGNED)
            fail_msg("noncharacter U+%04X is not Cn", (unsigned)c);
        /* Only U+0130 has a full lower-case mapping that differs from
         * the simple one (root locale, single code point: no context). */
        if (U_IS_SURROGATE(c)) continue;
        UChar in[2], lo[8];
        int32_t n = 0;
        UErrorCode e = U_ZERO_ERROR;
        U16_APPEND_UNSAFE(in, n, c);
        int32_t m = u_strToLower(lo, 8, in, n, "", &e);
        UChar32 simple = u_tolower(c);
        UChar32 first;
        int32_t k = 0;
        U16_NEXT(lo, k, m, first);
        if (c != 0x0130 && (k != m || first != simple)) fail_msg("U+%04X lower-cases specially", (unsigned)c);
    }
}

int main(void)
{
    vn_jid_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rfc7622_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rfc7622_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cyrillic_localpart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idn_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ascii_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ip_literals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_length_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localpart_precis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resource_opaque, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resource_opaque_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_part_helpers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings_and_equality, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_cache, setup, teardown),
        cmocka_unit_test(test_unicode_assumptions),
        cmocka_unit_test_setup_teardown(test_idempotence, setup, teardown),
    };
    return cmocka_run_group_tests_name("jid", tests, NULL, NULL);
}

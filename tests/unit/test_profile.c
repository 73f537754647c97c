/* Unit tests for the profile modules' helpers (src/mod/profile.c): the
 * XEP-0153 photo hash of (folded) base64 and the storage form of XML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mod/profile.h"

/* SHA-1 of "abc" (FIPS 180-1 test vector); "YWJj" is its base64. */
#define ABC_SHA1 "a9993e364706816aba3e25717850c26c9cd0d89d"

static void test_sha1_plain_and_folded(void **state)
{
    (void)state;
    char hex[41];
    size_t n = 0;
    assert_int_equal(vn_profile_b64_sha1("YWJj", 4, hex, &n), 0);
    assert_string_equal(hex, ABC_SHA1);
    assert_int_equal(n, 3);
    const char *folded = " YW\r\n Jj\t\n";
    assert_int_equal(vn_profile_b64_sha1(folded, strlen(folded), hex, &n), 0);
    assert_string_equal(hex, ABC_SHA1);
    /* padding: "ab" */
    assert_int_equal(vn_profile_b64_sha1("YWI=", 4, hex, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(hex, "da23614e02469a0d7c7bd1bdab5c9c474b1904dc");
    /* empty input is the hash of nothing */
    assert_int_equal(vn_profile_b64_sha1("", 0, hex, &n), 0);
    assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

static void test_sha1_rejects_garbage(void **state)
{
    (void)state;
    char hex[41];
    size_t n;
    const char *bad[] = {"YWJ", "YW@j", "Y=Jj", "YWJj=", "====", "YWJj\x01"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(vn_profile_b64_sha1(bad[i], strlen(bad[i]), hex, &n), -1);
}

static void test_serialize_parse_round_trip(void **state)
{
    (void)state;
    const char *xml = "<vCard xmlns='vcard-temp'><FN>Вера &amp; &lt;Ко&gt;</FN>"
                      "<X xmlns='urn:other' a='1'/><EMAIL><USERID>v@x</USERID></EMAIL></vCard>";
    vn_arena_t *a = vn_arena_new(512);
    vn_xnode_t *n = vn_profile_parse(a, xml, strlen(xml));
    assert_non_null(n);
    assert_string_equal(n->name, "vCard");
    assert_string_equal(n->ns, "vcard-temp");
    vn_xnode_t *fn = vn_xnode_child(n, "vcard-temp", "FN");
    assert_non_null(fn);
    assert_string_equal(vn_xnode_text(a, fn), "Вера & <Ко>");
    vn_xnode_t *x = vn_xnode_child(n, "urn:other", "X");
    assert_non_null(x);
    assert_string_equal(vn_xnode_attr(x, "a"), "1");
    size_t len;
    char *out = vn_profile_serialize(n, &len);
    assert_int_equal(strlen(out), len);
    vn_xnode_t *again = vn_profile_parse(a, out, len);
    assert_non_null(again);
    char *out2 = vn_profile_serialize(again, NULL);
    assert_string_equal(out, out2);
    free(out);
    free(out2);
    vn_arena_free(a);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    vn_arena_t *a = vn_arena_new(512);
    const char *bad[] = {"", "text", "<a>", "<a/><b/>", "<a></b>", "<!DOCTYPE a><a/>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(vn_profile_parse(a, bad[i], strlen(bad[i])));
    vn_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_plain_and_folded),
        cmocka_unit_test(test_sha1_rejects_garbage),
        cmocka_unit_test(test_serialize_parse_round_trip),
        cmocka_unit_test(test_parse_rejects),
    };
    return cmocka_run_group_tests_name("profile", tests, NULL, NULL);
}

/* Unit tests for the profile storage (src/store/store_profile.c):
 * vcard-temp rows with their photo hash, private XML per namespace, the
 * entry quota, cascade deletion with the account, reopening; and the
 * account's last activity (src/store/store_activity.c, XEP-0012). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/log.h"
#include "store/store.h"
#include "store/store_activity.h"
#include "store/store_profile.h"
#include "store_fixture.h"

static int setup(void **state)
{
    static const char *const accounts[] = {"alice@localhost", "боб@испытание.рф", NULL};
    return fx_setup(state, "vn-profile", accounts);
}

static int teardown(void **state)
{
    return fx_teardown(state);
}

static void test_vcard_absent(void **state)
{
    fx_t *fx = *state;
    char *xml = (char *)1, *hash = (char *)1;
    assert_int_equal(vn_store_vcard_get(fx->st, "alice@localhost", &xml, &hash),
                     VN_STORE_NOT_FOUND);
    assert_null(xml);
    assert_null(hash);
    assert_int_equal(vn_store_vcard_get(fx->st, "nobody@localhost", NULL, &hash),
                     VN_STORE_NOT_FOUND);
}

static void test_vcard_set_get_replace(void **state)
{
    fx_t *fx = *state;
    const char *v1 = "<vCard xmlns='vcard-temp'><FN>Алиса</FN></vCard>";
    const char *v2 = "<vCard xmlns='vcard-temp'><PHOTO><BINVAL>AAAA</BINVAL></PHOTO></vCard>";
    assert_int_equal(vn_store_vcard_set(fx->st, "alice@localhost", v1, NULL), 0);
    char *xml, *hash;
    assert_int_equal(vn_store_vcard_get(fx->st, "alice@localhost", &xml, &hash), VN_STORE_OK);
    assert_string_equal(xml, v1);
    assert_string_equal(hash, ""); /* NULL hash stored as "no photo" */
    free(xml);
    free(hash);
    assert_int_equal(vn_store_vcard_set(fx->st, "alice@localhost", v2,
                                        "1489f923c4dca729178b3e3233458550d8dddf29"),
                     0);
    /* hash only: the photo is not read */
    assert_int_equal(vn_store_vcard_get(fx->st, "alice@localhost", NULL, &hash), VN_STORE_OK);
    assert_string_equal(hash, "1489f923c4dca729178b3e3233458550d8dddf29");
    free(hash);
    assert_int_equal(vn_store_vcard_get(fx->st, "alice@localhost", &xml, NULL), VN_STORE_OK);
    assert_string_equal(xml, v2);
    free(xml);
    /* the other account is untouched */
    assert_int_equal(vn_store_vcard_get(fx->st, "боб@испытание.рф", &xml, NULL),
                     VN_STORE_NOT_FOUND);
    /* removal */
    assert_int_equal(vn_store_vcard_set(fx->st, "alice@localhost", NULL, NULL), 0);
    assert_int_equal(vn_store_vcard_get(fx->st, "alice@localhost", &xml, NULL), VN_STORE_NOT_FOUND);
}

static void test_vcard_needs_account(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(vn_store_vcard_set(fx->st, "ghost@localhost", "<vCard/>", ""), -1);
    assert_int_equal(vn_store_private_set(fx->st, "ghost@localhost", "ex:a", "<a/>", 0), -1);
}

static void test_private_per_namespace(void **state)
{
    fx_t *fx = *state;
    char *xml;
    assert_int_equal(vn_store_private_get(fx->st, "alice@localhost", "ex:a", &xml),
                     VN_STORE_NOT_FOUND);
    assert_null(xml);
    assert_int_equal(
        vn_store_private_set(fx->st, "alice@localhost", "ex:a", "<a xmlns='ex:a'>1</a>", 0), 0);
    assert_int_equal(
        vn_store_private_set(fx->st, "alice@localhost", "ex:b", "<b xmlns='ex:b'/>", 0), 0);
    assert_int_equal(
        vn_store_private_set(fx->st, "alice@localhost", "ex:a", "<a xmlns='ex:a'>2</a>", 0), 0);
    assert_int_equal(vn_store_private_get(fx->st, "alice@localhost", "ex:a", &xml), VN_STORE_OK);
    assert_string_equal(xml, "<a xmlns='ex:a'>2</a>");
    free(xml);
    assert_int_equal(vn_store_private_get(fx->st, "alice@localhost", "ex:b", &xml), VN_STORE_OK);
    free(xml);
    /* per account */
    assert_int_equal(vn_store_private_get(fx->st, "боб@испытание.рф", "ex:a", &xml),
                     VN_STORE_NOT_FOUND);
    /* removal of one namespace */
    assert_int_equal(vn_store_private_set(fx->st, "alice@localhost", "ex:b", NULL, 0), 0);
    assert_int_equal(vn_store_private_get(fx->st, "alice@localhost", "ex:b", &xml),
                     VN_STORE_NOT_FOUND);
    assert_int_equal(vn_store_private_get(fx->st, "alice@localhost", "ex:a", &xml), VN_STORE_OK);
    free(xml);
}

static void test_private_quota(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(vn_store_private_set(fx->st, "alice@localhost", "ex:1", "<x/>", 2), 0);
    assert_int_equal(vn_store_private_set(fx->st, "alice@localhost", "ex:2", "<x/>", 2), 0);
    assert_int_equal(vn_store_private_set(fx->st, "alice@localhost", "ex:3", "<x/>", 2),
                     VN_STORE_FULL);
    /* replacing within the quota is fine */
    assert_int_equal(vn_store_private_set(fx->st, "alice@localhost", "ex:2", "<y/>", 2), 0);
    /* another account has its own quota */
    assert_int_equal(vn_store_private_set(fx->st, "боб@испытание.рф", "ex:3", "<x/>", 2), 0);
    char *xml;
    assert_int_equal(vn_store_private_get(fx->st, "alice@localhost", "ex:3", &xml),
                     VN_STORE_NOT_FOUND);
}

static void test_cascade_and_reopen(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(
        vn_store_vcard_set(fx->st, "alice@localhost", "<vCard xmlns='vcard-temp'/>", "ab"), 0);
    assert_int_equal(vn_store_private_set(fx->st, "alice@localhost", "ex:a", "<a/>", 0), 0);
    assert_int_equal(
        vn_store_vcard_set(fx->st, "боб@испытание.рф", "<vCard xmlns='vcard-temp'/>", ""), 0);
    vn_store_close(fx->st);
    fx->st = fx_open(fx);
    char *xml, *hash;
    assert_int_equal(vn_store_vcard_get(fx->st, "alice@localhost", NULL, &hash), VN_STORE_OK);
    assert_string_equal(hash, "ab");
    free(hash);
    assert_int_equal(vn_store_account_delete(fx->st, "alice@localhost"), 0);
    assert_int_equal(vn_store_vcard_get(fx->st, "alice@localhost", &xml, NULL), VN_STORE_NOT_FOUND);
    assert_int_equal(vn_store_private_get(fx->st, "alice@localhost", "ex:a", &xml),
                     VN_STORE_NOT_FOUND);
    /* a new account of the same name starts empty */
    fx_add_account(fx->st, "alice@localhost");
    assert_int_equal(vn_store_vcard_get(fx->st, "alice@localhost", &xml, NULL), VN_STORE_NOT_FOUND);
    assert_int_equal(vn_store_vcard_get(fx->st, "боб@испытание.рф", &xml, NULL), VN_STORE_OK);
    free(xml);
}

static void test_last_activity(void **state)
{
    fx_t *fx = *state;
    int64_t ts;
    char *status;
    assert_int_equal(vn_store_last_get(fx->st, "alice@localhost", &ts, &status),
                     VN_STORE_NOT_FOUND);
    assert_null(status);
    assert_int_equal(vn_store_last_set(fx->st, "alice@localhost", 1000, "Ушла"), 0);
    assert_int_equal(vn_store_last_set(fx->st, "alice@localhost", 2000, NULL), 0); /* replaced */
    assert_int_equal(vn_store_last_set(fx->st, "боб@испытание.рф", 1500, "away"), 0);
    assert_int_equal(vn_store_last_set(fx->st, "ghost@localhost", 1, ""), -1); /* no account */
    fx_reopen(fx);
    assert_int_equal(vn_store_last_get(fx->st, "alice@localhost", &ts, &status), VN_STORE_OK);
    assert_int_equal(ts, 2000);
    assert_string_equal(status, "");
    free(status);
    assert_int_equal(vn_store_last_get(fx->st, "боб@испытание.рф", &ts, &status), VN_STORE_OK);
    assert_string_equal(status, "away");
    free(status);
    assert_int_equal(vn_store_account_delete(fx->st, "alice@localhost"), 0);
    assert_int_equal(vn_store_last_get(fx->st, "alice@localhost", &ts, &status),
                     VN_STORE_NOT_FOUND);
}

int main(void)
{
    vn_log_set_level(VN_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_vcard_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vcard_set_get_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vcard_needs_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_per_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cascade_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_activity, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_profile", tests, NULL, NULL);
}

/* Regression tests for what the module fuzz targets (fuzz/fuzz_muc.c,
 * fuzz_pubsub.c, fuzz_caps.c) found in the parsers of client input, and
 * the XEP-0115 examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mod/muc/form.h"
#include "mod/profile.h"
#include "mod/pubsub/ps.h"

static vn_xnode_t *parse(vn_arena_t *a, const char *xml)
{
    vn_xnode_t *n = vn_profile_parse(a, xml, strlen(xml));
    assert_non_null(n);
    return n;
}

/* XEP-0045 §7.2.15: seconds beyond the epoch meant "everything", but
 * seconds * 10^6 overflowed (UB; in practice a window in the future and
 * no history at all). */
static void test_muc_history_huge_seconds(void **state)
{
    (void)state;
    vn_server_t srv;
    memset(&srv, 0, sizeof(srv));
    srv.cfg.muc_max_occupants = 100;
    srv.cfg.muc_history_length = 5;
    srv.cfg.muc_max_history = 10;
    muc_service_t svc = {.srv = &srv, .rooms = vn_map_new(), .created = vn_map_new()};
    muc_svc = &svc;
    muc_room_t *r = muc_room_new("r@conference.example.org");
    const int64_t now = (int64_t)1767225600 * 1000000;
    for (int i = 0; i < 3; i++)
        muc_hist_add(r, now - (3 - i) * 1000000, "<message></message>", 19);
    vn_arena_t *a = vn_arena_new(512);
    const char *all[] = {
        "<history xmlns='http://jabber.org/protocol/muc' seconds='18436744073710'/>",
        "<history xmlns='http://jabber.org/protocol/muc' seconds='99999999999999999'/>",
        "<history xmlns='http://jabber.org/protocol/muc' seconds='60'/>",
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        assert_int_equal(muc_hist_first(r, parse(a, all[i]), now), 0);
    const char *two = "<history xmlns='http://jabber.org/protocol/muc' seconds='2'/>";
    assert_int_equal(muc_hist_first(r, parse(a, two), now), 1);
    const char *none = "<history xmlns='http://jabber.org/protocol/muc' maxchars='0'/>";
    assert_int_equal(muc_hist_first(r, parse(a, none), now), 3);
    vn_arena_free(a);
    muc_room_remove(r);
    vn_map_free(svc.rooms);
    vn_map_free(svc.created);
    muc_svc = NULL;
}

static const char *apply_room_form(muc_room_t *r, vn_arena_t *a, muc_config_t *c,
                                   const char *fields)
{
    char xml[1024];
    snprintf(xml, sizeof(xml), "<x xmlns='jabber:x:data' type='submit'>%s</x>", fields);
    return muc_form_apply(r, a, parse(a, xml), c);
}

#define F_SECRET(v) "<field var='muc#roomconfig_roomsecret'><value>" v "</value></field>"
#define F_PROT(v) "<field var='muc#roomconfig_passwordprotectedroom'><value>" v "</value></field>"

/* A room is password-protected exactly when it has a password: an owner
 * who sets roomsecret and leaves passwordprotectedroom as the form showed
 * it (0) believed the room protected while anyone could enter. */
static void test_muc_roomsecret_rule(void **state)
{
    (void)state;
    vn_server_t srv;
    memset(&srv, 0, sizeof(srv));
    srv.cfg.muc_max_occupants = 100;
    srv.cfg.muc_max_history = 10;
    muc_service_t svc = {.srv = &srv, .rooms = vn_map_new(), .created = vn_map_new()};
    muc_svc = &svc;
    muc_room_t *r = muc_room_new("r@conference.example.org");
    vn_arena_t *a = vn_arena_new(512);
    muc_config_t *c = &r->cfg;
    /* only a secret: protected */
    assert_null(apply_room_form(r, a, c, F_SECRET("s3cret")));
    assert_int_equal(c->password_protected, 1);
    assert_string_equal(c->secret, "s3cret");
    /* the whole form back unchanged keeps it */
    assert_null(apply_room_form(r, a, c, F_PROT("1") F_SECRET("s3cret")));
    assert_int_equal(c->password_protected, 1);
    /* the flag off (secret as shown): unprotected, no password kept */
    assert_null(apply_room_form(r, a, c, F_PROT("0") F_SECRET("s3cret")));
    assert_int_equal(c->password_protected, 0);
    assert_string_equal(c->secret, "");
    /* a new secret with the flag still 0: protected */
    assert_null(apply_room_form(r, a, c, F_PROT("0") F_SECRET("n3w")));
    assert_int_equal(c->password_protected, 1);
    assert_string_equal(c->secret, "n3w");
    /* removing the password alone turns protection off */
    assert_null(apply_room_form(r, a, c, F_SECRET("")));
    assert_int_equal(c->password_protected, 0);
    /* the flag on without a password is refused */
    assert_non_null(apply_room_form(r, a, c, F_PROT("1")));
    muc_config_t fresh;
    muc_config_defaults(&fresh);
    assert_non_null(apply_room_form(r, a, &fresh, F_PROT("1") F_SECRET("")));
    muc_config_free(&fresh);
    vn_arena_free(a);
    muc_room_remove(r);
    vn_map_free(svc.rooms);
    vn_map_free(svc.created);
    muc_svc = NULL;
}

/* XEP-0004 §3.2: a repeated var made publish-options configure a node
 * they then never matched (every later publish failed its precondition). */
static void test_pubsub_form_duplicate_var(void **state)
{
    (void)state;
    vn_arena_t *a = vn_arena_new(512);
    ps_form_t f;
    vn_xnode_t *po = parse(a, "<publish-options xmlns='http://jabber.org/protocol/pubsub'>"
                              "<x xmlns='jabber:x:data' type='submit'>"
                              "<field var='pubsub#access_model'><value>open</value></field>"
                              "<field var='pubsub#access_model'><value>whitelist</value></field>"
                              "</x></publish-options>");
    assert_int_equal(ps_form_read(a, po, &f), -1);
    po = parse(a, "<publish-options xmlns='http://jabber.org/protocol/pubsub'>"
                  "<x xmlns='jabber:x:data' type='submit'>"
                  "<field var='FORM_TYPE'><value>a</value></field>"
                  "<field var='FORM_TYPE'><value>b</value></field></x></publish-options>");
    assert_int_equal(ps_form_read(a, po, &f), -1);
    po = parse(a, "<publish-options xmlns='http://jabber.org/protocol/pubsub'>"
                  "<x xmlns='jabber:x:data' type='submit'>"
                  "<field var='pubsub#access_model'><value>whitelist</value></field>"
                  "</x></publish-options>");
    assert_int_equal(ps_form_read(a, po, &f), 0);
    ps_config_t c;
    ps_config_default(&c, 1);
    const char *bad = NULL;
    assert_int_equal(ps_config_apply(&c, &f, 0, 256, &bad), 0);
    assert_int_equal(ps_config_matches(&c, &f, 256), 1);
    vn_arena_free(a);
}

/* The configuration form the server shows, submitted back, must give the
 * same roster groups (an empty group was dropped). */
static void test_pubsub_form_roster_groups(void **state)
{
    (void)state;
    vn_arena_t *a = vn_arena_new(512);
    ps_config_t c, back;
    ps_config_default(&c, 0);
    ps_config_default(&back, 0);
    strcpy(c.roster_groups, "Friends\n\nFamily\n");
    vn_xnode_t *holder = vn_xnode_new(a, NS_PUBSUB_OWNER, "configure");
    ps_config_to_form(a, holder, &c, "submit", NS_PUBSUB_NODE_CONFIG);
    ps_form_t f;
    assert_int_equal(ps_form_read(a, holder, &f), 0);
    const char *bad = NULL;
    assert_int_equal(ps_config_apply(&back, &f, 1, 256, &bad), 0);
    assert_string_equal(back.roster_groups, c.roster_groups);
    vn_arena_free(a);
}

/* XEP-0004: a configuration form with fields the server does not know is
 * applied (the known ones); pubsub#notification_type and pubsub#itemreply
 * are known, and a bad value of a known field still refuses the whole
 * form. Stored and read back. */
static void test_pubsub_form_unknown_and_new_fields(void **state)
{
    (void)state;
    vn_arena_t *a = vn_arena_new(512);
    ps_form_t f;
    vn_xnode_t *cf = parse(a, "<configure xmlns='http://jabber.org/protocol/pubsub#owner'>"
                              "<x xmlns='jabber:x:data' type='submit'>"
                              "<field var='pubsub#title'><value>News</value></field>"
                              "<field var='pubsub#notification_type'><value>normal</value></field>"
                              "<field var='pubsub#itemreply'><value>publisher</value></field>"
                              "<field var='pubsub#x-unknown'><value>?</value></field>"
                              "</x></configure>");
    assert_int_equal(ps_form_read(a, cf, &f), 0);
    ps_config_t c;
    ps_config_default(&c, 0);
    assert_int_equal(c.notification_type, PS_NOTIFY_HEADLINE);
    const char *bad = NULL;
    assert_int_equal(ps_config_apply(&c, &f, 0, 256, &bad), 0);
    assert_string_equal(c.title, "News");
    assert_int_equal(c.notification_type, PS_NOTIFY_NORMAL);
    assert_int_equal(c.itemreply, PS_ITEMREPLY_PUBLISHER);
    vn_buf_t text = VN_BUF_INIT;
    ps_config_serialize(&c, &text);
    ps_config_t back;
    ps_config_default(&back, 0);
    ps_config_parse(&back, text.data);
    vn_buf_free(&text);
    assert_int_equal(back.notification_type, PS_NOTIFY_NORMAL);
    assert_int_equal(back.itemreply, PS_ITEMREPLY_PUBLISHER);
    cf = parse(a, "<configure xmlns='http://jabber.org/protocol/pubsub#owner'>"
                  "<x xmlns='jabber:x:data' type='submit'>"
                  "<field var='pubsub#title'><value>Other</value></field>"
                  "<field var='pubsub#notification_type'><value>loud</value></field>"
                  "</x></configure>");
    assert_int_equal(ps_form_read(a, cf, &f), 0);
    assert_int_equal(ps_config_apply(&c, &f, 0, 256, &bad), -1);
    assert_string_equal(bad, "pubsub#notification_type");
    assert_string_equal(c.title, "News");
    vn_arena_free(a);
}

#define SIMPLE                                                                                     \
    "<query xmlns='http://jabber.org/protocol/disco#info'>"                                        \
    "<identity category='client' name='Exodus 0.9.1' type='pc'/>"                                  \
    "<feature var='http://jabber.org/protocol/caps'/>"                                             \
    "<feature var='http://jabber.org/protocol/disco#info'/>"                                       \
    "<feature var='http://jabber.org/protocol/disco#items'/>"                                      \
    "<feature var='http://jabber.org/protocol/muc'/>"

#define FORM_START                                                                                 \
    "<x xmlns='jabber:x:data' type='result'>"                                                      \
    "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>"

/* XEP-0115 §5.2 and §5.3 examples; §5.4 3.5 ill-formed answers. */
static void test_caps_ver(void **state)
{
    (void)state;
    vn_arena_t *a = vn_arena_new(512);
    char *v = caps_ver_of(a, parse(a, SIMPLE "</query>"), "sha-1");
    assert_non_null(v);
    assert_string_equal(v, "QgayPKawpkPSDYmwT/WM94uAlu0=");
    assert_null(caps_ver_of(a, parse(a, SIMPLE "</query>"), "md5"));
    const char *complex =
        "<query xmlns='http://jabber.org/protocol/disco#info'>"
        "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
        "<identity xml:lang='el' category='client' name='\xce\xa8 0.11' type='pc'/>"
        "<feature var='http://jabber.org/protocol/caps'/>"
        "<feature var='http://jabber.org/protocol/disco#info'/>"
        "<feature var='http://jabber.org/protocol/disco#items'/>"
        "<feature var='http://jabber.org/protocol/muc'/>" FORM_START
        "<field var='ip_version' type='text-multi'><value>ipv4</value><value>ipv6</value></field>"
        "<field var='os'><value>Mac</value></field>"
        "<field var='os_version'><value>10.5.1</value></field>"
        "<field var='software'><value>Psi</value></field>"
        "<field var='software_version'><value>0.11</value></field></x></query>";
    v = caps_ver_of(a, parse(a, complex), "sha-1");
    assert_non_null(v);
    assert_string_equal(v, "q07IKJEyjvHSyhy//CH0CxmKi8w=");
    /* Two FORM_TYPE fields, differing FORM_TYPE values, a repeated var:
     * which one counted depended on the order of the elements. */
    const char *bad[] = {
        SIMPLE FORM_START "<field var='FORM_TYPE'><value>urn:other</value></field></x></query>",
        SIMPLE "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'>"
               "<value>urn:a</value><value>urn:b</value></field></x></query>",
        SIMPLE FORM_START "<field var='os'><value>Mac</value></field>"
                          "<field var='os'><value>Linux</value></field></x></query>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(caps_ver_of(a, parse(a, bad[i]), "sha-1"));
    /* The same value twice is one FORM_TYPE. */
    v = caps_ver_of(a,
                    parse(a, SIMPLE "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'>"
                                    "<value>urn:a</value><value>urn:a</value></field></x></query>"),
                    "sha-1");
    assert_non_null(v);
    vn_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_muc_history_huge_seconds),
        cmocka_unit_test(test_muc_roomsecret_rule),
        cmocka_unit_test(test_pubsub_form_duplicate_var),
        cmocka_unit_test(test_pubsub_form_roster_groups),
        cmocka_unit_test(test_pubsub_form_unknown_and_new_fields),
        cmocka_unit_test(test_caps_ver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

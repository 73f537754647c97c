/* Unit tests for XEP-0059 Result Set Management (src/xmpp/rsm.c): request
 * parsing, page choice (forwards, backwards, last page, index, count
 * only, UIDs that vanished between pages) and the answer's <set/>, with a
 * check that paging forwards and backwards through a set visits every item
 * exactly once for every page size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/mem.h"
#include "xml/parser.h"
#include "xmpp/rsm.h"

#define Q "<query xmlns='http://jabber.org/protocol/disco#items'>"
#define SET "<set xmlns='http://jabber.org/protocol/rsm'>"

static vn_xnode_t *tree(vn_arena_t *a, const char *xml)
{
    vn_xnode_t *n = vn_xml_parse_element(a, xml, strlen(xml), NULL, 16);
    assert_non_null(n);
    return n;
}

/* Parses xml (a query) and returns vn_rsm_parse's verdict. */
static const char *parse(vn_arena_t *a, const char *xml, vn_rsm_req_t *r)
{
    return vn_rsm_parse(a, tree(a, xml), r);
}

static void test_parse(void **state)
{
    (void)state;
    vn_arena_t *a = vn_arena_new(1024);
    vn_rsm_req_t r;

    assert_null(parse(a, Q "</query>", &r));
    assert_false(r.present);
    assert_int_equal(r.max, -1);
    assert_int_equal(r.index, -1);
    assert_null(r.after);
    assert_null(r.before);
    assert_int_equal(vn_rsm_limit(&r, 100, 500), 100);

    assert_null(parse(a, Q SET "<max>10</max><after>node-7</after></set></query>", &r));
    assert_true(r.present);
    assert_int_equal(r.max, 10);
    assert_string_equal(r.after, "node-7");
    assert_null(r.before);
    assert_int_equal(vn_rsm_limit(&r, 100, 500), 10);

    /* §2.5: an empty <before/> asks for the last page. */
    assert_null(parse(a, Q SET "<max>5</max><before/></set></query>", &r));
    assert_non_null(r.before);
    assert_string_equal(r.before, "");

    /* §2.6 index; §2.7 max 0 (the count only); whitespace; a huge max is
     * capped by the responder. */
    assert_null(parse(a, Q SET "<max> 0 </max><index>\n371\n</index></set></query>", &r));
    assert_int_equal(r.max, 0);
    assert_int_equal(r.index, 371);
    assert_int_equal(vn_rsm_limit(&r, 100, 500), 0);
    assert_null(parse(a, Q SET "<max>99999999999999999999999999</max></set></query>", &r));
    assert_int_equal(vn_rsm_limit(&r, 100, 500), 500);

    /* Unknown children and foreign namespaces are ignored. */
    assert_null(parse(a, Q SET "<max>3</max><foo/><after xmlns='urn:x'/></set></query>", &r));
    assert_null(r.after);
    /* Only a <set/> in the RSM namespace counts. */
    assert_null(parse(a, Q "<set xmlns='urn:x'><max>-1</max></set></query>", &r));
    assert_false(r.present);

    static const char *const bad[] = {
        Q SET "<max>-1</max></set></query>",
        Q SET "<max>+1</max></set></query>",
        Q SET "<max></max></set></query>",
        Q SET "<max>1 2</max></set></query>",
        Q SET "<max>0x10</max></set></query>",
        Q SET "<max>1</max><max>2</max></set></query>",
        Q SET "<after/></set></query>",
        Q SET "<after>a</after><after>b</after></set></query>",
        Q SET "<before>a</before><before/></set></query>",
        Q SET "<index>1</index><after>a</after></set></query>",
        Q SET "<index>1</index><before/></set></query>",
        Q SET "<index>x</index></set></query>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err = parse(a, bad[i], &r);
        if (!err) fail_msg("accepted: %s", bad[i]);
    }
    vn_arena_free(a);
}

/* n UIDs "k000", "k002", ... (even numbers, so odd ones fall between). */
static char **uids_new(size_t n)
{
    char **u = vn_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        char b[16];
        snprintf(b, sizeof(b), "k%03zu", 2 * i);
        u[i] = vn_xstrdup(b);
    }
    return u;
}

static void uids_free(char **u)
{
    for (size_t i = 0; u[i]; i++)
        free(u[i]);
    free(u);
}

static vn_rsm_page_t page_of(const char *after, const char *before, long index, size_t limit,
                             char **u, size_t n)
{
    vn_rsm_req_t r = {1, (long)limit, after, before, index};
    vn_rsm_page_t p = {999, 999};
    vn_rsm_select_sorted(&r, (const char *const *)u, n, limit, &p);
    assert_true(p.first <= n);
    assert_true(p.count <= limit);
    assert_true(p.first + p.count <= n);
    return p;
}

static void test_select(void **state)
{
    (void)state;
    char **u = uids_new(25);
    vn_rsm_page_t p;

    p = page_of(NULL, NULL, -1, 10, u, 25); /* §2.1 */
    assert_int_equal(p.first, 0);
    assert_int_equal(p.count, 10);
    p = page_of("k018", NULL, -1, 10, u, 25); /* §2.2: after item 9 */
    assert_int_equal(p.first, 10);
    assert_int_equal(p.count, 10);
    p = page_of("k038", NULL, -1, 10, u, 25); /* the last page is short */
    assert_int_equal(p.first, 20);
    assert_int_equal(p.count, 5);
    p = page_of("k048", NULL, -1, 10, u, 25); /* after the last item: empty */
    assert_int_equal(p.first, 25);
    assert_int_equal(p.count, 0);
    p = page_of("k019", NULL, -1, 10, u, 25); /* a UID gone since: its place still counts (§2.4) */
    assert_int_equal(p.first, 10);
    p = page_of("a", NULL, -1, 3, u, 25); /* before every item */
    assert_int_equal(p.first, 0);
    assert_int_equal(p.count, 3);
    p = page_of("zzz", NULL, -1, 3, u, 25);
    assert_int_equal(p.first, 25);
    assert_int_equal(p.count, 0);

    p = page_of(NULL, "k020", -1, 4, u, 25); /* §2.3: the 4 items before item 10 */
    assert_int_equal(p.first, 6);
    assert_int_equal(p.count, 4);
    p = page_of(NULL, "k004", -1, 4, u, 25); /* only 2 before item 2 */
    assert_int_equal(p.first, 0);
    assert_int_equal(p.count, 2);
    p = page_of(NULL, "k021", -1, 4, u, 25); /* vanished UID between 10 and 11 */
    assert_int_equal(p.first, 7);
    assert_int_equal(p.count, 4);
    p = page_of(NULL, "", -1, 10, u, 25); /* §2.5: the last page */
    assert_int_equal(p.first, 15);
    assert_int_equal(p.count, 10);
    p = page_of(NULL, "", -1, 100, u, 25);
    assert_int_equal(p.first, 0);
    assert_int_equal(p.count, 25);

    p = page_of(NULL, NULL, 7, 10, u, 25); /* §2.6 */
    assert_int_equal(p.first, 7);
    assert_int_equal(p.count, 10);
    p = page_of(NULL, NULL, 25, 10, u, 25); /* past the end: an empty page */
    assert_int_equal(p.first, 25);
    assert_int_equal(p.count, 0);
    p = page_of(NULL, NULL, 1000000, 10, u, 25);
    assert_int_equal(p.count, 0);

    p = page_of(NULL, NULL, -1, 0, u, 25); /* §2.7: count only */
    assert_int_equal(p.count, 0);

    p = page_of("k004", "k014", -1, 10, u, 25); /* between items 2 and 7 */
    assert_int_equal(p.first, 3);
    assert_int_equal(p.count, 4);
    p = page_of("k014", "k004", -1, 10, u, 25); /* an empty range */
    assert_int_equal(p.count, 0);

    p = page_of(NULL, NULL, -1, 10, u, 0); /* an empty set */
    assert_int_equal(p.first, 0);
    assert_int_equal(p.count, 0);
    p = page_of(NULL, "", -1, 10, u, 0);
    assert_int_equal(p.count, 0);
    uids_free(u);
}

/* Paging through the whole set with <after/> (and back with <before/>)
 * returns every item exactly once, in order, for every page size. */
static void test_walk_every_page_size(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 40; n += 7) {
        char **u = uids_new(n);
        for (size_t limit = 1; limit <= n + 2; limit++) {
            size_t seen = 0;
            const char *after = NULL;
            for (int guard = 0; guard <= (int)n + 1; guard++) {
                vn_rsm_page_t p = page_of(after, NULL, -1, limit, u, n);
                if (!p.count) break;
                assert_int_equal(p.first, seen);
                seen += p.count;
                after = u[p.first + p.count - 1];
            }
            assert_int_equal(seen, n);
            size_t end = n;
            const char *before = "";
            for (int guard = 0; guard <= (int)n + 1; guard++) {
                vn_rsm_page_t p = page_of(NULL, before, -1, limit, u, n);
                if (!p.count) break;
                assert_int_equal(p.first + p.count, end);
                end = p.first;
                before = u[p.first];
            }
            assert_int_equal(end, 0);
        }
        uids_free(u);
    }
}

/* A locate function that cannot place an unknown UID: item-not-found. */
static int locate_known(const char *uid, void *ud, size_t *at, int *found)
{
    (void)ud;
    if (strcmp(uid, "known")) return -1;
    *at = 3;
    *found = 1;
    return 0;
}

static void test_select_unplaceable(void **state)
{
    (void)state;
    vn_rsm_page_t p;
    vn_rsm_req_t r = {1, 5, "known", NULL, -1};
    assert_int_equal(vn_rsm_select(&r, 10, 5, locate_known, NULL, &p), 0);
    assert_int_equal(p.first, 4);
    assert_int_equal(p.count, 5);
    r.after = "unknown";
    assert_int_equal(vn_rsm_select(&r, 10, 5, locate_known, NULL, &p), -1);
    r.after = NULL;
    r.before = "unknown";
    assert_int_equal(vn_rsm_select(&r, 10, 5, locate_known, NULL, &p), -1);
    r.before = ""; /* the last page needs no UID */
    assert_int_equal(vn_rsm_select(&r, 10, 5, locate_known, NULL, &p), 0);
    assert_int_equal(p.first, 5);
}

static void test_result(void **state)
{
    (void)state;
    vn_arena_t *a = vn_arena_new(1024);
    vn_xnode_t *q = vn_xnode_new(a, "http://jabber.org/protocol/disco#items", "query");
    vn_rsm_add_result(a, q, "n<1>", 10, "n&9", 800);
    vn_buf_t b = VN_BUF_INIT;
    vn_xnode_serialize(q, "jabber:client", &b);
    vn_buf_cstr(&b);
    assert_string_equal(b.data, "<query xmlns='http://jabber.org/protocol/disco#items'>"
                                "<set xmlns='http://jabber.org/protocol/rsm'>"
                                "<first index='10'>n&lt;1&gt;</first><last>n&amp;9</last>"
                                "<count>800</count></set></query>");
    vn_buf_free(&b);
    /* An empty page: only the count (§2.2). */
    q = vn_xnode_new(a, "http://jabber.org/protocol/disco#items", "query");
    vn_rsm_add_result(a, q, NULL, 0, NULL, 790);
    b = (vn_buf_t)VN_BUF_INIT;
    vn_xnode_serialize(q, "jabber:client", &b);
    vn_buf_cstr(&b);
    assert_string_equal(b.data, "<query xmlns='http://jabber.org/protocol/disco#items'>"
                                "<set xmlns='http://jabber.org/protocol/rsm'>"
                                "<count>790</count></set></query>");
    vn_buf_free(&b);
    vn_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_walk_every_page_size),
        cmocka_unit_test(test_select_unplaceable),
        cmocka_unit_test(test_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

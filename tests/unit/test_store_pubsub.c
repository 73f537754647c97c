/* Unit tests for the pubsub storage (src/store/store_pubsub.c): nodes,
 * items (order, replace, trim), affiliations, subscriptions, cascades on
 * account deletion and persistence across reopen. */
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

#include <cmocka.h>

#include "core/log.h"
#include "store/store.h"
#include "store/store_pubsub.h"
#include "store_fixture.h"

static int setup(void **state)
{
    static const char *const accounts[] = {"alice@example.org", "bob@example.org", NULL};
    return fx_setup(state, "vn-ps", accounts);
}

static int teardown(void **state)
{
    return fx_teardown(state);
}

typedef struct got {
    int n;
    char ids[16][32];
    char payloads[16][64];
} got_t;

static void collect(const vn_ps_item_t *it, void *ud)
{
    got_t *g = ud;
    if (g->n >= 16) return;
    snprintf(g->ids[g->n], sizeof(g->ids[0]), "%s", it->id);
    snprintf(g->payloads[g->n], sizeof(g->payloads[0]), "%.*s", (int)it->len, it->payload);
    g->n++;
}

static void put(vn_store_t *st, int64_t node, const char *id, const char *payload, int keep)
{
    vn_ps_item_t it = {id, "alice@example.org", payload, strlen(payload)};
    assert_int_equal(vn_store_ps_item_put(st, node, &it, keep, NULL), 0);
}

static void test_nodes(void **state)
{
    fx_t *fx = *state;
    int64_t id = 0, id2 = 0;
    char *cfg = NULL;
    assert_int_equal(vn_store_ps_node_get(fx->st, "alice@example.org", "n", &id, &cfg), 1);
    assert_null(cfg);
    assert_int_equal(
        vn_store_ps_node_create(fx->st, "alice@example.org", "n", "alice@example.org", "a=1", &id),
        0);
    assert_int_equal(
        vn_store_ps_node_create(fx->st, "alice@example.org", "n", "alice@example.org", "a=2", &id2),
        1);
    assert_int_equal(id, id2);
    assert_int_equal(vn_store_ps_node_get(fx->st, "alice@example.org", "n", &id2, &cfg), 0);
    assert_string_equal(cfg, "a=1");
    free(cfg);
    assert_int_equal(vn_store_ps_node_set_config(fx->st, id, "a=3"), 0);
    assert_int_equal(vn_store_ps_node_get(fx->st, "alice@example.org", "n", NULL, &cfg), 0);
    assert_string_equal(cfg, "a=3");
    free(cfg);
    /* Same node name on another service is another node. */
    assert_int_equal(
        vn_store_ps_node_create(fx->st, "bob@example.org", "n", "bob@example.org", "", &id2), 0);
    assert_true(id2 != id);
    int64_t count = 0;
    assert_int_equal(vn_store_ps_node_count(fx->st, "alice@example.org", &count), 0);
    assert_int_equal(count, 1);
    /* A PEP node needs its account. */
    assert_int_equal(
        vn_store_ps_node_create(fx->st, "nobody@example.org", "n", "nobody@example.org", "", &id2),
        -1);
    assert_int_equal(vn_store_ps_node_delete(fx->st, id), 0);
    assert_int_equal(vn_store_ps_node_delete(fx->st, id), 1);
}

static void test_items_order_and_trim(void **state)
{
    fx_t *fx = *state;
    int64_t id;
    assert_int_equal(vn_store_ps_node_create(fx->st, "pubsub.example.org", "chan", NULL, "", &id),
                     0);
    put(fx->st, id, "a", "<a/>", 0);
    put(fx->st, id, "b", "<b/>", 0);
    put(fx->st, id, "c", "<c/>", 0);
    got_t g = {0};
    assert_int_equal(vn_store_ps_items(fx->st, id, 0, collect, &g), 0);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.ids[0], "a");
    assert_string_equal(g.ids[2], "c");
    /* Republishing an id replaces it and makes it the newest. */
    put(fx->st, id, "a", "<a2/>", 0);
    memset(&g, 0, sizeof(g));
    assert_int_equal(vn_store_ps_items(fx->st, id, 2, collect, &g), 0);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.ids[0], "c");
    assert_string_equal(g.ids[1], "a");
    assert_string_equal(g.payloads[1], "<a2/>");
    /* keep = 2 drops the oldest. */
    int evicted = 0;
    vn_ps_item_t it = {"d", NULL, "<d/>", 4};
    assert_int_equal(vn_store_ps_item_put(fx->st, id, &it, 2, &evicted), 0);
    assert_int_equal(evicted, 2);
    int64_t count;
    assert_int_equal(vn_store_ps_item_count(fx->st, id, &count), 0);
    assert_int_equal(count, 2);
    memset(&g, 0, sizeof(g));
    assert_int_equal(vn_store_ps_item_get(fx->st, id, "a", collect, &g), 0);
    assert_string_equal(g.payloads[0], "<a2/>");
    assert_int_equal(vn_store_ps_item_get(fx->st, id, "b", collect, &g), 1);
    assert_int_equal(vn_store_ps_item_delete(fx->st, id, "a"), 0);
    assert_int_equal(vn_store_ps_item_delete(fx->st, id, "a"), 1);
    /* A lower max_items by configuration: trim keeps the newest. */
    put(fx->st, id, "e", "<e/>", 0);
    put(fx->st, id, "f", "<f/>", 0);
    assert_int_equal(vn_store_ps_items_trim(fx->st, id, 5), 0);
    assert_int_equal(vn_store_ps_item_count(fx->st, id, &count), 0);
    assert_int_equal(count, 3);
    assert_int_equal(vn_store_ps_items_trim(fx->st, id, 1), 0);
    assert_int_equal(vn_store_ps_item_count(fx->st, id, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(vn_store_ps_item_get(fx->st, id, "f", collect, &g), 0);
    assert_int_equal(vn_store_ps_item_get(fx->st, id, "e", collect, &g), 1);
    assert_int_equal(vn_store_ps_items_purge(fx->st, id), 0);
    assert_int_equal(vn_store_ps_item_count(fx->st, id, &count), 0);
    assert_int_equal(count, 0);
}

static void aff_cb(const char *jid, const char *aff, void *ud)
{
    char *out = ud;
    strcat(out, jid);
    strcat(out, "=");
    strcat(out, aff);
    strcat(out, ";");
}

static void sub_cb(const char *jid, const char *subid, const char *state, void *ud)
{
    (void)subid;
    char *out = ud;
    strcat(out, jid);
    strcat(out, "=");
    strcat(out, state);
    strcat(out, ";");
}

static void subs_of_cb(const char *node, const char *jid, const char *subid, const char *state,
                       void *ud)
{
    (void)jid, (void)subid, (void)state;
    strcat(ud, node);
    strcat(ud, ";");
}

static void test_affiliations_subscriptions(void **state)
{
    fx_t *fx = *state;
    int64_t id, id2;
    assert_int_equal(vn_store_ps_node_create(fx->st, "pubsub.example.org", "chan", NULL, "", &id),
                     0);
    assert_int_equal(vn_store_ps_node_create(fx->st, "pubsub.example.org", "other", NULL, "", &id2),
                     0);
    assert_int_equal(vn_store_ps_aff_set(fx->st, id, "alice@example.org", "owner"), 0);
    assert_int_equal(vn_store_ps_aff_set(fx->st, id, "bob@example.org", "publisher"), 0);
    char aff[16];
    assert_int_equal(vn_store_ps_aff_get(fx->st, id, "bob@example.org", aff, sizeof(aff)), 0);
    assert_string_equal(aff, "publisher");
    assert_int_equal(vn_store_ps_aff_set(fx->st, id, "bob@example.org", "none"), 0);
    assert_int_equal(vn_store_ps_aff_get(fx->st, id, "bob@example.org", aff, sizeof(aff)), 1);
    assert_int_equal(vn_store_ps_aff_set(fx->st, id, "bob@example.org", "member"), 0);
    char out[512] = "";
    assert_int_equal(vn_store_ps_aff_list(fx->st, id, aff_cb, out), 0);
    assert_string_equal(out, "alice@example.org=owner;bob@example.org=member;");

    assert_int_equal(vn_store_ps_sub_set(fx->st, id, "bob@example.org/phone", "s1", "subscribed"),
                     0);
    assert_int_equal(vn_store_ps_sub_set(fx->st, id2, "bob@example.org", "s2", "subscribed"), 0);
    assert_int_equal(vn_store_ps_sub_set(fx->st, id, "bobby@example.org", "s3", "subscribed"), 0);
    char subid[48], st[16];
    assert_int_equal(vn_store_ps_sub_get(fx->st, id, "bob@example.org/phone", subid, sizeof(subid),
                                         st, sizeof(st)),
                     0);
    assert_string_equal(subid, "s1");
    out[0] = '\0';
    assert_int_equal(vn_store_ps_sub_list(fx->st, id, sub_cb, out), 0);
    assert_string_equal(out, "bob@example.org/phone=subscribed;bobby@example.org=subscribed;");
    /* Bare JID finds its full JIDs, not another account with a longer name. */
    out[0] = '\0';
    assert_int_equal(
        vn_store_ps_subs_of(fx->st, "pubsub.example.org", "bob@example.org", subs_of_cb, out), 0);
    assert_string_equal(out, "chan;other;");
    /* Deleting bob's account removes his service affiliations and
     * subscriptions; the nodes stay. */
    assert_int_equal(vn_store_account_delete(fx->st, "bob@example.org"), 0);
    out[0] = '\0';
    assert_int_equal(vn_store_ps_sub_list(fx->st, id, sub_cb, out), 0);
    assert_string_equal(out, "bobby@example.org=subscribed;");
    out[0] = '\0';
    assert_int_equal(vn_store_ps_aff_list(fx->st, id, aff_cb, out), 0);
    assert_string_equal(out, "alice@example.org=owner;");
    assert_int_equal(vn_store_ps_node_get(fx->st, "pubsub.example.org", "chan", NULL, NULL), 0);
    assert_int_equal(vn_store_ps_sub_set(fx->st, id, "bobby@example.org", NULL, NULL), 0);
    assert_int_equal(
        vn_store_ps_sub_get(fx->st, id, "bobby@example.org", subid, sizeof(subid), st, sizeof(st)),
        1);
}

static void test_account_delete_and_reopen(void **state)
{
    fx_t *fx = *state;
    int64_t id, id2;
    assert_int_equal(
        vn_store_ps_node_create(fx->st, "alice@example.org", "urn:x", "alice@example.org", "", &id),
        0);
    put(fx->st, id, "1", "<x xmlns='urn:x'>привет</x>", 0);
    assert_int_equal(
        vn_store_ps_node_create(fx->st, "bob@example.org", "urn:x", "bob@example.org", "", &id2),
        0);
    put(fx->st, id2, "1", "<x/>", 0);
    vn_store_close(fx->st);
    fx->st = fx_open(fx);
    got_t g = {0};
    assert_int_equal(vn_store_ps_items(fx->st, id, 0, collect, &g), 0);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.payloads[0], "<x xmlns='urn:x'>привет</x>");
    /* An account's PEP nodes and items go with it. */
    assert_int_equal(vn_store_account_delete(fx->st, "alice@example.org"), 0);
    assert_int_equal(vn_store_ps_node_get(fx->st, "alice@example.org", "urn:x", NULL, NULL), 1);
    int64_t count = -1;
    assert_int_equal(vn_store_ps_item_count(fx->st, id, &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(vn_store_ps_node_get(fx->st, "bob@example.org", "urn:x", NULL, NULL), 0);
}

typedef struct listed {
    int n;
    char nodes[8][16];
    char affs[8][16];
} listed_t;

static void list_cb(int64_t id, const char *node, const char *config, const char *aff, void *ud)
{
    (void)id, (void)config;
    listed_t *l = ud;
    if (l->n >= 8) return;
    snprintf(l->nodes[l->n], sizeof(l->nodes[0]), "%s", node);
    snprintf(l->affs[l->n], sizeof(l->affs[0]), "%s", aff ? aff : "-");
    l->n++;
}

/* Service nodes counted by creator (the per-account node limit), and the
 * node list with the requester's affiliation joined in (disco#items). */
static void test_creator_count_and_list(void **state)
{
    fx_t *fx = *state;
    const char *svc = "pubsub.example.org";
    int64_t id[4], count = -1;
    assert_int_equal(
        vn_store_ps_node_create_by(fx->st, svc, "c", NULL, "alice@example.org", "", &id[0]), 0);
    assert_int_equal(
        vn_store_ps_node_create_by(fx->st, svc, "a", NULL, "alice@example.org", "", &id[1]), 0);
    assert_int_equal(
        vn_store_ps_node_create_by(fx->st, svc, "b", NULL, "bob@example.org", "", &id[2]), 0);
    assert_int_equal(vn_store_ps_node_create(fx->st, svc, "d", NULL, "", &id[3]), 0);
    assert_int_equal(vn_store_ps_node_count_by(fx->st, svc, "alice@example.org", &count), 0);
    assert_int_equal(count, 2);
    assert_int_equal(
        vn_store_ps_node_count_by(fx->st, "other.example.org", "alice@example.org", &count), 0);
    assert_int_equal(count, 0);
    /* Owning a node is not having created it. */
    assert_int_equal(vn_store_ps_aff_set(fx->st, id[2], "alice@example.org", "owner"), 0);
    assert_int_equal(vn_store_ps_node_count_by(fx->st, svc, "alice@example.org", &count), 0);
    assert_int_equal(count, 2);
    assert_int_equal(vn_store_ps_aff_set(fx->st, id[3], "alice@example.org", "outcast"), 0);

    listed_t l = {0};
    assert_int_equal(vn_store_ps_node_list_aff(fx->st, svc, "alice@example.org", list_cb, &l), 0);
    assert_int_equal(l.n, 4);
    const char *want_nodes[] = {"a", "b", "c", "d"}, *want_affs[] = {"-", "owner", "-", "outcast"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(l.nodes[i], want_nodes[i]);
        assert_string_equal(l.affs[i], want_affs[i]);
    }
    l.n = 0;
    assert_int_equal(vn_store_ps_node_list_aff(fx->st, svc, NULL, list_cb, &l), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.affs[1], "-");

    /* A deleted node no longer counts; a deleted account's nodes stay but
     * no longer count against its JID. */
    assert_int_equal(vn_store_ps_node_delete(fx->st, id[0]), 0);
    assert_int_equal(vn_store_ps_node_count_by(fx->st, svc, "alice@example.org", &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(vn_store_account_delete(fx->st, "alice@example.org"), 0);
    assert_int_equal(vn_store_ps_node_get(fx->st, svc, "a", NULL, NULL), 0);
    assert_int_equal(vn_store_ps_node_count_by(fx->st, svc, "alice@example.org", &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(vn_store_ps_node_count_by(fx->st, svc, "bob@example.org", &count), 0);
    assert_int_equal(count, 1);
}

int main(void)
{
    vn_log_set_level(VN_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_items_order_and_trim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_affiliations_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_delete_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_creator_count_and_list, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

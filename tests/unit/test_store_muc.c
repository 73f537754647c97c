/* Unit tests for the MUC storage (src/store/store_muc.c): rooms,
 * affiliations (and their cleanup with rooms and accounts), room archives
 * with the user archive's paging. */
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

#include "store/store.h"
#include "store/store_muc.h"
#include "store_fixture.h"

static int setup(void **state)
{
    return fx_setup(state, "vn-muc", NULL);
}

static int teardown(void **state)
{
    return fx_teardown(state);
}

typedef struct {
    char config[256], subject[256], name[64];
    int is_public, nrooms;
    char affs[8][128];
    int naffs;
} loaded_t;

static void on_room(const vn_muc_room_row_t *row, void *ud)
{
    loaded_t *l = ud;
    l->nrooms++;
    snprintf(l->config, sizeof(l->config), "%s", row->config);
    snprintf(l->subject, sizeof(l->subject), "%s|%s", row->subject, row->subject_by);
    snprintf(l->name, sizeof(l->name), "%s", row->name);
    l->is_public = row->is_public;
}

static void on_aff(const char *jid, const char *aff, const char *reason, void *ud)
{
    loaded_t *l = ud;
    if (l->naffs < 8) snprintf(l->affs[l->naffs++], 128, "%s=%s:%s", jid, aff, reason);
}

static void put_room(vn_store_t *st, const char *jid, int is_public, const char *subject)
{
    vn_muc_room_row_t row = {jid, "Room", is_public, "persistent=1\n", subject, "r@c/nick"};
    assert_int_equal(vn_store_muc_room_put(st, "conference.example", &row), 0);
}

static void test_room_roundtrip(void **state)
{
    fx_t *fx = *state;
    loaded_t l = {0};
    assert_int_equal(vn_store_muc_room_load(fx->st, "r@conference.example", on_room, on_aff, &l),
                     1);
    put_room(fx->st, "r@conference.example", 1, "Привет");
    assert_int_equal(vn_store_muc_aff_set(fx->st, "r@conference.example", "a@example", "owner", ""),
                     0);
    assert_int_equal(
        vn_store_muc_aff_set(fx->st, "r@conference.example", "b@remote", "outcast", "spam"), 0);
    /* replaced, then removed */
    assert_int_equal(vn_store_muc_aff_set(fx->st, "r@conference.example", "c@x", "member", ""), 0);
    assert_int_equal(vn_store_muc_aff_set(fx->st, "r@conference.example", "c@x", "admin", ""), 0);
    assert_int_equal(vn_store_muc_aff_set(fx->st, "r@conference.example", "d@x", "member", ""), 0);
    assert_int_equal(vn_store_muc_aff_set(fx->st, "r@conference.example", "d@x", "none", ""), 0);
    int owned = -1;
    assert_int_equal(vn_store_muc_owned_count(fx->st, "a@example", &owned), 0);
    assert_int_equal(owned, 1);
    assert_int_equal(vn_store_muc_owned_count(fx->st, "c@x", &owned), 0);
    assert_int_equal(owned, 0);
    /* a bad affiliation and an unknown room fail */
    assert_int_equal(vn_store_muc_aff_set(fx->st, "r@conference.example", "e@x", "king", ""), -1);
    assert_int_equal(vn_store_muc_aff_set(fx->st, "nope@conference.example", "e@x", "member", ""),
                     -1);
    fx_reopen(fx);
    assert_int_equal(vn_store_muc_room_load(fx->st, "r@conference.example", on_room, on_aff, &l),
                     0);
    assert_int_equal(l.nrooms, 1);
    assert_string_equal(l.config, "persistent=1\n");
    assert_string_equal(l.subject, "Привет|r@c/nick");
    assert_string_equal(l.name, "Room");
    assert_int_equal(l.naffs, 3);
    assert_string_equal(l.affs[0], "a@example=owner:");
    assert_string_equal(l.affs[1], "b@remote=outcast:spam");
    assert_string_equal(l.affs[2], "c@x=admin:");
    /* put again keeps affiliations */
    put_room(fx->st, "r@conference.example", 0, "");
    memset(&l, 0, sizeof(l));
    assert_int_equal(vn_store_muc_room_load(fx->st, "r@conference.example", on_room, on_aff, &l),
                     0);
    assert_int_equal(l.naffs, 3);
    assert_int_equal(l.is_public, 0);
}

static void on_nick(const char *jid, const char *nick, void *ud)
{
    loaded_t *l = ud;
    if (l->naffs < 8) snprintf(l->affs[l->naffs++], 128, "%s=%s", jid, nick);
}

/* XEP-0045 §7.10: a reserved nick lives on its JID's affiliation row, is
 * unique in a room, and goes with the affiliation (none, outcast). */
static void test_reserved_nicks(void **state)
{
    fx_t *fx = *state;
    const char *r = "r@conference.example";
    put_room(fx->st, r, 1, "");
    /* no affiliation, nothing to put it on */
    assert_int_equal(vn_store_muc_nick_set(fx->st, r, "a@x", "Ann"), 1);
    assert_int_equal(vn_store_muc_aff_set(fx->st, r, "a@x", "member", ""), 0);
    assert_int_equal(vn_store_muc_aff_set(fx->st, r, "b@x", "admin", ""), 0);
    assert_int_equal(vn_store_muc_aff_set(fx->st, r, "c@x", "member", ""), 0);
    assert_int_equal(vn_store_muc_nick_set(fx->st, r, "a@x", "Ann"), 0);
    assert_int_equal(vn_store_muc_nick_set(fx->st, r, "b@x", "Бор"), 0);
    assert_int_equal(vn_store_muc_nick_set(fx->st, r, "c@x", "Ann"), -1); /* taken */
    /* the same nick in another room is another reservation */
    put_room(fx->st, "s@conference.example", 1, "");
    assert_int_equal(vn_store_muc_aff_set(fx->st, "s@conference.example", "c@x", "member", ""), 0);
    assert_int_equal(vn_store_muc_nick_set(fx->st, "s@conference.example", "c@x", "Ann"), 0);
    /* an affiliation change keeps the nick, except to outcast */
    assert_int_equal(vn_store_muc_aff_set(fx->st, r, "a@x", "admin", ""), 0);
    fx_reopen(fx);
    loaded_t l = {0};
    assert_int_equal(vn_store_muc_nicks(fx->st, r, on_nick, &l), 0);
    assert_int_equal(l.naffs, 2);
    assert_string_equal(l.affs[0], "a@x=Ann");
    assert_string_equal(l.affs[1], "b@x=Бор");
    assert_int_equal(vn_store_muc_aff_set(fx->st, r, "a@x", "outcast", "bye"), 0);
    assert_int_equal(vn_store_muc_aff_set(fx->st, r, "b@x", "none", ""), 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(vn_store_muc_nicks(fx->st, r, on_nick, &l), 0);
    assert_int_equal(l.naffs, 0);
    /* freed: another member may take it; "" gives it up */
    assert_int_equal(vn_store_muc_nick_set(fx->st, r, "c@x", "Ann"), 0);
    assert_int_equal(vn_store_muc_nick_set(fx->st, r, "c@x", ""), 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(vn_store_muc_nicks(fx->st, r, on_nick, &l), 0);
    assert_int_equal(l.naffs, 0);
    /* deleting the room deletes its reservations */
    assert_int_equal(vn_store_muc_room_delete(fx->st, "s@conference.example"), 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(vn_store_muc_nicks(fx->st, "s@conference.example", on_nick, &l), 0);
    assert_int_equal(l.naffs, 0);
}

static void count_room(const vn_muc_room_row_t *row, void *ud)
{
    (void)row;
    (*(int *)ud)++;
}

static void count_item(const vn_archive_item_t *it, void *ud)
{
    (void)it;
    (*(int *)ud)++;
}

static void test_room_list_and_delete(void **state)
{
    fx_t *fx = *state;
    put_room(fx->st, "a@conference.example", 1, "");
    put_room(fx->st, "b@conference.example", 0, "");
    put_room(fx->st, "c@conference.example", 1, "");
    int n = 0;
    assert_int_equal(vn_store_muc_room_list(fx->st, "conference.example", 1, 0, count_room, &n), 0);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(vn_store_muc_room_list(fx->st, "conference.example", 0, 0, count_room, &n), 0);
    assert_int_equal(n, 3);
    n = 0;
    assert_int_equal(vn_store_muc_room_list(fx->st, "conference.example", 0, 2, count_room, &n), 0);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(vn_store_muc_room_list(fx->st, "other.example", 0, 0, count_room, &n), 0);
    assert_int_equal(n, 0);

    assert_int_equal(vn_store_muc_aff_set(fx->st, "a@conference.example", "x@y", "member", ""), 0);
    assert_int_equal(vn_store_muc_archive_append(fx->st, "a@conference.example", "id1", 1, "x@y",
                                                 "<message/>", 10),
                     0);
    assert_int_equal(vn_store_muc_room_delete(fx->st, "a@conference.example"), 0);
    assert_int_equal(vn_store_muc_room_delete(fx->st, "a@conference.example"), 1);
    /* affiliations and archive went with the room: a re-created room is empty */
    put_room(fx->st, "a@conference.example", 1, "");
    loaded_t l = {0};
    assert_int_equal(vn_store_muc_room_load(fx->st, "a@conference.example", on_room, on_aff, &l),
                     0);
    assert_int_equal(l.naffs, 0);
    vn_archive_query_t q = {.max = 10};
    vn_archive_page_t page;
    int items = 0;
    assert_int_equal(
        vn_store_muc_archive_query(fx->st, "a@conference.example", &q, count_item, &items, &page),
        0);
    assert_int_equal(items, 0);
    assert_int_equal(page.total, 0);
}

static void test_account_deletion_drops_affiliations(void **state)
{
    fx_t *fx = *state;
    fx_add_account(fx->st, "alice@example");
    put_room(fx->st, "r@conference.example", 1, "");
    assert_int_equal(
        vn_store_muc_aff_set(fx->st, "r@conference.example", "alice@example", "owner", ""), 0);
    assert_int_equal(
        vn_store_muc_aff_set(fx->st, "r@conference.example", "bob@remote", "member", ""), 0);
    assert_int_equal(vn_store_account_delete(fx->st, "alice@example"), 0);
    loaded_t l = {0};
    assert_int_equal(vn_store_muc_room_load(fx->st, "r@conference.example", on_room, on_aff, &l),
                     0);
    assert_int_equal(l.naffs, 1);
    assert_string_equal(l.affs[0], "bob@remote=member:");
}

typedef struct {
    char ids[16][16];
    int n;
} page_t;

static void on_item(const vn_archive_item_t *it, void *ud)
{
    page_t *p = ud;
    if (p->n < 16) snprintf(p->ids[p->n++], 16, "%s", it->id);
}

static void test_room_archive_paging(void **state)
{
    fx_t *fx = *state;
    put_room(fx->st, "r@conference.example", 1, "");
    put_room(fx->st, "s@conference.example", 1, "");
    char id[16], xml[64];
    for (int i = 1; i <= 25; i++) {
        snprintf(id, sizeof(id), "m%02d", i);
        int n = snprintf(xml, sizeof(xml), "<message><body>%d</body></message>", i);
        assert_int_equal(vn_store_muc_archive_append(fx->st, "r@conference.example", id, i * 1000,
                                                     i % 2 ? "odd@x" : "even@x", xml, (size_t)n),
                         0);
    }
    /* another room's archive is separate, and an unknown room cannot archive */
    assert_int_equal(vn_store_muc_archive_append(fx->st, "s@conference.example", "m01", 1, "a@x",
                                                 "<message/>", 10),
                     0);
    assert_int_equal(vn_store_muc_archive_append(fx->st, "t@conference.example", "m01", 1, "a@x",
                                                 "<message/>", 10),
                     -1);
    vn_archive_query_t q = {.max = 10};
    vn_archive_page_t pg;
    page_t p = {0};
    assert_int_equal(
        vn_store_muc_archive_query(fx->st, "r@conference.example", &q, on_item, &p, &pg), 0);
    assert_int_equal(pg.total, 25);
    assert_int_equal(p.n, 10);
    assert_int_equal(pg.complete, 0);
    assert_string_equal(p.ids[0], "m01");
    assert_string_equal(p.ids[9], "m10");
    /* the next page after m10 */
    q.after_id = "m10";
    memset(&p, 0, sizeof(p));
    assert_int_equal(
        vn_store_muc_archive_query(fx->st, "r@conference.example", &q, on_item, &p, &pg), 0);
    assert_string_equal(p.ids[0], "m11");
    /* the last page, as history on join reads it */
    memset(&q, 0, sizeof(q));
    q.max = 3;
    q.last_page = 1;
    memset(&p, 0, sizeof(p));
    assert_int_equal(
        vn_store_muc_archive_query(fx->st, "r@conference.example", &q, on_item, &p, &pg), 0);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.ids[0], "m23");
    assert_string_equal(p.ids[2], "m25");
    /* with filter and an unknown id */
    memset(&q, 0, sizeof(q));
    q.max = 20;
    q.with = "even@x";
    memset(&p, 0, sizeof(p));
    assert_int_equal(
        vn_store_muc_archive_query(fx->st, "r@conference.example", &q, on_item, &p, &pg), 0);
    assert_int_equal(pg.total, 12);
    assert_string_equal(p.ids[0], "m02");
    q.after_id = "nope";
    assert_int_equal(
        vn_store_muc_archive_query(fx->st, "r@conference.example", &q, on_item, &p, &pg), 0);
    assert_int_equal(pg.after_not_found, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_room_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_room_list_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_deletion_drops_affiliations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_room_archive_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved_nicks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

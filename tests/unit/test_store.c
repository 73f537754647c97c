/* Unit tests for the SQLite store (src/store/store_sqlite.c).
 *
 * Each test gets a fresh directory from mkdtemp and removes it afterwards.
 * The durability tests fork a child that writes and is killed with SIGKILL,
 * then check from the parent that every write the child saw succeed is in
 * the database. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/log.h"
#include "store/store.h"

/* ------------------------------------------------------------------------ */
/* Fixture                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct {
    char tmp[64];  /* mkdtemp directory */
    char dir[128]; /* data_dir passed to the store: tmp/data (created by open) */
    vn_store_t *st;
} fx_t;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    if (!fx) return -1;
    snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/vn-store-XXXXXX");
    if (!mkdtemp(fx->tmp)) {
        free(fx);
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "%s/data", fx->tmp);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    vn_store_close(fx->st);
    nftw(fx->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

static vn_store_t *open_ok(fx_t *fx)
{
    char *err = NULL;
    vn_store_t *st = vn_store_open(fx->dir, &err);
    if (!st) fprintf(stderr, "open failed: %s\n", err ? err : "(no message)");
    assert_non_null(st);
    assert_null(err);
    return st;
}

/* Opens the database file directly, bypassing the store. */
static sqlite3 *raw_open(fx_t *fx)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/vestnik.db", fx->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static int64_t raw_count(fx_t *fx, const char *sql)
{
    sqlite3 *db = raw_open(fx);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static void make_account(vn_account_t *a, const char *jid, uint8_t seed)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->jid, sizeof(a->jid), "%s", jid);
    for (int h = 0; h < VN_SCRAM_NHASH; h++) {
        vn_scram_creds_t *c = &a->scram[h];
        c->salt_len = VN_SCRAM_SALT_LEN;
        for (size_t i = 0; i < c->salt_len; i++)
            c->salt[i] = (uint8_t)(seed + h + i);
        c->iterations = 4096u + (uint32_t)seed;
        size_t klen = h == VN_SCRAM_SHA1 ? 20 : 32;
        for (size_t i = 0; i < klen; i++) {
            c->stored_key[i] = (uint8_t)(seed * 3 + i);
            c->server_key[i] = (uint8_t)(seed * 7 + i);
        }
    }
}

static void add_account(vn_store_t *st, const char *jid)
{
    vn_account_t a;
    make_account(&a, jid, 1);
    assert_int_equal(vn_store_account_create(st, &a), 0);
}

/* ------------------------------------------------------------------------ */
/* Open, schema, migrations                                                   */
/* ------------------------------------------------------------------------ */

static void test_open_creates_private_files(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    assert_int_equal(vn_store_schema_version(fx->st), 1);

    struct stat sb;
    assert_int_equal(stat(fx->dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);

    char path[256];
    snprintf(path, sizeof(path), "%s/vestnik.db", fx->dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* WAL is persistent in the file header: check it from a second handle. */
    sqlite3 *db = raw_open(fx);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);

    assert_int_equal(vn_store_set_synchronous_full(fx->st, 1), 0);
    assert_int_equal(vn_store_set_synchronous_full(fx->st, 0), 0);
}

static void test_open_twice_is_idempotent(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    add_account(fx->st, "alice@example.org");
    int64_t id;
    assert_int_equal(vn_store_offline_push(fx->st, "alice@example.org", "<m/>", 4, &id), 0);
    vn_store_close(fx->st);

    fx->st = open_ok(fx);
    assert_int_equal(vn_store_schema_version(fx->st), 1);
    vn_account_t a;
    assert_int_equal(vn_store_account_get(fx->st, "alice@example.org", &a), 0);
    int64_t n = -1;
    assert_int_equal(vn_store_offline_count(fx->st, "alice@example.org", &n), 0);
    assert_int_equal(n, 1);

    /* A second connection at the same time (vestnikctl next to vestnikd). */
    char *err = NULL;
    vn_store_t *st2 = vn_store_open(fx->dir, &err);
    assert_non_null(st2);
    assert_int_equal(vn_store_account_get(st2, "alice@example.org", &a), 0);
    vn_store_close(st2);
}

static void test_refuses_future_schema(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_close(fx->st);
    fx->st = NULL;

    sqlite3 *db = raw_open(fx);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    char *err = NULL;
    assert_null(vn_store_open(fx->dir, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "99"));
    free(err);
}

static void test_open_errors(void **state)
{
    fx_t *fx = *state;
    char *err = NULL;

    /* data_dir exists but is a regular file */
    char file[256];
    snprintf(file, sizeof(file), "%s/file", fx->tmp);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_null(vn_store_open(file, &err));
    assert_non_null(err);
    free(err);
    err = NULL;

    /* parent of data_dir missing: not created recursively */
    char deep[256];
    snprintf(deep, sizeof(deep), "%s/no/such/dir", fx->tmp);
    assert_null(vn_store_open(deep, &err));
    assert_non_null(err);
    free(err);
    err = NULL;

    /* vestnik.db that is not a database */
    assert_int_equal(mkdir(fx->dir, 0700), 0);
    char db[256];
    snprintf(db, sizeof(db), "%s/vestnik.db", fx->dir);
    f = fopen(db, "w");
    assert_non_null(f);
    for (int i = 0; i < 256; i++)
        fputs("not a database ", f);
    fclose(f);
    assert_null(vn_store_open(fx->dir, &err));
    assert_non_null(err);
    free(err);
}

/* ------------------------------------------------------------------------ */
/* Accounts                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    char jids[16][128];
    int n;
} jid_list_t;

static void collect_jid(const char *jid, void *ud)
{
    jid_list_t *l = ud;
    if (l->n < 16) snprintf(l->jids[l->n++], sizeof(l->jids[0]), "%s", jid);
}

static void test_account_crud(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;

    vn_account_t a, got;
    make_account(&a, "alice@example.org", 5);
    assert_int_equal(vn_store_account_get(st, "alice@example.org", &got), 1);
    assert_int_equal(vn_store_account_create(st, &a), 0);
    assert_int_equal(vn_store_account_create(st, &a), 1); /* duplicate */

    assert_int_equal(vn_store_account_get(st, "alice@example.org", &got), 0);
    assert_string_equal(got.jid, "alice@example.org");
    for (int h = 0; h < VN_SCRAM_NHASH; h++) {
        size_t klen = h == VN_SCRAM_SHA1 ? 20 : 32;
        assert_int_equal(got.scram[h].salt_len, a.scram[h].salt_len);
        assert_memory_equal(got.scram[h].salt, a.scram[h].salt, a.scram[h].salt_len);
        assert_int_equal(got.scram[h].iterations, a.scram[h].iterations);
        assert_memory_equal(got.scram[h].stored_key, a.scram[h].stored_key, klen);
        assert_memory_equal(got.scram[h].server_key, a.scram[h].server_key, klen);
    }

    /* set_creds replaces; an account with only SHA-256 keeps SHA-1 empty */
    vn_account_t b;
    make_account(&b, "alice@example.org", 9);
    memset(&b.scram[VN_SCRAM_SHA1], 0, sizeof(b.scram[VN_SCRAM_SHA1]));
    b.scram[VN_SCRAM_SHA256].iterations = UINT32_MAX; /* full range survives */
    assert_int_equal(vn_store_account_set_creds(st, &b), 0);
    assert_int_equal(vn_store_account_get(st, "alice@example.org", &got), 0);
    assert_int_equal(got.scram[VN_SCRAM_SHA1].iterations, 0);
    assert_int_equal(got.scram[VN_SCRAM_SHA1].salt_len, 0);
    assert_int_equal(got.scram[VN_SCRAM_SHA256].iterations, UINT32_MAX);
    assert_memory_equal(got.scram[VN_SCRAM_SHA256].stored_key, b.scram[VN_SCRAM_SHA256].stored_key,
                        32);

    vn_account_t nobody;
    make_account(&nobody, "nobody@example.org", 1);
    assert_int_equal(vn_store_account_set_creds(st, &nobody), 1);

    /* an oversized salt is a caller bug, not silently truncated */
    vn_account_t bad;
    make_account(&bad, "bad@example.org", 1);
    bad.scram[0].salt_len = sizeof(bad.scram[0].salt) + 1;
    assert_int_equal(vn_store_account_create(st, &bad), -1);
    assert_int_equal(vn_store_account_get(st, "bad@example.org", &got), 1);

    assert_int_equal(vn_store_account_delete(st, "alice@example.org"), 0);
    assert_int_equal(vn_store_account_delete(st, "alice@example.org"), 1);
    assert_int_equal(vn_store_account_get(st, "alice@example.org", &got), 1);
}

static void test_account_list(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    const char *jids[] = {"zed@example.org", "bob@example.org", "алиса@пример.рф",
                          "carol@other.net", "amy@example.org", "eve@sub.example.org",
                          "борис@пример.рф"};
    for (size_t i = 0; i < sizeof(jids) / sizeof(jids[0]); i++)
        add_account(st, jids[i]);

    jid_list_t l = {0};
    assert_int_equal(vn_store_account_list(st, NULL, collect_jid, &l), 0);
    assert_int_equal(l.n, 7);
    /* byte order of UTF-8 = code point order: Latin before Cyrillic */
    const char *want_all[] = {"amy@example.org",     "bob@example.org", "carol@other.net",
                              "eve@sub.example.org", "zed@example.org", "алиса@пример.рф",
                              "борис@пример.рф"};
    for (int i = 0; i < 7; i++)
        assert_string_equal(l.jids[i], want_all[i]);

    memset(&l, 0, sizeof(l));
    assert_int_equal(vn_store_account_list(st, "example.org", collect_jid, &l), 0);
    assert_int_equal(l.n, 3); /* not sub.example.org */
    assert_string_equal(l.jids[0], "amy@example.org");
    assert_string_equal(l.jids[1], "bob@example.org");
    assert_string_equal(l.jids[2], "zed@example.org");

    memset(&l, 0, sizeof(l));
    assert_int_equal(vn_store_account_list(st, "пример.рф", collect_jid, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.jids[0], "алиса@пример.рф");
    assert_string_equal(l.jids[1], "борис@пример.рф");

    /* LIKE wildcards in the filter are plain characters */
    memset(&l, 0, sizeof(l));
    assert_int_equal(vn_store_account_list(st, "%", collect_jid, &l), 0);
    assert_int_equal(l.n, 0);
}

static vn_store_t *g_reenter_st;
static int g_reenter_rc;

static void reenter_cb(const char *jid, void *ud)
{
    (void)ud;
    vn_account_t a;
    g_reenter_rc = vn_store_account_get(g_reenter_st, jid, &a);
}

static void test_callback_reentry_refused(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    add_account(fx->st, "alice@example.org");
    g_reenter_st = fx->st;
    g_reenter_rc = 99;
    assert_int_equal(vn_store_account_list(fx->st, NULL, reenter_cb, NULL), 0);
    assert_int_equal(g_reenter_rc, -1);
    /* and the store is usable afterwards */
    vn_account_t a;
    assert_int_equal(vn_store_account_get(fx->st, "alice@example.org", &a), 0);
}

/* ------------------------------------------------------------------------ */
/* Roster                                                                     */
/* ------------------------------------------------------------------------ */

#define OWNER "alice@example.org"

typedef struct {
    int n;
    vn_roster_item_t items[8]; /* deep copies */
} roster_list_t;

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void collect_item(const vn_roster_item_t *it, void *ud)
{
    roster_list_t *l = ud;
    assert_true(l->n < 8);
    vn_roster_item_t *c = &l->items[l->n++];
    *c = *it;
    c->contact = strdup(it->contact);
    c->name = dup_or_null(it->name);
    c->pending_stanza = dup_or_null(it->pending_stanza);
    assert_non_null(it->groups); /* always an array, possibly empty */
    int ng = 0;
    while (it->groups[ng])
        ng++;
    c->groups = calloc((size_t)ng + 1, sizeof(char *));
    for (int i = 0; i < ng; i++)
        c->groups[i] = strdup(it->groups[i]);
}

static void roster_list_free(roster_list_t *l)
{
    for (int i = 0; i < l->n; i++)
        vn_roster_item_free_fields(&l->items[i]);
    l->n = 0;
}

static int ngroups(char **g)
{
    int n = 0;
    while (g && g[n])
        n++;
    return n;
}

static void test_roster_put_get_load_delete(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, OWNER);

    uint64_t ver = 99;
    roster_list_t l = {0};
    assert_int_equal(vn_store_roster_load(st, OWNER, &ver, collect_item, &l), 0);
    assert_int_equal(ver, 0);
    assert_int_equal(l.n, 0);

    /* Cyrillic, an empty group name, and a newline inside a name all
     * round-trip, in the given order. */
    char *groups1[] = {"Друзья", "", "Work\nteam", NULL};
    vn_roster_item_t it = {
        .contact = "борис@пример.рф",
        .name = "Борис",
        .subscription = VN_SUB_BOTH,
        .approved = 1,
        .in_roster = 1,
        .groups = groups1,
    };
    assert_int_equal(vn_store_roster_put(st, OWNER, &it, &ver), 0);
    assert_int_equal(ver, 1);

    /* no groups, no name */
    vn_roster_item_t it2 = {
        .contact = "bob@example.org",
        .subscription = VN_SUB_TO,
        .ask_out = 7, /* any non-zero value is stored as 1 */
        .in_roster = 1,
    };
    assert_int_equal(vn_store_roster_put(st, OWNER, &it2, &ver), 0);
    assert_int_equal(ver, 2);

    vn_roster_item_t got;
    assert_int_equal(vn_store_roster_get(st, OWNER, "борис@пример.рф", &got), 0);
    assert_string_equal(got.contact, "борис@пример.рф");
    assert_string_equal(got.name, "Борис");
    assert_int_equal(got.subscription, VN_SUB_BOTH);
    assert_int_equal(got.approved, 1);
    assert_int_equal(got.ask_out, 0);
    assert_int_equal(got.pending_in, 0);
    assert_int_equal(got.in_roster, 1);
    assert_null(got.pending_stanza);
    assert_int_equal(ngroups(got.groups), 3);
    assert_string_equal(got.groups[0], "Друзья");
    assert_string_equal(got.groups[1], "");
    assert_string_equal(got.groups[2], "Work\nteam");
    vn_roster_item_free_fields(&got);
    assert_null(got.contact);

    assert_int_equal(vn_store_roster_get(st, OWNER, "bob@example.org", &got), 0);
    assert_null(got.name);
    assert_int_equal(got.ask_out, 1);
    assert_non_null(got.groups);
    assert_int_equal(ngroups(got.groups), 0);
    vn_roster_item_free_fields(&got);

    assert_int_equal(vn_store_roster_get(st, OWNER, "nobody@example.org", &got), 1);
    assert_int_equal(vn_store_roster_get(st, "other@example.org", "bob@example.org", &got), 1);

    assert_int_equal(vn_store_roster_load(st, OWNER, &ver, collect_item, &l), 0);
    assert_int_equal(ver, 2);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].contact, "bob@example.org"); /* sorted by contact */
    assert_int_equal(ngroups(l.items[0].groups), 0);
    assert_string_equal(l.items[1].contact, "борис@пример.рф");
    assert_int_equal(ngroups(l.items[1].groups), 3);
    assert_string_equal(l.items[1].groups[0], "Друзья");
    assert_string_equal(l.items[1].groups[2], "Work\nteam");
    roster_list_free(&l);

    /* update replaces the groups wholesale */
    char *groups2[] = {"Семья", NULL};
    it.groups = groups2;
    it.name = NULL;
    it.subscription = VN_SUB_FROM;
    assert_int_equal(vn_store_roster_put(st, OWNER, &it, &ver), 0);
    assert_int_equal(ver, 3);
    assert_int_equal(vn_store_roster_get(st, OWNER, "борис@пример.рф", &got), 0);
    assert_null(got.name);
    assert_int_equal(got.subscription, VN_SUB_FROM);
    assert_int_equal(ngroups(got.groups), 1);
    assert_string_equal(got.groups[0], "Семья");
    vn_roster_item_free_fields(&got);

    /* delete bumps; deleting a missing row does not */
    assert_int_equal(vn_store_roster_delete(st, OWNER, "bob@example.org", &ver), 0);
    assert_int_equal(ver, 4);
    ver = 42;
    assert_int_equal(vn_store_roster_delete(st, OWNER, "bob@example.org", &ver), 1);
    assert_int_equal(ver, 42);
    assert_int_equal(vn_store_roster_load(st, OWNER, &ver, collect_item, &l), 0);
    assert_int_equal(ver, 4);
    assert_int_equal(l.n, 1);
    roster_list_free(&l);

    /* bad input is refused without bumping the version */
    vn_roster_item_t badsub = {.contact = "x@example.org", .subscription = 9};
    assert_int_equal(vn_store_roster_put(st, OWNER, &badsub, &ver), -1);
    assert_int_equal(vn_store_roster_load(st, OWNER, &ver, collect_item, &l), 0);
    assert_int_equal(ver, 4);
    roster_list_free(&l);

    /* rows of an owner without an account are refused */
    assert_int_equal(vn_store_roster_put(st, "ghost@example.org", &it2, &ver), -1);
    assert_int_equal(vn_store_roster_load(st, "ghost@example.org", &ver, collect_item, &l), 0);
    assert_int_equal(ver, 0);
    assert_int_equal(l.n, 0);
}

static void test_roster_pending_in_only(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, OWNER);

    const char *xml = "<presence from='мария@пример.рф' to='alice@example.org' "
                      "type='subscribe'><status>Привет</status></presence>";
    vn_roster_item_t it = {
        .contact = "мария@пример.рф",
        .pending_in = 1,
        .in_roster = 0,
        .pending_stanza = (char *)xml,
    };
    uint64_t ver;
    assert_int_equal(vn_store_roster_put(st, OWNER, &it, &ver), 0);
    assert_int_equal(ver, 1);

    roster_list_t l = {0};
    assert_int_equal(vn_store_roster_load(st, OWNER, &ver, collect_item, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.items[0].in_roster, 0);
    assert_int_equal(l.items[0].pending_in, 1);
    assert_int_equal(l.items[0].subscription, VN_SUB_NONE);
    assert_string_equal(l.items[0].pending_stanza, xml);
    assert_int_equal(ngroups(l.items[0].groups), 0);
    roster_list_free(&l);

    /* the owner approves: the row joins the roster and the stanza is dropped */
    it.pending_in = 0;
    it.in_roster = 1;
    it.subscription = VN_SUB_FROM;
    it.pending_stanza = NULL;
    assert_int_equal(vn_store_roster_put(st, OWNER, &it, &ver), 0);
    assert_int_equal(ver, 2);
    vn_roster_item_t got;
    assert_int_equal(vn_store_roster_get(st, OWNER, "мария@пример.рф", &got), 0);
    assert_int_equal(got.in_roster, 1);
    assert_int_equal(got.pending_in, 0);
    assert_null(got.pending_stanza);
    vn_roster_item_free_fields(&got);
}

static void test_roster_owners_are_separate(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, "a@example.org");
    add_account(st, "b@example.org");
    char *g[] = {"x", NULL};
    vn_roster_item_t it = {.contact = "c@example.org", .in_roster = 1, .groups = g};
    uint64_t va, vb;
    assert_int_equal(vn_store_roster_put(st, "a@example.org", &it, &va), 0);
    assert_int_equal(vn_store_roster_put(st, "a@example.org", &it, &va), 0);
    char *g2[] = {"y", "z", NULL};
    it.groups = g2;
    assert_int_equal(vn_store_roster_put(st, "b@example.org", &it, &vb), 0);
    assert_int_equal(va, 2);
    assert_int_equal(vb, 1);

    roster_list_t l = {0};
    assert_int_equal(vn_store_roster_load(st, "a@example.org", &va, collect_item, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(ngroups(l.items[0].groups), 1);
    assert_string_equal(l.items[0].groups[0], "x");
    roster_list_free(&l);
    assert_int_equal(vn_store_roster_load(st, "b@example.org", &vb, collect_item, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(ngroups(l.items[0].groups), 2);
    roster_list_free(&l);
}

/* ------------------------------------------------------------------------ */
/* Offline                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct {
    int n;
    int64_t ids[2048];
    char *xml[2048];
} off_list_t;

static void collect_off(int64_t id, const char *xml, size_t len, void *ud)
{
    off_list_t *l = ud;
    assert_true(l->n < 2048);
    assert_int_equal(strlen(xml), len); /* NUL-terminated at len */
    l->ids[l->n] = id;
    l->xml[l->n] = strndup(xml, len);
    l->n++;
}

static void off_list_free(off_list_t *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->xml[i]);
    l->n = 0;
}

static void test_offline(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, "alice@example.org");
    add_account(st, "bob@example.org");

    const char *msgs[] = {"<message><body>один</body></message>",
                          "<message><body>two</body></message>",
                          "<message><body>три</body></message>"};
    int64_t ids[3], bob_id;
    /* only len bytes are stored, not the whole buffer */
    const char *longer = "<message><body>bob</body></message>TRAILING";
    assert_int_equal(
        vn_store_offline_push(st, "alice@example.org", msgs[0], strlen(msgs[0]), &ids[0]), 0);
    assert_int_equal(
        vn_store_offline_push(st, "bob@example.org", longer, strlen(longer) - 8, &bob_id), 0);
    assert_int_equal(
        vn_store_offline_push(st, "alice@example.org", msgs[1], strlen(msgs[1]), &ids[1]), 0);
    assert_int_equal(
        vn_store_offline_push(st, "alice@example.org", msgs[2], strlen(msgs[2]), &ids[2]), 0);
    assert_true(ids[0] < ids[1] && ids[1] < ids[2]);

    int64_t n;
    assert_int_equal(vn_store_offline_count(st, "alice@example.org", &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(vn_store_offline_count(st, "nobody@example.org", &n), 0);
    assert_int_equal(n, 0);

    static off_list_t l;
    assert_int_equal(vn_store_offline_load(st, "alice@example.org", collect_off, &l), 0);
    assert_int_equal(l.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(l.ids[i], ids[i]);
        assert_string_equal(l.xml[i], msgs[i]);
    }
    off_list_free(&l);

    /* load does not remove */
    assert_int_equal(vn_store_offline_count(st, "alice@example.org", &n), 0);
    assert_int_equal(n, 3);

    assert_int_equal(vn_store_offline_load(st, "bob@example.org", collect_off, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.xml[0], "<message><body>bob</body></message>");
    off_list_free(&l);

    /* delete up_to: older than or equal to ids[1], for this owner only */
    assert_int_equal(vn_store_offline_delete(st, "alice@example.org", ids[0] - 1), 0);
    assert_int_equal(vn_store_offline_count(st, "alice@example.org", &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(vn_store_offline_delete(st, "alice@example.org", ids[1]), 0);
    assert_int_equal(vn_store_offline_load(st, "alice@example.org", collect_off, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.ids[0], ids[2]);
    off_list_free(&l);
    assert_int_equal(vn_store_offline_count(st, "bob@example.org", &n), 0);
    assert_int_equal(n, 1);

    /* ids are never reused, even after the newest row is deleted */
    assert_int_equal(vn_store_offline_delete(st, "alice@example.org", INT64_MAX), 0);
    int64_t id4;
    assert_int_equal(vn_store_offline_push(st, "alice@example.org", "<m/>", 4, &id4), 0);
    assert_true(id4 > ids[2]);

    /* an owner without an account cannot queue */
    assert_int_equal(vn_store_offline_push(st, "ghost@example.org", "<m/>", 4, &id4), -1);
}

/* ------------------------------------------------------------------------ */
/* Account deletion cascades                                                  */
/* ------------------------------------------------------------------------ */

static void test_delete_account_cascades(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, "alice@example.org");
    add_account(st, "bob@example.org");

    char *g[] = {"a", "b", NULL};
    vn_roster_item_t it = {.contact = "x@example.org", .in_roster = 1, .groups = g};
    uint64_t ver;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vn_store_roster_put(st, "alice@example.org", &it, &ver), 0);
        assert_int_equal(vn_store_roster_put(st, "bob@example.org", &it, &ver), 0);
    }
    int64_t id;
    assert_int_equal(vn_store_offline_push(st, "alice@example.org", "<m/>", 4, &id), 0);
    assert_int_equal(vn_store_offline_push(st, "bob@example.org", "<m/>", 4, &id), 0);

    assert_int_equal(vn_store_account_delete(st, "alice@example.org"), 0);

    /* nothing of alice's is left at all, bob's rows are untouched */
    assert_int_equal(raw_count(fx, "SELECT count(*) FROM roster WHERE owner = 'alice@example.org'"),
                     0);
    assert_int_equal(
        raw_count(fx, "SELECT count(*) FROM roster_groups WHERE owner = 'alice@example.org'"), 0);
    assert_int_equal(
        raw_count(fx, "SELECT count(*) FROM roster_version WHERE owner = 'alice@example.org'"), 0);
    assert_int_equal(
        raw_count(fx, "SELECT count(*) FROM offline WHERE owner = 'alice@example.org'"), 0);
    assert_int_equal(
        raw_count(fx, "SELECT count(*) FROM roster_groups WHERE owner = 'bob@example.org'"), 2);

    /* a re-created account starts empty */
    add_account(st, "alice@example.org");
    roster_list_t l = {0};
    assert_int_equal(vn_store_roster_load(st, "alice@example.org", &ver, collect_item, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(ver, 0);
    int64_t n;
    assert_int_equal(vn_store_offline_count(st, "alice@example.org", &n), 0);
    assert_int_equal(n, 0);

    assert_int_equal(vn_store_roster_load(st, "bob@example.org", &ver, collect_item, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(ver, 3);
    roster_list_free(&l);
    assert_int_equal(vn_store_offline_count(st, "bob@example.org", &n), 0);
    assert_int_equal(n, 1);
}

/* ------------------------------------------------------------------------ */
/* Durability under kill -9                                                   */
/* ------------------------------------------------------------------------ */

#define DUR_OWNER "durable@example.org"

static void dur_stanza(char *buf, size_t sz, int64_t i)
{
    snprintf(buf, sz,
             "<message to='" DUR_OWNER "' id='m%lld'><body>сообщение %lld</body></message>",
             (long long)i, (long long)i);
}

/* Child: pushes messages and reports each acknowledged id on fd. With
 * self_kill_at >= 0 it SIGKILLs itself right after that push returns;
 * otherwise it pushes until the parent kills it. Never returns. */
static void dur_child(const char *dir, int fd, int self_kill_at)
{
    char *err = NULL;
    vn_store_t *st = vn_store_open(dir, &err);
    if (!st) _exit(2);
    for (int64_t i = 0; i < 1000000; i++) {
        char xml[256];
        dur_stanza(xml, sizeof(xml), i);
        int64_t id;
        if (vn_store_offline_push(st, DUR_OWNER, xml, strlen(xml), &id) != 0) _exit(3);
        if (self_kill_at >= 0 && i == self_kill_at) kill(getpid(), SIGKILL);
        int64_t rec[2] = {id, i};
        if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec)) _exit(4);
    }
    _exit(0);
}

/* Runs one child and returns how many acknowledged pushes it reported;
 * fills acks[][2] = {id, seq}. The last push before a self-kill is
 * acknowledged by the return value of vn_store_offline_push alone, so it is
 * added here as (unknown id, seq). */
static int dur_run(fx_t *fx, int self_kill_at, int kill_after, int64_t (*acks)[2], int max)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dur_child(fx->dir, p[1], self_kill_at);
    }
    close(p[1]);
    int n = 0, killed = 0;
    for (;;) {
        int64_t rec[2];
        ssize_t r = read(p[0], rec, sizeof(rec));
        if (r == 0) break;
        if (r < 0 && errno == EINTR) continue;
        assert_int_equal(r, (ssize_t)sizeof(rec));
        if (n < max) {
            acks[n][0] = rec[0];
            acks[n][1] = rec[1];
            n++;
        }
        if (!killed && kill_after > 0 && n >= kill_after) {
            kill(pid, SIGKILL); /* the child is mid-push */
            killed = 1;
        }
    }
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    return n;
}

static void dur_verify(fx_t *fx, int64_t (*acks)[2], int n, int64_t min_rows)
{
    fx->st = open_ok(fx); /* recovers the WAL left by the killed child */
    static off_list_t l;
    assert_int_equal(vn_store_offline_load(fx->st, DUR_OWNER, collect_off, &l), 0);
    assert_true(l.n >= min_rows);
    /* rows are the child's pushes in order, each with its own content */
    for (int i = 0; i < l.n; i++) {
        char want[256];
        dur_stanza(want, sizeof(want), i);
        assert_string_equal(l.xml[i], want);
        if (i > 0) assert_true(l.ids[i] > l.ids[i - 1]);
    }
    /* every acknowledged id is there */
    for (int k = 0; k < n; k++) {
        int64_t seq = acks[k][1];
        assert_true(seq < l.n);
        assert_int_equal(l.ids[seq], acks[k][0]);
    }
    off_list_free(&l);
}

static void test_durability_self_kill(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    add_account(fx->st, DUR_OWNER);
    vn_store_close(fx->st);
    fx->st = NULL;

    static int64_t acks[1024][2];
    const int kill_at = 500;
    int n = dur_run(fx, kill_at, 0, acks, 1024);
    assert_int_equal(n, kill_at); /* seq 0..499 reported; 500 died before reporting */
    /* push #500 returned success before the kill: it must be there too */
    dur_verify(fx, acks, n, kill_at + 1);
}

static void test_durability_killed_mid_stream(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    add_account(fx->st, DUR_OWNER);
    vn_store_close(fx->st);
    fx->st = NULL;

    /* Several rounds, each killing at a different point of the stream; the
     * queue is emptied between rounds so row i is again push i. */
    static int64_t acks[2048][2];
    for (int round = 0; round < 4; round++) {
        int n = dur_run(fx, -1, 100 + 97 * round, acks, 2048);
        assert_true(n >= 100 + 97 * round);
        dur_verify(fx, acks, n, n);
        assert_int_equal(vn_store_offline_delete(fx->st, DUR_OWNER, INT64_MAX), 0);
        vn_store_close(fx->st);
        fx->st = NULL;
    }
}

int main(void)
{
    vn_log_set_level(VN_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_private_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_twice_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_future_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_reentry_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roster_put_get_load_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roster_pending_in_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roster_owners_are_separate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_account_cascades, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durability_self_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durability_killed_mid_stream, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the SQLite store (src/store/sqlite/, through store.h).
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

#include "core/config.h"
#include "core/log.h"
#include "store/store.h"
#include "store/store_pubsub.h"
#include "store/store_internal.h"

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

/* The store under dir with the default backend, as a configuration that
 * sets only data_dir opens it. */
static vn_store_t *open_dir(const char *dir, char **err)
{
    vn_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.data_dir = (char *)dir;
    return vn_store_open(&cfg, err);
}

static vn_store_t *open_ok(fx_t *fx)
{
    char *err = NULL;
    vn_store_t *st = open_dir(fx->dir, &err);
    if (!st) fprintf(stderr, "open failed: %s\n", err ? err : "(no message)");
    assert_non_null(st);
    assert_null(err);
    return st;
}

static void assert_schema_latest(vn_store_t *st)
{
    int v = -1;
    assert_int_equal(vn_store_schema_version(st, &v), 0);
    assert_int_equal(v, vn_store_schema_latest());
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
    for (int h = 0; h < VN_STORE_CRED_SLOTS; h++) {
        vn_store_cred_t *c = &a->cred[h];
        c->salt_len = 16;
        for (size_t i = 0; i < c->salt_len; i++)
            c->salt[i] = (uint8_t)(seed + h + i);
        c->iterations = 4096u + (uint32_t)seed;
        c->key_len = h == 0 ? 20 : 32; /* what SCRAM-SHA-1 and -256 keep there */
        for (size_t i = 0; i < c->key_len; i++) {
            c->key[0][i] = (uint8_t)(seed * 3 + i);
            c->key[1][i] = (uint8_t)(seed * 7 + i);
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
    assert_schema_latest(fx->st);

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
    assert_schema_latest(fx->st);
    vn_account_t a;
    assert_int_equal(vn_store_account_get(fx->st, "alice@example.org", &a), 0);
    int64_t n = -1;
    assert_int_equal(vn_store_offline_count(fx->st, "alice@example.org", &n), 0);
    assert_int_equal(n, 1);

    /* A second connection at the same time (vestnikctl next to vestnikd). */
    char *err = NULL;
    vn_store_t *st2 = open_dir(fx->dir, &err);
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
    assert_null(open_dir(fx->dir, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "99"));
    free(err);
}

/* The backend is the one [store] backend names; the default is SQLite;
 * a name this build does not have is refused at open with a message that
 * names it, the key and the backends there are, and nothing is created. */
static vn_store_t *open_config(fx_t *fx, const char *store_section, char **err)
{
    char path[256], text[512];
    snprintf(path, sizeof(path), "%s/vestnik.conf", fx->tmp);
    snprintf(text, sizeof(text), "[server]\ndata_dir = %s\n%s", fx->dir, store_section);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    const vn_cfg_key_t *const tables[] = {vn_core_config_keys, vn_store_config_keys, NULL};
    vn_config_t cfg;
    if (vn_config_load(path, &cfg, tables, err) != 0) return NULL;
    vn_store_t *st = vn_store_open(&cfg, err);
    vn_config_free(&cfg);
    return st;
}

static void test_backend_from_config(void **state)
{
    fx_t *fx = *state;
    char *err = NULL;
    struct stat sb;

    /* unknown: refused before anything is touched */
    assert_null(open_config(fx, "[store]\nbackend = postgresql\n", &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "unknown storage backend 'postgresql'"));
    assert_non_null(strstr(err, "[store] backend"));
    assert_non_null(strstr(err, "sqlite"));
    free(err);
    err = NULL;
    assert_int_equal(stat(fx->dir, &sb), -1); /* data_dir not even created */
    /* names are exact */
    assert_null(open_config(fx, "[store]\nbackend = SQLite\n", &err));
    assert_non_null(strstr(err, "unknown storage backend 'SQLite'"));
    free(err);
    err = NULL;
    /* empty: refused by the configuration loader, with the line */
    assert_null(open_config(fx, "[store]\nbackend =\n", &err));
    assert_non_null(strstr(err, ":4: invalid value for [store] backend"));
    free(err);
    err = NULL;

    /* named, and by default */
    fx->st = open_config(fx, "[store]\nbackend = sqlite\n", &err);
    assert_null(err);
    assert_non_null(fx->st);
    assert_string_equal(vn_store_backend_name(fx->st), "sqlite");
    add_account(fx->st, "alice@example.org");
    vn_store_close(fx->st);
    fx->st = open_config(fx, "", &err);
    assert_null(err);
    assert_non_null(fx->st);
    assert_string_equal(vn_store_backend_name(fx->st), "sqlite");
    vn_account_t a;
    assert_int_equal(vn_store_account_get(fx->st, "alice@example.org", &a), VN_STORE_OK);
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
    assert_null(open_dir(file, &err));
    assert_non_null(err);
    free(err);
    err = NULL;

    /* parent of data_dir missing: not created recursively */
    char deep[256];
    snprintf(deep, sizeof(deep), "%s/no/such/dir", fx->tmp);
    assert_null(open_dir(deep, &err));
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
    assert_null(open_dir(fx->dir, &err));
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
    /* the credentials come back as they went in, field by field */
    for (int h = 0; h < VN_STORE_CRED_SLOTS; h++) {
        const vn_store_cred_t *g = &got.cred[h], *w = &a.cred[h];
        assert_int_equal(g->salt_len, w->salt_len);
        assert_memory_equal(g->salt, w->salt, w->salt_len);
        assert_int_equal(g->iterations, w->iterations);
        assert_int_equal(g->key_len, w->key_len);
        assert_memory_equal(g->key[0], w->key[0], w->key_len);
        assert_memory_equal(g->key[1], w->key[1], w->key_len);
    }

    /* set_creds replaces; an empty slot stays empty; the store does not
     * care what a slot holds (any key length, the full iteration range) */
    vn_account_t b;
    make_account(&b, "alice@example.org", 9);
    memset(&b.cred[0], 0, sizeof(b.cred[0]));
    b.cred[1].iterations = UINT32_MAX;
    b.cred[1].key_len = VN_STORE_CRED_BYTES;
    assert_int_equal(vn_store_account_set_creds(st, &b), 0);
    assert_int_equal(vn_store_account_get(st, "alice@example.org", &got), 0);
    assert_int_equal(got.cred[0].iterations, 0);
    assert_int_equal(got.cred[0].salt_len, 0);
    assert_int_equal(got.cred[0].key_len, 0);
    assert_int_equal(got.cred[1].iterations, UINT32_MAX);
    assert_int_equal(got.cred[1].key_len, VN_STORE_CRED_BYTES);
    assert_memory_equal(got.cred[1].key[1], b.cred[1].key[1], VN_STORE_CRED_BYTES);

    vn_account_t nobody;
    make_account(&nobody, "nobody@example.org", 1);
    assert_int_equal(vn_store_account_set_creds(st, &nobody), 1);

    /* oversized fields are a caller bug, refused rather than truncated */
    vn_account_t bad;
    make_account(&bad, "bad@example.org", 1);
    bad.cred[0].salt_len = sizeof(bad.cred[0].salt) + 1;
    assert_int_equal(vn_store_account_create(st, &bad), -1);
    make_account(&bad, "bad@example.org", 1);
    bad.cred[1].key_len = sizeof(bad.cred[1].key[0]) + 1;
    assert_int_equal(vn_store_account_create(st, &bad), -1);
    make_account(&bad, "bad@example.org", 1);
    bad.cred[1].key_len = 0;
    assert_int_equal(vn_store_account_create(st, &bad), -1);
    assert_int_equal(vn_store_account_get(st, "bad@example.org", &got), 1);

    /* a damaged row (keys of different lengths) is an error, not half an
     * answer */
    make_account(&bad, "bad@example.org", 1);
    assert_int_equal(vn_store_account_create(st, &bad), 0);
    sqlite3 *db = raw_open(fx);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE accounts SET sha256_server_key = x'00' "
                                  "WHERE jid = 'bad@example.org'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(vn_store_account_get(st, "bad@example.org", &got), -1);

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

/* The counts behind the per-account roster limits: rows in the roster and
 * rows kept only for a pending request, per owner. */
static void test_roster_count(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, "a@example.org");
    add_account(st, "b@example.org");
    int64_t items = -1, pending = -1;
    assert_int_equal(vn_store_roster_count(st, "a@example.org", &items, &pending), 0);
    assert_int_equal(items, 0);
    assert_int_equal(pending, 0);
    uint64_t ver;
    char jid[64];
    for (int i = 0; i < 7; i++) {
        snprintf(jid, sizeof(jid), "c%d@example.org", i);
        vn_roster_item_t it = {.contact = jid, .in_roster = i < 4, .pending_in = i >= 4};
        assert_int_equal(vn_store_roster_put(st, "a@example.org", &it, &ver), 0);
    }
    vn_roster_item_t other = {.contact = "x@example.org", .in_roster = 1};
    assert_int_equal(vn_store_roster_put(st, "b@example.org", &other, &ver), 0);
    assert_int_equal(vn_store_roster_count(st, "a@example.org", &items, &pending), 0);
    assert_int_equal(items, 4);
    assert_int_equal(pending, 3);
    /* a pending row joins the roster; another goes */
    vn_roster_item_t it = {.contact = "c4@example.org", .in_roster = 1};
    assert_int_equal(vn_store_roster_put(st, "a@example.org", &it, &ver), 0);
    assert_int_equal(vn_store_roster_delete(st, "a@example.org", "c5@example.org", &ver), 0);
    assert_int_equal(vn_store_roster_count(st, "a@example.org", &items, &pending), 0);
    assert_int_equal(items, 5);
    assert_int_equal(pending, 1);
    assert_int_equal(vn_store_roster_count(st, "b@example.org", &items, &pending), 0);
    assert_int_equal(items, 1);
    assert_int_equal(pending, 0);
    assert_int_equal(vn_store_roster_count(st, "nobody@example.org", &items, &pending), 0);
    assert_int_equal(items, 0);
    assert_int_equal(pending, 0);
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
/* Message archive                                                            */
/* ------------------------------------------------------------------------ */

#define ARC_MAX 4096

/* One page as delivered, deep-copied. */
typedef struct {
    int n;
    int64_t seq[ARC_MAX];
    int64_t ts[ARC_MAX];
    char *id[ARC_MAX];
    char *with[ARC_MAX];
    char *xml[ARC_MAX];
} arc_page_t;

static void collect_arc(const vn_archive_item_t *it, void *ud)
{
    arc_page_t *p = ud;
    assert_true(p->n < ARC_MAX);
    assert_int_equal(strlen(it->xml), it->len); /* NUL-terminated at len */
    p->seq[p->n] = it->seq;
    p->ts[p->n] = it->ts_us;
    p->id[p->n] = strdup(it->id);
    p->with[p->n] = strdup(it->with);
    p->xml[p->n] = strndup(it->xml, it->len);
    p->n++;
}

static void arc_page_free(arc_page_t *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->id[i]);
        free(p->with[i]);
        free(p->xml[i]);
    }
    p->n = 0;
}

/* Runs a query into a fresh page; checks count == items delivered. */
static int arc_query(vn_store_t *st, const char *owner, const vn_archive_query_t *q, arc_page_t *p,
                     vn_archive_page_t *pg)
{
    arc_page_free(p);
    int r = vn_store_archive_query(st, owner, q, collect_arc, p, pg);
    if (r == 0) assert_int_equal(pg->count, p->n);
    return r;
}

static void arc_append(vn_store_t *st, const char *owner, const char *id, int64_t ts,
                       const char *with)
{
    char xml[256];
    snprintf(xml, sizeof(xml), "<message id='%s'><body>%s → %s</body></message>", id, with, owner);
    assert_int_equal(vn_store_archive_append(st, owner, id, ts, with, xml, strlen(xml)), 0);
}

static const char *const k_with3[] = {"bob@example.org", "carol@example.org", "дмитрий@пример.рф"};

static void test_archive_filters(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, OWNER);
    add_account(st, "bob@example.org");

    /* a0..a29, ts 1000, 1010, ..., correspondents in turn */
    for (int i = 0; i < 30; i++) {
        char id[16];
        snprintf(id, sizeof(id), "a%d", i);
        arc_append(st, OWNER, id, 1000 + 10 * i, k_with3[i % 3]);
    }
    arc_append(st, "bob@example.org", "a0", 1000, OWNER); /* ids are per owner */

    static arc_page_t p;
    vn_archive_page_t pg;
    vn_archive_query_t q = {.max = 100};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 30);
    assert_int_equal(pg.total, 30);
    assert_int_equal(pg.complete, 1);
    assert_int_equal(pg.after_not_found, 0);
    for (int i = 0; i < 30; i++) {
        char id[16], xml[256];
        snprintf(id, sizeof(id), "a%d", i);
        snprintf(xml, sizeof(xml), "<message id='%s'><body>%s → %s</body></message>", id,
                 k_with3[i % 3], OWNER);
        assert_string_equal(p.id[i], id);
        assert_string_equal(p.with[i], k_with3[i % 3]);
        assert_string_equal(p.xml[i], xml);
        assert_int_equal(p.ts[i], 1000 + 10 * i);
        if (i) assert_true(p.seq[i] > p.seq[i - 1]);
    }

    /* with: exact bare JID */
    q = (vn_archive_query_t){.max = 100, .with = "дмитрий@пример.рф"};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 10);
    assert_int_equal(pg.total, 10);
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "a%d", 3 * i + 2);
        assert_string_equal(p.id[i], id);
    }
    q.with = "bob@example.org/phone"; /* a full JID is a different string */
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(pg.total, 0);
    assert_int_equal(pg.complete, 1);

    /* start/end inclusive */
    q = (vn_archive_query_t){.max = 100, .start_us = 1100, .end_us = 1190};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 10);
    assert_int_equal(pg.total, 10);
    assert_string_equal(p.id[0], "a10");
    assert_string_equal(p.id[9], "a19");
    q = (vn_archive_query_t){.max = 100, .start_us = 1101, .end_us = 1189};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 8);
    assert_string_equal(p.id[0], "a11");
    q = (vn_archive_query_t){.max = 100, .start_us = 1250};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 5);
    assert_string_equal(p.id[0], "a25");
    q = (vn_archive_query_t){.max = 100, .end_us = 1000};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.id[0], "a0");

    /* empty windows */
    int64_t windows[][2] = {{1200, 1100}, {5000, 0}, {0, 999}, {1001, 1009}};
    for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
        q = (vn_archive_query_t){.max = 100, .start_us = windows[w][0], .end_us = windows[w][1]};
        assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
        assert_int_equal(p.n, 0);
        assert_int_equal(pg.total, 0);
        assert_int_equal(pg.complete, 1);
    }

    /* with and a window together */
    q = (vn_archive_query_t){
        .max = 100, .with = "bob@example.org", .start_us = 1100, .end_us = 1190};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 3);
    assert_int_equal(pg.total, 3);
    assert_string_equal(p.id[0], "a12");
    assert_string_equal(p.id[1], "a15");
    assert_string_equal(p.id[2], "a18");

    /* max 0: only the count (XEP-0059 §2.6) */
    q = (vn_archive_query_t){.max = 0};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(pg.total, 30);
    assert_int_equal(pg.complete, 0);

    /* owners are separate */
    q = (vn_archive_query_t){.max = 100};
    assert_int_equal(arc_query(st, "bob@example.org", &q, &p, &pg), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.with[0], OWNER);
    assert_int_equal(arc_query(st, "nobody@example.org", &q, &p, &pg), 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(pg.total, 0);

    /* refused: duplicate id, unknown owner, missing with, negative max */
    assert_int_equal(vn_store_archive_append(st, OWNER, "a3", 9999, "x@example.org", "<m/>", 4),
                     -1);
    assert_int_equal(
        vn_store_archive_append(st, "ghost@example.org", "g1", 1, "x@example.org", "<m/>", 4), -1);
    assert_int_equal(vn_store_archive_append(st, OWNER, "n1", 1, NULL, "<m/>", 4), -1);
    q = (vn_archive_query_t){.max = -1};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), -1);

    /* only len bytes are stored */
    const char *longer = "<message id='z'/>TRAILING";
    assert_int_equal(
        vn_store_archive_append(st, OWNER, "z", 2000, "x@example.org", longer, strlen(longer) - 8),
        0);
    q = (vn_archive_query_t){.max = 1, .last_page = 1};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_string_equal(p.xml[0], "<message id='z'/>");
    assert_int_equal(pg.total, 31);
    arc_page_free(&p);
}

/* A wall clock that steps back must not reorder the archive: the item keeps
 * its place at the end and gets the newest timestamp seen so far. */
static void test_archive_clock_step_back(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, OWNER);
    arc_append(st, OWNER, "t1", 1000, "b@x");
    arc_append(st, OWNER, "t2", 2000, "b@x");
    arc_append(st, OWNER, "t3", 1500, "c@x"); /* clock went back */
    arc_append(st, OWNER, "t4", 2500, "b@x");

    static arc_page_t p;
    vn_archive_page_t pg;
    vn_archive_query_t q = {.max = 10};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 4);
    assert_string_equal(p.id[2], "t3");
    assert_int_equal(p.ts[2], 2000);
    q = (vn_archive_query_t){.max = 10, .start_us = 2000, .end_us = 2000};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 2);
    assert_int_equal(pg.total, 2);
    q = (vn_archive_query_t){.max = 10, .with = "b@x", .start_us = 1001};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.id[0], "t2");
    arc_page_free(&p);
}

static void arc_fill(vn_store_t *st, const char *owner, int n, int nwith)
{
    for (int i = 0; i < n; i++) {
        char id[16], with[32];
        snprintf(id, sizeof(id), "m%d", i);
        snprintf(with, sizeof(with), "c%d@example.org", i % nwith);
        arc_append(st, owner, id, 1000000 + 1000 * (int64_t)i, with);
    }
}

static int id_num(const char *id)
{
    assert_true(id[0] == 'm');
    return atoi(id + 1);
}

/* Pages through 3000 messages both ways: each item exactly once, in order. */
static void test_archive_paging_3000(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, OWNER);
    const int N = 3000, MAX = 47; /* 3000 is not a multiple of 47 */
    arc_fill(st, OWNER, N, 7);

    static arc_page_t p;
    vn_archive_page_t pg;
    static char seen[3000];
    char after[16] = "";

    /* forwards */
    memset(seen, 0, sizeof(seen));
    int next = 0, pages = 0;
    for (;;) {
        vn_archive_query_t q = {.max = MAX, .after_id = pages ? after : NULL};
        assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
        assert_int_equal(pg.total, N);
        pages++;
        for (int i = 0; i < p.n; i++) {
            int k = id_num(p.id[i]);
            assert_int_equal(k, next++);
            assert_int_equal(seen[k]++, 0);
        }
        if (pg.complete) break;
        assert_int_equal(p.n, MAX);
        snprintf(after, sizeof(after), "%s", p.id[p.n - 1]);
    }
    assert_int_equal(next, N);
    assert_int_equal(pages, (N + MAX - 1) / MAX);

    /* backwards from the last page */
    memset(seen, 0, sizeof(seen));
    int expect_end = N, got = 0;
    char before[16] = "";
    pages = 0;
    for (;;) {
        vn_archive_query_t q = {
            .max = MAX, .last_page = pages == 0, .before_id = pages ? before : NULL};
        assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
        assert_int_equal(pg.total, N);
        pages++;
        /* chronological within the page, ending right before the previous */
        for (int i = 0; i < p.n; i++) {
            int k = id_num(p.id[i]);
            assert_int_equal(k, expect_end - p.n + i);
            assert_int_equal(seen[k]++, 0);
            got++;
        }
        expect_end -= p.n;
        if (pg.complete) break;
        assert_int_equal(p.n, MAX);
        snprintf(before, sizeof(before), "%s", p.id[0]);
    }
    assert_int_equal(got, N);
    assert_int_equal(expect_end, 0);

    /* the last page on its own, and a page size equal to what is left */
    vn_archive_query_t q = {.max = 50, .last_page = 1};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 50);
    assert_int_equal(id_num(p.id[0]), N - 50);
    assert_int_equal(id_num(p.id[49]), N - 1);
    assert_int_equal(pg.complete, 0);
    q = (vn_archive_query_t){.max = 10, .after_id = "m2989"};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 10);
    assert_int_equal(pg.complete, 1);
    q = (vn_archive_query_t){.max = 10, .after_id = "m2999"};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(pg.complete, 1);
    q = (vn_archive_query_t){.max = 10, .before_id = "m10"};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 10);
    assert_int_equal(id_num(p.id[0]), 0);
    assert_int_equal(pg.complete, 1);
    q = (vn_archive_query_t){.max = 10, .before_id = "m0"};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(pg.complete, 1);
    /* after and before together: the items strictly between */
    q = (vn_archive_query_t){.max = 100, .after_id = "m100", .before_id = "m110"};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(p.n, 9);
    assert_int_equal(id_num(p.id[0]), 101);
    assert_int_equal(pg.complete, 1);

    /* forwards through one correspondent: every 7th item */
    int count = 0;
    next = 3;
    for (int first = 1;; first = 0) {
        q = (vn_archive_query_t){
            .max = 40, .with = "c3@example.org", .after_id = first ? NULL : after};
        assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
        assert_int_equal(pg.total, (N - 3 + 6) / 7);
        for (int i = 0; i < p.n; i++, next += 7, count++)
            assert_int_equal(id_num(p.id[i]), next);
        if (pg.complete) break;
        snprintf(after, sizeof(after), "%s", p.id[p.n - 1]);
    }
    assert_int_equal(count, (N - 3 + 6) / 7);
    arc_page_free(&p);
}

static void test_archive_unknown_ids(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, OWNER);
    add_account(st, "bob@example.org");
    arc_fill(st, OWNER, 20, 3);
    arc_append(st, "bob@example.org", "bobs", 5, OWNER);

    static arc_page_t p;
    vn_archive_page_t pg;
    const char *bad[] = {"nope", "bobs", "", "M1"}; /* bob's id is not alice's */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vn_archive_query_t q = {.max = 10, .after_id = bad[i]};
        assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
        assert_int_equal(pg.after_not_found, 1);
        assert_int_equal(p.n, 0);
        q = (vn_archive_query_t){.max = 10, .before_id = bad[i]};
        assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
        assert_int_equal(pg.after_not_found, 1);
        assert_int_equal(p.n, 0);
        q = (vn_archive_query_t){.max = 10, .after_id = "m1", .before_id = bad[i]};
        assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
        assert_int_equal(pg.after_not_found, 1);
    }
    /* an id outside the filters is still a valid position */
    vn_archive_query_t q = {.max = 10, .with = "c0@example.org", .after_id = "m1"};
    assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
    assert_int_equal(pg.after_not_found, 0);
    assert_int_equal(p.n, 6); /* m3, m6, ..., m18 */
    assert_int_equal(id_num(p.id[0]), 3);
    assert_int_equal(pg.total, 7);
    arc_page_free(&p);
}

/* Reference model: what a query must return, computed by brute force. */
typedef struct {
    int n;
    char id[ARC_MAX][16];
    char with[ARC_MAX][32];
    int64_t ts[ARC_MAX];
    int alive[ARC_MAX];
} arc_model_t;

static void model_append(vn_store_t *st, arc_model_t *m, const char *owner, const char *id,
                         int64_t ts, const char *with)
{
    assert_true(m->n < ARC_MAX);
    arc_append(st, owner, id, ts, with);
    int64_t newest = INT64_MIN;
    for (int i = 0; i < m->n; i++)
        if (m->alive[i] && m->ts[i] > newest) newest = m->ts[i];
    snprintf(m->id[m->n], sizeof(m->id[0]), "%s", id);
    snprintf(m->with[m->n], sizeof(m->with[0]), "%s", with);
    m->ts[m->n] = ts > newest ? ts : newest; /* the store's clock-step rule */
    m->alive[m->n] = 1;
    m->n++;
}

static int model_find(const arc_model_t *m, const char *id)
{
    for (int i = 0; i < m->n; i++)
        if (m->alive[i] && !strcmp(m->id[i], id)) return i;
    return -1;
}

static int model_match(const arc_model_t *m, int i, const vn_archive_query_t *q)
{
    return m->alive[i] && (!q->with || !strcmp(q->with, m->with[i])) &&
           (!q->start_us || m->ts[i] >= q->start_us) && (!q->end_us || m->ts[i] <= q->end_us);
}

static void model_check(vn_store_t *st, const arc_model_t *m, const char *owner,
                        const vn_archive_query_t *q)
{
    static arc_page_t p;
    vn_archive_page_t pg;
    assert_int_equal(arc_query(st, owner, q, &p, &pg), 0);
    int after = q->after_id ? model_find(m, q->after_id) : -1;
    int before = q->before_id ? model_find(m, q->before_id) : m->n;
    if ((q->after_id && after < 0) || (q->before_id && before < 0)) {
        assert_int_equal(pg.after_not_found, 1);
        assert_int_equal(p.n, 0);
        return;
    }
    assert_int_equal(pg.after_not_found, 0);
    int64_t total = 0;
    static int idx[ARC_MAX];
    int ni = 0;
    for (int i = 0; i < m->n; i++) {
        if (!model_match(m, i, q)) continue;
        total++;
        if (i > after && i < before) idx[ni++] = i;
    }
    assert_int_equal(pg.total, total);
    int backward = q->before_id || q->last_page;
    int from = backward ? (ni > q->max ? ni - q->max : 0) : 0;
    int cnt = ni < q->max ? ni : q->max;
    assert_int_equal(p.n, cnt);
    assert_int_equal(pg.complete, ni <= q->max);
    for (int k = 0; k < cnt; k++) {
        int i = idx[from + k];
        assert_string_equal(p.id[k], m->id[i]);
        assert_string_equal(p.with[k], m->with[i]);
        assert_int_equal(p.ts[k], m->ts[i]);
    }
    arc_page_free(&p);
}

static uint64_t g_rng = 88172645463325252ull;
static uint64_t rnd(uint64_t n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng % n;
}

/* Random queries (every combination of filters and paging) against the
 * model, before and after retention cut the archive; totals also against
 * COUNT(*) so the gap-free numbering is checked directly. */
static void test_archive_model(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, OWNER);
    add_account(st, "bob@example.org");
    static arc_model_t m, mb;
    const char *withs[] = {"a@x", "b@x", "c@x", "d@x"};
    int64_t ts = 100;
    for (int i = 0; i < 600; i++) {
        char id[16];
        snprintf(id, sizeof(id), "r%d", i);
        /* mostly increasing ts with repeats and occasional steps back */
        ts += (int64_t)rnd(4) * 10 - (rnd(20) == 0 ? 100 : 0);
        const char *w = withs[rnd(3) ? rnd(2) : 2 + rnd(2)];
        if (rnd(4) == 0)
            model_append(st, &mb, "bob@example.org", id, ts, w);
        else
            model_append(st, &m, OWNER, id, ts, w);
    }
    int64_t tmax = ts + 100;
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 400; k++) {
            int use_bob = rnd(5) == 0;
            arc_model_t *mm = use_bob ? &mb : &m;
            const char *owner = use_bob ? "bob@example.org" : OWNER;
            vn_archive_query_t q = {.max = (int)rnd(25)};
            if (rnd(2)) q.with = withs[rnd(4)];
            if (rnd(2)) q.start_us = 1 + (int64_t)rnd((uint64_t)tmax);
            if (rnd(2)) q.end_us = 1 + (int64_t)rnd((uint64_t)tmax);
            char a[16], b[16];
            switch (rnd(5)) {
            case 0:
                break;
            case 1:
                q.last_page = 1;
                break;
            case 2:
                snprintf(a, sizeof(a), "r%d", (int)rnd(620)); /* may be missing */
                q.after_id = a;
                break;
            case 3:
                snprintf(b, sizeof(b), "r%d", (int)rnd(620));
                q.before_id = b;
                break;
            default:
                snprintf(a, sizeof(a), "r%d", (int)rnd(620));
                snprintf(b, sizeof(b), "r%d", (int)rnd(620));
                q.after_id = a;
                q.before_id = b;
            }
            model_check(st, mm, owner, &q);
        }
        /* totals by COUNT(*) */
        for (int w = 0; w < 4; w++) {
            char sql[256];
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM archive WHERE owner = '%s' AND with_jid = '%s'", OWNER,
                     withs[w]);
            static arc_page_t p;
            vn_archive_page_t pg;
            vn_archive_query_t q = {.max = 0, .with = withs[w]};
            assert_int_equal(arc_query(st, OWNER, &q, &p, &pg), 0);
            assert_int_equal(pg.total, raw_count(fx, sql));
        }
        /* retention: cut at a point inside the history */
        int64_t cut = 100 + (int64_t)(round + 1) * (tmax - 100) / 4;
        int64_t deleted = -1, want = 0;
        for (int i = 0; i < m.n; i++)
            if (m.alive[i] && m.ts[i] < cut) m.alive[i] = 0, want++;
        for (int i = 0; i < mb.n; i++)
            if (mb.alive[i] && mb.ts[i] < cut) mb.alive[i] = 0, want++;
        assert_int_equal(vn_store_archive_expire(st, cut, &deleted), 0);
        assert_int_equal(deleted, want);
        /* and the archive grows again after the cut */
        for (int i = 0; i < 30; i++) {
            char id[16];
            snprintf(id, sizeof(id), "s%d_%d", round, i);
            ts += 7;
            model_append(st, &m, OWNER, id, ts, withs[rnd(4)]);
        }
        tmax = ts + 100;
    }
}

static void test_archive_expire(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    /* several owners, some without any archive, one with more rows than a
     * batch, so batches end in the middle of an owner */
    const char *owners[] = {"a@example.org", "b@example.org", "c@example.org", "d@example.org"};
    for (int o = 0; o < 4; o++)
        add_account(st, owners[o]);
    add_account(st, "aa@example.org");
    add_account(st, "zz@example.org");
    assert_int_equal(vn_store_batch_begin(st), 0);
    int per[] = {2500, 10, 1200, 0};
    for (int o = 0; o < 4; o++)
        for (int i = 0; i < per[o]; i++) {
            char id[16];
            snprintf(id, sizeof(id), "e%d", i);
            arc_append(st, owners[o], id, i, "x@example.org");
        }
    assert_int_equal(vn_store_batch_commit(st), 0);

    int64_t deleted = -1;
    assert_int_equal(vn_store_archive_expire(st, 0, &deleted), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(vn_store_archive_expire(st, 1100, &deleted), 0);
    assert_int_equal(deleted, 1100 + 10 + 1100);
    assert_int_equal(raw_count(fx, "SELECT count(*) FROM archive"), 1400 + 100);
    assert_int_equal(raw_count(fx, "SELECT min(ts) FROM archive"), 1100);

    static arc_page_t p;
    vn_archive_page_t pg;
    vn_archive_query_t q = {.max = 5};
    assert_int_equal(arc_query(st, "a@example.org", &q, &p, &pg), 0);
    assert_int_equal(pg.total, 1400);
    assert_string_equal(p.id[0], "e1100");
    assert_int_equal(arc_query(st, "b@example.org", &q, &p, &pg), 0);
    assert_int_equal(pg.total, 0);
    /* an expired id is gone as an RSM position too */
    q.after_id = "e5";
    assert_int_equal(arc_query(st, "a@example.org", &q, &p, &pg), 0);
    assert_int_equal(pg.after_not_found, 1);

    /* emptied archive restarts its numbering; counts stay right */
    assert_int_equal(vn_store_archive_expire(st, INT64_MAX, &deleted), 0);
    assert_int_equal(deleted, 1500);
    arc_append(st, "b@example.org", "new1", 5, "y@example.org");
    arc_append(st, "b@example.org", "new2", 6, "y@example.org");
    q = (vn_archive_query_t){.max = 5};
    assert_int_equal(arc_query(st, "b@example.org", &q, &p, &pg), 0);
    assert_int_equal(pg.total, 2);
    assert_int_equal(p.n, 2);
    arc_page_free(&p);
}

static void detail_ok(const char *sql, const char *detail, void *ud)
{
    int *n = ud;
    (*n)++;
    if (!strncmp(detail, "SCAN", 4) || strstr(detail, "TEMP B-TREE"))
        fail_msg("plan scans or sorts: %s\n  for %s", detail, sql);
}

/* Bounded cost is a property of the plans: no statement may scan a table
 * or sort; each must seek an index. */
static void test_archive_plans(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    int n = 0;
    assert_int_equal(vn_store_archive_plans(fx->st, detail_ok, &n), 0);
    assert_true(n >= 13);
}

static void test_archive_prefs(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, OWNER);

    vn_archive_prefs_t got;
    memset(&got, 0x55, sizeof(got));
    assert_int_equal(vn_store_archive_prefs_get(st, OWNER, &got), 1);
    assert_string_equal(got.default_mode, "");
    assert_null(got.always);
    assert_null(got.never);

    vn_archive_prefs_t p = {.default_mode = "roster",
                            .always = "bob@example.org\nмария@пример.рф",
                            .never = "spam@example.org"};
    assert_int_equal(vn_store_archive_prefs_set(st, OWNER, &p), 0);
    assert_int_equal(vn_store_archive_prefs_get(st, OWNER, &got), 0);
    assert_string_equal(got.default_mode, "roster");
    assert_string_equal(got.always, p.always);
    assert_string_equal(got.never, p.never);
    free(got.always);
    free(got.never);

    /* replaced whole; NULL lists are stored empty */
    vn_archive_prefs_t p2 = {.default_mode = "never"};
    assert_int_equal(vn_store_archive_prefs_set(st, OWNER, &p2), 0);
    assert_int_equal(vn_store_archive_prefs_get(st, OWNER, &got), 0);
    assert_string_equal(got.default_mode, "never");
    assert_string_equal(got.always, "");
    assert_string_equal(got.never, "");
    free(got.always);
    free(got.never);

    vn_archive_prefs_t bad = {.default_mode = "sometim"};
    assert_int_equal(vn_store_archive_prefs_set(st, OWNER, &bad), -1);
    memset(bad.default_mode, 'a', sizeof(bad.default_mode)); /* unterminated */
    assert_int_equal(vn_store_archive_prefs_set(st, OWNER, &bad), -1);
    assert_int_equal(vn_store_archive_prefs_set(st, "ghost@example.org", &p2), -1);
    assert_int_equal(vn_store_archive_prefs_get(st, OWNER, &got), 0);
    assert_string_equal(got.default_mode, "never");
    free(got.always);
    free(got.never);
}

/* ------------------------------------------------------------------------ */
/* Blocklist                                                                  */
/* ------------------------------------------------------------------------ */

static void test_blocklist(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, OWNER);
    add_account(st, "bob@example.org");

    jid_list_t l = {0};
    assert_int_equal(vn_store_block_list(st, OWNER, collect_jid, &l), 0);
    assert_int_equal(l.n, 0);

    assert_int_equal(vn_store_block_add(st, OWNER, "spam@example.org"), 0);
    assert_int_equal(vn_store_block_add(st, OWNER, "пример.рф"), 0); /* a whole domain */
    assert_int_equal(vn_store_block_add(st, OWNER, "ads@example.org/bot"), 0);
    assert_int_equal(vn_store_block_add(st, OWNER, "spam@example.org"), 0); /* idempotent */
    assert_int_equal(vn_store_block_add(st, "bob@example.org", "eve@example.org"), 0);
    assert_int_equal(vn_store_block_add(st, "ghost@example.org", "x@example.org"), -1);
    assert_int_equal(vn_store_block_add(st, OWNER, NULL), -1);

    assert_int_equal(vn_store_block_list(st, OWNER, collect_jid, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.jids[0], "ads@example.org/bot"); /* sorted */
    assert_string_equal(l.jids[1], "spam@example.org");
    assert_string_equal(l.jids[2], "пример.рф");

    assert_int_equal(vn_store_block_remove(st, OWNER, "spam@example.org"), 0);
    assert_int_equal(vn_store_block_remove(st, OWNER, "spam@example.org"), 0); /* idempotent */
    assert_int_equal(vn_store_block_remove(st, OWNER, "never@example.org"), 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(vn_store_block_list(st, OWNER, collect_jid, &l), 0);
    assert_int_equal(l.n, 2);

    assert_int_equal(vn_store_block_remove(st, OWNER, NULL), 0); /* unblock all */
    memset(&l, 0, sizeof(l));
    assert_int_equal(vn_store_block_list(st, OWNER, collect_jid, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(vn_store_block_remove(st, OWNER, NULL), 0);

    /* bob's list was not touched */
    assert_int_equal(vn_store_block_list(st, "bob@example.org", collect_jid, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.jids[0], "eve@example.org");
}

/* A database left by a vestnik that knew only schema version 1 (built with
 * the hook that stops after migration 1, filled with raw SQL as the old
 * code would have) is upgraded in place, and its data stays usable. */
static void test_migrate_from_v1(void **state)
{
    fx_t *fx = *state;
    char *err = NULL;
    assert_int_equal(vn_store_create_at_version(fx->dir, 1, &err), 0);
    assert_null(err);
    assert_int_equal(raw_count(fx, "PRAGMA user_version"), 1);
    assert_int_equal(raw_count(fx, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                   "('archive', 'archive_prefs', 'blocklist')"),
                     0);

    sqlite3 *db = raw_open(fx);
    const char *fill =
        "PRAGMA foreign_keys = ON;"
        "INSERT INTO accounts (jid, domain) VALUES ('old@example.org', 'example.org');"
        "INSERT INTO roster (owner, contact, name, subscription, in_roster) "
        "  VALUES ('old@example.org', 'friend@example.org', 'Друг', 3, 1);"
        "INSERT INTO roster_groups (owner, contact, pos, name) "
        "  VALUES ('old@example.org', 'friend@example.org', 0, 'g');"
        "INSERT INTO roster_version (owner, version) VALUES ('old@example.org', 7);"
        "INSERT INTO offline (owner, stanza) VALUES ('old@example.org', '<message/>');";
    assert_int_equal(sqlite3_exec(db, fill, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    assert_schema_latest(st);

    vn_account_t a;
    assert_int_equal(vn_store_account_get(st, "old@example.org", &a), 0);
    assert_int_equal(a.cred[1].iterations, 0);
    uint64_t ver;
    roster_list_t l = {0};
    assert_int_equal(vn_store_roster_load(st, "old@example.org", &ver, collect_item, &l), 0);
    assert_int_equal(ver, 7);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].name, "Друг");
    assert_int_equal(ngroups(l.items[0].groups), 1);
    roster_list_free(&l);
    int64_t n;
    assert_int_equal(vn_store_offline_count(st, "old@example.org", &n), 0);
    assert_int_equal(n, 1);

    /* the new tables work for the old account */
    assert_int_equal(
        vn_store_archive_append(st, "old@example.org", "x1", 5, "friend@example.org", "<m/>", 4),
        0);
    assert_int_equal(vn_store_block_add(st, "old@example.org", "spam@example.org"), 0);
    vn_archive_prefs_t p = {.default_mode = "roster"};
    assert_int_equal(vn_store_archive_prefs_set(st, "old@example.org", &p), 0);
    vn_store_close(st);

    /* reopening a version-2 database changes nothing */
    fx->st = open_ok(fx);
    assert_schema_latest(fx->st);
    assert_int_equal(raw_count(fx, "SELECT count(*) FROM archive"), 1);

    /* the hook never downgrades and refuses unknown versions */
    vn_store_close(fx->st);
    fx->st = NULL;
    assert_int_equal(vn_store_create_at_version(fx->dir, 1, &err), 0);
    assert_int_equal(raw_count(fx, "PRAGMA user_version"), vn_store_schema_latest());
    assert_int_equal(vn_store_create_at_version(fx->dir, vn_store_schema_latest() + 1, &err), -1);
    assert_non_null(err);
    free(err);
}

/* Migration 6 gives the existing pubsub service nodes a creator (one of
 * their owners) so that they count against the per-account node limit;
 * PEP nodes get none. */
static void test_migrate_pubsub_creator(void **state)
{
    fx_t *fx = *state;
    char *err = NULL;
    assert_int_equal(vn_store_create_at_version(fx->dir, 5, &err), 0);
    sqlite3 *db = raw_open(fx);
    const char *fill =
        "PRAGMA foreign_keys = ON;"
        "INSERT INTO accounts (jid, domain) VALUES ('old@example.org', 'example.org');"
        "INSERT INTO pubsub_nodes (id, service, node, owner) VALUES"
        "  (1, 'pubsub.example.org', 'a', NULL), (2, 'pubsub.example.org', 'b', NULL),"
        "  (3, 'pubsub.example.org', 'orphan', NULL), (4, 'old@example.org', 'pep', "
        "'old@example.org');"
        "INSERT INTO pubsub_affiliations (node_id, jid, affiliation) VALUES"
        "  (1, 'old@example.org', 'owner'), (2, 'old@example.org', 'owner'),"
        "  (2, 'x@example.org', 'publisher'), (4, 'old@example.org', 'owner');";
    assert_int_equal(sqlite3_exec(db, fill, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    fx->st = open_ok(fx);
    assert_schema_latest(fx->st);
    int64_t n = -1;
    assert_int_equal(vn_store_ps_node_count_by(fx->st, "pubsub.example.org", "old@example.org", &n),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(raw_count(fx, "SELECT count(*) FROM pubsub_nodes WHERE creator IS NULL"), 2);
}

/* ------------------------------------------------------------------------ */
/* Account deletion cascades                                                  */
/* ------------------------------------------------------------------------ */

/* Group commit: operations inside a group are individually atomic (a failed
 * one does not undo the others), nothing is visible to another connection
 * before the commit, and everything is after it. */
static void test_group_commit(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    vn_store_t *st = fx->st;
    add_account(st, "alice@example.org");
    assert_int_equal(vn_store_group_begin(st), 0);
    assert_int_equal(vn_store_group_begin(st), -1); /* no nesting */
    int64_t id;
    assert_int_equal(vn_store_offline_push(st, "alice@example.org", "<m1/>", 5, &id), 0);
    vn_roster_item_t it = {.contact = "bob@example.org", .in_roster = 1};
    uint64_t ver;
    /* fails alone: the owner has no account */
    assert_int_equal(vn_store_roster_put(st, "ghost@example.org", &it, &ver), -1);
    assert_int_equal(vn_store_roster_put(st, "alice@example.org", &it, &ver), 0);
    assert_int_equal(vn_store_offline_push(st, "alice@example.org", "<m2/>", 5, &id), 0);
    /* another connection sees nothing yet */
    char *err = NULL;
    vn_store_t *other = open_dir(fx->dir, &err);
    assert_non_null(other);
    int64_t n = -1;
    assert_int_equal(vn_store_offline_count(other, "alice@example.org", &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(vn_store_group_commit(st), 0);
    assert_int_equal(vn_store_group_commit(st), -1); /* not in a group */
    assert_int_equal(vn_store_offline_count(other, "alice@example.org", &n), 0);
    assert_int_equal(n, 2);
    vn_roster_item_t got;
    assert_int_equal(vn_store_roster_get(other, "alice@example.org", "bob@example.org", &got), 0);
    vn_roster_item_free_fields(&got);
    vn_store_close(other);
}

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
    const char *both[] = {"alice@example.org", "bob@example.org"};
    for (int o = 0; o < 2; o++) {
        for (int i = 0; i < 5; i++) {
            char mid[16];
            snprintf(mid, sizeof(mid), "c%d", i);
            arc_append(st, both[o], mid, 100 + i, "x@example.org");
        }
        vn_archive_prefs_t p = {.default_mode = "always", .always = "x@example.org"};
        assert_int_equal(vn_store_archive_prefs_set(st, both[o], &p), 0);
        assert_int_equal(vn_store_block_add(st, both[o], "spam@example.org"), 0);
    }

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
    assert_int_equal(
        raw_count(fx, "SELECT count(*) FROM archive WHERE owner = 'alice@example.org'"), 0);
    assert_int_equal(
        raw_count(fx, "SELECT count(*) FROM archive_prefs WHERE owner = 'alice@example.org'"), 0);
    assert_int_equal(
        raw_count(fx, "SELECT count(*) FROM blocklist WHERE owner = 'alice@example.org'"), 0);
    assert_int_equal(raw_count(fx, "SELECT count(*) FROM archive"), 5);
    assert_int_equal(raw_count(fx, "SELECT count(*) FROM archive_prefs"), 1);
    assert_int_equal(raw_count(fx, "SELECT count(*) FROM blocklist"), 1);

    /* a re-created account starts empty */
    add_account(st, "alice@example.org");
    roster_list_t l = {0};
    assert_int_equal(vn_store_roster_load(st, "alice@example.org", &ver, collect_item, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(ver, 0);
    int64_t n;
    assert_int_equal(vn_store_offline_count(st, "alice@example.org", &n), 0);
    assert_int_equal(n, 0);
    static arc_page_t ap;
    vn_archive_page_t pg;
    vn_archive_query_t q = {.max = 10};
    assert_int_equal(arc_query(st, "alice@example.org", &q, &ap, &pg), 0);
    assert_int_equal(pg.total, 0);
    arc_append(st, "alice@example.org", "c0", 1, "x@example.org"); /* old ids are free again */
    vn_archive_prefs_t gp;
    assert_int_equal(vn_store_archive_prefs_get(st, "alice@example.org", &gp), 1);
    jid_list_t bl = {0};
    assert_int_equal(vn_store_block_list(st, "alice@example.org", collect_jid, &bl), 0);
    assert_int_equal(bl.n, 0);
    assert_int_equal(arc_query(st, "bob@example.org", &q, &ap, &pg), 0);
    assert_int_equal(pg.total, 5);
    arc_page_free(&ap);

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

/* Set by the archive durability tests: the child appends to the archive
 * (ids "d<seq>") instead of queueing offline messages. */
static int g_dur_archive;

/* Child: pushes messages and reports each acknowledged id on fd. With
 * self_kill_at >= 0 it SIGKILLs itself right after that push returns;
 * otherwise it pushes until the parent kills it. Never returns. */
static void dur_child(const char *dir, int fd, int self_kill_at)
{
    char *err = NULL;
    vn_store_t *st = open_dir(dir, &err);
    if (!st) _exit(2);
    for (int64_t i = 0; i < 1000000; i++) {
        char xml[256];
        dur_stanza(xml, sizeof(xml), i);
        int64_t id = 0;
        if (g_dur_archive) {
            char aid[32];
            snprintf(aid, sizeof(aid), "d%lld", (long long)i);
            if (vn_store_archive_append(st, DUR_OWNER, aid, 1000 + i, "peer@example.org", xml,
                                        strlen(xml)) != 0)
                _exit(3);
        } else if (vn_store_offline_push(st, DUR_OWNER, xml, strlen(xml), &id) != 0) {
            _exit(3);
        }
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

/* Archive counterpart of dur_verify: the archive holds the child's appends
 * 0..k in order, k covering every acknowledged one. */
static void dur_verify_archive(fx_t *fx, int64_t (*acks)[2], int n, int64_t min_rows)
{
    fx->st = open_ok(fx);
    static arc_page_t p;
    vn_archive_page_t pg;
    char after[32] = "";
    int64_t k = 0;
    for (int first = 1;; first = 0) {
        vn_archive_query_t q = {.max = 500, .after_id = first ? NULL : after};
        assert_int_equal(arc_query(fx->st, DUR_OWNER, &q, &p, &pg), 0);
        for (int i = 0; i < p.n; i++, k++) {
            char want[256], id[32];
            dur_stanza(want, sizeof(want), k);
            snprintf(id, sizeof(id), "d%lld", (long long)k);
            assert_string_equal(p.id[i], id);
            assert_string_equal(p.xml[i], want);
        }
        if (pg.complete) break;
        snprintf(after, sizeof(after), "%s", p.id[p.n - 1]);
    }
    arc_page_free(&p);
    assert_int_equal(pg.total, k);
    assert_true(k >= min_rows);
    for (int j = 0; j < n; j++)
        assert_true(acks[j][1] < k);
}

static void test_archive_durability(void **state)
{
    fx_t *fx = *state;
    fx->st = open_ok(fx);
    add_account(fx->st, DUR_OWNER);
    vn_store_close(fx->st);
    fx->st = NULL;
    g_dur_archive = 1;

    static int64_t acks[2048][2];
    const int kill_at = 300;
    int n = dur_run(fx, kill_at, 0, acks, 2048);
    assert_int_equal(n, kill_at);
    dur_verify_archive(fx, acks, n, kill_at + 1); /* #300 returned success */

    /* then killed from outside at different points; emptied in between */
    for (int round = 0; round < 3; round++) {
        int64_t deleted;
        assert_int_equal(vn_store_archive_expire(fx->st, INT64_MAX, &deleted), 0);
        vn_store_close(fx->st);
        fx->st = NULL;
        n = dur_run(fx, -1, 100 + 89 * round, acks, 2048);
        assert_true(n >= 100 + 89 * round);
        dur_verify_archive(fx, acks, n, n);
    }
    g_dur_archive = 0;
}

int main(void)
{
    vn_log_set_level(VN_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_private_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_twice_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_future_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backend_from_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_reentry_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roster_put_get_load_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roster_pending_in_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roster_owners_are_separate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roster_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_pubsub_creator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_clock_step_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_paging_3000, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_unknown_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_plans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_prefs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocklist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_account_cascades, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durability_self_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durability_killed_mid_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_durability, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

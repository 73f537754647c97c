/* A store in a fresh temporary directory for the per-area storage tests
 * (test_store_profile.c, test_store_pubsub.c, test_store_muc.c): setup,
 * teardown, reopen and account creation, written once. Include after
 * <cmocka.h>. */
#ifndef VN_TESTS_STORE_FIXTURE_H
#define VN_TESTS_STORE_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

typedef struct {
    char tmp[64];
    char dir[128];
    vn_store_t *st;
} fx_t;

static inline vn_store_t *fx_open(fx_t *fx)
{
    char *err = NULL;
    vn_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.data_dir = fx->dir; /* and the default backend */
    vn_store_t *st = vn_store_open(&cfg, &err);
    if (!st) fprintf(stderr, "open: %s\n", err ? err : "?");
    free(err);
    assert_non_null(st);
    return st;
}

static inline void fx_reopen(fx_t *fx)
{
    vn_store_close(fx->st);
    fx->st = fx_open(fx);
}

static inline void fx_add_account(vn_store_t *st, const char *jid)
{
    vn_account_t a;
    memset(&a, 0, sizeof(a));
    snprintf(a.jid, sizeof(a.jid), "%s", jid);
    for (int h = 0; h < VN_STORE_CRED_SLOTS; h++) {
        a.cred[h].salt_len = 16;
        a.cred[h].iterations = 4096;
        a.cred[h].key_len = 32;
    }
    assert_int_equal(vn_store_account_create(st, &a), 0);
}

/* A new store under /tmp/<prefix>-XXXXXX/data with the given accounts
 * (NULL-terminated, may be NULL). */
static inline int fx_setup(void **state, const char *prefix, const char *const *accounts)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    if (!fx) return -1;
    snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/%s-XXXXXX", prefix);
    if (!mkdtemp(fx->tmp)) {
        free(fx);
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "%s/data", fx->tmp);
    fx->st = fx_open(fx);
    for (const char *const *a = accounts; a && *a; a++)
        fx_add_account(fx->st, *a);
    *state = fx;
    return 0;
}

static int fx_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static inline int fx_teardown(void **state)
{
    fx_t *fx = *state;
    if (fx->st) vn_store_close(fx->st);
    nftw(fx->tmp, fx_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

#endif

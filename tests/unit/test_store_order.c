/* Unit tests for the order of storage jobs that xmpp/server.h promises
 * (vn_store_submit_ordered, vn_store_barrier), on a real store, storage
 * pool (one thread, group commit as vestnikd sets it up) and event loop.
 *
 * The promises, not the implementation, are checked: jobs of one owner run
 * and complete in submission order and see each other's writes; a barrier
 * on an owner completes after that owner's earlier jobs; a barrier without
 * owner completes after every earlier job, and what they wrote is then
 * committed (seen from a second connection, as after kill -9). */
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
#include "core/loop.h"
#include "core/workpool.h"
#include "store/store.h"
#include "xmpp/server.h"

#define NOWNERS 3
#define ROUNDS 300

static const char *const k_owners[NOWNERS] = {"a@example.org", "b@example.org", "в@пример.рф"};

enum { PUSH, COUNT, BARRIER, BARRIER_ALL, UNORDERED };

typedef struct job {
    vn_work_t work;
    int kind;
    int owner;      /* index into k_owners; -1 for BARRIER_ALL */
    int seq;        /* submission order, over all jobs */
    int64_t before; /* PUSH / COUNT / BARRIER: this owner's pushes submitted before it;
                     * BARRIER_ALL: every push submitted before it */
    int owner_jobs; /* this owner's ordered jobs submitted before it */
    int all_jobs;   /* jobs submitted before it */
    int64_t seen;   /* COUNT: the queue length the job saw */
    int rc;
    int done;
} job_t;

static struct {
    vn_server_t srv;
    char tmp[64], dir[128];
    job_t *jobs;
    int njobs, ndone;
    int last_seq[NOWNERS]; /* seq of the owner's last ordered job done */
    int done_of[NOWNERS];  /* the owner's ordered jobs done */
    int64_t pushes_done;
    int barriers_checked;
    vn_timer_t guard;
} g;

static void job_work(vn_work_t *w)
{
    job_t *j = (job_t *)w;
    vn_store_t *st = vn_store_of(w);
    const char *owner = k_owners[j->owner];
    char xml[64];
    switch (j->kind) {
    case PUSH:
        snprintf(xml, sizeof(xml), "<message id='%d'/>", j->seq);
        j->rc = vn_store_offline_push(st, owner, xml, strlen(xml), NULL);
        break;
    case COUNT:
    case UNORDERED:
        j->rc = vn_store_offline_count(st, owner, &j->seen);
        break;
    }
}

static void check_order(job_t *j)
{
    /* Ordered jobs of one owner complete in submission order, after every
     * ordered job of that owner submitted before them. */
    assert_true(j->seq > g.last_seq[j->owner]);
    assert_int_equal(g.done_of[j->owner], j->owner_jobs);
    g.last_seq[j->owner] = j->seq;
    g.done_of[j->owner]++;
}

static void job_done(vn_work_t *w)
{
    job_t *j = (job_t *)w;
    switch (j->kind) {
    case PUSH:
        assert_int_equal(j->rc, VN_STORE_OK);
        check_order(j);
        g.pushes_done++;
        break;
    case COUNT:
        /* It saw exactly the pushes of its owner submitted before it. */
        assert_int_equal(j->rc, VN_STORE_OK);
        assert_int_equal(j->seen, j->before);
        check_order(j);
        break;
    case UNORDERED:
        assert_int_equal(j->rc, VN_STORE_OK); /* no order promised */
        break;
    case BARRIER:
        /* Every ordered job of its owner submitted before it is done. */
        assert_true(g.done_of[j->owner] >= j->owner_jobs);
        for (int i = 0; i < j->seq; i++)
            if (g.jobs[i].owner == j->owner && (g.jobs[i].kind == PUSH || g.jobs[i].kind == COUNT))
                assert_true(g.jobs[i].done);
        g.barriers_checked++;
        break;
    case BARRIER_ALL: {
        /* Every job submitted before it is done, of any owner and kind. */
        for (int i = 0; i < j->seq; i++)
            assert_true(g.jobs[i].done);
        assert_true(g.pushes_done >= j->before);
        /* Committed: another connection sees every push before it. */
        vn_config_t cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.data_dir = g.dir;
        char *err = NULL;
        vn_store_t *other = vn_store_open(&cfg, &err);
        assert_non_null(other);
        int64_t total = 0;
        for (int o = 0; o < NOWNERS; o++) {
            int64_t n = 0;
            assert_int_equal(vn_store_offline_count(other, k_owners[o], &n), VN_STORE_OK);
            total += n;
        }
        vn_store_close(other);
        assert_true(total >= j->before);
        g.barriers_checked++;
        break;
    }
    }
    j->done = 1;
    if (++g.ndone == g.njobs) vn_loop_stop(g.srv.loop);
}

static job_t *add(int kind, int owner)
{
    job_t *j = &g.jobs[g.njobs];
    memset(j, 0, sizeof(*j));
    j->kind = kind;
    j->owner = owner;
    j->seq = g.njobs++;
    return j;
}

static void on_guard(vn_timer_t *t)
{
    (void)t;
    fail_msg("storage jobs did not complete: %d of %d", g.ndone, g.njobs);
}

static int store_group_begin(void *ud)
{
    return vn_store_group_begin(ud);
}

static int store_group_commit(void *ud)
{
    return vn_store_group_commit(ud);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void test_order_per_owner_and_barriers(void **state)
{
    (void)state;
    memset(&g, 0, sizeof(g));
    snprintf(g.tmp, sizeof(g.tmp), "/tmp/vn-store-order-XXXXXX");
    assert_non_null(mkdtemp(g.tmp));
    snprintf(g.dir, sizeof(g.dir), "%s/data", g.tmp);
    vn_server_t *srv = &g.srv;
    srv->cfg.data_dir = g.dir;
    char *err = NULL;
    srv->store = vn_store_open(&srv->cfg, &err);
    assert_non_null(srv->store);
    for (int o = 0; o < NOWNERS; o++) {
        vn_account_t a;
        memset(&a, 0, sizeof(a));
        snprintf(a.jid, sizeof(a.jid), "%s", k_owners[o]);
        assert_int_equal(vn_store_account_create(srv->store, &a), VN_STORE_OK);
    }
    srv->loop = vn_loop_new();
    srv->store_pool = vn_pool_new(srv->loop, 1, "t-store");
    vn_pool_set_batch(srv->store_pool, store_group_begin, store_group_commit, srv->store, 64);

    /* A fixed interleaving of owners and kinds (a small LCG), every job
     * submitted at once so that many wait in the queue together. */
    g.jobs = calloc(ROUNDS * 8, sizeof(job_t));
    assert_non_null(g.jobs);
    int64_t pushes[NOWNERS] = {0}, all_pushes = 0;
    int ordered[NOWNERS] = {0};
    for (int o = 0; o < NOWNERS; o++)
        g.last_seq[o] = -1;
    uint32_t x = 12345;
    for (int i = 0; i < ROUNDS; i++) {
        x = x * 1103515245u + 12345u;
        int o = (int)((x >> 16) % NOWNERS);
        int r = (int)((x >> 8) % 16);
        job_t *j;
        if (r < 9) {
            j = add(PUSH, o);
            j->before = pushes[o]++;
            all_pushes++;
        } else if (r < 12) {
            j = add(COUNT, o);
            j->before = pushes[o];
        } else if (r < 13) {
            j = add(UNORDERED, o);
            vn_store_submit(srv, &j->work, job_work, job_done);
            continue;
        } else if (r < 15) {
            j = add(BARRIER, o);
            j->owner_jobs = ordered[o];
            vn_store_barrier(srv, k_owners[o], &j->work, job_done);
            continue;
        } else {
            j = add(BARRIER_ALL, -1);
            j->all_jobs = g.njobs - 1;
            j->before = all_pushes;
            vn_store_barrier(srv, NULL, &j->work, job_done);
            continue;
        }
        j->owner_jobs = ordered[o]++;
        vn_store_submit_ordered(srv, k_owners[o], &j->work, job_work, job_done);
    }
    /* and one barrier over everything at the end */
    job_t *last = add(BARRIER_ALL, -1);
    last->all_jobs = g.njobs - 1;
    last->before = all_pushes;
    vn_store_barrier(srv, NULL, &last->work, job_done);

    vn_timer_start(srv->loop, &g.guard, 30000, on_guard);
    vn_loop_run(srv->loop);
    vn_timer_stop(srv->loop, &g.guard);
    assert_int_equal(g.ndone, g.njobs);
    assert_true(g.barriers_checked > ROUNDS / 16);
    for (int o = 0; o < NOWNERS; o++) {
        int64_t n = -1;
        assert_int_equal(vn_store_offline_count(srv->store, k_owners[o], &n), VN_STORE_OK);
        assert_int_equal(n, pushes[o]);
    }

    vn_pool_free(srv->store_pool);
    vn_store_close(srv->store);
    vn_loop_free(srv->loop);
    free(g.jobs);
    nftw(g.tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    vn_log_set_level(VN_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_per_owner_and_barriers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

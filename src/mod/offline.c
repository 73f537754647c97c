/* Offline messages (RFC 6121 §8.5.2.2.1, XEP-0160): a message for an
 * account with no available resource is stored durably, with a XEP-0203
 * delay stamp, and delivered in arrival order at the next available
 * presence with a non-negative priority. A message for an account that does
 * not exist is answered with <service-unavailable/>.
 *
 * Every storage job here is an ordered job of the queue's owner
 * (xmpp/server.h): a message stored before the presence that flushes the
 * queue is in the flush, and the flush's delete comes after its read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "mod/roster.h"
#include "xmpp/router.h"

#define NS_DELAY "urn:xmpp:delay"
#define NS_OFFLINE "msgoffline"

typedef struct store_job {
    vn_work_t work;
    vn_server_t *srv;
    char *owner;
    char *xml;
    size_t len;
    int max;
    int rc;                /* 0 stored, 1 no such account, 2 queue full, -1 error */
    vn_stanza_t *original; /* for the error reply */
} store_job_t;

static void store_work(vn_work_t *w)
{
    store_job_t *j = (store_job_t *)w;
    vn_store_t *st = vn_store_of(w);
    vn_account_t acct;
    int r = vn_store_account_get(st, j->owner, &acct);
    if (r != 0) {
        j->rc = r;
        return;
    }
    int64_t count = 0;
    if (vn_store_offline_count(st, j->owner, &count) < 0) {
        j->rc = -1;
        return;
    }
    if (count >= j->max) {
        j->rc = 2;
        return;
    }
    int64_t id;
    j->rc = vn_store_offline_push(st, j->owner, j->xml, j->len, &id) < 0 ? -1 : 0;
}

static void store_done(vn_work_t *w)
{
    store_job_t *j = (store_job_t *)w;
    if (j->rc == 1)
        vn_route_error(j->srv, j->original, "cancel", "service-unavailable", NULL);
    else if (j->rc == 2)
        vn_route_error(j->srv, j->original, "cancel", "service-unavailable",
                       "offline storage is full");
    else if (j->rc < 0)
        vn_route_error(j->srv, j->original, "wait", "internal-server-error", NULL);
    vn_stanza_free(j->original);
    free(j->owner);
    free(j->xml);
    free(j);
}

static vn_result_t on_undeliverable(vn_server_t *srv, void *ctx)
{
    vn_stanza_t *st = ctx;
    if (st->kind != VN_MESSAGE) return VN_PASS;
    /* RFC 6121 §8.5.2.2.1: only normal and chat messages are stored. */
    if (strcmp(st->type, "") && strcmp(st->type, "normal") && strcmp(st->type, "chat"))
        return VN_PASS;
    store_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->srv = srv;
    j->owner = vn_xmalloc(strlen(st->to.local) + strlen(st->to.domain) + 2);
    sprintf(j->owner, "%s@%s", st->to.local, st->to.domain);
    /* Stanzas that stream management hands over were accepted and counted
     * as delivered once; bouncing them now would lose them. Their number is
     * bounded by [c2s] max_unacked. */
    j->max = st->redelivery ? INT32_MAX : srv->cfg.max_offline;
    j->original = stanza_clone(st);
    /* XEP-0203: when and by whom the message was delayed. */
    vn_stanza_t *copy = stanza_clone(st);
    vn_xnode_t *d = vn_xnode_add(copy->arena, copy->node, NS_DELAY, "delay");
    vn_xnode_set_attr(copy->arena, d, "from", vn_arena_strdup(copy->arena, st->to.domain));
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    vn_xnode_set_attr(copy->arena, d, "stamp", vn_arena_strdup(copy->arena, stamp));
    vn_xnode_add_text(copy->arena, d, "Offline Storage", 15);
    vn_buf_t b = VN_BUF_INIT;
    vn_xnode_serialize(copy->node, VN_NS_CLIENT, &b);
    j->xml = b.data;
    j->len = b.len;
    vn_stanza_free(copy);
    vn_store_submit_ordered(srv, j->owner, &j->work, store_work, store_done);
    return VN_HANDLED;
}

/* ---- delivery at available presence ---- */

typedef struct flush_job {
    vn_work_t work;
    vn_session_t *s;
    char *owner;
    vn_buf_t out; /* the stored stanzas, concatenated */
    int64_t last_id;
    int count;
    int deleting;
    int rc;
} flush_job_t;

static void collect(int64_t id, const char *xml, size_t len, void *ud)
{
    flush_job_t *j = ud;
    vn_stanza_list_append(&j->out, xml, len);
    j->last_id = id;
    j->count++;
}

static void load_work(vn_work_t *w)
{
    flush_job_t *j = (flush_job_t *)w;
    /* Work functions may run twice (a failed group commit is redone). */
    vn_buf_reset(&j->out);
    j->count = 0;
    j->last_id = 0;
    j->rc = vn_store_offline_load(vn_store_of(w), j->owner, collect, j);
}

static void delete_work(vn_work_t *w)
{
    flush_job_t *j = (flush_job_t *)w;
    j->rc = vn_store_offline_delete(vn_store_of(w), j->owner, j->last_id);
}

static void flush_free(flush_job_t *j)
{
    vn_session_unref(j->s);
    vn_buf_free(&j->out);
    free(j->owner);
    free(j);
}

static void delete_done(vn_work_t *w)
{
    flush_free((flush_job_t *)w);
}

static void load_done(vn_work_t *w)
{
    flush_job_t *j = (flush_job_t *)w;
    vn_session_t *s = j->s;
    if (!vn_session_alive(s) || j->rc < 0 || j->count == 0) {
        if (vn_session_alive(s)) vn_session_release_output(s);
        flush_free(j);
        return;
    }
    /* Stored messages first, then whatever arrived meanwhile (held). */
    vn_session_release_output_after(s, &j->out);
    vn_info("delivered %d offline message(s) to %s", j->count, s->full);
    /* Delivered to the socket: remove them. (Stream management will move
     * this to the client's acknowledgement.) */
    vn_buf_free(&j->out);
    vn_store_submit_ordered(s->srv, j->owner, &j->work, delete_work, delete_done);
}

static vn_result_t on_available(vn_server_t *srv, void *ctx)
{
    vn_session_t *s = ctx;
    if (s->priority < 0) return VN_PASS;
    flush_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->s = s;
    vn_session_ref(s);
    j->owner = vn_xstrdup(s->bare);
    vn_session_hold_output(s);
    vn_store_submit_ordered(srv, j->owner, &j->work, load_work, load_done);
    return VN_PASS;
}

static const char *const features[] = {NS_OFFLINE, NULL};
static const vn_hook_t hooks[] = {
    {VN_HOOK_UNDELIVERABLE, on_undeliverable, 0},
    {VN_HOOK_AVAILABLE, on_available, 0},
    {VN_HOOK_COUNT, NULL, 0},
};

const vn_module_t vn_mod_offline = {
    .name = "offline",
    .features = features,
    .hooks = hooks,
};

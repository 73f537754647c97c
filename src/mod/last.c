/* XEP-0012: Last Activity (jabber:iq:last).
 *
 * To the server (§5): seconds since the server started (its uptime).
 * To an account's bare JID (§4, the server answers for it): 0 while the
 * account has an available resource, else the seconds since its last
 * available resource went offline with the status it left with. Only the
 * account itself and contacts allowed to see its presence (a subscription
 * 'from' or 'both', RFC 6121 §3) may ask; others get <forbidden/>, also
 * for an account that does not exist (nobody has a subscription to it; the
 * answer does not tell strangers which accounts exist). An account with
 * nothing recorded yet gets <item-not-found/>. A full JID goes to
 * the resource itself (the router delivers it), as §3 wants.
 *
 * What is recorded: when an account's last available session sends
 * unavailable presence (with its <status/>) or ends without it, the time
 * and the status are written to storage (store_activity.h), so the answer
 * survives restarts. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"
#include "mod/roster.h"
#include "store/store_activity.h"
#include "xmpp/router.h"

#define NS_LAST "jabber:iq:last"
#define STATUS_MAX 1024 /* bytes of status text kept */

static struct timespec started;

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void answer(vn_server_t *srv, vn_stanza_t *st, int64_t seconds, const char *status)
{
    vn_stanza_t *r = vn_stanza_iq_result(st);
    vn_xnode_t *q = vn_xnode_add(r->arena, r->node, NS_LAST, "query");
    vn_xnode_set_attr(r->arena, q, "seconds",
                      vn_arena_printf(r->arena, "%lld", (long long)(seconds < 0 ? 0 : seconds)));
    if (status && *status) vn_xnode_add_text(r->arena, q, status, strlen(status));
    vn_route(srv, r);
}

/* ---- recording ---- */

typedef struct record_job {
    vn_work_t work;
    char *owner, *status;
    int64_t ts;
} record_job_t;

static void record_work(vn_work_t *w)
{
    record_job_t *j = (record_job_t *)w;
    vn_store_last_set(vn_store_of(w), j->owner, j->ts, j->status);
}

static void record_done(vn_work_t *w)
{
    record_job_t *j = (record_job_t *)w;
    free(j->owner);
    free(j->status);
    free(j);
}

/* Is s the last available session of its account? */
static int last_available(const vn_session_t *s)
{
    if (!s->available || !s->user || !s->bare) return 0;
    for (const vn_session_t *o = s->user->sessions; o; o = o->next_of_user)
        if (o != s && o->available) return 0;
    return 1;
}

static void record(vn_server_t *srv, const vn_session_t *s, const char *status)
{
    record_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->owner = vn_xstrdup(s->bare);
    size_t n = status ? strlen(status) : 0;
    if (n > STATUS_MAX) { /* cut at a UTF-8 character boundary */
        n = STATUS_MAX;
        while (n > 0 && ((unsigned char)status[n] & 0xC0) == 0x80)
            n--;
    }
    j->status = vn_xstrndup(status ? status : "", n);
    j->ts = now_s();
    /* Ordered under the account: a query submitted after this logout (also
     * ordered under it) reads what it wrote, and two logouts in a row keep
     * the later one (server.h). */
    vn_store_submit_ordered(srv, j->owner, &j->work, record_work, record_done);
}

/* Broadcast unavailable presence (RFC 6121 §4.5.1) from the account's last
 * available session. Runs before the presence module, which clears
 * s->available. */
static vn_result_t on_from_client(vn_server_t *srv, void *ctx)
{
    vn_stanza_t *st = ctx;
    if (st->kind != VN_PRESENCE || strcmp(st->type, "unavailable") != 0 || st->to.domain ||
        !st->origin || !last_available(st->origin))
        return VN_PASS;
    vn_xnode_t *status = vn_xnode_child(st->node, VN_NS_CLIENT, "status");
    record(srv, st->origin, status ? vn_xnode_text(st->arena, status) : NULL);
    return VN_PASS;
}

/* A session that ends while available (no unavailable sent: a lost
 * connection, a shutdown). Runs before the presence module's end. */
static vn_result_t on_session_end(vn_server_t *srv, void *ctx)
{
    vn_session_t *s = ctx;
    if (last_available(s)) record(srv, s, NULL);
    return VN_PASS;
}

/* ---- queries ---- */

typedef struct query_job {
    vn_work_t work;
    vn_server_t *srv;
    vn_stanza_t *req; /* owned copy */
    char *owner, *asker;
    int check_roster; /* the asker's subscription is read from storage */
    /* results */
    int allowed, rc; /* rc: vn_store_last_get's */
    int64_t ts;
    char *status;
} query_job_t;

static void query_work(vn_work_t *w)
{
    query_job_t *j = (query_job_t *)w;
    vn_store_t *st = vn_store_of(w);
    free(j->status);
    j->status = NULL;
    j->rc = VN_STORE_NOT_FOUND;
    if (j->check_roster) {
        vn_roster_item_t it;
        j->allowed = 0;
        if (vn_store_roster_get(st, j->owner, j->asker, &it) == 0) {
            j->allowed = roster_has_from(&it);
            vn_roster_item_free_fields(&it);
        }
        if (!j->allowed) return;
    }
    j->rc = vn_store_last_get(st, j->owner, &j->ts, &j->status);
}

static void query_done(vn_work_t *w)
{
    query_job_t *j = (query_job_t *)w;
    if (!j->allowed)
        vn_route_error(j->srv, j->req, "auth", "forbidden", NULL);
    else if (j->rc < 0)
        vn_route_error(j->srv, j->req, "wait", "internal-server-error", NULL);
    else if (j->rc == VN_STORE_NOT_FOUND)
        vn_route_error(j->srv, j->req, "cancel", "item-not-found", "no last activity recorded");
    else
        answer(j->srv, j->req, now_s() - j->ts, j->status);
    vn_stanza_free(j->req);
    free(j->owner);
    free(j->asker);
    free(j->status);
    free(j);
}

static vn_result_t on_last(vn_server_t *srv, vn_stanza_t *st)
{
    if (!st->to.local) { /* §5: the server's uptime */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        answer(srv, st, (int64_t)(now.tv_sec - started.tv_sec), NULL);
        return VN_HANDLED;
    }
    char *owner = vn_arena_printf(st->arena, "%s@%s", st->to.local, st->to.domain);
    char *asker = st->from.local
                      ? vn_arena_printf(st->arena, "%s@%s", st->from.local, st->from.domain)
                      : NULL;
    int self = asker && !strcmp(asker, owner);
    vn_user_t *u = vn_router_user(srv, owner);
    roster_t *r = u ? roster_of(u) : NULL;
    int allowed = self;
    if (!allowed && asker && r) allowed = roster_has_from(roster_find(r, asker));
    if (u && (self || r)) {
        /* Online: the roster in memory says who may ask. */
        if (!allowed) {
            vn_route_error(srv, st, "auth", "forbidden", NULL);
            return VN_HANDLED;
        }
        for (vn_session_t *s = u->sessions; s; s = s->next_of_user)
            if (s->available) { /* §4: an available resource: 0 seconds */
                answer(srv, st, 0, NULL);
                return VN_HANDLED;
            }
    } else if (!asker) {
        vn_route_error(srv, st, "auth", "forbidden", NULL);
        return VN_HANDLED;
    }
    query_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->srv = srv;
    j->req = stanza_clone(st);
    j->owner = vn_xstrdup(owner);
    j->asker = asker ? vn_xstrdup(asker) : NULL;
    j->allowed = allowed;
    j->check_roster = !allowed;
    /* After every recorded logout of the account (ordered under it too). */
    vn_store_submit_ordered(srv, j->owner, &j->work, query_work, query_done);
    return VN_HANDLED;
}

static int init(vn_server_t *srv)
{
    (void)srv;
    clock_gettime(CLOCK_MONOTONIC, &started);
    return 0;
}

static const char *const features[] = {NS_LAST, NULL};
static const vn_iq_handler_t iq[] = {
    {"get", NS_LAST, VN_TARGET_SERVER | VN_TARGET_ACCOUNT, on_last},
    {NULL, NULL, 0, NULL},
};
static const vn_hook_t hooks[] = {
    {VN_HOOK_FROM_CLIENT, on_from_client, 10},
    {VN_HOOK_SESSION_END, on_session_end, 10},
    {VN_HOOK_COUNT, NULL, 0},
};

const vn_module_t vn_mod_last = {
    .name = "last",
    .features = features,
    .account_features = features,
    .iq = iq,
    .hooks = hooks,
    .init = init,
};

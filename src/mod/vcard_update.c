/* XEP-0153: vCard-Based Avatars, the server's part.
 *
 * The server knows the SHA-1 of each account's vCard PHOTO (vcard.c keeps
 * it next to the vCard). It is loaded before the first bind result of a
 * user and kept in a user slot. Every available presence a client of the
 * account sends gets exactly one <x xmlns='vcard-temp:x:update'/> with the
 * server's <photo/> (XEP-0398 §5: the server, which knows the avatar, puts
 * the hash in; an empty <photo/> says there is none). This also covers a
 * client that is "not ready" (§4.2, <x/> without <photo/>) and one that
 * knows nothing of avatars.
 *
 * When the hash changes (a vCard set, or an avatar published with
 * XEP-0084, see avatar_sync.c), each available resource's last broadcast
 * presence goes out again with the new hash (§4.3: contacts learn of the
 * new avatar from presence). For that the same slot index keeps, per
 * session, the last broadcast presence, serialised. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "mod/profile.h"
#include "store/store_profile.h"
#include "xmpp/router.h"

typedef struct photo_state {
    char *hash; /* "" none; NULL until loaded (or when it could not be) */
    int loaded;
    vn_session_t **waiting; /* binds waiting for the load */
    int nwaiting;
} photo_state_t;

/* vn_user_t.slot: photo_state_t*; vn_session_t.slot: char* (last
 * broadcast available presence, serialised). */
static int slot = -1;
/* A presence this module is sending again: the rewrite is already done. */
static const vn_stanza_t *replaying;

static void state_free(photo_state_t *ps)
{
    if (!ps) return;
    for (int i = 0; i < ps->nwaiting; i++)
        vn_session_unref(ps->waiting[i]);
    free(ps->waiting);
    free(ps->hash);
    free(ps);
}

/* ---- loading at bind ---- */

typedef struct load_job {
    vn_work_t work;
    vn_server_t *srv;
    char *owner;
    char *hash;
    int rc;
} load_job_t;

static void load_work(vn_work_t *w)
{
    load_job_t *j = (load_job_t *)w;
    free(j->hash);
    j->rc = vn_store_vcard_get(vn_store_of(w), j->owner, NULL, &j->hash);
}

static void load_done(vn_work_t *w)
{
    load_job_t *j = (load_job_t *)w;
    vn_user_t *u = vn_router_user(j->srv, j->owner);
    photo_state_t *ps = u ? u->slot[slot] : NULL;
    if (ps && !ps->loaded) {
        if (j->rc < 0) vn_error("vcard-update: photo hash of %s could not be read", j->owner);
        /* Unknown (NULL) after an error: presence is then left as the
         * client sent it until the next vCard change. */
        if (j->rc >= 0) {
            ps->hash = j->hash ? j->hash : vn_xstrdup("");
            j->hash = NULL;
        }
        ps->loaded = 1;
        vn_session_t **waiting = ps->waiting;
        int n = ps->nwaiting;
        ps->waiting = NULL;
        ps->nwaiting = 0;
        for (int i = 0; i < n; i++) {
            vn_session_bind_done(waiting[i]);
            vn_session_unref(waiting[i]);
        }
        free(waiting);
    }
    free(j->hash);
    free(j->owner);
    free(j);
}

static vn_result_t on_bind(vn_server_t *srv, void *ctx)
{
    vn_session_t *s = ctx;
    vn_user_t *u = s->user;
    photo_state_t *ps = u->slot[slot];
    if (ps && ps->loaded) return VN_PASS;
    if (!ps) {
        ps = vn_xcalloc(1, sizeof(*ps));
        u->slot[slot] = ps;
        load_job_t *j = vn_xcalloc(1, sizeof(*j));
        j->srv = srv;
        j->owner = vn_xstrdup(u->bare);
        vn_store_submit_ordered(srv, j->owner, &j->work, load_work, load_done);
    }
    ps->waiting = vn_xrealloc(ps->waiting, sizeof(*ps->waiting) * (size_t)(ps->nwaiting + 1));
    ps->waiting[ps->nwaiting++] = s;
    vn_session_ref(s);
    return VN_HOLD;
}

static vn_result_t on_user_gone(vn_server_t *srv, void *ctx)
{
    (void)srv;
    vn_user_t *u = ctx;
    state_free(u->slot[slot]);
    u->slot[slot] = NULL;
    return VN_PASS;
}

static vn_result_t on_session_end(vn_server_t *srv, void *ctx)
{
    (void)srv;
    vn_session_t *s = ctx;
    free(s->slot[slot]);
    s->slot[slot] = NULL;
    return VN_PASS;
}

/* ---- presence ---- */

/* Replaces every vcard-temp:x:update child by one with the known hash. */
static void rewrite(vn_arena_t *a, vn_xnode_t *pres, const char *hash)
{
    vn_xnode_t *prev = NULL;
    for (vn_xnode_t *c = pres->children; c;) {
        vn_xnode_t *next = c->next;
        if (c->name && c->ns && !strcmp(c->ns, VN_NS_VCARD_UPDATE) && !strcmp(c->name, "x")) {
            if (prev)
                prev->next = next;
            else
                pres->children = next;
            if (pres->last_child == c) pres->last_child = prev;
        } else {
            prev = c;
        }
        c = next;
    }
    vn_xnode_t *x = vn_xnode_add(a, pres, VN_NS_VCARD_UPDATE, "x");
    vn_xnode_t *ph = vn_xnode_add(a, x, VN_NS_VCARD_UPDATE, "photo");
    if (hash[0]) vn_xnode_add_text(a, ph, hash, strlen(hash));
}

static vn_result_t from_client(vn_server_t *srv, void *ctx)
{
    (void)srv;
    vn_stanza_t *st = ctx;
    vn_session_t *s = st->origin;
    if (st->kind != VN_PRESENCE || st->type[0] || st == replaying || !s || !s->user) return VN_PASS;
    photo_state_t *ps = s->user->slot[slot];
    if (!ps || !ps->hash) return VN_PASS;
    rewrite(st->arena, st->node, ps->hash);
    if (!st->to.domain) {
        /* A broadcast: remember it for a later hash change. */
        free(s->slot[slot]);
        s->slot[slot] = vn_profile_serialize(st->node, NULL);
    }
    return VN_PASS;
}

static void resend(vn_server_t *srv, vn_session_t *s, const char *hash)
{
    const char *xml = s->slot[slot];
    if (!xml || !s->available || s->state != VN_SS_READY) return;
    vn_stanza_t *st = vn_stanza_new("presence");
    vn_xnode_t *n = vn_profile_parse(st->arena, xml, strlen(xml));
    if (!n) {
        vn_stanza_free(st);
        return;
    }
    rewrite(st->arena, n, hash);
    free(s->slot[slot]);
    s->slot[slot] = vn_profile_serialize(n, NULL);
    st->node = n;
    st->kind = VN_PRESENCE;
    st->type = "";
    vn_xnode_set_attr(st->arena, n, "to", NULL);
    vn_stanza_set_from(st, &s->jid);
    st->origin = s;
    /* As if the client had sent it again (presence.c broadcasts it and
     * keeps it as the session's current presence). */
    const vn_stanza_t *saved = replaying;
    replaying = st;
    if (vn_hook_run(srv, VN_HOOK_FROM_CLIENT, st) == VN_PASS) vn_route(srv, st);
    replaying = saved;
    vn_stanza_free(st);
}

static int visit_resend(vn_server_t *srv, vn_session_t *s, void *hash)
{
    resend(srv, s, hash);
    return 0;
}

static void on_photo(vn_server_t *srv, const vn_photo_event_t *ev)
{
    vn_user_t *u = vn_router_user(srv, ev->owner);
    photo_state_t *ps = u ? u->slot[slot] : NULL;
    if (!ps || !ps->loaded) return;
    if (ps->hash && !strcmp(ps->hash, ev->hash)) return;
    free(ps->hash);
    ps->hash = vn_xstrdup(ev->hash);
    vn_debug("vcard-update: %s has a new photo hash '%s'", ev->owner, ev->hash);
    vn_router_each_session(srv, u, visit_resend, ps->hash);
}

static int init(vn_server_t *srv)
{
    (void)srv;
    slot = vn_slot_alloc();
    replaying = NULL;
    vn_vcard_observe(on_photo);
    return 0;
}

static const vn_hook_t hooks[] = {
    {VN_HOOK_BIND, on_bind, 0},
    {VN_HOOK_USER_GONE, on_user_gone, -100},
    {VN_HOOK_SESSION_END, on_session_end, -100},
    /* After blocking's refusals, before presence.c broadcasts. */
    {VN_HOOK_FROM_CLIENT, from_client, 10},
    {VN_HOOK_COUNT, NULL, 0},
};

const vn_module_t vn_mod_vcard_update = {
    .name = "vcard_update",
    .hooks = hooks,
    .init = init,
};

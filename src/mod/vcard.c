/* XEP-0054: vcard-temp.
 *
 * One vCard per account, stored serialised (store_profile.h) and replaced
 * whole by a set (§3.2). Any entity may read an account's vCard (§3.3: it
 * is a public profile). Decisions where the XEP leaves a choice (§3.1,
 * §3.3):
 *   - the account itself asking for a vCard it never stored gets an empty
 *     <vCard/> (clients then open an empty editor instead of an error);
 *   - anyone else gets <item-not-found/> both when the account has no vCard
 *     and when there is no such account (one answer for both, so that the
 *     vCard service reveals nothing about which accounts exist);
 *   - a set addressed to another account is <forbidden/>;
 *   - a vCard larger than [profile] vcard_max_size is <not-acceptable/>,
 *     a PHOTO BINVAL that is not base64 is <bad-request/>.
 *
 * The SHA-1 of the PHOTO (XEP-0153 §4.3) is computed when a vCard is stored
 * and kept next to it; when it changes, the observers registered with
 * vn_vcard_observe() learn it (presence hashes, XEP-0398 conversion).
 *
 * Storage jobs are ordered jobs of the account (xmpp/server.h): a get sees
 * every set submitted before it, and the photo's compare-and-write runs
 * with no other vCard job of the account in between. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mod/profile.h"
#include "mod/roster.h"
#include "store/store_profile.h"
#include "xmpp/router.h"

#define MAX_OBSERVERS 4

static vn_photo_observer_fn observers[MAX_OBSERVERS];
static int nobservers;
static size_t max_size;

void vn_vcard_observe(vn_photo_observer_fn fn)
{
    if (nobservers < MAX_OBSERVERS) observers[nobservers++] = fn;
}

static void notify(vn_server_t *srv, const vn_photo_event_t *ev)
{
    for (int i = 0; i < nobservers; i++)
        observers[i](srv, ev);
}

/* The PHOTO of a vCard: its TYPE and BINVAL texts (in a), NULL when absent. */
void vn_vcard_photo_of(vn_arena_t *a, const vn_xnode_t *vcard, char **type, char **binval)
{
    *type = *binval = NULL;
    vn_xnode_t *photo = vcard ? vn_xnode_child(vcard, VN_NS_VCARD, "PHOTO") : NULL;
    vn_xnode_t *bin = photo ? vn_xnode_child(photo, VN_NS_VCARD, "BINVAL") : NULL;
    if (!bin) return;
    char *b = vn_xnode_text(a, bin);
    /* An empty BINVAL is no photo. */
    int blank = 1;
    for (const char *p = b; *p && blank; p++)
        blank = *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
    if (blank) return;
    *binval = b;
    vn_xnode_t *t = vn_xnode_child(photo, VN_NS_VCARD, "TYPE");
    if (t) *type = vn_xnode_text(a, t);
}

/* ---- get (§3.1, §3.3) ---- */

typedef struct get_job {
    vn_work_t work;
    vn_server_t *srv;
    char *owner;
    vn_stanza_t *req; /* owned copy */
    int own;
    char *xml;
    int rc;
} get_job_t;

static void get_work(vn_work_t *w)
{
    get_job_t *j = (get_job_t *)w;
    free(j->xml);
    j->rc = vn_store_vcard_get(vn_store_of(w), j->owner, &j->xml, NULL);
}

static void get_done(vn_work_t *w)
{
    get_job_t *j = (get_job_t *)w;
    vn_server_t *srv = j->srv;
    vn_stanza_t *st = j->req;
    vn_xnode_t *card = NULL;
    if (j->rc == VN_STORE_OK) {
        card = vn_profile_parse(st->arena, j->xml, strlen(j->xml));
        if (!card) vn_error("vcard of %s in storage is not well-formed", j->owner);
    }
    if (j->rc < 0 || (j->rc == VN_STORE_OK && !card)) {
        vn_route_error(srv, st, "wait", "internal-server-error", NULL);
    } else if (!card && !j->own) {
        vn_route_error(srv, st, "cancel", "item-not-found", NULL);
    } else {
        vn_stanza_t *r = vn_stanza_iq_result(st);
        if (card)
            vn_xnode_append(r->node, vn_xnode_copy(r->arena, card));
        else
            vn_xnode_add(r->arena, r->node, VN_NS_VCARD, "vCard");
        vn_route(srv, r);
    }
    vn_stanza_free(st);
    free(j->xml);
    free(j->owner);
    free(j);
}

static vn_result_t on_get(vn_server_t *srv, vn_stanza_t *st)
{
    vn_xnode_t *p = vn_xnode_first_element(st->node);
    if (strcmp(p->name, "vCard") != 0) {
        vn_route_error(srv, st, "modify", "bad-request", NULL);
        return VN_HANDLED;
    }
    get_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->srv = srv;
    j->owner = vn_xstrdup(vn_profile_target_bare(st));
    j->own = vn_profile_own_account(st);
    j->req = stanza_clone(st);
    /* The answer comes from the account (RFC 6120 §10.3.3 without 'to'). */
    if (!vn_xnode_attr(j->req->node, "to")) j->req->to = (vn_jid_t){NULL, NULL, NULL};
    vn_store_submit_ordered(srv, j->owner, &j->work, get_work, get_done);
    return VN_HANDLED;
}

/* ---- set (§3.2) ---- */

typedef struct set_job {
    vn_work_t work;
    vn_server_t *srv;
    char *owner;
    vn_stanza_t *req; /* owned copy; NULL for vn_vcard_set_photo */
    char *xml;        /* the new vCard (set); for set_photo: computed in work */
    char hash[41];    /* new photo hash, "" none */
    char *type, *binval;
    size_t bytes;
    int source;
    /* outputs */
    char *old_hash;
    int rc;
    int changed;
    /* vn_vcard_set_photo: the vCard as read, and how many rounds ran */
    char *read;
    int rounds;
} set_job_t;

static void set_free(set_job_t *j)
{
    if (j->req) vn_stanza_free(j->req);
    free(j->owner);
    free(j->xml);
    free(j->type);
    free(j->binval);
    free(j->old_hash);
    free(j->read);
    free(j);
}

static void set_work(vn_work_t *w)
{
    set_job_t *j = (set_job_t *)w;
    vn_store_t *store = vn_store_of(w);
    free(j->old_hash);
    j->old_hash = NULL;
    j->changed = 0;
    j->rc = vn_store_vcard_get(store, j->owner, NULL, &j->old_hash);
    if (j->rc < 0) return;
    j->rc = vn_store_vcard_set(store, j->owner, j->xml, j->hash);
    if (j->rc == 0) j->changed = strcmp(j->old_hash ? j->old_hash : "", j->hash) != 0;
}

static void after_store(set_job_t *j)
{
    if (j->rc < 0 || !j->changed) return;
    vn_photo_event_t ev = {j->owner, j->hash, j->type, j->binval, j->bytes, j->source};
    notify(j->srv, &ev);
}

static void set_done(vn_work_t *w)
{
    set_job_t *j = (set_job_t *)w;
    vn_stanza_t *st = j->req;
    if (j->rc < 0) {
        vn_route_error(j->srv, st, "wait", "internal-server-error", NULL);
    } else {
        vn_route(j->srv, vn_stanza_iq_result(st));
        after_store(j);
    }
    set_free(j);
}

static vn_result_t on_set(vn_server_t *srv, vn_stanza_t *st)
{
    if (!vn_profile_own_account(st)) {
        vn_route_error(srv, st, "auth", "forbidden", NULL);
        return VN_HANDLED;
    }
    vn_xnode_t *p = vn_xnode_first_element(st->node);
    if (strcmp(p->name, "vCard") != 0) {
        vn_route_error(srv, st, "modify", "bad-request", NULL);
        return VN_HANDLED;
    }
    size_t len;
    char *xml = vn_profile_serialize(p, &len);
    if (len > max_size) {
        free(xml);
        vn_route_error(srv, st, "modify", "not-acceptable", "vCard too large");
        return VN_HANDLED;
    }
    set_job_t *j = vn_xcalloc(1, sizeof(*j));
    char *type, *binval;
    vn_vcard_photo_of(st->arena, p, &type, &binval);
    if (binval && vn_profile_b64_sha1(binval, strlen(binval), j->hash, &j->bytes) < 0) {
        free(xml);
        free(j);
        vn_route_error(srv, st, "modify", "bad-request", "PHOTO BINVAL is not base64");
        return VN_HANDLED;
    }
    j->srv = srv;
    j->owner = vn_xstrdup(st->origin->bare);
    j->req = stanza_clone(st);
    if (!vn_xnode_attr(j->req->node, "to")) j->req->to = (vn_jid_t){NULL, NULL, NULL};
    j->xml = xml;
    j->type = type ? vn_xstrdup(type) : NULL;
    j->binval = binval ? vn_xstrdup(binval) : NULL;
    j->source = VN_PHOTO_FROM_VCARD;
    vn_store_submit_ordered(srv, j->owner, &j->work, set_work, set_done);
    return VN_HANDLED;
}

/* ---- the photo from elsewhere (XEP-0398 §4) ---- */

/* Read, change, write back: the vCard is read (storage thread), its PHOTO
 * replaced on the loop thread (XML is only parsed there), and written back
 * only if the stored vCard is still the one that was read; otherwise (a
 * client's set came in between) the whole round starts again. */
#define PHOTO_ROUNDS 5
enum { PHOTO_RETRY = -2 };

static void photo_submit_read(set_job_t *j);

static void replace_photo(set_job_t *j, const char *old)
{
    vn_arena_t *a = vn_arena_new(1024);
    vn_xnode_t *card = old ? vn_profile_parse(a, old, strlen(old)) : NULL;
    if (!card) card = vn_xnode_new(a, VN_NS_VCARD, "vCard");
    /* Drop every PHOTO, then add the new one. */
    vn_xnode_t *prev = NULL;
    for (vn_xnode_t *c = card->children; c;) {
        vn_xnode_t *next = c->next;
        if (c->name && c->ns && !strcmp(c->name, "PHOTO") && !strcmp(c->ns, VN_NS_VCARD)) {
            if (prev)
                prev->next = next;
            else
                card->children = next;
            if (card->last_child == c) card->last_child = prev;
        } else {
            prev = c;
        }
        c = next;
    }
    if (j->binval) {
        vn_xnode_t *ph = vn_xnode_add(a, card, VN_NS_VCARD, "PHOTO");
        if (j->type) {
            vn_xnode_t *t = vn_xnode_add(a, ph, VN_NS_VCARD, "TYPE");
            vn_xnode_add_text(a, t, j->type, strlen(j->type));
        }
        vn_xnode_t *b = vn_xnode_add(a, ph, VN_NS_VCARD, "BINVAL");
        vn_xnode_add_text(a, b, j->binval, strlen(j->binval));
    }
    free(j->xml);
    j->xml = vn_profile_serialize(card, NULL);
    vn_arena_free(a);
}

static void photo_write_work(vn_work_t *w)
{
    set_job_t *j = (set_job_t *)w;
    vn_store_t *store = vn_store_of(w);
    char *cur = NULL;
    j->rc = vn_store_vcard_get(store, j->owner, &cur, NULL);
    if (j->rc >= 0) {
        int same = j->read ? cur && !strcmp(cur, j->read) : !cur;
        j->rc = same ? vn_store_vcard_set(store, j->owner, j->xml, j->hash) : PHOTO_RETRY;
    }
    free(cur);
}

static void photo_write_done(vn_work_t *w)
{
    set_job_t *j = (set_job_t *)w;
    if (j->rc == PHOTO_RETRY && ++j->rounds < PHOTO_ROUNDS) {
        photo_submit_read(j);
        return;
    }
    if (j->rc < 0) {
        vn_error("vcard: the photo of %s could not be stored", j->owner);
    } else {
        j->changed = strcmp(j->old_hash ? j->old_hash : "", j->hash) != 0;
        after_store(j);
    }
    set_free(j);
}

static void photo_read_work(vn_work_t *w)
{
    set_job_t *j = (set_job_t *)w;
    free(j->old_hash);
    free(j->read);
    j->rc = vn_store_vcard_get(vn_store_of(w), j->owner, &j->read, &j->old_hash);
}

static void photo_read_done(vn_work_t *w)
{
    set_job_t *j = (set_job_t *)w;
    if (j->rc < 0) {
        vn_error("vcard: the vCard of %s could not be read", j->owner);
        set_free(j);
        return;
    }
    if (j->rc == VN_STORE_OK && !strcmp(j->old_hash, j->hash)) {
        set_free(j); /* already this photo */
        return;
    }
    replace_photo(j, j->read);
    if (strlen(j->xml) > max_size) {
        vn_debug("vcard: the avatar of %s does not fit into its vCard; vCard left alone", j->owner);
        set_free(j);
        return;
    }
    vn_store_submit_ordered(j->srv, j->owner, &j->work, photo_write_work, photo_write_done);
}

static void photo_submit_read(set_job_t *j)
{
    vn_store_submit_ordered(j->srv, j->owner, &j->work, photo_read_work, photo_read_done);
}

void vn_vcard_set_photo(vn_server_t *srv, const char *owner, const char *type, const char *binval)
{
    set_job_t *j = vn_xcalloc(1, sizeof(*j));
    if (binval && vn_profile_b64_sha1(binval, strlen(binval), j->hash, &j->bytes) < 0) {
        vn_debug("vcard: avatar of %s is not base64; vCard left alone", owner);
        free(j);
        return;
    }
    if (binval && strlen(binval) + 1024 > max_size) {
        vn_debug("vcard: avatar of %s too large for a vCard; vCard left alone", owner);
        free(j);
        return;
    }
    j->srv = srv;
    j->owner = vn_xstrdup(owner);
    j->type = type && binval ? vn_xstrdup(type) : NULL;
    j->binval = binval ? vn_xstrdup(binval) : NULL;
    j->source = VN_PHOTO_FROM_PEP;
    photo_submit_read(j);
}

static int init(vn_server_t *srv)
{
    max_size = srv->cfg.vcard_max_size;
    if (max_size > srv->cfg.max_stanza_size) max_size = srv->cfg.max_stanza_size;
    return 0;
}

static void fini(vn_server_t *srv)
{
    (void)srv;
    nobservers = 0;
}

/* XEP-0054 §5: the server advertises vcard-temp. */
static const char *const features[] = {VN_NS_VCARD, NULL};
static const char *const account_features[] = {VN_NS_VCARD, NULL};
static const vn_iq_handler_t iq[] = {
    {"get", VN_NS_VCARD, VN_TARGET_ACCOUNT, on_get},
    {"set", VN_NS_VCARD, VN_TARGET_ACCOUNT, on_set},
    {NULL, NULL, 0, NULL},
};

static const vn_cfg_key_t config_keys[] = {
    {"profile", "vcard_max_size", VN_CFG_SIZE, offsetof(vn_config_t, vcard_max_size), "131072",
     .min = 1024, .max = 64LL << 20,
     .help = "vcard-temp (XEP-0054): largest serialised <vCard/> (photo included) an account may "
             "store; a larger one is refused with <not-acceptable/>. Never more than [c2s] "
             "max_stanza_size can carry anyway."},
    {NULL},
};

const vn_module_t vn_mod_vcard = {
    .config_keys = config_keys,
    .name = "vcard",
    .features = features,
    .iq = iq,
    .init = init,
    .fini = fini,
    .account_features = account_features,
};

/* Rooms: lookup, lifetime, affiliations, and persistence (XEP-0045 §10.2:
 * a persistent room outlives its occupants and the server).
 *
 * Persistent rooms are loaded lazily: the first stanza for a room that is
 * not in memory creates a placeholder and a storage lookup; stanzas that
 * arrive meanwhile wait in order and are replayed when the lookup is done
 * (as for a new room when there is none). An empty room leaves memory; a
 * persistent one comes back from storage on its next stanza, with its
 * history read back from its archive. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mod/mam_query.h"
#include "mod/muc/form.h"
#include "mod/muc/muc.h"
#include "mod/roster.h"
#include "store/store_muc.h"
#include "xml/parser.h"
#include "xmpp/router.h"
#include "xmpp/session.h"

static const char *const aff_names[] = {"outcast", "none", "member", "admin", "owner"};
static const char *const role_names[] = {"none", "visitor", "participant", "moderator"};

const char *muc_aff_name(muc_aff_t a)
{
    return aff_names[a + 1];
}

int muc_aff_parse(const char *s, muc_aff_t *out)
{
    for (int i = 0; s && i < 5; i++)
        if (!strcmp(s, aff_names[i])) {
            *out = (muc_aff_t)(i - 1);
            return 0;
        }
    return -1;
}

const char *muc_role_name(muc_role_t r)
{
    return role_names[r];
}

int muc_role_parse(const char *s, muc_role_t *out)
{
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, role_names[i])) {
            *out = (muc_role_t)i;
            return 0;
        }
    return -1;
}

void muc_config_defaults(muc_config_t *c)
{
    const vn_config_t *g = &muc_svc->srv->cfg;
    memset(c, 0, sizeof(*c));
    c->name = vn_xstrdup("");
    c->desc = vn_xstrdup("");
    c->secret = vn_xstrdup("");
    c->is_public = 1;
    c->max_users = g->muc_max_occupants;
    c->allow_pm = 1;
    c->logging = 1;
    c->history_length = g->muc_history_length;
    c->pres_broadcast = MUC_PB_ALL;
}

void muc_config_free(muc_config_t *c)
{
    free(c->name);
    free(c->desc);
    free(c->secret);
    memset(c, 0, sizeof(*c));
}

int muc_room_archiving(const muc_room_t *r)
{
    return r->cfg.persistent && r->cfg.logging && muc_svc->srv->cfg.archive_enabled;
}

muc_room_t *muc_room_find(const char *jid)
{
    return vn_map_get(muc_svc->rooms, jid);
}

muc_room_t *muc_room_new(const char *jid)
{
    muc_room_t *r = vn_xcalloc(1, sizeof(*r));
    r->svc = muc_svc;
    r->jid = vn_xstrdup(jid);
    r->refs = 1; /* the map's */
    muc_config_defaults(&r->cfg);
    r->affs = vn_map_new();
    r->by_nick = vn_map_new();
    r->by_jid = vn_map_new();
    muc_hist_resize(r, r->cfg.history_length);
    vn_map_put(muc_svc->rooms, jid, r);
    return r;
}

void muc_room_ref(muc_room_t *r)
{
    r->refs++;
}

static void room_free(muc_room_t *r)
{
    for (size_t i = 0; i < r->nslots; i++) {
        if (r->occ[i]) muc_occ_free(r->occ[i]);
    }
    free(r->occ);
    for (int i = 0; i < r->npending; i++) {
        vn_stanza_free(r->pending[i].st);
        if (r->pending[i].held) vn_session_unref(r->pending[i].held);
    }
    free(r->pending);
    free(r->quota_for);
    vn_map_free(r->affs);
    muc_reg_free(r);
    vn_map_free(r->by_nick);
    vn_map_free(r->by_jid);
    muc_hist_free(r);
    muc_config_free(&r->cfg);
    free(r->subject);
    free(r->subject_by);
    free(r->creator);
    free(r->jid);
    free(r);
}

void muc_room_unref(muc_room_t *r)
{
    if (--r->refs == 0) room_free(r);
}

void muc_room_remove(muc_room_t *r)
{
    if (r->dead) return;
    r->dead = 1;
    vn_map_del(muc_svc->rooms, r->jid);
    muc_room_quota_sync(r);
    muc_room_unref(r);
}

void muc_room_maybe_gone(muc_room_t *r)
{
    if (r->dead || r->nocc || r->loading) return;
    /* §10.2: a temporary room is destroyed when its last occupant leaves;
     * a persistent one is only dropped from memory (its broadcasts still
     * complete: they hold references). */
    if (r->exists && !r->cfg.persistent && r->stored) muc_room_delete_stored(r);
    muc_room_remove(r);
}

/* ---- affiliations ---- */

muc_aff_t muc_aff_of(const muc_room_t *r, const char *bare)
{
    return (muc_aff_t)(intptr_t)vn_map_get(r->affs, bare);
}

typedef struct aff_job {
    vn_work_t work;
    char *room, *jid, *reason;
    const char *aff;
} aff_job_t;

static void aff_work(vn_work_t *w)
{
    aff_job_t *j = (aff_job_t *)w;
    vn_store_muc_aff_set(vn_store_of(w), j->room, j->jid, j->aff, j->reason);
}

static void aff_done(vn_work_t *w)
{
    aff_job_t *j = (aff_job_t *)w;
    free(j->room);
    free(j->jid);
    free(j->reason);
    free(j);
}

static void aff_store(muc_room_t *r, const char *bare, muc_aff_t a, const char *reason)
{
    aff_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->room = vn_xstrdup(r->jid);
    j->jid = vn_xstrdup(bare);
    j->aff = muc_aff_name(a);
    j->reason = vn_xstrdup(reason ? reason : "");
    vn_store_submit_ordered(r->svc->srv, j->room, &j->work, aff_work, aff_done);
}

void muc_aff_put(muc_room_t *r, const char *bare, muc_aff_t a, const char *reason)
{
    if (a == AFF_NONE)
        vn_map_del(r->affs, bare);
    else
        vn_map_put(r->affs, bare, (void *)(intptr_t)a);
    /* A reserved nick (§7.10) goes with the affiliation (storage drops it
     * with the row, or on the change to outcast). */
    if (a <= AFF_NONE) muc_reg_put(r, bare, NULL);
    if (r->stored) aff_store(r, bare, a, reason);
}

/* ---- persistence ---- */

/* The configuration as text: key=value lines; \ and newlines escaped. */
static void put_kv(vn_buf_t *b, const char *k, const char *v)
{
    vn_buf_puts(b, k);
    vn_buf_append(b, "=", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            vn_buf_puts(b, "\\\\");
        else if (*p == '\n')
            vn_buf_puts(b, "\\n");
        else
            vn_buf_append(b, p, 1);
    }
    vn_buf_append(b, "\n", 1);
}

static void put_ki(vn_buf_t *b, const char *k, int v)
{
    vn_buf_printf(b, "%s=%d\n", k, v);
}

char *muc_config_text(const muc_config_t *c)
{
    vn_buf_t b = VN_BUF_INIT;
    put_kv(&b, "name", c->name);
    put_kv(&b, "desc", c->desc);
    put_kv(&b, "secret", c->secret);
    put_ki(&b, "persistent", c->persistent);
    put_ki(&b, "public", c->is_public);
    put_ki(&b, "membersonly", c->members_only);
    put_ki(&b, "moderated", c->moderated);
    put_ki(&b, "passwordprotected", c->password_protected);
    put_ki(&b, "maxusers", c->max_users);
    put_ki(&b, "whoisanyone", c->whois_anyone);
    put_ki(&b, "changesubject", c->change_subject);
    put_ki(&b, "allowinvites", c->allow_invites);
    put_ki(&b, "allowpm", c->allow_pm);
    put_ki(&b, "logging", c->logging);
    put_ki(&b, "historylength", c->history_length);
    /* Roles, comma-separated (rooms stored before it have all three). */
    vn_buf_puts(&b, "presencebroadcast=");
    const char *sep = "";
    for (int role = ROLE_VISITOR; role <= ROLE_MODERATOR; role++)
        if ((c->pres_broadcast >> role) & 1) {
            vn_buf_printf(&b, "%s%s", sep, muc_role_name((muc_role_t)role));
            sep = ",";
        }
    vn_buf_puts(&b, "\n");
    vn_buf_cstr(&b);
    return b.data;
}

/* "moderator,participant,visitor" -> role bits; unknown names ignored. */
static int parse_roles(const char *s)
{
    int mask = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        char name[16];
        muc_role_t role;
        snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), s);
        if (n < sizeof(name) && muc_role_parse(name, &role) == 0 && role != ROLE_NONE)
            mask |= 1 << role;
        s += n;
        if (*s) s++;
    }
    return mask;
}

void muc_config_parse(muc_config_t *c, const char *text)
{
    const vn_config_t *g = &muc_svc->srv->cfg;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (eq) {
            char key[32];
            snprintf(key, sizeof(key), "%.*s", (int)(eq - p), p);
            vn_buf_t v = VN_BUF_INIT;
            for (const char *q = eq + 1; q < p + n; q++) {
                if (*q == '\\' && q + 1 < p + n) {
                    q++;
                    vn_buf_append(&v, *q == 'n' ? "\n" : q, 1);
                } else {
                    vn_buf_append(&v, q, 1);
                }
            }
            const char *val = vn_buf_cstr(&v);
            int iv = atoi(val);
            if (!strcmp(key, "name")) {
                free(c->name);
                c->name = vn_xstrdup(val);
            } else if (!strcmp(key, "desc")) {
                free(c->desc);
                c->desc = vn_xstrdup(val);
            } else if (!strcmp(key, "secret")) {
                free(c->secret);
                c->secret = vn_xstrdup(val);
            } else if (!strcmp(key, "persistent"))
                c->persistent = iv;
            else if (!strcmp(key, "public"))
                c->is_public = iv;
            else if (!strcmp(key, "membersonly"))
                c->members_only = iv;
            else if (!strcmp(key, "moderated"))
                c->moderated = iv;
            else if (!strcmp(key, "passwordprotected"))
                c->password_protected = iv;
            else if (!strcmp(key, "maxusers"))
                c->max_users = iv;
            else if (!strcmp(key, "whoisanyone"))
                c->whois_anyone = iv;
            else if (!strcmp(key, "changesubject"))
                c->change_subject = iv;
            else if (!strcmp(key, "allowinvites"))
                c->allow_invites = iv;
            else if (!strcmp(key, "allowpm"))
                c->allow_pm = iv;
            else if (!strcmp(key, "logging"))
                c->logging = iv;
            else if (!strcmp(key, "historylength"))
                c->history_length = iv;
            else if (!strcmp(key, "presencebroadcast"))
                c->pres_broadcast = parse_roles(val);
            vn_buf_free(&v);
        }
        p = nl ? nl + 1 : p + n;
    }
    if (c->max_users < 1 || c->max_users > g->muc_max_occupants)
        c->max_users = g->muc_max_occupants;
    if (c->history_length < 0 || c->history_length > g->muc_max_history)
        c->history_length = g->muc_max_history;
}

typedef struct save_job {
    vn_work_t work;
    char *service, *jid, *name, *config, *subject, *subject_by;
    int is_public;
    char **aff_jid; /* first save: every affiliation */
    const char **aff;
    int naffs;
} save_job_t;

static void save_work(vn_work_t *w)
{
    save_job_t *j = (save_job_t *)w;
    vn_muc_room_row_t row = {j->jid, j->name, j->is_public, j->config, j->subject, j->subject_by};
    vn_store_t *st = vn_store_of(w);
    if (vn_store_muc_room_put(st, j->service, &row) != 0) return;
    for (int i = 0; i < j->naffs; i++)
        vn_store_muc_aff_set(st, j->jid, j->aff_jid[i], j->aff[i], "");
}

static void save_done(vn_work_t *w)
{
    save_job_t *j = (save_job_t *)w;
    for (int i = 0; i < j->naffs; i++)
        free(j->aff_jid[i]);
    free(j->aff_jid);
    free(j->aff);
    free(j->service);
    free(j->jid);
    free(j->name);
    free(j->config);
    free(j->subject);
    free(j->subject_by);
    free(j);
}

static void collect_aff(const char *key, void *value, void *ud)
{
    save_job_t *j = ud;
    j->aff_jid[j->naffs] = vn_xstrdup(key);
    j->aff[j->naffs++] = muc_aff_name((muc_aff_t)(intptr_t)value);
}

void muc_room_save(muc_room_t *r)
{
    if (!r->cfg.persistent) {
        if (r->stored) muc_room_delete_stored(r);
        return;
    }
    save_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->service = vn_xstrdup(r->svc->domain);
    j->jid = vn_xstrdup(r->jid);
    j->name = vn_xstrdup(r->cfg.name);
    j->is_public = r->cfg.is_public;
    j->config = muc_config_text(&r->cfg);
    j->subject = vn_xstrdup(r->subject ? r->subject : "");
    j->subject_by = vn_xstrdup(r->subject_by ? r->subject_by : "");
    int first = !r->stored;
    if (!r->stored) {
        size_t n = vn_map_size(r->affs);
        j->aff_jid = vn_xcalloc(n + 1, sizeof(char *));
        j->aff = vn_xcalloc(n + 1, sizeof(char *));
        vn_map_each(r->affs, collect_aff, j);
        r->stored = 1;
        muc_room_quota_sync(r);
    }
    vn_store_submit_ordered(r->svc->srv, j->jid, &j->work, save_work, save_done);
    /* Reserved nicks live on the affiliation rows just written (ordered
     * after them under the room's JID). */
    if (first) muc_reg_store_all(r);
}

typedef struct del_job {
    vn_work_t work;
    char *jid;
} del_job_t;

static void del_work(vn_work_t *w)
{
    del_job_t *j = (del_job_t *)w;
    vn_store_muc_room_delete(vn_store_of(w), j->jid);
}

static void del_done(vn_work_t *w)
{
    del_job_t *j = (del_job_t *)w;
    free(j->jid);
    free(j);
}

void muc_room_delete_stored(muc_room_t *r)
{
    r->stored = 0;
    muc_room_quota_sync(r);
    del_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->jid = vn_xstrdup(r->jid);
    vn_store_submit_ordered(r->svc->srv, j->jid, &j->work, del_work, del_done);
}

/* ---- stanzas waiting for storage ---- */

void muc_room_defer(muc_room_t *r, vn_stanza_t *st)
{
    if (r->npending >= MUC_PENDING_MAX) {
        muc_error(st, "wait", "resource-constraint", "the room is loading");
        return;
    }
    vn_stanza_t *c = stanza_clone(st);
    c->from = st->from;
    c->from.local = st->from.local ? vn_arena_strdup(c->arena, st->from.local) : NULL;
    c->from.domain = vn_arena_strdup(c->arena, st->from.domain);
    c->from.resource = st->from.resource ? vn_arena_strdup(c->arena, st->from.resource) : NULL;
    c->to.local = vn_arena_strdup(c->arena, st->to.local);
    c->to.domain = vn_arena_strdup(c->arena, st->to.domain);
    c->to.resource = st->to.resource ? vn_arena_strdup(c->arena, st->to.resource) : NULL;
    c->origin = NULL;
    vn_session_t *s = st->origin, *held = NULL;
    if (s && s->in_parser && s->parser && !vn_xml_parser_suspended(s->parser)) {
        vn_xml_parser_suspend(s->parser);
        vn_session_ref(s);
        held = s;
    }
    r->pending = vn_xrealloc(r->pending, (size_t)(r->npending + 1) * sizeof(*r->pending));
    r->pending[r->npending++] = (muc_pending_t){c, held};
}

/* Handles what waited, in order; a stanza that starts another lookup (a
 * join that needs the quota) waits again with those after it. Held
 * streams go on once their stanza is handled. */
static void replay(muc_room_t *r)
{
    muc_pending_t *p = r->pending;
    int n = r->npending;
    r->pending = NULL;
    r->npending = 0;
    vn_session_t **resume = n ? vn_xmalloc((size_t)n * sizeof(*resume)) : NULL;
    int nres = 0;
    for (int i = 0; i < n; i++) {
        if (!r->loading && !r->dead) muc_dispatch_room(r, p[i].st);
        if (r->loading && !r->dead) {
            r->pending = vn_xrealloc(r->pending, (size_t)(r->npending + 1) * sizeof(*r->pending));
            r->pending[r->npending++] = p[i];
            continue;
        }
        vn_stanza_free(p[i].st);
        if (p[i].held) resume[nres++] = p[i].held;
    }
    free(p);
    muc_room_maybe_gone(r);
    for (int i = 0; i < nres; i++) {
        vn_session_resume(resume[i]);
        vn_session_unref(resume[i]);
    }
    free(resume);
}

/* ---- room quota ---- */

void muc_room_quota_sync(muc_room_t *r)
{
    int want = r->creator && !r->dead && !r->stored;
    if (want == (int)r->quota_counted) return;
    r->quota_counted = (unsigned)want;
    intptr_t n = (intptr_t)vn_map_get(muc_svc->created, r->creator) + (want ? 1 : -1);
    if (n > 0)
        vn_map_put(muc_svc->created, r->creator, (void *)n);
    else
        vn_map_del(muc_svc->created, r->creator);
}

int muc_room_quota_ok(muc_room_t *r, const char *bare)
{
    int max = r->svc->srv->cfg.muc_max_rooms_per_user;
    /* A room saved between the count and now is in neither number; a
     * window of one storage round trip, and only ever in the user's
     * favour by the rooms made persistent meanwhile. */
    return max <= 0 ||
           r->quota_stored + (intptr_t)vn_map_get(r->svc->created, bare) < (intptr_t)max;
}

typedef struct quota_job {
    vn_work_t work;
    muc_room_t *r; /* referenced */
    char *bare;
    int count;
} quota_job_t;

static void quota_work(vn_work_t *w)
{
    quota_job_t *j = (quota_job_t *)w;
    if (vn_store_muc_owned_count(vn_store_of(w), j->bare, &j->count) != 0) j->count = 0;
}

static void quota_done(vn_work_t *w)
{
    quota_job_t *j = (quota_job_t *)w;
    muc_room_t *r = j->r;
    r->loading = 0;
    free(r->quota_for);
    r->quota_for = j->bare;
    r->quota_stored = j->count;
    replay(r);
    muc_room_unref(r);
    free(j);
}

void muc_room_quota_lookup(muc_room_t *r, const char *bare)
{
    quota_job_t *j = vn_xcalloc(1, sizeof(*j));
    r->loading = 1;
    muc_room_ref(r);
    j->r = r;
    j->bare = vn_xstrdup(bare);
    /* Unordered: it counts over every room; muc_room_quota_ok allows for
     * the rooms saved meanwhile. */
    vn_store_submit(r->svc->srv, &j->work, quota_work, quota_done);
}

/* ---- lazy load ---- */

typedef struct load_job {
    vn_work_t work;
    muc_room_t *r; /* referenced */
    char *jid;
    int rc, hist_max;
    char *config, *subject, *subject_by;
    vn_buf_t affs;  /* "jid\0aff\0" pairs */
    vn_buf_t nicks; /* "jid\0nick\0" pairs (§7.10) */
    vn_buf_t hist;  /* [int64 ts][uint32 len][xml] */
} load_job_t;

static void load_room_cb(const vn_muc_room_row_t *row, void *ud)
{
    load_job_t *j = ud;
    j->config = vn_xstrdup(row->config);
    j->subject = vn_xstrdup(row->subject);
    j->subject_by = vn_xstrdup(row->subject_by);
}

static void load_aff_cb(const char *jid, const char *aff, const char *reason, void *ud)
{
    (void)reason;
    load_job_t *j = ud;
    vn_buf_append(&j->affs, jid, strlen(jid) + 1);
    vn_buf_append(&j->affs, aff, strlen(aff) + 1);
}

static void load_nick_cb(const char *jid, const char *nick, void *ud)
{
    load_job_t *j = ud;
    vn_buf_append(&j->nicks, jid, strlen(jid) + 1);
    vn_buf_append(&j->nicks, nick, strlen(nick) + 1);
}

static void load_hist_cb(const vn_archive_item_t *it, void *ud)
{
    load_job_t *j = ud;
    uint32_t n = (uint32_t)it->len;
    vn_buf_append(&j->hist, &it->ts_us, sizeof(it->ts_us));
    vn_buf_append(&j->hist, &n, sizeof(n));
    vn_buf_append(&j->hist, it->xml, it->len);
}

static void load_reset(load_job_t *j)
{
    free(j->config);
    free(j->subject);
    free(j->subject_by);
    j->config = j->subject = j->subject_by = NULL;
    vn_buf_free(&j->affs);
    vn_buf_free(&j->nicks);
    vn_buf_free(&j->hist);
}

static void load_work(vn_work_t *w)
{
    load_job_t *j = (load_job_t *)w;
    vn_store_t *st = vn_store_of(w);
    load_reset(j);
    j->rc = vn_store_muc_room_load(st, j->jid, load_room_cb, load_aff_cb, j);
    if (j->rc == 0 && vn_store_muc_nicks(st, j->jid, load_nick_cb, j) != 0) j->rc = -1;
    if (j->rc != 0 || j->hist_max <= 0) return;
    /* History on join comes from the archive's last page (§7.2.15). */
    vn_archive_query_t q = {.last_page = 1, .max = j->hist_max};
    vn_archive_page_t page;
    vn_store_muc_archive_query(st, j->jid, &q, load_hist_cb, j, &page);
}

static void load_done(vn_work_t *w)
{
    load_job_t *j = (load_job_t *)w;
    muc_room_t *r = j->r;
    r->loading = 0;
    if (j->rc == 0 && !r->dead) {
        r->exists = 1;
        r->stored = 1;
        muc_config_free(&r->cfg);
        muc_config_defaults(&r->cfg);
        muc_config_parse(&r->cfg, j->config);
        r->cfg.persistent = 1;
        if (j->subject && (*j->subject || *j->subject_by)) {
            r->subject = vn_xstrdup(j->subject);
            r->subject_by = *j->subject_by ? vn_xstrdup(j->subject_by) : NULL;
        }
        for (size_t off = 0; off < j->affs.len;) {
            const char *jid = j->affs.data + off;
            off += strlen(jid) + 1;
            const char *aff = j->affs.data + off;
            off += strlen(aff) + 1;
            muc_aff_t a;
            if (muc_aff_parse(aff, &a) == 0 && a != AFF_NONE)
                vn_map_put(r->affs, jid, (void *)(intptr_t)a);
        }
        for (size_t off = 0; off < j->nicks.len;) {
            const char *jid = j->nicks.data + off;
            off += strlen(jid) + 1;
            const char *nick = j->nicks.data + off;
            off += strlen(nick) + 1;
            if (muc_aff_of(r, jid) > AFF_NONE) muc_reg_put(r, jid, nick);
        }
        muc_hist_resize(r, r->cfg.history_length);
        for (size_t off = 0; off + 12 <= j->hist.len;) {
            int64_t ts;
            uint32_t n;
            memcpy(&ts, j->hist.data + off, 8);
            memcpy(&n, j->hist.data + off + 8, 4);
            muc_hist_add(r, ts, j->hist.data + off + 12, n);
            off += 12 + n;
        }
    } else if (j->rc < 0) {
        vn_error("muc: cannot load room %s", j->jid);
    }
    replay(r);
    load_reset(j);
    free(j->jid);
    muc_room_unref(r);
    free(j);
}

void muc_room_load(muc_room_t *r)
{
    load_job_t *j = vn_xcalloc(1, sizeof(*j));
    r->loading = 1;
    muc_room_ref(r);
    j->r = r;
    j->jid = vn_xstrdup(r->jid);
    j->hist_max = r->svc->srv->cfg.muc_max_history;
    vn_store_submit_ordered(r->svc->srv, j->jid, &j->work, load_work, load_done);
}

static void free_room_cb(const char *key, void *value, void *ud)
{
    (void)key, (void)ud;
    muc_room_t *r = value;
    muc_fanout_drop(r);
    r->dead = 1;
    muc_room_unref(r);
}

void muc_rooms_free_all(void)
{
    vn_map_each(muc_svc->rooms, free_room_cb, NULL);
}

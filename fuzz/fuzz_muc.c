/* libFuzzer target for the XEP-0045 parsers of client input in
 * src/mod/muc (exposed by src/mod/muc/form.h):
 *
 *   - the muc#roomconfig data form (XEP-0004) an owner submits, and the
 *     stored "key=value" configuration text it becomes;
 *   - the <history maxchars maxstanzas seconds since/> of a join
 *     (XEP-0045 §7.2.15; since is a XEP-0082 DateTime);
 *   - muc#admin <item/>s (roles by nick, affiliations by JID).
 *
 * Input: byte 0 selects the mode; bit 0 clear: the rest is a stanza
 * parsed with the server's XML parser and every element of it that is
 * one of the above is fed to its parser; bit 0 set: the rest is stored
 * configuration text (a row written by any version).
 *
 * Properties besides memory safety and UB:
 *   - a configuration the form parser accepted is stored and read back
 *     identical (encode -> decode is the identity);
 *   - decoding any text gives a configuration within the limits whose
 *     encoding decodes to itself;
 *   - the history window is within the room's history and honours
 *     maxstanzas and maxchars;
 *   - an accepted admin item has its target (occupant or bare JID). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "fuzz_tree.h"
#include "mod/muc/form.h"
#include "xmpp/jid.h"
#include "xmpp/server.h"
#include "xmpp/stanza.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_US ((int64_t)1767225600 * 1000000) /* 2026-01-01T00:00:00Z */

static vn_server_t srv;
static muc_service_t svc;
static muc_room_t *room;
static muc_occ_t occs[3];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    vn_jid_global_init();
    srv.cfg.muc_max_occupants = 20000;
    srv.cfg.muc_history_length = 20;
    srv.cfg.muc_max_history = 100;
    srv.cfg.archive_enabled = 1;
    svc.srv = &srv;
    svc.domain = "conference.example.org";
    svc.rooms = vn_map_new();
    svc.created = vn_map_new();
    muc_svc = &svc;
    room = muc_room_new("room@conference.example.org");
    room->exists = 1;
    /* 30 messages one minute apart (the ring keeps the last 20), of
     * growing size. */
    muc_hist_resize(room, 20);
    for (int i = 0; i < 30; i++) {
        char xml[512];
        int n = snprintf(xml, sizeof(xml), "<message type='groupchat'><body>%0*d</body></message>",
                         i * 7 + 1, i);
        muc_hist_add(room, NOW_US - (int64_t)(30 - i) * 60 * 1000000, xml, (size_t)n);
    }
    static const struct {
        const char *nick, *bare;
        muc_role_t role;
        muc_aff_t aff;
    } people[] = {
        {"owner", "owner@example.org", ROLE_MODERATOR, AFF_OWNER},
        {"admin", "admin@example.org", ROLE_MODERATOR, AFF_ADMIN},
        {"guest", "guest@example.org", ROLE_PARTICIPANT, AFF_NONE},
    };
    for (int i = 0; i < 3; i++) {
        occs[i].room = room;
        occs[i].nick = (char *)people[i].nick;
        occs[i].bare = (char *)people[i].bare;
        occs[i].role = people[i].role;
        vn_map_put(room->by_nick, people[i].nick, &occs[i]);
        if (people[i].aff != AFF_NONE)
            vn_map_put(room->affs, people[i].bare, (void *)(intptr_t)people[i].aff);
    }
    return 0;
}

static void config_equal(const muc_config_t *x, const muc_config_t *y, const char *text)
{
    if (strcmp(x->name, y->name) || strcmp(x->desc, y->desc) || strcmp(x->secret, y->secret) ||
        x->persistent != y->persistent || x->is_public != y->is_public ||
        x->members_only != y->members_only || x->moderated != y->moderated ||
        x->password_protected != y->password_protected || x->max_users != y->max_users ||
        x->whois_anyone != y->whois_anyone || x->change_subject != y->change_subject ||
        x->allow_invites != y->allow_invites || x->allow_pm != y->allow_pm ||
        x->logging != y->logging || x->history_length != y->history_length ||
        x->pres_broadcast != y->pres_broadcast) {
        fprintf(stderr, "stored configuration does not read back:\n%s\n", text);
        abort();
    }
}

static void config_limits(const muc_config_t *c)
{
    if (c->max_users < 1 || c->max_users > srv.cfg.muc_max_occupants) abort();
    if (c->history_length < 0 || c->history_length > srv.cfg.muc_max_history) abort();
    if (c->pres_broadcast & ~MUC_PB_ALL) abort();
}

/* encode -> decode must give c back. */
static void round_trip(const muc_config_t *c)
{
    char *text = muc_config_text(c);
    muc_config_t back;
    muc_config_defaults(&back);
    muc_config_parse(&back, text);
    config_equal(c, &back, text);
    muc_config_free(&back);
    free(text);
}

static void fuzz_text(const uint8_t *data, size_t size)
{
    char *text = vn_xstrndup((const char *)data, size);
    muc_config_t c;
    muc_config_defaults(&c);
    muc_config_parse(&c, text);
    config_limits(&c);
    round_trip(&c);
    muc_config_free(&c);
    free(text);
}

static void form(vn_arena_t *a, const vn_xnode_t *x)
{
    muc_config_t c;
    muc_config_defaults(&c);
    const char *err = muc_form_apply(room, a, x, &c);
    if (!err) {
        config_limits(&c);
        round_trip(&c);
    }
    muc_config_free(&c);
}

static long attr_num(const vn_xnode_t *n, const char *name)
{
    const char *v = vn_xnode_attr(n, name);
    if (!v) return -1;
    char *end;
    long x = strtol(v, &end, 10);
    return *v && !*end && x >= 0 ? x : -1;
}

static void history(const vn_xnode_t *h)
{
    int first = muc_hist_first(room, h, NOW_US);
    if (first < 0 || first > room->hist_len) abort();
    long maxstanzas = attr_num(h, "maxstanzas"), maxchars = attr_num(h, "maxchars");
    long n = room->hist_len - first, chars = 0;
    for (int i = first; i < room->hist_len; i++)
        chars += (long)room->hist[(room->hist_start + i) % room->hist_cap].len;
    if (maxstanzas >= 0 && n > maxstanzas) abort();
    if (maxchars >= 0 && chars > maxchars) abort();
    /* No limits at all, or only seconds reaching before the oldest message
     * (30 minutes): the whole history. */
    long seconds = attr_num(h, "seconds");
    if (first != 0 && (!h->attrs || (seconds >= 1800 && !h->attrs->next))) {
        fprintf(stderr, "history: %d of %d messages for a window that holds all\n",
                room->hist_len - first, room->hist_len);
        abort();
    }
}

static void admin_item(vn_arena_t *a, const vn_xnode_t *it, uint8_t who)
{
    vn_stanza_t st;
    memset(&st, 0, sizeof(st));
    st.arena = a;
    static const muc_aff_t affs[] = {AFF_OWNER, AFF_ADMIN, AFF_MEMBER, AFF_NONE, AFF_OUTCAST};
    static const muc_role_t roles[] = {ROLE_MODERATOR, ROLE_PARTICIPANT, ROLE_VISITOR, ROLE_NONE};
    muc_change_t c;
    memset(&c, 0, sizeof(c));
    c.item = it;
    const char *type = "modify", *text = NULL;
    const char *cond =
        muc_admin_check(room, &st, affs[who % 5], roles[(who / 5) % 4], &c, &type, &text);
    if (cond) {
        if (!type || !*cond) abort();
        return;
    }
    if (c.by_role ? !c.occ : !c.jid) abort();
    if (c.reason && strlen(c.reason) > MUC_REASON_MAX) abort();
}

typedef struct walk {
    vn_arena_t *a;
    uint8_t who;
} walk_t;

static void visit(vn_xnode_t *n, void *ud)
{
    walk_t *w = ud;
    if (!n->ns) return;
    if (!strcmp(n->ns, NS_DATA) && !strcmp(n->name, "x"))
        form(w->a, n);
    else if (!strcmp(n->ns, NS_MUC) && !strcmp(n->name, "history"))
        history(n);
    else if (!strcmp(n->ns, NS_MUC_ADMIN) && !strcmp(n->name, "item"))
        admin_item(w->a, n, w->who++);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    data++, size--;
    if (mode & 1) {
        fuzz_text(data, size);
        return 0;
    }
    vn_arena_t *a = vn_arena_new(4096);
    vn_xnode_t *n = fuzz_tree(a, data, size);
    walk_t w = {a, (uint8_t)(mode >> 1)};
    if (n) fuzz_walk(n, visit, &w);
    vn_arena_free(a);
    return 0;
}

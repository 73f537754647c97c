/* Broadcast to a room's occupants (XEP-0045 §7.4 messages, §7.2.3
 * presence): serialised once, written to each occupant's session raw.
 *
 * A broadcast stanza is built with to=MUC_TO_PLACEHOLDER, serialised once and split around the
 * placeholder; each occupant gets prefix + its own escaped JID + suffix. Before writing, the
 * DELIVER hooks see the tree with 'to' pointed at the occupant (no copy), so
 * blocking (XEP-0191) can drop it and CSI (XEP-0352) can hold it; the raw
 * write runs the SENT hooks, so XEP-0198 counts and keeps every copy.
 *
 * Large rooms: at most MUC_CHUNK deliveries per loop turn; the rest goes on
 * a zero-delay timer, which the loop runs after polling sockets, so other
 * connections are served between chunks (a deferred call would not do:
 * the loop runs deferred calls until none is left, before polling).
 * Broadcasts of a room are queued in order, so every occupant sees the
 * room's stanzas in the order the room produced them. A broadcast goes to
 * the occupants present when it was queued: those that join later sit in
 * later slots (slots are appended and only compacted while the queue is
 * empty), those that leave meanwhile have an empty slot. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mod/muc/muc.h"
#include "xmpp/router.h"
#include "xmpp/session.h"

struct muc_bcast {
    muc_bcast_t *next;
    vn_stanza_t *st[2]; /* [0] for viewers of real JIDs, [1] for the others */
    vn_buf_t pre[2], suf[2];
    size_t next_slot, end;
    uint64_t except; /* occupant id whose sessions are skipped, or 0 */
};

vn_stanza_t *muc_stanza_new(const char *name, muc_room_t *r, const char *nick)
{
    vn_stanza_t *st = vn_stanza_new(name);
    vn_arena_t *a = st->arena;
    vn_xnode_set_attr(a, st->node, "to", MUC_TO_PLACEHOLDER);
    st->from.local = NULL;
    vn_jid_t from;
    if (vn_jid_parse(r->jid, strlen(r->jid), &from, a) == 0) {
        if (nick) from.resource = vn_arena_strdup(a, nick);
        vn_stanza_set_from(st, &from);
    }
    return st;
}

static void split(vn_stanza_t *st, vn_buf_t *pre, vn_buf_t *suf)
{
    vn_buf_t all = VN_BUF_INIT;
    vn_xnode_serialize(st->node, VN_NS_CLIENT, &all);
    /* Quotes in attribute values are escaped, so this sequence is the root's
     * 'to' (children come after the root's attributes). */
    static const char pat[] = " to='" MUC_TO_PLACEHOLDER "'";
    const char *mark = memmem(all.data, all.len, pat, sizeof(pat) - 1);
    if (!mark) { /* cannot happen: muc_stanza_new puts it first */
        vn_buf_append(pre, all.data, all.len);
    } else {
        size_t at = (size_t)(mark - all.data) + sizeof(pat) - 3;
        vn_buf_append(pre, all.data, at);
        vn_buf_append(suf, all.data + at + 1, all.len - at - 1);
    }
    vn_buf_free(&all);
}

static void bcast_free(muc_bcast_t *b)
{
    for (int i = 0; i < 2; i++) {
        vn_buf_free(&b->pre[i]);
        vn_buf_free(&b->suf[i]);
    }
    if (b->st[1] && b->st[1] != b->st[0]) vn_stanza_free(b->st[1]);
    if (b->st[0]) vn_stanza_free(b->st[0]);
    free(b);
}

void muc_occ_forget_session(muc_occ_t *o)
{
    if (!o->sess) return;
    *o->spprev = o->snext;
    if (o->snext) o->snext->spprev = o->spprev;
    o->snext = NULL;
    o->spprev = NULL;
    vn_session_unref(o->sess);
    o->sess = NULL;
}

vn_session_t *muc_occ_session(muc_occ_t *o)
{
    /* A session that closed (or was taken over by a XEP-0198 resumption)
     * is looked up again. */
    if (o->sess && vn_session_alive(o->sess)) return o->sess;
    muc_occ_forget_session(o);
    vn_session_t *s = vn_router_session(o->room->svc->srv, &o->rjid);
    if (!s || !vn_session_alive(s) || !s->in_router) return NULL;
    muc_sess_list_t *l = s->slot[muc_svc->slot];
    if (!l) {
        l = vn_xcalloc(1, sizeof(*l));
        s->slot[muc_svc->slot] = l;
    }
    o->sess = s;
    vn_session_ref(s);
    o->snext = l->first;
    if (l->first) l->first->spprev = &o->snext;
    o->spprev = &l->first;
    l->first = o;
    return s;
}

void muc_session_end(vn_session_t *s)
{
    muc_sess_list_t *l = s->slot[muc_svc->slot];
    if (!l) return;
    s->slot[muc_svc->slot] = NULL;
    while (l->first)
        muc_occ_forget_session(l->first);
    free(l);
}

/* One copy to one occupant. Returns 1 when written. */
static int deliver(muc_room_t *r, muc_occ_t *o, vn_stanza_t *st, const vn_buf_t *pre,
                   const vn_buf_t *suf)
{
    vn_server_t *srv = r->svc->srv;
    vn_session_t *s = muc_occ_session(o);
    if (!s) return 0;
    /* The hooks see the tree addressed to this occupant. */
    vn_xnode_set_attr(st->arena, st->node, "to", o->jid);
    vn_jid_t saved = st->to;
    st->to = o->rjid;
    vn_delivery_t d = {s, st};
    vn_result_t res = vn_hook_run(srv, VN_HOOK_DELIVER, &d);
    st->to = saved;
    vn_xnode_set_attr(st->arena, st->node, "to", MUC_TO_PLACEHOLDER);
    if (res != VN_PASS) return 0;
    static __thread vn_buf_t out;
    vn_buf_reset(&out);
    vn_buf_append(&out, pre->data, pre->len);
    vn_buf_puts(&out, o->jid_esc);
    vn_buf_append(&out, suf->data, suf->len);
    /* The SENT hooks may send (XEP-0198 <r/> is deferred, so not now). */
    vn_buf_t mine = out;
    out = (vn_buf_t)VN_BUF_INIT;
    vn_session_send_stanza_raw(s, mine.data, mine.len);
    if (out.data || mine.cap > 65536)
        vn_buf_free(&mine);
    else
        out = mine;
    r->svc->deliveries++;
    return 1;
}

static void compact(muc_room_t *r)
{
    if (r->bq_head || r->nslots - r->nocc < 64 || r->nslots - r->nocc < r->nocc) return;
    size_t j = 0;
    for (size_t i = 0; i < r->nslots; i++) {
        if (!r->occ[i]) continue;
        r->occ[j] = r->occ[i];
        r->occ[j]->slot = j;
        j++;
    }
    r->nslots = j;
}

static void pump(muc_room_t *r);

static void on_timer(vn_timer_t *t)
{
    muc_room_t *r = t->cb_data;
    r->timer_armed = 0;
    pump(r);
    muc_room_unref(r);
}

static void pump(muc_room_t *r)
{
    int budget = MUC_CHUNK;
    while (r->bq_head && budget > 0) {
        muc_bcast_t *b = r->bq_head;
        while (b->next_slot < b->end && budget > 0) {
            size_t i = b->next_slot++;
            muc_occ_t *o = i < r->nslots ? r->occ[i] : NULL;
            if (!o || (b->except && o->id == b->except)) continue;
            int v = b->st[1] && !muc_sees_jid(r, o) ? 1 : 0;
            deliver(r, o, b->st[v], &b->pre[v], &b->suf[v]);
            budget--;
        }
        if (b->next_slot < b->end) break;
        r->bq_head = b->next;
        if (!r->bq_head) r->bq_tail = NULL;
        bcast_free(b);
    }
    if (r->bq_head && !r->timer_armed) {
        r->timer_armed = 1;
        muc_room_ref(r);
        r->timer.cb_data = r;
        vn_timer_start(r->svc->srv->loop, &r->timer, 0, on_timer);
    }
    compact(r);
}

void muc_broadcast(muc_room_t *r, vn_stanza_t *st, vn_stanza_t *st_anon, const muc_occ_t *except)
{
    muc_bcast_t *b = vn_xcalloc(1, sizeof(*b));
    b->st[0] = st;
    b->st[1] = st_anon;
    split(st, &b->pre[0], &b->suf[0]);
    if (st_anon) split(st_anon, &b->pre[1], &b->suf[1]);
    b->end = r->nslots;
    b->except = except ? except->id : 0;
    if (r->bq_tail)
        r->bq_tail->next = b;
    else
        r->bq_head = b;
    r->bq_tail = b;
    /* Nothing waiting: the first chunk goes out now. */
    if (!r->timer_armed && r->bq_head == b) pump(r);
}

void muc_send_to(muc_occ_t *o, vn_stanza_t *st)
{
    vn_xnode_set_attr(st->arena, st->node, "to", o->jid);
    st->to = o->rjid;
    vn_route(o->room->svc->srv, st);
    vn_stanza_free(st);
}

void muc_send_to_all(muc_occ_t *o, vn_stanza_t *st)
{
    /* Routed (archive, carbons) to one session; its siblings of the same
     * account get the same stanza (stanza-id included) through the
     * DELIVER hooks only, so the account archives it once. */
    vn_server_t *srv = o->room->svc->srv;
    vn_xnode_set_attr(st->arena, st->node, "to", o->jid);
    st->to = o->rjid;
    vn_route(srv, st);
    for (muc_occ_t *p = o->sib; p != o; p = p->sib) {
        vn_session_t *s = muc_occ_session(p);
        if (!s) continue;
        vn_xnode_set_attr(st->arena, st->node, "to", p->jid);
        st->to = p->rjid;
        vn_router_deliver(srv, s, st);
    }
    vn_stanza_free(st);
}

void muc_fanout_drop(muc_room_t *r)
{
    while (r->bq_head) {
        muc_bcast_t *b = r->bq_head;
        r->bq_head = b->next;
        bcast_free(b);
    }
    r->bq_tail = NULL;
    if (r->timer_armed) {
        vn_timer_stop(r->svc->srv->loop, &r->timer);
        r->timer_armed = 0;
        r->refs--; /* the timer's reference; the caller holds another */
    }
}

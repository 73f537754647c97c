/* muc: room fan-out in one XEP-0045 room. N occupants sign in; the first
 * checks that the MUC service exists (disco#info, identity category
 * 'conference'), creates the room and submits the default configuration
 * (an instant room) when the server says it created it (status 201); then
 * the others join, --join-concurrency at a time, with history suppressed
 * (<history maxstanzas='0'/>). Filling the room is measured on its own: each
 * join makes the server send a presence to every occupant, N^2 presences in
 * all, and the run gives up after --fill-timeout seconds.
 *
 * Then one messaging phase per rate (--rates, or --rate): a few senders post
 * groupchat messages, at a fixed rate into the room (all senders together)
 * or flat out with at most --window messages not yet received by every
 * occupant. Messages are numbered in sending order across all senders (one
 * shared counter); every occupant, the sender included, must receive each
 * exactly once. Per message: send to its LAST copy (fan-out latency); per
 * copy: send to arrival; delivered copies/s and server CPU per copy over the
 * measured window; then a drain until every message is complete (or nothing
 * arrived for --drain seconds: the rest is lost). */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include "common.h"

enum {
    MUC_OK = 0,
    MUC_NO_SERVICE = -1,
    MUC_JOIN_REFUSED = -2,
    MUC_CONFIG_REFUSED = -3,
    MUC_NO_CREATOR = -4,
    MUC_NO_PBCAST = -5, /* --presence-broadcast: not offered or refused */
};

/* Exit statuses (besides 0 and 1) that bench/compare tells apart. */
enum { RC_FILL_TIMEOUT = 3, RC_NO_MUC = 4, RC_NO_PBCAST = 5 };

#define RELAXED memory_order_relaxed
/* a counter with a single writer (its worker): no locked instruction */
#define BUMP(x) atomic_store_explicit(&(x), atomic_load_explicit(&(x), RELAXED) + 1, RELAXED)
#define PUT(x, v) atomic_store_explicit(&(x), (v), RELAXED)
#define GET(x) atomic_load_explicit(&(x), RELAXED)

/* Per worker, written by that worker only (the parent reads). */
struct mwres {
    _Atomic uint64_t joined, refused, presences, unavailable;
    _Atomic uint64_t copies, copies_window, dups, bounced, stale;
    _Atomic uint64_t sent, sent_window, cap_hit;
    _Atomic int64_t last_join, last_presence, last_copy;
    struct hist join;   /* join presence sent -> own presence (status 110) */
    struct hist fanout; /* message sent -> its last copy (messages sent in the window) */
    char why[120];      /* detail of a failed creation or the first refused join */
    _Atomic int stage;  /* creator: STAGE_* reached */
};

enum { STAGE_DISCO = 1, STAGE_JOIN, STAGE_FORM, STAGE_CONFIG };

/* Shared by all processes: mapped by the parent before the workers fork. */
struct mshm {
    _Atomic uint64_t next_id;   /* messages handed out in this phase */
    _Atomic uint64_t completed; /* messages every occupant has */
    uint32_t occupants;
    uint32_t phase; /* messages carry it; 0 = not sending */
    uint64_t cap;   /* slots: most messages per phase */
    double rate;    /* this phase: messages/s into the room, 0 = flat out */
    uint64_t window;
    struct mwres w[MAX_WORKERS];
    _Atomic uint32_t copies[]; /* per message: occupants that have it */
};

static struct mshm *M;
static size_t M_size;

/* ---- worker ---- */

static struct {
    struct mwres *r;
    char room[160]; /* room@service */
    char *pad;
    int64_t *join_t;   /* per local session: join presence sent (0: not yet) */
    uint8_t *in_room;  /* per local session */
    uint64_t *seen;    /* per local session: one bit per message id */
    size_t seen_words; /* per session */
    uint32_t *snd;     /* local sessions that send */
    uint32_t nsnd, rr;
    uint8_t *dirty; /* per local sender: output waiting for a flush */
    int creating, joining, sending, blocked;
    uint32_t jnext, jinflight, jmax;
    uint32_t phase;
    int64_t t0, tms, tme;
} st;

static void w_init(struct worker *w)
{
    const struct opts *o = w->o;
    st.r = &M->w[w->id];
    const char *svc = o->muc_service;
    char svcbuf[120];
    if (!svc) {
        snprintf(svcbuf, sizeof svcbuf, "conference.%s", o->domain);
        svc = svcbuf;
    }
    if (o->room)
        snprintf(st.room, sizeof st.room, "%s@%s", o->room, svc);
    else
        snprintf(st.room, sizeof st.room, "bench-%08x@%s", o->token, svc);
    size_t padlen = o->body_size > 48 ? o->body_size - 48 : 0;
    st.pad = xmalloc(padlen + 1);
    memset(st.pad, 'x', padlen);
    st.pad[padlen] = 0;
    st.join_t = xcalloc(w->count, sizeof *st.join_t);
    st.in_room = xcalloc(w->count, 1);
    st.seen_words = (size_t)(M->cap + 63) / 64;
    st.seen = xcalloc((size_t)w->count * st.seen_words, sizeof *st.seen);
    /* senders: accounts k * N / S for k < S, spread over the workers */
    unsigned S = o->senders < w->total ? o->senders : w->total;
    st.snd = xcalloc(S ? S : 1, sizeof *st.snd);
    for (unsigned k = 0; k < S; k++) {
        uint32_t g = (uint32_t)((uint64_t)k * w->total / S);
        if (g >= w->first && g < w->first + w->count) st.snd[st.nsnd++] = g - w->first;
    }
    st.dirty = xcalloc(st.nsnd ? st.nsnd : 1, 1);
}

static const char *svc_of_room(void)
{
    return strchr(st.room, '@') + 1;
}

/* Are ordinary joins broadcast? With the default configuration, or when
 * --presence-broadcast includes participant (the joiners' role), every join
 * reaches every occupant: N^2 presences to fill the room. Otherwise only the
 * creator's (a moderator's) presence is broadcast: each joiner receives the
 * creator's presence and its own. */
static int joins_broadcast(const struct opts *o)
{
    return !o->presence_broadcast || strstr(o->presence_broadcast, "participant") != NULL;
}

/* the creator: submit the configuration (an instant room, or the form with
 * muc#roomconfig_presencebroadcast) */
static void submit_config(struct worker *w, struct xsess *s)
{
    const struct opts *o = w->o;
    PUT(st.r->stage, STAGE_CONFIG);
    struct sbuf *out = xmpp_out(s);
    sbuf_printf(out,
                "<iq type='set' id='vb-cfg' to='%s'><query "
                "xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
                "type='submit'",
                st.room);
    if (!o->presence_broadcast) {
        sbuf_printf(out, "/></query></iq>");
    } else {
        sbuf_printf(out, "><field var='FORM_TYPE'><value>http://jabber.org/protocol/"
                         "muc#roomconfig</value></field><field "
                         "var='muc#roomconfig_presencebroadcast'>");
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%s", o->presence_broadcast);
        for (char *save = NULL, *r = strtok_r(tmp, ",", &save); r; r = strtok_r(NULL, ",", &save))
            sbuf_printf(out, "<value>%s</value>", r);
        sbuf_printf(out, "</field></x></query></iq>");
    }
    xmpp_flush(s);
}

static void send_join(struct worker *w, uint32_t i)
{
    struct xsess *s = &w->sess[i];
    if (st.creating) PUT(st.r->stage, STAGE_JOIN);
    sbuf_printf(xmpp_out(s),
                "<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'>"
                "<history maxstanzas='0'/></x></presence>",
                st.room, s->local);
    st.join_t[i] = now_ns();
    xmpp_flush(s);
}

static void created(struct worker *w, int code, const char *what, const char *cond)
{
    st.creating = 0;
    if (code)
        snprintf(st.r->why, sizeof st.r->why, "%s%s%s", what, cond && cond[0] ? ": " : "",
                 cond ? cond : "");
    worker_send(w, EV_CREATED, code, 0);
}

static void join_check(struct worker *w)
{
    if (!st.joining || st.jnext < w->count || st.jinflight) return;
    st.joining = 0;
    worker_send(w, EV_JOINED, (int64_t)GET(st.r->joined), (int64_t)GET(st.r->refused));
}

static void join_next(struct worker *w)
{
    while (st.joining && st.jnext < w->count && st.jinflight < st.jmax) {
        uint32_t i = st.jnext++;
        if (w->sess[i].state != XS_ONLINE) {
            BUMP(st.r->refused);
            if (!st.r->why[0]) snprintf(st.r->why, sizeof st.r->why, "session not online");
            continue;
        }
        send_join(w, i);
        st.jinflight++;
    }
    join_check(w);
}

static void join_done(struct worker *w, uint32_t i, int ok, const char *cond)
{
    if (!ok) {
        BUMP(st.r->refused);
        if (!st.r->why[0])
            snprintf(st.r->why, sizeof st.r->why, "join refused: %s", cond[0] ? cond : "?");
    }
    if (st.creating && w->first == 0 && i == 0) return;
    if (st.jinflight) st.jinflight--;
    join_next(w);
}

static void w_presence(struct worker *w, struct xsess *s, unsigned flags)
{
    uint32_t i = s->idx;
    /* the room's presences only: not the echo of the initial presence */
    if (!st.join_t[i] && !st.in_room[i]) return;
    int64_t now = now_ns();
    BUMP(st.r->presences);
    PUT(st.r->last_presence, now);
    if (flags & XP_UNAVAILABLE) {
        BUMP(st.r->unavailable); /* someone left (a dropped session) */
        return;
    }
    if (st.in_room[i]) return;
    if (flags & XP_ERROR) {
        st.join_t[i] = 0;
        if (st.creating && w->first == 0 && i == 0) {
            created(w, MUC_JOIN_REFUSED, "the room creator's join was refused", s->cond);
            return;
        }
        join_done(w, i, 0, s->cond);
        return;
    }
    if (!(flags & XP_SELF)) return; /* another occupant's presence */
    st.in_room[i] = 1;
    hist_add(&st.r->join, now - st.join_t[i]);
    BUMP(st.r->joined);
    PUT(st.r->last_join, now);
    if (st.creating && w->first == 0 && i == 0) {
        if (w->o->presence_broadcast) {
            /* fetch the configuration form: does it offer presencebroadcast? */
            PUT(st.r->stage, STAGE_FORM);
            sbuf_printf(xmpp_out(s),
                        "<iq type='get' id='vb-form' to='%s'><query "
                        "xmlns='http://jabber.org/protocol/muc#owner'/></iq>",
                        st.room);
            xmpp_flush(s);
        } else if (flags & XP_CREATED) {
            /* a new room: accept the default configuration (an instant room) */
            submit_config(w, s);
        } else {
            created(w, MUC_OK, "", NULL); /* the room existed already */
        }
        return;
    }
    join_done(w, i, 1, "");
}

static void w_iq(struct worker *w, struct xsess *s, unsigned flags)
{
    if (!st.creating || w->first != 0 || s->idx != 0) return;
    if (!strcmp(s->id, "vb-disco")) {
        if (flags & XP_ERROR)
            created(w, MUC_NO_SERVICE, "disco#info to the MUC service failed", s->cond);
        else if (!(flags & XP_CONFERENCE))
            created(w, MUC_NO_SERVICE, "the service has no identity of category 'conference'",
                    NULL);
        else
            send_join(w, 0);
    } else if (!strcmp(s->id, "vb-form")) {
        if (flags & XP_ERROR)
            created(w, MUC_NO_PBCAST, "the configuration form was refused", s->cond);
        else if (!(flags & XP_PBCAST))
            created(w, MUC_NO_PBCAST, "no such field in the room configuration form", NULL);
        else
            submit_config(w, s);
    } else if (!strcmp(s->id, "vb-cfg")) {
        if (flags & XP_ERROR && w->o->presence_broadcast)
            created(w, MUC_NO_PBCAST, "the submitted field was refused", s->cond);
        else if (flags & XP_ERROR)
            created(w, MUC_CONFIG_REFUSED, "the instant-room configuration was refused", s->cond);
        else
            created(w, MUC_OK, "", NULL);
    }
}

/* Hand out message ids (shared counter) to this worker's senders while the
 * schedule and the window allow; one write per sender per call. */
static void send_some(struct worker *w, int64_t now)
{
    st.blocked = 0;
    if (!st.sending || !st.nsnd || now < st.t0 || now >= st.tme) return;
    const struct opts *o = w->o;
    double rate = M->rate;
    for (;;) {
        uint64_t id = atomic_load(&M->next_id);
        if (id >= M->cap) {
            PUT(st.r->cap_hit, 1);
            break;
        }
        if (rate > 0 && now < st.t0 + (int64_t)((double)id * 1e9 / rate)) break;
        if (id - atomic_load(&M->completed) >= M->window) {
            st.blocked = 1;
            break;
        }
        if (!atomic_compare_exchange_weak(&M->next_id, &id, id + 1)) continue;
        uint32_t k = st.rr++ % st.nsnd;
        struct xsess *s = &w->sess[st.snd[k]];
        if (s->state != XS_ONLINE) {
            /* a dropped sender: the id is counted as sent and will be lost */
            BUMP(st.r->sent);
            continue;
        }
        sbuf_printf(xmpp_out(s),
                    "<message to='%s' type='groupchat'><body>%x %u %llu %lld %s</body></message>",
                    st.room, o->token, st.phase, (unsigned long long)id, (long long)now, st.pad);
        st.dirty[k] = 1;
        BUMP(st.r->sent);
        if (now >= st.tms) BUMP(st.r->sent_window);
    }
    for (uint32_t k = 0; k < st.nsnd; k++)
        if (st.dirty[k]) {
            st.dirty[k] = 0;
            xmpp_flush(&w->sess[st.snd[k]]);
        }
}

static void w_message(struct worker *w, struct xsess *s, const char *body, size_t n, int is_error)
{
    (void)n;
    if (is_error) {
        BUMP(st.r->bounced);
        worker_error(w, "groupchat message bounced with type='error'");
        return;
    }
    if (!body[0]) return; /* the room subject, sent on join */
    char *end;
    unsigned long token = strtoul(body, &end, 16);
    unsigned long phase = strtoul(end, &end, 10);
    unsigned long long id = strtoull(end, &end, 10);
    long long ts = strtoll(end, &end, 10);
    if (token != w->o->token || !st.phase || phase != st.phase || id >= M->cap || ts <= 0) {
        BUMP(st.r->stale);
        return;
    }
    uint64_t *bits = st.seen + (size_t)s->idx * st.seen_words + id / 64;
    uint64_t bit = 1ull << (id % 64);
    if (*bits & bit) {
        BUMP(st.r->dups);
        return;
    }
    *bits |= bit;
    int64_t now = now_ns();
    uint32_t c = atomic_fetch_add(&M->copies[id], 1) + 1;
    BUMP(st.r->copies);
    PUT(st.r->last_copy, now);
    if (now >= st.tms && now < st.tme) BUMP(st.r->copies_window);
    int measured = ts >= st.tms && ts < st.tme;
    if (measured) hist_add(&w->res->lat, now - ts);
    if (c == M->occupants) {
        atomic_fetch_add(&M->completed, 1);
        if (measured) hist_add(&st.r->fanout, now - ts);
        if (st.blocked) send_some(w, now);
    }
}

static void w_cmd(struct worker *w, const struct ctl *m)
{
    switch (m->cmd) {
    case CMD_CONNECT:
        hold_cmd(w, (uint32_t)m->a);
        return;
    case CMD_MUC_CREATE: {
        if (w->first != 0 || !w->count || w->sess[0].state != XS_ONLINE) {
            created(w, MUC_NO_CREATOR, "the first account is not online", NULL);
            return;
        }
        st.creating = 1;
        PUT(st.r->stage, STAGE_DISCO);
        struct xsess *s = &w->sess[0];
        sbuf_printf(xmpp_out(s),
                    "<iq type='get' id='vb-disco' to='%s'><query "
                    "xmlns='http://jabber.org/protocol/disco#info'/></iq>",
                    svc_of_room());
        xmpp_flush(s);
        return;
    }
    case CMD_MUC_JOIN: {
        uint32_t per = (uint32_t)(m->a / w->nw);
        st.jmax = per ? per : 1;
        st.jnext = w->first == 0 ? 1 : 0; /* the creator is in already */
        st.jinflight = 0;
        st.joining = 1;
        join_next(w);
        return;
    }
    case CMD_MUC_SEND:
        memset(st.seen, 0, (size_t)w->count * st.seen_words * sizeof *st.seen);
        hist_init(&w->res->lat);
        hist_init(&st.r->fanout);
        PUT(st.r->copies, 0);
        PUT(st.r->copies_window, 0);
        PUT(st.r->dups, 0);
        PUT(st.r->bounced, 0);
        PUT(st.r->stale, 0);
        PUT(st.r->sent, 0);
        PUT(st.r->sent_window, 0);
        PUT(st.r->cap_hit, 0);
        st.phase = M->phase;
        st.t0 = m->a;
        st.tms = st.tme = INT64_MAX; /* CMD_WINDOW sets them after the warm-up */
        st.sending = 1;
        return;
    case CMD_WINDOW:
        st.tms = m->a;
        st.tme = m->b;
        return;
    case CMD_STOP:
        st.sending = 0;
        st.phase = 0; /* late copies from now on are stale */
        worker_send(w, EV_DONE, 0, 0);
        return;
    }
}

static void w_online(struct worker *w, struct xsess *s)
{
    (void)s;
    w->res->ok++;
    hold_check(w);
}

static void w_closed(struct worker *w, struct xsess *s, const char *err)
{
    (void)err;
    if (!s->t_online) {
        hold_failed++;
    } else {
        w->res->failed++; /* an established session was dropped */
        uint32_t i = s->idx;
        if (st.join_t[i] && !st.in_room[i]) {
            st.join_t[i] = 0;
            if (st.creating && w->first == 0 && i == 0)
                created(w, MUC_NO_CREATOR, "the room creator's session was dropped", NULL);
            else
                join_done(w, i, 0, "session dropped");
        }
    }
    hold_check(w);
}

static int w_tick(struct worker *w, int64_t now)
{
    if (!st.sending || !st.nsnd) return -1;
    if (now < st.t0) return (int)((st.t0 - now) / 1000000) + 1;
    if (now >= st.tme) return -1;
    send_some(w, now);
    int timeout = 1000;
    if (st.blocked) {
        timeout = 1; /* the window is full: completions may happen in another worker */
    } else if (M->rate > 0) {
        uint64_t id = atomic_load(&M->next_id);
        if (id >= M->cap) return 1000; /* out of message slots: nothing more to send */
        int64_t due = st.t0 + (int64_t)((double)id * 1e9 / M->rate);
        timeout = due <= now ? 0 : (int)((due - now) / 1000000) + 1;
    }
    int64_t left = (st.tme - now) / 1000000 + 1;
    return left < timeout ? (int)left : timeout;
}

/* ---- parent ---- */

static uint64_t sum_of(size_t off, int nw)
{
    uint64_t n = 0;
    for (int i = 0; i < nw; i++)
        n += atomic_load((_Atomic uint64_t *)((char *)&M->w[i] + off));
    return n;
}
#define SUM(field) sum_of(offsetof(struct mwres, field), b->nw)

static int64_t max_of(size_t off, int nw)
{
    int64_t v = 0;
    for (int i = 0; i < nw; i++) {
        int64_t x = atomic_load((_Atomic int64_t *)((char *)&M->w[i] + off));
        if (x > v) v = x;
    }
    return v;
}
#define MAXOF(field) max_of(offsetof(struct mwres, field), b->nw)

/* Wait for every worker's EV_JOINED. Gives up at --fill-timeout, or
 * earlier when the pace so far says the room cannot fill in time: joining
 * the k-th occupant costs about k presences each way, so filling takes
 * about t * (N / k)^2 after k joins in t seconds (t * N / k when joins are
 * not broadcast). Returns 0, -1 (gave up,
 * status says why) or -2 (a worker died). */
static int wait_filled(struct bench *b, int64_t t_start, char *status, size_t cap)
{
    const struct opts *o = b->o;
    int got[MAX_WORKERS] = {0}, left = b->nw;
    int64_t last_note = now_ns();
    while (left > 0) {
        struct pollfd pf[MAX_WORKERS];
        for (int i = 0; i < b->nw; i++)
            pf[i] = (struct pollfd){.fd = got[i] ? -1 : b->ctl[i], .events = POLLIN};
        if (poll(pf, (nfds_t)b->nw, 1000) < 0 && errno != EINTR) return -2;
        for (int i = 0; i < b->nw; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            struct ctl m;
            if (recv(b->ctl[i], &m, sizeof m, 0) != sizeof m) {
                snprintf(status, cap, "worker %d died", i);
                return -2;
            }
            if (m.cmd == EV_JOINED && !got[i]) {
                got[i] = 1;
                left--;
            }
        }
        if (!left) break;
        int64_t now = now_ns();
        double t = (double)(now - t_start) / 1e9;
        uint64_t k = SUM(joined);
        if (t >= o->fill_timeout_s) {
            snprintf(status, cap, "did not finish in %.0f s (%llu of %u joined)", o->fill_timeout_s,
                     (unsigned long long)k, o->n);
            return -1;
        }
        /* quadratic when every join is broadcast, linear otherwise */
        double projected = k ? t * ((double)o->n / (double)k) : 0;
        if (joins_broadcast(o)) projected *= (double)o->n / (double)k;
        if (t >= 30 && k >= 50 && projected > 3 * o->fill_timeout_s) {
            snprintf(
                status, cap,
                "would not finish in %.0f s: %llu of %u joined in %.0f s (about %.0f s at that "
                "pace)",
                o->fill_timeout_s, (unsigned long long)k, o->n, t, projected);
            return -1;
        }
        if (!o->json_only && now - last_note > 30000000000LL) {
            last_note = now;
            fprintf(stderr, "vestnik-bench: muc: %llu of %u joined after %.0f s\n",
                    (unsigned long long)k, o->n, t);
        }
    }
    return 0;
}

static uint64_t automatic_window(uint32_t n)
{
    /* enough messages in flight to keep a server busy, but a bounded number
     * of copies queued (about 10,000: a second of work for a slow server) */
    uint64_t w = 10000 / n;
    if (w > 200) w = 200;
    if (w < 2) w = 2;
    return w;
}

/* CPU time other processes took from the server's core (when it is pinned
 * to one) over a window, % of the window; "" when unknown. */
static void row_core_others(struct row *r, int core, double busy0, double busy1, double srv,
                            double wall)
{
    if (core < 0 || busy0 < 0 || busy1 < 0 || wall <= 0) {
        row_str(r, "core_others_pct", "");
        return;
    }
    double o = (busy1 - busy0 - srv) / wall * 100;
    row_num(r, "core_others_pct", o > 0 ? o : 0, 0);
}

static const char *rate_name(double r, char *buf, size_t cap)
{
    if (r > 0)
        snprintf(buf, cap, "%g", r);
    else
        snprintf(buf, cap, "max");
    return buf;
}

static int run(struct bench *b)
{
    const struct opts *o = b->o;
    uint32_t N = o->n;
    if (N < 2) die("muc needs at least 2 occupants");
    double rates[MAX_STEPS];
    int nph = o->nrates;
    if (nph)
        memcpy(rates, o->rates, sizeof rates);
    else
        rates[nph++] = o->rate;
    /* slots for the largest phase: a fixed rate sends rate x time; flat out
     * is bounded by what the generator can receive (well below a million
     * copies/s); running out stops the phase early and is reported */
    double span = o->warmup_s + o->duration_s + 30; /* slack for a longer warm-up */
    double cap = 0;
    for (int p = 0; p < nph; p++) {
        double c = rates[p] > 0 ? rates[p] * span + 64 : 1e6 * span / N;
        if (c > cap) cap = c;
    }
    if (cap < 1000) cap = 1000;
    if (cap > 16e6) cap = 16e6;
    M_size = sizeof(struct mshm) + (size_t)cap * sizeof(_Atomic uint32_t);
    M = mmap(NULL, M_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (M == MAP_FAILED) die("mmap of %zu bytes failed", M_size);
    M->occupants = N;
    M->cap = (uint64_t)cap;
    for (int i = 0; i < MAX_WORKERS; i++) {
        hist_init(&M->w[i].join);
        hist_init(&M->w[i].fanout);
    }
    uint64_t window = o->window_set ? o->window : automatic_window(N);
    unsigned senders = o->senders < N ? o->senders : N;
    if ((double)N * (double)M->cap / 8 / 2 > 2e9) die("too many messages for %u occupants", N);

    bench_spawn(b, N);
    long failed = bench_hold(b, N);
    struct wres sum;
    if (failed != 0) {
        bench_sum_results(b, &sum);
        bench_meta(b, &sum);
        fprintf(stderr, "vestnik-bench: %s while signing %u occupants in\n",
                failed < 0 ? "timed out" : "sign-ins failed", N);
        bench_stop(b);
        munmap(M, M_size);
        return 1;
    }

    /* ---- fill the room ---- */
    int rc = 0;
    char status[200] = "ok";
    const struct pidset *srv = &o->server;
    long rss0 = srv->n ? proc_rss_kib(srv) : -1;
    int core = proc_pinned_cpu(srv);
    double cb0 = core >= 0 ? cpu_busy_s(core) : -1;
    double sc0 = srv->n ? proc_cpu_s(srv) : 0, gc0 = bench_gen_cpu(b);
    int64_t t_start = now_ns();
    bench_send(b, 0, CMD_MUC_CREATE, 0, 0, 0);
    struct ctl rep;
    if (bench_wait_one(b, 0, EV_CREATED, 30, &rep) < 0) {
        int stage = GET(M->w[0].stage);
        if (stage <= STAGE_DISCO) {
            snprintf(status, sizeof status, "no MUC service (no answer to disco#info in 30 s)");
            rc = RC_NO_MUC;
        } else {
            snprintf(status, sizeof status, "%s",
                     stage == STAGE_JOIN ? "the room creator's join got no own presence (status "
                                           "110) in 30 s"
                     : stage == STAGE_FORM
                         ? "the room configuration form (muc#owner get) got no answer in 30 s"
                     : o->presence_broadcast
                         ? "the room configuration (presencebroadcast) got no answer in 30 s"
                         : "the instant-room configuration got no answer in 30 s");
            rc = 1;
        }
    } else if (rep.a < 0) {
        snprintf(status, sizeof status, "%s%s",
                 rep.a == MUC_NO_SERVICE  ? "no MUC service: "
                 : rep.a == MUC_NO_PBCAST ? "server does not support presencebroadcast: "
                                          : "",
                 M->w[0].why);
        rc = rep.a == MUC_NO_SERVICE ? RC_NO_MUC : rep.a == MUC_NO_PBCAST ? RC_NO_PBCAST : 1;
    } else {
        bench_send_all(b, CMD_MUC_JOIN, o->join_concurrency, 0, 0);
        int w = wait_filled(b, t_start, status, sizeof status);
        if (w < 0) {
            rc = w == -2 ? 1 : RC_FILL_TIMEOUT;
        } else if (SUM(refused)) {
            const char *why = "";
            for (int i = 0; i < b->nw && !why[0]; i++)
                why = M->w[i].why;
            snprintf(status, sizeof status, "%llu joins failed (%s)",
                     (unsigned long long)SUM(refused), why);
            rc = 1;
        }
    }
    int64_t t_filled = MAXOF(last_join);
    /* the presences of the last joins are still on their way to the others:
     * wait for all of them (N x N; or 2N - 1 when joins are not broadcast:
     * the creator's own, then per joiner the creator's and its own), or
     * until none arrived for --settle s */
    uint64_t expect = joins_broadcast(o) ? (uint64_t)N * N : 2 * (uint64_t)N - 1;
    if (rc == 0) {
        uint64_t seen = SUM(presences);
        int64_t change = now_ns();
        for (;;) {
            sleep_until(now_ns() + 20000000);
            uint64_t p = SUM(presences);
            int64_t now = now_ns();
            if (p != seen) {
                seen = p;
                change = now;
            }
            if (p >= expect && now - change > 200000000) break;
            if (now - change > (int64_t)(o->settle_s * 1e9)) break;
        }
    }
    int64_t t_end = now_ns();
    double fsrv = srv->n ? proc_cpu_s(srv) - sc0 : 0, fgen = bench_gen_cpu(b) - gc0;
    double cb1 = core >= 0 ? cpu_busy_s(core) : -1;
    long rss1 = srv->n ? proc_rss_kib(srv) : -1;
    uint64_t pres = SUM(presences);
    int64_t t_pres = MAXOF(last_presence);
    double fill_s = rc == 0 ? (double)(t_filled - t_start) / 1e9 : 0;
    double pres_s = rc == 0 ? (double)(t_pres - t_start) / 1e9 : 0;
    double wall = (double)(t_end - t_start) / 1e9;
    struct hist jh;
    hist_init(&jh);
    for (int i = 0; i < b->nw; i++)
        hist_merge(&jh, &M->w[i].join);
    {
        struct row r = {0};
        row_head(b, &r);
        row_str(&r, "phase", "fill");
        row_int(&r, "occupants", N);
        row_str(&r, "status", status);
        row_int(&r, "joined", (long long)SUM(joined));
        row_int(&r, "join_concurrency", o->join_concurrency);
        row_str(&r, "presence_broadcast", o->presence_broadcast ? o->presence_broadcast : "all");
        if (rc == 0) {
            row_num(&r, "fill_s", fill_s, 2);
            row_num(&r, "joins_per_s", fill_s > 0 ? N / fill_s : 0, 0);
        } else {
            row_str(&r, "fill_s", "");
            row_str(&r, "joins_per_s", "");
        }
        row_num(&r, "join_p50_ms", jh.count ? hist_quantile(&jh, 0.5) / 1e6 : 0, 2);
        row_num(&r, "join_p99_ms", jh.count ? hist_quantile(&jh, 0.99) / 1e6 : 0, 2);
        row_num(&r, "join_max_ms", jh.count ? hist_quantile(&jh, 1.0) / 1e6 : 0, 2);
        row_int(&r, "presences", (long long)pres);
        row_int(&r, "presences_expected", (long long)expect);
        if (rc == 0) {
            row_num(&r, "presence_s", pres_s, 2);
            row_num(&r, "presences_per_s", pres_s > 0 ? (double)pres / pres_s : 0, 0);
        } else {
            row_str(&r, "presence_s", "");
            row_str(&r, "presences_per_s", "");
        }
        row_num(&r, "wall_s", wall, 1);
        if (srv->n) {
            row_num(&r, "server_cpu_pct", 100 * fsrv / wall, 0);
            row_core_others(&r, core, cb0, cb1, fsrv, wall);
            row_num(&r, "server_us_per_presence", pres ? fsrv / (double)pres * 1e6 : 0, 2);
            row_num(&r, "room_kib_per_occupant", (double)(rss1 - rss0) / N, 1);
            row_int(&r, "server_rss_kib", rss1);
        } else {
            row_str(&r, "server_cpu_pct", "");
            row_str(&r, "core_others_pct", "");
            row_str(&r, "server_us_per_presence", "");
            row_str(&r, "room_kib_per_occupant", "");
            row_str(&r, "server_rss_kib", "");
        }
        row_num(&r, "gen_cpu_pct", 100 * fgen / wall, 0);
        row_num(&r, "gen_us_per_presence", pres ? fgen / (double)pres * 1e6 : 0, 2);
        /* joins not broadcast, yet far more presences than the configuration
         * allows (ejabberd adds one from the room per joiner): the server
         * accepted the field but did not apply it */
        row_str(&r, "note",
                rc == 0 && !joins_broadcast(o) && pres > expect + 2 * (uint64_t)N
                    ? "more presences than presencebroadcast allows: the setting was not applied"
                    : "");
        char title[240];
        if (joins_broadcast(o))
            snprintf(title, sizeof title,
                     "muc fill (%u occupants join one room, %u at a time; every join is presence "
                     "to every occupant: N^2 presences)",
                     N, o->join_concurrency);
        else
            snprintf(title, sizeof title,
                     "muc fill (%u occupants join one room, %u at a time; presence broadcast: %s "
                     "only, so a join is the creator's presence and the joiner's own: 2N - 1 "
                     "presences)",
                     N, o->join_concurrency, o->presence_broadcast);
        bench_emit(b, title, &r, 1);
    }
    if (rc != 0) {
        bench_sum_results(b, &sum);
        bench_meta(b, &sum);
        fprintf(stderr, "vestnik-bench: muc: %s\n", status);
        bench_stop(b);
        munmap(M, M_size);
        return rc;
    }

    /* ---- messaging phases on the filled room ---- */
    struct row rows[MAX_STEPS];
    uint64_t lost_all = 0, dup_all = 0, bad_all = 0;
    for (int p = 0; p < nph; p++) {
        memset((void *)M->copies, 0, (size_t)M->cap * sizeof M->copies[0]);
        atomic_store(&M->next_id, 0);
        atomic_store(&M->completed, 0);
        M->phase = (uint32_t)p + 1;
        M->rate = rates[p];
        M->window = window;
        int64_t t0 = now_ns() + 200000000;
        bench_send_all(b, CMD_MUC_SEND, t0, 0, 0);
        /* warm-up: at least --warmup s and, flat out, until the first
         * window of messages has reached everyone (the initial burst has
         * left the server's queues); at most --warmup-max s */
        int64_t wmin = t0 + (int64_t)(o->warmup_s * 1e9);
        int64_t wmax = t0 + (int64_t)(o->warmup_max_s * 1e9);
        for (;;) {
            int64_t now = now_ns();
            if (now >= wmax) break;
            if (now >= wmin && (rates[p] > 0 || atomic_load(&M->completed) >= window)) break;
            sleep_until(now + 10000000);
        }
        int64_t tms = now_ns() + 20000000;
        int64_t tme = tms + (int64_t)(o->duration_s * 1e9);
        bench_send_all(b, CMD_WINDOW, tms, tme, 0);
        double warm = (double)(tms - t0) / 1e9;
        sleep_until(tms);
        double s0 = srv->n ? proc_cpu_s(srv) : 0, g0 = bench_gen_cpu(b);
        double pb0 = core >= 0 ? cpu_busy_s(core) : -1;
        sleep_until(tme);
        double scpu = srv->n ? proc_cpu_s(srv) - s0 : 0, gcpu = bench_gen_cpu(b) - g0;
        double pb1 = core >= 0 ? cpu_busy_s(core) : -1;
        long rss = srv->n ? proc_rss_kib(srv) : -1;
        /* drain: every message sent complete, or nothing arrived for --drain s */
        uint64_t seen = SUM(copies);
        int64_t change = now_ns();
        while (atomic_load(&M->completed) < atomic_load(&M->next_id)) {
            int64_t now = now_ns();
            if (now - change > (int64_t)(o->drain_s * 1e9)) break;
            sleep_until(now + 10000000);
            uint64_t c = SUM(copies);
            if (c != seen) {
                seen = c;
                change = now_ns();
            }
        }
        double drain = (double)(now_ns() - tme) / 1e9;
        bench_send_all(b, CMD_STOP, 0, 0, 0);
        if (bench_wait_all(b, EV_DONE, 30, NULL) < 0) {
            fprintf(stderr, "vestnik-bench: muc phase %d did not finish\n", p + 1);
            rc = 1;
            break;
        }
        uint64_t sent = atomic_load(&M->next_id), lost = 0;
        for (uint64_t id = 0; id < sent; id++) {
            uint32_t c = atomic_load_explicit(&M->copies[id], RELAXED);
            if (c < N) lost += N - c;
        }
        struct hist fo, cp;
        hist_init(&fo);
        hist_init(&cp);
        for (int i = 0; i < b->nw; i++) {
            hist_merge(&fo, &M->w[i].fanout);
            hist_merge(&cp, &b->shm->w[i].lat);
        }
        uint64_t dups = SUM(dups), bounced = SUM(bounced);
        lost_all += lost;
        dup_all += dups;
        bad_all += bounced;
        double dur = o->duration_s;
        double cps = (double)SUM(copies_window) / dur;
        char rn[32];
        struct row *r = &rows[p];
        memset(r, 0, sizeof *r);
        row_head(b, r);
        row_str(r, "phase", "fanout");
        row_int(r, "occupants", N);
        row_int(r, "senders", senders);
        row_str(r, "rate", rate_name(rates[p], rn, sizeof rn));
        row_int(r, "window", (long long)window);
        row_num(r, "msgs_per_s", (double)SUM(sent_window) / dur, 1);
        row_num(r, "copies_per_s", cps, 0);
        row_int(r, "messages", (long long)fo.count);
        row_num(r, "fanout_p50_ms", fo.count ? hist_quantile(&fo, 0.5) / 1e6 : 0, 2);
        row_num(r, "fanout_p99_ms", fo.count ? hist_quantile(&fo, 0.99) / 1e6 : 0, 2);
        row_num(r, "fanout_max_ms", fo.count ? hist_quantile(&fo, 1.0) / 1e6 : 0, 2);
        row_num(r, "copy_p50_ms", cp.count ? hist_quantile(&cp, 0.5) / 1e6 : 0, 2);
        row_num(r, "copy_p99_ms", cp.count ? hist_quantile(&cp, 0.99) / 1e6 : 0, 2);
        row_int(r, "lost", (long long)lost);
        row_int(r, "dup", (long long)dups);
        row_int(r, "bounced", (long long)bounced);
        row_int(r, "stale", (long long)SUM(stale));
        if (srv->n) {
            row_num(r, "server_cpu_pct", 100 * scpu / dur, 0);
            row_core_others(r, core, pb0, pb1, scpu, dur);
            row_num(r, "server_us_per_copy", cps > 0 ? scpu / dur / cps * 1e6 : 0, 2);
            row_int(r, "server_rss_kib", rss);
        } else {
            row_str(r, "server_cpu_pct", "");
            row_str(r, "core_others_pct", "");
            row_str(r, "server_us_per_copy", "");
            row_str(r, "server_rss_kib", "");
        }
        row_num(r, "gen_cpu_pct", 100 * gcpu / dur, 0);
        row_num(r, "gen_us_per_copy", cps > 0 ? gcpu / dur / cps * 1e6 : 0, 2);
        row_num(r, "warmup_s", warm, 1);
        row_num(r, "drain_s", drain, 1);
        row_str(r, "note", SUM(cap_hit) ? "message slots ran out: sending stopped early" : "");
        if (SUM(cap_hit)) rc = 1;
        if (!fo.count) {
            fprintf(stderr, "vestnik-bench: muc phase %d: no message reached every occupant\n",
                    p + 1);
            rc = 1;
        }
    }
    char title[240];
    snprintf(title, sizeof title,
             "muc fan-out (%u occupants, %u senders; rate = messages/s into the room, max = flat "
             "out with at most 'window' messages not yet everywhere; fan-out = send to the last "
             "copy; measured %.0f s after the warm-up)",
             N, senders, o->duration_s);
    bench_emit(b, title, rows, nph);
    bench_sum_results(b, &sum);
    bench_meta(b, &sum);
    uint64_t dropped = 0;
    for (int i = 0; i < b->nw; i++)
        dropped += b->shm->w[i].failed;
    uint64_t unavail = SUM(unavailable);
    bench_stop(b);
    munmap(M, M_size);
    if (lost_all || dup_all || bad_all || dropped || unavail) {
        fprintf(stderr,
                "vestnik-bench: FAILED: lost %llu, duplicated %llu, bounced %llu, sessions "
                "dropped %llu, occupants left %llu\n",
                (unsigned long long)lost_all, (unsigned long long)dup_all,
                (unsigned long long)bad_all, (unsigned long long)dropped,
                (unsigned long long)unavail);
        rc = 1;
    }
    return rc;
}

const struct scenario scenario_muc = {
    .name = "muc",
    .fast_presence = 1,
    .run = run,
    .w_init = w_init,
    .w_cmd = w_cmd,
    .w_online = w_online,
    .w_message = w_message,
    .w_closed = w_closed,
    .w_presence = w_presence,
    .w_iq = w_iq,
    .w_tick = w_tick,
};

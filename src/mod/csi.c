/* XEP-0352: Client State Indication (urn:xmpp:csi:0).
 *
 * A client tells the server with <inactive/> that nobody looks at it (a
 * phone in a pocket) and with <active/> that somebody does again. While a
 * session is inactive, what is not urgent is held back instead of waking
 * the radio for it (§3.2 lists these optimisations as examples):
 *   - presence: only the latest per sender full JID is kept;
 *   - chat-state-only messages (XEP-0085): only the latest per
 *     conversation is kept;
 *   - other stanzas without a body (receipts, markers, PEP events, errors):
 *     kept in order.
 * Anything urgent (an IQ, a message with a body, an end-to-end encrypted
 * payload, a receipt request, a call proposal) first flushes what is held,
 * in order, and then goes out: the stream order the client sees is the
 * order in which the stanzas were delivered, minus superseded ones.
 * <active/>, a full queue (CSI_MAX_ITEMS / CSI_MAX_BYTES) and a resumed
 * stream (§4.2: a stream always begins active) flush too.
 *
 * Held stanzas are kept serialised, so an inactive session costs their
 * bytes and nothing else; an active one costs nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"
#include "xmpp/module.h"
#include "xmpp/router.h"

#define NS_CSI "urn:xmpp:csi:0"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"

#define CSI_MAX_ITEMS 500
#define CSI_MAX_BYTES (256 * 1024)

typedef struct held {
    struct held *prev, *next;
    size_t len;
    char xml[]; /* the serialised stanza */
} held_t;

typedef struct csi {
    vn_session_t *s; /* the session whose stream this is (see csi_of) */
    int inactive;
    held_t *head, *tail;
    int n;
    size_t bytes;
    vn_map_t *latest; /* supersede key -> held_t*, created on first use */
} csi_t;

/* Per server (one server per process): what CSI spared the clients. */
static struct {
    unsigned long long saved_bytes;   /* superseded presences and chat states, never sent */
    unsigned long long saved_stanzas;
    unsigned long long delayed_bytes; /* held back, sent later */
    unsigned long long delayed_stanzas;
} stats;

static int csi_slot = -1;

static void flush(csi_t *c, const char *why)
{
    held_t *h = c->head;
    int n = c->n;
    size_t bytes = c->bytes;
    vn_session_t *s = c->s;
    /* Detach everything first: sending may end the session (and free c). */
    c->head = c->tail = NULL;
    c->n = 0;
    c->bytes = 0;
    if (c->latest) {
        vn_map_free(c->latest);
        c->latest = NULL;
    }
    if (!h) return;
    stats.delayed_bytes += bytes;
    stats.delayed_stanzas += (unsigned long long)n;
    vn_debug("csi: session %llu: %s, %d stanza(s) flushed (%zu bytes delayed); "
             "server total: %llu bytes saved (%llu stanzas), %llu bytes delayed (%llu stanzas)",
             s->id, why, n, bytes, stats.saved_bytes, stats.saved_stanzas, stats.delayed_bytes,
             stats.delayed_stanzas);
    while (h) {
        held_t *next = h->next;
        vn_session_send_stanza_raw(s, h->xml, h->len);
        free(h);
        h = next;
    }
}

static void csi_free(csi_t *c)
{
    if (!c) return;
    held_t *h = c->head;
    if (h)
        vn_debug("csi: session %llu ended with %d held stanza(s) (%zu bytes) not sent", c->s->id,
                 c->n, c->bytes);
    while (h) {
        held_t *next = h->next;
        free(h);
        h = next;
    }
    if (c->latest) vn_map_free(c->latest);
    free(c);
}

/* The CSI state of a session. A resumed stream (XEP-0198) takes over the
 * old session's slots, this state among them; a new stream begins active
 * (XEP-0352 §4.2), so the first event seen on it flushes and resets. */
static csi_t *csi_of(vn_session_t *s)
{
    csi_t *c = s->slot[csi_slot];
    if (c && c->s != s) {
        c->s = s;
        c->inactive = 0;
        flush(c, "stream resumed");
        c = s->slot[csi_slot];
        if (c && !c->inactive && !c->head) {
            s->slot[csi_slot] = NULL;
            csi_free(c);
            c = NULL;
        }
    }
    return c;
}

static void unlink_held(csi_t *c, held_t *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        c->head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else
        c->tail = h->prev;
    c->n--;
    c->bytes -= h->len;
}

/* ---- what may wait ---- */

enum { URGENT, HOLD, HOLD_LATEST };

static int is_ns(const vn_xnode_t *n, const char *ns)
{
    return n->ns && !strcmp(n->ns, ns);
}

/* A carbon copy (XEP-0280) is as urgent as the message it carries. */
static const vn_xnode_t *carried_message(const vn_xnode_t *m)
{
    for (const vn_xnode_t *c = m->children; c; c = c->next) {
        if (!c->name || !is_ns(c, NS_CARBONS)) continue;
        if (strcmp(c->name, "sent") && strcmp(c->name, "received")) continue;
        const vn_xnode_t *f = vn_xnode_child(c, NS_FORWARD, "forwarded");
        const vn_xnode_t *inner = f ? vn_xnode_child(f, VN_NS_CLIENT, "message") : NULL;
        if (inner) return inner;
    }
    return m;
}

static int classify_message(const vn_xnode_t *m, const vn_xnode_t **keyed)
{
    m = carried_message(m);
    int states = 0, other = 0;
    for (const vn_xnode_t *c = m->children; c; c = c->next) {
        if (!c->name) continue;
        if (is_ns(c, VN_NS_CLIENT)) {
            if (!strcmp(c->name, "body")) return URGENT;
            if (strcmp(c->name, "thread") != 0) other++;
            continue;
        }
        if (!strcmp(c->name, "encrypted") || is_ns(c, "jabber:x:encrypted") ||
            is_ns(c, "urn:xmpp:openpgp:0"))
            return URGENT; /* end-to-end encrypted (OMEMO, OpenPGP) */
        if (is_ns(c, "urn:xmpp:receipts") && !strcmp(c->name, "request"))
            return URGENT; /* XEP-0184: the sender waits for the receipt */
        if (is_ns(c, "urn:xmpp:jingle-message:0") && !strcmp(c->name, "propose"))
            return URGENT; /* XEP-0353: an incoming call rings */
        if (is_ns(c, NS_CHATSTATES)) {
            states++;
        } else if (!is_ns(c, "urn:xmpp:hints") && !is_ns(c, "urn:xmpp:sid:0") &&
                   !is_ns(c, "urn:xmpp:delay")) {
            other++;
        }
    }
    if (states && !other) {
        *keyed = m; /* only the latest state of a conversation matters */
        return HOLD_LATEST;
    }
    return HOLD;
}

/* Returns URGENT, HOLD, or HOLD_LATEST with the supersede key in *key. */
static int classify(const vn_stanza_t *st, vn_buf_t *key)
{
    const vn_xnode_t *keyed = NULL;
    switch (st->kind) {
    case VN_MESSAGE: {
        int r = classify_message(st->node, &keyed);
        if (r != HOLD_LATEST) return r;
        const char *from = vn_xnode_attr(keyed, "from");
        const char *to = vn_xnode_attr(keyed, "to");
        if (!from) return HOLD;
        vn_buf_printf(key, "s\n%s\n%s", from, to ? to : "");
        return HOLD_LATEST;
    }
    case VN_PRESENCE: {
        /* Availability: only the latest per sender full JID counts.
         * Subscription requests and errors are kept as they are. */
        if (st->type[0] && strcmp(st->type, "unavailable") != 0) return HOLD;
        const char *from = vn_xnode_attr(st->node, "from");
        if (!from) return HOLD;
        vn_buf_printf(key, "p\n%s", from);
        return HOLD_LATEST;
    }
    default: return URGENT; /* IQs: somebody waits for the answer */
    }
}

/* ---- hooks ---- */

static vn_result_t on_deliver(vn_server_t *srv, void *ctx)
{
    (void)srv;
    vn_delivery_t *d = ctx;
    if (!vn_session_alive(d->s)) return VN_PASS;
    csi_t *c = csi_of(d->s);
    if (!c || !c->inactive) return VN_PASS;
    vn_buf_t key = VN_BUF_INIT;
    int cls = classify(d->st, &key);
    if (cls == URGENT) {
        vn_buf_free(&key);
        flush(c, "urgent stanza");
        return VN_PASS;
    }
    static __thread vn_buf_t ser;
    vn_buf_reset(&ser);
    vn_xnode_serialize(d->st->node, VN_NS_CLIENT, &ser);
    held_t *h = vn_xmalloc(sizeof(*h) + ser.len);
    h->len = ser.len;
    memcpy(h->xml, ser.data, ser.len);
    if (ser.cap > 65536) vn_buf_free(&ser);
    if (cls == HOLD_LATEST) {
        if (!c->latest) c->latest = vn_map_new();
        const char *k = vn_buf_cstr(&key);
        held_t *old = vn_map_get(c->latest, k);
        if (old) {
            unlink_held(c, old);
            stats.saved_bytes += old->len;
            stats.saved_stanzas++;
            free(old);
        }
        vn_map_put(c->latest, k, h);
    }
    vn_buf_free(&key);
    h->next = NULL;
    h->prev = c->tail;
    if (c->tail)
        c->tail->next = h;
    else
        c->head = h;
    c->tail = h;
    c->n++;
    c->bytes += h->len;
    if (c->n >= CSI_MAX_ITEMS || c->bytes >= CSI_MAX_BYTES) flush(c, "queue full");
    return VN_HANDLED;
}

static vn_result_t on_nonza(vn_server_t *srv, void *ctx)
{
    (void)srv;
    vn_nonza_t *nz = ctx;
    vn_session_t *s = nz->s;
    if (s->state != VN_SS_READY) return VN_PASS; /* before bind: the session refuses it */
    csi_t *c = csi_of(s);
    const vn_xnode_t *n = nz->node;
    if (!is_ns(n, NS_CSI)) return VN_PASS;
    if (!strcmp(n->name, "inactive")) {
        if (!c) {
            c = vn_xcalloc(1, sizeof(*c));
            c->s = s;
            s->slot[csi_slot] = c;
        }
        if (!c->inactive) vn_debug("csi: session %llu inactive", s->id);
        c->inactive = 1;
        return VN_HANDLED;
    }
    if (!strcmp(n->name, "active")) {
        /* §5.1 in-order processing: everything held is written before
         * anything that follows <active/> on this stream is handled. */
        if (c) {
            vn_debug("csi: session %llu active", s->id);
            c->inactive = 0;
            flush(c, "client active");
            c = s->slot[csi_slot];
            if (c && !c->inactive) {
                s->slot[csi_slot] = NULL;
                csi_free(c);
            }
        }
        return VN_HANDLED;
    }
    return VN_PASS;
}

/* Anything a client sends proves the resumed stream is live: reset it. */
static vn_result_t from_client(vn_server_t *srv, void *ctx)
{
    (void)srv;
    vn_stanza_t *st = ctx;
    if (st->origin) csi_of(st->origin);
    return VN_PASS;
}

static vn_result_t session_end(vn_server_t *srv, void *ctx)
{
    (void)srv;
    vn_session_t *s = ctx;
    csi_t *c = s->slot[csi_slot];
    if (!c) return VN_PASS;
    s->slot[csi_slot] = NULL;
    /* What is held is transient (presence, chat states, receipts); the
     * session is going and so is its presence. */
    csi_free(c);
    return VN_PASS;
}

static int init(vn_server_t *srv)
{
    (void)srv;
    csi_slot = vn_slot_alloc();
    memset(&stats, 0, sizeof(stats));
    return 0;
}

static void fini(vn_server_t *srv)
{
    (void)srv;
    vn_debug("csi: %llu bytes (%llu stanzas) never sent thanks to CSI, %llu bytes (%llu stanzas) "
             "delayed",
             stats.saved_bytes, stats.saved_stanzas, stats.delayed_bytes, stats.delayed_stanzas);
}

static const vn_hook_t hooks[] = {
    /* Last of the delivery hooks: whatever others refuse is never held. */
    {VN_HOOK_DELIVER, on_deliver, -100},
    /* Before stream management's, which ends the chain for its nonzas. */
    {VN_HOOK_NONZA, on_nonza, 10},
    {VN_HOOK_FROM_CLIENT, from_client, 200},
    {VN_HOOK_SESSION_END, session_end, 0},
    {VN_HOOK_COUNT, NULL, 0},
};

const vn_module_t vn_mod_csi = {
    .name = "csi",
    .stream_features = "<csi xmlns='" NS_CSI "'/>",
    .hooks = hooks,
    .init = init,
    .fini = fini,
};

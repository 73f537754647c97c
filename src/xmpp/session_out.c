/* What a session writes: stream-level data at once, stanzas through the
 * hooks (stream management counts them), held output queued and released
 * as fast as the client reads (session.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "xmpp/module.h"
#include "xmpp/session.h"
#include "xmpp/session_priv.h"

void vn_session_send_raw(vn_session_t *s, const char *xml, size_t len)
{
    if (s->conn_closed) return;
    vn_conn_write(&s->conn, xml, len);
}

void vn_session_hold_output(vn_session_t *s)
{
    s->output_held = 1;
}

/* Held stanzas are kept as [length][bytes] so that each is still counted
 * as one stanza (XEP-0198) when it is finally written. */
void vn_stanza_list_append(vn_buf_t *list, const char *xml, size_t len)
{
    uint32_t n = (uint32_t)len;
    vn_buf_append(list, &n, sizeof(n));
    vn_buf_append(list, xml, len);
}

/* Writes one stanza now and tells the hooks (stream management counts it). */
static void write_stanza(vn_session_t *s, const char *xml, size_t len)
{
    if (!s->conn_closed) vn_conn_write(&s->conn, xml, len);
    vn_sent_t ev = {s, xml, len};
    vn_hook_run(s->srv, VN_HOOK_SENT, &ev);
}

/* Writes held stanzas while the connection has room; the rest waits for
 * on_drained(). Without a connection (lost, or closing) everything goes
 * through the hooks at once, so stream management keeps it. */
void vn_session_pump_held(vn_session_t *s)
{
    while (s->held_off + sizeof(uint32_t) <= s->held.len) {
        if (!s->conn_closed && !s->closing && !vn_conn_has_room(&s->conn)) {
            vn_conn_want_drain(&s->conn);
            return;
        }
        uint32_t n;
        memcpy(&n, s->held.data + s->held_off, sizeof(n));
        const char *xml = s->held.data + s->held_off + sizeof(n);
        s->held_off += sizeof(n) + n;
        write_stanza(s, xml, n);
        if (!s->releasing) return; /* the session ended meanwhile */
    }
    vn_buf_free(&s->held);
    s->held_off = 0;
    s->releasing = 0;
}

void vn_session_on_drained(vn_conn_t *c)
{
    vn_session_t *s = (vn_session_t *)c;
    if (s->releasing && !s->output_held) vn_session_pump_held(s);
}

void vn_session_release_output_after(vn_session_t *s, const vn_buf_t *first)
{
    if (!s->output_held) return;
    s->output_held = 0;
    if (first && first->len) {
        /* first, then whatever is still queued, in that order */
        vn_buf_t merged = VN_BUF_INIT;
        vn_buf_append(&merged, first->data, first->len);
        if (s->held.len > s->held_off)
            vn_buf_append(&merged, s->held.data + s->held_off, s->held.len - s->held_off);
        vn_buf_free(&s->held);
        s->held = merged;
        s->held_off = 0;
    }
    if (s->held.len == s->held_off) {
        vn_buf_free(&s->held);
        s->held_off = 0;
        s->releasing = 0;
        return;
    }
    /* Live stanzas may queue behind the backlog, but no further than the
     * connection's own hard bound would let them. */
    const vn_conn_limits_t *lim = s->conn.lim;
    s->held_limit =
        s->held.len - s->held_off + (lim && lim->out_hard ? lim->out_hard : SIZE_MAX / 2);
    s->releasing = 1;
    vn_session_pump_held(s);
}

void vn_session_release_output(vn_session_t *s)
{
    vn_session_release_output_after(s, NULL);
}

void vn_session_send_stanza_raw(vn_session_t *s, const char *xml, size_t len)
{
    if (s->closing) return;
    if (s->output_held || s->releasing) {
        vn_stanza_list_append(&s->held, xml, len);
        if (s->releasing && !s->output_held && s->held.len - s->held_off > s->held_limit &&
            !s->conn_closed)
            vn_conn_overflow(&s->conn); /* the client does not keep up */
        return;
    }
    write_stanza(s, xml, len);
}

/* One serialisation buffer per thread, reused for every stanza. */
static __thread vn_buf_t send_buf;

void vn_session_send(vn_session_t *s, const vn_xnode_t *n)
{
    if (!vn_session_alive(s)) return;
    vn_buf_reset(&send_buf);
    vn_xnode_serialize(n, VN_NS_CLIENT, &send_buf);
    /* The hooks (and what they send) may serialise again: take the shared
     * buffer out while the stanza is in flight, and keep it for reuse
     * afterwards unless it grew large or a nested send made a new one. */
    vn_buf_t mine = send_buf;
    send_buf = (vn_buf_t)VN_BUF_INIT;
    vn_session_send_stanza_raw(s, mine.data, mine.len);
    if (mine.cap > 65536 || send_buf.data) {
        vn_buf_free(&mine);
    } else {
        send_buf = mine;
    }
}

void vn_session_held_to_hooks(vn_session_t *s)
{
    if (s->held.len <= s->held_off) return;
    s->output_held = 0;
    s->releasing = 1;
    unsigned cc = s->conn_closed;
    s->conn_closed = 1; /* not written: the stream is ending */
    vn_session_pump_held(s);
    s->conn_closed = cc;
}

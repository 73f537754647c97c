/* A client-to-server session (RFC 6120): one connection, its stream
 * negotiation state, and once bound, its place in the router. Its code is
 * split by job: session.c (life, timers, parser status), session_out.c
 * (output), stream.c (the stream and its framing), c2s.c (negotiation,
 * binding and client stanzas).
 *
 * Negotiation runs as explicit states (vn_session_state_t), each guarded
 * by the auth timer; every stream restart returns to HEADER:
 *   HEADER -> FEATURES (STARTTLS, then SASL) -> HEADER -> AUTHED (bind)
 *   -> READY
 *
 * Ownership: the server's listener creates a session; vn_session_close()
 * starts its end, and the session frees itself from a deferred call once
 * the connection is closed and no job holds a reference (vn_session_ref). */
#ifndef VN_XMPP_SESSION_H
#define VN_XMPP_SESSION_H

#include <stdint.h>

#include "net/conn.h"
#include "xml/parser.h"
#include "xmpp/server.h"

typedef enum {
    VN_SS_HEADER,   /* waiting for the stream header */
    VN_SS_FEATURES, /* header received, negotiating (TLS, SASL) */
    VN_SS_AUTHED,   /* authenticated, waiting for bind */
    VN_SS_READY,    /* resource bound */
} vn_session_state_t;

struct vn_sasl;
struct vn_framing;

struct vn_session {
    vn_conn_t conn; /* first: a vn_conn_t* is a vn_session_t* */
    vn_server_t *srv;
    const struct vn_framing *framing; /* RFC 6120 or RFC 7395 (xmpp/stream.h) */
    vn_xml_parser_t *parser;
    vn_session_state_t state;
    int refs;
    unsigned direct_tls : 1;
    unsigned closing : 1;     /* vn_session_close() was called */
    unsigned conn_closed : 1; /* the connection is gone */
    unsigned freed_scheduled : 1;
    unsigned in_router : 1;
    unsigned available : 1;  /* sent initial presence (RFC 6121 §4.2) */
    unsigned interested : 1; /* requested the roster (RFC 6121 §2.1.6) */
    unsigned stream_open_sent : 1;
    unsigned in_parser : 1;       /* inside a parser callback */
    unsigned pending_restart : 1; /* reset the parser once it returns */
    unsigned pending_tls : 1;     /* start TLS once the parser returns */
    unsigned bind_held : 1;       /* a module delays the bind result */
    char *bind_id;                /* id of the pending bind request */
    int bind_holds;               /* VN_HOOK_BIND holders yet to call vn_session_bind_done() */
    unsigned output_held : 1;     /* queue output (e.g. while offline messages load) */
    unsigned releasing : 1;       /* held output is written as the connection drains */
    unsigned detached : 1;        /* connection lost, kept for resumption (XEP-0198) */
    vn_buf_t held;                /* output queued while held or releasing */
    size_t held_off;              /* bytes of held already written */
    size_t held_limit;            /* held may not grow past this while releasing */
    int domain_idx;
    int priority;
    unsigned long long id;
    char stream_id[24];
    vn_jid_t jid; /* bound full JID (malloc'd parts); local NULL before auth */
    char *bare;   /* "local@domain" after auth */
    char *full;   /* full JID string after bind */
    char *lang;   /* xml:lang of the client's last stream header, or NULL */
    vn_user_t *user;
    vn_session_t *next_of_user;
    vn_session_t *next_all, *prev_all;
    vn_session_t *next_preauth, *prev_preauth; /* srv->adm queue, until authenticated */
    unsigned in_preauth : 1;
    unsigned addr_counted : 1; /* the listener counted the address in srv->adm.per_address;
                                  vn_admission_conn_closed() gives it back */
    struct vn_sasl *sasl;      /* during authentication only */
    vn_timer_t timer;          /* auth timeout, then idle timeout */
    uint64_t last_input_ms;
    uint32_t stanzas_in;       /* stanzas received from the client (XEP-0198 h) */
    void *slot[VN_USER_SLOTS]; /* per-module session data */
};

vn_session_t *vn_session_new(vn_server_t *srv, int fd, int direct_tls, const char *peer);
void vn_session_ref(vn_session_t *s);
void vn_session_unref(vn_session_t *s);
/* Is the session still worth talking to (for job completions)? */
int vn_session_alive(const vn_session_t *s);

/* Sends a stanza tree on the stream (counted by XEP-0198, held back while
 * output is held). */
void vn_session_send(vn_session_t *s, const vn_xnode_t *n);
/* The same for one already serialised stanza. */
void vn_session_send_stanza_raw(vn_session_t *s, const char *xml, size_t len);
/* Writes stream-level data (features, SASL, nonzas) immediately. */
void vn_session_send_raw(vn_session_t *s, const char *xml, size_t len);
/* Sends <stream:error><condition/></stream:error>, closes the stream and
 * the connection (RFC 6120 §4.9). */
void vn_session_stream_error(vn_session_t *s, const char *condition, const char *text);
/* Sends the stream error if the stream can carry one now, then drops the
 * connection at once, without lingering, so that its descriptor is free
 * when this returns (shedding under descriptor pressure). */
void vn_session_shed(vn_session_t *s, const char *condition, const char *text);
/* Closes the stream cleanly with </stream:stream>. */
void vn_session_close(vn_session_t *s, const char *reason);

/* A stanza handler returned VN_HOLD: the parser stays suspended until the
 * handler calls this. */
void vn_session_resume(vn_session_t *s);
/* A VN_HOOK_BIND holder is done; the bind result goes out when every
 * holder has called this (once each). */
void vn_session_bind_done(vn_session_t *s);

/* Queues everything sent to the session until released, so that
 * something fetched from storage can be written first, in order. Release
 * writes the queue as fast as the client reads it (a resumption or an
 * offline backlog may be far larger than the connection's output bound);
 * stanzas sent meanwhile queue behind it. */
void vn_session_hold_output(vn_session_t *s);
void vn_session_release_output(vn_session_t *s);
/* Releases held output, sending the stanzas of `first` before it. */
void vn_session_release_output_after(vn_session_t *s, const vn_buf_t *first);
/* A list of serialised stanzas ([length][bytes]...), as held output keeps
 * them, so that each still counts as one stanza when written. */
void vn_stanza_list_append(vn_buf_t *list, const char *xml, size_t len);

/* Releases what idle sessions need not hold (their XML parser state);
 * called periodically by the server. Returns how many were trimmed. */
int vn_sessions_trim_idle(vn_server_t *srv, uint64_t idle_ms);

/* XEP-0198 support. A detached session stays in the router without a
 * connection; vn_session_end_detached() finally ends it (SESSION_END runs).
 * vn_session_adopt() moves the identity, router place and module slots of
 * `old` (detached or not) to the freshly authenticated `s`, which becomes
 * READY; `old` is closed without leaving a trace (no unavailable presence). */
void vn_session_end_detached(vn_session_t *s);
void vn_session_adopt(vn_session_t *s, vn_session_t *old);

/* Called by the SASL code. */
void vn_session_auth_succeeded(vn_session_t *s, const char *local);

#endif

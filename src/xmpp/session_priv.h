/* Between the files of a session: session.c (its life), session_out.c
 * (what it writes), stream.c (the stream) and c2s.c (client negotiation
 * and stanzas). Nothing outside them includes this. */
#ifndef VN_XMPP_SESSION_PRIV_H
#define VN_XMPP_SESSION_PRIV_H

#include "xmpp/session.h"

/* stream.c: parser callbacks and what goes on the stream itself. */
void vn_stream_on_open(void *ud, const char *ns, const char *name, const char *default_ns,
                       const vn_xattr_t *attrs);
void vn_stream_on_close(void *ud);
void vn_stream_new_id(vn_session_t *s);
void vn_stream_send_header(vn_session_t *s, const char *to_attr);
/* <stream:error/> (opening the stream first if needed, RFC 6120 §4.9.1.2). */
void vn_stream_send_error(vn_session_t *s, const char *condition, const char *text);
void vn_stream_send_close(vn_session_t *s);

/* c2s.c: a top-level element from the client, in whatever state. */
void vn_c2s_on_stanza(void *ud, vn_xnode_t *node, vn_arena_t *arena);

/* session.c */
void vn_session_arm_idle_timer(vn_session_t *s);

/* session_out.c */
void vn_session_pump_held(vn_session_t *s);
void vn_session_on_drained(vn_conn_t *c);
/* What is still held goes through the hooks unwritten (the stream ends). */
void vn_session_held_to_hooks(vn_session_t *s);

#endif

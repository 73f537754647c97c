/* The framing of a stream: what differs between XMPP over TCP (RFC 6120
 * §4.7, one <stream:stream> document) and over WebSocket (RFC 7395 §3.3,
 * <open/> and <close/> in frames of their own). A session names its
 * framing; stream.c writes headers, features and errors through it. */
#ifndef VN_XMPP_STREAM_H
#define VN_XMPP_STREAM_H

#include "core/buf.h"

typedef struct vn_session vn_session_t;

typedef struct vn_framing {
    const char *name;
    /* Appends our opening of the stream (its id and 'from' from s). */
    void (*open)(vn_session_t *s, const char *to_attr, vn_buf_t *out);
    const char *close;               /* our end of the stream */
    const char *open_ns, *open_name; /* what the peer's opening must be */
    const char *features_open, *features_close;
    const char *error_open, *error_close;
} vn_framing_t;

extern const vn_framing_t vn_framing_rfc6120;

#endif

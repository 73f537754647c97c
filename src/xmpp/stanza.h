/* A stanza in flight: its tree, the arena that owns the tree, and the
 * parsed addresses. Built by a session (from a client) or by a module. */
#ifndef VN_XMPP_STANZA_H
#define VN_XMPP_STANZA_H

#include "core/arena.h"
#include "xml/node.h"
#include "xmpp/jid.h"

#define VN_NS_CLIENT "jabber:client"
#define VN_NS_SERVER "jabber:server"
#define VN_NS_STREAMS "http://etherx.jabber.org/streams"
#define VN_NS_STREAM_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define VN_NS_STANZA_ERR "urn:ietf:params:xml:ns:xmpp-stanzas"
#define VN_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define VN_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define VN_NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define VN_NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"

typedef enum { VN_MESSAGE, VN_PRESENCE, VN_IQ, VN_OTHER } vn_stanza_kind_t;

struct vn_session;

typedef struct vn_stanza {
    vn_xnode_t *node;
    vn_arena_t *arena;
    vn_stanza_kind_t kind;
    const char *type; /* the type attribute, or "" */
    vn_jid_t from;    /* always set when routed */
    vn_jid_t to;      /* to.domain NULL when the stanza had no 'to' */
    struct vn_session *origin; /* the client session it came from, or NULL */
    unsigned redelivery : 1;   /* accepted before (XEP-0198 unacknowledged) */
} vn_stanza_t;

vn_stanza_kind_t vn_stanza_kind_of(const vn_xnode_t *n);

/* Prepares st from a tree: kind, type, to/from parsed (from the attributes).
 * Returns 0, or -1 if an address is malformed. */
int vn_stanza_init(vn_stanza_t *st, vn_xnode_t *node, vn_arena_t *arena);
/* Sets the from/to attributes and fields from normalised JIDs. */
void vn_stanza_set_from(vn_stanza_t *st, const vn_jid_t *from);
void vn_stanza_set_to(vn_stanza_t *st, const vn_jid_t *to);

/* New IQ result for an IQ request (from/to swapped, same id), in st's arena. */
vn_stanza_t *vn_stanza_iq_result(const vn_stanza_t *req);
/* New error reply to st (RFC 6120 §8.3): type='error', addresses swapped,
 * original children kept, <error type=...><condition/></error> appended.
 * Returns NULL when st itself is an error (never answer an error). */
vn_stanza_t *vn_stanza_error_reply(const vn_stanza_t *st, const char *error_type,
                                   const char *condition, const char *text);
/* A fresh stanza of the given element name in a new arena owned by the
 * returned struct (vn_stanza_free releases it). */
vn_stanza_t *vn_stanza_new(const char *name);
void vn_stanza_free(vn_stanza_t *st);

/* RFC 6120 §4.7.4: the xml:lang of a stream header (malloc'd), or NULL
 * when it has none or it does not look like a language tag (RFC 5646
 * characters, at most 35 of them, the length every implementation must
 * handle). */
char *vn_stream_lang(const vn_xattr_t *header_attrs);
/* Gives a stanza from a stream the stream's language (copied into arena)
 * when it has no xml:lang of its own; lang NULL does nothing. */
void vn_stanza_default_lang(vn_xnode_t *node, vn_arena_t *arena, const char *lang);

#endif

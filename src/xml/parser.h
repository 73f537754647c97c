/* Streaming XMPP parser on top of expat (RFC 6120 §4, §11).
 *
 * It turns the bytes of one stream into: the stream header, one element
 * tree per top-level child (a stanza or a nonza), and the stream end.
 * It enforces RFC 6120 §11.1 restricted XML (no DTD, comments, processing
 * instructions or entity declarations; no entity expansion at all) and the
 * configured limits on stanza size, depth and attribute count. Bytes are
 * counted before expat buffers them, so a single huge token cannot grow
 * memory past the stanza limit either.
 *
 * Ownership: a stanza tree and its arena are lent to the stanza callback and
 * recycled when it returns; a handler that needs the stanza later copies it.
 * A parser belongs to one thread. */
#ifndef VN_XML_PARSER_H
#define VN_XML_PARSER_H

#include <stddef.h>
#include "core/arena.h"
#include "xml/node.h"

typedef enum {
    VN_XERR_NONE = 0,
    VN_XERR_NOT_WELL_FORMED, /* <not-well-formed/> */
    VN_XERR_RESTRICTED,      /* <restricted-xml/> */
    VN_XERR_POLICY,          /* <policy-violation/>: size, depth, attributes */
    VN_XERR_BAD_FORMAT,      /* <bad-format/>: text between stanzas */
} vn_xml_error_t;

typedef struct vn_xml_limits {
    size_t max_stanza;
    int max_depth;
    int max_attrs;
} vn_xml_limits_t;

typedef struct vn_xml_callbacks {
    /* The stream root opened. default_ns is the declared default namespace
     * ("" when none). attrs are valid during the call only. */
    void (*stream_open)(void *ud, const char *ns, const char *name, const char *default_ns,
                        const vn_xattr_t *attrs);
    void (*stanza)(void *ud, vn_xnode_t *stanza, vn_arena_t *arena);
    void (*stream_close)(void *ud);
} vn_xml_callbacks_t;

typedef struct vn_xml_parser vn_xml_parser_t;

vn_xml_parser_t *vn_xml_parser_new(const vn_xml_limits_t *limits, const vn_xml_callbacks_t *cb,
                                   void *ud);
void vn_xml_parser_free(vn_xml_parser_t *p);
/* Starts a new stream on the same parser (after STARTTLS or SASL success).
 * Unparsed bytes are discarded. The limits stay as they are. */
void vn_xml_parser_reset(vn_xml_parser_t *p);
/* Replaces the limits; they apply to every byte fed from then on. Meant
 * for a stream restart: a c2s session parses with a small stanza limit until
 * SASL succeeds and switches to the full one for the restarted stream. */
void vn_xml_parser_set_limits(vn_xml_parser_t *p, const vn_xml_limits_t *limits);

typedef enum {
    VN_XML_OK = 0,
    VN_XML_SUSPENDED = 1,
    VN_XML_ERROR = -1,
    VN_XML_STOPPED = -2
} vn_xml_status_t;

/* Feeds bytes. Must not be called while suspended. */
vn_xml_status_t vn_xml_parser_feed(vn_xml_parser_t *p, const char *data, size_t len);
/* From inside a callback: stop delivering events after this one. The rest of
 * the input is kept and vn_xml_parser_resume() continues with it. */
void vn_xml_parser_suspend(vn_xml_parser_t *p);
vn_xml_status_t vn_xml_parser_resume(vn_xml_parser_t *p);
int vn_xml_parser_suspended(const vn_xml_parser_t *p);
/* From inside a callback: stop for good; the rest of the input is dropped
 * (used before a TLS handshake, after a stream error). */
void vn_xml_parser_stop(vn_xml_parser_t *p);
vn_xml_error_t vn_xml_parser_error(const vn_xml_parser_t *p);
/* Frees expat's state while the stream sits between stanzas (an idle
 * connection then holds only the root's name and namespaces); the next
 * feed re-creates it transparently. Returns 1 if released. */
int vn_xml_parser_release_idle(vn_xml_parser_t *p);
const char *vn_xml_parser_error_text(const vn_xml_parser_t *p);

/* Parses text that must be exactly one element (a stored stanza or payload:
 * it went through the stream limits once, these only keep a damaged row
 * from doing harm) into a tree in arena a. default_ns is the namespace an
 * element without xmlns gets (NULL: none); it must need no escaping.
 * Returns NULL unless the text is one well-formed element. */
vn_xnode_t *vn_xml_parse_element(vn_arena_t *a, const char *xml, size_t len, const char *default_ns,
                                 int max_depth);

#endif

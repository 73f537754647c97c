/* What the profile modules share: vcard-temp (vcard.c), its presence
 * hashes (vcard_update.c, XEP-0153), the avatar conversion (avatar_sync.c,
 * XEP-0398), private XML storage (private.c, XEP-0049) and the bookmarks
 * compatibility (bookmarks_compat.c, XEP-0402 §5.3).
 *
 * Everything here runs on the event-loop thread. Observers and handlers
 * are registered from a module's init() and stay until the owning module's
 * fini(). */
#ifndef VN_MOD_PROFILE_H
#define VN_MOD_PROFILE_H

#include <stdint.h>

#include "xmpp/module.h"

#define VN_NS_VCARD "vcard-temp"
#define VN_NS_VCARD_UPDATE "vcard-temp:x:update"
#define VN_NS_PRIVATE "jabber:iq:private"

/* ---- helpers ---- */

/* Parses one serialised element (as vn_profile_serialize wrote it) into a
 * tree in a. NULL when it is not one well-formed element. */
vn_xnode_t *vn_profile_parse(vn_arena_t *a, const char *xml, size_t len);
/* Serialises n with its namespace declared on itself (malloc'd). */
char *vn_profile_serialize(const vn_xnode_t *n, size_t *len);
/* Decodes base64 with white space anywhere (vCard BINVAL is often folded)
 * and writes the lowercase hex SHA-1 of the bytes into hex. *bytes gets
 * the decoded length. 0, or -1 when it is not base64. */
int vn_profile_b64_sha1(const char *b64, size_t len, char hex[41], size_t *bytes);
/* Was st sent by a session of the account it is addressed to (no 'to', or
 * the account's bare JID)? */
int vn_profile_own_account(const vn_stanza_t *st);
/* "local@domain" of the addressed account (st's arena). */
char *vn_profile_target_bare(const vn_stanza_t *st);

/* ---- the avatar of a vCard (vcard.c) ---- */

enum { VN_PHOTO_FROM_VCARD = 1, VN_PHOTO_FROM_PEP = 2 };

typedef struct vn_photo_event {
    const char *owner;  /* bare JID */
    const char *hash;   /* hex SHA-1 of the photo, "" when the vCard has none */
    const char *type;   /* MIME type, or NULL */
    const char *binval; /* base64 as stored (may contain white space), or NULL */
    size_t bytes;       /* decoded size */
    int source;         /* VN_PHOTO_FROM_* */
} vn_photo_event_t;

typedef void (*vn_photo_observer_fn)(vn_server_t *srv, const vn_photo_event_t *ev);

/* Called after a vCard change is stored whose photo hash differs from the
 * one before (also when the PHOTO went away). */
void vn_vcard_observe(vn_photo_observer_fn fn);
/* Replaces the PHOTO of owner's vCard (XEP-0398 §4: an avatar published
 * with XEP-0084), creating the vCard when there is none; type and binval
 * NULL remove it. Observers then run with VN_PHOTO_FROM_PEP. */
void vn_vcard_set_photo(vn_server_t *srv, const char *owner, const char *type, const char *binval);

/* The PHOTO of a vCard: its TYPE and BINVAL texts (in a), NULL when absent
 * (an all-blank BINVAL is no photo). */
void vn_vcard_photo_of(vn_arena_t *a, const vn_xnode_t *vcard, char **type, char **binval);

/* ---- bookmarks conversion (bookmarks_compat.c, XEP-0402 §5.3) ---- */

/* The normalised room JID of a XEP-0048 <conference/> (in a), or NULL when
 * cf is not one or its jid is not a room's bare JID. */
const char *vn_bookmarks_legacy_jid(vn_arena_t *a, const vn_xnode_t *cf);
/* The XEP-0402 item payload of a XEP-0048 <conference/> (malloc'd). */
char *vn_bookmarks_to_item(vn_arena_t *a, const vn_xnode_t *cf);
/* Appends the XEP-0048 <conference/> of a XEP-0402 item (id = room JID) to
 * b; nothing when the payload is not a bookmarks:1 <conference/>. */
void vn_bookmarks_to_legacy(vn_buf_t *b, vn_arena_t *a, const char *id, const char *payload);

/* ---- private XML storage (private.c) ---- */

typedef struct vn_private_handler {
    const char *ns; /* namespace of the stored element */
    /* A get for that namespace from the account itself: answer it and
     * return VN_HANDLED, or VN_PASS for the stored element. req is the
     * requested (empty) element. */
    vn_result_t (*get)(vn_server_t *srv, vn_stanza_t *st, const vn_xnode_t *req);
    /* A set of that namespace was stored (el is the new element). */
    void (*stored)(vn_server_t *srv, const char *owner, const vn_xnode_t *el);
} vn_private_handler_t;

void vn_private_register(const vn_private_handler_t *h);
/* Answers a private XML get from storage (the stored element, or the
 * empty requested one), for a handler that falls back to storage after
 * all. st is borrowed (copied as needed). */
void vn_private_answer_stored(vn_server_t *srv, vn_stanza_t *st);

#endif

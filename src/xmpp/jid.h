/* XMPP addresses per RFC 7622.
 *
 * vn_jid_parse() validates and normalises an address so that two addresses
 * that RFC 7622 deems equal have byte-identical parts:
 *   localpart  - PRECIS UsernameCaseMapped profile (RFC 8265 §3.3):
 *                width mapping, case mapping to lower case, NFC,
 *                IdentifierClass, Bidi rule; 1..1023 bytes; no "&'/:<>@.
 *   domainpart - IDNA2008 (libidn2): A-labels are converted to U-labels,
 *                lower-cased, NFC; a trailing dot is stripped; IP literals
 *                are accepted as is; 1..1023 bytes.
 *   resourcepart - PRECIS OpaqueString (RFC 8265 §4.2): NFC, non-ASCII
 *                spaces mapped to U+0020, FreeformClass; 1..1023 bytes.
 *
 * Ownership: the parts are allocated from the arena passed in (or malloc'd
 * when the arena is NULL; then vn_jid_clear() frees them).
 * Thread-safe: yes (no shared state after vn_jid_global_init()). */
#ifndef VN_XMPP_JID_H
#define VN_XMPP_JID_H

#include <stddef.h>
#include "core/arena.h"

typedef struct vn_jid {
    char *local;    /* NULL when absent */
    char *domain;   /* never NULL after a successful parse */
    char *resource; /* NULL when absent */
} vn_jid_t;

/* Call once at start-up before any thread parses JIDs. */
void vn_jid_global_init(void);

/* Returns 0 on success, -1 when the address is invalid (RFC 6120 jid-malformed). */
int vn_jid_parse(const char *s, size_t len, vn_jid_t *out, vn_arena_t *a);
/* Normalise one part alone. Return 0 and a newly allocated string in *out, or -1. */
int vn_jid_prep_local(const char *s, size_t len, char **out, vn_arena_t *a);
int vn_jid_prep_domain(const char *s, size_t len, char **out, vn_arena_t *a);
int vn_jid_prep_resource(const char *s, size_t len, char **out, vn_arena_t *a);

/* "local@domain" (or "domain"); "local@domain/resource" for the full form. */
char *vn_jid_bare_str(const vn_jid_t *j, vn_arena_t *a);
char *vn_jid_full_str(const vn_jid_t *j, vn_arena_t *a);

int vn_jid_bare_equal(const vn_jid_t *a, const vn_jid_t *b);
int vn_jid_full_equal(const vn_jid_t *a, const vn_jid_t *b);

/* Frees parts allocated without an arena. */
void vn_jid_clear(vn_jid_t *j);

#endif

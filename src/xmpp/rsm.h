/* XEP-0059 Result Set Management: reading a request's <set/>, choosing
 * the page of an ordered result set, and writing the <set/> of the answer.
 * For any module that answers with a list that can grow large (disco#items
 * of the pubsub service and of PEP accounts today).
 *
 * The page is chosen over the whole ordered set by position; an <after/> or
 * <before/> UID is placed with a locate function, so a UID whose item was
 * removed between two pages still finds its place when the order of UIDs
 * is the order of items (XEP-0059 §2.4: then there is no item-not-found).
 * MAM (src/mod/mam_query.c) has its own RSM code because its pages are cut
 * in storage (keyset queries with a counted total); it can share
 * vn_rsm_parse and vn_rsm_add_result.
 *
 * Ownership: strings in a vn_rsm_req_t live in the arena given to
 * vn_rsm_parse. No global state; any thread. */
#ifndef VN_XMPP_RSM_H
#define VN_XMPP_RSM_H

#include <stddef.h>

#include "core/arena.h"
#include "xml/node.h"

#define VN_NS_RSM "http://jabber.org/protocol/rsm"

/* What a request asked for (XEP-0059 §2). */
typedef struct vn_rsm_req {
    int present;        /* the request carried a <set/> */
    long max;           /* <max/> (§2.1), -1: not given */
    const char *after;  /* <after/> UID (§2.2), NULL: not given */
    const char *before; /* <before/> UID (§2.3), NULL: not given; "": the last page (§2.5) */
    long index;         /* <index/> (§2.6), -1: not given */
} vn_rsm_req_t;

/* Reads the first <set xmlns='http://jabber.org/protocol/rsm'/> child of
 * parent into r (r->present 0 when there is none). Returns NULL, or why the
 * request is a <bad-request/>: <max/> or <index/> that is not a decimal
 * number (a value above LONG_MAX counts as LONG_MAX), an empty <after/>, an
 * element given twice, <index/> together with <after/> or <before/>.
 * Unknown children are ignored. */
const char *vn_rsm_parse(vn_arena_t *a, const vn_xnode_t *parent, vn_rsm_req_t *r);

/* The page size to use: <max/> capped at cap, or dflt when the request
 * gave none (a responder may always return fewer items than asked for,
 * §2.1; dflt is also what a request without <set/> gets). */
size_t vn_rsm_limit(const vn_rsm_req_t *r, size_t dflt, size_t cap);

/* Places uid in the ordered set: *at = how many items come before it,
 * *found = whether uid is itself one of the items. Returns 0, or -1 when
 * uid cannot be placed (the order of UIDs says nothing): item-not-found. */
typedef int (*vn_rsm_locate_fn)(const char *uid, void *ud, size_t *at, int *found);

typedef struct vn_rsm_page {
    size_t first; /* position of the page's first item in the whole set */
    size_t count; /* items in the page, at most the limit; may be 0 */
} vn_rsm_page_t;

/* Chooses the page of an ordered set of n items (positions 0..n-1) for r
 * with at most limit items: the first items (no UID), those right after
 * r->after (§2.2), those right before r->before (§2.3; the end of the set
 * when it is "", §2.5), those from r->index (§2.6; an empty page past the
 * end); with both <after/> and <before/>, the first items between them.
 * Returns 0, or -1 when locate could not place a UID. */
int vn_rsm_select(const vn_rsm_req_t *r, size_t n, size_t limit, vn_rsm_locate_fn locate, void *ud,
                  vn_rsm_page_t *page);

/* The same for a set whose UIDs are the items' own strings, sorted
 * strictly ascending by strcmp (e.g. node names listed ORDER BY node):
 * UIDs are placed by binary search, so this never fails. */
void vn_rsm_select_sorted(const vn_rsm_req_t *r, const char *const *uids, size_t n, size_t limit,
                          vn_rsm_page_t *page);

/* Appends the answer's <set/> under parent (§2.2): <first index/> and
 * <last/> when the page has items (first_uid not NULL; they are copied),
 * and always <count/> with the size of the whole set. */
void vn_rsm_add_result(vn_arena_t *a, vn_xnode_t *parent, const char *first_uid, size_t first_index,
                       const char *last_uid, size_t count);

#endif

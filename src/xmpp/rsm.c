/* XEP-0059 Result Set Management (see rsm.h). */
#include "xmpp/rsm.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* A decimal number (XML whitespace around it allowed, xs:int lexical
 * space without a sign); values above LONG_MAX saturate. 0 or -1. */
static int parse_count(const char *s, long *out)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    if (*s < '0' || *s > '9') return -1;
    long v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        int d = *s - '0';
        v = v > (LONG_MAX - d) / 10 ? LONG_MAX : v * 10 + d;
    }
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    if (*s) return -1;
    *out = v;
    return 0;
}

const char *vn_rsm_parse(vn_arena_t *a, const vn_xnode_t *parent, vn_rsm_req_t *r)
{
    memset(r, 0, sizeof(*r));
    r->max = -1;
    r->index = -1;
    const vn_xnode_t *set = parent ? vn_xnode_child(parent, VN_NS_RSM, "set") : NULL;
    if (!set) return NULL;
    r->present = 1;
    int seen_max = 0, seen_index = 0;
    for (const vn_xnode_t *c = set->children; c; c = c->next) {
        if (!c->name || !c->ns || strcmp(c->ns, VN_NS_RSM) != 0) continue;
        if (!strcmp(c->name, "max")) {
            if (seen_max++) return "<max/> given twice";
            if (parse_count(vn_xnode_text(a, c), &r->max) < 0)
                return "<max/> is not a non-negative number";
        } else if (!strcmp(c->name, "index")) {
            if (seen_index++) return "<index/> given twice";
            if (parse_count(vn_xnode_text(a, c), &r->index) < 0)
                return "<index/> is not a non-negative number";
        } else if (!strcmp(c->name, "after")) {
            if (r->after) return "<after/> given twice";
            r->after = vn_xnode_text(a, c);
            /* §2.2: the UID of the last item of the previous page; there is
             * no empty UID to page after. */
            if (!r->after[0]) return "empty <after/>";
        } else if (!strcmp(c->name, "before")) {
            if (r->before) return "<before/> given twice";
            r->before = vn_xnode_text(a, c); /* "" asks for the last page, §2.5 */
        }
    }
    /* §2.6: an index is for when no UID is known. */
    if (r->index >= 0 && (r->after || r->before)) return "<index/> with <after/> or <before/>";
    return NULL;
}

size_t vn_rsm_limit(const vn_rsm_req_t *r, size_t dflt, size_t cap)
{
    size_t n = r->max >= 0 ? (size_t)r->max : dflt;
    return n < cap ? n : cap;
}

int vn_rsm_select(const vn_rsm_req_t *r, size_t n, size_t limit, vn_rsm_locate_fn locate, void *ud,
                  vn_rsm_page_t *page)
{
    size_t start = 0, end = n, at;
    int found;
    if (r->index >= 0) start = (size_t)r->index < n ? (size_t)r->index : n;
    if (r->after) {
        if (locate(r->after, ud, &at, &found) < 0) return -1;
        if (at > n) at = n;
        start = at + (found && at < n ? 1 : 0);
    }
    if (r->before && r->before[0]) {
        if (locate(r->before, ud, &at, &found) < 0) return -1;
        end = at > n ? n : at;
    }
    if (end < start) end = start;
    size_t avail = end - start;
    page->count = avail < limit ? avail : limit;
    /* Paging backwards (§2.3, §2.5): the items right before the UID. */
    page->first = r->before && !r->after ? end - page->count : start;
    return 0;
}

typedef struct sorted {
    const char *const *uids;
    size_t n;
} sorted_t;

static int locate_sorted(const char *uid, void *ud, size_t *at, int *found)
{
    const sorted_t *s = ud;
    size_t lo = 0, hi = s->n; /* the first UID >= uid lies in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->uids[mid], uid) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    *found = lo < s->n && strcmp(s->uids[lo], uid) == 0;
    return 0;
}

void vn_rsm_select_sorted(const vn_rsm_req_t *r, const char *const *uids, size_t n, size_t limit,
                          vn_rsm_page_t *page)
{
    sorted_t s = {uids, n};
    (void)vn_rsm_select(r, n, limit, locate_sorted, &s, page);
}

static void add_text(vn_arena_t *a, vn_xnode_t *parent, const char *name, const char *text)
{
    vn_xnode_t *n = vn_xnode_add(a, parent, VN_NS_RSM, name);
    vn_xnode_add_text(a, n, text, strlen(text));
}

void vn_rsm_add_result(vn_arena_t *a, vn_xnode_t *parent, const char *first_uid, size_t first_index,
                       const char *last_uid, size_t count)
{
    char num[32];
    vn_xnode_t *set = vn_xnode_add(a, parent, VN_NS_RSM, "set");
    /* §2.2: <first/> and <last/> only for a page with items; 'index' is the
     * position of the first one in the whole set. */
    if (first_uid) {
        vn_xnode_t *f = vn_xnode_add(a, set, VN_NS_RSM, "first");
        snprintf(num, sizeof(num), "%zu", first_index);
        vn_xnode_set_attr(a, f, "index", vn_arena_strdup(a, num));
        vn_xnode_add_text(a, f, first_uid, strlen(first_uid));
        add_text(a, set, "last", last_uid ? last_uid : first_uid);
    }
    snprintf(num, sizeof(num), "%zu", count);
    add_text(a, set, "count", num);
}

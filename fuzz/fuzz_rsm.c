/* libFuzzer target for XEP-0059 Result Set Management (src/xmpp/rsm.c):
 * the <set/> of any client request that pages (disco#items of the pubsub
 * service and of PEP accounts), and the page chosen for it.
 *
 * Input: byte 0 picks the size of a set of UIDs ("k000", "k002", ...),
 * byte 1 the page limit; the rest is the request element (e.g. a
 * disco#items <query/>), parsed with the server's XML parser.
 *
 * Properties besides memory safety and UB:
 *   - an accepted request is consistent: max and index are -1 or
 *     non-negative, <after/> is not empty, <index/> comes alone;
 *   - the page lies inside the set and holds at most the limit;
 *   - it equals what a linear scan of the set gives: after <after/> (every
 *     UID <= it skipped), before <before/> (every UID >= it cut off), from
 *     <index/>, the last items when paging backwards;
 *   - the answer's <set/> serialises to one well-formed element. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "fuzz_tree.h"
#include "xmpp/rsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SET 64

static char uid_store[MAX_SET][8];
static const char *uids[MAX_SET];

static void model(const vn_rsm_req_t *r, size_t n, size_t limit, vn_rsm_page_t *want)
{
    size_t start = 0, end = n;
    if (r->index >= 0) start = (size_t)r->index < n ? (size_t)r->index : n;
    if (r->after) {
        start = 0;
        while (start < n && strcmp(uids[start], r->after) <= 0)
            start++;
    }
    if (r->before && r->before[0]) {
        end = 0;
        while (end < n && strcmp(uids[end], r->before) < 0)
            end++;
    }
    if (end < start) end = start;
    size_t count = end - start < limit ? end - start : limit;
    want->count = count;
    want->first = r->before && !r->after ? end - count : start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    if (!uids[0])
        for (int i = 0; i < MAX_SET; i++) {
            snprintf(uid_store[i], sizeof(uid_store[i]), "k%03d", 2 * i);
            uids[i] = uid_store[i];
        }
    size_t n = data[0] % (MAX_SET + 1);
    size_t limit = data[1] % 70;
    vn_arena_t *a = vn_arena_new(4096);
    vn_xnode_t *q = fuzz_tree(a, data + 2, size - 2);
    vn_rsm_req_t r;
    const char *err = vn_rsm_parse(a, q, &r);
    if (!err) {
        if (r.max < -1 || r.index < -1) abort();
        if (r.after && !r.after[0]) abort();
        if (r.index >= 0 && (r.after || r.before)) abort();
        if (!r.present && (r.max != -1 || r.index != -1 || r.after || r.before)) abort();
        size_t lim = vn_rsm_limit(&r, limit, 50);
        if (lim > 50) abort();
        vn_rsm_page_t p, want;
        vn_rsm_select_sorted(&r, uids, n, lim, &p);
        if (p.first > n || p.count > lim || p.first + p.count > n) abort();
        model(&r, n, lim, &want);
        if (p.first != want.first || p.count != want.count) abort();

        vn_xnode_t *res = vn_xnode_new(a, "http://jabber.org/protocol/disco#items", "query");
        /* UIDs from the request (any text) as first/last, to check escaping. */
        const char *first = p.count ? (r.after ? r.after : uids[p.first]) : NULL;
        const char *last = p.count ? (r.before && r.before[0] ? r.before : uids[p.first]) : NULL;
        vn_rsm_add_result(a, res, first, p.first, last, n);
        vn_buf_t b = VN_BUF_INIT;
        vn_xnode_serialize(res, "jabber:client", &b);
        if (!vn_xml_parse_element(a, b.data, b.len, NULL, 8)) abort();
        vn_buf_free(&b);
    }
    vn_arena_free(a);
    return 0;
}

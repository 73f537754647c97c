/* libFuzzer target for the profile parsers (src/mod/profile.h): the vCard
 * PHOTO (XEP-0054/XEP-0153: BINVAL base64, folded or not, and its SHA-1)
 * and the bookmarks conversion between XEP-0048 <storage/> in private XML
 * and XEP-0402 PEP items (bookmarks_compat.c).
 *
 * Input: byte 0 selects the mode.
 *   0: the rest is a stanza parsed with the server's XML parser; every
 *      vcard-temp <vCard/> in it has its PHOTO hashed, every <storage/> is
 *      converted to items and back, every bookmarks:1 <conference/> is
 *      converted to a XEP-0048 one (as if an item with id = its 'id').
 *   1: the rest is BINVAL text, hashed.
 *   2: the rest is image bytes: base64-encoded, folded every byte-1 chars
 *      (as vCard clients do), then hashed.
 *
 * Properties besides memory safety and UB:
 *   - the photo hash of base64 of bytes is the SHA-1 of those bytes, with
 *     any folding, and the decoded size is right;
 *   - XEP-0048 -> XEP-0402 -> XEP-0048 -> XEP-0402 gives the same items:
 *     every item payload parses as a bookmarks:1 <conference/>, every
 *     converted list parses back, and conversion is idempotent. */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "fuzz_tree.h"
#include "mod/profile.h"
#include "xmpp/jid.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NS_LEGACY "storage:bookmarks"
#define NS_BOOKMARKS "urn:xmpp:bookmarks:1"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    vn_jid_global_init();
    return 0;
}

static void hex_of(const unsigned char *md, char out[41])
{
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void photo_bytes(const uint8_t *data, size_t size, unsigned fold)
{
    unsigned char *b64 = vn_xmalloc(4 * ((size + 2) / 3) + 1);
    int n = EVP_EncodeBlock(b64, data, (int)size);
    vn_buf_t folded = VN_BUF_INIT;
    for (int i = 0; i < n; i++) {
        if (fold && i && i % fold == 0) vn_buf_puts(&folded, i % 3 ? "\r\n" : "\n ");
        vn_buf_append(&folded, b64 + i, 1);
    }
    vn_buf_cstr(&folded);
    char hex[41], want[41];
    size_t bytes = 0;
    if (vn_profile_b64_sha1(folded.data, folded.len, hex, &bytes) < 0) {
        fprintf(stderr, "valid base64 refused: %s\n", folded.data);
        abort();
    }
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1(data, size, md);
    hex_of(md, want);
    if (bytes != size || strcmp(hex, want)) {
        fprintf(stderr, "photo hash %s (%zu bytes), want %s (%zu bytes)\n", hex, bytes, want, size);
        abort();
    }
    vn_buf_free(&folded);
    free(b64);
}

static void photo_text(const uint8_t *data, size_t size)
{
    char hex[41];
    size_t bytes = 0;
    if (vn_profile_b64_sha1((const char *)data, size, hex, &bytes) == 0) {
        if (strlen(hex) != 40 || bytes > size) abort();
    }
}

typedef struct item {
    const char *jid;
    char *payload;
} item_t;

/* XEP-0048 <storage/> -> items as bookmarks_compat.c's stored() makes them
 * (first of each room, at most 1000). Returns the count. */
static int to_items(vn_arena_t *a, const vn_xnode_t *storage, item_t *out, int max)
{
    int n = 0;
    for (const vn_xnode_t *cf = storage->children; cf && n < max; cf = cf->next) {
        const char *jid = vn_bookmarks_legacy_jid(a, cf);
        if (!jid) continue;
        int dup = 0;
        for (int i = 0; i < n && !dup; i++)
            dup = !strcmp(out[i].jid, jid);
        if (dup) continue;
        out[n].jid = jid;
        out[n].payload = vn_bookmarks_to_item(a, cf);
        vn_xnode_t *p = vn_profile_parse(a, out[n].payload, strlen(out[n].payload));
        if (!p || !p->ns || strcmp(p->ns, NS_BOOKMARKS) || strcmp(p->name, "conference")) {
            fprintf(stderr, "item payload is not a bookmarks:1 conference: %s\n", out[n].payload);
            abort();
        }
        n++;
    }
    return n;
}

static void free_items(item_t *it, int n)
{
    for (int i = 0; i < n; i++)
        free(it[i].payload);
}

#define MAX_ROOMS 64

static void storage(vn_arena_t *a, const vn_xnode_t *st)
{
    item_t first[MAX_ROOMS], second[MAX_ROOMS];
    int n1 = to_items(a, st, first, MAX_ROOMS);
    /* Items -> the XEP-0048 list a get answers with. */
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_puts(&b, "<storage xmlns='" NS_LEGACY "'>");
    for (int i = 0; i < n1; i++)
        vn_bookmarks_to_legacy(&b, a, first[i].jid, first[i].payload);
    vn_buf_puts(&b, "</storage>");
    vn_xnode_t *back = vn_profile_parse(a, b.data, b.len);
    if (!back) {
        fprintf(stderr, "converted list does not parse: %.*s\n", (int)b.len, b.data);
        abort();
    }
    int n2 = to_items(a, back, second, MAX_ROOMS);
    if (n1 != n2) {
        fprintf(stderr, "%d rooms became %d: %.*s\n", n1, n2, (int)b.len, b.data);
        abort();
    }
    for (int i = 0; i < n1; i++) {
        if (strcmp(first[i].jid, second[i].jid) || strcmp(first[i].payload, second[i].payload)) {
            fprintf(stderr, "room %s / %s\n%s\nbecame\n%s\n", first[i].jid, second[i].jid,
                    first[i].payload, second[i].payload);
            abort();
        }
    }
    free_items(first, n1);
    free_items(second, n2);
    vn_buf_free(&b);
}

static void conference(vn_arena_t *a, const vn_xnode_t *cf)
{
    /* As a PEP item some client published: any id. */
    const char *id = vn_xnode_attr(cf, "id");
    size_t len;
    char *payload = vn_profile_serialize(cf, &len);
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_puts(&b, "<storage xmlns='" NS_LEGACY "'>");
    vn_bookmarks_to_legacy(&b, a, id ? id : "room@conference.example.org", payload);
    vn_buf_puts(&b, "</storage>");
    if (!vn_profile_parse(a, b.data, b.len)) {
        fprintf(stderr, "converted item does not parse: %.*s\n", (int)b.len, b.data);
        abort();
    }
    vn_buf_free(&b);
    free(payload);
}

static void vcard(vn_arena_t *a, const vn_xnode_t *v)
{
    char *type, *binval;
    vn_vcard_photo_of(a, v, &type, &binval);
    if (binval) photo_text((const uint8_t *)binval, strlen(binval));
}

static void visit(vn_xnode_t *n, void *ud)
{
    vn_arena_t *a = ud;
    if (!n->ns) return;
    if (!strcmp(n->ns, "vcard-temp") && !strcmp(n->name, "vCard"))
        vcard(a, n);
    else if (!strcmp(n->ns, NS_LEGACY) && !strcmp(n->name, "storage"))
        storage(a, n);
    else if (!strcmp(n->ns, NS_BOOKMARKS) && !strcmp(n->name, "conference"))
        conference(a, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0] % 3;
    data++, size--;
    if (mode == 1) {
        photo_text(data, size);
        return 0;
    }
    if (mode == 2) {
        if (size < 1) return 0;
        photo_bytes(data + 1, size - 1, data[0]);
        return 0;
    }
    vn_arena_t *a = vn_arena_new(4096);
    vn_xnode_t *n = fuzz_tree(a, data, size);
    if (n) fuzz_walk(n, visit, a);
    vn_arena_free(a);
    return 0;
}

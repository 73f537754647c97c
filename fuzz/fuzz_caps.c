/* libFuzzer target for the XEP-0115 verification string and hash of a
 * disco#info answer (caps_ver_of, src/mod/pubsub/caps.c): what a client
 * answers to the server's disco#info query decides which features are
 * cached for every entity that advertises the same ver.
 *
 * Input: byte 0 picks the hash (sha-1, sha-256, an unknown name); the rest
 * is the <iq/> result (or any element holding a disco#info <query/>; the
 * element itself when none), parsed with the server's XML parser.
 *
 * Properties besides memory safety and UB:
 *   - an unknown hash name gives NULL;
 *   - §5.1 sorts identities, features, forms, fields and values, so the
 *     order of the answer's elements must not change the result: the same
 *     query with every child list reversed hashes the same (or is refused
 *     the same). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_tree.h"
#include "mod/pubsub/ps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void reverse_children(vn_xnode_t *n, int depth)
{
    vn_xnode_t *prev = NULL, *c = n->children;
    n->last_child = c;
    while (c) {
        vn_xnode_t *next = c->next;
        c->next = prev;
        prev = c;
        c = next;
    }
    n->children = prev;
    if (depth < 2) /* query, form, field: not the text of a value */
        for (c = n->children; c; c = c->next)
            if (c->name) reverse_children(c, depth + 1);
}

typedef struct find {
    vn_xnode_t *q;
} find_t;

static void find_query(vn_xnode_t *n, void *ud)
{
    find_t *f = ud;
    if (!f->q && n->ns && !strcmp(n->ns, NS_DISCO_INFO) && !strcmp(n->name, "query")) f->q = n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const algos[] = {"sha-1", "sha-256", "sha-512", "SHA1", "md5"};
    if (size < 1) return 0;
    const char *algo = algos[data[0] % 5];
    vn_arena_t *a = vn_arena_new(4096);
    vn_xnode_t *n = fuzz_tree(a, data + 1, size - 1);
    if (n) {
        find_t f = {NULL};
        fuzz_walk(n, find_query, &f);
        vn_xnode_t *q = f.q ? f.q : n;
        char *v1 = caps_ver_of(a, q, algo);
        if (v1 && data[0] % 5 > 2) abort(); /* unknown names */
        vn_xnode_t *r = vn_xnode_copy(a, q);
        reverse_children(r, 0);
        char *v2 = caps_ver_of(a, r, algo);
        if ((v1 == NULL) != (v2 == NULL) || (v1 && strcmp(v1, v2))) {
            fprintf(stderr, "ver depends on element order: %s vs %s\n", v1 ? v1 : "(refused)",
                    v2 ? v2 : "(refused)");
            abort();
        }
    }
    vn_arena_free(a);
    return 0;
}

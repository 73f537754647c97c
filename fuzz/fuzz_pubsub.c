/* libFuzzer target for the XEP-0060 node configuration parsers of
 * src/mod/pubsub/node.c (declared in src/mod/pubsub/ps.h): the data forms
 * (XEP-0004) of pubsub#node_config and pubsub#publish-options
 * (XEP-0060 §7.1.5, §8.2) and the stored "key=value" configuration text.
 *
 * Input: byte 0 selects the mode. Bit 0 clear: the rest is a stanza parsed
 * with the server's XML parser; every element with a jabber:x:data <x/>
 * child is read as a form and applied (strictly, as a configure submit,
 * and leniently, as publish-options) to the PEP and the service defaults.
 * Bit 0 set: the rest is stored configuration text (any version's row).
 *
 * Properties besides memory safety and UB:
 *   - what a form set is stored and read back identical;
 *   - a node configured from publish-options matches those options (else
 *     the next publish with the same options fails its precondition);
 *   - the configuration form the server shows, submitted back unchanged,
 *     gives the same configuration;
 *   - decoding any text gives a configuration whose encoding decodes to
 *     itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "fuzz_tree.h"
#include "mod/pubsub/ps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CAP 256 /* [pubsub] max_items default */

static char *encode(const ps_config_t *c)
{
    vn_buf_t b = VN_BUF_INIT;
    ps_config_serialize(c, &b);
    return b.data;
}

static void must_equal(const char *what, const char *want, const char *got)
{
    if (strcmp(want, got)) {
        fprintf(stderr, "%s differs:\n--- want\n%s--- got\n%s", what, want, got);
        abort();
    }
}

/* encode -> decode -> encode is stable; returns the encoding. */
static char *round_trip(const ps_config_t *c, int pep)
{
    char *text = encode(c);
    ps_config_t back;
    ps_config_default(&back, pep);
    ps_config_parse(&back, text);
    char *again = encode(&back);
    must_equal("stored configuration read back", text, again);
    free(again);
    return text;
}

static void fuzz_text(const uint8_t *data, size_t size, int pep)
{
    char *text = vn_xstrndup((const char *)data, size);
    ps_config_t c;
    ps_config_default(&c, pep);
    ps_config_parse(&c, text);
    free(round_trip(&c, pep));
    free(text);
}

typedef struct walk {
    vn_arena_t *a;
} walk_t;

static void form_parent(vn_xnode_t *parent, void *ud)
{
    walk_t *w = ud;
    if (!vn_xnode_child(parent, NS_DATA, "x")) return;
    ps_form_t f;
    if (ps_form_read(w->a, parent, &f) < 0) return;
    for (int pep = 0; pep < 2; pep++) {
        for (int strict = 0; strict < 2; strict++) {
            ps_config_t c;
            ps_config_default(&c, pep);
            const char *bad = NULL;
            if (ps_config_apply(&c, &f, strict, MAX_CAP, &bad) < 0) {
                if (!bad) abort();
                continue;
            }
            if (!ps_config_matches(&c, &f, MAX_CAP)) {
                fprintf(stderr, "a node configured from publish-options does not match them\n");
                abort();
            }
            char *text = round_trip(&c, pep);
            /* The form the server shows, submitted back as it is. */
            vn_xnode_t *holder = vn_xnode_new(w->a, NS_PUBSUB_OWNER, "configure");
            ps_config_to_form(w->a, holder, &c, "submit", NS_PUBSUB_NODE_CONFIG);
            ps_form_t f2;
            if (ps_form_read(w->a, holder, &f2) < 0) abort();
            ps_config_t c2;
            ps_config_default(&c2, !pep);
            if (ps_config_apply(&c2, &f2, 1, MAX_CAP, &bad) < 0) {
                fprintf(stderr, "the server's own form is refused at %s\n", bad);
                abort();
            }
            char *text2 = encode(&c2);
            must_equal("configuration through its own form", text, text2);
            free(text2);
            free(text);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    data++, size--;
    if (mode & 1) {
        fuzz_text(data, size, (mode >> 1) & 1);
        return 0;
    }
    vn_arena_t *a = vn_arena_new(4096);
    vn_xnode_t *n = fuzz_tree(a, data, size);
    walk_t w = {a};
    if (n) fuzz_walk(n, form_parent, &w);
    vn_arena_free(a);
    return 0;
}

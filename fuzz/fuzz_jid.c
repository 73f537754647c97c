/* libFuzzer target for vn_jid_parse().
 *
 * Besides memory safety it checks that preparation is idempotent: a parsed
 * address printed with vn_jid_full_str() must parse again to the same
 * parts (RFC 8264 §7 requires stable output). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "xmpp/jid.h"

static vn_arena_t *arena;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vn_jid_global_init();
    arena = vn_arena_new(4096);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vn_jid_t j, k;
    if (vn_jid_parse((const char *)data, size, &j, arena) == 0) {
        if (!j.domain) abort();
        char *full = vn_jid_full_str(&j, arena);
        if (vn_jid_parse(full, strlen(full), &k, arena) != 0) abort();
        if (!vn_jid_full_equal(&j, &k)) abort();
    }
    vn_arena_reset(arena);
    return 0;
}

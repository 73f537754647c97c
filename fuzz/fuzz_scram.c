/* libFuzzer target for the SCRAM server state machine (src/xmpp/scram.c).
 *
 * Input layout:
 *   byte 0       options: bit 0 hash (0 SHA-1, 1 SHA-256), bit 1 -PLUS
 *                selected, bit 2 -PLUS offered, bit 3 unknown user,
 *                bit 4 the connection has channel-binding data
 *   bytes 1..    client-first-message '\n' client-final-message
 *                (split at the first '\n'; without one, only client-first)
 *
 * The account is "pencil" with the RFC 5802 / RFC 7677 salts, and the server
 * nonce is fixed to the RFC's, so the RFC exchanges are valid inputs:
 *   printf '\0n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL\nc=biws,r=fyko+d2lbbFgONRv9qkxdawL'\
 *          '3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=' > corpus/rfc5802
 *
 * Build:
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *         src/core/mem.c src/xmpp/scram.c fuzz/fuzz_scram.c -lcrypto -o fuzz_scram */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmpp/scram.h"

static vn_scram_creds_t creds[VN_SCRAM_NHASH];
static const uint8_t cb_data[32] = {0x5c, 0x1f, 0x8e, 0x02, 0x77, 0xa9, 0x31, 0xd4,
                                    0x60, 0x0b, 0xee, 0x4a, 0x93, 0x28, 0xc5, 0x7d,
                                    0x11, 0xf0, 0x3b, 0x86, 0x49, 0xda, 0x2e, 0x75,
                                    0xb8, 0x04, 0x6f, 0xc1, 0x9a, 0x53, 0xe7, 0x20};

static void make(vn_scram_hash_t h, const char *salt64)
{
    uint8_t *salt;
    size_t n;
    if (vn_base64_decode(salt64, strlen(salt64), &salt, &n) != 0 || n > sizeof creds[h].salt)
        abort();
    memcpy(creds[h].salt, salt, n);
    creds[h].salt_len = n;
    free(salt);
    if (vn_scram_derive_keys(h, "pencil", 6, 4096, &creds[h]) != 0) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    make(VN_SCRAM_SHA1, "QSXCR+Q6sek8bf92");
    make(VN_SCRAM_SHA256, "W22ZaJ0SNY7soEsUEjb6gQ==");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vn_scram_server_t s;
    const char *msg, *sep, *sf;
    size_t len, first_len;
    vn_scram_hash_t h;
    uint8_t opt;
    char *v = NULL;

    if (size < 1) return 0;
    opt = data[0];
    h = (opt & 1) ? VN_SCRAM_SHA256 : VN_SCRAM_SHA1;
    msg = (const char *)data + 1;
    len = size - 1;
    sep = memchr(msg, '\n', len);
    first_len = sep ? (size_t)(sep - msg) : len;

    vn_scram_server_init(&s, h, (opt >> 1) & 1, (opt >> 2) & 1);
    if (vn_scram_server_client_first(&s, msg, first_len) != VN_SCRAM_OK) goto out;
    if (!s.username || !s.username[0] || !s.gs2_header || !s.client_first_bare || !s.nonce)
        abort();

    sf = vn_scram_server_first(&s, (opt & 8) ? NULL : &creds[h],
                               h == VN_SCRAM_SHA1 ? "3rfcNHYJY1ZVvWVs7j"
                                                  : "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    if (!sf) abort(); /* valid nonce and state: must succeed */
    if (!sep) goto out;

    vn_scram_status_t st = vn_scram_server_client_final(
        &s, sep + 1, len - first_len - 1, (opt & 16) ? cb_data : NULL, (opt & 16) ? 32 : 0, &v);
    if (st == VN_SCRAM_OK) {
        /* Success needs a known user and yields "v=" + base64 */
        if (!s.have_creds || !v || strncmp(v, "v=", 2) != 0) abort();
    } else if (v) {
        abort();
    }
    free(v);
out:
    vn_scram_server_clear(&s);
    return 0;
}

/* Helpers shared by the profile modules (see profile.h). */
#include "mod/profile.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "xml/parser.h"

vn_xnode_t *vn_profile_parse(vn_arena_t *a, const char *xml, size_t len)
{
    return vn_xml_parse_element(a, xml, len, NULL, 64);
}

char *vn_profile_serialize(const vn_xnode_t *n, size_t *len)
{
    vn_buf_t b = VN_BUF_INIT;
    vn_xnode_serialize(n, "", &b);
    char *s = vn_xstrndup(b.data ? b.data : "", b.len);
    if (len) *len = b.len;
    vn_buf_free(&b);
    return s;
}

int vn_profile_b64_sha1(const char *b64, size_t len, char hex[41], size_t *bytes)
{
    char *clean = vn_xmalloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = b64[i];
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') continue;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/' || ch == '=')) {
            free(clean);
            return -1;
        }
        clean[n++] = ch;
    }
    if (n % 4 != 0 || n > (size_t)1 << 30) {
        free(clean);
        return -1;
    }
    size_t pad = 0;
    if (n && clean[n - 1] == '=') pad = clean[n - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i + pad < n; i++) {
        if (clean[i] == '=') {
            free(clean);
            return -1;
        }
    }
    unsigned char *out = vn_xmalloc(n / 4 * 3 + 1);
    int r = n ? EVP_DecodeBlock(out, (const unsigned char *)clean, (int)n) : 0;
    free(clean);
    if (r < 0) {
        free(out);
        return -1;
    }
    size_t dlen = (size_t)r - pad;
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1(out, dlen, md);
    free(out);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
        static const char digits[] = "0123456789abcdef";
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[40] = '\0';
    if (bytes) *bytes = dlen;
    return 0;
}

int vn_profile_own_account(const vn_stanza_t *st)
{
    const vn_session_t *s = st->origin;
    if (!s || !s->user || st->to.resource) return 0;
    if (!st->to.domain) return 1;
    return st->to.local && !strcmp(st->to.local, s->jid.local) &&
           !strcmp(st->to.domain, s->jid.domain);
}

char *vn_profile_target_bare(const vn_stanza_t *st)
{
    if (!st->to.domain) return vn_arena_printf(st->arena, "%s@%s", st->from.local, st->from.domain);
    return vn_arena_printf(st->arena, "%s@%s", st->to.local, st->to.domain);
}

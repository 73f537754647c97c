/* XMPP addresses: parsing, preparation and comparison per RFC 7622.
 *
 *   localpart    PRECIS UsernameCaseMapped (RFC 8265 §3.3) + RFC 7622 §3.3.1
 *   domainpart   IDNA2008 (RFC 5890-5893) via libidn2, with the RFC 5895
 *                mappings, as RFC 7622 §3.2 requires
 *   resourcepart PRECIS OpaqueString (RFC 8265 §4.2), RFC 7622 §3.4
 *
 * The PRECIS string classes (RFC 8264 §8-§9) are derived here from ICU's
 * Unicode properties; ICU also supplies case mapping and NFC.
 *
 * Performance: every stanza's to/from goes through vn_jid_parse(), so pure
 * ASCII parts (nearly all traffic) take a fast path with no ICU or libidn2
 * call and one allocation per part. The Unicode path keeps its scratch
 * buffers on the stack and only falls back to the heap for long input.
 * Prepared IDN domains are remembered in a small per-thread cache, since
 * libidn2 validation is the most expensive step and the same few domains
 * recur in nearly every stanza. */
#include "xmpp/jid.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include "core/mem.h"

/* RFC 7622 §3.1: each part is 1..1023 octets once prepared. */
#define PART_MAX 1023
/* Input bytes accepted per part before preparation. Mappings shrink text by
 * at most a factor of three (fullwidth forms, Hangul jamo composition), so
 * longer input can never prepare to a valid part; refusing it early bounds
 * the work an attacker can ask for. */
#define PART_IN_MAX (4 * PART_MAX)
/* RFC 1035 §2.3.4, RFC 5890 §2.3.2.1: a label is at most 63 octets. */
#define LABEL_MAX 63
/* A U-label's A-label is at most 63 octets and every non-ASCII code point
 * costs at least one octet of it, so a U-label has fewer than 63 code
 * points, i.e. fewer than 252 UTF-8 octets. */
#define ULABEL_MAX 255

/* Set by vn_jid_global_init(); read-only afterwards. */
static const UNormalizer2 *g_nfc;
static const UNormalizer2 *g_nfkc;

static const UNormalizer2 *nfc_inst(void)
{
    if (g_nfc) return g_nfc;
    UErrorCode e = U_ZERO_ERROR; /* ICU's own lazy init is thread-safe */
    const UNormalizer2 *n = unorm2_getNFCInstance(&e);
    return U_SUCCESS(e) ? n : NULL;
}

static const UNormalizer2 *nfkc_inst(void)
{
    if (g_nfkc) return g_nfkc;
    UErrorCode e = U_ZERO_ERROR;
    const UNormalizer2 *n = unorm2_getNFKCInstance(&e);
    return U_SUCCESS(e) ? n : NULL;
}

static char *part_dup(vn_arena_t *a, const char *s, size_t n)
{
    return a ? vn_arena_strndup(a, s, n) : vn_xstrndup(s, n);
}

static char *part_alloc(vn_arena_t *a, size_t n)
{
    return a ? vn_arena_alloc(a, n) : vn_xmalloc(n);
}

static inline char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

/* ------------------------------------------------------------------ */
/* UTF-16 scratch buffer: stack storage with heap fallback.            */

#define UBUF_INLINE 256

typedef struct {
    UChar *p;
    int32_t len, cap;
    UChar inl[UBUF_INLINE];
} ubuf_t;

static void ubuf_init(ubuf_t *b)
{
    b->p = b->inl;
    b->len = 0;
    b->cap = UBUF_INLINE;
}

static void ubuf_free(ubuf_t *b)
{
    if (b->p != b->inl) free(b->p);
}

static void ubuf_reserve(ubuf_t *b, int32_t n)
{
    if (n <= b->cap) return;
    int32_t cap = b->cap;
    while (cap < n) cap *= 2;
    UChar *p = vn_xmalloc(sizeof(UChar) * (size_t)cap);
    memcpy(p, b->p, sizeof(UChar) * (size_t)b->len);
    ubuf_free(b);
    b->p = p;
    b->cap = cap;
}

/* Append without a bounds check: callers reserve room beforehand. */
static inline void ubuf_put(ubuf_t *b, UChar32 c)
{
    U16_APPEND_UNSAFE(b->p, b->len, c);
}

static UChar32 width_map(UChar32 c);

/* Strict UTF-8 decoding (RFC 3629: no overlongs, surrogates or values
 * above U+10FFFF; ICU's U8_NEXT reports those as negative). With `width`
 * the width mapping rule is applied on the way. */
static int decode_utf8(const char *s, size_t len, ubuf_t *out, bool width)
{
    const uint8_t *u = (const uint8_t *)s;
    int32_t i = 0, n = (int32_t)len; /* len <= PART_IN_MAX */
    out->len = 0;
    ubuf_reserve(out, n); /* one UTF-16 unit per UTF-8 byte at most */
    while (i < n) {
        UChar32 c;
        U8_NEXT(u, i, n, c);
        if (c < 0) return -1;
        ubuf_put(out, width ? width_map(c) : c);
    }
    return 0;
}

/* UTF-16 to UTF-8 into a bounded buffer; -1 when it does not fit. */
static int encode_utf8(const UChar *s, int32_t n, char *dst, size_t cap, size_t *outlen)
{
    size_t o = 0;
    for (int32_t i = 0; i < n;) {
        UChar32 c;
        U16_NEXT(s, i, n, c);
        if (U_IS_SURROGATE(c)) return -1;
        if (cap - o < (size_t)U8_LENGTH(c)) return -1;
        U8_APPEND_UNSAFE((uint8_t *)dst, o, c);
    }
    *outlen = o;
    return 0;
}

/* NFC (RFC 8264 §5.2.4 normalization rule); in and out must differ. */
static int nfc_apply(const UChar *in, int32_t n, ubuf_t *out)
{
    const UNormalizer2 *nfc = nfc_inst();
    if (!nfc) return -1;
    UErrorCode e = U_ZERO_ERROR;
    int32_t m = unorm2_normalize(nfc, in, n, out->p, out->cap, &e);
    if (e == U_BUFFER_OVERFLOW_ERROR) {
        out->len = 0;
        ubuf_reserve(out, m);
        e = U_ZERO_ERROR;
        m = unorm2_normalize(nfc, in, n, out->p, out->cap, &e);
    }
    if (U_FAILURE(e)) return -1;
    out->len = m;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Mapping rules                                                       */

typedef enum { PROF_LOCAL, PROF_RESOURCE, PROF_DOMAIN } profile_t;

/* Width mapping rule (RFC 8264 §9.11 / RFC 8265 §3.3.1 step 1): fullwidth
 * and halfwidth code points map to their decomposition mapping, which is a
 * single code point for every <wide> and <narrow> character. */
static UChar32 width_map(UChar32 c)
{
    /* All <wide>/<narrow> characters are U+3000 or in U+FF00..U+FFEF (the
     * unit tests check this against the ICU in use). */
    if (c != 0x3000 && (c < 0xFF00 || c > 0xFFEF)) return c;
    int32_t dt = u_getIntPropertyValue(c, UCHAR_DECOMPOSITION_TYPE);
    if (dt != U_DT_WIDE && dt != U_DT_NARROW) return c;
    const UNormalizer2 *nfkc = nfkc_inst();
    if (!nfkc) return c;
    UChar d[4];
    UErrorCode e = U_ZERO_ERROR;
    int32_t n = unorm2_getRawDecomposition(nfkc, c, d, 4, &e);
    if (U_FAILURE(e) || n <= 0) return c;
    UChar32 m;
    int32_t i = 0;
    U16_NEXT(d, i, n, m);
    return i == n ? m : c;
}

/* Case mapping rule (RFC 8265 §3.3.1 step 2): Unicode full toLowerCase()
 * without the context-dependent Final_Sigma condition, so that every
 * capital maps the same way wherever it stands (Σ is always σ). In the
 * root locale the only unconditional multi-code-point lower-case mapping
 * is U+0130; all others are the simple mapping u_tolower() returns. */
static void put_lower(ubuf_t *b, UChar32 c)
{
    if (c == 0x0130) {
        ubuf_put(b, 0x0069);
        ubuf_put(b, 0x0307);
        return;
    }
    ubuf_put(b, u_tolower(c));
}

/* Lower case for domain labels (RFC 5895 §2 step 1), except for code
 * points that case folding already leaves alone: IDNA2008 derives PVALID
 * from case-fold stability, and for Cherokee (Unicode 8 and later) the
 * stable, PVALID form is the upper-case one. */
static void put_domain_lower(ubuf_t *b, UChar32 c)
{
    if (c != 0x0130 && u_foldCase(c, U_FOLD_CASE_DEFAULT) == c)
        ubuf_put(b, c);
    else
        put_lower(b, c);
}

static void map_apply(profile_t p, const UChar *in, int32_t n, ubuf_t *out)
{
    out->len = 0;
    /* Each UTF-16 unit maps to at most two (U+0130 -> i + U+0307). */
    ubuf_reserve(out, 2 * n + 2);
    for (int32_t i = 0; i < n;) {
        UChar32 c;
        U16_NEXT(in, i, n, c);
        switch (p) {
        case PROF_LOCAL: /* RFC 8265 §3.3.1: width, then case */
            put_lower(out, width_map(c));
            break;
        case PROF_RESOURCE:
            /* RFC 8265 §4.2.1 additional mapping: non-ASCII spaces
             * (Zs) map to U+0020. No width or case mapping. */
            if (c != 0x20 && u_charType(c) == U_SPACE_SEPARATOR) c = 0x20;
            ubuf_put(out, c);
            break;
        case PROF_DOMAIN:
            /* RFC 5895 §2: width mapping, lower case, and the label
             * separators U+3002, U+FF0E, U+FF61 map to U+002E. */
            c = width_map(c);
            if (c == 0x3002 || c == 0xFF0E || c == 0xFF61) c = 0x2E;
            put_domain_lower(out, c);
            break;
        }
    }
}

/* ------------------------------------------------------------------ */
/* PRECIS string classes (RFC 8264 §8 derivation, §9 categories)       */

typedef enum { C_PVALID, C_CONTEXTJ, C_CONTEXTO, C_DISALLOWED, C_UNASSIGNED } pclass_t;

static pclass_t precis_class(UChar32 c, bool freeform)
{
    /* Exceptions (RFC 8264 §9.6 = RFC 5892 §2.6). */
    switch (c) {
    case 0x00DF: case 0x03C2: case 0x06FD: case 0x06FE: case 0x0F0B: case 0x3007:
        return C_PVALID;
    case 0x00B7: case 0x0375: case 0x05F3: case 0x05F4: case 0x30FB:
        return C_CONTEXTO;
    case 0x0640: case 0x07FA: case 0x302E: case 0x302F: case 0x3031:
    case 0x3032: case 0x3033: case 0x3034: case 0x3035: case 0x303B:
        return C_DISALLOWED;
    default:
        break;
    }
    if ((c >= 0x0660 && c <= 0x0669) || (c >= 0x06F0 && c <= 0x06F9)) return C_CONTEXTO;
    /* BackwardCompatible (§9.7) is empty. */
    int8_t gc = u_charType(c);
    /* Unassigned §9.8: gc Cn and not a noncharacter (which are all Cn). */
    const bool nonchar = gc == U_UNASSIGNED && u_hasBinaryProperty(c, UCHAR_NONCHARACTER_CODE_POINT);
    if (gc == U_UNASSIGNED && !nonchar) return C_UNASSIGNED;
    if (c >= 0x21 && c <= 0x7E) return C_PVALID;               /* ASCII7 §9.11 */
    if (c == 0x200C || c == 0x200D) return C_CONTEXTJ;         /* JoinControl §9.8 */
    /* OldHangulJamo §9.9: conjoining jamo live in these three blocks. */
    if ((c >= 0x1100 && c <= 0x11FF) || (c >= 0xA960 && c <= 0xA97F) || (c >= 0xD7B0 && c <= 0xD7FF)) {
        switch (u_getIntPropertyValue(c, UCHAR_HANGUL_SYLLABLE_TYPE)) {
        case U_HST_LEADING_JAMO: case U_HST_VOWEL_JAMO: case U_HST_TRAILING_JAMO:
            return C_DISALLOWED;
        default:
            break;
        }
    }
    if (nonchar || u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT))
        return C_DISALLOWED;                                   /* §9.13 */
    if (gc == U_CONTROL_CHAR) return C_DISALLOWED;             /* Controls §9.12 */
    /* HasCompat §9.17: toNFKC(cp) != cp, i.e. NFKC_Quick_Check = No. */
    if (u_getIntPropertyValue(c, UCHAR_NFKC_QUICK_CHECK) == UNORM_NO)
        return freeform ? C_PVALID : C_DISALLOWED;
    switch (gc) {
    /* LetterDigits §9.1 */
    case U_LOWERCASE_LETTER: case U_UPPERCASE_LETTER: case U_OTHER_LETTER:
    case U_DECIMAL_DIGIT_NUMBER: case U_MODIFIER_LETTER:
    case U_NON_SPACING_MARK: case U_COMBINING_SPACING_MARK:
        return C_PVALID;
    /* OtherLetterDigits §9.2, Spaces §9.14, Symbols §9.15, Punctuation §9.16 */
    case U_TITLECASE_LETTER: case U_LETTER_NUMBER: case U_OTHER_NUMBER:
    case U_ENCLOSING_MARK: case U_SPACE_SEPARATOR:
    case U_MATH_SYMBOL: case U_CURRENCY_SYMBOL: case U_MODIFIER_SYMBOL: case U_OTHER_SYMBOL:
    case U_CONNECTOR_PUNCTUATION: case U_DASH_PUNCTUATION: case U_START_PUNCTUATION:
    case U_END_PUNCTUATION: case U_INITIAL_PUNCTUATION: case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
        return freeform ? C_PVALID : C_DISALLOWED;
    default:
        return C_DISALLOWED;
    }
}

/* The derivation above costs several ICU property lookups per code point.
 * vn_jid_global_init() evaluates it once for the whole BMP (64 KiB: the
 * IdentifierClass value in the low nibble, FreeformClass in the high one);
 * other planes, and calls before init, use the derivation directly. */
static uint8_t g_bmp_class[0x10000];
static bool g_bmp_ready;

static void bmp_class_init(void)
{
    for (UChar32 c = 0; c < 0x10000; c++)
        g_bmp_class[c] = (uint8_t)(precis_class(c, false) | (precis_class(c, true) << 4));
    g_bmp_ready = true;
}

static inline pclass_t class_of(UChar32 c, bool freeform)
{
    if (c < 0x10000 && g_bmp_ready)
        return (pclass_t)(freeform ? g_bmp_class[c] >> 4 : g_bmp_class[c] & 0x0F);
    return precis_class(c, freeform);
}

static UScriptCode script_of(UChar32 c)
{
    UErrorCode e = U_ZERO_ERROR;
    UScriptCode s = uscript_getScript(c, &e);
    return U_SUCCESS(e) ? s : USCRIPT_INVALID_CODE;
}

/* Contextual rules of RFC 5892 Appendix A, which RFC 8264 §8 applies to
 * CONTEXTJ and CONTEXTO code points. [i0, i1) is the code point c in s. */
static bool context_ok(const UChar *s, int32_t n, int32_t i0, int32_t i1, UChar32 c)
{
    UChar32 before = -1, after = -1, x;
    if (i0 > 0) {
        int32_t k = i0;
        U16_PREV(s, 0, k, before);
    }
    if (i1 < n) {
        int32_t k = i1;
        U16_NEXT(s, k, n, after);
    }
    switch (c) {
    case 0x200C: { /* A.1 ZERO WIDTH NON-JOINER */
        if (before >= 0 && u_getCombiningClass(before) == 9) return true; /* Virama */
        /* (Joining_Type:{L,D})(Joining_Type:T)*\u200C(Joining_Type:T)*(Joining_Type:{R,D}) */
        bool left = false, right = false;
        for (int32_t k = i0; k > 0;) {
            U16_PREV(s, 0, k, x);
            int32_t jt = u_getIntPropertyValue(x, UCHAR_JOINING_TYPE);
            if (jt == U_JT_TRANSPARENT) continue;
            left = jt == U_JT_LEFT_JOINING || jt == U_JT_DUAL_JOINING;
            break;
        }
        if (!left) return false;
        for (int32_t k = i1; k < n;) {
            U16_NEXT(s, k, n, x);
            int32_t jt = u_getIntPropertyValue(x, UCHAR_JOINING_TYPE);
            if (jt == U_JT_TRANSPARENT) continue;
            right = jt == U_JT_RIGHT_JOINING || jt == U_JT_DUAL_JOINING;
            break;
        }
        return right;
    }
    case 0x200D: /* A.2 ZERO WIDTH JOINER */
        return before >= 0 && u_getCombiningClass(before) == 9;
    case 0x00B7: /* A.3 MIDDLE DOT: only between two 'l' (Catalan l·l) */
        return before == 0x6C && after == 0x6C;
    case 0x0375: /* A.4 GREEK LOWER NUMERAL SIGN (KERAIA) */
        return after >= 0 && script_of(after) == USCRIPT_GREEK;
    case 0x05F3: case 0x05F4: /* A.5, A.6 HEBREW GERESH / GERSHAYIM */
        return before >= 0 && script_of(before) == USCRIPT_HEBREW;
    case 0x30FB: /* A.7 KATAKANA MIDDLE DOT: needs Hiragana, Katakana or Han */
        for (int32_t k = 0; k < n;) {
            U16_NEXT(s, k, n, x);
            if (x == 0x30FB) continue;
            UScriptCode sc = script_of(x);
            if (sc == USCRIPT_HIRAGANA || sc == USCRIPT_KATAKANA || sc == USCRIPT_HAN) return true;
        }
        return false;
    default:
        break;
    }
    if (c >= 0x0660 && c <= 0x0669) { /* A.8: no Extended Arabic-Indic digits */
        for (int32_t k = 0; k < n;) {
            U16_NEXT(s, k, n, x);
            if (x >= 0x06F0 && x <= 0x06F9) return false;
        }
        return true;
    }
    if (c >= 0x06F0 && c <= 0x06F9) { /* A.9: no Arabic-Indic digits */
        for (int32_t k = 0; k < n;) {
            U16_NEXT(s, k, n, x);
            if (x >= 0x0660 && x <= 0x0669) return false;
        }
        return true;
    }
    return false; /* CONTEXTJ/O without a rule is not allowed */
}

/* True when every code point of s belongs to the IdentifierClass
 * (freeform = false) or the FreeformClass (freeform = true). */
static bool class_ok(const UChar *s, int32_t n, bool freeform)
{
    for (int32_t i = 0; i < n;) {
        int32_t i0 = i;
        UChar32 c;
        U16_NEXT(s, i, n, c);
        switch (class_of(c, freeform)) {
        case C_PVALID:
            break;
        case C_CONTEXTJ:
        case C_CONTEXTO:
            if (!context_ok(s, n, i0, i, c)) return false;
            break;
        default:
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Bidi rule (RFC 5893 §2), on valid UTF-8                             */

static bool dir_is_rtl(UCharDirection d)
{
    /* RFC 5893 §1.4: an RTL label holds at least one R, AL or AN. */
    return d == U_RIGHT_TO_LEFT || d == U_RIGHT_TO_LEFT_ARABIC || d == U_ARABIC_NUMBER;
}

static bool has_rtl(const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    int32_t n = (int32_t)len;
    for (int32_t i = 0; i < n;) {
        UChar32 c;
        U8_NEXT(u, i, n, c);
        if (c >= 0x0590 && dir_is_rtl(u_charDirection(c))) return true;
    }
    return false;
}

static bool bidi_rule_ok(const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    int32_t n = (int32_t)len, i = 0;
    if (n == 0) return false;
    UChar32 c;
    U8_NEXT(u, i, n, c);
    UCharDirection d = u_charDirection(c);
    bool rtl;
    if (d == U_LEFT_TO_RIGHT) rtl = false;                  /* rule 1 */
    else if (d == U_RIGHT_TO_LEFT || d == U_RIGHT_TO_LEFT_ARABIC) rtl = true;
    else return false;
    UCharDirection last = d;
    bool en = false, an = false;
    for (;;) {
        switch (d) {
        case U_EUROPEAN_NUMBER: en = true; break;
        case U_ARABIC_NUMBER: an = true; break;
        case U_EUROPEAN_NUMBER_SEPARATOR: case U_COMMON_NUMBER_SEPARATOR:
        case U_EUROPEAN_NUMBER_TERMINATOR: case U_OTHER_NEUTRAL:
        case U_BOUNDARY_NEUTRAL: case U_DIR_NON_SPACING_MARK:
            break;
        case U_LEFT_TO_RIGHT:
            if (rtl) return false;                          /* rule 2 */
            break;
        case U_RIGHT_TO_LEFT: case U_RIGHT_TO_LEFT_ARABIC:
            if (!rtl) return false;                         /* rule 5 */
            break;
        default:
            return false;                                   /* rules 2, 5 */
        }
        if (d != U_DIR_NON_SPACING_MARK) last = d;
        if (i >= n) break;
        U8_NEXT(u, i, n, c);
        d = u_charDirection(c);
    }
    if (rtl) {
        if (an && en) return false;                         /* rule 4 */
        return last == U_RIGHT_TO_LEFT || last == U_RIGHT_TO_LEFT_ARABIC ||
               last == U_EUROPEAN_NUMBER || last == U_ARABIC_NUMBER; /* rule 3 */
    }
    if (an) return false;                                   /* rule 5 */
    return last == U_LEFT_TO_RIGHT || last == U_EUROPEAN_NUMBER; /* rule 6 */
}

/* ------------------------------------------------------------------ */
/* localpart and resourcepart                                          */

/* RFC 7622 §3.3.1: characters excluded from localparts on top of the
 * UsernameCaseMapped profile. */
static bool local_excluded(unsigned char c)
{
    switch (c) {
    case '"': case '&': case '\'': case '/': case ':': case '<': case '>': case '@':
        return true;
    default:
        return false;
    }
}

/* Apply a profile's mapping, then NFC (RFC 8264 §7 order). */
static int apply_rules(profile_t p, const ubuf_t *in, ubuf_t *mapped, ubuf_t *res)
{
    map_apply(p, in->p, in->len, mapped);
    return nfc_apply(mapped->p, mapped->len, res);
}

static bool ubuf_eq(const ubuf_t *x, const ubuf_t *y)
{
    return x->len == y->len && memcmp(x->p, y->p, sizeof(UChar) * (size_t)x->len) == 0;
}

static int prep_precis_slow(profile_t p, const char *s, size_t len, char **out, vn_arena_t *a)
{
    const bool local = p == PROF_LOCAL;
    ubuf_t b0, b1, b2;
    ubuf_t *src = &b0, *map = &b1, *res = &b2;
    char tmp[PART_MAX + 1];
    size_t tl = 0;
    int rc = -1;
    ubuf_init(src);
    ubuf_init(map);
    ubuf_init(res);

    /* The string class is checked on the enforced result (below), not on
     * the raw input as a literal reading of the preparation steps in
     * RFC 8265 §3.3.1/§4.2.1 would also do. Canonically equivalent inputs
     * thus give the same result instead of some being refused: NFD Hangul
     * (conjoining jamo are DISALLOWED before NFC composes them), KELVIN
     * SIGN (= K, becomes "k"), ANGSTROM SIGN. The output is always in the
     * class, so the result is as strict as the RFC's. */
    if (decode_utf8(s, len, src, local) != 0) goto done;

    /* Enforcement (RFC 8265 §3.3.2, §4.2.2). RFC 8264 §7: reapply the
     * rules until the output is stable; reject if it is not after three
     * further applications. */
    if (apply_rules(p, src, map, res) != 0) goto done;
    for (int k = 0;; k++) {
        /* res is NFC and NFC is idempotent, so when the mapping leaves
         * res unchanged another application would too. */
        map_apply(p, res->p, res->len, map);
        if (ubuf_eq(map, res)) break;
        if (nfc_apply(map->p, map->len, src) != 0) goto done;
        if (ubuf_eq(src, res)) break;
        if (k == 2) goto done;
        ubuf_t *t = res;
        res = src;
        src = t;
    }
    if (!class_ok(res->p, res->len, !local)) goto done;

    if (encode_utf8(res->p, res->len, tmp, PART_MAX, &tl) != 0 || tl == 0) goto done;
    if (local) {
        /* Width mapping can produce the excluded ASCII (e.g. U+FF20). */
        for (size_t i = 0; i < tl; i++)
            if (local_excluded((unsigned char)tmp[i])) goto done;
        /* RFC 8265 §3.3.1 step 4: the Bidi rule applies to strings
         * holding right-to-left code points. OpaqueString has none. */
        if (has_rtl(tmp, tl) && !bidi_rule_ok(tmp, tl)) goto done;
    }
    *out = part_dup(a, tmp, tl);
    rc = 0;
done:
    ubuf_free(&b0);
    ubuf_free(&b1);
    ubuf_free(&b2);
    return rc;
}

static int prep_precis(profile_t p, const char *s, size_t len, char **out, vn_arena_t *a)
{
    if (!s || !out || len == 0 || len > PART_IN_MAX) return -1;
    const bool local = p == PROF_LOCAL;

    /* ASCII fast path. Printable ASCII is PVALID in both classes (RFC 8264
     * §9.11), has no context rules, no right-to-left characters and is
     * already NFC; ASCII controls are never valid, and neither is the
     * space in a localpart. */
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) break;
        if (c < 0x20 || c == 0x7F) return -1;
        if (local && (c == 0x20 || local_excluded(c))) return -1;
    }
    if (i < len) return prep_precis_slow(p, s, len, out, a);
    if (len > PART_MAX) return -1;
    char *o = part_alloc(a, len + 1);
    if (local)
        for (i = 0; i < len; i++) o[i] = ascii_lower(s[i]);
    else
        memcpy(o, s, len);
    o[len] = '\0';
    *out = o;
    return 0;
}

int vn_jid_prep_local(const char *s, size_t len, char **out, vn_arena_t *a)
{
    return prep_precis(PROF_LOCAL, s, len, out, a);
}

int vn_jid_prep_resource(const char *s, size_t len, char **out, vn_arena_t *a)
{
    return prep_precis(PROF_RESOURCE, s, len, out, a);
}

/* ------------------------------------------------------------------ */
/* domainpart                                                          */

typedef struct {
    char buf[PART_MAX + 1];
    size_t len;
    int labels;
    bool rtl; /* some label holds R, AL or AN: a Bidi domain name */
    bool idn; /* libidn2 was needed (U-label or A-label present) */
} dom_t;

/* Per-thread cache of recently prepared IDN domains, keyed by the exact
 * input bytes. A server sees the same few domains in nearly every stanza;
 * validating through libidn2 costs microseconds, a hit nanoseconds.
 * Preparation is a pure function, so only the cost changes; only
 * successful results of the IDN path are stored. */
#define DCACHE_N 8
#define DCACHE_MAX 160

typedef struct {
    uint16_t inlen, outlen; /* inlen 0: empty slot */
    char in[DCACHE_MAX];
    char out[DCACHE_MAX];
} dcache_ent_t;

static _Thread_local dcache_ent_t dcache[DCACHE_N];
static _Thread_local unsigned dcache_next;

static const dcache_ent_t *dcache_get(const char *s, size_t len)
{
    if (len > DCACHE_MAX) return NULL;
    for (unsigned i = 0; i < DCACHE_N; i++)
        if (dcache[i].inlen == len && memcmp(dcache[i].in, s, len) == 0) return &dcache[i];
    return NULL;
}

static void dcache_put(const char *s, size_t len, const char *out, size_t outlen)
{
    if (len == 0 || len > DCACHE_MAX || outlen > DCACHE_MAX) return;
    dcache_ent_t *e = &dcache[dcache_next++ % DCACHE_N];
    e->inlen = (uint16_t)len;
    e->outlen = (uint16_t)outlen;
    memcpy(e->in, s, len);
    memcpy(e->out, out, outlen);
}

static int dom_append(dom_t *d, const char *s, size_t n)
{
    size_t sep = d->labels ? 1 : 0;
    if (d->len + sep + n > PART_MAX) return -1;
    if (sep) d->buf[d->len++] = '.';
    memcpy(d->buf + d->len, s, n);
    d->len += n;
    d->labels++;
    return 0;
}

/* ASCII allowed in a non-IDN label. RFC 7622 §3.2 defers to IDNA2008,
 * which passes ASCII labels through without the LDH (STD3) check, so
 * e.g. '_' is accepted. Refused: space, controls, the JID delimiters and
 * the RFC 7622 §3.3.1 excluded set, and brackets/backslash which would
 * make IP-literal and escaping ambiguous. */
static bool domain_ascii_ok(unsigned char c)
{
    if (c <= 0x20 || c >= 0x7F) return false;
    switch (c) {
    case '"': case '&': case '\'': case '/': case ':': case '<': case '>':
    case '@': case '[': case '\\': case ']':
        return false;
    default:
        return true;
    }
}

/* RFC 5891 §4.2.3.1: a U-label neither starts nor ends with a hyphen.
 * (libidn2 only checks this with TR46 processing, which is off here; it
 * does check "--" in positions 3-4 and a leading combining mark.) */
static bool ulabel_hyphens_ok(const char *s, size_t n)
{
    return n > 0 && s[0] != '-' && s[n - 1] != '-';
}

/* A-label (RFC 5890 §2.3.2.1): decode, require a valid U-label that
 * encodes back to the same A-label (RFC 5891 §5.3, §5.4), keep the
 * U-label. `low` is lower case and NUL-terminated. */
static int domain_alabel(dom_t *d, const char *low)
{
    char *u = NULL;
    uint8_t *back = NULL;
    int rc = -1;
    if (idn2_to_unicode_8z8z(low, &u, 0) != IDN2_OK || !u) goto done;
    size_t un = strlen(u);
    if (un == 0 || un > ULABEL_MAX || !ulabel_hyphens_ok(u, un)) goto done;
    if (idn2_lookup_u8((const uint8_t *)u, &back, IDN2_NO_TR46) != IDN2_OK || !back) goto done;
    if (strcmp((const char *)back, low) != 0) goto done;
    if (has_rtl(u, un)) d->rtl = true;
    d->idn = true;
    rc = dom_append(d, u, un);
done:
    idn2_free(u);
    idn2_free(back);
    return rc;
}

/* U-label: validate with libidn2 under plain IDNA2008 (RFC 5891 §5.4:
 * NFC, PVALID/CONTEXTJ/CONTEXTO, hyphen rules, Bidi, A-label length).
 * The mappings were done before, so TR46 is off. */
static int domain_ulabel(dom_t *d, const char *lab, size_t n)
{
    char z[ULABEL_MAX + 1];
    uint8_t *alabel = NULL;
    if (n > ULABEL_MAX || !ulabel_hyphens_ok(lab, n)) return -1;
    /* The only ASCII that IDNA2008 allows in a U-label is lower-case
     * letters, digits and '-' (RFC 5892 §2). Checking here also keeps
     * NULs from truncating the string libidn2 sees. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)lab[i];
        if (c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return -1;
    }
    memcpy(z, lab, n);
    z[n] = '\0';
    int r = idn2_lookup_u8((const uint8_t *)z, &alabel, IDN2_NO_TR46);
    idn2_free(alabel);
    if (r != IDN2_OK) return -1;
    if (has_rtl(z, n)) d->rtl = true;
    d->idn = true;
    return dom_append(d, z, n);
}

static int domain_label(dom_t *d, const char *lab, size_t n)
{
    if (n == 0) return -1; /* empty label ("a..b", ".a") */
    bool ascii = true;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)lab[i] >= 0x80) {
            ascii = false;
            break;
        }
    if (!ascii) return domain_ulabel(d, lab, n);
    if (n > LABEL_MAX) return -1;
    char low[LABEL_MAX + 1];
    for (size_t i = 0; i < n; i++) low[i] = ascii_lower(lab[i]);
    low[n] = '\0';
    if (n >= 4 && memcmp(low, "xn--", 4) == 0) return domain_alabel(d, low);
    for (size_t i = 0; i < n; i++)
        if (!domain_ascii_ok((unsigned char)low[i])) return -1;
    return dom_append(d, low, n);
}

/* "[IPv6]" (RFC 7622 §3.2, RFC 3986 IP-literal). Stored in the RFC 5952
 * text form inet_ntop() gives so that equal addresses compare equal. */
static int prep_ipv6(const char *s, size_t len, char **out, vn_arena_t *a)
{
    char in[INET6_ADDRSTRLEN], txt[INET6_ADDRSTRLEN];
    struct in6_addr a6;
    if (len < 4 || s[len - 1] != ']' || len - 2 >= sizeof(in)) return -1;
    memcpy(in, s + 1, len - 2);
    in[len - 2] = '\0';
    if (inet_pton(AF_INET6, in, &a6) != 1) return -1;
    if (!inet_ntop(AF_INET6, &a6, txt, sizeof(txt))) return -1;
    size_t n = strlen(txt);
    char *o = part_alloc(a, n + 3);
    o[0] = '[';
    memcpy(o + 1, txt, n);
    o[n + 1] = ']';
    o[n + 2] = '\0';
    *out = o;
    return 0;
}

/* Split the (mapped) UTF-16 domain into labels and check each. */
static int domain_labels_u16(dom_t *d, const UChar *s, int32_t n)
{
    char lab[ULABEL_MAX + 1];
    int32_t st = 0;
    for (int32_t i = 0; i <= n; i++) {
        if (i < n && s[i] != 0x2E) continue;
        size_t ln;
        if (encode_utf8(s + st, i - st, lab, ULABEL_MAX, &ln) != 0) return -1;
        if (domain_label(d, lab, ln) != 0) return -1;
        st = i + 1;
    }
    return 0;
}

int vn_jid_prep_domain(const char *s, size_t len, char **out, vn_arena_t *a)
{
    if (!s || !out || len == 0 || len > PART_IN_MAX) return -1;
    if (s[0] == '[') return prep_ipv6(s, len, out, a);

    const dcache_ent_t *hit = dcache_get(s, len);
    if (hit) {
        *out = part_dup(a, hit->out, hit->outlen);
        return 0;
    }
    const char *in = s; /* cache key: the input before the dot is stripped */
    const size_t inlen = len;

    dom_t d;
    d.len = 0;
    d.labels = 0;
    d.rtl = false;
    d.idn = false;

    size_t i;
    for (i = 0; i < len && (unsigned char)s[i] < 0x80; i++) {
    }
    if (i == len) {
        /* ASCII: RFC 7622 §3.2 strips one trailing dot first. */
        if (s[len - 1] == '.') len--;
        size_t st = 0;
        for (i = 0; i <= len; i++) {
            if (i < len && s[i] != '.') continue;
            if (domain_label(&d, s + st, i - st) != 0) return -1;
            st = i + 1;
        }
    } else {
        ubuf_t u, m, c;
        int rc = -1;
        ubuf_init(&u);
        ubuf_init(&m);
        ubuf_init(&c);
        /* RFC 7622 §3.2.2: enforcement applies the RFC 5895 mappings
         * (width, lower case, NFC, dots) before IDNA2008 validation. */
        if (decode_utf8(s, len, &u, false) == 0) {
            map_apply(PROF_DOMAIN, u.p, u.len, &m);
            if (nfc_apply(m.p, m.len, &c) == 0) {
                if (c.len > 0 && c.p[c.len - 1] == 0x2E) c.len--; /* trailing dot */
                rc = c.len > 0 ? domain_labels_u16(&d, c.p, c.len) : -1;
            }
        }
        ubuf_free(&u);
        ubuf_free(&m);
        ubuf_free(&c);
        if (rc != 0) return -1;
    }
    if (d.len == 0) return -1;

    /* RFC 5893 §2: in a Bidi domain name every label obeys the Bidi rule
     * (libidn2 checks only the RTL labels themselves). */
    if (d.rtl) {
        size_t st = 0;
        for (i = 0; i <= d.len; i++) {
            if (i < d.len && d.buf[i] != '.') continue;
            if (!bidi_rule_ok(d.buf + st, i - st)) return -1;
            st = i + 1;
        }
    }

    /* Only digits and dots: must be an IPv4 address (RFC 7622 §3.2), kept
     * in canonical dotted-quad form; "1.2.3" or "256.0.0.1" are refused. */
    bool numeric = true;
    for (i = 0; i < d.len && numeric; i++)
        numeric = (d.buf[i] >= '0' && d.buf[i] <= '9') || d.buf[i] == '.';
    if (numeric) {
        struct in_addr a4;
        d.buf[d.len] = '\0';
        if (inet_pton(AF_INET, d.buf, &a4) != 1) return -1;
    }

    if (d.idn) dcache_put(in, inlen, d.buf, d.len);
    *out = part_dup(a, d.buf, d.len);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Whole addresses                                                     */

void vn_jid_global_init(void)
{
    if (g_bmp_ready) return;
    UErrorCode e = U_ZERO_ERROR;
    const UNormalizer2 *n = unorm2_getNFCInstance(&e);
    if (U_SUCCESS(e)) g_nfc = n;
    e = U_ZERO_ERROR;
    n = unorm2_getNFKCInstance(&e);
    if (U_SUCCESS(e)) g_nfkc = n;
    bmp_class_init();

    /* Touch the lazily loaded ICU data (properties, case, scripts, bidi)
     * and libidn2 once, so that the first stanzas do not pay for it. */
    static const char sample[] = "\xD0\x98\xD0\xB2\xD0\xB0\xD0\xBD\xEF\xBC\xA1" /* ИванＡ */
                                 "@xn--80akhbyknj4f.\xD0\xA0\xD0\xA4"            /* .РФ */
                                 "/r\xC2\xA0\xE2\x99\x9A";                       /* r ♚ */
    vn_jid_t j;
    if (vn_jid_parse(sample, sizeof(sample) - 1, &j, NULL) == 0) vn_jid_clear(&j);
    char *h = NULL;
    if (vn_jid_prep_local("\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", 8, &h, NULL) == 0) free(h); /* שלום */
}

int vn_jid_parse(const char *s, size_t len, vn_jid_t *out, vn_arena_t *a)
{
    vn_jid_t j = {NULL, NULL, NULL};
    if (out) *out = j;
    if (!s || !out || len == 0) return -1;

    /* RFC 7622 §3.2: the resourcepart is everything after the first '/';
     * the localpart is everything before the first '@' that precedes it. */
    const char *slash = memchr(s, '/', len);
    size_t dend = slash ? (size_t)(slash - s) : len;
    const char *at = memchr(s, '@', dend);
    size_t dstart = at ? (size_t)(at - s) + 1 : 0;

    /* Empty parts are invalid (RFC 7622 §3.1); the prep functions also
     * refuse zero length, this just avoids work. */
    if ((at && at == s) || (slash && dend + 1 == len) || dend == dstart) return -1;

    if (vn_jid_prep_domain(s + dstart, dend - dstart, &j.domain, a) != 0) goto fail;
    if (at && vn_jid_prep_local(s, (size_t)(at - s), &j.local, a) != 0) goto fail;
    if (slash && vn_jid_prep_resource(slash + 1, len - dend - 1, &j.resource, a) != 0) goto fail;
    *out = j;
    return 0;
fail:
    if (!a) vn_jid_clear(&j);
    return -1;
}

static char *jid_str(const vn_jid_t *j, bool full, vn_arena_t *a)
{
    size_t ll = j->local ? strlen(j->local) : 0;
    size_t dl = j->domain ? strlen(j->domain) : 0;
    size_t rl = full && j->resource ? strlen(j->resource) : 0;
    char *o = part_alloc(a, ll + dl + rl + 3);
    char *p = o;
    if (j->local) {
        memcpy(p, j->local, ll);
        p += ll;
        *p++ = '@';
    }
    memcpy(p, j->domain ? j->domain : "", dl);
    p += dl;
    if (full && j->resource) {
        *p++ = '/';
        memcpy(p, j->resource, rl);
        p += rl;
    }
    *p = '\0';
    return o;
}

char *vn_jid_bare_str(const vn_jid_t *j, vn_arena_t *a)
{
    return jid_str(j, false, a);
}

char *vn_jid_full_str(const vn_jid_t *j, vn_arena_t *a)
{
    return jid_str(j, true, a);
}

/* Prepared parts are canonical, so comparison is byte-wise
 * (RFC 7622 §3.1 after preparation and enforcement). */
static bool part_eq(const char *x, const char *y)
{
    if (!x || !y) return x == y;
    return strcmp(x, y) == 0;
}

int vn_jid_bare_equal(const vn_jid_t *a, const vn_jid_t *b)
{
    return part_eq(a->domain, b->domain) && part_eq(a->local, b->local);
}

int vn_jid_full_equal(const vn_jid_t *a, const vn_jid_t *b)
{
    return vn_jid_bare_equal(a, b) && part_eq(a->resource, b->resource);
}

void vn_jid_clear(vn_jid_t *j)
{
    if (!j) return;
    free(j->local);
    free(j->domain);
    free(j->resource);
    j->local = j->domain = j->resource = NULL;
}

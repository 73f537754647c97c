#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void vn_buf_reserve(vn_buf_t *b, size_t extra)
{
    if (b->cap - b->len > extra) return; /* keep one byte for vn_buf_cstr */
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= extra)
        cap *= 2;
    b->data = vn_xrealloc(b->data, cap);
    b->cap = cap;
}

void vn_buf_append(vn_buf_t *b, const void *p, size_t n)
{
    vn_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void vn_buf_puts(vn_buf_t *b, const char *s)
{
    vn_buf_append(b, s, strlen(s));
}

void vn_buf_printf(vn_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    vn_buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void vn_buf_append_xml_escaped(vn_buf_t *b, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        default: continue;
        }
        vn_buf_append(b, s + start, i - start);
        vn_buf_puts(b, rep);
        start = i + 1;
    }
    vn_buf_append(b, s + start, n - start);
}

void vn_buf_consume(vn_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

const char *vn_buf_cstr(vn_buf_t *b)
{
    vn_buf_reserve(b, 1);
    b->data[b->len] = '\0';
    return b->data;
}

void vn_buf_reset(vn_buf_t *b)
{
    b->len = 0;
}

void vn_buf_free(vn_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

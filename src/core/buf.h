/* Growable byte buffer. Owns its data; vn_buf_free() releases it. */
#ifndef VN_CORE_BUF_H
#define VN_CORE_BUF_H

#include <stddef.h>

typedef struct vn_buf {
    char *data;
    size_t len;
    size_t cap;
} vn_buf_t;

#define VN_BUF_INIT {NULL, 0, 0}

void vn_buf_reserve(vn_buf_t *b, size_t extra);
void vn_buf_append(vn_buf_t *b, const void *p, size_t n);
void vn_buf_puts(vn_buf_t *b, const char *s);
void vn_buf_printf(vn_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with XML escaping (&, <, >, ", ') for use in text or attributes. */
void vn_buf_append_xml_escaped(vn_buf_t *b, const char *s, size_t n);
/* Drops the first n bytes. */
void vn_buf_consume(vn_buf_t *b, size_t n);
/* Returns a NUL-terminated view (appends a NUL that is not counted in len). */
const char *vn_buf_cstr(vn_buf_t *b);
void vn_buf_reset(vn_buf_t *b);
/* Releases the memory; the buffer is empty and reusable afterwards. */
void vn_buf_free(vn_buf_t *b);

#endif

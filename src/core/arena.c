#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

typedef struct block {
    struct block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    max_align_t data[];
} block_t;

struct vn_arena {
    block_t *head; /* current block; older blocks follow */
    size_t first_size;
};

static block_t *block_new(size_t size)
{
    block_t *b = vn_xmalloc(sizeof(*b) + size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

vn_arena_t *vn_arena_new(size_t first_block)
{
    vn_arena_t *a = vn_xmalloc(sizeof(*a));
    a->first_size = first_block ? first_block : 1024;
    a->head = block_new(a->first_size);
    return a;
}

void vn_arena_free(vn_arena_t *a)
{
    if (!a) return;
    block_t *b = a->head;
    while (b) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void vn_arena_reset(vn_arena_t *a)
{
    block_t *b = a->head;
    /* Keep the oldest block (the first allocated): it has the nominal size. */
    while (b->next) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
    b->used = 0;
    a->head = b;
}

void *vn_arena_alloc(vn_arena_t *a, size_t n)
{
    const size_t align = sizeof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    block_t *b = a->head;
    if (b->size - b->used < n) {
        size_t size = b->size * 2;
        if (size < n) size = n;
        if (size > (1u << 20) && n <= (1u << 20)) size = 1u << 20;
        block_t *nb = block_new(size);
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

void *vn_arena_zalloc(vn_arena_t *a, size_t n)
{
    void *p = vn_arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *vn_arena_strndup(vn_arena_t *a, const char *s, size_t n)
{
    char *p = vn_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *vn_arena_strdup(vn_arena_t *a, const char *s)
{
    return vn_arena_strndup(a, s, strlen(s));
}

char *vn_arena_printf(vn_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = vn_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t vn_arena_footprint(const vn_arena_t *a)
{
    size_t total = sizeof(*a);
    for (const block_t *b = a->head; b; b = b->next)
        total += sizeof(*b) + b->size;
    return total;
}

/* Bump allocator. One arena per stanza (reset after the stanza is handled)
 * and one per long-lived object where it fits.
 *
 * Ownership: everything allocated from an arena is freed at once by
 * vn_arena_reset() or vn_arena_free(); never free() a pointer from it.
 * Not thread-safe: an arena belongs to one thread at a time. */
#ifndef VN_CORE_ARENA_H
#define VN_CORE_ARENA_H

#include <stddef.h>

typedef struct vn_arena vn_arena_t;

vn_arena_t *vn_arena_new(size_t first_block);
void vn_arena_free(vn_arena_t *a);
/* Frees every block but the first, which is kept for reuse. */
void vn_arena_reset(vn_arena_t *a);
/* Never returns NULL: aborts on out-of-memory (see vn_xmalloc). */
void *vn_arena_alloc(vn_arena_t *a, size_t n);
void *vn_arena_zalloc(vn_arena_t *a, size_t n);
char *vn_arena_strdup(vn_arena_t *a, const char *s);
char *vn_arena_strndup(vn_arena_t *a, const char *s, size_t n);
char *vn_arena_printf(vn_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes currently held by the arena (all blocks). */
size_t vn_arena_footprint(const vn_arena_t *a);

#endif

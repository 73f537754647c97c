/* String-keyed hash map (open addressing, linear probing).
 * Keys are copied and owned by the map; values are borrowed pointers.
 * Not thread-safe. */
#ifndef VN_CORE_MAP_H
#define VN_CORE_MAP_H

#include <stddef.h>

typedef struct vn_map vn_map_t;

vn_map_t *vn_map_new(void);
void vn_map_free(vn_map_t *m);
void *vn_map_get(const vn_map_t *m, const char *key);
/* Inserts or replaces. */
void vn_map_put(vn_map_t *m, const char *key, void *value);
/* Removes and returns the value (NULL when absent). */
void *vn_map_del(vn_map_t *m, const char *key);
size_t vn_map_size(const vn_map_t *m);
/* Calls cb for each entry; cb must not modify the map. */
void vn_map_each(const vn_map_t *m, void (*cb)(const char *key, void *value, void *ud), void *ud);

#endif

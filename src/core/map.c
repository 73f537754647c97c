#include "core/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

typedef struct entry {
    char *key; /* NULL: empty; TOMBSTONE: deleted */
    void *value;
    uint32_t hash;
} entry_t;

static char tombstone_mark;
#define TOMBSTONE (&tombstone_mark)

struct vn_map {
    entry_t *e;
    size_t cap; /* power of two */
    size_t len;
    size_t used; /* len + tombstones */
};

static uint32_t hash_str(const char *s)
{
    /* FNV-1a: keys are JIDs, short and not attacker-chosen in bulk before
     * authentication; the map grows at 50% load so probes stay short. */
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

vn_map_t *vn_map_new(void)
{
    vn_map_t *m = vn_xcalloc(1, sizeof(*m));
    m->cap = 16;
    m->e = vn_xcalloc(m->cap, sizeof(entry_t));
    return m;
}

void vn_map_free(vn_map_t *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->e[i].key && m->e[i].key != TOMBSTONE) free(m->e[i].key);
    free(m->e);
    free(m);
}

static entry_t *find(const vn_map_t *m, const char *key, uint32_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        entry_t *e = &m->e[i];
        if (!e->key) return NULL;
        if (e->key != TOMBSTONE && e->hash == h && strcmp(e->key, key) == 0) return e;
    }
}

void *vn_map_get(const vn_map_t *m, const char *key)
{
    entry_t *e = find(m, key, hash_str(key));
    return e ? e->value : NULL;
}

static void grow(vn_map_t *m, size_t cap)
{
    entry_t *old = m->e;
    size_t oldcap = m->cap;
    m->e = vn_xcalloc(cap, sizeof(entry_t));
    m->cap = cap;
    m->used = m->len;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key || old[i].key == TOMBSTONE) continue;
        size_t j = old[i].hash & (cap - 1);
        while (m->e[j].key)
            j = (j + 1) & (cap - 1);
        m->e[j] = old[i];
    }
    free(old);
}

void vn_map_put(vn_map_t *m, const char *key, void *value)
{
    uint32_t h = hash_str(key);
    entry_t *e = find(m, key, h);
    if (e) {
        e->value = value;
        return;
    }
    if ((m->used + 1) * 2 > m->cap) grow(m, m->len * 4 > m->cap ? m->cap * 2 : m->cap);
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->e[i].key && m->e[i].key != TOMBSTONE)
        i = (i + 1) & mask;
    if (!m->e[i].key) m->used++;
    m->e[i].key = vn_xstrdup(key);
    m->e[i].value = value;
    m->e[i].hash = h;
    m->len++;
}

void *vn_map_del(vn_map_t *m, const char *key)
{
    entry_t *e = find(m, key, hash_str(key));
    if (!e) return NULL;
    void *v = e->value;
    free(e->key);
    e->key = TOMBSTONE;
    e->value = NULL;
    m->len--;
    return v;
}

size_t vn_map_size(const vn_map_t *m)
{
    return m->len;
}

void vn_map_each(const vn_map_t *m, void (*cb)(const char *key, void *value, void *ud), void *ud)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->e[i].key && m->e[i].key != TOMBSTONE) cb(m->e[i].key, m->e[i].value, ud);
}

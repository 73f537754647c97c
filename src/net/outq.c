#include "net/outq.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

struct vn_outq_chunk {
    vn_outq_chunk_t *next;
    uint32_t off; /* first unsent byte */
    uint32_t len; /* bytes written into data */
    uint32_t cap;
    char data[];
};

#define CHUNK_MIN 512

static vn_outq_chunk_t *chunk_new(vn_outq_t *q, size_t want)
{
    /* Grow towards the maximum: a burst of output ends up in full-size
     * chunks, one small stanza in a small one. */
    size_t cap = q->tail ? (size_t)q->tail->cap * 2 : CHUNK_MIN;
    while (cap < want && cap < VN_OUTQ_CHUNK_MAX)
        cap *= 2;
    if (cap > VN_OUTQ_CHUNK_MAX) cap = VN_OUTQ_CHUNK_MAX;
    vn_outq_chunk_t *c = vn_xmalloc(sizeof(*c) + cap);
    c->next = NULL;
    c->off = c->len = 0;
    c->cap = (uint32_t)cap;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    q->alloc += sizeof(*c) + cap;
    return c;
}

void vn_outq_append(vn_outq_t *q, const void *data, size_t len)
{
    const char *p = data;
    q->len += len;
    while (len > 0) {
        vn_outq_chunk_t *c = q->tail;
        if (!c || c->len == c->cap) c = chunk_new(q, len);
        size_t n = c->cap - c->len;
        if (n > len) n = len;
        memcpy(c->data + c->len, p, n);
        c->len += (uint32_t)n;
        p += n;
        len -= n;
    }
}

const char *vn_outq_peek(const vn_outq_t *q, size_t *len)
{
    if (!q->head) {
        *len = 0;
        return NULL;
    }
    *len = q->head->len - q->head->off;
    return q->head->data + q->head->off;
}

int vn_outq_iov(const vn_outq_t *q, struct iovec *iov, int max)
{
    int n = 0;
    for (const vn_outq_chunk_t *c = q->head; c && n < max; c = c->next) {
        iov[n].iov_base = (void *)(c->data + c->off);
        iov[n].iov_len = c->len - c->off;
        n++;
    }
    return n;
}

static void drop_head(vn_outq_t *q)
{
    vn_outq_chunk_t *c = q->head;
    q->head = c->next;
    if (!q->head) q->tail = NULL;
    q->alloc -= sizeof(*c) + c->cap;
    free(c);
}

void vn_outq_consume(vn_outq_t *q, size_t n)
{
    if (n > q->len) n = q->len;
    q->len -= n;
    while (n > 0) {
        vn_outq_chunk_t *c = q->head;
        size_t avail = c->len - c->off;
        if (n < avail) {
            c->off += (uint32_t)n;
            return;
        }
        n -= avail;
        drop_head(q);
    }
    /* A fully sent tail chunk that is not full is kept for the next write
     * only while something is queued; an empty queue holds nothing. */
    if (q->len == 0)
        while (q->head)
            drop_head(q);
}

void vn_outq_free(vn_outq_t *q)
{
    while (q->head)
        drop_head(q);
    q->len = 0;
}

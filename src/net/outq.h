/* A connection's output queue: a chain of chunks of at most one TLS record
 * (16 KiB) each.
 *
 * Why not one growable buffer: draining a large backlog from one buffer
 * means moving the unsent rest to the front after every partial write,
 * which is quadratic in the backlog (64 MB took seconds of loop time).
 * Here a write consumes from the head chunk and frees chunks as they
 * empty; nothing is ever moved. Chunks start small and grow towards 16 KiB
 * so that a connection with one small stanza pending holds a small chunk.
 *
 * Ownership: the queue owns its chunks; vn_outq_free() releases them. The
 * bytes returned by vn_outq_peek() stay in place until consumed, as a
 * retried SSL_write() needs. */
#ifndef VN_NET_OUTQ_H
#define VN_NET_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VN_OUTQ_CHUNK_MAX 16384

typedef struct vn_outq_chunk vn_outq_chunk_t;

typedef struct vn_outq {
    vn_outq_chunk_t *head, *tail;
    size_t len;   /* bytes queued */
    size_t alloc; /* bytes of chunk memory held (for accounting) */
} vn_outq_t;

void vn_outq_append(vn_outq_t *q, const void *data, size_t len);
/* The first contiguous run of queued bytes (NULL, 0 when empty). */
const char *vn_outq_peek(const vn_outq_t *q, size_t *len);
/* Up to max iovecs covering the queued bytes in order; returns the count. */
int vn_outq_iov(const vn_outq_t *q, struct iovec *iov, int max);
/* Drops n bytes from the front (n <= len). */
void vn_outq_consume(vn_outq_t *q, size_t n);
void vn_outq_free(vn_outq_t *q);

#endif

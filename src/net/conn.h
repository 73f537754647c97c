/* A client connection: a non-blocking socket, optionally wrapped in TLS,
 * with a batched output buffer. Handlers above see only cleartext.
 *
 * Output written with vn_conn_write() is flushed once per loop iteration
 * (one TLS record and one syscall for everything produced meanwhile).
 * STARTTLS upgrades a live connection in place (vn_conn_start_tls).
 *
 * Ownership: a vn_conn_t is embedded in its owner (the session) and owns its
 * fd, SSL object and buffers; vn_conn_release() frees them. The owner's
 * callbacks are never called after vn_conn_release(). */
#ifndef VN_NET_CONN_H
#define VN_NET_CONN_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/loop.h"

typedef struct vn_conn vn_conn_t;

typedef struct vn_conn_handler {
    /* Cleartext bytes arrived. */
    void (*data)(vn_conn_t *c, const char *data, size_t len);
    /* The TLS handshake finished. */
    void (*tls_ready)(vn_conn_t *c);
    /* The peer closed, an I/O or TLS error happened, or a requested close
     * finished. Called once; the owner then schedules its own release. */
    void (*closed)(vn_conn_t *c, const char *reason);
} vn_conn_handler_t;

struct vn_conn {
    vn_io_t io;
    vn_loop_t *loop;
    const vn_conn_handler_t *h;
    SSL *ssl;
    vn_buf_t out;
    uint64_t bytes_in;
    uint64_t bytes_out;
    unsigned handshaking : 1;
    unsigned read_paused : 1;
    unsigned flush_scheduled : 1;
    unsigned closing : 1;     /* close after the output is flushed */
    unsigned closed : 1;      /* closed() has been called */
    unsigned released : 1;
    unsigned tls_pending : 1; /* start TLS once the output is flushed */
    unsigned read_wants_write : 1;
    unsigned lingering : 1;   /* output done, waiting for the peer to close */
    unsigned throttled : 1;   /* reading stopped for back-pressure */
    vn_timer_t linger;
    SSL_CTX *tls_ctx_pending;
    char peer[64];            /* "ip" of the client, for logs and throttling */
};

void vn_conn_init(vn_conn_t *c, vn_loop_t *loop, int fd, const vn_conn_handler_t *h);
/* Starts a server-side TLS handshake after the pending output is flushed. */
int vn_conn_start_tls(vn_conn_t *c, SSL_CTX *ctx);
void vn_conn_write(vn_conn_t *c, const void *data, size_t len);
/* Stops (1) or resumes (0) delivering data; used while a stanza waits for
 * storage or hashing. Resuming re-delivers anything TLS already decrypted. */
void vn_conn_pause(vn_conn_t *c, int paused);
/* Stops (1) or resumes (0) reading for back-pressure, independently of
 * vn_conn_pause(). */
void vn_conn_throttle(vn_conn_t *c, int on);
/* Flushes the output, then closes. closed() follows with the reason. */
void vn_conn_close(vn_conn_t *c, const char *reason);
/* Writes what the socket takes of the pending output now (unless a TLS
 * handshake is in progress), then closes the descriptor at once, without
 * lingering; closed() is called before this returns. For shedding
 * connections when descriptors run out. */
void vn_conn_abort(vn_conn_t *c, const char *reason);
/* Frees the fd, SSL object and buffers. Safe to call once, after closed(). */
void vn_conn_release(vn_conn_t *c);
int vn_conn_is_tls(const vn_conn_t *c);
/* How many descriptors connections hold right now (all on the loop
 * thread: one loop per process for now). */
int vn_conn_open_count(void);

#endif

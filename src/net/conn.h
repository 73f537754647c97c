/* A client connection: a non-blocking socket, optionally wrapped in TLS,
 * with a batched, bounded output queue. Handlers above see only cleartext.
 *
 * Output written with vn_conn_write() is flushed once per loop iteration
 * (one syscall, and at most one TLS record per 16 KiB, for everything
 * produced meanwhile). STARTTLS upgrades a live connection in place
 * (vn_conn_start_tls).
 *
 * Limits (vn_conn_limits_t, shared by every connection of one kind):
 * - reading stops while the connection's own unsent output is above
 *   out_high, and resumes below half of it: a client that sends requests
 *   but never reads the answers stops being read (back-pressure);
 * - output above out_max for out_stall_ms, above out_hard at once, or above
 *   out_high while the whole process is over its output budget, makes the
 *   connection overflow: its queued output is dropped and the owner's
 *   overflow() handler ends the stream;
 * - input is shaped by a token bucket (rate bytes/s, burst bytes): reading
 *   pauses while the bucket is empty;
 * - a close that cannot flush is forced after a deadline.
 *
 * Ownership: a vn_conn_t is embedded in its owner (the session) and owns its
 * fd, SSL object and buffers; vn_conn_release() frees them. The owner's
 * callbacks are never called after vn_conn_release(). */
#ifndef VN_NET_CONN_H
#define VN_NET_CONN_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "core/loop.h"
#include "net/outq.h"
#include "net/transport.h"

typedef struct vn_conn_handler {
    /* Cleartext bytes arrived. */
    void (*data)(vn_conn_t *c, const char *data, size_t len);
    /* The TLS handshake finished. */
    void (*tls_ready)(vn_conn_t *c);
    /* The peer closed, an I/O or TLS error happened, or a requested close
     * finished. Called once; the owner then schedules its own release. */
    void (*closed)(vn_conn_t *c, const char *reason);
    /* The output went over its bounds (see above) and was dropped; the
     * owner ends the stream (it may still write a short stream error).
     * Called from a deferred call or a timer, never inside vn_conn_write. */
    void (*overflow)(vn_conn_t *c, const char *why);
    /* Asked for with vn_conn_want_drain(): the output fell below half of
     * out_high, there is room for more. */
    void (*drained)(vn_conn_t *c);
    /* An outgoing connection (vn_conn_connect) is established. A failed
     * one gets closed() instead. */
    void (*connected)(vn_conn_t *c);
} vn_conn_handler_t;

/* Each bound of 0 is no bound. */
typedef struct vn_conn_limits {
    size_t out_high; /* stop reading above this much unsent output */
    size_t out_max;  /* above this for out_stall_ms: overflow */
    uint64_t out_stall_ms;
    size_t out_hard; /* above this: overflow at once */
    uint32_t rate;   /* input bytes per second, 0: not shaped */
    uint32_t burst;  /* bytes the bucket holds */
} vn_conn_limits_t;

/* Process-wide (per loop thread) output accounting, for the budget and the
 * metrics. */
typedef struct vn_net_stats {
    uint64_t out_bytes;      /* bytes queued for output, all connections */
    uint64_t out_budget;     /* the budget (0: none) */
    uint64_t out_paused;     /* connections not read for back-pressure now */
    uint64_t out_overflows;  /* connections ended for output overflow */
    uint64_t shaped_pauses;  /* times input shaping paused a connection */
    uint64_t close_timeouts; /* closes forced because output did not drain */
} vn_net_stats_t;

struct vn_conn {
    vn_io_t io;
    vn_loop_t *loop;
    const vn_conn_handler_t *h;
    const vn_conn_limits_t *lim; /* NULL: no limits */
    const vn_transport_t *tp;    /* TCP, or TLS once started */
    SSL *ssl;                    /* the TLS transport's; only src/net touches it */
    vn_outq_t out;
    size_t tls_retry; /* length of an SSL_write that must be retried, 0: none */
    uint64_t bytes_in;
    uint64_t bytes_out;
    int64_t tokens;     /* input shaping: bytes that may be read now */
    uint64_t tokens_ms; /* when tokens was last refilled */
    unsigned handshaking : 1;
    unsigned read_paused : 1;
    unsigned flush_scheduled : 1;
    unsigned closing : 1; /* close after the output is flushed */
    unsigned closed : 1;  /* closed() has been called */
    unsigned released : 1;
    unsigned tls_pending : 1; /* start TLS once the output is flushed */
    unsigned read_wants_write : 1;
    unsigned lingering : 1;     /* output done, waiting for the peer to close */
    unsigned throttled : 1;     /* reading stopped for storage back-pressure */
    unsigned out_full : 1;      /* reading stopped: own output above out_high */
    unsigned shaped : 1;        /* reading stopped: input bucket empty */
    unsigned overflowed : 1;    /* output dropped, overflow() pending */
    unsigned stalling : 1;      /* timer runs the output stall deadline */
    unsigned want_drain : 1;    /* call drained() when there is room */
    unsigned hs_want_write : 1; /* the TLS handshake waits to write */
    unsigned outgoing : 1;      /* we connected: the TLS client side */
    unsigned connecting : 1;    /* connect() in progress */
    vn_timer_t timer;           /* close deadline, linger, or output stall */
    vn_timer_t shape_timer;
    SSL_CTX *tls_ctx_pending;
    char *tls_sni; /* outgoing: the name asked for (SNI) */
    char peer[64]; /* "ip" of the client, for logs and throttling */
};

void vn_conn_init(vn_conn_t *c, vn_loop_t *loop, int fd, const vn_conn_handler_t *h);
/* Opens an outgoing connection to a numeric address (name resolution is
 * the caller's, off the loop). connected() or closed() follows. Returns 0,
 * or -1 with errno when no socket could be made (nothing is called). */
int vn_conn_connect(vn_conn_t *c, vn_loop_t *loop, const struct sockaddr *sa, socklen_t salen,
                    const vn_conn_handler_t *h);
/* Sets the limits (NULL: none); lim must outlive the connection. */
void vn_conn_set_limits(vn_conn_t *c, const vn_conn_limits_t *lim);
/* Starts a server-side TLS handshake after the pending output is flushed. */
int vn_conn_start_tls(vn_conn_t *c, SSL_CTX *ctx);
/* The client side of TLS on an outgoing connection, asking for sni. */
int vn_conn_start_tls_client(vn_conn_t *c, SSL_CTX *ctx, const char *sni);
void vn_conn_write(vn_conn_t *c, const void *data, size_t len);
/* Room for more output: below half of out_high (always, without limits). */
int vn_conn_has_room(const vn_conn_t *c);
/* Calls the handler's drained() once there is room again. */
void vn_conn_want_drain(vn_conn_t *c);
/* Ends the connection as if its output had overflowed (from the owner's
 * own bounds); overflow() follows from a deferred call. */
void vn_conn_overflow(vn_conn_t *c);
/* Stops (1) or resumes (0) delivering data; used while a stanza waits for
 * storage or hashing. Resuming re-delivers anything TLS already decrypted. */
void vn_conn_pause(vn_conn_t *c, int paused);
/* Stops (1) or resumes (0) reading for storage back-pressure,
 * independently of vn_conn_pause(). */
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
/* Channel binding data of the connection's TLS (out holds 64 bytes); 0
 * when that type is not available (plain TCP, TLS 1.2 without EMS...). */
size_t vn_conn_channel_binding(const vn_conn_t *c, vn_cb_type_t type, uint8_t *out);
/* "TLSv1.3" and the like, NULL without TLS. */
const char *vn_conn_tls_version(const vn_conn_t *c);

/* The output budget of this thread's connections (0: none). */
void vn_net_set_output_budget(uint64_t bytes);
const vn_net_stats_t *vn_net_stats(void);
/* How many descriptors connections hold right now (all on the loop
 * thread: one loop per process for now). */
int vn_conn_open_count(void);

#endif

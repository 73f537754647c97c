/* The transport under a connection: how bytes are read and written, and
 * what the layer can tell about itself (channel binding, certificates).
 * Plain TCP and TLS are the two implementations; a connection starts on
 * one and STARTTLS moves it to the other. Code outside src/net sees only
 * the vn_conn_* functions in conn.h, never the transport or its SSL object.
 *
 * Return conventions, for every implementation:
 *   read:  > 0 bytes read; 0 nothing now (the loop calls again when the
 *          socket is ready); -1 the peer closed or an error (*why says
 *          which, a static string).
 *   write: > 0 bytes of c->out written; 0 the socket is full; -1 error. */
#ifndef VN_NET_TRANSPORT_H
#define VN_NET_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct vn_conn vn_conn_t;

typedef enum {
    VN_CB_TLS_EXPORTER,        /* RFC 9266 */
    VN_CB_TLS_SERVER_END_POINT /* RFC 5929 §4 */
} vn_cb_type_t;

typedef struct vn_transport {
    const char *name;
    ssize_t (*read)(vn_conn_t *c, char *buf, size_t n, const char **why);
    ssize_t (*write)(vn_conn_t *c, const char **why);
    /* Bytes already decrypted that epoll will not announce. */
    int (*pending)(const vn_conn_t *c);
    /* The orderly end of our side (TLS close_notify) before shutdown(2). */
    void (*shutdown)(vn_conn_t *c);
    /* Frees the transport's state (the fd is the connection's). */
    void (*release)(vn_conn_t *c);
    /* Channel binding data (out holds 64 bytes); 0 when not available. */
    size_t (*channel_binding)(const vn_conn_t *c, vn_cb_type_t type, uint8_t *out);
    /* "TLSv1.3" and the like, or NULL. */
    const char *(*version)(const vn_conn_t *c);
} vn_transport_t;

extern const vn_transport_t vn_transport_tcp;
extern const vn_transport_t vn_transport_tls;

#endif

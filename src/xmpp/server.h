/* The server: configuration, served domains, worker pools, the session
 * table (router) and the registered modules.
 *
 * Threading: a vn_server_t and everything reachable from it belongs to the
 * event-loop thread, except srv->store, which only the storage pool's
 * thread touches (inside vn_work_t.work callbacks).
 *
 * Towards several loop threads: storage and hashing already complete back
 * into the submitting loop, and sessions are looked up through the router
 * (vn_router_*). Some modules still walk a user's session list directly
 * (issue 9: the router is to become the only door); a multi-loop server
 * then gives each loop its own session table shard and turns delivery to a
 * session of another loop into a message on that loop's queue; see README
 * "How a stanza travels". */
#ifndef VN_XMPP_SERVER_H
#define VN_XMPP_SERVER_H

#include <openssl/ssl.h>

#include "core/config.h"
#include "core/loop.h"
#include "core/workpool.h"
#include "net/conn.h"
#include "store/store.h"
#include "xmpp/stanza.h"

typedef struct vn_server vn_server_t;
typedef struct vn_session vn_session_t;
typedef struct vn_user vn_user_t;
typedef struct vn_map vn_map_t;
typedef struct vn_login_throttle vn_login_throttle_t;

#define VN_USER_SLOTS 16

/* An account with at least one bound session. Owned by the router; freed
 * when its last session goes (after VN_HOOK_USER_GONE). */
struct vn_user {
    char *bare; /* "local@domain", normalised */
    vn_jid_t jid;
    vn_session_t *sessions;    /* linked through vn_session_t.next_of_user */
    void *slot[VN_USER_SLOTS]; /* per-module data (see vn_user_slot_alloc) */
};

struct vn_server {
    vn_config_t cfg;
    vn_loop_t *loop;
    vn_pool_t *store_pool; /* one thread: storage calls in submission order */
    vn_pool_t *hash_pool;  /* PBKDF2 for PLAIN and password changes */
    vn_store_t *store;     /* storage thread only */
    SSL_CTX *tls;
    char *domains[VN_MAX_DOMAINS]; /* normalised (RFC 7622) */
    int ndomains;
    vn_map_t *users;                     /* bare JID -> vn_user_t */
    vn_login_throttle_t *login_throttle; /* failed sign-ins, xmpp/login_throttle.h */
    vn_conn_limits_t preauth_limits;     /* c2s before authentication */
    vn_conn_limits_t c2s_limits;         /* c2s once authenticated */
    uint64_t store_submits;              /* storage jobs submitted, ever */
    vn_timer_t store_throttle_timer;     /* storage back-pressure (session.c) */
    int store_throttling;
    /* Every listening socket, built from the configuration (see
     * listener_kinds in server.c): one per address of each listening key. */
    struct vn_listener {
        vn_io_t io; /* first: the loop hands us the vn_io_t */
        vn_server_t *srv;
        int direct_tls;   /* TLS from the first byte (XEP-0368), else STARTTLS */
        const char *what; /* for logs: "c2s STARTTLS" ... */
        char *spec;       /* "host:port" as configured */
        vn_timer_t pause; /* accepting paused while out of descriptors */
    } * listeners;
    int nlisteners;
    /* Admission control (xmpp/admission.c): live connections per peer
     * address, the pre-authentication connections oldest first (the ones
     * shed when descriptors run short), and the descriptor budget. */
    struct vn_admission {
        vn_map_t *per_address; /* address -> count, stored as (void *)(uintptr_t)n */
        vn_session_t *preauth_head, *preauth_tail;
        int npreauth;
        int fd_limit;   /* RLIMIT_NOFILE (soft) */
        int fd_high;    /* descriptors in use from which pre-auth connections are shed */
        int fd_base;    /* descriptors that are not connections (counted at start) */
        int reserve_fd; /* /dev/null, given up to refuse a client when at the limit */
    } adm;
    vn_session_t *all_sessions; /* every connection, for shutdown */
    unsigned long long next_id;
    int shutting_down;
    int nsessions;
};

typedef struct vn_listener vn_listener_t;

/* Opens the configured c2s ports. Returns 0, or -1 with a malloc'd *err. */
int vn_server_listen(vn_server_t *srv, char **err);
void vn_server_stop_listening(vn_server_t *srv);

/* Derives the connection limits from the configuration (net/conn.h). */
void vn_server_apply_limits(vn_server_t *srv);
/* Appends the server's metrics in the Prometheus text format. */
void vn_server_metrics(const vn_server_t *srv, vn_buf_t *out);

/* Index of the served domain, or -1. d must be normalised. */
int vn_server_domain_index(const vn_server_t *srv, const char *d);

/* ---- storage and hashing off the loop ---- */
void vn_store_submit(vn_server_t *srv, vn_work_t *w, void (*work)(vn_work_t *),
                     void (*done)(vn_work_t *));
void vn_hash_submit(vn_server_t *srv, vn_work_t *w, void (*work)(vn_work_t *),
                    void (*done)(vn_work_t *));
/* The server, from inside a work() callback on the storage thread. */
vn_store_t *vn_store_of(vn_work_t *w);

#endif

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
    vn_pool_t *store_pool; /* one thread: the order vn_store_submit_ordered promises */
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

/* ---- storage and hashing off the loop ----
 *
 * A storage job (vn_work_t, core/workpool.h) runs work() on the storage
 * thread, where vn_store_of() gives the store, then done() on the loop
 * thread. done() runs only after the job's writes have committed (group
 * commit included, vestnikd.c): a job whose done() has run is durable.
 *
 * The order storage jobs keep, which is all a caller may rely on:
 *  - vn_store_submit: none with respect to other jobs. For work nothing
 *    else waits on or races with (the account lookup of a sign-in, a
 *    listing for disco, retention).
 *  - vn_store_submit_ordered: jobs submitted with the same owner run one at
 *    a time, in submission order (each sees what the earlier ones wrote,
 *    and no other ordered job of that owner runs while it does), and their
 *    done() callbacks run in that order too. The owner names the rows the job
 *    reads and writes, as the store keys them: an account's bare JID
 *    (roster, offline queue, archive, blocklist, profile, PEP), a room's
 *    bare JID, a pubsub service's JID; normalised, never NULL. Jobs of
 *    other owners and unordered jobs may run before, after or between them.
 *  - vn_store_barrier: done() (there is no work) runs after the done() of
 *    every job submitted before it with the same owner; with owner NULL,
 *    after every job submitted before it, of any owner, ordered or not.
 *    A barrier is how a caller waits for writes it did not submit itself
 *    (mod/presence.c waits for the contact's roster change; XEP-0198
 *    acknowledgements in mod/sm.c wait for everything, since a client's
 *    stanzas write under other owners: a recipient's offline queue or
 *    archive, a room's archive).
 *
 * Implementation: one storage thread that runs every job in submission
 * order (vestnikd.c), which keeps all of the above and more. Nothing may
 * rely on more: a store served by several threads (one per shard of
 * owners) changes these three functions, not their callers. */
void vn_store_submit(vn_server_t *srv, vn_work_t *w, void (*work)(vn_work_t *),
                     void (*done)(vn_work_t *));
void vn_store_submit_ordered(vn_server_t *srv, const char *owner, vn_work_t *w,
                             void (*work)(vn_work_t *), void (*done)(vn_work_t *));
void vn_store_barrier(vn_server_t *srv, const char *owner, vn_work_t *w,
                      void (*done)(vn_work_t *));
/* The store, from inside a work() callback on the storage thread. */
vn_store_t *vn_store_of(vn_work_t *w);

void vn_hash_submit(vn_server_t *srv, vn_work_t *w, void (*work)(vn_work_t *),
                    void (*done)(vn_work_t *));

#endif

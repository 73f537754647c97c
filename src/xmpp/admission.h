/* Admission control for client connections (issue 18): how many
 * connections one peer address may hold ([c2s] max_connections_per_address),
 * and which connections make room when the process runs short of file
 * descriptors: the oldest of those that have not authenticated yet.
 * Authenticated sessions are never shed for descriptors.
 *
 * The state lives in srv->adm (xmpp/server.h); everything here runs on the
 * event-loop thread. The listener (xmpp/server.c) asks before it creates a
 * session; sessions (xmpp/session.c) report authentication and the end of
 * their connection. */
#ifndef VN_XMPP_ADMISSION_H
#define VN_XMPP_ADMISSION_H

#include "xmpp/server.h"

/* Sets up srv->adm from the configuration and the current RLIMIT_NOFILE,
 * opens the reserve descriptor and counts the descriptors open besides
 * connections (call it once the listeners are open, before any client).
 * Returns 0, or -1 with errno set. */
int vn_admission_init(vn_server_t *srv);
void vn_admission_fini(vn_server_t *srv);

/* Counts one more connection from addr. Returns 0, or -1 (nothing
 * counted) when addr already holds max_connections_per_address. */
int vn_admission_enter(vn_server_t *srv, const char *addr);

/* Is the process close to its descriptor limit, now that accept(2)
 * returned fd (not yet given to a session)? Then the oldest pre-auth
 * connection should make room. */
int vn_admission_fds_short(const vn_server_t *srv, int fd);

/* A new session waits for authentication (queued as the newest). */
void vn_admission_preauth_add(vn_server_t *srv, vn_session_t *s);
/* The session authenticated: it leaves the queue for good. */
void vn_admission_authenticated(vn_server_t *srv, vn_session_t *s);
/* The session's connection is gone: its address and queue place go. */
void vn_admission_conn_closed(vn_server_t *srv, vn_session_t *s);

/* Drops up to n of the oldest pre-authentication connections with
 * <resource-constraint/> (RFC 6120 §4.9.3.17); their descriptors are free
 * when this returns. Returns how many were dropped. */
int vn_admission_shed(vn_server_t *srv, int n);

/* The reserve descriptor: given up so that one more accept(2) can succeed
 * at the limit (to refuse that client), then taken back. */
void vn_admission_reserve_release(vn_server_t *srv);
void vn_admission_reserve_take(vn_server_t *srv);

#endif

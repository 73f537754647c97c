/* The router: who is online, and where a stanza goes (RFC 6120 §10,
 * RFC 6121 §8). Local delivery only (no server-to-server yet).
 *
 * Ownership: stanzas passed in are borrowed; the router serialises what it
 * delivers, so the caller frees or recycles the stanza afterwards. */
#ifndef VN_XMPP_ROUTER_H
#define VN_XMPP_ROUTER_H

#include "xmpp/module.h"

int vn_router_init(vn_server_t *srv);
void vn_router_fini(vn_server_t *srv);

/* Adds a bound session to its user (creating the user) / removes it. */
vn_user_t *vn_router_add(vn_server_t *srv, vn_session_t *s);
void vn_router_remove(vn_server_t *srv, vn_session_t *s);
vn_user_t *vn_router_user(vn_server_t *srv, const char *bare);
vn_session_t *vn_router_session(vn_server_t *srv, const vn_jid_t *full);

/* ---- the door to sessions: modules reach sessions only through these ----
 *
 * Visits each session of an account in bind order; fn returns nonzero to
 * stop. fn may deliver to or end the visited session (the next one is
 * taken first). With several loops this is where sessions of other loops
 * get a message instead of a call. */
typedef int (*vn_session_visit_fn)(vn_server_t *srv, vn_session_t *s, void *ud);
void vn_router_each_session(vn_server_t *srv, vn_user_t *u, vn_session_visit_fn fn, void *ud);
/* Delivers st to s addressed to s itself: 'to' names the recipient for
 * this delivery only (st is left as it was). */
void vn_router_deliver_to(vn_server_t *srv, vn_session_t *s, vn_stanza_t *st);

/* Routes a stanza whose 'from' is set. Applies RFC 6121 §8.5 for local
 * accounts and answers errors where the RFCs require one. */
void vn_route(vn_server_t *srv, vn_stanza_t *st);
/* Delivers to one session, as is. */
void vn_router_deliver(vn_server_t *srv, vn_session_t *s, vn_stanza_t *st);
/* Default handling of a stanza to a local account after hooks passed. */
void vn_router_to_account(vn_server_t *srv, vn_stanza_t *st);
/* Bounces st with an error (nothing when st is itself an error). */
void vn_route_error(vn_server_t *srv, vn_stanza_t *st, const char *type, const char *condition,
                    const char *text);
/* The sessions a message to a local account is delivered to (RFC 6121
 * §8.5.2, §8.5.3): the full JID's session, else the bare JID's rule for the
 * message type. Writes up to max into out and returns the total count. */
int vn_router_message_targets(vn_server_t *srv, vn_user_t *u, const vn_stanza_t *st,
                              vn_session_t **out, int max);
/* Sends a serialised stanza to every available session of a user whose
 * priority is not negative; returns how many got it. */
int vn_router_broadcast(vn_server_t *srv, vn_user_t *u, vn_stanza_t *st, int include_negative);

#endif

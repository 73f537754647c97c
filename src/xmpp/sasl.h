/* SASL authentication on a c2s stream (RFC 6120 §6): SCRAM-SHA-1/256
 * with -PLUS channel binding, and PLAIN when configured. Account lookups
 * run on the storage thread and PBKDF2 (PLAIN) on the hashing pool; the
 * session's parser is suspended meanwhile. Failed sign-ins are throttled
 * per address, per (address, account) and per account with an exemption
 * for known devices (xmpp/login_throttle.h, srv->login_throttle). */
#ifndef VN_XMPP_SASL_H
#define VN_XMPP_SASL_H

#include "core/buf.h"
#include "xmpp/module.h"

void vn_sasl_features(vn_session_t *s, vn_buf_t *out);
vn_result_t vn_sasl_handle(vn_session_t *s, vn_xnode_t *node, vn_arena_t *arena);
void vn_sasl_free(vn_session_t *s);

#endif

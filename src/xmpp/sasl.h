/* SASL authentication on a c2s stream (RFC 6120 §6): SCRAM-SHA-1/256
 * with -PLUS channel binding, and PLAIN when configured. Account lookups
 * run on the storage thread and PBKDF2 (PLAIN) on the hashing pool; the
 * session's parser is suspended meanwhile. Failed logins are throttled per
 * client address and per account. */
#ifndef VN_XMPP_SASL_H
#define VN_XMPP_SASL_H

#include "core/buf.h"
#include "xmpp/module.h"

void vn_sasl_features(vn_session_t *s, vn_buf_t *out);
vn_result_t vn_sasl_handle(vn_session_t *s, vn_xnode_t *node, vn_arena_t *arena);
void vn_sasl_free(vn_session_t *s);

/* Throttling state (one per server). */
vn_throttle_t *vn_throttle_new(void);
void vn_throttle_free(vn_throttle_t *t);

#endif

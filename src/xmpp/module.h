/* Protocol features as modules (one file per XEP under src/mod).
 *
 * A module is data: the IQ payloads it answers, the hooks it takes part
 * in, the disco features it advertises. The core dispatches from these
 * tables and never names a module. */
#ifndef VN_XMPP_MODULE_H
#define VN_XMPP_MODULE_H

#include "xmpp/server.h"
#include "xmpp/session.h"

typedef enum {
    VN_PASS = 0,    /* not mine / continue */
    VN_HANDLED = 1, /* done; stop the chain */
    VN_HOLD = 2,    /* handled asynchronously; the caller waits */
} vn_result_t;

/* Where an IQ is addressed (RFC 6120 §10.3). */
typedef enum {
    VN_TARGET_SERVER = 1,  /* to the server's domain */
    VN_TARGET_ACCOUNT = 2, /* to a local bare JID, handled on the account's behalf */
} vn_iq_target_t;

typedef struct vn_iq_handler {
    const char *type; /* "get" or "set" */
    const char *ns;   /* namespace of the payload element */
    int targets;      /* VN_TARGET_* bits */
    vn_result_t (*fn)(vn_server_t *srv, vn_stanza_t *st);
} vn_iq_handler_t;

typedef enum {
    /* ctx: vn_session_t*. Before the bind result; VN_HOLD delays it until
     * the module calls vn_session_bind_done(). */
    VN_HOOK_BIND,
    /* ctx: vn_session_t*. The session is leaving the router. */
    VN_HOOK_SESSION_END,
    /* ctx: vn_user_t*. Its last session left; free slot data. */
    VN_HOOK_USER_GONE,
    /* ctx: vn_stanza_t* from a local client, 'from' stamped, before routing. */
    VN_HOOK_FROM_CLIENT,
    /* ctx: vn_stanza_t* to a local account (to.local set), before delivery. */
    VN_HOOK_TO_ACCOUNT,
    /* ctx: vn_stanza_t*: a message for an account with no session that can
     * take it (RFC 6121 §8.5.2.2). Unhandled -> service-unavailable. */
    VN_HOOK_UNDELIVERABLE,
    /* ctx: vn_session_t*: first available presence of a session. */
    VN_HOOK_AVAILABLE,
    /* ctx: vn_nonza_t*: a top-level element that is not a stanza
     * (XEP-0198 <r/>, XEP-0352 <active/>...) on an authenticated stream.
     * Unhandled -> <unsupported-stanza-type/>. */
    VN_HOOK_NONZA,
    /* ctx: vn_delivery_t*: a stanza is about to be written to a session.
     * VN_HANDLED means a module keeps it back (XEP-0352) and will send it
     * later with vn_session_send(). */
    VN_HOOK_DELIVER,
    /* ctx: vn_sent_t*: a stanza was written to a session (XEP-0198 counts
     * and keeps it until acknowledged). */
    VN_HOOK_SENT,
    /* ctx: vn_session_t*: the connection of a bound session was lost
     * without a closing handshake. VN_HOLD keeps the session (detached) in
     * the router; the holder ends it later with vn_session_end_detached(). */
    VN_HOOK_CONN_LOST,
    VN_HOOK_COUNT
} vn_hook_id_t;

typedef struct vn_nonza {
    vn_session_t *s;
    vn_xnode_t *node;
    vn_arena_t *arena;
} vn_nonza_t;

typedef struct vn_delivery {
    vn_session_t *s;
    vn_stanza_t *st;
} vn_delivery_t;

typedef struct vn_sent {
    vn_session_t *s;
    const char *xml; /* the serialised stanza */
    size_t len;
} vn_sent_t;

typedef struct vn_hook {
    vn_hook_id_t id;
    vn_result_t (*fn)(vn_server_t *srv, void *ctx);
    int priority; /* higher runs first */
} vn_hook_t;

typedef struct vn_module {
    const char *name;
    const char *const *features;    /* disco#info features, NULL-terminated */
    const char *stream_features;    /* XML added to post-auth stream features */
    const vn_iq_handler_t *iq;      /* terminated by {NULL} */
    const vn_hook_t *hooks;         /* terminated by {VN_HOOK_COUNT} */
    int (*init)(vn_server_t *srv);  /* may be NULL; 0 on, 1 off by configuration, -1 fatal */
    void (*fini)(vn_server_t *srv); /* may be NULL */
    /* disco#info features of every local account's bare JID (XEP-0030,
     * e.g. urn:xmpp:mam:2 for XEP-0313), NULL-terminated; may be NULL */
    const char *const *account_features;
    /* The module's configuration keys (core/config.h), or NULL. */
    const vn_cfg_key_t *config_keys;
    /* Adds XEP-0128 extended information (data forms of type 'result')
     * under the <query/> of the server's disco#info (e.g. XEP-0157
     * contact addresses); may be NULL. */
    void (*server_info)(vn_server_t *srv, vn_arena_t *a, vn_xnode_t *query);
} vn_module_t;

/* The modules compiled in (src/mod/registry.c), NULL-terminated. */
extern const vn_module_t *const vn_builtin_modules[];

/* [c2s], [tls], [auth] (xmpp/config_keys.c). */
extern const vn_cfg_key_t vn_server_config_keys[];
/* Every key table: the core's, the server's, then each built-in module's,
 * NULL-terminated, for vn_config_load(). */
const vn_cfg_key_t *const *vn_config_tables(void);

int vn_modules_init(vn_server_t *srv);
void vn_modules_fini(vn_server_t *srv);
vn_result_t vn_hook_run(vn_server_t *srv, vn_hook_id_t id, void *ctx);
/* The same; *holds receives how many hooks returned VN_HOLD (for
 * VN_HOOK_BIND each holder calls vn_session_bind_done() once). */
vn_result_t vn_hook_run_counted(vn_server_t *srv, vn_hook_id_t id, void *ctx, int *holds);
/* Finds an IQ handler by type, payload namespace and target. */
const vn_iq_handler_t *vn_iq_find(const char *type, const char *ns, int target);
/* Iterates all advertised disco features. */
void vn_features_each(void (*cb)(const char *feature, void *ud), void *ud);
/* Iterates the features advertised for a local account's bare JID. */
void vn_account_features_each(void (*cb)(const char *feature, void *ud), void *ud);
/* Lets every module add its extended information to the server's
 * disco#info <query/> (vn_module_t.server_info). */
void vn_server_info_each(vn_server_t *srv, vn_arena_t *a, vn_xnode_t *query);
/* Concatenation of every module's stream_features. */
const char *vn_stream_features_xml(void);
/* A per-user / per-session slot index for a module's own data. */
int vn_slot_alloc(void);

/* ---- services on their own domain (components) ----
 *
 * A module that serves a subdomain (XEP-0045 rooms on conference.DOMAIN,
 * XEP-0060 nodes on pubsub.DOMAIN) registers it from its init(). The router
 * then hands it every stanza addressed to that domain or to any JID under
 * it, whatever the kind or type, with 'from' already stamped; the handler
 * owns the answer (including errors; it must never answer an error with an
 * error). The stanza is borrowed for the call, like a hook's. What the
 * service sends goes out through vn_route() with its own JID as 'from'.
 * The server's disco#items lists registered services (XEP-0030 §4). */
typedef void (*vn_component_fn)(vn_server_t *srv, vn_stanza_t *st, void *ud);

typedef struct vn_component {
    char *domain; /* normalised */
    char *name;   /* human-readable, for disco#items */
    vn_component_fn fn;
    void *ud;
} vn_component_t;

/* Registers a service domain. The domain is normalised (RFC 7622); it must
 * not be one of the served domains or another service's. 0, or -1 (logged). */
int vn_component_add(vn_server_t *srv, const char *domain, const char *name, vn_component_fn fn,
                     void *ud);
/* The service for a normalised domain, or NULL. */
const vn_component_t *vn_component_find(const char *domain);
void vn_components_each(void (*cb)(const vn_component_t *c, void *ud), void *ud);

#endif

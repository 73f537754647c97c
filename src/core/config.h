/* vestnik configuration: one INI file (parsed with inih), see
 * vestnik.conf.example for every key. Values are validated at load time so
 * that the server never starts with a half-understood configuration. */
#ifndef VN_CORE_CONFIG_H
#define VN_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define VN_MAX_DOMAINS 16
#define VN_CONTACT_KINDS 6 /* XEP-0157: abuse, admin, feedback, sales, security, support */

typedef struct vn_config {
    char *path;
    /* [server] */
    char *domains[VN_MAX_DOMAINS]; /* as written; the server normalises them */
    int ndomains;
    char *data_dir;
    char *log_level;
    /* XEP-0157 contact addresses of the served domains: per kind (see
     * vn_contact_kinds), comma-separated URIs, NULL when none. */
    char *contact[VN_CONTACT_KINDS];
    int hash_threads;
    uint64_t output_budget; /* bytes of unsent output, all connections (0: none) */
    /* [c2s] */
    char *listen;     /* host:port, NULL = disabled */
    char *direct_tls; /* host:port, NULL = disabled */
    size_t max_stanza_size;
    int max_depth;
    int max_attributes;
    int auth_timeout;
    int idle_timeout;
    int max_offline;
    int resume_timeout;        /* XEP-0198: seconds a lost session waits for resumption */
    int max_unacked;           /* XEP-0198: unacknowledged stanzas kept per session */
    size_t max_unacked_bytes;  /* ... and their bytes */
    size_t max_output;         /* unsent output per session (see net/conn.h) */
    size_t max_output_preauth; /* the same before authentication */
    int output_timeout;        /* seconds output may stay above max_output */
    uint32_t rate;             /* input bytes/s per session (0: not shaped) */
    uint32_t burst;            /* input bytes a session may send at once */
    /* [archive] */
    int archive_enabled;        /* XEP-0313 archiving on (default) */
    int archive_retention_days; /* XEP-0313: days messages are kept, 0 = forever */
    /* [muc] XEP-0045 */
    int muc_enabled;
    char *muc_domain;           /* NULL: conference.<first domain> */
    int muc_max_occupants;      /* per room: the default and the highest maxusers */
    int muc_history_length;     /* default messages kept per room for history on join */
    int muc_max_history;        /* highest historylength a room may set */
    int muc_max_rooms_per_user; /* rooms a user may have created and own at once (0: no limit) */
    /* [pubsub] XEP-0060 service (PEP on accounts is always on) */
    int pubsub_enabled;
    char *pubsub_domain;       /* NULL: pubsub.<first domain> */
    size_t pubsub_max_payload; /* bytes of one item's payload (PEP and service) */
    int pubsub_max_items;      /* items kept per node when max_items is "max" */
    int pubsub_max_nodes;      /* PEP nodes per account */
    int pubsub_service_nodes;  /* nodes on the pubsub service */
    int pubsub_create_local;   /* any local user may create service nodes (else admins only) */
    char *pubsub_admins;       /* comma-separated bare JIDs that own every service node */
    /* [profile] vcard-temp (XEP-0054), private XML storage (XEP-0049) */
    size_t vcard_max_size;   /* serialised <vCard/>, bounded by max_stanza_size */
    size_t private_max_size; /* one private XML element */
    int private_max_entries; /* namespaces one account may keep */
    /* [tls] */
    char *cert;
    char *key;
    /* [auth] */
    int allow_plain;
    int strict_channel_binding; /* RFC 5802 §6: refuse gs2 "y" while -PLUS is offered */
    uint32_t scram_iterations;
    int max_failures;
    int lockout;
} vn_config_t;

/* XEP-0157 address kinds, in the order of vn_config_t.contact: the
 * [server] key is contact_<kind>, the form field <kind>-addresses. */
extern const char *const vn_contact_kinds[VN_CONTACT_KINDS];

/* Returns 0, or -1 with a malloc'd message in *err. */
int vn_config_load(const char *path, vn_config_t *cfg, char **err);
void vn_config_free(vn_config_t *cfg);

#endif

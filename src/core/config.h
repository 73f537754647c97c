/* vestnik configuration: one INI file (parsed with inih), see
 * vestnik.conf.example for every key. Values are validated at load time so
 * that the server never starts with a half-understood configuration. */
#ifndef VN_CORE_CONFIG_H
#define VN_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define VN_MAX_DOMAINS 16

typedef struct vn_config {
    char *path;
    /* [server] */
    char *domains[VN_MAX_DOMAINS]; /* as written; the server normalises them */
    int ndomains;
    char *data_dir;
    char *log_level;
    int hash_threads;
    /* [c2s] */
    char *listen;     /* host:port, NULL = disabled */
    char *direct_tls; /* host:port, NULL = disabled */
    size_t max_stanza_size;
    size_t max_stanza_size_preauth; /* until SASL succeeds (RFC 6120 §6.4.6 restart) */
    int max_depth;
    int max_attributes;
    int auth_timeout;
    int idle_timeout;
    int max_offline;
    int resume_timeout; /* XEP-0198: seconds a lost session waits for resumption */
    /* [roster] RFC 6121 §2 */
    int roster_max_items;           /* items in one account's roster */
    int roster_max_pending;         /* stored inbound requests from contacts not in the roster */
    int roster_max_groups;          /* <group/> elements on one item */
    size_t roster_max_group_length; /* bytes of one group name */
    size_t roster_max_name_length;  /* bytes of an item's 'name' */
    /* [archive] */
    int archive_enabled;        /* XEP-0313 archiving on (default) */
    int archive_retention_days; /* XEP-0313: days messages are kept, 0 = forever */
    /* [muc] XEP-0045 */
    int muc_enabled;
    char *muc_domain; /* NULL: conference.<first domain> */
    int muc_max_occupants;   /* per room: the default and the highest maxusers */
    int muc_history_length;  /* default messages kept per room for history on join */
    int muc_max_history;     /* highest historylength a room may set */
    int muc_max_rooms_per_user; /* rooms a user may have created and own at once (0: no limit) */
    /* [pubsub] XEP-0060 service (PEP on accounts is always on) */
    int pubsub_enabled;
    char *pubsub_domain; /* NULL: pubsub.<first domain> */
    size_t pubsub_max_payload; /* bytes of one item's payload (PEP and service) */
    int pubsub_max_items;      /* items kept per node when max_items is "max" */
    int pubsub_max_nodes;      /* PEP nodes per account */
    int pubsub_service_nodes;  /* nodes on the pubsub service */
    /* service nodes one account created that still exist (0: no limit) */
    int pubsub_service_nodes_per_account;
    int pubsub_disco_max_items; /* disco#items page size (XEP-0059) */
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

/* Returns 0, or -1 with a malloc'd message in *err. */
int vn_config_load(const char *path, vn_config_t *cfg, char **err);
void vn_config_free(vn_config_t *cfg);

#endif

/* vestnik configuration: one INI file (parsed with inih), see
 * vestnik.conf.example for every key. Values are validated at load time so
 * that the server never starts with a half-understood configuration. */
#ifndef VN_CORE_CONFIG_H
#define VN_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define VN_MAX_DOMAINS 16
#define VN_CONTACT_KINDS 6 /* XEP-0157: abuse, admin, feedback, sales, security, support */

/* [tls] defaults (README "TLS"): forward-secret AEAD suites only. For
 * TLS 1.2 that is ECDHE with AES-GCM or ChaCha20-Poly1305: no CBC (LUCKY13
 * and the other padding oracles), no static-RSA key exchange (no forward
 * secrecy, Bleichenbacher/ROBOT) and no finite-field DHE (a client can make
 * the server compute large modular exponentiations, D(HE)at); RFC 10015
 * deprecates both key exchanges in TLS 1.2. One list for RSA and EC
 * certificates: OpenSSL skips the suites the certificate cannot sign (the
 * generated development certificate is EC P-256, so ECDHE-ECDSA only).
 * TLS 1.3 suites are all AEAD with (EC)DHE. */
#define VN_TLS_DEFAULT_CIPHERS                                                                     \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define VN_TLS_DEFAULT_CIPHERSUITES                                                                \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

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
    /* [store] */
    char *store_backend; /* the storage backend's name (store/store.h) */
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
    int resume_timeout;              /* XEP-0198: seconds a lost session waits for resumption */
    int max_unacked;                 /* XEP-0198: unacknowledged stanzas kept per session */
    size_t max_unacked_bytes;        /* ... and their bytes */
    size_t max_output;               /* unsent output per session (see net/conn.h) */
    size_t max_output_preauth;       /* the same before authentication */
    int output_timeout;              /* seconds output may stay above max_output */
    uint32_t rate;                   /* input bytes/s per session (0: not shaped) */
    uint32_t burst;                  /* input bytes a session may send at once */
    int max_connections_per_address; /* live connections one peer address may hold, 0 = no limit */
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
    /* service nodes one account created that still exist (0: no limit) */
    int pubsub_service_nodes_per_account;
    int pubsub_disco_max_items; /* disco#items page size (XEP-0059) */
    int pubsub_create_local;    /* any local user may create service nodes (else admins only) */
    char *pubsub_admins;        /* comma-separated bare JIDs that own every service node */
    /* [profile] vcard-temp (XEP-0054), private XML storage (XEP-0049) */
    size_t vcard_max_size;   /* serialised <vCard/>, bounded by max_stanza_size */
    size_t private_max_size; /* one private XML element */
    int private_max_entries; /* namespaces one account may keep */
    /* [tls] */
    char *cert;
    char *key;
    char *tls_ciphers;      /* OpenSSL cipher list for TLS 1.2 */
    char *tls_ciphersuites; /* TLS 1.3 cipher suites */
    int tls_min_version;    /* 12 (TLS 1.2) or 13 (TLS 1.3) */
    /* [auth] */
    int allow_plain;
    int strict_channel_binding; /* RFC 5802 §6: refuse gs2 "y" while -PLUS is offered */
    uint32_t scram_iterations;
    /* sign-in throttling, see xmpp/login_throttle.h */
    int max_failures;         /* per (address, account) */
    int lockout;              /* seconds, first pair lockout */
    int failure_window;       /* seconds for the pair bucket to drain */
    int address_max_failures; /* per address, any account */
    int address_lockout;
    int address_window;
    int account_max_failures; /* per account, any address; known devices exempt */
    int account_lockout;
    int account_window;
    int max_lockout;             /* cap of every doubling lockout */
    size_t throttle_max_entries; /* failure keys kept */
    int known_addresses;         /* recent successful addresses per account */
    int known_address_age;       /* seconds */
    size_t known_max_accounts;   /* accounts with known addresses */
} vn_config_t;

/* ---- the keys, as tables ----
 *
 * Every key is declared once, in a table next to the code that uses it
 * (the server's own in xmpp/config_keys.c, each module's in its module
 * definition, vn_module_t.config_keys): its section, name, type, default
 * (as it would be written in the file), limits and help. The loader walks
 * the tables; nothing here names a module. */
typedef enum {
    VN_CFG_INT,     /* int, min..max */
    VN_CFG_SIZE,    /* size_t, min..max */
    VN_CFG_U32,     /* uint32_t, min..max */
    VN_CFG_U64,     /* uint64_t, min..max */
    VN_CFG_BOOL,    /* int 0/1: true/false, yes/no, on/off, 1/0 */
    VN_CFG_STR,     /* char * (NULL when empty; min = 1: must not be empty) */
    VN_CFG_CHOICE,  /* int, from "word=value,word=value" in choices */
    VN_CFG_DOMAINS, /* the served domains: comma-separated, 1 to VN_MAX_DOMAINS */
    VN_CFG_URIS,    /* char *: comma-separated URIs (RFC 3986 §3.1), NULL when empty */
} vn_cfg_type_t;

typedef struct vn_cfg_key {
    const char *section;
    const char *name;
    vn_cfg_type_t type;
    size_t offset; /* of the value in vn_config_t */
    const char *def;
    long long min, max;
    const char *choices;
    const char *help;
} vn_cfg_key_t;

/* A NULL-terminated list of tables, each ended by an entry with name NULL. */
typedef const vn_cfg_key_t *const vn_cfg_tables_t[];

/* The core's own keys ([server]). */
extern const vn_cfg_key_t vn_core_config_keys[];

/* Loads the file over the defaults of every table. Returns 0, or -1 with
 * a malloc'd message in *err (unknown key, invalid value, with the line). */
int vn_config_load(const char *path, vn_config_t *cfg, const vn_cfg_key_t *const *tables,
                   char **err);
/* The key of a section and name, or NULL. */
const vn_cfg_key_t *vn_config_find(const vn_cfg_key_t *const *tables, const char *section,
                                   const char *name);
void vn_config_free(vn_config_t *cfg);

#endif

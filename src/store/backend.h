/* What a storage backend implements, as tables of functions: one table per
 * area of the interface, and the backend's own table on top (its name, how
 * it opens and closes, the transaction calls, and a pointer to each area's
 * table). Private to src/store.
 *
 * store.c chooses the backend that [store] backend names and dispatches
 * every public call (store.h, store_profile.h, store_pubsub.h, store_muc.h,
 * store_activity.h) through these tables, adding nothing: an entry has exactly the contract
 * written in the public header for the function of the same name
 * (arguments, return codes, callbacks, ownership, durability). Every entry
 * of every table must be set.
 *
 * A backend's handle embeds struct vn_store as its first member and sets
 * `be` when it opens; backend code converts between the two by a cast.
 *
 * Adding a backend: one directory under src/store (like sqlite/), its
 * tables, and one line in the list in store.c. */
#ifndef VN_STORE_BACKEND_H
#define VN_STORE_BACKEND_H

#include "store/store.h"
#include "store/store_activity.h"
#include "store/store_muc.h"
#include "store/store_profile.h"
#include "store/store_pubsub.h"

typedef struct vn_store_backend vn_store_backend_t;

struct vn_store {
    const vn_store_backend_t *be;
};

typedef struct vn_store_account_ops {
    int (*get)(vn_store_t *st, const char *jid, vn_account_t *out);
    int (*create)(vn_store_t *st, const vn_account_t *acct);
    int (*set_creds)(vn_store_t *st, const vn_account_t *acct);
    int (*delete)(vn_store_t *st, const char *jid);
    int (*list)(vn_store_t *st, const char *domain, void (*cb)(const char *jid, void *ud),
                void *ud);
} vn_store_account_ops_t;

typedef struct vn_store_roster_ops {
    int (*load)(vn_store_t *st, const char *owner, uint64_t *version,
                void (*cb)(const vn_roster_item_t *item, void *ud), void *ud);
    int (*get)(vn_store_t *st, const char *owner, const char *contact, vn_roster_item_t *out);
    int (*put)(vn_store_t *st, const char *owner, const vn_roster_item_t *item,
               uint64_t *new_version);
    int (*delete)(vn_store_t *st, const char *owner, const char *contact, uint64_t *new_version);
    int (*count)(vn_store_t *st, const char *owner, int64_t *items, int64_t *pending);
} vn_store_roster_ops_t;

typedef struct vn_store_offline_ops {
    int (*push)(vn_store_t *st, const char *owner, const char *xml, size_t len, int64_t *id);
    int (*load)(vn_store_t *st, const char *owner,
                void (*cb)(int64_t id, const char *xml, size_t len, void *ud), void *ud);
    int (*delete)(vn_store_t *st, const char *owner, int64_t up_to_id);
    int (*count)(vn_store_t *st, const char *owner, int64_t *count);
} vn_store_offline_ops_t;

typedef struct vn_store_archive_ops {
    int (*append)(vn_store_t *st, const char *owner, const char *id, int64_t ts_us,
                  const char *with, const char *xml, size_t len);
    int (*query)(vn_store_t *st, const char *owner, const vn_archive_query_t *q,
                 void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                 vn_archive_page_t *page);
    int (*expire)(vn_store_t *st, int64_t before_us, int64_t *deleted);
} vn_store_archive_ops_t;

typedef struct vn_store_prefs_ops {
    int (*get)(vn_store_t *st, const char *owner, vn_archive_prefs_t *out);
    int (*set)(vn_store_t *st, const char *owner, const vn_archive_prefs_t *p);
} vn_store_prefs_ops_t;

typedef struct vn_store_block_ops {
    int (*list)(vn_store_t *st, const char *owner, void (*cb)(const char *jid, void *ud), void *ud);
    int (*add)(vn_store_t *st, const char *owner, const char *jid);
    int (*remove)(vn_store_t *st, const char *owner, const char *jid);
} vn_store_block_ops_t;

typedef struct vn_store_profile_ops {
    int (*vcard_get)(vn_store_t *st, const char *owner, char **xml, char **photo_hash);
    int (*vcard_set)(vn_store_t *st, const char *owner, const char *xml, const char *photo_hash);
    int (*private_get)(vn_store_t *st, const char *owner, const char *ns, char **xml);
    int (*private_set)(vn_store_t *st, const char *owner, const char *ns, const char *xml,
                       int max_entries);
} vn_store_profile_ops_t;

typedef struct vn_store_pubsub_ops {
    int (*node_get)(vn_store_t *st, const char *service, const char *node, int64_t *id,
                    char **config);
    int (*node_create_by)(vn_store_t *st, const char *service, const char *node,
                          const char *owner_account, const char *creator, const char *config,
                          int64_t *id);
    int (*node_set_config)(vn_store_t *st, int64_t id, const char *config);
    int (*node_delete)(vn_store_t *st, int64_t id);
    int (*node_list)(vn_store_t *st, const char *service,
                     void (*cb)(int64_t id, const char *node, const char *config, void *ud),
                     void *ud);
    int (*node_count)(vn_store_t *st, const char *service, int64_t *count);
    int (*node_count_by)(vn_store_t *st, const char *service, const char *creator, int64_t *count);
    int (*node_list_aff)(vn_store_t *st, const char *service, const char *jid,
                         void (*cb)(int64_t id, const char *node, const char *config,
                                    const char *aff, void *ud),
                         void *ud);
    int (*item_put)(vn_store_t *st, int64_t node_id, const vn_ps_item_t *it, int keep,
                    int *evicted);
    int (*item_get)(vn_store_t *st, int64_t node_id, const char *item_id,
                    void (*cb)(const vn_ps_item_t *it, void *ud), void *ud);
    int (*items)(vn_store_t *st, int64_t node_id, int max,
                 void (*cb)(const vn_ps_item_t *it, void *ud), void *ud);
    int (*item_delete)(vn_store_t *st, int64_t node_id, const char *item_id);
    int (*items_purge)(vn_store_t *st, int64_t node_id);
    int (*items_trim)(vn_store_t *st, int64_t node_id, int keep);
    int (*item_count)(vn_store_t *st, int64_t node_id, int64_t *count);
    int (*aff_set)(vn_store_t *st, int64_t node_id, const char *jid, const char *aff);
    int (*aff_get)(vn_store_t *st, int64_t node_id, const char *jid, char *out, size_t cap);
    int (*aff_list)(vn_store_t *st, int64_t node_id,
                    void (*cb)(const char *jid, const char *aff, void *ud), void *ud);
    int (*sub_set)(vn_store_t *st, int64_t node_id, const char *jid, const char *subid,
                   const char *state);
    int (*sub_get)(vn_store_t *st, int64_t node_id, const char *jid, char *subid, size_t subid_cap,
                   char *state, size_t state_cap);
    int (*sub_list)(vn_store_t *st, int64_t node_id,
                    void (*cb)(const char *jid, const char *subid, const char *state, void *ud),
                    void *ud);
    int (*subs_of)(vn_store_t *st, const char *service, const char *jid,
                   void (*cb)(const char *node, const char *jid, const char *subid,
                              const char *state, void *ud),
                   void *ud);
} vn_store_pubsub_ops_t;

typedef struct vn_store_muc_ops {
    int (*room_put)(vn_store_t *st, const char *service, const vn_muc_room_row_t *row);
    int (*room_load)(vn_store_t *st, const char *room,
                     void (*room_cb)(const vn_muc_room_row_t *row, void *ud),
                     void (*aff_cb)(const char *jid, const char *affiliation, const char *reason,
                                    void *ud),
                     void *ud);
    int (*room_delete)(vn_store_t *st, const char *room);
    int (*room_list)(vn_store_t *st, const char *service, int public_only, int limit,
                     void (*cb)(const vn_muc_room_row_t *row, void *ud), void *ud);
    int (*aff_set)(vn_store_t *st, const char *room, const char *jid, const char *affiliation,
                   const char *reason);
    int (*nick_set)(vn_store_t *st, const char *room, const char *jid, const char *nick);
    int (*nicks)(vn_store_t *st, const char *room,
                 void (*cb)(const char *jid, const char *nick, void *ud), void *ud);
    int (*owned_count)(vn_store_t *st, const char *jid, int *count);
    int (*archive_append)(vn_store_t *st, const char *room, const char *id, int64_t ts_us,
                          const char *with, const char *xml, size_t len);
    int (*archive_query)(vn_store_t *st, const char *room, const vn_archive_query_t *q,
                         void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                         vn_archive_page_t *page);
} vn_store_muc_ops_t;

typedef struct vn_store_activity_ops {
    int (*last_set)(vn_store_t *st, const char *owner, int64_t ts, const char *status);
    int (*last_get)(vn_store_t *st, const char *owner, int64_t *ts, char **status);
} vn_store_activity_ops_t;

struct vn_store_backend {
    const char *name; /* the value of [store] backend */
    /* Returns the handle with be set, or NULL and a malloc'd *err. */
    vn_store_t *(*open)(const vn_config_t *cfg, char **err);
    void (*close)(vn_store_t *st);
    int (*schema_version)(vn_store_t *st, int *version);
    int (*set_synchronous_full)(vn_store_t *st, int on);
    int (*group_begin)(vn_store_t *st);
    int (*group_commit)(vn_store_t *st);
    const vn_store_account_ops_t *account;
    const vn_store_roster_ops_t *roster;
    const vn_store_offline_ops_t *offline;
    const vn_store_archive_ops_t *archive;
    const vn_store_prefs_ops_t *prefs;
    const vn_store_block_ops_t *block;
    const vn_store_profile_ops_t *profile;
    const vn_store_pubsub_ops_t *pubsub;
    const vn_store_muc_ops_t *muc;
    const vn_store_activity_ops_t *activity;
};

/* The backends of this build (store/sqlite/db.c ...). */
extern const vn_store_backend_t vn_store_backend_sqlite;

#endif

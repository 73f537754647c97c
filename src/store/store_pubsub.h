/* Storage for publish-subscribe (XEP-0060): nodes, items, affiliations and
 * subscriptions, for PEP (XEP-0163, the service is an account's bare JID)
 * and the pubsub service (the service is its domain).
 *
 * store knows no XMPP: a node is (service, name) with an opaque config text;
 * items are (id, publisher, payload) ordered by publication; affiliations
 * and subscriptions are rows keyed by a JID string. Same conventions as
 * store.h: return codes, threads and callbacks; every write commits before
 * it returns.
 *
 * A PEP node has an owner account (its rows go when the account is
 * deleted); service nodes have none, and the affiliations and subscriptions
 * of a deleted account are removed from them by a trigger. */
#ifndef VN_STORE_STORE_PUBSUB_H
#define VN_STORE_STORE_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* 0 found (*id set; *config malloc'd when config is not NULL), 1 no such
 * node, -1 error. */
int vn_store_ps_node_get(vn_store_t *st, const char *service, const char *node, int64_t *id,
                         char **config);
/* Creates a node. owner_account: the account owning the rows (PEP), or
 * NULL (service). 0 created, 1 already exists (*id is the existing one),
 * -1 error (also: owner_account does not exist). */
int vn_store_ps_node_create(vn_store_t *st, const char *service, const char *node,
                            const char *owner_account, const char *config, int64_t *id);
/* The same, recording creator (a bare JID, or NULL) for
 * vn_store_ps_node_count_by. 0, 1 or -1 as above. */
int vn_store_ps_node_create_by(vn_store_t *st, const char *service, const char *node,
                               const char *owner_account, const char *creator, const char *config,
                               int64_t *id);
/* Replaces the node's config. 0, 1 no such node, -1. */
int vn_store_ps_node_set_config(vn_store_t *st, int64_t id, const char *config);
/* Deletes the node with its items, affiliations and subscriptions. 0, 1 no
 * such node, -1. */
int vn_store_ps_node_delete(vn_store_t *st, int64_t id);
/* Calls cb for every node of the service, by name. 0 or -1. */
int vn_store_ps_node_list(vn_store_t *st, const char *service,
                          void (*cb)(int64_t id, const char *node, const char *config, void *ud),
                          void *ud);
/* Nodes of the service. 0 or -1. */
int vn_store_ps_node_count(vn_store_t *st, const char *service, int64_t *count);
/* Nodes of the service that creator created and that still exist. 0 or -1. */
int vn_store_ps_node_count_by(vn_store_t *st, const char *service, const char *creator,
                              int64_t *count);
/* Like vn_store_ps_node_list, with jid's affiliation with each node (NULL
 * when it has none). 0 or -1. */
int vn_store_ps_node_list_aff(vn_store_t *st, const char *service, const char *jid,
                              void (*cb)(int64_t id, const char *node, const char *config,
                                         const char *aff, void *ud),
                              void *ud);

typedef struct vn_ps_item {
    const char *id;
    const char *publisher; /* may be NULL */
    const char *payload;   /* serialised XML */
    size_t len;
} vn_ps_item_t;

/* Stores (or replaces, making it the newest) an item, then keeps only the
 * newest keep items (keep <= 0: all). *evicted receives how many older
 * items were dropped (may be NULL). 0 or -1 (also: no such node). */
int vn_store_ps_item_put(vn_store_t *st, int64_t node_id, const vn_ps_item_t *it, int keep,
                         int *evicted);
/* 0 found (cb called once), 1 not found, -1. */
int vn_store_ps_item_get(vn_store_t *st, int64_t node_id, const char *item_id,
                         void (*cb)(const vn_ps_item_t *it, void *ud), void *ud);
/* The newest max items (max <= 0: all), delivered oldest first. 0 or -1. */
int vn_store_ps_items(vn_store_t *st, int64_t node_id, int max,
                      void (*cb)(const vn_ps_item_t *it, void *ud), void *ud);
/* 0 deleted, 1 not found, -1. */
int vn_store_ps_item_delete(vn_store_t *st, int64_t node_id, const char *item_id);
/* Deletes every item of the node (none is fine). 0 or -1. */
int vn_store_ps_items_purge(vn_store_t *st, int64_t node_id);
/* Keeps only the newest keep items (keep >= 1). 0 or -1. */
int vn_store_ps_items_trim(vn_store_t *st, int64_t node_id, int keep);
/* Items of the node. 0 or -1. */
int vn_store_ps_item_count(vn_store_t *st, int64_t node_id, int64_t *count);

/* Affiliation of jid with the node ("owner", "publisher", "member",
 * "outcast"...); NULL or "none" removes it. 0 or -1 (also: no such node). */
int vn_store_ps_aff_set(vn_store_t *st, int64_t node_id, const char *jid, const char *aff);
/* 0 found (copied into out, NUL-terminated, cut to cap - 1 bytes), 1 none,
 * -1. */
int vn_store_ps_aff_get(vn_store_t *st, int64_t node_id, const char *jid, char *out, size_t cap);
/* Affiliations of a node, by JID. 0 or -1. */
int vn_store_ps_aff_list(vn_store_t *st, int64_t node_id,
                         void (*cb)(const char *jid, const char *aff, void *ud), void *ud);

/* Subscription of jid (bare or full) to the node; state NULL removes it.
 * Setting replaces the previous subid/state. 0 or -1 (also: no such
 * node). */
int vn_store_ps_sub_set(vn_store_t *st, int64_t node_id, const char *jid, const char *subid,
                        const char *state);
/* 0 found (subid/state copied like vn_store_ps_aff_get's), 1 none, -1. */
int vn_store_ps_sub_get(vn_store_t *st, int64_t node_id, const char *jid, char *subid,
                        size_t subid_cap, char *state, size_t state_cap);
/* Subscribers of a node, by JID. 0 or -1. */
int vn_store_ps_sub_list(vn_store_t *st, int64_t node_id,
                         void (*cb)(const char *jid, const char *subid, const char *state,
                                    void *ud),
                         void *ud);
/* Subscriptions of jid (and of its full JIDs when jid is bare) across the
 * service's nodes, by node then JID. 0 or -1. */
int vn_store_ps_subs_of(vn_store_t *st, const char *service, const char *jid,
                        void (*cb)(const char *node, const char *jid, const char *subid,
                                   const char *state, void *ud),
                        void *ud);

#endif

/* The storage interface: the backends of this build, the choice among them
 * by [store] backend, and the public calls (store.h and the per-area
 * headers), each a dispatch through the backend's tables (backend.h). */
#include "store/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define DEFAULT_BACKEND "sqlite"

/* Every backend this build has. */
static const vn_store_backend_t *const k_backends[] = {
    &vn_store_backend_sqlite,
};

#define N_BACKENDS (sizeof(k_backends) / sizeof(k_backends[0]))

vn_store_t *vn_store_open(const vn_config_t *cfg, char **err)
{
    if (err) *err = NULL;
    const char *name = cfg->store_backend ? cfg->store_backend : DEFAULT_BACKEND;
    for (size_t i = 0; i < N_BACKENDS; i++)
        if (!strcmp(k_backends[i]->name, name)) return k_backends[i]->open(cfg, err);
    if (err) {
        char have[256] = "";
        size_t n = 0;
        for (size_t i = 0; i < N_BACKENDS && n < sizeof(have); i++)
            n += (size_t)snprintf(have + n, sizeof(have) - n, "%s%s", i ? ", " : "",
                                  k_backends[i]->name);
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "unknown storage backend '%s' ([store] backend); this build has: %s", name, have);
        *err = vn_xstrdup(msg);
    }
    return NULL;
}

void vn_store_close(vn_store_t *st)
{
    if (st) st->be->close(st);
}

const char *vn_store_backend_name(const vn_store_t *st)
{
    return st->be->name;
}

int vn_store_schema_version(vn_store_t *st, int *version)
{
    return st->be->schema_version(st, version);
}

int vn_store_set_synchronous_full(vn_store_t *st, int on)
{
    return st->be->set_synchronous_full(st, on);
}

int vn_store_group_begin(vn_store_t *st)
{
    return st->be->group_begin(st);
}

int vn_store_group_commit(vn_store_t *st)
{
    return st->be->group_commit(st);
}

/* ---- accounts ---- */

int vn_store_account_get(vn_store_t *st, const char *jid, vn_account_t *out)
{
    return st->be->account->get(st, jid, out);
}

int vn_store_account_create(vn_store_t *st, const vn_account_t *acct)
{
    return st->be->account->create(st, acct);
}

int vn_store_account_set_creds(vn_store_t *st, const vn_account_t *acct)
{
    return st->be->account->set_creds(st, acct);
}

int vn_store_account_delete(vn_store_t *st, const char *jid)
{
    return st->be->account->delete (st, jid);
}

int vn_store_account_list(vn_store_t *st, const char *domain, void (*cb)(const char *jid, void *ud),
                          void *ud)
{
    return st->be->account->list(st, domain, cb, ud);
}

/* ---- roster ---- */

int vn_store_roster_load(vn_store_t *st, const char *owner, uint64_t *version,
                         void (*cb)(const vn_roster_item_t *item, void *ud), void *ud)
{
    return st->be->roster->load(st, owner, version, cb, ud);
}

int vn_store_roster_get(vn_store_t *st, const char *owner, const char *contact,
                        vn_roster_item_t *out)
{
    return st->be->roster->get(st, owner, contact, out);
}

int vn_store_roster_put(vn_store_t *st, const char *owner, const vn_roster_item_t *item,
                        uint64_t *new_version)
{
    return st->be->roster->put(st, owner, item, new_version);
}

int vn_store_roster_delete(vn_store_t *st, const char *owner, const char *contact,
                           uint64_t *new_version)
{
    return st->be->roster->delete (st, owner, contact, new_version);
}

int vn_store_roster_count(vn_store_t *st, const char *owner, int64_t *items, int64_t *pending)
{
    return st->be->roster->count(st, owner, items, pending);
}

void vn_roster_item_free_fields(vn_roster_item_t *item)
{
    if (!item) return;
    free(item->contact);
    free(item->name);
    if (item->groups) {
        for (char **g = item->groups; *g; g++)
            free(*g);
        free(item->groups);
    }
    free(item->pending_stanza);
    memset(item, 0, sizeof(*item));
}

/* ---- offline messages ---- */

int vn_store_offline_push(vn_store_t *st, const char *owner, const char *xml, size_t len,
                          int64_t *id)
{
    return st->be->offline->push(st, owner, xml, len, id);
}

int vn_store_offline_load(vn_store_t *st, const char *owner,
                          void (*cb)(int64_t id, const char *xml, size_t len, void *ud), void *ud)
{
    return st->be->offline->load(st, owner, cb, ud);
}

int vn_store_offline_delete(vn_store_t *st, const char *owner, int64_t up_to_id)
{
    return st->be->offline->delete (st, owner, up_to_id);
}

int vn_store_offline_count(vn_store_t *st, const char *owner, int64_t *count)
{
    return st->be->offline->count(st, owner, count);
}

/* ---- message archive and its preferences ---- */

int vn_store_archive_append(vn_store_t *st, const char *owner, const char *id, int64_t ts_us,
                            const char *with, const char *xml, size_t len)
{
    return st->be->archive->append(st, owner, id, ts_us, with, xml, len);
}

int vn_store_archive_query(vn_store_t *st, const char *owner, const vn_archive_query_t *q,
                           void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                           vn_archive_page_t *page)
{
    return st->be->archive->query(st, owner, q, cb, ud, page);
}

int vn_store_archive_expire(vn_store_t *st, int64_t before_us, int64_t *deleted)
{
    return st->be->archive->expire(st, before_us, deleted);
}

int vn_store_archive_prefs_get(vn_store_t *st, const char *owner, vn_archive_prefs_t *out)
{
    return st->be->prefs->get(st, owner, out);
}

int vn_store_archive_prefs_set(vn_store_t *st, const char *owner, const vn_archive_prefs_t *p)
{
    return st->be->prefs->set(st, owner, p);
}

/* ---- blocking ---- */

int vn_store_block_list(vn_store_t *st, const char *owner, void (*cb)(const char *jid, void *ud),
                        void *ud)
{
    return st->be->block->list(st, owner, cb, ud);
}

int vn_store_block_add(vn_store_t *st, const char *owner, const char *jid)
{
    return st->be->block->add(st, owner, jid);
}

int vn_store_block_remove(vn_store_t *st, const char *owner, const char *jid)
{
    return st->be->block->remove(st, owner, jid);
}

/* ---- profiles (store_profile.h) ---- */

int vn_store_vcard_get(vn_store_t *st, const char *owner, char **xml, char **photo_hash)
{
    return st->be->profile->vcard_get(st, owner, xml, photo_hash);
}

int vn_store_vcard_set(vn_store_t *st, const char *owner, const char *xml, const char *photo_hash)
{
    return st->be->profile->vcard_set(st, owner, xml, photo_hash);
}

int vn_store_private_get(vn_store_t *st, const char *owner, const char *ns, char **xml)
{
    return st->be->profile->private_get(st, owner, ns, xml);
}

int vn_store_private_set(vn_store_t *st, const char *owner, const char *ns, const char *xml,
                         int max_entries)
{
    return st->be->profile->private_set(st, owner, ns, xml, max_entries);
}

/* ---- publish-subscribe (store_pubsub.h) ---- */

int vn_store_ps_node_get(vn_store_t *st, const char *service, const char *node, int64_t *id,
                         char **config)
{
    return st->be->pubsub->node_get(st, service, node, id, config);
}

int vn_store_ps_node_create(vn_store_t *st, const char *service, const char *node,
                            const char *owner_account, const char *config, int64_t *id)
{
    return st->be->pubsub->node_create_by(st, service, node, owner_account, NULL, config, id);
}

int vn_store_ps_node_create_by(vn_store_t *st, const char *service, const char *node,
                               const char *owner_account, const char *creator, const char *config,
                               int64_t *id)
{
    return st->be->pubsub->node_create_by(st, service, node, owner_account, creator, config, id);
}

int vn_store_ps_node_set_config(vn_store_t *st, int64_t id, const char *config)
{
    return st->be->pubsub->node_set_config(st, id, config);
}

int vn_store_ps_node_delete(vn_store_t *st, int64_t id)
{
    return st->be->pubsub->node_delete(st, id);
}

int vn_store_ps_node_list(vn_store_t *st, const char *service,
                          void (*cb)(int64_t id, const char *node, const char *config, void *ud),
                          void *ud)
{
    return st->be->pubsub->node_list(st, service, cb, ud);
}

int vn_store_ps_node_count(vn_store_t *st, const char *service, int64_t *count)
{
    return st->be->pubsub->node_count(st, service, count);
}

int vn_store_ps_node_count_by(vn_store_t *st, const char *service, const char *creator,
                              int64_t *count)
{
    return st->be->pubsub->node_count_by(st, service, creator, count);
}

int vn_store_ps_node_list_aff(vn_store_t *st, const char *service, const char *jid,
                              void (*cb)(int64_t id, const char *node, const char *config,
                                         const char *aff, void *ud),
                              void *ud)
{
    return st->be->pubsub->node_list_aff(st, service, jid, cb, ud);
}

int vn_store_ps_item_put(vn_store_t *st, int64_t node_id, const vn_ps_item_t *it, int keep,
                         int *evicted)
{
    return st->be->pubsub->item_put(st, node_id, it, keep, evicted);
}

int vn_store_ps_item_get(vn_store_t *st, int64_t node_id, const char *item_id,
                         void (*cb)(const vn_ps_item_t *it, void *ud), void *ud)
{
    return st->be->pubsub->item_get(st, node_id, item_id, cb, ud);
}

int vn_store_ps_items(vn_store_t *st, int64_t node_id, int max,
                      void (*cb)(const vn_ps_item_t *it, void *ud), void *ud)
{
    return st->be->pubsub->items(st, node_id, max, cb, ud);
}

int vn_store_ps_item_delete(vn_store_t *st, int64_t node_id, const char *item_id)
{
    return st->be->pubsub->item_delete(st, node_id, item_id);
}

int vn_store_ps_items_purge(vn_store_t *st, int64_t node_id)
{
    return st->be->pubsub->items_purge(st, node_id);
}

int vn_store_ps_items_trim(vn_store_t *st, int64_t node_id, int keep)
{
    return st->be->pubsub->items_trim(st, node_id, keep);
}

int vn_store_ps_item_count(vn_store_t *st, int64_t node_id, int64_t *count)
{
    return st->be->pubsub->item_count(st, node_id, count);
}

int vn_store_ps_aff_set(vn_store_t *st, int64_t node_id, const char *jid, const char *aff)
{
    return st->be->pubsub->aff_set(st, node_id, jid, aff);
}

int vn_store_ps_aff_get(vn_store_t *st, int64_t node_id, const char *jid, char *out, size_t cap)
{
    return st->be->pubsub->aff_get(st, node_id, jid, out, cap);
}

int vn_store_ps_aff_list(vn_store_t *st, int64_t node_id,
                         void (*cb)(const char *jid, const char *aff, void *ud), void *ud)
{
    return st->be->pubsub->aff_list(st, node_id, cb, ud);
}

int vn_store_ps_sub_set(vn_store_t *st, int64_t node_id, const char *jid, const char *subid,
                        const char *state)
{
    return st->be->pubsub->sub_set(st, node_id, jid, subid, state);
}

int vn_store_ps_sub_get(vn_store_t *st, int64_t node_id, const char *jid, char *subid,
                        size_t subid_cap, char *state, size_t state_cap)
{
    return st->be->pubsub->sub_get(st, node_id, jid, subid, subid_cap, state, state_cap);
}

int vn_store_ps_sub_list(vn_store_t *st, int64_t node_id,
                         void (*cb)(const char *jid, const char *subid, const char *state,
                                    void *ud),
                         void *ud)
{
    return st->be->pubsub->sub_list(st, node_id, cb, ud);
}

int vn_store_ps_subs_of(vn_store_t *st, const char *service, const char *jid,
                        void (*cb)(const char *node, const char *jid, const char *subid,
                                   const char *state, void *ud),
                        void *ud)
{
    return st->be->pubsub->subs_of(st, service, jid, cb, ud);
}

/* ---- rooms (store_muc.h) ---- */

int vn_store_muc_room_put(vn_store_t *st, const char *service, const vn_muc_room_row_t *row)
{
    return st->be->muc->room_put(st, service, row);
}

int vn_store_muc_room_load(vn_store_t *st, const char *room,
                           void (*room_cb)(const vn_muc_room_row_t *row, void *ud),
                           void (*aff_cb)(const char *jid, const char *affiliation,
                                          const char *reason, void *ud),
                           void *ud)
{
    return st->be->muc->room_load(st, room, room_cb, aff_cb, ud);
}

int vn_store_muc_room_delete(vn_store_t *st, const char *room)
{
    return st->be->muc->room_delete(st, room);
}

int vn_store_muc_room_list(vn_store_t *st, const char *service, int public_only, int limit,
                           void (*cb)(const vn_muc_room_row_t *row, void *ud), void *ud)
{
    return st->be->muc->room_list(st, service, public_only, limit, cb, ud);
}

int vn_store_muc_aff_set(vn_store_t *st, const char *room, const char *jid, const char *affiliation,
                         const char *reason)
{
    return st->be->muc->aff_set(st, room, jid, affiliation, reason);
}

int vn_store_muc_nick_set(vn_store_t *st, const char *room, const char *jid, const char *nick)
{
    return st->be->muc->nick_set(st, room, jid, nick);
}

int vn_store_muc_nicks(vn_store_t *st, const char *room,
                       void (*cb)(const char *jid, const char *nick, void *ud), void *ud)
{
    return st->be->muc->nicks(st, room, cb, ud);
}

int vn_store_muc_owned_count(vn_store_t *st, const char *jid, int *count)
{
    return st->be->muc->owned_count(st, jid, count);
}

int vn_store_muc_archive_append(vn_store_t *st, const char *room, const char *id, int64_t ts_us,
                                const char *with, const char *xml, size_t len)
{
    return st->be->muc->archive_append(st, room, id, ts_us, with, xml, len);
}

int vn_store_muc_archive_query(vn_store_t *st, const char *room, const vn_archive_query_t *q,
                               void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                               vn_archive_page_t *page)
{
    return st->be->muc->archive_query(st, room, q, cb, ud, page);
}

/* ---- last activity (store_activity.h) ---- */

int vn_store_last_set(vn_store_t *st, const char *owner, int64_t ts, const char *status)
{
    return st->be->activity->last_set(st, owner, ts, status);
}

int vn_store_last_get(vn_store_t *st, const char *owner, int64_t *ts, char **status)
{
    return st->be->activity->last_get(st, owner, ts, status);
}

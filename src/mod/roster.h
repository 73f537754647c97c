/* The roster of an online account (RFC 6121 §2), shared by the roster and
 * presence modules: the in-memory copy, loaded at bind, and changes that go
 * through storage first (storage is the source of truth). The load and the
 * changes are ordered storage jobs of the owner (xmpp/server.h), so the
 * copy follows the order in which changes were committed.
 *
 * Ownership: a roster_t belongs to its vn_user_t (a user slot) and dies
 * with it. A roster_change_t is owned by the change machinery from
 * roster_change_submit() until its continuation has run. */
#ifndef VN_MOD_ROSTER_H
#define VN_MOD_ROSTER_H

#include <stdint.h>

#include "core/map.h"
#include "store/store.h"
#include "xmpp/module.h"

#define NS_ROSTER "jabber:iq:roster"

typedef struct roster {
    vn_map_t *items; /* contact bare JID -> vn_roster_item_t* (deep copies) */
    uint64_t version;
    int loaded;
    vn_session_t **waiting; /* sessions whose bind waits for the load */
    int nwaiting;
} roster_t;

/* The loaded roster of an online user, or NULL. */
roster_t *roster_of(vn_user_t *u);
vn_roster_item_t *roster_find(roster_t *r, const char *contact);
int roster_has_from(const vn_roster_item_t *it);
int roster_has_to(const vn_roster_item_t *it);

typedef struct roster_change roster_change_t;

/* Edits an item on the storage thread. item is the current row (zeroed
 * with contact set when there is none; *exists tells). Return 1 to write
 * the item, 2 to delete it, 0 to leave storage untouched. */
typedef int (*roster_edit_fn)(roster_change_t *c, vn_roster_item_t *item, int exists);

struct roster_change {
    vn_work_t work;
    vn_server_t *srv;
    char *owner;
    char *contact;
    roster_edit_fn edit;
    int arg;               /* for the edit function (input; never changed) */
    int effects;           /* set by the edit function for the continuation */
    char *arg_str;         /* for the edit function (e.g. a name or a stanza) */
    char **arg_groups;     /* for the edit function, NULL-terminated */
    int arg_has_groups;
    /* per-account limits (RFC 6121 §2; [roster] max_items, max_pending),
     * copied from the configuration when the change is made */
    int max_items;   /* rows shown in the roster */
    int max_pending; /* rows kept only for a pending inbound request */
    /* results */
    int rc;                /* storage result: 0 ok, -1 error */
    int existed;
    int action;            /* what edit() returned */
    /* The stanza error condition when a limit refused the change (storage
     * untouched, action and effects 0), else NULL: "not-allowed" for a new roster
     * item past max_items, "resource-constraint" for a new pending request
     * past max_pending. */
    const char *refused;
    vn_roster_item_t before;
    vn_roster_item_t item; /* after the edit */
    uint64_t version;
    /* continuation on the loop thread, after the copy and pushes */
    void (*then)(roster_change_t *c);
    vn_stanza_t *stanza;   /* owned: e.g. the presence to forward */
    vn_session_t *session; /* referenced: e.g. the session awaiting an IQ result */
    int push;              /* send roster pushes when the item changed */
};

roster_change_t *roster_change_new(vn_server_t *srv, const char *owner, const char *contact,
                                   roster_edit_fn edit);
void roster_change_submit(roster_change_t *c);

/* Serialises an item as <item/> under parent (for results and pushes). */
void roster_item_to_xml(vn_arena_t *a, vn_xnode_t *parent, const vn_roster_item_t *it,
                        int removed);

/* presence.c: unavailable presence from each available resource of owner
 * to contact, once the contact's storage jobs submitted so far have
 * completed (a barrier on the contact, xmpp/server.h: so after the contact
 * has handled an unsubscribed routed just before):
 * RFC 6121 §3.2.2 when a subscription is cancelled. */
void presence_unavailable_after_storage(vn_server_t *srv, const char *owner, const char *contact);

/* A stanza copy that owns its own arena (for continuations). */
vn_stanza_t *stanza_clone(const vn_stanza_t *st);

#endif

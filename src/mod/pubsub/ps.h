/* Shared internals of the publish-subscribe modules (src/mod/pubsub):
 * node configuration, data forms, the storage jobs every operation runs,
 * notifications and the XEP-0115 capabilities cache. Private to
 * src/mod/pubsub; other modules use src/mod/pep.h.
 *
 * Threading: everything here runs on the loop thread except the work()
 * part of a ps_job_t (ops.c), which runs on the storage thread and touches
 * only the job and the store. */
#ifndef VN_MOD_PUBSUB_PS_H
#define VN_MOD_PUBSUB_PS_H

#include <stdint.h>

#include "core/buf.h"
#include "xmpp/module.h"
#include "xmpp/rsm.h"

#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_PUBSUB_OWNER "http://jabber.org/protocol/pubsub#owner"
#define NS_PUBSUB_EVENT "http://jabber.org/protocol/pubsub#event"
#define NS_PUBSUB_ERRORS "http://jabber.org/protocol/pubsub#errors"
#define NS_PUBSUB_NODE_CONFIG "http://jabber.org/protocol/pubsub#node_config"
#define NS_PUBSUB_PUBLISH_OPTIONS "http://jabber.org/protocol/pubsub#publish-options"
#define NS_PUBSUB_SUB_OPTIONS "http://jabber.org/protocol/pubsub#subscribe_options"
#define NS_DATA "jabber:x:data"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_CAPS "http://jabber.org/protocol/caps"

/* ---- node configuration (XEP-0060 §16.4.4 pubsub#node_config) ---- */

typedef enum {
    PS_ACCESS_OPEN,
    PS_ACCESS_PRESENCE,
    PS_ACCESS_ROSTER,
    PS_ACCESS_WHITELIST
} ps_access_t;
typedef enum { PS_PUBLISH_PUBLISHERS, PS_PUBLISH_SUBSCRIBERS, PS_PUBLISH_OPEN } ps_publish_model_t;
/* pubsub#notification_type: the <message/> type of event notifications
 * (XEP-0060 §16.4.4; headline by default, §12.5). */
typedef enum { PS_NOTIFY_HEADLINE, PS_NOTIFY_NORMAL } ps_notification_type_t;
/* pubsub#itemreply: who gets replies to items; with "publisher" items carry
 * their publisher (XEP-0060 §7.1.2.1). */
typedef enum { PS_ITEMREPLY_OWNER, PS_ITEMREPLY_PUBLISHER } ps_itemreply_t;
typedef enum {
    PS_SEND_LAST_NEVER,
    PS_SEND_LAST_ON_SUB,
    PS_SEND_LAST_ON_SUB_AND_PRESENCE
} ps_send_last_t;

#define PS_MAX_ITEMS_MAX (-1) /* pubsub#max_items = "max" */

typedef struct ps_config {
    ps_access_t access;
    ps_publish_model_t publish_model;
    ps_send_last_t send_last;
    int max_items; /* >= 1, or PS_MAX_ITEMS_MAX */
    int persist_items;
    int deliver_payloads;
    int deliver_notifications;
    int notify_retract;
    int notify_delete;
    int notify_config;
    int presence_based_delivery;
    ps_notification_type_t notification_type;
    ps_itemreply_t itemreply;
    char title[256];
    char description[256];
    char type[256];          /* pubsub#type: payload namespace */
    char roster_groups[512]; /* pubsub#roster_groups_allowed, newline-separated */
} ps_config_t;

/* Defaults: PEP (XEP-0163 §5: presence access, 1 item, last item on
 * presence) or the service (open access, persistent, max items). */
void ps_config_default(ps_config_t *c, int pep);
/* Storage form: "key=value" lines. Unknown keys are ignored. */
void ps_config_serialize(const ps_config_t *c, vn_buf_t *out);
void ps_config_parse(ps_config_t *c, const char *text);
/* Items kept in storage for a config (the [pubsub] max_items cap applies). */
int ps_config_keep(const ps_config_t *c, int cap);

/* A data form's fields as given (XEP-0004), for publish-options and
 * configuration: var/value pairs, arena strings; values of list-multi
 * fields are joined with '\n'. */
typedef struct ps_form {
    int n;
    const char *var[48];
    const char *value[48];
    const char *form_type; /* FORM_TYPE value or NULL */
    int type_submit;       /* type='submit' (or missing) */
} ps_form_t;

/* Reads <x xmlns='jabber:x:data'> under parent into f. 0, or -1 when the
 * form is malformed or too large. */
int ps_form_read(vn_arena_t *a, const vn_xnode_t *parent, ps_form_t *f);
/* Applies the form's fields to c. Returns 0, or -1 with *bad set to the
 * offending field (unknown field or invalid value) when strict; fields the
 * server does not know are skipped when !strict. */
int ps_config_apply(ps_config_t *c, const ps_form_t *f, int strict, int max_cap, const char **bad);
/* XEP-0060 §7.1.5: does the node's config match every known field of the
 * publish-options form? Fields the server does not know are ignored. */
int ps_config_matches(const ps_config_t *c, const ps_form_t *f, int max_cap);
/* Appends the node_config form (type 'form' for a configure get, 'result'
 * for disco#info meta-data) under parent. */
void ps_config_to_form(vn_arena_t *a, vn_xnode_t *parent, const ps_config_t *c, const char *type,
                       const char *form_type);

/* Error with the pubsub#errors application condition app (NULL: none). */
void ps_error(vn_server_t *srv, vn_stanza_t *st, const char *type, const char *cond,
              const char *app, const char *app_attr_feature);

/* ---- storage jobs (ops.c) ---- */

typedef enum {
    PS_OP_PUBLISH,
    PS_OP_ITEMS,
    PS_OP_RETRACT,
    PS_OP_CREATE,
    PS_OP_DELETE,
    PS_OP_PURGE,
    PS_OP_CONFIG_GET,
    PS_OP_CONFIG_SET,
    PS_OP_LIST_NODES, /* the service's nodes the requester may see */
    PS_OP_LAST_ITEMS, /* newest item of each node in want[] the requester may access */
    PS_OP_SUBSCRIBE,
    PS_OP_UNSUBSCRIBE,
    PS_OP_SUBSCRIPTIONS, /* requester's subscriptions (node NULL: all) */
    PS_OP_AFFILIATIONS,  /* requester's affiliations (node) */
    PS_OP_OWNER_AFFS_GET,
    PS_OP_OWNER_AFFS_SET,
    PS_OP_OWNER_SUBS_GET,
    PS_OP_OWNER_SUBS_SET,
    PS_OP_NODE_INFO,
} ps_op_t;

typedef struct ps_item_out {
    char *id;
    char *publisher;
    char *node;
    char *payload;
    size_t len;
} ps_item_out_t;

typedef struct ps_pair {
    char *a, *b, *c; /* e.g. jid/affiliation, jid/subid/state, node/... */
} ps_pair_t;

typedef struct ps_job ps_job_t;

struct ps_job {
    vn_work_t work;
    vn_server_t *srv;
    ps_op_t op;
    int pep;       /* service is an account (owner = service) */
    char *service; /* account bare JID (PEP) or pubsub domain */
    char *node;
    char *requester;      /* bare JID of the entity asking; NULL: the server itself */
    char *requester_full; /* full JID when known */
    int requester_admin;  /* owner of every node (PEP: the account itself) */
    char *item_id;
    char *payload;
    size_t len;
    int max_items_req; /* items retrieval: 0 = all */
    char **ids;        /* items retrieval by id / owner sets: NULL-terminated */
    char **want;       /* PS_OP_LAST_ITEMS: node names */
    ps_form_t form;    /* publish-options / configuration (strings owned by form_arena) */
    vn_arena_t *form_arena;
    int has_form;
    int create_ok; /* may create nodes (service) */
    int max_nodes;
    int max_nodes_per_account; /* service: nodes one requester may have created (0: no limit) */
    vn_rsm_req_t rsm;        /* PS_OP_LIST_NODES: the request's XEP-0059 <set/> (in req's arena) */
    size_t page_limit;       /* PS_OP_LIST_NODES: most nodes in the answer */
    int max_keep;            /* the [pubsub] max_items cap */
    int notify;              /* retract: notify */
    int options_create_only; /* publish: the form configures a new node, no precondition */
    /* results (reset at the start of work, which may run twice) */
    int rc; /* 0 ok; -1 error with err_* set */
    const char *err_type, *err_cond, *err_app, *err_feature;
    int created;
    int64_t node_id;
    ps_config_t cfg;
    ps_item_out_t *items;
    int nitems;
    ps_pair_t *pairs; /* results: affiliations, subscriptions, nodes */
    int npairs;
    size_t listed;       /* PS_OP_LIST_NODES: nodes the requester may see (the RSM count) */
    size_t page_first;   /* PS_OP_LIST_NODES: position of pairs[0] among them */
    ps_pair_t *in_pairs; /* input of owner sets */
    int nin_pairs;
    char **contacts; /* PEP publish: roster contacts with presence subscription */
    int ncontacts;
    char affiliation[16];
    char subid[48];
    char substate[16];
    int evicted; /* publish: items dropped; retract: 1 when this run removed the item */
    /* loop-thread continuation */
    void (*then)(ps_job_t *j);
    vn_stanza_t *req; /* owned copy of the request, or NULL */
    void *ud;
    void (*api_done)(void *ud, int rc);
    void (*api_item)(void *ud, const char *payload, size_t len);
    void (*api_items)(void *ud, int n, const char *const *ids, const char *const *payloads);
};

ps_job_t *ps_job_new(vn_server_t *srv, ps_op_t op, int pep, const char *service, const char *node);
void ps_job_submit(ps_job_t *j);
/* Frees a job that was never submitted (no continuation runs). */
void ps_job_discard(ps_job_t *j);
/* Answers the request with the job's error. */
void ps_job_error_reply(ps_job_t *j);
/* Prepares a PS_OP_LIST_NODES job for the disco#items request in j->req:
 * reads its XEP-0059 <set/> (strings in j->req's arena). The page size is
 * [pubsub] disco_max_items. Returns NULL, or the text of the <bad-request/>
 * the request deserves. */
const char *ps_list_nodes_prepare(ps_job_t *j);
/* Continuation answering disco#items with the page of nodes a list job
 * found. */
void ps_disco_items_then(ps_job_t *j);
char **ps_strv_dup(const char *const *v);
void ps_strv_free(char **v);

/* ---- notifications (notify.c) ---- */

/* Parses a serialised payload that must be exactly one element into a
 * tree in a (NULL when it is not well-formed or not one element). */
vn_xnode_t *ps_parse_payload(vn_arena_t *a, const char *xml, size_t len, int max_depth);
/* <message type='headline' from><event><items node><item id [publisher]>payload
 * </item></items></event></message> (or <retract id/>), 'to' unset. The
 * stanza is owned by the caller (vn_stanza_free). */
vn_stanza_t *ps_event_items(const char *from, const char *node, const char *item_id,
                            const char *payload, size_t len, int retract, const char *publisher);
/* <event><what node/></event>: "delete", "purge", "configuration". */
vn_stanza_t *ps_event_simple(const char *from, const char *node, const char *what);
/* Gives ev the node's notification type (pubsub#notification_type). */
void ps_event_style(vn_stanza_t *ev, const ps_config_t *c);
/* The publisher to show on an item of a node with that config (the
 * item's publisher when pubsub#itemreply is "publisher"), or NULL. */
const char *ps_item_publisher(const ps_config_t *c, const char *publisher);
/* Sends the event to one full or bare JID (sets 'to'). */
void ps_send_event(vn_server_t *srv, vn_stanza_t *ev, const char *to);
/* Sends ev to every JID, in chunks from timers when there are many, so a
 * large subscriber list does not stall the loop. Takes ev and jids (and
 * each string; all malloc'd). */
void ps_fanout(vn_server_t *srv, vn_stanza_t *ev, char **jids, int n);
void ps_fanout_fini(vn_server_t *srv);

/* PEP (XEP-0163 §4.3.1): sends ev to the owner's resources and to the
 * online resources of contacts (already filtered by access) that want
 * node (+notify). */
void pep_notify(vn_server_t *srv, const char *owner, const char *node, char **contacts,
                int ncontacts, vn_stanza_t *ev);
/* Observers of pep.h (clients' changes only). */
void pep_observers_run(vn_server_t *srv, const char *owner, const char *node, const char *item_id,
                       const char *payload, size_t len, int retracted);
void pep_observers_fini(void);

/* The IQ dispatcher shared by PEP and the service (iq.c). pep: st is to an
 * account's bare JID. */
vn_result_t ps_handle_iq(vn_server_t *srv, vn_stanza_t *st, int pep);
/* Continuations shared with the pep.h API (iq.c). */
void ps_publish_then(ps_job_t *j);
void ps_items_then(ps_job_t *j);
void ps_retract_then(ps_job_t *j);
/* Generates an id (item ids, subscription ids, instant node names). */
void ps_make_id(char *out, size_t cap);

/* ---- entity capabilities (caps.c, XEP-0115) ---- */

/* Does the entity at full JID want notifications for node (node+notify)? */
int caps_wants(const char *full, const char *node);
/* Node names the full JID has +notify for (NULL-terminated, malloc'd), or NULL. */
char **caps_notify_nodes(const char *full);
/* Called once per (full JID, owner) when an available presence of full
 * reached owner's account (or full is owner's own new resource) and
 * full's features are known: owner's last items are due to full. Called
 * again with skip set when full's caps change while available: only the
 * nodes it newly wants (not in skip, NULL-terminated) are due. */
extern void (*caps_on_known)(vn_server_t *srv, const char *full, const char *owner,
                             const char *const *skip);
void caps_init(vn_server_t *srv);
void caps_fini(void);
vn_result_t caps_from_client(vn_server_t *srv, vn_stanza_t *st);
vn_result_t caps_to_account(vn_server_t *srv, vn_stanza_t *st);
void caps_session_end(vn_server_t *srv, vn_session_t *s);
/* XEP-0115 §5.1 verification string hash of a disco#info <query/> (base64 of
 * the hash named by algo: sha-1, sha-256...); NULL when algo is unknown. */
char *caps_ver_of(vn_arena_t *a, const vn_xnode_t *query, const char *algo);

#endif

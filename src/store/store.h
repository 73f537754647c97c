/* Storage interface: accounts, rosters, offline messages, archives and
 * blocklists here; profiles, publish-subscribe and rooms in store_profile.h,
 * store_pubsub.h and store_muc.h.
 *
 * store knows no XMPP: it stores rows and blobs keyed by strings that the
 * caller has already normalised (bare JIDs as UTF-8), and it interprets
 * neither stanzas (kept as serialised text) nor credentials (kept as the
 * authentication code hands them over, see vn_store_cred_t). Nothing under
 * src/store includes an xmpp header.
 *
 * Backends: every call below goes through the operations table of the
 * backend that opened the store (store/backend.h), chosen by [store]
 * backend. SQLite (store/sqlite/, one file per area) is the embedded
 * default and, today, the only one.
 *
 * Threading: a vn_store_t is used by one thread at a time. vestnikd runs
 * every storage call on its storage thread, inside jobs submitted with
 * vn_store_submit and friends (xmpp/server.h: what order those jobs keep is
 * written there, not here); vestnikctl calls the store directly.
 *
 * Durability: a call that returns VN_STORE_OK (or any result other than
 * VN_STORE_ERROR) has committed its transaction (inside a group, see
 * vn_store_group_begin, when the group commits); the data survives kill -9
 * of the process.
 *
 * Return codes: every call returns one of the codes below, and its comment
 * says which (a call whose comment lists only 0 and -1 returns nothing
 * else). So `r < 0` always means "failed, nothing written" (retention,
 * vn_store_archive_expire, says what it keeps of a partial run), and
 * `r == 0` always means "done as asked". Outputs are only meaningful on
 * VN_STORE_OK unless the comment says otherwise.
 *
 * Callbacks (the *_list, *_load and query calls) run while the backend is
 * still reading; they must not call into the same store (such a call fails
 * with VN_STORE_ERROR). Strings passed to a callback are valid during that
 * callback only: copy what you need and act after the call returns.
 *
 * Rows owned by an account (roster, offline messages, archive, blocklist,
 * profiles, PEP nodes) require the account to exist: writing them for an
 * unknown owner fails with VN_STORE_ERROR (a caller's race with a deletion,
 * logged), and deleting the account deletes them. */
#ifndef VN_STORE_STORE_H
#define VN_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

typedef struct vn_store vn_store_t;

/* The return codes (see above). */
enum {
    VN_STORE_OK = 0,        /* done: found, written, deleted */
    VN_STORE_NOT_FOUND = 1, /* the row the call names is not there; nothing written */
    VN_STORE_EXISTS = 1,    /* (calls that create) the row is there already; nothing written */
    VN_STORE_FULL = 2,      /* a bound the caller passed would be exceeded; nothing written */
    VN_STORE_ERROR = -1,    /* the storage failed or the call broke the data model (an
                             * owner that does not exist, a duplicate id, an argument out
                             * of range); logged by the backend with the reason; nothing
                             * of the call was written */
};

/* The [store] configuration keys (store/config_keys.c), walked by the
 * configuration loader like every other table. */
extern const vn_cfg_key_t vn_store_config_keys[];

/* Opens the backend named by cfg->store_backend ([store] backend; NULL
 * means the default, "sqlite") with what it needs from the configuration
 * (SQLite: its file under cfg->data_dir, created 0700 when missing, and
 * pending schema migrations applied). Returns NULL and a malloc'd *err on
 * failure, also for a backend this build does not have (the message names
 * it and the ones it has). */
vn_store_t *vn_store_open(const vn_config_t *cfg, char **err);
void vn_store_close(vn_store_t *st);
/* The name of the backend that opened st ("sqlite"); static. */
const char *vn_store_backend_name(const vn_store_t *st);
/* Current schema version (for tests and `vestnikctl`). 0 or -1. */
int vn_store_schema_version(vn_store_t *st, int *version);
/* Default (off): a committed write survives kill -9 of the process but the
 * last commits can be lost on power failure or kernel crash. On: every commit
 * is fsync'd (survives power loss, costs one fsync per write). 0 or -1. */
int vn_store_set_synchronous_full(vn_store_t *st, int on);

/* Group commit: the operations between begin and commit share one
 * transaction (each is still atomic on its own), so a burst of writes costs
 * one fsync. Nothing in the group is durable before vn_store_group_commit()
 * returns 0; on -1 everything in it was rolled back and must be redone
 * (vestnikd re-runs each job alone). Groups do not nest: begin inside a
 * group, or commit outside one, returns -1. 0 or -1. */
int vn_store_group_begin(vn_store_t *st);
int vn_store_group_commit(vn_store_t *st);

/* ---- accounts ---- */

/* Credentials, kept for the authentication code (xmpp/scram.c,
 * vestnikctl), which derives them from passwords and checks them; the store
 * never interprets them. A slot is a salted verifier: a salt, an iteration
 * count and two keys of the same length. What a slot means is the caller's
 * (vestnik: slot h holds the SCRAM verifier, RFC 5802 §3, for
 * vn_scram_hash_t h; key[0] is StoredKey and key[1] ServerKey). */
#define VN_STORE_CRED_SLOTS 2
#define VN_STORE_CRED_BYTES 64 /* most bytes of a salt or of one key */

typedef struct vn_store_cred {
    uint32_t iterations; /* 0: the slot is empty (its other fields are ignored) */
    size_t salt_len;
    uint8_t salt[VN_STORE_CRED_BYTES];
    size_t key_len; /* of each key, 1..VN_STORE_CRED_BYTES */
    uint8_t key[2][VN_STORE_CRED_BYTES];
} vn_store_cred_t;

typedef struct vn_account {
    char jid[1024]; /* bare JID, normalised */
    vn_store_cred_t cred[VN_STORE_CRED_SLOTS];
} vn_account_t;

/* 0 found (*out filled), 1 no such account, -1 error (also a JID longer
 * than vn_account_t.jid, or a stored row the fields cannot hold). */
int vn_store_account_get(vn_store_t *st, const char *jid, vn_account_t *out);
/* 0 created, 1 already exists, -1 error (also a slot whose lengths are out
 * of range: refused, never truncated). */
int vn_store_account_create(vn_store_t *st, const vn_account_t *acct);
/* Replaces the credentials. 0 updated, 1 no such account, -1 error. */
int vn_store_account_set_creds(vn_store_t *st, const vn_account_t *acct);
/* Deletes the account and everything it owns (see above).
 * 0 deleted, 1 no such account, -1 error. */
int vn_store_account_delete(vn_store_t *st, const char *jid);
/* Calls cb for each account (sorted by JID); domain NULL lists all. 0 or -1. */
int vn_store_account_list(vn_store_t *st, const char *domain,
                          void (*cb)(const char *jid, void *ud), void *ud);

/* ---- roster (RFC 6121 §2, with XEP-0237 versioning) ---- */
typedef enum {
    VN_SUB_NONE = 0,
    VN_SUB_TO = 1,   /* the owner receives the contact's presence */
    VN_SUB_FROM = 2, /* the contact receives the owner's presence */
    VN_SUB_BOTH = 3,
} vn_subscription_t;

typedef struct vn_roster_item {
    char *contact;      /* bare JID */
    char *name;         /* NULL when unset */
    vn_subscription_t subscription;
    int ask_out;        /* owner sent subscribe, not yet answered ("ask='subscribe'") */
    int pending_in;     /* contact asked to subscribe, owner has not answered */
    int approved;       /* pre-approved (RFC 6121 §3.4) */
    int in_roster;      /* 0: row exists only to remember pending_in (not shown in the roster) */
    char **groups;      /* NULL-terminated array, may be NULL */
    char *pending_stanza; /* the subscribe stanza to redeliver at login (XML), or NULL */
} vn_roster_item_t;

/* Roster version: a per-owner counter bumped by every change (XEP-0237).
 * Calls cb for every row of the owner (including in_roster == 0 rows),
 * sorted by contact; *version is the version those rows have (0 when the
 * owner never had a change, also when there is no such account). The item
 * and its strings are valid only during the callback. 0 or -1. */
int vn_store_roster_load(vn_store_t *st, const char *owner, uint64_t *version,
                         void (*cb)(const vn_roster_item_t *item, void *ud), void *ud);
/* 0 found, 1 not found, -1 error. On 0, *out must be released with
 * vn_roster_item_free_fields() (its groups are never NULL then). */
int vn_store_roster_get(vn_store_t *st, const char *owner, const char *contact,
                        vn_roster_item_t *out);
/* Inserts or replaces the row (groups included); bumps the version and
 * stores the new one in *new_version (may be NULL). 0 or -1. */
int vn_store_roster_put(vn_store_t *st, const char *owner, const vn_roster_item_t *item,
                        uint64_t *new_version);
/* 0 removed (version bumped, *new_version set), 1 not found (version
 * unchanged), -1 error. */
int vn_store_roster_delete(vn_store_t *st, const char *owner, const char *contact,
                           uint64_t *new_version);
/* How many rows the owner has: *items shown in the roster (in_roster), and
 * *pending that exist only for a pending inbound request (in_roster == 0).
 * For the per-account limits; one index range. 0 or -1. */
int vn_store_roster_count(vn_store_t *st, const char *owner, int64_t *items, int64_t *pending);
/* Frees what vn_store_roster_get allocated in *item and zeroes it (not a
 * storage call: any thread, no store). */
void vn_roster_item_free_fields(vn_roster_item_t *item);

/* ---- offline messages (RFC 6121 §8.5.2.2.1 / XEP-0160) ---- */
/* Appends a serialised stanza to the owner's queue; *id (may be NULL)
 * receives its row id, which increases with every push and is never
 * reused. 0 or -1. */
int vn_store_offline_push(vn_store_t *st, const char *owner, const char *xml, size_t len,
                          int64_t *id);
/* Calls cb for each queued stanza of owner in arrival order, without
 * removing it. 0 or -1. */
int vn_store_offline_load(vn_store_t *st, const char *owner,
                          void (*cb)(int64_t id, const char *xml, size_t len, void *ud), void *ud);
/* Removes the queued stanzas with id <= up_to_id (none is fine). 0 or -1. */
int vn_store_offline_delete(vn_store_t *st, const char *owner, int64_t up_to_id);
/* Number of queued stanzas (for limits). 0 or -1. */
int vn_store_offline_count(vn_store_t *st, const char *owner, int64_t *count);

/* ---- message archive (XEP-0313, schema migration 2) ---- */
typedef struct vn_archive_item {
    int64_t seq;        /* storage order, increasing per owner */
    const char *id;     /* the XEP-0359 stanza-id, unique per owner */
    int64_t ts_us;      /* UTC microseconds when archived */
    const char *with;   /* the other party, bare JID */
    const char *xml;    /* the archived message */
    size_t len;
} vn_archive_item_t;

/* Appends a message to owner's archive, after everything appended to it
 * before. 0, or -1 (also: no such owner, or id already in its archive). */
int vn_store_archive_append(vn_store_t *st, const char *owner, const char *id, int64_t ts_us,
                            const char *with, const char *xml, size_t len);

typedef struct vn_archive_query {
    const char *with;      /* NULL: any; else exact bare JID match */
    int64_t start_us;      /* 0: unbounded */
    int64_t end_us;        /* 0: unbounded */
    const char *after_id;  /* RSM <after/>: items strictly after this id */
    const char *before_id; /* RSM <before>id</before>: items strictly before it */
    int last_page;         /* RSM <before/> (empty): the last page */
    int max;               /* page size, 0 or more */
} vn_archive_query_t;

typedef struct vn_archive_page {
    int count;             /* items delivered to the callback */
    int complete;          /* no more items in the paging direction */
    int after_not_found;   /* after_id/before_id does not exist: item-not-found */
    int64_t total;         /* items matching the filters (RSM <count/>) */
} vn_archive_page_t;

/* Calls cb for the page in chronological order (also for a last-page
 * query). Items are valid during the callback only. Cost is bounded by the
 * page size through indexes (owner, seq) / (owner, with, seq) /
 * (owner, ts) — never by the archive size. 0 (*page filled; an unknown
 * after_id/before_id is 0 with page->after_not_found set and no callback)
 * or -1 (*page zeroed). */
int vn_store_archive_query(vn_store_t *st, const char *owner, const vn_archive_query_t *q,
                           void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                           vn_archive_page_t *page);
/* Deletes items older than before_us (retention), of every owner; *deleted
 * (may be NULL) gets the count, also on -1 (what was deleted before the
 * failure stays deleted: retention runs in small transactions). 0 or -1. */
int vn_store_archive_expire(vn_store_t *st, int64_t before_us, int64_t *deleted);

/* Archiving preferences (XEP-0313 §7): default "always" | "never" | "roster"
 * and the always/never JID lists, each newline-separated (may be empty). */
typedef struct vn_archive_prefs {
    char default_mode[8];
    char *always; /* malloc'd by get; caller frees */
    char *never;
} vn_archive_prefs_t;
/* 0 found, 1 none stored (defaults apply), -1 error. *out is defined on
 * every return (empty mode, NULL lists unless found), so freeing its lists
 * is always safe. */
int vn_store_archive_prefs_get(vn_store_t *st, const char *owner, vn_archive_prefs_t *out);
/* Stores (replaces) them. 0 or -1 (also a default mode that is none of
 * the three). */
int vn_store_archive_prefs_set(vn_store_t *st, const char *owner, const vn_archive_prefs_t *p);

/* ---- blocking (XEP-0191, schema migration 2) ---- */
/* Calls cb for each blocked JID of owner (sorted). 0 or -1. */
int vn_store_block_list(vn_store_t *st, const char *owner, void (*cb)(const char *jid, void *ud),
                        void *ud);
/* Adds (idempotent: a JID already blocked is 0 too). 0 or -1. */
int vn_store_block_add(vn_store_t *st, const char *owner, const char *jid);
/* Removes one JID, or all when jid is NULL (idempotent). 0 or -1. */
int vn_store_block_remove(vn_store_t *st, const char *owner, const char *jid);

#endif

/* Storage interface: accounts, rosters, offline messages.
 *
 * store knows no XMPP: it stores rows and blobs keyed by strings that the
 * caller has already normalised (bare JIDs as UTF-8). A backend implements
 * these functions; SQLite (store_sqlite.c) is the embedded default.
 *
 * Threading: a vn_store_t is used by one thread at a time. vestnikd runs
 * every storage call on its single storage thread (FIFO, so the order of
 * writes is the order of submission); vestnikctl calls it directly.
 *
 * Durability: a call that returns success has committed its transaction;
 * the data survives kill -9 of the process.
 *
 * Return convention: 0 success, 1 not found / already exists (documented per
 * call), -1 storage error (the message is logged by the backend).
 *
 * Callbacks (account_list, roster_load, offline_load) run while the backend
 * is still reading; they must not call into the same store (such a call
 * fails with -1). Copy what you need and act after the call returns.
 *
 * Rows owned by an account (roster, offline messages) require the account to
 * exist: writing them for an unknown owner fails with -1. */
#ifndef VN_STORE_STORE_H
#define VN_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "xmpp/scram.h"

typedef struct vn_store vn_store_t;

/* Opens (creating when missing) the store under data_dir and applies pending
 * schema migrations. Returns NULL and a malloc'd *err on failure. */
vn_store_t *vn_store_open(const char *data_dir, char **err);
void vn_store_close(vn_store_t *st);
/* Current schema version (for tests and `vestnikctl`). */
int vn_store_schema_version(vn_store_t *st);
/* Default (off): a committed write survives kill -9 of the process but the
 * last commits can be lost on power failure or kernel crash. On: every commit
 * is fsync'd (survives power loss, costs one fsync per write). 0 or -1. */
int vn_store_set_synchronous_full(vn_store_t *st, int on);

/* Group commit: the operations between begin and commit share one
 * transaction (each is still atomic on its own through a savepoint), so a
 * burst of writes costs one fsync. Nothing in the group is durable before
 * vn_store_group_commit() returns 0; on -1 everything in it was rolled
 * back and must be redone (vestnikd re-runs each job alone). */
int vn_store_group_begin(vn_store_t *st);
int vn_store_group_commit(vn_store_t *st);

/* ---- accounts ---- */
typedef struct vn_account {
    char jid[1024];                       /* bare JID, normalised */
    vn_scram_creds_t scram[VN_SCRAM_NHASH]; /* indexed by vn_scram_hash_t */
} vn_account_t;

/* 0 found, 1 no such account, -1 error. */
int vn_store_account_get(vn_store_t *st, const char *jid, vn_account_t *out);
/* 0 created, 1 already exists, -1 error. */
int vn_store_account_create(vn_store_t *st, const vn_account_t *acct);
/* Replaces the credentials. 0 updated, 1 no such account, -1 error. */
int vn_store_account_set_creds(vn_store_t *st, const vn_account_t *acct);
/* Deletes the account and everything it owns (roster, offline messages).
 * 0 deleted, 1 no such account, -1 error. */
int vn_store_account_delete(vn_store_t *st, const char *jid);
/* Calls cb for each account (sorted by JID); domain NULL lists all. */
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
 * Calls cb for every row of the owner (including in_roster == 0 rows). The
 * item and its strings are valid only during the callback. */
int vn_store_roster_load(vn_store_t *st, const char *owner, uint64_t *version,
                         void (*cb)(const vn_roster_item_t *item, void *ud), void *ud);
/* 0 found, 1 not found, -1 error. On success *out must be released with
 * vn_roster_item_free_fields(). */
int vn_store_roster_get(vn_store_t *st, const char *owner, const char *contact,
                        vn_roster_item_t *out);
/* Inserts or replaces the row; bumps and returns the new version. */
int vn_store_roster_put(vn_store_t *st, const char *owner, const vn_roster_item_t *item,
                        uint64_t *new_version);
/* 0 removed, 1 not found, -1 error; bumps the version on removal. */
int vn_store_roster_delete(vn_store_t *st, const char *owner, const char *contact,
                           uint64_t *new_version);
/* How many rows the owner has: *items shown in the roster (in_roster), and
 * *pending that exist only for a pending inbound request (in_roster == 0).
 * For the per-account limits; one index range. 0 or -1. */
int vn_store_roster_count(vn_store_t *st, const char *owner, int64_t *items, int64_t *pending);
void vn_roster_item_free_fields(vn_roster_item_t *item);

/* ---- offline messages (RFC 6121 §8.5.2.2.1 / XEP-0160) ---- */
/* Appends a serialised stanza to the owner's queue. *id receives its row id. */
int vn_store_offline_push(vn_store_t *st, const char *owner, const char *xml, size_t len,
                          int64_t *id);
/* Calls cb for each queued stanza of owner in arrival order, without removing it. */
int vn_store_offline_load(vn_store_t *st, const char *owner,
                          void (*cb)(int64_t id, const char *xml, size_t len, void *ud), void *ud);
/* Removes the queued stanzas with id <= up_to_id. */
int vn_store_offline_delete(vn_store_t *st, const char *owner, int64_t up_to_id);
/* Number of queued stanzas (for limits). */
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

/* Appends a message to owner's archive. 0 ok, -1 error (owner must exist). */
int vn_store_archive_append(vn_store_t *st, const char *owner, const char *id, int64_t ts_us,
                            const char *with, const char *xml, size_t len);

typedef struct vn_archive_query {
    const char *with;      /* NULL: any; else exact bare JID match */
    int64_t start_us;      /* 0: unbounded */
    int64_t end_us;        /* 0: unbounded */
    const char *after_id;  /* RSM <after/>: items strictly after this id */
    const char *before_id; /* RSM <before>id</before>: items strictly before it */
    int last_page;         /* RSM <before/> (empty): the last page */
    int max;               /* page size, 1..max */
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
 * (owner, ts) — never by the archive size. */
int vn_store_archive_query(vn_store_t *st, const char *owner, const vn_archive_query_t *q,
                           void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                           vn_archive_page_t *page);
/* Deletes items older than before_us (retention); *deleted gets the count. */
int vn_store_archive_expire(vn_store_t *st, int64_t before_us, int64_t *deleted);

/* Archiving preferences (XEP-0313 §7): default "always" | "never" | "roster"
 * and the always/never JID lists, each newline-separated (may be empty). */
typedef struct vn_archive_prefs {
    char default_mode[8];
    char *always; /* malloc'd by get; caller frees */
    char *never;
} vn_archive_prefs_t;
/* 0 found, 1 none stored (defaults apply), -1 error. */
int vn_store_archive_prefs_get(vn_store_t *st, const char *owner, vn_archive_prefs_t *out);
int vn_store_archive_prefs_set(vn_store_t *st, const char *owner, const vn_archive_prefs_t *p);

/* ---- blocking (XEP-0191, schema migration 2) ---- */
/* Calls cb for each blocked JID of owner (sorted). */
int vn_store_block_list(vn_store_t *st, const char *owner, void (*cb)(const char *jid, void *ud),
                        void *ud);
/* Adds (idempotent). 0 ok, -1 error. */
int vn_store_block_add(vn_store_t *st, const char *owner, const char *jid);
/* Removes one JID, or all when jid is NULL. 0 ok, -1 error. */
int vn_store_block_remove(vn_store_t *st, const char *owner, const char *jid);

#endif

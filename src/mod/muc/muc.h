/* XEP-0045 multi-user chat: what the files of src/mod/muc share.
 *
 *   service.c      the module, the component's stanza dispatch, disco
 *   room.c         rooms: lifetime, lookup, lazy load and persistence
 *   occupants.c    join, nick change, presence, leave, removal (§7.1-7.3, §8.2)
 *   fanout.c       broadcast to every occupant in chunks, one serialisation
 *   message.c      groupchat, subject, private messages, invitations, IQ relay
 *   history.c      the bounded in-memory history and history on join (§7.2.15)
 *   config_form.c  muc#owner: the room configuration form, destruction (§10)
 *   admin.c        muc#admin: roles and affiliations (§8, §9)
 *   archive.c      XEP-0313 on the room JID (shares mod/mam_query.c)
 *   register.c     nick registration (§7.10), x-roomuser-item (§7.2.4)
 *
 * Threading: everything here runs on the loop thread; storage goes through
 * storage jobs (store/store_muc.h); those that write or load a room are
 * ordered jobs of the room's JID (xmpp/server.h), so its row, its
 * affiliations and its archive are written in the order they were
 * submitted.
 *
 * Ownership: the service owns its rooms (map by bare JID); a room owns its
 * occupants, history and pending broadcasts. A room that is destroyed or
 * emptied leaves the map at once and is freed when its last reference (a
 * pending broadcast, a storage job) goes. */
#ifndef VN_MOD_MUC_MUC_H
#define VN_MOD_MUC_MUC_H

#include <stdint.h>

#include "core/buf.h"
#include "core/loop.h"
#include "core/map.h"
#include "xmpp/module.h"

#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_ADMIN "http://jabber.org/protocol/muc#admin"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define NS_DATA "jabber:x:data"
#define NS_DELAY "urn:xmpp:delay"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_PING "urn:xmpp:ping"
#define NS_CONFERENCE "jabber:x:conference"

/* Limits (hostile input gets a clear error). */
#define MUC_NICK_MAX 128     /* bytes of a nickname */
#define MUC_SUBJECT_MAX 1024 /* bytes of a subject */
#define MUC_TEXT_MAX 1024    /* room name, description, password */
#define MUC_REASON_MAX 512
#define MUC_CHUNK 500        /* deliveries per loop turn in a broadcast */
#define MUC_PENDING_MAX 1000 /* stanzas waiting for a room to load */

typedef enum { AFF_OUTCAST = -1, AFF_NONE = 0, AFF_MEMBER, AFF_ADMIN, AFF_OWNER } muc_aff_t;
typedef enum { ROLE_NONE = 0, ROLE_VISITOR, ROLE_PARTICIPANT, ROLE_MODERATOR } muc_role_t;

typedef struct muc_config {
    char *name, *desc, *secret; /* malloc'd, "" when unset */
    int persistent, is_public, members_only, moderated, password_protected;
    int max_users;
    int whois_anyone; /* non-anonymous (§4.2) */
    int change_subject, allow_invites;
    int allow_pm; /* 0 nobody, 1 anyone, 2 moderators */
    int logging;  /* room archive (XEP-0313) when persistent */
    int history_length;
    /* muc#roomconfig_presencebroadcast: bit (1 << role) set when the
     * presence of occupants with that role goes to the others. */
    int pres_broadcast;
} muc_config_t;

#define MUC_PB_ALL ((1 << ROLE_VISITOR) | (1 << ROLE_PARTICIPANT) | (1 << ROLE_MODERATOR))

typedef struct muc_room muc_room_t;
typedef struct muc_service muc_service_t;

/* One joined session. An occupant (a nick) is one session, or several
 * sessions of the same bare JID that joined with the same nick (a phone
 * and a desktop): they form a ring through `sib` and share `id` and role.
 * The room shows one occupant; every session gets the room's traffic;
 * room->by_nick maps the nick to one of them (the "main" session). */
typedef struct muc_occ {
    muc_room_t *room;
    struct muc_occ *sib; /* next session of the same occupant; itself when alone */
    uint64_t id;         /* the occupant's id, shared by its sessions */
    size_t slot;         /* index in room->occ */
    char *nick;          /* resourcepart (normalised) */
    char *jid;           /* real full JID */
    char *jid_esc;       /* the same, escaped for an attribute */
    char *bare;          /* real bare JID */
    vn_jid_t rjid;       /* parsed real JID (malloc'd parts) */
    vn_session_t *sess;  /* cached session of rjid (referenced), or NULL */
    /* The occupants that cache a session are listed from the session's
     * slot (muc_sess_list_t), so that its end releases every reference
     * at once (shutdown waits for sessions to be freed). */
    struct muc_occ *snext, **spprev;
    muc_role_t role;
    /* The others were told this occupant is present (its role is broadcast,
     * muc#roomconfig_presencebroadcast); shared by its sessions. */
    unsigned shown : 1;
    /* Leaving by its own unavailable presence (§7.14): the payload kept
     * below is that presence's (the exit status), passed on. */
    unsigned leaving : 1;
    vn_arena_t *pres;    /* arena of the presence payload below */
    vn_xnode_t *payload; /* a <presence/> holding show/status/caps..., no muc x */
} muc_occ_t;

typedef struct muc_hist {
    int64_t ts_us;
    char *xml; /* the groupchat message without 'to', standalone */
    size_t len;
} muc_hist_t;

typedef struct muc_bcast muc_bcast_t;

/* A stanza waiting for a room's storage lookup. When it came from a local
 * client's stream, that stream is held (parser suspended, `held`
 * referenced) until the stanza has been handled, so that anything the
 * stanza writes (the room archive) is submitted before what the client
 * sends next: a XEP-0198 <r/> behind it is answered only once that is
 * stored (mod/sm.c barrier). */
typedef struct muc_pending {
    vn_stanza_t *st;
    vn_session_t *held;
} muc_pending_t;

struct muc_room {
    muc_service_t *svc;
    char *jid; /* bare, normalised */
    muc_config_t cfg;
    unsigned exists : 1;        /* a real room (not a placeholder while loading) */
    unsigned loading : 1;       /* lookup in storage under way (the room, or a quota) */
    unsigned locked : 1;        /* created, not configured yet (§10.1.1) */
    unsigned stored : 1;        /* has a row in storage */
    unsigned dead : 1;          /* left the service's map */
    unsigned quota_counted : 1; /* counted in svc->created */
    int refs;
    muc_pending_t *pending; /* stanzas that arrived while loading, in order */
    int npending;
    vn_map_t *affs; /* bare JID -> (intptr_t)muc_aff_t, never AFF_NONE */
    /* Nicks reserved by registering (§7.10), both ways (malloc'd strings);
     * NULL until the first one. Only affiliated JIDs hold one. */
    vn_map_t *reg_nick;       /* bare JID -> nick */
    vn_map_t *reg_jid;        /* nick -> bare JID */
    vn_map_t *by_nick;        /* nick -> muc_occ_t* */
    vn_map_t *by_jid;         /* real full JID -> muc_occ_t* */
    muc_occ_t **occ;          /* slots; NULL where an occupant left */
    size_t nslots, cap, nocc; /* nocc counts sessions; by_nick has the occupants */
    uint64_t next_occ_id;
    char *subject, *subject_by; /* NULL when never set */
    char *creator;              /* bare JID that created it (room quota) */
    char *quota_for;            /* bare JID whose stored rooms were counted */
    int quota_stored;           /* that count */
    muc_hist_t *hist;           /* ring of cfg.history_length */
    int hist_start, hist_len, hist_cap;
    muc_bcast_t *bq_head, *bq_tail;
    vn_timer_t timer; /* continues a broadcast on the next loop turn */
    unsigned timer_armed : 1;
};

/* What a session's MUC slot holds: the occupants caching it. A struct of
 * its own, so that a XEP-0198 resumption, which moves slots to the new
 * session, moves the list with them. */
typedef struct muc_sess_list {
    muc_occ_t *first;
} muc_sess_list_t;

struct muc_service {
    vn_server_t *srv;
    char *domain;
    vn_map_t *rooms;   /* bare JID -> muc_room_t* */
    vn_map_t *created; /* creator bare JID -> (intptr_t) rooms alive and not stored */
    uint64_t deliveries;
    int slot; /* session slot: muc_sess_list_t* */
};

/* ---- service.c ---- */
extern muc_service_t *muc_svc;
void muc_dispatch_room(muc_room_t *r, vn_stanza_t *st);
void muc_error(vn_stanza_t *st, const char *type, const char *cond, const char *text);

/* ---- room.c ---- */
muc_room_t *muc_room_find(const char *jid);
muc_room_t *muc_room_new(const char *jid);
void muc_room_ref(muc_room_t *r);
void muc_room_unref(muc_room_t *r);
/* Leaves the map; freed when unreferenced. */
void muc_room_remove(muc_room_t *r);
/* Removes the room if nobody is in it and nothing needs it in memory. */
void muc_room_maybe_gone(muc_room_t *r);
void muc_room_load(muc_room_t *r);
/* Keeps a copy of st until the room's lookup is done (holding the
 * sender's stream, see muc_pending_t); answers an error when too many
 * wait. */
void muc_room_defer(muc_room_t *r, vn_stanza_t *st);
/* Counts the rooms `bare` owns in storage (room quota, [muc]
 * max_rooms_per_user); the room waits meanwhile (loading), and the
 * stanza that asked is deferred by the caller. */
void muc_room_quota_lookup(muc_room_t *r, const char *bare);
/* Rooms `bare` may still create: stored rooms it owns plus rooms it created
 * that are in memory only, against the limit. */
int muc_room_quota_ok(muc_room_t *r, const char *bare);
/* Keeps svc->created in step with r (after creator, stored or dead change). */
void muc_room_quota_sync(muc_room_t *r);
muc_aff_t muc_aff_of(const muc_room_t *r, const char *bare);
void muc_aff_put(muc_room_t *r, const char *bare, muc_aff_t a, const char *reason);
const char *muc_aff_name(muc_aff_t a);
int muc_aff_parse(const char *s, muc_aff_t *out);
const char *muc_role_name(muc_role_t r);
int muc_role_parse(const char *s, muc_role_t *out);
void muc_config_defaults(muc_config_t *c);
void muc_config_free(muc_config_t *c);
/* Writes the room row (config, subject) when persistent, or deletes it
 * when it stopped being persistent. */
void muc_room_save(muc_room_t *r);
void muc_room_delete_stored(muc_room_t *r);
int muc_room_archiving(const muc_room_t *r);
void muc_rooms_free_all(void);

/* ---- occupants.c ---- */
void muc_on_presence(muc_room_t *r, vn_stanza_t *st);
muc_occ_t *muc_occ_by_jid(const muc_room_t *r, const vn_jid_t *full);
/* Builds the presence of o as seen by others (to= placeholder first). */
vn_stanza_t *muc_presence_of(muc_occ_t *o, int with_jid, const char *type, const int *codes,
                             int ncodes, const char *new_nick, const char *reason,
                             const char *actor);
/* Sends o's presence with codes to every occupant (the self copy with
 * 110), for a change of role or affiliation, or removal when type is
 * "unavailable" (then o is freed). */
void muc_occ_broadcast(muc_occ_t *o, const char *type, const int *codes, int ncodes,
                       const char *reason, const char *actor);
/* Removes the whole occupant (every session of it): unavailable with
 * codes to the others, with 110 to each of its sessions; frees them. */
void muc_occ_remove(muc_occ_t *o, const int *codes, int ncodes, const char *reason,
                    const char *actor);
/* One session of the occupant leaves (with codes, e.g. 333): the occupant
 * stays while another of its sessions remains, else it is removed. */
void muc_occ_leave(muc_occ_t *o, const int *codes, int ncodes);
/* Sets the role of every session of the occupant. */
void muc_occ_set_role(muc_occ_t *o, muc_role_t role);
/* Is o the session room->by_nick names for its occupant? */
int muc_occ_is_main(const muc_occ_t *o);
muc_role_t muc_default_role(const muc_room_t *r, muc_aff_t a);
int muc_sees_jid(const muc_room_t *r, const muc_occ_t *viewer);
/* Is the presence of occupants with that role broadcast? */
int muc_role_broadcast(const muc_room_t *r, muc_role_t role);
/* After a change of the room's presencebroadcast: the others see o arrive
 * (available) or leave (unavailable) when its visibility changed. */
void muc_occ_sync_shown(muc_occ_t *o);

/* ---- fanout.c ---- */
#define MUC_TO_PLACEHOLDER "\x7f"
/* Queues st (with to=MUC_TO_PLACEHOLDER) for every current
 * session except those of the occupant `except`; st_anon (or NULL) is what occupants that may
 * not see real JIDs get instead. Takes ownership of both. */
void muc_broadcast(muc_room_t *r, vn_stanza_t *st, vn_stanza_t *st_anon, const muc_occ_t *except);
/* Sends a stanza built by the room to one session's real JID. Takes it. */
void muc_send_to(muc_occ_t *o, vn_stanza_t *st);
/* The same to every session of o's occupant. Takes it. */
void muc_send_to_all(muc_occ_t *o, vn_stanza_t *st);
/* A new stanza from the room (or room/nick) with to=placeholder. */
vn_stanza_t *muc_stanza_new(const char *name, muc_room_t *r, const char *nick);
void muc_fanout_drop(muc_room_t *r);
/* The occupant's session, found once through the router and then kept
 * (referenced) while it lives; NULL when it has none. */
vn_session_t *muc_occ_session(muc_occ_t *o);
/* Drops o's cached session (and its reference). */
void muc_occ_forget_session(muc_occ_t *o);
/* A session leaves the router: every occupant caching it lets it go. */
void muc_session_end(vn_session_t *s);
/* Frees an occupant (already unlinked from its room). */
void muc_occ_free(muc_occ_t *o);

/* ---- message.c ---- */
void muc_on_message(muc_room_t *r, vn_stanza_t *st);
void muc_on_occupant_iq(muc_room_t *r, vn_stanza_t *st);

/* ---- history.c ---- */
void muc_hist_add(muc_room_t *r, int64_t ts_us, const char *xml, size_t len);
void muc_hist_resize(muc_room_t *r, int cap);
void muc_hist_free(muc_room_t *r);
/* Sends history per the join's <history/> element (may be NULL). */
void muc_hist_send(muc_room_t *r, muc_occ_t *o, const vn_xnode_t *history);

/* ---- config_form.c ---- */
void muc_on_owner_iq(muc_room_t *r, vn_stanza_t *st);
/* Destroys the room: occupants get <destroy/>, storage forgets it. */
void muc_room_destroy(muc_room_t *r, const char *alt, const char *reason);

/* ---- admin.c ---- */
void muc_on_admin_iq(muc_room_t *r, vn_stanza_t *st);

/* ---- register.c ---- */
#define NS_REGISTER "jabber:iq:register"
/* jabber:iq:register to the room (§7.10): the form, registering, <remove/>. */
void muc_on_register_iq(muc_room_t *r, vn_stanza_t *st);
/* disco#info with node='x-roomuser-item' (§7.2.4): the asker's reserved nick. */
void muc_roomuser_item(muc_room_t *r, vn_stanza_t *st);
/* The nick bare reserved, or NULL. */
const char *muc_reg_nick(const muc_room_t *r, const char *bare);
/* The bare JID that reserved nick, or NULL. */
const char *muc_reg_holder(const muc_room_t *r, const char *nick);
/* Sets (nick NULL: drops) bare's reservation in memory only (room loading;
 * an affiliation that went away). */
void muc_reg_put(muc_room_t *r, const char *bare, const char *nick);
/* Writes every reservation to storage (a room stored for the first time,
 * after its affiliations). */
void muc_reg_store_all(muc_room_t *r);
void muc_reg_free(muc_room_t *r);

/* ---- admin.c ---- */
/* Sets bare's affiliation with the effects on its occupants that a
 * muc#admin change has (§9: removal from a members-only room, role and
 * presence updates). */
void muc_aff_change(muc_room_t *r, const char *bare, muc_aff_t aff, const char *reason,
                    const char *actor);

/* ---- archive.c ---- */
void muc_archive_append(muc_room_t *r, const char *id, int64_t ts_us, const char *with,
                        const char *xml, size_t len);
void muc_on_mam_iq(muc_room_t *r, vn_stanza_t *st);

#endif

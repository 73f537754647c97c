/* Parsers of client-controlled input in src/mod/muc, exposed for the fuzz
 * targets (fuzz/fuzz_muc.c) and unit tests. Internal to src/mod/muc
 * otherwise: the module itself reaches them through muc.h's entry points. */
#ifndef VN_MOD_MUC_FORM_H
#define VN_MOD_MUC_FORM_H

#include <stdint.h>

#include "mod/muc/muc.h"

/* config_form.c: applies a submitted muc#roomconfig form x to c (a copy of
 * r's configuration; r gives the server limits). NULL, or the error text. */
const char *muc_form_apply(muc_room_t *r, vn_arena_t *a, const vn_xnode_t *x, muc_config_t *c);

/* room.c: the stored configuration, "key=value" lines (malloc'd), and its
 * decoder (unknown keys ignored, limits applied). */
char *muc_config_text(const muc_config_t *c);
void muc_config_parse(muc_config_t *c, const char *text);

/* history.c: index in r's history of the first message a joiner with that
 * <history/> (may be NULL) gets at now_us (r->hist_len: none). */
int muc_hist_first(const muc_room_t *r, const vn_xnode_t *history, int64_t now_us);

/* admin.c: one muc#admin <item/> of a set, checked before anything changes. */
typedef struct muc_change {
    const vn_xnode_t *item;
    int by_role;
    muc_role_t role;
    muc_aff_t aff;
    muc_occ_t *occ; /* role changes */
    char *jid;      /* affiliation changes: bare */
    const char *reason;
} muc_change_t;

/* NULL when c->item may be applied by someone with my_aff/my_role, else the
 * error condition with *type (and maybe *text) set. */
const char *muc_admin_check(muc_room_t *r, vn_stanza_t *st, muc_aff_t my_aff, muc_role_t my_role,
                            muc_change_t *c, const char **type, const char **text);

#endif

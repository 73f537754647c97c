/* The modules compiled into vestnikd, in registration order. Adding a
 * protocol extension means adding its file under src/mod and one line here. */
#include "xmpp/module.h"

extern const vn_module_t vn_mod_disco, vn_mod_ping, vn_mod_version, vn_mod_time;
extern const vn_module_t vn_mod_roster, vn_mod_presence, vn_mod_offline, vn_mod_sm;
extern const vn_module_t vn_mod_mam;
extern const vn_module_t vn_mod_carbons, vn_mod_csi, vn_mod_blocking;
extern const vn_module_t vn_mod_pep, vn_mod_pubsub;
extern const vn_module_t vn_mod_muc;
extern const vn_module_t vn_mod_vcard, vn_mod_vcard_update, vn_mod_private;
extern const vn_module_t vn_mod_avatar_sync, vn_mod_bookmarks_compat;
extern const vn_module_t vn_mod_last, vn_mod_contact_info;

const vn_module_t *const vn_builtin_modules[] = {
    &vn_mod_disco, &vn_mod_ping, &vn_mod_version, &vn_mod_time,
    &vn_mod_roster, &vn_mod_presence, &vn_mod_mam, &vn_mod_offline, &vn_mod_sm,
    &vn_mod_carbons, &vn_mod_csi, &vn_mod_blocking,
    &vn_mod_pep, &vn_mod_pubsub,
    &vn_mod_muc,
    &vn_mod_vcard, &vn_mod_vcard_update, &vn_mod_private,
    &vn_mod_avatar_sync, &vn_mod_bookmarks_compat,
    &vn_mod_last, &vn_mod_contact_info,
    NULL,
};

/* The [store] configuration keys, walked by the configuration loader like
 * every other table (xmpp/module.c vn_config_tables). */
#include <stddef.h>

#include "store/store.h"

const vn_cfg_key_t vn_store_config_keys[] = {
    {"store", "backend", VN_CFG_STR, offsetof(vn_config_t, store_backend), "sqlite", .min = 1,
     .help = "Where accounts, rosters, messages and all other data are kept. sqlite (the only "
             "backend of this build): one file, data_dir/vestnik.db, in WAL mode, which "
             "vestnikctl may open while the server runs. A backend this build does not have "
             "stops vestnikd and vestnikctl at start."},
    {NULL},
};

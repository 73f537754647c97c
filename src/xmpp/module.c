#include "xmpp/module.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/store.h"
#include "xmpp/jid.h"

/* Hooks sorted by priority, built once from the module tables. */
typedef struct hook_entry {
    const vn_hook_t *hook;
} hook_entry_t;

static hook_entry_t *hooks[VN_HOOK_COUNT];
static int nhooks[VN_HOOK_COUNT];
static vn_buf_t stream_features;
static int next_slot;

int vn_slot_alloc(void)
{
    if (next_slot >= VN_USER_SLOTS) {
        vn_error("too many module slots");
        abort();
    }
    return next_slot++;
}

static int by_priority(const void *a, const void *b)
{
    const hook_entry_t *x = a, *y = b;
    return y->hook->priority - x->hook->priority;
}

/* The modules that are on (init returned 0), in registration order. */
static const vn_module_t *active[64];
static int nactive;

int vn_modules_init(vn_server_t *srv)
{
    nactive = 0;
    for (int i = 0; vn_builtin_modules[i]; i++) {
        const vn_module_t *m = vn_builtin_modules[i];
        int r = m->init ? m->init(srv) : 0;
        if (r < 0) {
            vn_error("module %s failed to start", m->name);
            return -1;
        }
        if (r > 0) {
            vn_info("module %s is disabled by the configuration", m->name);
            continue;
        }
        if (nactive == (int)(sizeof(active) / sizeof(active[0]))) abort();
        active[nactive++] = m;
        vn_debug("module %s loaded", m->name);
    }
    for (int i = 0; i < nactive; i++) {
        const vn_module_t *m = active[i];
        for (const vn_hook_t *h = m->hooks; h && h->id != VN_HOOK_COUNT; h++) {
            hooks[h->id] =
                vn_xrealloc(hooks[h->id], sizeof(hook_entry_t) * (size_t)(nhooks[h->id] + 1));
            hooks[h->id][nhooks[h->id]++].hook = h;
        }
        if (m->stream_features) vn_buf_puts(&stream_features, m->stream_features);
    }
    for (int id = 0; id < VN_HOOK_COUNT; id++)
        if (nhooks[id] > 1) qsort(hooks[id], (size_t)nhooks[id], sizeof(hook_entry_t), by_priority);
    vn_buf_cstr(&stream_features);
    return 0;
}

static vn_component_t components[8];
static int ncomponents;

int vn_component_add(vn_server_t *srv, const char *domain, const char *name, vn_component_fn fn,
                     void *ud)
{
    char *d = NULL;
    if (!domain || vn_jid_prep_domain(domain, strlen(domain), &d, NULL) < 0) {
        vn_error("service domain '%s' is not a valid domain name", domain ? domain : "");
        return -1;
    }
    if (vn_server_domain_index(srv, d) >= 0 || vn_component_find(d)) {
        vn_error("service domain %s is already served", d);
        free(d);
        return -1;
    }
    if (ncomponents == (int)(sizeof(components) / sizeof(components[0]))) {
        vn_error("too many service domains");
        free(d);
        return -1;
    }
    components[ncomponents++] = (vn_component_t){d, vn_xstrdup(name), fn, ud};
    vn_info("serving %s (%s)", d, name);
    return 0;
}

const vn_component_t *vn_component_find(const char *domain)
{
    if (!domain) return NULL;
    for (int i = 0; i < ncomponents; i++)
        if (strcmp(components[i].domain, domain) == 0) return &components[i];
    return NULL;
}

void vn_components_each(void (*cb)(const vn_component_t *c, void *ud), void *ud)
{
    for (int i = 0; i < ncomponents; i++)
        cb(&components[i], ud);
}

void vn_modules_fini(vn_server_t *srv)
{
    for (int i = 0; i < nactive; i++)
        if (active[i]->fini) active[i]->fini(srv);
    nactive = 0;
    for (int i = 0; i < ncomponents; i++) {
        free(components[i].domain);
        free(components[i].name);
    }
    ncomponents = 0;
    for (int id = 0; id < VN_HOOK_COUNT; id++) {
        free(hooks[id]);
        hooks[id] = NULL;
        nhooks[id] = 0;
    }
    vn_buf_free(&stream_features);
    next_slot = 0;
}

vn_result_t vn_hook_run_counted(vn_server_t *srv, vn_hook_id_t id, void *ctx, int *holds)
{
    vn_result_t result = VN_PASS;
    if (holds) *holds = 0;
    for (int i = 0; i < nhooks[id]; i++) {
        vn_result_t r = hooks[id][i].hook->fn(srv, ctx);
        if (r == VN_HOLD) {
            result = VN_HOLD;
            if (holds) (*holds)++;
        } else if (r == VN_HANDLED) {
            return result == VN_HOLD ? VN_HOLD : VN_HANDLED;
        }
    }
    return result;
}

vn_result_t vn_hook_run(vn_server_t *srv, vn_hook_id_t id, void *ctx)
{
    return vn_hook_run_counted(srv, id, ctx, NULL);
}

const vn_iq_handler_t *vn_iq_find(const char *type, const char *ns, int target)
{
    for (int i = 0; i < nactive; i++) {
        for (const vn_iq_handler_t *h = active[i]->iq; h && h->type; h++) {
            if ((h->targets & target) && strcmp(h->type, type) == 0 && strcmp(h->ns, ns) == 0)
                return h;
        }
    }
    return NULL;
}

void vn_features_each(void (*cb)(const char *feature, void *ud), void *ud)
{
    for (int i = 0; i < nactive; i++)
        for (const char *const *f = active[i]->features; f && *f; f++)
            cb(*f, ud);
}

void vn_account_features_each(void (*cb)(const char *feature, void *ud), void *ud)
{
    for (int i = 0; i < nactive; i++)
        for (const char *const *f = active[i]->account_features; f && *f; f++)
            cb(*f, ud);
}

void vn_server_info_each(vn_server_t *srv, vn_arena_t *a, vn_xnode_t *query)
{
    for (int i = 0; i < nactive; i++)
        if (active[i]->server_info) active[i]->server_info(srv, a, query);
}

const char *vn_stream_features_xml(void)
{
    return stream_features.data ? stream_features.data : "";
}

const vn_cfg_key_t *const *vn_config_tables(void)
{
    enum { MAX_TABLES = 64 };
    static const vn_cfg_key_t *tables[MAX_TABLES + 1];
    if (tables[0]) return tables;
    int n = 0;
    tables[n++] = vn_core_config_keys;
    tables[n++] = vn_server_config_keys;
    tables[n++] = vn_store_config_keys;
    for (const vn_module_t *const *m = vn_builtin_modules; *m && n < MAX_TABLES; m++)
        if ((*m)->config_keys) tables[n++] = (*m)->config_keys;
    tables[n] = NULL;
    return tables;
}

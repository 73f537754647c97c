#include "core/config.h"

#include <errno.h>
#include <stddef.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

static char *trimmed_dup(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return vn_xstrndup(s, n);
}

static void set_str(char **slot, const char *value)
{
    free(*slot);
    *slot = value[0] ? trimmed_dup(value) : NULL;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1") || !strcasecmp(v, "on"))
        *out = 1;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0") ||
             !strcasecmp(v, "off"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int set_domains(vn_config_t *cfg, const char *value)
{
    for (int i = 0; i < cfg->ndomains; i++)
        free(cfg->domains[i]);
    cfg->ndomains = 0;
    const char *p = value;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char *part = vn_xstrndup(p, n);
        char *d = trimmed_dup(part);
        free(part);
        if (d[0]) {
            if (cfg->ndomains == VN_MAX_DOMAINS) {
                free(d);
                return -1;
            }
            cfg->domains[cfg->ndomains++] = d;
        } else {
            free(d);
        }
        if (!comma) break;
        p = comma + 1;
    }
    return cfg->ndomains > 0 ? 0 : -1;
}

/* A comma-separated list of URIs (RFC 3986 §3.1: a scheme, ':', then no
 * whitespace), e.g. "mailto:abuse@example.org, xmpp:admin@example.org". */
static int valid_uri_list(const char *v)
{
    int n = 0;
    for (const char *p = v; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
            end--;
        if (end == 0) return 0;
        size_t scheme =
            strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+.-");
        if (scheme == 0 || scheme + 1 >= end || p[scheme] != ':' ||
            !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')))
            return 0;
        for (size_t i = 0; i < end; i++)
            if ((unsigned char)p[i] <= ' ') return 0;
        n++;
        p += len;
        if (*p == ',') p++;
    }
    return n > 0;
}

static int set_choice(const char *choices, const char *value, int *out)
{
    /* "word=value,word=value": words compare case-insensitively. */
    size_t vl = strlen(value);
    for (const char *p = choices; *p;) {
        const char *eq = strchr(p, '=');
        if (!eq) return -1;
        if ((size_t)(eq - p) == vl && strncasecmp(p, value, vl) == 0) {
            *out = atoi(eq + 1);
            return 0;
        }
        const char *comma = strchr(eq, ',');
        if (!comma) break;
        p = comma + 1;
    }
    return -1;
}

/* Sets one key from its text. 0, or -1 when the value is invalid. */
static int set_value(vn_config_t *cfg, const vn_cfg_key_t *k, const char *value)
{
    void *slot = (char *)cfg + k->offset;
    long long n;
    int b;
    switch (k->type) {
    case VN_CFG_INT:
    case VN_CFG_SIZE:
    case VN_CFG_U32:
    case VN_CFG_U64: {
        char *end;
        errno = 0;
        n = strtoll(value, &end, 10);
        if (errno || end == value || *end != '\0' || n < k->min || n > k->max) return -1;
        if (k->type == VN_CFG_INT)
            *(int *)slot = (int)n;
        else if (k->type == VN_CFG_SIZE)
            *(size_t *)slot = (size_t)n;
        else if (k->type == VN_CFG_U32)
            *(uint32_t *)slot = (uint32_t)n;
        else
            *(uint64_t *)slot = (uint64_t)n;
        return 0;
    }
    case VN_CFG_BOOL:
        if (parse_bool(value, &b) < 0) return -1;
        *(int *)slot = b;
        return 0;
    case VN_CFG_STR:
        set_str(slot, value);
        return k->min > 0 && !*(char **)slot ? -1 : 0;
    case VN_CFG_CHOICE:
        return set_choice(k->choices, value, slot);
    case VN_CFG_DOMAINS:
        return set_domains(cfg, value);
    case VN_CFG_URIS:
        if (value[0] && !valid_uri_list(value)) return -1;
        set_str(slot, value);
        return 0;
    }
    return -1;
}

const vn_cfg_key_t *vn_config_find(const vn_cfg_key_t *const *tables, const char *section,
                                   const char *name)
{
    for (; *tables; tables++)
        for (const vn_cfg_key_t *k = *tables; k->name; k++)
            if (!strcmp(k->section, section) && !strcmp(k->name, name)) return k;
    return NULL;
}

typedef struct load_ctx {
    vn_config_t *cfg;
    const vn_cfg_key_t *const *tables;
    char err[512];
} load_ctx_t;

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    load_ctx_t *ctx = user;
    const vn_cfg_key_t *k = vn_config_find(ctx->tables, section, name);
    if (!k) {
        snprintf(ctx->err, sizeof(ctx->err), "unknown key [%s] %s", section, name);
        return 0;
    }
    if (set_value(ctx->cfg, k, value) < 0) {
        snprintf(ctx->err, sizeof(ctx->err), "invalid value for [%s] %s: '%s'", section, name,
                 value);
        return 0;
    }
    return 1;
}

/* [server]: the keys of the core itself. */
const vn_cfg_key_t vn_core_config_keys[] = {
    {"server", "domain", VN_CFG_DOMAINS, offsetof(vn_config_t, domains), "localhost",
     .help = "One or more served domains, comma separated. Unicode (IDN) domains are accepted in "
             "either form and normalised per RFC 7622."},
    {"server", "data_dir", VN_CFG_STR, offsetof(vn_config_t, data_dir), "./data",
     .help = "Where the SQLite database (and the generated dev certificate) live."},
    {"server", "log_level", VN_CFG_STR, offsetof(vn_config_t, log_level), "info",
     .help = "debug | info | warn | error"},
    {"server", "hash_threads", VN_CFG_INT, offsetof(vn_config_t, hash_threads), "1", .min = 1,
     .max = 64, .help = "Worker threads for password hashing (storage has its own thread)."},
    {"server", "output_budget", VN_CFG_U64, offsetof(vn_config_t, output_budget), "536870912",
     .min = 0, .max = 1LL << 40,
     .help = "Bytes of unsent output all connections together may hold (0: no budget). Over it, "
             "any connection above a quarter of its max_output is ended at once."},
    {NULL},
};

int vn_config_load(const char *path, vn_config_t *cfg, const vn_cfg_key_t *const *tables,
                   char **err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->path = vn_xstrdup(path);
    for (const vn_cfg_key_t *const *t = tables; *t; t++)
        for (const vn_cfg_key_t *k = *t; k->name; k++)
            if (set_value(cfg, k, k->def) < 0) {
                /* A table whose default its own limits refuse: a bug. */
                char msg[256];
                snprintf(msg, sizeof(msg), "built-in default of [%s] %s is invalid: '%s'",
                         k->section, k->name, k->def);
                *err = vn_xstrdup(msg);
                vn_config_free(cfg);
                return -1;
            }
    load_ctx_t ctx = {.cfg = cfg, .tables = tables};
    int r = ini_parse(path, on_entry, &ctx);
    if (r == 0) {
        /* The pre-authentication limit only ever lowers the stanza limit. */
        if (cfg->max_stanza_size_preauth > cfg->max_stanza_size)
            cfg->max_stanza_size_preauth = cfg->max_stanza_size;
        return 0;
    }
    char msg[700];
    if (r == -1)
        snprintf(msg, sizeof(msg), "%s: cannot open: %s", path, strerror(errno));
    else if (r == -2)
        snprintf(msg, sizeof(msg), "%s: out of memory", path);
    else
        snprintf(msg, sizeof(msg), "%s:%d: %s", path, r, ctx.err[0] ? ctx.err : "syntax error");
    *err = vn_xstrdup(msg);
    vn_config_free(cfg);
    return -1;
}

void vn_config_free(vn_config_t *cfg)
{
    free(cfg->path);
    for (int i = 0; i < cfg->ndomains; i++)
        free(cfg->domains[i]);
    free(cfg->data_dir);
    free(cfg->log_level);
    free(cfg->store_backend);
    for (int i = 0; i < VN_CONTACT_KINDS; i++)
        free(cfg->contact[i]);
    free(cfg->listen);
    free(cfg->direct_tls);
    free(cfg->cert);
    free(cfg->key);
    free(cfg->tls_ciphers);
    free(cfg->tls_ciphersuites);
    free(cfg->muc_domain);
    free(cfg->pubsub_domain);
    free(cfg->pubsub_admins);
    memset(cfg, 0, sizeof(*cfg));
}

#include "core/config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

typedef struct parse_ctx {
    vn_config_t *cfg;
    char err[512];
} parse_ctx_t;

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

static int parse_long(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0' || n < lo || n > hi) return -1;
    *out = n;
    return 0;
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

#define MATCH(s, k) (strcmp(section, s) == 0 && strcmp(name, k) == 0)

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx_t *ctx = user;
    vn_config_t *c = ctx->cfg;
    long n;
    int b;
    if (MATCH("server", "domain")) {
        if (set_domains(c, value) < 0) goto bad;
    } else if (MATCH("server", "data_dir")) {
        set_str(&c->data_dir, value);
    } else if (MATCH("server", "log_level")) {
        set_str(&c->log_level, value);
    } else if (MATCH("server", "hash_threads")) {
        if (parse_long(value, 1, 64, &n) < 0) goto bad;
        c->hash_threads = (int)n;
    } else if (MATCH("server", "output_budget")) {
        if (parse_long(value, 0, 1L << 40, &n) < 0) goto bad;
        c->output_budget = (uint64_t)n;
    } else if (MATCH("c2s", "listen")) {
        set_str(&c->listen, value);
    } else if (MATCH("c2s", "direct_tls")) {
        set_str(&c->direct_tls, value);
    } else if (MATCH("c2s", "max_stanza_size")) {
        if (parse_long(value, 1024, 64L << 20, &n) < 0) goto bad;
        c->max_stanza_size = (size_t)n;
    } else if (MATCH("c2s", "max_stanza_size_preauth")) {
        if (parse_long(value, 1024, 64L << 20, &n) < 0) goto bad;
        c->max_stanza_size_preauth = (size_t)n;
    } else if (MATCH("c2s", "max_depth")) {
        if (parse_long(value, 4, 1000, &n) < 0) goto bad;
        c->max_depth = (int)n;
    } else if (MATCH("c2s", "max_attributes")) {
        if (parse_long(value, 4, 1000, &n) < 0) goto bad;
        c->max_attributes = (int)n;
    } else if (MATCH("c2s", "auth_timeout")) {
        if (parse_long(value, 1, 3600, &n) < 0) goto bad;
        c->auth_timeout = (int)n;
    } else if (MATCH("c2s", "idle_timeout")) {
        if (parse_long(value, 0, 86400 * 7, &n) < 0) goto bad;
        c->idle_timeout = (int)n;
    } else if (MATCH("c2s", "max_offline")) {
        if (parse_long(value, 0, 1000000, &n) < 0) goto bad;
        c->max_offline = (int)n;
    } else if (MATCH("c2s", "resume_timeout")) {
        if (parse_long(value, 0, 86400, &n) < 0) goto bad;
        c->resume_timeout = (int)n;
    } else if (MATCH("c2s", "max_unacked")) {
        if (parse_long(value, 16, 1000000, &n) < 0) goto bad;
        c->max_unacked = (int)n;
    } else if (MATCH("c2s", "max_unacked_bytes")) {
        if (parse_long(value, 65536, 1L << 32, &n) < 0) goto bad;
        c->max_unacked_bytes = (size_t)n;
    } else if (MATCH("c2s", "max_output")) {
        if (parse_long(value, 16384, 1L << 32, &n) < 0) goto bad;
        c->max_output = (size_t)n;
    } else if (MATCH("c2s", "max_output_preauth")) {
        if (parse_long(value, 4096, 1L << 24, &n) < 0) goto bad;
        c->max_output_preauth = (size_t)n;
    } else if (MATCH("c2s", "output_timeout")) {
        if (parse_long(value, 1, 3600, &n) < 0) goto bad;
        c->output_timeout = (int)n;
    } else if (MATCH("c2s", "rate")) {
        if (parse_long(value, 0, 1L << 30, &n) < 0 || (n > 0 && n < 1024)) goto bad;
        c->rate = (uint32_t)n;
    } else if (MATCH("c2s", "burst")) {
        if (parse_long(value, 1024, 1L << 30, &n) < 0) goto bad;
        c->burst = (uint32_t)n;
    } else if (MATCH("c2s", "max_connections_per_address")) {
        if (parse_long(value, 0, 10000000, &n) < 0) goto bad;
        c->max_connections_per_address = (int)n;
    } else if (MATCH("roster", "max_items")) {
        if (parse_long(value, 1, 1000000, &n) < 0) goto bad;
        c->roster_max_items = (int)n;
    } else if (MATCH("roster", "max_pending")) {
        if (parse_long(value, 1, 1000000, &n) < 0) goto bad;
        c->roster_max_pending = (int)n;
    } else if (MATCH("roster", "max_groups")) {
        if (parse_long(value, 1, 100000, &n) < 0) goto bad;
        c->roster_max_groups = (int)n;
    } else if (MATCH("roster", "max_group_length")) {
        if (parse_long(value, 1, 64L << 20, &n) < 0) goto bad;
        c->roster_max_group_length = (size_t)n;
    } else if (MATCH("roster", "max_name_length")) {
        if (parse_long(value, 1, 64L << 20, &n) < 0) goto bad;
        c->roster_max_name_length = (size_t)n;
        /* [roster] keys end here */
    } else if (MATCH("archive", "enabled")) {
        if (parse_bool(value, &b) < 0) goto bad;
        c->archive_enabled = b;
    } else if (MATCH("archive", "retention_days")) {
        if (parse_long(value, 0, 36500, &n) < 0) goto bad;
        c->archive_retention_days = (int)n;
    } else if (MATCH("muc", "enabled")) {
        if (parse_bool(value, &b) < 0) goto bad;
        c->muc_enabled = b;
    } else if (MATCH("muc", "domain")) {
        set_str(&c->muc_domain, value);
    } else if (MATCH("muc", "max_occupants")) {
        if (parse_long(value, 1, 1000000, &n) < 0) goto bad;
        c->muc_max_occupants = (int)n;
    } else if (MATCH("muc", "history_length")) {
        if (parse_long(value, 0, 1000, &n) < 0) goto bad;
        c->muc_history_length = (int)n;
    } else if (MATCH("muc", "max_history")) {
        if (parse_long(value, 0, 1000, &n) < 0) goto bad;
        c->muc_max_history = (int)n;
    } else if (MATCH("muc", "max_rooms_per_user")) {
        if (parse_long(value, 0, 1000000, &n) < 0) goto bad;
        c->muc_max_rooms_per_user = (int)n;
        /* [muc] keys end here */
    } else if (MATCH("pubsub", "enabled")) {
        if (parse_bool(value, &b) < 0) goto bad;
        c->pubsub_enabled = b;
    } else if (MATCH("pubsub", "domain")) {
        set_str(&c->pubsub_domain, value);
    } else if (MATCH("pubsub", "max_payload")) {
        if (parse_long(value, 256, 16L << 20, &n) < 0) goto bad;
        c->pubsub_max_payload = (size_t)n;
    } else if (MATCH("pubsub", "max_items")) {
        if (parse_long(value, 1, 100000, &n) < 0) goto bad;
        c->pubsub_max_items = (int)n;
    } else if (MATCH("pubsub", "max_nodes")) {
        if (parse_long(value, 1, 100000, &n) < 0) goto bad;
        c->pubsub_max_nodes = (int)n;
    } else if (MATCH("pubsub", "service_max_nodes")) {
        if (parse_long(value, 1, 10000000, &n) < 0) goto bad;
        c->pubsub_service_nodes = (int)n;
    } else if (MATCH("pubsub", "service_max_nodes_per_account")) {
        if (parse_long(value, 0, 10000000, &n) < 0) goto bad;
        c->pubsub_service_nodes_per_account = (int)n;
    } else if (MATCH("pubsub", "disco_max_items")) {
        if (parse_long(value, 1, 100000, &n) < 0) goto bad;
        c->pubsub_disco_max_items = (int)n;
    } else if (MATCH("pubsub", "create")) {
        if (!strcmp(value, "local"))
            c->pubsub_create_local = 1;
        else if (!strcmp(value, "admins"))
            c->pubsub_create_local = 0;
        else
            goto bad;
    } else if (MATCH("pubsub", "admins")) {
        set_str(&c->pubsub_admins, value);
        /* [pubsub] keys end here */
    } else if (MATCH("profile", "vcard_max_size")) {
        if (parse_long(value, 1024, 64L << 20, &n) < 0) goto bad;
        c->vcard_max_size = (size_t)n;
    } else if (MATCH("profile", "private_max_size")) {
        if (parse_long(value, 256, 64L << 20, &n) < 0) goto bad;
        c->private_max_size = (size_t)n;
    } else if (MATCH("profile", "private_max_entries")) {
        if (parse_long(value, 1, 100000, &n) < 0) goto bad;
        c->private_max_entries = (int)n;
        /* [profile] keys end here */
    } else if (MATCH("tls", "cert")) {
        set_str(&c->cert, value);
    } else if (MATCH("tls", "key")) {
        set_str(&c->key, value);
    } else if (MATCH("tls", "ciphers")) {
        set_str(&c->tls_ciphers, value);
        if (!c->tls_ciphers) goto bad;
    } else if (MATCH("tls", "ciphersuites")) {
        set_str(&c->tls_ciphersuites, value);
        if (!c->tls_ciphersuites) goto bad;
    } else if (MATCH("tls", "min_version")) {
        if (!strcmp(value, "1.2") || !strcasecmp(value, "TLSv1.2"))
            c->tls_min_version = 12;
        else if (!strcmp(value, "1.3") || !strcasecmp(value, "TLSv1.3"))
            c->tls_min_version = 13;
        else
            goto bad;
    } else if (MATCH("auth", "allow_plain")) {
        if (parse_bool(value, &b) < 0) goto bad;
        c->allow_plain = b;
    } else if (MATCH("auth", "strict_channel_binding")) {
        if (parse_bool(value, &b) < 0) goto bad;
        c->strict_channel_binding = b;
    } else if (MATCH("auth", "scram_iterations")) {
        if (parse_long(value, 1024, 10000000, &n) < 0) goto bad;
        c->scram_iterations = (uint32_t)n;
    } else if (MATCH("auth", "max_failures")) {
        if (parse_long(value, 1, 1000000, &n) < 0) goto bad;
        c->max_failures = (int)n;
    } else if (MATCH("auth", "lockout")) {
        if (parse_long(value, 1, 86400, &n) < 0) goto bad;
        c->lockout = (int)n;
    } else if (MATCH("auth", "failure_window")) {
        if (parse_long(value, 1, 30 * 86400, &n) < 0) goto bad;
        c->failure_window = (int)n;
    } else if (MATCH("auth", "address_max_failures")) {
        if (parse_long(value, 1, 1000000, &n) < 0) goto bad;
        c->address_max_failures = (int)n;
    } else if (MATCH("auth", "address_lockout")) {
        if (parse_long(value, 1, 86400, &n) < 0) goto bad;
        c->address_lockout = (int)n;
    } else if (MATCH("auth", "address_window")) {
        if (parse_long(value, 1, 30 * 86400, &n) < 0) goto bad;
        c->address_window = (int)n;
    } else if (MATCH("auth", "account_max_failures")) {
        if (parse_long(value, 1, 1000000, &n) < 0) goto bad;
        c->account_max_failures = (int)n;
    } else if (MATCH("auth", "account_lockout")) {
        if (parse_long(value, 1, 86400, &n) < 0) goto bad;
        c->account_lockout = (int)n;
    } else if (MATCH("auth", "account_window")) {
        if (parse_long(value, 1, 30 * 86400, &n) < 0) goto bad;
        c->account_window = (int)n;
    } else if (MATCH("auth", "max_lockout")) {
        if (parse_long(value, 1, 86400, &n) < 0) goto bad;
        c->max_lockout = (int)n;
    } else if (MATCH("auth", "throttle_max_entries")) {
        if (parse_long(value, 100, 100000000, &n) < 0) goto bad;
        c->throttle_max_entries = (size_t)n;
    } else if (MATCH("auth", "known_addresses")) {
        if (parse_long(value, 0, 64, &n) < 0) goto bad;
        c->known_addresses = (int)n;
    } else if (MATCH("auth", "known_address_age")) {
        if (parse_long(value, 1, 365 * 86400, &n) < 0) goto bad;
        c->known_address_age = (int)n;
    } else if (MATCH("auth", "known_max_accounts")) {
        if (parse_long(value, 100, 100000000, &n) < 0) goto bad;
        c->known_max_accounts = (size_t)n;
    } else {
        snprintf(ctx->err, sizeof(ctx->err), "unknown key [%s] %s", section, name);
        return 0;
    }
    return 1;
bad:
    snprintf(ctx->err, sizeof(ctx->err), "invalid value for [%s] %s: '%s'", section, name, value);
    return 0;
}

int vn_config_load(const char *path, vn_config_t *cfg, char **err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->path = vn_xstrdup(path);
    set_domains(cfg, "localhost");
    cfg->data_dir = vn_xstrdup("./data");
    cfg->log_level = vn_xstrdup("info");
    cfg->hash_threads = 1;
    cfg->listen = vn_xstrdup("127.0.0.1:5222");
    cfg->direct_tls = vn_xstrdup("127.0.0.1:5223");
    cfg->max_stanza_size = 262144;
    cfg->max_stanza_size_preauth = 8192;
    cfg->max_depth = 32;
    cfg->max_attributes = 32;
    cfg->auth_timeout = 60;
    cfg->idle_timeout = 0;
    cfg->max_offline = 1000;
    cfg->archive_enabled = 1;
    cfg->roster_max_items = 2000;
    cfg->roster_max_pending = 200;
    cfg->roster_max_groups = 64;
    cfg->roster_max_group_length = 1024;
    cfg->roster_max_name_length = 1024;
    cfg->resume_timeout = 300;
    cfg->max_unacked = 10000;
    cfg->max_unacked_bytes = 4u << 20;
    cfg->max_output = 1u << 20;
    cfg->max_output_preauth = 16384;
    cfg->output_timeout = 30;
    cfg->rate = 128u << 10;
    cfg->burst = 512u << 10;
    cfg->output_budget = 512ull << 20;
    cfg->max_connections_per_address = 1000;
    cfg->muc_enabled = 1;
    cfg->muc_max_occupants = 20000;
    cfg->muc_history_length = 20;
    cfg->muc_max_history = 100;
    cfg->muc_max_rooms_per_user = 100;
    cfg->pubsub_enabled = 1;
    cfg->pubsub_max_payload = 65536;
    cfg->pubsub_max_items = 256;
    cfg->pubsub_max_nodes = 100;
    cfg->pubsub_service_nodes = 100000;
    cfg->pubsub_service_nodes_per_account = 100;
    cfg->pubsub_disco_max_items = 100;
    cfg->pubsub_create_local = 1;
    cfg->vcard_max_size = 131072;
    cfg->private_max_size = 65536;
    cfg->private_max_entries = 100;
    cfg->tls_ciphers = vn_xstrdup(VN_TLS_DEFAULT_CIPHERS);
    cfg->tls_ciphersuites = vn_xstrdup(VN_TLS_DEFAULT_CIPHERSUITES);
    cfg->tls_min_version = 12;
    cfg->allow_plain = 0;
    cfg->scram_iterations = 4096;
    cfg->max_failures = 5;
    cfg->lockout = 10;
    cfg->failure_window = 900;
    cfg->address_max_failures = 30;
    cfg->address_lockout = 60;
    cfg->address_window = 900;
    cfg->account_max_failures = 100;
    cfg->account_lockout = 60;
    cfg->account_window = 3600;
    cfg->max_lockout = 3600;
    cfg->throttle_max_entries = 100000;
    cfg->known_addresses = 4;
    cfg->known_address_age = 14 * 86400;
    cfg->known_max_accounts = 100000;

    parse_ctx_t ctx = {.cfg = cfg};
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

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

const char *const vn_contact_kinds[VN_CONTACT_KINDS] = {"abuse", "admin",    "feedback",
                                                        "sales", "security", "support"};

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

static int set_contact(vn_config_t *c, const char *name, const char *value)
{
    for (int i = 0; i < VN_CONTACT_KINDS; i++) {
        if (strncmp(name, "contact_", 8) != 0 || strcmp(name + 8, vn_contact_kinds[i]) != 0)
            continue;
        if (value[0] && !valid_uri_list(value)) return -1;
        set_str(&c->contact[i], value);
        return 1;
    }
    return 0;
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
    } else if (!strcmp(section, "server") && !strncmp(name, "contact_", 8) &&
               (b = set_contact(c, name, value)) != 0) {
        if (b < 0) goto bad;
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
        if (parse_long(value, 1, 1000, &n) < 0) goto bad;
        c->max_failures = (int)n;
    } else if (MATCH("auth", "lockout")) {
        if (parse_long(value, 1, 86400, &n) < 0) goto bad;
        c->lockout = (int)n;
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
    cfg->max_depth = 32;
    cfg->max_attributes = 32;
    cfg->auth_timeout = 60;
    cfg->idle_timeout = 0;
    cfg->max_offline = 1000;
    cfg->archive_enabled = 1;
    cfg->resume_timeout = 300;
    cfg->max_unacked = 10000;
    cfg->max_unacked_bytes = 4u << 20;
    cfg->max_output = 1u << 20;
    cfg->max_output_preauth = 16384;
    cfg->output_timeout = 30;
    cfg->rate = 128u << 10;
    cfg->burst = 512u << 10;
    cfg->output_budget = 512ull << 20;
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
    cfg->pubsub_create_local = 1;
    cfg->vcard_max_size = 131072;
    cfg->private_max_size = 65536;
    cfg->private_max_entries = 100;
    cfg->allow_plain = 0;
    cfg->scram_iterations = 4096;
    cfg->max_failures = 5;
    cfg->lockout = 10;

    parse_ctx_t ctx = {.cfg = cfg};
    int r = ini_parse(path, on_entry, &ctx);
    if (r == 0) return 0;
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
    for (int i = 0; i < VN_CONTACT_KINDS; i++)
        free(cfg->contact[i]);
    free(cfg->listen);
    free(cfg->direct_tls);
    free(cfg->cert);
    free(cfg->key);
    free(cfg->muc_domain);
    free(cfg->pubsub_domain);
    free(cfg->pubsub_admins);
    memset(cfg, 0, sizeof(*cfg));
}

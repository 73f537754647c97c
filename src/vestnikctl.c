/* vestnikctl: administration of a vestnik installation.
 *   vestnikctl --config FILE user add JID      (password from stdin or prompt)
 *   vestnikctl --config FILE user passwd JID
 *   vestnikctl --config FILE user del JID
 *   vestnikctl --config FILE user list [DOMAIN]
 * add and passwd accept --salt BASE64 to set the SCRAM salt instead of a
 * random one (for migrations from another server and for benchmarks that
 * give every server the same salt).
 * Accounts are provisioned by administrators; there is no in-band
 * registration. The server may be running: SQLite WAL lets both work. */
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/store.h"
#include "xmpp/module.h"
#include "xmpp/jid.h"
#include "xmpp/scram.h"

static void usage(void)
{
    fprintf(stderr, "usage: vestnikctl --config FILE user add JID\n"
                    "       vestnikctl --config FILE user passwd JID\n"
                    "       vestnikctl --config FILE user del JID\n"
                    "       vestnikctl --config FILE user list [DOMAIN]\n"
                    "add and passwd take --salt BASE64 to set the SCRAM salt (default: random).\n"
                    "The password is read from standard input (one line) when it is not a\n"
                    "terminal, otherwise asked for twice without echo.\n");
}

static char *read_line(FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

static char *prompt_password(const char *prompt)
{
    fprintf(stderr, "%s", prompt);
    struct termios old, quiet;
    int tty = tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *p = read_line(stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    return p;
}

static char *get_password(void)
{
    if (!isatty(STDIN_FILENO)) return read_line(stdin);
    char *a = prompt_password("Password: ");
    char *b = a ? prompt_password("Again: ") : NULL;
    if (!a || !b || strcmp(a, b) != 0) {
        fprintf(stderr, "vestnikctl: passwords do not match\n");
        free(a);
        free(b);
        return NULL;
    }
    free(b);
    return a;
}

/* Normalises JID to a bare account address on a served domain. */
static char *account_jid(const vn_config_t *cfg, const char *arg)
{
    vn_jid_t j;
    if (vn_jid_parse(arg, strlen(arg), &j, NULL) < 0 || !j.local || j.resource) {
        fprintf(stderr, "vestnikctl: '%s' is not a valid bare JID (local@domain)\n", arg);
        vn_jid_clear(&j);
        return NULL;
    }
    int served = 0;
    for (int i = 0; i < cfg->ndomains; i++) {
        char *d = NULL;
        if (vn_jid_prep_domain(cfg->domains[i], strlen(cfg->domains[i]), &d, NULL) == 0) {
            if (strcmp(d, j.domain) == 0) served = 1;
            free(d);
        }
    }
    if (!served) {
        fprintf(stderr, "vestnikctl: %s is not a domain served by this configuration\n", j.domain);
        vn_jid_clear(&j);
        return NULL;
    }
    char *bare = vn_jid_bare_str(&j, NULL);
    vn_jid_clear(&j);
    return bare;
}

static int make_account(const vn_config_t *cfg, const char *jid, const char *password,
                        const uint8_t *salt, size_t salt_len, vn_account_t *acct)
{
    memset(acct, 0, sizeof(*acct));
    snprintf(acct->jid, sizeof(acct->jid), "%s", jid);
    for (int h = 0; h < VN_SCRAM_NHASH; h++) {
        vn_scram_creds_t c;
        memset(&c, 0, sizeof(c));
        /* salt_len 0 asks vn_scram_derive_keys for a fresh random salt */
        c.salt_len = salt_len;
        if (salt_len) memcpy(c.salt, salt, salt_len);
        int r = vn_scram_derive_keys((vn_scram_hash_t)h, password, strlen(password),
                                     cfg->scram_iterations, &c);
        if (r == 0) vn_scram_creds_to_store((vn_scram_hash_t)h, &c, &acct->cred[h]);
        OPENSSL_cleanse(&c, sizeof(c));
        if (r < 0) return -1;
    }
    return 0;
}

static void print_jid(const char *jid, void *ud)
{
    (void)ud;
    printf("%s\n", jid);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"salt", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    const char *salt_b64 = NULL;
    while ((c = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
        if (c == 'c')
            config_path = optarg;
        else if (c == 's')
            salt_b64 = optarg;
        else {
            usage();
            return c == 'h' ? 0 : 2;
        }
    }
    if (!config_path || optind + 2 > argc || strcmp(argv[optind], "user") != 0) {
        usage();
        return 2;
    }
    const char *cmd = argv[optind + 1];
    const char *arg = optind + 2 < argc ? argv[optind + 2] : NULL;
    vn_config_t cfg;
    char *err = NULL;
    if (vn_config_load(config_path, &cfg, vn_config_tables(), &err) < 0) {
        fprintf(stderr, "vestnikctl: %s\n", err);
        free(err);
        return 1;
    }
    vn_log_set_level(VN_LOG_WARN);
    vn_jid_global_init();
    vn_store_t *st = vn_store_open(&cfg, &err);
    if (!st) {
        fprintf(stderr, "vestnikctl: storage: %s\n", err);
        free(err);
        return 1;
    }
    int rc = 1;
    char *jid = NULL, *password = NULL;
    if (!strcmp(cmd, "list")) {
        char *domain = NULL;
        if (arg && vn_jid_prep_domain(arg, strlen(arg), &domain, NULL) < 0) {
            fprintf(stderr, "vestnikctl: invalid domain '%s'\n", arg);
            goto out;
        }
        rc = vn_store_account_list(st, domain, print_jid, NULL) < 0 ? 1 : 0;
        free(domain);
        goto out;
    }
    if (!arg) {
        usage();
        rc = 2;
        goto out;
    }
    if (!(jid = account_jid(&cfg, arg))) goto out;
    if (!strcmp(cmd, "add") || !strcmp(cmd, "passwd")) {
        password = get_password();
        if (!password || !password[0]) {
            fprintf(stderr, "vestnikctl: an empty password is not allowed\n");
            goto out;
        }
        uint8_t *salt = NULL;
        size_t salt_len = 0;
        if (salt_b64 && (vn_base64_decode(salt_b64, strlen(salt_b64), &salt, &salt_len) < 0 ||
                         salt_len == 0 || salt_len > sizeof(((vn_scram_creds_t *)0)->salt))) {
            fprintf(stderr, "vestnikctl: --salt must be 1 to 64 bytes in base64\n");
            free(salt);
            goto out;
        }
        vn_account_t acct;
        int made = make_account(&cfg, jid, password, salt, salt_len, &acct);
        free(salt);
        if (made < 0) {
            fprintf(stderr, "vestnikctl: key derivation failed\n");
            goto out;
        }
        int r = !strcmp(cmd, "add") ? vn_store_account_create(st, &acct)
                                    : vn_store_account_set_creds(st, &acct);
        if (r == 1)
            fprintf(stderr, "vestnikctl: %s %s\n", jid,
                    !strcmp(cmd, "add") ? "already exists" : "does not exist");
        else if (r == 0) {
            printf("%s %s\n", !strcmp(cmd, "add") ? "created" : "password changed for", jid);
            rc = 0;
        }
    } else if (!strcmp(cmd, "del")) {
        int r = vn_store_account_delete(st, jid);
        if (r == 1) fprintf(stderr, "vestnikctl: %s does not exist\n", jid);
        if (r == 0) {
            printf("deleted %s\n", jid);
            rc = 0;
        }
    } else {
        usage();
        rc = 2;
    }
out:
    if (password) {
        memset(password, 0, strlen(password));
        free(password);
    }
    free(jid);
    vn_store_close(st);
    vn_config_free(&cfg);
    return rc;
}

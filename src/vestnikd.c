/* vestnikd: the XMPP server. Runs in the foreground, logs to stderr;
 * SIGTERM/SIGINT close every stream and flush storage before exit. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "net/tls.h"
#include "xmpp/admission.h"
#include "xmpp/jid.h"
#include "xmpp/login_throttle.h"
#include "xmpp/module.h"
#include "xmpp/router.h"
#include "xmpp/scram.h"
#include "xmpp/sasl.h"
#include "xmpp/server.h"
#include "xmpp/session.h"

#ifndef VN_VERSION
#define VN_VERSION "0.1.0"
#endif

static vn_server_t server;
static vn_io_t signal_io;
static vn_timer_t shutdown_timer;
static uint64_t shutdown_started;

static vn_timer_t trim_timer;

/* Group commit on the storage thread: everything queued while one commit
 * runs shares the next one (one fsync for a burst of messages). */
static int store_group_begin(void *ud)
{
    return vn_store_group_begin(ud);
}

static int store_group_commit(void *ud)
{
    return vn_store_group_commit(ud);
}

/* Idle sessions give back their parser state, and the heap its free pages,
 * every few seconds: idle connections are the common case. */
static void trim_tick(vn_timer_t *t)
{
    int n = vn_sessions_trim_idle(&server, 5000);
    if (n > 0) {
        malloc_trim(128 * 1024);
        struct mallinfo2 mi = mallinfo2();
        vn_debug(
            "released the parser state of %d idle sessions (heap in use %zu KiB, free %zu KiB)", n,
            mi.uordblks / 1024, mi.fordblks / 1024);
    }
    vn_timer_start(server.loop, t, 5000, trim_tick);
}

/* Every client connection is a descriptor, and the usual soft limit (1024)
 * is far below what a messaging server holds: take all the hard limit
 * allows (systemd's default hard limit is 524288; the unit may set more).
 * Nothing here uses select(2), so descriptors above 1024 are fine. */
static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return;
    rlim_t was = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            vn_warn("cannot raise the open-file limit from %llu to %llu: %s",
                    (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
            return;
        }
        vn_info("open-file limit raised from %llu to %llu (the hard limit)",
                (unsigned long long)was, (unsigned long long)rl.rlim_cur);
    } else {
        vn_info("open-file limit %llu (already the hard limit)", (unsigned long long)rl.rlim_cur);
    }
}

/* --config-keys: every key the tables declare, with default and help. */
static void print_config_keys(void)
{
    const char *section = "";
    for (const vn_cfg_key_t *const *t = vn_config_tables(); *t; t++)
        for (const vn_cfg_key_t *k = *t; k->name; k++) {
            if (strcmp(section, k->section)) printf("%s[%s]\n", *section ? "\n" : "", k->section);
            section = k->section;
            printf("; %s\n%s = %s\n", k->help, k->name, k->def);
        }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: vestnikd --config FILE\n"
            "       vestnikd --config-keys   (every configuration key, default and help)\n");
}

static void shutdown_check(vn_timer_t *t)
{
    (void)t;
    uint64_t now = vn_loop_now(server.loop);
    if (server.nsessions == 0 || now - shutdown_started > 3000) {
        vn_loop_stop(server.loop);
        return;
    }
    vn_timer_start(server.loop, &shutdown_timer, 20, shutdown_check);
}

static void begin_shutdown(void)
{
    if (server.shutting_down) return;
    server.shutting_down = 1;
    vn_info("shutting down: closing %d streams", server.nsessions);
    vn_server_stop_listening(&server);
    for (vn_session_t *s = server.all_sessions, *next; s; s = next) {
        next = s->next_all;
        if (s->detached)
            vn_session_end_detached(s); /* its unacknowledged messages go offline */
        else
            vn_session_stream_error(s, "system-shutdown", NULL);
    }
    shutdown_started = vn_loop_now(server.loop);
    vn_timer_start(server.loop, &shutdown_timer, 0, shutdown_check);
}

/* SIGUSR1: the metrics, one log line each (the HTTP listener will serve
 * the same text). */
static void log_metrics(void)
{
    vn_buf_t b = VN_BUF_INIT;
    vn_server_metrics(&server, &b);
    const char *p = vn_buf_cstr(&b);
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (p[0] != '#') vn_info("metric %.*s", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
    vn_buf_free(&b);
}

static void on_signal(vn_io_t *io, uint32_t events)
{
    (void)events;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) begin_shutdown();
        if (si.ssi_signo == SIGUSR1) log_metrics();
    }
}

static int ensure_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) return 0;
    return -1;
}

/* Without a configured certificate, make (once) a self-signed one. */
static int prepare_tls(vn_server_t *srv)
{
    char *err = NULL;
    char *cert = srv->cfg.cert, *key = srv->cfg.key;
    char certbuf[4096], keybuf[4096];
    if (!cert || !key) {
        snprintf(certbuf, sizeof(certbuf), "%s/dev-cert.pem", srv->cfg.data_dir);
        snprintf(keybuf, sizeof(keybuf), "%s/dev-key.pem", srv->cfg.data_dir);
        cert = certbuf;
        key = keybuf;
        if (access(cert, R_OK) != 0 || access(key, R_OK) != 0) {
            if (vn_tls_generate_selfsigned((const char *const *)srv->domains, srv->ndomains, cert,
                                           key, &err) < 0) {
                vn_error("cannot generate a certificate: %s", err);
                free(err);
                return -1;
            }
            vn_warn("no [tls] cert/key configured: generated a self-signed certificate for %s "
                    "in %s (for development only)",
                    srv->domains[0], cert);
        } else {
            vn_info("using the self-signed development certificate %s", cert);
        }
    }
    vn_tls_opts_t opts = {srv->cfg.tls_ciphers, srv->cfg.tls_ciphersuites,
                          srv->cfg.tls_min_version};
    srv->tls = vn_tls_server_ctx(cert, key, &opts, &err);
    if (!srv->tls) {
        vn_error("TLS: %s", err);
        free(err);
        return -1;
    }
    return 0;
}

/* Unknown accounts answer SCRAM with a salt derived from a secret, so that
 * they look like real ones. The secret lives in data_dir so that the salt
 * shown for a name does not change across restarts. */
static int prepare_scram_secret(vn_server_t *srv)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/scram-unknown-user.secret", srv->cfg.data_dir);
    uint8_t secret[32];
    FILE *f = fopen(path, "rb");
    if (!f || fread(secret, 1, sizeof(secret), f) != sizeof(secret)) {
        if (f) fclose(f);
        if (RAND_bytes(secret, sizeof(secret)) != 1) return -1;
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, secret, sizeof(secret)) != (ssize_t)sizeof(secret)) {
            if (fd >= 0) close(fd);
            vn_error("cannot write %s: %s", path, strerror(errno));
            return -1;
        }
        close(fd);
    } else {
        fclose(f);
    }
    vn_scram_set_unknown_user_params(secret, sizeof(secret), srv->cfg.scram_iterations);
    OPENSSL_cleanse(secret, sizeof(secret));
    return 0;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"version", no_argument, NULL, 'V'},
        {"config-keys", no_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'V':
            printf("vestnikd %s\n", VN_VERSION);
            return 0;
        case 'K':
            print_config_keys();
            return 0;
        default:
            usage();
            return c == 'h' ? 0 : 2;
        }
    }
    if (!config_path) {
        usage();
        return 2;
    }
    vn_server_t *srv = &server;
    char *err = NULL;
    if (vn_config_load(config_path, &srv->cfg, vn_config_tables(), &err) < 0) {
        fprintf(stderr, "vestnikd: %s\n", err);
        free(err);
        return 1;
    }
    vn_log_level_t lvl;
    if (vn_log_level_parse(srv->cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "vestnikd: invalid log_level '%s'\n", srv->cfg.log_level);
        return 1;
    }
    vn_log_set_level(lvl);
    raise_nofile_limit();
    vn_jid_global_init();
    for (int i = 0; i < srv->cfg.ndomains; i++) {
        char *d = NULL;
        if (vn_jid_prep_domain(srv->cfg.domains[i], strlen(srv->cfg.domains[i]), &d, NULL) < 0) {
            vn_error("invalid domain '%s' in %s", srv->cfg.domains[i], config_path);
            return 1;
        }
        srv->domains[srv->ndomains++] = d;
    }
    if (ensure_dir(srv->cfg.data_dir) < 0) {
        vn_error("cannot create data_dir %s: %s", srv->cfg.data_dir, strerror(errno));
        return 1;
    }
    if (prepare_tls(srv) < 0 || prepare_scram_secret(srv) < 0) return 1;
    srv->store = vn_store_open(&srv->cfg, &err);
    if (!srv->store) {
        vn_error("storage: %s", err);
        free(err);
        return 1;
    }
    vn_debug("storage: %s backend", vn_store_backend_name(srv->store));
    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGUSR1);
    /* Block before starting threads so that only the signalfd sees them. */
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    srv->loop = vn_loop_new();
    /* One thread: the order of storage jobs that server.h promises
     * (vn_store_submit_ordered, vn_store_barrier) is this pool's FIFO. */
    srv->store_pool = vn_pool_new(srv->loop, 1, "vn-store");
    vn_pool_set_batch(srv->store_pool, store_group_begin, store_group_commit, srv->store, 256);
    srv->hash_pool = vn_pool_new(srv->loop, srv->cfg.hash_threads, "vn-hash");
    vn_login_limits_t login_limits;
    vn_login_limits_from_config(&srv->cfg, &login_limits);
    srv->login_throttle = vn_login_throttle_new(&login_limits);
    vn_login_throttle_start(srv->login_throttle, srv->loop);
    vn_server_apply_limits(srv);
    vn_router_init(srv);
    if (vn_modules_init(srv) < 0) return 1;
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    vn_io_start(srv->loop, &signal_io, sfd, EPOLLIN, on_signal);
    if (vn_server_listen(srv, &err) < 0) {
        vn_error("%s", err);
        free(err);
        return 1;
    }
    vn_timer_start(srv->loop, &trim_timer, 5000, trim_tick);
    vn_info("vestnikd %s serving %d domain(s), first: %s", VN_VERSION, srv->ndomains,
            srv->domains[0]);

    vn_loop_run(srv->loop);

    /* Storage is flushed: every queued job runs before the pool goes. */
    vn_pool_free(srv->store_pool);
    vn_pool_free(srv->hash_pool);
    vn_modules_fini(srv);
    vn_router_fini(srv);
    vn_login_throttle_free(srv->login_throttle);
    srv->login_throttle = NULL;
    vn_admission_fini(srv);
    vn_store_close(srv->store);
    vn_io_stop(srv->loop, &signal_io);
    close(sfd);
    vn_loop_free(srv->loop);
    SSL_CTX_free(srv->tls);
    for (int i = 0; i < srv->ndomains; i++)
        free(srv->domains[i]);
    vn_config_free(&srv->cfg);
    vn_info("stopped");
    return 0;
}

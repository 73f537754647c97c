#include "xmpp/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "xmpp/admission.h"
#include "xmpp/router.h"
#include "xmpp/sasl.h"
#include "xmpp/session.h"

int vn_server_domain_index(const vn_server_t *srv, const char *d)
{
    if (!d) return -1;
    for (int i = 0; i < srv->ndomains; i++)
        if (strcmp(srv->domains[i], d) == 0) return i;
    return -1;
}

void vn_server_apply_limits(vn_server_t *srv)
{
    const vn_config_t *c = &srv->cfg;
    /* One knob per phase: reading stops at a quarter of max_output (the
     * client is not reading fast enough for what it asks), the stall clock
     * runs above it, and sixteen times it ends the connection at once. */
    srv->c2s_limits = (vn_conn_limits_t){
        .out_high = c->max_output / 4,
        .out_max = c->max_output,
        .out_stall_ms = (uint64_t)c->output_timeout * 1000,
        .out_hard = c->max_output * 16,
        .rate = c->rate,
        .burst = c->burst,
    };
    srv->preauth_limits = srv->c2s_limits;
    srv->preauth_limits.out_high = c->max_output_preauth / 4;
    srv->preauth_limits.out_max = c->max_output_preauth;
    srv->preauth_limits.out_hard = c->max_output_preauth * 16;
    vn_net_set_output_budget(c->output_budget);
}

void vn_server_metrics(const vn_server_t *srv, vn_buf_t *out)
{
    const vn_net_stats_t *n = vn_net_stats();
    vn_buf_printf(
        out,
        "# HELP vestnik_sessions Client connections and detached sessions.\n"
        "# TYPE vestnik_sessions gauge\nvestnik_sessions %d\n"
        "# HELP vestnik_output_bytes Unsent output queued on all connections.\n"
        "# TYPE vestnik_output_bytes gauge\nvestnik_output_bytes %llu\n"
        "# HELP vestnik_output_budget_bytes Budget for unsent output (0: none).\n"
        "# TYPE vestnik_output_budget_bytes gauge\nvestnik_output_budget_bytes %llu\n"
        "# HELP vestnik_output_paused Connections not read because their output is not drained.\n"
        "# TYPE vestnik_output_paused gauge\nvestnik_output_paused %llu\n"
        "# HELP vestnik_output_overflows_total Connections ended because they did not read.\n"
        "# TYPE vestnik_output_overflows_total counter\nvestnik_output_overflows_total %llu\n"
        "# HELP vestnik_close_timeouts_total Closes forced because output did not drain.\n"
        "# TYPE vestnik_close_timeouts_total counter\nvestnik_close_timeouts_total %llu\n"
        "# HELP vestnik_input_shaped_total Times input shaping paused a connection.\n"
        "# TYPE vestnik_input_shaped_total counter\nvestnik_input_shaped_total %llu\n"
        "# HELP vestnik_store_queue Storage jobs waiting.\n"
        "# TYPE vestnik_store_queue gauge\nvestnik_store_queue %zu\n",
        srv->nsessions, (unsigned long long)n->out_bytes, (unsigned long long)n->out_budget,
        (unsigned long long)n->out_paused, (unsigned long long)n->out_overflows,
        (unsigned long long)n->close_timeouts, (unsigned long long)n->shaped_pauses,
        vn_pool_pending(srv->store_pool));
}

/* The store is touched only by the storage pool's thread; work() callbacks
 * reach it through vn_store_of(). */
static vn_store_t *g_store;

vn_store_t *vn_store_of(vn_work_t *w)
{
    (void)w;
    return g_store;
}

void vn_store_submit(vn_server_t *srv, vn_work_t *w, void (*work)(vn_work_t *),
                     void (*done)(vn_work_t *))
{
    g_store = srv->store;
    srv->store_submits++;
    vn_pool_submit(srv->store_pool, w, work, done);
}

/* The guarantees of server.h come from the pool: one thread (vestnikd.c)
 * that takes jobs in submission order, and done() callbacks run in the
 * order the jobs finished. So an ordered job needs nothing more than its
 * place in the queue, and a barrier is an empty job at the end of it
 * (behind every owner's jobs, hence behind this owner's). A pool of
 * several threads would keep one queue per shard of owners here and make
 * the NULL barrier wait for every shard. */
void vn_store_submit_ordered(vn_server_t *srv, const char *owner, vn_work_t *w,
                             void (*work)(vn_work_t *), void (*done)(vn_work_t *))
{
    (void)owner;
    vn_store_submit(srv, w, work, done);
}

static void barrier_work(vn_work_t *w)
{
    (void)w; /* reached when every earlier job has run */
}

void vn_store_barrier(vn_server_t *srv, const char *owner, vn_work_t *w,
                      void (*done)(vn_work_t *))
{
    (void)owner;
    vn_store_submit(srv, w, barrier_work, done);
}

void vn_hash_submit(vn_server_t *srv, vn_work_t *w, void (*work)(vn_work_t *),
                    void (*done)(vn_work_t *))
{
    vn_pool_submit(srv->hash_pool, w, work, done);
}

/* "host:port" -> listening socket. */
static int listen_on(const char *spec, char **err)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof(host)) {
        *err = vn_xstrdup("expected host:port");
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    char *h = host;
    if (h[0] == '[') {
        h++;
        h[strlen(h) - 1] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(h[0] ? h : NULL, colon + 1, &hints, &ai);
    if (rc != 0) {
        *err = vn_xstrdup(gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        *err = vn_xstrdup(strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* ---- accepting connections (issue 18: descriptor exhaustion) ----
 *
 * The listener is level-triggered: a pending connection that accept(2)
 * cannot take (EMFILE: our RLIMIT_NOFILE; ENFILE: the system's table) keeps
 * it readable, and simply returning would spin at 100% CPU. So at the limit
 * we first shed the oldest unauthenticated connections (admission.c); when
 * there is none to shed (everything is signed in), we refuse clients with
 * the reserve descriptor and pause accepting on that listener for a while.
 * Every log line here is rate-limited: a client can cause them at will. */

#define ACCEPT_BATCH 64     /* connections per wake-up, then others get a turn */
#define SHED_BATCH 16       /* pre-auth connections shed per EMFILE */
#define REFUSE_BATCH 16     /* clients refused per pause when nothing can be shed */
#define ACCEPT_PAUSE_MS 200 /* how long accepting pauses at the limit */
#define LOG_INTERVAL_MS 10000

static void on_accept(vn_io_t *io, uint32_t events);

static void resume_accept(vn_timer_t *t)
{
    vn_listener_t *l = t->cb_data;
    vn_admission_reserve_take(l->srv); /* in case it could not be taken back */
    if (l->io.fd >= 0 && !l->srv->shutting_down) vn_io_set(l->srv->loop, &l->io, EPOLLIN);
}

static void pause_accept(vn_listener_t *l)
{
    vn_io_set(l->srv->loop, &l->io, 0);
    l->pause.cb_data = l;
    vn_timer_start(l->srv->loop, &l->pause, ACCEPT_PAUSE_MS, resume_accept);
}

/* A client we cannot serve gets the whole stream at once: header, error,
 * close (RFC 6120 §4.9.1.2), written without waiting, and the descriptor is
 * closed at once; on the direct TLS port (no TLS handshake for it) it is
 * just closed. Input already there is read first: closing a socket with
 * unread input resets it, and the reset can destroy the error in flight. */
static void refuse(vn_server_t *srv, int fd, int direct_tls, const char *condition,
                   const char *text)
{
    if (!direct_tls) {
        char junk[4096];
        for (int i = 0; i < 16 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++) {
        }
        /* RFC 6120 §4.7.3: the stream id is unpredictable even here. */
        unsigned char r[8];
        RAND_bytes(r, sizeof(r));
        char buf[768];
        int n = snprintf(buf, sizeof(buf),
                         "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                         "xmlns:stream='http://etherx.jabber.org/streams' "
                         "id='%02x%02x%02x%02x%02x%02x%02x%02x' "
                         "from='%s' version='1.0'><stream:error><%s "
                         "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
                         "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>%s</text>"
                         "</stream:error></stream:stream>",
                         r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], srv->domains[0], condition,
                         text);
        if (n > 0 && (size_t)n < sizeof(buf)) {
            ssize_t w = send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)w;
        }
        shutdown(fd, SHUT_WR);
    }
    close(fd);
}

/* At the limit with nothing to shed: refuse a few waiting clients, one
 * reserve descriptor at a time, so they hear "busy" instead of hanging. */
static void refuse_backlog(vn_listener_t *l)
{
    vn_server_t *srv = l->srv;
    for (int i = 0; i < REFUSE_BATCH && srv->adm.reserve_fd >= 0; i++) {
        vn_admission_reserve_release(srv);
        int fd = accept4(l->io.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            refuse(srv, fd, l->direct_tls, "resource-constraint",
                   "the server is full; try again later");
        vn_admission_reserve_take(srv);
        if (fd < 0) break;
    }
}

static void peer_address(const struct sockaddr_storage *sa, char *out, size_t outlen)
{
    snprintf(out, outlen, "?");
    if (sa->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
    else if (sa->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)outlen);
}

static void on_accept(vn_io_t *io, uint32_t events)
{
    (void)events;
    static vn_log_limit_t rl_error, rl_limit, rl_addr;
    vn_listener_t *l = (vn_listener_t *)io;
    vn_server_t *srv = l->srv;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof(sa);
        int fd = accept4(io->fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK) return;
            /* Connections that died in the backlog; the next one may be fine. */
            if (e == EINTR || e == ECONNABORTED || e == EPROTO || e == EPERM) continue;
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                int shed = vn_admission_shed(srv, SHED_BATCH);
                vn_log_limited(&rl_limit, LOG_INTERVAL_MS, VN_LOG_WARN,
                               "accept: %s (%d sessions, %d unauthenticated, RLIMIT_NOFILE %d)%s",
                               strerror(e), srv->nsessions, srv->adm.npreauth, srv->adm.fd_limit,
                               shed ? "" : ": refusing new connections for a while");
                if (shed > 0) continue; /* their descriptors are free now */
                refuse_backlog(l);
            } else {
                vn_log_limited(&rl_error, LOG_INTERVAL_MS, VN_LOG_WARN, "accept: %s", strerror(e));
            }
            pause_accept(l);
            return;
        }
        if (srv->shutting_down) {
            close(fd);
            continue;
        }
        char peer[64];
        peer_address(&sa, peer, sizeof(peer));
        /* RFC 6120 §4.9.3.14: a local service policy, said in <text/>. */
        if (vn_admission_enter(srv, peer) < 0) {
            vn_log_limited(&rl_addr, LOG_INTERVAL_MS, VN_LOG_WARN,
                           "refused a connection from %s: max_connections_per_address (%d) reached",
                           peer, srv->cfg.max_connections_per_address);
            refuse(srv, fd, l->direct_tls, "policy-violation",
                   "too many connections from your address");
            continue;
        }
        /* Close to the limit: make room before it is reached, so that the
         * last descriptors stay for storage and for signed-in users. */
        if (vn_admission_fds_short(srv, fd)) vn_admission_shed(srv, 1);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        vn_session_t *s = vn_session_new(srv, fd, l->direct_tls, peer);
        s->addr_counted = 1;
    }
}

/* What may listen, from which configuration key. Each key holds one or
 * more comma-separated host:port addresses (IPv6 in brackets); an empty
 * key opens nothing. s2s and HTTP listeners join this table. */
static const struct listener_kind {
    const char *what;
    size_t cfg_offset; /* char * in vn_config_t */
    int direct_tls;
} listener_kinds[] = {
    {"c2s STARTTLS", offsetof(vn_config_t, listen), 0},
    {"c2s direct TLS", offsetof(vn_config_t, direct_tls), 1},
};

static int open_listener(vn_server_t *srv, const struct listener_kind *k, const char *spec,
                         char **err)
{
    char *e = NULL;
    int fd = listen_on(spec, &e);
    if (fd < 0) {
        size_t n = strlen(spec) + strlen(e) + 32;
        *err = vn_xmalloc(n);
        snprintf(*err, n, "cannot listen on %s: %s", spec, e);
        free(e);
        return -1;
    }
    srv->listeners =
        vn_xrealloc(srv->listeners, (size_t)(srv->nlisteners + 1) * sizeof(vn_listener_t));
    vn_listener_t *l = &srv->listeners[srv->nlisteners++];
    memset(l, 0, sizeof(*l));
    l->srv = srv;
    l->direct_tls = k->direct_tls;
    l->what = k->what;
    l->spec = vn_xstrdup(spec);
    l->io.fd = fd;
    vn_info("listening on %s (%s)", spec, k->what);
    return 0;
}

int vn_server_listen(vn_server_t *srv, char **err)
{
    for (size_t i = 0; i < sizeof(listener_kinds) / sizeof(listener_kinds[0]); i++) {
        const struct listener_kind *k = &listener_kinds[i];
        const char *list = *(char *const *)((const char *)&srv->cfg + k->cfg_offset);
        for (const char *p = list; p && *p;) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            while (n && (*p == ' ' || *p == '\t'))
                p++, n--;
            while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
                n--;
            if (n) {
                char *spec = vn_xstrndup(p, n);
                int rc = open_listener(srv, k, spec, err);
                free(spec);
                if (rc < 0) return -1;
            }
            p = comma ? comma + 1 : p + strlen(p);
        }
    }
    /* The array is complete: now the loop may hold pointers into it. */
    for (int i = 0; i < srv->nlisteners; i++)
        vn_io_start(srv->loop, &srv->listeners[i].io, srv->listeners[i].io.fd, EPOLLIN, on_accept);
    if (vn_admission_init(srv) < 0) {
        size_t n = 128;
        *err = vn_xmalloc(n);
        snprintf(*err, n, "cannot open the reserve descriptor: %s", strerror(errno));
        return -1;
    }
    vn_info("open-file limit %d, %d descriptors in use: unauthenticated connections are shed "
            "from %d in use on",
            srv->adm.fd_limit, srv->adm.fd_base, srv->adm.fd_high);
    return 0;
}

void vn_server_stop_listening(vn_server_t *srv)
{
    for (int i = 0; i < srv->nlisteners; i++) {
        vn_listener_t *l = &srv->listeners[i];
        if (l->io.fd < 0) continue;
        vn_timer_stop(srv->loop, &l->pause);
        vn_io_stop(srv->loop, &l->io);
        close(l->io.fd);
        l->io.fd = -1;
        free(l->spec);
    }
    free(srv->listeners);
    srv->listeners = NULL;
    srv->nlisteners = 0;
}

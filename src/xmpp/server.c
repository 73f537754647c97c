#include "xmpp/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
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

/* The store is touched only by the storage pool's single thread; work()
 * callbacks reach it through vn_store_of(). */
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

static void on_accept(vn_io_t *io, uint32_t events)
{
    (void)events;
    vn_listener_t *l = (vn_listener_t *)io;
    vn_server_t *srv = l->srv;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof(sa);
        int fd = accept4(io->fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                vn_warn("accept: %s", strerror(errno));
            return;
        }
        if (srv->shutting_down) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char peer[64] = "?";
        if (sa.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, peer, sizeof(peer));
        else if (sa.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, peer, sizeof(peer));
        vn_session_new(srv, fd, l->direct_tls, peer);
    }
}

int vn_server_listen(vn_server_t *srv, char **err)
{
    const char *specs[2] = {srv->cfg.listen, srv->cfg.direct_tls};
    for (int i = 0; i < 2; i++) {
        vn_listener_t *l = &srv->listeners[i];
        l->io.fd = -1;
        l->srv = srv;
        l->direct_tls = i == 1;
        if (!specs[i]) continue;
        char *e = NULL;
        int fd = listen_on(specs[i], &e);
        if (fd < 0) {
            size_t n = strlen(specs[i]) + strlen(e) + 32;
            *err = vn_xmalloc(n);
            snprintf(*err, n, "cannot listen on %s: %s", specs[i], e);
            free(e);
            return -1;
        }
        vn_io_start(srv->loop, &l->io, fd, EPOLLIN, on_accept);
        vn_info("listening on %s (%s)", specs[i], i ? "direct TLS" : "STARTTLS");
    }
    return 0;
}

void vn_server_stop_listening(vn_server_t *srv)
{
    for (int i = 0; i < 2; i++) {
        vn_listener_t *l = &srv->listeners[i];
        if (l->io.fd < 0) continue;
        vn_io_stop(srv->loop, &l->io);
        close(l->io.fd);
        l->io.fd = -1;
    }
}

/* The worker process: one epoll loop driving its share of the sessions. */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "scram.h"

static struct worker *W; /* the one worker of this process */
static char ctl_tag;     /* its address marks the control socket in epoll */

void worker_send(struct worker *w, int cmd, int64_t a, int64_t b)
{
    struct scram_cache_stats cs = scram_cache_stats();
    w->res->pbkdf2_runs = cs.pbkdf2_runs;
    w->res->cache_hits = cs.cache_hits;
    w->res->mech_used = w->env.mech_used;
    memcpy(w->res->tls_desc, w->env.tls_desc, sizeof w->res->tls_desc);
    struct ctl m = {.cmd = cmd, .worker = w->id, .a = a, .b = b};
    if (send(w->ctl, &m, sizeof m, MSG_NOSIGNAL) != sizeof m) _exit(3); /* the parent is gone */
}

void worker_error(struct worker *w, const char *why)
{
    if (!w->res->nerrors++) snprintf(w->res->first_error, sizeof w->res->first_error, "%s", why);
}

static void source_addr(struct worker *w, uint32_t global, struct in_addr *a)
{
    if (w->o->src_addrs <= 1) {
        a->s_addr = 0;
        return;
    }
    a->s_addr = htonl(0x7f000001u + global % (uint32_t)w->o->src_addrs);
}

void worker_connect_next(struct worker *w)
{
    while (w->next < w->end && w->inflight < w->max_inflight) {
        uint32_t i = w->next++;
        struct xsess *s = &w->sess[i];
        char local[48];
        snprintf(local, sizeof local, w->o->user_fmt, w->o->first + s->user);
        struct in_addr src;
        source_addr(w, s->user, &src);
        if (xmpp_start(s, &w->env, local, &src) < 0) {
            char why[96];
            snprintf(why, sizeof why, "socket: %s", strerror(errno));
            worker_error(w, why);
            if (w->sc->w_closed) w->sc->w_closed(w, s, why);
            continue;
        }
        w->inflight++;
    }
}

void worker_connect(struct worker *w, uint32_t from, uint32_t to, uint32_t conc)
{
    w->next = from;
    w->end = to;
    w->max_inflight = conc ? conc : 1;
    worker_connect_next(w);
}

/* xmpp callbacks: forward to the scenario */
static void h_online(struct xsess *s)
{
    struct worker *w = s->env->ud;
    if (w->inflight) w->inflight--;
    w->online++;
    w->sc->w_online(w, s);
    worker_connect_next(w);
}

static void h_message(struct xsess *s, const char *body, size_t n, int is_error)
{
    struct worker *w = s->env->ud;
    if (w->sc->w_message) w->sc->w_message(w, s, body, n, is_error);
}

static void h_closed(struct xsess *s, const char *err)
{
    struct worker *w = s->env->ud;
    if (s->t_online) {
        if (w->online) w->online--;
    } else if (w->inflight) {
        w->inflight--;
    }
    if (err) worker_error(w, err);
    w->sc->w_closed(w, s, err);
    worker_connect_next(w);
}

static void h_presence(struct xsess *s, unsigned flags)
{
    struct worker *w = s->env->ud;
    if (w->sc->w_presence) w->sc->w_presence(w, s, flags);
}

static void h_iq(struct xsess *s, unsigned flags)
{
    struct worker *w = s->env->ud;
    if (w->sc->w_iq) w->sc->w_iq(w, s, flags);
}

static const struct xmpp_handlers handlers = {
    .online = h_online,
    .message = h_message,
    .presence = h_presence,
    .iq = h_iq,
    .closed = h_closed,
};

/* Abort sessions stuck signing in or closing. */
static void sweep(struct worker *w, int64_t now)
{
    int64_t lim = (int64_t)(w->o->signin_timeout_s * 1e9);
    for (uint32_t i = 0; i < w->count; i++) {
        struct xsess *s = &w->sess[i];
        if (s->state == XS_IDLE || s->state == XS_ONLINE) continue;
        if (s->state == XS_CLOSING) {
            if (now - s->t_close > 5000000000LL) xmpp_abort(s, "close timeout");
        } else if (now - s->t_start > lim) {
            xmpp_abort(s, "sign-in timeout");
        }
    }
}

static void handle_ctl(struct worker *w)
{
    for (;;) {
        struct ctl m;
        ssize_t r = recv(w->ctl, &m, sizeof m, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (r != sizeof m) {
            w->quit = 1; /* parent closed */
            return;
        }
        if (m.cmd == CMD_QUIT) {
            w->quit = 1;
            return;
        }
        w->sc->w_cmd(w, &m);
    }
}

void worker_main(struct worker *w)
{
    W = w;
    signal(SIGPIPE, SIG_IGN);
    w->res = &w->shm->w[w->id];
    hist_init(&w->res->lat);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0) die("epoll_create1: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ctl_tag};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->ctl, &ev);

    w->env.ssl_ctx = w->o->tls == TLSM_NONE ? NULL : conn_client_ctx();
    w->env.epfd = w->epfd;
    w->env.dst.sin_family = AF_INET;
    w->env.dst.sin_port = htons((uint16_t)w->o->port);
    if (inet_pton(AF_INET, w->o->host, &w->env.dst.sin_addr) != 1)
        die("bad IPv4 address: %s", w->o->host);
    w->env.tls = w->o->tls;
    w->env.mech = w->o->mech;
    w->env.domain = w->o->domain;
    w->env.password = w->o->password;
    w->env.resource = w->o->resource;
    w->env.send_presence = 1;
    w->env.fast_presence = w->sc->fast_presence;
    w->env.h = &handlers;
    w->env.ud = w;

    w->sess = xcalloc(w->count, sizeof *w->sess);
    for (uint32_t i = 0; i < w->count; i++) {
        w->sess[i].idx = i;
        w->sess[i].user = w->first + i * w->stride;
        w->sess[i].io.fd = -1;
    }
    if (w->sc->w_init) w->sc->w_init(w);

    enum { MAXEV = 256 };
    struct epoll_event evs[MAXEV];
    w->last_sweep = now_ns();
    while (!w->quit) {
        int64_t now = now_ns();
        int timeout = w->sc->w_tick ? w->sc->w_tick(w, now) : -1;
        if (timeout < 0 || timeout > 1000) timeout = 1000;
        int n = epoll_wait(w->epfd, evs, MAXEV, timeout);
        if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &ctl_tag)
                handle_ctl(w);
            else
                xmpp_on_event(evs[i].data.ptr, evs[i].events);
        }
        now = now_ns();
        if (now - w->last_sweep > 1000000000) {
            w->last_sweep = now;
            sweep(w, now);
        }
    }
    for (uint32_t i = 0; i < w->count; i++)
        xmpp_destroy(&w->sess[i]);
    free(w->sess);
    if (w->env.ssl_ctx) SSL_CTX_free(w->env.ssl_ctx);
}

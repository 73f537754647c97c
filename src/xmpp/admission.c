#include "xmpp/admission.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/log.h"
#include "core/map.h"
#include "xmpp/session.h"

/* Lines an attacker can cause at will are rate-limited (one per 10 s). */
#define LOG_INTERVAL_MS 10000

/* Descriptors open now, other than connections: stdio, the loop's epoll
 * and event descriptors, listeners, storage files, the reserve. */
static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

int vn_admission_init(vn_server_t *srv)
{
    struct vn_admission *a = &srv->adm;
    a->per_address = vn_map_new();
    a->reserve_fd = -1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return -1;
    a->fd_limit =
        rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX ? INT_MAX : (int)rl.rlim_cur;
    /* Keep the last 5% (at least 8) for what is not a client: storage
     * files, and room to accept, refuse and shed at the limit. */
    int headroom = a->fd_limit / 20;
    a->fd_high = a->fd_limit - (headroom < 8 ? 8 : headroom);
    vn_admission_reserve_take(srv);
    if (a->reserve_fd < 0) return -1;
    a->fd_base = count_open_fds();
    return 0;
}

int vn_admission_fds_short(const vn_server_t *srv, int fd)
{
    const struct vn_admission *a = &srv->adm;
    /* accept(2) returns the lowest free descriptor, so fd itself is a lower
     * bound of those in use; the count catches the holes that closed
     * connections leave below it. */
    return fd >= a->fd_high || a->fd_base + vn_conn_open_count() + 1 >= a->fd_high;
}

void vn_admission_fini(vn_server_t *srv)
{
    vn_admission_reserve_release(srv);
    vn_map_free(srv->adm.per_address);
    srv->adm.per_address = NULL;
}

int vn_admission_enter(vn_server_t *srv, const char *addr)
{
    struct vn_admission *a = &srv->adm;
    if (!a->per_address) return 0;
    uintptr_t n = (uintptr_t)vn_map_get(a->per_address, addr);
    int max = srv->cfg.max_connections_per_address;
    if (max > 0 && n >= (uintptr_t)max) return -1;
    vn_map_put(a->per_address, addr, (void *)(n + 1));
    return 0;
}

static void address_leave(vn_server_t *srv, const char *addr)
{
    struct vn_admission *a = &srv->adm;
    if (!a->per_address) return;
    uintptr_t n = (uintptr_t)vn_map_get(a->per_address, addr);
    if (n <= 1)
        vn_map_del(a->per_address, addr); /* idle addresses cost nothing */
    else
        vn_map_put(a->per_address, addr, (void *)(n - 1));
}

/* ---- the pre-authentication queue: oldest at the head ---- */

void vn_admission_preauth_add(vn_server_t *srv, vn_session_t *s)
{
    struct vn_admission *a = &srv->adm;
    if (s->in_preauth) return;
    s->in_preauth = 1;
    s->next_preauth = NULL;
    s->prev_preauth = a->preauth_tail;
    if (a->preauth_tail)
        a->preauth_tail->next_preauth = s;
    else
        a->preauth_head = s;
    a->preauth_tail = s;
    a->npreauth++;
}

static void preauth_remove(vn_server_t *srv, vn_session_t *s)
{
    struct vn_admission *a = &srv->adm;
    if (!s->in_preauth) return;
    s->in_preauth = 0;
    if (s->prev_preauth)
        s->prev_preauth->next_preauth = s->next_preauth;
    else
        a->preauth_head = s->next_preauth;
    if (s->next_preauth)
        s->next_preauth->prev_preauth = s->prev_preauth;
    else
        a->preauth_tail = s->prev_preauth;
    s->next_preauth = s->prev_preauth = NULL;
    a->npreauth--;
}

void vn_admission_authenticated(vn_server_t *srv, vn_session_t *s)
{
    preauth_remove(srv, s);
}

void vn_admission_conn_closed(vn_server_t *srv, vn_session_t *s)
{
    preauth_remove(srv, s);
    if (s->addr_counted) {
        s->addr_counted = 0;
        address_leave(srv, s->conn.peer);
    }
}

int vn_admission_shed(vn_server_t *srv, int n)
{
    static vn_log_limit_t rl;
    int shed = 0;
    while (shed < n && srv->adm.preauth_head) {
        vn_session_t *s = srv->adm.preauth_head;
        vn_session_shed(s, "resource-constraint", "the server is busy; try again later");
        preauth_remove(srv, s); /* already done by the close, unless it failed */
        shed++;
    }
    if (shed > 0)
        vn_log_limited(&rl, LOG_INTERVAL_MS, VN_LOG_WARN,
                       "descriptors short (limit %d): closed %d of the oldest unauthenticated "
                       "connections, %d still waiting",
                       srv->adm.fd_limit, shed, srv->adm.npreauth);
    return shed;
}

void vn_admission_reserve_release(vn_server_t *srv)
{
    if (srv->adm.reserve_fd < 0) return;
    close(srv->adm.reserve_fd);
    srv->adm.reserve_fd = -1;
}

void vn_admission_reserve_take(vn_server_t *srv)
{
    if (srv->adm.reserve_fd >= 0) return;
    srv->adm.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

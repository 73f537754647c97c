/* Plain TCP: the transport of a connection before STARTTLS. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "net/conn.h"

/* Writes gathered into one sendmsg(). */
#define MAX_IOV 64

static ssize_t tcp_read(vn_conn_t *c, char *buf, size_t n, const char **why)
{
    ssize_t r = recv(c->io.fd, buf, n, 0);
    if (r > 0) return r;
    if (r == 0) {
        *why = "peer closed";
        return -1;
    }
    if (errno == EAGAIN || errno == EINTR) return 0;
    *why = strerror(errno);
    return -1;
}

static ssize_t tcp_write(vn_conn_t *c, const char **why)
{
    struct iovec iov[MAX_IOV];
    int n = vn_outq_iov(&c->out, iov, MAX_IOV);
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t w = sendmsg(c->io.fd, &mh, MSG_NOSIGNAL);
    if (w >= 0) return w;
    if (errno == EAGAIN || errno == EINTR) return 0;
    *why = strerror(errno);
    return -1;
}

static int tcp_pending(const vn_conn_t *c)
{
    (void)c;
    return 0;
}

static void tcp_nothing(vn_conn_t *c)
{
    (void)c;
}

static size_t tcp_channel_binding(const vn_conn_t *c, vn_cb_type_t type, uint8_t *out)
{
    (void)c, (void)type, (void)out;
    return 0;
}

static const char *tcp_version(const vn_conn_t *c)
{
    (void)c;
    return NULL;
}

const vn_transport_t vn_transport_tcp = {
    .name = "tcp",
    .read = tcp_read,
    .write = tcp_write,
    .pending = tcp_pending,
    .shutdown = tcp_nothing,
    .release = tcp_nothing,
    .channel_binding = tcp_channel_binding,
    .version = tcp_version,
};

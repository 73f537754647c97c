/* Unit tests for connections (src/net): an outgoing connection and the
 * client side of TLS against a server-side connection in the same loop,
 * channel binding seen alike on both ends, and the output bounds (a peer
 * that never reads is paused, then overflows). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "net/conn.h"
#include "net/tls.h"

typedef struct pair {
    vn_loop_t *loop;
    vn_io_t lio;
    vn_conn_t srv, cli;
    SSL_CTX *sctx, *cctx;
    int srv_up, cli_ready, srv_ready, connected;
    char srv_got[64], cli_got[64];
    size_t srv_len, cli_len;
    int closed, overflows;
    vn_timer_t guard;
} pair_t;

static pair_t P;

static void p_data(vn_conn_t *c, const char *d, size_t n)
{
    if (c == &P.srv) {
        memcpy(P.srv_got + P.srv_len, d, n);
        P.srv_len += n;
        vn_conn_write(&P.srv, "world", 5);
    } else {
        memcpy(P.cli_got + P.cli_len, d, n);
        P.cli_len += n;
        vn_loop_stop(P.loop);
    }
}

static void p_tls_ready(vn_conn_t *c)
{
    if (c == &P.srv) {
        P.srv_ready = 1;
    } else {
        P.cli_ready = 1;
        vn_conn_write(&P.cli, "hello", 5);
    }
}

static void p_closed(vn_conn_t *c, const char *why)
{
    (void)c, (void)why;
    P.closed++;
    vn_loop_stop(P.loop);
}

static void p_overflow(vn_conn_t *c, const char *why)
{
    (void)why;
    P.overflows++;
    vn_conn_close(c, why);
}

static void p_drained(vn_conn_t *c)
{
    (void)c;
}

static void p_connected(vn_conn_t *c)
{
    P.connected = 1;
    vn_conn_start_tls_client(c, P.cctx, "localhost");
}

static const vn_conn_handler_t H = {p_data,     p_tls_ready, p_closed,
                                    p_overflow, p_drained,   p_connected};

static void on_listen(vn_io_t *io, uint32_t ev)
{
    (void)ev;
    int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(fd >= 0);
    vn_conn_init(&P.srv, P.loop, fd, &H);
    P.srv_up = 1;
    vn_conn_start_tls(&P.srv, P.sctx);
}

static void on_guard(vn_timer_t *t)
{
    (void)t;
    vn_loop_stop(P.loop);
}

static int listen_any(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(*sa);
    assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
    assert_int_equal(listen(fd, 8), 0);
    getsockname(fd, (struct sockaddr *)sa, &len);
    return fd;
}

static int setup(void **state)
{
    (void)state;
    memset(&P, 0, sizeof(P));
    char dir[] = "/tmp/vn-test-conn-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cert[128], key[128];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    const char *domains[] = {"localhost"};
    char *err = NULL;
    assert_int_equal(vn_tls_generate_selfsigned(domains, 1, cert, key, &err), 0);
    vn_tls_opts_t opts = {"ECDHE+AESGCM:ECDHE+CHACHA20",
                          "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384", 12};
    P.sctx = vn_tls_server_ctx(cert, key, &opts, &err);
    assert_non_null(P.sctx);
    /* The client trusts exactly this certificate and checks the name. */
    P.cctx = vn_tls_client_ctx(cert, &err);
    assert_non_null(P.cctx);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    P.loop = vn_loop_new();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (P.srv_up) vn_conn_release(&P.srv);
    if (P.cli.loop) vn_conn_release(&P.cli);
    if (P.lio.cb) {
        vn_io_stop(P.loop, &P.lio);
        close(P.lio.fd);
    }
    vn_timer_stop(P.loop, &P.guard);
    vn_loop_free(P.loop);
    SSL_CTX_free(P.sctx);
    SSL_CTX_free(P.cctx);
    return 0;
}

static void test_outgoing_tls_roundtrip(void **state)
{
    (void)state;
    struct sockaddr_in sa;
    int lfd = listen_any(&sa);
    vn_io_start(P.loop, &P.lio, lfd, EPOLLIN, on_listen);
    assert_int_equal(vn_conn_connect(&P.cli, P.loop, (struct sockaddr *)&sa, sizeof(sa), &H), 0);
    vn_timer_start(P.loop, &P.guard, 10000, on_guard);
    vn_loop_run(P.loop);
    assert_true(P.connected && P.cli_ready && P.srv_ready);
    assert_int_equal(P.closed, 0);
    assert_int_equal(P.srv_len, 5);
    assert_memory_equal(P.srv_got, "hello", 5);
    assert_int_equal(P.cli_len, 5);
    assert_memory_equal(P.cli_got, "world", 5);
    assert_true(vn_conn_is_tls(&P.cli) && vn_conn_is_tls(&P.srv));
    assert_string_equal(vn_conn_tls_version(&P.srv), vn_conn_tls_version(&P.cli));
    /* RFC 9266: both ends derive the same tls-exporter binding. */
    uint8_t a[64], b[64];
    size_t na = vn_conn_channel_binding(&P.srv, VN_CB_TLS_EXPORTER, a);
    size_t nb = vn_conn_channel_binding(&P.cli, VN_CB_TLS_EXPORTER, b);
    assert_int_equal(na, 32);
    assert_int_equal(nb, na);
    assert_memory_equal(a, b, na);
}

static void test_connect_refused(void **state)
{
    (void)state;
    struct sockaddr_in sa;
    int lfd = listen_any(&sa);
    close(lfd); /* nobody listens there now */
    assert_int_equal(vn_conn_connect(&P.cli, P.loop, (struct sockaddr *)&sa, sizeof(sa), &H), 0);
    vn_timer_start(P.loop, &P.guard, 10000, on_guard);
    vn_loop_run(P.loop);
    assert_false(P.connected);
    assert_int_equal(P.closed, 1);
}

/* ---- output bounds ---- */

static int sink_fd = -1;

static void test_overflow_of_a_peer_that_never_reads(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    sink_fd = sv[1];
    static const vn_conn_limits_t lim = {
        .out_high = 8192, .out_max = 16384, .out_stall_ms = 50, .out_hard = 1 << 20};
    vn_conn_init(&P.srv, P.loop, sv[0], &H);
    P.srv_up = 1;
    vn_conn_set_limits(&P.srv, &lim);
    char chunk[1024];
    memset(chunk, 'x', sizeof(chunk));
    uint64_t base = vn_net_stats()->out_bytes;
    for (int i = 0; i < 200; i++)
        vn_conn_write(&P.srv, chunk, sizeof(chunk));
    /* Above out_high: the connection is no longer read. */
    assert_true(P.srv.out_full);
    assert_true(vn_net_stats()->out_paused >= 1);
    vn_timer_start(P.loop, &P.guard, 10000, on_guard);
    vn_loop_run(P.loop); /* overflow after the stall time, then close */
    assert_int_equal(P.overflows, 1);
    assert_int_equal(P.closed, 1);
    /* The dropped output is no longer counted anywhere. */
    assert_true(vn_net_stats()->out_bytes <= base + 64);
    close(sink_fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outgoing_tls_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow_of_a_peer_that_never_reads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Shared definitions: options, the parent/worker protocol, the shared-memory
 * result area, and the scenario interface. */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include "proc.h"
#include "stats.h"
#include "xmpp.h"

#define MAX_WORKERS 32
#define MAX_STEPS 16
/* Leave head-room below the 20000 open-files cap for each process. */
#define CONNS_PER_WORKER_MAX 18000

struct opts {
    const char *scenario;
    const char *host;
    int port;
    const char *domain;
    enum tls_mode tls;
    int mech;
    const char *user_fmt; /* printf format with one %u: account local part */
    unsigned first;       /* first account number */
    const char *password;
    const char *resource;
    int workers;   /* 0 = automatic */
    int src_addrs; /* source addresses 127.0.0.1 .. 127.0.0.N */
    const char *label;
    const char *json_path; /* "-" = stdout */
    int json_only;
    struct pidset server;
    double signin_timeout_s;
    unsigned n;           /* accounts (login, chat) */
    unsigned concurrency; /* sign-ins in flight (all workers together) */
    int rounds, warmup_rounds;
    unsigned steps[MAX_STEPS];
    int nsteps;
    double settle_s;
    double rate; /* messages/s per sender, 0 = flat out */
    double duration_s, warmup_s, warmup_max_s, drain_s;
    unsigned batch, window, body_size;
    int repeat;
    unsigned token; /* marks this run's messages */
    /* muc */
    const char *muc_service; /* NULL: conference.<domain> */
    const char *room;        /* NULL: bench-<token> */
    unsigned senders;
    double rates[MAX_STEPS]; /* one messaging phase per rate (room total, 0 = flat out) */
    int nrates;
    unsigned join_concurrency;
    double fill_timeout_s;
    int window_set; /* --window given (muc: otherwise chosen from the room size) */
    /* muc: roles for muc#roomconfig_presencebroadcast ("moderator", comma separated);
     * NULL: the default configuration (an instant room, every presence broadcast) */
    const char *presence_broadcast;
};

/* Parent -> worker commands and worker -> parent events. */
enum {
    CMD_CONNECT = 1, /* a: sessions this worker should hold online */
    CMD_LOGIN,       /* a: round number; sign every account in and out once */
    CMD_CHAT,        /* a: start sending at (ns); the window is not known yet */
    CMD_WINDOW,      /* a: measured window start, b: window end (ns) */
    CMD_STOP,        /* end of a chat run: reply EV_DONE */
    CMD_QUIT,
    CMD_MUC_CREATE, /* the first occupant finds the service and creates the room */
    CMD_MUC_JOIN,   /* a: joins in flight, all workers together */
    CMD_MUC_SEND,   /* a: start (ns), b: measured window start, c: window end */
    EV_READY = 100, /* a: online, b: failed */
    EV_DONE,        /* results are in the shared area */
    EV_CREATED,     /* a: 0 room ready, < 0 MUC_* failure (detail in first_error) */
    EV_JOINED,      /* a: joined, b: refused */
};

struct ctl {
    int32_t cmd;
    int32_t worker;
    int64_t a, b, c;
};

/* Results of one worker, in memory shared with the parent. */
struct wres {
    struct hist lat;
    uint64_t ok, failed;
    uint64_t sent, sent_window, delivered, delivered_window;
    uint64_t dups, reordered, misrouted, errors, late, stale;
    uint64_t pbkdf2_runs, cache_hits;
    int mech_used;
    char tls_desc[96];
    char first_error[128];
    uint64_t nerrors;
};

/* Per-account counters for the chat ring: sender k writes sent[k], the
 * receiver k+1 writes recvd[k+1]; they may live in different workers. */
struct ring_slot {
    _Atomic uint64_t sent;
    _Atomic uint64_t recvd;
};

struct shm {
    struct wres w[MAX_WORKERS];
    struct ring_slot ring[]; /* one per account */
};

struct worker;
struct bench;

struct scenario {
    const char *name;
    /* accounts spread over workers round-robin (1) instead of in blocks (0),
     * so that holding n sessions uses accounts 0 .. n-1 */
    int interleave;
    /* presences recognised without the XML parser once online (xmpp.h) */
    int fast_presence;
    /* parent: orchestrate the run and report; returns the exit status */
    int (*run)(struct bench *b);
    /* worker side */
    void (*w_init)(struct worker *w);
    void (*w_cmd)(struct worker *w, const struct ctl *m);
    void (*w_online)(struct worker *w, struct xsess *s);
    void (*w_message)(struct worker *w, struct xsess *s, const char *body, size_t n, int is_error);
    void (*w_closed)(struct worker *w, struct xsess *s, const char *err);
    /* presences and IQ results/errors received online (may be NULL) */
    void (*w_presence)(struct worker *w, struct xsess *s, unsigned flags);
    void (*w_iq)(struct worker *w, struct xsess *s, unsigned flags);
    /* called on every loop turn; returns the longest wait in ms (-1: none) */
    int (*w_tick)(struct worker *w, int64_t now);
};

extern const struct scenario scenario_login, scenario_idle, scenario_chat, scenario_muc;

/* ---- worker side ---------------------------------------------------------- */

struct worker {
    const struct opts *o;
    const struct scenario *sc;
    int id;
    int epfd, ctl;
    uint32_t first;  /* global index of this worker's first account */
    uint32_t stride; /* global index = first + local index * stride */
    uint32_t count;  /* accounts handled by this worker */
    uint32_t total;  /* accounts over all workers */
    int nw;          /* number of workers */
    struct xsess *sess;
    struct xmpp_env env;
    struct shm *shm;
    struct wres *res;
    void *sd; /* scenario state */
    /* the connector: starts sessions [next, end) with bounded concurrency */
    uint32_t next, end, inflight, max_inflight;
    uint32_t online;
    int quit;
    int64_t last_sweep;
};

void worker_main(struct worker *w);
void worker_send(struct worker *w, int cmd, int64_t a, int64_t b);
/* Start sessions for local accounts [from, to) with at most conc signing in. */
void worker_connect(struct worker *w, uint32_t from, uint32_t to, uint32_t conc);
/* Call when a signing-in session went online or failed: starts the next. */
void worker_connect_next(struct worker *w);
void worker_error(struct worker *w, const char *why);

/* ---- parent side ---------------------------------------------------------- */

struct bench {
    const struct opts *o;
    const struct scenario *sc;
    int nw;
    uint32_t total;
    pid_t pid[MAX_WORKERS];
    int ctl[MAX_WORKERS];
    uint32_t wfirst[MAX_WORKERS], wcount[MAX_WORKERS];
    struct shm *shm;
    size_t shm_size;
    FILE *json;
};

int bench_spawn(struct bench *b, uint32_t accounts);
void bench_send_all(struct bench *b, int cmd, int64_t a, int64_t bb, int64_t c);
void bench_send(struct bench *b, int i, int cmd, int64_t a, int64_t bb, int64_t c);
/* Wait until every worker reported ev; replies[i] gets each. Returns 0, or -1
 * on timeout / a dead worker. */
int bench_wait_all(struct bench *b, int ev, double timeout_s, struct ctl *replies);
/* The same for worker i alone. */
int bench_wait_one(struct bench *b, int i, int ev, double timeout_s, struct ctl *reply);
void bench_stop(struct bench *b);
/* CPU seconds used by the generator (parent + workers). */
double bench_gen_cpu(struct bench *b);
void bench_sum_results(struct bench *b, struct wres *sum);

#endif

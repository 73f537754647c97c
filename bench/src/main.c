/* vestnik-bench: command line, then hand over to the chosen scenario. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "report.h"
#include "scram.h"

static void usage(FILE *f)
{
    fputs(
        "usage: vestnik-bench login|idle|chat|muc [options]\n"
        "\n"
        "Connection (the same for every server):\n"
        "  -H, --host ADDR        server IPv4 address (127.0.0.1)\n"
        "  -p, --port N           port (5222, or 5223 with --tls direct)\n"
        "  -d, --domain NAME      XMPP domain of the accounts (localhost)\n"
        "      --tls MODE         starttls | direct | none (starttls)\n"
        "      --mech M           auto | SCRAM-SHA-1 | SCRAM-SHA-256 | PLAIN (auto: best offered)\n"
        "  -u, --user FMT         account local part, printf format with %u (user%u)\n"
        "      --first N          number of the first account (0)\n"
        "  -P, --password PW      password of every account (benchpass)\n"
        "      --resource R       resource to bind (bench)\n"
        "  -w, --workers N        worker processes (auto: 2, more past 18000 connections each)\n"
        "      --src-addrs N      spread connections over 127.0.0.1 .. 127.0.0.N (auto)\n"
        "      --timeout S        sign-in timeout per connection, seconds (30)\n"
        "  -c, --concurrency N    sign-ins in flight at once, all workers together (100)\n"
        "Output:\n"
        "  -l, --label NAME       name of the server under test in the output\n"
        "      --server-pid P[,P] the server's processes: memory and CPU read from /proc\n"
        "      --json FILE        append results as JSON lines to FILE ('-' = stdout)\n"
        "      --json-only        print no table\n"
        "login:  N accounts sign in (and out) as fast as the server allows\n"
        "  -n N                   accounts (100)\n"
        "      --rounds N         measured rounds, each signs every account in once (3)\n"
        "      --warmup-rounds N  unmeasured rounds first (1)\n"
        "idle:   sessions signed in and held; server memory per session at each step\n"
        "      --steps A,B,..     session counts (1000,2000,4000); needs --server-pid\n"
        "      --settle S         wait before reading memory at each step (3)\n"
        "chat:   a ring of N users, user k sends to user k+1\n"
        "  -n N                   users (100)\n"
        "      --rate R           messages/s per sender; 0 = flat out (0)\n"
        "      --duration S       measured window, seconds (10)\n"
        "      --warmup S         unmeasured sending before the window, at least (3); flat out\n"
        "                         also until every sender's first window was delivered\n"
        "      --warmup-max S     longest warm-up (120)\n"
        "      --batch N          stanzas per write (20)\n"
        "      --window N         most unacknowledged (not yet received) messages per sender "
        "(200)\n"
        "      --size N           body bytes per message (64)\n"
        "      --drain S          after the window, wait for messages in flight until none\n"
        "                         arrived for S seconds (10); the rest count as lost\n"
        "      --repeat N         measured runs on the same sessions; a median row follows (1)\n"
        "muc:    N occupants in one XEP-0045 room; fill time, then fan-out of groupchat messages\n"
        "  -n N                   occupants (100)\n"
        "      --muc-service JID  the MUC service (conference.DOMAIN)\n"
        "      --room NAME        room local part (bench-TOKEN: a new room every run)\n"
        "      --join-concurrency N  joins in flight, all workers together (10)\n"
        "      --presence-broadcast ROLES  configure the room with\n"
        "                         muc#roomconfig_presencebroadcast = ROLES (comma separated:\n"
        "                         moderator, participant, visitor) instead of an instant room;\n"
        "                         without participant, joins are not broadcast and filling\n"
        "                         costs 2N presences instead of N^2\n"
        "      --fill-timeout S   give up filling the room after S seconds (600); exit status 3\n"
        "      --settle S         after the last join, wait for the N^2 presences until none\n"
        "                         arrived for S seconds (3)\n"
        "      --senders N        occupants that post (4)\n"
        "      --rate R           messages/s into the room, all senders together; 0 = flat out\n"
        "      --rates R,R,..     one messaging phase per rate on the same room\n"
        "      --window N         most messages sent but not yet received by every occupant\n"
        "                         (automatic: 10000 / N, within 2..200)\n"
        "      --warmup S, --duration S, --size N, --drain S   as for chat, per phase\n"
        "  exit status 3: the room did not fill in time; 4: no MUC service (disco#info to it\n"
        "  failed, went unanswered or shows no conference identity); 5: --presence-broadcast\n"
        "  not supported (the room's form has no such field, or the server refused it)\n",
        f);
}

static int parse_steps(struct opts *o, const char *s)
{
    o->nsteps = 0;
    while (*s) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v == 0 || o->nsteps == MAX_STEPS) return -1;
        if (o->nsteps && v <= o->steps[o->nsteps - 1]) return -1;
        o->steps[o->nsteps++] = (unsigned)v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return o->nsteps ? 0 : -1;
}

static int parse_rates(struct opts *o, const char *s)
{
    o->nrates = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || v < 0 || v > 1e7 || o->nrates == MAX_STEPS) return -1;
        o->rates[o->nrates++] = v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return o->nrates ? 0 : -1;
}

static double num_arg(const char *name, const char *v, double lo, double hi)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || d < lo || d > hi) die("bad value for --%s: %s", name, v);
    return d;
}

enum {
    O_TLS = 256,
    O_MECH,
    O_FIRST,
    O_RESOURCE,
    O_SRC,
    O_TIMEOUT,
    O_PID,
    O_JSON,
    O_JSON_ONLY,
    O_ROUNDS,
    O_WROUNDS,
    O_STEPS,
    O_SETTLE,
    O_RATE,
    O_DURATION,
    O_WARMUP,
    O_BATCH,
    O_WINDOW,
    O_SIZE,
    O_DRAIN,
    O_REPEAT,
    O_WARMUP_MAX,
    O_MUC_SERVICE,
    O_ROOM,
    O_JOIN_CONC,
    O_PBCAST,
    O_FILL_TIMEOUT,
    O_SENDERS,
    O_RATES,
};

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    struct opts o = {
        .scenario = argv[1],
        .host = "127.0.0.1",
        .port = 0,
        .domain = "localhost",
        .tls = TLSM_STARTTLS,
        .mech = 0,
        .user_fmt = "user%u",
        .password = "benchpass",
        .resource = "bench",
        .label = "server",
        .signin_timeout_s = 30,
        .n = 100,
        .concurrency = 100,
        .rounds = 3,
        .warmup_rounds = 1,
        .settle_s = 3,
        .duration_s = 10,
        .warmup_s = 3,
        .warmup_max_s = 120,
        .drain_s = 10,
        .batch = 20,
        .window = 200,
        .body_size = 64,
        .repeat = 1,
        .senders = 4,
        .join_concurrency = 10,
        .fill_timeout_s = 600,
    };
    parse_steps(&o, "1000,2000,4000");
    const struct scenario *sc = NULL;
    if (!strcmp(o.scenario, "login"))
        sc = &scenario_login;
    else if (!strcmp(o.scenario, "idle"))
        sc = &scenario_idle;
    else if (!strcmp(o.scenario, "chat"))
        sc = &scenario_chat;
    else if (!strcmp(o.scenario, "muc"))
        sc = &scenario_muc;
    else {
        usage(stderr);
        return 2;
    }
    static const struct option lo[] = {
        {"host", 1, 0, 'H'},
        {"port", 1, 0, 'p'},
        {"domain", 1, 0, 'd'},
        {"tls", 1, 0, O_TLS},
        {"mech", 1, 0, O_MECH},
        {"user", 1, 0, 'u'},
        {"first", 1, 0, O_FIRST},
        {"password", 1, 0, 'P'},
        {"resource", 1, 0, O_RESOURCE},
        {"workers", 1, 0, 'w'},
        {"src-addrs", 1, 0, O_SRC},
        {"timeout", 1, 0, O_TIMEOUT},
        {"concurrency", 1, 0, 'c'},
        {"label", 1, 0, 'l'},
        {"server-pid", 1, 0, O_PID},
        {"json", 1, 0, O_JSON},
        {"json-only", 0, 0, O_JSON_ONLY},
        {"rounds", 1, 0, O_ROUNDS},
        {"warmup-rounds", 1, 0, O_WROUNDS},
        {"steps", 1, 0, O_STEPS},
        {"settle", 1, 0, O_SETTLE},
        {"rate", 1, 0, O_RATE},
        {"duration", 1, 0, O_DURATION},
        {"warmup", 1, 0, O_WARMUP},
        {"warmup-max", 1, 0, O_WARMUP_MAX},
        {"batch", 1, 0, O_BATCH},
        {"window", 1, 0, O_WINDOW},
        {"size", 1, 0, O_SIZE},
        {"drain", 1, 0, O_DRAIN},
        {"repeat", 1, 0, O_REPEAT},
        {"muc-service", 1, 0, O_MUC_SERVICE},
        {"room", 1, 0, O_ROOM},
        {"join-concurrency", 1, 0, O_JOIN_CONC},
        {"presence-broadcast", 1, 0, O_PBCAST},
        {"fill-timeout", 1, 0, O_FILL_TIMEOUT},
        {"senders", 1, 0, O_SENDERS},
        {"rates", 1, 0, O_RATES},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "H:p:d:u:P:w:c:l:n:h", lo, NULL)) != -1) {
        switch (c) {
        case 'H':
            o.host = optarg;
            break;
        case 'p':
            o.port = (int)num_arg("port", optarg, 1, 65535);
            break;
        case 'd':
            o.domain = optarg;
            break;
        case O_TLS:
            if (!strcmp(optarg, "starttls"))
                o.tls = TLSM_STARTTLS;
            else if (!strcmp(optarg, "direct"))
                o.tls = TLSM_DIRECT;
            else if (!strcmp(optarg, "none"))
                o.tls = TLSM_NONE;
            else
                die("--tls: starttls, direct or none");
            break;
        case O_MECH:
            if (strcmp(optarg, "auto") && !(o.mech = sasl_mech_from_name(optarg)))
                die("--mech: auto, SCRAM-SHA-1, SCRAM-SHA-256 or PLAIN");
            break;
        case 'u':
            if (!strstr(optarg, "%u")) die("--user needs a %%u for the account number");
            o.user_fmt = optarg;
            break;
        case O_FIRST:
            o.first = (unsigned)num_arg("first", optarg, 0, 1e9);
            break;
        case 'P':
            o.password = optarg;
            break;
        case O_RESOURCE:
            o.resource = optarg;
            break;
        case 'w':
            o.workers = (int)num_arg("workers", optarg, 1, MAX_WORKERS);
            break;
        case O_SRC:
            o.src_addrs = (int)num_arg("src-addrs", optarg, 1, 254);
            break;
        case O_TIMEOUT:
            o.signin_timeout_s = num_arg("timeout", optarg, 0.1, 3600);
            break;
        case 'c':
            o.concurrency = (unsigned)num_arg("concurrency", optarg, 1, 1e6);
            break;
        case 'l':
            o.label = optarg;
            break;
        case O_PID:
            if (pidset_parse(&o.server, optarg) < 0)
                die("--server-pid: up to %d pids, comma separated", MAX_PIDS);
            break;
        case O_JSON:
            o.json_path = optarg;
            break;
        case O_JSON_ONLY:
            o.json_only = 1;
            break;
        case 'n':
            o.n = (unsigned)num_arg("n", optarg, 1, 1e7);
            break;
        case O_ROUNDS:
            o.rounds = (int)num_arg("rounds", optarg, 1, 1000);
            break;
        case O_WROUNDS:
            o.warmup_rounds = (int)num_arg("warmup-rounds", optarg, 0, 1000);
            break;
        case O_STEPS:
            if (parse_steps(&o, optarg) < 0)
                die("--steps: increasing counts, comma separated (at most %d)", MAX_STEPS);
            break;
        case O_SETTLE:
            o.settle_s = num_arg("settle", optarg, 0, 3600);
            break;
        case O_RATE:
            o.rate = num_arg("rate", optarg, 0, 1e7);
            break;
        case O_DURATION:
            o.duration_s = num_arg("duration", optarg, 0.1, 86400);
            break;
        case O_WARMUP:
            o.warmup_s = num_arg("warmup", optarg, 0, 86400);
            break;
        case O_WARMUP_MAX:
            o.warmup_max_s = num_arg("warmup-max", optarg, 0, 86400);
            break;
        case O_BATCH:
            o.batch = (unsigned)num_arg("batch", optarg, 1, 10000);
            break;
        case O_WINDOW:
            o.window = (unsigned)num_arg("window", optarg, 1, 1e6);
            o.window_set = 1;
            break;
        case O_SIZE:
            o.body_size = (unsigned)num_arg("size", optarg, 48, 100000);
            break;
        case O_DRAIN:
            o.drain_s = num_arg("drain", optarg, 0, 3600);
            break;
        case O_REPEAT:
            o.repeat = (int)num_arg("repeat", optarg, 1, 100);
            break;
        case O_MUC_SERVICE:
            o.muc_service = optarg;
            break;
        case O_ROOM:
            o.room = optarg;
            break;
        case O_PBCAST: {
            /* roles, comma separated, each one of XEP-0045's */
            char tmp[128];
            snprintf(tmp, sizeof tmp, "%s", optarg);
            for (char *save = NULL, *r = strtok_r(tmp, ",", &save); r;
                 r = strtok_r(NULL, ",", &save))
                if (strcmp(r, "moderator") && strcmp(r, "participant") && strcmp(r, "visitor"))
                    die("--presence-broadcast: roles, comma separated: moderator, participant, "
                        "visitor (not %s)",
                        r);
            if (strlen(optarg) >= sizeof tmp || !optarg[0]) die("--presence-broadcast: bad list");
            o.presence_broadcast = optarg;
            break;
        }
        case O_JOIN_CONC:
            o.join_concurrency = (unsigned)num_arg("join-concurrency", optarg, 1, 1e6);
            break;
        case O_FILL_TIMEOUT:
            o.fill_timeout_s = num_arg("fill-timeout", optarg, 1, 86400);
            break;
        case O_SENDERS:
            o.senders = (unsigned)num_arg("senders", optarg, 1, 1e6);
            break;
        case O_RATES:
            if (parse_rates(&o, optarg) < 0)
                die("--rates: messages/s, comma separated (at most %d; 0 = flat out)", MAX_STEPS);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fputs("see: vestnik-bench --help\n", stderr);
            return 2;
        }
    }
    if (optind < argc) die("unexpected argument: %s", argv[optind]);
    if (!o.port) o.port = o.tls == TLSM_DIRECT ? 5223 : 5222;
    if (o.warmup_max_s < o.warmup_s) o.warmup_max_s = o.warmup_s;
    if (o.batch > o.window && sc != &scenario_muc) die("--batch must not exceed --window");

    if (!o.src_addrs) {
        /* ~28000 ephemeral ports per source address and server port */
        unsigned conns = sc == &scenario_idle ? o.steps[o.nsteps - 1] : o.n;
        o.src_addrs = (int)((conns + 19999) / 20000);
    }

    o.token = ((unsigned)getpid() * 2654435761u) ^ (unsigned)now_ns();

    struct bench b = {.o = &o, .sc = sc};
    if (o.json_path) {
        b.json = strcmp(o.json_path, "-") ? fopen(o.json_path, "a") : stdout;
        if (!b.json) die("cannot open %s", o.json_path);
    }
    int rc = sc->run(&b);
    if (b.json && b.json != stdout) fclose(b.json);
    return rc;
}

/* Client side of an XMPP c2s session (RFC 6120): stream, STARTTLS or direct
 * TLS, SASL, resource binding, initial presence; then delivers incoming
 * messages to the scenario. Parsing uses expat, without namespace processing
 * (elements are matched by local name). */
#ifndef BENCH_XMPP_H
#define BENCH_XMPP_H

#include <expat.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include "conn.h"

enum tls_mode { TLSM_STARTTLS, TLSM_DIRECT, TLSM_NONE };

/* What was seen in a presence or IQ (only what the scenarios act on; the
 * rest of each stanza is skipped without being copied). */
enum {
    XP_ERROR = 1,       /* type='error' */
    XP_UNAVAILABLE = 2, /* type='unavailable' */
    XP_SELF = 4,        /* MUC <status code='110'/>: presence of this occupant */
    XP_CREATED = 8,     /* MUC <status code='201'/>: the room was just created */
    XP_CONFERENCE = 16, /* disco#info <identity category='conference'/> */
    XP_PBCAST = 32,     /* a data form with a field muc#roomconfig_presencebroadcast */
};

struct xsess;

struct xmpp_handlers {
    /* Bound and initial presence sent. */
    void (*online)(struct xsess *s);
    /* A <message/> with its <body/> text; is_error for type='error'. */
    void (*message)(struct xsess *s, const char *body, size_t n, int is_error);
    /* A <presence/> once online (may be NULL); flags XP_*. For type='error'
     * s->cond holds the defined condition. */
    void (*presence)(struct xsess *s, unsigned flags);
    /* An <iq type='result'/> or type='error' once online (may be NULL); its
     * id is in s->id, flags XP_*, s->cond holds an error's condition. */
    void (*iq)(struct xsess *s, unsigned flags);
    /* Connection gone: error is NULL after a clean close we asked for. The
     * session may be restarted with xmpp_start() from inside the callback. */
    void (*closed)(struct xsess *s, const char *error);
};

/* Settings shared by all sessions of one worker process. */
struct xmpp_env {
    SSL_CTX *ssl_ctx;
    int epfd;
    struct sockaddr_in dst;
    enum tls_mode tls;
    int mech;           /* 0 = best offered: SCRAM-SHA-256, SCRAM-SHA-1, PLAIN */
    const char *domain; /* XMPP domain (stream 'to', JIDs) */
    const char *password;
    const char *resource;
    int send_presence;
    /* Once online, recognise complete top-level presences with a byte scan
     * instead of the XML parser (the muc scenario receives N^2 of them). */
    int fast_presence;
    const struct xmpp_handlers *h;
    void *ud;
    /* Filled in by the first session that comes online. */
    char tls_desc[96];
    int mech_used;
};

enum xs_state {
    XS_IDLE,
    XS_CONNECTING,
    XS_TLS,
    XS_FEATURES,
    XS_PROCEED,
    XS_SASL,
    XS_BIND,
    XS_SESSION,
    XS_ONLINE,
    XS_CLOSING,
};

struct xsess {
    struct conn io;
    struct xmpp_env *env;
    XML_Parser xp;
    struct sasl_client *sasl;
    struct sbuf text;  /* character data of the element being captured */
    struct sbuf carry; /* input kept back: an incomplete presence (fast_presence) */
    void *ud;          /* scenario data */
    int64_t t_start;   /* connect() issued */
    int64_t t_online;  /* bind (and session) result received */
    int64_t t_close;   /* </stream:stream> sent */
    uint32_t idx;      /* index inside the worker */
    uint32_t user;     /* global account number */
    uint8_t state;
    uint8_t depth;
    uint8_t capture; /* depth whose text is being captured, 0 = none */
    uint8_t kind;    /* kind of the current top-level element */
    uint8_t pending; /* action to run once expat returns */
    uint8_t in_parse;
    uint8_t tls_on, authed;
    uint16_t flags;
    uint8_t mechs;
    uint8_t need_session;
    char local[48];
    char id[24];
    char type[12];
    char from[80];
    const char *why; /* failure reason (static string) */
    char cond[40];   /* condition element of a stream error, SASL failure or stanza error */
    char whybuf[96];
};

/* Begin connecting account `local` from source address src. Returns 0, or -1
 * if the socket could not even be created (closed() is not called then). */
int xmpp_start(struct xsess *s, struct xmpp_env *env, const char *local, const struct in_addr *src);
/* Handle an epoll event for this session. */
void xmpp_on_event(struct xsess *s, uint32_t events);
/* Output buffer for raw stanzas; call xmpp_flush() after appending. */
static inline struct sbuf *xmpp_out(struct xsess *s)
{
    return &s->io.out;
}
void xmpp_flush(struct xsess *s);
/* Send </stream:stream>; closed(NULL) follows when the server closes too. */
void xmpp_close(struct xsess *s);
/* Drop the connection at once; closed(why) is called. */
void xmpp_abort(struct xsess *s, const char *why);
/* Free everything, without callbacks. */
void xmpp_destroy(struct xsess *s);

#endif

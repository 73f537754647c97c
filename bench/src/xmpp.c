#include "xmpp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include "scram.h"

/* Kinds of top-level (depth 2) elements we act on. */
enum {
    K_OTHER,
    K_FEATURES,
    K_PROCEED,
    K_TLSFAIL,
    K_CHALLENGE,
    K_SUCCESS,
    K_SASLFAIL,
    K_IQ,
    K_MESSAGE,
    K_PRESENCE,
    K_STREAMERR,
};

/* Flags gathered while parsing one top-level element. */
enum {
    F_STARTTLS = 1,
    F_BIND = 2,
    F_SESSION = 4,
    F_SESSION_OPT = 8,
    F_IN_MECHS = 16,
    F_PING = 32,
    F_BODY = 64,
    F_IN_BIND_OR_SESS = 128,
    F_IN_X = 256,   /* inside a presence's <x/> (MUC user data) */
    F_IN_ERR = 512, /* inside a stanza's <error/> */
    F_S110 = 1024,
    F_S201 = 2048,
    F_CONF = 4096,
    F_PBCAST = 8192, /* an IQ's data form offers muc#roomconfig_presencebroadcast */
};

enum { P_NONE, P_STARTTLS, P_RESTART, P_FAIL, P_CLOSED };

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts);
static void on_end(void *ud, const XML_Char *name);
static void on_text(void *ud, const XML_Char *s, int len);

static const char *lname(const char *n)
{
    const char *c = strrchr(n, ':');
    return c ? c + 1 : n;
}

static void parser_setup(struct xsess *s)
{
    if (!s->xp) {
        s->xp = XML_ParserCreate("UTF-8");
        if (!s->xp) die("XML_ParserCreate failed");
    } else {
        XML_ParserReset(s->xp, "UTF-8");
    }
    XML_SetUserData(s->xp, s);
    XML_SetElementHandler(s->xp, on_start, on_end);
    XML_SetCharacterDataHandler(s->xp, on_text);
    s->depth = 0;
    s->capture = 0;
}

static void send_header(struct xsess *s)
{
    sbuf_printf(&s->io.out,
                "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>",
                s->env->domain);
    s->state = XS_FEATURES;
}

/* Fail from anywhere: deferred while expat is running. */
static void fail(struct xsess *s, const char *why)
{
    if (s->pending == P_FAIL || s->pending == P_CLOSED) return;
    s->why = why;
    s->pending = P_FAIL;
    if (s->in_parse) XML_StopParser(s->xp, XML_FALSE);
}

static void failf(struct xsess *s, const char *prefix, const char *detail)
{
    snprintf(s->whybuf, sizeof s->whybuf, "%.40s%.50s", prefix, detail);
    fail(s, s->whybuf);
}

static void finish(struct xsess *s)
{
    const char *why = s->pending == P_FAIL ? s->why : NULL;
    s->pending = P_NONE;
    conn_close(&s->io);
    sasl_free(s->sasl);
    s->sasl = NULL;
    s->state = XS_IDLE;
    if (s->env->h->closed) s->env->h->closed(s, why);
}

static void copy_local(struct xsess *s, const char *local)
{
    size_t n = strlen(local);
    if (n >= sizeof s->local) n = sizeof s->local - 1;
    memcpy(s->local, local, n);
    s->local[n] = 0;
}

int xmpp_start(struct xsess *s, struct xmpp_env *env, const char *local, const struct in_addr *src)
{
    s->env = env;
    s->state = XS_CONNECTING;
    s->tls_on = s->authed = 0;
    s->pending = P_NONE;
    s->why = NULL;
    s->whybuf[0] = 0;
    s->cond[0] = 0;
    s->t_start = now_ns();
    s->t_online = 0;
    sbuf_reset(&s->text);
    sbuf_reset(&s->carry);
    parser_setup(s);
    copy_local(s, local);
    int r = conn_connect(&s->io, env->epfd, &env->dst, src, s);
    if (r < 0) {
        errno = -r;
        s->io.fd = -1;
        conn_close(&s->io);
        sasl_free(s->sasl);
        s->sasl = NULL;
        s->state = XS_IDLE;
        return -1;
    }
    return 0;
}

void xmpp_flush(struct xsess *s)
{
    if (conn_flush(&s->io) < 0) fail(s, "write failed");
}

void xmpp_close(struct xsess *s)
{
    if (s->state == XS_CLOSING || s->state == XS_IDLE) return;
    sbuf_adds(&s->io.out, "</stream:stream>");
    s->state = XS_CLOSING;
    s->t_close = now_ns();
    xmpp_flush(s);
}

void xmpp_abort(struct xsess *s, const char *why)
{
    if (s->state == XS_IDLE) return;
    fail(s, why);
    if (!s->in_parse) finish(s);
}

void xmpp_destroy(struct xsess *s)
{
    if (s->io.state != CONN_IDLE && s->io.state != CONN_CLOSED) conn_close(&s->io);
    sasl_free(s->sasl);
    s->sasl = NULL;
    if (s->xp) XML_ParserFree(s->xp);
    s->xp = NULL;
    sbuf_free(&s->text);
    sbuf_free(&s->carry);
}

/* ---- expat callbacks ----------------------------------------------------- */

static const char *attr(const XML_Char **atts, const char *name)
{
    for (; *atts; atts += 2)
        if (!strcmp(atts[0], name)) return atts[1];
    return NULL;
}

static void copy_attr(char *dst, size_t cap, const char *v)
{
    if (!v) {
        dst[0] = 0;
        return;
    }
    size_t n = strlen(v);
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static void capture(struct xsess *s)
{
    s->capture = s->depth;
    sbuf_reset(&s->text);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xsess *s = ud;
    const char *ln = lname(name);
    s->depth++;
    if (s->depth == 1) {
        if (strcmp(ln, "stream")) fail(s, "not an XMPP stream");
        return;
    }
    if (s->depth == 2) {
        s->flags = 0;
        s->kind = K_OTHER;
        s->capture = 0;
        switch (ln[0]) {
        case 'm':
            if (!strcmp(ln, "message")) s->kind = K_MESSAGE;
            break;
        case 'p':
            if (!strcmp(ln, "presence"))
                s->kind = K_PRESENCE;
            else if (!strcmp(ln, "proceed"))
                s->kind = K_PROCEED;
            break;
        case 'i':
            if (!strcmp(ln, "iq")) s->kind = K_IQ;
            break;
        case 'f':
            if (!strcmp(ln, "features")) {
                s->kind = K_FEATURES;
                s->mechs = 0;
            } else if (!strcmp(ln, "failure")) {
                s->kind = s->state == XS_PROCEED ? K_TLSFAIL : K_SASLFAIL;
            }
            break;
        case 'c':
            if (!strcmp(ln, "challenge")) {
                s->kind = K_CHALLENGE;
                capture(s);
            }
            break;
        case 's':
            if (!strcmp(ln, "success")) {
                s->kind = K_SUCCESS;
                capture(s);
            }
            break;
        case 'e':
            if (!strcmp(ln, "error")) s->kind = K_STREAMERR;
            break;
        }
        if (s->kind == K_MESSAGE || s->kind == K_IQ) {
            copy_attr(s->type, sizeof s->type, attr(atts, "type"));
            copy_attr(s->id, sizeof s->id, attr(atts, "id"));
            copy_attr(s->from, sizeof s->from, attr(atts, "from"));
            s->cond[0] = 0;
        } else if (s->kind == K_PRESENCE) {
            /* presences can be most of the traffic (a room of N sends N of
             * them per join): only the type is kept */
            copy_attr(s->type, sizeof s->type, attr(atts, "type"));
            s->cond[0] = 0;
        }
        return;
    }
    if (s->depth == 3) {
        switch (s->kind) {
        case K_MESSAGE:
            if (!strcmp(ln, "body")) {
                s->flags |= F_BODY;
                capture(s);
            }
            break;
        case K_FEATURES:
            if (!strcmp(ln, "starttls"))
                s->flags |= F_STARTTLS;
            else if (!strcmp(ln, "mechanisms"))
                s->flags |= F_IN_MECHS;
            else if (!strcmp(ln, "bind"))
                s->flags |= F_BIND;
            else if (!strcmp(ln, "session"))
                s->flags |= F_SESSION | F_IN_BIND_OR_SESS;
            break;
        case K_IQ:
            if (!strcmp(ln, "ping"))
                s->flags |= F_PING;
            else if (!strcmp(ln, "error"))
                s->flags |= F_IN_ERR;
            break;
        case K_PRESENCE:
            if (ln[0] == 'x' && !ln[1])
                s->flags |= F_IN_X;
            else if (!strcmp(ln, "error"))
                s->flags |= F_IN_ERR;
            break;
        case K_SASLFAIL:
        case K_STREAMERR:
            if (strcmp(ln, "text") && !s->cond[0]) copy_attr(s->cond, sizeof s->cond, ln);
            break;
        }
        return;
    }
    if (s->depth == 4 && s->kind == K_FEATURES) {
        if ((s->flags & F_IN_MECHS) && !strcmp(ln, "mechanism"))
            capture(s);
        else if ((s->flags & F_IN_BIND_OR_SESS) && !strcmp(ln, "optional"))
            s->flags |= F_SESSION_OPT;
    } else if (s->depth == 4 && (s->kind == K_PRESENCE || s->kind == K_IQ)) {
        if (s->flags & F_IN_X) {
            if (!strcmp(ln, "status")) {
                const char *code = attr(atts, "code");
                if (code && !strcmp(code, "110"))
                    s->flags |= F_S110;
                else if (code && !strcmp(code, "201"))
                    s->flags |= F_S201;
            }
        } else if (s->flags & F_IN_ERR) {
            if (strcmp(ln, "text") && !s->cond[0]) copy_attr(s->cond, sizeof s->cond, ln);
        } else if (s->kind == K_IQ && !strcmp(ln, "identity")) {
            const char *cat = attr(atts, "category");
            if (cat && !strcmp(cat, "conference")) s->flags |= F_CONF;
        }
    } else if (s->depth == 5 && s->kind == K_IQ && !strcmp(ln, "field")) {
        /* iq / muc#owner query / jabber:x:data form / field */
        const char *var = attr(atts, "var");
        if (var && !strcmp(var, "muc#roomconfig_presencebroadcast")) s->flags |= F_PBCAST;
    }
}

static void on_text(void *ud, const XML_Char *t, int len)
{
    struct xsess *s = ud;
    if (s->capture && s->capture == s->depth) sbuf_add(&s->text, t, (size_t)len);
}

static void text_z(struct xsess *s)
{
    sbuf_reserve(&s->text, 1);
    s->text.p[s->text.len] = 0;
}

static void dispatch(struct xsess *s);

static void on_end(void *ud, const XML_Char *name)
{
    struct xsess *s = ud;
    (void)name;
    if (s->depth == 4 && s->kind == K_FEATURES && s->capture == 4) {
        text_z(s);
        s->mechs |= (uint8_t)sasl_mech_from_name(s->text.p + s->text.off);
        s->capture = 0;
    } else if (s->depth == 3) {
        if (s->kind == K_FEATURES) s->flags &= (uint16_t) ~(F_IN_MECHS | F_IN_BIND_OR_SESS);
        s->flags &= (uint16_t) ~(F_IN_X | F_IN_ERR);
        if (s->capture == 3) s->capture = 0;
    } else if (s->depth == 2) {
        s->depth--;
        dispatch(s);
        s->capture = 0;
        return;
    } else if (s->depth == 1) {
        s->depth--;
        if (s->state == XS_CLOSING) {
            s->pending = P_CLOSED;
            XML_StopParser(s->xp, XML_FALSE);
        } else {
            fail(s, "server closed the stream");
        }
        return;
    }
    s->depth--;
}

/* ---- the sign-in sequence -------------------------------------------------- */

static void send_auth(struct xsess *s)
{
    int m = s->env->mech;
    if (m) {
        if (!(s->mechs & m)) {
            failf(s, "mechanism not offered: ", sasl_mech_name(m));
            return;
        }
    } else if (s->mechs & MECH_SCRAM_SHA256) {
        m = MECH_SCRAM_SHA256;
    } else if (s->mechs & MECH_SCRAM_SHA1) {
        m = MECH_SCRAM_SHA1;
    } else if (s->mechs & MECH_PLAIN) {
        m = MECH_PLAIN;
    } else {
        fail(s, "no supported SASL mechanism offered");
        return;
    }
    sasl_free(s->sasl);
    s->sasl = sasl_new(m, s->local, s->env->password);
    struct sbuf *o = &s->io.out;
    sbuf_printf(o, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>",
                sasl_mech_name(m));
    sasl_initial(s->sasl, o);
    sbuf_adds(o, "</auth>");
    s->env->mech_used = m;
    s->state = XS_SASL;
}

static void go_online(struct xsess *s)
{
    s->t_online = now_ns();
    s->state = XS_ONLINE;
    if (s->env->send_presence) sbuf_adds(&s->io.out, "<presence/>");
    if (!s->env->tls_desc[0]) conn_tls_desc(&s->io, s->env->tls_desc, sizeof s->env->tls_desc);
    if (s->env->h->online) s->env->h->online(s);
}

static void reply_iq(struct xsess *s)
{
    struct sbuf *o = &s->io.out;
    sbuf_adds(o, "<iq id='");
    sbuf_add_xml(o, s->id);
    if (s->from[0]) {
        sbuf_adds(o, "' to='");
        sbuf_add_xml(o, s->from);
    }
    if (s->flags & F_PING)
        sbuf_adds(o, "' type='result'/>");
    else
        sbuf_adds(o, "' type='error'><error type='cancel'><service-unavailable "
                     "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
}

static unsigned stanza_flags(const struct xsess *s)
{
    unsigned f = 0;
    if (!strcmp(s->type, "error"))
        f |= XP_ERROR;
    else if (!strcmp(s->type, "unavailable"))
        f |= XP_UNAVAILABLE;
    if (s->flags & F_S110) f |= XP_SELF;
    if (s->flags & F_S201) f |= XP_CREATED;
    if (s->flags & F_CONF) f |= XP_CONFERENCE;
    if (s->flags & F_PBCAST) f |= XP_PBCAST;
    return f;
}

static void dispatch(struct xsess *s)
{
    if (s->kind == K_STREAMERR) {
        failf(s, "stream error: ", s->cond[0] ? s->cond : "?");
        return;
    }
    switch (s->state) {
    case XS_FEATURES:
        if (s->kind != K_FEATURES) return;
        if (!s->tls_on && s->env->tls == TLSM_STARTTLS) {
            if (!(s->flags & F_STARTTLS)) {
                fail(s, "server offers no STARTTLS");
                return;
            }
            sbuf_adds(&s->io.out, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
            s->state = XS_PROCEED;
        } else if (!s->authed) {
            send_auth(s);
        } else if (s->flags & F_BIND) {
            sbuf_printf(&s->io.out,
                        "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                        "<resource>%s</resource></bind></iq>",
                        s->env->resource);
            s->state = XS_BIND;
            /* a legacy (RFC 3921) session only when not marked optional */
            s->need_session = (s->flags & F_SESSION) && !(s->flags & F_SESSION_OPT);
        } else {
            fail(s, "no resource binding offered");
        }
        return;
    case XS_PROCEED:
        if (s->kind == K_PROCEED) {
            s->pending = P_STARTTLS;
            XML_StopParser(s->xp, XML_FALSE);
        } else if (s->kind == K_TLSFAIL) {
            fail(s, "STARTTLS refused");
        }
        return;
    case XS_SASL:
        if (s->kind == K_CHALLENGE) {
            text_z(s);
            struct sbuf *o = &s->io.out;
            size_t mark = o->len;
            sbuf_adds(o, "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>");
            struct sbuf resp = {0};
            int r = sasl_step(s->sasl, s->text.p + s->text.off, &resp);
            if (r < 0) {
                o->len = mark;
                sbuf_free(&resp);
                fail(s, "bad SCRAM challenge or server signature");
                return;
            }
            sbuf_add(o, resp.p ? resp.p : "", resp.len);
            sbuf_free(&resp);
            sbuf_adds(o, "</response>");
        } else if (s->kind == K_SUCCESS) {
            text_z(s);
            if (sasl_finish(s->sasl, s->text.p + s->text.off) < 0) {
                fail(s, "server signature missing or wrong");
                return;
            }
            s->authed = 1;
            s->pending = P_RESTART;
            XML_StopParser(s->xp, XML_FALSE);
        } else if (s->kind == K_SASLFAIL) {
            failf(s, "SASL failure: ", s->cond[0] ? s->cond : "?");
        }
        return;
    case XS_BIND:
    case XS_SESSION:
        if (s->kind != K_IQ) return;
        if (!strcmp(s->type, "error")) {
            fail(s, s->state == XS_BIND ? "bind failed" : "session failed");
            return;
        }
        if (!strcmp(s->type, "result")) {
            if (s->state == XS_BIND && s->need_session) {
                sbuf_adds(&s->io.out, "<iq type='set' id='sess'><session "
                                      "xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
                s->state = XS_SESSION;
                return;
            }
            go_online(s);
        }
        return;
    case XS_ONLINE:
    case XS_CLOSING:
        if (s->kind == K_MESSAGE) {
            if (s->state == XS_ONLINE && s->env->h->message) {
                text_z(s);
                s->env->h->message(s, s->text.p + s->text.off, s->text.len - s->text.off,
                                   !strcmp(s->type, "error"));
            }
        } else if (s->kind == K_IQ) {
            if (!strcmp(s->type, "get") || !strcmp(s->type, "set"))
                reply_iq(s);
            else if (s->state == XS_ONLINE && s->env->h->iq)
                s->env->h->iq(s, stanza_flags(s));
        } else if (s->kind == K_PRESENCE) {
            if (s->state == XS_ONLINE && s->env->h->presence)
                s->env->h->presence(s, stanza_flags(s));
        }
        return;
    default:
        return;
    }
}

/* ---- presences without the XML parser -------------------------------------- */

/* A room of N occupants sends N presences per join, N^2 in all, and parsing
 * each one fully made expat the largest part of the generator's work. Once
 * online, a top-level <presence> that is complete in the input is therefore
 * recognised by a byte scan and handed to the scenario with the flags the
 * parser would have given; it never reaches expat, which then sits between
 * two top-level elements, so skipping a whole element keeps its input well
 * formed. Error presences (their condition is wanted) and anything the scan
 * does not understand go to expat as before. An incomplete presence at the
 * end of a read waits in s->carry for the next read. */

static const char PTAG[] = "<presence";
#define PTAG_LEN (sizeof PTAG - 1)
#define CARRY_MAX (1u << 20)

static int xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Length of the presence element at p (which starts with PTAG): 0 when it
 * is not complete before end, -1 when the scan cannot handle it. *stag gets
 * the length of its start tag. */
static long presence_len(const char *p, const char *end, size_t *stag)
{
    const char *q = p + PTAG_LEN;
    if (q >= end) return 0;
    if (!xml_space(*q) && *q != '>' && *q != '/') return -1; /* <presences...> */
    char quote = 0;
    for (; q < end; q++) {
        if (quote) {
            if (*q == quote) quote = 0;
        } else if (*q == '\'' || *q == '"') {
            quote = *q;
        } else if (*q == '>') {
            break;
        }
    }
    if (q >= end) return 0;
    *stag = (size_t)(q - p) + 1;
    if (q[-1] == '/') return (long)*stag;
    static const char ETAG[] = "</presence>";
    const char *e = memmem(q + 1, (size_t)(end - q - 1), ETAG, sizeof ETAG - 1);
    if (!e) return 0;
    return (long)(e + sizeof ETAG - 1 - p);
}

/* Value of attribute `name` in the tag [p, p + n) (which starts with '<' and
 * the element name); *vn gets its length. NULL when absent. */
static const char *tag_attr(const char *p, size_t n, const char *name, size_t *vn)
{
    const char *q = p + 1, *end = p + n;
    size_t nl = strlen(name);
    while (q < end && !xml_space(*q) && *q != '>' && *q != '/')
        q++; /* the element name */
    for (;;) {
        while (q < end && xml_space(*q))
            q++;
        if (q >= end || *q == '>' || *q == '/') return NULL;
        const char *an = q;
        while (q < end && *q != '=' && !xml_space(*q))
            q++;
        size_t al = (size_t)(q - an);
        while (q < end && (xml_space(*q) || *q == '='))
            q++;
        if (q >= end || (*q != '\'' && *q != '"')) return NULL;
        char quote = *q++;
        const char *v = q;
        while (q < end && *q != quote)
            q++;
        if (q >= end) return NULL;
        if (al == nl && !memcmp(an, name, nl)) {
            *vn = (size_t)(q - v);
            return v;
        }
        q++;
    }
}

/* The presence [p, p + n) with a start tag of stag bytes: hand it to the
 * scenario and return 1, or return 0 to leave it to expat. */
static int fast_presence(struct xsess *s, const char *p, size_t n, size_t stag)
{
    unsigned f = 0;
    size_t vn;
    const char *v = tag_attr(p, stag, "type", &vn);
    if (v) {
        if (vn == 5 && !memcmp(v, "error", 5)) return 0;
        if (vn == 11 && !memcmp(v, "unavailable", 11)) f |= XP_UNAVAILABLE;
    }
    /* MUC status codes: <status code='110'/> and '201' */
    const char *q = p + stag, *end = p + n;
    while ((q = memmem(q, (size_t)(end - q), "<status", 7))) {
        const char *gt = memchr(q, '>', (size_t)(end - q));
        if (!gt) break;
        const char *c = tag_attr(q, (size_t)(gt - q) + 1, "code", &vn);
        if (c && vn == 3 && !memcmp(c, "110", 3)) f |= XP_SELF;
        if (c && vn == 3 && !memcmp(c, "201", 3)) f |= XP_CREATED;
        q = gt;
    }
    if (s->env->h->presence) s->env->h->presence(s, f);
    return 1;
}

/* Give [p, p + n) to expat; 0, or -1 when something is pending (a failure). */
static int feed(struct xsess *s, const char *p, size_t n)
{
    if (!n) return s->pending == P_NONE ? 0 : -1;
    s->in_parse = 1;
    enum XML_Status st = XML_Parse(s->xp, p, (int)n, 0);
    s->in_parse = 0;
    if (st == XML_STATUS_ERROR && s->pending == P_NONE)
        failf(s, "XML: ", XML_ErrorString(XML_GetErrorCode(s->xp)));
    return s->pending == P_NONE ? 0 : -1;
}

/* Incoming data: through the presence scan once online, else to expat. */
static void parse_input(struct xsess *s, const char *data, size_t n)
{
    const char *p = data, *end = data + n;
    int carried = sbuf_pending(&s->carry) != 0;
    if (carried) {
        sbuf_add(&s->carry, data, n);
        p = s->carry.p + s->carry.off;
        end = s->carry.p + s->carry.len;
    }
    const char *start = p;
    if (!s->env->fast_presence || s->state != XS_ONLINE) {
        feed(s, p, (size_t)(end - p));
        p = end;
    }
    while (p < end && s->state == XS_ONLINE && s->pending == P_NONE) {
        size_t avail = (size_t)(end - p);
        if (s->depth == 1 && *p == '<') {
            if (avail < PTAG_LEN && !memcmp(p, PTAG, avail)) break; /* keep it back */
            if (avail >= PTAG_LEN && !memcmp(p, PTAG, PTAG_LEN)) {
                size_t stag = 0;
                long len = presence_len(p, end, &stag);
                if (len == 0 && avail < CARRY_MAX) break; /* keep it back */
                if (len > 0 && fast_presence(s, p, (size_t)len, stag)) {
                    p += len;
                    continue;
                }
                if (len > 0) { /* for expat */
                    feed(s, p, (size_t)len);
                    p += len;
                    continue;
                }
            }
        }
        /* up to the next "<presence", which may be a top-level one */
        const char *q = memmem(p + 1, avail - 1, PTAG, PTAG_LEN);
        if (!q) {
            q = end;
            size_t k = avail - 1 < PTAG_LEN - 1 ? avail - 1 : PTAG_LEN - 1;
            for (; k > 0; k--)
                if (!memcmp(end - k, PTAG, k)) {
                    q = end - k; /* a "<presence" cut by the end of the read */
                    break;
                }
        }
        feed(s, p, (size_t)(q - p));
        p = q;
    }
    if (s->state != XS_ONLINE && s->state != XS_CLOSING) p = end; /* failed or restarted */
    if (p < end && s->state == XS_CLOSING) {
        feed(s, p, (size_t)(end - p)); /* the end of the stream goes to expat */
        p = end;
    }
    if (carried)
        sbuf_consume(&s->carry, (size_t)(p - start));
    else if (p < end)
        sbuf_add(&s->carry, p, (size_t)(end - p));
}

/* ---- I/O ------------------------------------------------------------------ */

static char rbuf[65536];

static void after_parse(struct xsess *s)
{
    switch (s->pending) {
    case P_STARTTLS:
        s->pending = P_NONE;
        parser_setup(s);
        if (conn_start_tls(&s->io, s->env->ssl_ctx, s->env->domain) < 0)
            fail(s, "SSL_new failed");
        else
            s->state = XS_TLS;
        break;
    case P_RESTART:
        s->pending = P_NONE;
        parser_setup(s);
        send_header(s);
        break;
    default:
        break;
    }
}

void xmpp_on_event(struct xsess *s, uint32_t events)
{
    (void)events;
    if (s->state == XS_IDLE) return;
    for (;;) {
        if (s->pending == P_FAIL || s->pending == P_CLOSED) break;
        if (s->io.state == CONN_CONNECTING || s->io.state == CONN_HANDSHAKE) {
            int r = conn_step(&s->io);
            if (r == CONN_EV_ERROR) {
                fail(s, s->io.state == CONN_CONNECTING ? "connect failed" : "TLS handshake failed");
                break;
            }
            if (r == CONN_EV_CONNECTED) {
                if (s->env->tls == TLSM_DIRECT) {
                    if (conn_start_tls(&s->io, s->env->ssl_ctx, s->env->domain) < 0) {
                        fail(s, "SSL_new failed");
                        break;
                    }
                    s->state = XS_TLS;
                    continue;
                }
                send_header(s);
            } else if (r == CONN_EV_TLS_DONE) {
                s->tls_on = 1;
                send_header(s);
            } else {
                break; /* wait for the next event */
            }
        }
        /* CONN_OPEN: write what is queued, then read until it would block */
        if (conn_flush(&s->io) < 0) {
            fail(s, "write failed");
            break;
        }
        long n = conn_read(&s->io, rbuf, sizeof rbuf);
        if (n > 0) {
            parse_input(s, rbuf, (size_t)n);
            after_parse(s);
            continue;
        }
        if (n < 0) {
            if (s->state == XS_CLOSING)
                s->pending = P_CLOSED;
            else
                fail(s, s->io.eof ? "connection closed by server" : "read failed");
        }
        break;
    }
    if (s->pending == P_NONE && conn_flush(&s->io) < 0) fail(s, "write failed");
    if (s->pending == P_FAIL || s->pending == P_CLOSED) finish(s);
}

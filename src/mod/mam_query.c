/* XEP-0313 queries, shared by the user archive (mam.c) and room archives
 * (muc/archive.c): the query form and XEP-0059 paging parsed, the page read
 * on the storage thread, results forwarded (XEP-0297) with <fin/>. Also the
 * XEP-0359 id generator and XEP-0082 time helpers both need. */
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "mod/mam_query.h"
#include "mod/roster.h"
#include "xmpp/router.h"

#define NS_MAM VN_NS_MAM
#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_DELAY "urn:xmpp:delay"
#define NS_DATA "jabber:x:data"

#define PAGE_DEFAULT 50
#define PAGE_MAX 250

int64_t vn_mam_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* XEP-0359 §2.1 / §3: unique within the archive ('by'); 128 random bits,
 * so that ids are also unguessable. */
void vn_mam_new_id(char out[VN_MAM_ID_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1) {
        static uint64_t counter;
        uint64_t a = vn_mam_now_us(), b = ++counter;
        memcpy(r, &a, 8);
        memcpy(r + 8, &b, 8);
    }
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < sizeof(r); i++) {
        acc = (acc << 8) | r[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = alphabet[(acc >> bits) & 63];
        }
        acc &= (1u << bits) - 1;
    }
    if (bits) out[o++] = alphabet[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

static int take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int take_char(const char **p, char c)
{
    if (**p != c) return -1;
    (*p)++;
    return 0;
}

/* XEP-0082 §3.2 DateTime: CCYY-MM-DDThh:mm:ss[.sss]TZD, TZD = Z | ±hh:mm.
 * Returns 0 and microseconds since the epoch (UTC), or -1. */
int vn_mam_parse_datetime(const char *s, int64_t *out)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, us = 0;
    if (take_digits(&p, 4, &y) || take_char(&p, '-') || take_digits(&p, 2, &mo) ||
        take_char(&p, '-') || take_digits(&p, 2, &d) || take_char(&p, 'T') ||
        take_digits(&p, 2, &h) || take_char(&p, ':') || take_digits(&p, 2, &mi) ||
        take_char(&p, ':') || take_digits(&p, 2, &sec))
        return -1;
    if (*p == '.') {
        p++;
        int nd = 0;
        if (*p < '0' || *p > '9') return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (nd < 6) {
                us = us * 10 + (*p - '0');
                nd++;
            }
        }
        for (; nd < 6; nd++)
            us *= 10;
    }
    int offset = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (take_digits(&p, 2, &oh) || take_char(&p, ':') || take_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        offset = sign * (oh * 60 + om) * 60;
    } else {
        return -1;
    }
    if (*p) return -1;
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
        sec > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *out = ((int64_t)t - offset) * 1000000 + us;
    return 0;
}

/* XEP-0082 DateTime with microseconds (XEP-0203 delay stamps). */
void vn_mam_format_stamp(int64_t us, char *out, size_t n)
{
    time_t t = (time_t)(us / 1000000);
    int frac = (int)(us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        t--;
    }
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%06dZ", frac);
}

/* ---- appending ---- */

typedef struct append_job {
    vn_work_t work;
    char *owner, *with, *xml;
    size_t len;
    char id[VN_MAM_ID_LEN + 1];
    int64_t ts;
    int rc;
    vn_mam_store_append_fn fn;
} append_job_t;

static void append_work(vn_work_t *w)
{
    append_job_t *j = (append_job_t *)w;
    j->rc = j->fn(vn_store_of(w), j->owner, j->id, j->ts, j->with, j->xml, j->len);
}

static void append_done(vn_work_t *w)
{
    append_job_t *j = (append_job_t *)w;
    /* Fails for an account (room) deleted meanwhile (foreign key): nothing
     * to keep. */
    if (j->rc < 0) vn_debug("archive: message %s not archived for %s", j->id, j->owner);
    free(j->owner);
    free(j->with);
    free(j->xml);
    free(j);
}

void vn_mam_submit_append(vn_server_t *srv, vn_mam_store_append_fn fn, const char *owner,
                          const char *with, const char *id, int64_t ts, char *xml, size_t len)
{
    append_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->fn = fn;
    j->owner = vn_xstrdup(owner);
    j->with = vn_xstrdup(with);
    j->xml = xml;
    j->len = len;
    snprintf(j->id, sizeof(j->id), "%s", id);
    j->ts = ts;
    vn_store_submit_ordered(srv, j->owner, &j->work, append_work, append_done);
}

/* ---- queries (XEP-0313 §4, XEP-0059) ---- */

/* A copy of an IQ request for answering later, 'to' kept even when the
 * client left it out (then it is the account itself). */
vn_stanza_t *vn_mam_request_copy(const vn_stanza_t *st)
{
    vn_stanza_t *c = stanza_clone(st);
    if (!c->to.domain) {
        c->to.local = st->to.local ? vn_arena_strdup(c->arena, st->to.local) : NULL;
        c->to.domain = vn_arena_strdup(c->arena, st->to.domain);
    }
    return c;
}

typedef struct query_job {
    vn_work_t work;
    vn_server_t *srv;
    vn_session_t *s;
    vn_stanza_t *req; /* owned copy */
    char *owner, *to_full, *queryid;
    char *with, *after, *before;
    vn_mam_store_query_fn fn;
    vn_archive_query_t q;
    vn_buf_t out; /* [uint32 length][result message]... */
    char *first, *last;
    vn_archive_page_t page;
    int rc;
} query_job_t;

static void put_escaped(vn_buf_t *b, const char *s)
{
    vn_buf_append_xml_escaped(b, s, strlen(s));
}

/* XEP-0313 §4.2: one <message/> per item, the archived stanza forwarded
 * (XEP-0297) with the time it was archived (XEP-0203). Runs on the storage
 * thread. */
static void query_item(const vn_archive_item_t *it, void *ud)
{
    query_job_t *j = ud;
    size_t at = j->out.len;
    uint32_t n = 0;
    vn_buf_append(&j->out, &n, sizeof(n));
    vn_buf_puts(&j->out, "<message to='");
    put_escaped(&j->out, j->to_full);
    vn_buf_puts(&j->out, "' from='");
    put_escaped(&j->out, j->owner);
    vn_buf_puts(&j->out, "'><result xmlns='" NS_MAM "'");
    if (j->queryid) {
        vn_buf_puts(&j->out, " queryid='");
        put_escaped(&j->out, j->queryid);
        vn_buf_puts(&j->out, "'");
    }
    vn_buf_puts(&j->out, " id='");
    put_escaped(&j->out, it->id);
    char stamp[48];
    vn_mam_format_stamp(it->ts_us, stamp, sizeof(stamp));
    vn_buf_printf(&j->out,
                  "'><forwarded xmlns='" NS_FORWARD "'><delay xmlns='" NS_DELAY "' stamp='%s'/>",
                  stamp);
    vn_buf_append(&j->out, it->xml, it->len);
    vn_buf_puts(&j->out, "</forwarded></result></message>");
    n = (uint32_t)(j->out.len - at - sizeof(n));
    memcpy(j->out.data + at, &n, sizeof(n));
    if (!j->first) j->first = vn_xstrdup(it->id);
    free(j->last);
    j->last = vn_xstrdup(it->id);
}

static void query_work(vn_work_t *w)
{
    query_job_t *j = (query_job_t *)w;
    vn_buf_reset(&j->out);
    free(j->first);
    free(j->last);
    j->first = j->last = NULL;
    j->rc = j->fn(vn_store_of(w), j->owner, &j->q, query_item, j, &j->page);
}

static void add_text_child(vn_arena_t *a, vn_xnode_t *parent, const char *ns, const char *name,
                           const char *text)
{
    vn_xnode_t *n = vn_xnode_add(a, parent, ns, name);
    vn_xnode_add_text(a, n, text, strlen(text));
}

static void query_done(vn_work_t *w)
{
    query_job_t *j = (query_job_t *)w;
    vn_session_t *s = j->s;
    if (!vn_session_alive(s)) {
        /* nobody to answer */
    } else if (j->rc < 0) {
        vn_route_error(j->srv, j->req, "wait", "internal-server-error", NULL);
    } else if (j->page.after_not_found) {
        /* XEP-0313 §4.3.2 / XEP-0059 §2.6: an unknown RSM id. */
        vn_route_error(j->srv, j->req, "cancel", "item-not-found", NULL);
    } else {
        for (size_t off = 0; off + sizeof(uint32_t) <= j->out.len;) {
            uint32_t n;
            memcpy(&n, j->out.data + off, sizeof(n));
            off += sizeof(n);
            vn_session_send_stanza_raw(s, j->out.data + off, n);
            off += n;
        }
        /* XEP-0313 §4, §4.3.2: <fin/> with the RSM summary after the results;
         * complete='true' when nothing lies beyond this page. */
        vn_stanza_t *r = vn_stanza_iq_result(j->req);
        vn_arena_t *a = r->arena;
        vn_xnode_t *fin = vn_xnode_add(a, r->node, NS_MAM, "fin");
        vn_xnode_set_attr(a, fin, "complete", j->page.complete ? "true" : "false");
        vn_xnode_t *set = vn_xnode_add(a, fin, NS_RSM, "set");
        if (j->first) add_text_child(a, set, NS_RSM, "first", vn_arena_strdup(a, j->first));
        if (j->last) add_text_child(a, set, NS_RSM, "last", vn_arena_strdup(a, j->last));
        add_text_child(a, set, NS_RSM, "count",
                       vn_arena_printf(a, "%lld", (long long)j->page.total));
        vn_session_send(s, r->node);
    }
    vn_session_unref(s);
    vn_stanza_free(j->req);
    vn_buf_free(&j->out);
    free(j->owner);
    free(j->to_full);
    free(j->queryid);
    free(j->with);
    free(j->after);
    free(j->before);
    free(j->first);
    free(j->last);
    free(j);
}

/* The first <value/> of a data form field, or "" (XEP-0004 §3.2). */
static const char *field_value(vn_arena_t *a, const vn_xnode_t *field)
{
    vn_xnode_t *v = vn_xnode_child(field, NS_DATA, "value");
    return v ? vn_xnode_text(a, v) : "";
}

typedef struct parsed_query {
    const char *with, *after, *before;
    int64_t start, end;
    int last_page, max;
} parsed_query_t;

/* Returns NULL, or the error text for <bad-request/> (*cond may say
 * otherwise). */
static const char *parse_query(vn_stanza_t *st, const vn_xnode_t *query, parsed_query_t *pq,
                               const char **cond, int full_with)
{
    vn_arena_t *a = st->arena;
    memset(pq, 0, sizeof(*pq));
    pq->max = PAGE_DEFAULT;
    *cond = "bad-request";
    /* XEP-0313 §4.1: the filters are a XEP-0004 form. */
    const vn_xnode_t *form = vn_xnode_child(query, NS_DATA, "x");
    for (const vn_xnode_t *f = form ? form->children : NULL; f; f = f->next) {
        if (!f->name || !f->ns || strcmp(f->ns, NS_DATA) || strcmp(f->name, "field")) continue;
        const char *var = vn_xnode_attr(f, "var");
        const char *value = field_value(a, f);
        if (!var) return "a form field without 'var'";
        if (!strcmp(var, "FORM_TYPE")) {
            if (strcmp(value, NS_MAM) != 0) return "FORM_TYPE must be " NS_MAM;
        } else if (!strcmp(var, "with")) {
            /* XEP-0313 §4.1.1; this archive keeps bare JIDs only. */
            if (!*value) continue;
            vn_jid_t j;
            if (vn_jid_parse(value, strlen(value), &j, a) < 0) return "'with' is not a valid JID";
            if (full_with) {
                pq->with = vn_jid_full_str(&j, a);
                continue;
            }
            if (j.resource) {
                *cond = "feature-not-implemented";
                return "'with' can only be a bare JID";
            }
            pq->with = vn_jid_bare_str(&j, a);
        } else if (!strcmp(var, "start") || !strcmp(var, "end")) {
            /* XEP-0313 §4.1.2: XEP-0082 timestamps, both inclusive. */
            if (!*value) continue;
            int64_t t;
            if (vn_mam_parse_datetime(value, &t) < 0) return "not a XEP-0082 DateTime";
            /* 0 means "unbounded" to the store: clamp to the first microsecond. */
            if (t < 1) t = 1;
            if (var[0] == 's')
                pq->start = t;
            else
                pq->end = t;
        } else {
            /* XEP-0313 §4.1.5: an unknown field is feature-not-implemented. */
            *cond = "feature-not-implemented";
            return "unsupported form field";
        }
    }
    /* XEP-0313 §4.3, XEP-0059 §2. */
    const vn_xnode_t *set = vn_xnode_child(query, NS_RSM, "set");
    for (const vn_xnode_t *c = set ? set->children : NULL; c; c = c->next) {
        if (!c->name || !c->ns || strcmp(c->ns, NS_RSM)) continue;
        const char *text = vn_xnode_text(a, c);
        if (!strcmp(c->name, "max")) {
            char *end;
            long long v = strtoll(text, &end, 10);
            if (!*text || *end || v < 0) return "bad <max/>";
            pq->max = v > PAGE_MAX ? PAGE_MAX : (int)v;
        } else if (!strcmp(c->name, "after")) {
            if (!*text) return "empty <after/>";
            pq->after = text;
        } else if (!strcmp(c->name, "before")) {
            if (*text)
                pq->before = text;
            else
                pq->last_page = 1;
        } else if (!strcmp(c->name, "index")) {
            *cond = "feature-not-implemented";
            return "<index/> is not supported";
        }
    }
    return NULL;
}

static void query_start(vn_server_t *srv, vn_stanza_t *st, vn_session_t *s, const char *owner,
                        vn_mam_store_query_fn fn, int full_with)
{
    vn_xnode_t *query = vn_xnode_child(st->node, NS_MAM, "query");
    parsed_query_t pq;
    const char *cond;
    const char *err = parse_query(st, query, &pq, &cond, full_with);
    if (err) {
        vn_route_error(srv, st, strcmp(cond, "bad-request") ? "cancel" : "modify", cond, err);
        return;
    }
    query_job_t *j = vn_xcalloc(1, sizeof(*j));
    j->srv = srv;
    j->s = s;
    vn_session_ref(s);
    j->req = vn_mam_request_copy(st);
    j->owner = vn_xstrdup(owner);
    j->fn = fn;
    j->to_full = vn_xstrdup(vn_jid_full_str(&st->from, st->arena));
    const char *qid = vn_xnode_attr(query, "queryid");
    j->queryid = qid ? vn_xstrdup(qid) : NULL;
    j->with = pq.with ? vn_xstrdup(pq.with) : NULL;
    j->after = pq.after ? vn_xstrdup(pq.after) : NULL;
    j->before = pq.before ? vn_xstrdup(pq.before) : NULL;
    j->q.with = j->with;
    j->q.start_us = pq.start;
    j->q.end_us = pq.end;
    j->q.after_id = j->after;
    j->q.before_id = j->before;
    j->q.last_page = pq.last_page;
    j->q.max = pq.max;
    /* After the appends to the same archive submitted before it. */
    vn_store_submit_ordered(srv, j->owner, &j->work, query_work, query_done);
}

void vn_mam_query_start(vn_server_t *srv, vn_stanza_t *st, vn_session_t *s, const char *owner,
                        vn_mam_store_query_fn fn)
{
    query_start(srv, st, s, owner, fn, 0);
}

void vn_mam_query_start_room(vn_server_t *srv, vn_stanza_t *st, vn_session_t *s,
                             const char *owner, vn_mam_store_query_fn fn)
{
    query_start(srv, st, s, owner, fn, 1);
}

/* XEP-0313 §4.1.5: the fields a query may use. */
void vn_mam_query_form(vn_server_t *srv, vn_stanza_t *st)
{
    vn_stanza_t *r = vn_stanza_iq_result(st);
    vn_arena_t *a = r->arena;
    vn_xnode_t *q = vn_xnode_add(a, r->node, NS_MAM, "query");
    vn_xnode_t *x = vn_xnode_add(a, q, NS_DATA, "x");
    vn_xnode_set_attr(a, x, "type", "form");
    static const char *const fields[][2] = {{"FORM_TYPE", "hidden"},
                                            {"with", "jid-single"},
                                            {"start", "text-single"},
                                            {"end", "text-single"}};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        vn_xnode_t *f = vn_xnode_add(a, x, NS_DATA, "field");
        vn_xnode_set_attr(a, f, "var", fields[i][0]);
        vn_xnode_set_attr(a, f, "type", fields[i][1]);
        if (i == 0) add_text_child(a, f, NS_DATA, "value", NS_MAM);
    }
    vn_route(srv, r);
}

/* The stream of a session (RFC 6120 §4): the headers both ways, the
 * features, restarts and stream errors. What differs between XMPP over TCP
 * and over WebSocket (RFC 7395: <open/> and <close/> in their own frames)
 * is only the framing table below; everything else is shared. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "xmpp/module.h"
#include "xmpp/sasl.h"
#include "xmpp/session.h"
#include "xmpp/session_priv.h"
#include "xmpp/stream.h"

static void rfc6120_open(vn_session_t *s, const char *to_attr, vn_buf_t *b)
{
    const char *domain = s->domain_idx >= 0 ? s->srv->domains[s->domain_idx] : s->srv->domains[0];
    vn_buf_puts(b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                   "xmlns:stream='http://etherx.jabber.org/streams' id='");
    vn_buf_puts(b, s->stream_id);
    vn_buf_puts(b, "' from='");
    vn_buf_append_xml_escaped(b, domain, strlen(domain));
    vn_buf_puts(b, "'");
    if (to_attr) {
        vn_buf_puts(b, " to='");
        vn_buf_append_xml_escaped(b, to_attr, strlen(to_attr));
        vn_buf_puts(b, "'");
    }
    vn_buf_puts(b, " version='1.0' xml:lang='en'>");
}

void vn_stream_new_id(vn_session_t *s)
{
    unsigned char r[9];
    RAND_bytes(r, sizeof(r));
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(r); i++) {
        s->stream_id[2 * i] = hex[r[i] >> 4];
        s->stream_id[2 * i + 1] = hex[r[i] & 15];
    }
    s->stream_id[2 * sizeof(r)] = '\0';
}

static void send_features(vn_session_t *s)
{
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_puts(&b, s->framing->features_open);
    if (!vn_conn_is_tls(&s->conn)) {
        vn_buf_puts(&b, "<starttls xmlns='" VN_NS_TLS "'><required/></starttls>");
    } else if (!s->bare) {
        vn_sasl_features(s, &b);
    } else {
        vn_buf_puts(&b, "<bind xmlns='" VN_NS_BIND "'/>"
                        "<session xmlns='" VN_NS_SESSION "'><optional/></session>");
        vn_buf_puts(&b, vn_stream_features_xml());
    }
    vn_buf_puts(&b, s->framing->features_close);
    vn_session_send_raw(s, b.data, b.len);
    vn_buf_free(&b);
}

void vn_stream_on_open(void *ud, const char *ns, const char *name, const char *default_ns,
                       const vn_xattr_t *attrs)
{
    vn_session_t *s = ud;
    const char *to = NULL, *from = NULL, *version = NULL;
    for (const vn_xattr_t *a = attrs; a; a = a->next) {
        if (a->ns) continue;
        if (!strcmp(a->name, "to"))
            to = a->value;
        else if (!strcmp(a->name, "from"))
            from = a->value;
        else if (!strcmp(a->name, "version"))
            version = a->value;
    }
    vn_stream_new_id(s);
    free(s->lang); /* RFC 6120 §4.7.4: the default language of what follows */
    s->lang = vn_stream_lang(attrs);
    /* RFC 6120 §4.7.1: a 'from' we echo back as 'to' only when it is a JID. */
    vn_jid_t fj;
    vn_arena_t *tmp = vn_arena_new(512);
    int from_ok = from && vn_jid_parse(from, strlen(from), &fj, tmp) == 0;
    if (to) {
        char *d = NULL;
        if (vn_jid_prep_domain(to, strlen(to), &d, tmp) == 0) {
            int idx = vn_server_domain_index(s->srv, d);
            if (idx >= 0 && s->domain_idx >= 0 && idx != s->domain_idx) idx = -1;
            s->domain_idx = idx;
        } else {
            s->domain_idx = -1;
        }
    }
    vn_stream_send_header(s, from_ok ? from : NULL);
    vn_arena_free(tmp);
    if (strcmp(ns, s->framing->open_ns) != 0 || strcmp(name, s->framing->open_name) != 0) {
        vn_session_stream_error(s, "invalid-namespace", NULL);
        return;
    }
    if (strcmp(default_ns, VN_NS_CLIENT) != 0) {
        vn_session_stream_error(s, "invalid-namespace",
                                "the default namespace must be jabber:client");
        return;
    }
    if (!to) {
        vn_session_stream_error(s, "host-unknown", "the stream header has no 'to'");
        return;
    }
    if (s->domain_idx < 0) {
        vn_session_stream_error(s, "host-unknown", "this server does not serve that domain");
        return;
    }
    if (!version || strncmp(version, "1.", 2) != 0) {
        vn_session_stream_error(s, "unsupported-version", NULL);
        return;
    }
    if (s->state == VN_SS_HEADER) s->state = s->bare ? VN_SS_AUTHED : VN_SS_FEATURES;
    send_features(s);
}

void vn_stream_on_close(void *ud)
{
    vn_session_t *s = ud;
    vn_session_close(s, "client closed the stream");
}

/* RFC 6120 §4.7: <stream:stream> opens, </stream:stream> closes, and
 * stream-level elements use the stream: prefix the header declared. */
const vn_framing_t vn_framing_rfc6120 = {
    .name = "rfc6120",
    .open = rfc6120_open,
    .close = "</stream:stream>",
    .open_ns = VN_NS_STREAMS,
    .open_name = "stream",
    .features_open = "<stream:features>",
    .features_close = "</stream:features>",
    .error_open = "<stream:error>",
    .error_close = "</stream:error>",
};

void vn_stream_send_header(vn_session_t *s, const char *to_attr)
{
    vn_buf_t b = VN_BUF_INIT;
    s->framing->open(s, to_attr, &b);
    vn_session_send_raw(s, b.data, b.len);
    vn_buf_free(&b);
    s->stream_open_sent = 1;
}

void vn_stream_send_close(vn_session_t *s)
{
    vn_conn_write(&s->conn, s->framing->close, strlen(s->framing->close));
}

void vn_stream_send_error(vn_session_t *s, const char *condition, const char *text)
{
    /* RFC 6120 §4.9.1.2: open the stream first if we have not yet. */
    if (!s->stream_open_sent) {
        vn_stream_new_id(s);
        vn_stream_send_header(s, NULL);
    }
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_puts(&b, s->framing->error_open);
    vn_buf_printf(&b, "<%s xmlns='" VN_NS_STREAM_ERR "'/>", condition);
    if (text) {
        vn_buf_puts(&b, "<text xmlns='" VN_NS_STREAM_ERR "'>");
        vn_buf_append_xml_escaped(&b, text, strlen(text));
        vn_buf_puts(&b, "</text>");
    }
    vn_buf_puts(&b, s->framing->error_close);
    /* Straight to the connection: also on a session whose output is
     * held, and after its stanzas were dropped for overflow. */
    vn_conn_write(&s->conn, b.data, b.len);
    vn_buf_free(&b);
}

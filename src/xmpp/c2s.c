/* Client-to-server negotiation and stanzas (RFC 6120 §5-§8): STARTTLS
 * and SASL in their states, resource binding (§7), then every stanza from
 * the client stamped with its address and handed to the hooks and the
 * router. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "xmpp/module.h"
#include "xmpp/router.h"
#include "xmpp/sasl.h"
#include "xmpp/session.h"
#include "xmpp/session_priv.h"

#define SEND_LIT(s, lit) vn_session_send_raw((s), (lit), sizeof(lit) - 1)

static int is(const vn_xnode_t *n, const char *ns, const char *name)
{
    return n->ns && strcmp(n->ns, ns) == 0 && strcmp(n->name, name) == 0;
}

static void send_iq_error(vn_session_t *s, vn_xnode_t *node, vn_arena_t *arena, const char *type,
                          const char *cond)
{
    vn_stanza_t st;
    memset(&st, 0, sizeof(st));
    st.node = node;
    st.arena = arena;
    st.kind = VN_IQ;
    const char *t = vn_xnode_attr(node, "type");
    st.type = t ? t : "";
    vn_stanza_t *r = vn_stanza_error_reply(&st, type, cond, NULL);
    if (r) vn_session_send(s, r->node);
}

/* RFC 6120 §7: resource binding. */
static void handle_bind(vn_session_t *s, vn_xnode_t *node, vn_arena_t *arena)
{
    const char *type = vn_xnode_attr(node, "type");
    vn_xnode_t *bind = vn_xnode_child(node, VN_NS_BIND, "bind");
    if (!type || strcmp(type, "set") != 0 || !bind || !vn_xnode_attr(node, "id")) {
        vn_xnode_t *sess = vn_xnode_child(node, VN_NS_SESSION, "session");
        (void)sess;
        send_iq_error(s, node, arena, "cancel", "not-allowed");
        return;
    }
    char *resource = NULL;
    vn_xnode_t *rn = vn_xnode_child(bind, VN_NS_BIND, "resource");
    if (rn) {
        char *text = vn_xnode_text(arena, rn);
        if (text[0] && vn_jid_prep_resource(text, strlen(text), &resource, arena) < 0) {
            send_iq_error(s, node, arena, "modify", "bad-request");
            return;
        }
        if (!text[0]) resource = NULL;
    }
    char gen[32];
    if (!resource) {
        unsigned char r[8];
        RAND_bytes(r, sizeof(r));
        snprintf(gen, sizeof(gen), "vn-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
                 r[4], r[5], r[6], r[7]);
        resource = gen;
    }
    s->jid.resource = vn_xstrdup(resource);
    s->full = vn_xmalloc(strlen(s->bare) + strlen(resource) + 2);
    sprintf(s->full, "%s/%s", s->bare, resource);
    /* RFC 6120 §7.7.2.2: the new session wins; the old one is told why. */
    vn_session_t *old = vn_router_session(s->srv, &s->jid);
    if (old) vn_session_stream_error(old, "conflict", "replaced by a new session");
    vn_router_add(s->srv, s);
    /* Keep the request's id for the reply. */
    const char *id = vn_xnode_attr(node, "id");
    s->bind_id = vn_xstrdup(id);
    int holds = 0;
    if (vn_hook_run_counted(s->srv, VN_HOOK_BIND, s, &holds) == VN_HOLD && holds > 0) {
        /* Several modules may load state before the result (roster,
         * blocklist): the last one to finish completes the bind. */
        s->bind_holds = holds;
        s->bind_held = 1;
        vn_xml_parser_suspend(s->parser);
        return;
    }
    vn_session_bind_done(s);
}

void vn_session_bind_done(vn_session_t *s)
{
    if (s->bind_holds > 1) {
        s->bind_holds--;
        return;
    }
    s->bind_holds = 0;
    char *id = s->bind_id;
    s->bind_id = NULL;
    if (vn_session_alive(s)) {
        s->state = VN_SS_READY;
        vn_buf_t b = VN_BUF_INIT;
        vn_buf_puts(&b, "<iq type='result' id='");
        vn_buf_append_xml_escaped(&b, id, strlen(id));
        vn_buf_puts(&b, "'><bind xmlns='" VN_NS_BIND "'><jid>");
        vn_buf_append_xml_escaped(&b, s->full, strlen(s->full));
        vn_buf_puts(&b, "</jid></bind></iq>");
        vn_session_send_raw(s, b.data, b.len);
        vn_buf_free(&b);
        vn_info("session %llu: bound %s", s->id, s->full);
        vn_session_arm_idle_timer(s);
    }
    free(id);
    if (s->bind_held) {
        s->bind_held = 0;
        vn_session_resume(s);
    }
}

static void handle_client_stanza(vn_session_t *s, vn_xnode_t *node, vn_arena_t *arena)
{
    s->stanzas_in++;
    vn_stanza_t st;
    memset(&st, 0, sizeof(st));
    st.node = node;
    st.arena = arena;
    st.kind = vn_stanza_kind_of(node);
    st.origin = s;
    const char *type = vn_xnode_attr(node, "type");
    st.type = type ? type : "";
    vn_stanza_default_lang(node, arena, s->lang); /* RFC 6120 §4.7.4 */
    vn_stanza_set_from(&st, &s->jid);
    const char *to = vn_xnode_attr(node, "to");
    if (to) {
        if (vn_jid_parse(to, strlen(to), &st.to, arena) < 0) {
            vn_stanza_t *r = vn_stanza_error_reply(&st, "modify", "jid-malformed", NULL);
            if (r) {
                vn_xnode_set_attr(arena, r->node, "from", NULL);
                vn_session_send(s, r->node);
            }
            return;
        }
        /* Normalise the address as written on the wire too. */
        vn_xnode_set_attr(arena, node, "to", vn_jid_full_str(&st.to, arena));
    }
    if (st.kind == VN_IQ) {
        /* RFC 6120 §8.2.3: an IQ has an id and one of four types. */
        int ok = vn_xnode_attr(node, "id") != NULL;
        if (strcmp(st.type, "get") && strcmp(st.type, "set") && strcmp(st.type, "result") &&
            strcmp(st.type, "error"))
            ok = 0;
        if (!ok) {
            vn_stanza_t *r = vn_stanza_error_reply(&st, "modify", "bad-request", NULL);
            if (r) vn_session_send(s, r->node);
            return;
        }
        /* Legacy session establishment (RFC 3921 §3): accept and succeed. */
        if (!strcmp(st.type, "set") && vn_xnode_child(node, VN_NS_SESSION, "session") &&
            (!to || vn_server_domain_index(s->srv, st.to.domain) >= 0) && !st.to.local) {
            vn_stanza_t *r = vn_stanza_iq_result(&st);
            vn_xnode_set_attr(arena, r->node, "from", NULL);
            vn_session_send(s, r->node);
            return;
        }
    }
    vn_result_t r = vn_hook_run(s->srv, VN_HOOK_FROM_CLIENT, &st);
    if (r == VN_HOLD) {
        vn_xml_parser_suspend(s->parser);
        return;
    }
    /* VN_HANDLED: a module took the stanza (presence broadcast, a refusal). */
    if (r == VN_PASS && st.node) vn_route(s->srv, &st);
}

void vn_c2s_on_stanza(void *ud, vn_xnode_t *node, vn_arena_t *arena)
{
    vn_session_t *s = ud;
    if (s->closing) return;
    switch (s->state) {
    case VN_SS_HEADER:
        vn_session_stream_error(s, "not-well-formed", NULL);
        return;
    case VN_SS_FEATURES:
        if (!vn_conn_is_tls(&s->conn)) {
            if (is(node, VN_NS_TLS, "starttls")) {
                SEND_LIT(s, "<proceed xmlns='" VN_NS_TLS "'/>");
                s->pending_tls = 1;
                vn_xml_parser_stop(s->parser);
                return;
            }
            if (node->ns && strcmp(node->ns, VN_NS_SASL) == 0) {
                /* RFC 6120 §6.4.3 / §5.3.1: TLS first. */
                SEND_LIT(s, "<failure xmlns='" VN_NS_SASL "'><encryption-required/></failure>");
                return;
            }
            vn_session_stream_error(s, "policy-violation", "TLS is required");
            return;
        }
        if (node->ns && strcmp(node->ns, VN_NS_SASL) == 0) {
            if (vn_sasl_handle(s, node, arena) == VN_HOLD) vn_xml_parser_suspend(s->parser);
            return;
        }
        vn_session_stream_error(s, "not-authorized", NULL);
        return;
    case VN_SS_AUTHED:
        if (vn_stanza_kind_of(node) == VN_OTHER) {
            vn_nonza_t nz = {s, node, arena};
            if (vn_hook_run(s->srv, VN_HOOK_NONZA, &nz) != VN_PASS) return;
        }
        if (vn_stanza_kind_of(node) == VN_IQ && vn_xnode_child(node, VN_NS_BIND, "bind")) {
            handle_bind(s, node, arena);
            return;
        }
        if (vn_stanza_kind_of(node) == VN_IQ) {
            send_iq_error(s, node, arena, "wait", "not-authorized");
            return;
        }
        vn_session_stream_error(s, "not-authorized", "bind a resource first");
        return;
    case VN_SS_READY:
        if (vn_stanza_kind_of(node) == VN_OTHER) {
            vn_nonza_t nz = {s, node, arena};
            vn_result_t r = vn_hook_run(s->srv, VN_HOOK_NONZA, &nz);
            if (r == VN_HOLD) vn_xml_parser_suspend(s->parser);
            if (r == VN_PASS) vn_session_stream_error(s, "unsupported-stanza-type", NULL);
            return;
        }
        handle_client_stanza(s, node, arena);
        return;
    }
}

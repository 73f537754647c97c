#include "xmpp/sasl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "net/tls.h"
#include "xmpp/login_throttle.h"
#include "xmpp/scram.h"

#define XEP0440_NS "urn:xmpp:sasl-cb:0"

typedef enum { MECH_SCRAM_SHA1, MECH_SCRAM_SHA256, MECH_PLAIN } mech_t;

typedef struct mech_info {
    const char *name;
    mech_t mech;
    vn_scram_hash_t hash;
    int plus;
} mech_info_t;

/* Preference order, strongest first (RFC 7677 §4, RFC 9266). */
static const mech_info_t mechs[] = {
    {"SCRAM-SHA-256-PLUS", MECH_SCRAM_SHA256, VN_SCRAM_SHA256, 1},
    {"SCRAM-SHA-1-PLUS", MECH_SCRAM_SHA1, VN_SCRAM_SHA1, 1},
    {"SCRAM-SHA-256", MECH_SCRAM_SHA256, VN_SCRAM_SHA256, 0},
    {"SCRAM-SHA-1", MECH_SCRAM_SHA1, VN_SCRAM_SHA1, 0},
    {"PLAIN", MECH_PLAIN, VN_SCRAM_SHA256, 0},
};

typedef struct vn_sasl {
    vn_work_t work;
    vn_session_t *s;
    const mech_info_t *mech;
    vn_scram_server_t scram;
    int step;       /* SCRAM: 1 after server-first was sent */
    char *local;    /* normalised localpart */
    char *bare;     /* local@domain */
    char *password; /* PLAIN only, wiped after use */
    vn_account_t account;
    int lookup_rc;
    int password_ok;
    vn_login_ticket_t ticket; /* active between the throttle check and the outcome */
} vn_sasl_t;

/* ---- throttling (xmpp/login_throttle.h) ---- */

#define THROTTLED_TEXT "too many failed attempts; try again later"

static uint64_t now_ms(const vn_session_t *s)
{
    return vn_loop_now(s->srv->loop);
}

/* Is this session a known device of the account, exempt from the
 * per-account tier of sign-in throttling (it still meets the address and
 * the (address, account) tiers)? It is decided before any credential is
 * checked and must not depend on the password.
 *
 * Today: the client's address is one from which the account signed in
 * successfully within [auth] known_address_age.
 *
 * Hook for what is still to come, each a stronger proof than an address:
 *  - an enrolled client certificate (SASL EXTERNAL, RFC 6120 §6.3.4 with
 *    the organisation's CA, see the device policy in the brief): the TLS
 *    peer certificate of the connection maps to this account and is not
 *    revoked -> known;
 *  - a FAST token (XEP-0484) presented in this SASL2 exchange that is
 *    valid for this account -> known.
 * Add them here; the throttle itself needs no change. */
static int is_known_device(vn_session_t *s, const char *bare)
{
    return vn_login_known_address(s->srv->login_throttle, s->conn.peer, bare, now_ms(s));
}

/* ---- features ---- */

static int plain_allowed(const vn_session_t *s)
{
    return s->srv->cfg.allow_plain && vn_conn_is_tls(&s->conn);
}

void vn_sasl_features(vn_session_t *s, vn_buf_t *out)
{
    vn_buf_puts(out, "<mechanisms xmlns='" VN_NS_SASL "'>");
    for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
        if (mechs[i].mech == MECH_PLAIN && !plain_allowed(s)) continue;
        vn_buf_printf(out, "<mechanism>%s</mechanism>", mechs[i].name);
    }
    vn_buf_puts(out, "</mechanisms>");
    /* XEP-0440: which channel-binding types this connection supports. */
    uint8_t tmp[64];
    vn_buf_puts(out, "<sasl-channel-binding xmlns='" XEP0440_NS "'>");
    if (vn_conn_channel_binding(&s->conn, VN_CB_TLS_EXPORTER, tmp))
        vn_buf_puts(out, "<channel-binding type='tls-exporter'/>");
    vn_buf_puts(out, "<channel-binding type='tls-server-end-point'/></sasl-channel-binding>");
}

/* ---- replies ---- */

static void send_failure(vn_session_t *s, const char *condition, const char *text)
{
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_printf(&b, "<failure xmlns='" VN_NS_SASL "'><%s/>", condition);
    if (text) {
        vn_buf_puts(&b, "<text xml:lang='en'>");
        vn_buf_append_xml_escaped(&b, text, strlen(text));
        vn_buf_puts(&b, "</text>");
    }
    vn_buf_puts(&b, "</failure>");
    vn_session_send_raw(s, b.data, b.len);
    vn_buf_free(&b);
}

static void send_b64(vn_session_t *s, const char *elem, const char *data, size_t len)
{
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_printf(&b, "<%s xmlns='" VN_NS_SASL "'>", elem);
    if (len) {
        char *enc = vn_base64_encode((const uint8_t *)data, len);
        vn_buf_puts(&b, enc);
        free(enc);
    } else if (strcmp(elem, "success") != 0) {
        vn_buf_puts(&b, "=");
    }
    vn_buf_printf(&b, "</%s>", elem);
    vn_session_send_raw(s, b.data, b.len);
    vn_buf_free(&b);
}

void vn_sasl_free(vn_session_t *s)
{
    vn_sasl_t *x = s->sasl;
    if (!x) return;
    /* Connection gone or SASL restarted before an outcome. */
    if (s->srv->login_throttle)
        vn_login_end(s->srv->login_throttle, &x->ticket, VN_LOGIN_ABANDONED, now_ms(s));
    vn_scram_server_clear(&x->scram);
    free(x->local);
    free(x->bare);
    if (x->password) {
        OPENSSL_cleanse(x->password, strlen(x->password));
        free(x->password);
    }
    OPENSSL_cleanse(&x->account, sizeof(x->account));
    free(x);
    s->sasl = NULL;
}

static void fail(vn_session_t *s, const char *condition, const char *text, int count_it)
{
    if (count_it) {
        vn_login_throttle_t *t = s->srv->login_throttle;
        uint64_t now = now_ms(s);
        if (s->sasl && s->sasl->ticket.active)
            vn_login_end(t, &s->sasl->ticket, VN_LOGIN_FAILED, now);
        else
            vn_login_fail_address(t, s->conn.peer, now);
        if (vn_login_log_allow(t, now))
            vn_info("session %llu: authentication failed for %s from %s", s->id,
                    s->sasl && s->sasl->bare ? s->sasl->bare : "?", s->conn.peer);
    }
    vn_sasl_free(s);
    send_failure(s, condition, text);
}

static void succeed(vn_session_t *s, const char *additional, size_t len)
{
    vn_login_end(s->srv->login_throttle, &s->sasl->ticket, VN_LOGIN_SUCCEEDED, now_ms(s));
    send_b64(s, "success", additional, len);
    char *local = vn_xstrdup(s->sasl->local);
    vn_sasl_free(s);
    vn_session_auth_succeeded(s, local);
    free(local);
}

/* Normalises the authentication identity into a local account name. */
static int set_identity(vn_session_t *s, const char *user)
{
    vn_sasl_t *x = s->sasl;
    char *local = NULL;
    /* Clients send either the localpart or the bare JID as username. */
    const char *at = strchr(user, '@');
    size_t len = at ? (size_t)(at - user) : strlen(user);
    if (at) {
        char *d = NULL;
        if (vn_jid_prep_domain(at + 1, strlen(at + 1), &d, NULL) < 0) return -1;
        int idx = vn_server_domain_index(s->srv, d);
        free(d);
        if (idx != s->domain_idx) return -1;
    }
    if (vn_jid_prep_local(user, len, &local, NULL) < 0) return -1;
    x->local = local;
    const char *domain = s->srv->domains[s->domain_idx];
    x->bare = vn_xmalloc(strlen(local) + strlen(domain) + 2);
    sprintf(x->bare, "%s@%s", local, domain);
    return 0;
}

/* An authzid, when given, must name the authenticating account. */
static int authzid_ok(vn_session_t *s, const char *authzid)
{
    if (!authzid || !authzid[0]) return 1;
    vn_jid_t j;
    vn_arena_t *a = vn_arena_new(512);
    int ok = vn_jid_parse(authzid, strlen(authzid), &j, a) == 0 && !j.resource && j.local &&
             strcmp(vn_jid_bare_str(&j, a), s->sasl->bare) == 0;
    vn_arena_free(a);
    return ok;
}

/* ---- account lookup on the storage thread ---- */

static void lookup_work(vn_work_t *w)
{
    vn_sasl_t *x = (vn_sasl_t *)w;
    x->lookup_rc = vn_store_account_get(vn_store_of(w), x->bare, &x->account);
}

static void plain_hash_work(vn_work_t *w)
{
    vn_sasl_t *x = (vn_sasl_t *)w;
    x->password_ok = 0;
    if (x->lookup_rc != 0) return;
    for (int h = VN_SCRAM_SHA256; h >= 0; h--) {
        vn_scram_creds_t c;
        int r = vn_scram_creds_from_store((vn_scram_hash_t)h, &x->account.cred[h], &c);
        if (r == 1) continue; /* no credentials for this hash */
        x->password_ok = r == 0 && vn_scram_check_password((vn_scram_hash_t)h, x->password,
                                                           strlen(x->password), &c);
        OPENSSL_cleanse(&c, sizeof(c));
        break;
    }
}

static void plain_hash_done(vn_work_t *w)
{
    vn_sasl_t *x = (vn_sasl_t *)w;
    vn_session_t *s = x->s;
    if (vn_session_alive(s) && s->sasl == x) {
        OPENSSL_cleanse(x->password, strlen(x->password));
        if (x->password_ok) {
            succeed(s, NULL, 0);
            vn_session_resume(s);
        } else {
            fail(s, "not-authorized", NULL, 1);
            vn_session_resume(s);
        }
    }
    vn_session_unref(s);
}

static void lookup_done(vn_work_t *w)
{
    vn_sasl_t *x = (vn_sasl_t *)w;
    vn_session_t *s = x->s;
    if (!vn_session_alive(s) || s->sasl != x) {
        vn_session_unref(s);
        return;
    }
    if (x->lookup_rc < 0) {
        fail(s, "temporary-auth-failure", "storage error", 0);
        vn_session_resume(s);
        vn_session_unref(s);
        return;
    }
    if (x->mech->mech == MECH_PLAIN) {
        /* Keep the session reference for the hashing step. */
        vn_hash_submit(s->srv, &x->work, plain_hash_work, plain_hash_done);
        return;
    }
    /* An unknown account, or none for this hash: the exchange goes on with
     * made-up credentials (scram.h), so the answer does not tell. */
    vn_scram_creds_t c;
    int have = x->lookup_rc == 0 &&
               vn_scram_creds_from_store(x->mech->hash, &x->account.cred[x->mech->hash], &c) == 0;
    const char *sf = vn_scram_server_first(&x->scram, have ? &c : NULL, NULL);
    OPENSSL_cleanse(&c, sizeof(c));
    if (!sf) {
        fail(s, "temporary-auth-failure", NULL, 0);
        vn_session_resume(s);
        vn_session_unref(s);
        return;
    }
    x->step = 1;
    send_b64(s, "challenge", sf, strlen(sf));
    vn_session_resume(s);
    vn_session_unref(s);
}

static vn_result_t start_lookup(vn_session_t *s)
{
    /* RFC 6120 §6.5.12 temporary-auth-failure, decided before any
     * credential is looked at: the answer is the same whether the password
     * was right or not. */
    vn_sasl_t *x = s->sasl;
    vn_login_throttle_t *t = s->srv->login_throttle;
    uint64_t now = now_ms(s);
    int known = is_known_device(s, x->bare);
    vn_login_verdict_t v = vn_login_begin(t, &x->ticket, s->conn.peer, x->bare, known, now);
    if (v != VN_LOGIN_OK) {
        if (vn_log_enabled(VN_LOG_DEBUG) && vn_login_log_allow(t, now))
            vn_debug("session %llu: sign-in for %s from %s refused (%s lockout)", s->id, x->bare,
                     s->conn.peer,
                     v == VN_LOGIN_LOCKED_PAIR      ? "address+account"
                     : v == VN_LOGIN_LOCKED_ACCOUNT ? "account"
                                                    : "address");
        fail(s, "temporary-auth-failure", THROTTLED_TEXT, 0);
        return VN_HANDLED;
    }
    vn_session_ref(s);
    /* Unordered (xmpp/server.h): accounts change only through vestnikctl,
     * another process, so no job of ours is there to wait for. */
    vn_store_submit(s->srv, &s->sasl->work, lookup_work, lookup_done);
    return VN_HOLD;
}

static const char *scram_condition(vn_scram_status_t st)
{
    switch (st) {
    case VN_SCRAM_ERR_MALFORMED:
        return "malformed-request";
    case VN_SCRAM_ERR_AUTHZID:
        return "invalid-authzid";
    default:
        return "not-authorized";
    }
}

static vn_result_t handle_auth(vn_session_t *s, vn_xnode_t *node, vn_arena_t *arena)
{
    vn_sasl_free(s);
    if (vn_login_check_address(s->srv->login_throttle, s->conn.peer, now_ms(s)) != VN_LOGIN_OK) {
        send_failure(s, "temporary-auth-failure", THROTTLED_TEXT);
        return VN_HANDLED;
    }
    const char *name = vn_xnode_attr(node, "mechanism");
    const mech_info_t *mech = NULL;
    for (size_t i = 0; name && i < sizeof(mechs) / sizeof(mechs[0]); i++)
        if (strcmp(mechs[i].name, name) == 0) mech = &mechs[i];
    if (!mech || (mech->mech == MECH_PLAIN && !plain_allowed(s))) {
        send_failure(s, "invalid-mechanism", NULL);
        return VN_HANDLED;
    }
    char *text = vn_xnode_text(arena, node);
    uint8_t *data = NULL;
    size_t len = 0;
    if (strcmp(text, "=") != 0 && text[0] &&
        vn_base64_decode(text, strlen(text), &data, &len) < 0) {
        send_failure(s, "incorrect-encoding", NULL);
        return VN_HANDLED;
    }
    vn_sasl_t *x = vn_xcalloc(1, sizeof(*x));
    x->s = s;
    x->mech = mech;
    s->sasl = x;
    vn_result_t r = VN_HANDLED;
    if (mech->mech == MECH_PLAIN) {
        /* RFC 4616: [authzid] NUL authcid NUL passwd */
        const char *p = (const char *)data;
        const char *nul1 = data ? memchr(p, 0, len) : NULL;
        const char *nul2 = nul1 ? memchr(nul1 + 1, 0, len - (size_t)(nul1 + 1 - p)) : NULL;
        if (!nul2 || memchr(nul2 + 1, 0, len - (size_t)(nul2 + 1 - p))) {
            fail(s, "malformed-request", NULL, 0);
            goto out;
        }
        char *authzid = vn_xstrndup(p, (size_t)(nul1 - p));
        char *authcid = vn_xstrndup(nul1 + 1, (size_t)(nul2 - nul1 - 1));
        x->password = vn_xstrndup(nul2 + 1, len - (size_t)(nul2 + 1 - p));
        if (set_identity(s, authcid) < 0) {
            fail(s, "not-authorized", NULL, 1);
        } else if (!authzid_ok(s, authzid)) {
            fail(s, "invalid-authzid", NULL, 0);
        } else {
            r = start_lookup(s);
        }
        free(authzid);
        free(authcid);
        goto out;
    }
    /* SCRAM: the initial response is the client-first-message. */
    /* RFC 5802 §6 treats "y" as a downgrade when the server offers -PLUS.
     * We also announce our binding types (XEP-0440), so a client that
     * supports binding but none of our types (slixmpp knows only
     * tls-unique, which RFC 9266 forbids on TLS 1.3) legitimately answers
     * "y"; a client sharing a type would have used it. Binding-type
     * downgrades are the subject of XEP-0474, not of the gs2 flag. */
    vn_scram_server_init(&x->scram, mech->hash, mech->plus, s->srv->cfg.strict_channel_binding);
    if (!data) {
        fail(s, "malformed-request", "SCRAM needs an initial response", 0);
        goto out;
    }
    vn_scram_status_t st = vn_scram_server_client_first(&x->scram, (const char *)data, len);
    if (st != VN_SCRAM_OK) {
        /* Only wrong credentials count towards throttling: a client that
         * picks a binding type we do not support retries with another. */
        fail(s, scram_condition(st),
             st == VN_SCRAM_ERR_CB ? "unsupported or mismatched channel binding" : NULL, 0);
        goto out;
    }
    if (set_identity(s, x->scram.username) < 0) {
        fail(s, "not-authorized", NULL, 1);
        goto out;
    }
    if (!authzid_ok(s, x->scram.authzid)) {
        fail(s, "invalid-authzid", NULL, 0);
        goto out;
    }
    r = start_lookup(s);
out:
    if (data) {
        OPENSSL_cleanse(data, len);
        free(data);
    }
    return r;
}

static vn_result_t handle_response(vn_session_t *s, vn_xnode_t *node, vn_arena_t *arena)
{
    vn_sasl_t *x = s->sasl;
    if (!x || x->mech->mech == MECH_PLAIN || x->step != 1) {
        if (x) vn_sasl_free(s);
        send_failure(s, "malformed-request", "unexpected response");
        return VN_HANDLED;
    }
    char *text = vn_xnode_text(arena, node);
    uint8_t *data = NULL;
    size_t len = 0;
    if (!text[0] || vn_base64_decode(text, strlen(text), &data, &len) < 0) {
        fail(s, "incorrect-encoding", NULL, 0);
        return VN_HANDLED;
    }
    uint8_t cb[64];
    size_t cb_len = 0;
    if (x->scram.cb_flag == VN_SCRAM_CB_P && vn_conn_is_tls(&s->conn)) {
        if (strcmp(x->scram.cb_type, "tls-exporter") == 0)
            cb_len = vn_conn_channel_binding(&s->conn, VN_CB_TLS_EXPORTER, cb);
        else if (strcmp(x->scram.cb_type, "tls-server-end-point") == 0)
            cb_len = vn_conn_channel_binding(&s->conn, VN_CB_TLS_SERVER_END_POINT, cb);
    }
    char *server_final = NULL;
    vn_scram_status_t st = vn_scram_server_client_final(&x->scram, (const char *)data, len,
                                                        cb_len ? cb : NULL, cb_len, &server_final);
    free(data);
    if (st != VN_SCRAM_OK) {
        fail(s, scram_condition(st), NULL, st == VN_SCRAM_ERR_NOT_AUTHORIZED);
        return VN_HANDLED;
    }
    succeed(s, server_final, strlen(server_final));
    free(server_final);
    return VN_HANDLED;
}

vn_result_t vn_sasl_handle(vn_session_t *s, vn_xnode_t *node, vn_arena_t *arena)
{
    if (strcmp(node->name, "auth") == 0) return handle_auth(s, node, arena);
    if (strcmp(node->name, "response") == 0) return handle_response(s, node, arena);
    if (strcmp(node->name, "abort") == 0) {
        vn_sasl_free(s);
        send_failure(s, "aborted", NULL);
        return VN_HANDLED;
    }
    send_failure(s, "malformed-request", NULL);
    return VN_HANDLED;
}

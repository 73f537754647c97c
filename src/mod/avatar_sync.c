/* XEP-0398: User Avatar to vCard-Based Avatars Conversion.
 *
 * Both ways, so that clients of either kind see one avatar:
 *   - a client publishes XEP-0084 metadata (urn:xmpp:avatar:metadata)
 *     naming an image in urn:xmpp:avatar:data: the server reads that data
 *     item and makes it the PHOTO of the account's vCard (vcard.c), which
 *     also changes the XEP-0153 hash in the account's presence
 *     (vcard_update.c). Empty metadata (XEP-0084 §4.5, avatar disabled) or
 *     a deleted metadata node removes the PHOTO;
 *   - a client stores a vCard with a PHOTO: the server publishes the image
 *     to urn:xmpp:avatar:data (item id = SHA-1 hex of the image, as
 *     XEP-0084 §4.2 wants) and then the metadata with one <info/>; a vCard
 *     without PHOTO publishes empty metadata.
 * Changes made by the server are not reported back by PEP (pep.h) and a
 * vCard change that came from PEP is not published again, so nothing
 * loops. The account advertises urn:xmpp:pep-vcard-conversion:0 (§3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "mod/pep.h"
#include "mod/profile.h"
#include "xml/node.h"

#define NS_AVATAR_DATA "urn:xmpp:avatar:data"
#define NS_AVATAR_META "urn:xmpp:avatar:metadata"
#define NS_CONVERSION "urn:xmpp:pep-vcard-conversion:0"

/* ---- PEP -> vCard ---- */

typedef struct fetch_ctx {
    vn_server_t *srv;
    char *owner;
    char *type;
    char *id;
} fetch_ctx_t;

static void got_data(void *ud, const char *payload, size_t len)
{
    fetch_ctx_t *c = ud;
    if (!payload) {
        vn_debug("avatar: %s published metadata for %s but no such data item", c->owner, c->id);
    } else {
        vn_arena_t *a = vn_arena_new(len + 256);
        vn_xnode_t *d = vn_profile_parse(a, payload, len);
        if (d && d->ns && !strcmp(d->ns, NS_AVATAR_DATA) && !strcmp(d->name, "data")) {
            char *b64 = vn_xnode_text(a, d);
            vn_vcard_set_photo(c->srv, c->owner, c->type ? c->type : "image/png", b64);
        }
        vn_arena_free(a);
    }
    free(c->owner);
    free(c->type);
    free(c->id);
    free(c);
}

static void on_metadata(vn_server_t *srv, const char *owner, const char *node, const char *item_id,
                        const char *payload, size_t len, int retracted)
{
    (void)node, (void)item_id;
    if (retracted) {
        /* Only the node's deletion (item_id NULL) says "no avatar". */
        if (!item_id) vn_vcard_set_photo(srv, owner, NULL, NULL);
        return;
    }
    vn_arena_t *a = vn_arena_new(len + 256);
    vn_xnode_t *m = vn_profile_parse(a, payload, len);
    if (!m || !m->ns || strcmp(m->ns, NS_AVATAR_META) != 0 || strcmp(m->name, "metadata") != 0) {
        vn_arena_free(a);
        return;
    }
    /* The image kept in the data node: an <info/> without url (§4.2);
     * prefer PNG, which every client can show. */
    vn_xnode_t *pick = NULL;
    int any = 0;
    for (vn_xnode_t *i = m->children; i; i = i->next) {
        if (!i->name || strcmp(i->name, "info") != 0) continue;
        any = 1;
        if (vn_xnode_attr(i, "url") || !vn_xnode_attr(i, "id")) continue;
        const char *t = vn_xnode_attr(i, "type");
        if (!pick || (t && !strcmp(t, "image/png"))) pick = i;
    }
    if (!any) {
        vn_vcard_set_photo(srv, owner, NULL, NULL); /* §4.5: avatar disabled */
    } else if (pick) {
        fetch_ctx_t *c = vn_xcalloc(1, sizeof(*c));
        c->srv = srv;
        c->owner = vn_xstrdup(owner);
        const char *t = vn_xnode_attr(pick, "type");
        c->type = t ? vn_xstrdup(t) : NULL;
        c->id = vn_xstrdup(vn_xnode_attr(pick, "id"));
        vn_pep_get_item(srv, owner, NS_AVATAR_DATA, c->id, got_data, c);
    }
    vn_arena_free(a);
}

/* ---- vCard -> PEP ---- */

typedef struct publish_ctx {
    vn_server_t *srv;
    char *owner;
    char *hash;
    char *meta; /* metadata payload, published once the data is in */
} publish_ctx_t;

static void publish_free(publish_ctx_t *c)
{
    free(c->owner);
    free(c->hash);
    free(c->meta);
    free(c);
}

static void meta_done(void *ud, int rc)
{
    publish_ctx_t *c = ud;
    if (rc < 0) vn_warn("avatar: metadata of %s could not be published", c->owner);
    publish_free(c);
}

static void publish_meta(publish_ctx_t *c)
{
    vn_pep_publish(c->srv, c->owner, NS_AVATAR_META, c->hash[0] ? c->hash : "current", c->meta,
                   strlen(c->meta), NULL, meta_done, c);
}

static void data_done(void *ud, int rc)
{
    publish_ctx_t *c = ud;
    if (rc < 0) {
        vn_warn("avatar: the vCard photo of %s could not be published to PEP", c->owner);
        publish_free(c);
        return;
    }
    publish_meta(c);
}

static void on_photo(vn_server_t *srv, const vn_photo_event_t *ev)
{
    if (ev->source != VN_PHOTO_FROM_VCARD) return;
    publish_ctx_t *c = vn_xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->owner = vn_xstrdup(ev->owner);
    c->hash = vn_xstrdup(ev->hash);
    vn_buf_t b = VN_BUF_INIT;
    vn_buf_puts(&b, "<metadata xmlns='" NS_AVATAR_META "'>");
    if (ev->hash[0]) {
        vn_buf_printf(&b, "<info bytes='%zu' id='%s' type='", ev->bytes, ev->hash);
        const char *t = ev->type && ev->type[0] ? ev->type : "image/png";
        vn_xml_append_escaped(&b, t, strlen(t), 1);
        vn_buf_puts(&b, "'/>");
    }
    vn_buf_puts(&b, "</metadata>");
    c->meta = vn_xstrndup(b.data, b.len);
    vn_buf_free(&b);
    if (!ev->hash[0] || !ev->binval) {
        publish_meta(c);
        return;
    }
    /* The data item first (§4.2: metadata must not point at nothing);
     * the base64 unfolded. */
    vn_buf_t d = VN_BUF_INIT;
    vn_buf_puts(&d, "<data xmlns='" NS_AVATAR_DATA "'>");
    for (const char *p = ev->binval; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') vn_buf_append(&d, p, 1);
    vn_buf_puts(&d, "</data>");
    vn_pep_publish(srv, ev->owner, NS_AVATAR_DATA, ev->hash, d.data, d.len, NULL, data_done, c);
    vn_buf_free(&d);
}

static int init(vn_server_t *srv)
{
    (void)srv;
    vn_vcard_observe(on_photo);
    vn_pep_observe(NS_AVATAR_META, on_metadata);
    return 0;
}

static const char *const account_features[] = {NS_CONVERSION, NULL};

const vn_module_t vn_mod_avatar_sync = {
    .name = "avatar_sync",
    .init = init,
    .account_features = account_features,
};

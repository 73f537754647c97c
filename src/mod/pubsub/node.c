/* Node configuration (XEP-0060 §8.2, §16.4.4 pubsub#node_config), data
 * forms for configuration and publish-options (XEP-0004, XEP-0060 §7.1.5)
 * and the pubsub error replies (XEP-0060 §7.1.3 etc.). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mod/pubsub/ps.h"
#include "xmpp/router.h"

void ps_config_default(ps_config_t *c, int pep)
{
    memset(c, 0, sizeof(*c));
    c->access = pep ? PS_ACCESS_PRESENCE : PS_ACCESS_OPEN;
    c->publish_model = PS_PUBLISH_PUBLISHERS;
    c->send_last = pep ? PS_SEND_LAST_ON_SUB_AND_PRESENCE : PS_SEND_LAST_NEVER;
    c->max_items = pep ? 1 : PS_MAX_ITEMS_MAX;
    c->persist_items = 1;
    c->deliver_payloads = 1;
    c->deliver_notifications = 1;
    c->notify_retract = 1;
    c->notify_delete = 1;
    c->notify_config = 0;
    c->presence_based_delivery = 0;
}

static const char *const k_access[] = {"open", "presence", "roster", "whitelist", NULL};
static const char *const k_publish[] = {"publishers", "subscribers", "open", NULL};
static const char *const k_send_last[] = {"never", "on_sub", "on_sub_and_presence", NULL};
static const char *const k_notification_type[] = {"headline", "normal", NULL};
static const char *const k_itemreply[] = {"owner", "publisher", NULL};

static int lookup(const char *const *names, const char *v)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], v)) return i;
    return -1;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "1") || !strcmp(v, "true"))
        *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_max_items(const char *v, int cap, int *out)
{
    if (!strcmp(v, "max")) {
        *out = PS_MAX_ITEMS_MAX;
        return 0;
    }
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end || n < 1) return -1;
    /* More than the service keeps is clamped, so that publish-options
     * asking for more still match the node created from them. */
    *out = n > cap ? cap : (int)n;
    return 0;
}

int ps_config_keep(const ps_config_t *c, int cap)
{
    if (c->max_items == PS_MAX_ITEMS_MAX || c->max_items > cap) return cap;
    return c->max_items;
}

typedef enum { F_BOOL, F_ENUM, F_MAX, F_TEXT } ftype_t;

/* The configuration fields the server implements, in form order. */
typedef struct field {
    const char *var;
    ftype_t type;
    size_t off;
    const char *const *names; /* F_ENUM */
    size_t size;              /* F_TEXT */
    const char *label;
} field_t;

#define OFF(m) offsetof(ps_config_t, m)
static const field_t k_fields[] = {
    {"pubsub#title", F_TEXT, OFF(title), NULL, sizeof(((ps_config_t *)0)->title), "Title"},
    {"pubsub#description", F_TEXT, OFF(description), NULL, sizeof(((ps_config_t *)0)->description),
     "Description"},
    {"pubsub#type", F_TEXT, OFF(type), NULL, sizeof(((ps_config_t *)0)->type), "Payload type"},
    {"pubsub#access_model", F_ENUM, OFF(access), k_access, 0,
     "Who may subscribe and retrieve items"},
    {"pubsub#publish_model", F_ENUM, OFF(publish_model), k_publish, 0, "Who may publish"},
    {"pubsub#max_items", F_MAX, OFF(max_items), NULL, 0, "Max number of items to persist"},
    {"pubsub#persist_items", F_BOOL, OFF(persist_items), NULL, 0, "Persist items"},
    {"pubsub#deliver_payloads", F_BOOL, OFF(deliver_payloads), NULL, 0, "Deliver payloads"},
    {"pubsub#deliver_notifications", F_BOOL, OFF(deliver_notifications), NULL, 0,
     "Deliver event notifications"},
    {"pubsub#notify_retract", F_BOOL, OFF(notify_retract), NULL, 0,
     "Notify when items are removed"},
    {"pubsub#notify_delete", F_BOOL, OFF(notify_delete), NULL, 0,
     "Notify when the node is deleted"},
    {"pubsub#notify_config", F_BOOL, OFF(notify_config), NULL, 0,
     "Notify when the configuration changes"},
    {"pubsub#presence_based_delivery", F_BOOL, OFF(presence_based_delivery), NULL, 0,
     "Deliver only to available users"},
    {"pubsub#send_last_published_item", F_ENUM, OFF(send_last), k_send_last, 0,
     "When to send the last published item"},
    {"pubsub#roster_groups_allowed", F_TEXT, OFF(roster_groups), NULL,
     sizeof(((ps_config_t *)0)->roster_groups), "Roster groups allowed to subscribe"},
    {"pubsub#notification_type", F_ENUM, OFF(notification_type), k_notification_type, 0,
     "Message type of event notifications"},
    {"pubsub#itemreply", F_ENUM, OFF(itemreply), k_itemreply, 0,
     "Who gets replies to items (publisher: items name their publisher)"},
};
#define NFIELDS (sizeof(k_fields) / sizeof(k_fields[0]))

static const field_t *find_field(const char *var)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (!strcmp(k_fields[i].var, var)) return &k_fields[i];
    return NULL;
}

/* The field's value as text (into buf). */
static const char *field_value(const ps_config_t *c, const field_t *f, char *buf, size_t cap)
{
    const char *base = (const char *)c + f->off;
    switch (f->type) {
    case F_BOOL:
        return *(const int *)base ? "1" : "0";
    case F_ENUM:
        return f->names[*(const int *)base];
    case F_MAX:
        if (*(const int *)base == PS_MAX_ITEMS_MAX) return "max";
        snprintf(buf, cap, "%d", *(const int *)base);
        return buf;
    case F_TEXT:
        return base;
    }
    return "";
}

/* Sets a field from text; 0 or -1 (invalid value). */
static int field_set(ps_config_t *c, const field_t *f, const char *v, int cap)
{
    char *base = (char *)c + f->off;
    int n;
    switch (f->type) {
    case F_BOOL:
        if (parse_bool(v, &n) < 0) return -1;
        *(int *)base = n;
        return 0;
    case F_ENUM:
        n = lookup(f->names, v);
        if (n < 0) return -1;
        *(int *)base = n;
        return 0;
    case F_MAX:
        if (parse_max_items(v, cap, &n) < 0) return -1;
        *(int *)base = n;
        return 0;
    case F_TEXT:
        if (strlen(v) >= f->size) return -1;
        strcpy(base, v);
        return 0;
    }
    return -1;
}

void ps_config_serialize(const ps_config_t *c, vn_buf_t *out)
{
    char buf[32];
    for (size_t i = 0; i < NFIELDS; i++) {
        const char *v = field_value(c, &k_fields[i], buf, sizeof(buf));
        vn_buf_puts(out, k_fields[i].var);
        vn_buf_puts(out, "=");
        /* Values are one line: newlines (roster groups) become \x01. */
        for (const char *p = v; *p; p++)
            vn_buf_append(out, *p == '\n' ? "\x01" : p, 1);
        vn_buf_puts(out, "\n");
    }
    vn_buf_cstr(out);
}

void ps_config_parse(ps_config_t *c, const char *text)
{
    char line[1024];
    while (text && *text) {
        const char *nl = strchr(text, '\n');
        size_t n = nl ? (size_t)(nl - text) : strlen(text);
        if (n < sizeof(line)) {
            memcpy(line, text, n);
            line[n] = '\0';
            for (char *p = line; *p; p++)
                if (*p == '\x01') *p = '\n';
            char *eq = strchr(line, '=');
            if (eq) {
                *eq = '\0';
                const field_t *f = find_field(line);
                if (f) field_set(c, f, eq + 1, 1 << 30);
            }
        }
        text += n + (nl ? 1 : 0);
    }
}

/* ---- data forms ---- */

int ps_form_read(vn_arena_t *a, const vn_xnode_t *parent, ps_form_t *f)
{
    memset(f, 0, sizeof(*f));
    f->type_submit = 1;
    const vn_xnode_t *x = vn_xnode_child(parent, NS_DATA, "x");
    if (!x) return 0;
    const char *type = vn_xnode_attr(x, "type");
    if (type && strcmp(type, "submit") != 0) f->type_submit = 0;
    for (const vn_xnode_t *fl = x->children; fl; fl = fl->next) {
        if (!fl->name || strcmp(fl->name, "field") || !fl->ns || strcmp(fl->ns, NS_DATA)) continue;
        const char *var = vn_xnode_attr(fl, "var");
        if (!var) return -1;
        vn_buf_t v = VN_BUF_INIT;
        int nvals = 0;
        for (const vn_xnode_t *val = fl->children; val; val = val->next) {
            if (!val->name || strcmp(val->name, "value")) continue;
            if (nvals++) vn_buf_puts(&v, "\n");
            char *t = vn_xnode_text(a, val);
            vn_buf_puts(&v, t);
        }
        const char *value = vn_arena_strndup(a, v.data ? v.data : "", v.len);
        vn_buf_free(&v);
        if (!strcmp(var, "FORM_TYPE")) {
            if (f->form_type) return -1;
            f->form_type = value;
            continue;
        }
        /* XEP-0004 §3.2: a var names one field (a repeated one would make
         * publish-options never match the node they configured). */
        for (int i = 0; i < f->n; i++)
            if (!strcmp(f->var[i], var)) return -1;
        if (f->n == (int)(sizeof(f->var) / sizeof(f->var[0]))) return -1;
        f->var[f->n] = vn_arena_strdup(a, var);
        f->value[f->n++] = value;
    }
    return 0;
}

int ps_config_apply(ps_config_t *c, const ps_form_t *f, int strict, int max_cap, const char **bad)
{
    ps_config_t tmp = *c;
    for (int i = 0; i < f->n; i++) {
        const field_t *fd = find_field(f->var[i]);
        if (!fd) {
            if (strict) {
                *bad = f->var[i];
                return -1;
            }
            continue;
        }
        if (field_set(&tmp, fd, f->value[i], max_cap) < 0) {
            *bad = f->var[i];
            return -1;
        }
    }
    *c = tmp;
    return 0;
}

int ps_config_matches(const ps_config_t *c, const ps_form_t *f, int max_cap)
{
    char buf[32];
    for (int i = 0; i < f->n; i++) {
        const field_t *fd = find_field(f->var[i]);
        if (!fd) continue;
        ps_config_t want = *c;
        /* Compare through the parser so that "true" equals "1". */
        if (field_set(&want, fd, f->value[i], max_cap) < 0) return 0;
        if (strcmp(field_value(&want, fd, buf, sizeof(buf)), field_value(c, fd, buf + 16, 16)))
            return 0;
    }
    return 1;
}

static void add_value(vn_arena_t *a, vn_xnode_t *field, const char *v)
{
    vn_xnode_t *val = vn_xnode_add(a, field, NS_DATA, "value");
    vn_xnode_add_text(a, val, v, strlen(v));
}

void ps_config_to_form(vn_arena_t *a, vn_xnode_t *parent, const ps_config_t *c, const char *type,
                       const char *form_type)
{
    vn_xnode_t *x = vn_xnode_add(a, parent, NS_DATA, "x");
    vn_xnode_set_attr(a, x, "type", type);
    vn_xnode_t *ft = vn_xnode_add(a, x, NS_DATA, "field");
    vn_xnode_set_attr(a, ft, "var", "FORM_TYPE");
    vn_xnode_set_attr(a, ft, "type", "hidden");
    add_value(a, ft, form_type);
    char buf[32];
    for (size_t i = 0; i < NFIELDS; i++) {
        const field_t *f = &k_fields[i];
        vn_xnode_t *fl = vn_xnode_add(a, x, NS_DATA, "field");
        vn_xnode_set_attr(a, fl, "var", f->var);
        if (!strcmp(type, "form")) {
            static const char *const k_types[] = {"boolean", "list-single", "text-single",
                                                  "text-single"};
            const char *t = k_types[f->type];
            if (f->off == OFF(roster_groups)) t = "list-multi";
            vn_xnode_set_attr(a, fl, "type", t);
            vn_xnode_set_attr(a, fl, "label", f->label);
            if (f->type == F_ENUM) {
                for (int k = 0; f->names[k]; k++) {
                    vn_xnode_t *o = vn_xnode_add(a, fl, NS_DATA, "option");
                    add_value(a, o, f->names[k]);
                }
            }
        }
        const char *v = field_value(c, f, buf, sizeof(buf));
        if (f->off == OFF(roster_groups)) {
            /* One value per group, empty ones too: the form submitted
             * back must give the same list. */
            const char *p = v;
            while (*v) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t)(nl - p) : strlen(p);
                add_value(a, fl, vn_arena_strndup(a, p, n));
                if (!nl) break;
                p = nl + 1;
            }
            continue;
        }
        add_value(a, fl, vn_arena_strdup(a, v));
    }
}

void ps_error(vn_server_t *srv, vn_stanza_t *st, const char *type, const char *cond,
              const char *app, const char *feature)
{
    vn_stanza_t *r = vn_stanza_error_reply(st, type, cond, NULL);
    if (!r) return;
    if (app) {
        vn_xnode_t *err = r->node->last_child;
        vn_xnode_t *x = vn_xnode_add(r->arena, err, NS_PUBSUB_ERRORS, app);
        if (feature) vn_xnode_set_attr(r->arena, x, "feature", feature);
    }
    /* Errors from the addressed entity (RFC 6120 §8.3.1). */
    if (!r->from.domain) {
        vn_jid_t dom = {NULL, st->from.domain, NULL};
        if (st->origin) dom.domain = srv->domains[st->origin->domain_idx];
        vn_stanza_set_from(r, &dom);
    }
    vn_route(srv, r); /* r lives in st's arena */
}

/*
 * config.c - Asterisk's outbound-publish, inbound-publication and
 * asterisk-publication objects: schemas, checks, and the runtime objects
 * built from them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include "pubstate_int.h"
#include "sipbridge/log.h"

const char *const ps_event_names[PS_EV_N] = {
    PUBSTATE_EVENT_DEVICE, PUBSTATE_EVENT_MWI,
};

static const char *const ps_event_values[] = {
    PUBSTATE_EVENT_DEVICE, PUBSTATE_EVENT_MWI, NULL,
};

/* ---- schemas ---- */

static const struct cfg_key ps_outbound_keys[] = {
    { "server_uri", CFG_STRING, CFG_REQUIRED, 0, 0, NULL },
    { "from_uri", CFG_STRING, 0, 0, 0, NULL },
    { "to_uri", CFG_STRING, 0, 0, 0, NULL },
    { "event", CFG_ENUM, CFG_REQUIRED, 0, 0, ps_event_values },
    { "expiration", CFG_UINT, 0, 1, 2147483647u, NULL },
    { "outbound_auth", CFG_STRING, 0, 0, 0, NULL },
    { "outbound_proxy", CFG_STRING, 0, 0, 0, NULL },
    { "max_auth_attempts", CFG_UINT, 0, 0, 100, NULL },
    { "transport", CFG_STRING, 0, 0, 0, NULL },
    { "multi_user", CFG_BOOL, 0, 0, 0, NULL },
    { "@device_state_filter", CFG_REGEX, 0, 0, 0, NULL },
    { "@mailbox_state_filter", CFG_REGEX, 0, 0, 0, NULL },
    { "retry_min", CFG_UINT, 0, 100, 3600000, NULL },
    { "retry_max", CFG_UINT, 0, 100, 3600000, NULL },
    { NULL, 0, 0, 0, 0, NULL }
};

static const struct cfg_key ps_inbound_keys[] = {
    { "endpoint", CFG_STRING, 0, 0, 0, NULL },
    { "event_*", CFG_STRING, 0, 0, 0, NULL },
    { NULL, 0, 0, 0, 0, NULL }
};

static const struct cfg_key ps_asterisk_keys[] = {
    { "devicestate_publish", CFG_STRING, 0, 0, 0, NULL },
    { "mailboxstate_publish", CFG_STRING, 0, 0, 0, NULL },
    { "device_state", CFG_BOOL, 0, 0, 0, NULL },
    { "mailbox_state", CFG_BOOL, 0, 0, 0, NULL },
    { "device_state_filter", CFG_REGEX, 0, 0, 0, NULL },
    { "mailbox_state_filter", CFG_REGEX, 0, 0, 0, NULL },
    { NULL, 0, 0, 0, 0, NULL }
};

/* A sip: or sips: URI with a host, as sofia parses it. */
static int
ps_check_uri(const struct ini_section *sec, const char *key,
             struct cfg_errors *errs)
{
    const struct ini_entry *e = ini_find(sec, key);
    su_home_t home[1] = { SU_HOME_INIT(home) };
    url_t *u;
    int ok;

    if (e == NULL)
        return 0;
    u = url_make(home, e->value);
    ok = u && (u->url_type == url_sip || u->url_type == url_sips) &&
         u->url_host && u->url_host[0];
    su_home_deinit(home);
    if (ok)
        return 0;
    cfg_errors_add(errs, e->file, e->line, "[%s] %s '%s': not a sip: or sips:"
                   " URI with a host", sec->name, key, e->value);
    return -EINVAL;
}

static int
ps_check_outbound(const struct ini_section *sec, struct cfg_errors *errs)
{
    static const char *const uris[] = { "server_uri", "from_uri", "to_uri",
                                        "outbound_proxy" };
    const struct ini_entry *e = ini_find(sec, "multi_user");
    bool on = false;
    int rc = 0;

    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++)
        rc |= ps_check_uri(sec, uris[i], errs);
    if (e && cfg_parse_bool(e->value, &on) == 0 && on) {
        cfg_errors_add(errs, e->file, e->line, "[%s] multi_user=yes: not "
                       "supported for asterisk-* events (Asterisk would "
                       "publish nothing)", sec->name);
        rc = -EINVAL;
    }
    return rc ? -EINVAL : 0;
}

static int
ps_check_inbound(const struct ini_section *sec, struct cfg_errors *errs)
{
    int rc = 0;

    if (sec->name[strcspn(sec->name, "@:;? \t<>\"")] != '\0') {
        cfg_errors_add(errs, sec->file, sec->line, "[%s] type=inbound-"
                       "publication: the name is the Request-URI user part "
                       "and cannot hold '@', ':', ';', '?', '<', '>', quotes"
                       " or blanks", sec->name);
        rc = -EINVAL;
    }
    for (size_t i = 0; i < sec->nentries; i++) {
        const struct ini_entry *e = &sec->entries[i];

        if (strncmp(e->key, "event_", 6) != 0 ||
            strcmp(e->key + 6, PUBSTATE_EVENT_DEVICE) == 0 ||
            strcmp(e->key + 6, PUBSTATE_EVENT_MWI) == 0)
            continue;
        cfg_errors_add(errs, e->file, e->line, "[%s] %s: unknown event "
                       "package (known: event_" PUBSTATE_EVENT_DEVICE
                       ", event_" PUBSTATE_EVENT_MWI ")", sec->name, e->key);
        rc = -EINVAL;
    }
    return rc;
}

const struct cfg_type pubstate_outbound_type = {
    "outbound-publish", ps_outbound_keys, NULL, false, ps_check_outbound,
    false
};
const struct cfg_type pubstate_inbound_type = {
    "inbound-publication", ps_inbound_keys, NULL, false, ps_check_inbound,
    true
};
const struct cfg_type pubstate_asterisk_type = {
    "asterisk-publication", ps_asterisk_keys, NULL, false, NULL, false
};

/* ---- cross-section checks ---- */


/* @key of @sec, when set, must name a section of @type (and @event). */
static int
ps_check_ref(const struct cfg *cfg, const struct ini_section *sec,
             const char *key, const char *type, const char *event,
             struct cfg_errors *errs)
{
    const struct ini_entry *e = ini_find(sec, key);
    const struct ini_section *to;
    const char *ev;

    if (e == NULL)
        return 0;
    to = cfg_section_find(cfg, type, e->value);
    if (to == NULL) {
        cfg_errors_add(errs, e->file, e->line, "[%s] %s=%s: no type=%s "
                       "section [%s]", sec->name, key, e->value, type,
                       e->value);
        return -EINVAL;
    }
    ev = event ? ini_get(to, "event") : NULL;
    if (event && ev && strcmp(ev, event) != 0) {
        cfg_errors_add(errs, e->file, e->line, "[%s] %s=%s: that "
                       "outbound-publish has event=%s, not %s", sec->name,
                       key, e->value, ev, event);
        return -EINVAL;
    }
    return 0;
}

static int
ps_check_section(const struct cfg *cfg, const struct ini_section *s,
                 struct cfg_errors *errs)
{
    const char *t = ini_get(s, "type");
    int rc = 0;

    if (t == NULL)
        return 0;
    if (strcmp(t, "inbound-publication") == 0) {
        rc |= ps_check_ref(cfg, s, "endpoint", "endpoint", NULL, errs);
        rc |= ps_check_ref(cfg, s, "event_" PUBSTATE_EVENT_DEVICE,
                           "asterisk-publication", NULL, errs);
        rc |= ps_check_ref(cfg, s, "event_" PUBSTATE_EVENT_MWI,
                           "asterisk-publication", NULL, errs);
    } else if (strcmp(t, "asterisk-publication") == 0) {
        rc |= ps_check_ref(cfg, s, "devicestate_publish", "outbound-publish",
                           PUBSTATE_EVENT_DEVICE, errs);
        rc |= ps_check_ref(cfg, s, "mailboxstate_publish", "outbound-publish",
                           PUBSTATE_EVENT_MWI, errs);
    } else if (strcmp(t, "outbound-publish") == 0) {
        rc |= ps_check_ref(cfg, s, "outbound_auth", "auth", NULL, errs);
    }
    return rc;
}

int
pubstate_check_config(const struct cfg *cfg, struct cfg_errors *errs)
{
    int rc = 0;

    for (size_t i = 0; i < cfg->doc->nsections; i++)
        rc |= ps_check_section(cfg, &cfg->doc->sections[i], errs);
    return rc ? -EINVAL : 0;
}

/* ---- runtime objects ---- */

static int
ps_dup(char **dst, const char *v)
{
    *dst = NULL;
    if (v == NULL)
        return 0;
    *dst = strdup(v);
    return *dst ? 0 : -ENOMEM;
}



static int
ps_filter_set(struct ps_filter *f, const char *text)
{
    memset(f, 0, sizeof(*f));
    if (text == NULL)
        return 0;
    if (regcomp(&f->re, text, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0)
        return -EINVAL;  /* cfg already compiled it: not reached */
    f->set = true;
    if ((f->text = strdup(text)) == NULL) {
        ps_filter_free(f);
        return -ENOMEM;
    }
    return 0;
}

void
ps_filter_free(struct ps_filter *f)
{
    if (f->set)
        regfree(&f->re);
    free(f->text);
    memset(f, 0, sizeof(*f));
}

bool
ps_filter_match(const struct ps_filter *f, const char *s)
{
    return !f->set || regexec(&f->re, s, 0, NULL, 0) == 0;
}

static void
ps_asterisk_free(struct ps_asterisk *a)
{
    free(a->name);
    for (int e = 0; e < PS_EV_N; e++) {
        free(a->publish[e]);
        ps_filter_free(&a->filter[e]);
    }
    free(a);
}

void
ps_asterisk_free_all(struct ps_asterisk *a)
{
    while (a) {
        struct ps_asterisk *next = a->next;

        ps_asterisk_free(a);
        a = next;
    }
}

static struct ps_asterisk *
ps_asterisk_new(const struct ini_section *s)
{
    struct ps_asterisk *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->accept[PS_EV_DEVICE] = cfg_get_bool(s, "device_state", false);
    a->accept[PS_EV_MWI] = cfg_get_bool(s, "mailbox_state", false);
    if (ps_dup(&a->name, s->name) < 0 ||
        ps_dup(&a->publish[PS_EV_DEVICE],
               ini_get(s, "devicestate_publish")) < 0 ||
        ps_dup(&a->publish[PS_EV_MWI],
               ini_get(s, "mailboxstate_publish")) < 0 ||
        ps_filter_set(&a->filter[PS_EV_DEVICE],
                      ini_get(s, "device_state_filter")) < 0 ||
        ps_filter_set(&a->filter[PS_EV_MWI],
                      ini_get(s, "mailbox_state_filter")) < 0) {
        ps_asterisk_free(a);
        return NULL;
    }
    return a;
}

int
ps_asterisk_list(const struct cfg *cfg, struct ps_asterisk **out)
{
    struct ps_asterisk *head = NULL, **tail = &head;

    for (size_t i = 0; i < cfg->doc->nsections; i++) {
        const struct ini_section *s = &cfg->doc->sections[i];
        const char *t = ini_get(s, "type");

        if (t == NULL || strcmp(t, "asterisk-publication") != 0)
            continue;
        if ((*tail = ps_asterisk_new(s)) == NULL) {
            ps_asterisk_free_all(head);
            return -ENOMEM;
        }
        tail = &(*tail)->next;
    }
    *out = head;
    return 0;
}

struct ps_asterisk *
ps_asterisk_find(struct ps_asterisk *list, const char *name)
{
    for (; list; list = list->next)
        if (strcmp(list->name, name) == 0)
            return list;
    return NULL;
}

static void
ps_inbound_free(struct ps_inbound *in)
{
    free(in->name);
    free(in->endpoint);
    for (int e = 0; e < PS_EV_N; e++)
        free(in->asterisk[e]);
    free(in);
}

void
ps_inbound_free_all(struct ps_inbound *in)
{
    while (in) {
        struct ps_inbound *next = in->next;

        ps_inbound_free(in);
        in = next;
    }
}

static struct ps_inbound *
ps_inbound_new(const struct ini_section *s, struct pubstate *ps)
{
    struct ps_inbound *in = calloc(1, sizeof(*in));

    if (in == NULL)
        return NULL;
    in->ps = ps;
    if (ps_dup(&in->name, s->name) < 0 ||
        ps_dup(&in->endpoint, ini_get(s, "endpoint")) < 0 ||
        ps_dup(&in->asterisk[PS_EV_DEVICE],
               ini_get(s, "event_" PUBSTATE_EVENT_DEVICE)) < 0 ||
        ps_dup(&in->asterisk[PS_EV_MWI],
               ini_get(s, "event_" PUBSTATE_EVENT_MWI)) < 0) {
        ps_inbound_free(in);
        return NULL;
    }
    return in;
}

int
ps_inbound_list(const struct cfg *cfg, struct pubstate *ps,
                struct ps_inbound **out)
{
    struct ps_inbound *head = NULL, **tail = &head;

    for (size_t i = 0; i < cfg->doc->nsections; i++) {
        const struct ini_section *s = &cfg->doc->sections[i];
        const char *t = ini_get(s, "type");

        if (t == NULL || strcmp(t, "inbound-publication") != 0)
            continue;
        if ((*tail = ps_inbound_new(s, ps)) == NULL) {
            ps_inbound_free_all(head);
            return -ENOMEM;
        }
        tail = &(*tail)->next;
    }
    *out = head;
    return 0;
}

void
ps_target_cfg_free(struct ps_target_cfg *c)
{
    free(c->name);
    free(c->server_uri);
    free(c->from_uri);
    free(c->to_uri);
    free(c->proxy);
    free(c->auth);
    for (int e = 0; e < PS_EV_N; e++)
        ps_filter_free(&c->filter[e]);
    memset(c, 0, sizeof(*c));
}

/*
 * The Route to an outbound_proxy is always loose: Asterisk makes it strict
 * unless "\\;lr" is written out, and a strict route replaces the
 * Request-URI, whose user part names the peer's inbound-publication.
 */
static int
ps_loose_route(char **proxy)
{
    const char *p = *proxy;
    bool lr, angle;
    size_t len, n;
    char *s;

    if (p == NULL)
        return 0;
    /* A bare URI in a Route header would take ";lr" as a header param. */
    lr = strstr(p, ";lr") != NULL;
    angle = strchr(p, '<') != NULL;
    len = strlen(p);
    n = len + 6;
    if ((s = malloc(n)) == NULL)
        return -ENOMEM;
    if (angle && !lr && len > 0 && p[len - 1] == '>')
        snprintf(s, n, "%.*s;lr>", (int)(len - 1), p);
    else if (angle)
        snprintf(s, n, "%s", p);
    else
        snprintf(s, n, "<%s%s>", p, lr ? "" : ";lr");
    free(*proxy);
    *proxy = s;
    return 0;
}

static int
ps_target_cfg_set(struct ps_target_cfg *c, const struct ini_section *s)
{
    const char *server = ini_get(s, "server_uri");
    const char *ev = ini_get(s, "event");

    memset(c, 0, sizeof(*c));
    c->event = strcmp(ev, PUBSTATE_EVENT_MWI) == 0 ? PS_EV_MWI : PS_EV_DEVICE;
    c->expiration = cfg_get_uint(s, "expiration", 3600);
    c->max_auth_attempts = cfg_get_uint(s, "max_auth_attempts", 5);
    c->retry_min_ms = cfg_get_uint(s, "retry_min", 1000);
    c->retry_max_ms = cfg_get_uint(s, "retry_max", 60000);
    if (c->retry_max_ms < c->retry_min_ms)
        c->retry_max_ms = c->retry_min_ms;
    /* from_uri and to_uri default to server_uri, as in Asterisk. */
    if (ps_dup(&c->name, s->name) < 0 || ps_dup(&c->server_uri, server) < 0 ||
        ps_dup(&c->from_uri, ini_get(s, "from_uri") ? ini_get(s, "from_uri")
                                                    : server) < 0 ||
        ps_dup(&c->to_uri, ini_get(s, "to_uri") ? ini_get(s, "to_uri")
                                                : server) < 0 ||
        ps_dup(&c->proxy, ini_get(s, "outbound_proxy")) < 0 ||
        ps_loose_route(&c->proxy) < 0 ||
        ps_dup(&c->auth, ini_get(s, "outbound_auth")) < 0 ||
        ps_filter_set(&c->filter[PS_EV_DEVICE],
                      ini_get(s, "@device_state_filter")) < 0 ||
        ps_filter_set(&c->filter[PS_EV_MWI],
                      ini_get(s, "@mailbox_state_filter")) < 0) {
        ps_target_cfg_free(c);
        return -ENOMEM;
    }
    return 0;
}

int
ps_target_cfg_list(const struct cfg *cfg, struct ps_target_cfg **out,
                   size_t *n)
{
    struct ps_target_cfg *v = NULL;
    size_t m = 0;

    for (size_t i = 0; i < cfg->doc->nsections; i++) {
        const struct ini_section *s = &cfg->doc->sections[i];
        const char *t = ini_get(s, "type");
        struct ps_target_cfg *nv;

        if (t == NULL || strcmp(t, "outbound-publish") != 0)
            continue;
        nv = realloc(v, (m + 1) * sizeof(*v));
        if (nv == NULL || ps_target_cfg_set(&nv[m], s) < 0) {
            v = nv ? nv : v;
            while (m > 0)
                ps_target_cfg_free(&v[--m]);
            free(v);
            return -ENOMEM;
        }
        v = nv;
        m++;
    }
    *out = v;
    *n = m;
    return 0;
}

static bool
ps_same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Asterisk keeps its publish client across a reload when these hold. */
bool
ps_target_cfg_same_peer(const struct ps_target_cfg *a,
                        const struct ps_target_cfg *b)
{
    return a->event == b->event && ps_same_str(a->server_uri, b->server_uri)
           && ps_same_str(a->from_uri, b->from_uri) &&
           ps_same_str(a->to_uri, b->to_uri) && ps_same_str(a->proxy, b->proxy)
           && ps_same_str(a->auth, b->auth);
}

/*
 * peer.c - endpoints, identify rules and auths: config types and table.
 *
 * The per-section checks run inside cfg_load(); the table build runs only
 * on a config that passed them, so it parses values again without error
 * paths of its own.  Addresses are 16 bytes plus a family; an IPv4-mapped
 * IPv6 address, in a rule or a source, becomes IPv4 so that one rule
 * covers both forms a dual-stack socket may report.
 */
#include "sipbridge/peer.h"

#include "sipbridge/digest.h"
#include "sipbridge/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/url.h>

#define PEER_ITEM_MAX 128   /* longest match item: an address and more */

/* One rule of an identify section's match= lists. */
struct peer_rule {
    const struct peer_endpoint *ep;
    int family;                 /* AF_INET or AF_INET6 */
    unsigned char addr[16];     /* network part only: masked to prefix */
    unsigned prefix;            /* leading bits that must match */
    unsigned port;              /* 0: any port */
};

struct peer_table {
    struct peer_auth *auths;          /* sorted by name */
    size_t nauths;
    struct peer_endpoint *endpoints;  /* sorted by name */
    size_t nendpoints;
    struct peer_rule *rules;          /* file order: ties go to the first */
    size_t nrules;
};

/* A received-from address, normalised like the rules. */
struct peer_src {
    int family;
    unsigned char addr[16];
    unsigned port;
};

/* A blank-trimmed item of a comma-separated list, borrowed. */
struct peer_item {
    const char *p;
    size_t len;
};

static const unsigned char peer_v4mapped[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* ---- lists ---- */

/* @return false at the end of @p *list; "a,,b" has an empty item. */
static bool
peer_next_item(const char **list, struct peer_item *it)
{
    const char *s = *list, *end;

    if (s == NULL)
        return false;
    end = strchr(s, ',');
    if (end == NULL)
        end = s + strlen(s);
    *list = *end == ',' ? end + 1 : NULL;
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    it->p = s;
    it->len = (size_t)(end - s);
    return true;
}

static bool
peer_item_is(const struct peer_item *it, const char *word)
{
    return strlen(word) == it->len && strncasecmp(it->p, word, it->len) == 0;
}

/* @return 0, or -EINVAL with *bad the first item that is no method. */
static int
peer_parse_identify_by(const char *v, bool *by_user, bool *by_ip,
                       struct peer_item *bad)
{
    struct peer_item it;

    *by_user = *by_ip = false;
    while (peer_next_item(&v, &it)) {
        if (peer_item_is(&it, "username"))
            *by_user = true;
        else if (peer_item_is(&it, "ip"))
            *by_ip = true;
        else {
            *bad = it;
            return -EINVAL;
        }
    }
    return 0;
}

/* ---- match items ---- */

/* Digits only, at most @p max; @return 0 or -EINVAL. */
static int
peer_parse_num(const char *s, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    const char *p;

    for (p = s; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > max)
            return -EINVAL;
    }
    if (p == s || *p != '\0')
        return -EINVAL;
    *out = v;
    return 0;
}

/* Cut "[v6]:port", "addr/prefix" or "v4:port" apart, in place. */
static const char *
peer_split_rule(char *s, char **addr, char **pfx, char **port, bool *v6)
{
    char *p;

    *addr = s;
    *pfx = *port = NULL;
    *v6 = *s == '[';
    if (*v6) {
        p = strchr(s, ']');
        if (p == NULL)
            return "missing ']' after IPv6 address";
        *p++ = '\0';
        *addr = s + 1;
        if (*p == ':')
            *port = p + 1;
        else if (*p != '\0')
            return "expected ':PORT' after ']'";
        return NULL;
    }
    if ((p = strchr(s, '/')) != NULL) {
        *p = '\0';
        *pfx = p + 1;
    }
    /* One colon is v4:port; more are an IPv6 address. */
    p = strchr(s, ':');
    if (p != NULL && strchr(p + 1, ':') == NULL) {
        *p = '\0';
        *port = p + 1;
    }
    if (*pfx != NULL && *port != NULL)
        return "a prefix and a port cannot be combined";
    return NULL;
}

static const char *
peer_parse_addr(const char *s, bool v6_only, struct peer_rule *r)
{
    memset(r->addr, 0, sizeof(r->addr));
    if (!v6_only && inet_pton(AF_INET, s, r->addr) == 1) {
        r->family = AF_INET;
        r->prefix = 32;
        return NULL;
    }
    if (inet_pton(AF_INET6, s, r->addr) == 1) {
        r->family = AF_INET6;
        r->prefix = 128;
        return NULL;
    }
    return "not an IP address (host names are not allowed)";
}

/* Asterisk also takes an IPv4 netmask (10.0.0.0/255.0.0.0). */
static const char *
peer_parse_netmask(const char *s, struct peer_rule *r)
{
    struct in_addr m;
    uint32_t inv;

    if (inet_pton(AF_INET, s, &m) != 1)
        return "netmask is not an IPv4 address";
    inv = ~ntohl(m.s_addr);
    if ((inv & (inv + 1)) != 0)
        return "netmask is not contiguous";
    r->prefix = 32 - (unsigned)__builtin_popcount(inv);
    return NULL;
}

static const char *
peer_parse_prefix(const char *s, struct peer_rule *r)
{
    unsigned long max = r->family == AF_INET ? 32 : 128, v;

    if (r->family == AF_INET && strchr(s, '.') != NULL)
        return peer_parse_netmask(s, r);
    if (peer_parse_num(s, max, &v) < 0)
        return r->family == AF_INET ? "prefix length must be 0..32"
                                    : "prefix length must be 0..128";
    r->prefix = (unsigned)v;
    return NULL;
}

static const char *
peer_parse_port(const char *s, unsigned *port)
{
    unsigned long v;

    if (peer_parse_num(s, 65535, &v) < 0 || v == 0)
        return "port must be 1..65535";
    *port = (unsigned)v;
    return NULL;
}

/* Zero the bits past @p prefix, so a rule compares with memcmp. */
static void
peer_mask(unsigned char *addr, unsigned prefix)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned bits = prefix > 8 * i ? prefix - 8 * i : 0;

        if (bits < 8)
            addr[i] &= (unsigned char)(0xff00u >> bits);
    }
}

/* ::ffff:a.b.c.d/p with p >= 96 is the IPv4 rule a.b.c.d/(p-96). */
static void
peer_rule_normalize(struct peer_rule *r)
{
    if (r->family == AF_INET6 && r->prefix >= 96 &&
        memcmp(r->addr, peer_v4mapped, sizeof(peer_v4mapped)) == 0) {
        memmove(r->addr, r->addr + 12, 4);
        memset(r->addr + 4, 0, 12);
        r->family = AF_INET;
        r->prefix -= 96;
    }
    peer_mask(r->addr, r->prefix);
}

/* Parse one match item into @p r (port 0 if none); @return why not. */
static const char *
peer_parse_rule(const struct peer_item *it, struct peer_rule *r)
{
    char buf[PEER_ITEM_MAX], *addr, *pfx, *port;
    const char *why;
    bool v6;

    if (it->len == 0)
        return "empty item";
    if (it->len >= sizeof(buf))
        return "too long";
    memcpy(buf, it->p, it->len);
    buf[it->len] = '\0';
    r->port = 0;
    why = peer_split_rule(buf, &addr, &pfx, &port, &v6);
    if (why == NULL)
        why = peer_parse_addr(addr, v6, r);
    if (why == NULL && pfx != NULL)
        why = peer_parse_prefix(pfx, r);
    if (why == NULL && port != NULL)
        why = peer_parse_port(port, &r->port);
    if (why == NULL)
        peer_rule_normalize(r);
    return why;
}

/* ---- config types ---- */

static int
peer_check_endpoint(const struct ini_section *sec, struct cfg_errors *errs)
{
    const struct ini_entry *e = ini_find(sec, "identify_by");
    struct peer_item bad;
    bool by_user, by_ip;

    if (e == NULL ||
        peer_parse_identify_by(e->value, &by_user, &by_ip, &bad) == 0)
        return 0;
    cfg_errors_add(errs, e->file, e->line, "[%s] identify_by '%s': unknown "
                   "method '%.*s' (use username, ip or both)", sec->name,
                   e->value, (int)bad.len, bad.p);
    return -EINVAL;
}

static int
peer_check_match(const struct ini_section *sec, const struct ini_entry *e,
                 struct cfg_errors *errs)
{
    const char *list = e->value, *why;
    struct peer_item it;
    struct peer_rule r;
    int rc = 0;

    while (peer_next_item(&list, &it)) {
        why = peer_parse_rule(&it, &r);
        if (why == NULL)
            continue;
        cfg_errors_add(errs, e->file, e->line, "[%s] match '%.*s': %s",
                       sec->name, (int)it.len, it.p, why);
        rc = -EINVAL;
    }
    return rc;
}

static int
peer_check_identify(const struct ini_section *sec, struct cfg_errors *errs)
{
    int rc = 0;

    for (size_t i = 0; i < sec->nentries; i++)
        if (strcmp(sec->entries[i].key, "match") == 0 &&
            peer_check_match(sec, &sec->entries[i], errs) < 0)
            rc = -EINVAL;
    return rc;
}

/* The realm goes between quotes in WWW-Authenticate: keep it plain. */
static int
peer_check_auth(const struct ini_section *sec, struct cfg_errors *errs)
{
    const struct ini_entry *e = ini_find(sec, "realm");

    if (e == NULL)
        return 0;
    for (const char *p = e->value; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\' || iscntrl((unsigned char)*p)) {
            cfg_errors_add(errs, e->file, e->line, "[%s] realm '%s': must "
                           "not contain quotes, backslashes or control "
                           "characters", sec->name, e->value);
            return -EINVAL;
        }
    }
    return 0;
}

static const struct cfg_key peer_endpoint_keys[] = {
    { "identify_by", CFG_STRING, 0, 0, 0, NULL },
    { "auth", CFG_STRING, 0, 0, 0, NULL },
    { NULL, CFG_STRING, 0, 0, 0, NULL }
};

static const struct cfg_key peer_identify_keys[] = {
    { "endpoint", CFG_STRING, CFG_REQUIRED, 0, 0, NULL },
    { "match", CFG_STRING, CFG_REPEATABLE, 0, 0, NULL },
    { NULL, CFG_STRING, 0, 0, 0, NULL }
};

static const char *const peer_auth_types[] = { "userpass", NULL };

static const struct cfg_key peer_auth_keys[] = {
    { "auth_type", CFG_ENUM, 0, 0, 0, peer_auth_types },
    { "username", CFG_STRING, CFG_REQUIRED, 0, 0, NULL },
    { "password", CFG_STRING, CFG_REQUIRED, 0, 0, NULL },
    { "realm", CFG_STRING, 0, 0, 0, NULL },
    { NULL, CFG_STRING, 0, 0, 0, NULL }
};

const struct cfg_type peer_endpoint_type = {
    .type = "endpoint", .keys = peer_endpoint_keys,
    .check = peer_check_endpoint,
};

const struct cfg_type peer_identify_type = {
    .type = "identify", .keys = peer_identify_keys,
    .check = peer_check_identify,
};

const struct cfg_type peer_auth_type = {
    .type = "auth", .keys = peer_auth_keys, .check = peer_check_auth,
};

/* ---- cross-section checks ---- */

static bool
peer_is_type(const struct ini_section *sec, const char *type)
{
    const char *t = ini_get(sec, "type");

    return t != NULL && strcmp(t, type) == 0;
}

static int
peer_strcmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted names of the sections of one type, so big configs stay fast. */
struct peer_names {
    const char **v;
    size_t n;
};

static int
peer_names_of(const struct ini_doc *doc, const char *type,
              struct peer_names *out)
{
    out->n = 0;
    out->v = calloc(doc->nsections + 1, sizeof(*out->v));
    if (out->v == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < doc->nsections; i++)
        if (peer_is_type(&doc->sections[i], type))
            out->v[out->n++] = doc->sections[i].name;
    qsort(out->v, out->n, sizeof(*out->v), peer_strcmp);
    return 0;
}

/* @p key of @p sec, if given, must name a section in @p names. */
static int
peer_check_ref(const struct ini_section *sec, const char *key,
               const char *type, const struct peer_names *names,
               struct cfg_errors *errs)
{
    const struct ini_entry *e = ini_find(sec, key);

    if (e == NULL || bsearch(&e->value, names->v, names->n,
                             sizeof(*names->v), peer_strcmp) != NULL)
        return 0;
    cfg_errors_add(errs, e->file, e->line, "[%s] %s '%s': no type=%s "
                   "section has that name", sec->name, key, e->value, type);
    return -EINVAL;
}

int
peer_check_config(const struct cfg *cfg, struct cfg_errors *errs)
{
    const struct ini_doc *doc = cfg->doc;
    struct peer_names auths = { 0 }, eps = { 0 };
    int rc = 0;

    if (peer_names_of(doc, "auth", &auths) < 0 ||
        peer_names_of(doc, "endpoint", &eps) < 0)
        rc = -ENOMEM;
    for (size_t i = 0; rc != -ENOMEM && i < doc->nsections; i++) {
        const struct ini_section *sec = &doc->sections[i];

        if (peer_is_type(sec, "endpoint") &&
            peer_check_ref(sec, "auth", "auth", &auths, errs) < 0)
            rc = -EINVAL;
        if (peer_is_type(sec, "identify") &&
            peer_check_ref(sec, "endpoint", "endpoint", &eps, errs) < 0)
            rc = -EINVAL;
    }
    free(auths.v);
    free(eps.v);
    return rc;
}

/* ---- the table ---- */

/* Both tables sort and search on the name, their first member. */
_Static_assert(offsetof(struct peer_auth, name) == 0, "name first");
_Static_assert(offsetof(struct peer_endpoint, name) == 0, "name first");

static int
peer_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
peer_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

static size_t
peer_count_rules(const struct ini_section *sec)
{
    struct peer_item it;
    size_t n = 0;

    for (size_t i = 0; i < sec->nentries; i++) {
        const char *list = sec->entries[i].value;

        if (strcmp(sec->entries[i].key, "match") == 0)
            while (peer_next_item(&list, &it))
                n++;
    }
    return n;
}

static int
peer_alloc(struct peer_table *pt, const struct ini_doc *doc)
{
    size_t na = 0, ne = 0, nr = 0;

    for (size_t i = 0; i < doc->nsections; i++) {
        na += peer_is_type(&doc->sections[i], "auth");
        ne += peer_is_type(&doc->sections[i], "endpoint");
        if (peer_is_type(&doc->sections[i], "identify"))
            nr += peer_count_rules(&doc->sections[i]);
    }
    pt->auths = calloc(na + 1, sizeof(*pt->auths));
    pt->endpoints = calloc(ne + 1, sizeof(*pt->endpoints));
    pt->rules = calloc(nr + 1, sizeof(*pt->rules));
    return pt->auths && pt->endpoints && pt->rules ? 0 : -ENOMEM;
}

static char *
peer_strdup(const char *s, const char *def)
{
    return strdup(s != NULL ? s : def);
}

static int
peer_build_auth(const struct ini_section *sec, struct peer_auth *a)
{
    a->name = peer_strdup(sec->name, "");
    a->username = peer_strdup(ini_get(sec, "username"), "");
    a->password = peer_strdup(ini_get(sec, "password"), "");
    a->realm = peer_strdup(ini_get(sec, "realm"), PEER_DEFAULT_REALM);
    return a->name && a->username && a->password && a->realm ? 0 : -ENOMEM;
}

static int
peer_build_endpoint(const struct peer_table *pt,
                    const struct ini_section *sec, struct peer_endpoint *ep)
{
    const char *by = ini_get(sec, "identify_by");
    const char *auth = ini_get(sec, "auth");
    struct peer_item bad;

    peer_parse_identify_by(by ? by : "username,ip", &ep->by_username,
                           &ep->by_ip, &bad);
    ep->auth = auth ? peer_auth_find(pt, auth) : NULL;
    ep->name = peer_strdup(sec->name, "");
    return ep->name ? 0 : -ENOMEM;
}

static void
peer_build_rules(struct peer_table *pt, const struct ini_section *sec)
{
    const char *name = ini_get(sec, "endpoint");
    const struct peer_endpoint *ep = name ? peer_endpoint_find(pt, name)
                                          : NULL;
    struct peer_item it;
    struct peer_rule r;

    for (size_t i = 0; ep != NULL && i < sec->nentries; i++) {
        const char *list = sec->entries[i].value;

        if (strcmp(sec->entries[i].key, "match") != 0)
            continue;
        while (peer_next_item(&list, &it)) {
            if (peer_parse_rule(&it, &r) != NULL)
                continue;
            r.ep = ep;
            pt->rules[pt->nrules++] = r;
        }
    }
}

/* Auths first, then endpoints (which point at auths), then rules. */
static int
peer_build(struct peer_table *pt, const struct ini_doc *doc)
{
    const struct ini_section *s = doc->sections;
    int rc = peer_alloc(pt, doc);

    for (size_t i = 0; rc == 0 && i < doc->nsections; i++)
        if (peer_is_type(&s[i], "auth"))
            rc = peer_build_auth(&s[i], &pt->auths[pt->nauths++]);
    if (rc == 0)
        qsort(pt->auths, pt->nauths, sizeof(*pt->auths), peer_name_cmp);
    for (size_t i = 0; rc == 0 && i < doc->nsections; i++)
        if (peer_is_type(&s[i], "endpoint"))
            rc = peer_build_endpoint(pt, &s[i],
                                     &pt->endpoints[pt->nendpoints++]);
    if (rc == 0)
        qsort(pt->endpoints, pt->nendpoints, sizeof(*pt->endpoints),
              peer_name_cmp);
    for (size_t i = 0; rc == 0 && i < doc->nsections; i++)
        if (peer_is_type(&s[i], "identify"))
            peer_build_rules(pt, &s[i]);
    return rc;
}

int
peer_table_create(struct peer_table **out, const struct cfg *cfg)
{
    struct cfg_errors errs = { 0 };
    struct peer_table *pt;
    int rc = peer_check_config(cfg, &errs);

    for (size_t i = 0; i < errs.n; i++)
        log_err("peer", "config not checked: %s", errs.msgs[i]);
    cfg_errors_clear(&errs);
    if (rc < 0)
        return rc;
    pt = calloc(1, sizeof(*pt));
    if (pt == NULL)
        return -ENOMEM;
    rc = peer_build(pt, cfg->doc);
    if (rc < 0) {
        peer_table_destroy(pt);
        return rc;
    }
    *out = pt;
    return 0;
}

void
peer_table_destroy(struct peer_table *pt)
{
    if (pt == NULL)
        return;
    for (size_t i = 0; i < pt->nauths; i++) {
        free(pt->auths[i].name);
        free(pt->auths[i].username);
        free(pt->auths[i].password);
        free(pt->auths[i].realm);
    }
    for (size_t i = 0; i < pt->nendpoints; i++)
        free(pt->endpoints[i].name);
    free(pt->auths);
    free(pt->endpoints);
    free(pt->rules);
    free(pt);
}

const struct peer_endpoint *
peer_endpoint_find(const struct peer_table *pt, const char *name)
{
    if (pt == NULL || name == NULL)
        return NULL;
    return bsearch(name, pt->endpoints, pt->nendpoints,
                   sizeof(*pt->endpoints), peer_key_cmp);
}

const struct peer_auth *
peer_auth_find(const struct peer_table *pt, const char *name)
{
    if (pt == NULL || name == NULL)
        return NULL;
    return bsearch(name, pt->auths, pt->nauths, sizeof(*pt->auths),
                   peer_key_cmp);
}

/* ---- identification ---- */

static bool
peer_src_from(const struct sockaddr *sa, struct peer_src *s)
{
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

    memset(s, 0, sizeof(*s));
    if (sa->sa_family == AF_INET) {
        s->family = AF_INET;
        memcpy(s->addr, &in4->sin_addr, 4);
        s->port = ntohs(in4->sin_port);
        return true;
    }
    if (sa->sa_family != AF_INET6)
        return false;
    s->port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        s->family = AF_INET;
        memcpy(s->addr, in6->sin6_addr.s6_addr + 12, 4);
    } else {
        s->family = AF_INET6;
        memcpy(s->addr, in6->sin6_addr.s6_addr, 16);
    }
    return true;
}

static bool
peer_rule_covers(const struct peer_rule *r, const struct peer_src *s)
{
    unsigned char a[16];

    if (r->family != s->family || (r->port != 0 && r->port != s->port))
        return false;
    memcpy(a, s->addr, sizeof(a));
    peer_mask(a, r->prefix);
    return memcmp(a, r->addr, sizeof(a)) == 0;
}

/* IP:port > IP > longer prefix; a port rule always has a full prefix. */
static unsigned
peer_rule_rank(const struct peer_rule *r)
{
    return 2 * r->prefix + (r->port != 0);
}

static const struct peer_endpoint *
peer_identify_ip(const struct peer_table *pt, const struct peer_src *s)
{
    const struct peer_rule *best = NULL;

    for (size_t i = 0; i < pt->nrules; i++) {
        const struct peer_rule *r = &pt->rules[i];

        if (!r->ep->by_ip || !peer_rule_covers(r, s))
            continue;
        if (best == NULL || peer_rule_rank(r) > peer_rule_rank(best))
            best = r;
    }
    return best ? best->ep : NULL;
}

const struct peer_endpoint *
peer_identify(const struct peer_table *pt, const sip_t *req,
              const struct sockaddr *src)
{
    const struct peer_endpoint *ep = NULL;
    struct peer_src s;

    if (pt == NULL)
        return NULL;
    if (src != NULL && peer_src_from(src, &s))
        ep = peer_identify_ip(pt, &s);
    if (ep != NULL)
        return ep;
    if (req == NULL || req->sip_from == NULL)
        return NULL;
    ep = peer_endpoint_find(pt, req->sip_from->a_url->url_user);
    return ep != NULL && ep->by_username ? ep : NULL;
}

/* ---- address lists ---- */

struct peer_acl {
    size_t n;
    struct peer_rule rules[];
};

int
peer_acl_create(struct peer_acl **out, const char *list, char *why,
                size_t whylen)
{
    const char *l = list;
    struct peer_item it;
    struct peer_acl *acl;
    size_t n = 0;

    while (peer_next_item(&l, &it))
        n++;
    acl = calloc(1, sizeof(*acl) + n * sizeof(acl->rules[0]));
    if (acl == NULL)
        return -ENOMEM;
    for (l = list; peer_next_item(&l, &it);) {
        const char *bad = peer_parse_rule(&it, &acl->rules[acl->n]);

        if (bad != NULL) {
            snprintf(why, whylen, "'%.*s': %s", (int)it.len, it.p, bad);
            free(acl);
            return -EINVAL;
        }
        acl->n++;
    }
    *out = acl;
    return 0;
}

void
peer_acl_destroy(struct peer_acl *acl)
{
    free(acl);
}

bool
peer_acl_match(const struct peer_acl *acl, const struct sockaddr *sa)
{
    struct peer_src s;

    if (acl == NULL || sa == NULL || !peer_src_from(sa, &s))
        return false;
    for (size_t i = 0; i < acl->n; i++)
        if (peer_rule_covers(&acl->rules[i], &s))
            return true;
    return false;
}

/* ---- admission ---- */

static bool
peer_list_has(const char *list, const char *name)
{
    struct peer_item it;

    while (peer_next_item(&list, &it))
        if (it.len == strlen(name) && strncmp(it.p, name, it.len) == 0)
            return true;
    return false;
}

int
peer_admit(const struct peer_table *pt, struct digest *dg, const sip_t *req,
           const struct sockaddr *src, const char *allowed,
           const struct peer_endpoint **ep_out, char *chal, size_t chal_len)
{
    const struct peer_endpoint *ep = peer_identify(pt, req, src);
    int rc;

    *ep_out = ep;
    if (allowed && (ep == NULL || !peer_list_has(allowed, ep->name)))
        return PEER_FORBIDDEN;
    if (ep == NULL || ep->auth == NULL)
        return 0;
    rc = digest_verify(dg, req, ep->auth->realm, ep->auth->username,
                       ep->auth->password);
    if (rc == 0)
        return 0;
    if (digest_challenge(dg, ep->auth->realm, rc == -ESTALE, chal,
                         chal_len) != 0)
        return -ENOMEM;
    return PEER_CHALLENGE;
}

bool
peer_endpoints_exist(const struct cfg *cfg, const char *list, char *bad,
                     size_t badlen)
{
    struct peer_item it;

    while (peer_next_item(&list, &it)) {
        char name[PEER_ITEM_MAX];

        snprintf(name, sizeof(name), "%.*s", (int)it.len, it.p);
        if (it.len == 0 || it.len >= sizeof(name) ||
            cfg_section_find(cfg, "endpoint", name) == NULL) {
            snprintf(bad, badlen, "%s", name);
            return false;
        }
    }
    return true;
}

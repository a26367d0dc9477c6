/*
 * config.c - the type=mwi section.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include "mwi_int.h"
#include "sipbridge/log.h"

static const char *const mwi_flavours[] = { "auto", "kamailio", "opensips",
                                            NULL };
static const char *const mwi_gone[] = { "delete", "keep", NULL };

static const struct cfg_key mwi_keys[] = {
    { "database", CFG_STRING, CFG_REQUIRED, 0, 0, NULL },
    { "table", CFG_STRING, 0, 0, 0, NULL },
    { "schema_flavour", CFG_ENUM, 0, 0, 0, mwi_flavours },
    { "proxy", CFG_STRING, CFG_REQUIRED, 0, 0, NULL },
    { "contact_user", CFG_STRING, 0, 0, 0, NULL },
    { "contact_host", CFG_STRING, 0, 0, 0, NULL },
    { "user_agent", CFG_STRING, 0, 0, 0, NULL },
    { "vmexten", CFG_STRING, 0, 0, 0, NULL },
    { "context_domain", CFG_STRING, CFG_REPEATABLE, 0, 0, NULL },
    { "on_gone", CFG_ENUM, 0, 0, 0, mwi_gone },
    { "timeout_removes", CFG_BOOL, 0, 0, 0, NULL },
    { "max_retries", CFG_UINT, 0, 0, 10, NULL },
    { "retry_min", CFG_UINT, 0, 10, 600000, NULL },
    { "retry_max", CFG_UINT, 0, 10, 3600000, NULL },
    { "max_pending", CFG_UINT, 0, 1, 10000000, NULL },
    { "listen_channel", CFG_STRING, 0, 0, 0, NULL },
    { NULL, 0, 0, 0, 0, NULL }
};

/* [schema.]name, each part a plain SQL identifier. */
static bool
mwi_table_valid(const char *s)
{
    int parts = 0;

    while (*s) {
        if (!(isalpha((unsigned char)*s) || *s == '_'))
            return false;
        while (isalnum((unsigned char)*s) || *s == '_')
            s++;
        if (++parts > 2 || (*s != '\0' && *s != '.'))
            return false;
        if (*s == '.' && *++s == '\0')
            return false;
    }
    return parts > 0;
}

static int
mwi_check_entry(const struct ini_section *sec, const struct ini_entry *e,
                struct cfg_errors *errs)
{
    su_home_t home[1] = { SU_HOME_INIT(home) };
    const char *why = NULL;
    url_t *u;

    if (strcmp(e->key, "table") == 0 && !mwi_table_valid(e->value))
        why = "must be NAME or SCHEMA.NAME (letters, digits, _)";
    else if (strcmp(e->key, "context_domain") == 0) {
        const char *c = strchr(e->value, ':');
        if (c == NULL || c == e->value || c[1] == '\0' || strchr(c + 1, ':'))
            why = "must be CONTEXT:DOMAIN, e.g. default:example.com";
    } else if (strcmp(e->key, "proxy") == 0) {
        u = url_make(home, e->value);
        if (!u || (u->url_type != url_sip && u->url_type != url_sips) ||
            !u->url_host || u->url_user)
            why = "must be a sip: URI of the proxy, e.g. sip:10.0.0.1:5060 "
                  "or sip:10.0.0.1;transport=tcp";
    } else if (strcmp(e->key, "listen_channel") == 0 &&
               strlen(e->value) > 63)
        why = "longer than 63 bytes (PostgreSQL's limit)";
    su_home_deinit(home);
    if (why == NULL)
        return 0;
    cfg_errors_add(errs, e->file, e->line, "[%s] %s '%s': %s", sec->name,
                   e->key, e->value, why);
    return -EINVAL;
}

static int
mwi_check_section(const struct ini_section *sec, struct cfg_errors *errs)
{
    int rc = 0;

    for (size_t i = 0; i < sec->nentries; i++)
        rc |= mwi_check_entry(sec, &sec->entries[i], errs);
    return rc ? -EINVAL : 0;
}

const struct cfg_type mwi_cfg_type = {
    "mwi", mwi_keys, NULL, true, mwi_check_section, false
};


int
mwi_check_config(const struct cfg *cfg, struct cfg_errors *errs)
{
    const struct ini_section *sec = cfg_section_find(cfg, "mwi", NULL);
    const struct ini_entry *e = sec ? ini_find(sec, "database") : NULL;

    if (e == NULL || cfg_database_find(cfg, e->value) != NULL)
        return 0;
    cfg_errors_add(errs, e->file, e->line, "[%s] database=%s: no "
                   "type=database section [%s]", sec->name, e->value,
                   e->value);
    return -EINVAL;
}

/* ---- reading ---- */

static int
mwi_dup(char **dst, const char *v)
{
    *dst = v ? strdup(v) : NULL;
    return v && *dst == NULL ? -ENOMEM : 0;
}

static int
mwi_quote_table(struct mwi_cfg *c)
{
    const char *dot = strchr(c->table, '.');
    size_t n = strlen(c->table) + 8;

    if ((c->table_sql = malloc(n)) == NULL)
        return -ENOMEM;
    if (dot)
        snprintf(c->table_sql, n, "\"%.*s\".\"%s\"", (int)(dot - c->table),
                 c->table, dot + 1);
    else
        snprintf(c->table_sql, n, "\"%s\"", c->table);
    return 0;
}

static int
mwi_read_contexts(const struct ini_section *sec, struct mwi_cfg *c)
{
    for (size_t i = 0; i < sec->nentries; i++) {
        const struct ini_entry *e = &sec->entries[i];
        struct mwi_ctx_domain *v;
        const char *colon;

        if (strcmp(e->key, "context_domain") != 0)
            continue;
        colon = strchr(e->value, ':');
        v = realloc(c->ctx, (c->nctx + 1) * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        c->ctx = v;
        v[c->nctx].context = strndup(e->value, (size_t)(colon - e->value));
        v[c->nctx].domain = strdup(colon + 1);
        c->nctx++;
        if (!v[c->nctx - 1].context || !v[c->nctx - 1].domain)
            return -ENOMEM;
    }
    return 0;
}

/* Rows without a local_contact get ours: the first transport's address. */
static int
mwi_read_contact(const struct cfg *cfg, const struct ini_section *sec,
                 struct mwi_cfg *c)
{
    const char *user = ini_get(sec, "contact_user");
    const char *host = ini_get(sec, "contact_host");
    const struct cfg_transport *t = &cfg->transports[0];
    char buf[512];

    if (host)
        snprintf(buf, sizeof(buf), "sip:%s@%s", user ? user : "sipbridge",
                 host);
    else
        snprintf(buf, sizeof(buf), t->family == AF_INET6 ? "sip:%s@[%s]:%u"
                                                         : "sip:%s@%s:%u",
                 user ? user : "sipbridge", t->host, t->port);
    return mwi_dup(&c->contact, buf);
}

static int
mwi_read(const struct cfg *cfg, const struct ini_section *sec,
         struct mwi_cfg *c)
{
    const char *fl = ini_get(sec, "schema_flavour");
    const char *gone = ini_get(sec, "on_gone");

    c->enabled = true;
    c->flavour = !fl || strcmp(fl, "auto") == 0 ? MWI_AUTO
                 : strcmp(fl, "kamailio") == 0 ? MWI_KAMAILIO : MWI_OPENSIPS;
    c->delete_gone = !gone || strcmp(gone, "delete") == 0;
    c->timeout_removes = cfg_get_bool(sec, "timeout_removes", true);
    c->max_retries = cfg_get_uint(sec, "max_retries", 3);
    c->retry_min_ms = cfg_get_uint(sec, "retry_min", 1000);
    c->retry_max_ms = cfg_get_uint(sec, "retry_max", 30000);
    if (c->retry_max_ms < c->retry_min_ms)
        c->retry_max_ms = c->retry_min_ms;
    c->max_pending = cfg_get_uint(sec, "max_pending", 10000);
    if (mwi_dup(&c->name, sec->name) < 0 ||
        mwi_dup(&c->database, ini_get(sec, "database")) < 0 ||
        mwi_dup(&c->table, ini_get(sec, "table") ? ini_get(sec, "table")
                                                 : "active_watchers") < 0 ||
        mwi_quote_table(c) < 0 ||
        mwi_dup(&c->proxy, ini_get(sec, "proxy")) < 0 ||
        mwi_dup(&c->user_agent, ini_get(sec, "user_agent")
                                    ? ini_get(sec, "user_agent")
                                    : cfg->global.user_agent) < 0 ||
        mwi_dup(&c->vmexten, ini_get(sec, "vmexten")) < 0 ||
        mwi_dup(&c->listen_channel, ini_get(sec, "listen_channel")) < 0 ||
        mwi_read_contact(cfg, sec, c) < 0 || mwi_read_contexts(sec, c) < 0)
        return -ENOMEM;
    return 0;
}

int
mwi_cfg_read(const struct cfg *cfg, struct mwi_cfg *out)
{
    const struct ini_section *sec = cfg_section_find(cfg, "mwi", NULL);
    int rc;

    memset(out, 0, sizeof(*out));
    if (sec == NULL)
        return 0;
    rc = mwi_read(cfg, sec, out);
    if (rc < 0)
        mwi_cfg_free(out);
    return rc;
}

void
mwi_cfg_free(struct mwi_cfg *c)
{
    free(c->name);
    free(c->database);
    free(c->table);
    free(c->table_sql);
    free(c->proxy);
    free(c->contact);
    free(c->user_agent);
    free(c->vmexten);
    free(c->listen_channel);
    for (size_t i = 0; i < c->nctx; i++) {
        free(c->ctx[i].context);
        free(c->ctx[i].domain);
    }
    free(c->ctx);
    memset(c, 0, sizeof(*c));
}

/* Asterisk's context of a mailbox → the SIP domain of its subscribers;
 * a mailbox without a context is in "default", as in voicemail.conf. */
const char *
mwi_cfg_domain(const struct mwi_cfg *c, const char *context)
{
    if (context == NULL || context[0] == '\0')
        context = "default";
    for (size_t i = 0; i < c->nctx; i++)
        if (strcmp(c->ctx[i].context, context) == 0)
            return c->ctx[i].domain;
    return NULL;
}

const char *
mwi_flavour_name(enum mwi_flavour f)
{
    return f == MWI_KAMAILIO ? "kamailio"
           : f == MWI_OPENSIPS ? "opensips" : "unknown";
}

/*
 * chat.c - conferences from the config, their lifecycle, control requests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "chat_int.h"
#include "sipbridge/digest.h"
#include "sipbridge/log.h"
#include "sipbridge/metrics.h"
#include "sipbridge/peer.h"

#define CHAT_DEFAULT_CTYPES "text/*, application/*"

/* ---- config type ---- */

static const struct cfg_key chat_keys[] = {
    { "user", CFG_STRING, CFG_REQUIRED, 0, 0, NULL },
    { "max_participants", CFG_UINT, 0, 1, 100000, NULL },
    { "content_types", CFG_STRING, 0, 0, 0, NULL },
    { "max_body", CFG_SIZE, 0, 1, 16 << 20, NULL },
    { "history", CFG_UINT, 0, 0, 10000, NULL },
    { "sanitize_html", CFG_BOOL, 0, 0, 0, NULL },
    { "events", CFG_BOOL, 0, 0, 0, NULL },
    { "store", CFG_BOOL, 0, 0, 0, NULL },
    { "database", CFG_STRING, 0, 0, 0, NULL },
    { "max_failures", CFG_UINT, 0, 1, 100, NULL },
    { "endpoint", CFG_STRING, 0, 0, 0, NULL },
    { NULL, 0, 0, 0, 0, NULL }
};

/* A content type pattern: "type/subtype", "type/" + star, or a star. */
static int
chat_ctype_valid(const char *p)
{
    const char *slash = strchr(p, '/');

    if (strcmp(p, "*") == 0)
        return 1;
    return slash && slash > p && slash[1] && !strchr(slash + 1, '/') &&
           strspn(p, "abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&^_.+-*/") ==
               strlen(p);
}

/* Splits "a, b ,c" into trimmed items; @return count or -ENOMEM. */
int
chat_split_list(const char *s, char ***out)
{
    char *copy = strdup(s), *save = NULL, *tok;
    char **v = NULL;
    int n = 0;

    if (copy == NULL)
        return -ENOMEM;
    for (tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char **nv;
        size_t len;

        tok += strspn(tok, " \t");
        len = strcspn(tok, " \t");
        if (len == 0)
            continue;
        nv = realloc(v, (n + 1) * sizeof(*v));
        if (nv == NULL || (nv[n] = strndup(tok, len)) == NULL) {
            v = nv ? nv : v;
            while (n > 0)
                free(v[--n]);
            free(v);
            free(copy);
            return -ENOMEM;
        }
        v = nv;
        n++;
    }
    free(copy);
    *out = v;
    return n;
}

void
chat_free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int
chat_check_section(const struct ini_section *sec, struct cfg_errors *errs)
{
    const struct ini_entry *e = ini_find(sec, "content_types");
    const struct ini_entry *store = ini_find(sec, "store");
    bool on = false;
    char **v;
    int n, rc = 0;

    if (e) {
        n = chat_split_list(e->value, &v);
        if (n == 0) {
            cfg_errors_add(errs, e->file, e->line, "[%s] content_types: "
                           "empty list", sec->name);
            rc = -EINVAL;
        }
        for (int i = 0; i < n; i++) {
            if (!chat_ctype_valid(v[i])) {
                cfg_errors_add(errs, e->file, e->line, "[%s] content_types: "
                               "'%s' is not type/subtype, type/* or *",
                               sec->name, v[i]);
                rc = -EINVAL;
            }
        }
        if (n > 0)
            chat_free_list(v, (size_t)n);
    }
    if (store && cfg_parse_bool(store->value, &on) == 0 && on &&
        ini_find(sec, "database") == NULL) {
        cfg_errors_add(errs, store->file, store->line, "[%s] store=yes needs "
                       "database=NAME (a type=database section)", sec->name);
        rc = -EINVAL;
    }
    return rc;
}

const struct cfg_type chat_cfg_type = {
    "conference", chat_keys, "user", false, chat_check_section, false
};

int
chat_check_config(const struct cfg *cfg, struct cfg_errors *errs)
{
    int rc = 0;

    for (size_t i = 0; i < cfg->doc->nsections; i++) {
        const struct ini_section *sec = &cfg->doc->sections[i];
        const char *type = ini_get(sec, "type");
        const struct ini_entry *db = ini_find(sec, "database");
        const struct ini_entry *ep = ini_find(sec, "endpoint");
        char bad[128];

        if (type == NULL || strcmp(type, "conference") != 0)
            continue;
        if (ep && !peer_endpoints_exist(cfg, ep->value, bad, sizeof(bad))) {
            cfg_errors_add(errs, ep->file, ep->line, "[%s] endpoint '%s': no "
                           "type=endpoint section of that name", sec->name,
                           bad);
            rc = -EINVAL;
        }
        if (db && cfg_database_find(cfg, db->value) == NULL) {
            cfg_errors_add(errs, db->file, db->line, "[%s] database '%s': "
                           "no type=database section of that name",
                           sec->name, db->value);
            rc = -EINVAL;
        }
    }
    return rc;
}

/* ---- conference objects ---- */

static double
chat_now(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}




/* Reads the settings of @p sec into @p conf (new or live). */
static int
chat_conf_settings(struct chat_conf *conf, const struct ini_section *sec)
{
    const char *ct = ini_get(sec, "content_types");
    const char *db = ini_get(sec, "database");
    const char *ep = ini_get(sec, "endpoint");
    char **v;
    int n = chat_split_list(ct ? ct : CHAT_DEFAULT_CTYPES, &v);
    char *accept, *dbname = db ? strdup(db) : NULL;
    char *endpoint = ep ? strdup(ep) : NULL;

    accept = strdup(ct ? ct : CHAT_DEFAULT_CTYPES);
    if (n < 0 || accept == NULL || (db && dbname == NULL) ||
        (ep && endpoint == NULL)) {
        if (n > 0)
            chat_free_list(v, (size_t)n);
        free(accept);
        free(dbname);
        free(endpoint);
        return -ENOMEM;
    }
    chat_free_list(conf->ctypes, conf->nctypes);
    free(conf->accept);
    free(conf->database);
    free(conf->endpoint);
    conf->ctypes = v;
    conf->nctypes = (size_t)n;
    conf->accept = accept;
    conf->database = dbname;
    conf->endpoint = endpoint;
    conf->max_participants = cfg_get_uint(sec, "max_participants", 50);
    conf->max_body = cfg_get_size(sec, "max_body", 64 << 10);
    conf->max_failures = cfg_get_uint(sec, "max_failures", 3);
    conf->sanitize_html = cfg_get_bool(sec, "sanitize_html", false);
    conf->events = cfg_get_bool(sec, "events", false);
    conf->store = cfg_get_bool(sec, "store", false);
    return chat_history_resize(conf, cfg_get_uint(sec, "history", 0));
}

static struct chat_conf *
chat_conf_new(struct chat *chat, const struct ini_section *sec)
{
    struct chat_conf *conf = calloc(1, sizeof(*conf));
    unsigned long long r;

    if (conf == NULL)
        return NULL;
    conf->chat = chat;
    conf->name = strdup(sec->name);
    conf->user = strdup(ini_get(sec, "user"));
    conf->created = chat_now();
    /* A stable-looking id for ConfBridge events' bridge snapshot. */
    r = (unsigned long long)(conf->created * 1e6) ^ (uintptr_t)conf;
    snprintf(conf->bridge_id, sizeof(conf->bridge_id),
             "%08llx-%04llx-4%03llx-8%03llx-%012llx", r & 0xffffffffULL,
             (r >> 32) & 0xffff, (r >> 8) & 0xfff, (r >> 20) & 0xfff,
             (r * 2654435761ULL) & 0xffffffffffffULL);
    if (conf->name == NULL || conf->user == NULL ||
        chat_conf_settings(conf, sec) != 0) {
        chat_conf_free(conf);
        return NULL;
    }
    return conf;
}

void
chat_conf_free(struct chat_conf *conf)
{
    if (conf == NULL)
        return;
    chat_history_resize(conf, 0);
    chat_free_list(conf->ctypes, conf->nctypes);
    free(conf->accept);
    free(conf->database);
    free(conf->endpoint);
    free(conf->name);
    free(conf->user);
    free(conf);
}

struct chat_conf *
chat_conf_find(struct chat *chat, const char *name)
{
    for (struct chat_conf *c = chat->confs; c; c = c->next)
        if (!c->gone && strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static int
chat_conf_route(struct chat_conf *conf)
{
    int rc = sip_route_add(conf->chat->deps.sip, conf->user, &chat_route_ops,
                           conf);

    if (rc != 0) {
        log_err(CHAT_LOG, "conference %s: cannot own user part '%s': %s",
                conf->name, conf->user, strerror(-rc));
        return rc;
    }
    conf->routed = true;
    return 0;
}

static void
chat_conf_unroute(struct chat_conf *conf)
{
    if (conf->routed)
        sip_route_remove(conf->chat->deps.sip, conf->user);
    conf->routed = false;
}

/* Ends a conference removed from the config: BYE to everyone; it is freed
 * when its last participant is gone (chat_part_remove). */
static void
chat_conf_retire(struct chat_conf *conf)
{
    chat_conf_unroute(conf);
    conf->gone = true;
    log_notice(CHAT_LOG, "conference %s removed; ending %u call(s)",
               conf->name, conf->nparts);
    for (struct chat_part *p = conf->parts, *next; p; p = next) {
        next = p->next;
        chat_part_kick(p, "conference removed");
    }
}

static void
chat_conf_unlink(struct chat *chat, struct chat_conf *conf)
{
    struct chat_conf **pp = &chat->confs;

    while (*pp && *pp != conf)
        pp = &(*pp)->next;
    if (*pp)
        *pp = conf->next;
}

/* Called by chat_part_remove once a retired conference is empty. */
void
chat_conf_reap(struct chat_conf *conf)
{
    /* chat_destroy frees every conference itself. */
    if (!conf->gone || conf->parts || conf->leaving || conf->chat->closing)
        return;
    chat_conf_unlink(conf->chat, conf);
    chat_conf_free(conf);
}

/* ---- lifecycle ---- */

static bool
chat_is_conference(const struct ini_section *sec)
{
    const char *type = ini_get(sec, "type");

    return type && strcmp(type, "conference") == 0;
}

/* Adds or updates one conference from its section. */
static int
chat_apply_section(struct chat *chat, const struct ini_section *sec)
{
    struct chat_conf *conf = chat_conf_find(chat, sec->name);

    if (conf && strcmp(conf->user, ini_get(sec, "user")) != 0) {
        chat_conf_retire(conf);
        conf = NULL;
    }
    if (conf)
        return chat_conf_settings(conf, sec);
    conf = chat_conf_new(chat, sec);
    if (conf == NULL)
        return -ENOMEM;
    conf->next = chat->confs;
    chat->confs = conf;
    if (conf->store)
        chat_store_open(conf);
    return chat_conf_route(conf);
}

static bool
chat_in_config(const struct cfg *cfg, const struct chat_conf *conf)
{
    for (size_t i = 0; i < cfg->doc->nsections; i++) {
        const struct ini_section *sec = &cfg->doc->sections[i];

        if (chat_is_conference(sec) && strcmp(sec->name, conf->name) == 0 &&
            strcmp(ini_get(sec, "user"), conf->user) == 0)
            return true;
    }
    return false;
}

int
chat_reconfigure(struct chat *chat, const struct cfg *cfg)
{
    struct peer_table *pt;
    int rc = peer_table_create(&pt, cfg);

    if (rc != 0) {
        log_err(CHAT_LOG, "reload: endpoints: %s; the old config stays",
                strerror(-rc));
        return rc;
    }
    peer_table_destroy(chat->peers);
    chat->peers = pt;
    snprintf(chat->local_ip, sizeof(chat->local_ip), "%s",
             cfg->ntransports ? cfg->transports[0].host : "127.0.0.1");
    /* Retire first, so that a user part moved between conferences is
     * free again when the new owner claims it. */
    for (struct chat_conf *c = chat->confs, *next; c; c = next) {
        next = c->next;
        if (!c->gone && !chat_in_config(cfg, c))
            chat_conf_retire(c);
    }
    for (size_t i = 0; i < cfg->doc->nsections; i++) {
        const struct ini_section *sec = &cfg->doc->sections[i];

        if (chat_is_conference(sec) && chat_apply_section(chat, sec) != 0)
            rc = -ENOMEM;
    }
    for (struct chat_conf *c = chat->confs, *next; c; c = next) {
        next = c->next;
        chat_conf_reap(c);
    }
    return rc;
}

static int chat_register_requests(struct chat *chat);

/* For [limits] max_dialogs: every participant's call, leaving ones too. */
static size_t
chat_count_dialogs(void *arg)
{
    const struct chat *chat = arg;
    size_t n = 0;

    for (const struct chat_conf *c = chat->confs; c; c = c->next) {
        n += c->nparts;
        for (const struct chat_part *p = c->leaving; p; p = p->next)
            n++;
    }
    return n;
}

int
chat_create(struct chat **out, const struct chat_deps *deps,
            const struct cfg *cfg)
{
    struct chat *chat = calloc(1, sizeof(*chat));
    int rc;

    if (chat == NULL)
        return -ENOMEM;
    chat->deps = *deps;
    rc = digest_create(&chat->digest);
    if (rc == 0)
        rc = chat_register_requests(chat);
    if (rc == 0 && deps->sip)
        rc = sip_add_dialog_counter(deps->sip, chat_count_dialogs, chat);
    if (rc == 0)
        rc = chat_reconfigure(chat, cfg);
    if (rc != 0) {
        chat_destroy(chat);
        return rc;
    }
    *out = chat;
    return 0;
}

void
chat_shutdown(struct chat *chat)
{
    /* From here on nothing is reaped or announced: chat_destroy frees all. */
    chat->closing = true;
    for (struct chat_conf *c = chat->confs; c; c = c->next) {
        struct chat_part *lists[2] = { c->parts, c->leaving };

        for (int i = 0; i < 2; i++) {
            for (struct chat_part *p = lists[i], *next; p; p = next) {
                next = p->next;
                chat_out_clear(p);
                if (p->inflight)
                    chat_part_remove(p);
            }
        }
    }
}

void
chat_destroy(struct chat *chat)
{
    if (chat == NULL)
        return;
    if (chat->deps.sip)
        sip_remove_dialog_counter(chat->deps.sip, chat);
    chat->closing = true;
    while (chat->confs) {
        struct chat_conf *conf = chat->confs;

        chat->confs = conf->next;
        while (conf->parts)
            chat_part_remove(conf->parts);
        while (conf->leaving)
            chat_part_remove(conf->leaving);
        chat_conf_unroute(conf);
        chat_conf_free(conf);
    }
    peer_table_destroy(chat->peers);
    digest_destroy(chat->digest);
    free(chat);
}

/* ---- status, events, control requests ---- */

json_t *
chat_part_json(const struct chat_part *p)
{
    return json_pack("{s:I, s:s, s:s, s:f, s:s, s:I, s:I, s:I, s:i}",
                     "id", (json_int_t)p->id,
                     "display_name", p->display ? p->display : "",
                     "uri", p->uri ? p->uri : "",
                     "joined_at", p->joined,
                     "state", p->state == CHAT_PART_ACTIVE ? "active"
                     : p->state == CHAT_PART_JOINING ? "joining" : "leaving",
                     "messages_sent", (json_int_t)p->sent,
                     "messages_received", (json_int_t)p->received,
                     "failures", (json_int_t)p->failures,
                     "consecutive_failures", (int)p->consecutive);
}

static json_t *
chat_conf_json(const struct chat_conf *conf, bool with_parts)
{
    json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I,"
                          " s:i}",
                          "name", conf->name, "user", conf->user,
                          "participants", (int)conf->nparts,
                          "max_participants", (int)conf->max_participants,
                          "messages", (json_int_t)conf->messages,
                          "deliveries", (json_int_t)conf->deliveries,
                          "failures", (json_int_t)conf->failures,
                          "removed", (json_int_t)conf->removed,
                          "store_dropped", (json_int_t)conf->store_dropped,
                          "history", (int)conf->ring_count);

    if (with_parts) {
        json_t *a = json_array();

        for (const struct chat_part *p = conf->parts; p; p = p->next)
            json_array_append_new(a, chat_part_json(p));
        json_object_set_new(o, "participant_list", a);
    }
    return o;
}

/* One family, one sample per live conference: the value read by @p get
 * (as db_metrics() does per database). */
static unsigned
chat_put_per_conf(const struct chat *chat, struct metrics_out *o,
                  const char *name, enum metrics_kind kind, const char *help,
                  double (*get)(const struct chat_conf *))
{
    unsigned n = 0;

    metrics_family(o, name, kind, help);
    for (const struct chat_conf *c = chat->confs; c; c = c->next) {
        if (c->gone)
            continue;
        n++;
        metrics_sample(o, get(c), "conference", c->name, NULL);
    }
    return n;
}

static double chat_get_parts(const struct chat_conf *c) { return c->nparts; }
static double chat_get_messages(const struct chat_conf *c) { return (double)c->messages; }
static double chat_get_relays(const struct chat_conf *c) { return (double)c->deliveries; }
static double chat_get_failures(const struct chat_conf *c) { return (double)c->failures; }

void
chat_metrics(void *arg, struct metrics_out *o)
{
    const struct chat *chat = arg;
    unsigned nconf;

    nconf = chat_put_per_conf(chat, o, "sipbridge_conference_participants",
                              METRICS_GAUGE, "Participants in each "
                              "conference now.", chat_get_parts);
    metrics_family(o, "sipbridge_conferences", METRICS_GAUGE,
                   "Conferences configured.");
    metrics_sample(o, nconf, NULL);
    chat_put_per_conf(chat, o, "sipbridge_conference_messages_total",
                      METRICS_COUNTER, "Chat messages received for relay, "
                      "from participants or conference_send.",
                      chat_get_messages);
    chat_put_per_conf(chat, o, "sipbridge_conference_relays_total",
                      METRICS_COUNTER, "Copies of chat messages relayed, one "
                      "per other participant.", chat_get_relays);
    chat_put_per_conf(chat, o, "sipbridge_conference_relay_failures_total",
                      METRICS_COUNTER, "Relayed copies that failed or were "
                      "dropped behind a slow participant.", chat_get_failures);
    metrics_family(o, "sipbridge_conference_joins_total", METRICS_COUNTER,
                   "INVITEs into a conference, by outcome.");
    metrics_sample(o, (double)chat->joins, "outcome", "joined", NULL);
    metrics_sample(o, (double)chat->rejected, "outcome", "rejected", NULL);
}

json_t *
chat_status_json(const struct chat *chat)
{
    unsigned nconf = 0, nparts = 0;
    uint64_t msgs = 0, deliveries = 0, failures = 0, removed = 0;

    for (const struct chat_conf *c = chat->confs; c; c = c->next) {
        nconf += !c->gone;
        nparts += c->nparts;
        msgs += c->messages;
        deliveries += c->deliveries;
        failures += c->failures;
        removed += c->removed;
    }
    return json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I}",
                     "conferences", (int)nconf, "participants", (int)nparts,
                     "joins", (json_int_t)chat->joins,
                     "rejected", (json_int_t)chat->rejected,
                     "messages", (json_int_t)msgs,
                     "deliveries", (json_int_t)deliveries,
                     "failures", (json_int_t)failures,
                     "removed", (json_int_t)removed);
}

void
chat_publish(struct chat_conf *conf, const char *event, json_t *fields)
{
    json_t *r = fields ? fields : json_object();

    json_object_set_new(r, "event", json_string(event));
    json_object_set_new(r, "conference", json_string(conf->name));
    ctl_publish(conf->chat->deps.ctl, "conference", r);
    json_decref(r);
}

/* The conference named by the request's "name", or NULL (answered). */
static struct chat_conf *
chat_req_conf(struct chat *chat, struct ctl_request *req)
{
    json_t *name = json_object_get(req->msg, "name");
    struct chat_conf *conf;

    if (name == NULL) {
        ctl_reply_error(req, CTL_ERR_MISSING_ELEMENT, "missing element: name");
        return NULL;
    }
    if (!json_is_string(name)) {
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT,
                        "invalid element: name must be a string");
        return NULL;
    }
    conf = chat_conf_find(chat, json_string_value(name));
    if (conf == NULL)
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT,
                        "no conference named '%.64s'",
                        json_string_value(name));
    return conf;
}

static void
chat_req_list(void *arg, struct ctl_request *req)
{
    struct chat *chat = arg;
    json_t *a = json_array();

    for (const struct chat_conf *c = chat->confs; c; c = c->next)
        if (!c->gone)
            json_array_append_new(a, chat_conf_json(c, false));
    ctl_reply_success(req, json_pack("{s:o}", "conferences", a));
}

static void
chat_req_info(void *arg, struct ctl_request *req)
{
    struct chat_conf *conf = chat_req_conf(arg, req);

    if (conf)
        ctl_reply_success(req, chat_conf_json(conf, true));
}

/* Optional string field: @return 0 (set or absent), -1 (answered). */
static int
chat_req_string(struct ctl_request *req, const char *key, const char **out)
{
    json_t *v = json_object_get(req->msg, key);

    if (v == NULL)
        return 0;
    if (!json_is_string(v)) {
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT,
                        "invalid element: %s must be a string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static void
chat_req_send(void *arg, struct ctl_request *req)
{
    struct chat_conf *conf = chat_req_conf(arg, req);
    const char *body = NULL, *from = "", *ctype = "text/plain;charset=UTF-8";
    int n;

    if (conf == NULL || chat_req_string(req, "body", &body) ||
        chat_req_string(req, "from", &from) ||
        chat_req_string(req, "content_type", &ctype))
        return;
    if (body == NULL || body[0] == '\0') {
        ctl_reply_error(req, CTL_ERR_MISSING_ELEMENT, "missing element: body");
        return;
    }
    if (strlen(body) > conf->max_body) {
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT, "body longer than "
                        "max_body (%zu bytes)", conf->max_body);
        return;
    }
    n = chat_relay_send(conf, from, ctype, body, strlen(body), NULL);
    if (n < 0)
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT, "invalid content_type "
                        "'%.64s'", ctype);
    else
        ctl_reply_success(req, json_pack("{s:i}", "delivered_to", n));
}

static void
chat_req_kick(void *arg, struct ctl_request *req)
{
    struct chat_conf *conf = chat_req_conf(arg, req);
    json_t *id;

    if (conf == NULL)
        return;
    id = json_object_get(req->msg, "id");
    if (id == NULL || !json_is_integer(id)) {
        ctl_reply_error(req, id ? CTL_ERR_INVALID_ELEMENT
                                : CTL_ERR_MISSING_ELEMENT,
                        "%s element: id (a participant id from "
                        "conference_info)", id ? "invalid" : "missing");
        return;
    }
    for (struct chat_part *p = conf->parts; p; p = p->next) {
        if (p->id == (uint64_t)json_integer_value(id) &&
            p->state != CHAT_PART_LEAVING) {
            chat_part_kick(p, "kicked by control client");
            ctl_reply_success(req, json_pack("{s:I}", "kicked",
                                             json_integer_value(id)));
            return;
        }
    }
    ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT, "no participant %lld in %s",
                    (long long)json_integer_value(id), conf->name);
}

static int
chat_register_requests(struct chat *chat)
{
    struct ctl *ctl = chat->deps.ctl;
    int rc = 0;

    rc |= ctl_register(ctl, "conference_list", chat_req_list, chat);
    rc |= ctl_register(ctl, "conference_info", chat_req_info, chat);
    rc |= ctl_register(ctl, "conference_send", chat_req_send, chat);
    rc |= ctl_register(ctl, "conference_kick", chat_req_kick, chat);
    return rc ? -ENOMEM : 0;
}

/*
 * api.c - handles and their clients, events, config, and the handle
 * requests (create, destroy, list_handles, claim).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>

#include "api_int.h"
#include "sipbridge/log.h"
#include "sipbridge/loop.h"
#include "sipbridge/metrics.h"
#include "sipbridge/peer.h"

/* Events kept for a handle whose client is away, until it claims it. */
#define API_BACKLOG_MAX 256

static const struct sip_route_ops api_route_ops = {
    "sip-api", api_route_request
};

/* ---- config ---- */

static const struct cfg_key api_keys[] = {
    { "handle_grace", CFG_UINT, 0, 0, 86400, NULL },
    { "no_answer_timeout", CFG_UINT, 0, 1, 3600, NULL },
    { "session_timer", CFG_UINT, 0, 0, 86400, NULL },
    { "max_handles", CFG_UINT, 0, 1, 10000000, NULL },
    { "retry_min", CFG_UINT, 0, 100, 3600000, NULL },
    { "retry_max", CFG_UINT, 0, 100, 3600000, NULL },
    { "trunk", CFG_STRING, CFG_REPEATABLE, 0, 0, NULL },
    { NULL, 0, 0, 0, 0, NULL }
};

const struct cfg_type api_cfg_type = {
    "api", api_keys, NULL, true, NULL, false
};


int
api_check_config(const struct cfg *cfg, struct cfg_errors *errs)
{
    const struct ini_section *sec = cfg_section_find(cfg, "api", NULL);
    int rc = 0;

    for (size_t i = 0; sec && i < sec->nentries; i++) {
        const struct ini_entry *e = &sec->entries[i];

        if (strcmp(e->key, "trunk") != 0 ||
            cfg_section_find(cfg, "endpoint", e->value) != NULL)
            continue;
        cfg_errors_add(errs, e->file, e->line, "[%s] trunk=%s: no "
                       "type=endpoint section [%s]", sec->name, e->value,
                       e->value);
        rc = -EINVAL;
    }
    return rc;
}

static void
api_cfg_free(struct api_cfg *c)
{
    for (size_t i = 0; i < c->ntrunks; i++)
        free(c->trunks[i]);
    free(c->trunks);
    memset(c, 0, sizeof(*c));
}

static int
api_cfg_read(const struct cfg *cfg, struct api_cfg *c)
{
    const struct ini_section *sec = cfg_section_find(cfg, "api", NULL);

    memset(c, 0, sizeof(*c));
    c->grace_s = sec ? cfg_get_uint(sec, "handle_grace", 30) : 30;
    c->no_answer_s = sec ? cfg_get_uint(sec, "no_answer_timeout", 60) : 60;
    c->session_s = sec ? cfg_get_uint(sec, "session_timer", 1800) : 1800;
    c->max_handles = sec ? cfg_get_uint(sec, "max_handles", 10000) : 10000;
    c->retry_min_ms = sec ? cfg_get_uint(sec, "retry_min", 2000) : 2000;
    c->retry_max_ms = sec ? cfg_get_uint(sec, "retry_max", 60000) : 60000;
    if (c->retry_max_ms < c->retry_min_ms)
        c->retry_max_ms = c->retry_min_ms;
    for (size_t i = 0; sec && i < sec->nentries; i++) {
        char **v;

        if (strcmp(sec->entries[i].key, "trunk") != 0)
            continue;
        v = realloc(c->trunks, (c->ntrunks + 1) * sizeof(*v));
        if (v == NULL || !(v[c->ntrunks] = strdup(sec->entries[i].value))) {
            c->trunks = v ? v : c->trunks;
            api_cfg_free(c);
            return -ENOMEM;
        }
        c->trunks = v;
        c->ntrunks++;
    }
    return 0;
}

/* ---- handles ---- */

struct api_handle *
api_handle_find(struct api *api, uint64_t id)
{
    char key[24];

    snprintf(key, sizeof(key), "%" PRIu64, id);
    return strmap_get(api->by_id, key);
}

static struct api_handle *
api_handle_new(struct api *api, uint64_t client)
{
    struct api_handle *h = calloc(1, sizeof(*h));
    uint8_t r[24];
    char key[24];

    if (h == NULL)
        return NULL;
    if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
        free(h);
        return NULL;
    }
    h->api = api;
    h->id = ++api->next_id;
    h->client = client;
    for (int i = 0; i < 16; i++)
        snprintf(h->token + 2 * i, 3, "%02x", r[i]);
    for (int i = 0; i < 8; i++)
        snprintf(h->route + 2 * i, 3, "%02x", r[16 + i]);
    snprintf(key, sizeof(key), "%" PRIu64, h->id);
    if (strmap_put(api->by_id, key, h) < 0 ||
        strmap_put(api->by_route, h->route, h) < 0) {
        strmap_del(api->by_id, key);
        free(h);
        return NULL;
    }
    h->next = api->handles;
    api->handles = h;
    api->nhandles++;
    return h;
}

void
api_account_clear(struct api_account *a)
{
    free(a->uri);
    free(a->user);
    free(a->domain);
    free(a->secret);
    free(a->ha1);
    free(a->authuser);
    free(a->display_name);
    free(a->user_agent);
    free(a->proxy);
    free(a->outbound_proxy);
    free(a->headers);
    free(a->contact_params);
    memset(a, 0, sizeof(*a));
}

/* Helpers go with their master (Janus force-detaches them). */
void
api_detach_helpers(struct api_handle *master)
{
    /* Counted, so that tearing 10,000 accounts down is not quadratic. */
    for (struct api_handle *h = master->api->handles;
         h && master->nhelpers > 0; h = h->next) {
        if (h->master != master)
            continue;
        h->master = NULL;
        master->nhelpers--;
        h->reg = API_REG_UNREGISTERED;
        api_emit(h, "unregistered", json_pack("{s:s}", "username",
                                              master->acct.user
                                                  ? master->acct.user : ""),
                 NULL);
    }
}

void
api_handle_destroy(struct api_handle *h)
{
    struct api *api = h->api;
    char key[24];

    api_detach_helpers(h);
    if (h->master)
        h->master->nhelpers--;
    api_call_destroy(h);
    api_register_stop(h);
    api_subs_free(h);
    api_msgs_free(h);
    for (struct api_handle **pp = &api->handles; *pp; pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    }
    snprintf(key, sizeof(key), "%" PRIu64, h->id);
    strmap_del(api->by_id, key);
    strmap_del(api->by_route, h->route);
    api->nhandles--;
    if (h->grace)
        event_free(h->grace);
    if (h->retry)
        event_free(h->retry);
    json_decref(h->backlog);
    json_decref(h->prefixes);
    api_account_clear(&h->acct);
    free(h);
}

/* The identity a handle speaks with: a helper's is its master's. */
const struct api_account *
api_identity(const struct api_handle *h)
{
    if (h->master)
        return &h->master->acct;
    return h->has_acct ? &h->acct : NULL;
}

/* ---- nua handles ---- */

nua_handle_t *
api_nh_new(struct api_nh *n, struct api_handle *h,
           void (*cb)(struct sip_owner *, const struct sip_event *),
           const char *to)
{
    const struct api_account *a = api_identity(h);
    char from[700];

    n->owner.event = cb;
    n->h = h;
    if (a && a->display_name)
        snprintf(from, sizeof(from), "\"%s\" <%s>", a->display_name, a->uri);
    else
        snprintf(from, sizeof(from), "<%s>", a ? a->uri : "sip:anonymous@"
                                                          "anonymous.invalid");
    n->nh = nua_handle(sip_nua(h->api->deps.sip), (nua_hmagic_t *)&n->owner,
                       SIPTAG_FROM_STR(from), TAG_IF(to, SIPTAG_TO_STR(to)),
                       TAG_END());
    return n->nh;
}

void
api_nh_drop(struct api_nh *n)
{
    if (n->nh) {
        nua_handle_bind(n->nh, NULL);
        nua_handle_destroy(n->nh);
        n->nh = NULL;
    }
}

/* NUTAG_AUTH's "scheme:"realm":user:password" for a challenge in @sip. */
int
api_credentials(const struct api_account *a, const sip_t *sip, char *buf,
                size_t len)
{
    if (a->secret == NULL)
        return -EINVAL;
    return sip_auth_credentials(sip, a->authuser ? a->authuser : a->user,
                                a->secret, buf, len);
}

/* ---- events ---- */

void
api_emit_json(struct api_handle *h, json_t *payload)
{
    struct api *api = h->api;
    struct ctl_client *c = h->client ? ctl_client_find(api->deps.ctl,
                                                       h->client) : NULL;

    json_object_set_new(payload, "sipbridge", json_string("event"));
    json_object_set_new(payload, "handle_id", json_integer((json_int_t)h->id));
    api->events++;
    if (c)
        ctl_client_send(c, payload);
    else if (json_array_size(h->backlog) < API_BACKLOG_MAX)
        json_array_append(h->backlog, payload);
    ctl_publish(api->deps.ctl, "sip", payload);
    json_decref(payload);
}

/* {"sip":"event","result":{"event":E,...},"call_id":C}: Janus's payload. */
void
api_emit(struct api_handle *h, const char *event, json_t *fields,
         const char *call_id)
{
    json_t *result = fields ? fields : json_object();
    json_t *p;

    json_object_set_new(result, "event", json_string(event));
    p = json_pack("{s:s,s:o}", "sip", "event", "result", result);
    if (call_id)
        json_object_set_new(p, "call_id", json_string(call_id));
    api_emit_json(h, p);
}

/* Unknown headers whose name starts with a listed prefix (Janus: only
 * those sofia does not know, e.g. X-...), as received. */
json_t *
api_collect_headers(const struct api_handle *h, const sip_t *sip)
{
    json_t *prefixes = h->prefixes ? h->prefixes
                       : h->master ? h->master->prefixes : NULL;
    json_t *out, *p;
    size_t i;

    if (prefixes == NULL || sip == NULL)
        return NULL;
    out = json_object();
    for (const sip_unknown_t *u = sip->sip_unknown; u; u = u->un_next) {
        json_array_foreach(prefixes, i, p) {
            const char *s = json_string_value(p);

            if (s && strncasecmp(u->un_name, s, strlen(s)) == 0) {
                json_object_set_new(out, u->un_name,
                                    json_string(u->un_value ? u->un_value
                                                            : ""));
                break;
            }
        }
    }
    return out;
}

/* A From display name without its quotes and escapes (as Janus shows
 * it); NULL when there is none. */
const char *
api_display(const char *d, char *buf, size_t len)
{
    size_t n = 0;

    if (d == NULL || d[0] == '\0' || len == 0)
        return NULL;
    if (d[0] != '"') {
        snprintf(buf, len, "%s", d);
        return buf;
    }
    for (d++; *d && *d != '"' && n + 1 < len; d++) {
        if (*d == '\\' && d[1])
            d++;
        buf[n++] = *d;
    }
    buf[n] = '\0';
    return buf;
}

/* The first answer to a request: Janus's event payload as data. */
void
api_reply(struct ctl_request *req, struct api_handle *h, const char *event,
          json_t *fields)
{
    json_t *result = fields ? fields : json_object();

    json_object_set_new(result, "event", json_string(event));
    ctl_reply_success(req, json_pack("{s:I,s:s,s:o}", "handle_id",
                                     (json_int_t)h->id, "sip", "event",
                                     "result", result));
}

/* ---- clients come and go ---- */

static void
api_on_grace(evutil_socket_t fd, short what, void *arg)
{
    struct api_handle *h = arg;

    (void)fd;
    (void)what;
    log_notice("api", "handle %" PRIu64 " not claimed within %u s: "
               "destroyed", h->id, h->api->cfg.grace_s);
    api_handle_destroy(h);
}

static void
api_on_close(void *arg, struct ctl_client *client)
{
    struct api *api = arg;
    uint64_t id = ctl_client_id(client);
    struct timeval tv = { api->cfg.grace_s, 0 };

    for (struct api_handle *h = api->handles; h; h = h->next) {
        if (h->client != id)
            continue;
        h->client = 0;
        if (h->grace == NULL)
            h->grace = evtimer_new(api->base, api_on_grace, h);
        if (h->grace)
            evtimer_add(h->grace, &tv);
    }
}

/* ---- validation ---- */

int
api_get_string(struct ctl_request *req, const char *key, bool required,
               const char **out)
{
    json_t *v = json_object_get(req->msg, key);

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (!required)
            return 0;
        ctl_reply_error(req, API_ERR_MISSING_ELEMENT,
                        "Missing mandatory element (%s)", key);
        return -1;
    }
    if (!json_is_string(v)) {
        ctl_reply_error(req, API_ERR_INVALID_ELEMENT,
                        "Invalid element type (%s should be a string)", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int
api_get_bool(struct ctl_request *req, const char *key, bool *out)
{
    json_t *v = json_object_get(req->msg, key);

    if (v == NULL)
        return 0;
    if (!json_is_boolean(v)) {
        ctl_reply_error(req, API_ERR_INVALID_ELEMENT,
                        "Invalid element type (%s should be a boolean)", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

int
api_get_uint(struct ctl_request *req, const char *key, unsigned *out)
{
    json_t *v = json_object_get(req->msg, key);

    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > 0x7fffffff) {
        ctl_reply_error(req, API_ERR_INVALID_ELEMENT, "Invalid element type "
                        "(%s should be a positive integer)", key);
        return -1;
    }
    *out = (unsigned)json_integer_value(v);
    return 0;
}

/* A SIP URI sofia parses, with a host. */
int
api_get_uri(struct ctl_request *req, const char *key, bool required,
            const char **out)
{
    su_home_t home[1] = { SU_HOME_INIT(home) };
    url_t *u;
    bool ok;

    if (api_get_string(req, key, required, out) < 0 || *out == NULL)
        return *out == NULL && !required ? 0 : -1;
    u = url_make(home, *out);
    ok = u && (u->url_type == url_sip || u->url_type == url_sips) &&
         u->url_host && u->url_host[0];
    su_home_deinit(home);
    if (ok)
        return 0;
    ctl_reply_error(req, API_ERR_INVALID_ADDRESS, "Invalid %s (%.200s): not "
                    "a sip: or sips: URI with a host", key, *out);
    return -1;
}

/* "headers": {name: string}; CR/LF in a name or value is refused (Janus
 * drops such entries silently). */
int
api_get_headers(struct ctl_request *req, char **out)
{
    json_t *v = json_object_get(req->msg, "headers"), *val;
    const char *name;
    size_t len = 1;
    char *s;

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        goto bad;
    json_object_foreach(v, name, val) {
        if (!json_is_string(val) || name[0] == '\0' ||
            name[strcspn(name, "\r\n: \t")] != '\0' ||
            strpbrk(json_string_value(val), "\r\n"))
            goto bad;
        len += strlen(name) + json_string_length(val) + 4;
    }
    if ((s = calloc(1, len)) == NULL)
        return -1;
    json_object_foreach(v, name, val)
        snprintf(s + strlen(s), len - strlen(s), "%s: %s\r\n", name,
                 json_string_value(val));
    *out = s;
    return 0;
bad:
    ctl_reply_error(req, API_ERR_INVALID_ELEMENT, "Invalid element type "
                    "(headers should be an object of header names to "
                    "one-line strings)");
    return -1;
}

/* The handle named by "handle_id", owned by this client; NULL: answered. */
struct api_handle *
api_request_handle(struct api *api, struct ctl_request *req)
{
    json_t *v = json_object_get(req->msg, "handle_id");
    struct api_handle *h;

    if (v == NULL) {
        ctl_reply_error(req, API_ERR_MISSING_ELEMENT,
                        "Missing mandatory element (handle_id)");
        return NULL;
    }
    if (!json_is_integer(v)) {
        ctl_reply_error(req, API_ERR_INVALID_ELEMENT, "Invalid element type "
                        "(handle_id should be an integer)");
        return NULL;
    }
    h = api_handle_find(api, (uint64_t)json_integer_value(v));
    if (h == NULL || h->client != ctl_client_id(req->client)) {
        ctl_reply_error(req, API_ERR_NO_SUCH_HANDLE, "No such handle %lld",
                        (long long)json_integer_value(v));
        return NULL;
    }
    return h;
}

/* ---- handle requests ---- */

static void
api_req_create(void *arg, struct ctl_request *req)
{
    struct api *api = arg;
    struct api_handle *h;

    if (api->nhandles >= api->cfg.max_handles) {
        ctl_reply_error(req, CTL_ERR_WRONG_STATE, "too many handles "
                        "(max_handles %u): destroy one first",
                        api->cfg.max_handles);
        return;
    }
    h = api_handle_new(api, ctl_client_id(req->client));
    if (h == NULL || (h->backlog = json_array()) == NULL) {
        if (h)
            api_handle_destroy(h);
        ctl_reply_error(req, CTL_ERR_INTERNAL, "out of memory");
        return;
    }
    ctl_reply_success(req, json_pack("{s:I,s:s}", "handle_id",
                                     (json_int_t)h->id, "token", h->token));
}

static void
api_req_destroy(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    uint64_t id;

    if (h == NULL)
        return;
    id = h->id;
    api_handle_destroy(h);
    ctl_reply_success(req, json_pack("{s:I}", "handle_id", (json_int_t)id));
}

static const char *const api_reg_names[] = {
    "unregistered", "registering", "registered", "unregistering", "disabled",
};

static json_t *
api_handle_json(const struct api_handle *h)
{
    const struct api_account *a = api_identity(h);

    json_t *j = json_pack("{s:I,s:s*,s:s,s:b}",
                          "handle_id", (json_int_t)h->id,
                          "username", a ? a->uri : NULL,
                          "registration", api_reg_names[h->reg],
                          "client_connected", h->client != 0);

    if (h->master)
        json_object_set_new(j, "master_handle",
                            json_integer((json_int_t)h->master->id));
    if (a && a->master_id)
        json_object_set_new(j, "master_id", json_integer(a->master_id));
    return j;
}

static void
api_req_list(void *arg, struct ctl_request *req)
{
    struct api *api = arg;
    json_t *a = json_array();

    for (const struct api_handle *h = api->handles; h; h = h->next)
        json_array_append_new(a, api_handle_json(h));
    ctl_reply_success(req, json_pack("{s:o}", "handles", a));
}

/* A restarted client takes its handles back with their tokens. */
static void
api_req_claim(void *arg, struct ctl_request *req)
{
    struct api *api = arg;
    json_t *v = json_object_get(req->msg, "handle_id");
    const char *token;
    struct api_handle *h;
    json_t *backlog;
    size_t i;
    json_t *ev;

    if (api_get_string(req, "token", true, &token) < 0)
        return;
    h = json_is_integer(v) ? api_handle_find(api, (uint64_t)
                                             json_integer_value(v)) : NULL;
    if (h == NULL || strcmp(h->token, token) != 0) {
        ctl_reply_error(req, API_ERR_NO_SUCH_HANDLE, "No such handle, or a "
                        "wrong token");
        return;
    }
    h->client = ctl_client_id(req->client);
    if (h->grace)
        evtimer_del(h->grace);
    ctl_reply_success(req, api_handle_json(h));
    backlog = h->backlog;
    h->backlog = json_array();
    json_array_foreach(backlog, i, ev)
        ctl_client_send(req->client, ev);
    json_decref(backlog);
}

/* ---- lifecycle ---- */

static int
api_register_requests(struct api *api)
{
    static const struct {
        const char *name;
        ctl_request_cb cb;
    } reqs[] = {
        { "create", api_req_create }, { "destroy", api_req_destroy },
        { "list_handles", api_req_list }, { "claim", api_req_claim },
        { "register", api_req_register }, { "unregister", api_req_unregister },
        { "message", api_req_message }, { "info", api_req_info },
        { "subscribe", api_req_subscribe },
        { "call", api_req_call }, { "hangup", api_req_hangup },
        { "accept", api_req_accept }, { "decline", api_req_decline },
        { "progress", api_req_progress },
        { "send_ringing", api_req_send_ringing }, { "reset", api_req_reset },
        { "hold", api_req_hold }, { "unhold", api_req_hold },
        { "dtmf_info", api_req_dtmf_info }, { "update", api_req_update },
        { "transfer", api_req_transfer },
        { "recording", api_req_unsupported },
        { "keyframe", api_req_unsupported },
        { "rtp_forward", api_req_unsupported },
        { "stop_rtp_forward", api_req_unsupported },
        { "listforwarders", api_req_unsupported },
        { "unsubscribe", api_req_unsubscribe },
    };
    int rc = 0;

    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
        rc |= ctl_register(api->deps.ctl, reqs[i].name, reqs[i].cb, api);
    return rc ? -EEXIST : ctl_on_close(api->deps.ctl, api_on_close, api);
}

/* For [limits] max_dialogs: the calls of every handle. */
static size_t
api_count_calls(void *arg)
{
    const struct api *api = arg;
    size_t n = 0;

    for (const struct api_handle *h = api->handles; h; h = h->next)
        n += h->call != NULL;
    return n;
}

int
api_create(struct api **out, const struct api_deps *deps,
           const struct cfg *cfg)
{
    struct api *api = calloc(1, sizeof(*api));
    int rc;

    if (api == NULL)
        return -ENOMEM;
    api->deps = *deps;
    api->base = loop_base(sip_loop(deps->sip));
    if ((rc = api_cfg_read(cfg, &api->cfg)) < 0 ||
        (rc = strmap_create(&api->by_id)) < 0 ||
        (rc = strmap_create(&api->by_route)) < 0 ||
        (rc = strmap_create(&api->refers)) < 0 ||
        (rc = peer_table_create(&api->peers, cfg)) < 0 ||
        (rc = api_register_requests(api)) < 0) {
        log_err("api", "cannot start: %s", strerror(-rc));
        api_destroy(api);
        return rc;
    }
    sip_route_set_fallback(deps->sip, &api_route_ops, api);
    if ((rc = sip_add_dialog_counter(deps->sip, api_count_calls, api)) < 0) {
        api_destroy(api);
        return rc;
    }
    *out = api;
    return 0;
}

int
api_reconfigure(struct api *api, const struct cfg *cfg)
{
    struct api_cfg c;
    struct peer_table *pt;
    int rc = api_cfg_read(cfg, &c);

    if (rc == 0 && (rc = peer_table_create(&pt, cfg)) < 0)
        api_cfg_free(&c);
    if (rc < 0) {
        log_err("api", "reload: %s; the old settings stay", strerror(-rc));
        return rc;
    }
    api_cfg_free(&api->cfg);
    api->cfg = c;
    peer_table_destroy(api->peers);
    api->peers = pt;
    return 0;
}

/* Before nua shuts down: calls hang up, subscriptions end and MESSAGEs
 * are let go while the stack can still send and free their handles
 * (nua's shutdown itself un-REGISTERs). */
void
api_shutdown(struct api *api)
{
    if (api == NULL)
        return;
    for (struct api_handle *h = api->handles; h; h = h->next) {
        if (h->retry)
            evtimer_del(h->retry);
        api_call_destroy(h);
        api_subs_free(h);
        api_msgs_free(h);
    }
}

void
api_destroy(struct api *api)
{
    if (api == NULL)
        return;
    if (api->deps.sip) {
        sip_route_set_fallback(api->deps.sip, NULL, NULL);
        sip_remove_dialog_counter(api->deps.sip, api);
    }
    /* The control socket outlives us: its last closes must not find us. */
    if (api->deps.ctl)
        ctl_off_close(api->deps.ctl, api_on_close, api);
    while (api->handles)
        api_handle_destroy(api->handles);
    strmap_destroy(api->by_id, NULL);
    strmap_destroy(api->by_route, NULL);
    strmap_destroy(api->refers, NULL);
    peer_table_destroy(api->peers);
    api_cfg_free(&api->cfg);
    free(api);
}

void
api_metrics(void *arg, struct metrics_out *o)
{
    const struct api *api = arg;
    size_t registered = 0;

    for (const struct api_handle *h = api->handles; h; h = h->next)
        registered += h->reg == API_REG_REGISTERED;
    metrics_family(o, "sipbridge_api_handles", METRICS_GAUGE,
                   "SIP API handles open.");
    metrics_sample(o, (double)api->nhandles, NULL);
    metrics_family(o, "sipbridge_api_registrations", METRICS_GAUGE,
                   "SIP API handles registered with their registrar.");
    metrics_sample(o, (double)registered, NULL);
    metrics_family(o, "sipbridge_api_calls", METRICS_GAUGE,
                   "SIP API calls being set up or established.");
    metrics_sample(o, (double)api_count_calls((void *)api), NULL);
    metrics_family(o, "sipbridge_api_events_total", METRICS_COUNTER,
                   "SIP API events sent to control clients.");
    metrics_sample(o, (double)api->events, NULL);
    metrics_family(o, "sipbridge_api_incoming_requests_total", METRICS_COUNTER,
                   "Out-of-dialog requests for SIP API accounts, by "
                   "outcome (not_found: no handle registered the user).");
    metrics_sample(o, (double)api->requests_routed, "outcome", "routed",
                   NULL);
    metrics_sample(o, (double)api->not_found, "outcome", "not_found", NULL);
}

json_t *
api_status_json(const struct api *api)
{
    size_t registered = 0;

    for (const struct api_handle *h = api->handles; h; h = h->next)
        registered += h->reg == API_REG_REGISTERED;
    return json_pack("{s:I,s:I,s:I,s:I,s:I}", "handles",
                     (json_int_t)api->nhandles, "registered",
                     (json_int_t)registered, "events",
                     (json_int_t)api->events, "requests_routed",
                     (json_int_t)api->requests_routed, "not_found",
                     (json_int_t)api->not_found);
}

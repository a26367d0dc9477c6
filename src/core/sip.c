/*
 * sip.c - one nua stack on the loop's root, and routing by user part.
 *
 * nua binds at most one SIP URL and one SIPS URL (nua_stack_init_transport),
 * and does not expose its nta agent, so the transports a config may name
 * are: UDP and/or TCP on one ADDR:PORT (one URL with "transport=udp,tcp")
 * plus at most one TLS listener.  sip_check_transports() says so at
 * --check-config time rather than at bind time.
 */
#include "sipbridge/sip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_tag_io.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url.h>

#include "sipbridge/limit.h"
#include "sipbridge/log.h"
#include "sipbridge/metrics.h"
#include "sipbridge/peer.h"
#include "sipbridge/sipfix.h"
#include "sipbridge/siptap.h"
#include "sipbridge/siptls.h"

/*
 * Methods the daemon answers itself rather than nua's defaults: without
 * this nua would say 200 to MESSAGE before anyone looked at it.  nua's
 * default list already holds INVITE, REGISTER, PUBLISH and SUBSCRIBE, and
 * naming one of those again crashes sofia-sip 1.12.11 (msg_params_join
 * reads past the list while pruning duplicates), so they are not repeated.
 */
#define SIP_APPL_METHODS "MESSAGE, INFO, NOTIFY, REFER, UPDATE"
#define SIP_ALLOW \
    "INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, MESSAGE, SUBSCRIBE, NOTIFY, " \
    "REFER, UPDATE, INFO, PUBLISH"

#define SIP_ROUTE_BUCKETS 256

/* A forced shutdown's bound: it must fit in the 5 s a stop may take. */
#define SIP_FINISH_MS 1000
#define SIP_FINISH_STEP_MS 100

struct sip_route {
    struct sip_route *next;
    char *user;
    const struct sip_route_ops *ops;
    void *owner;
};

struct sip_listener {
    char name[64];
    char proto[8];
    char host[64];
    unsigned port;
};

/* Messages on the wire by method (sofia's sip_method_t; 0 is any other
 * method) and status, [0] received and [1] sent: labels stay bounded
 * whatever methods a peer invents. */
#define SIP_WIRE_METHODS (sip_method_publish + 1)
#define SIP_WIRE_CODES 600      /* 100..699 */

struct sip_wire {
    uint64_t requests[2][SIP_WIRE_METHODS];
    uint64_t responses[2][SIP_WIRE_METHODS][SIP_WIRE_CODES];
};

struct sip {
    struct loop *loop;
    nua_t *nua;
    su_home_t home[1];
    struct sip_route *routes[SIP_ROUTE_BUCKETS];
    struct sip_listener *listeners;
    size_t nlisteners;
    struct sip_counters counters;
    struct sip_wire *wire;
    int trace;
    sip_shutdown_cb shutdown_done;
    void *shutdown_arg;
    int shutdown_started;       /* nua_shutdown() called */
    int shutdown_final;         /* nua_r_shutdown 2xx+: nua_destroy() safe */
    int dying;                  /* forced shutdown: events go nowhere */
    char allow_events[256];     /* event packages PUBLISH may carry */
    const struct sip_route_ops *fallback;   /* requests no user part owns */
    void *fallback_owner;
    struct limit_cfg limits;    /* [limits] */
    struct limit *limit;        /* per-source buckets; NULL: off */
    struct {
        sip_dialog_count_cb cb;
        void *arg;
    } dialog_counters[SIP_MAX_DIALOG_COUNTERS];
    size_t ndialog_counters;
    uint64_t full_logged_ms;    /* max_dialogs: log once a minute */
};

static const char *const proto_names[] = { "udp", "tcp", "tls" };

/* ---- transports ---- */

static int
sip_same_addr(const struct cfg_transport *a, const struct cfg_transport *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

int
sip_check_transports(const struct cfg *cfg, struct cfg_errors *errs)
{
    const struct cfg_transport *plain = NULL, *tls = NULL;
    int rc = 0;

    for (size_t i = 0; i < cfg->ntransports; i++) {
        const struct cfg_transport *t = &cfg->transports[i];
        const struct cfg_transport **slot =
            t->protocol == CFG_PROTO_TLS ? &tls : &plain;

        if (*slot == NULL) {
            *slot = t;
        } else if (t->protocol == CFG_PROTO_TLS || !sip_same_addr(*slot, t)) {
            cfg_errors_add(errs, t->file, t->line,
                           "[%s] type=transport: sofia-sip binds UDP and TCP "
                           "on one address only, plus one TLS listener; "
                           "[%s] at %s:%u already uses %s", t->name,
                           (*slot)->name, (*slot)->file, (*slot)->line,
                           proto_names[(*slot)->protocol]);
            rc = -EINVAL;
        }
    }
    return rc;
}

/*
 * Formats the bind URL of the plain (tls = 0) or TLS transports.  UDP and
 * TCP together get no transport parameter at all: nta's parsing of a list
 * ("transport=udp,tcp") in sofia-sip 1.12.11 keeps a pointer to an array
 * that has gone out of scope and crashes at random, while a URL without
 * the parameter binds UDP and TCP (and SCTP where the library has it).
 */
static void
sip_format_url(const struct cfg *cfg, int tls, char *buf, size_t len)
{
    const struct cfg_transport *first = NULL;
    int n = 0;

    for (size_t i = 0; i < cfg->ntransports; i++) {
        const struct cfg_transport *t = &cfg->transports[i];

        if ((t->protocol == CFG_PROTO_TLS) != tls)
            continue;
        if (first == NULL)
            first = t;
        n++;
    }
    buf[0] = '\0';
    if (first == NULL)
        return;
    snprintf(buf, len, "%s:%s%s%s:%u%s%s", tls ? "sips" : "sip",
             first->family == AF_INET6 ? "[" : "", first->host,
             first->family == AF_INET6 ? "]" : "", first->port,
             n == 1 ? ";transport=" : "",
             n == 1 ? proto_names[first->protocol] : "");
}

static int
sip_record_listeners(struct sip *sip, const struct cfg *cfg)
{
    sip->listeners = calloc(cfg->ntransports, sizeof(*sip->listeners));
    if (sip->listeners == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->ntransports; i++) {
        const struct cfg_transport *t = &cfg->transports[i];
        struct sip_listener *l = &sip->listeners[i];

        snprintf(l->name, sizeof(l->name), "%s", t->name);
        snprintf(l->proto, sizeof(l->proto), "%s", proto_names[t->protocol]);
        snprintf(l->host, sizeof(l->host), "%s", t->host);
        l->port = t->port;
    }
    sip->nlisteners = cfg->ntransports;
    return 0;
}

/* ---- routing ---- */

static unsigned
sip_route_hash(const char *s)
{
    unsigned h = 2166136261u;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % SIP_ROUTE_BUCKETS;
}

static struct sip_route *
sip_route_find(struct sip *sip, const char *user)
{
    struct sip_route *r = sip->routes[sip_route_hash(user)];

    while (r && strcmp(r->user, user) != 0)
        r = r->next;
    return r;
}

int
sip_route_add(struct sip *sip, const char *user,
              const struct sip_route_ops *ops, void *owner)
{
    unsigned h = sip_route_hash(user);
    struct sip_route *r;

    if (sip_route_find(sip, user))
        return -EEXIST;
    r = calloc(1, sizeof(*r));
    if (r == NULL || (r->user = strdup(user)) == NULL) {
        free(r);
        return -ENOMEM;
    }
    r->ops = ops;
    r->owner = owner;
    r->next = sip->routes[h];
    sip->routes[h] = r;
    return 0;
}

int
sip_route_remove(struct sip *sip, const char *user)
{
    struct sip_route **pp = &sip->routes[sip_route_hash(user)];

    for (; *pp; pp = &(*pp)->next) {
        struct sip_route *r = *pp;

        if (strcmp(r->user, user) == 0) {
            *pp = r->next;
            free(r->user);
            free(r);
            return 0;
        }
    }
    return -ENOENT;
}

static void
sip_routes_free(struct sip *sip)
{
    for (size_t i = 0; i < SIP_ROUTE_BUCKETS; i++) {
        while (sip->routes[i]) {
            struct sip_route *r = sip->routes[i];

            sip->routes[i] = r->next;
            free(r->user);
            free(r);
        }
    }
}

/* ---- incoming requests ---- */

static int
sip_is_request_event(nua_event_t e)
{
    switch (e) {
    case nua_i_invite: case nua_i_message: case nua_i_info:
    case nua_i_publish: case nua_i_notify: case nua_i_refer:
    case nua_i_subscribe: case nua_i_update: case nua_i_options:
    case nua_i_register: case nua_i_method:
        return 1;
    default:
        return 0;
    }
}

/*
 * The Request-URI user part, %-unescaped, in @p buf ("" if none).  sofia's
 * url_unescape_to() does not terminate its output, whatever its comment
 * says, so we do.  An escaped NUL ("%00") cannot name an owner: it would
 * silently cut the user part short (RFC 4475 3.1.1.4), so it gives NULL:
 * no owner.
 */
static const char *
sip_request_user(const sip_t *sip, char *buf, size_t len)
{
    const char *user = NULL;
    size_t n;

    if (sip && sip->sip_request)
        user = sip->sip_request->rq_url->url_user;
    if (user == NULL)
        return "";
    if (strlen(user) >= len)
        return NULL;
    n = url_unescape_to(buf, user, strlen(user));
    buf[n] = '\0';
    return strlen(buf) == n ? buf : NULL;
}

static void
sip_respond_destroy(struct sip *sip, const struct sip_event *ev, int status,
                    const char *phrase)
{
    nua_respond(ev->nh, status, phrase, NUTAG_WITH_THIS(sip->nua),
                SIPTAG_ALLOW_STR(SIP_ALLOW), TAG_END());
    nua_handle_destroy(ev->nh);
}

static void
sip_route_request(struct sip *sip, const struct sip_event *in)
{
    char buf[256];
    struct sip_event e = *in, *ev = &e;
    const char *user = sip_request_user(in->sip, buf, sizeof(buf));
    struct sip_route *r;

    e.user = user;
    sip->counters.requests++;
    if (ev->event == nua_i_options) {
        /* nua has already answered 200 with Allow/Accept/Supported. */
        sip->counters.options++;
        nua_handle_destroy(ev->nh);
        return;
    }
    r = user ? sip_route_find(sip, user) : NULL;
    if (r == NULL && sip->fallback != NULL) {
        int rc = sip->fallback->request(sip->fallback_owner, ev);

        if (rc == 0) {
            sip->counters.routed++;
            return;
        }
        if (rc != -ENOENT) {
            sip->counters.rejected++;
            sip_respond_destroy(sip, ev, SIP_500_INTERNAL_SERVER_ERROR);
            return;
        }
    }
    if (r == NULL) {
        sip->counters.not_found++;
        log_info_limited("sip", "%s for unknown user '%s': 404",
                 ev->sip && ev->sip->sip_request
                     ? ev->sip->sip_request->rq_method_name : "request",
                 user ? user : "(an escaped NUL, or too long)");
        sip_respond_destroy(sip, ev, SIP_404_NOT_FOUND);
        return;
    }
    sip->counters.routed++;
    if (r->ops->request(r->owner, ev) != 0) {
        sip->counters.rejected++;
        sip_respond_destroy(sip, ev, SIP_500_INTERNAL_SERVER_ERROR);
    }
}

/* ---- per-source rate limit ---- */

static uint64_t
sip_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
sip_limits_apply(struct sip *sip, const struct cfg *cfg)
{
    struct limit_cfg lc;
    int rc = limit_cfg_read(cfg, &lc);

    if (rc != 0)
        return rc;
    if (lc.source_rate == 0) {
        limit_destroy(sip->limit);
        sip->limit = NULL;
    } else if (sip->limit == NULL || lc.max_sources != sip->limits.max_sources) {
        struct limit *l;

        rc = limit_create(&l, lc.source_rate, lc.source_burst, lc.max_sources);
        if (rc != 0) {
            log_err("sip", "per-source rate limit: %s", strerror(-rc));
            limit_cfg_clear(&lc);
            return rc;
        }
        limit_destroy(sip->limit);
        sip->limit = l;
    } else {
        limit_set_rate(sip->limit, lc.source_rate, lc.source_burst);
    }
    limit_cfg_clear(&sip->limits);
    sip->limits = lc;
    return 0;
}

/* What a per-source limit counts: requests the daemon's handlers answer.
 * nua answers OPTIONS itself and a dialog's BYE, ACK, CANCEL and PRACK
 * must get through for calls to end; in-dialog MESSAGE and INFO count
 * because one relayed MESSAGE costs a conference N requests. */
static int
sip_is_limited(const struct sip_event *ev, int in_dialog)
{
    if (ev->event == nua_i_options)
        return 0;
    if (in_dialog)
        return ev->event == nua_i_message || ev->event == nua_i_info;
    return sip_is_request_event(ev->event);
}

/* 503 with [limits] retry_after: a source over its rate, or max_dialogs.
 * An out-of-dialog request's handle is nobody's: it goes too. */
static void
sip_respond_503(struct sip *sip, const struct sip_event *ev, int in_dialog)
{
    char retry[16];

    snprintf(retry, sizeof(retry), "%u", sip->limits.retry_after);
    nua_respond(ev->nh, SIP_503_SERVICE_UNAVAILABLE, NUTAG_WITH_THIS(sip->nua),
                SIPTAG_RETRY_AFTER_STR(retry), TAG_END());
    if (!in_dialog)
        nua_handle_destroy(ev->nh);
}

/* @return 0 to go on, 1 if refused (answered 503 with Retry-After). */
static int
sip_rate_limit(struct sip *sip, const struct sip_event *ev, int in_dialog)
{
    struct sockaddr_storage src;
    struct limit_note note;
    char addr[64];

    if (sip->limit == NULL || !sip_is_limited(ev, in_dialog) ||
        sip_event_source(sip, &src) != 0 ||
        peer_acl_match(sip->limits.exempt, (struct sockaddr *)&src))
        return 0;
    if (limit_check(sip->limit, (struct sockaddr *)&src, sip_now_ms(),
                    &note) == 1) {
        if (note.kind == LIMIT_NOTE_UNBLOCKED)
            log_notice("sip", "%s is back under %u requests/s; %llu refused "
                       "while over", limit_addr_str((struct sockaddr *)&src,
                       addr, sizeof(addr)), sip->limits.source_rate,
                       (unsigned long long)note.refused);
        return 0;
    }
    if (note.kind == LIMIT_NOTE_BLOCKED)
        log_warn("sip", "%s sends more than %u requests/s: refusing the "
                 "excess with 503 until it slows down",
                 limit_addr_str((struct sockaddr *)&src, addr, sizeof(addr)),
                 sip->limits.source_rate);
    sip->counters.limited++;
    sip_respond_503(sip, ev, in_dialog);
    return 1;
}

int
sip_add_dialog_counter(struct sip *sip, sip_dialog_count_cb cb, void *arg)
{
    if (sip->ndialog_counters == SIP_MAX_DIALOG_COUNTERS)
        return -ENOSPC;
    sip->dialog_counters[sip->ndialog_counters].cb = cb;
    sip->dialog_counters[sip->ndialog_counters++].arg = arg;
    return 0;
}

void
sip_remove_dialog_counter(struct sip *sip, void *arg)
{
    size_t n = 0;

    for (size_t i = 0; i < sip->ndialog_counters; i++)
        if (sip->dialog_counters[i].arg != arg)
            sip->dialog_counters[n++] = sip->dialog_counters[i];
    sip->ndialog_counters = n;
}

static size_t
sip_dialogs(const struct sip *sip)
{
    size_t n = 0;

    for (size_t i = 0; i < sip->ndialog_counters; i++)
        n += sip->dialog_counters[i].cb(sip->dialog_counters[i].arg);
    return n;
}

int
sip_dialogs_full(const struct sip *sip)
{
    return sip->limits.max_dialogs != 0 &&
           sip_dialogs(sip) >= sip->limits.max_dialogs;
}

/* A new INVITE past max_dialogs: 503 with Retry-After, as for a source
 * over its rate.  @return 1 if refused. */
static int
sip_dialog_limit(struct sip *sip, const struct sip_event *ev)
{
    uint64_t now;

    if (ev->event != nua_i_invite || !sip_dialogs_full(sip))
        return 0;
    now = sip_now_ms();
    sip->counters.dialogs_full++;
    if (now - sip->full_logged_ms >= 60000 || sip->full_logged_ms == 0) {
        sip->full_logged_ms = now;
        log_warn("sip", "max_dialogs (%u) reached: new calls get 503 "
                 "(%llu so far)", sip->limits.max_dialogs,
                 (unsigned long long)sip->counters.dialogs_full);
    }
    sip_respond_503(sip, ev, 0);
    return 1;
}

json_t *
sip_limits_json(const struct sip *sip)
{
    struct limit_counters c = { 0 };

    if (sip->limit)
        limit_get_counters(sip->limit, &c);
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                     "dialogs", (json_int_t)sip_dialogs(sip),
                     "max_dialogs", (json_int_t)sip->limits.max_dialogs,
                     "source_rate", (json_int_t)sip->limits.source_rate,
                     "passed", (json_int_t)c.passed,
                     "refused", (json_int_t)c.refused,
                     "blocks", (json_int_t)c.blocks,
                     "blocked_now", (json_int_t)c.blocked_now,
                     "sources", (json_int_t)c.sources,
                     "evicted", (json_int_t)c.evicted);
}

static void
sip_callback(nua_event_t event, int status, char const *phrase, nua_t *nua,
             nua_magic_t *magic, nua_handle_t *nh, nua_hmagic_t *hmagic,
             sip_t const *sip_msg, tagi_t tags[])
{
    struct sip *sip = (struct sip *)magic;
    struct sip_event ev = { event, status, phrase, nua, nh, sip_msg, tags, NULL };

    if (event == nua_r_shutdown) {
        sip->shutdown_final = status >= 200;
        if (status >= 200 && sip->shutdown_done)
            sip->shutdown_done(sip->shutdown_arg);
        return;
    }
    if (sip->dying)
        return;     /* the owners may be gone already */
    if (hmagic != NULL) {
        struct sip_owner *owner = (struct sip_owner *)hmagic;

        if (sip_rate_limit(sip, &ev, 1) == 0)
            owner->event(owner, &ev);
        return;
    }
    if (sip_is_request_event(event) && nh != NULL) {
        if (sip_rate_limit(sip, &ev, 0) == 0 && sip_dialog_limit(sip, &ev) == 0)
            sip_route_request(sip, &ev);
        return;
    }
    if (event == nua_i_error)
        log_warn("sip", "stack error %d %s", status, phrase);
    /* A handle nobody owns that nua handed us (e.g. a BYE after the owner
     * let go) must not leak. */
    if (nh != NULL && event != nua_r_set_params && event != nua_r_get_params)
        nua_handle_destroy(nh);
}

int
sip_auth_credentials(const sip_t *challenge, const char *user,
                     const char *password, char *buf, size_t len)
{
    const msg_auth_t *au = challenge->sip_www_authenticate
                               ? challenge->sip_www_authenticate
                               : challenge->sip_proxy_authenticate;
    const char *realm = au ? msg_params_find(au->au_params, "realm=") : NULL;
    int n;

    if (realm == NULL)
        return -EINVAL;
    n = snprintf(buf, len, "%s:%s:%s:%s", au->au_scheme, realm, user,
                 password);
    return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* ---- lifecycle ---- */

static const struct cfg_transport *
sip_tls_transport(const struct cfg *cfg)
{
    for (size_t i = 0; i < cfg->ntransports; i++)
        if (cfg->transports[i].protocol == CFG_PROTO_TLS)
            return &cfg->transports[i];
    return NULL;
}

static nua_t *
sip_create_nua(struct sip *sip, const struct cfg *cfg)
{
    const struct cfg_transport *tls = sip_tls_transport(cfg);
    char url[160], sips_url[160], tls_dir[4096] = "";

    sip_format_url(cfg, 0, url, sizeof(url));
    sip_format_url(cfg, 1, sips_url, sizeof(sips_url));
    if (tls && siptls_prepare(tls, cfg->global.state_dir, tls_dir,
                              sizeof(tls_dir)) != 0)
        return NULL;
    su_root_threading(loop_root(sip->loop), 0);
    return nua_create(loop_root(sip->loop), sip_callback,
                      (nua_magic_t *)sip,
                      TAG_IF(url[0], NUTAG_URL(url)),
                      TAG_IF(sips_url[0], NUTAG_SIPS_URL(sips_url)),
                      TAG_IF(tls, NUTAG_CERTIFICATE_DIR(tls_dir)),
                      TAG_IF(tls, TPTAG_TLS_VERIFY_POLICY(
                                      tls ? siptls_policy(tls) : 0)),
                      TAG_IF(tls, TPTAG_TLS_VERIFY_DEPTH(
                                      tls ? tls->verify_depth : 0)),
                      NUTAG_USER_AGENT(cfg->global.user_agent),
                      SIPTAG_SERVER_STR(cfg->global.user_agent),
                      NUTAG_MEDIA_ENABLE(0),
                      NUTAG_AUTOANSWER(0),
                      /* nua's default Min-SE of 120 s answers a browser's
                       * "Session-Expires: 90" with 422; ours is 90. */
                      NUTAG_MIN_SE(cfg->global.min_se),
                      NUTAG_APPL_METHOD(SIP_APPL_METHODS),
                      NUTAG_ALLOW(SIP_ALLOW),

                      TPTAG_UDP_RMEM(cfg->global.udp_recv_buffer),
                      /* sofia's STUN server on the SIP port leaks on a
                       * malformed request and writes to stderr itself;
                       * the daemon needs none. */
                      TPTAG_STUN_SERVER(0),
                      NTATAG_MAXSIZE(sip->limits.max_message),
                      TPTAG_LOG(cfg->global.debug),
                      TAG_END());
}

/* sofia's method number as a row of struct sip_wire: 0 for any other. */
static int
sip_wire_row(sip_method_t m)
{
    return m > 0 && m < SIP_WIRE_METHODS ? (int)m : 0;
}

static void
sip_on_wire(void *arg, const sip_t *msg, int sent)
{
    struct sip_wire *w = ((struct sip *)arg)->wire;
    int code;

    if (msg->sip_request) {
        w->requests[sent][sip_wire_row(msg->sip_request->rq_method)]++;
    } else if (msg->sip_cseq) {
        code = msg->sip_status->st_status;
        if (code >= 100 && code < 100 + SIP_WIRE_CODES)
            w->responses[sent][sip_wire_row(msg->sip_cseq->cs_method)]
                        [code - 100]++;
    }
}

int
sip_create(struct sip **out, struct loop *loop, const struct cfg *cfg)
{
    struct cfg_errors errs = { 0 };
    struct sip *sip;

    if (sip_check_transports(cfg, &errs) != 0) {
        for (size_t i = 0; i < errs.n; i++)
            log_err("sip", "%s", errs.msgs[i]);
        cfg_errors_clear(&errs);
        return -EINVAL;
    }
    if (siptap_init() != 0) {
        log_err("sip", "sofia-sip's tport_tsend/tport_deliver/nta_agent_* "
                "not found: cannot watch the stack");
        return -ENOSYS;
    }
    sip = calloc(1, sizeof(*sip));
    if (sip == NULL || su_home_init(sip->home) != 0) {
        free(sip);
        return -ENOMEM;
    }
    sip->loop = loop;
    sip->wire = calloc(1, sizeof(*sip->wire));
    if (sip->wire == NULL || sip_record_listeners(sip, cfg) != 0 ||
        sip_limits_apply(sip, cfg) != 0)
        goto fail;
    siptap_set_hook(sip_on_wire, sip);
    sip->nua = sip_create_nua(sip, cfg);
    if (sip->nua == NULL) {
        log_err("sip", "cannot bind the SIP transports (address in use, "
                "or not configured on this host?)");
        goto fail;
    }
    sip_set_trace(sip, cfg->global.debug);
    sipfix_set_root(loop_root(loop));
    *out = sip;
    return 0;

fail:
    siptap_set_hook(NULL, NULL);
    free(sip->wire);
    limit_destroy(sip->limit);
    limit_cfg_clear(&sip->limits);
    free(sip->listeners);
    su_home_deinit(sip->home);
    free(sip);
    return -EADDRNOTAVAIL;
}

void
sip_shutdown(struct sip *sip, sip_shutdown_cb done, void *arg)
{
    sip->shutdown_done = done;
    sip->shutdown_arg = arg;
    sip->shutdown_started = 1;
    nua_shutdown(sip->nua);
    loop_kick(sip->loop);
}

/*
 * nua_destroy() aborts the process unless nua_shutdown() has completed: a
 * start-up that failed half-way, or a stop past its deadline, finish it
 * here, stepping sofia's root directly for a bounded time.  @return 1 if
 * nua may be destroyed.
 */
static int
sip_finish_shutdown(struct sip *sip)
{
    uint64_t deadline = sip_now_ms() + SIP_FINISH_MS;

    sip->dying = 1;
    sip->shutdown_done = NULL;
    if (!sip->shutdown_started) {
        sip->shutdown_started = 1;
        nua_shutdown(sip->nua);
    }
    while (!sip->shutdown_final && sip_now_ms() < deadline)
        su_root_step(loop_root(sip->loop), SIP_FINISH_STEP_MS);
    if (!sip->shutdown_final)
        log_warn("sip", "SIP stack still shutting down; left to the exit");
    return sip->shutdown_final;
}

void
sip_destroy(struct sip *sip)
{
    if (sip == NULL)
        return;
    if (sip->nua && (sip->shutdown_final || sip_finish_shutdown(sip)))
        nua_destroy(sip->nua);
    sipfix_set_root(NULL);
    siptap_set_hook(NULL, NULL);
    free(sip->wire);
    sip_routes_free(sip);
    limit_destroy(sip->limit);
    limit_cfg_clear(&sip->limits);
    free(sip->listeners);
    su_home_deinit(sip->home);
    free(sip);
}

void
sip_route_set_fallback(struct sip *sip, const struct sip_route_ops *ops,
                       void *owner)
{
    sip->fallback = ops;
    sip->fallback_owner = owner;
}

int
sip_allow_event(struct sip *sip, const char *event)
{
    size_t len = strlen(sip->allow_events), n = strlen(event);
    const char *p = sip->allow_events;

    for (; (p = strstr(p, event)) != NULL; p += n)
        if ((p == sip->allow_events || p[-1] == ' ') &&
            (p[n] == ',' || p[n] == '\0'))
            return 0;
    if (len + n + 3 > sizeof(sip->allow_events)) {
        log_err("sip", "too many event packages to allow '%s'", event);
        return -ENOSPC;
    }
    snprintf(sip->allow_events + len, sizeof(sip->allow_events) - len,
             "%s%s", len ? ", " : "", event);
    /* nua answers 489 itself to a PUBLISH whose Event is not listed. */
    nua_set_params(sip->nua, SIPTAG_ALLOW_EVENTS_STR(sip->allow_events),
                   TAG_END());
    loop_kick(sip->loop);
    return 0;
}

int
sip_event_source(const struct sip *sip, struct sockaddr_storage *out)
{
    msg_t *msg = nua_current_request(sip->nua);
    su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;

    if (ai == NULL || ai->ai_addr == NULL ||
        ai->ai_addrlen > sizeof(*out) || ai->ai_addrlen == 0)
        return -ENOENT;
    memset(out, 0, sizeof(*out));
    memcpy(out, ai->ai_addr, ai->ai_addrlen);
    return 0;
}

void
sip_reconfigure(struct sip *sip, const struct cfg *cfg)
{
    if (sip_limits_apply(sip, cfg) != 0)
        log_err("sip", "[limits] not applied: the old limits stay");
    nua_set_params(sip->nua, NUTAG_USER_AGENT(cfg->global.user_agent),
                   SIPTAG_SERVER_STR(cfg->global.user_agent),
                   NTATAG_MAXSIZE(sip->limits.max_message), TAG_END());
    loop_kick(sip->loop);
}

void
sip_set_trace(struct sip *sip, int on)
{
    sip->trace = on != 0;
    log_set_sofia_level(sip->trace ? LOG_LVL_NOTICE : LOG_LVL_DEBUG);
    nua_set_params(sip->nua, TPTAG_LOG(sip->trace), TAG_END());
    loop_kick(sip->loop);
}

int
sip_get_trace(const struct sip *sip)
{
    return sip->trace;
}

nua_t *
sip_nua(struct sip *sip)
{
    return sip->nua;
}

struct loop *
sip_loop(struct sip *sip)
{
    return sip->loop;
}

json_t *
sip_listeners_json(const struct sip *sip)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < sip->nlisteners; i++) {
        const struct sip_listener *l = &sip->listeners[i];

        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:i}",
                                             "name", l->name,
                                             "protocol", l->proto,
                                             "address", l->host,
                                             "port", (int)l->port));
    }
    return arr;
}

void
sip_get_counters(const struct sip *sip, struct sip_counters *out)
{
    *out = sip->counters;
}

/* ---- metrics ---- */

/* As in <sofia-sip/sip_header.h>, whose sip_route_*() clash with ours. */
extern char const *const sip_method_names[];

static const char *
sip_wire_method(int m)
{
    return m == 0 ? "other" : sip_method_names[m];
}

static void
sip_put_wire(const struct sip_wire *w, struct metrics_out *o, int sent)
{
    metrics_family(o, sent ? "sipbridge_sip_requests_sent_total"
                           : "sipbridge_sip_requests_received_total",
                   METRICS_COUNTER, sent
                   ? "SIP requests sent, retransmissions included."
                   : "SIP requests received, retransmissions included.");
    for (int m = 0; m < SIP_WIRE_METHODS; m++)
        metrics_sample(o, (double)w->requests[sent][m], "method",
                       sip_wire_method(m), NULL);
    metrics_family(o, sent ? "sipbridge_sip_responses_sent_total"
                           : "sipbridge_sip_responses_received_total",
                   METRICS_COUNTER, sent
                   ? "SIP responses sent, by CSeq method and status code."
                   : "SIP responses received, by CSeq method and status "
                     "code.");
    for (int m = 0; m < SIP_WIRE_METHODS; m++) {
        for (int c = 0; c < SIP_WIRE_CODES; c++) {
            char code[8];

            if (w->responses[sent][m][c] == 0)
                continue;
            snprintf(code, sizeof(code), "%d", c + 100);
            metrics_sample(o, (double)w->responses[sent][m][c], "method",
                           sip_wire_method(m), "code", code, NULL);
        }
    }
}

static void
sip_put_transactions(const struct sip *sip, struct metrics_out *o)
{
    struct siptap_transactions t = { 0 };

    siptap_transactions(&t);
    metrics_family(o, "sipbridge_sip_transactions", METRICS_GAUGE,
                   "SIP transactions the stack holds, answered ones kept "
                   "for retransmissions included.");
    metrics_sample(o, (double)t.server, "side", "server", NULL);
    metrics_sample(o, (double)t.client, "side", "client", NULL);
    metrics_family(o, "sipbridge_sip_dialogs", METRICS_GAUGE,
                   "INVITE dialogs: conference participants and SIP API "
                   "calls ([limits] max_dialogs counts these).");
    metrics_sample(o, (double)sip_dialogs(sip), NULL);
}

static void
sip_put_refusals(const struct sip *sip, struct metrics_out *o)
{
    const struct sip_counters *n = &sip->counters;
    struct limit_counters c = { 0 };

    if (sip->limit)
        limit_get_counters(sip->limit, &c);
    metrics_family(o, "sipbridge_sip_requests_refused_total", METRICS_COUNTER,
                   "New requests the core answered itself: 503 over a "
                   "source's rate or max_dialogs, 404 for a user part "
                   "nobody owns, 5xx when its owner failed.");
    metrics_sample(o, (double)n->limited, "reason", "rate_limit", NULL);
    metrics_sample(o, (double)n->dialogs_full, "reason", "max_dialogs", NULL);
    metrics_sample(o, (double)n->not_found, "reason", "not_found", NULL);
    metrics_sample(o, (double)n->rejected, "reason", "error", NULL);
    metrics_family(o, "sipbridge_sip_sources_blocked", METRICS_GAUGE,
                   "Source addresses over their [limits] source_rate now.");
    metrics_sample(o, (double)c.blocked_now, NULL);
}

void
sip_metrics(void *arg, struct metrics_out *o)
{
    const struct sip *sip = arg;

    sip_put_wire(sip->wire, o, 0);
    sip_put_wire(sip->wire, o, 1);
    sip_put_transactions(sip, o);
    sip_put_refusals(sip, o);
}

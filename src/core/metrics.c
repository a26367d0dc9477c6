/*
 * metrics.c - the Prometheus text endpoint and the loop lag probe.
 */
#include "sipbridge/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/http.h>

#include "sipbridge/log.h"
#include "sipbridge/loop.h"

#define METRICS_PATH "/metrics"
#define METRICS_LAG_PROBE_MS 1000
#define METRICS_HTTP_TIMEOUT_S 10
#define METRICS_MAX_HEADERS 8192

struct metrics_cfg {
    bool on;
    char host[64];
    unsigned port;
};

struct metrics_collector {
    metrics_collect_cb cb;
    void *arg;
};

/* Lateness of the 1 s probe: a blocked loop shows as one late firing. */
static const double metrics_lag_le[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5
};
#define METRICS_LAG_N (sizeof(metrics_lag_le) / sizeof(metrics_lag_le[0]))

struct metrics {
    struct event_base *base;
    struct metrics_cfg cfg;
    struct evhttp *http;            /* NULL: off */
    struct metrics_collector collectors[METRICS_MAX_COLLECTORS];
    size_t ncollectors;
    struct event *lag_timer;
    struct timespec lag_due;        /* when the probe should fire */
    uint64_t lag_counts[METRICS_LAG_N + 1];
    struct metrics_hist lag;
    uint64_t scrapes;
};

/* ---- config ---- */

static int
metrics_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static int
metrics_check_section(const struct ini_section *sec, struct cfg_errors *errs)
{
    const char *listen = ini_get(sec, "listen");
    char host[64];
    unsigned port;
    int family;

    if (listen == NULL || cfg_parse_hostport(listen, host, sizeof(host),
                                             &port, &family) != 0)
        return 0;   /* the schema reports it */
    if (!metrics_is_loopback(host)) {
        cfg_errors_add(errs, sec->file, sec->line,
                       "[%s] listen: %s is not a loopback address; the "
                       "metrics endpoint has no authentication, so it "
                       "listens on 127.0.0.0/8 or ::1 only (expose it "
                       "through a local agent or proxy)", sec->name, host);
        return -EINVAL;
    }
    return 0;
}

static const struct cfg_key metrics_keys[] = {
    { "listen", CFG_HOSTPORT, CFG_REQUIRED, 0, 0, NULL },
    { NULL, CFG_STRING, 0, 0, 0, NULL }
};

const struct cfg_type metrics_cfg_type = {
    "metrics", metrics_keys, NULL, true, metrics_check_section, false
};

static void
metrics_cfg_read(const struct cfg *cfg, struct metrics_cfg *out)
{
    const struct ini_section *sec = cfg_section_find(cfg, "metrics", NULL);
    int family;

    memset(out, 0, sizeof(*out));
    if (sec == NULL)
        return;
    out->on = cfg_parse_hostport(ini_get(sec, "listen"), out->host,
                                 sizeof(out->host), &out->port,
                                 &family) == 0;
}

/* ---- writers ---- */

static void
metrics_put_value(struct evbuffer *b, double v)
{
    if (isnan(v))
        evbuffer_add_printf(b, " NaN\n");
    else if (isinf(v))
        evbuffer_add_printf(b, " %sInf\n", v > 0 ? "+" : "-");
    else if (v > -9007199254740992.0 && v < 9007199254740992.0 &&
             v == (double)(int64_t)v)
        evbuffer_add_printf(b, " %lld\n", (long long)v);
    else
        evbuffer_add_printf(b, " %.15g\n", v);
}

/* Label values may hold anything a config or a peer put there. */
static void
metrics_put_label_value(struct evbuffer *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            evbuffer_add_printf(b, "\\%c", *s);
        else if (*s == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, s, 1);
    }
}

static void
metrics_put_sample(struct metrics_out *o, const char *suffix, double v,
                   va_list ap)
{
    const char *name;
    int n = 0;

    evbuffer_add_printf(o->buf, "%s%s", o->family, suffix);
    while ((name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);

        evbuffer_add_printf(o->buf, "%s%s=\"", n++ ? "," : "{", name);
        metrics_put_label_value(o->buf, value ? value : "");
        evbuffer_add(o->buf, "\"", 1);
    }
    if (n)
        evbuffer_add(o->buf, "}", 1);
    metrics_put_value(o->buf, v);
}

void
metrics_family(struct metrics_out *o, const char *name,
               enum metrics_kind kind, const char *help)
{
    static const char *const kinds[] = { "counter", "gauge", "histogram" };

    o->family = name;
    evbuffer_add_printf(o->buf, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                        name, kinds[kind]);
}

void
metrics_sample(struct metrics_out *o, double v, ...)
{
    va_list ap;

    va_start(ap, v);
    metrics_put_sample(o, "", v, ap);
    va_end(ap);
}

static void
metrics_sample_suffix(struct metrics_out *o, const char *suffix, double v,
                      ...)
{
    va_list ap;

    va_start(ap, v);
    metrics_put_sample(o, suffix, v, ap);
    va_end(ap);
}

void
metrics_hist_observe(struct metrics_hist *h, double v)
{
    size_t i = 0;

    while (i < h->n && v > h->le[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

void
metrics_histogram(struct metrics_out *o, const struct metrics_hist *h)
{
    uint64_t cum = 0;
    char le[32];

    for (size_t i = 0; i <= h->n; i++) {
        cum += h->counts[i];
        if (i < h->n)
            snprintf(le, sizeof(le), "%g", h->le[i]);
        metrics_sample_suffix(o, "_bucket", (double)cum, "le",
                              i < h->n ? le : "+Inf", NULL);
    }
    metrics_sample_suffix(o, "_sum", h->sum, NULL);
    metrics_sample_suffix(o, "_count", (double)h->count, NULL);
}

/* ---- the loop lag probe ---- */

static double
metrics_elapsed(const struct timespec *from, const struct timespec *to)
{
    return (double)(to->tv_sec - from->tv_sec) +
           (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

static void
metrics_lag_arm(struct metrics *m)
{
    clock_gettime(CLOCK_MONOTONIC, &m->lag_due);
    m->lag_due.tv_sec += METRICS_LAG_PROBE_MS / 1000;
    loop_timer_add_ms(m->lag_timer, METRICS_LAG_PROBE_MS);
}

static void
metrics_on_lag_probe(evutil_socket_t fd, short what, void *arg)
{
    struct metrics *m = arg;
    struct timespec now;
    double late;

    (void)fd;
    (void)what;
    clock_gettime(CLOCK_MONOTONIC, &now);
    late = metrics_elapsed(&m->lag_due, &now);
    metrics_hist_observe(&m->lag, late > 0 ? late : 0);
    metrics_lag_arm(m);
}

static void
metrics_put_lag(struct metrics *m, struct metrics_out *o)
{
    metrics_family(o, "sipbridge_loop_lag_seconds", METRICS_HISTOGRAM,
                   "How late a 1 s timer on the event loop fires: time the "
                   "loop spent on other work.");
    metrics_histogram(o, &m->lag);
    metrics_family(o, "sipbridge_metrics_scrapes_total", METRICS_COUNTER,
                   "Scrapes of this endpoint answered.");
    metrics_sample(o, (double)m->scrapes, NULL);
}

/* ---- HTTP ---- */

void
metrics_collect(struct metrics *m, struct evbuffer *buf)
{
    struct metrics_out o = { buf, NULL };

    m->scrapes++;
    for (size_t i = 0; i < m->ncollectors; i++)
        m->collectors[i].cb(m->collectors[i].arg, &o);
    metrics_put_lag(m, &o);
}

static void
metrics_reply_text(struct evhttp_request *req, int code, const char *reason,
                   const char *text)
{
    struct evbuffer *b = evbuffer_new();

    if (b)
        evbuffer_add_printf(b, "%s\n", text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_send_reply(req, code, reason, b);
    if (b)
        evbuffer_free(b);
}

/* evhttp writes a large body in 16 KiB pieces: without this, Nagle holds
 * the later ones for the client's delayed ACK (40 ms) on a kept-alive
 * connection (bench/metrics). */
static void
metrics_nodelay(struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn)
                                   : NULL;
    int one = 1;

    if (bev)
        (void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
                         &one, sizeof(one));
}

static void
metrics_on_request(struct evhttp_request *req, void *arg)
{
    struct metrics *m = arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct evbuffer *b;

    if (path == NULL || strcmp(path, METRICS_PATH) != 0) {
        metrics_reply_text(req, HTTP_NOTFOUND, "Not Found",
                           "not found: the metrics are at " METRICS_PATH);
        return;
    }
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "GET, HEAD");
        metrics_reply_text(req, 405, "Method Not Allowed",
                           "method not allowed: use GET");
        return;
    }
    metrics_nodelay(req);
    b = evbuffer_new();
    if (b == NULL) {
        metrics_reply_text(req, HTTP_INTERNAL, "Internal Server Error",
                           "out of memory");
        return;
    }
    metrics_collect(m, b);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, HTTP_OK, "OK", b);
    evbuffer_free(b);
}

/* @return the new server on @p c's address, or NULL (logged). */
static struct evhttp *
metrics_listen(struct metrics *m, const struct metrics_cfg *c)
{
    struct evhttp *http = evhttp_new(m->base);
    int v6 = strchr(c->host, ':') != NULL;

    if (http == NULL) {
        log_err("metrics", "cannot create the HTTP server: out of memory");
        return NULL;
    }
    evhttp_set_timeout(http, METRICS_HTTP_TIMEOUT_S);
    evhttp_set_max_headers_size(http, METRICS_MAX_HEADERS);
    evhttp_set_max_body_size(http, 0);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                     EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                     EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(http, metrics_on_request, m);
    errno = 0;
    if (evhttp_bind_socket_with_handle(http, c->host, (ev_uint16_t)c->port)
        == NULL) {
        int err = errno ? errno : EADDRNOTAVAIL;

        log_err("metrics", "cannot listen on %s%s%s:%u: %s", v6 ? "[" : "",
                c->host, v6 ? "]" : "", c->port, strerror(err));
        evhttp_free(http);
        errno = err;
        return NULL;
    }
    log_notice("metrics", "Prometheus metrics on http://%s%s%s:%u%s",
               v6 ? "[" : "", c->host, v6 ? "]" : "", c->port, METRICS_PATH);
    return http;
}

static void
metrics_stop(struct metrics *m)
{
    if (m->http)
        evhttp_free(m->http);
    m->http = NULL;
    evtimer_del(m->lag_timer);
}

/* ---- lifecycle ---- */

int
metrics_reconfigure(struct metrics *m, const struct cfg *cfg)
{
    struct metrics_cfg c;
    struct evhttp *http;

    metrics_cfg_read(cfg, &c);
    if (m->http && c.on && strcmp(c.host, m->cfg.host) == 0 &&
        c.port == m->cfg.port)
        return 0;
    if (!c.on) {
        if (m->http)
            log_notice("metrics", "metrics endpoint stopped");
        metrics_stop(m);
        m->cfg = c;
        return 0;
    }
    http = metrics_listen(m, &c);
    if (http == NULL)
        return -errno;
    metrics_stop(m);
    m->http = http;
    m->cfg = c;
    metrics_lag_arm(m);
    return 0;
}

int
metrics_create(struct metrics **out, struct event_base *base,
               const struct cfg *cfg)
{
    struct metrics *m = calloc(1, sizeof(*m));
    int rc;

    if (m == NULL)
        return -ENOMEM;
    m->base = base;
    m->lag = (struct metrics_hist){ metrics_lag_le, METRICS_LAG_N,
                                    m->lag_counts, 0, 0 };
    m->lag_timer = evtimer_new(base, metrics_on_lag_probe, m);
    if (m->lag_timer == NULL) {
        free(m);
        return -ENOMEM;
    }
    rc = metrics_reconfigure(m, cfg);
    if (rc != 0) {
        metrics_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

void
metrics_destroy(struct metrics *m)
{
    if (m == NULL)
        return;
    metrics_stop(m);
    event_free(m->lag_timer);
    free(m);
}

int
metrics_add(struct metrics *m, metrics_collect_cb cb, void *arg)
{
    if (m->ncollectors == METRICS_MAX_COLLECTORS)
        return -ENOSPC;
    m->collectors[m->ncollectors++] = (struct metrics_collector){ cb, arg };
    return 0;
}

/*
 * ctl.c - control socket server: line framing, dispatch, events.
 *
 * Each client is a bufferevent.  Output is never awaited: a client that
 * does not read accumulates output until max_output, and is then dropped
 * (logged), so one stuck application cannot hold the daemon.  A client is
 * never freed while one of its requests is being handled (busy count), so
 * a handler may safely reply to a client that its own reply just killed.
 */
#include "sipbridge/ctl.h"

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "sipbridge/log.h"
#include "sipbridge/metrics.h"

struct ctl_handler {
    char *name;
    ctl_request_cb cb;
    void *arg;
};

struct ctl_close_hook {
    ctl_close_cb cb;
    void *arg;
};

struct ctl_client {
    struct ctl *ctl;
    struct ctl_client *next;
    struct bufferevent *bev;
    uint64_t id;
    json_t *topics;     /* array of watched topics; "*" = all */
    int busy;           /* requests being handled right now */
    int dead;           /* closed while busy: free when idle */
    int closing;        /* flush the output, then close */
};

/* uids or gids a client may have; none listed in either: anyone who can
 * open the socket file. */
struct ctl_ids {
    unsigned *ids;
    size_t n;
};

struct ctl {
    struct event_base *base;
    struct evconnlistener *listener;
    char *path;
    size_t max_line;
    size_t max_output;
    struct ctl_client *clients;
    uint64_t next_id;
    struct ctl_handler *handlers;
    size_t nhandlers;
    struct ctl_close_hook *hooks;
    size_t nhooks;
    uint64_t nclients, requests, errors, dropped_slow, refused;
    size_t connected;
    unsigned max_clients;
    struct ctl_ids users, groups;   /* allow_users, allow_groups */
};

static void ctl_client_close(struct ctl_client *c, const char *why);

/* ---- output ---- */

static int
ctl_client_write(struct ctl_client *c, json_t *msg)
{
    struct evbuffer *out;
    char *s;

    if (c->dead || c->closing)
        return -EPIPE;
    s = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s == NULL)
        return -ENOMEM;
    out = bufferevent_get_output(c->bev);
    evbuffer_add(out, s, strlen(s));
    evbuffer_add(out, "\n", 1);
    free(s);
    if (evbuffer_get_length(out) > c->ctl->max_output) {
        c->ctl->dropped_slow++;
        ctl_client_close(c, "not reading its output");
        return -EPIPE;
    }
    return 0;
}

int
ctl_client_send(struct ctl_client *client, json_t *msg)
{
    return ctl_client_write(client, msg);
}

static void
ctl_reply(struct ctl_request *req, json_t *reply)
{
    if (req->answered) {
        log_err("ctl", "request '%s' answered twice", req->name);
        json_decref(reply);
        return;
    }
    req->answered = 1;
    if (req->transaction)
        json_object_set(reply, "transaction", req->transaction);
    ctl_client_write(req->client, reply);
    json_decref(reply);
}

void
ctl_reply_success(struct ctl_request *req, json_t *data)
{
    json_t *r = json_pack("{s:s}", "response", "success");

    json_object_set_new(r, "data", data ? data : json_object());
    ctl_reply(req, r);
}

void
ctl_reply_ack(struct ctl_request *req)
{
    ctl_reply(req, json_pack("{s:s}", "response", "ack"));
}

void
ctl_reply_error(struct ctl_request *req, int code, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    req->client->ctl->errors++;
    log_info("ctl", "client %llu: error %d: %s",
             (unsigned long long)req->client->id, code, text);
    ctl_reply(req, json_pack("{s:s, s:i, s:s}", "response", "error",
                             "error_code", code, "error", text));
}

/* ---- answers that come later ---- */

struct ctl_deferred {
    struct ctl *ctl;
    uint64_t client;
    json_t *transaction;
};

struct ctl_deferred *
ctl_defer(struct ctl_request *req)
{
    struct ctl_deferred *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        ctl_reply_error(req, CTL_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    d->ctl = req->client->ctl;
    d->client = req->client->id;
    d->transaction = json_incref(req->transaction);
    req->answered = 1;
    return d;
}

/* The client may have gone meanwhile: then the answer is dropped. */
static void
ctl_deferred_send(struct ctl_deferred *d, json_t *reply)
{
    struct ctl_client *c = ctl_client_find(d->ctl, d->client);

    if (d->transaction)
        json_object_set(reply, "transaction", d->transaction);
    if (c != NULL && !c->dead)
        ctl_client_write(c, reply);
    json_decref(reply);
    json_decref(d->transaction);
    free(d);
}

void
ctl_deferred_success(struct ctl_deferred *d, json_t *data)
{
    json_t *r = json_pack("{s:s}", "response", "success");

    json_object_set_new(r, "data", data ? data : json_object());
    ctl_deferred_send(d, r);
}

void
ctl_deferred_error(struct ctl_deferred *d, int code, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    d->ctl->errors++;
    log_info("ctl", "client %llu: error %d: %s",
             (unsigned long long)d->client, code, text);
    ctl_deferred_send(d, json_pack("{s:s, s:i, s:s}", "response", "error",
                                   "error_code", code, "error", text));
}

static int
ctl_client_watches(const struct ctl_client *c, const char *topic)
{
    size_t i;
    json_t *t;

    json_array_foreach(c->topics, i, t) {
        const char *s = json_string_value(t);

        if (strcmp(s, "*") == 0 || strcmp(s, topic) == 0)
            return 1;
    }
    return 0;
}

int
ctl_watched(const struct ctl *ctl, const char *topic)
{
    for (const struct ctl_client *c = ctl->clients; c; c = c->next)
        if (ctl_client_watches(c, topic))
            return 1;
    return 0;
}

void
ctl_publish(struct ctl *ctl, const char *topic, json_t *result)
{
    json_t *ev;

    if (!ctl_watched(ctl, topic))
        return;
    ev = json_pack("{s:s, s:s, s:O}", "sipbridge", "event", "topic", topic,
                   "result", result);
    for (struct ctl_client *c = ctl->clients, *next; c; c = next) {
        next = c->next;
        if (ctl_client_watches(c, topic))
            ctl_client_write(c, ev);
    }
    json_decref(ev);
}

/* ---- requests ---- */

static const struct ctl_handler *
ctl_handler_find(const struct ctl *ctl, const char *name)
{
    for (size_t i = 0; i < ctl->nhandlers; i++)
        if (strcmp(ctl->handlers[i].name, name) == 0)
            return &ctl->handlers[i];
    return NULL;
}

static void
ctl_dispatch(struct ctl_client *c, json_t *msg)
{
    struct ctl_request req = { c, "", msg, NULL, 0 };
    const struct ctl_handler *h;
    json_t *name;

    c->ctl->requests++;
    req.transaction = json_object_get(msg, "transaction");
    name = json_object_get(msg, "request");
    if (name == NULL) {
        ctl_reply_error(&req, CTL_ERR_MISSING_ELEMENT,
                        "missing element: request");
        return;
    }
    if (!json_is_string(name)) {
        ctl_reply_error(&req, CTL_ERR_INVALID_ELEMENT,
                        "invalid element: request must be a string");
        return;
    }
    req.name = json_string_value(name);
    h = ctl_handler_find(c->ctl, req.name);
    if (h == NULL) {
        ctl_reply_error(&req, CTL_ERR_INVALID_REQUEST,
                        "unknown request '%.64s'", req.name);
        return;
    }
    log_debug("ctl", "client %llu: request '%s'", (unsigned long long)c->id,
              req.name);
    h->cb(h->arg, &req);
    if (!req.answered && !c->dead) {
        log_err("ctl", "handler for '%s' did not answer", req.name);
        ctl_reply_error(&req, CTL_ERR_INTERNAL, "internal error");
    }
}

static void
ctl_handle_line(struct ctl_client *c, const char *line, size_t len)
{
    struct ctl_request req = { c, "", NULL, NULL, 0 };
    json_error_t err;
    json_t *msg;

    if (len == 0)
        return;
    msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    if (msg == NULL || !json_is_object(msg)) {
        if (msg)
            ctl_reply_error(&req, CTL_ERR_INVALID_JSON,
                            "invalid JSON: a request must be an object");
        else
            ctl_reply_error(&req, CTL_ERR_INVALID_JSON,
                            "invalid JSON: %s at column %d", err.text,
                            err.column);
        json_decref(msg);
        return;
    }
    ctl_dispatch(c, msg);
    json_decref(msg);
}

/* Rejects an over-long line: answer 460, then close once it is sent. */
static void
ctl_reject_long_line(struct ctl_client *c)
{
    struct ctl_request req = { c, "", NULL, NULL, 0 };

    ctl_reply_error(&req, CTL_ERR_LINE_TOO_LONG,
                    "line longer than %zu bytes; closing connection",
                    c->ctl->max_line);
    c->closing = 1;
    bufferevent_disable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        ctl_client_close(c, "line too long");
}

/* Takes every complete line; @return 0, or -1 if the client must stop. */
static int
ctl_read_line(struct ctl_client *c, struct evbuffer *in)
{
    size_t eol_len = 0;
    struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len,
                                                  EVBUFFER_EOL_LF);
    size_t len;
    char *line;

    if (eol.pos < 0) {
        if (evbuffer_get_length(in) > c->ctl->max_line) {
            ctl_reject_long_line(c);
            return -1;
        }
        return 1;
    }
    len = (size_t)eol.pos;
    if (len > c->ctl->max_line) {
        ctl_reject_long_line(c);
        return -1;
    }
    line = malloc(len + 1);
    if (line == NULL)
        return -1;
    evbuffer_remove(in, line, len);
    evbuffer_drain(in, eol_len);
    line[len] = '\0';
    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    ctl_handle_line(c, line, len);
    free(line);
    return 0;
}

static void
ctl_on_read(struct bufferevent *bev, void *arg)
{
    struct ctl_client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    c->busy++;
    while (!c->dead && !c->closing && ctl_read_line(c, in) == 0)
        ;
    c->busy--;
    if (c->dead)
        ctl_client_close(c, NULL);
}

static void
ctl_on_write(struct bufferevent *bev, void *arg)
{
    struct ctl_client *c = arg;

    if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        ctl_client_close(c, "line too long");
}

static void
ctl_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct ctl_client *c = arg;

    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        ctl_client_close(c, what & BEV_EVENT_EOF ? "closed by client"
                                                 : "socket error");
}

/* ---- clients ---- */

static void
ctl_client_unlink(struct ctl_client *c)
{
    struct ctl_client **pp = &c->ctl->clients;

    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = c->next;
        c->ctl->connected--;
    }
}

static void
ctl_client_close(struct ctl_client *c, const char *why)
{
    struct ctl *ctl = c->ctl;

    if (why)
        log_info("ctl", "client %llu disconnected: %s",
                 (unsigned long long)c->id, why);
    if (!c->dead) {
        c->dead = 1;
        ctl_client_unlink(c);
        for (size_t i = 0; i < ctl->nhooks; i++)
            ctl->hooks[i].cb(ctl->hooks[i].arg, c);
    }
    if (c->busy)
        return;
    bufferevent_free(c->bev);
    json_decref(c->topics);
    free(c);
}

/* ---- who may connect ---- */

static int
ctl_ids_set(struct ctl_ids *out, const char *list, int groups)
{
    struct ctl_ids ids;
    char bad[64];
    int rc = cfg_parse_ids(list, groups, &ids.ids, &ids.n, bad, sizeof(bad));

    if (rc == -ENOENT)
        log_err("ctl", "allow_%s: no %s '%s' on this host",
                groups ? "groups" : "users", groups ? "group" : "user", bad);
    if (rc != 0)
        return rc;
    free(out->ids);
    *out = ids;
    return 0;
}

static int
ctl_ids_have(const struct ctl_ids *ids, unsigned id)
{
    for (size_t i = 0; i < ids->n; i++)
        if (ids->ids[i] == id)
            return 1;
    return 0;
}

/* A refused client gets one error line, then the door. */
static void
ctl_refuse(struct ctl *ctl, evutil_socket_t fd, int code, const char *why)
{
    json_t *msg = json_pack("{s:s, s:i, s:s}", "response", "error",
                            "error_code", code, "error", why);
    char *line = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

    ctl->refused++;
    /* A fresh socket's send buffer takes one short line: no blocking. */
    if (line && send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
        (void)send(fd, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    free(line);
    json_decref(msg);
    /* Closing with the client's request still unread would reset the
     * connection before it reads why (ECONNRESET): read what came. */
    for (int i = 0; i < 16; i++) {
        char sink[4096];

        if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
            break;
    }
    shutdown(fd, SHUT_RDWR);
    close(fd);
}

/* @return 0 to take the client on @p fd, or -EPERM (refused and logged). */
static int
ctl_admit(struct ctl *ctl, evutil_socket_t fd, uint64_t id)
{
    struct ucred cr = { 0, (uid_t)-1, (gid_t)-1 };
    socklen_t len = sizeof(cr);
    char why[160];

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
        log_warn("ctl", "client %llu: no peer credentials: %s",
                 (unsigned long long)id, strerror(errno));
    if ((ctl->users.n || ctl->groups.n) && !ctl_ids_have(&ctl->users, cr.uid)
        && !ctl_ids_have(&ctl->groups, cr.gid)) {
        snprintf(why, sizeof(why), "uid %u gid %u is not allowed on this "
                 "control socket (allow_users, allow_groups)",
                 (unsigned)cr.uid, (unsigned)cr.gid);
        log_warn("ctl", "client pid %d refused: %s", (int)cr.pid, why);
        ctl_refuse(ctl, fd, CTL_ERR_NOT_ALLOWED, why);
        return -EPERM;
    }
    if (ctl->connected >= ctl->max_clients) {
        snprintf(why, sizeof(why), "too many control clients (max_clients %u)",
                 ctl->max_clients);
        log_warn("ctl", "client pid %d uid %u refused: %s", (int)cr.pid,
                 (unsigned)cr.uid, why);
        ctl_refuse(ctl, fd, CTL_ERR_TOO_MANY_CLIENTS, why);
        return -EPERM;
    }
    log_info("ctl", "client %llu connected: pid %d, uid %u, gid %u",
             (unsigned long long)id, (int)cr.pid, (unsigned)cr.uid,
             (unsigned)cr.gid);
    return 0;
}

static void
ctl_on_accept(struct evconnlistener *l, evutil_socket_t fd,
              struct sockaddr *sa, int salen, void *arg)
{
    struct ctl *ctl = arg;
    struct ctl_client *c;

    (void)l;
    (void)sa;
    (void)salen;
    if (ctl_admit(ctl, fd, ctl->next_id + 1) != 0)
        return;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    c->ctl = ctl;
    c->id = ++ctl->next_id;
    c->topics = json_array();
    c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        close(fd);
        json_decref(c->topics);
        free(c);
        return;
    }
    bufferevent_setcb(c->bev, ctl_on_read, ctl_on_write, ctl_on_event, c);
    bufferevent_enable(c->bev, EV_READ);
    c->next = ctl->clients;
    ctl->clients = c;
    ctl->nclients++;
    ctl->connected++;
}

uint64_t
ctl_client_id(const struct ctl_client *client)
{
    return client->id;
}

struct ctl_client *
ctl_client_find(struct ctl *ctl, uint64_t id)
{
    for (struct ctl_client *c = ctl->clients; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

/* ---- watch / unwatch ---- */

static int
ctl_check_topics(struct ctl_request *req, json_t **out)
{
    json_t *topics = json_object_get(req->msg, "topics");
    size_t i;
    json_t *t;

    if (topics == NULL) {
        *out = NULL;
        return 0;
    }
    if (!json_is_array(topics)) {
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT,
                        "invalid element: topics must be an array");
        return -1;
    }
    json_array_foreach(topics, i, t) {
        if (!json_is_string(t) || json_string_length(t) == 0) {
            ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT,
                            "invalid element: topics[%zu] must be a "
                            "non-empty string", i);
            return -1;
        }
    }
    *out = topics;
    return 0;
}

static int
ctl_topic_index(json_t *list, const char *topic)
{
    size_t i;
    json_t *t;

    json_array_foreach(list, i, t)
        if (strcmp(json_string_value(t), topic) == 0)
            return (int)i;
    return -1;
}

static void
ctl_req_watch(void *arg, struct ctl_request *req)
{
    json_t *topics, *t;
    size_t i;

    (void)arg;
    if (ctl_check_topics(req, &topics) != 0)
        return;
    if (topics == NULL || json_array_size(topics) == 0) {
        ctl_reply_error(req, CTL_ERR_MISSING_ELEMENT,
                        "missing element: topics");
        return;
    }
    json_array_foreach(topics, i, t)
        if (ctl_topic_index(req->client->topics, json_string_value(t)) < 0)
            json_array_append(req->client->topics, t);
    ctl_reply_success(req, json_pack("{s:O}", "topics",
                                     req->client->topics));
}

static void
ctl_req_unwatch(void *arg, struct ctl_request *req)
{
    json_t *topics, *t;
    size_t i;

    (void)arg;
    if (ctl_check_topics(req, &topics) != 0)
        return;
    if (topics == NULL) {
        json_array_clear(req->client->topics);
    } else {
        json_array_foreach(topics, i, t) {
            int at = ctl_topic_index(req->client->topics,
                                     json_string_value(t));
            if (at >= 0)
                json_array_remove(req->client->topics, (size_t)at);
        }
    }
    ctl_reply_success(req, json_pack("{s:O}", "topics",
                                     req->client->topics));
}

/* ---- lifecycle ---- */

int
ctl_register(struct ctl *ctl, const char *request, ctl_request_cb cb,
             void *arg)
{
    struct ctl_handler *h;

    if (ctl_handler_find(ctl, request))
        return -EEXIST;
    h = realloc(ctl->handlers, (ctl->nhandlers + 1) * sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    ctl->handlers = h;
    h[ctl->nhandlers].name = strdup(request);
    if (h[ctl->nhandlers].name == NULL)
        return -ENOMEM;
    h[ctl->nhandlers].cb = cb;
    h[ctl->nhandlers].arg = arg;
    ctl->nhandlers++;
    return 0;
}

int
ctl_on_close(struct ctl *ctl, ctl_close_cb cb, void *arg)
{
    struct ctl_close_hook *h = realloc(ctl->hooks,
                                       (ctl->nhooks + 1) * sizeof(*h));

    if (h == NULL)
        return -ENOMEM;
    ctl->hooks = h;
    h[ctl->nhooks].cb = cb;
    h[ctl->nhooks].arg = arg;
    ctl->nhooks++;
    return 0;
}

void
ctl_off_close(struct ctl *ctl, ctl_close_cb cb, void *arg)
{
    for (size_t i = 0; i < ctl->nhooks; i++) {
        if (ctl->hooks[i].cb == cb && ctl->hooks[i].arg == arg) {
            memmove(&ctl->hooks[i], &ctl->hooks[i + 1],
                    (ctl->nhooks - i - 1) * sizeof(ctl->hooks[0]));
            ctl->nhooks--;
            return;
        }
    }
}

/* chmod and chgrp the socket file; @return 0 or -errno (logged). */
static int
ctl_apply_perms(const char *path, const struct cfg_control *cfg)
{
    if (chmod(path, cfg->mode) != 0) {
        log_err("ctl", "chmod %s: %s", path, strerror(errno));
        return -errno;
    }
    if (cfg->group && cfg->group[0]) {
        unsigned *gid = NULL;
        size_t n = 0;
        char bad[64];
        int rc = cfg_parse_ids(cfg->group, 1, &gid, &n, bad, sizeof(bad));

        if (rc != 0 || n != 1) {
            log_err("ctl", "control group '%s' does not exist", cfg->group);
            free(gid);
            return rc ? rc : -EINVAL;
        }
        rc = chown(path, (uid_t)-1, (gid_t)gid[0]);
        free(gid);
        if (rc != 0) {
            log_err("ctl", "chgrp %s %s: %s", cfg->group, path,
                    strerror(errno));
            return -errno;
        }
    }
    return 0;
}

/* @return 0 only if nobody listens on @p sun (a file left by a crash):
 * a full backlog, or a socket we may not open, is someone's. */
static int
ctl_socket_live(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int live;

    if (fd < 0)
        return 0;
    live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ||
           errno != ECONNREFUSED;
    close(fd);
    return live;
}

static int
ctl_listen(struct ctl *ctl, const struct cfg_control *cfg)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct stat st;

    if (strlen(cfg->socket) >= sizeof(sun.sun_path)) {
        log_err("ctl", "control socket path too long: %s", cfg->socket);
        return -ENAMETOOLONG;
    }
    strcpy(sun.sun_path, cfg->socket);
    /* A socket file left by a crash would make bind fail forever; one a
     * running daemon listens on is that daemon's. */
    if (lstat(cfg->socket, &st) == 0 && S_ISSOCK(st.st_mode)) {
        if (ctl_socket_live(&sun)) {
            log_err("ctl", "control socket %s is in use by a running "
                    "daemon: stop it, or give this one another socket",
                    cfg->socket);
            return -EADDRINUSE;
        }
        unlink(cfg->socket);
    }
    ctl->listener = evconnlistener_new_bind(
        ctl->base, ctl_on_accept, ctl,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64,
        (struct sockaddr *)&sun, sizeof(sun));
    if (ctl->listener == NULL) {
        log_err("ctl", "cannot listen on %s: %s", cfg->socket,
                strerror(errno));
        return -errno ? -errno : -EIO;
    }
    return ctl_apply_perms(cfg->socket, cfg);
}

int
ctl_create(struct ctl **out, struct event_base *base,
           const struct cfg_control *cfg)
{
    struct ctl *ctl = calloc(1, sizeof(*ctl));
    int rc;

    if (ctl == NULL || (ctl->path = strdup(cfg->socket)) == NULL) {
        free(ctl);
        return -ENOMEM;
    }
    ctl->base = base;
    ctl->max_line = cfg->max_line;
    ctl->max_output = cfg->max_output;
    ctl->max_clients = cfg->max_clients;
    rc = ctl_ids_set(&ctl->users, cfg->allow_users, 0);
    if (rc == 0)
        rc = ctl_ids_set(&ctl->groups, cfg->allow_groups, 1);
    if (rc == 0)
        rc = ctl_listen(ctl, cfg);
    if (rc == 0)
        rc = ctl_register(ctl, "watch", ctl_req_watch, ctl);
    if (rc == 0)
        rc = ctl_register(ctl, "unwatch", ctl_req_unwatch, ctl);
    if (rc != 0) {
        ctl_destroy(ctl);
        return rc;
    }
    *out = ctl;
    return 0;
}

int
ctl_reconfigure(struct ctl *ctl, const struct cfg_control *cfg)
{
    if (ctl_ids_set(&ctl->users, cfg->allow_users, 0) != 0 ||
        ctl_ids_set(&ctl->groups, cfg->allow_groups, 1) != 0)
        return -EINVAL;
    ctl->max_line = cfg->max_line;
    ctl->max_output = cfg->max_output;
    ctl->max_clients = cfg->max_clients;
    return ctl_apply_perms(ctl->path, cfg);
}

void
ctl_destroy(struct ctl *ctl)
{
    if (ctl == NULL)
        return;
    while (ctl->clients) {
        struct ctl_client *c = ctl->clients;

        ctl_client_close(c, NULL);
    }
    if (ctl->listener) {
        evconnlistener_free(ctl->listener);
        unlink(ctl->path);
    }
    for (size_t i = 0; i < ctl->nhandlers; i++)
        free(ctl->handlers[i].name);
    free(ctl->handlers);
    free(ctl->hooks);
    free(ctl->users.ids);
    free(ctl->groups.ids);
    free(ctl->path);
    free(ctl);
}

json_t *
ctl_status_json(const struct ctl *ctl)
{
    size_t n = 0;

    for (const struct ctl_client *c = ctl->clients; c; c = c->next)
        n++;
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "socket", ctl->path,
                     "clients", (json_int_t)n,
                     "connections", (json_int_t)ctl->nclients,
                     "refused", (json_int_t)ctl->refused,
                     "requests", (json_int_t)ctl->requests,
                     "errors", (json_int_t)ctl->errors,
                     "dropped_slow", (json_int_t)ctl->dropped_slow);
}

void
ctl_metrics(void *arg, struct metrics_out *o)
{
    const struct ctl *ctl = arg;
    size_t n = 0;

    for (const struct ctl_client *c = ctl->clients; c; c = c->next)
        n++;
    metrics_family(o, "sipbridge_control_clients", METRICS_GAUGE,
                   "Control socket clients connected now.");
    metrics_sample(o, (double)n, NULL);
    metrics_family(o, "sipbridge_control_connections_total", METRICS_COUNTER,
                   "Control socket connections, by outcome (refused: not "
                   "allowed, or max_clients reached).");
    metrics_sample(o, (double)ctl->nclients, "outcome", "accepted", NULL);
    metrics_sample(o, (double)ctl->refused, "outcome", "refused", NULL);
    metrics_family(o, "sipbridge_control_requests_total", METRICS_COUNTER,
                   "Control requests received.");
    metrics_sample(o, (double)ctl->requests, NULL);
    metrics_family(o, "sipbridge_control_errors_total", METRICS_COUNTER,
                   "Error replies sent on the control socket (bad lines "
                   "included).");
    metrics_sample(o, (double)ctl->errors, NULL);
    metrics_family(o, "sipbridge_control_slow_clients_dropped_total",
                   METRICS_COUNTER, "Clients disconnected for not reading "
                   "their output (max_output).");
    metrics_sample(o, (double)ctl->dropped_slow, NULL);
}

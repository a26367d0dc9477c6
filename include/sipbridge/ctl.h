/*
 * ctl.h - the control socket: JSON lines in, replies and events out.
 *
 * Owns the listening Unix socket and every client connection.  A request
 * is one JSON object per line; its handler, looked up by "request" in a
 * table that the core and each capability fill with ctl_register(), must
 * answer it exactly once with ctl_reply_success/ack/error (the core answers
 * 462 for a handler that did not).  Results that come later from the network
 * are events: ctl_client_send() for a client's own handles, ctl_publish() for
 * daemon-wide topics that clients "watch".  A client that does not read is
 * dropped once its unsent output passes max_output: nobody blocks the loop.
 * Protocol: docs/control-protocol.md.  Loop thread only.
 */
#ifndef SIPBRIDGE_CTL_H
#define SIPBRIDGE_CTL_H

#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "sipbridge/cfg.h"

/* Error codes: Janus SIP plugin's where one fits, ours from 460 up. */
#define CTL_ERR_INVALID_JSON    441 /* not a JSON object */
#define CTL_ERR_INVALID_REQUEST 442 /* unknown "request" */
#define CTL_ERR_MISSING_ELEMENT 443 /* a mandatory field is missing */
#define CTL_ERR_INVALID_ELEMENT 444 /* a field has a wrong type or value */
#define CTL_ERR_WRONG_STATE     447 /* not possible in the current state */
#define CTL_ERR_LINE_TOO_LONG   460 /* line over max_line; connection closed */
#define CTL_ERR_RELOAD_FAILED   461 /* new config invalid or needs restart */
#define CTL_ERR_INTERNAL        462 /* the daemon failed; see its log */
#define CTL_ERR_NOT_ALLOWED     463 /* uid/gid not in allow_users/groups */
#define CTL_ERR_TOO_MANY_CLIENTS 464 /* max_clients reached */

struct ctl;
struct ctl_client;

/* One request being handled; valid until it is answered. */
struct ctl_request {
    struct ctl_client *client;
    const char *name;         /* the "request" value */
    json_t *msg;              /* the whole request, borrowed */
    json_t *transaction;      /* borrowed, may be NULL */
    int answered;
};

typedef void (*ctl_request_cb)(void *arg, struct ctl_request *req);
typedef void (*ctl_close_cb)(void *arg, struct ctl_client *client);

/**
 * Listen on cfg->socket (stale socket files are replaced), chmod to
 * cfg->mode and chgrp to cfg->group.  @return 0 and *out, or -errno (logged).
 */
int ctl_create(struct ctl **out, struct event_base *base,
               const struct cfg_control *cfg);
/** Close every client and the socket, and unlink it. */
void ctl_destroy(struct ctl *ctl);

/** Apply live control settings (mode, group, limits); not the path. */
int ctl_reconfigure(struct ctl *ctl, const struct cfg_control *cfg);

/** Add a request handler.  @return 0, -EEXIST, -ENOMEM. */
int ctl_register(struct ctl *ctl, const char *request, ctl_request_cb cb,
                 void *arg);
/** Be told when a client goes away (to drop its handles).  @return 0. */
int ctl_on_close(struct ctl *ctl, ctl_close_cb cb, void *arg);
/** Stop being told (an owner freed before the control socket). */
void ctl_off_close(struct ctl *ctl, ctl_close_cb cb, void *arg);

/* Answers; each takes ownership of @p data (may be NULL). */
void ctl_reply_success(struct ctl_request *req, json_t *data);
void ctl_reply_ack(struct ctl_request *req);
void ctl_reply_error(struct ctl_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Answers that need a round trip first (a database query): ctl_defer()
 * takes the request over, and exactly one ctl_deferred_success/error()
 * later answers it and frees the handle.  If the client has gone by then,
 * the answer is dropped.
 */
struct ctl_deferred;
/** @return the handle, or NULL (out of memory; @p req was answered 462). */
struct ctl_deferred *ctl_defer(struct ctl_request *req);
/** Takes ownership of @p data (may be NULL). */
void ctl_deferred_success(struct ctl_deferred *d, json_t *data);
void ctl_deferred_error(struct ctl_deferred *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Send @p msg (borrowed) to one client.  @return 0, or -EPIPE if gone. */
int ctl_client_send(struct ctl_client *client, json_t *msg);
/** Stable id of a client, for keeping across callbacks. */
uint64_t ctl_client_id(const struct ctl_client *client);
/** @return the client with @p id, or NULL if it has gone. */
struct ctl_client *ctl_client_find(struct ctl *ctl, uint64_t id);

/**
 * Send {"sipbridge":"event","topic":T,"result":R} to every client watching
 * @p topic.  @p result is borrowed.
 */
void ctl_publish(struct ctl *ctl, const char *topic, json_t *result);

/** @return 1 if some client watches @p topic (or "*"): lets a publisher
 *  skip building an event nobody would get. */
int ctl_watched(const struct ctl *ctl, const char *topic);

/** @return a new JSON object with client and request counters. */
json_t *ctl_status_json(const struct ctl *ctl);

struct metrics_out;
/** Collector (metrics_add) of the control socket families: @p arg is the ctl. */
void ctl_metrics(void *arg, struct metrics_out *out);

#endif

/*
 * outbound.c - one publish client per outbound-publish.
 *
 * One transaction at a time, as Asterisk does (each 2xx hands out the
 * ETag the next request must carry).  Changed names wait in a coalescing
 * queue and the body is built when one is sent, from the state of that
 * moment: while the peer is slow or down, changes pile up as names, not as
 * bodies, and on recovery the latest state of each goes out once.
 * PUBLISH is sent with nua_method(): nua's own publish usage would refresh,
 * retry and re-send bodies on its own terms, and we need ours.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>

#include "pubstate_int.h"
#include "sipbridge/log.h"
#include "sipbridge/loop.h"
#include "sipbridge/peer.h"

/* Asterisk never refreshes sooner than this after a response. */
#define PS_REFRESH_FLOOR_S 5

static void ps_t_kick(struct ps_target *t);

static const char *const ps_t_state_names[] = {
    "idle", "publishing", "backoff",
};

/* ---- timer: refresh or backoff ---- */

static void
ps_t_arm(struct ps_target *t, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, &t->next_at);
    t->next_at.tv_sec += ms / 1000;
    t->next_at.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->next_at.tv_nsec >= 1000000000L) {
        t->next_at.tv_sec++;
        t->next_at.tv_nsec -= 1000000000L;
    }
    loop_timer_add_ms(t->timer, ms);
}

static void
ps_t_timer(evutil_socket_t fd, short what, void *arg)
{
    struct ps_target *t = arg;

    (void)fd;
    (void)what;
    if (t->state == PS_T_BACKOFF)
        t->state = PS_T_IDLE;
    else
        t->refresh_due = true;
    ps_t_kick(t);
}

/* Refresh before the grant ends: Asterisk, as a server, expires exactly. */
static unsigned
ps_t_refresh_delay(unsigned granted)
{
    unsigned margin = granted / 10 > PS_REFRESH_FLOOR_S ? granted / 10
                                                        : PS_REFRESH_FLOOR_S;

    if (granted > 2 * margin)
        return granted - margin;
    return granted / 2 ? granted / 2 : 1;
}

/* ---- sending ---- */

static char *
ps_t_item_body(struct ps_target *t, const char *name)
{
    struct pubstate *ps = t->ps;
    struct pubstate_device_entry d;
    struct pubstate_mailbox_entry m;

    if (t->cfg.event == PS_EV_DEVICE) {
        if (pubstate_store_get_device(ps->store, name, &ps->eid, &d) != 0)
            return NULL;
        return pubstate_body_device(name, d.state, &ps->eid);
    }
    if (pubstate_store_get_mailbox(ps->store, name, &ps->eid, &m) != 0)
        return NULL;
    return pubstate_body_mailbox(name, m.new_msgs, m.old_msgs, &ps->eid);
}

/* A new Call-ID and From tag: the client starts afresh (after a 412). */
static void
ps_t_new_dialog_ids(struct ps_target *t)
{
    uint64_t r[2];

    if (getrandom(r, sizeof(r), 0) != sizeof(r))
        r[0] = (uint64_t)time(NULL) ^ (uintptr_t)t, r[1] = t->sent;
    snprintf(t->call_id, sizeof(t->call_id), "%016llx%08llx@sipbridge",
             (unsigned long long)r[0], (unsigned long long)(r[1] >> 32));
    snprintf(t->from_tag, sizeof(t->from_tag), "%08llx",
             (unsigned long long)(r[1] & 0xffffffffu));
}

/*
 * One handle per request, all with the client's Call-ID and From tag, as
 * Asterisk's publish client does: a handle kept across requests would put
 * the To tag of the last response in the next request, which a server
 * answers 481 (a PUBLISH does not make a dialog).
 */
static nua_handle_t *
ps_t_handle(struct ps_target *t)
{
    const char *f = t->cfg.from_uri;
    char from[600];

    if (t->call_id[0] == '\0')
        ps_t_new_dialog_ids(t);
    snprintf(from, sizeof(from), strchr(f, '<') ? "%s;tag=%s" : "<%s>;tag=%s",
             f, t->from_tag);
    return nua_handle(sip_nua(t->ps->deps.sip), (nua_hmagic_t *)&t->owner,
                      NUTAG_URL(t->cfg.server_uri), SIPTAG_FROM_STR(from),
                      SIPTAG_TO_STR(t->cfg.to_uri),
                      SIPTAG_CALL_ID_STR(t->call_id), TAG_END());
}

static void
ps_t_drop_handle(struct ps_target *t)
{
    if (t->nh) {
        nua_handle_bind(t->nh, NULL);
        nua_handle_destroy(t->nh);
        t->nh = NULL;
    }
}

static int
ps_t_send(struct ps_target *t, const char *body)
{
    char exp[16];

    ps_t_drop_handle(t);
    if ((t->nh = ps_t_handle(t)) == NULL)
        return -ENOMEM;
    /* max_auth_attempts counts the challenges of one request. */
    if (!t->auth_retry)
        t->auth_attempts = 0;
    t->auth_retry = t->auth_sent = false;
    snprintf(exp, sizeof(exp), "%u", t->expires_req);
    nua_method(t->nh, NUTAG_METHOD("PUBLISH"), NUTAG_URL(t->cfg.server_uri),
               SIPTAG_EVENT_STR(ps_event_names[t->cfg.event]),
               SIPTAG_EXPIRES_STR(exp),
               TAG_IF(t->etag, SIPTAG_IF_MATCH_STR(t->etag)),
               TAG_IF(t->cfg.proxy, SIPTAG_ROUTE_STR(t->cfg.proxy)),
               TAG_IF(body, SIPTAG_CONTENT_TYPE_STR(PUBSTATE_CONTENT_TYPE)),
               TAG_IF(body, SIPTAG_PAYLOAD_STR(body)), TAG_END());
    t->state = PS_T_SENDING;
    t->sent++;
    evtimer_del(t->timer);
    loop_kick(sip_loop(t->ps->deps.sip));
    return 0;
}

/* The next queued name with a local state, or NULL. */
static char *
ps_t_next_item(struct ps_target *t, char **body)
{
    char *name;

    while ((name = pubstate_queue_pop(t->queue)) != NULL) {
        if ((*body = ps_t_item_body(t, name)) != NULL)
            return name;
        free(name);
    }
    return NULL;
}

static void
ps_t_kick(struct ps_target *t)
{
    char *body = NULL, *name;

    if (t->state != PS_T_IDLE || t->stopped)
        return;
    if (t->want_refresh_req) {
        t->kind = PS_SEND_REFRESH_REQ;
        t->want_refresh_req = false;
        body = pubstate_body_refresh(&t->ps->eid);
    } else if ((name = ps_t_next_item(t, &body)) != NULL) {
        t->kind = PS_SEND_ITEM;
        free(t->item);
        t->item = name;
    } else if (t->refresh_due && t->etag) {
        t->kind = PS_SEND_REFRESH;
    } else {
        return;
    }
    t->refresh_due = false;
    if (ps_t_send(t, body) != 0)
        log_err("pubstate", "[%s] cannot create a request", t->cfg.name);
    free(body);
}

/* ---- responses ---- */

/* Put back what the failed request carried, to be sent again. */
static void
ps_t_requeue(struct ps_target *t, bool refresh_as_item)
{
    switch (t->kind) {
    case PS_SEND_ITEM:
        if (t->item)
            pubstate_queue_push_front(t->queue, t->item);
        break;
    case PS_SEND_REFRESH_REQ:
        t->want_refresh_req = true;
        break;
    case PS_SEND_REFRESH:
        /* After a 412 a body-less refresh means nothing: send the
         * current state of the last item instead (Asterisk sends an
         * empty PUBLISH, which its own receiver answers 400). */
        if (refresh_as_item && t->last_item)
            pubstate_queue_push_front(t->queue, t->last_item);
        else
            t->refresh_due = true;
        break;
    }
}

static void
ps_t_backoff(struct ps_target *t, int status, const char *phrase)
{
    unsigned ms = loop_backoff_ms(t->failures, t->cfg.retry_min_ms,
                                  t->cfg.retry_max_ms);

    t->failed++;
    if (t->failures++ == 0)
        log_warn("pubstate", "[%s] PUBLISH to %s failed: %d %s; retrying "
                 "with backoff, changes are kept", t->cfg.name,
                 t->cfg.server_uri, status, phrase);
    else
        log_debug("pubstate", "[%s] PUBLISH failed again: %d %s",
                  t->cfg.name, status, phrase);
    ps_t_requeue(t, false);
    t->state = PS_T_BACKOFF;
    ps_t_arm(t, ms);
}

static void
ps_t_ok(struct ps_target *t, const sip_t *sip)
{
    const sip_expires_t *ex = sip ? sip->sip_expires : NULL;

    if (t->failures)
        log_notice("pubstate", "[%s] PUBLISH to %s works again after %u "
                   "failures", t->cfg.name, t->cfg.server_uri, t->failures);
    t->ok++;
    t->failures = 0;
    free(t->etag);
    t->etag = sip && sip->sip_etag ? strdup(sip->sip_etag->g_string) : NULL;
    t->granted = ex ? ex->ex_delta : t->expires_req;
    /* A 423 made nua raise the Expires it sent: keep to that. */
    if (ex && ex->ex_delta > t->expires_req)
        t->expires_req = ex->ex_delta;
    if (t->kind == PS_SEND_ITEM && t->item) {
        free(t->last_item);
        t->last_item = t->item;
        t->item = NULL;
    }
    t->state = PS_T_IDLE;
    if (t->etag && t->granted)
        ps_t_arm(t, ps_t_refresh_delay(t->granted) * 1000u);
    ps_t_kick(t);
}

/* A 412: the peer forgot us.  New Call-ID, no ETag, current state. */
static void
ps_t_restart(struct ps_target *t)
{
    log_info("pubstate", "[%s] 412 from %s: publishing afresh", t->cfg.name,
             t->cfg.server_uri);
    free(t->etag);
    t->etag = NULL;
    t->call_id[0] = '\0';
    ps_t_requeue(t, true);
    t->state = PS_T_IDLE;
    ps_t_kick(t);
}

/* Answer a challenge with outbound_auth; @return 0 if the request goes on. */
static int
ps_t_authenticate(struct ps_target *t, const sip_t *sip)
{
    const struct peer_auth *a = t->cfg.auth ? peer_auth_find(t->ps->peers,
                                                             t->cfg.auth)
                                            : NULL;
    char cred[512];

    if (a == NULL || sip_auth_credentials(sip, a->username, a->password,
                                          cred, sizeof(cred)) < 0) {
        log_err("pubstate", "[%s] %s challenged us and no outbound_auth is "
                "set", t->cfg.name, t->cfg.server_uri);
        return -EACCES;
    }
    if (t->auth_attempts >= t->cfg.max_auth_attempts) {
        log_err("pubstate", "[%s] %s rejected our credentials %u times "
                "(max_auth_attempts)", t->cfg.name, t->cfg.server_uri,
                t->auth_attempts);
        return -EACCES;
    }
    if (t->auth_sent) {
        /* nua has dropped the refused credentials with the handle's
         * challenge: ask again on a new handle, and answer that. */
        ps_t_drop_handle(t);
        ps_t_requeue(t, false);
        t->state = PS_T_IDLE;
        t->auth_retry = true;
        ps_t_kick(t);
        return 0;
    }
    t->auth_sent = true;
    t->auth_attempts++;
    nua_authenticate(t->nh, NUTAG_AUTH(cred), TAG_END());
    loop_kick(sip_loop(t->ps->deps.sip));
    return 0;
}

static void
ps_t_response(struct ps_target *t, int status, const char *phrase,
              const sip_t *sip)
{
    if (status < 200 || t->state != PS_T_SENDING)
        return;
    t->last_status = status;
    snprintf(t->last_phrase, sizeof(t->last_phrase), "%s", phrase);
    if ((status == 401 || status == 407) && sip &&
        ps_t_authenticate(t, sip) == 0)
        return;
    ps_t_drop_handle(t);
    if (status < 300)
        ps_t_ok(t, sip);
    else if (status == 412 && t->etag)
        ps_t_restart(t);
    else
        ps_t_backoff(t, status, phrase);
}

static void
ps_t_event(struct sip_owner *self, const struct sip_event *ev)
{
    struct ps_target *t = (struct ps_target *)self;

    if (ev->event == nua_r_method)
        ps_t_response(t, ev->status, ev->phrase, ev->sip);
}

/* ---- lifecycle ---- */

int
ps_target_create(struct pubstate *ps, struct ps_target_cfg *cfg,
                 struct ps_target **out)
{
    struct ps_target *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -ENOMEM;
    t->owner.event = ps_t_event;
    t->ps = ps;
    t->timer = evtimer_new(ps->base, ps_t_timer, t);
    if (t->timer == NULL || pubstate_queue_create(&t->queue) < 0) {
        if (t->timer)
            event_free(t->timer);
        free(t);
        return -ENOMEM;
    }
    t->cfg = *cfg;                  /* takes over what cfg owns */
    memset(cfg, 0, sizeof(*cfg));
    t->expires_req = t->cfg.expiration;
    *out = t;
    return 0;
}

void
ps_target_reconfigure(struct ps_target *t, struct ps_target_cfg *cfg)
{
    ps_target_cfg_free(&t->cfg);
    t->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    t->expires_req = t->cfg.expiration;
}

void
ps_target_stop(struct ps_target *t)
{
    t->stopped = true;
    evtimer_del(t->timer);
    ps_t_drop_handle(t);
}

void
ps_target_destroy(struct ps_target *t)
{
    if (t == NULL)
        return;
    ps_target_stop(t);
    event_free(t->timer);
    pubstate_queue_destroy(t->queue);
    ps_target_cfg_free(&t->cfg);
    free(t->etag);
    free(t->item);
    free(t->last_item);
    free(t);
}

struct ps_target *
ps_target_find(struct pubstate *ps, const char *name)
{
    struct ps_target *t;

    for (t = ps->targets; t; t = t->next)
        if (strcmp(t->cfg.name, name) == 0)
            return t;
    return NULL;
}

/* ---- what to send ---- */

void
ps_target_enqueue(struct ps_target *t, const char *name)
{
    if (!ps_filter_match(&t->cfg.filter[t->cfg.event], name))
        return;
    if (pubstate_queue_push(t->queue, name) == 0)
        t->coalesced++;
    ps_t_kick(t);
}

static int
ps_t_dump_device(void *arg, const char *name,
                 const struct pubstate_device_entry *e, size_t n)
{
    struct ps_target *t = arg;

    for (size_t i = 0; i < n; i++)
        if (pubstate_eid_equal(&e[i].eid, &t->ps->eid))
            ps_target_enqueue(t, name);
    return 0;
}

static int
ps_t_dump_mailbox(void *arg, const char *name,
                  const struct pubstate_mailbox_entry *e, size_t n)
{
    struct ps_target *t = arg;

    for (size_t i = 0; i < n; i++)
        if (pubstate_eid_equal(&e[i].eid, &t->ps->eid))
            ps_target_enqueue(t, name);
    return 0;
}

void
ps_target_dump_local(struct ps_target *t)
{
    if (t->cfg.event == PS_EV_DEVICE)
        pubstate_store_foreach_device(t->ps->store, ps_t_dump_device, t);
    else
        pubstate_store_foreach_mailbox(t->ps->store, ps_t_dump_mailbox, t);
}

void
ps_target_request_refresh(struct ps_target *t)
{
    t->want_refresh_req = true;
    ps_t_kick(t);
}

/* ---- status ---- */

static json_t *
ps_t_seconds_left(const struct ps_target *t)
{
    struct timespec now;
    double left;

    if (!evtimer_pending(t->timer, NULL))
        return json_null();
    clock_gettime(CLOCK_MONOTONIC, &now);
    left = (double)(t->next_at.tv_sec - now.tv_sec) +
           (double)(t->next_at.tv_nsec - now.tv_nsec) / 1e9;
    return json_real(left > 0 ? left : 0);
}

json_t *
ps_target_json(const struct ps_target *t)
{
    json_t *last = t->last_status
        ? json_pack("{s:i,s:s}", "code", t->last_status, "reason",
                    t->last_phrase)
        : json_null();
    bool backoff = t->state == PS_T_BACKOFF;

    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:I,s:I,s:o,s:o,s:I,s:I,"
                     "s:I,s:I,s:i}",
                     "name", t->cfg.name,
                     "event", ps_event_names[t->cfg.event],
                     "server_uri", t->cfg.server_uri,
                     "state", ps_t_state_names[t->state],
                     "last_response", last,
                     "etag", t->etag ? json_string(t->etag) : json_null(),
                     "expires", (json_int_t)t->granted,
                     "queued", (json_int_t)pubstate_queue_len(t->queue),
                     "next_refresh", backoff ? json_null()
                                             : ps_t_seconds_left(t),
                     "retry_in", backoff ? ps_t_seconds_left(t) : json_null(),
                     "sent", (json_int_t)t->sent, "ok", (json_int_t)t->ok,
                     "failed", (json_int_t)t->failed,
                     "coalesced", (json_int_t)t->coalesced,
                     "failures_in_row", (int)t->failures);
}

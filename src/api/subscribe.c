/*
 * subscribe.c - subscribe / unsubscribe: one nua subscription per event
 * package and target, refreshed by nua before it expires; its NOTIFYs
 * become notify events.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include "api_int.h"
#include "sipbridge/log.h"
#include "sipbridge/loop.h"

struct api_sub {
    struct api_nh nh;
    struct api_sub *next;
    char *event, *to;
    char call_id[128];
    bool authed, ending;
};

static void
api_sub_free(struct api_handle *h, struct api_sub *s)
{
    for (struct api_sub **pp = &h->subs; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    api_nh_drop(&s->nh);
    free(s->event);
    free(s->to);
    free(s);
}

/* A handle going away ends its subscriptions (nua sends Expires: 0). */
void
api_subs_free(struct api_handle *h)
{
    while (h->subs) {
        struct api_sub *s = h->subs;

        if (s->nh.nh && !s->ending) {
            nua_handle_bind(s->nh.nh, NULL);
            nua_unsubscribe(s->nh.nh, TAG_END());
            nua_handle_destroy(s->nh.nh);
            s->nh.nh = NULL;
        }
        api_sub_free(h, s);
    }
}

static struct api_sub *
api_sub_find(struct api_handle *h, const char *event, const char *to)
{
    for (struct api_sub *s = h->subs; s; s = s->next)
        if (strcmp(s->event, event) == 0 && strcmp(s->to, to) == 0)
            return s;
    return NULL;
}

static json_t *
api_sub_result(const struct api_sub *s, const struct sip_event *ev)
{
    json_t *f = json_pack("{s:i,s:s}", "code", ev->status, "reason",
                          ev->phrase);
    json_t *hdrs = api_collect_headers(s->nh.h, ev->sip);

    if (ev->sip && ev->sip->sip_expires)
        json_object_set_new(f, "expires",
                            json_integer(ev->sip->sip_expires->ex_delta));
    if (hdrs)
        json_object_set_new(f, "headers", hdrs);
    return f;
}

static void
api_sub_response(struct api_sub *s, const struct sip_event *ev)
{
    struct api_handle *h = s->nh.h;
    const struct api_account *a = api_identity(h);
    char cred[1024];

    if ((ev->status == 401 || ev->status == 407) && !s->authed && ev->sip &&
        a && api_credentials(a, ev->sip, cred, sizeof(cred)) == 0) {
        s->authed = true;
        nua_authenticate(s->nh.nh, NUTAG_AUTH(cred), TAG_END());
        loop_kick(sip_loop(h->api->deps.sip));
        return;
    }
    api_emit(h, ev->status < 300 ? "subscribe_succeeded" : "subscribe_failed",
             api_sub_result(s, ev), s->call_id);
    /* After an un-SUBSCRIBE's 2xx the final NOTIFY is still to come:
     * freeing now would make nua un-SUBSCRIBE again and answer it 481. */
    if (ev->status >= 300)
        api_sub_free(h, s);
}

static void
api_sub_notify(struct api_sub *s, const struct sip_event *ev)
{
    const sip_t *sip = ev->sip;
    const sip_payload_t *pl = sip->sip_payload;
    const char *state = sip->sip_subscription_state
                            ? sip->sip_subscription_state->ss_substate : "";
    json_t *f, *hdrs;

    nua_respond(ev->nh, SIP_200_OK, NUTAG_WITH_THIS(ev->nua), TAG_END());
    f = json_pack("{s:s,s:s,s:s*,s:s%}", "notify", s->event, "substate",
                  state, "content-type", sip->sip_content_type
                  ? sip->sip_content_type->c_type : NULL, "content",
                  pl ? pl->pl_data : "", pl ? (size_t)pl->pl_len : (size_t)0);
    if (f == NULL)
        f = json_pack("{s:s,s:s,s:s}", "notify", s->event, "substate", state,
                      "content", "");
    if ((hdrs = api_collect_headers(s->nh.h, sip)) != NULL)
        json_object_set_new(f, "headers", hdrs);
    api_emit(s->nh.h, "notify", f, s->call_id);
}

/* nua ended the subscription itself (a fetch without NOTIFY, a failed
 * refresh): no message comes with it. */
static void
api_sub_lost(struct api_sub *s, const struct sip_event *ev)
{
    struct api_handle *h = s->nh.h;

    api_emit(h, "subscribe_failed", json_pack("{s:i,s:s}", "code",
                                              ev->status, "reason",
                                              ev->phrase), s->call_id);
    api_sub_free(h, s);
}

static bool
api_sub_terminated(const sip_t *sip)
{
    return sip->sip_subscription_state &&
           strcasecmp(sip->sip_subscription_state->ss_substate,
                      "terminated") == 0;
}

static void
api_sub_event(struct sip_owner *self, const struct sip_event *ev)
{
    struct api_sub *s = (struct api_sub *)self;

    if (ev->event == nua_i_notify && ev->sip == NULL) {
        api_sub_lost(s, ev);
    } else if (ev->event == nua_i_notify) {
        api_sub_notify(s, ev);
        /* The notifier ended it: the same event and target may be
         * subscribed again. */
        if (api_sub_terminated(ev->sip))
            api_sub_free(s->nh.h, s);
    } else if ((ev->event == nua_r_subscribe ||
                ev->event == nua_r_unsubscribe) && ev->status >= 200) {
        api_sub_response(s, ev);
    }
}

static int
api_sub_send(struct api_handle *h, struct api_sub *s, const char *accept,
             unsigned ttl, const char *headers)
{
    const struct api_account *a = api_identity(h);
    char exp[16];

    if (api_nh_new(&s->nh, h, api_sub_event, s->to) == NULL)
        return -ENOMEM;
    snprintf(exp, sizeof(exp), "%u", ttl);
    nua_subscribe(s->nh.nh, NUTAG_URL(s->to), SIPTAG_EVENT_STR(s->event),
                  TAG_IF(accept, SIPTAG_ACCEPT_STR(accept)),
                  SIPTAG_EXPIRES_STR(exp), SIPTAG_CALL_ID_STR(s->call_id),
                  TAG_IF(a->outbound_proxy, NUTAG_PROXY(a->outbound_proxy)),
                  TAG_IF(a->user_agent, SIPTAG_USER_AGENT_STR(a->user_agent)),
                  TAG_IF(headers, SIPTAG_HEADER_STR(headers)), TAG_END());
    loop_kick(sip_loop(h->api->deps.sip));
    return 0;
}

static struct api_sub *
api_sub_new(struct api_handle *h, const char *event, const char *to,
            const char *call_id)
{
    struct api_sub *s = calloc(1, sizeof(*s));

    if (s == NULL || !(s->event = strdup(event)) || !(s->to = strdup(to))) {
        if (s)
            free(s->event);
        free(s);
        return NULL;
    }
    if (call_id && call_id[0])
        snprintf(s->call_id, sizeof(s->call_id), "%s", call_id);
    else
        snprintf(s->call_id, sizeof(s->call_id), "sub-%p-%s", (void *)s,
                 h->route);
    s->next = h->subs;
    h->subs = s;
    return s;
}

void
api_req_subscribe(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    const char *event, *to, *accept, *call_id;
    unsigned ttl = 3600;
    char *headers = NULL;
    struct api_sub *s;

    if (h == NULL || api_get_string(req, "event", true, &event) ||
        api_get_uri(req, "to", false, &to) ||
        api_get_string(req, "accept", false, &accept) ||
        api_get_string(req, "call_id", false, &call_id) ||
        api_get_uint(req, "subscribe_ttl", &ttl) ||
        api_check_identity(req, h) < 0 || api_get_headers(req, &headers) < 0)
        return;
    if (to == NULL)
        to = api_identity(h)->uri;
    if (api_sub_find(h, event, to) != NULL) {
        free(headers);
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (already "
                        "subscribed to %s at %s)", event, to);
        return;
    }
    if ((s = api_sub_new(h, event, to, call_id)) == NULL ||
        api_sub_send(h, s, accept, ttl ? ttl : 3600, headers) < 0) {
        if (s)
            api_sub_free(h, s);
        free(headers);
        ctl_reply_error(req, API_ERR_LIBSOFIA, "Invalid NUA Handle");
        return;
    }
    free(headers);
    api_reply(req, h, "subscribing", json_pack("{s:s}", "call_id",
                                               s->call_id));
}

void
api_req_unsubscribe(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    const char *event, *to;
    struct api_sub *s;

    if (h == NULL || api_get_string(req, "event", true, &event) ||
        api_get_uri(req, "to", false, &to) || api_check_identity(req, h) < 0)
        return;
    s = api_sub_find(h, event, to ? to : api_identity(h)->uri);
    if (s == NULL || s->ending) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (no "
                        "subscription to %s%s%s)", event, to ? " at " : "",
                        to ? to : "");
        return;
    }
    s->ending = true;
    nua_unsubscribe(s->nh.nh, TAG_END());
    loop_kick(sip_loop(h->api->deps.sip));
    api_reply(req, h, "unsubscribing", NULL);
}

/* A NOTIFY outside any subscription of ours (unsolicited MWI, say). */
void
api_incoming_notify(struct api_handle *h, const struct sip_event *ev,
                    bool destroy)
{
    const sip_t *sip = ev->sip;
    const sip_payload_t *pl = sip->sip_payload;
    json_t *f, *hdrs;

    f = json_pack("{s:s,s:s,s:s*,s:s%}", "notify",
                  sip->sip_event ? sip->sip_event->o_type : "",
                  "substate", sip->sip_subscription_state
                  ? sip->sip_subscription_state->ss_substate : "",
                  "content-type", sip->sip_content_type
                  ? sip->sip_content_type->c_type : NULL, "content",
                  pl ? pl->pl_data : "", pl ? (size_t)pl->pl_len : (size_t)0);
    if (f == NULL) {
        nua_respond(ev->nh, 415, "Unsupported Media Type (not UTF-8)",
                    NUTAG_WITH_THIS(ev->nua), TAG_END());
        if (destroy)
            nua_handle_destroy(ev->nh);
        return;
    }
    if ((hdrs = api_collect_headers(h, sip)) != NULL)
        json_object_set_new(f, "headers", hdrs);
    nua_respond(ev->nh, SIP_200_OK, NUTAG_WITH_THIS(ev->nua), TAG_END());
    if (destroy)
        nua_handle_destroy(ev->nh);
    api_emit(h, "notify", f, sip->sip_call_id ? sip->sip_call_id->i_id
                                              : NULL);
}

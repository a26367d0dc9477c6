/*
 * call.c - the outgoing call of a handle, as far as part 1 of the API
 * needs it: call (INVITE with the application's SDP, which sipbridge
 * passes through untouched), hangup, and the in-dialog MESSAGE and INFO
 * that ride on the call's dialog.  Incoming calls, hold, transfers and the
 * rest come with part 2.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include "api_int.h"
#include "sipbridge/log.h"
#include "sipbridge/loop.h"

enum api_call_state { API_CALL_INVITING, API_CALL_INCALL, API_CALL_CLOSING };

struct api_call {
    struct api_nh nh;
    enum api_call_state state;
    char call_id[128];
    bool authed, ended;
    int last_status;
    char last_phrase[64];
};

static void
api_call_free(struct api_handle *h)
{
    struct api_call *c = h->call;

    if (c == NULL)
        return;
    api_nh_drop(&c->nh);
    free(c);
    h->call = NULL;
}

void
api_call_destroy(struct api_handle *h)
{
    struct api_call *c = h->call;

    /* Destroy hangs up what the handle owns: nua ends the dialog. */
    if (c && c->nh.nh && c->state != API_CALL_CLOSING) {
        nua_handle_bind(c->nh.nh, NULL);
        if (c->state == API_CALL_INCALL)
            nua_bye(c->nh.nh, TAG_END());
        else
            nua_cancel(c->nh.nh, TAG_END());
        nua_handle_destroy(c->nh.nh);
        c->nh.nh = NULL;
    }
    api_call_free(h);
}

static void
api_call_hangup_event(struct api_handle *h, int code, const char *reason)
{
    struct api_call *c = h->call;
    char call_id[128];

    snprintf(call_id, sizeof(call_id), "%s", c->call_id);
    c->ended = true;
    api_emit(h, "hangup", json_pack("{s:i,s:s}", "code", code, "reason",
                                    reason ? reason : ""), call_id);
}

static json_t *
api_call_jsep(const sip_t *sip, const char *type)
{
    const sip_payload_t *pl = sip ? sip->sip_payload : NULL;

    if (pl == NULL || pl->pl_len == 0)
        return NULL;
    return json_pack("{s:s,s:s%}", "type", type, "sdp", pl->pl_data,
                     (size_t)pl->pl_len);
}

/* Provisional and final answers to our INVITE. */
static void
api_call_invite_response(struct api_handle *h, const struct sip_event *ev)
{
    struct api_call *c = h->call;
    const struct api_account *a = api_identity(h);
    json_t *jsep = api_call_jsep(ev->sip, "answer"), *p;
    char cred[1024];

    if ((ev->status == 401 || ev->status == 407) && !c->authed && ev->sip &&
        a && api_credentials(a, ev->sip, cred, sizeof(cred)) == 0) {
        json_decref(jsep);
        c->authed = true;
        nua_authenticate(c->nh.nh, NUTAG_AUTH(cred), TAG_END());
        loop_kick(sip_loop(h->api->deps.sip));
        return;
    }
    if (ev->status >= 300 || ev->status < 180) {
        json_decref(jsep);
        if (ev->status >= 100 && ev->status < 180)
            api_emit(h, "proceeding", json_pack("{s:i}", "code", ev->status),
                     c->call_id);
        return;                 /* failures end in the call state */
    }
    if (ev->status >= 200)
        c->state = API_CALL_INCALL;
    p = json_pack("{s:s,s:{s:s}}", "sip", "event", "result", "event",
                  ev->status >= 200 ? "accepted" : jsep ? "progress"
                                                        : "ringing");
    json_object_set_new(p, "call_id", json_string(c->call_id));
    if (jsep)
        json_object_set_new(p, "jsep", jsep);
    api_emit_json(h, p);
}

static void
api_call_event(struct sip_owner *self, const struct sip_event *ev)
{
    struct api_handle *h = ((struct api_nh *)self)->h;
    struct api_call *c = h->call;
    int st = nua_callstate_init;

    if (c == NULL)
        return;
    switch (ev->event) {
    case nua_r_invite:
        c->last_status = ev->status;
        snprintf(c->last_phrase, sizeof(c->last_phrase), "%s", ev->phrase);
        api_call_invite_response(h, ev);
        break;
    case nua_r_message:
        if (ev->status >= 200)
            api_emit(h, "messagedelivery", json_pack(
                "{s:i,s:s}", "code", ev->status, "reason", ev->phrase),
                c->call_id);
        break;
    case nua_i_message:
        api_incoming_message(h, ev, false);
        break;
    case nua_i_info:
        api_incoming_info(h, ev, false);
        break;
    case nua_i_bye:
        snprintf(c->last_phrase, sizeof(c->last_phrase), "BYE");
        c->last_status = 200;
        break;
    case nua_i_state:
        tl_gets(ev->tags, NUTAG_CALLSTATE_REF(st), TAG_END());
        if (st == nua_callstate_terminated) {
            if (!c->ended)
                api_call_hangup_event(h, c->last_status ? c->last_status
                                                        : ev->status,
                                      c->last_phrase[0] ? c->last_phrase
                                                        : ev->phrase);
            api_call_free(h);
        }
        break;
    default:
        break;
    }
}

/* ---- requests ---- */

/* jsep {type:"offer", sdp}: 448 (Janus's MISSING_SDP) otherwise. */
static const char *
api_req_offer(struct ctl_request *req)
{
    json_t *jsep = json_object_get(req->msg, "jsep");
    json_t *sdp = jsep ? json_object_get(jsep, "sdp") : NULL;
    json_t *type = jsep ? json_object_get(jsep, "type") : NULL;

    if (!json_is_string(sdp) || json_string_length(sdp) == 0 ||
        strncmp(json_string_value(sdp), "v=0", 3) != 0 ||
        (type && (!json_is_string(type) ||
                  strcmp(json_string_value(type), "offer") != 0))) {
        ctl_reply_error(req, API_ERR_MISSING_SDP, "Missing SDP (jsep with "
                        "type \"offer\" and an sdp starting v=0)");
        return NULL;
    }
    return json_string_value(sdp);
}

static int
api_call_start(struct api_handle *h, const char *uri, const char *sdp,
               const char *call_id, const char *headers)
{
    const struct api_account *a = api_identity(h);
    struct api_call *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return -ENOMEM;
    h->call = c;
    c->state = API_CALL_INVITING;
    if (call_id && call_id[0])
        snprintf(c->call_id, sizeof(c->call_id), "%s", call_id);
    else
        api_random_call_id(c->call_id, sizeof(c->call_id));
    if (api_nh_new(&c->nh, h, api_call_event, uri) == NULL) {
        api_call_free(h);
        return -ENOMEM;
    }
    nua_invite(c->nh.nh, NUTAG_URL(uri), SIPTAG_CALL_ID_STR(c->call_id),
               TAG_IF(a->outbound_proxy, NUTAG_PROXY(a->outbound_proxy)),
               TAG_IF(a->user_agent, SIPTAG_USER_AGENT_STR(a->user_agent)),
               TAG_IF(headers, SIPTAG_HEADER_STR(headers)),
               SIPTAG_CONTENT_TYPE_STR("application/sdp"),
               SIPTAG_PAYLOAD_STR(sdp), TAG_END());
    loop_kick(sip_loop(h->api->deps.sip));
    return 0;
}

void
api_req_call(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    const char *uri, *sdp, *call_id;
    char *headers = NULL;

    if (h == NULL || api_get_uri(req, "uri", true, &uri) ||
        api_get_string(req, "call_id", false, &call_id) ||
        api_check_identity(req, h) < 0)
        return;
    if (h->call) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (already in "
                        "a call)");
        return;
    }
    if ((sdp = api_req_offer(req)) == NULL ||
        api_get_headers(req, &headers) < 0)
        return;
    if (api_call_start(h, uri, sdp, call_id, headers) < 0)
        ctl_reply_error(req, API_ERR_LIBSOFIA, "Invalid NUA Handle");
    else
        api_reply(req, h, "calling", json_pack("{s:s}", "call_id",
                                               h->call->call_id));
    free(headers);
}

void
api_req_hangup(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    struct api_call *c;

    if (h == NULL)
        return;
    c = h->call;
    if (c == NULL || c->state == API_CALL_CLOSING) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (not in a "
                        "call)");
        return;
    }
    if (c->state == API_CALL_INCALL)
        nua_bye(c->nh.nh, TAG_END());
    else
        nua_cancel(c->nh.nh, TAG_END());
    c->state = API_CALL_CLOSING;
    snprintf(c->last_phrase, sizeof(c->last_phrase), "Hangup");
    c->last_status = 200;
    loop_kick(sip_loop(h->api->deps.sip));
    api_reply(req, h, "hangingup", NULL);
}

/* @return true if @h has an established call (in-dialog requests). */
bool
api_in_call(const struct api_handle *h)
{
    return h->call && h->call->state == API_CALL_INCALL;
}

const char *
api_call_id(const struct api_handle *h)
{
    return h->call ? h->call->call_id : NULL;
}

void
api_call_message(struct api_handle *h, const char *ctype,
                 const char *content, const char *headers)
{
    nua_message(h->call->nh.nh, SIPTAG_CONTENT_TYPE_STR(ctype),
                SIPTAG_PAYLOAD_STR(content),
                TAG_IF(headers, SIPTAG_HEADER_STR(headers)), TAG_END());
    loop_kick(sip_loop(h->api->deps.sip));
}

void
api_call_info(struct api_handle *h, const char *type, const char *content,
              const char *headers)
{
    nua_info(h->call->nh.nh, SIPTAG_CONTENT_TYPE_STR(type),
             SIPTAG_PAYLOAD_STR(content),
             TAG_IF(headers, SIPTAG_HEADER_STR(headers)), TAG_END());
    loop_kick(sip_loop(h->api->deps.sip));
}

/*
 * call.c - the outgoing call of a handle, as far as part 1 of the API
 * needs it: call (INVITE with the application's SDP, which sipbridge
 * passes through untouched), hangup, and the in-dialog MESSAGE and INFO
 * that ride on the call's dialog; incoming calls (180 while the
 * application decides, accept, decline, missed_call when busy, a
 * no-answer timeout), remote re-INVITEs answered with the last local SDP,
 * hold/unhold and DTMF by INFO.  Transfers and helpers' calls come later.
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

enum api_call_state {
    API_CALL_INVITING, API_CALL_INVITED, API_CALL_INCALL, API_CALL_CLOSING
};

struct api_call {
    struct api_nh nh;
    enum api_call_state state;
    char call_id[128];
    bool authed, ended, incoming, offerless, held;
    bool manual_reinvites;      /* autoaccept_reinvites:false */
    const char *hold_dir;       /* our direction while held (static) */
    bool reinvited;             /* a re-INVITE waits for `update` */
    bool updating;              /* our re-INVITE is the app's update */
    bool early;                 /* outgoing: the answer came in progress */
    bool progressed;            /* incoming: we sent 183 with our answer */
    const char *offer_srtp;     /* an incoming offer's SDES use, or NULL */
    uint32_t refer_id;          /* made for this transfer, or 0 */
    int last_status;
    char last_phrase[64];
    char *local_sdp;            /* ours, for re-INVITEs and hold */
    char *secret, *authuser;    /* call's own credentials, or NULL */
    struct event *timer;        /* no-answer */
    unsigned out;               /* our non-INVITE requests in this dialog
                                   awaiting their final response */
    char *reoffer;              /* a re-INVITE's SDP held until out is 0 */
};

static void
api_call_free(struct api_handle *h)
{
    struct api_call *c = h->call;

    if (c == NULL)
        return;
    api_refers_drop(h);
    api_nh_drop(&c->nh);
    if (c->timer)
        event_free(c->timer);
    free(c->local_sdp);
    free(c->reoffer);
    free(c->secret);
    free(c->authuser);
    free(c);
    h->call = NULL;
}

/*
 * Debian's nua queues an INVITE behind a non-INVITE request of its dialog
 * still in progress, and when that one ends starts only queued requests of
 * its own kind (nua_client_next_request; later sofia-sip starts the next of
 * any kind): a hold sent while a DTMF INFO is out would never leave.  So
 * the API counts its own requests out in the dialog and sends a re-INVITE
 * only when none is (it_api_incoming's hold right after dtmf_info).
 */
void
api_call_sent(struct api_handle *h)
{
    if (h->call)
        h->call->out++;
}

static void
api_call_reoffer(struct api_call *c, const char *sdp)
{
    if (c->out > 0) {
        free(c->reoffer);
        c->reoffer = strdup(sdp);   /* the latest offer wins */
        return;
    }
    nua_invite(c->nh.nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
               SIPTAG_PAYLOAD_STR(sdp), TAG_END());
}

/* A final response to one of our non-INVITE requests in the dialog. */
static void
api_call_done_one(struct api_call *c)
{
    char *sdp;

    if (c->out > 0)
        c->out--;
    if (c->out == 0 && c->reoffer) {
        sdp = c->reoffer;
        c->reoffer = NULL;
        api_call_reoffer(c, sdp);
        free(sdp);
    }
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
        else if (c->state == API_CALL_INVITED)
            nua_respond(c->nh.nh, SIP_480_TEMPORARILY_UNAVAILABLE, TAG_END());
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

/*
 * A 401/407 to our INVITE: answered once with the call's credentials or
 * the account's.  nua then waits for credentials that will not come, so
 * an unanswerable challenge ends the call here (Janus: hangup).
 */
static void
api_call_challenged(struct api_handle *h, const struct sip_event *ev)
{
    struct api_call *c = h->call;
    const struct api_account *a = api_identity(h);
    struct api_account acct;
    char cred[1024];

    if (a != NULL && ev->sip != NULL && !c->authed) {
        acct = *a;
        if (c->secret)
            acct.secret = c->secret;
        if (c->authuser)
            acct.authuser = c->authuser;
        if (api_credentials(&acct, ev->sip, cred, sizeof(cred)) == 0) {
            c->authed = true;
            nua_authenticate(c->nh.nh, NUTAG_AUTH(cred), TAG_END());
            loop_kick(sip_loop(h->api->deps.sip));
            return;
        }
    }
    log_info("api", "handle %" PRIu64 ": call %s: %d %s, no credentials to "
             "answer it", h->id, c->call_id, ev->status, ev->phrase);
    api_refer_progress(h->api, c->refer_id, ev->status, ev->phrase);
    api_call_hangup_event(h, ev->status, ev->phrase);
    api_call_free(h);
}

/* Provisional and final answers to our INVITE. */
static void
api_call_invite_response(struct api_handle *h, const struct sip_event *ev)
{
    struct api_call *c = h->call;
    json_t *jsep, *p;

    if (ev->status == 401 || ev->status == 407) {
        api_call_challenged(h, ev);
        return;
    }
    jsep = api_call_jsep(ev->sip, "answer");
    if (c->state == API_CALL_INCALL) {  /* one of our re-INVITEs */
        bool report = c->updating && ev->status >= 200 && ev->status < 300;

        if (ev->status >= 200)
            c->updating = false;
        if (!report) {          /* hold, session refresh: as Janus, quiet */
            json_decref(jsep);
            return;
        }
    }
    if (c->refer_id && c->state == API_CALL_INVITING) {
        api_refer_progress(h->api, c->refer_id, ev->status, ev->phrase);
        if (ev->status >= 200)
            c->refer_id = 0;
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
    if (ev->status >= 200 && c->early) {
        c->early = false;       /* Janus: the answer came with progress */
        json_decref(jsep);
        jsep = NULL;
    } else if (ev->status < 200 && jsep) {
        c->early = true;
    }
    p = json_pack("{s:s,s:{s:s}}", "sip", "event", "result", "event",
                  ev->status >= 200 ? "accepted" : jsep ? "progress"
                                                        : "ringing");
    json_object_set_new(p, "call_id", json_string(c->call_id));
    if (jsep)
        json_object_set_new(p, "jsep", jsep);
    api_emit_json(h, p);
}

static void api_call_reinvite(struct api_handle *h,
                              const struct sip_event *ev);
static void api_call_update(struct api_handle *h, const struct sip_event *ev);
static void api_call_acked(struct api_handle *h, const struct sip_event *ev);

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
        if (ev->status >= 200) {
            api_emit(h, "messagedelivery", json_pack(
                "{s:i,s:s}", "code", ev->status, "reason", ev->phrase),
                c->call_id);
            api_call_done_one(c);
        }
        break;
    case nua_r_refer:
    case nua_r_notify:
        if (ev->status >= 200)
            api_call_done_one(c);
        break;
    case nua_i_message:
        api_incoming_message(h, ev, false);
        break;
    case nua_i_info:
        api_incoming_info(h, ev, false);
        break;
    case nua_i_refer:
        api_refer_incoming(h, ev);
        break;
    case nua_i_notify:          /* a transfer's progress */
        api_incoming_notify(h, ev, false);
        break;
    case nua_i_bye:
        snprintf(c->last_phrase, sizeof(c->last_phrase), "BYE");
        c->last_status = 200;
        break;
    case nua_i_cancel:
        snprintf(c->last_phrase, sizeof(c->last_phrase), "%s",
                 "Request Terminated");
        c->last_status = 487;
        break;
    case nua_i_invite:          /* a re-INVITE in our dialog */
        api_call_reinvite(h, ev);
        break;
    case nua_i_update:          /* a session refresh, or a re-offer */
        api_call_update(h, ev);
        break;
    case nua_i_ack:
        api_call_acked(h, ev);
        break;
    case nua_r_info:
        if (ev->status >= 300)
            api_emit(h, "infodelivery", json_pack(
                "{s:i,s:s}", "code", ev->status, "reason", ev->phrase),
                c->call_id);
        if (ev->status >= 200)
            api_call_done_one(c);
        break;
    case nua_i_state:
        tl_gets(ev->tags, NUTAG_CALLSTATE_REF(st), TAG_END());
        if (st == nua_callstate_ready && c->state == API_CALL_INVITED)
            c->state = API_CALL_INCALL;
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

/* ---- incoming calls ---- */

static json_t *api_sdp_jsep(const char *sdp, const char *type);

/* Janus reports an offer's SDES use: mandatory with RTP/SAVP only. */
static const char *
api_sdp_srtp(const char *sdp)
{
    if (sdp == NULL || strstr(sdp, "a=crypto:") == NULL)
        return NULL;
    return strstr(sdp, "RTP/AVP ") ? "sdes_optional" : "sdes_mandatory";
}

static void
api_call_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct api_handle *h = arg;
    struct api_call *c = h->call;

    (void)fd;
    (void)what;
    if (c == NULL || c->state != API_CALL_INVITED)
        return;
    c->last_status = 480;
    snprintf(c->last_phrase, sizeof(c->last_phrase), "No Answer");
    c->state = API_CALL_CLOSING;
    nua_respond(c->nh.nh, 480, "No Answer", TAG_END());
    loop_kick(sip_loop(h->api->deps.sip));
}

/* A second INVITE while the handle is in a call (Janus: busy). */
static void
api_call_missed(struct api_handle *h, const struct sip_event *ev)
{
    const sip_from_t *f = ev->sip->sip_from;
    char uri[512], display[256];

    url_e(uri, sizeof(uri), f->a_url);
    nua_respond(ev->nh, SIP_486_BUSY_HERE, NUTAG_WITH_THIS(ev->nua),
                TAG_END());
    nua_handle_destroy(ev->nh);
    api_emit(h, "missed_call", json_pack(
        "{s:s,s:s*,s:s}", "caller", uri, "displayname",
        api_display(f->a_display, display, sizeof(display)), "callee",
        api_identity(h) ? api_identity(h)->uri : ""),
        ev->sip->sip_call_id->i_id);
}

/* A busy master's call goes to its first idle helper (Janus's model). */
static struct api_handle *
api_call_free_helper(struct api_handle *master)
{
    if (master->nhelpers == 0)
        return NULL;
    for (struct api_handle *x = master->api->handles; x; x = x->next)
        if (x->master == master && x->call == NULL && x->client != 0)
            return x;
    return NULL;
}

/* incomingcall / updatingcall: who calls, as Janus reports it, with the
 * offer as jsep when the INVITE had one. */
static void
api_call_offered(struct api_handle *h, const char *event, const sip_t *sip)
{
    const sip_payload_t *pl = sip->sip_payload;
    const char *sdp = pl && pl->pl_len ? pl->pl_data : NULL;
    const sip_from_t *f = sip->sip_from;
    char uri[512], display[256], by[512] = "";
    json_t *p, *r, *hdrs;

    url_e(uri, sizeof(uri), f->a_url);
    if (sip->sip_referred_by)
        msg_header_field_e(by, sizeof(by), (const msg_header_t *)
                           sip->sip_referred_by, 0);
    r = json_pack("{s:s,s:s,s:s*,s:s,s:s*,s:s*,s:s*,s:s}", "event", event,
                  "username", uri, "displayname",
                  api_display(f->a_display, display, sizeof(display)),
                  "callee", api_identity(h) ? api_identity(h)->uri : "",
                  "srtp", api_sdp_srtp(sdp),
                  "referred_by", by[0] ? by : NULL,
                  "replaces", sip->sip_replaces
                                  ? sip->sip_replaces->rp_call_id : NULL,
                  "call_id", h->call->call_id);
    if ((hdrs = api_collect_headers(h, sip)) != NULL)
        json_object_set_new(r, "headers", hdrs);
    p = json_pack("{s:s,s:o,s:s}", "sip", "event", "result", r, "call_id",
                  h->call->call_id);
    if (sdp)
        json_object_set_new(p, "jsep", api_sdp_jsep(sdp, "offer"));
    api_emit_json(h, p);
}

void
api_call_incoming(struct api_handle *h, const struct sip_event *ev)
{
    const sip_t *sip = ev->sip;
    const char *sdp = sip->sip_payload && sip->sip_payload->pl_len
                          ? sip->sip_payload->pl_data : NULL;
    struct timeval tv = { h->api->cfg.no_answer_s, 0 };
    struct api_handle *helper;
    struct api_call *c;

    if (h->call && (helper = api_call_free_helper(h)) != NULL)
        h = helper;
    if (h->call) {
        api_call_missed(h, ev);
        return;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        nua_respond(ev->nh, SIP_500_INTERNAL_SERVER_ERROR,
                    NUTAG_WITH_THIS(ev->nua), TAG_END());
        nua_handle_destroy(ev->nh);
        return;
    }
    h->call = c;
    c->state = API_CALL_INVITED;
    c->incoming = true;
    c->offerless = sdp == NULL;
    c->offer_srtp = api_sdp_srtp(sdp);
    c->nh.owner.event = api_call_event;
    c->nh.h = h;
    c->nh.nh = ev->nh;
    nua_handle_bind(ev->nh, (nua_hmagic_t *)&c->nh.owner);
    snprintf(c->call_id, sizeof(c->call_id), "%s", sip->sip_call_id->i_id);
    /* 180 while the application decides, as Janus sends it. */
    nua_respond(ev->nh, SIP_180_RINGING, NUTAG_WITH_THIS(ev->nua), TAG_END());
    if ((c->timer = evtimer_new(h->api->base, api_call_on_timer, h)))
        evtimer_add(c->timer, &tv);
    api_call_offered(h, "incomingcall", sip);
}

static json_t *
api_sdp_jsep(const char *sdp, const char *type)
{
    return json_pack("{s:s,s:s}", "type", type, "sdp", sdp);
}

/* An offerless INVITE accepted with our offer: the answer is in the ACK. */
static void
api_call_acked(struct api_handle *h, const struct sip_event *ev)
{
    struct api_call *c = h->call;
    json_t *jsep = api_call_jsep(ev->sip, "answer"), *p;

    if (!c->offerless || jsep == NULL) {
        json_decref(jsep);
        return;
    }
    c->offerless = false;
    p = json_pack("{s:s,s:{s:s}}", "sip", "event", "result", "event",
                  "accepted");
    json_object_set_new(p, "call_id", json_string(c->call_id));
    json_object_set_new(p, "jsep", jsep);
    api_emit_json(h, p);
}

/*
 * Our SDP as the answer to a re-offer: its direction follows RFC 3264
 * section 6.1 (a phone putting us on hold with sendonly gets recvonly),
 * from what we want (sendrecv, or our hold's direction).  The o= version
 * rises only when the text changes.
 */
static void
api_call_answer_direction(struct api_call *c, const sip_t *sip)
{
    const sip_payload_t *pl = sip ? sip->sip_payload : NULL;
    const char *want, *dir;
    char *offer, *sdp;

    if (c->local_sdp == NULL || pl == NULL || pl->pl_len == 0 ||
        (offer = strndup(pl->pl_data, pl->pl_len)) == NULL)
        return;
    want = c->held ? c->hold_dir : "sendrecv";
    dir = api_sdp_answer_direction(api_sdp_get_direction(offer), want);
    free(offer);
    if (strcmp(dir, api_sdp_get_direction(c->local_sdp)) == 0 ||
        (sdp = api_sdp_direction(c->local_sdp, dir)) == NULL)
        return;
    free(c->local_sdp);
    c->local_sdp = sdp;
}

/*
 * UPDATE (RFC 3311): without SDP a session refresh (RFC 4028), answered
 * 200; with an offer answered like an automatic re-INVITE, with our SDP.
 * The application is not asked: Janus does not handle UPDATE at all.
 */
static void
api_call_update(struct api_handle *h, const struct sip_event *ev)
{
    struct api_call *c = h->call;
    const sip_payload_t *pl = ev->sip ? ev->sip->sip_payload : NULL;
    bool offer = pl != NULL && pl->pl_len > 0 && c->local_sdp != NULL;

    if (offer)
        api_call_answer_direction(c, ev->sip);
    nua_respond(ev->nh, SIP_200_OK, NUTAG_WITH_THIS(ev->nua),
                TAG_IF(offer, SIPTAG_CONTENT_TYPE_STR("application/sdp")),
                TAG_IF(offer, SIPTAG_PAYLOAD_STR(c->local_sdp)), TAG_END());
}

/* autoaccept_reinvites (Janus's default): answer with our last SDP;
 * without it the application answers with `update`. */
static void
api_call_reinvite(struct api_handle *h, const struct sip_event *ev)
{
    struct api_call *c = h->call;

    if (c->manual_reinvites) {
        c->reinvited = true;
        api_call_offered(h, "updatingcall", ev->sip);
        return;
    }
    api_call_answer_direction(c, ev->sip);
    nua_respond(ev->nh, SIP_200_OK, NUTAG_WITH_THIS(ev->nua),
                TAG_IF(c->local_sdp,
                       SIPTAG_CONTENT_TYPE_STR("application/sdp")),
                TAG_IF(c->local_sdp, SIPTAG_PAYLOAD_STR(c->local_sdp)),
                TAG_END());
}

/* ---- requests ---- */

static const char *api_req_sdp(struct ctl_request *req, const char *want);

static int
api_call_start(struct api_handle *h, const char *uri, const char *sdp,
               const char *call_id, const char *headers, uint32_t refer_id)
{
    const struct api_account *a = api_identity(h);
    struct api_call *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return -ENOMEM;
    h->call = c;
    c->state = API_CALL_INVITING;
    if ((c->local_sdp = strdup(sdp)) == NULL) {
        api_call_free(h);
        return -ENOMEM;
    }
    if (call_id && call_id[0])
        snprintf(c->call_id, sizeof(c->call_id), "%s", call_id);
    else
        api_random_call_id(c->call_id, sizeof(c->call_id));
    if (api_nh_new(&c->nh, h, api_call_event, uri) == NULL) {
        api_call_free(h);
        return -ENOMEM;
    }
    nua_invite(c->nh.nh, NUTAG_URL(uri), SIPTAG_CALL_ID_STR(c->call_id),
               TAG_IF(h->api->cfg.session_s,
                      NUTAG_SESSION_TIMER(h->api->cfg.session_s)),
               TAG_IF(a->outbound_proxy, NUTAG_PROXY(a->outbound_proxy)),
               TAG_IF(a->user_agent, SIPTAG_USER_AGENT_STR(a->user_agent)),
               TAG_IF(headers, SIPTAG_HEADER_STR(headers)),
               TAG_IF(api_refer_headers(h->api, refer_id),
                      SIPTAG_HEADER_STR(api_refer_headers(h->api, refer_id))),
               SIPTAG_CONTENT_TYPE_STR("application/sdp"),
               SIPTAG_PAYLOAD_STR(sdp), TAG_END());
    c->refer_id = refer_id;
    loop_kick(sip_loop(h->api->deps.sip));
    return 0;
}

/*
 * srtp / srtp_profile (Janus's SDES options).  sipbridge does not touch
 * media, so they are checks of the application's SDP: SDES needs
 * a=crypto, sdes_mandatory RTP/SAVP, a profile one of its a=crypto suites.
 * @return 0, or -1 answered.
 */
static int
api_req_srtp(struct ctl_request *req, const char *sdp, const char **srtp)
{
    const char *profile;

    if (api_get_string(req, "srtp", false, srtp) < 0 ||
        api_get_string(req, "srtp_profile", false, &profile) < 0)
        return -1;
    if (*srtp && strcmp(*srtp, "sdes_optional") &&
        strcmp(*srtp, "sdes_mandatory")) {
        ctl_reply_error(req, API_ERR_INVALID_ELEMENT, "Invalid element (srtp "
                        "should be sdes_optional or sdes_mandatory)");
        return -1;
    }
    if (profile && strcmp(profile, "AES_CM_128_HMAC_SHA1_32") &&
        strcmp(profile, "AES_CM_128_HMAC_SHA1_80")) {
        ctl_reply_error(req, API_ERR_INVALID_ELEMENT, "Invalid element "
                        "(srtp_profile should be AES_CM_128_HMAC_SHA1_32 or "
                        "AES_CM_128_HMAC_SHA1_80)");
        return -1;
    }
    if (*srtp && (strstr(sdp, "a=crypto:") == NULL ||
                  (strcmp(*srtp, "sdes_mandatory") == 0 &&
                   strstr(sdp, "RTP/SAVP") == NULL) ||
                  (profile && strstr(sdp, profile) == NULL))) {
        ctl_reply_error(req, API_ERR_INVALID_ELEMENT, "Invalid element (srtp "
                        "%s%s%s: the jsep SDP has no matching a=crypto%s)",
                        *srtp, profile ? " " : "", profile ? profile : "",
                        strcmp(*srtp, "sdes_mandatory") == 0
                            ? " on RTP/SAVP" : "");
        return -1;
    }
    return 0;
}

void
api_req_call(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    const char *uri, *sdp, *call_id;
    char *headers = NULL;
    bool autoaccept = true;
    unsigned refer_id = 0;
    const char *secret, *ha1, *authuser;

    if (h == NULL || api_get_uri(req, "uri", true, &uri) ||
        api_get_string(req, "call_id", false, &call_id) ||
        api_get_uint(req, "refer_id", &refer_id) ||
        api_get_string(req, "secret", false, &secret) ||
        api_get_string(req, "ha1_secret", false, &ha1) ||
        api_get_string(req, "authuser", false, &authuser) ||
        api_get_bool(req, "autoaccept_reinvites", &autoaccept) ||
        api_check_identity(req, h) < 0)
        return;
    if (h->call) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (already in "
                        "a call)");
        return;
    }
    /* nua answers challenges from a password only (no HA1). */
    if (ha1) {
        ctl_reply_error(req, API_ERR_INVALID_ELEMENT, "Invalid element "
                        "(ha1_secret: calls answer challenges with a secret "
                        "only)");
        return;
    }
    const char *srtp;

    if ((sdp = api_req_sdp(req, "offer")) == NULL ||
        api_req_srtp(req, sdp, &srtp) < 0 ||
        api_get_headers(req, &headers) < 0)
        return;
    /* An unknown refer_id is ignored, as Janus does. */
    if (api_call_start(h, uri, sdp, call_id, headers, refer_id) < 0) {
        ctl_reply_error(req, API_ERR_LIBSOFIA, "Invalid NUA Handle");
    } else {
        h->call->manual_reinvites = !autoaccept;
        h->call->secret = secret ? strdup(secret) : NULL;
        h->call->authuser = authuser ? strdup(authuser) : NULL;
        api_reply(req, h, "calling", json_pack("{s:s}", "call_id",
                                               h->call->call_id));
    }
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
    if (c->state == API_CALL_INVITED) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (an "
                        "unanswered incoming call: use decline)");
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

nua_handle_t *
api_call_nh(const struct api_handle *h)
{
    return h->call ? h->call->nh.nh : NULL;
}

void
api_call_message(struct api_handle *h, const char *ctype,
                 const char *content, const char *headers)
{
    nua_message(h->call->nh.nh, SIPTAG_CONTENT_TYPE_STR(ctype),
                SIPTAG_PAYLOAD_STR(content),
                TAG_IF(headers, SIPTAG_HEADER_STR(headers)), TAG_END());
    api_call_sent(h);
    loop_kick(sip_loop(h->api->deps.sip));
}

void
api_call_info(struct api_handle *h, const char *type, const char *content,
              const char *headers)
{
    nua_info(h->call->nh.nh, SIPTAG_CONTENT_TYPE_STR(type),
             SIPTAG_PAYLOAD_STR(content),
             TAG_IF(headers, SIPTAG_HEADER_STR(headers)), TAG_END());
    api_call_sent(h);
    loop_kick(sip_loop(h->api->deps.sip));
}

/* ---- incoming call requests ---- */

/* The handle's call, in @state; NULL once answered with 447. */
static struct api_call *
api_req_call_in(struct ctl_request *req, struct api_handle *h,
                enum api_call_state state, const char *what)
{
    struct api_call *c = h->call;

    if (c && c->state == state)
        return c;
    ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (%s)", what);
    return NULL;
}

/* jsep {type, sdp} of the wanted @type whose SDP parses; 448 otherwise
 * (Janus's MISSING_SDP, also for SDP it cannot parse). */
static const char *
api_req_sdp(struct ctl_request *req, const char *want)
{
    json_t *jsep = json_object_get(req->msg, "jsep");
    json_t *sdp = jsep ? json_object_get(jsep, "sdp") : NULL;
    json_t *type = jsep ? json_object_get(jsep, "type") : NULL;

    if (!json_is_string(sdp) ||
        (type && (!json_is_string(type) ||
                  strcmp(json_string_value(type), want) != 0))) {
        ctl_reply_error(req, API_ERR_MISSING_SDP, "Missing SDP (jsep with "
                        "type \"%s\" and an sdp)", want);
        return NULL;
    }
    if (api_sdp_check(json_string_value(sdp)) != 0) {
        ctl_reply_error(req, API_ERR_MISSING_SDP, "Invalid SDP (the jsep sdp "
                        "is not RFC 4566 SDP with at least one m= line)");
        return NULL;
    }
    return json_string_value(sdp);
}

void
api_req_accept(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    struct api_call *c;
    const char *sdp, *srtp;
    char *headers = NULL;
    bool autoaccept = true;

    if (h == NULL || api_get_bool(req, "autoaccept_reinvites", &autoaccept) ||
        !(c = api_req_call_in(req, h, API_CALL_INVITED,
                              "no incoming call to accept")))
        return;
    /* After progress the answer is known: the 200 repeats it. */
    if (c->progressed && json_object_get(req->msg, "jsep") == NULL)
        sdp = c->local_sdp;
    else if (!(sdp = api_req_sdp(req, c->offerless ? "offer" : "answer")))
        return;
    if (api_req_srtp(req, sdp, &srtp) < 0)
        return;
    /* Janus's TOO_STRICT: SDES demanded, the caller offered none. */
    if (srtp && strcmp(srtp, "sdes_mandatory") == 0 && !c->offerless &&
        c->offer_srtp == NULL) {
        ctl_reply_error(req, API_ERR_TOO_STRICT, "Too strict (sdes_mandatory,"
                        " but the caller offered no SRTP)");
        return;
    }
    if (api_get_headers(req, &headers) < 0)
        return;
    if (sdp != c->local_sdp) {
        free(c->local_sdp);
        c->local_sdp = strdup(sdp);
        sdp = c->local_sdp;
    }
    c->manual_reinvites = !autoaccept;
    if (c->timer)
        evtimer_del(c->timer);
    /* As the callee nua would refresh with an offerless re-INVITE, whose
     * answer it cannot give without media: UPDATE without SDP instead. */
    nua_respond(c->nh.nh, SIP_200_OK,
                TAG_IF(h->api->cfg.session_s,
                       NUTAG_SESSION_TIMER(h->api->cfg.session_s)),
                NUTAG_UPDATE_REFRESH(1),
                SIPTAG_CONTENT_TYPE_STR("application/sdp"),
                SIPTAG_PAYLOAD_STR(sdp),
                TAG_IF(headers, SIPTAG_HEADER_STR(headers)), TAG_END());
    free(headers);
    loop_kick(sip_loop(h->api->deps.sip));
    api_reply(req, h, c->offerless ? "accepting" : "accepted", NULL);
}

void
api_req_decline(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    struct api_call *c;
    unsigned code = 603, refer_id = 0;
    char *headers = NULL;

    if (h == NULL || api_get_uint(req, "code", &code) < 0 ||
        api_get_uint(req, "refer_id", &refer_id) < 0)
        return;
    if (refer_id) {             /* refuse a transfer (Janus) */
        api_refer_decline(h, req, refer_id, code);
        return;
    }
    if (!(c = api_req_call_in(req, h, API_CALL_INVITED,
                              "no incoming call to decline")) ||
        api_get_headers(req, &headers) < 0)
        return;
    if (code < 400 || code > 699)   /* Janus: <= 399 becomes 486 */
        code = code < 400 ? 486 : 603;
    if (c->timer)
        evtimer_del(c->timer);
    c->state = API_CALL_CLOSING;
    c->last_status = (int)code;
    snprintf(c->last_phrase, sizeof(c->last_phrase), "Declined");
    nua_respond(c->nh.nh, (int)code, sip_status_phrase((int)code)
                ? sip_status_phrase((int)code) : "Declined",
                TAG_IF(headers, SIPTAG_HEADER_STR(headers)), TAG_END());
    free(headers);
    loop_kick(sip_loop(h->api->deps.sip));
    api_reply(req, h, "declining", json_pack("{s:i,s:s}", "code", (int)code,
                                             "call_id", c->call_id));
}

/* progress (Janus): early media, a 183 with the application's answer. */
void
api_req_progress(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    struct api_call *c;
    const char *sdp, *srtp;
    char *headers = NULL;

    if (h == NULL || !(c = api_req_call_in(req, h, API_CALL_INVITED,
                                           "no incoming call")))
        return;
    if (c->offerless) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (the INVITE "
                        "had no offer: an early answer needs one)");
        return;
    }
    if (!(sdp = api_req_sdp(req, "answer")) ||
        api_req_srtp(req, sdp, &srtp) < 0 ||
        api_get_headers(req, &headers) < 0)
        return;
    free(c->local_sdp);
    c->local_sdp = strdup(sdp);
    c->progressed = true;
    nua_respond(c->nh.nh, SIP_183_SESSION_PROGRESS,
                SIPTAG_CONTENT_TYPE_STR("application/sdp"),
                SIPTAG_PAYLOAD_STR(sdp),
                TAG_IF(headers, SIPTAG_HEADER_STR(headers)), TAG_END());
    free(headers);
    loop_kick(sip_loop(h->api->deps.sip));
    api_reply(req, h, "progressed", NULL);
}

/* send_ringing (Janus): another 180; sipbridge sends the first itself. */
void
api_req_send_ringing(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    struct api_call *c;

    if (h == NULL || !(c = api_req_call_in(req, h, API_CALL_INVITED,
                                           "no incoming call")))
        return;
    nua_respond(c->nh.nh, SIP_180_RINGING, TAG_END());
    loop_kick(sip_loop(h->api->deps.sip));
    api_reply(req, h, "ringing_sent", NULL);
}

/* reset (Janus): clears a stuck call state; sipbridge has none to clear,
 * so it only confirms that the handle is idle. */
void
api_req_reset(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);

    if (h == NULL)
        return;
    if (h->call) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (in a call: "
                        "hang up or decline first)");
        return;
    }
    api_reply(req, h, "reset", NULL);
}

/* hold {direction} / unhold: a re-INVITE with our SDP's direction set. */
void
api_req_hold(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    bool hold = strcmp(req->name, "hold") == 0;
    const char *dir = "sendonly";
    struct api_call *c;
    char *sdp;

    if (h == NULL || api_get_string(req, "direction", false, &dir) < 0 ||
        !(c = api_req_call_in(req, h, API_CALL_INCALL, "not in a call")))
        return;
    if (!hold || dir == NULL)
        dir = hold ? "sendonly" : "sendrecv";
    if (strcmp(dir, "sendonly") && strcmp(dir, "recvonly") &&
        strcmp(dir, "inactive") && strcmp(dir, "sendrecv")) {
        ctl_reply_error(req, API_ERR_INVALID_ELEMENT, "Invalid element "
                        "(direction should be sendonly, recvonly or "
                        "inactive)");
        return;
    }
    if (c->held != hold && c->local_sdp &&
        (sdp = api_sdp_direction(c->local_sdp, dir)) != NULL) {
        free(c->local_sdp);
        c->local_sdp = sdp;
        api_call_reoffer(c, sdp);
        loop_kick(sip_loop(h->api->deps.sip));
    }
    c->held = hold;
    if (hold && c->local_sdp)   /* static, unlike the request's string */
        c->hold_dir = api_sdp_get_direction(c->local_sdp);
    api_reply(req, h, hold ? "holding" : "resuming", NULL);
}

/* INFO application/dtmf-relay, as Janus sends it. */
void
api_req_dtmf_info(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    const char *digit;
    unsigned duration = 160;
    char body[64];

    if (h == NULL || api_get_string(req, "digit", true, &digit) < 0 ||
        api_get_uint(req, "duration", &duration) < 0)
        return;
    if (strlen(digit) != 1 || !strchr("0123456789*#ABCDabcd", digit[0])) {
        ctl_reply_error(req, API_ERR_INVALID_ELEMENT, "Invalid element "
                        "(digit should be one of 0-9, *, #, A-D)");
        return;
    }
    if (!api_in_call(h)) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (not in a "
                        "call)");
        return;
    }
    if (duration == 0 || duration > 5000)
        duration = 160;
    snprintf(body, sizeof(body), "Signal=%c\r\nDuration=%u\r\n", digit[0],
             duration);
    api_call_info(h, "application/dtmf-relay", body, NULL);
    api_reply(req, h, "dtmfsent", NULL);
}

/* Janus's media requests: sipbridge does not anchor media. */
void
api_req_unsupported(void *arg, struct ctl_request *req)
{
    (void)arg;
    ctl_reply_error(req, CTL_ERR_INVALID_REQUEST, "Unsupported request "
                    "'%s': sipbridge does not handle media", req->name);
}

/* update: a new offer (re-INVITE → updating, then accepted with the
 * answer), or the answer to a re-INVITE the application was asked about
 * (updatingcall → 200 → updated). */
void
api_req_update(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    struct api_call *c;
    const char *sdp;

    if (h == NULL || !(c = api_req_call_in(req, h, API_CALL_INCALL,
                                           "not in a call")) ||
        !(sdp = api_req_sdp(req, c->reinvited ? "answer" : "offer")))
        return;
    bool answer = c->reinvited;

    free(c->local_sdp);
    c->local_sdp = strdup(sdp);
    if (answer) {
        c->reinvited = false;
        nua_respond(c->nh.nh, SIP_200_OK,
                    SIPTAG_CONTENT_TYPE_STR("application/sdp"),
                    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
    } else {
        c->updating = true;
        api_call_reoffer(c, sdp);
    }
    loop_kick(sip_loop(h->api->deps.sip));
    api_reply(req, h, answer ? "updated" : "updating", NULL);
}

/*
 * chat_sip.c - joining and leaving a conference: INVITE, SDP, dialog state.
 *
 * A participant is the hmagic of its nua handle from the 200 OK on, and is
 * freed only when nua reports the dialog terminated (BYE either way, ACK
 * timeout, CANCEL, or nua ending it on a dialog-terminating response to a
 * relayed MESSAGE), so nua never calls back into freed memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_tagarg.h>

#include "chat_int.h"
#include "sipbridge/chat_sdp.h"
#include "sipbridge/chat_text.h"
#include "sipbridge/log.h"
#include "sipbridge/loop.h"
#include "sipbridge/peer.h"

#define CHAT_ALLOW "INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, UPDATE, INFO"

static void chat_part_event(struct sip_owner *self, const struct sip_event *ev);
static void chat_part_free(struct chat_part *p);

static double
chat_sip_now(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void
chat_kick_loop(struct chat_conf *conf)
{
    loop_kick(sip_loop(conf->chat->deps.sip));
}

/* ---- SDP ---- */

static void
chat_sdp_origin(const struct chat_part *p, struct chat_sdp_origin *o)
{
    o->username = "sipbridge";
    o->id = p->sdp_id;
    o->version = p->sdp_version;
    o->address = p->conf->chat->local_ip;
    o->session = "chat-only conference";
}

/*
 * Our SDP for this offer (or our offer when there is none).  The o= version
 * moves only when the SDP changes, as RFC 3264 section 8 wants.
 * @return 0 and p->last_sdp updated, -EPROTO for a bad offer, -ENOMEM.
 */
static int
chat_sdp_for(struct chat_part *p, const sip_t *sip)
{
    struct chat_sdp_origin o;
    char *sdp = NULL;
    int rc;

    chat_sdp_origin(p, &o);
    if (sip->sip_payload && sip->sip_payload->pl_len > 0)
        rc = chat_sdp_answer(sip->sip_payload->pl_data,
                             sip->sip_payload->pl_len, &o, &sdp);
    else
        rc = chat_sdp_offer(&o, &sdp);
    if (rc != 0)
        return rc;
    if (p->last_sdp && strcmp(p->last_sdp, sdp) != 0) {
        free(sdp);
        p->sdp_version++;
        chat_sdp_origin(p, &o);
        rc = sip->sip_payload && sip->sip_payload->pl_len > 0
                 ? chat_sdp_answer(sip->sip_payload->pl_data,
                                   sip->sip_payload->pl_len, &o, &sdp)
                 : chat_sdp_offer(&o, &sdp);
        if (rc != 0)
            return rc;
    }
    free(p->last_sdp);
    p->last_sdp = sdp;
    return 0;
}

/* A body that is not SDP cannot be answered: 415 with Accept. */
static int
chat_body_is_sdp(const sip_t *sip)
{
    if (sip->sip_payload == NULL || sip->sip_payload->pl_len == 0)
        return 1;
    return sip->sip_content_type && sip->sip_content_type->c_type &&
           strcasecmp(sip->sip_content_type->c_type, "application/sdp") == 0;
}

/* A q value of zero ("0", "0.", "0.000"): the type is refused. */
static int
chat_q_is_zero(const char *q)
{
    if (q == NULL || *q++ != '0')
        return 0;
    while (*q == '0' || *q == '.')
        q++;
    return *q == '\0';
}

/*
 * May our answer carry SDP, which every answer of ours does?  RFC 3261
 * 20.1: no Accept means application/sdp, an empty one accepts nothing;
 * wildcards count and q=0 refuses, as in the HTTP rules it borrows.
 */
static int
chat_accepts_sdp(const sip_t *sip)
{
    static const char *const ok[] = { "application/sdp", "application/*",
                                      "*/*" };

    if (sip->sip_accept == NULL)
        return 1;
    for (const sip_accept_t *ac = sip->sip_accept; ac; ac = ac->ac_next) {
        if (ac->ac_type == NULL || chat_q_is_zero(ac->ac_q))
            continue;
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
            if (strcasecmp(ac->ac_type, ok[i]) == 0)
                return 1;
    }
    return 0;
}

/* Answers an INVITE, re-INVITE or UPDATE on @p p's dialog. */
static void
chat_answer_offer(struct chat_part *p, const struct sip_event *ev)
{
    int rc;

    if (!chat_body_is_sdp(ev->sip)) {
        nua_respond(ev->nh, SIP_415_UNSUPPORTED_MEDIA,
                    SIPTAG_ACCEPT_STR("application/sdp"),
                    NUTAG_WITH_THIS(ev->nua), TAG_END());
        return;
    }
    if (!chat_accepts_sdp(ev->sip)) {
        /* RFC 3261 21.4.7; RFC 4475 3.3.15 asks for the Warning. */
        nua_respond(ev->nh, SIP_406_NOT_ACCEPTABLE,
                    SIPTAG_WARNING_STR("399 sipbridge \"the answer is "
                                       "application/sdp, which Accept "
                                       "excludes\""),
                    NUTAG_WITH_THIS(ev->nua), TAG_END());
        return;
    }
    rc = chat_sdp_for(p, ev->sip);
    if (rc == -EPROTO) {
        log_info_limited(CHAT_LOG, "%s: malformed SDP from %s: 488", p->conf->name,
                 p->uri);
        nua_respond(ev->nh, SIP_488_NOT_ACCEPTABLE,
                    SIPTAG_WARNING_STR("399 sipbridge \"malformed SDP\""),
                    NUTAG_WITH_THIS(ev->nua), TAG_END());
        return;
    }
    if (rc != 0) {
        nua_respond(ev->nh, SIP_500_INTERNAL_SERVER_ERROR,
                    NUTAG_WITH_THIS(ev->nua), TAG_END());
        return;
    }
    /* Allow: what a conference answers, not the whole daemon's list. */
    nua_respond(ev->nh, SIP_200_OK, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
                SIPTAG_PAYLOAD_STR(p->last_sdp), SIPTAG_ALLOW_STR(CHAT_ALLOW),
                NUTAG_WITH_THIS(ev->nua), TAG_END());
}

/* ---- participants ---- */

static char *
chat_url_string(const url_t *url)
{
    char buf[512];

    if (url == NULL || url_e(buf, sizeof(buf), url) < 0)
        return strdup("");
    buf[sizeof(buf) - 1] = '\0';
    return strdup(buf);
}

static struct chat_part *
chat_part_new(struct chat_conf *conf, const struct sip_event *ev)
{
    struct chat_part *p = calloc(1, sizeof(*p));
    const sip_t *sip = ev->sip;
    char name[256];

    if (p == NULL)
        return NULL;
    p->owner.event = chat_part_event;
    p->conf = conf;
    p->nh = ev->nh;
    p->id = ++conf->chat->next_part_id;
    p->state = CHAT_PART_JOINING;
    p->joined = chat_sip_now();
    p->sdp_id = (unsigned long long)p->joined;
    p->sdp_version = 1;
    chat_display_name_safe(sip->sip_from->a_display, name, sizeof(name));
    p->display = strdup(name);
    p->uri = chat_url_string(sip->sip_from->a_url);
    p->local_uri = chat_url_string(sip->sip_to->a_url);
    p->call_id = strdup(sip->sip_call_id ? sip->sip_call_id->i_id : "");
    p->home = su_home_new(sizeof(su_home_t));
    if (p->home)
        p->from_url = url_hdup(p->home, sip->sip_from->a_url);
    if (!p->display || !p->uri || !p->local_uri || !p->call_id ||
        !p->from_url) {
        chat_part_free(p);
        return NULL;
    }
    return p;
}

static void
chat_part_free(struct chat_part *p)
{
    chat_out_clear(p);
    free(p->call_id);
    free(p->display);
    free(p->uri);
    free(p->local_uri);
    free(p->last_sdp);
    free(p->end_reason);
    su_home_unref(p->home);
    free(p);
}

/* Appends, so that the roster (and ConfBridge's Welcome) is in join order. */
static void
chat_part_link(struct chat_part *p, struct chat_part **list)
{
    while (*list)
        list = &(*list)->next;
    p->next = NULL;
    *list = p;
}

static void
chat_part_unlink(struct chat_part *p, struct chat_part **list)
{
    while (*list && *list != p)
        list = &(*list)->next;
    if (*list)
        *list = p->next;
}

static void
chat_set_reason(struct chat_part *p, const char *reason)
{
    if (p->end_reason == NULL)
        p->end_reason = strdup(reason);
}

/*
 * Takes @p p out of the roster: nothing more is relayed to it, the others
 * and the watchers hear it has left.  Its dialog may still be ending; it
 * waits on the leaving list until nua says it is over.
 */
void
chat_part_depart(struct chat_part *p, const char *reason)
{
    struct chat_conf *conf = p->conf;

    if (p->state == CHAT_PART_LEAVING)
        return;
    chat_set_reason(p, reason);
    chat_part_unlink(p, &conf->parts);
    conf->nparts--;
    p->state = CHAT_PART_LEAVING;
    chat_out_clear(p);
    chat_part_link(p, &conf->leaving);
    log_info(CHAT_LOG, "%s: participant %llu (%s) left: %s", conf->name,
             (unsigned long long)p->id, p->uri, p->end_reason);
    if (conf->chat->closing)
        return;
    if (p->announced)
        chat_notify_leave(p);
    chat_publish(conf, "left", json_pack("{s:I, s:s, s:s}", "id",
                                         (json_int_t)p->id, "uri", p->uri,
                                         "reason", p->end_reason));
}

void
chat_part_remove(struct chat_part *p)
{
    struct chat_conf *conf = p->conf;

    chat_part_depart(p, "dialog ended");
    chat_part_unlink(p, &conf->leaving);
    nua_handle_bind(p->nh, NULL);
    nua_handle_destroy(p->nh);
    chat_part_free(p);
    chat_conf_reap(conf);
}

void
chat_part_kick(struct chat_part *p, const char *reason)
{
    if (p->state == CHAT_PART_LEAVING)
        return;
    log_notice(CHAT_LOG, "%s: ending the call of participant %llu (%s): %s",
               p->conf->name, (unsigned long long)p->id, p->uri, reason);
    chat_part_depart(p, reason);
    nua_bye(p->nh, TAG_END());
    chat_kick_loop(p->conf);
}

struct chat_part *
chat_part_find_uri(struct chat_conf *conf, const url_t *url)
{
    for (struct chat_part *p = conf->parts; p; p = p->next)
        if (p->state != CHAT_PART_LEAVING && url_cmp(p->from_url, url) == 0)
            return p;
    return NULL;
}

/* ---- out-of-dialog requests for the conference's user part ---- */

static void
chat_reject(struct chat_conf *conf, const struct sip_event *ev, int status,
            const char *phrase, const char *warning)
{
    char w[256];

    conf->chat->rejected++;
    snprintf(w, sizeof(w), "399 sipbridge \"%s\"", warning);
    nua_respond(ev->nh, status, phrase, SIPTAG_WARNING_STR(w),
                NUTAG_WITH_THIS(ev->nua), TAG_END());
    nua_handle_destroy(ev->nh);
}

/*
 * Who may join: the conference's endpoint= list when set, and any
 * endpoint with an auth proves it by digest (as pjsip does).  @return 0
 * to go on, 1 when answered (403, 401 or 500) and let go.
 */
static int
chat_admit(struct chat_conf *conf, const struct sip_event *ev)
{
    struct chat *chat = conf->chat;
    struct sockaddr_storage src;
    const struct peer_endpoint *ep = NULL;
    char chal[512];
    int rc = peer_admit(chat->peers, chat->digest, ev->sip,
                        sip_event_source(chat->deps.sip, &src) == 0
                            ? (struct sockaddr *)&src : NULL,
                        conf->endpoint, &ep, chal, sizeof(chal));

    if (rc == 0)
        return 0;
    chat->rejected++;
    if (rc == PEER_FORBIDDEN) {
        log_info_limited(CHAT_LOG, "%s: INVITE from %s refused: only %s may "
                         "join: 403", conf->name,
                         ep ? ep->name : "an unidentified caller",
                         conf->endpoint);
        nua_respond(ev->nh, SIP_403_FORBIDDEN, NUTAG_WITH_THIS(ev->nua),
                    TAG_END());
    } else if (rc == PEER_CHALLENGE) {
        log_info_limited(CHAT_LOG, "%s: INVITE from endpoint '%s': "
                         "challenged", conf->name, ep->name);
        nua_respond(ev->nh, SIP_401_UNAUTHORIZED, NUTAG_WITH_THIS(ev->nua),
                    SIPTAG_WWW_AUTHENTICATE_STR(chal), TAG_END());
    } else {
        nua_respond(ev->nh, SIP_500_INTERNAL_SERVER_ERROR,
                    NUTAG_WITH_THIS(ev->nua), TAG_END());
    }
    nua_handle_destroy(ev->nh);
    return 1;
}

static int
chat_join(struct chat_conf *conf, const struct sip_event *ev)
{
    struct chat_part *p;
    char why[128];

    if (chat_admit(conf, ev) != 0)
        return 0;
    if (conf->nparts >= conf->max_participants) {
        snprintf(why, sizeof(why), "conference %s is full (max_participants "
                 "%u)", conf->name, conf->max_participants);
        log_info_limited(CHAT_LOG, "%s", why);
        chat_reject(conf, ev, SIP_486_BUSY_HERE, why);
        return 0;
    }
    p = chat_part_new(conf, ev);
    if (p == NULL)
        return -ENOMEM;
    chat_answer_offer(p, ev);
    if (p->last_sdp == NULL) {        /* answered 406/415/488/500 */
        conf->chat->rejected++;
        nua_handle_destroy(ev->nh);
        chat_part_free(p);
        return 0;
    }
    nua_handle_bind(ev->nh, &p->owner);
    chat_part_link(p, &conf->parts);
    conf->nparts++;
    conf->chat->joins++;
    log_info(CHAT_LOG, "%s: participant %llu joining: \"%s\" %s", conf->name,
             (unsigned long long)p->id, p->display, p->uri);
    return 0;
}

/* Page mode: a MESSAGE outside the dialog from someone who is in one. */
static int
chat_page(struct chat_conf *conf, const struct sip_event *ev)
{
    struct chat_part *p = chat_part_find_uri(conf, ev->sip->sip_from->a_url);
    const char *phrase;
    int status;

    if (p == NULL) {
        nua_respond(ev->nh, SIP_403_FORBIDDEN,
                    SIPTAG_WARNING_STR("399 sipbridge \"join the conference "
                                       "first\""),
                    NUTAG_WITH_THIS(ev->nua), TAG_END());
    } else if (chat_relay_check(conf, ev->sip, &status, &phrase) != 0) {
        nua_respond(ev->nh, status, phrase, SIPTAG_ACCEPT_STR(conf->accept),
                    NUTAG_WITH_THIS(ev->nua), TAG_END());
    } else {
        nua_respond(ev->nh, SIP_202_ACCEPTED, NUTAG_WITH_THIS(ev->nua),
                    TAG_END());
        chat_relay_incoming(conf, p, ev->sip);
    }
    nua_handle_destroy(ev->nh);
    return 0;
}

static int
chat_route_request(void *owner, const struct sip_event *ev)
{
    struct chat_conf *conf = owner;

    switch (ev->event) {
    case nua_i_invite:
        return chat_join(conf, ev);
    case nua_i_message:
        return chat_page(conf, ev);
    default:
        nua_respond(ev->nh, SIP_405_METHOD_NOT_ALLOWED,
                    SIPTAG_ALLOW_STR(CHAT_ALLOW), NUTAG_WITH_THIS(ev->nua),
                    TAG_END());
        nua_handle_destroy(ev->nh);
        return 0;
    }
}

const struct sip_route_ops chat_route_ops = { "conference",
                                              chat_route_request };

/* ---- in-dialog events ---- */

static void
chat_on_state(struct chat_part *p, const struct sip_event *ev)
{
    int state = -1;

    tl_gets(ev->tags, NUTAG_CALLSTATE_REF(state), TAG_END());
    if (state == nua_callstate_ready && p->state == CHAT_PART_JOINING) {
        p->state = CHAT_PART_ACTIVE;
        p->announced = true;
        chat_publish(p->conf, "joined", chat_part_json(p));
        chat_notify_join(p);
        chat_history_replay(p);
    } else if (state == nua_callstate_terminated) {
        if (ev->status >= 300)
            chat_set_reason(p, ev->phrase && *ev->phrase ? ev->phrase
                                                          : "dialog ended");
        chat_part_remove(p);
    }
}

static void
chat_on_message(struct chat_part *p, const struct sip_event *ev)
{
    const char *phrase;
    int status;

    if (chat_relay_check(p->conf, ev->sip, &status, &phrase) != 0) {
        log_info_limited(CHAT_LOG, "%s: MESSAGE from %s refused: %d %s",
                 p->conf->name, p->uri, status, phrase);
        nua_respond(ev->nh, status, phrase,
                    SIPTAG_ACCEPT_STR(p->conf->accept),
                    NUTAG_WITH_THIS(ev->nua), TAG_END());
        return;
    }
    nua_respond(ev->nh, SIP_202_ACCEPTED, NUTAG_WITH_THIS(ev->nua),
                TAG_END());
    chat_relay_incoming(p->conf, p, ev->sip);
}

static void
chat_part_event(struct sip_owner *self, const struct sip_event *ev)
{
    struct chat_part *p = (struct chat_part *)self;

    switch (ev->event) {
    case nua_i_state:
        chat_on_state(p, ev);
        break;
    case nua_i_invite:
        chat_answer_offer(p, ev);
        break;
    case nua_i_update:
        /* A body-less UPDATE (a browser's session refresh) carries no
         * offer, and its 200 must carry no SDP either. */
        if (ev->sip->sip_payload && ev->sip->sip_payload->pl_len)
            chat_answer_offer(p, ev);
        else
            nua_respond(ev->nh, SIP_200_OK, NUTAG_WITH_THIS(ev->nua),
                        TAG_END());
        break;
    case nua_i_message:
        chat_on_message(p, ev);
        break;
    case nua_i_info:
        nua_respond(ev->nh, SIP_200_OK, NUTAG_WITH_THIS(ev->nua), TAG_END());
        break;
    case nua_i_notify:
    case nua_i_refer:
        nua_respond(ev->nh, SIP_405_METHOD_NOT_ALLOWED,
                    SIPTAG_ALLOW_STR(CHAT_ALLOW), NUTAG_WITH_THIS(ev->nua),
                    TAG_END());
        break;
    case nua_r_message:
        if (ev->status >= 200)
            chat_relay_answered(p, ev->status);
        break;
    case nua_i_bye:
        chat_set_reason(p, "BYE from participant");
        break;
    case nua_i_cancel:
        chat_set_reason(p, "CANCEL from participant");
        break;
    default:
        break;
    }
}

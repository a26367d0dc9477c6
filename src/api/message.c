/*
 * message.c - MESSAGE and INFO: out-of-dialog MESSAGEs sent for a handle
 * (one nua handle each, tracked by Call-ID until the final response), and
 * the MESSAGEs and INFOs that reach a handle.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include "api_int.h"
#include "sipbridge/log.h"
#include "sipbridge/loop.h"

struct api_msg {
    struct api_nh nh;
    struct api_msg *next;
    char call_id[128];
    bool authed;
};

static void
api_msg_free(struct api_handle *h, struct api_msg *m)
{
    for (struct api_msg **pp = &h->msgs; *pp; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    }
    api_nh_drop(&m->nh);
    free(m);
}

void
api_msgs_free(struct api_handle *h)
{
    while (h->msgs)
        api_msg_free(h, h->msgs);
}

/* Janus makes 24 random characters when no call_id is given. */
void
api_random_call_id(char *buf, size_t len)
{
    static const char abc[] = "abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint8_t r[24];

    if (getrandom(r, sizeof(r), 0) != sizeof(r))
        memset(r, 7, sizeof(r));
    for (size_t i = 0; i < 24 && i + 1 < len; i++)
        buf[i] = abc[r[i] % (sizeof(abc) - 1)];
    buf[len < 25 ? len - 1 : 24] = '\0';
}

static void
api_msg_event(struct sip_owner *self, const struct sip_event *ev)
{
    struct api_msg *m = (struct api_msg *)self;
    struct api_handle *h = m->nh.h;
    const struct api_account *a = api_identity(h);
    char cred[1024];

    if (ev->event != nua_r_message || ev->status < 200)
        return;
    if ((ev->status == 401 || ev->status == 407) && !m->authed && ev->sip &&
        a && api_credentials(a, ev->sip, cred, sizeof(cred)) == 0) {
        m->authed = true;
        nua_authenticate(m->nh.nh, NUTAG_AUTH(cred), TAG_END());
        loop_kick(sip_loop(h->api->deps.sip));
        return;
    }
    api_emit(h, "messagedelivery", json_pack("{s:i,s:s}", "code",
                                             ev->status, "reason",
                                             ev->phrase), m->call_id);
    api_msg_free(h, m);
}

/* Out-of-dialog requests need an identity (registered, or a guest). */
int
api_check_identity(struct ctl_request *req, const struct api_handle *h)
{
    const struct api_handle *id = h->master ? h->master : h;

    if (api_identity(h) != NULL && (id->reg == API_REG_REGISTERED ||
                                    id->reg == API_REG_DISABLED))
        return 0;
    ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (not registered"
                    " yet: register first, as a guest if no REGISTER is "
                    "wanted)");
    return -1;
}

static int
api_msg_send(struct api_handle *h, struct api_msg *m, const char *uri,
             const char *ctype, const char *content, const char *headers)
{
    const struct api_account *a = api_identity(h);

    if (api_nh_new(&m->nh, h, api_msg_event, uri) == NULL)
        return -ENOMEM;
    m->nh.owner.event = api_msg_event;
    nua_message(m->nh.nh, NUTAG_URL(uri), SIPTAG_CALL_ID_STR(m->call_id),
                TAG_IF(a->outbound_proxy, NUTAG_PROXY(a->outbound_proxy)),
                TAG_IF(a->user_agent, SIPTAG_USER_AGENT_STR(a->user_agent)),
                TAG_IF(headers, SIPTAG_HEADER_STR(headers)),
                SIPTAG_CONTENT_TYPE_STR(ctype), SIPTAG_PAYLOAD_STR(content),
                TAG_END());
    loop_kick(sip_loop(h->api->deps.sip));
    return 0;
}

void
api_req_message(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    const char *content, *uri, *ctype, *call_id;
    char *headers = NULL;
    struct api_msg *m;

    if (h == NULL || api_get_string(req, "content", true, &content) ||
        api_get_string(req, "content_type", false, &ctype) ||
        api_get_uri(req, "uri", false, &uri) ||
        api_get_string(req, "call_id", false, &call_id))
        return;
    if (uri == NULL && api_in_call(h)) {
        if (api_get_headers(req, &headers) < 0)
            return;
        api_call_message(h, ctype ? ctype : "text/plain", content, headers);
        free(headers);
        api_reply(req, h, "messagesent", json_pack("{s:s}", "call_id",
                                                   api_call_id(h)));
        return;
    }
    if (uri == NULL) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (not in a "
                        "call: an out-of-dialog MESSAGE needs uri)");
        return;
    }
    if (api_check_identity(req, h) < 0 || api_get_headers(req, &headers) < 0)
        return;
    if ((m = calloc(1, sizeof(*m))) == NULL) {
        free(headers);
        ctl_reply_error(req, CTL_ERR_INTERNAL, "out of memory");
        return;
    }
    if (call_id && call_id[0])
        snprintf(m->call_id, sizeof(m->call_id), "%s", call_id);
    else
        api_random_call_id(m->call_id, sizeof(m->call_id));
    m->next = h->msgs;
    h->msgs = m;
    if (api_msg_send(h, m, uri, ctype ? ctype : "text/plain", content,
                     headers) < 0) {
        api_msg_free(h, m);
        ctl_reply_error(req, API_ERR_LIBSOFIA, "Invalid NUA Handle");
    } else {
        api_reply(req, h, "messagesent", json_pack("{s:s}", "call_id",
                                                   m->call_id));
    }
    free(headers);
}

/* INFO belongs to a call's dialog. */
void
api_req_info(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    const char *type, *content;
    char *headers = NULL;

    if (h == NULL || api_get_string(req, "type", true, &type) ||
        api_get_string(req, "content", true, &content))
        return;
    if (!api_in_call(h)) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (not in a "
                        "call: INFO is sent in a call's dialog)");
        return;
    }
    if (api_get_headers(req, &headers) < 0)
        return;
    api_call_info(h, type, content, headers);
    free(headers);
    api_reply(req, h, "infosent", NULL);
}

/* ---- incoming ---- */

static json_t *
api_incoming_fields(const struct api_handle *h, const sip_t *sip)
{
    const sip_from_t *f = sip->sip_from;
    const sip_payload_t *pl = sip->sip_payload;
    char sender[512], display[256];
    json_t *j, *hdrs;

    url_e(sender, sizeof(sender), f->a_url);
    j = json_pack("{s:s,s:s*,s:s%}", "sender", sender, "displayname",
                  api_display(f->a_display, display, sizeof(display)), "content", pl ? pl->pl_data : "",
                  pl ? (size_t)pl->pl_len : (size_t)0);
    if (j && (hdrs = api_collect_headers(h, sip)) != NULL)
        json_object_set_new(j, "headers", hdrs);
    return j;
}

/* Janus stays silent on a MESSAGE or INFO without type or body: the
 * sender hears why here. */
static void
api_answer(const struct sip_event *ev, int status, const char *phrase,
           bool destroy)
{
    nua_respond(ev->nh, status, phrase, NUTAG_WITH_THIS(ev->nua), TAG_END());
    if (destroy)
        nua_handle_destroy(ev->nh);
}

static bool
api_incoming_ok(const struct sip_event *ev, bool destroy)
{
    const sip_t *sip = ev->sip;

    if (sip->sip_content_type && sip->sip_payload &&
        sip->sip_payload->pl_len > 0)
        return true;
    api_answer(ev, 400, "Missing Body or Content-Type", destroy);
    return false;
}

/* MESSAGE and INFO alike; @key names the Content-Type field. */
static void
api_incoming(struct api_handle *h, const struct sip_event *ev, bool destroy,
             const char *event, const char *key)
{
    json_t *f;

    if (!api_incoming_ok(ev, destroy))
        return;
    f = api_incoming_fields(h, ev->sip);
    if (f == NULL) {            /* not UTF-8: JSON cannot carry it */
        api_answer(ev, 415, "Unsupported Media Type (not UTF-8)", destroy);
        return;
    }
    json_object_set_new(f, key, json_string(ev->sip->sip_content_type->c_type));
    api_answer(ev, SIP_200_OK, destroy);
    /* Janus: the call's Call-ID when in a call, none otherwise. */
    api_emit(h, event, f, destroy ? NULL : api_call_id(h));
}

void
api_incoming_message(struct api_handle *h, const struct sip_event *ev,
                     bool destroy)
{
    api_incoming(h, ev, destroy, "message", "content_type");
}

void
api_incoming_info(struct api_handle *h, const struct sip_event *ev,
                  bool destroy)
{
    api_incoming(h, ev, destroy, "info", "type");
}

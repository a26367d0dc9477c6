/*
 * transfer.c - call transfers (RFC 3515 REFER, RFC 3891 Replaces) as the
 * Janus SIP plugin offers them.
 *
 * Transferor: `transfer` {uri, replace?} sends a REFER in the call's
 * dialog, with Replaces from another call of the account when attended;
 * the transferee's NOTIFYs come back as `notify` events.
 *
 * Transferee: a REFER in a call's dialog is accepted (202 and at once a
 * "100 Trying" NOTIFY), remembered under a random refer_id
 * and reported as `transfer`.  A `call` with that refer_id carries its
 * Replaces and Referred-By, and each response to it goes back to the
 * transferor as a message/sipfrag NOTIFY in the REFER's dialog, the final
 * one terminating the implicit subscription (RFC 3515 section 2.4.5;
 * Janus never terminates it).  `decline` {refer_id} refuses with a final
 * NOTIFY.  A REFER lives as long as the call whose dialog it came in.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include "api_int.h"
#include "sipbridge/log.h"
#include "sipbridge/loop.h"

struct api_refer {
    uint32_t id;
    struct api_handle *h;       /* whose call's dialog the REFER came in */
    nua_handle_t *nh;           /* that call's: the NOTIFYs go there */
    char *headers;              /* Replaces and Referred-By for the INVITE */
    struct api_refer *next;     /* h's */
};

static void
api_refer_key(uint32_t id, char *key, size_t len)
{
    snprintf(key, len, "%" PRIu32, id);
}

static struct api_refer *
api_refer_find(struct api *api, uint32_t id)
{
    char key[16];

    api_refer_key(id, key, sizeof(key));
    return strmap_get(api->refers, key);
}

static void
api_refer_free(struct api_refer *r)
{
    struct api_handle *h = r->h;
    struct api_refer **pp = &h->refers;
    char key[16];

    while (*pp && *pp != r)
        pp = &(*pp)->next;
    if (*pp)
        *pp = r->next;
    api_refer_key(r->id, key, sizeof(key));
    strmap_del(h->api->refers, key);
    free(r->headers);
    free(r);
}

void
api_refers_drop(struct api_handle *h)
{
    while (h->refers)
        api_refer_free(h->refers);
}

/* A sipfrag NOTIFY about the transfer; the final one ends it. */
static void
api_refer_notify(struct api_refer *r, int status, const char *phrase)
{
    char frag[128];

    snprintf(frag, sizeof(frag), "SIP/2.0 %d %s\r\n", status,
             phrase ? phrase : "");
    nua_notify(r->nh, NUTAG_SUBSTATE(status >= 200 ? nua_substate_terminated
                                                   : nua_substate_active),
               SIPTAG_CONTENT_TYPE_STR("message/sipfrag;version=2.0"),
               SIPTAG_PAYLOAD_STR(frag), TAG_END());
    if (r->nh == api_call_nh(r->h))
        api_call_sent(r->h);
    loop_kick(sip_loop(r->h->api->deps.sip));
    if (status >= 200)
        api_refer_free(r);
}

void
api_refer_progress(struct api *api, uint32_t id, int status,
                   const char *phrase)
{
    struct api_refer *r = id ? api_refer_find(api, id) : NULL;

    /* "100 Trying" went out with the 202. */
    if (r != NULL && status > 100)
        api_refer_notify(r, status, phrase);
}

const char *
api_refer_headers(struct api *api, uint32_t id)
{
    struct api_refer *r = id ? api_refer_find(api, id) : NULL;

    return r ? r->headers : NULL;
}

/*
 * The Replaces header embedded in a Refer-To URI (RFC 3891 section 6),
 * parsed, into @home.  Other embedded headers are not carried: they would
 * let the transferor put anything (a Route, say) into our INVITE.
 */
static sip_replaces_t *
api_refer_replaces(su_home_t *home, const url_t *url)
{
    char *hdrs, *line, *save = NULL;

    if (url->url_headers == NULL ||
        (hdrs = url_query_as_header_string(home, url->url_headers)) == NULL)
        return NULL;
    for (line = strtok_r(hdrs, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        if (strncasecmp(line, "replaces:", 9) == 0)
            return sip_replaces_make(home, line + 9);
    return NULL;
}

/* @return a random refer_id not in use (Janus: a random uint32; ours
 * stay below 2^31, which every JSON client reads as an integer). */
static uint32_t
api_refer_new_id(struct api *api)
{
    uint32_t id = 0;

    if (getrandom(&id, sizeof(id), 0) != sizeof(id))
        id = (uint32_t)api->events;
    for (;; id++) {
        id &= 0x7fffffff;
        if (id != 0 && api_refer_find(api, id) == NULL)
            return id;
    }
}

static struct api_refer *
api_refer_store(struct api_handle *h, nua_handle_t *nh,
                const sip_replaces_t *rp, const char *referred_by)
{
    struct api_refer *r = calloc(1, sizeof(*r));
    su_home_t *home = su_home_new(sizeof(*home));
    char key[16], *rps = NULL;
    size_t len;

    if (r == NULL || home == NULL)
        goto fail;
    rps = rp ? sip_header_as_string(home, (const sip_header_t *)rp) : NULL;
    len = (rps ? strlen(rps) : 0) + strlen(referred_by) + 40;
    if ((r->headers = malloc(len)) == NULL)
        goto fail;
    snprintf(r->headers, len, "%s%s%sReferred-By: %s\r\n", rps ? "Replaces: "
             : "", rps ? rps : "", rps ? "\r\n" : "", referred_by);
    r->id = api_refer_new_id(h->api);
    r->h = h;
    r->nh = nh;
    api_refer_key(r->id, key, sizeof(key));
    if (strmap_put(h->api->refers, key, r) < 0)
        goto fail;
    r->next = h->refers;
    h->refers = r;
    su_home_unref(home);
    return r;
fail:
    if (r)
        free(r->headers);
    free(r);
    if (home)
        su_home_unref(home);
    return NULL;
}

void
api_refer_incoming(struct api_handle *h, const struct sip_event *ev)
{
    const sip_t *sip = ev->sip;
    su_home_t *home;
    sip_replaces_t *rp;
    struct api_refer *r;
    char *to, *by;
    json_t *f, *hdrs;

    if (sip->sip_refer_to == NULL) {
        nua_respond(ev->nh, 400, "Missing Refer-To", NUTAG_WITH_THIS(ev->nua),
                    TAG_END());
        return;
    }
    if ((home = su_home_new(sizeof(*home))) == NULL) {
        nua_respond(ev->nh, SIP_500_INTERNAL_SERVER_ERROR,
                    NUTAG_WITH_THIS(ev->nua), TAG_END());
        return;
    }
    rp = api_refer_replaces(home, sip->sip_refer_to->r_url);
    by = sip->sip_referred_by
        ? sip_header_as_string(home, (const sip_header_t *)sip->sip_referred_by)
        : url_as_string(home, sip->sip_from->a_url);
    if ((r = api_refer_store(h, ev->nh, rp, by ? by : "")) == NULL) {
        nua_respond(ev->nh, SIP_500_INTERNAL_SERVER_ERROR,
                    NUTAG_WITH_THIS(ev->nua), TAG_END());
        su_home_unref(home);
        return;
    }
    nua_respond(ev->nh, SIP_202_ACCEPTED, NUTAG_WITH_THIS(ev->nua), TAG_END());
    api_refer_notify(r, 100, "Trying");  /* RFC 3515 2.4.4: at once */
    /* refer_to is the target without its embedded headers, as Janus. */
    {
        url_t *u = url_hdup(home, sip->sip_refer_to->r_url);

        u->url_headers = NULL;
        to = url_as_string(home, u);
    }
    f = json_pack("{s:I,s:s,s:s*,s:s*}", "refer_id", (json_int_t)r->id,
                  "refer_to", to ? to : "", "referred_by", by,
                  "replaces", rp ? rp->rp_call_id : NULL);
    if ((hdrs = api_collect_headers(h, sip)) != NULL)
        json_object_set_new(f, "headers", hdrs);
    api_emit(h, "transfer", f, NULL);
    su_home_unref(home);
}

int
api_refer_decline(struct api_handle *h, struct ctl_request *req,
                  uint32_t id, unsigned code)
{
    struct api_refer *r = api_refer_find(h->api, id);

    if (r == NULL) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (no transfer "
                        "with refer_id %" PRIu32 ")", id);
        return -1;
    }
    if (code < 400 || code > 699)       /* Janus: <= 399 becomes 603 */
        code = 603;
    api_refer_notify(r, (int)code, sip_status_phrase((int)code)
                     ? sip_status_phrase((int)code) : "Declined");
    api_reply(req, h, "declining", json_pack("{s:I,s:i}", "refer_id",
                                             (json_int_t)id, "code",
                                             (int)code));
    return 0;
}

/* ---- transferor ---- */

/* The call of @h's account (master and helpers) whose Call-ID is @cid. */
static struct api_handle *
api_transfer_find_call(struct api_handle *h, const char *cid)
{
    struct api_handle *m = h->master ? h->master : h;

    for (struct api_handle *x = h->api->handles; x; x = x->next)
        if ((x == m || x->master == m) && x != h && api_in_call(x) &&
            strcmp(api_call_id(x), cid) == 0)
            return x;
    return NULL;
}

void
api_req_transfer(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req), *other = NULL;
    const char *uri, *replace;
    su_home_t *home;
    const struct api_account *a;
    char *query = NULL, *refer_to;

    if (h == NULL || api_get_uri(req, "uri", true, &uri) < 0 ||
        api_get_string(req, "replace", false, &replace) < 0)
        return;
    if (!api_in_call(h)) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (not in a "
                        "call)");
        return;
    }
    if (replace && (other = api_transfer_find_call(h, replace)) == NULL) {
        ctl_reply_error(req, API_ERR_NO_SUCH_CALLID, "No such call-ID %s",
                        replace);
        return;
    }
    if ((home = su_home_new(sizeof(*home))) == NULL) {
        ctl_reply_error(req, API_ERR_LIBSOFIA, "Out of memory");
        return;
    }
    if (other) {
        sip_replaces_t *rp = nua_handle_make_replaces(api_call_nh(other),
                                                      home, 0);

        query = rp ? sip_headers_as_url_query(home, SIPTAG_REPLACES(rp),
                                              TAG_END()) : NULL;
        if (query == NULL) {
            su_home_unref(home);
            ctl_reply_error(req, API_ERR_NO_SUCH_CALLID, "No such call-ID "
                            "%s (its dialog is not established)", replace);
            return;
        }
    }
    refer_to = su_sprintf(home, "<%s%s%s>", uri, query ? "?" : "",
                          query ? query : "");
    a = api_identity(h);
    nua_refer(api_call_nh(h), SIPTAG_REFER_TO_STR(refer_to),
              TAG_IF(a, SIPTAG_REFERRED_BY_STR(su_sprintf(home, "<%s>",
                                                          a ? a->uri : ""))),
              TAG_END());
    api_call_sent(h);
    loop_kick(sip_loop(h->api->deps.sip));
    su_home_unref(home);
    api_reply(req, h, "transferring", NULL);
}

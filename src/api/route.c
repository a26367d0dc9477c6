/*
 * route.c - out-of-dialog requests that no capability owns, to handles:
 * by the sbh= token of a registered Contact, by a trunk endpoint's
 * Request-URI user (no registration needed: a PBX routes to an account by
 * its user part), or by the Contact user part of a registered account.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/url.h>

#include "api_int.h"
#include "sipbridge/log.h"
#include "sipbridge/peer.h"

static bool
api_is_trunk(const struct api *api, const struct sip_event *ev)
{
    struct sockaddr_storage src;
    const struct peer_endpoint *ep;

    if (api->cfg.ntrunks == 0 || sip_event_source(api->deps.sip, &src) < 0)
        return false;
    ep = peer_identify(api->peers, ev->sip, (struct sockaddr *)&src);
    for (size_t i = 0; ep && i < api->cfg.ntrunks; i++)
        if (strcmp(api->cfg.trunks[i], ep->name) == 0)
            return true;
    return false;
}

/* The account whose user part is @user: registered ones only, unless
 * the request comes from a trunk. */
static struct api_handle *
api_by_user(struct api *api, const char *user, bool trunk)
{
    for (struct api_handle *h = api->handles; h; h = h->next) {
        if (!h->has_acct || h->master || strcmp(h->acct.user, user) != 0)
            continue;
        if (trunk || h->reg == API_REG_REGISTERED)
            return h;
    }
    return NULL;
}

static struct api_handle *
api_route_find(struct api *api, const struct sip_event *ev)
{
    const url_t *u = ev->sip->sip_request->rq_url;
    char token[32];

    if (u->url_params &&
        url_param(u->url_params, "sbh", token, sizeof(token)) > 0)
        return strmap_get(api->by_route, token);
    /* The core's unescaped user part: NULL when it names nobody. */
    if (ev->user == NULL || ev->user[0] == '\0')
        return NULL;
    return api_by_user(api, ev->user, api_is_trunk(api, ev));
}

static void
api_respond(const struct sip_event *ev, int status, const char *phrase)
{
    nua_respond(ev->nh, status, phrase, NUTAG_WITH_THIS(ev->nua), TAG_END());
    nua_handle_destroy(ev->nh);
}

static void
api_dispatch(struct api_handle *h, const struct sip_event *ev)
{
    switch (ev->event) {
    case nua_i_message:
        api_incoming_message(h, ev, true);
        break;
    case nua_i_info:
        api_incoming_info(h, ev, true);
        break;
    case nua_i_notify:
        api_incoming_notify(h, ev, true);
        break;
    case nua_i_invite:
        api_call_incoming(h, ev);
        break;
    default:
        nua_respond(ev->nh, SIP_405_METHOD_NOT_ALLOWED,
                    NUTAG_WITH_THIS(ev->nua),
                    SIPTAG_ALLOW_STR("INVITE, MESSAGE, INFO, NOTIFY"), TAG_END());
        nua_handle_destroy(ev->nh);
    }
}

int
api_route_request(void *owner, const struct sip_event *ev)
{
    struct api *api = owner;
    struct api_handle *h = api_route_find(api, ev);

    if (h == NULL) {
        api->not_found++;
        return -ENOENT;         /* the core answers 404 */
    }
    if (h->client == 0) {       /* its application is away: it may be back */
        api->away++;
        api_respond(ev, SIP_480_TEMPORARILY_UNAVAILABLE);
        return 0;
    }
    api->requests_routed++;
    api_dispatch(h, ev);
    return 0;
}

/*
 * inbound.c - the PUBLISH server (RFC 3903) of the inbound publications,
 * answering as Asterisk's res_pjsip_pubsub does where that is right, and
 * better where it is not (400 with a reason instead of 500, a body-less
 * PUBLISH without SIP-If-Match accepted, a grace period past Expires, our
 * own eid refused).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_tagarg.h>

#include "pubstate_int.h"
#include "sipbridge/digest.h"
#include "sipbridge/log.h"
#include "sipbridge/peer.h"

#define PS_DEFAULT_EXPIRES 3600
/* Asterisk refreshes at exactly the Expires it sent: keep publications
 * this long past it so that its refresh does not race into a 412. */
#define PS_GRACE_S 32
/* Publications kept at most; past it initial PUBLISHes get 503. */
#define PS_MAX_PUBS 200000
#define PS_MIN_BUCKETS 256

struct ps_req {
    struct pubstate *ps;
    struct ps_inbound *in;
    const struct sip_event *ev;
    const sip_t *sip;
    enum ps_event event;
    unsigned expires;
    bool has_body;
    const char *if_match;          /* NULL when absent */
};

/* ---- publications by ETag ---- */

static struct ps_pub **
ps_pub_slot(struct pubstate *ps, uint32_t etag)
{
    struct ps_pub **pp = &ps->pubs[etag & (ps->npub_buckets - 1)];

    while (*pp && (*pp)->etag != etag)
        pp = &(*pp)->chain;
    return pp;
}

static int
ps_pubs_grow(struct pubstate *ps)
{
    size_t n = ps->npub_buckets ? ps->npub_buckets * 2 : PS_MIN_BUCKETS;
    struct ps_pub **b = calloc(n, sizeof(*b));

    if (b == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ps->npub_buckets; i++) {
        struct ps_pub *p = ps->pubs[i], *next;

        for (; p; p = next) {
            next = p->chain;
            p->chain = b[p->etag & (n - 1)];
            b[p->etag & (n - 1)] = p;
        }
    }
    free(ps->pubs);
    ps->pubs = b;
    ps->npub_buckets = n;
    return 0;
}

/* ETags are decimal integers, as Asterisk's; ours start at a random
 * point so that a peer's ETag from before our restart gets a 412. */
static uint32_t
ps_new_etag(struct pubstate *ps)
{
    if (ps->next_etag == 0 || ps->next_etag > 0x7fffffffu)
        ps->next_etag = 1;
    return ps->next_etag++;
}

static void
ps_pub_link(struct pubstate *ps, struct ps_pub *p)
{
    struct ps_pub **pp;

    do
        p->etag = ps_new_etag(ps);
    while (*(pp = ps_pub_slot(ps, p->etag)) != NULL);
    *pp = p;
}

static void
ps_pub_unlink(struct pubstate *ps, struct ps_pub *p)
{
    struct ps_pub **pp = ps_pub_slot(ps, p->etag);

    if (*pp == p)
        *pp = p->chain;
    p->chain = NULL;
}

static void
ps_pub_free(struct ps_pub *p)
{
    event_free(p->timer);
    free(p);
}

/* Expiry ends the publication only: the state stays, as in Asterisk. */
static void
ps_pub_expire(evutil_socket_t fd, short what, void *arg)
{
    struct ps_pub *p = arg;
    struct pubstate *ps = p->ps;

    (void)fd;
    (void)what;
    log_debug("pubstate", "publication %u expired", p->etag);
    ps_pub_unlink(ps, p);
    ps->npubs--;
    ps_pub_free(p);
}

static void
ps_pub_arm(struct ps_pub *p, unsigned expires)
{
    struct timeval tv = { (time_t)expires + PS_GRACE_S, 0 };

    evtimer_add(p->timer, &tv);
}

static struct ps_pub *
ps_pub_new(struct pubstate *ps, enum ps_event event, unsigned expires)
{
    struct ps_pub *p;

    if (ps->npubs >= ps->npub_buckets && ps_pubs_grow(ps) < 0)
        return NULL;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    p->ps = ps;
    p->event = event;
    p->timer = evtimer_new(ps->base, ps_pub_expire, p);
    if (p->timer == NULL) {
        free(p);
        return NULL;
    }
    ps_pub_link(ps, p);
    ps->npubs++;
    ps_pub_arm(p, expires);
    return p;
}

static struct ps_pub *
ps_pub_find(struct pubstate *ps, const char *etag, enum ps_event event)
{
    char *end;
    unsigned long v;
    struct ps_pub *p;

    if (ps->npub_buckets == 0 || etag[0] < '0' || etag[0] > '9')
        return NULL;
    v = strtoul(etag, &end, 10);
    if (*end != '\0' || v == 0 || v > 0x7fffffffu)
        return NULL;
    p = *ps_pub_slot(ps, (uint32_t)v);
    return p && p->event == event ? p : NULL;
}

void
ps_pubs_free(struct pubstate *ps)
{
    for (size_t i = 0; i < ps->npub_buckets; i++) {
        struct ps_pub *p = ps->pubs[i], *next;

        for (; p; p = next) {
            next = p->chain;
            ps_pub_free(p);
        }
    }
    free(ps->pubs);
    ps->pubs = NULL;
    ps->npub_buckets = ps->npubs = 0;
}

/* ---- responses ---- */

static void
ps_respond(struct ps_req *r, int status, const char *phrase, tag_type_t tag,
           tag_value_t value, ...)
{
    ta_list ta;

    ta_start(ta, tag, value);
    nua_respond(r->ev->nh, status, phrase, NUTAG_WITH_THIS(r->ev->nua),
                ta_tags(ta));
    ta_end(ta);
    nua_handle_destroy(r->ev->nh);
}

static void
ps_respond_ok(struct ps_req *r, const struct ps_pub *p, unsigned expires)
{
    char etag[16], exp[16];

    snprintf(etag, sizeof(etag), "%u", p ? p->etag : 0u);
    snprintf(exp, sizeof(exp), "%u", expires);
    r->ps->n.in_ok++;
    ps_respond(r, SIP_200_OK, TAG_IF(p, SIPTAG_ETAG_STR(etag)),
               SIPTAG_EXPIRES_STR(exp), TAG_END());
}

/* 400 with a Warning (RFC 3261 20.43) that says what is wrong. */
static void
ps_respond_bad(struct ps_req *r, const char *why)
{
    const url_t *u = r->sip->sip_request->rq_url;
    char warning[PUBSTATE_WHY_MAX + 128];

    snprintf(warning, sizeof(warning), "399 %s \"%s\"",
             u->url_host && u->url_host[0] ? u->url_host : "sipbridge", why);
    r->ps->n.in_bad++;
    log_notice_limited("pubstate", "PUBLISH to '%s' (Event %s): 400: %s", r->in->name,
               ps_event_names[r->event], why);
    ps_respond(r, 400, "Bad Request", SIPTAG_WARNING_STR(warning), TAG_END());
}

static void
ps_respond_412(struct ps_req *r)
{
    r->ps->n.in_412++;
    log_info_limited("pubstate", "PUBLISH to '%s': SIP-If-Match '%s' unknown: 412",
             r->in->name, r->if_match ? r->if_match : "(none)");
    ps_respond(r, 412, "Conditional Request Failed", TAG_END());
}

/* ---- bodies ---- */

static void
ps_apply_refresh(struct pubstate *ps, const struct ps_asterisk *a,
                 enum ps_event event)
{
    struct ps_target *t;

    if (a->publish[event] == NULL) {
        log_info("pubstate", "refresh request for [%s] ignored: no %s",
                 a->name, event == PS_EV_DEVICE ? "devicestate_publish"
                                                : "mailboxstate_publish");
        return;
    }
    if ((t = ps_target_find(ps, a->publish[event])) != NULL)
        ps_target_dump_local(t);
}

static void
ps_apply_state(struct pubstate *ps, const struct ps_asterisk *a,
               const struct pubstate_body *b)
{
    enum ps_event ev = b->type == PUBSTATE_BODY_DEVICE ? PS_EV_DEVICE
                                                       : PS_EV_MWI;
    int rc;

    if (!a->accept[ev] || !ps_filter_match(&a->filter[ev], b->name)) {
        ps->n.in_ignored++;
        return;
    }
    if (ev == PS_EV_DEVICE)
        rc = pubstate_store_set_device(ps->store, b->name, &b->eid, b->state,
                                       b->cachable);
    else
        rc = pubstate_store_set_mailbox(ps->store, b->name, &b->eid,
                                        b->new_msgs, b->old_msgs);
    if (rc < 0) {
        log_err("pubstate", "cannot store state of '%s': %s", b->name,
                strerror(-rc));
        return;
    }
    ps->n.states_applied++;
    if (rc == 0)
        return;
    if (ev == PS_EV_DEVICE)
        ps_device_changed(ps, b->name, &b->eid);
    else
        ps_mailbox_changed(ps, b->name, &b->eid);
}

/* @return 0, or -EINVAL with @why set (the request gets 400). */
static int
ps_apply_body(struct ps_req *r, char *why, size_t len)
{
    struct pubstate *ps = r->ps;
    const struct ps_asterisk *a = ps_asterisk_find(ps->asterisks,
                                                   r->in->asterisk[r->event]);
    const sip_payload_t *pl = r->sip->sip_payload;
    const sip_content_type_t *ct = r->sip->sip_content_type;
    struct pubstate_body b;

    if (pubstate_body_parse(ps_event_names[r->event], ct ? ct->c_type : NULL,
                            pl->pl_data, pl->pl_len, &b, why, len) != 0)
        return -EINVAL;
    if (pubstate_eid_equal(&b.eid, &ps->eid)) {
        /* Only our own states carry our eid: this one went round a loop. */
        ps->n.in_own_eid++;
        snprintf(why, len, "eid %s is this instance's own entity id",
                 ps->eid_str);
        pubstate_body_clear(&b);
        return -EINVAL;
    }
    if (a == NULL)
        ;  /* the config check makes this impossible */
    else if (b.type == PUBSTATE_BODY_REFRESH)
        ps_apply_refresh(ps, a, r->event);
    else
        ps_apply_state(ps, a, &b);
    pubstate_body_clear(&b);
    return 0;
}

/* ---- the RFC 3903 request types ---- */

static void
ps_respond_503(struct ps_req *r, const char *why)
{
    log_warn("pubstate", "PUBLISH to '%s': %s: 503", r->in->name, why);
    ps_respond(r, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("60"),
               TAG_END());
}

static void
ps_do_initial(struct ps_req *r)
{
    char why[PUBSTATE_WHY_MAX + 1];
    struct ps_pub *p;

    /* Refused requests change nothing: the cap comes before the body. */
    if (r->ps->npubs >= PS_MAX_PUBS) {
        ps_respond_503(r, "too many publications");
        return;
    }
    if (r->has_body && ps_apply_body(r, why, sizeof(why)) != 0) {
        ps_respond_bad(r, why);
        return;
    }
    /* Without a body this is Asterisk's re-send of a refresh after a 412:
     * an empty publication lets its publisher carry on. */
    if ((p = ps_pub_new(r->ps, r->event, r->expires)) == NULL) {
        ps_respond_503(r, "out of memory");
        return;
    }
    ps_respond_ok(r, p, r->expires);
}

static void
ps_do_conditional(struct ps_req *r)
{
    struct ps_pub *p = r->if_match ? ps_pub_find(r->ps, r->if_match,
                                                 r->event) : NULL;
    char why[PUBSTATE_WHY_MAX + 1];

    if (p == NULL) {
        ps_respond_412(r);
        return;
    }
    if (r->has_body && ps_apply_body(r, why, sizeof(why)) != 0) {
        ps_respond_bad(r, why);
        return;
    }
    if (r->expires == 0) {
        ps_pub_unlink(r->ps, p);
        r->ps->npubs--;
        ps_pub_free(p);
        ps_respond_ok(r, NULL, 0);
        return;
    }
    /* Every 2xx carries a new entity-tag (RFC 3903 section 6). */
    ps_pub_unlink(r->ps, p);
    ps_pub_link(r->ps, p);
    ps_pub_arm(p, r->expires);
    ps_respond_ok(r, p, r->expires);
}

/* ---- who may publish ---- */

/* @return 0 to go on, or 1 if the request has been answered. */
static int
ps_admit(struct ps_req *r)
{
    struct pubstate *ps = r->ps;
    struct sockaddr_storage src;
    const struct peer_endpoint *ep = NULL;
    char chal[512];
    int rc;

    rc = peer_admit(ps->peers, ps->digest, r->sip,
                    sip_event_source(ps->deps.sip, &src) == 0
                        ? (struct sockaddr *)&src : NULL,
                    r->in->endpoint, &ep, chal, sizeof(chal));
    switch (rc) {
    case 0:
        return 0;
    case PEER_FORBIDDEN:
        ps->n.in_forbidden++;
        log_notice_limited("pubstate", "PUBLISH to '%s' from %s: only "
                           "endpoint '%s' may publish here: 403", r->in->name,
                           ep ? ep->name : "an unidentified sender",
                           r->in->endpoint);
        ps_respond(r, SIP_403_FORBIDDEN, TAG_END());
        return 1;
    case PEER_CHALLENGE:
        ps->n.in_401++;
        log_info_limited("pubstate", "PUBLISH to '%s' from endpoint '%s': "
                         "challenged", r->in->name, ep->name);
        ps_respond(r, SIP_401_UNAUTHORIZED, SIPTAG_WWW_AUTHENTICATE_STR(chal),
                   TAG_END());
        return 1;
    default:
        ps_respond(r, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
        return 1;
    }
}

static int
ps_event_of(const sip_t *sip, enum ps_event *out)
{
    const char *t = sip->sip_event ? sip->sip_event->o_type : NULL;

    for (int e = 0; t && e < PS_EV_N; e++) {
        if (strcmp(t, ps_event_names[e]) == 0) {
            *out = (enum ps_event)e;
            return 0;
        }
    }
    return -ENOENT;
}

static void
ps_publish(struct ps_inbound *in, const struct sip_event *ev)
{
    struct ps_req r = { in->ps, in, ev, ev->sip, PS_EV_DEVICE, 0, false,
                        NULL };

    in->ps->n.in_requests++;
    if (ps_event_of(ev->sip, &r.event) != 0) {
        /* nua answers 489 before us for events we did not allow. */
        ps_respond(&r, SIP_489_BAD_EVENT, TAG_END());
        return;
    }
    if (ps_admit(&r))
        return;
    if (in->asterisk[r.event] == NULL) {
        in->ps->n.in_not_found++;
        log_notice_limited("pubstate", "PUBLISH to '%s': no event_%s there: 404",
                   in->name, ps_event_names[r.event]);
        ps_respond(&r, SIP_404_NOT_FOUND, TAG_END());
        return;
    }
    r.expires = r.sip->sip_expires ? r.sip->sip_expires->ex_delta
                                   : PS_DEFAULT_EXPIRES;
    r.has_body = r.sip->sip_payload && r.sip->sip_payload->pl_len > 0;
    r.if_match = r.sip->sip_if_match ? r.sip->sip_if_match->g_string : NULL;
    if (r.has_body && r.sip->sip_content_type &&
        !pubstate_body_ctype_ok(r.sip->sip_content_type->c_type)) {
        /* RFC 3903 6 step 2 and RFC 3261 21.4.13: 415 with Accept (no
         * Content-Type at all is a malformed request: 400 below). */
        in->ps->n.in_bad++;
        log_info_limited("pubstate", "PUBLISH to '%s': body is not "
                         PUBSTATE_CONTENT_TYPE ": 415", in->name);
        ps_respond(&r, SIP_415_UNSUPPORTED_MEDIA,
                   SIPTAG_ACCEPT_STR(PUBSTATE_CONTENT_TYPE), TAG_END());
        return;
    }
    if (r.if_match || r.expires == 0)
        ps_do_conditional(&r);
    else
        ps_do_initial(&r);
}

int
ps_inbound_request(void *owner, const struct sip_event *ev)
{
    struct ps_inbound *in = owner;

    if (ev->event == nua_i_publish) {
        ps_publish(in, ev);
        return 0;
    }
    nua_respond(ev->nh, SIP_405_METHOD_NOT_ALLOWED,
                NUTAG_WITH_THIS(ev->nua), SIPTAG_ALLOW_STR("PUBLISH"),
                TAG_END());
    nua_handle_destroy(ev->nh);
    return 0;
}

/*
 * register.c - register / unregister: an account's REGISTER with nua's
 * registration usage (refreshed by nua from the granted Expires), digest
 * with the secret or its HA1, and, unlike Janus, a retry with backoff
 * after a failure instead of a wiped account.
 *
 * The Contact carries our transport address, the account's user part and
 * sbh=<token>: requests sent to it are routed back to this handle (route.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <sofia-sip/auth_digest.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_md5.h>

#include "api_int.h"
#include "sipbridge/log.h"
#include "sipbridge/loop.h"

/* Challenges answered in a row before a registration counts as failed. */
#define API_MAX_AUTH 3

static void api_reg_event(struct sip_owner *self, const struct sip_event *ev);
static int api_reg_send(struct api_handle *h, const char *authorization);

/* A handle let go while its un-REGISTER is out: destroyed on the answer. */
static void
api_orphan_event(struct sip_owner *self, const struct sip_event *ev)
{
    (void)self;
    if (ev->status >= 200 && (ev->event == nua_r_unregister ||
                              ev->event == nua_r_register))
        nua_handle_destroy(ev->nh);
}

static const struct sip_owner api_orphan = { api_orphan_event };

/* ---- sending ---- */

static void
api_reg_contact_params(const struct api_handle *h, char *buf, size_t len)
{
    const struct api_account *a = &h->acct;

    snprintf(buf, len, "sbh=%s%s%s", h->route,
             a->force_tcp ? ";transport=tcp" : "",
             a->contact_params ? a->contact_params : "");
}

static void
api_reg_registrar(const struct api_account *a, char *buf, size_t len)
{
    if (a->proxy)
        snprintf(buf, len, "%s", a->proxy);
    else
        snprintf(buf, len, "sip:%s", a->domain);
    if (a->force_tcp && strstr(buf, "transport=") == NULL)
        snprintf(buf + strlen(buf), len - strlen(buf), ";transport=tcp");
}

/*
 * nua_register() on the handle that holds the registration updates it
 * (same Call-ID); a new handle is made only when there is none.  Dropping
 * a registered handle would make nua send an un-REGISTER of the Contact
 * we are about to register again.
 */
static int
api_reg_send(struct api_handle *h, const char *authorization)
{
    const struct api_account *a = &h->acct;
    char registrar[600], params[300], ttl[16];

    if (h->reg_nh.nh == NULL &&
        api_nh_new(&h->reg_nh, h, api_reg_event, a->uri) == NULL)
        return -ENOMEM;
    api_reg_registrar(a, registrar, sizeof(registrar));
    api_reg_contact_params(h, params, sizeof(params));
    snprintf(ttl, sizeof(ttl), "%u", a->ttl);
    nua_register(h->reg_nh.nh, NUTAG_REGISTRAR(registrar),
                 TAG_IF(a->outbound_proxy, NUTAG_PROXY(a->outbound_proxy)),
                 NUTAG_M_USERNAME(a->user), NUTAG_M_PARAMS(params),
                 NUTAG_OUTBOUND("no-options-keepalive, no-validate"),
                 NUTAG_KEEPALIVE(0), SIPTAG_EXPIRES_STR(ttl),
                 TAG_IF(a->user_agent, SIPTAG_USER_AGENT_STR(a->user_agent)),
                 TAG_IF(a->headers, SIPTAG_HEADER_STR(a->headers)),
                 TAG_IF(authorization,
                        SIPTAG_AUTHORIZATION_STR(authorization)),
                 TAG_END());
    loop_kick(sip_loop(h->api->deps.sip));
    return 0;
}

static void
api_reg_on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct api_handle *h = arg;

    (void)fd;
    (void)what;
    h->reg = API_REG_REGISTERING;
    if (api_reg_send(h, NULL) < 0)
        log_err("api", "handle %" PRIu64 ": cannot re-REGISTER", h->id);
}

/* Janus wipes the account and never retries; we keep it and retry. */
static void
api_reg_schedule_retry(struct api_handle *h)
{
    struct api *api = h->api;
    unsigned ms = loop_backoff_ms(h->failures, api->cfg.retry_min_ms,
                                  api->cfg.retry_max_ms);

    if (h->retry == NULL &&
        (h->retry = evtimer_new(api->base, api_reg_on_retry, h)) == NULL)
        return;
    h->failures++;
    loop_timer_add_ms(h->retry, ms);
}

/* ---- digest with HA1 (sofia-sip 1.12.11 has no "HA1+" credentials) ---- */

static int
api_ha1_authorization(const struct api_handle *h, const sip_t *sip,
                      char *buf, size_t len)
{
    const struct api_account *a = &h->acct;
    const msg_auth_t *au = sip->sip_www_authenticate
                               ? sip->sip_www_authenticate
                               : sip->sip_proxy_authenticate;
    su_home_t home[1] = { SU_HOME_INIT(home) };
    auth_challenge_t ac[1];
    auth_response_t ar[1];
    char uri[600], cnonce[17], response[33];
    uint8_t r[8];
    int n = -1;

    memset(ac, 0, sizeof(ac));
    memset(ar, 0, sizeof(ar));
    ac->ac_size = sizeof(ac);
    ar->ar_size = sizeof(ar);
    if (au == NULL || auth_digest_challenge_get(home, ac, au->au_params) < 0
        || getrandom(r, sizeof(r), 0) != sizeof(r))
        goto out;
    for (int i = 0; i < 8; i++)
        snprintf(cnonce + 2 * i, 3, "%02x", r[i]);
    api_reg_registrar(a, uri, sizeof(uri));
    ar->ar_username = a->authuser ? a->authuser : a->user;
    ar->ar_realm = ac->ac_realm;
    ar->ar_nonce = ac->ac_nonce;
    ar->ar_uri = uri;
    ar->ar_algorithm = "MD5";
    ar->ar_md5 = 1;
    ar->ar_qop = ac->ac_auth ? "auth" : NULL;
    ar->ar_auth = ac->ac_auth;
    ar->ar_cnonce = cnonce;
    ar->ar_nc = "00000001";
    if (auth_digest_response(ar, response, a->ha1, "REGISTER", NULL, 0) < 0)
        goto out;
    n = snprintf(buf, len, "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\""
                 ", uri=\"%s\", response=\"%s\", algorithm=MD5%s%s%s%s%s",
                 ar->ar_username, ac->ac_realm, ac->ac_nonce, uri, response,
                 ar->ar_qop ? ", qop=auth, nc=00000001, cnonce=\"" : "",
                 ar->ar_qop ? cnonce : "", ar->ar_qop ? "\"" : "",
                 ac->ac_opaque ? ", opaque=\"" : "",
                 ac->ac_opaque ? ac->ac_opaque : "");
    if (ac->ac_opaque && n > 0 && (size_t)n + 2 < len)
        strcat(buf, "\"");
out:
    su_home_deinit(home);
    return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

/* @return 0 if the challenge is being answered. */
static int
api_reg_authenticate(struct api_handle *h, const sip_t *sip)
{
    char cred[1024];

    if (++h->auth_tries > API_MAX_AUTH)
        return -EACCES;
    if (h->acct.ha1) {
        /* nua waits for nua_authenticate() on this handle, which takes
         * passwords only: the answer goes on a new one.  Dropping this one
         * un-REGISTERs nothing: that request would be challenged too. */
        if (api_ha1_authorization(h, sip, cred, sizeof(cred)) < 0)
            return -EINVAL;
        api_nh_drop(&h->reg_nh);
        return api_reg_send(h, cred);
    }
    if (api_credentials(&h->acct, sip, cred, sizeof(cred)) < 0)
        return -EINVAL;
    nua_authenticate(h->reg_nh.nh, NUTAG_AUTH(cred), TAG_END());
    loop_kick(sip_loop(h->api->deps.sip));
    return 0;
}

/* ---- responses ---- */

static json_t *
api_reg_fields(const struct api_handle *h, const sip_t *sip)
{
    json_t *f = json_pack("{s:s,s:b,s:I}", "username", h->acct.user,
                          "register_sent", 1, "master_id",
                          (json_int_t)h->acct.master_id);
    json_t *hdrs = api_collect_headers(h, sip);

    if (hdrs)
        json_object_set_new(f, "headers", hdrs);
    return f;
}

static void
api_reg_failed(struct api_handle *h, int status, const char *phrase,
               const sip_t *sip)
{
    json_t *f = json_pack("{s:i,s:s}", "code", status, "reason", phrase);
    json_t *hdrs = api_collect_headers(h, sip);

    if (hdrs)
        json_object_set_new(f, "headers", hdrs);
    log_info("api", "handle %" PRIu64 " (%s): registration failed: %d %s",
             h->id, h->acct.uri, status, phrase);
    api_emit(h, "registration_failed", f, NULL);
}

static void
api_reg_response(struct api_handle *h, const struct sip_event *ev)
{
    int st = ev->status;

    if ((st == 401 || st == 407) && ev->sip &&
        (ev->sip->sip_www_authenticate || ev->sip->sip_proxy_authenticate) &&
        api_reg_authenticate(h, ev->sip) == 0)
        return;
    h->auth_tries = 0;
    if (st < 300) {
        h->reg = API_REG_REGISTERED;
        h->failures = 0;
        api_emit(h, "registered", api_reg_fields(h, ev->sip), NULL);
        return;
    }
    api_nh_drop(&h->reg_nh);
    h->reg = API_REG_UNREGISTERED;
    api_reg_failed(h, st, ev->phrase, ev->sip);
    api_reg_schedule_retry(h);
}

static void
api_unreg_response(struct api_handle *h, const struct sip_event *ev)
{
    json_t *hdrs;

    api_nh_drop(&h->reg_nh);
    h->reg = API_REG_UNREGISTERED;
    api_detach_helpers(h);
    if (ev->status >= 300) {
        api_reg_failed(h, ev->status, ev->phrase, ev->sip);
        return;
    }
    hdrs = api_collect_headers(h, ev->sip);
    api_emit(h, "unregistered", hdrs ? json_pack("{s:s,s:o}", "username",
                                                 h->acct.user, "headers",
                                                 hdrs)
                                     : json_pack("{s:s}", "username",
                                                 h->acct.user), NULL);
}

static void
api_reg_event(struct sip_owner *self, const struct sip_event *ev)
{
    struct api_handle *h = ((struct api_nh *)self)->h;

    if (ev->status < 200)
        return;
    if (ev->event == nua_r_register && h->reg != API_REG_UNREGISTERING)
        api_reg_response(h, ev);
    else if (ev->event == nua_r_unregister ||
             (ev->event == nua_r_register && h->reg == API_REG_UNREGISTERING))
        api_unreg_response(h, ev);
}

/* Destroy unregisters: nua sends the un-REGISTER and we forget the rest. */
void
api_register_stop(struct api_handle *h)
{
    if (h->retry)
        evtimer_del(h->retry);
    if (h->reg_nh.nh == NULL)
        return;
    if (h->reg == API_REG_REGISTERED || h->reg == API_REG_REGISTERING) {
        nua_handle_bind(h->reg_nh.nh, (nua_hmagic_t *)&api_orphan);
        nua_unregister(h->reg_nh.nh, TAG_END());
        loop_kick(sip_loop(h->api->deps.sip));
        h->reg_nh.nh = NULL;
        return;
    }
    api_nh_drop(&h->reg_nh);
}

/* ---- requests ---- */

struct api_reg_req {
    const char *type, *username, *secret, *ha1, *authuser, *display;
    const char *user_agent, *proxy, *outbound_proxy;
    bool send_register, force_udp, force_tcp, sips, rfc2543_cancel, refresh;
    unsigned ttl, master_id;
    bool has_master_id;
    char *headers, *contact_params;
    json_t *prefixes;
};

/* "contact_params": {name: string} -> ";name=value..." */
static int
api_get_contact_params(struct ctl_request *req, char **out)
{
    json_t *v = json_object_get(req->msg, "contact_params"), *val;
    const char *name;
    char buf[512] = "";

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        goto bad;
    json_object_foreach(v, name, val) {
        if (!json_is_string(val) || name[strspn(name, "abcdefghijklmnopqrstu"
                                                "vwxyzABCDEFGHIJKLMNOPQRSTUVWX"
                                                "YZ0123456789-_.!~*'")] != '\0'
            || strpbrk(json_string_value(val), ";,<>\"\r\n \t"))
            goto bad;
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ";%s%s%s",
                 name, json_string_length(val) ? "=" : "",
                 json_string_value(val));
    }
    if (buf[0] && (*out = strdup(buf)) == NULL)
        return -1;
    return 0;
bad:
    ctl_reply_error(req, API_ERR_INVALID_ELEMENT, "Invalid element type "
                    "(contact_params should be an object of URI parameter "
                    "names to token strings)");
    return -1;
}

static int
api_get_prefixes(struct ctl_request *req, json_t **out)
{
    json_t *v = json_object_get(req->msg, "incoming_header_prefixes"), *p;
    size_t i;

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        goto bad;
    json_array_foreach(v, i, p)
        if (!json_is_string(p))
            goto bad;
    *out = json_incref(v);
    return 0;
bad:
    ctl_reply_error(req, API_ERR_INVALID_ELEMENT, "Invalid element type "
                    "(incoming_header_prefixes should be an array of "
                    "strings)");
    return -1;
}

static int
api_reg_parse(struct ctl_request *req, struct api_reg_req *r)
{
    json_t *mid = json_object_get(req->msg, "master_id");

    r->send_register = true;
    r->ttl = 3600;
    if (api_get_string(req, "type", false, &r->type) ||
        api_get_uri(req, "username", true, &r->username) ||
        api_get_string(req, "secret", false, &r->secret) ||
        api_get_string(req, "ha1_secret", false, &r->ha1) ||
        api_get_string(req, "authuser", false, &r->authuser) ||
        api_get_string(req, "display_name", false, &r->display) ||
        api_get_string(req, "user_agent", false, &r->user_agent) ||
        api_get_uri(req, "proxy", false, &r->proxy) ||
        api_get_uri(req, "outbound_proxy", false, &r->outbound_proxy) ||
        api_get_bool(req, "send_register", &r->send_register) ||
        api_get_bool(req, "force_udp", &r->force_udp) ||
        api_get_bool(req, "force_tcp", &r->force_tcp) ||
        api_get_bool(req, "sips", &r->sips) ||
        api_get_bool(req, "rfc2543_cancel", &r->rfc2543_cancel) ||
        api_get_bool(req, "refresh", &r->refresh) ||
        api_get_uint(req, "register_ttl", &r->ttl) ||
        api_get_uint(req, "master_id", &r->master_id))
        return -1;
    r->has_master_id = mid != NULL;
    if (r->ttl == 0)
        r->ttl = 3600;
    if (api_get_headers(req, &r->headers) < 0)
        return -1;
    if (api_get_contact_params(req, &r->contact_params) < 0 ||
        api_get_prefixes(req, &r->prefixes) < 0) {
        free(r->headers);
        free(r->contact_params);
        return -1;
    }
    return 0;
}

static void
api_reg_req_free(struct api_reg_req *r)
{
    free(r->headers);
    free(r->contact_params);
    json_decref(r->prefixes);
}

/* Conflicts and what Janus ignores: 444 with the reason. */
static int
api_reg_check(struct ctl_request *req, const struct api_reg_req *r,
              bool guest, bool helper)
{
    const char *why = NULL;
    int code = API_ERR_INVALID_ELEMENT;

    if (r->type && !guest && !helper)
        why = "Invalid element (type should be guest or helper)";
    else if (r->secret && r->ha1)
        why = "Conflicting elements (secret and ha1_secret)";
    else if (r->force_udp && r->force_tcp)
        why = "Conflicting elements (force_udp and force_tcp)";
    else if (guest && json_is_true(json_object_get(req->msg,
                                                   "send_register")))
        why = "Conflicting elements (type guest and send_register true)";
    else if (r->sips)
        why = "Invalid element (sips: no TLS transport is configured)";
    else if (!guest && !helper && !r->secret && !r->ha1) {
        why = "Missing mandatory element (secret or ha1_secret)";
        code = API_ERR_MISSING_ELEMENT;
    } else if (helper && !r->has_master_id) {
        why = "Missing mandatory element (master_id)";
        code = API_ERR_MISSING_ELEMENT;
    }
    if (why == NULL)
        return 0;
    ctl_reply_error(req, code, "%s", why);
    return -1;
}

static int
api_dup(char **dst, const char *v)
{
    *dst = v ? strdup(v) : NULL;
    return v && !*dst ? -ENOMEM : 0;
}

static int
api_acct_fill(struct api_account *a, struct api_reg_req *r, bool guest)
{
    su_home_t home[1] = { SU_HOME_INIT(home) };
    url_t *u = url_make(home, r->username);
    int rc = 0;

    memset(a, 0, sizeof(*a));
    a->force_tcp = r->force_tcp;
    a->rfc2543_cancel = r->rfc2543_cancel;
    a->guest = guest;
    a->ttl = r->ttl;
    rc |= api_dup(&a->uri, r->username);
    rc |= api_dup(&a->user, u->url_user ? u->url_user : "");
    rc |= api_dup(&a->domain, u->url_port ? NULL : u->url_host);
    if (u->url_port && rc == 0 && (a->domain = malloc(strlen(u->url_host) +
                                                      strlen(u->url_port) + 2)))
        sprintf(a->domain, "%s:%s", u->url_host, u->url_port);
    rc |= api_dup(&a->secret, r->secret) | api_dup(&a->ha1, r->ha1);
    rc |= api_dup(&a->authuser, r->authuser);
    rc |= api_dup(&a->display_name, r->display);
    rc |= api_dup(&a->user_agent, r->user_agent);
    rc |= api_dup(&a->proxy, r->proxy);
    rc |= api_dup(&a->outbound_proxy, r->outbound_proxy);
    a->headers = r->headers, r->headers = NULL;
    a->contact_params = r->contact_params, r->contact_params = NULL;
    su_home_deinit(home);
    return rc || !a->domain ? -ENOMEM : 0;
}

static struct api_handle *
api_find_master(struct api *api, uint32_t master_id)
{
    for (struct api_handle *h = api->handles; h; h = h->next)
        if (h->has_acct && h->acct.master_id == master_id && !h->master)
            return h;
    return NULL;
}

static void
api_reg_helper(struct ctl_request *req, struct api_handle *h,
               struct api_reg_req *r)
{
    struct api_handle *m = api_find_master(h->api, r->master_id);

    if (h->master || h->has_acct) {
        ctl_reply_error(req, API_ERR_HELPER, "Already %s", h->master
                        ? "a helper" : "registered as a normal account");
        return;
    }
    if (m == NULL || m == h) {
        ctl_reply_error(req, API_ERR_HELPER, "No such master_id %u",
                        r->master_id);
        return;
    }
    h->master = m;
    m->nhelpers++;
    h->reg = API_REG_DISABLED;
    json_decref(h->prefixes);
    h->prefixes = json_incref(r->prefixes);
    api_reply(req, h, "registered", json_pack(
        "{s:s,s:b,s:b,s:I}", "username", m->acct.user, "register_sent", 0,
        "helper", 1, "master_id", (json_int_t)m->acct.master_id));
}

static void
api_reg_account(struct ctl_request *req, struct api_handle *h,
                struct api_reg_req *r, bool guest)
{
    struct api_account a;
    uint32_t mid = h->has_acct ? h->acct.master_id : 0;

    if (api_acct_fill(&a, r, guest) < 0) {
        api_account_clear(&a);
        ctl_reply_error(req, CTL_ERR_INTERNAL, "out of memory");
        return;
    }
    /* Positive 31 bits: the requests read master_id as a JSON integer. */
    while (mid == 0 && getrandom(&mid, sizeof(mid), 0) == sizeof(mid))
        mid &= 0x7fffffffu;
    a.master_id = mid;
    /* A refresh re-REGISTERs the same Contact: an un-REGISTER racing it
     * could remove the new binding, so the old handle is just dropped. */
    if (!r->refresh || guest || !r->send_register)
        api_register_stop(h);
    else if (h->retry)
        evtimer_del(h->retry);
    api_account_clear(&h->acct);
    h->acct = a;
    h->has_acct = true;
    h->failures = h->auth_tries = 0;
    json_decref(h->prefixes);
    h->prefixes = json_incref(r->prefixes);
    if (guest || !r->send_register) {
        h->reg = API_REG_DISABLED;
        api_reply(req, h, "registered", json_pack(
            "{s:s,s:b,s:I}", "username", a.user, "register_sent", 0,
            "master_id", (json_int_t)a.master_id));
        return;
    }
    h->reg = API_REG_REGISTERING;
    if (api_reg_send(h, NULL) < 0) {
        h->reg = API_REG_UNREGISTERED;
        ctl_reply_error(req, API_ERR_LIBSOFIA, "Invalid NUA Handle");
        return;
    }
    api_reply(req, h, "registering", NULL);
}

void
api_req_register(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);
    struct api_reg_req r = { 0 };
    bool guest, helper;

    if (h == NULL || api_reg_parse(req, &r) < 0)
        return;
    guest = r.type && strcmp(r.type, "guest") == 0;
    helper = r.type && strcmp(r.type, "helper") == 0;
    if (api_reg_check(req, &r, guest, helper) < 0)
        goto out;
    if (!r.refresh && (h->reg == API_REG_REGISTERING ||
                       h->reg == API_REG_REGISTERED ||
                       h->reg == API_REG_UNREGISTERING)) {
        ctl_reply_error(req, API_ERR_ALREADY_REGISTERED, "Already %s (use "
                        "refresh:true to register again)",
                        h->reg == API_REG_REGISTERED ? "registered"
                        : h->reg == API_REG_REGISTERING ? "registering"
                                                        : "unregistering");
        goto out;
    }
    if (helper)
        api_reg_helper(req, h, &r);
    else if (h->master)
        ctl_reply_error(req, API_ERR_HELPER, "This handle is a helper of "
                        "handle %" PRIu64, h->master->id);
    else
        api_reg_account(req, h, &r, guest);
out:
    api_reg_req_free(&r);
}

void
api_req_unregister(void *arg, struct ctl_request *req)
{
    struct api_handle *h = api_request_handle(arg, req);

    if (h == NULL)
        return;
    if (h->master) {            /* a helper only detaches */
        h->master->nhelpers--;
        h->master = NULL;
        h->reg = API_REG_UNREGISTERED;
        api_reply(req, h, "unregistered", NULL);
        return;
    }
    if (h->reg != API_REG_REGISTERED || h->reg_nh.nh == NULL) {
        ctl_reply_error(req, API_ERR_WRONG_STATE, "Wrong state (not "
                        "registered%s)", h->reg == API_REG_DISABLED
                        ? ": a guest sends no REGISTER" : "");
        return;
    }
    h->reg = API_REG_UNREGISTERING;
    nua_unregister(h->reg_nh.nh, TAG_END());
    loop_kick(sip_loop(h->api->deps.sip));
    api_reply(req, h, "unregistering", NULL);
}

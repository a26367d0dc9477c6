/*
 * api_int.h - what the files of the SIP API share.
 *
 * api.c: handles, their clients, events, config, dispatch; register.c:
 * registration; route.c: incoming requests to handles; message.c:
 * MESSAGE, INFO; subscribe.c: SUBSCRIBE/NOTIFY.
 */
#ifndef SIPBRIDGE_API_INT_H
#define SIPBRIDGE_API_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "sipbridge/api.h"
#include "sipbridge/ctl.h"
#include "sipbridge/sip.h"
#include "sipbridge/strmap.h"

/* Janus SIP plugin error codes (janus-sip-api.md section 4). */
#define API_ERR_MISSING_ELEMENT   443
#define API_ERR_INVALID_ELEMENT   444
#define API_ERR_ALREADY_REGISTERED 445
#define API_ERR_INVALID_ADDRESS   446
#define API_ERR_WRONG_STATE       447
#define API_ERR_MISSING_SDP       448
#define API_ERR_LIBSOFIA          449
#define API_ERR_TOO_STRICT        452
#define API_ERR_HELPER            453
#define API_ERR_NO_SUCH_CALLID    454
#define API_ERR_NO_SUCH_HANDLE    459   /* Janus core: no such handle */

struct peer_table;
struct strmap;

enum api_reg_state {
    API_REG_UNREGISTERED,
    API_REG_REGISTERING,
    API_REG_REGISTERED,
    API_REG_UNREGISTERING,
    API_REG_DISABLED,      /* guest, send_register:false, helper */
};

/* A nua handle of ours: hmagic points here. */
struct api_nh {
    struct sip_owner owner;
    struct api_handle *h;
    nua_handle_t *nh;
};

/* The SIP account of a handle (register's parameters). */
struct api_account {
    char *uri;                  /* username: sip:user@domain */
    char *user, *domain;
    char *secret, *ha1, *authuser;
    char *display_name, *user_agent;
    char *proxy, *outbound_proxy;
    char *headers;              /* "Name: value\r\n..." */
    char *contact_params;       /* ";a=b;c" */
    bool force_tcp, sips, rfc2543_cancel, guest;
    unsigned ttl;
    uint32_t master_id;
};

struct api_sub;
struct api_msg;
struct api_call;
struct api_refer;

struct api_handle {
    struct api *api;
    uint64_t id;
    char token[33];             /* for claim */
    char route[17];             /* Contact parameter sbh=: routes to us */
    uint64_t client;            /* owning control client, 0 when away */
    struct event *grace;        /* destroy when the client stays away */
    json_t *backlog;            /* events while away (bounded) */
    json_t *prefixes;           /* incoming_header_prefixes, or NULL */
    enum api_reg_state reg;
    struct api_account acct;
    bool has_acct;
    struct api_nh reg_nh;       /* the REGISTER handle */
    struct event *retry;        /* re-REGISTER after a failure */
    unsigned failures, auth_tries;
    struct api_handle *master;  /* helpers: the master */
    unsigned nhelpers;          /* masters: how many */
    struct api_sub *subs;
    struct api_msg *msgs;
    struct api_call *call;      /* the handle's call, or NULL */
    struct api_refer *refers;   /* REFERs received in that call's dialog */
    struct api_handle *next;    /* all handles */
};

struct api_cfg {
    unsigned grace_s;           /* handle_grace */
    unsigned no_answer_s;       /* no_answer_timeout */
    unsigned session_s;         /* session_timer (RFC 4028), 0: off */
    unsigned max_handles;       /* handles at once (create beyond: 447) */
    unsigned retry_min_ms, retry_max_ms;
    char **trunks;              /* endpoint names */
    size_t ntrunks;
};

struct api {
    struct api_deps deps;
    struct event_base *base;
    struct api_cfg cfg;
    struct peer_table *peers;
    struct api_handle *handles;
    struct strmap *by_id;      /* "id" -> handle */
    struct strmap *by_route;   /* contact token -> handle */
    struct strmap *refers;     /* refer_id -> struct api_refer */
    size_t nhandles;
    uint64_t next_id;
    uint64_t events, requests_routed, not_found, away;
};

/* api.c */
struct api_handle *api_handle_find(struct api *api, uint64_t id);
/* The handle a request names ("handle_id"), owned by its client; NULL
 * once the request has been answered with an error. */
struct api_handle *api_request_handle(struct api *api,
                                      struct ctl_request *req);
void api_emit(struct api_handle *h, const char *event, json_t *fields,
              const char *call_id);
void api_emit_json(struct api_handle *h, json_t *payload);
json_t *api_collect_headers(const struct api_handle *h, const sip_t *sip);
const char *api_display(const char *d, char *buf, size_t len);
void api_handle_destroy(struct api_handle *h);
void api_detach_helpers(struct api_handle *master);
void api_account_clear(struct api_account *a);
const struct api_account *api_identity(const struct api_handle *h);
nua_handle_t *api_nh_new(struct api_nh *n, struct api_handle *h,
                         void (*cb)(struct sip_owner *, const struct
                                    sip_event *),
                         const char *to);
void api_nh_drop(struct api_nh *n);
int api_credentials(const struct api_account *a, const sip_t *sip,
                    char *buf, size_t len);

/* Validation helpers: @return 0, or -1 after answering the request. */
int api_get_string(struct ctl_request *req, const char *key, bool required,
                   const char **out);
int api_get_bool(struct ctl_request *req, const char *key, bool *out);
int api_get_uint(struct ctl_request *req, const char *key, unsigned *out);
int api_get_uri(struct ctl_request *req, const char *key, bool required,
                const char **out);
int api_get_headers(struct ctl_request *req, char **out);
void api_reply(struct ctl_request *req, struct api_handle *h,
               const char *event, json_t *fields);

/* register.c */
void api_req_register(void *arg, struct ctl_request *req);
void api_req_unregister(void *arg, struct ctl_request *req);
void api_register_stop(struct api_handle *h);

/* route.c */
int api_route_request(void *owner, const struct sip_event *ev);

/* message.c */
int api_check_identity(struct ctl_request *req, const struct api_handle *h);
void api_req_message(void *arg, struct ctl_request *req);
void api_req_info(void *arg, struct ctl_request *req);
/* Answer and report a MESSAGE / INFO; @destroy its nua handle when it was
 * made for it (out of dialog), not when it is a call's. */
void api_incoming_message(struct api_handle *h, const struct sip_event *ev,
                          bool destroy);
void api_incoming_info(struct api_handle *h, const struct sip_event *ev,
                       bool destroy);
void api_random_call_id(char *buf, size_t len);

/* call.c */
void api_req_call(void *arg, struct ctl_request *req);
void api_req_hangup(void *arg, struct ctl_request *req);
void api_call_destroy(struct api_handle *h);
void api_call_incoming(struct api_handle *h, const struct sip_event *ev);
void api_req_accept(void *arg, struct ctl_request *req);
void api_req_decline(void *arg, struct ctl_request *req);
void api_req_progress(void *arg, struct ctl_request *req);
void api_req_send_ringing(void *arg, struct ctl_request *req);
void api_req_reset(void *arg, struct ctl_request *req);
void api_req_hold(void *arg, struct ctl_request *req);
void api_req_update(void *arg, struct ctl_request *req);
void api_req_dtmf_info(void *arg, struct ctl_request *req);
void api_req_unsupported(void *arg, struct ctl_request *req);
bool api_in_call(const struct api_handle *h);
const char *api_call_id(const struct api_handle *h);
nua_handle_t *api_call_nh(const struct api_handle *h);
/* A non-INVITE request of ours went out in the call's dialog: re-INVITEs
 * wait for its final response (see call.c). */
void api_call_sent(struct api_handle *h);
void api_call_message(struct api_handle *h, const char *ctype,
                      const char *content, const char *headers);
void api_call_info(struct api_handle *h, const char *type,
                   const char *content, const char *headers);
void api_msgs_free(struct api_handle *h);

/* subscribe.c */
void api_req_subscribe(void *arg, struct ctl_request *req);
void api_req_unsubscribe(void *arg, struct ctl_request *req);
void api_subs_free(struct api_handle *h);
/* Answer and report a NOTIFY; @destroy as for api_incoming_message(). */
void api_incoming_notify(struct api_handle *h, const struct sip_event *ev,
                         bool destroy);

/* transfer.c */
void api_req_transfer(void *arg, struct ctl_request *req);
/* A REFER in @h's call: 202 (or 400) and a `transfer` event. */
void api_refer_incoming(struct api_handle *h, const struct sip_event *ev);
/* A response to the call made for transfer @id: a sipfrag NOTIFY to the
 * transferor (the final one ends the transfer); unknown ids are ignored. */
void api_refer_progress(struct api *api, uint32_t id, int status,
                        const char *phrase);
/* Replaces and Referred-By for the INVITE of transfer @id, or NULL. */
const char *api_refer_headers(struct api *api, uint32_t id);
/* decline {refer_id}: a final NOTIFY; @return 0, or -1 answered 447. */
int api_refer_decline(struct api_handle *h, struct ctl_request *req,
                      uint32_t id, unsigned code);
/* @h's call ends: its REFERs can no longer be answered. */
void api_refers_drop(struct api_handle *h);

/* sdp.c: 0 if @sdp parses as SDP (sdpcheck_parse), else -EPROTO/-ENOMEM. */
int api_sdp_check(const char *sdp);
/* The first direction attribute of @sdp, or "sendrecv" (static). */
const char *api_sdp_get_direction(const char *sdp);
/* The direction that answers an @offer's when we want @want (static). */
const char *api_sdp_answer_direction(const char *offer, const char *want);
/* @sdp with every direction attribute set to @dir (added at
 * session level when it has none) and the o= version raised; malloc'd. */
char *api_sdp_direction(const char *sdp, const char *dir);


#endif

/*
 * pubstate_int.h - what the files of the PUBLISH capability share.
 *
 * config.c turns sections into the objects below; inbound.c answers
 * PUBLISH; outbound.c runs one publish client per target; pubstate.c owns
 * the whole and the control requests.
 */
#ifndef SIPBRIDGE_PUBSTATE_INT_H
#define SIPBRIDGE_PUBSTATE_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "sipbridge/pubstate.h"
#include "sipbridge/pubstate_body.h"
#include "sipbridge/pubstate_queue.h"
#include "sipbridge/pubstate_store.h"
#include "sipbridge/sip.h"

struct peer_table;
struct digest;

enum ps_event { PS_EV_DEVICE, PS_EV_MWI, PS_EV_N };

/* An optional POSIX ERE, case-insensitive and unanchored, as Asterisk's. */
struct ps_filter {
    bool set;
    regex_t re;
    char *text;
};

/* type=asterisk-publication: what we accept from a peer. */
struct ps_asterisk {
    char *name;
    char *publish[PS_EV_N];        /* outbound-publish for refresh, or NULL */
    bool accept[PS_EV_N];          /* device_state, mailbox_state */
    struct ps_filter filter[PS_EV_N];
    struct ps_asterisk *next;
};

/* type=inbound-publication: the user part a peer publishes to. */
struct ps_inbound {
    struct pubstate *ps;
    char *name;
    char *endpoint;                /* NULL: any sender */
    char *asterisk[PS_EV_N];       /* event_asterisk-* values, or NULL */
    struct ps_inbound *next;
};

/* The settings of a type=outbound-publish; compared on reload. */
struct ps_target_cfg {
    char *name;
    char *server_uri, *from_uri, *to_uri, *proxy;
    enum ps_event event;
    unsigned expiration;           /* s */
    char *auth;                    /* type=auth section, or NULL */
    unsigned max_auth_attempts;
    unsigned retry_min_ms, retry_max_ms;
    struct ps_filter filter[PS_EV_N];
};

enum ps_target_state { PS_T_IDLE, PS_T_SENDING, PS_T_BACKOFF };

/* What a request of a publish client carries. */
enum ps_send_kind { PS_SEND_ITEM, PS_SEND_REFRESH, PS_SEND_REFRESH_REQ };

/* One publish client (type=outbound-publish). */
struct ps_target {
    struct sip_owner owner;        /* hmagic of nh */
    struct pubstate *ps;
    struct ps_target_cfg cfg;
    nua_handle_t *nh;              /* of the request in flight */
    char call_id[48];              /* kept until a 412, as Asterisk does */
    char from_tag[16];
    char *etag;                    /* last SIP-ETag, or NULL */
    struct pubstate_queue *queue;  /* names whose state must be sent */
    bool want_refresh_req;         /* send {"type":"refresh"} */
    bool refresh_due;              /* the refresh timer has fired */
    bool stopped;                  /* shutting down: send nothing */
    bool started;                  /* the start-up dump has been queued */
    enum ps_target_state state;
    enum ps_send_kind kind;        /* of the request in flight */
    char *item;                    /* its name (PS_SEND_ITEM) */
    char *last_item;               /* last name sent, for a 412 on refresh */
    unsigned expires_req;          /* Expires we send (raised by 423) */
    unsigned granted;              /* Expires of the last 2xx */
    unsigned auth_attempts, failures;
    bool auth_sent;                /* credentials given on this handle */
    bool auth_retry;               /* the next send re-asks after a 401 */
    struct event *timer;           /* refresh or backoff */
    struct timespec next_at;       /* when it fires (monotonic) */
    int last_status;
    char last_phrase[64];
    uint64_t sent, ok, failed, coalesced;
    struct ps_target *next;
};

/* An inbound publication (RFC 3903), known by its integer SIP-ETag. */
struct ps_pub {
    struct pubstate *ps;
    uint32_t etag;
    enum ps_event event;
    struct event *timer;           /* expiry: Expires + grace */
    struct ps_pub *chain;
};

struct ps_counters {
    uint64_t in_requests, in_ok, in_bad, in_forbidden, in_not_found,
             in_412, in_401, in_own_eid, in_ignored;
    uint64_t states_applied;
};

struct pubstate {
    struct pubstate_deps deps;
    struct event_base *base;
    struct pubstate_eid eid;
    char eid_str[18];
    const char *eid_source;
    struct pubstate_store *store;
    struct peer_table *peers;
    struct digest *digest;
    struct ps_inbound *inbounds;
    struct ps_asterisk *asterisks;
    struct ps_target *targets;
    struct ps_pub **pubs;          /* hash by etag */
    size_t npub_buckets, npubs;
    uint32_t next_etag;
    struct ps_counters n;
};

extern const char *const ps_event_names[PS_EV_N];

/* config.c */
bool ps_filter_match(const struct ps_filter *f, const char *s);
void ps_filter_free(struct ps_filter *f);
int ps_asterisk_list(const struct cfg *cfg, struct ps_asterisk **out);
void ps_asterisk_free_all(struct ps_asterisk *a);
int ps_inbound_list(const struct cfg *cfg, struct pubstate *ps,
                    struct ps_inbound **out);
void ps_inbound_free_all(struct ps_inbound *in);
int ps_target_cfg_list(const struct cfg *cfg, struct ps_target_cfg **out,
                       size_t *n);
void ps_target_cfg_free(struct ps_target_cfg *c);
bool ps_target_cfg_same_peer(const struct ps_target_cfg *a,
                             const struct ps_target_cfg *b);
struct ps_asterisk *ps_asterisk_find(struct ps_asterisk *list,
                                     const char *name);

/* inbound.c */
int ps_inbound_request(void *owner, const struct sip_event *ev);
void ps_pubs_free(struct pubstate *ps);

/* outbound.c */
int ps_target_create(struct pubstate *ps, struct ps_target_cfg *cfg,
                     struct ps_target **out);
void ps_target_destroy(struct ps_target *t);
void ps_target_reconfigure(struct ps_target *t, struct ps_target_cfg *cfg);
/* Queue a name if it passes the filter; sends at once when idle. */
void ps_target_enqueue(struct ps_target *t, const char *name);
void ps_target_dump_local(struct ps_target *t);
void ps_target_request_refresh(struct ps_target *t);
void ps_target_stop(struct ps_target *t);
json_t *ps_target_json(const struct ps_target *t);
struct ps_target *ps_target_find(struct pubstate *ps, const char *name);

/* pubstate.c */
/* A state from a peer or from us changed: publish to targets, tell the
 * control clients and the MWI seam. */
void ps_device_changed(struct pubstate *ps, const char *device,
                       const struct pubstate_eid *eid);
void ps_mailbox_changed(struct pubstate *ps, const char *uniqueid,
                        const struct pubstate_eid *eid);

#endif

/*
 * chat_int.h - what the chat module's files share; not for other modules.
 *
 * chat.c       config, lifecycle, control requests, status
 * chat_sip.c   joining and leaving: INVITE, SDP, dialog state, kick
 * chat_relay.c MESSAGE checks, relay, failure policy, history, store, notices
 *
 * Memory: a conference owns its participants and its history; a
 * participant owns its strings and is the hmagic of its nua handle, so it
 * lives until nua says the dialog is over (chat_part_remove).
 */
#ifndef SIPBRIDGE_CHAT_INT_H
#define SIPBRIDGE_CHAT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <sofia-sip/nua.h>
#include <sofia-sip/sip.h>

#include "sipbridge/chat.h"
#include "sipbridge/ctl.h"
#include "sipbridge/sip.h"

#define CHAT_LOG "chat"

/*
 * nua sends the non-INVITE requests of one handle one at a time, BYE
 * included, in the order they were made.  So relays to a participant wait
 * in our own queue and nua holds at most one: a kick's BYE then waits for
 * one MESSAGE at most, not for every one queued.  Past this many waiting,
 * a participant's oldest relays are dropped (and counted).
 */
#define CHAT_MAX_QUEUE 256

/* One relay waiting to be handed to nua. */
struct chat_out {
    struct chat_out *next;
    char *display;
    char *ctype;
    char *body;
    size_t len;
};

enum chat_part_state {
    CHAT_PART_JOINING,   /* 200 OK sent, waiting for the ACK */
    CHAT_PART_ACTIVE,    /* in the call: receives relayed messages */
    CHAT_PART_LEAVING    /* BYE sent or dialog ending */
};

struct chat_msg {
    uint64_t seq;        /* conference-wide, for the store */
    double at;           /* epoch seconds */
    char *display;       /* relayed display name, already made safe */
    char *ctype;         /* full Content-Type value, parameters included */
    char *body;          /* bytes, NUL-terminated for convenience */
    size_t len;
};

struct chat_part {
    struct sip_owner owner;  /* must stay first: nua's hmagic */
    struct chat_part *next;
    struct chat_conf *conf;
    nua_handle_t *nh;
    uint64_t id;
    enum chat_part_state state;
    bool announced;      /* joined event and notices went out */
    char *display;       /* display name it joined with, made safe */
    char *uri;           /* its From URI, for page mode and status */
    char *local_uri;     /* the URI it called: our From toward it */
    char *call_id;       /* of its dialog, for ConfBridge events */
    double joined;
    uint64_t received;   /* messages relayed to it */
    uint64_t sent;       /* messages it sent */
    uint64_t failures;   /* relays that failed, all told */
    unsigned consecutive;/* failures in a row */
    bool inflight;       /* nua holds one of our relays */
    struct chat_out *out_head, *out_tail; /* relays not yet handed to nua */
    unsigned out_count;
    uint64_t dropped;    /* relays dropped because the queue was full */
    unsigned long long sdp_id, sdp_version;
    char *last_sdp;      /* our last SDP, to keep o= version honest */
    char *end_reason;    /* why it left, for the log and the event */
    su_home_t *home;     /* from_url lives here */
    url_t *from_url;     /* for page mode: who may send out of dialog */
};

struct digest;
struct peer_table;

struct chat_conf {
    struct chat *chat;
    struct chat_conf *next;
    char *name;
    char *user;
    unsigned max_participants;
    char **ctypes;       /* allowed "type/subtype", "type/any" or "any" (written with a star) */
    size_t nctypes;
    char *accept;        /* the same joined, for 415's Accept */
    size_t max_body;
    unsigned history;
    unsigned max_failures;
    bool sanitize_html;
    bool events;
    bool store;
    char *database;
    char *endpoint;      /* endpoint=: who may join (names), NULL: anyone */
    bool routed;         /* its user part is claimed in the SIP core */
    bool gone;           /* removed by a reload, ending its calls */
    struct chat_part *parts;     /* the roster, in join order */
    unsigned nparts;
    struct chat_part *leaving;   /* out of the roster, dialog ending */
    struct chat_msg **ring;  /* the last `history` messages */
    unsigned ring_head, ring_count;
    uint64_t next_seq;
    double created;
    char bridge_id[40];
    uint64_t messages, deliveries, failures, removed, store_dropped;
};

struct chat {
    struct chat_deps deps;
    struct chat_conf *confs;
    uint64_t next_part_id;
    uint64_t joins, rejected;
    uint64_t store_seq;  /* message ids without entropy: see chat_relay.c */
    struct peer_table *peers;    /* endpoints, for who may join */
    struct digest *digest;       /* challenges of endpoints with an auth */
    bool closing;        /* chat_destroy: tell nobody, just free */
    char local_ip[64];   /* for SDP o= and c=: the first transport's */
};

/* chat.c */
struct chat_conf *chat_conf_find(struct chat *chat, const char *name);
void chat_conf_free(struct chat_conf *conf);
void chat_conf_reap(struct chat_conf *conf);
void chat_publish(struct chat_conf *conf, const char *event, json_t *fields);
json_t *chat_part_json(const struct chat_part *p);

/* chat_sip.c */
extern const struct sip_route_ops chat_route_ops;
void chat_part_kick(struct chat_part *p, const char *reason);
void chat_part_depart(struct chat_part *p, const char *reason);
void chat_part_remove(struct chat_part *p);
struct chat_part *chat_part_find_uri(struct chat_conf *conf, const url_t *url);

/* chat_relay.c */
/* "a, b ,c" into trimmed items (malloc'd, free with chat_free_list).
 * @return the count, or -ENOMEM. */
int chat_split_list(const char *s, char ***out);
void chat_free_list(char **v, size_t n);
/* The relayed Content-Type: "type/subtype;params" as the sender wrote it
 * (malloc'd), or NULL. */
char *chat_ctype_string(const sip_content_type_t *ct);
int chat_relay_check(struct chat_conf *conf, const sip_t *sip, int *status,
                     const char **phrase);
void chat_relay_incoming(struct chat_conf *conf, struct chat_part *from,
                         const sip_t *sip);
int chat_relay_send(struct chat_conf *conf, const char *display,
                    const char *ctype, const char *body, size_t len,
                    struct chat_part *from);
void chat_relay_answered(struct chat_part *p, int status);
void chat_out_clear(struct chat_part *p);
void chat_history_replay(struct chat_part *p);
void chat_history_clear(struct chat_conf *conf);
int chat_history_resize(struct chat_conf *conf, unsigned n);
void chat_store_open(struct chat_conf *conf);
void chat_notify_join(struct chat_part *p);
void chat_notify_leave(struct chat_part *p);

#endif

/*
 * sip.h - the SIP core: one nua stack, its transports, and request routing.
 *
 * Owns the nua instance (created on the loop's root, sharing its thread)
 * and the table that maps a Request-URI user part to the capability object
 * that owns it.  Out-of-dialog requests go to the owner of their user part
 * (404 when there is none); OPTIONS is answered 200 by the stack itself, as
 * Asterisk qualify and Kamailio/OpenSIPS dispatcher probes expect.  Events
 * on a handle a capability has bound (nua_handle_bind with a pointer to a
 * struct sip_owner as hmagic) go to that owner's ops.  Loop thread only.
 *
 * Capabilities use it like this:
 *   static const struct sip_route_ops conf_ops = { "conference", conf_request };
 *   sip_route_add(sip, "100", &conf_ops, conf);     at start and reload
 *   ... conf_request() answers or binds the handle; after a nua call made
 *   outside a sofia callback, loop_kick().
 */
#ifndef SIPBRIDGE_SIP_H
#define SIPBRIDGE_SIP_H

#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/sip.h>

#include "sipbridge/cfg.h"
#include "sipbridge/loop.h"

struct sip;

/* One nua event, as handed to owners; valid during the call only. */
struct sip_event {
    nua_event_t event;
    int status;
    const char *phrase;
    nua_t *nua;
    nua_handle_t *nh;
    const sip_t *sip;
    tagi_t *tags;
    /* New out-of-dialog requests the core routes: the Request-URI user
     * part, %-unescaped ("" when there is none), or NULL when it cannot
     * name anyone (an escaped NUL, or too long). */
    const char *user;
};

/* How an owner of a user part takes out-of-dialog requests. */
struct sip_route_ops {
    const char *kind;   /* "conference", "inbound-publication", ... */
    /*
     * A new request for the owner's user part.  The owner must answer it
     * (nua_respond) or keep the handle (nua_handle_bind to its own
     * struct sip_owner).  @return 0 if it did; any other value makes the
     * core answer 500 and destroy the handle.
     */
    int (*request)(void *owner, const struct sip_event *ev);
};

/*
 * hmagic of every handle a capability binds must point to one of these,
 * usually the first member of the capability's per-dialog struct.
 */
struct sip_owner {
    void (*event)(struct sip_owner *self, const struct sip_event *ev);
};

struct sip_counters {
    uint64_t requests;      /* out-of-dialog requests received */
    uint64_t options;       /* of which OPTIONS */
    uint64_t routed;        /* handed to an owner */
    uint64_t not_found;     /* answered 404: no owner */
    uint64_t rejected;      /* answered 5xx by the core */
    uint64_t limited;       /* answered 503: source over its rate */
    uint64_t dialogs_full;  /* INVITEs answered 503: max_dialogs */
};

typedef void (*sip_shutdown_cb)(void *arg);

/**
 * Create the stack and bind the transports of @p cfg.
 * @return 0 and *out, or -errno (logged, naming the transport).
 */
int sip_create(struct sip **out, struct loop *loop, const struct cfg *cfg);

/**
 * Start a graceful shutdown; @p done runs once the stack has finished
 * (then call sip_destroy).
 */
void sip_shutdown(struct sip *sip, sip_shutdown_cb done, void *arg);
void sip_destroy(struct sip *sip);

/** Apply the live parts of a reloaded config (user agent, trace). */
void sip_reconfigure(struct sip *sip, const struct cfg *cfg);

/*
 * Dialogs a capability holds now (conference participants, API calls):
 * [limits] max_dialogs counts their sum, asking each when a new INVITE
 * arrives, so nothing has to be counted twice or released.
 */
typedef size_t (*sip_dialog_count_cb)(void *arg);

/** @return 0, -ENOSPC (at most SIP_MAX_DIALOG_COUNTERS). */
int sip_add_dialog_counter(struct sip *sip, sip_dialog_count_cb cb, void *arg);
/** Remove every counter of @p arg. */
void sip_remove_dialog_counter(struct sip *sip, void *arg);
/** @return 1 if a new dialog would pass [limits] max_dialogs. */
int sip_dialogs_full(const struct sip *sip);

#define SIP_MAX_DIALOG_COUNTERS 8

/** The per-source limiter's settings and counters, for status. */
json_t *sip_limits_json(const struct sip *sip);

/** Turn the SIP message trace (to the log, at notice) on or off. */
void sip_set_trace(struct sip *sip, int on);
int sip_get_trace(const struct sip *sip);

/**
 * Check that the transports of @p cfg can be bound together (nua binds one
 * SIP URL and one SIPS URL).  @return 0, or -EINVAL with errors added.
 */
int sip_check_transports(const struct cfg *cfg, struct cfg_errors *errs);

/**
 * Make @p owner the owner of @p user (copied).  @return 0, -EEXIST if the
 * user part already has an owner, -ENOMEM.
 */
int sip_route_add(struct sip *sip, const char *user,
                  const struct sip_route_ops *ops, void *owner);
/** @return 0, or -ENOENT. */
int sip_route_remove(struct sip *sip, const char *user);

/**
 * Hand the out-of-dialog requests whose user part nobody owns to @p owner
 * (the SIP API routes them to its accounts).  Its request() returns 0 if
 * it took the request, -ENOENT to have the core answer 404 as without a
 * fallback; @p ops NULL removes it.
 */
void sip_route_set_fallback(struct sip *sip, const struct sip_route_ops *ops,
                            void *owner);

/**
 * Accept PUBLISH requests of the event package @p event (RFC 3903); nua
 * answers 489 to the others before any routing.  Idempotent.
 * @return 0, -ENOSPC.
 */
int sip_allow_event(struct sip *sip, const char *event);

/**
 * The source address of the request being handled; call it from the
 * request callback only.  @return 0 and *out, or -ENOENT.
 */
int sip_event_source(const struct sip *sip, struct sockaddr_storage *out);

/* NUTAG_AUTH's "scheme:\"realm\":user:password" answering the challenge
 * (WWW- or Proxy-Authenticate) in @challenge, into @buf.
 * @return 0, -EINVAL without a challenge with a realm, -ENOSPC. */
int sip_auth_credentials(const sip_t *challenge, const char *user,
                         const char *password, char *buf, size_t len);

nua_t *sip_nua(struct sip *sip);
struct loop *sip_loop(struct sip *sip);

/** @return a new JSON array of {"name","protocol","address","port"}. */
json_t *sip_listeners_json(const struct sip *sip);
void sip_get_counters(const struct sip *sip, struct sip_counters *out);

struct metrics_out;
/** Collector (metrics_add) of the SIP families: @p arg is the sip. */
void sip_metrics(void *arg, struct metrics_out *out);

#endif

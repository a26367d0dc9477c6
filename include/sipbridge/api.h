/*
 * api.h - the Janus-style SIP API: SIP accounts driven over the control
 * socket with the Janus SIP plugin's requests and events.
 *
 * Owns the handles (each one account: its registration, subscriptions and
 * messages in flight), the routing of incoming requests to them (a token
 * in the registered Contact, the Contact's user part, or a trunk
 * endpoint's Request-URI user) and the events sent to the control client
 * that owns a handle.  Every account is served by the daemon's one nua
 * stack: no thread, socket or port per account.  A handle outlives its
 * client's connection for handle_grace seconds, so that a restarted
 * application can `claim` it.  Protocol: docs/control-protocol.md.  Loop
 * thread only.
 */
#ifndef SIPBRIDGE_API_H
#define SIPBRIDGE_API_H

#include <jansson.h>

#include "sipbridge/cfg.h"

struct api;
struct sip;
struct ctl;

struct api_deps {
    struct sip *sip;
    struct ctl *ctl;
};

/* The config type "api" (optional; defaults apply without it). */
extern const struct cfg_type api_cfg_type;

/** Cross-section checks (trunk= names type=endpoint sections). */
int api_check_config(const struct cfg *cfg, struct cfg_errors *errs);

/** Register the requests, take the requests nobody else owns.
 *  @return 0 and *out, or -errno (logged). */
int api_create(struct api **out, const struct api_deps *deps,
               const struct cfg *cfg);
int api_reconfigure(struct api *api, const struct cfg *cfg);
/** Before nua shuts down: stop the retry timers, hang up the calls, end
 *  the subscriptions (nua's shutdown sends the un-REGISTERs). */
void api_shutdown(struct api *api);
void api_destroy(struct api *api);
json_t *api_status_json(const struct api *api);

struct metrics_out;
/** Collector (metrics_add) of the SIP API families: @p arg is the api. */
void api_metrics(void *arg, struct metrics_out *out);

#endif

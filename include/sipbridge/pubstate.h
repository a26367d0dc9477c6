/*
 * pubstate.h - device and mailbox state exchanged by SIP PUBLISH, wire
 * compatible with Asterisk's res_pjsip_publish_asterisk.
 *
 * Owns the state store (per name and entity id), the inbound publications
 * (type=inbound-publication claims its section name as a user part and
 * answers PUBLISH as RFC 3903 says), one publish client per
 * type=outbound-publish (its ETag, refresh timer, backoff and a coalescing
 * queue), and the state_* / publish_status control requests and the
 * "state" topic.  The object model is Asterisk's pjsip.conf one, see
 * docs/publish.md.  The composition root creates it after the SIP core and
 * the control socket and hands it every reload.  Loop thread only.
 *
 *   struct pubstate_deps d = { sip, ctl, mwi_cb, mwi_arg };
 *   pubstate_create(&ps, &d, cfg);   ...   pubstate_destroy(ps);
 */
#ifndef SIPBRIDGE_PUBSTATE_H
#define SIPBRIDGE_PUBSTATE_H

#include <jansson.h>

#include "sipbridge/cfg.h"
#include "sipbridge/pubstate_store.h"

struct pubstate;
struct sip;
struct ctl;

/*
 * Mailbox state, local or received from a peer, for the MWI capability:
 * @uniqueid is "mailbox@context", @eid who it came from.  Borrowed.
 */
typedef void (*pubstate_mwi_cb)(void *arg, const char *uniqueid,
                                    const struct pubstate_eid *eid,
                                    unsigned new_msgs, unsigned old_msgs);

struct pubstate_deps {
    struct sip *sip;
    struct ctl *ctl;
    pubstate_mwi_cb on_mailbox;   /* may be NULL */
    void *mailbox_arg;
};

/* The config types, for cfg_load(); the peers' endpoint, identify and
 * auth types (peer.h) must be loaded too. */
extern const struct cfg_type pubstate_outbound_type;  /* outbound-publish */
extern const struct cfg_type pubstate_inbound_type;   /* inbound-publication */
extern const struct cfg_type pubstate_asterisk_type;  /* asterisk-publication */

/** Cross-section checks (names that must point to sections, events that
 *  must match).  @return 0 or -EINVAL with every error added. */
int pubstate_check_config(const struct cfg *cfg, struct cfg_errors *errs);

/**
 * Load the entity id, claim the inbound publications' user parts, start
 * the publish clients (each sends every local state passing its filter and
 * the refresh requests the config asks for).  @p deps is copied.
 * @return 0 and *out (free with pubstate_destroy), or -errno (logged).
 */
int pubstate_create(struct pubstate **out, const struct pubstate_deps *deps,
                    const struct cfg *cfg);

/** Apply a reloaded config.  @return 0 or -errno (logged; old objects stay). */
int pubstate_reconfigure(struct pubstate *ps, const struct cfg *cfg);

/** Stop timers and drop in-flight requests' owners before nua shuts down. */
void pubstate_shutdown(struct pubstate *ps);

/** Free everything (NULL ok); nua must be shut down. */
void pubstate_destroy(struct pubstate *ps);

/** @return a new JSON object of counters for "status". */
json_t *pubstate_status_json(const struct pubstate *ps);

struct metrics_out;
/** Collector (metrics_add) of the PUBLISH families: @p arg is the pubstate. */
void pubstate_metrics(void *arg, struct metrics_out *out);

#endif

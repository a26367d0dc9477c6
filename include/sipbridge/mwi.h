/*
 * mwi.h - message-waiting NOTIFYs (RFC 3842) for the subscriptions that
 * Kamailio or OpenSIPS keep in PostgreSQL (active_watchers).
 *
 * Owns the type=mwi object: its database statements, the mailboxes waiting
 * to be notified (newest counts win, bounded) and the NOTIFY transactions
 * in flight.  A trigger (control request mwi_notify, a mailbox state from
 * the PUBLISH capability, a LISTEN payload) looks the mailbox's live
 * watchers up while advancing their CSeq in one statement, and sends each
 * an in-dialog NOTIFY built from its row, through the configured proxy.
 * Responses clean up as the proxies do (481/404, 408).  Operators: see
 * docs/mwi.md.  Loop thread only.
 *
 *   struct mwi_deps d = { sip, ctl, db_find, db_arg };
 *   mwi_create(&m, &d, cfg);   mwi_mailbox_state(m, "1000@default", 2, 5);
 */
#ifndef SIPBRIDGE_MWI_H
#define SIPBRIDGE_MWI_H

#include <jansson.h>

#include "sipbridge/cfg.h"

struct mwi;
struct sip;
struct ctl;
struct db;

typedef struct db *(*mwi_db_find_cb)(void *arg, const char *name);

struct mwi_deps {
    struct sip *sip;
    struct ctl *ctl;
    mwi_db_find_cb db_find;     /* type=database sections by name */
    void *db_arg;
};

/* The config type "mwi", for cfg_load(). */
extern const struct cfg_type mwi_cfg_type;

/** Cross-section checks (database= names a type=database section).
 *  @return 0 or -EINVAL with the errors added. */
int mwi_check_config(const struct cfg *cfg, struct cfg_errors *errs);

/**
 * Start from the type=mwi section of @p cfg, if any (without one, the
 * requests answer that MWI is not configured).  @p deps is copied.
 * @return 0 and *out (free with mwi_destroy), or -errno (logged).
 */
int mwi_create(struct mwi **out, const struct mwi_deps *deps,
               const struct cfg *cfg);

/** Apply a reloaded config.  @return 0 or -errno (logged; old one stays). */
int mwi_reconfigure(struct mwi *m, const struct cfg *cfg);

/** Stop timers and forget NOTIFYs in flight before nua shuts down. */
void mwi_shutdown(struct mwi *m);

/** Free everything (NULL ok), after the databases are gone. */
void mwi_destroy(struct mwi *m);

/**
 * A mailbox changed: @p uniqueid is Asterisk's "mailbox@context" (the
 * context maps to a SIP domain by context_domain=).  Fits the PUBLISH
 * capability's pubstate_mwi_cb (the eid is not needed here).
 */
void mwi_mailbox_state(struct mwi *m, const char *uniqueid,
                       unsigned new_msgs, unsigned old_msgs);

/** @return a new JSON object of counters for "status". */
json_t *mwi_status_json(const struct mwi *m);

struct metrics_out;
/** Collector (metrics_add) of the MWI families: @p arg is the mwi. */
void mwi_metrics(void *arg, struct metrics_out *out);

#endif

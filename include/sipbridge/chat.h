/*
 * chat.h - conference chat relay: the first capability.
 *
 * Owns every conference of the config (type=conference) and its
 * participants.  A participant joins by INVITE to the conference's user
 * part and stays in a media-less call; an in-dialog MESSAGE from one is
 * relayed in-dialog to every other, with the sender's display name,
 * Content-Type (parameters included) and body (byte for byte) preserved.
 * It uses the core: SIP routing (sip.h), control requests and the
 * "conference" topic (ctl.h), databases by section name (db.h).  The
 * composition root creates it after those and hands it every reload.
 * Loop thread only.
 */
#ifndef SIPBRIDGE_CHAT_H
#define SIPBRIDGE_CHAT_H

#include <jansson.h>

#include "sipbridge/cfg.h"

struct chat;
struct sip;
struct ctl;
struct db;

/* Finds the database of a type=database section by name, or NULL. */
typedef struct db *(*chat_db_find_cb)(void *arg, const char *name);

struct chat_deps {
    struct sip *sip;          /* routing and the nua stack */
    struct ctl *ctl;          /* requests and events */
    chat_db_find_cb db_find;  /* databases for store=yes */
    void *db_arg;
};

/* The config type "conference", for cfg_load(). */
extern const struct cfg_type chat_cfg_type;

/**
 * Checks across sections that cfg_load cannot make alone (a conference's
 * database must be a type=database section).  @return 0 or -EINVAL.
 */
int chat_check_config(const struct cfg *cfg, struct cfg_errors *errs);

/**
 * Create the conferences of @p cfg, claim their user parts and register
 * the conference_* control requests.  @p deps is copied.
 * @return 0 and *out (free with chat_destroy), or -errno (logged).
 */
int chat_create(struct chat **out, const struct chat_deps *deps,
                const struct cfg *cfg);

/**
 * Apply a reloaded config: new conferences appear, removed ones end their
 * calls with BYE, changed settings apply to the next message.
 * @return 0, or -errno (logged; the old conferences stay).
 */
int chat_reconfigure(struct chat *chat, const struct cfg *cfg);

/**
 * Prepare for the SIP stack's shutdown: drop queued relays, and let go of
 * participants that owe an answer to a relay.  nua sends a handle's BYE only
 * after its pending MESSAGE, so those would hold the shutdown for a whole
 * Timer F; the others get their BYE from nua_shutdown().
 */
void chat_shutdown(struct chat *chat);

/** Free everything; dialogs must already be gone (nua shut down). */
void chat_destroy(struct chat *chat);

/** @return a new JSON object of counters for "status". */
json_t *chat_status_json(const struct chat *chat);

struct metrics_out;
/** Collector (metrics_add) of the conference families: @p arg is the chat. */
void chat_metrics(void *arg, struct metrics_out *out);

#endif

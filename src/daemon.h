/*
 * daemon.h - the single daemon context and its lifecycle.
 *
 * struct sipbridge owns everything that lives as long as the process: the
 * running config, the loop, the SIP core, the control socket and the
 * databases (and, as they come, the capability modules).  It is created in
 * main() and passed explicitly; there is no other daemon-wide state.  Only
 * main.c and daemon.c see it: modules get what they need as arguments.
 */
#ifndef SIPBRIDGE_DAEMON_H
#define SIPBRIDGE_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "sipbridge/cfg.h"

struct loop;
struct sip;
struct ctl;
struct db;
struct chat;
struct pubstate;
struct mwi;
struct api;
struct metrics;

struct sipbridge {
    char *cfg_path;
    struct cfg *cfg;             /* running config, replaced whole on reload */
    struct loop *loop;
    struct sip *sip;
    struct ctl *ctl;
    struct db **dbs;             /* one per type=database, cfg order */
    size_t ndbs;
    struct chat *chat;           /* conference chat relay */
    struct pubstate *pubstate;   /* PUBLISH state exchange */
    struct mwi *mwi;             /* MWI NOTIFY from active_watchers */
    struct api *api;             /* Janus-style SIP API */
    struct metrics *metrics;     /* Prometheus endpoint ([metrics]) */
    struct event *ev_term, *ev_int, *ev_hup;
    struct event *ev_watchdog;   /* sd_notify WATCHDOG=1, if enabled */
    struct event *ev_stop_deadline;
    struct timespec started;     /* CLOCK_MONOTONIC */
    time_t started_at;           /* the same, wall clock */
    bool stopping;
    uint64_t reloads, reload_failures;
};

/* The capability config types main() hands to cfg_load(). */
extern const struct cfg_type *const *const daemon_cfg_types;
extern const size_t daemon_cfg_ntypes;

/** Load and check a config the way start-up and reload do.
 *  @return 0 and *out, or -EINVAL with @p errs filled. */
int daemon_load_config(const char *path, struct cfg **out,
                       struct cfg_errors *errs);

/** Bring everything up.  @return 0, or -errno (logged). */
int daemon_start(struct sipbridge *sb, const char *cfg_path, struct cfg *cfg);
/** Run the loop until a graceful stop completes.  @return exit code. */
int daemon_run(struct sipbridge *sb);
/** Release everything daemon_start() built. */
void daemon_free(struct sipbridge *sb);

/**
 * Re-read the config file and apply it.  On failure nothing changes and
 * @p why (may be NULL) receives the reasons, one per line (caller frees).
 * @return 0, or -EINVAL (bad file, or a change that needs a restart).
 */
int daemon_reload(struct sipbridge *sb, char **why);

#endif

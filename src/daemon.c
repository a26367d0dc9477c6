/*
 * daemon.c - start, run, reload and stop the daemon; core control requests.
 */
#include "daemon.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "sipbridge/api.h"
#include "sipbridge/chat.h"
#include "sipbridge/ctl.h"
#include "sipbridge/db.h"
#include "sipbridge/limit.h"
#include "sipbridge/log.h"
#include "sipbridge/metrics.h"
#include "sipbridge/peer.h"
#include "sipbridge/pubstate.h"
#include "sipbridge/loop.h"
#include "sipbridge/mwi.h"
#include "sipbridge/sip.h"

/* SIGTERM must end the process within 5 s: the SIP stack gets this long
 * to finish its shutdown, then we stop regardless. */
#define DAEMON_STOP_DEADLINE_MS 3000

/* The config types of the capabilities: each one adds its own here. */
static const struct cfg_type *const daemon_types[] = {
    &chat_cfg_type,
    &peer_endpoint_type, &peer_identify_type, &peer_auth_type,
    &pubstate_outbound_type, &pubstate_inbound_type, &pubstate_asterisk_type,
    &mwi_cfg_type, &api_cfg_type, &limit_cfg_type, &metrics_cfg_type,
};
const struct cfg_type *const *const daemon_cfg_types = daemon_types;
const size_t daemon_cfg_ntypes = sizeof(daemon_types) / sizeof(daemon_types[0]);

/* A conninfo that would make libpq block (a host name) is a config error. */
static int
daemon_check_databases(const struct cfg *cfg, struct cfg_errors *errs)
{
    int rc = 0;

    for (size_t i = 0; i < cfg->ndatabases; i++) {
        const struct cfg_database *d = &cfg->databases[i];
        char why[256];

        if (db_conninfo_check(d->conninfo, why, sizeof(why)) != 0) {
            cfg_errors_add(errs, d->file, d->line, "[%s] conninfo: %s",
                           d->name, why);
            rc = -EINVAL;
        }
    }
    return rc;
}

int
daemon_load_config(const char *path, struct cfg **out, struct cfg_errors *errs)
{
    struct cfg *cfg;
    int rc, bad;

    rc = cfg_load(path, daemon_cfg_types, daemon_cfg_ntypes, &cfg, errs);
    if (rc != 0)
        return rc;
    /* Both checks run, so that every error is reported at once. */
    bad = sip_check_transports(cfg, errs) != 0;
    bad |= daemon_check_databases(cfg, errs) != 0;
    bad |= chat_check_config(cfg, errs) != 0;
    bad |= peer_check_config(cfg, errs) != 0;
    bad |= pubstate_check_config(cfg, errs) != 0;
    bad |= mwi_check_config(cfg, errs) != 0;
    bad |= api_check_config(cfg, errs) != 0;
    if (bad) {
        cfg_free(cfg);
        return -EINVAL;
    }
    *out = cfg;
    return 0;
}

/* ---- status and core requests ---- */

/* The heap as glibc's allocator sees it: what per-object costs are
 * measured with (bench/api_register), RSS being only an upper bound. */
static json_t *
daemon_memory_json(void)
{
    struct mallinfo2 mi = mallinfo2();

    return json_pack("{s:I,s:I,s:I}", "heap_in_use", (json_int_t)mi.uordblks,
                     "heap_free", (json_int_t)mi.fordblks, "mmapped",
                     (json_int_t)mi.hblkhd);
}

static double
daemon_uptime(const struct sipbridge *sb)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - sb->started.tv_sec) +
           (double)(now.tv_nsec - sb->started.tv_nsec) / 1e9;
}

static json_t *
daemon_counters_json(const struct sipbridge *sb)
{
    struct sip_counters sc;
    struct loop_stats ls;

    sip_get_counters(sb->sip, &sc);
    loop_get_stats(sb->loop, &ls);
    return json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:{s:I, s:I, s:I},"
                     " s:{s:I, s:I}}",
                     "sip", "requests", (json_int_t)sc.requests,
                     "options", (json_int_t)sc.options,
                     "routed", (json_int_t)sc.routed,
                     "not_found", (json_int_t)sc.not_found,
                     "rejected", (json_int_t)sc.rejected,
                     "limited", (json_int_t)sc.limited,
                     "dialogs_full", (json_int_t)sc.dialogs_full,
                     "limits", sip_limits_json(sb->sip),
                     "loop", "wakeups", (json_int_t)ls.wakeups,
                     "steps", (json_int_t)ls.steps,
                     "kicks", (json_int_t)ls.kicks,
                     "config", "reloads", (json_int_t)sb->reloads,
                     "reload_failures", (json_int_t)sb->reload_failures);
}

static json_t *
daemon_status_json(const struct sipbridge *sb)
{
    json_t *dbs = json_array();

    for (size_t i = 0; i < sb->ndbs; i++)
        json_array_append_new(dbs, db_status(sb->dbs[i]));
    return json_pack("{s:s, s:f, s:i, s:s, s:s, s:b, s:o, s:o, s:o, s:o,"
                     " s:o, s:o}",
                     "version", SIPBRIDGE_VERSION,
                     "uptime", daemon_uptime(sb),
                     "pid", (int)getpid(),
                     "config", sb->cfg_path,
                     "log_level", log_level_name(log_get_level()),
                     "debug", sip_get_trace(sb->sip),
                     "listeners", sip_listeners_json(sb->sip),
                     "control", ctl_status_json(sb->ctl),
                     "databases", dbs,
                     "counters", daemon_counters_json(sb),
                     "memory", daemon_memory_json(),
                     "capabilities", json_pack(
                         "{s:o,s:o,s:o,s:o}", "chat",
                         chat_status_json(sb->chat), "pubstate",
                         pubstate_status_json(sb->pubstate), "mwi",
                         mwi_status_json(sb->mwi), "api",
                         api_status_json(sb->api)));
}

static void
daemon_metrics(void *arg, struct metrics_out *o)
{
    const struct sipbridge *sb = arg;
    struct loop_stats ls;

    loop_get_stats(sb->loop, &ls);
    metrics_family(o, "sipbridge_build_info", METRICS_GAUGE,
                   "Always 1; the version is a label.");
    metrics_sample(o, 1, "version", SIPBRIDGE_VERSION, NULL);
    metrics_family(o, "sipbridge_start_time_seconds", METRICS_GAUGE,
                   "When the daemon started, seconds since the Unix epoch.");
    metrics_sample(o, (double)sb->started_at, NULL);
    metrics_family(o, "sipbridge_config_reloads_total", METRICS_COUNTER,
                   "Configuration reloads, by outcome.");
    metrics_sample(o, (double)sb->reloads, "outcome", "ok", NULL);
    metrics_sample(o, (double)sb->reload_failures, "outcome", "failed", NULL);
    metrics_family(o, "sipbridge_sip_stack_wakeups_total", METRICS_COUNTER,
                   "Times the loop ran the SIP stack (one of its sockets or "
                   "timers was due).");
    metrics_sample(o, (double)ls.wakeups, NULL);
    db_metrics(sb->dbs, sb->ndbs, o);
}

/* Core first, then the capabilities, in the order status lists them. */
static int
daemon_start_metrics(struct sipbridge *sb)
{
    int rc = metrics_create(&sb->metrics, loop_base(sb->loop), sb->cfg);

    if (rc != 0)
        return rc;
    rc |= metrics_add(sb->metrics, daemon_metrics, sb);
    rc |= metrics_add(sb->metrics, sip_metrics, sb->sip);
    rc |= metrics_add(sb->metrics, ctl_metrics, sb->ctl);
    rc |= metrics_add(sb->metrics, chat_metrics, sb->chat);
    rc |= metrics_add(sb->metrics, pubstate_metrics, sb->pubstate);
    rc |= metrics_add(sb->metrics, mwi_metrics, sb->mwi);
    rc |= metrics_add(sb->metrics, api_metrics, sb->api);
    return rc ? -ENOSPC : 0;
}

static void
daemon_req_status(void *arg, struct ctl_request *req)
{
    ctl_reply_success(req, daemon_status_json(arg));
}

static void
daemon_req_version(void *arg, struct ctl_request *req)
{
    (void)arg;
    ctl_reply_success(req, json_pack("{s:s}", "version", SIPBRIDGE_VERSION));
}

static void
daemon_req_debug(void *arg, struct ctl_request *req)
{
    struct sipbridge *sb = arg;
    json_t *enable = json_object_get(req->msg, "enable");

    if (enable == NULL) {
        ctl_reply_error(req, CTL_ERR_MISSING_ELEMENT,
                        "missing element: enable");
        return;
    }
    if (!json_is_boolean(enable)) {
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT,
                        "invalid element: enable must be true or false");
        return;
    }
    sip_set_trace(sb->sip, json_is_true(enable));
    log_notice("daemon", "SIP trace %s by control client",
               json_is_true(enable) ? "on" : "off");
    ctl_reply_success(req, json_pack("{s:b}", "debug", json_is_true(enable)));
}

static void
daemon_req_reload(void *arg, struct ctl_request *req)
{
    char *why = NULL;
    int rc = daemon_reload(arg, &why);

    if (rc == 0)
        ctl_reply_success(req, json_pack("{s:s}", "config",
                                         ((struct sipbridge *)arg)->cfg_path));
    else
        ctl_reply_error(req, CTL_ERR_RELOAD_FAILED, "%s",
                        why ? why : "reload failed");
    free(why);
}

static int
daemon_register_requests(struct sipbridge *sb)
{
    int rc = 0;

    rc |= ctl_register(sb->ctl, "status", daemon_req_status, sb);
    rc |= ctl_register(sb->ctl, "version", daemon_req_version, sb);
    rc |= ctl_register(sb->ctl, "debug", daemon_req_debug, sb);
    rc |= ctl_register(sb->ctl, "reload", daemon_req_reload, sb);
    return rc ? -ENOMEM : 0;
}

/* ---- databases ---- */

static int
daemon_open_databases(struct sipbridge *sb)
{
    sb->dbs = calloc(sb->cfg->ndatabases + 1, sizeof(*sb->dbs));
    if (sb->dbs == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < sb->cfg->ndatabases; i++) {
        int rc = db_create(&sb->dbs[i], loop_base(sb->loop),
                           &sb->cfg->databases[i]);
        if (rc != 0)
            return rc;
        sb->ndbs++;
    }
    return 0;
}

/*
 * Databases are matched by section name: a changed section reconfigures
 * its connection (queued queries survive), a removed one is closed and a
 * new one opened.
 */
static int
daemon_apply_databases(struct sipbridge *sb, const struct cfg *cfg)
{
    struct db **dbs = calloc(cfg->ndatabases + 1, sizeof(*dbs));

    if (dbs == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->ndatabases; i++) {
        for (size_t j = 0; j < sb->ndbs; j++) {
            if (sb->dbs[j] && strcmp(db_name(sb->dbs[j]),
                                     cfg->databases[i].name) == 0) {
                dbs[i] = sb->dbs[j];
                sb->dbs[j] = NULL;
                db_reconfigure(dbs[i], &cfg->databases[i]);
            }
        }
        if (dbs[i] == NULL)
            db_create(&dbs[i], loop_base(sb->loop), &cfg->databases[i]);
    }
    for (size_t j = 0; j < sb->ndbs; j++)
        db_destroy(sb->dbs[j]);
    free(sb->dbs);
    sb->dbs = dbs;
    sb->ndbs = 0;
    while (sb->ndbs < cfg->ndatabases && dbs[sb->ndbs])
        sb->ndbs++;
    return 0;
}

/* ---- reload ---- */

static char *
daemon_join_errors(const struct cfg_errors *errs)
{
    size_t len = 1;
    char *s;

    for (size_t i = 0; i < errs->n; i++)
        len += strlen(errs->msgs[i]) + 1;
    s = calloc(1, len);
    for (size_t i = 0; s && i < errs->n; i++) {
        strcat(s, errs->msgs[i]);
        if (i + 1 < errs->n)
            strcat(s, "\n");
    }
    return s;
}

/* What a reload cannot change without a restart, or NULL. */
static const char *
daemon_restart_reason(const struct cfg *old, const struct cfg *new)
{
    if (!cfg_transports_equal(old, new))
        return "restart required: the transports changed "
               "(they are bound once, at start)";
    if (strcmp(old->control.socket, new->control.socket) != 0)
        return "restart required: the control socket path changed";
    if (strcmp(old->global.state_dir, new->global.state_dir) != 0)
        return "restart required: state_dir changed";
    return NULL;
}

static void
daemon_apply(struct sipbridge *sb, struct cfg *cfg)
{
    log_set_level(cfg->global.log_level);
    if (cfg->global.debug != sb->cfg->global.debug)
        sip_set_trace(sb->sip, cfg->global.debug);
    sip_reconfigure(sb->sip, cfg);
    ctl_reconfigure(sb->ctl, &cfg->control);
    daemon_apply_databases(sb, cfg);
    chat_reconfigure(sb->chat, cfg);
    pubstate_reconfigure(sb->pubstate, cfg);
    mwi_reconfigure(sb->mwi, cfg);
    api_reconfigure(sb->api, cfg);
    metrics_reconfigure(sb->metrics, cfg);
    cfg_free(sb->cfg);
    sb->cfg = cfg;
}

/* Tell "daemon" watchers how a reload went. */
static void
daemon_publish_reload(struct sipbridge *sb, int rc, const char *why)
{
    json_t *ev;

    if (rc == 0) {
        ev = json_pack("{s:s, s:s}", "event", "reloaded", "config",
                       sb->cfg_path);
    } else {
        sb->reload_failures++;
        ev = json_pack("{s:s, s:s, s:s}", "event", "reload_failed",
                       "config", sb->cfg_path, "error",
                       why ? why : "see the daemon's log");
    }
    ctl_publish(sb->ctl, "daemon", ev);
    json_decref(ev);
}

/* Loads and checks the new file; @return it, or NULL with *reason set. */
static struct cfg *
daemon_reload_check(struct sipbridge *sb, char **reason)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg;
    const char *restart;

    if (daemon_load_config(sb->cfg_path, &cfg, &errs) != 0) {
        for (size_t i = 0; i < errs.n; i++)
            log_err("cfg", "%s", errs.msgs[i]);
        log_err("daemon", "reload of %s rejected: the running config stays "
                "in force", sb->cfg_path);
        *reason = daemon_join_errors(&errs);
        cfg_errors_clear(&errs);
        return NULL;
    }
    restart = daemon_restart_reason(sb->cfg, cfg);
    if (restart) {
        log_err("daemon", "reload of %s rejected: %s; nothing changed",
                sb->cfg_path, restart);
        *reason = strdup(restart);
        cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

int
daemon_reload(struct sipbridge *sb, char **why)
{
    char *reason = NULL;
    struct cfg *cfg;

    sd_notify(0, "RELOADING=1\nSTATUS=Reloading configuration");
    cfg = daemon_reload_check(sb, &reason);
    if (cfg) {
        daemon_apply(sb, cfg);
        sb->reloads++;
        log_notice("daemon", "configuration reloaded from %s (log level %s)",
                   sb->cfg_path, log_level_name(log_get_level()));
    }
    daemon_publish_reload(sb, cfg ? 0 : -EINVAL, reason);
    sd_notify(0, "READY=1\nSTATUS=Running");
    if (why)
        *why = reason;
    else
        free(reason);
    return cfg ? 0 : -EINVAL;
}

/* ---- signals, watchdog, stop ---- */

static void
daemon_stopped(void *arg)
{
    struct sipbridge *sb = arg;

    log_notice("daemon", "SIP stack stopped");
    loop_break(sb->loop);
}

static void
daemon_stop_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct sipbridge *sb = arg;

    (void)fd;
    (void)what;
    log_warn("daemon", "SIP stack did not stop in time; exiting anyway");
    loop_break(sb->loop);
}

static void
daemon_on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct sipbridge *sb = arg;
    struct timeval tv = { DAEMON_STOP_DEADLINE_MS / 1000,
                          (DAEMON_STOP_DEADLINE_MS % 1000) * 1000 };

    (void)what;
    if (sig == SIGHUP) {
        log_notice("daemon", "SIGHUP: reloading %s", sb->cfg_path);
        daemon_reload(sb, NULL);
        return;
    }
    if (sb->stopping)
        return;
    sb->stopping = true;
    log_notice("daemon", "%s: stopping", sig == SIGTERM ? "SIGTERM"
                                                       : "SIGINT");
    sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
    evtimer_add(sb->ev_stop_deadline, &tv);
    chat_shutdown(sb->chat);
    pubstate_shutdown(sb->pubstate);
    mwi_shutdown(sb->mwi);
    api_shutdown(sb->api);
    sip_shutdown(sb->sip, daemon_stopped, sb);
}

static void
daemon_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    sd_notify(0, "WATCHDOG=1");
}

static int
daemon_setup_events(struct sipbridge *sb)
{
    struct event_base *base = loop_base(sb->loop);
    uint64_t usec = 0;

    sb->ev_term = evsignal_new(base, SIGTERM, daemon_on_signal, sb);
    sb->ev_int = evsignal_new(base, SIGINT, daemon_on_signal, sb);
    sb->ev_hup = evsignal_new(base, SIGHUP, daemon_on_signal, sb);
    sb->ev_stop_deadline = evtimer_new(base, daemon_stop_deadline, sb);
    if (!sb->ev_term || !sb->ev_int || !sb->ev_hup || !sb->ev_stop_deadline ||
        evsignal_add(sb->ev_term, NULL) || evsignal_add(sb->ev_int, NULL) ||
        evsignal_add(sb->ev_hup, NULL))
        return -ENOMEM;
    /* Ping at half the watchdog interval, as sd_watchdog_enabled(3) says. */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        struct timeval tv = { (time_t)(usec / 2 / 1000000),
                              (suseconds_t)(usec / 2 % 1000000) };

        sb->ev_watchdog = event_new(base, -1, EV_PERSIST, daemon_on_watchdog,
                                    sb);
        if (sb->ev_watchdog == NULL || event_add(sb->ev_watchdog, &tv))
            return -ENOMEM;
        log_info("daemon", "watchdog ping every %llu ms",
                 (unsigned long long)(usec / 2000));
    }
    return 0;
}

/* ---- capabilities ---- */

static struct db *
daemon_db_find(void *arg, const char *name)
{
    struct sipbridge *sb = arg;

    for (size_t i = 0; i < sb->ndbs; i++)
        if (strcmp(db_name(sb->dbs[i]), name) == 0)
            return sb->dbs[i];
    return NULL;
}

/* Where the capabilities meet: a mailbox's state, published by an Asterisk
 * voicemail server or set locally, becomes its subscribers' NOTIFYs. */
static void
daemon_on_mailbox(void *arg, const char *uniqueid,
                  const struct pubstate_eid *eid, unsigned new_msgs,
                  unsigned old_msgs)
{
    struct sipbridge *sb = arg;

    (void)eid;
    mwi_mailbox_state(sb->mwi, uniqueid, new_msgs, old_msgs);
}

static int
daemon_start_capabilities(struct sipbridge *sb)
{
    struct chat_deps chat = { sb->sip, sb->ctl, daemon_db_find, sb };
    struct mwi_deps mwi = { sb->sip, sb->ctl, daemon_db_find, sb };
    struct pubstate_deps ps = { sb->sip, sb->ctl, daemon_on_mailbox, sb };
    struct api_deps api = { sb->sip, sb->ctl };
    int rc = chat_create(&sb->chat, &chat, sb->cfg);

    rc = rc < 0 ? rc : mwi_create(&sb->mwi, &mwi, sb->cfg);
    rc = rc < 0 ? rc : pubstate_create(&sb->pubstate, &ps, sb->cfg);
    return rc < 0 ? rc : api_create(&sb->api, &api, sb->cfg);
}

/* ---- lifecycle ---- */

static void
daemon_make_state_dir(const char *dir)
{
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        log_warn("daemon", "cannot create state_dir %s: %s", dir,
                 strerror(errno));
}

static void
daemon_log_started(const struct sipbridge *sb)
{
    char line[1024] = "";
    size_t off = 0;

    for (size_t i = 0; i < sb->cfg->ntransports && off < sizeof(line); i++) {
        const struct cfg_transport *t = &sb->cfg->transports[i];
        const char *v6 = strchr(t->host, ':') ? "[" : "";

        off += snprintf(line + off, sizeof(line) - off, "%s%s %s%s%s:%u",
                        i ? ", " : "", t->protocol == CFG_PROTO_UDP ? "udp"
                        : t->protocol == CFG_PROTO_TCP ? "tcp" : "tls",
                        v6, t->host, *v6 ? "]" : "", t->port);
    }
    log_notice("daemon", "sipbridged %s started, pid %d: listening on %s; "
               "control socket %s", SIPBRIDGE_VERSION, (int)getpid(), line,
               sb->cfg->control.socket);
}

int
daemon_start(struct sipbridge *sb, const char *cfg_path, struct cfg *cfg)
{
    int rc;

    sb->cfg = cfg;
    sb->cfg_path = strdup(cfg_path);
    clock_gettime(CLOCK_MONOTONIC, &sb->started);
    sb->started_at = time(NULL);
    log_set_level(cfg->global.log_level);
    daemon_make_state_dir(cfg->global.state_dir);
    rc = loop_create(&sb->loop, NULL);
    if (rc == 0)
        rc = sip_create(&sb->sip, sb->loop, cfg);
    if (rc == 0)
        rc = ctl_create(&sb->ctl, loop_base(sb->loop), &cfg->control);
    if (rc == 0)
        rc = daemon_register_requests(sb);
    if (rc == 0)
        rc = daemon_open_databases(sb);
    if (rc == 0)
        rc = daemon_start_capabilities(sb);
    if (rc == 0)
        rc = daemon_start_metrics(sb);
    if (rc == 0)
        rc = daemon_setup_events(sb);
    if (rc != 0)
        return rc;
    daemon_log_started(sb);
    sd_notify(0, "READY=1\nSTATUS=Running");
    return 0;
}

int
daemon_run(struct sipbridge *sb)
{
    int rc = loop_run(sb->loop);

    log_notice("daemon", "stopped");
    return rc == 0 ? 0 : 1;
}

static void
daemon_free_event(struct event **ev)
{
    if (*ev)
        event_free(*ev);
    *ev = NULL;
}

void
daemon_free(struct sipbridge *sb)
{
    daemon_free_event(&sb->ev_term);
    daemon_free_event(&sb->ev_int);
    daemon_free_event(&sb->ev_hup);
    daemon_free_event(&sb->ev_watchdog);
    daemon_free_event(&sb->ev_stop_deadline);
    metrics_destroy(sb->metrics);
    /* Databases first: their last callbacks still find the capabilities.
     * Capabilities before the control socket and the SIP stack they use. */
    for (size_t i = 0; i < sb->ndbs; i++)
        db_destroy(sb->dbs[i]);
    free(sb->dbs);
    chat_destroy(sb->chat);
    pubstate_destroy(sb->pubstate);
    mwi_destroy(sb->mwi);
    api_destroy(sb->api);
    ctl_destroy(sb->ctl);
    sip_destroy(sb->sip);
    if (sb->loop)
        loop_destroy(sb->loop);
    cfg_free(sb->cfg);
    free(sb->cfg_path);
}

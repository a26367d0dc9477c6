/*
 * pubstate.c - the PUBLISH capability as a whole: its objects from the
 * config, reload, the state changes that drive the publish clients, and
 * the state_* / publish_status control requests and "state" events.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "pubstate_int.h"
#include "sipbridge/ctl.h"
#include "sipbridge/digest.h"
#include "sipbridge/log.h"
#include "sipbridge/metrics.h"
#include "sipbridge/peer.h"
#include "sipbridge/pubstate_eid.h"

static const struct sip_route_ops ps_route_ops = {
    "inbound-publication", ps_inbound_request
};

/* ---- state changes ---- */

static bool
ps_is_local(const struct pubstate *ps, const struct pubstate_eid *eid)
{
    return pubstate_eid_equal(eid, &ps->eid);
}

/* Only our own states are published: what a peer told us stays here (no
 * ping-pong, as in Asterisk). */
static void
ps_publish_local(struct pubstate *ps, enum ps_event event, const char *key,
                 const struct pubstate_eid *eid)
{
    if (!ps_is_local(ps, eid))
        return;
    for (struct ps_target *t = ps->targets; t; t = t->next)
        if (t->cfg.event == event)
            ps_target_enqueue(t, key);
}

void
ps_device_changed(struct pubstate *ps, const char *device,
                  const struct pubstate_eid *eid)
{
    struct ctl *ctl = ps->deps.ctl;
    struct pubstate_device_entry e;
    char eid_str[18];
    json_t *ev;

    ps_publish_local(ps, PS_EV_DEVICE, device, eid);
    if (!ctl_watched(ctl, "state") ||
        pubstate_store_get_device(ps->store, device, eid, &e) != 0)
        return;
    pubstate_eid_format(eid, eid_str);
    ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "event", "device_state",
                   "device", device, "eid", eid_str,
                   "state", pubstate_devstate_name(e.state), "aggregate",
                   pubstate_devstate_name(pubstate_store_device_aggregate(
                       ps->store, device)),
                   "local", ps_is_local(ps, eid));
    ctl_publish(ctl, "state", ev);
    json_decref(ev);
}

void
ps_mailbox_changed(struct pubstate *ps, const char *uniqueid,
                   const struct pubstate_eid *eid)
{
    struct ctl *ctl = ps->deps.ctl;
    struct pubstate_mailbox_entry e;
    char eid_str[18];
    json_t *ev;

    ps_publish_local(ps, PS_EV_MWI, uniqueid, eid);
    if (pubstate_store_get_mailbox(ps->store, uniqueid, eid, &e) != 0)
        return;
    /* The seam to the MWI capability. */
    if (ps->deps.on_mailbox)
        ps->deps.on_mailbox(ps->deps.mailbox_arg, uniqueid, eid, e.new_msgs,
                            e.old_msgs);
    if (!ctl_watched(ctl, "state"))
        return;
    pubstate_eid_format(eid, eid_str);
    ev = json_pack("{s:s,s:s,s:s,s:i,s:i,s:b}", "event", "mailbox_state",
                   "mailbox", uniqueid, "eid", eid_str, "new",
                   (int)e.new_msgs, "old", (int)e.old_msgs, "local",
                   ps_is_local(ps, eid));
    ctl_publish(ctl, "state", ev);
    json_decref(ev);
}

/* ---- objects from the config ---- */

static void
ps_unroute_all(struct pubstate *ps)
{
    for (struct ps_inbound *in = ps->inbounds; in; in = in->next)
        sip_route_remove(ps->deps.sip, in->name);
}

static int
ps_route_all(struct pubstate *ps, struct ps_inbound *list)
{
    for (struct ps_inbound *in = list; in; in = in->next) {
        int rc = sip_route_add(ps->deps.sip, in->name, &ps_route_ops, in);

        if (rc < 0) {
            log_err("pubstate", "cannot claim user part '%s': %s", in->name,
                    strerror(-rc));
            for (struct ps_inbound *x = list; x != in; x = x->next)
                sip_route_remove(ps->deps.sip, x->name);
            return rc;
        }
    }
    return 0;
}

/* The inbound side: publications, their asterisk-publications, peers. */
static int
ps_apply_inbound(struct pubstate *ps, const struct cfg *cfg)
{
    struct ps_inbound *in = NULL;
    struct ps_asterisk *a = NULL;
    struct peer_table *pt = NULL;
    int rc;

    if ((rc = ps_inbound_list(cfg, ps, &in)) < 0 ||
        (rc = ps_asterisk_list(cfg, &a)) < 0 ||
        (rc = peer_table_create(&pt, cfg)) < 0)
        goto fail;
    ps_unroute_all(ps);
    if ((rc = ps_route_all(ps, in)) < 0) {
        ps_route_all(ps, ps->inbounds);   /* the old ones come back */
        goto fail;
    }
    ps_inbound_free_all(ps->inbounds);
    ps_asterisk_free_all(ps->asterisks);
    peer_table_destroy(ps->peers);
    ps->inbounds = in;
    ps->asterisks = a;
    ps->peers = pt;
    return 0;
fail:
    ps_inbound_free_all(in);
    ps_asterisk_free_all(a);
    peer_table_destroy(pt);
    return rc;
}

/* Does some asterisk-publication ask for refreshes through @t? */
static bool
ps_target_pulls(const struct pubstate *ps, const struct ps_target *t)
{
    for (const struct ps_asterisk *a = ps->asterisks; a; a = a->next)
        if (a->publish[t->cfg.event] &&
            strcmp(a->publish[t->cfg.event], t->cfg.name) == 0)
            return true;
    return false;
}

/* A new client sends all local state, then asks for the peer's. */
static void
ps_target_start(struct pubstate *ps, struct ps_target *t)
{
    t->started = true;
    if (ps_target_pulls(ps, t))
        ps_target_request_refresh(t);
    ps_target_dump_local(t);
}

static struct ps_target *
ps_target_take(struct ps_target **list, const char *name)
{
    for (struct ps_target **pp = list; *pp; pp = &(*pp)->next) {
        struct ps_target *t = *pp;

        if (strcmp(t->cfg.name, name) == 0) {
            *pp = t->next;
            t->next = NULL;
            return t;
        }
    }
    return NULL;
}

/* Keep a client whose peer is unchanged (its ETag stays valid). */
static int
ps_apply_targets(struct pubstate *ps, const struct cfg *cfg)
{
    struct ps_target_cfg *v;
    struct ps_target *old = ps->targets, *list = NULL, **tail = &list, *t;
    size_t n;
    int rc = ps_target_cfg_list(cfg, &v, &n);

    if (rc < 0)
        return rc;
    ps->targets = NULL;
    for (size_t i = 0; i < n; i++) {
        t = ps_target_take(&old, v[i].name);
        if (t && ps_target_cfg_same_peer(&t->cfg, &v[i])) {
            ps_target_reconfigure(t, &v[i]);
        } else {
            ps_target_destroy(t);
            t = NULL;
            if (ps_target_create(ps, &v[i], &t) < 0) {
                log_err("pubstate", "[%s] out of memory", v[i].name);
                ps_target_cfg_free(&v[i]);
                continue;
            }
        }
        *tail = t;
        tail = &t->next;
    }
    free(v);
    while ((t = old) != NULL) {
        old = t->next;
        ps_target_destroy(t);
    }
    ps->targets = list;
    return 0;
}

static void
ps_start_new_targets(struct pubstate *ps)
{
    for (struct ps_target *t = ps->targets; t; t = t->next)
        if (!t->started)
            ps_target_start(ps, t);
}

int
pubstate_reconfigure(struct pubstate *ps, const struct cfg *cfg)
{
    int rc = ps_apply_inbound(ps, cfg);

    if (rc == 0)
        rc = ps_apply_targets(ps, cfg);
    if (rc < 0) {
        log_err("pubstate", "reload: %s; the old publications stay",
                strerror(-rc));
        return rc;
    }
    ps_start_new_targets(ps);
    return 0;
}

/* ---- lifecycle ---- */

static int ps_register_requests(struct pubstate *ps);

static int
ps_events_allow(struct pubstate *ps)
{
    for (int e = 0; e < PS_EV_N; e++) {
        int rc = sip_allow_event(ps->deps.sip, ps_event_names[e]);

        if (rc < 0)
            return rc;
    }
    return 0;
}

static int
ps_init(struct pubstate *ps, const struct cfg *cfg)
{
    int rc;

    rc = pubstate_eid_load(cfg->global.entity_id, cfg->global.state_dir,
                           &ps->eid, &ps->eid_source);
    if (rc < 0)
        return rc;
    pubstate_eid_format(&ps->eid, ps->eid_str);
    log_notice("pubstate", "entity id %s (%s)", ps->eid_str, ps->eid_source);
    if (getrandom(&ps->next_etag, sizeof(ps->next_etag), 0) < 0)
        ps->next_etag = (uint32_t)time(NULL);
    ps->next_etag = (ps->next_etag & 0x3fffffffu) + 1;
    if ((rc = pubstate_store_create(&ps->store)) < 0 ||
        (rc = digest_create(&ps->digest)) < 0 ||
        (rc = ps_events_allow(ps)) < 0 ||
        (rc = ps_register_requests(ps)) < 0 ||
        (rc = ps_apply_inbound(ps, cfg)) < 0 ||
        (rc = ps_apply_targets(ps, cfg)) < 0)
        return rc;
    ps_start_new_targets(ps);
    return 0;
}

int
pubstate_create(struct pubstate **out, const struct pubstate_deps *deps,
                const struct cfg *cfg)
{
    struct pubstate *ps = calloc(1, sizeof(*ps));
    int rc;

    if (ps == NULL)
        return -ENOMEM;
    ps->deps = *deps;
    ps->base = loop_base(sip_loop(deps->sip));
    rc = ps_init(ps, cfg);
    if (rc < 0) {
        log_err("pubstate", "cannot start: %s", strerror(-rc));
        pubstate_destroy(ps);
        return rc;
    }
    *out = ps;
    return 0;
}

void
pubstate_shutdown(struct pubstate *ps)
{
    if (ps == NULL)
        return;
    for (struct ps_target *t = ps->targets; t; t = t->next)
        ps_target_stop(t);
}

void
pubstate_destroy(struct pubstate *ps)
{
    struct ps_target *t;

    if (ps == NULL)
        return;
    while ((t = ps->targets) != NULL) {
        ps->targets = t->next;
        ps_target_destroy(t);
    }
    ps_unroute_all(ps);
    ps_inbound_free_all(ps->inbounds);
    ps_asterisk_free_all(ps->asterisks);
    peer_table_destroy(ps->peers);
    ps_pubs_free(ps);
    digest_destroy(ps->digest);
    pubstate_store_destroy(ps->store);
    free(ps);
}

static void
pubstate_put_inbound(const struct pubstate *ps, struct metrics_out *o)
{
    const struct ps_counters *n = &ps->n;

    metrics_family(o, "sipbridge_publish_received_total", METRICS_COUNTER,
                   "PUBLISH requests received, by outcome (unauthorized: "
                   "challenged with 401).");
    metrics_sample(o, (double)n->in_ok, "outcome", "ok", NULL);
    metrics_sample(o, (double)n->in_bad, "outcome", "bad_request", NULL);
    metrics_sample(o, (double)n->in_forbidden, "outcome", "forbidden", NULL);
    metrics_sample(o, (double)n->in_not_found, "outcome", "not_found", NULL);
    metrics_sample(o, (double)n->in_412, "outcome", "conditional_failed",
                   NULL);
    metrics_sample(o, (double)n->in_401, "outcome", "unauthorized", NULL);
    metrics_sample(o, (double)n->in_own_eid, "outcome", "own_entity_id",
                   NULL);
    metrics_sample(o, (double)n->in_ignored, "outcome", "ignored", NULL);
    metrics_family(o, "sipbridge_publish_states_applied_total",
                   METRICS_COUNTER, "Device and mailbox states taken from "
                   "peers' PUBLISH bodies.");
    metrics_sample(o, (double)n->states_applied, NULL);
    metrics_family(o, "sipbridge_publish_publications", METRICS_GAUGE,
                   "Inbound publications (SIP-ETags) alive now.");
    metrics_sample(o, (double)ps->npubs, NULL);
    metrics_family(o, "sipbridge_publish_devices", METRICS_GAUGE,
                   "Device states known.");
    metrics_sample(o, (double)pubstate_store_ndevices(ps->store), NULL);
    metrics_family(o, "sipbridge_publish_mailboxes", METRICS_GAUGE,
                   "Mailbox states known.");
    metrics_sample(o, (double)pubstate_store_nmailboxes(ps->store), NULL);
}

static void
pubstate_put_outbound(const struct pubstate *ps, struct metrics_out *o)
{
    const struct ps_target *t;

    metrics_family(o, "sipbridge_publish_sent_total", METRICS_COUNTER,
                   "PUBLISH requests to outbound-publish targets answered, "
                   "by outcome.");
    for (t = ps->targets; t; t = t->next) {
        metrics_sample(o, (double)t->ok, "target", t->cfg.name, "outcome",
                       "ok", NULL);
        metrics_sample(o, (double)t->failed, "target", t->cfg.name,
                       "outcome", "failed", NULL);
    }
    metrics_family(o, "sipbridge_publish_coalesced_total", METRICS_COUNTER,
                   "State changes merged into a later PUBLISH while one "
                   "was in flight or the target was backing off.");
    for (t = ps->targets; t; t = t->next)
        metrics_sample(o, (double)t->coalesced, "target", t->cfg.name, NULL);
    metrics_family(o, "sipbridge_publish_queue_depth", METRICS_GAUGE,
                   "Devices and mailboxes waiting to be published to each "
                   "target.");
    for (t = ps->targets; t; t = t->next)
        metrics_sample(o, (double)pubstate_queue_len(t->queue), "target",
                       t->cfg.name, NULL);
    metrics_family(o, "sipbridge_publish_target_backoff", METRICS_GAUGE,
                   "1 while a target is unreachable and retried with "
                   "backoff.");
    for (t = ps->targets; t; t = t->next)
        metrics_sample(o, t->state == PS_T_BACKOFF, "target", t->cfg.name,
                       NULL);
}

void
pubstate_metrics(void *arg, struct metrics_out *o)
{
    pubstate_put_inbound(arg, o);
    pubstate_put_outbound(arg, o);
}

json_t *
pubstate_status_json(const struct pubstate *ps)
{
    size_t ntargets = 0;

    for (const struct ps_target *t = ps->targets; t; t = t->next)
        ntargets++;
    return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                     "entity_id", ps->eid_str,
                     "devices", (json_int_t)pubstate_store_ndevices(ps->store),
                     "mailboxes",
                     (json_int_t)pubstate_store_nmailboxes(ps->store),
                     "targets", (json_int_t)ntargets,
                     "publications", (json_int_t)ps->npubs,
                     "publish_received", (json_int_t)ps->n.in_requests,
                     "publish_ok", (json_int_t)ps->n.in_ok,
                     "publish_rejected",
                     (json_int_t)(ps->n.in_bad + ps->n.in_forbidden +
                                  ps->n.in_not_found + ps->n.in_412),
                     "own_eid_rejected", (json_int_t)ps->n.in_own_eid,
                     "states_applied", (json_int_t)ps->n.states_applied);
}

/* ---- control requests ---- */

/* An optional "filter" regex; @return 0 (re set or not), -1 (answered). */
static int
ps_req_filter(struct ctl_request *req, struct ps_filter *f)
{
    json_t *v = json_object_get(req->msg, "filter");
    const char *bad;
    char why[128];
    int rc;

    memset(f, 0, sizeof(*f));
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT,
                        "invalid element: filter must be a string");
        return -1;
    }
    if ((bad = cfg_regex_unsafe(json_string_value(v))) != NULL) {
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT,
                        "invalid element: filter: %s", bad);
        return -1;
    }
    rc = regcomp(&f->re, json_string_value(v),
                 REG_EXTENDED | REG_ICASE | REG_NOSUB);
    if (rc != 0) {
        regerror(rc, &f->re, why, sizeof(why));
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT,
                        "invalid element: filter: %s", why);
        return -1;
    }
    f->set = true;
    return 0;
}

struct ps_list {
    struct pubstate *ps;
    struct ps_filter *filter;
    json_t *out;
};

static int
ps_list_device(void *arg, const char *name,
               const struct pubstate_device_entry *e, size_t n)
{
    struct ps_list *l = arg;
    json_t *eids;
    char eid[18];

    if (!ps_filter_match(l->filter, name))
        return 0;
    eids = json_array();
    for (size_t i = 0; i < n; i++) {
        pubstate_eid_format(&e[i].eid, eid);
        json_array_append_new(eids, json_pack(
            "{s:s,s:s,s:b,s:b}", "eid", eid, "state",
            pubstate_devstate_name(e[i].state), "cachable", e[i].cachable,
            "local", ps_is_local(l->ps, &e[i].eid)));
    }
    json_array_append_new(l->out, json_pack(
        "{s:s,s:s,s:o}", "device", name, "state",
        pubstate_devstate_name(pubstate_store_device_aggregate(l->ps->store,
                                                               name)),
        "eids", eids));
    return 0;
}

static int
ps_list_mailbox(void *arg, const char *name,
                const struct pubstate_mailbox_entry *e, size_t n)
{
    struct ps_list *l = arg;
    json_int_t nw = 0, old = 0;
    json_t *eids;
    char eid[18];

    if (!ps_filter_match(l->filter, name))
        return 0;
    eids = json_array();
    for (size_t i = 0; i < n; i++) {
        pubstate_eid_format(&e[i].eid, eid);
        nw += e[i].new_msgs;
        old += e[i].old_msgs;
        json_array_append_new(eids, json_pack(
            "{s:s,s:i,s:i,s:b}", "eid", eid, "new", (int)e[i].new_msgs,
            "old", (int)e[i].old_msgs, "local",
            ps_is_local(l->ps, &e[i].eid)));
    }
    json_array_append_new(l->out, json_pack("{s:s,s:I,s:I,s:o}", "mailbox",
                                            name, "new", nw, "old", old,
                                            "eids", eids));
    return 0;
}

static void
ps_req_devices(void *arg, struct ctl_request *req)
{
    struct pubstate *ps = arg;
    struct ps_filter f;
    struct ps_list l = { ps, &f, NULL };

    if (ps_req_filter(req, &f) < 0)
        return;
    l.out = json_array();
    pubstate_store_foreach_device(ps->store, ps_list_device, &l);
    if (f.set)
        regfree(&f.re);
    ctl_reply_success(req, json_pack("{s:o}", "devices", l.out));
}

static void
ps_req_mailboxes(void *arg, struct ctl_request *req)
{
    struct pubstate *ps = arg;
    struct ps_filter f;
    struct ps_list l = { ps, &f, NULL };

    if (ps_req_filter(req, &f) < 0)
        return;
    l.out = json_array();
    pubstate_store_foreach_mailbox(ps->store, ps_list_mailbox, &l);
    if (f.set)
        regfree(&f.re);
    ctl_reply_success(req, json_pack("{s:o}", "mailboxes", l.out));
}

/* A mandatory non-empty string of at most 255 bytes; NULL if answered. */
static const char *
ps_req_name(struct ctl_request *req, const char *key)
{
    json_t *v = json_object_get(req->msg, key);
    const char *s;

    if (v == NULL) {
        ctl_reply_error(req, CTL_ERR_MISSING_ELEMENT, "missing element: %s",
                        key);
        return NULL;
    }
    s = json_is_string(v) ? json_string_value(v) : NULL;
    if (s == NULL || s[0] == '\0' || strlen(s) > 255) {
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT, "invalid element: %s "
                        "must be a string of 1 to 255 bytes", key);
        return NULL;
    }
    return s;
}

/* A device state name; typos are errors here (a peer's become UNKNOWN). */
static int
ps_req_devstate(struct ctl_request *req, enum pubstate_devstate *out)
{
    const char *s = ps_req_name(req, "state");

    if (s == NULL)
        return -1;
    *out = pubstate_devstate_parse(s);
    if (*out == PUBSTATE_DEV_UNKNOWN && strcasecmp(s, "UNKNOWN") != 0) {
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT, "invalid element: "
                        "state '%.32s' is not one of UNKNOWN, NOT_INUSE, "
                        "INUSE, BUSY, INVALID, UNAVAILABLE, RINGING, "
                        "RINGINUSE, ONHOLD", s);
        return -1;
    }
    return 0;
}

static void
ps_req_set_device(void *arg, struct ctl_request *req)
{
    struct pubstate *ps = arg;
    const char *dev = ps_req_name(req, "device");
    enum pubstate_devstate st;
    int rc;

    if (dev == NULL || ps_req_devstate(req, &st) < 0)
        return;
    rc = pubstate_store_set_device(ps->store, dev, &ps->eid, st, true);
    if (rc < 0) {
        ctl_reply_error(req, rc == -ENOMEM ? CTL_ERR_INTERNAL
                                           : CTL_ERR_INVALID_ELEMENT,
                        "cannot set '%.64s': %s", dev, strerror(-rc));
        return;
    }
    if (rc > 0)
        ps_device_changed(ps, dev, &ps->eid);
    ctl_reply_success(req, json_pack(
        "{s:s,s:s,s:s,s:b}", "device", dev, "state",
        pubstate_devstate_name(st), "aggregate",
        pubstate_devstate_name(pubstate_store_device_aggregate(ps->store,
                                                               dev)),
        "changed", rc > 0));
}

/* A mandatory count, 0..INT_MAX. */
static int
ps_req_count(struct ctl_request *req, const char *key, unsigned *out)
{
    json_t *v = json_object_get(req->msg, key);

    if (v == NULL) {
        ctl_reply_error(req, CTL_ERR_MISSING_ELEMENT, "missing element: %s",
                        key);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > 2147483647) {
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT, "invalid element: %s "
                        "must be an integer from 0 to 2147483647", key);
        return -1;
    }
    *out = (unsigned)json_integer_value(v);
    return 0;
}

static void
ps_req_set_mailbox(void *arg, struct ctl_request *req)
{
    struct pubstate *ps = arg;
    const char *mbox = ps_req_name(req, "mailbox");
    unsigned nw, old;
    int rc;

    if (mbox == NULL || ps_req_count(req, "new", &nw) < 0 ||
        ps_req_count(req, "old", &old) < 0)
        return;
    rc = pubstate_store_set_mailbox(ps->store, mbox, &ps->eid, nw, old);
    if (rc < 0) {
        ctl_reply_error(req, rc == -ENOMEM ? CTL_ERR_INTERNAL
                                           : CTL_ERR_INVALID_ELEMENT,
                        "cannot set '%.64s': %s", mbox, strerror(-rc));
        return;
    }
    if (rc > 0)
        ps_mailbox_changed(ps, mbox, &ps->eid);
    ctl_reply_success(req, json_pack("{s:s,s:i,s:i,s:b}", "mailbox", mbox,
                                     "new", (int)nw, "old", (int)old,
                                     "changed", rc > 0));
}

static void
ps_req_status(void *arg, struct ctl_request *req)
{
    struct pubstate *ps = arg;
    json_t *targets = json_array(), *r;

    for (const struct ps_target *t = ps->targets; t; t = t->next)
        json_array_append_new(targets, ps_target_json(t));
    r = pubstate_status_json(ps);
    json_object_set_new(r, "entity_id_source", json_string(ps->eid_source));
    json_object_set_new(r, "targets", targets);
    ctl_reply_success(req, r);
}

static int
ps_register_requests(struct pubstate *ps)
{
    struct ctl *ctl = ps->deps.ctl;
    int rc = 0;

    rc |= ctl_register(ctl, "state_devices", ps_req_devices, ps);
    rc |= ctl_register(ctl, "state_mailboxes", ps_req_mailboxes, ps);
    rc |= ctl_register(ctl, "state_set_device", ps_req_set_device, ps);
    rc |= ctl_register(ctl, "state_set_mailbox", ps_req_set_mailbox, ps);
    rc |= ctl_register(ctl, "publish_status", ps_req_status, ps);
    return rc ? -EEXIST : 0;
}

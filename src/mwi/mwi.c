/*
 * mwi.c - the MWI capability as a whole: start, reload, the triggers
 * (control requests, mailbox state from PUBLISH, LISTEN payloads) and
 * the mwi_* control requests.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mwi_int.h"
#include "sipbridge/ctl.h"
#include "sipbridge/db.h"
#include "sipbridge/log.h"
#include "sipbridge/metrics.h"
#include "sipbridge/loop.h"

static int mwi_register_requests(struct mwi *m);

/* ---- triggers ---- */

void
mwi_mailbox_state(struct mwi *m, const char *uniqueid, unsigned new_msgs,
                  unsigned old_msgs)
{
    struct mwi_counts c = { new_msgs, old_msgs, 0, 0 };
    const char *at = strchr(uniqueid, '@');
    char user[256], ctx[256];
    const char *domain;

    if (m == NULL || !m->cfg.enabled)
        return;
    snprintf(user, sizeof(user), "%.*s",
             (int)(at ? (size_t)(at - uniqueid) : strlen(uniqueid)), uniqueid);
    snprintf(ctx, sizeof(ctx), "%s", at ? at + 1 : "");
    domain = mwi_cfg_domain(&m->cfg, ctx);
    if (domain == NULL || user[0] == '\0') {
        m->n.unmapped++;
        log_info("mwi", "[%s] mailbox %s: no context_domain for context "
                 "'%s': not notified", m->cfg.name, uniqueid,
                 ctx[0] ? ctx : "default");
        return;
    }
    mwi_trigger(m, user, domain, &c);
}

/* "user@domain new old [urgent_new urgent_old]" */
static void
mwi_on_listen(void *arg, const char *channel, const char *payload)
{
    struct mwi *m = arg;
    char user[256], domain[256];
    struct mwi_counts c = { 0, 0, 0, 0 };
    int n;

    (void)channel;
    m->n.listen_payloads++;
    n = sscanf(payload, "%255[^@ ]@%255s %u %u %u %u", user, domain,
               &c.new_msgs, &c.old_msgs, &c.urgent_new, &c.urgent_old);
    if (n != 4 && n != 6) {
        m->n.listen_bad++;
        log_notice("mwi", "[%s] LISTEN payload '%.100s': not "
                   "'user@domain new old [urgent_new urgent_old]'",
                   m->cfg.name, payload);
        return;
    }
    mwi_trigger(m, user, domain, &c);
}

/* ---- lifecycle ---- */

static int
mwi_start(struct mwi *m)
{
    int rc;

    m->db = m->deps.db_find(m->deps.db_arg, m->cfg.database);
    if (m->db == NULL) {
        log_err("mwi", "[%s] database '%s' not found", m->cfg.name,
                m->cfg.database);
        return -ENOENT;
    }
    if (m->cfg.listen_channel &&
        (rc = db_listen(m->db, m->cfg.listen_channel, mwi_on_listen, m)) < 0)
        return rc;
    return mwi_lookup_start(m);
}

int
mwi_create(struct mwi **out, const struct mwi_deps *deps,
           const struct cfg *cfg)
{
    struct mwi *m = calloc(1, sizeof(*m));
    int rc;

    if (m == NULL)
        return -ENOMEM;
    m->deps = *deps;
    m->base = loop_base(sip_loop(deps->sip));
    rc = mwi_cfg_read(cfg, &m->cfg);
    if (rc == 0)
        rc = mwi_register_requests(m);
    if (rc == 0 && m->cfg.enabled)
        rc = mwi_start(m);
    if (rc < 0) {
        log_err("mwi", "cannot start: %s", strerror(-rc));
        mwi_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

static bool
mwi_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* What the database core and its statements were made with needs a
 * restart; everything else applies to the next NOTIFY. */
int
mwi_reconfigure(struct mwi *m, const struct cfg *cfg)
{
    struct mwi_cfg c;
    int rc = mwi_cfg_read(cfg, &c);

    if (rc < 0)
        return rc;
    if (c.enabled != m->cfg.enabled || !mwi_same(c.database, m->cfg.database)
        || !mwi_same(c.table, m->cfg.table) || c.flavour != m->cfg.flavour ||
        !mwi_same(c.listen_channel, m->cfg.listen_channel)) {
        log_warn("mwi", "reload: type=mwi's database, table, schema_flavour "
                 "or listen_channel changed: applies after a restart");
        mwi_cfg_free(&c);
        return 0;
    }
    mwi_cfg_free(&m->cfg);
    m->cfg = c;
    return 0;
}

void
mwi_shutdown(struct mwi *m)
{
    if (m == NULL)
        return;
    m->stopping = true;
    if (m->timer)
        evtimer_del(m->timer);
    mwi_txs_stop(m);
}

void
mwi_destroy(struct mwi *m)
{
    if (m == NULL)
        return;
    m->stopping = true;
    while (m->txs)
        mwi_tx_free(m->txs);
    mwi_boxes_free(m);
    if (m->timer)
        event_free(m->timer);
    mwi_cfg_free(&m->cfg);
    free(m);
}

json_t *
mwi_status_json(const struct mwi *m)
{
    const struct mwi_counters *n = &m->n;

    if (!m->cfg.enabled)
        return json_pack("{s:b}", "enabled", 0);
    return json_pack(
        "{s:b,s:s,s:s,s:s,s:b,s:s,s:b,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I,"
        "s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}}",
        "enabled", 1, "name", m->cfg.name, "database", m->cfg.database,
        "table", m->cfg.table, "database_connected",
        m->db && db_is_connected(m->db), "flavour",
        mwi_flavour_name(m->flavour), "ready", m->ready,
        "pending", (json_int_t)(m->boxes ? strmap_size(m->boxes) : 0), "lookups_in_flight",
        (json_int_t)m->lookups_out, "notifies_in_flight", (json_int_t)m->ntx,
        "counters", "triggers", (json_int_t)n->triggers, "coalesced",
        (json_int_t)n->coalesced, "dropped", (json_int_t)n->dropped,
        "unmapped", (json_int_t)n->unmapped, "lookups",
        (json_int_t)n->lookups, "lookup_errors", (json_int_t)n->lookup_errors,
        "watchers", (json_int_t)n->watchers, "sent", (json_int_t)n->sent,
        "ok", (json_int_t)n->ok, "gone", (json_int_t)n->gone, "deleted",
        (json_int_t)n->deleted, "timeouts", (json_int_t)n->timeouts,
        "retries", (json_int_t)n->retries, "failed", (json_int_t)n->failed,
        "listen_payloads", (json_int_t)n->listen_payloads, "listen_bad",
        (json_int_t)n->listen_bad);
}

void
mwi_metrics(void *arg, struct metrics_out *o)
{
    const struct mwi *m = arg;
    const struct mwi_counters *n = &m->n;

    metrics_family(o, "sipbridge_mwi_notifies_total", METRICS_COUNTER,
                   "MWI NOTIFYs answered, by outcome (gone: the watcher's "
                   "subscription no longer exists; its row is deleted).");
    metrics_sample(o, (double)n->ok, "outcome", "ok", NULL);
    metrics_sample(o, (double)n->gone, "outcome", "gone", NULL);
    metrics_sample(o, (double)n->timeouts, "outcome", "timeout", NULL);
    metrics_sample(o, (double)n->failed, "outcome", "failed", NULL);
    metrics_family(o, "sipbridge_mwi_notify_retries_total", METRICS_COUNTER,
                   "MWI NOTIFYs sent again after a failure.");
    metrics_sample(o, (double)n->retries, NULL);
    metrics_family(o, "sipbridge_mwi_notifies_in_flight", METRICS_GAUGE,
                   "MWI NOTIFYs sent and not yet answered.");
    metrics_sample(o, (double)m->ntx, NULL);
    metrics_family(o, "sipbridge_mwi_mailboxes_pending", METRICS_GAUGE,
                   "Mailboxes whose state waits for a watcher lookup or a "
                   "database that is down.");
    metrics_sample(o, (double)(m->boxes ? strmap_size(m->boxes) : 0), NULL);
    metrics_family(o, "sipbridge_mwi_lookups_total", METRICS_COUNTER,
                   "active_watchers lookups answered, by outcome.");
    metrics_sample(o, (double)(n->lookups - n->lookup_errors -
                               m->lookups_out), "outcome", "ok", NULL);
    metrics_sample(o, (double)n->lookup_errors, "outcome", "error", NULL);
    metrics_family(o, "sipbridge_mwi_database_up", METRICS_GAUGE,
                   "1 while the MWI database is connected (0 when MWI is "
                   "off).");
    metrics_sample(o, m->cfg.enabled && m->db && db_is_connected(m->db),
                   NULL);
}

/* ---- control requests ---- */

static bool
mwi_req_enabled(struct mwi *m, struct ctl_request *req)
{
    if (m->cfg.enabled)
        return true;
    ctl_reply_error(req, CTL_ERR_WRONG_STATE, "MWI is not configured (no "
                    "type=mwi section)");
    return false;
}

/* A mandatory user part or domain: no '@', blanks or control bytes. */
static const char *
mwi_req_part(struct ctl_request *req, const char *key)
{
    json_t *v = json_object_get(req->msg, key);
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;

    if (v == NULL) {
        ctl_reply_error(req, CTL_ERR_MISSING_ELEMENT, "missing element: %s",
                        key);
        return NULL;
    }
    if (s == NULL || s[0] == '\0' || strlen(s) > 200 ||
        s[strcspn(s, "@ \t\r\n<>\"")] != '\0') {
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT, "invalid element: %s "
                        "must be 1 to 200 bytes without '@', blanks, '<', "
                        "'>' or quotes", key);
        return NULL;
    }
    return s;
}

/* A count 0..2^31-1; @p required or 0 when absent. */
static int
mwi_req_count(struct ctl_request *req, const char *key, bool required,
              unsigned *out)
{
    json_t *v = json_object_get(req->msg, key);

    *out = 0;
    if (v == NULL && !required)
        return 0;
    if (v == NULL) {
        ctl_reply_error(req, CTL_ERR_MISSING_ELEMENT, "missing element: %s",
                        key);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > INT_MAX) {
        ctl_reply_error(req, CTL_ERR_INVALID_ELEMENT, "invalid element: %s "
                        "must be an integer from 0 to %d", key, INT_MAX);
        return -1;
    }
    *out = (unsigned)json_integer_value(v);
    return 0;
}

static void
mwi_req_notify(void *arg, struct ctl_request *req)
{
    struct mwi *m = arg;
    struct mwi_counts c;
    const char *user, *domain;
    int rc;

    if (!mwi_req_enabled(m, req) ||
        !(user = mwi_req_part(req, "user")) ||
        !(domain = mwi_req_part(req, "domain")) ||
        mwi_req_count(req, "new", true, &c.new_msgs) < 0 ||
        mwi_req_count(req, "old", true, &c.old_msgs) < 0 ||
        mwi_req_count(req, "urgent_new", false, &c.urgent_new) < 0 ||
        mwi_req_count(req, "urgent_old", false, &c.urgent_old) < 0)
        return;
    rc = mwi_trigger(m, user, domain, &c);
    if (rc < 0) {
        ctl_reply_error(req, CTL_ERR_WRONG_STATE, "cannot queue: %s",
                        rc == -EAGAIN ? "max_pending mailboxes wait already"
                                      : strerror(-rc));
        return;
    }
    ctl_reply_success(req, json_pack("{s:s,s:s,s:b,s:I}", "user", user,
                                     "domain", domain, "queued", 1,
                                     "pending", (json_int_t)(m->boxes ? strmap_size(m->boxes) : 0)));
}

static void
mwi_req_status(void *arg, struct ctl_request *req)
{
    struct mwi *m = arg;
    json_t *r = mwi_status_json(m);

    if (m->cfg.enabled) {
        json_object_set_new(r, "proxy", json_string(m->cfg.proxy));
        json_object_set_new(r, "database_status", db_status(m->db));
    }
    ctl_reply_success(req, r);
}

static void
mwi_req_show(void *arg, struct ctl_request *req)
{
    struct mwi *m = arg;
    const char *user, *domain;
    struct ctl_deferred *d;
    int rc;

    if (!mwi_req_enabled(m, req) || !(user = mwi_req_part(req, "user")) ||
        !(domain = mwi_req_part(req, "domain")))
        return;
    if (!m->ready) {
        ctl_reply_error(req, CTL_ERR_WRONG_STATE, "the table's flavour is "
                        "not known yet (database %s)", m->cfg.database);
        return;
    }
    if ((d = ctl_defer(req)) == NULL)
        return;
    rc = mwi_query_show(m, user, domain, d);
    if (rc < 0)
        ctl_deferred_error(d, CTL_ERR_WRONG_STATE, "cannot query the "
                           "database now: %s", strerror(-rc));
}

static int
mwi_register_requests(struct mwi *m)
{
    struct ctl *ctl = m->deps.ctl;
    int rc = 0;

    rc |= ctl_register(ctl, "mwi_notify", mwi_req_notify, m);
    rc |= ctl_register(ctl, "mwi_status", mwi_req_status, m);
    rc |= ctl_register(ctl, "mwi_show", mwi_req_show, m);
    return rc ? -EEXIST : 0;
}

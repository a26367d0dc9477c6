/*
 * send.c - NOTIFY transactions: one nua handle per NOTIFY, sent with
 * nua_method() so that the row's Call-ID, tags, CSeq, Route set and
 * Contact go out as given (nua_notify() needs a notifier usage of its own),
 * physically to the configured proxy (NUTAG_PROXY), the Route headers
 * untouched.  A handle is not reused: after a 2xx it would keep the To tag
 * and drop the Route headers of the next request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>

#include "mwi_int.h"
#include "sipbridge/ctl.h"
#include "sipbridge/log.h"
#include "sipbridge/loop.h"

static void mwi_tx_event(struct sip_owner *self, const struct sip_event *ev);

void
mwi_publish_event(struct mwi *m, const struct mwi_tx *tx, int status,
                  const char *phrase, const char *action)
{
    struct ctl *ctl = m->deps.ctl;
    json_t *ev;

    if (!ctl_watched(ctl, "mwi"))
        return;
    ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s}", "event", "notify",
                   "user", tx->user, "domain", tx->domain, "callid",
                   tx->callid, "cseq", tx->n.cseq, "status", status,
                   "reason", phrase ? phrase : "", "action", action);
    ctl_publish(ctl, "mwi", ev);
    json_decref(ev);
}

static int
mwi_tx_send(struct mwi_tx *tx)
{
    struct mwi *m = tx->m;
    const struct mwi_notify *n = &tx->n;

    tx->nh = nua_handle(sip_nua(m->deps.sip), (nua_hmagic_t *)&tx->owner,
                        TAG_END());
    if (tx->nh == NULL)
        return -ENOMEM;
    nua_method(tx->nh, NUTAG_METHOD("NOTIFY"), NUTAG_URL(n->ruri),
               NUTAG_PROXY((url_string_t const *)m->cfg.proxy),
               SIPTAG_FROM_STR(n->from), SIPTAG_TO_STR(n->to),
               SIPTAG_CALL_ID_STR(n->call_id), SIPTAG_CSEQ_STR(n->cseq),
               TAG_IF(n->route[0], SIPTAG_ROUTE_STR(n->route)),
               SIPTAG_CONTACT_STR(n->contact), SIPTAG_EVENT_STR(n->event),
               SIPTAG_SUBSCRIPTION_STATE_STR(n->substate),
               SIPTAG_MAX_FORWARDS_STR("70"),
               TAG_IF(m->cfg.user_agent,
                      SIPTAG_USER_AGENT_STR(m->cfg.user_agent)),
               SIPTAG_CONTENT_TYPE_STR(MWI_CTYPE),
               SIPTAG_PAYLOAD_STR(n->body), TAG_END());
    loop_kick(sip_loop(m->deps.sip));
    m->n.sent++;
    return 0;
}

static void
mwi_tx_link(struct mwi *m, struct mwi_tx *tx)
{
    tx->next = m->txs;
    if (m->txs)
        m->txs->prev = tx;
    m->txs = tx;
    m->ntx++;
}

void
mwi_tx_free(struct mwi_tx *tx)
{
    struct mwi *m = tx->m;

    if (tx->prev)
        tx->prev->next = tx->next;
    else if (m->txs == tx)
        m->txs = tx->next;
    if (tx->next)
        tx->next->prev = tx->prev;
    m->ntx--;
    if (tx->nh) {
        nua_handle_bind(tx->nh, NULL);
        nua_handle_destroy(tx->nh);
    }
    if (tx->timer)
        event_free(tx->timer);
    free(tx->id);
    free(tx->callid);
    free(tx->to_tag);
    free(tx->user);
    free(tx->domain);
    free(tx);
}

static struct mwi_tx *
mwi_tx_new(struct mwi *m, const struct mwi_box *b, const struct mwi_watcher *w)
{
    struct mwi_tx *tx = calloc(1, sizeof(*tx));

    if (tx == NULL)
        return NULL;
    tx->owner.event = mwi_tx_event;
    tx->m = m;
    mwi_tx_link(m, tx);
    tx->id = strdup(w->id);
    tx->callid = strdup(w->callid);
    tx->to_tag = strdup(w->to_tag);
    tx->user = strdup(b->user);
    tx->domain = strdup(b->domain);
    if (!tx->id || !tx->callid || !tx->to_tag || !tx->user || !tx->domain) {
        mwi_tx_free(tx);
        return NULL;
    }
    return tx;
}

void
mwi_send_row(struct mwi *m, const struct mwi_box *b,
             const struct mwi_watcher *w)
{
    char account[600];
    struct mwi_tx *tx;

    if (m->cfg.vmexten)
        snprintf(account, sizeof(account), "sip:%s@%s", m->cfg.vmexten,
                 b->domain);
    if ((tx = mwi_tx_new(m, b, w)) == NULL) {
        log_err("mwi", "[%s] out of memory for a NOTIFY", m->cfg.name);
        return;
    }
    if (mwi_notify_build(w, &b->counts, m->cfg.vmexten ? account : NULL,
                         m->cfg.contact, time(NULL), &tx->n) < 0) {
        m->n.failed++;
        log_err("mwi", "[%s] subscription %s (id %s) has fields missing or "
                "too long: no NOTIFY", m->cfg.name, w->callid, w->id);
        mwi_tx_free(tx);
        return;
    }
    if (mwi_tx_send(tx) < 0) {
        log_err("mwi", "[%s] cannot create a NOTIFY handle", m->cfg.name);
        mwi_tx_free(tx);
    }
}

/* ---- retries ---- */

static void
mwi_tx_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct mwi_tx *tx = arg;

    (void)fd;
    (void)what;
    if (tx->m->stopping || mwi_row_bump(tx->m, tx) < 0) {
        log_warn("mwi", "[%s] cannot retry the NOTIFY to %s", tx->m->cfg.name,
                 tx->callid);
        mwi_tx_free(tx);
    }
}

void
mwi_tx_resend(struct mwi_tx *tx, long long local_cseq, long long expires)
{
    long long left = expires - (long long)time(NULL);

    snprintf(tx->n.cseq, sizeof(tx->n.cseq), "%lld NOTIFY", local_cseq + 1);
    snprintf(tx->n.substate, sizeof(tx->n.substate), "active;expires=%lld",
             left > 0 ? left : 0);
    if (mwi_tx_send(tx) < 0)
        mwi_tx_free(tx);
}

/* @return true if a retry is scheduled. */
static bool
mwi_tx_retry(struct mwi_tx *tx)
{
    struct mwi *m = tx->m;
    unsigned ms = loop_backoff_ms(tx->retries, m->cfg.retry_min_ms,
                                  m->cfg.retry_max_ms);

    if (tx->retries >= m->cfg.max_retries)
        return false;
    if (tx->timer == NULL &&
        (tx->timer = evtimer_new(m->base, mwi_tx_on_timer, tx)) == NULL)
        return false;
    tx->retries++;
    m->n.retries++;
    loop_timer_add_ms(tx->timer, ms);
    return true;
}

/* ---- responses ---- */

/* 481/404 (and 408 when timeout_removes): the subscription is gone.  The
 * proxy only relayed our NOTIFY, so the clean-up is ours, as it would be
 * the proxy's for its own NOTIFY. */
static const char *
mwi_tx_gone(struct mwi_tx *tx)
{
    struct mwi *m = tx->m;

    m->n.gone++;
    if (!m->cfg.delete_gone)
        return "kept";
    mwi_row_delete(m, tx);
    return "deleted";
}

static const char *
mwi_tx_outcome(struct mwi_tx *tx, int status)
{
    struct mwi *m = tx->m;

    if (status < 300) {
        m->n.ok++;
        return "ok";
    }
    if (status == 481 || status == 404)
        return mwi_tx_gone(tx);
    if (status == 408) {
        m->n.timeouts++;
        if (m->cfg.timeout_removes)
            return mwi_tx_gone(tx);
    }
    if ((status == 408 || status >= 500) && status < 600 && mwi_tx_retry(tx))
        return "retry";
    m->n.failed++;
    return "failed";
}

static void
mwi_tx_event(struct sip_owner *self, const struct sip_event *ev)
{
    struct mwi_tx *tx = (struct mwi_tx *)self;
    const char *action;

    if (ev->event != nua_r_method || ev->status < 200)
        return;
    nua_handle_bind(tx->nh, NULL);
    nua_handle_destroy(tx->nh);
    tx->nh = NULL;
    action = mwi_tx_outcome(tx, ev->status);
    if (strcmp(action, "failed") == 0)
        log_warn("mwi", "[%s] NOTIFY %s to %s@%s (%s): %d %s: given up",
                 tx->m->cfg.name, tx->n.cseq, tx->user, tx->domain,
                 tx->callid, ev->status, ev->phrase);
    else if (ev->status >= 300)
        log_notice("mwi", "[%s] NOTIFY %s to %s@%s (%s): %d %s: %s",
                   tx->m->cfg.name, tx->n.cseq, tx->user, tx->domain,
                   tx->callid, ev->status, ev->phrase, action);
    mwi_publish_event(tx->m, tx, ev->status, ev->phrase, action);
    if (strcmp(action, "retry") != 0)
        mwi_tx_free(tx);
}

/* Before nua shuts down: no more events, no more retries.  The structs
 * stay until mwi_destroy(): a database callback may still name one. */
void
mwi_txs_stop(struct mwi *m)
{
    for (struct mwi_tx *tx = m->txs; tx; tx = tx->next) {
        if (tx->nh) {
            nua_handle_bind(tx->nh, NULL);
            nua_handle_destroy(tx->nh);
            tx->nh = NULL;
        }
        if (tx->timer)
            evtimer_del(tx->timer);
    }
}

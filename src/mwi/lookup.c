/*
 * lookup.c - the mailboxes waiting to be notified, and the database side:
 * which flavour the table is, one statement per mailbox that finds its
 * live watchers and advances their CSeq, deletes of dead subscriptions.
 *
 * A mailbox is queued once (a hash by user@domain and a FIFO); its
 * NOTIFYs carry the counts of the moment the lookup's result arrives, so
 * changes made while it waited or ran cost nothing more.  Lookups wait in the database core's queue while the
 * database is away (up to MWI_LOOKUPS_OUT), the rest here, bounded by
 * max_pending mailboxes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mwi_int.h"
#include "sipbridge/ctl.h"
#include "sipbridge/db.h"
#include "sipbridge/log.h"
#include "sipbridge/loop.h"

/* Lookups handed to the database core at once; the rest wait here, where
 * newer counts replace older ones. */
#define MWI_LOOKUPS_OUT 64
#define MWI_RETRY_MS 1000
#define MWI_DETECT_RETRY_MS 5000

static const char *const mwi_sub_cols[] = {
    [MWI_KAMAILIO] = "COALESCE(NULLIF(from_user, ''), watcher_username), "
                     "COALESCE(NULLIF(from_domain, ''), watcher_domain)",
    [MWI_OPENSIPS] = "watcher_username, watcher_domain",
};

/* Columns of a watcher, in the order mwi_watcher_from_row() reads them. */
#define MWI_COLS(sub) \
    "id, callid, to_tag, from_tag, to_user, to_domain, " sub ", contact, " \
    "COALESCE(record_route, ''), local_contact, COALESCE(event_id, ''), " \
    "expires, local_cseq, socket_info"


/* ---- statements ---- */

/* The lookup is the UPDATE: one statement per mailbox finds the live
 * watchers and keeps the proxies' CSeq invariant for each. */
static int
mwi_prepare_all(struct mwi *m)
{
    char sql[1024], cols[512];
    int rc;

    snprintf(cols, sizeof(cols), MWI_COLS("%s"), mwi_sub_cols[m->flavour]);
    snprintf(sql, sizeof(sql), "UPDATE %s SET local_cseq = local_cseq + 1 "
             "WHERE presentity_uri = $1 AND event = 'message-summary' AND "
             "status = 1 AND expires > $2 RETURNING %s", m->cfg.table_sql,
             cols);
    rc = db_prepare(m->db, "mwi_lookup", sql, 2);
    snprintf(sql, sizeof(sql), "UPDATE %s SET local_cseq = local_cseq + 1 "
             "WHERE id = $1 AND callid = $2 AND to_tag = $3 "
             "RETURNING local_cseq, expires", m->cfg.table_sql);
    rc = rc ? rc : db_prepare(m->db, "mwi_bump", sql, 3);
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = $1 AND callid = "
             "$2 AND to_tag = $3", m->cfg.table_sql);
    rc = rc ? rc : db_prepare(m->db, "mwi_delete", sql, 3);
    snprintf(sql, sizeof(sql), "SELECT %s, status FROM %s WHERE "
             "presentity_uri = $1 AND event = 'message-summary' ORDER BY id",
             cols, m->cfg.table_sql);
    rc = rc ? rc : db_prepare(m->db, "mwi_show", sql, 1);
    return rc == -EEXIST ? 0 : rc;
}

static void
mwi_ready(struct mwi *m, enum mwi_flavour f)
{
    m->flavour = f;
    if (mwi_prepare_all(m) < 0) {
        log_err("mwi", "[%s] cannot prepare statements", m->cfg.name);
        return;
    }
    m->ready = true;
    log_notice("mwi", "[%s] table %s, %s flavour", m->cfg.name, m->cfg.table,
               mwi_flavour_name(f));
    mwi_lookup_pump(m);
}

/* ---- flavour detection ---- */

static void mwi_detect(struct mwi *m);

static void
mwi_detected(void *arg, const PGresult *res, const char *error)
{
    struct mwi *m = arg;
    bool kam = false, ops = false;

    if (m->stopping)
        return;
    for (int i = 0; !error && i < PQntuples(res); i++) {
        const char *c = PQgetvalue(res, i, 0);
        kam |= strcmp(c, "from_user") == 0;
        ops |= strcmp(c, "watcher_username") == 0;
    }
    if (kam || ops) {
        mwi_ready(m, kam ? MWI_KAMAILIO : MWI_OPENSIPS);
        return;
    }
    log_err("mwi", "[%s] cannot tell the flavour of table %s: %s; trying "
            "again in %u s", m->cfg.name, m->cfg.table,
            error ? error : "no such table, or neither Kamailio's nor "
                            "OpenSIPS's columns", MWI_DETECT_RETRY_MS / 1000);
    loop_timer_add_ms(m->timer, MWI_DETECT_RETRY_MS);
}

/* The table the name resolves to (search_path and all), not every
 * schema's table of that name. */
static void
mwi_detect(struct mwi *m)
{
    const char *params[1] = { m->cfg.table_sql };

    if (db_query(m->db, NULL, "SELECT attname FROM pg_attribute WHERE "
                 "attrelid = to_regclass($1) AND attnum > 0 AND NOT "
                 "attisdropped", 1, params, mwi_detected, m) < 0)
        loop_timer_add_ms(m->timer, MWI_DETECT_RETRY_MS);
}

static void
mwi_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct mwi *m = arg;

    (void)fd;
    (void)what;
    if (m->stopping)
        return;
    if (!m->ready)
        mwi_detect(m);
    else
        mwi_lookup_pump(m);
}


int
mwi_lookup_start(struct mwi *m)
{
    m->timer = evtimer_new(m->base, mwi_on_timer, m);
    if (m->timer == NULL || strmap_create(&m->boxes) < 0)
        return -ENOMEM;
    if (m->cfg.flavour == MWI_AUTO)
        mwi_detect(m);
    else
        mwi_ready(m, m->cfg.flavour);
    return 0;
}

/* ---- mailboxes ---- */

static void
mwi_box_release(void *arg)
{
    struct mwi_box *b = arg;

    free(b->user);
    free(b->domain);
    free(b);
}

static struct mwi_box *
mwi_box_new(struct mwi *m, const char *user, const char *domain)
{
    size_t ul = strlen(user), dl = strlen(domain);
    struct mwi_box *b = calloc(1, sizeof(*b) + ul + dl + 2);

    if (b == NULL)
        return NULL;
    memcpy(b->key, user, ul);
    b->key[ul] = '@';
    memcpy(b->key + ul + 1, domain, dl + 1);
    b->user = strndup(user, ul);
    b->domain = strdup(domain);
    if (!b->user || !b->domain || strmap_put(m->boxes, b->key, b) < 0) {
        mwi_box_release(b);
        return NULL;
    }
    return b;
}

static void
mwi_box_free(struct mwi *m, struct mwi_box *b)
{
    strmap_del(m->boxes, b->key);
    mwi_box_release(b);
}

static void
mwi_box_enqueue(struct mwi *m, struct mwi_box *b, bool front)
{
    b->queued = true;
    if (front) {
        b->next = m->head;
        m->head = b;
        if (m->tail == NULL)
            m->tail = b;
        return;
    }
    b->next = NULL;
    if (m->tail)
        m->tail->next = b;
    else
        m->head = b;
    m->tail = b;
}

static struct mwi_box *
mwi_box_dequeue(struct mwi *m)
{
    struct mwi_box *b = m->head;

    if (b) {
        m->head = b->next;
        if (m->head == NULL)
            m->tail = NULL;
        b->next = NULL;
        b->queued = false;
    }
    return b;
}

int
mwi_trigger(struct mwi *m, const char *user, const char *domain,
            const struct mwi_counts *c)
{
    char key[600];
    struct mwi_box *b;

    snprintf(key, sizeof(key), "%s@%s", user, domain);
    m->n.triggers++;
    b = strmap_get(m->boxes, key);
    if (b == NULL) {
        if (strmap_size(m->boxes) >= m->cfg.max_pending) {
            m->n.dropped++;
            log_warn("mwi", "[%s] %u mailboxes already wait: %s dropped",
                     m->cfg.name, m->cfg.max_pending, key);
            return -EAGAIN;
        }
        if ((b = mwi_box_new(m, user, domain)) == NULL)
            return -ENOMEM;
    } else {
        m->n.coalesced++;
    }
    b->counts = *c;
    if (!b->in_flight && !b->queued)
        mwi_box_enqueue(m, b, false);
    mwi_lookup_pump(m);
    return 0;
}

/* ---- lookups ---- */

void
mwi_watcher_from_row(const struct mwi *m, const PGresult *res, int row,
                     struct mwi_watcher *w)
{
    (void)m;
    w->id = PQgetvalue(res, row, 0);
    w->callid = PQgetvalue(res, row, 1);
    w->to_tag = PQgetvalue(res, row, 2);
    w->from_tag = PQgetvalue(res, row, 3);
    w->to_user = PQgetvalue(res, row, 4);
    w->to_domain = PQgetvalue(res, row, 5);
    w->sub_user = PQgetvalue(res, row, 6);
    w->sub_domain = PQgetvalue(res, row, 7);
    w->contact = PQgetvalue(res, row, 8);
    w->record_route = PQgetvalue(res, row, 9);
    w->local_contact = PQgetvalue(res, row, 10);
    w->event_id = PQgetvalue(res, row, 11);
    w->expires = strtoll(PQgetvalue(res, row, 12), NULL, 10);
    w->local_cseq = strtoll(PQgetvalue(res, row, 13), NULL, 10);
    w->socket_info = PQgetvalue(res, row, 14);
}

/* What a database callback needs: the capability and its subject. */
struct mwi_job {
    struct mwi *m;
    struct mwi_box *box;
    struct mwi_tx *tx;
    struct ctl_deferred *d;
    char presentity[600];
};

static struct mwi_job *
mwi_job_new(struct mwi *m)
{
    struct mwi_job *j = calloc(1, sizeof(*j));

    if (j)
        j->m = m;
    return j;
}

/* The box's lookup is over: its NOTIFYs carried the newest counts, so
 * changes made while it waited (the database down, say) are sent. */
static void
mwi_box_done(struct mwi *m, struct mwi_box *b)
{
    b->in_flight = false;
    if (!b->queued)
        mwi_box_free(m, b);
}

static void
mwi_looked_up(void *arg, const PGresult *res, const char *error)
{
    struct mwi_job *j = arg;
    struct mwi *m = j->m;
    struct mwi_box *b = j->box;
    struct mwi_watcher w;
    int n;

    free(j);
    m->lookups_out--;
    if (error) {
        m->n.lookup_errors++;
        log_err("mwi", "[%s] lookup of %s failed: %s", m->cfg.name, b->key,
                error);
    } else {
        n = PQntuples(res);
        m->n.watchers += (uint64_t)n;
        log_debug("mwi", "[%s] %s: %d live watcher(s)", m->cfg.name, b->key,
                  n);
        for (int i = 0; i < n && !m->stopping; i++) {
            mwi_watcher_from_row(m, res, i, &w);
            mwi_send_row(m, b, &w);
        }
    }
    mwi_box_done(m, b);
    mwi_lookup_pump(m);
}

static int
mwi_lookup(struct mwi *m, struct mwi_box *b)
{
    struct mwi_job *j = mwi_job_new(m);
    char now[32];
    const char *params[2] = { NULL, now };
    int rc;

    if (j == NULL)
        return -ENOMEM;
    j->box = b;
    snprintf(j->presentity, sizeof(j->presentity), "sip:%s", b->key);
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    params[0] = j->presentity;
    rc = db_query(m->db, "mwi_lookup", NULL, 2, params, mwi_looked_up, j);
    if (rc < 0) {
        free(j);
        return rc;
    }
    b->in_flight = true;
    m->lookups_out++;
    m->n.lookups++;
    return 0;
}

void
mwi_lookup_pump(struct mwi *m)
{
    struct mwi_box *b;

    if (!m->ready || m->stopping)
        return;
    while (m->lookups_out < MWI_LOOKUPS_OUT && (b = mwi_box_dequeue(m))) {
        if (mwi_lookup(m, b) < 0) {
            /* The database core's queue is full: try again soon. */
            mwi_box_enqueue(m, b, true);
            loop_timer_add_ms(m->timer, MWI_RETRY_MS);
            return;
        }
    }
}

void
mwi_boxes_free(struct mwi *m)
{
    strmap_destroy(m->boxes, mwi_box_release);
    m->boxes = NULL;
    m->head = m->tail = NULL;
}

/* ---- single rows ---- */

static void
mwi_deleted(void *arg, const PGresult *res, const char *error)
{
    struct mwi_job *j = arg;

    if (error)
        log_err("mwi", "[%s] deleting a dead subscription failed: %s",
                j->m->cfg.name, error);
    else if (PQcmdTuples((PGresult *)res)[0] != '0')
        j->m->n.deleted++;
    free(j);
}

void
mwi_row_delete(struct mwi *m, const struct mwi_tx *tx)
{
    struct mwi_job *j = mwi_job_new(m);
    const char *params[3] = { tx->id, tx->callid, tx->to_tag };

    if (j == NULL || db_query(m->db, "mwi_delete", NULL, 3, params,
                              mwi_deleted, j) < 0) {
        log_err("mwi", "[%s] cannot queue the delete of subscription %s",
                m->cfg.name, tx->callid);
        free(j);
    }
}

static void
mwi_bumped(void *arg, const PGresult *res, const char *error)
{
    struct mwi_job *j = arg;
    struct mwi_tx *tx = j->tx;

    free(j);
    tx->bumping = false;
    if (tx->m->stopping)
        return;             /* freed by mwi_destroy() */
    if (error || PQntuples(res) != 1) {
        log_warn("mwi", "[%s] subscription %s gone before its retry%s%s",
                 tx->m->cfg.name, tx->callid, error ? ": " : "",
                 error ? error : "");
        mwi_tx_free(tx);
        return;
    }
    mwi_tx_resend(tx, strtoll(PQgetvalue(res, 0, 0), NULL, 10),
                  strtoll(PQgetvalue(res, 0, 1), NULL, 10));
}

/* A retry is a new transaction: it needs the next CSeq. */
int
mwi_row_bump(struct mwi *m, struct mwi_tx *tx)
{
    struct mwi_job *j = mwi_job_new(m);
    const char *params[3] = { tx->id, tx->callid, tx->to_tag };
    int rc;

    if (j == NULL)
        return -ENOMEM;
    j->tx = tx;
    rc = db_query(m->db, "mwi_bump", NULL, 3, params, mwi_bumped, j);
    if (rc < 0) {
        free(j);
        return rc;
    }
    tx->bumping = true;
    return 0;
}

/* ---- mwi_show ---- */

static json_t *
mwi_show_row(const PGresult *res, int i, time_t now)
{
    long long exp = strtoll(PQgetvalue(res, i, 12), NULL, 10);
    long long cseq = strtoll(PQgetvalue(res, i, 13), NULL, 10);
    int status = atoi(PQgetvalue(res, i, 15));

    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,"
                     "s:I,s:I,s:i,s:b}",
                     "id", PQgetvalue(res, i, 0),
                     "callid", PQgetvalue(res, i, 1),
                     "to_tag", PQgetvalue(res, i, 2),
                     "from_tag", PQgetvalue(res, i, 3),
                     "subscriber", PQgetvalue(res, i, 6),
                     "subscriber_domain", PQgetvalue(res, i, 7),
                     "contact", PQgetvalue(res, i, 8),
                     "record_route", PQgetvalue(res, i, 9),
                     "local_contact", PQgetvalue(res, i, 10),
                     "event_id", PQgetvalue(res, i, 11),
                     "expires", (json_int_t)exp,
                     "expires_in", (json_int_t)(exp - (long long)now),
                     "cseq", (json_int_t)(cseq + 1),
                     "next_cseq", (json_int_t)(cseq + 2),
                     "status", status,
                     "live", status == 1 && exp > (long long)now);
}

static void
mwi_shown(void *arg, const PGresult *res, const char *error)
{
    struct mwi_job *j = arg;
    time_t now = time(NULL);
    json_t *a;

    if (error) {
        ctl_deferred_error(j->d, CTL_ERR_INTERNAL, "database: %s", error);
        free(j);
        return;
    }
    a = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(a, mwi_show_row(res, i, now));
    ctl_deferred_success(j->d, json_pack("{s:s,s:o}", "presentity",
                                         j->presentity, "watchers", a));
    free(j);
}

int
mwi_query_show(struct mwi *m, const char *user, const char *domain,
               struct ctl_deferred *d)
{
    struct mwi_job *j = mwi_job_new(m);
    const char *params[1];
    int rc;

    if (j == NULL)
        return -ENOMEM;
    j->d = d;
    snprintf(j->presentity, sizeof(j->presentity), "sip:%s@%s", user, domain);
    params[0] = j->presentity;
    rc = db_query(m->db, "mwi_show", NULL, 1, params, mwi_shown, j);
    if (rc < 0)
        free(j);
    return rc;
}

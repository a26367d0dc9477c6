/*
 * db.c - a non-blocking libpq connection on the event loop.
 *
 * State machine:
 *
 *   BACKOFF --timer--> CONNECTING --PQconnectPoll OK--> CONNECTED
 *      ^                    |  fail / connect_timeout         |
 *      +--------------------+---------------------------------+ lost
 *
 * One item is in flight at a time: a PREPARE of a registered statement or
 * the query at the head of the queue.  The head query leaves the queue only
 * when its result (or the server's error) arrived; if the connection breaks
 * first it stays at the head and is sent again on the next connection.
 * Callbacks run from the socket handler, which returns right after each
 * one: the next item is sent from ev_kick, so a callback may freely queue,
 * reconfigure or destroy.
 */
#include "sipbridge/db.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sipbridge/log.h"
#include "sipbridge/metrics.h"

#define DB_MAX_PARAMS 65535 /* the protocol's limit */

enum db_state { DB_BACKOFF, DB_CONNECTING, DB_CONNECTED };
enum db_busy { DB_IDLE, DB_PREPARING, DB_QUERYING, DB_LISTENING };

struct db_stmt {
    struct db_stmt *next;
    char *name;
    char *sql;
    int nparams;
    bool prepared;      /* on the current connection */
    bool tried;         /* a PREPARE was sent on the current connection */
};

/* A channel LISTENed on every connection (db_listen). */
struct db_listen {
    struct db_listen *next;
    char *channel;
    db_notify_cb cb;
    void *arg;
    bool issued;        /* LISTEN sent on the current connection */
};

struct db_job {
    struct db_job *next;
    struct db_stmt *stmt;   /* prepared statement, or NULL: sql */
    char *sql;
    int nparams;
    char **params;          /* nparams copies; an element may be NULL */
    db_result_cb cb;
    void *arg;
};

struct db {
    struct event_base *base;
    char *name;
    char *conninfo;
    unsigned max_queue;
    unsigned retry_min_ms;
    unsigned retry_max_ms;
    unsigned connect_timeout_ms;

    enum db_state state;
    PGconn *conn;
    struct event *ev_sock;      /* on PQsocket(conn), see db_watch() */
    evutil_socket_t ev_fd;
    short ev_what;
    struct event *ev_timer;     /* backoff delay, or connect timeout */
    struct event *ev_kick;      /* send the next item from the loop */
    unsigned backoff_ms;        /* current delay, 0 after a success */
    bool failing;               /* connect failed since the last success */

    struct db_stmt *stmts;
    struct db_listen *listens;
    struct db_listen *busy_listen; /* DB_LISTENING: which one */
    struct db_job *head;
    struct db_job *tail;
    size_t njobs;

    enum db_busy busy;
    struct db_stmt *busy_stmt;  /* DB_PREPARING: which one */
    bool prep_for_head;         /* ... needed by the head query now */
    bool flushing;              /* PQflush left output to send */
    PGresult *res;              /* collected for the item in flight */
    size_t err_mark;            /* PQerrorMessage() up to here is stale */

    int cb_depth;               /* callbacks (or destroy) on the stack */
    bool dying;                 /* db_destroy() called */

    unsigned long long sent, completed, failed, retried;
    unsigned long long attempts, connects, disconnects;
    char last_error[256];
};

static void db_on_sock(evutil_socket_t fd, short what, void *arg);
static void db_on_timer(evutil_socket_t fd, short what, void *arg);
static void db_on_kick(evutil_socket_t fd, short what, void *arg);
static bool db_prepared(struct db *db, PGresult *res);
static void db_listened(struct db *db, PGresult *res);

/* ---- pure helpers ---- */

unsigned
db_backoff_next(unsigned cur_ms, unsigned min_ms, unsigned max_ms)
{
    /* A zero minimum would retry in a tight loop forever. */
    if (min_ms == 0)
        min_ms = 1;
    if (max_ms < min_ms)
        max_ms = min_ms;
    if (cur_ms == 0 || cur_ms < min_ms)
        return min_ms;
    if (cur_ms > max_ms / 2) /* doubling would pass the cap (or wrap) */
        return max_ms;
    return cur_ms * 2;
}

/* An address getaddrinfo() can take without a lookup, or a socket dir. */
static bool
db_host_is_literal(const char *h, size_t len)
{
    struct addrinfo hints, *ai = NULL;
    char buf[256];

    if (len == 0 || h[0] == '/' || h[0] == '@')
        return true;
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, h, len);
    buf[len] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(buf, NULL, &hints, &ai) != 0)
        return false;
    freeaddrinfo(ai);
    return true;
}

static const char *
db_opt(const PQconninfoOption *opts, const char *key, const char *env)
{
    for (const PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, key) == 0 && o->val && o->val[0])
            return o->val;
    /* libpq falls back to the environment for keys the string lacks. */
    const char *v = getenv(env);
    return v && v[0] ? v : NULL;
}

/* Copy @p msg into @p dst as one line: libpq's messages span lines. */
static void
db_oneline(char *dst, size_t size, const char *msg)
{
    size_t n = 0;
    bool space = false;

    if (size == 0)
        return;
    for (const char *p = msg ? msg : ""; *p && n + 1 < size; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < size)
            dst[n++] = ' ';
        space = false;
        dst[n++] = *p;
    }
    dst[n] = '\0';
}

int
db_conninfo_check(const char *conninfo, char *err, size_t errlen)
{
    char *perr = NULL;
    char msg[200];
    PQconninfoOption *opts;
    const char *host, *p;
    int rc = 0;

    opts = PQconninfoParse(conninfo ? conninfo : "", &perr);
    if (!opts) {
        db_oneline(msg, sizeof(msg), perr ? perr : "out of memory");
        snprintf(err, errlen, "conninfo: %s", msg);
        PQfreemem(perr);
        return -EINVAL;
    }
    if (db_opt(opts, "service", "PGSERVICE")) {
        snprintf(err, errlen, "conninfo: service is not supported (a service "
                 "file may name a host, and looking it up would block the "
                 "event loop); give hostaddr or host as an IP literal");
        rc = -EINVAL;
    } else if (!db_opt(opts, "hostaddr", "PGHOSTADDR")
               && (host = db_opt(opts, "host", "PGHOST")) != NULL) {
        /* host may be a comma-separated list: check every entry. */
        for (p = host; rc == 0; p++) {
            size_t len = strcspn(p, ",");
            if (!db_host_is_literal(p, len)) {
                snprintf(err, errlen, "conninfo: host '%.*s' is a name: "
                         "libpq would look it up synchronously and block the "
                         "event loop; use an IP literal, or add hostaddr=",
                         (int)(len > 64 ? 64 : len), p);
                rc = -EINVAL;
            }
            p += len;
            if (*p == '\0')
                break;
        }
    }
    PQconninfoFree(opts);
    return rc;
}

/* ---- small internals ---- */

/* last_error = "PREFIX: MSG" on one line, cut to fit. */
static void
db_set_error(struct db *db, const char *prefix, const char *msg)
{
    char *dst = db->last_error;
    size_t size = sizeof(db->last_error), n = 0;

    if (prefix) {
        n = strnlen(prefix, size - 3);
        memcpy(dst, prefix, n);
        memcpy(dst + n, ": ", 2);
        n += 2;
    }
    db_oneline(dst + n, size - n, msg);
    if (prefix && dst[n] == '\0')
        dst[n - 2] = '\0'; /* no message, no separator */
}

static void
db_notice(void *arg, const char *message)
{
    struct db *db = arg;
    char line[512];

    /* Server NOTICEs are chatter for the operator at most. */
    db_oneline(line, sizeof(line), message);
    log_debug("db", "%s: server: %s", db->name, line);
}

static void
db_job_free(struct db_job *job)
{
    if (!job)
        return;
    for (int i = 0; i < job->nparams; i++)
        free(job->params[i]);
    free(job->params);
    free(job->sql);
    free(job);
}

static struct db_job *
db_pop(struct db *db)
{
    struct db_job *job = db->head;

    if (job) {
        db->head = job->next;
        if (!db->head)
            db->tail = NULL;
        db->njobs--;
        job->next = NULL;
    }
    return job;
}

static void
db_free(struct db *db)
{
    struct db_stmt *st;

    struct db_listen *l;

    while ((st = db->stmts) != NULL) {
        db->stmts = st->next;
        free(st->name);
        free(st->sql);
        free(st);
    }
    while ((l = db->listens) != NULL) {
        db->listens = l->next;
        free(l->channel);
        free(l);
    }
    if (db->ev_sock)
        event_free(db->ev_sock);
    if (db->ev_timer)
        event_free(db->ev_timer);
    if (db->ev_kick)
        event_free(db->ev_kick);
    if (db->res)
        PQclear(db->res);
    if (db->conn)
        PQfinish(db->conn);
    free(db->name);
    free(db->conninfo);
    free(db);
}

/*
 * Give @p job its callback and free it.  @return false if the callback
 * destroyed the db (it is freed now; the caller must not touch it).
 */
static bool
db_deliver(struct db *db, struct db_job *job, const PGresult *res,
           const char *error)
{
    if (error)
        db->failed++;
    else
        db->completed++;
    if (job->cb) {
        db->cb_depth++;
        job->cb(job->arg, res, error);
        db->cb_depth--;
    }
    db_job_free(job);
    if (db->dying && db->cb_depth == 0) {
        db_free(db);
        return false;
    }
    return true;
}

/*
 * Watch the connection's socket for @p what.  The event is re-created when
 * the socket or the interest changes, and always while connecting: libpq
 * may close and reopen its socket between two PQconnectPoll() calls (next
 * host, TLS fallback), possibly under the same number.
 */
static int
db_watch(struct db *db, short what, bool force)
{
    evutil_socket_t fd = PQsocket(db->conn);

    if (fd < 0)
        return -EBADF;
    if (db->ev_sock && !force && fd == db->ev_fd && what == db->ev_what)
        return 0;
    if (db->ev_sock)
        event_free(db->ev_sock);
    db->ev_sock = event_new(db->base, fd, what, db_on_sock, db);
    if (!db->ev_sock || event_add(db->ev_sock, NULL) < 0)
        return -ENOMEM;
    db->ev_fd = fd;
    db->ev_what = what;
    return 0;
}

/* Forget the connection; the head query, if in flight, stays queued. */
static void
db_close(struct db *db)
{
    /* Delete the event while the fd is still open, then close. */
    if (db->ev_sock) {
        event_free(db->ev_sock);
        db->ev_sock = NULL;
    }
    if (db->conn) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
    if (db->res) {
        PQclear(db->res);
        db->res = NULL;
    }
    if (db->busy == DB_QUERYING)
        db->retried++;
    db->busy = DB_IDLE;
    db->busy_stmt = NULL;
    db->flushing = false;
    for (struct db_stmt *st = db->stmts; st; st = st->next)
        st->prepared = st->tried = false;
    for (struct db_listen *l = db->listens; l; l = l->next)
        l->issued = false;
    db->busy_listen = NULL;
    evtimer_del(db->ev_timer);
}

static void
db_schedule(struct db *db, unsigned delay_ms)
{
    struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };

    db->state = DB_BACKOFF;
    evtimer_add(db->ev_timer, &tv);
}

/* A connect attempt failed, or an established connection broke. */
static void
db_fail(struct db *db, const char *what, const char *msg)
{
    bool was_up = db->state == DB_CONNECTED;

    db_set_error(db, what, msg);
    db_close(db);
    if (was_up)
        db->disconnects++;
    db->backoff_ms = db_backoff_next(db->backoff_ms, db->retry_min_ms,
                                     db->retry_max_ms);
    /* Say it loudly once per outage, then quietly on every retry. */
    if (!db->failing)
        log_warn("db", "%s: %s; %zu queued, retrying in %u ms", db->name,
                 db->last_error, db->njobs, db->backoff_ms);
    else
        log_info("db", "%s: %s; %zu queued, retrying in %u ms", db->name,
                 db->last_error, db->njobs, db->backoff_ms);
    db->failing = true;
    db_schedule(db, db->backoff_ms);
}

/*
 * The connection's error, without what earlier statements left there:
 * libpq clears its message only when the next statement is sent, so a
 * connection lost while idle would otherwise report the last query's error.
 */
static const char *
db_conn_error(const struct db *db)
{
    const char *msg = PQerrorMessage(db->conn);
    size_t len = strlen(msg);

    return len >= db->err_mark ? msg + db->err_mark : msg;
}

/* Everything libpq has said so far is about the past. */
static void
db_mark_error(struct db *db)
{
    db->err_mark = strlen(PQerrorMessage(db->conn));
}

static void
db_kick(struct db *db)
{
    if (db->state == DB_CONNECTED && db->busy == DB_IDLE && !db->dying)
        event_active(db->ev_kick, EV_TIMEOUT, 0);
}

/* ---- connecting ---- */

static void
db_connected(struct db *db)
{
    evtimer_del(db->ev_timer);
    if (PQsetnonblocking(db->conn, 1) != 0) {
        db_fail(db, "set non-blocking", PQerrorMessage(db->conn));
        return;
    }
    db->state = DB_CONNECTED;
    db->connects++;
    db_mark_error(db);
    db->backoff_ms = 0;
    db->last_error[0] = '\0';
    if (db->failing || db->connects > 1)
        log_notice("db", "%s: connected (server %d), %zu queued", db->name,
                   PQserverVersion(db->conn), db->njobs);
    else
        log_info("db", "%s: connected (server %d)", db->name,
                 PQserverVersion(db->conn));
    db->failing = false;
    if (db_watch(db, EV_READ | EV_PERSIST, true) < 0) {
        db_fail(db, "watch socket", "cannot add event");
        return;
    }
    db_kick(db);
}

static void
db_connect_step(struct db *db, PostgresPollingStatusType st)
{
    switch (st) {
    case PGRES_POLLING_OK:
        db_connected(db);
        return;
    case PGRES_POLLING_FAILED:
        db_fail(db, "connect", PQerrorMessage(db->conn));
        return;
    case PGRES_POLLING_READING:
        if (db_watch(db, EV_READ, true) < 0)
            db_fail(db, "connect", "no socket to wait on");
        return;
    default: /* WRITING, and the obsolete ACTIVE: wait until writable */
        if (db_watch(db, EV_WRITE, true) < 0)
            db_fail(db, "connect", "no socket to wait on");
        return;
    }
}

static void
db_connect_start(struct db *db)
{
    struct timeval tv = { db->connect_timeout_ms / 1000,
                          (db->connect_timeout_ms % 1000) * 1000 };

    db->attempts++;
    db->state = DB_CONNECTING;
    log_debug("db", "%s: connecting (attempt %llu)", db->name, db->attempts);
    /* Does not block: the conninfo was checked to need no name lookup. */
    db->conn = PQconnectStart(db->conninfo);
    if (!db->conn) {
        db_fail(db, "connect", "out of memory");
        return;
    }
    PQsetNoticeProcessor(db->conn, db_notice, db);
    if (PQstatus(db->conn) == CONNECTION_BAD) {
        db_fail(db, "connect", PQerrorMessage(db->conn));
        return;
    }
    /* libpq enforces its own connect_timeout only in blocking connects. */
    if (db->connect_timeout_ms)
        evtimer_add(db->ev_timer, &tv);
    /* Right after PQconnectStart libpq waits as if POLLING_WRITING. */
    db_connect_step(db, PGRES_POLLING_WRITING);
}

static void
db_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct db *db = arg;
    char msg[64];

    (void)fd;
    (void)what;
    if (db->state == DB_CONNECTING) {
        snprintf(msg, sizeof(msg), "timed out after %u ms",
                 db->connect_timeout_ms);
        db_fail(db, "connect", msg);
    } else if (db->state == DB_BACKOFF) {
        db_connect_start(db);
    }
}

/* ---- running queries ---- */

/*
 * Did @p res (or the lack of one) come from the connection going away
 * rather than from the statement?  Then the query is sent again.
 */
static bool
db_conn_broken(const struct db *db, const PGresult *res)
{
    const char *state;

    if (PQstatus(db->conn) == CONNECTION_BAD)
        return true;
    if (!res)
        return false;
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!state)
        return false;
    /* 08: connection exception; 57P01..03: admin/crash shutdown, cannot
       connect now (the server is going down or not up yet). */
    return strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0
           || strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0;
}

static void
db_flush(struct db *db)
{
    int r = PQflush(db->conn);

    if (r < 0) {
        db_fail(db, "send", PQerrorMessage(db->conn));
        return;
    }
    db->flushing = r > 0;
    /* Wait for writability only while libpq has output left. */
    if (db_watch(db, EV_READ | EV_PERSIST | (db->flushing ? EV_WRITE : 0),
                 false) < 0)
        db_fail(db, "watch socket", "cannot add event");
}

/* libpq would not send the item in flight; the connection is fine. */
static void
db_refused(struct db *db, const char *why)
{
    char msg[300];

    if (db->busy == DB_PREPARING) {
        db_prepared(db, NULL);
        return;
    }
    if (db->busy == DB_LISTENING) {
        db_listened(db, NULL);
        return;
    }
    db_oneline(msg, sizeof(msg), why);
    db->busy = DB_IDLE;
    if (db_deliver(db, db_pop(db), NULL, msg[0] ? msg : "cannot send"))
        db_kick(db);
}

static struct db_listen *
db_next_listen(const struct db *db)
{
    for (struct db_listen *l = db->listens; l; l = l->next)
        if (!l->issued)
            return l;
    return NULL;
}

static int
db_send_listen(struct db *db, struct db_listen *l)
{
    char *id = PQescapeIdentifier(db->conn, l->channel, strlen(l->channel));
    char sql[256];
    int ok;

    l->issued = true;
    db->busy = DB_LISTENING;
    db->busy_listen = l;
    if (id == NULL)
        return 0;
    snprintf(sql, sizeof(sql), "LISTEN %s", id);
    PQfreemem(id);
    ok = PQsendQuery(db->conn, sql);
    return ok;
}

/* The LISTEN in flight finished. */
static void
db_listened(struct db *db, PGresult *res)
{
    struct db_listen *l = db->busy_listen;
    char msg[300];

    db->busy = DB_IDLE;
    db->busy_listen = NULL;
    if (res && PQresultStatus(res) == PGRES_COMMAND_OK)
        log_info("db", "%s: listening on channel '%s'", db->name,
                 l ? l->channel : "?");
    else {
        db_oneline(msg, sizeof(msg), res ? PQresultErrorMessage(res)
                                         : PQerrorMessage(db->conn));
        log_err("db", "%s: LISTEN %s failed: %s", db->name,
                l ? l->channel : "?", msg);
    }
    PQclear(res);
    db_kick(db);
}

static void
db_dispatch_notifies(struct db *db)
{
    PGnotify *n;

    while ((n = PQnotifies(db->conn)) != NULL) {
        struct db_listen *l = db->listens;

        while (l && strcmp(l->channel, n->relname) != 0)
            l = l->next;
        if (l) {
            db->cb_depth++;
            l->cb(l->arg, n->relname, n->extra);
            db->cb_depth--;
        }
        PQfreemem(n);
        if (db->dying || db->state != DB_CONNECTED)
            return;
    }
}

/* Send whatever comes next: pending PREPAREs first, then the head query. */
static void
db_send_next(struct db *db)
{
    struct db_stmt *st;
    struct db_job *job = db->head;
    int ok;

    if (db->state != DB_CONNECTED || db->busy != DB_IDLE || db->dying)
        return;
    for (st = db->stmts; st; st = st->next)
        if (!st->tried)
            break;
    db->prep_for_head = false;
    if (!st && job && job->stmt && !job->stmt->prepared) {
        st = job->stmt; /* it failed before: one more try for this query */
        db->prep_for_head = true;
    }
    if (st) {
        st->tried = true;
        ok = PQsendPrepare(db->conn, st->name, st->sql, st->nparams, NULL);
        db->busy = DB_PREPARING;
        db->busy_stmt = st;
    } else if (db_next_listen(db) != NULL) {
        ok = db_send_listen(db, db_next_listen(db));
    } else if (job) {
        if (job->stmt)
            ok = PQsendQueryPrepared(db->conn, job->stmt->name, job->nparams,
                                     (const char *const *)job->params, NULL,
                                     NULL, 0);
        else
            ok = PQsendQueryParams(db->conn, job->sql, job->nparams, NULL,
                                   (const char *const *)job->params, NULL,
                                   NULL, 0);
        db->busy = DB_QUERYING;
    } else {
        return;
    }
    db->err_mark = 0; /* sending cleared libpq's message */
    if (!ok && PQstatus(db->conn) == CONNECTION_BAD) {
        db_fail(db, "send", PQerrorMessage(db->conn));
        return;
    }
    if (!ok) {
        /* libpq refused the item itself: sending it again would not help. */
        db_refused(db, PQerrorMessage(db->conn));
        return;
    }
    if (db->busy == DB_QUERYING)
        db->sent++;
    db_flush(db);
}

/* The PREPARE in flight finished with @p res.  @return false: db freed. */
static bool
db_prepared(struct db *db, PGresult *res)
{
    struct db_stmt *st = db->busy_stmt;
    struct db_job *job;
    char msg[300], err[400];
    bool alive = true;

    db->busy = DB_IDLE;
    db->busy_stmt = NULL;
    st->prepared = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!st->prepared) {
        db_oneline(msg, sizeof(msg),
                   res ? PQresultErrorMessage(res) : "no result");
        /* Prepared ahead of use (at connect), it may name a table that a
         * queued CREATE makes: it is prepared again before its first
         * query, and only that failure is an error. */
        if (!(db->prep_for_head && db->head && db->head->stmt == st)) {
            log_debug("db", "%s: cannot prepare %s yet (again before its "
                      "first use): %s", db->name, st->name, msg);
        } else {
            log_err("db", "%s: cannot prepare %s: %s", db->name, st->name,
                    msg);
            snprintf(err, sizeof(err), "prepare %s: %s", st->name, msg);
            job = db_pop(db);
            alive = db_deliver(db, job, res, err);
        }
    }
    PQclear(res);
    if (alive)
        db_kick(db);
    return alive;
}

/* The head query finished with @p res.  @return false: db freed. */
static bool
db_answered(struct db *db, PGresult *res)
{
    struct db_job *job = db_pop(db);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    char msg[300];
    bool alive;

    db->busy = DB_IDLE;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        alive = db_deliver(db, job, res, NULL);
    } else {
        db_oneline(msg, sizeof(msg),
                   res ? PQresultErrorMessage(res) : "no result");
        if (!msg[0])
            snprintf(msg, sizeof(msg), "unexpected result %s",
                     PQresStatus(st));
        log_debug("db", "%s: query failed: %s", db->name, msg);
        alive = db_deliver(db, job, res, msg);
    }
    PQclear(res);
    if (alive)
        db_kick(db);
    return alive;
}

static bool
db_is_copy(const PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);

    return st == PGRES_COPY_IN || st == PGRES_COPY_OUT
           || st == PGRES_COPY_BOTH;
}

/*
 * A COPY would keep the connection in a sub-protocol this module does not
 * speak: fail the query (no retry, it would do the same again) and start
 * over on a fresh connection.
 */
static void
db_refuse_copy(struct db *db)
{
    struct db_job *job = db->busy == DB_QUERYING ? db_pop(db) : NULL;

    db->busy = DB_IDLE;
    db_close(db);
    db_schedule(db, 0);
    if (job)
        db_deliver(db, job, NULL, "COPY is not supported");
}

/*
 * Take the results libpq has parsed for the item in flight.  When the item
 * is complete, hand it over and return: the callback may have changed
 * anything, the next item goes out from ev_kick.
 */
static void
db_collect(struct db *db)
{
    PGresult *r;

    while (db->busy != DB_IDLE && !PQisBusy(db->conn)) {
        r = PQgetResult(db->conn);
        if (r && db_is_copy(r)) {
            PQclear(r);
            db_refuse_copy(db);
            return;
        }
        if (r) {
            /* One statement gives one result; keep the last anyway. */
            if (db->res)
                PQclear(db->res);
            db->res = r;
            continue;
        }
        r = db->res;
        db->res = NULL;
        if (db_conn_broken(db, r)) {
            char msg[300];
            db_oneline(msg, sizeof(msg), r ? PQresultErrorMessage(r)
                                           : PQerrorMessage(db->conn));
            PQclear(r);
            db_fail(db, "connection lost", msg);
            return;
        }
        db_mark_error(db);
        if (db->busy == DB_PREPARING)
            db_prepared(db, r);
        else if (db->busy == DB_LISTENING)
            db_listened(db, r);
        else
            db_answered(db, r);
        return;
    }
}

static void
db_on_sock(evutil_socket_t fd, short what, void *arg)
{
    struct db *db = arg;

    (void)fd;
    if (db->state == DB_CONNECTING) {
        db_connect_step(db, PQconnectPoll(db->conn));
        return;
    }
    if (db->state != DB_CONNECTED)
        return;
    if (what & EV_READ) {
        if (!PQconsumeInput(db->conn)) {
            db_fail(db, "connection lost", db_conn_error(db));
            return;
        }
        db_dispatch_notifies(db);
        if (db->dying && db->cb_depth == 0) {
            db_free(db);
            return;
        }
        if (db->state != DB_CONNECTED)
            return;
    }
    if (db->flushing) {
        db_flush(db);
        if (db->state != DB_CONNECTED)
            return;
    }
    if (db->busy != DB_IDLE) {
        db_collect(db);
        return;
    }
    /* Idle: the only news can be the server going away. */
    if (PQstatus(db->conn) == CONNECTION_BAD)
        db_fail(db, "connection lost", db_conn_error(db));
}

static void
db_on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    db_send_next(arg);
}

/* ---- public API ---- */

static int
db_apply_limits(struct db *db, const struct cfg_database *cfg)
{
    db->max_queue = cfg->max_queue;
    db->retry_min_ms = cfg->retry_min_ms;
    db->retry_max_ms = cfg->retry_max_ms;
    db->connect_timeout_ms = cfg->connect_timeout_ms;
    return 0;
}

int
db_create(struct db **out, struct event_base *base,
          const struct cfg_database *cfg)
{
    struct db *db;
    char err[256];

    if (!out || !base || !cfg || !cfg->name || !cfg->conninfo)
        return -EINVAL;
    if (db_conninfo_check(cfg->conninfo, err, sizeof(err)) < 0) {
        log_err("db", "%s: %s", cfg->name, err);
        return -EINVAL;
    }
    db = calloc(1, sizeof(*db));
    if (!db)
        return -ENOMEM;
    db->base = base;
    db->name = strdup(cfg->name);
    db->conninfo = strdup(cfg->conninfo);
    db->ev_timer = evtimer_new(base, db_on_timer, db);
    db->ev_kick = event_new(base, -1, 0, db_on_kick, db);
    if (!db->name || !db->conninfo || !db->ev_timer || !db->ev_kick) {
        db_free(db);
        return -ENOMEM;
    }
    db_apply_limits(db, cfg);
    /* Connect from the loop: creating never touches the network. */
    db_schedule(db, 0);
    *out = db;
    return 0;
}

void
db_destroy(struct db *db)
{
    struct db_job *job;

    if (!db || db->dying)
        return;
    db->dying = true;
    db->cb_depth++; /* keep db alive while the callbacks below run */
    if (db->busy == DB_QUERYING)
        db->busy = DB_IDLE; /* not a retry: it will not be sent again */
    db_close(db);
    event_del(db->ev_kick);
    while ((job = db_pop(db)) != NULL)
        db_deliver(db, job, NULL, DB_ERR_SHUTDOWN);
    db->cb_depth--;
    /* From inside a callback, the handler frees it when that returns. */
    if (db->cb_depth == 0)
        db_free(db);
}

static struct db_stmt *
db_stmt_find(const struct db *db, const char *name)
{
    for (struct db_stmt *st = db->stmts; st; st = st->next)
        if (strcmp(st->name, name) == 0)
            return st;
    return NULL;
}

int
db_prepare(struct db *db, const char *stmt, const char *sql, int nparams)
{
    struct db_stmt *st, **tailp;

    if (!db || !stmt || !stmt[0] || !sql || nparams < 0
        || nparams > DB_MAX_PARAMS)
        return -EINVAL;
    if (db->dying)
        return -ESHUTDOWN;
    st = db_stmt_find(db, stmt);
    if (st)
        return strcmp(st->sql, sql) == 0 && st->nparams == nparams ? 0
                                                                   : -EEXIST;
    st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->name = strdup(stmt);
    st->sql = strdup(sql);
    if (!st->name || !st->sql) {
        free(st->name);
        free(st->sql);
        free(st);
        return -ENOMEM;
    }
    st->nparams = nparams;
    /* Keep registration order: statements are prepared in that order. */
    for (tailp = &db->stmts; *tailp; tailp = &(*tailp)->next)
        ;
    *tailp = st;
    db_kick(db);
    return 0;
}

int
db_listen(struct db *db, const char *channel, db_notify_cb cb, void *arg)
{
    struct db_listen *l, **tail;

    if (!db || !channel || !channel[0] || strlen(channel) > 63 || !cb)
        return -EINVAL;
    for (tail = &db->listens; *tail; tail = &(*tail)->next)
        if (strcmp((*tail)->channel, channel) == 0)
            return -EEXIST;
    if ((l = calloc(1, sizeof(*l))) == NULL ||
        (l->channel = strdup(channel)) == NULL) {
        free(l);
        return -ENOMEM;
    }
    l->cb = cb;
    l->arg = arg;
    *tail = l;
    db_kick(db);
    return 0;
}

int
db_query(struct db *db, const char *stmt, const char *sql, int nparams,
         const char *const *params, db_result_cb cb, void *arg)
{
    struct db_stmt *st = NULL;
    struct db_job *job;

    if (!db || (stmt == NULL) == (sql == NULL) || nparams < 0
        || nparams > DB_MAX_PARAMS || (nparams > 0 && !params))
        return -EINVAL;
    if (db->dying)
        return -ESHUTDOWN;
    if (stmt) {
        st = db_stmt_find(db, stmt);
        if (!st)
            return -ENOENT;
        if (st->nparams != nparams)
            return -EINVAL;
    }
    if (db->njobs >= db->max_queue)
        return -EAGAIN;

    job = calloc(1, sizeof(*job));
    if (!job)
        return -ENOMEM;
    job->stmt = st;
    job->cb = cb;
    job->arg = arg;
    if (sql && !(job->sql = strdup(sql)))
        goto nomem;
    if (nparams > 0) {
        job->params = calloc((size_t)nparams, sizeof(*job->params));
        if (!job->params)
            goto nomem;
        job->nparams = nparams;
        for (int i = 0; i < nparams; i++)
            if (params[i] && !(job->params[i] = strdup(params[i])))
                goto nomem;
    }
    if (db->tail)
        db->tail->next = job;
    else
        db->head = job;
    db->tail = job;
    db->njobs++;
    db_kick(db);
    return 0;

nomem:
    db_job_free(job);
    return -ENOMEM;
}

int
db_reconfigure(struct db *db, const struct cfg_database *cfg)
{
    char err[256], *conninfo;

    if (!db || !cfg || !cfg->conninfo)
        return -EINVAL;
    if (db->dying)
        return -ESHUTDOWN;
    if (strcmp(cfg->conninfo, db->conninfo) == 0) {
        db_apply_limits(db, cfg);
        return 0;
    }
    if (db_conninfo_check(cfg->conninfo, err, sizeof(err)) < 0) {
        log_err("db", "%s: %s", db->name, err);
        return -EINVAL;
    }
    conninfo = strdup(cfg->conninfo);
    if (!conninfo)
        return -ENOMEM;
    free(db->conninfo);
    db->conninfo = conninfo;
    db_apply_limits(db, cfg);
    log_notice("db", "%s: conninfo changed, reconnecting", db->name);
    /* The query in flight, if any, stays at the head and is sent again. */
    db_close(db);
    db->backoff_ms = 0;
    db->failing = false;
    db_schedule(db, 0);
    return 0;
}

static const char *
db_state_name(const struct db *db)
{
    switch (db->state) {
    case DB_CONNECTED:
        return "connected";
    case DB_CONNECTING:
        return "connecting";
    default:
        /* A zero delay is the first attempt, or one right after a reload. */
        return db->backoff_ms ? "backoff" : "connecting";
    }
}

json_t *
db_status(const struct db *db)
{
    if (!db)
        return NULL;
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                     "s:I, s:I, s:o}",
                     "name", db->name,
                     "state", db_state_name(db),
                     "queued", (json_int_t)db->njobs,
                     "max_queue", (json_int_t)db->max_queue,
                     "sent", (json_int_t)db->sent,
                     "completed", (json_int_t)db->completed,
                     "failed", (json_int_t)db->failed,
                     "retried", (json_int_t)db->retried,
                     "attempts", (json_int_t)db->attempts,
                     "connects", (json_int_t)db->connects,
                     "disconnects", (json_int_t)db->disconnects,
                     "backoff_ms", (json_int_t)db->backoff_ms,
                     "last_error", db->last_error[0]
                                       ? json_string(db->last_error)
                                       : json_null());
}

/* One family, one sample per database: @p field read by @p get. */
static void
db_put_family(struct db *const *dbs, size_t n, struct metrics_out *o,
              const char *name, enum metrics_kind kind, const char *help,
              double (*get)(const struct db *))
{
    metrics_family(o, name, kind, help);
    for (size_t i = 0; i < n; i++)
        metrics_sample(o, get(dbs[i]), "database", dbs[i]->name, NULL);
}

static double db_get_up(const struct db *d) { return d->state == DB_CONNECTED; }
static double db_get_queued(const struct db *d) { return (double)d->njobs; }
static double db_get_completed(const struct db *d) { return (double)d->completed; }
static double db_get_failed(const struct db *d) { return (double)d->failed; }
static double db_get_retried(const struct db *d) { return (double)d->retried; }
static double db_get_disconnects(const struct db *d) { return (double)d->disconnects; }

void
db_metrics(struct db *const *dbs, size_t n, struct metrics_out *o)
{
    db_put_family(dbs, n, o, "sipbridge_database_up", METRICS_GAUGE,
                  "1 while connected to the database server.", db_get_up);
    db_put_family(dbs, n, o, "sipbridge_database_queue_depth", METRICS_GAUGE,
                  "Queries waiting or in flight (they survive a lost "
                  "connection).", db_get_queued);
    db_put_family(dbs, n, o, "sipbridge_database_queries_completed_total",
                  METRICS_COUNTER, "Queries that returned a result.",
                  db_get_completed);
    db_put_family(dbs, n, o, "sipbridge_database_queries_failed_total",
                  METRICS_COUNTER, "Queries that returned an error.",
                  db_get_failed);
    db_put_family(dbs, n, o, "sipbridge_database_queries_retried_total",
                  METRICS_COUNTER, "Queries sent again after a lost "
                  "connection.", db_get_retried);
    db_put_family(dbs, n, o, "sipbridge_database_disconnects_total",
                  METRICS_COUNTER, "Established connections lost.",
                  db_get_disconnects);
}

const char *
db_name(const struct db *db)
{
    return db->name;
}

bool
db_is_connected(const struct db *db)
{
    return db->state == DB_CONNECTED;
}

/*
 * db_probe.c - drives the db module against a real PostgreSQL server for
 * it_db_*.py.  One command per stdin line, one answer per stdout line:
 *
 *   connect MAXQ CONNINFO   -> "ok" | "error RC"
 *   prepare                 -> "ok" | "error RC"   (statement "sel" = SELECT $1::int)
 *   query N                 -> "queued A eagain B" (N queries "SELECT $1::int",
 *                              even ones prepared, odd ones unnamed; the value is
 *                              a sequence number checked in the answer)
 *   slow SECONDS            -> "queued 1 eagain 0" (SELECT $1::int FROM pg_sleep)
 *   bad                     -> "queued 1 eagain 0" (SELECT 1/0: must fail, once)
 *   destroyincb N           -> "queued N eagain 0", then "destroyed shutdown_errors=K"
 *                              once the first answer's callback has called
 *                              db_destroy() (the others get DB_ERR_SHUTDOWN)
 *   reconfigure CONNINFO    -> "ok" | "error RC" (db_reconfigure, same limits)
 *   wait SECONDS            -> later "done ..." when nothing is outstanding, or
 *                              "timeout ..." (both: ok= bad= errors= outstanding=)
 *   status                  -> db_status() as one JSON line
 *   lateness                -> "lateness MS ticks N": worst delay of a 20 ms timer
 *   quit (or EOF)           -> "bye shutdown_errors=K" (for the current db),
 *                              exit 0
 *
 * "bad" counts wrong values, answers out of order and unexpected errors.
 * SB_LOG_LEVEL sets the log level (default info), logs go to stderr.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sipbridge/db.h"
#include "sipbridge/log.h"

#define TICK_MS 20

struct probe {
    struct event_base *base;
    struct db *db;
    struct event *ev_stdin;
    struct event *ev_tick;
    struct event *ev_wait;
    char line[8192];
    size_t len;

    long long next_seq;     /* value of the next query */
    long long last_seq;     /* value of the last answer, for order */
    long outstanding;
    long ok, bad, errors, shutdown_errors;
    bool done;              /* quit: stop reading commands */
    unsigned max_queue;
    struct probe_q *batch_first; /* first query of the last "query" command */
    char first_bad[256];

    double last_tick;
    double worst_late_ms;
    long ticks;
};

struct probe_q {
    struct probe *p;
    long long seq;
    bool want_error;
    bool destroy;           /* destroy the db from this callback */
};

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void
note_bad(struct probe *p, const char *fmt, ...)
{
    va_list ap;

    p->bad++;
    if (p->first_bad[0])
        return;
    va_start(ap, fmt);
    vsnprintf(p->first_bad, sizeof(p->first_bad), fmt, ap);
    va_end(ap);
}

static void
counts(struct probe *p, const char *word)
{
    say("%s ok=%ld bad=%ld errors=%ld outstanding=%ld first_bad=%s", word,
        p->ok, p->bad, p->errors, p->outstanding,
        p->first_bad[0] ? p->first_bad : "-");
}

static void
on_result(void *arg, const PGresult *res, const char *error)
{
    struct probe_q *q = arg;
    struct probe *p = q->p;

    p->outstanding--;
    if (error && strcmp(error, DB_ERR_SHUTDOWN) == 0) {
        p->shutdown_errors++;
    } else if (q->want_error) {
        if (error && strstr(error, "division by zero"))
            p->errors++;
        else
            note_bad(p, "1/0 did not fail: %s", error ? error : "result");
    } else if (error) {
        note_bad(p, "query %lld failed: %s", q->seq, error);
    } else if (PQntuples(res) != 1
               || atoll(PQgetvalue(res, 0, 0)) != q->seq) {
        note_bad(p, "query %lld: wrong answer '%s'", q->seq,
                 PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "?");
    } else if (q->seq <= p->last_seq) {
        note_bad(p, "query %lld answered after %lld", q->seq, p->last_seq);
    } else {
        p->last_seq = q->seq;
        p->ok++;
    }
    if (q->destroy) {
        /* The rest of the queue is answered inside this call. */
        long before = p->shutdown_errors;
        db_destroy(p->db);
        p->db = NULL;
        say("destroyed shutdown_errors=%ld", p->shutdown_errors - before);
    }
    free(q);
    if (p->outstanding == 0 && p->ev_wait) {
        event_free(p->ev_wait);
        p->ev_wait = NULL;
        counts(p, "done");
    }
}

/* Queue one query; @return db_query()'s result. */
static int
queue(struct probe *p, const char *stmt, const char *sql, int n,
      const char *const *params, long long seq, bool want_error)
{
    struct probe_q *q = calloc(1, sizeof(*q));
    int rc;

    if (!q)
        return -ENOMEM;
    *q = (struct probe_q){ .p = p, .seq = seq, .want_error = want_error };
    rc = db_query(p->db, stmt, sql, n, params, on_result, q);
    if (rc < 0) {
        free(q);
    } else {
        p->outstanding++;
        if (!p->batch_first)
            p->batch_first = q;
    }
    return rc;
}

static void
cmd_query(struct probe *p, long n, double sleep_s)
{
    long accepted = 0, eagain = 0;
    char v[32], s[32];
    const char *params[2] = { v, s };
    int rc = 0;

    p->batch_first = NULL;
    for (long i = 0; i < n; i++) {
        long long seq = p->next_seq + 1;
        snprintf(v, sizeof(v), "%lld", seq);
        snprintf(s, sizeof(s), "%.3f", sleep_s);
        if (sleep_s > 0)
            rc = queue(p, NULL, "SELECT $1::int FROM pg_sleep($2)", 2,
                       params, seq, false);
        else if (seq % 2 == 0)
            rc = queue(p, "sel", NULL, 1, params, seq, false);
        else
            rc = queue(p, NULL, "SELECT $1::int", 1, params, seq, false);
        if (rc == 0) {
            p->next_seq = seq;
            accepted++;
        } else if (rc == -EAGAIN) {
            eagain++;
        } else {
            break;
        }
    }
    if (rc < 0 && rc != -EAGAIN)
        say("error %d", rc);
    else
        say("queued %ld eagain %ld", accepted, eagain);
}

static void
on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct probe *p = arg;

    (void)fd;
    (void)what;
    event_free(p->ev_wait);
    p->ev_wait = NULL;
    counts(p, "timeout");
}

static void
cmd_wait(struct probe *p, double secs)
{
    struct timeval tv = { (time_t)secs,
                          (suseconds_t)((secs - (time_t)secs) * 1e6) };

    if (p->outstanding == 0) {
        counts(p, "done");
        return;
    }
    if (p->ev_wait)
        event_free(p->ev_wait);
    p->ev_wait = evtimer_new(p->base, on_wait_timeout, p);
    evtimer_add(p->ev_wait, &tv);
}

static void
cmd_status(struct probe *p)
{
    json_t *st = p->db ? db_status(p->db) : json_object();
    char *s = json_dumps(st, JSON_COMPACT);

    say("%s", s ? s : "{}");
    free(s);
    json_decref(st);
}

static void
quit(struct probe *p)
{
    db_destroy(p->db); /* pending queries' callbacks run here */
    p->db = NULL;
    p->done = true;
    say("bye shutdown_errors=%ld", p->shutdown_errors);
    event_base_loopbreak(p->base);
}

static void
command(struct probe *p, char *line)
{
    char *arg = strchr(line, ' ');
    int rc;

    if (arg)
        *arg++ = '\0';
    if (strcmp(line, "connect") == 0 && arg && !p->db) {
        char *conninfo = strchr(arg, ' ');
        struct cfg_database c = {
            .name = "probe", .max_queue = (unsigned)atoi(arg),
            .retry_min_ms = 100, .retry_max_ms = 800,
            .connect_timeout_ms = 2000,
        };
        c.conninfo = conninfo ? conninfo + 1 : "";
        p->max_queue = c.max_queue;
        p->shutdown_errors = 0; /* "bye" counts this db's only */
        rc = db_create(&p->db, p->base, &c);
        rc == 0 ? say("ok") : say("error %d", rc);
    } else if (!p->db && strcmp(line, "quit") != 0) {
        say("error not connected");
    } else if (strcmp(line, "prepare") == 0) {
        rc = db_prepare(p->db, "sel", "SELECT $1::int", 1);
        rc == 0 ? say("ok") : say("error %d", rc);
    } else if (strcmp(line, "query") == 0 && arg) {
        cmd_query(p, atol(arg), 0);
    } else if (strcmp(line, "slow") == 0 && arg) {
        cmd_query(p, 1, atof(arg));
    } else if (strcmp(line, "bad") == 0) {
        rc = queue(p, NULL, "SELECT 1/0", 0, NULL, 0, true);
        rc == 0 ? say("queued 1 eagain 0") : say("error %d", rc);
    } else if (strcmp(line, "destroyincb") == 0 && arg) {
        /* Its first query is answered first if nothing else is pending;
           no callback has run yet: they never run inside db_query(). */
        cmd_query(p, atol(arg), 0);
        if (p->batch_first)
            p->batch_first->destroy = true;
    } else if (strcmp(line, "reconfigure") == 0 && arg) {
        struct cfg_database c = {
            .name = "probe", .conninfo = arg, .max_queue = p->max_queue,
            .retry_min_ms = 100, .retry_max_ms = 800,
            .connect_timeout_ms = 2000,
        };
        rc = db_reconfigure(p->db, &c);
        rc == 0 ? say("ok") : say("error %d", rc);
    } else if (strcmp(line, "wait") == 0 && arg) {
        cmd_wait(p, atof(arg));
    } else if (strcmp(line, "status") == 0) {
        cmd_status(p);
    } else if (strcmp(line, "lateness") == 0) {
        say("lateness %.1f ticks %ld", p->worst_late_ms, p->ticks);
    } else if (strcmp(line, "quit") == 0) {
        quit(p);
    } else {
        say("error unknown command '%s'", line);
    }
}

static void
on_stdin(evutil_socket_t fd, short what, void *arg)
{
    struct probe *p = arg;
    ssize_t n;
    char *nl;

    (void)what;
    if (p->done)
        return;
    n = read(fd, p->line + p->len, sizeof(p->line) - 1 - p->len);
    if (n <= 0) {
        if (n < 0 && errno == EINTR)
            return;
        quit(p);
        return;
    }
    p->len += (size_t)n;
    p->line[p->len] = '\0';
    while ((nl = strchr(p->line, '\n')) != NULL) {
        size_t used = (size_t)(nl - p->line) + 1;
        *nl = '\0';
        if (p->line[0])
            command(p, p->line);
        if (p->done)
            return;
        memmove(p->line, p->line + used, p->len - used + 1);
        p->len -= used;
    }
    if (p->len == sizeof(p->line) - 1)
        p->len = 0; /* an absurd line: drop it */
}

/* The loop must never stall: a blocking call shows up as a late tick. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct probe *p = arg;
    double now = now_ms(), late = now - p->last_tick - TICK_MS;

    (void)fd;
    (void)what;
    if (late > p->worst_late_ms)
        p->worst_late_ms = late;
    p->last_tick = now;
    p->ticks++;
}

int
main(void)
{
    struct probe p = { 0 };
    struct timeval tick = { 0, TICK_MS * 1000 };
    const char *lvl = getenv("SB_LOG_LEVEL");

    log_set_level(log_level_parse(lvl ? lvl : "info"));
    p.base = event_base_new();
    if (!p.base)
        return 1;
    p.ev_stdin = event_new(p.base, 0, EV_READ | EV_PERSIST, on_stdin, &p);
    p.ev_tick = event_new(p.base, -1, EV_PERSIST, on_tick, &p);
    event_add(p.ev_stdin, NULL);
    event_add(p.ev_tick, &tick);
    p.last_tick = now_ms();
    event_base_dispatch(p.base);

    if (p.ev_wait)
        event_free(p.ev_wait);
    event_free(p.ev_tick);
    event_free(p.ev_stdin);
    event_base_free(p.base);
    return 0;
}

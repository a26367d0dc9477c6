/*
 * db.h - one non-blocking PostgreSQL connection per `type=database` section.
 *
 * What it owns.  A struct db owns one libpq connection (PGconn), its socket
 * event and timer on the caller's event_base, the set of prepared
 * statements registered with db_prepare(), and a bounded FIFO of pending
 * queries.  It connects by itself, reconnects by itself with capped
 * exponential backoff (retry_min doubling up to retry_max, reset after a
 * successful connect), enforces connect_timeout with a timer, and never
 * calls a blocking libpq function: connects go through PQconnectStart/
 * PQconnectPoll, queries through PQsendQuery*, PQflush, PQconsumeInput.
 *
 * Host names.  libpq resolves a host= name with a synchronous getaddrinfo()
 * inside the connect, which would stall the loop.  db therefore accepts
 * only conninfo strings that need no name lookup: every host= entry must
 * be an IP literal or a Unix socket directory (absolute path), unless
 * hostaddr= is given (then host= is only used for TLS/Kerberos names).
 * service= is refused (a service file may name a host).  PGHOST,
 * PGHOSTADDR and PGSERVICE from the environment are checked the same way
 * when the conninfo does not set them.  db_conninfo_check() performs this
 * check and is meant for the configuration's semantic check too.
 *
 * How to use.
 *     db_create(&db, base, cfg_database_find(cfg, "main"));
 *     db_prepare(db, "get_mwi", "SELECT ... WHERE box = $1", 1);
 *     db_query(db, "get_mwi", NULL, 1, params, on_result, ctx);
 * Queries run one at a time, in the order they were queued, on whatever
 * connection is up when their turn comes.  A query queued while the
 * database is down waits in the queue (bounded by max_queue) and runs on
 * recovery.  Only when the queue is full does db_query() refuse (-EAGAIN):
 * the caller decides what to drop (typically: keep only the latest state).
 *
 * Delivery semantics: at-least-once.  A query whose connection breaks
 * before its result arrived is sent again after the reconnect, because it
 * cannot be known whether the server executed it.  The users of this
 * module (chat history, MWI state, scale-out state) write idempotent
 * statements (UPSERT, "set state to X", inserts keyed by a message id),
 * for which a repeat is harmless; a caller that needs at-most-once must
 * make the statement itself detect the repeat.  A query that reaches the
 * server and fails there (syntax, constraint, division by zero...) is not
 * retried: its callback gets the server's error message.  The server's
 * shutdown and connection errors (SQLSTATE class 08, 57P01..57P03) count as
 * a broken connection, not as the query's failure.
 *
 * Prepared statements are registered once with db_prepare() and prepared
 * on every new connection before any query uses them (all are sent right
 * after connect, so a broken statement is logged at startup; one that
 * failed is tried again before each query naming it, whose callback gets
 * the error if it fails again).
 *
 * Thread: loop thread only, like everything on the event_base.
 *
 * Memory: db copies everything it is given (conninfo, statement names and
 * SQL, query parameters); the caller's buffers may be freed once a call
 * returns.  The PGresult passed to a callback belongs to db and is freed
 * after the callback returns (PQcopyResult to keep it).  The callback's
 * @c arg belongs to the caller; every accepted query gets exactly one
 * callback, so the callback is the place to free it.
 */
#ifndef SIPBRIDGE_DB_H
#define SIPBRIDGE_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "sipbridge/cfg.h"

struct db;

/*
 * Result of one query.  Success: @p error is NULL and @p res is the result
 * (PGRES_TUPLES_OK or PGRES_COMMAND_OK).  Failure: @p error is a one-line
 * message, and @p res is the server's error result when the server
 * answered (read PG_DIAG_SQLSTATE from it, e.g. to tell a unique violation)
 * or NULL when it did not (prepare failed, shutdown).  Called
 * exactly once per query accepted by db_query(), from the loop, never from
 * inside db_query().  It may call db_query() and db_prepare(); it may also
 * call db_destroy() on the same db (destruction is then deferred until the
 * callback returns).
 */
typedef void (*db_result_cb)(void *arg, const PGresult *res,
                             const char *error);

/* The error given to callbacks of queries still pending at db_destroy(). */
#define DB_ERR_SHUTDOWN "database shutting down"

/**
 * Create the connection manager for section @p cfg (copied).  Returns at
 * once; the first connect attempt starts on the next loop iteration.
 * @return 0 and *out, -EINVAL if the conninfo is unusable (logged with the
 * reason: unparsable, or needs a host name lookup), -ENOMEM.
 */
int db_create(struct db **out, struct event_base *base,
              const struct cfg_database *cfg);

/**
 * Close the connection and free everything.  Queries still pending get
 * their callback with error DB_ERR_SHUTDOWN (in queue order) so that
 * callers can free their argument; they must not queue new queries on this
 * db (db_query() returns -ESHUTDOWN).  NULL is a no-op.
 */
void db_destroy(struct db *db);

/**
 * Register statement @p stmt = @p sql with @p nparams text parameters.  It
 * is prepared on every (re)connect before queries that use it run.
 * @return 0, -EEXIST (same name, different SQL or nparams; the same
 * definition again is 0), -EINVAL, -ENOMEM.
 */
int db_prepare(struct db *db, const char *stmt, const char *sql, int nparams);

/**
 * Queue a query: either the prepared statement @p stmt (then @p sql is
 * NULL) or the single SQL statement @p sql with $1..$n parameters (then
 * @p stmt is NULL).  @p params holds @p nparams text values, an element
 * may be NULL for SQL NULL.  @p cb may be NULL (fire and forget).
 * @return 0 (the callback will run later), -EAGAIN when max_queue queries
 * are already pending (the callback will not run), -ENOENT unknown
 * statement, -EINVAL wrong parameter count or usage, -ESHUTDOWN after
 * db_destroy(), -ENOMEM.
 */
/* A notification on a LISTENed channel; @p payload is borrowed. */
typedef void (*db_notify_cb)(void *arg, const char *channel,
                             const char *payload);

/**
 * LISTEN on @p channel (at most 63 bytes, PostgreSQL's limit) on every
 * connection, re-issued after each reconnect; notifications go to @p cb.
 * Notifications sent while the connection was down are lost (PostgreSQL
 * keeps none for absent listeners).  @return 0, -EEXIST, -EINVAL, -ENOMEM.
 */
int db_listen(struct db *db, const char *channel, db_notify_cb cb, void *arg);

int db_query(struct db *db, const char *stmt, const char *sql, int nparams,
             const char *const *params, db_result_cb cb, void *arg);

/**
 * Apply a reloaded section.  A changed conninfo closes the connection and
 * connects to the new one at once (the query in flight, if any, is sent
 * again there); limits and delays apply from now on.  The queue and the
 * prepared statements are kept; a smaller max_queue drops nothing, it only
 * refuses new queries until the queue is below it.  The name is not
 * changed.  @return 0, -EINVAL (conninfo unusable; nothing changed),
 * -ENOMEM.
 */
int db_reconfigure(struct db *db, const struct cfg_database *cfg);

/**
 * @return a new JSON object:
 * {"name", "state": "connecting"|"connected"|"backoff",
 *  "queued": pending queries including the one in flight, "max_queue",
 *  "sent": queries sent to the server (re-sends included),
 *  "completed": callbacks with a result, "failed": callbacks with an error,
 *  "retried": queries sent again after a broken connection,
 *  "attempts": connect attempts, "connects": successful connects,
 *  "disconnects": established connections lost,
 *  "backoff_ms": current reconnect delay, "last_error": string or null}.
 * Once the queue is empty, sent == completed + failed + retried, less
 * the queries that failed without being sent (their statement could not be
 * prepared).
 */
json_t *db_status(const struct db *db);

struct metrics_out;
/** The database families, one sample per database of @p dbs. */
void db_metrics(struct db *const *dbs, size_t n, struct metrics_out *out);

/** @return the section name, as given in the configuration. */
const char *db_name(const struct db *db);

/** @return true when connected to the server (queries can run now). */
bool db_is_connected(const struct db *db);

/* ---- pure helpers, exposed for the configuration check and tests ---- */

/**
 * Check that @p conninfo parses and needs no host name lookup (see above).
 * @return 0, or -EINVAL with a message for the operator in @p err.
 */
int db_conninfo_check(const char *conninfo, char *err, size_t errlen);

/**
 * The reconnect delay after @p cur_ms: @p min_ms first (cur 0), then
 * doubling, capped at @p max_ms.
 */
unsigned db_backoff_next(unsigned cur_ms, unsigned min_ms, unsigned max_ms);

#endif

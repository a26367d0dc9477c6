/*
 * test_db.c - the database module's logic without a database server:
 * backoff arithmetic, the conninfo check, the bounded queue, argument
 * checks, shutdown delivery and the reconnect loop against a Unix socket
 * that does not exist (no network, no server).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sipbridge/db.h"
#include "sipbridge/log.h"

/* A conninfo that fails at once, locally: no such socket directory. */
#define NOWHERE "host=/nonexistent/sipbridge-test port=1 dbname=x"

static struct cfg_database
test_cfg(const char *conninfo, unsigned max_queue)
{
    struct cfg_database c = {
        .name = "main", .conninfo = (char *)conninfo,
        .max_queue = max_queue, .retry_min_ms = 10, .retry_max_ms = 40,
        .connect_timeout_ms = 1000,
    };
    return c;
}

static void
test_backoff(void **state)
{
    unsigned d = 0;
    const unsigned want[] = { 500, 1000, 2000, 4000, 8000, 16000, 30000,
                              30000 };

    (void)state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        d = db_backoff_next(d, 500, 30000);
        assert_int_equal(d, want[i]);
    }
    /* Reset after a success is cur = 0. */
    assert_int_equal(db_backoff_next(0, 500, 30000), 500);
    /* Degenerate settings never give a zero (tight loop) delay. */
    assert_int_equal(db_backoff_next(0, 0, 0), 1);
    assert_int_equal(db_backoff_next(1, 0, 0), 1);
    /* max below min: min wins. */
    assert_int_equal(db_backoff_next(0, 100, 50), 100);
    assert_int_equal(db_backoff_next(100, 100, 50), 100);
    /* No overflow near the top of the range. */
    assert_int_equal(db_backoff_next(0x80000000u, 1, 0xffffffffu),
                     0xffffffffu);
    assert_int_equal(db_backoff_next(0x7fffffffu, 1, 0xffffffffu),
                     0xfffffffeu);
}

static void
test_conninfo(void **state)
{
    char err[256];
    const char *good[] = {
        "hostaddr=127.0.0.1 port=5432 dbname=x",
        "host=127.0.0.1 dbname=x",
        "host=::1",
        "host=/var/run/postgresql",
        "host=127.0.0.1,::1,/tmp",
        "host=db.example.com hostaddr=10.0.0.1",
        "dbname=x",
        "postgresql://127.0.0.1:5432/x",
        "",
    };
    const char *bad[] = {
        "host=db.example.com",
        "host=127.0.0.1,db.example.com",
        "postgresql://db.example.com/x",
        "service=main",
        "nosuchkey=1",
        "host='unterminated",
    };

    (void)state;
    unsetenv("PGHOST");
    unsetenv("PGHOSTADDR");
    unsetenv("PGSERVICE");
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        err[0] = '\0';
        if (db_conninfo_check(good[i], err, sizeof(err)) != 0)
            fail_msg("'%s' refused: %s", good[i], err);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (db_conninfo_check(bad[i], err, sizeof(err)) != -EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_true(strncmp(err, "conninfo: ", 10) == 0);
        assert_null(strchr(err, '\n'));
    }
    /* The message tells the operator what to do. */
    db_conninfo_check("host=db.example.com", err, sizeof(err));
    assert_non_null(strstr(err, "hostaddr"));
    assert_non_null(strstr(err, "db.example.com"));

    /* The environment counts when the string does not set the key. */
    setenv("PGHOST", "db.example.com", 1);
    assert_int_equal(db_conninfo_check("dbname=x", err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(db_conninfo_check("host=127.0.0.1", err, sizeof(err)),
                     0);
    setenv("PGHOSTADDR", "10.0.0.1", 1);
    assert_int_equal(db_conninfo_check("dbname=x", err, sizeof(err)), 0);
    unsetenv("PGHOST");
    unsetenv("PGHOSTADDR");
}

static void
test_create_refuses_name(void **state)
{
    struct event_base *base = event_base_new();
    struct db *db = (struct db *)0x1;
    struct cfg_database c = test_cfg("host=db.example.com", 10);

    (void)state;
    assert_int_equal(db_create(&db, base, &c), -EINVAL);
    assert_ptr_equal(db, (struct db *)0x1); /* out untouched on failure */
    event_base_free(base);
}

struct record {
    int calls;
    int order[8];
    char errors[8][64];
    struct db *db;
    int requery_rc;
};

struct tag {
    struct record *rec;
    int id;
};

static void
on_tagged(void *arg, const PGresult *res, const char *error)
{
    struct tag *t = arg;
    struct record *rec = t->rec;

    assert_null(res);
    assert_non_null(error);
    if (rec->calls < 8) {
        rec->order[rec->calls] = t->id;
        snprintf(rec->errors[rec->calls], sizeof(rec->errors[0]), "%s",
                 error);
    }
    rec->calls++;
    /* Queueing from a shutdown callback is refused, not crashed on. */
    rec->requery_rc = db_query(rec->db, NULL, "SELECT 1", 0, NULL,
                               on_tagged, t);
    db_destroy(rec->db); /* nested destroy is a no-op */
}

static void
test_queue_bound_and_shutdown(void **state)
{
    struct event_base *base = event_base_new();
    struct cfg_database c = test_cfg(NOWHERE, 3);
    struct record rec = { 0 };
    struct tag tags[4];
    struct db *db = NULL;
    json_t *st;
    const char *p[1] = { "42" };

    (void)state;
    assert_int_equal(db_create(&db, base, &c), 0);
    rec.db = db;
    assert_string_equal(db_name(db), "main");
    assert_false(db_is_connected(db));
    assert_int_equal(db_prepare(db, "sel", "SELECT $1::int", 1), 0);

    for (int i = 0; i < 4; i++)
        tags[i] = (struct tag){ &rec, i };
    assert_int_equal(db_query(db, "sel", NULL, 1, p, on_tagged, &tags[0]), 0);
    assert_int_equal(db_query(db, NULL, "SELECT $1::int", 1, p, on_tagged,
                              &tags[1]), 0);
    assert_int_equal(db_query(db, NULL, "SELECT 1", 0, NULL, on_tagged,
                              &tags[2]), 0);
    /* Full: refused, and that callback never runs. */
    assert_int_equal(db_query(db, "sel", NULL, 1, p, on_tagged, &tags[3]),
                     -EAGAIN);

    st = db_status(db);
    assert_non_null(st);
    assert_string_equal(json_string_value(json_object_get(st, "name")),
                        "main");
    assert_string_equal(json_string_value(json_object_get(st, "state")),
                        "connecting");
    assert_int_equal(json_integer_value(json_object_get(st, "queued")), 3);
    assert_int_equal(json_integer_value(json_object_get(st, "max_queue")), 3);
    assert_int_equal(json_integer_value(json_object_get(st, "sent")), 0);
    assert_true(json_is_null(json_object_get(st, "last_error")));
    json_decref(st);

    /* A smaller max_queue drops nothing; a larger one admits more. */
    c.max_queue = 1;
    assert_int_equal(db_reconfigure(db, &c), 0);
    assert_int_equal(db_query(db, NULL, "SELECT 1", 0, NULL, NULL, NULL),
                     -EAGAIN);
    c.max_queue = 4;
    assert_int_equal(db_reconfigure(db, &c), 0);
    assert_int_equal(db_query(db, "sel", NULL, 1, p, on_tagged, &tags[3]),
                     0);

    db_destroy(db);
    assert_int_equal(rec.calls, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rec.order[i], i);
        assert_string_equal(rec.errors[i], DB_ERR_SHUTDOWN);
    }
    assert_int_equal(rec.requery_rc, -ESHUTDOWN);
    event_base_free(base);
}

static void
test_arguments(void **state)
{
    struct event_base *base = event_base_new();
    struct cfg_database c = test_cfg(NOWHERE, 10);
    struct db *db = NULL;
    const char *p[2] = { "1", NULL };

    (void)state;
    assert_int_equal(db_create(&db, base, &c), 0);
    assert_int_equal(db_prepare(db, "sel", "SELECT $1::int", 1), 0);
    /* Same definition again is fine; a different one is a conflict. */
    assert_int_equal(db_prepare(db, "sel", "SELECT $1::int", 1), 0);
    assert_int_equal(db_prepare(db, "sel", "SELECT $1::text", 1), -EEXIST);
    assert_int_equal(db_prepare(db, "sel", "SELECT $1::int", 2), -EEXIST);
    assert_int_equal(db_prepare(db, "", "SELECT 1", 0), -EINVAL);
    assert_int_equal(db_prepare(db, "x", NULL, 0), -EINVAL);
    assert_int_equal(db_prepare(db, "x", "SELECT 1", -1), -EINVAL);

    assert_int_equal(db_query(db, "nosuch", NULL, 0, NULL, NULL, NULL),
                     -ENOENT);
    assert_int_equal(db_query(db, "sel", NULL, 2, p, NULL, NULL), -EINVAL);
    assert_int_equal(db_query(db, "sel", "SELECT 1", 1, p, NULL, NULL),
                     -EINVAL);
    assert_int_equal(db_query(db, NULL, NULL, 0, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(db_query(db, NULL, "SELECT $1", 1, NULL, NULL, NULL),
                     -EINVAL);
    assert_int_equal(db_query(db, NULL, "SELECT 1", -1, NULL, NULL, NULL),
                     -EINVAL);
    /* A NULL parameter is SQL NULL; no callback is fine. */
    assert_int_equal(db_query(db, NULL, "SELECT $1, $2", 2, p, NULL, NULL),
                     0);

    /* A bad new conninfo changes nothing. */
    c.conninfo = "host=db.example.com";
    assert_int_equal(db_reconfigure(db, &c), -EINVAL);
    db_destroy(db);
    db_destroy(NULL);
    event_base_free(base);
}

/* Stop the loop after a while: the test must not hang. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void
test_backoff_loop(void **state)
{
    struct event_base *base = event_base_new();
    struct cfg_database c = test_cfg(NOWHERE, 10);
    struct timeval tv = { 0, 200 * 1000 };
    struct event *deadline = evtimer_new(base, on_deadline, base);
    struct db *db = NULL;
    json_t *st;
    long long attempts;

    (void)state;
    assert_int_equal(db_create(&db, base, &c), 0);
    assert_int_equal(db_query(db, NULL, "SELECT 1", 0, NULL, NULL, NULL), 0);
    evtimer_add(deadline, &tv);
    event_base_dispatch(base);

    /* 10, 20, 40, 40, 40 ms...: about 6 attempts in 200 ms. */
    st = db_status(db);
    attempts = json_integer_value(json_object_get(st, "attempts"));
    assert_true(attempts >= 3 && attempts <= 10);
    assert_string_equal(json_string_value(json_object_get(st, "state")),
                        "backoff");
    assert_int_equal(json_integer_value(json_object_get(st, "backoff_ms")),
                     40);
    assert_int_equal(json_integer_value(json_object_get(st, "connects")), 0);
    assert_int_equal(json_integer_value(json_object_get(st, "queued")), 1);
    assert_int_equal(json_integer_value(json_object_get(st, "sent")), 0);
    assert_non_null(strstr(json_string_value(json_object_get(st,
                                                             "last_error")),
                           "connect"));
    json_decref(st);

    db_destroy(db);
    event_free(deadline);
    event_base_free(base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_conninfo),
        cmocka_unit_test(test_create_refuses_name),
        cmocka_unit_test(test_queue_bound_and_shutdown),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_backoff_loop),
    };

    log_set_level(LOG_LVL_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

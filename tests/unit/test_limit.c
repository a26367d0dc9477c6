/* unit_limit: per-source token buckets (src/core/limit.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "sipbridge/limit.h"

static struct sockaddr_storage
addr(const char *s)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(s, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, s, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, s, &a->sin_addr), 1);
    }
    return ss;
}

static int
check(struct limit *l, const char *s, uint64_t now, struct limit_note *n)
{
    struct sockaddr_storage ss = addr(s);

    return limit_check(l, (struct sockaddr *)&ss, now, n);
}

static void
burst_then_rate(void **state)
{
    struct limit *l;
    struct limit_note n;
    struct limit_counters c;
    int passed = 0;

    (void)state;
    assert_int_equal(limit_create(&l, 10, 5, 64), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(check(l, "192.0.2.1", 1000, &n), 1);
    assert_int_equal(check(l, "192.0.2.1", 1000, &n), 0);
    assert_int_equal(n.kind, LIMIT_NOTE_BLOCKED);
    assert_int_equal(check(l, "192.0.2.1", 1000, &n), 0);
    assert_int_equal(n.kind, LIMIT_NOTE_NONE);      /* reported once */
    /* One second at 20/s (twice the rate) passes 10 of 20. */
    for (int ms = 1050; ms <= 2000; ms += 50)
        passed += check(l, "192.0.2.1", (uint64_t)ms, &n);
    assert_int_equal(passed, 10);
    limit_get_counters(l, &c);
    assert_int_equal(c.passed, 15);
    assert_int_equal(c.refused, 12);
    assert_int_equal(c.blocks, 1);
    limit_destroy(l);
}

static void
unblock_reports_what_was_refused(void **state)
{
    struct limit *l;
    struct limit_note n;
    struct limit_counters c;

    (void)state;
    assert_int_equal(limit_create(&l, 1, 1, 64), 0);
    assert_int_equal(check(l, "2001:db8::1", 0, &n), 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(check(l, "2001:db8::1", 10, &n), 0);
    limit_get_counters(l, &c);
    assert_int_equal(c.blocked_now, 1);
    assert_int_equal(check(l, "2001:db8::1", 5000, &n), 1);
    assert_int_equal(n.kind, LIMIT_NOTE_UNBLOCKED);
    assert_int_equal(n.refused, 3);
    limit_get_counters(l, &c);
    assert_int_equal(c.blocked_now, 0);
    limit_destroy(l);
}

static void
sources_are_independent_and_v4_mapped_is_v4(void **state)
{
    struct limit *l;
    struct limit_note n;

    (void)state;
    assert_int_equal(limit_create(&l, 1, 1, 64), 0);
    assert_int_equal(check(l, "192.0.2.1", 0, &n), 1);
    assert_int_equal(check(l, "192.0.2.1", 0, &n), 0);
    assert_int_equal(check(l, "::ffff:192.0.2.1", 0, &n), 0);
    assert_int_equal(check(l, "192.0.2.2", 0, &n), 1);
    assert_int_equal(check(l, "2001:db8::2", 0, &n), 1);
    limit_destroy(l);
}

static void
table_stays_bounded_under_many_sources(void **state)
{
    struct limit *l;
    struct limit_note n;
    struct limit_counters c;
    char buf[32];

    (void)state;
    assert_int_equal(limit_create(&l, 1, 1, 16), 0);
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof(buf), "10.%d.%d.%d", i >> 16, (i >> 8) & 255,
                 i & 255);
        assert_int_equal(check(l, buf, (uint64_t)i, &n), 1);
    }
    limit_get_counters(l, &c);
    assert_true(c.sources <= 16);
    assert_int_equal(c.sources + c.evicted, 5000);
    limit_destroy(l);
}

static void
long_idle_refills_without_overflow(void **state)
{
    struct limit *l;
    struct limit_note n;

    (void)state;
    assert_int_equal(limit_create(&l, 1000000, 2, 8), 0);
    assert_int_equal(check(l, "192.0.2.9", 0, &n), 1);
    assert_int_equal(check(l, "192.0.2.9", 0, &n), 1);
    assert_int_equal(check(l, "192.0.2.9", 0, &n), 0);
    assert_int_equal(check(l, "192.0.2.9", UINT64_MAX / 2, &n), 1);
    assert_int_equal(check(l, "192.0.2.9", UINT64_MAX / 2, &n), 1);
    assert_int_equal(check(l, "192.0.2.9", UINT64_MAX / 2, &n), 0);
    limit_destroy(l);
    assert_int_equal(limit_create(&l, 0, 1, 8), -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_rate),
        cmocka_unit_test(unblock_reports_what_was_refused),
        cmocka_unit_test(sources_are_independent_and_v4_mapped_is_v4),
        cmocka_unit_test(table_stays_bounded_under_many_sources),
        cmocka_unit_test(long_idle_refills_without_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

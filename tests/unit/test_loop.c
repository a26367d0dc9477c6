/*
 * test_loop.c - the loop's pure helper: retry backoff (min doubled per
 * failure, capped, no overflow on long outages).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sipbridge/loop.h"

static void
backoff_doubles_from_min_up_to_max(void **state)
{
    (void)state;
    assert_int_equal(loop_backoff_ms(0, 500, 60000), 500);
    assert_int_equal(loop_backoff_ms(1, 500, 60000), 1000);
    assert_int_equal(loop_backoff_ms(6, 500, 60000), 32000);
    assert_int_equal(loop_backoff_ms(7, 500, 60000), 60000);
}

static void
backoff_never_overflows(void **state)
{
    (void)state;
    assert_int_equal(loop_backoff_ms(1000, 3600000, 3600000), 3600000);
    /* The doubling stops at 2^16 times min. */
    assert_int_equal(loop_backoff_ms(UINT32_MAX, 100, 4000000000u),
                     100u << 16);
    assert_int_equal(loop_backoff_ms(3, 100, 50), 50);   /* max below min */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_doubles_from_min_up_to_max),
        cmocka_unit_test(backoff_never_overflows),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_pubstate_queue.c - the coalescing FIFO of a publish client.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipbridge/pubstate_queue.h"

static void
assert_pop(struct pubstate_queue *q, const char *want)
{
    char *got = pubstate_queue_pop(q);

    if (want == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void
queue_is_fifo(void **state)
{
    struct pubstate_queue *q;

    (void)state;
    assert_int_equal(pubstate_queue_create(&q), 0);
    assert_int_equal(pubstate_queue_push(q, "a"), 1);
    assert_int_equal(pubstate_queue_push(q, "b"), 1);
    assert_int_equal(pubstate_queue_push(q, "c"), 1);
    assert_int_equal(pubstate_queue_len(q), 3);
    assert_pop(q, "a");
    assert_pop(q, "b");
    assert_pop(q, "c");
    assert_pop(q, NULL);
    assert_int_equal(pubstate_queue_len(q), 0);
    pubstate_queue_destroy(q);
}

static void
queue_coalesces_and_keeps_position(void **state)
{
    struct pubstate_queue *q;

    (void)state;
    assert_int_equal(pubstate_queue_create(&q), 0);
    pubstate_queue_push(q, "a");
    pubstate_queue_push(q, "b");
    assert_int_equal(pubstate_queue_push(q, "a"), 0);
    assert_int_equal(pubstate_queue_len(q), 2);
    assert_true(pubstate_queue_contains(q, "a"));
    assert_false(pubstate_queue_contains(q, "z"));
    assert_pop(q, "a");
    /* Once popped, a name queues again. */
    assert_int_equal(pubstate_queue_push(q, "a"), 1);
    assert_pop(q, "b");
    assert_pop(q, "a");
    pubstate_queue_destroy(q);
}

static void
queue_push_front_moves_a_retry_first(void **state)
{
    struct pubstate_queue *q;

    (void)state;
    assert_int_equal(pubstate_queue_create(&q), 0);
    pubstate_queue_push(q, "a");
    pubstate_queue_push(q, "b");
    pubstate_queue_push(q, "c");
    assert_int_equal(pubstate_queue_push_front(q, "c"), 0);
    assert_int_equal(pubstate_queue_push_front(q, "x"), 0);
    assert_int_equal(pubstate_queue_len(q), 4);
    assert_pop(q, "x");
    assert_pop(q, "c");
    assert_pop(q, "a");
    assert_pop(q, "b");
    pubstate_queue_destroy(q);
}

/* 10,000 devices changing 10 times each: 10,000 entries, in first order. */
static void
queue_many_names_coalesce(void **state)
{
    struct pubstate_queue *q;
    char name[32];

    (void)state;
    assert_int_equal(pubstate_queue_create(&q), 0);
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 10000; i++) {
            snprintf(name, sizeof(name), "PJSIP/%05d", i);
            assert_int_equal(pubstate_queue_push(q, name), round == 0);
        }
    }
    assert_int_equal(pubstate_queue_len(q), 10000);
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "PJSIP/%05d", i);
        assert_pop(q, name);
    }
    assert_pop(q, NULL);
    pubstate_queue_destroy(q);
}

static void
queue_clear_and_destroy_with_entries(void **state)
{
    struct pubstate_queue *q;

    (void)state;
    assert_int_equal(pubstate_queue_create(&q), 0);
    pubstate_queue_push(q, "a");
    pubstate_queue_push(q, "b");
    pubstate_queue_clear(q);
    assert_int_equal(pubstate_queue_len(q), 0);
    assert_false(pubstate_queue_contains(q, "a"));
    assert_int_equal(pubstate_queue_push(q, "a"), 1);
    pubstate_queue_destroy(q);
    pubstate_queue_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(queue_is_fifo),
        cmocka_unit_test(queue_coalesces_and_keeps_position),
        cmocka_unit_test(queue_push_front_moves_a_retry_first),
        cmocka_unit_test(queue_many_names_coalesce),
        cmocka_unit_test(queue_clear_and_destroy_with_entries),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

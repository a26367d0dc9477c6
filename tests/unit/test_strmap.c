/*
 * test_strmap.c - the string-keyed map capabilities find their objects with.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "sipbridge/strmap.h"

static void
map_put_get_del(void **state)
{
    struct strmap *m;
    int a = 1, b = 2;

    (void)state;
    assert_int_equal(strmap_create(&m), 0);
    assert_null(strmap_get(m, "x"));
    assert_int_equal(strmap_put(m, "x", &a), 0);
    assert_int_equal(strmap_put(m, "y", &b), 0);
    assert_ptr_equal(strmap_get(m, "x"), &a);
    assert_ptr_equal(strmap_get(m, "y"), &b);
    assert_int_equal(strmap_put(m, "x", &b), 0);      /* replaces */
    assert_ptr_equal(strmap_get(m, "x"), &b);
    strmap_del(m, "x");
    assert_null(strmap_get(m, "x"));
    strmap_del(m, "nothing");
    assert_ptr_equal(strmap_get(m, "y"), &b);
    assert_int_equal(strmap_size(m), 1);
    strmap_destroy(m, NULL);
    strmap_destroy(NULL, NULL);
}

/* 10,000 accounts: growth keeps every key reachable. */
static void
map_many_keys(void **state)
{
    static int vals[20000];
    struct strmap *m;
    char key[32];

    (void)state;
    assert_int_equal(strmap_create(&m), 0);
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "%d", i);
        assert_int_equal(strmap_put(m, key, &vals[i]), 0);
    }
    for (int i = 0; i < 20000; i += 2) {
        snprintf(key, sizeof(key), "%d", i);
        strmap_del(m, key);
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "%d", i);
        if (i % 2)
            assert_ptr_equal(strmap_get(m, key), &vals[i]);
        else
            assert_null(strmap_get(m, key));
    }
    strmap_destroy(m, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(map_put_get_del),
        cmocka_unit_test(map_many_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_metrics.c - the Prometheus text writers: what a scrape looks like.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sipbridge/metrics.h"

/* The writer's output so far, as a string (caller frees). */
static char *
out_text(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = calloc(1, n + 1);

    evbuffer_copyout(b, s, n);
    return s;
}

static void
family_and_samples(void **state)
{
    struct evbuffer *b = evbuffer_new();
    struct metrics_out o = { b, NULL };
    char *s;

    (void)state;
    metrics_family(&o, "sipbridge_x_total", METRICS_COUNTER, "Things.");
    metrics_sample(&o, 3, NULL);
    metrics_sample(&o, 12345678901234.0, "method", "INVITE", "code", "200", NULL);
    metrics_family(&o, "sipbridge_y_seconds", METRICS_GAUGE, "Time.");
    metrics_sample(&o, 0.25, NULL);
    metrics_sample(&o, NAN, "a", "n", NULL);
    metrics_sample(&o, INFINITY, "a", "i", NULL);
    s = out_text(b);
    assert_string_equal(s,
        "# HELP sipbridge_x_total Things.\n"
        "# TYPE sipbridge_x_total counter\n"
        "sipbridge_x_total 3\n"
        "sipbridge_x_total{method=\"INVITE\",code=\"200\"} 12345678901234\n"
        "# HELP sipbridge_y_seconds Time.\n"
        "# TYPE sipbridge_y_seconds gauge\n"
        "sipbridge_y_seconds 0.25\n"
        "sipbridge_y_seconds{a=\"n\"} NaN\n"
        "sipbridge_y_seconds{a=\"i\"} +Inf\n");
    free(s);
    evbuffer_free(b);
}

/* A conference name from the config may hold what the format escapes. */
static void
label_values_escaped(void **state)
{
    struct evbuffer *b = evbuffer_new();
    struct metrics_out o = { b, NULL };
    char *s;

    (void)state;
    metrics_family(&o, "sipbridge_c", METRICS_GAUGE, "C.");
    metrics_sample(&o, 1, "conference", "a\"b\\c\nd", "empty", NULL, NULL);
    s = out_text(b);
    assert_non_null(strstr(s, "sipbridge_c{conference=\"a\\\"b\\\\c\\nd\","
                              "empty=\"\"} 1\n"));
    free(s);
    evbuffer_free(b);
}

static void
histogram_is_cumulative(void **state)
{
    static const double le[] = { 0.01, 0.1, 1 };
    uint64_t counts[4] = { 0 };
    struct metrics_hist h = { le, 3, counts, 0, 0 };
    struct evbuffer *b = evbuffer_new();
    struct metrics_out o = { b, NULL };
    char *s;

    (void)state;
    metrics_hist_observe(&h, 0.005);
    metrics_hist_observe(&h, 0.01);     /* le is inclusive */
    metrics_hist_observe(&h, 0.5);
    metrics_hist_observe(&h, 7);
    metrics_family(&o, "sipbridge_lag_seconds", METRICS_HISTOGRAM, "Lag.");
    metrics_histogram(&o, &h);
    s = out_text(b);
    assert_string_equal(s,
        "# HELP sipbridge_lag_seconds Lag.\n"
        "# TYPE sipbridge_lag_seconds histogram\n"
        "sipbridge_lag_seconds_bucket{le=\"0.01\"} 2\n"
        "sipbridge_lag_seconds_bucket{le=\"0.1\"} 2\n"
        "sipbridge_lag_seconds_bucket{le=\"1\"} 3\n"
        "sipbridge_lag_seconds_bucket{le=\"+Inf\"} 4\n"
        "sipbridge_lag_seconds_sum 7.515\n"
        "sipbridge_lag_seconds_count 4\n");
    free(s);
    evbuffer_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(family_and_samples),
        cmocka_unit_test(label_values_escaped),
        cmocka_unit_test(histogram_is_cumulative),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

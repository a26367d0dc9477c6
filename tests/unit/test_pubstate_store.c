/*
 * test_pubstate_store.c - entity ids, device state names and aggregation
 * (checked against Asterisk's rules), and the per-(name, eid) store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipbridge/pubstate_store.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct pubstate_eid eid_a = { { 0x00, 0x0c, 0x29, 0xab, 0xcd, 0xef } };
static const struct pubstate_eid eid_b = { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 } };
static const struct pubstate_eid eid_c = { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 } };

/* ---- entity ids ---- */

static void
eid_parse_good_and_format(void **state)
{
    struct pubstate_eid e;
    char buf[PUBSTATE_EID_STRLEN];

    (void)state;
    assert_int_equal(pubstate_eid_parse("00:0c:29:ab:cd:ef", &e), 0);
    assert_true(pubstate_eid_equal(&e, &eid_a));
    pubstate_eid_format(&e, buf);
    assert_string_equal(buf, "00:0c:29:ab:cd:ef");

    assert_int_equal(pubstate_eid_parse("ff:FF:00:Aa:09:90", &e), 0);
    pubstate_eid_format(&e, buf);
    assert_string_equal(buf, "ff:ff:00:aa:09:90");
}

static void
eid_parse_upper_case(void **state)
{
    struct pubstate_eid e;

    (void)state;
    assert_int_equal(pubstate_eid_parse("00:0C:29:AB:CD:EF", &e), 0);
    assert_true(pubstate_eid_equal(&e, &eid_a));
    assert_false(pubstate_eid_equal(&e, &eid_b));
}

static void
eid_parse_rejects_bad_forms(void **state)
{
    static const char *const bad[] = {
        "",
        "0:0c:29:ab:cd:ef",          /* short byte */
        "00:0c:29:ab:cd:e",
        "00:0c:29:ab:cd",            /* 5 bytes */
        "00:0c:29:ab:cd:ef:01",      /* 7 bytes */
        "00:0c:29:ab:cd:ef ",        /* trailing junk */
        "00:0c:29:ab:cd:ef\n",
        "00:0c:29:ab:cd:efx",
        " 00:0c:29:ab:cd:ef",
        "00:0g:29:ab:cd:ef",         /* non-hex */
        "00-0c-29-ab-cd-ef",
        "000:c:29:ab:cd:ef",
        "00:0c:29:ab:cd:",
        "+0:0c:29:ab:cd:ef",
        "xyz",
    };
    struct pubstate_eid e = eid_b;

    (void)state;
    for (size_t i = 0; i < NELEM(bad); i++) {
        assert_int_equal(pubstate_eid_parse(bad[i], &e), -EINVAL);
        assert_true(pubstate_eid_equal(&e, &eid_b));
    }
    assert_int_equal(pubstate_eid_parse(NULL, &e), -EINVAL);
}

/* ---- device states ---- */

static void
devstate_names_round_trip(void **state)
{
    static const char *const names[] = {
        "UNKNOWN", "NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE",
        "RINGING", "RINGINUSE", "ONHOLD",
    };

    (void)state;
    for (int i = 0; i < (int)NELEM(names); i++) {
        assert_string_equal(pubstate_devstate_name((enum pubstate_devstate)i),
                            names[i]);
        assert_int_equal(pubstate_devstate_parse(names[i]), i);
    }
    assert_string_equal(pubstate_devstate_name((enum pubstate_devstate)99),
                        "UNKNOWN");
}

static void
devstate_parse_case_insensitive_and_typos(void **state)
{
    (void)state;
    assert_int_equal(pubstate_devstate_parse("inuse"), PUBSTATE_DEV_INUSE);
    assert_int_equal(pubstate_devstate_parse("Not_InUse"),
                     PUBSTATE_DEV_NOT_INUSE);
    assert_int_equal(pubstate_devstate_parse("onhold"), PUBSTATE_DEV_ONHOLD);
    assert_int_equal(pubstate_devstate_parse("INUSED"), PUBSTATE_DEV_UNKNOWN);
    assert_int_equal(pubstate_devstate_parse("IN USE"), PUBSTATE_DEV_UNKNOWN);
    assert_int_equal(pubstate_devstate_parse(""), PUBSTATE_DEV_UNKNOWN);
    assert_int_equal(pubstate_devstate_parse(NULL), PUBSTATE_DEV_UNKNOWN);
}

#define U  PUBSTATE_DEV_UNKNOWN
#define NI PUBSTATE_DEV_NOT_INUSE
#define IU PUBSTATE_DEV_INUSE
#define BZ PUBSTATE_DEV_BUSY
#define IV PUBSTATE_DEV_INVALID
#define UA PUBSTATE_DEV_UNAVAILABLE
#define RG PUBSTATE_DEV_RINGING
#define RI PUBSTATE_DEV_RINGINUSE
#define OH PUBSTATE_DEV_ONHOLD

struct agg_case {
    size_t n;
    enum pubstate_devstate v[4];
    enum pubstate_devstate want;
};

static void
devstate_aggregate_table(void **state)
{
    static const struct agg_case cases[] = {
        { 0, { U }, U },                /* empty */
        { 1, { IV }, IV },              /* INVALID only */
        { 2, { IV, IV }, IV },
        { 2, { IV, U }, U },
        { 2, { U, UA }, UA },
        { 2, { UA, NI }, NI },
        { 2, { OH, NI }, OH },          /* one ONHOLD plus NOT_INUSE */
        { 2, { NI, OH }, OH },
        { 2, { RG, NI }, RG },
        { 2, { RG, IU }, RI },          /* RINGING + INUSE */
        { 2, { IU, RG }, RI },
        { 2, { RG, OH }, RI },          /* RINGING + ONHOLD */
        { 2, { OH, RG }, RI },
        { 2, { RG, BZ }, RI },          /* RINGING + BUSY */
        { 2, { BZ, RG }, RI },
        { 3, { RG, UA, IU }, RI },
        { 2, { IU, BZ }, BZ },
        { 2, { OH, IU }, IU },
        { 2, { BZ, RI }, RI },
        { 1, { RI }, RI },
        { 2, { RG, RG }, RG },
        { 3, { NI, IU, NI }, IU },
        { 4, { IV, U, UA, NI }, NI },
        { 2, { (enum pubstate_devstate)42, IV }, U },  /* out of range */
    };

    (void)state;
    for (size_t i = 0; i < NELEM(cases); i++) {
        enum pubstate_devstate got =
            pubstate_devstate_aggregate(cases[i].v, cases[i].n);

        if (got != cases[i].want)
            fail_msg("case %zu: got %s, want %s", i,
                     pubstate_devstate_name(got),
                     pubstate_devstate_name(cases[i].want));
    }
    assert_int_equal(pubstate_devstate_aggregate(NULL, 0), U);
}

/* ---- the store ---- */

static int
store_setup(void **state)
{
    struct pubstate_store *st = NULL;

    if (pubstate_store_create(&st) != 0)
        return -1;
    *state = st;
    return 0;
}

static int
store_teardown(void **state)
{
    pubstate_store_destroy(*state);
    return 0;
}

static void
store_set_get_and_changed(void **state)
{
    struct pubstate_store *st = *state;
    struct pubstate_device_entry d;
    struct pubstate_mailbox_entry m;

    assert_int_equal(pubstate_store_set_device(st, "PJSIP/6001", &eid_a,
                                               IU, true), 1);
    assert_int_equal(pubstate_store_set_device(st, "PJSIP/6001", &eid_a,
                                               IU, true), 0);
    assert_int_equal(pubstate_store_set_device(st, "PJSIP/6001", &eid_a,
                                               IU, false), 1);
    assert_int_equal(pubstate_store_set_device(st, "PJSIP/6001", &eid_a,
                                               NI, false), 1);
    assert_int_equal(pubstate_store_get_device(st, "PJSIP/6001", &eid_a, &d),
                     0);
    assert_true(pubstate_eid_equal(&d.eid, &eid_a));
    assert_int_equal(d.state, NI);
    assert_false(d.cachable);

    assert_int_equal(pubstate_store_set_mailbox(st, "6001@default", &eid_a,
                                                1, 3), 1);
    assert_int_equal(pubstate_store_set_mailbox(st, "6001@default", &eid_a,
                                                1, 3), 0);
    assert_int_equal(pubstate_store_set_mailbox(st, "6001@default", &eid_a,
                                                0, 4), 1);
    assert_int_equal(pubstate_store_get_mailbox(st, "6001@default", &eid_a,
                                                &m), 0);
    assert_int_equal(m.new_msgs, 0);
    assert_int_equal(m.old_msgs, 4);

    /* Devices and mailboxes are separate name spaces, names exact. */
    assert_int_equal(pubstate_store_get_device(st, "6001@default", &eid_a, &d),
                     -ENOENT);
    assert_int_equal(pubstate_store_get_device(st, "pjsip/6001", &eid_a, &d),
                     -ENOENT);
    assert_int_equal(pubstate_store_get_mailbox(st, "PJSIP/6001", &eid_a, &m),
                     -ENOENT);
    assert_int_equal(pubstate_store_ndevices(st), 1);
    assert_int_equal(pubstate_store_nmailboxes(st), 1);
}

static void
store_per_eid_separation(void **state)
{
    struct pubstate_store *st = *state;
    struct pubstate_device_entry d;
    const struct pubstate_device_entry *e;
    const struct pubstate_mailbox_entry *m;
    size_t n = 99;

    assert_int_equal(pubstate_store_set_device(st, "PJSIP/6001", &eid_a,
                                               IU, true), 1);
    assert_int_equal(pubstate_store_set_device(st, "PJSIP/6001", &eid_b,
                                               NI, true), 1);
    assert_int_equal(pubstate_store_get_device(st, "PJSIP/6001", &eid_a, &d),
                     0);
    assert_int_equal(d.state, IU);
    assert_int_equal(pubstate_store_get_device(st, "PJSIP/6001", &eid_b, &d),
                     0);
    assert_int_equal(d.state, NI);
    assert_int_equal(pubstate_store_get_device(st, "PJSIP/6001", &eid_c, &d),
                     -ENOENT);

    e = pubstate_store_device(st, "PJSIP/6001", &n);
    assert_non_null(e);
    assert_int_equal(n, 2);
    assert_true(pubstate_eid_equal(&e[0].eid, &eid_a));
    assert_true(pubstate_eid_equal(&e[1].eid, &eid_b));
    assert_null(pubstate_store_device(st, "PJSIP/6002", &n));
    assert_int_equal(n, 0);
    assert_int_equal(pubstate_store_ndevices(st), 1);

    assert_int_equal(pubstate_store_set_mailbox(st, "6001", &eid_a, 1, 2), 1);
    assert_int_equal(pubstate_store_set_mailbox(st, "6001", &eid_b, 3, 4), 1);
    m = pubstate_store_mailbox(st, "6001", &n);
    assert_int_equal(n, 2);
    assert_int_equal(m[0].new_msgs, 1);
    assert_int_equal(m[1].old_msgs, 4);
    assert_null(pubstate_store_mailbox(st, "6002", &n));
    assert_int_equal(n, 0);
}

static void
store_aggregate_across_eids(void **state)
{
    struct pubstate_store *st = *state;

    assert_int_equal(pubstate_store_device_aggregate(st, "PJSIP/6001"), U);
    pubstate_store_set_device(st, "PJSIP/6001", &eid_a, NI, true);
    assert_int_equal(pubstate_store_device_aggregate(st, "PJSIP/6001"), NI);
    pubstate_store_set_device(st, "PJSIP/6001", &eid_b, RG, true);
    assert_int_equal(pubstate_store_device_aggregate(st, "PJSIP/6001"), RG);
    pubstate_store_set_device(st, "PJSIP/6001", &eid_c, IU, true);
    assert_int_equal(pubstate_store_device_aggregate(st, "PJSIP/6001"), RI);
    pubstate_store_set_device(st, "PJSIP/6001", &eid_b, NI, true);
    assert_int_equal(pubstate_store_device_aggregate(st, "PJSIP/6001"), IU);
    pubstate_store_set_device(st, "PJSIP/6002", &eid_a, IV, true);
    assert_int_equal(pubstate_store_device_aggregate(st, "PJSIP/6002"), IV);
    assert_int_equal(pubstate_store_device_aggregate(st, NULL), U);
}

struct walk {
    char names[8][32];
    size_t counts[8];
    size_t n;
    size_t stop_after;
};

static int
walk_device(void *arg, const char *name, const struct pubstate_device_entry *e,
            size_t n)
{
    struct walk *w = arg;

    assert_non_null(e);
    snprintf(w->names[w->n], sizeof(w->names[0]), "%s", name);
    w->counts[w->n++] = n;
    return w->n == w->stop_after ? 7 : 0;
}

static int
walk_mailbox(void *arg, const char *name,
             const struct pubstate_mailbox_entry *e, size_t n)
{
    struct walk *w = arg;

    assert_non_null(e);
    snprintf(w->names[w->n], sizeof(w->names[0]), "%s", name);
    w->counts[w->n++] = n;
    return 0;
}

static void
store_foreach_in_insertion_order(void **state)
{
    struct pubstate_store *st = *state;
    static const char *const order[] = { "z", "PJSIP/b", "a", "PJSIP/a", "m" };
    struct walk w = { .n = 0 };

    for (size_t i = 0; i < NELEM(order); i++)
        pubstate_store_set_device(st, order[i], &eid_a, NI, true);
    pubstate_store_set_device(st, "a", &eid_b, NI, true);
    pubstate_store_set_device(st, "z", &eid_a, IU, true);

    assert_int_equal(pubstate_store_foreach_device(st, walk_device, &w), 0);
    assert_int_equal(w.n, NELEM(order));
    for (size_t i = 0; i < NELEM(order); i++)
        assert_string_equal(w.names[i], order[i]);
    assert_int_equal(w.counts[2], 2);
    assert_int_equal(w.counts[0], 1);

    /* A non-zero return stops the walk and is passed back. */
    memset(&w, 0, sizeof(w));
    w.stop_after = 2;
    assert_int_equal(pubstate_store_foreach_device(st, walk_device, &w), 7);
    assert_int_equal(w.n, 2);

    memset(&w, 0, sizeof(w));
    pubstate_store_set_mailbox(st, "2@x", &eid_a, 1, 0);
    pubstate_store_set_mailbox(st, "1@x", &eid_a, 1, 0);
    assert_int_equal(pubstate_store_foreach_mailbox(st, walk_mailbox, &w), 0);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.names[0], "2@x");
    assert_string_equal(w.names[1], "1@x");
}

static void
store_many_names(void **state)
{
    struct pubstate_store *st = *state;
    struct pubstate_device_entry d;
    struct pubstate_mailbox_entry m;
    char name[64];
    enum { N = 20000 };

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "PJSIP/%d", i);
        assert_int_equal(pubstate_store_set_device(
                             st, name, i % 2 ? &eid_a : &eid_b,
                             (enum pubstate_devstate)(i % 9), true), 1);
        snprintf(name, sizeof(name), "%d@default", i);
        assert_int_equal(pubstate_store_set_mailbox(st, name, &eid_a,
                                                    (unsigned)i, 1), 1);
    }
    assert_int_equal(pubstate_store_ndevices(st), N);
    assert_int_equal(pubstate_store_nmailboxes(st), N);
    for (int i = N - 1; i >= 0; i--) {
        snprintf(name, sizeof(name), "PJSIP/%d", i);
        assert_int_equal(pubstate_store_get_device(
                             st, name, i % 2 ? &eid_a : &eid_b, &d), 0);
        assert_int_equal(d.state, i % 9);
        assert_int_equal(pubstate_store_get_device(
                             st, name, i % 2 ? &eid_b : &eid_a, &d), -ENOENT);
        snprintf(name, sizeof(name), "%d@default", i);
        assert_int_equal(pubstate_store_get_mailbox(st, name, &eid_a, &m), 0);
        assert_int_equal(m.new_msgs, (unsigned)i);
    }
    assert_int_equal(pubstate_store_get_device(st, "PJSIP/20000", &eid_a, &d),
                     -ENOENT);
}

static void
store_rejects_bad_names_and_arguments(void **state)
{
    struct pubstate_store *st = *state;
    char name[PUBSTATE_NAME_MAX + 2];
    size_t n = 5;

    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_int_equal(strlen(name), 256);
    assert_int_equal(pubstate_store_set_device(st, name, &eid_a, IU, true),
                     -EINVAL);
    assert_int_equal(pubstate_store_set_mailbox(st, name, &eid_a, 1, 1),
                     -EINVAL);
    assert_null(pubstate_store_device(st, name, &n));
    assert_int_equal(n, 0);

    name[PUBSTATE_NAME_MAX] = '\0';   /* 255 bytes is fine */
    assert_int_equal(pubstate_store_set_device(st, name, &eid_a, IU, true), 1);
    assert_int_equal(pubstate_store_device_aggregate(st, name), IU);

    assert_int_equal(pubstate_store_set_device(st, "", &eid_a, IU, true),
                     -EINVAL);
    assert_int_equal(pubstate_store_set_device(st, NULL, &eid_a, IU, true),
                     -EINVAL);
    assert_int_equal(pubstate_store_set_device(st, "d", NULL, IU, true),
                     -EINVAL);
    assert_int_equal(pubstate_store_set_device(
                         st, "d", &eid_a, (enum pubstate_devstate)9, true),
                     -EINVAL);
    assert_int_equal(pubstate_store_set_device(NULL, "d", &eid_a, IU, true),
                     -EINVAL);
    assert_int_equal(pubstate_store_set_mailbox(st, "", &eid_a, 1, 1),
                     -EINVAL);
    assert_int_equal(pubstate_store_ndevices(st), 1);
    assert_int_equal(pubstate_store_nmailboxes(st), 0);
    assert_int_equal(pubstate_store_create(NULL), -EINVAL);
    pubstate_store_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(eid_parse_good_and_format),
        cmocka_unit_test(eid_parse_upper_case),
        cmocka_unit_test(eid_parse_rejects_bad_forms),
        cmocka_unit_test(devstate_names_round_trip),
        cmocka_unit_test(devstate_parse_case_insensitive_and_typos),
        cmocka_unit_test(devstate_aggregate_table),
        cmocka_unit_test_setup_teardown(store_set_get_and_changed,
                                        store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(store_per_eid_separation,
                                        store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(store_aggregate_across_eids,
                                        store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(store_foreach_in_insertion_order,
                                        store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(store_many_names,
                                        store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(store_rejects_bad_names_and_arguments,
                                        store_setup, store_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

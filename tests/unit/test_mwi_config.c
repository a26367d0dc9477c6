/*
 * test_mwi_config.c - the type=mwi section: checks, defaults, the context
 * to domain map.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/mwi/mwi_int.h"

#define BASE "[udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n" \
             "[pg]\ntype=database\nconninfo=host=/tmp dbname=x\n"

static const struct cfg_type *const types[] = { &mwi_cfg_type };

static char *
errors_of(const char *text)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;
    char *out = calloc(1, 4096);

    if (cfg_load_buffer("x.conf", text, strlen(text), types, 1, &cfg,
                        &errs) == 0) {
        mwi_check_config(cfg, &errs);
        cfg_free(cfg);
    }
    for (size_t i = 0; i < errs.n; i++)
        snprintf(out + strlen(out), 4096 - strlen(out), "%s\n", errs.msgs[i]);
    cfg_errors_clear(&errs);
    return out;
}

static void
assert_error(const char *text, const char *want)
{
    char *got = errors_of(text);

    if (want == NULL ? got[0] != '\0' : strstr(got, want) == NULL) {
        print_error("wanted: %s\ngot: %s\n", want ? want : "(none)", got);
        fail();
    }
    free(got);
}

static void
section_checks(void **state)
{
    (void)state;
    assert_error(BASE "[m]\ntype=mwi\ndatabase=pg\nproxy=sip:10.0.0.1\n",
                 NULL);
    assert_error(BASE "[m]\ntype=mwi\nproxy=sip:10.0.0.1\n",
                 "missing required key 'database'");
    assert_error(BASE "[m]\ntype=mwi\ndatabase=nope\nproxy=sip:10.0.0.1\n",
                 "[m] database=nope: no type=database section [nope]");
    assert_error(BASE "[m]\ntype=mwi\ndatabase=pg\nproxy=10.0.0.1:5060\n",
                 "[m] proxy '10.0.0.1:5060': must be a sip: URI");
    assert_error(BASE "[m]\ntype=mwi\ndatabase=pg\nproxy=sip:10.0.0.1\n"
                 "table=aw-x\n", "[m] table 'aw-x': must be NAME or SCHEMA.NAME");
    assert_error(BASE "[m]\ntype=mwi\ndatabase=pg\nproxy=sip:10.0.0.1\n"
                 "context_domain=example.com\n",
                 "must be CONTEXT:DOMAIN");
    assert_error(BASE "[m]\ntype=mwi\ndatabase=pg\nproxy=sip:10.0.0.1\n"
                 "schema_flavour=freeswitch\n", "[m] schema_flavour");
    assert_error(BASE "[m]\ntype=mwi\ndatabase=pg\nproxy=sip:10.0.0.1\n"
                 "[n]\ntype=mwi\ndatabase=pg\nproxy=sip:10.0.0.1\n",
                 "only one type=mwi section");
}

static void
defaults_and_map(void **state)
{
    const char *text = BASE "[m]\ntype=mwi\ndatabase=pg\n"
                       "proxy=sip:10.0.0.1;transport=tcp\n"
                       "table=kam.active_watchers\n"
                       "context_domain=default:example.com\n"
                       "context_domain=sales:sales.example.com\n";
    struct cfg_errors errs = { 0 };
    struct mwi_cfg c;
    struct cfg *cfg;

    (void)state;
    assert_int_equal(cfg_load_buffer("x.conf", text, strlen(text), types, 1,
                                     &cfg, &errs), 0);
    assert_int_equal(mwi_cfg_read(cfg, &c), 0);
    assert_true(c.enabled);
    assert_string_equal(c.table_sql, "\"kam\".\"active_watchers\"");
    assert_int_equal(c.flavour, MWI_AUTO);
    assert_true(c.delete_gone);
    assert_true(c.timeout_removes);
    assert_int_equal(c.max_retries, 3);
    assert_int_equal(c.max_pending, 10000);
    assert_string_equal(c.contact, "sip:sipbridge@127.0.0.1:5060");
    assert_string_equal(mwi_cfg_domain(&c, "default"), "example.com");
    assert_string_equal(mwi_cfg_domain(&c, ""), "example.com");
    assert_string_equal(mwi_cfg_domain(&c, "sales"), "sales.example.com");
    assert_null(mwi_cfg_domain(&c, "other"));
    mwi_cfg_free(&c);
    cfg_free(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(section_checks),
        cmocka_unit_test(defaults_and_map),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_pubstate_config.c - Asterisk's outbound-publish, inbound-publication
 * and asterisk-publication objects: schemas, cross-section checks, defaults.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/pubstate/pubstate_int.h"
#include "sipbridge/chat.h"
#include "sipbridge/peer.h"
#include "sipbridge/pubstate.h"

#define BASE "[udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n"

/* The documentation's Instance #1, verbatim but for the address. */
#define TWO_INSTANCE \
    "[instance2]\ntype=endpoint\n" \
    "[instance2-devicestate]\ntype=outbound-publish\n" \
    "server_uri=sip:instance1@127.0.0.2\nevent=asterisk-devicestate\n" \
    "[instance2-mwi]\ntype=outbound-publish\n" \
    "server_uri=sip:instance1@127.0.0.2\nevent=asterisk-mwi\n" \
    "[instance2]\ntype=inbound-publication\n" \
    "event_asterisk-devicestate=instance2\nevent_asterisk-mwi=instance2\n" \
    "[instance2]\ntype=asterisk-publication\n" \
    "devicestate_publish=instance2-devicestate\n" \
    "mailboxstate_publish=instance2-mwi\ndevice_state=yes\nmailbox_state=yes\n"

static const struct cfg_type *const types[] = {
    &chat_cfg_type, &peer_endpoint_type, &peer_identify_type, &peer_auth_type,
    &pubstate_outbound_type, &pubstate_inbound_type, &pubstate_asterisk_type,
};

/* Load @p text, run the cross checks; @return the errors, joined. */
static char *
errors_of(const char *text)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;
    size_t len = 1;
    char *out;

    if (cfg_load_buffer("x.conf", text, strlen(text), types,
                        sizeof(types) / sizeof(types[0]), &cfg, &errs) == 0) {
        peer_check_config(cfg, &errs);
        pubstate_check_config(cfg, &errs);
        cfg_free(cfg);
    }
    for (size_t i = 0; i < errs.n; i++)
        len += strlen(errs.msgs[i]) + 1;
    out = calloc(1, len);
    for (size_t i = 0; i < errs.n; i++) {
        strcat(out, errs.msgs[i]);
        strcat(out, "\n");
    }
    cfg_errors_clear(&errs);
    return out;
}

static void
assert_error(const char *text, const char *want)
{
    char *got = errors_of(text);

    if (strstr(got, want) == NULL) {
        print_error("wanted: %s\ngot: %s\n", want, got);
        fail();
    }
    free(got);
}

static void
assert_clean(const char *text)
{
    char *got = errors_of(text);

    if (got[0] != '\0') {
        print_error("unexpected errors: %s\n", got);
        fail();
    }
    free(got);
}

static void
two_instance_example_loads(void **state)
{
    (void)state;
    assert_clean(BASE TWO_INSTANCE);
}

static void
outbound_schema_errors(void **state)
{
    (void)state;
    assert_error(BASE "[p]\ntype=outbound-publish\nevent=asterisk-mwi\n",
                 "x.conf:5: [p] type=outbound-publish: missing required key 'server_uri'");
    assert_error(BASE "[p]\ntype=outbound-publish\nserver_uri=http://x\n"
                 "event=asterisk-mwi\n",
                 "x.conf:7: [p] server_uri 'http://x': not a sip: or sips:");
    assert_error(BASE "[p]\ntype=outbound-publish\nserver_uri=sip:a@b\n"
                 "event=presence\n", "x.conf:8: [p] event");
    assert_error(BASE "[p]\ntype=outbound-publish\nserver_uri=sip:a@b\n"
                 "event=asterisk-mwi\nmulti_user=yes\n",
                 "x.conf:9: [p] multi_user=yes: not supported");
    assert_error(BASE "[p]\ntype=outbound-publish\nserver_uri=sip:a@b\n"
                 "event=asterisk-mwi\n@mailbox_state_filter=(\n",
                 "x.conf:9: [p] @mailbox_state_filter");
    assert_error(BASE "[p]\ntype=outbound-publish\nserver_uri=sip:a@b\n"
                 "event=asterisk-mwi\noutbound_auth=nobody\n",
                 "x.conf:9: [p] outbound_auth=nobody: no type=auth section");
    assert_error(BASE "[p]\ntype=outbound-publish\nserver_uri=sip:a@b\n"
                 "event=asterisk-mwi\noutbound_proxy=proxy\n",
                 "[p] outbound_proxy 'proxy': not a sip: or sips: URI");
}

static void
inbound_errors(void **state)
{
    (void)state;
    assert_error(BASE "[p]\ntype=inbound-publication\nevent_presence=x\n",
                 "x.conf:7: [p] event_presence: unknown event package");
    assert_error(BASE "[a@b]\ntype=inbound-publication\n",
                 "x.conf:5: [a@b] type=inbound-publication: the name is the "
                 "Request-URI user part");
    assert_error(BASE "[p]\ntype=inbound-publication\nendpoint=ghost\n",
                 "x.conf:7: [p] endpoint=ghost: no type=endpoint section "
                 "[ghost]");
    assert_error(BASE "[p]\ntype=inbound-publication\n"
                 "event_asterisk-mwi=ghost\n",
                 "x.conf:7: [p] event_asterisk-mwi=ghost: no "
                 "type=asterisk-publication section");
}

static void
asterisk_publication_errors(void **state)
{
    (void)state;
    assert_error(BASE "[o]\ntype=outbound-publish\nserver_uri=sip:a@b\n"
                 "event=asterisk-mwi\n"
                 "[p]\ntype=asterisk-publication\ndevicestate_publish=o\n",
                 "[p] devicestate_publish=o: that outbound-publish has "
                 "event=asterisk-mwi, not asterisk-devicestate");
    assert_error(BASE "[p]\ntype=asterisk-publication\n"
                 "mailboxstate_publish=none\n",
                 "[p] mailboxstate_publish=none: no type=outbound-publish");
    assert_error(BASE "[p]\ntype=asterisk-publication\n"
                 "device_state_filter=[\n", "[p] device_state_filter");
}

/* One user part, one owner: a conference and a publication collide. */
static void
inbound_name_is_an_owned_user_part(void **state)
{
    (void)state;
    assert_error(BASE "[conf]\ntype=conference\nuser=instance2\n"
                 TWO_INSTANCE, "user part 'instance2' is already owned by "
                 "[conf] (type=conference)");
}

static void
entity_id_is_checked(void **state)
{
    (void)state;
    assert_error(BASE "[g]\ntype=global\nentity_id=00:11:22:33:44\n",
                 "[g] entity_id '00:11:22:33:44': must be six hex bytes");
    assert_error(BASE "[g]\ntype=global\nentity_id=00:11:22:33:44:5g\n",
                 "must be six hex bytes");
    assert_clean(BASE "[g]\ntype=global\nentity_id=00:0C:29:ab:cd:ef\n");
}

static void
outbound_defaults_as_asterisk(void **state)
{
    const char *text = BASE TWO_INSTANCE;
    struct cfg_errors errs = { 0 };
    struct ps_target_cfg *v;
    struct cfg *cfg;
    size_t n;

    (void)state;
    assert_int_equal(cfg_load_buffer("x.conf", text, strlen(text), types,
                                     sizeof(types) / sizeof(types[0]), &cfg,
                                     &errs), 0);
    assert_int_equal(ps_target_cfg_list(cfg, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "instance2-devicestate");
    assert_int_equal(v[0].event, PS_EV_DEVICE);
    assert_int_equal(v[1].event, PS_EV_MWI);
    assert_string_equal(v[0].from_uri, "sip:instance1@127.0.0.2");
    assert_string_equal(v[0].to_uri, "sip:instance1@127.0.0.2");
    assert_int_equal(v[0].expiration, 3600);
    assert_int_equal(v[0].max_auth_attempts, 5);
    assert_null(v[0].proxy);
    assert_false(v[0].filter[PS_EV_DEVICE].set);
    for (size_t i = 0; i < n; i++)
        ps_target_cfg_free(&v[i]);
    free(v);
    cfg_free(cfg);
}

static void
filters_are_case_insensitive_and_unanchored(void **state)
{
    const char *text = BASE "[o]\ntype=outbound-publish\nserver_uri=sip:a@b\n"
                       "event=asterisk-devicestate\n"
                       "@device_state_filter=pjsip/6\n"
                       "outbound_proxy=sip:10.0.0.1\n";
    struct cfg_errors errs = { 0 };
    struct ps_target_cfg *v;
    struct cfg *cfg;
    size_t n;

    (void)state;
    assert_int_equal(cfg_load_buffer("x.conf", text, strlen(text), types,
                                     sizeof(types) / sizeof(types[0]), &cfg,
                                     &errs), 0);
    assert_int_equal(ps_target_cfg_list(cfg, &v, &n), 0);
    assert_true(ps_filter_match(&v[0].filter[PS_EV_DEVICE], "PJSIP/6001"));
    assert_true(ps_filter_match(&v[0].filter[PS_EV_DEVICE], "x-PjSip/600"));
    assert_false(ps_filter_match(&v[0].filter[PS_EV_DEVICE], "SIP/6001"));
    /* No filter: everything passes. */
    assert_true(ps_filter_match(&v[0].filter[PS_EV_MWI], "anything"));
    /* The proxy route is made loose. */
    assert_string_equal(v[0].proxy, "<sip:10.0.0.1;lr>");
    ps_target_cfg_free(&v[0]);
    free(v);
    cfg_free(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_instance_example_loads),
        cmocka_unit_test(outbound_schema_errors),
        cmocka_unit_test(inbound_errors),
        cmocka_unit_test(asterisk_publication_errors),
        cmocka_unit_test(inbound_name_is_an_owned_user_part),
        cmocka_unit_test(entity_id_is_checked),
        cmocka_unit_test(outbound_defaults_as_asterisk),
        cmocka_unit_test(filters_are_case_insensitive_and_unanchored),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_mwi_notify.c - a NOTIFY's header values from an active_watchers row,
 * as Kamailio's presence module builds them, and the RFC 3842 body.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "sipbridge/mwi_notify.h"

#define NOW 1700000000

static struct mwi_watcher
row(void)
{
    struct mwi_watcher w = {
        .id = "7", .callid = "abc@10.0.0.5", .to_tag = "ps-tag",
        .from_tag = "phone-tag", .to_user = "1000", .to_domain = "example.com",
        .sub_user = "alice", .sub_domain = "example.org",
        .contact = "sip:alice@192.0.2.7:5062;ob",
        .record_route = "<sip:10.0.0.1;lr;r2=on>, <sip:10.0.0.2;lr>",
        .local_contact = "sip:10.0.0.2:5060", .event_id = "",
        .socket_info = "udp:10.0.0.2:5060",
        .expires = NOW + 1800, .local_cseq = 4,
    };
    return w;
}

static const struct mwi_counts two_five = { 2, 5, 0, 0 };

static void
headers_from_row(void **state)
{
    struct mwi_watcher w = row();
    struct mwi_notify n;

    (void)state;
    assert_int_equal(mwi_notify_build(&w, &two_five, "sip:*97@example.com",
                                      "sip:sb@127.0.0.1:5060", NOW, &n), 0);
    assert_string_equal(n.ruri, "sip:alice@192.0.2.7:5062;ob");
    /* The notifier's side is From, with the tag the proxy gave its 200. */
    assert_string_equal(n.from, "<sip:1000@example.com>;tag=ps-tag");
    assert_string_equal(n.to, "<sip:alice@example.org>;tag=phone-tag");
    assert_string_equal(n.call_id, "abc@10.0.0.5");
    /* Stored local_cseq is the last CSeq sent - 1 (after our UPDATE). */
    assert_string_equal(n.cseq, "5 NOTIFY");
    assert_string_equal(n.route, "<sip:10.0.0.1;lr;r2=on>, <sip:10.0.0.2;lr>");
    assert_string_equal(n.contact, "<sip:10.0.0.2:5060>");
    assert_string_equal(n.event, "message-summary");
    assert_string_equal(n.substate, "active;expires=1800");
    assert_string_equal(n.body, "Messages-Waiting: yes\r\n"
                                "Message-Account: sip:*97@example.com\r\n"
                                "Voice-Message: 2/5 (0/0)\r\n");
}

static void
event_id_and_tcp_contact(void **state)
{
    struct mwi_watcher w = row();
    struct mwi_notify n;

    (void)state;
    w.event_id = "x1";
    w.socket_info = "tcp:10.0.0.2:5060";
    assert_int_equal(mwi_notify_build(&w, &two_five, NULL, "sip:sb@h", NOW,
                                      &n), 0);
    assert_string_equal(n.event, "message-summary;id=x1");
    assert_string_equal(n.contact, "<sip:10.0.0.2:5060;transport=tcp>");
    /* A transport already there is left alone. */
    w.local_contact = "sip:10.0.0.2:5060;transport=TCP";
    assert_int_equal(mwi_notify_build(&w, &two_five, NULL, "sip:sb@h", NOW,
                                      &n), 0);
    assert_string_equal(n.contact, "<sip:10.0.0.2:5060;transport=TCP>");
    w.socket_info = "tls:10.0.0.2:5061";
    w.local_contact = "sip:10.0.0.2:5061";
    assert_int_equal(mwi_notify_build(&w, &two_five, NULL, "sip:sb@h", NOW,
                                      &n), 0);
    assert_string_equal(n.contact, "<sip:10.0.0.2:5061;transport=tls>");
}

/* fuzz_mwi found it: an expires near LLONG_MIN overflowed the
 * subtraction (UBSan); any past expires is 0 left. */
static void
expires_far_in_the_past_is_zero(void **state)
{
    struct mwi_watcher w = row();
    struct mwi_notify n;

    (void)state;
    w.expires = -9223372036854775807LL;
    assert_int_equal(mwi_notify_build(&w, &two_five, NULL, "sip:sb@h", NOW,
                                      &n), 0);
    assert_string_equal(n.substate, "active;expires=0");
}

static void
fallbacks(void **state)
{
    struct mwi_watcher w = row();
    struct mwi_notify n;

    (void)state;
    w.contact = "";
    w.record_route = "";
    w.local_contact = "";
    w.expires = NOW - 5;
    assert_int_equal(mwi_notify_build(&w, &two_five, NULL,
                                      "sip:sipbridge@127.0.0.1:5060", NOW,
                                      &n), 0);
    assert_string_equal(n.ruri, "sip:alice@example.org");
    assert_string_equal(n.route, "");
    assert_string_equal(n.contact, "<sip:sipbridge@127.0.0.1:5060>");
    assert_string_equal(n.substate, "active;expires=0");
}

static void
unusable_rows(void **state)
{
    struct mwi_watcher w;
    struct mwi_notify n;
    char big[600];

    (void)state;
    w = row(), w.callid = "";
    assert_int_equal(mwi_notify_build(&w, &two_five, NULL, "sip:x@h", NOW, &n),
                     -EINVAL);
    w = row(), w.to_tag = NULL;
    assert_int_equal(mwi_notify_build(&w, &two_five, NULL, "sip:x@h", NOW, &n),
                     -EINVAL);
    w = row(), w.local_cseq = 2147483647LL;
    assert_int_equal(mwi_notify_build(&w, &two_five, NULL, "sip:x@h", NOW, &n),
                     -EINVAL);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    w = row(), w.contact = big;
    assert_int_equal(mwi_notify_build(&w, &two_five, NULL, "sip:x@h", NOW, &n),
                     -EINVAL);
}

static void
body_grammar(void **state)
{
    struct mwi_counts none = { 0, 3, 0, 1 }, urgent = { 4, 1, 2, 0 };
    char buf[256];

    (void)state;
    assert_int_equal(mwi_body_build(buf, sizeof(buf), &none, NULL),
                     (int)strlen("Messages-Waiting: no\r\n"
                                 "Voice-Message: 0/3 (0/1)\r\n"));
    assert_string_equal(buf, "Messages-Waiting: no\r\n"
                             "Voice-Message: 0/3 (0/1)\r\n");
    mwi_body_build(buf, sizeof(buf), &urgent, "sip:vm@example.com");
    assert_string_equal(buf, "Messages-Waiting: yes\r\n"
                             "Message-Account: sip:vm@example.com\r\n"
                             "Voice-Message: 4/1 (2/0)\r\n");
    assert_int_equal(mwi_body_build(buf, 10, &urgent, NULL), -ENOSPC);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(headers_from_row),
        cmocka_unit_test(event_id_and_tcp_contact),
        cmocka_unit_test(fallbacks),
        cmocka_unit_test(expires_far_in_the_past_is_zero),
        cmocka_unit_test(unusable_rows),
        cmocka_unit_test(body_grammar),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* unit_sipfix: the sofia-sip overrides of src/core/sipfix.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <sofia-sip/msg_mime.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_alloc.h>

static msg_multipart_t *
parse(su_home_t *home, const char *ctype, const char *body)
{
    msg_content_type_t *c = sip_content_type_make(home, ctype);
    msg_payload_t *pl = sip_payload_make(home, body);

    assert_non_null(c);
    assert_non_null(pl);
    return msg_multipart_parse(home, c, pl);
}

/* CVE-2026-110658's shape: the library would read past the body. */
static void
boundary_longer_than_body_is_not_parsed(void **state)
{
    su_home_t home[1] = { SU_HOME_INIT(home) };
    char ctype[600] = "multipart/mixed;boundary=";

    (void)state;
    memset(ctype + strlen(ctype), 'x', 500);
    assert_null(parse(home, ctype, "--xx\r\n\r\nhi\r\n--xx--\r\n"));
    assert_null(parse(home, "multipart/mixed;boundary=\"abcdefgh\"", "--abcdefgh"));
    su_home_deinit(home);
}

/* fuzz_sip_message found these: the library asserts (abort) on a
 * delimiter followed by a NUL, and leaks without a boundary parameter. */
static void
delimiter_not_ending_its_line_or_no_boundary_is_not_parsed(void **state)
{
    su_home_t home[1] = { SU_HOME_INIT(home) };
    char body[] = "--unique-boundary-1\0\n--unique-boundary-1--\r\n";
    msg_content_type_t *c = sip_content_type_make(
        home, "multipart/h;boundary=unique-boundary-1");
    msg_payload_t *pl = sip_payload_create(home, body, sizeof(body) - 1);

    (void)state;
    assert_null(msg_multipart_parse(home, c, pl));
    assert_null(parse(home, "multipart/mixed",
                      "--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n"));
    su_home_deinit(home);
}

static void
valid_multipart_still_parses(void **state)
{
    su_home_t home[1] = { SU_HOME_INIT(home) };
    msg_multipart_t *mp;

    (void)state;
    mp = parse(home, "multipart/mixed;boundary=b1",
               "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
               "--b1\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--b1--\r\n");
    assert_non_null(mp);
    assert_non_null(mp->mp_next);
    assert_int_equal(mp->mp_payload->pl_len, 5);
    assert_memory_equal(mp->mp_payload->pl_data, "hello", 5);
    su_home_deinit(home);
}

static void
sip_response_terminates_dialog_keeps_calls(void **state)
{
    int graceful = 1;

    (void)state;
    assert_int_equal(sip_response_terminates_dialog(404, sip_method_info,
                                                    &graceful), 0);
    assert_int_equal(graceful, 0);
    assert_int_equal(sip_response_terminates_dialog(604, sip_method_message,
                                                    NULL), 0);
    assert_int_not_equal(sip_response_terminates_dialog(481, sip_method_invite,
                                                        &graceful), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(boundary_longer_than_body_is_not_parsed),
        cmocka_unit_test(delimiter_not_ending_its_line_or_no_boundary_is_not_parsed),
        cmocka_unit_test(valid_multipart_still_parses),
        cmocka_unit_test(sip_response_terminates_dialog_keeps_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

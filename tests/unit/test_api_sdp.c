/*
 * test_api_sdp.c - the hold/unhold re-offer: direction attributes set, o=
 * version raised, everything else of the application's SDP untouched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../src/api/api_int.h"

static void
direction_replaced_and_version_raised(void **state)
{
    const char *in = "v=0\r\no=a 7 41 IN IP4 10.0.0.1\r\ns=-\r\n"
                     "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n"
                     "a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
                     "m=video 4002 RTP/AVP 96\r\na=sendrecv\r\n";
    char *out = api_sdp_direction(in, "sendonly");

    (void)state;
    assert_non_null(out);
    assert_string_equal(out, "v=0\r\no=a 7 42 IN IP4 10.0.0.1\r\ns=-\r\n"
                             "c=IN IP4 10.0.0.1\r\nt=0 0\r\n"
                             "m=audio 4000 RTP/AVP 0 8\r\n"
                             "a=rtpmap:0 PCMU/8000\r\na=sendonly\r\n"
                             "m=video 4002 RTP/AVP 96\r\na=sendonly\r\n");
    free(out);
}

static void
direction_added_when_absent_and_lf_only(void **state)
{
    const char *in = "v=0\no=a 1 1 IN IP4 h\ns=-\nt=0 0\nm=audio 4 RTP/AVP 0\n";
    char *out = api_sdp_direction(in, "inactive");

    (void)state;
    assert_non_null(out);
    assert_string_equal(out, "v=0\r\no=a 1 2 IN IP4 h\r\ns=-\r\nt=0 0\r\n"
                             "a=inactive\r\nm=audio 4 RTP/AVP 0\r\n");
    free(out);
}

/* fuzz_sdp_direction found it: a direction inside another attribute is
 * no direction line, so one must still be added. */
static void
direction_added_when_only_a_substring_has_one(void **state)
{
    const char *in = "v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n"
                     "a=tool:a=sendrecv\r\nm=audio 4 RTP/AVP 0\r\n";
    char *out = api_sdp_direction(in, "sendonly");

    (void)state;
    assert_non_null(out);
    assert_non_null(strstr(out, "t=0 0\r\na=sendonly\r\n"));
    assert_string_equal(api_sdp_get_direction(out), "sendonly");
    free(out);
}

static void
direction_read_and_answered(void **state)
{
    (void)state;
    assert_string_equal(api_sdp_get_direction("v=0\r\nm=audio 4 RTP/AVP 0\r\n"),
                        "sendrecv");
    assert_string_equal(api_sdp_get_direction("v=0\nt=0 0\na=inactive\n"),
                        "inactive");
    assert_string_equal(api_sdp_get_direction("v=0\r\na=sendonlyx\r\n"
                                              "a=recvonly\r\n"), "recvonly");
    /* RFC 3264 6.1, as a phone on hold expects. */
    assert_string_equal(api_sdp_answer_direction("sendonly", "sendrecv"),
                        "recvonly");
    assert_string_equal(api_sdp_answer_direction("recvonly", "sendrecv"),
                        "sendonly");
    assert_string_equal(api_sdp_answer_direction("inactive", "sendrecv"),
                        "inactive");
    assert_string_equal(api_sdp_answer_direction("sendrecv", "sendrecv"),
                        "sendrecv");
    /* We hold (sendonly) and they hold too: nobody sends. */
    assert_string_equal(api_sdp_answer_direction("sendonly", "sendonly"),
                        "inactive");
    assert_string_equal(api_sdp_answer_direction("sendrecv", "sendonly"),
                        "sendonly");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(direction_replaced_and_version_raised),
        cmocka_unit_test(direction_added_when_absent_and_lf_only),
        cmocka_unit_test(direction_added_when_only_a_substring_has_one),
        cmocka_unit_test(direction_read_and_answered),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

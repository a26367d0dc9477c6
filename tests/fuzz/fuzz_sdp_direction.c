/*
 * fuzz_sdp_direction.c - SDP from outside: the core's guard in front of
 * sofia-sip's parser (include/sipbridge/sdpcheck.h), the SIP API's
 * hold/unhold direction rewriting (src/api/sdp.c: api_sdp_check,
 * api_sdp_get_direction, api_sdp_answer_direction, api_sdp_direction) and
 * the chat conference's answer (chat_sdp_answer, chat_sdp_is_webrtc).
 *
 * Input: SDP text.  The binary-safe functions get it as is; the API's
 * C-string functions get it up to its first NUL, as call.c strndup()s a
 * body.
 *
 * Checks:
 *  - sdpcheck_text accepts, line by line, only what sdpcheck_next_line
 *    and sdpcheck_scan_mline accept, and counts the same m-lines;
 *  - api_sdp_get_direction gives one of the four directions, and the
 *    answer direction follows RFC 3264 6.1;
 *  - the hold/unhold re-offer of an SDP that passes api_sdp_check still
 *    passes it, has as many m-lines, and has the direction asked for;
 *  - chat_sdp_is_webrtc says -EPROTO exactly when chat_sdp_answer does,
 *    and an answer passes sdpcheck with as many m-lines as the offer
 *    (RFC 3264 section 6).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/su_alloc.h>

#include "../../src/api/api_int.h"
#include "fuzz_common.h"
#include "sipbridge/chat_sdp.h"
#include "sipbridge/sdpcheck.h"

static const char *const dirs[] = { "sendrecv", "sendonly", "recvonly",
                                    "inactive" };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_log();
    return 0;
}

static int
dir_index(const char *d)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(d, dirs[i]) == 0)
            return i;
    FUZZ_CHECK(0, "'%s' is not a direction", d);
    return -1;
}

/* sdpcheck_text() against its own line and m-line helpers. */
static void
check_lines(const char *s, size_t len)
{
    unsigned nmedia = 0, counted = 0;
    int rc = sdpcheck_text(s, len, &nmedia);
    size_t pos = 0, n;
    const char *line;
    bool ok = true;

    FUZZ_CHECK(rc == 0 || rc == -EPROTO, "sdpcheck_text returned %d", rc);
    while (sdpcheck_next_line(s, len, &pos, &line, &n)) {
        struct sdpcheck_mline ml;

        FUZZ_CHECK(n > 0 && line >= s && line + n <= s + len &&
                       pos <= len, "a line outside the text");
        if (n >= 2 && line[0] == 'm' && line[1] == '=') {
            counted++;
            if (sdpcheck_scan_mline(line + 2, n - 2, &ml) != 0)
                ok = false;
            else
                FUZZ_CHECK(ml.media_len > 0 && ml.proto_len > 0 &&
                               ml.media >= line && ml.proto > ml.media &&
                               ml.proto + ml.proto_len <= line + n,
                           "m-line parts outside the line");
        }
    }
    if (rc == 0)
        FUZZ_CHECK(ok && nmedia == counted, "accepted with %u m-lines of "
                   "which some do not scan, or counted %u", nmedia, counted);
}

static unsigned
mlines(const char *s)
{
    unsigned n = 0;

    FUZZ_CHECK(sdpcheck_text(s, strlen(s), &n) == 0, "not valid: %s", s);
    return n;
}

/* Has @p s a line starting with @p prefix (and more, if @p longer)? */
static bool
has_line(const char *s, const char *prefix, bool longer)
{
    size_t pl = strlen(prefix);

    while (*s) {
        size_t len = strcspn(s, "\r\n");

        if (len >= pl && strncmp(s, prefix, pl) == 0 && (!longer || len > pl))
            return true;
        s += len;
        s += strspn(s, "\r\n");
    }
    return false;
}

/* The SIP API's view: a C string. */
static void
api_side(const char *s)
{
    int ok = api_sdp_check(s) == 0;
    const char *have = api_sdp_get_direction(s);
    int h = dir_index(have);

    for (int i = 0; i < 4; i++) {
        const char *a = api_sdp_answer_direction(have, dirs[i]);
        int x = dir_index(a);
        /* bit 1: send, bit 2: receive */
        static const int bits[] = { 3, 1, 2, 0 };
        int they = bits[h], want = bits[i], got = bits[x];
        int send = (want & 1) && (they & 2), recv = (want & 2) && (they & 1);

        FUZZ_CHECK(got == (send | (recv << 1)), "answer to %s wanting %s is "
                   "%s", have, dirs[i], a);
    }
    for (int i = 0; i < 4; i++) {
        char *out = api_sdp_direction(s, dirs[i]);

        if (out == NULL)
            continue;
        if (ok) {
            FUZZ_CHECK(api_sdp_check(out) == 0, "the re-offer (%s) of a valid "
                       "SDP is not valid:\n%s\n--- from ---\n%s", dirs[i],
                       out, s);
            FUZZ_CHECK(mlines(out) == mlines(s), "the re-offer changed the "
                       "m-line count");
            FUZZ_CHECK(strcmp(api_sdp_get_direction(out), dirs[i]) == 0 ||
                           !has_line(s, "t=", true),
                       "the re-offer (%s) has direction %s:\n%s\n"
                       "--- from ---\n%s", dirs[i],
                       api_sdp_get_direction(out), out, s);
        }
        free(out);
    }
}

/* The conference's view: binary-safe. */
static void
chat_side(const char *s, size_t len)
{
    static const struct chat_sdp_origin o = {
        "sipbridge", 1234, 2, "127.0.0.1", "chat-only conference"
    };
    char *answer = NULL;
    int rc = chat_sdp_answer(s, len, &o, &answer);
    int web = chat_sdp_is_webrtc(s, len);
    unsigned offered = 0;

    FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM,
               "chat_sdp_answer returned %d", rc);
    FUZZ_CHECK(web == 0 || web == 1 || web == -EPROTO || web == -ENOMEM,
               "chat_sdp_is_webrtc returned %d", web);
    if (rc != -ENOMEM && web != -ENOMEM)
        FUZZ_CHECK((rc == -EPROTO) == (web == -EPROTO),
                   "chat_sdp_answer says %d, chat_sdp_is_webrtc %d", rc, web);
    if (rc != 0)
        return;
    FUZZ_CHECK(sdpcheck_text(s, len, &offered) == 0, "an offer that fails "
               "sdpcheck was answered");
    FUZZ_CHECK(mlines(answer) == offered, "%u m-lines offered, answer:\n%s",
               offered, answer);
    free(answer);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;

    check_lines((const char *)data, size);
    {
        su_home_t *home = su_home_new(sizeof(*home));
        sdp_parser_t *parser = NULL;
        sdp_session_t *sdp = NULL;

        if (home) {
            int rc = sdpcheck_parse(home, (const char *)data, size, &parser,
                                    &sdp);
            FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM,
                       "sdpcheck_parse returned %d", rc);
            FUZZ_CHECK(rc != 0 || sdp != NULL, "success without a session");
            if (parser)
                sdp_parser_free(parser);
            su_home_unref(home);
        }
    }
    s = fuzz_cstring(data, size);
    if (s) {
        api_side(s);
        free(s);
    }
    chat_side((const char *)data, size);
    return 0;
}

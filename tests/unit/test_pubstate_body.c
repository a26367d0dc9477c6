/*
 * test_pubstate_body.c - Asterisk's asterisk-devicestate / asterisk-mwi
 * JSON bodies: byte-exact building, parsing, every rejection with a
 * header-safe reason, and a fixed-seed garbage loop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipbridge/pubstate_body.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define EV_DEV PUBSTATE_EVENT_DEVICE
#define EV_MWI PUBSTATE_EVENT_MWI
#define CT     "application/json"

/* The samples of asterisk-interop.md section 1.1. */
#define SAMPLE_DEVICE "{\"type\":\"devicestate\",\"device\":\"PJSIP/6001\"," \
    "\"state\":\"INUSE\",\"cachable\":1,\"eid\":\"00:0c:29:ab:cd:ef\"}"
#define SAMPLE_MAILBOX "{\"type\":\"mailboxstate\",\"uniqueid\":" \
    "\"6001@default\",\"old\":3,\"new\":1,\"eid\":\"00:0c:29:ab:cd:ef\"}"
#define SAMPLE_REFRESH "{\"type\":\"refresh\",\"eid\":\"00:0c:29:ab:cd:ef\"}"

static const struct pubstate_eid eid_a = { { 0x00, 0x0c, 0x29, 0xab, 0xcd, 0xef } };

/* A reason must fit a quoted SIP header value. */
static void
assert_why_safe(const char *why)
{
    assert_true(strlen(why) <= PUBSTATE_WHY_MAX);
    for (const char *p = why; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;

        assert_true(c >= 0x20 && c <= 0x7e && c != '"' && c != '\\');
    }
}

/* Parse that must fail with a reason containing @p want. */
static void
assert_reject(const char *event, const char *ctype, const char *body,
              const char *want)
{
    struct pubstate_body b;
    char why[256] = "";
    int rc = pubstate_body_parse(event, ctype, body, body ? strlen(body) : 0,
                                 &b, why, sizeof(why));

    if (rc != -EINVAL)
        fail_msg("%s: rc %d, want -EINVAL", body ? body : "(null)", rc);
    assert_null(b.name);
    assert_why_safe(why);
    if (strstr(why, want) == NULL)
        fail_msg("%s: reason '%s' lacks '%s'", body ? body : "(null)", why,
                 want);
}

static void
parse_ok(const char *event, const char *body, struct pubstate_body *b)
{
    char why[256] = "";
    int rc = pubstate_body_parse(event, CT, body, strlen(body), b, why,
                                 sizeof(why));

    if (rc != 0)
        fail_msg("%s: rc %d (%s)", body, rc, why);
}

/* ---- building ---- */

static void
build_matches_asterisk_samples(void **state)
{
    char *s;

    (void)state;
    s = pubstate_body_device("PJSIP/6001", PUBSTATE_DEV_INUSE, &eid_a);
    assert_string_equal(s, SAMPLE_DEVICE);
    free(s);
    s = pubstate_body_mailbox("6001@default", 1, 3, &eid_a);
    assert_string_equal(s, SAMPLE_MAILBOX);
    free(s);
    s = pubstate_body_refresh(&eid_a);
    assert_string_equal(s, SAMPLE_REFRESH);
    free(s);
}

static void
build_escapes_and_clamps(void **state)
{
    char *s;

    (void)state;
    s = pubstate_body_device("a\"b\\c", PUBSTATE_DEV_NOT_INUSE, &eid_a);
    assert_non_null(strstr(s, "\"device\":\"a\\\"b\\\\c\""));
    assert_non_null(strstr(s, "\"state\":\"NOT_INUSE\""));
    free(s);
    s = pubstate_body_mailbox("x", UINT_MAX, 0, &eid_a);
    assert_non_null(strstr(s, "\"new\":2147483647"));
    free(s);
    assert_null(pubstate_body_device(NULL, PUBSTATE_DEV_INUSE, &eid_a));
    assert_null(pubstate_body_device("x", PUBSTATE_DEV_INUSE, NULL));
    assert_null(pubstate_body_device("bad\xff", PUBSTATE_DEV_INUSE, &eid_a));
    assert_null(pubstate_body_mailbox(NULL, 0, 0, &eid_a));
    assert_null(pubstate_body_refresh(NULL));
}

/* ---- parsing good bodies ---- */

static void
parse_asterisk_samples(void **state)
{
    struct pubstate_body b;

    (void)state;
    parse_ok(EV_DEV, SAMPLE_DEVICE, &b);
    assert_int_equal(b.type, PUBSTATE_BODY_DEVICE);
    assert_true(pubstate_eid_equal(&b.eid, &eid_a));
    assert_string_equal(b.name, "PJSIP/6001");
    assert_int_equal(b.state, PUBSTATE_DEV_INUSE);
    assert_true(b.cachable);
    pubstate_body_clear(&b);
    assert_null(b.name);

    parse_ok(EV_MWI, SAMPLE_MAILBOX, &b);
    assert_int_equal(b.type, PUBSTATE_BODY_MAILBOX);
    assert_string_equal(b.name, "6001@default");
    assert_int_equal(b.new_msgs, 1);
    assert_int_equal(b.old_msgs, 3);
    pubstate_body_clear(&b);

    /* A refresh comes with either Event. */
    parse_ok(EV_DEV, SAMPLE_REFRESH, &b);
    assert_int_equal(b.type, PUBSTATE_BODY_REFRESH);
    assert_null(b.name);
    assert_true(pubstate_eid_equal(&b.eid, &eid_a));
    pubstate_body_clear(&b);
    parse_ok(EV_MWI, SAMPLE_REFRESH, &b);
    assert_int_equal(b.type, PUBSTATE_BODY_REFRESH);
    pubstate_body_clear(&b);
    pubstate_body_clear(NULL);
}

static void
parse_round_trips_built_bodies(void **state)
{
    struct pubstate_body b;
    char *s;

    (void)state;
    for (int st = 0; st <= PUBSTATE_DEV_ONHOLD; st++) {
        s = pubstate_body_device("SIP/x y", (enum pubstate_devstate)st,
                                 &eid_a);
        parse_ok(EV_DEV, s, &b);
        assert_int_equal(b.state, st);
        assert_string_equal(b.name, "SIP/x y");
        assert_true(b.cachable);
        pubstate_body_clear(&b);
        free(s);
    }
    s = pubstate_body_mailbox("100", 0, INT_MAX, &eid_a);
    parse_ok(EV_MWI, s, &b);
    assert_int_equal(b.old_msgs, INT_MAX);
    assert_int_equal(b.new_msgs, 0);
    pubstate_body_clear(&b);
    free(s);
}

static void
parse_lenient_where_asterisk_is(void **state)
{
    struct pubstate_body b;

    (void)state;
    /* Upper-case eid, unknown state string, extra keys, no cachable. */
    parse_ok(EV_DEV, "{\"type\":\"devicestate\",\"device\":\"d\",\"state\":"
             "\"inuse\",\"eid\":\"00:0C:29:AB:CD:EF\",\"extra\":[1,{}]}", &b);
    assert_int_equal(b.state, PUBSTATE_DEV_INUSE);
    assert_false(b.cachable);
    assert_true(pubstate_eid_equal(&b.eid, &eid_a));
    pubstate_body_clear(&b);

    parse_ok(EV_DEV, "{\"type\":\"devicestate\",\"device\":\"d\",\"state\":"
             "\"SLEEPING\",\"cachable\":true,\"eid\":\"00:0c:29:ab:cd:ef\"}",
             &b);
    assert_int_equal(b.state, PUBSTATE_DEV_UNKNOWN);
    assert_false(b.cachable);
    pubstate_body_clear(&b);

    parse_ok(EV_DEV, "{\"type\":\"devicestate\",\"device\":\"d\",\"state\":"
             "\"BUSY\",\"cachable\":2,\"eid\":\"00:0c:29:ab:cd:ef\"}", &b);
    assert_false(b.cachable);
    pubstate_body_clear(&b);

    /* Missing counts are 0; whitespace is fine. */
    parse_ok(EV_MWI, " { \"type\" : \"mailboxstate\", \"uniqueid\": \"6001\","
             " \"eid\": \"00:0c:29:ab:cd:ef\" }\n", &b);
    assert_int_equal(b.new_msgs, 0);
    assert_int_equal(b.old_msgs, 0);
    assert_string_equal(b.name, "6001");
    pubstate_body_clear(&b);
}

static void
parse_content_type_forms(void **state)
{
    struct pubstate_body b;
    static const char *const good[] = {
        "application/json", "APPLICATION/JSON", "Application/Json",
        "application/json; charset=utf-8", "application/json;charset=UTF-8",
        " application / json ",
    };
    static const char *const bad[] = {
        "text/plain", "application/jsonx", "application/json-patch+json",
        "application", "json", "", "text/json", "application/xml",
    };

    (void)state;
    for (size_t i = 0; i < NELEM(good); i++) {
        assert_int_equal(pubstate_body_parse(EV_DEV, good[i], SAMPLE_DEVICE,
                                             strlen(SAMPLE_DEVICE), &b, NULL,
                                             0), 0);
        pubstate_body_clear(&b);
    }
    for (size_t i = 0; i < NELEM(bad); i++)
        assert_reject(EV_DEV, bad[i], SAMPLE_DEVICE,
                      "Content-Type must be application/json");
    assert_reject(EV_DEV, NULL, SAMPLE_DEVICE, "Content-Type");
}

static void
parse_event_forms(void **state)
{
    struct pubstate_body b;

    (void)state;
    assert_int_equal(pubstate_body_parse("asterisk-devicestate;id=1", CT,
                                         SAMPLE_DEVICE, strlen(SAMPLE_DEVICE),
                                         &b, NULL, 0), 0);
    pubstate_body_clear(&b);
    assert_reject(NULL, CT, SAMPLE_DEVICE, "Event is missing");
    assert_reject("presence", CT, SAMPLE_DEVICE, "Event must be");
    assert_reject("Asterisk-Devicestate", CT, SAMPLE_DEVICE, "Event must be");
    assert_reject("asterisk-devicestatex", CT, SAMPLE_DEVICE, "Event must be");
}

/* ---- rejections ---- */

#define EID "\"eid\":\"00:0c:29:ab:cd:ef\""

static void
parse_rejects_bad_json(void **state)
{
    (void)state;
    assert_reject(EV_DEV, CT, "{\"type\":", "body is not valid JSON");
    assert_reject(EV_DEV, CT, "{\"type\":\"refresh\"} x", "not valid JSON");
    assert_reject(EV_DEV, CT, "hello", "line 1 column");
    assert_reject(EV_DEV, CT, "[1,2]", "not a JSON object");
    assert_reject(EV_DEV, CT, "\"str\"", "not valid JSON");
    assert_reject(EV_DEV, CT, "", "body is empty");
    assert_reject(EV_DEV, CT, NULL, "body is empty");
    /* Duplicate keys are ambiguous: rejected. */
    assert_reject(EV_DEV, CT, "{\"type\":\"refresh\"," EID "," EID "}",
                  "duplicate");
    /* \u0000 would cut a name short. */
    assert_reject(EV_DEV, CT, "{\"type\":\"devicestate\",\"device\":\"a\\u0000b"
                  "\",\"state\":\"INUSE\"," EID "}", "not valid JSON");
}

static void
parse_rejects_bad_eid_and_type(void **state)
{
    (void)state;
    assert_reject(EV_DEV, CT, "{\"type\":\"refresh\"}", "'eid' is missing");
    assert_reject(EV_DEV, CT, "{\"type\":\"refresh\",\"eid\":5}",
                  "'eid' must be a string");
    assert_reject(EV_DEV, CT, "{\"type\":\"refresh\",\"eid\":null}",
                  "'eid' must be a string");
    assert_reject(EV_DEV, CT, "{\"type\":\"refresh\",\"eid\":\"0:c:29:ab:cd:ef\"}",
                  "'eid' is not six hex bytes xx:xx:xx:xx:xx:xx");
    assert_reject(EV_DEV, CT, "{\"type\":\"refresh\",\"eid\":\"\"}",
                  "not six hex bytes");
    assert_reject(EV_DEV, CT, "{" EID "}", "'type' is missing");
    assert_reject(EV_DEV, CT, "{\"type\":1," EID "}", "'type' must be a string");
    assert_reject(EV_DEV, CT, "{\"type\":\"foo\"," EID "}",
                  "unknown type 'foo'");
    assert_reject(EV_DEV, CT, "{\"type\":\"Refresh\"," EID "}",
                  "unknown type 'Refresh'");
    assert_reject(EV_DEV, CT, SAMPLE_MAILBOX,
                  "type 'mailboxstate' needs Event asterisk-mwi");
    assert_reject(EV_MWI, CT, SAMPLE_DEVICE,
                  "type 'devicestate' needs Event asterisk-devicestate");
}

static void
parse_rejects_bad_device_fields(void **state)
{
    char body[600], name[300];

    (void)state;
    assert_reject(EV_DEV, CT, "{\"type\":\"devicestate\",\"state\":\"INUSE\","
                  EID "}", "'device' must be a non-empty string");
    assert_reject(EV_DEV, CT, "{\"type\":\"devicestate\",\"device\":\"\","
                  "\"state\":\"INUSE\"," EID "}",
                  "'device' must be a non-empty string");
    assert_reject(EV_DEV, CT, "{\"type\":\"devicestate\",\"device\":7,"
                  "\"state\":\"INUSE\"," EID "}", "'device' must be");
    assert_reject(EV_DEV, CT, "{\"type\":\"devicestate\",\"device\":\"d\","
                  EID "}", "'state' must be a non-empty string");
    assert_reject(EV_DEV, CT, "{\"type\":\"devicestate\",\"device\":\"d\","
                  "\"state\":\"\"," EID "}", "'state' must be");
    assert_reject(EV_DEV, CT, "{\"type\":\"devicestate\",\"device\":\"d\","
                  "\"state\":2," EID "}", "'state' must be");
    assert_reject(EV_DEV, CT, "{\"type\":\"devicestate\",\"device\":\"d\","
                  "\"state\":\"INUSE\",\"cachable\":\"1\"," EID "}",
                  "wrong type");
    assert_reject(EV_DEV, CT, "{\"type\":\"devicestate\",\"device\":\"d\","
                  "\"state\":\"INUSE\",\"cachable\":{}," EID "}",
                  "'cachable' has the wrong type");
    assert_reject(EV_DEV, CT, "{\"type\":\"devicestate\",\"device\":\"d\","
                  "\"state\":\"INUSE\",\"cachable\":1.0," EID "}",
                  "wrong type");

    memset(name, 'n', 256);
    name[256] = '\0';
    snprintf(body, sizeof(body), "{\"type\":\"devicestate\",\"device\":\"%s\","
             "\"state\":\"INUSE\"," EID "}", name);
    assert_reject(EV_DEV, CT, body, "longer than 255");
    name[255] = '\0';
    snprintf(body, sizeof(body), "{\"type\":\"devicestate\",\"device\":\"%s\","
             "\"state\":\"INUSE\"," EID "}", name);
    {
        struct pubstate_body b;

        parse_ok(EV_DEV, body, &b);
        assert_int_equal(strlen(b.name), 255);
        pubstate_body_clear(&b);
    }
}

static void
parse_rejects_bad_mailbox_fields(void **state)
{
    (void)state;
    assert_reject(EV_MWI, CT, "{\"type\":\"mailboxstate\",\"new\":1," EID "}",
                  "'uniqueid' must be a non-empty string");
    assert_reject(EV_MWI, CT, "{\"type\":\"mailboxstate\",\"uniqueid\":\"\","
                  EID "}", "'uniqueid' must be a non-empty string");
    assert_reject(EV_MWI, CT, "{\"type\":\"mailboxstate\",\"uniqueid\":\"u\","
                  "\"new\":-1," EID "}", "'new' must be a non-negative integer");
    assert_reject(EV_MWI, CT, "{\"type\":\"mailboxstate\",\"uniqueid\":\"u\","
                  "\"new\":\"5\"," EID "}", "'new' must be a non-negative");
    assert_reject(EV_MWI, CT, "{\"type\":\"mailboxstate\",\"uniqueid\":\"u\","
                  "\"old\":1.5," EID "}", "'old' must be a non-negative");
    assert_reject(EV_MWI, CT, "{\"type\":\"mailboxstate\",\"uniqueid\":\"u\","
                  "\"old\":null," EID "}", "'old' must be a non-negative");
    assert_reject(EV_MWI, CT, "{\"type\":\"mailboxstate\",\"uniqueid\":\"u\","
                  "\"old\":2147483648," EID "}", "'old' is larger than");
}

static void
parse_rejects_huge_body(void **state)
{
    size_t n = PUBSTATE_BODY_MAX + 1;
    char *big = malloc(n + 1);
    struct pubstate_body b;
    char why[256];

    (void)state;
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, SAMPLE_REFRESH, strlen(SAMPLE_REFRESH));
    big[n] = '\0';
    assert_int_equal(pubstate_body_parse(EV_DEV, CT, big, n, &b, why,
                                         sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "larger than"));
    /* One byte less is fine: trailing blanks are valid JSON. */
    assert_int_equal(pubstate_body_parse(EV_DEV, CT, big, n - 1, &b, why,
                                         sizeof(why)), 0);
    pubstate_body_clear(&b);
    free(big);
}

static void
why_is_header_safe_and_bounded(void **state)
{
    struct pubstate_body b;
    char why[256], small[8];
    char body[1024];
    int rc;

    (void)state;
    /* Quotes, backslashes and controls in peer text do not leak. */
    assert_reject(EV_DEV, CT, "{\"type\":\"a\\\"b\\\\c\\td\\r\\n\"," EID "}",
                  "unknown type 'a'b?c?d?" "?'");
    assert_reject(EV_DEV, CT, "{\"device\":\"PJSIP/\\\"evil\\\"\\r\\nX: y\"",
                  "not valid JSON");
    assert_reject(EV_DEV, CT, "\"\\\"\x01\xff", "not valid JSON");

    /* A long type name is cut; the reason never passes 200 bytes. */
    memset(body, 0, sizeof(body));
    strcpy(body, "{\"type\":\"");
    memset(body + strlen(body), 'q', 600);
    strcat(body, "\"," EID "}");
    assert_reject(EV_DEV, CT, body, "unknown type 'qqq");
    memset(body, 0, sizeof(body));
    memset(body, '[', 900);
    assert_reject(EV_DEV, CT, body, "not valid JSON");

    /* A small buffer gets a truncated, terminated reason. */
    rc = pubstate_body_parse(EV_DEV, CT, "{}", 2, &b, small, sizeof(small));
    assert_int_equal(rc, -EINVAL);
    assert_string_equal(small, "'eid' i");
    rc = pubstate_body_parse(EV_DEV, CT, "{}", 2, &b, NULL, 0);
    assert_int_equal(rc, -EINVAL);
    rc = pubstate_body_parse(EV_DEV, CT, "{}", 2, NULL, why, sizeof(why));
    assert_int_equal(rc, -EINVAL);
}

/* ---- garbage ---- */

static uint32_t
rnd(uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*state >> 33);
}

static void
parse_random_garbage_never_crashes(void **state)
{
    static const char *const tokens[] = {
        "{", "}", "[", "]", ":", ",", "\"", "\\", "\"type\"", "\"eid\"",
        "\"devicestate\"", "\"mailboxstate\"", "\"refresh\"", "\"device\"",
        "\"state\"", "\"cachable\"", "\"uniqueid\"", "\"new\"", "\"old\"",
        "\"00:0c:29:ab:cd:ef\"", "\"INUSE\"", "1", "-1", "1e999", "null",
        "true", "\"\\u0000\"", "\"\\ud800\"", "\xff", " ", "\n",
        "99999999999999999999",
    };
    uint64_t seed = 7;
    char buf[512], why[256];

    (void)state;
    for (int iter = 0; iter < 1000; iter++) {
        size_t want = rnd(&seed) % (sizeof(buf) - 32), len = 0;
        struct pubstate_body b;
        int rc;

        while (len < want) {
            if (rnd(&seed) % 5 == 0) {
                buf[len++] = (char)rnd(&seed);
            } else {
                const char *t = tokens[rnd(&seed) % NELEM(tokens)];

                memcpy(buf + len, t, strlen(t));
                len += strlen(t);
            }
        }
        why[0] = '\0';
        rc = pubstate_body_parse(iter % 2 ? EV_DEV : EV_MWI, CT, buf, len,
                                 &b, why, sizeof(why));
        assert_true(rc == 0 || rc == -EINVAL);
        if (rc == 0) {
            assert_true(b.type == PUBSTATE_BODY_REFRESH || b.name != NULL);
            pubstate_body_clear(&b);
        } else {
            assert_null(b.name);
            assert_true(why[0] != '\0');
            assert_why_safe(why);
        }
    }
}

/* Valid bodies with random field damage, so the later checks get hit. */
static void
parse_random_mutations_of_samples(void **state)
{
    static const char *const samples[] = {
        SAMPLE_DEVICE, SAMPLE_MAILBOX, SAMPLE_REFRESH,
    };
    uint64_t seed = 11;
    char buf[256], why[256];

    (void)state;
    for (int iter = 0; iter < 3000; iter++) {
        const char *s = samples[iter % NELEM(samples)];
        size_t len = strlen(s);
        struct pubstate_body b;
        int rc;

        memcpy(buf, s, len);
        for (int k = 1 + (int)(rnd(&seed) % 3); k > 0; k--)
            buf[rnd(&seed) % len] = (char)(rnd(&seed) % 128);
        rc = pubstate_body_parse(rnd(&seed) % 2 ? EV_DEV : EV_MWI, CT, buf,
                                 len, &b, why, sizeof(why));
        assert_true(rc == 0 || rc == -EINVAL);
        if (rc == 0)
            pubstate_body_clear(&b);
        else
            assert_why_safe(why);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_matches_asterisk_samples),
        cmocka_unit_test(build_escapes_and_clamps),
        cmocka_unit_test(parse_asterisk_samples),
        cmocka_unit_test(parse_round_trips_built_bodies),
        cmocka_unit_test(parse_lenient_where_asterisk_is),
        cmocka_unit_test(parse_content_type_forms),
        cmocka_unit_test(parse_event_forms),
        cmocka_unit_test(parse_rejects_bad_json),
        cmocka_unit_test(parse_rejects_bad_eid_and_type),
        cmocka_unit_test(parse_rejects_bad_device_fields),
        cmocka_unit_test(parse_rejects_bad_mailbox_fields),
        cmocka_unit_test(parse_rejects_huge_body),
        cmocka_unit_test(why_is_header_safe_and_bounded),
        cmocka_unit_test(parse_random_garbage_never_crashes),
        cmocka_unit_test(parse_random_mutations_of_samples),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

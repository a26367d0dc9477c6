/*
 * test_chat_events.c - ConfBridge event bodies, field by field.
 *
 * Every body is parsed back with jansson and its keys are checked in
 * order, with their types and formats, against what Asterisk's
 * confbridge_manager.c emits (docs/conference-events.md).  One body is
 * also compared byte for byte, since clients see the text, not the tree.
 * An allocator hook fails jansson's Nth allocation to check that every
 * failure path returns NULL/ENOMEM and frees what it built.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "sipbridge/chat_events.h"

/* 2026-11-23T01:02:03.456Z, and two earlier instants. */
#define T_NOW     1795395723.456
#define T_BRIDGE  1795395540.0
#define T_ALICE   1795395600.25
#define T_BOB     1795395700.999

static const struct chat_ev_bridge bridge = {
    .id = "6f1c2a5e-9a7b-4c1e-8f00-0d3c2b1a0987",
    .name = "sales",
    .video_mode = NULL,
    .created = T_BRIDGE,
};

static const struct chat_ev_channel alice = {
    .id = "1795395600.1",
    .name = "PJSIP/alice-00000001",
    .protocol_id = "a84b4c76e66710@pc33.example.com",
    .caller_name = "Alice",
    .caller_number = "alice",
    .language = NULL,
    .created = T_ALICE,
};

static const struct chat_ev_channel bob = {
    .id = "1795395700.2",
    .name = "PJSIP/bob-00000002",
    .protocol_id = "bob-call-id",
    .caller_name = "Bob",
    .caller_number = "1002",
    .language = "fr",
    .created = T_BOB,
    .admin = 1,
    .muted = 1,
    .talking = 1,
};

/* ---- helpers ---- */

/* Build, check the result is a JSON object, and return it parsed. */
static json_t *
build_parse(const char *type, const struct chat_ev_bridge *b,
            const struct chat_ev_channel *chans, size_t n, double now)
{
    json_error_t jerr;
    json_t *root;
    char *s;

    s = chat_events_build(type, b, chans, n, now);
    assert_non_null(s);
    root = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        fail_msg("invalid JSON (%s) in:\n%s", jerr.text, s);
    free(s);
    assert_true(json_is_object(root));
    return root;
}

/* The object has exactly these keys, in this order (NULL-terminated). */
static void
assert_keys(const json_t *o, const char *const *keys)
{
    void *it = json_object_iter((json_t *) o);
    size_t i;

    for (i = 0; keys[i] != NULL; i++) {
        if (it == NULL)
            fail_msg("missing key \"%s\" (position %zu)", keys[i], i);
        assert_string_equal(json_object_iter_key(it), keys[i]);
        it = json_object_iter_next((json_t *) o, it);
    }
    if (it != NULL)
        fail_msg("unexpected key \"%s\"", json_object_iter_key(it));
}

static void
assert_str(const json_t *o, const char *key, const char *want)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        fail_msg("\"%s\" is not a string", key);
    assert_string_equal(json_string_value(v), want);
}

static void
assert_bool(const json_t *o, const char *key, int want)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_boolean(v))
        fail_msg("\"%s\" is not a boolean", key);
    assert_int_equal(json_is_true(v), want != 0);
}

/* ast_json_timeval(): "%FT%T.%q%z", e.g. 2026-11-23T01:02:03.456+0000. */
static void
assert_time(const json_t *o, const char *key, const char *want)
{
    const char *re_src = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
                         ":[0-9]{2}\\.[0-9]{3}[+-][0-9]{4}$";
    const json_t *v = json_object_get(o, key);
    regex_t re;

    if (!json_is_string(v))
        fail_msg("\"%s\" is not a string", key);
    assert_int_equal(regcomp(&re, re_src, REG_EXTENDED | REG_NOSUB), 0);
    if (regexec(&re, json_string_value(v), 0, NULL, 0) != 0) {
        regfree(&re);
        fail_msg("\"%s\" = \"%s\" is not Asterisk's time format", key,
                 json_string_value(v));
    }
    regfree(&re);
    assert_string_equal(json_string_value(v), want);
}

static const json_t *
get_obj(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_object(v))
        fail_msg("\"%s\" is not an object", key);
    return v;
}

static const json_t *
get_channels(const json_t *root, size_t want_n)
{
    const json_t *a = json_object_get(root, "channels");

    if (!json_is_array(a))
        fail_msg("\"channels\" is not an array");
    assert_int_equal(json_array_size(a), want_n);
    return a;
}

static void
check_top(const json_t *root, const char *type)
{
    static const char *const keys[] = {
        "type", "timestamp", "bridge", "channels", NULL
    };

    assert_keys(root, keys);
    assert_str(root, "type", type);
    assert_time(root, "timestamp", "2026-11-23T01:02:03.456+0000");
}

static void
check_bridge(const json_t *root)
{
    static const char *const keys[] = {
        "id", "name", "creationtime", "video_mode", NULL
    };
    const json_t *b = get_obj(root, "bridge");

    assert_keys(b, keys);
    assert_str(b, "id", "6f1c2a5e-9a7b-4c1e-8f00-0d3c2b1a0987");
    assert_str(b, "name", "sales");
    assert_time(b, "creationtime", "2026-11-23T00:59:00.000+0000");
    assert_str(b, "video_mode", "none");
}

/* The snapshot part common to every event, for alice or bob. */
static void
check_snapshot(const json_t *c, const struct chat_ev_channel *want,
               const char *want_created, const char *want_lang)
{
    static const char *const caller_keys[] = { "name", "number", NULL };
    const json_t *caller;

    assert_str(c, "id", want->id);
    assert_str(c, "name", want->name);
    assert_str(c, "state", "Up");
    assert_str(c, "protocol_id", want->protocol_id);
    caller = get_obj(c, "caller");
    assert_keys(caller, caller_keys);
    assert_str(caller, "name", want->caller_name);
    assert_str(caller, "number", want->caller_number);
    assert_time(c, "creationtime", want_created);
    assert_str(c, "language", want_lang);
}

#define SNAPSHOT_KEYS \
    "id", "name", "state", "protocol_id", "caller", "creationtime", "language"

static void
check_alice(const json_t *c, const char *const *keys)
{
    assert_keys(c, keys);
    check_snapshot(c, &alice, "2026-11-23T01:00:00.250+0000", "en");
}

static void
check_bob(const json_t *c, const char *const *keys)
{
    assert_keys(c, keys);
    check_snapshot(c, &bob, "2026-11-23T01:01:40.999+0000", "fr");
}

/* ---- the events ---- */

static void
test_welcome(void **state)
{
    static const char *const keys[] = { SNAPSHOT_KEYS, "admin", "muted", NULL };
    struct chat_ev_channel both[2] = { alice, bob };
    const json_t *chans;
    json_t *root;

    (void) state;
    root = build_parse(CHAT_EV_WELCOME, &bridge, both, 2, T_NOW);
    check_top(root, "ConfbridgeWelcome");
    check_bridge(root);
    chans = get_channels(root, 2);
    check_alice(json_array_get(chans, 0), keys);
    assert_bool(json_array_get(chans, 0), "admin", 0);
    assert_bool(json_array_get(chans, 0), "muted", 0);
    check_bob(json_array_get(chans, 1), keys);
    assert_bool(json_array_get(chans, 1), "admin", 1);
    assert_bool(json_array_get(chans, 1), "muted", 1);
    json_decref(root);
}

static void
test_join(void **state)
{
    static const char *const keys[] = { SNAPSHOT_KEYS, "admin", "muted", NULL };
    json_t *root;

    (void) state;
    root = build_parse(CHAT_EV_JOIN, &bridge, &alice, 1, T_NOW);
    check_top(root, "ConfbridgeJoin");
    check_bridge(root);
    check_alice(json_array_get(get_channels(root, 1), 0), keys);
    assert_bool(json_array_get(get_channels(root, 1), 0), "admin", 0);
    assert_bool(json_array_get(get_channels(root, 1), 0), "muted", 0);
    json_decref(root);
}

/* Leave, Mute and Unmute carry only "admin" (send_leave_event() etc.). */
static void
check_admin_only(const char *type, const struct chat_ev_channel *c)
{
    static const char *const keys[] = { SNAPSHOT_KEYS, "admin", NULL };
    const json_t *ch;
    json_t *root;

    root = build_parse(type, &bridge, c, 1, T_NOW);
    check_top(root, type);
    check_bridge(root);
    ch = json_array_get(get_channels(root, 1), 0);
    if (c == &bob)
        check_bob(ch, keys);
    else
        check_alice(ch, keys);
    assert_bool(ch, "admin", c->admin);
    json_decref(root);
}

static void
test_leave(void **state)
{
    (void) state;
    check_admin_only(CHAT_EV_LEAVE, &alice);
    check_admin_only(CHAT_EV_LEAVE, &bob);
}

static void
test_mute_unmute(void **state)
{
    (void) state;
    check_admin_only(CHAT_EV_MUTE, &bob);
    check_admin_only(CHAT_EV_UNMUTE, &alice);
}

static void
test_talking(void **state)
{
    static const char *const keys[] = {
        SNAPSHOT_KEYS, "talking_status", "admin", NULL
    };
    const json_t *ch;
    json_t *root;

    (void) state;
    root = build_parse(CHAT_EV_TALKING, &bridge, &bob, 1, T_NOW);
    check_top(root, "ConfbridgeTalking");
    ch = json_array_get(get_channels(root, 1), 0);
    check_bob(ch, keys);
    assert_str(ch, "talking_status", "on");
    assert_bool(ch, "admin", 1);
    json_decref(root);

    root = build_parse(CHAT_EV_TALKING, &bridge, &alice, 1, T_NOW);
    ch = json_array_get(get_channels(root, 1), 0);
    check_alice(ch, keys);
    assert_str(ch, "talking_status", "off");
    assert_bool(ch, "admin", 0);
    json_decref(root);
}

/* Bridge-level events: Asterisk has no channel, so "channels" is []. */
static void
test_record(void **state)
{
    json_t *root;

    (void) state;
    root = build_parse(CHAT_EV_RECORD, &bridge, NULL, 0, T_NOW);
    check_top(root, "ConfbridgeRecord");
    check_bridge(root);
    get_channels(root, 0);
    json_decref(root);

    root = build_parse(CHAT_EV_STOP_RECORD, &bridge, NULL, 0, T_NOW);
    check_top(root, "ConfbridgeStopRecord");
    get_channels(root, 0);
    json_decref(root);
}

/*
 * The exact text, pretty-printed as json_dumps(JSON_INDENT(2)) does in
 * ast_json_dump_string_format(AST_JSON_PRETTY): 2-space indent, ": " and
 * no trailing newline.
 */
static void
test_join_text(void **state)
{
    static const char want[] =
        "{\n"
        "  \"type\": \"ConfbridgeJoin\",\n"
        "  \"timestamp\": \"2026-11-23T01:02:03.456+0000\",\n"
        "  \"bridge\": {\n"
        "    \"id\": \"6f1c2a5e-9a7b-4c1e-8f00-0d3c2b1a0987\",\n"
        "    \"name\": \"sales\",\n"
        "    \"creationtime\": \"2026-11-23T00:59:00.000+0000\",\n"
        "    \"video_mode\": \"none\"\n"
        "  },\n"
        "  \"channels\": [\n"
        "    {\n"
        "      \"id\": \"1795395600.1\",\n"
        "      \"name\": \"PJSIP/alice-00000001\",\n"
        "      \"state\": \"Up\",\n"
        "      \"protocol_id\": \"a84b4c76e66710@pc33.example.com\",\n"
        "      \"caller\": {\n"
        "        \"name\": \"Alice\",\n"
        "        \"number\": \"alice\"\n"
        "      },\n"
        "      \"creationtime\": \"2026-11-23T01:00:00.250+0000\",\n"
        "      \"language\": \"en\",\n"
        "      \"admin\": false,\n"
        "      \"muted\": false\n"
        "    }\n"
        "  ]\n"
        "}";
    char *s;

    (void) state;
    s = chat_events_build(CHAT_EV_JOIN, &bridge, &alice, 1, T_NOW);
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
}

static void
test_video_mode(void **state)
{
    struct chat_ev_bridge b = bridge;
    json_t *root;

    (void) state;
    b.video_mode = "sfu";
    root = build_parse(CHAT_EV_RECORD, &b, NULL, 0, T_NOW);
    assert_str(get_obj(root, "bridge"), "video_mode", "sfu");
    json_decref(root);
}

/* ---- unusual input ---- */

static void
test_unusual_strings(void **state)
{
    /* Quote, backslash, slash, C0 controls, DEL, 2/3/4-byte UTF-8. */
    static const char nasty[] =
        "\"Bob\" \\o/ </script>\x01\x1f\t\r\n\x7f caf\xc3\xa9 "
        "\xe2\x82\xac \xf0\x9f\x8e\x89";
    struct chat_ev_bridge b = bridge;
    struct chat_ev_channel c = alice;
    const json_t *ch;
    json_t *root;

    (void) state;
    b.name = nasty;
    b.id = "{\"x\": [1, 2]}";
    c.caller_name = nasty;
    c.caller_number = "+1 (555) \"0100\"";
    c.name = "PJSIP/\xe5\xb1\xb1\xe7\x94\xb0-00000003";
    root = build_parse(CHAT_EV_JOIN, &b, &c, 1, T_NOW);
    assert_str(get_obj(root, "bridge"), "name", nasty);
    assert_str(get_obj(root, "bridge"), "id", "{\"x\": [1, 2]}");
    ch = json_array_get(get_channels(root, 1), 0);
    assert_str(get_obj(ch, "caller"), "name", nasty);
    assert_str(get_obj(ch, "caller"), "number", "+1 (555) \"0100\"");
    assert_str(ch, "name", "PJSIP/\xe5\xb1\xb1\xe7\x94\xb0-00000003");
    json_decref(root);
}

/* Invalid UTF-8 and NULL become "", as Asterisk's caller id does. */
static void
test_invalid_utf8_and_null(void **state)
{
    struct chat_ev_bridge b = { 0 };
    struct chat_ev_channel c = { 0 };
    const json_t *ch;
    json_t *root;

    (void) state;
    b.name = "bad \xff\xfe";
    c.caller_name = "overlong \xc0\xaf";
    c.caller_number = "cut \xe2\x82";
    c.id = "surrogate \xed\xa0\x80";
    root = build_parse(CHAT_EV_JOIN, &b, &c, 1, T_NOW);
    assert_str(get_obj(root, "bridge"), "id", "");
    assert_str(get_obj(root, "bridge"), "name", "");
    assert_str(get_obj(root, "bridge"), "video_mode", "none");
    assert_time(get_obj(root, "bridge"), "creationtime",
                "1970-01-01T00:00:00.000+0000");
    ch = json_array_get(get_channels(root, 1), 0);
    assert_str(ch, "id", "");
    assert_str(ch, "name", "");
    assert_str(ch, "protocol_id", "");
    assert_str(get_obj(ch, "caller"), "name", "");
    assert_str(get_obj(ch, "caller"), "number", "");
    assert_str(ch, "language", "en");
    json_decref(root);
}

static void
test_zero_channels(void **state)
{
    json_t *root;

    (void) state;
    root = build_parse(CHAT_EV_WELCOME, &bridge, NULL, 0, T_NOW);
    check_top(root, "ConfbridgeWelcome");
    check_bridge(root);
    get_channels(root, 0);
    json_decref(root);
}

static void
test_many_channels(void **state)
{
    enum { N = 2000 };
    struct chat_ev_channel *cs;
    const json_t *a;
    char (*ids)[32];
    json_t *root;
    size_t i;

    (void) state;
    cs = calloc(N, sizeof(*cs));
    ids = calloc(N, sizeof(*ids));
    assert_non_null(cs);
    assert_non_null(ids);
    for (i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "1795395600.%zu", i);
        cs[i] = alice;
        cs[i].id = ids[i];
    }
    root = build_parse(CHAT_EV_WELCOME, &bridge, cs, N, T_NOW);
    a = get_channels(root, N);
    for (i = 0; i < N; i++)
        assert_str(json_array_get(a, i), "id", ids[i]);
    json_decref(root);
    free(ids);
    free(cs);
}

static void
test_bad_args(void **state)
{
    (void) state;
    errno = 0;
    assert_null(chat_events_build("ConfbridgeFoo", &bridge, &alice, 1, T_NOW));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(chat_events_build("confbridgejoin", &bridge, &alice, 1, T_NOW));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(chat_events_build(NULL, &bridge, &alice, 1, T_NOW));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(chat_events_build(CHAT_EV_JOIN, NULL, &alice, 1, T_NOW));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(chat_events_build(CHAT_EV_JOIN, &bridge, NULL, 1, T_NOW));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(chat_events_build(CHAT_EV_RECORD, &bridge, &alice, 1, T_NOW));
    assert_int_equal(errno, EINVAL);
}

/* ---- timestamps ---- */

static void
check_time(double t, const char *want)
{
    char buf[CHAT_EVENTS_TIME_LEN];

    assert_string_equal(chat_events_time(buf, t), want);
}

static void
test_time(void **state)
{
    (void) state;
    check_time(0, "1970-01-01T00:00:00.000+0000");
    check_time(T_NOW, "2026-11-23T01:02:03.456+0000");
    /* Truncated like %q, after rounding away binary fractions. */
    check_time(1795395723.9999, "2026-11-23T01:02:03.999+0000");
    check_time(1795395723.123, "2026-11-23T01:02:03.123+0000");
    check_time(1795395723.0009999999, "2026-11-23T01:02:03.001+0000");
    check_time(0.0019999999, "1970-01-01T00:00:00.002+0000");
    check_time(951782400.5, "2000-02-29T00:00:00.500+0000");
    /* Garbage in, a well-formed time out. */
    check_time(-1.5, "1970-01-01T00:00:00.000+0000");
    check_time(0.0 / 0.0, "1970-01-01T00:00:00.000+0000");
    check_time(1e300, "9999-12-31T23:59:59.000+0000");
}

/*
 * Every millisecond of a second survives the trip through a double: about
 * half of them are stored just below their value (x.001 is x.00099992...),
 * which a "fraction * 1000" conversion would print one millisecond early.
 */
static void
test_time_every_ms(void **state)
{
    char src[32], want[CHAT_EVENTS_TIME_LEN];
    int ms;

    (void) state;
    for (ms = 0; ms < 1000; ms++) {
        snprintf(src, sizeof(src), "1795395723.%03d", ms);
        snprintf(want, sizeof(want), "2026-11-23T01:02:03.%03d+0000", ms);
        check_time(strtod(src, NULL), want);
    }
}

/* ---- out of memory ---- */

/* Fail the Nth jansson allocation; count live blocks to catch leaks. */
struct oom {
    long fail_at;
    long calls;
    long live;
};

static struct oom oom;

static void *
oom_malloc(size_t n)
{
    void *p;

    if (++oom.calls == oom.fail_at)
        return NULL;
    p = malloc(n);
    if (p != NULL)
        oom.live++;
    return p;
}

static void
oom_free(void *p)
{
    if (p != NULL)
        oom.live--;
    free(p);
}

static void
test_oom(void **state)
{
    struct chat_ev_channel both[2] = { alice, bob };
    long n, total;
    char *s;

    (void) state;
    json_set_alloc_funcs(oom_malloc, oom_free);

    /* Count the allocations of a full build. */
    oom = (struct oom) { 0 };
    s = chat_events_build(CHAT_EV_WELCOME, &bridge, both, 2, T_NOW);
    assert_non_null(s);
    free(s);
    total = oom.calls;
    assert_int_equal(oom.live, 0);
    assert_true(total > 10);

    for (n = 1; n <= total; n++) {
        oom = (struct oom) { .fail_at = n };
        errno = 0;
        s = chat_events_build(CHAT_EV_WELCOME, &bridge, both, 2, T_NOW);
        if (s != NULL) {
            free(s);
            json_set_alloc_funcs(malloc, free);
            fail_msg("allocation %ld failed, yet a body was built", n);
        }
        assert_int_equal(errno, ENOMEM);
        if (oom.live != 0) {
            json_set_alloc_funcs(malloc, free);
            fail_msg("%ld block(s) leaked when allocation %ld failed",
                     oom.live, n);
        }
    }
    json_set_alloc_funcs(malloc, free);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_welcome),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_leave),
        cmocka_unit_test(test_mute_unmute),
        cmocka_unit_test(test_talking),
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_join_text),
        cmocka_unit_test(test_video_mode),
        cmocka_unit_test(test_unusual_strings),
        cmocka_unit_test(test_invalid_utf8_and_null),
        cmocka_unit_test(test_zero_channels),
        cmocka_unit_test(test_many_channels),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_time_every_ms),
        cmocka_unit_test(test_oom),
    };

    /*
     * A local zone that is not UTC (POSIX form, needs no tzdata): the body
     * must not depend on the server's zone, so a localtime() slip shows.
     */
    setenv("TZ", "TST-5:30", 1);
    tzset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * fuzz_pubstate_body.c - PUBLISH JSON bodies of Asterisk's
 * res_pjsip_publish_asterisk (include/sipbridge/pubstate_body.h).
 *
 * Input: "EVENT\nCONTENT-TYPE\nBODY" (the body may hold anything,
 * newlines included); an input with fewer than two newlines is a body
 * alone.  The body is parsed with the input's Event and Content-Type (an
 * empty line is a missing header), then with each of asterisk-devicestate
 * and asterisk-mwi and application/json.
 *
 * Checks: the reason on error is printable ASCII without '"' or '\' and
 * fits (also in a 7-byte buffer); a parsed body is rebuilt with
 * pubstate_body_device / _mailbox / _refresh and the rebuilt body parses
 * back to the same thing; the parsed state goes into a store, where
 * setting it again changes nothing and reading it gives it back.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "sipbridge/pubstate_body.h"
#include "sipbridge/pubstate_store.h"

static void
check_why(const char *why, size_t cap)
{
    size_t n = strlen(why);

    FUZZ_CHECK(n <= PUBSTATE_WHY_MAX && n < cap, "reason of %zu bytes", n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)why[i];

        FUZZ_CHECK(c >= 0x20 && c <= 0x7e && c != '"' && c != '\\',
                   "reason has byte 0x%02x: %s", c, why);
    }
}

static const char *
event_of(enum pubstate_body_type t, const char *given)
{
    if (t == PUBSTATE_BODY_DEVICE)
        return PUBSTATE_EVENT_DEVICE;
    if (t == PUBSTATE_BODY_MAILBOX)
        return PUBSTATE_EVENT_MWI;
    return given;
}

/* Build what was parsed, parse it back, compare. */
static void
round_trip(const struct pubstate_body *b, const char *event)
{
    struct pubstate_body again;
    char why[PUBSTATE_WHY_MAX + 1] = "";
    char *built = NULL;
    int rc;

    switch (b->type) {
    case PUBSTATE_BODY_DEVICE:
        built = pubstate_body_device(b->name, b->state, &b->eid);
        break;
    case PUBSTATE_BODY_MAILBOX:
        built = pubstate_body_mailbox(b->name, b->new_msgs, b->old_msgs,
                                      &b->eid);
        break;
    case PUBSTATE_BODY_REFRESH:
        built = pubstate_body_refresh(&b->eid);
        break;
    }
    FUZZ_CHECK(built != NULL, "no body built for a parsed type %d",
               (int)b->type);
    rc = pubstate_body_parse(event_of(b->type, event), PUBSTATE_CONTENT_TYPE,
                             built, strlen(built), &again, why, sizeof(why));
    FUZZ_CHECK(rc == 0, "our own body does not parse: %s (%s)", built, why);
    FUZZ_CHECK(again.type == b->type &&
                   pubstate_eid_equal(&again.eid, &b->eid),
               "type or eid changed: %s", built);
    if (b->type == PUBSTATE_BODY_DEVICE) {
        FUZZ_CHECK(strcmp(again.name, b->name) == 0 &&
                       again.state == b->state && again.cachable,
                   "device changed: %s", built);
    } else if (b->type == PUBSTATE_BODY_MAILBOX) {
        FUZZ_CHECK(strcmp(again.name, b->name) == 0 &&
                       again.new_msgs == b->new_msgs &&
                       again.old_msgs == b->old_msgs,
                   "mailbox changed: %s", built);
    } else {
        FUZZ_CHECK(again.name == NULL, "refresh with a name");
    }
    pubstate_body_clear(&again);
    free(built);
}

/* What inbound.c does with a parsed body: keep it in the store. */
static void
store(struct pubstate_store *st, const struct pubstate_body *b)
{
    if (b->type == PUBSTATE_BODY_DEVICE) {
        struct pubstate_device_entry e;
        int rc = pubstate_store_set_device(st, b->name, &b->eid, b->state,
                                           b->cachable);

        FUZZ_CHECK(rc >= 0 || rc == -ENOMEM, "set_device: %d", rc);
        if (rc < 0)
            return;
        FUZZ_CHECK(pubstate_store_set_device(st, b->name, &b->eid, b->state,
                                             b->cachable) == 0,
                   "the same device state changed the store");
        FUZZ_CHECK(pubstate_store_get_device(st, b->name, &b->eid, &e) == 0 &&
                       e.state == b->state && e.cachable == b->cachable,
                   "the stored device state differs");
        (void)pubstate_store_device_aggregate(st, b->name);
    } else if (b->type == PUBSTATE_BODY_MAILBOX) {
        struct pubstate_mailbox_entry e;
        int rc = pubstate_store_set_mailbox(st, b->name, &b->eid,
                                            b->new_msgs, b->old_msgs);

        FUZZ_CHECK(rc >= 0 || rc == -ENOMEM, "set_mailbox: %d", rc);
        if (rc < 0)
            return;
        FUZZ_CHECK(pubstate_store_get_mailbox(st, b->name, &b->eid, &e) == 0 &&
                       e.new_msgs == b->new_msgs && e.old_msgs == b->old_msgs,
                   "the stored mailbox differs");
    }
}

static void
one(struct pubstate_store *st, const char *event, const char *ctype,
    const char *body, size_t len)
{
    struct pubstate_body b;
    char why[PUBSTATE_WHY_MAX + 1], small[7];
    int rc;

    why[0] = '\0';
    rc = pubstate_body_parse(event, ctype, body, len, &b, why, sizeof(why));
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM,
               "pubstate_body_parse returned %d", rc);
    check_why(why, sizeof(why));
    if (rc != 0) {
        FUZZ_CHECK(why[0] != '\0', "an error without a reason");
        FUZZ_CHECK(b.name == NULL, "a failed parse left a name");
        rc = pubstate_body_parse(event, ctype, body, len, &b, small,
                                 sizeof(small));
        FUZZ_CHECK(rc != 0, "the result depends on the reason buffer");
        check_why(small, sizeof(small));
        return;
    }
    FUZZ_CHECK((b.type == PUBSTATE_BODY_REFRESH) == (b.name == NULL),
               "name presence does not match type %d", (int)b.type);
    FUZZ_CHECK(b.name == NULL ||
                   (b.name[0] != '\0' && strlen(b.name) <= PUBSTATE_NAME_MAX),
               "name of %zu bytes", strlen(b.name));
    FUZZ_CHECK(b.new_msgs <= INT_MAX && b.old_msgs <= INT_MAX,
               "counts above INT_MAX");
    round_trip(&b, event);
    store(st, &b);
    pubstate_body_clear(&b);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_log();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[3];
    size_t lens[3];
    char *buf = fuzz_fields(data, size, '\n', f, lens, 3);
    struct pubstate_store *st = NULL;

    if (buf == NULL || pubstate_store_create(&st) != 0) {
        free(buf);
        return 0;
    }
    if (f[2] != NULL) {
        one(st, f[0][0] ? f[0] : NULL, f[1][0] ? f[1] : NULL, f[2], lens[2]);
        one(st, PUBSTATE_EVENT_DEVICE, PUBSTATE_CONTENT_TYPE, f[2], lens[2]);
        one(st, PUBSTATE_EVENT_MWI, PUBSTATE_CONTENT_TYPE, f[2], lens[2]);
    } else {
        one(st, PUBSTATE_EVENT_DEVICE, PUBSTATE_CONTENT_TYPE,
            (const char *)data, size);
        one(st, PUBSTATE_EVENT_MWI, "Application/JSON; charset=utf-8",
            (const char *)data, size);
    }
    pubstate_store_destroy(st);
    free(buf);
    return 0;
}

/*
 * body.c - Asterisk's device and mailbox state PUBLISH bodies; see
 * pubstate_body.h.
 *
 * Where this is stricter than Asterisk, it is because Asterisk's leniency
 * stores something other than what the peer meant: a malformed eid is
 * kept as whatever sscanf() got (often a zero or half-filled id, which then
 * collides with other peers' entries); a count of "5" or -1 is silently
 * read as 0 or a huge unsigned value.  We answer those with an error the
 * peer can see in the Warning header instead.
 *
 * Duplicate keys are rejected (JSON_REJECT_DUPLICATES): with jansson's
 * default the last one wins, so a body with two "eid" or "device" keys
 * means different things to readers that take the first, e.g. a proxy or
 * a log filter.  Asterisk builds its bodies with json_pack() and never
 * repeats a key, so this costs nothing in interop.
 */
#include "sipbridge/pubstate_body.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BODY_EV_DEVICE 0
#define BODY_EV_MWI    1

/* Where a reason goes; buf may be NULL. */
struct body_why {
    char *buf;
    size_t len;
};

/*
 * The reason ends up between double quotes in a Warning header, and parts
 * of it (jansson's "near '...'", a type name) come from the peer, so only
 * printable ASCII gets through.
 */
static void
body_why_copy(const struct body_why *w, const char *s)
{
    size_t cap, i;

    if (w->buf == NULL || w->len == 0)
        return;
    cap = w->len - 1 < PUBSTATE_WHY_MAX ? w->len - 1 : PUBSTATE_WHY_MAX;
    for (i = 0; i < cap && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"')
            c = '\'';
        else if (c == '\\' || c < 0x20 || c > 0x7e)
            c = '?';
        w->buf[i] = (char)c;
    }
    w->buf[i] = '\0';
}

__attribute__((format(printf, 2, 3)))
static int
body_fail(const struct body_why *w, const char *fmt, ...)
{
    char tmp[PUBSTATE_WHY_MAX + 1];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    body_why_copy(w, tmp);
    return -EINVAL;
}

/* @return BODY_EV_*, or -1.  Event types compare case-sensitively. */
static int
body_event_kind(const char *event)
{
    size_t n;

    if (event == NULL)
        return -1;
    n = strcspn(event, "; \t");
    if (n == strlen(PUBSTATE_EVENT_DEVICE) &&
        strncmp(event, PUBSTATE_EVENT_DEVICE, n) == 0)
        return BODY_EV_DEVICE;
    if (n == strlen(PUBSTATE_EVENT_MWI) &&
        strncmp(event, PUBSTATE_EVENT_MWI, n) == 0)
        return BODY_EV_MWI;
    return -1;
}

static const char *
body_skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

bool
pubstate_body_ctype_ok(const char *ctype)
{
    const char *s;

    if (ctype == NULL)
        return false;
    s = body_skip_ws(ctype);
    if (strncasecmp(s, "application", 11) != 0)
        return false;
    s = body_skip_ws(s + 11);
    if (*s != '/')
        return false;
    s = body_skip_ws(s + 1);
    if (strncasecmp(s, "json", 4) != 0)
        return false;
    s = body_skip_ws(s + 4);
    return *s == '\0' || *s == ';';
}

static int
body_eid(json_t *root, struct pubstate_eid *eid, const struct body_why *w)
{
    json_t *v = json_object_get(root, "eid");

    if (v == NULL)
        return body_fail(w, "'eid' is missing");
    if (!json_is_string(v))
        return body_fail(w, "'eid' must be a string");
    if (pubstate_eid_parse(json_string_value(v), eid) != 0)
        return body_fail(w, "'eid' is not six hex bytes xx:xx:xx:xx:xx:xx");
    return 0;
}

/* The "type" key, checked against the Event it came with. */
static int
body_type(json_t *root, int kind, enum pubstate_body_type *type,
          const struct body_why *w)
{
    json_t *v = json_object_get(root, "type");
    const char *s;

    if (v == NULL)
        return body_fail(w, "'type' is missing");
    if (!json_is_string(v))
        return body_fail(w, "'type' must be a string");
    s = json_string_value(v);
    if (strcmp(s, "refresh") == 0) {
        *type = PUBSTATE_BODY_REFRESH;
    } else if (strcmp(s, "devicestate") == 0) {
        if (kind != BODY_EV_DEVICE)
            return body_fail(w, "type 'devicestate' needs Event "
                             PUBSTATE_EVENT_DEVICE);
        *type = PUBSTATE_BODY_DEVICE;
    } else if (strcmp(s, "mailboxstate") == 0) {
        if (kind != BODY_EV_MWI)
            return body_fail(w, "type 'mailboxstate' needs Event "
                             PUBSTATE_EVENT_MWI);
        *type = PUBSTATE_BODY_MAILBOX;
    } else {
        return body_fail(w, "unknown type '%.40s'", s);
    }
    return 0;
}

/* A device name or uniqueid: copied into *out. */
static int
body_name(json_t *root, const char *key, char **out, const struct body_why *w)
{
    json_t *v = json_object_get(root, key);

    if (!json_is_string(v) || json_string_length(v) == 0)
        return body_fail(w, "'%s' must be a non-empty string", key);
    if (json_string_length(v) > PUBSTATE_NAME_MAX)
        return body_fail(w, "'%s' is longer than %d bytes", key,
                         PUBSTATE_NAME_MAX);
    *out = strdup(json_string_value(v));
    return *out != NULL ? 0 : -ENOMEM;
}

/* Asterisk reads "cachable" as an int and only 1 means cachable. */
static int
body_cachable(json_t *root, bool *out, const struct body_why *w)
{
    json_t *v = json_object_get(root, "cachable");

    if (v != NULL && !json_is_integer(v) && !json_is_boolean(v))
        return body_fail(w, "'cachable' has the wrong type, "
                         "must be an integer");
    *out = json_is_integer(v) && json_integer_value(v) == 1;
    return 0;
}

static int
body_device(json_t *root, struct pubstate_body *b, const struct body_why *w)
{
    json_t *s = json_object_get(root, "state");
    int rc = body_name(root, "device", &b->name, w);

    if (rc != 0)
        return rc;
    if (!json_is_string(s) || json_string_length(s) == 0)
        return body_fail(w, "'state' must be a non-empty string");
    b->state = pubstate_devstate_parse(json_string_value(s));
    return body_cachable(root, &b->cachable, w);
}

/* An absent count is 0, as in Asterisk. */
static int
body_count(json_t *root, const char *key, unsigned *out,
           const struct body_why *w)
{
    json_t *v = json_object_get(root, key);
    json_int_t n;

    if (v == NULL) {
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return body_fail(w, "'%s' must be a non-negative integer", key);
    n = json_integer_value(v);
    if (n > INT_MAX)
        return body_fail(w, "'%s' is larger than %d", key, INT_MAX);
    *out = (unsigned)n;
    return 0;
}

static int
body_mailbox(json_t *root, struct pubstate_body *b, const struct body_why *w)
{
    int rc = body_name(root, "uniqueid", &b->name, w);

    if (rc == 0)
        rc = body_count(root, "new", &b->new_msgs, w);
    if (rc == 0)
        rc = body_count(root, "old", &b->old_msgs, w);
    return rc;
}

/* Everything up to handing the JSON text to jansson. */
static int
body_precheck(const char *event, const char *ctype, const char *buf,
              size_t len, int *kind, const struct body_why *w)
{
    *kind = body_event_kind(event);
    if (*kind < 0)
        return event == NULL ? body_fail(w, "Event is missing")
                             : body_fail(w, "Event must be "
                                         PUBSTATE_EVENT_DEVICE " or "
                                         PUBSTATE_EVENT_MWI);
    if (!pubstate_body_ctype_ok(ctype))
        return body_fail(w, "Content-Type must be " PUBSTATE_CONTENT_TYPE);
    if (buf == NULL || len == 0)
        return body_fail(w, "body is empty");
    if (len > PUBSTATE_BODY_MAX)
        return body_fail(w, "body is larger than %d bytes", PUBSTATE_BODY_MAX);
    return 0;
}

static int
body_load(const char *buf, size_t len, json_t **root, const struct body_why *w)
{
    json_error_t err;

    *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
    if (*root == NULL) {
        if (json_error_code(&err) == json_error_out_of_memory)
            return -ENOMEM;
        return body_fail(w, "body is not valid JSON: %s at line %d column %d",
                         err.text, err.line, err.column);
    }
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return body_fail(w, "body is not a JSON object");
    }
    return 0;
}

int
pubstate_body_parse(const char *event, const char *ctype, const char *buf,
                    size_t len, struct pubstate_body *out, char *why,
                    size_t whylen)
{
    const struct body_why w = { why, whylen };
    json_t *root = NULL;
    int kind, rc;

    if (out == NULL)
        return body_fail(&w, "no place for the result");
    memset(out, 0, sizeof(*out));
    rc = body_precheck(event, ctype, buf, len, &kind, &w);
    if (rc == 0)
        rc = body_load(buf, len, &root, &w);
    if (rc == 0)
        rc = body_eid(root, &out->eid, &w);
    if (rc == 0)
        rc = body_type(root, kind, &out->type, &w);
    if (rc == 0 && out->type == PUBSTATE_BODY_DEVICE)
        rc = body_device(root, out, &w);
    if (rc == 0 && out->type == PUBSTATE_BODY_MAILBOX)
        rc = body_mailbox(root, out, &w);
    json_decref(root);
    if (rc == -ENOMEM)
        body_why_copy(&w, "out of memory");
    if (rc != 0)
        pubstate_body_clear(out);
    return rc;
}

void
pubstate_body_clear(struct pubstate_body *b)
{
    if (b == NULL)
        return;
    free(b->name);
    memset(b, 0, sizeof(*b));
}

/* ---- building ---- */

static char *
body_dump(json_t *root)
{
    char *s;

    if (root == NULL)
        return NULL;
    s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

char *
pubstate_body_device(const char *device, enum pubstate_devstate state,
                     const struct pubstate_eid *eid)
{
    char e[PUBSTATE_EID_STRLEN];

    if (device == NULL || eid == NULL)
        return NULL;
    pubstate_eid_format(eid, e);
    return body_dump(json_pack("{s:s, s:s, s:s, s:i, s:s}",
                               "type", "devicestate",
                               "device", device,
                               "state", pubstate_devstate_name(state),
                               "cachable", 1,
                               "eid", e));
}

char *
pubstate_body_mailbox(const char *uniqueid, unsigned new_msgs,
                      unsigned old_msgs, const struct pubstate_eid *eid)
{
    char e[PUBSTATE_EID_STRLEN];
    int n = new_msgs > INT_MAX ? INT_MAX : (int)new_msgs;
    int o = old_msgs > INT_MAX ? INT_MAX : (int)old_msgs;

    if (uniqueid == NULL || eid == NULL)
        return NULL;
    pubstate_eid_format(eid, e);
    return body_dump(json_pack("{s:s, s:s, s:i, s:i, s:s}",
                               "type", "mailboxstate",
                               "uniqueid", uniqueid,
                               "old", o,
                               "new", n,
                               "eid", e));
}

char *
pubstate_body_refresh(const struct pubstate_eid *eid)
{
    char e[PUBSTATE_EID_STRLEN];

    if (eid == NULL)
        return NULL;
    pubstate_eid_format(eid, e);
    return body_dump(json_pack("{s:s, s:s}", "type", "refresh", "eid", e));
}

/*
 * chat_events.c - Asterisk ConfBridge event bodies.
 *
 * The body is what Asterisk's confbridge_manager.c builds: the bridge and
 * channel snapshots as ARI renders them (main/stasis_bridges.c,
 * main/stasis_channels.c), minus the fields ConfBridge deletes for privacy
 * or uselessness, plus the per-event flags of app_confbridge.c.  Key order
 * follows Asterisk's insertion order, which jansson keeps, so a client that
 * diffed our body against Asterisk's would see only values differ.  Field
 * by field sources are in docs/conference-events.md.
 */
#include "sipbridge/chat_events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

/*
 * Per-channel fields an event adds after the snapshot, in the order
 * Asterisk's extras blob has them (the blob's "conference" key is deleted
 * before the merge, so only these remain).
 */
#define EV_ADMIN    0x01u   /* "admin": bool */
#define EV_MUTED    0x02u   /* "muted": bool, after admin */
#define EV_TALKING  0x04u   /* "talking_status": "on"|"off", before admin */
#define EV_NOCHAN   0x08u   /* bridge-level: Asterisk has no channel to list */

struct ev_kind {
    const char *type;
    unsigned    flags;
};

static const struct ev_kind ev_kinds[] = {
    { CHAT_EV_WELCOME,     EV_ADMIN | EV_MUTED },
    { CHAT_EV_JOIN,        EV_ADMIN | EV_MUTED },
    { CHAT_EV_LEAVE,       EV_ADMIN },
    { CHAT_EV_MUTE,        EV_ADMIN },
    { CHAT_EV_UNMUTE,      EV_ADMIN },
    { CHAT_EV_TALKING,     EV_TALKING | EV_ADMIN },
    { CHAT_EV_RECORD,      EV_NOCHAN },
    { CHAT_EV_STOP_RECORD, EV_NOCHAN },
};

/* 9999-12-31T23:59:59: the last second with a 4-digit year. */
#define EV_TIME_MAX 253402300799.0

static const struct ev_kind *
ev_kind_find(const char *type)
{
    size_t i;

    if (type == NULL)
        return NULL;
    for (i = 0; i < sizeof(ev_kinds) / sizeof(ev_kinds[0]); i++)
        if (strcmp(ev_kinds[i].type, type) == 0)
            return &ev_kinds[i];
    return NULL;
}

/*
 * RFC 3629 UTF-8, the set jansson's json_string() accepts: no overlongs,
 * no surrogates, nothing past U+10FFFF.  Checked here rather than by
 * retrying a failed json_string(), which would also turn ENOMEM into "".
 */
static int
ev_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *) s;
    unsigned char        c, lo, hi;
    int                  more;

    while ((c = *p++) != '\0') {
        if (c < 0x80)
            continue;
        lo = 0x80;
        hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            lo = c == 0xe0 ? 0xa0 : lo;     /* overlong */
            hi = c == 0xed ? 0x9f : hi;     /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            lo = c == 0xf0 ? 0x90 : lo;     /* overlong */
            hi = c == 0xf4 ? 0x8f : hi;     /* past U+10FFFF */
        } else {
            return 0;
        }
        /* The NUL terminator fails these checks, so we never read past it. */
        if (*p < lo || *p > hi)
            return 0;
        for (p++; --more > 0; p++)
            if (*p < 0x80 || *p > 0xbf)
                return 0;
    }
    return 1;
}

/*
 * A JSON string for a snapshot field: NULL and invalid UTF-8 become ""
 * (Asterisk's AST_JSON_UTF8_VALIDATE does the same for caller ids, and its
 * snapshots never hold NULL), so a NULL return only means ENOMEM.
 */
static json_t *
ev_str(const char *s)
{
    if (s == NULL || !ev_utf8_valid(s))
        s = "";
    return json_string(s);
}

char *
chat_events_time(char *buf, double t)
{
    long long us;
    time_t    sec;
    struct tm tm;
    size_t    len;

    /* "!(t >= 0)" also catches NaN; clamping keeps the year 4 digits. */
    if (!(t >= 0))
        t = 0;
    if (t > EV_TIME_MAX)
        t = EV_TIME_MAX;

    /*
     * Round to the microsecond first (a timeval is what Asterisk formats),
     * then truncate to milliseconds as ast_strftime's %q does: 0.123 stored
     * as 0.12299999 must still print ".123".
     */
    us = (long long) (t * 1e6 + 0.5);
    sec = (time_t) (us / 1000000);
    gmtime_r(&sec, &tm);
    len = strftime(buf, CHAT_EVENTS_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + len, CHAT_EVENTS_TIME_LEN - len, ".%03d+0000",
             (int) (us % 1000000 / 1000));
    return buf;
}

static json_t *
ev_time(double t)
{
    char buf[CHAT_EVENTS_TIME_LEN];

    return json_string(chat_events_time(buf, t));
}

/*
 * Bridge snapshot after bridge_to_json(): ast_bridge_snapshot_to_json()
 * without technology, bridge_type, bridge_class, creator and channels.
 * video_source_id and bridgevars are optional there and never set by us.
 */
static json_t *
ev_bridge(const struct chat_ev_bridge *b)
{
    json_t *o;
    int     err = 0;

    o = json_object();
    if (o == NULL)
        return NULL;
    /* json_object_set_new() fails, without leaking, on a NULL value. */
    err |= json_object_set_new(o, "id", ev_str(b->id));
    err |= json_object_set_new(o, "name", ev_str(b->name));
    err |= json_object_set_new(o, "creationtime", ev_time(b->created));
    err |= json_object_set_new(o, "video_mode",
                               ev_str(b->video_mode ? b->video_mode : "none"));
    if (err) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ast_json_name_number(): {"name", "number"}. */
static json_t *
ev_caller(const struct chat_ev_channel *c)
{
    json_t *o;
    int     err = 0;

    o = json_object();
    if (o == NULL)
        return NULL;
    err |= json_object_set_new(o, "name", ev_str(c->caller_name));
    err |= json_object_set_new(o, "number", ev_str(c->caller_number));
    if (err) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/*
 * Channel snapshot after channel_to_json(): ast_channel_snapshot_to_json()
 * without dialplan, connected and accountcode, then the event's flags.
 * A channel in a ConfBridge has been answered, so its state is "Up".
 */
static json_t *
ev_channel(const struct chat_ev_channel *c, unsigned flags)
{
    json_t *o;
    int     err = 0;

    o = json_object();
    if (o == NULL)
        return NULL;
    err |= json_object_set_new(o, "id", ev_str(c->id));
    err |= json_object_set_new(o, "name", ev_str(c->name));
    err |= json_object_set_new(o, "state", json_string("Up"));
    err |= json_object_set_new(o, "protocol_id", ev_str(c->protocol_id));
    err |= json_object_set_new(o, "caller", ev_caller(c));
    err |= json_object_set_new(o, "creationtime", ev_time(c->created));
    err |= json_object_set_new(o, "language",
                               ev_str(c->language ? c->language : "en"));
    if (flags & EV_TALKING)
        err |= json_object_set_new(o, "talking_status",
                                   json_string(c->talking ? "on" : "off"));
    if (flags & EV_ADMIN)
        err |= json_object_set_new(o, "admin", json_boolean(c->admin));
    if (flags & EV_MUTED)
        err |= json_object_set_new(o, "muted", json_boolean(c->muted));
    if (err) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *
ev_channels(const struct chat_ev_channel *chans, size_t n, unsigned flags)
{
    json_t *a;
    size_t  i;

    a = json_array();
    if (a == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (json_array_append_new(a, ev_channel(&chans[i], flags)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/*
 * ast_json_dump_string_format(AST_JSON_PRETTY) is json_dumps() with
 * JSON_INDENT(2).  We size with json_dumpb() and allocate ourselves so the
 * result is plain malloc() memory whatever allocator jansson was given.
 */
static char *
ev_dump(const json_t *root)
{
    size_t len;
    char  *s;

    len = json_dumpb(root, NULL, 0, JSON_INDENT(2));
    if (len == 0)
        return NULL;
    s = malloc(len + 1);
    if (s == NULL)
        return NULL;
    if (json_dumpb(root, s, len, JSON_INDENT(2)) != len) {
        free(s);
        return NULL;
    }
    s[len] = '\0';
    return s;
}

char *
chat_events_build(const char *type, const struct chat_ev_bridge *b,
                  const struct chat_ev_channel *chans, size_t n, double now)
{
    const struct ev_kind *k;
    json_t               *root;
    char                 *s = NULL;
    int                   err = 0;

    k = ev_kind_find(type);
    if (k == NULL || b == NULL || (n > 0 && chans == NULL)
        || (n > 0 && (k->flags & EV_NOCHAN)))
    {
        errno = EINVAL;
        return NULL;
    }

    root = json_object();
    if (root == NULL)
        goto out;
    err |= json_object_set_new(root, "type", json_string(k->type));
    err |= json_object_set_new(root, "timestamp", ev_time(now));
    err |= json_object_set_new(root, "bridge", ev_bridge(b));
    err |= json_object_set_new(root, "channels",
                               ev_channels(chans, n, k->flags));
    if (!err)
        s = ev_dump(root);

out:
    json_decref(root);
    if (s == NULL)
        errno = ENOMEM;
    return s;
}

/*
 * chat_events.h - Asterisk ConfBridge event bodies
 * (application/x-asterisk-confbridge-event+json).
 *
 * Builds the JSON body that Asterisk's ConfBridge sends, with bridge option
 * enable_events=yes and user option send_events=yes, to each participant in
 * an in-dialog MESSAGE whose From display name is the conference name.  Web
 * apps written for ConfBridge read these bodies to keep their rosters; the
 * field set, order, types and formats follow Asterisk exactly (see
 * docs/conference-events.md for the sources and examples).
 *
 * Pure: builds JSON from snapshots the caller fills; no I/O, no global
 * state, callable from any thread.  Deciding who receives which event
 * (welcome to the joiner, join/leave to the others, echo_events) is the
 * caller's job; the rules are in the doc.
 */
#ifndef SIPBRIDGE_CHAT_EVENTS_H
#define SIPBRIDGE_CHAT_EVENTS_H

#include <stddef.h>

/* The Content-Type, bare: web clients compare it with === (no parameters). */
#define CHAT_EVENTS_CONTENT_TYPE "application/x-asterisk-confbridge-event+json"

/*
 * Event types (the "type" field), as confbridge_event_type_to_string()
 * names them.  Welcome goes to the joiner and lists everyone; Join, Leave,
 * Mute, Unmute and Talking list the one participant concerned; Record and
 * StopRecord are bridge-level and list nobody.
 */
#define CHAT_EV_WELCOME      "ConfbridgeWelcome"
#define CHAT_EV_JOIN         "ConfbridgeJoin"
#define CHAT_EV_LEAVE        "ConfbridgeLeave"
#define CHAT_EV_MUTE         "ConfbridgeMute"
#define CHAT_EV_UNMUTE       "ConfbridgeUnmute"
#define CHAT_EV_TALKING      "ConfbridgeTalking"
#define CHAT_EV_RECORD       "ConfbridgeRecord"
#define CHAT_EV_STOP_RECORD  "ConfbridgeStopRecord"

/*
 * A participant, mapped to Asterisk's channel snapshot.  NULL strings are
 * sent as "" (Asterisk's snapshots never hold NULL); strings that are not
 * valid UTF-8 are sent as "" too, as Asterisk does for the caller id.
 */
struct chat_ev_channel {
    const char *id;            /* uniqueid; Asterisk's is "<epoch>.<n>" */
    const char *name;          /* e.g. "PJSIP/alice-00000001" */
    const char *protocol_id;   /* SIP Call-ID of this participant's leg */
    const char *caller_name;   /* From display name */
    const char *caller_number; /* user part of the From URI */
    const char *language;      /* NULL: "en", Asterisk's default */
    double created;            /* epoch seconds the leg was created */
    int admin;                 /* user profile admin=yes (we have none: 0) */
    int muted;                 /* muted at join time (Join/Welcome only) */
    int talking;               /* ConfbridgeTalking only: 1 "on", 0 "off" */
};

/* The conference, mapped to Asterisk's bridge snapshot. */
struct chat_ev_bridge {
    const char *id;            /* stable uuid of the conference */
    const char *name;          /* conference name (also the From name) */
    const char *video_mode;    /* NULL: "none"; "talker" | "single" | "sfu" */
    double created;            /* epoch seconds the conference started */
};

/**
 * Build the event body.
 *
 * @param type   one of the CHAT_EV_* names.
 * @param b      the conference; borrowed.
 * @param chans  the channels to list: everyone (oldest first) for Welcome,
 *               the one concerned for Join/Leave/Mute/Unmute/Talking, none
 *               for Record/StopRecord; borrowed.  May be NULL if @p n is 0.
 * @param n      number of @p chans.
 * @param now    epoch seconds of the event ("timestamp").
 * @return a new NUL-terminated, pretty-printed (2-space indent, as Asterisk
 *         sends it) JSON string, caller frees with free(); or NULL with
 *         errno EINVAL (unknown type, NULL @p b, channels given to a
 *         bridge-level event) or ENOMEM.
 */
char *chat_events_build(const char *type, const struct chat_ev_bridge *b,
                        const struct chat_ev_channel *chans, size_t n,
                        double now);

/* Room for a timestamp and its NUL (Asterisk's AST_ISO8601_LEN is 29). */
#define CHAT_EVENTS_TIME_LEN 32

/**
 * Format @p t (epoch seconds) as Asterisk's ast_json_timeval() does, in
 * UTC: "2026-11-23T01:02:03.456+0000".  Rounded to the microsecond, then
 * milliseconds truncated (ast_strftime's %q); NaN and negatives give the
 * epoch, and years past 9999 are clamped.
 * @param buf at least CHAT_EVENTS_TIME_LEN bytes.
 * @return @p buf.
 */
char *chat_events_time(char *buf, double t);

#endif

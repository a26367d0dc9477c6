/*
 * pubstate_body.h - the JSON bodies of Asterisk's res_pjsip_publish_asterisk
 * (Event asterisk-devicestate and asterisk-mwi): parsing what a peer
 * PUBLISHes, and building what we PUBLISH, byte for byte as Asterisk does.
 *
 * Pure: no I/O, no global state, any thread.  A parsed body owns its name
 * (free it with pubstate_body_clear()); built bodies are malloc'd strings
 * the caller frees.  Body-less PUBLISHes (RFC 3903 refresh, remove) are
 * the caller's business and never reach this parser.
 */
#ifndef SIPBRIDGE_PUBSTATE_BODY_H
#define SIPBRIDGE_PUBSTATE_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "sipbridge/pubstate_store.h"

#define PUBSTATE_EVENT_DEVICE "asterisk-devicestate"
#define PUBSTATE_EVENT_MWI    "asterisk-mwi"
#define PUBSTATE_CONTENT_TYPE "application/json"

/* Largest body accepted; Asterisk's are about 120 bytes. */
#define PUBSTATE_BODY_MAX (64 * 1024)

/* Longest reason written by pubstate_body_parse(), without the NUL. */
#define PUBSTATE_WHY_MAX 200

enum pubstate_body_type {
    PUBSTATE_BODY_DEVICE,       /* "devicestate" */
    PUBSTATE_BODY_MAILBOX,      /* "mailboxstate" */
    PUBSTATE_BODY_REFRESH       /* "refresh": send us all your state */
};

struct pubstate_body {
    enum pubstate_body_type type;
    struct pubstate_eid eid;        /* the entity the state belongs to */
    char *name;                     /* device, or uniqueid; NULL for refresh;
                                       malloc'd, owned by the struct */
    enum pubstate_devstate state;   /* device */
    bool cachable;                  /* device: "cachable" == integer 1 */
    unsigned new_msgs, old_msgs;    /* mailbox */
};

/**
 * Parse a PUBLISH body received with Event @p event (the event type; any
 * ";param" is ignored) and Content-Type @p ctype (type/subtype, may carry
 * parameters, compared case-insensitively; NULL = missing).  @p buf is
 * @p len bytes, not necessarily NUL-terminated.
 *
 * Stricter than Asterisk: a malformed eid, a type sent with the other
 * Event, wrong JSON types, negative counts and duplicate keys are errors
 * (see body.c for why).  Unknown keys are ignored, unknown state names
 * are UNKNOWN.
 *
 * @p why (may be NULL, @p whylen bytes) gets a short reason on error, fit
 * for the quoted text of a SIP Warning header: at most PUBSTATE_WHY_MAX
 * bytes of printable ASCII, no double quote (written as ') or backslash
 * (written as ?), e.g. "'eid' is missing".
 * @return 0 and *out (clear it with pubstate_body_clear()), or -EINVAL
 * (bad input, or a NULL @p out) and *out zeroed, or -ENOMEM.
 */
int pubstate_body_parse(const char *event, const char *ctype,
                        const char *buf, size_t len,
                        struct pubstate_body *out, char *why, size_t whylen);

/** Free what @p b owns and zero it.  NULL is fine; so is a zeroed body. */
void pubstate_body_clear(struct pubstate_body *b);

/** "application/json", any case, blanks around '/', parameters ignored;
 *  @return false for anything else or NULL. */
bool pubstate_body_ctype_ok(const char *ctype);

/*
 * Bodies exactly as Asterisk sends them: compact JSON, its key order.
 * Each returns a new NUL-terminated string the caller frees with free(),
 * or NULL on ENOMEM or bad input (NULL pointer, name not valid UTF-8).
 */

/** {"type":"devicestate","device":D,"state":S,"cachable":1,"eid":E} */
char *pubstate_body_device(const char *device, enum pubstate_devstate state,
                           const struct pubstate_eid *eid);

/**
 * {"type":"mailboxstate","uniqueid":U,"old":O,"new":N,"eid":E}, old
 * before new as Asterisk writes it.  Counts above INT_MAX are sent as
 * INT_MAX: Asterisk reads them into an int.
 */
char *pubstate_body_mailbox(const char *uniqueid, unsigned new_msgs,
                            unsigned old_msgs, const struct pubstate_eid *eid);

/** {"type":"refresh","eid":E} */
char *pubstate_body_refresh(const struct pubstate_eid *eid);

#endif

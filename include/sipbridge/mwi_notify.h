/*
 * mwi_notify.h - an in-dialog NOTIFY as the proxy itself would build it
 * from its active_watchers row, and the RFC 3842 body.
 *
 * Pure: no I/O, any thread.  A struct mwi_watcher borrows its strings (from
 * a PGresult, typically); mwi_notify_build() writes every header value into
 * the caller's struct mwi_notify, which owns nothing but fixed buffers.
 */
#ifndef SIPBRIDGE_MWI_NOTIFY_H
#define SIPBRIDGE_MWI_NOTIFY_H

#include <stddef.h>
#include <time.h>

/* One row of active_watchers: the subscription dialog the proxy made. */
struct mwi_watcher {
    const char *id;
    const char *callid;
    const char *to_tag;         /* the notifier's tag: our From tag */
    const char *from_tag;       /* the subscriber's tag: our To tag */
    const char *to_user, *to_domain;       /* the notifier's URI */
    const char *sub_user, *sub_domain;     /* the subscriber's URI */
    const char *contact;        /* the subscriber's target, or "" */
    const char *record_route;   /* route set as stored, or "" */
    const char *local_contact;  /* the notifier's Contact, or "" */
    const char *event_id;       /* Event ;id=, or "" */
    const char *socket_info;    /* "proto:ip:port" of the proxy, or "" */
    long long expires;          /* absolute, unix seconds */
    long long local_cseq;       /* after our increment */
};

struct mwi_counts {
    unsigned new_msgs, old_msgs;
    unsigned urgent_new, urgent_old;
};

#define MWI_CTYPE "application/simple-message-summary"

/* Header values of one NOTIFY. */
struct mwi_notify {
    char ruri[512];
    char from[512];
    char to[512];
    char call_id[256];
    char cseq[32];              /* "N NOTIFY" */
    char route[2048];           /* "" when the row has no route set */
    char contact[512];
    char event[128];
    char substate[64];
    char body[512];
};

/**
 * Fill @p out from @p w: Request-URI = contact (sip:sub_user@sub_domain if
 * empty), From = notifier;tag=to_tag, To = subscriber;tag=from_tag, CSeq =
 * local_cseq + 1 (the proxies' invariant: stored = last sent - 1),
 * Contact = local_contact with ;transport= added from socket_info as
 * Kamailio does (or @p fallback_contact when the row has none),
 * Subscription-State active;expires=REMAINING at @p now, and the body.
 * @p account is the Message-Account URI or NULL.
 * @return 0, or -EINVAL (a field missing or too long: the row is unusable).
 */
int mwi_notify_build(const struct mwi_watcher *w, const struct mwi_counts *c,
                     const char *account, const char *fallback_contact,
                     time_t now, struct mwi_notify *out);

/**
 * The body: "Messages-Waiting: yes|no", an optional "Message-Account:",
 * "Voice-Message: N/O (UN/UO)", each line ending in CRLF.
 * @return its length, or -ENOSPC.
 */
int mwi_body_build(char *buf, size_t len, const struct mwi_counts *c,
                   const char *account);

#endif

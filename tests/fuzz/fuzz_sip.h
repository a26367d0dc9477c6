/*
 * fuzz_sip.h - SIP messages parsed by sofia-sip as the daemon's stack
 * parses them, for the harnesses that read parsed messages.
 *
 * As tport/nta do: a msg_t of sip_default_mclass() with nta's default
 * flags (MSG_DO_CANONIC), the bytes committed to its buffer, msg_extract().
 * A datagram is the whole input with end-of-stream set (UDP); a stream is
 * the input with end-of-stream unset, messages taken one after the other
 * with msg_next() as tport does for TCP (at most FUZZ_SIP_MAX_STREAM).
 *
 * "accepted" says whether nta would hand the message to the application
 * (agent_recv_request/response in nta.c): parsed completely, not too
 * large, no fatal error, no bad header that nta's default masks keep, and
 * sip_sanity_check() passed.  Everything else is answered 400 or dropped
 * by the stack itself.
 */
#ifndef SIPBRIDGE_FUZZ_SIP_H
#define SIPBRIDGE_FUZZ_SIP_H

#include <stddef.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_buffer.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

/* As in <sofia-sip/sip_util.h>, whose sip_route_remove() clashes with the
 * SIP core's (src/core/sip.c does the same). */
int sip_sanity_check(sip_t const *sip);

#define FUZZ_SIP_MAX_STREAM 16

typedef void (*fuzz_sip_cb)(msg_t *msg, sip_t *sip, int accepted, void *arg);

static inline int
fuzz_sip_accepted(msg_t *msg, sip_t *sip)
{
    unsigned mask;

    if (sip == NULL || (sip->sip_flags & (MSG_FLG_ERROR | MSG_FLG_TOOLARGE)))
        return 0;
    if (sip->sip_request)
        mask = ~(unsigned)(sip_mask_response | sip_mask_proxy |
                           sip_mask_registrar | sip_mask_pref |
                           sip_mask_privacy);
    else if (sip->sip_status)
        mask = ~(unsigned)(sip_mask_request | sip_mask_proxy |
                           sip_mask_registrar | sip_mask_pref |
                           sip_mask_privacy);
    else
        return 0;
    if (msg_extract_errors(msg) & mask)
        return 0;
    return sip_sanity_check(sip) >= 0;
}

/* @return messages seen. */
static inline int
fuzz_sip_feed(const char *data, size_t size, int stream, fuzz_sip_cb cb,
              void *arg)
{
    msg_t *msg = msg_create(sip_default_mclass(), MSG_DO_CANONIC);
    void *buf;
    int seen = 0;

    if (msg == NULL)
        return 0;
    buf = msg_buf_alloc(msg, size + 1);
    if (buf == NULL) {
        msg_destroy(msg);
        return 0;
    }
    if (size)
        memcpy(buf, data, size);
    msg_buf_commit(msg, size, !stream);
    while (msg != NULL && seen < FUZZ_SIP_MAX_STREAM) {
        int n = msg_extract(msg);
        msg_t *next = NULL;

        if (n == 0 && !stream)
            n = -1; /* tport: a datagram is complete */
        if (n == 0)
            break;  /* a stream waits for more */
        seen++;
        if (n > 0 && stream)
            next = msg_next(msg);
        cb(msg, sip_object(msg), n > 0 && fuzz_sip_accepted(msg,
                                                             sip_object(msg)),
           arg);
        msg_destroy(msg);
        msg = next;
        if (n < 0)
            break;
    }
    if (msg)
        msg_destroy(msg);
    return seen;
}

#endif

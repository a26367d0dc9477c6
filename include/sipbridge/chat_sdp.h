/*
 * chat_sdp.h - SDP for a chat-only conference: keep the caller in the call,
 * never any media.
 * Pure functions over sofia-sip's SDP parser; no I/O, no global state.
 *
 * Answers follow RFC 3264 section 6: as many m-lines as the offer, in its
 * order, each with the offered media type and proto and one of the offered
 * formats.  What each m-line gets:
 *
 *  - A plain RTP/AVP offer (a phone): audio, video and text streams are
 *    accepted with a=inactive on port 9 (the discard port: RFC 3264 lets an
 *    inactive stream use any valid port, and nothing is ever sent to it),
 *    with one offered payload type and its a=rtpmap/a=fmtp lines.  Any other
 *    stream (application, image/T.38, other protos such as RTP/AVPF) and
 *    any stream offered with port 0 is rejected with port 0.
 *  - A WebRTC offer (a SAVP/SAVPF or DTLS proto on any m-line, or
 *    a=fingerprint at session or media level): every m-line is rejected
 *    with port 0.  No BUNDLE group, ICE or DTLS lines: Chromium refuses an
 *    accepted m-line without a fingerprint, and an answer with made-up DTLS
 *    data gets the call hung up once ICE fails
 *    (docs: the shared reference browser-clients.md, section 2).
 *  - Every m-line echoes the offer's a=mid, if it had one.
 *
 * The session part is always v=, o=, s=, a session-level c= (so that an
 * answer whose m-lines are all port 0 is still complete) and t=0 0.
 * Re-INVITE and UPDATE offers are answered the same way; the caller bumps
 * chat_sdp_origin.version when the answer text changes.
 *
 * All results are NUL-terminated, CRLF line ends, malloc'd: free() them.
 */
#ifndef SIPBRIDGE_CHAT_SDP_H
#define SIPBRIDGE_CHAT_SDP_H

#include <stddef.h>

#include "sipbridge/sdpcheck.h"

/* Largest offer accepted (bytes), and largest line in it. */
#define CHAT_SDP_MAX_LEN  SDPCHECK_MAX_LEN
#define CHAT_SDP_MAX_LINE SDPCHECK_MAX_LINE

struct chat_sdp_origin {
    const char *username;    /* o= username, e.g. "sipbridge" */
    unsigned long long id;   /* o= sess-id, stable per dialog */
    unsigned long long version; /* o= sess-version: the caller increments
                                   it when the SDP changes */
    const char *address;     /* our IP literal for o= and c= (IPv4 or IPv6) */
    const char *session;     /* s= line text, e.g. "chat-only conference" */
};

/**
 * Answer @p offer (len bytes, not necessarily NUL-terminated).
 * @return 0 and *answer (malloc'd, NUL-terminated, CRLF line ends; caller
 * frees), -EPROTO for an offer that does not parse or has no m-line (answer
 * 488), -ENOMEM, or -EINVAL for a bad @p o (no username or one with blanks,
 * an address that is not an IP literal, a session name with control
 * characters): a bug in the caller, not in the offer.
 */
int chat_sdp_answer(const char *offer, size_t len,
                    const struct chat_sdp_origin *o, char **answer);

/**
 * Our offer for an INVITE that came without SDP: one inactive
 * "m=audio 9 RTP/AVP 0" with "a=rtpmap:0 PCMU/8000".
 * @return 0 and *offer (malloc'd), -ENOMEM, or -EINVAL for a bad @p o.
 */
int chat_sdp_offer(const struct chat_sdp_origin *o, char **offer);

/**
 * @return 1 if @p offer looks like WebRTC (SAVPF/SAVP proto or a
 * fingerprint), 0 if not, -EPROTO if it does not parse (exactly when
 * chat_sdp_answer() would say so), -ENOMEM.
 */
int chat_sdp_is_webrtc(const char *offer, size_t len);

#endif /* SIPBRIDGE_CHAT_SDP_H */

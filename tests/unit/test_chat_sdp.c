/*
 * test_chat_sdp.c - SDP of the chat-only conference: answers to browsers
 * and phones, our own offer, malformed offers and a mutation loop.
 *
 * Every answer produced here is parsed again with sofia-sip's parser in
 * strict mode, and must have as many m-lines as the offer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sdp.h>
#include <sofia-sip/su_alloc.h>

#include "sipbridge/chat_sdp.h"

static const struct chat_sdp_origin origin4 = {
    "sipbridge", 4751704, 1, "127.0.0.1", "chat-only conference",
};

static const struct chat_sdp_origin origin6 = {
    "sipbridge", 4751704, 1, "2001:db8::1", "chat-only conference",
};

#define HEAD4 \
    "v=0\r\n" \
    "o=sipbridge 4751704 1 IN IP4 127.0.0.1\r\n" \
    "s=chat-only conference\r\n" \
    "c=IN IP4 127.0.0.1\r\n" \
    "t=0 0\r\n"

/* What Chromium 156 offers through JsSIP 3.13.8 (browser-clients.md, 1). */
static const char jssip_offer[] =
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS 5f0c1f4e-7d3b-4a51-9a0e-2f0d6b1c8e77\r\n"
    "m=audio 50684 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=candidate:1467250027 1 udp 2122260223 127.0.0.1 50684 typ host "
    "generation 0 network-id 1\r\n"
    "a=candidate:2533343403 1 tcp 1518280447 127.0.0.1 9 typ host "
    "tcptype active generation 0 network-id 1\r\n"
    "a=ice-ufrag:Hs7Q\r\n"
    "a=ice-pwd:3vGTv6nwFY6l2z5v4L8vmFjc\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:"
    "35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:3 http://www.ietf.org/id/"
    "draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=sendrecv\r\n"
    "a=msid:5f0c1f4e-7d3b-4a51-9a0e-2f0d6b1c8e77 "
    "9c3e2b71-0d5e-4c1f-8a6b-3e7f2a9d4c10\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\n"
    "a=fmtp:63 111/111\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:13 CN/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
    "a=ssrc:3287745125 cname:Xq0U5Kc2cLk3Yf6h\r\n"
    "a=ssrc:3287745125 msid:5f0c1f4e-7d3b-4a51-9a0e-2f0d6b1c8e77 "
    "9c3e2b71-0d5e-4c1f-8a6b-3e7f2a9d4c10\r\n";

/* A desk phone: PCMU, PCMA and RFC 4733 events. */
static const char phone_offer[] =
    "v=0\r\n"
    "o=yealink 1234 1235 IN IP4 192.0.2.10\r\n"
    "s=SDP data\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 11800 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n";

/* A video phone. */
static const char av_offer[] =
    "v=0\r\n"
    "o=linphone 3377 1 IN IP4 198.51.100.7\r\n"
    "s=Talk\r\n"
    "c=IN IP4 198.51.100.7\r\n"
    "t=0 0\r\n"
    "m=audio 7078 RTP/AVP 96 0 101\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 useinbandfec=1\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "m=video 9078 RTP/AVP 97 98\r\n"
    "a=rtpmap:97 H264/90000\r\n"
    "a=fmtp:97 profile-level-id=42801F;packetization-mode=1\r\n"
    "a=rtpmap:98 VP8/90000\r\n"
    "a=sendrecv\r\n";

/* ---- helpers ---- */

/* Lines that start with "m=" (lines end at runs of CR and LF). */
static unsigned
count_mlines(const char *s, size_t n)
{
    unsigned count = 0;
    int bol = 1;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' || s[i] == '\n') {
            bol = 1;
            continue;
        }
        if (bol && s[i] == 'm' && i + 1 < n && s[i + 1] == '=')
            count++;
        bol = 0;
    }
    return count;
}

/* CRLF after every line, no bare CR or LF. */
static void
assert_crlf(const char *sdp)
{
    size_t n = strlen(sdp);

    assert_true(n >= 2);
    assert_memory_equal(sdp + n - 2, "\r\n", 2);
    for (size_t i = 0; i < n; i++) {
        if (sdp[i] == '\r')
            assert_int_equal(sdp[i + 1], '\n');
        if (sdp[i] == '\n')
            assert_true(i > 0 && sdp[i - 1] == '\r');
    }
}

/* Parse @p sdp strictly; it must have @p nmedia m-lines. */
static void
assert_reparses(const char *sdp, unsigned nmedia)
{
    su_home_t home[1];
    sdp_parser_t *p;
    sdp_session_t *s;
    unsigned n = 0;

    assert_int_equal(su_home_init(home), 0);
    p = sdp_parse(home, sdp, (issize_t)strlen(sdp), sdp_f_strict);
    s = sdp_session(p);
    if (s == NULL)
        fail_msg("answer does not parse: %s\n%s", sdp_parsing_error(p), sdp);
    for (sdp_media_t *m = s->sdp_media; m != NULL; m = m->m_next)
        n++;
    assert_int_equal(n, nmedia);
    assert_non_null(s->sdp_connection);
    sdp_parser_free(p);
    su_home_deinit(home);
    assert_crlf(sdp);
}

/* Answer @p offer, which must succeed; the answer is checked and returned. */
static char *
answer_with(const char *offer, const struct chat_sdp_origin *o)
{
    char *ans = (char *)0x1;
    int rc = chat_sdp_answer(offer, strlen(offer), o, &ans);

    if (rc != 0)
        fail_msg("chat_sdp_answer: %d for\n%s", rc, offer);
    assert_non_null(ans);
    assert_reparses(ans, count_mlines(offer, strlen(offer)));
    return ans;
}

static void
assert_answer(const char *offer, const char *want)
{
    char *ans = answer_with(offer, &origin4);

    assert_string_equal(ans, want);
    free(ans);
}

static void
assert_eproto(const char *offer, size_t len)
{
    char *ans = (char *)0x1;

    assert_int_equal(chat_sdp_answer(offer, len, &origin4, &ans), -EPROTO);
    assert_null(ans);
    assert_int_equal(chat_sdp_is_webrtc(offer, len), -EPROTO);
}

/* ---- WebRTC ---- */

static void
test_webrtc_jssip(void **state)
{
    (void)state;
    /* The same answer that kept JsSIP's call up (browser-clients.md, 5). */
    assert_answer(jssip_offer,
        HEAD4
        "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=mid:0\r\n");
    assert_int_equal(chat_sdp_is_webrtc(jssip_offer, strlen(jssip_offer)), 1);
}

static void
test_webrtc_no_ice_dtls_bundle(void **state)
{
    char *ans = answer_with(jssip_offer, &origin4);

    (void)state;
    assert_null(strstr(ans, "a=group"));
    assert_null(strstr(ans, "a=ice"));
    assert_null(strstr(ans, "a=fingerprint"));
    assert_null(strstr(ans, "a=setup"));
    assert_null(strstr(ans, "a=candidate"));
    assert_null(strstr(ans, "a=rtcp"));
    assert_null(strstr(ans, "a=inactive"));
    free(ans);
}

static void
test_webrtc_multi_mid(void **state)
{
    static const char offer[] =
        "v=0\r\n"
        "o=- 1 2 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "t=0 0\r\n"
        "a=group:BUNDLE a v data\r\n"
        "a=fingerprint:sha-256 7B:8B:F0:65\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=mid:a\r\n"
        "a=rtpmap:111 opus/48000/2\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=mid:v\r\n"
        "a=rtpmap:96 VP8/90000\r\n"
        "a=rtpmap:97 rtx/90000\r\n"
        "a=fmtp:97 apt=96\r\n"
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=mid:data\r\n"
        "a=sctp-port:5000\r\n";

    (void)state;
    assert_answer(offer,
        HEAD4
        "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=mid:a\r\n"
        "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n"
        "a=mid:v\r\n"
        "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"
        "a=mid:data\r\n");
}

/* A fingerprint alone makes an offer WebRTC, at either level. */
static void
test_webrtc_fingerprint(void **state)
{
    static const char session_level[] =
        "v=0\r\n"
        "o=- 1 2 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "a=fingerprint:sha-256 AA:BB\r\n"
        "m=audio 4000 RTP/AVP 0\r\n";
    static const char media_level[] =
        "v=0\r\n"
        "o=- 1 2 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=audio 4000 RTP/AVP 8 0\r\n"
        "a=FINGERPRINT:sha-1 AA:BB\r\n";

    (void)state;
    assert_answer(session_level, HEAD4 "m=audio 0 RTP/AVP 0\r\n");
    assert_answer(media_level, HEAD4 "m=audio 0 RTP/AVP 8\r\n");
    assert_int_equal(chat_sdp_is_webrtc(media_level, strlen(media_level)), 1);
}

/* SDES-SRTP (RTP/SAVP) and plain UDP/TLS/RTP/SAVP are secure protos too. */
static void
test_webrtc_savp(void **state)
{
    static const char offer[] =
        "v=0\r\n"
        "o=- 1 2 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\n"
        "m=audio 4002 RTP/SAVP 18 0\r\n"
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
        "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n"
        "m=video 4004 UDP/TLS/RTP/SAVP 31\r\n";

    (void)state;
    assert_answer(offer,
        HEAD4
        "m=audio 0 RTP/AVP 0\r\n"
        "m=audio 0 RTP/SAVP 18\r\n"
        "m=video 0 UDP/TLS/RTP/SAVP 31\r\n");
}

/* ---- phones ---- */

static void
test_phone_audio(void **state)
{
    (void)state;
    assert_answer(phone_offer,
        HEAD4
        "m=audio 9 RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=inactive\r\n");
    assert_int_equal(chat_sdp_is_webrtc(phone_offer, strlen(phone_offer)), 0);
}

static void
test_phone_audio_video(void **state)
{
    (void)state;
    assert_answer(av_offer,
        HEAD4
        "m=audio 9 RTP/AVP 96\r\n"
        "a=rtpmap:96 opus/48000/2\r\n"
        "a=fmtp:96 useinbandfec=1\r\n"
        "a=inactive\r\n"
        "m=video 9 RTP/AVP 97\r\n"
        "a=rtpmap:97 H264/90000\r\n"
        "a=fmtp:97 profile-level-id=42801F;packetization-mode=1\r\n"
        "a=inactive\r\n");
}

static void
test_phone_video_only(void **state)
{
    static const char offer[] =
        "v=0\r\n"
        "o=cam 5 5 IN IP4 192.0.2.20\r\n"
        "s=-\r\n"
        "t=0 0\r\n"
        "m=video 5004 RTP/AVP 98\r\n"
        "c=IN IP4 192.0.2.20\r\n"
        "a=rtpmap:98 VP8/90000\r\n"
        "a=recvonly\r\n";

    (void)state;
    assert_answer(offer,
        HEAD4
        "m=video 9 RTP/AVP 98\r\n"
        "a=rtpmap:98 VP8/90000\r\n"
        "a=inactive\r\n");
}

/* A static payload type offered without a=rtpmap is answered without one. */
static void
test_phone_static_pt(void **state)
{
    static const char offer[] =
        "v=0\r\n"
        "o=- 1 1 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=audio 4000 RTP/AVP 8 0\r\n";

    (void)state;
    assert_answer(offer, HEAD4 "m=audio 9 RTP/AVP 8\r\na=inactive\r\n");
}

/* telephone-event and CN are skipped unless nothing else is offered. */
static void
test_phone_payload_choice(void **state)
{
    static const char events_first[] =
        "v=0\r\n"
        "o=- 1 1 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=audio 4000 RTP/AVP 101 13 18\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=rtpmap:18 G729/8000\r\n"
        "a=fmtp:18 annexb=no\r\n";
    static const char events_only[] =
        "v=0\r\n"
        "o=- 1 1 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=audio 4000 RTP/AVP 101\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n";

    (void)state;
    assert_answer(events_first,
        HEAD4
        "m=audio 9 RTP/AVP 18\r\n"
        "a=rtpmap:18 G729/8000\r\n"
        "a=fmtp:18 annexb=no\r\n"
        "a=inactive\r\n");
    assert_answer(events_only,
        HEAD4
        "m=audio 9 RTP/AVP 101\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=inactive\r\n");
}

/* RFC 4103 real-time text is media too; red is skipped for t140. */
static void
test_phone_text(void **state)
{
    static const char offer[] =
        "v=0\r\n"
        "o=- 1 1 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=text 11000 RTP/AVP 100 98\r\n"
        "a=rtpmap:98 t140/1000\r\n"
        "a=rtpmap:100 red/1000\r\n"
        "a=fmtp:100 98/98/98\r\n";

    (void)state;
    assert_answer(offer,
        HEAD4
        "m=text 9 RTP/AVP 98\r\n"
        "a=rtpmap:98 t140/1000\r\n"
        "a=inactive\r\n");
}

/* RFC 3264 section 8.2: a stream offered with port 0 stays rejected. */
static void
test_phone_port_zero(void **state)
{
    static const char offer[] =
        "v=0\r\n"
        "o=- 1 2 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=video 0 RTP/AVP 31\r\n"
        "m=audio 4000 RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "m=audio 0 RTP/AVP 8\r\n"
        "a=rtpmap:8 PCMA/8000\r\n";

    (void)state;
    assert_answer(offer,
        HEAD4
        "m=video 0 RTP/AVP 31\r\n"
        "m=audio 9 RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=inactive\r\n"
        "m=audio 0 RTP/AVP 8\r\n");
}

/* T.38, application and unknown streams, and RTP/AVPF, are rejected. */
static void
test_phone_rejects_non_media(void **state)
{
    static const char offer[] =
        "v=0\r\n"
        "o=- 1 2 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\n"
        "m=image 4002 udptl t38\r\n"
        "a=T38FaxVersion:0\r\n"
        "m=application 4004 UDP/BFCP *\r\n"
        "m=message 4006 TCP/MSRP *\r\n"
        "m=video 4008 RTP/AVPF 96\r\n"
        "a=rtpmap:96 VP8/90000\r\n"
        "m=audio 4010 udp 0\r\n";

    (void)state;
    assert_answer(offer,
        HEAD4
        "m=audio 9 RTP/AVP 0\r\n"
        "a=inactive\r\n"
        "m=image 0 udptl t38\r\n"
        "m=application 0 UDP/BFCP *\r\n"
        "m=message 0 TCP/MSRP *\r\n"
        "m=video 0 RTP/AVPF 96\r\n"
        "m=audio 0 udp 0\r\n");
}

/* A T.38 re-INVITE: answered by the same rules, with the new version. */
static void
test_reinvite_t38_only(void **state)
{
    static const char offer[] =
        "v=0\r\n"
        "o=- 1 3 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=image 4002 udptl t38\r\n";
    struct chat_sdp_origin o = origin4;
    char *ans;

    (void)state;
    o.version = 2;
    ans = answer_with(offer, &o);
    assert_string_equal(ans,
        "v=0\r\n"
        "o=sipbridge 4751704 2 IN IP4 127.0.0.1\r\n"
        "s=chat-only conference\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        "m=image 0 udptl t38\r\n");
    free(ans);
}

/* a=mid is echoed for phones too. */
static void
test_phone_mid(void **state)
{
    static const char offer[] =
        "v=0\r\n"
        "o=- 1 2 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\n"
        "a=mid:1\r\n";

    (void)state;
    assert_answer(offer,
        HEAD4
        "m=audio 9 RTP/AVP 0\r\n"
        "a=inactive\r\n"
        "a=mid:1\r\n");
}

/*
 * Media and proto are repeated as offered, though the parser folds known
 * ones to its own spelling ("RTP" to "RTP/AVP", "UDPTL" to "udptl").
 */
static void
test_names_as_offered(void **state)
{
    static const char offer[] =
        "v=0\r\n"
        "o=- 1 2 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=Audio 4000 RTP 0\r\n"
        "m=IMAGE 4002 UDPTL t38\r\n";

    (void)state;
    assert_answer(offer,
        HEAD4
        "m=Audio 9 RTP 0\r\n"
        "a=inactive\r\n"
        "m=IMAGE 0 UDPTL t38\r\n");
}

static void
test_ipv6(void **state)
{
    static const char offer[] =
        "v=0\r\n"
        "o=- 1 2 IN IP6 2001:db8::10\r\n"
        "s=-\r\n"
        "c=IN IP6 2001:db8::10\r\n"
        "t=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\n";
    char *ans;

    (void)state;
    ans = answer_with(offer, &origin6);
    assert_string_equal(ans,
        "v=0\r\n"
        "o=sipbridge 4751704 1 IN IP6 2001:db8::1\r\n"
        "s=chat-only conference\r\n"
        "c=IN IP6 2001:db8::1\r\n"
        "t=0 0\r\n"
        "m=audio 9 RTP/AVP 0\r\n"
        "a=inactive\r\n");
    free(ans);
    ans = answer_with(jssip_offer, &origin6);
    assert_non_null(strstr(ans, "c=IN IP6 2001:db8::1\r\n"));
    free(ans);
}

/* Large ids print in full; an empty session name becomes "-". */
static void
test_origin_fields(void **state)
{
    struct chat_sdp_origin o = {
        "conf", 18446744073709551615ull, 18446744073709551614ull,
        "10.0.0.1", "",
    };
    char *ans = answer_with(phone_offer, &o);

    (void)state;
    assert_non_null(strstr(ans,
        "o=conf 18446744073709551615 18446744073709551614 IN IP4 10.0.0.1\r\n"
        "s=-\r\n"));
    free(ans);
}

static void
test_bad_origin(void **state)
{
    struct chat_sdp_origin o;
    char *out = (char *)0x1;

    (void)state;
    assert_int_equal(chat_sdp_answer(phone_offer, strlen(phone_offer), NULL,
                                     &out), -EINVAL);
    assert_null(out);
    o = origin4, o.username = NULL;
    assert_int_equal(chat_sdp_offer(&o, &out), -EINVAL);
    o = origin4, o.username = "has space";
    assert_int_equal(chat_sdp_offer(&o, &out), -EINVAL);
    o = origin4, o.address = "sip.example.com";
    assert_int_equal(chat_sdp_offer(&o, &out), -EINVAL);
    o = origin4, o.address = "[::1]";
    assert_int_equal(chat_sdp_offer(&o, &out), -EINVAL);
    o = origin4, o.session = "two\r\nlines";
    assert_int_equal(chat_sdp_answer(phone_offer, strlen(phone_offer), &o,
                                     &out), -EINVAL);
    assert_null(out);
    assert_int_equal(chat_sdp_answer(phone_offer, strlen(phone_offer), &o,
                                     NULL), -EINVAL);
}

/* ---- our offer ---- */

static void
test_offer_no_sdp(void **state)
{
    char *offer = NULL;
    char *ans;

    (void)state;
    assert_int_equal(chat_sdp_offer(&origin4, &offer), 0);
    assert_string_equal(offer,
        HEAD4
        "m=audio 9 RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=inactive\r\n");
    assert_reparses(offer, 1);
    /* Our own offer, answered by our rules, is the same media line. */
    ans = answer_with(offer, &origin4);
    assert_string_equal(ans, offer);
    assert_int_equal(chat_sdp_is_webrtc(offer, strlen(offer)), 0);
    free(ans);
    free(offer);
    assert_int_equal(chat_sdp_offer(&origin6, &offer), 0);
    assert_non_null(strstr(offer, "c=IN IP6 2001:db8::1\r\n"));
    assert_reparses(offer, 1);
    free(offer);
}

/* ---- malformed offers ---- */

static void
test_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "hello",
        "v=0\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n",
        /* m= without formats, port or proto */
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP   \r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio x RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 70000 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 128\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP PCMU\r\n",
        /* these two make Debian's sofia-sip parser loop forever */
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=x 9 foo @\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=image 9 udptl \t\r\n",
        /* and these make it drop the second m-line, reporting success */
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\nx\r\nm=video 4002 RTP/AVP 31\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n \t \r\n"
        "m=video 4002 RTP/AVP 31\r\n",
        /* no c= for a live stream */
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\n",
        /* no o= */
        "v=0\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\n",
        /* not v=0 first */
        "o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
        "v=1\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
        /* bad c=, bad rtpmap, a tab in an m-line, a control character */
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP9 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/x\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio\t4000 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=\x1b[2J\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
        /* a mid we would have to echo, but is not a token */
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=mid:a b\r\n",
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=mid\r\n",
        /* parser errors that quote "memory" are no memory errors */
        "v=0\r\no=- 1 1 IN memoryIP4 192.0.2.1\r\ns=-\r\n"
        "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
        /* HTTP instead of SDP */
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *ans = (char *)0x1;
        int rc = chat_sdp_answer(bad[i], strlen(bad[i]), &origin4, &ans);

        if (rc != -EPROTO)
            fail_msg("bad[%zu]: %d, answer %s", i, rc, rc == 0 ? ans : "-");
        assert_null(ans);
        assert_int_equal(chat_sdp_is_webrtc(bad[i], strlen(bad[i])), -EPROTO);
    }
    assert_eproto(NULL, 0);
    assert_eproto(NULL, 10);
}

/* A NUL inside the body would end the parser's copy early. */
static void
test_malformed_nul(void **state)
{
    static const char offer[] =
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n\0m=video 4002 RTP/AVP 31\r\n";

    (void)state;
    assert_eproto(offer, sizeof(offer) - 1);
    /* Also a terminating NUL counted in len. */
    assert_eproto(phone_offer, sizeof(phone_offer));
}

static void
test_malformed_binary(void **state)
{
    unsigned char junk[512];
    uint32_t x = 2463534242u;

    (void)state;
    for (int round = 0; round < 64; round++) {
        for (size_t i = 0; i < sizeof(junk); i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            junk[i] = (unsigned char)x;
        }
        if (round & 1)
            memcpy(junk, "v=0\r\n", 5);
        assert_eproto((const char *)junk, sizeof(junk));
    }
}

static void
test_malformed_long(void **state)
{
    size_t head = strlen(phone_offer);
    size_t n = head + CHAT_SDP_MAX_LINE + 16;
    char *buf = malloc(CHAT_SDP_MAX_LEN + 2);

    (void)state;
    assert_non_null(buf);
    /* One attribute line longer than any real one. */
    memcpy(buf, phone_offer, head);
    memcpy(buf + head, "a=x:", 4);
    memset(buf + head + 4, 'y', n - head - 6);
    memcpy(buf + n - 2, "\r\n", 2);
    assert_eproto(buf, n);
    /* A long m-line of formats. */
    memcpy(buf, phone_offer, head);
    memcpy(buf + head, "m=audio 4000 RTP/AVP", 20);
    for (size_t i = head + 20; i + 2 < n; i += 2)
        memcpy(buf + i, " 0", 2);
    memcpy(buf + n - 2, "\r\n", 2);
    assert_eproto(buf, n);
    /* Long lines up to the limit are fine. */
    n = head + CHAT_SDP_MAX_LINE + 2;
    memcpy(buf, phone_offer, head);
    memcpy(buf + head, "a=x:", 4);
    memset(buf + head + 4, 'y', n - head - 6);
    memcpy(buf + n - 2, "\r\n", 2);
    {
        char *ans = NULL;

        assert_int_equal(chat_sdp_answer(buf, n, &origin4, &ans), 0);
        assert_reparses(ans, 1);
        free(ans);
    }
    /* A body longer than any offer, of valid lines. */
    memcpy(buf, phone_offer, head);
    for (size_t i = head; i + 8 <= CHAT_SDP_MAX_LEN + 2; i += 8)
        memcpy(buf + i, "a=x:yy\r\n", 8);
    assert_eproto(buf, CHAT_SDP_MAX_LEN + 1);
    free(buf);
}

/* Every prefix of an offer is answered or refused, never more. */
static void
test_truncated(void **state)
{
    const char *offers[] = { jssip_offer, phone_offer, av_offer };

    (void)state;
    for (size_t k = 0; k < 3; k++) {
        size_t len = strlen(offers[k]);

        for (size_t n = 0; n < len; n++) {
            /* An exact-size copy, so ASan sees any read past len. */
            char *buf = malloc(n ? n : 1);
            char *ans = NULL;
            int rc;

            assert_non_null(buf);
            memcpy(buf, offers[k], n);
            rc = chat_sdp_answer(buf, n, &origin4, &ans);
            if (rc == 0) {
                assert_reparses(ans, count_mlines(buf, n));
                free(ans);
            } else {
                assert_int_equal(rc, -EPROTO);
                assert_null(ans);
            }
            free(buf);
        }
    }
    /* Cut inside the m-line: refused. */
    assert_eproto(phone_offer, strstr(phone_offer, "RTP/AVP") - phone_offer);
}

/* ---- mutations ---- */

struct rng {
    uint64_t s;
};

static uint32_t
rng_next(struct rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s >> 32);
}

static size_t
rng_below(struct rng *r, size_t n)
{
    return n ? rng_next(r) % n : 0;
}

/*
 * One random edit of buf[0..*n), keeping *n <= cap.  The length is kept in
 * a local: buf is char, which may alias *n as far as the compiler knows.
 */
static void
mutate(struct rng *r, char *buf, size_t *np, size_t cap)
{
    static const char alphabet[] =
        "\r\n \t=:/0123456789amvcotskbzrixAMPRTV-.*@#\x01\x7f\xff\0";
    size_t n = *np;
    size_t pos = rng_below(r, n + 1);
    size_t to = rng_below(r, n + 1);
    size_t len = rng_below(r, 40) + 1;
    char c = alphabet[rng_below(r, sizeof(alphabet))];

    switch (rng_below(r, 6)) {
    case 0:                                     /* replace a byte */
        if (pos < n)
            buf[pos] = c;
        break;
    case 1:                                     /* insert a byte */
        if (n < cap) {
            memmove(buf + pos + 1, buf + pos, n - pos);
            buf[pos] = c;
            n++;
        }
        break;
    case 2:                                     /* delete a run */
        len = len % 8 + 1;
        if (pos + len <= n) {
            memmove(buf + pos, buf + pos + len, n - pos - len);
            n -= len;
        }
        break;
    case 3:                                     /* copy a run elsewhere */
        if (pos + len <= n && n + len <= cap) {
            memmove(buf + to + len, buf + to, n - to);
            memmove(buf + to, buf + (pos < to ? pos : pos + len), len);
            n += len;
        }
        break;
    case 4:                                     /* truncate */
        n = pos;
        break;
    default:                                    /* change a digit */
        if (pos < n && buf[pos] >= '0' && buf[pos] <= '9')
            buf[pos] = (char)('0' + rng_below(r, 10));
        break;
    }
    *np = n;
}

static void
test_fuzz(void **state)
{
    static const char t38_offer[] =
        "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 "
        "telephone-event/8000\r\nm=image 4002 udptl t38\r\n"
        "a=T38FaxRateManagement:transferredTCF\r\nm=video 0 RTP/AVP 31\r\n";
    const char *seeds[] = { jssip_offer, phone_offer, av_offer, t38_offer };
    struct rng r = { 0x9E3779B97F4A7C15ull };
    enum { CAP = 8192, ROUNDS = 6000 };
    char *buf = malloc(CAP);
    unsigned answered = 0;

    (void)state;
    assert_non_null(buf);
    for (int i = 0; i < ROUNDS; i++) {
        const char *seed = seeds[i % 4];
        size_t n = strlen(seed);
        int edits = (int)rng_below(&r, 4) + 1;
        char *ans = NULL;
        char *exact;
        int rc, web;

        memcpy(buf, seed, n);
        while (edits-- > 0)
            mutate(&r, buf, &n, CAP);
        exact = malloc(n ? n : 1);
        assert_non_null(exact);
        memcpy(exact, buf, n);
        rc = chat_sdp_answer(exact, n, &origin4, &ans);
        web = chat_sdp_is_webrtc(exact, n);
        if (rc == 0) {
            assert_reparses(ans, count_mlines(exact, n));
            assert_true(web == 0 || web == 1);
            answered++;
            free(ans);
        } else {
            assert_int_equal(rc, -EPROTO);
            assert_int_equal(web, -EPROTO);
            assert_null(ans);
        }
        free(exact);
    }
    /* The loop must exercise both outcomes, or it tests little. */
    assert_true(answered > ROUNDS / 10);
    assert_true(answered < ROUNDS);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webrtc_jssip),
        cmocka_unit_test(test_webrtc_no_ice_dtls_bundle),
        cmocka_unit_test(test_webrtc_multi_mid),
        cmocka_unit_test(test_webrtc_fingerprint),
        cmocka_unit_test(test_webrtc_savp),
        cmocka_unit_test(test_phone_audio),
        cmocka_unit_test(test_phone_audio_video),
        cmocka_unit_test(test_phone_video_only),
        cmocka_unit_test(test_phone_static_pt),
        cmocka_unit_test(test_phone_payload_choice),
        cmocka_unit_test(test_phone_text),
        cmocka_unit_test(test_phone_port_zero),
        cmocka_unit_test(test_phone_rejects_non_media),
        cmocka_unit_test(test_reinvite_t38_only),
        cmocka_unit_test(test_phone_mid),
        cmocka_unit_test(test_names_as_offered),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_origin_fields),
        cmocka_unit_test(test_bad_origin),
        cmocka_unit_test(test_offer_no_sdp),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_malformed_nul),
        cmocka_unit_test(test_malformed_binary),
        cmocka_unit_test(test_malformed_long),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_fuzz),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

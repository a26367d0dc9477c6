/*
 * chat_sdp.c - SDP answers and offers for a chat-only conference; the
 * rules are in chat_sdp.h.
 *
 * An offer goes through three steps: the core's line check and sofia-sip's
 * sdp_parse() (sdpcheck.h says why the parser needs the check first), and a
 * check of what the parser made of it.  The answer is then built as an
 * sdp_session_t in a private su_home and printed with sdp_print(), which
 * can express all of it.
 */
#include "sipbridge/chat_sdp.h"
#include "sipbridge/sdpcheck.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/sdp.h>
#include <sofia-sip/su_alloc.h>

/*
 * Port of an accepted, inactive stream.  RFC 3264 section 5.1 allows any
 * valid port for an inactive stream (port 0 would reject it); 9 is the
 * discard port, so even a peer that sends RTP anyway reaches no service.
 */
#define CHAT_SDP_PORT 9

/*
 * Put the media and proto names back as offered: the parser folds known
 * ones to its own spelling ("udp" becomes "UDP", plain "RTP" becomes
 * "RTP/AVP"), and RFC 3264 wants the answer to repeat the offer's.  The
 * enums it set stay.  Runs after sdpcheck_text(), so every m-line scans.
 */
static int
sdp_restore_names(su_home_t *home, const char *s, size_t len,
                  sdp_session_t *sdp)
{
    sdp_media_t *m = sdp->sdp_media;
    struct sdpcheck_mline ml;
    const char *line;
    size_t pos = 0, n;

    while (m != NULL && sdpcheck_next_line(s, len, &pos, &line, &n)) {
        if (line[0] != 'm' || sdpcheck_scan_mline(line + 2, n - 2, &ml) != 0)
            continue;
        m->m_type_name = su_strndup(home, ml.media, (isize_t)ml.media_len);
        m->m_proto_name = su_strndup(home, ml.proto, (isize_t)ml.proto_len);
        if (m->m_type_name == NULL || m->m_proto_name == NULL)
            return -ENOMEM;
        m = m->m_next;
    }
    return 0;
}

static const sdp_attribute_t *
sdp_attr_find(const sdp_attribute_t *a, const char *name)
{
    for (; a != NULL; a = a->a_next)
        if (a->a_name != NULL && strcasecmp(a->a_name, name) == 0)
            return a;
    return NULL;
}

/* An a=mid value is an RFC 5888 token; we echo it, so nothing else goes. */
static int
sdp_check_mid(const sdp_media_t *m)
{
    const sdp_attribute_t *mid = sdp_attr_find(m->m_attributes, "mid");
    size_t n;

    if (mid == NULL)
        return 0;
    if (mid->a_value == NULL || (n = strlen(mid->a_value)) == 0)
        return -EPROTO;
    for (size_t i = 0; i < n; i++)
        if (!sdpcheck_is_token((unsigned char)mid->a_value[i]))
            return -EPROTO;
    return 0;
}

/* A parsed offer must have what the answer copies from each m-line. */
static int
sdp_check_session(const sdp_session_t *sdp)
{
    for (const sdp_media_t *m = sdp->sdp_media; m != NULL; m = m->m_next) {
        if (m->m_type_name == NULL || m->m_proto_name == NULL ||
            (m->m_rtpmaps == NULL && m->m_format == NULL) ||
            sdp_check_mid(m) != 0)
            return -EPROTO;
    }
    return 0;
}

/*
 * Parse @p s into *sdp.  *parser is set whenever sdp_parse() ran and must
 * be freed with sdp_parser_free() by the caller, also on error.
 */
static int
sdp_parse_offer(su_home_t *home, const char *s, size_t len,
                sdp_parser_t **parser, sdp_session_t **sdp)
{
    int rc = sdpcheck_parse(home, s, len, parser, sdp);

    if (rc != 0)
        return rc;
    if (sdp_check_session(*sdp) != 0)
        return -EPROTO;
    return sdp_restore_names(home, s, len, *sdp);
}

/* Case-insensitive strstr; strcasestr() is a GNU extension. */
static int
sdp_has_word(const char *s, const char *word)
{
    size_t n = strlen(word);

    for (; *s != '\0'; s++)
        if (strncasecmp(s, word, n) == 0)
            return 1;
    return 0;
}

/*
 * SAVP/SAVPF (SRTP, which a browser always uses: UDP/TLS/RTP/SAVPF) or DTLS
 * (UDP/DTLS/SCTP data channels) in the proto means a WebRTC peer, as does a
 * DTLS fingerprint anywhere.
 */
static int
sdp_offer_is_webrtc(const sdp_session_t *sdp)
{
    if (sdp_attr_find(sdp->sdp_attributes, "fingerprint") != NULL)
        return 1;
    for (const sdp_media_t *m = sdp->sdp_media; m != NULL; m = m->m_next) {
        if (m->m_proto == sdp_proto_srtp ||
            sdp_has_word(m->m_proto_name, "SAVP") ||
            sdp_has_word(m->m_proto_name, "DTLS") ||
            sdp_attr_find(m->m_attributes, "fingerprint") != NULL)
            return 1;
    }
    return 0;
}

/*
 * Can this m-line be accepted as an inactive stream?  Only RTP/AVP audio,
 * video and text, what phones offer; other protos (RTP/AVPF, udptl,
 * TCP/MSRP...) come with rules of their own that an answer without media
 * has no reason to take on, and port 0 keeps the call up all the same.
 * The Debian parser has no enum for "text", hence the name compare.
 */
static int
sdp_media_live(const sdp_media_t *m)
{
    int av = m->m_type == sdp_media_audio || m->m_type == sdp_media_video ||
             strcasecmp(m->m_type_name, "text") == 0;

    return av && m->m_port != 0 && m->m_proto == sdp_proto_rtp &&
           m->m_rtpmaps != NULL;
}

/* Payload types that carry no media of their own. */
static int
sdp_rtpmap_aux(const sdp_rtpmap_t *rm)
{
    static const char *const aux[] = {
        "telephone-event", "CN", "red", "ulpfec", "flexfec", "rtx",
    };
    const char *enc = rm->rm_encoding != NULL ? rm->rm_encoding : "";

    for (size_t i = 0; i < sizeof(aux) / sizeof(aux[0]); i++)
        if (strcasecmp(enc, aux[i]) == 0)
            return 1;
    return 0;
}

/*
 * The payload type of an accepted stream: the first offered codec.  Events
 * or comfort noise alone describe no audio stream, so they are chosen only
 * when the offer has nothing else.
 */
static const sdp_rtpmap_t *
sdp_rtpmap_choose(const sdp_rtpmap_t *list)
{
    for (const sdp_rtpmap_t *rm = list; rm != NULL; rm = rm->rm_next)
        if (!sdp_rtpmap_aux(rm))
            return rm;
    return list;
}

static int
sdp_accept(su_home_t *home, const sdp_media_t *om, sdp_media_t *m)
{
    sdp_rtpmap_t *rm = su_salloc(home, sizeof(*rm));

    if (rm == NULL)
        return -ENOMEM;
    /* The copy keeps rm_predef: an a=rtpmap line is printed iff offered. */
    *rm = *sdp_rtpmap_choose(om->m_rtpmaps);
    rm->rm_next = NULL;
    m->m_rtpmaps = rm;
    m->m_port = CHAT_SDP_PORT;
    m->m_mode = sdp_inactive;
    return 0;
}

/*
 * Reject: port 0 and the first offered format, named by its text so that
 * no a=rtpmap line follows (nothing is described for a rejected stream).
 */
static int
sdp_reject(su_home_t *home, const sdp_media_t *om, sdp_media_t *m)
{
    sdp_list_t *l = su_salloc(home, sizeof(*l));

    if (l == NULL)
        return -ENOMEM;
    if (om->m_rtpmaps != NULL)
        l->l_text = su_sprintf(home, "%u", (unsigned)om->m_rtpmaps->rm_pt);
    else
        l->l_text = om->m_format->l_text;
    if (l->l_text == NULL)
        return -ENOMEM;
    m->m_format = l;
    m->m_port = 0;
    m->m_rejected = 1;
    m->m_mode = sdp_inactive;
    return 0;
}

/* Echo the offered a=mid (checked by sdp_check_mid()). */
static int
sdp_echo_mid(su_home_t *home, const sdp_media_t *om, sdp_media_t *m)
{
    const sdp_attribute_t *mid = sdp_attr_find(om->m_attributes, "mid");
    sdp_attribute_t *a;

    if (mid == NULL)
        return 0;
    if ((a = su_salloc(home, sizeof(*a))) == NULL)
        return -ENOMEM;
    a->a_name = "mid";
    a->a_value = mid->a_value;
    m->m_attributes = a;
    return 0;
}

/*
 * The answer to one offered m-line.  Strings may point into the parsed
 * offer: the answer is printed before the parser is freed.
 */
static int
sdp_answer_media(su_home_t *home, const sdp_media_t *om, int webrtc,
                 sdp_session_t *sdp, sdp_media_t **out)
{
    sdp_media_t *m = su_salloc(home, sizeof(*m));
    int rc;

    if (m == NULL)
        return -ENOMEM;
    /* The _x enums make the printer print the offered names as they are. */
    m->m_session = sdp;
    m->m_type = sdp_media_x;
    m->m_type_name = om->m_type_name;
    m->m_proto = sdp_proto_x;
    m->m_proto_name = om->m_proto_name;
    if (!webrtc && sdp_media_live(om))
        rc = sdp_accept(home, om, m);
    else
        rc = sdp_reject(home, om, m);
    if (rc == 0)
        rc = sdp_echo_mid(home, om, m);
    *out = m;
    return rc;
}

static sdp_connection_t *
sdp_conn_new(su_home_t *home, sdp_addrtype_e type, const char *addr)
{
    sdp_connection_t *c = su_salloc(home, sizeof(*c));

    if (c != NULL) {
        c->c_nettype = sdp_net_in;
        c->c_addrtype = type;
        c->c_address = addr;
    }
    return c;
}

/*
 * Check the caller's origin and find its address type.  The session name
 * must be printable on one line; an empty one becomes "-", since RFC 4566
 * wants at least one character after "s=".
 */
static int
sdp_check_origin(const struct chat_sdp_origin *o, sdp_addrtype_e *type)
{
    unsigned char buf[sizeof(struct in6_addr)];

    if (o == NULL || o->username == NULL || o->username[0] == '\0' ||
        o->address == NULL)
        return -EINVAL;
    for (const char *s = o->username; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return -EINVAL;
    for (const char *s = o->session; s != NULL && *s != '\0'; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return -EINVAL;
    if (inet_pton(AF_INET, o->address, buf) == 1)
        *type = sdp_addr_ip4;
    else if (inet_pton(AF_INET6, o->address, buf) == 1)
        *type = sdp_addr_ip6;
    else
        return -EINVAL;
    return 0;
}

/* v=, o=, s=, c= and t=0 0 of everything we send. */
static int
sdp_session_new(su_home_t *home, const struct chat_sdp_origin *o,
                sdp_session_t **out)
{
    sdp_addrtype_e type;
    sdp_session_t *sdp;
    sdp_origin_t *org;
    int rc;

    if ((rc = sdp_check_origin(o, &type)) != 0)
        return rc;
    sdp = su_salloc(home, sizeof(*sdp));
    org = su_salloc(home, sizeof(*org));
    if (sdp == NULL || org == NULL)
        return -ENOMEM;
    org->o_username = o->username;
    org->o_id = o->id;
    org->o_version = o->version;
    org->o_address = sdp_conn_new(home, type, o->address);
    sdp->sdp_version[0] = 0;
    sdp->sdp_origin = org;
    sdp->sdp_subject = o->session != NULL && o->session[0] != '\0' ?
                       o->session : "-";
    sdp->sdp_connection = sdp_conn_new(home, type, o->address);
    sdp->sdp_time = su_salloc(home, sizeof(*sdp->sdp_time));
    if (org->o_address == NULL || sdp->sdp_connection == NULL ||
        sdp->sdp_time == NULL)
        return -ENOMEM;
    *out = sdp;
    return 0;
}

/*
 * Print @p sdp into a malloc'd string.  A session built here always
 * prints, so a printer error can only be memory.
 */
static int
sdp_to_string(su_home_t *home, const sdp_session_t *sdp, char **out)
{
    sdp_printer_t *pr = sdp_print(home, sdp, NULL, 0, 0);
    const char *msg = sdp_message(pr);
    size_t n = (size_t)sdp_message_size(pr);
    int rc = -ENOMEM;

    if (msg != NULL && (*out = malloc(n + 1)) != NULL) {
        memcpy(*out, msg, n);
        (*out)[n] = '\0';
        rc = 0;
    }
    sdp_printer_free(pr);
    return rc;
}

static int
sdp_answer_build(su_home_t *home, const sdp_session_t *offer,
                 const struct chat_sdp_origin *o, sdp_session_t **out)
{
    int webrtc = sdp_offer_is_webrtc(offer);
    sdp_media_t **tail;
    sdp_session_t *sdp;
    int rc;

    if ((rc = sdp_session_new(home, o, &sdp)) != 0)
        return rc;
    tail = &sdp->sdp_media;
    for (const sdp_media_t *om = offer->sdp_media; om != NULL;
         om = om->m_next) {
        if ((rc = sdp_answer_media(home, om, webrtc, sdp, tail)) != 0)
            return rc;
        tail = &(*tail)->m_next;
    }
    *out = sdp;
    return 0;
}

int
chat_sdp_answer(const char *offer, size_t len, const struct chat_sdp_origin *o,
                char **answer)
{
    su_home_t home[1];
    sdp_parser_t *parser;
    sdp_session_t *off, *ans;
    sdp_addrtype_e type;
    int rc;

    if (answer == NULL)
        return -EINVAL;
    *answer = NULL;
    /* A bad origin is the caller's bug: say so before blaming the offer. */
    if ((rc = sdp_check_origin(o, &type)) != 0)
        return rc;
    if (su_home_init(home) != 0)
        return -ENOMEM;
    rc = sdp_parse_offer(home, offer, len, &parser, &off);
    if (rc == 0)
        rc = sdp_answer_build(home, off, o, &ans);
    if (rc == 0)
        rc = sdp_to_string(home, ans, answer);
    sdp_parser_free(parser);
    su_home_deinit(home);
    return rc;
}

int
chat_sdp_offer(const struct chat_sdp_origin *o, char **offer)
{
    su_home_t home[1];
    sdp_session_t *sdp;
    sdp_media_t *m;
    sdp_rtpmap_t *rm;
    int rc;

    if (offer == NULL)
        return -EINVAL;
    *offer = NULL;
    if (su_home_init(home) != 0)
        return -ENOMEM;
    rc = sdp_session_new(home, o, &sdp);
    if (rc == 0) {
        m = su_salloc(home, sizeof(*m));
        rm = su_salloc(home, sizeof(*rm));
        rc = m != NULL && rm != NULL ? 0 : -ENOMEM;
    }
    if (rc == 0) {
        /* rm_predef stays 0, so a=rtpmap:0 is printed although 0 is static. */
        rm->rm_pt = 0;
        rm->rm_encoding = "PCMU";
        rm->rm_rate = 8000;
        m->m_session = sdp;
        m->m_type = sdp_media_audio;
        m->m_type_name = "audio";
        m->m_port = CHAT_SDP_PORT;
        m->m_proto = sdp_proto_rtp;
        m->m_proto_name = "RTP/AVP";
        m->m_rtpmaps = rm;
        m->m_mode = sdp_inactive;
        sdp->sdp_media = m;
        rc = sdp_to_string(home, sdp, offer);
    }
    su_home_deinit(home);
    return rc;
}

int
chat_sdp_is_webrtc(const char *offer, size_t len)
{
    su_home_t home[1];
    sdp_parser_t *parser;
    sdp_session_t *sdp;
    int rc;

    if (su_home_init(home) != 0)
        return -ENOMEM;
    rc = sdp_parse_offer(home, offer, len, &parser, &sdp);
    if (rc == 0)
        rc = sdp_offer_is_webrtc(sdp);
    sdp_parser_free(parser);
    su_home_deinit(home);
    return rc;
}

/*
 * fuzz_sip_message.c - whole SIP messages through sofia-sip's own parser
 * as the daemon's stack sees them (fuzz_sip.h: msg_create with nta's
 * flags, msg_buf_alloc/msg_buf_commit/msg_extract; once as a UDP datagram,
 * once as a TCP stream with msg_next), then, for what nta would hand to
 * the application, our code that reads parsed messages and is pure:
 *  - the From display name made safe (chat_display_name_safe, as a
 *    conference participant's and as a relayed sender's);
 *  - Digest credentials of a request (digest_verify) and who sent it
 *    (peer_identify, against a fixed table: an endpoint by IP, one by
 *    username with an auth);
 *  - the challenge of a response (sip_auth_credentials);
 *  - the body by Content-Type: application/sdp through sdpcheck_parse,
 *    chat_sdp_is_webrtc, chat_sdp_answer and the SIP API's
 *    api_sdp_check/api_sdp_get_direction; Asterisk's PUBLISH bodies
 *    (Event asterisk-devicestate / asterisk-mwi) through
 *    pubstate_body_parse; text/html through chat_html_sanitize;
 *  - multipart bodies: not parsed by default, as in the daemon: nua's
 *    calls (nua_stack_process_request, nua_client_orq_response) sit behind
 *    a handle preference that is off with NUTAG_MEDIA_ENABLE(0), as the
 *    SIP core sets it (checked on sipbridged with a gdb breakpoint: no
 *    out-of-dialog request with a multipart body reached the parser).
 *    SB_FUZZ_MULTIPART=1 calls msg_multipart_parse() as the daemon's
 *    executable resolves it (src/core/sipfix.c's override with its
 *    CVE-2026-110658 boundary-length guard when the core has one, linked
 *    from libsbcore.a as in the daemon), SB_FUZZ_MULTIPART=library the
 *    library's own (dlsym RTLD_NEXT), which the corpus's cve-2026-110658
 *    seeds crash.  Either finds the library's other multipart bugs
 *    (tests/fuzz/regress/fuzz_sip_message/README.md).  The payload is
 *    copied to an allocation of its exact size first, so that ASan sees
 *    any read past it; the SDP part of a parsed multipart goes on as SDP.
 *
 * Input: the bytes of one SIP message (or several, for the stream).
 * SB_FUZZ_DEBUG=1 prints what the stack would do with each message.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_mime.h>
#include <sofia-sip/su_alloc.h>

#include "../../src/api/api_int.h"
#include "fuzz_common.h"
#include "fuzz_sip.h"
#include "sipbridge/cfg.h"
#include "sipbridge/chat_sdp.h"
#include "sipbridge/chat_text.h"
#include "sipbridge/digest.h"
#include "sipbridge/peer.h"
#include "sipbridge/pubstate_body.h"
#include "sipbridge/sdpcheck.h"
#include "sipbridge/sip.h"

static struct digest *dg;
static struct peer_table *peers;
static int multipart;    /* 0: off, 1: as resolved, 2: the library's */
static bool debug;
static struct sockaddr_in src;

static const char peer_conf[] =
    "[udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n"
    "[pbx]\ntype=endpoint\nidentify_by=ip\n"
    "[pbx-id]\ntype=identify\nendpoint=pbx\nmatch=127.0.0.0/8, ::1\n"
    "[alice]\ntype=endpoint\nidentify_by=username\nauth=alice-auth\n"
    "[alice-auth]\ntype=auth\nusername=alice\npassword=secret\n";

static time_t
fixed_clock(void *arg)
{
    (void)arg;
    return 1700000000;
}

static void
teardown(void)
{
    digest_destroy(dg);
    peer_table_destroy(peers);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const struct cfg_type *const types[] = {
        &peer_endpoint_type, &peer_identify_type, &peer_auth_type,
    };
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;
    const char *mp = getenv("SB_FUZZ_MULTIPART");

    (void)argc;
    (void)argv;
    fuzz_quiet_log();
    multipart = mp == NULL || mp[0] == '\0' || strcmp(mp, "0") == 0 ? 0
                : strcmp(mp, "library") == 0                      ? 2
                                                                  : 1;
    debug = getenv("SB_FUZZ_DEBUG") != NULL;
    if (digest_create(&dg) != 0 ||
        cfg_load_buffer("peers.conf", peer_conf, strlen(peer_conf), types, 3,
                        &cfg, &errs) != 0 ||
        peer_table_create(&peers, cfg) != 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "fuzz_sip_message: %s\n", errs.msgs[i]);
        abort();
    }
    cfg_free(cfg);
    digest_set_clock(dg, fixed_clock, NULL);
    src.sin_family = AF_INET;
    src.sin_port = htons(5060);
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    atexit(teardown);
    return 0;
}

typedef msg_multipart_t *multipart_parse_fn(su_home_t *,
                                             msg_content_type_t const *,
                                             msg_payload_t *);

static msg_multipart_t *
multipart_parse(su_home_t *home, msg_content_type_t const *c,
                msg_payload_t *pl)
{
    static multipart_parse_fn *library;

    if (multipart == 1)
        return msg_multipart_parse(home, c, pl);
    if (library == NULL)
        *(void **)&library = dlsym(RTLD_NEXT, "msg_multipart_parse");
    return library(home, c, pl);
}

static bool
ctype_is(const sip_t *sip, const char *t)
{
    const sip_content_type_t *ct = sip->sip_content_type;

    return ct && ct->c_type && strcasecmp(ct->c_type, t) == 0;
}

static void
sdp_body(const char *s, size_t len)
{
    static const struct chat_sdp_origin o = {
        "sipbridge", 1, 1, "127.0.0.1", "chat-only conference"
    };
    su_home_t *home = su_home_new(sizeof(*home));
    sdp_parser_t *parser = NULL;
    sdp_session_t *sdp = NULL;
    char *answer = NULL, *c;

    if (home) {
        (void)sdpcheck_parse(home, s, len, &parser, &sdp);
        if (parser)
            sdp_parser_free(parser);
        su_home_unref(home);
    }
    (void)chat_sdp_is_webrtc(s, len);
    if (chat_sdp_answer(s, len, &o, &answer) == 0)
        free(answer);
    /* call.c: strndup() of the body, then the C-string functions. */
    c = strndup(s, len);
    if (c) {
        (void)api_sdp_check(c);
        (void)api_sdp_get_direction(c);
        free(c);
    }
}

static void
multipart_body(const sip_t *sip)
{
    const sip_payload_t *pl = sip->sip_payload;
    su_home_t *home;
    msg_payload_t *copy;
    msg_multipart_t *mp;

    home = su_home_new(sizeof(*home));
    if (home == NULL)
        return;
    /* The body and a NUL at the very end of one allocation. */
    copy = msg_payload_create(home, pl->pl_data, (isize_t)pl->pl_len);
    if (copy) {
        mp = multipart_parse(home, sip->sip_content_type, copy);
        if (debug)
            fprintf(stderr, "fuzz_sip_message: multipart body of %zu bytes, "
                    "boundary %s: %s\n", (size_t)pl->pl_len,
                    msg_params_find(sip->sip_content_type->c_params,
                                    "boundary=") ? "given" : "searched",
                    mp ? "parsed" : "refused");
        for (; mp; mp = mp->mp_next) {
            /* nua picks the SDP part out of a multipart INVITE. */
            if (mp->mp_content_type && mp->mp_content_type->c_type &&
                mp->mp_payload &&
                strcasecmp(mp->mp_content_type->c_type, "application/sdp")
                    == 0)
                sdp_body(mp->mp_payload->pl_data, mp->mp_payload->pl_len);
        }
    }
    su_home_unref(home);
}

static void
on_message(msg_t *msg, sip_t *sip, int accepted, void *arg)
{
    const sip_payload_t *pl;
    char name[256], cred[512];

    (void)arg;
    if (debug)
        fprintf(stderr, "fuzz_sip_message: %s %s, flags 0x%x, errors 0x%x, "
                "%s\n", sip && sip->sip_request
                             ? sip->sip_request->rq_method_name
                             : sip && sip->sip_status ? "response" : "?",
                accepted ? "accepted" : "refused",
                sip ? (unsigned)sip->sip_flags : 0u,
                msg_extract_errors(msg),
                sip && sip->sip_content_type ? sip->sip_content_type->c_type
                                             : "(no body type)");
    if (!accepted)
        return;
    /* chat_sip.c (a joining participant), chat_relay.c (a sender). */
    chat_display_name_safe(sip->sip_from ? sip->sip_from->a_display : NULL,
                           name, sizeof(name));
    chat_display_name_safe(sip->sip_from ? sip->sip_from->a_display : NULL,
                           name, CHAT_DISPLAY_NAME_SIZE);
    if (sip->sip_request) {
        int rc = digest_verify(dg, sip, "sipbridge", "alice", "secret");

        FUZZ_CHECK(rc == 0 || rc == -EACCES || rc == -ESTALE ||
                       rc == -EINVAL, "digest_verify returned %d", rc);
        FUZZ_CHECK(rc != 0, "a forged Digest response was accepted");
        (void)peer_identify(peers, sip, (const struct sockaddr *)&src);
        (void)peer_identify(peers, sip, NULL);
    } else if (sip->sip_www_authenticate || sip->sip_proxy_authenticate) {
        int rc = sip_auth_credentials(sip, "alice", "secret", cred,
                                      sizeof(cred));

        FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOSPC,
                   "sip_auth_credentials returned %d", rc);
    }
    pl = sip->sip_payload;
    if (pl == NULL || pl->pl_data == NULL)
        return;
    if (ctype_is(sip, "application/sdp")) {
        sdp_body(pl->pl_data, pl->pl_len);
    } else if (ctype_is(sip, "text/html")) {
        char *out = NULL;

        if (chat_html_sanitize(pl->pl_data, pl->pl_len, &out, NULL) == 0)
            free(out);
    } else if (multipart && sip->sip_content_type &&
               sip->sip_content_type->c_type &&
               strncasecmp(sip->sip_content_type->c_type, "multipart/", 10)
                   == 0) {
        multipart_body(sip);
    }
    if (sip->sip_request && sip->sip_request->rq_method == sip_method_publish
        && sip->sip_event && sip->sip_event->o_type &&
        (strcmp(sip->sip_event->o_type, PUBSTATE_EVENT_DEVICE) == 0 ||
         strcmp(sip->sip_event->o_type, PUBSTATE_EVENT_MWI) == 0)) {
        struct pubstate_body b;
        char why[PUBSTATE_WHY_MAX + 1];

        /* inbound.c: the event name, the bare type/subtype. */
        if (pubstate_body_parse(sip->sip_event->o_type,
                                sip->sip_content_type
                                    ? sip->sip_content_type->c_type : NULL,
                                pl->pl_data, pl->pl_len, &b, why,
                                sizeof(why)) == 0)
            pubstate_body_clear(&b);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_sip_feed((const char *)data, size, 0, on_message, NULL);
    fuzz_sip_feed((const char *)data, size, 1, on_message, NULL);
    return 0;
}

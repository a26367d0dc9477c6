/*
 * fuzz_mwi.c - MWI: an active_watchers row and counts into a NOTIFY
 * (mwi_notify_build) and the RFC 3842 message-summary body
 * (mwi_body_build), then the NOTIFY's header values through sofia-sip's
 * header parsers, which is what nua does with the SIPTAG_*_STR tags that
 * src/mwi/send.c hands it.  sipbridge has no message-summary parser of
 * its own (it only builds bodies), so the body is read back here by the
 * harness to check the counts.
 *
 * Input: fields separated by '\n', in this order (missing ones are NULL,
 * the last takes the rest):
 *   id, callid, to_tag, from_tag, to_user, to_domain, sub_user,
 *   sub_domain, contact, record_route, local_contact, event_id,
 *   socket_info, expires (decimal, absolute unix seconds; "now" is
 *   1700000000), local_cseq,
 *   counts "NEW OLD URGENT_NEW URGENT_OLD", account, fallback_contact,
 *   body buffer size (decimal)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include "fuzz_common.h"
#include "sipbridge/mwi_notify.h"

#define NFIELDS 19
#define NOW 1700000000

enum {
    F_ID, F_CALLID, F_TO_TAG, F_FROM_TAG, F_TO_USER, F_TO_DOMAIN, F_SUB_USER,
    F_SUB_DOMAIN, F_CONTACT, F_RR, F_LOCAL_CONTACT, F_EVENT_ID, F_SOCKET,
    F_EXPIRES, F_CSEQ, F_COUNTS, F_ACCOUNT, F_FALLBACK, F_BODYLEN
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_log();
    return 0;
}

static long long
num(const char *s, long long def)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0')
        return def;
    v = strtoll(s, &end, 10);
    return end == s ? def : v;
}

/*
 * lookup.c reads expires with strtoll() from the row.  Kamailio's and
 * OpenSIPS's column is a 32-bit INT, but a value near LLONG_MIN makes
 * mwi_notify_build()'s "expires - now" overflow (known defect
 * mwi-expires-overflow, tests/fuzz/regress/fuzz_mwi/): the harness keeps to
 * the column's range unless SB_FUZZ_STRICT=1.
 */
static long long
expires(const char *s)
{
    long long v = num(s, NOW + 3600);

    if (fuzz_strict())
        return v;
    if (v < INT32_MIN)
        return INT32_MIN;
    return v > INT32_MAX ? INT32_MAX : v;
}

static bool
has_crlf(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") != NULL;
}

/* The body as a reader would see it: "Voice-Message: N/O (UN/UO)". */
static void
check_body(const char *body, const struct mwi_counts *c, const char *account)
{
    unsigned n, o, un, uo;
    const char *vm = strstr(body, "\r\nVoice-Message: ");
    bool yes = strncmp(body, "Messages-Waiting: yes\r\n", 23) == 0;

    FUZZ_CHECK(yes || strncmp(body, "Messages-Waiting: no\r\n", 22) == 0,
               "bad first line: %s", body);
    FUZZ_CHECK(yes == (c->new_msgs != 0), "Messages-Waiting is wrong: %s",
               body);
    /* An account is config text; one with a line break could forge the
     * line below, which is not what this checks. */
    if (has_crlf(account))
        return;
    FUZZ_CHECK(vm != NULL && sscanf(vm, "\r\nVoice-Message: %u/%u (%u/%u)",
                                    &n, &o, &un, &uo) == 4,
               "no Voice-Message line: %s", body);
    FUZZ_CHECK(n == c->new_msgs && o == c->old_msgs &&
                   un == c->urgent_new && uo == c->urgent_old,
               "counts differ: %s", body);
    FUZZ_CHECK(strlen(body) >= 2 && strcmp(body + strlen(body) - 2, "\r\n")
                   == 0, "body does not end in CRLF");
    if (account && account[0])
        FUZZ_CHECK(strstr(body, "\r\nMessage-Account: ") != NULL,
                   "no Message-Account line");
}

/* What nua makes of the header values (SIPTAG_*_STR): parsed or refused,
 * never a crash. */
static void
parse_headers(const struct mwi_notify *n)
{
    su_home_t *home = su_home_new(sizeof(*home));

    if (home == NULL)
        return;
    (void)url_make(home, n->ruri);
    (void)sip_from_make(home, n->from);
    (void)sip_to_make(home, n->to);
    (void)sip_call_id_make(home, n->call_id);
    FUZZ_CHECK(sip_cseq_make(home, n->cseq) != NULL, "CSeq '%s' does not "
               "parse", n->cseq);
    if (n->route[0])
        (void)sip_route_make(home, n->route);
    (void)sip_contact_make(home, n->contact);
    (void)sip_event_make(home, n->event);
    FUZZ_CHECK(sip_subscription_state_make(home, n->substate) != NULL,
               "Subscription-State '%s' does not parse", n->substate);
    (void)sip_payload_make(home, n->body);
    su_home_unref(home);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[NFIELDS];
    char *buf = fuzz_fields(data, size, '\n', f, NULL, NFIELDS);
    struct mwi_watcher w;
    struct mwi_counts c = { 0, 0, 0, 0 };
    struct mwi_notify *n;
    size_t bodylen;
    char *body;
    int rc;

    if (buf == NULL)
        return 0;
    n = malloc(sizeof(*n));
    if (n == NULL) {
        free(buf);
        return 0;
    }
    w = (struct mwi_watcher){
        .id = f[F_ID], .callid = f[F_CALLID], .to_tag = f[F_TO_TAG],
        .from_tag = f[F_FROM_TAG], .to_user = f[F_TO_USER],
        .to_domain = f[F_TO_DOMAIN], .sub_user = f[F_SUB_USER],
        .sub_domain = f[F_SUB_DOMAIN], .contact = f[F_CONTACT],
        .record_route = f[F_RR], .local_contact = f[F_LOCAL_CONTACT],
        .event_id = f[F_EVENT_ID], .socket_info = f[F_SOCKET],
        .expires = expires(f[F_EXPIRES]),
        .local_cseq = num(f[F_CSEQ], 1),
    };
    if (f[F_COUNTS])
        (void)sscanf(f[F_COUNTS], "%u %u %u %u", &c.new_msgs, &c.old_msgs,
                     &c.urgent_new, &c.urgent_old);

    rc = mwi_notify_build(&w, &c, f[F_ACCOUNT],
                          f[F_FALLBACK] ? f[F_FALLBACK]
                                        : "sip:sipbridge@127.0.0.1:5060",
                          NOW, n);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "mwi_notify_build returned %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(strstr(n->substate, "active;expires=") == n->substate &&
                       n->substate[15] != '-',
                   "Subscription-State '%s'", n->substate);
        FUZZ_CHECK(strchr(n->cseq, '-') == NULL, "CSeq '%s'", n->cseq);
        check_body(n->body, &c, f[F_ACCOUNT]);
        parse_headers(n);
    }

    /* The body alone, into a buffer of any size: -ENOSPC or a whole one. */
    bodylen = (size_t)num(f[F_BODYLEN], 512) & 1023;
    body = malloc(bodylen ? bodylen : 1);
    if (body != NULL) {
        rc = mwi_body_build(bodylen ? body : NULL, bodylen, &c, f[F_ACCOUNT]);
        FUZZ_CHECK(rc == -ENOSPC || (rc > 0 && (size_t)rc < bodylen &&
                                     strlen(body) == (size_t)rc),
                   "mwi_body_build returned %d for %zu bytes", rc, bodylen);
        if (rc > 0)
            check_body(body, &c, f[F_ACCOUNT]);
        free(body);
    }
    free(n);
    free(buf);
    return 0;
}

/*
 * sdp.c - the SIP API's SDP: a check that the application's SDP parses
 * (the core's sdpcheck, so that a malformed jsep gets an error instead of
 * going out), and the one edit the API makes itself: a hold or unhold
 * re-offer is the last local SDP with its direction attributes set and
 * the o= session version raised (RFC 3264 section 8).  The rest of the
 * SDP is the application's and passes untouched, so this works on lines
 * rather than through sofia's SDP printer, which would reformat it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/su_alloc.h>

#include "api_int.h"
#include "sipbridge/sdpcheck.h"

int
api_sdp_check(const char *sdp)
{
    su_home_t *home = su_home_new(sizeof(*home));
    sdp_parser_t *parser = NULL;
    sdp_session_t *session;
    int rc;

    if (home == NULL)
        return -ENOMEM;
    rc = sdpcheck_parse(home, sdp, strlen(sdp), &parser, &session);
    if (parser)
        sdp_parser_free(parser);
    su_home_unref(home);
    return rc;
}

static bool
api_sdp_is_direction(const char *line, size_t len)
{
    static const char *const dirs[] = { "a=sendrecv", "a=sendonly",
                                        "a=recvonly", "a=inactive" };

    for (size_t i = 0; i < 4; i++)
        if (len == strlen(dirs[i]) && strncmp(line, dirs[i], len) == 0)
            return true;
    return false;
}

/* "o=user id version ..." with version + 1; @return 0 or -1. */
static int
api_sdp_origin(const char *line, size_t len, char *out, size_t outlen)
{
    const char *p = line, *end = line + len, *v;
    unsigned long long ver;
    char *stop;
    int spaces = 0;

    while (p < end && spaces < 2)
        spaces += *p++ == ' ';
    if (spaces < 2)
        return -1;
    v = p;
    ver = strtoull(v, &stop, 10);
    if (stop == v || stop > end)
        return -1;
    snprintf(out, outlen, "%.*s%llu%.*s", (int)(v - line), line, ver + 1,
             (int)(end - stop), stop);
    return 0;
}

static bool
api_sdp_has_direction(const char *sdp)
{
    for (const char *p = sdp; *p;) {
        size_t len = strcspn(p, "\r\n");

        if (api_sdp_is_direction(p, len))
            return true;
        p += len;
        p += strspn(p, "\r\n");
    }
    return false;
}

char *
api_sdp_direction(const char *sdp, const char *dir)
{
    size_t cap = strlen(sdp) + 64 * 8 + 64, n = 0;
    char *out = malloc(cap), origin[512];
    bool set = false;
    const char *p = sdp;
    /* Only a line of its own is a direction: "a=tool:a=sendrecv" is not
     * (found by fuzz_sdp_direction). */
    bool any = api_sdp_has_direction(sdp);

    if (out == NULL)
        return NULL;
    while (*p) {
        size_t len = strcspn(p, "\r\n");
        const char *line = p;

        p += len;
        p += strspn(p, "\r\n") > 2 ? 2 : strspn(p, "\r\n");
        if (api_sdp_is_direction(line, len)) {
            n += (size_t)snprintf(out + n, cap - n, "a=%s\r\n", dir);
            set = true;
        } else if (len > 2 && strncmp(line, "o=", 2) == 0 &&
                   api_sdp_origin(line, len, origin, sizeof(origin)) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%s\r\n", origin);
        } else {
            n += (size_t)snprintf(out + n, cap - n, "%.*s\r\n", (int)len,
                                  line);
        }
        if (n >= cap - 64) {
            free(out);
            return NULL;
        }
        if (!set && !any && len > 2 && strncmp(line, "t=", 2) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "a=%s\r\n", dir);
            set = true;
        }
    }
    return out;
}

const char *
api_sdp_get_direction(const char *sdp)
{
    static const char *const dirs[] = { "sendrecv", "sendonly", "recvonly",
                                        "inactive" };
    const char *p = sdp;

    while (*p) {
        size_t len = strcspn(p, "\r\n");

        if (api_sdp_is_direction(p, len))
            for (size_t i = 0; i < 4; i++)
                if (strncmp(p + 2, dirs[i], len - 2) == 0)
                    return dirs[i];
        p += len;
        p += strspn(p, "\r\n");
    }
    return "sendrecv";
}

/* RFC 3264 section 6.1: we send only if we want to and the offerer
 * receives; we receive only if we want to and the offerer sends. */
const char *
api_sdp_answer_direction(const char *offer, const char *want)
{
    bool they_send = strcmp(offer, "sendrecv") == 0 ||
                     strcmp(offer, "sendonly") == 0;
    bool they_recv = strcmp(offer, "sendrecv") == 0 ||
                     strcmp(offer, "recvonly") == 0;
    bool send = they_recv && (strcmp(want, "sendrecv") == 0 ||
                              strcmp(want, "sendonly") == 0);
    bool recv = they_send && (strcmp(want, "sendrecv") == 0 ||
                              strcmp(want, "recvonly") == 0);

    return send ? (recv ? "sendrecv" : "sendonly")
                : (recv ? "recvonly" : "inactive");
}

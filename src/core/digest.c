/*
 * digest.c - Digest challenges and checks, on sofia-sip's auth_digest.
 *
 * sofia parses the credentials (auth_digest_response_get, which unquotes
 * the values) and computes HA1 and the response; this file adds the
 * nonces and the policy: which credentials apply, what algorithm and qop
 * we accept, and stale versus wrong.
 */
#include "sipbridge/digest.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <sofia-sip/auth_digest.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/su_md5.h>

#define DIGEST_KEY_LEN 32       /* secret bytes; HMAC pads them to 64 */
#define DIGEST_BLOCK 64         /* MD5 block size */
#define DIGEST_TIME_LEN 16      /* hex digits of the nonce's timestamp */

struct digest {
    unsigned char key[DIGEST_KEY_LEN];
    digest_clock_cb now;
    void *arg;
};

static time_t
digest_realtime(void *arg)
{
    struct timespec ts;

    (void)arg;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

int
digest_create(struct digest **out)
{
    struct digest *d = calloc(1, sizeof(*d));
    size_t got = 0;

    if (d == NULL)
        return -ENOMEM;
    while (got < sizeof(d->key)) {
        ssize_t n = getrandom(d->key + got, sizeof(d->key) - got, 0);

        if (n < 0 && errno != EINTR) {
            int err = errno;

            free(d);
            return -err;
        }
        got += n > 0 ? (size_t)n : 0;
    }
    d->now = digest_realtime;
    *out = d;
    return 0;
}

void
digest_destroy(struct digest *d)
{
    if (d == NULL)
        return;
    explicit_bzero(d->key, sizeof(d->key));
    free(d);
}

void
digest_set_clock(struct digest *d, digest_clock_cb now, void *arg)
{
    d->now = now ? now : digest_realtime;
    d->arg = now ? arg : NULL;
}

/* ---- nonces ---- */

/* HMAC-MD5 (RFC 2104) of @p msg under the instance secret, in hex. */
static void
digest_hmac_hex(const struct digest *d, const char *msg, size_t len,
                char hex[2 * SU_MD5_DIGEST_SIZE + 1])
{
    unsigned char pad[DIGEST_BLOCK], inner[SU_MD5_DIGEST_SIZE];
    su_md5_t md5;

    memset(pad, 0x36, sizeof(pad));
    for (size_t i = 0; i < sizeof(d->key); i++)
        pad[i] ^= d->key[i];
    su_md5_init(&md5);
    su_md5_update(&md5, pad, sizeof(pad));
    su_md5_update(&md5, msg, len);
    su_md5_digest(&md5, inner);
    memset(pad, 0x5c, sizeof(pad));
    for (size_t i = 0; i < sizeof(d->key); i++)
        pad[i] ^= d->key[i];
    su_md5_init(&md5);
    su_md5_update(&md5, pad, sizeof(pad));
    su_md5_update(&md5, inner, sizeof(inner));
    su_md5_hexdigest(&md5, hex);
    su_md5_deinit(&md5);
    explicit_bzero(pad, sizeof(pad));
}

static void
digest_nonce_make(const struct digest *d, unsigned long long t,
                  char nonce[DIGEST_NONCE_LEN + 1])
{
    snprintf(nonce, DIGEST_TIME_LEN + 1, "%016llx", t);
    digest_hmac_hex(d, nonce, DIGEST_TIME_LEN, nonce + DIGEST_TIME_LEN);
}

/* Compare without an early exit, so timing tells nothing of the MAC. */
static bool
digest_equal(const char *a, const char *b, size_t n)
{
    unsigned char diff = 0;

    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* @return 0 ours and fresh, -ESTALE ours but expired, -EACCES not ours. */
static int
digest_nonce_check(const struct digest *d, const char *nonce)
{
    char want[DIGEST_NONCE_LEN + 1], hex[DIGEST_TIME_LEN + 1];
    unsigned long long t, now;

    if (strlen(nonce) != DIGEST_NONCE_LEN)
        return -EACCES;
    for (size_t i = 0; i < DIGEST_TIME_LEN; i++)
        if (!isxdigit((unsigned char)nonce[i]))
            return -EACCES;
    memcpy(hex, nonce, DIGEST_TIME_LEN);
    hex[DIGEST_TIME_LEN] = '\0';
    t = strtoull(hex, NULL, 16);
    digest_nonce_make(d, t, want);
    if (!digest_equal(want, nonce, DIGEST_NONCE_LEN))
        return -EACCES;
    /* A nonce from the future (clock set back) is stale, not forever. */
    now = (unsigned long long)d->now(d->arg);
    return t <= now && now - t <= DIGEST_NONCE_TTL ? 0 : -ESTALE;
}

/* ---- verification ---- */

/* The Digest credentials for @p realm: Authorization, then Proxy-. */
static int
digest_find(su_home_t *home, const sip_t *req, const char *realm,
            auth_response_t *ar)
{
    const msg_auth_t *lists[] = { req->sip_authorization,
                                  req->sip_proxy_authorization };

    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        for (const msg_auth_t *au = lists[i]; au; au = au->au_next) {
            if (au->au_scheme == NULL || au->au_params == NULL ||
                strcasecmp(au->au_scheme, "Digest") != 0)
                continue;
            if (auth_digest_response_get(home, ar, au->au_params) >= 0 &&
                ar->ar_realm != NULL && strcmp(ar->ar_realm, realm) == 0)
                return 0;
        }
    }
    return -EACCES;
}

/* What we offer: MD5, and qop=auth or no qop (RFC 2069 clients). */
static bool
digest_acceptable(const auth_response_t *ar)
{
    if (ar->ar_username == NULL || ar->ar_nonce == NULL ||
        ar->ar_uri == NULL || ar->ar_response == NULL)
        return false;
    if (!ar->ar_md5 || ar->ar_md5sess)
        return false;
    if (ar->ar_qop == NULL)
        return true;
    return ar->ar_auth && !ar->ar_auth_int && ar->ar_nc != NULL &&
           ar->ar_cnonce != NULL;
}

/* Clients send lower-case hex (RFC 2617 LHEX) but tolerate upper case. */
static bool
digest_equal_hex(const char *want, const char *got)
{
    char low[2 * SU_MD5_DIGEST_SIZE];

    if (strlen(got) != sizeof(low))
        return false;
    for (size_t i = 0; i < sizeof(low); i++)
        low[i] = (char)tolower((unsigned char)got[i]);
    return digest_equal(want, low, sizeof(low));
}

static int
digest_check(const struct digest *d, const sip_t *req, auth_response_t *ar,
             const char *realm, const char *user, const char *pass)
{
    auth_hexmd5_t ha1, want;
    int fresh;

    if (!digest_acceptable(ar) || strcmp(ar->ar_username, user) != 0)
        return -EACCES;
    fresh = digest_nonce_check(d, ar->ar_nonce);
    if (fresh == -EACCES)
        return -EACCES;
    auth_digest_ha1(ha1, user, realm, pass);
    auth_digest_response(ar, want, ha1, req->sip_request->rq_method_name,
                         NULL, 0);
    if (!digest_equal_hex(want, ar->ar_response))
        return -EACCES;
    return fresh;
}

int
digest_verify(const struct digest *d, const sip_t *req, const char *realm,
              const char *user, const char *pass)
{
    su_home_t home[1];
    auth_response_t ar[1] = { { 0 } };
    int rc;

    if (d == NULL || req == NULL || req->sip_request == NULL ||
        realm == NULL || user == NULL || pass == NULL)
        return -EINVAL;
    if (su_home_init(home) < 0)
        return -ENOMEM;
    ar->ar_size = (int)sizeof(ar[0]);
    rc = digest_find(home, req, realm, ar);
    if (rc == 0)
        rc = digest_check(d, req, ar, realm, user, pass);
    su_home_deinit(home);
    return rc;
}

/* ---- challenges ---- */

static bool
digest_realm_ok(const char *realm)
{
    for (const char *p = realm; *p != '\0'; p++)
        if (*p == '"' || *p == '\\' || iscntrl((unsigned char)*p))
            return false;
    return true;
}

int
digest_challenge(const struct digest *d, const char *realm, bool stale,
                 char *buf, size_t len)
{
    char nonce[DIGEST_NONCE_LEN + 1];
    int n;

    if (d == NULL || realm == NULL || buf == NULL || !digest_realm_ok(realm))
        return -EINVAL;
    digest_nonce_make(d, (unsigned long long)d->now(d->arg), nonce);
    n = snprintf(buf, len, "Digest realm=\"%s\", nonce=\"%s\", "
                 "algorithm=MD5, qop=\"auth\"%s", realm, nonce,
                 stale ? ", stale=true" : "");
    if (n < 0 || (size_t)n >= len)
        return -ENOSPC;
    return 0;
}

/*
 * digest.h - server-side HTTP Digest (RFC 2617, RFC 3261 section 22) for
 * challenging inbound requests: MD5, with qop=auth or without qop (RFC 2069).
 *
 * Owns a random per-instance secret and makes stateless nonces with it:
 * hex(time) plus a keyed MD5 (HMAC-MD5) of that, valid DIGEST_NONCE_TTL
 * seconds, so nothing is stored per challenge.  Nonce counts are therefore
 * not tracked: a captured response can be replayed while its nonce lives.
 * Use: digest_create() once; per request from an endpoint with an auth,
 * digest_verify(); on -EACCES answer 401 with the header built by
 * digest_challenge(.., false, ..), on -ESTALE with stale=true.
 * The caller owns the struct digest and every buffer.  Loop thread only.
 */
#ifndef SIPBRIDGE_DIGEST_H
#define SIPBRIDGE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <sofia-sip/sip.h>

#define DIGEST_NONCE_TTL 300    /* seconds a nonce is accepted unstale */
#define DIGEST_NONCE_LEN 48     /* 16 hex digits of time, 32 of MAC */

/* Big enough for digest_challenge() with a realm of up to 128 bytes. */
#define DIGEST_CHALLENGE_SIZE 256

/* Time source for tests; returns seconds. */
typedef time_t (*digest_clock_cb)(void *arg);

struct digest;

/**
 * Create an instance with a fresh secret from getrandom(): restarting the
 * daemon invalidates the nonces handed out before.
 * @return 0 and *out (free with digest_destroy), or -ENOMEM or -errno of
 * getrandom.
 */
int digest_create(struct digest **out);

/** Free @p d (its secret is wiped first); NULL is fine. */
void digest_destroy(struct digest *d);

/**
 * Read time from @p now(@p arg) instead of CLOCK_REALTIME (tests); a NULL
 * @p now goes back to the real clock.
 */
void digest_set_clock(struct digest *d, digest_clock_cb now, void *arg);

/**
 * Check the Digest credentials for @p realm in the Authorization header
 * (then Proxy-Authorization) of @p req (borrowed) against @p user and
 * @p pass.  The method is the request's; the digest-uri is used as sent.
 * Only algorithm MD5 (or none) and qop auth (or none) are accepted.
 * @return 0 authorized; -EACCES no credentials for @p realm, a wrong
 * user or response, or a nonce we did not make; -ESTALE a right response
 * with an expired nonce; -EINVAL a NULL argument or no request line.
 */
int digest_verify(const struct digest *d, const sip_t *req, const char *realm,
                  const char *user, const char *pass);

/**
 * Write the value of a WWW-Authenticate (or Proxy-Authenticate) header
 * with a new nonce to @p buf:
 *   Digest realm="R", nonce="N", algorithm=MD5, qop="auth"[, stale=true]
 * @return 0, -ENOSPC if @p len is too small, or -EINVAL for a realm with
 * quotes, backslashes or control characters.
 */
int digest_challenge(const struct digest *d, const char *realm, bool stale,
                     char *buf, size_t len);

#endif

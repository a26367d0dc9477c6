/*
 * test_digest.c - Digest challenges and checks.  Responses are computed
 * here with su_md5 from the RFC 2617 formulas, independently of the code
 * under test, and carried in requests parsed by sofia.  Time is injected,
 * so stale nonces need no sleeping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sofia-sip/auth_digest.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/su_md5.h>

#include "sipbridge/digest.h"

#define URI "sip:svc@192.0.2.1"
#define T0 1700000000

/* The injected clock; each test has its own. */
struct clock {
    time_t now;
};

static time_t
clock_now(void *arg)
{
    return ((struct clock *)arg)->now;
}

/* What a client puts in its Authorization header. */
struct creds {
    const char *user, *realm, *pass, *nonce;
    bool qop;               /* qop=auth with nc and cnonce, else RFC 2069 */
};

/* ---- helpers ---- */

static void
md5_hex(char out[33], const char *fmt, ...)
{
    char s[512];
    su_md5_t md5;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s, sizeof(s), fmt, ap);
    va_end(ap);
    su_md5_init(&md5);
    su_md5_strupdate(&md5, s);
    su_md5_hexdigest(&md5, out);
}

/* response = MD5(HA1:nonce[:nc:cnonce:qop]:HA2), method INVITE. */
static void
response_for(const struct creds *c, char out[33])
{
    char ha1[33], ha2[33];

    md5_hex(ha1, "%s:%s:%s", c->user, c->realm, c->pass);
    md5_hex(ha2, "INVITE:%s", URI);
    if (c->qop)
        md5_hex(out, "%s:%s:00000001:c0ffee:auth:%s", ha1, c->nonce, ha2);
    else
        md5_hex(out, "%s:%s:%s", ha1, c->nonce, ha2);
}

static void
auth_line(char *buf, size_t len, const char *hname, const struct creds *c)
{
    char resp[33];

    response_for(c, resp);
    snprintf(buf, len, "%s: Digest username=\"%s\", realm=\"%s\", "
             "nonce=\"%s\", uri=\"" URI "\", response=\"%s\", "
             "algorithm=MD5%s\r\n", hname, c->user, c->realm, c->nonce, resp,
             c->qop ? ", cnonce=\"c0ffee\", qop=auth, nc=00000001" : "");
}

/* An INVITE carrying @p lines (complete header lines, may be ""). */
static msg_t *
request(const char *lines)
{
    char text[2048];
    msg_t *m;
    int n;

    n = snprintf(text, sizeof(text),
                 "INVITE " URI " SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK-1\r\n"
                 "Max-Forwards: 70\r\n"
                 "From: <sip:alice@example.com>;tag=f1\r\n"
                 "To: <" URI ">\r\n"
                 "Call-ID: digest-test-1\r\n"
                 "CSeq: 1 INVITE\r\n"
                 "%s"
                 "Content-Length: 0\r\n\r\n", lines);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    m = msg_make(sip_default_mclass(), 0, text, n);
    assert_non_null(m);
    assert_non_null(sip_object(m)->sip_request);
    return m;
}

static int
verify_lines(const struct digest *d, const char *lines, const char *realm,
             const char *user, const char *pass)
{
    msg_t *m = request(lines);
    int rc = digest_verify(d, sip_object(m), realm, user, pass);

    msg_destroy(m);
    return rc;
}

/* Verify @p c, sent in an Authorization header, against the account. */
static int
verify(const struct digest *d, const struct creds *c, const char *realm,
       const char *user, const char *pass)
{
    char line[1024];

    auth_line(line, sizeof(line), "Authorization", c);
    return verify_lines(d, line, realm, user, pass);
}

static struct digest *
make(struct clock *clk)
{
    struct digest *d = NULL;

    assert_int_equal(digest_create(&d), 0);
    assert_non_null(d);
    clk->now = T0;
    digest_set_clock(d, clock_now, clk);
    return d;
}

/* A fresh nonce from a challenge for @p realm. */
static void
nonce_of(const struct digest *d, const char *realm, char *out)
{
    char buf[DIGEST_CHALLENGE_SIZE];
    const char *p;

    assert_int_equal(digest_challenge(d, realm, false, buf, sizeof(buf)), 0);
    p = strstr(buf, "nonce=\"");
    assert_non_null(p);
    p += strlen("nonce=\"");
    assert_true(strlen(p) > DIGEST_NONCE_LEN && p[DIGEST_NONCE_LEN] == '"');
    memcpy(out, p, DIGEST_NONCE_LEN);
    out[DIGEST_NONCE_LEN] = '\0';
}

/* ---- sofia's helpers against RFC 2617 ---- */

static void
digest_rfc2617_example_matches_sofia(void **state)
{
    static const char *const params[] = {
        "username=\"Mufasa\"", "realm=\"testrealm@host.com\"",
        "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"",
        "uri=\"/dir/index.html\"", "qop=auth", "nc=00000001",
        "cnonce=\"0a4f113b\"",
        "response=\"6629fae49393a05397450978507c4ef1\"",
        "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"", NULL
    };
    su_home_t home[1];
    auth_response_t ar[1] = { { 0 } };
    auth_hexmd5_t ha1, resp;
    char mine[33], ha2[33];

    (void)state;
    assert_int_equal(su_home_init(home), 0);
    ar->ar_size = (int)sizeof(ar[0]);
    assert_true(auth_digest_response_get(home, ar, params) >= 9);
    assert_string_equal(ar->ar_username, "Mufasa");
    assert_string_equal(ar->ar_realm, "testrealm@host.com");
    assert_string_equal(ar->ar_uri, "/dir/index.html");
    assert_true(ar->ar_auth);
    assert_true(ar->ar_md5);
    assert_int_equal(auth_digest_ha1(ha1, "Mufasa", "testrealm@host.com",
                                     "Circle Of Life"), 0);
    assert_string_equal(ha1, "939e7578ed9e3c518a452acee763bce9");
    md5_hex(mine, "Mufasa:testrealm@host.com:Circle Of Life");
    assert_string_equal(mine, ha1);
    assert_int_equal(auth_digest_response(ar, resp, ha1, "GET", NULL, 0), 0);
    assert_string_equal(resp, "6629fae49393a05397450978507c4ef1");
    md5_hex(ha2, "GET:/dir/index.html");
    md5_hex(mine, "%s:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:"
            "auth:%s", ha1, ha2);
    assert_string_equal(mine, resp);
    su_home_deinit(home);
}

/* ---- verification ---- */

static void
digest_correct_response_is_accepted(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);
    char nonce[DIGEST_NONCE_LEN + 1];
    struct creds c = { "alice", "sipbridge", "s3cret", nonce, true };

    (void)state;
    nonce_of(d, "sipbridge", nonce);
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), 0);
    /* Within the lifetime, to the second. */
    clk.now = T0 + DIGEST_NONCE_TTL;
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), 0);
    digest_destroy(d);
}

static void
digest_no_qop_response_is_accepted(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);
    char nonce[DIGEST_NONCE_LEN + 1];
    struct creds c = { "alice", "sipbridge", "s3cret", nonce, false };

    (void)state;
    nonce_of(d, "sipbridge", nonce);
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), 0);
    c.pass = "wrong";
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), -EACCES);
    digest_destroy(d);
}

static void
digest_proxy_authorization_is_accepted(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);
    char nonce[DIGEST_NONCE_LEN + 1], line[1024];
    struct creds c = { "alice", "sipbridge", "s3cret", nonce, true };

    (void)state;
    nonce_of(d, "sipbridge", nonce);
    auth_line(line, sizeof(line), "Proxy-Authorization", &c);
    assert_int_equal(verify_lines(d, line, "sipbridge", "alice", "s3cret"),
                     0);
    digest_destroy(d);
}

/* Credentials for another realm first must not hide ours. */
static void
digest_credentials_are_picked_by_realm(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);
    char nonce[DIGEST_NONCE_LEN + 1], lines[2048];
    struct creds other = { "alice", "other", "x", nonce, true };
    struct creds ours = { "alice", "sipbridge", "s3cret", nonce, true };
    size_t off;

    (void)state;
    nonce_of(d, "sipbridge", nonce);
    auth_line(lines, sizeof(lines), "Authorization", &other);
    off = strlen(lines);
    auth_line(lines + off, sizeof(lines) - off, "Authorization", &ours);
    assert_int_equal(verify_lines(d, lines, "sipbridge", "alice", "s3cret"),
                     0);
    digest_destroy(d);
}

static void
digest_wrong_password_is_refused(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);
    char nonce[DIGEST_NONCE_LEN + 1];
    struct creds c = { "alice", "sipbridge", "guess", nonce, true };

    (void)state;
    nonce_of(d, "sipbridge", nonce);
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), -EACCES);
    digest_destroy(d);
}

/* Right password, but for another account. */
static void
digest_wrong_user_is_refused(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);
    char nonce[DIGEST_NONCE_LEN + 1];
    struct creds c = { "bob", "sipbridge", "s3cret", nonce, true };

    (void)state;
    nonce_of(d, "sipbridge", nonce);
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), -EACCES);
    digest_destroy(d);
}

static void
digest_other_realm_is_refused(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);
    char nonce[DIGEST_NONCE_LEN + 1];
    struct creds c = { "alice", "other", "s3cret", nonce, true };

    (void)state;
    nonce_of(d, "other", nonce);
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), -EACCES);
    /* Realms are compared exactly. */
    c.realm = "SIPBRIDGE";
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), -EACCES);
    digest_destroy(d);
}

static void
digest_no_credentials_is_refused(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);

    (void)state;
    assert_int_equal(verify_lines(d, "", "sipbridge", "alice", "s3cret"),
                     -EACCES);
    /* Other schemes are not ours. */
    assert_int_equal(verify_lines(d, "Authorization: Basic YWxpY2U6czNjcmV0"
                                  "\r\n", "sipbridge", "alice", "s3cret"),
                     -EACCES);
    digest_destroy(d);
}

/* The response is right for the nonce sent; the nonce is not ours. */
static void
digest_tampered_nonce_is_refused(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk), *other = NULL;
    char nonce[DIGEST_NONCE_LEN + 1];
    struct creds c = { "alice", "sipbridge", "s3cret", nonce, true };

    (void)state;
    nonce_of(d, "sipbridge", nonce);
    nonce[DIGEST_NONCE_LEN - 1] = nonce[DIGEST_NONCE_LEN - 1] == '0' ? '1'
                                                                     : '0';
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), -EACCES);
    /* A later timestamp under the old MAC would extend the lifetime. */
    nonce_of(d, "sipbridge", nonce);
    nonce[15] = nonce[15] == 'f' ? 'e' : 'f';
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), -EACCES);
    /* Truncated, and made by someone else. */
    nonce_of(d, "sipbridge", nonce);
    nonce[20] = '\0';
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), -EACCES);
    assert_int_equal(digest_create(&other), 0);
    nonce_of(other, "sipbridge", nonce);
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), -EACCES);
    digest_destroy(other);
    digest_destroy(d);
}

static void
digest_expired_nonce_is_stale(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);
    char nonce[DIGEST_NONCE_LEN + 1];
    struct creds c = { "alice", "sipbridge", "s3cret", nonce, true };

    (void)state;
    nonce_of(d, "sipbridge", nonce);
    clk.now = T0 + DIGEST_NONCE_TTL + 1;
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), -ESTALE);
    /* Stale only when the response is right: else plainly refused. */
    c.pass = "guess";
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), -EACCES);
    /* A nonce from the future (clock set back) is stale too. */
    c.pass = "s3cret";
    nonce_of(d, "sipbridge", nonce);
    clk.now -= 10;
    assert_int_equal(verify(d, &c, "sipbridge", "alice", "s3cret"), -ESTALE);
    digest_destroy(d);
}

/* We offer MD5 with qop=auth: MD5-sess, auth-int and half a qop fail. */
static void
digest_unoffered_variants_are_refused(void **state)
{
    static const char *const forms[] = {
        "algorithm=MD5-sess, cnonce=\"c0ffee\", qop=auth, nc=00000001",
        "algorithm=SHA-256, cnonce=\"c0ffee\", qop=auth, nc=00000001",
        "algorithm=MD5, cnonce=\"c0ffee\", qop=auth-int, nc=00000001",
        "algorithm=MD5, qop=auth, nc=00000001",
        "algorithm=MD5, cnonce=\"c0ffee\", qop=auth",
    };
    struct clock clk;
    struct digest *d = make(&clk);
    char nonce[DIGEST_NONCE_LEN + 1], resp[33], line[1024];
    struct creds c = { "alice", "sipbridge", "s3cret", nonce, true };

    (void)state;
    nonce_of(d, "sipbridge", nonce);
    response_for(&c, resp);
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        snprintf(line, sizeof(line), "Authorization: Digest username="
                 "\"alice\", realm=\"sipbridge\", nonce=\"%s\", uri=\"" URI
                 "\", response=\"%s\", %s\r\n", nonce, resp, forms[i]);
        assert_int_equal(verify_lines(d, line, "sipbridge", "alice",
                                      "s3cret"), -EACCES);
    }
    digest_destroy(d);
}

/* A response in upper-case hex is the same response. */
static void
digest_upper_case_response_is_accepted(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);
    char nonce[DIGEST_NONCE_LEN + 1], resp[33], line[1024];
    struct creds c = { "alice", "sipbridge", "s3cret", nonce, false };

    (void)state;
    nonce_of(d, "sipbridge", nonce);
    response_for(&c, resp);
    for (char *p = resp; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    snprintf(line, sizeof(line), "Authorization: Digest username=\"alice\", "
             "realm=\"sipbridge\", nonce=\"%s\", uri=\"" URI "\", "
             "response=\"%s\"\r\n", nonce, resp);
    assert_int_equal(verify_lines(d, line, "sipbridge", "alice", "s3cret"),
                     0);
    digest_destroy(d);
}

static void
digest_bad_arguments(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);
    msg_t *m = request("");

    (void)state;
    assert_int_equal(digest_verify(NULL, sip_object(m), "r", "u", "p"),
                     -EINVAL);
    assert_int_equal(digest_verify(d, NULL, "r", "u", "p"), -EINVAL);
    assert_int_equal(digest_verify(d, sip_object(m), NULL, "u", "p"),
                     -EINVAL);
    msg_destroy(m);
    digest_destroy(d);
    digest_destroy(NULL);
}

/* ---- challenges ---- */

static void
digest_challenge_text(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);
    char buf[DIGEST_CHALLENGE_SIZE], nonce[DIGEST_NONCE_LEN + 1], want[512];

    (void)state;
    assert_int_equal(digest_challenge(d, "pbx.example.com", false, buf,
                                      sizeof(buf)), 0);
    nonce_of(d, "pbx.example.com", nonce);
    for (size_t i = 0; i < DIGEST_NONCE_LEN; i++)
        assert_true(isxdigit((unsigned char)nonce[i]) &&
                    !isupper((unsigned char)nonce[i]));
    /* Same second, same secret: the same nonce. */
    snprintf(want, sizeof(want), "Digest realm=\"pbx.example.com\", "
             "nonce=\"%s\", algorithm=MD5, qop=\"auth\"", nonce);
    assert_string_equal(buf, want);
    assert_int_equal(digest_challenge(d, "pbx.example.com", true, buf,
                                      sizeof(buf)), 0);
    snprintf(want, sizeof(want), "Digest realm=\"pbx.example.com\", "
             "nonce=\"%s\", algorithm=MD5, qop=\"auth\", stale=true", nonce);
    assert_string_equal(buf, want);
    /* The nonce starts with the time it was made, in hex. */
    assert_memory_equal(nonce, "000000006553f100", 16);
    assert_int_equal(digest_challenge(d, "pbx.example.com", true, buf,
                                      strlen(want)), -ENOSPC);
    assert_int_equal(digest_challenge(d, "a\"b", false, buf, sizeof(buf)),
                     -EINVAL);
    digest_destroy(d);
}

/* The challenge parses back as sofia's client side would read it. */
static void
digest_challenge_parses_with_sofia(void **state)
{
    struct clock clk;
    struct digest *d = make(&clk);
    char buf[DIGEST_CHALLENGE_SIZE], line[DIGEST_CHALLENGE_SIZE + 64];
    char lines[2048];
    msg_t *m;
    sip_t *sip;
    su_home_t home[1];
    auth_challenge_t ac[1] = { { 0 } };

    (void)state;
    assert_int_equal(digest_challenge(d, "sipbridge", true, buf,
                                      sizeof(buf)), 0);
    snprintf(line, sizeof(line), "WWW-Authenticate: %s\r\n", buf);
    snprintf(lines, sizeof(lines),
             "SIP/2.0 401 Unauthorized\r\n"
             "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK-1\r\n"
             "From: <sip:alice@example.com>;tag=f1\r\n"
             "To: <" URI ">;tag=t1\r\n"
             "Call-ID: digest-test-1\r\n"
             "CSeq: 1 INVITE\r\n%s"
             "Content-Length: 0\r\n\r\n", line);
    m = msg_make(sip_default_mclass(), 0, lines, (ssize_t)strlen(lines));
    sip = sip_object(m);
    assert_non_null(sip->sip_www_authenticate);
    assert_int_equal(su_home_init(home), 0);
    ac->ac_size = (int)sizeof(ac[0]);
    assert_true(auth_digest_challenge_get(home, ac,
                    sip->sip_www_authenticate->au_params) >= 5);
    assert_string_equal(ac->ac_realm, "sipbridge");
    assert_int_equal(strlen(ac->ac_nonce), DIGEST_NONCE_LEN);
    assert_true(ac->ac_md5);
    assert_true(ac->ac_auth);
    assert_true(ac->ac_stale);
    su_home_deinit(home);
    msg_destroy(m);
    digest_destroy(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digest_rfc2617_example_matches_sofia),
        cmocka_unit_test(digest_correct_response_is_accepted),
        cmocka_unit_test(digest_no_qop_response_is_accepted),
        cmocka_unit_test(digest_proxy_authorization_is_accepted),
        cmocka_unit_test(digest_credentials_are_picked_by_realm),
        cmocka_unit_test(digest_wrong_password_is_refused),
        cmocka_unit_test(digest_wrong_user_is_refused),
        cmocka_unit_test(digest_other_realm_is_refused),
        cmocka_unit_test(digest_no_credentials_is_refused),
        cmocka_unit_test(digest_tampered_nonce_is_refused),
        cmocka_unit_test(digest_expired_nonce_is_stale),
        cmocka_unit_test(digest_unoffered_variants_are_refused),
        cmocka_unit_test(digest_upper_case_response_is_accepted),
        cmocka_unit_test(digest_bad_arguments),
        cmocka_unit_test(digest_challenge_text),
        cmocka_unit_test(digest_challenge_parses_with_sofia),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_peer.c - endpoint, identify and auth sections: the config errors an
 * administrator reads, and who peer_identify() says sent a request.
 *
 * Configs are built in memory as file "x.conf"; BASE is one transport
 * (four lines), so added lines start at line 5.  Requests are parsed by
 * sofia from text, as the stack would hand them over.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include "sipbridge/cfg.h"
#include "sipbridge/peer.h"

#define BASE "[udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n"

static const struct cfg_type *const peer_types[] = {
    &peer_endpoint_type, &peer_identify_type, &peer_auth_type,
};

/* ---- helpers ---- */

static int
load(const char *text, struct cfg **out, struct cfg_errors *errs)
{
    return cfg_load_buffer("x.conf", text, strlen(text), peer_types, 3, out,
                           errs);
}

static void
dump_errors(const struct cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        print_error("got: %s\n", errs->msgs[i]);
}

static struct cfg *
load_ok(const char *text)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;
    int rc = load(text, &cfg, &errs);

    dump_errors(&errs);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    return cfg;
}

/* The errors of @p errs must be exactly @p want[0..n-1], in order. */
static void
assert_errors(struct cfg_errors *errs, const char *const *want, size_t n)
{
    bool same = errs->n == n;

    for (size_t i = 0; same && i < n; i++)
        same = strcmp(errs->msgs[i], want[i]) == 0;
    if (!same) {
        dump_errors(errs);
        for (size_t i = 0; i < n; i++)
            print_error("wanted: %s\n", want[i]);
        fail();
    }
    cfg_errors_clear(errs);
}

/* cfg_load must refuse @p text with exactly these errors. */
static void
assert_load_errors(const char *text, const char *const *want, size_t n)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;

    assert_int_equal(load(text, &cfg, &errs), -EINVAL);
    assert_null(cfg);
    assert_errors(&errs, want, n);
}

/* cfg_load accepts @p text; peer_check_config refuses it with @p want. */
static void
assert_check_errors(const char *text, const char *const *want, size_t n)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = load_ok(text);
    struct peer_table *pt = NULL;

    assert_int_equal(peer_check_config(cfg, &errs), -EINVAL);
    assert_errors(&errs, want, n);
    /* The table refuses it too: an endpoint never loses its auth. */
    assert_int_equal(peer_table_create(&pt, cfg), -EINVAL);
    assert_null(pt);
    cfg_free(cfg);
}

/* A table from @p text; the cfg is freed at once, so nothing may point
 * into it (ASan would see). */
static struct peer_table *
table(const char *text)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = load_ok(text);
    struct peer_table *pt = NULL;

    assert_int_equal(peer_check_config(cfg, &errs), 0);
    assert_int_equal(errs.n, 0);
    assert_int_equal(peer_table_create(&pt, cfg), 0);
    assert_non_null(pt);
    cfg_free(cfg);
    return pt;
}

/* A MESSAGE from <sip:@p user@example.com>, parsed by sofia. */
static msg_t *
request_from(const char *user)
{
    char text[512];
    msg_t *m;
    int n;

    n = snprintf(text, sizeof(text),
                 "MESSAGE sip:svc@192.0.2.1 SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK-1\r\n"
                 "Max-Forwards: 70\r\n"
                 "From: <sip:%s@example.com>;tag=f1\r\n"
                 "To: <sip:svc@192.0.2.1>\r\n"
                 "Call-ID: peer-test-1\r\n"
                 "CSeq: 1 MESSAGE\r\n"
                 "Content-Length: 0\r\n\r\n", user);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    m = msg_make(sip_default_mclass(), 0, text, n);
    assert_non_null(m);
    assert_non_null(sip_object(m));
    assert_non_null(sip_object(m)->sip_from);
    return m;
}

static struct sockaddr_storage
addr(const char *ip, unsigned port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
    } else {
        assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
    }
    return ss;
}

/* The name of who sent a request from @p user at @p ip:@p port, or "". */
static const char *
who(const struct peer_table *pt, const char *user, const char *ip,
    unsigned port)
{
    struct sockaddr_storage ss;
    const struct peer_endpoint *ep;
    msg_t *m = request_from(user);

    if (ip != NULL)
        ss = addr(ip, port);
    ep = peer_identify(pt, sip_object(m), ip ? (struct sockaddr *)&ss
                                             : NULL);
    msg_destroy(m);
    return ep ? ep->name : "";
}

/* ---- config errors ---- */

static void
peer_bad_identify_by_is_error(void **state)
{
    static const char *const want[] = {
        "x.conf:7: [ep] identify_by 'username, phone': unknown method "
        "'phone' (use username, ip or both)",
        "x.conf:10: [ep2] identify_by 'ip,': unknown method '' (use "
        "username, ip or both)",
    };

    (void)state;
    assert_load_errors(BASE "[ep]\ntype=endpoint\nidentify_by=username, "
                       "phone\n[ep2]\ntype=endpoint\nidentify_by=ip,\n",
                       want, 2);
}

static void
peer_bad_match_items_are_errors(void **state)
{
    static const char *const want[] = {
        "x.conf:10: [id] match '10.0.0.0/33': prefix length must be 0..32",
        "x.conf:10: [id] match 'pbx.example.com': not an IP address (host "
        "names are not allowed)",
        "x.conf:10: [id] match '192.0.2.1:0': port must be 1..65535",
        "x.conf:11: [id] match '2001:db8::/129': prefix length must be "
        "0..128",
        "x.conf:11: [id] match '[2001:db8::1': missing ']' after IPv6 "
        "address",
        "x.conf:11: [id] match '[2001:db8::1]5060': expected ':PORT' after "
        "']'",
        "x.conf:12: [id] match '': empty item",
        "x.conf:12: [id] match '10.0.0.0/255.0.255.0': netmask is not "
        "contiguous",
        "x.conf:12: [id] match '10.0.0.1:5060/8': a prefix and a port "
        "cannot be combined",
        "x.conf:12: [id] match '192.0.2.1:70000': port must be 1..65535",
    };

    (void)state;
    assert_load_errors(BASE "[ep]\ntype=endpoint\n[id]\ntype=identify\n"
                       "endpoint=ep\n"
                       "match=10.0.0.0/33, pbx.example.com, 192.0.2.1:0, "
                       "192.0.2.2\n"
                       "match=2001:db8::/129,[2001:db8::1,"
                       "[2001:db8::1]5060\n"
                       "match=10.0.0.1,,10.0.0.0/255.0.255.0,"
                       "10.0.0.1:5060/8,192.0.2.1:70000\n",
                       want, 10);
}

static void
peer_good_match_forms_load(void **state)
{
    struct cfg *cfg;

    (void)state;
    cfg = load_ok(BASE "[ep]\ntype=endpoint\n[id]\ntype=identify\n"
                  "endpoint=ep\nmatch = 192.0.2.1 , 10.0.0.0/8,"
                  "172.16.0.0/255.240.0.0\nmatch=2001:db8::1, 2001:db8::/32,"
                  "[2001:db8::2]:5070, 192.0.2.3:5060, [::1], ::/0\n");
    cfg_free(cfg);
}

static void
peer_identify_without_endpoint_is_error(void **state)
{
    static const char *const want[] = {
        "x.conf:5: [id] type=identify: missing required key 'endpoint'",
    };

    (void)state;
    assert_load_errors(BASE "[id]\ntype=identify\nmatch=192.0.2.1\n", want,
                       1);
}

static void
peer_auth_errors_are_schema_checked(void **state)
{
    static const char *const want[] = {
        "x.conf:7: [a] auth_type 'md5': must be one of: userpass",
        "x.conf:5: [a] type=auth: missing required key 'password'",
        "x.conf:13: [b] realm 'a\"b': must not contain quotes, backslashes "
        "or control characters",
    };

    (void)state;
    assert_load_errors(BASE "[a]\ntype=auth\nauth_type=md5\nusername=u\n"
                       "[b]\ntype=auth\nusername=u\npassword=p\n"
                       "realm=a\"b\n", want, 3);
}

static void
peer_auth_pointing_nowhere_is_error(void **state)
{
    static const char *const want[] = {
        "x.conf:7: [ep] auth 'nope': no type=auth section has that name",
        "x.conf:14: [ep2] auth 'ep': no type=auth section has that name",
    };

    (void)state;
    /* [ep2] names a section that exists, but not of type auth. */
    assert_check_errors(BASE "[ep]\ntype=endpoint\nauth=nope\n"
                        "[a]\ntype=auth\nusername=u\npassword=p\n"
                        "[ep2]\ntype=endpoint\nauth=ep\n", want, 2);
}

static void
peer_identify_pointing_nowhere_is_error(void **state)
{
    static const char *const want[] = {
        "x.conf:10: [id] endpoint 'trunk': no type=endpoint section has that "
        "name",
    };

    (void)state;
    assert_check_errors(BASE "[ep]\ntype=endpoint\n[id]\ntype=identify\n"
                        "match=192.0.2.1\nendpoint=trunk\n", want, 1);
}

/* Asterisk style: one name, several objects of different types. */
static void
peer_one_name_for_endpoint_auth_and_identify(void **state)
{
    struct peer_table *pt;

    (void)state;
    pt = table(BASE "[alice]\ntype=endpoint\nauth=alice\n"
               "[alice]\ntype=auth\nusername=alice\npassword=secret\n"
               "[alice]\ntype=identify\nendpoint=alice\nmatch=192.0.2.7\n");
    assert_string_equal(who(pt, "x", "192.0.2.7", 5060), "alice");
    assert_string_equal(peer_endpoint_find(pt, "alice")->auth->name,
                        "alice");
    peer_table_destroy(pt);
}

/* ---- identification ---- */

#define TWO_USERS BASE "[alice]\ntype=endpoint\n[bob]\ntype=endpoint\n" \
                  "identify_by=username\n"

static void
peer_identify_by_username(void **state)
{
    struct peer_table *pt = table(TWO_USERS);
    const struct peer_endpoint *ep;

    (void)state;
    assert_string_equal(who(pt, "alice", "192.0.2.50", 5060), "alice");
    assert_string_equal(who(pt, "bob", NULL, 0), "bob");
    ep = peer_endpoint_find(pt, "alice");
    assert_non_null(ep);
    assert_true(ep->by_username);
    assert_true(ep->by_ip);
    assert_null(ep->auth);
    ep = peer_endpoint_find(pt, "bob");
    assert_true(ep->by_username);
    assert_false(ep->by_ip);
    peer_table_destroy(pt);
}

static void
peer_unknown_from_user_is_null(void **state)
{
    struct peer_table *pt = table(TWO_USERS);

    (void)state;
    assert_string_equal(who(pt, "carol", "192.0.2.50", 5060), "");
    /* Names are exact, as Asterisk's sorcery lookups. */
    assert_string_equal(who(pt, "Alice", NULL, 0), "");
    assert_null(peer_identify(pt, NULL, NULL));
    assert_null(peer_identify(NULL, NULL, NULL));
    assert_null(peer_endpoint_find(pt, "carol"));
    peer_table_destroy(pt);
}

static void
peer_ip_only_endpoint_is_not_found_by_username(void **state)
{
    struct peer_table *pt;

    (void)state;
    pt = table(BASE "[trunk]\ntype=endpoint\nidentify_by=ip\n"
               "[trunk-id]\ntype=identify\nendpoint=trunk\n"
               "match=192.0.2.10\n");
    assert_string_equal(who(pt, "trunk", "192.0.2.11", 5060), "");
    assert_string_equal(who(pt, "trunk", NULL, 0), "");
    assert_string_equal(who(pt, "anyone", "192.0.2.10", 5060), "trunk");
    peer_table_destroy(pt);
}

static void
peer_username_only_endpoint_ignores_identify(void **state)
{
    struct peer_table *pt;

    (void)state;
    pt = table(BASE "[bob]\ntype=endpoint\nidentify_by=username\n"
               "[bob-id]\ntype=identify\nendpoint=bob\nmatch=192.0.2.20\n");
    assert_string_equal(who(pt, "nobody", "192.0.2.20", 5060), "");
    assert_string_equal(who(pt, "bob", "192.0.2.20", 5060), "bob");
    peer_table_destroy(pt);
}

/* Asterisk's default order is ip,username: the address wins. */
static void
peer_ip_match_wins_over_from_user(void **state)
{
    struct peer_table *pt;

    (void)state;
    pt = table(BASE "[alice]\ntype=endpoint\n[trunk]\ntype=endpoint\n"
               "identify_by=ip\n[t]\ntype=identify\nendpoint=trunk\n"
               "match=192.0.2.10\n");
    assert_string_equal(who(pt, "alice", "192.0.2.10", 5060), "trunk");
    assert_string_equal(who(pt, "alice", "192.0.2.12", 5060), "alice");
    peer_table_destroy(pt);
}

static void
peer_identify_by_ip(void **state)
{
    struct peer_table *pt;

    (void)state;
    pt = table(BASE "[trunk]\ntype=endpoint\nidentify_by=ip\n"
               "[t]\ntype=identify\nendpoint=trunk\n"
               "match=192.0.2.10, 2001:db8::10\n");
    assert_string_equal(who(pt, "x", "192.0.2.10", 5060), "trunk");
    assert_string_equal(who(pt, "x", "192.0.2.10", 1024), "trunk");
    assert_string_equal(who(pt, "x", "192.0.2.100", 5060), "");
    assert_string_equal(who(pt, "x", "2001:db8::10", 5060), "trunk");
    assert_string_equal(who(pt, "x", "2001:db8::11", 5060), "");
    peer_table_destroy(pt);
}

static void
peer_identify_by_cidr_v4(void **state)
{
    struct peer_table *pt;

    (void)state;
    /* Host bits are masked off, as Asterisk does. */
    pt = table(BASE "[lan]\ntype=endpoint\n[l]\ntype=identify\n"
               "endpoint=lan\nmatch=10.1.2.3/16\nmatch=172.16.0.0/"
               "255.240.0.0\n");
    assert_string_equal(who(pt, "x", "10.1.0.1", 5060), "lan");
    assert_string_equal(who(pt, "x", "10.1.255.254", 5060), "lan");
    assert_string_equal(who(pt, "x", "10.2.0.1", 5060), "");
    assert_string_equal(who(pt, "x", "172.31.9.9", 5060), "lan");
    assert_string_equal(who(pt, "x", "172.32.0.1", 5060), "");
    peer_table_destroy(pt);
}

static void
peer_identify_by_cidr_v6(void **state)
{
    struct peer_table *pt;

    (void)state;
    pt = table(BASE "[v6]\ntype=endpoint\n[i]\ntype=identify\n"
               "endpoint=v6\nmatch=2001:db8::/32, fd00:1:2:3::/60\n");
    assert_string_equal(who(pt, "x", "2001:db8:ffff::1", 5060), "v6");
    assert_string_equal(who(pt, "x", "2001:db9::1", 5060), "");
    assert_string_equal(who(pt, "x", "fd00:1:2:f::1", 5060), "v6");
    assert_string_equal(who(pt, "x", "fd00:1:2:10::1", 5060), "");
    /* An IPv6 rule never matches an IPv4 source. */
    assert_string_equal(who(pt, "x", "32.1.13.184", 5060), "");
    peer_table_destroy(pt);
}

static void
peer_ip_port_matches_only_that_port(void **state)
{
    struct peer_table *pt;

    (void)state;
    pt = table(BASE "[p]\ntype=endpoint\n[i]\ntype=identify\n"
               "endpoint=p\nmatch=192.0.2.30:5062, [2001:db8::30]:5070\n");
    assert_string_equal(who(pt, "x", "192.0.2.30", 5062), "p");
    assert_string_equal(who(pt, "x", "192.0.2.30", 5060), "");
    assert_string_equal(who(pt, "x", "2001:db8::30", 5070), "p");
    assert_string_equal(who(pt, "x", "2001:db8::30", 5060), "");
    peer_table_destroy(pt);
}

/* IP:port > IP > longest prefix, whatever the file order. */
static void
peer_most_specific_match_wins(void **state)
{
    struct peer_table *pt;

    (void)state;
    pt = table(BASE "[port]\ntype=endpoint\n[host]\ntype=endpoint\n"
               "[net16]\ntype=endpoint\n[net8]\ntype=endpoint\n"
               "[a]\ntype=identify\nendpoint=port\nmatch=10.1.2.3:5062\n"
               "[b]\ntype=identify\nendpoint=net8\nmatch=10.0.0.0/8\n"
               "[c]\ntype=identify\nendpoint=host\nmatch=10.1.2.3\n"
               "[d]\ntype=identify\nendpoint=net16\nmatch=10.1.0.0/16\n");
    assert_string_equal(who(pt, "x", "10.1.2.3", 5062), "port");
    assert_string_equal(who(pt, "x", "10.1.2.3", 5060), "host");
    assert_string_equal(who(pt, "x", "10.1.2.4", 5062), "net16");
    assert_string_equal(who(pt, "x", "10.9.9.9", 5060), "net8");
    peer_table_destroy(pt);
}

/* Equal rules for two endpoints: the first in the file wins. */
static void
peer_equal_matches_go_to_the_first(void **state)
{
    struct peer_table *pt;

    (void)state;
    pt = table(BASE "[zed]\ntype=endpoint\n[amy]\ntype=endpoint\n"
               "[a]\ntype=identify\nendpoint=zed\nmatch=10.0.0.0/8\n"
               "[b]\ntype=identify\nendpoint=amy\nmatch=10.0.0.0/8\n");
    assert_string_equal(who(pt, "x", "10.0.0.1", 5060), "zed");
    peer_table_destroy(pt);
}

static void
peer_v4_mapped_source_matches_v4_rules(void **state)
{
    struct peer_table *pt;

    (void)state;
    pt = table(BASE "[four]\ntype=endpoint\n[mapped]\ntype=endpoint\n"
               "[a]\ntype=identify\nendpoint=four\n"
               "match=192.0.2.40, 198.51.100.7:5062\n"
               "[b]\ntype=identify\nendpoint=mapped\n"
               "match=::ffff:203.0.113.0/120\n");
    assert_string_equal(who(pt, "x", "::ffff:192.0.2.40", 5060), "four");
    assert_string_equal(who(pt, "x", "::ffff:198.51.100.7", 5062), "four");
    assert_string_equal(who(pt, "x", "::ffff:198.51.100.7", 5060), "");
    /* A mapped rule is an IPv4 rule: both forms of the source match. */
    assert_string_equal(who(pt, "x", "203.0.113.9", 5060), "mapped");
    assert_string_equal(who(pt, "x", "::ffff:203.0.113.9", 5060), "mapped");
    peer_table_destroy(pt);
}

/* ---- auth ---- */

static void
peer_auth_lookups(void **state)
{
    struct peer_table *pt;
    const struct peer_endpoint *ep;
    const struct peer_auth *a;

    (void)state;
    pt = table(BASE "[alice]\ntype=endpoint\nauth=alice-auth\n"
               "[bob]\ntype=endpoint\nauth=shared\n[carol]\ntype=endpoint\n"
               "[alice-auth]\ntype=auth\nauth_type=userpass\n"
               "username=alice\npassword=s3cret\n"
               "[shared]\ntype=auth\nusername=office\npassword=pw\n"
               "realm=pbx.example.com\n");
    ep = peer_endpoint_find(pt, "alice");
    a = peer_auth_find(pt, "alice-auth");
    assert_non_null(a);
    assert_ptr_equal(ep->auth, a);
    assert_string_equal(a->name, "alice-auth");
    assert_string_equal(a->username, "alice");
    assert_string_equal(a->password, "s3cret");
    assert_string_equal(a->realm, PEER_DEFAULT_REALM);
    a = peer_endpoint_find(pt, "bob")->auth;
    assert_ptr_equal(a, peer_auth_find(pt, "shared"));
    assert_string_equal(a->username, "office");
    assert_string_equal(a->realm, "pbx.example.com");
    assert_null(peer_endpoint_find(pt, "carol")->auth);
    assert_null(peer_auth_find(pt, "alice"));
    assert_null(peer_auth_find(pt, NULL));
    peer_table_destroy(pt);
}

static void
peer_empty_table_and_null_destroy(void **state)
{
    struct peer_table *pt = table(BASE);

    (void)state;
    assert_string_equal(who(pt, "alice", "192.0.2.1", 5060), "");
    assert_null(peer_endpoint_find(pt, "alice"));
    assert_null(peer_auth_find(pt, "alice"));
    peer_table_destroy(pt);
    peer_table_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(peer_bad_identify_by_is_error),
        cmocka_unit_test(peer_bad_match_items_are_errors),
        cmocka_unit_test(peer_good_match_forms_load),
        cmocka_unit_test(peer_identify_without_endpoint_is_error),
        cmocka_unit_test(peer_auth_errors_are_schema_checked),
        cmocka_unit_test(peer_auth_pointing_nowhere_is_error),
        cmocka_unit_test(peer_identify_pointing_nowhere_is_error),
        cmocka_unit_test(peer_one_name_for_endpoint_auth_and_identify),
        cmocka_unit_test(peer_identify_by_username),
        cmocka_unit_test(peer_unknown_from_user_is_null),
        cmocka_unit_test(peer_ip_only_endpoint_is_not_found_by_username),
        cmocka_unit_test(peer_username_only_endpoint_ignores_identify),
        cmocka_unit_test(peer_ip_match_wins_over_from_user),
        cmocka_unit_test(peer_identify_by_ip),
        cmocka_unit_test(peer_identify_by_cidr_v4),
        cmocka_unit_test(peer_identify_by_cidr_v6),
        cmocka_unit_test(peer_ip_port_matches_only_that_port),
        cmocka_unit_test(peer_most_specific_match_wins),
        cmocka_unit_test(peer_equal_matches_go_to_the_first),
        cmocka_unit_test(peer_v4_mapped_source_matches_v4_rules),
        cmocka_unit_test(peer_auth_lookups),
        cmocka_unit_test(peer_empty_table_and_null_destroy),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

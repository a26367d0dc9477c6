/*
 * test_cfg.c - typed objects: schemas, defaults, cross-section checks and
 * the exact text of the errors an administrator reads.
 *
 * Configs are built in memory as file "x.conf"; BASE is the smallest valid
 * one (four lines), so added lines start at line 5.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipbridge/cfg.h"
#include "sipbridge/limit.h"
#include "sipbridge/log.h"

#define BASE "[udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n"

/* ---- test-local capability types ---- */

static const char *const conf_modes[] = { "open", "closed", NULL };

static const struct cfg_key conference_keys[] = {
    { "user", CFG_STRING, CFG_REQUIRED, 0, 0, NULL },
    { "member", CFG_STRING, CFG_REPEATABLE, 0, 0, NULL },
    { "max_members", CFG_UINT, 0, 2, 64, NULL },
    { "mode", CFG_ENUM, 0, 0, 0, conf_modes },
    { "match", CFG_REGEX, 0, 0, 0, NULL },
    { "event_*", CFG_BOOL, 0, 0, 0, NULL },
    { "event_all", CFG_LOGLEVEL, 0, 0, 0, NULL },
    { "@*", CFG_STRING, CFG_REPEATABLE, 0, 0, NULL },
    { "buffer", CFG_SIZE, 0, 0, 0, NULL },
    { NULL, CFG_STRING, 0, 0, 0, NULL }
};

static const struct cfg_key queue_keys[] = {
    { "number", CFG_STRING, 0, 0, 0, NULL },
    { NULL, CFG_STRING, 0, 0, 0, NULL }
};

/* A semantic check the schema cannot express. */
static int
check_queue(const struct ini_section *sec, struct cfg_errors *errs)
{
    const struct ini_entry *e = ini_find(sec, "number");

    if (e == NULL || strcmp(e->value, "0") != 0)
        return 0;
    cfg_errors_add(errs, e->file, e->line, "[%s] number '0': reserved",
                   sec->name);
    return -EINVAL;
}

static const struct cfg_type test_types[] = {
    { "conference", conference_keys, "user", false, NULL, false },
    { "queue", queue_keys, "number", false, check_queue, false },
};
static const struct cfg_type *const test_type_ptrs[] = {
    &test_types[0], &test_types[1],
};

/* ---- helpers ---- */

static int
load(const char *text, struct cfg **out, struct cfg_errors *errs)
{
    return cfg_load_buffer("x.conf", text, strlen(text), test_type_ptrs, 2, out,
                           errs);
}

static struct cfg *
load_ok(const char *text)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;
    int rc = load(text, &cfg, &errs);

    for (size_t i = 0; i < errs.n; i++)
        print_error("unexpected: %s\n", errs.msgs[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    assert_non_null(cfg);
    return cfg;
}

static void
dump_errors(const struct cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        print_error("got: %s\n", errs->msgs[i]);
}

/* Load @p text expecting failure with exactly the one error @p want. */
static void
assert_load_error(const char *text, const char *want)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;
    int rc = load(text, &cfg, &errs);

    if (errs.n != 1 || strcmp(errs.msgs[0], want) != 0) {
        dump_errors(&errs);
        fail_msg("wanted exactly: %s", want);
    }
    assert_int_equal(rc, -EINVAL);
    assert_null(cfg);
    cfg_errors_clear(&errs);
}

/* A config with BASE and one [c] conference section holding @p line. */
static void
assert_conference_error(const char *line, const char *want)
{
    char text[512];

    snprintf(text, sizeof(text), BASE "[c]\ntype=conference\nuser=100\n%s\n",
             line);
    assert_load_error(text, want);
}

static void
assert_conference_ok(const char *line)
{
    char text[512];

    snprintf(text, sizeof(text), BASE "[c]\ntype=conference\nuser=100\n%s\n",
             line);
    cfg_free(load_ok(text));
}

/* ---- defaults and values ---- */

static void
cfg_minimal_config_applies_every_default(void **state)
{
    struct cfg *cfg = load_ok(BASE);
    const struct cfg_transport *t;

    (void)state;
    assert_string_equal(cfg->path, "x.conf");
    assert_int_equal(cfg->global.log_level, LOG_LVL_NOTICE);
    assert_string_equal(cfg->global.state_dir, "/var/lib/sipbridge");
    assert_string_equal(cfg->global.user_agent,
                        "sipbridge/" SIPBRIDGE_VERSION);
    assert_int_equal(cfg->global.udp_recv_buffer, 4 * 1024 * 1024);
    assert_false(cfg->global.debug);
    assert_string_equal(cfg->control.socket, "/run/sipbridge/control.sock");
    assert_int_equal(cfg->control.mode, 0660);
    assert_null(cfg->control.group);
    assert_int_equal(cfg->control.max_line, 1024 * 1024);
    assert_int_equal(cfg->control.max_output, 8 * 1024 * 1024);
    assert_int_equal(cfg->ndatabases, 0);
    assert_int_equal(cfg->ntransports, 1);
    t = &cfg->transports[0];
    assert_string_equal(t->name, "udp");
    assert_int_equal(t->protocol, CFG_PROTO_UDP);
    assert_string_equal(t->host, "127.0.0.1");
    assert_int_equal(t->port, 5060);
    assert_int_equal(t->family, AF_INET);
    assert_null(t->cert_file);
    assert_null(t->priv_key_file);
    assert_string_equal(t->file, "x.conf");
    assert_int_equal(t->line, 1);
    assert_non_null(cfg->doc);
    assert_int_equal(cfg->doc->nsections, 1);
    cfg_free(cfg);
}

static void
cfg_protocol_defaults_to_udp(void **state)
{
    struct cfg *cfg = load_ok("[t]\ntype=transport\nbind=127.0.0.1:5060\n");

    (void)state;
    assert_int_equal(cfg->transports[0].protocol, CFG_PROTO_UDP);
    cfg_free(cfg);
}

static void
cfg_global_keys_override_defaults(void **state)
{
    struct cfg *cfg = load_ok(BASE "[g]\ntype=global\nlog_level=debug\n"
                              "state_dir=/srv/sb\nuser_agent=PBX 1\n"
                              "udp_recv_buffer=64K\ndebug=yes\n");

    (void)state;
    assert_int_equal(cfg->global.log_level, LOG_LVL_DEBUG);
    assert_string_equal(cfg->global.state_dir, "/srv/sb");
    assert_string_equal(cfg->global.user_agent, "PBX 1");
    assert_int_equal(cfg->global.udp_recv_buffer, 65536);
    assert_true(cfg->global.debug);
    cfg_free(cfg);
}

static void
cfg_control_keys_override_defaults(void **state)
{
    struct cfg *cfg = load_ok(BASE "[control]\ntype=control\n"
                              "socket=/tmp/sb.sock\nmode=600\ngroup=adm\n"
                              "max_line=64K\nmax_output=1G\n");

    (void)state;
    assert_string_equal(cfg->control.socket, "/tmp/sb.sock");
    assert_int_equal(cfg->control.mode, 0600);
    assert_string_equal(cfg->control.group, "adm");
    assert_int_equal(cfg->control.max_line, 65536);
    assert_int_equal(cfg->control.max_output, 1024ull * 1024 * 1024);
    cfg_free(cfg);
}

static void
cfg_databases_get_defaults_and_are_found_by_name(void **state)
{
    struct cfg *cfg = load_ok(BASE "[db]\ntype=database\n"
                              "conninfo=host=/run/postgresql dbname=sb\n"
                              "[db2]\ntype=database\nconninfo=dbname=x\n"
                              "max_queue=5\nretry_min=100\nretry_max=200\n"
                              "connect_timeout=1000\n");
    const struct cfg_database *d;

    (void)state;
    assert_int_equal(cfg->ndatabases, 2);
    d = cfg_database_find(cfg, "db");
    assert_non_null(d);
    assert_string_equal(d->conninfo, "host=/run/postgresql dbname=sb");
    assert_int_equal(d->max_queue, 1000);
    assert_int_equal(d->retry_min_ms, 500);
    assert_int_equal(d->retry_max_ms, 30000);
    assert_int_equal(d->connect_timeout_ms, 5000);
    assert_int_equal(d->line, 5);
    d = cfg_database_find(cfg, "db2");
    assert_non_null(d);
    assert_int_equal(d->max_queue, 5);
    assert_int_equal(d->retry_min_ms, 100);
    assert_int_equal(d->retry_max_ms, 200);
    assert_int_equal(d->connect_timeout_ms, 1000);
    assert_null(cfg_database_find(cfg, "udp"));
    cfg_free(cfg);
}

static void
cfg_ipv6_bind_is_parsed_and_canonical(void **state)
{
    struct cfg *cfg = load_ok("[t6]\ntype=transport\nprotocol=tcp\n"
                              "bind=[0:0:0:0:0:0:0:1]:5070\n");

    (void)state;
    assert_string_equal(cfg->transports[0].host, "::1");
    assert_int_equal(cfg->transports[0].port, 5070);
    assert_int_equal(cfg->transports[0].family, AF_INET6);
    assert_int_equal(cfg->transports[0].protocol, CFG_PROTO_TCP);
    cfg_free(cfg);
}

static void
cfg_tls_transport_with_cert_and_key_loads(void **state)
{
    struct cfg *cfg = load_ok("[tls]\ntype=transport\nprotocol=tls\n"
                              "bind=127.0.0.1:5061\ncert_file=/dev/null\n"
                              "priv_key_file=/dev/zero\n");

    (void)state;
    assert_int_equal(cfg->transports[0].protocol, CFG_PROTO_TLS);
    assert_string_equal(cfg->transports[0].cert_file, "/dev/null");
    assert_string_equal(cfg->transports[0].priv_key_file, "/dev/zero");
    cfg_free(cfg);
}

/* ---- parse helpers ---- */

static void
cfg_parse_bool_accepts_the_usual_spellings(void **state)
{
    static const char *const yes[] = { "yes", "true", "on", "1", "YES" };
    static const char *const no[] = { "no", "false", "off", "0", "Off" };
    bool b;

    (void)state;
    for (size_t i = 0; i < 5; i++) {
        b = false;
        assert_int_equal(cfg_parse_bool(yes[i], &b), 0);
        assert_true(b);
        assert_int_equal(cfg_parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    b = true;
    assert_int_equal(cfg_parse_bool("maybe", &b), -EINVAL);
    assert_int_equal(cfg_parse_bool("", &b), -EINVAL);
    assert_int_equal(cfg_parse_bool("2", &b), -EINVAL);
    assert_true(b);
}

static void
cfg_parse_size_accepts_suffixes_and_rejects_junk(void **state)
{
    unsigned long long n = 7;

    (void)state;
    assert_int_equal(cfg_parse_size("65536", &n), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(cfg_parse_size("64K", &n), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(cfg_parse_size("4M", &n), 0);
    assert_int_equal(n, 4ull << 20);
    assert_int_equal(cfg_parse_size("1G", &n), 0);
    assert_int_equal(n, 1ull << 30);
    assert_int_equal(cfg_parse_size("2k", &n), 0);
    assert_int_equal(n, 2048);
    n = 7;
    assert_int_equal(cfg_parse_size("", &n), -EINVAL);
    assert_int_equal(cfg_parse_size("K", &n), -EINVAL);
    assert_int_equal(cfg_parse_size("4MB", &n), -EINVAL);
    assert_int_equal(cfg_parse_size("-1", &n), -EINVAL);
    assert_int_equal(cfg_parse_size(" 1", &n), -EINVAL);
    assert_int_equal(cfg_parse_size("1T", &n), -EINVAL);
    assert_int_equal(cfg_parse_size("99999999999999999999", &n), -EINVAL);
    assert_int_equal(cfg_parse_size("99999999999G", &n), -EINVAL);
    assert_int_equal(n, 7);
}

static void
cfg_parse_hostport_accepts_only_literals_with_port(void **state)
{
    static const char *const bad[] = {
        "localhost:5060", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
        "127.0.0.1:65536", "127.0.0.1:99999999999999999999", "::1:5060",
        "[::1]", "[::1]5060", "[::1:5060", "[127.0.0.1]:5060",
        "1.2.3:5060", ":5060", "", "127.0.0.1:50x", "127.0.0.1:+5"
    };
    char host[64] = "untouched";
    unsigned port = 9;
    int family = 0;

    (void)state;
    assert_int_equal(cfg_parse_hostport("1.2.3.4:5060", host, sizeof(host),
                                        &port, &family), 0);
    assert_string_equal(host, "1.2.3.4");
    assert_int_equal(port, 5060);
    assert_int_equal(family, AF_INET);
    assert_int_equal(cfg_parse_hostport("[::1]:65535", host, sizeof(host),
                                        &port, &family), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 65535);
    assert_int_equal(family, AF_INET6);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cfg_parse_hostport(bad[i], host, sizeof(host), &port,
                               &family) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    assert_string_equal(host, "::1");
    assert_int_equal(cfg_parse_hostport("1.2.3.4:5060", host, 4, &port,
                                        &family), -EINVAL);
}

/* ---- errors of one key ---- */

static void
cfg_unknown_key_is_error(void **state)
{
    (void)state;
    assert_load_error("[udp]\ntype=transport\nbnd=127.0.0.1:5060\n"
                      "bind=127.0.0.1:5060\n",
                      "x.conf:3: [udp] key 'bnd': unknown key for "
                      "type=transport");
}

static void
cfg_port_out_of_range_is_error(void **state)
{
    (void)state;
    assert_load_error("[udp]\ntype=transport\n\n\n\n\nbind=127.0.0.1:99999\n",
                      "x.conf:7: [udp] bind '127.0.0.1:99999': port out of "
                      "range 1..65535");
}

static void
cfg_port_zero_is_error(void **state)
{
    (void)state;
    assert_load_error("[udp]\ntype=transport\nbind=127.0.0.1:0\n",
                      "x.conf:3: [udp] bind '127.0.0.1:0': port out of "
                      "range 1..65535");
}

static void
cfg_host_name_bind_is_error(void **state)
{
    (void)state;
    assert_load_error("[udp]\ntype=transport\nbind=localhost:5060\n",
                      "x.conf:3: [udp] bind 'localhost:5060': not an IP "
                      "address literal (host names are not allowed)");
}

static void
cfg_bind_without_port_is_error(void **state)
{
    (void)state;
    assert_load_error("[udp]\ntype=transport\nbind=[::1]\n",
                      "x.conf:3: [udp] bind '[::1]': missing port (use "
                      "[ADDR]:PORT)");
}

static void
cfg_unbracketed_ipv6_bind_is_error(void **state)
{
    (void)state;
    assert_load_error("[udp]\ntype=transport\nbind=::1:5060\n",
                      "x.conf:3: [udp] bind '::1:5060': IPv6 addresses "
                      "must be in brackets, e.g. [::1]:5060");
}

static void
cfg_missing_required_key_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "\n\n[db]\ntype=database\nmax_queue=10\n",
                      "x.conf:7: [db] type=database: missing required key "
                      "'conninfo'");
}

static void
cfg_key_given_twice_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "bind=127.0.0.1:5070\n",
                      "x.conf:5: [udp] key 'bind': given twice (first at "
                      "x.conf:4) and not repeatable");
}

static void
cfg_type_given_twice_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "type=transport\n",
                      "x.conf:5: [udp] key 'type': given twice (first at "
                      "x.conf:2) and not repeatable");
}

static void
cfg_missing_type_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "[general]\nx=1\n",
                      "x.conf:5: [general]: missing required key 'type' "
                      "(every section is an object: type=transport, ...)");
}

static void
cfg_unknown_type_is_error_listing_known_types(void **state)
{
    (void)state;
    assert_load_error(BASE "[e]\n\ntype=endpoint\n",
                      "x.conf:7: [e] type 'endpoint': unknown type (known: "
                      "global, transport, control, database, conference, "
                      "queue)");
}

static void
cfg_empty_string_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "[g]\ntype=global\nuser_agent=\n",
                      "x.conf:7: [g] user_agent '': must not be empty");
}

static void
cfg_uint_out_of_range_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "[db]\ntype=database\nconninfo=x\nmax_queue=0\n",
                      "x.conf:8: [db] max_queue '0': out of range "
                      "1..1000000");
    assert_load_error(BASE "[db]\ntype=database\nconninfo=x\nretry_min=-1\n",
                      "x.conf:8: [db] retry_min '-1': not a non-negative "
                      "integer");
}

static void
cfg_size_out_of_range_or_malformed_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "[g]\ntype=global\nudp_recv_buffer=2G\n",
                      "x.conf:7: [g] udp_recv_buffer '2G': out of range "
                      "4K..1G");
    assert_load_error(BASE "[g]\ntype=global\nudp_recv_buffer=4MB\n",
                      "x.conf:7: [g] udp_recv_buffer '4MB': not a size "
                      "(e.g. 65536, 64K, 4M, 1G)");
}

static void
cfg_bool_bad_value_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "[g]\ntype=global\ndebug=maybe\n",
                      "x.conf:7: [g] debug 'maybe': must be yes or no (or "
                      "true/false, on/off, 1/0)");
}

static void
cfg_mode_accepts_octal_up_to_0777(void **state)
{
    static const char *const bad[] = { "0778", "1777", "rw", "", "0x1ff" };
    char text[256], want[256];
    struct cfg *cfg;

    (void)state;
    cfg = load_ok(BASE "[c]\ntype=control\nmode=0777\n");
    assert_int_equal(cfg->control.mode, 0777);
    cfg_free(cfg);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), BASE "[c]\ntype=control\nmode=%s\n",
                 bad[i]);
        snprintf(want, sizeof(want), "x.conf:7: [c] mode '%s': must be an "
                 "octal mode like 0660 (at most 0777)", bad[i]);
        assert_load_error(text, want);
    }
}

static void
cfg_enum_bad_value_is_error_listing_values(void **state)
{
    (void)state;
    assert_load_error("[udp]\ntype=transport\nprotocol=sctp\n"
                      "bind=127.0.0.1:5060\n",
                      "x.conf:3: [udp] protocol 'sctp': must be one of: udp,"
                      " tcp, tls");
}

static void
cfg_loglevel_bad_value_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "[g]\ntype=global\nlog_level=verbose\n",
                      "x.conf:7: [g] log_level 'verbose': must be one of: "
                      "error, warning, notice, info, debug");
}

/* fuzz_config found it: regcomp() took 1.2 GB on stacked quantifiers. */
static void
cfg_regex_stacked_quantifiers_refused(void **state)
{
    (void)state;
    assert_null(cfg_regex_unsafe("^PJ(SIP)?/[0-9]+$"));
    assert_null(cfg_regex_unsafe("a\\++[*+]+x{2,3}"));
    assert_non_null(cfg_regex_unsafe("^PJ++++SIP/"));
    assert_non_null(cfg_regex_unsafe("a*{2}"));
    assert_non_null(cfg_regex_unsafe("(ab)?*"));
    assert_load_error(BASE "[c]\ntype=conference\nuser=100\nmatch=^1+++$\n",
                      "x.conf:8: [c] match '^1+++$': bad regular expression: "
                      "a quantifier follows another one (write one)");
}

static void
cfg_regex_is_compiled_to_check_it(void **state)
{
    const char *want = "x.conf:8: [c] match '^(100': bad regular expression: ";
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;

    (void)state;
    assert_conference_ok("match=^(100|2[0-9]{2})$");
    assert_int_equal(load(BASE "[c]\ntype=conference\nuser=100\n"
                          "match=^(100\n", &cfg, &errs), -EINVAL);
    assert_int_equal(errs.n, 1);
    if (strncmp(errs.msgs[0], want, strlen(want)) != 0) {
        dump_errors(&errs);
        fail();
    }
    cfg_errors_clear(&errs);
}

static void
cfg_capability_enum_and_uint_are_checked(void **state)
{
    (void)state;
    assert_conference_ok("mode=closed");
    assert_conference_ok("max_members=64");
    assert_conference_error("mode=ajar", "x.conf:8: [c] mode 'ajar': must "
                            "be one of: open, closed");
    assert_conference_error("max_members=1", "x.conf:8: [c] max_members "
                            "'1': out of range 2..64");
}

static void
cfg_size_without_max_has_no_upper_bound(void **state)
{
    (void)state;
    assert_conference_ok("buffer=1000G");
}

/* ---- repeatable, pattern and @ keys ---- */

static void
cfg_repeatable_key_may_repeat(void **state)
{
    struct cfg *cfg = load_ok(BASE "[c]\ntype=conference\nuser=100\n"
                              "member=a\nmember=b\nmember=c\n");

    (void)state;
    assert_int_equal(cfg->doc->sections[1].nentries, 5);
    cfg_free(cfg);
}

static void
cfg_pattern_key_matches_prefix_and_checks_value(void **state)
{
    (void)state;
    assert_conference_ok("event_join=yes\nevent_leave=no");
    assert_conference_error("event_join=perhaps", "x.conf:8: [c] event_join "
                            "'perhaps': must be yes or no (or true/false, "
                            "on/off, 1/0)");
    assert_conference_error("event_join=yes\nevent_join=no", "x.conf:9: [c] "
                            "key 'event_join': given twice (first at "
                            "x.conf:8) and not repeatable");
    assert_conference_error("events=yes", "x.conf:8: [c] key 'events': "
                            "unknown key for type=conference");
}

static void
cfg_exact_key_wins_over_pattern(void **state)
{
    (void)state;
    assert_conference_ok("event_all=debug");
    assert_conference_error("event_all=yes", "x.conf:8: [c] event_all "
                            "'yes': must be one of: error, warning, notice, "
                            "info, debug");
}

static void
cfg_at_keys_match_at_pattern(void **state)
{
    (void)state;
    assert_conference_ok("@note=a\n@note=b\n@other=c");
    assert_load_error(BASE "@note=x\n", "x.conf:5: [udp] key '@note': "
                      "unknown key for type=transport");
}

/* ---- across sections ---- */

static void
cfg_duplicate_owner_user_part_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "\n\n\n\n\n[conf1]\ntype=conference\nuser=100\n"
                      "\n\n\n\n\n\n\n\n\n[conf2]\ntype=conference\n"
                      "user=100\n",
                      "x.conf:24: [conf2] type=conference: user part '100' "
                      "is already owned by [conf1] (type=conference) at "
                      "x.conf:12");
}

static void
cfg_owner_conflict_spans_types(void **state)
{
    (void)state;
    assert_load_error(BASE "[c]\ntype=conference\nuser=200\n"
                      "[q]\ntype=queue\nnumber=200\n",
                      "x.conf:10: [q] type=queue: user part '200' is "
                      "already owned by [c] (type=conference) at x.conf:7");
}

static void
cfg_distinct_user_parts_are_ok(void **state)
{
    (void)state;
    cfg_free(load_ok(BASE "[c]\ntype=conference\nuser=200\n"
                     "[q]\ntype=queue\nnumber=201\n"));
}

static void
cfg_type_check_callback_error_is_reported(void **state)
{
    (void)state;
    assert_load_error(BASE "[q]\ntype=queue\nnumber=0\n",
                      "x.conf:7: [q] number '0': reserved");
}

static void
cfg_same_name_and_type_twice_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "[udp]\ntype=transport\nbind=127.0.0.1:5070\n",
                      "x.conf:5: [udp] type=transport: defined twice (first "
                      "at x.conf:1)");
}

static void
cfg_same_name_different_types_is_ok(void **state)
{
    struct cfg *cfg = load_ok(BASE "[udp]\ntype=conference\nuser=1\n"
                              "[udp]\ntype=database\nconninfo=x\n");

    (void)state;
    assert_int_equal(cfg->ntransports, 1);
    assert_int_equal(cfg->ndatabases, 1);
    assert_string_equal(cfg->databases[0].name, "udp");
    cfg_free(cfg);
}

static void
cfg_second_singleton_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "[g1]\ntype=global\n[g2]\ntype=global\n",
                      "x.conf:7: [g2] type=global: only one type=global "
                      "section is allowed, [g1] at x.conf:5 is the first");
}

static void
cfg_no_transport_is_error(void **state)
{
    (void)state;
    assert_load_error("[g]\ntype=global\n",
                      "x.conf: no transport configured (add a section with "
                      "type=transport, protocol=udp, bind=ADDR:PORT)");
    assert_load_error("", "x.conf: no transport configured (add a section "
                      "with type=transport, protocol=udp, bind=ADDR:PORT)");
}

static void
cfg_same_bind_twice_is_error_naming_both(void **state)
{
    (void)state;
    assert_load_error(BASE "[udp2]\ntype=transport\nprotocol=udp\n"
                      "bind=127.0.0.1:5060\n",
                      "x.conf:8: [udp2] bind '127.0.0.1:5060': already bound "
                      "by [udp] (protocol=udp) at x.conf:4");
}

static void
cfg_tcp_and_tls_on_one_port_is_error(void **state)
{
    (void)state;
    assert_load_error("[tcp]\ntype=transport\nprotocol=tcp\nbind=[::1]:5061\n"
                      "[tls]\ntype=transport\nprotocol=tls\n"
                      "bind=[0::1]:5061\ncert_file=/dev/null\npriv_key_file=/dev/zero\n",
                      "x.conf:8: [tls] bind '[0::1]:5061': already bound by "
                      "[tcp] (protocol=tcp) at x.conf:4");
}

static void
cfg_udp_and_tcp_may_share_a_port(void **state)
{
    struct cfg *cfg = load_ok(BASE "[tcp]\ntype=transport\nprotocol=tcp\n"
                              "bind=127.0.0.1:5060\n");

    (void)state;
    assert_int_equal(cfg->ntransports, 2);
    cfg_free(cfg);
}

static void
cfg_tls_without_cert_and_key_is_error(void **state)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;
    const char *text = "[tls]\ntype=transport\nprotocol=tls\n"
                       "bind=127.0.0.1:5061\n";

    (void)state;
    assert_int_equal(load(text, &cfg, &errs), -EINVAL);
    assert_int_equal(errs.n, 2);
    assert_string_equal(errs.msgs[0], "x.conf:1: [tls] type=transport: "
                        "missing required key 'cert_file' (protocol=tls)");
    assert_string_equal(errs.msgs[1], "x.conf:1: [tls] type=transport: "
                        "missing required key 'priv_key_file' "
                        "(protocol=tls)");
    cfg_errors_clear(&errs);
}

static void
cfg_cert_file_without_tls_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "cert_file=/c.pem\n",
                      "x.conf:5: [udp] key 'cert_file': only allowed with "
                      "protocol=tls");
}

static void
cfg_relative_state_dir_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "[g]\ntype=global\nstate_dir=var/sb\n",
                      "x.conf:7: [g] state_dir 'var/sb': must be an "
                      "absolute path");
}

static void
cfg_too_long_control_socket_is_error(void **state)
{
    char text[512], want[512], path[130];

    (void)state;
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    snprintf(text, sizeof(text), BASE "[c]\ntype=control\nsocket=%s\n", path);
    snprintf(want, sizeof(want), "x.conf:7: [c] socket '%s': longer than "
             "107 bytes", path);
    assert_load_error(text, want);
}

static void
cfg_retry_min_above_retry_max_is_error(void **state)
{
    (void)state;
    assert_load_error(BASE "[db]\ntype=database\nconninfo=x\n"
                      "retry_min=40000\n",
                      "x.conf:8: [db] type=database: retry_min (40000) is "
                      "greater than retry_max (30000)");
}

static void
cfg_every_error_is_reported_in_one_load(void **state)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;
    const char *text = "[udp]\ntype=transport\nbind=127.0.0.1:0\nbnd=1\n"
                       "[db]\ntype=database\n"
                       "[x]\ntype=nothing\n"
                       "[c1]\ntype=conference\nuser=1\n"
                       "[c2]\ntype=conference\nuser=1\n";

    (void)state;
    assert_int_equal(load(text, &cfg, &errs), -EINVAL);
    assert_null(cfg);
    if (errs.n != 5) {
        dump_errors(&errs);
        fail();
    }
    assert_string_equal(errs.msgs[0], "x.conf:3: [udp] bind "
                        "'127.0.0.1:0': port out of range 1..65535");
    assert_string_equal(errs.msgs[1], "x.conf:4: [udp] key 'bnd': unknown "
                        "key for type=transport");
    assert_string_equal(errs.msgs[2], "x.conf:5: [db] type=database: "
                        "missing required key 'conninfo'");
    assert_non_null(strstr(errs.msgs[3], "x.conf:8: [x] type 'nothing': "));
    assert_string_equal(errs.msgs[4], "x.conf:14: [c2] type=conference: "
                        "user part '1' is already owned by [c1] "
                        "(type=conference) at x.conf:11");
    cfg_errors_clear(&errs);
}

static void
cfg_syntax_errors_are_reported(void **state)
{
    (void)state;
    assert_load_error(BASE "garbage\n", "x.conf:5: expected 'key = value', "
                      "'[section]' or '#include', got 'garbage'");
}

/* ---- files ---- */

static void
cfg_load_of_missing_file_is_error(void **state)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;

    (void)state;
    assert_int_equal(cfg_load("/nonexistent/sb.conf", NULL, 0, &cfg, &errs),
                     -EINVAL);
    assert_null(cfg);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.msgs[0], "/nonexistent/sb.conf: cannot read: "
                        "No such file or directory");
    cfg_errors_clear(&errs);
}

static const struct cfg_type *const limit_types[] = { &limit_cfg_type };

static void
cfg_shipped_config_loads_cleanly(void **state)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;
    char path[PATH_MAX];
    int rc;

    (void)state;
    /* Not __FILE__: Debian's -ffile-prefix-map makes it relative. */
    snprintf(path, sizeof(path), "%s/etc/sipbridge.conf", SB_SOURCE_DIR);
    /* The shipped file turns the per-source limit on: [limits]. */
    rc = cfg_load(path, limit_types, 1, &cfg, &errs);
    dump_errors(&errs);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    assert_int_equal(cfg->global.log_level, LOG_LVL_NOTICE);
    assert_int_equal(cfg->ntransports, 2);
    assert_string_equal(cfg->transports[0].name, "transport-udp");
    assert_int_equal(cfg->transports[0].protocol, CFG_PROTO_UDP);
    assert_string_equal(cfg->transports[1].name, "transport-tcp");
    assert_int_equal(cfg->transports[1].protocol, CFG_PROTO_TCP);
    assert_int_equal(cfg->transports[1].port, 5060);
    assert_string_equal(cfg->control.socket, "/run/sipbridge/control.sock");
    assert_int_equal(cfg->control.mode, 0660);
    assert_int_equal(cfg->ndatabases, 0);
    cfg_free(cfg);
}

/* ---- reload comparison ---- */

static void
cfg_transports_equal_ignores_order_and_other_sections(void **state)
{
    struct cfg *a = load_ok("[u]\ntype=transport\nbind=127.0.0.1:5060\n"
                            "[t]\ntype=transport\nprotocol=tcp\n"
                            "bind=[::1]:5060\n");
    struct cfg *b = load_ok("[g]\ntype=global\nlog_level=debug\n"
                            "[t]\ntype=transport\nprotocol=tcp\n"
                            "bind=[0::1]:5060\n"
                            "[u]\ntype=transport\nprotocol=udp\n"
                            "bind=127.0.0.1:5060\n");

    (void)state;
    assert_true(cfg_transports_equal(a, b));
    assert_true(cfg_transports_equal(b, a));
    assert_true(cfg_transports_equal(a, a));
    cfg_free(a);
    cfg_free(b);
}

static void
assert_transports_differ(const char *x, const char *y)
{
    struct cfg *a = load_ok(x), *b = load_ok(y);

    assert_false(cfg_transports_equal(a, b));
    assert_false(cfg_transports_equal(b, a));
    cfg_free(a);
    cfg_free(b);
}

static void
cfg_transports_equal_sees_every_change(void **state)
{
    const char *tls = "[s]\ntype=transport\nprotocol=tls\n"
                      "bind=127.0.0.1:5061\ncert_file=/dev/null\npriv_key_file=/dev/zero\n";

    (void)state;
    assert_transports_differ(BASE, "[udp]\ntype=transport\n"
                             "bind=127.0.0.1:5070\n");
    assert_transports_differ(BASE, "[udp]\ntype=transport\n"
                             "bind=127.0.0.2:5060\n");
    assert_transports_differ(BASE, "[udp]\ntype=transport\n"
                             "bind=[::1]:5060\n");
    assert_transports_differ(BASE, "[udp]\ntype=transport\nprotocol=tcp\n"
                             "bind=127.0.0.1:5060\n");
    assert_transports_differ(BASE, "[udp2]\ntype=transport\n"
                             "bind=127.0.0.1:5060\n");
    assert_transports_differ(BASE, BASE "[tcp]\ntype=transport\n"
                             "protocol=tcp\nbind=127.0.0.1:5060\n");
    assert_transports_differ(tls, "[s]\ntype=transport\nprotocol=tls\n"
                             "bind=127.0.0.1:5061\ncert_file=/dev/full\n"
                             "priv_key_file=/dev/zero\n");
    assert_transports_differ(tls, "[s]\ntype=transport\nprotocol=tls\n"
                             "bind=127.0.0.1:5061\ncert_file=/dev/null\n"
                             "priv_key_file=/dev/urandom\n");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cfg_minimal_config_applies_every_default),
        cmocka_unit_test(cfg_protocol_defaults_to_udp),
        cmocka_unit_test(cfg_global_keys_override_defaults),
        cmocka_unit_test(cfg_control_keys_override_defaults),
        cmocka_unit_test(cfg_databases_get_defaults_and_are_found_by_name),
        cmocka_unit_test(cfg_ipv6_bind_is_parsed_and_canonical),
        cmocka_unit_test(cfg_tls_transport_with_cert_and_key_loads),
        cmocka_unit_test(cfg_parse_bool_accepts_the_usual_spellings),
        cmocka_unit_test(cfg_parse_size_accepts_suffixes_and_rejects_junk),
        cmocka_unit_test(cfg_parse_hostport_accepts_only_literals_with_port),
        cmocka_unit_test(cfg_unknown_key_is_error),
        cmocka_unit_test(cfg_port_out_of_range_is_error),
        cmocka_unit_test(cfg_port_zero_is_error),
        cmocka_unit_test(cfg_host_name_bind_is_error),
        cmocka_unit_test(cfg_bind_without_port_is_error),
        cmocka_unit_test(cfg_unbracketed_ipv6_bind_is_error),
        cmocka_unit_test(cfg_missing_required_key_is_error),
        cmocka_unit_test(cfg_key_given_twice_is_error),
        cmocka_unit_test(cfg_type_given_twice_is_error),
        cmocka_unit_test(cfg_missing_type_is_error),
        cmocka_unit_test(cfg_unknown_type_is_error_listing_known_types),
        cmocka_unit_test(cfg_empty_string_is_error),
        cmocka_unit_test(cfg_uint_out_of_range_is_error),
        cmocka_unit_test(cfg_size_out_of_range_or_malformed_is_error),
        cmocka_unit_test(cfg_bool_bad_value_is_error),
        cmocka_unit_test(cfg_mode_accepts_octal_up_to_0777),
        cmocka_unit_test(cfg_enum_bad_value_is_error_listing_values),
        cmocka_unit_test(cfg_loglevel_bad_value_is_error),
        cmocka_unit_test(cfg_regex_is_compiled_to_check_it),
        cmocka_unit_test(cfg_regex_stacked_quantifiers_refused),
        cmocka_unit_test(cfg_capability_enum_and_uint_are_checked),
        cmocka_unit_test(cfg_size_without_max_has_no_upper_bound),
        cmocka_unit_test(cfg_repeatable_key_may_repeat),
        cmocka_unit_test(cfg_pattern_key_matches_prefix_and_checks_value),
        cmocka_unit_test(cfg_exact_key_wins_over_pattern),
        cmocka_unit_test(cfg_at_keys_match_at_pattern),
        cmocka_unit_test(cfg_duplicate_owner_user_part_is_error),
        cmocka_unit_test(cfg_owner_conflict_spans_types),
        cmocka_unit_test(cfg_distinct_user_parts_are_ok),
        cmocka_unit_test(cfg_type_check_callback_error_is_reported),
        cmocka_unit_test(cfg_same_name_and_type_twice_is_error),
        cmocka_unit_test(cfg_same_name_different_types_is_ok),
        cmocka_unit_test(cfg_second_singleton_is_error),
        cmocka_unit_test(cfg_no_transport_is_error),
        cmocka_unit_test(cfg_same_bind_twice_is_error_naming_both),
        cmocka_unit_test(cfg_tcp_and_tls_on_one_port_is_error),
        cmocka_unit_test(cfg_udp_and_tcp_may_share_a_port),
        cmocka_unit_test(cfg_tls_without_cert_and_key_is_error),
        cmocka_unit_test(cfg_cert_file_without_tls_is_error),
        cmocka_unit_test(cfg_relative_state_dir_is_error),
        cmocka_unit_test(cfg_too_long_control_socket_is_error),
        cmocka_unit_test(cfg_retry_min_above_retry_max_is_error),
        cmocka_unit_test(cfg_every_error_is_reported_in_one_load),
        cmocka_unit_test(cfg_syntax_errors_are_reported),
        cmocka_unit_test(cfg_load_of_missing_file_is_error),
        cmocka_unit_test(cfg_shipped_config_loads_cleanly),
        cmocka_unit_test(cfg_transports_equal_ignores_order_and_other_sections),
        cmocka_unit_test(cfg_transports_equal_sees_every_change),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

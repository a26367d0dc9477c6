/*
 * cfg.c - typed objects on top of the INI reader.
 *
 * Loading is two passes.  The check pass gives every section a type and
 * validates it against the type's schema and then across sections
 * (duplicates, singletons, owned user parts, transport binds), collecting
 * every error.  Only a document without errors reaches the build pass,
 * which can then parse values without error paths of its own.
 */
#include "sipbridge/cfg.h"

#include "sipbridge/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SIPBRIDGE_VERSION
#define SIPBRIDGE_VERSION "unknown"
#endif


/* ---- error list ---- */

void
cfg_errors_add(struct cfg_errors *errs, const char *file, unsigned line,
               const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfg_errors_vadd(errs, file, line, fmt, ap);
    va_end(ap);
}

void
cfg_errors_vadd(struct cfg_errors *errs, const char *file, unsigned line,
                const char *fmt, va_list ap)
{
    char *body = NULL, *msg = NULL, **msgs;
    int n;

    n = vasprintf(&body, fmt, ap);
    if (n < 0)
        return;
    if (file == NULL)
        file = "(config)";
    /* Line 0 means the whole file (unreadable, no transport at all). */
    n = line ? asprintf(&msg, "%s:%u: %s", file, line, body)
             : asprintf(&msg, "%s: %s", file, body);
    free(body);
    if (n < 0)
        return;
    msgs = realloc(errs->msgs, (errs->n + 1) * sizeof(*msgs));
    if (msgs == NULL) {
        free(msg);
        return;
    }
    errs->msgs = msgs;
    errs->msgs[errs->n++] = msg;
}

void
cfg_errors_clear(struct cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        free(errs->msgs[i]);
    free(errs->msgs);
    errs->msgs = NULL;
    errs->n = 0;
}

/* ---- value parsers ---- */

/* Decimal digits only: no sign, no blanks, no base prefix. */
static int
cfg_parse_digits(const char *s, unsigned long long *out, const char **end)
{
    unsigned long long v = 0;
    const char *p;

    for (p = s; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');

        if (v > (ULLONG_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (p == s)
        return -EINVAL;
    *out = v;
    *end = p;
    return 0;
}

static int
cfg_parse_uint(const char *s, unsigned long long *out)
{
    const char *end;
    unsigned long long v;

    if (cfg_parse_digits(s, &v, &end) < 0 || *end != '\0')
        return -EINVAL;
    *out = v;
    return 0;
}

int
cfg_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

int
cfg_parse_size(const char *s, unsigned long long *out)
{
    unsigned long long v, mult = 1;
    const char *end;

    if (cfg_parse_digits(s, &v, &end) < 0)
        return -EINVAL;
    if (*end == 'K' || *end == 'k')
        mult = CFG_K;
    else if (*end == 'M' || *end == 'm')
        mult = CFG_M;
    else if (*end == 'G' || *end == 'g')
        mult = CFG_G;
    if (mult != 1)
        end++;
    if (*end != '\0' || v > ULLONG_MAX / mult)
        return -EINVAL;
    *out = v * mult;
    return 0;
}

static int
cfg_parse_mode(const char *s, unsigned *out)
{
    unsigned v = 0;

    if (*s == '\0')
        return -EINVAL;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '7')
            return -EINVAL;
        v = v * 8 + (unsigned)(*s - '0');
        if (v > 0777)
            return -EINVAL;
    }
    *out = v;
    return 0;
}

static const char *
cfg_parse_port(const char *s, unsigned *port)
{
    unsigned long long v;
    const char *end;
    int rc;

    if (*s == '\0')
        return "missing port after ':'";
    rc = cfg_parse_digits(s, &v, &end);
    if (rc == -EINVAL || (rc == 0 && *end != '\0'))
        return "port is not a number";
    if (rc < 0 || v < 1 || v > 65535)
        return "port out of range 1..65535";
    *port = (unsigned)v;
    return NULL;
}

/* Split ADDR:PORT or [ADDR]:PORT; @return NULL or why not. */
static const char *
cfg_split_hostport(const char *s, char *host, size_t hostlen,
                   const char **port, int *family)
{
    const char *end;
    int af = AF_INET;

    if (*s == '[') {
        end = strchr(s, ']');
        if (end == NULL)
            return "missing ']' after IPv6 address";
        if (end[1] != ':')
            return "missing port (use [ADDR]:PORT)";
        s++;
        af = AF_INET6;
    } else {
        end = strrchr(s, ':');
        if (end == NULL)
            return "missing port (use ADDR:PORT)";
        if (memchr(s, ':', (size_t)(end - s)) != NULL)
            return "IPv6 addresses must be in brackets, e.g. [::1]:5060";
    }
    if ((size_t)(end - s) >= hostlen)
        return "not an IP address literal (host names are not allowed)";
    memcpy(host, s, (size_t)(end - s));
    host[end - s] = '\0';
    *port = strchr(end, ':') + 1;
    *family = af;
    return NULL;
}

/*
 * Parse into a canonical host (inet_ntop's form) so that two spellings of
 * one address compare equal.  @return NULL or why not.
 */
static const char *
cfg_hostport_error(const char *s, char *host, size_t hostlen,
                   unsigned *port, int *family)
{
    char lit[INET6_ADDRSTRLEN + 8];
    unsigned char addr[sizeof(struct in6_addr)];
    const char *why, *portstr;
    unsigned p = 0;
    int af = 0;

    why = cfg_split_hostport(s, lit, sizeof(lit), &portstr, &af);
    if (why == NULL && inet_pton(af, lit, addr) != 1)
        why = "not an IP address literal (host names are not allowed)";
    if (why == NULL)
        why = cfg_parse_port(portstr, &p);
    if (why != NULL)
        return why;
    if (inet_ntop(af, addr, host, (socklen_t)hostlen) == NULL)
        return "address too long";
    *port = p;
    *family = af;
    return NULL;
}

int
cfg_parse_hostport(const char *s, char *host, size_t hostlen,
                   unsigned *port, int *family)
{
    char buf[INET6_ADDRSTRLEN];
    unsigned p;
    int af;

    if (cfg_hostport_error(s, buf, sizeof(buf), &p, &af) != NULL ||
        strlen(buf) >= hostlen)
        return -EINVAL;
    memcpy(host, buf, strlen(buf) + 1);
    *port = p;
    *family = af;
    return 0;
}

/* ---- schema checks of one value ---- */

static void
cfg_format_size(unsigned long long v, char *buf, size_t len)
{
    if (v != 0 && v % CFG_G == 0)
        snprintf(buf, len, "%lluG", v / CFG_G);
    else if (v != 0 && v % CFG_M == 0)
        snprintf(buf, len, "%lluM", v / CFG_M);
    else if (v != 0 && v % CFG_K == 0)
        snprintf(buf, len, "%lluK", v / CFG_K);
    else
        snprintf(buf, len, "%llu", v);
}

/* CFG_UINT and CFG_SIZE; max 0 means no upper bound. */
static const char *
cfg_check_number(const struct cfg_key *k, const char *v, char *why,
                 size_t len)
{
    unsigned long long n, max = k->max ? k->max : ULLONG_MAX;
    char lo[32], hi[32];
    int rc;

    if (k->kind == CFG_SIZE)
        rc = cfg_parse_size(v, &n);
    else
        rc = cfg_parse_uint(v, &n);
    if (rc < 0)
        return k->kind == CFG_SIZE ? "not a size (e.g. 65536, 64K, 4M, 1G)"
                                   : "not a non-negative integer";
    if (n >= k->min && n <= max)
        return NULL;
    if (k->kind == CFG_SIZE) {
        cfg_format_size(k->min, lo, sizeof(lo));
        cfg_format_size(max, hi, sizeof(hi));
    } else {
        snprintf(lo, sizeof(lo), "%llu", k->min);
        snprintf(hi, sizeof(hi), "%llu", max);
    }
    snprintf(why, len, "out of range %s..%s", lo, hi);
    return why;
}

static const char *
cfg_check_enum(const struct cfg_key *k, const char *v, char *why, size_t len)
{
    size_t off;

    for (size_t i = 0; k->values && k->values[i]; i++)
        if (strcasecmp(v, k->values[i]) == 0)
            return NULL;
    off = (size_t)snprintf(why, len, "must be one of:");
    for (size_t i = 0; k->values && k->values[i] && off < len; i++)
        off += (size_t)snprintf(why + off, len - off, "%s %s",
                                i ? "," : "", k->values[i]);
    return why;
}

/*
 * glibc's regcomp() copies the tree once per stacked quantifier: "^PJ"
 * followed by a hundred '+' took 1.2 GB (found by fuzz_config).  A
 * quantifier right after another one adds nothing in an ERE, so it is
 * refused, outside brackets and escapes, as is a pattern over
 * CFG_REGEX_MAX bytes.  @return NULL, or why not.
 */
const char *
cfg_regex_unsafe(const char *v)
{
    bool quant = false;

    if (strlen(v) > CFG_REGEX_MAX)
        return "longer than 1024 bytes";
    for (const char *p = v; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            quant = false;
        } else if (*p == '[') {
            /* "[]x]" and "[^]x]": a leading ']' is a member. */
            p += p[1] == '^' ? 2 : 1;
            p += *p == ']';
            while (*p && *p != ']')
                p++;
            if (*p == '\0')
                return NULL;        /* regcomp says what is wrong */
            quant = false;
        } else if (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
            if (quant)
                return "a quantifier follows another one (write one)";
            if (*p == '{')
                while (p[1] && *p != '}')
                    p++;
            quant = true;
        } else {
            quant = false;
        }
    }
    return NULL;
}

static const char *
cfg_check_regex(const char *v, char *why, size_t len)
{
    const char *bad = cfg_regex_unsafe(v);
    regex_t re;
    char err[128];
    int rc;

    if (bad != NULL) {
        snprintf(why, len, "bad regular expression: %s", bad);
        return why;
    }
    rc = regcomp(&re, v, REG_EXTENDED | REG_NOSUB);
    if (rc == 0) {
        regfree(&re);
        return NULL;
    }
    regerror(rc, &re, err, sizeof(err));
    snprintf(why, len, "bad regular expression: %s", err);
    return why;
}

/* @return NULL if @p v is a good value for @p k, else why not. */
static const char *
cfg_check_value(const struct cfg_key *k, const char *v, char *why,
                size_t len)
{
    char host[INET6_ADDRSTRLEN];
    unsigned port, mode;
    int family;
    bool b;

    switch (k->kind) {
    case CFG_STRING:
        return *v ? NULL : "must not be empty";
    case CFG_UINT:
    case CFG_SIZE:
        return cfg_check_number(k, v, why, len);
    case CFG_BOOL:
        return cfg_parse_bool(v, &b) == 0 ? NULL
               : "must be yes or no (or true/false, on/off, 1/0)";
    case CFG_ENUM:
        return cfg_check_enum(k, v, why, len);
    case CFG_MODE:
        return cfg_parse_mode(v, &mode) == 0 ? NULL
               : "must be an octal mode like 0660 (at most 0777)";
    case CFG_HOSTPORT:
        return cfg_hostport_error(v, host, sizeof(host), &port, &family);
    case CFG_REGEX:
        return cfg_check_regex(v, why, len);
    case CFG_LOGLEVEL:
        return log_level_parse(v) >= 0 ? NULL
               : "must be one of: error, warning, notice, info, debug";
    }
    return "unknown kind of key (bug in the schema)";
}

/* ---- core types ---- */

static const char *const cfg_protocol_names[] = { "udp", "tcp", "tls", NULL };

static const struct cfg_key cfg_global_keys[] = {
    { "log_level", CFG_LOGLEVEL, 0, 0, 0, NULL },
    { "state_dir", CFG_STRING, 0, 0, 0, NULL },
    { "user_agent", CFG_STRING, 0, 0, 0, NULL },
    { "udp_recv_buffer", CFG_SIZE, 0, 4 * CFG_K, CFG_G, NULL },
    { "debug", CFG_BOOL, 0, 0, 0, NULL },
    { "min_se", CFG_UINT, 0, 1, 86400, NULL },
    { "entity_id", CFG_STRING, 0, 0, 0, NULL },
    { NULL, CFG_STRING, 0, 0, 0, NULL }
};

static const struct cfg_key cfg_transport_keys[] = {
    { "protocol", CFG_ENUM, 0, 0, 0, cfg_protocol_names },
    { "bind", CFG_HOSTPORT, CFG_REQUIRED, 0, 0, NULL },
    { "cert_file", CFG_STRING, 0, 0, 0, NULL },
    { "priv_key_file", CFG_STRING, 0, 0, 0, NULL },
    { "ca_file", CFG_STRING, 0, 0, 0, NULL },
    { "verify_client", CFG_BOOL, 0, 0, 0, NULL },
    { "verify_server", CFG_BOOL, 0, 0, 0, NULL },
    { "verify_depth", CFG_UINT, 0, 1, 100, NULL },
    { NULL, CFG_STRING, 0, 0, 0, NULL }
};

static const struct cfg_key cfg_control_keys[] = {
    { "socket", CFG_STRING, 0, 0, 0, NULL },
    { "mode", CFG_MODE, 0, 0, 0, NULL },
    { "group", CFG_STRING, 0, 0, 0, NULL },
    { "max_line", CFG_SIZE, 0, CFG_K, CFG_G, NULL },
    { "max_output", CFG_SIZE, 0, CFG_K, CFG_G, NULL },
    { "max_clients", CFG_UINT, 0, 1, 100000, NULL },
    { "allow_users", CFG_STRING, 0, 0, 0, NULL },
    { "allow_groups", CFG_STRING, 0, 0, 0, NULL },
    { NULL, CFG_STRING, 0, 0, 0, NULL }
};

static const struct cfg_key cfg_database_keys[] = {
    { "conninfo", CFG_STRING, CFG_REQUIRED, 0, 0, NULL },
    { "max_queue", CFG_UINT, 0, 1, 1000000, NULL },
    { "retry_min", CFG_UINT, 0, 1, 3600000, NULL },
    { "retry_max", CFG_UINT, 0, 1, 3600000, NULL },
    { "connect_timeout", CFG_UINT, 0, 1, 3600000, NULL },
    { NULL, CFG_STRING, 0, 0, 0, NULL }
};

/* Paths the daemon uses after chdir/chroot-free startup must be absolute. */
static int
cfg_check_absolute(const struct ini_section *sec, const char *key,
                   struct cfg_errors *errs)
{
    const struct ini_entry *e = ini_find(sec, key);

    if (e == NULL || e->value[0] == '/')
        return 0;
    cfg_errors_add(errs, e->file, e->line, "[%s] %s '%s': must be an "
                   "absolute path", sec->name, key, e->value);
    return -EINVAL;
}

/* Six hex bytes joined by colons, as Asterisk's entityid. */
static bool
cfg_is_eid(const char *s)
{
    for (int i = 0; i < 6; i++, s += 3)
        if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1])
            || s[2] != (i < 5 ? ':' : '\0'))
            return false;
    return true;
}

static int
cfg_check_global(const struct ini_section *sec, struct cfg_errors *errs)
{
    const struct ini_entry *e = ini_find(sec, "entity_id");
    int rc = cfg_check_absolute(sec, "state_dir", errs);

    if (e != NULL && !cfg_is_eid(e->value)) {
        cfg_errors_add(errs, e->file, e->line, "[%s] entity_id '%s': must be "
                       "six hex bytes xx:xx:xx:xx:xx:xx", sec->name, e->value);
        rc = -EINVAL;
    }
    return rc;
}

/*
 * Resolve "root, 1000, sipbridge" to ids, as users (@p groups 0) or
 * groups.  @return 0, -ENOMEM, or -ENOENT with the unknown name in @p bad.
 */
int
cfg_parse_ids(const char *list, int groups, unsigned **ids, size_t *n,
              char *bad, size_t badlen)
{
    char *copy = list ? strdup(list) : NULL, *save = NULL, *tok;
    unsigned *v = NULL;
    int rc = 0;

    *ids = NULL;
    *n = 0;
    if (list == NULL)
        return 0;
    if (copy == NULL)
        return -ENOMEM;
    for (tok = strtok_r(copy, ", \t", &save); tok && rc == 0;
         tok = strtok_r(NULL, ", \t", &save)) {
        char *end;
        unsigned long id = strtoul(tok, &end, 10);
        unsigned *nv = realloc(v, (*n + 1) * sizeof(*v));

        if (nv == NULL) {
            rc = -ENOMEM;
            break;
        }
        v = nv;
        if (!isdigit((unsigned char)tok[0]) || *end != '\0') {
            struct passwd *pw = groups ? NULL : getpwnam(tok);
            struct group *gr = groups ? getgrnam(tok) : NULL;

            if (pw == NULL && gr == NULL) {
                snprintf(bad, badlen, "%s", tok);
                rc = -ENOENT;
                break;
            }
            id = pw ? pw->pw_uid : gr->gr_gid;
        }
        v[(*n)++] = (unsigned)id;
    }
    free(copy);
    if (rc != 0) {
        free(v);
        *n = 0;
        v = NULL;
    }
    *ids = v;
    return rc;
}

/* allow_users/allow_groups: names must exist on this host. */
static int
cfg_check_ids(const struct ini_section *sec, const char *key, int groups,
              struct cfg_errors *errs)
{
    const struct ini_entry *e = ini_find(sec, key);
    unsigned *ids;
    size_t n;
    char bad[64];
    int rc;

    if (e == NULL)
        return 0;
    rc = cfg_parse_ids(e->value, groups, &ids, &n, bad, sizeof(bad));
    free(ids);
    if (rc == -ENOENT)
        cfg_errors_add(errs, e->file, e->line, "[%s] %s: no %s '%s' on this "
                       "host", sec->name, key, groups ? "group" : "user", bad);
    return rc;
}

/* group: one name or gid; the daemon would fail to chgrp its socket only
 * at start. */
static int
cfg_check_group(const struct ini_section *sec, struct cfg_errors *errs)
{
    const struct ini_entry *e = ini_find(sec, "group");
    unsigned *ids;
    size_t n;
    char bad[64];
    int rc;

    if (e == NULL || e->value[0] == '\0')
        return 0;
    rc = cfg_parse_ids(e->value, 1, &ids, &n, bad, sizeof(bad));
    free(ids);
    if (rc == -ENOENT)
        cfg_errors_add(errs, e->file, e->line, "[%s] group: no group '%s' on "
                       "this host", sec->name, bad);
    else if (rc == 0 && n != 1)
        cfg_errors_add(errs, e->file, e->line, "[%s] group: one group, not "
                       "a list", sec->name);
    return rc == 0 && n == 1 ? 0 : -EINVAL;
}

static int
cfg_check_control(const struct ini_section *sec, struct cfg_errors *errs)
{
    const struct ini_entry *e = ini_find(sec, "socket");
    struct sockaddr_un sun;

    if (cfg_check_absolute(sec, "socket", errs) < 0)
        return -EINVAL;
    if (cfg_check_ids(sec, "allow_users", 0, errs) < 0 ||
        cfg_check_ids(sec, "allow_groups", 1, errs) < 0 ||
        cfg_check_group(sec, errs) < 0)
        return -EINVAL;
    if (e == NULL || strlen(e->value) < sizeof(sun.sun_path))
        return 0;
    cfg_errors_add(errs, e->file, e->line, "[%s] socket '%s': longer than "
                   "%zu bytes", sec->name, e->value, sizeof(sun.sun_path) - 1);
    return -EINVAL;
}

/* cert_file and priv_key_file: required for tls, meaningless otherwise. */
static int
cfg_check_transport(const struct ini_section *sec, struct cfg_errors *errs)
{
    static const char *const tls_keys[] = {
        "cert_file", "priv_key_file", "ca_file", "verify_client",
        "verify_server", "verify_depth"
    };
    const char *proto = ini_get(sec, "protocol");
    bool tls = proto && strcasecmp(proto, "tls") == 0;
    int rc = 0;

    for (size_t i = 0; i < sizeof(tls_keys) / sizeof(tls_keys[0]); i++) {
        const struct ini_entry *e = ini_find(sec, tls_keys[i]);

        if (tls && e != NULL && i < 3 && access(e->value, R_OK) != 0) {
            cfg_errors_add(errs, e->file, e->line, "[%s] %s '%s': %s",
                           sec->name, e->key, e->value, strerror(errno));
            rc = -EINVAL;
        } else if (tls && e == NULL && i < 2) {
            cfg_errors_add(errs, sec->file, sec->line, "[%s] type=transport:"
                           " missing required key '%s' (protocol=tls)",
                           sec->name, tls_keys[i]);
            rc = -EINVAL;
        } else if (!tls && e != NULL) {
            cfg_errors_add(errs, e->file, e->line, "[%s] key '%s': only "
                           "allowed with protocol=tls", sec->name, e->key);
            rc = -EINVAL;
        }
    }
    return rc;
}

unsigned
cfg_get_uint(const struct ini_section *sec, const char *key, unsigned def)
{
    const char *v = ini_get(sec, key);
    unsigned long long n;

    return v && cfg_parse_uint(v, &n) == 0 ? (unsigned)n : def;
}

static int
cfg_check_database(const struct ini_section *sec, struct cfg_errors *errs)
{
    unsigned lo = cfg_get_uint(sec, "retry_min", 500);
    unsigned hi = cfg_get_uint(sec, "retry_max", 30000);
    const struct ini_entry *e;

    if (lo <= hi)
        return 0;
    e = ini_find(sec, "retry_min");
    if (e == NULL)
        e = ini_find(sec, "retry_max");
    cfg_errors_add(errs, e->file, e->line, "[%s] type=database: retry_min "
                   "(%u) is greater than retry_max (%u)", sec->name, lo, hi);
    return -EINVAL;
}

enum { CFG_T_GLOBAL, CFG_T_TRANSPORT, CFG_T_CONTROL, CFG_T_DATABASE,
       CFG_T_NCORE };

static const struct cfg_type cfg_core_types[CFG_T_NCORE] = {
    { "global", cfg_global_keys, NULL, true, cfg_check_global, false },
    { "transport", cfg_transport_keys, NULL, false, cfg_check_transport, false },
    { "control", cfg_control_keys, NULL, true, cfg_check_control, false },
    { "database", cfg_database_keys, NULL, false, cfg_check_database, false },
};

/* ---- the check pass ---- */

struct cfg_check {
    const char *path;
    const struct ini_doc *doc;
    const struct cfg_type *const *types;
    size_t ntypes;
    const struct cfg_type **typ;  /* per section, NULL if untyped */
    bool *ok;                     /* per section: passed its schema */
    struct cfg_errors *errs;
    size_t nerrs;
};

static void
cfg_error(struct cfg_check *ck, const char *file, unsigned line,
          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
cfg_error(struct cfg_check *ck, const char *file, unsigned line,
          const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfg_errors_vadd(ck->errs, file, line, fmt, ap);
    va_end(ap);
    ck->nerrs++;
}

/* Items compared by (a, b); idx is the item's position in its list. */
struct cfg_dup {
    const char *a, *b;
    size_t idx;
};

static int
cfg_dup_cmp(const void *x, const void *y)
{
    const struct cfg_dup *p = x, *q = y;
    int c = strcmp(p->a, q->a);

    if (c == 0)
        c = strcmp(p->b, q->b);
    if (c == 0)
        c = (p->idx > q->idx) - (p->idx < q->idx);
    return c;
}

/*
 * Sort @p v (n items) and return first[nidx]: for each listed item the
 * position of the first equal one (itself if none came before), SIZE_MAX
 * for positions not listed.  Sorting keeps big fuzzed files O(n log n).
 */
static size_t *
cfg_first_of(struct cfg_dup *v, size_t n, size_t nidx)
{
    size_t *first = malloc((nidx ? nidx : 1) * sizeof(*first));

    if (first == NULL)
        return NULL;
    for (size_t i = 0; i < nidx; i++)
        first[i] = SIZE_MAX;
    if (n > 0)
        qsort(v, n, sizeof(*v), cfg_dup_cmp);
    for (size_t i = 0; i < n; i++) {
        bool same = i > 0 && strcmp(v[i - 1].a, v[i].a) == 0 &&
                    strcmp(v[i - 1].b, v[i].b) == 0;

        first[v[i].idx] = same ? first[v[i - 1].idx] : v[i].idx;
    }
    return first;
}

static const struct cfg_type *
cfg_find_type(const struct cfg_check *ck, const char *name)
{
    for (size_t i = 0; i < CFG_T_NCORE; i++)
        if (strcmp(cfg_core_types[i].type, name) == 0)
            return &cfg_core_types[i];
    for (size_t i = 0; i < ck->ntypes; i++)
        if (strcmp(ck->types[i]->type, name) == 0)
            return ck->types[i];
    return NULL;
}

static void
cfg_unknown_type(struct cfg_check *ck, const struct ini_section *sec,
                 const struct ini_entry *e)
{
    char known[512];
    size_t off = 0;

    known[0] = '\0';
    for (size_t i = 0; i < CFG_T_NCORE + ck->ntypes; i++) {
        const char *t = i < CFG_T_NCORE ? cfg_core_types[i].type
                                        : ck->types[i - CFG_T_NCORE]->type;

        if (off < sizeof(known))
            off += (size_t)snprintf(known + off, sizeof(known) - off, "%s%s",
                                    i ? ", " : "", t);
    }
    cfg_error(ck, e->file, e->line, "[%s] type '%s': unknown type (known: "
              "%s)", sec->name, e->value, known);
}

static const struct cfg_type *
cfg_section_type(struct cfg_check *ck, const struct ini_section *sec)
{
    const struct ini_entry *e = ini_find(sec, "type");
    const struct cfg_type *t;

    if (e == NULL) {
        cfg_error(ck, sec->file, sec->line, "[%s]: missing required key "
                  "'type' (every section is an object: type=transport, ...)",
                  sec->name);
        return NULL;
    }
    t = cfg_find_type(ck, e->value);
    if (t == NULL)
        cfg_unknown_type(ck, sec, e);
    return t;
}

/* Exact names win over patterns ("event_*"), whatever their order. */
static const struct cfg_key *
cfg_match_key(const struct cfg_type *t, const char *key)
{
    const struct cfg_key *k;
    size_t len;

    for (k = t->keys; k && k->name; k++)
        if (strcmp(k->name, key) == 0)
            return k;
    for (k = t->keys; k && k->name; k++) {
        len = strlen(k->name);
        if (len > 0 && k->name[len - 1] == '*' &&
            strncmp(k->name, key, len - 1) == 0)
            return k;
    }
    return NULL;
}

/* Check one entry; @p first is the position of the first equal key. */
static bool
cfg_check_entry(struct cfg_check *ck, const struct ini_section *sec,
                const struct cfg_type *t, size_t i, size_t first)
{
    const struct ini_entry *e = &sec->entries[i], *f = &sec->entries[first];
    bool is_type = strcmp(e->key, "type") == 0;
    const struct cfg_key *k = is_type ? NULL : cfg_match_key(t, e->key);
    const char *why;
    char buf[256];

    if (k == NULL && !is_type) {
        cfg_error(ck, e->file, e->line, "[%s] key '%s': unknown key for "
                  "type=%s", sec->name, e->key, t->type);
        return false;
    }
    if (first != i && (k == NULL || !(k->flags & CFG_REPEATABLE))) {
        cfg_error(ck, e->file, e->line, "[%s] key '%s': given twice (first "
                  "at %s:%u) and not repeatable", sec->name, e->key, f->file,
                  f->line);
        return false;
    }
    if (k == NULL)
        return true;
    why = cfg_check_value(k, e->value, buf, sizeof(buf));
    if (why == NULL)
        return true;
    cfg_error(ck, e->file, e->line, "[%s] %s '%s': %s", sec->name, e->key,
              e->value, why);
    return false;
}

static bool
cfg_check_required(struct cfg_check *ck, const struct ini_section *sec,
                   const struct cfg_type *t)
{
    bool ok = true;

    for (const struct cfg_key *k = t->keys; k && k->name; k++) {
        bool found = false;

        if (!(k->flags & CFG_REQUIRED))
            continue;
        for (size_t i = 0; i < sec->nentries && !found; i++)
            found = cfg_match_key(t, sec->entries[i].key) == k;
        if (!found) {
            cfg_error(ck, sec->file, sec->line, "[%s] type=%s: missing "
                      "required key '%s'", sec->name, t->type, k->name);
            ok = false;
        }
    }
    return ok;
}

/* Schema check of one typed section: @return 1 ok, 0 bad, -ENOMEM. */
static int
cfg_check_keys(struct cfg_check *ck, const struct ini_section *sec,
               const struct cfg_type *t)
{
    struct cfg_dup *v = calloc(sec->nentries + 1, sizeof(*v));
    size_t *first = NULL;
    bool ok = true;

    if (v != NULL) {
        for (size_t i = 0; i < sec->nentries; i++)
            v[i] = (struct cfg_dup){ sec->entries[i].key, "", i };
        first = cfg_first_of(v, sec->nentries, sec->nentries);
    }
    free(v);
    if (first == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < sec->nentries; i++)
        ok &= cfg_check_entry(ck, sec, t, i, first[i]);
    free(first);
    ok &= cfg_check_required(ck, sec, t);
    if (ok && t->check && t->check(sec, ck->errs) < 0) {
        ck->nerrs++;
        ok = false;
    }
    return ok;
}

static int
cfg_check_sections(struct cfg_check *ck)
{
    for (size_t i = 0; i < ck->doc->nsections; i++) {
        const struct ini_section *sec = &ck->doc->sections[i];
        int rc;

        ck->typ[i] = cfg_section_type(ck, sec);
        if (ck->typ[i] == NULL)
            continue;
        rc = cfg_check_keys(ck, sec, ck->typ[i]);
        if (rc < 0)
            return rc;
        ck->ok[i] = rc;
    }
    return 0;
}

/* ---- the check pass: across sections ---- */

typedef bool cfg_dupkey_fn(const struct cfg_check *ck, size_t i,
                           struct cfg_dup *d);

/* first[] over the sections @p fn gives a key for (see cfg_first_of). */
static size_t *
cfg_first_by(const struct cfg_check *ck, cfg_dupkey_fn *fn)
{
    size_t n = ck->doc->nsections, m = 0, *first;
    struct cfg_dup *v = calloc(n + 1, sizeof(*v));

    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (fn(ck, i, &v[m])) {
            v[m].idx = i;
            m++;
        }
    }
    first = cfg_first_of(v, m, n);
    free(v);
    return first;
}

static bool
cfg_key_name_type(const struct cfg_check *ck, size_t i, struct cfg_dup *d)
{
    d->a = ck->typ[i] ? ck->typ[i]->type : NULL;
    d->b = ck->doc->sections[i].name;
    return d->a != NULL;
}

static bool
cfg_key_singleton(const struct cfg_check *ck, size_t i, struct cfg_dup *d)
{
    d->a = ck->typ[i] ? ck->typ[i]->type : NULL;
    d->b = "";
    return d->a != NULL && ck->typ[i]->singleton;
}

static bool
cfg_key_owner(const struct cfg_check *ck, size_t i, struct cfg_dup *d)
{
    const struct cfg_type *t = ck->typ[i];

    if (t == NULL || (t->owner_key == NULL && !t->owner_is_name))
        return false;
    d->a = t->owner_is_name ? ck->doc->sections[i].name
                            : ini_get(&ck->doc->sections[i], t->owner_key);
    d->b = "";
    return d->a != NULL;
}

/* Same name and same type twice; singletons twice under other names. */
static int
cfg_check_unique(struct cfg_check *ck)
{
    const struct ini_section *s = ck->doc->sections, *f;
    size_t *dup = cfg_first_by(ck, cfg_key_name_type);
    size_t *one = cfg_first_by(ck, cfg_key_singleton);
    int rc = dup && one ? 0 : -ENOMEM;

    for (size_t i = 0; rc == 0 && i < ck->doc->nsections; i++) {
        if (dup[i] != SIZE_MAX && dup[i] != i) {
            f = &s[dup[i]];
            cfg_error(ck, s[i].file, s[i].line, "[%s] type=%s: defined twice"
                      " (first at %s:%u)", s[i].name, ck->typ[i]->type,
                      f->file, f->line);
        } else if (one[i] != SIZE_MAX && one[i] != i) {
            f = &s[one[i]];
            cfg_error(ck, s[i].file, s[i].line, "[%s] type=%s: only one "
                      "type=%s section is allowed, [%s] at %s:%u is the "
                      "first", s[i].name, ck->typ[i]->type, ck->typ[i]->type,
                      f->name, f->file, f->line);
        }
    }
    free(dup);
    free(one);
    return rc;
}

/* Where an object names its user part: the owner key, or its header. */
static void
cfg_owner_where(const struct ini_section *sec, const struct cfg_type *t,
                struct ini_entry *out)
{
    const struct ini_entry *e = t->owner_is_name ? NULL
                                                 : ini_find(sec, t->owner_key);

    if (e != NULL) {
        *out = *e;
        return;
    }
    memset(out, 0, sizeof(*out));
    out->value = sec->name;
    out->file = sec->file;
    out->line = sec->line;
}

/* A Request-URI user part is routed to exactly one object. */
static int
cfg_check_owners(struct cfg_check *ck)
{
    const struct ini_section *s = ck->doc->sections;
    size_t *first = cfg_first_by(ck, cfg_key_owner);

    if (first == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ck->doc->nsections; i++) {
        struct ini_entry e, f;
        size_t j = first[i];

        if (j == SIZE_MAX || j == i)
            continue;
        cfg_owner_where(&s[i], ck->typ[i], &e);
        cfg_owner_where(&s[j], ck->typ[j], &f);
        cfg_error(ck, e.file, e.line, "[%s] type=%s: user part '%s' is "
                  "already owned by [%s] (type=%s) at %s:%u", s[i].name,
                  ck->typ[i]->type, e.value, s[j].name, ck->typ[j]->type,
                  f.file, f.line);
    }
    free(first);
    return 0;
}

static bool
cfg_is_transport(const struct cfg_check *ck, size_t i)
{
    return ck->typ[i] == &cfg_core_types[CFG_T_TRANSPORT];
}

/* "udp|stream HOST PORT": tcp and tls share the kernel's TCP ports. */
static bool
cfg_bind_key(const struct ini_section *sec, char *buf, size_t len)
{
    const char *proto = ini_get(sec, "protocol");
    char host[INET6_ADDRSTRLEN];
    unsigned port;
    int family;

    if (cfg_parse_hostport(ini_get(sec, "bind"), host, sizeof(host), &port,
                           &family) < 0)
        return false;
    snprintf(buf, len, "%s %s %u", proto == NULL ||
             strcasecmp(proto, "udp") == 0 ? "udp" : "stream", host, port);
    return true;
}

static void
cfg_report_binds(struct cfg_check *ck, const size_t *first)
{
    const struct ini_section *s = ck->doc->sections;

    for (size_t i = 0; i < ck->doc->nsections; i++) {
        const struct ini_entry *e, *f;
        const char *p;

        if (first[i] == SIZE_MAX || first[i] == i)
            continue;
        e = ini_find(&s[i], "bind");
        f = ini_find(&s[first[i]], "bind");
        p = ini_get(&s[first[i]], "protocol");
        cfg_error(ck, e->file, e->line, "[%s] bind '%s': already bound by "
                  "[%s] (protocol=%s) at %s:%u", s[i].name, e->value,
                  s[first[i]].name, p ? p : "udp", f->file, f->line);
    }
}

/* Two transports on one protocol+address+port could never both bind. */
static int
cfg_check_binds(struct cfg_check *ck)
{
    enum { KEYLEN = INET6_ADDRSTRLEN + 16 };
    size_t n = ck->doc->nsections, m = 0, *first = NULL;
    char (*keys)[KEYLEN] = calloc(n + 1, KEYLEN);
    struct cfg_dup *v = calloc(n + 1, sizeof(*v));

    for (size_t i = 0; keys && v && i < n; i++) {
        if (ck->ok[i] && cfg_is_transport(ck, i) &&
            cfg_bind_key(&ck->doc->sections[i], keys[i], KEYLEN))
            v[m++] = (struct cfg_dup){ keys[i], "", i };
    }
    if (keys && v)
        first = cfg_first_of(v, m, n);
    if (first)
        cfg_report_binds(ck, first);
    free(first);
    free(keys);
    free(v);
    return first ? 0 : -ENOMEM;
}

static int
cfg_check_doc(struct cfg_check *ck)
{
    size_t ntransports = 0;
    int rc;

    rc = cfg_check_sections(ck);
    if (rc == 0)
        rc = cfg_check_unique(ck);
    if (rc == 0)
        rc = cfg_check_owners(ck);
    if (rc == 0)
        rc = cfg_check_binds(ck);
    for (size_t i = 0; i < ck->doc->nsections; i++)
        ntransports += cfg_is_transport(ck, i);
    if (rc == 0 && ntransports == 0)
        cfg_error(ck, ck->path, 0, "no transport configured (add a section "
                  "with type=transport, protocol=udp, bind=ADDR:PORT)");
    if (rc == 0 && ck->nerrs > 0)
        rc = -EINVAL;
    return rc;
}

/* ---- the build pass: the document is known to be valid ---- */

static int
cfg_set_str(char **dst, const char *value)
{
    char *s;

    if (value == NULL)
        return 0;
    s = strdup(value);
    if (s == NULL)
        return -ENOMEM;
    free(*dst);
    *dst = s;
    return 0;
}

size_t
cfg_get_size(const struct ini_section *sec, const char *key, size_t def)
{
    const char *v = ini_get(sec, key);
    unsigned long long n;

    return v && cfg_parse_size(v, &n) == 0 ? (size_t)n : def;
}

bool
cfg_get_bool(const struct ini_section *sec, const char *key, bool def)
{
    const char *v = ini_get(sec, key);
    bool b;

    return v && cfg_parse_bool(v, &b) == 0 ? b : def;
}

static int
cfg_set_defaults(struct cfg *cfg)
{
    cfg->global.log_level = LOG_LVL_NOTICE;
    cfg->global.udp_recv_buffer = 4 * CFG_M;
    cfg->global.debug = false;
    cfg->global.min_se = 90;
    cfg->control.mode = 0660;
    cfg->control.max_line = CFG_M;
    cfg->control.max_output = 8 * CFG_M;
    cfg->control.max_clients = 256;
    if (cfg_set_str(&cfg->global.state_dir, "/var/lib/sipbridge") < 0 ||
        cfg_set_str(&cfg->global.user_agent,
                    "sipbridge/" SIPBRIDGE_VERSION) < 0 ||
        cfg_set_str(&cfg->control.socket, "/run/sipbridge/control.sock") < 0)
        return -ENOMEM;
    return 0;
}

static int
cfg_build_global(const struct ini_section *sec, struct cfg_global *g)
{
    const char *v;

    if ((v = ini_get(sec, "log_level")) != NULL)
        g->log_level = log_level_parse(v);
    if ((v = ini_get(sec, "debug")) != NULL)
        cfg_parse_bool(v, &g->debug);
    g->udp_recv_buffer = cfg_get_size(sec, "udp_recv_buffer",
                                      g->udp_recv_buffer);
    g->min_se = cfg_get_uint(sec, "min_se", g->min_se);
    if (cfg_set_str(&g->state_dir, ini_get(sec, "state_dir")) < 0 ||
        cfg_set_str(&g->entity_id, ini_get(sec, "entity_id")) < 0 ||
        cfg_set_str(&g->user_agent, ini_get(sec, "user_agent")) < 0)
        return -ENOMEM;
    return 0;
}

static int
cfg_build_control(const struct ini_section *sec, struct cfg_control *c)
{
    const char *v;

    if ((v = ini_get(sec, "mode")) != NULL)
        cfg_parse_mode(v, &c->mode);
    c->max_line = cfg_get_size(sec, "max_line", c->max_line);
    c->max_output = cfg_get_size(sec, "max_output", c->max_output);
    c->max_clients = cfg_get_uint(sec, "max_clients", c->max_clients);
    if (cfg_set_str(&c->socket, ini_get(sec, "socket")) < 0 ||
        cfg_set_str(&c->group, ini_get(sec, "group")) < 0 ||
        cfg_set_str(&c->allow_users, ini_get(sec, "allow_users")) < 0 ||
        cfg_set_str(&c->allow_groups, ini_get(sec, "allow_groups")) < 0)
        return -ENOMEM;
    return 0;
}

static int
cfg_build_transport(const struct ini_section *sec, struct cfg_transport *t)
{
    const char *proto = ini_get(sec, "protocol");
    char host[INET6_ADDRSTRLEN];

    t->protocol = CFG_PROTO_UDP;
    if (proto && strcasecmp(proto, "tcp") == 0)
        t->protocol = CFG_PROTO_TCP;
    else if (proto && strcasecmp(proto, "tls") == 0)
        t->protocol = CFG_PROTO_TLS;
    cfg_parse_hostport(ini_get(sec, "bind"), host, sizeof(host), &t->port,
                       &t->family);
    t->file = sec->file;
    t->line = sec->line;
    t->verify_client = cfg_get_bool(sec, "verify_client", false);
    t->verify_server = cfg_get_bool(sec, "verify_server", true);
    t->verify_depth = cfg_get_uint(sec, "verify_depth", 9);
    if (cfg_set_str(&t->name, sec->name) < 0 ||
        cfg_set_str(&t->host, host) < 0 ||
        cfg_set_str(&t->cert_file, ini_get(sec, "cert_file")) < 0 ||
        cfg_set_str(&t->priv_key_file, ini_get(sec, "priv_key_file")) < 0 ||
        cfg_set_str(&t->ca_file, ini_get(sec, "ca_file")) < 0)
        return -ENOMEM;
    return 0;
}

static int
cfg_build_database(const struct ini_section *sec, struct cfg_database *d)
{
    d->max_queue = cfg_get_uint(sec, "max_queue", 1000);
    d->retry_min_ms = cfg_get_uint(sec, "retry_min", 500);
    d->retry_max_ms = cfg_get_uint(sec, "retry_max", 30000);
    d->connect_timeout_ms = cfg_get_uint(sec, "connect_timeout", 5000);
    d->file = sec->file;
    d->line = sec->line;
    if (cfg_set_str(&d->name, sec->name) < 0 ||
        cfg_set_str(&d->conninfo, ini_get(sec, "conninfo")) < 0)
        return -ENOMEM;
    return 0;
}

/* Size the object arrays up front so that cfg_free can always run. */
static int
cfg_alloc_arrays(struct cfg *cfg, const struct cfg_check *ck)
{
    size_t nt = 0, nd = 0;

    for (size_t i = 0; i < ck->doc->nsections; i++) {
        nt += ck->typ[i] == &cfg_core_types[CFG_T_TRANSPORT];
        nd += ck->typ[i] == &cfg_core_types[CFG_T_DATABASE];
    }
    cfg->transports = calloc(nt + 1, sizeof(*cfg->transports));
    cfg->databases = calloc(nd + 1, sizeof(*cfg->databases));
    return cfg->transports && cfg->databases ? 0 : -ENOMEM;
}

static int
cfg_build_section(struct cfg *cfg, const struct ini_section *sec,
                  const struct cfg_type *t)
{
    if (t == &cfg_core_types[CFG_T_GLOBAL])
        return cfg_build_global(sec, &cfg->global);
    if (t == &cfg_core_types[CFG_T_CONTROL])
        return cfg_build_control(sec, &cfg->control);
    if (t == &cfg_core_types[CFG_T_TRANSPORT])
        return cfg_build_transport(sec,
                                   &cfg->transports[cfg->ntransports++]);
    if (t == &cfg_core_types[CFG_T_DATABASE])
        return cfg_build_database(sec, &cfg->databases[cfg->ndatabases++]);
    return 0;
}

static int
cfg_build(const struct cfg_check *ck, struct cfg **out)
{
    struct cfg *cfg = calloc(1, sizeof(*cfg));
    int rc = -ENOMEM;

    if (cfg == NULL)
        return -ENOMEM;
    if (cfg_set_str(&cfg->path, ck->path) < 0 || cfg_set_defaults(cfg) < 0 ||
        cfg_alloc_arrays(cfg, ck) < 0)
        goto fail;
    for (size_t i = 0; i < ck->doc->nsections; i++) {
        rc = cfg_build_section(cfg, &ck->doc->sections[i], ck->typ[i]);
        if (rc < 0)
            goto fail;
    }
    *out = cfg;
    return 0;
fail:
    cfg_free(cfg);
    return rc;
}

/* Takes @p doc: it ends up in *out or is freed. */
static int
cfg_from_doc(const char *path, struct ini_doc *doc,
             const struct cfg_type *const *types, size_t ntypes, struct cfg **out,
             struct cfg_errors *errs)
{
    struct cfg_check ck = { .path = path, .doc = doc, .types = types,
                            .ntypes = ntypes, .errs = errs };
    struct cfg *cfg = NULL;
    int rc = -ENOMEM;

    ck.typ = calloc(doc->nsections + 1, sizeof(*ck.typ));
    ck.ok = calloc(doc->nsections + 1, sizeof(*ck.ok));
    if (ck.typ == NULL || ck.ok == NULL)
        goto out;
    rc = cfg_check_doc(&ck);
    if (rc == 0)
        rc = cfg_build(&ck, &cfg);
    if (rc == 0) {
        cfg->doc = doc;
        *out = cfg;
    }
out:
    free(ck.typ);
    free(ck.ok);
    if (rc < 0)
        ini_free(doc);
    return rc;
}

int
cfg_load(const char *path, const struct cfg_type *const *types, size_t ntypes,
         struct cfg **out, struct cfg_errors *errs)
{
    struct ini_doc *doc;
    int rc;

    rc = ini_load(path, &doc, errs);
    if (rc < 0)
        return rc;
    return cfg_from_doc(path, doc, types, ntypes, out, errs);
}

int
cfg_load_buffer(const char *name, const char *buf, size_t len,
                const struct cfg_type *const *types, size_t ntypes,
                struct cfg **out, struct cfg_errors *errs)
{
    struct ini_doc *doc;
    int rc;

    rc = ini_load_buffer(name, buf, len, &doc, errs);
    if (rc < 0)
        return rc;
    return cfg_from_doc(name, doc, types, ntypes, out, errs);
}

void
cfg_free(struct cfg *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->ntransports; i++) {
        free(cfg->transports[i].name);
        free(cfg->transports[i].host);
        free(cfg->transports[i].cert_file);
        free(cfg->transports[i].priv_key_file);
        free(cfg->transports[i].ca_file);
    }
    for (size_t i = 0; i < cfg->ndatabases; i++) {
        free(cfg->databases[i].name);
        free(cfg->databases[i].conninfo);
    }
    free(cfg->transports);
    free(cfg->databases);
    free(cfg->global.state_dir);
    free(cfg->global.entity_id);
    free(cfg->global.user_agent);
    free(cfg->control.socket);
    free(cfg->control.group);
    free(cfg->control.allow_users);
    free(cfg->control.allow_groups);
    free(cfg->path);
    ini_free(cfg->doc);
    free(cfg);
}

static bool
cfg_str_equal(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool
cfg_transport_equal(const struct cfg_transport *a,
                    const struct cfg_transport *b)
{
    return a->protocol == b->protocol && a->port == b->port &&
           a->family == b->family && cfg_str_equal(a->host, b->host) &&
           cfg_str_equal(a->cert_file, b->cert_file) &&
           cfg_str_equal(a->priv_key_file, b->priv_key_file) &&
           cfg_str_equal(a->ca_file, b->ca_file) &&
           a->verify_client == b->verify_client &&
           a->verify_server == b->verify_server &&
           a->verify_depth == b->verify_depth;
}

bool
cfg_transports_equal(const struct cfg *a, const struct cfg *b)
{
    if (a->ntransports != b->ntransports)
        return false;
    for (size_t i = 0; i < a->ntransports; i++) {
        size_t j = 0;

        while (j < b->ntransports &&
               strcmp(a->transports[i].name, b->transports[j].name) != 0)
            j++;
        if (j == b->ntransports ||
            !cfg_transport_equal(&a->transports[i], &b->transports[j]))
            return false;
    }
    return true;
}

const struct ini_section *
cfg_section_find(const struct cfg *cfg, const char *type, const char *name)
{
    for (size_t i = 0; i < cfg->doc->nsections; i++) {
        const struct ini_section *s = &cfg->doc->sections[i];
        const char *t = ini_get(s, "type");

        if (t && strcmp(t, type) == 0 && (!name || strcmp(s->name, name) == 0))
            return s;
    }
    return NULL;
}

const struct cfg_database *
cfg_database_find(const struct cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ndatabases; i++)
        if (strcmp(cfg->databases[i].name, name) == 0)
            return &cfg->databases[i];
    return NULL;
}

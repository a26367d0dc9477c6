/*
 * cfg.h - the daemon's configuration: typed objects read from an INI file.
 *
 * Sections are objects with a "type" key, as in Asterisk's pjsip.conf.  The
 * core types (global, transport, control, database) are built in; each
 * capability describes its own types with a struct cfg_type (a key schema,
 * an optional semantic check and the key naming the SIP user part it owns)
 * and the composition root (main.c) passes them to cfg_load().  cfg checks
 * every section against its schema: unknown keys, bad values, missing
 * required keys and two objects owning one user part are errors that name
 * FILE:LINE and the key.  Loop thread only; a struct cfg is immutable once
 * loaded and is swapped whole on reload.
 */
#ifndef SIPBRIDGE_CFG_H
#define SIPBRIDGE_CFG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sipbridge/ini.h"

#define CFG_DEFAULT_PATH "/etc/sipbridge/sipbridge.conf"

/* An error list: each message is "FILE:LINE: text", owned by the list. */
struct cfg_errors {
    char **msgs;
    size_t n;
};

void cfg_errors_add(struct cfg_errors *errs, const char *file, unsigned line,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void cfg_errors_vadd(struct cfg_errors *errs, const char *file, unsigned line,
                     const char *fmt, va_list ap);
void cfg_errors_clear(struct cfg_errors *errs);

/* ---- schemas, used by core and capability types alike ---- */

enum cfg_kind {
    CFG_STRING,  /* any non-empty string */
    CFG_UINT,    /* decimal, within [min, max] */
    CFG_BOOL,    /* yes/no/true/false/on/off/1/0 */
    CFG_ENUM,    /* one of values[] */
    CFG_SIZE,    /* bytes with optional K/M/G suffix (1024-based), [min, max] */
    CFG_MODE,    /* octal file mode, e.g. 0660 */
    CFG_HOSTPORT,/* ADDR:PORT, ADDR an IPv4 literal or [IPv6]; port 1..65535 */
    CFG_REGEX,   /* POSIX extended regex, compiled to check it */
    CFG_LOGLEVEL /* error|warning|notice|info|debug */
};

/* Size units of CFG_SIZE keys. */
#define CFG_K 1024ull
#define CFG_M (1024ull * 1024)
#define CFG_G (1024ull * 1024 * 1024)

#define CFG_REQUIRED   0x1u /* must appear once */
#define CFG_REPEATABLE 0x2u /* may appear more than once (else: error) */

struct cfg_key {
    const char *name;   /* exact key, or a pattern ending in '*' ("event_*",
                           "@*") matching any key with that prefix */
    enum cfg_kind kind;
    unsigned flags;
    unsigned long long min, max;    /* CFG_UINT, CFG_SIZE */
    const char *const *values;      /* CFG_ENUM, NULL-terminated */
};

struct cfg_type {
    const char *type;               /* value of "type=" */
    const struct cfg_key *keys;     /* terminated by a {NULL} entry; "type"
                                       itself is implicit */
    const char *owner_key;          /* key holding the Request-URI user part
                                       this object owns, or NULL */
    bool singleton;                 /* at most one section of this type */
    /* Extra checks beyond the schema; add errors, return 0 or -EINVAL. */
    int (*check)(const struct ini_section *sec, struct cfg_errors *errs);
    bool owner_is_name;             /* the section name is the user part it
                                       owns (Asterisk's inbound-publication) */
};

/* ---- core objects ---- */

enum cfg_proto { CFG_PROTO_UDP, CFG_PROTO_TCP, CFG_PROTO_TLS };

struct cfg_transport {
    char *name;
    enum cfg_proto protocol;
    char *host;          /* address literal without brackets */
    unsigned port;
    int family;          /* AF_INET or AF_INET6 */
    char *cert_file;     /* tls only */
    char *priv_key_file; /* tls only */
    char *ca_file;       /* tls only: CAs peers are checked against, or
                            NULL: the system's */
    bool verify_client;  /* tls: clients must show a valid certificate */
    bool verify_server;  /* tls: servers we connect to must (default) */
    unsigned verify_depth; /* tls: longest chain accepted (default 9) */
    const char *file;    /* where it was defined */
    unsigned line;
};

struct cfg_global {
    int log_level;           /* log_level (default notice) */
    char *state_dir;         /* state_dir (default /var/lib/sipbridge) */
    char *user_agent;        /* user_agent (default "sipbridge/VERSION") */
    size_t udp_recv_buffer;  /* udp_recv_buffer (default 4M) */
    bool debug;              /* debug: SIP trace at start (default no) */
    unsigned min_se;         /* min_se: RFC 4028 Min-SE, s (default 90) */
    char *entity_id;         /* entity_id "xx:xx:xx:xx:xx:xx", or NULL:
                                generated once and kept in state_dir */
};

struct cfg_control {
    char *socket;         /* socket (default /run/sipbridge/control.sock) */
    unsigned mode;        /* mode (default 0660) */
    char *group;          /* group, or NULL: leave as created */
    size_t max_line;      /* max_line (default 1M): longest request line */
    size_t max_output;    /* max_output (default 8M): a client's unsent
                             output past this disconnects it */
    unsigned max_clients; /* max_clients (default 256) connected at once */
    char *allow_users;    /* allow_users: uids/names, or NULL: anyone */
    char *allow_groups;   /* allow_groups: gids/names, or NULL: anyone */
};

struct cfg_database {
    char *name;           /* section name; capabilities refer to it */
    char *conninfo;       /* libpq conninfo (required) */
    unsigned max_queue;   /* max_queue (default 1000) pending queries */
    unsigned retry_min_ms;/* retry_min (default 500) first reconnect delay */
    unsigned retry_max_ms;/* retry_max (default 30000) backoff cap */
    unsigned connect_timeout_ms; /* connect_timeout (default 5000) */
    const char *file;
    unsigned line;
};

struct cfg {
    char *path;                       /* the file given to cfg_load */
    struct cfg_global global;
    struct cfg_transport *transports; /* at least one */
    size_t ntransports;
    struct cfg_control control;
    struct cfg_database *databases;
    size_t ndatabases;
    struct ini_doc *doc;              /* every section, for capabilities */
};

/**
 * Load and check @p path.  @p types points to the capability types (may be
 * NULL with @p ntypes 0); a section of a type neither core nor listed is
 * an error.  Every problem found is added to @p errs (all of them, not
 * just the first).
 * @return 0 and *out (free with cfg_free), or -EINVAL/-ENOMEM.
 */
int cfg_load(const char *path, const struct cfg_type *const *types, size_t ntypes,
             struct cfg **out, struct cfg_errors *errs);

/** Same, from a buffer named @p name (tests, fuzzing). */
int cfg_load_buffer(const char *name, const char *buf, size_t len,
                    const struct cfg_type *const *types, size_t ntypes,
                    struct cfg **out, struct cfg_errors *errs);

void cfg_free(struct cfg *cfg);

/** @return true if both configs bind the same transports (reload check). */
bool cfg_transports_equal(const struct cfg *a, const struct cfg *b);

/** @return the first section of @p type called @p name (any name when
 *  NULL), or NULL. */
const struct ini_section *cfg_section_find(const struct cfg *cfg,
                                           const char *type,
                                           const char *name);

/** @return the database section called @p name, or NULL. */
const struct cfg_database *cfg_database_find(const struct cfg *cfg,
                                             const char *name);

/** Typed values of a checked section; @p def when the key is absent. */
unsigned cfg_get_uint(const struct ini_section *sec, const char *key,
                      unsigned def);
bool cfg_get_bool(const struct ini_section *sec, const char *key, bool def);
size_t cfg_get_size(const struct ini_section *sec, const char *key,
                    size_t def);

/**
 * Resolve a list of user (@p groups 0) or group names and numbers
 * ("root, 1000"), for allow_users/allow_groups.  @return 0 and *ids
 * (malloc'd, *n of them; NULL list: none), -ENOMEM, or -ENOENT with the
 * unknown name in @p bad.
 */
int cfg_parse_ids(const char *list, int groups, unsigned **ids, size_t *n,
                  char *bad, size_t badlen);

/*
 * A regular expression glibc's regcomp() would spend gigabytes on (stacked
 * quantifiers: "a+++", "x*{2}"), or one over CFG_REGEX_MAX bytes, from a
 * config or a control request.  @return NULL if it may be compiled, else
 * why not.
 */
#define CFG_REGEX_MAX 1024
const char *cfg_regex_unsafe(const char *re);

/** Parse helpers shared with capabilities; @return 0 or -EINVAL. */
int cfg_parse_bool(const char *s, bool *out);
int cfg_parse_size(const char *s, unsigned long long *out);
int cfg_parse_hostport(const char *s, char *host, size_t hostlen,
                       unsigned *port, int *family);

#endif

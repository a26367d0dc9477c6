/*
 * peer.h - who sent a request: Asterisk-style endpoints, identify and auth.
 *
 * Owns the config types endpoint, identify and auth (pjsip.conf's model, so
 * an Asterisk admin maps sections 1:1) and the runtime table built from
 * them.  Use: pass the three types to cfg_load(), call peer_check_config()
 * on the result, then peer_table_create(); per request, peer_identify()
 * and challenge when the endpoint has an auth.  The table copies what it
 * needs (the cfg may be freed); everything it returns is borrowed from it
 * and valid until peer_table_destroy().  Loop thread only.
 */
#ifndef SIPBRIDGE_PEER_H
#define SIPBRIDGE_PEER_H

#include <stdbool.h>
#include <sys/socket.h>

#include <sofia-sip/sip.h>

#include "sipbridge/cfg.h"

/*
 * type=endpoint: identify_by ("username", "ip" or both, comma-separated;
 * default "username,ip") and auth (a type=auth section).
 * type=identify: endpoint (required) and match (repeatable; comma-separated
 * IPv4/IPv6 addresses, CIDRs, IPv4:port or [IPv6]:port).
 * type=auth: auth_type (userpass), username, password (both required) and
 * realm (default PEER_DEFAULT_REALM).
 * The section name is the object's name; other types may reuse it.
 */
extern const struct cfg_type peer_endpoint_type;
extern const struct cfg_type peer_identify_type;
extern const struct cfg_type peer_auth_type;

#define PEER_DEFAULT_REALM "sipbridge"

struct peer_auth {
    char *name;         /* section name */
    char *username;
    char *password;
    char *realm;        /* realm=, or PEER_DEFAULT_REALM */
};

struct peer_endpoint {
    char *name;                   /* section name, also the From user */
    bool by_username;             /* identify_by has "username" */
    bool by_ip;                   /* identify_by has "ip" */
    const struct peer_auth *auth; /* NULL: never challenge */
};

struct peer_table;

/**
 * Cross-section checks of a loaded config: an endpoint's auth= names a
 * type=auth section, an identify's endpoint= a type=endpoint section.
 * Every problem is added to @p errs as "FILE:LINE: ..." of the key.
 * @return 0, -EINVAL, or -ENOMEM.
 */
int peer_check_config(const struct cfg *cfg, struct cfg_errors *errs);

/**
 * Build the table from @p cfg (borrowed; nothing in the table points
 * into it).
 * @return 0 and *out (free with peer_table_destroy), -ENOMEM, or -EINVAL
 * if @p cfg fails peer_check_config() (logged): an endpoint must never
 * lose its auth= silently.
 */
int peer_table_create(struct peer_table **out, const struct cfg *cfg);

/** Free @p pt and everything it returned; NULL is fine. */
void peer_table_destroy(struct peer_table *pt);

/** @return the endpoint called @p name, or NULL.  Borrowed. */
const struct peer_endpoint *peer_endpoint_find(const struct peer_table *pt,
                                               const char *name);

/** @return the auth section called @p name, or NULL.  Borrowed. */
const struct peer_auth *peer_auth_find(const struct peer_table *pt,
                                       const char *name);

/**
 * Who sent @p req, received from @p src (AF_INET or AF_INET6; an
 * IPv4-mapped IPv6 address matches IPv4 rules; NULL skips this step).
 * Asterisk's default order "ip,username": first the identify matches
 * covering @p src for an endpoint with by_ip, the most specific winning
 * (IP:port > IP > longest prefix; ties go to the first in the file), then
 * the endpoint named like the From URI user if it has by_username.
 * @return the endpoint (borrowed), or NULL when nobody matches.
 */
const struct peer_endpoint *peer_identify(const struct peer_table *pt,
                                          const sip_t *req,
                                          const struct sockaddr *src);

struct digest;

/* peer_admit()'s verdicts besides 0: the SIP status to answer. */
#define PEER_FORBIDDEN 403
#define PEER_CHALLENGE 401

/**
 * Admission by endpoint, pjsip's model, for any capability: identify the
 * sender of @p req from @p src (peer_identify); when @p allowed is set (a
 * comma-separated list of endpoint names) it must be one of them; an
 * endpoint with an auth must carry valid digest credentials (@p dg).
 * @return 0 (admitted; *ep the endpoint or NULL), PEER_FORBIDDEN,
 * PEER_CHALLENGE with the WWW-Authenticate value in @p chal, or -ENOMEM.
 */
int peer_admit(const struct peer_table *pt, struct digest *dg,
               const sip_t *req, const struct sockaddr *src,
               const char *allowed, const struct peer_endpoint **ep,
               char *chal, size_t chal_len);

/**
 * @return whether every name of the comma-separated @p list is an
 * endpoint of @p cfg; the first that is not in @p bad.
 */
bool peer_endpoints_exist(const struct cfg *cfg, const char *list, char *bad,
                          size_t badlen);

/*
 * An address list ("10.0.0.0/8, 192.0.2.7, [2001:db8::1]:5060"), in the
 * syntax of identify's match=, for rules that need no endpoint (rate-limit
 * exemptions).
 */
struct peer_acl;

/**
 * Parse @p list (empty: matches nothing).  @return 0 and *out (free with
 * peer_acl_destroy), -ENOMEM, or -EINVAL with the bad item in @p why.
 */
int peer_acl_create(struct peer_acl **out, const char *list, char *why,
                    size_t whylen);
void peer_acl_destroy(struct peer_acl *acl);
/** @return whether @p sa is covered; a NULL list covers nothing. */
bool peer_acl_match(const struct peer_acl *acl, const struct sockaddr *sa);

#endif

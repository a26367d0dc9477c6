/*
 * limit.h - per-source request rate limits: a token bucket per address.
 *
 * Owns a fixed-size table of the sources seen lately (memory bounded by
 * max_sources whatever a flood does: an idle source is forgotten to make
 * room) and their buckets.  Pure logic: the caller gives the time and
 * logs what limit_check() reports, once per block and once per unblock,
 * as Kamailio's pike does.  The table is keyed with a random seed, so a
 * sender cannot choose addresses that collide.  Loop thread only.
 *
 *   limit_create(&l, 100, 200, 16384);
 *   if (!limit_check(l, src, now_ms, &note)) answer 503 ...
 */
#ifndef SIPBRIDGE_LIMIT_H
#define SIPBRIDGE_LIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sipbridge/cfg.h"

struct limit;
struct peer_acl;

/*
 * type=limits (one section; docs/config.md): what reaches the handlers.
 * source_rate requests/s per source address (0: off), source_burst,
 * retry_after (the 503's Retry-After), exempt (address list, repeatable),
 * max_sources, max_message (largest SIP message the stack takes),
 * max_dialogs (calls into conferences and of the SIP API, together).
 */
extern const struct cfg_type limit_cfg_type;

struct limit_cfg {
    unsigned source_rate;       /* 0: no per-source limit */
    unsigned source_burst;
    unsigned retry_after;       /* s */
    unsigned max_sources;
    size_t max_message;         /* bytes */
    unsigned max_dialogs;       /* 0: no limit */
    struct peer_acl *exempt;    /* owned; NULL: nobody */
};

/** Read the checked section of @p cfg (defaults without one).
 * @return 0, -ENOMEM, -EINVAL (a bad exempt list; logged). */
int limit_cfg_read(const struct cfg *cfg, struct limit_cfg *out);
void limit_cfg_clear(struct limit_cfg *lc);

/* What changed for the source of the request just checked. */
struct limit_note {
    enum { LIMIT_NOTE_NONE, LIMIT_NOTE_BLOCKED, LIMIT_NOTE_UNBLOCKED } kind;
    uint64_t refused;   /* UNBLOCKED: requests refused while blocked */
};

struct limit_counters {
    uint64_t passed;
    uint64_t refused;
    uint64_t blocks;        /* sources that went over their rate */
    uint64_t evicted;       /* sources forgotten to make room */
    size_t sources;         /* sources in the table now */
    size_t blocked_now;     /* of which blocked (as of their last request) */
};

/**
 * @p rate requests per second per source, @p burst the bucket's size (at
 * least 1), @p max_sources rounded up to a power of two.
 * @return 0 and *out (free with limit_destroy), -EINVAL, -ENOMEM.
 */
int limit_create(struct limit **out, unsigned rate, unsigned burst,
                 size_t max_sources);
void limit_destroy(struct limit *l);

/** Change rate and burst (a reload); buckets keep their sources. */
void limit_set_rate(struct limit *l, unsigned rate, unsigned burst);

/**
 * Take one request from @p src (AF_INET or AF_INET6, IPv4-mapped IPv6 is
 * IPv4; the port is ignored) at @p now_ms (monotonic).  A source is
 * blocked from its first refusal until its bucket is full again.
 * @return 1 to pass it, 0 to refuse it; *note says whether the source
 * just went over its rate or came back under it.
 */
int limit_check(struct limit *l, const struct sockaddr *src, uint64_t now_ms,
                struct limit_note *note);

void limit_get_counters(const struct limit *l, struct limit_counters *out);

/** "192.0.2.1" or "2001:db8::1" of @p src, for log lines. */
const char *limit_addr_str(const struct sockaddr *src, char *buf,
                           size_t len);

#endif

/*
 * limit.c - token buckets per source address in a bounded table.
 *
 * Open addressing with a probe window of LIMIT_WINDOW slots and no
 * deletion: a new source takes a free slot of its window or the least
 * recently seen one.  Lookups therefore cost at most LIMIT_WINDOW
 * compares, full table or not, and a flood from many addresses only
 * recycles slots.  Tokens are kept in thousandths so that refilling at
 * `rate` per second is integer arithmetic on milliseconds.
 */
#include "sipbridge/limit.h"

#include "sipbridge/log.h"
#include "sipbridge/peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define LIMIT_WINDOW 8
#define LIMIT_UNIT 1000u        /* one request, in thousandths of a token */

struct limit_src {
    unsigned char addr[16];     /* IPv4 as IPv4-mapped IPv6 */
    bool used;
    bool blocked;
    uint64_t last_ms;
    uint64_t tokens;            /* thousandths */
    uint64_t refused;           /* while blocked */
};

struct limit {
    uint64_t rate, burst;       /* burst in thousandths */
    uint64_t seed[2];
    size_t mask;
    struct limit_counters c;
    struct limit_src *slots;
};

static void
limit_seed(uint64_t seed[2])
{
    if (getrandom(seed, 2 * sizeof(seed[0]), GRND_NONBLOCK) ==
        (ssize_t)(2 * sizeof(seed[0])))
        return;
    /* Early boot without entropy: weaker, still not chosen by a sender. */
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
    seed[1] = (uint64_t)ts.tv_sec ^ (uintptr_t)seed;
}

int
limit_create(struct limit **out, unsigned rate, unsigned burst,
             size_t max_sources)
{
    struct limit *l;
    size_t n = LIMIT_WINDOW;

    if (rate == 0 || max_sources == 0 || max_sources > ((size_t)1 << 30))
        return -EINVAL;
    while (n < max_sources)
        n <<= 1;
    l = calloc(1, sizeof(*l));
    if (l == NULL || (l->slots = calloc(n, sizeof(*l->slots))) == NULL) {
        free(l);
        return -ENOMEM;
    }
    l->mask = n - 1;
    limit_seed(l->seed);
    limit_set_rate(l, rate, burst);
    *out = l;
    return 0;
}

void
limit_destroy(struct limit *l)
{
    if (l != NULL) {
        free(l->slots);
        free(l);
    }
}

void
limit_set_rate(struct limit *l, unsigned rate, unsigned burst)
{
    l->rate = rate;
    l->burst = (uint64_t)(burst ? burst : 1) * LIMIT_UNIT;
}

static bool
limit_addr_of(const struct sockaddr *sa, unsigned char addr[16])
{
    static const unsigned char v4mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    };

    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        memcpy(addr, v4mapped, 12);
        memcpy(addr + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

static uint64_t
limit_hash(const struct limit *l, const unsigned char addr[16])
{
    uint64_t w[2], h = l->seed[0];

    memcpy(w, addr, sizeof(w));
    for (int i = 0; i < 2; i++) {
        h ^= w[i];
        h *= 0x9e3779b97f4a7c15u;
        h ^= h >> 32;
        h *= l->seed[1] | 1;
        h ^= h >> 29;
    }
    return h;
}

/* The slot of @p addr, or a slot made for it (free, else least recent). */
static struct limit_src *
limit_slot(struct limit *l, const unsigned char addr[16], uint64_t now_ms)
{
    size_t i = (size_t)limit_hash(l, addr) & l->mask;
    struct limit_src *victim = NULL;

    for (unsigned k = 0; k < LIMIT_WINDOW; k++) {
        struct limit_src *s = &l->slots[(i + k) & l->mask];

        if (s->used && memcmp(s->addr, addr, 16) == 0)
            return s;
        if (victim == NULL || (victim->used &&
                               (!s->used || s->last_ms < victim->last_ms)))
            victim = s;
    }
    if (victim->used) {
        l->c.evicted++;
        l->c.blocked_now -= victim->blocked;
    } else {
        l->c.sources++;
    }
    memset(victim, 0, sizeof(*victim));
    memcpy(victim->addr, addr, 16);
    victim->used = true;
    victim->last_ms = now_ms;
    victim->tokens = l->burst;
    return victim;
}

static void
limit_refill(const struct limit *l, struct limit_src *s, uint64_t now_ms)
{
    if (now_ms > s->last_ms) {
        uint64_t dt = now_ms - s->last_ms;

        /* No overflow: dt alone may be huge after a long idle time. */
        s->tokens = dt >= l->burst / l->rate + 1
                        ? l->burst
                        : s->tokens + dt * l->rate;
        if (s->tokens > l->burst)
            s->tokens = l->burst;
        s->last_ms = now_ms;
    }
}

int
limit_check(struct limit *l, const struct sockaddr *src, uint64_t now_ms,
            struct limit_note *note)
{
    unsigned char addr[16];
    struct limit_src *s;

    note->kind = LIMIT_NOTE_NONE;
    note->refused = 0;
    if (!limit_addr_of(src, addr)) {
        l->c.passed++;
        return 1;
    }
    s = limit_slot(l, addr, now_ms);
    limit_refill(l, s, now_ms);
    /* Unblocked once the bucket is full again, i.e. the source kept under
     * its rate for a while: a source flooding at twice its rate passes
     * half its requests but is reported blocked once, not at each one. */
    if (s->blocked && s->tokens >= l->burst) {
        s->blocked = false;
        l->c.blocked_now--;
        note->kind = LIMIT_NOTE_UNBLOCKED;
        note->refused = s->refused;
        s->refused = 0;
    }
    if (s->tokens >= LIMIT_UNIT) {
        s->tokens -= LIMIT_UNIT;
        l->c.passed++;
        return 1;
    }
    l->c.refused++;
    s->refused++;
    if (!s->blocked) {
        s->blocked = true;
        l->c.blocks++;
        l->c.blocked_now++;
        note->kind = LIMIT_NOTE_BLOCKED;
    }
    return 0;
}

void
limit_get_counters(const struct limit *l, struct limit_counters *out)
{
    *out = l->c;
}

const char *
limit_addr_str(const struct sockaddr *src, char *buf, size_t len)
{
    const void *a = NULL;

    if (src && src->sa_family == AF_INET)
        a = &((const struct sockaddr_in *)src)->sin_addr;
    else if (src && src->sa_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)src)->sin6_addr;
    if (a == NULL || inet_ntop(src->sa_family, a, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "?");
    return buf;
}

/* ---- type=limits ---- */

static int
limit_check_section(const struct ini_section *sec, struct cfg_errors *errs)
{
    int rc = 0;

    for (size_t i = 0; i < sec->nentries; i++) {
        const struct ini_entry *e = &sec->entries[i];
        struct peer_acl *acl;
        char why[160];

        if (strcmp(e->key, "exempt") != 0)
            continue;
        if (peer_acl_create(&acl, e->value, why, sizeof(why)) != 0) {
            cfg_errors_add(errs, e->file, e->line, "[%s] exempt: %s",
                           sec->name, why);
            rc = -EINVAL;
            continue;
        }
        peer_acl_destroy(acl);
    }
    return rc;
}

static const struct cfg_key limit_keys[] = {
    { "source_rate", CFG_UINT, 0, 0, 1000000, NULL },
    { "source_burst", CFG_UINT, 0, 1, 10000000, NULL },
    { "retry_after", CFG_UINT, 0, 1, 3600, NULL },
    { "exempt", CFG_STRING, CFG_REPEATABLE, 0, 0, NULL },
    { "max_sources", CFG_UINT, 0, 16, 16777216, NULL },
    { "max_message", CFG_SIZE, 0, 4 * CFG_K, 64 * CFG_M, NULL },
    { "max_dialogs", CFG_UINT, 0, 0, 10000000, NULL },
    { NULL, CFG_STRING, 0, 0, 0, NULL }
};

const struct cfg_type limit_cfg_type = {
    "limits", limit_keys, NULL, true, limit_check_section, false
};

/* Every exempt= line, joined: one list. */
static int
limit_cfg_exempt(const struct ini_section *sec, struct limit_cfg *out)
{
    size_t len = 1;
    char *list, why[160];
    int rc;

    for (size_t i = 0; i < sec->nentries; i++)
        if (strcmp(sec->entries[i].key, "exempt") == 0)
            len += strlen(sec->entries[i].value) + 1;
    if (len == 1)
        return 0;
    list = calloc(1, len);
    if (list == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < sec->nentries; i++) {
        if (strcmp(sec->entries[i].key, "exempt") != 0)
            continue;
        if (list[0])
            strcat(list, ",");
        strcat(list, sec->entries[i].value);
    }
    rc = peer_acl_create(&out->exempt, list, why, sizeof(why));
    if (rc == -EINVAL)
        log_err("limit", "[%s] exempt: %s", sec->name, why);
    free(list);
    return rc;
}

int
limit_cfg_read(const struct cfg *cfg, struct limit_cfg *out)
{
    const struct ini_section *sec = cfg_section_find(cfg, "limits", NULL);

    memset(out, 0, sizeof(*out));
    out->source_burst = 1;
    out->retry_after = 5;
    out->max_sources = 16384;
    out->max_message = 2 * CFG_M;
    if (sec == NULL)
        return 0;
    out->source_rate = cfg_get_uint(sec, "source_rate", 0);
    out->source_burst = cfg_get_uint(sec, "source_burst",
                                     out->source_rate > 5000000
                                         ? 10000000 : 2 * out->source_rate);
    out->retry_after = cfg_get_uint(sec, "retry_after", 5);
    out->max_sources = cfg_get_uint(sec, "max_sources", 16384);
    out->max_message = cfg_get_size(sec, "max_message", 2 * CFG_M);
    out->max_dialogs = cfg_get_uint(sec, "max_dialogs", 0);
    return limit_cfg_exempt(sec, out);
}

void
limit_cfg_clear(struct limit_cfg *lc)
{
    peer_acl_destroy(lc->exempt);
    lc->exempt = NULL;
}

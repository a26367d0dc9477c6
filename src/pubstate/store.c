/*
 * store.c - per-(name, eid) device and mailbox state; see pubstate_store.h.
 *
 * Each kind of name has a table: a dense array of records, one per name in
 * the order names first came (that is the iteration order), and an
 * open-addressing index of record numbers over it.  Records are never
 * removed, so the index needs no tombstones.  A record holds a small array
 * of per-eid entries; a name has one entry per peer that reported it, so a
 * linear scan of it is cheapest.
 *
 * Names come from peers, so the index hashes with SipHash-1-3 under a
 * per-store random key: a peer that picks colliding names cannot turn
 * lookups into linear scans.
 */
#include "sipbridge/pubstate_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define PS_NSTATES 9            /* values of enum pubstate_devstate */
#define PS_SLOTS_MIN 16u        /* index size, a power of two */
#define PS_NPOS SIZE_MAX

/* The entry code works on eids at offset 0 of either entry type. */
_Static_assert(offsetof(struct pubstate_device_entry, eid) == 0, "eid first");
_Static_assert(offsetof(struct pubstate_mailbox_entry, eid) == 0, "eid first");

struct ps_rec {
    char *name;                 /* owned */
    uint64_t hash;              /* kept to rehash without rereading names */
    void *entries;              /* owned, n of the table's esize */
    uint32_t n, cap;
};

struct ps_tab {
    struct ps_rec *recs;        /* dense, insertion order */
    size_t nrecs, caprecs;
    uint32_t *slots;            /* record number + 1; 0 is empty */
    size_t nslots;              /* power of two, at least 2 * nrecs */
    size_t esize;               /* size of one entry */
};

struct pubstate_store {
    uint64_t key[2];            /* hash key */
    struct ps_tab dev;
    struct ps_tab mbox;
};

/* ---- entity ids ---- */

static int
ps_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
pubstate_eid_parse(const char *s, struct pubstate_eid *out)
{
    struct pubstate_eid eid;

    if (s == NULL || out == NULL)
        return -EINVAL;
    for (int i = 0; i < 6; i++, s += 3) {
        int hi = ps_hexval(s[0]), lo = hi < 0 ? -1 : ps_hexval(s[1]);

        if (lo < 0 || s[2] != (i < 5 ? ':' : '\0'))
            return -EINVAL;
        eid.b[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = eid;
    return 0;
}

void
pubstate_eid_format(const struct pubstate_eid *eid,
                    char buf[PUBSTATE_EID_STRLEN])
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < 6; i++) {
        buf[3 * i] = hex[eid->b[i] >> 4];
        buf[3 * i + 1] = hex[eid->b[i] & 0xf];
        buf[3 * i + 2] = i < 5 ? ':' : '\0';
    }
}

bool
pubstate_eid_equal(const struct pubstate_eid *a, const struct pubstate_eid *b)
{
    return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

/* ---- device states ---- */

static const char *const ps_state_names[PS_NSTATES] = {
    "UNKNOWN", "NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE",
    "RINGING", "RINGINUSE", "ONHOLD",
};

/* Precedence in an aggregate, indexed by state; highest wins. */
static const unsigned char ps_state_rank[PS_NSTATES] = {
    1, /* UNKNOWN */
    3, /* NOT_INUSE */
    6, /* INUSE */
    7, /* BUSY */
    0, /* INVALID */
    2, /* UNAVAILABLE */
    5, /* RINGING */
    8, /* RINGINUSE */
    4, /* ONHOLD */
};

static bool
ps_state_valid(enum pubstate_devstate s)
{
    return (unsigned)s < PS_NSTATES;
}

const char *
pubstate_devstate_name(enum pubstate_devstate s)
{
    return ps_state_names[ps_state_valid(s) ? s : PUBSTATE_DEV_UNKNOWN];
}

enum pubstate_devstate
pubstate_devstate_parse(const char *s)
{
    if (s == NULL)
        return PUBSTATE_DEV_UNKNOWN;
    for (int i = 0; i < PS_NSTATES; i++)
        if (strcasecmp(s, ps_state_names[i]) == 0)
            return (enum pubstate_devstate)i;
    return PUBSTATE_DEV_UNKNOWN;
}

struct ps_agg {
    enum pubstate_devstate best;
    bool ringing, inuse;
};

static void
ps_agg_add(struct ps_agg *a, enum pubstate_devstate s)
{
    if (!ps_state_valid(s))
        s = PUBSTATE_DEV_UNKNOWN;
    a->ringing |= s == PUBSTATE_DEV_RINGING;
    a->inuse |= s == PUBSTATE_DEV_INUSE || s == PUBSTATE_DEV_ONHOLD ||
                s == PUBSTATE_DEV_BUSY;
    if (ps_state_rank[s] > ps_state_rank[a->best])
        a->best = s;
}

/* Order-independent, so it matches Asterisk's running version. */
static enum pubstate_devstate
ps_agg_result(const struct ps_agg *a)
{
    return a->ringing && a->inuse ? PUBSTATE_DEV_RINGINUSE : a->best;
}

enum pubstate_devstate
pubstate_devstate_aggregate(const enum pubstate_devstate *v, size_t n)
{
    struct ps_agg a = { PUBSTATE_DEV_INVALID, false, false };

    if (v == NULL || n == 0)
        return PUBSTATE_DEV_UNKNOWN;
    for (size_t i = 0; i < n; i++)
        ps_agg_add(&a, v[i]);
    return ps_agg_result(&a);
}

/* ---- hashing ---- */

#define PS_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void
ps_sipround(uint64_t v[4])
{
    v[0] += v[1]; v[1] = PS_ROTL(v[1], 13); v[1] ^= v[0];
    v[0] = PS_ROTL(v[0], 32);
    v[2] += v[3]; v[3] = PS_ROTL(v[3], 16); v[3] ^= v[2];
    v[0] += v[3]; v[3] = PS_ROTL(v[3], 21); v[3] ^= v[0];
    v[2] += v[1]; v[1] = PS_ROTL(v[1], 17); v[1] ^= v[2];
    v[2] = PS_ROTL(v[2], 32);
}

static void
ps_sipmix(uint64_t v[4], uint64_t m)
{
    v[3] ^= m;
    ps_sipround(v);
    v[0] ^= m;
}

/* SipHash-1-3: one round per word, three to finish. */
static uint64_t
ps_hash(const uint64_t key[2], const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t v[4] = {
        key[0] ^ 0x736f6d6570736575ULL, key[1] ^ 0x646f72616e646f6dULL,
        key[0] ^ 0x6c7967656e657261ULL, key[1] ^ 0x7465646279746573ULL,
    };
    uint64_t m = 0;
    size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        m = 0;
        for (int k = 7; k >= 0; k--)
            m = m << 8 | p[i + (size_t)k];
        ps_sipmix(v, m);
    }
    m = (uint64_t)len << 56;
    for (size_t k = 0; i + k < len; k++)
        m |= (uint64_t)p[i + k] << (8 * k);
    ps_sipmix(v, m);
    v[2] ^= 0xff;
    ps_sipround(v);
    ps_sipround(v);
    ps_sipround(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/*
 * A weak key only costs flooding resistance, never correctness, so a
 * getrandom() that cannot answer yet (early boot) is not an error.
 */
static void
ps_key_init(uint64_t key[2], const void *salt)
{
    struct timespec ts = { 0, 0 };

    if (getrandom(key, 2 * sizeof(key[0]), GRND_NONBLOCK) ==
        (ssize_t)(2 * sizeof(key[0])))
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    key[0] = (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)salt;
    key[1] = (uint64_t)ts.tv_sec * 0x9e3779b97f4a7c15ULL;
}

/* ---- tables ---- */

/* @return the name's length, or 0 if it is not an acceptable name. */
static size_t
ps_name_len(const char *name)
{
    size_t len;

    if (name == NULL)
        return 0;
    len = strnlen(name, PUBSTATE_NAME_MAX + 1);
    return len <= PUBSTATE_NAME_MAX ? len : 0;
}

/* @return the record number of @p name, or PS_NPOS. */
static size_t
ps_tab_find(const struct ps_tab *t, const char *name, uint64_t hash)
{
    size_t mask = t->nslots - 1;

    if (t->nslots == 0)
        return PS_NPOS;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        uint32_t s = t->slots[i];

        if (s == 0)
            return PS_NPOS;
        if (t->recs[s - 1].hash == hash &&
            strcmp(t->recs[s - 1].name, name) == 0)
            return s - 1;
    }
}

static void
ps_tab_place(uint32_t *slots, size_t nslots, uint64_t hash, uint32_t num)
{
    size_t mask = nslots - 1, i = (size_t)hash & mask;

    while (slots[i] != 0)
        i = (i + 1) & mask;
    slots[i] = num;
}

/* Keep the index at most half full: linear probes stay short. */
static int
ps_tab_reserve(struct ps_tab *t)
{
    size_t need = t->nrecs + 1, n;
    uint32_t *slots;

    if (need >= UINT32_MAX || need > SIZE_MAX / 4 / sizeof(*t->recs))
        return -ENOMEM;
    if (need > t->caprecs) {
        size_t cap = t->caprecs ? 2 * t->caprecs : 16;
        struct ps_rec *r = realloc(t->recs, cap * sizeof(*r));

        if (r == NULL)
            return -ENOMEM;
        t->recs = r;
        t->caprecs = cap;
    }
    if (2 * need <= t->nslots)
        return 0;
    n = t->nslots ? 2 * t->nslots : PS_SLOTS_MIN;
    slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < t->nrecs; i++)
        ps_tab_place(slots, n, t->recs[i].hash, (uint32_t)i + 1);
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    return 0;
}

/* @return a new record for @p name with room for one entry, or NULL. */
static struct ps_rec *
ps_tab_add(struct ps_tab *t, const char *name, size_t len, uint64_t hash)
{
    struct ps_rec *r;
    char *copy;
    void *entries;

    if (ps_tab_reserve(t) != 0)
        return NULL;
    copy = malloc(len + 1);
    entries = malloc(t->esize);
    if (copy == NULL || entries == NULL) {
        free(copy);
        free(entries);
        return NULL;
    }
    memcpy(copy, name, len + 1);
    r = &t->recs[t->nrecs];
    *r = (struct ps_rec){ copy, hash, entries, 0, 1 };
    ps_tab_place(t->slots, t->nslots, hash, (uint32_t)++t->nrecs);
    return r;
}

static void *
ps_rec_at(const struct ps_tab *t, const struct ps_rec *r, size_t i)
{
    return (char *)r->entries + i * t->esize;
}

/* @return the entry of @p eid in @p r, or NULL. */
static void *
ps_rec_find(const struct ps_tab *t, const struct ps_rec *r,
            const struct pubstate_eid *eid)
{
    for (size_t i = 0; i < r->n; i++) {
        void *e = ps_rec_at(t, r, i);

        if (pubstate_eid_equal(e, eid))
            return e;
    }
    return NULL;
}

/* @return a new zeroed entry for @p eid at the end of @p r, or NULL. */
static void *
ps_rec_append(const struct ps_tab *t, struct ps_rec *r,
              const struct pubstate_eid *eid)
{
    void *e;

    if (r->n == r->cap) {
        void *p;

        if (r->cap > UINT32_MAX / 2)
            return NULL;
        p = realloc(r->entries, 2 * (size_t)r->cap * t->esize);
        if (p == NULL)
            return NULL;
        r->entries = p;
        r->cap *= 2;
    }
    e = ps_rec_at(t, r, r->n++);
    memset(e, 0, t->esize);
    memcpy(e, eid, sizeof(*eid));
    return e;
}

/*
 * Find or make the (name, eid) entry.
 * @return 1 and a new zeroed entry in *out, 0 and the existing one,
 * -EINVAL or -ENOMEM.
 */
static int
ps_tab_entry(struct pubstate_store *st, struct ps_tab *t, const char *name,
             const struct pubstate_eid *eid, void **out)
{
    size_t len = ps_name_len(name), i;
    uint64_t hash;
    struct ps_rec *r;

    if (len == 0 || eid == NULL)
        return -EINVAL;
    hash = ps_hash(st->key, name, len);
    i = ps_tab_find(t, name, hash);
    r = i == PS_NPOS ? ps_tab_add(t, name, len, hash) : &t->recs[i];
    if (r == NULL)
        return -ENOMEM;
    *out = i == PS_NPOS ? NULL : ps_rec_find(t, r, eid);
    if (*out != NULL)
        return 0;
    *out = ps_rec_append(t, r, eid);
    return *out != NULL ? 1 : -ENOMEM;
}

static const struct ps_rec *
ps_tab_lookup(const struct pubstate_store *st, const struct ps_tab *t,
              const char *name)
{
    size_t len = ps_name_len(name), i;

    if (st == NULL || len == 0)
        return NULL;
    i = ps_tab_find(t, name, ps_hash(st->key, name, len));
    return i == PS_NPOS ? NULL : &t->recs[i];
}

static void
ps_tab_free(struct ps_tab *t)
{
    for (size_t i = 0; i < t->nrecs; i++) {
        free(t->recs[i].name);
        free(t->recs[i].entries);
    }
    free(t->recs);
    free(t->slots);
}

/* ---- the store ---- */

int
pubstate_store_create(struct pubstate_store **out)
{
    struct pubstate_store *st;

    if (out == NULL)
        return -EINVAL;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    ps_key_init(st->key, st);
    st->dev.esize = sizeof(struct pubstate_device_entry);
    st->mbox.esize = sizeof(struct pubstate_mailbox_entry);
    *out = st;
    return 0;
}

void
pubstate_store_destroy(struct pubstate_store *st)
{
    if (st == NULL)
        return;
    ps_tab_free(&st->dev);
    ps_tab_free(&st->mbox);
    free(st);
}

int
pubstate_store_set_device(struct pubstate_store *st, const char *device,
                          const struct pubstate_eid *eid,
                          enum pubstate_devstate state, bool cachable)
{
    struct pubstate_device_entry *e;
    void *p;
    int rc;

    if (st == NULL || !ps_state_valid(state))
        return -EINVAL;
    rc = ps_tab_entry(st, &st->dev, device, eid, &p);
    if (rc < 0)
        return rc;
    e = p;
    if (rc == 0 && e->state == state && e->cachable == cachable)
        return 0;
    e->state = state;
    e->cachable = cachable;
    return 1;
}

int
pubstate_store_set_mailbox(struct pubstate_store *st, const char *uniqueid,
                           const struct pubstate_eid *eid,
                           unsigned new_msgs, unsigned old_msgs)
{
    struct pubstate_mailbox_entry *e;
    void *p;
    int rc;

    if (st == NULL)
        return -EINVAL;
    rc = ps_tab_entry(st, &st->mbox, uniqueid, eid, &p);
    if (rc < 0)
        return rc;
    e = p;
    if (rc == 0 && e->new_msgs == new_msgs && e->old_msgs == old_msgs)
        return 0;
    e->new_msgs = new_msgs;
    e->old_msgs = old_msgs;
    return 1;
}

const struct pubstate_device_entry *
pubstate_store_device(const struct pubstate_store *st, const char *device,
                      size_t *n)
{
    const struct ps_rec *r = ps_tab_lookup(st, st ? &st->dev : NULL, device);

    if (n != NULL)
        *n = r ? r->n : 0;
    return r ? r->entries : NULL;
}

const struct pubstate_mailbox_entry *
pubstate_store_mailbox(const struct pubstate_store *st, const char *uniqueid,
                       size_t *n)
{
    const struct ps_rec *r = ps_tab_lookup(st, st ? &st->mbox : NULL,
                                           uniqueid);

    if (n != NULL)
        *n = r ? r->n : 0;
    return r ? r->entries : NULL;
}

int
pubstate_store_get_device(const struct pubstate_store *st, const char *device,
                          const struct pubstate_eid *eid,
                          struct pubstate_device_entry *out)
{
    const struct ps_rec *r = ps_tab_lookup(st, st ? &st->dev : NULL, device);
    const struct pubstate_device_entry *e;

    if (r == NULL || eid == NULL)
        return -ENOENT;
    e = ps_rec_find(&st->dev, r, eid);
    if (e == NULL)
        return -ENOENT;
    if (out != NULL)
        *out = *e;
    return 0;
}

int
pubstate_store_get_mailbox(const struct pubstate_store *st,
                           const char *uniqueid,
                           const struct pubstate_eid *eid,
                           struct pubstate_mailbox_entry *out)
{
    const struct ps_rec *r = ps_tab_lookup(st, st ? &st->mbox : NULL,
                                           uniqueid);
    const struct pubstate_mailbox_entry *e;

    if (r == NULL || eid == NULL)
        return -ENOENT;
    e = ps_rec_find(&st->mbox, r, eid);
    if (e == NULL)
        return -ENOENT;
    if (out != NULL)
        *out = *e;
    return 0;
}

enum pubstate_devstate
pubstate_store_device_aggregate(const struct pubstate_store *st,
                                const char *device)
{
    struct ps_agg a = { PUBSTATE_DEV_INVALID, false, false };
    size_t n;
    const struct pubstate_device_entry *e = pubstate_store_device(st, device,
                                                                  &n);

    if (e == NULL || n == 0)
        return PUBSTATE_DEV_UNKNOWN;
    for (size_t i = 0; i < n; i++)
        ps_agg_add(&a, e[i].state);
    return ps_agg_result(&a);
}

int
pubstate_store_foreach_device(const struct pubstate_store *st,
                              pubstate_device_cb cb, void *arg)
{
    if (st == NULL || cb == NULL)
        return 0;
    for (size_t i = 0; i < st->dev.nrecs; i++) {
        const struct ps_rec *r = &st->dev.recs[i];
        int rc = cb(arg, r->name, r->entries, r->n);

        if (rc != 0)
            return rc;
    }
    return 0;
}

int
pubstate_store_foreach_mailbox(const struct pubstate_store *st,
                               pubstate_mailbox_cb cb, void *arg)
{
    if (st == NULL || cb == NULL)
        return 0;
    for (size_t i = 0; i < st->mbox.nrecs; i++) {
        const struct ps_rec *r = &st->mbox.recs[i];
        int rc = cb(arg, r->name, r->entries, r->n);

        if (rc != 0)
            return rc;
    }
    return 0;
}

size_t
pubstate_store_ndevices(const struct pubstate_store *st)
{
    return st ? st->dev.nrecs : 0;
}

size_t
pubstate_store_nmailboxes(const struct pubstate_store *st)
{
    return st ? st->mbox.nrecs : 0;
}

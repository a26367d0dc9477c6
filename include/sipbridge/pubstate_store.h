/*
 * pubstate_store.h - device and mailbox state learned over PUBLISH, kept
 * per (name, entity id) as Asterisk keeps it, plus the entity id and
 * device state vocabulary shared with Asterisk.
 *
 * The store owns copies of every name and all its entries; callers pass
 * borrowed strings and get borrowed views back.  Create one per pubstate
 * instance, set() what peers publish, read or iterate it to answer
 * refreshes and queries.  Loop thread only, no global state.
 */
#ifndef SIPBRIDGE_PUBSTATE_STORE_H
#define SIPBRIDGE_PUBSTATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest device name or mailbox uniqueid accepted, in bytes. */
#define PUBSTATE_NAME_MAX 255

/* Size of a formatted eid, "xx:xx:xx:xx:xx:xx" plus NUL. */
#define PUBSTATE_EID_STRLEN 18

/* An Asterisk entity id: six bytes, usually a MAC address. */
struct pubstate_eid {
    uint8_t b[6];
};

/* Asterisk's enum ast_device_state, same values. */
enum pubstate_devstate {
    PUBSTATE_DEV_UNKNOWN = 0,
    PUBSTATE_DEV_NOT_INUSE = 1,
    PUBSTATE_DEV_INUSE = 2,
    PUBSTATE_DEV_BUSY = 3,
    PUBSTATE_DEV_INVALID = 4,
    PUBSTATE_DEV_UNAVAILABLE = 5,
    PUBSTATE_DEV_RINGING = 6,
    PUBSTATE_DEV_RINGINUSE = 7,
    PUBSTATE_DEV_ONHOLD = 8
};

/* One device's state as one entity reported it. */
struct pubstate_device_entry {
    struct pubstate_eid eid;      /* who reported it */
    enum pubstate_devstate state;
    bool cachable;                /* Asterisk's AST_DEVSTATE_CACHABLE */
};

/* One mailbox's counts as one entity reported them. */
struct pubstate_mailbox_entry {
    struct pubstate_eid eid;      /* who reported it */
    unsigned new_msgs;
    unsigned old_msgs;
};

struct pubstate_store;

/*
 * Called once per name by the foreach functions, with the name and all
 * its entries (borrowed, valid for the call).  The callback must not
 * change the store.  A non-zero return stops the walk.
 */
typedef int (*pubstate_device_cb)(void *arg, const char *device,
                                  const struct pubstate_device_entry *e,
                                  size_t n);
typedef int (*pubstate_mailbox_cb)(void *arg, const char *uniqueid,
                                   const struct pubstate_mailbox_entry *e,
                                   size_t n);

/* ---- entity ids ---- */

/**
 * Parse "xx:xx:xx:xx:xx:xx": six bytes of exactly two hex digits each,
 * either case, nothing before or after.
 * @return 0 and *out, or -EINVAL (*out untouched).
 */
int pubstate_eid_parse(const char *s, struct pubstate_eid *out);

/** Format as Asterisk's ast_eid_to_str does: lower case, colons. */
void pubstate_eid_format(const struct pubstate_eid *eid,
                         char buf[PUBSTATE_EID_STRLEN]);

/** @return whether @p a and @p b are the same id. */
bool pubstate_eid_equal(const struct pubstate_eid *a,
                        const struct pubstate_eid *b);

/* ---- device states ---- */

/**
 * @return the JSON name of @p s ("NOT_INUSE"), never NULL; a value
 * outside the enum gives "UNKNOWN".
 */
const char *pubstate_devstate_name(enum pubstate_devstate s);

/**
 * Parse as Asterisk's ast_devstate_val: case-insensitive; anything else,
 * typos and NULL included, is PUBSTATE_DEV_UNKNOWN.
 * @return the state.
 */
enum pubstate_devstate pubstate_devstate_parse(const char *s);

/**
 * Combine the states several entities report for one device, as
 * Asterisk's device state aggregate does: the highest of INVALID <
 * UNKNOWN < UNAVAILABLE < NOT_INUSE < ONHOLD < RINGING < INUSE < BUSY <
 * RINGINUSE wins, except that RINGING together with INUSE, ONHOLD or
 * BUSY gives RINGINUSE.  Values outside the enum count as UNKNOWN.
 * @return the aggregate; UNKNOWN for @p n == 0 (where Asterisk would say
 * INVALID, it has no aggregate at all for a device nobody reported).
 */
enum pubstate_devstate pubstate_devstate_aggregate(
    const enum pubstate_devstate *v, size_t n);

/* ---- the store: lifecycle ---- */

/** @return 0 and a new empty store in *out, or -ENOMEM (or -EINVAL). */
int pubstate_store_create(struct pubstate_store **out);

/** Free the store and everything in it.  NULL is fine. */
void pubstate_store_destroy(struct pubstate_store *st);

/* ---- the store: operations ---- */

/**
 * Set what @p eid reports for @p device (copied; 1..255 bytes).  A value
 * is its state and its cachable flag.
 * @return 1 if the value is new or changed, 0 if it already was this
 * value, -EINVAL (bad name, NULL argument, state outside the enum) or
 * -ENOMEM (the store is unchanged).
 */
int pubstate_store_set_device(struct pubstate_store *st, const char *device,
                              const struct pubstate_eid *eid,
                              enum pubstate_devstate state, bool cachable);

/**
 * Set what @p eid reports for mailbox @p uniqueid ("mailbox@context",
 * copied; 1..255 bytes).
 * @return as pubstate_store_set_device().
 */
int pubstate_store_set_mailbox(struct pubstate_store *st,
                               const char *uniqueid,
                               const struct pubstate_eid *eid,
                               unsigned new_msgs, unsigned old_msgs);

/* ---- the store: queries ---- */

/**
 * @return the entries of @p device in the order their eids first came,
 * borrowed until the next set on the store, with their count in *n; or
 * NULL with *n = 0 if the device is unknown.
 */
const struct pubstate_device_entry *
pubstate_store_device(const struct pubstate_store *st, const char *device,
                      size_t *n);

/** @return as pubstate_store_device(), for a mailbox. */
const struct pubstate_mailbox_entry *
pubstate_store_mailbox(const struct pubstate_store *st, const char *uniqueid,
                       size_t *n);

/** @return 0 and a copy of the (device, eid) entry in *out, or -ENOENT. */
int pubstate_store_get_device(const struct pubstate_store *st,
                              const char *device,
                              const struct pubstate_eid *eid,
                              struct pubstate_device_entry *out);

/** @return 0 and a copy of the (uniqueid, eid) entry in *out, or -ENOENT. */
int pubstate_store_get_mailbox(const struct pubstate_store *st,
                               const char *uniqueid,
                               const struct pubstate_eid *eid,
                               struct pubstate_mailbox_entry *out);

/**
 * @return the aggregate of @p device over all eids (see
 * pubstate_devstate_aggregate()), UNKNOWN if the device is unknown.
 */
enum pubstate_devstate
pubstate_store_device_aggregate(const struct pubstate_store *st,
                                const char *device);

/**
 * Call @p cb for every device (or mailbox) in the order names were first
 * set.
 * @return 0, or the first non-zero value @p cb returned.
 */
int pubstate_store_foreach_device(const struct pubstate_store *st,
                                  pubstate_device_cb cb, void *arg);
int pubstate_store_foreach_mailbox(const struct pubstate_store *st,
                                   pubstate_mailbox_cb cb, void *arg);

/** @return how many distinct device names (mailbox uniqueids) are held. */
size_t pubstate_store_ndevices(const struct pubstate_store *st);
size_t pubstate_store_nmailboxes(const struct pubstate_store *st);

#endif

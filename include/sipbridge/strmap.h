/*
 * strmap.h - a string-keyed hash of pointers, for the objects a capability
 * finds by name (the SIP API's handles, the MWI's waiting mailboxes).
 *
 * Keys are copied; values are the caller's (strmap_destroy() can free
 * them).  Lookups are O(1) on average; the table doubles as it fills.
 * Loop thread only.
 */
#ifndef SIPBRIDGE_STRMAP_H
#define SIPBRIDGE_STRMAP_H

#include <stddef.h>

struct strmap;

/** @return 0 and *out, or -ENOMEM. */
int strmap_create(struct strmap **out);
/** Free the map (NULL ok), and each value with @p free_val if not NULL. */
void strmap_destroy(struct strmap *m, void (*free_val)(void *));
/** Set @p key to @p val, replacing a value there.  @return 0, -ENOMEM. */
int strmap_put(struct strmap *m, const char *key, void *val);
/** @return the value of @p key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);
/** Remove @p key (its value is not freed); absent keys are fine. */
void strmap_del(struct strmap *m, const char *key);
size_t strmap_size(const struct strmap *m);

#endif

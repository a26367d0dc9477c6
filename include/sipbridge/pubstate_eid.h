/*
 * pubstate_eid.h - this instance's entity id, the Asterisk EID it puts in
 * every state it publishes and by which peers tell our states from theirs.
 *
 * Owns the file state_dir/entity_id.  Called once at start-up by the
 * pubstate module, before the loop runs (it does blocking file I/O).  No
 * global state; the id is returned by value.
 */
#ifndef SIPBRIDGE_PUBSTATE_EID_H
#define SIPBRIDGE_PUBSTATE_EID_H

#include "sipbridge/pubstate_store.h"

/* The file under state_dir that keeps a generated id across restarts. */
#define PUBSTATE_EID_FILE "entity_id"

/**
 * Find the instance's entity id, in this order:
 *  - @p configured (the entity_id config value) if it is set and not "";
 *  - else the id in @p state_dir/entity_id: "xx:xx:xx:xx:xx:xx", either
 *    case, optionally followed by one '\n'.  A file that does not parse is
 *    an error, never silently replaced: peers hold state under the old id;
 *  - else a new random id, with the locally-administered bit (0x02) set
 *    and the multicast bit (0x01) cleared in the first byte, as a made-up
 *    MAC should be, so it cannot equal a real interface's MAC, which is
 *    what Asterisk derives its own EID from.  It is written to
 *    @p state_dir/entity_id atomically (temp file, fsync, rename, fsync of
 *    the directory; mode 0644), creating @p state_dir (one level, mode
 *    0750) if missing.
 * Blocks on the file system and, right after boot, until the kernel's
 * random pool is ready.
 *
 * @p source (may be NULL) is set to a static "config", "file" or
 * "generated" on success.
 * @return 0 and *out, or -errno (-EINVAL for a bad configured value or a
 * corrupt file), logged once with the path and what failed.
 */
int pubstate_eid_load(const char *configured, const char *state_dir,
                      struct pubstate_eid *out, const char **source);

#endif

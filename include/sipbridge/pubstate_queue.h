/*
 * pubstate_queue.h - a FIFO of names in which each name is queued once.
 *
 * A publish client queues the name of every device or mailbox that changed
 * and builds the body when the name reaches the head, from the state of
 * that moment: ten changes of one device while the peer is slow or down
 * cost one PUBLISH, carrying the latest state.  The queue owns copies of
 * the names; pubstate_queue_pop() hands one to the caller.  Loop thread only.
 */
#ifndef SIPBRIDGE_PUBSTATE_QUEUE_H
#define SIPBRIDGE_PUBSTATE_QUEUE_H

#include <stddef.h>

struct pubstate_queue;

/** @return 0 and *out, or -ENOMEM. */
int pubstate_queue_create(struct pubstate_queue **out);
void pubstate_queue_destroy(struct pubstate_queue *q);   /* NULL ok */

/** Queue @p name at the tail.  @return 1 if added, 0 if it was already
 *  queued (coalesced, position kept), -ENOMEM. */
int pubstate_queue_push(struct pubstate_queue *q, const char *name);

/** Queue @p name at the head (a retry goes first), moving it there if it
 *  was queued.  @return 0, -ENOMEM. */
int pubstate_queue_push_front(struct pubstate_queue *q, const char *name);

/** @return the head's name (the caller frees it), or NULL when empty. */
char *pubstate_queue_pop(struct pubstate_queue *q);

/** @return 1 if @p name is queued. */
int pubstate_queue_contains(const struct pubstate_queue *q, const char *name);

size_t pubstate_queue_len(const struct pubstate_queue *q);
void pubstate_queue_clear(struct pubstate_queue *q);

#endif

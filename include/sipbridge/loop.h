/*
 * loop.h - the one event loop: libevent drives sofia-sip in the same thread.
 *
 * Owns the libevent base and sofia's su_root.  libevent watches the epoll
 * fd of sofia's port and re-arms one timer from su_root_step()'s answer, so
 * the daemon sleeps in libevent's epoll_wait until a socket or a timer of
 * either library is due (docs/design.md, "One event loop").
 *
 * Rule for callers: after any nua_*() call made from a libevent callback
 * (control socket, database, timers) call loop_kick(), or sofia sees the
 * request only at its next socket event or timer.  Calls made inside a nua
 * callback need no kick.  Loop thread only.
 */
#ifndef SIPBRIDGE_LOOP_H
#define SIPBRIDGE_LOOP_H

#include <stdint.h>

#include <event2/event.h>
#include <sofia-sip/su_wait.h>

struct loop;

struct loop_stats {
    uint64_t wakeups;   /* driver callbacks (epoll fd readable or timer) */
    uint64_t steps;     /* su_root_step() calls */
    uint64_t kicks;     /* loop_kick() calls */
};

/**
 * Initialise sofia (su_init), create the root on the epoll port and the
 * libevent base watching it.  Must run while the process is still single
 * threaded, before any other epoll instance is created.
 * @param magic  passed to sofia as the root's magic.
 * @return 0 and *out, or -errno (logged).
 */
int loop_create(struct loop **out, su_root_magic_t *magic);

/** Destroy base and root, then su_deinit.  nua must be destroyed first. */
void loop_destroy(struct loop *loop);

struct event_base *loop_base(struct loop *loop);
su_root_t *loop_root(struct loop *loop);

/** Schedule one sofia step soon (after nua calls made outside sofia). */
void loop_kick(struct loop *loop);

/** Run until loop_break().  @return 0, or -1 if libevent failed. */
int loop_run(struct loop *loop);
void loop_break(struct loop *loop);

void loop_get_stats(const struct loop *loop, struct loop_stats *out);

/* The delay before retry @n (0 for the first): @min_ms doubled @n times,
 * at most @max_ms.  Pure. */
unsigned loop_backoff_ms(unsigned n, unsigned min_ms, unsigned max_ms);

/* evtimer_add() with a delay in milliseconds; @return its result. */
int loop_timer_add_ms(struct event *ev, unsigned ms);

#endif

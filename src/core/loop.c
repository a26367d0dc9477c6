/*
 * loop.c - libevent drives sofia-sip's su_root in one thread.
 *
 * sofia's epoll port keeps every sofia socket (and its wakeup pipe) in one
 * epoll instance.  An epoll fd is itself pollable, so libevent watches it
 * like a socket; one libevent timer carries sofia's next timer.  sofia has
 * no getter for that fd, so we find it as the one new "anon_inode:[eventpoll]"
 * that su_root_create() opened (see ../shared reference and docs/design.md).
 */
#include "sipbridge/loop.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sofia-sip/su.h>

#include "sipbridge/log.h"

/* Steps per driver call: each step handles at most 4 socket events, and a
 * bound keeps libevent's own events (control socket, timers) served. */
#define LOOP_MAX_STEPS 8

struct loop {
    struct event_base *base;
    su_root_t *root;
    int epfd;
    struct event *ev_fd;
    struct event *ev_timer;
    struct loop_stats stats;
};

#define LOOP_MAX_EPFDS 64

/* Lists the process's eventpoll fds into fds[]; @return their count. */
static int
loop_list_epoll_fds(int *fds, int max)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        return -errno;
    while ((de = readdir(d)) != NULL && n < max) {
        char path[PATH_MAX], target[64];
        ssize_t len;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        len = readlink(path, target, sizeof(target) - 1);
        if (len < 0)
            continue;
        target[len] = '\0';
        if (strcmp(target, "anon_inode:[eventpoll]") == 0)
            fds[n++] = atoi(de->d_name);
    }
    closedir(d);
    return n;
}

static int
loop_fd_in(int fd, const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] == fd)
            return 1;
    return 0;
}

/* Creates the root and returns sofia's epoll fd, or -1 (logged). */
static int
loop_create_root(struct loop *loop, su_root_magic_t *magic)
{
    int before[LOOP_MAX_EPFDS], after[LOOP_MAX_EPFDS];
    int nb, na, found = -1, nfound = 0;

    su_port_prefer(su_epoll_port_create, su_epoll_clone_start);
    nb = loop_list_epoll_fds(before, LOOP_MAX_EPFDS);
    loop->root = su_root_create(magic);
    if (loop->root == NULL) {
        log_err("loop", "su_root_create failed");
        return -1;
    }
    na = loop_list_epoll_fds(after, LOOP_MAX_EPFDS);
    if (nb < 0 || na < 0) {
        log_err("loop", "cannot list /proc/self/fd: %s", strerror(-na));
        return -1;
    }
    for (int i = 0; i < na; i++) {
        if (!loop_fd_in(after[i], before, nb)) {
            found = after[i];
            nfound++;
        }
    }
    if (nfound != 1) {
        log_err("loop", "expected one new epoll fd from sofia's root, "
                "found %d", nfound);
        return -1;
    }
    return found;
}

static void
loop_arm(struct loop *loop, su_duration_t ms)
{
    struct timeval tv;

    if (ms == SU_WAIT_FOREVER) {
        evtimer_del(loop->ev_timer);
        return;
    }
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(loop->ev_timer, &tv);
}

/*
 * Runs on "sofia's epoll fd readable", on sofia's timer and on a kick.
 * A step that did work returns 0: step again, a few times at most.  If it
 * still wants more, re-arm for 1 ms rather than 0 so a timer that is less
 * than a millisecond away cannot make us spin; pending I/O needs no re-arm
 * since the epoll fd stays readable.
 */
static void
loop_drive(evutil_socket_t fd, short what, void *arg)
{
    struct loop *loop = arg;
    su_duration_t next = 0;

    (void)fd;
    (void)what;
    loop->stats.wakeups++;
    for (int i = 0; i < LOOP_MAX_STEPS && next == 0; i++) {
        next = su_root_step(loop->root, 0);
        loop->stats.steps++;
    }
    loop_arm(loop, next == 0 ? 1 : next);
}

/*
 * libevent's default clock is coarse (4 ms ticks here): woken early by
 * another event, it may think sofia's timer due before sofia does, and the
 * driver then re-arms for 1 ms a time or two.  The precise clock costs
 * nothing measurable (bench/loop) and removes those idle wake-ups.
 */
static struct event_base *
loop_new_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    if (cfg == NULL)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

int
loop_create(struct loop **out, su_root_magic_t *magic)
{
    struct loop *loop = calloc(1, sizeof(*loop));

    if (loop == NULL)
        return -ENOMEM;
    if (su_init() != 0) {
        log_err("loop", "su_init failed");
        free(loop);
        return -EIO;
    }
    loop->epfd = loop_create_root(loop, magic);
    if (loop->epfd < 0)
        goto fail;
    loop->base = loop_new_base();
    if (loop->base == NULL) {
        log_err("loop", "event_base_new failed");
        goto fail;
    }
    loop->ev_fd = event_new(loop->base, loop->epfd, EV_READ | EV_PERSIST,
                            loop_drive, loop);
    loop->ev_timer = evtimer_new(loop->base, loop_drive, loop);
    if (loop->ev_fd == NULL || loop->ev_timer == NULL ||
        event_add(loop->ev_fd, NULL) != 0) {
        log_err("loop", "cannot watch sofia's epoll fd");
        goto fail;
    }
    loop_kick(loop);
    *out = loop;
    return 0;

fail:
    loop_destroy(loop);
    return -EIO;
}

void
loop_destroy(struct loop *loop)
{
    if (loop == NULL)
        return;
    if (loop->ev_fd)
        event_free(loop->ev_fd);
    if (loop->ev_timer)
        event_free(loop->ev_timer);
    if (loop->base)
        event_base_free(loop->base);
    if (loop->root)
        su_root_destroy(loop->root);
    su_deinit();
    free(loop);
}

struct event_base *
loop_base(struct loop *loop)
{
    return loop->base;
}

su_root_t *
loop_root(struct loop *loop)
{
    return loop->root;
}

void
loop_kick(struct loop *loop)
{
    static const struct timeval now = { 0, 0 };

    loop->stats.kicks++;
    evtimer_add(loop->ev_timer, &now);
}

int
loop_run(struct loop *loop)
{
    return event_base_dispatch(loop->base) < 0 ? -1 : 0;
}

void
loop_break(struct loop *loop)
{
    event_base_loopbreak(loop->base);
}

void
loop_get_stats(const struct loop *loop, struct loop_stats *out)
{
    *out = loop->stats;
}

unsigned
loop_backoff_ms(unsigned n, unsigned min_ms, unsigned max_ms)
{
    unsigned long long ms = (unsigned long long)min_ms << (n < 16 ? n : 16);

    return ms > max_ms ? max_ms : (unsigned)ms;
}

int
loop_timer_add_ms(struct event *ev, unsigned ms)
{
    struct timeval tv = { (time_t)(ms / 1000),
                          (suseconds_t)((ms % 1000) * 1000) };

    /* libevent counts from its cached time, taken before loop_drive's
     * batch of sofia steps: a timer armed late in the batch would fire
     * early by however long the batch took. */
    event_base_update_cache_time(event_get_base(ev));
    return evtimer_add(ev, &tv);
}

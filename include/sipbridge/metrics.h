/*
 * metrics.h - the Prometheus endpoint: [metrics] type=metrics.
 *
 * Owns an evhttp server on one loopback address (none without a [metrics]
 * section) answering GET /metrics in the text exposition format 0.0.4,
 * and the probe that measures loop lag (a 1 s timer, only while the
 * endpoint is on).  Modules keep their own counters; on each scrape the
 * endpoint calls their collectors, in the order added, and they write
 * their families with the writers below.  Nothing is counted twice, and
 * a module that moves elsewhere takes its collector with it.  Loop thread
 * only.
 *
 *   metrics_add(m, chat_metrics, chat);                     at start
 *   void chat_metrics(void *arg, struct metrics_out *o) {
 *       metrics_family(o, "sipbridge_conferences", METRICS_GAUGE, "...");
 *       metrics_sample(o, (double)n, NULL);
 *       metrics_family(o, "sipbridge_conference_participants", ...);
 *       metrics_sample(o, (double)c->nparts, "conference", c->name, NULL);
 *   }
 */
#ifndef SIPBRIDGE_METRICS_H
#define SIPBRIDGE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "sipbridge/cfg.h"

struct metrics;

/* type=metrics (one section; docs/config.md): listen = ADDR:PORT, a
 * loopback address (the endpoint has no authentication). */
extern const struct cfg_type metrics_cfg_type;

enum metrics_kind { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

/* One scrape's text.  The caller owns buf. */
struct metrics_out {
    struct evbuffer *buf;
    const char *family;     /* the family samples belong to */
};

typedef void (*metrics_collect_cb)(void *arg, struct metrics_out *out);

/**
 * Start the endpoint if @p cfg has a [metrics] section.
 * @return 0 and *out (free with metrics_destroy), -ENOMEM, or -errno of
 * a failed bind (logged, naming the address).
 */
int metrics_create(struct metrics **out, struct event_base *base,
                   const struct cfg *cfg);
void metrics_destroy(struct metrics *m);

/**
 * Apply a reloaded config: start, stop or move the endpoint.  A new
 * address that cannot be bound leaves the old one serving (logged).
 * @return 0, or -errno.
 */
int metrics_reconfigure(struct metrics *m, const struct cfg *cfg);

/** Add a collector (at most METRICS_MAX_COLLECTORS).  @return 0, -ENOSPC. */
int metrics_add(struct metrics *m, metrics_collect_cb cb, void *arg);

#define METRICS_MAX_COLLECTORS 16

/** Write the whole exposition (every collector, then the loop lag). */
void metrics_collect(struct metrics *m, struct evbuffer *buf);

/* ---- writers, for collectors ---- */

/** Start a family: # HELP and # TYPE lines; samples follow. */
void metrics_family(struct metrics_out *o, const char *name,
                    enum metrics_kind kind, const char *help);

/**
 * One sample of the current family: @p v with labels given as name,
 * value pairs ending in NULL.  Values are escaped as the format wants.
 */
void metrics_sample(struct metrics_out *o, double v, ...)
    __attribute__((sentinel));

/* A histogram: @p le the upper bounds (ascending, +Inf implied), counts
 * per bucket (not cumulative; n + 1 of them, the last for +Inf). */
struct metrics_hist {
    const double *le;
    size_t n;
    uint64_t *counts;
    uint64_t count;
    double sum;
};

void metrics_hist_observe(struct metrics_hist *h, double v);

/** The current family's _bucket, _sum and _count samples, no labels. */
void metrics_histogram(struct metrics_out *o, const struct metrics_hist *h);

#endif

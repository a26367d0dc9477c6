/*
 * mwi_int.h - what the files of the MWI capability share.
 *
 * config.c reads the type=mwi section; lookup.c keeps the mailboxes to
 * notify and talks to the database; send.c runs the NOTIFY transactions;
 * mwi.c owns the whole and the control requests.
 */
#ifndef SIPBRIDGE_MWI_INT_H
#define SIPBRIDGE_MWI_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "sipbridge/mwi.h"
#include "sipbridge/mwi_notify.h"
#include "sipbridge/sip.h"
#include "sipbridge/strmap.h"

struct ctl_deferred;

enum mwi_flavour { MWI_AUTO, MWI_KAMAILIO, MWI_OPENSIPS };

struct mwi_ctx_domain {
    char *context;
    char *domain;
};

/* The type=mwi section. */
struct mwi_cfg {
    bool enabled;
    char *name;
    char *database;
    char *table;                /* as configured: [schema.]name */
    char *table_sql;            /* quoted for SQL: "schema"."name" */
    enum mwi_flavour flavour;
    char *proxy;
    char *contact;              /* sip:user@host[:port], rows without one */
    char *user_agent;
    char *vmexten;
    char *listen_channel;
    struct mwi_ctx_domain *ctx;
    size_t nctx;
    bool delete_gone;           /* on_gone=delete */
    bool timeout_removes;
    unsigned max_retries;
    unsigned retry_min_ms, retry_max_ms;
    unsigned max_pending;
};

/* A mailbox waiting for, or in, its lookup. */
struct mwi_box {
    struct mwi_box *next;       /* FIFO of queued boxes */
    struct mwi_counts counts;   /* the newest */
    bool queued, in_flight;
    char *user, *domain;
    char key[];                 /* user@domain */
};

/* One NOTIFY transaction (and its retries). */
struct mwi_tx {
    struct sip_owner owner;     /* hmagic of nh */
    struct mwi *m;
    struct mwi_tx *prev, *next;
    nua_handle_t *nh;
    struct event *timer;        /* retry backoff */
    unsigned retries;
    bool bumping;               /* waiting for a new CSeq from the DB */
    char *id, *callid, *to_tag;
    char *user, *domain;
    struct mwi_notify n;
};

struct mwi_counters {
    uint64_t triggers, coalesced, dropped, unmapped;
    uint64_t lookups, lookup_errors, watchers;
    uint64_t sent, ok, gone, timeouts, retries, failed, deleted;
    uint64_t listen_payloads, listen_bad;
};

struct mwi {
    struct mwi_deps deps;
    struct event_base *base;
    struct mwi_cfg cfg;
    struct db *db;
    enum mwi_flavour flavour;   /* detected or configured */
    bool ready;                 /* statements prepared */
    bool stopping;
    struct event *timer;        /* detection retry, pump retry */
    struct strmap *boxes;       /* user@domain -> waiting mailbox */
    struct mwi_box *head, *tail;
    unsigned lookups_out;
    struct mwi_tx *txs;
    size_t ntx;
    struct mwi_counters n;
};

/* config.c */
int mwi_cfg_read(const struct cfg *cfg, struct mwi_cfg *out);
void mwi_cfg_free(struct mwi_cfg *c);
const char *mwi_cfg_domain(const struct mwi_cfg *c, const char *context);
const char *mwi_flavour_name(enum mwi_flavour f);

/* lookup.c */
int mwi_lookup_start(struct mwi *m);
/* Queue a mailbox; @return 0, -EAGAIN (max_pending mailboxes wait). */
int mwi_trigger(struct mwi *m, const char *user, const char *domain,
                const struct mwi_counts *c);
void mwi_lookup_pump(struct mwi *m);
void mwi_boxes_free(struct mwi *m);
int mwi_query_show(struct mwi *m, const char *user, const char *domain,
                   struct ctl_deferred *d);
void mwi_row_delete(struct mwi *m, const struct mwi_tx *tx);
int mwi_row_bump(struct mwi *m, struct mwi_tx *tx);
void mwi_watcher_from_row(const struct mwi *m, const PGresult *res, int row,
                          struct mwi_watcher *w);

/* send.c */
void mwi_send_row(struct mwi *m, const struct mwi_box *box,
                  const struct mwi_watcher *w);
void mwi_tx_resend(struct mwi_tx *tx, long long local_cseq,
                   long long expires);
void mwi_tx_free(struct mwi_tx *tx);
void mwi_txs_stop(struct mwi *m);
void mwi_publish_event(struct mwi *m, const struct mwi_tx *tx, int status,
                       const char *phrase, const char *action);

#endif

/*
 * chat_relay.c - checking, relaying and remembering chat messages.
 *
 * A relayed message is a new in-dialog MESSAGE on each other participant's
 * handle, fed one at a time from the participant's own queue (see
 * CHAT_MAX_QUEUE), so a participant that never answers holds up nobody but
 * itself.  The failure policy (max_failures in a row, or one 481) ends its
 * call with BYE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

#include <libpq-fe.h>
#include <sofia-sip/base64.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include "chat_int.h"
#include "sipbridge/chat_events.h"
#include "sipbridge/chat_text.h"
#include "sipbridge/db.h"
#include "sipbridge/log.h"
#include "sipbridge/loop.h"

static double
chat_relay_now(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* ---- checks ---- */

/* Does "type/subtype" match a pattern "type/subtype", "type/ *" or "*"? */
static int
chat_ctype_match(const char *pattern, const char *ctype)
{
    size_t n = strlen(pattern);

    if (strcmp(pattern, "*") == 0 || strcmp(pattern, "*/*") == 0)
        return 1;
    if (n >= 2 && strcmp(pattern + n - 2, "/*") == 0)
        return strncasecmp(pattern, ctype, n - 1) == 0;
    return strcasecmp(pattern, ctype) == 0;
}

int
chat_relay_check(struct chat_conf *conf, const sip_t *sip, int *status,
                 const char **phrase)
{
    const sip_content_type_t *ct = sip->sip_content_type;
    size_t len = sip->sip_payload ? sip->sip_payload->pl_len : 0;

    if (len == 0) {
        *status = 400, *phrase = "Empty Message Body";
        return -1;
    }
    for (size_t i = 0; ct && ct->c_type && i < conf->nctypes; i++)
        if (chat_ctype_match(conf->ctypes[i], ct->c_type))
            goto type_ok;
    *status = 415, *phrase = "Unsupported Media Type";
    return -1;
type_ok:
    if (len > conf->max_body) {
        *status = 413, *phrase = "Request Entity Too Large";
        return -1;
    }
    return 0;
}

/* "type/subtype;p1=v1;p2=v2", parameters kept as the sender wrote them. */
char *
chat_ctype_string(const sip_content_type_t *ct)
{
    size_t len = strlen(ct->c_type) + 1;
    char *s;

    for (size_t i = 0; ct->c_params && ct->c_params[i]; i++)
        len += strlen(ct->c_params[i]) + 1;
    s = malloc(len);
    if (s == NULL)
        return NULL;
    strcpy(s, ct->c_type);
    for (size_t i = 0; ct->c_params && ct->c_params[i]; i++) {
        strcat(s, ";");
        strcat(s, ct->c_params[i]);
    }
    return s;
}

/* ---- sending ---- */

static void
chat_out_free(struct chat_out *o)
{
    free(o->display);
    free(o->ctype);
    free(o->body);
    free(o);
}

static struct chat_out *
chat_out_new(const char *display, const char *ctype, const char *body,
             size_t len)
{
    struct chat_out *o = calloc(1, sizeof(*o));

    if (o == NULL)
        return NULL;
    o->display = strdup(display ? display : "");
    o->ctype = strdup(ctype);
    o->body = malloc(len ? len : 1);
    if (!o->display || !o->ctype || !o->body) {
        chat_out_free(o);
        return NULL;
    }
    memcpy(o->body, body, len);
    o->len = len;
    return o;
}

void
chat_out_clear(struct chat_part *p)
{
    while (p->out_head) {
        struct chat_out *o = p->out_head;

        p->out_head = o->next;
        chat_out_free(o);
    }
    p->out_tail = NULL;
    p->out_count = 0;
}

/* Hands the next queued relay to nua, if nua holds none of ours. */
static void
chat_out_pump(struct chat_part *p)
{
    struct chat_out *o = p->out_head;
    sip_payload_t pl[1];
    char from[640];

    if (p->inflight || o == NULL || p->state == CHAT_PART_LEAVING)
        return;
    p->out_head = o->next;
    if (p->out_head == NULL)
        p->out_tail = NULL;
    p->out_count--;
    if (o->display[0])
        snprintf(from, sizeof(from), "\"%s\" <%s>", o->display, p->local_uri);
    else
        snprintf(from, sizeof(from), "<%s>", p->local_uri);
    sip_payload_init(pl);
    pl->pl_data = o->body;
    pl->pl_len = o->len;
    p->inflight = true;
    /* nua copies the tags: the relay can go now. */
    nua_message(p->nh, SIPTAG_FROM_STR(from), SIPTAG_CONTENT_TYPE_STR(o->ctype),
                SIPTAG_PAYLOAD(pl), TAG_END());
    chat_out_free(o);
}

static void
chat_relay_one(struct chat_part *p, const char *display, const char *ctype,
               const char *body, size_t len)
{
    struct chat_out *o;

    if (p->out_count >= CHAT_MAX_QUEUE) {
        o = p->out_head;
        p->out_head = o->next;
        p->out_count--;
        chat_out_free(o);
        p->dropped++;
        p->conf->failures++;
        log_info(CHAT_LOG, "%s: participant %llu (%s) is %u relays behind; "
                 "oldest dropped", p->conf->name, (unsigned long long)p->id,
                 p->uri, CHAT_MAX_QUEUE);
    }
    o = chat_out_new(display, ctype, body, len);
    if (o == NULL)
        return;
    if (p->out_tail)
        p->out_tail->next = o;
    else
        p->out_head = o;
    p->out_tail = o;
    p->out_count++;
    p->received++;
    p->conf->deliveries++;
    chat_out_pump(p);
}

/* Answers that say the participant is gone (RFC 5057's dialog-ending
 * codes, as in sofia-sip's sip_response_terminates_dialog(), which the
 * core keeps from ending the dialog silently): we end it with BYE. */
static int
chat_status_ends_dialog(int status)
{
    switch (status) {
    case 404: case 410: case 416: case 482: case 484: case 485:
    case 502: case 604:
        return 1;
    default:
        return 0;
    }
}

void
chat_relay_answered(struct chat_part *p, int status)
{
    struct chat_conf *conf = p->conf;
    char why[96];

    p->inflight = false;
    if (status >= 200 && status < 300) {
        p->consecutive = 0;
        chat_out_pump(p);
        return;
    }
    p->failures++;
    p->consecutive++;
    conf->failures++;
    log_info(CHAT_LOG, "%s: relay to participant %llu (%s) failed: %d "
             "(%u in a row)", conf->name, (unsigned long long)p->id, p->uri,
             status, p->consecutive);
    if (p->state != CHAT_PART_LEAVING &&
        (status == 481 || chat_status_ends_dialog(status) ||
         p->consecutive >= conf->max_failures)) {
        if (chat_status_ends_dialog(status))
            snprintf(why, sizeof(why), "a relayed message got %d, which ends "
                     "the dialog", status);
        else if (status == 481)
            snprintf(why, sizeof(why), "its dialog is gone (481)");
        else
            snprintf(why, sizeof(why), "%u relayed messages failed in a row "
                     "(last %d)", p->consecutive, status);
        conf->removed++;
        chat_part_kick(p, why);
        return;
    }
    chat_out_pump(p);
}

static json_t *
chat_body_json(const char *ctype, const char *body, size_t len)
{
    json_t *s = json_stringn(body, len);
    char *b64;
    size_t n = (len + 2) / 3 * 4 + 1;

    (void)ctype;
    if (s)
        return json_pack("{s:o}", "body", s);
    /* Not UTF-8: the application gets the exact bytes in base64. */
    b64 = malloc(n);
    if (b64 == NULL)
        return json_object();
    base64_e(b64, (isize_t)n, (void *)body, (isize_t)len);
    s = json_pack("{s:s}", "body_base64", b64);
    free(b64);
    return s;
}

static void
chat_publish_message(struct chat_conf *conf, const struct chat_part *from,
                     const char *display, const char *ctype,
                     const char *body, size_t len)
{
    json_t *ev;

    /* Per relayed message: build the event only if someone will get it. */
    if (!ctl_watched(conf->chat->deps.ctl, "conference"))
        return;
    ev = chat_body_json(ctype, body, len);
    json_object_set_new(ev, "from", json_string(display ? display : ""));
    json_object_set_new(ev, "content_type", json_string(ctype));
    if (from)
        json_object_set_new(ev, "participant", json_integer((json_int_t)from->id));
    chat_publish(conf, "message", ev);
}

static void chat_history_push(struct chat_conf *conf, const char *display,
                              const char *ctype, const char *body,
                              size_t len, double at);
static void chat_store_write(struct chat_conf *conf, const char *display,
                             const char *ctype, const char *body, size_t len);

int
chat_relay_send(struct chat_conf *conf, const char *display,
                const char *ctype, const char *body, size_t len,
                struct chat_part *from)
{
    char safe[256];
    int n = 0;

    if (strchr(ctype, '/') == NULL || strpbrk(ctype, "\r\n"))
        return -EINVAL;
    chat_display_name_safe(display, safe, sizeof(safe));
    for (struct chat_part *p = conf->parts, *next; p; p = next) {
        next = p->next;     /* a failure may end p's call, not unlink it */
        if (p != from && p->state == CHAT_PART_ACTIVE) {
            chat_relay_one(p, safe, ctype, body, len);
            n++;
        }
    }
    conf->messages++;
    if (from)
        from->sent++;
    chat_history_push(conf, safe, ctype, body, len, chat_relay_now());
    chat_store_write(conf, safe, ctype, body, len);
    chat_publish_message(conf, from, safe, ctype, body, len);
    /* From a control request nua only queued the requests: let it run. */
    loop_kick(sip_loop(conf->chat->deps.sip));
    return n;
}

/* The display name to relay: the sender's From, else the one it joined
 * with, else nothing; never any part of its URI. */
static const char *
chat_sender_name(const struct chat_part *from, const sip_t *sip)
{
    const char *d = sip->sip_from ? sip->sip_from->a_display : NULL;

    if (d && *d && strcmp(d, "\"\"") != 0)
        return d;
    return from ? from->display : "";
}

static int
chat_is_html(const char *ctype)
{
    return strncasecmp(ctype, "text/html", 9) == 0 &&
           (ctype[9] == '\0' || ctype[9] == ';' || ctype[9] == ' ');
}

void
chat_relay_incoming(struct chat_conf *conf, struct chat_part *from,
                    const sip_t *sip)
{
    const sip_payload_t *pl = sip->sip_payload;
    char *ctype = chat_ctype_string(sip->sip_content_type);
    char *clean = NULL;
    size_t len = pl->pl_len;
    const char *body = pl->pl_data;

    if (ctype == NULL)
        return;
    if (conf->sanitize_html && chat_is_html(ctype) &&
        chat_html_sanitize(body, len, &clean, &len) == 0)
        body = clean;
    chat_relay_send(conf, chat_sender_name(from, sip), ctype, body, len, from);
    free(clean);
    free(ctype);
}

/* ---- history ---- */

static void
chat_msg_free(struct chat_msg *m)
{
    if (m == NULL)
        return;
    free(m->display);
    free(m->ctype);
    free(m->body);
    free(m);
}

static struct chat_msg *
chat_msg_new(const char *display, const char *ctype, const char *body,
             size_t len, double at)
{
    struct chat_msg *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    m->display = strdup(display ? display : "");
    m->ctype = strdup(ctype);
    m->body = malloc(len + 1);
    if (!m->display || !m->ctype || !m->body) {
        chat_msg_free(m);
        return NULL;
    }
    memcpy(m->body, body, len);
    m->body[len] = '\0';
    m->len = len;
    m->at = at;
    return m;
}

/* The i-th oldest message kept. */
static struct chat_msg *
chat_ring_at(const struct chat_conf *conf, unsigned i)
{
    return conf->ring[(conf->ring_head + i) % conf->history];
}

static void
chat_ring_add(struct chat_conf *conf, struct chat_msg *m)
{
    unsigned slot = (conf->ring_head + conf->ring_count) % conf->history;

    if (conf->ring_count == conf->history) {
        chat_msg_free(conf->ring[conf->ring_head]);
        conf->ring[conf->ring_head] = m;
        conf->ring_head = (conf->ring_head + 1) % conf->history;
        return;
    }
    conf->ring[slot] = m;
    conf->ring_count++;
}

static void
chat_history_push(struct chat_conf *conf, const char *display,
                  const char *ctype, const char *body, size_t len, double at)
{
    struct chat_msg *m;

    if (conf->history == 0)
        return;
    m = chat_msg_new(display, ctype, body, len, at);
    if (m)
        chat_ring_add(conf, m);
}

int
chat_history_resize(struct chat_conf *conf, unsigned n)
{
    struct chat_msg **ring = n ? calloc(n, sizeof(*ring)) : NULL;
    unsigned keep = conf->ring_count < n ? conf->ring_count : n;
    unsigned drop = conf->ring_count - keep;

    if (n && ring == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < conf->ring_count; i++) {
        struct chat_msg *m = chat_ring_at(conf, i);

        if (i < drop)
            chat_msg_free(m);
        else
            ring[i - drop] = m;
    }
    free(conf->ring);
    conf->ring = ring;
    conf->history = n;
    conf->ring_head = 0;
    conf->ring_count = keep;
    return 0;
}

void
chat_history_clear(struct chat_conf *conf)
{
    unsigned n = conf->history;

    chat_history_resize(conf, 0);
    chat_history_resize(conf, n);
}

void
chat_history_replay(struct chat_part *p)
{
    struct chat_conf *conf = p->conf;

    for (unsigned i = 0; i < conf->ring_count; i++) {
        const struct chat_msg *m = chat_ring_at(conf, i);

        chat_relay_one(p, m->display, m->ctype, m->body, m->len);
    }
}

/* ---- store: chat_messages in PostgreSQL ---- */

#define CHAT_SQL_CREATE \
    "CREATE TABLE IF NOT EXISTS chat_messages (" \
    " id bigserial PRIMARY KEY," \
    " conference text NOT NULL," \
    " sent_at timestamptz NOT NULL DEFAULT now()," \
    " display_name text NOT NULL," \
    " content_type text NOT NULL," \
    " body bytea NOT NULL)"
#define CHAT_SQL_INDEX \
    "CREATE INDEX IF NOT EXISTS chat_messages_conf_id" \
    " ON chat_messages (conference, id)"
/* db.c sends a query again when its answer was lost with the connection,
 * committed or not: each message carries a random id, and a second INSERT
 * of it does nothing.  Tables made before the id existed get it here. */
#define CHAT_SQL_MSG_ID \
    "ALTER TABLE chat_messages ADD COLUMN IF NOT EXISTS msg_id text"
#define CHAT_SQL_MSG_ID_INDEX \
    "CREATE UNIQUE INDEX IF NOT EXISTS chat_messages_msg_id" \
    " ON chat_messages (msg_id)"
#define CHAT_SQL_INSERT \
    "INSERT INTO chat_messages (conference, display_name, content_type, " \
    "body, msg_id) VALUES ($1, $2, $3, $4::bytea, $5)" \
    " ON CONFLICT (msg_id) DO NOTHING"
#define CHAT_SQL_LOAD \
    "SELECT display_name, content_type, body, " \
    "extract(epoch FROM sent_at)::float8 FROM (SELECT * FROM chat_messages " \
    "WHERE conference = $1 ORDER BY id DESC LIMIT $2::int) t ORDER BY id"

/* Callbacks find their conference by name: a reload may free it first. */
struct chat_store_ctx {
    struct chat *chat;
    char name[];
};

static struct chat_store_ctx *
chat_store_ctx(struct chat_conf *conf)
{
    struct chat_store_ctx *c = malloc(sizeof(*c) + strlen(conf->name) + 1);

    if (c) {
        c->chat = conf->chat;
        strcpy(c->name, conf->name);
    }
    return c;
}

static struct db *
chat_store_db(struct chat_conf *conf)
{
    const struct chat_deps *d = &conf->chat->deps;

    if (!conf->store || conf->database == NULL || d->db_find == NULL)
        return NULL;
    return d->db_find(d->db_arg, conf->database);
}

static void
chat_store_done(void *arg, const PGresult *res, const char *error)
{
    struct chat_store_ctx *c = arg;

    (void)res;
    if (error) {
        struct chat_conf *conf = chat_conf_find(c->chat, c->name);

        if (conf)
            conf->store_dropped++;
        log_warn(CHAT_LOG, "%s: storing a message failed: %s", c->name,
                 error);
    }
    free(c);
}

/* "\x" + hex: bytea's text input, so a body keeps every byte, NULs too. */
static char *
chat_bytea_hex(const char *body, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *s = malloc(2 * len + 3), *o;

    if (s == NULL)
        return NULL;
    o = s;
    *o++ = '\\';
    *o++ = 'x';
    for (size_t i = 0; i < len; i++) {
        *o++ = hex[(unsigned char)body[i] >> 4];
        *o++ = hex[(unsigned char)body[i] & 15];
    }
    *o = '\0';
    return s;
}

/* 128 random bits in hex; without entropy, the time and a counter,
 * unique to this daemon. */
static void
chat_store_msg_id(struct chat *chat, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[16];

    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        uint64_t n = ++chat->store_seq;

        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(r, &ts.tv_sec, 8);
        r[8] = (unsigned char)(ts.tv_nsec >> 24);
        memcpy(r + 9, &n, 7);
    }
    for (size_t i = 0; i < sizeof(r); i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[32] = '\0';
}

static void
chat_store_write(struct chat_conf *conf, const char *display,
                 const char *ctype, const char *body, size_t len)
{
    struct db *db = chat_store_db(conf);
    struct chat_store_ctx *c;
    char *hex, id[33];
    const char *params[5];

    if (db == NULL)
        return;
    c = chat_store_ctx(conf);
    hex = chat_bytea_hex(body, len);
    chat_store_msg_id(conf->chat, id);
    params[0] = conf->name, params[1] = display, params[2] = ctype;
    params[3] = hex, params[4] = id;
    if (c == NULL || hex == NULL ||
        db_query(db, "chat_insert", NULL, 5, params, chat_store_done, c)) {
        /* Queue full (database down for long): live relay goes on. */
        conf->store_dropped++;
        free(c);
    }
    free(hex);
}

static void
chat_store_loaded(void *arg, const PGresult *res, const char *error)
{
    struct chat_store_ctx *c = arg;
    struct chat_conf *conf = chat_conf_find(c->chat, c->name);
    struct chat_msg **old;
    unsigned nold;

    if (error || conf == NULL || conf->history == 0) {
        if (error)
            log_warn(CHAT_LOG, "%s: loading history failed: %s", c->name,
                     error);
        free(c);
        return;
    }
    /* Stored messages are older than any relayed since start: put them
     * first, then the newer ones again. */
    nold = conf->ring_count;
    old = calloc(nold ? nold : 1, sizeof(*old));
    for (unsigned i = 0; old && i < nold; i++)
        old[i] = chat_ring_at(conf, i);
    conf->ring_head = conf->ring_count = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        size_t len = 0;
        unsigned char *body = PQunescapeBytea(
            (const unsigned char *)PQgetvalue(res, r, 2), &len);
        struct chat_msg *m = body ? chat_msg_new(PQgetvalue(res, r, 0),
                                                 PQgetvalue(res, r, 1),
                                                 (char *)body, len,
                                                 atof(PQgetvalue(res, r, 3)))
                                  : NULL;
        if (m)
            chat_ring_add(conf, m);
        PQfreemem(body);
    }
    for (unsigned i = 0; old && i < nold; i++)
        chat_ring_add(conf, old[i]);
    free(old);
    log_info(CHAT_LOG, "%s: %d stored message(s) loaded", conf->name,
             PQntuples(res));
    free(c);
}

void
chat_store_open(struct chat_conf *conf)
{
    struct db *db = chat_store_db(conf);
    struct chat_store_ctx *c;
    char limit[16];
    const char *params[2];

    if (db == NULL) {
        log_err(CHAT_LOG, "%s: store=yes but database '%s' is not open",
                conf->name, conf->database ? conf->database : "");
        return;
    }
    /* Statements and table are idempotent: every conference may ask. */
    db_query(db, NULL, CHAT_SQL_CREATE, 0, NULL, NULL, NULL);
    db_query(db, NULL, CHAT_SQL_INDEX, 0, NULL, NULL, NULL);
    db_query(db, NULL, CHAT_SQL_MSG_ID, 0, NULL, NULL, NULL);
    db_query(db, NULL, CHAT_SQL_MSG_ID_INDEX, 0, NULL, NULL, NULL);
    db_prepare(db, "chat_insert", CHAT_SQL_INSERT, 5);
    if (conf->history == 0)
        return;
    c = chat_store_ctx(conf);
    snprintf(limit, sizeof(limit), "%u", conf->history);
    params[0] = conf->name;
    params[1] = limit;
    if (c && db_query(db, NULL, CHAT_SQL_LOAD, 2, params, chat_store_loaded,
                      c) != 0)
        free(c);
}

/* ---- ConfBridge event notices (events=yes) ---- */

static void
chat_ev_channel_of(const struct chat_part *p, struct chat_ev_channel *ch,
                   char *name, size_t nlen, char *id, size_t idlen)
{
    const char *user = p->from_url && p->from_url->url_user
                           ? p->from_url->url_user : "anonymous";

    /* As chan_pjsip names a channel after its endpoint; Asterisk's
     * uniqueid is "<epoch seconds>.<n>", which clients parse. */
    snprintf(name, nlen, "PJSIP/%.48s-%08llx", user,
             (unsigned long long)p->id);
    snprintf(id, idlen, "%lld.%llu", (long long)p->joined,
             (unsigned long long)p->id);
    memset(ch, 0, sizeof(*ch));
    ch->id = id;
    ch->name = name;
    ch->protocol_id = p->call_id;
    ch->caller_name = p->display;
    ch->caller_number = p->from_url && p->from_url->url_user
                            ? p->from_url->url_user : "";
    ch->created = p->joined;
}

static void
chat_ev_send(struct chat_part *to, const char *type,
             const struct chat_part *const *who, size_t n)
{
    struct chat_conf *conf = to->conf;
    struct chat_ev_bridge b = { conf->bridge_id, conf->name, NULL,
                                conf->created };
    struct chat_ev_channel *ch = calloc(n ? n : 1, sizeof(*ch));
    char (*names)[96] = calloc(n ? n : 1, sizeof(*names));
    char (*ids)[48] = calloc(n ? n : 1, sizeof(*ids));
    char *body = NULL;

    if (ch && names && ids) {
        for (size_t i = 0; i < n; i++)
            chat_ev_channel_of(who[i], &ch[i], names[i], sizeof(names[i]),
                               ids[i], sizeof(ids[i]));
        body = chat_events_build(type, &b, ch, n, chat_relay_now());
    }
    if (body)
        chat_relay_one(to, conf->name, CHAT_EVENTS_CONTENT_TYPE, body,
                       strlen(body));
    free(body);
    free(ids);
    free(names);
    free(ch);
}

void
chat_notify_join(struct chat_part *p)
{
    struct chat_conf *conf = p->conf;
    const struct chat_part **all;
    size_t n = 0;

    if (!conf->events)
        return;
    all = calloc(conf->nparts + 1, sizeof(*all));
    if (all == NULL)
        return;
    for (struct chat_part *q = conf->parts; q; q = q->next)
        if (q->announced)
            all[n++] = q;
    chat_ev_send(p, "ConfbridgeWelcome", all, n);
    for (struct chat_part *q = conf->parts; q; q = q->next)
        if (q != p && q->state == CHAT_PART_ACTIVE)
            chat_ev_send(q, "ConfbridgeJoin",
                         (const struct chat_part *const *)&p, 1);
    free(all);
}

void
chat_notify_leave(struct chat_part *p)
{
    struct chat_conf *conf = p->conf;

    if (!conf->events)
        return;
    for (struct chat_part *q = conf->parts; q; q = q->next)
        if (q != p && q->state == CHAT_PART_ACTIVE)
            chat_ev_send(q, "ConfbridgeLeave",
                         (const struct chat_part *const *)&p, 1);
}

/*
 * fuzz_chat_relay.c - the conference chat relay's decisions on an incoming
 * MESSAGE, with arbitrary bodies and content types.
 *
 * What src/chat does with an in-dialog MESSAGE (chat_sip.c
 * chat_on_message, chat_relay.c chat_relay_check / chat_relay_incoming /
 * chat_relay_send), through the functions it uses that can run without a
 * SIP stack:
 *  - chat_relay_check(): 400 for an empty body, 415 unless the
 *    Content-Type matches the configured list ("type/subtype", "type/" and
 *    a star, a star), 413 over max_body: called for real, on a struct
 *    chat_conf built as chat.c builds one;
 *  - the relayed Content-Type, "type/subtype;params" as chat_ctype_string()
 *    builds it, must not carry CR or LF and must have a '/', or
 *    chat_relay_send() refuses it;
 *  - text/html bodies through chat_html_sanitize() when sanitize_html is
 *    on (chat_is_html: "text/html" then end, ';' or ' ');
 *  - the sender's display name (From, else the one it joined with)
 *    through chat_display_name_safe() into the relay's 256-byte buffer;
 *  - the ConfBridge event bodies for that sender (chat_events_build, every
 *    event type) as chat_ev_channel_of() fills a channel, and
 *    chat_events_time().
 * chat_ctype_match, chat_is_html, chat_sender_name,
 * chat_body_json and chat_ev_channel_of are static in chat_relay.c, and
 * chat_relay_incoming/chat_relay_send need a live SIP stack and control
 * socket: the harness repeats the few lines between the calls above
 * (see the report in tests/fuzz/README.md for what to expose).
 *
 * Input: "CONTENT_TYPES\nMAX_BODY SANITIZE_HTML [EVENT_TIME]\nSIP MESSAGE",
 * e.g.
 *   text/plain, text/html
 *   65536 yes 1700000000.5
 *   MESSAGE sip:conf@127.0.0.1 SIP/2.0 ...
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "../../src/chat/chat_int.h"
#include "fuzz_common.h"
#include "fuzz_sip.h"
#include "sipbridge/chat_events.h"
#include "sipbridge/chat_text.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_log();
    return 0;
}

static void
events(const char *display, const sip_t *sip, double now)
{
    static const char *const types[] = {
        CHAT_EV_WELCOME, CHAT_EV_JOIN, CHAT_EV_LEAVE, CHAT_EV_MUTE,
        CHAT_EV_UNMUTE, CHAT_EV_TALKING, CHAT_EV_RECORD, CHAT_EV_STOP_RECORD,
    };
    const url_t *from = sip->sip_from ? sip->sip_from->a_url : NULL;
    const char *user = from && from->url_user ? from->url_user : "anonymous";
    struct chat_ev_bridge b = { "1b2c3d4e-0000-4000-8000-000000000001",
                                "conf", NULL, 1700000000.25 };
    struct chat_ev_channel ch;
    char name[96], id[48], ts[CHAT_EVENTS_TIME_LEN];

    snprintf(name, sizeof(name), "PJSIP/%.48s-%08llx", user, 7ULL);
    snprintf(id, sizeof(id), "%lld.%llu", (long long)1700000000, 7ULL);
    memset(&ch, 0, sizeof(ch));
    ch.id = id;
    ch.name = name;
    ch.protocol_id = sip->sip_call_id ? sip->sip_call_id->i_id : NULL;
    ch.caller_name = display;
    ch.caller_number = from && from->url_user ? from->url_user : "";
    ch.created = 1700000000;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        bool bridge_level = i >= 6;
        char *body = chat_events_build(types[i], &b, bridge_level ? NULL : &ch,
                                       bridge_level ? 0 : 1, now);
        json_error_t err;
        json_t *j;

        FUZZ_CHECK(body != NULL || errno == ENOMEM, "no %s body", types[i]);
        if (body == NULL)
            continue;
        j = json_loads(body, 0, &err);
        FUZZ_CHECK(j != NULL && json_is_object(j) &&
                       json_is_string(json_object_get(j, "type")),
                   "the %s body is not a JSON object: %s", types[i], body);
        json_decref(j);
        free(body);
    }
    chat_events_time(ts, now);
    FUZZ_CHECK(strlen(ts) == 28 && ts[4] == '-' && ts[10] == 'T' &&
                   strcmp(ts + 23, "+0000") == 0,
               "timestamp '%s' for %f", ts, now);
}

struct relay {
    struct chat_conf *conf;
    double now;
};

static void
on_message(msg_t *msg, sip_t *sip, int accepted, void *arg)
{
    struct relay *r = arg;
    struct chat_conf *conf = r->conf;
    const sip_payload_t *pl;
    const char *phrase = NULL, *d, *body;
    char safe[256], *ctype, *clean = NULL;
    size_t len;
    int status = 0, rc;

    (void)msg;
    if (!accepted || sip->sip_request == NULL ||
        sip->sip_request->rq_method != sip_method_message)
        return;
    rc = chat_relay_check(conf, sip, &status, &phrase);
    pl = sip->sip_payload;
    len = pl ? pl->pl_len : 0;
    if (rc != 0) {
        FUZZ_CHECK((status == 400 && len == 0) || status == 415 ||
                       (status == 413 && len > conf->max_body),
                   "refused with %d %s (body %zu, max %zu)", status,
                   phrase ? phrase : "(null)", len, conf->max_body);
        FUZZ_CHECK(phrase != NULL && phrase[0], "no reason phrase");
        return;
    }
    FUZZ_CHECK(len > 0 && len <= conf->max_body && sip->sip_content_type &&
                   sip->sip_content_type->c_type,
               "accepted: body %zu, max %zu", len, conf->max_body);

    /* chat_relay_incoming */
    ctype = chat_ctype_string(sip->sip_content_type);
    if (ctype == NULL)
        return;
    body = pl->pl_data;
    if (conf->sanitize_html && strncasecmp(ctype, "text/html", 9) == 0 &&
        (ctype[9] == '\0' || ctype[9] == ';' || ctype[9] == ' ') &&
        chat_html_sanitize(body, len, &clean, &len) == 0)
        body = clean;
    (void)body;
    /* chat_relay_send: the type it puts in the relayed MESSAGE. */
    if (strchr(ctype, '/') != NULL && strpbrk(ctype, "\r\n") == NULL) {
        /* chat_sender_name */
        d = sip->sip_from ? sip->sip_from->a_display : NULL;
        if (!(d && *d && strcmp(d, "\"\"") != 0))
            d = "Joined Name";
        chat_display_name_safe(d, safe, sizeof(safe));
        events(safe, sip, r->now);
    }
    free(clean);
    free(ctype);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[3], **ctypes = NULL;
    int n;
    size_t lens[3];
    char *buf = fuzz_fields(data, size, '\n', f, lens, 3);
    struct chat_conf conf;
    struct relay r = { &conf, 1700000000.5 };
    char sanitize[8] = "";
    unsigned long long max_body = 64 << 10;
    double now = 0;

    if (buf == NULL)
        return 0;
    if (f[2] == NULL) {
        free(buf);
        return 0;
    }
    memset(&conf, 0, sizeof(conf));
    n = chat_split_list(f[0], &ctypes);
    conf.nctypes = n > 0 ? (size_t)n : 0;
    conf.ctypes = ctypes;
    if (conf.nctypes == 0) {
        static char *def[] = { "text/plain", "text/html" };

        conf.ctypes = def;
        conf.nctypes = 2;
    }
    /* "NaN and negatives give the epoch, and years past 9999 are
     * clamped": any double goes. */
    if (sscanf(f[1], "%llu %7s %lf", &max_body, sanitize, &now) == 3)
        r.now = now;
    if (max_body > (1ULL << 30))
        max_body = 1ULL << 30;
    conf.max_body = (size_t)max_body;
    conf.sanitize_html = strcasecmp(sanitize, "yes") == 0 ||
                         strcmp(sanitize, "1") == 0;
    fuzz_sip_feed(f[2], lens[2], 0, on_message, &r);
    if (n > 0)
        chat_free_list(ctypes, (size_t)n);
    else
        free(ctypes);
    free(buf);
    return 0;
}

/*
 * fuzz_ctl_line.c - control-socket request lines through the real
 * src/core/ctl.c: line framing (LF, CRLF, empty lines, over-long lines),
 * JSON parsing and every error reply.
 *
 * Set-up (once): a ctl listening on a socket in a private temporary
 * directory, on its own event_base, with max_line 2K and max_output 16K
 * (small, so that a fuzzed input reaches "line too long" and "not
 * reading its output"), and test handlers beside the built-in watch and
 * unwatch:
 *   echo       success with the request as data
 *   ack        ack
 *   fail       error with "code" (an integer) and "text" from the request
 *   silent     never answers (the core must answer 462)
 *   twice      answers twice (the second one is dropped and logged)
 *   defer      ctl_defer, then ctl_deferred_success or _error at once
 *   publish    ctl_publish(topic "topic" or "t", the request), then ack
 *   send       ctl_client_send(the request), then ack
 *   sync       success {"sync":true}: the harness's end marker
 *
 * Per input: a new connection writes the input, "\n" and a sync request,
 * and the loop runs (non-blocking steps) until the sync reply or the end
 * of the connection.  Every line the daemon writes must be a JSON object
 * that is a reply ("response") or an event ("sipbridge"), and the client
 * must be gone once the harness has closed its end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "fuzz_common.h"
#include "sipbridge/ctl.h"

#define SYNC_LINE "{\"request\":\"sync\",\"transaction\":\"fuzz-sync\"}\n"
#define MAX_STEPS 100000

static struct event_base *base;
static struct ctl *ctl;
static char sock_path[PATH_MAX];

static void
h_echo(void *arg, struct ctl_request *req)
{
    (void)arg;
    ctl_reply_success(req, json_deep_copy(req->msg));
}

static void
h_ack(void *arg, struct ctl_request *req)
{
    (void)arg;
    ctl_reply_ack(req);
}

static void
h_fail(void *arg, struct ctl_request *req)
{
    json_t *code = json_object_get(req->msg, "code");
    const char *text = json_string_value(json_object_get(req->msg, "text"));

    (void)arg;
    ctl_reply_error(req, json_is_integer(code)
                             ? (int)json_integer_value(code)
                             : CTL_ERR_INVALID_ELEMENT,
                    "%s", text ? text : "fuzz failure");
}

static void
h_silent(void *arg, struct ctl_request *req)
{
    (void)arg;
    (void)req;
}

static void
h_twice(void *arg, struct ctl_request *req)
{
    (void)arg;
    ctl_reply_ack(req);
    ctl_reply_ack(req);
}

static void
h_defer(void *arg, struct ctl_request *req)
{
    struct ctl_deferred *d = ctl_defer(req);

    (void)arg;
    if (d == NULL)
        return;
    if (json_is_true(json_object_get(req->msg, "error")))
        ctl_deferred_error(d, CTL_ERR_WRONG_STATE, "deferred %s", "error");
    else
        ctl_deferred_success(d, json_pack("{s:b}", "deferred", 1));
}

static void
h_publish(void *arg, struct ctl_request *req)
{
    const char *topic = json_string_value(json_object_get(req->msg, "topic"));

    (void)arg;
    ctl_publish(ctl, topic ? topic : "t", req->msg);
    ctl_reply_ack(req);
}

static void
h_send(void *arg, struct ctl_request *req)
{
    (void)arg;
    ctl_client_send(req->client, req->msg);
    ctl_reply_ack(req);
}

static void
h_sync(void *arg, struct ctl_request *req)
{
    (void)arg;
    ctl_reply_success(req, json_pack("{s:b}", "sync", 1));
}

static void
teardown(void)
{
    ctl_destroy(ctl);
    ctl = NULL;
    event_base_free(base);
    base = NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = NULL;
    char conf[PATH_MAX + 256];
    static const struct {
        const char *name;
        ctl_request_cb cb;
    } handlers[] = {
        { "echo", h_echo }, { "ack", h_ack }, { "fail", h_fail },
        { "silent", h_silent }, { "twice", h_twice }, { "defer", h_defer },
        { "publish", h_publish }, { "send", h_send }, { "sync", h_sync },
    };

    (void)argc;
    (void)argv;
    fuzz_quiet_log();
    snprintf(sock_path, sizeof(sock_path), "%s/ctl.sock",
             fuzz_tmpdir("ctl"));
    /* The control settings as the daemon gets them: from a config, so
     * that every setting not named here has its default. */
    snprintf(conf, sizeof(conf),
             "[udp]\ntype=transport\nbind=127.0.0.1:5060\n"
             "[control]\ntype=control\nsocket=%s\nmode=0600\n"
             "max_line=2K\nmax_output=16K\n", sock_path);
    base = event_base_new();
    if (base == NULL ||
        cfg_load_buffer("fuzz.conf", conf, strlen(conf), NULL, 0, &cfg,
                        &errs) != 0 ||
        ctl_create(&ctl, base, &cfg->control) != 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "fuzz_ctl_line: %s\n", errs.msgs[i]);
        fprintf(stderr, "fuzz_ctl_line: cannot create the ctl\n");
        abort();
    }
    cfg_free(cfg);
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (ctl_register(ctl, handlers[i].name, handlers[i].cb, NULL) != 0)
            abort();
    FUZZ_CHECK(ctl_register(ctl, "echo", h_echo, NULL) == -EEXIST,
               "a second 'echo' handler was accepted");
    /* Before the temporary directory goes (atexit runs in reverse). */
    atexit(teardown);
    return 0;
}

/* One line the daemon wrote; @return 1 for the sync reply. */
static int
check_line(const char *line, size_t len)
{
    json_error_t err;
    json_t *msg = json_loadb(line, len, 0, &err);
    const char *resp, *tr;
    int sync;

    FUZZ_CHECK(msg != NULL && json_is_object(msg),
               "the daemon wrote a line that is not a JSON object: %.*s "
               "(%s)", (int)(len > 200 ? 200 : len), line, err.text);
    resp = json_string_value(json_object_get(msg, "response"));
    FUZZ_CHECK(resp != NULL || json_object_get(msg, "sipbridge") != NULL ||
                   json_object_get(msg, "request") != NULL,
               "a line that is neither reply nor event: %.*s",
               (int)(len > 200 ? 200 : len), line);
    if (resp && strcmp(resp, "error") == 0) {
        json_t *code = json_object_get(msg, "error_code");

        FUZZ_CHECK(json_is_integer(code) &&
                       json_is_string(json_object_get(msg, "error")),
                   "an error reply without code or text: %.*s",
                   (int)(len > 200 ? 200 : len), line);
    }
    tr = json_string_value(json_object_get(msg, "transaction"));
    sync = resp && strcmp(resp, "success") == 0 && tr &&
           strcmp(tr, "fuzz-sync") == 0 &&
           json_is_true(json_object_get(json_object_get(msg, "data"),
                                        "sync"));
    json_decref(msg);
    return sync;
}

static json_int_t
clients(void)
{
    json_t *st = ctl_status_json(ctl);
    json_int_t n = json_integer_value(json_object_get(st, "clients"));

    json_decref(st);
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    size_t outlen = size + 1 + sizeof(SYNC_LINE) - 1, sent = 0;
    size_t inlen = 0, incap = 4096, steps;
    char *out = malloc(outlen), *in = malloc(incap);
    bool eof = false, synced = false;
    int fd;

    if (out == NULL || in == NULL) {
        free(out);
        free(in);
        return 0;
    }
    if (size)
        memcpy(out, data, size);
    out[size] = '\n';
    memcpy(out + size + 1, SYNC_LINE, sizeof(SYNC_LINE) - 1);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    strcpy(sun.sun_path, sock_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        perror("fuzz_ctl_line: connect");
        abort();
    }
    for (steps = 0; steps < MAX_STEPS && !eof && !synced; steps++) {
        ssize_t n;

        if (sent < outlen) {
            n = send(fd, out + sent, outlen - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                sent = outlen; /* the daemon closed: read what it said */
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
        for (;;) {
            char *nl;

            if (incap - inlen < 4096) {
                char *bigger = realloc(in, incap * 2);

                if (bigger == NULL)
                    abort();
                in = bigger;
                incap *= 2;
            }
            n = recv(fd, in + inlen, incap - inlen, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                eof = true;
                break;
            }
            if (n < 0)
                break;
            inlen += (size_t)n;
            /* Complete lines. */
            while ((nl = memchr(in, '\n', inlen)) != NULL) {
                size_t l = (size_t)(nl - in);

                if (check_line(in, l))
                    synced = true;
                memmove(in, nl + 1, inlen - l - 1);
                inlen -= l + 1;
            }
        }
    }
    FUZZ_CHECK(eof || synced, "no sync reply and no close after %d loop "
               "steps (%zu of %zu bytes sent)", MAX_STEPS, sent, outlen);
    close(fd);
    /* Let the daemon see the close and free the client. */
    for (steps = 0; steps < MAX_STEPS && clients() > 0; steps++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    FUZZ_CHECK(clients() == 0, "a closed client is still there after %d "
               "loop steps", MAX_STEPS);
    free(out);
    free(in);
    return 0;
}

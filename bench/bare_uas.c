/*
 * bare_uas.c - the bare sofia-sip stack that bench/loop measures the
 * daemon against: su_root_run() in one thread, nua sharing it, nua
 * answering OPTIONS itself as it does in sipbridged.  No libevent.
 *
 *     bench_bare_uas [--message | --publish] PORT
 *                                   (binds UDP and TCP on 127.0.0.1:PORT)
 *
 * --message (bench/chat_relay): MESSAGE is an application method
 * (NUTAG_APPL_METHOD, as in sipbridged) and the callback answers each one
 * 202 Accepted, then destroys its handle, as the prototype in
 * shared/reference/sofia-libevent.md section 5 did.  Without it nothing
 * changes: bench/loop runs it that way.
 *
 * --publish (bench/publish): Allow-Events: asterisk-devicestate (without
 * it nua answers PUBLISH 501 or 489 itself and never tells us), and the
 * callback answers each nua_i_publish 200 with a fresh integer SIP-ETag
 * and the request's Expires (3600 without one), then destroys its handle:
 * the SIP part of what sipbridged's inbound publication does, without
 * reading the body.
 *
 * SIGTERM/SIGINT: nua_shutdown, then exit 0 once it completes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport_tag.h>

/* The daemon's Allow list (src/core/sip.c), so the 200 OK is the same. */
#define ALLOW "INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, MESSAGE, " \
              "SUBSCRIBE, NOTIFY, REFER, UPDATE, INFO, PUBLISH"

static int sig_pipe[2];
static nua_t *nua;
static unsigned long answered;
static unsigned long answered_message;
static unsigned long answered_publish;
static int message_mode;       /* --message: answer MESSAGE 202 */
static int publish_mode;       /* --publish: answer PUBLISH 200 + SIP-ETag */
static unsigned long next_etag = 1;

static void
on_signal(int sig)
{
    (void)sig;
    (void)!write(sig_pipe[1], "x", 1);
}

/* Signals reach the loop through a pipe registered with the root. */
static int
on_sig_pipe(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    char c;

    (void)magic;
    (void)w;
    (void)arg;
    if (read(sig_pipe[0], &c, 1) == 1)
        nua_shutdown(nua);
    return 0;
}

static void
callback(nua_event_t event, int status, char const *phrase, nua_t *n,
         nua_magic_t *magic, nua_handle_t *nh, nua_hmagic_t *hmagic,
         sip_t const *sip, tagi_t tags[])
{
    (void)phrase; (void)n; (void)hmagic; (void)tags;
    if (event == nua_r_shutdown) {
        if (status >= 200)
            su_root_break((su_root_t *)magic);
        return;
    }
    if (event == nua_i_options)
        answered++;            /* nua has already sent the 200 */
    if (event == nua_i_message && message_mode) {
        nua_respond(nh, SIP_202_ACCEPTED, NUTAG_WITH_THIS(n), TAG_END());
        answered_message++;
    }
    if (event == nua_i_publish && publish_mode) {
        char etag[24], exp[24];

        snprintf(etag, sizeof(etag), "%lu", next_etag++);
        snprintf(exp, sizeof(exp), "%lu",
                 sip && sip->sip_expires ? sip->sip_expires->ex_delta : 3600ul);
        nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(n),
                    SIPTAG_ETAG_STR(etag), SIPTAG_EXPIRES_STR(exp), TAG_END());
        answered_publish++;
    }
    if (nh != NULL && event != nua_r_set_params)
        nua_handle_destroy(nh);
}

int
main(int argc, char **argv)
{
    char url[64];
    su_root_t *root;
    su_wait_t w[1];

    if (argc == 3 && strcmp(argv[1], "--message") == 0) {
        message_mode = 1;
        argv++;
        argc--;
    } else if (argc == 3 && strcmp(argv[1], "--publish") == 0) {
        publish_mode = 1;
        argv++;
        argc--;
    }
    if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
        fprintf(stderr, "usage: %s [--message | --publish] PORT\n", argv[0]);
        return 2;
    }
    snprintf(url, sizeof(url), "sip:127.0.0.1:%d", atoi(argv[1]));
    if (pipe(sig_pipe) != 0 || su_init() != 0)
        return 1;
    su_port_prefer(su_epoll_port_create, su_epoll_clone_start);
    root = su_root_create(NULL);
    if (root == NULL)
        return 1;
    su_root_threading(root, 0);
    if (su_wait_create(w, sig_pipe[0], SU_WAIT_IN) != 0 ||
        su_root_register(root, w, on_sig_pipe, NULL, 0) < 0)
        return 1;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    nua = nua_create(root, callback, (nua_magic_t *)root,
                     NUTAG_URL(url),
                     NUTAG_MEDIA_ENABLE(0),
                     NUTAG_ALLOW(ALLOW),
                     TAG_IF(message_mode, NUTAG_APPL_METHOD("MESSAGE")),
                     TPTAG_UDP_RMEM(4 << 20),
                     TPTAG_LOG(0),
                     TAG_END());
    if (nua == NULL) {
        fprintf(stderr, "bare_uas: cannot bind %s\n", url);
        return 1;
    }
    if (publish_mode)
        nua_set_params(nua, SIPTAG_ALLOW_EVENTS_STR("asterisk-devicestate"),
                       TAG_END());
    printf("bare_uas: listening on %s\n", url);
    fflush(stdout);
    su_root_run(root);
    su_root_unregister(root, w, on_sig_pipe, NULL);
    nua_destroy(nua);
    su_root_destroy(root);
    su_deinit();
    printf("bare_uas: answered %lu OPTIONS\n", answered);
    if (message_mode)
        printf("bare_uas: answered %lu MESSAGE\n", answered_message);
    if (publish_mode)
        printf("bare_uas: answered %lu PUBLISH\n", answered_publish);
    return 0;
}

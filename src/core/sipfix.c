/*
 * sipfix.c - where sipbridge overrides sofia-sip functions for nua.
 *
 * Debian 12's libsofia-sip-ua (1.12.11+20110422) has bugs upstream fixed
 * later or never; nua calls these exported functions through the PLT, so
 * a definition in the executable (exported with --export-dynamic-symbol,
 * pulled in with --undefined: see CMakeLists.txt) replaces the library's
 * for nua, and calls the library's own through dlsym(RTLD_NEXT) where it
 * is still right.  Each override says what it fixes and which test guards
 * it; none changes what a correct message means.
 */
#include <dlfcn.h>
#include <netdb.h>
#include <stddef.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/msg_mime.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/su_addrinfo.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/su_string.h>

#include "sipbridge/log.h"
#include "sipbridge/sipfix.h"

/* ---- a dialog that survives a failed INFO ---- */

/*
 * Debian's sofia-sip 1.12.11 ends a whole dialog, silently (no BYE), when
 * an in-dialog request on it gets 404, 410, 416, 482, 484, 485, 502 or
 * 604, or when we answer one of those: a call would die of a refused INFO
 * or MESSAGE while the far end keeps it (FreeSWITCH's fork fixed this in
 * 2013, FS-5641).  nua asks this function what a response means, so ours
 * decides for nua: INFO, MESSAGE and OPTIONS never end a dialog, REFER,
 * NOTIFY and SUBSCRIBE end at most their own subscription, the rest
 * (INVITE, UPDATE, BYE, PRACK) means what the library says.
 * it_api_call_outgoing's test_failed_info_and_message_keep_the_call
 * guards it.
 */
/* As in <sofia-sip/sip_util.h>, whose sip_route_remove() clashes with ours. */
int sip_response_terminates_dialog(int status, sip_method_t method,
                                   int *graceful);

__attribute__((visibility("default"))) int
sip_response_terminates_dialog(int status, sip_method_t method, int *graceful)
{
    static int (*real)(int, sip_method_t, int *);  /* the library's */
    int r;

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "sip_response_terminates_dialog");
    r = real ? real(status, method, graceful) : 0;
    switch (method) {
    case sip_method_info:
    case sip_method_message:
    case sip_method_options:
        if (graceful)
            *graceful = 0;
        return 0;
    case sip_method_refer:
    case sip_method_notify:
    case sip_method_subscribe:
        return r < 0 ? 1 : r;
    default:
        return r;
    }
}

/* ---- CVE-2026-110658: a multipart boundary longer than the body ---- */

/*
 * msg_multipart_parse() compares the Content-Type's boundary with the
 * start of the body using the boundary's length, so a boundary longer than
 * the body reads past the end of the buffer (remote, unauthenticated, "up
 * to 1.13.18"; Debian 12's build is not patched).  Fuzzing it found two
 * more: a delimiter followed by anything but a line end (a NUL) trips an
 * assert() that Debian's build keeps, killing the process, and a body
 * without a boundary= parameter leaks.  nua calls it before the daemon sees
 * a message (in nua_stack_process_request and nua_client_orq_response);
 * with media off, the tests did not reach those calls, but nothing in the
 * library promises that.  So only a body with a boundary= parameter, at
 * least "--" boundary "--" long, whose delimiters all end their lines, is
 * parsed; anything else stays an opaque payload, which every capability
 * refuses by its Content-Type (415) or as malformed (400).
 * unit_sipfix, the mp_* rows of it_sip_malformed and
 * tests/fuzz/regress/fuzz_sip_message guard it.
 */
static size_t
sipfix_boundary(const msg_content_type_t *c, const char **b)
{
    const char *v = c ? msg_header_find_param(c->c_common, "boundary=") : NULL;
    size_t n;

    if (v == NULL)
        return 0;
    n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
        v++, n -= 2;
    *b = v;
    return n;
}

/* Every "--boundary" that is not the close delimiter ends its line. */
static int
sipfix_delimiters_end_lines(const char *b, size_t blen, const char *body,
                            size_t len)
{
    const char *end = body + len, *p = body;

    while ((p = memmem(p, (size_t)(end - p), b, blen)) != NULL) {
        const char *q = p + blen;

        if (p - body < 2 || p[-1] != '-' || p[-2] != '-') {
            p = q;
            continue;
        }
        if (end - q >= 2 && q[0] == '-' && q[1] == '-')
            return 1;                   /* close delimiter */
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (q == end || (*q != '\r' && *q != '\n'))
            return 0;
        p = q;
    }
    return 1;
}

__attribute__((visibility("default"))) msg_multipart_t *
msg_multipart_parse(su_home_t *home, msg_content_type_t const *c,
                    msg_payload_t *pl)
{
    static msg_multipart_t *(*real)(su_home_t *, msg_content_type_t const *,
                                    msg_payload_t *);
    const char *b = NULL;
    size_t blen = sipfix_boundary(c, &b);

    if (pl == NULL || pl->pl_data == NULL || blen == 0 ||
        blen + 4 > pl->pl_len ||
        !sipfix_delimiters_end_lines(b, blen, pl->pl_data, pl->pl_len))
        return NULL;
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "msg_multipart_parse");
    return real ? real(home, c, pl) : NULL;
}

/* ---- no blocking DNS on the loop ---- */

/*
 * nta answers some requests (505 to badvers, RFC 4475 3.1.2.16) before it
 * has put received= in the Via, and tport then resolves the Via's host
 * name with a blocking getaddrinfo(): one datagram naming a host whose
 * name server does not answer held the loop for 10 s in a test.  The
 * daemon's own addresses are IP literals (the config allows nothing else)
 * and nta resolves request targets through sresolv, asynchronously, so
 * every call that reaches here with a name is one of those: it fails at
 * once, as a name that does not resolve, and the response is not sent.
 * it_sip_rfc4475 (badvers) guards it.
 */
__attribute__((visibility("default"))) int
su_getaddrinfo(char const *node, char const *service,
               su_addrinfo_t const *hints, su_addrinfo_t **res)
{
    static int (*real)(char const *, char const *, su_addrinfo_t const *,
                       su_addrinfo_t **);
    su_addrinfo_t h;

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "su_getaddrinfo");
    if (real == NULL)
        return EAI_SYSTEM;
    if (hints)
        h = *hints;
    else
        memset(&h, 0, sizeof(h));
    h.ai_flags |= AI_NUMERICHOST;
    return real(node, service, &h, res);
}

/* ---- a TCP connection that stopped reading is closed ---- */

/*
 * On a stream, sofia's tport stops reading (tport_stall) after a message
 * it cannot parse or that is too large, and closes the connection once
 * nta has sent its 400 or 413.  When no answer can be sent (a request
 * line that does not parse, a NUL in the headers, binary junk: nta drops
 * it as garbage), the connection stays open and deaf until the idle
 * timeout, holding a descriptor: a cheap way to exhaust them.  Every
 * stall is therefore followed, SIPFIX_STALL_CLOSE_MS later, by a shutdown
 * of a connection still open.  The root is the one process-wide pointer
 * here, because the library calls us without any context of ours.
 * it_sip_malformed's garbage-over-TCP rows guard it.
 */
static su_root_t *sipfix_root;
/* Timers armed and not yet run: at shutdown they are destroyed with the
 * root still there (a pending timer would keep the root's port alive).
 * Beyond SIPFIX_MAX_STALLS at once, a stalled connection is closed at
 * once, without the grace for nta's answer. */
#define SIPFIX_MAX_STALLS 256
static su_timer_t *sipfix_stalls[SIPFIX_MAX_STALLS];

void
sipfix_set_root(su_root_t *root)
{
    if (root == NULL)
        for (size_t i = 0; i < SIPFIX_MAX_STALLS; i++) {
            su_timer_destroy(sipfix_stalls[i]);
            sipfix_stalls[i] = NULL;
        }
    sipfix_root = root;
}

static su_timer_t **
sipfix_stall_slot(const su_timer_t *t)
{
    for (size_t i = 0; i < SIPFIX_MAX_STALLS; i++)
        if (sipfix_stalls[i] == t)
            return &sipfix_stalls[i];
    return NULL;
}

static void
sipfix_stalled(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    tport_t *tp = (tport_t *)arg;
    su_timer_t **slot = sipfix_stall_slot(t);

    (void)magic;
    if (slot)
        *slot = NULL;
    if (!tport_is_closed(tp)) {
        log_info_limited("sip", "closing a TCP connection that sent what cannot be "
                 "parsed or answered");
        tport_shutdown(tp, 2);
    }
    tport_unref(tp);
    su_timer_destroy(t);
}

__attribute__((visibility("default"))) int
tport_stall(tport_t *self)
{
    static int (*real)(tport_t *);
    su_timer_t *t = NULL, **slot;
    int rc;

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "tport_stall");
    rc = real ? real(self) : -1;
    if (sipfix_root == NULL || !tport_is_stream(self) ||
        !tport_is_secondary(self))
        return rc;
    slot = sipfix_stall_slot(NULL);
    if (slot)
        t = su_timer_create(su_root_task(sipfix_root), SIPFIX_STALL_CLOSE_MS);
    if (t == NULL || su_timer_set(t, sipfix_stalled,
                                  (su_timer_arg_t *)tport_ref(self)) < 0) {
        tport_shutdown(self, 2);    /* no timer: close now, no 400 */
        if (t)
            tport_unref(self);
        su_timer_destroy(t);
        return rc;
    }
    *slot = t;
    return rc;
}

/* ---- a TLS connection's SSL object is freed ---- */

/*
 * Debian's tls_free() calls SSL_shutdown() on a connection's SSL but never
 * SSL_free(): every TLS connection ever accepted or made leaked its SSL
 * object, about 100 KB with its buffers (LeakSanitizer, it_sip_tls), a
 * remote way to grow the daemon.  Later sofia-sip frees it
 * (tport_tls_free).  The leak hid a second bug: a connection's tls_free()
 * also drops a reference to the listener's shared SSL_CTX, which only the
 * leaked SSL objects' own references kept alive.  This override frees a
 * connection's SSL (which owns its BIO) and clears con, bio_con and ctx,
 * so that the library's tls_free() then frees only the rest; the
 * listener's (no con) goes to the library untouched.  Only the start of tport_tls.c's
 * struct tls_s is used: a su_home_t, then SSL_CTX *, SSL *, BIO * (offsets
 * 0x18, 0x20, 0x28 in Debian 12's build, read off its disassembly).
 * OpenSSL's functions are looked up at run time: the daemon does not link
 * libssl itself.  it_sip_tls under ASan (leak check) guards it.
 */
struct sipfix_tls {
    su_home_t home[1];
    void *ctx;
    void *con;
    void *bio_con;
};

void tls_free(struct sipfix_tls *tls);

__attribute__((visibility("default"))) void
tls_free(struct sipfix_tls *tls)
{
    static void (*real)(struct sipfix_tls *);
    static int (*ssl_shutdown)(void *);
    static void (*ssl_free)(void *);
    static void (*err_clear)(void);

    if (real == NULL) {
        *(void **)&real = dlsym(RTLD_NEXT, "tls_free");
        *(void **)&ssl_shutdown = dlsym(RTLD_DEFAULT, "SSL_shutdown");
        *(void **)&ssl_free = dlsym(RTLD_DEFAULT, "SSL_free");
        *(void **)&err_clear = dlsym(RTLD_DEFAULT, "ERR_clear_error");
    }
    if (tls && tls->con && ssl_shutdown && ssl_free && err_clear) {
        /* -1: never established; its error must not stay queued for the
         * next connection's checks. */
        if (ssl_shutdown(tls->con) < 0)
            err_clear();
        ssl_free(tls->con);
        tls->con = NULL;
        tls->bio_con = NULL;
        tls->ctx = NULL;            /* the listener's, not this one's */
    }
    if (real)
        real(tls);
}

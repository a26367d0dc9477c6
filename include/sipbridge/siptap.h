/*
 * siptap.h - every SIP message the stack sends or receives, shown to one
 * hook, and the stack's transaction counts: what metrics report.
 *
 * nta gives every message it sends to tport_tsend() and tport gives every
 * complete message it reads to tport_deliver(), both through the PLT, so
 * the executable's definitions (src/core/siptap.c, exported as sipfix's
 * are: see CMakeLists.txt) see each one, retransmissions included, before
 * the library's own run.  They also remember the nta agent nua creates,
 * whose statistics count transactions in flight.  sip_create() sets the
 * hook and sip_destroy() clears it; without one the overrides only pass
 * through.  Loop thread only (nua shares it).
 */
#ifndef SIPBRIDGE_SIPTAP_H
#define SIPBRIDGE_SIPTAP_H

#include <stddef.h>

#include <sofia-sip/sip.h>

/* @p sent: 1 for a message sent, 0 for one received.  @p sip is valid
 * during the call only. */
typedef void (*siptap_cb)(void *arg, const sip_t *sip, int sent);

/** Find the library's own functions.  @return 0, or -ENOSYS. */
int siptap_init(void);

/** Show every message to @p cb from now on (NULL: to nobody). */
void siptap_set_hook(siptap_cb cb, void *arg);

struct siptap_transactions {
    size_t server;      /* incoming requests not yet terminated */
    size_t client;      /* outgoing requests not yet terminated */
    size_t legs;        /* dialog legs nta keeps */
};

/** @return 0 and @p out, or -ENOENT before nua has created its agent. */
int siptap_transactions(struct siptap_transactions *out);

#endif

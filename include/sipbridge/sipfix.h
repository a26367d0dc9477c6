/*
 * sipfix.h - sofia-sip functions the daemon overrides for nua (see
 * src/core/sipfix.c for each and why).  Most need nothing from the
 * daemon; closing stalled TCP connections needs timers on the loop's
 * root, handed over once by sip_create() and taken back by sip_destroy().
 */
#ifndef SIPBRIDGE_SIPFIX_H
#define SIPBRIDGE_SIPFIX_H

#include <sofia-sip/su_wait.h>

/* How long a stream sofia stopped reading stays open: time for nta's 400. */
#define SIPFIX_STALL_CLOSE_MS 2000

/** Give the overrides the loop's root (NULL: none, at shutdown). */
void sipfix_set_root(su_root_t *root);

#endif

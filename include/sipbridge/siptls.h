/*
 * siptls.h - the TLS listener's files and verification settings.
 *
 * sofia-sip 1.12 reads its TLS identity from a directory: agent.pem (the
 * private key and the certificate chain, one file) and cafile.pem (the
 * CAs that peers' certificates are checked against).  siptls builds that
 * directory under state_dir from the transport's cert_file, priv_key_file
 * and ca_file, and turns verify_client/verify_server/verify_depth into
 * sofia's TPTAG_TLS_VERIFY_* values.  Used by sip.c at start; loop thread.
 */
#ifndef SIPBRIDGE_SIPTLS_H
#define SIPBRIDGE_SIPTLS_H

#include <stddef.h>

#include "sipbridge/cfg.h"

/* Where CAs come from without ca_file: Debian's ca-certificates bundle. */
#define SIPTLS_SYSTEM_CAS "/etc/ssl/certs/ca-certificates.crt"

/**
 * Write @p state_dir/tls/{agent.pem,cafile.pem} (mode 0600 in a 0700
 * directory) for @p t, and its path into @p dir.
 * @return 0, or -errno (logged, naming the file).
 */
int siptls_prepare(const struct cfg_transport *t, const char *state_dir,
                   char *dir, size_t len);

/** sofia's TPTLS_VERIFY_* policy for @p t. */
unsigned siptls_policy(const struct cfg_transport *t);

#endif

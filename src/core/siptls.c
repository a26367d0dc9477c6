/*
 * siptls.c - sofia-sip's TLS directory, built from the config's files.
 *
 * The files are copied, not linked: agent.pem must hold key and chain
 * together, and a copy taken at start means a certificate renewed on disk
 * is picked up at the next restart, never half-way through a write.
 */
#include "sipbridge/siptls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sofia-sip/tport_tag.h>

#include "sipbridge/log.h"

/* Append the whole of @p path to @p out.  @return 0 or -errno (logged). */
static int
siptls_copy(FILE *out, const char *path, const char *what)
{
    FILE *in = fopen(path, "r");
    char buf[8192];
    size_t n;
    int rc = 0;

    if (in == NULL) {
        rc = -errno;
        log_err("sip", "TLS %s %s: %s", what, path, strerror(errno));
        return rc;
    }
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, out) != n) {
            rc = -EIO;
            break;
        }
    if (ferror(in))
        rc = -EIO;
    fclose(in);
    if (rc != 0)
        log_err("sip", "TLS %s %s: cannot copy", what, path);
    return rc;
}

/* Write @p dir/@p name from the files in @p src (NULL-terminated). */
static int
siptls_write(const char *dir, const char *name, const char *const *src,
             const char *const *what)
{
    char path[4096], tmp[4200];
    FILE *out;
    int fd, rc = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (out = fdopen(fd, "w")) == NULL) {
        rc = -errno;
        log_err("sip", "TLS: cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    for (size_t i = 0; src[i] && rc == 0; i++)
        rc = siptls_copy(out, src[i], what[i]);
    if (fclose(out) != 0 && rc == 0) {
        rc = -errno;
        log_err("sip", "TLS: cannot write %s: %s", tmp, strerror(errno));
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -errno;
        log_err("sip", "TLS: cannot rename %s: %s", tmp, strerror(errno));
    }
    if (rc != 0)
        unlink(tmp);
    return rc;
}

int
siptls_prepare(const struct cfg_transport *t, const char *state_dir,
               char *dir, size_t len)
{
    const char *agent[] = { t->priv_key_file, t->cert_file, NULL };
    const char *agent_what[] = { "priv_key_file", "cert_file" };
    const char *ca[] = { t->ca_file, NULL };
    const char *ca_what[] = { "ca_file" };
    int rc;

    if (ca[0] == NULL)
        ca[0] = access(SIPTLS_SYSTEM_CAS, R_OK) == 0 ? SIPTLS_SYSTEM_CAS
                                                     : t->cert_file;
    snprintf(dir, len, "%s/tls", state_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = -errno;
        log_err("sip", "TLS: cannot create %s: %s", dir, strerror(errno));
        return rc;
    }
    chmod(dir, 0700);
    rc = siptls_write(dir, "agent.pem", agent, agent_what);
    if (rc == 0)
        rc = siptls_write(dir, "cafile.pem", ca, ca_what);
    return rc;
}

unsigned
siptls_policy(const struct cfg_transport *t)
{
    return (t->verify_client ? TPTLS_VERIFY_IN : 0) |
           (t->verify_server ? TPTLS_VERIFY_OUT : 0);
}

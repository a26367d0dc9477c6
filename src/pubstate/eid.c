/*
 * eid.c - the instance's entity id; see pubstate_eid.h.
 *
 * Each helper logs its own failure, so every error is logged exactly once
 * and the caller only passes the code up.
 */
#include "sipbridge/pubstate_eid.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sipbridge/log.h"

#define EID_LOG "pubstate"

/* Longer than any file we accept, so a longer one is caught. */
#define EID_READ_MAX 64

static int
eid_fail(int err, const char *what, const char *path)
{
    log_err(EID_LOG, "entity id: %s %s: %s", what, path, strerror(err));
    return -err;
}

/* @return bytes read into @p buf (NUL-terminated), or -errno. */
static ssize_t
eid_read_all(int fd, char *buf, size_t size)
{
    size_t len = 0;

    while (len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

/* @return 0 and *out, 1 if there is no file, or -errno. */
static int
eid_read_file(const char *path, struct pubstate_eid *out)
{
    char buf[EID_READ_MAX];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? 1 : eid_fail(errno, "cannot open", path);
    n = eid_read_all(fd, buf, sizeof(buf));
    close(fd);
    if (n < 0)
        return eid_fail((int)-n, "cannot read", path);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if ((size_t)n != strlen(buf) || pubstate_eid_parse(buf, out) != 0) {
        log_err(EID_LOG, "entity id: %s is not xx:xx:xx:xx:xx:xx; fix or "
                "remove it (peers know this instance by it)", path);
        return -EINVAL;
    }
    return 0;
}

static int
eid_generate(struct pubstate_eid *out)
{
    ssize_t n;

    do
        n = getrandom(out->b, sizeof(out->b), 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(out->b)) {
        int err = n < 0 ? errno : EIO;

        log_err(EID_LOG, "entity id: getrandom: %s", strerror(err));
        return -err;
    }
    out->b[0] = (uint8_t)((out->b[0] | 0x02) & ~0x01);
    return 0;
}

static int
eid_write_all(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, s, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Write the id to the open temp file @p fd, durably; closes @p fd. */
static int
eid_fill_temp(int fd, const char *tmp, const struct pubstate_eid *eid)
{
    char text[PUBSTATE_EID_STRLEN + 1];
    int rc;

    pubstate_eid_format(eid, text);
    strcat(text, "\n");
    rc = fchmod(fd, 0644) != 0 ? -errno : 0;
    if (rc == 0)
        rc = eid_write_all(fd, text, strlen(text));
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    return rc == 0 ? 0 : eid_fail(-rc, "cannot write", tmp);
}

/* Without this the rename may not survive a crash, and the id with it. */
static int
eid_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return eid_fail(errno, "cannot open", dir);
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = eid_fail(errno, "cannot fsync", dir);
    close(fd);
    return rc;
}

static int
eid_write_file(const char *dir, const char *path,
               const struct pubstate_eid *eid)
{
    char tmp[PATH_MAX];
    int fd, rc;

    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return eid_fail(errno, "cannot create", dir);
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
        return eid_fail(ENAMETOOLONG, "path too long:", path);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return eid_fail(errno, "cannot create a temporary file in", dir);
    rc = eid_fill_temp(fd, tmp, eid);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = eid_fail(errno, "cannot rename to", path);
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    return eid_sync_dir(dir);
}

static int
eid_from_state(const char *dir, struct pubstate_eid *out, const char **src)
{
    char path[PATH_MAX];
    struct pubstate_eid eid;
    int rc;

    if (dir == NULL || dir[0] == '\0') {
        log_err(EID_LOG, "entity id: no entity_id and no state_dir to keep "
                "one in");
        return -EINVAL;
    }
    if (snprintf(path, sizeof(path), "%s/%s", dir, PUBSTATE_EID_FILE) >=
        (int)sizeof(path))
        return eid_fail(ENAMETOOLONG, "path too long:", dir);
    rc = eid_read_file(path, &eid);
    *src = "file";
    if (rc == 1) {
        rc = eid_generate(&eid);
        if (rc == 0)
            rc = eid_write_file(dir, path, &eid);
        *src = "generated";
    }
    if (rc == 0)
        *out = eid;
    return rc;
}

int
pubstate_eid_load(const char *configured, const char *state_dir,
                  struct pubstate_eid *out, const char **source)
{
    const char *src = "config";
    int rc = 0;

    if (out == NULL)
        return -EINVAL;
    if (configured != NULL && configured[0] != '\0') {
        rc = pubstate_eid_parse(configured, out);
        if (rc != 0)
            log_err(EID_LOG, "entity id: entity_id '%s' is not "
                    "xx:xx:xx:xx:xx:xx", configured);
    } else {
        rc = eid_from_state(state_dir, out, &src);
    }
    if (rc == 0 && source != NULL)
        *source = src;
    return rc;
}

/*
 * fuzz_common.h - what the libFuzzer harnesses share: splitting an input
 * into fields, a private temporary directory, and invariant checks that
 * abort (libFuzzer then saves the input as a crash).
 *
 * Harnesses never write outside the directory fuzz_tmpdir() makes under
 * $TMPDIR (tests/fuzz/run points TMPDIR at its own work directory), and
 * remove it at exit.
 */
#ifndef SIPBRIDGE_FUZZ_COMMON_H
#define SIPBRIDGE_FUZZ_COMMON_H

#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sipbridge/log.h"

/*
 * Messages of the checks go where the sanitizers report (the same stream
 * as the stack trace, also under libFuzzer's -close_fd_mask=2, which the
 * control-socket harness uses to keep the daemon's log out of its output).
 */
void __sanitizer_report_error_summary(const char *error_summary)
    __attribute__((weak));

__attribute__((format(printf, 1, 2))) static inline void
fuzz_say(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (__sanitizer_report_error_summary)
        __sanitizer_report_error_summary(buf);
    else
        fprintf(stderr, "%s\n", buf);
}

/* An invariant of the code under test does not hold: report and abort. */
#define FUZZ_CHECK(cond, ...)                                                 \
    do {                                                                      \
        if (!(cond)) {                                                        \
            char what_[2048];                                                 \
            snprintf(what_, sizeof(what_), __VA_ARGS__);                      \
            fuzz_say("FUZZ_CHECK failed at %s:%d: %s\n  %s", __FILE__,        \
                     __LINE__, #cond, what_);                                 \
            abort();                                                          \
        }                                                                     \
    } while (0)

/*
 * An invariant that a known, reported defect of the code under test breaks
 * (tests/fuzz/regress/<harness>/ holds an input and README.md says what
 * is wrong): said once per process and fuzzing goes on, so that the
 * harness keeps finding other things; SB_FUZZ_STRICT=1 makes it abort like
 * FUZZ_CHECK (tests/fuzz/run replays the regress inputs that way).  Once
 * the defect is fixed, turn it back into a FUZZ_CHECK.
 */
#define FUZZ_KNOWN(cond, id, ...)                                             \
    do {                                                                      \
        static int fuzz_known_said_;                                          \
        if (!(cond)) {                                                        \
            char what_[2048];                                                 \
            snprintf(what_, sizeof(what_), __VA_ARGS__);                      \
            if (fuzz_strict()) {                                              \
                fuzz_say("FUZZ_CHECK failed (known defect %s) at %s:%d: "     \
                         "%s\n  %s", id, __FILE__, __LINE__, #cond, what_);   \
                abort();                                                      \
            }                                                                 \
            if (!fuzz_known_said_++)                                          \
                fuzz_say("FUZZ_KNOWN %s at %s:%d (known defect, not fatal; "  \
                         "SB_FUZZ_STRICT=1 aborts): %s", id, __FILE__,        \
                         __LINE__, #cond);                                    \
        }                                                                     \
    } while (0)

/* SB_FUZZ_STRICT=1: known defects abort too. */
static inline int
fuzz_strict(void)
{
    const char *s = getenv("SB_FUZZ_STRICT");

    return s != NULL && strcmp(s, "1") == 0;
}

/*
 * The input as up to @p max NUL-terminated fields split at @p sep; the last
 * field takes the rest of the input, separators included.  Missing fields
 * are NULL.  @return the buffer holding them (free it), or NULL (ENOMEM).
 * lens[] (may be NULL) gets each field's length: a field may hold NULs.
 */
static inline char *
fuzz_fields(const uint8_t *data, size_t size, char sep, char **fields,
            size_t *lens, size_t max)
{
    char *buf = malloc(size + 1), *p, *end;
    size_t i;

    if (buf == NULL)
        return NULL;
    if (size)
        memcpy(buf, data, size);
    buf[size] = '\0';
    for (i = 0; i < max; i++) {
        fields[i] = NULL;
        if (lens)
            lens[i] = 0;
    }
    p = buf;
    end = buf + size;
    for (i = 0; i < max; i++) {
        char *s = i + 1 < max ? memchr(p, sep, (size_t)(end - p)) : NULL;

        fields[i] = p;
        if (s == NULL) {
            if (lens)
                lens[i] = (size_t)(end - p);
            break;
        }
        *s = '\0';
        if (lens)
            lens[i] = (size_t)(s - p);
        p = s + 1;
    }
    return buf;
}

/* A NUL-terminated copy of the input (cut at its first NUL, as a C string
 * from the wire would be).  @return it (free it) or NULL. */
static inline char *
fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        return NULL;
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static char fuzz_dir[PATH_MAX];

/* Empty fuzz_dir (one level of subdirectories) and remove it. */
static inline void
fuzz_rmtree_level(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (unlink(path) != 0 && depth > 0)
            fuzz_rmtree_level(path, depth - 1);
    }
    closedir(d);
    rmdir(dir);
}

static inline void
fuzz_tmpdir_remove(void)
{
    if (fuzz_dir[0])
        fuzz_rmtree_level(fuzz_dir, 1);
}

/* mkdtemp under $TMPDIR (else /tmp), removed at exit.  @return the path,
 * or abort: a harness without its directory must not run. */
static inline const char *
fuzz_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");

    if (fuzz_dir[0])
        return fuzz_dir;
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/sbfuzz-%s-XXXXXX", base, tag);
    if (mkdtemp(fuzz_dir) == NULL) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_tmpdir_remove);
    return fuzz_dir;
}

/* Our log at error level only, unless SB_FUZZ_LOG names a level: the
 * harnesses run millions of inputs through code that logs peer faults. */
static inline void
fuzz_quiet_log(void)
{
    const char *lv = getenv("SB_FUZZ_LOG");
    int level = lv ? log_level_parse(lv) : -1;

    log_set_level(level >= 0 ? level : LOG_LVL_ERR);
}

/* A strict UTF-8 check (no overlong forms, surrogates, > U+10FFFF). */
static inline int
fuzz_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i], more;
        unsigned long cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            more = 1, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            more = 2, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            more = 3, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if (i + more >= n)
            return 0;
        for (unsigned k = 1; k <= more; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += more + 1;
    }
    return 1;
}

#endif

/*
 * ini.c - the INI reader (pjsip.conf dialect); see ini.h for the syntax.
 *
 * A file is read whole, split into lines in place and parsed line by line.
 * Includes recurse with a stack of the files being read (for cycles and
 * the depth limit).  An included file continues the section that was open
 * at its #include, as in Asterisk, but the including file keeps its own
 * section afterwards: what a reader sees in one file is what it gets.
 */
#include "sipbridge/ini.h"

#include "sipbridge/cfg.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INI_MAX_DEPTH 16
#define INI_MAX_FILE  (16u * 1024 * 1024)
#define INI_NO_SECTION SIZE_MAX

struct ini_ctx {
    struct ini_doc *doc;
    struct cfg_errors *errs;
    size_t nerrs;                        /* errors added by this load */
    char *stack[INI_MAX_DEPTH + 1];      /* real paths being read */
    size_t depth;
};

static int ini_read_file(struct ini_ctx *ctx, const char *path, size_t sec,
                         const char *from, unsigned fromline);

static void
ini_error(struct ini_ctx *ctx, const char *file, unsigned line,
          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
ini_error(struct ini_ctx *ctx, const char *file, unsigned line,
          const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfg_errors_vadd(ctx->errs, file, line, fmt, ap);
    va_end(ap);
    ctx->nerrs++;
}

/*
 * @return @p arr, or it reallocated to hold element n, or NULL.  The
 * capacity is implicit (the next power of two), so the public structs
 * need no capacity fields.
 */
static void *
ini_grow(void *arr, size_t n, size_t size)
{
    if (n != 0 && (n & (n - 1)) != 0)
        return arr;
    if (n > SIZE_MAX / 2 / size)
        return NULL;
    return realloc(arr, (n ? 2 * n : 1) * size);
}

static char *
ini_trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    *e = '\0';
    return s;
}

/* Cut the line at an unescaped ';' and turn "\;" into ';'. */
static void
ini_strip_comment(char *s)
{
    char *w = s;

    for (; *s != '\0'; s++) {
        if (s[0] == '\\' && s[1] == ';') {
            *w++ = ';';
            s++;
            continue;
        }
        if (*s == ';')
            break;
        *w++ = *s;
    }
    *w = '\0';
}

/* @return the file name as stored in the document (one copy per path). */
static const char *
ini_add_file(struct ini_doc *doc, const char *path)
{
    char *copy, **files;

    for (size_t i = 0; i < doc->nfiles; i++)
        if (strcmp(doc->files[i], path) == 0)
            return doc->files[i];
    files = ini_grow(doc->files, doc->nfiles, sizeof(*files));
    if (files == NULL)
        return NULL;
    doc->files = files;
    copy = strdup(path);
    if (copy == NULL)
        return NULL;
    doc->files[doc->nfiles++] = copy;
    return copy;
}

static int
ini_add_section(struct ini_doc *doc, const char *name, const char *file,
                unsigned line)
{
    struct ini_section *sec;

    sec = ini_grow(doc->sections, doc->nsections, sizeof(*sec));
    if (sec == NULL)
        return -ENOMEM;
    doc->sections = sec;
    sec = &doc->sections[doc->nsections];
    memset(sec, 0, sizeof(*sec));
    sec->name = strdup(name);
    if (sec->name == NULL)
        return -ENOMEM;
    sec->file = file;
    sec->line = line;
    doc->nsections++;
    return 0;
}

static int
ini_add_entry(struct ini_section *sec, const char *key, const char *value,
              const char *file, unsigned line)
{
    struct ini_entry *e;
    char *k, *v;

    e = ini_grow(sec->entries, sec->nentries, sizeof(*e));
    if (e == NULL)
        return -ENOMEM;
    sec->entries = e;
    k = strdup(key);
    v = strdup(value);
    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return -ENOMEM;
    }
    e = &sec->entries[sec->nentries++];
    e->key = k;
    e->value = v;
    e->file = file;
    e->line = line;
    return 0;
}

/* "[name]": @return 0, -EINVAL (reported) or -ENOMEM. */
static int
ini_parse_header(struct ini_ctx *ctx, char *s, const char *file,
                 unsigned line, size_t *sec)
{
    char *end = strchr(s, ']');
    char *name, *rest;
    int rc;

    if (end == NULL) {
        ini_error(ctx, file, line, "missing ']' in section header '%s'", s);
        return -EINVAL;
    }
    *end = '\0';
    name = ini_trim(s + 1);
    rest = ini_trim(end + 1);
    if (*rest == '(') {
        ini_error(ctx, file, line, "[%s]: section templates '%s' are not "
                  "supported", name, rest);
        return -EINVAL;
    }
    if (*rest != '\0') {
        ini_error(ctx, file, line, "[%s]: unexpected text '%s' after ']'",
                  name, rest);
        return -EINVAL;
    }
    if (*name == '\0') {
        ini_error(ctx, file, line, "empty section name '[]'");
        return -EINVAL;
    }
    rc = ini_add_section(ctx->doc, name, file, line);
    if (rc == 0)
        *sec = ctx->doc->nsections - 1;
    return rc;
}

/* "key = value" or "key => value" into section @p sec. */
static int
ini_parse_entry(struct ini_ctx *ctx, char *s, const char *file,
                unsigned line, size_t sec)
{
    char *eq = strchr(s, '=');
    char *key, *value;

    if (eq == NULL) {
        ini_error(ctx, file, line, "expected 'key = value', '[section]' or "
                  "'#include', got '%s'", s);
        return -EINVAL;
    }
    *eq = '\0';
    value = eq + 1;
    if (*value == '>')
        value++;
    key = ini_trim(s);
    value = ini_trim(value);
    if (*key == '\0') {
        ini_error(ctx, file, line, "missing key before '='");
        return -EINVAL;
    }
    if (sec == INI_NO_SECTION) {
        ini_error(ctx, file, line, "key '%s' outside of any [section]", key);
        return -EINVAL;
    }
    return ini_add_entry(&ctx->doc->sections[sec], key, value, file, line);
}

/* The including file's directory joined with @p name, unless absolute. */
static char *
ini_join_path(const char *from, const char *name)
{
    const char *slash = strrchr(from, '/');
    char *path;

    if (name[0] == '/' || slash == NULL)
        return strdup(name);
    if (asprintf(&path, "%.*s/%s", (int)(slash - from), from, name) < 0)
        return NULL;
    return path;
}

/* A missing directory is just no match; an unreadable one is an error. */
static int
ini_glob_error(const char *path, int err)
{
    (void)path;
    return err != ENOENT && err != ENOTDIR;
}

static int
ini_include_glob(struct ini_ctx *ctx, const char *pattern, size_t sec,
                 const char *file, unsigned line)
{
    glob_t g;
    int rc = 0, grc;

    grc = glob(pattern, 0, ini_glob_error, &g);
    if (grc == GLOB_NOSPACE)
        rc = -ENOMEM;
    else if (grc == GLOB_ABORTED)
        ini_error(ctx, file, line, "#include '%s': cannot read a directory "
                  "on the way", pattern);
    for (size_t i = 0; grc == 0 && i < g.gl_pathc && rc != -ENOMEM; i++)
        rc = ini_read_file(ctx, g.gl_pathv[i], sec, file, line);
    globfree(&g);
    return rc == -ENOMEM ? rc : 0;
}

/* "#include FILE", FILE optionally in "" or <>. */
static int
ini_parse_include(struct ini_ctx *ctx, char *arg, const char *file,
                  unsigned line, size_t sec)
{
    size_t len;
    char *path;
    int rc;

    ini_strip_comment(arg);
    arg = ini_trim(arg);
    len = strlen(arg);
    if (len >= 2 && ((arg[0] == '"' && arg[len - 1] == '"') ||
                     (arg[0] == '<' && arg[len - 1] == '>'))) {
        arg[len - 1] = '\0';
        arg++;
    }
    if (*arg == '\0') {
        ini_error(ctx, file, line, "#include without a file name");
        return -EINVAL;
    }
    path = ini_join_path(file, arg);
    if (path == NULL)
        return -ENOMEM;
    if (strpbrk(arg, "*?[") != NULL)
        rc = ini_include_glob(ctx, path, sec, file, line);
    else
        rc = ini_read_file(ctx, path, sec, file, line);
    free(path);
    return rc == -ENOMEM ? rc : 0;
}

/* One line; *sec is the open section.  Reported errors return 0. */
static int
ini_parse_line(struct ini_ctx *ctx, char *s, const char *file,
               unsigned line, size_t *sec)
{
    int rc = 0;

    s = ini_trim(s);
    if (strncmp(s, "#include", 8) == 0 &&
        (s[8] == ' ' || s[8] == '\t' || s[8] == '"' || s[8] == '<'))
        return ini_parse_include(ctx, s + 8, file, line, *sec);
    if (*s == '#' || *s == ';')
        return 0;
    ini_strip_comment(s);
    s = ini_trim(s);
    if (*s == '\0')
        return 0;
    if (*s == '[')
        rc = ini_parse_header(ctx, s, file, line, sec);
    else
        rc = ini_parse_entry(ctx, s, file, line, *sec);
    return rc == -ENOMEM ? rc : 0;
}

/* Parse @p buf (NUL-terminated, modified in place) as file @p file. */
static int
ini_parse(struct ini_ctx *ctx, char *buf, size_t len, const char *file,
          size_t sec)
{
    char *p = buf, *end = buf + len, *nl;
    unsigned line = 0;
    int rc = 0;

    while (p < end && rc == 0) {
        line++;
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            nl = end;
        *nl = '\0';
        if (strlen(p) != (size_t)(nl - p))
            ini_error(ctx, file, line, "NUL byte in line");
        else
            rc = ini_parse_line(ctx, p, file, line, &sec);
        p = nl + 1;
    }
    return rc;
}

static int
ini_slurp(FILE *fp, char **out, size_t *outlen)
{
    size_t len = 0, cap = 0, n;
    char *buf = NULL, *q;

    do {
        if (cap - len < 4096) {
            if (cap > INI_MAX_FILE) {
                free(buf);
                return -EFBIG;
            }
            cap = cap ? 2 * cap : 8192;
            q = realloc(buf, cap + 1);
            if (q == NULL) {
                free(buf);
                return -ENOMEM;
            }
            buf = q;
        }
        n = fread(buf + len, 1, cap - len, fp);
        len += n;
    } while (n > 0);
    if (ferror(fp)) {
        free(buf);
        return errno ? -errno : -EIO;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

/*
 * Read @p path into a buffer.  @p from/@p fromline say where it was
 * included (NULL for the top file), which is where errors point.
 */
static int
ini_read_buffer(struct ini_ctx *ctx, const char *path, const char *from,
                unsigned fromline, char **buf, size_t *len)
{
    FILE *fp;
    int rc;

    fp = fopen(path, "re");
    if (fp == NULL) {
        rc = -errno;
    } else {
        rc = ini_slurp(fp, buf, len);
        fclose(fp);
    }
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0 && from != NULL)
        ini_error(ctx, from, fromline, "#include '%s': %s", path,
                  strerror(-rc));
    else if (rc < 0)
        ini_error(ctx, path, 0, "cannot read: %s", strerror(-rc));
    return rc;
}

/* Push @p path on the include stack unless that makes a cycle or too deep. */
static int
ini_push(struct ini_ctx *ctx, const char *path, const char *from,
         unsigned fromline)
{
    char *real = realpath(path, NULL);

    if (real == NULL && errno == ENOMEM)
        return -ENOMEM;
    if (real == NULL && (real = strdup(path)) == NULL)
        return -ENOMEM;
    if (ctx->depth > INI_MAX_DEPTH) {
        ini_error(ctx, from, fromline, "#include '%s': includes nested "
                  "deeper than %d", path, INI_MAX_DEPTH);
        free(real);
        return -EINVAL;
    }
    for (size_t i = 0; i < ctx->depth; i++) {
        if (strcmp(ctx->stack[i], real) == 0) {
            ini_error(ctx, from, fromline, "#include '%s': include cycle "
                      "('%s' is already being read)", path, real);
            free(real);
            return -EINVAL;
        }
    }
    ctx->stack[ctx->depth++] = real;
    return 0;
}

static void
ini_pop(struct ini_ctx *ctx)
{
    free(ctx->stack[--ctx->depth]);
}

static int
ini_read_file(struct ini_ctx *ctx, const char *path, size_t sec,
              const char *from, unsigned fromline)
{
    const char *file;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    rc = ini_push(ctx, path, from, fromline);
    if (rc < 0)
        return rc;
    rc = ini_read_buffer(ctx, path, from, fromline, &buf, &len);
    if (rc < 0)
        goto out;
    file = ini_add_file(ctx->doc, path);
    rc = file ? ini_parse(ctx, buf, len, file, sec) : -ENOMEM;
out:
    free(buf);
    ini_pop(ctx);
    return rc;
}

/* Common tail of both loaders: hand out the document or drop it. */
static int
ini_finish(struct ini_ctx *ctx, int rc, struct ini_doc **out)
{
    if (rc == 0 && ctx->nerrs > 0)
        rc = -EINVAL;
    if (rc < 0) {
        ini_free(ctx->doc);
        return rc;
    }
    *out = ctx->doc;
    return 0;
}

int
ini_load(const char *path, struct ini_doc **out, struct cfg_errors *errs)
{
    struct ini_ctx ctx = { .errs = errs };
    int rc;

    ctx.doc = calloc(1, sizeof(*ctx.doc));
    if (ctx.doc == NULL)
        return -ENOMEM;
    rc = ini_read_file(&ctx, path, INI_NO_SECTION, NULL, 0);
    if (rc < 0 && rc != -ENOMEM)
        rc = -EINVAL;
    return ini_finish(&ctx, rc, out);
}

int
ini_load_buffer(const char *name, const char *buf, size_t len,
                struct ini_doc **out, struct cfg_errors *errs)
{
    struct ini_ctx ctx = { .errs = errs };
    const char *file;
    char *copy = NULL;
    int rc = -ENOMEM;

    ctx.doc = calloc(1, sizeof(*ctx.doc));
    if (ctx.doc == NULL)
        return -ENOMEM;
    copy = malloc(len + 1);
    file = ini_add_file(ctx.doc, name);
    if (copy == NULL || file == NULL)
        goto out;
    memcpy(copy, buf, len);
    copy[len] = '\0';
    rc = ini_push(&ctx, name, NULL, 0);
    if (rc < 0)
        goto out;
    rc = ini_parse(&ctx, copy, len, file, INI_NO_SECTION);
    ini_pop(&ctx);
out:
    free(copy);
    return ini_finish(&ctx, rc, out);
}

void
ini_free(struct ini_doc *doc)
{
    if (doc == NULL)
        return;
    for (size_t i = 0; i < doc->nsections; i++) {
        struct ini_section *sec = &doc->sections[i];

        for (size_t j = 0; j < sec->nentries; j++) {
            free(sec->entries[j].key);
            free(sec->entries[j].value);
        }
        free(sec->entries);
        free(sec->name);
    }
    free(doc->sections);
    for (size_t i = 0; i < doc->nfiles; i++)
        free(doc->files[i]);
    free(doc->files);
    free(doc);
}

const struct ini_entry *
ini_find(const struct ini_section *sec, const char *key)
{
    for (size_t i = sec->nentries; i > 0; i--)
        if (strcmp(sec->entries[i - 1].key, key) == 0)
            return &sec->entries[i - 1];
    return NULL;
}

const char *
ini_get(const struct ini_section *sec, const char *key)
{
    const struct ini_entry *e = ini_find(sec, key);

    return e ? e->value : NULL;
}

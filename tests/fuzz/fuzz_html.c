/*
 * fuzz_html.c - chat text made safe to relay (include/sipbridge/chat_text.h):
 * the HTML sanitizer chat_html_sanitize and chat_display_name_safe.
 *
 * Input: the HTML body (binary); the display name is the same bytes up
 * to the first NUL, as sofia hands a display name over.
 *
 * Checks, from the header's promises:
 *  - sanitize: output NUL-terminated, *outlen its length (no NUL inside),
 *    at most 5x the input + 1, sanitizing it again gives it back, and no
 *    removed element (script, style, iframe, object, embed, template,
 *    noscript, svg, math) nor any tag with attributes comes out;
 *  - display name: the length returned is strlen of the output and fits
 *    the buffer, the output is strict UTF-8 with every '"' and '\'
 *    escaped, no control character (C0, DEL, C1), no U+2028/2029 or bidi
 *    override, at most 64 characters, no space at either end, and making
 *    it safe again gives it back.  Buffer sizes: 256 (the relay's),
 *    CHAT_DISPLAY_NAME_SIZE, and a small one taken from the input length.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_common.h"
#include "sipbridge/chat_text.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_log();
    return 0;
}

static const char *const removed[] = {
    "script", "style", "iframe", "object", "embed", "template", "noscript",
    "svg", "math", NULL
};

/* Every '<' of the output starts "<name>" or "</name>" of lower-case
 * letters and digits, never a removed element. */
static void
check_tags(const char *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        size_t j, k;

        if (out[i] != '<')
            continue;
        j = i + 1 + (i + 1 < len && out[i + 1] == '/');
        for (k = j; k < len && (islower((unsigned char)out[k]) ||
                                isdigit((unsigned char)out[k])); k++)
            ;
        FUZZ_CHECK(k > j && k < len && out[k] == '>',
                   "a tag that is not bare at %zu: %.60s", i, out + i);
        for (size_t r = 0; removed[r]; r++)
            FUZZ_CHECK(!(k - j == strlen(removed[r]) &&
                         strncmp(out + j, removed[r], k - j) == 0),
                       "<%s> survived", removed[r]);
    }
}

static void
sanitize(const uint8_t *data, size_t size)
{
    char *out = NULL, *again = NULL;
    size_t outlen = 0, againlen = 0;
    int rc = chat_html_sanitize((const char *)data, size, &out, &outlen);

    FUZZ_CHECK(rc == 0 || rc == -ENOMEM, "chat_html_sanitize returned %d",
               rc);
    if (rc != 0)
        return;
    FUZZ_CHECK(strlen(out) == outlen, "outlen %zu, strlen %zu", outlen,
               strlen(out));
    FUZZ_CHECK(outlen <= 5 * size + 1, "%zu bytes out of %zu", outlen, size);
    check_tags(out, outlen);
    rc = chat_html_sanitize(out, outlen, &again, &againlen);
    if (rc == 0) {
        FUZZ_CHECK(againlen == outlen && memcmp(again, out, outlen) == 0,
                   "not idempotent:\n%s\n--- became ---\n%s", out, again);
        free(again);
    }
    free(out);
}

/* Decode one strict UTF-8 code point at s (valid, checked before). */
static unsigned long
cp_at(const unsigned char *s, size_t *k)
{
    if (s[0] < 0x80)
        return *k = 1, s[0];
    if (s[0] < 0xE0)
        return *k = 2, ((s[0] & 0x1FUL) << 6) | (s[1] & 0x3F);
    if (s[0] < 0xF0)
        return *k = 3, ((s[0] & 0x0FUL) << 12) | ((s[1] & 0x3FUL) << 6) |
                       (s[2] & 0x3F);
    return *k = 4, ((s[0] & 0x07UL) << 18) | ((s[1] & 0x3FUL) << 12) |
                   ((s[2] & 0x3FUL) << 6) | (s[3] & 0x3F);
}

static void
display_name(const char *in, size_t outsize)
{
    char *out = malloc(outsize), *again = malloc(outsize);
    const unsigned char *u;
    size_t n, chars = 0;

    if (out == NULL || again == NULL) {
        free(out);
        free(again);
        return;
    }
    n = chat_display_name_safe(in, out, outsize);
    FUZZ_CHECK(n < outsize && strlen(out) == n, "returned %zu, strlen %zu, "
               "size %zu", n, strlen(out), outsize);
    u = (const unsigned char *)out;
    FUZZ_CHECK(fuzz_utf8_valid(u, n), "not UTF-8: %s", out);
    FUZZ_CHECK(n == 0 || (out[0] != ' ' && out[n - 1] != ' '),
               "space at an end: '%s'", out);
    for (size_t i = 0; i < n;) {
        size_t k;
        unsigned long cp = cp_at(u + i, &k);

        FUZZ_CHECK(!(cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) ||
                     cp == 0x2028 || cp == 0x2029 ||
                     (cp >= 0x202A && cp <= 0x202E) ||
                     (cp >= 0x2066 && cp <= 0x2069)),
                   "U+%04lX in '%s'", cp, out);
        FUZZ_CHECK(cp != '"', "an unescaped quote in '%s'", out);
        if (cp == '\\') {
            FUZZ_CHECK(i + 1 < n && (out[i + 1] == '"' || out[i + 1] == '\\'),
                       "a lone backslash in '%s'", out);
            k = 2;
        }
        chars++;
        i += k;
    }
    FUZZ_CHECK(chars <= CHAT_DISPLAY_NAME_MAX, "%zu characters", chars);
    FUZZ_CHECK(chat_display_name_safe(out, again, outsize) == n &&
                   strcmp(again, out) == 0,
               "not idempotent: '%s' became '%s'", out, again);
    free(out);
    free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *name = fuzz_cstring(data, size);

    sanitize(data, size);
    if (name) {
        display_name(name, 256);
        display_name(name, CHAT_DISPLAY_NAME_SIZE);
        display_name(name, 1 + size % 23);
        free(name);
    }
    return 0;
}

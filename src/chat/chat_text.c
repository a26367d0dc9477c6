/*
 * chat_text.c - making chat text safe to relay; see chat_text.h.
 *
 * The HTML sanitizer does not try to be a full HTML parser.  It only has
 * to find tags where a browser would, and then writes a canonical form
 * that is safe however a browser reads it: every '<' in the output starts
 * a whitelisted tag without attributes, and every other '<', '>' and stray
 * '&' is an entity.  Where our reading of broken markup differs from a
 * browser's, the difference is only whether some text is kept (escaped)
 * or dropped, never whether markup gets through.
 *
 * Every scan moves forward only: an unterminated tag, comment or removed
 * element drops the rest of the input instead of being re-read as text, so
 * hostile input costs linear time.
 */
#include "sipbridge/chat_text.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HTML_NPOS     SIZE_MAX
#define HTML_NAME_MAX 16        /* longer than any name we look for */

/* Tags kept, without attributes. */
static const char *const html_kept[] = {
    "b", "i", "u", "s", "em", "strong", "p", "br", "hr", "ul", "ol", "li",
    "blockquote", "code", "pre", "span", "div",
    "h1", "h2", "h3", "h4", "h5", "h6", "sub", "sup",
};

/* Tags removed together with everything up to their close tag. */
static const char *const html_removed[] = {
    "script", "style", "iframe", "object", "embed", "template", "noscript",
    "svg", "math",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ASCII only: the C library's versions follow the locale. */
static bool
html_is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
html_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool
html_is_xdigit(unsigned char c)
{
    return html_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned char
html_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 'a' - 'A') : c;
}

/* HTML5's blanks (CR included: browsers turn it into LF first). */
static bool
html_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static bool
html_name_ends(unsigned char c)
{
    return html_is_space(c) || c == '/' || c == '>';
}

static bool
html_in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return true;
    return false;
}

struct html_out {
    char *buf;      /* sized 5 * input + 1 by the caller */
    size_t len;
};

static void
html_put(struct html_out *o, const char *s, size_t n)
{
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

/*
 * Where the tag whose name ended at @p i ends: the index after its '>', or
 * HTML_NPOS if the input ends first.  A cut-down HTML5 attribute tokenizer,
 * since the '>' that ends a tag depends on where quoted values are: a quote
 * opens a value only right after '=' (so <b x"y> ends at its '>'), and
 * '=' at the start of an attribute is part of its name.
 */
enum html_attr_state { A_GAP, A_NAME, A_AFTER_NAME, A_BEFORE_VALUE, A_UNQUOTED };

static size_t
html_tag_end(const char *s, size_t n, size_t i)
{
    enum html_attr_state st = A_GAP;

    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '>')
            return i + 1;
        switch (st) {
        case A_GAP:
            if (!html_is_space(c) && c != '/')
                st = A_NAME;
            break;
        case A_NAME:
        case A_AFTER_NAME:
            if (c == '=')
                st = A_BEFORE_VALUE;
            else if (c == '/')
                st = A_GAP;
            else
                st = html_is_space(c) ? A_AFTER_NAME : A_NAME;
            break;
        case A_BEFORE_VALUE:
            if (c == '"' || c == '\'') {
                const char *q = memchr(s + i + 1, c, n - i - 1);

                if (q == NULL)
                    return HTML_NPOS;
                i = (size_t)(q - s);
                st = A_GAP;
            } else if (!html_is_space(c)) {
                st = A_UNQUOTED;
            }
            break;
        case A_UNQUOTED:
            if (html_is_space(c))
                st = A_GAP;
            break;
        }
    }
    return HTML_NPOS;
}

/* Does s[i..] start with @p name (lower case), ASCII case-insensitively? */
static bool
html_has_name(const char *s, size_t n, size_t i, const char *name, size_t nl)
{
    if (n - i < nl)
        return false;
    for (size_t k = 0; k < nl; k++)
        if (html_lower((unsigned char)s[i + k]) != (unsigned char)name[k])
            return false;
    return true;
}

/*
 * Skip the content of a removed element from @p i, through its close tag
 * "</name" (any case, then a blank, '/' or '>').  As for <script> in a
 * browser, nothing inside counts: not quotes, not comments, not nesting.
 * What follows the first close tag is parsed normally, so stopping early
 * on a nested <svg> only exposes text that is still sanitized.
 * @return the index after the close tag, or @p n if there is none.
 */
static size_t
html_skip_element(const char *s, size_t n, size_t i, const char *name)
{
    size_t nl = strlen(name);

    for (; i + 1 < n; i++) {
        size_t e = i + 2 + nl;

        if (s[i] != '<' || s[i + 1] != '/' ||
            !html_has_name(s, n, i + 2, name, nl))
            continue;
        if (e < n && !html_name_ends((unsigned char)s[e]))
            continue;
        e = html_tag_end(s, n, e);
        return e == HTML_NPOS ? n : e;
    }
    return n;
}

/*
 * A start or end tag whose name starts at @p i (after "<" or "</").
 * Writes it if it is kept, skips the element if it is removed.
 * @return the index to go on from.
 */
static size_t
html_tag(const char *s, size_t n, size_t i, bool closing, struct html_out *o)
{
    char name[HTML_NAME_MAX + 1];
    size_t nl = 0, end;

    for (; i < n && !html_name_ends((unsigned char)s[i]); i++, nl++)
        if (nl < HTML_NAME_MAX)
            name[nl] = (char)html_lower((unsigned char)s[i]);
    /* A name too long to be ours must not match by its prefix. */
    name[nl <= HTML_NAME_MAX ? nl : 0] = '\0';

    end = html_tag_end(s, n, i);
    if (end == HTML_NPOS)
        return n;
    if (!closing && html_in_list(name, html_removed, NELEM(html_removed)))
        return html_skip_element(s, n, end, name);
    if (html_in_list(name, html_kept, NELEM(html_kept))) {
        html_put(o, closing ? "</" : "<", closing ? 2 : 1);
        html_put(o, name, strlen(name));
        html_put(o, ">", 1);
    }
    return end;
}

/* Skip from @p i past the first @p close, or to the end if it never comes. */
static size_t
html_skip_past(const char *s, size_t n, size_t i, const char *close)
{
    size_t cl = strlen(close);

    for (; i + cl <= n; i++)
        if (memcmp(s + i, close, cl) == 0)
            return i + cl;
    return n;
}

/*
 * Markup starting with the '<' at @p i.  Comments end at "-->" searched
 * from their second '-', so "<!-->" is empty, as in HTML5.  Other "<!" and
 * "<?" (doctype, CDATA, processing instructions) end at the first '>'.
 * @return the index to go on from.
 */
static size_t
html_markup(const char *s, size_t n, size_t i, struct html_out *o)
{
    unsigned char c1 = i + 1 < n ? (unsigned char)s[i + 1] : '\0';
    unsigned char c2 = i + 2 < n ? (unsigned char)s[i + 2] : '\0';

    if (html_is_alpha(c1))
        return html_tag(s, n, i + 1, false, o);
    if (c1 == '/' && html_is_alpha(c2))
        return html_tag(s, n, i + 2, true, o);
    if (c1 == '!' && n - i >= 4 && memcmp(s + i, "<!--", 4) == 0)
        return html_skip_past(s, n, i + 2, "-->");
    if (c1 == '!' || c1 == '?')
        return html_skip_past(s, n, i + 2, ">");
    html_put(o, "&lt;", 4);
    return i + 1;
}

/*
 * Length of the well-formed entity at the '&' at @p i (&name; &#123;
 * &#x1F;), or 0.  Syntax only: a browser shows an unknown name as text and
 * an out-of-range number as U+FFFD, neither of which is markup.
 */
static size_t
html_entity_len(const char *s, size_t n, size_t i)
{
    size_t j = i + 1, start;
    bool hex = false;

    if (j < n && s[j] == '#') {
        j++;
        hex = j < n && (s[j] == 'x' || s[j] == 'X');
        j += hex;
        start = j;
        while (j < n && (hex ? html_is_xdigit((unsigned char)s[j])
                             : html_is_digit((unsigned char)s[j])))
            j++;
    } else {
        start = j;
        if (j >= n || !html_is_alpha((unsigned char)s[j]))
            return 0;
        while (j < n && (html_is_alpha((unsigned char)s[j]) ||
                         html_is_digit((unsigned char)s[j])))
            j++;
    }
    return j > start && j < n && s[j] == ';' ? j + 1 - i : 0;
}

static void
html_run(const char *s, size_t n, struct html_out *o)
{
    size_t i = 0;

    while (i < n) {
        size_t k;

        switch (s[i]) {
        case '<':
            i = html_markup(s, n, i, o);
            break;
        case '>':
            html_put(o, "&gt;", 4);
            i++;
            break;
        case '&':
            k = html_entity_len(s, n, i);
            if (k == 0)
                html_put(o, "&amp;", 5);
            else
                html_put(o, s + i, k);
            i += k ? k : 1;
            break;
        default:
            html_put(o, s + i, 1);
            i++;
        }
    }
}

/*
 * NULs go before parsing: some clients ignore them, so "<scr\0ipt>" must
 * be read as the <script> it may become.
 * @return a malloc'd copy of @p in without NULs and its length in *n.
 */
static char *
html_strip_nul(const char *in, size_t len, size_t *n)
{
    char *s = malloc(len ? len : 1);

    *n = 0;
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if (in[i] != '\0')
            s[(*n)++] = in[i];
    return s;
}

int
chat_html_sanitize(const char *in, size_t len, char **out, size_t *outlen)
{
    struct html_out o = { NULL, 0 };
    char *s;
    size_t n;

    if (out == NULL || (in == NULL && len != 0))
        return -EINVAL;
    /* Worst case is every byte a stray '&' -> "&amp;". */
    if (len > (SIZE_MAX - 1) / 5)
        return -ENOMEM;
    s = html_strip_nul(in, len, &n);
    o.buf = malloc(5 * len + 1);
    if (s == NULL || o.buf == NULL) {
        free(s);
        free(o.buf);
        return -ENOMEM;
    }
    html_run(s, n, &o);
    free(s);
    o.buf[o.len] = '\0';
    *out = o.buf;
    if (outlen != NULL)
        *outlen = o.len;
    return 0;
}

/* ---- display names ---- */

#define DN_END (-1L)    /* no more input */
#define DN_BAD (-2L)    /* an invalid UTF-8 sequence, consumed */

/* The display name being read: quotes stripped, escapes undone on the fly. */
struct dn_in {
    const unsigned char *s;
    size_t len;
    size_t pos;
};

static void
dn_open(struct dn_in *in, const char *raw)
{
    const unsigned char *s = (const unsigned char *)(raw ? raw : "");
    size_t len = strlen((const char *)s);

    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        s++;
        len -= 2;
    }
    in->s = s;
    in->len = len;
    in->pos = 0;
}

/*
 * The next byte with one level of backslash escapes undone, or -1.
 * Unescaping byte by byte lets an escape sit inside a UTF-8 sequence;
 * a lone trailing backslash escapes nothing and is dropped.
 */
static int
dn_byte(struct dn_in *in)
{
    if (in->pos < in->len && in->s[in->pos] == '\\')
        in->pos++;
    if (in->pos >= in->len)
        return -1;
    return in->s[in->pos++];
}

/*
 * The next code point, DN_BAD or DN_END.  Strict UTF-8 (no overlong forms,
 * surrogates or values past U+10FFFF), so "\xC0\xA2" never becomes a '"'.
 * A sequence broken off by a byte that is not a continuation drops only
 * what came before that byte, which is then read afresh.
 */
static long
dn_next(struct dn_in *in)
{
    int b = dn_byte(in), more;
    long cp, min;

    if (b < 0)
        return DN_END;
    if (b < 0x80)
        return b;
    if (b >= 0xC2 && b <= 0xDF) {
        cp = b & 0x1F;
        more = 1;
        min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
        cp = b & 0x0F;
        more = 2;
        min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
        cp = b & 0x07;
        more = 3;
        min = 0x10000;
    } else {
        return DN_BAD;
    }
    while (more-- > 0) {
        size_t at = in->pos;
        int c = dn_byte(in);

        if (c < 0x80 || c > 0xBF) {
            in->pos = at;
            return DN_BAD;
        }
        cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return DN_BAD;
    return cp;
}

/* Characters that could break the header or mislead the reader. */
static bool
dn_dropped(long cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) ||
           cp == 0x2028 || cp == 0x2029 ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* @p cp as it goes between the quotes: UTF-8, '"' and '\' escaped. */
static size_t
dn_encode(long cp, char buf[4])
{
    if (cp == '"' || cp == '\\') {
        buf[0] = '\\';
        buf[1] = (char)cp;
        return 2;
    }
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * A space is only written when a character follows it and fits with it,
 * which both trims and collapses, and keeps a capped name from ending in
 * a space.  The first character that does not fit ends the name.
 */
size_t
chat_display_name_safe(const char *in, char *out, size_t outsize)
{
    struct dn_in src;
    size_t n = 0, chars = 0;
    bool space = false;
    long cp;

    if (out == NULL || outsize == 0)
        return 0;
    dn_open(&src, in);
    while ((cp = dn_next(&src)) != DN_END) {
        char enc[4];
        size_t k, sp;

        if (cp == DN_BAD || dn_dropped(cp))
            continue;
        if (cp == ' ') {
            space = chars > 0;
            continue;
        }
        k = dn_encode(cp, enc);
        sp = space ? 1 : 0;
        if (chars + sp + 1 > CHAT_DISPLAY_NAME_MAX || n + sp + k > outsize - 1)
            break;
        if (space)
            out[n++] = ' ';
        memcpy(out + n, enc, k);
        n += k;
        chars += sp + 1;
        space = false;
    }
    out[n] = '\0';
    return n;
}

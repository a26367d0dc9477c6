/*
 * sdpcheck.c - SDP text that is safe to hand to sofia-sip's sdp_parse();
 * the rules and the reasons are in sdpcheck.h.
 */
#include "sipbridge/sdpcheck.h"

#include <errno.h>
#include <string.h>

/* Characters of an RFC 4566 token (the set sofia-sip's parser uses too). */
int
sdpcheck_is_token(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-!#$%&'*+.^_`{|}~", c) != NULL);
}

static int
sdpcheck_is_proto(unsigned char c)
{
    return sdpcheck_is_token(c) || c == '/';
}

static int
sdpcheck_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Length of the run at s[0..n) of characters that satisfy @p is. */
static size_t
sdpcheck_span(const char *s, size_t n, int (*is)(unsigned char))
{
    size_t i = 0;

    while (i < n && is((unsigned char)s[i]))
        i++;
    return i;
}

/* Length of the run of spaces at s[0..n). */
static size_t
sdpcheck_spaces(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && s[i] == ' ')
        i++;
    return i;
}

/*
 * Scan the value of an m= line (after "m="), s[0..n):
 * media SP port ["/" integer] SP proto 1*(SP fmt), blanks being runs of
 * spaces (a trailing run is tolerated).  Stricter than RFC 4566 only in
 * the port, which must fit in 16 bits.
 */
int
sdpcheck_scan_mline(const char *s, size_t n, struct sdpcheck_mline *ml)
{
    size_t i, k, nfmt = 0;
    unsigned long port = 0;

    i = sdpcheck_span(s, n, sdpcheck_is_token);                     /* media */
    ml->media = s;
    ml->media_len = i;
    if (i == 0 || (k = sdpcheck_spaces(s + i, n - i)) == 0)
        return -EPROTO;
    i += k;
    k = sdpcheck_span(s + i, n - i, sdpcheck_is_digit);             /* port */
    if (k == 0 || k > 5)
        return -EPROTO;
    for (; k > 0; k--, i++)
        port = port * 10 + (unsigned long)(s[i] - '0');
    if (port > 65535)
        return -EPROTO;
    if (i < n && s[i] == '/') {                           /* port count */
        i++;
        if ((k = sdpcheck_span(s + i, n - i, sdpcheck_is_digit)) == 0 || k > 5)
            return -EPROTO;
        i += k;
    }
    if ((k = sdpcheck_spaces(s + i, n - i)) == 0)
        return -EPROTO;
    i += k;
    if (i >= n || !sdpcheck_is_token((unsigned char)s[i]))   /* proto */
        return -EPROTO;
    ml->proto = s + i;
    ml->proto_len = sdpcheck_span(s + i, n - i, sdpcheck_is_proto);
    i += ml->proto_len;
    while (i < n) {                                       /* formats */
        if ((k = sdpcheck_spaces(s + i, n - i)) == 0)
            return -EPROTO;
        i += k;
        k = sdpcheck_span(s + i, n - i, sdpcheck_is_token);
        nfmt += k > 0;
        i += k;
    }
    return nfmt > 0 ? 0 : -EPROTO;
}

/* Check one line s[0..n), n > 0, without its line end. */
static int
sdpcheck_line(const char *s, size_t n)
{
    struct sdpcheck_mline ml;

    if (n > SDPCHECK_MAX_LINE || n < 2 || s[0] < 'a' || s[0] > 'z' ||
        s[1] != '=')
        return -EPROTO;
    for (size_t i = 2; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -EPROTO;
    }
    return s[0] == 'm' ? sdpcheck_scan_mline(s + 2, n - 2, &ml) : 0;
}

/*
 * The next non-empty line of s[*pos..len), without its end, into *line and
 * *n.  Lines end at any run of CR and LF, as in the parser.
 * @return 1, or 0 at the end of the text.
 */
int
sdpcheck_next_line(const char *s, size_t len, size_t *pos, const char **line,
              size_t *n)
{
    size_t i = *pos, k = 0;

    while (i < len && (s[i] == '\r' || s[i] == '\n'))
        i++;
    while (i + k < len && s[i + k] != '\r' && s[i + k] != '\n')
        k++;
    *line = s + i;
    *n = k;
    *pos = i + k;
    return k > 0;
}

/*
 * Check the offer text line by line (see the top of the file for why) and
 * count its m-lines.
 */
int
sdpcheck_text(const char *s, size_t len, unsigned *nmedia)
{
    const char *line;
    size_t pos = 0, n;

    *nmedia = 0;
    if (len == 0 || len > SDPCHECK_MAX_LEN || memchr(s, '\0', len) != NULL)
        return -EPROTO;
    while (sdpcheck_next_line(s, len, &pos, &line, &n)) {
        if (sdpcheck_line(line, n) != 0)
            return -EPROTO;
        *nmedia += line[0] == 'm';
    }
    return *nmedia > 0 ? 0 : -EPROTO;
}

int
sdpcheck_parse(su_home_t *home, const char *s, size_t len,
               sdp_parser_t **parser, sdp_session_t **sdp)
{
    unsigned nmedia, n = 0;
    const char *err;

    *parser = NULL;
    *sdp = NULL;
    if (s == NULL || sdpcheck_text(s, len, &nmedia) != 0)
        return -EPROTO;
    *parser = sdp_parse(home, s, (issize_t)len, 0);
    if ((*sdp = sdp_session(*parser)) != NULL) {
        for (const sdp_media_t *m = (*sdp)->sdp_media; m; m = m->m_next)
            n++;
        return n == nmedia ? 0 : -EPROTO;
    }
    /*
     * The parser reports running out of memory as text only: a static
     * parser without a home, or this prefix.  Only the prefix: other
     * messages quote the offer, which may say "memory" too.
     */
    err = sdp_parsing_error(*parser);
    if (sdp_parser_home(*parser) == NULL ||
        (err != NULL && strncmp(err, "memory exhausted", 16) == 0))
        return -ENOMEM;
    return -EPROTO;
}

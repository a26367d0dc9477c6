/*
 * sdpcheck.h - SDP text that is safe to hand to sofia-sip's sdp_parse(),
 * shared by every capability that takes SDP from outside (chat offers,
 * the SIP API's jsep).  Pure functions; no I/O, no state.
 *
 * Debian's sofia-sip 1.12.11 parser must not see some inputs:
 *  - it loops forever, allocating, on a non-RTP m-line whose format list
 *    holds a character outside the token set ("m=x 9 foo @"), or a tab right
 *    after the proto ("m=image 9 udptl<SP><TAB>");
 *  - it stops at a line shorter than two characters, or one of blanks only,
 *    and reports success for what it read so far, so a stray "x" between two
 *    m-lines drops the second one and breaks RFC 3264's one-to-one m-lines;
 *  - it copies the text with strncpy(), so a NUL byte ends it silently.
 * So every line must be "<letter>=..." without control characters, every
 * m-line must be well formed per RFC 4566, and the parser must find as many
 * m-lines as were counted.
 */
#ifndef SIPBRIDGE_SDPCHECK_H
#define SIPBRIDGE_SDPCHECK_H

#include <stddef.h>

#include <sofia-sip/sdp.h>
#include <sofia-sip/su_alloc.h>

#define SDPCHECK_MAX_LEN  65536
#define SDPCHECK_MAX_LINE 4096

/* The parts of an m= line, pointing into the text. */
struct sdpcheck_mline {
    const char *media;
    size_t media_len;
    const char *proto;
    size_t proto_len;
};

/* A character of an RFC 4566 token (the set sofia-sip's parser uses). */
int sdpcheck_is_token(unsigned char c);

/* Scan the value of an m= line (after "m="), s[0..n): 0 or -EPROTO. */
int sdpcheck_scan_mline(const char *s, size_t n, struct sdpcheck_mline *ml);

/* The next non-empty line of s[*pos..len) into *line, *n (lines end at
 * any run of CR and LF, as in the parser): 1, or 0 at the end. */
int sdpcheck_next_line(const char *s, size_t len, size_t *pos,
                       const char **line, size_t *n);

/* Check the text line by line and count its m-lines: 0 or -EPROTO. */
int sdpcheck_text(const char *s, size_t len, unsigned *nmedia);

/*
 * sdpcheck_text(), then sdp_parse() into @home, then the m-line count.
 * @return 0 with *sdp set, -EPROTO, or -ENOMEM.  *parser is set whenever
 * sdp_parse() ran; the caller frees it with sdp_parser_free(), also on
 * error.
 */
int sdpcheck_parse(su_home_t *home, const char *s, size_t len,
                   sdp_parser_t **parser, sdp_session_t **sdp);

#endif

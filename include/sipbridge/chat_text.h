/*
 * chat_text.h - making chat text safe to relay: HTML bodies and display names.
 * Pure functions, no I/O, no global state; loop thread or any thread.
 *
 * The conference chat relay copies what one participant wrote to every
 * other participant, so anything here is attacker-controlled: web chat
 * clients render HTML bodies, and display names end up between double
 * quotes in a From header we build.
 */
#ifndef SIPBRIDGE_CHAT_TEXT_H
#define SIPBRIDGE_CHAT_TEXT_H

#include <stddef.h>

/* Cap on a relayed display name, in characters (code points). */
#define CHAT_DISPLAY_NAME_MAX 64

/*
 * An output buffer this big never truncates below the character cap: each
 * character is at most 4 bytes of UTF-8, or 2 once escaped (\" and \\).
 */
#define CHAT_DISPLAY_NAME_SIZE (CHAT_DISPLAY_NAME_MAX * 4 + 1)

/**
 * Reduce an HTML body to plain, safe HTML for web chat clients:
 *  - tags in a small whitelist are kept WITHOUT any attributes:
 *    b i u s em strong p br hr ul ol li blockquote code pre span div h1-h6
 *    sub sup (lower-cased; a self-closing form like <br/> becomes <br>;
 *    closing tags kept as </b>);
 *  - <script>, <style>, <iframe>, <object>, <embed>, <template>,
 *    <noscript>, <svg>, <math> are removed WITH their content (up to the
 *    matching close tag, case-insensitive; unclosed -> drop to end of input);
 *  - every other tag (including <a>, <img>, <form>, unknown ones,
 *    <!DOCTYPE>, <?...?>) is removed but its text content kept; comments
 *    <!-- ... --> removed (unclosed -> drop to end);
 *  - text outside tags is kept byte for byte, except: a '<' that does not
 *    start a tag is written as "&lt;", a '>' outside a tag as "&gt;"; '&'
 *    that does not start a well-formed entity (&name; &#123; &#x1F;) is
 *    written as "&amp;"; NUL bytes are dropped.
 *  - attribute values may contain '>' inside quotes: a tag ends at the
 *    first '>' outside quotes (so <b title="a>b">x</b> gives <b>x</b>).
 *
 * Tags are recognised as an HTML5 tokenizer does: '<' or '</' then an
 * ASCII letter starts a tag, whose name runs to a blank, '/' or '>'; a
 * quote only opens a quoted value right after '='.  A tag left open at the
 * end of the input (e.g. "x <b") is dropped with the rest of the input, as
 * a browser does.  NUL bytes are dropped before parsing, so "<scr\0ipt>"
 * is a <script>.
 *
 * The output is never longer than 5x the input + 1, and running it through
 * again gives it back unchanged.  Binary-safe input (length given); @p in
 * may be NULL when @p len is 0.
 * @return 0 and *out (malloc'd, NUL-terminated; caller frees) and *outlen
 * (if @p outlen is not NULL), or -ENOMEM, or -EINVAL for a NULL @p out.
 */
int chat_html_sanitize(const char *in, size_t len, char **out,
                       size_t *outlen);

/**
 * Make a SIP display name safe to put between double quotes in a From
 * header (RFC 3261 quoted-string), as relayed to other participants:
 *  - input is the raw display name as parsed by sofia (may still carry
 *    surrounding quotes and backslash escapes: strip one pair of
 *    surrounding quotes and unescape \x first; blanks around the quotes
 *    are ignored, a lone trailing backslash is dropped);
 *  - invalid UTF-8 sequences dropped (overlong forms and surrogates
 *    included); control characters dropped (C0 incl. CR LF TAB -> TAB and
 *    CR/LF become nothing; DEL; C1 U+0080..U+009F; also U+2028/2029 and
 *    bidi overrides U+202A..U+202E, U+2066..U+2069);
 *  - leading/trailing spaces trimmed, internal runs of spaces collapsed
 *    to one;
 *  - then '"' and '\' escaped with a backslash;
 *  - capped so that the escaped result fits in @p outsize - 1 bytes (and
 *    at most CHAT_DISPLAY_NAME_MAX = 64 characters before escaping), never
 *    cutting a UTF-8 sequence or an escape pair, never ending in a space.
 * @p in may be NULL (-> empty).
 * @return the length written to @p out (NUL-terminated; outsize >= 1; 0
 * and nothing written if @p out is NULL or @p outsize is 0).
 */
size_t chat_display_name_safe(const char *in, char *out, size_t outsize);

#endif

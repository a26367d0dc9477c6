/*
 * test_chat_text.c - HTML body sanitizer and display-name cleaner.
 *
 * One test per rule with exact outputs, then attacks, then a fixed-seed
 * random loop that checks what must hold for any input: the output is
 * canonical (every '<' starts a whitelisted tag without attributes, every
 * '&' an entity), the length bound holds and sanitizing is idempotent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sipbridge/chat_text.h"

/* ---- helpers ---- */

static const char *const kept_tags[] = {
    "b", "i", "u", "s", "em", "strong", "p", "br", "hr", "ul", "ol", "li",
    "blockquote", "code", "pre", "span", "div",
    "h1", "h2", "h3", "h4", "h5", "h6", "sub", "sup",
};

static const char *const removed_tags[] = {
    "script", "style", "iframe", "object", "embed", "template", "noscript",
    "svg", "math",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
assert_html_len(const char *in, size_t len, const char *want)
{
    char *out = NULL;
    size_t outlen = 12345;

    assert_int_equal(chat_html_sanitize(in, len, &out, &outlen), 0);
    assert_non_null(out);
    assert_string_equal(out, want);
    assert_int_equal(outlen, strlen(want));
    free(out);
}

/* sizeof, not strlen: some inputs carry NUL bytes. */
#define HTML(in, want) assert_html_len((in), sizeof(in) - 1, (want))

static void
assert_html(const char *in, const char *want)
{
    assert_html_len(in, strlen(in), want);
}

/* A fixed-seed generator, local to each test: no global state. */
static uint32_t
rnd(uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*state >> 33);
}

static bool
is_kept_tag(const char *name, size_t n)
{
    for (size_t i = 0; i < NELEM(kept_tags); i++)
        if (strlen(kept_tags[i]) == n && memcmp(kept_tags[i], name, n) == 0)
            return true;
    return false;
}

static bool
is_entity(const char *s)
{
    size_t j = 1, start;

    if (s[j] == '#') {
        bool hex = s[++j] == 'x' || s[j] == 'X';

        j += hex;
        start = j;
        while (hex ? strchr("0123456789abcdefABCDEF", s[j]) && s[j]
                   : s[j] >= '0' && s[j] <= '9')
            j++;
    } else {
        start = j;
        while ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
               (j > start && s[j] >= '0' && s[j] <= '9'))
            j++;
    }
    return j > start && s[j] == ';';
}

/*
 * The output is safe: every '<' opens "<name>" or "</name>" with a kept
 * name (so no attributes, no '=' in a tag, no script), there is no '>'
 * outside a tag, and every '&' starts an entity.
 */
static void
assert_canonical(const char *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '<') {
            size_t j = i + 1 + (out[i + 1] == '/');
            size_t k = j;

            while (k < len && out[k] != '>')
                k++;
            assert_true(k < len);
            if (!is_kept_tag(out + j, k - j))
                fail_msg("bad tag at %zu in: %s", i, out);
            i = k;
        } else if (out[i] == '>') {
            fail_msg("stray '>' at %zu in: %s", i, out);
        } else if (out[i] == '&' && !is_entity(out + i)) {
            fail_msg("stray '&' at %zu in: %s", i, out);
        }
    }
}

static bool
has_icase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

/* The checks the random loop makes on one input. */
static void
check_html_invariants(const char *in, size_t len)
{
    char *out = NULL, *again = NULL;
    size_t outlen = 0, againlen = 0;
    bool intag = false;

    assert_int_equal(chat_html_sanitize(in, len, &out, &outlen), 0);
    assert_int_equal(strlen(out), outlen);  /* no NUL inside */
    assert_true(outlen <= 5 * len);
    assert_false(has_icase(out, "<script"));
    assert_false(has_icase(out, "<style"));
    for (size_t i = 0; i < outlen; i++) {
        if (out[i] == '<')
            intag = true;
        else if (out[i] == '>')
            intag = false;
        else if (out[i] == '=' && intag)
            fail_msg("'=' in a tag: %s", out);
    }
    assert_canonical(out, outlen);
    assert_int_equal(chat_html_sanitize(out, outlen, &again, &againlen), 0);
    assert_string_equal(again, out);
    free(again);
    free(out);
}

static void
assert_name_size(const char *in, size_t outsize, const char *want)
{
    char buf[1024];

    assert_true(outsize <= sizeof(buf));
    memset(buf, 0x55, sizeof(buf));
    assert_int_equal(chat_display_name_safe(in, buf, outsize), strlen(want));
    assert_string_equal(buf, want);
    /* Nothing written past outsize. */
    for (size_t i = outsize; i < sizeof(buf); i++)
        assert_int_equal((unsigned char)buf[i], 0x55);
}

static void
assert_name(const char *in, const char *want)
{
    assert_name_size(in, CHAT_DISPLAY_NAME_SIZE, want);
}

static char *
repeat(const char *prefix, const char *unit, size_t times, const char *suffix)
{
    size_t pl = strlen(prefix), ul = strlen(unit), sl = strlen(suffix);
    char *s = malloc(pl + ul * times + sl + 1);
    char *p = s;

    assert_non_null(s);
    memcpy(p, prefix, pl);
    p += pl;
    for (size_t i = 0; i < times; i++, p += ul)
        memcpy(p, unit, ul);
    memcpy(p, suffix, sl + 1);
    return s;
}

/* @return the number of code points in valid UTF-8 @p s, or fail. */
static size_t
utf8_chars(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;

    while (*p) {
        size_t k = *p < 0x80 ? 1 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : 2;

        assert_true(*p < 0x80 || (*p >= 0xC2 && *p <= 0xF4));
        for (size_t i = 1; i < k; i++)
            assert_true(p[i] >= 0x80 && p[i] <= 0xBF);
        p += k;
        n++;
    }
    return n;
}

/* ---- HTML: one test per rule ---- */

static void
html_kept_tags_lose_attributes_and_case(void **state)
{
    (void)state;
    assert_html("<B onclick=\"alert(1)\">x</B>", "<b>x</b>");
    assert_html("<p class=x style='color:red'>a</P >", "<p>a</p>");
    assert_html("<SPAN\tid=1\nfoo>s</span\n>", "<span>s</span>");
    for (size_t i = 0; i < NELEM(kept_tags); i++) {
        char in[128], want[128];

        snprintf(in, sizeof(in), "<%s id=\"1\" data-x=y>t</%s>", kept_tags[i],
                 kept_tags[i]);
        snprintf(want, sizeof(want), "<%s>t</%s>", kept_tags[i],
                 kept_tags[i]);
        assert_html(in, want);
    }
}

static void
html_self_closing_tag_becomes_plain(void **state)
{
    (void)state;
    assert_html("a<br/>b<BR />c<hr/>d<br>", "a<br>b<br>c<hr>d<br>");
    assert_html("<br/onclick=x/>", "<br>");
}

static void
html_removed_elements_lose_content(void **state)
{
    (void)state;
    for (size_t i = 0; i < NELEM(removed_tags); i++) {
        char in[128];

        snprintf(in, sizeof(in), "a<%s x=1><b>in</b>alert(1)</%s>b",
                 removed_tags[i], removed_tags[i]);
        assert_html(in, "ab");
    }
    assert_html("<SCRIPT>x</ScRiPt>y", "y");
    assert_html("<script >x</script >y", "y");
    assert_html("<script type=\"text/javascript\">x</script\tfoo=1>y", "y");
    assert_html("<script>a</scriptx>b</script/>c", "c");
    assert_html("<style>p{}</style><b>x</b>", "<b>x</b>");
}

static void
html_unclosed_removed_element_drops_to_end(void **state)
{
    (void)state;
    assert_html("a<style>body{}<b>x</b>", "a");
    assert_html("a<script>x</script", "a");
    assert_html("a<script>x</script foo=\">\"", "a");
    assert_html("a<svg/onload=alert(1)>b", "a");
}

static void
html_other_tags_removed_text_kept(void **state)
{
    (void)state;
    assert_html("<a href=\"javascript:alert(1)\">click</a>", "click");
    assert_html("x<img src=x onerror=alert(1)>y", "xy");
    assert_html("<form action=/x><input name=a>f</form>", "f");
    assert_html("<foo-bar>baz</foo-bar>", "baz");
    assert_html("<!DOCTYPE html><html><body>hi</body></html>", "hi");
    assert_html("<?xml version=\"1.0\"?>x", "x");
    assert_html("<![CDATA[x]]>y", "y");
    assert_html("a<!>b<?>c", "abc");
}

static void
html_comments_removed(void **state)
{
    (void)state;
    assert_html("a<!-- c -->b", "ab");
    assert_html("a<!-- <script>alert(1)</script> -->b", "ab");
    assert_html("a<!-->b", "ab");
    assert_html("a<!--->b", "ab");
    assert_html("a<!-- x", "a");
    assert_html("a<!--", "a");
}

static void
html_lt_gt_in_text_escaped(void **state)
{
    (void)state;
    assert_html("1 < 2 > 0", "1 &lt; 2 &gt; 0");
    assert_html("a<3 <", "a&lt;3 &lt;");
    assert_html("x</ y></>", "x&lt;/ y&gt;&lt;/&gt;");
    assert_html("<<b>>", "&lt;<b>&gt;");
    assert_html("\"quotes\" and 'apostrophes'", "\"quotes\" and 'apostrophes'");
}

static void
html_ampersand_escaped_unless_entity(void **state)
{
    (void)state;
    assert_html("&amp; &lt; &#60; &#x3C; &#X3c; &nbsp; &frac12;",
                "&amp; &lt; &#60; &#x3C; &#X3c; &nbsp; &frac12;");
    assert_html("AT&T", "AT&amp;T");
    assert_html("& &; &#; &#x; &#xg; &1a; &lt &",
                "&amp; &amp;; &amp;#; &amp;#x; &amp;#xg; &amp;1a; &amp;lt &amp;");
    assert_html("&#60;script&#62;alert(1)&#60;/script&#62;",
                "&#60;script&#62;alert(1)&#60;/script&#62;");
}

static void
html_nul_bytes_dropped(void **state)
{
    (void)state;
    HTML("a\0b", "ab");
    HTML("\0", "");
    HTML("<b\0>y</\0b>", "<b>y</b>");
    /* A NUL must not hide a script from us. */
    HTML("<scr\0ipt>alert(1)</script>x", "x");
    HTML("<script>alert(1)</scr\0ipt>x", "x");
    HTML("&am\0p;", "&amp;");
}

static void
html_quoted_gt_does_not_end_tag(void **state)
{
    (void)state;
    assert_html("<b title=\"a>b\">x</b>", "<b>x</b>");
    assert_html("<i t='>'>y</i>", "<i>y</i>");
    assert_html("<b a = \"x>y\" >z", "<b>z");
    assert_html("<b t=\"'>\" u='\"'>z", "<b>z");
    /* A quote opens a value only right after '=', as in a browser. */
    assert_html("<b x\"y>z</b>", "<b>z</b>");
    assert_html("<b a=b\"c>d", "<b>d");
    assert_html("<b a=bc=\">\"x</b>", "<b>\"x</b>");
    assert_html("<b =\">z", "<b>z");
}

static void
html_unterminated_tag_drops_to_end(void **state)
{
    (void)state;
    assert_html("x <b", "x ");
    assert_html("x <b onclick=\"alert(1)>y</b>", "x ");
    assert_html("hi <script", "hi ");
    assert_html("hi </b", "hi ");
}

static void
html_empty_input(void **state)
{
    char *out = NULL;
    size_t outlen = 99;

    (void)state;
    assert_html("", "");
    assert_int_equal(chat_html_sanitize(NULL, 0, &out, &outlen), 0);
    assert_string_equal(out, "");
    assert_int_equal(outlen, 0);
    free(out);
    assert_int_equal(chat_html_sanitize("x", 1, &out, NULL), 0);
    assert_string_equal(out, "x");
    free(out);
}

static void
html_bad_arguments(void **state)
{
    char *out = NULL;
    size_t outlen;

    (void)state;
    assert_int_equal(chat_html_sanitize("x", 1, NULL, &outlen), -EINVAL);
    assert_int_equal(chat_html_sanitize(NULL, 3, &out, &outlen), -EINVAL);
    assert_null(out);
    assert_int_equal(chat_html_sanitize("x", SIZE_MAX, &out, &outlen),
                     -ENOMEM);
    assert_null(out);
}

/* ---- HTML: attacks ---- */

static void
html_split_and_nested_script_tags(void **state)
{
    (void)state;
    assert_html("<scr<script>ipt>alert(1)</script>", "ipt&gt;alert(1)");
    assert_html("<scr<script>alert(1)</script>ipt>", "alert(1)ipt&gt;");
    assert_html("<<script>alert(1)</script>", "&lt;");
    assert_html("<script<b>alert(1)</script>", "alert(1)");
    assert_html("<script><script>x</script>alert(1)</script>", "alert(1)");
    assert_html("<script>var s = \"</script>\";</script>",
                "\";");
    assert_html("<svg><svg></svg><script>alert(1)</script></svg>x", "x");
}

static void
html_event_handlers_and_urls_stripped(void **state)
{
    (void)state;
    assert_html("<b onmouseover=alert(1)>x</b>", "<b>x</b>");
    assert_html("<b/onclick=alert(1)>x", "<b>x");
    assert_html("<div style=\"background:url(javascript:alert(1))\">d</div>",
                "<div>d</div>");
    assert_html("<img src=x onerror=alert(1)//>", "");
    assert_html("<iframe src=javascript:alert(1)></iframe>after", "after");
    assert_html("<a href=\"&#106;avascript:alert(1)\">x</a>", "x");
    assert_html("<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>y",
                "y");
    assert_html("<meta http-equiv=refresh content=\"0;url=x\">m", "m");
}

static void
html_mutation_xss_payloads(void **state)
{
    (void)state;
    /* noscript/template parsed differently by scripting-off parsers. */
    assert_html("<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
                "\"&gt;");
    assert_html("<template><script>alert(1)</script></template>x", "x");
    assert_html("<!--<script>-->alert", "alert");
    assert_html("<!-- --!><script>alert(1)</script>", "");
    assert_html("<textarea><script>alert(1)</script></textarea>", "");
}

static void
html_long_tag_names_do_not_match_by_prefix(void **state)
{
    (void)state;
    assert_html("<blockquoteblockquote>x</blockquoteblockquote>", "x");
    assert_html("<bbbbbbbbbbbbbbbb>x", "x");
    assert_html("<scriptscriptscriptscript>x", "x");
    assert_html("<h7>x</h7><h0>y", "xy");
}

static void
html_long_inputs_are_linear_and_bounded(void **state)
{
    size_t len = 1u << 20;
    char *in = malloc(len), *out = NULL;
    size_t outlen;

    (void)state;
    assert_non_null(in);
    /* The worst case for the bound: exactly 5x. */
    memset(in, '&', len);
    assert_int_equal(chat_html_sanitize(in, len, &out, &outlen), 0);
    assert_int_equal(outlen, 5 * len);
    free(out);
    /* One huge unterminated tag. */
    for (size_t i = 0; i < len; i += 2)
        memcpy(in + i, "<a", 2);
    assert_int_equal(chat_html_sanitize(in, len, &out, &outlen), 0);
    assert_int_equal(outlen, 0);
    free(out);
    /* A script that is never closed, full of near-misses. */
    memcpy(in, "<script>", 8);
    for (size_t i = 8; i + 8 <= len; i += 8)
        memcpy(in + i, "</scrip<", 8);
    assert_int_equal(chat_html_sanitize(in, len, &out, &outlen), 0);
    assert_int_equal(outlen, 0);
    free(out);
    free(in);
}

static void
html_random_inputs_keep_invariants(void **state)
{
    static const char *const tokens[] = {
        "<", ">", "/", "\"", "'", "=", " ", "\t", "\n", "&", "#", "x", ";",
        "!--", "-->", "--", "<!--", "!", "?", "script", "SCRIPT", "ScRiPt",
        "style", "svg", "b", "br", "a", "img", "p", "onerror", "href",
        "javascript:", "alert(1)", "</", "<script>", "</script>", "<b>",
        "lt", "amp", "60", "x3c", "\0", "/>", "DOCTYPE", "noscript",
    };
    uint64_t seed = 0x5eedcafe;
    char in[512];

    (void)state;
    for (int iter = 0; iter < 5000; iter++) {
        size_t want = rnd(&seed) % (sizeof(in) + 1), len = 0;

        while (len < want) {
            if (rnd(&seed) % 4 == 0) {
                in[len++] = (char)(rnd(&seed) & 0xFF);
                continue;
            }
            const char *t = tokens[rnd(&seed) % NELEM(tokens)];
            size_t tl = t[0] ? strlen(t) : 1;   /* the "\0" token */

            if (tl > want - len)
                break;
            memcpy(in + len, t, tl);
            len += tl;
        }
        check_html_invariants(in, len);
    }
}

/* ---- display names ---- */

static void
name_plain_kept(void **state)
{
    (void)state;
    assert_name("Alice", "Alice");
    assert_name("Bob O'Neil (ext. 42)", "Bob O'Neil (ext. 42)");
}

static void
name_null_and_empty_give_empty(void **state)
{
    char buf[8] = "junk";

    (void)state;
    assert_int_equal(chat_display_name_safe(NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_name("", "");
    assert_name("\"\"", "");
    assert_name("  \"  \"  ", "");
}

static void
name_surrounding_quotes_stripped_and_unescaped(void **state)
{
    (void)state;
    assert_name("\"Alice Smith\"", "Alice Smith");
    assert_name("  \"Alice\"\t", "Alice");
    assert_name("\"Bob \\\"The Builder\\\"\"", "Bob \\\"The Builder\\\"");
    assert_name("\"C:\\\\dir\"", "C:\\\\dir");
    assert_name("\"a\\bc\"", "abc");
    /* Only one pair. */
    assert_name("\"\"Bob\"\"", "\\\"Bob\\\"");
    /* An escape may sit inside a UTF-8 sequence. */
    assert_name("\"J\xC3\\\xBCrgen\"", "J\xC3\xBCrgen");
}

static void
name_quote_and_backslash_escaped(void **state)
{
    (void)state;
    assert_name("Eve\"", "Eve\\\"");
    assert_name("\"", "\\\"");
    assert_name("a\\\\b", "a\\\\b");
    assert_name("a\\", "a");
    assert_name("\"Bob\\\"", "Bob");
    /* A quote cannot close the header's quoted string early. */
    assert_name("x\" <sip:evil@x>;tag=1, \"y", "x\\\" <sip:evil@x>;tag=1, \\\"y");
}

static void
name_crlf_injection_removed(void **state)
{
    (void)state;
    assert_name("Bob\r\nVia: x", "BobVia: x");
    assert_name("Bob\"\r\nContact: <sip:x>", "Bob\\\"Contact: <sip:x>");
    assert_name("\"Bob\\\r\\\nVia: x\"", "BobVia: x");
}

static void
name_c0_tab_and_del_removed(void **state)
{
    (void)state;
    assert_name("a\tb\x01" "c\x1f" "d\x7f" "e\x1b[31m", "abcde[31m");
}

static void
name_c1_removed(void **state)
{
    (void)state;
    assert_name("A\xC2\x80" "B\xC2\x85" "C\xC2\x9F" "D", "ABCD");
    /* Just past C1: NBSP and the Latin-1 letters stay. */
    assert_name("A\xC2\xA0" "B\xC3\xA9", "A\xC2\xA0" "B\xC3\xA9");
}

static void
name_bidi_and_line_separators_removed(void **state)
{
    char in[64];

    (void)state;
    /* "abc<RLO>gpj.exe" would show as "abcexe.jpg". */
    assert_name("abc\xE2\x80\xAEgpj.exe", "abcgpj.exe");
    for (unsigned cp = 0x2028; cp <= 0x202E; cp++) {
        snprintf(in, sizeof(in), "x%c%c%cy", 0xE2, 0x80, 0x80 | (cp & 0x3F));
        assert_name(in, "xy");
    }
    for (unsigned cp = 0x2066; cp <= 0x2069; cp++) {
        snprintf(in, sizeof(in), "x%c%c%cy", 0xE2, 0x81, 0x80 | (cp & 0x3F));
        assert_name(in, "xy");
    }
    /* Neighbours stay: U+2027, U+202F, U+2065, U+206A. */
    assert_name("\xE2\x80\xA7\xE2\x80\xAF\xE2\x81\xA5\xE2\x81\xAA",
                "\xE2\x80\xA7\xE2\x80\xAF\xE2\x81\xA5\xE2\x81\xAA");
}

static void
name_spaces_trimmed_and_collapsed(void **state)
{
    (void)state;
    assert_name("  a   b  ", "a b");
    assert_name("a \t b", "a b");
    assert_name("\" Bob  Smith \"", "Bob Smith");
    assert_name("\r\n a \r\n", "a");
    assert_name("     ", "");
}

static void
name_utf8_kept_intact(void **state)
{
    const char *s = "J\xC3\xBCrgen \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 "
                    "\xEF\xBC\xA1\xEF\xBF\xBD \xF4\x8F\xBF\xBF \xED\x9F\xBF";

    (void)state;
    assert_name(s, s);
}

static void
name_invalid_utf8_dropped(void **state)
{
    (void)state;
    assert_name("a\xFF" "b", "ab");
    assert_name("a\xC3(b", "a(b");
    assert_name("a\x80\xBF" "b", "ab");
    assert_name("ab\xE2\x82", "ab");
    assert_name("ab\xF0\x9F\x98", "ab");
    /* Overlong forms must not smuggle a quote or a CR. */
    assert_name("\xC0\xA2" "x\xC1\x8D", "x");
    assert_name("\xE0\x80\xA2" "x\xF0\x80\x80\xA2", "x");
    /* Surrogates and values past U+10FFFF. */
    assert_name("\xED\xA0\x80" "x\xF4\x90\x80\x80" "y\xF5\x80\x80\x80", "xy");
}

static void
name_capped_at_64_characters(void **state)
{
    char *in, *want;

    (void)state;
    in = repeat("", "a", 100, "");
    want = repeat("", "a", 64, "");
    assert_name(in, want);
    free(in);
    free(want);

    /* A two-byte character as the 64th is kept whole... */
    in = repeat("", "a", 63, "\xC3\xA9x");
    want = repeat("", "a", 63, "\xC3\xA9");
    assert_name(in, want);
    assert_int_equal(utf8_chars(want), 64);
    free(in);
    free(want);

    /* ...and a four-byte one. */
    in = repeat("", "a", 63, "\xF0\x9F\x98\x80\xF0\x9F\x98\x80");
    want = repeat("", "a", 63, "\xF0\x9F\x98\x80");
    assert_name(in, want);
    free(in);
    free(want);

    /* Counted before escaping: 64 characters, 127 bytes. */
    in = repeat("x", "\"", 100, "");
    want = repeat("x", "\\\"", 63, "");
    assert_name(in, want);
    assert_int_equal(strlen(want), 127);
    free(in);
    free(want);
}

static void
name_cap_never_ends_in_space(void **state)
{
    char *in = repeat("", "a", 63, " b"), *want = repeat("", "a", 63, "");

    (void)state;
    assert_name(in, want);
    free(in);
    free(want);
}

static void
name_outsize_never_splits(void **state)
{
    const char *smile = "ab\xF0\x9F\x98\x80";

    (void)state;
    assert_name_size(smile, 6, "ab");
    assert_name_size(smile, 7, smile);
    /* The first character that does not fit ends the name. */
    assert_name_size("ab\xF0\x9F\x98\x80" "c", 6, "ab");
    assert_name_size("\xC3\xA9", 2, "");
    assert_name_size("\xC3\xA9", 3, "\xC3\xA9");
    assert_name_size("a\"", 3, "a");
    assert_name_size("a\"", 4, "a\\\"");
    assert_name_size("a\\\\", 3, "a");
    assert_name_size("a b", 3, "a");
    assert_name_size("Alice", 1, "");
}

static void
name_outsize_zero_writes_nothing(void **state)
{
    char buf[4] = "abc";

    (void)state;
    assert_int_equal(chat_display_name_safe("Alice", buf, 0), 0);
    assert_string_equal(buf, "abc");
    assert_int_equal(chat_display_name_safe("Alice", NULL, 10), 0);
}

/* Any input: valid UTF-8, nothing dropped survives, quotes always escaped. */
static void
check_name_invariants(const char *out, size_t n)
{
    const unsigned char *p = (const unsigned char *)out;
    size_t escapes = 0;

    assert_int_equal(strlen(out), n);
    if (n > 0)
        assert_true(out[0] != ' ' && out[n - 1] != ' ');
    assert_null(strstr(out, "  "));
    for (size_t i = 0; i < n; i++) {
        assert_true(p[i] >= 0x20 && p[i] != 0x7F);
        if (p[i] == 0xC2)
            assert_true(p[i + 1] >= 0xA0);
        if (p[i] == 0xE2 && p[i + 1] == 0x80)
            assert_true(p[i + 2] < 0xA8 || p[i + 2] > 0xAE);
        if (p[i] == 0xE2 && p[i + 1] == 0x81)
            assert_true(p[i + 2] < 0xA6 || p[i + 2] > 0xA9);
        if (p[i] == '\\') {
            assert_true(p[i + 1] == '\\' || p[i + 1] == '"');
            escapes++;
            i++;
        } else {
            assert_true(p[i] != '"');
        }
    }
    /* The cap counts characters before escaping. */
    assert_true(utf8_chars(out) - escapes <= CHAT_DISPLAY_NAME_MAX);
}

static void
name_random_inputs_keep_invariants(void **state)
{
    static const char *const tokens[] = {
        "\"", "\\", " ", "\t", "\r", "\n", "a", "\xC3\xA9", "\xC2\x85",
        "\xE2\x80\xAE", "\xE2\x81\xA6", "\xE2\x80\xA8", "\xF0\x9F\x98\x80",
        "\xC0\xA2", "\xED\xA0\x80", "\x7F",
    };
    uint64_t seed = 42;
    char in[300], out[CHAT_DISPLAY_NAME_SIZE];

    (void)state;
    for (int iter = 0; iter < 5000; iter++) {
        size_t want = rnd(&seed) % (sizeof(in) - 4), len = 0;
        size_t outsize = 1 + rnd(&seed) % sizeof(out);

        while (len < want) {
            const char *t = tokens[rnd(&seed) % NELEM(tokens)];

            if (rnd(&seed) % 4 == 0) {
                in[len] = (char)(1 + rnd(&seed) % 255);
                len++;
            } else {
                memcpy(in + len, t, strlen(t));
                len += strlen(t);
            }
        }
        in[len] = '\0';
        check_name_invariants(out, chat_display_name_safe(in, out, outsize));
        assert_true(strlen(out) < outsize);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(html_kept_tags_lose_attributes_and_case),
        cmocka_unit_test(html_self_closing_tag_becomes_plain),
        cmocka_unit_test(html_removed_elements_lose_content),
        cmocka_unit_test(html_unclosed_removed_element_drops_to_end),
        cmocka_unit_test(html_other_tags_removed_text_kept),
        cmocka_unit_test(html_comments_removed),
        cmocka_unit_test(html_lt_gt_in_text_escaped),
        cmocka_unit_test(html_ampersand_escaped_unless_entity),
        cmocka_unit_test(html_nul_bytes_dropped),
        cmocka_unit_test(html_quoted_gt_does_not_end_tag),
        cmocka_unit_test(html_unterminated_tag_drops_to_end),
        cmocka_unit_test(html_empty_input),
        cmocka_unit_test(html_bad_arguments),
        cmocka_unit_test(html_split_and_nested_script_tags),
        cmocka_unit_test(html_event_handlers_and_urls_stripped),
        cmocka_unit_test(html_mutation_xss_payloads),
        cmocka_unit_test(html_long_tag_names_do_not_match_by_prefix),
        cmocka_unit_test(html_long_inputs_are_linear_and_bounded),
        cmocka_unit_test(html_random_inputs_keep_invariants),
        cmocka_unit_test(name_plain_kept),
        cmocka_unit_test(name_null_and_empty_give_empty),
        cmocka_unit_test(name_surrounding_quotes_stripped_and_unescaped),
        cmocka_unit_test(name_quote_and_backslash_escaped),
        cmocka_unit_test(name_crlf_injection_removed),
        cmocka_unit_test(name_c0_tab_and_del_removed),
        cmocka_unit_test(name_c1_removed),
        cmocka_unit_test(name_bidi_and_line_separators_removed),
        cmocka_unit_test(name_spaces_trimmed_and_collapsed),
        cmocka_unit_test(name_utf8_kept_intact),
        cmocka_unit_test(name_invalid_utf8_dropped),
        cmocka_unit_test(name_capped_at_64_characters),
        cmocka_unit_test(name_cap_never_ends_in_space),
        cmocka_unit_test(name_outsize_never_splits),
        cmocka_unit_test(name_outsize_zero_writes_nothing),
        cmocka_unit_test(name_random_inputs_keep_invariants),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

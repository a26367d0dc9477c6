/*
 * test_ini.c - the INI reader: syntax, includes, line numbers, errors.
 *
 * Include tests write files into a fresh mkdtemp() directory, since an
 * include is only meaningful relative to a real file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sipbridge/cfg.h"
#include "sipbridge/ini.h"

/* ---- helpers ---- */

static struct ini_doc *
parse_ok(const char *text)
{
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    int rc = ini_load_buffer("x.conf", text, strlen(text), &doc, &errs);

    for (size_t i = 0; i < errs.n; i++)
        print_error("unexpected: %s\n", errs.msgs[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    cfg_errors_clear(&errs);
    return doc;
}

static void
assert_has_error(const struct cfg_errors *errs, const char *want)
{
    for (size_t i = 0; i < errs->n; i++)
        if (strcmp(errs->msgs[i], want) == 0)
            return;
    for (size_t i = 0; i < errs->n; i++)
        print_error("got: %s\n", errs->msgs[i]);
    fail_msg("missing error: %s", want);
}

static void
assert_has_error_prefix(const struct cfg_errors *errs, const char *want)
{
    for (size_t i = 0; i < errs->n; i++)
        if (strncmp(errs->msgs[i], want, strlen(want)) == 0)
            return;
    for (size_t i = 0; i < errs->n; i++)
        print_error("got: %s\n", errs->msgs[i]);
    fail_msg("missing error starting with: %s", want);
}

/* Parse @p text expecting failure with exactly one error, @p want. */
static void
assert_parse_error(const char *text, const char *want)
{
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    int rc = ini_load_buffer("x.conf", text, strlen(text), &doc, &errs);

    assert_int_equal(rc, -EINVAL);
    assert_null(doc);
    assert_has_error(&errs, want);
    assert_int_equal(errs.n, 1);
    cfg_errors_clear(&errs);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
             struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
setup_dir(void **state)
{
    char tmpl[] = "/tmp/test_ini.XXXXXX";
    char *dir = mkdtemp(tmpl);

    if (dir == NULL)
        return -1;
    *state = realpath(dir, NULL);
    return *state ? 0 : -1;
}

static int
teardown_dir(void **state)
{
    nftw(*state, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(*state);
    return 0;
}

/* Load DIR/main.conf. */
static int
load_main(const char *dir, struct ini_doc **doc, struct cfg_errors *errs)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/main.conf", dir);
    return ini_load(path, doc, errs);
}

static void
assert_entry(const struct ini_entry *e, const char *key, const char *value,
             unsigned line)
{
    assert_string_equal(e->key, key);
    assert_string_equal(e->value, value);
    assert_int_equal(e->line, line);
}

/* ---- syntax ---- */

static void
ini_comments_and_blank_lines_are_skipped(void **state)
{
    struct ini_doc *doc = parse_ok("; a comment\n"
                                   "# another comment\n"
                                   "\n"
                                   "   ; indented comment\n"
                                   "[s] ; comment after a header\n"
                                   "key = value ; comment after a value\n");

    (void)state;
    assert_int_equal(doc->nsections, 1);
    assert_string_equal(doc->sections[0].name, "s");
    assert_int_equal(doc->sections[0].nentries, 1);
    assert_entry(&doc->sections[0].entries[0], "key", "value", 6);
    ini_free(doc);
}

static void
ini_escaped_semicolon_is_literal(void **state)
{
    struct ini_doc *doc = parse_ok("[s]\nre = ^a\\;b$ ; comment\n");

    (void)state;
    assert_string_equal(ini_get(&doc->sections[0], "re"), "^a;b$");
    ini_free(doc);
}

static void
ini_arrow_assigns_like_equals(void **state)
{
    struct ini_doc *doc = parse_ok("[s]\nexten => 100\nb=>2\n");

    (void)state;
    assert_entry(&doc->sections[0].entries[0], "exten", "100", 2);
    assert_entry(&doc->sections[0].entries[1], "b", "2", 3);
    ini_free(doc);
}

static void
ini_keys_and_values_are_trimmed_and_keep_inner_equals(void **state)
{
    struct ini_doc *doc = parse_ok("[ s ]\n\t key \t=\t host=db port=5432 \n"
                                   "empty =\n");

    (void)state;
    assert_string_equal(doc->sections[0].name, "s");
    assert_entry(&doc->sections[0].entries[0], "key", "host=db port=5432", 2);
    assert_entry(&doc->sections[0].entries[1], "empty", "", 3);
    ini_free(doc);
}

static void
ini_crlf_line_endings_are_accepted(void **state)
{
    struct ini_doc *doc = parse_ok("[s]\r\nk = v\r\n\r\nk2 = v2");

    (void)state;
    assert_entry(&doc->sections[0].entries[0], "k", "v", 2);
    assert_entry(&doc->sections[0].entries[1], "k2", "v2", 4);
    ini_free(doc);
}

static void
ini_repeated_section_names_are_kept_apart(void **state)
{
    struct ini_doc *doc = parse_ok("[a]\ntype=transport\n"
                                   "[b]\n"
                                   "[a]\ntype=conference\n");

    (void)state;
    assert_int_equal(doc->nsections, 3);
    assert_string_equal(doc->sections[0].name, "a");
    assert_int_equal(doc->sections[0].line, 1);
    assert_string_equal(ini_get(&doc->sections[0], "type"), "transport");
    assert_string_equal(doc->sections[2].name, "a");
    assert_int_equal(doc->sections[2].line, 4);
    assert_string_equal(ini_get(&doc->sections[2], "type"), "conference");
    assert_string_equal(doc->sections[2].file, "x.conf");
    ini_free(doc);
}

static void
ini_repeated_keys_are_kept_and_get_returns_last(void **state)
{
    struct ini_doc *doc = parse_ok("[s]\nmember=1\nmember=2\nmember=3\n");
    const struct ini_section *s;

    (void)state;
    s = &doc->sections[0];
    assert_int_equal(s->nentries, 3);
    assert_entry(&s->entries[0], "member", "1", 2);
    assert_entry(&s->entries[2], "member", "3", 4);
    assert_string_equal(ini_get(s, "member"), "3");
    assert_int_equal(ini_find(s, "member")->line, 4);
    assert_null(ini_get(s, "nothing"));
    assert_null(ini_find(s, "nothing"));
    ini_free(doc);
}

static void
ini_at_keys_are_plain_keys(void **state)
{
    struct ini_doc *doc = parse_ok("[s]\n@custom = x\n");

    (void)state;
    assert_entry(&doc->sections[0].entries[0], "@custom", "x", 2);
    ini_free(doc);
}

static void
ini_many_sections_and_keys_grow(void **state)
{
    char *text = malloc(1000 * 32);
    size_t off = 0;
    struct ini_doc *doc;

    (void)state;
    assert_non_null(text);
    for (int i = 0; i < 500; i++)
        off += (size_t)sprintf(text + off, "[s%d]\nk=%d\n", i, i);
    doc = parse_ok(text);
    assert_int_equal(doc->nsections, 500);
    assert_string_equal(doc->sections[499].name, "s499");
    assert_int_equal(doc->sections[499].entries[0].line, 1000);
    ini_free(doc);
    free(text);
}

/* ---- syntax errors ---- */

static void
ini_key_outside_section_is_error(void **state)
{
    (void)state;
    assert_parse_error("\nk = v\n",
                       "x.conf:2: key 'k' outside of any [section]");
}

static void
ini_line_without_equals_is_error(void **state)
{
    (void)state;
    assert_parse_error("[s]\njunk\n", "x.conf:2: expected 'key = value', "
                       "'[section]' or '#include', got 'junk'");
}

static void
ini_missing_key_is_error(void **state)
{
    (void)state;
    assert_parse_error("[s]\n = v\n", "x.conf:2: missing key before '='");
}

static void
ini_unclosed_header_is_error(void **state)
{
    (void)state;
    assert_parse_error("[s\n",
                       "x.conf:1: missing ']' in section header '[s'");
}

static void
ini_empty_section_name_is_error(void **state)
{
    (void)state;
    assert_parse_error("[ ]\n", "x.conf:1: empty section name '[]'");
}

static void
ini_section_template_is_error(void **state)
{
    (void)state;
    assert_parse_error("[ep](!)\n", "x.conf:1: [ep]: section templates "
                       "'(!)' are not supported");
}

static void
ini_text_after_header_is_error(void **state)
{
    (void)state;
    assert_parse_error("[ep] x\n",
                       "x.conf:1: [ep]: unexpected text 'x' after ']'");
}

static void
ini_nul_byte_is_error(void **state)
{
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    static const char text[] = "[s]\nk=a\0b\n";

    (void)state;
    assert_int_equal(ini_load_buffer("x.conf", text, sizeof(text) - 1, &doc,
                                     &errs), -EINVAL);
    assert_has_error(&errs, "x.conf:2: NUL byte in line");
    cfg_errors_clear(&errs);
}

static void
ini_every_syntax_error_is_reported(void **state)
{
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    const char *text = "k=1\n[s]\njunk\n[\n[t]\n=2\n";

    (void)state;
    assert_int_equal(ini_load_buffer("x.conf", text, strlen(text), &doc,
                                     &errs), -EINVAL);
    assert_null(doc);
    assert_int_equal(errs.n, 4);
    assert_string_equal(errs.msgs[0],
                        "x.conf:1: key 'k' outside of any [section]");
    assert_string_equal(errs.msgs[1], "x.conf:3: expected 'key = value', "
                        "'[section]' or '#include', got 'junk'");
    assert_string_equal(errs.msgs[2],
                        "x.conf:4: missing ']' in section header '['");
    assert_string_equal(errs.msgs[3], "x.conf:6: missing key before '='");
    cfg_errors_clear(&errs);
}

static void
ini_missing_file_is_error(void **state)
{
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;

    (void)state;
    assert_int_equal(ini_load("/nonexistent/x.conf", &doc, &errs), -EINVAL);
    assert_null(doc);
    assert_has_error(&errs, "/nonexistent/x.conf: cannot read: No such file "
                     "or directory");
    cfg_errors_clear(&errs);
}

/* ---- includes ---- */

static void
ini_quoted_include_is_relative_to_including_file(void **state)
{
    const char *dir = *state;
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    char want[PATH_MAX];

    snprintf(want, sizeof(want), "%s/sub", dir);
    assert_int_equal(mkdir(want, 0700), 0);
    write_file(dir, "main.conf", "[a]\nk=1\n#include \"sub/b.conf\" ; c\n"
               "[c]\nk=3\n");
    write_file(dir, "sub/b.conf", "\n[b]\nk=2\n#include <c.conf>\n");
    write_file(dir, "sub/c.conf", "[d]\n");
    assert_int_equal(load_main(dir, &doc, &errs), 0);
    assert_int_equal(doc->nsections, 4);
    snprintf(want, sizeof(want), "%s/sub/b.conf", dir);
    assert_string_equal(doc->sections[1].name, "b");
    assert_string_equal(doc->sections[1].file, want);
    assert_int_equal(doc->sections[1].line, 2);
    assert_int_equal(doc->sections[1].entries[0].line, 3);
    assert_string_equal(doc->sections[1].entries[0].file, want);
    assert_string_equal(doc->sections[2].name, "d");
    snprintf(want, sizeof(want), "%s/main.conf", dir);
    assert_string_equal(doc->sections[3].name, "c");
    assert_string_equal(doc->sections[3].file, want);
    assert_int_equal(doc->sections[3].line, 4);
    assert_int_equal(doc->sections[3].entries[0].line, 5);
    assert_int_equal(doc->nfiles, 3);
    ini_free(doc);
}

static void
ini_glob_include_reads_matches_in_sorted_order(void **state)
{
    const char *dir = *state;
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    char sub[PATH_MAX];

    snprintf(sub, sizeof(sub), "%s/conf.d", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(dir, "main.conf", "#include conf.d/*.conf\n"
               "#include none.d/*.conf\n");
    write_file(dir, "conf.d/20-b.conf", "[b]\n");
    write_file(dir, "conf.d/10-a.conf", "[a]\n");
    write_file(dir, "conf.d/30-c.txt", "[c]\n");
    assert_int_equal(load_main(dir, &doc, &errs), 0);
    assert_int_equal(doc->nsections, 2);
    assert_string_equal(doc->sections[0].name, "a");
    assert_string_equal(doc->sections[1].name, "b");
    ini_free(doc);
}

static void
ini_include_of_missing_file_is_error(void **state)
{
    const char *dir = *state;
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    char want[PATH_MAX * 2];

    write_file(dir, "main.conf", "[a]\n#include nope.conf\n");
    assert_int_equal(load_main(dir, &doc, &errs), -EINVAL);
    assert_null(doc);
    snprintf(want, sizeof(want), "%s/main.conf:2: #include '%s/nope.conf': "
             "No such file or directory", dir, dir);
    assert_has_error(&errs, want);
    cfg_errors_clear(&errs);
}

static void
ini_include_cycle_is_error(void **state)
{
    const char *dir = *state;
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    char want[PATH_MAX * 2];

    write_file(dir, "main.conf", "#include a.conf\n");
    write_file(dir, "a.conf", "[a]\n\n#include main.conf\n");
    assert_int_equal(load_main(dir, &doc, &errs), -EINVAL);
    assert_null(doc);
    snprintf(want, sizeof(want), "%s/a.conf:3: #include '%s/main.conf': "
             "include cycle", dir, dir);
    assert_has_error_prefix(&errs, want);
    assert_int_equal(errs.n, 1);
    cfg_errors_clear(&errs);
}

static void
ini_self_include_is_cycle(void **state)
{
    const char *dir = *state;
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    char want[PATH_MAX * 2];

    write_file(dir, "main.conf", "#include ./main.conf\n");
    assert_int_equal(load_main(dir, &doc, &errs), -EINVAL);
    snprintf(want, sizeof(want), "%s/main.conf:1: #include '%s/./main.conf':"
             " include cycle", dir, dir);
    assert_has_error_prefix(&errs, want);
    cfg_errors_clear(&errs);
}

/* main.conf includes f1.conf, which includes f2.conf, ... up to f<n>. */
static void
write_chain(const char *dir, int n)
{
    char name[32], text[64];

    snprintf(text, sizeof(text), "#include f1.conf\n");
    write_file(dir, "main.conf", text);
    for (int i = 1; i <= n; i++) {
        snprintf(name, sizeof(name), "f%d.conf", i);
        if (i < n)
            snprintf(text, sizeof(text), "[s%d]\n#include f%d.conf\n", i,
                     i + 1);
        else
            snprintf(text, sizeof(text), "[s%d]\n", i);
        write_file(dir, name, text);
    }
}

static void
ini_include_depth_16_is_allowed(void **state)
{
    const char *dir = *state;
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;

    write_chain(dir, 16);
    assert_int_equal(load_main(dir, &doc, &errs), 0);
    assert_int_equal(doc->nsections, 16);
    assert_string_equal(doc->sections[15].name, "s16");
    ini_free(doc);
}

static void
ini_include_depth_17_is_error(void **state)
{
    const char *dir = *state;
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    char want[PATH_MAX * 2];

    write_chain(dir, 17);
    assert_int_equal(load_main(dir, &doc, &errs), -EINVAL);
    snprintf(want, sizeof(want), "%s/f16.conf:2: #include '%s/f17.conf': "
             "includes nested deeper than 16", dir, dir);
    assert_has_error(&errs, want);
    assert_int_equal(errs.n, 1);
    cfg_errors_clear(&errs);
}

static void
ini_included_file_continues_open_section(void **state)
{
    const char *dir = *state;
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    const struct ini_section *s;

    write_file(dir, "main.conf", "[a]\nx=1\n#include keys.conf\nz=3\n");
    write_file(dir, "keys.conf", "; shared keys\ny=2\n[b]\nw=4\n");
    assert_int_equal(load_main(dir, &doc, &errs), 0);
    assert_int_equal(doc->nsections, 2);
    s = &doc->sections[0];
    assert_int_equal(s->nentries, 3);
    assert_entry(&s->entries[0], "x", "1", 2);
    assert_entry(&s->entries[1], "y", "2", 2);
    assert_non_null(strstr(s->entries[1].file, "/keys.conf"));
    assert_entry(&s->entries[2], "z", "3", 4);
    assert_int_equal(doc->sections[1].nentries, 1);
    ini_free(doc);
}

static void
ini_errors_in_included_file_name_that_file(void **state)
{
    const char *dir = *state;
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    char want[PATH_MAX * 2];

    write_file(dir, "main.conf", "[a]\n#include bad.conf\nalso bad\n");
    write_file(dir, "bad.conf", "[b]\n\nbad line\n");
    assert_int_equal(load_main(dir, &doc, &errs), -EINVAL);
    assert_int_equal(errs.n, 2);
    snprintf(want, sizeof(want), "%s/bad.conf:3: expected 'key = value', "
             "'[section]' or '#include', got 'bad line'", dir);
    assert_string_equal(errs.msgs[0], want);
    snprintf(want, sizeof(want), "%s/main.conf:3: expected 'key = value', "
             "'[section]' or '#include', got 'also bad'", dir);
    assert_string_equal(errs.msgs[1], want);
    cfg_errors_clear(&errs);
}

static void
ini_buffer_includes_relative_to_its_name(void **state)
{
    const char *dir = *state;
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    char name[PATH_MAX];
    const char *text = "#include inc.conf\n";

    write_file(dir, "inc.conf", "[i]\n");
    snprintf(name, sizeof(name), "%s/virtual.conf", dir);
    assert_int_equal(ini_load_buffer(name, text, strlen(text), &doc, &errs),
                     0);
    assert_int_equal(doc->nsections, 1);
    assert_string_equal(doc->sections[0].name, "i");
    ini_free(doc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ini_comments_and_blank_lines_are_skipped),
        cmocka_unit_test(ini_escaped_semicolon_is_literal),
        cmocka_unit_test(ini_arrow_assigns_like_equals),
        cmocka_unit_test(ini_keys_and_values_are_trimmed_and_keep_inner_equals),
        cmocka_unit_test(ini_crlf_line_endings_are_accepted),
        cmocka_unit_test(ini_repeated_section_names_are_kept_apart),
        cmocka_unit_test(ini_repeated_keys_are_kept_and_get_returns_last),
        cmocka_unit_test(ini_at_keys_are_plain_keys),
        cmocka_unit_test(ini_many_sections_and_keys_grow),
        cmocka_unit_test(ini_key_outside_section_is_error),
        cmocka_unit_test(ini_line_without_equals_is_error),
        cmocka_unit_test(ini_missing_key_is_error),
        cmocka_unit_test(ini_unclosed_header_is_error),
        cmocka_unit_test(ini_empty_section_name_is_error),
        cmocka_unit_test(ini_section_template_is_error),
        cmocka_unit_test(ini_text_after_header_is_error),
        cmocka_unit_test(ini_nul_byte_is_error),
        cmocka_unit_test(ini_every_syntax_error_is_reported),
        cmocka_unit_test(ini_missing_file_is_error),
        cmocka_unit_test_setup_teardown(
            ini_quoted_include_is_relative_to_including_file, setup_dir,
            teardown_dir),
        cmocka_unit_test_setup_teardown(
            ini_glob_include_reads_matches_in_sorted_order, setup_dir,
            teardown_dir),
        cmocka_unit_test_setup_teardown(ini_include_of_missing_file_is_error,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(ini_include_cycle_is_error,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(ini_self_include_is_cycle,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(ini_include_depth_16_is_allowed,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(ini_include_depth_17_is_error,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(
            ini_included_file_continues_open_section, setup_dir,
            teardown_dir),
        cmocka_unit_test_setup_teardown(
            ini_errors_in_included_file_name_that_file, setup_dir,
            teardown_dir),
        cmocka_unit_test_setup_teardown(
            ini_buffer_includes_relative_to_its_name, setup_dir,
            teardown_dir),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

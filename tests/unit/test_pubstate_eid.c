/*
 * test_pubstate_eid.c - where the instance's entity id comes from: the
 * config, the file in state_dir, or a new random one written there.
 * Each test works in its own mkdtemp() directory and removes it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sipbridge/pubstate_eid.h"

struct tmp {
    char root[64];          /* the mkdtemp() directory */
    char state[128];        /* root/state, not created */
    char file[160];         /* root/state/entity_id */
};

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
tmp_setup(void **state)
{
    struct tmp *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -1;
    snprintf(t->root, sizeof(t->root), "/tmp/sb-eid-XXXXXX");
    if (mkdtemp(t->root) == NULL) {
        free(t);
        return -1;
    }
    snprintf(t->state, sizeof(t->state), "%s/state", t->root);
    snprintf(t->file, sizeof(t->file), "%s/%s", t->state, PUBSTATE_EID_FILE);
    umask(022);
    *state = t;
    return 0;
}

static int
tmp_teardown(void **state)
{
    struct tmp *t = *state;

    chmod(t->root, 0700);
    chmod(t->state, 0700);
    nftw(t->root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    free(t);
    return 0;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void
read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void
assert_made_up_mac(const struct pubstate_eid *e)
{
    assert_true(e->b[0] & 0x02);
    assert_false(e->b[0] & 0x01);
}

static void
configured_wins(void **state)
{
    struct tmp *t = *state;
    struct pubstate_eid e, want;
    const char *src = NULL;

    assert_int_equal(pubstate_eid_parse("00:0c:29:ab:cd:ef", &want), 0);
    assert_int_equal(mkdir(t->state, 0750), 0);
    write_file(t->file, "02:11:22:33:44:55\n");
    assert_int_equal(pubstate_eid_load("00:0C:29:AB:CD:EF", t->state, &e,
                                       &src), 0);
    assert_true(pubstate_eid_equal(&e, &want));
    assert_string_equal(src, "config");

    /* No state_dir needed, and nothing written. */
    assert_int_equal(pubstate_eid_load("00:0c:29:ab:cd:ef", NULL, &e, NULL), 0);
    assert_true(pubstate_eid_equal(&e, &want));
}

static void
configured_bad_is_an_error(void **state)
{
    struct tmp *t = *state;
    struct pubstate_eid e;

    assert_int_equal(pubstate_eid_load("00:0c:29:ab:cd", t->state, &e, NULL),
                     -EINVAL);
    assert_int_equal(access(t->state, F_OK), -1);
}

static void
generated_then_reloaded_from_file(void **state)
{
    struct tmp *t = *state;
    struct pubstate_eid e1, e2, f;
    const char *src = NULL;
    char text[64], want[PUBSTATE_EID_STRLEN + 1];
    struct stat sb;

    /* An empty configured value counts as unset. */
    assert_int_equal(pubstate_eid_load("", t->state, &e1, &src), 0);
    assert_string_equal(src, "generated");
    assert_made_up_mac(&e1);

    assert_int_equal(stat(t->state, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0750);
    assert_int_equal(stat(t->file, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0644);
    read_file(t->file, text, sizeof(text));
    pubstate_eid_format(&e1, want);
    strcat(want, "\n");
    assert_string_equal(text, want);
    assert_int_equal(pubstate_eid_parse(strtok(text, "\n"), &f), 0);
    assert_true(pubstate_eid_equal(&f, &e1));

    assert_int_equal(pubstate_eid_load(NULL, t->state, &e2, &src), 0);
    assert_string_equal(src, "file");
    assert_true(pubstate_eid_equal(&e1, &e2));
}

static void
file_written_by_hand_is_read(void **state)
{
    struct tmp *t = *state;
    struct pubstate_eid e, want;
    const char *src = NULL;

    assert_int_equal(pubstate_eid_parse("00:0c:29:ab:cd:ef", &want), 0);
    assert_int_equal(mkdir(t->state, 0750), 0);
    write_file(t->file, "00:0C:29:AB:CD:EF");      /* no newline */
    assert_int_equal(pubstate_eid_load(NULL, t->state, &e, &src), 0);
    assert_string_equal(src, "file");
    assert_true(pubstate_eid_equal(&e, &want));
}

static void
different_state_dirs_differ(void **state)
{
    struct tmp *t = *state;
    struct pubstate_eid ids[8];
    char dir[160];

    assert_int_equal(mkdir(t->state, 0750), 0);
    for (int i = 0; i < 8; i++) {
        snprintf(dir, sizeof(dir), "%s/d%d", t->state, i);
        assert_int_equal(pubstate_eid_load(NULL, dir, &ids[i], NULL), 0);
        assert_made_up_mac(&ids[i]);
        for (int j = 0; j < i; j++)
            assert_false(pubstate_eid_equal(&ids[i], &ids[j]));
    }
}

static void
corrupt_file_is_an_error_and_kept(void **state)
{
    static const char *const bad[] = {
        "hello\n", "", "00:0c:29:ab:cd\n", "00:0c:29:ab:cd:ef\n\n",
        "00:0c:29:ab:cd:ef \n", " 00:0c:29:ab:cd:ef\n",
        "00:0c:29:ab:cd:ef\r\n",
    };
    struct tmp *t = *state;
    struct pubstate_eid e;
    const char *src = "untouched";
    char text[64];

    assert_int_equal(mkdir(t->state, 0750), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(t->file, bad[i]);
        assert_int_equal(pubstate_eid_load(NULL, t->state, &e, &src),
                         -EINVAL);
        assert_string_equal(src, "untouched");
        read_file(t->file, text, sizeof(text));
        assert_string_equal(text, bad[i]);
    }
}

static void
unwritable_dir_is_an_error(void **state)
{
    struct tmp *t = *state;
    struct pubstate_eid e;
    char dir[160];

    if (geteuid() == 0)
        skip();     /* root writes anywhere */
    assert_int_equal(mkdir(t->state, 0500), 0);
    assert_int_equal(pubstate_eid_load(NULL, t->state, &e, NULL), -EACCES);
    assert_int_equal(access(t->file, F_OK), -1);

    /* Nor can it create state_dir there. */
    snprintf(dir, sizeof(dir), "%s/sub", t->state);
    assert_int_equal(pubstate_eid_load(NULL, dir, &e, NULL), -EACCES);
}

/* Root-proof: no one can create a file under a regular file. */
static void
state_dir_is_a_file(void **state)
{
    struct tmp *t = *state;
    struct pubstate_eid e;

    write_file(t->state, "not a directory\n");
    assert_int_equal(pubstate_eid_load(NULL, t->state, &e, NULL), -ENOTDIR);
}

static void
missing_parent_and_bad_arguments(void **state)
{
    struct tmp *t = *state;
    struct pubstate_eid e;
    char dir[160];

    snprintf(dir, sizeof(dir), "%s/no/such", t->root);
    assert_int_equal(pubstate_eid_load(NULL, dir, &e, NULL), -ENOENT);
    assert_int_equal(pubstate_eid_load(NULL, NULL, &e, NULL), -EINVAL);
    assert_int_equal(pubstate_eid_load(NULL, "", &e, NULL), -EINVAL);
    assert_int_equal(pubstate_eid_load(NULL, t->state, NULL, NULL), -EINVAL);
}

static void
state_dir_file_is_a_directory(void **state)
{
    struct tmp *t = *state;
    struct pubstate_eid e;

    assert_int_equal(mkdir(t->state, 0750), 0);
    assert_int_equal(mkdir(t->file, 0750), 0);
    assert_int_equal(pubstate_eid_load(NULL, t->state, &e, NULL), -EISDIR);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmp_setup, tmp_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(configured_wins),
        T(configured_bad_is_an_error),
        T(generated_then_reloaded_from_file),
        T(file_written_by_hand_is_read),
        T(different_state_dirs_differ),
        T(corrupt_file_is_an_error_and_kept),
        T(unwritable_dir_is_an_error),
        T(state_dir_is_a_file),
        T(missing_parent_and_bad_arguments),
        T(state_dir_file_is_a_directory),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

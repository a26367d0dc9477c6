/*
 * fuzz_config.c - the config file: the INI reader (ini_load_buffer) and
 * cfg_load_buffer with the daemon's own capability types
 * (daemon_cfg_types, src/daemon.c), then every check that
 * daemon_load_config() runs after it, and, for a config that passes, the
 * capabilities' readers that turn sections into their runtime settings
 * (peer table, outbound-publish and asterisk-publication lists, mwi).
 *
 * Input: the text of a config file.  It is parsed as
 * $TMPDIR/sbfuzz-config-XXXXXX/sipbridge.conf, a directory holding a few
 * files to #include (inc.conf, self.conf, a.conf, b.conf): includes of
 * those, globs over them, cycles and missing files are exercised.  An
 * #include whose argument holds a '/' or ".." is turned into a comment
 * before parsing, so that the fuzzer never reads files outside that
 * directory (a "#include /dev/stdin" would block).  SB_FUZZ_DEBUG=1 prints
 * the errors found.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "fuzz_common.h"
#include "sipbridge/api.h"
#include "sipbridge/cfg.h"
#include "sipbridge/chat.h"
#include "sipbridge/db.h"
#include "sipbridge/ini.h"
#include "sipbridge/mwi.h"
#include "sipbridge/peer.h"
#include "sipbridge/pubstate.h"
#include "sipbridge/sip.h"

#include "../../src/mwi/mwi_int.h"
#include "../../src/pubstate/pubstate_int.h"

static char conf_name[PATH_MAX];
static bool debug;

static void
write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    if (fp == NULL) {
        perror(path);
        abort();
    }
    fputs(text, fp);
    fclose(fp);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = fuzz_tmpdir("config");

    (void)argc;
    (void)argv;
    fuzz_quiet_log();
    debug = getenv("SB_FUZZ_DEBUG") != NULL;
    snprintf(conf_name, sizeof(conf_name), "%s/sipbridge.conf", dir);
    write_file(dir, "inc.conf",
               "[transport-inc]\ntype = transport\nprotocol = udp\n"
               "bind = 127.0.0.1:5070\n");
    write_file(dir, "self.conf", "#include self.conf\n[self]\ntype=control\n");
    write_file(dir, "a.conf", "#include \"b.conf\"\nlog_level = debug\n");
    write_file(dir, "b.conf", "#include <a.conf>\n[b]\ntype = global\n");
    return 0;
}

/* Is the #include line @p s (trimmed, starting "#include") safe to run? */
static bool
include_is_local(const char *s, size_t len)
{
    for (size_t i = 8; i < len; i++)
        if (s[i] == '/' || (s[i] == '.' && i + 1 < len && s[i + 1] == '.'))
            return false;
    return true;
}

/* The input with unsafe #include lines commented out (same length). */
static char *
confine_includes(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    size_t pos = 0;

    if (buf == NULL)
        return NULL;
    if (size)
        memcpy(buf, data, size);
    buf[size] = '\0';
    while (pos < size) {
        char *nl = memchr(buf + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - buf) : size, s = pos;

        while (s < end && (buf[s] == ' ' || buf[s] == '\t'))
            s++;
        if (end - s >= 8 && memcmp(buf + s, "#include", 8) == 0 &&
            !include_is_local(buf + s, end - s))
            buf[s] = ';';
        pos = end + 1;
    }
    return buf;
}

/* What daemon_load_config() checks after cfg_load(), then the readers. */
static void
check_loaded(const struct cfg *cfg, struct cfg_errors *errs)
{
    int bad = 0;

    bad |= sip_check_transports(cfg, errs) != 0;
    for (size_t i = 0; i < cfg->ndatabases; i++) {
        char why[256];

        bad |= db_conninfo_check(cfg->databases[i].conninfo, why,
                                 sizeof(why)) != 0;
        FUZZ_CHECK(cfg_database_find(cfg, cfg->databases[i].name) != NULL,
                   "database '%s' not found by name",
                   cfg->databases[i].name);
    }
    bad |= chat_check_config(cfg, errs) != 0;
    bad |= peer_check_config(cfg, errs) != 0;
    bad |= pubstate_check_config(cfg, errs) != 0;
    bad |= mwi_check_config(cfg, errs) != 0;
    bad |= api_check_config(cfg, errs) != 0;
    FUZZ_CHECK(cfg_transports_equal(cfg, cfg), "a config's transports "
               "differ from themselves");
    FUZZ_CHECK(cfg->ntransports > 0, "a loaded config has no transport");

    /* What the capabilities read at start-up from a config that passed. */
    if (!bad) {
        struct peer_table *pt = NULL;
        struct ps_target_cfg *tv = NULL;
        struct ps_asterisk *ast = NULL;
        struct mwi_cfg mc;
        size_t n = 0;

        FUZZ_CHECK(peer_table_create(&pt, cfg) != -EINVAL,
                   "peer_table_create refuses a config that passed "
                   "peer_check_config");
        peer_table_destroy(pt);
        if (ps_target_cfg_list(cfg, &tv, &n) == 0) {
            for (size_t i = 0; i < n; i++)
                ps_target_cfg_free(&tv[i]);
            free(tv);
        }
        if (ps_asterisk_list(cfg, &ast) == 0)
            ps_asterisk_free_all(ast);
        if (mwi_cfg_read(cfg, &mc) == 0)
            mwi_cfg_free(&mc);
    }

    /* The typed getters on every section, as capabilities call them. */
    for (size_t i = 0; i < cfg->doc->nsections; i++) {
        const struct ini_section *sec = &cfg->doc->sections[i];
        const char *type = ini_get(sec, "type");

        FUZZ_CHECK(type != NULL, "section [%s] without type passed",
                   sec->name);
        FUZZ_CHECK(cfg_section_find(cfg, type, sec->name) != NULL,
                   "section [%s] not found by type and name", sec->name);
        (void)cfg_get_uint(sec, "max_participants", 1);
        (void)cfg_get_bool(sec, "events", false);
        (void)cfg_get_size(sec, "max_body", 1);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_errors errs = { 0 };
    struct ini_doc *doc = NULL;
    struct cfg *cfg = NULL;
    char *buf = confine_includes(data, size);
    int rc;

    if (buf == NULL)
        return 0;

    /* The INI layer alone. */
    rc = ini_load_buffer(conf_name, buf, size, &doc, &errs);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM,
               "ini_load_buffer returned %d", rc);
    FUZZ_CHECK(rc != -EINVAL || errs.n > 0, "-EINVAL without an error");
    if (rc == 0) {
        for (size_t i = 0; i < doc->nsections; i++) {
            const struct ini_section *sec = &doc->sections[i];

            for (size_t j = 0; j < sec->nentries; j++)
                FUZZ_CHECK(ini_find(sec, sec->entries[j].key) != NULL,
                           "key '%s' not found", sec->entries[j].key);
        }
        ini_free(doc);
    }
    for (size_t i = 0; i < errs.n; i++)
        FUZZ_CHECK(errs.msgs[i] != NULL && errs.msgs[i][0] != '\0',
                   "empty error message");
    cfg_errors_clear(&errs);

    /* The whole config, as the daemon loads it. */
    rc = cfg_load_buffer(conf_name, buf, size, daemon_cfg_types,
                         daemon_cfg_ntypes, &cfg, &errs);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM,
               "cfg_load_buffer returned %d", rc);
    FUZZ_CHECK(rc != -EINVAL || errs.n > 0, "-EINVAL without an error");
    if (rc == 0) {
        check_loaded(cfg, &errs);
        cfg_free(cfg);
    }
    if (debug) {
        fprintf(stderr, "fuzz_config: cfg_load_buffer %d\n", rc);
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "fuzz_config: %s\n", errs.msgs[i]);
    }
    cfg_errors_clear(&errs);
    free(buf);
    return 0;
}

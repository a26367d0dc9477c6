/*
 * ini.h - the INI reader under the config (pjsip.conf dialect).
 *
 * Reads a file and its #include'd files into a flat list of sections, each
 * keeping the file and line of itself and of every key, in file order.  It
 * knows nothing of section types: cfg.c gives meaning to the entries.
 * Repeated section names and repeated keys are kept as they are (pjsip.conf
 * allows the same name for objects of different types, and repeatable keys).
 *
 * Syntax: "[name]" starts a section; "key = value" (or "key => value") adds
 * an entry; ';' starts a comment anywhere ("\;" is a literal ';'), a line
 * whose first non-blank is '#' or ';' is a comment except for the directive
 * "#include FILE" (FILE may be quoted, is relative to the including file's
 * directory and may be a glob, matched in sorted order; no match is not an
 * error for a glob, but is for a plain name).  Leading/trailing blanks of
 * keys and values are trimmed.
 *
 * Memory: ini_load() returns a document that owns every string in it; free
 * it with ini_free().  Errors go to a cfg_errors list (cfg.h) as
 * "FILE:LINE: message" and are returned as -EINVAL.
 */
#ifndef SIPBRIDGE_INI_H
#define SIPBRIDGE_INI_H

#include <stddef.h>

struct cfg_errors;

struct ini_entry {
    char *key;
    char *value;
    const char *file;   /* points into the document's file list */
    unsigned line;
};

struct ini_section {
    char *name;
    const char *file;
    unsigned line;
    struct ini_entry *entries; /* in file order */
    size_t nentries;
};

struct ini_doc {
    struct ini_section *sections; /* in file order, includes expanded */
    size_t nsections;
    char **files;                 /* every file read, owned */
    size_t nfiles;
};

/**
 * Read @p path and its includes.  Syntax errors, unreadable files, include
 * cycles and includes nested deeper than 16 are reported to @p errs.
 * @return 0 and *out set, or -EINVAL/-ENOMEM (*out untouched).
 */
int ini_load(const char *path, struct ini_doc **out, struct cfg_errors *errs);

/** Parse a buffer as if it were file @p name (for tests and fuzzing). */
int ini_load_buffer(const char *name, const char *buf, size_t len,
                    struct ini_doc **out, struct cfg_errors *errs);

void ini_free(struct ini_doc *doc);

/** @return the last value of @p key in @p sec, or NULL. Borrowed. */
const char *ini_get(const struct ini_section *sec, const char *key);

/** @return the last entry of @p key in @p sec, or NULL. Borrowed. */
const struct ini_entry *ini_find(const struct ini_section *sec,
                                 const char *key);

#endif

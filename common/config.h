/*
 * Declarative configuration: each binary describes its options in a table
 * (JSON key, command-line flag, type, bounds, where it lands in its config
 * struct). config_parse loads the JSON file given with --config, then applies
 * the command line, which wins (DESIGN.md section 10a). Every error names the
 * JSON path or the flag; unknown keys are errors; nothing is applied halfway.
 */
#ifndef HO_CONFIG_H
#define HO_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

enum config_type {
    CONFIG_STRING,  /* char * (owned) */
    CONFIG_INT,     /* long long within [min, max] */
    CONFIG_BOOL,    /* int 0/1; a flag without value sets 1 */
    CONFIG_LIST,    /* struct config_list of strings; repeated flags append */
    CONFIG_LABELS,  /* struct config_list of "key=value"; JSON object or KEY=VALUE flags */
    CONFIG_IGNORED, /* a documented key this build accepts but does not use yet */
    CONFIG_RAW      /* char * (owned): the value's JSON text, for its module to parse and
                       validate (arrays of objects); from a flag, the flag's text as is */
};

struct config_list {
    char **items; /* owned */
    size_t n;
};

struct config_option {
    const char *key;     /* JSON path, dots for nesting: "tls.cert" */
    const char *flag;    /* "--tls-cert", or NULL for file-only keys */
    enum config_type type;
    size_t offset;       /* offsetof(struct ..., field) */
    long long min, max;  /* CONFIG_INT bounds; max length for CONFIG_STRING and CONFIG_RAW
                            (0 = 4096) */
    const char *metavar; /* "FILE" in --help */
    const char *help;    /* one line */
};

struct config_cli {
    const char *config_file; /* --config, or NULL */
    char **positional;       /* arguments that are not options, in order (borrowed from argv) */
    int npositional;
    int help;                /* --help or -h seen */
    int version;             /* --version seen */
};

/*
 * Loads --config FILE (if any) and then the flags of argv (argv[0] excluded by the
 * caller: pass argc/argv starting at the first option) into target. Fills cli.
 * Defaults must already be in target. On error target is unchanged in meaning but
 * may hold the file's values: callers exit. err->field is the JSON path or flag.
 */
enum ho_code config_parse(const struct config_option *opts, size_t nopts, void *target, int argc,
                          char **argv, struct config_cli *cli, struct ho_error *err) HO_WUR;

/* Prints "usage" then one line per option with its flag, metavar, key and help. */
void config_print_help(FILE *fp, const char *usage, const struct config_option *opts,
                       size_t nopts);

/* Frees the strings and lists the options point to in target. */
void config_free(const struct config_option *opts, size_t nopts, void *target);

/* Appends a copy of s to l. */
void config_list_add(struct config_list *l, const char *s);
void config_list_free(struct config_list *l);

#endif

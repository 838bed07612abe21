/*
 * healopsctl (DESIGN.md section 10a): what the command's parts share.
 * agent/ctl_main.c holds the entry point and the history and fleet queries;
 * agent/ctl_package.c the package commands (keygen, package, packages, assign)
 * and their command line, agent/ctl_publish.c those of them that talk to the
 * server.
 */
#ifndef HO_CTL_H
#define HO_CTL_H

#include <stddef.h>

/* Exit statuses of every healopsctl command. */
#define CTL_EXIT_OK          0 /* done */
#define CTL_EXIT_FAIL        1 /* a problem with the input, or the server refused */
#define CTL_EXIT_USAGE       2 /* bad command line */
#define CTL_EXIT_UNREACHABLE 3 /* the server could not be reached */

#define CTL_MAX_POSITIONAL 4  /* operands of a package command */
#define CTL_MAX_SELECTORS  32 /* assign --selector flags */

struct manifest;

/* The options package commands share with the query commands (one --config file serves both). */
struct ctl_pkg_global {
    char *server;  /* owned: --server or HEALOPS_SERVER */
    char *token;   /* owned, secret: --token or HEALOPS_TOKEN */
    char *ca_file; /* owned: --ca-file or HEALOPS_CA_FILE */
    int json;      /* --json: print the server's JSON */
    /* keys of the query commands, accepted in the file and unused by package commands */
    char *agent, *package, *check, *outcome, *since, *until, *manual, *cursor;
    long long limit;
};

/* The command line of one package command; the strings are borrowed from argv. */
struct ctl_pkg_args {
    const char *cmd;                          /* "keygen", "package", "packages", "assign" */
    const char *sub;                          /* package: init, lint, build, sign, publish, show */
    const char *pos[CTL_MAX_POSITIONAL];      /* the operands after the command words */
    int npos;
    const char *key;                          /* sign --key */
    const char *output;                       /* build -o */
    const char *signature;                    /* publish --signature */
    const char *version;                      /* assign --version */
    const char *selectors[CTL_MAX_SELECTORS]; /* assign --selector, in order */
    int nselectors;
    const char *rollout;                      /* assign --rollout */
    int help;                                 /* --help seen */
    char **rest;                              /* owned array: the global options */
    int nrest;
    struct ctl_pkg_global g;
};

/*
 * 1 when the command word of args (argv without argv[0]) is one of
 * ctl_package_main's: keygen, package, packages, assign.
 */
int ctl_package_is_command(int argc, char **argv);

/*
 * Runs a package command; args as for ctl_package_is_command. Returns the
 * exit status (CTL_EXIT_*).
 */
int ctl_package_main(int argc, char **argv);

/* Prints "healopsctl: MESSAGE (see --help)" on stderr; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Reads the bundle file path (at most BUNDLE_MAX_BYTES) into *data (caller
 * frees) and parses its manifest into *m (caller cleans up). On failure prints
 * why, leaves *data NULL and *m zeroed, and returns 0; else 1.
 */
int ctl_read_bundle(const char *path, void **data, size_t *len, struct manifest *m);

/* The server commands (ctl_publish.c); each returns an exit status. */
int ctl_publish(const struct ctl_pkg_args *a);         /* package publish BUNDLE */
int ctl_assign(const struct ctl_pkg_args *a);          /* assign NAME */
int ctl_list(const struct ctl_pkg_args *a, const char *name); /* packages, package show NAME */

#endif

/*
 * The package manifest healops-package.json (DESIGN.md section 3): parsed
 * and validated into typed records. Errors name the file and the JSON path.
 */
#ifndef HO_MANIFEST_H
#define HO_MANIFEST_H

#include <stddef.h>

#include "error.h"
#include "run.h"

#define MANIFEST_FILE          "healops-package.json"
#define MANIFEST_MAX_BYTES     (1024 * 1024)
#define MANIFEST_MAX_CHECKS    256
#define MANIFEST_MAX_STATS     256
#define MANIFEST_MAX_ARGS      64
#define MANIFEST_MAX_INTERVAL  86400  /* seconds */
#define MANIFEST_MAX_TIMEOUT   3600   /* seconds */
#define MANIFEST_DEFAULT_TIMEOUT        10  /* test timeout, seconds */
#define MANIFEST_DEFAULT_REPAIR_TIMEOUT 60  /* seconds */

enum probe_kind {
    PROBE_EXEC = 0, /* an executable test ("exec"), not a probe */
    PROBE_TCP,
    PROBE_HTTP,
    PROBE_PROCESS,
    PROBE_FILE,
    PROBE_DISK,
    PROBE_COMMAND
};
const char *probe_kind_str(enum probe_kind k);

/* An executable with its arguments, relative paths resolved against the package dir. */
struct manifest_exec {
    char **argv;   /* owned, NULL-terminated; argv[0] as written in the manifest */
    size_t argc;
    int timeout_s; /* 0 = the check's timeout */
    char *user;    /* owned, may be NULL: user to run as when the agent is root */
    int shell;     /* 1: argv is ["script text"] run with /bin/sh -c (manifest "shell") */
};

/* A test: either exec (kind PROBE_EXEC) or one built-in probe and its options. */
struct probe_spec {
    enum probe_kind kind;
    struct manifest_exec exec; /* PROBE_EXEC and PROBE_COMMAND */
    int timeout_ms;            /* probe timeout; default 1000 (tcp) / check timeout */
    /* tcp */
    char *host;                /* default "127.0.0.1" */
    int port;
    /* http */
    char *url;
    int expect_status;         /* default 200 */
    char *body_match;          /* POSIX extended regex, may be NULL */
    int max_latency_ms;        /* 0 = none; above it the probe says warning */
    int insecure;              /* skip TLS verification */
    /* process */
    char *process_name;        /* "name": matched against comm and argv[0] basename */
    int min_count;             /* default 1 */
    int max_count;             /* -1 = no maximum */
    /* file */
    char *path;                /* file and disk */
    int must_exist;            /* "exists", default 1 */
    int mode;                  /* -1 = not checked; "mode": "0644" */
    int max_age_s;             /* 0 = not checked */
    char *contains;            /* regex, may be NULL */
    /* disk */
    double min_free_pct;       /* critical below; 0 = not checked */
    double warn_free_pct;      /* warning below; 0 = not checked */
    long long min_free_mb;     /* critical below; 0 = not checked */
    /* command */
    int expect_exit;           /* default 0 */
    char *output_match;        /* regex, may be NULL */
};

/* The manifest "alert" block, passed on to alerts. */
struct manifest_alert {
    char *severity; /* "critical" (default), "warning", "info" */
    char *runbook;
    char **docs;    /* owned, NULL-terminated, may be NULL */
    char *advice;
    char *changelog;
    char *login;
};

struct manifest_check {
    char *name;
    int interval_s;      /* 1..86400, default 60 */
    int timeout_s;       /* test timeout, default 10 */
    struct probe_spec test;
    int has_repair;
    struct manifest_exec repair; /* timeout_s defaults to 60 */
    unsigned repair_on;  /* bit (1 << enum test_status); default critical only */
    int max_repairs;     /* loop guard: repairs allowed per window; 0 = unlimited */
    int max_repairs_window_s;
    int report_only;
    struct manifest_alert alert;
};

struct manifest_stat {
    char *name;
    int interval_s;
    int timeout_s;
    struct manifest_exec exec;
};

struct manifest {
    char *name;        /* [a-z0-9][a-z0-9._-]*, at most 64 */
    char *version;     /* semantic version x.y.z[-pre] */
    char *description;
    char *environment; /* default "production" */
    struct tag *tags;  /* owned array */
    size_t ntags;
    struct manifest_check *checks;
    size_t nchecks;
    struct manifest_stat *stats;
    size_t nstats;
    char *dir;         /* owned: the package folder, set by manifest_load_dir */
};

/*
 * Parses and validates manifest JSON. Unknown keys are errors (typos must not
 * silently disable a check). On error err->field is the JSON path
 * ("checks[1].interval") and err->msg the problem; out is left zeroed.
 */
enum ho_code manifest_parse(const char *json, size_t len, struct manifest *out,
                            struct ho_error *err) HO_WUR;

/*
 * Reads DIR/healops-package.json, parses it, and checks that every exec path is
 * relative, stays inside DIR, exists and is executable. err->field is then
 * "healops-package.json:checks[0].test.exec[0]".
 */
enum ho_code manifest_load_dir(const char *dir, struct manifest *out, struct ho_error *err) HO_WUR;

/* [A-Za-z0-9][A-Za-z0-9._-]*, or with lower set [a-z0-9][a-z0-9._-]* (package names). */
int manifest_name_ok(const char *s, int lower);
/* Semantic Versioning 2.0.0: MAJOR.MINOR.PATCH[-prerelease][+build]. */
int manifest_semver_ok(const char *s);

/* Finds a check by name; NULL when absent. */
const struct manifest_check *manifest_find_check(const struct manifest *m, const char *name);

void manifest_cleanup(struct manifest *m);

#endif

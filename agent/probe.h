/*
 * Running a check's test (an executable following the Nagios plugin convention,
 * or a built-in probe) and its repair. Used by the check cycle.
 */
#ifndef HO_PROBE_H
#define HO_PROBE_H

#include <stddef.h>
#include <sys/types.h>

#include "manifest.h"
#include "run.h"

struct probe_ctx {
    const char *node;      /* agent name, for HEALOPS_NODE */
    int drop_privs;        /* 1: run tests as test_uid/test_gid (agent is root) */
    uid_t test_uid;
    gid_t test_gid;
    size_t output_cap;     /* bytes kept per stream, default 65536 */
    char home[512];        /* HOME of home_uid, the user of tests and stats ("" = not known) */
    uid_t home_uid;
};

/*
 * Sets ctx->home to the home of the user tests and stats run as (test_uid when
 * drop_privs, else the agent's user), or "/" when it has none: found once here
 * instead of reading the user database for every child.
 */
void probe_ctx_home(struct probe_ctx *ctx);

/* HOME for a child of uid: ctx->home when uid is home_uid, else looked up. */
void probe_home_for(const struct probe_ctx *ctx, uid_t uid, char *out, size_t n);

/*
 * Runs the test of check c of package pkg (pkg->dir is the working directory).
 * Fills step (present=1, status, exit code, output = first line summary plus long
 * text, duration) and appends perfdata/probe metrics to *metrics (*nmetrics grows;
 * caller owns them). Never fails: a test that cannot run (exec failure, timeout,
 * killed) gets status UNKNOWN and an output that says exactly why.
 */
void probe_run_test(const struct probe_ctx *ctx, const struct manifest *pkg,
                    const struct manifest_check *c, struct run_step *step,
                    struct metric **metrics, size_t *nmetrics);

/*
 * Runs the repair of c with the failed test's result on stdin (JSON) and in the
 * environment (HEALOPS_CHECK, HEALOPS_PACKAGE, HEALOPS_NODE, HEALOPS_TEST_STATUS,
 * HEALOPS_TEST_EXIT_CODE, HEALOPS_TEST_OUTPUT). Fills step: succeeded on exit 0,
 * timeout when killed at its timeout, failed otherwise (output says why).
 */
void probe_run_repair(const struct probe_ctx *ctx, const struct manifest *pkg,
                      const struct manifest_check *c, const struct run_step *test,
                      struct run_step *step);

#endif

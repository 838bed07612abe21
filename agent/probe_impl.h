/*
 * Inside the probe family (probe.c and probe_*.c): one function per built-in
 * probe kind and the helpers they share. Not for use outside agent/probe*.c.
 */
#ifndef HO_PROBE_IMPL_H
#define HO_PROBE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "probe.h"
#include "runner.h"

#define PROBE_DEFAULT_TCP_MS 1000
#define PROBE_READ_MAX       (1024 * 1024) /* bytes of a file or body searched by a regex */
#define PROBE_ENV_OUTPUT_MAX 4096          /* HEALOPS_TEST_OUTPUT */

/*
 * Built-in probes: each sets step->status and step->output (one line saying what
 * it found) and may append metrics. probe_run_test has zeroed the step and
 * measures its duration.
 */
void probe_tcp_run(const struct probe_ctx *ctx, const struct manifest_check *c,
                   struct run_step *step, struct metric **metrics, size_t *nmetrics);
void probe_http_run(const struct probe_ctx *ctx, const struct manifest_check *c,
                    struct run_step *step, struct metric **metrics, size_t *nmetrics);
void probe_process_run(const struct probe_ctx *ctx, const struct manifest_check *c,
                       struct run_step *step, struct metric **metrics, size_t *nmetrics);
void probe_file_run(const struct probe_ctx *ctx, const struct manifest_check *c,
                    struct run_step *step, struct metric **metrics, size_t *nmetrics);
void probe_disk_run(const struct probe_ctx *ctx, const struct manifest_check *c,
                    struct run_step *step, struct metric **metrics, size_t *nmetrics);
void probe_command_run(const struct probe_ctx *ctx, const struct manifest *pkg,
                       const struct manifest_check *c, struct run_step *step,
                       struct metric **metrics, size_t *nmetrics);

/* How to run one child for a test, a command probe or a repair. */
struct probe_child {
    const struct manifest_exec *x; /* what to run (argv, shell, user) */
    int timeout_ms;
    int repair;             /* 0: run as the test user; 1: as root or x->user */
    const char *stdin_data; /* NULL = /dev/null */
    size_t stdin_len;
    char *const *extra_env; /* more "KEY=value", NULL-terminated; may be NULL */
};

/*
 * Runs pc->x for check c of pkg: argv[0] resolved against pkg->dir, cwd pkg->dir,
 * the clean environment (PATH, HOME, LANG, HEALOPS_*), the chosen user. Always
 * fills res (free with runner_result_cleanup): a user that cannot be found or a
 * failed fork shows as res->exec_failed with res->what saying why.
 */
void probe_child_run(const struct probe_ctx *ctx, const struct manifest *pkg,
                     const struct manifest_check *c, const struct probe_child *pc,
                     struct runner_result *res);

/*
 * When the child did not run to its own exit (exec failure, timeout, signal),
 * returns a new string saying why ("cannot run checks/x.test: Permission
 * denied", "timed out after 10 s (killed)", "killed by signal 9"); else NULL.
 */
char *probe_child_failure(const struct manifest_exec *x, int timeout_ms,
                          const struct runner_result *res);

/* Sets step->status and step->output to the formatted text (capped). */
void probe_step_set(struct run_step *step, enum test_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies s (n bytes) with blanks trimmed, cut to max bytes on a UTF-8 boundary; caller frees. */
char *probe_text_trim(const char *s, size_t n, size_t max);
/*
 * argv for a child (test, repair, stats collector): ["/bin/sh", "-c", script] for a
 * shell exec, else argv with a relative argv[0] resolved against the package folder.
 * Returns a new NULL-terminated array of new strings; caller frees each and the array.
 */
char **probe_argv(const struct manifest *pkg, const struct manifest_exec *x);

/* Appends a metric name=value (no tags) unless RUN_MAX_METRICS are there already. */
void probe_metric_add(struct metric **metrics, size_t *nmetrics, const char *name, double value);

/*
 * Matches a POSIX extended regex (REG_NEWLINE: ^ and $ match at line ends)
 * against text. Returns 1 on a match, 0 on none, -1 when the pattern does not
 * compile (why in ebuf).
 */
int probe_regex_match(const char *pattern, const char *text, char *ebuf, size_t esize);

/* Microseconds of the monotonic clock, for sub-millisecond latencies. */
int64_t probe_mono_us(void);

/* strerror_r into buf with the first letter lowercased, for mid-sentence use. */
const char *probe_strerror(int e, char *buf, size_t n);

#endif

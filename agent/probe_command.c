/*
 * The command probe: runs exec (as a test: test user, clean environment,
 * package folder) and is OK when it exits with expect_exit and, if
 * output_match is set, stdout or stderr matches that regex; CRITICAL
 * otherwise. A command that cannot run or times out is UNKNOWN. Unlike an
 * exec test, the exit code is not read as a Nagios status.
 */
#include <stdlib.h>
#include <string.h>

#include "probe_impl.h"

/* Regex against stdout, then stderr: 1 match, 0 none, -1 bad pattern. */
static int probe_command_match(const char *re, const struct runner_result *res, char *ebuf,
                               size_t n)
{
    int m = probe_regex_match(re, res->out, ebuf, n);

    if (m != 0)
        return m;
    return probe_regex_match(re, res->err, ebuf, n);
}

/* The command's own words, for the lines after the verdict: stdout, else stderr. */
static char *probe_command_text(const struct runner_result *res)
{
    char *t = probe_text_trim(res->out, res->out_len, RUN_MAX_OUTPUT);

    if (t[0] != '\0')
        return t;
    free(t);
    return probe_text_trim(res->err, res->err_len, RUN_MAX_OUTPUT);
}

static void probe_command_judge(const struct probe_spec *p, const struct runner_result *res,
                                const char *text, struct run_step *step)
{
    const char *sep = text[0] != '\0' ? "\n" : "";
    char ebuf[128];
    int m = 1;

    if (p->output_match != NULL)
        m = probe_command_match(p->output_match, res, ebuf, sizeof(ebuf));
    if (m < 0)
        probe_step_set(step, TEST_STATUS_UNKNOWN, "COMMAND UNKNOWN: bad output_match: %s", ebuf);
    else if (res->exit_code != p->expect_exit)
        probe_step_set(step, TEST_STATUS_CRITICAL, "COMMAND CRITICAL: exit %d, expected %d%s%s",
                       res->exit_code, p->expect_exit, sep, text);
    else if (m == 0)
        probe_step_set(step, TEST_STATUS_CRITICAL,
                       "COMMAND CRITICAL: exit %d but the output does not match '%.80s'%s%s",
                       res->exit_code, p->output_match, sep, text);
    else
        probe_step_set(step, TEST_STATUS_OK, "COMMAND OK: exit %d%s%s", res->exit_code, sep, text);
}

void probe_command_run(const struct probe_ctx *ctx, const struct manifest *pkg,
                       const struct manifest_check *c, struct run_step *step,
                       struct metric **metrics, size_t *nmetrics)
{
    const struct probe_spec *p = &c->test;
    struct probe_child pc = {.x = &p->exec};
    struct runner_result res;
    char *why, *text;

    (void)metrics;
    (void)nmetrics;
    if (p->timeout_ms > 0)
        pc.timeout_ms = p->timeout_ms;
    else if (p->exec.timeout_s > 0)
        pc.timeout_ms = p->exec.timeout_s * 1000;
    else
        pc.timeout_ms = (c->timeout_s > 0 ? c->timeout_s : MANIFEST_DEFAULT_TIMEOUT) * 1000;
    probe_child_run(ctx, pkg, c, &pc, &res);
    text = probe_command_text(&res);
    why = probe_child_failure(pc.x, pc.timeout_ms, &res);
    if (why != NULL) {
        probe_step_set(step, TEST_STATUS_UNKNOWN, "COMMAND UNKNOWN: %s%s%s", why,
                       text[0] != '\0' ? "\n" : "", text);
    } else {
        step->has_exit_code = 1;
        step->exit_code = res.exit_code;
        probe_command_judge(p, &res, text, step);
    }
    free(why);
    free(text);
    runner_result_cleanup(&res);
}

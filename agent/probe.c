/*
 * Running a check's test and repair (DESIGN.md sections 3 and 4). An exec test
 * follows the Nagios plugin convention (nagios.c); built-in probes live in
 * probe_*.c. Children run through runner.c with a clean environment, the
 * package folder as working directory and, when the agent is root, the test
 * user for tests and root or the repair's "user" for repairs. Whatever goes
 * wrong, the step gets a status and an output that says why.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "mem.h"
#include "nagios.h"
#include "probe_impl.h"
#include "utf8.h"

#define PROBE_PW_BUF     16384
#define PROBE_MAX_GROUPS 256
#define PROBE_ENV_MAX    16 /* our variables plus the extras */
#define PROBE_STDIN_MAX  (8 * RUN_MAX_OUTPUT)

/* ---- small shared helpers ---- */

int64_t probe_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const char *probe_strerror(int e, char *buf, size_t n)
{
    const char *s = strerror_r(e, buf, n);

    if (s != buf) {
        snprintf(buf, n, "%s", s);
        s = buf;
    }
    if (buf[0] >= 'A' && buf[0] <= 'Z' && buf[1] >= 'a' && buf[1] <= 'z')
        buf[0] = (char)(buf[0] - 'A' + 'a');
    return s;
}

static int probe_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

char *probe_text_trim(const char *s, size_t n, size_t max)
{
    n = strnlen(s, n);
    while (n > 0 && probe_blank(s[n - 1]))
        n--;
    while (n > 0 && probe_blank(s[0])) {
        s++;
        n--;
    }
    return xstrndup(s, utf8_cut(s, n, max));
}

void probe_step_set(struct run_step *step, enum test_status status, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        fatalx("probe: out of memory");
    free(step->output);
    step->output = probe_text_trim(s, (size_t)n, RUN_MAX_OUTPUT);
    step->status = (int)status;
    free(s);
}

void probe_metric_add(struct metric **metrics, size_t *nmetrics, const char *name, double value)
{
    struct metric *m;

    if (*nmetrics >= RUN_MAX_METRICS)
        return;
    *metrics = xrealloc(*metrics, (*nmetrics + 1) * sizeof(**metrics));
    m = &(*metrics)[*nmetrics];
    memset(m, 0, sizeof(*m));
    m->name = xstrdup(name);
    m->value = value;
    (*nmetrics)++;
}

int probe_regex_match(const char *pattern, const char *text, char *ebuf, size_t esize)
{
    regex_t re;
    int rc;

    rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
    if (rc != 0) {
        regerror(rc, &re, ebuf, esize);
        return -1;
    }
    rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    return rc == 0 ? 1 : 0;
}

/* ---- running children ---- */

/* The user a child runs as: who, with which groups and home. */
struct probe_user {
    int drop;
    uid_t uid;
    gid_t gid;
    gid_t groups[PROBE_MAX_GROUPS];
    size_t ngroups;
    char home[512];
};

/* Home of uid when it exists, else "/". */
static void probe_home_lookup(uid_t uid, char *out, size_t n)
{
    struct passwd pw, *res = NULL;
    char *buf = xmalloc(PROBE_PW_BUF);

    snprintf(out, n, "/");
    if (getpwuid_r(uid, &pw, buf, PROBE_PW_BUF, &res) == 0 && res != NULL && pw.pw_dir != NULL &&
        pw.pw_dir[0] == '/' && access(pw.pw_dir, F_OK) == 0)
        snprintf(out, n, "%s", pw.pw_dir);
    free(buf);
}

void probe_ctx_home(struct probe_ctx *ctx)
{
    ctx->home_uid = ctx->drop_privs ? ctx->test_uid : geteuid();
    probe_home_lookup(ctx->home_uid, ctx->home, sizeof(ctx->home));
}

void probe_home_for(const struct probe_ctx *ctx, uid_t uid, char *out, size_t n)
{
    if (ctx->home[0] != '\0' && uid == ctx->home_uid)
        snprintf(out, n, "%s", ctx->home);
    else
        probe_home_lookup(uid, out, n);
}

/* Looks up a repair's user with its groups; -1 when there is no such user. */
static int probe_named_user(const char *name, struct probe_user *u)
{
    struct passwd pw, *res = NULL;
    char *buf = xmalloc(PROBE_PW_BUF);
    int n = PROBE_MAX_GROUPS, rc = -1;

    if (getpwnam_r(name, &pw, buf, PROBE_PW_BUF, &res) != 0 || res == NULL)
        goto out;
    u->drop = 1;
    u->uid = pw.pw_uid;
    u->gid = pw.pw_gid;
    if (getgrouplist(name, pw.pw_gid, u->groups, &n) == -1) {
        u->groups[0] = pw.pw_gid;
        n = 1;
    }
    u->ngroups = (size_t)n;
    rc = 0;
out:
    free(buf);
    return rc;
}

/* Decides who runs the child; -1 (with why) when the repair's user is unknown. */
static int probe_pick_user(const struct probe_ctx *ctx, const struct probe_child *pc,
                           struct probe_user *u, char *why, size_t n)
{
    int root = geteuid() == 0;

    memset(u, 0, sizeof(*u));
    if (!pc->repair && ctx->drop_privs && root) {
        u->drop = 1;
        u->uid = ctx->test_uid;
        u->gid = ctx->test_gid;
    } else if (pc->repair && pc->x->user != NULL && root) {
        if (probe_named_user(pc->x->user, u) == -1) {
            snprintf(why, n, "unknown user '%s'", pc->x->user);
            return -1;
        }
    }
    /* Not root: never try to change user; the child runs as the agent. */
    probe_home_for(ctx, u->drop ? u->uid : geteuid(), u->home, sizeof(u->home));
    return 0;
}

char **probe_argv(const struct manifest *pkg, const struct manifest_exec *x)
{
    char **argv;
    size_t i;

    if (x->shell) {
        argv = xcalloc(4, sizeof(*argv));
        argv[0] = xstrdup("/bin/sh");
        argv[1] = xstrdup("-c");
        argv[2] = xstrdup(x->argv[0]);
        return argv;
    }
    argv = xcalloc(x->argc + 1, sizeof(*argv));
    for (i = 0; i < x->argc; i++)
        argv[i] = xstrdup(x->argv[i]);
    if (x->argv[0][0] != '/' && pkg->dir != NULL) {
        free(argv[0]);
        argv[0] = xasprintf("%s/%s", pkg->dir, x->argv[0]);
    }
    return argv;
}

static char **probe_env(const struct probe_ctx *ctx, const struct manifest *pkg,
                        const struct manifest_check *c, const struct probe_user *u,
                        char *const *extra)
{
    char **env = xcalloc(PROBE_ENV_MAX + 1, sizeof(*env));
    size_t n = 0;

    env[n++] = xstrdup("PATH=" RUNNER_DEFAULT_PATH);
    env[n++] = xasprintf("HOME=%s", u->home);
    env[n++] = xstrdup("LANG=C.UTF-8");
    env[n++] = xasprintf("HEALOPS_NODE=%s", ctx->node != NULL ? ctx->node : "");
    env[n++] = xasprintf("HEALOPS_PACKAGE=%s", pkg->name != NULL ? pkg->name : "");
    env[n++] = xasprintf("HEALOPS_CHECK=%s", c->name != NULL ? c->name : "");
    env[n++] = xasprintf("HEALOPS_PACKAGE_DIR=%s", pkg->dir != NULL ? pkg->dir : "");
    for (; extra != NULL && *extra != NULL && n < PROBE_ENV_MAX; extra++)
        env[n++] = xstrdup(*extra);
    return env;
}

static void probe_strv_free(char **v)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

/* Fills res as a child that never started, for reasons found before fork. */
static void probe_res_failed(struct runner_result *res, const char *why)
{
    memset(res, 0, sizeof(*res));
    res->exec_failed = 1;
    res->exec_stage = RUNNER_STAGE_SETUP;
    snprintf(res->what, sizeof(res->what), "%s", why);
    res->out = xstrdup("");
    res->err = xstrdup("");
}

void probe_child_run(const struct probe_ctx *ctx, const struct manifest *pkg,
                     const struct manifest_check *c, const struct probe_child *pc,
                     struct runner_result *res)
{
    struct runner_spec spec;
    struct probe_user u;
    struct ho_error err;
    char why[RUNNER_WHAT_MAX];
    char **argv = NULL, **env = NULL;

    if (pc->x->argv == NULL || pc->x->argc == 0 || pc->x->argv[0] == NULL) {
        probe_res_failed(res, "nothing to run (empty exec)");
        return;
    }
    if (probe_pick_user(ctx, pc, &u, why, sizeof(why)) == -1) {
        probe_res_failed(res, why);
        return;
    }
    argv = probe_argv(pkg, pc->x);
    env = probe_env(ctx, pkg, c, &u, pc->extra_env);
    memset(&spec, 0, sizeof(spec));
    spec.argv = argv;
    spec.cwd = pkg->dir;
    spec.envp = env;
    spec.stdin_data = pc->stdin_data;
    spec.stdin_len = pc->stdin_len;
    spec.timeout_ms = pc->timeout_ms;
    spec.output_cap = ctx->output_cap > 0 ? ctx->output_cap : RUNNER_DEFAULT_CAP;
    spec.drop_privs = u.drop;
    spec.uid = u.uid;
    spec.gid = u.gid;
    spec.groups = u.groups;
    spec.ngroups = u.ngroups;
    if (runner_run(&spec, res, &err) != HO_OK)
        log_warnx("probe: %s/%s: %s", pkg->name, c->name, err.msg);
    probe_strv_free(argv);
    probe_strv_free(env);
}

char *probe_child_failure(const struct manifest_exec *x, int timeout_ms,
                          const struct runner_result *res)
{
    char ebuf[128];
    const char *what = x->shell ? "/bin/sh" : x->argv != NULL ? x->argv[0] : "?";

    if (res->exec_failed && res->exec_stage == RUNNER_STAGE_EXEC)
        return xasprintf("cannot run %s: %s", what,
                         strerror_r(res->exec_errno, ebuf, sizeof(ebuf)));
    if (res->exec_failed)
        return xasprintf("cannot run %s: %s", what, res->what);
    if (res->timed_out && timeout_ms % 1000 == 0)
        return xasprintf("timed out after %d s (killed)", timeout_ms / 1000);
    if (res->timed_out)
        return xasprintf("timed out after %d ms (killed)", timeout_ms);
    if (res->signaled)
        return xasprintf("killed by signal %d", res->signo);
    if (!res->exited)
        return xstrdup("did not exit normally");
    return NULL;
}

/* ---- exec tests ---- */

static int probe_test_timeout_ms(const struct manifest_check *c)
{
    int s = c->test.exec.timeout_s > 0 ? c->test.exec.timeout_s : c->timeout_s;

    return (s > 0 ? s : MANIFEST_DEFAULT_TIMEOUT) * 1000;
}

/*
 * The human text of an exec test: Nagios text of stdout, else stderr. Perfdata
 * becomes metrics only when keep is set (a killed test's figures are partial).
 */
static char *probe_exec_text(const struct runner_result *res, int keep, struct metric **metrics,
                             size_t *nmetrics)
{
    struct metric *junk = NULL;
    size_t njunk = 0, bad, i;
    char *text = NULL;

    if (keep)
        bad = nagios_parse(res->out, res->out_len, &text, metrics, nmetrics);
    else
        bad = nagios_parse(res->out, res->out_len, &text, &junk, &njunk);
    for (i = 0; i < njunk; i++)
        metric_cleanup(&junk[i]);
    free(junk);
    if (bad > 0)
        log_debug("probe: %zu malformed perfdata items skipped", bad);
    if (text[0] == '\0') {
        free(text);
        text = probe_text_trim(res->err, res->err_len, RUN_MAX_OUTPUT);
    }
    return text;
}

static void probe_exec_run(const struct probe_ctx *ctx, const struct manifest *pkg,
                           const struct manifest_check *c, struct run_step *step,
                           struct metric **metrics, size_t *nmetrics)
{
    struct probe_child pc = {.x = &c->test.exec, .timeout_ms = probe_test_timeout_ms(c)};
    struct runner_result res;
    char *why, *text;

    probe_child_run(ctx, pkg, c, &pc, &res);
    why = probe_child_failure(pc.x, pc.timeout_ms, &res);
    text = probe_exec_text(&res, why == NULL, metrics, nmetrics);
    if (why != NULL) {
        log_warnx("probe: %s/%s: %s", pkg->name, c->name, why);
        probe_step_set(step, TEST_STATUS_UNKNOWN, "%s%s%s", why, text[0] != '\0' ? "\n" : "", text);
    } else {
        step->has_exit_code = 1;
        step->exit_code = res.exit_code;
        step->status = (int)nagios_status(res.exit_code);
        step->output = text;
        text = NULL;
    }
    free(why);
    free(text);
    runner_result_cleanup(&res);
}

void probe_run_test(const struct probe_ctx *ctx, const struct manifest *pkg,
                    const struct manifest_check *c, struct run_step *step, struct metric **metrics,
                    size_t *nmetrics)
{
    int64_t start = clock_mono_ms();

    memset(step, 0, sizeof(*step));
    step->present = 1;
    switch (c->test.kind) {
    case PROBE_EXEC:
        probe_exec_run(ctx, pkg, c, step, metrics, nmetrics);
        break;
    case PROBE_TCP:
        probe_tcp_run(ctx, c, step, metrics, nmetrics);
        break;
    case PROBE_HTTP:
        probe_http_run(ctx, c, step, metrics, nmetrics);
        break;
    case PROBE_PROCESS:
        probe_process_run(ctx, c, step, metrics, nmetrics);
        break;
    case PROBE_FILE:
        probe_file_run(ctx, c, step, metrics, nmetrics);
        break;
    case PROBE_DISK:
        probe_disk_run(ctx, c, step, metrics, nmetrics);
        break;
    case PROBE_COMMAND:
        probe_command_run(ctx, pkg, c, step, metrics, nmetrics);
        break;
    default:
        probe_step_set(step, TEST_STATUS_UNKNOWN, "unsupported probe kind %d", (int)c->test.kind);
        break;
    }
    if (step->output == NULL)
        step->output = xstrdup("");
    step->duration_ms = clock_mono_ms() - start;
}

/* ---- repairs ---- */

/* Appends s as a JSON string: quotes, backslashes and control characters escaped. */
static enum ho_code probe_json_str(struct buf *b, const char *s)
{
    enum ho_code rc = buf_appends(b, "\"");

    for (; rc == HO_OK && *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\')
            rc = buf_printf(b, "\\%c", ch);
        else if (ch == '\n')
            rc = buf_appends(b, "\\n");
        else if (ch == '\t')
            rc = buf_appends(b, "\\t");
        else if (ch < 0x20 || ch == 0x7f)
            rc = buf_printf(b, "\\u%04x", ch);
        else
            rc = buf_append(b, s, 1);
    }
    if (rc == HO_OK)
        rc = buf_appends(b, "\"");
    return rc;
}

/* The failed test as JSON for the repair's stdin (package, check, node, status, exit_code, output).
 */
static char *probe_repair_stdin(const struct probe_ctx *ctx, const struct manifest *pkg,
                                const struct manifest_check *c, const struct run_step *test)
{
    struct buf b;
    enum ho_code rc;

    buf_init(&b, PROBE_STDIN_MAX);
    rc = buf_appends(&b, "{\"package\":");
    if (rc == HO_OK)
        rc = probe_json_str(&b, pkg->name != NULL ? pkg->name : "");
    if (rc == HO_OK)
        rc = buf_appends(&b, ",\"check\":");
    if (rc == HO_OK)
        rc = probe_json_str(&b, c->name != NULL ? c->name : "");
    if (rc == HO_OK)
        rc = buf_appends(&b, ",\"node\":");
    if (rc == HO_OK)
        rc = probe_json_str(&b, ctx->node != NULL ? ctx->node : "");
    if (rc == HO_OK)
        rc = buf_printf(&b, ",\"status\":\"%s\",\"exit_code\":",
                        test_status_str((enum test_status)test->status));
    if (rc == HO_OK && test->has_exit_code)
        rc = buf_printf(&b, "%d", test->exit_code);
    else if (rc == HO_OK)
        rc = buf_appends(&b, "null");
    if (rc == HO_OK)
        rc = buf_appends(&b, ",\"output\":");
    if (rc == HO_OK)
        rc = probe_json_str(&b, test->output != NULL ? test->output : "");
    if (rc == HO_OK)
        rc = buf_appends(&b, "}\n");
    if (rc != HO_OK) /* cannot happen: the output is capped well below the buffer */
        fatalx("probe: repair input too big");
    return buf_take(&b);
}

/* A repair's output: stdout, and stderr after a marker when there is some. */
static char *probe_repair_text(const struct runner_result *res)
{
    char *out = probe_text_trim(res->out, res->out_len, RUN_MAX_OUTPUT);
    char *err = probe_text_trim(res->err, res->err_len, RUN_MAX_OUTPUT);
    char *all;

    if (err[0] == '\0') {
        free(err);
        return out;
    }
    all = xasprintf("%s%s[stderr]\n%s", out, out[0] != '\0' ? "\n" : "", err);
    free(out);
    free(err);
    out = probe_text_trim(all, strlen(all), RUN_MAX_OUTPUT);
    free(all);
    return out;
}

static void probe_repair_finish(struct run_step *step, const struct probe_child *pc,
                                const struct runner_result *res)
{
    char *why = probe_child_failure(pc->x, pc->timeout_ms, res);
    char *text = probe_repair_text(res);

    if (res->exited) {
        step->has_exit_code = 1;
        step->exit_code = res->exit_code;
    }
    if (res->timed_out)
        step->status = REPAIR_STATUS_TIMEOUT;
    else if (why == NULL && res->exit_code == 0)
        step->status = REPAIR_STATUS_SUCCEEDED;
    else
        step->status = REPAIR_STATUS_FAILED;
    if (why != NULL)
        step->output = xasprintf("%s%s%s", why, text[0] != '\0' ? "\n" : "", text);
    else
        step->output = xstrdup(text);
    free(why);
    free(text);
    why = step->output;
    step->output = probe_text_trim(why, strlen(why), RUN_MAX_OUTPUT);
    free(why);
}

void probe_run_repair(const struct probe_ctx *ctx, const struct manifest *pkg,
                      const struct manifest_check *c, const struct run_step *test,
                      struct run_step *step)
{
    static const struct run_step none = {.status = TEST_STATUS_UNKNOWN};
    int64_t start = clock_mono_ms();
    struct probe_child pc = {.x = &c->repair, .repair = 1};
    struct runner_result res;
    const char *prev;
    char *in, *env[4], *cut;

    memset(step, 0, sizeof(*step));
    step->present = 1;
    if (test == NULL)
        test = &none;
    pc.timeout_ms =
        (c->repair.timeout_s > 0 ? c->repair.timeout_s : MANIFEST_DEFAULT_REPAIR_TIMEOUT) * 1000;
    in = probe_repair_stdin(ctx, pkg, c, test);
    pc.stdin_data = in;
    pc.stdin_len = strlen(in);
    prev = test->output != NULL ? test->output : "";
    cut = probe_text_trim(prev, strlen(prev), PROBE_ENV_OUTPUT_MAX);
    env[0] = xasprintf("HEALOPS_TEST_STATUS=%s", test_status_str((enum test_status)test->status));
    env[1] = test->has_exit_code ? xasprintf("HEALOPS_TEST_EXIT_CODE=%d", test->exit_code)
                                 : xstrdup("HEALOPS_TEST_EXIT_CODE=");
    env[2] = xasprintf("HEALOPS_TEST_OUTPUT=%s", cut);
    env[3] = NULL;
    pc.extra_env = env;
    if (!c->has_repair) {
        probe_res_failed(&res, "the check has no repair");
    } else {
        probe_child_run(ctx, pkg, c, &pc, &res);
    }
    probe_repair_finish(step, &pc, &res);
    if (step->status != REPAIR_STATUS_SUCCEEDED)
        log_warnx("probe: %s/%s: repair %s", pkg->name, c->name,
                  repair_status_str((enum repair_status)step->status));
    runner_result_cleanup(&res);
    free(env[0]);
    free(env[1]);
    free(env[2]);
    free(cut);
    free(in);
    step->duration_ms = clock_mono_ms() - start;
}

/*
 * Running a package's stats collectors (DESIGN.md section 3): executables that
 * print OpenTSDB tcollector lines, run once per interval like tcollector's
 * interval collectors. The child runs as probe.c runs a test (runner.c: own
 * process group, clean environment, the test user when the agent is root,
 * timeout, capped output); its lines go through tcollector.c. A collector that
 * fails keeps what it printed: a half-finished collection is still data.
 * Built-in host stats are in host_stats.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "collector.h"
#include "crypto.h"
#include "log.h"
#include "mem.h"
#include "probe_impl.h"
#include "runner.h"
#include "tcollector.h"

#define COLLECTOR_ENV_MAX  8
#define COLLECTOR_LOG_TEXT 1024 /* an escaped excerpt of collector output in a log line */


static char **collector_env(const struct probe_ctx *ctx, const struct manifest *pkg,
                            const struct manifest_stat *st, uid_t uid)
{
    char **env = xcalloc(COLLECTOR_ENV_MAX + 1, sizeof(*env));
    char home[sizeof(ctx->home)];

    probe_home_for(ctx, uid, home, sizeof(home));
    env[0] = xstrdup("PATH=" RUNNER_DEFAULT_PATH);
    env[1] = xasprintf("HOME=%s", home);
    env[2] = xstrdup("LANG=C.UTF-8");
    env[3] = xasprintf("HEALOPS_NODE=%s", ctx->node != NULL ? ctx->node : "");
    env[4] = xasprintf("HEALOPS_PACKAGE=%s", pkg->name != NULL ? pkg->name : "");
    env[5] = xasprintf("HEALOPS_STAT=%s", st->name != NULL ? st->name : "");
    env[6] = xasprintf("HEALOPS_PACKAGE_DIR=%s", pkg->dir != NULL ? pkg->dir : "");
    return env;
}

static void collector_strv_free(char **v)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static int collector_timeout_ms(const struct manifest_stat *st)
{
    int s = st->exec.timeout_s > 0 ? st->exec.timeout_s : st->timeout_s;

    return (s > 0 ? s : MANIFEST_DEFAULT_TIMEOUT) * 1000;
}

/* Runs the collector; 0 when it was forked (res filled), -1 when not (logged). */
static int collector_run_child(const struct probe_ctx *ctx, const struct manifest *pkg,
                               const struct manifest_stat *st, struct runner_result *res)
{
    struct runner_spec spec;
    struct ho_error err;
    char **argv, **env;
    int drop = ctx->drop_privs && geteuid() == 0, ret = 0;

    if (st->exec.argv == NULL || st->exec.argc == 0 || st->exec.argv[0] == NULL) {
        log_warnx("stats %s/%s: nothing to run (empty exec)", pkg->name, st->name);
        return -1;
    }
    argv = probe_argv(pkg, &st->exec);
    env = collector_env(ctx, pkg, st, drop ? ctx->test_uid : geteuid());
    memset(&spec, 0, sizeof(spec));
    spec.argv = argv;
    spec.cwd = pkg->dir;
    spec.envp = env;
    spec.timeout_ms = collector_timeout_ms(st);
    spec.output_cap = COLLECTOR_OUTPUT_CAP;
    spec.drop_privs = drop;
    spec.uid = ctx->test_uid;
    spec.gid = ctx->test_gid;
    ho_error_clear(&err);
    if (runner_run(&spec, res, &err) != HO_OK) {
        log_warnx("stats %s/%s: %s", pkg->name, st->name, err.msg);
        runner_result_cleanup(res);
        ret = -1;
    }
    collector_strv_free(argv);
    collector_strv_free(env);
    return ret;
}

/* Logs how the collector ended when it did not exit 0; its stderr excerpt too. */
static void collector_log_end(const struct manifest *pkg, const struct manifest_stat *st,
                              const struct runner_result *res, size_t kept)
{
    char ebuf[128], text[COLLECTOR_LOG_TEXT], what[64];

    if (res->exec_failed && res->exec_stage == RUNNER_STAGE_EXEC) {
        log_warnx("stats %s/%s: cannot run %s: %s", pkg->name, st->name,
                  st->exec.shell ? "/bin/sh" : st->exec.argv[0],
                  strerror_r(res->exec_errno, ebuf, sizeof(ebuf)));
        return;
    }
    if (res->exec_failed) {
        log_warnx("stats %s/%s: cannot run it: %s", pkg->name, st->name, res->what);
        return;
    }
    if (res->timed_out)
        snprintf(what, sizeof(what), "timed out after %d s (killed)",
                 collector_timeout_ms(st) / 1000);
    else if (res->signaled)
        snprintf(what, sizeof(what), "killed by signal %d", res->signo);
    else if (res->exited && res->exit_code != 0)
        snprintf(what, sizeof(what), "exited with status %d", res->exit_code);
    else
        return;
    log_safe(text, sizeof(text), res->err != NULL ? res->err : "");
    log_warnx("stats %s/%s: %s; %zu metrics kept%s%s", pkg->name, st->name, what, kept,
              text[0] != '\0' ? "; stderr: " : "", text);
}

/* Sets tag key of m to value, replacing a tag of that key the collector gave. */
static void collector_tag_set(struct metric *m, const char *key, const char *value)
{
    size_t i;

    for (i = 0; i < m->ntags; i++) {
        if (strcmp(m->tags[i].key, key) == 0) {
            free(m->tags[i].value);
            m->tags[i].value = xstrdup(value);
            return;
        }
    }
    m->tags = xrealloc(m->tags, (m->ntags + 1) * sizeof(*m->tags));
    m->tags[m->ntags].key = xstrdup(key);
    m->tags[m->ntags].value = xstrdup(value);
    m->ntags++;
}

static void collector_own_tags(const struct manifest *pkg, struct metric *m)
{
    collector_tag_set(m, "package", pkg->name);
    if (pkg->environment != NULL)
        collector_tag_set(m, "environment", pkg->environment);
}

/* Reports bad lines: a log line with the first one, and the count as a metric. */
static void collector_bad_lines(const struct manifest *pkg, const struct manifest_stat *st,
                                struct tcollector_result *tr, int64_t now_ms)
{
    char text[COLLECTOR_LOG_TEXT];
    struct metric m;

    if (tr->bad == 0)
        return;
    log_safe(text, sizeof(text), tr->first_bad);
    log_warnx("stats %s/%s: %zu bad lines skipped; first, line %zu (%s): %s", pkg->name, st->name,
              tr->bad, tr->first_bad_lineno, tr->first_bad_why, text);
    memset(&m, 0, sizeof(m));
    m.name = xstrdup("healops.stats.bad_lines");
    m.value = (double)tr->bad;
    m.ts_ms = now_ms;
    collector_tag_set(&m, "stat", st->name);
    tr->metrics = xrealloc(tr->metrics, (tr->n + 1) * sizeof(*tr->metrics));
    tr->metrics[tr->n++] = m;
}

void collector_run(const struct probe_ctx *ctx, const struct manifest *pkg,
                   const struct manifest_stat *st, struct metric **metrics, size_t *n)
{
    struct tcollector_opts opts;
    struct tcollector_result tr;
    struct runner_result res;
    size_t i;

    *metrics = NULL;
    *n = 0;
    if (collector_run_child(ctx, pkg, st, &res) != 0)
        return;
    memset(&opts, 0, sizeof(opts));
    opts.now_ms = clock_wall_ms();
    opts.max_metrics = COLLECTOR_MAX_METRICS - 1; /* room for healops.stats.bad_lines */
    opts.max_tags = RUN_MAX_TAGS - COLLECTOR_OWN_TAGS;
    opts.truncated = res.out_truncated;
    tcollector_parse(res.out, res.out_len, &opts, &tr);
    collector_log_end(pkg, st, &res, tr.n);
    if (res.out_truncated)
        log_warnx("stats %s/%s: output over %d bytes; the rest was dropped", pkg->name, st->name,
                  COLLECTOR_OUTPUT_CAP);
    collector_bad_lines(pkg, st, &tr, opts.now_ms);
    for (i = 0; i < tr.n; i++)
        collector_own_tags(pkg, &tr.metrics[i]);
    log_debug("stats %s/%s: %zu metrics in %lld ms", pkg->name, st->name, tr.n,
              (long long)res.duration_ms);
    *metrics = tr.metrics;
    *n = tr.n;
    runner_result_cleanup(&res);
}

enum ho_code collector_batch_to_json(const char *id, const struct metric *m, size_t n,
                                     struct buf *out)
{
    size_t start = out->len;
    enum ho_code rc;

    if (id == NULL || !crypto_uuid_valid(id))
        return HO_EINVAL;
    rc = buf_printf(out, "{\"id\":\"%s\",\"metrics\":", id);
    if (rc == HO_OK)
        rc = run_metrics_to_json(m, n, out);
    if (rc == HO_OK)
        rc = buf_appends(out, "}");
    if (rc != HO_OK && out->data != NULL) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

/*
 * Unit tests for agent/collector.c: real collector scripts in a package folder
 * made with mkdtemp, really exec'd (environment, working directory, tags the
 * agent adds, bad lines, timeout, non-zero exit, exec failure, output cap,
 * privilege drop), and the batch body for POST /api/v1/metrics.
 */
#include <ftw.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "clock.h"
#include "collector.h"
#include "crypto.h"
#include "log.h"
#include "mem.h"

static char pkgdir[] = "/tmp/collector_test.XXXXXX";

struct fixture {
    struct probe_ctx ctx;
    struct manifest pkg;
    struct manifest_stat st;
    struct metric *m;
    size_t n;
};

static void fx_init(struct fixture *f, int shell, const char *arg0)
{
    memset(f, 0, sizeof(*f));
    f->ctx.node = "node1";
    f->ctx.output_cap = 65536;
    f->pkg.name = "web";
    f->pkg.environment = "staging";
    f->pkg.dir = pkgdir;
    f->st.name = "web.conns";
    f->st.interval_s = 30;
    f->st.timeout_s = 5;
    f->st.exec.argv = xcalloc(2, sizeof(char *));
    f->st.exec.argv[0] = xstrdup(arg0);
    f->st.exec.argc = 1;
    f->st.exec.shell = shell;
}

static void fx_free_metrics(struct fixture *f)
{
    size_t i;

    for (i = 0; i < f->n; i++)
        metric_cleanup(&f->m[i]);
    free(f->m);
    f->m = NULL;
    f->n = 0;
}

static void fx_run(struct fixture *f)
{
    fx_free_metrics(f);
    collector_run(&f->ctx, &f->pkg, &f->st, &f->m, &f->n);
}

static void fx_done(struct fixture *f)
{
    fx_free_metrics(f);
    free(f->st.exec.argv[0]);
    free(f->st.exec.argv);
}

static const char *tag(const struct metric *m, const char *key)
{
    size_t i;

    for (i = 0; i < m->ntags; i++) {
        if (strcmp(m->tags[i].key, key) == 0)
            return m->tags[i].value;
    }
    return NULL;
}

static const struct metric *find(const struct fixture *f, const char *name)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        if (strcmp(f->m[i].name, name) == 0)
            return &f->m[i];
    }
    fail_msg("no metric %s", name);
    return NULL;
}

static void write_script(const char *name, const char *content)
{
    char *path = xasprintf("%s/%s", pkgdir, name);
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(content, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, 0755), 0);
    free(path);
}

/* ---- collectors ---- */

static void test_collector_runs_script(void **state)
{
    struct fixture f;
    const struct metric *m;
    int64_t before = clock_wall_ms();

    (void)state;
    write_script("stats/conns.stats",
                 "#!/bin/sh\n"
                 "echo \"web.conns 0 12 state=active\"\n"
                 "echo \"web.conns 1700000000 3 state=idle\"\n"
                 "echo \"web.cwd 0 1 dir=$(pwd -P) stat=$HEALOPS_STAT pkg=$HEALOPS_PACKAGE\"\n"
                 "echo \"web.node 0 1 node=$HEALOPS_NODE owner=db1\"\n"
                 "echo \"web.evil 0 1 package=other environment=prod\"\n"
                 "printf 'bad line \\001 here\\n'\n"
                 "echo 'web.nan 0 NaN'\n"
                 "echo ''\n");
    fx_init(&f, 0, "stats/conns.stats");
    fx_run(&f);
    assert_int_equal(f.n, 6);
    m = find(&f, "web.conns");
    assert_true(m->value == 12);
    assert_true(m->ts_ms >= before && m->ts_ms <= clock_wall_ms());
    assert_string_equal(tag(m, "state"), "active");
    assert_string_equal(tag(m, "package"), "web");
    assert_string_equal(tag(m, "environment"), "staging");
    assert_int_equal(m->ntags, 3);
    assert_int_equal(f.m[1].ts_ms, 1700000000000LL);
    m = find(&f, "web.cwd");
    assert_string_equal(tag(m, "dir"), pkgdir);
    assert_string_equal(tag(m, "stat"), "web.conns");
    assert_string_equal(tag(m, "pkg"), "web");
    m = find(&f, "web.node");
    assert_string_equal(tag(m, "node"), "node1");
    assert_string_equal(tag(m, "owner"), "db1");
    /* the agent's package and environment win over a collector's */
    m = find(&f, "web.evil");
    assert_string_equal(tag(m, "package"), "web");
    assert_string_equal(tag(m, "environment"), "staging");
    assert_int_equal(m->ntags, 2);
    /* the bad lines are counted, last */
    m = &f.m[f.n - 1];
    assert_string_equal(m->name, "healops.stats.bad_lines");
    assert_true(m->value == 2);
    assert_string_equal(tag(m, "stat"), "web.conns");
    assert_string_equal(tag(m, "package"), "web");
    fx_done(&f);
}

static void test_collector_shell_and_tag_room(void **state)
{
    struct fixture f;

    (void)state;
    /* 14 tags of its own fit (the agent adds 2), 15 do not */
    fx_init(&f, 1,
            "echo 'a 0 1 t1=1 t2=1 t3=1 t4=1 t5=1 t6=1 t7=1 t8=1 t9=1 t10=1 t11=1 t12=1 t13=1 "
            "t14=1'; echo 'b 0 1 t1=1 t2=1 t3=1 t4=1 t5=1 t6=1 t7=1 t8=1 t9=1 t10=1 t11=1 "
            "t12=1 t13=1 t14=1 t15=1'");
    fx_run(&f);
    assert_int_equal(f.n, 2);
    assert_string_equal(f.m[0].name, "a");
    assert_int_equal(f.m[0].ntags, RUN_MAX_TAGS);
    assert_string_equal(f.m[1].name, "healops.stats.bad_lines");
    assert_true(f.m[1].value == 1);
    fx_done(&f);

    /* no environment in the package: no environment tag */
    fx_init(&f, 1, "echo 'a 0 1'");
    f.pkg.environment = NULL;
    fx_run(&f);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.m[0].ntags, 1);
    assert_string_equal(tag(&f.m[0], "package"), "web");
    fx_done(&f);
}

static void test_collector_timeout_keeps_lines(void **state)
{
    struct fixture f;
    int64_t start = clock_mono_ms(), took;

    (void)state;
    fx_init(&f, 1, "echo 'early 0 1'; echo 'early2 0 2'; sleep 30; echo 'late 0 3'");
    f.st.timeout_s = 1;
    fx_run(&f);
    took = clock_mono_ms() - start;
    assert_true(took >= 1000 && took < 4000);
    assert_int_equal(f.n, 2);
    assert_string_equal(f.m[0].name, "early");
    assert_string_equal(f.m[1].name, "early2");
    fx_done(&f);
}

static void test_collector_nonzero_exit_keeps_lines(void **state)
{
    struct fixture f;

    (void)state;
    fx_init(&f, 1, "echo 'x 0 1'; echo 'y 0 2'; echo 'it broke' >&2; exit 3");
    fx_run(&f);
    assert_int_equal(f.n, 2);
    assert_true(f.m[1].value == 2);
    fx_done(&f);

    fx_init(&f, 1, "echo 'x 0 1'; kill -9 $$");
    fx_run(&f);
    assert_int_equal(f.n, 1);
    fx_done(&f);
}

static void test_collector_cannot_run(void **state)
{
    struct fixture f;

    (void)state;
    fx_init(&f, 0, "stats/missing.stats");
    fx_run(&f);
    assert_int_equal(f.n, 0);
    assert_null(f.m);
    fx_done(&f);

    write_script("stats/noexec.stats", "#!/bin/sh\necho 'a 0 1'\n");
    assert_int_equal(chmod(pkgdir, 0755), 0);
    fx_init(&f, 0, "stats/noexec.stats");
    {
        char *p = xasprintf("%s/stats/noexec.stats", pkgdir);
        assert_int_equal(chmod(p, 0644), 0);
        free(p);
    }
    fx_run(&f);
    if (geteuid() != 0)
        assert_int_equal(f.n, 0);
    fx_done(&f);

    fx_init(&f, 1, "echo 'a 0 1'");
    f.pkg.dir = "/nonexistent/pkg";
    fx_run(&f);
    assert_int_equal(f.n, 0);
    fx_done(&f);
}

static void test_collector_output_cap(void **state)
{
    struct fixture f;
    const struct metric *bad;

    (void)state;
    /* 300000 lines, 1.8 MB: cut at the cap; 9999 metrics kept plus the bad count */
    fx_init(&f, 1, "yes 'm 0 1' | head -n 300000");
    fx_run(&f);
    assert_int_equal(f.n, COLLECTOR_MAX_METRICS);
    bad = &f.m[f.n - 1];
    assert_string_equal(bad->name, "healops.stats.bad_lines");
    /* every line that reached us and was not kept, the cut one included */
    assert_true(bad->value ==
                (double)((COLLECTOR_OUTPUT_CAP + 5) / 6 - (COLLECTOR_MAX_METRICS - 1)));
    fx_done(&f);
}

static void test_collector_drops_to_test_user(void **state)
{
    struct passwd *pw = getpwnam("nobody");
    struct fixture f;

    (void)state;
    if (geteuid() != 0 || pw == NULL)
        skip();
    fx_init(&f, 1, "echo \"uid 0 $(id -u)\"; echo \"gid 0 $(id -g) home=$HOME\"");
    f.ctx.drop_privs = 1;
    f.ctx.test_uid = pw->pw_uid;
    f.ctx.test_gid = pw->pw_gid;
    fx_run(&f);
    assert_int_equal(f.n, 2);
    assert_true(f.m[0].value == (double)pw->pw_uid);
    assert_true(f.m[1].value == (double)pw->pw_gid);
    assert_string_equal(tag(&f.m[1], "home"), "/");
    fx_done(&f);
}

/* ---- the batch body ---- */

static void test_collector_batch_to_json(void **state)
{
    struct metric m[2];
    struct tag t[2] = {{"mount", "/"}, {"package", "web"}};
    char id[CRYPTO_UUID_LEN];
    struct metric *back = NULL;
    size_t nback = 0, i;
    struct ho_error err;
    struct buf b;
    cJSON *root, *arr;
    char *arr_text;

    (void)state;
    assert_int_equal(crypto_uuid_v7(1764000000123LL, id), HO_OK);
    memset(m, 0, sizeof(m));
    m[0].name = "host.disk.used_pct";
    m[0].value = 41.5;
    m[0].ts_ms = 1764000000123LL;
    m[0].tags = t;
    m[0].ntags = 2;
    m[1].name = "host.load.1";
    m[1].value = 0.25;
    m[1].ts_ms = 1764000001000LL;
    buf_init(&b, COLLECTOR_MAX_BODY);
    assert_int_equal(collector_batch_to_json(id, m, 2, &b), HO_OK);
    root = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItem(root, "id")->valuestring, id);
    arr = cJSON_GetObjectItem(root, "metrics");
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "timestamp")->valuestring,
                        "2025-11-24T16:00:00.123Z");
    /* the metrics read back with the shared codec, as the server will */
    arr_text = cJSON_PrintUnformatted(arr);
    ho_error_clear(&err);
    assert_int_equal(run_metrics_parse(arr_text, strlen(arr_text), &back, &nback, &err), HO_OK);
    assert_int_equal(nback, 2);
    assert_string_equal(back[0].name, "host.disk.used_pct");
    assert_true(back[0].value == 41.5);
    assert_int_equal(back[0].ts_ms, 1764000000123LL);
    assert_int_equal(back[0].ntags, 2);
    assert_int_equal(back[1].ts_ms, 1764000001000LL);
    for (i = 0; i < nback; i++)
        metric_cleanup(&back[i]);
    free(back);
    cJSON_free(arr_text);
    cJSON_Delete(root);

    /* a bad id, and a buffer too small: nothing is appended */
    buf_reset(&b);
    assert_int_equal(collector_batch_to_json("not-a-uuid", m, 2, &b), HO_EINVAL);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
    buf_init(&b, 64);
    assert_int_equal(buf_appends(&b, "x"), HO_OK);
    assert_int_equal(collector_batch_to_json(id, m, 2, &b), HO_ETOOBIG);
    assert_int_equal(b.len, 1);
    assert_string_equal(b.data, "x");
    buf_cleanup(&b);
}

/* The largest batch a collector can make fits COLLECTOR_MAX_BODY. */
static void test_collector_worst_case_body_fits(void **state)
{
    struct fixture f;
    char id[CRYPTO_UUID_LEN];
    struct buf b;
    char *script;

    (void)state;
    /* short lines with as many short tags as allowed, a long environment and name */
    script = xasprintf("yes 'm 0 1 a=b c=d e=f g=h i=j k=l m=n o=p q=r s=t u=v w=x y=z A=B' "
                       "| head -n %d",
                       COLLECTOR_MAX_METRICS + 10);
    fx_init(&f, 1, script);
    f.pkg.environment = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    f.pkg.name = "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp";
    fx_run(&f);
    assert_int_equal(f.n, COLLECTOR_MAX_METRICS);
    assert_int_equal(crypto_uuid_v7(clock_wall_ms(), id), HO_OK);
    buf_init(&b, COLLECTOR_MAX_BODY);
    assert_int_equal(collector_batch_to_json(id, f.m, f.n, &b), HO_OK);
    print_message("worst-case batch: %zu metrics, %zu bytes\n", f.n, b.len);
    buf_cleanup(&b);
    fx_done(&f);
    free(script);
}

/* ---- setup ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    char *stats;

    (void)state;
    log_init("collector_test", LOG_LEVEL_WARN);
    if (mkdtemp(pkgdir) == NULL || chmod(pkgdir, 0755) != 0)
        return -1;
    stats = xasprintf("%s/stats", pkgdir);
    if (mkdir(stats, 0755) != 0)
        return -1;
    free(stats);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(pkgdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collector_runs_script),
        cmocka_unit_test(test_collector_shell_and_tag_room),
        cmocka_unit_test(test_collector_timeout_keeps_lines),
        cmocka_unit_test(test_collector_nonzero_exit_keeps_lines),
        cmocka_unit_test(test_collector_cannot_run),
        cmocka_unit_test(test_collector_output_cap),
        cmocka_unit_test(test_collector_drops_to_test_user),
        cmocka_unit_test(test_collector_batch_to_json),
        cmocka_unit_test(test_collector_worst_case_body_fits),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

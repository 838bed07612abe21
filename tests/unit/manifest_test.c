/*
 * Unit tests for common/json_manifest.c: the DESIGN.md section 3 example,
 * every probe kind, defaults, each error with its exact JSON path, limits, and
 * manifest_load_dir against real temporary package folders (executables,
 * permissions, symlinks). JSON in this file is written with single quotes and
 * turned into double quotes by js() to stay readable.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "buf.h"
#include "manifest.h"
#include "mem.h"

#define HEAD "{'name':'p','version':'1.0.0',"
/* A package holding one check whose body is C. */
#define CHECK(c) HEAD "'checks':[{'name':'c'," c "}]}"
/* A package holding one check whose test object is T. */
#define TEST(t)   CHECK("'test':" t)
#define EXEC_TEST "{'exec':['checks/c.test']}"

/* Returns a new copy of s with every ' turned into ". */
static char *js(const char *s)
{
    char *out = xstrdup(s), *p;

    for (p = out; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    return out;
}

static enum ho_code parse_q(const char *q, struct manifest *m, struct ho_error *err)
{
    char *json = js(q);
    enum ho_code rc;

    rc = manifest_parse(json, strlen(json), m, err);
    free(json);
    return rc;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    size_t i;

    for (i = 0; i < n; i++)
        if (c[i] != 0)
            return 0;
    return 1;
}

/* Parses q expecting failure rc at field with msg inside the message. */
static void expect_error(const char *q, enum ho_code rc, const char *field, const char *msg)
{
    struct manifest m;
    struct ho_error err;
    enum ho_code got;

    memset(&m, 0xab, sizeof(m));
    got = parse_q(q, &m, &err);
    if (got != rc || strcmp(err.field, field) != 0 || strstr(err.msg, msg) == NULL) {
        print_error("input:    %s\nexpected: %s %s: ...%s...\ngot:      %s %s: %s\n", q,
                    ho_code_str(rc), field, msg, ho_code_str(got), err.field, err.msg);
        fail();
    }
    assert_true(all_zero(&m, sizeof(m)));
}

static void parse_ok(const char *q, struct manifest *m)
{
    struct ho_error err;
    enum ho_code rc;

    rc = parse_q(q, m, &err);
    if (rc != HO_OK) {
        print_error("input: %s\nerror: %s: %s\n", q, err.field, err.msg);
        fail();
    }
}

/* ---- parsing what is valid ---- */

static const char design_example[] =
    "{"
    "  'name': 'nginx',"
    "  'version': '1.4.0',"
    "  'description': 'Keeps nginx serving',"
    "  'environment': 'production',"
    "  'tags': {'team': 'web'},"
    "  'checks': ["
    "    {"
    "      'name': 'nginx.running',"
    "      'interval': 60,"
    "      'timeout': 10,"
    "      'test':   {'exec': ['checks/worker-count.test', '--min', '2']},"
    "      'repair': {'exec': ['checks/worker-count.repair'], 'timeout': 60},"
    "      'repair_on': ['critical'],"
    "      'max_repairs': {'count': 3, 'window': 3600},"
    "      'report_only': false,"
    "      'alert': {"
    "        'severity': 'critical',"
    "        'runbook': 'https://wiki.example/nginx',"
    "        'docs': ['https://nginx.org/en/docs/'],"
    "        'advice': 'Check the error log for upstream failures.',"
    "        'changelog': 'https://changes.example/web',"
    "        'login': 'ssh ops@web-{node}'"
    "      }"
    "    },"
    "    {'name': 'nginx.port', 'interval': 30,"
    "     'test': {'probe': 'tcp', 'host': '127.0.0.1', 'port': 80, 'timeout_ms': 500}}"
    "  ],"
    "  'stats': ["
    "    {'name': 'nginx.connections', 'interval': 30, 'exec': ['stats/connections.stats']}"
    "  ]"
    "}";

static void test_manifest_design_example_parses(void **state)
{
    struct manifest m;
    const struct manifest_check *c;

    (void)state;
    parse_ok(design_example, &m);
    assert_string_equal(m.name, "nginx");
    assert_string_equal(m.version, "1.4.0");
    assert_string_equal(m.description, "Keeps nginx serving");
    assert_string_equal(m.environment, "production");
    assert_int_equal(m.ntags, 1);
    assert_string_equal(m.tags[0].key, "team");
    assert_string_equal(m.tags[0].value, "web");
    assert_null(m.dir);
    assert_int_equal(m.nchecks, 2);

    c = &m.checks[0];
    assert_string_equal(c->name, "nginx.running");
    assert_int_equal(c->interval_s, 60);
    assert_int_equal(c->timeout_s, 10);
    assert_int_equal(c->test.kind, PROBE_EXEC);
    assert_int_equal(c->test.exec.argc, 3);
    assert_string_equal(c->test.exec.argv[0], "checks/worker-count.test");
    assert_string_equal(c->test.exec.argv[1], "--min");
    assert_string_equal(c->test.exec.argv[2], "2");
    assert_null(c->test.exec.argv[3]);
    assert_int_equal(c->test.exec.shell, 0);
    assert_int_equal(c->test.exec.timeout_s, 10);
    assert_int_equal(c->has_repair, 1);
    assert_int_equal(c->repair.argc, 1);
    assert_string_equal(c->repair.argv[0], "checks/worker-count.repair");
    assert_null(c->repair.argv[1]);
    assert_int_equal(c->repair.timeout_s, 60);
    assert_null(c->repair.user);
    assert_int_equal(c->repair_on, 1u << TEST_STATUS_CRITICAL);
    assert_int_equal(c->max_repairs, 3);
    assert_int_equal(c->max_repairs_window_s, 3600);
    assert_int_equal(c->report_only, 0);
    assert_string_equal(c->alert.severity, "critical");
    assert_string_equal(c->alert.runbook, "https://wiki.example/nginx");
    assert_string_equal(c->alert.docs[0], "https://nginx.org/en/docs/");
    assert_null(c->alert.docs[1]);
    assert_string_equal(c->alert.advice, "Check the error log for upstream failures.");
    assert_string_equal(c->alert.changelog, "https://changes.example/web");
    assert_string_equal(c->alert.login, "ssh ops@web-{node}");

    c = &m.checks[1];
    assert_string_equal(c->name, "nginx.port");
    assert_int_equal(c->interval_s, 30);
    assert_int_equal(c->timeout_s, 10);
    assert_int_equal(c->test.kind, PROBE_TCP);
    assert_string_equal(c->test.host, "127.0.0.1");
    assert_int_equal(c->test.port, 80);
    assert_int_equal(c->test.timeout_ms, 500);
    assert_int_equal(c->has_repair, 0);
    assert_null(c->repair.argv);

    assert_int_equal(m.nstats, 1);
    assert_string_equal(m.stats[0].name, "nginx.connections");
    assert_int_equal(m.stats[0].interval_s, 30);
    assert_int_equal(m.stats[0].timeout_s, 10);
    assert_int_equal(m.stats[0].exec.argc, 1);
    assert_string_equal(m.stats[0].exec.argv[0], "stats/connections.stats");
    assert_int_equal(m.stats[0].exec.timeout_s, 10);
    manifest_cleanup(&m);
    assert_true(all_zero(&m, sizeof(m)));
}

static void test_manifest_defaults(void **state)
{
    struct manifest m;
    const struct manifest_check *c;

    (void)state;
    parse_ok(TEST(EXEC_TEST), &m);
    assert_null(m.description);
    assert_string_equal(m.environment, "production");
    assert_null(m.tags);
    assert_int_equal(m.ntags, 0);
    assert_int_equal(m.nstats, 0);
    c = &m.checks[0];
    assert_int_equal(c->interval_s, 60);
    assert_int_equal(c->timeout_s, MANIFEST_DEFAULT_TIMEOUT);
    assert_int_equal(c->test.kind, PROBE_EXEC);
    assert_int_equal(c->test.timeout_ms, MANIFEST_DEFAULT_TIMEOUT * 1000);
    assert_int_equal(c->test.exec.timeout_s, MANIFEST_DEFAULT_TIMEOUT);
    assert_int_equal(c->has_repair, 0);
    assert_int_equal(c->repair_on, 1u << TEST_STATUS_CRITICAL);
    assert_int_equal(c->max_repairs, 3);
    assert_int_equal(c->max_repairs_window_s, 3600);
    assert_int_equal(c->report_only, 0);
    assert_string_equal(c->alert.severity, "critical");
    assert_null(c->alert.runbook);
    assert_null(c->alert.docs);
    assert_null(c->alert.advice);
    assert_null(c->alert.changelog);
    assert_null(c->alert.login);
    manifest_cleanup(&m);

    /* A repair without its own timeout gets 60 s; an empty max_repairs object the defaults. */
    parse_ok(CHECK("'timeout':5,'test':" EXEC_TEST ",'repair':{'exec':['r']},"
                   "'max_repairs':{},'alert':{}"),
             &m);
    c = &m.checks[0];
    assert_int_equal(c->timeout_s, 5);
    assert_int_equal(c->test.exec.timeout_s, 5);
    assert_int_equal(c->repair.timeout_s, MANIFEST_DEFAULT_REPAIR_TIMEOUT);
    assert_int_equal(c->repair.shell, 0);
    assert_int_equal(c->max_repairs, 3);
    assert_int_equal(c->max_repairs_window_s, 3600);
    assert_string_equal(c->alert.severity, "critical");
    manifest_cleanup(&m);
}

static void test_manifest_check_options(void **state)
{
    struct manifest m;
    const struct manifest_check *c;

    (void)state;
    parse_ok(HEAD "'environment':'staging-2.eu_west','description':'two\\nlines\\tand tab',"
                  "'tags':{'team':'web','tier':'1','note':'caf\\u00e9 \\u2713'},"
                  "'checks':[{'name':'A.b_c-d','interval':86400,'timeout':3600,"
                  "'test':{'exec':['./t','x']},"
                  "'repair':{'exec':['fix.sh','--hard'],'timeout':3600,'user':'www-data',"
                  "'shell':false},"
                  "'repair_on':['warning','unknown','critical'],"
                  "'max_repairs':{'count':0,'window':604800},'report_only':true,"
                  "'alert':{'severity':'info','docs':['http://a/1','https://b/2']}}]}",
             &m);
    assert_string_equal(m.environment, "staging-2.eu_west");
    assert_string_equal(m.description, "two\nlines\tand tab");
    assert_int_equal(m.ntags, 3);
    assert_string_equal(m.tags[1].key, "tier");
    assert_string_equal(m.tags[2].value, "caf\xc3\xa9 \xe2\x9c\x93");
    c = &m.checks[0];
    assert_string_equal(c->name, "A.b_c-d");
    assert_int_equal(c->interval_s, 86400);
    assert_int_equal(c->timeout_s, 3600);
    assert_string_equal(c->test.exec.argv[0], "./t");
    assert_string_equal(c->repair.argv[1], "--hard");
    assert_int_equal(c->repair.timeout_s, 3600);
    assert_string_equal(c->repair.user, "www-data");
    assert_int_equal(c->repair_on, (1u << TEST_STATUS_WARNING) | (1u << TEST_STATUS_CRITICAL) |
                                       (1u << TEST_STATUS_UNKNOWN));
    assert_int_equal(c->max_repairs, 0);
    assert_int_equal(c->max_repairs_window_s, 604800);
    assert_int_equal(c->report_only, 1);
    assert_string_equal(c->alert.severity, "info");
    assert_string_equal(c->alert.docs[1], "https://b/2");
    assert_null(c->alert.docs[2]);
    manifest_cleanup(&m);
}

static void test_manifest_repair_on_empty_means_never(void **state)
{
    struct manifest m;

    (void)state;
    parse_ok(CHECK("'test':" EXEC_TEST ",'repair_on':[]"), &m);
    assert_int_equal(m.checks[0].repair_on, 0);
    manifest_cleanup(&m);
    /* repair_on without a repair is fine: there is nothing to run. */
    parse_ok(CHECK("'test':" EXEC_TEST ",'repair_on':['warning']"), &m);
    assert_int_equal(m.checks[0].repair_on, 1u << TEST_STATUS_WARNING);
    assert_int_equal(m.checks[0].has_repair, 0);
    manifest_cleanup(&m);
}

static void test_manifest_versions(void **state)
{
    static const char *const good[] = {"0.0.0",       "1.4.0",         "10.20.30",
                                       "1.0.0-alpha", "1.0.0-rc.1",    "1.0.0-0.3.7",
                                       "1.0.0-x-y.z", "1.0.0+build.5", "1.0.0-beta+exp.sha.5114f85",
                                       "1.0.0+001"};
    static const char *const bad[] = {"1",      "1.0",    "1.0.0.0",  "01.0.0",     "1.02.0",
                                      "1.0.0-", "1.0.0+", "1.0.0-01", "1.0.0-a..b", "v1.0.0",
                                      "1.0.0 ", "1.0.x",  "-1.0.0",   "1.0.0-a_b",  ""};
    struct manifest m;
    char q[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(q, sizeof(q), "{'name':'p','version':'%s','checks':[{'name':'c','test':%s}]}",
                 good[i], EXEC_TEST);
        parse_ok(q, &m);
        assert_string_equal(m.version, good[i]);
        manifest_cleanup(&m);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(q, sizeof(q), "{'name':'p','version':'%s','checks':[{'name':'c','test':%s}]}",
                 bad[i], EXEC_TEST);
        expect_error(q, HO_EINVAL, "version",
                     bad[i][0] == '\0' ? "must not be empty" : "semantic version");
    }
}

static void test_manifest_stats_only(void **state)
{
    struct manifest m;

    (void)state;
    parse_ok(HEAD "'stats':[{'name':'s1','exec':['stats/a']},"
                  "{'name':'s2','interval':5,'timeout':2,'exec':['cat /proc/loadavg'],"
                  "'shell':true}]}",
             &m);
    assert_int_equal(m.nchecks, 0);
    assert_null(m.checks);
    assert_int_equal(m.nstats, 2);
    assert_int_equal(m.stats[0].interval_s, 60);
    assert_int_equal(m.stats[0].timeout_s, 10);
    assert_int_equal(m.stats[0].exec.shell, 0);
    assert_int_equal(m.stats[1].interval_s, 5);
    assert_int_equal(m.stats[1].timeout_s, 2);
    assert_int_equal(m.stats[1].exec.timeout_s, 2);
    assert_int_equal(m.stats[1].exec.shell, 1);
    assert_string_equal(m.stats[1].exec.argv[0], "cat /proc/loadavg");
    assert_null(manifest_find_check(&m, "s1"));
    manifest_cleanup(&m);
}

static void test_manifest_shell_test(void **state)
{
    struct manifest m;

    (void)state;
    /* With shell the one element is a script, so a leading '/' or ".." is fine. */
    parse_ok(TEST("{'exec':['/usr/bin/test -f ../x || exit 2'],'shell':true}"), &m);
    assert_int_equal(m.checks[0].test.kind, PROBE_EXEC);
    assert_int_equal(m.checks[0].test.exec.shell, 1);
    assert_int_equal(m.checks[0].test.exec.argc, 1);
    assert_string_equal(m.checks[0].test.exec.argv[0], "/usr/bin/test -f ../x || exit 2");
    manifest_cleanup(&m);
    /* Names that only look like "..": allowed. */
    parse_ok(TEST("{'exec':['..x/...','a..'],'shell':false}"), &m);
    assert_string_equal(m.checks[0].test.exec.argv[0], "..x/...");
    manifest_cleanup(&m);
}

/* ---- each probe kind ---- */

static void test_manifest_probe_tcp(void **state)
{
    struct manifest m;
    const struct probe_spec *p;

    (void)state;
    parse_ok(TEST("{'probe':'tcp','port':5432}"), &m);
    p = &m.checks[0].test;
    assert_int_equal(p->kind, PROBE_TCP);
    assert_string_equal(p->host, "127.0.0.1");
    assert_int_equal(p->port, 5432);
    assert_int_equal(p->timeout_ms, 1000); /* min(check timeout, 1 s) */
    assert_null(p->exec.argv);
    manifest_cleanup(&m);

    parse_ok(CHECK("'timeout':1,'test':{'probe':'tcp','host':'::1','port':65535,"
                   "'timeout_ms':600000}"),
             &m);
    p = &m.checks[0].test;
    assert_string_equal(p->host, "::1");
    assert_int_equal(p->port, 65535);
    assert_int_equal(p->timeout_ms, 600000);
    manifest_cleanup(&m);

    parse_ok(TEST("{'probe':'tcp','host':'db-1.example.com','port':1}"), &m);
    assert_string_equal(m.checks[0].test.host, "db-1.example.com");
    manifest_cleanup(&m);
}

static void test_manifest_probe_http(void **state)
{
    struct manifest m;
    const struct probe_spec *p;

    (void)state;
    parse_ok(CHECK("'timeout':7,'test':{'probe':'http','url':'http://127.0.0.1:8080/health'}"), &m);
    p = &m.checks[0].test;
    assert_int_equal(p->kind, PROBE_HTTP);
    assert_string_equal(p->url, "http://127.0.0.1:8080/health");
    assert_int_equal(p->expect_status, 200);
    assert_null(p->body_match);
    assert_int_equal(p->max_latency_ms, 0);
    assert_int_equal(p->insecure, 0);
    assert_int_equal(p->timeout_ms, 7000);
    manifest_cleanup(&m);

    parse_ok(TEST("{'probe':'http','url':'https://x.example/a?b=c','expect_status':204,"
                  "'body_match':'^ok( [0-9]+)?$','max_latency_ms':250,'insecure':true,"
                  "'timeout_ms':1500}"),
             &m);
    p = &m.checks[0].test;
    assert_string_equal(p->url, "https://x.example/a?b=c");
    assert_int_equal(p->expect_status, 204);
    assert_string_equal(p->body_match, "^ok( [0-9]+)?$");
    assert_int_equal(p->max_latency_ms, 250);
    assert_int_equal(p->insecure, 1);
    assert_int_equal(p->timeout_ms, 1500);
    manifest_cleanup(&m);
}

static void test_manifest_probe_process(void **state)
{
    struct manifest m;
    const struct probe_spec *p;

    (void)state;
    parse_ok(TEST("{'probe':'process','name':'nginx'}"), &m);
    p = &m.checks[0].test;
    assert_int_equal(p->kind, PROBE_PROCESS);
    assert_string_equal(p->process_name, "nginx");
    assert_int_equal(p->min_count, 1);
    assert_int_equal(p->max_count, -1);
    assert_int_equal(p->timeout_ms, 10000);
    manifest_cleanup(&m);

    parse_ok(TEST("{'probe':'process','name':'kworker/0:1','min':0,'max':0}"), &m);
    p = &m.checks[0].test;
    assert_int_equal(p->min_count, 0);
    assert_int_equal(p->max_count, 0);
    manifest_cleanup(&m);

    parse_ok(TEST("{'probe':'process','name':'postgres','min':2,'max':2}"), &m);
    assert_int_equal(m.checks[0].test.min_count, 2);
    assert_int_equal(m.checks[0].test.max_count, 2);
    manifest_cleanup(&m);
}

static void test_manifest_probe_file(void **state)
{
    struct manifest m;
    const struct probe_spec *p;

    (void)state;
    parse_ok(TEST("{'probe':'file','path':'/etc/nginx/nginx.conf'}"), &m);
    p = &m.checks[0].test;
    assert_int_equal(p->kind, PROBE_FILE);
    assert_string_equal(p->path, "/etc/nginx/nginx.conf");
    assert_int_equal(p->must_exist, 1);
    assert_int_equal(p->mode, -1);
    assert_int_equal(p->max_age_s, 0);
    assert_null(p->contains);
    manifest_cleanup(&m);

    parse_ok(TEST("{'probe':'file','path':'/var/run/app.pid','mode':'0644','max_age':300,"
                  "'contains':'^[0-9]+$','exists':true}"),
             &m);
    p = &m.checks[0].test;
    assert_int_equal(p->mode, 0644);
    assert_int_equal(p->max_age_s, 300);
    assert_string_equal(p->contains, "^[0-9]+$");
    manifest_cleanup(&m);

    parse_ok(TEST("{'probe':'file','path':'/etc/nologin','exists':false}"), &m);
    assert_int_equal(m.checks[0].test.must_exist, 0);
    manifest_cleanup(&m);

    parse_ok(TEST("{'probe':'file','path':'/tmp','mode':'1777'}"), &m);
    assert_int_equal(m.checks[0].test.mode, 01777);
    manifest_cleanup(&m);
    parse_ok(TEST("{'probe':'file','path':'/x','mode':'07777'}"), &m);
    assert_int_equal(m.checks[0].test.mode, 07777);
    manifest_cleanup(&m);
    parse_ok(TEST("{'probe':'file','path':'/x','mode':'0'}"), &m);
    assert_int_equal(m.checks[0].test.mode, 0);
    manifest_cleanup(&m);
}

static void test_manifest_probe_disk(void **state)
{
    struct manifest m;
    const struct probe_spec *p;

    (void)state;
    parse_ok(TEST("{'probe':'disk','path':'/var','min_free_pct':5,'warn_free_pct':12.5,"
                  "'min_free_mb':1024}"),
             &m);
    p = &m.checks[0].test;
    assert_int_equal(p->kind, PROBE_DISK);
    assert_string_equal(p->path, "/var");
    assert_true(p->min_free_pct == 5.0);
    assert_true(p->warn_free_pct == 12.5);
    assert_int_equal(p->min_free_mb, 1024);
    manifest_cleanup(&m);

    parse_ok(TEST("{'probe':'disk','path':'/','min_free_mb':9007199254740992}"), &m);
    p = &m.checks[0].test;
    assert_true(p->min_free_pct == 0.0);
    assert_true(p->warn_free_pct == 0.0);
    assert_true(p->min_free_mb == 9007199254740992LL);
    manifest_cleanup(&m);

    parse_ok(TEST("{'probe':'disk','path':'/','warn_free_pct':100}"), &m);
    assert_true(m.checks[0].test.warn_free_pct == 100.0);
    manifest_cleanup(&m);
}

static void test_manifest_probe_command(void **state)
{
    struct manifest m;
    const struct probe_spec *p;

    (void)state;
    parse_ok(TEST("{'probe':'command','exec':['/usr/lib/nagios/plugins/check_disk','-w','10%']}"),
             &m);
    p = &m.checks[0].test;
    assert_int_equal(p->kind, PROBE_COMMAND);
    assert_int_equal(p->exec.argc, 3);
    assert_string_equal(p->exec.argv[0], "/usr/lib/nagios/plugins/check_disk");
    assert_string_equal(p->exec.argv[2], "10%");
    assert_null(p->exec.argv[3]);
    assert_int_equal(p->exec.shell, 0);
    assert_int_equal(p->expect_exit, 0);
    assert_null(p->output_match);
    assert_int_equal(p->timeout_ms, 10000);
    manifest_cleanup(&m);

    parse_ok(TEST("{'probe':'command','exec':['systemctl is-active nginx'],'shell':true,"
                  "'expect_exit':255,'output_match':'^active$','timeout_ms':2000}"),
             &m);
    p = &m.checks[0].test;
    assert_int_equal(p->exec.shell, 1);
    assert_int_equal(p->expect_exit, 255);
    assert_string_equal(p->output_match, "^active$");
    assert_int_equal(p->timeout_ms, 2000);
    manifest_cleanup(&m);

    parse_ok(TEST("{'probe':'command','exec':['plugins/check_x']}"), &m);
    assert_string_equal(m.checks[0].test.exec.argv[0], "plugins/check_x");
    manifest_cleanup(&m);
}

static void test_manifest_probe_with_repair(void **state)
{
    struct manifest m;

    (void)state;
    parse_ok(CHECK("'test':{'probe':'tcp','port':80},"
                   "'repair':{'exec':['systemctl restart nginx'],'shell':true,'user':'root'}"),
             &m);
    assert_int_equal(m.checks[0].test.kind, PROBE_TCP);
    assert_int_equal(m.checks[0].has_repair, 1);
    assert_int_equal(m.checks[0].repair.shell, 1);
    assert_string_equal(m.checks[0].repair.user, "root");
    manifest_cleanup(&m);
}

static void test_manifest_probe_kind_str(void **state)
{
    (void)state;
    assert_string_equal(probe_kind_str(PROBE_EXEC), "exec");
    assert_string_equal(probe_kind_str(PROBE_TCP), "tcp");
    assert_string_equal(probe_kind_str(PROBE_HTTP), "http");
    assert_string_equal(probe_kind_str(PROBE_PROCESS), "process");
    assert_string_equal(probe_kind_str(PROBE_FILE), "file");
    assert_string_equal(probe_kind_str(PROBE_DISK), "disk");
    assert_string_equal(probe_kind_str(PROBE_COMMAND), "command");
    assert_string_equal(probe_kind_str((enum probe_kind)42), "unknown");
}

static void test_manifest_find_check(void **state)
{
    struct manifest m;
    const struct manifest_check *c;

    (void)state;
    parse_ok(design_example, &m);
    c = manifest_find_check(&m, "nginx.port");
    assert_non_null(c);
    assert_ptr_equal(c, &m.checks[1]);
    assert_ptr_equal(manifest_find_check(&m, "nginx.running"), &m.checks[0]);
    assert_null(manifest_find_check(&m, "nginx.connections")); /* a stat, not a check */
    assert_null(manifest_find_check(&m, "NGINX.PORT"));
    assert_null(manifest_find_check(&m, ""));
    assert_null(manifest_find_check(&m, NULL));
    assert_null(manifest_find_check(NULL, "nginx.port"));
    manifest_cleanup(&m);
    assert_null(manifest_find_check(&m, "nginx.port"));
}

static void test_manifest_cleanup_is_idempotent(void **state)
{
    struct manifest m;

    (void)state;
    manifest_cleanup(NULL);
    parse_ok(design_example, &m);
    manifest_cleanup(&m);
    manifest_cleanup(&m);
    assert_true(all_zero(&m, sizeof(m)));
}

/* ---- errors: one table, each with its exact path ---- */

struct error_case {
    const char *json;
    const char *field;
    const char *msg;
};

#define BETWEEN_1_86400 "must be an integer between 1 and 86400"

static const struct error_case package_errors[] = {
    {"[1]", "", "must be a JSON object"},
    {"'x'", "", "must be a JSON object"},
    {"{'version':'1.0.0','checks':[{'name':'c','test':" EXEC_TEST "}]}", "name", "is required"},
    {"{'name':'Nginx','version':'1.0.0','checks':[]}", "name", "must match [a-z0-9]"},
    {"{'name':'-x','version':'1.0.0','checks':[]}", "name", "must match"},
    {"{'name':'a b','version':'1.0.0','checks':[]}", "name", "must match"},
    {"{'name':'','version':'1.0.0','checks':[]}", "name", "must not be empty"},
    {"{'name':5,'version':'1.0.0','checks':[]}", "name", "must be a string"},
    {"{'name':'p','checks':[{'name':'c','test':" EXEC_TEST "}]}", "version", "is required"},
    {"{'name':'p','version':1,'checks':[]}", "version", "must be a string"},
    {HEAD "'description':5,'checks':[]}", "description", "must be a string"},
    {HEAD "'description':'bell\\u0007','checks':[]}", "description", "control characters"},
    {HEAD "'description':'\xff\xfe','checks':[]}", "description", "UTF-8"},
    {HEAD "'description':'\xc0\xaf','checks':[]}", "description", "UTF-8"},
    {HEAD "'description':'\xed\xa0\x80','checks':[]}", "description", "UTF-8"},
    {HEAD "'environment':'prod env','checks':[]}", "environment", "[A-Za-z0-9._-]+"},
    {HEAD "'environment':'','checks':[]}", "environment", "[A-Za-z0-9._-]+"},
    {HEAD "'environment':null,'checks':[]}", "environment", "must be a string"},
    {HEAD "'tags':['a'],'checks':[]}", "tags", "must be an object"},
    {HEAD "'tags':{'team':1},'checks':[]}", "tags.team", "must be a string"},
    {HEAD "'tags':{'team':'a\\nb'},'checks':[]}", "tags.team", "control characters"},
    {HEAD "'tags':{'':'x'},'checks':[]}", "tags", "tag keys must be"},
    {HEAD "'tags':{'a\\tb':'x'},'checks':[]}", "tags.a\\x09b", "tag keys must be"},
    {HEAD "'tags':{'a':'x','a':'y'},'checks':[]}", "tags.a", "duplicate key \"a\""},
    {HEAD "'checks':{}}", "checks", "must be an array"},
    {HEAD "'checks':[]}", "checks", "at least one check or stat"},
    {HEAD "'checks':[],'stats':[]}", "checks", "at least one check or stat"},
    {HEAD "'stats':5}", "stats", "must be an array"},
    {HEAD "'check':[]}", "check", "unknown key \"check\""},
    {HEAD "'Name':'x','checks':[]}", "Name", "unknown key \"Name\""},
    {HEAD "'name':'q','checks':[]}", "name", "duplicate key \"name\""},
};

static const struct error_case check_errors[] = {
    {HEAD "'checks':[5]}", "checks[0]", "must be an object"},
    {HEAD "'checks':[{'test':" EXEC_TEST "}]}", "checks[0].name", "is required"},
    {HEAD "'checks':[{'name':'a b','test':" EXEC_TEST "}]}", "checks[0].name",
     "must match [A-Za-z0-9]"},
    {HEAD "'checks':[{'name':'.a','test':" EXEC_TEST "}]}", "checks[0].name", "must match"},
    {HEAD "'checks':[{'name':'a/b','test':" EXEC_TEST "}]}", "checks[0].name", "must match"},
    {CHECK("'interval':0,'test':" EXEC_TEST), "checks[0].interval", BETWEEN_1_86400},
    {CHECK("'interval':86401,'test':" EXEC_TEST), "checks[0].interval", BETWEEN_1_86400},
    {CHECK("'interval':1.5,'test':" EXEC_TEST), "checks[0].interval", BETWEEN_1_86400},
    {CHECK("'interval':'60','test':" EXEC_TEST), "checks[0].interval", BETWEEN_1_86400},
    {CHECK("'interval':true,'test':" EXEC_TEST), "checks[0].interval", BETWEEN_1_86400},
    {CHECK("'interval':-60,'test':" EXEC_TEST), "checks[0].interval", BETWEEN_1_86400},
    {CHECK("'interval':1e300,'test':" EXEC_TEST), "checks[0].interval", BETWEEN_1_86400},
    {CHECK("'interval':null,'test':" EXEC_TEST), "checks[0].interval", BETWEEN_1_86400},
    {CHECK("'timeout':0,'test':" EXEC_TEST), "checks[0].timeout",
     "must be an integer between 1 and 3600"},
    {CHECK("'timeout':3601,'test':" EXEC_TEST), "checks[0].timeout",
     "must be an integer between 1 and 3600"},
    {CHECK("'intervall':30,'test':" EXEC_TEST), "checks[0].intervall", "unknown key \"intervall\""},
    {CHECK("'interval':30,'interval':40,'test':" EXEC_TEST), "checks[0].interval",
     "duplicate key \"interval\""},
    {CHECK("'interval':30"), "checks[0].test", "is required"},
    {CHECK("'test':[]"), "checks[0].test", "must be an object"},
    {CHECK("'test':" EXEC_TEST ",'report_only':1"), "checks[0].report_only",
     "must be true or false"},
    {HEAD "'checks':[{'name':'a','test':" EXEC_TEST "},{'name':'b','test':" EXEC_TEST "},"
          "{'name':'a','test':" EXEC_TEST "}]}",
     "checks[2].name", "duplicate name \"a\" (also checks[0])"},
    {HEAD "'checks':[{'name':'a','test':" EXEC_TEST "},{'name':'b','intervall':1}]}",
     "checks[1].intervall", "unknown key"},
};

static const struct error_case exec_errors[] = {
    {TEST("{}"), "checks[0].test.exec", "is required"},
    {TEST("{'exce':['x']}"), "checks[0].test.exce", "unknown key \"exce\""},
    {TEST("{'exec':['x'],'user':'root'}"), "checks[0].test.user", "unknown key \"user\""},
    {TEST("{'exec':['x'],'timeout':5}"), "checks[0].test.timeout", "unknown key"},
    {TEST("{'exec':['x'],'probe':'tcp','port':1}"), "checks[0].test.exec", "unknown key \"exec\""},
    {TEST("{'exec':'checks/c.test'}"), "checks[0].test.exec", "must be an array of 1 to 64"},
    {TEST("{'exec':[]}"), "checks[0].test.exec", "must be an array of 1 to 64"},
    {TEST("{'exec':['x',5]}"), "checks[0].test.exec[1]", "must be a string"},
    {TEST("{'exec':[null]}"), "checks[0].test.exec[0]", "must be a string"},
    {TEST("{'exec':['']}"), "checks[0].test.exec[0]", "must not be empty"},
    {TEST("{'exec':['/usr/../bin/true']}"), "checks[0].test.exec[0]", "\"..\" component"},
    {TEST("{'probe':'http','url':'http://x/','body_match':'^o****k$'}"),
     "checks[0].test.body_match", "must not follow each other"},
    {TEST("{'probe':'http','url':'http://x/','body_match':'a{2}*'}"),
     "checks[0].test.body_match", "must not follow each other"},
    {TEST("{'exec':['../x']}"), "checks[0].test.exec[0]", "\"..\" component"},
    {TEST("{'exec':['checks/../../x']}"), "checks[0].test.exec[0]", "\"..\" component"},
    {TEST("{'exec':['checks/..']}"), "checks[0].test.exec[0]", "\"..\" component"},
    {TEST("{'exec':['..']}"), "checks[0].test.exec[0]", "\"..\" component"},
    {TEST("{'exec':['a','b'],'shell':true}"), "checks[0].test.exec", "exactly one"},
    {TEST("{'exec':[''],'shell':true}"), "checks[0].test.exec[0]", "must not be empty"},
    {TEST("{'exec':['x'],'shell':'yes'}"), "checks[0].test.shell", "must be true or false"},
    {TEST("{'exec':['x'],'shell':1}"), "checks[0].test.shell", "must be true or false"},
};

static const struct error_case repair_errors[] = {
    {CHECK("'test':" EXEC_TEST ",'repair':['r']"), "checks[0].repair", "must be an object"},
    {CHECK("'test':" EXEC_TEST ",'repair':{}"), "checks[0].repair.exec", "is required"},
    {CHECK("'test':" EXEC_TEST ",'repair':{'exec':['r'],'timeout':0}"), "checks[0].repair.timeout",
     "must be an integer between 1 and 3600"},
    {CHECK("'test':" EXEC_TEST ",'repair':{'exec':['r'],'timeout':3601}"),
     "checks[0].repair.timeout", "must be an integer between 1 and 3600"},
    {CHECK("'test':" EXEC_TEST ",'repair':{'exec':['r'],'user':'ro ot'}"), "checks[0].repair.user",
     "must be a user name"},
    {CHECK("'test':" EXEC_TEST ",'repair':{'exec':['r'],'user':'-x'}"), "checks[0].repair.user",
     "must be a user name"},
    {CHECK("'test':" EXEC_TEST ",'repair':{'exec':['r'],'user':''}"), "checks[0].repair.user",
     "must be a user name"},
    {CHECK("'test':" EXEC_TEST ",'repair':{'exec':['r'],'timout':5}"), "checks[0].repair.timout",
     "unknown key \"timout\""},
    {CHECK("'test':" EXEC_TEST ",'repair':{'exec':['/sbin/../reboot']}"), "checks[0].repair.exec[0]",
     "\"..\" component"},
    {CHECK("'test':" EXEC_TEST ",'repair':{'exec':['a/../../b']}"), "checks[0].repair.exec[0]",
     "\"..\" component"},
    {CHECK("'test':" EXEC_TEST ",'repair':{'exec':['a','b'],'shell':true}"),
     "checks[0].repair.exec", "exactly one"},
    {CHECK("'test':" EXEC_TEST ",'repair_on':'critical'"), "checks[0].repair_on",
     "must be an array"},
    {CHECK("'test':" EXEC_TEST ",'repair_on':['ok']"), "checks[0].repair_on[0]",
     "must be \"warning\", \"critical\" or \"unknown\""},
    {CHECK("'test':" EXEC_TEST ",'repair_on':['critical','crit']"), "checks[0].repair_on[1]",
     "must be"},
    {CHECK("'test':" EXEC_TEST ",'repair_on':['CRITICAL']"), "checks[0].repair_on[0]", "must be"},
    {CHECK("'test':" EXEC_TEST ",'repair_on':[2]"), "checks[0].repair_on[0]", "must be"},
    {CHECK("'test':" EXEC_TEST ",'max_repairs':3"), "checks[0].max_repairs", "must be an object"},
    {CHECK("'test':" EXEC_TEST ",'max_repairs':{'count':1001}"), "checks[0].max_repairs.count",
     "must be an integer between 0 and 1000"},
    {CHECK("'test':" EXEC_TEST ",'max_repairs':{'count':-1}"), "checks[0].max_repairs.count",
     "must be an integer between 0 and 1000"},
    {CHECK("'test':" EXEC_TEST ",'max_repairs':{'window':0}"), "checks[0].max_repairs.window",
     "must be an integer between 1 and 604800"},
    {CHECK("'test':" EXEC_TEST ",'max_repairs':{'window':604801}"), "checks[0].max_repairs.window",
     "must be an integer between 1 and 604800"},
    {CHECK("'test':" EXEC_TEST ",'max_repairs':{'windows':60}"), "checks[0].max_repairs.windows",
     "unknown key \"windows\""},
};

static const struct error_case alert_errors[] = {
    {CHECK("'test':" EXEC_TEST ",'alert':'page me'"), "checks[0].alert", "must be an object"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'severity':'high'}"), "checks[0].alert.severity",
     "must be \"critical\", \"warning\" or \"info\""},
    {CHECK("'test':" EXEC_TEST ",'alert':{'severity':'criticalcriticalcritical'}"),
     "checks[0].alert.severity", "must be \"critical\", \"warning\" or \"info\""},
    {CHECK("'test':" EXEC_TEST ",'alert':{'severity':2}"), "checks[0].alert.severity",
     "must be a string"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'runbook':'ftp://x/y'}"), "checks[0].alert.runbook",
     "must be an http:// or https:// URL"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'runbook':'https://'}"), "checks[0].alert.runbook",
     "URL"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'runbook':'https:///path'}"), "checks[0].alert.runbook",
     "URL"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'runbook':'wiki/nginx'}"), "checks[0].alert.runbook",
     "URL"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'changelog':'http://a b'}"), "checks[0].alert.changelog",
     "URL"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'docs':'https://a'}"), "checks[0].alert.docs",
     "must be an array of at most 16 URLs"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'docs':['https://a','nope']}"), "checks[0].alert.docs[1]",
     "URL"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'docs':[1]}"), "checks[0].alert.docs[0]",
     "must be a string"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'advice':['a']}"), "checks[0].alert.advice",
     "must be a string"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'login':'ssh a\\nrm -rf /'}"), "checks[0].alert.login",
     "control characters"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'runbok':'https://a'}"), "checks[0].alert.runbok",
     "unknown key \"runbok\""},
};

static const struct error_case probe_errors[] = {
    {TEST("{'probe':'ping'}"), "checks[0].test.probe",
     "must be one of tcp, http, process, file, disk, command"},
    {TEST("{'probe':5}"), "checks[0].test.probe", "must be one of"},
    {TEST("{'probe':'TCP','port':1}"), "checks[0].test.probe", "must be one of"},
    {TEST("{'probe':'tcp','timeout_ms':0,'port':1}"), "checks[0].test.timeout_ms",
     "must be an integer between 1 and 600000"},
    {TEST("{'probe':'tcp','timeout_ms':600001,'port':1}"), "checks[0].test.timeout_ms",
     "between 1 and 600000"},
    {TEST("{'probe':'tcp'}"), "checks[0].test.port", "is required"},
    {TEST("{'probe':'tcp','port':0}"), "checks[0].test.port",
     "must be an integer between 1 and 65535"},
    {TEST("{'probe':'tcp','port':65536}"), "checks[0].test.port", "between 1 and 65535"},
    {TEST("{'probe':'tcp','port':80.5}"), "checks[0].test.port", "between 1 and 65535"},
    {TEST("{'probe':'tcp','port':'80'}"), "checks[0].test.port", "between 1 and 65535"},
    {TEST("{'probe':'tcp','port':80,'host':'a b'}"), "checks[0].test.host",
     "must be a host name or IP address"},
    {TEST("{'probe':'tcp','port':80,'host':''}"), "checks[0].test.host", "host name"},
    {TEST("{'probe':'tcp','port':80,'host':'-oProxyCommand'}"), "checks[0].test.host", "host name"},
    {TEST("{'probe':'tcp','port':80,'url':'http://x'}"), "checks[0].test.url",
     "unknown key \"url\""},
    {TEST("{'probe':'tcp','port':80,'prot':81}"), "checks[0].test.prot", "unknown key"},
    {TEST("{'probe':'tcp','port':80,'port':81}"), "checks[0].test.port", "duplicate key"},
    {TEST("{'probe':'http'}"), "checks[0].test.url", "is required"},
    {TEST("{'probe':'http','url':''}"), "checks[0].test.url", "must not be empty"},
    {TEST("{'probe':'http','url':'ftp://x'}"), "checks[0].test.url",
     "must be an http:// or https:// URL"},
    {TEST("{'probe':'http','url':'http://x','expect_status':99}"), "checks[0].test.expect_status",
     "must be an integer between 100 and 599"},
    {TEST("{'probe':'http','url':'http://x','expect_status':600}"), "checks[0].test.expect_status",
     "between 100 and 599"},
    {TEST("{'probe':'http','url':'http://x','body_match':'(unclosed'}"),
     "checks[0].test.body_match", "is not a valid regular expression: "},
    {TEST("{'probe':'http','url':'http://x','max_latency_ms':-1}"), "checks[0].test.max_latency_ms",
     "must be an integer between 0 and 2147483647"},
    {TEST("{'probe':'http','url':'http://x','insecure':'yes'}"), "checks[0].test.insecure",
     "must be true or false"},
    {TEST("{'probe':'http','url':'http://x','port':80}"), "checks[0].test.port", "unknown key"},
    {TEST("{'probe':'process'}"), "checks[0].test.name", "is required"},
    {TEST("{'probe':'process','name':''}"), "checks[0].test.name", "must not be empty"},
    {TEST("{'probe':'process','name':'a\\u0001'}"), "checks[0].test.name", "control characters"},
    {TEST("{'probe':'process','name':'x','min':-1}"), "checks[0].test.min",
     "must be an integer between 0 and 2147483647"},
    {TEST("{'probe':'process','name':'x','max':-1}"), "checks[0].test.max",
     "between 0 and 2147483647"},
    {TEST("{'probe':'process','name':'x','min':3,'max':2}"), "checks[0].test.max",
     "must be at least min (3)"},
    {TEST("{'probe':'process','name':'x','max':0}"), "checks[0].test.max",
     "must be at least min (1)"},
    {TEST("{'probe':'process','name':'x','pid':1}"), "checks[0].test.pid", "unknown key"},
    {TEST("{'probe':'file'}"), "checks[0].test.path", "is required"},
    {TEST("{'probe':'file','path':'etc/passwd'}"), "checks[0].test.path",
     "must be an absolute path"},
    {TEST("{'probe':'file','path':'/x','mode':'0999'}"), "checks[0].test.mode",
     "octal mode string"},
    {TEST("{'probe':'file','path':'/x','mode':644}"), "checks[0].test.mode", "octal"},
    {TEST("{'probe':'file','path':'/x','mode':''}"), "checks[0].test.mode", "octal"},
    {TEST("{'probe':'file','path':'/x','mode':'010000'}"), "checks[0].test.mode", "octal"},
    {TEST("{'probe':'file','path':'/x','mode':'17777'}"), "checks[0].test.mode", "octal"},
    {TEST("{'probe':'file','path':'/x','mode':'0644 '}"), "checks[0].test.mode", "octal"},
    {TEST("{'probe':'file','path':'/x','max_age':-1}"), "checks[0].test.max_age",
     "between 0 and 2147483647"},
    {TEST("{'probe':'file','path':'/x','max_age':3e9}"), "checks[0].test.max_age",
     "between 0 and 2147483647"},
    {TEST("{'probe':'file','path':'/x','contains':'[z-a]'}"), "checks[0].test.contains",
     "is not a valid regular expression"},
    {TEST("{'probe':'file','path':'/x','exists':'no'}"), "checks[0].test.exists",
     "must be true or false"},
    {TEST("{'probe':'file','path':'/x','exists':false,'contains':'a'}"), "checks[0].test.exists",
     "cannot be combined"},
    {TEST("{'probe':'file','path':'/x','exists':false,'mode':'0600'}"), "checks[0].test.exists",
     "cannot be combined"},
    {TEST("{'probe':'file','path':'/x','min_free_pct':5}"), "checks[0].test.min_free_pct",
     "unknown key"},
    {TEST("{'probe':'disk','path':'/'}"), "checks[0].test",
     "needs min_free_pct, warn_free_pct or min_free_mb"},
    {TEST("{'probe':'disk','path':'/','min_free_pct':0}"), "checks[0].test", "needs"},
    {TEST("{'probe':'disk','min_free_pct':5}"), "checks[0].test.path", "is required"},
    {TEST("{'probe':'disk','path':'var','min_free_pct':5}"), "checks[0].test.path",
     "absolute path"},
    {TEST("{'probe':'disk','path':'/','min_free_pct':101}"), "checks[0].test.min_free_pct",
     "must be a number between 0 and 100"},
    {TEST("{'probe':'disk','path':'/','min_free_pct':-1}"), "checks[0].test.min_free_pct",
     "between 0 and 100"},
    {TEST("{'probe':'disk','path':'/','min_free_pct':'5'}"), "checks[0].test.min_free_pct",
     "between 0 and 100"},
    {TEST("{'probe':'disk','path':'/','warn_free_pct':101}"), "checks[0].test.warn_free_pct",
     "between 0 and 100"},
    {TEST("{'probe':'disk','path':'/','min_free_pct':10,'warn_free_pct':5}"),
     "checks[0].test.warn_free_pct", "must be at least min_free_pct"},
    {TEST("{'probe':'disk','path':'/','min_free_mb':-5}"), "checks[0].test.min_free_mb",
     "between 0 and 9007199254740992"},
    {TEST("{'probe':'disk','path':'/','min_free_mb':1.5}"), "checks[0].test.min_free_mb",
     "between 0 and 9007199254740992"},
    {TEST("{'probe':'disk','path':'/','min_free_mb':1e300}"), "checks[0].test.min_free_mb",
     "between 0 and 9007199254740992"},
    {TEST("{'probe':'command'}"), "checks[0].test.exec", "is required"},
    {TEST("{'probe':'command','exec':[]}"), "checks[0].test.exec", "1 to 64"},
    {TEST("{'probe':'command','exec':['../x']}"), "checks[0].test.exec[0]", "\"..\" component"},
    {TEST("{'probe':'command','exec':['/usr/../bin/x']}"), "checks[0].test.exec[0]",
     "\"..\" component"},
    {TEST("{'probe':'command','exec':['a','b'],'shell':true}"), "checks[0].test.exec",
     "exactly one"},
    {TEST("{'probe':'command','exec':['a'],'shell':'true'}"), "checks[0].test.shell",
     "must be true or false"},
    {TEST("{'probe':'command','exec':['a'],'expect_exit':256}"), "checks[0].test.expect_exit",
     "must be an integer between 0 and 255"},
    {TEST("{'probe':'command','exec':['a'],'output_match':'a{1'}"), "checks[0].test.output_match",
     "is not a valid regular expression"},
    {TEST("{'probe':'command','exec':['a'],'user':'root'}"), "checks[0].test.user", "unknown key"},
};

static const struct error_case stat_errors[] = {
    {HEAD "'stats':[5]}", "stats[0]", "must be an object"},
    {HEAD "'stats':[{'exec':['s']}]}", "stats[0].name", "is required"},
    {HEAD "'stats':[{'name':'a b','exec':['s']}]}", "stats[0].name", "must match"},
    {HEAD "'stats':[{'name':'s','interval':0,'exec':['s']}]}", "stats[0].interval",
     BETWEEN_1_86400},
    {HEAD "'stats':[{'name':'s','timeout':3601,'exec':['s']}]}", "stats[0].timeout",
     "between 1 and 3600"},
    {HEAD "'stats':[{'name':'s'}]}", "stats[0].exec", "is required"},
    {HEAD "'stats':[{'name':'s','exec':['/usr/../s']}]}", "stats[0].exec[0]",
     "\"..\" component"},
    {HEAD "'stats':[{'name':'s','exec':['../s']}]}", "stats[0].exec[0]", "\"..\" component"},
    {HEAD "'stats':[{'name':'s','exec':['s'],'tags':{}}]}", "stats[0].tags",
     "unknown key \"tags\""},
    {HEAD "'stats':[{'name':'s','exec':['a']},{'name':'s','exec':['b']}]}", "stats[1].name",
     "duplicate name \"s\" (also stats[0])"},
};

static void run_error_cases(const struct error_case *cases, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        expect_error(cases[i].json, HO_EINVAL, cases[i].field, cases[i].msg);
}

#define RUN_CASES(t) run_error_cases(t, sizeof(t) / sizeof(t[0]))

static void test_manifest_package_errors(void **state)
{
    (void)state;
    RUN_CASES(package_errors);
}

static void test_manifest_check_errors(void **state)
{
    (void)state;
    RUN_CASES(check_errors);
}

static void test_manifest_exec_errors(void **state)
{
    (void)state;
    RUN_CASES(exec_errors);
}

static void test_manifest_repair_errors(void **state)
{
    (void)state;
    RUN_CASES(repair_errors);
}

static void test_manifest_alert_errors(void **state)
{
    (void)state;
    RUN_CASES(alert_errors);
}

static void test_manifest_probe_errors(void **state)
{
    (void)state;
    RUN_CASES(probe_errors);
}

static void test_manifest_stat_errors(void **state)
{
    (void)state;
    RUN_CASES(stat_errors);
}

/* Names are unique among checks and among stats, not across them. */
static void test_manifest_check_and_stat_may_share_a_name(void **state)
{
    struct manifest m;

    (void)state;
    parse_ok(HEAD "'checks':[{'name':'x','test':" EXEC_TEST "}],"
                  "'stats':[{'name':'x','exec':['s']}]}",
             &m);
    assert_int_equal(m.nchecks, 1);
    assert_int_equal(m.nstats, 1);
    manifest_cleanup(&m);
}

/* ---- malformed JSON and raw-text rules ---- */

static void test_manifest_malformed_json(void **state)
{
    struct manifest m;
    struct ho_error err;

    (void)state;
    expect_error("{", HO_EINVAL, "", "invalid JSON near byte");
    expect_error("", HO_EINVAL, "", "invalid JSON");
    expect_error("{'name':'p',}", HO_EINVAL, "", "invalid JSON near byte 12");
    expect_error("{'name' 'p'}", HO_EINVAL, "", "invalid JSON near byte");
    expect_error(TEST(EXEC_TEST) " x", HO_EINVAL, "", "unexpected text after the value");
    expect_error(TEST(EXEC_TEST) "{}", HO_EINVAL, "", "unexpected text after the value");
    /* A string with \u0000 would silently be cut short by cJSON. */
    expect_error(TEST("{'exec':['checks/c.test\\u0000.evil']}"), HO_EINVAL, "", "\\u0000");
    /* An escaped backslash followed by "u0000" is plain text. */
    parse_ok(TEST("{'exec':['checks/c.test','\\\\u0000']}"), &m);
    assert_string_equal(m.checks[0].test.exec.argv[1], "\\u0000");
    manifest_cleanup(&m);
    /* Trailing whitespace is fine. */
    parse_ok(TEST(EXEC_TEST) " \n\t\r\n", &m);
    manifest_cleanup(&m);

    /* A raw NUL byte inside the given length. */
    {
        static const char raw[] = "{\"name\":\"p\0x\",\"version\":\"1.0.0\"}";

        memset(&m, 0xab, sizeof(m));
        assert_int_equal(manifest_parse(raw, sizeof(raw) - 1, &m, &err), HO_EINVAL);
        assert_string_equal(err.field, "");
        assert_non_null(strstr(err.msg, "NUL byte at byte 10"));
        assert_true(all_zero(&m, sizeof(m)));
    }
    /* NULL input and a NULL error report. */
    assert_int_equal(manifest_parse(NULL, 0, &m, &err), HO_EINVAL);
    assert_non_null(strstr(err.msg, "invalid JSON"));
    assert_int_equal(manifest_parse("{", 1, &m, NULL), HO_EINVAL);
    assert_true(all_zero(&m, sizeof(m)));
}

static void test_manifest_length_is_respected(void **state)
{
    static const char json[] = "{\"name\":\"p\",\"version\":\"1.0.0\",\"stats\":[{\"name\":\"s\","
                               "\"exec\":[\"s\"]}]}garbage that is not part of it";
    struct manifest m;
    struct ho_error err;

    (void)state;
    assert_int_equal(
        manifest_parse(json, strlen(json) - strlen("garbage that is not part of it"), &m, &err),
        HO_OK);
    assert_int_equal(m.nstats, 1);
    manifest_cleanup(&m);
}

static void test_manifest_oversize(void **state)
{
    struct manifest m;
    struct ho_error err;
    char *big;
    size_t n = MANIFEST_MAX_BYTES + 1;

    (void)state;
    big = xmalloc(n);
    memset(big, ' ', n);
    memset(&m, 0xab, sizeof(m));
    assert_int_equal(manifest_parse(big, n, &m, &err), HO_ETOOBIG);
    assert_string_equal(err.field, "");
    assert_non_null(strstr(err.msg, "limit"));
    assert_true(all_zero(&m, sizeof(m)));
    free(big);
}

/* ---- limits, at and past each bound ---- */

static char *take(struct buf *b)
{
    char *s = buf_take(b);
    char *q = js(s);

    free(s);
    return q;
}

/* A manifest with n checks and m stats (each with one argument). */
static char *many(size_t n_checks, size_t n_stats)
{
    struct buf b;
    size_t i;

    buf_init(&b, 4 * 1024 * 1024);
    assert_int_equal(buf_appends(&b, HEAD "'checks':["), HO_OK);
    for (i = 0; i < n_checks; i++)
        assert_int_equal(buf_printf(&b, "%s{'name':'c%zu','test':%s}", i ? "," : "", i, EXEC_TEST),
                         HO_OK);
    assert_int_equal(buf_appends(&b, "],'stats':["), HO_OK);
    for (i = 0; i < n_stats; i++)
        assert_int_equal(buf_printf(&b, "%s{'name':'s%zu','exec':['s']}", i ? "," : "", i), HO_OK);
    assert_int_equal(buf_appends(&b, "]}"), HO_OK);
    return take(&b);
}

static void expect_raw(const char *json, enum ho_code rc, const char *field, const char *msg)
{
    struct manifest m;
    struct ho_error err;
    enum ho_code got;

    got = manifest_parse(json, strlen(json), &m, &err);
    if (got != rc ||
        (rc != HO_OK && (strcmp(err.field, field) != 0 || strstr(err.msg, msg) == NULL))) {
        print_error("expected %s %s: %s\ngot %s %s: %s\n", ho_code_str(rc), field, msg,
                    ho_code_str(got), err.field, err.msg);
        fail();
    }
    manifest_cleanup(&m);
}

static void test_manifest_count_limits(void **state)
{
    char *json;

    (void)state;
    json = many(MANIFEST_MAX_CHECKS, MANIFEST_MAX_STATS);
    expect_raw(json, HO_OK, "", "");
    free(json);
    json = many(MANIFEST_MAX_CHECKS + 1, 1);
    expect_raw(json, HO_EINVAL, "checks", "at most 256");
    free(json);
    json = many(1, MANIFEST_MAX_STATS + 1);
    expect_raw(json, HO_EINVAL, "stats", "at most 256");
    free(json);
}

/* A check whose test exec has n arguments of len bytes each (after argv[0]). */
static char *args(size_t n, size_t len)
{
    struct buf b;
    char *arg = xmalloc(len + 1);
    size_t i;

    memset(arg, 'a', len);
    arg[len] = '\0';
    buf_init(&b, 4 * 1024 * 1024);
    assert_int_equal(buf_appends(&b, HEAD "'checks':[{'name':'c','test':{'exec':['x'"), HO_OK);
    for (i = 0; i < n; i++)
        assert_int_equal(buf_printf(&b, ",'%s'", arg), HO_OK);
    assert_int_equal(buf_appends(&b, "]}}]}"), HO_OK);
    free(arg);
    return take(&b);
}

static void test_manifest_exec_limits(void **state)
{
    char *json;

    (void)state;
    json = args(MANIFEST_MAX_ARGS - 1, 1);
    expect_raw(json, HO_OK, "", "");
    free(json);
    json = args(MANIFEST_MAX_ARGS, 1);
    expect_raw(json, HO_EINVAL, "checks[0].test.exec", "1 to 64 strings");
    free(json);
    json = args(1, 4096);
    expect_raw(json, HO_OK, "", "");
    free(json);
    json = args(1, 4097);
    expect_raw(json, HO_EINVAL, "checks[0].test.exec[1]", "at most 4096 bytes");
    free(json);
}

/* The manifest tmpl with its one "%s" replaced by len bytes of 'a'. */
static char *sized(const char *tmpl, size_t len)
{
    const char *at = strstr(tmpl, "%s");
    struct buf b;
    char *s = xmalloc(len + 1);

    assert_non_null(at);
    memset(s, 'a', len);
    s[len] = '\0';
    buf_init(&b, 4 * 1024 * 1024);
    assert_int_equal(buf_append(&b, tmpl, (size_t)(at - tmpl)), HO_OK);
    assert_int_equal(buf_appends(&b, s), HO_OK);
    assert_int_equal(buf_appends(&b, at + 2), HO_OK);
    free(s);
    return take(&b);
}

struct length_case {
    const char *tmpl; /* one %s: the string of the tested length */
    size_t max;
    const char *field;
};

static const struct length_case length_cases[] = {
    {"{'name':'%s','version':'1.0.0','stats':[{'name':'s','exec':['s']}]}", 64, "name"},
    {HEAD "'checks':[{'name':'%s','test':{'exec':['x']}}]}", 128, "checks[0].name"},
    {HEAD "'stats':[{'name':'%s','exec':['s']}]}", 128, "stats[0].name"},
    {HEAD "'description':'%s','stats':[{'name':'s','exec':['s']}]}", 1024, "description"},
    {HEAD "'environment':'%s','stats':[{'name':'s','exec':['s']}]}", 64, "environment"},
    {HEAD "'tags':{'k':'%s'},'stats':[{'name':'s','exec':['s']}]}", 255, "tags.k"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'advice':'%s'}"), 4096, "checks[0].alert.advice"},
    {CHECK("'test':" EXEC_TEST ",'alert':{'login':'%s'}"), 512, "checks[0].alert.login"},
    {TEST("{'probe':'tcp','port':1,'host':'%s'}"), 255, "checks[0].test.host"},
    {TEST("{'probe':'process','name':'%s'}"), 255, "checks[0].test.name"},
    {CHECK("'test':" EXEC_TEST ",'repair':{'exec':['r'],'user':'%s'}"), 32,
     "checks[0].repair.user"},
};

static void test_manifest_length_limits(void **state)
{
    const struct length_case *c;
    char *json;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(length_cases) / sizeof(length_cases[0]); i++) {
        c = &length_cases[i];
        json = sized(c->tmpl, c->max);
        expect_raw(json, HO_OK, "", "");
        free(json);
        json = sized(c->tmpl, c->max + 1);
        expect_raw(json, HO_EINVAL, c->field, "at most");
        free(json);
    }
}

static void test_manifest_url_length_limit(void **state)
{
    char *json;

    (void)state;
    json = sized(TEST("{'probe':'http','url':'http://%s'}"), 2048 - 7);
    expect_raw(json, HO_OK, "", "");
    free(json);
    json = sized(TEST("{'probe':'http','url':'http://%s'}"), 2048 - 6);
    expect_raw(json, HO_EINVAL, "checks[0].test.url", "at most 2048 bytes");
    free(json);
}

static void test_manifest_tag_and_docs_limits(void **state)
{
    struct buf b;
    char *json;
    size_t i;

    (void)state;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_appends(&b, HEAD "'tags':{"), HO_OK);
    for (i = 0; i < 16; i++)
        assert_int_equal(buf_printf(&b, "%s'k%zu':'v'", i ? "," : "", i), HO_OK);
    assert_int_equal(buf_appends(&b, "},'stats':[{'name':'s','exec':['s']}]}"), HO_OK);
    json = take(&b);
    expect_raw(json, HO_OK, "", "");
    free(json);
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_appends(&b, HEAD "'tags':{"), HO_OK);
    for (i = 0; i < 17; i++)
        assert_int_equal(buf_printf(&b, "%s'k%zu':'v'", i ? "," : "", i), HO_OK);
    assert_int_equal(buf_appends(&b, "},'stats':[{'name':'s','exec':['s']}]}"), HO_OK);
    json = take(&b);
    expect_raw(json, HO_EINVAL, "tags", "at most 16 pairs");
    free(json);

    buf_init(&b, 1 << 20);
    assert_int_equal(
        buf_appends(&b, HEAD "'checks':[{'name':'c','test':" EXEC_TEST ",'alert':{'docs':["),
        HO_OK);
    for (i = 0; i < 17; i++)
        assert_int_equal(buf_printf(&b, "%s'https://d/%zu'", i ? "," : "", i), HO_OK);
    assert_int_equal(buf_appends(&b, "]}}]}"), HO_OK);
    json = take(&b);
    expect_raw(json, HO_EINVAL, "checks[0].alert.docs", "at most 16 URLs");
    free(json);
}

/* ---- manifest_load_dir on real folders ---- */

struct fixture {
    char dir[64];
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path);
    return unlink(path);
}

static int setup_dir(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/manifest_test.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown_dir(void **state)
{
    struct fixture *f = *state;
    int r;

    r = nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return r;
}

/* Writes dir/rel (making parent folders) with content and mode. */
static void write_file(const char *dir, const char *rel, const char *content, size_t len,
                       mode_t mode)
{
    char path[PATH_MAX], *slash;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    for (slash = strchr(path + strlen(dir) + 1, '/'); slash != NULL;
         slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
        *slash = '/';
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void write_script(const char *dir, const char *rel, mode_t mode)
{
    static const char sh[] = "#!/bin/sh\nexit 0\n";

    write_file(dir, rel, sh, sizeof(sh) - 1, mode);
}

static void write_manifest(const char *dir, const char *q)
{
    char *json = js(q);

    write_file(dir, MANIFEST_FILE, json, strlen(json), 0644);
    free(json);
}

static void link_at(const char *dir, const char *rel, const char *target)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    assert_int_equal(symlink(target, path), 0);
}

/* Loads dir expecting failure rc at field with msg inside the message. */
static void expect_load_error(const char *dir, enum ho_code rc, const char *field, const char *msg)
{
    struct manifest m;
    struct ho_error err;
    enum ho_code got;

    memset(&m, 0xab, sizeof(m));
    got = manifest_load_dir(dir, &m, &err);
    if (got != rc || strcmp(err.field, field) != 0 || strstr(err.msg, msg) == NULL) {
        print_error("expected: %s %s: ...%s...\ngot:      %s %s: %s\n", ho_code_str(rc), field, msg,
                    ho_code_str(got), err.field, err.msg);
        fail();
    }
    assert_true(all_zero(&m, sizeof(m)));
}

static const char full_package[] = HEAD
    "'checks':["
    "{'name':'a','test':{'exec':['checks/a.test','-v']},'repair':{'exec':['./checks/a.repair']}},"
    "{'name':'b','test':{'probe':'command','exec':['/usr/lib/nagios/plugins/check_nothere']}},"
    "{'name':'c','test':{'probe':'command','exec':['plugins/check_x','-w','1']}},"
    "{'name':'d','test':{'exec':['exit 2'],'shell':true},'repair':{'exec':['rm -rf /tmp/q'],"
    "'shell':true}},"
    "{'name':'e','test':{'probe':'tcp','port':22}}],"
    "'stats':[{'name':'s','exec':['stats/s.stats']}]}";

static void write_full_package(const char *dir)
{
    write_manifest(dir, full_package);
    write_script(dir, "checks/a.test", 0755);
    write_script(dir, "checks/a.repair", 0700);
    write_script(dir, "plugins/check_x", 0555);
    write_script(dir, "stats/s.stats", 0750);
}

static void test_manifest_load_dir_ok(void **state)
{
    struct fixture *f = *state;
    struct manifest m;
    struct ho_error err;
    char real[PATH_MAX], dotted[PATH_MAX];

    write_full_package(f->dir);
    assert_non_null(realpath(f->dir, real));
    assert_int_equal(manifest_load_dir(f->dir, &m, &err), HO_OK);
    assert_string_equal(m.dir, real);
    assert_string_equal(m.name, "p");
    assert_int_equal(m.nchecks, 5);
    /* argv stays as written: the runner resolves it against m.dir. */
    assert_string_equal(m.checks[0].test.exec.argv[0], "checks/a.test");
    assert_string_equal(m.checks[0].repair.argv[0], "./checks/a.repair");
    assert_string_equal(m.checks[1].test.exec.argv[0], "/usr/lib/nagios/plugins/check_nothere");
    assert_string_equal(m.checks[2].test.exec.argv[0], "plugins/check_x");
    assert_string_equal(m.stats[0].exec.argv[0], "stats/s.stats");
    manifest_cleanup(&m);

    /* A path with "." and a trailing slash gives the same folder. */
    snprintf(dotted, sizeof(dotted), "%s/./", f->dir);
    assert_int_equal(manifest_load_dir(dotted, &m, &err), HO_OK);
    assert_string_equal(m.dir, real);
    manifest_cleanup(&m);
}

static void test_manifest_load_dir_missing_file(void **state)
{
    struct fixture *f = *state;

    write_full_package(f->dir);
    write_manifest(f->dir, TEST("{'exec':['checks/missing.test']}"));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].test.exec[0]",
                      "checks/missing.test: no such file");
}

static void test_manifest_load_dir_not_executable(void **state)
{
    struct fixture *f = *state;

    write_script(f->dir, "checks/c.test", 0644);
    write_manifest(f->dir, TEST(EXEC_TEST));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].test.exec[0]",
                      "checks/c.test: is not executable");
}

static void test_manifest_load_dir_not_regular(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/checks", f->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    write_manifest(f->dir, TEST("{'exec':['checks']}"));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].test.exec[0]",
                      "checks: is not a regular file");
    write_manifest(f->dir, TEST("{'exec':['.']}"));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].test.exec[0]",
                      ".: is not a regular file");
    snprintf(path, sizeof(path), "%s/fifo", f->dir);
    assert_int_equal(mkfifo(path, 0755), 0);
    write_manifest(f->dir, TEST("{'exec':['fifo']}"));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].test.exec[0]",
                      "fifo: is not a regular file");
}

static void test_manifest_load_dir_symlink_outside(void **state)
{
    struct fixture *f = *state;

    write_script(f->dir, "checks/keep", 0755);
    link_at(f->dir, "checks/out.test", "/bin/sh");
    write_manifest(f->dir, TEST("{'exec':['checks/out.test']}"));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].test.exec[0]",
                      "checks/out.test: points outside the package");
    /* A folder link leaving the package. */
    link_at(f->dir, "bin", "/bin");
    write_manifest(f->dir, TEST("{'exec':['bin/sh']}"));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].test.exec[0]",
                      "bin/sh: points outside the package");
    /* A relative link climbing out. */
    link_at(f->dir, "checks/up.test", "../../../../../../../../bin/sh");
    write_manifest(f->dir, TEST("{'exec':['checks/up.test']}"));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].test.exec[0]",
                      "points outside the package");
    /* The same rule for repairs, stats and relative command probes. */
    write_manifest(f->dir, CHECK("'test':{'exec':['checks/keep']},"
                                 "'repair':{'exec':['checks/out.test']}"));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].repair.exec[0]",
                      "points outside the package");
    write_manifest(f->dir, HEAD "'stats':[{'name':'s','exec':['bin/sh']}]}");
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:stats[0].exec[0]",
                      "points outside the package");
    write_manifest(f->dir, TEST("{'probe':'command','exec':['checks/out.test']}"));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].test.exec[0]",
                      "points outside the package");
}

static void test_manifest_load_dir_symlink_inside_ok(void **state)
{
    struct fixture *f = *state;
    struct manifest m;
    struct ho_error err;

    write_script(f->dir, "lib/real.test", 0755);
    link_at(f->dir, "checks", "lib");
    link_at(f->dir, "lib/link.test", "real.test");
    write_manifest(f->dir, HEAD "'checks':[{'name':'a','test':{'exec':['checks/link.test']}},"
                                "{'name':'b','test':{'exec':['checks/real.test']}}]}");
    assert_int_equal(manifest_load_dir(f->dir, &m, &err), HO_OK);
    assert_string_equal(m.checks[0].test.exec.argv[0], "checks/link.test");
    manifest_cleanup(&m);

    link_at(f->dir, "lib/dangling.test", "nowhere");
    write_manifest(f->dir, TEST("{'exec':['lib/dangling.test']}"));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].test.exec[0]",
                      "lib/dangling.test: no such file");
}

static void test_manifest_load_dir_path_escapes_rejected(void **state)
{
    struct fixture *f = *state;

    write_manifest(f->dir, TEST("{'exec':['../x']}"));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].test.exec[0]",
                      "\"..\" component");
}

/* An installed plugin (absolute path) is allowed and checked when it runs, not at load. */
static void test_manifest_load_dir_absolute_plugin_allowed(void **state)
{
    struct fixture *f = *state;
    struct manifest m;
    struct ho_error err;

    write_manifest(f->dir, TEST("{'exec':['/usr/lib/nagios/plugins/check_not_installed','-w','10%']}"));
    assert_int_equal(manifest_load_dir(f->dir, &m, &err), HO_OK);
    assert_string_equal(m.checks[0].test.exec.argv[0],
                        "/usr/lib/nagios/plugins/check_not_installed");
    manifest_cleanup(&m);
}

static void test_manifest_load_dir_each_exec_checked(void **state)
{
    struct fixture *f = *state;

    write_full_package(f->dir);
    write_script(f->dir, "checks/a.repair", 0600);
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].repair.exec[0]",
                      "./checks/a.repair: is not executable");
    write_script(f->dir, "checks/a.repair", 0700);
    write_script(f->dir, "stats/s.stats", 0600);
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:stats[0].exec[0]",
                      "stats/s.stats: is not executable");
    write_script(f->dir, "stats/s.stats", 0700);
    write_script(f->dir, "plugins/check_x", 0444);
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[2].test.exec[0]",
                      "plugins/check_x: is not executable");
}

static void test_manifest_load_dir_missing_manifest(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX];

    expect_load_error(f->dir, HO_ENOENT, "healops-package.json", "no such file");
    snprintf(path, sizeof(path), "%s/nope", f->dir);
    expect_load_error(path, HO_ENOENT, "", "package folder");
    write_file(f->dir, "file", "", 0, 0644);
    snprintf(path, sizeof(path), "%s/file", f->dir);
    expect_load_error(path, HO_EINVAL, "", "is not a directory");
}

static void test_manifest_load_dir_manifest_not_regular(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", f->dir, MANIFEST_FILE);
    assert_int_equal(mkdir(path, 0755), 0);
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json", "is not a regular file");
    assert_int_equal(rmdir(path), 0);

    assert_int_equal(mkfifo(path, 0644), 0);
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json", "is not a regular file");
    assert_int_equal(unlink(path), 0);

    write_file(f->dir, "real.json", "{}", 2, 0644);
    assert_int_equal(symlink("real.json", path), 0);
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json", "symbolic link");
}

static void test_manifest_load_dir_oversize(void **state)
{
    struct fixture *f = *state;
    char *big;
    size_t n = MANIFEST_MAX_BYTES + 1;

    big = xmalloc(n);
    memset(big, ' ', n);
    write_file(f->dir, MANIFEST_FILE, big, n, 0644);
    expect_load_error(f->dir, HO_ETOOBIG, "healops-package.json", "limit");
    /* Exactly at the limit is read, then judged as JSON. */
    write_file(f->dir, MANIFEST_FILE, big, n - 1, 0644);
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json", "invalid JSON");
    free(big);
}

static void test_manifest_load_dir_parse_error_names_the_file(void **state)
{
    struct fixture *f = *state;

    write_manifest(f->dir, CHECK("'interval':0,'test':" EXEC_TEST));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].interval",
                      BETWEEN_1_86400);
    write_manifest(f->dir, "{'name':");
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json", "invalid JSON near byte");
    write_manifest(f->dir, TEST("{'probe':'tcp','port':80,'hots':'x'}"));
    expect_load_error(f->dir, HO_EINVAL, "healops-package.json:checks[0].test.hots",
                      "unknown key \"hots\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_design_example_parses),
        cmocka_unit_test(test_manifest_defaults),
        cmocka_unit_test(test_manifest_check_options),
        cmocka_unit_test(test_manifest_repair_on_empty_means_never),
        cmocka_unit_test(test_manifest_versions),
        cmocka_unit_test(test_manifest_stats_only),
        cmocka_unit_test(test_manifest_shell_test),
        cmocka_unit_test(test_manifest_probe_tcp),
        cmocka_unit_test(test_manifest_probe_http),
        cmocka_unit_test(test_manifest_probe_process),
        cmocka_unit_test(test_manifest_probe_file),
        cmocka_unit_test(test_manifest_probe_disk),
        cmocka_unit_test(test_manifest_probe_command),
        cmocka_unit_test(test_manifest_probe_with_repair),
        cmocka_unit_test(test_manifest_probe_kind_str),
        cmocka_unit_test(test_manifest_find_check),
        cmocka_unit_test(test_manifest_cleanup_is_idempotent),
        cmocka_unit_test(test_manifest_package_errors),
        cmocka_unit_test(test_manifest_check_errors),
        cmocka_unit_test(test_manifest_exec_errors),
        cmocka_unit_test(test_manifest_repair_errors),
        cmocka_unit_test(test_manifest_alert_errors),
        cmocka_unit_test(test_manifest_probe_errors),
        cmocka_unit_test(test_manifest_stat_errors),
        cmocka_unit_test(test_manifest_check_and_stat_may_share_a_name),
        cmocka_unit_test(test_manifest_malformed_json),
        cmocka_unit_test(test_manifest_length_is_respected),
        cmocka_unit_test(test_manifest_oversize),
        cmocka_unit_test(test_manifest_count_limits),
        cmocka_unit_test(test_manifest_exec_limits),
        cmocka_unit_test(test_manifest_length_limits),
        cmocka_unit_test(test_manifest_url_length_limit),
        cmocka_unit_test(test_manifest_tag_and_docs_limits),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_ok, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_missing_file, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_not_executable, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_not_regular, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_symlink_outside, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_symlink_inside_ok, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_absolute_plugin_allowed, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_path_escapes_rejected, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_each_exec_checked, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_missing_manifest, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_manifest_not_regular, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_oversize, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_load_dir_parse_error_names_the_file,
                                        setup_dir, teardown_dir),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

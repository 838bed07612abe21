/*
 * Unit tests for agent/probe*.c: every built-in probe against real things on
 * this host (a loopback listener, a tiny HTTP/1.0 server thread, our own
 * process, temp files, "/"), exec tests and repairs as real scripts in a
 * package folder made with mkdtemp.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "log.h"
#include "mem.h"
#include "probe.h"

static char pkgdir[] = "/tmp/probe_test.XXXXXX";

/* ---- fixtures ---- */

struct fixture {
    struct probe_ctx ctx;
    struct manifest pkg;
    struct manifest_check c;
    struct run_step step;
    struct metric *m;
    size_t n;
};

static void fx_init(struct fixture *f, enum probe_kind kind)
{
    memset(f, 0, sizeof(*f));
    f->ctx.node = "node1";
    f->ctx.output_cap = 65536;
    f->pkg.name = "web";
    f->pkg.dir = pkgdir;
    f->c.name = "web.up";
    f->c.interval_s = 60;
    f->c.timeout_s = 5;
    f->c.test.kind = kind;
    f->c.test.expect_status = 200;
    f->c.test.min_count = 1;
    f->c.test.max_count = -1;
    f->c.test.must_exist = 1;
    f->c.test.mode = -1;
    f->c.repair.timeout_s = 5;
}

static void fx_metrics_free(struct fixture *f)
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
    free(f->step.output);
    fx_metrics_free(f);
    probe_run_test(&f->ctx, &f->pkg, &f->c, &f->step, &f->m, &f->n);
    assert_int_equal(f->step.present, 1);
    assert_non_null(f->step.output);
}

static void fx_done(struct fixture *f)
{
    free(f->step.output);
    fx_metrics_free(f);
}

static const struct metric *fx_metric(const struct fixture *f, const char *name)
{
    size_t i;

    for (i = 0; i < f->n; i++)
        if (strcmp(f->m[i].name, name) == 0)
            return &f->m[i];
    fail_msg("no metric %s", name);
    return NULL;
}

static void assert_prefix(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

/* An exec argv from a NULL-terminated list (copied). */
static void exec_set(struct manifest_exec *x, int shell, ...)
{
    const char *a;
    va_list ap;
    size_t n = 0;

    x->argv = xcalloc(MANIFEST_MAX_ARGS + 1, sizeof(char *));
    va_start(ap, shell);
    while ((a = va_arg(ap, const char *)) != NULL)
        x->argv[n++] = xstrdup(a);
    va_end(ap);
    x->argc = n;
    x->shell = shell;
}

static void exec_free(struct manifest_exec *x)
{
    size_t i;

    for (i = 0; i < x->argc; i++)
        free(x->argv[i]);
    free(x->argv);
    x->argv = NULL;
    x->argc = 0;
}

static char *pkg_path(const char *name)
{
    return xasprintf("%s/%s", pkgdir, name);
}

static void write_file(const char *name, const char *content, mode_t mode)
{
    char *path = pkg_path(name);
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(content, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
    free(path);
}

static char *read_file(const char *name)
{
    char *path = pkg_path(name);
    FILE *fp = fopen(path, "r");
    char *data = xcalloc(1, 65536);

    assert_non_null(fp);
    assert_true(fread(data, 1, 65535, fp) < 65535);
    fclose(fp);
    free(path);
    return data;
}

/* ---- a tiny HTTP/1.0 server on 127.0.0.1 ---- */

struct http_srv {
    int fd;
    int port;
    pthread_t th;
    pthread_mutex_t lock;
    const char *response; /* under lock */
    int delay_ms;         /* under lock */
    int stop;             /* under lock */
};

static struct http_srv srv = {.fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

/* Reads the request head (bounded in time and size), then answers and closes. */
static void http_serve(int c)
{
    char req[4096];
    size_t len = 0;
    const char *resp;
    int delay;
    ssize_t r;
    struct pollfd p = {.fd = c, .events = POLLIN};

    while (len < sizeof(req) - 1 && poll(&p, 1, 2000) == 1) {
        r = read(c, req + len, sizeof(req) - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    pthread_mutex_lock(&srv.lock);
    resp = srv.response;
    delay = srv.delay_ms;
    pthread_mutex_unlock(&srv.lock);
    if (delay > 0)
        usleep((useconds_t)delay * 1000);
    r = write(c, resp, strlen(resp));
    (void)r;
    close(c);
}

static void *http_main(void *arg)
{
    struct pollfd p = {.fd = srv.fd, .events = POLLIN};
    int stop, c;

    (void)arg;
    for (;;) {
        pthread_mutex_lock(&srv.lock);
        stop = srv.stop;
        pthread_mutex_unlock(&srv.lock);
        if (stop)
            break;
        if (poll(&p, 1, 50) != 1)
            continue;
        c = accept4(srv.fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            http_serve(c);
    }
    return NULL;
}

static void http_set(const char *response, int delay_ms)
{
    pthread_mutex_lock(&srv.lock);
    srv.response = response;
    srv.delay_ms = delay_ms;
    pthread_mutex_unlock(&srv.lock);
}

/* A listening socket on 127.0.0.1 and a free port; returns the fd. */
static int listen_any(int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ---- tcp ---- */

static void test_probe_tcp_connects(void **state)
{
    struct fixture f;
    char *want;
    int port, fd = listen_any(&port);

    (void)state;
    fx_init(&f, PROBE_TCP);
    f.c.test.host = "127.0.0.1";
    f.c.test.port = port;
    f.c.test.timeout_ms = 1000;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);
    assert_int_equal(f.step.has_exit_code, 0);
    want = xasprintf("TCP OK: 127.0.0.1:%d connected in ", port);
    assert_prefix(f.step.output, want);
    assert_true(fx_metric(&f, "tcp.connect_ms")->value >= 0);
    free(want);
    fx_done(&f);
    close(fd);
}

static void test_probe_tcp_refused(void **state)
{
    struct fixture f;
    char *want;
    int port, fd = listen_any(&port);

    (void)state;
    close(fd); /* nothing listens there now */
    fx_init(&f, PROBE_TCP);
    f.c.test.host = "127.0.0.1";
    f.c.test.port = port;
    f.c.test.timeout_ms = 1000;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    want = xasprintf("TCP CRITICAL: 127.0.0.1:%d connection refused", port);
    assert_string_equal(f.step.output, want);
    assert_int_equal(f.n, 0);
    free(want);
    fx_done(&f);
}

static void test_probe_tcp_cannot_run(void **state)
{
    struct fixture f;

    (void)state;
    fx_init(&f, PROBE_TCP);
    /* An empty label: the resolver refuses it without asking any server. */
    f.c.test.host = "bad..host";
    f.c.test.port = 80;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);
    assert_prefix(f.step.output, "TCP UNKNOWN: cannot resolve bad..host: ");

    f.c.test.host = "127.0.0.1";
    f.c.test.port = 0;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);
    assert_string_equal(f.step.output, "TCP UNKNOWN: 127.0.0.1:0: bad port");
    fx_done(&f);
}

/* ---- http ---- */

static const char resp_ok[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                              "Content-Length: 22\r\n\r\nhello world\nstatus=up\n";
static const char resp_500[] =
    "HTTP/1.0 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom";

static void http_fixture(struct fixture *f, char *url)
{
    fx_init(f, PROBE_HTTP);
    snprintf(url, 128, "http://127.0.0.1:%d/health", srv.port);
    f->c.test.url = url;
    f->c.test.timeout_ms = 2000;
}

static void test_probe_http_status(void **state)
{
    struct fixture f;
    char url[128];

    (void)state;
    http_fixture(&f, url);
    http_set(resp_ok, 0);
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);
    assert_prefix(f.step.output, "HTTP OK: 200 in ");
    assert_true(fx_metric(&f, "http.status")->value == 200);
    assert_true(fx_metric(&f, "http.latency_ms")->value >= 0);

    f.c.test.expect_status = 204;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_prefix(f.step.output, "HTTP CRITICAL: status 200, expected 204");

    http_set(resp_500, 0);
    f.c.test.expect_status = 200;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_prefix(f.step.output, "HTTP CRITICAL: status 500, expected 200");
    assert_true(fx_metric(&f, "http.status")->value == 500);
    fx_done(&f);
}

static void test_probe_http_body_match(void **state)
{
    struct fixture f;
    char url[128];

    (void)state;
    http_fixture(&f, url);
    http_set(resp_ok, 0);
    f.c.test.body_match = "^status=(up|ok)$";
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);

    f.c.test.body_match = "status=down";
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_prefix(f.step.output, "HTTP CRITICAL: 200 but the body does not match 'status=down'");

    f.c.test.body_match = "(unclosed";
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);
    assert_prefix(f.step.output, "HTTP UNKNOWN: bad body_match: ");
    fx_done(&f);
}

static void test_probe_http_latency_warning(void **state)
{
    struct fixture f;
    char url[128];

    (void)state;
    http_fixture(&f, url);
    http_set(resp_ok, 150);
    f.c.test.max_latency_ms = 50;
    fx_run(&f);
    http_set(resp_ok, 0);
    assert_int_equal(f.step.status, TEST_STATUS_WARNING);
    assert_prefix(f.step.output, "HTTP WARNING: 200 in ");
    assert_non_null(strstr(f.step.output, "(max 50 ms)"));
    assert_true(fx_metric(&f, "http.latency_ms")->value >= 150);
    fx_done(&f);
}

static void test_probe_http_unreachable(void **state)
{
    struct fixture f;
    char url[128];
    int port, fd = listen_any(&port);

    (void)state;
    close(fd);
    fx_init(&f, PROBE_HTTP);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    f.c.test.url = url;
    f.c.test.timeout_ms = 1000;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_prefix(f.step.output, "HTTP CRITICAL: http://127.0.0.1:");

    f.c.test.url = "http://bad..host/";
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);
    fx_done(&f);
}

/* ---- process ---- */

static void test_probe_process_finds_self(void **state)
{
    struct fixture f;

    (void)state;
    fx_init(&f, PROBE_PROCESS);
    f.c.test.process_name = program_invocation_short_name;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);
    assert_prefix(f.step.output, "PROCESS OK: ");
    assert_true(fx_metric(&f, "process.count")->value >= 1);

    f.c.test.max_count = 0;
    f.c.test.min_count = 0;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_non_null(strstr(f.step.output, "(max 0)"));

    f.c.test.process_name = "no-such-process-xyz";
    f.c.test.min_count = 1;
    f.c.test.max_count = -1;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_string_equal(f.step.output,
                        "PROCESS CRITICAL: 0 processes named 'no-such-process-xyz' (min 1)");
    assert_true(fx_metric(&f, "process.count")->value == 0);
    fx_done(&f);
}

/* ---- file ---- */

static void test_probe_file_checks(void **state)
{
    struct fixture f;
    char *path = pkg_path("state.txt");
    struct timeval tv[2];

    (void)state;
    write_file("state.txt", "alpha\nstatus=ready\n", 0640);
    fx_init(&f, PROBE_FILE);
    f.c.test.path = path;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);
    assert_prefix(f.step.output, "FILE OK: ");
    assert_true(fx_metric(&f, "file.age_s")->value < 60);

    f.c.test.mode = 0640;
    f.c.test.contains = "^status=ready$";
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);

    f.c.test.mode = 0644;
    f.c.test.contains = "^ready";
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_non_null(strstr(f.step.output, "mode 0640, expected 0644"));
    assert_non_null(strstr(f.step.output, "does not contain '^ready'"));

    /* An hour old. */
    assert_int_equal(gettimeofday(&tv[0], NULL), 0);
    tv[0].tv_sec -= 3600;
    tv[1] = tv[0];
    assert_int_equal(utimes(path, tv), 0);
    f.c.test.mode = -1;
    f.c.test.contains = NULL;
    f.c.test.max_age_s = 60;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_non_null(strstr(f.step.output, "s old (max 60 s)"));
    assert_true(fx_metric(&f, "file.age_s")->value >= 3599);

    f.c.test.contains = "(";
    f.c.test.max_age_s = 0;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);

    /* Must not exist. */
    f.c.test.contains = NULL;
    f.c.test.must_exist = 0;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    fx_done(&f);
    free(path);
}

static void test_probe_file_missing(void **state)
{
    struct fixture f;
    char *path = pkg_path("nope.txt");
    char *want = xasprintf("FILE CRITICAL: %s does not exist", path);

    (void)state;
    fx_init(&f, PROBE_FILE);
    f.c.test.path = path;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_string_equal(f.step.output, want);
    assert_int_equal(f.n, 0);

    f.c.test.must_exist = 0;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);
    fx_done(&f);
    free(want);
    free(path);
}

/* ---- disk ---- */

static void test_probe_disk_thresholds(void **state)
{
    struct fixture f;

    (void)state;
    fx_init(&f, PROBE_DISK);
    f.c.test.path = "/";
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);
    assert_prefix(f.step.output, "DISK OK: / ");
    assert_true(fx_metric(&f, "disk.free_pct")->value >= 0);
    assert_true(fx_metric(&f, "disk.free_pct")->value <= 100);
    assert_true(fx_metric(&f, "disk.free_mb")->value >= 0);

    f.c.test.min_free_pct = 100;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_prefix(f.step.output, "DISK CRITICAL: / ");

    f.c.test.min_free_pct = 0;
    f.c.test.warn_free_pct = 100;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_WARNING);

    f.c.test.warn_free_pct = 0;
    f.c.test.min_free_mb = 1LL << 40;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);

    f.c.test.path = "/nonexistent/dir";
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);
    assert_string_equal(f.step.output, "DISK UNKNOWN: /nonexistent/dir: no such file or directory");
    fx_done(&f);
}

/* ---- command ---- */

static void test_probe_command(void **state)
{
    struct fixture f;

    (void)state;
    fx_init(&f, PROBE_COMMAND);
    exec_set(&f.c.test.exec, 1, "echo active; exit 3", NULL);
    f.c.test.timeout_ms = 2000;
    f.c.test.expect_exit = 3;
    f.c.test.output_match = "^active$";
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);
    assert_int_equal(f.step.has_exit_code, 1);
    assert_int_equal(f.step.exit_code, 3);
    assert_string_equal(f.step.output, "COMMAND OK: exit 3\nactive");

    f.c.test.expect_exit = 0;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_string_equal(f.step.output, "COMMAND CRITICAL: exit 3, expected 0\nactive");

    f.c.test.expect_exit = 3;
    f.c.test.output_match = "inactive";
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_prefix(f.step.output, "COMMAND CRITICAL: exit 3 but the output does not match");
    exec_free(&f.c.test.exec);

    /* Absolute argv, matched on stderr. */
    exec_set(&f.c.test.exec, 0, "/bin/sh", "-c", "echo inactive >&2", NULL);
    f.c.test.expect_exit = 0;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);
    exec_free(&f.c.test.exec);

    exec_set(&f.c.test.exec, 1, "sleep 5", NULL);
    f.c.test.timeout_ms = 200;
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);
    assert_int_equal(f.step.has_exit_code, 0);
    assert_string_equal(f.step.output, "COMMAND UNKNOWN: timed out after 200 ms (killed)");
    exec_free(&f.c.test.exec);
    fx_done(&f);
}

/* ---- exec tests ---- */

static void test_probe_exec_nagios_and_perfdata(void **state)
{
    struct fixture f;
    const struct metric *m;

    (void)state;
    write_file("checks/load.test",
               "#!/bin/sh\n"
               "echo \"LOAD ${LOAD_STATE:-OK} - fine | load1=0.5;1;2;0 'disk free'=40%;;\"\n"
               "echo 'detail line'\n"
               "echo 'more | conn=12c'\n"
               "exit \"$1\"\n",
               0755);
    fx_init(&f, PROBE_EXEC);
    exec_set(&f.c.test.exec, 0, "checks/load.test", "0", NULL);
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);
    assert_int_equal(f.step.has_exit_code, 1);
    assert_int_equal(f.step.exit_code, 0);
    assert_string_equal(f.step.output, "LOAD OK - fine\ndetail line\nmore");
    assert_int_equal(f.n, 3);
    assert_true(fx_metric(&f, "load1")->value == 0.5);
    m = fx_metric(&f, "disk free");
    assert_true(m->value == 40);
    assert_int_equal(m->ntags, 1);
    assert_string_equal(m->tags[0].value, "%");
    assert_true(fx_metric(&f, "conn")->value == 12);
    exec_free(&f.c.test.exec);

    exec_set(&f.c.test.exec, 0, "checks/load.test", "1", NULL);
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_WARNING);
    exec_free(&f.c.test.exec);
    exec_set(&f.c.test.exec, 0, "checks/load.test", "2", NULL);
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_CRITICAL);
    assert_int_equal(f.step.exit_code, 2);
    exec_free(&f.c.test.exec);
    exec_set(&f.c.test.exec, 0, "checks/load.test", "42", NULL);
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);
    assert_int_equal(f.step.has_exit_code, 1);
    assert_int_equal(f.step.exit_code, 42);
    exec_free(&f.c.test.exec);
    fx_done(&f);
}

static void test_probe_exec_cannot_run(void **state)
{
    struct fixture f;

    (void)state;
    fx_init(&f, PROBE_EXEC);
    exec_set(&f.c.test.exec, 0, "checks/missing.test", NULL);
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);
    assert_int_equal(f.step.has_exit_code, 0);
    assert_string_equal(f.step.output, "cannot run checks/missing.test: No such file or directory");
    exec_free(&f.c.test.exec);

    write_file("checks/noexec.test", "#!/bin/sh\necho hi\n", 0644);
    exec_set(&f.c.test.exec, 0, "checks/noexec.test", NULL);
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);
    assert_string_equal(f.step.output, "cannot run checks/noexec.test: Permission denied");
    exec_free(&f.c.test.exec);

    /* A missing package folder: the chdir fails. */
    f.pkg.dir = "/nonexistent/pkg";
    exec_set(&f.c.test.exec, 1, "true", NULL);
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);
    assert_string_equal(f.step.output,
                        "cannot run /bin/sh: chdir /nonexistent/pkg: No such file or directory");
    exec_free(&f.c.test.exec);
    fx_done(&f);
}

static void test_probe_exec_timeout_and_signal(void **state)
{
    struct fixture f;

    (void)state;
    fx_init(&f, PROBE_EXEC);
    f.c.timeout_s = 1;
    exec_set(&f.c.test.exec, 1, "echo 'partial | a=1'; sleep 10", NULL);
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);
    assert_int_equal(f.step.has_exit_code, 0);
    assert_string_equal(f.step.output, "timed out after 1 s (killed)\npartial");
    assert_int_equal(f.n, 0);
    assert_true(f.step.duration_ms >= 1000);
    assert_true(f.step.duration_ms < 3000);
    exec_free(&f.c.test.exec);

    exec_set(&f.c.test.exec, 1, "kill -9 $$", NULL);
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_UNKNOWN);
    assert_int_equal(f.step.has_exit_code, 0);
    assert_string_equal(f.step.output, "killed by signal 9");
    exec_free(&f.c.test.exec);
    fx_done(&f);
}

static void test_probe_exec_env_and_cwd(void **state)
{
    struct fixture f;
    char *want;

    (void)state;
    fx_init(&f, PROBE_EXEC);
    /* Output on stderr only: it becomes the step output. */
    exec_set(&f.c.test.exec, 1, "{ pwd -P; env | sort; } >&2", NULL);
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);
    want = xasprintf("%s\nHEALOPS_CHECK=web.up\nHEALOPS_NODE=node1\nHEALOPS_PACKAGE=web\n"
                     "HEALOPS_PACKAGE_DIR=%s\nHOME=%s\nLANG=C.UTF-8\n"
                     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
                     "PWD=%s",
                     pkgdir, pkgdir, getpwuid(geteuid())->pw_dir, pkgdir);
    assert_string_equal(f.step.output, want);
    free(want);
    exec_free(&f.c.test.exec);
    fx_done(&f);
}

static void test_probe_exec_drops_to_test_user(void **state)
{
    struct fixture f;
    struct passwd *pw = getpwnam("nobody");
    char *want;

    (void)state;
    if (geteuid() != 0 || pw == NULL)
        skip();
    fx_init(&f, PROBE_EXEC);
    f.ctx.drop_privs = 1;
    f.ctx.test_uid = pw->pw_uid;
    f.ctx.test_gid = pw->pw_gid;
    exec_set(&f.c.test.exec, 1, "echo $(id -u):$(id -g):$(id -G) $HOME", NULL);
    fx_run(&f);
    assert_int_equal(f.step.status, TEST_STATUS_OK);
    /* nobody's home /nonexistent does not exist: HOME falls back to "/". */
    want = xasprintf("%lu:%lu:%lu /", (unsigned long)pw->pw_uid, (unsigned long)pw->pw_gid,
                     (unsigned long)pw->pw_gid);
    assert_string_equal(f.step.output, want);
    free(want);
    exec_free(&f.c.test.exec);
    fx_done(&f);
}

/* ---- repairs ---- */

static void repair_fixture(struct fixture *f, struct run_step *test)
{
    fx_init(f, PROBE_EXEC);
    f->c.has_repair = 1;
    memset(test, 0, sizeof(*test));
    test->present = 1;
    test->status = TEST_STATUS_CRITICAL;
    test->has_exit_code = 1;
    test->exit_code = 2;
    test->output = "CRIT \"x\" \\ done\nline2\ttab";
}

static void test_probe_repair_gets_stdin_and_env(void **state)
{
    struct fixture f;
    struct run_step test;
    char *in, *env, *out;

    (void)state;
    repair_fixture(&f, &test);
    write_file("checks/fix.repair",
               "#!/bin/sh\ncat > repair.in\nenv | grep ^HEALOPS_ | sort > repair.env\n"
               "printf '%s' \"$HEALOPS_TEST_OUTPUT\" > repair.out\necho fixed\n",
               0755);
    exec_set(&f.c.repair, 0, "checks/fix.repair", NULL);
    probe_run_repair(&f.ctx, &f.pkg, &f.c, &test, &f.step);
    assert_int_equal(f.step.present, 1);
    assert_int_equal(f.step.status, REPAIR_STATUS_SUCCEEDED);
    assert_int_equal(f.step.has_exit_code, 1);
    assert_int_equal(f.step.exit_code, 0);
    assert_string_equal(f.step.output, "fixed");
    in = read_file("repair.in");
    assert_string_equal(in, "{\"package\":\"web\",\"check\":\"web.up\",\"node\":\"node1\","
                            "\"status\":\"critical\",\"exit_code\":2,"
                            "\"output\":\"CRIT \\\"x\\\" \\\\ done\\nline2\\ttab\"}\n");
    env = read_file("repair.env");
    assert_non_null(strstr(env, "HEALOPS_CHECK=web.up\n"));
    assert_non_null(strstr(env, "HEALOPS_NODE=node1\n"));
    assert_non_null(strstr(env, "HEALOPS_PACKAGE=web\n"));
    assert_non_null(strstr(env, "HEALOPS_TEST_EXIT_CODE=2\n"));
    assert_non_null(strstr(env, "HEALOPS_TEST_STATUS=critical\n"));
    out = read_file("repair.out");
    assert_string_equal(out, test.output);
    free(in);
    free(env);
    free(out);
    exec_free(&f.c.repair);
    fx_done(&f);
}

static void test_probe_repair_outcomes(void **state)
{
    struct fixture f;
    struct run_step test;

    (void)state;
    repair_fixture(&f, &test);
    exec_set(&f.c.repair, 1, "echo trying; echo no luck >&2; exit 1", NULL);
    probe_run_repair(&f.ctx, &f.pkg, &f.c, &test, &f.step);
    assert_int_equal(f.step.status, REPAIR_STATUS_FAILED);
    assert_int_equal(f.step.exit_code, 1);
    assert_string_equal(f.step.output, "trying\n[stderr]\nno luck");
    exec_free(&f.c.repair);
    free(f.step.output);

    f.c.repair.timeout_s = 1;
    exec_set(&f.c.repair, 1, "sleep 10", NULL);
    probe_run_repair(&f.ctx, &f.pkg, &f.c, &test, &f.step);
    assert_int_equal(f.step.status, REPAIR_STATUS_TIMEOUT);
    assert_int_equal(f.step.has_exit_code, 0);
    assert_string_equal(f.step.output, "timed out after 1 s (killed)");
    assert_true(f.step.duration_ms >= 1000);
    assert_true(f.step.duration_ms < 3000);
    exec_free(&f.c.repair);
    free(f.step.output);

    exec_set(&f.c.repair, 0, "checks/missing.repair", NULL);
    probe_run_repair(&f.ctx, &f.pkg, &f.c, &test, &f.step);
    assert_int_equal(f.step.status, REPAIR_STATUS_FAILED);
    assert_int_equal(f.step.has_exit_code, 0);
    assert_string_equal(f.step.output,
                        "cannot run checks/missing.repair: No such file or directory");
    exec_free(&f.c.repair);
    fx_done(&f);
}

static void test_probe_repair_runs_as_user(void **state)
{
    struct fixture f;
    struct run_step test;
    struct passwd *pw = getpwnam("nobody");
    char *want;

    (void)state;
    if (geteuid() != 0 || pw == NULL)
        skip();
    repair_fixture(&f, &test);
    exec_set(&f.c.repair, 1, "id -u", NULL);
    probe_run_repair(&f.ctx, &f.pkg, &f.c, &test, &f.step);
    assert_int_equal(f.step.status, REPAIR_STATUS_SUCCEEDED);
    assert_string_equal(f.step.output, "0");
    free(f.step.output);

    f.c.repair.user = "nobody";
    probe_run_repair(&f.ctx, &f.pkg, &f.c, &test, &f.step);
    assert_int_equal(f.step.status, REPAIR_STATUS_SUCCEEDED);
    want = xasprintf("%lu", (unsigned long)pw->pw_uid);
    assert_string_equal(f.step.output, want);
    free(want);
    free(f.step.output);

    f.c.repair.user = "no-such-user-xyz";
    probe_run_repair(&f.ctx, &f.pkg, &f.c, &test, &f.step);
    assert_int_equal(f.step.status, REPAIR_STATUS_FAILED);
    assert_string_equal(f.step.output, "cannot run /bin/sh: unknown user 'no-such-user-xyz'");
    f.c.repair.user = NULL;
    exec_free(&f.c.repair);
    fx_done(&f);
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
    char *checks;

    (void)state;
    if (mkdtemp(pkgdir) == NULL || chmod(pkgdir, 0755) != 0)
        return -1;
    checks = pkg_path("checks");
    if (mkdir(checks, 0755) != 0)
        return -1;
    free(checks);
    srv.fd = listen_any(&srv.port);
    http_set(resp_ok, 0);
    return pthread_create(&srv.th, NULL, http_main, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pthread_mutex_lock(&srv.lock);
    srv.stop = 1;
    pthread_mutex_unlock(&srv.lock);
    pthread_join(srv.th, NULL);
    close(srv.fd);
    return nftw(pkgdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_tcp_connects),
        cmocka_unit_test(test_probe_tcp_refused),
        cmocka_unit_test(test_probe_tcp_cannot_run),
        cmocka_unit_test(test_probe_http_status),
        cmocka_unit_test(test_probe_http_body_match),
        cmocka_unit_test(test_probe_http_latency_warning),
        cmocka_unit_test(test_probe_http_unreachable),
        cmocka_unit_test(test_probe_process_finds_self),
        cmocka_unit_test(test_probe_file_checks),
        cmocka_unit_test(test_probe_file_missing),
        cmocka_unit_test(test_probe_disk_thresholds),
        cmocka_unit_test(test_probe_command),
        cmocka_unit_test(test_probe_exec_nagios_and_perfdata),
        cmocka_unit_test(test_probe_exec_cannot_run),
        cmocka_unit_test(test_probe_exec_timeout_and_signal),
        cmocka_unit_test(test_probe_exec_env_and_cwd),
        cmocka_unit_test(test_probe_exec_drops_to_test_user),
        cmocka_unit_test(test_probe_repair_gets_stdin_and_env),
        cmocka_unit_test(test_probe_repair_outcomes),
        cmocka_unit_test(test_probe_repair_runs_as_user),
    };
    int rc;

    /* As the agent's main does: ignore SIGPIPE, initialise libcurl once. */
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LEVEL_ERROR);
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}

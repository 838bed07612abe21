/*
 * Unit tests for agent/runner.c: tiny shell scripts really exec'd from a
 * mkdtemp folder. The test process is a child subreaper, so grandchildren the
 * runner kills come back to us and can be checked (and reaped).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "mem.h"
#include "runner.h"

static char tmpdir[] = "/tmp/runner_test.XXXXXX";

static char *const clean_env[] = {"PATH=/usr/bin:/bin", "LANG=C", NULL};

static char *tmp_path(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

/* Writes DIR/name with a shell script body and the given mode; returns its path. */
static char *write_script(const char *name, const char *body, mode_t mode)
{
    char *path = tmp_path(name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void spec_init(struct runner_spec *s, char *const *argv)
{
    memset(s, 0, sizeof(*s));
    s->argv = argv;
    s->envp = clean_env;
    s->timeout_ms = 5000;
    s->output_cap = 65536;
}

static void run_ok(const struct runner_spec *s, struct runner_result *r)
{
    struct ho_error err;

    assert_int_equal(runner_run(s, r, &err), HO_OK);
}

/* Runs "/bin/sh -c script" with the defaults. */
static void run_sh(const char *script, struct runner_result *r)
{
    char *argv[] = {"/bin/sh", "-c", (char *)(uintptr_t)script, NULL};
    struct runner_spec s;

    spec_init(&s, argv);
    run_ok(&s, r);
}

/* True once pid is gone (reaped by us as subreaper, or no longer exists); waits up to 2 s. */
static int pid_gone(pid_t pid)
{
    int64_t end = clock_mono_ms() + 2000;
    int st;

    while (clock_mono_ms() < end) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return 1;
        if (kill(pid, 0) == -1 && errno == ESRCH)
            return 1;
        usleep(10000);
    }
    return 0;
}

static pid_t read_pid_file(const char *name)
{
    char *path = tmp_path(name);
    FILE *f = fopen(path, "r");
    long pid = 0;

    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    free(path);
    assert_true(pid > 1);
    return (pid_t)pid;
}

static void test_runner_exit_code(void **state)
{
    struct runner_result r;

    (void)state;
    run_sh("exit 3", &r);
    assert_true(r.exited);
    assert_int_equal(r.exit_code, 3);
    assert_false(r.signaled);
    assert_false(r.timed_out);
    assert_false(r.exec_failed);
    runner_result_cleanup(&r);

    run_sh("true", &r);
    assert_true(r.exited);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, "");
    assert_int_equal(r.out_len, 0);
    runner_result_cleanup(&r);
}

static void test_runner_captures_stdout_and_stderr(void **state)
{
    struct runner_result r;

    (void)state;
    run_sh("echo hello; echo oops >&2; printf 'two\\nlines'", &r);
    assert_true(r.exited);
    assert_string_equal(r.out, "hello\ntwo\nlines");
    assert_int_equal(r.out_len, strlen("hello\ntwo\nlines"));
    assert_string_equal(r.err, "oops\n");
    assert_false(r.out_truncated);
    assert_false(r.err_truncated);
    runner_result_cleanup(&r);
}

static void test_runner_reports_signal(void **state)
{
    struct runner_result r;

    (void)state;
    run_sh("kill -9 $$", &r);
    assert_false(r.exited);
    assert_true(r.signaled);
    assert_int_equal(r.signo, SIGKILL);
    assert_false(r.timed_out);
    runner_result_cleanup(&r);
}

static void test_runner_output_cap_keeps_draining(void **state)
{
    struct runner_result r;

    (void)state;
    /* 10 MB on stdout and 1 MB on stderr: must neither hang nor keep more than the cap. */
    run_sh("head -c 10000000 /dev/zero; head -c 1000000 /dev/zero >&2; echo done >&2", &r);
    assert_true(r.exited);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.out_len, 65536);
    assert_true(r.out_truncated);
    assert_int_equal(r.err_len, 65536);
    assert_true(r.err_truncated);
    assert_true(r.duration_ms < 5000);
    runner_result_cleanup(&r);
}

static void test_runner_timeout_kills_group(void **state)
{
    char *script = xasprintf("sleep 60 & echo $! > %s/gpid; echo started; sleep 60", tmpdir);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct runner_spec s;
    struct runner_result r;
    pid_t gpid;

    (void)state;
    spec_init(&s, argv);
    s.timeout_ms = 300;
    run_ok(&s, &r);
    assert_true(r.timed_out);
    assert_true(r.signaled);
    assert_int_equal(r.signo, SIGTERM);
    assert_string_equal(r.out, "started\n");
    assert_true(r.duration_ms >= 300);
    assert_true(r.duration_ms < 3000);
    gpid = read_pid_file("gpid");
    assert_true(pid_gone(gpid));
    runner_result_cleanup(&r);
    free(script);
}

static void test_runner_timeout_sigkill_after_grace(void **state)
{
    struct runner_spec s;
    struct runner_result r;
    char *argv[] = {"/bin/sh", "-c", "trap '' TERM; sleep 60; sleep 60", NULL};

    (void)state;
    spec_init(&s, argv);
    s.timeout_ms = 200;
    run_ok(&s, &r);
    assert_true(r.timed_out);
    assert_true(r.signaled);
    assert_int_equal(r.signo, SIGKILL);
    assert_true(r.duration_ms >= 200 + RUNNER_GRACE_MS - 50);
    assert_true(r.duration_ms < 3000);
    runner_result_cleanup(&r);
}

static void test_runner_timeout_kills_grandchild_ignoring_term(void **state)
{
    char *script = xasprintf("(trap '' TERM; exec sleep 60) >/dev/null 2>&1 & echo $! > %s/gpid2; "
                             "sleep 60",
                             tmpdir);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct runner_spec s;
    struct runner_result r;
    pid_t gpid;

    (void)state;
    /* The script dies of SIGTERM; its child ignores it and holds no pipe: SIGKILL anyway. */
    spec_init(&s, argv);
    s.timeout_ms = 200;
    run_ok(&s, &r);
    assert_true(r.timed_out);
    assert_true(r.signaled);
    assert_int_equal(r.signo, SIGTERM);
    assert_true(r.duration_ms < 3000);
    gpid = read_pid_file("gpid2");
    assert_true(pid_gone(gpid));
    runner_result_cleanup(&r);
    free(script);
}

static void test_runner_background_grandchild_returns_promptly(void **state)
{
    struct runner_result r;
    pid_t gpid;

    (void)state;
    /* The backgrounded sleep keeps stdout open after the script exits. */
    run_sh("sleep 60 & echo $!; exit 0", &r);
    assert_true(r.exited);
    assert_int_equal(r.exit_code, 0);
    assert_false(r.timed_out);
    assert_true(r.group_killed);
    assert_true(r.duration_ms < 2000);
    gpid = (pid_t)strtol(r.out, NULL, 10);
    assert_true(gpid > 1);
    assert_true(pid_gone(gpid));
    runner_result_cleanup(&r);
}

static void test_runner_exec_missing_file(void **state)
{
    char *path = tmp_path("missing.test");
    char *argv[] = {path, NULL};
    struct runner_spec s;
    struct runner_result r;

    (void)state;
    spec_init(&s, argv);
    run_ok(&s, &r);
    assert_true(r.exec_failed);
    assert_int_equal(r.exec_stage, RUNNER_STAGE_EXEC);
    assert_int_equal(r.exec_errno, ENOENT);
    assert_false(r.exited);
    assert_non_null(strstr(r.what, "exec "));
    assert_non_null(strstr(r.what, "missing.test: No such file or directory"));
    runner_result_cleanup(&r);
    free(path);
}

static void test_runner_exec_not_executable(void **state)
{
    char *path = write_script("noexec.test", "echo hi", 0644);
    char *argv[] = {path, NULL};
    struct runner_spec s;
    struct runner_result r;

    (void)state;
    spec_init(&s, argv);
    run_ok(&s, &r);
    assert_true(r.exec_failed);
    assert_int_equal(r.exec_errno, EACCES);
    assert_non_null(strstr(r.what, "Permission denied"));
    runner_result_cleanup(&r);
    free(path);
}

static void test_runner_exec_script_with_args(void **state)
{
    char *path = write_script("args.test", "echo \"$#:$1:$2\"; exit 2", 0755);
    char *argv[] = {path, "a b", "c", NULL};
    struct runner_spec s;
    struct runner_result r;

    (void)state;
    spec_init(&s, argv);
    run_ok(&s, &r);
    assert_false(r.exec_failed);
    assert_true(r.exited);
    assert_int_equal(r.exit_code, 2);
    assert_string_equal(r.out, "2:a b:c\n");
    runner_result_cleanup(&r);
    free(path);
}

static void test_runner_path_lookup_and_clean_env(void **state)
{
    char *env[] = {"FOO=bar", "X=1", NULL};
    char *argv[] = {"env", NULL};
    struct runner_spec s;
    struct runner_result r;

    (void)state;
    /* No PATH in env: the default PATH finds env(1), which prints exactly what we passed. */
    spec_init(&s, argv);
    s.envp = env;
    run_ok(&s, &r);
    assert_false(r.exec_failed);
    assert_string_equal(r.out, "FOO=bar\nX=1\n");
    runner_result_cleanup(&r);

    /* A PATH without it: ENOENT. */
    env[1] = "PATH=/nonexistent";
    run_ok(&s, &r);
    assert_true(r.exec_failed);
    assert_int_equal(r.exec_errno, ENOENT);
    runner_result_cleanup(&r);
}

static void test_runner_stdin_delivered(void **state)
{
    char *argv[] = {"cat", NULL};
    struct runner_spec s;
    struct runner_result r;

    (void)state;
    spec_init(&s, argv);
    s.stdin_data = "hello\nworld";
    s.stdin_len = strlen(s.stdin_data);
    run_ok(&s, &r);
    assert_string_equal(r.out, "hello\nworld");
    runner_result_cleanup(&r);

    /* Empty stdin data: EOF at once. */
    s.stdin_len = 0;
    run_ok(&s, &r);
    assert_string_equal(r.out, "");
    runner_result_cleanup(&r);

    /* No stdin: /dev/null. */
    s.stdin_data = NULL;
    run_ok(&s, &r);
    assert_true(r.exited);
    assert_string_equal(r.out, "");
    runner_result_cleanup(&r);
}

static void test_runner_stdin_never_read_does_not_block(void **state)
{
    char *argv[] = {"/bin/sh", "-c", "sleep 0.2; exit 4", NULL};
    size_t len = 4 * 1024 * 1024;
    char *big = xmalloc(len);
    struct runner_spec s;
    struct runner_result r;

    (void)state;
    memset(big, 'x', len);
    spec_init(&s, argv);
    s.stdin_data = big;
    s.stdin_len = len;
    run_ok(&s, &r);
    assert_true(r.exited);
    assert_int_equal(r.exit_code, 4);
    assert_true(r.duration_ms < 3000);
    runner_result_cleanup(&r);

    /* A large stdin copied through cat in full. */
    argv[0] = "cat";
    argv[1] = NULL;
    s.output_cap = len;
    run_ok(&s, &r);
    assert_int_equal(r.out_len, len);
    assert_false(r.out_truncated);
    assert_memory_equal(r.out, big, len);
    runner_result_cleanup(&r);
    free(big);
}

static void test_runner_cwd(void **state)
{
    char *argv[] = {"/bin/pwd", "-P", NULL};
    char *want = xasprintf("%s\n", tmpdir);
    struct runner_spec s;
    struct runner_result r;

    (void)state;
    spec_init(&s, argv);
    s.cwd = tmpdir;
    run_ok(&s, &r);
    assert_string_equal(r.out, want);
    runner_result_cleanup(&r);

    s.cwd = "/nonexistent/dir";
    run_ok(&s, &r);
    assert_true(r.exec_failed);
    assert_int_equal(r.exec_stage, RUNNER_STAGE_CHDIR);
    assert_int_equal(r.exec_errno, ENOENT);
    assert_string_equal(r.what, "chdir /nonexistent/dir: No such file or directory");
    runner_result_cleanup(&r);
    free(want);
}

static void test_runner_closes_inherited_fds(void **state)
{
    int fd = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
    char *script;
    struct runner_result r;

    (void)state;
    assert_true(fd > 2);
    script = xasprintf("ls /proc/$$/fd/ | sort -n | tr '\\n' ' '; test -e /proc/$$/fd/%d && "
                       "echo leak",
                       fd);
    run_sh(script, &r);
    assert_null(strstr(r.out, "leak"));
    runner_result_cleanup(&r);
    free(script);
    close(fd);
}

static void test_runner_resets_signals(void **state)
{
    sigset_t set, old;
    struct runner_result r;

    (void)state;
    /* The test main ignores SIGPIPE; block SIGUSR1 too: the child must see neither. */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    assert_int_equal(sigprocmask(SIG_BLOCK, &set, &old), 0);
    {
        char *argv[] = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
        struct runner_spec s;

        spec_init(&s, argv);
        run_ok(&s, &r);
    }
    assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
    {
        unsigned long long blk = 1, ign = 1, reserved = 0;
        int sig;

        assert_int_equal(sscanf(r.out, "SigBlk:\t%llx\nSigIgn:\t%llx", &blk, &ign), 2);
        /* glibc keeps signals 32..SIGRTMIN-1 for itself; sigaction cannot reset them, and a
         * parent may have left them ignored */
        for (sig = 32; sig < SIGRTMIN; sig++)
            reserved |= 1ULL << (sig - 1);
        assert_int_equal(blk, 0);
        assert_int_equal(ign & ~reserved, 0);
    }
    runner_result_cleanup(&r);
}

static void test_runner_own_process_group(void **state)
{
    struct runner_result r;
    long pid = 0, pgid = 0;

    (void)state;
    run_sh("echo $$ $(cut -d' ' -f5 /proc/$$/stat)", &r);
    assert_int_equal(sscanf(r.out, "%ld %ld", &pid, &pgid), 2);
    assert_int_equal(pid, pgid);
    assert_int_not_equal(pgid, getpgrp());
    runner_result_cleanup(&r);
}

static void test_runner_drop_privileges(void **state)
{
    struct passwd *pw;
    char *argv[] = {"/bin/sh", "-c", "id -u; id -g; id -G; grep ^Cap[EP] /proc/self/status", NULL};
    char *want;
    struct runner_spec s;
    struct runner_result r;

    (void)state;
    if (geteuid() != 0)
        skip();
    pw = getpwnam("nobody");
    if (pw == NULL)
        skip();
    spec_init(&s, argv);
    s.drop_privs = 1;
    s.uid = pw->pw_uid;
    s.gid = pw->pw_gid;
    s.cwd = "/";
    run_ok(&s, &r);
    assert_false(r.exec_failed);
    want =
        xasprintf("%lu\n%lu\n%lu\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n",
                  (unsigned long)pw->pw_uid, (unsigned long)pw->pw_gid, (unsigned long)pw->pw_gid);
    assert_string_equal(r.out, want);
    runner_result_cleanup(&r);
    free(want);

    /* A folder only root may enter: chdir happens after the drop and fails. */
    {
        char *priv = tmp_path("private");

        assert_int_equal(mkdir(priv, 0700), 0);
        s.cwd = priv;
        run_ok(&s, &r);
        assert_true(r.exec_failed);
        assert_int_equal(r.exec_stage, RUNNER_STAGE_CHDIR);
        assert_int_equal(r.exec_errno, EACCES);
        runner_result_cleanup(&r);
        free(priv);
    }
}

static void test_runner_rejects_empty_argv(void **state)
{
    char *argv[] = {NULL};
    struct runner_spec s;
    struct runner_result r;
    struct ho_error err;

    (void)state;
    spec_init(&s, argv);
    assert_int_equal(runner_run(&s, &r, &err), HO_EINVAL);
    assert_non_null(r.out);
    runner_result_cleanup(&r);
    runner_result_cleanup(NULL);
    assert_string_equal(runner_stage_str(RUNNER_STAGE_EXEC), "exec");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runner_exit_code),
        cmocka_unit_test(test_runner_captures_stdout_and_stderr),
        cmocka_unit_test(test_runner_reports_signal),
        cmocka_unit_test(test_runner_output_cap_keeps_draining),
        cmocka_unit_test(test_runner_timeout_kills_group),
        cmocka_unit_test(test_runner_timeout_sigkill_after_grace),
        cmocka_unit_test(test_runner_timeout_kills_grandchild_ignoring_term),
        cmocka_unit_test(test_runner_background_grandchild_returns_promptly),
        cmocka_unit_test(test_runner_exec_missing_file),
        cmocka_unit_test(test_runner_exec_not_executable),
        cmocka_unit_test(test_runner_exec_script_with_args),
        cmocka_unit_test(test_runner_path_lookup_and_clean_env),
        cmocka_unit_test(test_runner_stdin_delivered),
        cmocka_unit_test(test_runner_stdin_never_read_does_not_block),
        cmocka_unit_test(test_runner_cwd),
        cmocka_unit_test(test_runner_closes_inherited_fds),
        cmocka_unit_test(test_runner_resets_signals),
        cmocka_unit_test(test_runner_own_process_group),
        cmocka_unit_test(test_runner_drop_privileges),
        cmocka_unit_test(test_runner_rejects_empty_argv),
    };

    /* As in the agent's main: a child that closed its stdin must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    return cmocka_run_group_tests(tests, setup, teardown);
}

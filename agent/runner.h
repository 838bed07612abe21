/*
 * Running one child process robustly (STYLE.md section 9): its own process
 * group, a clean environment, optional privilege drop, a timeout that kills the
 * whole group, capped stdout/stderr that are always drained, and exec failures
 * reported through a close-on-exec pipe instead of a misleading exit code.
 *
 * Requirements on the calling program: SIGPIPE is ignored (the agent's main
 * does it; writing stdin to a child that has exited must give EPIPE, not kill
 * us), and SIGCHLD is not ignored (the child must stay waitable). Safe to call
 * from several threads at once.
 */
#ifndef HO_RUNNER_H
#define HO_RUNNER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* PATH searched when argv[0] has no '/' and envp has no PATH. */
#define RUNNER_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define RUNNER_DEFAULT_CAP  65536 /* output_cap 0 means this */
#define RUNNER_GRACE_MS     500   /* SIGTERM to SIGKILL on timeout */
#define RUNNER_LINGER_MS    200   /* wait for pipes held open by leftovers after the child exits */
#define RUNNER_WHAT_MAX     320

struct runner_spec {
    char *const *argv;      /* NULL-terminated, argv[0] non-empty; searched in PATH when it has
                               no '/' (PATH from envp, else RUNNER_DEFAULT_PATH) */
    const char *cwd;        /* working directory of the child; NULL = inherit */
    char *const *envp;      /* the child's whole environment, NULL-terminated; NULL = empty */
    const char *stdin_data; /* written to the child's stdin; NULL = stdin is /dev/null */
    size_t stdin_len;
    int timeout_ms;    /* > 0; at it the group gets SIGTERM, then SIGKILL; 0 = no limit */
    size_t output_cap; /* bytes kept per stream (the rest is read and dropped) */
    int drop_privs;    /* 1: become uid/gid with groups before exec */
    uid_t uid;
    gid_t gid;
    const gid_t *groups; /* supplementary groups when drop_privs; NULL/0 = none */
    size_t ngroups;
};

/* The step of starting the child that failed (exec_stage). */
enum runner_stage {
    RUNNER_STAGE_NONE = 0,
    RUNNER_STAGE_SETUP, /* in the parent: pipes, fork */
    RUNNER_STAGE_FDS,   /* dup2 of stdin/stdout/stderr */
    RUNNER_STAGE_SETGROUPS,
    RUNNER_STAGE_SETGID,
    RUNNER_STAGE_SETUID,
    RUNNER_STAGE_VERIFY, /* privileges could be regained after the drop */
    RUNNER_STAGE_CHDIR,
    RUNNER_STAGE_EXEC
};
const char *runner_stage_str(enum runner_stage s);

struct runner_result {
    int exited; /* 1: the child exited normally with exit_code */
    int exit_code;
    int signaled; /* 1: the child was killed by signal signo */
    int signo;
    int timed_out;   /* 1: killed because timeout_ms passed */
    int exec_failed; /* 1: the program never started; stage, errno and what say why */
    enum runner_stage exec_stage;
    int exec_errno;
    char what[RUNNER_WHAT_MAX]; /* "exec /x/checks/a.test: No such file or directory" */
    int group_killed;           /* 1: leftovers still held the pipes after the child exited and
                                   were killed */
    char *out;                  /* owned, NUL-terminated, never NULL after runner_run */
    size_t out_len;
    int out_truncated; /* 1: the child wrote more than output_cap bytes */
    char *err;         /* same for stderr */
    size_t err_len;
    int err_truncated;
    int64_t duration_ms; /* monotonic, from fork to reaping */
};

/*
 * Runs spec->argv and waits for it (bounded by timeout_ms plus the grace).
 * Fills res (zeroed first; free it with runner_result_cleanup). Returns HO_OK
 * when the child was forked, even if its exec failed (res->exec_failed);
 * HO_EINVAL for a bad spec, HO_EIO when pipes or fork failed (res->exec_failed
 * with stage SETUP and err filled too).
 */
enum ho_code runner_run(const struct runner_spec *spec, struct runner_result *res,
                        struct ho_error *err) HO_WUR;

/* Frees res->out and res->err; NULL is accepted. */
void runner_result_cleanup(struct runner_result *res);

/*
 * Agent shutdown: every child running now or started after this gets its process
 * group SIGTERMed, then SIGKILLed after the grace, as at a timeout. Async-signal
 * safe; there is no way back.
 */
void runner_abort_all(void);
/* 1 once runner_abort_all was called: a run finishing now was cut short. */
int runner_aborting(void);

#endif

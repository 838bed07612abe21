/*
 * runner: spawn and exec of one child in its own process group, with an
 * optional privilege drop, a timeout for the whole group, capped output and
 * exec failures reported through a close-on-exec pipe. The shape is OpenBSD
 * relayd's check_script.c without its two traps (exit 0 after a failed exec,
 * the timeout signal sent to one pid instead of the group).
 *
 * The child is started the way glibc's posix_spawn starts one, with
 * clone(CLONE_VM | CLONE_VFORK) on a stack of its own: no page tables are
 * copied and the parent takes no copy-on-write faults afterwards, which on a
 * virtual machine made fork() cost milliseconds of the agent's CPU per check.
 * posix_spawn itself cannot drop privileges, hence the clone. The child shares
 * the agent's memory until it execs, so it writes nothing but its own stack:
 * paths, fds and the signal action are prepared before, every signal is
 * blocked around the clone (no handler of ours may run in the child), and the
 * privilege drop uses the raw system calls (the child is one task; glibc's
 * all-threads setxid machinery must not run). The child's functions are not
 * instrumented by AddressSanitizer, which does not know the child's stack.
 *
 * The parent polls the pipes with a deadline on the monotonic clock. Exit is
 * observed with waitid(WNOWAIT) (woken by a pidfd when the kernel has one), so
 * the child stays a zombie and its pid cannot be reused as a process group id
 * while we may still signal the group; it is reaped last.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "mem.h"
#include "runner.h"

#define RUNNER_CHUNK     32768
#define RUNNER_POLL_MS   20    /* poll period when there is no pidfd to wake us */
#define RUNNER_ABORT_MS  200   /* how soon a running child notices runner_abort_all */

static volatile sig_atomic_t runner_abort; /* set once, at agent shutdown */

void runner_abort_all(void)
{
    runner_abort = 1;
}

int runner_aborting(void)
{
    return runner_abort != 0;
}
#define RUNNER_MAX_CLOSE 65536 /* fds closed one by one when close_range fails */
#define RUNNER_STACK     (64 * 1024) /* the child's stack until it execs */

/* The child runs on a stack AddressSanitizer does not know: not instrumented. */
#if defined(__SANITIZE_ADDRESS__)
#define RUNNER_CHILD_FN __attribute__((no_sanitize_address))
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RUNNER_CHILD_FN __attribute__((no_sanitize_address))
#endif
#endif
#ifndef RUNNER_CHILD_FN
#define RUNNER_CHILD_FN
#endif

/* Raw system calls for the child; 32-bit ABIs have the full-width variants. */
#ifdef SYS_setresuid32
#define RUNNER_SYS_SETRESUID SYS_setresuid32
#define RUNNER_SYS_SETRESGID SYS_setresgid32
#define RUNNER_SYS_SETGROUPS SYS_setgroups32
#define RUNNER_SYS_GETRESUID SYS_getresuid32
#define RUNNER_SYS_GETRESGID SYS_getresgid32
#else
#define RUNNER_SYS_SETRESUID SYS_setresuid
#define RUNNER_SYS_SETRESGID SYS_setresgid
#define RUNNER_SYS_SETGROUPS SYS_setgroups
#define RUNNER_SYS_GETRESUID SYS_getresuid
#define RUNNER_SYS_GETRESGID SYS_getresgid
#endif

/* What the child writes on the exec-error pipe before _exit(127). */
struct runner_failure {
    int stage; /* enum runner_stage */
    int err;   /* errno */
};

/* Everything the child needs, made before fork. */
struct runner_prep {
    char **paths;         /* candidates for execve, NULL-terminated */
    char *const *envp;    /* never NULL */
    struct sigaction dfl; /* SIG_DFL, empty mask */
    int in_fd;            /* child ends, all above stderr */
    int out_fd;
    int err_fd;
    int fail_fd;
    int maxfd; /* upper bound for the close loop fallback */
};

struct runner_stream {
    int fd;
    struct buf buf;
    int truncated;
};

/* The parent's side of one run. */
struct runner_io {
    pid_t pid;
    int pidfd;
    int in_fd;
    const char *in_data;
    size_t in_len;
    size_t in_off;
    struct runner_stream out;
    struct runner_stream err;
    int fail_fd;
    struct runner_failure fail;
    size_t fail_got;
    int exited;
};

static char *const runner_empty_env[] = {NULL};

const char *runner_stage_str(enum runner_stage s)
{
    switch (s) {
    case RUNNER_STAGE_NONE:
        return "none";
    case RUNNER_STAGE_SETUP:
        return "setup";
    case RUNNER_STAGE_FDS:
        return "dup2";
    case RUNNER_STAGE_SETGROUPS:
        return "setgroups";
    case RUNNER_STAGE_SETGID:
        return "setresgid";
    case RUNNER_STAGE_SETUID:
        return "setresuid";
    case RUNNER_STAGE_VERIFY:
        return "verify privileges";
    case RUNNER_STAGE_CHDIR:
        return "chdir";
    case RUNNER_STAGE_EXEC:
        return "exec";
    }
    return "unknown";
}

static void runner_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/*
 * Moves fd above stderr (close-on-exec) so the child's dup2 onto 0-2 never
 * clobbers another of its fds; the agent may run with 0-2 closed.
 */
static int runner_fd_high(int fd)
{
    int nfd;

    if (fd < 0 || fd > 2)
        return fd;
    nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return nfd;
}

static int runner_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) == -1) {
        fds[0] = fds[1] = -1;
        return -1;
    }
    fds[0] = runner_fd_high(fds[0]);
    fds[1] = runner_fd_high(fds[1]);
    if (fds[0] < 0 || fds[1] < 0) {
        runner_close(&fds[0]);
        runner_close(&fds[1]);
        return -1;
    }
    return 0;
}

/* Our end of a pipe2(O_CLOEXEC) pipe: no status flag to keep (F_SETFL leaves the access mode). */
static void runner_nonblock(int fd)
{
    (void)fcntl(fd, F_SETFL, O_NONBLOCK);
}

/* Returns PATH from envp or the default. */
static const char *runner_env_path(char *const *envp)
{
    size_t i;

    for (i = 0; envp[i] != NULL; i++)
        if (strncmp(envp[i], "PATH=", 5) == 0)
            return envp[i] + 5;
    return RUNNER_DEFAULT_PATH;
}

/* Candidate paths to execve, in order, like execvp; an empty PATH entry means ".". */
static char **runner_paths(const char *file, char *const *envp)
{
    const char *path, *p, *colon;
    char **paths;
    size_t n = 1, i = 0;

    if (strchr(file, '/') != NULL) {
        paths = xcalloc(2, sizeof(*paths));
        paths[0] = xstrdup(file);
        return paths;
    }
    path = runner_env_path(envp);
    for (p = path; *p != '\0'; p++)
        if (*p == ':')
            n++;
    paths = xcalloc(n + 1, sizeof(*paths));
    for (p = path;; p = colon + 1) {
        colon = strchr(p, ':');
        if (colon == NULL)
            colon = p + strlen(p);
        if (colon == p)
            paths[i++] = xasprintf("./%s", file);
        else
            paths[i++] = xasprintf("%.*s/%s", (int)(colon - p), p, file);
        if (*colon == '\0')
            break;
    }
    return paths;
}

static void runner_paths_free(char **paths)
{
    size_t i;

    if (paths == NULL)
        return;
    for (i = 0; paths[i] != NULL; i++)
        free(paths[i]);
    free(paths);
}

/* Child: reports the failed stage and errno to the parent and exits 127. */
RUNNER_CHILD_FN __attribute__((noreturn))
static void runner_child_fail(const struct runner_prep *p, enum runner_stage stage)
{
    struct runner_failure f;
    ssize_t n;

    f.stage = (int)stage;
    f.err = errno;
    n = write(p->fail_fd, &f, sizeof(f));
    (void)n;
    _exit(127);
}

/* Child: closes every fd above stderr except keep. */
RUNNER_CHILD_FN
static void runner_child_close_fds(int keep, int maxfd)
{
    int fd;

    if (keep > 3 && close_range(3, (unsigned)keep - 1, 0) == -1)
        for (fd = 3; fd < keep; fd++)
            close(fd);
    if (close_range((unsigned)keep + 1, ~0U, 0) == -1)
        for (fd = keep + 1; fd < maxfd; fd++)
            close(fd);
}

/* Child: setgroups, setresgid, setresuid, then checks they hold and cannot be undone. */
RUNNER_CHILD_FN
static void runner_child_drop(const struct runner_spec *spec, const struct runner_prep *p)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (syscall(RUNNER_SYS_SETGROUPS, spec->ngroups, spec->ngroups > 0 ? spec->groups : NULL) == -1)
        runner_child_fail(p, RUNNER_STAGE_SETGROUPS);
    if (syscall(RUNNER_SYS_SETRESGID, spec->gid, spec->gid, spec->gid) == -1)
        runner_child_fail(p, RUNNER_STAGE_SETGID);
    if (syscall(RUNNER_SYS_SETRESUID, spec->uid, spec->uid, spec->uid) == -1)
        runner_child_fail(p, RUNNER_STAGE_SETUID);
    errno = EPERM;
    if (syscall(RUNNER_SYS_GETRESUID, &ru, &eu, &su) == -1 ||
        syscall(RUNNER_SYS_GETRESGID, &rg, &eg, &sg) == -1)
        runner_child_fail(p, RUNNER_STAGE_VERIFY);
    errno = EPERM;
    if (ru != spec->uid || eu != spec->uid || su != spec->uid || rg != spec->gid ||
        eg != spec->gid || sg != spec->gid)
        runner_child_fail(p, RUNNER_STAGE_VERIFY);
    if (spec->uid != 0 && syscall(RUNNER_SYS_SETRESUID, 0, 0, 0) != -1) {
        errno = EPERM;
        runner_child_fail(p, RUNNER_STAGE_VERIFY);
    }
}

/* Child: execve each candidate; keeps EACCES over ENOENT as execvp does. */
RUNNER_CHILD_FN __attribute__((noreturn))
static void runner_child_exec(const struct runner_spec *spec, const struct runner_prep *p)
{
    int saved = ENOENT, eacces = 0;
    size_t i;

    for (i = 0; p->paths[i] != NULL; i++) {
        execve(p->paths[i], spec->argv, p->envp);
        saved = errno;
        if (errno == EACCES)
            eacces = 1;
        else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV &&
                 errno != ETIMEDOUT)
            break;
    }
    errno = eacces && (saved == ENOENT || saved == ENOTDIR) ? EACCES : saved;
    runner_child_fail(p, RUNNER_STAGE_EXEC);
}

/* Child, after the clone: async-signal-safe calls only, nothing written but its stack. */
RUNNER_CHILD_FN __attribute__((noreturn))
static void runner_child(const struct runner_spec *spec, const struct runner_prep *p)
{
    sigset_t none;
    int sig;

    /* Dispositions first: a signal pending in the mask must not run our handlers. */
    for (sig = 1; sig < NSIG; sig++)
        (void)sigaction(sig, &p->dfl, NULL);
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    (void)setpgid(0, 0);
    if (dup2(p->in_fd, 0) == -1 || dup2(p->out_fd, 1) == -1 || dup2(p->err_fd, 2) == -1)
        runner_child_fail(p, RUNNER_STAGE_FDS);
    if (spec->drop_privs)
        runner_child_drop(spec, p);
    if (spec->cwd != NULL && chdir(spec->cwd) == -1)
        runner_child_fail(p, RUNNER_STAGE_CHDIR);
    runner_child_close_fds(p->fail_fd, p->maxfd);
    runner_child_exec(spec, p);
}

struct runner_child_arg {
    const struct runner_spec *spec;
    const struct runner_prep *prep;
};

RUNNER_CHILD_FN
static int runner_child_main(void *arg)
{
    const struct runner_child_arg *a = arg;

    runner_child(a->spec, a->prep);
}

/*
 * Starts the child; its pid, or -1 with errno. Returns once the child has exec'd or
 * exited, so the child's stack can live in this frame (no mmap and munmap per child,
 * whose TLB flush reaches every CPU the agent's threads ran on).
 */
static pid_t runner_spawn(const struct runner_spec *spec, const struct runner_prep *p)
{
    struct runner_child_arg a = {.spec = spec, .prep = p};
    _Alignas(64) char stack[RUNNER_STACK];
    sigset_t all, old;
    pid_t pid;
    int saved;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = clone(runner_child_main, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
    saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return pid;
}

static void runner_what(struct runner_result *res, const struct runner_spec *spec)
{
    char ebuf[128];
    const char *subject = "";
    const char *msg = strerror_r(res->exec_errno, ebuf, sizeof(ebuf));

    if (res->exec_stage == RUNNER_STAGE_EXEC)
        subject = spec->argv[0];
    else if (res->exec_stage == RUNNER_STAGE_CHDIR && spec->cwd != NULL)
        subject = spec->cwd;
    snprintf(res->what, sizeof(res->what), "%s%s%s: %s", runner_stage_str(res->exec_stage),
             subject[0] != '\0' ? " " : "", subject, msg);
}

/* Reads once from a stream: keeps what fits under the cap, drops the rest. */
static void runner_stream_read(struct runner_stream *s)
{
    char chunk[RUNNER_CHUNK];
    ssize_t n;
    size_t keep;

    n = read(s->fd, chunk, sizeof(chunk));
    if (n > 0) {
        keep = s->buf.cap - s->buf.len;
        if (keep > (size_t)n)
            keep = (size_t)n;
        if (keep > 0 && buf_append(&s->buf, chunk, keep) != HO_OK)
            keep = 0;
        if ((size_t)n > keep)
            s->truncated = 1;
        return;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        runner_close(&s->fd);
}

/* Reads whatever is already in a stream's pipe without waiting. */
static void runner_stream_drain(struct runner_stream *s)
{
    int i;

    for (i = 0; i < 64 && s->fd >= 0; i++) {
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};

        if (poll(&pfd, 1, 0) <= 0)
            break;
        runner_stream_read(s);
    }
}

static void runner_write_stdin(struct runner_io *io)
{
    ssize_t n;

    n = write(io->in_fd, io->in_data + io->in_off, io->in_len - io->in_off);
    if (n > 0)
        io->in_off += (size_t)n;
    else if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    /* EPIPE (the child closed stdin) or anything else: stop feeding it. */
    if (n <= 0 || io->in_off == io->in_len)
        runner_close(&io->in_fd);
}

static void runner_read_fail(struct runner_io *io)
{
    ssize_t n;

    n = read(io->fail_fd, (char *)&io->fail + io->fail_got, sizeof(io->fail) - io->fail_got);
    if (n > 0) {
        io->fail_got += (size_t)n;
        return;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR))
        runner_close(&io->fail_fd);
}

/* Notes the child's exit without reaping it. */
static void runner_check_exit(struct runner_io *io)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)io->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
        if (si.si_pid != 0)
            io->exited = 1;
    } else if (errno == ECHILD) {
        io->exited = 1; /* reaped behind our back (SIGCHLD ignored?); nothing to wait for */
    }
}

static int runner_min_timeout(int cur, int64_t until, int64_t now)
{
    int64_t left = until - now;

    if (left < 0)
        left = 0;
    if (cur < 0 || left < cur)
        return (int)left;
    return cur;
}

/* One poll round over every open fd; handles what is ready. */
static void runner_poll(struct runner_io *io, int timeout)
{
    struct pollfd pfd[5];
    nfds_t n = 0;
    int i_out = -1, i_err = -1, i_in = -1, i_fail = -1;
    nfds_t i;

    if (io->out.fd >= 0) {
        i_out = (int)n;
        pfd[n++] = (struct pollfd){.fd = io->out.fd, .events = POLLIN};
    }
    if (io->err.fd >= 0) {
        i_err = (int)n;
        pfd[n++] = (struct pollfd){.fd = io->err.fd, .events = POLLIN};
    }
    if (io->in_fd >= 0) {
        i_in = (int)n;
        pfd[n++] = (struct pollfd){.fd = io->in_fd, .events = POLLOUT};
    }
    if (io->fail_fd >= 0) {
        i_fail = (int)n;
        pfd[n++] = (struct pollfd){.fd = io->fail_fd, .events = POLLIN};
    }
    if (io->pidfd >= 0 && !io->exited)
        pfd[n++] = (struct pollfd){.fd = io->pidfd, .events = POLLIN};
    if (poll(pfd, n, timeout) <= 0)
        return;
    for (i = 0; i < n; i++) {
        if (pfd[i].revents == 0)
            continue;
        if ((int)i == i_out)
            runner_stream_read(&io->out);
        else if ((int)i == i_err)
            runner_stream_read(&io->err);
        else if ((int)i == i_in)
            runner_write_stdin(io);
        else if ((int)i == i_fail)
            runner_read_fail(io);
    }
}

static void runner_kill_group(pid_t pid, int sig)
{
    if (kill(-pid, sig) == -1 && errno != ESRCH)
        log_warn("runner: kill group %ld", (long)pid);
}

/*
 * Feeds stdin and drains the pipes until the child has exited and they are
 * closed. At the timeout the group gets SIGTERM, then SIGKILL after the grace;
 * pipes still held RUNNER_LINGER_MS after the exit get the group SIGKILLed.
 */
static void runner_wait(struct runner_io *io, const struct runner_spec *spec,
                        struct runner_result *res, int64_t start)
{
    int64_t now, grace_end = 0, linger_end = 0;
    int phase = 0; /* 0 running, 1 SIGTERM sent, 2 SIGKILL sent */
    int timeout;

    for (;;) {
        if (!io->exited)
            runner_check_exit(io);
        now = clock_mono_ms();
        timeout = -1;
        if (io->exited) {
            runner_close(&io->in_fd);
            if (io->out.fd < 0 && io->err.fd < 0 && io->fail_fd < 0)
                break;
            if (linger_end == 0)
                linger_end = now + RUNNER_LINGER_MS;
            if (now >= linger_end) {
                runner_stream_drain(&io->out);
                runner_stream_drain(&io->err);
                runner_kill_group(io->pid, SIGKILL);
                res->group_killed = 1;
                break;
            }
            timeout = runner_min_timeout(timeout, linger_end, now);
        }
        if (phase == 0 && !io->exited && runner_abort) {
            /* the agent is stopping: the child goes as at a timeout, and is not waited for */
            res->timed_out = 1;
            runner_kill_group(io->pid, SIGTERM);
            phase = 1;
            grace_end = now + RUNNER_GRACE_MS;
        } else if (phase == 0 && !io->exited && spec->timeout_ms > 0 &&
                   now >= start + spec->timeout_ms) {
            res->timed_out = 1;
            runner_kill_group(io->pid, SIGTERM);
            phase = 1;
            grace_end = now + RUNNER_GRACE_MS;
        } else if (phase == 1 && now >= grace_end) {
            runner_kill_group(io->pid, SIGKILL);
            phase = 2;
        }
        if (phase == 0 && !io->exited && spec->timeout_ms > 0)
            timeout = runner_min_timeout(timeout, start + spec->timeout_ms, now);
        else if (phase == 1)
            timeout = runner_min_timeout(timeout, grace_end, now);
        if (!io->exited && io->pidfd < 0)
            timeout = runner_min_timeout(timeout, now + RUNNER_POLL_MS, now);
        if (phase == 0 && !io->exited)
            timeout = runner_min_timeout(timeout, now + RUNNER_ABORT_MS, now);
        runner_poll(io, timeout);
    }
    /* A timed-out group dies whole, even members that outlived the SIGTERM. */
    if (res->timed_out && phase < 2)
        runner_kill_group(io->pid, SIGKILL);
}

static void runner_reap(struct runner_io *io, struct runner_result *res)
{
    int status;
    pid_t r;

    do {
        r = waitpid(io->pid, &status, 0);
    } while (r == -1 && errno == EINTR);
    if (r != io->pid) {
        log_warn("runner: waitpid %ld", (long)io->pid);
        return;
    }
    if (WIFEXITED(status)) {
        res->exited = 1;
        res->exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        res->signaled = 1;
        res->signo = WTERMSIG(status);
    }
}

/* Opened once for the process: the stdin of every child given no input, and the fd limit. */
static int runner_devnull = -1;
static long runner_open_max = -1;
static pthread_once_t runner_once_ctl = PTHREAD_ONCE_INIT;

static void runner_once(void)
{
    runner_devnull = runner_fd_high(open("/dev/null", O_RDONLY | O_CLOEXEC));
    runner_open_max = sysconf(_SC_OPEN_MAX);
}

/* Drops the child's stdin end; the shared /dev/null stays open. */
static void runner_close_in(struct runner_prep *p)
{
    if (p->in_fd == runner_devnull)
        p->in_fd = -1;
    else
        runner_close(&p->in_fd);
}

static void runner_prep_free(struct runner_prep *p)
{
    runner_paths_free(p->paths);
    runner_close_in(p);
    runner_close(&p->out_fd);
    runner_close(&p->err_fd);
    runner_close(&p->fail_fd);
}

static void runner_io_close(struct runner_io *io)
{
    runner_close(&io->in_fd);
    runner_close(&io->out.fd);
    runner_close(&io->err.fd);
    runner_close(&io->fail_fd);
    runner_close(&io->pidfd);
    buf_cleanup(&io->out.buf);
    buf_cleanup(&io->err.buf);
}

/* Makes the pipes (parent ends into io, child ends into p). */
static int runner_setup(const struct runner_spec *spec, struct runner_prep *p, struct runner_io *io)
{
    int fds[2];
    long maxfd;

    pthread_once(&runner_once_ctl, runner_once);
    maxfd = runner_open_max;

    p->maxfd = maxfd > 0 && maxfd < RUNNER_MAX_CLOSE ? (int)maxfd : RUNNER_MAX_CLOSE;
    p->envp = spec->envp != NULL ? spec->envp : runner_empty_env;
    memset(&p->dfl, 0, sizeof(p->dfl));
    p->dfl.sa_handler = SIG_DFL;
    sigemptyset(&p->dfl.sa_mask);
    if (spec->stdin_data != NULL) {
        if (runner_pipe(fds) == -1)
            return -1;
        p->in_fd = fds[0];
        io->in_fd = fds[1];
    } else if (runner_devnull >= 0) {
        p->in_fd = runner_devnull;
    } else {
        p->in_fd = runner_fd_high(open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (p->in_fd < 0)
            return -1;
    }
    if (runner_pipe(fds) == -1)
        return -1;
    io->out.fd = fds[0];
    p->out_fd = fds[1];
    if (runner_pipe(fds) == -1)
        return -1;
    io->err.fd = fds[0];
    p->err_fd = fds[1];
    if (runner_pipe(fds) == -1)
        return -1;
    io->fail_fd = fds[0];
    p->fail_fd = fds[1];
    p->paths = runner_paths(spec->argv[0], p->envp);
    return 0;
}

/* After fork, in the parent: drop the child ends, own the group, watch the pid. */
static void runner_started(struct runner_prep *p, struct runner_io *io)
{
    runner_close_in(p);
    runner_close(&p->out_fd);
    runner_close(&p->err_fd);
    runner_close(&p->fail_fd);
    /* Also set here so the group exists before we could signal it (classic race). */
    (void)setpgid(io->pid, io->pid);
#ifdef SYS_pidfd_open
    io->pidfd = (int)syscall(SYS_pidfd_open, io->pid, 0); /* close-on-exec already */
#endif
    runner_nonblock(io->out.fd);
    runner_nonblock(io->err.fd);
    runner_nonblock(io->fail_fd);
    if (io->in_fd >= 0) {
        runner_nonblock(io->in_fd);
        if (io->in_len == 0)
            runner_close(&io->in_fd);
    }
}

static void runner_finish(struct runner_io *io, struct runner_result *res,
                          const struct runner_spec *spec)
{
    if (io->fail_got == sizeof(io->fail)) {
        res->exec_failed = 1;
        res->exec_stage = (enum runner_stage)io->fail.stage;
        res->exec_errno = io->fail.err;
        res->exited = 0;
        res->exit_code = 0;
        runner_what(res, spec);
    }
    res->out_truncated = io->out.truncated;
    res->err_truncated = io->err.truncated;
    res->out_len = io->out.buf.len;
    res->err_len = io->err.buf.len;
    res->out = buf_take(&io->out.buf);
    res->err = buf_take(&io->err.buf);
}

enum ho_code runner_run(const struct runner_spec *spec, struct runner_result *res,
                        struct ho_error *err)
{
    struct runner_prep p = {.in_fd = -1, .out_fd = -1, .err_fd = -1, .fail_fd = -1};
    struct runner_io io = {.pid = -1, .pidfd = -1, .in_fd = -1, .fail_fd = -1};
    size_t cap = spec->output_cap > 0 ? spec->output_cap : RUNNER_DEFAULT_CAP;
    int64_t start = clock_mono_ms();
    enum ho_code rc = HO_OK;
    char ebuf[128];

    memset(res, 0, sizeof(*res));
    io.out.fd = io.err.fd = -1;
    buf_init(&io.out.buf, cap);
    buf_init(&io.err.buf, cap);
    if (spec->argv == NULL || spec->argv[0] == NULL || spec->argv[0][0] == '\0') {
        rc = ho_error_set(err, HO_EINVAL, "argv", "runner: empty argv");
        goto out;
    }
    io.in_data = spec->stdin_data;
    io.in_len = spec->stdin_data != NULL ? spec->stdin_len : 0;
    if (runner_setup(spec, &p, &io) == -1) {
        res->exec_errno = errno;
        rc = HO_EIO;
        goto out;
    }
    io.pid = runner_spawn(spec, &p);
    if (io.pid == -1) {
        res->exec_errno = errno;
        rc = HO_EIO;
        goto out;
    }
    runner_started(&p, &io);
    runner_wait(&io, spec, res, start);
    runner_reap(&io, res);
out:
    if (rc == HO_EIO) {
        res->exec_failed = 1;
        res->exec_stage = RUNNER_STAGE_SETUP;
        snprintf(res->what, sizeof(res->what), "cannot start %s: %s", spec->argv[0],
                 strerror_r(res->exec_errno, ebuf, sizeof(ebuf)));
        ho_error_set(err, rc, NULL, "%s", res->what);
    }
    runner_finish(&io, res, spec);
    res->duration_ms = clock_mono_ms() - start;
    runner_prep_free(&p);
    runner_io_close(&io);
    return rc;
}

void runner_result_cleanup(struct runner_result *res)
{
    if (res == NULL)
        return;
    free(res->out);
    free(res->err);
    res->out = NULL;
    res->err = NULL;
}

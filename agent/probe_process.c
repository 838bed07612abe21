/*
 * The process probe: counts processes whose name is "name", where the name is
 * /proc/PID/comm (the kernel's 15-byte name) or the basename of argv[0] from
 * /proc/PID/cmdline (for longer names and interpreters that rename themselves),
 * and compares the count with min and max (proc(5)).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probe_impl.h"

#define PROBE_CMDLINE_MAX 4096

/* Reads at most n-1 bytes of /proc/pid/what into buf (NUL-terminated); length or -1. */
static ssize_t probe_proc_read(const char *pid, const char *what, char *buf, size_t n)
{
    char path[64];
    ssize_t r;
    int fd;

    snprintf(path, sizeof(path), "/proc/%s/%s", pid, what);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    do {
        r = read(fd, buf, n - 1);
    } while (r == -1 && errno == EINTR);
    close(fd);
    if (r < 0)
        return -1;
    buf[r] = '\0';
    return r;
}

static int probe_proc_matches(const char *pid, const char *name)
{
    char buf[PROBE_CMDLINE_MAX];
    const char *base;
    ssize_t n;

    n = probe_proc_read(pid, "comm", buf, sizeof(buf));
    if (n > 0 && buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    if (n > 0 && strcmp(buf, name) == 0)
        return 1;
    /* argv[0] is the first NUL-terminated string of cmdline; empty for kernel threads. */
    if (probe_proc_read(pid, "cmdline", buf, sizeof(buf)) <= 0)
        return 0;
    base = strrchr(buf, '/');
    base = base != NULL ? base + 1 : buf;
    return strcmp(base, name) == 0;
}

static int probe_is_pid(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

void probe_process_run(const struct probe_ctx *ctx, const struct manifest_check *c,
                       struct run_step *step, struct metric **metrics, size_t *nmetrics)
{
    const struct probe_spec *p = &c->test;
    char ebuf[128];
    struct dirent *de;
    DIR *d;
    int count = 0;

    (void)ctx;
    if (p->process_name == NULL || p->process_name[0] == '\0') {
        probe_step_set(step, TEST_STATUS_UNKNOWN, "PROCESS UNKNOWN: no process name");
        return;
    }
    d = opendir("/proc");
    if (d == NULL) {
        probe_step_set(step, TEST_STATUS_UNKNOWN, "PROCESS UNKNOWN: /proc: %s",
                       probe_strerror(errno, ebuf, sizeof(ebuf)));
        return;
    }
    /* Processes come and go while we read: one that vanished just does not count. */
    for (de = readdir(d); de != NULL; de = readdir(d))
        if (probe_is_pid(de->d_name) && probe_proc_matches(de->d_name, p->process_name))
            count++;
    closedir(d);
    probe_metric_add(metrics, nmetrics, "process.count", count);
    if (count < p->min_count)
        probe_step_set(step, TEST_STATUS_CRITICAL,
                       "PROCESS CRITICAL: %d process%s named '%s' (min %d)", count,
                       count == 1 ? "" : "es", p->process_name, p->min_count);
    else if (p->max_count >= 0 && count > p->max_count)
        probe_step_set(step, TEST_STATUS_CRITICAL,
                       "PROCESS CRITICAL: %d process%s named '%s' (max %d)", count,
                       count == 1 ? "" : "es", p->process_name, p->max_count);
    else
        probe_step_set(step, TEST_STATUS_OK, "PROCESS OK: %d process%s named '%s'", count,
                       count == 1 ? "" : "es", p->process_name);
}

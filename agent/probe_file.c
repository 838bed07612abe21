/*
 * The file probe: the path exists (or, with "exists": false, does not), has
 * the expected permission bits, was modified within max_age_s, and its first
 * PROBE_READ_MAX bytes match the "contains" regex. Every failed condition is
 * listed in the output. Symbolic links are followed (stat(2)).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "mem.h"
#include "probe_impl.h"

/* Reads the first PROBE_READ_MAX bytes of path, NULs as newlines; NULL with errno. */
static char *probe_file_head(const char *path)
{
    char *data = NULL;
    size_t len = 0, i;
    ssize_t r;
    int fd, e;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd == -1)
        return NULL;
    data = xmalloc(PROBE_READ_MAX + 1);
    while (len < PROBE_READ_MAX) {
        r = read(fd, data + len, PROBE_READ_MAX - len);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            e = errno;
            free(data);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    for (i = 0; i < len; i++)
        if (data[i] == '\0')
            data[i] = '\n';
    data[len] = '\0';
    return data;
}

/* Adds a problem to the list in b ("; " between them); b is big enough for all. */
__attribute__((format(printf, 2, 3))) static void probe_file_add(struct buf *b, const char *fmt,
                                                                 ...)
{
    char line[512];
    enum ho_code rc = HO_OK;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (b->len > 0)
        rc = buf_appends(b, "; ");
    if (rc == HO_OK)
        rc = buf_appends(b, line);
    (void)rc;
}

/* Searches the head of the file for p->contains; UNKNOWN when that cannot be done. */
static enum test_status probe_file_search(const struct probe_spec *p, const struct stat *st,
                                          struct buf *b)
{
    char ebuf[128];
    char *data;
    int m;

    if (!S_ISREG(st->st_mode)) {
        probe_file_add(b, "not a regular file, cannot search it");
        return TEST_STATUS_CRITICAL;
    }
    data = probe_file_head(p->path);
    if (data == NULL) {
        probe_strerror(errno, ebuf, sizeof(ebuf));
        buf_reset(b);
        probe_file_add(b, "cannot read: %s", ebuf);
        return TEST_STATUS_UNKNOWN;
    }
    m = probe_regex_match(p->contains, data, ebuf, sizeof(ebuf));
    free(data);
    if (m < 0) {
        buf_reset(b);
        probe_file_add(b, "bad contains regex: %s", ebuf);
        return TEST_STATUS_UNKNOWN;
    }
    if (m == 0)
        probe_file_add(b, "does not contain '%.80s'", p->contains);
    return b->len > 0 ? TEST_STATUS_CRITICAL : TEST_STATUS_OK;
}

/* Checks mode, age and contents of an existing file; problems go to b. */
static enum test_status probe_file_checks(const struct probe_spec *p, const struct stat *st,
                                          long long age, struct buf *b)
{
    if (p->mode >= 0 && (int)(st->st_mode & 07777) != p->mode)
        probe_file_add(b, "mode %04o, expected %04o", (unsigned)(st->st_mode & 07777),
                       (unsigned)p->mode);
    if (p->max_age_s > 0 && age > p->max_age_s)
        probe_file_add(b, "%lld s old (max %d s)", age, p->max_age_s);
    if (p->contains != NULL)
        return probe_file_search(p, st, b);
    return b->len > 0 ? TEST_STATUS_CRITICAL : TEST_STATUS_OK;
}

static const char *probe_file_label(enum test_status s)
{
    switch (s) {
    case TEST_STATUS_OK:
        return "OK";
    case TEST_STATUS_WARNING:
        return "WARNING";
    case TEST_STATUS_CRITICAL:
        return "CRITICAL";
    case TEST_STATUS_UNKNOWN:
        break;
    }
    return "UNKNOWN";
}

void probe_file_run(const struct probe_ctx *ctx, const struct manifest_check *c,
                    struct run_step *step, struct metric **metrics, size_t *nmetrics)
{
    const struct probe_spec *p = &c->test;
    char ebuf[128];
    struct stat st;
    struct buf b;
    enum test_status s;
    long long age;

    (void)ctx;
    if (p->path == NULL || p->path[0] == '\0') {
        probe_step_set(step, TEST_STATUS_UNKNOWN, "FILE UNKNOWN: no path");
        return;
    }
    if (stat(p->path, &st) == -1) {
        if (errno != ENOENT && errno != ENOTDIR)
            probe_step_set(step, TEST_STATUS_UNKNOWN, "FILE UNKNOWN: %s: %s", p->path,
                           probe_strerror(errno, ebuf, sizeof(ebuf)));
        else if (p->must_exist)
            probe_step_set(step, TEST_STATUS_CRITICAL, "FILE CRITICAL: %s does not exist", p->path);
        else
            probe_step_set(step, TEST_STATUS_OK, "FILE OK: %s does not exist", p->path);
        return;
    }
    if (!p->must_exist) {
        probe_step_set(step, TEST_STATUS_CRITICAL, "FILE CRITICAL: %s exists", p->path);
        return;
    }
    age = (long long)(clock_wall_ms() / 1000 - (int64_t)st.st_mtime);
    probe_metric_add(metrics, nmetrics, "file.age_s", (double)age);
    buf_init(&b, 4096);
    s = probe_file_checks(p, &st, age, &b);
    if (s == TEST_STATUS_OK)
        probe_step_set(step, s, "FILE OK: %s exists (mode %04o, %lld s old)", p->path,
                       (unsigned)(st.st_mode & 07777), age);
    else
        probe_step_set(step, s, "FILE %s: %s %s", probe_file_label(s), p->path,
                       b.data != NULL ? b.data : "");
    buf_cleanup(&b);
}

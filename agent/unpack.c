/*
 * The agent's side of healops-agent-unpack (unpack.h): finds the helper, runs
 * it through the runner (its own process group, a timeout, capped output, the
 * bundle written to its standard input) and turns its answer back into an error.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "runner.h"
#include "unpack.h"

#define UNPACK_ERR_CAP 4096 /* the helper's standard error kept */

static pthread_mutex_t unpack_mu = PTHREAD_MUTEX_INITIALIZER;
static char *unpack_helper; /* under unpack_mu: unpack_set_helper's path, or NULL */

void unpack_set_helper(const char *path)
{
    pthread_mutex_lock(&unpack_mu);
    free(unpack_helper);
    unpack_helper = path != NULL ? xstrdup(path) : NULL;
    pthread_mutex_unlock(&unpack_mu);
}

/*
 * The helper's path into out: the one set, or UNPACK_HELPER beside the running
 * program. After an upgrade replaced the program, /proc/self/exe ends in
 * " (deleted)"; the folder is still the right one.
 */
static enum ho_code unpack_helper_path(char *out, size_t cap, struct ho_error *err)
{
    ssize_t n;
    char *slash;

    pthread_mutex_lock(&unpack_mu);
    if (unpack_helper != NULL) {
        n = snprintf(out, cap, "%s", unpack_helper);
        pthread_mutex_unlock(&unpack_mu);
        return n >= 0 && (size_t)n < cap ? HO_OK
                                         : ho_error_set(err, HO_EIO, NULL, "helper path too long");
    }
    pthread_mutex_unlock(&unpack_mu);
    n = readlink("/proc/self/exe", out, cap - 1);
    if (n <= 0)
        return ho_error_set(err, HO_EIO, NULL, "cannot find the agent's own program: %s",
                            n < 0 ? strerror(errno) : "empty link");
    out[n] = '\0';
    slash = strrchr(out, '/');
    if (slash == NULL || (size_t)(slash + 1 - out) + sizeof(UNPACK_HELPER) > cap)
        return ho_error_set(err, HO_EIO, NULL, "cannot find the agent's own folder");
    memcpy(slash + 1, UNPACK_HELPER, sizeof(UNPACK_HELPER));
    return HO_OK;
}

/* The helper's refusal "CODE\tFIELD\tMESSAGE" as the error it stands for. */
static enum ho_code unpack_refusal(const char *helper, const char *text, struct ho_error *err)
{
    char field[HO_ERROR_FIELD_MAX];
    const char *f, *m;
    size_t flen, mlen;
    char *end;
    long code = strtol(text, &end, 10);

    if (end == text || *end != '\t' || code <= HO_OK || code > HO_EINTERNAL ||
        (m = strchr(end + 1, '\t')) == NULL)
        return ho_error_set(err, HO_EIO, NULL, "%s failed: %.300s", helper, text);
    f = end + 1;
    flen = (size_t)(m - f);
    m++;
    mlen = strcspn(m, "\n");
    if (flen >= sizeof(field))
        flen = sizeof(field) - 1;
    memcpy(field, f, flen);
    field[flen] = '\0';
    return ho_error_set(err, (enum ho_code)code, field, "%.*s", (int)mlen, m);
}

enum ho_code unpack_bundle(const void *data, size_t len, const char *dest, struct ho_error *err)
{
    char helper[PATH_MAX];
    char *argv[3] = {helper, NULL, NULL};
    struct runner_spec spec;
    struct runner_result res;
    enum ho_code rc;

    rc = unpack_helper_path(helper, sizeof(helper), err);
    if (rc != HO_OK)
        return rc;
    argv[1] = xstrdup(dest);
    memset(&spec, 0, sizeof(spec));
    spec.argv = argv;
    spec.stdin_data = data;
    spec.stdin_len = len;
    spec.timeout_ms = UNPACK_TIMEOUT_MS;
    spec.output_cap = UNPACK_ERR_CAP;
    rc = runner_run(&spec, &res, err);
    free(argv[1]);
    if (rc != HO_OK) {
        runner_result_cleanup(&res);
        return rc;
    }
    if (res.exec_failed) /* "exec PATH: No such file or directory" and the like */
        rc = ho_error_set(err, HO_EIO, NULL, "%s (installed beside healops-agent)", res.what);
    else if (res.timed_out)
        rc = ho_error_set(err, HO_EIO, NULL, "%s: no answer within %d s", helper,
                          UNPACK_TIMEOUT_MS / 1000);
    else if (res.signaled)
        rc = ho_error_set(err, HO_EIO, NULL, "%s: killed by signal %d", helper, res.signo);
    else if (res.exit_code == 1)
        rc = unpack_refusal(helper, res.err, err);
    else if (res.exit_code != 0)
        rc = ho_error_set(err, HO_EIO, NULL, "%s: exit status %d: %.300s", helper, res.exit_code,
                          res.err);
    runner_result_cleanup(&res);
    return rc;
}

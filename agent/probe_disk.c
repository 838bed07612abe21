/*
 * The disk probe: free space of the file system holding path (statvfs(3)),
 * as df(1) counts it: space available to unprivileged users, in percent of
 * used + available, and in MiB. Critical below min_free_pct or min_free_mb,
 * warning below warn_free_pct; a threshold of 0 is not checked.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/statvfs.h>

#include "probe_impl.h"

void probe_disk_run(const struct probe_ctx *ctx, const struct manifest_check *c,
                    struct run_step *step, struct metric **metrics, size_t *nmetrics)
{
    const struct probe_spec *p = &c->test;
    const char *path = p->path != NULL && p->path[0] != '\0' ? p->path : "/";
    struct statvfs vfs;
    double total, pct, mb;
    char ebuf[128];

    (void)ctx;
    if (statvfs(path, &vfs) == -1) {
        probe_step_set(step, TEST_STATUS_UNKNOWN, "DISK UNKNOWN: %s: %s", path,
                       probe_strerror(errno, ebuf, sizeof(ebuf)));
        return;
    }
    total = (double)(vfs.f_blocks - vfs.f_bfree) + (double)vfs.f_bavail;
    if (vfs.f_blocks == 0 || total <= 0) {
        probe_step_set(step, TEST_STATUS_UNKNOWN, "DISK UNKNOWN: %s has no blocks", path);
        return;
    }
    pct = (double)vfs.f_bavail * 100.0 / total;
    mb = (double)vfs.f_bavail * (double)vfs.f_frsize / (1024.0 * 1024.0);
    probe_metric_add(metrics, nmetrics, "disk.free_pct", pct);
    probe_metric_add(metrics, nmetrics, "disk.free_mb", mb);
    if (p->min_free_pct > 0 && pct < p->min_free_pct)
        probe_step_set(step, TEST_STATUS_CRITICAL,
                       "DISK CRITICAL: %s %.1f%% free (%.0f MB), below %g%%", path, pct, mb,
                       p->min_free_pct);
    else if (p->min_free_mb > 0 && mb < (double)p->min_free_mb)
        probe_step_set(step, TEST_STATUS_CRITICAL,
                       "DISK CRITICAL: %s %.0f MB free (%.1f%%), below %lld MB", path, mb, pct,
                       p->min_free_mb);
    else if (p->warn_free_pct > 0 && pct < p->warn_free_pct)
        probe_step_set(step, TEST_STATUS_WARNING,
                       "DISK WARNING: %s %.1f%% free (%.0f MB), below %g%%", path, pct, mb,
                       p->warn_free_pct);
    else
        probe_step_set(step, TEST_STATUS_OK, "DISK OK: %s %.1f%% free (%.0f MB)", path, pct, mb);
}

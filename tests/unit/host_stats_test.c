/*
 * Unit tests for agent/host_stats.c: exact figures from a fake procfs folder
 * (CPU and network deltas, memory with and without MemAvailable, which mounts
 * count, counter resets, rates that wait for an old enough sample, missing
 * files), and sane values from this host's real /proc.
 */
#include <ftw.h>
#include <math.h>
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

#include "clock.h"
#include "host_stats.h"
#include "log.h"
#include "mem.h"

#define WALL 1764000000000LL

static char procdir[] = "/tmp/host_stats_test.XXXXXX";

struct got {
    struct metric *m;
    size_t n;
};

static void got_free(struct got *g)
{
    size_t i;

    for (i = 0; i < g->n; i++)
        metric_cleanup(&g->m[i]);
    free(g->m);
    g->m = NULL;
    g->n = 0;
}

/* The metric name with tag key=value (key NULL: no tags); NULL when absent. */
static const struct metric *get(const struct got *g, const char *name, const char *key,
                                const char *value)
{
    size_t i;

    for (i = 0; i < g->n; i++) {
        const struct metric *m = &g->m[i];
        if (strcmp(m->name, name) != 0)
            continue;
        if (key == NULL && m->ntags == 0)
            return m;
        if (key != NULL && m->ntags == 1 && strcmp(m->tags[0].key, key) == 0 &&
            strcmp(m->tags[0].value, value) == 0)
            return m;
    }
    return NULL;
}

static double val(const struct got *g, const char *name, const char *key, const char *value)
{
    const struct metric *m = get(g, name, key, value);

    if (m == NULL)
        fail_msg("no metric %s{%s=%s}", name, key != NULL ? key : "", value != NULL ? value : "");
    return m->value;
}

static size_t count(const struct got *g, const char *name)
{
    size_t i, k = 0;

    for (i = 0; i < g->n; i++)
        k += strcmp(g->m[i].name, name) == 0;
    return k;
}

static void put(const char *name, const char *content)
{
    char *path = xasprintf("%s/%s", procdir, name);
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(content, fp);
    assert_int_equal(fclose(fp), 0);
    free(path);
}

static void put_cpu(unsigned user, unsigned sys, unsigned idle, unsigned iowait)
{
    char text[256];

    snprintf(text, sizeof(text),
             "cpu  %u 0 %u %u %u 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1 2 3\n", user, sys,
             idle, iowait);
    put("stat", text);
}

static void put_net(unsigned long long rx, unsigned long long tx, unsigned long long rx2)
{
    char text[1024];

    snprintf(text, sizeof(text),
             "Inter-|   Receive                                                |  Transmit\n"
             " face |bytes    packets errs drop fifo frame compressed multicast|bytes    "
             "packets errs drop fifo colls carrier compressed\n"
             "    lo: 999999 9999 0 0 0 0 0 0 999999 9999 0 0 0 0 0 0\n"
             "  eth0: %llu 10 1 0 0 0 0 0 %llu 20 0 0 0 0 0 0\n"
             "wlan-x:%llu 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
             "  bad0: 1 2 3\n",
             rx, tx, rx2);
    put("net/dev", text);
}

static void fake_proc(void)
{
    char *tmpdir = xasprintf("%s/a\\040b", procdir), *mounts;

    put("loadavg", "0.50 1.25 2.00 3/93 6017\n");
    put("meminfo", "MemTotal:        1000 kB\nMemFree:          100 kB\n"
                   "MemAvailable:     250 kB\nBuffers:           10 kB\n");
    /* the first real mount of a file system counts; pseudo, network, FUSE and missing
       ones do not; "\040" is a space in a mount point */
    mounts = xasprintf("proc /proc proc rw 0 0\n"
                       "/dev/x %s ext4 rw 0 0\n"
                       "/dev/vda / ext4 rw 0 0\n"
                       "tmpfs /run tmpfs rw 0 0\n"
                       "srv:/x / nfs4 rw 0 0\n"
                       "sshfs#x / fuse.sshfs rw 0 0\n"
                       "overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0\n"
                       "/dev/vdb /nonexistent/mount ext4 rw 0 0\n"
                       "short line\n"
                       "\n",
                       tmpdir);
    put("self/mounts", mounts);
    free(mounts);
    free(tmpdir);
    put_cpu(100, 100, 800, 0);
    put_net(1000, 500, 0);
}

static void test_host_stats_fake_proc(void **state)
{
    struct host_stats *h = host_stats_new(procdir);
    char *mount = xasprintf("%s/a_b", procdir);
    const struct metric *m;
    struct got g = {0};
    struct stat st1, st2;

    (void)state;
    fake_proc();
    host_stats_sample(h, 10000);
    put_cpu(200, 150, 1000, 50);
    put_net(3000, 1500, 100);
    host_stats_collect(h, WALL, 12000, &g.m, &g.n);

    assert_true(val(&g, "host.load.1", NULL, NULL) == 0.5);
    assert_true(val(&g, "host.load.5", NULL, NULL) == 1.25);
    assert_true(val(&g, "host.load.15", NULL, NULL) == 2.0);
    assert_true(val(&g, "host.mem.total_bytes", NULL, NULL) == 1024000);
    assert_true(val(&g, "host.mem.available_bytes", NULL, NULL) == 256000);
    assert_true(val(&g, "host.mem.used_pct", NULL, NULL) == 75);
    /* cpu: user 100, system 50, idle 200, iowait 50 of 400 ticks */
    assert_true(val(&g, "host.cpu.user_pct", NULL, NULL) == 25);
    assert_true(val(&g, "host.cpu.system_pct", NULL, NULL) == 12.5);
    assert_true(val(&g, "host.cpu.idle_pct", NULL, NULL) == 50);
    assert_true(val(&g, "host.cpu.iowait_pct", NULL, NULL) == 12.5);
    /* network over 2 s; lo skipped; a malformed line skipped */
    assert_true(val(&g, "host.net.rx_bytes_per_s", "iface", "eth0") == 1000);
    assert_true(val(&g, "host.net.tx_bytes_per_s", "iface", "eth0") == 500);
    assert_true(val(&g, "host.net.rx_packets_per_s", "iface", "eth0") == 0);
    assert_true(val(&g, "host.net.rx_bytes_per_s", "iface", "wlan-x") == 50);
    assert_null(get(&g, "host.net.rx_bytes_per_s", "iface", "lo"));
    assert_null(get(&g, "host.net.rx_bytes_per_s", "iface", "bad0"));
    assert_int_equal(count(&g, "host.net.rx_bytes_per_s"), 2);
    /* disks: the temp folder (first mount of its file system), and "/" only when it is
       another file system; nothing else */
    assert_int_equal(stat(procdir, &st1), 0);
    assert_int_equal(stat("/", &st2), 0);
    assert_int_equal(count(&g, "host.disk.used_pct"), st1.st_dev == st2.st_dev ? 1 : 2);
    m = get(&g, "host.disk.used_pct", "mount", mount);
    assert_non_null(m);
    assert_true(m->value >= 0 && m->value <= 100);
    assert_true(val(&g, "host.disk.total_bytes", "mount", mount) > 0);
    assert_true(val(&g, "host.disk.free_bytes", "mount", mount) >= 0);
    for (size_t i = 0; i < g.n; i++)
        assert_int_equal(g.m[i].ts_ms, WALL);
    got_free(&g);
    free(mount);
    host_stats_free(h);
}

static void test_host_stats_rates_wait_and_resets(void **state)
{
    struct host_stats *h = host_stats_new(procdir);
    struct got g = {0};

    (void)state;
    fake_proc();
    /* no sample yet: no rates, but this collection becomes the base */
    host_stats_collect(h, WALL, 10000, &g.m, &g.n);
    assert_int_equal(count(&g, "host.cpu.user_pct"), 0);
    assert_int_equal(count(&g, "host.net.rx_bytes_per_s"), 0);
    assert_int_equal(count(&g, "host.load.1"), 1);
    got_free(&g);
    /* too soon after it: still no rates, and the base stays */
    put_cpu(200, 100, 900, 0);
    host_stats_collect(h, WALL, 10000 + HOST_STATS_MIN_RATE_MS - 1, &g.m, &g.n);
    assert_int_equal(count(&g, "host.cpu.user_pct"), 0);
    got_free(&g);
    /* later: rates against the first base; eth0 was reset (rx went back): no eth0 rates */
    put_net(10, 600, 2000);
    host_stats_collect(h, WALL, 14000, &g.m, &g.n);
    assert_true(val(&g, "host.cpu.user_pct", NULL, NULL) == 50);
    assert_true(val(&g, "host.cpu.idle_pct", NULL, NULL) == 50);
    assert_null(get(&g, "host.net.tx_bytes_per_s", "iface", "eth0"));
    assert_true(val(&g, "host.net.rx_bytes_per_s", "iface", "wlan-x") == 500);
    got_free(&g);
    /* CPU counters that went back (a restored snapshot): no CPU figures, no crash */
    put_cpu(1, 1, 1, 1);
    host_stats_collect(h, WALL, 20000, &g.m, &g.n);
    assert_int_equal(count(&g, "host.cpu.user_pct"), 0);
    got_free(&g);
    /* no ticks at all between two samples */
    host_stats_collect(h, WALL, 30000, &g.m, &g.n);
    assert_int_equal(count(&g, "host.cpu.user_pct"), 0);
    got_free(&g);
    host_stats_free(h);
}

static void test_host_stats_old_kernel_meminfo(void **state)
{
    struct host_stats *h = host_stats_new(procdir);
    struct got g = {0};

    (void)state;
    fake_proc();
    put("meminfo", "MemTotal: 2000 kB\nMemFree: 500 kB\nBuffers: 100 kB\nCached: 400 kB\n");
    host_stats_collect(h, WALL, 10000, &g.m, &g.n);
    assert_true(val(&g, "host.mem.available_bytes", NULL, NULL) == 1000 * 1024);
    assert_true(val(&g, "host.mem.used_pct", NULL, NULL) == 50);
    got_free(&g);
    /* garbage everywhere: nothing from those sources, nothing crashes */
    put("meminfo", "MemTotal: lots\n");
    put("loadavg", "-1 x\n");
    put("stat", "cpu a b c d\n");
    put("net/dev", "\n");
    host_stats_collect(h, WALL, 20000, &g.m, &g.n);
    assert_int_equal(count(&g, "host.mem.used_pct"), 0);
    assert_int_equal(count(&g, "host.load.1"), 0);
    assert_int_equal(count(&g, "host.cpu.user_pct"), 0);
    got_free(&g);
    host_stats_free(h);
}

static void test_host_stats_missing_proc(void **state)
{
    struct host_stats *h = host_stats_new("/nonexistent/proc");
    struct got g = {0};

    (void)state;
    host_stats_sample(h, 0);
    host_stats_collect(h, WALL, 5000, &g.m, &g.n);
    assert_int_equal(g.n, 0);
    host_stats_collect(h, WALL, 9000, &g.m, &g.n);
    assert_int_equal(g.n, 0);
    host_stats_free(h);
    host_stats_free(NULL);
}

static void test_host_stats_real_proc(void **state)
{
    struct host_stats *h = host_stats_new(NULL);
    struct got g = {0};
    double sum = 0;
    size_t i, disks = 0;

    (void)state;
    host_stats_sample(h, clock_mono_ms());
    usleep(600 * 1000);
    host_stats_collect(h, clock_wall_ms(), clock_mono_ms(), &g.m, &g.n);
    print_message("real /proc: %zu metrics\n", g.n);
    assert_true(val(&g, "host.load.1", NULL, NULL) >= 0);
    assert_true(val(&g, "host.load.15", NULL, NULL) >= 0);
    assert_true(val(&g, "host.mem.total_bytes", NULL, NULL) > 0);
    assert_true(val(&g, "host.mem.used_pct", NULL, NULL) >= 0);
    assert_true(val(&g, "host.mem.used_pct", NULL, NULL) <= 100);
    for (i = 0; i < g.n; i++) {
        const struct metric *m = &g.m[i];

        assert_true(isfinite(m->value));
        if (strstr(m->name, "_pct") != NULL)
            assert_true(m->value >= 0 && m->value <= 100);
        if (strstr(m->name, "_per_s") != NULL || strstr(m->name, "_bytes") != NULL)
            assert_true(m->value >= 0);
        if (strncmp(m->name, "host.cpu.", 9) == 0)
            sum += m->value;
        if (strcmp(m->name, "host.disk.used_pct") == 0) {
            disks++;
            assert_string_equal(m->tags[0].key, "mount");
            assert_int_equal(m->tags[0].value[0], '/');
        }
        if (strncmp(m->name, "host.net.", 9) == 0)
            assert_string_not_equal(m->tags[0].value, "lo");
    }
    assert_true(disks >= 1);
    assert_int_equal(count(&g, "host.cpu.idle_pct"), 1);
    /* steal time is the rest; each share is rounded to 0.01, so the sum may pass 100 a little */
    assert_true(sum >= 0 && sum <= 100.0 + 0.05);
    got_free(&g);
    host_stats_free(h);
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
    char *d;

    (void)state;
    log_init("host_stats_test", LOG_LEVEL_ERROR);
    if (mkdtemp(procdir) == NULL)
        return -1;
    d = xasprintf("%s/self", procdir);
    if (mkdir(d, 0755) != 0)
        return -1;
    free(d);
    d = xasprintf("%s/net", procdir);
    if (mkdir(d, 0755) != 0)
        return -1;
    free(d);
    d = xasprintf("%s/a b", procdir);
    if (mkdir(d, 0755) != 0)
        return -1;
    free(d);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(procdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_stats_fake_proc),
        cmocka_unit_test(test_host_stats_rates_wait_and_resets),
        cmocka_unit_test(test_host_stats_old_kernel_meminfo),
        cmocka_unit_test(test_host_stats_missing_proc),
        cmocka_unit_test(test_host_stats_real_proc),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * Built-in host stats, read from Linux procfs (proc(5)): /proc/loadavg,
 * /proc/stat (CPU time in USER_HZ ticks; percentages from the difference of
 * two samples), /proc/meminfo (MemAvailable, kernel 3.14+, else an estimate),
 * /proc/self/mounts with statvfs(3) of each real file system, and
 * /proc/net/dev (per-interface counters; rates from two samples).
 *
 * "Real" file systems: pseudo and memory file systems are skipped, and so are
 * network and FUSE file systems, because statvfs on a hung NFS or sshfs mount
 * blocks in the kernel and would take a worker with it. A file system mounted
 * twice (bind mounts) is reported once, at its first mount point. Rates wait
 * for a sample at least HOST_STATS_MIN_RATE_MS old, and a counter that went back
 * (a reset interface) gives no rate that round.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mem.h"
#include "parse.h"
#include "host_stats.h"

#define SH_FILE_MAX   (4 * 1024 * 1024) /* bytes read of one procfs file */
#define SH_IFNAME_MAX 64
#define SH_CPU_FIELDS 8 /* user nice system idle iowait irq softirq steal */
#define SH_NET_FIELDS 6 /* rx bytes packets errs, tx bytes packets errs */

/* The sources, one bit each, for logging a failure once. */
enum sh_source {
    SH_LOAD = 1 << 0,
    SH_CPU = 1 << 1,
    SH_MEM = 1 << 2,
    SH_MOUNTS = 1 << 3,
    SH_NET = 1 << 4,
    SH_MANY_MOUNTS = 1 << 5,
    SH_MANY_IFACES = 1 << 6
};

struct sh_iface {
    char name[SH_IFNAME_MAX];
    unsigned long long c[SH_NET_FIELDS];
};

struct sh_sample {
    int valid; /* 0: nothing sampled yet */
    int64_t mono_ms;
    int cpu_ok;
    unsigned long long cpu[SH_CPU_FIELDS];
    int net_ok;
    struct sh_iface *ifaces; /* owned */
    size_t nifaces;
};

struct host_stats {
    char *proc; /* "/proc" */
    struct sh_sample last;
    unsigned warned; /* enum sh_source bits already logged */
};

static const char *const sh_skip_fs[] = {
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
    "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "iso9660", "mqueue", "nsfs", "proc", "pstore",
    "ramfs", "rootfs", "rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs", "tmpfs",
    "tracefs", "nfsd", "udf",
    /* network file systems: statvfs may hang */
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "9p", "afs", "lustre", "fuse",
    NULL};

/* ---- small helpers ---- */

static void sh_warn_once(struct host_stats *h, unsigned bit, const char *what)
{
    if (h->warned & bit)
        return;
    h->warned |= bit;
    log_warnx("host stats: %s", what);
}

/* Reads proc/name into a new NUL-terminated string; NULL when it cannot. */
static char *sh_read(const struct host_stats *h, const char *name)
{
    char *path = xasprintf("%s/%s", h->proc, name), chunk[8192];
    struct buf b;
    ssize_t r;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return NULL;
    buf_init(&b, SH_FILE_MAX);
    for (;;) {
        r = read(fd, chunk, sizeof(chunk));
        if (r <= 0 || buf_append(&b, chunk, (size_t)r) != HO_OK)
            break;
    }
    close(fd);
    if (r != 0) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_take(&b);
}

static void sh_add(struct metric **m, size_t *n, const char *name, double v, int64_t ts,
                   const char *tagk, const char *tagv)
{
    struct metric *x;

    *m = xrealloc(*m, (*n + 1) * sizeof(**m));
    x = &(*m)[(*n)++];
    memset(x, 0, sizeof(*x));
    x->name = xstrdup(name);
    x->value = v;
    x->ts_ms = ts;
    if (tagk != NULL) {
        x->tags = xcalloc(1, sizeof(*x->tags));
        x->tags[0].key = xstrdup(tagk);
        x->tags[0].value = xstrdup(tagv);
        x->ntags = 1;
    }
}

/* A tag value from a path or interface name: bytes outside [A-Za-z0-9-_./] become '_'. */
static char *sh_tag_value(const char *s)
{
    size_t n = strnlen(s, RUN_MAX_NAME), i;
    char *v = xstrndup(s, n);

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '/'))
            v[i] = '_';
    }
    if (n == 0) {
        free(v);
        v = xstrdup("_");
    }
    return v;
}

/* Cuts the next line off *text (in place); NULL at the end. */
static char *sh_line(char **text)
{
    char *line = *text, *nl;

    if (line == NULL || *line == '\0')
        return NULL;
    nl = strchr(line, '\n');
    if (nl != NULL) {
        *nl = '\0';
        *text = nl + 1;
    } else {
        *text = line + strlen(line);
    }
    return line;
}

/* Splits line in place at blanks into at most max fields; returns how many. */
static size_t sh_fields(char *line, char **f, size_t max)
{
    size_t n = 0;

    while (n < max) {
        while (*line == ' ' || *line == '\t')
            *line++ = '\0';
        if (*line == '\0')
            break;
        f[n++] = line;
        while (*line != '\0' && *line != ' ' && *line != '\t')
            line++;
    }
    if (*line != '\0')
        *line = '\0';
    return n;
}

static double sh_pct(double part, double whole)
{
    double p;

    if (whole <= 0)
        return 0;
    p = round(part / whole * 10000.0) / 100.0; /* hundredths are plenty */
    return p < 0 ? 0 : p > 100 ? 100 : p;
}

/* ---- load and memory ---- */

static void sh_load(struct host_stats *h, int64_t ts, struct metric **m, size_t *n)
{
    char *text = sh_read(h, "loadavg"), *f[3];
    double l1 = -1, l5 = -1, l15 = -1;

    if (text != NULL && sh_fields(text, f, 3) == 3 &&
        (parse_double(f[0], &l1) != HO_OK || parse_double(f[1], &l5) != HO_OK ||
         parse_double(f[2], &l15) != HO_OK))
        l1 = -1;
    if (l1 < 0 || l5 < 0 || l15 < 0) {
        sh_warn_once(h, SH_LOAD, "cannot read loadavg; no host.load");
        free(text);
        return;
    }
    free(text);
    sh_add(m, n, "host.load.1", l1, ts, NULL, NULL);
    sh_add(m, n, "host.load.5", l5, ts, NULL, NULL);
    sh_add(m, n, "host.load.15", l15, ts, NULL, NULL);
}

/* Value in kB of "Key:" in meminfo text; -1 when absent. */
static long long sh_meminfo(const char *text, const char *key)
{
    size_t kl = strlen(key), n;
    const char *p = text, *e;
    char num[32];
    uint64_t v;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
            p += kl + 1;
            p += strspn(p, " \t");
            e = p + strspn(p, "0123456789");
            n = (size_t)(e - p);
            if (n == 0 || n >= sizeof(num))
                return -1;
            memcpy(num, p, n);
            num[n] = '\0';
            return parse_u64(num, 0, (uint64_t)1 << 52, &v) == HO_OK ? (long long)v : -1;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

static void sh_mem(struct host_stats *h, int64_t ts, struct metric **m, size_t *n)
{
    char *text = sh_read(h, "meminfo");
    long long total = -1, avail = -1, f, b, c;

    if (text != NULL) {
        total = sh_meminfo(text, "MemTotal");
        avail = sh_meminfo(text, "MemAvailable");
        if (avail < 0) { /* before Linux 3.14: free plus page cache, an estimate */
            f = sh_meminfo(text, "MemFree");
            b = sh_meminfo(text, "Buffers");
            c = sh_meminfo(text, "Cached");
            if (f >= 0 && b >= 0 && c >= 0)
                avail = f + b + c;
        }
    }
    free(text);
    if (total <= 0 || avail < 0) {
        sh_warn_once(h, SH_MEM, "cannot read meminfo; no host.mem");
        return;
    }
    if (avail > total)
        avail = total;
    sh_add(m, n, "host.mem.total_bytes", (double)total * 1024, ts, NULL, NULL);
    sh_add(m, n, "host.mem.available_bytes", (double)avail * 1024, ts, NULL, NULL);
    sh_add(m, n, "host.mem.used_pct", sh_pct((double)(total - avail), (double)total), ts, NULL,
           NULL);
}

/* ---- disks ---- */

/* Decodes the octal escapes (\040 for a space) of a mounts field in place. */
static void sh_unescape(char *s)
{
    char *o = s;

    for (; *s != '\0'; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

static int sh_skip_type(const char *type, const char *dir)
{
    size_t i;

    if (strncmp(type, "fuse.", 5) == 0)
        return 1;
    /* container layers: only a container's own root counts */
    if ((strcmp(type, "overlay") == 0 || strcmp(type, "aufs") == 0) && strcmp(dir, "/") != 0)
        return 1;
    for (i = 0; sh_skip_fs[i] != NULL; i++) {
        if (strcmp(type, sh_skip_fs[i]) == 0)
            return 1;
    }
    return 0;
}

static void sh_disk(const char *dir, const struct statvfs *sv, int64_t ts, struct metric **m,
                    size_t *n)
{
    double fr = (double)sv->f_frsize, used = (double)(sv->f_blocks - sv->f_bfree);
    char *tag = sh_tag_value(dir);

    sh_add(m, n, "host.disk.total_bytes", (double)sv->f_blocks * fr, ts, "mount", tag);
    sh_add(m, n, "host.disk.free_bytes", (double)sv->f_bavail * fr, ts, "mount", tag);
    /* as df(1): used against what non-root users could use */
    sh_add(m, n, "host.disk.used_pct", sh_pct(used, used + (double)sv->f_bavail), ts, "mount", tag);
    if (sv->f_files > 0 && sv->f_ffree <= sv->f_files)
        sh_add(m, n, "host.disk.inodes_used_pct",
               sh_pct((double)(sv->f_files - sv->f_ffree), (double)sv->f_files), ts, "mount", tag);
    free(tag);
}

static void sh_disks(struct host_stats *h, int64_t ts, struct metric **m, size_t *n)
{
    char *text = sh_read(h, "self/mounts"), *p = text, *line, *f[3];
    dev_t seen[HOST_STATS_MAX_MOUNTS];
    struct statvfs sv;
    struct stat st;
    size_t nseen = 0, i;

    if (text == NULL) {
        sh_warn_once(h, SH_MOUNTS, "cannot read self/mounts; no host.disk");
        return;
    }
    for (line = sh_line(&p); line != NULL; line = sh_line(&p)) {
        if (sh_fields(line, f, 3) < 3)
            continue;
        sh_unescape(f[1]);
        if (f[1][0] != '/' || sh_skip_type(f[2], f[1]))
            continue;
        if (stat(f[1], &st) != 0 || statvfs(f[1], &sv) != 0 || sv.f_blocks == 0)
            continue;
        for (i = 0; i < nseen && seen[i] != st.st_dev; i++)
            ;
        if (i < nseen)
            continue;
        if (nseen == HOST_STATS_MAX_MOUNTS) {
            sh_warn_once(h, SH_MANY_MOUNTS, "more file systems than reported (128)");
            break;
        }
        seen[nseen++] = st.st_dev;
        sh_disk(f[1], &sv, ts, m, n);
    }
    free(text);
}

/* ---- CPU and network: counters sampled, rates from two samples ---- */

static int sh_u64(const char *s, unsigned long long *v)
{
    uint64_t x;

    if (parse_u64(s, 0, UINT64_MAX, &x) != HO_OK)
        return -1;
    *v = (unsigned long long)x;
    return 0;
}

/* The "cpu" line of /proc/stat: user nice system idle [iowait irq softirq steal]. */
static int sh_read_cpu(struct host_stats *h, struct sh_sample *s)
{
    char *text = sh_read(h, "stat"), *p = text, *line, *f[1 + SH_CPU_FIELDS];
    size_t n = 0, i;

    memset(s->cpu, 0, sizeof(s->cpu));
    line = sh_line(&p);
    if (line != NULL)
        n = sh_fields(line, f, 1 + SH_CPU_FIELDS);
    if (n < 5 || strcmp(f[0], "cpu") != 0)
        n = 0;
    for (i = 1; i < n; i++) {
        if (sh_u64(f[i], &s->cpu[i - 1]) != 0)
            n = 0;
    }
    free(text);
    return n >= 5 ? 0 : -1;
}

/* One line of /proc/net/dev: "  eth0: rx_bytes rx_packets rx_errs ... tx_bytes ...". */
static int sh_net_line(char *line, struct sh_iface *ifc)
{
    static const size_t col[SH_NET_FIELDS] = {0, 1, 2, 8, 9, 10};
    char *colon = strchr(line, ':'), *name = line, *f[16];
    size_t i;

    if (colon == NULL)
        return -1;
    *colon = '\0';
    name += strspn(name, " \t");
    if (name[0] == '\0' || strlen(name) >= SH_IFNAME_MAX || sh_fields(colon + 1, f, 16) != 16)
        return -1;
    snprintf(ifc->name, sizeof(ifc->name), "%s", name);
    for (i = 0; i < SH_NET_FIELDS; i++) {
        if (sh_u64(f[col[i]], &ifc->c[i]) != 0)
            return -1;
    }
    return 0;
}

static int sh_read_net(struct host_stats *h, struct sh_sample *s)
{
    char *text = sh_read(h, "net/dev"), *p = text, *line;
    struct sh_iface ifc;

    if (text == NULL)
        return -1;
    sh_line(&p); /* two header lines */
    sh_line(&p);
    for (line = sh_line(&p); line != NULL; line = sh_line(&p)) {
        if (sh_net_line(line, &ifc) != 0 || strcmp(ifc.name, "lo") == 0)
            continue;
        if (s->nifaces == HOST_STATS_MAX_IFACES) {
            sh_warn_once(h, SH_MANY_IFACES, "more network interfaces than reported (128)");
            break;
        }
        s->ifaces = xrealloc(s->ifaces, (s->nifaces + 1) * sizeof(*s->ifaces));
        s->ifaces[s->nifaces++] = ifc;
    }
    free(text);
    return 0;
}

static void sh_sample_cleanup(struct sh_sample *s)
{
    free(s->ifaces);
    memset(s, 0, sizeof(*s));
}

static void sh_take(struct host_stats *h, int64_t mono_ms, struct sh_sample *s)
{
    memset(s, 0, sizeof(*s));
    s->valid = 1;
    s->mono_ms = mono_ms;
    s->cpu_ok = sh_read_cpu(h, s) == 0;
    if (!s->cpu_ok)
        sh_warn_once(h, SH_CPU, "cannot read stat; no host.cpu");
    s->net_ok = sh_read_net(h, s) == 0;
    if (!s->net_ok)
        sh_warn_once(h, SH_NET, "cannot read net/dev; no host.net");
}

static void sh_cpu_rates(const struct sh_sample *a, const struct sh_sample *b, int64_t ts,
                         struct metric **m, size_t *n)
{
    unsigned long long d[SH_CPU_FIELDS];
    double total = 0;
    size_t i;

    for (i = 0; i < SH_CPU_FIELDS; i++) {
        if (b->cpu[i] < a->cpu[i])
            return; /* went back: no sane difference */
        d[i] = b->cpu[i] - a->cpu[i];
        total += (double)d[i];
    }
    if (total <= 0)
        return;
    sh_add(m, n, "host.cpu.user_pct", sh_pct((double)(d[0] + d[1]), total), ts, NULL, NULL);
    sh_add(m, n, "host.cpu.system_pct", sh_pct((double)(d[2] + d[5] + d[6]), total), ts, NULL,
           NULL);
    sh_add(m, n, "host.cpu.iowait_pct", sh_pct((double)d[4], total), ts, NULL, NULL);
    sh_add(m, n, "host.cpu.idle_pct", sh_pct((double)d[3], total), ts, NULL, NULL);
}

static void sh_net_rates(const struct sh_sample *a, const struct sh_sample *b, int64_t ts,
                         struct metric **m, size_t *n)
{
    static const char *const names[SH_NET_FIELDS] = {
        "host.net.rx_bytes_per_s", "host.net.rx_packets_per_s", "host.net.rx_errors_per_s",
        "host.net.tx_bytes_per_s", "host.net.tx_packets_per_s", "host.net.tx_errors_per_s"};
    double secs = (double)(b->mono_ms - a->mono_ms) / 1000.0;
    const struct sh_iface *x, *y;
    size_t i, j, k;
    char *tag;

    for (i = 0; i < b->nifaces; i++) {
        y = &b->ifaces[i];
        for (j = 0; j < a->nifaces && strcmp(a->ifaces[j].name, y->name) != 0; j++)
            ;
        if (j == a->nifaces)
            continue; /* new interface: a rate next time */
        x = &a->ifaces[j];
        for (k = 0; k < SH_NET_FIELDS && y->c[k] >= x->c[k]; k++)
            ;
        if (k < SH_NET_FIELDS)
            continue; /* a counter went back: reset interface */
        tag = sh_tag_value(y->name);
        for (k = 0; k < SH_NET_FIELDS; k++)
            sh_add(m, n, names[k], (double)(y->c[k] - x->c[k]) / secs, ts, "iface", tag);
        free(tag);
    }
}

/* ---- the public face ---- */

struct host_stats *host_stats_new(const char *proc)
{
    struct host_stats *h = xcalloc(1, sizeof(*h));

    h->proc = xstrdup(proc != NULL ? proc : "/proc");
    return h;
}

void host_stats_free(struct host_stats *h)
{
    if (h == NULL)
        return;
    sh_sample_cleanup(&h->last);
    free(h->proc);
    free(h);
}

void host_stats_sample(struct host_stats *h, int64_t mono_ms)
{
    sh_sample_cleanup(&h->last);
    sh_take(h, mono_ms, &h->last);
}

void host_stats_collect(struct host_stats *h, int64_t wall_ms, int64_t mono_ms,
                        struct metric **metrics, size_t *n)
{
    struct sh_sample now;

    *metrics = NULL;
    *n = 0;
    sh_load(h, wall_ms, metrics, n);
    sh_mem(h, wall_ms, metrics, n);
    sh_disks(h, wall_ms, metrics, n);
    if (h->last.valid && mono_ms - h->last.mono_ms < HOST_STATS_MIN_RATE_MS)
        return; /* too soon for rates: keep the older base */
    sh_take(h, mono_ms, &now);
    if (h->last.valid && h->last.cpu_ok && now.cpu_ok)
        sh_cpu_rates(&h->last, &now, wall_ms, metrics, n);
    if (h->last.valid && h->last.net_ok && now.net_ok)
        sh_net_rates(&h->last, &now, wall_ms, metrics, n);
    sh_sample_cleanup(&h->last);
    h->last = now;
}

/*
 * Shared helpers of the benchmark tools (see bench.h). The run generator
 * follows the wire format of DESIGN.md section 5: a run with a test step,
 * for a part of them a repair and a retest, and a few metrics.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"

int64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t bench_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void bench_fatal(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", program_invocation_short_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

void *bench_xmalloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);

    if (p == NULL)
        bench_fatal("out of memory (%zu bytes)", n);
    return p;
}

void *bench_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n != 0 ? n : 1);

    if (q == NULL)
        bench_fatal("out of memory (%zu bytes)", n);
    return q;
}

char *bench_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(bench_xmalloc(n), s, n);
}

long long bench_arg_ll(const char *flag, const char *s, long long min, long long max)
{
    char *end = NULL;
    long long v;

    errno = 0;
    v = strtoll(s != NULL ? s : "", &end, 10);
    if (s == NULL || s[0] == '\0' || errno != 0 || end == NULL || *end != '\0' || v < min ||
        v > max)
        bench_fatal("%s: want an integer from %lld to %lld, got \"%s\"", flag, min, max,
                    s != NULL ? s : "");
    return v;
}

long bench_raise_nofile(long want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if ((long)rl.rlim_cur < want) {
        rl.rlim_cur = (rlim_t)want;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
            rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return -1;
    }
    return (long)rl.rlim_cur;
}

/* utime + stime of pid in clock ticks, or -1. */
long long bench_proc_cpu_ticks(int pid)
{
    char path[64], buf[2048], *p;
    unsigned long long ut = 0, stt = 0;
    FILE *fp;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    fp = fopen(path, "re");
    if (fp == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &stt) != 2)
        return -1;
    return (long long)(ut + stt);
}

/* A "Key: N kB" value of /proc/PID/status, or -1. */
long long bench_proc_status_kb(int pid, const char *key)
{
    char path[64], line[256];
    size_t kl = strlen(key);
    long long v = -1;
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    fp = fopen(path, "re");
    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtoll(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(fp);
    return v;
}

void bench_rng_seed(struct bench_rng *r)
{
    if (getrandom(r->s, sizeof(r->s), 0) != (ssize_t)sizeof(r->s)) {
        r->s[0] = (uint64_t)bench_now_ns();
        r->s[1] = (uint64_t)bench_wall_ms() * 0x9E3779B97F4A7C15ULL;
    }
    if (r->s[0] == 0 && r->s[1] == 0)
        r->s[0] = 1;
}

/* xorshift128+ (Vigna): fast and good enough for ids and mixes. */
uint64_t bench_rng_next(struct bench_rng *r)
{
    uint64_t s1 = r->s[0];
    const uint64_t s0 = r->s[1];

    r->s[0] = s0;
    s1 ^= s1 << 23;
    r->s[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return r->s[1] + s0;
}

uint32_t bench_rng_below(struct bench_rng *r, uint32_t n)
{
    return (uint32_t)(((bench_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

void bench_uuid(struct bench_rng *r, int64_t ms, char out[BENCH_UUID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    uint64_t a = bench_rng_next(r), c = bench_rng_next(r);
    int i, o = 0;

    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    if (ms >= 0) {
        for (i = 0; i < 6; i++)
            b[i] = (unsigned char)((uint64_t)ms >> (8 * (5 - i)));
        b[6] = (unsigned char)(0x70 | (b[6] & 0x0F));
    } else {
        b[6] = (unsigned char)(0x40 | (b[6] & 0x0F));
    }
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3F));
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

void bench_rfc3339(int64_t ms, char out[BENCH_TIME_LEN])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    if (strftime(out, BENCH_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
        snprintf(out, BENCH_TIME_LEN, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out + 19, BENCH_TIME_LEN - 19, ".%03uZ", (unsigned)((uint64_t)ms % 1000u));
}

void bench_lat_add(struct bench_lat *l, double ms)
{
    if (l->n == l->cap) {
        l->cap = l->cap != 0 ? l->cap * 2 : 1024;
        l->v = bench_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = ms;
    l->sorted = 0;
}

void bench_lat_merge(struct bench_lat *dst, const struct bench_lat *src)
{
    size_t i;

    for (i = 0; i < src->n; i++)
        bench_lat_add(dst, src->v[i]);
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

double bench_lat_pct(struct bench_lat *l, double p)
{
    size_t rank;

    if (l->n == 0)
        return 0;
    if (!l->sorted) {
        qsort(l->v, l->n, sizeof(*l->v), bench_cmp_double);
        l->sorted = 1;
    }
    /* nearest rank: the smallest sample with at least p % of samples at or below it */
    rank = (size_t)((p / 100.0) * (double)l->n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > l->n)
        rank = l->n;
    return l->v[rank - 1];
}

double bench_lat_max(struct bench_lat *l)
{
    return bench_lat_pct(l, 100);
}

void bench_lat_free(struct bench_lat *l)
{
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* ---- the run generator ---- */

struct bench_check {
    const char *package;
    const char *check;
    const char *ok_fmt;   /* bench_fill template with one %d and one %.2f */
    const char *bad_fmt;  /* bench_fill template with one %d */
    const char *metric[3];
};

static const struct bench_check bench_catalog[BENCH_CHECKS_PER_AGENT] = {
    {"nginx", "nginx.running", "OK - nginx master and %d workers running, load %.2f",
     "CRITICAL - nginx not running (%d workers)", {"nginx.workers", "nginx.load", "nginx.rss_mb"}},
    {"nginx", "nginx.http", "OK - HTTP 200 in %d ms from http://127.0.0.1/health (%.2f KB)",
     "CRITICAL - HTTP 502 Bad Gateway after %d ms", {"nginx.http_ms", "nginx.http_kb", "nginx.status"}},
    {"nginx", "nginx.connections", "OK - %d active connections, %.2f req/s",
     "WARNING - %d active connections above 900", {"nginx.active", "nginx.rps", "nginx.waiting"}},
    {"nginx", "nginx.config", "OK - configuration valid, %d server blocks, %.2f s to test",
     "CRITICAL - nginx -t failed at line %d", {"nginx.servers", "nginx.test_s", "nginx.mtime"}},
    {"postgres", "postgres.running", "OK - postgres accepting connections, %d backends, %.2f ms",
     "CRITICAL - connection refused on port 5432 (%d)", {"pg.backends", "pg.connect_ms", "pg.xact"}},
    {"postgres", "postgres.replication", "OK - replica streaming, lag %d bytes, %.2f s behind",
     "CRITICAL - replication stopped, lag %d MB", {"pg.lag_bytes", "pg.lag_s", "pg.replicas"}},
    {"postgres", "postgres.vacuum", "OK - autovacuum ran %d min ago, dead tuples %.2f %%",
     "WARNING - no autovacuum for %d hours", {"pg.vacuum_age", "pg.dead_pct", "pg.tables"}},
    {"postgres", "postgres.disk", "OK - data volume %d %% used, %.2f GB free",
     "CRITICAL - data volume %d %% used", {"pg.disk_pct", "pg.disk_free_gb", "pg.wal_mb"}},
    {"system", "system.disk_root", "DISK OK - / %d %% used, %.2f GB free",
     "DISK CRITICAL - / %d %% used", {"disk.root_pct", "disk.root_free_gb", "disk.inodes_pct"}},
    {"system", "system.load", "OK - load average %d, %.2f per core",
     "CRITICAL - load average %d above 16", {"load.1", "load.per_core", "load.procs"}},
    {"system", "system.memory", "OK - %d MB available, swap %.2f %% used",
     "CRITICAL - only %d MB available", {"mem.available_mb", "mem.swap_pct", "mem.cached_mb"}},
    {"system", "system.ntp", "NTP OK - offset %d us, jitter %.2f ms",
     "NTP CRITICAL - not synchronised for %d s", {"ntp.offset_us", "ntp.jitter_ms", "ntp.stratum"}},
    {"app", "app.health", "OK - /healthz answered in %d ms, version 2.14.1, uptime %.2f h",
     "CRITICAL - /healthz timed out after %d ms", {"app.health_ms", "app.uptime_h", "app.threads"}},
    {"app", "app.queue", "OK - queue depth %d, oldest job %.2f s",
     "CRITICAL - queue depth %d, workers stuck", {"app.queue_depth", "app.oldest_s", "app.workers"}},
    {"app", "app.errors", "OK - %d errors in the last 5 min, rate %.2f/s",
     "CRITICAL - %d errors in the last 5 min", {"app.errors", "app.error_rate", "app.requests"}},
    {"app", "app.certificate", "OK - certificate valid for %d days, key %.2f kbit",
     "CRITICAL - certificate expires in %d days", {"tls.days_left", "tls.key_kbit", "tls.chain"}},
    {"redis", "redis.running", "OK - redis up %d s, %.2f ms ping",
     "CRITICAL - redis not answering PING (%d)", {"redis.uptime_s", "redis.ping_ms", "redis.dbs"}},
    {"redis", "redis.memory", "OK - used memory %d MB, fragmentation %.2f",
     "WARNING - used memory %d MB above maxmemory", {"redis.used_mb", "redis.frag", "redis.keys"}},
    {"redis", "redis.persistence", "OK - last save %d s ago, %.2f MB rdb",
     "CRITICAL - background save failed %d times", {"redis.save_age", "redis.rdb_mb", "redis.aof"}},
    {"redis", "redis.clients", "OK - %d clients connected, %.2f blocked",
     "CRITICAL - %d clients, maxclients reached", {"redis.clients", "redis.blocked", "redis.rejected"}},
};

const char *bench_check_name(int i)
{
    return bench_catalog[i % BENCH_CHECKS_PER_AGENT].check;
}

const char *bench_check_package(int i)
{
    return bench_catalog[i % BENCH_CHECKS_PER_AGENT].package;
}

const char *bench_outcome_str(int outcome)
{
    static const char *const names[] = {"ok", "repaired", "failed", "error"};

    return outcome >= 0 && outcome < 4 ? names[outcome] : "error";
}

static const char *bench_test_status_str(int s)
{
    static const char *const names[] = {"ok", "warning", "critical", "unknown"};

    return s >= 0 && s < 4 ? names[s] : "unknown";
}

static const char *bench_repair_status_str(int s)
{
    static const char *const names[] = {"succeeded", "failed", "timeout", "suppressed"};

    return s >= 0 && s < 4 ? names[s] : "failed";
}

static void bench_step_set(struct bench_step *s, int status, int exit_code, int ms)
{
    s->present = 1;
    s->status = status;
    s->has_exit = exit_code >= 0;
    s->exit_code = exit_code >= 0 ? exit_code : 0;
    s->duration_ms = ms;
}

/*
 * Expands a catalog template: "%d" takes iv, "%.2f" takes dv, "%%" is "%". The
 * templates are data, so they do not go through printf (-Wformat-nonliteral).
 */
static void bench_fill(char *out, size_t cap, const char *tmpl, int iv, double dv)
{
    size_t o = 0;
    char num[32];
    int n;

    while (*tmpl != '\0' && o + 1 < cap) {
        n = 0;
        if (strncmp(tmpl, "%d", 2) == 0) {
            n = snprintf(num, sizeof(num), "%d", iv);
            tmpl += 2;
        } else if (strncmp(tmpl, "%.2f", 4) == 0) {
            n = snprintf(num, sizeof(num), "%.2f", dv);
            tmpl += 4;
        } else if (strncmp(tmpl, "%%", 2) == 0) {
            num[0] = '%';
            n = 1;
            tmpl += 2;
        } else {
            out[o++] = *tmpl++;
            continue;
        }
        if (n > 0 && o + (size_t)n < cap) {
            memcpy(out + o, num, (size_t)n);
            o += (size_t)n;
        }
    }
    out[o] = '\0';
}

/* The test of a healthy check, and a failing one. */
static void bench_test_ok(struct bench_rng *r, const struct bench_check *c, struct bench_step *s)
{
    bench_step_set(s, 0, 0, 3 + (int)bench_rng_below(r, 60));
    bench_fill(s->output, sizeof(s->output), c->ok_fmt, 1 + (int)bench_rng_below(r, 900),
               (double)bench_rng_below(r, 10000) / 100.0);
}

static void bench_test_bad(struct bench_rng *r, const struct bench_check *c, struct bench_step *s)
{
    bench_step_set(s, 2, 2, 3 + (int)bench_rng_below(r, 300));
    bench_fill(s->output, sizeof(s->output), c->bad_fmt, 90 + (int)bench_rng_below(r, 900), 0);
}

static void bench_metrics(struct bench_rng *r, const struct bench_check *c, struct bench_run *out)
{
    unsigned a = bench_rng_below(r, 1000), b = bench_rng_below(r, 10000);
    unsigned d = bench_rng_below(r, 100000);

    snprintf(out->metrics, sizeof(out->metrics),
             "[{\"name\":\"%s\",\"value\":%u,\"tags\":{\"unit\":\"count\"}},"
             "{\"name\":\"%s\",\"value\":%u.%02u,\"tags\":{}},"
             "{\"name\":\"%s\",\"value\":%u,\"tags\":{}}]",
             c->metric[0], a, c->metric[1], b / 100, b % 100, c->metric[2], d);
}

void bench_run_make(struct bench_rng *r, int check_i, int64_t started_ms, int random_id,
                    struct bench_run *out)
{
    const struct bench_check *c = &bench_catalog[check_i % BENCH_CHECKS_PER_AGENT];
    uint32_t dice = bench_rng_below(r, 1000);

    memset(out, 0, sizeof(*out));
    bench_uuid(r, random_id ? -1 : started_ms, out->id);
    out->package = c->package;
    out->version = "1.4.0";
    out->check = c->check;
    out->started_at_ms = started_ms;
    out->interval_s = 60;
    out->manual = bench_rng_below(r, 500) == 0;
    out->operator_name = out->manual ? "alice" : NULL;
    if (dice < 950) {
        out->outcome = 0;
        bench_test_ok(r, c, &out->test);
    } else if (dice < 980) {
        out->outcome = 1;
        bench_test_bad(r, c, &out->test);
        bench_step_set(&out->repair, 0, 0, 200 + (int)bench_rng_below(r, 3000));
        snprintf(out->repair.output, sizeof(out->repair.output),
                 "restarted %s.service, active (running) since %u ms", c->package,
                 bench_rng_below(r, 5000));
        bench_test_ok(r, c, &out->retest);
    } else if (dice < 995) {
        out->outcome = 2;
        bench_test_bad(r, c, &out->test);
        bench_step_set(&out->repair, 1, 1, 100 + (int)bench_rng_below(r, 3000));
        snprintf(out->repair.output, sizeof(out->repair.output),
                 "Job for %s.service failed: see journalctl -xeu %s.service", c->package,
                 c->package);
        bench_test_bad(r, c, &out->retest);
    } else {
        out->outcome = 3;
        bench_step_set(&out->test, 3, -1, 10000);
        snprintf(out->test.output, sizeof(out->test.output), "test timed out after 10 s");
    }
    out->duration_ms = out->test.duration_ms + out->repair.duration_ms + out->retest.duration_ms;
    bench_metrics(r, c, out);
}

/* Appends to buf at *off; marks overflow by setting *off past cap. */
static void bench_put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void bench_put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*off >= cap)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *off, cap - *off, fmt, ap);
    va_end(ap);
    *off = n < 0 ? cap : *off + (size_t)n;
}

static void bench_step_json(char *buf, size_t cap, size_t *off, const char *key,
                            const struct bench_step *s, const char *status)
{
    if (!s->present)
        return;
    bench_put(buf, cap, off, ",\"%s\":{\"status\":\"%s\"", key, status);
    if (s->has_exit)
        bench_put(buf, cap, off, ",\"exit_code\":%d", s->exit_code);
    bench_put(buf, cap, off, ",\"output\":\"%s\",\"duration_ms\":%d}", s->output, s->duration_ms);
}

size_t bench_run_json(const struct bench_run *run, char *buf, size_t cap)
{
    char t[BENCH_TIME_LEN];
    size_t off = 0;

    bench_rfc3339(run->started_at_ms, t);
    bench_put(buf, cap, &off,
              "{\"id\":\"%s\",\"package\":\"%s\",\"version\":\"%s\",\"check\":\"%s\","
              "\"started_at\":\"%s\",\"duration_ms\":%d,\"manual\":%s",
              run->id, run->package, run->version, run->check, t, run->duration_ms,
              run->manual ? "true" : "false");
    if (run->manual)
        bench_put(buf, cap, &off, ",\"operator\":\"%s\"", run->operator_name);
    bench_put(buf, cap, &off,
              ",\"interval\":%d,\"environment\":\"production\",\"tags\":{\"role\":\"web\"}",
              run->interval_s);
    bench_step_json(buf, cap, &off, "test", &run->test, bench_test_status_str(run->test.status));
    bench_step_json(buf, cap, &off, "repair", &run->repair,
                    bench_repair_status_str(run->repair.status));
    bench_step_json(buf, cap, &off, "retest", &run->retest,
                    bench_test_status_str(run->retest.status));
    bench_put(buf, cap, &off, ",\"outcome\":\"%s\",\"metrics\":%s}",
              bench_outcome_str(run->outcome), run->metrics);
    return off < cap ? off : 0;
}

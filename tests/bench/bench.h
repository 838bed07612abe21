/*
 * Helpers shared by the benchmark tools of tests/bench: clocks, a fast PRNG,
 * UUIDv7 ids, latency percentiles, and the generator of realistic runs (the
 * same rows go over the wire in loadgen and straight into SQLite in
 * ref_sqlite, so the two rates compare like with like).
 */
#ifndef HO_BENCH_H
#define HO_BENCH_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_UUID_LEN         37 /* 36 characters and the NUL */
#define BENCH_TIME_LEN         25 /* 2026-11-24T14:00:00.123Z and the NUL */
#define BENCH_CHECKS_PER_AGENT 20
#define BENCH_RUN_JSON_MAX     2048 /* one generated run as JSON, with room to spare */

/* Monotonic nanoseconds, and wall-clock milliseconds since the epoch. */
int64_t bench_now_ns(void);
int64_t bench_wall_ms(void);

/* Prints "prog: message" on stderr and exits 2. */
void bench_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Allocators that abort on failure (the tools are short-lived). */
void *bench_xmalloc(size_t n);
void *bench_xrealloc(void *p, size_t n);
char *bench_xstrdup(const char *s);

/* Parses a decimal integer flag value within [min, max] or exits naming the flag. */
long long bench_arg_ll(const char *flag, const char *s, long long min, long long max);

/* Raises RLIMIT_NOFILE to at least want (up to the hard limit); returns the new soft limit. */
long bench_raise_nofile(long want);

/* utime + stime of process pid (children excluded) in clock ticks, or -1. */
long long bench_proc_cpu_ticks(int pid);
/* A "Key: N kB" value of /proc/PID/status (VmHWM, VmRSS...), or -1. */
long long bench_proc_status_kb(int pid, const char *key);

/* xorshift128+ generator, one per thread. */
struct bench_rng {
    uint64_t s[2];
};
void bench_rng_seed(struct bench_rng *r);
uint64_t bench_rng_next(struct bench_rng *r);
/* A uniform integer in [0, n). */
uint32_t bench_rng_below(struct bench_rng *r, uint32_t n);

/* A UUIDv7 (RFC 9562) for time ms, or a random UUIDv4 when ms < 0. */
void bench_uuid(struct bench_rng *r, int64_t ms, char out[BENCH_UUID_LEN]);
/* RFC 3339 UTC with milliseconds. */
void bench_rfc3339(int64_t ms, char out[BENCH_TIME_LEN]);

/* A growing set of latency samples in milliseconds. */
struct bench_lat {
    double *v;
    size_t n;
    size_t cap;
    int sorted;
};
void bench_lat_add(struct bench_lat *l, double ms);
/* Appends every sample of src to dst. */
void bench_lat_merge(struct bench_lat *dst, const struct bench_lat *src);
/* The p-th percentile (0..100, nearest rank); 0 when empty. Sorts l. */
double bench_lat_pct(struct bench_lat *l, double p);
double bench_lat_max(struct bench_lat *l);
void bench_lat_free(struct bench_lat *l);

/* One step of a generated run; status is the run.h enum value. */
struct bench_step {
    int present;
    int status;
    int has_exit;
    int exit_code;
    char output[160];
    int duration_ms;
};

/* A generated run: every column of the runs table and every field of the JSON. */
struct bench_run {
    char id[BENCH_UUID_LEN];
    const char *package;   /* static */
    const char *version;   /* static */
    const char *check;     /* static */
    int64_t started_at_ms;
    int duration_ms;
    int manual;
    const char *operator_name; /* static, NULL unless manual */
    int interval_s;
    struct bench_step test, repair, retest;
    int outcome;           /* 0 ok, 1 repaired, 2 failed, 3 error */
    char metrics[400];     /* JSON array as the server stores it */
};

/* The package and check names of check slot i (0 .. BENCH_CHECKS_PER_AGENT-1). */
const char *bench_check_name(int i);
const char *bench_check_package(int i);
const char *bench_outcome_str(int outcome);

/*
 * Makes a realistic run of check slot check_i started at started_ms: about 95 % ok,
 * 3 % repaired, 1.5 % failed, 0.5 % error, 0.2 % by hand; three metrics. The id is a
 * UUIDv7 of started_ms, or a random UUID when random_id.
 */
void bench_run_make(struct bench_rng *r, int check_i, int64_t started_ms, int random_id,
                    struct bench_run *out);
/* Writes run as a JSON object at buf (cap bytes); returns its length, 0 if it did not fit. */
size_t bench_run_json(const struct bench_run *run, char *buf, size_t cap);

#endif

/*
 * ref_agent: the reference for the agent's footprint, measured in the same run
 * as healops-agent. It does the least an agent built on the product's client
 * stack (libcurl with OpenSSL) must do for N checks every S seconds: spawn each
 * check with its output captured through a pipe (posix_spawn, poll, read to
 * EOF, waitpid), and once a second POST the runs of that second to
 * /api/v1/runs over one keep-alive HTTPS connection. No spool, no JSON
 * parsing of the answer beyond its status, no threads.
 *
 * Its CPU (this process only, children excluded) and its RSS are the floor
 * the agent's are compared to: what spawning a process costs the parent on
 * this machine, and what resident memory libcurl and OpenSSL take once a
 * TLS connection is up.
 *
 *   ref_agent --url https://127.0.0.1:PORT --ca-file CA --token T --exec PATH
 *             [--checks 50] [--interval 10] [--seconds 60] [--warmup 5]
 *
 * Prints one line: BENCH ref_agent spawns=.. posts=.. errors=.. cpu_pct=..
 * cpu_us_per_run=.. rss_kb=.. hwm_kb=..
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bench.h"

#define RA_BODY_MAX (256 * 1024)
#define RA_OUT_MAX  4096

extern char **environ;

struct ra_opts {
    const char *url;
    const char *ca_file;
    const char *token;
    char *exec;
    int checks;
    int interval_s;
    int seconds;
    int warmup_s;
};

static void ra_usage(void)
{
    fprintf(stderr, "usage: ref_agent --url URL --ca-file CA --token T --exec PATH\n"
                    "                 [--checks 50] [--interval 10] [--seconds 60] [--warmup 5]\n");
    exit(2);
}

static void ra_args(int argc, char **argv, struct ra_opts *o)
{
    int i;

    *o = (struct ra_opts){.checks = 50, .interval_s = 10, .seconds = 60, .warmup_s = 5};
    for (i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i];
        char *v = argv[i + 1];

        if (strcmp(a, "--url") == 0)
            o->url = v;
        else if (strcmp(a, "--ca-file") == 0)
            o->ca_file = v;
        else if (strcmp(a, "--token") == 0)
            o->token = v;
        else if (strcmp(a, "--exec") == 0)
            o->exec = v;
        else if (strcmp(a, "--checks") == 0)
            o->checks = (int)bench_arg_ll(a, v, 1, 10000);
        else if (strcmp(a, "--interval") == 0)
            o->interval_s = (int)bench_arg_ll(a, v, 1, 3600);
        else if (strcmp(a, "--seconds") == 0)
            o->seconds = (int)bench_arg_ll(a, v, 2, 86400);
        else if (strcmp(a, "--warmup") == 0)
            o->warmup_s = (int)bench_arg_ll(a, v, 0, 3600);
        else
            ra_usage();
    }
    if (i != argc || o->url == NULL || o->ca_file == NULL || o->token == NULL || o->exec == NULL ||
        o->warmup_s >= o->seconds)
        ra_usage();
}

static int64_t ra_cpu_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Runs path with stdout and stderr on a pipe, reads them to EOF, reaps it; 0 on exit 0. */
static int ra_spawn(char *path, char *out, size_t cap)
{
    posix_spawn_file_actions_t fa;
    char *argv[] = {path, NULL};
    struct pollfd pfd;
    size_t len = 0;
    int fds[2], st = 0, rc;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) == -1)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
    for (;;) {
        char scratch[512];
        ssize_t n;

        if (poll(&pfd, 1, 5000) <= 0)
            break;
        if (len < cap - 1)
            n = read(fds[0], out + len, cap - 1 - len);
        else
            n = read(fds[0], scratch, sizeof(scratch));
        if (n <= 0)
            break;
        if (len < cap - 1)
            len += (size_t)n;
    }
    out[len] = '\0';
    close(fds[0]);
    while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static size_t ra_discard(char *p, size_t size, size_t n, void *user)
{
    (void)p;
    (void)user;
    return size * n;
}

/* POSTs body; 0 when the server answered 200. */
static int ra_post(CURL *c, const char *body, size_t len)
{
    long code = 0;

    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    if (curl_easy_perform(c) != CURLE_OK)
        return -1;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code == 200 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct ra_opts o;
    struct bench_rng rng;
    struct curl_slist *hdrs = NULL;
    char url[512], auth[600], out[RA_OUT_MAX];
    char *body;
    size_t blen = 0;
    int64_t start, step_ns, next_spawn, next_post, end, t0 = 0, cpu0 = 0;
    long spawns = 0, counted = 0, posts = 0, errors = 0, in_body = 0;
    int slot = 0;
    CURL *c;

    ra_args(argc, argv, &o);
    bench_rng_seed(&rng);
    body = bench_xmalloc(RA_BODY_MAX);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (c = curl_easy_init()) == NULL)
        bench_fatal("libcurl did not start");
    snprintf(url, sizeof(url), "%s/api/v1/runs", o.url);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o.token);
    hdrs = curl_slist_append(hdrs, auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ra_discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);

    start = bench_now_ns();
    step_ns = (int64_t)o.interval_s * 1000000000 / o.checks;
    next_spawn = start;
    next_post = start + 1000000000;
    end = start + (int64_t)o.seconds * 1000000000;
    memcpy(body, "{\"runs\":[", 9);
    blen = 9;
    while (bench_now_ns() < end) {
        int64_t now = bench_now_ns(), wake;
        struct timespec ts;

        if (t0 == 0 && now >= start + (int64_t)o.warmup_s * 1000000000) {
            t0 = now;
            cpu0 = ra_cpu_ns();
        }
        if (now >= next_spawn) {
            struct bench_run run;
            size_t n;

            if (ra_spawn(o.exec, out, sizeof(out)) != 0)
                errors++;
            spawns++;
            counted += t0 != 0;
            bench_run_make(&rng, slot, bench_wall_ms(), 0, &run);
            slot = (slot + 1) % BENCH_CHECKS_PER_AGENT;
            if (blen + BENCH_RUN_JSON_MAX + 3 < RA_BODY_MAX) {
                if (in_body > 0)
                    body[blen++] = ',';
                n = bench_run_json(&run, body + blen, RA_BODY_MAX - blen - 3);
                if (n == 0)
                    bench_fatal("a generated run does not fit");
                blen += n;
                in_body++;
            }
            next_spawn += step_ns;
        }
        if (now >= next_post) {
            if (in_body > 0) {
                memcpy(body + blen, "]}", 3);
                if (ra_post(c, body, blen + 2) != 0)
                    errors++;
                posts++;
                blen = 9;
                in_body = 0;
            }
            next_post += 1000000000;
        }
        wake = next_spawn < next_post ? next_spawn : next_post;
        now = bench_now_ns();
        if (wake > now) {
            ts.tv_sec = (wake - now) / 1000000000;
            ts.tv_nsec = (wake - now) % 1000000000;
            nanosleep(&ts, NULL);
        }
    }
    if (t0 == 0)
        bench_fatal("the run ended before the warm-up did");
    {
        int64_t cpu = ra_cpu_ns() - cpu0, wall = bench_now_ns() - t0;

        printf("BENCH ref_agent spawns=%ld posts=%ld errors=%ld cpu_pct=%.4f "
               "cpu_us_per_run=%.1f rss_kb=%lld hwm_kb=%lld\n",
               spawns, posts, errors, 100.0 * (double)cpu / (double)wall,
               counted > 0 ? (double)cpu / 1000.0 / (double)counted : 0.0,
               bench_proc_status_kb(getpid(), "VmRSS"), bench_proc_status_kb(getpid(), "VmHWM"));
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    free(body);
    return 0;
}

/*
 * query: latency of the read API (DESIGN.md section 6) over the database the
 * ingest benchmark filled. One keep-alive TLS connection, one request at a
 * time; for each filter combination of GET /api/v1/runs and /repairs it sends
 * --reps requests with names picked at random from the fleet (GET /agents)
 * and the check catalog of bench.c, and prints p50/p99/max and rows per
 * answer. Then it pages through all of GET /api/v1/state?limit=1000 and
 * through /runs with the cursor, and times GET /metrics when the server has it.
 *
 *   query --url https://127.0.0.1:PORT --ca-file CA --token READ_TOKEN [--reps 20]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench.h"
#include "bench_net.h"

#define Q_MAX_RESPONSE (256u * 1024 * 1024)
#define Q_MAX_AGENTS   200000
#define Q_COMBO_BUDGET_NS (8LL * 1000000000LL) /* most time spent on one combination */

struct q_client {
    SSL_CTX *ctx;
    struct sockaddr_in sa;
    char host[128];
    const char *token;
    int fd;
    SSL *ssl;
    char *buf;
    size_t len, cap;
    long long reconnects;
};

struct q_answer {
    int status;
    const char *body; /* into the client's buffer, valid until the next request */
    size_t body_len;
};

static void q_disconnect(struct q_client *c)
{
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
}

static int q_connect(struct q_client *c)
{
    struct timeval tv = {30, 0};
    int one = 1;

    q_disconnect(c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(c->fd, (struct sockaddr *)&c->sa, sizeof(c->sa)) != 0)
        return -1;
    c->ssl = bench_tls_new(c->ctx, c->fd, &c->sa);
    if (c->ssl == NULL || SSL_connect(c->ssl) != 1) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* One GET; the answer points into c->buf. -1 when the exchange failed. */
static int q_get_once(struct q_client *c, const char *path, struct q_answer *a)
{
    char head[2048];
    struct bench_http_resp r;
    size_t hl;
    int n, p;

    hl = bench_http_head(head, sizeof(head), "GET", path, c->host, c->token, 0);
    if (hl == 0 || c->ssl == NULL || SSL_write(c->ssl, head, (int)hl) != (int)hl)
        return -1;
    c->len = 0;
    for (;;) {
        if (c->cap - c->len < 65536) {
            if (c->cap >= Q_MAX_RESPONSE)
                return -1;
            c->cap = c->cap != 0 ? c->cap * 2 : 1024 * 1024;
            c->buf = bench_xrealloc(c->buf, c->cap + 1);
        }
        n = SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len));
        if (n <= 0)
            return -1;
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
        p = bench_http_parse(c->buf, c->len, &r);
        if (p < 0)
            return -1;
        if (p == 1)
            break;
    }
    a->status = r.status;
    a->body = c->buf + r.head_len;
    a->body_len = r.body_len;
    c->buf[r.head_len + r.body_len] = '\0';
    if (r.close)
        q_disconnect(c);
    return 0;
}

/* GET with one reconnect on a dropped keep-alive connection. */
static int q_get(struct q_client *c, const char *path, struct q_answer *a)
{
    if (c->ssl != NULL && q_get_once(c, path, a) == 0)
        return 0;
    c->reconnects++;
    if (q_connect(c) != 0)
        return -1;
    return q_get_once(c, path, a);
}

static long long q_count(const char *s, size_t len, const char *pat)
{
    size_t pl = strlen(pat);
    const char *p = s, *end = s + len;
    long long n = 0;

    while (p < end && (p = memmem(p, (size_t)(end - p), pat, pl)) != NULL) {
        n++;
        p += pl;
    }
    return n;
}

/* Copies the "next_cursor" string of body into out; "" when null or absent. */
static void q_cursor(const char *body, size_t len, char *out, size_t outlen)
{
    const char *p = memmem(body, len, "\"next_cursor\":\"", 15), *e;

    out[0] = '\0';
    if (p == NULL)
        return;
    p += 15;
    e = memchr(p, '"', (size_t)(body + len - p));
    if (e == NULL || (size_t)(e - p) >= outlen)
        return;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
}

/* ---- the fleet: agent names for filters ---- */

struct q_fleet {
    char **names;
    size_t n;
};

static void q_fleet_load(struct q_client *c, struct q_fleet *f, struct bench_lat *lat)
{
    char path[512], cursor[256] = "";
    struct q_answer a;
    const char *p, *e, *end;
    int64_t t;

    memset(f, 0, sizeof(*f));
    f->names = bench_xmalloc(sizeof(char *) * Q_MAX_AGENTS);
    do {
        snprintf(path, sizeof(path), "/api/v1/agents?limit=1000%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        t = bench_now_ns();
        if (q_get(c, path, &a) != 0 || a.status != 200) {
            fprintf(stderr, "query: GET %s failed (%d)\n", path, a.status);
            return;
        }
        bench_lat_add(lat, (double)(bench_now_ns() - t) / 1e6);
        end = a.body + a.body_len;
        /* each agent object starts "agent_id", then "name" (package names come later) */
        for (p = a.body; f->n < Q_MAX_AGENTS;) {
            p = memmem(p, (size_t)(end - p), "{\"agent_id\":\"", 13);
            if (p == NULL)
                break;
            p = memmem(p, (size_t)(end - p), "\"name\":\"", 8);
            if (p == NULL)
                break;
            p += 8;
            e = memchr(p, '"', (size_t)(end - p));
            if (e == NULL)
                break;
            f->names[f->n] = bench_xmalloc((size_t)(e - p) + 1);
            memcpy(f->names[f->n], p, (size_t)(e - p));
            f->names[f->n][e - p] = '\0';
            f->n++;
            p = e;
        }
        q_cursor(a.body, a.body_len, cursor, sizeof(cursor));
    } while (cursor[0] != '\0' && f->n < Q_MAX_AGENTS);
}

/* ---- combinations ---- */

enum {
    QF_AGENT = 1 << 0,
    QF_CHECK = 1 << 1,
    QF_PACKAGE = 1 << 2,
    QF_SINCE = 1 << 3,  /* the last hour */
    QF_WINDOW = 1 << 4, /* since 2 h ago until 1 h ago: a range in the middle of history */
};

struct q_combo {
    const char *name;    /* short name in the output */
    const char *path;    /* /api/v1/runs or /api/v1/repairs */
    unsigned filters;    /* QF_ bits filled at random */
    const char *fixed;   /* more fixed query text, may be "" */
};

static const struct q_combo q_combos[] = {
    {"runs", "/api/v1/runs", 0, ""},
    {"runs_limit1000", "/api/v1/runs", 0, "limit=1000"},
    {"runs_agent", "/api/v1/runs", QF_AGENT, ""},
    {"runs_check", "/api/v1/runs", QF_CHECK, ""},
    {"runs_package", "/api/v1/runs", QF_PACKAGE, ""},
    {"runs_agent_check", "/api/v1/runs", QF_AGENT | QF_CHECK, ""},
    {"runs_outcome_ok", "/api/v1/runs", 0, "outcome=ok"},
    {"runs_outcome_repaired", "/api/v1/runs", 0, "outcome=repaired"},
    {"runs_outcome_error", "/api/v1/runs", 0, "outcome=error"},
    {"runs_agent_failed", "/api/v1/runs", QF_AGENT, "outcome=failed"},
    {"runs_check_ok", "/api/v1/runs", QF_CHECK, "outcome=ok"},
    {"runs_check_repaired", "/api/v1/runs", QF_CHECK, "outcome=repaired"},
    {"runs_manual", "/api/v1/runs", 0, "manual=true"},
    {"runs_agent_manual", "/api/v1/runs", QF_AGENT, "manual=true"},
    {"runs_auto_check", "/api/v1/runs", QF_CHECK, "manual=false"},
    {"runs_since", "/api/v1/runs", QF_SINCE, ""},
    {"runs_window", "/api/v1/runs", QF_WINDOW, ""},
    {"runs_check_window", "/api/v1/runs", QF_CHECK | QF_WINDOW, ""},
    {"runs_agent_window", "/api/v1/runs", QF_AGENT | QF_WINDOW, ""},
    {"runs_agent_repaired_since", "/api/v1/runs", QF_AGENT | QF_SINCE, "outcome=repaired"},
    {"runs_package_check_failed", "/api/v1/runs", QF_PACKAGE | QF_CHECK, "outcome=failed"},
    {"repairs", "/api/v1/repairs", 0, ""},
    {"repairs_agent", "/api/v1/repairs", QF_AGENT, ""},
    {"repairs_check", "/api/v1/repairs", QF_CHECK, ""},
    {"repairs_agent_check", "/api/v1/repairs", QF_AGENT | QF_CHECK, ""},
    {"repairs_window", "/api/v1/repairs", QF_WINDOW, ""},
    {"repairs_check_since", "/api/v1/repairs", QF_CHECK | QF_SINCE, ""},
};

static void q_add(char *path, size_t cap, const char *key, const char *val)
{
    size_t n = strlen(path);

    snprintf(path + n, cap - n, "%s%s%s%s", strchr(path, '?') != NULL ? "&" : "?", key,
             val[0] != '\0' ? "=" : "", val);
}

static void q_build(const struct q_combo *q, const struct q_fleet *f, struct bench_rng *r,
                    char *path, size_t cap)
{
    char t1[BENCH_TIME_LEN], t2[BENCH_TIME_LEN];
    int ck = (int)bench_rng_below(r, BENCH_CHECKS_PER_AGENT);
    int64_t now = bench_wall_ms();

    snprintf(path, cap, "%s", q->path);
    if (q->filters & QF_AGENT && f->n > 0)
        q_add(path, cap, "agent", f->names[bench_rng_below(r, (uint32_t)f->n)]);
    if (q->filters & QF_CHECK)
        q_add(path, cap, "check", bench_check_name(ck));
    if (q->filters & QF_PACKAGE)
        q_add(path, cap, "package", bench_check_package(ck));
    if (q->filters & QF_SINCE) {
        bench_rfc3339(now - 3600 * 1000LL, t1);
        t1[19] = 'Z'; /* whole seconds are enough */
        t1[20] = '\0';
        q_add(path, cap, "since", t1);
    }
    if (q->filters & QF_WINDOW) {
        bench_rfc3339(now - 2 * 3600 * 1000LL, t1);
        bench_rfc3339(now - 3600 * 1000LL, t2);
        t1[19] = t2[19] = 'Z';
        t1[20] = t2[20] = '\0';
        q_add(path, cap, "since", t1);
        q_add(path, cap, "until", t2);
    }
    if (q->fixed[0] != '\0')
        q_add(path, cap, q->fixed, "");
}

struct q_result {
    struct bench_lat lat;
    long long rows, bytes, answers, errors;
    int last_status;
};

static void q_print(const char *name, struct q_result *res)
{
    double n = res->answers > 0 ? (double)res->answers : 1;

    printf("  %-27s p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms  rows/answer %6.1f  KB/answer "
           "%7.1f  n=%lld%s\n",
           name, bench_lat_pct(&res->lat, 50), bench_lat_pct(&res->lat, 99),
           bench_lat_max(&res->lat), (double)res->rows / n, (double)res->bytes / 1024.0 / n,
           res->answers, res->errors > 0 ? " (errors!)" : "");
    printf("BENCH query name=%s p50_ms=%.2f p99_ms=%.2f max_ms=%.2f n=%lld errors=%lld "
           "rows_per_answer=%.1f\n",
           name, bench_lat_pct(&res->lat, 50), bench_lat_pct(&res->lat, 99),
           bench_lat_max(&res->lat), res->answers, res->errors, (double)res->rows / n);
}

/* Times one request into res; returns the answer's status or -1. */
static int q_timed(struct q_client *c, const char *path, const char *rowkey, struct q_result *res,
                   struct q_answer *a)
{
    int64_t t = bench_now_ns();

    if (q_get(c, path, a) != 0) {
        res->errors++;
        return -1;
    }
    res->last_status = a->status;
    if (a->status != 200) {
        res->errors++;
        if (res->errors == 1)
            fprintf(stderr, "query: GET %s -> %d %.*s\n", path, a->status,
                    (int)(a->body_len < 300 ? a->body_len : 300), a->body);
        return a->status;
    }
    bench_lat_add(&res->lat, (double)(bench_now_ns() - t) / 1e6);
    res->answers++;
    res->bytes += (long long)a->body_len;
    res->rows += q_count(a->body, a->body_len, rowkey);
    return a->status;
}

static void q_combos_run(struct q_client *c, const struct q_fleet *f, int reps, double *worst_p99,
                         const char **worst)
{
    struct bench_rng rng;
    struct q_result res;
    struct q_answer a;
    char path[1024];
    size_t i;
    int k;
    int64_t t0;

    bench_rng_seed(&rng);
    for (i = 0; i < sizeof(q_combos) / sizeof(q_combos[0]); i++) {
        memset(&res, 0, sizeof(res));
        t0 = bench_now_ns();
        for (k = 0; k < reps && bench_now_ns() - t0 < Q_COMBO_BUDGET_NS; k++) {
            q_build(&q_combos[i], f, &rng, path, sizeof(path));
            q_timed(c, path, "\"check\":\"", &res, &a);
        }
        q_print(q_combos[i].name, &res);
        if (res.answers > 0 && bench_lat_pct(&res.lat, 99) > *worst_p99) {
            *worst_p99 = bench_lat_pct(&res.lat, 99);
            *worst = q_combos[i].name;
        }
        bench_lat_free(&res.lat);
    }
}

/* Pages through base (which has a '?') with the cursor; prints each page's latency. */
static void q_paging(struct q_client *c, const char *name, const char *base, int max_pages)
{
    struct q_result res;
    struct q_answer a;
    char path[1024], cursor[256] = "";
    int64_t t0 = bench_now_ns();
    int pages = 0;

    memset(&res, 0, sizeof(res));
    do {
        snprintf(path, sizeof(path), "%s%s%s", base, cursor[0] ? "&cursor=" : "", cursor);
        if (q_timed(c, path, "\"check\":\"", &res, &a) != 200)
            break;
        q_cursor(a.body, a.body_len, cursor, sizeof(cursor));
        pages++;
    } while (cursor[0] != '\0' && pages < max_pages);
    printf("  %s: %d pages, %lld rows in %.1f ms all told\n", name, pages, res.rows,
           (double)(bench_now_ns() - t0) / 1e6);
    q_print(name, &res);
    printf("BENCH query_pages name=%s pages=%d rows=%lld total_ms=%.1f\n", name, pages, res.rows,
           (double)(bench_now_ns() - t0) / 1e6);
    bench_lat_free(&res.lat);
}

static void q_metrics(struct q_client *c, int reps)
{
    struct q_result res;
    struct q_answer a;
    int k;

    memset(&res, 0, sizeof(res));
    for (k = 0; k < reps; k++) {
        if (q_timed(c, "/metrics", "\n", &res, &a) != 200)
            break;
    }
    if (res.answers == 0) {
        printf("  /metrics: not measured (HTTP %d)\n", res.last_status);
        bench_lat_free(&res.lat);
        return;
    }
    q_print("metrics", &res);
    bench_lat_free(&res.lat);
}

static void q_usage(void)
{
    fprintf(stderr, "usage: query --url https://127.0.0.1:PORT --ca-file CA.pem --token READ_TOKEN "
                    "[--reps N] [--state-pages N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *ca = NULL, *worst = "-";
    struct q_client c;
    struct q_fleet f;
    struct bench_lat agents_lat = {0};
    struct sigaction sact;
    double worst_p99 = 0;
    int reps = 20, state_pages = 100000, i;
    size_t k;

    memset(&c, 0, sizeof(c));
    c.fd = -1;
    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--url") == 0)
            url = argv[i + 1];
        else if (strcmp(argv[i], "--ca-file") == 0)
            ca = argv[i + 1];
        else if (strcmp(argv[i], "--token") == 0)
            c.token = argv[i + 1];
        else if (strcmp(argv[i], "--reps") == 0)
            reps = (int)bench_arg_ll("--reps", argv[i + 1], 1, 100000);
        else if (strcmp(argv[i], "--state-pages") == 0)
            state_pages = (int)bench_arg_ll("--state-pages", argv[i + 1], 1, 10000000);
        else
            q_usage();
    }
    if (i != argc || url == NULL || ca == NULL || c.token == NULL)
        q_usage();
    if (bench_parse_url(url, &c.sa, c.host, sizeof(c.host)) != 0)
        bench_fatal("--url: want https://IPV4:PORT");
    memset(&sact, 0, sizeof(sact));
    sact.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sact, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    c.ctx = bench_tls_ctx(ca);
    if (q_connect(&c) != 0)
        bench_fatal("cannot connect to %s", url);
    q_fleet_load(&c, &f, &agents_lat);
    printf("query: %zu agents in the fleet; %d requests per combination (at most %lld s each), "
           "one keep-alive connection\n",
           f.n, reps, Q_COMBO_BUDGET_NS / 1000000000LL);
    printf("  GET /agents?limit=1000 paging: %zu pages, p50 %.2f ms, max %.2f ms\n", agents_lat.n,
           bench_lat_pct(&agents_lat, 50), bench_lat_max(&agents_lat));
    q_combos_run(&c, &f, reps, &worst_p99, &worst);
    q_paging(&c, "runs_paging_10x100", "/api/v1/runs?limit=100", 10);
    q_paging(&c, "state_all_by_1000", "/api/v1/state?limit=1000", state_pages);
    q_metrics(&c, 5);
    printf("BENCH query_worst name=%s p99_ms=%.2f reconnects=%lld\n", worst, worst_p99,
           c.reconnects);
    q_disconnect(&c);
    for (k = 0; k < f.n; k++)
        free(f.names[k]);
    free(f.names);
    free(c.buf);
    bench_lat_free(&agents_lat);
    SSL_CTX_free(c.ctx);
    return 0;
}

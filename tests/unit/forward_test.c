/*
 * Tests of the forwarders (server/forward.h, forward_impl.h): InfluxDB line
 * protocol escaping (the INTEGRATIONS.md section 2 example exactly), OpenTSDB
 * JSON with sanitized names and the 8-tag cap, Graphite tagged and plain
 * lines, config validation with JSON paths, the retry verdicts and backoff,
 * the Graphite sender against a local listener, and whole forwarder threads
 * against a scripted local HTTP target (retry, Retry-After, drop, split,
 * order, progress kept across a restart, auth header).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "clock.h"
#include "forward.h"
#include "forward_impl.h"
#include "httpc.h"
#include "mem.h"
#include "points.h"
#include "store.h"
#include "test_db.h"

#define T0 1795533600000LL

/* A point with tags given as "k", "v" pairs. */
static void mk_point(struct point *p, const char *name, int64_t ts, double value, size_t ntags,
                     ...)
{
    va_list ap;
    size_t i;

    memset(p, 0, sizeof(*p));
    p->name = xstrdup(name);
    p->ts_ms = ts;
    p->value = value;
    p->tags = xcalloc(ntags + 1, sizeof(*p->tags));
    p->ntags = ntags;
    va_start(ap, ntags);
    for (i = 0; i < ntags; i++) {
        p->tags[i].key = xstrdup(va_arg(ap, const char *));
        p->tags[i].value = xstrdup(va_arg(ap, const char *));
    }
    va_end(ap);
}

/* ---- InfluxDB ---- */

static void test_forward_influx_integrations_example(void **state)
{
    struct tag t1[] = {{"node", "web01"}, {"check", "nginx.running"}};
    struct influx_field f1[] = {
        {"duration_ms", INFLUX_FLOAT, 31, 0, 0, NULL},
        {"outcome", INFLUX_INT, 0, 1, 0, NULL},
        {"ok", INFLUX_BOOL, 0, 0, 1, NULL},
        {"output", INFLUX_STRING, 0, 0, 0, "2 \"workers\", want >= 4"},
    };
    struct tag t2[] = {{"mount point", "/var,log"}, {"a=b", "c"}};
    struct influx_field f2[] = {
        {"used pct", INFLUX_FLOAT, 91.5, 0, 0, NULL},
        {"note", INFLUX_STRING, 0, 0, 0, "C:\\tmp"},
    };
    struct buf b;

    (void)state;
    buf_init(&b, 4096);
    assert_int_equal(influx_line(&b, "healops_check", t1, 2, f1, 4, 1, 1795533600), HO_OK);
    assert_int_equal(influx_line(&b, "disk free", t2, 2, f2, 2, 1, 1795533600), HO_OK);
    assert_string_equal(b.data, "healops_check,node=web01,check=nginx.running duration_ms=31,"
                                "outcome=1i,ok=true,output=\"2 \\\"workers\\\", want >= 4\" "
                                "1795533600\n"
                                "disk\\ free,mount\\ point=/var\\,log,a\\=b=c used\\ pct=91.5,"
                                "note=\"C:\\\\tmp\" 1795533600\n");
    buf_cleanup(&b);
}

static void test_forward_influx_points(void **state)
{
    struct point p[3];
    struct buf b;
    size_t i;

    (void)state;
    mk_point(&p[0], "healops.check.outcome", T0 + 250, 1, 4, "node", "web01", "environment",
             "prod", "package", "nginx", "check", "nginx.running");
    /* '=' is fine in a measurement; a trailing backslash cannot be written and goes */
    mk_point(&p[1], "a=b,c d", T0, -0.5, 3, "z", "x\\", "k", "\\", "p", "C:\\dir");
    mk_point(&p[2], "m", T0, 1e300, 1, "bad\nkey", "v w");
    buf_init(&b, 4096);
    assert_int_equal(fwd_influx_encode(p, 3, &b), HO_OK);
    assert_string_equal(b.data,
                        "healops.check.outcome,check=nginx.running,environment=prod,node=web01,"
                        "package=nginx value=1 1795533600250\n"
                        "a=b\\,c\\ d,p=C:\\dir,z=x value=-0.5 1795533600000\n"
                        "m,bad\\ key=v\\ w value=1e+300 1795533600000\n");
    buf_cleanup(&b);
    for (i = 0; i < 3; i++)
        point_cleanup(&p[i]);
}

/* ---- OpenTSDB ---- */

static void test_forward_opentsdb_json(void **state)
{
    struct point p[2];
    size_t dropped = 0, i;
    struct buf b;
    char s[64];

    (void)state;
    mk_point(&p[0], "healops.repair", T0 + 250, 1, 6, "node", "web01", "environment", "prod",
             "package", "nginx", "check", "nginx.running", "component", "nginx.running", "status",
             "RepairSucceeded");
    mk_point(&p[1], "disk used;%", T0, 91.5, 2, "mount point", "/var log", "mount_point", "dup");
    buf_init(&b, 4096);
    assert_int_equal(fwd_opentsdb_encode(p, 2, &b, &dropped), HO_OK);
    assert_string_equal(
        b.data, "[{\"metric\":\"healops.repair\",\"timestamp\":1795533600250,\"value\":1,\"tags\":"
                "{\"node\":\"web01\",\"environment\":\"prod\",\"package\":\"nginx\",\"check\":"
                "\"nginx.running\",\"component\":\"nginx.running\",\"status\":\"RepairSucceeded\"}},"
                "{\"metric\":\"disk_used__\",\"timestamp\":1795533600000,\"value\":91.5,\"tags\":"
                "{\"mount_point\":\"/var_log\"}}]");
    assert_int_equal(dropped, 0);
    buf_cleanup(&b);
    for (i = 0; i < 2; i++)
        point_cleanup(&p[i]);
    fwd_opentsdb_sanitize("M\xc3\xbcnchen \"x\"/a-b_c.d", s, sizeof(s));
    assert_string_equal(s, "M__nchen__x_/a-b_c.d");
    fwd_opentsdb_sanitize("abcdef", s, 4);
    assert_string_equal(s, "abc");
}

static void test_forward_opentsdb_tag_cap(void **state)
{
    struct point p;
    size_t dropped = 0;
    struct buf b;

    (void)state;
    mk_point(&p, "m", T0, 2, 10, "node", "n", "environment", "e", "package", "p", "check", "c",
             "t1", "1", "t2", "2", "t3", "3", "t4", "4", "t5", "5", "t6", "6");
    buf_init(&b, 4096);
    assert_int_equal(fwd_opentsdb_encode(&p, 1, &b, &dropped), HO_OK);
    assert_string_equal(b.data, "[{\"metric\":\"m\",\"timestamp\":1795533600000,\"value\":2,"
                                "\"tags\":{\"node\":\"n\",\"environment\":\"e\",\"package\":\"p\","
                                "\"check\":\"c\",\"t1\":\"1\",\"t2\":\"2\",\"t3\":\"3\",\"t4\":"
                                "\"4\"}}]");
    assert_int_equal(dropped, 2);
    buf_cleanup(&b);
    point_cleanup(&p);
}

/* ---- Graphite ---- */

static void test_forward_graphite_lines(void **state)
{
    struct point p[3];
    struct buf b;
    size_t i;

    (void)state;
    mk_point(&p[0], "healops.check.duration_ms", T0 + 999, 31, 3, "node", "web01", "check",
             "nginx.running", "environment", "prod");
    p[0].check = xstrdup("nginx.running");
    mk_point(&p[1], "nginx.workers", T0, 4.5, 4, "node", "web01", "bad;key=", "~v;x", "e", "",
             "sp ace", "a b");
    p[1].check = xstrdup("nginx.running");
    mk_point(&p[2], "cpu.user", T0, 12, 1, "node", "db.01");
    buf_init(&b, 4096);
    assert_int_equal(fwd_graphite_encode(p, 3, 0, &b), HO_OK);
    assert_string_equal(b.data,
                        "healops.check.duration_ms;check=nginx.running;environment=prod;"
                        "node=web01 31 1795533600\n"
                        "nginx.workers;bad_key_=_v_x;node=web01;sp_ace=a_b 4.5 1795533600\n"
                        "cpu.user;node=db.01 12 1795533600\n");
    buf_reset(&b);
    assert_int_equal(fwd_graphite_encode(p, 3, 1, &b), HO_OK);
    assert_string_equal(b.data, "healops.web01.nginx_running.duration_ms 31 1795533600\n"
                                "healops.web01.nginx_running.nginx.workers 4.5 1795533600\n"
                                "healops.db_01.stats.cpu.user 12 1795533600\n");
    buf_cleanup(&b);
    for (i = 0; i < 3; i++)
        point_cleanup(&p[i]);
}

static void test_forward_format_double(void **state)
{
    static const struct {
        double v;
        const char *s;
    } cases[] = {{0, "0"},        {-0.0, "0"},      {31, "31"},         {91.5, "91.5"},
                 {-2, "-2"},      {0.1, "0.1"},     {1e300, "1e+300"}, {1.0 / 3, "0.33333333333333331"},
                 {1e15, "1e+15"}, {123456789012345, "123456789012345"}};
    char out[32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fwd_format_double(cases[i].v, out);
        assert_string_equal(out, cases[i].s);
    }
}

/* ---- config ---- */

static enum ho_code parse(const char *json, struct forward_config **cfg, struct ho_error *err)
{
    ho_error_clear(err);
    return forward_config_parse(json, strlen(json), cfg, err);
}

static void test_forward_config_errors(void **state)
{
    static const struct {
        const char *json;
        const char *field;
        const char *msg_part;
    } cases[] = {
        {"{}", "forwarders", "array"},
        {"[1]", "forwarders[0]", "object"},
        {"[{\"url\":\"http://x\"}]", "forwarders[0].type", "one of"},
        {"[{\"type\":\"kafka\"}]", "forwarders[0].type", "one of"},
        {"[{\"type\":\"opentsdb\"}]", "forwarders[0].url", "required"},
        {"[{\"type\":\"opentsdb\",\"url\":\"ftp://x\"}]", "forwarders[0].url", "http"},
        {"[{\"type\":\"opentsdb\",\"url\":\"http://\"}]", "forwarders[0].url", "host"},
        {"[{\"type\":\"opentsdb\",\"url\":\"http://u:secretpw@x:4242\"}]", "forwarders[0].url",
         "credentials"},
        {"[{\"type\":\"opentsdb\",\"url\":\"http://x/api/put?details\"}]", "forwarders[0].url",
         "query"},
        {"[{\"type\":\"opentsdb\",\"url\":\"http://x\",\"token\":\"t\"}]", "forwarders[0].token",
         "does not apply"},
        {"[{\"type\":\"opentsdb\",\"url\":\"http://x\",\"bogus\":1}]", "forwarders[0].bogus",
         "unknown"},
        {"[{\"type\":\"opentsdb\",\"url\":\"http://x\"},{\"type\":\"influxdb\",\"url\":"
         "\"http://i:8086/query?db=h\"}]",
         "forwarders[1].url", "write URL"},
        {"[{\"type\":\"influxdb\",\"url\":\"http://i:8086/write\"}]", "forwarders[0].url", "db="},
        {"[{\"type\":\"influxdb\",\"url\":\"http://i:8086/write?db=h&p=secretpw\"}]",
         "forwarders[0].url", "credentials"},
        {"[{\"type\":\"influxdb\",\"url\":\"http://i:8086/write?db=h&precision=s\"}]",
         "forwarders[0].url", "precision"},
        {"[{\"type\":\"influxdb\",\"url\":\"http://i/api/v2/write?org=o&bucket=b\"}]",
         "forwarders[0].token", "needs a token"},
        {"[{\"type\":\"influxdb\",\"url\":\"http://i/api/v2/write?org=o\",\"token\":\"t\"}]",
         "forwarders[0].url", "bucket"},
        {"[{\"type\":\"influxdb\",\"url\":\"http://i/write?db=h\",\"token\":\"t\","
         "\"token_env\":\"X\"}]",
         "forwarders[0].token", "at most one"},
        {"[{\"type\":\"influxdb\",\"url\":\"http://i/write?db=h\",\"username\":\"u\"}]",
         "forwarders[0].password_file", "together"},
        {"[{\"type\":\"influxdb\",\"url\":\"http://i/write?db=h\",\"token_file\":"
         "\"/nonexistent/tokenfile\"}]",
         "forwarders[0].token_file", "cannot read"},
        {"[{\"type\":\"influxdb\",\"url\":\"http://i/write?db=h\",\"token_env\":"
         "\"HO_TEST_SURELY_UNSET\"}]",
         "forwarders[0].token_env", "unset"},
        {"[{\"type\":\"graphite\"}]", "forwarders[0].address", "required"},
        {"[{\"type\":\"graphite\",\"address\":\"carbon\"}]", "forwarders[0].address", "HOST:PORT"},
        {"[{\"type\":\"graphite\",\"address\":\"c:2003\",\"format\":\"pickle\"}]",
         "forwarders[0].format", "tagged or plain"},
        {"[{\"type\":\"graphite\",\"address\":\"c:2003\",\"url\":\"http://x\"}]",
         "forwarders[0].url", "does not apply"},
        {"[{\"type\":\"graphite\",\"address\":\"c:2003\",\"batch_size\":0}]",
         "forwarders[0].batch_size", "between 1 and 10000"},
        {"[{\"type\":\"graphite\",\"address\":\"c:2003\",\"max_backoff\":1.5}]",
         "forwarders[0].max_backoff", "integer"},
        {"[{\"type\":\"graphite\",\"address\":\"c:2003\",\"name\":\"a b\"}]",
         "forwarders[0].name", "string"},
        {"[{\"type\":\"graphite\",\"address\":\"c:2003\",\"name\":\"x\"},"
         "{\"type\":\"graphite\",\"address\":\"d:2003\",\"name\":\"x\"}]",
         "forwarders[1].name", "unique"},
    };
    struct forward_config *cfg = NULL;
    struct ho_error err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (parse(cases[i].json, &cfg, &err) == HO_OK)
            fail_msg("accepted: %s", cases[i].json);
        assert_null(cfg);
        if (strcmp(err.field, cases[i].field) != 0 || strstr(err.msg, cases[i].msg_part) == NULL)
            fail_msg("%s: got %s: %s", cases[i].json, err.field, err.msg);
        assert_null(strstr(err.msg, "secret")); /* secrets (and secret files) never quoted */
    }
}

static void test_forward_config_ok(void **state)
{
    char path[] = "/tmp/forward_test_pw.XXXXXX";
    struct forward_config *cfg = NULL;
    struct ho_error err;
    char *json;
    FILE *fp;
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    fp = fdopen(fd, "w");
    fputs("pass:word\n", fp);
    fclose(fp);
    setenv("HO_TEST_INFLUX_TOKEN", "envtoken", 1);
    json = xasprintf(
        "[{\"type\":\"opentsdb\",\"url\":\"http://tsdb:4242/\"},"
        "{\"type\":\"influxdb\",\"url\":\"http://i:8086/write?db=healops\",\"name\":\"influx\","
        "\"username\":\"user\",\"password_file\":\"%s\",\"batch_size\":50,\"max_backoff\":60},"
        "{\"type\":\"influxdb\",\"url\":\"https://i/api/v2/write?org=o&bucket=b&precision=ms\","
        "\"token_env\":\"HO_TEST_INFLUX_TOKEN\"},"
        "{\"type\":\"graphite\",\"address\":\"carbon:2003\",\"format\":\"plain\"},"
        "{\"type\":\"opentsdb\",\"url\":\"http://tsdb:4242/api/put\"}]",
        path);
    assert_int_equal(parse(json, &cfg, &err), HO_OK);
    assert_int_equal(forward_config_count(cfg), 5);
    assert_string_equal(cfg->v[0].name, "opentsdb-0");
    assert_string_equal(cfg->v[0].url, "http://tsdb:4242/api/put");
    assert_string_equal(cfg->v[0].target, "http://tsdb:4242/");
    assert_null(cfg->v[0].secret);
    assert_int_equal(cfg->v[0].batch_size, FORWARD_BATCH_DEFAULT);
    assert_int_equal(cfg->v[0].max_backoff_s, FORWARD_BACKOFF_DEFAULT);
    assert_string_equal(cfg->v[1].name, "influx");
    assert_string_equal(cfg->v[1].url, "http://i:8086/write?db=healops&precision=ms");
    assert_string_equal(cfg->v[1].auth_scheme, "Basic");
    assert_string_equal(cfg->v[1].secret, "dXNlcjpwYXNzOndvcmQ="); /* user:pass:word */
    assert_int_equal(cfg->v[1].batch_size, 50);
    assert_int_equal(cfg->v[1].max_backoff_s, 60);
    assert_string_equal(cfg->v[2].url, "https://i/api/v2/write?org=o&bucket=b&precision=ms");
    assert_string_equal(cfg->v[2].auth_scheme, "Token");
    assert_string_equal(cfg->v[2].secret, "envtoken");
    assert_string_equal(cfg->v[3].name, "graphite-3");
    assert_string_equal(cfg->v[3].host, "carbon");
    assert_int_equal(cfg->v[3].port, 2003);
    assert_true(cfg->v[3].plain);
    assert_string_equal(cfg->v[3].target, "carbon:2003");
    assert_string_equal(cfg->v[4].url, "http://tsdb:4242/api/put");
    forward_config_free(cfg);
    free(json);
    unlink(path);
    assert_int_equal(forward_config_parse(NULL, 0, &cfg, &err), HO_OK);
    assert_int_equal(forward_config_count(cfg), 0);
    forward_config_free(cfg);
    assert_int_equal(parse("[]", &cfg, &err), HO_OK);
    assert_int_equal(forward_config_count(cfg), 0);
    forward_config_free(cfg);
}

/* ---- verdicts and backoff ---- */

static void test_forward_classify(void **state)
{
    (void)state;
    assert_int_equal(fwd_classify(HO_OK, 204), FWD_DELIVERED);
    assert_int_equal(fwd_classify(HO_OK, 200), FWD_DELIVERED);
    assert_int_equal(fwd_classify(HO_EIO, 0), FWD_RETRY);
    assert_int_equal(fwd_classify(HO_ETIMEOUT, 0), FWD_RETRY);
    assert_int_equal(fwd_classify(HO_OK, 500), FWD_RETRY);
    assert_int_equal(fwd_classify(HO_OK, 503), FWD_RETRY);
    assert_int_equal(fwd_classify(HO_OK, 429), FWD_RETRY);
    assert_int_equal(fwd_classify(HO_OK, 408), FWD_RETRY);
    assert_int_equal(fwd_classify(HO_OK, 401), FWD_RETRY);
    assert_int_equal(fwd_classify(HO_OK, 403), FWD_RETRY);
    assert_int_equal(fwd_classify(HO_OK, 301), FWD_RETRY);
    assert_int_equal(fwd_classify(HO_OK, 400), FWD_DROP);
    assert_int_equal(fwd_classify(HO_OK, 404), FWD_DROP);
    assert_int_equal(fwd_classify(HO_OK, 422), FWD_DROP);
    assert_int_equal(fwd_classify(HO_OK, 405), FWD_DROP);
    assert_int_equal(fwd_classify(HO_OK, 413), FWD_SPLIT);
    assert_string_equal(fwd_verdict_str(FWD_SPLIT), "split");
}

static void test_forward_backoff(void **state)
{
    unsigned a;
    int64_t d;

    (void)state;
    /* no jitter (rnd 0): 1, 2, 4 ... s up to the cap */
    assert_int_equal(fwd_backoff_ms(1, 300, -1, 0), 1000);
    assert_int_equal(fwd_backoff_ms(2, 300, -1, 0), 2000);
    assert_int_equal(fwd_backoff_ms(5, 300, -1, 0), 16000);
    assert_int_equal(fwd_backoff_ms(9, 300, -1, 0), 256000);
    assert_int_equal(fwd_backoff_ms(10, 300, -1, 0), 300000);
    assert_int_equal(fwd_backoff_ms(1000, 300, -1, 0), 300000);
    assert_int_equal(fwd_backoff_ms(3, 2, -1, 0), 2000);
    /* jitter takes off at most half */
    for (a = 1; a < 12; a++) {
        d = fwd_backoff_ms(a, 300, -1, 0xffffffffu - a);
        assert_true(d >= fwd_backoff_ms(a, 300, -1, 0) / 2);
        assert_true(d <= fwd_backoff_ms(a, 300, -1, 0));
    }
    /* Retry-After wins when longer, is capped, 0 changes nothing */
    assert_int_equal(fwd_backoff_ms(1, 300, 30, 0), 30000);
    assert_int_equal(fwd_backoff_ms(1, 300, 0, 0), 1000);
    assert_int_equal(fwd_backoff_ms(10, 300, 5, 0), 300000);
    assert_int_equal(fwd_backoff_ms(1, 300, 999999, 0), FWD_MAX_RETRY_AFTER_S * 1000LL);
    assert_string_equal(forward_state_str(FORWARD_STATE_RETRYING), "retrying");
    assert_string_equal(forward_type_str(FORWARD_INFLUXDB), "influxdb");
}

/* ---- a scripted local target ---- */

#define TGT_MAX_REQ 64

struct target {
    int lfd;
    int port;
    pthread_t th;
    pthread_mutex_t mu;
    int graphite;                  /* raw TCP: read to EOF, then close (or reset) */
    const int *statuses;           /* HTTP status per request; the last repeats */
    size_t nstatuses;
    const char *retry_after;       /* sent with 429/503 when set */
    int reset_first;               /* Graphite: reset the first connection instead of closing */
    char *bodies[TGT_MAX_REQ];     /* each request's body */
    char *auth[TGT_MAX_REQ];       /* each request's Authorization value */
    int64_t at_ms[TGT_MAX_REQ];    /* when it came (monotonic) */
    size_t nreq;
};

static void tgt_read_request(int fd, struct buf *req)
{
    char chunk[4096], *hdr_end, *cl;
    size_t want = (size_t)-1;
    ssize_t r;

    for (;;) {
        if (req->data != NULL && want == (size_t)-1) {
            hdr_end = strstr(req->data, "\r\n\r\n");
            if (hdr_end != NULL) {
                cl = strcasestr(req->data, "Content-Length:");
                want = (size_t)(hdr_end + 4 - req->data) +
                       (cl != NULL && cl < hdr_end ? strtoul(cl + 15, NULL, 10) : 0);
            }
        }
        if (want != (size_t)-1 && req->len >= want)
            return;
        r = read(fd, chunk, sizeof(chunk));
        if (r <= 0)
            return;
        if (buf_append(req, chunk, (size_t)r) != HO_OK)
            return; /* no cmocka asserts off the test's thread */
    }
}

static char *tgt_header(const char *req, const char *name)
{
    const char *h = strcasestr(req, name), *end;

    if (h == NULL)
        return NULL;
    h += strlen(name);
    while (*h == ' ')
        h++;
    end = strstr(h, "\r\n");
    return xstrndup(h, (size_t)(end - h));
}

static void tgt_http(struct target *t, int fd)
{
    struct buf req;
    char resp[256];
    int status;
    size_t k;

    buf_init(&req, 64u * 1024 * 1024);
    tgt_read_request(fd, &req);
    pthread_mutex_lock(&t->mu);
    k = t->nreq < TGT_MAX_REQ ? t->nreq : TGT_MAX_REQ - 1;
    status = t->statuses[t->nreq < t->nstatuses ? t->nreq : t->nstatuses - 1];
    free(t->bodies[k]);
    free(t->auth[k]);
    t->bodies[k] = req.data != NULL && strstr(req.data, "\r\n\r\n") != NULL
                       ? xstrdup(strstr(req.data, "\r\n\r\n") + 4)
                       : xstrdup("");
    t->auth[k] = req.data != NULL ? tgt_header(req.data, "Authorization:") : NULL;
    t->at_ms[k] = clock_mono_ms();
    t->nreq++;
    pthread_mutex_unlock(&t->mu);
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 %d X\r\nContent-Length: 5\r\nConnection: close\r\n%s%s%s\r\nerror",
             status, t->retry_after != NULL && (status == 429 || status == 503) ? "Retry-After: " : "",
             t->retry_after != NULL && (status == 429 || status == 503) ? t->retry_after : "",
             t->retry_after != NULL && (status == 429 || status == 503) ? "\r\n" : "");
    if (write(fd, resp, strlen(resp)) < 0)
        perror("target write");
    buf_cleanup(&req);
}

static void tgt_graphite(struct target *t, int fd)
{
    struct buf data;
    struct linger lg = {1, 0};
    char chunk[4096];
    ssize_t r;
    size_t k;
    int reset;

    buf_init(&data, 64u * 1024 * 1024);
    while ((r = read(fd, chunk, sizeof(chunk))) > 0 &&
           buf_append(&data, chunk, (size_t)r) == HO_OK)
        ;
    pthread_mutex_lock(&t->mu);
    reset = t->reset_first && t->nreq == 0;
    if (reset) {
        t->reset_first = 0;
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* close sends RST */
    } else {
        k = t->nreq < TGT_MAX_REQ ? t->nreq : TGT_MAX_REQ - 1;
        t->bodies[k] = buf_take(&data);
        t->nreq++;
    }
    pthread_mutex_unlock(&t->mu);
    buf_cleanup(&data);
}

static void *tgt_main(void *arg)
{
    struct target *t = arg;
    int fd;

    for (;;) {
        fd = accept(t->lfd, NULL, NULL);
        if (fd < 0)
            return NULL; /* listener shut down */
        if (t->graphite)
            tgt_graphite(t, fd);
        else
            tgt_http(t, fd);
        close(fd);
    }
}

static void tgt_start(struct target *t, int graphite, const int *statuses, size_t nstatuses)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    t->graphite = graphite;
    t->statuses = statuses;
    t->nstatuses = nstatuses;
    t->lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(t->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(t->lfd, 16), 0);
    getsockname(t->lfd, (struct sockaddr *)&a, &len);
    t->port = ntohs(a.sin_port);
}

static void tgt_run(struct target *t)
{
    assert_int_equal(pthread_create(&t->th, NULL, tgt_main, t), 0);
}

static void tgt_stop(struct target *t)
{
    size_t i;

    shutdown(t->lfd, SHUT_RDWR);
    pthread_join(t->th, NULL);
    close(t->lfd);
    for (i = 0; i < TGT_MAX_REQ; i++) {
        free(t->bodies[i]);
        free(t->auth[i]);
    }
    pthread_mutex_destroy(&t->mu);
}

static size_t tgt_count(struct target *t)
{
    size_t n;

    pthread_mutex_lock(&t->mu);
    n = t->nreq;
    pthread_mutex_unlock(&t->mu);
    return n;
}

/* ---- whole forwarders: a store in a temp dir, threads, the target above ---- */

struct fx {
    char dir[64];
    char path[128];
    struct app app;
    char agent[CRYPTO_UUID_LEN];
    int batches;
};

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    char h[CRYPTO_SHA256_HEX_LEN];
    struct ho_error err;

    snprintf(f->dir, sizeof(f->dir), "/tmp/forward_test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/healops.db", f->dir);
    assert_int_equal(store_open(f->path, &f->app.store, &err), HO_OK);
    crypto_sha256_hex("tok", 3, h);
    assert_int_equal(store_agent_enroll(f->app.store, "web01", "{}", h, T0, f->agent), HO_OK);
    f->app.cfg.series_days = 7;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    forward_stop(f->app.forward);
    store_close(f->app.store);
    test_db_remove(f->path, f->dir);
    free(f);
    return 0;
}

/* Stores a stat batch of n points "m" with values first..first+n-1 (timestamps T0 + value s). */
static void add_points(struct fx *f, int first, size_t n)
{
    struct metric *m = xcalloc(n, sizeof(*m));
    enum store_insert res;
    char id[CRYPTO_UUID_LEN];
    size_t i;

    snprintf(id, sizeof(id), "019a8f3e-0000-7000-8000-%012d", ++f->batches);
    for (i = 0; i < n; i++) {
        m[i].name = xstrdup("m");
        m[i].value = first + (int)i;
        m[i].ts_ms = T0 + (first + (int64_t)i) * 1000;
    }
    assert_int_equal(store_metrics_insert(f->app.store, f->agent, id, m, n, T0, &res), HO_OK);
    for (i = 0; i < n; i++)
        metric_cleanup(&m[i]);
    free(m);
    forward_notify(f->app.forward);
}

static void start(struct fx *f, const char *json)
{
    struct forward_config *cfg = NULL;
    struct ho_error err;

    ho_error_clear(&err);
    assert_int_equal(forward_config_parse(json, strlen(json), &cfg, &err), HO_OK);
    assert_int_equal(forward_start(&f->app, cfg, &f->app.forward, &err), HO_OK);
}

static struct forward_status status0(struct fx *f)
{
    struct forward_status *s = NULL, copy;
    size_t n = 0;

    assert_int_equal(forward_status(&f->app, &s, &n), HO_OK);
    assert_int_equal(n, 1);
    copy = s[0];
    copy.target = NULL;
    copy.last_error = NULL;
    forward_status_free(s, n);
    return copy;
}

/* Waits up to 10 s for the forwarder's delivered_seq to reach seq. */
static void wait_delivered(struct fx *f, int64_t seq)
{
    int64_t until = clock_mono_ms() + 10000;

    while (status0(f).delivered_seq < seq) {
        if (clock_mono_ms() > until)
            fail_msg("delivered_seq stuck at %lld, want %lld",
                     (long long)status0(f).delivered_seq, (long long)seq);
        usleep(20000);
    }
}

/* The values of every "value=V" line (Influx) the target got, in order, into v. */
static size_t influx_values(struct target *t, int *v, size_t max)
{
    size_t i, n = 0;
    const char *p;

    pthread_mutex_lock(&t->mu);
    for (i = 0; i < t->nreq && i < TGT_MAX_REQ; i++) {
        for (p = strstr(t->bodies[i], " value="); p != NULL && n < max;
             p = strstr(p + 1, " value="))
            v[n++] = atoi(p + 7);
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

static void test_forward_thread_retries_then_delivers(void **state)
{
    static const int statuses[] = {503, 429, 204};
    struct fx *f = *state;
    struct forward_status s;
    struct target t;
    int v[64];
    char *json;
    size_t n, i;

    tgt_start(&t, 0, statuses, 3);
    t.retry_after = "1";
    tgt_run(&t);
    json = xasprintf("[{\"type\":\"influxdb\",\"name\":\"ix\",\"url\":\"http://127.0.0.1:%d/api/"
                     "v2/write?org=o&bucket=b\",\"token\":\"sekrit\",\"batch_size\":4}]",
                     t.port);
    add_points(f, 1, 6);
    start(f, json);
    wait_delivered(f, 6);
    /* the first batch failed twice and was sent again whole, then the rest */
    assert_int_equal(tgt_count(&t), 4);
    assert_string_equal(t.bodies[0], t.bodies[2]);
    assert_true(t.at_ms[2] - t.at_ms[1] >= 900); /* Retry-After: 1 */
    assert_string_equal(t.auth[0], "Token sekrit");
    n = influx_values(&t, v, 64);
    assert_int_equal(n, 4 + 4 + 4 + 2);
    for (i = 0; i < 6; i++)
        assert_int_equal(v[8 + i], (int)i + 1); /* order kept */
    assert_non_null(strstr(t.bodies[3], "m,environment=production,node=web01 value=5 "
                                        "1795533605000\n"));
    s = status0(f);
    assert_int_equal(s.delivered, 6);
    assert_int_equal(s.failures, 2);
    assert_int_equal(s.pending, 0);
    assert_int_equal(s.state, FORWARD_STATE_OK);
    /* new points wake it at once */
    add_points(f, 7, 2);
    wait_delivered(f, 8);
    assert_int_equal(tgt_count(&t), 5);
    forward_stop(f->app.forward);
    f->app.forward = NULL;
    tgt_stop(&t);
    free(json);
}

static void test_forward_thread_drop_and_split(void **state)
{
    static const int statuses[] = {413, 204, 400, 204};
    struct fx *f = *state;
    struct forward_status *all = NULL;
    struct target t;
    size_t n = 0;
    char *json;

    tgt_start(&t, 0, statuses, 4);
    tgt_run(&t);
    json = xasprintf("[{\"type\":\"opentsdb\",\"url\":\"http://127.0.0.1:%d\",\"batch_size\":4}]",
                     t.port);
    add_points(f, 1, 4);
    start(f, json);
    /* 413 on 4 points: halves (2 ok), then 400 on the next 2: dropped, never retried */
    wait_delivered(f, 4);
    assert_int_equal(tgt_count(&t), 3);
    assert_non_null(strstr(t.bodies[0], "\"value\":4"));
    assert_null(strstr(t.bodies[1], "\"value\":3"));
    assert_non_null(strstr(t.bodies[2], "\"value\":3"));
    assert_int_equal(forward_status(&f->app, &all, &n), HO_OK);
    assert_int_equal(n, 1);
    assert_string_equal(all[0].name, "opentsdb-0");
    assert_true(strncmp(all[0].target, "http://127.0.0.1:", 17) == 0);
    assert_int_equal(all[0].delivered, 2);
    assert_int_equal(all[0].dropped, 2);
    assert_int_equal(all[0].failures, 2);
    assert_int_equal(all[0].state, FORWARD_STATE_FAILING); /* refused for good */
    assert_non_null(strstr(all[0].last_error, "HTTP 400"));
    forward_status_free(all, n);
    add_points(f, 5, 1);
    wait_delivered(f, 5);
    assert_int_equal(status0(f).state, FORWARD_STATE_OK);
    /* a restart resumes after what was delivered: nothing is sent twice */
    forward_stop(f->app.forward);
    f->app.forward = NULL;
    start(f, json);
    add_points(f, 6, 1);
    wait_delivered(f, 6);
    assert_int_equal(tgt_count(&t), 5);
    assert_non_null(strstr(t.bodies[4], "\"value\":6"));
    assert_null(strstr(t.bodies[4], "\"value\":5"));
    forward_stop(f->app.forward);
    f->app.forward = NULL;
    tgt_stop(&t);
    free(json);
}

static void test_forward_thread_graphite(void **state)
{
    struct fx *f = *state;
    struct target t;
    char *json;

    tgt_start(&t, 1, NULL, 0);
    t.reset_first = 1;
    tgt_run(&t);
    json = xasprintf("[{\"type\":\"graphite\",\"address\":\"127.0.0.1:%d\"}]", t.port);
    add_points(f, 1, 3);
    start(f, json);
    wait_delivered(f, 3);
    /* the first connection was reset: the batch came again whole on the next */
    assert_int_equal(tgt_count(&t), 1);
    assert_string_equal(t.bodies[0], "m;environment=production;node=web01 1 1795533601\n"
                                     "m;environment=production;node=web01 2 1795533602\n"
                                     "m;environment=production;node=web01 3 1795533603\n");
    assert_int_equal(status0(f).failures, 1);
    forward_stop(f->app.forward);
    f->app.forward = NULL;
    tgt_stop(&t);
    free(json);
}

/*
 * The forwarders read the points on a connection of their own when the server
 * gives them one, not on the read endpoints'. Here the endpoints' reader is a
 * database without a single point: had they read there, nothing would go out.
 */
static void test_forward_thread_reads_on_its_own_connection(void **state)
{
    struct fx *f = *state;
    struct ho_error err;
    struct target t;
    char other[160], *json;

    snprintf(other, sizeof(other), "%s/other.db", f->dir);
    assert_int_equal(store_open(other, &f->app.reader, &err), HO_OK);
    assert_int_equal(store_open_reader(f->path, &f->app.forward_reader, &err), HO_OK);
    tgt_start(&t, 1, NULL, 0);
    tgt_run(&t);
    json = xasprintf("[{\"type\":\"graphite\",\"address\":\"127.0.0.1:%d\"}]", t.port);
    add_points(f, 1, 2);
    start(f, json);
    wait_delivered(f, 2);
    assert_int_equal(tgt_count(&t), 1);
    assert_string_equal(t.bodies[0], "m;environment=production;node=web01 1 1795533601\n"
                                     "m;environment=production;node=web01 2 1795533602\n");
    forward_stop(f->app.forward);
    f->app.forward = NULL;
    tgt_stop(&t);
    free(json);
    store_close(f->app.forward_reader);
    f->app.forward_reader = NULL;
    store_close(f->app.reader);
    f->app.reader = NULL;
    test_db_unlink(other);
}

static void test_forward_graphite_send_refused(void **state)
{
    struct ho_error err;
    struct target t;
    int port;

    (void)state;
    tgt_start(&t, 1, NULL, 0);
    port = t.port;
    close(t.lfd); /* nobody listens there now */
    ho_error_clear(&err);
    assert_int_equal(fwd_graphite_send("127.0.0.1", port, "x 1 1\n", 6, 2000, &err), HO_EIO);
    assert_non_null(strstr(err.msg, "connect"));
    pthread_mutex_destroy(&t.mu);
}

static void test_forward_stop_interrupts_backoff(void **state)
{
    static const int statuses[] = {503};
    struct fx *f = *state;
    struct target t;
    int64_t t0;
    char *json;

    tgt_start(&t, 0, statuses, 1);
    t.retry_after = "3000";
    tgt_run(&t);
    json = xasprintf("[{\"type\":\"opentsdb\",\"url\":\"http://127.0.0.1:%d\"}]", t.port);
    add_points(f, 1, 1);
    start(f, json);
    while (tgt_count(&t) == 0)
        usleep(10000);
    usleep(100000);
    assert_int_equal(status0(f).state, FORWARD_STATE_RETRYING);
    t0 = clock_mono_ms();
    forward_stop(f->app.forward); /* in a 3000 s Retry-After wait */
    f->app.forward = NULL;
    assert_true(clock_mono_ms() - t0 < 2000);
    tgt_stop(&t);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_influx_integrations_example),
        cmocka_unit_test(test_forward_influx_points),
        cmocka_unit_test(test_forward_opentsdb_json),
        cmocka_unit_test(test_forward_opentsdb_tag_cap),
        cmocka_unit_test(test_forward_graphite_lines),
        cmocka_unit_test(test_forward_format_double),
        cmocka_unit_test(test_forward_config_errors),
        cmocka_unit_test(test_forward_config_ok),
        cmocka_unit_test(test_forward_classify),
        cmocka_unit_test(test_forward_backoff),
        cmocka_unit_test(test_forward_graphite_send_refused),
        cmocka_unit_test_setup_teardown(test_forward_thread_retries_then_delivers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_forward_thread_drop_and_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_thread_graphite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_thread_reads_on_its_own_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_forward_stop_interrupts_backoff, setup, teardown),
    };
    int rc;

    httpc_global_init();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    httpc_global_cleanup();
    return rc;
}

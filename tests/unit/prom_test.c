/*
 * Unit tests for the Prometheus text encoder (server/prom.h) and the server
 * counters (server/stats.h): name sanitising, label and HELP escaping, UTF-8
 * repair, number formats, cumulative histograms whose +Inf bucket equals
 * _count, the buffer cap, and route templates that keep raw paths out of labels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "prom.h"
#include "stats.h"

#define BIG (1024 * 1024)

static void test_prom_name_sanitize(void **state)
{
    char out[PROM_NAME_MAX], *longname;

    (void)state;
    assert_int_equal(prom_name_sanitize("healops.check.duration_ms", out), 25);
    assert_string_equal(out, "healops_check_duration_ms");
    prom_name_sanitize("nginx.workers-active count", out);
    assert_string_equal(out, "nginx_workers_active_count");
    prom_name_sanitize("1st.metric", out);
    assert_string_equal(out, "_1st_metric");
    prom_name_sanitize("ns:rule_total", out);
    assert_string_equal(out, "ns:rule_total");
    prom_name_sanitize("", out);
    assert_string_equal(out, "_");
    prom_name_sanitize("caf\xc3\xa9", out); /* each byte of a non-ASCII letter */
    assert_string_equal(out, "caf__");
    longname = malloc(1000);
    memset(longname, 'a', 999);
    longname[999] = '\0';
    assert_int_equal(prom_name_sanitize(longname, out), PROM_NAME_MAX - 1);
    assert_int_equal(strlen(out), PROM_NAME_MAX - 1);
    free(longname);
}

static void label(const char *in, const char *want)
{
    struct buf b;

    buf_init(&b, BIG);
    assert_int_equal(prom_label_value(&b, in, strlen(in)), HO_OK);
    assert_string_equal(b.data != NULL ? b.data : "", want);
    buf_cleanup(&b);
}

static void test_prom_label_value_escapes(void **state)
{
    (void)state;
    label("web01", "web01");
    label("", "");
    label("a\\b", "a\\\\b");
    label("say \"hi\"", "say \\\"hi\\\"");
    label("line1\nline2", "line1\\nline2");
    label("\\\"\n", "\\\\\\\"\\n");
    /* tabs and other bytes pass through; the format only escapes three */
    label("tab\there", "tab\there");
    /* valid UTF-8 stays, invalid bytes become U+FFFD one by one */
    label("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    label("bad\xff", "bad\xef\xbf\xbd");
    label("\xc3", "\xef\xbf\xbd");                                 /* cut short */
    label("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");                 /* overlong '/' */
    label("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* a UTF-16 surrogate */
    label("x\xf4\x90\x80\x80y", "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy");
}

static void test_prom_labels_and_family(void **state)
{
    struct prom_label l[] = {{"node", "db \"primary\""}, {"check", "disk\\root\nline2"}};
    struct buf b;

    (void)state;
    buf_init(&b, BIG);
    assert_int_equal(prom_labels_append(&b, l, 2), HO_OK);
    assert_string_equal(b.data, "node=\"db \\\"primary\\\"\",check=\"disk\\\\root\\nline2\"");
    buf_reset(&b);
    assert_int_equal(prom_labels_append(&b, l, 0), HO_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(prom_family(&b, "x_total", PROM_COUNTER, "Has a \\ and a\nnewline."), HO_OK);
    assert_string_equal(b.data, "# HELP x_total Has a \\\\ and a\\nnewline.\n"
                                "# TYPE x_total counter\n");
    buf_reset(&b);
    assert_int_equal(prom_family(&b, "h", PROM_HISTOGRAM, "H."), HO_OK);
    assert_int_equal(prom_family(&b, "g", PROM_GAUGE, "G."), HO_OK);
    assert_int_equal(prom_family(&b, "u", PROM_UNTYPED, "U."), HO_OK);
    assert_string_equal(b.data, "# HELP h H.\n# TYPE h histogram\n# HELP g G.\n# TYPE g gauge\n"
                                "# HELP u U.\n# TYPE u untyped\n");
    buf_cleanup(&b);
}

static void fmt(double v, const char *want)
{
    char out[32];

    assert_int_equal(prom_format_double(v, out), strlen(want));
    assert_string_equal(out, want);
}

static void test_prom_number_formats(void **state)
{
    struct buf b;

    (void)state;
    fmt(0, "0");
    fmt(42, "42");
    fmt(-7, "-7");
    fmt(0.1, "0.1");
    fmt(2.5e-05, "2.5e-05");
    fmt(1.0 / 3.0, "0.3333333333333333");
    fmt(1e300, "1e+300");
    fmt(0.1 + 0.2, "0.30000000000000004");
    fmt(123456789012.5, "123456789012.5");
    fmt(NAN, "NaN");
    fmt(INFINITY, "+Inf");
    fmt(-INFINITY, "-Inf");
    assert_true(strtod("0.3333333333333333", NULL) == 1.0 / 3.0);

    buf_init(&b, BIG);
    assert_int_equal(prom_sample_i64(&b, "a", NULL, 0, INT64_MIN), HO_OK);
    assert_int_equal(prom_sample_i64(&b, "b", "k=\"v\"", 5, 12), HO_OK);
    assert_int_equal(prom_sample_double(&b, "c", NULL, 0, 0.25), HO_OK);
    assert_int_equal(prom_sample_millis(&b, "d", NULL, 0, 1795528800123LL), HO_OK);
    assert_int_equal(prom_sample_millis(&b, "e", NULL, 0, 1795528800000LL), HO_OK);
    assert_int_equal(prom_sample_millis(&b, "f", NULL, 0, 5), HO_OK);
    assert_int_equal(prom_sample_millis(&b, "g", NULL, 0, -1500), HO_OK);
    assert_string_equal(b.data, "a -9223372036854775808\n"
                                "b{k=\"v\"} 12\n"
                                "c 0.25\n"
                                "d 1795528800.123\n"
                                "e 1795528800\n"
                                "f 0.005\n"
                                "g -1.500\n");
    buf_cleanup(&b);
}

static void test_prom_put_functions(void **state)
{
    static const int64_t ints[] = {0,         7,        9,     10, 42,  99,  100,  101,
                                   999,       1000,     12345, -1, -10, -99, -100, 1795528800123LL,
                                   INT64_MAX, INT64_MIN};
    static const int64_t millis[] = {0, 1, 999, 1000, 1001, 1795528800123LL, -1, -1000, -1500};
    char want[64], got[64];
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        snprintf(want, sizeof(want), "%lld", (long long)ints[i]);
        n = prom_i64_put(got, ints[i]);
        got[n] = '\0';
        assert_string_equal(got, want);
        assert_int_equal(prom_i64_len(ints[i]), n);
        assert_true(n <= PROM_I64_MAX);
    }
    for (i = 0; i < sizeof(millis) / sizeof(millis[0]); i++) {
        n = prom_millis_put(got, millis[i]);
        got[n] = '\0';
        assert_int_equal(prom_millis_len(millis[i]), n);
        assert_true(n <= PROM_MILLIS_MAX);
        assert_true(strtod(got, NULL) == (double)millis[i] / 1000.0);
    }
    n = prom_line_put(got, "m", 1, "a=\"b\"", 5, "12", 2);
    got[n] = '\0';
    assert_string_equal(got, "m{a=\"b\"} 12\n");
    assert_int_equal(prom_line_len(1, 5, 2), n);
    assert_int_equal(prom_line_len(1, 0, 2), 5);
    n = prom_label_value_put(got, "a\"\\\n\xff\xc3\xa9", 7);
    assert_int_equal(n, 2 + 2 + 2 + 3 + 2 + 1);
    assert_memory_equal(got, "a\\\"\\\\\\n\xef\xbf\xbd\xc3\xa9", n);
    assert_true(n <= PROM_LABEL_VALUE_MAX(7));
}

static void test_prom_long_line(void **state)
{
    char labels[3000];
    struct buf b;

    (void)state;
    /* longer than the stack line: written in pieces, same text */
    memset(labels, 'x', sizeof(labels));
    memcpy(labels, "k=\"", 3);
    labels[sizeof(labels) - 1] = '"';
    buf_init(&b, BIG);
    assert_int_equal(prom_sample_i64(&b, "m", labels, sizeof(labels), 3), HO_OK);
    assert_int_equal(b.len, 1 + 1 + sizeof(labels) + 1 + 1 + 1 + 1);
    assert_memory_equal(b.data, "m{k=\"xx", 7);
    assert_string_equal(b.data + b.len - 7, "xx\"} 3\n");
    buf_cleanup(&b);
}

static void test_prom_histogram_cumulative(void **state)
{
    static const double bounds[] = {0.1, 0.5, 1};
    uint64_t counts[] = {2, 0, 3, 4}; /* per bucket; the last is above 1 s */
    struct prom_histogram h = {bounds, 3, counts, 7.25};
    struct buf b;

    (void)state;
    buf_init(&b, BIG);
    assert_int_equal(prom_histogram_append(&b, "lat_seconds", "route=\"/x\"", 10, &h), HO_OK);
    assert_string_equal(b.data, "lat_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"
                                "lat_seconds_bucket{route=\"/x\",le=\"0.5\"} 2\n"
                                "lat_seconds_bucket{route=\"/x\",le=\"1\"} 5\n"
                                "lat_seconds_bucket{route=\"/x\",le=\"+Inf\"} 9\n"
                                "lat_seconds_sum{route=\"/x\"} 7.25\n"
                                "lat_seconds_count{route=\"/x\"} 9\n");
    buf_reset(&b);
    /* without labels, le is the only one */
    h.nbounds = 0;
    counts[0] = 6;
    assert_int_equal(prom_histogram_append(&b, "h", NULL, 0, &h), HO_OK);
    assert_string_equal(b.data, "h_bucket{le=\"+Inf\"} 6\nh_sum 7.25\nh_count 6\n");
    buf_cleanup(&b);
}

static void test_prom_cap_is_an_error(void **state)
{
    struct buf b;
    size_t len;

    (void)state;
    buf_init(&b, 40);
    assert_int_equal(prom_sample_i64(&b, "short", NULL, 0, 1), HO_OK);
    len = b.len;
    assert_int_equal(prom_sample_i64(&b, "a_name_long_enough_to_pass_the_cap", NULL, 0, 1),
                     HO_ETOOBIG);
    assert_int_equal(b.len, len);
    assert_string_equal(b.data, "short 1\n");
    assert_int_equal(prom_family(&b, "y", PROM_GAUGE, "a help text far too long for the cap"),
                     HO_ETOOBIG);
    buf_cleanup(&b);
}

static void test_stats_route_templates(void **state)
{
    static const struct {
        const char *path;
        const char *route;
    } cases[] = {
        {"/", "/"},
        {"/metrics", "/metrics"},
        {"/healthz", "/healthz"},
        {"/api/v1/runs", "/api/v1/runs"},
        {"/api/v1/runs/", "other"},
        {"/api/v1/agents", "/api/v1/agents"},
        {"/api/v1/agents/enroll", "/api/v1/agents/enroll"},
        {"/api/v1/agents/web01", "/api/v1/agents/:agent"},
        {"/api/v1/agents/019a8f3e-0000-7000-8000-000000000000", "/api/v1/agents/:agent"},
        {"/api/v1/agents/web01/x", "other"},
        {"/api/v1/agents/self/packages", "/api/v1/agents/self/packages"},
        {"/api/v1/checks/web01/nginx.running/series", "/api/v1/checks/:agent/:check/series"},
        {"/api/v1/checks/web01/disk/root/series", "/api/v1/checks/:agent/:check/series"},
        {"/api/v1/checks/web01/series/series", "/api/v1/checks/:agent/:check/series"},
        {"/api/v1/checks/web01/series", "other"},
        {"/api/v1/checks//x/series", "other"},
        {"/api/v1/checks/web01/x/graph", "other"},
        {"/api/v1/packages/nginx/1.4.0/bundle", "/api/v1/packages/:name/:version/bundle"},
        {"/api/v1/packages/nginx", "/api/v1/packages/:name"},
        {"/api/v1/forwarders", "/api/v1/forwarders"},
        {"/api/v1/metrics", "/api/v1/metrics"},
        {"/wp-login.php", "other"},
        {"", "other"},
        {"metrics", "other"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (strcmp(stats_route_str(stats_route_match(cases[i].path)), cases[i].route) != 0)
            fail_msg("%s: route %s, want %s", cases[i].path,
                     stats_route_str(stats_route_match(cases[i].path)), cases[i].route);
    }
    assert_string_equal(stats_route_str(STATS_ROUTE_COUNT), "other");
}

/* The value of the sample line that starts with prefix (name and labels), or -1. */
static double sample(const char *text, const char *prefix)
{
    const char *p = text;
    size_t n = strlen(prefix);

    while (p != NULL && *p != '\0') {
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

static void test_stats_counts_and_exposes(void **state)
{
    struct buf b;
    double before_ok, before_runs, before_auth, before_inf, before_cnt;
    const char *bucket = "healops_http_request_duration_seconds_bucket"
                         "{route=\"/api/v1/state\",method=\"GET\",le=";
    char key[200];

    (void)state;
    buf_init(&b, BIG);
    assert_int_equal(stats_append_prom(&b), HO_OK);
    before_ok = sample(b.data, "healops_runs_received_total{outcome=\"ok\"}");
    before_runs = sample(b.data, "healops_run_batches_total");
    before_auth = sample(b.data, "healops_auth_failures_total");
    snprintf(key, sizeof(key), "%s\"+Inf\"}", bucket);
    before_inf = sample(b.data, key);
    before_cnt = sample(b.data, "healops_http_request_duration_seconds_count"
                                "{route=\"/api/v1/state\",method=\"GET\"}");
    assert_true(before_ok >= 0 && before_runs >= 0 && before_auth >= 0);

    stats_run_received(RUN_OUTCOME_OK);
    stats_run_received(RUN_OUTCOME_OK);
    stats_run_received(RUN_OUTCOME_REPAIRED);
    stats_run_received((enum run_outcome)42); /* ignored */
    stats_run_batch(1, 2);
    stats_http_request(stats_route_match("/api/v1/state"), "GET", 200, 3000);     /* 3 ms */
    stats_http_request(stats_route_match("/api/v1/state"), "GET", 200, 70000);    /* 70 ms */
    stats_http_request(stats_route_match("/api/v1/state"), "GET", 401, 20000000); /* 20 s */
    stats_http_request(stats_route_match("/api/v1/state"), "BREW", 418, 1);
    stats_http_request(stats_route_match("/random/path"), "GET", 404, 10);

    buf_reset(&b);
    assert_int_equal(stats_append_prom(&b), HO_OK);
    assert_true(sample(b.data, "healops_runs_received_total{outcome=\"ok\"}") == before_ok + 2);
    assert_true(sample(b.data, "healops_runs_received_total{outcome=\"repaired\"}") >= 1);
    assert_true(sample(b.data, "healops_runs_received_total{outcome=\"error\"}") >= 0);
    assert_true(sample(b.data, "healops_run_batches_total") == before_runs + 1);
    assert_true(sample(b.data, "healops_runs_rejected_total") >= 2);
    assert_true(sample(b.data, "healops_auth_failures_total") == before_auth + 1);
    assert_true(sample(b.data, "healops_http_requests_total{route=\"/api/v1/state\","
                               "method=\"GET\",code=\"401\"}") >= 1);
    assert_true(sample(b.data, "healops_http_requests_total{route=\"/api/v1/state\","
                               "method=\"other\",code=\"other\"}") >= 1);
    assert_true(sample(b.data, "healops_http_requests_total{route=\"other\","
                               "method=\"GET\",code=\"404\"}") >= 1);
    assert_null(strstr(b.data, "/random/path"));
    /* cumulative: 3 ms is under 5 ms, 70 ms under 100 ms, 20 s only in +Inf */
    snprintf(key, sizeof(key), "%s\"0.005\"}", bucket);
    assert_true(sample(b.data, key) >= 1);
    snprintf(key, sizeof(key), "%s\"0.05\"}", bucket);
    assert_true(sample(b.data, key) >= 1);
    snprintf(key, sizeof(key), "%s\"0.1\"}", bucket);
    assert_true(sample(b.data, key) >= 2);
    snprintf(key, sizeof(key), "%s\"10\"}", bucket);
    assert_true(sample(b.data, key) == (before_inf < 0 ? 0 : before_inf) + 2);
    snprintf(key, sizeof(key), "%s\"+Inf\"}", bucket);
    assert_true(sample(b.data, key) == (before_inf < 0 ? 0 : before_inf) + 3);
    assert_true(sample(b.data, "healops_http_request_duration_seconds_count"
                               "{route=\"/api/v1/state\",method=\"GET\"}") ==
                (before_cnt < 0 ? 0 : before_cnt) + 3);
    assert_true(sample(b.data, "healops_http_request_duration_seconds_sum"
                               "{route=\"/api/v1/state\",method=\"GET\"}") >= 20.073);
    buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_name_sanitize),
        cmocka_unit_test(test_prom_label_value_escapes),
        cmocka_unit_test(test_prom_labels_and_family),
        cmocka_unit_test(test_prom_number_formats),
        cmocka_unit_test(test_prom_put_functions),
        cmocka_unit_test(test_prom_long_line),
        cmocka_unit_test(test_prom_histogram_cumulative),
        cmocka_unit_test(test_prom_cap_is_an_error),
        cmocka_unit_test(test_stats_route_templates),
        cmocka_unit_test(test_stats_counts_and_exposes),
    };

    return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}

/*
 * Unit tests for agent/tcollector.c: the tcollector line format, good lines of
 * every shape and hostile input (long lines, NUL bytes, NaN/inf, 1e400,
 * negative and huge timestamps, bad characters and UTF-8, too many and
 * duplicate tags, empty lines, CRLF, random bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mem.h"
#include "tcollector.h"

#define NOW_MS 1764000000123LL /* 2025-11-24T16:00:00.123Z */

static void parse_n(const char *text, size_t len, size_t max_metrics, size_t max_tags,
                    int truncated, struct tcollector_result *r)
{
    struct tcollector_opts o;

    memset(&o, 0, sizeof(o));
    o.now_ms = NOW_MS;
    o.max_metrics = max_metrics;
    o.max_tags = max_tags;
    o.truncated = truncated;
    tcollector_parse(text, len, &o, r);
    assert_int_equal(r->n + r->bad, r->lines);
}

static void parse(const char *text, struct tcollector_result *r)
{
    parse_n(text, strlen(text), 10000, RUN_MAX_TAGS, 0, r);
}

/* Asserts that text is one good line; returns nothing, checks nothing else. */
static void assert_good(const char *line)
{
    struct tcollector_result r;

    parse(line, &r);
    if (r.n != 1 || r.bad != 0)
        fail_msg("\"%s\" should be good, got %zu metrics, %zu bad (%s)", line, r.n, r.bad,
                 r.first_bad_why != NULL ? r.first_bad_why : "-");
    tcollector_result_cleanup(&r);
}

/* Asserts that line is bad, and that the reason starts with why (when not NULL). */
static void assert_bad_len(const char *line, size_t len, const char *why)
{
    struct tcollector_result r;

    parse_n(line, len, 10000, RUN_MAX_TAGS, 0, &r);
    if (r.n != 0 || r.bad != 1)
        fail_msg("\"%.80s\" should be bad, got %zu metrics, %zu bad", line, r.n, r.bad);
    assert_int_equal(r.first_bad_lineno, 1);
    assert_non_null(r.first_bad_why);
    if (why != NULL && strncmp(r.first_bad_why, why, strlen(why)) != 0)
        fail_msg("\"%.80s\": reason \"%s\", want \"%s\"", line, r.first_bad_why, why);
    tcollector_result_cleanup(&r);
}

static void assert_bad(const char *line, const char *why)
{
    assert_bad_len(line, strlen(line), why);
}

static const char *tag(const struct metric *m, const char *key)
{
    size_t i;

    for (i = 0; i < m->ntags; i++) {
        if (strcmp(m->tags[i].key, key) == 0)
            return m->tags[i].value;
    }
    return NULL;
}

/* ---- good input ---- */

static void test_tcollector_parses_lines(void **state)
{
    struct tcollector_result r;

    (void)state;
    parse("sys.cpu.user 1700000000 42 host=web01 cpu=0\n"
          "proc.loadavg.1m 1700000000123 -1.5e3\n"
          "net.bytes 1700000000.25 7 owner=db-2.example\n"
          "now.metric 0 +0.5\n",
          &r);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.first_bad_lineno, 0);
    assert_null(r.first_bad_why);
    assert_string_equal(r.metrics[0].name, "sys.cpu.user");
    assert_int_equal(r.metrics[0].ts_ms, 1700000000000LL);
    assert_true(r.metrics[0].value == 42);
    assert_int_equal(r.metrics[0].ntags, 2);
    assert_string_equal(tag(&r.metrics[0], "host"), "web01");
    assert_string_equal(tag(&r.metrics[0], "cpu"), "0");
    assert_int_equal(r.metrics[1].ts_ms, 1700000000123LL);
    assert_true(r.metrics[1].value == -1500);
    assert_int_equal(r.metrics[1].ntags, 0);
    assert_int_equal(r.metrics[2].ts_ms, 1700000000250LL);
    assert_string_equal(tag(&r.metrics[2], "owner"), "db-2.example");
    assert_int_equal(r.metrics[3].ts_ms, NOW_MS);
    assert_true(r.metrics[3].value == 0.5);
    tcollector_result_cleanup(&r);
    assert_int_equal(r.n, 0);
    assert_null(r.metrics);
    tcollector_result_cleanup(NULL);
}

static void test_tcollector_crlf_blanks_and_empty_lines(void **state)
{
    struct tcollector_result r;

    (void)state;
    parse("a 0 1\r\n\r\n   \n\n\t b/c_d-e 0 2 \t k=v \r\n\n", &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.lines, 2);
    assert_string_equal(r.metrics[1].name, "b/c_d-e");
    assert_string_equal(tag(&r.metrics[1], "k"), "v");
    tcollector_result_cleanup(&r);

    parse("", &r);
    assert_int_equal(r.lines, 0);
    assert_int_equal(r.n, 0);
    tcollector_result_cleanup(&r);

    /* the last line needs no newline; a lone CR inside a line is bad */
    parse("a 0 1\nb 0 2", &r);
    assert_int_equal(r.n, 2);
    tcollector_result_cleanup(&r);
    assert_bad("a 0 1\r k=v", NULL);
    assert_bad("a\r0 1", NULL);
}

static void test_tcollector_values(void **state)
{
    static const char *const good[] = {"1",
                                       "-1",
                                       "+1",
                                       "0",
                                       "-0",
                                       ".5",
                                       "5.",
                                       "1.25",
                                       "1E3",
                                       "1e-3",
                                       "2.5e+10",
                                       "1e308",
                                       "-1.7976931348623157e308",
                                       "123456789012345678901234567890",
                                       NULL};
    static const char *const bad[] = {"nan",   "NaN",    "-nan",   "inf",   "-inf",  "Infinity",
                                      "1e400", "-1e400", "1e-400", "0x10",  "0x1p3", "1,5",
                                      "1e",    "--1",    ".",      "1.2.3", "12abc", "e5",
                                      "+",     "1_000",  "١",      NULL};
    char line[256];
    size_t i;

    (void)state;
    for (i = 0; good[i] != NULL; i++) {
        snprintf(line, sizeof(line), "m 0 %s", good[i]);
        assert_good(line);
    }
    for (i = 0; bad[i] != NULL; i++) {
        snprintf(line, sizeof(line), "m 0 %s", bad[i]);
        assert_bad(line, "value");
    }
    /* a value longer than TCOLLECTOR_MAX_VALUE bytes */
    memset(line, 0, sizeof(line));
    memcpy(line, "m 0 ", 4);
    memset(line + 4, '1', TCOLLECTOR_MAX_VALUE + 1);
    assert_bad(line, "value too long");
    line[4 + TCOLLECTOR_MAX_VALUE] = '\0';
    assert_good(line);
}

static void test_tcollector_timestamps(void **state)
{
    static const char *const bad[] = {"-1",
                                      "-1700000000",
                                      "99999999999999999999",
                                      "1700000000000000",
                                      "17000000000",
                                      "170000000000",
                                      "123",
                                      "946684799",
                                      "00",
                                      "1700000000.",
                                      "1700000000.1234567890",
                                      ".5",
                                      "1e9",
                                      "0x10",
                                      "1700000000,5",
                                      "17000000000.5",
                                      "1700000000000.5",
                                      "+1700000000",
                                      NULL};
    char line[128];
    size_t i;

    (void)state;
    for (i = 0; bad[i] != NULL; i++) {
        snprintf(line, sizeof(line), "m %s 1", bad[i]);
        assert_bad(line, "timestamp");
    }
    assert_good("m 946684800 1"); /* 2000-01-01, the first second allowed */
    assert_good("m 1700000000.123456789 1");
    /* up to a day ahead of now, not more */
    snprintf(line, sizeof(line), "m %lld 1", (NOW_MS + 3600 * 1000) / 1000);
    assert_good(line);
    snprintf(line, sizeof(line), "m %lld 1", NOW_MS + 24LL * 3600 * 1000);
    assert_good(line);
    snprintf(line, sizeof(line), "m %lld 1", NOW_MS + 24LL * 3600 * 1000 + 1);
    assert_bad(line, "timestamp more than a day in the future");
    assert_bad("m 9999999999 1", "timestamp more than a day");
    assert_bad("m 0946684799999 1", "timestamp before"); /* 13 digits, ms */
}

static void test_tcollector_names_and_tags(void **state)
{
    char *longname;

    (void)state;
    assert_good("température.salle 0 21.5 ville=Zürich");
    assert_good("日本.load 0 1 地域=東京");
    assert_good("a 0 1 b=c d=e");
    assert_good("a 0 1 a=1 A=2"); /* keys are case-sensitive */
    assert_bad("bad!name 0 1", "bad metric name");
    assert_bad("a:b 0 1", "bad metric name");
    assert_bad("a\x01 0 1", "bad metric name");
    assert_bad("a\x7f 0 1", "bad metric name");
    assert_bad("price€ 0 1", "bad metric name");            /* a symbol, not a letter */
    assert_bad("a\xff 0 1", "bad metric name");             /* not UTF-8 */
    assert_bad("a\xc0\xaf 0 1", "bad metric name");         /* overlong '/' */
    assert_bad("a\xed\xa0\x80 0 1", "bad metric name");     /* a surrogate */
    assert_bad("a\xf4\x90\x80\x80 0 1", "bad metric name"); /* past U+10FFFF */
    assert_bad("a\xc3 0 1", "bad metric name");             /* cut sequence */
    assert_bad("a 0 1 k", "tag is not key=value");
    assert_bad("a 0 1 =v", "bad tag");
    assert_bad("a 0 1 k=", "bad tag");
    assert_bad("a 0 1 k=v=w", "bad tag");
    assert_bad("a 0 1 k==v", "bad tag");
    assert_bad("a 0 1 k=v\"", "bad tag");
    assert_bad("a 0 1 k=\xe2\x82\xac", "bad tag");
    assert_bad("a 0", "want:");
    assert_bad("a", "want:");
    assert_bad("  \t a \t ", "want:");

    longname = xcalloc(RUN_MAX_NAME + 32, 1);
    memset(longname, 'n', RUN_MAX_NAME);
    memcpy(longname + RUN_MAX_NAME, " 0 1", 5);
    assert_good(longname);
    memset(longname, 'n', RUN_MAX_NAME + 1);
    memcpy(longname + RUN_MAX_NAME + 1, " 0 1", 5);
    assert_bad(longname, "bad metric name");
    memset(longname, 0, RUN_MAX_NAME + 32);
    memcpy(longname, "a 0 1 k=", 8);
    memset(longname + 8, 'v', RUN_MAX_NAME + 1);
    assert_bad(longname, "bad tag");
    longname[8 + RUN_MAX_NAME] = '\0';
    assert_good(longname);
    free(longname);
}

static void test_tcollector_too_many_and_duplicate_tags(void **state)
{
    struct tcollector_result r;
    char line[512];
    size_t i, o;

    (void)state;
    o = (size_t)snprintf(line, sizeof(line), "a 0 1");
    for (i = 0; i < RUN_MAX_TAGS; i++)
        o += (size_t)snprintf(line + o, sizeof(line) - o, " k%zu=v", i);
    assert_good(line);
    /* one tag more than RUN_MAX_TAGS */
    snprintf(line + o, sizeof(line) - o, " extra=1");
    assert_bad(line, "too many tags");
    line[o] = '\0';
    /* a lower limit (the agent keeps room for its own tags) */
    parse_n(line, strlen(line), 10, RUN_MAX_TAGS - 2, 0, &r);
    assert_int_equal(r.bad, 1);
    assert_string_equal(r.first_bad_why, "too many tags");
    tcollector_result_cleanup(&r);
    /* hundreds of fields: still one bad line, nothing overflows */
    o = (size_t)snprintf(line, sizeof(line), "a 0 1");
    while (o + 4 < sizeof(line))
        o += (size_t)snprintf(line + o, sizeof(line) - o, " x=");
    assert_bad(line, "too many tags");

    assert_bad("a 0 1 k=1 k=2", "duplicate tag key");
    assert_bad("a 0 1 k=1 j=3 k=1", "duplicate tag key");
}

static void test_tcollector_nul_bytes(void **state)
{
    static const char text[] = "a 0 1\0 x=y\nb 0 2\n\0\n";
    struct tcollector_result r;

    (void)state;
    parse_n(text, sizeof(text) - 1, 10, RUN_MAX_TAGS, 0, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.metrics[0].name, "b");
    assert_int_equal(r.bad, 2);
    assert_int_equal(r.first_bad_lineno, 1);
    assert_string_equal(r.first_bad_why, "NUL byte in line");
    assert_string_equal(r.first_bad, "a 0 1\\x00 x=y");
    tcollector_result_cleanup(&r);
}

static void test_tcollector_long_lines(void **state)
{
    size_t big = 1024 * 1024;
    char *text = xmalloc(big + 64);
    struct tcollector_result r;

    (void)state;
    memset(text, 'a', big);
    memcpy(text + big, " 0 1\nok 0 2\n", 12);
    parse_n(text, big + 12, 10, RUN_MAX_TAGS, 0, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.metrics[0].name, "ok");
    assert_int_equal(r.bad, 1);
    assert_string_equal(r.first_bad_why, "line too long");
    /* the kept excerpt is bounded and says it was cut */
    assert_true(strlen(r.first_bad) < sizeof(r.first_bad));
    assert_int_equal(strlen(r.first_bad), TCOLLECTOR_BAD_MAX - 4 + 3);
    assert_string_equal(r.first_bad + strlen(r.first_bad) - 3, "...");
    tcollector_result_cleanup(&r);

    /* the same without any newline at all, and a line of NULs */
    parse_n(text, big, 10, RUN_MAX_TAGS, 0, &r);
    assert_int_equal(r.bad, 1);
    tcollector_result_cleanup(&r);
    memset(text, 0, big);
    parse_n(text, big, 10, RUN_MAX_TAGS, 0, &r);
    assert_int_equal(r.bad, 1);
    assert_int_equal(strlen(r.first_bad), (TCOLLECTOR_BAD_MAX - 4) + 3);
    tcollector_result_cleanup(&r);

    /* a line exactly at the cap is parsed (and bad for its name); one byte more is too long */
    memset(text, 'a', TCOLLECTOR_MAX_LINE);
    memcpy(text + TCOLLECTOR_MAX_LINE - 4, " 0 1", 4);
    parse_n(text, TCOLLECTOR_MAX_LINE, 10, RUN_MAX_TAGS, 0, &r);
    assert_int_equal(r.bad, 1);
    assert_string_equal(r.first_bad_why, "bad metric name");
    tcollector_result_cleanup(&r);
    memset(text, 'a', TCOLLECTOR_MAX_LINE + 1);
    memcpy(text + TCOLLECTOR_MAX_LINE - 3, " 0 1", 4);
    parse_n(text, TCOLLECTOR_MAX_LINE + 1, 10, RUN_MAX_TAGS, 0, &r);
    assert_int_equal(r.bad, 1);
    assert_string_equal(r.first_bad_why, "line too long");
    tcollector_result_cleanup(&r);
    free(text);
}

static void test_tcollector_metric_cap(void **state)
{
    struct tcollector_result r;
    struct buf b;
    size_t i;

    (void)state;
    buf_init(&b, 1u << 20);
    for (i = 0; i < 10; i++)
        assert_int_equal(buf_printf(&b, "m%zu 0 %zu\n", i, i), HO_OK);
    parse_n(b.data, b.len, 3, RUN_MAX_TAGS, 0, &r);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.bad, 7);
    assert_int_equal(r.first_bad_lineno, 4);
    assert_string_equal(r.first_bad_why, "over the limit of metrics per run");
    assert_string_equal(r.metrics[2].name, "m2");
    tcollector_result_cleanup(&r);
    buf_cleanup(&b);
}

static void test_tcollector_truncated_output(void **state)
{
    static const char text[] = "a 0 1\nb 0 2";
    struct tcollector_result r;

    (void)state;
    parse_n(text, sizeof(text) - 1, 10, RUN_MAX_TAGS, 1, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.bad, 1);
    assert_int_equal(r.first_bad_lineno, 2);
    assert_string_equal(r.first_bad_why, "cut at the output cap");
    tcollector_result_cleanup(&r);
    /* cut right after a newline: nothing is lost */
    parse_n(text, 6, 10, RUN_MAX_TAGS, 1, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.bad, 0);
    tcollector_result_cleanup(&r);
}

static void test_tcollector_first_bad_is_kept(void **state)
{
    struct tcollector_result r;

    (void)state;
    parse("good 0 1\n\nbad\xff 0 1\nworse\nfine 0 2\n", &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.bad, 2);
    assert_int_equal(r.first_bad_lineno, 3);
    assert_string_equal(r.first_bad_why, "bad metric name");
    assert_string_equal(r.first_bad, "bad\xff 0 1");
    tcollector_result_cleanup(&r);
}

/* Random bytes biased towards the format's own characters: nothing may crash or leak. */
static void test_tcollector_random_input(void **state)
{
    static const char alphabet[] = "ab.=  \t\n\r0123456789-+eE\x00\xff\xc3\xa9xyz";
    size_t len = 200000, i, round;
    char *text = xmalloc(len);
    struct tcollector_result r;
    uint32_t x = 12345;

    (void)state;
    for (round = 0; round < 20; round++) {
        for (i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            text[i] = (round & 1) ? (char)(x >> 24) : alphabet[(x >> 16) % (sizeof(alphabet) - 1)];
        }
        parse_n(text, len, 10000, RUN_MAX_TAGS, round & 2, &r);
        for (i = 0; i < r.n; i++) {
            assert_non_null(r.metrics[i].name);
            assert_true(r.metrics[i].ts_ms >= TCOLLECTOR_MIN_MS);
            assert_true(r.metrics[i].ntags <= RUN_MAX_TAGS);
        }
        tcollector_result_cleanup(&r);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcollector_parses_lines),
        cmocka_unit_test(test_tcollector_crlf_blanks_and_empty_lines),
        cmocka_unit_test(test_tcollector_values),
        cmocka_unit_test(test_tcollector_timestamps),
        cmocka_unit_test(test_tcollector_names_and_tags),
        cmocka_unit_test(test_tcollector_too_many_and_duplicate_tags),
        cmocka_unit_test(test_tcollector_nul_bytes),
        cmocka_unit_test(test_tcollector_long_lines),
        cmocka_unit_test(test_tcollector_metric_cap),
        cmocka_unit_test(test_tcollector_truncated_output),
        cmocka_unit_test(test_tcollector_first_bad_is_kept),
        cmocka_unit_test(test_tcollector_random_input),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

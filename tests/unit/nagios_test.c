/*
 * Unit tests for agent/nagios.c: plugin text, perfdata grammar, caps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "mem.h"
#include "nagios.h"

struct parsed {
    char *text;
    struct metric *m;
    size_t n;
    size_t bad;
};

static void parse_str(const char *s, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    p->bad = nagios_parse(s, strlen(s), &p->text, &p->m, &p->n);
    assert_non_null(p->text);
}

static void parsed_free(struct parsed *p)
{
    size_t i;

    for (i = 0; i < p->n; i++)
        metric_cleanup(&p->m[i]);
    free(p->m);
    free(p->text);
}

/* Asserts metric i has name, value and uom (NULL = no tag). */
static void check_metric(const struct parsed *p, size_t i, const char *name, double value,
                         const char *uom)
{
    assert_true(i < p->n);
    assert_string_equal(p->m[i].name, name);
    assert_true(p->m[i].value == value);
    assert_int_equal(p->m[i].ts_ms, 0);
    if (uom == NULL) {
        assert_int_equal(p->m[i].ntags, 0);
        return;
    }
    assert_int_equal(p->m[i].ntags, 1);
    assert_string_equal(p->m[i].tags[0].key, "uom");
    assert_string_equal(p->m[i].tags[0].value, uom);
}

static void test_nagios_status_map(void **state)
{
    (void)state;
    assert_int_equal(nagios_status(0), TEST_STATUS_OK);
    assert_int_equal(nagios_status(1), TEST_STATUS_WARNING);
    assert_int_equal(nagios_status(2), TEST_STATUS_CRITICAL);
    assert_int_equal(nagios_status(3), TEST_STATUS_UNKNOWN);
    assert_int_equal(nagios_status(4), TEST_STATUS_UNKNOWN);
    assert_int_equal(nagios_status(127), TEST_STATUS_UNKNOWN);
    assert_int_equal(nagios_status(-1), TEST_STATUS_UNKNOWN);
}

static void test_nagios_summary_only(void **state)
{
    struct parsed p;

    (void)state;
    parse_str("DISK OK - free space: / 3326 MB (56%);  \n", &p);
    assert_string_equal(p.text, "DISK OK - free space: / 3326 MB (56%);");
    assert_int_equal(p.n, 0);
    assert_int_equal(p.bad, 0);
    parsed_free(&p);

    parse_str("", &p);
    assert_string_equal(p.text, "");
    assert_int_equal(p.n, 0);
    parsed_free(&p);
}

static void test_nagios_perfdata_first_line(void **state)
{
    struct parsed p;

    (void)state;
    parse_str("PING OK - Packet loss = 0%, RTA = 0.80 ms | percent_packet_loss=0%;20;60;0;100 "
              "rta=0.80ms;100.0;500.0;0; size=100B\n",
              &p);
    assert_string_equal(p.text, "PING OK - Packet loss = 0%, RTA = 0.80 ms");
    assert_int_equal(p.bad, 0);
    assert_int_equal(p.n, 3);
    check_metric(&p, 0, "percent_packet_loss", 0, "%");
    check_metric(&p, 1, "rta", 0.80, "ms");
    check_metric(&p, 2, "size", 100, "B");
    parsed_free(&p);
}

static void test_nagios_quoted_labels(void **state)
{
    struct parsed p;

    (void)state;
    parse_str("OK | 'my label'=5 'it''s'=6% 'a=b c'=7;;; ' spaced '=8 ''''=9", &p);
    assert_int_equal(p.bad, 0);
    assert_int_equal(p.n, 5);
    check_metric(&p, 0, "my label", 5, NULL);
    check_metric(&p, 1, "it's", 6, "%");
    check_metric(&p, 2, "a=b c", 7, NULL);
    check_metric(&p, 3, "spaced", 8, NULL);
    check_metric(&p, 4, "'", 9, NULL);
    parsed_free(&p);
}

static void test_nagios_units(void **state)
{
    static const char *const uoms[] = {"s",  "ms", "us", "%", "B",      "KB",
                                       "MB", "GB", "TB", "c", "widgets"};
    struct parsed p;
    size_t i;

    (void)state;
    parse_str("OK | a=1s b=2ms c=3us d=4% e=5B f=6KB g=7MB h=8GB i=9TB j=10c k=11widgets l=12", &p);
    assert_int_equal(p.bad, 0);
    assert_int_equal(p.n, 12);
    for (i = 0; i < 11; i++)
        check_metric(&p, i, (char[]){(char)('a' + i), '\0'}, (double)(i + 1), uoms[i]);
    check_metric(&p, 11, "l", 12, NULL);
    parsed_free(&p);
}

static void test_nagios_numbers(void **state)
{
    struct parsed p;

    (void)state;
    parse_str("OK | a=-1.5e3 b=+2 c=.5 d=1,5 e=7. f=5es g=1E+2s h=0.25;1:2;@3:4;0;100", &p);
    assert_int_equal(p.bad, 0);
    assert_int_equal(p.n, 8);
    check_metric(&p, 0, "a", -1500, NULL);
    check_metric(&p, 1, "b", 2, NULL);
    check_metric(&p, 2, "c", 0.5, NULL);
    check_metric(&p, 3, "d", 1.5, NULL);
    check_metric(&p, 4, "e", 7, NULL);
    check_metric(&p, 5, "f", 5, "es");
    check_metric(&p, 6, "g", 100, "s");
    check_metric(&p, 7, "h", 0.25, NULL);
    parsed_free(&p);
}

static void test_nagios_unknown_value_skipped(void **state)
{
    struct parsed p;

    (void)state;
    parse_str("UNKNOWN | a=U;1;2;; b=3 'c d'=U", &p);
    assert_int_equal(p.bad, 0);
    assert_int_equal(p.n, 1);
    check_metric(&p, 0, "b", 3, NULL);
    parsed_free(&p);
}

static void test_nagios_garbage_counted(void **state)
{
    struct parsed p;

    (void)state;
    parse_str("OK | x y=abc =5 ''=1 '   '=2 z=1 w= v=inf u=nan t=1e999 s=- 'q'x=1 r=2", &p);
    /* bad: x, y=abc, =5, ''=1, '   '=2, w=, v=inf, u=nan, t=1e999, s=-, 'q'x=1 */
    assert_int_equal(p.bad, 11);
    assert_int_equal(p.n, 2);
    check_metric(&p, 0, "z", 1, NULL);
    check_metric(&p, 1, "r", 2, NULL);
    parsed_free(&p);

    /* An unclosed quote eats the rest of the perfdata. */
    parse_str("OK | a=1 'unclosed=3 b=4", &p);
    assert_int_equal(p.bad, 1);
    assert_int_equal(p.n, 1);
    parsed_free(&p);

    /* Control characters in a label. */
    parse_str("OK | 'a\tb'=1 'c\001'=2", &p);
    assert_int_equal(p.bad, 2);
    assert_int_equal(p.n, 0);
    parsed_free(&p);
}

static void test_nagios_long_text_perfdata(void **state)
{
    struct parsed p;

    (void)state;
    parse_str("DISK OK - free space: | /=2643MB;5948;5958;0;5968\n"
              "/ 15272 MB (77% inode=96%);\n"
              "/boot 68 MB (69% inode=99%); | /boot=68MB;88;93;0;98\n"
              "/home=69357MB;253404;253409;0;253414\n"
              "  'x y'=1c\n",
              &p);
    assert_string_equal(p.text, "DISK OK - free space:\n/ 15272 MB (77% inode=96%);\n"
                                "/boot 68 MB (69% inode=99%);");
    assert_int_equal(p.bad, 0);
    assert_int_equal(p.n, 4);
    check_metric(&p, 0, "/", 2643, "MB");
    check_metric(&p, 1, "/boot", 68, "MB");
    check_metric(&p, 2, "/home", 69357, "MB");
    check_metric(&p, 3, "x y", 1, "c");
    parsed_free(&p);

    /* Long text without perfdata, CRLF endings. */
    parse_str("WARNING: two\r\nfirst detail\r\nsecond detail\r\n", &p);
    assert_string_equal(p.text, "WARNING: two\nfirst detail\r\nsecond detail");
    assert_int_equal(p.n, 0);
    parsed_free(&p);
}

static void test_nagios_stops_at_nul(void **state)
{
    const char out[] = "OK\0| a=1\nmore";
    struct parsed p;

    (void)state;
    memset(&p, 0, sizeof(p));
    p.bad = nagios_parse(out, sizeof(out) - 1, &p.text, &p.m, &p.n);
    assert_string_equal(p.text, "OK");
    assert_int_equal(p.n, 0);
    parsed_free(&p);
}

static void test_nagios_appends_to_existing(void **state)
{
    struct parsed p;
    const char *perf = "a=1 b=2";

    (void)state;
    memset(&p, 0, sizeof(p));
    p.m = xcalloc(1, sizeof(*p.m));
    p.m[0].name = xstrdup("probe.metric");
    p.n = 1;
    assert_int_equal(nagios_perfdata_parse(perf, strlen(perf), &p.m, &p.n), 0);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.m[0].name, "probe.metric");
    check_metric(&p, 1, "a", 1, NULL);
    check_metric(&p, 2, "b", 2, NULL);
    parsed_free(&p);
}

static void test_nagios_caps(void **state)
{
    struct buf b;
    struct parsed p;
    char *label;
    size_t i;

    (void)state;
    /* More items than RUN_MAX_METRICS: the rest are counted as skipped. */
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_appends(&b, "OK |"), HO_OK);
    for (i = 0; i < RUN_MAX_METRICS + 88; i++)
        assert_int_equal(buf_printf(&b, " m%zu=%zu", i, i), HO_OK);
    parse_str(b.data, &p);
    assert_int_equal(p.n, RUN_MAX_METRICS);
    assert_int_equal(p.bad, 88);
    check_metric(&p, RUN_MAX_METRICS - 1, "m511", 511, NULL);
    parsed_free(&p);
    buf_cleanup(&b);

    /* Label length: RUN_MAX_NAME is fine, one more is not. */
    label = xmalloc(RUN_MAX_NAME + 2);
    memset(label, 'L', RUN_MAX_NAME + 1);
    label[RUN_MAX_NAME + 1] = '\0';
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_printf(&b, "OK | '%s'=1 %.*s=2", label, RUN_MAX_NAME, label), HO_OK);
    parse_str(b.data, &p);
    assert_int_equal(p.bad, 1);
    assert_int_equal(p.n, 1);
    assert_int_equal(strlen(p.m[0].name), RUN_MAX_NAME);
    parsed_free(&p);
    buf_cleanup(&b);
    free(label);
}

static void test_nagios_text_capped_on_utf8_boundary(void **state)
{
    size_t len = RUN_MAX_OUTPUT + 100, i;
    char *out = xmalloc(len + 1);
    struct parsed p;

    (void)state;
    /* "é" (2 bytes) repeated after one ASCII byte: the cap falls inside a sequence. */
    out[0] = 'x';
    for (i = 1; i + 1 < len; i += 2) {
        out[i] = (char)0xC3;
        out[i + 1] = (char)0xA9;
    }
    out[i] = '\0';
    parse_str(out, &p);
    assert_true(strlen(p.text) <= RUN_MAX_OUTPUT);
    assert_true(strlen(p.text) >= RUN_MAX_OUTPUT - 3);
    assert_int_equal((unsigned char)p.text[strlen(p.text) - 1], 0xA9);
    parsed_free(&p);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nagios_status_map),
        cmocka_unit_test(test_nagios_summary_only),
        cmocka_unit_test(test_nagios_perfdata_first_line),
        cmocka_unit_test(test_nagios_quoted_labels),
        cmocka_unit_test(test_nagios_units),
        cmocka_unit_test(test_nagios_numbers),
        cmocka_unit_test(test_nagios_unknown_value_skipped),
        cmocka_unit_test(test_nagios_garbage_counted),
        cmocka_unit_test(test_nagios_long_text_perfdata),
        cmocka_unit_test(test_nagios_stops_at_nul),
        cmocka_unit_test(test_nagios_appends_to_existing),
        cmocka_unit_test(test_nagios_caps),
        cmocka_unit_test(test_nagios_text_capped_on_utf8_boundary),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

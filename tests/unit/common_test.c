/*
 * Unit tests for the small common modules: clock (RFC 3339), parse (bounded
 * numbers, host:port), buf (capped buffer), crypto (tokens, SHA-256, UUIDv7),
 * log (log_safe) and error (HTTP statuses, error reports).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "clock.h"
#include "crypto.h"
#include "error.h"
#include "log.h"
#include "parse.h"
#include "utf8.h"

#define T_2026_11_24_14 1795528800000LL /* 2026-11-24T14:00:00Z in ms */

/* ---------------------------------------------------------------- clock */

static int64_t parse_ok(const char *s)
{
    int64_t ms = -1;

    if (clock_parse_rfc3339(s, &ms) != HO_OK)
        fail_msg("clock_parse_rfc3339 refused \"%s\"", s);
    return ms;
}

static void test_clock_parse_utc_z(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-11-24T14:00:00Z"), T_2026_11_24_14);
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    /* RFC 3339 5.6 note: "T" and "Z" may be lowercase */
    assert_int_equal(parse_ok("2026-11-24t14:00:00z"), T_2026_11_24_14);
}

static void test_clock_parse_offsets(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-11-24T15:30:00+01:30"), T_2026_11_24_14);
    assert_int_equal(parse_ok("2026-11-24T09:00:00-05:00"), T_2026_11_24_14);
    assert_int_equal(parse_ok("2026-11-24T14:00:00+00:00"), T_2026_11_24_14);
    assert_int_equal(parse_ok("2026-11-24T14:00:00-00:00"), T_2026_11_24_14);
    /* an offset moving the instant across midnight */
    assert_int_equal(parse_ok("2026-11-25T00:30:00+10:30"), T_2026_11_24_14);
}

static void test_clock_parse_fractions(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-11-24T14:00:00.123Z"), T_2026_11_24_14 + 123);
    assert_int_equal(parse_ok("2026-11-24T14:00:00.5Z"), T_2026_11_24_14 + 500);
    assert_int_equal(parse_ok("2026-11-24T14:00:00.05Z"), T_2026_11_24_14 + 50);
    /* digits past milliseconds are dropped, not rounded */
    assert_int_equal(parse_ok("2026-11-24T14:00:00.123999999Z"), T_2026_11_24_14 + 123);
    assert_int_equal(parse_ok("2026-11-24T15:00:00.250+01:00"), T_2026_11_24_14 + 250);
}

static void test_clock_parse_leap_days(void **state)
{
    int64_t ms;

    (void)state;
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), 1709164800000LL);
    assert_int_equal(parse_ok("2000-02-29T12:34:56Z"), 951827696000LL); /* 400-year rule */
    assert_int_equal(clock_parse_rfc3339("2023-02-29T00:00:00Z", &ms), HO_EINVAL);
    assert_int_equal(clock_parse_rfc3339("2100-02-29T00:00:00Z", &ms), HO_EINVAL); /* 100 */
    assert_int_equal(clock_parse_rfc3339("2024-02-30T00:00:00Z", &ms), HO_EINVAL);
    assert_int_equal(clock_parse_rfc3339("2026-04-31T00:00:00Z", &ms), HO_EINVAL);
    assert_int_equal(clock_parse_rfc3339("2026-12-31T23:59:59Z", &ms), HO_OK);
}

static void test_clock_parse_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "yesterday",
        "2026-11-24",
        "2026-11-24T14:00:00",        /* no zone */
        "2026-11-24T14:00Z",          /* no seconds */
        "2026-11-24X14:00:00Z",       /* bad separator */
        "2026-13-01T00:00:00Z",       /* month 13 */
        "2026-00-01T00:00:00Z",       /* month 0 */
        "2026-11-00T00:00:00Z",       /* day 0 */
        "2026-11-31T00:00:00Z",       /* November has 30 days */
        "2026-11-24T24:00:00Z",       /* hour 24 */
        "2026-11-24T14:60:00Z",       /* minute 60 */
        "2026-11-24T14:00:61Z",       /* second 61 */
        "2026-11-24T14:00:00.Z",      /* empty fraction */
        "2026-11-24T14:00:00.12345678901Z", /* absurd fraction */
        "2026-11-24T14:00:00Zjunk",   /* trailing text */
        "2026-11-24T14:00:00 Z",      /* space before zone */
        "2026-11-24T14:00:00+0100",   /* offset without colon */
        "2026-11-24T14:00:00+01",     /* short offset */
        "2026-11-24T14:00:00+24:00",  /* offset hour 24 */
        "2026-11-24T14:00:00+01:60",  /* offset minute 60 */
        "1969-12-31T23:59:59Z",       /* before the epoch */
        "1970-01-01T00:30:00+01:00",  /* before the epoch by its offset */
        "20261124T140000Z",           /* basic format is not RFC 3339 */
        "2026-1-24T14:00:00Z",
        "+2026-11-24T14:00:00Z",
        NULL,
    };
    size_t i;
    int64_t ms = 42;

    (void)state;
    for (i = 0; bad[i] != NULL; i++) {
        if (clock_parse_rfc3339(bad[i], &ms) != HO_EINVAL)
            fail_msg("clock_parse_rfc3339 accepted \"%s\"", bad[i]);
    }
    assert_int_equal(clock_parse_rfc3339(NULL, &ms), HO_EINVAL);
    assert_int_equal(ms, 42); /* untouched on error */
}

static void test_clock_format_known_values(void **state)
{
    char out[CLOCK_RFC3339_LEN];

    (void)state;
    clock_format_rfc3339(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    clock_format_rfc3339(T_2026_11_24_14 + 123, out);
    assert_string_equal(out, "2026-11-24T14:00:00.123Z");
    clock_format_rfc3339(1709164800000LL + 86399999LL, out);
    assert_string_equal(out, "2024-02-29T23:59:59.999Z");
    clock_format_rfc3339(253402300799999LL, out);
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
}

static void test_clock_format_round_trip(void **state)
{
    static const int64_t vals[] = {0,           1,           999,         1000,
                                   951827696007, 1709164800000, 1795528800123, 4102444799999};
    char out[CLOCK_RFC3339_LEN];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        clock_format_rfc3339(vals[i], out);
        assert_int_equal(strlen(out), 24);
        assert_int_equal(parse_ok(out), vals[i]);
    }
}

static void test_clock_wall_override(void **state)
{
    (void)state;
    clock_set_wall_override(T_2026_11_24_14);
    assert_int_equal(clock_wall_ms(), T_2026_11_24_14);
    assert_int_equal(clock_wall_ms(), T_2026_11_24_14); /* frozen */
    clock_set_wall_override(0);
    assert_true(clock_wall_ms() > 1600000000000LL); /* the real clock again */
    assert_true(clock_mono_ms() <= clock_mono_ms());
}

/* ---------------------------------------------------------------- parse */

static void test_parse_u64_bounds(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(parse_u64("0", 0, 10, &v), HO_OK);
    assert_int_equal(v, 0);
    assert_int_equal(parse_u64("10", 0, 10, &v), HO_OK);
    assert_int_equal(v, 10);
    assert_int_equal(parse_u64("0010", 0, 10, &v), HO_OK);
    assert_int_equal(v, 10);
    assert_int_equal(parse_u64("18446744073709551615", 0, UINT64_MAX, &v), HO_OK);
    assert_true(v == UINT64_MAX);
    v = 7;
    assert_int_equal(parse_u64("11", 0, 10, &v), HO_EINVAL);
    assert_int_equal(parse_u64("4", 5, 10, &v), HO_EINVAL);
    assert_int_equal(parse_u64("18446744073709551616", 0, UINT64_MAX, &v), HO_EINVAL);
    assert_int_equal(v, 7); /* untouched on error */
}

static void test_parse_u64_junk(void **state)
{
    static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "abc", "12abc", "1.0",
                                      "0x10", "1e3", NULL};
    uint64_t v;
    size_t i;

    (void)state;
    for (i = 0; bad[i] != NULL; i++) {
        if (parse_u64(bad[i], 0, UINT64_MAX, &v) != HO_EINVAL)
            fail_msg("parse_u64 accepted \"%s\"", bad[i]);
    }
    assert_int_equal(parse_u64(NULL, 0, 10, &v), HO_EINVAL);
}

static void test_parse_i64_bounds_and_junk(void **state)
{
    static const char *const bad[] = {"", " 1", "1 ", "--1", "abc", "1.5", "9223372036854775808",
                                      "-9223372036854775809", NULL};
    int64_t v = 3;
    size_t i;

    (void)state;
    assert_int_equal(parse_i64("-5", -10, 10, &v), HO_OK);
    assert_int_equal(v, -5);
    assert_int_equal(parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), HO_OK);
    assert_true(v == INT64_MIN);
    assert_int_equal(parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v), HO_OK);
    assert_true(v == INT64_MAX);
    v = 3;
    assert_int_equal(parse_i64("-11", -10, 10, &v), HO_EINVAL);
    assert_int_equal(parse_i64("11", -10, 10, &v), HO_EINVAL);
    for (i = 0; bad[i] != NULL; i++) {
        if (parse_i64(bad[i], INT64_MIN, INT64_MAX, &v) != HO_EINVAL)
            fail_msg("parse_i64 accepted \"%s\"", bad[i]);
    }
    assert_int_equal(parse_i64(NULL, 0, 1, &v), HO_EINVAL);
    assert_int_equal(v, 3);
}

static void test_parse_double_values_and_junk(void **state)
{
    static const char *const bad[] = {"", " 1", "1 ", "1.5x", "abc", "nan", "NaN", "inf",
                                      "-Infinity", "1e400", "-1e400", NULL};
    double v = 0;
    size_t i;

    (void)state;
    assert_int_equal(parse_double("1.5", &v), HO_OK);
    assert_true(v == 1.5);
    assert_int_equal(parse_double("-2e3", &v), HO_OK);
    assert_true(v == -2000.0);
    assert_int_equal(parse_double("0", &v), HO_OK);
    assert_true(v == 0.0);
    v = 9;
    for (i = 0; bad[i] != NULL; i++) {
        if (parse_double(bad[i], &v) != HO_EINVAL)
            fail_msg("parse_double accepted \"%s\"", bad[i]);
    }
    assert_int_equal(parse_double(NULL, &v), HO_EINVAL);
    assert_true(v == 9.0);
}

static void test_parse_host_port_forms(void **state)
{
    char host[64];
    int port = 0;

    (void)state;
    assert_int_equal(parse_host_port("127.0.0.1:8443", host, sizeof(host), &port), HO_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8443);
    assert_int_equal(parse_host_port("[::1]:8443", host, sizeof(host), &port), HO_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8443);
    assert_int_equal(parse_host_port("example.org:1", host, sizeof(host), &port), HO_OK);
    assert_string_equal(host, "example.org");
    assert_int_equal(port, 1);
    assert_int_equal(parse_host_port("h:65535", host, sizeof(host), &port), HO_OK);
    assert_int_equal(port, 65535);
}

static void test_parse_host_port_invalid(void **state)
{
    static const char *const bad[] = {"", "localhost", "localhost:", ":8443", "h:0", "h:65536",
                                      "h:-1", "h:80x", "[::1]", "[::1]8443", "[::1:8443",
                                      "[]:80", NULL};
    char host[64];
    int port = 77;
    size_t i;

    (void)state;
    for (i = 0; bad[i] != NULL; i++) {
        if (parse_host_port(bad[i], host, sizeof(host), &port) != HO_EINVAL)
            fail_msg("parse_host_port accepted \"%s\"", bad[i]);
    }
    assert_int_equal(parse_host_port(NULL, host, sizeof(host), &port), HO_EINVAL);
    /* host buffer too small for "abcdef" + NUL */
    assert_int_equal(parse_host_port("abcdef:80", host, 6, &port), HO_EINVAL);
    assert_int_equal(parse_host_port("abcde:80", host, 6, &port), HO_OK);
    assert_string_equal(host, "abcde");
    assert_int_equal(port, 80);
}

/* ---------------------------------------------------------------- buf */

static void test_buf_cap_enforced(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_appends(&b, "hello"), HO_OK);
    assert_int_equal(buf_appends(&b, "world!"), HO_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    assert_int_equal(buf_appends(&b, "world"), HO_OK); /* exactly the cap */
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "helloworld");
    assert_int_equal(buf_append(&b, "x", 1), HO_ETOOBIG);
    assert_int_equal(buf_printf(&b, "%d", 1), HO_ETOOBIG);
    assert_string_equal(b.data, "helloworld");
    assert_int_equal(b.len, 10);
    /* a huge n must not wrap around the cap check */
    assert_int_equal(buf_append(&b, "x", SIZE_MAX), HO_ETOOBIG);
    assert_int_equal(b.len, 10);
    buf_cleanup(&b);
    assert_null(b.data);
}

static void test_buf_cap_zero(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(buf_append(&b, "a", 1), HO_ETOOBIG);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
}

static void test_buf_printf_growth(void **state)
{
    struct buf b;
    char big[1001];
    size_t i;

    (void)state;
    memset(big, 'x', 1000);
    big[1000] = '\0';
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_printf(&b, "n=%d ", 42), HO_OK);
    assert_string_equal(b.data, "n=42 ");
    /* longer than the 256-byte fast path: goes through the heap copy */
    assert_int_equal(buf_printf(&b, "[%s]", big), HO_OK);
    assert_int_equal(b.len, 5 + 1002);
    assert_memory_equal(b.data, "n=42 [x", 7);
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], '\0');
    for (i = 0; i < 100; i++)
        assert_int_equal(buf_printf(&b, "%05zu", i), HO_OK);
    assert_int_equal(b.len, 1007 + 500);
    assert_memory_equal(b.data + b.len - 5, "00099", 5);
    assert_true(b.size > b.len);
    buf_cleanup(&b);
}

static void test_buf_printf_past_cap_unchanged(void **state)
{
    struct buf b;
    char big[301];

    (void)state;
    memset(big, 'y', 300);
    big[300] = '\0';
    buf_init(&b, 300);
    assert_int_equal(buf_appends(&b, "ab"), HO_OK);
    assert_int_equal(buf_printf(&b, "%s", big), HO_ETOOBIG);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "ab");
    buf_cleanup(&b);
}

static void test_buf_take_and_reset(void **state)
{
    struct buf b;
    char *s;

    (void)state;
    buf_init(&b, 100);
    s = buf_take(&b); /* empty: still a string */
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(buf_appends(&b, "abc"), HO_OK);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(buf_appends(&b, "def"), HO_OK);
    s = buf_take(&b);
    assert_string_equal(s, "def");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);
    /* usable after take, cap kept */
    assert_int_equal(buf_appends(&b, "0123456789"), HO_OK);
    buf_cleanup(&b);
}

/* ---------------------------------------------------------------- crypto */

static void test_crypto_token_format(void **state)
{
    char a[CRYPTO_TOKEN_LEN], b[CRYPTO_TOKEN_LEN];
    size_t i;

    (void)state;
    assert_int_equal(crypto_token_new(a), HO_OK);
    assert_int_equal(crypto_token_new(b), HO_OK);
    assert_int_equal(strlen(a), 4 + 43);
    assert_memory_equal(a, "hot_", 4);
    for (i = 4; i < 47; i++) {
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]) ==
            NULL)
            fail_msg("token char %zu is '%c', not base64url", i, a[i]);
    }
    assert_string_not_equal(a, b);
}

static void test_crypto_sha256_known_vectors(void **state)
{
    char out[CRYPTO_SHA256_HEX_LEN];

    (void)state;
    crypto_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    crypto_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_crypto_uuid_v7_layout(void **state)
{
    char a[CRYPTO_UUID_LEN], b[CRYPTO_UUID_LEN];
    const int64_t ms = 0x0123456789ABLL;

    (void)state;
    assert_int_equal(crypto_uuid_v7(ms, a), HO_OK);
    assert_int_equal(crypto_uuid_v7(ms, b), HO_OK);
    assert_int_equal(strlen(a), 36);
    assert_true(crypto_uuid_valid(a));
    /* 48-bit big-endian ms timestamp first */
    assert_memory_equal(a, "01234567-89ab-", 14);
    assert_int_equal(a[14], '7');                    /* version */
    assert_non_null(strchr("89ab", a[19]));          /* variant 10xx */
    assert_string_not_equal(a, b);                   /* random tail */
    /* time ordering: a later ms sorts after */
    assert_int_equal(crypto_uuid_v7(ms + 1, b), HO_OK);
    assert_true(strcmp(a, b) < 0);
    assert_int_equal(crypto_uuid_v7(T_2026_11_24_14, b), HO_OK);
    assert_memory_equal(b, "01a20ddb-3700-", 14);
}

static void test_crypto_uuid_valid(void **state)
{
    (void)state;
    assert_true(crypto_uuid_valid("019ab642-e700-7abc-8def-0123456789ab"));
    assert_true(crypto_uuid_valid("019AB642-E700-7ABC-8DEF-0123456789AB"));
    assert_false(crypto_uuid_valid(NULL));
    assert_false(crypto_uuid_valid(""));
    assert_false(crypto_uuid_valid("019ab642-e700-7abc-8def-0123456789a"));   /* short */
    assert_false(crypto_uuid_valid("019ab642-e700-7abc-8def-0123456789abc")); /* long */
    assert_false(crypto_uuid_valid("019ab642e700-7abc-8def-0123456789ab0"));  /* dash moved */
    assert_false(crypto_uuid_valid("019ab642-e700-7abc-8def-0123456789ag"));  /* not hex */
    assert_false(crypto_uuid_valid("{19ab642-e700-7abc-8def-0123456789ab"));
}

static void test_crypto_ct_equal(void **state)
{
    (void)state;
    assert_true(crypto_ct_equal("abcdef", "abcdef", 6));
    assert_false(crypto_ct_equal("abcdef", "abcdeg", 6));
    assert_true(crypto_ct_equal("abcdef", "abcdeg", 5));
}

/* ---------------------------------------------------------------- log */

static void test_log_safe_plain_copy(void **state)
{
    char out[64];

    (void)state;
    assert_ptr_equal(log_safe(out, sizeof(out), "agent web-1 ok"), out);
    assert_string_equal(out, "agent web-1 ok");
    log_safe(out, sizeof(out), "");
    assert_string_equal(out, "");
    log_safe(out, sizeof(out), NULL);
    assert_string_equal(out, "");
}

static void test_log_safe_escapes(void **state)
{
    char out[64];

    (void)state;
    log_safe(out, sizeof(out), "a\nb\tc\x7f\xff\x1b[31m");
    assert_string_equal(out, "a\\x0ab\\x09c\\x7f\\xff\\x1b[31m");
}

static void test_log_safe_truncates(void **state)
{
    char out[64];
    char big[200];

    (void)state;
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_safe(out, sizeof(out), big);
    assert_int_equal(strlen(out), sizeof(out) - 1);
    assert_string_equal(out + sizeof(out) - 4, "...");
    assert_memory_equal(out, "qqqq", 4);

    log_safe(out, 8, "abcdefghij");
    assert_string_equal(out, "abcd...");
    /* exactly fitting text is not truncated */
    log_safe(out, 8, "abcdefg");
    assert_string_equal(out, "abcdefg");
    /* an escape that does not fit truncates too */
    log_safe(out, 8, "abcde\x01");
    assert_true(strlen(out) <= 7);
    assert_non_null(strstr(out, "..."));
}

/*
 * BUG (common/log.c, log_safe): with a small destination (n = 4 or 5) and
 * truncation at o <= 3, the "..." is written at dst+o without being moved
 * back, so up to 2 bytes past dst[n-1] are overwritten. Canary bytes after
 * the n-byte window must stay untouched.
 */
static void test_log_safe_small_buffer_stays_in_bounds(void **state)
{
    char out[16];

    (void)state;
    memset(out, 'Z', sizeof(out));
    log_safe(out, 4, "abcdef");
    assert_true(strlen(out) <= 3);
    assert_int_equal(out[4], 'Z');
    assert_int_equal(out[5], 'Z');

    memset(out, 'Z', sizeof(out));
    log_safe(out, 5, "abc\x01xyz");
    assert_true(strlen(out) <= 4);
    assert_int_equal(out[5], 'Z');

    memset(out, 'Z', sizeof(out));
    log_safe(out, 4, "ab\x01");
    assert_true(strlen(out) <= 3);
    assert_int_equal(out[4], 'Z');

    /* n too small for "...": plain truncation, never past n */
    memset(out, 'Z', sizeof(out));
    log_safe(out, 3, "abcdef");
    assert_string_equal(out, "ab");
    assert_int_equal(out[3], 'Z');
    memset(out, 'Z', sizeof(out));
    log_safe(out, 1, "abcdef");
    assert_string_equal(out, "");
    assert_int_equal(out[1], 'Z');
    memset(out, 'Z', sizeof(out));
    log_safe(out, 0, "abcdef");
    assert_int_equal(out[0], 'Z');
}

static void test_log_level_parse_and_str(void **state)
{
    enum log_level l = LOG_LEVEL_ERROR;

    (void)state;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("warning", &l), 0);
    assert_int_equal(l, LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("loud", &l), -1);
    assert_int_equal(l, LOG_LEVEL_WARN);
    assert_string_equal(log_level_str(LOG_LEVEL_ERROR), "error");
    assert_string_equal(log_level_str(LOG_LEVEL_INFO), "info");
}

/* ---------------------------------------------------------------- error */

static void test_error_http_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(ho_code_http_status(HO_OK), 200);
    assert_int_equal(ho_code_http_status(HO_EINVAL), 400);
    assert_int_equal(ho_code_http_status(HO_EAUTH), 401);
    assert_int_equal(ho_code_http_status(HO_EPERM), 403);
    assert_int_equal(ho_code_http_status(HO_ENOENT), 404);
    assert_int_equal(ho_code_http_status(HO_EEXIST), 409);
    assert_int_equal(ho_code_http_status(HO_ETOOBIG), 413);
    assert_int_equal(ho_code_http_status(HO_ELIMIT), 429);
    assert_int_equal(ho_code_http_status(HO_EIO), 503);
    assert_int_equal(ho_code_http_status(HO_EDB), 503);
    assert_int_equal(ho_code_http_status(HO_ETIMEOUT), 503);
    assert_int_equal(ho_code_http_status(HO_EBUSY), 503);
    assert_int_equal(ho_code_http_status(HO_EINTERNAL), 500);
    assert_int_equal(ho_code_http_status((enum ho_code)99), 500);
    assert_string_equal(ho_code_str(HO_ETOOBIG), "ETOOBIG");
    assert_string_equal(ho_code_str((enum ho_code)99), "EUNKNOWN");
}

static void test_error_set_and_clear(void **state)
{
    struct ho_error err;

    (void)state;
    assert_int_equal(ho_error_set(&err, HO_EINVAL, "test.status", "bad %s %d", "x", 3),
                     HO_EINVAL);
    assert_string_equal(err.msg, "bad x 3");
    assert_string_equal(err.field, "test.status");
    assert_int_equal(ho_error_set(&err, HO_ENOENT, NULL, "gone"), HO_ENOENT);
    assert_string_equal(err.field, "");
    assert_int_equal(ho_error_set(NULL, HO_EIO, "f", "m"), HO_EIO);
    ho_error_clear(&err);
    assert_string_equal(err.msg, "");
    assert_string_equal(err.field, "");
    ho_error_clear(NULL);
}

static void test_error_prefix_field(void **state)
{
    struct ho_error err;
    char longp[300];

    (void)state;
    ho_error_set(&err, HO_EINVAL, "status", "m");
    ho_error_prefix_field(&err, "runs[3].test");
    assert_string_equal(err.field, "runs[3].test.status");

    ho_error_set(&err, HO_EINVAL, "", "m");
    ho_error_prefix_field(&err, "runs[3]");
    assert_string_equal(err.field, "runs[3]");

    ho_error_set(&err, HO_EINVAL, "[2].name", "m");
    ho_error_prefix_field(&err, "checks");
    assert_string_equal(err.field, "checks[2].name");

    /* empty or NULL prefix: unchanged */
    ho_error_set(&err, HO_EINVAL, "a", "m");
    ho_error_prefix_field(&err, "");
    ho_error_prefix_field(&err, NULL);
    assert_string_equal(err.field, "a");
    ho_error_prefix_field(NULL, "x");

    /* an over-long prefix is truncated, still NUL-terminated */
    memset(longp, 'p', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    ho_error_prefix_field(&err, longp);
    assert_int_equal(strlen(err.field), HO_ERROR_FIELD_MAX - 1);
    assert_string_equal(err.msg, "m");
}

static void test_utf8_cut_keeps_sequences_whole(void **state)
{
    const char *s = "ab\xc3\xbc\xe2\x82\xac"; /* a b u-umlaut euro: 2 + 2 + 3 bytes */

    (void)state;
    assert_int_equal(utf8_cut(s, 7, 10), 7);  /* fits */
    assert_int_equal(utf8_cut(s, 7, 4), 4);   /* after the u-umlaut */
    assert_int_equal(utf8_cut(s, 7, 3), 2);   /* not inside the u-umlaut */
    assert_int_equal(utf8_cut(s, 7, 6), 4);   /* not inside the euro sign */
    assert_int_equal(utf8_cut(s, 7, 0), 0);
    /* bytes that are not UTF-8: at most 3 back */
    assert_int_equal(utf8_cut("\x80\x80\x80\x80\x80\x80", 6, 5), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_cut_keeps_sequences_whole),
        cmocka_unit_test(test_clock_parse_utc_z),
        cmocka_unit_test(test_clock_parse_offsets),
        cmocka_unit_test(test_clock_parse_fractions),
        cmocka_unit_test(test_clock_parse_leap_days),
        cmocka_unit_test(test_clock_parse_invalid),
        cmocka_unit_test(test_clock_format_known_values),
        cmocka_unit_test(test_clock_format_round_trip),
        cmocka_unit_test(test_clock_wall_override),
        cmocka_unit_test(test_parse_u64_bounds),
        cmocka_unit_test(test_parse_u64_junk),
        cmocka_unit_test(test_parse_i64_bounds_and_junk),
        cmocka_unit_test(test_parse_double_values_and_junk),
        cmocka_unit_test(test_parse_host_port_forms),
        cmocka_unit_test(test_parse_host_port_invalid),
        cmocka_unit_test(test_buf_cap_enforced),
        cmocka_unit_test(test_buf_cap_zero),
        cmocka_unit_test(test_buf_printf_growth),
        cmocka_unit_test(test_buf_printf_past_cap_unchanged),
        cmocka_unit_test(test_buf_take_and_reset),
        cmocka_unit_test(test_crypto_token_format),
        cmocka_unit_test(test_crypto_sha256_known_vectors),
        cmocka_unit_test(test_crypto_uuid_v7_layout),
        cmocka_unit_test(test_crypto_uuid_valid),
        cmocka_unit_test(test_crypto_ct_equal),
        cmocka_unit_test(test_log_safe_plain_copy),
        cmocka_unit_test(test_log_safe_escapes),
        cmocka_unit_test(test_log_safe_truncates),
        cmocka_unit_test(test_log_safe_small_buffer_stays_in_bounds),
        cmocka_unit_test(test_log_level_parse_and_str),
        cmocka_unit_test(test_error_http_status_mapping),
        cmocka_unit_test(test_error_set_and_clear),
        cmocka_unit_test(test_error_prefix_field),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

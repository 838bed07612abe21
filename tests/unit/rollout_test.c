/*
 * Tests of the pure rollout logic (server/rollout.h): package names and versions,
 * SemVer precedence, label selectors, the rollout bucket (stable, uniform, independent
 * per package), the per-agent decision and the halting rule around its thresholds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "rollout.h"
#include "run.h"

static void test_rollout_name_rules(void **state)
{
    char long_name[80];

    (void)state;
    assert_true(rollout_name_ok("nginx"));
    assert_true(rollout_name_ok("0base.disk_free-2"));
    assert_false(rollout_name_ok(""));
    assert_false(rollout_name_ok("Nginx"));
    assert_false(rollout_name_ok("-nginx"));
    assert_false(rollout_name_ok("ngi nx"));
    assert_false(rollout_name_ok("a/b"));
    assert_false(rollout_name_ok(NULL));
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    assert_false(rollout_name_ok(long_name));
    long_name[64] = '\0';
    assert_true(rollout_name_ok(long_name));
}

static void test_rollout_semver_valid(void **state)
{
    static const char *const good[] = {
        "0.0.0",           "1.4.0",         "10.20.30",         "1.0.0-rc.1",
        "1.0.0-alpha-1.x", "1.0.0+build.7", "1.0.0-0.3.7+sha.1"};
    static const char *const bad[] = {"",       "1",          "1.0",      "1.0.0.0", "01.0.0",
                                      "1.00.0", "1.0.0-",     "1.0.0-01", "1.0.0+",  "v1.0.0",
                                      "1.0.0 ", "1.0.0-a..b", "latest",   "1.0.0-é"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(rollout_semver_ok(good[i]));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (rollout_semver_ok(bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_rollout_semver_order(void **state)
{
    /* ascending, from the SemVer 2.0 specification's example and numeric cases */
    static const char *const asc[] = {
        "0.9.9",      "1.0.0-alpha",  "1.0.0-alpha.1", "1.0.0-alpha.beta",
        "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
        "1.0.0",      "1.0.1",        "1.2.0",         "1.10.0",
        "2.0.0-rc.1", "2.0.0",        "10.0.0",        "123456789012345678901.0.0"};
    size_t i, j, n = sizeof(asc) / sizeof(asc[0]);
    int c;

    (void)state;
    for (i = 0; i < n; i++) {
        assert_true(rollout_semver_ok(asc[i]));
        for (j = 0; j < n; j++) {
            c = rollout_semver_cmp(asc[i], asc[j]);
            if ((i < j && c >= 0) || (i > j && c <= 0) || (i == j && c != 0))
                fail_msg("cmp(%s, %s) = %d", asc[i], asc[j], c);
        }
    }
    /* build metadata does not change precedence but keeps the order total */
    assert_true(rollout_semver_cmp("1.0.0+a", "1.0.0-rc.1") > 0);
    assert_true(rollout_semver_cmp("1.0.0+a", "1.0.1") < 0);
    assert_true(rollout_semver_cmp("1.0.0+a", "1.0.0+b") < 0);
}

static void test_rollout_latest(void **state)
{
    const char *const mixed[] = {"1.4.0", "1.5.0-rc.1", "1.3.9", "1.4.1+build-2", "0.9.0"};
    const char *const pre[] = {"2.0.0-alpha", "2.0.0-beta", "1.0.0-rc.1"};

    (void)state;
    assert_int_equal(rollout_latest(mixed, 5), 3); /* releases win over a newer pre-release */
    assert_int_equal(rollout_latest(pre, 3), 1);   /* only pre-releases: the newest */
    assert_int_equal(rollout_latest(mixed, 1), 0);
    assert_int_equal(rollout_latest(NULL, 0), 0);
}

static void test_rollout_labels_parse(void **state)
{
    struct ho_error err;
    struct tag *t = NULL;
    size_t n = 0;
    const char *ok = "{\"role\":\"web\",\"dc\":\"ams-1\"}";

    (void)state;
    assert_int_equal(rollout_labels_parse(ok, strlen(ok), "selector", &t, &n, &err), HO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].key, "role");
    assert_string_equal(t[1].value, "ams-1");
    rollout_tags_free(t, n);

    assert_int_equal(rollout_labels_parse("{}", 2, "selector", &t, &n, &err), HO_OK);
    assert_int_equal(n, 0);
    rollout_tags_free(t, n);

    assert_int_equal(rollout_labels_parse("[]", 2, "selector", &t, &n, &err), HO_EINVAL);
    assert_string_equal(err.field, "selector");
    assert_null(t);
    assert_int_equal(rollout_labels_parse("{\"role\":1}", 10, "selector", &t, &n, &err), HO_EINVAL);
    assert_string_equal(err.field, "selector.role");
    assert_int_equal(rollout_labels_parse("{\"a b\":\"x\"}", 11, "selector", &t, &n, &err),
                     HO_EINVAL);
    assert_string_equal(err.field, "selector.a b");
    assert_int_equal(
        rollout_labels_parse("{\"a\":\"x\",\"a\":\"y\"}", 17, "selector", &t, &n, &err), HO_EINVAL);
    assert_string_equal(err.field, "selector.a");
    assert_int_equal(rollout_labels_parse("{\"a\":\"x\\u0001\"}", 15, "selector", &t, &n, &err),
                     HO_EINVAL);
    assert_int_equal(rollout_labels_parse("{", 1, "labels", &t, &n, &err), HO_EINVAL);
    assert_string_equal(err.field, "labels");
}

static void test_rollout_selector_match(void **state)
{
    struct tag labels[] = {{"role", "web"}, {"dc", "ams"}};
    struct tag web[] = {{"role", "web"}};
    struct tag web_ams[] = {{"dc", "ams"}, {"role", "web"}};
    struct tag db[] = {{"role", "db"}};
    struct tag missing[] = {{"tier", "front"}};
    struct tag empty_value[] = {{"tier", ""}};

    (void)state;
    assert_true(rollout_selector_match(NULL, 0, labels, 2)); /* empty selector: everyone */
    assert_true(rollout_selector_match(NULL, 0, NULL, 0));
    assert_true(rollout_selector_match(web, 1, labels, 2));
    assert_true(rollout_selector_match(web_ams, 2, labels, 2));
    assert_false(rollout_selector_match(db, 1, labels, 2));
    assert_false(rollout_selector_match(missing, 1, labels, 2)); /* missing label */
    assert_false(rollout_selector_match(empty_value, 1, labels, 2));
    assert_false(rollout_selector_match(web, 1, NULL, 0));
}

static void make_agent_id(unsigned i, char id[CRYPTO_UUID_LEN])
{
    assert_int_equal(crypto_uuid_v7(1764000000000LL + (int64_t)i, id), HO_OK);
}

static void test_rollout_bucket_matches_contract(void **state)
{
    char hex[CRYPTO_SHA256_HEX_LEN];
    const char *key = "019a8f3e-0000-7000-8000-000000000001/nginx";
    unsigned long v;

    (void)state;
    crypto_sha256_hex(key, strlen(key), hex);
    hex[8] = '\0';
    v = strtoul(hex, NULL, 16);
    assert_int_equal(rollout_bucket("019a8f3e-0000-7000-8000-000000000001", "nginx"), v % 100);
    /* stable */
    assert_int_equal(rollout_bucket("a", "nginx"), rollout_bucket("a", "nginx"));
}

static void test_rollout_bucket_close_to_percent(void **state)
{
    static const int pcts[] = {1, 10, 25, 50, 90};
    char id[CRYPTO_UUID_LEN];
    unsigned i, hist[100] = {0};
    int both = 0, in_a = 0, k, n;

    (void)state;
    for (i = 0; i < 10000; i++) {
        make_agent_id(i, id);
        hist[rollout_bucket(id, "nginx")]++;
        if (rollout_bucket(id, "nginx") < 50) {
            in_a++;
            if (rollout_bucket(id, "postgres") < 50)
                both++;
        }
    }
    for (k = 0; k < (int)(sizeof(pcts) / sizeof(pcts[0])); k++) {
        n = 0;
        for (i = 0; i < (unsigned)pcts[k]; i++)
            n += (int)hist[i];
        /* within 3 points of the percentage (10,000 agents: sd is at most 0.5 points) */
        if (n < (pcts[k] - 3) * 100 || n > (pcts[k] + 3) * 100)
            fail_msg("%d%%: %d of 10000 agents", pcts[k], n);
    }
    assert_in_range(in_a, 4700, 5300);
    /* independent per package: half of nginx's half is in postgres's half */
    assert_in_range(both, in_a / 2 - 300, in_a / 2 + 300);
}

static void test_rollout_decide(void **state)
{
    char id[CRYPTO_UUID_LEN];
    unsigned i, b;
    int news = 0;

    (void)state;
    for (i = 0; i < 1000; i++) {
        make_agent_id(i, id);
        b = rollout_bucket(id, "nginx");
        assert_int_equal(rollout_decide(id, "nginx", 100, 0, 1), ROLLOUT_PICK_NEW);
        assert_int_equal(rollout_decide(id, "nginx", 0, 0, 1), ROLLOUT_PICK_PREVIOUS);
        assert_int_equal(rollout_decide(id, "nginx", 0, 0, 0), ROLLOUT_PICK_NONE);
        assert_int_equal(rollout_decide(id, "nginx", 100, 1, 1), ROLLOUT_PICK_PREVIOUS);
        assert_int_equal(rollout_decide(id, "nginx", 100, 1, 0), ROLLOUT_PICK_NONE);
        assert_int_equal(rollout_decide(id, "nginx", 30, 0, 1),
                         b < 30 ? ROLLOUT_PICK_NEW : ROLLOUT_PICK_PREVIOUS);
        assert_int_equal(rollout_decide(id, "nginx", 30, 0, 0),
                         b < 30 ? ROLLOUT_PICK_NEW : ROLLOUT_PICK_NONE);
        /* raising the percentage never moves an agent back */
        if (rollout_decide(id, "nginx", 30, 0, 1) == ROLLOUT_PICK_NEW)
            assert_int_equal(rollout_decide(id, "nginx", 60, 0, 1), ROLLOUT_PICK_NEW);
        news += rollout_decide(id, "nginx", 30, 0, 1) == ROLLOUT_PICK_NEW;
    }
    assert_in_range(news, 250, 350);
    assert_string_equal(rollout_pick_str(ROLLOUT_PICK_PREVIOUS), "previous");
}

static int halts(int64_t nr, int64_t nf, int64_t pr, int64_t pf)
{
    struct rollout_counts c = {nr, nf, pr, pf};
    struct rollout_limits l = {5, 0.25};

    return rollout_should_halt(&c, &l, "1.5.0", "1.4.0", NULL, 0);
}

static void test_rollout_halting_thresholds(void **state)
{
    struct rollout_counts c = {10, 9, 40, 1};
    struct rollout_limits l = {5, 0.25};
    char reason[ROLLOUT_REASON_LEN];

    (void)state;
    assert_true(rollout_should_halt(&c, &l, "1.5.0", "1.4.0", reason, sizeof(reason)));
    assert_string_equal(reason, "1.5.0 failed 9 of 10 runs (90%) against 1 of 40 (2.5%) on "
                                "1.4.0 since the rollout began");
    /* too few runs of the new version */
    assert_false(halts(4, 4, 40, 0));
    assert_true(halts(5, 5, 40, 0));
    /* every run failing, nothing to compare with: halt */
    assert_true(halts(5, 5, 0, 0));
    /* increase exactly at the threshold halts; just below does not */
    assert_true(halts(20, 5, 20, 0));   /* 25% vs 0% */
    assert_false(halts(25, 6, 25, 0));  /* 24% vs 0% */
    assert_true(halts(20, 8, 20, 3));   /* 40% vs 15%: +25 points, more than twice */
    assert_false(halts(50, 17, 50, 5)); /* 34% vs 10%: +24 points */
    /* an increase of 25 points that is not more than twice the old rate does not halt */
    assert_false(halts(20, 12, 20, 7)); /* 60% vs 35% */
    assert_false(halts(20, 10, 20, 5)); /* 50% vs 25%: exactly twice, not more */
    assert_true(halts(20, 11, 20, 5));  /* 55% vs 25% */
    /* no failures at all */
    assert_false(halts(100, 0, 100, 0));
    /* the new version doing better */
    assert_false(halts(20, 0, 20, 10));
    l.min_runs = 1;
    l.max_increase = 0;
    c.new_runs = 1;
    c.new_failed = 0;
    c.prev_runs = 0;
    c.prev_failed = 0;
    assert_false(rollout_should_halt(&c, &l, "1.5.0", "1.4.0", NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollout_name_rules),
        cmocka_unit_test(test_rollout_semver_valid),
        cmocka_unit_test(test_rollout_semver_order),
        cmocka_unit_test(test_rollout_latest),
        cmocka_unit_test(test_rollout_labels_parse),
        cmocka_unit_test(test_rollout_selector_match),
        cmocka_unit_test(test_rollout_bucket_matches_contract),
        cmocka_unit_test(test_rollout_bucket_close_to_percent),
        cmocka_unit_test(test_rollout_decide),
        cmocka_unit_test(test_rollout_halting_thresholds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

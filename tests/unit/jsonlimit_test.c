/* Unit tests for common/jsonlimit.c: nesting depth before parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonlimit.h"

static int depth(const char *s, int max)
{
    return json_depth(s, strlen(s), max);
}

static void test_json_depth_counts_nesting(void **state)
{
    (void)state;
    assert_int_equal(depth("42", 32), 0);
    assert_int_equal(depth("{}", 32), 1);
    assert_int_equal(depth("{\"runs\":[{\"metrics\":[{\"tags\":{}}]}]}", 32), 6);
    assert_int_equal(depth("[[1],[2,[3]]]", 32), 3);
}

static void test_json_depth_ignores_brackets_in_strings(void **state)
{
    (void)state;
    assert_int_equal(depth("{\"a\":\"[[[[{{{{\"}", 2), 1);
    assert_int_equal(depth("{\"a\":\"quote \\\" then [[[\"}", 2), 1);
    assert_int_equal(depth("[\"back\\\\\",[[]]]", 32), 3); /* an escaped backslash ends */
}

static void test_json_depth_stops_past_max(void **state)
{
    char *deep = malloc(20001);
    size_t i;

    (void)state;
    assert_non_null(deep);
    for (i = 0; i < 10000; i++) {
        deep[i] = '[';
        deep[20000 - 1 - i] = ']';
    }
    deep[20000] = '\0';
    assert_int_equal(json_depth(deep, 20000, 32), -1);
    assert_int_equal(json_depth(deep, 20000, 10000), 10000);
    assert_int_equal(depth("[[[", 3), 3);
    assert_int_equal(depth("[[[[", 3), -1);
    free(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_depth_counts_nesting),
        cmocka_unit_test(test_json_depth_ignores_brackets_in_strings),
        cmocka_unit_test(test_json_depth_stops_past_max),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

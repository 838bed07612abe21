/* Unit tests for server/authlimit.c: failed-authentication limits per address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "authlimit.h"

static void test_authlimit_blocks_after_max_failures(void **state)
{
    struct authlimit *al = authlimit_new(3, 60, 30);
    int i;

    (void)state;
    for (i = 0; i < 2; i++) {
        assert_int_equal(authlimit_fail(al, "10.0.0.1", 1000 + i), 0);
        assert_int_equal(authlimit_blocked(al, "10.0.0.1", 1000 + i), 0);
    }
    assert_int_equal(authlimit_fail(al, "10.0.0.1", 1002), 1); /* the third starts a block */
    assert_int_equal(authlimit_blocked(al, "10.0.0.1", 1002), 30);
    assert_int_equal(authlimit_blocked(al, "10.0.0.1", 1002 + 29500), 1);
    assert_int_equal(authlimit_blocked(al, "10.0.0.2", 1002), 0); /* others are not */
    assert_int_equal(authlimit_blocked(al, "10.0.0.1", 1002 + 30000), 0);
    /* after the block the count starts again */
    assert_int_equal(authlimit_fail(al, "10.0.0.1", 40000), 0);
    authlimit_free(al);
}

static void test_authlimit_window_forgets_old_failures(void **state)
{
    struct authlimit *al = authlimit_new(3, 10, 30);

    (void)state;
    assert_int_equal(authlimit_fail(al, "::1", 0), 0);
    assert_int_equal(authlimit_fail(al, "::1", 5000), 0);
    /* the window of the first failure ended: this one opens a new window */
    assert_int_equal(authlimit_fail(al, "::1", 10000), 0);
    assert_int_equal(authlimit_fail(al, "::1", 11000), 0);
    assert_int_equal(authlimit_blocked(al, "::1", 11000), 0);
    assert_int_equal(authlimit_fail(al, "::1", 12000), 1);
    authlimit_free(al);
}

static void test_authlimit_disabled_never_blocks(void **state)
{
    struct authlimit *al = authlimit_new(0, 60, 60);
    int i;

    (void)state;
    for (i = 0; i < 100; i++)
        assert_int_equal(authlimit_fail(al, "10.0.0.9", i), 0);
    assert_int_equal(authlimit_blocked(al, "10.0.0.9", 100), 0);
    assert_int_equal(authlimit_blocked(NULL, "10.0.0.9", 100), 0);
    authlimit_free(al);
}

static void test_authlimit_many_addresses_stay_bounded(void **state)
{
    struct authlimit *al = authlimit_new(2, 60, 60);
    char addr[32];
    int i, blocked = 0;

    (void)state;
    /* one address is blocked, then a flood of other addresses fails once each */
    assert_int_equal(authlimit_fail(al, "192.0.2.1", 1000), 0);
    assert_int_equal(authlimit_fail(al, "192.0.2.1", 1001), 1);
    for (i = 0; i < 5 * AUTHLIMIT_SLOTS; i++) {
        snprintf(addr, sizeof(addr), "198.51.%d.%d", i / 256, i % 256);
        blocked += authlimit_fail(al, addr, 2000 + i);
    }
    assert_int_equal(blocked, 0);
    /* a fresh pair of failures still blocks a new address */
    assert_int_equal(authlimit_fail(al, "203.0.113.7", 90000), 0);
    assert_int_equal(authlimit_fail(al, "203.0.113.7", 90001), 1);
    assert_true(authlimit_blocked(al, "203.0.113.7", 90002) > 0);
    authlimit_free(al);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authlimit_blocks_after_max_failures),
        cmocka_unit_test(test_authlimit_window_forgets_old_failures),
        cmocka_unit_test(test_authlimit_disabled_never_blocks),
        cmocka_unit_test(test_authlimit_many_addresses_stay_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for agent/guard.c: loop-guard repair times kept across restarts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard.h"

static char *tmp_path(void)
{
    char tmpl[] = "/tmp/guard-test-XXXXXX";
    char *dir = mkdtemp(tmpl), *path = NULL;

    assert_non_null(dir);
    assert_true(asprintf(&path, "%s/guard.json", dir) > 0);
    return path;
}

/* Removes the file tmp_path made and its folder. */
static void tmp_done(char *path)
{
    char *slash = strrchr(path, '/');

    unlink(path);
    *slash = '\0';
    assert_int_equal(rmdir(path), 0);
    free(path);
}

static void test_guard_survives_reopen(void **state)
{
    struct guard_store *gs = NULL;
    struct cycle_guard g = {0}, back = {0};
    int64_t times[] = {1000, 2000, 3000};
    char *path = tmp_path();

    (void)state;
    assert_int_equal(guard_store_open(path, &gs), HO_OK);
    guard_store_get(gs, "pkg/check", &back);
    assert_int_equal(back.n, 0);
    g.times = times;
    g.n = 3;
    guard_store_put(gs, "pkg/check", &g);
    guard_store_close(gs);

    assert_int_equal(guard_store_open(path, &gs), HO_OK);
    guard_store_get(gs, "pkg/check", &back);
    assert_int_equal(back.n, 3);
    assert_memory_equal(back.times, times, sizeof(times));
    guard_store_get(gs, "pkg/other", &back);
    assert_int_equal(back.n, 0);
    guard_store_close(gs);
    cycle_guard_cleanup(&back);
    tmp_done(path);
}

static void test_guard_corrupt_file_is_empty(void **state)
{
    struct guard_store *gs = NULL;
    struct cycle_guard back = {0};
    char *path = tmp_path();
    FILE *fp = fopen(path, "w");

    (void)state;
    assert_non_null(fp);
    fputs("{\"checks\": [not json", fp);
    fclose(fp);
    assert_int_equal(guard_store_open(path, &gs), HO_OK);
    guard_store_get(gs, "pkg/check", &back);
    assert_int_equal(back.n, 0);
    guard_store_close(gs);
    tmp_done(path);
}

static void test_guard_put_replaces_times(void **state)
{
    struct guard_store *gs = NULL;
    struct cycle_guard g = {0}, back = {0};
    int64_t a[] = {5, 6}, b[] = {7};
    char *path = tmp_path();

    (void)state;
    assert_int_equal(guard_store_open(path, &gs), HO_OK);
    g.times = a;
    g.n = 2;
    guard_store_put(gs, "x/y", &g);
    g.times = b;
    g.n = 1;
    guard_store_put(gs, "x/y", &g);
    guard_store_close(gs);
    assert_int_equal(guard_store_open(path, &gs), HO_OK);
    guard_store_get(gs, "x/y", &back);
    assert_int_equal(back.n, 1);
    assert_int_equal(back.times[0], 7);
    guard_store_close(gs);
    cycle_guard_cleanup(&back);
    tmp_done(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guard_survives_reopen),
        cmocka_unit_test(test_guard_corrupt_file_is_empty),
        cmocka_unit_test(test_guard_put_replaces_times),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

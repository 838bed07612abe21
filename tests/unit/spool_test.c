/* Unit tests for agent/spool.c: the agent's durable, bounded spool. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "spool.h"

static char *spool_dir(void)
{
    char tmpl[] = "/tmp/spool-test-XXXXXX";
    char *d = mkdtemp(tmpl), *out = NULL;

    assert_non_null(d);
    assert_true(asprintf(&out, "%s/spool", d) > 0);
    return out;
}

static void id_of(char *out, size_t n, int i)
{
    snprintf(out, n, "0190000000-%08d", i);
}

static void append(struct spool *sp, const char *kind, int i, const char *data)
{
    char id[32];
    struct ho_error err;

    id_of(id, sizeof(id), i);
    assert_int_equal(spool_append(sp, kind, id, data, strlen(data), &err), HO_OK);
}

static void test_spool_order_kinds_and_remove(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    char *dir = spool_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 100, 1 << 20, &sp, &err), HO_OK);
    append(sp, "run", 3, "three");
    append(sp, "run", 1, "one");
    append(sp, "metrics", 2, "m2");
    append(sp, "run", 2, "two");
    assert_int_equal(spool_depth(sp), 4);
    assert_int_equal(spool_peek(sp, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 3);
    assert_string_equal(it[0].data, "one");
    assert_string_equal(it[1].data, "two");
    assert_string_equal(it[2].data, "three");
    assert_string_equal(it[0].kind, "run");
    assert_int_equal(spool_remove(sp, "run", it[0].id), HO_OK);
    assert_int_equal(spool_remove(sp, "run", it[0].id), HO_ENOENT);
    spool_items_free(it, n);
    assert_int_equal(spool_peek(sp, "metrics", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 1);
    assert_string_equal(it[0].data, "m2");
    spool_items_free(it, n);
    /* byte budget: at least one item, then only what fits */
    assert_int_equal(spool_peek(sp, "run", 10, 1, &it, &n), HO_OK);
    assert_int_equal(n, 1);
    assert_string_equal(it[0].data, "two");
    spool_items_free(it, n);
    assert_int_equal(spool_depth(sp), 3);
    spool_close(sp);
    free(dir);
}

static void test_spool_survives_reopen_and_cleans_temp(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    char *dir = spool_dir(), *tmp = NULL;
    FILE *fp;

    (void)state;
    assert_int_equal(spool_open(dir, 100, 1 << 20, &sp, &err), HO_OK);
    append(sp, "run", 1, "one");
    append(sp, "run", 2, "two");
    spool_close(sp);
    /* a crash between create and rename leaves a temp file; it must not become an item */
    assert_true(asprintf(&tmp, "%s/.0190000000-00000009.run.tmp", dir) > 0);
    fp = fopen(tmp, "w");
    assert_non_null(fp);
    fputs("{\"partial", fp);
    fclose(fp);
    assert_int_equal(spool_open(dir, 100, 1 << 20, &sp, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 2);
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_equal(spool_peek(sp, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(it[1].data, "two");
    spool_items_free(it, n);
    spool_close(sp);
    free(tmp);
    free(dir);
}

static void test_spool_limits_drop_oldest_and_count(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    int i;
    char *dir = spool_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 5, 1 << 20, &sp, &err), HO_OK);
    for (i = 0; i < 8; i++)
        append(sp, "run", i, "x");
    assert_int_equal(spool_depth(sp), 5);
    assert_int_equal(spool_dropped(sp), 3);
    assert_int_equal(spool_peek(sp, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 5);
    assert_string_equal(it[0].id, "0190000000-00000003");
    spool_items_free(it, n);
    spool_close(sp);
    /* the dropped count survives a restart; a byte limit drops the oldest too */
    assert_int_equal(spool_open(dir, 100, 10, &sp, &err), HO_OK);
    assert_int_equal(spool_dropped(sp), 3);
    append(sp, "run", 20, "0123456789");
    assert_int_equal(spool_depth(sp), 1);
    assert_int_equal(spool_dropped(sp), 8);
    assert_int_equal(spool_append(sp, "run", "0190000000-00000021", "0123456789a", 11, &err),
                     HO_ETOOBIG);
    spool_close(sp);
    free(dir);
}

static void test_spool_refuses_bad_names(void **state)
{
    struct spool *sp = NULL;
    struct ho_error err;
    char *dir = spool_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 10, 1 << 20, &sp, &err), HO_OK);
    assert_int_equal(spool_append(sp, "run", "../etc", "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_append(sp, "run/x", "01", "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_append(sp, "run", "", "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_append(sp, "RUN", "01", "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_depth(sp), 0);
    spool_close(sp);
    free(dir);
}

struct writer {
    struct spool *sp;
    int base;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct ho_error err;
    char id[32];
    int i;

    for (i = 0; i < 300; i++) {
        id_of(id, sizeof(id), w->base + i);
        if (spool_append(w->sp, "run", id, id, strlen(id), &err) != HO_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_spool_concurrent_appends_and_removes(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct writer w[4];
    pthread_t th[4];
    struct ho_error err;
    size_t n = 0, removed = 0, i;
    int k, rounds = 0;
    void *ret;
    char *dir = spool_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 100000, 1 << 26, &sp, &err), HO_OK);
    for (k = 0; k < 4; k++) {
        w[k].sp = sp;
        w[k].base = k * 1000;
        assert_int_equal(pthread_create(&th[k], NULL, writer_main, &w[k]), 0);
    }
    while (removed < 1200 && rounds++ < 100000) {
        assert_int_equal(spool_peek(sp, "run", 50, 1 << 20, &it, &n), HO_OK);
        for (i = 0; i < n; i++) {
            assert_string_equal(it[i].data, it[i].id);
            assert_int_equal(spool_remove(sp, "run", it[i].id), HO_OK);
        }
        removed += n;
        spool_items_free(it, n);
    }
    for (k = 0; k < 4; k++) {
        assert_int_equal(pthread_join(th[k], &ret), 0);
        assert_null(ret);
    }
    assert_int_equal(removed, 1200);
    assert_int_equal(spool_depth(sp), 0);
    assert_int_equal(spool_dropped(sp), 0);
    spool_close(sp);
    free(dir);
}

static void test_spool_kill9_leaves_only_whole_items(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    char payload[4096];
    size_t n = 0, i;
    pid_t pid;
    int st;
    char *dir = spool_dir();

    (void)state;
    memset(payload, 'p', sizeof(payload) - 1);
    payload[sizeof(payload) - 1] = '\0';
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[32];
        int k;

        if (spool_open(dir, 100000, 1 << 28, &sp, &err) != HO_OK)
            _exit(1);
        for (k = 0; k < 100000; k++) {
            id_of(id, sizeof(id), k);
            if (spool_append(sp, "run", id, payload, strlen(payload), &err) != HO_OK)
                _exit(2);
        }
        _exit(0);
    }
    usleep(150 * 1000);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(spool_open(dir, 100000, 1 << 28, &sp, &err), HO_OK);
    assert_true(spool_depth(sp) > 0);
    assert_int_equal(spool_peek(sp, "run", 100000, 1 << 28, &it, &n), HO_OK);
    assert_int_equal(n, spool_depth(sp));
    for (i = 0; i < n; i++)
        assert_string_equal(it[i].data, payload);
    spool_items_free(it, n);
    spool_close(sp);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool_order_kinds_and_remove),
        cmocka_unit_test(test_spool_survives_reopen_and_cleans_temp),
        cmocka_unit_test(test_spool_limits_drop_oldest_and_count),
        cmocka_unit_test(test_spool_refuses_bad_names),
        cmocka_unit_test(test_spool_concurrent_appends_and_removes),
        cmocka_unit_test(test_spool_kill9_leaves_only_whole_items),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

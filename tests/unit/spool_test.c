/*
 * Unit tests for agent/spool.c: the agent's durable, bounded spool. Every test
 * works in its own folder under $TMPDIR (or /tmp) and removes it at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "spool.h"

#define BIG (1u << 26)

/* --- helpers ------------------------------------------------------------- */

/* A new folder "<tmp>/spool-test-XXXXXX"; the spool goes in its "spool" child. */
static char *test_dir(void)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = NULL, *out = NULL;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    assert_true(asprintf(&tmpl, "%s/spool-test-XXXXXX", base) > 0);
    assert_non_null(mkdtemp(tmpl));
    assert_true(asprintf(&out, "%s/spool", tmpl) > 0);
    free(tmpl);
    return out;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes the test folder (the parent of the spool folder). */
static void test_dir_free(char *dir)
{
    char *slash = strrchr(dir, '/');

    *slash = '\0';
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static void id_of(char *out, size_t n, int i)
{
    snprintf(out, n, "0190000000-%08d", i);
}

static void put(struct spool *sp, const char *kind, int i, const char *data)
{
    char id[32];
    struct ho_error err;

    id_of(id, sizeof(id), i);
    assert_int_equal(spool_append(sp, kind, id, data, strlen(data), &err), HO_OK);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char *path = NULL;
    FILE *fp;

    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    free(path);
}

/* Makes dir/name an hour old, as a temp file left by a crash would be. */
static void age_file(const char *dir, const char *name)
{
    struct timespec t[2];
    char *path = NULL;

    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= 3600;
    t[1] = t[0];
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
    free(path);
}

/* Items a second process writes into the folder reach the first after spool_rescan. */
static void test_spool_rescan_finds_items_of_other_processes(void **state)
{
    struct spool *a = NULL, *b = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    char *dir = test_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 100, 1 << 20, &a, &err), HO_OK);
    assert_int_equal(spool_open(dir, 100, 1 << 20, &b, &err), HO_OK);
    put(a, "run", 1, "daemon");
    put(b, "run", 2, "manual");
    spool_close(b);
    assert_int_equal(spool_depth(a), 1);
    assert_int_equal(spool_rescan(a, &err), HO_OK);
    assert_int_equal(spool_depth(a), 2);
    assert_int_equal(spool_rescan(a, &err), HO_OK);
    assert_int_equal(spool_depth(a), 2);
    assert_int_equal(spool_peek(a, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(it[1].data, "manual");
    spool_items_free(it, n);
    spool_close(a);
    test_dir_free(dir);
}

/* Returns the content of dir/name (caller frees), or NULL when it does not exist. */
static char *read_text(const char *dir, const char *name)
{
    char *path = NULL, *text = NULL;
    size_t cap = 0;
    FILE *fp;
    ssize_t n;

    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    fp = fopen(path, "r");
    free(path);
    if (fp == NULL)
        return NULL;
    n = getdelim(&text, &cap, '\0', fp);
    fclose(fp);
    if (n < 0) {
        free(text);
        return strdup("");
    }
    return text;
}

static int exists(const char *dir, const char *name)
{
    char *path = NULL;
    int rc;

    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    rc = access(path, F_OK) == 0;
    free(path);
    return rc;
}

/* Files in dir whose name starts with '.', other than "." and "..". */
static int count_hidden(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

/* All entries of dir but "." and "..". */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- order, removal, peek budget ------------------------------------------ */

static void test_spool_order_across_kinds(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    char *dir = test_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 100, 1 << 20, &sp, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 0);
    put(sp, "run", 3, "three");
    put(sp, "run", 1, "one");
    put(sp, "metrics", 2, "m2");
    put(sp, "run", 2, "two");
    put(sp, "metrics", 1, "m1");
    assert_int_equal(spool_depth(sp), 5);
    assert_true(exists(dir, "0190000000-00000003.run"));

    assert_int_equal(spool_peek(sp, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 3);
    assert_string_equal(it[0].data, "one");
    assert_string_equal(it[1].data, "two");
    assert_string_equal(it[2].data, "three");
    assert_string_equal(it[0].kind, "run");
    assert_string_equal(it[0].id, "0190000000-00000001");
    assert_int_equal(it[2].len, 5);
    assert_int_equal(spool_remove(sp, "run", it[0].id), HO_OK);
    assert_int_equal(spool_remove(sp, "run", it[0].id), HO_ENOENT);
    assert_false(exists(dir, "0190000000-00000001.run"));
    spool_items_free(it, n);

    assert_int_equal(spool_peek(sp, "metrics", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(it[0].data, "m1");
    assert_string_equal(it[1].data, "m2");
    spool_items_free(it, n);

    /* the same id under another kind is another item */
    assert_int_equal(spool_remove(sp, "metrics", "0190000000-00000003"), HO_ENOENT);
    assert_int_equal(spool_remove(sp, "other", "0190000000-00000003"), HO_ENOENT);
    assert_int_equal(spool_depth(sp), 4);

    /* an unknown kind is empty */
    assert_int_equal(spool_peek(sp, "other", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 0);
    assert_null(it);
    spool_close(sp);
    test_dir_free(dir);
}

static void test_spool_peek_respects_count_and_bytes(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    char *dir = test_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 100, 1 << 20, &sp, &err), HO_OK);
    put(sp, "run", 1, "aaaa");
    put(sp, "run", 2, "bbbb");
    put(sp, "run", 3, "cccc");
    /* at least one item even when it alone is over the budget */
    assert_int_equal(spool_peek(sp, "run", 10, 1, &it, &n), HO_OK);
    assert_int_equal(n, 1);
    assert_string_equal(it[0].data, "aaaa");
    spool_items_free(it, n);
    assert_int_equal(spool_peek(sp, "run", 10, 8, &it, &n), HO_OK);
    assert_int_equal(n, 2);
    spool_items_free(it, n);
    assert_int_equal(spool_peek(sp, "run", 2, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(it[1].data, "bbbb");
    spool_items_free(it, n);
    assert_int_equal(spool_peek(sp, "run", 0, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 0);
    /* peek does not remove */
    assert_int_equal(spool_depth(sp), 3);
    spool_close(sp);
    test_dir_free(dir);
}

static void test_spool_append_again_replaces(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    char *dir = test_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 2, 10, &sp, &err), HO_OK);
    put(sp, "run", 1, "old");
    put(sp, "run", 2, "x");
    put(sp, "run", 1, "newer");
    assert_int_equal(spool_depth(sp), 2);
    assert_int_equal(spool_dropped(sp), 0);
    assert_int_equal(spool_peek(sp, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(it[0].data, "newer");
    spool_items_free(it, n);
    /* 5 + 1 + 5 > 10: the oldest (the replaced item) goes */
    put(sp, "run", 3, "12345");
    assert_int_equal(spool_depth(sp), 2);
    assert_int_equal(spool_dropped(sp), 1);
    assert_false(exists(dir, "0190000000-00000001.run"));
    spool_close(sp);
    test_dir_free(dir);
}

/* --- persistence ------------------------------------------------------------ */

static void test_spool_reopen_rebuilds_index(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    char *dir = test_dir(), *text;

    (void)state;
    assert_int_equal(spool_open(dir, 3, 1 << 20, &sp, &err), HO_OK);
    put(sp, "run", 1, "one");
    put(sp, "metrics", 2, "m2");
    put(sp, "run", 3, "three");
    put(sp, "run", 4, "four");
    assert_int_equal(spool_dropped(sp), 1);
    spool_close(sp);
    text = read_text(dir, "dropped");
    assert_non_null(text);
    assert_string_equal(text, "1\n");
    free(text);

    assert_int_equal(spool_open(dir, 3, 1 << 20, &sp, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 3);
    assert_int_equal(spool_dropped(sp), 1);
    assert_int_equal(spool_peek(sp, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(it[0].data, "three");
    assert_string_equal(it[1].data, "four");
    spool_items_free(it, n);
    assert_int_equal(spool_peek(sp, "metrics", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 1);
    assert_string_equal(it[0].data, "m2");
    spool_items_free(it, n);
    /* the rebuilt index knows the sizes: the count limit still holds */
    put(sp, "run", 5, "five");
    assert_int_equal(spool_depth(sp), 3);
    assert_int_equal(spool_dropped(sp), 2);
    assert_false(exists(dir, "0190000000-00000002.metrics"));
    spool_close(sp);
    test_dir_free(dir);
}

/* An append leaves the whole item under its own name, no temp file; sync is repeatable. */
static void test_spool_append_then_sync(void **state)
{
    struct spool *sp = NULL;
    struct ho_error err;
    char *dir = test_dir(), *text;

    (void)state;
    assert_int_equal(spool_open(dir, 10, 1 << 20, &sp, &err), HO_OK);
    put(sp, "run", 1, "first");
    put(sp, "metrics", 2, "second");
    text = read_text(dir, "0190000000-00000001.run");
    assert_non_null(text);
    assert_string_equal(text, "first");
    free(text);
    assert_int_equal(count_hidden(dir), 0);
    assert_int_equal(spool_sync(sp, &err), HO_OK);
    assert_int_equal(spool_sync(sp, &err), HO_OK); /* nothing new: a no-op */
    put(sp, "run", 3, "third");
    spool_close(sp); /* syncs what came after */
    assert_int_equal(spool_open(dir, 10, 1 << 20, &sp, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 3);
    spool_close(sp);
    test_dir_free(dir);
}

static void test_spool_open_creates_folder_and_handles_empty(void **state)
{
    struct spool *sp = NULL;
    struct ho_error err;
    struct stat sb;
    char *dir = test_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 10, 100, &sp, &err), HO_OK);
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(spool_depth(sp), 0);
    assert_int_equal(spool_dropped(sp), 0);
    spool_close(sp);
    /* an empty folder that exists already */
    assert_int_equal(spool_open(dir, 10, 100, &sp, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 0);
    assert_int_equal(count_entries(dir), 0);
    spool_close(sp);
    /* zero limits are refused; a folder that cannot be made is an I/O error */
    assert_int_equal(spool_open(dir, 0, 100, &sp, &err), HO_EINVAL);
    assert_null(sp);
    assert_int_equal(spool_open("/proc/no/such/spool", 10, 100, &sp, &err), HO_EIO);
    assert_true(strlen(err.msg) > 0);
    assert_null(sp);
    test_dir_free(dir);
}

static void test_spool_dropped_file_missing_or_corrupt(void **state)
{
    struct spool *sp = NULL;
    struct ho_error err;
    char *dir = test_dir(), *text;

    (void)state;
    assert_int_equal(spool_open(dir, 1, 100, &sp, &err), HO_OK);
    put(sp, "run", 1, "a");
    put(sp, "run", 2, "b");
    put(sp, "run", 3, "c");
    assert_int_equal(spool_dropped(sp), 2);
    spool_close(sp);

    write_file(dir, "dropped", "12x\n");
    assert_int_equal(spool_open(dir, 1, 100, &sp, &err), HO_OK);
    assert_int_equal(spool_dropped(sp), 0);
    assert_int_equal(spool_depth(sp), 1);
    put(sp, "run", 4, "d");
    assert_int_equal(spool_dropped(sp), 1);
    spool_close(sp);
    text = read_text(dir, "dropped");
    assert_string_equal(text, "1\n");
    free(text);

    write_file(dir, "dropped", "");
    assert_int_equal(spool_open(dir, 1, 100, &sp, &err), HO_OK);
    assert_int_equal(spool_dropped(sp), 0);
    spool_close(sp);

    write_file(dir, "dropped", "-3\n");
    assert_int_equal(spool_open(dir, 1, 100, &sp, &err), HO_OK);
    assert_int_equal(spool_dropped(sp), 0);
    spool_close(sp);

    write_file(dir, "dropped", "99999999999999999999999\n");
    assert_int_equal(spool_open(dir, 1, 100, &sp, &err), HO_OK);
    assert_int_equal(spool_dropped(sp), 0);
    spool_close(sp);

    write_file(dir, "dropped", "18446744073709551615");
    assert_int_equal(spool_open(dir, 1, 100, &sp, &err), HO_OK);
    assert_true(spool_dropped(sp) == UINT64_MAX);
    spool_close(sp);

    write_file(dir, "dropped", "7\n");
    assert_int_equal(spool_open(dir, 1, 100, &sp, &err), HO_OK);
    assert_int_equal(spool_dropped(sp), 7);
    spool_close(sp);
    test_dir_free(dir);
}

/* --- limits ------------------------------------------------------------------- */

static void test_spool_limit_by_count_drops_oldest(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    char *dir = test_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 5, 1 << 20, &sp, &err), HO_OK);
    put(sp, "run", 1, "r1");
    put(sp, "metrics", 2, "m2");
    put(sp, "run", 3, "r3");
    put(sp, "metrics", 4, "m4");
    put(sp, "run", 5, "r5");
    assert_int_equal(spool_dropped(sp), 0);
    put(sp, "run", 6, "r6");
    put(sp, "metrics", 7, "m7");
    /* the oldest of any kind went first: 1 (run), then 2 (metrics) */
    assert_int_equal(spool_depth(sp), 5);
    assert_int_equal(spool_dropped(sp), 2);
    assert_false(exists(dir, "0190000000-00000001.run"));
    assert_false(exists(dir, "0190000000-00000002.metrics"));
    assert_int_equal(spool_peek(sp, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 3);
    assert_string_equal(it[0].data, "r3");
    assert_string_equal(it[2].data, "r6");
    spool_items_free(it, n);
    assert_int_equal(spool_peek(sp, "metrics", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(it[0].data, "m4");
    assert_string_equal(it[1].data, "m7");
    spool_items_free(it, n);
    spool_close(sp);
    test_dir_free(dir);
}

static void test_spool_limit_by_bytes_drops_oldest(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    char *dir = test_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 100, 10, &sp, &err), HO_OK);
    put(sp, "run", 1, "aaaa");
    put(sp, "metrics", 2, "bbbb");
    assert_int_equal(spool_dropped(sp), 0);
    put(sp, "run", 3, "cccc"); /* 12 > 10: the oldest goes */
    assert_int_equal(spool_depth(sp), 2);
    assert_int_equal(spool_dropped(sp), 1);
    put(sp, "run", 4, "0123456789"); /* exactly the limit: everything else goes */
    assert_int_equal(spool_depth(sp), 1);
    assert_int_equal(spool_dropped(sp), 3);
    assert_int_equal(spool_peek(sp, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 1);
    assert_string_equal(it[0].data, "0123456789");
    spool_items_free(it, n);
    /* an empty item is fine */
    assert_int_equal(spool_append(sp, "run", "0190000000-00000005", "", 0, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 2);
    spool_close(sp);
    test_dir_free(dir);
}

static void test_spool_item_larger_than_spool_refused(void **state)
{
    struct spool *sp = NULL;
    struct ho_error err;
    char *dir = test_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 100, 10, &sp, &err), HO_OK);
    put(sp, "run", 1, "keep");
    assert_int_equal(spool_append(sp, "run", "0190000000-00000002", "0123456789a", 11, &err),
                     HO_ETOOBIG);
    assert_true(strlen(err.msg) > 0);
    /* a refused append changes nothing */
    assert_int_equal(spool_depth(sp), 1);
    assert_int_equal(spool_dropped(sp), 0);
    assert_int_equal(count_entries(dir), 1);
    spool_close(sp);
    test_dir_free(dir);
}

static void test_spool_open_trims_to_smaller_limits(void **state)
{
    struct spool *sp = NULL;
    struct ho_error err;
    int i;
    char *dir = test_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 100, 1 << 20, &sp, &err), HO_OK);
    for (i = 0; i < 10; i++)
        put(sp, "run", i, "xx");
    spool_close(sp);
    assert_int_equal(spool_open(dir, 10, 1 << 20, &sp, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 10); /* exactly at the limit is fine */
    spool_close(sp);
    assert_int_equal(spool_open(dir, 4, 1 << 20, &sp, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 4);
    assert_int_equal(spool_dropped(sp), 6);
    assert_false(exists(dir, "0190000000-00000005.run"));
    assert_true(exists(dir, "0190000000-00000006.run"));
    spool_close(sp);
    assert_int_equal(spool_open(dir, 100, 5, &sp, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 2);
    assert_int_equal(spool_dropped(sp), 8);
    spool_close(sp);
    test_dir_free(dir);
}

/* --- folder content ------------------------------------------------------------ */

static void test_spool_open_removes_temp_leftovers(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    char *dir = test_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 100, 1 << 20, &sp, &err), HO_OK);
    put(sp, "run", 1, "one");
    put(sp, "run", 2, "two");
    spool_close(sp);
    /* crashes between create and rename leave temp files; they never become items */
    write_file(dir, ".0190000000-00000009.run.tmp", "{\"partial");
    write_file(dir, ".0190000000-00000010.metrics.tmp", "");
    write_file(dir, ".dropped.tmp", "12");
    /* a young temp file may be another process writing right now: kept */
    assert_int_equal(spool_open(dir, 100, 1 << 20, &sp, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 2);
    assert_int_equal(count_hidden(dir), 3);
    spool_close(sp);
    age_file(dir, ".0190000000-00000009.run.tmp");
    age_file(dir, ".0190000000-00000010.metrics.tmp");
    age_file(dir, ".dropped.tmp");
    assert_int_equal(spool_open(dir, 100, 1 << 20, &sp, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 2);
    assert_int_equal(count_hidden(dir), 0);
    assert_int_equal(spool_dropped(sp), 0);
    assert_int_equal(spool_peek(sp, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(it[0].data, "one");
    assert_string_equal(it[1].data, "two");
    spool_items_free(it, n);
    spool_close(sp);
    test_dir_free(dir);
}

static void test_spool_open_ignores_unknown_files(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    char *dir = test_dir(), *sub = NULL;

    (void)state;
    assert_int_equal(spool_open(dir, 100, 1 << 20, &sp, &err), HO_OK);
    put(sp, "run", 1, "one");
    spool_close(sp);
    write_file(dir, "README", "hello");
    write_file(dir, "UPPER.run", "x");
    write_file(dir, "0190000000-00000002.run.bak", "x");
    write_file(dir, ".hidden", "x");
    assert_true(asprintf(&sub, "%s/0190000000-00000003.run", dir) > 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(spool_open(dir, 100, 1 << 20, &sp, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 1);
    assert_int_equal(spool_peek(sp, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 1);
    assert_string_equal(it[0].data, "one");
    spool_items_free(it, n);
    /* left alone: they are not ours */
    assert_true(exists(dir, "README"));
    assert_true(exists(dir, ".hidden"));
    spool_close(sp);
    free(sub);
    test_dir_free(dir);
}

static void test_spool_peek_drops_vanished_items(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    size_t n = 0;
    char *dir = test_dir(), *path = NULL;

    (void)state;
    assert_int_equal(spool_open(dir, 100, 1 << 20, &sp, &err), HO_OK);
    put(sp, "run", 1, "one");
    put(sp, "run", 2, "two");
    put(sp, "run", 3, "three");
    assert_true(asprintf(&path, "%s/0190000000-00000002.run", dir) > 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(spool_peek(sp, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(it[0].data, "one");
    assert_string_equal(it[1].data, "three");
    spool_items_free(it, n);
    assert_int_equal(spool_depth(sp), 2);
    assert_int_equal(spool_remove(sp, "run", "0190000000-00000002"), HO_ENOENT);
    /* every item of the answer gone: peek looks further rather than answer nothing */
    free(path);
    assert_true(asprintf(&path, "%s/0190000000-00000001.run", dir) > 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(spool_peek(sp, "run", 1, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 1);
    assert_string_equal(it[0].data, "three");
    spool_items_free(it, n);
    assert_int_equal(spool_depth(sp), 1);
    free(path);
    spool_close(sp);
    test_dir_free(dir);
}

static void test_spool_refuses_invalid_names(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    char long_id[80];
    size_t n = 0;
    char *dir = test_dir();

    (void)state;
    assert_int_equal(spool_open(dir, 10, 1 << 20, &sp, &err), HO_OK);
    assert_int_equal(spool_append(sp, "run", "../etc", "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_append(sp, "run", "a.b", "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_append(sp, "run", ".hidden", "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_append(sp, "run/x", "01", "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_append(sp, "run", "", "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_append(sp, "", "01", "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_append(sp, "RUN", "01", "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_append(sp, "run", "01 ", "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_append(sp, "run", "0190_x", "x", 1, &err), HO_EINVAL);
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    assert_int_equal(spool_append(sp, "run", long_id, "x", 1, &err), HO_EINVAL);
    assert_int_equal(spool_append(sp, long_id, "01", "x", 1, &err), HO_EINVAL);
    long_id[64] = '\0'; /* 64 is the longest allowed */
    assert_int_equal(spool_append(sp, "run", long_id, "x", 1, &err), HO_OK);
    assert_int_equal(spool_append(sp, long_id, long_id, "y", 1, &err), HO_OK);
    assert_int_equal(spool_remove(sp, "run", "../x"), HO_EINVAL);
    assert_int_equal(spool_peek(sp, "Run", 10, 100, &it, &n), HO_EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(spool_depth(sp), 2);
    assert_int_equal(count_entries(dir), 2);
    spool_close(sp);
    test_dir_free(dir);
}

/* --- concurrency ------------------------------------------------------------------ */

#define WRITERS      4
#define PER_WRITER   500
#define TOTAL_ITEMS  (WRITERS * PER_WRITER)
#define TEST_WAIT_MS 30000

struct writer {
    struct spool *sp;
    int base;
    int count;
    const char *kind;
    int failed;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct ho_error err;
    char id[32];
    int i;

    for (i = 0; i < w->count; i++) {
        id_of(id, sizeof(id), w->base + i);
        if (spool_append(w->sp, w->kind, id, id, strlen(id), &err) != HO_OK)
            w->failed++;
    }
    return NULL;
}

struct sender {
    struct spool *sp;
    unsigned char seen[TOTAL_ITEMS];
    int removed;
    int duplicates;
    int bad;
};

static void sender_take(struct sender *s, const char *kind)
{
    struct spool_item *it = NULL;
    size_t n = 0, i;
    int k;

    if (spool_peek(s->sp, kind, 37, 1 << 20, &it, &n) != HO_OK) {
        s->bad++;
        return;
    }
    for (i = 0; i < n; i++) {
        k = (int)strtol(it[i].id + 11, NULL, 10);
        if (strcmp(it[i].data, it[i].id) != 0 || strcmp(it[i].kind, kind) != 0 || k < 0 ||
            k >= TOTAL_ITEMS || spool_remove(s->sp, kind, it[i].id) != HO_OK) {
            s->bad++;
            continue;
        }
        if (s->seen[k]++ != 0)
            s->duplicates++;
        s->removed++;
    }
    spool_items_free(it, n);
}

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    int64_t deadline = now_ms() + TEST_WAIT_MS;

    int before;

    while (s->removed < TOTAL_ITEMS && s->bad == 0 && now_ms() < deadline) {
        before = s->removed;
        sender_take(s, "run");
        sender_take(s, "metrics");
        if (s->removed == before)
            usleep(1000); /* nothing yet: let the writers run (valgrind runs one thread at a time) */
    }
    return NULL;
}

static void test_spool_concurrent_appends_and_removes(void **state)
{
    struct spool *sp = NULL;
    struct writer w[WRITERS];
    struct sender *s = calloc(1, sizeof(*s));
    pthread_t th[WRITERS], sth;
    struct ho_error err;
    int k;
    char *dir = test_dir();

    (void)state;
    assert_non_null(s);
    assert_int_equal(spool_open(dir, 100000, BIG, &sp, &err), HO_OK);
    s->sp = sp;
    assert_int_equal(pthread_create(&sth, NULL, sender_main, s), 0);
    for (k = 0; k < WRITERS; k++) {
        w[k].sp = sp;
        w[k].base = k * PER_WRITER;
        w[k].count = PER_WRITER;
        w[k].kind = k % 2 == 0 ? "run" : "metrics";
        w[k].failed = 0;
        assert_int_equal(pthread_create(&th[k], NULL, writer_main, &w[k]), 0);
    }
    for (k = 0; k < WRITERS; k++) {
        assert_int_equal(pthread_join(th[k], NULL), 0);
        assert_int_equal(w[k].failed, 0);
    }
    assert_int_equal(pthread_join(sth, NULL), 0);
    assert_int_equal(s->bad, 0);
    assert_int_equal(s->duplicates, 0);
    assert_int_equal(s->removed, TOTAL_ITEMS);
    for (k = 0; k < TOTAL_ITEMS; k++)
        assert_int_equal(s->seen[k], 1);
    assert_int_equal(spool_depth(sp), 0);
    assert_int_equal(spool_dropped(sp), 0);
    assert_int_equal(count_entries(dir), 0);
    spool_close(sp);
    free(s);
    test_dir_free(dir);
}

/* Under pressure the limits hold exactly and every item is either held or dropped. */
static void test_spool_concurrent_appends_over_limit(void **state)
{
    struct spool *sp = NULL;
    struct writer w[WRITERS];
    pthread_t th[WRITERS];
    struct ho_error err;
    int k;
    char *dir = test_dir(), *text;

    (void)state;
    assert_int_equal(spool_open(dir, 50, BIG, &sp, &err), HO_OK);
    for (k = 0; k < WRITERS; k++) {
        w[k].sp = sp;
        w[k].base = k * PER_WRITER;
        w[k].count = 100; /* every append past 50 also rewrites "dropped": keep it short */
        w[k].kind = k % 2 == 0 ? "run" : "metrics";
        w[k].failed = 0;
        assert_int_equal(pthread_create(&th[k], NULL, writer_main, &w[k]), 0);
    }
    for (k = 0; k < WRITERS; k++) {
        assert_int_equal(pthread_join(th[k], NULL), 0);
        assert_int_equal(w[k].failed, 0);
    }
    assert_int_equal(spool_depth(sp), 50);
    assert_int_equal(spool_dropped(sp), WRITERS * 100 - 50);
    assert_int_equal(count_entries(dir), 51); /* the items and "dropped" */
    spool_close(sp);
    text = read_text(dir, "dropped");
    assert_non_null(text);
    assert_int_equal(strtol(text, NULL, 10), WRITERS * 100 - 50);
    free(text);
    test_dir_free(dir);
}

/* --- crash ---------------------------------------------------------------------------- */

#define CRASH_ROUNDS 3
#define CRASH_ITEMS  100000

/* The content item k was written with: its number, then a size that varies. */
static size_t crash_content(int k, char *out, size_t cap)
{
    size_t len = (size_t)snprintf(out, cap, "item %d:", k);
    size_t fill = ((size_t)k * 7919u) % 6000u;

    memset(out + len, 'a' + k % 26, fill);
    len += fill;
    out[len] = '\0';
    return len;
}

/* Appends CRASH_ITEMS (fsync'd each or not), then waits for the kill. */
static void crash_child(const char *dir, int sync_each)
{
    struct spool *sp = NULL;
    struct ho_error err;
    static char data[8192];
    char id[32];
    size_t len;
    int k;

    if (spool_open(dir, CRASH_ITEMS, BIG, &sp, &err) != HO_OK)
        _exit(1);
    spool_sync_each(sp, sync_each);
    for (k = 0; k < CRASH_ITEMS; k++) {
        id_of(id, sizeof(id), k);
        len = crash_content(k, data, sizeof(data));
        if (spool_append(sp, "run", id, data, len, &err) != HO_OK)
            _exit(2);
    }
    for (k = 0; k < 100; k++) /* the parent kills it within 250 ms */
        usleep(100 * 1000);
    _exit(3);
}

static void crash_check(const char *dir)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    static char want[8192];
    char id[32];
    size_t n = 0, i, len;

    assert_int_equal(spool_open(dir, CRASH_ITEMS, BIG, &sp, &err), HO_OK);
    /* the killed writer's unfinished temp file is young, so it is kept, never indexed */
    assert_true(count_hidden(dir) <= 1);
    assert_int_equal(spool_peek(sp, "run", CRASH_ITEMS, BIG, &it, &n), HO_OK);
    assert_int_equal(n, spool_depth(sp));
    /* appends are sequential and durable one by one: exactly a prefix survives, whole */
    for (i = 0; i < n; i++) {
        id_of(id, sizeof(id), (int)i);
        assert_string_equal(it[i].id, id);
        len = crash_content((int)i, want, sizeof(want));
        assert_int_equal(it[i].len, len);
        assert_memory_equal(it[i].data, want, len);
    }
    spool_items_free(it, n);
    spool_close(sp);
}

/* A kill -9 leaves whole items only, with or without an fsync per append. */
static void test_spool_kill9_leaves_only_whole_items(void **state)
{
    int round, st;
    pid_t pid;
    char *dir;

    (void)state;
    srand((unsigned)(getpid() ^ time(NULL)));
    for (round = 0; round < CRASH_ROUNDS; round++) {
        dir = test_dir();
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            crash_child(dir, round % 2);
        usleep((useconds_t)(20 + rand() % 230) * 1000);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        /* the child must have died of the kill, not of a failed append */
        assert_true(WIFSIGNALED(st));
        crash_check(dir);
        test_dir_free(dir);
    }
}

/* Makes dir/name a symlink to a file beside it: opening it O_NOFOLLOW fails. */
static void make_symlink(const char *dir, const char *name)
{
    char *path = NULL, *target = NULL;

    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    assert_true(asprintf(&target, "%s/../elsewhere", dir) > 0);
    write_file(dir, "../elsewhere", "x");
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink(target, path), 0);
    free(path);
    free(target);
}

static void restore_file(const char *dir, const char *name, const char *text)
{
    char *path = NULL;

    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    assert_int_equal(unlink(path), 0);
    free(path);
    write_file(dir, name, text);
}

/*
 * With spool_sync_each off, appends are not fsync'd and spool_sync fsyncs each
 * of them once (an item it cannot open makes it fail, and it tries that item
 * again next time); with it on, appends are fsync'd and spool_sync leaves
 * them alone. An item removed before the sync is no error.
 */
static void test_spool_sync_each_off_then_sync(void **state)
{
    struct spool *sp = NULL;
    struct spool_item *it = NULL;
    struct ho_error err;
    char *dir = test_dir();
    size_t n;

    (void)state;
    assert_int_equal(spool_open(dir, 10, 1 << 20, &sp, &err), HO_OK);
    spool_sync_each(sp, 0);
    put(sp, "run", 1, "first");
    make_symlink(dir, "0190000000-00000001.run");
    ho_error_clear(&err);
    assert_int_equal(spool_sync(sp, &err), HO_EIO);
    assert_non_null(strstr(err.msg, "0190000000-00000001.run"));
    assert_int_equal(spool_sync(sp, &err), HO_EIO); /* still pending: it fails again */
    restore_file(dir, "0190000000-00000001.run", "first");
    assert_int_equal(spool_sync(sp, &err), HO_OK); /* tried again, now fine */
    make_symlink(dir, "0190000000-00000001.run");
    assert_int_equal(spool_sync(sp, &err), HO_OK); /* synced once: not again */
    restore_file(dir, "0190000000-00000001.run", "first");

    spool_sync_each(sp, 1);
    put(sp, "run", 2, "second");
    make_symlink(dir, "0190000000-00000002.run");
    assert_int_equal(spool_sync(sp, &err), HO_OK); /* fsync'd when appended */
    restore_file(dir, "0190000000-00000002.run", "second");

    spool_sync_each(sp, 0);
    put(sp, "run", 3, "third");
    put(sp, "metrics", 4, "fourth");
    assert_int_equal(spool_remove(sp, "run", "0190000000-00000003"), HO_OK);
    assert_int_equal(spool_sync(sp, &err), HO_OK); /* the removed one is no error */
    make_symlink(dir, "0190000000-00000004.metrics");
    assert_int_equal(spool_sync(sp, &err), HO_OK);
    restore_file(dir, "0190000000-00000004.metrics", "fourth");

    /* every item is whole either way */
    assert_int_equal(spool_peek(sp, "run", 10, 1 << 20, &it, &n), HO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(it[0].data, "first");
    assert_string_equal(it[1].data, "second");
    spool_items_free(it, n);
    spool_close(sp);
    assert_int_equal(spool_open(dir, 10, 1 << 20, &sp, &err), HO_OK);
    assert_int_equal(spool_depth(sp), 3);
    spool_close(sp);
    test_dir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool_order_across_kinds),
        cmocka_unit_test(test_spool_peek_respects_count_and_bytes),
        cmocka_unit_test(test_spool_append_again_replaces),
        cmocka_unit_test(test_spool_reopen_rebuilds_index),
        cmocka_unit_test(test_spool_append_then_sync),
        cmocka_unit_test(test_spool_sync_each_off_then_sync),
        cmocka_unit_test(test_spool_open_creates_folder_and_handles_empty),
        cmocka_unit_test(test_spool_dropped_file_missing_or_corrupt),
        cmocka_unit_test(test_spool_limit_by_count_drops_oldest),
        cmocka_unit_test(test_spool_limit_by_bytes_drops_oldest),
        cmocka_unit_test(test_spool_item_larger_than_spool_refused),
        cmocka_unit_test(test_spool_open_trims_to_smaller_limits),
        cmocka_unit_test(test_spool_open_removes_temp_leftovers),
        cmocka_unit_test(test_spool_open_ignores_unknown_files),
        cmocka_unit_test(test_spool_rescan_finds_items_of_other_processes),
        cmocka_unit_test(test_spool_peek_drops_vanished_items),
        cmocka_unit_test(test_spool_refuses_invalid_names),
        cmocka_unit_test(test_spool_concurrent_appends_and_removes),
        cmocka_unit_test(test_spool_concurrent_appends_over_limit),
        cmocka_unit_test(test_spool_kill9_leaves_only_whole_items),
    };

    log_init("spool_test", getenv("SPOOL_TEST_LOG") != NULL ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Tests of server/store_vfs.c, the writer's VFS that gathers WAL frames: other
 * connections see every commit, a killed process keeps its commits, a write error
 * fails the commit, and spilled or rolled-back frames leave a sound database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_vfs.h"
#include "test_db.h"

#define ROW_BYTES 3000 /* a blob per row: a few rows fill an 8 KiB page */

struct fx {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/store_vfs_test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    test_db_remove(f->path, f->dir);
    free(f);
    return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg != NULL ? msg : "?");
}

/* A connection as the store's writer opens it: this VFS, WAL, 8 KiB pages. */
static sqlite3 *open_writer(const char *path)
{
    sqlite3 *db = NULL;
    const char *vfs = store_vfs_name();

    assert_non_null(vfs);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
                     SQLITE_OK);
    exec_ok(db, "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB NOT NULL)");
    return db;
}

/* Inserts n rows of ROW_BYTES bytes in one transaction; the SQLite result of COMMIT. */
static int insert_rows(sqlite3 *db, int n)
{
    sqlite3_stmt *s = NULL;
    int i;

    exec_ok(db, "BEGIN");
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t (b) VALUES (randomblob(?1))", -1, &s, NULL),
        SQLITE_OK);
    for (i = 0; i < n; i++) {
        sqlite3_bind_int(s, 1, ROW_BYTES);
        assert_int_equal(sqlite3_step(s), SQLITE_DONE);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

static int64_t count_rows(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t n;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static void assert_sound(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* Every commit, small or larger than the buffer, is there for a connection of the default VFS. */
static void test_vfs_commits_seen_by_other_connections(void **state)
{
    struct fx *f = *state;
    sqlite3 *w = open_writer(f->path);
    static const int sizes[] = {1, 7, 60, 500}; /* 500 x 3000 bytes: past the 1 MiB buffer */
    int64_t total = 0;
    size_t i;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_int_equal(insert_rows(w, sizes[i]), SQLITE_OK);
        total += sizes[i];
        assert_int_equal(count_rows(f->path), total);
    }
    assert_int_equal(sqlite3_close(w), SQLITE_OK);
    assert_sound(f->path);
}

/* A process that dies without closing keeps every transaction whose COMMIT returned. */
static void test_vfs_killed_writer_keeps_commits(void **state)
{
    struct fx *f = *state;
    pid_t pid = fork();
    int status = 0, i;

    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *w = open_writer(f->path);

        for (i = 0; i < 20; i++)
            if (insert_rows(w, 30) != SQLITE_OK)
                _exit(3);
        _exit(0); /* no close: nothing flushed at the end */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_rows(f->path), 20 * 30);
    assert_sound(f->path);
}

/*
 * A write of the log that fails fails the COMMIT, as without the buffer: here the
 * file size limit stops the WAL at 128 KiB, and the transaction's frames (about
 * 300 KB, all in the buffer until the commit frame) cross it.
 */
static void test_vfs_write_error_fails_commit(void **state)
{
    struct fx *f = *state;
    sqlite3 *w = open_writer(f->path);
    int status = 0;
    pid_t pid;

    assert_int_equal(insert_rows(w, 10), SQLITE_OK);
    assert_int_equal(sqlite3_close(w), SQLITE_OK);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {.rlim_cur = 128 * 1024, .rlim_max = 128 * 1024};
        int rc;

        signal(SIGXFSZ, SIG_IGN);
        w = open_writer(f->path);
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(4);
        rc = insert_rows(w, 100);
        _exit(rc == SQLITE_OK ? 1 : 0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* 1: the COMMIT said it worked */
    assert_int_equal(count_rows(f->path), 10);
    assert_sound(f->path);
}

/*
 * With a tiny page cache a transaction spills frames into the log before its
 * commit, and SQLite writes some of them again in place; a rolled-back one
 * leaves frames the next transaction writes over.
 */
static void test_vfs_spill_and_rollback(void **state)
{
    struct fx *f = *state;
    sqlite3 *w = open_writer(f->path);

    exec_ok(w, "PRAGMA cache_size = 10");
    assert_int_equal(insert_rows(w, 50), SQLITE_OK);
    exec_ok(w, "BEGIN; INSERT INTO t (b) SELECT randomblob(3000) FROM t; "
               "UPDATE t SET b = randomblob(2900); UPDATE t SET b = randomblob(2800); ROLLBACK");
    assert_int_equal(count_rows(f->path), 50);
    exec_ok(w, "BEGIN; INSERT INTO t (b) SELECT randomblob(3000) FROM t; "
               "UPDATE t SET b = randomblob(2900); UPDATE t SET b = randomblob(2800); COMMIT");
    assert_int_equal(count_rows(f->path), 100);
    assert_int_equal(sqlite3_close(w), SQLITE_OK);
    assert_sound(f->path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_vfs_commits_seen_by_other_connections, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_vfs_killed_writer_keeps_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vfs_write_error_fails_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vfs_spill_and_rollback, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Store operations for operators: an online backup with SQLite's backup API
 * (https://sqlite.org/backup.html), consistent while the server keeps writing,
 * and an integrity check (PRAGMA integrity_check and foreign_key_check).
 * They open their own connection, so they work beside a running server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "mem.h"
#include "store.h"
#include "store_sqlite_impl.h"

#define STORE_OPS_BUSY_MS  10000
#define STORE_OPS_STEP     256 /* pages copied per backup step */
#define STORE_OPS_MAX_LINE 100 /* problems reported at most */

static enum ho_code store_ops_open(const char *path, int flags, sqlite3 **db, struct ho_error *err)
{
    if (sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        ho_error_set(err, HO_EDB, "db", "cannot open %s: %s", path,
                     *db != NULL ? sqlite3_errmsg(*db) : "out of memory");
        sqlite3_close(*db);
        *db = NULL;
        return HO_EDB;
    }
    sqlite3_busy_timeout(*db, STORE_OPS_BUSY_MS);
    return HO_OK;
}

enum ho_code store_backup_file(const char *db_path, const char *dest, struct ho_error *err)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *bk = NULL;
    char *tmp = xasprintf("%s.tmp", dest);
    enum ho_code rc;
    int r;

    if (access(dest, F_OK) == 0) {
        free(tmp);
        return ho_error_set(err, HO_EEXIST, "FILE", "%s already exists", dest);
    }
    unlink(tmp);
    rc = store_ops_open(db_path, SQLITE_OPEN_READONLY, &src, err);
    if (rc == HO_OK)
        rc = store_ops_open(tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &dst, err);
    if (rc != HO_OK)
        goto out;
    bk = sqlite3_backup_init(dst, "main", src, "main");
    if (bk == NULL) {
        rc = ho_error_set(err, HO_EDB, "FILE", "backup: %s", sqlite3_errmsg(dst));
        goto out;
    }
    do {
        r = sqlite3_backup_step(bk, STORE_OPS_STEP);
        if (r == SQLITE_BUSY || r == SQLITE_LOCKED)
            sqlite3_sleep(50);
    } while (r == SQLITE_OK || r == SQLITE_BUSY || r == SQLITE_LOCKED);
    if (sqlite3_backup_finish(bk) != SQLITE_OK || r != SQLITE_DONE)
        rc = ho_error_set(err, HO_EDB, "FILE", "backup: %s", sqlite3_errmsg(dst));
out:
    sqlite3_close(src);
    if (dst != NULL && sqlite3_close(dst) != SQLITE_OK && rc == HO_OK)
        rc = ho_error_set(err, HO_EIO, "FILE", "cannot close %s", tmp);
    if (rc == HO_OK && rename(tmp, dest) != 0)
        rc = ho_error_set(err, HO_EIO, "FILE", "cannot rename %s: %s", tmp, strerror(errno));
    if (rc != HO_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* Adds one line "what: a b" to the report; past its cap the report is simply cut. */
static void store_ops_say(struct buf *report, const char *what, const char *a, const char *b)
{
    if (buf_printf(report, "%s: %s%s%s\n", what, a, b[0] != '\0' ? " " : "", b) != HO_OK)
        return;
}

/* Appends every row of the one-column answer of sql to report; returns the row count. */
static int store_ops_rows(sqlite3 *db, const char *sql, const char *ok_row, struct buf *report)
{
    sqlite3_stmt *s = NULL;
    const unsigned char *t;
    int n = 0, r;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        store_ops_say(report, sql, sqlite3_errmsg(db), "");
        return 1;
    }
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        t = sqlite3_column_text(s, 0);
        if (ok_row != NULL && t != NULL && strcmp((const char *)t, ok_row) == 0)
            continue;
        if (n++ < STORE_OPS_MAX_LINE) {
            const unsigned char *t2 =
                sqlite3_column_count(s) > 1 ? sqlite3_column_text(s, 1) : NULL;

            store_ops_say(report, sql, t != NULL ? (const char *)t : "",
                          t2 != NULL ? (const char *)t2 : "");
        }
    }
    if (r != SQLITE_DONE) {
        store_ops_say(report, sql, sqlite3_errmsg(db), "");
        n++;
    }
    sqlite3_finalize(s);
    return n;
}

enum ho_code store_check_file(const char *db_path, char **report, struct ho_error *err)
{
    sqlite3 *db = NULL;
    struct buf b;
    int bad;
    enum ho_code rc;

    *report = NULL;
    rc = store_ops_open(db_path, SQLITE_OPEN_READONLY, &db, err);
    if (rc != HO_OK)
        return rc;
    buf_init(&b, 1024 * 1024);
    bad = store_ops_rows(db, "PRAGMA integrity_check", "ok", &b);
    bad += store_ops_rows(db, "PRAGMA foreign_key_check", NULL, &b);
    sqlite3_close(db);
    *report = buf_take(&b);
    if (bad > 0)
        return ho_error_set(err, HO_EDB, "db", "%d problem(s) found", bad);
    return HO_OK;
}

static const char token_revoke_sql[] =
    "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL";

enum ho_code store_token_revoke(struct store *st, int64_t id, int64_t now_ms)
{
    sqlite3_stmt *s = NULL;
    enum ho_code rc;

    store_lock(st);
    rc = store_stmt(st, token_revoke_sql, &s);
    if (rc == HO_OK) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, now_ms);
        rc = store_stmt_exec(st, s, "revoke token");
        if (rc == HO_OK && sqlite3_changes(store_db(st)) == 0)
            rc = HO_ENOENT;
    }
    store_unlock(st);
    return rc;
}

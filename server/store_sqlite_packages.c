/*
 * The SQLite side of server/store_packages.h (schema/003_packages.sql): package
 * versions and bundles, assignments, agents' package errors, and the rollout
 * watcher's counts.
 *
 * Versions are immutable, so an assignment always joins to the rows of its
 * resolved and previous versions. GET /agents/self/packages is polled by every
 * agent every minute: it costs one agent lookup by its unique uid and one read
 * of the (few) assignments joined to their versions by the (name, version)
 * unique index, never a scan of agents. The scans (GET /packages/NAME lists
 * agents by label, reading bundles of up to 16 MiB) run on a read-only
 * connection (store_read.h), outside the store lock.
 *
 * The watcher counts runs incrementally: each pass reads only the runs stored
 * since the last (seq > watch_seq, a rowid range; "+column" keeps SQLite from
 * preferring the package index, which would re-read every run since the rollout
 * began) and adds them to the assignment's running counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "rollout.h"
#include "store.h"
#include "store_packages.h"
#include "store_read_impl.h"
#include "store_sqlite_impl.h"

#define PV_COLS                                                                                    \
    "SELECT name, version, sha256, size, signature, key_id, description, checks, published_at "    \
    "FROM package_versions "
#define AS_COLS                                                                                    \
    "SELECT package, selector, version, resolved_version, previous_version, rollout_percent, "     \
    "updated_at, halted, halt_reason, halted_at FROM assignments "

static const char sql_ver_get[] = PV_COLS "WHERE name = ?1 AND version = ?2";
static const char sql_ver_of[] = PV_COLS "WHERE name = ?1";
static const char sql_ver_all[] = PV_COLS "ORDER BY name";
static const char sql_ver_insert[] =
    "INSERT INTO package_versions (name, version, sha256, size, signature, key_id, manifest, "
    "description, checks, published_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
    "RETURNING id";
static const char sql_blob_insert[] = "INSERT INTO package_bundles (version, data) VALUES (?1, ?2)";
static const char sql_ver_sign[] = "UPDATE package_versions SET signature = ?3, key_id = ?4 "
                                   "WHERE name = ?1 AND version = ?2 AND signature IS NULL";
static const char sql_ver_names[] = "SELECT version FROM package_versions WHERE name = ?1";
static const char sql_as_get[] = AS_COLS "WHERE package = ?1";
static const char sql_as_all[] = AS_COLS "ORDER BY package";
/* A new or replaced assignment starts unhalted, its counts from the newest run on. */
static const char sql_as_write[] =
    "INSERT OR REPLACE INTO assignments (package, selector, version, resolved_version, "
    "previous_version, rollout_percent, updated_at, halted, halt_reason, halted_at, watch_seq, "
    "new_runs, new_failed, prev_runs, prev_failed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, NULL, "
    "NULL, (SELECT coalesce(max(seq), 0) FROM runs), 0, 0, 0, 0)";
static const char sql_as_delete[] = "DELETE FROM assignments WHERE package = ?1";
static const char sql_offers[] =
    "SELECT a.package, a.selector, a.version, a.resolved_version, a.previous_version, "
    "a.rollout_percent, a.updated_at, a.halted, a.halt_reason, a.halted_at, n.sha256, n.size, "
    "n.signature, p.sha256, p.size, p.signature FROM assignments a "
    "JOIN package_versions n ON n.name = a.package AND n.version = a.resolved_version "
    "LEFT JOIN package_versions p ON p.name = a.package AND p.version = a.previous_version "
    "ORDER BY a.package";
static const char sql_agent_labels[] = "SELECT id, labels FROM agents WHERE uid = ?1";
static const char sql_agent_id[] = "SELECT id FROM agents WHERE uid = ?1";
static const char sql_err_clear[] = "DELETE FROM package_errors WHERE agent = ?1";
static const char sql_err_insert[] =
    "INSERT INTO package_errors (agent, package, version, error, at) VALUES (?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT (agent, package) DO UPDATE SET version = excluded.version, "
    "error = excluded.error, at = excluded.at";
static const char sql_watch_get[] =
    "SELECT updated_at, watch_seq, new_runs, new_failed, prev_runs, prev_failed FROM assignments "
    "WHERE package = ?1 AND halted = 0 AND previous_version IS NOT NULL";
static const char sql_max_seq[] = "SELECT coalesce(max(seq), 0) FROM runs";
static const char sql_tally[] =
    "SELECT version, count(*), coalesce(sum(outcome >= 2), 0) FROM runs "
    "WHERE seq > ?1 AND seq <= ?2 AND +package = ?3 AND +started_at >= ?4 "
    "AND +version IN (?5, ?6) GROUP BY version";
static const char sql_watch_add[] =
    "UPDATE assignments SET watch_seq = ?2, new_runs = new_runs + ?3, new_failed = new_failed + "
    "?4, "
    "prev_runs = prev_runs + ?5, prev_failed = prev_failed + ?6 WHERE package = ?1";
static const char sql_halt[] =
    "UPDATE assignments SET halted = 1, halt_reason = ?3, halted_at = ?4 "
    "WHERE package = ?1 AND updated_at = ?2 AND halted = 0";
/* Read connection (prepared per call). */
static const char sql_bundle_meta[] =
    "SELECT id, sha256 FROM package_versions WHERE name = ?1 AND version = ?2";
static const char sql_bundle_data[] = "SELECT data FROM package_bundles WHERE version = ?1";
/*
 * Agents of a package: by heartbeat, by error, or by the selector (?2, a JSON object;
 * every key = value must be among the agent's labels). Heartbeat packages are the
 * JSON array [{"name","version"}] the server stored itself.
 */
#define AGENT_PKGS "json_each(CASE WHEN json_valid(a.packages) THEN a.packages ELSE '[]' END) p "
static const char sql_pkg_agents[] =
    "SELECT a.uid, a.name, a.labels, (SELECT json_extract(p.value, '$.version') FROM " AGENT_PKGS
    "  WHERE json_extract(p.value, '$.name') = ?1 LIMIT 1), "
    "EXISTS (SELECT 1 FROM " AGENT_PKGS "WHERE json_extract(p.value, '$.name') = ?1) AS reports, "
    "e.version, e.error FROM agents a "
    "LEFT JOIN package_errors e ON e.agent = a.id AND e.package = ?1 "
    "WHERE reports OR e.agent IS NOT NULL OR (?2 IS NOT NULL AND NOT EXISTS "
    "  (SELECT 1 FROM json_each(?2) s WHERE NOT EXISTS "
    "    (SELECT 1 FROM json_each(a.labels) l WHERE l.key = s.key AND l.value = s.value))) "
    "ORDER BY a.name LIMIT ?3";

/* ---- records ---- */

void store_pkg_version_cleanup(struct pkg_version *v)
{
    if (v == NULL)
        return;
    free(v->name);
    free(v->version);
    free(v->signature);
    free(v->key_id);
    free(v->description);
    free(v->checks_json);
    memset(v, 0, sizeof(*v));
}

void store_pkg_versions_free(struct pkg_version *v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++)
        store_pkg_version_cleanup(&v[i]);
    free(v);
}

void store_pkg_assignment_cleanup(struct pkg_assignment *a)
{
    if (a == NULL)
        return;
    free(a->package);
    free(a->selector_json);
    free(a->version);
    free(a->resolved_version);
    free(a->previous_version);
    free(a->halt_reason);
    memset(a, 0, sizeof(*a));
}

void store_pkg_assignments_free(struct pkg_assignment *a, size_t n)
{
    size_t i;

    for (i = 0; a != NULL && i < n; i++)
        store_pkg_assignment_cleanup(&a[i]);
    free(a);
}

void store_pkg_offers_free(struct pkg_offer *o, size_t n)
{
    size_t i;

    for (i = 0; o != NULL && i < n; i++) {
        store_pkg_assignment_cleanup(&o[i].a);
        free(o[i].new_signature);
        free(o[i].prev_signature);
    }
    free(o);
}

void store_pkg_agents_free(struct pkg_agent *a, size_t n)
{
    size_t i;

    for (i = 0; a != NULL && i < n; i++) {
        free(a[i].name);
        free(a[i].labels_json);
        free(a[i].version);
        free(a[i].error);
        free(a[i].error_version);
    }
    free(a);
}

static void col_hex(sqlite3_stmt *s, int i, char out[CRYPTO_SHA256_HEX_LEN])
{
    const unsigned char *t = sqlite3_column_text(s, i);

    snprintf(out, CRYPTO_SHA256_HEX_LEN, "%s", t != NULL ? (const char *)t : "");
}

static void version_from_row(sqlite3_stmt *s, struct pkg_version *v)
{
    memset(v, 0, sizeof(*v));
    v->name = store_col_dup(s, 0);
    v->version = store_col_dup(s, 1);
    col_hex(s, 2, v->sha256);
    v->size = sqlite3_column_int64(s, 3);
    v->signature = store_col_dup(s, 4);
    v->key_id = store_col_dup(s, 5);
    v->description = store_col_dup(s, 6);
    v->checks_json = store_col_dup(s, 7);
    v->published_at_ms = sqlite3_column_int64(s, 8);
}

/* Columns from..from+9 of an AS_COLS-shaped row. */
static void assignment_from_row(sqlite3_stmt *s, int from, struct pkg_assignment *a)
{
    memset(a, 0, sizeof(*a));
    a->package = store_col_dup(s, from);
    a->selector_json = store_col_dup(s, from + 1);
    a->version = store_col_dup(s, from + 2);
    a->resolved_version = store_col_dup(s, from + 3);
    a->previous_version = store_col_dup(s, from + 4);
    a->rollout_percent = sqlite3_column_int(s, from + 5);
    a->updated_at_ms = sqlite3_column_int64(s, from + 6);
    a->halted = sqlite3_column_int(s, from + 7) != 0;
    a->halt_reason = store_col_dup(s, from + 8);
    a->halted_at_ms = sqlite3_column_int64(s, from + 9);
}

/* Steps s (bound by the caller) and collects every row of PV_COLS shape. */
static enum ho_code HO_WUR versions_fetch(struct store *st, sqlite3_stmt *s,
                                          struct pkg_version **out, size_t *n)
{
    struct pkg_version *v = NULL;
    size_t k = 0, cap = 0;
    enum ho_code rc = HO_OK;
    int r;

    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        version_from_row(s, &v[k++]);
    }
    if (r != SQLITE_DONE) {
        rc = store_fail(st, NULL, "package versions");
        store_pkg_versions_free(v, k);
        v = NULL;
        k = 0;
    }
    store_stmt_done(s);
    *out = v;
    *n = k;
    return rc;
}

/* ---- versions ---- */

/* The version row of name + version; HO_ENOENT when there is none. Lock held. */
static enum ho_code HO_WUR version_get(struct store *st, const char *name, const char *version,
                                       struct pkg_version *out)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int r;

    rc = store_stmt(st, sql_ver_get, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, name);
    store_bind_text(s, 2, version);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        version_from_row(s, out);
    else
        rc = r == SQLITE_DONE ? HO_ENOENT : store_fail(st, NULL, "package version");
    store_stmt_done(s);
    return rc;
}

/* The version names of package name into a new array (caller frees array and strings). */
static enum ho_code HO_WUR version_names(struct store *st, const char *name, char ***out, size_t *n)
{
    sqlite3_stmt *s;
    char **v = NULL;
    size_t k = 0, cap = 0, i;
    enum ho_code rc;
    int r;

    *out = NULL;
    *n = 0;
    rc = store_stmt(st, sql_ver_names, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, name);
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[k++] = store_col_dup(s, 0);
    }
    if (r != SQLITE_DONE) {
        rc = store_fail(st, NULL, "package version names");
        for (i = 0; i < k; i++)
            free(v[i]);
        free(v);
        v = NULL;
        k = 0;
    }
    store_stmt_done(s);
    *out = v;
    *n = k;
    return rc;
}

static void names_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* What "latest" resolves to for package name (a new string) ; HO_ENOENT without versions. */
static enum ho_code HO_WUR latest_of(struct store *st, const char *name, char **out)
{
    char **v = NULL;
    size_t n = 0, i;
    enum ho_code rc;

    *out = NULL;
    rc = version_names(st, name, &v, &n);
    if (rc != HO_OK)
        return rc;
    i = rollout_latest((const char *const *)v, n);
    if (i < n)
        *out = xstrdup(v[i]);
    else
        rc = HO_ENOENT;
    names_free(v, n);
    return rc;
}

/*
 * The previous version when an assignment moves to resolved: what its agents ran
 * until now (the previous version while halted, else the resolved one), unless
 * that is the new version itself. Returns a new string or NULL.
 */
static char *previous_for(const struct pkg_assignment *old, const char *resolved)
{
    const char *before;

    if (old == NULL)
        return NULL;
    before = old->halted ? old->previous_version : old->resolved_version;
    if (before != NULL && strcmp(before, resolved) != 0)
        return xstrdup(before);
    /* the same version as before: keep the fallback it had, if it differs */
    if (old->previous_version != NULL && strcmp(old->previous_version, resolved) != 0 &&
        !old->halted)
        return xstrdup(old->previous_version);
    return NULL;
}

/* Writes an assignment row (new or replacing), unhalted, counts restarted. Lock held. */
static enum ho_code HO_WUR assignment_write(struct store *st, const char *package,
                                            const char *selector, const char *version,
                                            const char *resolved, const char *previous, int percent,
                                            int64_t now_ms)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    rc = store_stmt(st, sql_as_write, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, package);
    store_bind_text(s, 2, selector);
    store_bind_text(s, 3, version);
    store_bind_text(s, 4, resolved);
    store_bind_text(s, 5, previous);
    sqlite3_bind_int(s, 6, percent);
    sqlite3_bind_int64(s, 7, now_ms);
    return store_stmt_exec(st, s, "write assignment");
}

/* The assignment of package; HO_ENOENT when none. Lock held. */
static enum ho_code HO_WUR assignment_get(struct store *st, const char *package,
                                          struct pkg_assignment *out)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int r;

    rc = store_stmt(st, sql_as_get, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, package);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        assignment_from_row(s, 0, out);
    else
        rc = r == SQLITE_DONE ? HO_ENOENT : store_fail(st, NULL, "assignment");
    store_stmt_done(s);
    return rc;
}

/* After a publish: a "latest" assignment of the package moves to what latest is now. */
static enum ho_code HO_WUR latest_follow(struct store *st, const char *package, int64_t now_ms)
{
    struct pkg_assignment a;
    char *latest = NULL, *prev = NULL;
    enum ho_code rc;

    rc = assignment_get(st, package, &a);
    if (rc == HO_ENOENT)
        return HO_OK;
    if (rc != HO_OK)
        return rc;
    if (strcmp(a.version, ROLLOUT_LATEST) != 0)
        goto out;
    rc = latest_of(st, package, &latest);
    if (rc != HO_OK || strcmp(latest, a.resolved_version) == 0)
        goto out;
    prev = previous_for(&a, latest);
    rc = assignment_write(st, package, a.selector_json, a.version, latest, prev, a.rollout_percent,
                          now_ms);
    if (rc == HO_OK)
        log_info("packages: assignment of %s follows latest to %s (previous %s)", package, latest,
                 prev != NULL ? prev : "none");
out:
    free(latest);
    free(prev);
    store_pkg_assignment_cleanup(&a);
    return rc;
}

/* Inserts a new version and its bundle. Lock and transaction held. */
static enum ho_code HO_WUR version_insert(struct store *st, const struct pkg_publish *p)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int64_t id = 0;
    int r;

    rc = store_stmt(st, sql_ver_insert, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, p->v.name);
    store_bind_text(s, 2, p->v.version);
    store_bind_text(s, 3, p->v.sha256);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)p->len);
    store_bind_text(s, 5, p->v.signature);
    store_bind_text(s, 6, p->v.key_id);
    store_bind_text(s, 7, p->manifest_json);
    store_bind_text(s, 8, p->v.description);
    store_bind_text(s, 9, p->v.checks_json != NULL ? p->v.checks_json : "[]");
    sqlite3_bind_int64(s, 10, p->v.published_at_ms);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        id = sqlite3_column_int64(s, 0);
    else
        rc = store_fail(st, NULL, "insert package version");
    store_stmt_done(s);
    if (rc != HO_OK)
        return rc;
    rc = store_stmt(st, sql_blob_insert, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_blob64(s, 2, p->data, (sqlite3_uint64)p->len, SQLITE_STATIC);
    return store_stmt_exec(st, s, "insert package bundle");
}

/* The same bytes again: an unsigned record takes the signature now given. Lock held. */
static enum ho_code HO_WUR version_sign(struct store *st, const struct pkg_publish *p)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    if (p->v.signature == NULL)
        return HO_OK;
    rc = store_stmt(st, sql_ver_sign, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, p->v.name);
    store_bind_text(s, 2, p->v.version);
    store_bind_text(s, 3, p->v.signature);
    store_bind_text(s, 4, p->v.key_id);
    return store_stmt_exec(st, s, "sign package version");
}

enum ho_code store_package_publish(struct store *st, const struct pkg_publish *p, int64_t now_ms,
                                   struct pkg_version *out, int *created)
{
    struct pkg_version old;
    enum ho_code rc;

    memset(out, 0, sizeof(*out));
    memset(&old, 0, sizeof(old));
    *created = 0;
    store_lock(st);
    rc = store_tx_begin(st);
    if (rc != HO_OK)
        goto out;
    rc = version_get(st, p->v.name, p->v.version, &old);
    if (rc == HO_OK) {
        if (strcmp(old.sha256, p->v.sha256) != 0)
            rc = HO_EEXIST;
        else if (old.signature == NULL)
            rc = version_sign(st, p);
    } else if (rc == HO_ENOENT) {
        rc = version_insert(st, p);
        if (rc == HO_OK)
            rc = latest_follow(st, p->v.name, now_ms);
        *created = rc == HO_OK;
    }
    if (rc == HO_OK)
        rc = version_get(st, p->v.name, p->v.version, out);
    if (rc == HO_OK)
        rc = store_tx_commit(st);
    if (rc != HO_OK) {
        store_tx_rollback(st);
        store_pkg_version_cleanup(out);
        *created = 0;
    }
out:
    store_unlock(st);
    store_pkg_version_cleanup(&old);
    return rc;
}

enum ho_code store_package_versions(struct store *st, const char *name, struct pkg_version **out,
                                    size_t *n)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    *out = NULL;
    *n = 0;
    store_lock(st);
    rc = store_stmt(st, sql_ver_of, &s);
    if (rc == HO_OK) {
        store_bind_text(s, 1, name);
        rc = versions_fetch(st, s, out, n);
    }
    store_unlock(st);
    return rc;
}

enum ho_code store_package_versions_all(struct store *st, struct pkg_version **out, size_t *n)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    *out = NULL;
    *n = 0;
    store_lock(st);
    rc = store_stmt(st, sql_ver_all, &s);
    if (rc == HO_OK)
        rc = versions_fetch(st, s, out, n);
    store_unlock(st);
    return rc;
}

enum ho_code store_package_bundle(struct store_read *r, const char *name, const char *version,
                                  void **data, size_t *len, char sha256[CRYPTO_SHA256_HEX_LEN])
{
    sqlite3 *db = store_read_db(r);
    sqlite3_stmt *s = NULL;
    const void *blob;
    int64_t id = 0;
    enum ho_code rc = HO_OK;
    int n, step;

    *data = NULL;
    *len = 0;
    sha256[0] = '\0';
    /* one read transaction, so the two statements see the same snapshot */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql_bundle_meta, -1, &s, NULL) != SQLITE_OK) {
        rc = HO_EDB;
        goto out;
    }
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, version, -1, SQLITE_STATIC);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        id = sqlite3_column_int64(s, 0);
        col_hex(s, 1, sha256);
    }
    rc = step == SQLITE_ROW ? HO_OK : step == SQLITE_DONE ? HO_ENOENT : HO_EDB;
    sqlite3_finalize(s);
    s = NULL;
    if (rc != HO_OK)
        goto out;
    if (sqlite3_prepare_v2(db, sql_bundle_data, -1, &s, NULL) != SQLITE_OK) {
        rc = HO_EDB;
        goto out;
    }
    sqlite3_bind_int64(s, 1, id);
    step = sqlite3_step(s);
    if (step != SQLITE_ROW) {
        rc = step == SQLITE_DONE ? HO_ENOENT : HO_EDB;
        goto out;
    }
    blob = sqlite3_column_blob(s, 0);
    n = sqlite3_column_bytes(s, 0);
    *data = xmalloc(n > 0 ? (size_t)n : 1);
    if (n > 0)
        memcpy(*data, blob, (size_t)n);
    *len = (size_t)n;
out:
    if (rc == HO_EDB)
        log_warnx("store: package bundle %s %s: %s", name, version, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* ---- assignments ---- */

enum ho_code store_assignment_get(struct store *st, const char *package, struct pkg_assignment *out)
{
    enum ho_code rc;

    memset(out, 0, sizeof(*out));
    store_lock(st);
    rc = assignment_get(st, package, out);
    store_unlock(st);
    return rc;
}

enum ho_code store_assignments_all(struct store *st, struct pkg_assignment **out, size_t *n)
{
    struct pkg_assignment *a = NULL;
    sqlite3_stmt *s;
    size_t k = 0, cap = 0;
    enum ho_code rc;
    int r;

    *out = NULL;
    *n = 0;
    store_lock(st);
    rc = store_stmt(st, sql_as_all, &s);
    if (rc != HO_OK)
        goto out;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 8;
            a = xrealloc(a, cap * sizeof(*a));
        }
        assignment_from_row(s, 0, &a[k++]);
    }
    if (r != SQLITE_DONE) {
        rc = store_fail(st, NULL, "assignments");
        store_pkg_assignments_free(a, k);
        a = NULL;
        k = 0;
    }
    store_stmt_done(s);
    *out = a;
    *n = k;
out:
    store_unlock(st);
    return rc;
}

/* Resolves version ("latest" or one that must exist) of package into a new string. */
static enum ho_code HO_WUR resolve(struct store *st, const char *package, const char *version,
                                   char **out, struct ho_error *err)
{
    struct pkg_version v;
    enum ho_code rc;

    *out = NULL;
    if (strcmp(version, ROLLOUT_LATEST) == 0) {
        rc = latest_of(st, package, out);
        if (rc == HO_ENOENT)
            return ho_error_set(err, HO_ENOENT, "name", "package %s has no published version",
                                package);
        return rc;
    }
    rc = version_get(st, package, version, &v);
    if (rc == HO_OK) {
        *out = xstrdup(v.version);
        store_pkg_version_cleanup(&v);
        return HO_OK;
    }
    if (rc == HO_ENOENT)
        return ho_error_set(err, HO_ENOENT, "version", "package %s has no version %s", package,
                            version);
    return rc;
}

enum ho_code store_assignment_put(struct store *st, const char *package, const char *selector_json,
                                  const char *version, int percent, int64_t now_ms,
                                  struct pkg_assignment *out, struct ho_error *err)
{
    struct pkg_assignment old;
    char *resolved = NULL, *prev = NULL;
    int have_old;
    enum ho_code rc;

    memset(out, 0, sizeof(*out));
    memset(&old, 0, sizeof(old));
    store_lock(st);
    rc = store_tx_begin(st);
    if (rc != HO_OK)
        goto unlock;
    rc = resolve(st, package, version, &resolved, err);
    if (rc != HO_OK)
        goto out;
    rc = assignment_get(st, package, &old);
    have_old = rc == HO_OK;
    if (rc == HO_ENOENT)
        rc = HO_OK;
    if (rc != HO_OK)
        goto out;
    prev = previous_for(have_old ? &old : NULL, resolved);
    rc = assignment_write(st, package, selector_json, version, resolved, prev, percent, now_ms);
    if (rc == HO_OK)
        rc = assignment_get(st, package, out);
    if (rc == HO_OK)
        rc = store_tx_commit(st);
out:
    if (rc != HO_OK) {
        store_tx_rollback(st);
        store_pkg_assignment_cleanup(out);
        if (rc == HO_EDB)
            ho_error_set(err, HO_EDB, NULL, "could not store the assignment");
    }
unlock:
    store_unlock(st);
    free(resolved);
    free(prev);
    store_pkg_assignment_cleanup(&old);
    return rc;
}

enum ho_code store_assignment_delete(struct store *st, const char *package)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    store_lock(st);
    rc = store_stmt(st, sql_as_delete, &s);
    if (rc == HO_OK) {
        store_bind_text(s, 1, package);
        rc = store_stmt_exec(st, s, "delete assignment");
        if (rc == HO_OK && sqlite3_changes(store_db(st)) == 0)
            rc = HO_ENOENT;
    }
    store_unlock(st);
    return rc;
}

/* ---- what one agent is offered ---- */

/* The rowid and (labels != NULL) the labels of the agent with uid. Lock held. */
static enum ho_code HO_WUR agent_lookup(struct store *st, const char *uid, int64_t *id,
                                        char **labels)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int r;

    rc = store_stmt(st, labels != NULL ? sql_agent_labels : sql_agent_id, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, uid);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        if (labels != NULL)
            *labels = store_col_dup(s, 1);
    } else {
        rc = r == SQLITE_DONE ? HO_ENOENT : store_fail(st, NULL, "agent lookup");
    }
    store_stmt_done(s);
    return rc;
}

enum ho_code store_agent_offers(struct store *st, const char *agent_id, char **labels_json,
                                struct pkg_offer **out, size_t *n)
{
    struct pkg_offer *o = NULL;
    sqlite3_stmt *s;
    size_t k = 0, cap = 0;
    int64_t id;
    enum ho_code rc;
    int r;

    *labels_json = NULL;
    *out = NULL;
    *n = 0;
    store_lock(st);
    rc = agent_lookup(st, agent_id, &id, labels_json);
    if (rc == HO_OK)
        rc = store_stmt(st, sql_offers, &s);
    if (rc != HO_OK)
        goto out;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 8;
            o = xrealloc(o, cap * sizeof(*o));
        }
        memset(&o[k], 0, sizeof(o[k]));
        assignment_from_row(s, 0, &o[k].a);
        col_hex(s, 10, o[k].new_sha256);
        o[k].new_size = sqlite3_column_int64(s, 11);
        o[k].new_signature = store_col_dup(s, 12);
        col_hex(s, 13, o[k].prev_sha256);
        o[k].prev_size = sqlite3_column_int64(s, 14);
        o[k].prev_signature = store_col_dup(s, 15);
        k++;
    }
    if (r != SQLITE_DONE) {
        rc = store_fail(st, NULL, "agent packages");
        store_pkg_offers_free(o, k);
        o = NULL;
        k = 0;
    }
    store_stmt_done(s);
    *out = o;
    *n = k;
out:
    store_unlock(st);
    if (rc != HO_OK) {
        free(*labels_json);
        *labels_json = NULL;
    }
    return rc;
}

/* ---- package errors ---- */

enum ho_code store_package_errors_set(struct store *st, const char *agent_id,
                                      const struct pkg_error *e, size_t n, int64_t now_ms)
{
    sqlite3_stmt *s;
    int64_t id = 0;
    enum ho_code rc;
    size_t i;

    store_lock(st);
    rc = store_tx_begin(st);
    if (rc != HO_OK)
        goto unlock;
    rc = agent_lookup(st, agent_id, &id, NULL);
    if (rc == HO_OK)
        rc = store_stmt(st, sql_err_clear, &s);
    if (rc == HO_OK) {
        sqlite3_bind_int64(s, 1, id);
        rc = store_stmt_exec(st, s, "clear package errors");
    }
    if (rc == HO_OK && n > 0)
        rc = store_stmt(st, sql_err_insert, &s);
    for (i = 0; rc == HO_OK && i < n; i++) {
        sqlite3_bind_int64(s, 1, id);
        store_bind_text(s, 2, e[i].package);
        store_bind_text(s, 3, e[i].version);
        store_bind_text(s, 4, e[i].error);
        sqlite3_bind_int64(s, 5, now_ms);
        rc = store_stmt_exec(st, s, "insert package error");
    }
    if (rc == HO_OK)
        rc = store_tx_commit(st);
    if (rc != HO_OK)
        store_tx_rollback(st);
unlock:
    store_unlock(st);
    return rc;
}

static const char sql_err_get[] =
    "SELECT package, version, error, at FROM package_errors WHERE agent = ?1 "
    "ORDER BY package LIMIT 64";

enum ho_code store_package_errors_get(struct store *st, const char *agent_id,
                                      struct pkg_error_row **out, size_t *n)
{
    struct pkg_error_row *v = NULL;
    sqlite3_stmt *s;
    int64_t id = 0;
    enum ho_code rc;
    size_t k = 0;
    int r = SQLITE_DONE;

    *out = NULL;
    *n = 0;
    store_lock(st);
    rc = agent_lookup(st, agent_id, &id, NULL);
    if (rc == HO_OK)
        rc = store_stmt(st, sql_err_get, &s);
    if (rc == HO_OK) {
        sqlite3_bind_int64(s, 1, id);
        v = xcalloc(64, sizeof(*v));
        while (k < 64 && (r = sqlite3_step(s)) == SQLITE_ROW) {
            v[k].package = store_col_dup(s, 0);
            v[k].version = store_col_dup(s, 1);
            v[k].error = store_col_dup(s, 2);
            v[k].at_ms = sqlite3_column_int64(s, 3);
            k++;
        }
        if (r != SQLITE_ROW && r != SQLITE_DONE)
            rc = store_fail(st, NULL, "read package errors");
        store_stmt_done(s);
    }
    store_unlock(st);
    if (rc != HO_OK) {
        store_pkg_error_rows_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return HO_OK;
}

void store_pkg_error_rows_free(struct pkg_error_row *e, size_t n)
{
    size_t i;

    for (i = 0; e != NULL && i < n; i++) {
        free(e[i].package);
        free(e[i].version);
        free(e[i].error);
    }
    free(e);
}

/* ---- agents of a package (read connection) ---- */

static char *rcol_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    return t != NULL ? xstrndup((const char *)t, (size_t)sqlite3_column_bytes(s, i)) : NULL;
}

enum ho_code store_package_agents(struct store_read *r, const char *name, const char *selector_json,
                                  size_t limit, struct pkg_agent **out, size_t *n)
{
    sqlite3 *db = store_read_db(r);
    sqlite3_stmt *s = NULL;
    struct pkg_agent *a = NULL, *x;
    size_t k = 0, cap = 0;
    enum ho_code rc = HO_OK;
    int step;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, sql_pkg_agents, -1, &s, NULL) != SQLITE_OK) {
        log_warnx("store: package agents: %s", sqlite3_errmsg(db));
        return HO_EDB;
    }
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    if (selector_json != NULL)
        sqlite3_bind_text(s, 2, selector_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)limit);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 16;
            a = xrealloc(a, cap * sizeof(*a));
        }
        x = &a[k++];
        memset(x, 0, sizeof(*x));
        snprintf(x->agent_id, sizeof(x->agent_id), "%s",
                 sqlite3_column_text(s, 0) != NULL ? (const char *)sqlite3_column_text(s, 0) : "");
        x->name = rcol_dup(s, 1);
        x->labels_json = rcol_dup(s, 2);
        x->version = rcol_dup(s, 3);
        x->reports = sqlite3_column_int(s, 4) != 0;
        x->error_version = rcol_dup(s, 5);
        x->error = rcol_dup(s, 6);
    }
    if (step != SQLITE_DONE) {
        log_warnx("store: package agents: %s", sqlite3_errmsg(db));
        rc = HO_EDB;
        store_pkg_agents_free(a, k);
        a = NULL;
        k = 0;
    }
    sqlite3_finalize(s);
    *out = a;
    *n = k;
    return rc;
}

/* ---- rollout watcher ---- */

/* Adds the runs with seq in (from, to] of package to c, by version. Lock held. */
static enum ho_code HO_WUR tally_runs(struct store *st, const struct pkg_assignment *a,
                                      int64_t from, int64_t to, struct rollout_counts *add)
{
    const unsigned char *v;
    sqlite3_stmt *s;
    enum ho_code rc;
    int r;

    memset(add, 0, sizeof(*add));
    rc = store_stmt(st, sql_tally, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    store_bind_text(s, 3, a->package);
    sqlite3_bind_int64(s, 4, a->updated_at_ms);
    store_bind_text(s, 5, a->resolved_version);
    store_bind_text(s, 6, a->previous_version);
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        v = sqlite3_column_text(s, 0);
        if (v == NULL)
            continue;
        if (strcmp((const char *)v, a->resolved_version) == 0) {
            add->new_runs += sqlite3_column_int64(s, 1);
            add->new_failed += sqlite3_column_int64(s, 2);
        } else {
            add->prev_runs += sqlite3_column_int64(s, 1);
            add->prev_failed += sqlite3_column_int64(s, 2);
        }
    }
    if (r != SQLITE_DONE)
        rc = store_fail(st, NULL, "rollout tally");
    store_stmt_done(s);
    return rc;
}

/* Reads one integer of a statement without parameters. Lock held. */
static enum ho_code HO_WUR one_int(struct store *st, const char *sql, int64_t *out)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    rc = store_stmt(st, sql, &s);
    if (rc != HO_OK)
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else
        rc = store_fail(st, NULL, "max seq");
    store_stmt_done(s);
    return rc;
}

/* Reads the watcher's state of package; HO_ENOENT when there is nothing to watch. */
static enum ho_code HO_WUR watch_get(struct store *st, const char *package, int64_t *seq,
                                     struct rollout_counts *c)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int r;

    rc = store_stmt(st, sql_watch_get, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, package);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *seq = sqlite3_column_int64(s, 1);
        c->new_runs = sqlite3_column_int64(s, 2);
        c->new_failed = sqlite3_column_int64(s, 3);
        c->prev_runs = sqlite3_column_int64(s, 4);
        c->prev_failed = sqlite3_column_int64(s, 5);
    } else {
        rc = r == SQLITE_DONE ? HO_ENOENT : store_fail(st, NULL, "rollout watch");
    }
    store_stmt_done(s);
    return rc;
}

static enum ho_code HO_WUR watch_add(struct store *st, const char *package, int64_t seq,
                                     const struct rollout_counts *add)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    rc = store_stmt(st, sql_watch_add, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, package);
    sqlite3_bind_int64(s, 2, seq);
    sqlite3_bind_int64(s, 3, add->new_runs);
    sqlite3_bind_int64(s, 4, add->new_failed);
    sqlite3_bind_int64(s, 5, add->prev_runs);
    sqlite3_bind_int64(s, 6, add->prev_failed);
    return store_stmt_exec(st, s, "rollout counts");
}

enum ho_code store_rollout_tally(struct store *st, const char *package, struct pkg_assignment *a,
                                 struct rollout_counts *c)
{
    struct rollout_counts add;
    int64_t from = 0, to = 0;
    enum ho_code rc;

    memset(a, 0, sizeof(*a));
    memset(c, 0, sizeof(*c));
    store_lock(st);
    rc = store_tx_begin(st);
    if (rc != HO_OK)
        goto unlock;
    rc = watch_get(st, package, &from, c);
    if (rc == HO_OK)
        rc = assignment_get(st, package, a);
    if (rc == HO_OK)
        rc = one_int(st, sql_max_seq, &to);
    if (rc == HO_OK && to > from) {
        rc = tally_runs(st, a, from, to, &add);
        if (rc == HO_OK)
            rc = watch_add(st, package, to, &add);
        c->new_runs += add.new_runs;
        c->new_failed += add.new_failed;
        c->prev_runs += add.prev_runs;
        c->prev_failed += add.prev_failed;
    }
    if (rc == HO_OK)
        rc = store_tx_commit(st);
    if (rc != HO_OK) {
        store_tx_rollback(st);
        store_pkg_assignment_cleanup(a);
    }
unlock:
    store_unlock(st);
    return rc;
}

enum ho_code store_rollout_halt(struct store *st, const char *package, int64_t updated_at_ms,
                                const char *reason, int64_t now_ms)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    store_lock(st);
    rc = store_stmt(st, sql_halt, &s);
    if (rc == HO_OK) {
        store_bind_text(s, 1, package);
        sqlite3_bind_int64(s, 2, updated_at_ms);
        store_bind_text(s, 3, reason);
        sqlite3_bind_int64(s, 4, now_ms);
        rc = store_stmt_exec(st, s, "halt rollout");
        if (rc == HO_OK && sqlite3_changes(store_db(st)) == 0)
            rc = HO_ENOENT;
    }
    store_unlock(st);
    return rc;
}

/*
 * The SQLite backend of store_alerts.h (schema/004_alerts.sql): alerts, the
 * alert outbox and the receivers' counters.
 *
 * An alert change and its outbox rows go in one transaction (the engine's
 * callback encodes the messages once the alert id is known), so a crash
 * never leaves an alert opened or resolved without its messages queued, nor
 * messages for a change that did not happen. The partial unique index
 * alerts_open keeps one open alert per key whatever the engine does.
 *
 * The outbox keeps each (event x receiver) request as encoded; url, headers
 * and body (they may hold secrets) are cleared when a row is finished.
 * Delivery order per alert and receiver is kept by the "due" query: a row waits
 * while an older row of the same alert and receiver is pending.
 *
 * History paging is keyset on (opened_at, id), newest first, with every bound
 * always bound (defaults at the extremes) so the range stays an index range;
 * the rarer filters are "(?N IS NULL OR col = ?N)", cheap on this small table.
 * Cursors are "L<opened_at>_<id>".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "parse.h"
#include "run.h"
#include "store_alerts.h"
#include "store_sqlite_impl.h"

#define ALERT_COLS                                                                                 \
    "SELECT al.id, al.key, a.uid, a.name, a.labels, al.check_name, al.package, al.kind, "          \
    "al.severity, al.summary, al.context, al.last_run_id, al.opened_at, al.last_sent_at, "         \
    "al.last_resend_at, al.resolved_at, a.last_seen, al.count FROM alerts al "                     \
    "JOIN agents a ON a.id = al.agent "

static const char sql_agent[] =
    "SELECT id, uid, name, labels, last_seen FROM agents WHERE uid = ?1";
static const char sql_state[] =
    "SELECT s.package, s.run_id, s.outcome, s.repair_status, s.consecutive_failures, "
    "s.last_run_at, s.interval_s, r.version, r.test_output, r.repair_output, r.retest_output "
    "FROM state s LEFT JOIN runs r ON r.id = s.run_id WHERE s.agent = ?1 AND s.check_name = ?2";
static const char sql_open_by_key[] = ALERT_COLS "WHERE al.key = ?1 AND al.resolved_at IS NULL";
static const char sql_by_id[] = ALERT_COLS "WHERE al.id = ?1";
static const char sql_open_list[] =
    ALERT_COLS "WHERE al.resolved_at IS NULL ORDER BY al.id LIMIT ?1";
/*
 * A repaired run always has a repair step: "repair_status IS NOT NULL" picks the partial
 * index runs_agent_check_repairs, so only the check's repairs in the window are read, not
 * every run of the check in it (a table row each: a quarter of the server's CPU at 20,000
 * runs/s).
 */
static const char sql_repairs[] = "SELECT count(*) FROM runs WHERE agent = ?1 AND check_name = ?2 "
                                  "AND started_at >= ?3 AND outcome = ?4 "
                                  "AND repair_status IS NOT NULL";
static const char sql_open[] =
    "INSERT INTO alerts (key, agent, check_name, package, kind, severity, summary, context, "
    "opened_at, last_sent_at, last_resend_at, count, last_run_id) VALUES (?1, "
    "(SELECT id FROM agents WHERE uid = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9, 1, ?10)";
static const char sql_resolve[] =
    "UPDATE alerts SET resolved_at = ?2, context = coalesce(?3, context), "
    "last_run_id = coalesce(?4, last_run_id) WHERE id = ?1 AND resolved_at IS NULL";
static const char sql_repeat[] = "UPDATE alerts SET count = count + 1, last_sent_at = ?2, "
                                 "last_resend_at = ?2 WHERE id = ?1 AND resolved_at IS NULL";
static const char sql_resend[] =
    "UPDATE alerts SET last_resend_at = ?2 WHERE id = ?1 AND resolved_at IS NULL";
static const char sql_update[] =
    "UPDATE alerts SET summary = coalesce(?2, summary), severity = coalesce(?3, severity), "
    "context = coalesce(?4, context), last_run_id = coalesce(?5, last_run_id) WHERE id = ?1";
static const char sql_outbox_insert[] =
    "INSERT INTO alert_outbox (alert, event, receiver, url, content_type, headers, body, "
    "created_at, next_attempt_at, failed_at, last_error, fallback_of) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11)";
/* The row a re-send rewrites: a pending trigger-like row, else the last re-send row. */
static const char sql_outbox_refresh_pick[] =
    "SELECT id FROM alert_outbox WHERE alert = ?1 AND receiver = ?2 AND "
    "((delivered_at IS NULL AND failed_at IS NULL AND event <> 'resolve') OR event = 'resend') "
    "ORDER BY (delivered_at IS NULL AND failed_at IS NULL) DESC, id DESC LIMIT 1";
static const char sql_outbox_refresh[] =
    "UPDATE alert_outbox SET url = ?2, content_type = ?3, headers = ?4, body = ?5, "
    "next_attempt_at = CASE WHEN delivered_at IS NULL AND failed_at IS NULL "
    "THEN next_attempt_at ELSE ?6 END, "
    "attempts = CASE WHEN delivered_at IS NULL AND failed_at IS NULL THEN attempts ELSE 0 END, "
    "created_at = ?6, delivered_at = NULL, failed_at = NULL WHERE id = ?1";
static const char sql_due[] =
    "SELECT o.id, o.alert, o.event, o.receiver, o.url, o.content_type, o.headers, o.body, "
    "o.attempts, o.fallback_of FROM alert_outbox o "
    "WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= ?1 "
    "AND NOT EXISTS (SELECT 1 FROM alert_outbox p WHERE p.alert = o.alert "
    "AND p.receiver = o.receiver AND p.id < o.id AND p.delivered_at IS NULL "
    "AND p.failed_at IS NULL) ORDER BY o.next_attempt_at, o.id LIMIT ?2";
static const char sql_next_due[] = "SELECT min(next_attempt_at) FROM alert_outbox "
                                   "WHERE delivered_at IS NULL AND failed_at IS NULL "
                                   "AND next_attempt_at > ?1";
static const char sql_delivered[] =
    "UPDATE alert_outbox SET attempts = attempts + 1, delivered_at = ?2, last_status = ?3, "
    "last_error = NULL, url = NULL, headers = NULL, body = NULL WHERE id = ?1";
static const char sql_retry[] =
    "UPDATE alert_outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_status = ?3, "
    "last_error = ?4 WHERE id = ?1";
static const char sql_failed[] =
    "UPDATE alert_outbox SET attempts = attempts + 1, failed_at = ?2, last_status = ?3, "
    "last_error = ?4, url = NULL, headers = NULL, body = NULL WHERE id = ?1";
static const char sql_receiver_count[] =
    "INSERT INTO receiver_state (name, delivered, failed, attempts_failed, last_error, "
    "last_error_at, last_success_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
    "ON CONFLICT (name) DO UPDATE SET delivered = delivered + excluded.delivered, "
    "failed = failed + excluded.failed, "
    "attempts_failed = attempts_failed + excluded.attempts_failed, "
    "last_error = coalesce(excluded.last_error, last_error), "
    "last_error_at = coalesce(excluded.last_error_at, last_error_at), "
    "last_success_at = coalesce(excluded.last_success_at, last_success_at)";
static const char sql_silent[] =
    "SELECT a.uid FROM agents a WHERE a.last_seen IS NOT NULL AND a.last_seen < ?1 "
    "AND NOT EXISTS (SELECT 1 FROM alerts al WHERE al.key = 'healops:' || a.uid || ':-' "
    "AND al.resolved_at IS NULL) LIMIT ?2";
static const char sql_stale[] =
    "SELECT a.uid, s.check_name FROM state s JOIN agents a ON a.id = s.agent "
    "WHERE s.interval_s > 0 AND s.last_run_at < ?1 - 2000 * s.interval_s "
    "AND a.last_seen >= ?2 AND NOT EXISTS (SELECT 1 FROM alerts al "
    "WHERE al.key = 'healops:' || a.uid || ':' || s.check_name AND al.resolved_at IS NULL) "
    "LIMIT ?3";
static const char sql_failing[] =
    "SELECT a.uid, s.check_name FROM state s JOIN agents a ON a.id = s.agent "
    "WHERE s.outcome >= ?1 AND (s.consecutive_failures >= ?2 OR s.repair_status = ?3) "
    "AND NOT EXISTS (SELECT 1 FROM alerts al "
    "WHERE al.key = 'healops:' || a.uid || ':' || s.check_name AND al.resolved_at IS NULL) "
    "LIMIT ?4";
#define ALERT_FILTERS                                                                              \
    "AND (?2 IS NULL OR al.check_name = ?2) AND (?3 IS NULL OR al.package = ?3) "                  \
    "AND (?4 IS NULL OR al.kind = ?4) AND (?5 < 0 OR (?5 = 0) = (al.resolved_at IS NULL)) "        \
    "AND al.opened_at >= ?6 AND al.opened_at < ?7 AND (al.opened_at, al.id) < (?8, ?9) "           \
    "ORDER BY al.opened_at DESC, al.id DESC LIMIT ?10"
static const char sql_query_agent[] = ALERT_COLS "WHERE al.agent = ?1 " ALERT_FILTERS;
static const char sql_query_all[] = ALERT_COLS "WHERE ?1 IS NULL " ALERT_FILTERS;
static const char sql_deliveries[] =
    "SELECT id, alert, event, receiver, attempts, last_status, last_error, created_at, "
    "next_attempt_at, delivered_at, failed_at, fallback_of FROM alert_outbox "
    "WHERE alert = ?1 ORDER BY id";
static const char sql_receiver_get[] =
    "SELECT delivered, failed, attempts_failed, last_error, last_error_at, last_success_at "
    "FROM receiver_state WHERE name = ?1";
static const char sql_receiver_pending[] = "SELECT count(*) FROM alert_outbox WHERE receiver = ?1 "
                                           "AND delivered_at IS NULL AND failed_at IS NULL";

/* ---- rows ---- */

void store_alert_cleanup(struct store_alert *a)
{
    if (a == NULL)
        return;
    free(a->key);
    free(a->agent_name);
    free(a->labels_json);
    free(a->check);
    free(a->package);
    free(a->kind);
    free(a->severity);
    free(a->summary);
    free(a->context_json);
    free(a->last_run_id);
    memset(a, 0, sizeof(*a));
}

void store_alerts_free(struct store_alert *v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++)
        store_alert_cleanup(&v[i]);
    free(v);
}

void store_alert_subject_cleanup(struct store_alert_subject *s)
{
    if (s == NULL)
        return;
    free(s->agent_name);
    free(s->labels_json);
    free(s->package);
    free(s->version);
    free(s->test_output);
    free(s->repair_output);
    free(s->retest_output);
    store_alert_cleanup(&s->open);
    memset(s, 0, sizeof(*s));
}

void store_alert_keys_free(struct store_alert_key *v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++)
        free(v[i].check);
    free(v);
}

void store_outbox_rows_free(struct store_outbox_row *v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++) {
        free(v[i].event);
        free(v[i].receiver);
        if (v[i].url != NULL)
            crypto_wipe(v[i].url, strlen(v[i].url));
        free(v[i].url);
        free(v[i].content_type);
        if (v[i].headers != NULL)
            crypto_wipe(v[i].headers, strlen(v[i].headers));
        free(v[i].headers);
        if (v[i].body != NULL)
            crypto_wipe(v[i].body, v[i].body_len);
        free(v[i].body);
    }
    free(v);
}

void store_alert_deliveries_free(struct store_alert_delivery *v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++) {
        free(v[i].event);
        free(v[i].receiver);
        free(v[i].last_error);
    }
    free(v);
}

void store_receiver_stats_cleanup(struct store_receiver_stats *s)
{
    if (s == NULL)
        return;
    free(s->last_error);
    memset(s, 0, sizeof(*s));
}

static int64_t col_i64_or0(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, i);
}

static void col_uid(sqlite3_stmt *s, int i, char out[CRYPTO_UUID_LEN])
{
    const unsigned char *t = sqlite3_column_text(s, i);

    snprintf(out, CRYPTO_UUID_LEN, "%s", t != NULL ? (const char *)t : "");
}

/* Reads an ALERT_COLS row. */
static void alert_row(sqlite3_stmt *s, struct store_alert *a)
{
    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(s, 0);
    a->key = store_col_dup(s, 1);
    col_uid(s, 2, a->agent_id);
    a->agent_name = store_col_dup(s, 3);
    a->labels_json = store_col_dup(s, 4);
    a->check = store_col_dup(s, 5);
    a->package = store_col_dup(s, 6);
    a->kind = store_col_dup(s, 7);
    a->severity = store_col_dup(s, 8);
    a->summary = store_col_dup(s, 9);
    a->context_json = store_col_dup(s, 10);
    a->last_run_id = store_col_dup(s, 11);
    a->opened_at_ms = sqlite3_column_int64(s, 12);
    a->last_sent_at_ms = sqlite3_column_int64(s, 13);
    a->last_resend_at_ms = sqlite3_column_int64(s, 14);
    a->resolved_at_ms = col_i64_or0(s, 15);
    a->agent_last_seen_ms = col_i64_or0(s, 16);
    a->count = sqlite3_column_int(s, 17);
}

/* Steps s (bound) collecting every ALERT_COLS row into a growing array. */
static enum ho_code HO_WUR alert_rows(struct store *st, sqlite3_stmt *s, const char *what,
                                      struct store_alert **out, size_t *n)
{
    struct store_alert *v = NULL;
    size_t cap = 0, k = 0;
    enum ho_code rc = HO_OK;
    int r;

    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof(*v));
        }
        alert_row(s, &v[k++]);
    }
    if (r != SQLITE_DONE)
        rc = store_fail(st, NULL, what);
    store_stmt_done(s);
    if (rc != HO_OK) {
        store_alerts_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return HO_OK;
}

/* ---- reading what the rules need ---- */

static enum ho_code HO_WUR subject_agent(struct store *st, const char *agent_id,
                                         struct store_alert_subject *out)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int r;

    rc = store_stmt(st, sql_agent, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, agent_id);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        out->agent_rowid = sqlite3_column_int64(s, 0);
        col_uid(s, 1, out->agent_id);
        out->agent_name = store_col_dup(s, 2);
        out->labels_json = store_col_dup(s, 3);
        out->last_seen_ms = col_i64_or0(s, 4);
    } else {
        rc = r == SQLITE_DONE ? HO_ENOENT : store_fail(st, NULL, "alert agent");
    }
    store_stmt_done(s);
    return rc;
}

static enum ho_code HO_WUR subject_state(struct store *st, const char *check,
                                         struct store_alert_subject *out)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int r;

    rc = store_stmt(st, sql_state, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, out->agent_rowid);
    store_bind_text(s, 2, check);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        out->has_state = 1;
        out->package = store_col_dup(s, 0);
        col_uid(s, 1, out->last_run_id);
        out->outcome = sqlite3_column_int(s, 2);
        out->repair_status =
            sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 3);
        out->consecutive_failures = sqlite3_column_int(s, 4);
        out->last_run_at_ms = sqlite3_column_int64(s, 5);
        out->interval_s = sqlite3_column_int(s, 6);
        out->version = store_col_dup(s, 7);
        out->test_output = store_col_dup(s, 8);
        out->repair_output = store_col_dup(s, 9);
        out->retest_output = store_col_dup(s, 10);
    } else if (r != SQLITE_DONE) {
        rc = store_fail(st, NULL, "alert state");
    }
    store_stmt_done(s);
    return rc;
}

static enum ho_code HO_WUR open_by_key(struct store *st, const char *key, struct store_alert *out,
                                       int *found)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int r;

    *found = 0;
    rc = store_stmt(st, sql_open_by_key, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, key);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        alert_row(s, out);
        *found = 1;
    } else if (r != SQLITE_DONE) {
        rc = store_fail(st, NULL, "open alert");
    }
    store_stmt_done(s);
    return rc;
}

enum ho_code store_alert_subject_get(struct store *st, const char *agent_id, const char *check,
                                     const char *key, struct store_alert_subject *out)
{
    enum ho_code rc;

    memset(out, 0, sizeof(*out));
    out->repair_status = -1;
    store_lock(st);
    rc = subject_agent(st, agent_id, out);
    if (rc == HO_OK && strcmp(check, "-") != 0)
        rc = subject_state(st, check, out);
    if (rc == HO_OK)
        rc = open_by_key(st, key, &out->open, &out->has_open);
    store_unlock(st);
    if (rc != HO_OK)
        store_alert_subject_cleanup(out);
    return rc;
}

enum ho_code store_alert_repairs_count(struct store *st, int64_t agent_rowid, const char *check,
                                       int64_t since_ms, int *n)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    *n = 0;
    store_lock(st);
    rc = store_stmt(st, sql_repairs, &s);
    if (rc == HO_OK) {
        sqlite3_bind_int64(s, 1, agent_rowid);
        store_bind_text(s, 2, check);
        sqlite3_bind_int64(s, 3, since_ms);
        sqlite3_bind_int(s, 4, RUN_OUTCOME_REPAIRED);
        if (sqlite3_step(s) == SQLITE_ROW)
            *n = sqlite3_column_int(s, 0);
        else
            rc = store_fail(st, NULL, "count repairs");
        store_stmt_done(s);
    }
    store_unlock(st);
    return rc;
}

/* ---- writing an alert change and its outbox rows ---- */

/* Adds to the counters of receiver name (error: a failure to keep, with its time). */
static enum ho_code HO_WUR receiver_count(struct store *st, const char *name, int delivered,
                                          int failed, int attempts_failed, const char *error,
                                          int64_t now_ms)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    rc = store_stmt(st, sql_receiver_count, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, name);
    sqlite3_bind_int(s, 2, delivered);
    sqlite3_bind_int(s, 3, failed);
    sqlite3_bind_int(s, 4, attempts_failed);
    store_bind_text(s, 5, error);
    if (error != NULL)
        sqlite3_bind_int64(s, 6, now_ms);
    if (delivered > 0)
        sqlite3_bind_int64(s, 7, now_ms);
    return store_stmt_exec(st, s, "receiver counters");
}

/* Rewrites the row a re-send replaces; *done is 0 when there is none. */
static enum ho_code HO_WUR outbox_refresh(struct store *st, int64_t alert,
                                          const struct store_outbox_msg *m, int64_t now_ms,
                                          int *done)
{
    sqlite3_stmt *s;
    int64_t id = 0;
    enum ho_code rc;
    int r;

    *done = 0;
    rc = store_stmt(st, sql_outbox_refresh_pick, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, alert);
    store_bind_text(s, 2, m->receiver);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        id = sqlite3_column_int64(s, 0);
    else if (r != SQLITE_DONE)
        rc = store_fail(st, NULL, "outbox refresh");
    store_stmt_done(s);
    if (rc != HO_OK || id == 0)
        return rc;
    rc = store_stmt(st, sql_outbox_refresh, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    store_bind_text(s, 2, m->url);
    store_bind_text(s, 3, m->content_type);
    store_bind_text(s, 4, m->headers);
    sqlite3_bind_blob(s, 5, m->body != NULL ? m->body : "", (int)m->body_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, now_ms);
    rc = store_stmt_exec(st, s, "outbox refresh");
    *done = rc == HO_OK;
    return rc;
}

static enum ho_code HO_WUR outbox_insert(struct store *st, int64_t alert, const char *event,
                                         const struct store_outbox_msg *m, int64_t now_ms,
                                         int64_t fallback_of)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    rc = store_stmt(st, sql_outbox_insert, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, alert);
    store_bind_text(s, 2, event);
    store_bind_text(s, 3, m->receiver);
    if (m->error == NULL) {
        store_bind_text(s, 4, m->url);
        store_bind_text(s, 5, m->content_type);
        store_bind_text(s, 6, m->headers);
        sqlite3_bind_blob(s, 7, m->body != NULL ? m->body : "", (int)m->body_len, SQLITE_STATIC);
    }
    sqlite3_bind_int64(s, 8, now_ms);
    if (m->error != NULL) {
        sqlite3_bind_int64(s, 9, now_ms);
        store_bind_text(s, 10, m->error);
    }
    if (fallback_of > 0)
        sqlite3_bind_int64(s, 11, fallback_of);
    rc = store_stmt_exec(st, s, "outbox insert");
    if (rc == HO_OK && m->error != NULL)
        rc = receiver_count(st, m->receiver, 0, 1, 0, m->error, now_ms);
    return rc;
}

static enum ho_code HO_WUR outbox_batch(struct store *st, int64_t alert,
                                        const struct store_outbox_batch *b, int64_t now_ms,
                                        int64_t fallback_of)
{
    enum ho_code rc = HO_OK;
    size_t i;
    int done;

    for (i = 0; rc == HO_OK && i < b->n; i++) {
        done = 0;
        if (b->refresh && b->v[i].error == NULL)
            rc = outbox_refresh(st, alert, &b->v[i], now_ms, &done);
        if (rc == HO_OK && !done)
            rc = outbox_insert(st, alert, b->event, &b->v[i], now_ms, fallback_of);
    }
    return rc;
}

static enum ho_code HO_WUR alert_insert(struct store *st, const struct store_alert *a,
                                        int64_t now_ms, int64_t *id)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int ext;

    rc = store_stmt(st, sql_open, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, a->key);
    store_bind_text(s, 2, a->agent_id);
    store_bind_text(s, 3, a->check);
    store_bind_text(s, 4, a->package);
    store_bind_text(s, 5, a->kind);
    store_bind_text(s, 6, a->severity);
    store_bind_text(s, 7, a->summary);
    store_bind_text(s, 8, a->context_json != NULL ? a->context_json : "{}");
    sqlite3_bind_int64(s, 9, now_ms);
    store_bind_text(s, 10, a->last_run_id);
    if (sqlite3_step(s) == SQLITE_DONE) {
        *id = sqlite3_last_insert_rowid(store_db(st));
    } else {
        ext = sqlite3_extended_errcode(store_db(st));
        if (ext == SQLITE_CONSTRAINT_UNIQUE)
            rc = HO_EEXIST;
        else if (ext == SQLITE_CONSTRAINT_NOTNULL)
            rc = HO_ENOENT; /* no such agent */
        else
            rc = store_fail(st, NULL, "open alert");
    }
    store_stmt_done(s);
    return rc;
}

/* The UPDATE of op on alert a; HO_ENOENT when it changed nothing. */
static enum ho_code HO_WUR alert_change(struct store *st, enum store_alert_op op,
                                        const struct store_alert *a, int64_t now_ms)
{
    const char *sql = op == STORE_ALERT_RESOLVE  ? sql_resolve
                      : op == STORE_ALERT_REPEAT ? sql_repeat
                      : op == STORE_ALERT_RESEND ? sql_resend
                                                 : sql_update;
    sqlite3_stmt *s;
    enum ho_code rc;

    rc = store_stmt(st, sql, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, a->id);
    if (op == STORE_ALERT_UPDATE) {
        store_bind_text(s, 2, a->summary);
        store_bind_text(s, 3, a->severity);
        store_bind_text(s, 4, a->context_json);
        store_bind_text(s, 5, a->last_run_id);
    } else {
        sqlite3_bind_int64(s, 2, now_ms);
        if (op == STORE_ALERT_RESOLVE) {
            store_bind_text(s, 3, a->context_json);
            store_bind_text(s, 4, a->last_run_id);
        }
    }
    rc = store_stmt_exec(st, s, "change alert");
    if (rc == HO_OK && sqlite3_changes(store_db(st)) == 0)
        rc = HO_ENOENT;
    return rc;
}

enum ho_code store_alert_apply(struct store *st, enum store_alert_op op,
                               const struct store_alert *a, int64_t now_ms, store_outbox_fn fn,
                               void *ctx, int64_t *id_out)
{
    struct store_outbox_batch b;
    int64_t id = a->id;
    enum ho_code rc;

    store_lock(st);
    rc = store_tx_begin(st);
    if (rc == HO_OK)
        rc = op == STORE_ALERT_OPEN ? alert_insert(st, a, now_ms, &id)
                                    : alert_change(st, op, a, now_ms);
    if (rc == HO_OK && fn != NULL) {
        memset(&b, 0, sizeof(b));
        rc = fn(ctx, id, &b);
        if (rc == HO_OK)
            rc = outbox_batch(st, id, &b, now_ms, 0);
    }
    if (rc == HO_OK)
        rc = store_tx_commit(st);
    if (rc != HO_OK)
        store_tx_rollback(st);
    store_unlock(st);
    if (rc == HO_OK && id_out != NULL)
        *id_out = id;
    return rc;
}

enum ho_code store_alert_get(struct store *st, int64_t id, struct store_alert *out)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int r;

    memset(out, 0, sizeof(*out));
    store_lock(st);
    rc = store_stmt(st, sql_by_id, &s);
    if (rc == HO_OK) {
        sqlite3_bind_int64(s, 1, id);
        r = sqlite3_step(s);
        if (r == SQLITE_ROW)
            alert_row(s, out);
        else
            rc = r == SQLITE_DONE ? HO_ENOENT : store_fail(st, NULL, "alert by id");
        store_stmt_done(s);
    }
    store_unlock(st);
    return rc;
}

enum ho_code store_alerts_open_list(struct store *st, struct store_alert **out, size_t *n)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    *out = NULL;
    *n = 0;
    store_lock(st);
    rc = store_stmt(st, sql_open_list, &s);
    if (rc == HO_OK) {
        sqlite3_bind_int(s, 1, STORE_ALERTS_SCAN_MAX);
        rc = alert_rows(st, s, "open alerts", out, n);
    }
    store_unlock(st);
    return rc;
}

/* Steps s (bound) collecting (uid[, check]) rows; check "-" when the row has one column. */
static enum ho_code HO_WUR key_rows(struct store *st, sqlite3_stmt *s, const char *what,
                                    struct store_alert_key **out, size_t *n)
{
    struct store_alert_key *v = NULL;
    size_t cap = 0, k = 0;
    enum ho_code rc = HO_OK;
    int r;

    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof(*v));
        }
        col_uid(s, 0, v[k].agent_id);
        v[k].check = sqlite3_column_count(s) > 1 ? store_col_dup(s, 1) : xstrdup("-");
        if (v[k].check == NULL)
            v[k].check = xstrdup("-");
        k++;
    }
    if (r != SQLITE_DONE)
        rc = store_fail(st, NULL, what);
    store_stmt_done(s);
    if (rc != HO_OK) {
        store_alert_keys_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return HO_OK;
}

enum ho_code store_alerts_silent_candidates(struct store *st, int64_t silent_before_ms,
                                            struct store_alert_key **out, size_t *n)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    *out = NULL;
    *n = 0;
    store_lock(st);
    rc = store_stmt(st, sql_silent, &s);
    if (rc == HO_OK) {
        sqlite3_bind_int64(s, 1, silent_before_ms);
        sqlite3_bind_int(s, 2, STORE_ALERTS_SCAN_MAX);
        rc = key_rows(st, s, "silent agents", out, n);
    }
    store_unlock(st);
    return rc;
}

enum ho_code store_alerts_stale_candidates(struct store *st, int64_t now_ms, int64_t alive_since_ms,
                                           struct store_alert_key **out, size_t *n)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    *out = NULL;
    *n = 0;
    store_lock(st);
    rc = store_stmt(st, sql_stale, &s);
    if (rc == HO_OK) {
        sqlite3_bind_int64(s, 1, now_ms);
        sqlite3_bind_int64(s, 2, alive_since_ms);
        sqlite3_bind_int(s, 3, STORE_ALERTS_SCAN_MAX);
        rc = key_rows(st, s, "stale checks", out, n);
    }
    store_unlock(st);
    return rc;
}

enum ho_code store_alerts_failing_candidates(struct store *st, int min_failures,
                                             struct store_alert_key **out, size_t *n)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    *out = NULL;
    *n = 0;
    store_lock(st);
    rc = store_stmt(st, sql_failing, &s);
    if (rc == HO_OK) {
        sqlite3_bind_int(s, 1, RUN_OUTCOME_FAILED);
        sqlite3_bind_int(s, 2, min_failures);
        sqlite3_bind_int(s, 3, REPAIR_STATUS_SUPPRESSED);
        sqlite3_bind_int(s, 4, STORE_ALERTS_SCAN_MAX);
        rc = key_rows(st, s, "failing checks", out, n);
    }
    store_unlock(st);
    return rc;
}

/* ---- delivery ---- */

static void outbox_row(sqlite3_stmt *s, struct store_outbox_row *o)
{
    const void *body;

    memset(o, 0, sizeof(*o));
    o->id = sqlite3_column_int64(s, 0);
    o->alert_id = sqlite3_column_int64(s, 1);
    o->event = store_col_dup(s, 2);
    o->receiver = store_col_dup(s, 3);
    o->url = store_col_dup(s, 4);
    o->content_type = store_col_dup(s, 5);
    o->headers = store_col_dup(s, 6);
    body = sqlite3_column_blob(s, 7);
    o->body_len = (size_t)sqlite3_column_bytes(s, 7);
    o->body = xmalloc(o->body_len + 1);
    if (o->body_len > 0)
        memcpy(o->body, body, o->body_len);
    o->body[o->body_len] = '\0';
    o->attempts = sqlite3_column_int(s, 8);
    o->fallback_of = col_i64_or0(s, 9);
}

static enum ho_code HO_WUR next_due(struct store *st, int64_t now_ms, int64_t *out)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    *out = 0;
    rc = store_stmt(st, sql_next_due, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, now_ms);
    if (sqlite3_step(s) == SQLITE_ROW)
        *out = col_i64_or0(s, 0);
    else
        rc = store_fail(st, NULL, "outbox next due");
    store_stmt_done(s);
    return rc;
}

enum ho_code store_outbox_due(struct store *st, int64_t now_ms, size_t limit,
                              struct store_outbox_row **out, size_t *n, int64_t *next_due_ms)
{
    struct store_outbox_row *v = NULL;
    sqlite3_stmt *s;
    size_t k = 0;
    enum ho_code rc;
    int r = SQLITE_DONE;

    *out = NULL;
    *n = 0;
    *next_due_ms = 0;
    if (limit == 0)
        return HO_OK;
    store_lock(st);
    rc = store_stmt(st, sql_due, &s);
    if (rc == HO_OK) {
        v = xcalloc(limit, sizeof(*v));
        sqlite3_bind_int64(s, 1, now_ms);
        sqlite3_bind_int64(s, 2, (int64_t)limit);
        while (k < limit && (r = sqlite3_step(s)) == SQLITE_ROW)
            outbox_row(s, &v[k++]);
        if (r != SQLITE_ROW && r != SQLITE_DONE)
            rc = store_fail(st, NULL, "outbox due");
        store_stmt_done(s);
    }
    if (rc == HO_OK)
        rc = next_due(st, now_ms, next_due_ms);
    store_unlock(st);
    if (rc != HO_OK) {
        store_outbox_rows_free(v, k);
        return rc;
    }
    if (k == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = k;
    return HO_OK;
}

static enum ho_code HO_WUR outbox_mark(struct store *st, int64_t id, enum store_outbox_result what,
                                       long status, const char *error, int64_t next_attempt_ms,
                                       int64_t now_ms)
{
    const char *sql = what == STORE_OUTBOX_DELIVERED ? sql_delivered
                      : what == STORE_OUTBOX_RETRY   ? sql_retry
                                                     : sql_failed;
    sqlite3_stmt *s;
    enum ho_code rc;

    rc = store_stmt(st, sql, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, what == STORE_OUTBOX_RETRY ? next_attempt_ms : now_ms);
    if (status > 0)
        sqlite3_bind_int64(s, 3, status);
    if (what != STORE_OUTBOX_DELIVERED)
        store_bind_text(s, 4, error);
    return store_stmt_exec(st, s, "outbox record");
}

enum ho_code store_outbox_record(struct store *st, int64_t id, const char *receiver,
                                 enum store_outbox_result what, long status, const char *error,
                                 int64_t next_attempt_ms, int64_t now_ms, int64_t alert_id,
                                 const struct store_outbox_batch *fallback)
{
    enum ho_code rc;

    store_lock(st);
    rc = store_tx_begin(st);
    if (rc == HO_OK)
        rc = outbox_mark(st, id, what, status, error, next_attempt_ms, now_ms);
    if (rc == HO_OK)
        rc = receiver_count(
            st, receiver, what == STORE_OUTBOX_DELIVERED, what == STORE_OUTBOX_FAILED,
            what != STORE_OUTBOX_DELIVERED,
            what != STORE_OUTBOX_DELIVERED ? (error != NULL ? error : "failed") : NULL, now_ms);
    if (rc == HO_OK && what == STORE_OUTBOX_FAILED && fallback != NULL)
        rc = outbox_batch(st, alert_id, fallback, now_ms, id);
    if (rc == HO_OK)
        rc = store_tx_commit(st);
    if (rc != HO_OK)
        store_tx_rollback(st);
    store_unlock(st);
    return rc;
}

/* ---- reading for the API ---- */

enum ho_code store_alerts_query(struct store *st, const struct alert_query *q,
                                struct store_alert **out, size_t *n,
                                char next_cursor[STORE_CURSOR_LEN], struct ho_error *err)
{
    int64_t agent = 0, c[2] = {INT64_MAX, INT64_MAX}; /* opened_at, id of the last row */
    size_t limit = q->limit < 1 ? 1 : q->limit > STORE_MAX_LIMIT ? STORE_MAX_LIMIT : q->limit;
    sqlite3_stmt *s;
    enum ho_code rc = HO_OK;

    *out = NULL;
    *n = 0;
    next_cursor[0] = '\0';
    if (q->cursor != NULL && q->cursor[0] != '\0')
        rc = store_cursor_parse(q->cursor, 'l', c, 2, err);
    if (rc != HO_OK)
        return rc;
    store_lock(st);
    if (q->agent != NULL)
        rc = store_agent_rowid(st, q->agent, &agent, err);
    if (rc == HO_ENOENT) {
        store_unlock(st);
        return HO_OK; /* an unknown agent has no alerts */
    }
    if (rc == HO_OK)
        rc = store_stmt(st, q->agent != NULL ? sql_query_agent : sql_query_all, &s);
    if (rc == HO_OK) {
        if (q->agent != NULL)
            sqlite3_bind_int64(s, 1, agent);
        store_bind_text(s, 2, q->check);
        store_bind_text(s, 3, q->package);
        store_bind_text(s, 4, q->kind);
        sqlite3_bind_int(s, 5, q->state);
        sqlite3_bind_int64(s, 6, q->since_ms);
        sqlite3_bind_int64(s, 7, q->until_ms > 0 ? q->until_ms : INT64_MAX);
        sqlite3_bind_int64(s, 8, c[0]);
        sqlite3_bind_int64(s, 9, c[1]);
        sqlite3_bind_int64(s, 10, (int64_t)limit + 1);
        rc = alert_rows(st, s, "alerts query", out, n);
    }
    store_unlock(st);
    if (rc == HO_OK && *n > limit) {
        store_alert_cleanup(&(*out)[limit]);
        *n = limit;
        c[0] = (*out)[limit - 1].opened_at_ms;
        c[1] = (*out)[limit - 1].id;
        store_cursor_make('l', c, 2, next_cursor);
    }
    if (rc != HO_OK && rc != HO_EINVAL)
        ho_error_set(err, rc, NULL, "alerts query failed");
    return rc;
}

static void delivery_row(sqlite3_stmt *s, struct store_alert_delivery *d)
{
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(s, 0);
    d->alert_id = sqlite3_column_int64(s, 1);
    d->event = store_col_dup(s, 2);
    d->receiver = store_col_dup(s, 3);
    d->attempts = sqlite3_column_int(s, 4);
    d->last_status = (long)col_i64_or0(s, 5);
    d->last_error = store_col_dup(s, 6);
    d->created_at_ms = sqlite3_column_int64(s, 7);
    d->next_attempt_at_ms = sqlite3_column_int64(s, 8);
    d->delivered_at_ms = col_i64_or0(s, 9);
    d->failed_at_ms = col_i64_or0(s, 10);
    d->fallback_of = col_i64_or0(s, 11);
    d->state = d->delivered_at_ms != 0 ? "delivered" : d->failed_at_ms != 0 ? "failed" : "pending";
}

enum ho_code store_alert_deliveries(struct store *st, const int64_t *ids, size_t n,
                                    struct store_alert_delivery **out, size_t *nout)
{
    struct store_alert_delivery *v = NULL;
    size_t cap = 0, k = 0, i;
    sqlite3_stmt *s;
    enum ho_code rc;
    int r = SQLITE_DONE;

    *out = NULL;
    *nout = 0;
    store_lock(st);
    rc = store_stmt(st, sql_deliveries, &s);
    for (i = 0; rc == HO_OK && i < n; i++) {
        sqlite3_bind_int64(s, 1, ids[i]);
        while ((r = sqlite3_step(s)) == SQLITE_ROW) {
            if (k == cap) {
                cap = cap ? cap * 2 : 16;
                v = xrealloc(v, cap * sizeof(*v));
            }
            delivery_row(s, &v[k++]);
        }
        if (r != SQLITE_DONE)
            rc = store_fail(st, NULL, "alert deliveries");
        store_stmt_done(s);
    }
    store_unlock(st);
    if (rc != HO_OK) {
        store_alert_deliveries_free(v, k);
        return rc;
    }
    *out = v;
    *nout = k;
    return HO_OK;
}

enum ho_code store_receiver_stats_get(struct store *st, const char *name,
                                      struct store_receiver_stats *out)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int r;

    memset(out, 0, sizeof(*out));
    store_lock(st);
    rc = store_stmt(st, sql_receiver_get, &s);
    if (rc == HO_OK) {
        store_bind_text(s, 1, name);
        r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            out->delivered = sqlite3_column_int64(s, 0);
            out->failed = sqlite3_column_int64(s, 1);
            out->attempts_failed = sqlite3_column_int64(s, 2);
            out->last_error = store_col_dup(s, 3);
            out->last_error_at_ms = col_i64_or0(s, 4);
            out->last_success_at_ms = col_i64_or0(s, 5);
        } else if (r != SQLITE_DONE) {
            rc = store_fail(st, NULL, "receiver state");
        }
        store_stmt_done(s);
    }
    if (rc == HO_OK)
        rc = store_stmt(st, sql_receiver_pending, &s);
    if (rc == HO_OK) {
        store_bind_text(s, 1, name);
        if (sqlite3_step(s) == SQLITE_ROW)
            out->pending = sqlite3_column_int64(s, 0);
        else
            rc = store_fail(st, NULL, "receiver pending");
        store_stmt_done(s);
    }
    store_unlock(st);
    if (rc != HO_OK)
        store_receiver_stats_cleanup(out);
    return rc;
}

/*
 * The store's alert tables (schema/004_alerts.sql): the alert history, the
 * durable delivery outbox of alert events and each receiver's delivery
 * counters. Only store_sqlite_alerts.c knows the SQL. Every change to an alert
 * and the outbox rows of that change are written in one transaction: the
 * engine hands a callback that encodes the messages once the alert's id is
 * known (it runs with the store lock held and must not call the store).
 */
#ifndef HO_STORE_ALERTS_H
#define HO_STORE_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "error.h"
#include "store.h"

#define STORE_ALERTS_KEY_MAX  (CRYPTO_UUID_LEN + RUN_MAX_NAME + 16)
#define STORE_ALERTS_SCAN_MAX 10000 /* candidates one sweep query returns */

/* An alert as stored, with its agent. Strings owned (store_alert_cleanup). */
struct store_alert {
    int64_t id;
    char *key; /* "healops:AGENT_ID:CHECK" */
    char agent_id[CRYPTO_UUID_LEN];
    char *agent_name;
    char *labels_json; /* the agent's labels, JSON object text */
    char *check;       /* "-" for agent-level alerts */
    char *package;     /* NULL for agent-level alerts */
    char *kind;        /* alert_kind_str */
    char *severity;
    char *summary;
    char *context_json; /* JSON object text */
    char *last_run_id;  /* may be NULL */
    int64_t opened_at_ms;
    int64_t last_sent_at_ms;
    int64_t last_resend_at_ms;
    int64_t resolved_at_ms;     /* 0 = open */
    int64_t agent_last_seen_ms; /* 0 = never */
    int count;
};
void store_alert_cleanup(struct store_alert *a);
void store_alerts_free(struct store_alert *v, size_t n);

/* What the rules need about one agent x check, read in one call. */
struct store_alert_subject {
    int64_t agent_rowid;
    char agent_id[CRYPTO_UUID_LEN];
    char *agent_name;
    char *labels_json;
    int64_t last_seen_ms; /* 0 = never */
    int has_state;        /* the fields below are set */
    char *package;
    char *version; /* of the newest run, may be NULL */
    char last_run_id[CRYPTO_UUID_LEN];
    int outcome;       /* enum run_outcome */
    int repair_status; /* -1 = none */
    int consecutive_failures;
    int64_t last_run_at_ms;
    int interval_s;
    char *test_output, *repair_output, *retest_output; /* of the newest run, may be NULL */
    int has_open;
    struct store_alert open; /* the open alert of the key when has_open */
};
void store_alert_subject_cleanup(struct store_alert_subject *s);

/*
 * Reads agent agent_id (its uid) and, unless check is "-", its state for check
 * with the newest run's outputs, plus the open alert of key. HO_ENOENT for an
 * unknown agent.
 */
enum ho_code store_alert_subject_get(struct store *st, const char *agent_id, const char *check,
                                     const char *key, struct store_alert_subject *out) HO_WUR;

/* Repaired runs of agent x check that started at or after since_ms. */
enum ho_code store_alert_repairs_count(struct store *st, int64_t agent_rowid, const char *check,
                                       int64_t since_ms, int *n) HO_WUR;

/* One encoded message for one receiver (all borrowed). */
struct store_outbox_msg {
    const char *receiver;
    const char *url;
    const char *content_type;
    const char *headers; /* "Name: value" lines joined by "\n", may be NULL */
    const char *body;
    size_t body_len;
    const char *error; /* set: could not be encoded, stored as failed with it */
};

/* The messages of one alert event, filled by the engine's callback. */
struct store_outbox_batch {
    const char *event; /* "trigger", "repeat", "resolve", "resend" */
    const struct store_outbox_msg *v;
    size_t n;
    int refresh; /* a pending row of the same alert and receiver is
                    rewritten with the message instead of adding one */
};

/* Called inside the transaction once the alert's id is known; fills out (engine-owned). */
typedef enum ho_code (*store_outbox_fn)(void *ctx, int64_t alert_id,
                                        struct store_outbox_batch *out);

enum store_alert_op {
    STORE_ALERT_OPEN = 0, /* insert a (the key must have no open alert: else HO_EEXIST) */
    STORE_ALERT_RESOLVE,  /* resolved_at = now, context and last_run_id from a when set
                             (HO_ENOENT when not open) */
    STORE_ALERT_REPEAT,   /* count + 1, last_sent_at = last_resend_at = now */
    STORE_ALERT_RESEND,   /* last_resend_at = now */
    STORE_ALERT_UPDATE    /* summary, severity, context and last_run_id from a; nothing sent */
};

/*
 * Applies op to alert a (a->id for all but OPEN; for OPEN the key, agent_id,
 * check, package, kind, severity, summary, context_json and last_run_id), then,
 * when fn is not NULL, inserts the outbox rows fn makes, due now; all in one
 * transaction. *id_out (may be NULL) gets the alert's id.
 */
enum ho_code store_alert_apply(struct store *st, enum store_alert_op op,
                               const struct store_alert *a, int64_t now_ms, store_outbox_fn fn,
                               void *ctx, int64_t *id_out) HO_WUR;

/* One alert by id (HO_ENOENT when none). */
enum ho_code store_alert_get(struct store *st, int64_t id, struct store_alert *out) HO_WUR;

/* Every open alert (at most STORE_ALERTS_SCAN_MAX), into a new array (store_alerts_free). */
enum ho_code store_alerts_open_list(struct store *st, struct store_alert **out, size_t *n) HO_WUR;

/* An (agent, check) pair the sweep found worth a look. */
struct store_alert_key {
    char agent_id[CRYPTO_UUID_LEN];
    char *check;
};
void store_alert_keys_free(struct store_alert_key *v, size_t n);

/* Agents heard from once but not since silent_before_ms, with no open agent-level alert. */
enum ho_code store_alerts_silent_candidates(struct store *st, int64_t silent_before_ms,
                                            struct store_alert_key **out, size_t *n) HO_WUR;
/*
 * Checks of agents heard from since alive_since_ms whose newest run started more
 * than two intervals before now_ms, with no open alert.
 */
enum ho_code store_alerts_stale_candidates(struct store *st, int64_t now_ms, int64_t alive_since_ms,
                                           struct store_alert_key **out, size_t *n) HO_WUR;
/* Checks failing min_failures runs in a row (or suppressed) with no open alert. */
enum ho_code store_alerts_failing_candidates(struct store *st, int min_failures,
                                             struct store_alert_key **out, size_t *n) HO_WUR;

/* ---- delivery ---- */

/* A pending outbox row, as the delivery thread sends it. Strings owned. */
struct store_outbox_row {
    int64_t id;
    int64_t alert_id;
    char *event;
    char *receiver;
    char *url;
    char *content_type;
    char *headers;
    char *body;
    size_t body_len;
    int attempts;
    int64_t fallback_of; /* 0 = none */
};
void store_outbox_rows_free(struct store_outbox_row *v, size_t n);

/*
 * Up to limit pending rows due at now_ms, oldest first, skipping any row with an
 * older pending row of the same alert and receiver (events reach a receiver in
 * order). *next_due_ms gets the earliest attempt time of the rows not due (0 = none).
 */
enum ho_code store_outbox_due(struct store *st, int64_t now_ms, size_t limit,
                              struct store_outbox_row **out, size_t *n,
                              int64_t *next_due_ms) HO_WUR;

enum store_outbox_result {
    STORE_OUTBOX_DELIVERED = 0, /* done */
    STORE_OUTBOX_RETRY,         /* try again at next_attempt_ms */
    STORE_OUTBOX_FAILED         /* refused for good */
};

/*
 * Records the attempt at row id of receiver: counts it, keeps status (0 = no
 * answer) and error (may be NULL) and moves the receiver's counters. A finished
 * row (DELIVERED, FAILED) loses its url, headers and body. For FAILED, fallback
 * (may be NULL) is inserted in the same transaction as new rows of alert_id with
 * fallback_of = id.
 */
enum ho_code store_outbox_record(struct store *st, int64_t id, const char *receiver,
                                 enum store_outbox_result what, long status, const char *error,
                                 int64_t next_attempt_ms, int64_t now_ms, int64_t alert_id,
                                 const struct store_outbox_batch *fallback) HO_WUR;

/* ---- reading for the API ---- */

struct alert_query {
    const char *agent; /* agent id or name, NULL = any */
    const char *check; /* NULL = any ("-" = agent-level) */
    const char *package;
    const char *kind;
    int state;        /* -1 any, 0 open, 1 resolved */
    int64_t since_ms; /* opened_at >= since, 0 = unbounded */
    int64_t until_ms; /* opened_at < until, 0 = unbounded */
    size_t limit;     /* 1..STORE_MAX_LIMIT */
    const char *cursor;
};

/*
 * Alerts matching q, newest opened first, keyset paged (next_cursor "" on the
 * last page). An unknown agent gives no alerts; a bad cursor is HO_EINVAL with
 * err->field "cursor".
 */
enum ho_code store_alerts_query(struct store *st, const struct alert_query *q,
                                struct store_alert **out, size_t *n,
                                char next_cursor[STORE_CURSOR_LEN], struct ho_error *err) HO_WUR;

/* One delivery of an alert as the API shows it: never url, headers or body. */
struct store_alert_delivery {
    int64_t id;
    int64_t alert_id;
    char *event;
    char *receiver;
    const char *state; /* "delivered", "pending", "failed" (static) */
    int attempts;
    long last_status; /* 0 = none */
    char *last_error; /* may be NULL */
    int64_t created_at_ms, next_attempt_at_ms, delivered_at_ms, failed_at_ms;
    int64_t fallback_of; /* 0 = none */
};
void store_alert_deliveries_free(struct store_alert_delivery *v, size_t n);

/* The deliveries of the n alerts ids, by alert then id, into a new array. */
enum ho_code store_alert_deliveries(struct store *st, const int64_t *ids, size_t n,
                                    struct store_alert_delivery **out, size_t *nout) HO_WUR;

/* A receiver's delivery counters (all zero for a name never recorded). */
struct store_receiver_stats {
    int64_t delivered, failed, pending, attempts_failed;
    char *last_error; /* owned, may be NULL */
    int64_t last_error_at_ms, last_success_at_ms;
};
enum ho_code store_receiver_stats_get(struct store *st, const char *name,
                                      struct store_receiver_stats *out) HO_WUR;
void store_receiver_stats_cleanup(struct store_receiver_stats *s);

#endif

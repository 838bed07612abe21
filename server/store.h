/*
 * The server's store: agents, tokens, runs, the last state of every
 * agent x check, and metric points (the forwarders' outbox and the series
 * history). One interface, so another backend (PostgreSQL) can sit beside the
 * SQLite one (DESIGN.md section 11). Only store_sqlite*.c know SQL.
 * A store is safe to use from several threads (it serialises internally).
 */
#ifndef HO_STORE_H
#define HO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "error.h"
#include "run.h"

#define STORE_CURSOR_LEN 128 /* buffer size for opaque paging cursors */
#define STORE_MAX_LIMIT  1000
#define STORE_NAME_MAX   128

struct store;

enum token_scope {
    TOKEN_SCOPE_ENROLL = 0,
    TOKEN_SCOPE_AGENT,
    TOKEN_SCOPE_READ,
    TOKEN_SCOPE_ADMIN
};
const char *token_scope_str(enum token_scope s);
enum ho_code token_scope_parse(const char *s, enum token_scope *out) HO_WUR;

struct store_token {
    int64_t id;
    enum token_scope scope;
    char agent_id[CRYPTO_UUID_LEN]; /* "" unless scope is agent */
    char name[STORE_NAME_MAX];
};

/*
 * Opens (creating if needed) the database at path, sets WAL mode, and applies the
 * schema migrations (schema/NNN_*.sql, built in) that are newer than PRAGMA
 * user_version, each in one transaction. HO_EDB with err filled on failure.
 */
enum ho_code store_open(const char *path, struct store **out, struct ho_error *err) HO_WUR;
void store_close(struct store *st);
/*
 * Sizes of the WAL's checkpoints, in pages (the defaults suit a server; tests
 * use small ones): past restart_pages the checkpoint thread restarts the WAL,
 * copying at most tail_pages holding the writer's lock; past writer_pages the
 * writer's commit checkpoints itself. No effect on a store without the thread.
 */
void store_checkpoint_tune(struct store *st, int restart_pages, int tail_pages, int writer_pages);
/*
 * Rows that the statements store_open prepares (lookups, inserts, upserts: all by
 * a key) have stepped through in full-table scans since then. A count that grows
 * with the requests means a query plan went wrong.
 */
int64_t store_fullscan_steps(struct store *st);
/*
 * A second, read-only handle on a database that store_open created and migrated,
 * for the read endpoints (runs, repairs, state, summary, agents): its own
 * connection and lock, so a slow query never holds up ingest (WAL: readers and the
 * writer do not wait for each other, and a reader sees every committed batch).
 * Write verbs fail on it. Closed with store_close.
 */
enum ho_code store_open_reader(const char *path, struct store **out, struct ho_error *err) HO_WUR;
/* Schema version now in the database (PRAGMA user_version). */
int store_schema_version(struct store *st);

/* Stores a new token by its SHA-256 hex; expires_at_ms 0 = never. */
enum ho_code store_token_create(struct store *st, enum token_scope scope, const char *name,
                                const char *hash_hex, int64_t expires_at_ms, int64_t now_ms,
                                int64_t *id_out) HO_WUR;
/* Finds a live (not revoked, not expired) token by hash; HO_EAUTH when none. */
enum ho_code store_token_lookup(struct store *st, const char *hash_hex, int64_t now_ms,
                                struct store_token *out) HO_WUR;

/* Revokes token id (any scope) at now_ms; HO_ENOENT when unknown or already revoked. */
enum ho_code store_token_revoke(struct store *st, int64_t id, int64_t now_ms) HO_WUR;

/*
 * Enrolls agent name (labels as a JSON object text) in one transaction: creates the
 * agent or, for a name already known, keeps its id and updates its labels; revokes
 * that agent's older tokens; stores the new agent token hash. Fills agent_id_out.
 */
enum ho_code store_agent_enroll(struct store *st, const char *name, const char *labels_json,
                                const char *token_hash_hex, int64_t now_ms,
                                char agent_id_out[CRYPTO_UUID_LEN]) HO_WUR;

struct store_heartbeat {
    const char *version;       /* agent version, may be NULL */
    const char *packages_json; /* JSON array text of {"name","version"}, may be NULL */
    int64_t spool_depth;
    int64_t dropped;           /* runs the agent's spool dropped, total */
};
/* Records a heartbeat and last_seen; HO_ENOENT for an unknown agent. */
enum ho_code store_agent_heartbeat(struct store *st, const char *agent_id,
                                   const struct store_heartbeat *hb, int64_t now_ms) HO_WUR;

enum store_insert { STORE_INSERT_ACCEPTED = 0, STORE_INSERT_DUPLICATE };

/*
 * Inserts n valid runs of one agent in one transaction, idempotent on run id
 * (a known id is a duplicate and changes nothing), updates the agent's last_seen
 * and the state of each agent x check when the run is newer than the one held.
 * Each accepted run gets its one outbox row (its points, points_from_run) in the
 * same transaction, so a duplicate adds none. results[i] says what happened to runs[i]. Commits before returning HO_OK;
 * on failure nothing is stored.
 */
enum ho_code store_runs_insert(struct store *st, const char *agent_id,
                               const struct run *const *runs, size_t n, int64_t now_ms,
                               enum store_insert *results) HO_WUR;

/*
 * Stores one stat batch (POST /api/v1/metrics) of agent_id in one transaction,
 * idempotent on batch_id (a lowercase UUID): a known id is STORE_INSERT_DUPLICATE
 * and stores nothing. Otherwise the n metrics become points (points.h,
 * points_from_stats) and the agent's last_seen moves. Commits before HO_OK;
 * on failure nothing is stored. HO_ENOENT for an unknown agent.
 */
enum ho_code store_metrics_insert(struct store *st, const char *agent_id, const char *batch_id,
                                  const struct metric *m, size_t n, int64_t now_ms,
                                  enum store_insert *result) HO_WUR;

struct point;

/*
 * About limit points with seq > after_seq, in seq order, into a new array *out
 * of *n (caller frees with points_free; NULL and 0 when none). A run's outbox
 * row becomes all of the run's points, each with that row's seq, and is never
 * cut: *n may pass limit by the last run's points.
 */
enum ho_code store_points_after(struct store *st, int64_t after_seq, size_t limit,
                                struct point **out, size_t *n) HO_WUR;

/*
 * Deletes up to limit points with seq <= max_seq and ts < before_ms, in one
 * short transaction (call again while *deleted == limit). The newest point is
 * always kept: seq is a rowid and must never be handed out twice.
 */
enum ho_code store_points_prune(struct store *st, int64_t max_seq, int64_t before_ms,
                                size_t limit, size_t *deleted) HO_WUR;

/* Delivery progress of one forwarder (table forwarder_state) plus its backlog. */
struct store_forwarder {
    int64_t delivered_seq;      /* every point with seq <= this is delivered or dropped */
    int64_t delivered;          /* points delivered, total */
    int64_t dropped;            /* points the target refused for good */
    int64_t failures;           /* failed attempts, total */
    char *last_error;           /* owned, NULL = none ever */
    int64_t last_attempt_at_ms; /* 0 = never */
    int64_t last_success_at_ms; /* 0 = never */
    int64_t pending;            /* outbox rows after delivered_seq (a run's points are one) */
    int64_t oldest_pending_ms;  /* ts of the first pending point, 0 = none */
};

/*
 * Fills out for forwarder name (all zero for a name never recorded). pending is
 * the seq distance from delivered_seq to the newest point, which is exact
 * because pruning only removes delivered points; only a forwarder added after
 * older points were pruned sees it overstated until it has caught up.
 */
enum ho_code store_forwarder_get(struct store *st, const char *name,
                                 struct store_forwarder *out) HO_WUR;
void store_forwarder_cleanup(struct store_forwarder *f);

enum store_delivery {
    STORE_DELIVERY_SENT = 0, /* the target took the batch */
    STORE_DELIVERY_DROPPED,  /* the target refused it for good: skipped, counted */
    STORE_DELIVERY_FAILED    /* a failed attempt; the batch will be sent again */
};
const char *store_delivery_str(enum store_delivery d);

/*
 * Records one attempt of forwarder name in one statement. SENT and DROPPED move
 * delivered_seq up to upto_seq (never back) and add npoints to delivered or
 * dropped; DROPPED and FAILED count a failure and keep error (may be NULL) as
 * last_error. Every kind sets last_attempt_at; SENT sets last_success_at.
 */
enum ho_code store_forwarder_record(struct store *st, const char *name, enum store_delivery what,
                                    int64_t upto_seq, int64_t npoints, const char *error,
                                    int64_t now_ms) HO_WUR;

struct run_query {
    const char *agent;   /* agent id or name, NULL = any */
    const char *package; /* NULL = any */
    const char *check;   /* NULL = any */
    int outcome;         /* enum run_outcome, -1 = any */
    int manual;          /* 0/1, -1 = any */
    int repairs_only;    /* only runs in which a repair was attempted (incl. suppressed) */
    int64_t since_ms;    /* started_at >= since, 0 = unbounded */
    int64_t until_ms;    /* started_at < until, 0 = unbounded */
    size_t limit;        /* 1..STORE_MAX_LIMIT */
    const char *cursor;  /* from a previous page, NULL = first page */
};

/*
 * Runs matching q, newest started_at first (keyset paging, never OFFSET). Fills
 * *out (caller frees with store_runs_free) and next_cursor ("" on the last page).
 * A cursor that does not parse is HO_EINVAL with err->field "cursor".
 */
enum ho_code store_runs_query(struct store *st, const struct run_query *q, struct run **out,
                              size_t *n, char next_cursor[STORE_CURSOR_LEN],
                              struct ho_error *err) HO_WUR;
void store_runs_free(struct run *runs, size_t n);

struct state_row {
    char agent_id[CRYPTO_UUID_LEN];
    char *agent_name;           /* owned */
    char *package;              /* owned */
    char *check;                /* owned */
    char last_run_id[CRYPTO_UUID_LEN];
    enum run_outcome outcome;
    int test_status;            /* enum test_status */
    int repair_status;          /* enum repair_status, -1 = no repair */
    int retest_status;          /* enum test_status, -1 = no retest */
    int manual;                 /* last run was manual */
    int64_t last_run_at_ms;
    int64_t last_ok_at_ms;      /* 0 = never */
    int consecutive_failures;   /* runs in a row with outcome failed or error */
    int interval_s;             /* 0 = unknown */
    /* the check's open alert, read in the same query: alert_id 0 = none */
    int64_t alert_id;
    char *alert_kind;           /* owned, NULL when none */
    char *alert_severity;       /* owned */
    char *alert_summary;        /* owned */
    int64_t alert_opened_at_ms;
};

struct state_query {
    const char *agent;   /* id or name, NULL = any */
    const char *package;
    const char *check;
    int outcome;         /* -1 = any */
    size_t limit;
    const char *cursor;
    const char *label_key;   /* with label_value: the agent has this label; NULL = any */
    const char *label_value;
    const char *search;      /* substring (case-insensitive for ASCII) of agent name,
                                package or check; NULL = any */
    int stale;               /* 1: only states with no run for 2 x interval before now_ms */
    int64_t now_ms;          /* the clock of the stale filter and of the summary */
    int64_t silent_before_ms; /* summary: agents not seen since then are silent */
};

/* Last state of every agent x check matching q, ordered by agent name, check. */
enum ho_code store_state_query(struct store *st, const struct state_query *q,
                               struct state_row **out, size_t *n,
                               char next_cursor[STORE_CURSOR_LEN], struct ho_error *err) HO_WUR;
void store_state_free(struct state_row *rows, size_t n);

#define STORE_SILENT_NAMES_MAX 100

/* Counts over every state matching a state_query (limit and cursor ignored). */
struct state_summary {
    int64_t outcomes[RUN_OUTCOME_ERROR + 1]; /* states per enum run_outcome */
    int64_t states;                          /* their sum */
    int64_t stale;                           /* of those, stale at now_ms */
    int64_t agents;                          /* agents matching agent and label */
    int64_t agents_silent;                   /* of those, not seen since silent_before_ms */
    int64_t alerts_open;                     /* open alerts of those states, -1 = no alerting */
    char *silent_names[STORE_SILENT_NAMES_MAX]; /* owned: the first silent agents by name */
    size_t nsilent_names;
};

/*
 * Fills out with the counts of the states q selects (the same filters as
 * store_state_query, so a page and its counts agree); the agent counts honour
 * q's agent and label filters only. Free with store_state_summary_cleanup.
 */
enum ho_code store_state_summary(struct store *st, const struct state_query *q,
                                 struct state_summary *out, struct ho_error *err) HO_WUR;
void store_state_summary_cleanup(struct state_summary *s);

struct agent_row {
    char id[CRYPTO_UUID_LEN];
    char *name;          /* owned */
    char *labels_json;   /* owned, JSON object text */
    char *version;       /* owned, may be NULL */
    char *packages_json; /* owned, JSON array text, may be NULL */
    int64_t enrolled_at_ms;
    int64_t last_seen_ms; /* 0 = never */
    int64_t spool_depth;
    int64_t dropped;
};

/* Agents ordered by name, keyset paged like store_runs_query. */
enum ho_code store_agents_query(struct store *st, size_t limit, const char *cursor,
                                struct agent_row **out, size_t *n,
                                char next_cursor[STORE_CURSOR_LEN], struct ho_error *err) HO_WUR;
/* One agent by id or name; HO_ENOENT when unknown. */
enum ho_code store_agent_get(struct store *st, const char *id_or_name, struct agent_row *out) HO_WUR;
void store_agent_row_cleanup(struct agent_row *a);
void store_agents_free(struct agent_row *rows, size_t n);

/*
 * Copies the database at db_path to dest (which must not exist) with SQLite's online
 * backup, consistent while a server writes; dest appears only when complete.
 */
enum ho_code store_backup_file(const char *db_path, const char *dest, struct ho_error *err) HO_WUR;
/*
 * Verifies the database (integrity_check, foreign_key_check). *report gets the
 * problems found, one a line ("" when none; caller frees). HO_EDB when any.
 */
enum ho_code store_check_file(const char *db_path, char **report, struct ho_error *err) HO_WUR;

#endif

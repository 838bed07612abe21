/*
 * The run record (DESIGN.md section 5) and its JSON codec: what the agent
 * spools and posts, what the server stores and returns.
 */
#ifndef HO_RUN_H
#define HO_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "error.h"

/* Limits on one run, enforced by run_parse and by the agent when it builds a run. */
#define RUN_MAX_OUTPUT    65536 /* bytes per step output */
#define RUN_MAX_NAME      255   /* package, check, version, metric and tag lengths */
#define RUN_MAX_METRICS   512   /* metrics per run */
#define RUN_MAX_TAGS      16    /* tags per metric */
#define RUN_MAX_BATCH     1000  /* runs per POST /runs */
#define RUN_MAX_DURATION  (7 * 24 * 3600 * 1000LL) /* ms */

enum test_status {
    TEST_STATUS_OK = 0,
    TEST_STATUS_WARNING = 1,
    TEST_STATUS_CRITICAL = 2,
    TEST_STATUS_UNKNOWN = 3
};

enum repair_status {
    REPAIR_STATUS_SUCCEEDED = 0,
    REPAIR_STATUS_FAILED,
    REPAIR_STATUS_TIMEOUT,
    REPAIR_STATUS_SUPPRESSED
};

enum run_outcome {
    RUN_OUTCOME_OK = 0,
    RUN_OUTCOME_REPAIRED = 1,
    RUN_OUTCOME_FAILED = 2,
    RUN_OUTCOME_ERROR = 3
};

const char *test_status_str(enum test_status s);
const char *repair_status_str(enum repair_status s);
const char *run_outcome_str(enum run_outcome o);
/* Parse the lowercase names above; HO_EINVAL for anything else. */
enum ho_code test_status_parse(const char *s, enum test_status *out) HO_WUR;
enum ho_code repair_status_parse(const char *s, enum repair_status *out) HO_WUR;
enum ho_code run_outcome_parse(const char *s, enum run_outcome *out) HO_WUR;

struct tag {
    char *key;   /* owned */
    char *value; /* owned */
};

#define RUN_ALERT_MAX_TEXT 2048 /* bytes of each text of the alert block */
#define RUN_ALERT_MAX_DOCS 16   /* links in "docs" */

/*
 * The check's manifest "alert" block (manifest.h struct manifest_alert), which
 * the agent attaches to failed and error runs (JSON "alert") so that the
 * server's alerts carry it. Every field owned, may be NULL.
 */
struct run_alert {
    char *severity;  /* "critical", "warning" or "info" */
    char *runbook;
    char **docs;     /* owned array of ndocs strings */
    size_t ndocs;
    char *advice;
    char *changelog;
    char *login;     /* as written in the manifest: "{node}" is expanded by the server */
};

struct metric {
    char *name;        /* owned */
    double value;      /* finite */
    int64_t ts_ms;     /* when it was measured; 0 = the run's started_at */
    struct tag *tags;  /* owned array */
    size_t ntags;
};

/* One step of a run: the test, the repair or the re-test. */
struct run_step {
    int present;        /* 0: the step did not happen (not serialised) */
    int status;         /* enum test_status for test/retest, enum repair_status for repair */
    int has_exit_code;  /* 0 when the process did not exit (timeout, exec failure, probe) */
    int exit_code;      /* process exit code when has_exit_code */
    char *output;       /* owned, may be NULL; at most RUN_MAX_OUTPUT bytes */
    int64_t duration_ms;
};

struct run {
    char id[CRYPTO_UUID_LEN]; /* UUIDv7 made by the agent */
    char *package;            /* owned */
    char *version;            /* owned, may be NULL */
    char *check;              /* owned */
    int64_t started_at_ms;    /* wall clock when the run started */
    int64_t duration_ms;
    int manual;               /* run by hand (healops-agent run) */
    char *operator_name;      /* owned, user who ran it by hand; JSON "operator" */
    int interval_s;           /* the check's interval (JSON "interval"), 0 = unknown */
    char *environment;        /* owned, may be NULL: the package's environment */
    struct tag *tags;         /* owned array: the package's tags (JSON "tags" object) */
    size_t ntags;
    struct run_step test;
    struct run_step repair;
    struct run_step retest;
    enum run_outcome outcome;
    struct metric *metrics;   /* owned array */
    size_t nmetrics;
    struct run_alert *alert;  /* owned, may be NULL: the manifest alert block (JSON "alert") */
    /* Server side only, serialised when set: */
    char *agent_id;           /* owned */
    char *agent_name;         /* owned; JSON "agent" */
    int64_t received_at_ms;   /* 0 = unset */
};

/* Frees everything a run owns and zeroes it; NULL is accepted. */
void run_cleanup(struct run *r);
/* Frees an alert block and what it owns; NULL is accepted. */
void run_alert_free(struct run_alert *a);
/* A new deep copy of a (NULL for NULL); caller frees with run_alert_free. */
struct run_alert *run_alert_dup(const struct run_alert *a);
void metric_cleanup(struct metric *m);

/*
 * Parses and validates one run object from JSON text of length len.
 * On error fills err (field relative to the run, e.g. "test.status") and leaves out
 * zeroed. Checks types, enum values, UUID id, RFC 3339 started_at, the limits above,
 * and consistency (outcome "repaired" needs a repair and a passing retest).
 */
enum ho_code run_parse(const char *json, size_t len, struct run *out, struct ho_error *err) HO_WUR;

/* One run of a batch after parsing: either valid (rc HO_OK, run filled) or rejected. */
struct run_batch_item {
    enum ho_code rc;     /* HO_OK or why it was rejected */
    struct ho_error err; /* when rejected: message and field */
    struct run run;      /* when rc == HO_OK */
};

struct run_batch {
    struct run_batch_item *items; /* owned array */
    size_t n;
};

/*
 * Parses {"runs":[...]}: an envelope that is not JSON, has no "runs" array, or more
 * than max_runs runs fails as a whole (HO_EINVAL / HO_ETOOBIG, err filled). Otherwise
 * returns HO_OK and every run is either valid or rejected with its reason.
 */
enum ho_code run_batch_parse(const char *json, size_t len, size_t max_runs, struct run_batch *out,
                             struct ho_error *err) HO_WUR;
void run_batch_cleanup(struct run_batch *b);

/*
 * Metrics alone, as a JSON array [{"name","value","timestamp"?,"tags"}], for
 * storage in one column. run_metrics_parse makes a new array (caller frees each with
 * metric_cleanup, then the array), validated as in
 * run_parse; HO_EINVAL with err->field like "metrics[2].value").
 */
enum ho_code run_metrics_to_json(const struct metric *m, size_t n, struct buf *out) HO_WUR;
enum ho_code run_metrics_parse(const char *json, size_t len, struct metric **out, size_t *n,
                               struct ho_error *err) HO_WUR;

/* Appends r as one JSON object (DESIGN.md section 5 field names) to out. */
enum ho_code run_to_json(const struct run *r, struct buf *out) HO_WUR;

#endif

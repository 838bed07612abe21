/*
 * Declarations shared by the alert engine's files (alerts.c: the engine and its
 * evaluation thread; alerts_rules.c: the pure rules; alerts_context.c: the
 * alert context codec and struct alert assembly; alerts_deliver.c: the
 * delivery thread). Not used elsewhere, except by the unit tests.
 */
#ifndef HO_ALERTS_IMPL_H
#define HO_ALERTS_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "crypto.h"
#include "error.h"

struct alerts;
struct alerts_onode;
struct app;
struct httpc;
struct receivers;
struct run_alert;
struct store_alert;
struct store_alert_subject;
struct tag;

#define ALERTS_EXCERPT_MAX 2048 /* bytes of each output excerpt in an alert */
#define ALERTS_SUMMARY_MAX 1024 /* bytes of a summary */
#define ALERTS_AGENT_CHECK "-"  /* the check of agent-level alerts */

/* "failed", ...; HO_EINVAL for an unknown name. */
enum ho_code alert_kind_parse(const char *s, enum alert_kind *out) HO_WUR;

/* The rule parameters (server config "alerting"), times in milliseconds. */
struct alert_rules_cfg {
    int after_failures;      /* failed/error runs in a row that open a "failed" alert */
    int64_t repeat_every_ms; /* an open alert is sent again at most this often */
    int64_t silent_after_ms; /* an agent unheard of this long is silent */
    int flap_repairs;        /* more repairs than this in the window: flapping */
    int64_t flap_window_ms;
    int stale; /* the stale rule is on */
};

/* What the rules know of one agent x check when they look at it. */
struct alert_facts {
    int has_state;            /* a run of this check was ever stored */
    int outcome;              /* enum run_outcome of the newest run */
    int repair_status;        /* enum repair_status of the newest run, -1 = no repair */
    int consecutive_failures; /* newest runs in a row failed or error */
    int64_t last_run_at_ms;
    int interval_s;        /* 0 = unknown */
    int agent_alive;       /* the agent was heard from within silent_after */
    int repairs_in_window; /* repaired runs in the flapping window, -1 = not counted */
    int has_open;          /* an alert of this agent x check is open */
    enum alert_kind open_kind;
};

struct alert_decision {
    int resolve; /* resolve the open alert */
    int open;    /* then open a new alert of kind */
    enum alert_kind kind;
};

/*
 * The rules for one agent x check (DESIGN.md section 8). One alert per agent x
 * check: an open alert stays while its own condition holds, whatever else also
 * holds; it resolves when the check is ok or repaired again (failed, guard),
 * when a run arrived in time again (stale) or when the repairs in the window
 * fall below the limit (flapping). With none open (or the open one just
 * resolved), the first condition that holds opens one, in this order:
 * guard_exhausted, failed, flapping, stale.
 */
void alert_rules_check(const struct alert_rules_cfg *cfg, const struct alert_facts *f,
                       int64_t now_ms, struct alert_decision *d);

/* 1 when an agent last heard from at last_seen_ms (0 = never) is silent at now_ms. */
int alert_rules_silent(const struct alert_rules_cfg *cfg, int64_t last_seen_ms, int64_t now_ms);

/* 1 when a check whose newest run started at last_run_at_ms is stale at now_ms. */
int alert_rules_stale(int interval_s, int64_t last_run_at_ms, int64_t now_ms);

/* 1 when an open alert last sent at last_sent_ms is due to be sent again. */
int alert_rules_repeat_due(const struct alert_rules_cfg *cfg, int64_t last_sent_ms, int64_t now_ms);

/*
 * Backoff before delivery attempt number attempts + 1 (attempts >= 1 failed so
 * far): 1 s doubling to 5 min, minus up to half as jitter (rnd), at least
 * Retry-After (retry_after_s, -1 = none; capped at one hour).
 */
int64_t alert_backoff_ms(int attempts, long retry_after_s, uint32_t rnd);

/* A new string: "{node}" in login replaced by node everywhere; NULL for NULL. */
char *alert_login_expand(const char *login, const char *node);

/* A new string: the first line of text, at most max bytes on a character boundary. */
char *alert_first_line(const char *text, size_t max);

/* A new string: text cut to max bytes on a character boundary; NULL for NULL. */
char *alert_excerpt(const char *text, size_t max);

/*
 * A new one-line summary (at most ALERTS_SUMMARY_MAX bytes) of an alert of kind
 * on node and check (NULL for agent-level): "web-1 nginx.running failed: 2
 * workers, want >= 4". detail is the first output line or NULL; n and window_s
 * are the counts the kind talks about (failures, repairs and window, silent
 * seconds, seconds since the last run and interval).
 */
char *alert_summary(enum alert_kind kind, const char *node, const char *check, const char *detail,
                    int64_t n, int64_t window_s);

/* Default severity of an alert of kind when the manifest gives none. */
const char *alert_default_severity(enum alert_kind kind);

/* ---- the alert context (alerts_context.c) ---- */

/* What an alert carries besides its row: the latest run and the manifest block. */
struct alert_context {
    char *version, *environment, *outcome;
    char *test_output, *repair_output, *retest_output; /* excerpts */
    char *runbook, *advice, *changelog, *login;        /* login with {node} expanded */
    char **docs;
    size_t ndocs;
    char *last_run_at;        /* RFC 3339, NULL = none */
    int consecutive_failures; /* -1 = not applicable */
    int repairs_in_window;    /* -1 = not applicable */
    int interval_s;           /* 0 = unknown */
};

void alert_context_cleanup(struct alert_context *c);
/* A new JSON object text of c (caller frees). */
char *alert_context_to_json(const struct alert_context *c);
/* Fills c (zeroed first) from JSON text; anything unreadable is left NULL. */
void alert_context_parse(const char *json, struct alert_context *c);
/*
 * Labels JSON object text into a new array of tags (*n of them; caller frees with
 * alert_tags_free). Non-string values are skipped.
 */
struct tag *alert_tags_parse(const char *json, size_t *n);
void alert_tags_free(struct tag *t, size_t n);

/* An alert ready for the encoders, with the storage its pointers borrow from. */
struct alert_view {
    struct alert a;
    struct alert_context ctx;
    struct tag *labels;
    size_t nlabels;
    char *dashboard_url;
    char *graph_url;
    enum alert_kind kind;
};

/*
 * Builds v from stored alert row s (borrowed: keep it alive while v is used) for
 * event ev; public_url (may be NULL) makes the dashboard link.
 */
void alert_view_init(struct alert_view *v, const struct store_alert *s, enum alert_event ev,
                     const char *public_url);
void alert_view_cleanup(struct alert_view *v);

/* A new string: the dashboard link of agent x check (check NULL: the agent), NULL without url. */
char *alert_dashboard_url(const char *public_url, const char *agent, const char *check);

/* ---- the engine (alerts.c), shared with the delivery thread ---- */

/* One check waiting for evaluation. */
struct alerts_item {
    char agent_id[CRYPTO_UUID_LEN];
    char *check;
    char *environment;       /* of the run, may be NULL */
    struct run_alert *block; /* the run's manifest alert block, may be NULL */
};

/* The keys of the open alerts: a chained hash set. */
struct alerts_oset {
    struct alerts_onode **b;
    size_t nb, n;
};

/* 1 when key is in the set. */
int alerts_oset_has(const struct alerts_oset *o, const char *key);
/* Adds a copy of key (no-op when there). */
void alerts_oset_add(struct alerts_oset *o, const char *key);
void alerts_oset_del(struct alerts_oset *o, const char *key);
/* Empties and frees the set (it can be used again). */
void alerts_oset_clear(struct alerts_oset *o);
/* 1 (and notes now) when key's context was last refreshed gap_ms or more before now. */
int alerts_oset_refresh_due(struct alerts_oset *o, const char *key, int64_t now_ms, int64_t gap_ms);

struct alerts {
    struct app *app;
    struct store *store;  /* alerts and their outbox are written here; reads: app_reads */
    struct receivers *rs; /* owned, may be NULL */
    struct alert_rules_cfg rules;
    int64_t evaluate_every_ms;
    int64_t am_resend_ms; /* 0: no Alertmanager receiver */
    int64_t started_at_ms;
    int64_t next_sweep_ms; /* evaluation thread only */
    uint32_t rnd;          /* delivery thread only: jitter */
    struct httpc **http;   /* delivery thread only: a client per receiver, made on use */
    /* Under mu: */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct alerts_item *q; /* ring of ALERTS_QUEUE_MAX */
    size_t qhead, qlen;
    int overflow; /* items were dropped: the next sweep reconciles */
    struct alerts_oset open;
    int stopping;
    uint64_t dgen; /* bumped when outbox rows were added */
    pthread_cond_t dcv;
    /* Threads: */
    pthread_t eval_thread, deliver_thread;
    int eval_started, deliver_started;
};

/*
 * Builds the view of stored alert row for event ev as the encoders get it:
 * dashboard and signed graph links from the server's public_url.
 */
void alerts_view_make(struct alerts *a, const struct store_alert *row, enum alert_event ev,
                      int64_t now_ms, struct alert_view *v);

struct receiver_msg;
/* A new string of m's header lines joined by "\n", NULL when it has none. */
char *alerts_join_headers(const struct receiver_msg *m);

/* ---- the delivery thread (alerts_deliver.c) ---- */

/* The delivery thread's body (arg: struct alerts); ends when a->stopping is set. */
void *alerts_deliver_main(void *arg);
/* Wakes the delivery thread (new outbox rows). */
void alerts_deliver_wake(struct alerts *a);
/* Frees the delivery thread's clients (after it stopped). */
void alerts_deliver_cleanup(struct alerts *a);

#endif

/*
 * One alert as the alert engine hands it to the receiver encoders
 * (DESIGN.md section 8). Plain record: every pointer is borrowed from the
 * engine for the duration of one encode call.
 */
#ifndef HO_ALERT_H
#define HO_ALERT_H

#include <stddef.h>
#include <stdint.h>

struct tag;

enum alert_kind {
    ALERT_KIND_FAILED,   /* "failed": the check failed after_failures runs in a row */
    ALERT_KIND_SILENT,   /* "silent": the agent sent nothing for agent_silent_after */
    ALERT_KIND_FLAPPING, /* "flapping": too many repairs within the window */
    ALERT_KIND_GUARD,    /* "guard_exhausted": the loop guard suppressed the repair */
    ALERT_KIND_STALE     /* "stale": no run for 2 x interval while the agent is alive */
};

enum alert_event { ALERT_EVENT_TRIGGER, ALERT_EVENT_RESOLVE };

/* "failed", "silent", "flapping", "guard_exhausted", "stale". */
const char *alert_kind_str(enum alert_kind k);
/* "trigger", "resolve". */
const char *alert_event_str(enum alert_event e);

struct alert {
    int64_t id;               /* alerts table id */
    const char *key;          /* de-dup key, stable per agent x check: "healops:AGENT_ID:CHECK" ("-" for agent-level) */
    enum alert_kind kind;
    enum alert_event event;
    const char *severity;     /* "critical" | "warning" | "info" */
    const char *summary;      /* one line, <= 1024 bytes: "web-1 nginx.running failed: 2 workers, want >= 4" */
    const char *agent_id, *agent_name;
    const char *package, *version, *check;  /* NULL for agent-level alerts */
    const char *environment;  /* may be NULL */
    const struct tag *labels; size_t nlabels;  /* the agent's labels (run.h struct tag) */
    const char *outcome;      /* last outcome text, may be NULL */
    const char *test_output, *repair_output, *retest_output; /* excerpts <= 2048 bytes, may be NULL */
    const char *runbook, *advice, *changelog, *login;       /* manifest alert block; login with {node} expanded; may be NULL */
    const char *const *docs; size_t ndocs;
    const char *dashboard_url;  /* PUBLIC_URL/#/check/AGENT_NAME/CHECK (URL-encoded parts), NULL without public_url */
    const char *graph_url;      /* signed graph.png URL, NULL when none */
    int64_t started_at_ms;      /* when the alert opened */
    int64_t resolved_at_ms;     /* 0 while open */
    int count;                  /* times it triggered/repeated */
};

#endif

/*
 * Repair insights per check (GET /api/v1/insights, DESIGN.md section 6): how
 * often a check breaks, how often its repair works, how long it takes to
 * recover, and which agents flap. Read on a struct store_read connection, from
 * the partial index of runs that were not ok, so the cost follows the number
 * of failures and repairs in the window, not the number of runs.
 */
#ifndef HO_STORE_INSIGHTS_H
#define HO_STORE_INSIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "store_read.h"

#define INSIGHTS_MAX_CHECKS        1000 /* checks per answer */
#define INSIGHTS_MAX_FLAPPING_SHOWN 10  /* agent names listed per flapping check */

struct insights_query {
    int64_t agent_rowid;   /* 0 = every agent */
    const char *package;   /* NULL = any */
    const char *check;     /* NULL = any */
    int64_t since_ms;      /* window [since, until) */
    int64_t until_ms;
    int64_t flap_since_ms; /* flapping: repaired runs since then ... */
    int64_t flap_repairs;  /* ... at least this many for one agent x check */
    size_t limit;          /* 1..INSIGHTS_MAX_CHECKS */
};

struct check_insight {
    char *package;               /* owned */
    char *check;                 /* owned */
    int64_t agents;              /* agents on which it was not ok in the window */
    int64_t failures;            /* runs that ended failed or error */
    int64_t repairs_attempted;   /* repairs that ran (not suppressed) */
    int64_t repairs_succeeded;   /* runs that ended repaired */
    int64_t repairs_suppressed;  /* repairs the loop guard held back */
    double mean_repair_ms;       /* mean duration of repaired runs; < 0 = none */
    int64_t incidents;           /* failure streaks that began in the window */
    int64_t open_incidents;      /* of those, not recovered yet */
    double mean_recovery_s;      /* first failed run to the next good one; < 0 = none */
    int64_t flapping_agents;     /* agents at or over the flapping threshold */
    char **flapping_names;       /* owned, the first INSIGHTS_MAX_FLAPPING_SHOWN */
    size_t nflapping_names;
};

/*
 * Insights per package x check with any failure or repair in the window, most
 * repairs first, then most failures. *out (caller frees with
 * store_insights_free) holds *n entries.
 */
enum ho_code store_insights_query(struct store_read *r, const struct insights_query *q,
                                  struct check_insight **out, size_t *n,
                                  struct ho_error *err) HO_WUR;
/* An agent's rowid by its id or name; HO_ENOENT (err->field "agent") when unknown. */
enum ho_code store_insights_agent(struct store_read *r, const char *id_or_name, int64_t *rowid,
                                  struct ho_error *err) HO_WUR;
void store_insights_free(struct check_insight *c, size_t n);

#endif

/*
 * Package rollouts, the pure part (DESIGN.md sections 3 and 6): name and
 * semantic-version rules, version order, label selectors, the stable rollout
 * bucket of an agent, which version an agent gets, and when a rollout halts.
 * No store, no clock, no I/O: server/api_packages.c and server/rollout_watch.c
 * feed it what they read.
 */
#ifndef HO_ROLLOUT_H
#define HO_ROLLOUT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct tag;

#define ROLLOUT_NAME_MAX      64  /* package name, as the manifest allows */
#define ROLLOUT_VERSION_MAX   64  /* version text, as the manifest allows */
#define ROLLOUT_LABEL_KEY_MAX 64  /* label keys, as enrollment allows */
#define ROLLOUT_LABEL_VAL_MAX 255 /* label values */
#define ROLLOUT_MAX_LABELS    64  /* labels of an agent, keys of a selector */
#define ROLLOUT_LATEST        "latest"
#define ROLLOUT_REASON_LEN    256

/* 1 when s is a package name: [a-z0-9][a-z0-9._-]*, at most 64 bytes. */
int rollout_name_ok(const char *s);
/* 1 when s is a semantic version MAJOR.MINOR.PATCH[-pre][+build] of at most 64 bytes. */
int rollout_semver_ok(const char *s);
/*
 * Orders two valid semantic versions by SemVer 2.0 precedence (a pre-release below
 * its release; build metadata last, bytewise, so the order is total): <0, 0, >0.
 */
int rollout_semver_cmp(const char *a, const char *b);
/*
 * What "latest" stands for among versions[0..n) (all valid): the newest release, or
 * the newest pre-release when there is no release. Returns its index, n when n is 0.
 */
size_t rollout_latest(const char *const *versions, size_t n);

/*
 * Parses a JSON object of label = value strings (agent labels or a selector) into a
 * new array *out of *n tags (caller frees with rollout_tags_free). Keys are 1-64 of
 * [A-Za-z0-9._-] starting alphanumeric, values strings of at most 255 bytes without
 * control characters, at most 64 of them. HO_EINVAL with err->field "WHAT.KEY" (or
 * "WHAT") naming the culprit, what being the caller's name for the object.
 */
enum ho_code rollout_labels_parse(const char *json, size_t len, const char *what, struct tag **out,
                                  size_t *n, struct ho_error *err) HO_WUR;
void rollout_tags_free(struct tag *t, size_t n);

/* 1 when every key = value of the selector equals the agent's label (empty: always). */
int rollout_selector_match(const struct tag *sel, size_t nsel, const struct tag *labels,
                           size_t nlabels);

/*
 * The rollout bucket of an agent for a package, 0..99: the first 4 bytes of
 * SHA-256("agent_id/package") as a big-endian number, mod 100. Stable per agent,
 * independent per package.
 */
unsigned rollout_bucket(const char *agent_id, const char *package);

enum rollout_pick {
    ROLLOUT_PICK_NONE = 0, /* the package is not for this agent */
    ROLLOUT_PICK_NEW,      /* the resolved (new) version */
    ROLLOUT_PICK_PREVIOUS  /* the previous version */
};
const char *rollout_pick_str(enum rollout_pick p);

/* What a selected agent gets from an assignment (has_previous: a previous version exists). */
enum rollout_pick rollout_decide(const char *agent_id, const char *package, int percent, int halted,
                                 int has_previous);

/* Runs counted since a rollout began, by version. */
struct rollout_counts {
    int64_t new_runs;   /* runs of the new (resolved) version */
    int64_t new_failed; /* of them with outcome failed or error */
    int64_t prev_runs;  /* runs of the previous version */
    int64_t prev_failed;
};

struct rollout_limits {
    int64_t min_runs;    /* runs of the new version before it can be judged */
    double max_increase; /* failure rate above the previous version's that halts (0..1) */
};

/*
 * The halting rule: 1 when the new version has at least min_runs runs and its failure
 * rate is at least max_increase above the previous version's and more than twice it.
 * Then reason (ROLLOUT_REASON_LEN bytes, may be NULL) says why, naming both versions.
 */
int rollout_should_halt(const struct rollout_counts *c, const struct rollout_limits *l,
                        const char *new_version, const char *prev_version, char *reason,
                        size_t reason_len);

#endif

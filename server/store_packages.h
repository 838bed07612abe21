/*
 * The store's package part (DESIGN.md sections 3, 5 and 6): published package
 * versions and their bundle bytes, assignments (which version which agents run,
 * staged by rollout percentage, halted by the rollout watcher), and the package
 * errors agents report. Backed by store_sqlite_packages.c; same locking rules as
 * store.h (every call is safe from any thread).
 */
#ifndef HO_STORE_PACKAGES_H
#define HO_STORE_PACKAGES_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "error.h"

struct store;
struct store_read;
struct rollout_counts;

#define STORE_PKG_AGENTS_MAX 1000 /* agents listed for one package */

/* One published version (metadata only; the bytes are read with store_package_bundle). */
struct pkg_version {
    char *name;    /* owned */
    char *version; /* owned */
    char sha256[CRYPTO_SHA256_HEX_LEN];
    int64_t size;      /* bundle bytes */
    char *signature;   /* owned base64, NULL = unsigned */
    char *key_id;      /* owned, NULL = no configured publisher key verified it */
    char *description; /* owned, may be NULL */
    char *checks_json; /* owned JSON array of check names */
    int64_t published_at_ms;
};
void store_pkg_version_cleanup(struct pkg_version *v);
void store_pkg_versions_free(struct pkg_version *v, size_t n);

/* What POST /packages stores: the record (sha256, size, published_at filled by the caller). */
struct pkg_publish {
    struct pkg_version v;      /* borrowed strings */
    const char *manifest_json; /* the manifest text as in the bundle */
    const void *data;          /* the bundle bytes */
    size_t len;
};

/*
 * Stores a new version in one transaction and moves every "latest" assignment of the
 * package to it when it is now the latest (rollout_latest). The same name + version
 * with the same sha256 changes nothing (an unsigned record gains p's signature) and
 * gives *created 0; another sha256 is HO_EEXIST. out gets the stored record (caller
 * cleans it up).
 */
enum ho_code store_package_publish(struct store *st, const struct pkg_publish *p, int64_t now_ms,
                                   struct pkg_version *out, int *created) HO_WUR;

/* Every version of package name (any order) into *out of *n; none is HO_OK with 0. */
enum ho_code store_package_versions(struct store *st, const char *name, struct pkg_version **out,
                                    size_t *n) HO_WUR;
/* Every version of every package, ordered by name (then any order). */
enum ho_code store_package_versions_all(struct store *st, struct pkg_version **out,
                                        size_t *n) HO_WUR;

/*
 * The bundle bytes of name + version into a new buffer *data of *len (caller frees)
 * and its sha256, on a read-only connection (store_read.h): a 16 MiB read never
 * holds the store lock. HO_ENOENT when unknown.
 */
enum ho_code store_package_bundle(struct store_read *r, const char *name, const char *version,
                                  void **data, size_t *len,
                                  char sha256[CRYPTO_SHA256_HEX_LEN]) HO_WUR;

/* An assignment (table assignments). */
struct pkg_assignment {
    char *package;          /* owned */
    char *selector_json;    /* owned JSON object of label = value */
    char *version;          /* owned: as asked, a version or "latest" */
    char *resolved_version; /* owned */
    char *previous_version; /* owned, may be NULL */
    int rollout_percent;    /* 0..100 */
    int64_t updated_at_ms;
    int halted;
    char *halt_reason;    /* owned, may be NULL */
    int64_t halted_at_ms; /* 0 = not halted */
};
void store_pkg_assignment_cleanup(struct pkg_assignment *a);
void store_pkg_assignments_free(struct pkg_assignment *a, size_t n);

/* The assignment of package; HO_ENOENT when there is none. */
enum ho_code store_assignment_get(struct store *st, const char *package,
                                  struct pkg_assignment *out) HO_WUR;
/* Every assignment, ordered by package. */
enum ho_code store_assignments_all(struct store *st, struct pkg_assignment **out, size_t *n) HO_WUR;

/*
 * Creates or replaces the assignment of package (selector JSON already validated,
 * version a valid version or "latest", percent 0..100) in one transaction: the
 * version must exist (HO_ENOENT, err->field "version"; a package without versions is
 * HO_ENOENT with field "name"). When the resolved version differs from the one held,
 * previous_version becomes the one held. Clears a halt and restarts the watcher's
 * counts. out gets the stored assignment.
 */
enum ho_code store_assignment_put(struct store *st, const char *package, const char *selector_json,
                                  const char *version, int percent, int64_t now_ms,
                                  struct pkg_assignment *out, struct ho_error *err) HO_WUR;
/* Removes the assignment of package; HO_ENOENT when there is none. */
enum ho_code store_assignment_delete(struct store *st, const char *package) HO_WUR;

/* An assignment as one agent sees it, with both candidate versions' bundle facts. */
struct pkg_offer {
    struct pkg_assignment a;
    char new_sha256[CRYPTO_SHA256_HEX_LEN];
    int64_t new_size;
    char *new_signature;                     /* owned, may be NULL */
    char prev_sha256[CRYPTO_SHA256_HEX_LEN]; /* "" when there is no previous version */
    int64_t prev_size;
    char *prev_signature; /* owned, may be NULL */
};
void store_pkg_offers_free(struct pkg_offer *o, size_t n);

/*
 * For GET /agents/self/packages, under one lock: the labels (JSON object text,
 * caller frees) of agent agent_id and every assignment with its versions' facts,
 * ordered by package. HO_ENOENT for an unknown agent.
 */
enum ho_code store_agent_offers(struct store *st, const char *agent_id, char **labels_json,
                                struct pkg_offer **out, size_t *n) HO_WUR;

/* A package error an agent reports (heartbeat "package_errors"). */
struct pkg_error {
    const char *package;
    const char *version; /* may be NULL */
    const char *error;
};
/*
 * Replaces the package errors of agent agent_id by e[0..n) in one transaction (a
 * package named twice keeps the last). HO_ENOENT for an unknown agent.
 */
enum ho_code store_package_errors_set(struct store *st, const char *agent_id,
                                      const struct pkg_error *e, size_t n, int64_t now_ms) HO_WUR;

/* A package error as stored, with when it was reported. */
struct pkg_error_row {
    char *package;     /* owned */
    char *version;     /* owned, may be NULL */
    char *error;       /* owned */
    int64_t at_ms;
};
/*
 * The package errors agent agent_id reported last (at most 64, by package name) into
 * a new array *out of *n (free with store_pkg_error_rows_free). HO_ENOENT for an
 * unknown agent.
 */
enum ho_code store_package_errors_get(struct store *st, const char *agent_id,
                                      struct pkg_error_row **out, size_t *n) HO_WUR;
void store_pkg_error_rows_free(struct pkg_error_row *e, size_t n);

/* An agent that reports package NAME, has an error for it, or that a selector matches. */
struct pkg_agent {
    char agent_id[CRYPTO_UUID_LEN];
    char *name;          /* owned */
    char *labels_json;   /* owned */
    int reports;         /* its heartbeat lists the package */
    char *version;       /* owned: the version it reports running, may be NULL */
    char *error;         /* owned: its package error, may be NULL */
    char *error_version; /* owned, may be NULL */
};
void store_pkg_agents_free(struct pkg_agent *a, size_t n);

/*
 * Agents concerned by package name, ordered by agent name, at most limit: those whose
 * heartbeat lists it, those with an error for it, and (selector_json not NULL) those
 * whose labels the selector matches. On a read-only connection: it reads every agent.
 */
enum ho_code store_package_agents(struct store_read *r, const char *name, const char *selector_json,
                                  size_t limit, struct pkg_agent **out, size_t *n) HO_WUR;

/*
 * For the rollout watcher: adds the runs of package stored since the last call (and
 * started since the assignment's updated_at) to its counts, by version, and returns
 * the totals with the assignment. HO_ENOENT when the package has no assignment or it
 * is halted or has no previous version (nothing to watch).
 */
enum ho_code store_rollout_tally(struct store *st, const char *package, struct pkg_assignment *a,
                                 struct rollout_counts *c) HO_WUR;
/*
 * Halts the assignment of package with reason, unless it was replaced since
 * updated_at_ms (a PUT in between wins): then HO_ENOENT.
 */
enum ho_code store_rollout_halt(struct store *st, const char *package, int64_t updated_at_ms,
                                const char *reason, int64_t now_ms) HO_WUR;

#endif

/*
 * The agent's package store and package sync (DESIGN.md sections 3 and 5):
 * bundles assigned by the server are downloaded, checked (sha256, publisher
 * signature, manifest) and installed under STATE_DIR/packages/NAME/VERSION/,
 * with NAME/current and NAME/previous symlinks switched atomically. Whatever
 * fails leaves the running version alone and is reported in heartbeats.
 * Thread-safe: one thread syncs while another loads and runs packages.
 */
#ifndef HO_PKGSYNC_H
#define HO_PKGSYNC_H

#include <stddef.h>

#include "error.h"
#include "manifest.h"

#define PKGSYNC_DIR            "packages" /* under the state folder */
#define PKGSYNC_MAX_LIST_BYTES (1024 * 1024)
#define PKGSYNC_MAX_ERROR      256        /* bytes of one reported error text */
#define PKGSYNC_MAX_REPORTED   64         /* errors in one heartbeat (the server's limit) */

struct pkgsync;
struct httpc;
struct sign_pubkey;

/* One assigned package version, as GET /api/v1/agents/self/packages lists it. */
struct pkgsync_entry {
    const char *name;
    const char *version;
    const char *sha256;    /* 64 lowercase hex chars */
    const char *signature; /* base64 Ed25519 signature, NULL when unsigned */
};

/* A package as the heartbeat reports it; error is NULL for running packages. */
struct pkgsync_item {
    char *name;    /* owned */
    char *version; /* owned */
    char *error;   /* owned, may be NULL */
};

/*
 * Opens the store STATE_DIR/packages (made 0755 when missing) and empties its
 * .tmp folder. keys[0..nkeys) are the trusted publisher keys, borrowed: they
 * must outlive ps.
 */
enum ho_code pkgsync_new(const char *state_dir, struct sign_pubkey *const *keys, size_t nkeys,
                         struct pkgsync **out, struct ho_error *err) HO_WUR;
void pkgsync_free(struct pkgsync *ps);

/*
 * One sync with the server at base URL server using the agent token: fetches
 * the assignments (If-None-Match with the last ETag), installs what is not
 * installed, and stops what is no longer assigned. Failures of single
 * packages are recorded for the heartbeat (and logged once), not returned:
 * the return value is about the assignment list itself (HO_EIO/HO_ETIMEOUT
 * server away, HO_EAUTH token refused, HO_EINVAL malformed answer, HO_ENOENT
 * a server without package distribution).
 */
enum ho_code pkgsync_sync(struct pkgsync *ps, struct httpc *hc, const char *server,
                          const char *token, struct ho_error *err) HO_WUR;

/*
 * Installs the bundle bytes data[0..len) as entry e: checks the sha256 and the
 * signature, extracts, validates the manifest (name and version must equal
 * e's), moves it into place and switches NAME/current (the old one becomes
 * NAME/previous; older versions are removed). On failure nothing changes on
 * disk and err says why.
 */
enum ho_code pkgsync_install(struct pkgsync *ps, const struct pkgsync_entry *e, const void *data,
                             size_t len, struct ho_error *err) HO_WUR;

/*
 * Stops every synced package whose name is not in names[0..n): its current
 * link becomes its previous one, so it no longer runs (also after a restart).
 */
void pkgsync_retain(struct pkgsync *ps, const char *const *names, size_t n);

/*
 * Loads the manifest of every synced package's current version (validated),
 * skipping names that local[0..nlocal) already has. A current version that no
 * longer loads is reported and replaced by the previous one (rollback). *out
 * gets a new array of *n new manifests; free with pkgsync_manifests_free.
 */
void pkgsync_load(struct pkgsync *ps, const struct manifest *local, size_t nlocal,
                  struct manifest ***out, size_t *n);
void pkgsync_manifests_free(struct manifest **m, size_t n);

/* Changes every time a package's current version changes (install, stop, rollback). */
unsigned long pkgsync_generation(struct pkgsync *ps);

/* Records what runs now (name and version of pkgs[0..n)) for the heartbeat. */
void pkgsync_set_running(struct pkgsync *ps, const struct manifest *const *pkgs, size_t n);

/*
 * Copies what runs and the recorded package errors, at most
 * PKGSYNC_MAX_REPORTED of them (caller frees both with pkgsync_items_free). Returns 0, with *running NULL, until
 * pkgsync_set_running was called, else 1.
 */
int pkgsync_report(struct pkgsync *ps, struct pkgsync_item **running, size_t *nrunning,
                    struct pkgsync_item **errors, size_t *nerrors);
void pkgsync_items_free(struct pkgsync_item *items, size_t n);

/* 1 (once) when what runs or the errors changed since the last call: a heartbeat is due. */
int pkgsync_take_changed(struct pkgsync *ps);

#endif

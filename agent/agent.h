/*
 * The agent's context, built in main and passed down: its configuration,
 * identity (enrolled id and token), loaded packages and spool.
 */
#ifndef HO_AGENT_H
#define HO_AGENT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "crypto.h"
#include "error.h"
#include "manifest.h"
#include "probe.h"

struct spool;
struct cycle_guard;
struct pkgsync;
struct sign_pubkey;
struct httpc;
struct run;
struct spool_item;

struct agent_config {
    char *server;              /* base URL, "https://host:8443" */
    char *ca_file;             /* CA bundle to verify the server */
    char *tls_client_cert;     /* PEM client certificate for mutual TLS, may be NULL */
    char *tls_client_key;      /* its PEM key, may be NULL */
    char *state_dir;           /* identity and spool live here */
    char *name;                /* node name, default the host name */
    struct config_list labels; /* "key=value" */
    char *enroll_token;
    char *enroll_token_file;
    struct config_list package_dirs;
    struct config_list trust_keys;
    char *log_level;
    char *test_user;           /* run tests as this user when root */
    long long workers;         /* checks run in parallel */
    long long splay;           /* most seconds a check's first run is delayed */
    long long heartbeat_interval;
    long long batch_size;      /* runs per POST */
    long long spool_max_items;
    long long spool_max_bytes;
    long long output_cap;
    long long send_timeout;    /* seconds per request */
    int host_stats;            /* collect the built-in host stats */
    long long host_stats_interval; /* seconds between host stats */
    long long package_sync_interval; /* seconds between package syncs */
    int once;                  /* --once */
    int report_only;           /* never repair */
    int json;                  /* run: print JSON */
};

struct agent_identity {
    char agent_id[CRYPTO_UUID_LEN]; /* "" until enrolled */
    char token[256];                /* agent token, secret */
};

struct agent {
    struct agent_config cfg;
    struct manifest *packages; /* owned array: the --package-dir packages */
    size_t npackages;
    struct sign_pubkey **trust_keys; /* owned: the loaded --trust-key files */
    size_t ntrust_keys;
    struct pkgsync *sync;      /* owned: synced packages; NULL before the state dir opens */
    struct spool *spool;
    struct probe_ctx probe;
    pthread_mutex_t id_lock;   /* guards identity */
    struct agent_identity id;
};

/* identity.c: enrollment and the identity file STATE_DIR/agent.json (mode 0600). */

/* Loads the saved identity if any; HO_ENOENT when not enrolled yet. */
enum ho_code identity_load(struct agent *ag, struct ho_error *err) HO_WUR;
/*
 * Enrolls with the enrollment token (POST /api/v1/agents/enroll) and saves the
 * identity atomically. HO_EIO when the server is unreachable (try again later),
 * HO_EAUTH when the enrollment token is refused, HO_EINVAL without a token.
 */
enum ho_code identity_enroll(struct agent *ag, struct httpc *hc, struct ho_error *err) HO_WUR;
/* Copies the current token into out (size n); "" when not enrolled. */
void identity_token(struct agent *ag, char *out, size_t n);

/* sender.c: moving spooled runs and metric batches to the server. */

/*
 * Sends spooled runs in batches until the spool holds none or max_batches were
 * sent. Accepted, duplicate and rejected runs leave the spool (rejected ones are
 * logged). HO_EIO/HO_ETIMEOUT when the server is unreachable, HO_EAUTH when the
 * token is refused. *sent counts runs the server acknowledged.
 */
enum ho_code sender_flush(struct agent *ag, struct httpc *hc, size_t max_batches, size_t *sent,
                          struct ho_error *err) HO_WUR;
/*
 * Posts exactly these spooled runs (a manual run sends only its own, so it never
 * races the daemon for the rest of the spool); acknowledged ones leave the spool.
 */
enum ho_code sender_send_items(struct agent *ag, struct httpc *hc, struct spool_item *items,
                               size_t n, size_t *sent, struct ho_error *err) HO_WUR;
/*
 * Posts spooled metric batches (kind "metrics"), oldest first, one per request
 * to /api/v1/metrics, until none are left or max_items were posted. Answered
 * 200 they leave the spool; 400 and 413 drop them with a log line (they can
 * never pass); 401/403 are HO_EAUTH, anything else HO_EIO/HO_ETIMEOUT (the
 * batch stays for the next try). *sent counts batches the server acknowledged.
 */
enum ho_code sender_flush_metrics(struct agent *ag, struct httpc *hc, size_t max_items,
                                  size_t *sent, struct ho_error *err) HO_WUR;
/* Posts a heartbeat (version, packages that run, package errors, spool depth, dropped count). */
enum ho_code sender_heartbeat(struct agent *ag, struct httpc *hc, struct ho_error *err) HO_WUR;
/* Makes an HTTP client from the configuration. */
enum ho_code sender_client(struct agent *ag, struct httpc **out) HO_WUR;

/* daemon.c: the scheduler, workers and sender thread; returns at SIGTERM/SIGINT. */
int daemon_main(struct agent *ag);
/* --once: every check and stat once, send, exit status 0 when all was sent. */
int daemon_once(struct agent *ag);
/* Runs one check of one package now; fills out. Used by daemon and manual runs. */
enum ho_code agent_run_check(struct agent *ag, const struct manifest *pkg,
                             const struct manifest_check *c, struct cycle_guard *guard,
                             int manual, const char *operator_name, struct run *out) HO_WUR;
/* Stores a run in the spool (crash-safe). */
enum ho_code agent_spool_run(struct agent *ag, const struct run *r, struct ho_error *err) HO_WUR;
/*
 * Stores one collection of metrics (n > 0, at most COLLECTOR_MAX_METRICS) in the
 * spool as one item of kind "metrics": the body of POST /api/v1/metrics with a
 * new UUIDv7 batch id.
 */
enum ho_code agent_spool_metrics(struct agent *ag, const struct metric *m, size_t n,
                                 struct ho_error *err) HO_WUR;

#endif

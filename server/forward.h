/*
 * Forwarders (DESIGN.md section 7): one thread per configured target sends
 * every metric point, in seq order, from the durable outbox (the `points`
 * table) to OpenTSDB, InfluxDB or Graphite, in batches, with exponential
 * backoff and jitter on transient failures; a batch the target refuses for
 * good is counted as dropped and skipped. Progress (delivered_seq) is kept in
 * the store, so a restart resumes where delivery stopped. A pruner thread
 * removes points every forwarder has passed once they leave the series window.
 *
 * Config: the JSON value of the server's "forwarders" key, an array of
 *   {"name", "type": "opentsdb"|"influxdb"|"graphite", "url", "token",
 *    "token_file", "token_env", "username", "password_file", "address",
 *    "format": "tagged"|"plain", "batch_size", "max_backoff"}
 * (INTEGRATIONS.md sections 1-3 and 12 for the wire formats).
 */
#ifndef HO_FORWARD_H
#define HO_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct app;
struct forward;
struct forward_config;

#define FORWARD_MAX            16    /* forwarders in the config */
#define FORWARD_NAME_MAX       64
#define FORWARD_BATCH_DEFAULT  500
#define FORWARD_BACKOFF_DEFAULT 300  /* seconds */

enum forward_type { FORWARD_OPENTSDB = 0, FORWARD_INFLUXDB, FORWARD_GRAPHITE };
const char *forward_type_str(enum forward_type t);

enum forward_state {
    FORWARD_STATE_OK = 0,   /* the last attempt went through (or none was needed) */
    FORWARD_STATE_RETRYING, /* the last attempts failed and are being retried */
    FORWARD_STATE_FAILING   /* 5 or more attempts in a row failed, or the target refused
                               the last batch for good */
};
const char *forward_state_str(enum forward_state s);

/*
 * Parses and validates the "forwarders" JSON text (len bytes; NULL = none
 * configured) into *out (free with forward_config_free). Reads token_file,
 * password_file and token_env now. On error fills err with the JSON path
 * ("forwarders[1].url") and a message that never contains a secret.
 */
enum ho_code forward_config_parse(const char *json, size_t len, struct forward_config **out,
                                  struct ho_error *err) HO_WUR;
void forward_config_free(struct forward_config *cfg);
size_t forward_config_count(const struct forward_config *cfg);

/*
 * Starts one thread per forwarder of cfg (ownership of cfg moves in, also on
 * failure) and the pruner, which keeps points for app->cfg.series_days. Uses
 * app->store until forward_stop. httpc_global_init must have run.
 */
enum ho_code forward_start(struct app *app, struct forward_config *cfg, struct forward **out,
                           struct ho_error *err) HO_WUR;
/* Wakes the forwarders: new points were committed. Cheap; NULL is accepted. */
void forward_notify(struct forward *fw);
/*
 * The outbox seq every configured forwarder has delivered up to: INT64_MAX with
 * none (fw NULL or no forwarders), 0 for one that has not read its progress yet.
 */
int64_t forward_min_delivered(struct forward *fw);
/*
 * Stops every thread: a batch in flight finishes (bounded by the request
 * timeout), a backoff wait ends at once. Frees fw; NULL is accepted.
 */
void forward_stop(struct forward *fw);

/* What GET /api/v1/forwarders and GET /metrics show of one forwarder. */
struct forward_status {
    char name[FORWARD_NAME_MAX];
    enum forward_type type;
    char *target;               /* owned: URL or host:port, never with a secret */
    int64_t delivered_seq;      /* every point with seq <= this is delivered or dropped */
    int64_t pending;            /* outbox rows not yet delivered (a run's points are one) */
    int64_t oldest_pending_ms;  /* measurement time of the first pending point, 0 = none */
    int64_t delivered;          /* points delivered, total (kept across restarts) */
    int64_t dropped;            /* points refused for good by the target, total */
    int64_t failures;           /* failed attempts, total */
    int64_t tags_dropped;       /* tags left out over a target's limit, since start */
    char *last_error;           /* owned, NULL = none ever */
    int64_t last_attempt_at_ms; /* 0 = never */
    int64_t last_success_at_ms; /* 0 = never */
    enum forward_state state;
};

/*
 * The status of every configured forwarder, in config order, as a new array
 * *out of *n (free with forward_status_free; NULL and 0 when app->forward is
 * NULL or has none). Safe to call from any thread (e.g. the GET /metrics
 * handler); costs a few indexed store lookups per forwarder.
 */
enum ho_code forward_status(struct app *app, struct forward_status **out, size_t *n) HO_WUR;
void forward_status_free(struct forward_status *s, size_t n);

#endif

/*
 * The server's context, built in main and passed to every handler
 * (after OpenBSD httpd's httpd_env): configuration, the store and the
 * forwarders.
 */
#ifndef HO_APP_H
#define HO_APP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct authlimit;
struct alerts;
struct forward;
struct retention;
struct rollout_watch;
struct sign_pubkey;
struct store;
struct urlsign;

struct server_config {
    char *listen;              /* "HOST:PORT" */
    char *db;                  /* SQLite file */
    char *tls_cert;            /* PEM certificate (chain) file */
    char *tls_key;             /* PEM private key file */
    char *tls_client_ca;       /* PEM CA for client certificates, may be NULL */
    char *log_level;
    char *public_url;          /* how agents and people reach us, for links */
    long long max_body_bytes;  /* largest request body */
    long long max_batch_runs;  /* runs per POST /runs */
    long long threads;         /* HTTP worker threads */
    long long agent_silent_after; /* seconds without heartbeat or run (alerting.agent_silent_after) */
    long long max_connections;
    char *forwarders;          /* JSON text of the "forwarders" array (forward.h), may be NULL */
    char *receivers;           /* JSON text of the "receivers" array (receiver.h), may be NULL */
    long long alert_after_failures; /* alerting.*: failed runs in a row that alert */
    long long alert_repeat_every;   /* seconds between repeats of an open alert */
    long long alert_flap_repairs;   /* more repairs than this in the window: flapping */
    long long alert_flap_window;    /* seconds */
    int alert_stale;                /* alert on checks with no run for 2 x interval */
    long long alert_evaluate_every; /* seconds between sweeps */
    long long alert_am_resend;      /* seconds between re-sends of open alerts to Alertmanager */
    long long series_days;     /* points are kept this long for graphs (and until forwarded) */
    long long retention_days;  /* runs and states are kept this long; 0 = forever */
    long long auth_failures;   /* failed authentications per minute before a block; 0 = off */
    long long auth_block;      /* seconds an address is refused after that */
    char *url_signing_key_file; /* key of signed graph links, NULL = DB.url-key */
    long long graph_link_ttl;  /* seconds a signed graph link stays valid */
    struct config_list publisher_keys; /* .pub files; set: bundles must be signed by one */
    long long rollout_check_interval;  /* seconds between rollout safety checks */
    long long rollout_min_runs;        /* runs of a new version before it is judged */
    char *rollout_max_failure_increase; /* JSON number text: failure rate rise that halts */
};

struct app {
    struct server_config cfg;
    struct store *store;
    struct store *reader;      /* store_open_reader for the read endpoints; NULL: use store */
    struct store *alerts_reader;  /* the alert engine's own reader; NULL: use app_reads */
    struct store *forward_reader; /* the forwarders' own reader; NULL: use app_reads */
    struct forward *forward;   /* forwarder threads (forward.h), NULL when not started */
    struct retention *retention; /* the pruner (retention.h), NULL when not started */
    struct authlimit *authlimit; /* failed-authentication limits (authlimit.h), may be NULL */
    struct urlsign *urlsign;   /* signs graph links (urlsign.h), NULL when not started */
    struct alerts *alerts;     /* the alert engine (alerts.h), NULL when not started */
    struct sign_pubkey **publisher_keys; /* loaded cfg.publisher_keys (sign.h) */
    size_t npublisher_keys;
    struct rollout_watch *rollout; /* the rollout watcher (rollout_watch.h), NULL when not started */
    int64_t started_at_ms;
};

/* Where the read endpoints' queries go: the reader if any. */
static inline struct store *app_reads(const struct app *app)
{
    return app->reader != NULL ? app->reader : app->store;
}

/*
 * The alert engine's and the forwarders' reads go to connections of their own
 * (a connection serves one statement at a time). The engine reads once per
 * subject it evaluates, hundreds of short reads a second under ingest; on the
 * endpoints' connection a query waited behind them for up to 40 ms.
 */
static inline struct store *app_alerts_reads(const struct app *app)
{
    return app->alerts_reader != NULL ? app->alerts_reader : app_reads(app);
}

static inline struct store *app_forward_reads(const struct app *app)
{
    return app->forward_reader != NULL ? app->forward_reader : app_reads(app);
}

#endif

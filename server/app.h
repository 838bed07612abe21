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
struct forward;
struct retention;
struct store;

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
    long long agent_silent_after; /* seconds without heartbeat or run */
    long long max_connections;
    char *forwarders;          /* JSON text of the "forwarders" array (forward.h), may be NULL */
    long long series_days;     /* points are kept this long for graphs (and until forwarded) */
    long long retention_days;  /* runs and states are kept this long; 0 = forever */
    long long auth_failures;   /* failed authentications per minute before a block; 0 = off */
    long long auth_block;      /* seconds an address is refused after that */
};

struct app {
    struct server_config cfg;
    struct store *store;
    struct forward *forward;   /* forwarder threads (forward.h), NULL when not started */
    struct retention *retention; /* the pruner (retention.h), NULL when not started */
    struct authlimit *authlimit; /* failed-authentication limits (authlimit.h), may be NULL */
    int64_t started_at_ms;
};

#endif

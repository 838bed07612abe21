/*
 * The server's context, built in main and passed to every handler
 * (after OpenBSD httpd's httpd_env): configuration and the store.
 */
#ifndef HO_APP_H
#define HO_APP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

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
};

struct app {
    struct server_config cfg;
    struct store *store;
    int64_t started_at_ms;
};

#endif

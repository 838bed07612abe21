/*
 * HTTP client helpers over libcurl: one handle per struct httpc, reused so
 * connections stay alive between requests. Not thread-safe: one per thread.
 */
#ifndef HO_HTTPC_H
#define HO_HTTPC_H

#include <stddef.h>

#include "error.h"

#define HTTPC_ETAG_MAX 128

struct httpc;

struct httpc_opts {
    const char *ca_file;       /* PEM CA bundle to verify the server, NULL = system */
    const char *client_cert;   /* PEM client certificate for mutual TLS, may be NULL */
    const char *client_key;    /* PEM key of client_cert, may be NULL */
    long timeout_ms;           /* whole request, default 30000 */
    long connect_timeout_ms;   /* default 10000 */
    int insecure;              /* 1: do not verify the peer (tests only) */
};

struct httpc_response {
    long status;               /* HTTP status, 0 when no response */
    char *body;                /* owned, NUL-terminated, may be "" */
    size_t body_len;
    char etag[HTTPC_ETAG_MAX]; /* ETag header, "" when absent */
    long retry_after_s;        /* Retry-After in seconds (delay or date), -1 when absent */
};

/* Call once in main before any thread starts (curl_global_init). */
void httpc_global_init(void);
void httpc_global_cleanup(void);

/* Makes a client; opts is copied. */
enum ho_code httpc_new(const struct httpc_opts *opts, struct httpc **out) HO_WUR;
void httpc_free(struct httpc *c);
/*
 * Sets the scheme of the Authorization line httpc_request sends with a token:
 * "Bearer" (the default, also for NULL), "Token" (InfluxDB 2), "Basic" (the token
 * is then the base64 of user:password). scheme is copied.
 */
void httpc_set_auth_scheme(struct httpc *c, const char *scheme);

/*
 * Sets extra header lines ("Name: value", copied) that every following request
 * of c sends, replacing the previous ones (n 0 clears them; they are wiped, as
 * they may hold secrets). HO_EINVAL, changing nothing, for a line without a
 * name and colon or with a control character.
 */
enum ho_code httpc_set_headers(struct httpc *c, const char *const *lines, size_t n) HO_WUR;

/*
 * Sends one request. token (may be NULL) goes as "Authorization: Bearer" (or the
 * scheme of httpc_set_auth_scheme).
 * if_none_match (may be NULL) goes as If-None-Match. A response body over
 * max_response bytes is an error (HO_ETOOBIG). Network and TLS failures are
 * HO_EIO / HO_ETIMEOUT with err saying why; any HTTP status is HO_OK with
 * resp->status set. resp must be cleaned up by the caller after HO_OK.
 */
enum ho_code httpc_request(struct httpc *c, const char *method, const char *url,
                           const char *token, const char *content_type, const void *body,
                           size_t body_len, const char *if_none_match, size_t max_response,
                           struct httpc_response *resp, struct ho_error *err) HO_WUR;
void httpc_response_cleanup(struct httpc_response *resp);

#endif

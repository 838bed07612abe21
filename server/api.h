/*
 * The HTTP API, independent of libmicrohttpd: a handler takes a request
 * record and fills a response record. Only server/http.c knows MHD, so the
 * handlers are unit-tested by calling api_handle directly.
 */
#ifndef HO_API_H
#define HO_API_H

#include <stddef.h>

#include "error.h"

struct app;

#define API_MAX_PARAMS 32

struct api_param {
    const char *key;   /* decoded */
    const char *value; /* decoded, "" for a key without value */
};

struct api_request {
    const char *method;
    const char *path;                 /* without the query string */
    struct api_param params[API_MAX_PARAMS];
    size_t nparams;
    int too_many_params;              /* more than API_MAX_PARAMS were sent */
    const char *body;                 /* may be NULL */
    size_t body_len;
    const char *authorization;        /* the Authorization header, may be NULL */
    const char *if_none_match;        /* may be NULL */
    const char *signature;            /* the X-HealOps-Signature header, may be NULL */
    const char *remote_addr;          /* for logs */
};

struct api_response {
    int status;
    char *body;                       /* owned (malloc) unless static_body */
    size_t body_len;
    const unsigned char *static_body; /* borrowed (built-in asset) when set */
    const char *content_type;         /* static string */
    char etag[80];                    /* "" = none */
    const char *cache_control;        /* static string or NULL */
    int retry_after;                  /* > 0: seconds for a Retry-After header */
    const char *header_name;          /* one more header (static name), NULL = none */
    char header_value[128];           /* its value */
    /*
     * A body made while it is sent rather than held whole (body and static_body
     * NULL): body_len bytes in all, asked for in order; body_read writes the
     * next bytes, at most max, at dst and returns how many (> 0 until body_len
     * is reached). body_free(body_cls) runs once, sent or not; the response owns
     * body_cls until http.c takes it (api_response_cleanup frees it). No ETag.
     */
    size_t (*body_read)(void *cls, char *dst, size_t max);
    void (*body_free)(void *cls);
    void *body_cls;
};

/* Routes req to its handler and fills resp (always: errors become JSON bodies). */
void api_handle(struct app *app, const struct api_request *req, struct api_response *resp);
/* Frees what resp owns: its body or a streamed body's state (body_free). */
void api_response_cleanup(struct api_response *resp);

/* Makes resp a JSON error {"error": msg, "field": field} with the status of rc. */
void api_error(struct api_response *resp, enum ho_code rc, const char *field, const char *msg);

/*
 * Gives a 200 response an ETag (a hash of its body) and, when req's If-None-Match
 * names it, makes it a 304 without a body (RFC 9110 section 13.1.2).
 */
void api_etag(const struct api_request *req, struct api_response *resp);

#endif

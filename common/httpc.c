/*
 * HTTP client over libcurl's easy interface (HTTP/1.1, RFC 9112). One easy
 * handle per struct httpc is reused across requests so the connection (and
 * its TLS session) stays alive. Options that never change are set once in
 * httpc_new; everything that belongs to one request (method, body, headers,
 * URL, callbacks' data, size cap) is set again on every request, so nothing
 * of a previous request leaks into the next (a GET after a POST sends no
 * body). The bearer token is secret: it is never logged and every copy we
 * make of the Authorization line is wiped after the transfer.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "buf.h"
#include "crypto.h"
#include "httpc.h"
#include "log.h"
#include "mem.h"

#ifndef HO_VERSION
#define HO_VERSION "dev"
#endif

#define HTTPC_TIMEOUT_MS         30000L
#define HTTPC_CONNECT_TIMEOUT_MS 10000L
#define HTTPC_KEEPIDLE_S         60L
#define HTTPC_KEEPINTVL_S        20L

struct httpc {
    CURL *curl;
    char *ca_file; /* owned copies of opts, NULL when unset */
    char *client_cert;
    char *client_key;
    long timeout_ms;
    long connect_timeout_ms;
    int insecure;
    char *auth_scheme; /* NULL = "Bearer" */
    char **extra;      /* httpc_set_headers lines, owned (may hold secrets: wiped) */
    size_t nextra;
    char errbuf[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER: curl's detail of a failure */
};

/* State of one transfer, filled by the callbacks. */
struct httpc_xfer {
    struct buf body;
    int too_big;
    char etag[HTTPC_ETAG_MAX];
    long retry_after_s; /* -1 = absent */
};

void httpc_global_init(void)
{
    CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);

    if (cc != CURLE_OK)
        fatalx("httpc: curl_global_init: %s", curl_easy_strerror(cc));
}

void httpc_global_cleanup(void)
{
    curl_global_cleanup();
}

/* Sets the options that hold for every request of c; 0 on success. */
static int httpc_setup(struct httpc *c)
{
    CURL *h = c->curl;
    CURLcode cc = CURLE_OK;

#define HTTPC_SET(opt, val)                                                                        \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    HTTPC_SET(CURLOPT_NOSIGNAL, 1L);
    HTTPC_SET(CURLOPT_ERRORBUFFER, c->errbuf);
    HTTPC_SET(CURLOPT_PROTOCOLS_STR, "http,https");
    HTTPC_SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    HTTPC_SET(CURLOPT_TCP_KEEPALIVE, 1L);
    HTTPC_SET(CURLOPT_TCP_KEEPIDLE, HTTPC_KEEPIDLE_S);
    HTTPC_SET(CURLOPT_TCP_KEEPINTVL, HTTPC_KEEPINTVL_S);
    HTTPC_SET(CURLOPT_TIMEOUT_MS, c->timeout_ms);
    HTTPC_SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    HTTPC_SET(CURLOPT_FOLLOWLOCATION, 0L);
    HTTPC_SET(CURLOPT_USERAGENT, "healops/" HO_VERSION);
    if (c->ca_file != NULL)
        HTTPC_SET(CURLOPT_CAINFO, c->ca_file);
    if (c->client_cert != NULL) {
        HTTPC_SET(CURLOPT_SSLCERT, c->client_cert);
        HTTPC_SET(CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (c->client_key != NULL) {
        HTTPC_SET(CURLOPT_SSLKEY, c->client_key);
        HTTPC_SET(CURLOPT_SSLKEYTYPE, "PEM");
    }
    HTTPC_SET(CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
    HTTPC_SET(CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
#undef HTTPC_SET
    if (cc != CURLE_OK) {
        log_warnx("httpc: cannot set up the client: %s", curl_easy_strerror(cc));
        return -1;
    }
    return 0;
}

enum ho_code httpc_new(const struct httpc_opts *opts, struct httpc **out)
{
    struct httpc *c = xcalloc(1, sizeof(*c));

    *out = NULL;
    c->ca_file = xstrdup(opts->ca_file);
    c->client_cert = xstrdup(opts->client_cert);
    c->client_key = xstrdup(opts->client_key);
    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : HTTPC_TIMEOUT_MS;
    c->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : HTTPC_CONNECT_TIMEOUT_MS;
    c->insecure = opts->insecure;
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        log_warnx("httpc: curl_easy_init failed");
        httpc_free(c);
        return HO_EIO;
    }
    if (httpc_setup(c) != 0) {
        httpc_free(c);
        return HO_EIO;
    }
    *out = c;
    return HO_OK;
}

/* Wipes and frees the httpc_set_headers lines. */
static void httpc_extra_clear(struct httpc *c)
{
    size_t i;

    for (i = 0; i < c->nextra; i++) {
        crypto_wipe(c->extra[i], strlen(c->extra[i]));
        free(c->extra[i]);
    }
    free(c->extra);
    c->extra = NULL;
    c->nextra = 0;
}

void httpc_free(struct httpc *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    free(c->ca_file);
    free(c->client_cert);
    free(c->client_key);
    free(c->auth_scheme);
    httpc_extra_clear(c);
    free(c);
}

void httpc_set_auth_scheme(struct httpc *c, const char *scheme)
{
    free(c->auth_scheme);
    c->auth_scheme = scheme != NULL && strcmp(scheme, "Bearer") != 0 ? xstrdup(scheme) : NULL;
}

static int httpc_header_safe(const char *s);

enum ho_code httpc_set_headers(struct httpc *c, const char *const *lines, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strchr(lines[i], ':') == NULL || lines[i][0] == ':' || !httpc_header_safe(lines[i]))
            return HO_EINVAL;
    }
    httpc_extra_clear(c);
    if (n == 0)
        return HO_OK;
    c->extra = xcalloc(n, sizeof(*c->extra));
    for (i = 0; i < n; i++)
        c->extra[i] = xstrdup(lines[i]);
    c->nextra = n;
    return HO_OK;
}

void httpc_response_cleanup(struct httpc_response *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

static size_t httpc_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct httpc_xfer *x = arg;
    size_t n = size * nmemb;

    if (buf_append(&x->body, data, n) != HO_OK) {
        x->too_big = 1;
        return 0; /* anything but n aborts the transfer */
    }
    return n;
}

/*
 * Retry-After (RFC 9110 section 10.2.3): delay-seconds or an HTTP-date, as
 * seconds from now (0 for a date in the past); -1 when it reads as neither.
 */
static long httpc_retry_after(const char *v, size_t len)
{
    char text[64];
    uint64_t secs = 0;
    time_t when, now;
    size_t i;

    if (len == 0 || len >= sizeof(text))
        return -1;
    memcpy(text, v, len);
    text[len] = '\0';
    for (i = 0; i < len && isdigit((unsigned char)text[i]); i++)
        secs = secs < 100000000 ? secs * 10 + (uint64_t)(text[i] - '0') : secs;
    if (i == len)
        return (long)secs;
    when = curl_getdate(text, NULL);
    if (when == (time_t)-1)
        return -1;
    now = time(NULL);
    return when > now ? (long)(when - now) : 0;
}

/*
 * Keeps the ETag and Retry-After of the final response: a status line (a 100
 * Continue before the real answer) starts a new header block and forgets what
 * came before.
 */
static size_t httpc_on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct httpc_xfer *x = arg;
    size_t n = size * nmemb, len;
    const char *v;

    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        x->etag[0] = '\0';
        x->retry_after_s = -1;
        return n;
    }
    if (n >= 12 && strncasecmp(data, "retry-after:", 12) == 0) {
        v = data + 12;
        len = n - 12;
        while (len > 0 && isspace((unsigned char)*v)) {
            v++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)v[len - 1]))
            len--;
        x->retry_after_s = httpc_retry_after(v, len);
        return n;
    }
    if (n < 5 || strncasecmp(data, "etag:", 5) != 0)
        return n;
    v = data + 5;
    len = n - 5;
    while (len > 0 && isspace((unsigned char)*v)) {
        v++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)v[len - 1]))
        len--;
    if (len < sizeof(x->etag)) {
        memcpy(x->etag, v, len);
        x->etag[len] = '\0';
    } else {
        x->etag[0] = '\0'; /* a cut ETag would never match: better none */
    }
    return n;
}

/* 1 when s can go in a header value: no CR, LF or other control byte. */
static int httpc_header_safe(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 && *s != '\t')
            return 0;
        if (*s == 0x7f)
            return 0;
    }
    return 1;
}

/*
 * Sets method and body. A GET first clears the body of a previous request
 * (POSTFIELDS NULL) and then resets the method (HTTPGET, which also clears
 * NOBODY and UPLOAD); CUSTOMREQUEST is cleared or set every time.
 */
static enum ho_code httpc_method(struct httpc *c, const char *method, const void *body,
                                 size_t body_len, struct ho_error *err)
{
    CURL *h = c->curl;

    if (strcmp(method, "GET") == 0) {
        if (body != NULL && body_len > 0)
            return ho_error_set(err, HO_EINVAL, NULL, "httpc: a GET has no body");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
        return HO_OK;
    }
    if (strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0 && strcmp(method, "DELETE") != 0)
        return ho_error_set(err, HO_EINVAL, NULL, "httpc: unsupported method %.16s", method);
    /* POSTFIELDS makes it a POST; PUT and DELETE only rename the method */
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body != NULL ? body_len : 0));
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL : method);
    return HO_OK;
}

/* Appends a copy of line to *l; curl failing to allocate is out of memory. */
static void httpc_header_add(struct curl_slist **l, const char *line)
{
    struct curl_slist *nl = curl_slist_append(*l, line);

    if (nl == NULL) {
        log_error("httpc: out of memory building headers");
        abort();
    }
    *l = nl;
}

/*
 * Builds the request headers into *hdrs. The Authorization line is built in
 * auth (the caller wipes it) and copied by curl into the list (which
 * httpc_headers_free wipes).
 */
static enum ho_code httpc_headers(const char *method, const char *scheme, const char *token,
                                  const char *content_type, const char *if_none_match,
                                  struct buf *auth, struct curl_slist **hdrs,
                                  struct ho_error *err)
{
    struct curl_slist *l = NULL;
    char *line;

    if ((token != NULL && !httpc_header_safe(token)) ||
        (content_type != NULL && !httpc_header_safe(content_type)) ||
        (if_none_match != NULL && !httpc_header_safe(if_none_match)))
        return ho_error_set(err, HO_EINVAL, NULL, "httpc: control character in a header");
    if (token != NULL && token[0] != '\0' &&
        (buf_printf(auth, "Authorization: %s ", scheme) != HO_OK ||
         buf_appends(auth, token) != HO_OK))
        return ho_error_set(err, HO_EINVAL, NULL, "httpc: token too long");
    /* no "Expect: 100-continue" round trip before large bodies */
    httpc_header_add(&l, "Expect:");
    httpc_header_add(&l, "Accept: application/json");
    if (auth->len > 0)
        httpc_header_add(&l, auth->data);
    if (content_type != NULL && content_type[0] != '\0') {
        line = xasprintf("Content-Type: %s", content_type);
        httpc_header_add(&l, line);
        free(line);
    } else if (strcmp(method, "GET") != 0) {
        httpc_header_add(&l, "Content-Type:"); /* not curl's default form type */
    }
    if (if_none_match != NULL && if_none_match[0] != '\0') {
        line = xasprintf("If-None-Match: %s", if_none_match);
        httpc_header_add(&l, line);
        free(line);
    }
    *hdrs = l;
    return HO_OK;
}

/* Wipes every header line (one holds the token) and frees the list. */
static void httpc_headers_free(struct curl_slist *hdrs)
{
    struct curl_slist *l;

    for (l = hdrs; l != NULL; l = l->next)
        crypto_wipe(l->data, strlen(l->data));
    curl_slist_free_all(hdrs);
}

/* Turns a failed transfer into a code and a message for a person. */
static enum ho_code httpc_fail(struct httpc *c, const struct httpc_xfer *x, CURLcode cc,
                               const char *method, const char *url, size_t max_response,
                               struct ho_error *err)
{
    char safe_url[200];

    log_safe(safe_url, sizeof(safe_url), url);
    if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED)
        return ho_error_set(err, HO_ETOOBIG, NULL, "%s %s: response larger than %zu bytes", method,
                            safe_url, max_response);
    return ho_error_set(err, cc == CURLE_OPERATION_TIMEDOUT ? HO_ETIMEOUT : HO_EIO, NULL,
                        "%s %s: %s%s%s", method, safe_url, curl_easy_strerror(cc),
                        c->errbuf[0] != '\0' ? ": " : "", c->errbuf);
}

enum ho_code httpc_request(struct httpc *c, const char *method, const char *url, const char *token,
                           const char *content_type, const void *body, size_t body_len,
                           const char *if_none_match, size_t max_response,
                           struct httpc_response *resp, struct ho_error *err)
{
    struct httpc_xfer x;
    struct curl_slist *hdrs = NULL;
    struct buf auth;
    CURLcode cc;
    long status = 0;
    size_t i;
    enum ho_code rc;

    memset(resp, 0, sizeof(*resp));
    resp->retry_after_s = -1;
    memset(&x, 0, sizeof(x));
    x.retry_after_s = -1;
    buf_init(&x.body, max_response);
    buf_init(&auth, 8192);
    c->errbuf[0] = '\0';
    rc = httpc_method(c, method, body, body_len, err);
    if (rc != HO_OK)
        goto out;
    rc = httpc_headers(method, c->auth_scheme != NULL ? c->auth_scheme : "Bearer", token,
                       content_type, if_none_match, &auth, &hdrs, err);
    if (rc != HO_OK)
        goto out;
    for (i = 0; i < c->nextra; i++)
        httpc_header_add(&hdrs, c->extra[i]);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, httpc_on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, httpc_on_header);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &x);
    /* refuses at once a response that announces a larger Content-Length */
    curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t)(max_response < (size_t)INT64_MAX ? max_response : 0));
    cc = curl_easy_perform(c->curl);
    /* nothing of this request may outlive it in the handle: the list and x die here */
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, NULL);
    if (cc != CURLE_OK) {
        rc = httpc_fail(c, &x, cc, method, url, max_response, err);
        goto out;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    resp->body_len = x.body.len;
    resp->body = buf_take(&x.body);
    memcpy(resp->etag, x.etag, sizeof(resp->etag));
    resp->retry_after_s = x.retry_after_s;
out:
    httpc_headers_free(hdrs);
    if (auth.data != NULL)
        crypto_wipe(auth.data, auth.size);
    buf_cleanup(&auth);
    buf_cleanup(&x.body);
    return rc;
}

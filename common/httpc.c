/*
 * HTTP client over libcurl (easy interface). One handle per struct httpc is
 * reused across requests so the connection (and its TLS session) stays alive.
 * Every per-request option is set again on each request so nothing of a
 * previous request (a body, a method, a header) leaks into the next.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "buf.h"
#include "crypto.h"
#include "httpc.h"
#include "mem.h"

struct httpc {
    CURL *curl;
    struct httpc_opts opts;
    char *ca_file;
    char *client_cert;
    char *client_key;
    char errbuf[CURL_ERROR_SIZE];
};

struct httpc_xfer {
    struct buf body;
    int too_big;
    char etag[HTTPC_ETAG_MAX];
};

void httpc_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void httpc_global_cleanup(void)
{
    curl_global_cleanup();
}

enum ho_code httpc_new(const struct httpc_opts *opts, struct httpc **out)
{
    struct httpc *c = xcalloc(1, sizeof(*c));

    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        free(c);
        return HO_EIO;
    }
    c->opts = *opts;
    c->ca_file = xstrdup(opts->ca_file);
    c->client_cert = xstrdup(opts->client_cert);
    c->client_key = xstrdup(opts->client_key);
    if (c->opts.timeout_ms <= 0)
        c->opts.timeout_ms = 30000;
    if (c->opts.connect_timeout_ms <= 0)
        c->opts.connect_timeout_ms = 10000;
    *out = c;
    return HO_OK;
}

void httpc_free(struct httpc *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    free(c->ca_file);
    free(c->client_cert);
    free(c->client_key);
    free(c);
}

void httpc_response_cleanup(struct httpc_response *resp)
{
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
        return 0; /* aborts the transfer */
    }
    return n;
}

static size_t httpc_on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct httpc_xfer *x = arg;
    size_t n = size * nmemb, len;
    const char *v;

    if (n > 5 && strncasecmp(data, "etag:", 5) == 0) {
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
        }
    }
    return n;
}

static void httpc_setup(struct httpc *c, struct httpc_xfer *x)
{
    CURL *h = c->curl;

    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->opts.timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "healops/" HO_VERSION);
    if (c->ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (c->client_cert != NULL)
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->client_cert);
    if (c->client_key != NULL)
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->client_key);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->opts.insecure ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->opts.insecure ? 0L : 2L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, httpc_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, httpc_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
}

static void httpc_method(CURL *h, const char *method, const void *body, size_t body_len)
{
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        return;
    }
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body != NULL ? body_len : 0));
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL : method);
}

/* Builds the request headers; the Authorization line is wiped after use. */
static struct curl_slist *httpc_headers(const char *token, const char *content_type,
                                        const char *if_none_match, char *auth, size_t auth_n)
{
    struct curl_slist *hdrs = NULL;
    char line[256];

    hdrs = curl_slist_append(hdrs, "Expect:");
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (token != NULL && token[0] != '\0') {
        snprintf(auth, auth_n, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (content_type != NULL) {
        snprintf(line, sizeof(line), "Content-Type: %s", content_type);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (if_none_match != NULL && if_none_match[0] != '\0') {
        snprintf(line, sizeof(line), "If-None-Match: %s", if_none_match);
        hdrs = curl_slist_append(hdrs, line);
    }
    return hdrs;
}

enum ho_code httpc_request(struct httpc *c, const char *method, const char *url,
                           const char *token, const char *content_type, const void *body,
                           size_t body_len, const char *if_none_match, size_t max_response,
                           struct httpc_response *resp, struct ho_error *err)
{
    struct httpc_xfer x;
    struct curl_slist *hdrs = NULL;
    char auth[512];
    CURLcode cc;
    enum ho_code rc = HO_OK;

    memset(resp, 0, sizeof(*resp));
    memset(&x, 0, sizeof(x));
    buf_init(&x.body, max_response);
    c->errbuf[0] = '\0';
    httpc_setup(c, &x);
    httpc_method(c->curl, method, body, body_len);
    hdrs = httpc_headers(token, content_type, if_none_match, auth, sizeof(auth));
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    cc = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    crypto_wipe(auth, sizeof(auth));
    if (x.too_big) {
        rc = ho_error_set(err, HO_ETOOBIG, "response", "response larger than %zu bytes",
                          max_response);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = ho_error_set(err, HO_ETIMEOUT, "server", "%s: %s", curl_easy_strerror(cc),
                          c->errbuf);
    } else if (cc != CURLE_OK) {
        rc = ho_error_set(err, HO_EIO, "server", "%s: %s", curl_easy_strerror(cc), c->errbuf);
    }
    if (rc != HO_OK) {
        buf_cleanup(&x.body);
        return rc;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body_len = x.body.len;
    resp->body = buf_take(&x.body);
    memcpy(resp->etag, x.etag, sizeof(resp->etag));
    return HO_OK;
}

/*
 * libmicrohttpd glue (after MHD doc/examples/largepost.c): per-request state
 * is made on the first call of the access handler and freed in the completed
 * callback. Bodies are collected into a capped buffer: a Content-Length over
 * the cap, or a body that grows past it, is answered 413 at once. A response
 * body is a buffer, or, for one too large to hold (GET /metrics), made while
 * it is sent through MHD's content reader, its length known beforehand. TLS
 * with the certificate and key read from files. Only this file knows MHD.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "api.h"
#include "app.h"
#include "buf.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "parse.h"
#include "stats.h"

#define HTTP_MAX_PEM (1024 * 1024)
#define HTTP_DRAIN_FACTOR 4 /* read at most this many times the cap before closing */
/*
 * Request line and headers, at most: past it a JSON 431 naming "headers". MHD's own
 * limit (its connection memory, HTTP_CONN_MEMORY) is larger and answers its own 431
 * page only to requests whose headers do not fit in it at all.
 */
#define HTTP_MAX_HEADER_BYTES (16 * 1024)
#define HTTP_CONN_MEMORY      (64 * 1024)
#define HTTP_STREAM_BLOCK     (64 * 1024) /* bytes of a streamed body asked for at a time */
#define HTTP_CSP                                                                                   \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "             \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "                \
    "frame-ancestors 'none'"

struct http_server {
    struct MHD_Daemon *daemon;
    struct app *app;
    char *cert;
    char *key;
    char *client_ca; /* PEM CA of client certificates; NULL: none asked for */
};

struct http_req {
    struct buf body;
    uint64_t received; /* body bytes seen, kept or not */
    int too_big;
    int answered;
};

static char *http_read_file(const char *path, struct ho_error *err, const char *field)
{
    FILE *fp = fopen(path, "re");
    struct stat sb;
    char *data;
    size_t n;

    if (fp == NULL) {
        ho_error_set(err, HO_ENOENT, field, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > HTTP_MAX_PEM) {
        fclose(fp);
        ho_error_set(err, HO_EINVAL, field, "%s: not a regular file under 1 MiB", path);
        return NULL;
    }
    data = xmalloc((size_t)sb.st_size + 1);
    n = fread(data, 1, (size_t)sb.st_size, fp);
    data[n] = '\0';
    fclose(fp);
    return data;
}

static enum MHD_Result http_collect_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                          const char *value)
{
    struct api_request *req = cls;

    (void)kind;
    if (req->nparams >= API_MAX_PARAMS) {
        req->too_many_params = 1;
        return MHD_NO;
    }
    req->params[req->nparams].key = key;
    req->params[req->nparams].value = value != NULL ? value : "";
    req->nparams++;
    return MHD_YES;
}

/* A body made while it is sent (api_response body_read), and how far it got. */
struct http_stream {
    size_t (*read)(void *cls, char *dst, size_t max);
    void (*free)(void *cls);
    void *cls;
    uint64_t pos; /* bytes handed to MHD */
    uint64_t len; /* bytes in all, the Content-Length */
};

/*
 * MHD's content reader: MHD asks for the body in order and never past its
 * length (given at creation); anything else, or a reader that falls short,
 * ends the connection, as the status line has gone out already.
 */
static ssize_t http_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_stream *st = cls;
    size_t n;

    if (pos != st->pos || st->pos >= st->len) {
        log_warnx("http: streamed body asked at %llu, at %llu of %llu", (unsigned long long)pos,
                  (unsigned long long)st->pos, (unsigned long long)st->len);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (max == 0)
        return 0;
    if (max > st->len - st->pos)
        max = (size_t)(st->len - st->pos);
    n = st->read(st->cls, buf, max);
    if (n == 0 || n > max) {
        log_warnx("http: streamed body ended at %llu of %llu bytes", (unsigned long long)st->pos,
                  (unsigned long long)st->len);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    st->pos += n;
    return (ssize_t)n;
}

static void http_stream_free(void *cls)
{
    struct http_stream *st = cls;

    if (st == NULL)
        return;
    if (st->free != NULL)
        st->free(st->cls);
    free(st);
}

/* An MHD response reading resp's streamed body, which it now owns; NULL when MHD fails. */
static struct MHD_Response *http_stream_response(struct api_response *resp)
{
    struct http_stream *st = xcalloc(1, sizeof(*st));
    struct MHD_Response *r;

    st->read = resp->body_read;
    st->free = resp->body_free;
    st->cls = resp->body_cls;
    st->len = resp->body_len;
    resp->body_read = NULL;
    resp->body_free = NULL;
    resp->body_cls = NULL;
    r = MHD_create_response_from_callback(st->len, HTTP_STREAM_BLOCK, http_stream_read, st,
                                          http_stream_free);
    if (r == NULL)
        http_stream_free(st); /* MHD calls the free callback only for a response it made */
    return r;
}

static enum MHD_Result http_send(struct MHD_Connection *conn, struct api_response *resp)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (resp->body_read != NULL)
        r = http_stream_response(resp);
    else if (resp->static_body != NULL)
        r = MHD_create_response_from_buffer(resp->body_len, (void *)(uintptr_t)resp->static_body,
                                            MHD_RESPMEM_PERSISTENT);
    else
        r = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        api_response_cleanup(resp);
        return MHD_NO;
    }
    resp->body = NULL; /* MHD frees it now */
    if (resp->content_type != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    if (resp->etag[0] != '\0')
        MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, resp->etag);
    if (resp->header_name != NULL)
        MHD_add_response_header(r, resp->header_name, resp->header_value);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
                            resp->cache_control != NULL ? resp->cache_control : "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (resp->retry_after > 0) {
        char ra[16];

        snprintf(ra, sizeof(ra), "%d", resp->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    /* the dashboard runs only its own files; harmless on the JSON answers */
    MHD_add_response_header(r, "Content-Security-Policy", HTTP_CSP);
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    ret = MHD_queue_response(conn, (unsigned int)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result http_send_error(struct MHD_Connection *conn, enum ho_code rc,
                                       const char *msg)
{
    struct api_response resp;

    memset(&resp, 0, sizeof(resp));
    api_error(&resp, rc, NULL, msg);
    return http_send(conn, &resp);
}

static enum MHD_Result http_count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    size_t *total = cls;

    (void)kind;
    *total += strlen(key) + (value != NULL ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

/* A JSON 431 when the request line and headers are over HTTP_MAX_HEADER_BYTES; else MHD_NO. */
static int http_headers_too_large(struct MHD_Connection *conn, const char *url,
                                  enum MHD_Result *ret)
{
    struct api_response resp;
    size_t total = strlen(url) + 16;
    char msg[128];

    MHD_get_connection_values(conn, MHD_HEADER_KIND, http_count_header, &total);
    if (total <= HTTP_MAX_HEADER_BYTES)
        return 0;
    snprintf(msg, sizeof(msg), "request line and headers too large (%zu bytes, at most %d)", total,
             HTTP_MAX_HEADER_BYTES);
    memset(&resp, 0, sizeof(resp));
    api_error(&resp, HO_ETOOBIG, "headers", msg);
    resp.status = MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE;
    *ret = http_send(conn, &resp);
    return 1;
}

static void http_remote(struct MHD_Connection *conn, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci;
    const struct sockaddr *sa;

    snprintf(out, n, "-");
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)n);
}

static enum MHD_Result http_dispatch(struct http_server *srv, struct MHD_Connection *conn,
                                     const char *url, const char *method, struct http_req *hr)
{
    struct api_request req;
    struct api_response resp;
    char remote[INET6_ADDRSTRLEN + 1];
    int64_t t0, us;

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = url;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, http_collect_param, &req);
    req.body = hr->body.data;
    req.body_len = hr->body.len;
    req.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION);
    req.if_none_match = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_IF_NONE_MATCH);
    req.signature = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-HealOps-Signature");
    http_remote(conn, remote, sizeof(remote));
    req.remote_addr = remote;
    t0 = clock_mono_ms();
    us = stats_clock_us();
    api_handle(srv->app, &req, &resp);
    stats_http_request(stats_route_match(url), method, resp.status, stats_clock_us() - us);
    log_debug("http: %s %s %s -> %d (%lld ms)", remote, method, url, resp.status,
              (long long)(clock_mono_ms() - t0));
    return http_send(conn, &resp);
}

/*
 * Mutual TLS: MHD asks for a client certificate when it has a trust list
 * (MHD_OPTION_HTTPS_MEM_TRUST) but does not insist, so each request checks
 * that one was presented and verifies against that CA (the GnuTLS session
 * MHD runs on; see the MHD tutorial's TLS authentication chapter).
 * 0 when it does.
 */
static int http_client_cert_ok(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci;
    gnutls_session_t s;
    unsigned int status = 0, n = 0;

    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return -1;
    s = (gnutls_session_t)ci->tls_session;
    if (gnutls_certificate_type_get(s) != GNUTLS_CRT_X509 ||
        gnutls_certificate_get_peers(s, &n) == NULL || n == 0)
        return -1;
    if (gnutls_certificate_verify_peers2(s, &status) != GNUTLS_E_SUCCESS || status != 0)
        return -1;
    return 0;
}

/* A request answered before its body: what follows of it is read and dropped. */
static void http_req_answered(void **con_cls)
{
    struct http_req *hr = xcalloc(1, sizeof(*hr));

    hr->answered = 1;
    *con_cls = hr;
}

static enum MHD_Result http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    struct http_server *srv = cls;
    struct http_req *hr = *con_cls;
    const char *cl;
    uint64_t len;
    enum MHD_Result ret;

    (void)version;
    if (hr == NULL && http_headers_too_large(conn, url, &ret)) {
        http_req_answered(con_cls);
        return ret;
    }
    if (hr == NULL && srv->client_ca != NULL && strcmp(url, "/healthz") != 0 &&
        http_client_cert_ok(conn) != 0) {
        http_req_answered(con_cls);
        return http_send_error(conn, HO_EPERM,
                               "a client certificate signed by the configured CA is required");
    }
    if (hr == NULL) {
        hr = xcalloc(1, sizeof(*hr));
        buf_init(&hr->body, (size_t)srv->app->cfg.max_body_bytes);
        *con_cls = hr;
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && parse_u64(cl, 0, UINT64_MAX, &len) == HO_OK &&
            len > (uint64_t)srv->app->cfg.max_body_bytes) {
            hr->answered = 1;
            return http_send_error(conn, HO_ETOOBIG, "request body too large");
        }
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        /*
         * MHD cannot answer in the middle of an upload: past the cap the rest is
         * read and dropped so the client still gets its 413, up to a bound past
         * which the connection is simply closed.
         */
        hr->received += *upload_data_size;
        if (!hr->too_big && buf_append(&hr->body, upload_data, *upload_data_size) != HO_OK) {
            hr->too_big = 1;
            buf_cleanup(&hr->body);
        }
        *upload_data_size = 0;
        if (hr->too_big && hr->received > HTTP_DRAIN_FACTOR * (uint64_t)srv->app->cfg.max_body_bytes)
            return MHD_NO;
        return MHD_YES;
    }
    if (hr->answered)
        return MHD_YES;
    hr->answered = 1;
    if (hr->too_big)
        return http_send_error(conn, HO_ETOOBIG, "request body too large");
    return http_dispatch(srv, conn, url, method, hr);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_req *hr = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (hr == NULL)
        return;
    buf_cleanup(&hr->body);
    free(hr);
    *con_cls = NULL;
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_debug("mhd: %s", msg);
}

static enum ho_code http_addr(const char *listen, struct sockaddr_storage *ss,
                              struct ho_error *err)
{
    char host[256];
    int port;
    struct addrinfo hints, *res = NULL;

    if (parse_host_port(listen, host, sizeof(host), &port) != HO_OK)
        return ho_error_set(err, HO_EINVAL, "listen", "must be HOST:PORT, got \"%s\"", listen);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
        return ho_error_set(err, HO_EINVAL, "listen", "cannot resolve host \"%s\"", host);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)(void *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)(void *)ss)->sin6_port = htons((uint16_t)port);
    return HO_OK;
}

enum ho_code http_start(struct app *app, struct http_server **out, struct ho_error *err)
{
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    struct MHD_OptionItem trust[] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    struct sockaddr_storage ss;
    unsigned int flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                         MHD_USE_ERROR_LOG;
    enum ho_code rc;

    memset(&ss, 0, sizeof(ss));
    rc = http_addr(app->cfg.listen, &ss, err);
    if (rc != HO_OK)
        goto fail;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->app = app;
    srv->cert = http_read_file(app->cfg.tls_cert, err, "tls.cert");
    srv->key = srv->cert != NULL ? http_read_file(app->cfg.tls_key, err, "tls.key") : NULL;
    if (srv->cert == NULL || srv->key == NULL) {
        rc = HO_EINVAL;
        goto fail;
    }
    if (app->cfg.tls_client_ca != NULL) {
        srv->client_ca = http_read_file(app->cfg.tls_client_ca, err, "tls.client_ca");
        if (srv->client_ca == NULL) {
            rc = HO_EINVAL;
            goto fail;
        }
        trust[0].option = MHD_OPTION_HTTPS_MEM_TRUST;
        trust[0].ptr_value = srv->client_ca;
    }
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, http_handler, srv, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_HTTPS_MEM_CERT, srv->cert, MHD_OPTION_HTTPS_MEM_KEY, srv->key,
        MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1",
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)app->cfg.threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)app->cfg.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
        MHD_OPTION_ARRAY, trust, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        rc = ho_error_set(err, HO_EIO, "listen",
                          "cannot start HTTPS on %s (port in use, or bad certificate/key)",
                          app->cfg.listen);
        goto fail;
    }
    *out = srv;
    return HO_OK;
fail:
    http_stop(srv, 0);
    return rc;
}

int http_port(struct http_server *srv)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);

    return di != NULL ? (int)di->port : 0;
}

void http_stop(struct http_server *srv, int grace_ms)
{
    const union MHD_DaemonInfo *di;
    int waited = 0;

    if (srv == NULL)
        return;
    if (srv->daemon != NULL) {
        MHD_quiesce_daemon(srv->daemon);
        while (waited < grace_ms) {
            di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
            if (di == NULL || di->num_connections == 0)
                break;
            usleep(50 * 1000);
            waited += 50;
        }
        MHD_stop_daemon(srv->daemon);
    }
    if (srv->key != NULL)
        explicit_bzero(srv->key, strlen(srv->key));
    free(srv->key);
    free(srv->cert);
    free(srv->client_ca);
    free(srv);
}

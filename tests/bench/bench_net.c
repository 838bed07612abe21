/*
 * TLS and HTTP/1.1 client helpers of the benchmark tools (see bench_net.h).
 * Responses are parsed by hand, just enough for what the HealOps server and
 * ref_mhd send: a status line, headers, and a Content-Length body.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "bench.h"
#include "bench_net.h"

int bench_parse_url(const char *url, struct sockaddr_in *sa, char *host, size_t hostlen)
{
    char ip[64];
    const char *p = url, *colon, *end;
    long port;
    char *pend = NULL;
    size_t n;

    if (strncmp(p, "https://", 8) == 0)
        p += 8;
    colon = strrchr(p, ':');
    if (colon == NULL || (size_t)(colon - p) >= sizeof(ip))
        return -1;
    n = (size_t)(colon - p);
    memcpy(ip, p, n);
    ip[n] = '\0';
    end = colon + 1;
    port = strtol(end, &pend, 10);
    if (pend == end || (*pend != '\0' && *pend != '/') || port < 1 || port > 65535)
        return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
        return -1;
    snprintf(host, hostlen, "%s:%ld", ip, port);
    return 0;
}

SSL_CTX *bench_tls_ctx(const char *ca_file)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        bench_fatal("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
        bench_fatal("cannot load CA file %s", ca_file);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* each simulated agent is its own host: no session resumption across agents */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

SSL *bench_tls_new(SSL_CTX *ctx, int fd, const struct sockaddr_in *sa)
{
    SSL *ssl = SSL_new(ctx);
    char ip[INET_ADDRSTRLEN];

    if (ssl == NULL)
        return NULL;
    inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip) != 1 || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

int bench_connect_nb(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;

    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

size_t bench_http_head(char *out, size_t cap, const char *method, const char *path,
                       const char *host, const char *token, size_t body_len)
{
    return bench_http_head_hdr(out, cap, method, path, host, token, NULL, body_len);
}

size_t bench_http_head_hdr(char *out, size_t cap, const char *method, const char *path,
                           const char *host, const char *token, const char *extra,
                           size_t body_len)
{
    int n;

    n = snprintf(out, cap,
                 "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: healops-bench\r\n%s%s%s"
                 "Accept: application/json\r\n",
                 method, path, host, token != NULL ? "Authorization: Bearer " : "",
                 token != NULL ? token : "", token != NULL ? "\r\n" : "");
    if (n < 0 || (size_t)n >= cap)
        return 0;
    if (extra != NULL) {
        n += snprintf(out + n, cap - (size_t)n, "%s\r\n", extra);
        if ((size_t)n >= cap)
            return 0;
    }
    if (body_len > 0 || strcmp(method, "GET") != 0)
        n += snprintf(out + n, cap - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
    if ((size_t)n + 3 > cap)
        return 0;
    memcpy(out + n, "\r\n", 3);
    return (size_t)n + 2;
}

const char *bench_http_header(const char *head, size_t len, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = memchr(head, '\n', len), *end = head + len, *eol;

    while (p != NULL && p + 1 < end) {
        p++;
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            return NULL;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
            *vlen = (size_t)(eol - p);
            while (*vlen > 0 && (p[*vlen - 1] == '\r' || p[*vlen - 1] == ' '))
                (*vlen)--;
            return p;
        }
        p = eol;
    }
    return NULL;
}

int bench_http_parse(const char *buf, size_t len, struct bench_http_resp *out)
{
    const char *end = NULL, *v;
    size_t vlen = 0, i;
    char num[24];

    if (len >= 4)
        end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL)
        return len > 65536 ? -1 : 0;
    memset(out, 0, sizeof(*out));
    out->head_len = (size_t)(end - buf) + 4;
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
        return -1;
    out->status = atoi(buf + 9);
    v = bench_http_header(buf, out->head_len, "Connection", &vlen);
    out->close = v != NULL && vlen == 5 && strncasecmp(v, "close", 5) == 0;
    /* 1xx, 204 and 304 never have a body, Content-Length or not (RFC 9110 6.4.1) */
    if ((out->status >= 100 && out->status < 200) || out->status == 204 || out->status == 304)
        return 1;
    v = bench_http_header(buf, out->head_len, "Transfer-Encoding", &vlen);
    if (v != NULL)
        return -1;
    v = bench_http_header(buf, out->head_len, "Content-Length", &vlen);
    if (v == NULL || vlen == 0 || vlen >= sizeof(num))
        return -1;
    for (i = 0; i < vlen; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
    }
    memcpy(num, v, vlen);
    num[vlen] = '\0';
    out->body_len = (size_t)strtoull(num, NULL, 10);
    return len >= out->head_len + out->body_len ? 1 : 0;
}

long long bench_json_int(const char *body, size_t len, const char *key)
{
    char pat[64];
    const char *p;
    int n = snprintf(pat, sizeof(pat), "\"%s\":", key);

    if (n < 0 || (size_t)n >= sizeof(pat))
        return -1;
    p = memmem(body, len, pat, (size_t)n);
    if (p == NULL)
        return -1;
    p += n;
    while (p < body + len && *p == ' ')
        p++;
    if (p >= body + len || *p < '0' || *p > '9')
        return -1;
    return strtoll(p, NULL, 10);
}

/*
 * The client side of the benchmark tools: TLS contexts that verify the
 * server against a CA file, the server address from a URL, HTTP/1.1 request
 * heads and a response parser (Content-Length bodies, which is what
 * libmicrohttpd sends for buffer responses).
 */
#ifndef HO_BENCH_NET_H
#define HO_BENCH_NET_H

#include <netinet/in.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* The address of https://IPV4:PORT or IPV4:PORT; fills host ("127.0.0.1:8443"). */
int bench_parse_url(const char *url, struct sockaddr_in *sa, char *host, size_t hostlen);

/* A client context verifying peers against ca_file (TLS 1.2+); exits on failure. */
SSL_CTX *bench_tls_ctx(const char *ca_file);
/* A new SSL on fd that checks the certificate names the server's IP address. */
SSL *bench_tls_new(SSL_CTX *ctx, int fd, const struct sockaddr_in *sa);

/* A non-blocking TCP connect to sa (TCP_NODELAY set); -1 on immediate failure. */
int bench_connect_nb(const struct sockaddr_in *sa);

/*
 * Writes a request head for method path with a bearer token (may be NULL) and a body of
 * body_len bytes (none when body_len is 0 and method is GET) at out; returns its length,
 * 0 if it did not fit.
 */
size_t bench_http_head(char *out, size_t cap, const char *method, const char *path,
                       const char *host, const char *token, size_t body_len);

/* The same with one more header line (e.g. "If-None-Match: \"abc\"", no CRLF), or NULL. */
size_t bench_http_head_hdr(char *out, size_t cap, const char *method, const char *path,
                           const char *host, const char *token, const char *extra,
                           size_t body_len);

struct bench_http_resp {
    int status;         /* 200, 404, ... */
    size_t head_len;    /* bytes up to and including the blank line */
    size_t body_len;    /* Content-Length */
    int close;          /* Connection: close */
};

/*
 * 1: a whole response is in buf; 0: need more bytes; -1: malformed or not Content-Length.
 * 1xx, 204 and 304 answers are whole at the end of their head.
 */
int bench_http_parse(const char *buf, size_t len, struct bench_http_resp *out);

/* The value of header name in a response head of len bytes, or NULL; sets *vlen. */
const char *bench_http_header(const char *head, size_t len, const char *name, size_t *vlen);

/* The integer after "key": in a JSON text (first occurrence), or -1. */
long long bench_json_int(const char *body, size_t len, const char *key);

#endif

/*
 * Unit tests for common/httpc.c against a tiny HTTP/1.1 server running in a
 * thread of the test on 127.0.0.1 (an ephemeral port). The server keeps
 * connections alive, records every request (method, path, head, body, which
 * connection) and answers according to the path:
 *   /ok            200, ETag "v42", a small JSON body
 *   /status/NNN    status NNN (304 without a body)
 *   /etag-odd      a lowercase "etag:" header padded with blanks
 *   /etag-long     an ETag longer than HTTPC_ETAG_MAX
 *   /big           200 with a 100000-byte body and its Content-Length
 *   /bigchunked    200 with a 100000-byte chunked body (no length up front)
 *   /hang          never answers
 * Every wait is bounded: the server polls in 20 ms steps and stops on a flag.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "httpc.h"
#include "log.h"

#define SRV_CONNS   8
#define SRV_REQS    16
#define SRV_BUF     65536
#define SRV_BIG     100000
#define SRV_HEAD    4096
#define SRV_BODYMAX 4096

struct srv_req {
    char method[16];
    char path[256];
    char head[SRV_HEAD]; /* request line and headers */
    char body[SRV_BODYMAX];
    size_t body_len;
    int conn; /* number of the connection it came on, from 1 */
};

struct srv_conn {
    int fd; /* -1 when free */
    int num;
    char in[SRV_BUF];
    size_t len;
};

struct srv {
    int lfd;
    int port;
    pthread_t th;
    pthread_mutex_t mu; /* guards everything below */
    int stop;
    int accepted;
    int nreq;
    struct srv_req reqs[SRV_REQS];
    struct srv_conn conns[SRV_CONNS];
};

/* --- the server ------------------------------------------------------------ */

static int srv_stopping(struct srv *s)
{
    int stop;

    pthread_mutex_lock(&s->mu);
    stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static void srv_write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void srv_send(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void srv_send(int fd, const char *fmt, ...)
{
    char out[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, sizeof(out), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(out));
    srv_write_all(fd, out, (size_t)n);
}

static void srv_answer(int fd, const char *path)
{
    static char big[SRV_BIG];
    int status, i;

    memset(big, 'x', sizeof(big));
    if (strcmp(path, "/hang") == 0)
        return;
    if (strcmp(path, "/ok") == 0) {
        srv_send(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "ETag: \"v42\"\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
    } else if (strcmp(path, "/etag-odd") == 0) {
        srv_send(fd, "HTTP/1.1 200 OK\r\netag: \t W/\"abc\"  \r\nContent-Length: 2\r\n\r\n{}");
    } else if (strcmp(path, "/etag-long") == 0) {
        srv_send(fd, "HTTP/1.1 200 OK\r\nETag: \"%0200d\"\r\nContent-Length: 2\r\n\r\n{}", 7);
    } else if (sscanf(path, "/status/%d", &status) == 1 && status == 304) {
        srv_send(fd, "HTTP/1.1 304 Not Modified\r\nETag: \"v42\"\r\n\r\n");
    } else if (sscanf(path, "/status/%d", &status) == 1) {
        srv_send(fd, "HTTP/1.1 %d Whatever\r\nContent-Length: 15\r\n\r\n{\"error\":\"bad\"}",
                 status);
    } else if (strcmp(path, "/big") == 0) {
        srv_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", SRV_BIG);
        srv_write_all(fd, big, sizeof(big));
    } else if (strcmp(path, "/bigchunked") == 0) {
        srv_send(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (i = 0; i < SRV_BIG / 1000; i++) {
            srv_send(fd, "3e8\r\n");
            srv_write_all(fd, big, 1000);
            srv_send(fd, "\r\n");
        }
        srv_send(fd, "0\r\n\r\n");
    } else {
        srv_send(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}

/* Takes every complete request out of c->in, records and answers it. */
static void srv_serve(struct srv *s, struct srv_conn *c)
{
    struct srv_req *r;
    char *end, *cl, path[256];
    size_t head_len, body_len, n;

    for (;;) {
        c->in[c->len] = '\0';
        end = strstr(c->in, "\r\n\r\n");
        if (end == NULL)
            return;
        head_len = (size_t)(end + 4 - c->in);
        *end = '\0';
        cl = strcasestr(c->in, "\r\ncontent-length:");
        body_len = cl != NULL ? strtoul(cl + 17, NULL, 10) : 0;
        *end = '\r';
        if (c->len < head_len + body_len)
            return;
        pthread_mutex_lock(&s->mu);
        r = &s->reqs[s->nreq < SRV_REQS ? s->nreq : SRV_REQS - 1];
        memset(r, 0, sizeof(*r));
        n = head_len < sizeof(r->head) ? head_len : sizeof(r->head) - 1;
        memcpy(r->head, c->in, n);
        r->head[n] = '\0';
        sscanf(r->head, "%15s %255s", r->method, r->path);
        r->body_len = body_len < sizeof(r->body) ? body_len : sizeof(r->body) - 1;
        memcpy(r->body, c->in + head_len, r->body_len);
        r->conn = c->num;
        s->nreq++;
        snprintf(path, sizeof(path), "%s", r->path);
        pthread_mutex_unlock(&s->mu);
        srv_answer(c->fd, path);
        memmove(c->in, c->in + head_len + body_len, c->len - head_len - body_len);
        c->len -= head_len + body_len;
    }
}

static void srv_accept(struct srv *s)
{
    int fd = accept(s->lfd, NULL, NULL), i;

    if (fd < 0)
        return;
    for (i = 0; i < SRV_CONNS; i++) {
        if (s->conns[i].fd < 0) {
            pthread_mutex_lock(&s->mu);
            s->conns[i].fd = fd;
            s->conns[i].len = 0;
            s->conns[i].num = ++s->accepted;
            pthread_mutex_unlock(&s->mu);
            return;
        }
    }
    close(fd);
}

static void srv_read(struct srv *s, struct srv_conn *c)
{
    ssize_t r = read(c->fd, c->in + c->len, sizeof(c->in) - 1 - c->len);

    if (r <= 0) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    c->len += (size_t)r;
    srv_serve(s, c);
    if (c->len == sizeof(c->in) - 1) { /* a request too large for this server */
        close(c->fd);
        c->fd = -1;
    }
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    struct pollfd p[SRV_CONNS + 1];
    int map[SRV_CONNS + 1];
    int i, n;

    while (!srv_stopping(s)) {
        n = 0;
        p[n].fd = s->lfd;
        p[n++].events = POLLIN;
        for (i = 0; i < SRV_CONNS; i++) {
            if (s->conns[i].fd >= 0) {
                map[n] = i;
                p[n].fd = s->conns[i].fd;
                p[n++].events = POLLIN;
            }
        }
        if (poll(p, (nfds_t)n, 20) <= 0)
            continue;
        for (i = 1; i < n; i++) {
            if (p[i].revents != 0)
                srv_read(s, &s->conns[map[i]]);
        }
        if (p[0].revents & POLLIN)
            srv_accept(s);
    }
    for (i = 0; i < SRV_CONNS; i++) {
        if (s->conns[i].fd >= 0)
            close(s->conns[i].fd);
    }
    return NULL;
}

static struct srv *srv_start(void)
{
    struct srv *s = calloc(1, sizeof(*s));
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int one = 1, i;

    assert_non_null(s);
    pthread_mutex_init(&s->mu, NULL);
    for (i = 0; i < SRV_CONNS; i++)
        s->conns[i].fd = -1;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
    return s;
}

static void srv_stop(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* A copy of request i as the server saw it. */
static struct srv_req srv_req(struct srv *s, int i)
{
    struct srv_req r;

    pthread_mutex_lock(&s->mu);
    assert_true(i < s->nreq);
    r = s->reqs[i];
    pthread_mutex_unlock(&s->mu);
    return r;
}

static int srv_count(struct srv *s, int *accepted)
{
    int n;

    pthread_mutex_lock(&s->mu);
    n = s->nreq;
    if (accepted != NULL)
        *accepted = s->accepted;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* --- helpers ------------------------------------------------------------------ */

static struct httpc *client(long timeout_ms)
{
    struct httpc_opts o = {NULL, NULL, NULL, timeout_ms, timeout_ms, 0};
    struct httpc *c = NULL;

    assert_int_equal(httpc_new(&o, &c), HO_OK);
    assert_non_null(c);
    return c;
}

static char *url_of(const struct srv *s, const char *path)
{
    char *u = NULL;

    assert_true(asprintf(&u, "http://127.0.0.1:%d%s", s->port, path) > 0);
    return u;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Issues a GET of path without token; returns the code, fills r. */
static enum ho_code get(struct httpc *c, struct srv *s, const char *path, size_t max,
                        struct httpc_response *r, struct ho_error *err)
{
    char *u = url_of(s, path);
    enum ho_code rc = httpc_request(c, "GET", u, NULL, NULL, NULL, 0, NULL, max, r, err);

    free(u);
    return rc;
}

/* --- tests -------------------------------------------------------------------- */

static void test_httpc_post_sends_body_token_and_type(void **state)
{
    struct srv *s = srv_start();
    struct httpc *c = client(5000);
    struct httpc_response r;
    struct ho_error err;
    struct srv_req q;
    char *u = url_of(s, "/ok");

    (void)state;
    assert_int_equal(httpc_request(c, "POST", u, "hot_secret", "application/json", "{\"a\":1}", 7,
                                   NULL, 1024, &r, &err),
                     HO_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"ok\":true}");
    assert_int_equal(r.body_len, 11);
    q = srv_req(s, 0);
    assert_string_equal(q.method, "POST");
    assert_string_equal(q.path, "/ok");
    assert_non_null(strstr(q.head, "POST /ok HTTP/1.1\r\n"));
    assert_non_null(strstr(q.head, "\r\nAuthorization: Bearer hot_secret\r\n"));
    assert_non_null(strstr(q.head, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(q.head, "\r\nContent-Length: 7\r\n"));
    assert_null(strstr(q.head, "Expect:"));
    assert_null(strstr(q.head, "If-None-Match"));
    assert_int_equal(q.body_len, 7);
    assert_string_equal(q.body, "{\"a\":1}");
    httpc_response_cleanup(&r);
    httpc_free(c);
    srv_stop(s);
    free(u);
}

static void test_httpc_get_after_post_has_no_body(void **state)
{
    struct srv *s = srv_start();
    struct httpc *c = client(5000);
    struct httpc_response r;
    struct ho_error err;
    struct srv_req q;
    char *u = url_of(s, "/ok");

    (void)state;
    assert_int_equal(httpc_request(c, "POST", u, "hot_secret", "application/json", "{\"a\":1}", 7,
                                   NULL, 1024, &r, &err),
                     HO_OK);
    httpc_response_cleanup(&r);
    assert_int_equal(httpc_request(c, "GET", u, NULL, NULL, NULL, 0, NULL, 1024, &r, &err), HO_OK);
    assert_int_equal(r.status, 200);
    httpc_response_cleanup(&r);
    q = srv_req(s, 1);
    assert_string_equal(q.method, "GET");
    assert_null(strcasestr(q.head, "Content-Length"));
    assert_null(strcasestr(q.head, "Transfer-Encoding"));
    assert_null(strcasestr(q.head, "Content-Type"));
    assert_null(strcasestr(q.head, "Authorization")); /* no token given this time */
    assert_int_equal(q.body_len, 0);
    /* nothing stray followed on the connection */
    usleep(50 * 1000);
    assert_int_equal(srv_count(s, NULL), 2);
    httpc_free(c);
    srv_stop(s);
    free(u);
}

static void test_httpc_put_and_delete(void **state)
{
    struct srv *s = srv_start();
    struct httpc *c = client(5000);
    struct httpc_response r;
    struct ho_error err;
    struct srv_req q;
    char *u = url_of(s, "/ok");

    (void)state;
    assert_int_equal(httpc_request(c, "PUT", u, "t", "text/plain", "abc", 3, NULL, 1024, &r, &err),
                     HO_OK);
    httpc_response_cleanup(&r);
    assert_int_equal(httpc_request(c, "DELETE", u, "t", NULL, NULL, 0, NULL, 1024, &r, &err),
                     HO_OK);
    assert_int_equal(r.status, 200);
    httpc_response_cleanup(&r);
    assert_int_equal(httpc_request(c, "POST", u, NULL, NULL, "x=1", 3, NULL, 1024, &r, &err),
                     HO_OK);
    httpc_response_cleanup(&r);
    q = srv_req(s, 0);
    assert_string_equal(q.method, "PUT");
    assert_string_equal(q.body, "abc");
    assert_non_null(strstr(q.head, "\r\nContent-Type: text/plain\r\n"));
    q = srv_req(s, 1);
    assert_string_equal(q.method, "DELETE");
    assert_int_equal(q.body_len, 0);
    assert_null(strcasestr(q.head, "Content-Type"));
    /* no content type given: curl's form type is not made up */
    q = srv_req(s, 2);
    assert_string_equal(q.method, "POST");
    assert_string_equal(q.body, "x=1");
    assert_null(strcasestr(q.head, "Content-Type"));
    assert_null(strcasestr(q.head, "urlencoded"));
    httpc_free(c);
    srv_stop(s);
    free(u);
}

static void test_httpc_etag_captured_and_if_none_match_sent(void **state)
{
    struct srv *s = srv_start();
    struct httpc *c = client(5000);
    struct httpc_response r;
    struct ho_error err;
    struct srv_req q;
    char *u = url_of(s, "/status/304");

    (void)state;
    assert_int_equal(get(c, s, "/ok", 1024, &r, &err), HO_OK);
    assert_string_equal(r.etag, "\"v42\"");
    httpc_response_cleanup(&r);
    assert_int_equal(httpc_request(c, "GET", u, "tok", NULL, NULL, 0, "\"v42\"", 1024, &r, &err),
                     HO_OK);
    assert_int_equal(r.status, 304);
    assert_string_equal(r.body, "");
    assert_int_equal(r.body_len, 0);
    assert_string_equal(r.etag, "\"v42\"");
    httpc_response_cleanup(&r);
    q = srv_req(s, 1);
    assert_non_null(strstr(q.head, "\r\nIf-None-Match: \"v42\"\r\n"));
    /* the header name in any case, the value trimmed */
    assert_int_equal(get(c, s, "/etag-odd", 1024, &r, &err), HO_OK);
    assert_string_equal(r.etag, "W/\"abc\"");
    httpc_response_cleanup(&r);
    /* too long to keep whole: none rather than a cut one */
    assert_int_equal(get(c, s, "/etag-long", 1024, &r, &err), HO_OK);
    assert_string_equal(r.etag, "");
    httpc_response_cleanup(&r);
    /* none sent: none reported, nothing left from the previous response */
    assert_int_equal(get(c, s, "/status/404", 1024, &r, &err), HO_OK);
    assert_string_equal(r.etag, "");
    httpc_response_cleanup(&r);
    httpc_free(c);
    srv_stop(s);
    free(u);
}

static void test_httpc_statuses_are_ok(void **state)
{
    static const int codes[] = {304, 404, 500, 503, 401};
    struct srv *s = srv_start();
    struct httpc *c = client(5000);
    struct httpc_response r;
    struct ho_error err;
    char path[32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        snprintf(path, sizeof(path), "/status/%d", codes[i]);
        assert_int_equal(get(c, s, path, 1024, &r, &err), HO_OK);
        assert_int_equal(r.status, codes[i]);
        if (codes[i] != 304)
            assert_string_equal(r.body, "{\"error\":\"bad\"}");
        httpc_response_cleanup(&r);
    }
    httpc_free(c);
    srv_stop(s);
}

static void test_httpc_oversize_response_is_too_big(void **state)
{
    struct srv *s = srv_start();
    struct httpc *c = client(5000);
    struct httpc_response r;
    struct ho_error err;

    (void)state;
    /* announced by Content-Length */
    assert_int_equal(get(c, s, "/big", 1024, &r, &err), HO_ETOOBIG);
    assert_null(r.body);
    assert_non_null(strstr(err.msg, "1024"));
    /* found while reading a chunked body */
    assert_int_equal(get(c, s, "/bigchunked", 1024, &r, &err), HO_ETOOBIG);
    assert_null(r.body);
    /* at the cap exactly is fine, and the client still works */
    assert_int_equal(get(c, s, "/big", SRV_BIG, &r, &err), HO_OK);
    assert_int_equal(r.body_len, SRV_BIG);
    httpc_response_cleanup(&r);
    assert_int_equal(get(c, s, "/bigchunked", SRV_BIG, &r, &err), HO_OK);
    assert_int_equal(r.body_len, SRV_BIG);
    httpc_response_cleanup(&r);
    assert_int_equal(get(c, s, "/ok", 11, &r, &err), HO_OK);
    httpc_response_cleanup(&r);
    assert_int_equal(get(c, s, "/ok", 10, &r, &err), HO_ETOOBIG);
    httpc_free(c);
    srv_stop(s);
}

static void test_httpc_connection_refused_is_eio(void **state)
{
    struct httpc *c = client(2000);
    struct httpc_response r;
    struct ho_error err;
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    char url[64];
    int fd;

    (void)state;
    /* a port that was just free: bound, never listened on, closed */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ntohs(a.sin_port));
    assert_int_equal(httpc_request(c, "POST", url, "hot_secret", "application/json", "{}", 2, NULL,
                                   1024, &r, &err),
                     HO_EIO);
    assert_int_equal(r.status, 0);
    assert_null(r.body);
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    assert_non_null(strstr(err.msg, "connect"));
    assert_null(strstr(err.msg, "hot_secret"));
    httpc_free(c);
}

static void test_httpc_silent_server_times_out(void **state)
{
    struct srv *s = srv_start();
    struct httpc *c = client(300);
    struct httpc_response r;
    struct ho_error err;
    int64_t t0, dt;

    (void)state;
    t0 = now_ms();
    assert_int_equal(get(c, s, "/hang", 1024, &r, &err), HO_ETIMEOUT);
    dt = now_ms() - t0;
    assert_true(dt >= 250);
    assert_true(dt < 2000);
    assert_true(strlen(err.msg) > 0);
    assert_null(r.body);
    /* the handle recovers for the next request */
    assert_int_equal(get(c, s, "/ok", 1024, &r, &err), HO_OK);
    assert_int_equal(r.status, 200);
    httpc_response_cleanup(&r);
    httpc_free(c);
    srv_stop(s);
}

static void test_httpc_reuses_the_connection(void **state)
{
    struct srv *s = srv_start();
    struct httpc *c = client(5000);
    struct httpc_response r;
    struct ho_error err;
    char *u = url_of(s, "/ok");
    int accepted = 0;

    (void)state;
    assert_int_equal(get(c, s, "/ok", 1024, &r, &err), HO_OK);
    httpc_response_cleanup(&r);
    assert_int_equal(
        httpc_request(c, "POST", u, "t", "application/json", "{}", 2, NULL, 1024, &r, &err), HO_OK);
    httpc_response_cleanup(&r);
    assert_int_equal(get(c, s, "/status/404", 1024, &r, &err), HO_OK);
    httpc_response_cleanup(&r);
    assert_int_equal(srv_count(s, &accepted), 3);
    assert_int_equal(accepted, 1);
    assert_int_equal(srv_req(s, 0).conn, srv_req(s, 2).conn);
    httpc_free(c);
    srv_stop(s);
    free(u);
}

static void test_httpc_refuses_bad_input(void **state)
{
    struct srv *s = srv_start();
    struct httpc *c = client(5000);
    struct httpc_response r;
    struct ho_error err;
    char *u = url_of(s, "/ok");

    (void)state;
    assert_int_equal(
        httpc_request(c, "GET", u, "tok\r\nX-Evil: 1", NULL, NULL, 0, NULL, 1024, &r, &err),
        HO_EINVAL);
    assert_null(strstr(err.msg, "tok"));
    assert_int_equal(httpc_request(c, "GET", u, NULL, NULL, NULL, 0, "\"a\"\n", 1024, &r, &err),
                     HO_EINVAL);
    assert_int_equal(httpc_request(c, "PATCH", u, NULL, NULL, "x", 1, NULL, 1024, &r, &err),
                     HO_EINVAL);
    assert_int_equal(httpc_request(c, "GET", u, NULL, NULL, "x", 1, NULL, 1024, &r, &err),
                     HO_EINVAL);
    assert_int_equal(
        httpc_request(c, "GET", "ftp://127.0.0.1/x", NULL, NULL, NULL, 0, NULL, 1024, &r, &err),
        HO_EIO);
    usleep(50 * 1000);
    assert_int_equal(srv_count(s, NULL), 0);
    /* still usable */
    assert_int_equal(get(c, s, "/ok", 1024, &r, &err), HO_OK);
    httpc_response_cleanup(&r);
    httpc_free(c);
    srv_stop(s);
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpc_post_sends_body_token_and_type),
        cmocka_unit_test(test_httpc_get_after_post_has_no_body),
        cmocka_unit_test(test_httpc_put_and_delete),
        cmocka_unit_test(test_httpc_etag_captured_and_if_none_match_sent),
        cmocka_unit_test(test_httpc_statuses_are_ok),
        cmocka_unit_test(test_httpc_oversize_response_is_too_big),
        cmocka_unit_test(test_httpc_connection_refused_is_eio),
        cmocka_unit_test(test_httpc_silent_server_times_out),
        cmocka_unit_test(test_httpc_reuses_the_connection),
        cmocka_unit_test(test_httpc_refuses_bad_input),
    };
    int rc;

    log_init("httpc_test", LOG_LEVEL_ERROR);
    httpc_global_init();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    httpc_global_cleanup();
    return rc;
}

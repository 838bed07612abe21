/* Unit tests for common/httpc.c against a small HTTP/1.1 server on 127.0.0.1. */
#include <arpa/inet.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "httpc.h"

/* The test server: answers each request with the canned response, records the last. */
struct srv {
    int lfd;
    int port;
    pthread_t th;
    const char *response; /* full HTTP response text; NULL = never answer */
    char last[8192];      /* last request, head and body */
    int accepted;         /* connections accepted */
    int requests;
    volatile int stop;
};

static int srv_read_request(int fd, char *buf, size_t n)
{
    size_t got = 0;
    char *end;
    long clen = 0;
    const char *cl;
    ssize_t r;

    while (got < n - 1) {
        r = read(fd, buf + got, n - 1 - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        buf[got] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        cl = strcasestr(buf, "\r\ncontent-length:");
        clen = cl != NULL && cl < end ? strtol(cl + 17, NULL, 10) : 0;
        if ((long)(got - (size_t)(end + 4 - buf)) >= clen)
            return 0;
    }
    return -1;
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    struct pollfd p;
    int fd;

    while (!s->stop) {
        p.fd = s->lfd;
        p.events = POLLIN;
        if (poll(&p, 1, 50) <= 0)
            continue;
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        s->accepted++;
        while (!s->stop && srv_read_request(fd, s->last, sizeof(s->last)) == 0) {
            s->requests++;
            if (s->response == NULL) {
                while (!s->stop)
                    usleep(10000);
                break;
            }
            if (write(fd, s->response, strlen(s->response)) < 0)
                break;
        }
        close(fd);
    }
    return NULL;
}

static void srv_start(struct srv *s, const char *response)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int one = 1;

    memset(s, 0, sizeof(*s));
    s->response = response;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_stop(struct srv *s)
{
    s->stop = 1;
    pthread_join(s->th, NULL);
    close(s->lfd);
}

static struct httpc *client(long timeout_ms)
{
    struct httpc_opts o = {NULL, NULL, NULL, timeout_ms, timeout_ms, 0};
    struct httpc *c = NULL;

    assert_int_equal(httpc_new(&o, &c), HO_OK);
    return c;
}

static const char ok_resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "ETag: \"v42\"\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";

static void test_httpc_post_get_and_keepalive(void **state)
{
    struct srv s;
    struct httpc *c = client(5000);
    struct httpc_response r;
    struct ho_error err;
    char url[64];

    (void)state;
    srv_start(&s, ok_resp);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/runs", s.port);
    assert_int_equal(httpc_request(c, "POST", url, "hot_secret", "application/json", "{\"a\":1}",
                                   7, NULL, 1024, &r, &err),
                     HO_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"ok\":true}");
    assert_string_equal(r.etag, "\"v42\"");
    assert_non_null(strstr(s.last, "POST /api/v1/runs HTTP/1.1"));
    assert_non_null(strstr(s.last, "Authorization: Bearer hot_secret\r\n"));
    assert_non_null(strstr(s.last, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(s.last, "\r\n\r\n{\"a\":1}"));
    httpc_response_cleanup(&r);
    /* a GET after a POST carries no body and no token when none is given */
    assert_int_equal(httpc_request(c, "GET", url, NULL, NULL, NULL, 0, "\"v42\"", 1024, &r, &err),
                     HO_OK);
    assert_non_null(strstr(s.last, "GET /api/v1/runs HTTP/1.1"));
    assert_null(strstr(s.last, "Authorization"));
    assert_null(strstr(s.last, "Content-Length"));
    assert_non_null(strstr(s.last, "If-None-Match: \"v42\"\r\n"));
    httpc_response_cleanup(&r);
    assert_int_equal(s.requests, 2);
    assert_int_equal(s.accepted, 1); /* the connection was kept alive */
    httpc_free(c);
    srv_stop(&s);
}

static void test_httpc_statuses_are_ok(void **state)
{
    struct srv s;
    struct httpc *c = client(5000);
    struct httpc_response r;
    struct ho_error err;
    char url[64];

    (void)state;
    srv_start(&s, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s.port);
    assert_int_equal(httpc_request(c, "GET", url, NULL, NULL, NULL, 0, NULL, 1024, &r, &err),
                     HO_OK);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.etag, "");
    httpc_response_cleanup(&r);
    httpc_free(c);
    srv_stop(&s);
}

static void test_httpc_oversize_response(void **state)
{
    struct srv s;
    struct httpc *c = client(5000);
    struct httpc_response r;
    struct ho_error err;
    char url[64];

    (void)state;
    srv_start(&s, ok_resp);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s.port);
    assert_int_equal(httpc_request(c, "GET", url, NULL, NULL, NULL, 0, NULL, 5, &r, &err),
                     HO_ETOOBIG);
    httpc_free(c);
    srv_stop(&s);
}

static void test_httpc_refused_and_timeout(void **state)
{
    struct srv s;
    struct httpc *c = client(300);
    struct httpc_response r;
    struct ho_error err;
    char url[64];
    int port;

    (void)state;
    srv_start(&s, NULL); /* accepts, never answers */
    port = s.port;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
    assert_int_equal(httpc_request(c, "GET", url, NULL, NULL, NULL, 0, NULL, 1024, &r, &err),
                     HO_ETIMEOUT);
    srv_stop(&s);
    assert_int_equal(httpc_request(c, "GET", url, NULL, NULL, NULL, 0, NULL, 1024, &r, &err),
                     HO_EIO);
    assert_true(strlen(err.msg) > 0);
    httpc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpc_post_get_and_keepalive),
        cmocka_unit_test(test_httpc_statuses_are_ok),
        cmocka_unit_test(test_httpc_oversize_response),
        cmocka_unit_test(test_httpc_refused_and_timeout),
    };

    httpc_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

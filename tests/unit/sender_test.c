/*
 * Unit tests for agent/sender.c's metric batches (POST /api/v1/metrics), and
 * agent_spool_metrics, against a tiny HTTP/1.1 server in a thread of the test
 * on 127.0.0.1. The server answers each request with the next status of a
 * script (200 {"accepted":N,"duplicate":false} when the script is empty),
 * closes the connection, and records method, path, Authorization and body.
 * The agent's spool is a real one in a temp folder.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "agent.h"
#include "clock.h"
#include "httpc.h"
#include "log.h"
#include "mem.h"
#include "spool.h"

#define SRV_REQS   32
#define SRV_SCRIPT 16
#define SRV_BODY   (1024 * 1024)

struct srv_req {
    char method[16];
    char path[128];
    char auth[128];
    char ctype[64];
    char *body; /* owned */
    size_t body_len;
};

static struct srv {
    int fd, port;
    pthread_t th;
    pthread_mutex_t mu;
    int stop;
    int script[SRV_SCRIPT]; /* statuses to answer, in order */
    size_t nscript, next;
    struct srv_req reqs[SRV_REQS];
    size_t nreq;
} srv = {.fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER};

static char spooldir[] = "/tmp/sender_test.XXXXXX";

/* ---- the server ---- */

static void srv_header(const char *head, const char *name, char *out, size_t n)
{
    const char *p = strcasestr(head, name), *e;

    out[0] = '\0';
    if (p == NULL)
        return;
    p += strlen(name);
    p += strspn(p, " ");
    e = strstr(p, "\r\n");
    if (e == NULL)
        return;
    snprintf(out, n, "%.*s", (int)(e - p), p);
}

/* Reads one request from c into r; -1 when the client went away. */
static int srv_read(int c, struct srv_req *r)
{
    char *in = xmalloc(SRV_BODY + 8192), *end, cl[32];
    size_t len = 0, want = 0, head;
    ssize_t got;

    memset(r, 0, sizeof(*r));
    for (;;) {
        got = recv(c, in + len, SRV_BODY + 8191 - len, 0);
        if (got <= 0) {
            free(in);
            return -1;
        }
        len += (size_t)got;
        in[len] = '\0';
        end = strstr(in, "\r\n\r\n");
        if (end == NULL)
            continue;
        head = (size_t)(end - in) + 4;
        srv_header(in, "Content-Length:", cl, sizeof(cl));
        want = head + (size_t)strtoul(cl, NULL, 10);
        if (len >= want)
            break;
    }
    sscanf(in, "%15s %127s", r->method, r->path);
    srv_header(in, "Authorization:", r->auth, sizeof(r->auth));
    srv_header(in, "Content-Type:", r->ctype, sizeof(r->ctype));
    r->body_len = want - head;
    r->body = xstrndup(in + head, r->body_len);
    free(in);
    return 0;
}

static void srv_answer(int c, int status)
{
    char out[512];
    const char *body = status == 200 ? "{\"accepted\":2,\"duplicate\":false}"
                                     : "{\"error\":\"no\",\"field\":\"metrics\"}";
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     status, strlen(body), body);

    if (send(c, out, (size_t)n, MSG_NOSIGNAL) < 0)
        return;
}

static void *srv_main(void *arg)
{
    struct pollfd p;
    struct srv_req r;
    int c, status;

    (void)arg;
    for (;;) {
        pthread_mutex_lock(&srv.mu);
        if (srv.stop) {
            pthread_mutex_unlock(&srv.mu);
            break;
        }
        pthread_mutex_unlock(&srv.mu);
        p.fd = srv.fd;
        p.events = POLLIN;
        if (poll(&p, 1, 20) <= 0)
            continue;
        c = accept(srv.fd, NULL, NULL);
        if (c < 0)
            continue;
        if (srv_read(c, &r) == 0) {
            pthread_mutex_lock(&srv.mu);
            status = srv.next < srv.nscript ? srv.script[srv.next++] : 200;
            if (srv.nreq < SRV_REQS)
                srv.reqs[srv.nreq++] = r;
            else
                free(r.body);
            pthread_mutex_unlock(&srv.mu);
            srv_answer(c, status);
        }
        close(c);
    }
    return NULL;
}

static void srv_reset(int n, ...)
{
    va_list ap;
    size_t i;

    pthread_mutex_lock(&srv.mu);
    for (i = 0; i < srv.nreq; i++)
        free(srv.reqs[i].body);
    srv.nreq = 0;
    srv.next = 0;
    srv.nscript = (size_t)n;
    va_start(ap, n);
    for (i = 0; i < (size_t)n; i++)
        srv.script[i] = va_arg(ap, int);
    va_end(ap);
    pthread_mutex_unlock(&srv.mu);
}

/* ---- the agent ---- */

struct fx {
    struct agent ag;
    struct httpc *hc;
    struct ho_error err;
};

static void fx_init(struct fx *f, int port)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->ag.id_lock, NULL);
    f->ag.cfg.server = xasprintf("http://127.0.0.1:%d", port);
    f->ag.cfg.send_timeout = 5;
    f->ag.cfg.batch_size = 100;
    snprintf(f->ag.id.agent_id, sizeof(f->ag.id.agent_id), "0190f0f0-0000-7000-8000-000000000000");
    snprintf(f->ag.id.token, sizeof(f->ag.id.token), "hot_testtoken");
    assert_int_equal(spool_open(spooldir, 1000, 64u * 1024 * 1024, &f->ag.spool, &f->err), HO_OK);
    assert_int_equal(sender_client(&f->ag, &f->hc), HO_OK);
    srv_reset(0);
}

static void fx_done(struct fx *f)
{
    struct spool_item *items = NULL;
    size_t n = 0, i;

    /* leave the spool folder empty for the next test */
    assert_int_equal(spool_peek(f->ag.spool, "metrics", 1000, SIZE_MAX, &items, &n), HO_OK);
    for (i = 0; i < n; i++)
        assert_int_equal(spool_remove(f->ag.spool, "metrics", items[i].id), HO_OK);
    spool_items_free(items, n);
    assert_int_equal(spool_peek(f->ag.spool, "run", 1000, SIZE_MAX, &items, &n), HO_OK);
    for (i = 0; i < n; i++)
        assert_int_equal(spool_remove(f->ag.spool, "run", items[i].id), HO_OK);
    spool_items_free(items, n);
    httpc_free(f->hc);
    spool_close(f->ag.spool);
    free(f->ag.cfg.server);
    pthread_mutex_destroy(&f->ag.id_lock);
}

/* Spools one batch of k metrics; returns its id (static buffer of the caller). */
static void spool_batch(struct fx *f, size_t k, char id[CRYPTO_UUID_LEN])
{
    struct metric m[4];
    struct tag t = {"mount", "/"};
    struct spool_item *items = NULL;
    size_t n = 0, i;

    assert_true(k <= 4);
    memset(m, 0, sizeof(m));
    for (i = 0; i < k; i++) {
        m[i].name = "host.disk.used_pct";
        m[i].value = (double)i + 0.5;
        m[i].ts_ms = clock_wall_ms();
        m[i].tags = &t;
        m[i].ntags = 1;
    }
    assert_int_equal(agent_spool_metrics(&f->ag, m, k, &f->err), HO_OK);
    /* the newest batch is the last of its kind */
    assert_int_equal(spool_peek(f->ag.spool, "metrics", 1000, SIZE_MAX, &items, &n), HO_OK);
    assert_true(n > 0);
    snprintf(id, CRYPTO_UUID_LEN, "%s", items[n - 1].id);
    spool_items_free(items, n);
    usleep(2000); /* next batch id in a later millisecond */
}

static size_t depth(struct fx *f, const char *kind)
{
    struct spool_item *items = NULL;
    size_t n = 0;

    assert_int_equal(spool_peek(f->ag.spool, kind, 1000, SIZE_MAX, &items, &n), HO_OK);
    spool_items_free(items, n);
    return n;
}

/* ---- tests ---- */

static void test_sender_metrics_posts_each_batch(void **state)
{
    char ids[3][CRYPTO_UUID_LEN];
    struct fx f;
    size_t sent = 99, i;
    cJSON *root;

    (void)state;
    fx_init(&f, srv.port);
    for (i = 0; i < 3; i++)
        spool_batch(&f, i + 1, ids[i]);
    assert_int_equal(
        spool_append(f.ag.spool, "run", "0190f0f0-0000-7000-8000-00000000aaaa", "{}", 2, &f.err),
        HO_OK);
    assert_int_equal(sender_flush_metrics(&f.ag, f.hc, SIZE_MAX, &sent, &f.err), HO_OK);
    assert_int_equal(sent, 3);
    assert_int_equal(depth(&f, "metrics"), 0);
    assert_int_equal(depth(&f, "run"), 1); /* runs are sender_flush's */
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.nreq, 3);
    for (i = 0; i < 3; i++) {
        assert_string_equal(srv.reqs[i].method, "POST");
        assert_string_equal(srv.reqs[i].path, "/api/v1/metrics");
        assert_string_equal(srv.reqs[i].auth, "Bearer hot_testtoken");
        assert_string_equal(srv.reqs[i].ctype, "application/json");
        root = cJSON_ParseWithLength(srv.reqs[i].body, srv.reqs[i].body_len);
        assert_non_null(root);
        /* oldest first, each with the id it was spooled with */
        assert_string_equal(cJSON_GetObjectItem(root, "id")->valuestring, ids[i]);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "metrics")), i + 1);
        cJSON_Delete(root);
    }
    pthread_mutex_unlock(&srv.mu);
    fx_done(&f);
}

static void test_sender_metrics_refused_batches_dropped(void **state)
{
    char id[CRYPTO_UUID_LEN];
    struct fx f;
    size_t sent = 99;

    (void)state;
    fx_init(&f, srv.port);
    spool_batch(&f, 1, id);
    spool_batch(&f, 1, id);
    spool_batch(&f, 1, id);
    srv_reset(2, 400, 413);
    assert_int_equal(sender_flush_metrics(&f.ag, f.hc, SIZE_MAX, &sent, &f.err), HO_OK);
    assert_int_equal(sent, 1);
    assert_int_equal(depth(&f, "metrics"), 0);
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.nreq, 3);
    pthread_mutex_unlock(&srv.mu);
    fx_done(&f);
}

static void test_sender_metrics_retry_keeps_batch_id(void **state)
{
    char id[CRYPTO_UUID_LEN];
    struct fx f;
    size_t sent = 99;
    char *first;

    (void)state;
    fx_init(&f, srv.port);
    spool_batch(&f, 2, id);
    spool_batch(&f, 2, id);
    srv_reset(3, 503, 500, 429);
    assert_int_equal(sender_flush_metrics(&f.ag, f.hc, SIZE_MAX, &sent, &f.err), HO_EIO);
    assert_int_equal(sent, 0);
    assert_int_equal(depth(&f, "metrics"), 2);
    assert_int_equal(sender_flush_metrics(&f.ag, f.hc, SIZE_MAX, &sent, &f.err), HO_EIO);
    assert_int_equal(sender_flush_metrics(&f.ag, f.hc, SIZE_MAX, &sent, &f.err), HO_EIO);
    assert_int_equal(depth(&f, "metrics"), 2);
    /* the server is back: the same bodies, byte for byte, so the ids make it idempotent */
    assert_int_equal(sender_flush_metrics(&f.ag, f.hc, SIZE_MAX, &sent, &f.err), HO_OK);
    assert_int_equal(sent, 2);
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.nreq, 5);
    first = srv.reqs[0].body;
    assert_string_equal(srv.reqs[1].body, first);
    assert_string_equal(srv.reqs[2].body, first);
    assert_string_equal(srv.reqs[3].body, first);
    assert_string_not_equal(srv.reqs[4].body, first);
    assert_non_null(strstr(srv.reqs[4].body, id));
    pthread_mutex_unlock(&srv.mu);
    fx_done(&f);
}

static void test_sender_metrics_auth_refused(void **state)
{
    char id[CRYPTO_UUID_LEN];
    struct fx f;
    size_t sent = 99;

    (void)state;
    fx_init(&f, srv.port);
    spool_batch(&f, 1, id);
    srv_reset(2, 401, 403);
    assert_int_equal(sender_flush_metrics(&f.ag, f.hc, SIZE_MAX, &sent, &f.err), HO_EAUTH);
    assert_int_equal(sender_flush_metrics(&f.ag, f.hc, SIZE_MAX, &sent, &f.err), HO_EAUTH);
    assert_int_equal(depth(&f, "metrics"), 1);
    /* not enrolled: nothing is sent at all */
    srv_reset(0);
    f.ag.id.token[0] = '\0';
    assert_int_equal(sender_flush_metrics(&f.ag, f.hc, SIZE_MAX, &sent, &f.err), HO_EAUTH);
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.nreq, 0);
    pthread_mutex_unlock(&srv.mu);
    assert_int_equal(depth(&f, "metrics"), 1);
    fx_done(&f);
}

static void test_sender_metrics_unreachable_and_limit(void **state)
{
    char id[CRYPTO_UUID_LEN];
    struct fx f;
    size_t sent = 99, i;
    int closed;
    struct sockaddr_in a;
    socklen_t al = sizeof(a);

    (void)state;
    /* a port nobody listens on */
    closed = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(closed, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(closed, (struct sockaddr *)&a, &al), 0);
    fx_init(&f, ntohs(a.sin_port));
    close(closed);
    spool_batch(&f, 1, id);
    assert_int_equal(sender_flush_metrics(&f.ag, f.hc, SIZE_MAX, &sent, &f.err), HO_EIO);
    assert_int_equal(depth(&f, "metrics"), 1);
    fx_done(&f);

    /* at most max_items per call */
    fx_init(&f, srv.port);
    for (i = 0; i < 4; i++)
        spool_batch(&f, 1, id);
    assert_int_equal(sender_flush_metrics(&f.ag, f.hc, 3, &sent, &f.err), HO_OK);
    assert_int_equal(sent, 3);
    assert_int_equal(depth(&f, "metrics"), 1);
    fx_done(&f);
}

/* ---- setup ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);

    (void)state;
    log_init("sender_test", LOG_LEVEL_ERROR);
    httpc_global_init();
    if (mkdtemp(spooldir) == NULL)
        return -1;
    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(srv.fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(srv.fd, 16) != 0 ||
        getsockname(srv.fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    srv.port = ntohs(a.sin_port);
    return pthread_create(&srv.th, NULL, srv_main, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pthread_mutex_lock(&srv.mu);
    srv.stop = 1;
    pthread_mutex_unlock(&srv.mu);
    pthread_join(srv.th, NULL);
    close(srv.fd);
    srv_reset(0);
    httpc_global_cleanup();
    return nftw(spooldir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sender_metrics_posts_each_batch),
        cmocka_unit_test(test_sender_metrics_refused_batches_dropped),
        cmocka_unit_test(test_sender_metrics_retry_keeps_batch_id),
        cmocka_unit_test(test_sender_metrics_auth_refused),
        cmocka_unit_test(test_sender_metrics_unreachable_and_limit),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * ref_mhd: the ceiling of the HTTP layer. A minimal libmicrohttpd HTTPS
 * server with the thread model and limits of server/http.c (internal polling
 * thread, epoll, a pool of 4 threads, the same TLS priorities, connection
 * limit and per-connection memory) that collects each request body into a
 * buffer, as the real server does before parsing, and answers every request
 * with a small fixed JSON. loadgen --no-enroll pointed at it measures what
 * TLS + HTTP alone can carry on this machine.
 *
 *   ref_mhd --listen 127.0.0.1:PORT --cert server.pem --key server.key [--threads 4]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "bench.h"
#include "bench_net.h"

#define REF_MAX_BODY (16u * 1024 * 1024) /* the server's default limits.max_body_bytes */

static const char ref_answer[] = "{\"status\":\"ok\",\"accepted\":0,\"duplicates\":0,\"rejected\":[]}";

struct ref_req {
    char *body;
    size_t len, cap;
};

static volatile sig_atomic_t ref_stop;

static void ref_on_signal(int sig)
{
    (void)sig;
    ref_stop = 1;
}

static char *ref_read_file(const char *path)
{
    FILE *fp = fopen(path, "re");
    struct stat sb;
    char *data;
    size_t n;

    if (fp == NULL || fstat(fileno(fp), &sb) != 0 || sb.st_size > 1024 * 1024)
        bench_fatal("cannot read %s", path);
    data = bench_xmalloc((size_t)sb.st_size + 1);
    n = fread(data, 1, (size_t)sb.st_size, fp);
    data[n] = '\0';
    fclose(fp);
    return data;
}

static enum MHD_Result ref_answer_send(struct MHD_Connection *conn, unsigned int status)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(sizeof(ref_answer) - 1, (void *)(uintptr_t)ref_answer,
                                        MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result ref_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct ref_req *rq = *con_cls;
    size_t n = *upload_data_size;

    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    if (rq == NULL) {
        rq = calloc(1, sizeof(*rq));
        if (rq == NULL)
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (n != 0) {
        if (rq->len + n > REF_MAX_BODY)
            return MHD_NO;
        if (rq->len + n > rq->cap) {
            rq->cap = rq->cap != 0 ? rq->cap : 4096;
            while (rq->cap < rq->len + n)
                rq->cap *= 2;
            rq->body = bench_xrealloc(rq->body, rq->cap);
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return ref_answer_send(conn, MHD_HTTP_OK);
}

static void ref_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    struct ref_req *rq = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (rq == NULL)
        return;
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    const char *listen = NULL, *cert_file = NULL, *key_file = NULL;
    struct sockaddr_in sa;
    struct sigaction sact;
    struct MHD_Daemon *d;
    char host[128], *cert, *key;
    unsigned int threads = 4;
    int i;

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen") == 0)
            listen = argv[i + 1];
        else if (strcmp(argv[i], "--cert") == 0)
            cert_file = argv[i + 1];
        else if (strcmp(argv[i], "--key") == 0)
            key_file = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0)
            threads = (unsigned int)bench_arg_ll("--threads", argv[i + 1], 1, 64);
        else
            break;
    }
    if (i != argc || listen == NULL || cert_file == NULL || key_file == NULL) {
        fprintf(stderr, "usage: ref_mhd --listen IPV4:PORT --cert PEM --key PEM [--threads N]\n");
        return 2;
    }
    if (bench_parse_url(listen, &sa, host, sizeof(host)) != 0)
        bench_fatal("--listen: want IPV4:PORT");
    bench_raise_nofile(65536);
    cert = ref_read_file(cert_file);
    key = ref_read_file(key_file);
    d = MHD_start_daemon(MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                             MHD_USE_ITC | MHD_USE_ERROR_LOG,
                         0, NULL, NULL, ref_handler, NULL, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&sa, MHD_OPTION_HTTPS_MEM_CERT, cert,
                         MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_PRIORITIES,
                         "NORMAL:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1",
                         MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned int)20000, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                         MHD_OPTION_NOTIFY_COMPLETED, ref_completed, NULL, MHD_OPTION_END);
    if (d == NULL)
        bench_fatal("cannot start HTTPS on %s", listen);
    memset(&sact, 0, sizeof(sact));
    sact.sa_handler = ref_on_signal;
    sigaction(SIGINT, &sact, NULL);
    sigaction(SIGTERM, &sact, NULL);
    sact.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sact, NULL);
    fprintf(stderr, "ref_mhd: listening on https://%s, %u threads\n", host, threads);
    while (!ref_stop)
        pause();
    MHD_stop_daemon(d);
    explicit_bzero(key, strlen(key));
    free(key);
    free(cert);
    return 0;
}

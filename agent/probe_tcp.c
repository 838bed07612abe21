/*
 * The tcp probe: can we open a TCP connection to host:port within timeout_ms?
 * Every address the name resolves to is tried in turn (like relayd's
 * check_tcp.c, non-blocking connect and poll). Name resolution uses
 * getaddrinfo, which has no timeout of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe_impl.h"

/* "host:port", "[v6]:port". */
static void probe_tcp_name(char *out, size_t n, const char *host, int port)
{
    if (strchr(host, ':') != NULL)
        snprintf(out, n, "[%s]:%d", host, port);
    else
        snprintf(out, n, "%s:%d", host, port);
}

/*
 * Connects to one address before deadline_us. Returns 0 when connected, else
 * the errno (ETIMEDOUT when the deadline passed).
 */
static int probe_tcp_try(const struct addrinfo *ai, int64_t deadline_us)
{
    struct pollfd pfd;
    socklen_t len = sizeof(int);
    int fd, e = 0, left_ms, r;

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd == -1)
        return errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        goto out;
    if (errno != EINPROGRESS) {
        e = errno;
        goto out;
    }
    for (;;) {
        left_ms = (int)((deadline_us - probe_mono_us() + 999) / 1000);
        if (left_ms <= 0) {
            e = ETIMEDOUT;
            goto out;
        }
        pfd.fd = fd;
        pfd.events = POLLOUT;
        r = poll(&pfd, 1, left_ms);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            e = errno;
            goto out;
        }
        if (r == 1)
            break;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
        e = errno;
out:
    close(fd);
    return e;
}

void probe_tcp_run(const struct probe_ctx *ctx, const struct manifest_check *c,
                   struct run_step *step, struct metric **metrics, size_t *nmetrics)
{
    const struct probe_spec *p = &c->test;
    const char *host = p->host != NULL && p->host[0] != '\0' ? p->host : "127.0.0.1";
    int timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : PROBE_DEFAULT_TCP_MS;
    struct addrinfo hints, *res = NULL, *ai;
    char name[300], port[16], ebuf[128];
    int64_t start, deadline;
    int rc, e = ENOENT;

    (void)ctx;
    probe_tcp_name(name, sizeof(name), host, p->port);
    if (p->port < 1 || p->port > 65535) {
        probe_step_set(step, TEST_STATUS_UNKNOWN, "TCP UNKNOWN: %s: bad port", name);
        return;
    }
    snprintf(port, sizeof(port), "%d", p->port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        probe_step_set(step, TEST_STATUS_UNKNOWN, "TCP UNKNOWN: cannot resolve %s: %s", host,
                       rc == EAI_SYSTEM ? probe_strerror(errno, ebuf, sizeof(ebuf))
                                        : gai_strerror(rc));
        return;
    }
    start = probe_mono_us();
    deadline = start + (int64_t)timeout_ms * 1000;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        e = probe_tcp_try(ai, deadline);
        if (e == 0 || e == ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (e == 0) {
        double ms = (double)(probe_mono_us() - start) / 1000.0;

        probe_metric_add(metrics, nmetrics, "tcp.connect_ms", ms);
        probe_step_set(step, TEST_STATUS_OK, "TCP OK: %s connected in %.1f ms", name, ms);
    } else if (e == ETIMEDOUT) {
        probe_step_set(step, TEST_STATUS_CRITICAL, "TCP CRITICAL: %s no connection within %d ms",
                       name, timeout_ms);
    } else {
        probe_step_set(step, TEST_STATUS_CRITICAL, "TCP CRITICAL: %s %s", name,
                       probe_strerror(e, ebuf, sizeof(ebuf)));
    }
}

/*
 * Graphite plaintext protocol (INTEGRATIONS.md sections 3 and 12, after
 * graphite-web docs/feeding-carbon.rst and docs/tags.rst): one
 * "<path> <value> <timestamp seconds>\n" per point, over TCP.
 *
 * Tagged form (the default, Graphite >= 1.1): "name;tag=value;..." with the
 * tags sorted (carbon's canonical order); tag names lose ';', '!', '^', '='
 * and spaces, values lose ';' and spaces and may not start with '~' (each
 * becomes '_'). Plain form, for old carbon: healops.<node>.<check>.<metric>,
 * every path node made of [A-Za-z0-9_-] (stats have "stats" for the check, a
 * name's healops. or healops.check. prefix is left out, its dots stay levels).
 *
 * Carbon answers nothing and drops bad lines, so the only failure we can see is
 * the connection's. A write into a socket whose peer has gone can still
 * succeed (the reset arrives later), so each batch gets its own connection,
 * half-closed once written; the peer closes in turn after reading it all, and
 * only that close counts as delivery. A reset or a timeout means send again.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "forward_impl.h"
#include "log.h"
#include "mem.h"
#include "points.h"

#define GRAPHITE_TEXT_MAX 512

/* Copies s into out replacing spaces, controls and the bytes of bad with '_'. */
static void graphite_clean(const char *s, const char *bad, char *out, size_t outsz)
{
    size_t i;

    for (i = 0; s[i] != '\0' && i + 1 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];

        out[i] = c <= 0x20 || c == 0x7f || strchr(bad, c) != NULL ? '_' : (char)c;
    }
    out[i] = '\0';
}

/* A path node: only [A-Za-z0-9_-]; empty becomes "_". */
static void graphite_node(const char *s, size_t len, char *out, size_t outsz)
{
    size_t i;

    for (i = 0; i < len && i + 1 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_')
            out[i] = (char)c;
        else
            out[i] = '_';
    }
    out[i] = '\0';
    if (i == 0 && outsz > 1) {
        out[0] = '_';
        out[1] = '\0';
    }
}

static enum ho_code graphite_plain_path(struct buf *out, const struct point *p)
{
    const char *node = points_tag(p, "node"), *m = p->name, *dot;
    char part[GRAPHITE_TEXT_MAX];
    enum ho_code rc;

    rc = buf_appends(out, "healops.");
    graphite_node(node != NULL ? node : "unknown", strlen(node != NULL ? node : "unknown"), part,
                  sizeof(part));
    if (rc == HO_OK)
        rc = buf_printf(out, "%s.", part);
    graphite_node(p->check != NULL ? p->check : "stats",
                  strlen(p->check != NULL ? p->check : "stats"), part, sizeof(part));
    if (rc == HO_OK)
        rc = buf_appends(out, part);
    if (strncmp(m, "healops.check.", 14) == 0)
        m += 14;
    else if (strncmp(m, "healops.", 8) == 0)
        m += 8;
    while (rc == HO_OK) {
        dot = strchr(m, '.');
        graphite_node(m, dot != NULL ? (size_t)(dot - m) : strlen(m), part, sizeof(part));
        rc = buf_printf(out, ".%s", part);
        if (dot == NULL)
            break;
        m = dot + 1;
    }
    return rc;
}

static int tag_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tag *)a)->key, ((const struct tag *)b)->key);
}

static enum ho_code graphite_tagged_path(struct buf *out, const struct point *p)
{
    char key[GRAPHITE_TEXT_MAX], val[GRAPHITE_TEXT_MAX], prev[GRAPHITE_TEXT_MAX] = "";
    struct tag *sorted = NULL;
    enum ho_code rc;
    size_t i;

    graphite_clean(p->name, ";", val, sizeof(val));
    rc = buf_appends(out, val);
    if (p->ntags > 0) {
        sorted = xcalloc(p->ntags, sizeof(*sorted));
        memcpy(sorted, p->tags, p->ntags * sizeof(*sorted));
        qsort(sorted, p->ntags, sizeof(*sorted), tag_cmp);
    }
    for (i = 0; rc == HO_OK && i < p->ntags; i++) {
        graphite_clean(sorted[i].key, ";!^=", key, sizeof(key));
        graphite_clean(sorted[i].value, ";", val, sizeof(val));
        if (val[0] == '~')
            val[0] = '_';
        if (key[0] == '\0' || val[0] == '\0' || strcmp(key, prev) == 0)
            continue; /* a key made equal by cleaning keeps its first value */
        memcpy(prev, key, sizeof(prev));
        rc = buf_printf(out, ";%s=%s", key, val);
    }
    free(sorted);
    return rc;
}

enum ho_code fwd_graphite_encode(const struct point *p, size_t n, int plain, struct buf *out)
{
    enum ho_code rc = HO_OK;
    char num[32];
    size_t i;

    for (i = 0; rc == HO_OK && i < n; i++) {
        rc = plain ? graphite_plain_path(out, &p[i]) : graphite_tagged_path(out, &p[i]);
        fwd_format_double(p[i].value, num);
        if (rc == HO_OK)
            rc = buf_printf(out, " %s %lld\n", num, (long long)(p[i].ts_ms / 1000));
    }
    return rc;
}

/* ---- sending ---- */

/* Waits for events on fd until deadline (monotonic ms); 0 on an event, -1 on timeout/error. */
static int graphite_wait(int fd, short events, int64_t deadline)
{
    struct pollfd pfd = {fd, events, 0};
    int64_t left;
    int r;

    for (;;) {
        left = deadline - clock_mono_ms();
        if (left <= 0)
            return -1;
        r = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* *fd_out: a connected non-blocking socket to one of host:port's addresses. */
static enum ho_code graphite_connect(const char *host, int port, int64_t deadline, int *fd_out,
                                     struct ho_error *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    char portstr[16];
    socklen_t len;
    int fd = -1, r, soerr = 0;

    *fd_out = -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%d", port);
    r = getaddrinfo(host, portstr, &hints, &res);
    if (r != 0)
        return ho_error_set(err, HO_EIO, NULL, "%s:%d: %s", host, port, gai_strerror(r));
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        soerr = 0;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            soerr = errno;
            if (soerr == EINPROGRESS) {
                len = sizeof(soerr);
                soerr = ETIMEDOUT;
                if (graphite_wait(fd, POLLOUT, deadline) == 0)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
            }
        }
        if (soerr == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return ho_error_set(err, soerr == ETIMEDOUT ? HO_ETIMEOUT : HO_EIO, NULL,
                            "connect %s:%d: %s", host, port,
                            strerror(soerr != 0 ? soerr : EHOSTUNREACH));
    *fd_out = fd;
    return HO_OK;
}

static enum ho_code graphite_write(int fd, const char *data, size_t len, int64_t deadline,
                                   struct ho_error *err)
{
    ssize_t w;

    while (len > 0) {
        w = send(fd, data, len, MSG_NOSIGNAL);
        if (w > 0) {
            data += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return ho_error_set(err, HO_EIO, NULL, "send: %s", strerror(errno));
        if (graphite_wait(fd, POLLOUT, deadline) != 0)
            return ho_error_set(err, HO_ETIMEOUT, NULL, "send: timed out");
    }
    return HO_OK;
}

/* After our half-close: reads (and ignores) until the peer closes. */
static enum ho_code graphite_drain(int fd, int64_t deadline, struct ho_error *err)
{
    char sink[512];
    ssize_t r;

    for (;;) {
        r = recv(fd, sink, sizeof(sink), 0);
        if (r == 0)
            return HO_OK;
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return ho_error_set(err, HO_EIO, NULL, "connection lost: %s", strerror(errno));
        if (r < 0 && graphite_wait(fd, POLLIN, deadline) != 0)
            return ho_error_set(err, HO_ETIMEOUT, NULL, "no close from the peer in time");
    }
}

enum ho_code fwd_graphite_send(const char *host, int port, const char *data, size_t len,
                               int timeout_ms, struct ho_error *err)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    enum ho_code rc;
    int fd = -1;

    rc = graphite_connect(host, port, deadline, &fd, err);
    if (rc != HO_OK)
        return rc;
    rc = graphite_write(fd, data, len, deadline, err);
    if (rc == HO_OK && shutdown(fd, SHUT_WR) != 0)
        rc = ho_error_set(err, HO_EIO, NULL, "shutdown: %s", strerror(errno));
    if (rc == HO_OK)
        rc = graphite_drain(fd, deadline, err);
    close(fd);
    return rc;
}

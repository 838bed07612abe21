/*
 * GET /api/v1/checks/AGENT/CHECK/series (DESIGN.md section 6): the points behind
 * a check's graph, from the points table (schema/002_points.sql) through a
 * read-only connection (server/store_read.h). The newest points of one metric
 * in a bounded window (default the last 24 h, at most 10,000 points), answered
 * oldest first as JSON written straight into a capped buffer. Without metric=
 * the answer lists the check's metric names and, when there is exactly one,
 * holds its series as well.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_impl.h"
#include "api_metrics.h"
#include "app.h"
#include "buf.h"
#include "clock.h"
#include "log.h"
#include "mem.h"
#include "parse.h"
#include "prom.h"
#include "store_read.h"
#include "utf8.h"

#define SERIES_DEFAULT_LIMIT 2000
#define SERIES_DEFAULT_SPAN  (24 * 3600 * 1000LL) /* since defaults to now - 24 h */
#define SERIES_MAX_BYTES     (8u * 1024 * 1024)
#define SERIES_AGENT_MAX     128
#define SERIES_CHECK_MAX     255


/* Appends s as a JSON string; a byte that is not UTF-8 becomes U+FFFD. */
static enum ho_code json_str(struct buf *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, run = 0, len;
    enum ho_code rc;
    char esc[8];

    rc = buf_append(b, "\"", 1);
    while (i < n && rc == HO_OK) {
        len = 1;
        esc[0] = '\0';
        if (u[i] == '"' || u[i] == '\\')
            snprintf(esc, sizeof(esc), "\\%c", u[i]);
        else if (u[i] < 0x20 || u[i] == 0x7f)
            snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
        else if (u[i] >= 0x80 && (len = utf8_seq_len(u + i, n - i)) == 0)
            snprintf(esc, sizeof(esc), "\\ufffd");
        if (esc[0] == '\0') {
            i += len;
            continue;
        }
        rc = buf_append(b, s + run, i - run);
        if (rc == HO_OK)
            rc = buf_appends(b, esc);
        run = ++i;
    }
    if (rc == HO_OK)
        rc = buf_append(b, s + run, n - run);
    if (rc == HO_OK)
        rc = buf_append(b, "\"", 1);
    return rc;
}

static enum ho_code json_time(struct buf *b, int64_t ms)
{
    char t[CLOCK_RFC3339_LEN];

    clock_format_rfc3339(ms, t);
    return buf_printf(b, "\"%s\"", t);
}

struct series_req {
    char agent[SERIES_AGENT_MAX + 1];
    char check[SERIES_CHECK_MAX + 1];
    const char *metric; /* NULL = not given */
    int64_t since_ms;
    int64_t until_ms; /* 0 = no bound */
    size_t limit;
};

static int series_text_ok(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    }
    return n > 0;
}

/* Splits target into agent and check; fills resp with 400 and returns -1 when bad. */
static int series_target(const char *target, size_t len, struct series_req *q,
                         struct api_response *resp)
{
    const char *slash = memchr(target, '/', len);
    size_t alen = slash != NULL ? (size_t)(slash - target) : len;
    size_t clen = slash != NULL ? len - alen - 1 : 0;

    if (alen == 0 || alen > SERIES_AGENT_MAX || !series_text_ok(target, alen)) {
        api_error(resp, HO_EINVAL, "agent", "must be an agent id or name (1-128 characters)");
        return -1;
    }
    if (clen == 0 || clen > SERIES_CHECK_MAX || !series_text_ok(slash + 1, clen)) {
        api_error(resp, HO_EINVAL, "check", "must be a check name (1-255 characters)");
        return -1;
    }
    memcpy(q->agent, target, alen);
    q->agent[alen] = '\0';
    memcpy(q->check, slash + 1, clen);
    q->check[clen] = '\0';
    return 0;
}

static int series_params(const struct api_request *req, struct series_req *q,
                         struct api_response *resp)
{
    static const char *const allowed[] = {"metric", "since", "until", "limit"};
    const char *limit;
    uint64_t n;
    size_t i, j;

    for (i = 0; i < req->nparams; i++) {
        for (j = 0; j < sizeof(allowed) / sizeof(allowed[0]); j++) {
            if (strcmp(req->params[i].key, allowed[j]) == 0)
                break;
        }
        if (j == sizeof(allowed) / sizeof(allowed[0])) {
            api_error(resp, HO_EINVAL, req->params[i].key, "unknown query parameter");
            return -1;
        }
    }
    q->metric = api_param(req, "metric");
    if (q->metric != NULL &&
        (strlen(q->metric) > 255 || !series_text_ok(q->metric, strlen(q->metric)))) {
        api_error(resp, HO_EINVAL, "metric", "must be a metric name (1-255 characters)");
        return -1;
    }
    q->until_ms = 0;
    if (api_param_time(req, "until", &q->until_ms, resp) != 0)
        return -1;
    q->since_ms = (q->until_ms != 0 ? q->until_ms : clock_wall_ms()) - SERIES_DEFAULT_SPAN;
    if (api_param_time(req, "since", &q->since_ms, resp) != 0)
        return -1;
    if (q->until_ms != 0 && q->until_ms <= q->since_ms) {
        api_error(resp, HO_EINVAL, "until", "must be after since");
        return -1;
    }
    q->limit = SERIES_DEFAULT_LIMIT;
    limit = api_param(req, "limit");
    if (limit != NULL) {
        if (parse_u64(limit, 1, STORE_SERIES_MAX_LIMIT, &n) != HO_OK) {
            api_error(resp, HO_EINVAL, "limit", "must be an integer between 1 and 10000");
            return -1;
        }
        q->limit = (size_t)n;
    }
    return 0;
}

/* What a series answer holds besides the request. */
struct series_ans {
    int64_t agent_rowid;
    char agent_id[CRYPTO_UUID_LEN];
    char agent_name[SERIES_AGENT_MAX + 1];
    char **names; /* metric names, listed when no metric= was given */
    size_t nnames;
    int names_listed;
    const char *metric; /* the metric answered, NULL when none was chosen */
    struct series_point *points;
    size_t npoints;
    int truncated;
};

static enum ho_code series_names_json(struct buf *b, const struct series_ans *a)
{
    enum ho_code rc;
    size_t i;

    rc = buf_appends(b, ",\"metrics\":[");
    for (i = 0; i < a->nnames && rc == HO_OK; i++) {
        if (i > 0)
            rc = buf_append(b, ",", 1);
        if (rc == HO_OK)
            rc = json_str(b, a->names[i]);
    }
    if (rc == HO_OK)
        rc = buf_append(b, "]", 1);
    return rc;
}

static enum ho_code series_json(struct buf *b, const struct series_req *q,
                                const struct series_ans *a)
{
    char t[CLOCK_RFC3339_LEN], v[32];
    enum ho_code rc;
    size_t i;

    rc = buf_appends(b, "{\"agent\":");
    if (rc == HO_OK)
        rc = json_str(b, a->agent_name);
    if (rc == HO_OK)
        rc = buf_printf(b, ",\"agent_id\":\"%s\",\"check\":", a->agent_id);
    if (rc == HO_OK)
        rc = json_str(b, q->check);
    if (rc == HO_OK)
        rc = buf_appends(b, ",\"metric\":");
    if (rc == HO_OK)
        rc = a->metric != NULL ? json_str(b, a->metric) : buf_appends(b, "null");
    if (rc == HO_OK && a->names_listed)
        rc = series_names_json(b, a);
    if (rc == HO_OK)
        rc = buf_appends(b, ",\"since\":");
    if (rc == HO_OK)
        rc = json_time(b, q->since_ms);
    if (rc == HO_OK)
        rc = buf_appends(b, ",\"until\":");
    if (rc == HO_OK)
        rc = q->until_ms != 0 ? json_time(b, q->until_ms) : buf_appends(b, "null");
    if (rc == HO_OK)
        rc = buf_appends(b, ",\"points\":[");
    for (i = 0; i < a->npoints && rc == HO_OK; i++) {
        clock_format_rfc3339(a->points[i].ts_ms, t);
        if (isfinite(a->points[i].value))
            prom_format_double(a->points[i].value, v);
        else
            snprintf(v, sizeof(v), "null");
        rc = buf_printf(b, "%s{\"t\":\"%s\",\"v\":%s}", i > 0 ? "," : "", t, v);
    }
    if (rc == HO_OK)
        rc = buf_printf(b, "],\"truncated\":%s}", a->truncated ? "true" : "false");
    return rc;
}

/* Finds the check, picks the metric and reads its points into a. */
static enum ho_code series_query(struct store_read *rd, const struct series_req *q,
                                 struct series_ans *a, struct ho_error *err)
{
    enum ho_code rc;
    int more = 0;

    rc = store_read_check_find(rd, q->agent, q->check, &a->agent_rowid, a->agent_id, a->agent_name,
                               sizeof(a->agent_name), err);
    if (rc != HO_OK)
        return rc;
    a->metric = q->metric;
    if (q->metric != NULL) {
        rc = store_read_metric_known(rd, a->agent_rowid, q->check, q->metric, err);
    } else {
        rc = store_read_metric_names(rd, a->agent_rowid, q->check, STORE_METRIC_NAMES_MAX,
                                     &a->names, &a->nnames, &more, err);
        a->names_listed = 1;
        if (more)
            log_warnx("series: %s/%s has more than %d metric names; listing the first",
                      a->agent_name, q->check, STORE_METRIC_NAMES_MAX);
        if (a->nnames == 1)
            a->metric = a->names[0];
    }
    if (rc != HO_OK || a->metric == NULL)
        return rc;
    a->points = xcalloc(q->limit, sizeof(*a->points));
    return store_read_series(rd, a->agent_rowid, q->check, a->metric, q->since_ms, q->until_ms,
                             q->limit, a->points, &a->npoints, &a->truncated, err);
}

void api_series_get(struct app *app, const struct api_request *req, struct api_response *resp,
                    const char *target, size_t target_len)
{
    struct store_read *rd = NULL;
    struct series_req q;
    struct series_ans a;
    struct ho_error err;
    struct buf b;
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                 resp) != HO_OK)
        return;
    memset(&q, 0, sizeof(q));
    memset(&a, 0, sizeof(a));
    if (series_target(target, target_len, &q, resp) != 0 || series_params(req, &q, resp) != 0)
        return;
    ho_error_clear(&err);
    buf_init(&b, SERIES_MAX_BYTES);
    rc = store_read_open(app->cfg.db, &rd, &err);
    if (rc == HO_OK)
        rc = series_query(rd, &q, &a, &err);
    if (rc == HO_OK)
        rc = series_json(&b, &q, &a);
    store_read_close(rd);
    store_read_names_free(a.names, a.nnames);
    free(a.points);
    if (rc != HO_OK) {
        buf_cleanup(&b);
        api_error(resp, rc, err.field, err.msg[0] != '\0' ? err.msg : "query failed");
        return;
    }
    api_json_take(resp, 200, buf_take(&b));
}

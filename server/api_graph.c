/*
 * GET /api/v1/graph.png (DESIGN.md sections 6 and 8): the series of one check
 * metric (the read behind GET /api/v1/checks/AGENT/CHECK/series, store_read.h)
 * and the check's failed and error runs (store_graph.h), drawn by graph.c.
 * Paging and chat services fetch these images themselves, so besides a read
 * token the endpoint takes a signed, expiring link (urlsign.h): exp and sig
 * over agent, check and metric. Without metric= it draws
 * healops.check.duration_ms, or the check's first metric.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_graph.h"
#include "api_impl.h"
#include "app.h"
#include "clock.h"
#include "graph.h"
#include "log.h"
#include "mem.h"
#include "parse.h"
#include "points.h"
#include "run.h"
#include "store_graph.h"
#include "store_read.h"
#include "urlsign.h"

#define GRAPH_DEFAULT_SPAN (24 * 3600 * 1000LL)
#define GRAPH_MAX_SPAN     (400 * 24 * 3600 * 1000LL)
#define GRAPH_POINTS       STORE_SERIES_MAX_LIMIT

struct graph_req {
    const char *agent, *check, *metric;
    int64_t since_ms, until_ms;
    int width, height;
};

static int graph_param_size(const struct api_request *req, const char *key, int lo, int hi, int def,
                            int *out, struct api_response *resp)
{
    const char *v = api_param(req, key);
    uint64_t n;
    char msg[80];

    *out = def;
    if (v == NULL)
        return 0;
    if (parse_u64(v, (uint64_t)lo, (uint64_t)hi, &n) != HO_OK) {
        snprintf(msg, sizeof(msg), "must be an integer between %d and %d (pixels)", lo, hi);
        api_error(resp, HO_EINVAL, key, msg);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int graph_params(const struct api_request *req, struct graph_req *q,
                        struct api_response *resp)
{
    static const char *const allowed[] = {"agent", "check",  "metric", "since", "until",
                                          "width", "height", "exp",    "sig",   NULL};

    memset(q, 0, sizeof(*q));
    if (api_params_known(req, allowed, resp) != 0 ||
        api_param_text(req, "agent", &q->agent, resp) != 0 ||
        api_param_text(req, "check", &q->check, resp) != 0 ||
        api_param_text(req, "metric", &q->metric, resp) != 0)
        return -1;
    if (q->agent == NULL || q->check == NULL) {
        api_error(resp, HO_EINVAL, q->agent == NULL ? "agent" : "check", "required");
        return -1;
    }
    q->until_ms = clock_wall_ms();
    if (api_param_time(req, "until", &q->until_ms, resp) != 0)
        return -1;
    q->since_ms = q->until_ms - GRAPH_DEFAULT_SPAN;
    if (api_param_time(req, "since", &q->since_ms, resp) != 0)
        return -1;
    if (q->until_ms <= q->since_ms || q->until_ms - q->since_ms > GRAPH_MAX_SPAN) {
        api_error(resp, HO_EINVAL, "since", "must be before until, at most 400 days apart");
        return -1;
    }
    if (graph_param_size(req, "width", GRAPH_WIDTH_MIN, GRAPH_WIDTH_MAX, GRAPH_WIDTH_DEFAULT,
                         &q->width, resp) != 0 ||
        graph_param_size(req, "height", GRAPH_HEIGHT_MIN, GRAPH_HEIGHT_MAX, GRAPH_HEIGHT_DEFAULT,
                         &q->height, resp) != 0)
        return -1;
    return 0;
}

/*
 * A read or admin token (checked before the parameters, like every endpoint), or
 * a valid signed link (checked on the parsed parameters it covers). Fills resp
 * and returns -1 when neither, or when a parameter is bad.
 */
static int graph_auth_params(struct app *app, const struct api_request *req, struct graph_req *q,
                             struct api_response *resp)
{
    const char *exp = api_param(req, "exp"), *sig = api_param(req, "sig");
    struct ho_error err;

    if (exp == NULL && sig == NULL) {
        if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                     resp) != HO_OK)
            return -1;
        return graph_params(req, q, resp);
    }
    if (graph_params(req, q, resp) != 0)
        return -1;
    ho_error_clear(&err);
    if (urlsign_graph_verify(app->urlsign, q->agent, q->check, q->metric, exp, sig, clock_wall_ms(),
                             &err) != HO_OK) {
        log_info("graph: refused a signed link from %s: %s",
                 req->remote_addr != NULL ? req->remote_addr : "-", err.msg);
        api_error(resp, HO_EPERM, err.field, err.msg);
        return -1;
    }
    return 0;
}

/* The metric to draw: metric= when it has points, else duration or the first name. */
static enum ho_code graph_metric(struct store_read *rd, int64_t agent_rowid,
                                 const struct graph_req *q, char **out, struct ho_error *err)
{
    char **names = NULL;
    size_t n = 0, i;
    int more = 0;
    enum ho_code rc;

    *out = NULL;
    if (q->metric != NULL) {
        rc = store_read_metric_known(rd, agent_rowid, q->check, q->metric, err);
        if (rc == HO_OK)
            *out = xstrdup(q->metric);
        return rc == HO_ENOENT ? HO_OK : rc;
    }
    rc = store_read_metric_names(rd, agent_rowid, q->check, STORE_METRIC_NAMES_MAX, &names, &n,
                                 &more, err);
    for (i = 0; rc == HO_OK && i < n && *out == NULL; i++) {
        if (strcmp(names[i], POINTS_DURATION) == 0)
            *out = xstrdup(names[i]);
    }
    if (rc == HO_OK && *out == NULL && n > 0)
        *out = xstrdup(names[0]);
    store_read_names_free(names, n);
    return rc;
}

/* Points and failure marks of the request into spec (arrays owned by the caller). */
static enum ho_code graph_data(struct app *app, const struct graph_req *q, struct graph_spec *spec,
                               char **title, struct ho_error *err)
{
    struct store_read *rd = NULL;
    struct series_point *pts = NULL;
    struct store_failure *fails = NULL;
    struct graph_point *gp;
    struct graph_mark *gm;
    char agent_id[CRYPTO_UUID_LEN], agent_name[STORE_NAME_MAX + 1], *metric = NULL;
    int64_t rowid;
    size_t n = 0, nf = 0, i;
    int truncated = 0;
    enum ho_code rc;

    rc = store_read_open(app->cfg.db, &rd, err);
    if (rc == HO_OK)
        rc = store_read_check_find(rd, q->agent, q->check, &rowid, agent_id, agent_name,
                                   sizeof(agent_name), err);
    if (rc == HO_OK)
        rc = graph_metric(rd, rowid, q, &metric, err);
    if (rc == HO_OK && metric != NULL) {
        pts = xcalloc(GRAPH_POINTS, sizeof(*pts));
        rc = store_read_series(rd, rowid, q->check, metric, q->since_ms, q->until_ms, GRAPH_POINTS,
                               pts, &n, &truncated, err);
    }
    store_read_close(rd);
    if (rc == HO_OK) {
        fails = xcalloc(STORE_GRAPH_FAILURES_MAX, sizeof(*fails));
        rc = store_graph_failures(app->store, rowid, q->check, q->since_ms, q->until_ms,
                                  STORE_GRAPH_FAILURES_MAX, fails, &nf, err);
    }
    if (rc == HO_OK) {
        gp = xcalloc(n > 0 ? n : 1, sizeof(*gp));
        for (i = 0; i < n; i++) {
            gp[i].ts_ms = pts[i].ts_ms;
            gp[i].value = pts[i].value;
        }
        gm = xcalloc(nf > 0 ? nf : 1, sizeof(*gm));
        for (i = 0; i < nf; i++) {
            gm[i].ts_ms = fails[i].started_at_ms;
            gm[i].duration_ms = fails[i].duration_ms;
            gm[i].error = fails[i].outcome == RUN_OUTCOME_ERROR;
        }
        spec->points = gp;
        spec->npoints = n;
        spec->marks = gm;
        spec->nmarks = nf;
        *title = xasprintf("%s  %s  %s", agent_name, q->check,
                           metric != NULL ? metric : (q->metric != NULL ? q->metric : "-"));
    }
    free(pts);
    free(fails);
    free(metric);
    return rc;
}

void api_graph_get(struct app *app, const struct api_request *req, struct api_response *resp)
{
    struct graph_spec spec;
    struct graph_req q;
    struct ho_error err;
    char *title = NULL, *png = NULL;
    size_t len = 0;
    enum ho_code rc;

    if (graph_auth_params(app, req, &q, resp) != 0)
        return;
    memset(&spec, 0, sizeof(spec));
    ho_error_clear(&err);
    rc = graph_data(app, &q, &spec, &title, &err);
    if (rc == HO_OK) {
        spec.title = title;
        spec.width = q.width;
        spec.height = q.height;
        spec.since_ms = q.since_ms;
        spec.until_ms = q.until_ms;
        rc = graph_png(&spec, &png, &len, &err);
    }
    free((void *)(uintptr_t)spec.points);
    free((void *)(uintptr_t)spec.marks);
    free(title);
    if (rc != HO_OK) {
        api_error(resp, rc, err.field, err.msg[0] != '\0' ? err.msg : "graph failed");
        return;
    }
    api_response_cleanup(resp);
    resp->status = 200;
    resp->body = png;
    resp->body_len = len;
    resp->static_body = NULL;
    resp->content_type = "image/png";
    resp->cache_control = "private, max-age=60";
}

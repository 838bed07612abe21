/*
 * GET /api/v1/insights (DESIGN.md section 6): per check, over a window
 * (default the last 7 days), how often it failed, how often its repair was
 * tried and worked, repairs per day, the mean time a repair takes, the mean
 * time from the first failed run to the next good one, and the agents on which
 * it flaps (at least N repaired runs within the flapping window).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api_insights.h"
#include "api_impl.h"
#include "app.h"
#include "clock.h"
#include "parse.h"
#include "store_insights.h"

#define INSIGHTS_DEFAULT_WINDOW_MS (7LL * 24 * 3600 * 1000)
#define INSIGHTS_MAX_WINDOW_MS     (400LL * 24 * 3600 * 1000)
#define INSIGHTS_DEFAULT_LIMIT     100
#define INSIGHTS_FLAP_REPAIRS      5    /* repaired runs ... */
#define INSIGHTS_FLAP_WINDOW_S     3600 /* ... within this many seconds */

static int insights_params(const struct api_request *req, struct insights_query *q,
                           const char **agent, struct api_response *resp)
{
    static const char *const allowed[] = {"agent", "package", "check", "since",
                                          "until", "limit", NULL};
    const char *v;
    uint64_t lim;

    if (api_params_known(req, allowed, resp) || api_param_text(req, "agent", agent, resp) ||
        api_param_text(req, "package", &q->package, resp) ||
        api_param_text(req, "check", &q->check, resp) ||
        api_param_time(req, "since", &q->since_ms, resp) ||
        api_param_time(req, "until", &q->until_ms, resp))
        return -1;
    if (q->since_ms == 0)
        q->since_ms = q->until_ms - INSIGHTS_DEFAULT_WINDOW_MS;
    if (q->until_ms <= q->since_ms) {
        api_error(resp, HO_EINVAL, "until", "must be after since");
        return -1;
    }
    if (q->until_ms - q->since_ms > INSIGHTS_MAX_WINDOW_MS) {
        api_error(resp, HO_EINVAL, "since", "the window may span at most 400 days");
        return -1;
    }
    q->limit = INSIGHTS_DEFAULT_LIMIT;
    v = api_param(req, "limit");
    if (v != NULL) {
        if (parse_u64(v, 1, INSIGHTS_MAX_CHECKS, &lim) != HO_OK) {
            api_error(resp, HO_EINVAL, "limit", "must be an integer between 1 and 1000");
            return -1;
        }
        q->limit = (size_t)lim;
    }
    return 0;
}

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char t[CLOCK_RFC3339_LEN];

    clock_format_rfc3339(ms, t);
    cJSON_AddStringToObject(o, key, t);
}

/* v (>= 0) rounded to 1/scale. */
static double round_to(double v, double scale)
{
    return (double)(int64_t)(v * scale + 0.5) / scale;
}

/* A mean rounded to a tenth, or null when there was nothing to average (v < 0). */
static void add_mean(cJSON *o, const char *key, double v)
{
    if (v < 0)
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, round_to(v, 10.0));
}

static cJSON *insight_json(const struct check_insight *c, double days)
{
    cJSON *o = cJSON_CreateObject(), *names = cJSON_AddArrayToObject(o, "flapping_agents");
    size_t i;

    cJSON_AddStringToObject(o, "package", c->package);
    cJSON_AddStringToObject(o, "check", c->check);
    cJSON_AddNumberToObject(o, "agents", (double)c->agents);
    cJSON_AddNumberToObject(o, "failures", (double)c->failures);
    cJSON_AddNumberToObject(o, "repairs_attempted", (double)c->repairs_attempted);
    cJSON_AddNumberToObject(o, "repairs_succeeded", (double)c->repairs_succeeded);
    cJSON_AddNumberToObject(o, "repairs_suppressed", (double)c->repairs_suppressed);
    if (c->repairs_attempted > 0)
        cJSON_AddNumberToObject(o, "repair_success_rate",
                                round_to((double)c->repairs_succeeded /
                                             (double)c->repairs_attempted, 1000.0));
    else
        cJSON_AddNullToObject(o, "repair_success_rate");
    cJSON_AddNumberToObject(o, "repairs_per_day",
                            round_to((double)c->repairs_attempted / days, 100.0));
    add_mean(o, "mean_repair_ms", c->mean_repair_ms);
    cJSON_AddNumberToObject(o, "incidents", (double)c->incidents);
    cJSON_AddNumberToObject(o, "open_incidents", (double)c->open_incidents);
    add_mean(o, "mean_time_to_recovery_s", c->mean_recovery_s);
    cJSON_AddBoolToObject(o, "flapping", c->flapping_agents > 0);
    cJSON_AddNumberToObject(o, "flapping_count", (double)c->flapping_agents);
    for (i = 0; i < c->nflapping_names; i++)
        cJSON_AddItemToArray(names, cJSON_CreateString(c->flapping_names[i]));
    return o;
}

static void insights_answer(const struct insights_query *q, const struct check_insight *c,
                            size_t n, struct api_response *resp)
{
    cJSON *root = cJSON_CreateObject(), *flap = cJSON_AddObjectToObject(root, "flapping_rule");
    cJSON *arr;
    double days = (double)(q->until_ms - q->since_ms) / 86400000.0;
    size_t i;

    add_time(root, "since", q->since_ms);
    add_time(root, "until", q->until_ms);
    cJSON_AddNumberToObject(flap, "repairs", (double)q->flap_repairs);
    cJSON_AddNumberToObject(flap, "window", INSIGHTS_FLAP_WINDOW_S);
    arr = cJSON_AddArrayToObject(root, "checks");
    for (i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, insight_json(&c[i], days));
    api_json_tree(resp, 200, root);
}

void api_insights_get(struct app *app, const struct api_request *req, struct api_response *resp)
{
    struct insights_query q;
    struct check_insight *c = NULL;
    struct store_read *rd = NULL;
    const char *agent = NULL;
    struct ho_error err;
    enum ho_code rc;
    size_t n = 0;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                 resp) != HO_OK)
        return;
    memset(&q, 0, sizeof(q));
    q.until_ms = clock_wall_ms();
    if (insights_params(req, &q, &agent, resp) != 0)
        return;
    q.flap_repairs = INSIGHTS_FLAP_REPAIRS;
    q.flap_since_ms = q.until_ms - INSIGHTS_FLAP_WINDOW_S * 1000LL;
    ho_error_clear(&err);
    rc = store_read_open(app->cfg.db, &rd, &err);
    if (rc == HO_OK && agent != NULL)
        rc = store_insights_agent(rd, agent, &q.agent_rowid, &err);
    if (rc == HO_OK)
        rc = store_insights_query(rd, &q, &c, &n, &err);
    store_read_close(rd);
    if (rc != HO_OK) {
        api_error(resp, rc, err.field, err.msg[0] != '\0' ? err.msg : "query failed");
        return;
    }
    insights_answer(&q, c, n, resp);
    store_insights_free(c, n);
}

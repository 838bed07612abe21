/*
 * Handlers of the read side of metrics, called by the router in api.c:
 * GET /metrics, the Prometheus exposition of the server and of the last state
 * of every check (api_metrics.c), and GET /api/v1/checks/AGENT/CHECK/series,
 * the points behind a check's graph (api_series.c).
 */
#ifndef HO_API_METRICS_H
#define HO_API_METRICS_H

#include <stddef.h>

struct app;
struct api_request;
struct api_response;

/* GET /metrics: read or admin token; text exposition format 0.0.4. */
void api_prom_get(struct app *app, const struct api_request *req, struct api_response *resp);

/*
 * GET /api/v1/checks/AGENT/CHECK/series; target is the decoded path between
 * "/checks/" and "/series" ("web01/disk.root"): the agent (id or name) up to the
 * first '/', the check name (which may itself hold '/') after it.
 */
void api_series_get(struct app *app, const struct api_request *req, struct api_response *resp,
                    const char *target, size_t target_len);

#endif

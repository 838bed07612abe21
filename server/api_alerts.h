/*
 * Alert endpoints (DESIGN.md sections 6 and 8): the alert history with each
 * alert's deliveries, the receivers' delivery counters, and the "alert" field
 * of GET /api/v1/state. Never a URL, header or body of the outbox: they may
 * hold secrets.
 */
#ifndef HO_API_ALERTS_H
#define HO_API_ALERTS_H

struct api_request;
struct api_response;
struct app;
struct cJSON;

/*
 * GET /api/v1/alerts (read token): filters agent, check, package, kind,
 * state=open|resolved, since, until (on opened_at), limit, cursor; newest
 * first. 400 naming a bad parameter.
 */
void api_alerts_get(struct app *app, const struct api_request *req, struct api_response *resp);

/* GET /api/v1/receivers (read token): each configured receiver and its counters. */
void api_receivers_get(struct app *app, const struct api_request *req, struct api_response *resp);

#endif

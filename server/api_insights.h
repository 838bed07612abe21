/*
 * GET /api/v1/insights: repair statistics per check (api_insights.c).
 */
#ifndef HO_API_INSIGHTS_H
#define HO_API_INSIGHTS_H

#include "api.h"

struct app;

void api_insights_get(struct app *app, const struct api_request *req, struct api_response *resp);

#endif

/*
 * GET /api/v1/graph.png (DESIGN.md section 6): the graph of one check metric
 * as a PNG, for alerts and chat. Auth: a read or admin token, or a signed,
 * unexpired link made by urlsign_graph_url (urlsign.h).
 */
#ifndef HO_API_GRAPH_H
#define HO_API_GRAPH_H

struct api_request;
struct api_response;
struct app;

/*
 * Query: agent, check (required), metric, since, until, width, height, and
 * exp + sig for signed links. 200 image/png; 400 naming a bad parameter;
 * 401 without token or signature; 403 for a bad or expired signature;
 * 404 for an unknown agent or check.
 */
void api_graph_get(struct app *app, const struct api_request *req, struct api_response *resp);

#endif

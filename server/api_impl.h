/*
 * Declarations shared by the api_*.c handler modules (not used elsewhere).
 */
#ifndef HO_API_IMPL_H
#define HO_API_IMPL_H

#include <stdint.h>

#include "api.h"
#include "store.h"

struct app;
struct cJSON;

#define API_SCOPE(s) (1u << (s))

struct api_principal {
    enum token_scope scope;
    char agent_id[CRYPTO_UUID_LEN]; /* for agent tokens */
    int64_t token_id;
};

/*
 * Checks the bearer token against the scopes allowed (API_SCOPE bits). On
 * failure fills resp (401 no/bad token, 403 wrong scope) and returns non-OK.
 */
enum ho_code api_auth(struct app *app, const struct api_request *req, unsigned scopes,
                      struct api_principal *who, struct api_response *resp);
/*
 * Parses RFC 3339 query parameter key into *out (left as it is when absent). On a bad
 * value fills resp with a 400 naming key and returns -1; else 0.
 */
int api_param_time(const struct api_request *req, const char *key, int64_t *out,
                   struct api_response *resp);
/* api_params.c: each fills resp with a 400 naming the parameter and returns -1 on a bad value. */
#define API_DEFAULT_LIMIT 100
/* Refuses parameters not in the NULL-terminated list allowed. */
int api_params_known(const struct api_request *req, const char *const *allowed,
                     struct api_response *resp);
/* Text parameter key: 1 to 255 bytes, no control characters; *out NULL when absent. */
int api_param_text(const struct api_request *req, const char *key, const char **out,
                   struct api_response *resp);
/* "limit": 1..STORE_MAX_LIMIT, default API_DEFAULT_LIMIT. */
int api_param_limit(const struct api_request *req, size_t *out, struct api_response *resp);
/* "outcome": an enum run_outcome name; *out -1 when absent. */
int api_param_outcome(const struct api_request *req, int *out, struct api_response *resp);
/* "cursor": opaque, bounded; *out NULL when absent. */
int api_param_cursor(const struct api_request *req, const char **out, struct api_response *resp);
/* Value of query parameter key, NULL when absent. */
const char *api_param(const struct api_request *req, const char *key);
/* Makes resp a JSON response taking ownership of the malloc'd text json. */
void api_json_take(struct api_response *resp, int status, char *json);
/* Makes resp a JSON response from a cJSON tree (printed unformatted, then deleted). */
void api_json_tree(struct api_response *resp, int status, struct cJSON *tree);

/* Handlers (api_ingest.c) */
void api_enroll(struct app *app, const struct api_request *req, struct api_response *resp);
void api_runs_post(struct app *app, const struct api_request *req, struct api_response *resp);
void api_heartbeat(struct app *app, const struct api_request *req, struct api_response *resp);
void api_tokens_post(struct app *app, const struct api_request *req, struct api_response *resp);
void api_tokens_delete(struct app *app, const struct api_request *req, struct api_response *resp,
                       const char *id_text);
void api_metrics_post(struct app *app, const struct api_request *req, struct api_response *resp);
/* Handlers (api_forwarders.c) */
void api_forwarders_get(struct app *app, const struct api_request *req,
                        struct api_response *resp);
/* Handlers (api_query.c) */
void api_runs_get(struct app *app, const struct api_request *req, struct api_response *resp,
                  int repairs_only);
void api_state_get(struct app *app, const struct api_request *req, struct api_response *resp);
void api_state_summary_get(struct app *app, const struct api_request *req,
                           struct api_response *resp);
void api_agents_get(struct app *app, const struct api_request *req, struct api_response *resp);
void api_agent_get(struct app *app, const struct api_request *req, struct api_response *resp,
                   const char *id);

#endif

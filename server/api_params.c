/*
 * Query parameter parsing shared by the read endpoints: each helper checks one
 * parameter, and on a bad value fills the response with a 400 naming it and
 * returns -1 (0 when the value is absent or good).
 */
#include <stdlib.h>
#include <string.h>

#include "api_impl.h"
#include "clock.h"
#include "parse.h"
#include "run.h"

/* Refuses parameters not in the NULL-terminated list allowed. */
int api_params_known(const struct api_request *req, const char *const *allowed,
                            struct api_response *resp)
{
    size_t i, j;

    for (i = 0; i < req->nparams; i++) {
        for (j = 0; allowed[j] != NULL; j++) {
            if (strcmp(req->params[i].key, allowed[j]) == 0)
                break;
        }
        if (allowed[j] == NULL) {
            api_error(resp, HO_EINVAL, req->params[i].key, "unknown query parameter");
            return -1;
        }
    }
    return 0;
}

int api_param_text(const struct api_request *req, const char *key, const char **out,
                          struct api_response *resp)
{
    const char *v = api_param(req, key);
    size_t i;

    *out = NULL;
    if (v == NULL)
        return 0;
    if (v[0] == '\0' || strlen(v) > 255) {
        api_error(resp, HO_EINVAL, key, "must be 1 to 255 characters");
        return -1;
    }
    for (i = 0; v[i] != '\0'; i++) {
        if ((unsigned char)v[i] < 0x20) {
            api_error(resp, HO_EINVAL, key, "must not contain control characters");
            return -1;
        }
    }
    *out = v;
    return 0;
}

int api_param_time(const struct api_request *req, const char *key, int64_t *out,
                   struct api_response *resp)
{
    const char *v = api_param(req, key);

    if (v == NULL)
        return 0;
    if (clock_parse_rfc3339(v, out) != HO_OK) {
        api_error(resp, HO_EINVAL, key, "must be an RFC 3339 time like 2026-11-24T14:00:00Z");
        return -1;
    }
    return 0;
}

int api_param_limit(const struct api_request *req, size_t *out, struct api_response *resp)
{
    const char *v = api_param(req, "limit");
    uint64_t n;

    *out = API_DEFAULT_LIMIT;
    if (v == NULL)
        return 0;
    if (parse_u64(v, 1, STORE_MAX_LIMIT, &n) != HO_OK) {
        api_error(resp, HO_EINVAL, "limit", "must be an integer between 1 and 1000");
        return -1;
    }
    *out = (size_t)n;
    return 0;
}

int api_param_outcome(const struct api_request *req, int *out, struct api_response *resp)
{
    const char *v = api_param(req, "outcome");
    enum run_outcome o;

    *out = -1;
    if (v == NULL)
        return 0;
    if (run_outcome_parse(v, &o) != HO_OK) {
        api_error(resp, HO_EINVAL, "outcome", "must be one of ok, repaired, failed, error");
        return -1;
    }
    *out = (int)o;
    return 0;
}

int api_param_cursor(const struct api_request *req, const char **out,
                            struct api_response *resp)
{
    const char *v = api_param(req, "cursor");

    *out = NULL;
    if (v == NULL)
        return 0;
    if (v[0] == '\0' || strlen(v) >= STORE_CURSOR_LEN) {
        api_error(resp, HO_EINVAL, "cursor", "invalid cursor");
        return -1;
    }
    *out = v;
    return 0;
}


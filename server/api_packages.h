/*
 * Package distribution endpoints (DESIGN.md sections 5 and 6): publishing
 * bundles, listing packages, serving bundle bytes, assignments, and the
 * versions each agent is to run (GET /api/v1/agents/self/packages).
 */
#ifndef HO_API_PACKAGES_H
#define HO_API_PACKAGES_H

#include <stddef.h>

#include "api.h"
#include "error.h"

struct app;
struct cJSON;
struct pkg_error;

#define API_MAX_PACKAGE_ERRORS 64   /* entries of a heartbeat's "package_errors" */
#define API_PACKAGE_ERROR_MAX  1024 /* bytes of one error text */

/*
 * Loads the configured publisher keys (cfg.publisher_keys) into app. Fails naming
 * the file when one is not an Ed25519 public key.
 */
enum ho_code api_packages_init(struct app *app, struct ho_error *err) HO_WUR;
void api_packages_cleanup(struct app *app);

/*
 * Routes path p (after "/api/v1") when it is a package route: /packages,
 * /packages/NAME, /packages/NAME/VERSION/bundle, /assignments/NAME and
 * /agents/self/packages. Returns 0 (resp untouched) for any other path.
 */
int api_packages_route(struct app *app, const struct api_request *req, const char *p,
                       struct api_response *resp);

/*
 * Validates a heartbeat's "package_errors" array into a new array *out of *n (caller
 * frees the array; the strings are borrowed from a). On a bad value fills resp with
 * a 400 naming the field and returns -1; else 0.
 */
int api_package_errors_parse(const struct cJSON *a, struct pkg_error **out, size_t *n,
                             struct api_response *resp);

#endif

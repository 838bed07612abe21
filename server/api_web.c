/*
 * Serving the built-in dashboard assets. The files need no authentication
 * (they hold no data: the page asks the API with the read token the person
 * enters); every response carries the server's Content-Security-Policy
 * (server/http.c), so the page runs only its own script.
 */
#include <string.h>

#include "api_web.h"
#include "embedded.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    const char *ext;
    const char *type;
} web_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
};

static const char *web_type(const char *path)
{
    size_t n = strlen(path), e, i;

    for (i = 0; i < NELEM(web_types); i++) {
        e = strlen(web_types[i].ext);
        if (n > e && strcmp(path + n - e, web_types[i].ext) == 0)
            return web_types[i].type;
    }
    return "application/octet-stream";
}

int api_web_get(const struct api_request *req, struct api_response *resp)
{
    const char *path = req->path;
    size_t i;

    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return 0;
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (i = 0; i < web_assets_n; i++) {
        if (web_assets[i].path == NULL || strcmp(web_assets[i].path, path) != 0)
            continue;
        api_response_cleanup(resp);
        resp->status = 200;
        resp->static_body = web_assets[i].data;
        resp->body = NULL;
        resp->body_len = web_assets[i].len;
        resp->content_type = web_type(path);
        resp->cache_control = "no-cache";
        api_etag(req, resp);
        return 1;
    }
    return 0;
}

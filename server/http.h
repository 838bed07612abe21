/*
 * The HTTPS front end (libmicrohttpd with TLS): accepts requests, bounds
 * their size, and hands them to api_handle.
 */
#ifndef HO_HTTP_H
#define HO_HTTP_H

#include "error.h"

struct app;
struct http_server;

/* Starts listening on app->cfg.listen with app->cfg's certificate and key. */
enum ho_code http_start(struct app *app, struct http_server **out, struct ho_error *err) HO_WUR;
/* Stops accepting, lets in-flight requests finish (up to grace_ms), then stops. */
void http_stop(struct http_server *srv, int grace_ms);
/* The port actually bound (useful with port 0). */
int http_port(struct http_server *srv);

#endif

/*
 * The web dashboard (DESIGN.md section 9): the files of web/ (html, css, js,
 * svg) are built into the binary by deploy/embed.sh and served at "/".
 */
#ifndef HO_API_WEB_H
#define HO_API_WEB_H

#include "api.h"

/*
 * Serves GET/HEAD of "/" (index.html) or of a built-in asset with its content
 * type, an ETag (304 on If-None-Match) and "no-cache" (revalidate each time,
 * so a new server version is picked up at once). Returns 0 when req names no
 * asset, leaving resp alone.
 */
int api_web_get(const struct api_request *req, struct api_response *resp);

#endif

/*
 * Error codes, their names and HTTP statuses, and error reports.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

const char *ho_code_str(enum ho_code rc)
{
    switch (rc) {
    case HO_OK:
        return "OK";
    case HO_EINVAL:
        return "EINVAL";
    case HO_ENOENT:
        return "ENOENT";
    case HO_EEXIST:
        return "EEXIST";
    case HO_ETOOBIG:
        return "ETOOBIG";
    case HO_EAUTH:
        return "EAUTH";
    case HO_EPERM:
        return "EPERM";
    case HO_ELIMIT:
        return "ELIMIT";
    case HO_EIO:
        return "EIO";
    case HO_EDB:
        return "EDB";
    case HO_ETIMEOUT:
        return "ETIMEOUT";
    case HO_EBUSY:
        return "EBUSY";
    case HO_EINTERNAL:
        return "EINTERNAL";
    }
    return "EUNKNOWN";
}

int ho_code_http_status(enum ho_code rc)
{
    switch (rc) {
    case HO_OK:
        return 200;
    case HO_EINVAL:
        return 400;
    case HO_ENOENT:
        return 404;
    case HO_EEXIST:
        return 409;
    case HO_ETOOBIG:
        return 413;
    case HO_EAUTH:
        return 401;
    case HO_EPERM:
        return 403;
    case HO_ELIMIT:
        return 429;
    case HO_EIO:
    case HO_EDB:
    case HO_ETIMEOUT:
    case HO_EBUSY:
        return 503;
    case HO_EINTERNAL:
        return 500;
    }
    return 500;
}

void ho_error_clear(struct ho_error *err)
{
    if (err == NULL)
        return;
    err->msg[0] = '\0';
    err->field[0] = '\0';
}

enum ho_code ho_error_set(struct ho_error *err, enum ho_code rc, const char *field,
                          const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return rc;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof(err->field), "%s", field != NULL ? field : "");
    return rc;
}

void ho_error_prefix_field(struct ho_error *err, const char *prefix)
{
    char tmp[HO_ERROR_FIELD_MAX];

    if (err == NULL || prefix == NULL || prefix[0] == '\0')
        return;
    if (err->field[0] == '\0')
        snprintf(tmp, sizeof(tmp), "%s", prefix);
    else if (err->field[0] == '[')
        snprintf(tmp, sizeof(tmp), "%s%s", prefix, err->field);
    else
        snprintf(tmp, sizeof(tmp), "%s.%s", prefix, err->field);
    memcpy(err->field, tmp, sizeof(tmp));
}

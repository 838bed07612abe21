/*
 * Error codes and error reports shared by every HealOps module.
 * Fallible functions return enum ho_code; when a person must learn why,
 * they also fill a struct ho_error (message plus the JSON field at fault).
 */
#ifndef HO_ERROR_H
#define HO_ERROR_H

enum ho_code {
    HO_OK = 0,
    HO_EINVAL,   /* bad input: 400 */
    HO_ENOENT,   /* not found: 404 */
    HO_EEXIST,   /* already exists / conflict: 409 */
    HO_ETOOBIG,  /* over a size or count limit: 413 */
    HO_EAUTH,    /* missing or bad credentials: 401 */
    HO_EPERM,    /* authenticated but not allowed: 403 */
    HO_ELIMIT,   /* rate limited: 429 */
    HO_EIO,      /* I/O or network failure: 503 */
    HO_EDB,      /* database failure: 503 */
    HO_ETIMEOUT, /* timed out: 503 */
    HO_EBUSY,    /* temporarily unavailable: 503 */
    HO_EINTERNAL /* a bug: 500 */
};

#define HO_ERROR_MSG_MAX   512
#define HO_ERROR_FIELD_MAX 128

struct ho_error {
    char msg[HO_ERROR_MSG_MAX];     /* what went wrong, for a person */
    char field[HO_ERROR_FIELD_MAX]; /* JSON path of the field at fault, or "" */
};

/* Name of a code ("EINVAL"); never NULL. */
const char *ho_code_str(enum ho_code rc);

/* HTTP status a code maps to (HO_EINVAL -> 400 ...). */
int ho_code_http_status(enum ho_code rc);

/* Clears an error report; NULL is accepted. */
void ho_error_clear(struct ho_error *err);

/*
 * Fills err (if not NULL) with field (may be NULL) and a printf-style message,
 * and returns rc so callers can write "return ho_error_set(err, HO_EINVAL, ...)".
 */
enum ho_code ho_error_set(struct ho_error *err, enum ho_code rc, const char *field,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prefixes err->field with "prefix." or "prefix" when field is empty ("runs[3]"). */
void ho_error_prefix_field(struct ho_error *err, const char *prefix);

#define HO_WUR __attribute__((warn_unused_result))

#endif

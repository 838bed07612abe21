/*
 * Strict number parsing (the role of OpenBSD's strtonum): no atoi, no
 * unchecked strtol anywhere else.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

enum ho_code parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s == NULL || !isdigit((unsigned char)s[0]))
        return HO_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return HO_EINVAL;
    *out = (uint64_t)v;
    return HO_OK;
}

enum ho_code parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    long long v;

    if (s == NULL || s[0] == '\0' || isspace((unsigned char)s[0]))
        return HO_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return HO_EINVAL;
    *out = (int64_t)v;
    return HO_OK;
}

enum ho_code parse_double(const char *s, double *out)
{
    char *end = NULL;
    double v;

    if (s == NULL || s[0] == '\0' || isspace((unsigned char)s[0]))
        return HO_EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (errno == ERANGE || end == s || *end != '\0' || !isfinite(v))
        return HO_EINVAL;
    *out = v;
    return HO_OK;
}

enum ho_code parse_host_port(const char *s, char *host, unsigned long hn, int *port)
{
    const char *colon, *hs = s, *he;
    uint64_t p;

    if (s == NULL)
        return HO_EINVAL;
    if (s[0] == '[') {
        he = strchr(s, ']');
        if (he == NULL || he[1] != ':')
            return HO_EINVAL;
        hs = s + 1;
        colon = he + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return HO_EINVAL;
        he = colon;
    }
    if (he == hs || (unsigned long)(he - hs) >= hn)
        return HO_EINVAL;
    if (parse_u64(colon + 1, 1, 65535, &p) != HO_OK)
        return HO_EINVAL;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    *port = (int)p;
    return HO_OK;
}

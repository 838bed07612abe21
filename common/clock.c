/*
 * Clocks and RFC 3339 time stamps (RFC 3339 section 5.6, UTC on output).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static int64_t clock_override_ms;

int64_t clock_wall_ms(void)
{
    struct timespec ts;

    if (clock_override_ms != 0)
        return clock_override_ms;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_set_wall_override(int64_t ms)
{
    clock_override_ms = ms;
}

void clock_format_rfc3339(int64_t ms, char *out)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(out, CLOCK_RFC3339_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             frac);
}

static int clock_digits(const char *s, int n, int *out)
{
    int i, v = 0;

    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int clock_days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 ? 28 + leap : days[m - 1];
}

enum ho_code clock_parse_rfc3339(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, se, oh = 0, om = 0, frac = 0, i, sign = 0;
    struct tm tm;
    int64_t secs;
    const char *p;

    if (s == NULL || strlen(s) < 20 || strlen(s) > 40)
        return HO_EINVAL;
    if (clock_digits(s, 4, &y) || s[4] != '-' || clock_digits(s + 5, 2, &mo) || s[7] != '-' ||
        clock_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        clock_digits(s + 11, 2, &h) || s[13] != ':' || clock_digits(s + 14, 2, &mi) ||
        s[16] != ':' || clock_digits(s + 17, 2, &se))
        return HO_EINVAL;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > clock_days_in_month(y, mo) || h > 23 ||
        mi > 59 || se > 60)
        return HO_EINVAL;
    p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return HO_EINVAL;
        for (i = 0; isdigit((unsigned char)*p); i++, p++) {
            if (i < 3)
                frac = frac * 10 + (*p - '0');
            if (i > 9)
                return HO_EINVAL;
        }
        for (; i < 3; i++)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        if (clock_digits(p + 1, 2, &oh) || p[3] != ':' || clock_digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return HO_EINVAL;
        p += 6;
    } else {
        return HO_EINVAL;
    }
    if (*p != '\0')
        return HO_EINVAL;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se > 59 ? 59 : se;
    secs = (int64_t)timegm(&tm);
    secs -= (int64_t)sign * (oh * 3600 + om * 60);
    if (secs < 0)
        return HO_EINVAL;
    *ms = secs * 1000 + frac;
    return HO_OK;
}

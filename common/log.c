/*
 * logfmt logging to stderr: ts=... level=... prog=... msg="...".
 * Each line is formatted in a local buffer and written with one write(2)
 * so lines from several threads never interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_ident = "healops";
static enum log_level log_level_cur = LOG_LEVEL_INFO;

void log_init(const char *ident, enum log_level level)
{
    log_ident = ident;
    log_level_cur = level;
}

void log_set_level(enum log_level level)
{
    log_level_cur = level;
}

enum log_level log_get_level(void)
{
    return log_level_cur;
}

const char *log_level_str(enum log_level level)
{
    switch (level) {
    case LOG_LEVEL_ERROR:
        return "error";
    case LOG_LEVEL_WARN:
        return "warn";
    case LOG_LEVEL_INFO:
        return "info";
    case LOG_LEVEL_DEBUG:
        return "debug";
    }
    return "info";
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const enum log_level all[] = {LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
                                         LOG_LEVEL_DEBUG};
    size_t i;

    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(s, log_level_str(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = LOG_LEVEL_WARN;
        return 0;
    }
    return -1;
}

char *log_safe(char *dst, unsigned long n, const char *src)
{
    unsigned long o = 0;
    const unsigned char *p = (const unsigned char *)src;

    if (n == 0)
        return dst;
    for (; p != NULL && *p != '\0'; p++) {
        if (*p >= 0x20 && *p < 0x7f) {
            if (o + 1 >= n)
                goto trunc;
            dst[o++] = (char)*p;
        } else {
            if (o + 4 >= n)
                goto trunc;
            snprintf(dst + o, 5, "\\x%02x", *p);
            o += 4;
        }
    }
    dst[o] = '\0';
    return dst;
trunc:
    /* room for "..." and the NUL: the text is cut at n - 4 */
    if (n >= 4) {
        if (o > n - 4)
            o = n - 4;
        memcpy(dst + o, "...", 3);
        o += 3;
    } else if (o > n - 1) {
        o = n - 1;
    }
    dst[o] = '\0';
    return dst;
}

static void log_emit(enum log_level level, int with_errno, int saved, const char *fmt,
                     va_list ap) __attribute__((format(printf, 4, 0)));

static void log_emit(enum log_level level, int with_errno, int saved, const char *fmt,
                     va_list ap)
{
    char msg[2048], line[4608];
    struct timespec ts;
    struct tm tm;
    size_t o = 0;
    int n;
    const char *p;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line),
                 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s prog=%s msg=\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, ts.tv_nsec / 1000000, log_level_str(level), log_ident);
    o = (size_t)n;
    for (p = msg; *p != '\0' && o < sizeof(line) - 600; p++) {
        if (*p == '"' || *p == '\\') {
            line[o++] = '\\';
            line[o++] = *p;
        } else if (*p == '\n') {
            line[o++] = '\\';
            line[o++] = 'n';
        } else {
            line[o++] = *p;
        }
    }
    line[o++] = '"';
    if (with_errno) {
        n = snprintf(line + o, sizeof(line) - o - 2, " error=\"%s\"", strerror(saved));
        if (n > 0)
            o += (size_t)n;
    }
    line[o++] = '\n';
    if (write(STDERR_FILENO, line, o) < 0) {
        /* nowhere else to report it */
    }
}

#define LOG_BODY(level, with_errno)                                                            \
    do {                                                                                       \
        va_list ap;                                                                            \
        int saved = errno;                                                                     \
        if ((level) > log_level_cur)                                                           \
            return;                                                                            \
        va_start(ap, fmt);                                                                     \
        log_emit((level), (with_errno), saved, fmt, ap);                                       \
        va_end(ap);                                                                            \
        errno = saved;                                                                         \
    } while (0)

void log_warn(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_WARN, 1);
}

void log_warnx(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_WARN, 0);
}

void log_error(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_ERROR, 0);
}

void log_info(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_INFO, 0);
}

void log_debug(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_DEBUG, 0);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    va_start(ap, fmt);
    log_emit(LOG_LEVEL_ERROR, 1, saved, fmt, ap);
    va_end(ap);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_emit(LOG_LEVEL_ERROR, 0, 0, fmt, ap);
    va_end(ap);
    exit(1);
}

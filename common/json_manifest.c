/*
 * The package manifest healops-package.json (DESIGN.md section 3) into struct
 * manifest. The text is parsed once with cJSON, walked at once into typed records
 * and freed in manifest_parse; no cJSON value leaves this file (STYLE.md 7).
 * Validation is strict because a manifest decides what runs, often as root, on
 * every node: unknown or duplicate keys, wrong types, fractional numbers and
 * out-of-range values are errors naming their JSON path ("checks[1].interval"),
 * so a typo cannot silently disable a check. Each built-in probe is described by
 * a table of its options (after REDIS config.c static_configs) plus a function
 * for the rules spanning options. manifest_load_dir adds what needs the file
 * system: every package executable must resolve, symlinks included, to an
 * executable regular file inside the package folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "manifest.h"
#include "mem.h"

#define MF_PKG_NAME_MAX     64
#define MF_CHECK_NAME_MAX   128
#define MF_VERSION_MAX      64
#define MF_ENV_MAX          64
#define MF_DESC_MAX         1024
#define MF_TAGS_MAX         16
#define MF_TAG_MAX          255
#define MF_ARG_MAX          4096
#define MF_URL_MAX          2048
#define MF_DOCS_MAX         16
#define MF_ADVICE_MAX       4096
#define MF_LOGIN_MAX        512
#define MF_HOST_MAX         255
#define MF_USER_MAX         32
#define MF_REGEX_MAX        1024
#define MF_PATH_MAX         4096
#define MF_TIMEOUT_MS_MAX   600000
#define MF_REPAIRS_MAX      1000
#define MF_WINDOW_MAX       604800
#define MF_MB_MAX           (1LL << 53) /* exact in a JSON double */
#define MF_INTERVAL_DEFAULT 60
#define MF_REPAIRS_DEFAULT  3
#define MF_WINDOW_DEFAULT   3600
#define MF_TCP_TIMEOUT_MS   1000

/* How a free-text string is checked (text_check). */
enum text_kind {
    TEXT_LINE,    /* UTF-8, no control characters */
    TEXT_MULTI,   /* UTF-8, no control characters but newline and tab */
    TEXT_URL,     /* http:// or https:// with a host, printable ASCII */
    TEXT_HOST,    /* host name or IP address */
    TEXT_USER,    /* portable user name */
    TEXT_ABSPATH, /* absolute path */
    TEXT_REGEX    /* POSIX extended regular expression */
};

static const struct {
    const char *name;
    enum test_status status;
} repair_on_names[] = {
    {"warning", TEST_STATUS_WARNING},
    {"critical", TEST_STATUS_CRITICAL},
    {"unknown", TEST_STATUS_UNKNOWN},
};

static const char *const severities[] = {"critical", "warning", "info", NULL};

const char *probe_kind_str(enum probe_kind k)
{
    switch (k) {
    case PROBE_EXEC:
        return "exec";
    case PROBE_TCP:
        return "tcp";
    case PROBE_HTTP:
        return "http";
    case PROBE_PROCESS:
        return "process";
    case PROBE_FILE:
        return "file";
    case PROBE_DISK:
        return "disk";
    case PROBE_COMMAND:
        return "command";
    }
    return "unknown";
}

/* ---- character classes and string shapes ---- */

static int is_alnum(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

int manifest_name_ok(const char *s, int lower)
{
    const char *p;

    if (!is_alnum((unsigned char)s[0]))
        return 0;
    for (p = s; *p != '\0'; p++) {
        if (lower && *p >= 'A' && *p <= 'Z')
            return 0;
        if (!is_alnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return 0;
    }
    return 1;
}

/* Rejects overlong forms, surrogates and code points past U+10FFFF. */
static int utf8_ok(const unsigned char *p)
{
    unsigned cp;
    size_t i, n;

    while (*p != '\0') {
        if (*p < 0x80) {
            p++;
            continue;
        }
        if (*p >= 0xc2 && *p <= 0xdf)
            n = 1;
        else if (*p >= 0xe0 && *p <= 0xef)
            n = 2;
        else if (*p >= 0xf0 && *p <= 0xf4)
            n = 3;
        else
            return 0;
        cp = *p & (0x3fu >> n);
        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        p += n + 1;
    }
    return 1;
}

static int text_ok(const char *s, int multiline)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (multiline && (*p == '\n' || *p == '\t'))
            continue;
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    }
    return utf8_ok((const unsigned char *)s);
}

static int url_ok(const char *s)
{
    const char *p;

    if (strncasecmp(s, "http://", 7) == 0)
        p = s + 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        p = s + 8;
    else
        return 0;
    if (*p == '\0' || *p == '/' || *p == '?' || *p == '#')
        return 0;
    for (p = s; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return 0;
    return 1;
}

/* Host names and IPv4/IPv6 literals: letters, digits, '.', '-', '_', ':'. */
static int host_ok(const char *s)
{
    const char *p;

    if (s[0] == '\0' || s[0] == '-')
        return 0;
    for (p = s; *p != '\0'; p++)
        if (!is_alnum((unsigned char)*p) && strchr(".-_:", *p) == NULL)
            return 0;
    return 1;
}

/* Portable user names: [A-Za-z0-9_.][A-Za-z0-9_.-]*. */
static int user_ok(const char *s)
{
    const char *p;

    if (s[0] == '\0' || s[0] == '-')
        return 0;
    for (p = s; *p != '\0'; p++)
        if (!is_alnum((unsigned char)*p) && strchr("._-", *p) == NULL)
            return 0;
    return 1;
}

/* A numeric identifier: digits, no leading zero. */
static int semver_num(const char **pp)
{
    const char *p = *pp;

    while (is_digit((unsigned char)*p))
        p++;
    if (p == *pp || (p - *pp > 1 && **pp == '0'))
        return 0;
    *pp = p;
    return 1;
}

/* Dot-separated [0-9A-Za-z-]+; numeric ones without leading zero when strict. */
static int semver_idents(const char **pp, int strict)
{
    const char *p = *pp, *s;
    int digits;

    for (;;) {
        s = p;
        digits = 1;
        for (; is_alnum((unsigned char)*p) || *p == '-'; p++)
            if (!is_digit((unsigned char)*p))
                digits = 0;
        if (p == s || (strict && digits && p - s > 1 && *s == '0'))
            return 0;
        if (*p != '.')
            break;
        p++;
    }
    *pp = p;
    return 1;
}

int manifest_semver_ok(const char *s)
{
    const char *p = s;

    if (!semver_num(&p) || *p != '.')
        return 0;
    p++;
    if (!semver_num(&p) || *p != '.')
        return 0;
    p++;
    if (!semver_num(&p))
        return 0;
    if (*p == '-') {
        p++;
        if (!semver_idents(&p, 1))
            return 0;
    }
    if (*p == '+') {
        p++;
        if (!semver_idents(&p, 0))
            return 0;
    }
    return *p == '\0';
}

#define MF_REGEX_MAX_QUANT 32 /* repetition operators in one regex */

/*
 * Stacked or very many repetition operators ("a****", "(a+)+...") make glibc's regcomp
 * and regexec take seconds to minutes (found by fuzzing): refuse them up front.
 */
static enum ho_code regex_shape(const char *s, const char *field, struct ho_error *err)
{
    int quant = 0, prev = 0, is_q;
    const char *p;

    for (p = s; *p != '\0'; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
            prev = 0;
            continue;
        }
        is_q = *p == '*' || *p == '+' || *p == '?' || *p == '{';
        if (is_q && prev)
            return ho_error_set(err, HO_EINVAL, field, "repetition operators must not follow "
                                "each other");
        if (is_q && ++quant > MF_REGEX_MAX_QUANT)
            return ho_error_set(err, HO_EINVAL, field, "at most %d repetition operators",
                                MF_REGEX_MAX_QUANT);
        if (*p == '{') {
            while (p[1] != '\0' && p[1] != '}')
                p++;
        }
        prev = is_q || (*p == '}' && quant > 0 && prev);
    }
    return HO_OK;
}

static enum ho_code regex_check(const char *s, const char *field, struct ho_error *err)
{
    regex_t re;
    char why[128];
    int r;

    if (regex_shape(s, field, err) != HO_OK)
        return HO_EINVAL;
    r = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);
    if (r != 0) {
        regerror(r, &re, why, sizeof(why));
        return ho_error_set(err, HO_EINVAL, field, "is not a valid regular expression: %s", why);
    }
    regfree(&re);
    return HO_OK;
}

static enum ho_code text_check(const char *s, enum text_kind kind, const char *field,
                               struct ho_error *err)
{
    switch (kind) {
    case TEXT_LINE:
    case TEXT_MULTI:
        if (text_ok(s, kind == TEXT_MULTI))
            return HO_OK;
        return ho_error_set(err, HO_EINVAL, field, "must be UTF-8 text without control characters");
    case TEXT_URL:
        if (url_ok(s))
            return HO_OK;
        return ho_error_set(err, HO_EINVAL, field, "must be an http:// or https:// URL");
    case TEXT_HOST:
        if (host_ok(s))
            return HO_OK;
        return ho_error_set(err, HO_EINVAL, field, "must be a host name or IP address");
    case TEXT_USER:
        if (user_ok(s))
            return HO_OK;
        return ho_error_set(err, HO_EINVAL, field,
                            "must be a user name ([A-Za-z0-9_.][A-Za-z0-9_.-]*)");
    case TEXT_ABSPATH:
        if (s[0] == '/' && text_ok(s, 0))
            return HO_OK;
        return ho_error_set(err, HO_EINVAL, field, "must be an absolute path");
    case TEXT_REGEX:
        return regex_check(s, field, err);
    }
    return ho_error_set(err, HO_EINTERNAL, field, "unknown text kind");
}

/* ---- typed access to JSON members; errors name the key, callers prefix the path ---- */

static const cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* Every member of obj must be in allowed (NULL-terminated) and appear once. */
static enum ho_code keys_check(const cJSON *obj, const char *const *allowed, struct ho_error *err)
{
    const cJSON *it, *prev;
    char key[64];
    size_t i;

    cJSON_ArrayForEach(it, obj) {
        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(it->string, allowed[i]) == 0)
                break;
        log_safe(key, sizeof(key), it->string);
        if (allowed[i] == NULL)
            return ho_error_set(err, HO_EINVAL, key, "unknown key \"%s\"", key);
        /* Only known keys precede it, so this stays short. */
        for (prev = obj->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0)
                return ho_error_set(err, HO_EINVAL, key, "duplicate key \"%s\"", key);
    }
    return HO_OK;
}

static enum ho_code get_ll(const cJSON *obj, const char *key, long long min, long long max,
                           long long def, long long *out, struct ho_error *err)
{
    const cJSON *it = member(obj, key);
    double d;

    if (it == NULL) {
        *out = def;
        return HO_OK;
    }
    d = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    if (isfinite(d) && d == floor(d) && d >= (double)min && d <= (double)max) {
        *out = (long long)d;
        return HO_OK;
    }
    return ho_error_set(err, HO_EINVAL, key, "must be an integer between %lld and %lld", min, max);
}

static enum ho_code get_int(const cJSON *obj, const char *key, int min, int max, int def,
                            int *out, struct ho_error *err)
{
    enum ho_code rc;
    long long v = 0;

    rc = get_ll(obj, key, min, max, def, &v, err);
    if (rc == HO_OK)
        *out = (int)v;
    return rc;
}

static enum ho_code get_bool(const cJSON *obj, const char *key, int def, int *out,
                             struct ho_error *err)
{
    const cJSON *it = member(obj, key);

    if (it == NULL)
        *out = def;
    else if (cJSON_IsBool(it))
        *out = cJSON_IsTrue(it) ? 1 : 0;
    else
        return ho_error_set(err, HO_EINVAL, key, "must be true or false");
    return HO_OK;
}

static enum ho_code get_pct(const cJSON *obj, const char *key, double *out, struct ho_error *err)
{
    const cJSON *it = member(obj, key);

    if (it == NULL)
        return HO_OK;
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0 && it->valuedouble <= 100))
        return ho_error_set(err, HO_EINVAL, key, "must be a number between 0 and 100");
    *out = it->valuedouble;
    return HO_OK;
}

/* A string element (of an object or array); out borrows from the cJSON tree. */
static enum ho_code str_value(const cJSON *it, size_t maxlen, const char *field, const char **out,
                              struct ho_error *err)
{
    if (!cJSON_IsString(it) || it->valuestring == NULL)
        return ho_error_set(err, HO_EINVAL, field, "must be a string");
    if (strlen(it->valuestring) > maxlen)
        return ho_error_set(err, HO_EINVAL, field, "must be at most %zu bytes", maxlen);
    *out = it->valuestring;
    return HO_OK;
}

/* *out is NULL when the key is absent and not required; a required string is non-empty. */
static enum ho_code get_str(const cJSON *obj, const char *key, int required, size_t maxlen,
                            const char **out, struct ho_error *err)
{
    const cJSON *it = member(obj, key);
    enum ho_code rc;

    *out = NULL;
    if (it == NULL && required)
        return ho_error_set(err, HO_EINVAL, key, "is required");
    if (it == NULL)
        return HO_OK;
    rc = str_value(it, maxlen, key, out, err);
    if (rc == HO_OK && required && (*out)[0] == '\0')
        return ho_error_set(err, HO_EINVAL, key, "must not be empty");
    return rc;
}

/* Sets *dst to a new copy when the key is present and valid; leaves it otherwise. */
static enum ho_code get_text(const cJSON *obj, const char *key, int required, size_t maxlen,
                             enum text_kind kind, char **dst, struct ho_error *err)
{
    enum ho_code rc;
    const char *s = NULL;

    rc = get_str(obj, key, required, maxlen, &s, err);
    if (rc == HO_OK && s != NULL)
        rc = text_check(s, kind, key, err);
    if (rc == HO_OK && s != NULL)
        *dst = xstrdup(s);
    return rc;
}

static enum ho_code get_name(const cJSON *obj, const char *key, size_t maxlen, int lower,
                             char **dst, struct ho_error *err)
{
    enum ho_code rc;
    const char *s = NULL;

    rc = get_str(obj, key, 1, maxlen, &s, err);
    if (rc != HO_OK)
        return rc;
    if (!manifest_name_ok(s, lower))
        return ho_error_set(err, HO_EINVAL, key, "must match %s",
                            lower ? "[a-z0-9][a-z0-9._-]*" : "[A-Za-z0-9][A-Za-z0-9._-]*");
    *dst = xstrdup(s);
    return HO_OK;
}

/* "0644": one to five octal digits, at most 07777. */
static enum ho_code get_mode(const cJSON *obj, const char *key, int *out, struct ho_error *err)
{
    const cJSON *it = member(obj, key);
    const char *s;
    size_t n;
    int v = 0;

    if (it == NULL)
        return HO_OK;
    s = cJSON_IsString(it) ? it->valuestring : NULL;
    n = s != NULL ? strspn(s, "01234567") : 0;
    if (n == 0 || n > 5 || s[n] != '\0')
        return ho_error_set(err, HO_EINVAL, key, "must be an octal mode string such as \"0644\"");
    for (; *s != '\0'; s++)
        v = v * 8 + (*s - '0');
    if (v > 07777)
        return ho_error_set(err, HO_EINVAL, key, "must be an octal mode string such as \"0644\"");
    *out = v;
    return HO_OK;
}

/* ---- exec ---- */

/*
 * No absolute path unless allow_abs (tests, repairs and stats may name an installed
 * program such as /usr/lib/nagios/plugins/check_disk; it is checked when it runs),
 * and no ".." component at all.
 */
static enum ho_code argv0_check(const char *a0, int allow_abs, struct ho_error *err)
{
    const char *p = a0;

    if (a0[0] == '/' && !allow_abs)
        return ho_error_set(err, HO_EINVAL, "exec[0]",
                            "must be a path relative to the package folder");
    for (;;) {
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
            return ho_error_set(err, HO_EINVAL, "exec[0]", "must not contain a \"..\" component");
        p = strchr(p, '/');
        if (p == NULL)
            return HO_OK;
        p++;
    }
}

/* Reads "exec" and "shell" of obj into out (argv copied only once all is valid). */
static enum ho_code parse_exec(const cJSON *obj, int allow_abs, struct manifest_exec *out,
                               struct ho_error *err)
{
    const cJSON *arr = member(obj, "exec"), *it;
    enum ho_code rc;
    const char *s = NULL;
    char field[32];
    size_t n, i = 0;
    int shell = 0;

    rc = get_bool(obj, "shell", 0, &shell, err);
    if (rc != HO_OK)
        return rc;
    if (arr == NULL)
        return ho_error_set(err, HO_EINVAL, "exec", "is required");
    n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
    if (n < 1 || n > MANIFEST_MAX_ARGS)
        return ho_error_set(err, HO_EINVAL, "exec", "must be an array of 1 to %d strings",
                            MANIFEST_MAX_ARGS);
    if (shell && n != 1)
        return ho_error_set(err, HO_EINVAL, "exec",
                            "must hold exactly one string, the script, when \"shell\" is true");
    cJSON_ArrayForEach(it, arr) {
        snprintf(field, sizeof(field), "exec[%zu]", i++);
        rc = str_value(it, MF_ARG_MAX, field, &s, err);
        if (rc != HO_OK)
            return rc;
    }
    s = arr->child->valuestring;
    if (s[0] == '\0')
        return ho_error_set(err, HO_EINVAL, "exec[0]", "must not be empty");
    if (!shell) {
        rc = argv0_check(s, allow_abs, err);
        if (rc != HO_OK)
            return rc;
    }
    out->argv = xcalloc(n + 1, sizeof(char *));
    i = 0;
    cJSON_ArrayForEach(it, arr)
        out->argv[i++] = xstrdup(it->valuestring);
    out->argc = n;
    out->shell = shell;
    return HO_OK;
}

/* ---- built-in probes: one option table per kind ---- */

enum opt_type {
    OPT_BOOL,     /* int field; def */
    OPT_INT,      /* int field; min, max, def */
    OPT_LL,       /* long long field; min, max, def */
    OPT_PCT,      /* double field, 0..100 */
    OPT_MODE,     /* int field, octal string */
    OPT_TEXT,     /* char * field; text kind, max = length */
    OPT_EXEC,     /* the command probe's exec (reads "shell" too) */
    OPT_WITH_EXEC /* read together with OPT_EXEC */
};

struct probe_opt {
    const char *key;
    enum opt_type type;
    int required;
    enum text_kind text;
    long long min, max, def;
    size_t off; /* field in struct probe_spec */
};

#define PO(f) offsetof(struct probe_spec, f)

static const struct probe_opt tcp_opts[] = {
    {.key = "host", .type = OPT_TEXT, .text = TEXT_HOST, .max = MF_HOST_MAX, .off = PO(host)},
    {.key = "port", .type = OPT_INT, .required = 1, .min = 1, .max = 65535, .off = PO(port)},
};

static const struct probe_opt http_opts[] = {
    {.key = "url", .type = OPT_TEXT, .required = 1, .text = TEXT_URL, .max = MF_URL_MAX,
     .off = PO(url)},
    {.key = "expect_status", .type = OPT_INT, .min = 100, .max = 599, .def = 200,
     .off = PO(expect_status)},
    {.key = "body_match", .type = OPT_TEXT, .text = TEXT_REGEX, .max = MF_REGEX_MAX,
     .off = PO(body_match)},
    {.key = "max_latency_ms", .type = OPT_INT, .max = INT_MAX, .off = PO(max_latency_ms)},
    {.key = "insecure", .type = OPT_BOOL, .off = PO(insecure)},
};

static const struct probe_opt process_opts[] = {
    {.key = "name", .type = OPT_TEXT, .required = 1, .text = TEXT_LINE, .max = 255,
     .off = PO(process_name)},
    {.key = "min", .type = OPT_INT, .max = INT_MAX, .def = 1, .off = PO(min_count)},
    {.key = "max", .type = OPT_INT, .max = INT_MAX, .def = -1, .off = PO(max_count)},
};

static const struct probe_opt file_opts[] = {
    {.key = "path", .type = OPT_TEXT, .required = 1, .text = TEXT_ABSPATH, .max = MF_PATH_MAX,
     .off = PO(path)},
    {.key = "exists", .type = OPT_BOOL, .def = 1, .off = PO(must_exist)},
    {.key = "mode", .type = OPT_MODE, .off = PO(mode)},
    {.key = "max_age", .type = OPT_INT, .max = INT_MAX, .off = PO(max_age_s)},
    {.key = "contains", .type = OPT_TEXT, .text = TEXT_REGEX, .max = MF_REGEX_MAX,
     .off = PO(contains)},
};

static const struct probe_opt disk_opts[] = {
    {.key = "path", .type = OPT_TEXT, .required = 1, .text = TEXT_ABSPATH, .max = MF_PATH_MAX,
     .off = PO(path)},
    {.key = "min_free_pct", .type = OPT_PCT, .off = PO(min_free_pct)},
    {.key = "warn_free_pct", .type = OPT_PCT, .off = PO(warn_free_pct)},
    {.key = "min_free_mb", .type = OPT_LL, .max = MF_MB_MAX, .off = PO(min_free_mb)},
};

static const struct probe_opt command_opts[] = {
    {.key = "exec", .type = OPT_EXEC, .required = 1},
    {.key = "shell", .type = OPT_WITH_EXEC},
    {.key = "expect_exit", .type = OPT_INT, .max = 255, .off = PO(expect_exit)},
    {.key = "output_match", .type = OPT_TEXT, .text = TEXT_REGEX, .max = MF_REGEX_MAX,
     .off = PO(output_match)},
};

static enum ho_code process_finish(struct probe_spec *p, struct ho_error *err)
{
    if (p->max_count != -1 && p->max_count < p->min_count)
        return ho_error_set(err, HO_EINVAL, "max", "must be at least min (%d)", p->min_count);
    return HO_OK;
}

/* A file that must not exist has no mode, age or content to check. */
static enum ho_code file_finish(struct probe_spec *p, struct ho_error *err)
{
    if (!p->must_exist && (p->mode != -1 || p->max_age_s != 0 || p->contains != NULL))
        return ho_error_set(err, HO_EINVAL, "exists",
                            "false cannot be combined with mode, max_age or contains");
    return HO_OK;
}

static enum ho_code disk_finish(struct probe_spec *p, struct ho_error *err)
{
    if (p->min_free_pct <= 0 && p->warn_free_pct <= 0 && p->min_free_mb <= 0)
        return ho_error_set(err, HO_EINVAL, "", "a disk probe needs min_free_pct, "
                            "warn_free_pct or min_free_mb above 0");
    if (p->min_free_pct > 0 && p->warn_free_pct > 0 && p->warn_free_pct < p->min_free_pct)
        return ho_error_set(err, HO_EINVAL, "warn_free_pct", "must be at least min_free_pct");
    return HO_OK;
}

#define OPTS(a) a, sizeof(a) / sizeof(a[0])
#define PROBE_OPTS_MAX 8

static const struct probe_def {
    const char *name;
    enum probe_kind kind;
    const struct probe_opt *opts;
    size_t nopts;
    enum ho_code (*finish)(struct probe_spec *p, struct ho_error *err);
} probe_defs[] = {
    {"tcp", PROBE_TCP, OPTS(tcp_opts), NULL},
    {"http", PROBE_HTTP, OPTS(http_opts), NULL},
    {"process", PROBE_PROCESS, OPTS(process_opts), process_finish},
    {"file", PROBE_FILE, OPTS(file_opts), file_finish},
    {"disk", PROBE_DISK, OPTS(disk_opts), disk_finish},
    {"command", PROBE_COMMAND, OPTS(command_opts), NULL},
};

static enum ho_code probe_opt_apply(const cJSON *obj, const struct probe_opt *o,
                                    struct probe_spec *p, struct ho_error *err)
{
    void *f = (char *)p + o->off;

    if (o->required && member(obj, o->key) == NULL)
        return ho_error_set(err, HO_EINVAL, o->key, "is required");
    switch (o->type) {
    case OPT_BOOL:
        return get_bool(obj, o->key, (int)o->def, f, err);
    case OPT_INT:
        return get_int(obj, o->key, (int)o->min, (int)o->max, (int)o->def, f, err);
    case OPT_LL:
        return get_ll(obj, o->key, o->min, o->max, o->def, f, err);
    case OPT_PCT:
        return get_pct(obj, o->key, f, err);
    case OPT_MODE:
        return get_mode(obj, o->key, f, err);
    case OPT_TEXT:
        return get_text(obj, o->key, o->required, (size_t)o->max, o->text, f, err);
    case OPT_EXEC:
        return parse_exec(obj, 1, &p->exec, err);
    case OPT_WITH_EXEC:
        return HO_OK;
    }
    return ho_error_set(err, HO_EINTERNAL, o->key, "unknown option type");
}

static enum ho_code parse_probe(const cJSON *t, const struct probe_def *d, int timeout_s,
                                struct probe_spec *p, struct ho_error *err)
{
    const char *allowed[PROBE_OPTS_MAX + 3];
    enum ho_code rc;
    int def_ms = timeout_s * 1000;
    size_t i;

    allowed[0] = "probe";
    allowed[1] = "timeout_ms";
    for (i = 0; i < d->nopts; i++)
        allowed[i + 2] = d->opts[i].key;
    allowed[i + 2] = NULL;
    rc = keys_check(t, allowed, err);
    if (rc != HO_OK)
        return rc;
    p->kind = d->kind;
    if (d->kind == PROBE_TCP && def_ms > MF_TCP_TIMEOUT_MS)
        def_ms = MF_TCP_TIMEOUT_MS;
    rc = get_int(t, "timeout_ms", 1, MF_TIMEOUT_MS_MAX, def_ms, &p->timeout_ms, err);
    for (i = 0; i < d->nopts && rc == HO_OK; i++)
        rc = probe_opt_apply(t, &d->opts[i], p, err);
    if (rc == HO_OK && d->kind == PROBE_TCP && p->host == NULL)
        p->host = xstrdup("127.0.0.1");
    if (rc == HO_OK && d->finish != NULL)
        rc = d->finish(p, err);
    return rc;
}

/* ---- checks and stats ---- */

static enum ho_code parse_test(const cJSON *t, int timeout_s, struct probe_spec *p,
                               struct ho_error *err)
{
    static const char *const keys[] = {"exec", "shell", NULL};
    const cJSON *probe = member(t, "probe");
    enum ho_code rc;
    size_t i;

    /* With "probe", the probe's option table says whether "exec" belongs (command). */
    if (!cJSON_IsObject(t))
        return ho_error_set(err, HO_EINVAL, "", "must be an object");
    /* Defaults of every kind, so a record never holds a misleading 0. */
    p->expect_status = 200;
    p->min_count = 1;
    p->max_count = -1;
    p->must_exist = 1;
    p->mode = -1;
    if (probe == NULL) {
        rc = keys_check(t, keys, err);
        if (rc == HO_OK)
            rc = parse_exec(t, 1, &p->exec, err);
        p->kind = PROBE_EXEC;
        p->timeout_ms = timeout_s * 1000;
        p->exec.timeout_s = timeout_s;
        return rc;
    }
    for (i = 0; i < sizeof(probe_defs) / sizeof(probe_defs[0]); i++)
        if (cJSON_IsString(probe) && strcmp(probe->valuestring, probe_defs[i].name) == 0)
            return parse_probe(t, &probe_defs[i], timeout_s, p, err);
    return ho_error_set(err, HO_EINVAL, "probe",
                        "must be one of tcp, http, process, file, disk, command");
}

static enum ho_code parse_repair(const cJSON *r, struct manifest_exec *out, struct ho_error *err)
{
    static const char *const keys[] = {"exec", "shell", "timeout", "user", NULL};
    enum ho_code rc;

    if (!cJSON_IsObject(r))
        return ho_error_set(err, HO_EINVAL, "", "must be an object");
    rc = keys_check(r, keys, err);
    if (rc == HO_OK)
        rc = parse_exec(r, 1, out, err);
    if (rc == HO_OK)
        rc = get_int(r, "timeout", 1, MANIFEST_MAX_TIMEOUT, MANIFEST_DEFAULT_REPAIR_TIMEOUT,
                     &out->timeout_s, err);
    if (rc == HO_OK)
        rc = get_text(r, "user", 0, MF_USER_MAX, TEXT_USER, &out->user, err);
    return rc;
}

static enum ho_code parse_repair_on(const cJSON *arr, unsigned *mask, struct ho_error *err)
{
    const cJSON *it;
    char field[32];
    size_t i = 0, k;

    *mask = 1u << TEST_STATUS_CRITICAL;
    if (arr == NULL)
        return HO_OK;
    if (!cJSON_IsArray(arr))
        return ho_error_set(err, HO_EINVAL, "repair_on",
                            "must be an array of \"warning\", \"critical\" or \"unknown\"");
    *mask = 0;
    cJSON_ArrayForEach(it, arr) {
        snprintf(field, sizeof(field), "repair_on[%zu]", i++);
        for (k = 0; k < sizeof(repair_on_names) / sizeof(repair_on_names[0]); k++)
            if (cJSON_IsString(it) && strcmp(it->valuestring, repair_on_names[k].name) == 0)
                break;
        if (k == sizeof(repair_on_names) / sizeof(repair_on_names[0]))
            return ho_error_set(err, HO_EINVAL, field,
                                "must be \"warning\", \"critical\" or \"unknown\"");
        *mask |= 1u << repair_on_names[k].status;
    }
    return HO_OK;
}

static enum ho_code parse_max_repairs(const cJSON *o, struct manifest_check *c,
                                      struct ho_error *err)
{
    static const char *const keys[] = {"count", "window", NULL};
    enum ho_code rc;

    c->max_repairs = MF_REPAIRS_DEFAULT;
    c->max_repairs_window_s = MF_WINDOW_DEFAULT;
    if (o == NULL)
        return HO_OK;
    if (!cJSON_IsObject(o))
        return ho_error_set(err, HO_EINVAL, "", "must be an object");
    rc = keys_check(o, keys, err);
    if (rc == HO_OK)
        rc = get_int(o, "count", 0, MF_REPAIRS_MAX, MF_REPAIRS_DEFAULT, &c->max_repairs, err);
    if (rc == HO_OK)
        rc = get_int(o, "window", 1, MF_WINDOW_MAX, MF_WINDOW_DEFAULT, &c->max_repairs_window_s,
                     err);
    return rc;
}

static enum ho_code parse_docs(const cJSON *arr, char ***out, struct ho_error *err)
{
    const cJSON *it;
    enum ho_code rc;
    const char *s = NULL;
    char field[32];
    size_t n, i = 0;

    if (arr == NULL)
        return HO_OK;
    n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : MF_DOCS_MAX + 1;
    if (n > MF_DOCS_MAX)
        return ho_error_set(err, HO_EINVAL, "docs", "must be an array of at most %d URLs",
                            MF_DOCS_MAX);
    cJSON_ArrayForEach(it, arr) {
        snprintf(field, sizeof(field), "docs[%zu]", i++);
        rc = str_value(it, MF_URL_MAX, field, &s, err);
        if (rc == HO_OK)
            rc = text_check(s, TEXT_URL, field, err);
        if (rc != HO_OK)
            return rc;
    }
    if (n == 0)
        return HO_OK;
    *out = xcalloc(n + 1, sizeof(char *));
    i = 0;
    cJSON_ArrayForEach(it, arr)
        (*out)[i++] = xstrdup(it->valuestring);
    return HO_OK;
}

static enum ho_code parse_severity(const cJSON *o, char **out, struct ho_error *err)
{
    enum ho_code rc;
    const char *s = NULL;
    size_t i;

    rc = get_str(o, "severity", 0, MF_TAG_MAX, &s, err);
    if (rc != HO_OK)
        return rc;
    if (s == NULL)
        s = severities[0];
    for (i = 0; severities[i] != NULL; i++)
        if (strcmp(s, severities[i]) == 0) {
            *out = xstrdup(s);
            return HO_OK;
        }
    return ho_error_set(err, HO_EINVAL, "severity",
                        "must be \"critical\", \"warning\" or \"info\"");
}

static enum ho_code parse_alert(const cJSON *o, struct manifest_alert *a, struct ho_error *err)
{
    static const char *const keys[] = {"severity", "runbook", "changelog", "docs",
                                       "advice",   "login",   NULL};
    enum ho_code rc;

    if (o == NULL) {
        a->severity = xstrdup(severities[0]);
        return HO_OK;
    }
    if (!cJSON_IsObject(o))
        return ho_error_set(err, HO_EINVAL, "", "must be an object");
    rc = keys_check(o, keys, err);
    if (rc == HO_OK)
        rc = parse_severity(o, &a->severity, err);
    if (rc == HO_OK)
        rc = get_text(o, "runbook", 0, MF_URL_MAX, TEXT_URL, &a->runbook, err);
    if (rc == HO_OK)
        rc = get_text(o, "changelog", 0, MF_URL_MAX, TEXT_URL, &a->changelog, err);
    if (rc == HO_OK)
        rc = parse_docs(member(o, "docs"), &a->docs, err);
    if (rc == HO_OK)
        rc = get_text(o, "advice", 0, MF_ADVICE_MAX, TEXT_MULTI, &a->advice, err);
    if (rc == HO_OK)
        rc = get_text(o, "login", 0, MF_LOGIN_MAX, TEXT_LINE, &a->login, err);
    return rc;
}

/* The check's test, repair and loop guard; the error path is prefixed with the block. */
static enum ho_code parse_check_blocks(const cJSON *c, struct manifest_check *out,
                                       struct ho_error *err)
{
    const cJSON *test = member(c, "test"), *repair = member(c, "repair");
    enum ho_code rc;

    if (test == NULL)
        return ho_error_set(err, HO_EINVAL, "test", "is required");
    rc = parse_test(test, out->timeout_s, &out->test, err);
    if (rc != HO_OK) {
        ho_error_prefix_field(err, "test");
        return rc;
    }
    if (repair != NULL) {
        out->has_repair = 1;
        rc = parse_repair(repair, &out->repair, err);
        if (rc != HO_OK) {
            ho_error_prefix_field(err, "repair");
            return rc;
        }
    }
    rc = parse_max_repairs(member(c, "max_repairs"), out, err);
    if (rc != HO_OK)
        ho_error_prefix_field(err, "max_repairs");
    return rc;
}

static enum ho_code parse_check(const cJSON *c, struct manifest_check *out, struct ho_error *err)
{
    static const char *const keys[] = {"name",      "interval",    "timeout",     "test",
                                       "repair",    "repair_on",   "max_repairs", "report_only",
                                       "alert",     NULL};
    enum ho_code rc;

    if (!cJSON_IsObject(c))
        return ho_error_set(err, HO_EINVAL, "", "must be an object");
    rc = keys_check(c, keys, err);
    if (rc == HO_OK)
        rc = get_name(c, "name", MF_CHECK_NAME_MAX, 0, &out->name, err);
    if (rc == HO_OK)
        rc = get_int(c, "interval", 1, MANIFEST_MAX_INTERVAL, MF_INTERVAL_DEFAULT,
                     &out->interval_s, err);
    if (rc == HO_OK)
        rc = get_int(c, "timeout", 1, MANIFEST_MAX_TIMEOUT, MANIFEST_DEFAULT_TIMEOUT,
                     &out->timeout_s, err);
    if (rc == HO_OK)
        rc = parse_check_blocks(c, out, err);
    if (rc == HO_OK)
        rc = parse_repair_on(member(c, "repair_on"), &out->repair_on, err);
    if (rc == HO_OK)
        rc = get_bool(c, "report_only", 0, &out->report_only, err);
    if (rc == HO_OK) {
        rc = parse_alert(member(c, "alert"), &out->alert, err);
        if (rc != HO_OK)
            ho_error_prefix_field(err, "alert");
    }
    return rc;
}

static enum ho_code parse_stat(const cJSON *s, struct manifest_stat *out, struct ho_error *err)
{
    static const char *const keys[] = {"name", "interval", "timeout", "exec", "shell", NULL};
    enum ho_code rc;

    if (!cJSON_IsObject(s))
        return ho_error_set(err, HO_EINVAL, "", "must be an object");
    rc = keys_check(s, keys, err);
    if (rc == HO_OK)
        rc = get_name(s, "name", MF_CHECK_NAME_MAX, 0, &out->name, err);
    if (rc == HO_OK)
        rc = get_int(s, "interval", 1, MANIFEST_MAX_INTERVAL, MF_INTERVAL_DEFAULT,
                     &out->interval_s, err);
    if (rc == HO_OK)
        rc = get_int(s, "timeout", 1, MANIFEST_MAX_TIMEOUT, MANIFEST_DEFAULT_TIMEOUT,
                     &out->timeout_s, err);
    if (rc == HO_OK)
        rc = parse_exec(s, 1, &out->exec, err);
    out->exec.timeout_s = out->timeout_s;
    return rc;
}

/* Array member key of root, at most max elements; *n = 0 when absent. */
static enum ho_code array_member(const cJSON *root, const char *key, size_t max, const cJSON **arr,
                                 size_t *n, struct ho_error *err)
{
    *n = 0;
    *arr = member(root, key);
    if (*arr == NULL)
        return HO_OK;
    if (!cJSON_IsArray(*arr))
        return ho_error_set(err, HO_EINVAL, key, "must be an array");
    *n = (size_t)cJSON_GetArraySize(*arr);
    if (*n > max)
        return ho_error_set(err, HO_EINVAL, key, "must hold at most %zu entries", max);
    return HO_OK;
}

/* names[0..n) of the checks or stats array (what) must be unique. */
static enum ho_code names_unique(const char *what, const char *const *names, size_t n,
                                 struct ho_error *err)
{
    char field[64];
    size_t i, j;

    for (i = 1; i < n; i++)
        for (j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0) {
                snprintf(field, sizeof(field), "%s[%zu].name", what, i);
                return ho_error_set(err, HO_EINVAL, field, "duplicate name \"%s\" (also %s[%zu])",
                                    names[i], what, j);
            }
    return HO_OK;
}

static enum ho_code parse_checks(const cJSON *root, struct manifest *m, struct ho_error *err)
{
    const cJSON *arr = NULL, *it;
    const char **names = NULL;
    enum ho_code rc;
    char prefix[32];
    size_t n = 0, i = 0;

    rc = array_member(root, "checks", MANIFEST_MAX_CHECKS, &arr, &n, err);
    if (rc != HO_OK || n == 0)
        goto out;
    /* Counted at once, so manifest_cleanup frees a half-parsed array. */
    m->checks = xcalloc(n, sizeof(*m->checks));
    m->nchecks = n;
    names = xcalloc(n, sizeof(*names));
    cJSON_ArrayForEach(it, arr) {
        rc = parse_check(it, &m->checks[i], err);
        if (rc != HO_OK) {
            snprintf(prefix, sizeof(prefix), "checks[%zu]", i);
            ho_error_prefix_field(err, prefix);
            goto out;
        }
        names[i] = m->checks[i].name;
        i++;
    }
    rc = names_unique("checks", names, n, err);
out:
    free(names);
    return rc;
}

static enum ho_code parse_stats(const cJSON *root, struct manifest *m, struct ho_error *err)
{
    const cJSON *arr = NULL, *it;
    const char **names = NULL;
    enum ho_code rc;
    char prefix[32];
    size_t n = 0, i = 0;

    rc = array_member(root, "stats", MANIFEST_MAX_STATS, &arr, &n, err);
    if (rc != HO_OK || n == 0)
        goto out;
    /* Counted at once, so manifest_cleanup frees a half-parsed array. */
    m->stats = xcalloc(n, sizeof(*m->stats));
    m->nstats = n;
    names = xcalloc(n, sizeof(*names));
    cJSON_ArrayForEach(it, arr) {
        rc = parse_stat(it, &m->stats[i], err);
        if (rc != HO_OK) {
            snprintf(prefix, sizeof(prefix), "stats[%zu]", i);
            ho_error_prefix_field(err, prefix);
            goto out;
        }
        names[i] = m->stats[i].name;
        i++;
    }
    rc = names_unique("stats", names, n, err);
out:
    free(names);
    return rc;
}

/* ---- the package level ---- */

static enum ho_code parse_tag(const cJSON *it, struct tag *t, struct ho_error *err)
{
    enum ho_code rc;
    const char *v = NULL;
    char key[64], field[80];

    log_safe(key, sizeof(key), it->string);
    snprintf(field, sizeof(field), key[0] != '\0' ? "tags.%s" : "tags", key);
    if (it->string[0] == '\0' || strlen(it->string) > MF_TAG_MAX || !text_ok(it->string, 0))
        return ho_error_set(err, HO_EINVAL, field,
                            "tag keys must be 1 to %d bytes of text without control characters",
                            MF_TAG_MAX);
    rc = str_value(it, MF_TAG_MAX, field, &v, err);
    if (rc == HO_OK)
        rc = text_check(v, TEXT_LINE, field, err);
    if (rc != HO_OK)
        return rc;
    t->key = xstrdup(it->string);
    t->value = xstrdup(v);
    return HO_OK;
}

static enum ho_code parse_tags(const cJSON *o, struct manifest *m, struct ho_error *err)
{
    const cJSON *it, *prev;
    enum ho_code rc;
    char key[64], field[80];
    size_t n, i = 0;

    if (o == NULL)
        return HO_OK;
    if (!cJSON_IsObject(o))
        return ho_error_set(err, HO_EINVAL, "tags", "must be an object of strings");
    n = (size_t)cJSON_GetArraySize(o);
    if (n > MF_TAGS_MAX)
        return ho_error_set(err, HO_EINVAL, "tags", "must hold at most %d pairs", MF_TAGS_MAX);
    if (n == 0)
        return HO_OK;
    m->tags = xcalloc(n, sizeof(*m->tags));
    m->ntags = n;
    cJSON_ArrayForEach(it, o) {
        for (prev = o->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0) {
                log_safe(key, sizeof(key), it->string);
                snprintf(field, sizeof(field), "tags.%s", key);
                return ho_error_set(err, HO_EINVAL, field, "duplicate key \"%s\"", key);
            }
        rc = parse_tag(it, &m->tags[i++], err);
        if (rc != HO_OK)
            return rc;
    }
    return HO_OK;
}

static enum ho_code parse_version_env(const cJSON *root, struct manifest *m, struct ho_error *err)
{
    enum ho_code rc;
    const char *s = NULL;

    rc = get_str(root, "version", 1, MF_VERSION_MAX, &s, err);
    if (rc != HO_OK)
        return rc;
    if (!manifest_semver_ok(s))
        return ho_error_set(err, HO_EINVAL, "version",
                            "must be a semantic version MAJOR.MINOR.PATCH[-prerelease][+build]");
    m->version = xstrdup(s);
    rc = get_str(root, "environment", 0, MF_ENV_MAX, &s, err);
    if (rc != HO_OK)
        return rc;
    if (s == NULL)
        s = "production";
    if (s[0] == '\0' || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789._-") != strlen(s))
        return ho_error_set(err, HO_EINVAL, "environment", "must match [A-Za-z0-9._-]+");
    m->environment = xstrdup(s);
    return HO_OK;
}

static enum ho_code parse_root(const cJSON *root, struct manifest *m, struct ho_error *err)
{
    static const char *const keys[] = {"name", "version", "description", "environment",
                                       "tags", "checks",  "stats",       NULL};
    enum ho_code rc;

    if (!cJSON_IsObject(root))
        return ho_error_set(err, HO_EINVAL, "", "the manifest must be a JSON object");
    rc = keys_check(root, keys, err);
    if (rc == HO_OK)
        rc = get_name(root, "name", MF_PKG_NAME_MAX, 1, &m->name, err);
    if (rc == HO_OK)
        rc = parse_version_env(root, m, err);
    if (rc == HO_OK)
        rc = get_text(root, "description", 0, MF_DESC_MAX, TEXT_MULTI, &m->description, err);
    if (rc == HO_OK)
        rc = parse_tags(member(root, "tags"), m, err);
    if (rc == HO_OK)
        rc = parse_checks(root, m, err);
    if (rc == HO_OK)
        rc = parse_stats(root, m, err);
    if (rc == HO_OK && m->nchecks == 0 && m->nstats == 0)
        rc = ho_error_set(err, HO_EINVAL, "checks", "a package needs at least one check or stat");
    return rc;
}

/*
 * What cJSON lets through: text after the value, NUL bytes, and "\u0000",
 * which it would turn into a silently shortened string.
 */
static enum ho_code json_text_check(const char *json, size_t len, const char *end,
                                    struct ho_error *err)
{
    const char *nul;
    size_t i;

    for (i = (size_t)(end - json); i < len; i++)
        if (strchr(" \t\r\n", json[i]) == NULL || json[i] == '\0')
            return ho_error_set(err, HO_EINVAL, "",
                                "invalid JSON: unexpected text after the value at byte %zu", i);
    nul = memchr(json, '\0', len);
    if (nul != NULL)
        return ho_error_set(err, HO_EINVAL, "", "invalid JSON: NUL byte at byte %zu",
                            (size_t)(nul - json));
    /* The text parsed, so every backslash starts a two-character escape. */
    for (i = 0; i + 1 < len; i++) {
        if (json[i] != '\\')
            continue;
        if (json[i + 1] == 'u' && i + 5 < len && memcmp(json + i + 2, "0000", 4) == 0)
            return ho_error_set(err, HO_EINVAL, "", "strings must not contain \\u0000 (byte %zu)",
                                i);
        i++;
    }
    return HO_OK;
}

enum ho_code manifest_parse(const char *json, size_t len, struct manifest *out,
                            struct ho_error *err)
{
    enum ho_code rc;
    cJSON *root = NULL;
    const char *end = NULL;

    memset(out, 0, sizeof(*out));
    ho_error_clear(err);
    if (len > MANIFEST_MAX_BYTES) {
        rc = ho_error_set(err, HO_ETOOBIG, "", "the manifest is %zu bytes; the limit is %d", len,
                          MANIFEST_MAX_BYTES);
        goto out;
    }
    if (json != NULL)
        root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL) {
        rc = ho_error_set(err, HO_EINVAL, "", "invalid JSON near byte %zu",
                          json != NULL && end != NULL ? (size_t)(end - json) : 0);
        goto out;
    }
    rc = json_text_check(json, len, end, err);
    if (rc == HO_OK)
        rc = parse_root(root, out, err);
out:
    cJSON_Delete(root);
    if (rc != HO_OK)
        manifest_cleanup(out);
    return rc;
}

/* ---- manifest_load_dir: the file and the executables it names ---- */

/* Reads DIR/healops-package.json: a regular file (not a symlink) of bounded size. */
static enum ho_code manifest_read(const char *dir, char **buf, size_t *len, struct ho_error *err)
{
    enum ho_code rc = HO_OK;
    char *path = xasprintf("%s/%s", dir, MANIFEST_FILE);
    struct stat st;
    ssize_t r = 0;
    int fd, e;

    *len = 0;
    *buf = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    e = errno;
    if (fd < 0 && e == ENOENT)
        rc = ho_error_set(err, HO_ENOENT, MANIFEST_FILE, "no such file");
    else if (fd < 0 && e == ELOOP)
        rc = ho_error_set(err, HO_EINVAL, MANIFEST_FILE, "is a symbolic link, not a regular file");
    else if (fd < 0)
        rc = ho_error_set(err, HO_EIO, MANIFEST_FILE, "cannot open: %s", strerror(e));
    else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = ho_error_set(err, HO_EINVAL, MANIFEST_FILE, "is not a regular file");
    if (rc != HO_OK)
        goto out;
    *buf = xmalloc(MANIFEST_MAX_BYTES + 1);
    while (*len <= MANIFEST_MAX_BYTES) {
        r = read(fd, *buf + *len, MANIFEST_MAX_BYTES + 1 - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        *len += (size_t)r;
    }
    if (r < 0)
        rc = ho_error_set(err, HO_EIO, MANIFEST_FILE, "cannot read: %s", strerror(errno));
    else if (*len > MANIFEST_MAX_BYTES)
        rc = ho_error_set(err, HO_ETOOBIG, MANIFEST_FILE, "is larger than the limit of %d bytes",
                          MANIFEST_MAX_BYTES);
out:
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

/* root is a realpath; "/" contains everything. */
static int path_inside(const char *root, const char *p)
{
    size_t n = strlen(root);

    if (strcmp(root, "/") == 0)
        return 1;
    return strncmp(p, root, n) == 0 && (p[n] == '/' || p[n] == '\0');
}

/* A relative argv[0] must resolve inside dir to an executable regular file. */
static enum ho_code exec_file_check(const char *dir, const struct manifest_exec *x,
                                    const char *field, struct ho_error *err)
{
    enum ho_code rc = HO_OK;
    char *joined = NULL, *real = NULL;
    char shown[160];
    struct stat st;
    int e;

    if (x->argv == NULL || x->shell || x->argv[0][0] == '/')
        return HO_OK;
    log_safe(shown, sizeof(shown), x->argv[0]);
    joined = xasprintf("%s/%s", dir, x->argv[0]);
    real = realpath(joined, NULL);
    e = errno;
    if (real == NULL)
        rc = ho_error_set(err, HO_EINVAL, field, "%s: %s", shown,
                          e == ENOENT ? "no such file" : strerror(e));
    else if (!path_inside(dir, real))
        rc = ho_error_set(err, HO_EINVAL, field, "%s: points outside the package", shown);
    else if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
        rc = ho_error_set(err, HO_EINVAL, field, "%s: is not a regular file", shown);
    else if ((st.st_mode & 0111) == 0 || access(real, X_OK) != 0)
        rc = ho_error_set(err, HO_EINVAL, field, "%s: is not executable", shown);
    free(real);
    free(joined);
    return rc;
}

static enum ho_code manifest_check_files(const char *dir, const struct manifest *m,
                                         struct ho_error *err)
{
    enum ho_code rc = HO_OK;
    char field[HO_ERROR_FIELD_MAX];
    size_t i;

    for (i = 0; i < m->nchecks && rc == HO_OK; i++) {
        snprintf(field, sizeof(field), MANIFEST_FILE ":checks[%zu].test.exec[0]", i);
        rc = exec_file_check(dir, &m->checks[i].test.exec, field, err);
        if (rc != HO_OK || !m->checks[i].has_repair)
            continue;
        snprintf(field, sizeof(field), MANIFEST_FILE ":checks[%zu].repair.exec[0]", i);
        rc = exec_file_check(dir, &m->checks[i].repair, field, err);
    }
    for (i = 0; i < m->nstats && rc == HO_OK; i++) {
        snprintf(field, sizeof(field), MANIFEST_FILE ":stats[%zu].exec[0]", i);
        rc = exec_file_check(dir, &m->stats[i].exec, field, err);
    }
    return rc;
}

/* "checks[0].interval" becomes "healops-package.json:checks[0].interval". */
static void field_in_file(struct ho_error *err)
{
    char tmp[HO_ERROR_FIELD_MAX];

    if (err == NULL)
        return;
    snprintf(tmp, sizeof(tmp), "%s%s%s", MANIFEST_FILE, err->field[0] != '\0' ? ":" : "",
             err->field);
    memcpy(err->field, tmp, sizeof(tmp));
}

enum ho_code manifest_load_dir(const char *dir, struct manifest *out, struct ho_error *err)
{
    enum ho_code rc;
    char *real = NULL, *buf = NULL;
    char shown[160];
    struct stat st;
    size_t len = 0;
    int e;

    memset(out, 0, sizeof(*out));
    ho_error_clear(err);
    real = realpath(dir, NULL);
    e = errno;
    log_safe(shown, sizeof(shown), dir);
    if (real == NULL) {
        rc = ho_error_set(err, e == ENOENT ? HO_ENOENT : HO_EIO, "", "package folder %s: %s",
                          shown, strerror(e));
        goto out;
    }
    if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = ho_error_set(err, HO_EINVAL, "", "package folder %s: is not a directory", shown);
        goto out;
    }
    rc = manifest_read(real, &buf, &len, err);
    if (rc != HO_OK)
        goto out;
    rc = manifest_parse(buf, len, out, err);
    if (rc != HO_OK) {
        field_in_file(err);
        goto out;
    }
    rc = manifest_check_files(real, out, err);
    if (rc != HO_OK)
        goto out;
    out->dir = real;
    real = NULL;
out:
    if (rc != HO_OK)
        manifest_cleanup(out);
    free(real);
    free(buf);
    return rc;
}

/* ---- lookup and cleanup ---- */

const struct manifest_check *manifest_find_check(const struct manifest *m, const char *name)
{
    size_t i;

    if (m == NULL || name == NULL)
        return NULL;
    for (i = 0; i < m->nchecks; i++)
        if (m->checks[i].name != NULL && strcmp(m->checks[i].name, name) == 0)
            return &m->checks[i];
    return NULL;
}

static void exec_cleanup(struct manifest_exec *x)
{
    size_t i;

    for (i = 0; x->argv != NULL && x->argv[i] != NULL; i++)
        free(x->argv[i]);
    free(x->argv);
    free(x->user);
}

static void probe_cleanup(struct probe_spec *p)
{
    exec_cleanup(&p->exec);
    free(p->host);
    free(p->url);
    free(p->body_match);
    free(p->process_name);
    free(p->path);
    free(p->contains);
    free(p->output_match);
}

static void alert_cleanup(struct manifest_alert *a)
{
    size_t i;

    free(a->severity);
    free(a->runbook);
    for (i = 0; a->docs != NULL && a->docs[i] != NULL; i++)
        free(a->docs[i]);
    free(a->docs);
    free(a->advice);
    free(a->changelog);
    free(a->login);
}

void manifest_cleanup(struct manifest *m)
{
    size_t i;

    if (m == NULL)
        return;
    free(m->name);
    free(m->version);
    free(m->description);
    free(m->environment);
    for (i = 0; i < m->ntags; i++) {
        free(m->tags[i].key);
        free(m->tags[i].value);
    }
    free(m->tags);
    for (i = 0; i < m->nchecks && m->checks != NULL; i++) {
        free(m->checks[i].name);
        probe_cleanup(&m->checks[i].test);
        exec_cleanup(&m->checks[i].repair);
        alert_cleanup(&m->checks[i].alert);
    }
    free(m->checks);
    for (i = 0; i < m->nstats && m->stats != NULL; i++) {
        free(m->stats[i].name);
        exec_cleanup(&m->stats[i].exec);
    }
    free(m->stats);
    free(m->dir);
    memset(m, 0, sizeof(*m));
}

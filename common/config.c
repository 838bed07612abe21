/*
 * Walks a binary's option table over a JSON config file (cJSON) and the
 * command line. After REDIS config.c's static table and SMTPD's
 * report-everything parse: all errors of the file are collected, the first is
 * returned with its JSON path, unknown keys are refused.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "parse.h"

#define CONFIG_MAX_FILE (1024 * 1024)

void config_list_add(struct config_list *l, const char *s)
{
    l->items = xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
    l->items[l->n++] = xstrdup(s);
}

void config_list_free(struct config_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void config_free(const struct config_option *opts, size_t nopts, void *target)
{
    size_t i;
    char *base = target;

    for (i = 0; i < nopts; i++) {
        if (opts[i].type == CONFIG_STRING || opts[i].type == CONFIG_RAW) {
            char **p = (char **)(void *)(base + opts[i].offset);
            free(*p);
            *p = NULL;
        } else if (opts[i].type == CONFIG_LIST || opts[i].type == CONFIG_LABELS) {
            config_list_free((struct config_list *)(void *)(base + opts[i].offset));
        }
    }
}

static int config_valid_text(const char *s, long long max)
{
    size_t len = strlen(s), i;

    if (max <= 0)
        max = 4096;
    if ((long long)len > max)
        return 0;
    for (i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20)
            return 0;
    }
    return 1;
}

static enum ho_code config_label_check(const char *kv, const char *field, struct ho_error *err)
{
    const char *eq = strchr(kv, '=');

    if (eq == NULL || eq == kv || eq[1] == '\0')
        return ho_error_set(err, HO_EINVAL, field, "label \"%.64s\" must be KEY=VALUE", kv);
    if (!config_valid_text(kv, 512))
        return ho_error_set(err, HO_EINVAL, field, "label too long or has control characters");
    return HO_OK;
}

/* Sets one option from a string (command line) */
static enum ho_code config_set_str(const struct config_option *o, void *target, const char *val,
                                   int from_cli, struct ho_error *err)
{
    char *base = target;
    void *slot = base + o->offset;
    const char *field = from_cli ? o->flag : o->key;
    long long max = o->max;
    int64_t iv;

    switch (o->type) {
    case CONFIG_STRING:
        if (!config_valid_text(val, max))
            return ho_error_set(err, HO_EINVAL, field, "too long or has control characters");
        free(*(char **)slot);
        *(char **)slot = xstrdup(val);
        return HO_OK;
    case CONFIG_INT:
        if (parse_i64(val, o->min, o->max, &iv) != HO_OK)
            return ho_error_set(err, HO_EINVAL, field, "must be an integer between %lld and %lld",
                                o->min, o->max);
        *(long long *)slot = iv;
        return HO_OK;
    case CONFIG_BOOL:
        if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0 || strcmp(val, "yes") == 0)
            *(int *)slot = 1;
        else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0 || strcmp(val, "no") == 0)
            *(int *)slot = 0;
        else
            return ho_error_set(err, HO_EINVAL, field, "must be true or false");
        return HO_OK;
    case CONFIG_LABELS:
        if (config_label_check(val, field, err) != HO_OK)
            return HO_EINVAL;
        /* fall through */
    case CONFIG_LIST:
        if (!config_valid_text(val, 4096))
            return ho_error_set(err, HO_EINVAL, field, "too long or has control characters");
        config_list_add((struct config_list *)slot, val);
        return HO_OK;
    case CONFIG_IGNORED:
        return HO_OK;
    case CONFIG_RAW:
        if (strlen(val) > (size_t)(max > 0 ? max : 4096))
            return ho_error_set(err, HO_EINVAL, field, "too long");
        free(*(char **)slot);
        *(char **)slot = xstrdup(val);
        return HO_OK;
    }
    return HO_EINVAL;
}

static enum ho_code config_set_json(const struct config_option *o, void *target,
                                    const cJSON *v, struct ho_error *err)
{
    char *base = target;
    void *slot = base + o->offset;
    const cJSON *it;
    char num[64];

    switch (o->type) {
    case CONFIG_STRING:
        if (!cJSON_IsString(v))
            return ho_error_set(err, HO_EINVAL, o->key, "must be a string");
        return config_set_str(o, target, v->valuestring, 0, err);
    case CONFIG_INT:
        if (!cJSON_IsNumber(v) || v->valuedouble < (double)o->min ||
            v->valuedouble > (double)o->max || v->valuedouble != (double)(long long)v->valuedouble)
            return ho_error_set(err, HO_EINVAL, o->key, "must be an integer between %lld and %lld",
                                o->min, o->max);
        snprintf(num, sizeof(num), "%lld", (long long)v->valuedouble);
        return config_set_str(o, target, num, 0, err);
    case CONFIG_BOOL:
        if (!cJSON_IsBool(v))
            return ho_error_set(err, HO_EINVAL, o->key, "must be true or false");
        *(int *)slot = cJSON_IsTrue(v);
        return HO_OK;
    case CONFIG_LIST:
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 256)
            return ho_error_set(err, HO_EINVAL, o->key, "must be an array of at most 256 strings");
        config_list_free((struct config_list *)slot);
        cJSON_ArrayForEach(it, v)
        {
            if (!cJSON_IsString(it))
                return ho_error_set(err, HO_EINVAL, o->key, "must be an array of strings");
            if (config_set_str(o, target, it->valuestring, 0, err) != HO_OK)
                return HO_EINVAL;
        }
        return HO_OK;
    case CONFIG_LABELS:
        if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) > 64)
            return ho_error_set(err, HO_EINVAL, o->key,
                                "must be an object of at most 64 string values");
        config_list_free((struct config_list *)slot);
        cJSON_ArrayForEach(it, v)
        {
            char *kv;
            enum ho_code rc;

            if (!cJSON_IsString(it))
                return ho_error_set(err, HO_EINVAL, o->key, "label \"%.64s\" must be a string",
                                    it->string);
            kv = xasprintf("%s=%s", it->string, it->valuestring);
            rc = config_set_str(o, target, kv, 0, err);
            free(kv);
            if (rc != HO_OK)
                return rc;
        }
        return HO_OK;
    case CONFIG_IGNORED:
        log_warnx("config: key %s is accepted but not used by this version", o->key);
        return HO_OK;
    case CONFIG_RAW: {
        char *text = cJSON_PrintUnformatted(v);
        enum ho_code rc;

        if (text == NULL)
            return ho_error_set(err, HO_EINVAL, o->key, "cannot be printed back as JSON");
        rc = config_set_str(o, target, text, 0, err);
        cJSON_free(text);
        return rc;
    }
    }
    return HO_EINVAL;
}

static const struct config_option *config_find_key(const struct config_option *opts, size_t n,
                                                   const char *key)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(opts[i].key, key) == 0)
            return &opts[i];
    }
    return NULL;
}

/* 1 when some option key starts with "prefix." (so prefix is an object to walk) */
static int config_is_section(const struct config_option *opts, size_t n, const char *prefix)
{
    size_t i, len = strlen(prefix);

    for (i = 0; i < n; i++) {
        if (strncmp(opts[i].key, prefix, len) == 0 && opts[i].key[len] == '.')
            return 1;
    }
    return 0;
}

static enum ho_code config_walk(const struct config_option *opts, size_t n, void *target,
                                const cJSON *obj, const char *prefix, struct ho_error *err)
{
    const cJSON *it;
    char path[256];
    const struct config_option *o;

    cJSON_ArrayForEach(it, obj)
    {
        if (prefix[0] != '\0')
            snprintf(path, sizeof(path), "%s.%s", prefix, it->string);
        else
            snprintf(path, sizeof(path), "%s", it->string);
        o = config_find_key(opts, n, path);
        if (o != NULL) {
            if (config_set_json(o, target, it, err) != HO_OK)
                return HO_EINVAL;
        } else if (config_is_section(opts, n, path)) {
            if (!cJSON_IsObject(it))
                return ho_error_set(err, HO_EINVAL, path, "must be an object");
            if (config_walk(opts, n, target, it, path, err) != HO_OK)
                return HO_EINVAL;
        } else {
            return ho_error_set(err, HO_EINVAL, path, "unknown key");
        }
    }
    return HO_OK;
}

static enum ho_code config_load_file(const struct config_option *opts, size_t n, void *target,
                                     const char *file, struct ho_error *err)
{
    FILE *fp = NULL;
    char *data = NULL;
    cJSON *root = NULL;
    struct stat sb;
    size_t len;
    const char *end = NULL;
    enum ho_code rc = HO_EINVAL;

    fp = fopen(file, "re");
    if (fp == NULL || fstat(fileno(fp), &sb) != 0) {
        rc = ho_error_set(err, HO_ENOENT, "--config", "cannot open %s: %m", file);
        goto out;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size > CONFIG_MAX_FILE) {
        rc = ho_error_set(err, HO_EINVAL, "--config", "%s: not a regular file under 1 MiB", file);
        goto out;
    }
    data = xmalloc((size_t)sb.st_size + 1);
    len = fread(data, 1, (size_t)sb.st_size, fp);
    data[len] = '\0';
    root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    while (root != NULL && end < data + len && strchr(" \t\r\n", *end) != NULL && *end != '\0')
        end++;
    if (root != NULL && end != data + len) {
        rc = ho_error_set(err, HO_EINVAL, "", "%s: text after the JSON object (byte %ld)", file,
                          (long)(end - data));
        goto out;
    }
    if (root == NULL || !cJSON_IsObject(root)) {
        rc = ho_error_set(err, HO_EINVAL, "", "%s: not a JSON object (error near byte %ld)", file,
                          root == NULL && cJSON_GetErrorPtr() != NULL
                              ? (long)(cJSON_GetErrorPtr() - data)
                              : 0L);
        goto out;
    }
    rc = config_walk(opts, n, target, root, "", err);
    if (rc != HO_OK && err != NULL) {
        char tmp[HO_ERROR_MSG_MAX];
        snprintf(tmp, sizeof(tmp), "%s: %s", file, err->msg);
        memcpy(err->msg, tmp, sizeof(tmp));
    }
out:
    cJSON_Delete(root);
    free(data);
    if (fp != NULL)
        fclose(fp);
    return rc;
}

static const struct config_option *config_find_flag(const struct config_option *opts, size_t n,
                                                    const char *flag, size_t len)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (opts[i].flag != NULL && strlen(opts[i].flag) == len &&
            strncmp(opts[i].flag, flag, len) == 0)
            return &opts[i];
    }
    return NULL;
}

/* First pass: --config and --help, so the file is loaded before the flags win. */
static enum ho_code config_scan_meta(int argc, char **argv, struct config_cli *cli,
                                     struct ho_error *err)
{
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli->help = 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            cli->version = 1;
        } else if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return ho_error_set(err, HO_EINVAL, "--config", "needs a FILE");
            cli->config_file = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            cli->config_file = argv[i] + 9;
        }
    }
    return HO_OK;
}

enum ho_code config_parse(const struct config_option *opts, size_t nopts, void *target, int argc,
                          char **argv, struct config_cli *cli, struct ho_error *err)
{
    unsigned char *cli_lists = NULL;
    enum ho_code rc;
    int i;

    memset(cli, 0, sizeof(*cli));
    cli->positional = xcalloc((size_t)argc + 1, sizeof(char *));
    rc = config_scan_meta(argc, argv, cli, err);
    if (rc != HO_OK || cli->help || cli->version)
        return rc;
    if (cli->config_file != NULL) {
        rc = config_load_file(opts, nopts, target, cli->config_file, err);
        if (rc != HO_OK)
            return rc;
    }
    cli_lists = xcalloc(nopts, 1);
    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *eq, *val;
        const struct config_option *o;
        size_t flen;

        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0 || strcmp(a, "--version") == 0)
            continue;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (strcmp(a, "--") == 0) {
                for (i++; i < argc; i++)
                    cli->positional[cli->npositional++] = argv[i];
                break;
            }
            cli->positional[cli->npositional++] = argv[i];
            continue;
        }
        eq = strchr(a, '=');
        flen = eq != NULL ? (size_t)(eq - a) : strlen(a);
        o = config_find_flag(opts, nopts, a, flen);
        if (o == NULL) {
            char flag[64];

            snprintf(flag, sizeof(flag), "%.*s", (int)(flen < 63 ? flen : 63), a);
            rc = ho_error_set(err, HO_EINVAL, flag, "unknown option (see --help)");
            goto out;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (o->type == CONFIG_BOOL) {
            val = "true";
        } else {
            if (i + 1 >= argc) {
                rc = ho_error_set(err, HO_EINVAL, o->flag, "needs a value (%s)",
                                  o->metavar != NULL ? o->metavar : "VALUE");
                goto out;
            }
            val = argv[++i];
        }
        if ((o->type == CONFIG_LIST || o->type == CONFIG_LABELS) && !cli_lists[o - opts]) {
            /* the command line replaces a list from the file */
            config_list_free((struct config_list *)(void *)((char *)target + o->offset));
            cli_lists[o - opts] = 1;
        }
        rc = config_set_str(o, target, val, 1, err);
        if (rc != HO_OK)
            goto out;
    }
    rc = HO_OK;
out:
    free(cli_lists);
    return rc;
}

void config_print_help(FILE *fp, const char *usage, const struct config_option *opts,
                       size_t nopts)
{
    size_t i;
    char left[96];

    fprintf(fp, "%s\n\nOptions (each also a key of the JSON --config file):\n", usage);
    fprintf(fp, "  %-34s %s\n", "--config FILE", "JSON configuration file; flags win over it");
    for (i = 0; i < nopts; i++) {
        if (opts[i].type == CONFIG_IGNORED)
            continue;
        if (opts[i].flag != NULL)
            snprintf(left, sizeof(left), "%s%s%s", opts[i].flag, opts[i].metavar ? " " : "",
                     opts[i].metavar ? opts[i].metavar : "");
        else
            snprintf(left, sizeof(left), "(file only)");
        fprintf(fp, "  %-34s %s [key: %s]\n", left, opts[i].help, opts[i].key);
    }
    fprintf(fp, "  %-34s %s\n", "--version", "print the version and exit");
    fprintf(fp, "  %-34s %s\n", "--help", "this text");
}

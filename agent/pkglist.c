/*
 * The agent's view of its assignment list (GET /api/v1/agents/self/packages,
 * see the package contract): a codec from the JSON answer to typed records.
 * Everything here comes from the network and later names folders and URLs,
 * so every field is checked before it is kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "mem.h"
#include "pkglist.h"

int pkglist_valid_name(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0' || strlen(s) > PKGLIST_NAME_MAX)
        return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (i = 1; s[i] != '\0'; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
              s[i] == '_' || s[i] == '-'))
            return 0;
    }
    return 1;
}

int pkglist_valid_version(const char *s)
{
    size_t i;

    if (s == NULL || s[0] < '0' || s[0] > '9' || strlen(s) > PKGLIST_VERSION_MAX)
        return 0;
    for (i = 1; s[i] != '\0'; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '+' || s[i] == '-'))
            return 0;
    }
    return 1;
}

static const char *pkglist_json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int pkglist_valid_sha(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != CRYPTO_SHA256_HEX_LEN - 1)
        return 0;
    for (i = 0; s[i] != '\0'; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

/* A bundle URL path: under /api/v1/, printable, no spaces, no "..". */
static int pkglist_valid_url(const char *s)
{
    size_t i;

    if (s == NULL || strncmp(s, "/api/v1/", 8) != 0 || strlen(s) > PKGLIST_URL_MAX ||
        strstr(s, "..") != NULL)
        return 0;
    for (i = 0; s[i] != '\0'; i++) {
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    }
    return 1;
}

/* Parses one element of "packages" into a; err names the field. */
static enum ho_code pkglist_parse_entry(const cJSON *it, struct pkglist_entry *a,
                                        struct ho_error *err)
{
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(it, "signature");
    const char *name = pkglist_json_str(it, "name"), *version = pkglist_json_str(it, "version");
    const char *sha = pkglist_json_str(it, "sha256"), *url = pkglist_json_str(it, "bundle_url");

    if (!cJSON_IsObject(it))
        return ho_error_set(err, HO_EINVAL, "", "must be an object");
    if (!pkglist_valid_name(name))
        return ho_error_set(err, HO_EINVAL, "name", "must be a package name");
    if (!pkglist_valid_version(version))
        return ho_error_set(err, HO_EINVAL, "version", "must be a version");
    if (!pkglist_valid_sha(sha))
        return ho_error_set(err, HO_EINVAL, "sha256", "must be 64 lowercase hex characters");
    if (!pkglist_valid_url(url))
        return ho_error_set(err, HO_EINVAL, "bundle_url", "must be a path under /api/v1/");
    if (sig != NULL && !cJSON_IsNull(sig) &&
        (!cJSON_IsString(sig) || strlen(sig->valuestring) > PKGLIST_SIG_MAX))
        return ho_error_set(err, HO_EINVAL, "signature", "must be base64 text or null");
    a->name = xstrdup(name);
    a->version = xstrdup(version);
    a->sha256 = xstrdup(sha);
    a->url = xstrdup(url);
    a->signature = cJSON_IsString(sig) && sig->valuestring[0] != '\0'
                       ? xstrdup(sig->valuestring)
                       : NULL;
    return HO_OK;
}

enum ho_code pkglist_parse(const char *body, size_t len,
                                       struct pkglist_entry **out, size_t *n,
                                       struct ho_error *err)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(root, "packages"), *it;
    struct pkglist_entry *a = NULL;
    size_t i = 0, k;
    char field[32];
    enum ho_code rc = HO_OK;

    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(pk) || cJSON_GetArraySize(pk) > PKGLIST_MAX_PACKAGES) {
        cJSON_Delete(root);
        return ho_error_set(err, HO_EINVAL, "packages",
                            "the package list must be {\"packages\": [...]} of at most %d",
                            PKGLIST_MAX_PACKAGES);
    }
    a = xcalloc((size_t)cJSON_GetArraySize(pk) + 1, sizeof(*a));
    cJSON_ArrayForEach(it, pk)
    {
        snprintf(field, sizeof(field), "packages[%zu]", i);
        rc = pkglist_parse_entry(it, &a[i], err);
        for (k = 0; rc == HO_OK && k < i; k++) {
            if (strcmp(a[k].name, a[i].name) == 0)
                rc = ho_error_set(err, HO_EINVAL, "name", "package listed twice");
        }
        i++;
        if (rc != HO_OK) {
            ho_error_prefix_field(err, field);
            break;
        }
    }
    cJSON_Delete(root);
    if (rc != HO_OK) {
        pkglist_free(a, i);
        return rc;
    }
    *out = a;
    *n = i;
    return HO_OK;
}

void pkglist_free(struct pkglist_entry *a, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(a[i].name);
        free(a[i].version);
        free(a[i].sha256);
        free(a[i].signature);
        free(a[i].url);
    }
    free(a);
}

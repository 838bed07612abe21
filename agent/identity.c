/*
 * The agent's identity: enrolled once with an enrollment token, then kept in
 * STATE_DIR/agent.json (mode 0600, written crash-safe) as agent id and token.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent.h"
#include "httpc.h"
#include "log.h"
#include "mem.h"

#define IDENTITY_FILE "agent.json"
#define IDENTITY_MAX  8192

static char *identity_path(const struct agent *ag)
{
    return xasprintf("%s/%s", ag->cfg.state_dir, IDENTITY_FILE);
}

static enum ho_code identity_parse(struct agent *ag, const char *text, size_t len,
                                   struct ho_error *err)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "agent_id");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "token");
    enum ho_code rc = HO_OK;

    if (!cJSON_IsString(id) || !crypto_uuid_valid(id->valuestring) || !cJSON_IsString(tok) ||
        strlen(tok->valuestring) == 0 || strlen(tok->valuestring) >= sizeof(ag->id.token)) {
        rc = ho_error_set(err, HO_EINVAL, IDENTITY_FILE, "not a valid identity file");
        goto out;
    }
    pthread_mutex_lock(&ag->id_lock);
    snprintf(ag->id.agent_id, sizeof(ag->id.agent_id), "%s", id->valuestring);
    snprintf(ag->id.token, sizeof(ag->id.token), "%s", tok->valuestring);
    pthread_mutex_unlock(&ag->id_lock);
out:
    if (tok != NULL && cJSON_IsString(tok))
        crypto_wipe(tok->valuestring, strlen(tok->valuestring));
    cJSON_Delete(root);
    return rc;
}

enum ho_code identity_load(struct agent *ag, struct ho_error *err)
{
    char *path = identity_path(ag);
    char buf[IDENTITY_MAX];
    ssize_t n;
    int fd;
    enum ho_code rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT ? HO_ENOENT
                             : ho_error_set(err, HO_EIO, IDENTITY_FILE, "cannot read %s: %s",
                                            path, strerror(errno));
        free(path);
        return rc;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    free(path);
    if (n <= 0)
        return ho_error_set(err, HO_EINVAL, IDENTITY_FILE, "empty or unreadable identity file");
    rc = identity_parse(ag, buf, (size_t)n, err);
    crypto_wipe(buf, sizeof(buf));
    return rc;
}

static enum ho_code identity_save(struct agent *ag, const char *json, struct ho_error *err)
{
    char *path = identity_path(ag);
    char *tmp = xasprintf("%s.tmp", path);
    size_t len = strlen(json);
    enum ho_code rc = HO_OK;
    int fd;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, json, len) != (ssize_t)len || fsync(fd) != 0) {
        rc = ho_error_set(err, HO_EIO, IDENTITY_FILE, "cannot write %s: %s", tmp,
                          strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        rc = ho_error_set(err, HO_EIO, IDENTITY_FILE, "cannot rename %s: %s", tmp,
                          strerror(errno));
        unlink(tmp);
    }
out:
    free(tmp);
    free(path);
    return rc;
}

static char *identity_request(const struct agent *ag)
{
    cJSON *root = cJSON_CreateObject(), *labels = cJSON_CreateObject();
    char *text;
    size_t i;

    cJSON_AddStringToObject(root, "name", ag->cfg.name);
    for (i = 0; i < ag->cfg.labels.n; i++) {
        char *kv = xstrdup(ag->cfg.labels.items[i]);
        char *eq = strchr(kv, '=');

        if (eq != NULL) {
            *eq = '\0';
            cJSON_DeleteItemFromObjectCaseSensitive(labels, kv);
            cJSON_AddStringToObject(labels, kv, eq + 1);
        }
        free(kv);
    }
    cJSON_AddItemToObject(root, "labels", labels);
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

/* Reads the enrollment token from the config or its file into out. */
static enum ho_code identity_enroll_token(struct agent *ag, char *out, size_t n,
                                          struct ho_error *err)
{
    FILE *fp;
    size_t len;

    out[0] = '\0';
    if (ag->cfg.enroll_token != NULL) {
        snprintf(out, n, "%s", ag->cfg.enroll_token);
    } else if (ag->cfg.enroll_token_file != NULL) {
        fp = fopen(ag->cfg.enroll_token_file, "re");
        if (fp == NULL)
            return ho_error_set(err, HO_EINVAL, "enroll_token_file", "cannot open %s: %s",
                                ag->cfg.enroll_token_file, strerror(errno));
        if (fgets(out, (int)n, fp) == NULL)
            out[0] = '\0';
        fclose(fp);
    }
    len = strlen(out);
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' '))
        out[--len] = '\0';
    if (len == 0)
        return ho_error_set(err, HO_EINVAL, "enroll_token",
                            "not enrolled and no enrollment token (--enroll-token)");
    return HO_OK;
}

enum ho_code identity_enroll(struct agent *ag, struct httpc *hc, struct ho_error *err)
{
    struct httpc_response resp = {0};
    char token[256], *body = NULL, *url = NULL;
    enum ho_code rc;

    rc = identity_enroll_token(ag, token, sizeof(token), err);
    if (rc != HO_OK)
        return rc;
    body = identity_request(ag);
    url = xasprintf("%s/api/v1/agents/enroll", ag->cfg.server);
    rc = httpc_request(hc, "POST", url, token, "application/json", body, strlen(body), NULL,
                       64 * 1024, &resp, err);
    if (rc != HO_OK)
        goto out;
    if (resp.status == 401 || resp.status == 403) {
        rc = ho_error_set(err, HO_EAUTH, "enroll_token", "enrollment token refused (%ld)",
                          resp.status);
    } else if (resp.status != 201 && resp.status != 200) {
        rc = ho_error_set(err, HO_EIO, "server", "enrollment answered %ld", resp.status);
    } else {
        rc = identity_parse(ag, resp.body, resp.body_len, err);
        if (rc == HO_OK)
            rc = identity_save(ag, resp.body, err);
        if (rc == HO_OK)
            log_info("enrolled as %s id=%s", ag->cfg.name, ag->id.agent_id);
    }
    if (resp.body != NULL)
        crypto_wipe(resp.body, resp.body_len);
    httpc_response_cleanup(&resp);
out:
    crypto_wipe(token, sizeof(token));
    cJSON_free(body);
    free(url);
    return rc;
}

void identity_token(struct agent *ag, char *out, size_t n)
{
    pthread_mutex_lock(&ag->id_lock);
    snprintf(out, n, "%s", ag->id.token);
    pthread_mutex_unlock(&ag->id_lock);
}

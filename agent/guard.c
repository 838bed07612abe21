/*
 * Loop-guard persistence: {"checks": {"pkg/check": [ms, ...]}} in one small
 * JSON file, rewritten through a temp file, fsync and rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "guard.h"
#include "log.h"
#include "mem.h"

#define GUARD_MAX_FILE  (4 * 1024 * 1024)
#define GUARD_MAX_TIMES 1000

struct guard_entry {
    char *key;
    int64_t *times;
    size_t n;
};

struct guard_store {
    char *path;
    pthread_mutex_t lock;
    struct guard_entry *e;
    size_t n;
};

static struct guard_entry *guard_find(struct guard_store *gs, const char *key, int create)
{
    size_t i;

    for (i = 0; i < gs->n; i++) {
        if (strcmp(gs->e[i].key, key) == 0)
            return &gs->e[i];
    }
    if (!create)
        return NULL;
    gs->e = xrealloc(gs->e, (gs->n + 1) * sizeof(*gs->e));
    memset(&gs->e[gs->n], 0, sizeof(*gs->e));
    gs->e[gs->n].key = xstrdup(key);
    return &gs->e[gs->n++];
}

static void guard_load_entry(struct guard_store *gs, const cJSON *it)
{
    struct guard_entry *e;
    const cJSON *t;

    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) > GUARD_MAX_TIMES || strlen(it->string) > 512)
        return;
    e = guard_find(gs, it->string, 1);
    e->times = xcalloc((size_t)cJSON_GetArraySize(it) + 1, sizeof(*e->times));
    cJSON_ArrayForEach(t, it)
    {
        if (cJSON_IsNumber(t) && t->valuedouble > 0 && t->valuedouble < 1e15)
            e->times[e->n++] = (int64_t)t->valuedouble;
    }
}

static void guard_load(struct guard_store *gs)
{
    char *data = NULL;
    cJSON *root = NULL;
    const cJSON *checks, *it;
    struct stat sb;
    ssize_t r;
    int fd = open(gs->path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    if (fstat(fd, &sb) != 0 || sb.st_size > GUARD_MAX_FILE)
        goto bad;
    data = xmalloc((size_t)sb.st_size + 1);
    r = read(fd, data, (size_t)sb.st_size);
    if (r != sb.st_size)
        goto bad;
    root = cJSON_ParseWithLength(data, (size_t)r);
    checks = cJSON_GetObjectItemCaseSensitive(root, "checks");
    if (!cJSON_IsObject(checks))
        goto bad;
    cJSON_ArrayForEach(it, checks)
        guard_load_entry(gs, it);
    goto out;
bad:
    log_warnx("guard: %s is unreadable; repair counts start again", gs->path);
out:
    cJSON_Delete(root);
    free(data);
    close(fd);
}

enum ho_code guard_store_open(const char *path, struct guard_store **out)
{
    struct guard_store *gs = xcalloc(1, sizeof(*gs));

    gs->path = xstrdup(path);
    pthread_mutex_init(&gs->lock, NULL);
    guard_load(gs);
    *out = gs;
    return HO_OK;
}

void guard_store_close(struct guard_store *gs)
{
    size_t i;

    if (gs == NULL)
        return;
    for (i = 0; i < gs->n; i++) {
        free(gs->e[i].key);
        free(gs->e[i].times);
    }
    free(gs->e);
    pthread_mutex_destroy(&gs->lock);
    free(gs->path);
    free(gs);
}

void guard_store_get(struct guard_store *gs, const char *key, struct cycle_guard *g)
{
    struct guard_entry *e;

    pthread_mutex_lock(&gs->lock);
    cycle_guard_cleanup(g);
    e = guard_find(gs, key, 0);
    if (e != NULL && e->n > 0) {
        g->times = xcalloc(e->n, sizeof(*g->times));
        memcpy(g->times, e->times, e->n * sizeof(*g->times));
        g->n = e->n;
    }
    pthread_mutex_unlock(&gs->lock);
}

static void guard_save(struct guard_store *gs)
{
    cJSON *root = cJSON_CreateObject(), *checks = cJSON_CreateObject(), *arr;
    char *text, *tmp = xasprintf("%s.tmp", gs->path);
    size_t i, k, len;
    int fd;

    for (i = 0; i < gs->n; i++) {
        if (gs->e[i].n == 0)
            continue;
        arr = cJSON_CreateArray();
        for (k = 0; k < gs->e[i].n; k++)
            cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)gs->e[i].times[k]));
        cJSON_AddItemToObject(checks, gs->e[i].key, arr);
    }
    cJSON_AddItemToObject(root, "checks", checks);
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    len = strlen(text);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0 ||
        rename(tmp, gs->path) != 0) {
        log_warn("guard: cannot save %s", gs->path);
        unlink(tmp);
    }
    if (fd >= 0)
        close(fd);
    cJSON_free(text);
    free(tmp);
}

void guard_store_put(struct guard_store *gs, const char *key, const struct cycle_guard *g)
{
    struct guard_entry *e;

    pthread_mutex_lock(&gs->lock);
    e = guard_find(gs, key, 1);
    if (e->n != g->n || (g->n > 0 && memcmp(e->times, g->times, g->n * sizeof(*g->times)) != 0)) {
        free(e->times);
        e->times = xcalloc(g->n + 1, sizeof(*e->times));
        if (g->n > 0)
            memcpy(e->times, g->times, g->n * sizeof(*g->times));
        e->n = g->n;
        guard_save(gs);
    }
    pthread_mutex_unlock(&gs->lock);
}

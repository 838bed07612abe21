/*
 * The agent's durable spool: one file per item, "<id>.<kind>", written
 * crash-safe (temp file, fsync, rename, fsync of the folder; STYLE.md §5), so
 * after a kill -9 every item is either whole or absent. An in-memory index
 * sorted by id (UUIDv7: time order) keeps depth, bytes and the oldest item at
 * hand without listing the folder. Over its limits the spool drops the oldest
 * items and counts them in the file "dropped", which survives restarts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "spool.h"

#define SPOOL_ID_MAX   64
#define SPOOL_KIND_MAX 16
#define SPOOL_DROPPED  "dropped"

struct spool_entry {
    char id[SPOOL_ID_MAX + 1];
    char kind[SPOOL_KIND_MAX + 1];
    size_t size;
};

struct spool {
    char *dir;
    int dirfd;
    size_t max_items;
    size_t max_bytes;
    pthread_mutex_t lock;
    struct spool_entry *e; /* sorted by (id, kind) */
    size_t n, cap;
    size_t bytes;
    uint64_t dropped;
};

static int spool_valid_word(const char *s, size_t max)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > max)
        return 0;
    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    }
    return 1;
}

static int spool_cmp(const void *a, const void *b)
{
    const struct spool_entry *x = a, *y = b;
    int c = strcmp(x->id, y->id);

    return c != 0 ? c : strcmp(x->kind, y->kind);
}

/* Index of (id, kind), or where it would go with *found = 0. */
static size_t spool_find(const struct spool *sp, const char *id, const char *kind, int *found)
{
    struct spool_entry key;
    size_t lo = 0, hi = sp->n, mid;
    int c;

    snprintf(key.id, sizeof(key.id), "%s", id);
    snprintf(key.kind, sizeof(key.kind), "%s", kind);
    *found = 0;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = spool_cmp(&sp->e[mid], &key);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void spool_name(char *out, size_t n, const char *id, const char *kind)
{
    snprintf(out, n, "%s.%s", id, kind);
}

static void spool_index_remove(struct spool *sp, size_t i)
{
    sp->bytes -= sp->e[i].size;
    memmove(&sp->e[i], &sp->e[i + 1], (sp->n - i - 1) * sizeof(*sp->e));
    sp->n--;
}

static void spool_index_insert(struct spool *sp, const char *id, const char *kind, size_t size)
{
    int found;
    size_t i = spool_find(sp, id, kind, &found);

    if (found) {
        sp->bytes = sp->bytes - sp->e[i].size + size;
        sp->e[i].size = size;
        return;
    }
    if (sp->n == sp->cap) {
        sp->cap = sp->cap == 0 ? 256 : sp->cap * 2;
        sp->e = xrealloc(sp->e, sp->cap * sizeof(*sp->e));
    }
    memmove(&sp->e[i + 1], &sp->e[i], (sp->n - i) * sizeof(*sp->e));
    snprintf(sp->e[i].id, sizeof(sp->e[i].id), "%s", id);
    snprintf(sp->e[i].kind, sizeof(sp->e[i].kind), "%s", kind);
    sp->e[i].size = size;
    sp->n++;
    sp->bytes += size;
}

/* Writes data to dir/name through a temp file; durable on success. */
static enum ho_code spool_write_file(int dirfd, const char *name, const char *data, size_t len,
                                     struct ho_error *err)
{
    char tmp[SPOOL_ID_MAX + SPOOL_KIND_MAX + 16];
    size_t off = 0;
    ssize_t w;
    int fd;

    snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ho_error_set(err, HO_EIO, "spool", "create %s: %s", tmp, strerror(errno));
    while (off < len) {
        w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        off += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    close(fd);
    fd = -1;
    if (renameat(dirfd, tmp, dirfd, name) != 0)
        goto fail;
    if (fsync(dirfd) != 0)
        log_warn("spool: fsync of the folder");
    return HO_OK;
fail:
    ho_error_set(err, HO_EIO, "spool", "write %s: %s", name, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlinkat(dirfd, tmp, 0);
    return HO_EIO;
}

static void spool_save_dropped(struct spool *sp)
{
    char text[32];
    struct ho_error err;

    snprintf(text, sizeof(text), "%" PRIu64 "\n", sp->dropped);
    if (spool_write_file(sp->dirfd, SPOOL_DROPPED, text, strlen(text), &err) != HO_OK)
        log_warnx("spool: cannot save the dropped count: %s", err.msg);
}

static void spool_load_dropped(struct spool *sp)
{
    char text[32];
    ssize_t n;
    char *end = NULL;
    int fd = openat(sp->dirfd, SPOOL_DROPPED, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        goto bad;
    text[n] = '\0';
    errno = 0;
    sp->dropped = strtoull(text, &end, 10);
    if (errno == 0 && end != text && (*end == '\n' || *end == '\0'))
        return;
bad:
    sp->dropped = 0;
    log_warnx("spool: %s/%s is unreadable; counting drops from 0", sp->dir, SPOOL_DROPPED);
}

/* Adds one directory entry to the index (or removes left-over temp files). */
static void spool_scan_entry(struct spool *sp, const char *name)
{
    char id[SPOOL_ID_MAX + 1], kind[SPOOL_KIND_MAX + 1];
    const char *dot;
    struct stat sb;
    size_t il;

    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, SPOOL_DROPPED) == 0 ||
        strcmp(name, "." SPOOL_DROPPED ".tmp") == 0)
        return;
    if (name[0] == '.' && strlen(name) > 4 && strcmp(name + strlen(name) - 4, ".tmp") == 0) {
        unlinkat(sp->dirfd, name, 0);
        return;
    }
    dot = strchr(name, '.');
    il = dot != NULL ? (size_t)(dot - name) : 0;
    if (dot == NULL || il > SPOOL_ID_MAX || strlen(dot + 1) > SPOOL_KIND_MAX) {
        log_warnx("spool: ignoring unknown file %s/%s", sp->dir, name);
        return;
    }
    memcpy(id, name, il);
    id[il] = '\0';
    snprintf(kind, sizeof(kind), "%s", dot + 1);
    if (!spool_valid_word(id, SPOOL_ID_MAX) || !spool_valid_word(kind, SPOOL_KIND_MAX) ||
        fstatat(sp->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) {
        log_warnx("spool: ignoring unknown file %s/%s", sp->dir, name);
        return;
    }
    spool_index_insert(sp, id, kind, (size_t)sb.st_size);
}

static enum ho_code spool_scan(struct spool *sp, struct ho_error *err)
{
    DIR *d;
    struct dirent *de;
    int fd = dup(sp->dirfd);

    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        return ho_error_set(err, HO_EIO, "spool", "cannot list %s: %s", sp->dir,
                            strerror(errno));
    }
    while ((de = readdir(d)) != NULL)
        spool_scan_entry(sp, de->d_name);
    closedir(d);
    return HO_OK;
}

enum ho_code spool_open(const char *dir, size_t max_items, size_t max_bytes, struct spool **out,
                        struct ho_error *err)
{
    struct spool *sp;
    enum ho_code rc;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return ho_error_set(err, HO_EIO, "spool", "cannot create %s: %s", dir, strerror(errno));
    sp = xcalloc(1, sizeof(*sp));
    sp->dir = xstrdup(dir);
    sp->max_items = max_items > 0 ? max_items : 1;
    sp->max_bytes = max_bytes > 0 ? max_bytes : 1;
    pthread_mutex_init(&sp->lock, NULL);
    sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sp->dirfd < 0) {
        rc = ho_error_set(err, HO_EIO, "spool", "cannot open %s: %s", dir, strerror(errno));
        spool_close(sp);
        return rc;
    }
    rc = spool_scan(sp, err);
    if (rc != HO_OK) {
        spool_close(sp);
        return rc;
    }
    spool_load_dropped(sp);
    *out = sp;
    return HO_OK;
}

void spool_close(struct spool *sp)
{
    if (sp == NULL)
        return;
    if (sp->dirfd >= 0)
        close(sp->dirfd);
    pthread_mutex_destroy(&sp->lock);
    free(sp->e);
    free(sp->dir);
    free(sp);
}

/* Drops the oldest items until one of len more bytes fits; lock held. */
static void spool_make_room(struct spool *sp, size_t len)
{
    char name[SPOOL_ID_MAX + SPOOL_KIND_MAX + 2];
    uint64_t before = sp->dropped;

    while (sp->n > 0 && (sp->n + 1 > sp->max_items || sp->bytes + len > sp->max_bytes)) {
        spool_name(name, sizeof(name), sp->e[0].id, sp->e[0].kind);
        if (unlinkat(sp->dirfd, name, 0) != 0 && errno != ENOENT)
            log_warn("spool: cannot remove %s", name);
        spool_index_remove(sp, 0);
        sp->dropped++;
    }
    if (sp->dropped != before) {
        log_warnx("spool: full (%zu items, %zu bytes): dropped the %" PRIu64
                  " oldest, %" PRIu64 " dropped in all",
                  sp->max_items, sp->max_bytes, sp->dropped - before, sp->dropped);
        spool_save_dropped(sp);
    }
}

enum ho_code spool_append(struct spool *sp, const char *kind, const char *id, const char *data,
                          size_t len, struct ho_error *err)
{
    char name[SPOOL_ID_MAX + SPOOL_KIND_MAX + 2];
    enum ho_code rc;

    if (!spool_valid_word(kind, SPOOL_KIND_MAX) || !spool_valid_word(id, SPOOL_ID_MAX))
        return ho_error_set(err, HO_EINVAL, "spool", "bad item name %.64s.%.16s", id, kind);
    if (len > sp->max_bytes)
        return ho_error_set(err, HO_ETOOBIG, "spool", "item of %zu bytes is over the spool's "
                            "%zu bytes", len, sp->max_bytes);
    spool_name(name, sizeof(name), id, kind);
    pthread_mutex_lock(&sp->lock);
    spool_make_room(sp, len);
    rc = spool_write_file(sp->dirfd, name, data, len, err);
    if (rc == HO_OK)
        spool_index_insert(sp, id, kind, len);
    pthread_mutex_unlock(&sp->lock);
    return rc;
}

static int spool_read(struct spool *sp, const struct spool_entry *e, struct spool_item *it)
{
    char name[SPOOL_ID_MAX + SPOOL_KIND_MAX + 2];
    struct stat sb;
    size_t off = 0;
    ssize_t r;
    int fd;

    spool_name(name, sizeof(name), e->id, e->kind);
    fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &sb) != 0 || (size_t)sb.st_size > sp->max_bytes) {
        log_warnx("spool: item %s unreadable (%s); dropped from the index", name,
                  fd < 0 ? strerror(errno) : "too large");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    it->data = xmalloc((size_t)sb.st_size + 1);
    while (off < (size_t)sb.st_size) {
        r = read(fd, it->data + off, (size_t)sb.st_size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    close(fd);
    it->data[off] = '\0';
    it->len = off;
    it->id = xstrdup(e->id);
    it->kind = xstrdup(e->kind);
    return 0;
}

enum ho_code spool_peek(struct spool *sp, const char *kind, size_t max_items, size_t max_bytes,
                        struct spool_item **items, size_t *n)
{
    struct spool_item *out = NULL;
    size_t i = 0, got = 0, bytes = 0;

    *items = NULL;
    *n = 0;
    pthread_mutex_lock(&sp->lock);
    out = xcalloc(max_items + 1, sizeof(*out));
    while (i < sp->n && got < max_items) {
        struct spool_entry *e = &sp->e[i];

        if (strcmp(e->kind, kind) != 0) {
            i++;
            continue;
        }
        if (got > 0 && bytes + e->size > max_bytes)
            break;
        if (spool_read(sp, e, &out[got]) != 0) {
            spool_index_remove(sp, i);
            continue;
        }
        bytes += out[got].len;
        got++;
        i++;
    }
    pthread_mutex_unlock(&sp->lock);
    *items = out;
    *n = got;
    return HO_OK;
}

void spool_items_free(struct spool_item *items, size_t n)
{
    size_t i;

    if (items == NULL)
        return;
    for (i = 0; i < n; i++) {
        free(items[i].kind);
        free(items[i].id);
        free(items[i].data);
    }
    free(items);
}

enum ho_code spool_remove(struct spool *sp, const char *kind, const char *id)
{
    char name[SPOOL_ID_MAX + SPOOL_KIND_MAX + 2];
    size_t i;
    int found;

    if (!spool_valid_word(kind, SPOOL_KIND_MAX) || !spool_valid_word(id, SPOOL_ID_MAX))
        return HO_EINVAL;
    spool_name(name, sizeof(name), id, kind);
    pthread_mutex_lock(&sp->lock);
    i = spool_find(sp, id, kind, &found);
    if (found) {
        if (unlinkat(sp->dirfd, name, 0) != 0 && errno != ENOENT)
            log_warn("spool: cannot remove %s", name);
        spool_index_remove(sp, i);
    }
    pthread_mutex_unlock(&sp->lock);
    return found ? HO_OK : HO_ENOENT;
}

size_t spool_depth(struct spool *sp)
{
    size_t n;

    pthread_mutex_lock(&sp->lock);
    n = sp->n;
    pthread_mutex_unlock(&sp->lock);
    return n;
}

uint64_t spool_dropped(struct spool *sp)
{
    uint64_t d;

    pthread_mutex_lock(&sp->lock);
    d = sp->dropped;
    pthread_mutex_unlock(&sp->lock);
    return d;
}

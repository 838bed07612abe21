/*
 * The agent's durable spool (DESIGN.md §4: nothing is lost while the server
 * is unreachable; bounded, and what is dropped is counted). One file per item,
 * "<id>.<kind>", written crash-safe (STYLE.md §5: ".<id>.<kind>.tmp" created
 * O_EXCL, written, fsync'd, renamed), so after a kill -9 an item is whole or
 * absent and a left-over temp file is removed at open.
 *
 * When fsync happens depends on whether the server is there (spool_sync_each,
 * which the sender sets). While it is away (and before the first send, and in
 * a manual "healops-agent run"), every append fsyncs its file before the
 * rename, as above. While the server takes runs within the second, an append
 * only writes and renames: its item is sent and removed long before the
 * kernel would write it back, and the fsync was a quarter of the agent's CPU per
 * run. Such items are marked unsynced; spool_sync (the sender calls it when a
 * send fails, and close does) fsyncs each of them, then the folder, which
 * makes the renames themselves durable. What a power loss can cost is the
 * newest items not yet sent and not yet synced: absent, or (written but not
 * fsync'd) empty or cut short, which the server refuses and the sender then
 * drops one by one (sender.c), so a torn item can never block the spool.
 *
 * The in-memory index has one queue per kind, each sorted by id (a UUIDv7, so
 * lexical order is time order); the oldest item of the spool is the smallest
 * head of the queues (equal ids: the smaller kind). Totals make depth and
 * bytes O(1) and peek never lists the folder. A mutex guards the index; the
 * slow part of an append (write and fsync of the temp file) runs outside it,
 * and only the rename and the index update run inside, so the folder and the
 * index change together. The count of dropped items lives in the file
 * "dropped", rewritten crash-safe under its own mutex so the newest count wins.
 *
 * Removals (acknowledged or dropped items) are not followed by a folder fsync:
 * after a power loss such an item may come back and is sent again, which the
 * server's idempotence on run ids makes harmless.
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
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "spool.h"

#define SPOOL_WORD_MAX     64                       /* longest id or kind */
#define SPOOL_NAME_MAX     (2 * SPOOL_WORD_MAX + 8) /* "<id>.<kind>" and NUL */
#define SPOOL_TMP_NAME_MAX (SPOOL_NAME_MAX + 8)     /* ".<name>.tmp" and NUL */
#define SPOOL_DROPPED      "dropped"
#define SPOOL_TMP_STALE_S  600 /* a temp file this old was left by a crash */
#define SPOOL_DROPPED_TEXT 32

struct spool_entry {
    char *id;    /* owned */
    size_t size; /* bytes of the file */
    int synced;  /* its data was fsync'd */
};

/* The items of one kind, oldest first: live entries are e[head .. head + n). */
struct spool_queue {
    char *kind; /* owned */
    struct spool_entry *e;
    size_t head, n, cap;
};

struct spool {
    char *dir;        /* for messages */
    int dirfd;        /* the folder, for *at() calls and its fsync */
    size_t max_items; /* limits, > 0 */
    size_t max_bytes;
    pthread_mutex_t lock;      /* guards everything below */
    struct spool_queue *kinds; /* sorted by kind */
    size_t nkinds;
    size_t count; /* items held, all kinds */
    size_t bytes; /* their sizes added up */
    uint64_t dropped;
    int unsynced;              /* renames since the last folder fsync */
    int sync_each;             /* fsync every append (the server is away) */
    pthread_mutex_t save_lock; /* serialises rewrites of the "dropped" file */
};

/* 1 when s is [a-z0-9-]+ of at most SPOOL_WORD_MAX bytes. */
static int spool_valid_word(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0')
        return 0;
    for (i = 0; s[i] != '\0'; i++) {
        if (i >= SPOOL_WORD_MAX)
            return 0;
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    }
    return 1;
}

static void spool_name(char out[SPOOL_NAME_MAX], const char *id, const char *kind)
{
    snprintf(out, SPOOL_NAME_MAX, "%s.%s", id, kind);
}

static void spool_tmp_name(char out[SPOOL_TMP_NAME_MAX], const char *name)
{
    snprintf(out, SPOOL_TMP_NAME_MAX, ".%s.tmp", name);
}

/* --- the index ----------------------------------------------------------- */

/* The queue of kind, or NULL; with create, made when missing. Lock held. */
static struct spool_queue *spool_queue(struct spool *sp, const char *kind, int create)
{
    size_t i;
    int c = 1;

    for (i = 0; i < sp->nkinds; i++) {
        c = strcmp(sp->kinds[i].kind, kind);
        if (c >= 0)
            break;
    }
    if (c == 0)
        return &sp->kinds[i];
    if (!create)
        return NULL;
    sp->kinds = xrealloc(sp->kinds, (sp->nkinds + 1) * sizeof(*sp->kinds));
    memmove(&sp->kinds[i + 1], &sp->kinds[i], (sp->nkinds - i) * sizeof(*sp->kinds));
    memset(&sp->kinds[i], 0, sizeof(sp->kinds[i]));
    sp->kinds[i].kind = xstrdup(kind);
    sp->nkinds++;
    return &sp->kinds[i];
}

/* Position of id in q (relative to head), or where it would go with *found = 0. */
static size_t spool_queue_find(const struct spool_queue *q, const char *id, int *found)
{
    size_t lo = 0, hi = q->n, mid;
    int c;

    *found = 0;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = strcmp(q->e[q->head + mid].id, id);
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

/*
 * Inserts id at position pos (relative to head). Appending the newest and
 * putting back the oldest are O(1); the space before head is reclaimed when
 * the array is full.
 */
static void spool_queue_insert(struct spool_queue *q, size_t pos, const char *id, size_t size,
                               int synced)
{
    struct spool_entry *at;

    if (pos == 0 && q->head > 0) {
        q->head--;
    } else {
        if (q->head + q->n == q->cap) {
            if (q->head > 0) {
                memmove(q->e, q->e + q->head, q->n * sizeof(*q->e));
                q->head = 0;
            } else {
                q->cap = q->cap == 0 ? 64 : q->cap * 2;
                q->e = xrealloc(q->e, q->cap * sizeof(*q->e));
            }
        }
        at = q->e + q->head + pos;
        memmove(at + 1, at, (q->n - pos) * sizeof(*q->e));
    }
    at = q->e + q->head + pos;
    at->id = xstrdup(id);
    at->size = size;
    at->synced = synced;
    q->n++;
}

/* Removes the entry at pos (relative to head); removing the oldest is O(1). */
static void spool_queue_erase(struct spool_queue *q, size_t pos)
{
    struct spool_entry *at = q->e + q->head + pos;

    free(at->id);
    if (pos == 0)
        q->head++;
    else
        memmove(at, at + 1, (q->n - pos - 1) * sizeof(*q->e));
    q->n--;
    if (q->n == 0)
        q->head = 0;
}

static void spool_index_add(struct spool *sp, const char *kind, const char *id, size_t size,
                            int synced)
{
    struct spool_queue *q = spool_queue(sp, kind, 1);
    size_t pos;
    int found;

    pos = spool_queue_find(q, id, &found);
    if (found) {
        sp->bytes = sp->bytes - q->e[q->head + pos].size + size;
        q->e[q->head + pos].size = size; /* a rescan: its synced mark stays */
        return;
    }
    spool_queue_insert(q, pos, id, size, synced);
    sp->count++;
    sp->bytes += size;
}

/* Forgets (kind, id); the file is left alone. Returns 1 when it was indexed. */
static int spool_index_forget(struct spool *sp, const char *kind, const char *id)
{
    struct spool_queue *q = spool_queue(sp, kind, 0);
    size_t pos;
    int found = 0;

    if (q == NULL)
        return 0;
    pos = spool_queue_find(q, id, &found);
    if (!found)
        return 0;
    sp->bytes -= q->e[q->head + pos].size;
    sp->count--;
    spool_queue_erase(q, pos);
    return 1;
}

/* The queue whose head is the oldest item of the spool, or NULL when empty. */
static struct spool_queue *spool_oldest(struct spool *sp)
{
    struct spool_queue *best = NULL;
    size_t i;

    for (i = 0; i < sp->nkinds; i++) {
        struct spool_queue *q = &sp->kinds[i];

        if (q->n == 0)
            continue;
        /* strictly smaller: equal ids go to the kind sorted first */
        if (best == NULL || strcmp(q->e[q->head].id, best->e[best->head].id) < 0)
            best = q;
    }
    return best;
}

/* --- files ----------------------------------------------------------------- */

/* Writes data to the new temp file tmp, fsyncs it when asked; unlinks it on failure. */
static enum ho_code spool_write_tmp(struct spool *sp, const char *tmp, const void *data, size_t len,
                                    int sync, struct ho_error *err)
{
    const char *p = data;
    size_t off = 0;
    ssize_t w;
    int fd, saved;

    fd = openat(sp->dirfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ho_error_set(err, errno == EEXIST ? HO_EBUSY : HO_EIO, NULL,
                            "spool: cannot create %s/%s: %s", sp->dir, tmp, strerror(errno));
    while (off < len) {
        w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail;
        off += (size_t)w;
    }
    if (sync && fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    return HO_OK;
fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlinkat(sp->dirfd, tmp, 0);
    return ho_error_set(err, HO_EIO, NULL, "spool: cannot write %s/%s: %s", sp->dir, tmp,
                        strerror(saved));
}

static enum ho_code spool_fsync_dir(struct spool *sp, struct ho_error *err)
{
    if (fsync(sp->dirfd) != 0)
        return ho_error_set(err, HO_EIO, NULL, "spool: cannot fsync %s: %s", sp->dir,
                            strerror(errno));
    return HO_OK;
}

/* Writes the dropped count crash-safe; the newest count always lands last. */
static void spool_save_dropped(struct spool *sp)
{
    char text[SPOOL_DROPPED_TEXT], tmp[SPOOL_TMP_NAME_MAX];
    struct ho_error err;
    uint64_t n;

    spool_tmp_name(tmp, SPOOL_DROPPED);
    pthread_mutex_lock(&sp->save_lock);
    pthread_mutex_lock(&sp->lock);
    n = sp->dropped;
    pthread_mutex_unlock(&sp->lock);
    snprintf(text, sizeof(text), "%" PRIu64 "\n", n);
    if (spool_write_tmp(sp, tmp, text, strlen(text), 1, &err) != HO_OK) {
        log_warnx("%s", err.msg);
    } else if (renameat(sp->dirfd, tmp, sp->dirfd, SPOOL_DROPPED) != 0) {
        log_warn("spool: cannot rename %s/%s", sp->dir, tmp);
        unlinkat(sp->dirfd, tmp, 0);
    } else if (spool_fsync_dir(sp, &err) != HO_OK) {
        log_warnx("%s", err.msg);
    }
    pthread_mutex_unlock(&sp->save_lock);
}

/* Loads the dropped count; a missing file is 0, an unreadable one 0 with a warning. */
static void spool_load_dropped(struct spool *sp)
{
    char text[SPOOL_DROPPED_TEXT];
    char *end = NULL;
    ssize_t n;
    int fd;

    sp->dropped = 0;
    fd = openat(sp->dirfd, SPOOL_DROPPED, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno != ENOENT)
            log_warn("spool: cannot open %s/%s; counting drops from 0", sp->dir, SPOOL_DROPPED);
        return;
    }
    do {
        n = read(fd, text, sizeof(text) - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n > 0) {
        text[n] = '\0';
        errno = 0;
        if (text[0] >= '0' && text[0] <= '9') {
            sp->dropped = strtoull(text, &end, 10);
            if (errno == 0 && (strcmp(end, "\n") == 0 || *end == '\0'))
                return;
        }
    }
    sp->dropped = 0;
    log_warnx("spool: %s/%s is corrupted; counting drops from 0", sp->dir, SPOOL_DROPPED);
}

/*
 * Drops the oldest items until items more items of len bytes in all fit;
 * lock held. Returns how many were dropped.
 */
static uint64_t spool_make_room(struct spool *sp, size_t items, size_t len)
{
    char name[SPOOL_NAME_MAX];
    struct spool_queue *q;
    uint64_t before = sp->dropped;

    while (sp->count + items > sp->max_items || sp->bytes + len > sp->max_bytes) {
        q = spool_oldest(sp);
        if (q == NULL)
            break;
        spool_name(name, q->e[q->head].id, q->kind);
        if (unlinkat(sp->dirfd, name, 0) != 0 && errno != ENOENT)
            log_warn("spool: cannot remove %s/%s", sp->dir, name);
        sp->bytes -= q->e[q->head].size;
        sp->count--;
        spool_queue_erase(q, 0);
        sp->dropped++;
    }
    return sp->dropped - before;
}

static void spool_log_drops(const struct spool *sp, uint64_t n, uint64_t total)
{
    log_warnx("spool: full (%zu items, %zu bytes at most): dropped the %" PRIu64 " oldest, %" PRIu64
              " dropped since the spool was made",
              sp->max_items, sp->max_bytes, n, total);
}

/* --- open and close --------------------------------------------------------- */

/*
 * Indexes one folder entry, removes a left-over temp file, warns about the rest.
 * A temp file is left over only when it is older than SPOOL_TMP_STALE_S: a younger
 * one may be another process writing into the same folder right now (a manual
 * "healops-agent run" beside the daemon).
 */
static void spool_scan_entry(struct spool *sp, const char *name, int quiet)
{
    char id[SPOOL_WORD_MAX + 1], safe[128];
    const char *dot;
    struct stat sb;
    size_t len = strlen(name);

    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, SPOOL_DROPPED) == 0)
        return;
    if (name[0] == '.' && len > 4 && strcmp(name + len - 4, ".tmp") == 0) {
        if (fstatat(sp->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            time(NULL) - sb.st_mtime < SPOOL_TMP_STALE_S)
            return;
        /* a write cut short by a crash: never renamed, so never acknowledged as stored */
        if (unlinkat(sp->dirfd, name, 0) != 0)
            log_warn("spool: cannot remove %s/%s", sp->dir, log_safe(safe, sizeof(safe), name));
        else
            log_info("spool: removed the unfinished %s/%s", sp->dir,
                     log_safe(safe, sizeof(safe), name));
        return;
    }
    dot = strchr(name, '.');
    if (dot == NULL || (size_t)(dot - name) > SPOOL_WORD_MAX)
        goto unknown;
    memcpy(id, name, (size_t)(dot - name));
    id[dot - name] = '\0';
    if (!spool_valid_word(id) || !spool_valid_word(dot + 1))
        goto unknown;
    if (fstatat(sp->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
        goto unknown;
    /* whoever wrote it may not have fsync'd it (a kill -9 of a daemon that did not) */
    spool_index_add(sp, dot + 1, id, (size_t)sb.st_size, 0);
    return;
unknown:
    if (!quiet)
        log_warnx("spool: ignoring unknown file %s/%s", sp->dir,
                  log_safe(safe, sizeof(safe), name));
}

static enum ho_code spool_scan(struct spool *sp, int quiet, struct ho_error *err)
{
    struct dirent *de;
    DIR *d = NULL;
    int fd;

    fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0)
        d = fdopendir(fd);
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return ho_error_set(err, HO_EIO, NULL, "spool: cannot list %s: %s", sp->dir,
                            strerror(errno));
    }
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL)
            break;
        spool_scan_entry(sp, de->d_name, quiet);
    }
    if (errno != 0) {
        closedir(d);
        return ho_error_set(err, HO_EIO, NULL, "spool: cannot list %s: %s", sp->dir,
                            strerror(errno));
    }
    closedir(d);
    return HO_OK;
}

enum ho_code spool_open(const char *dir, size_t max_items, size_t max_bytes, struct spool **out,
                        struct ho_error *err)
{
    struct spool *sp = NULL;
    uint64_t n;
    enum ho_code rc;

    *out = NULL;
    if (max_items == 0 || max_bytes == 0)
        return ho_error_set(err, HO_EINVAL, NULL, "spool: limits must be above 0");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return ho_error_set(err, HO_EIO, NULL, "spool: cannot create %s: %s", dir, strerror(errno));
    sp = xcalloc(1, sizeof(*sp));
    sp->dir = xstrdup(dir);
    sp->max_items = max_items;
    sp->max_bytes = max_bytes;
    pthread_mutex_init(&sp->lock, NULL);
    pthread_mutex_init(&sp->save_lock, NULL);
    sp->sync_each = 1;
    sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sp->dirfd < 0) {
        rc = ho_error_set(err, HO_EIO, NULL, "spool: cannot open %s: %s", dir, strerror(errno));
        goto out;
    }
    rc = spool_scan(sp, 0, err);
    if (rc != HO_OK)
        goto out;
    spool_load_dropped(sp);
    /* the limits may have shrunk since the items were written */
    n = spool_make_room(sp, 0, 0);
    if (n > 0) {
        spool_log_drops(sp, n, sp->dropped);
        spool_save_dropped(sp);
    }
    log_debug("spool: %s holds %zu items, %zu bytes; %" PRIu64 " dropped so far", dir, sp->count,
              sp->bytes, sp->dropped);
    *out = sp;
    sp = NULL;
out:
    spool_close(sp);
    return rc;
}

void spool_close(struct spool *sp)
{
    struct ho_error err;
    size_t i, j;

    if (sp == NULL)
        return;
    if (sp->dirfd >= 0) {
        ho_error_clear(&err);
        if (spool_sync(sp, &err) != HO_OK)
            log_warnx("%s", err.msg);
        close(sp->dirfd);
    }
    for (i = 0; i < sp->nkinds; i++) {
        for (j = 0; j < sp->kinds[i].n; j++)
            free(sp->kinds[i].e[sp->kinds[i].head + j].id);
        free(sp->kinds[i].e);
        free(sp->kinds[i].kind);
    }
    free(sp->kinds);
    pthread_mutex_destroy(&sp->lock);
    pthread_mutex_destroy(&sp->save_lock);
    free(sp->dir);
    free(sp);
}

/* --- items ------------------------------------------------------------------ */

enum ho_code spool_append(struct spool *sp, const char *kind, const char *id, const char *data,
                          size_t len, struct ho_error *err)
{
    char name[SPOOL_NAME_MAX], tmp[SPOOL_TMP_NAME_MAX];
    uint64_t dropped, total;
    enum ho_code rc;
    int sync;

    if (!spool_valid_word(kind))
        return ho_error_set(err, HO_EINVAL, "kind", "spool: kind must be [a-z0-9-]{1,64}");
    if (!spool_valid_word(id))
        return ho_error_set(err, HO_EINVAL, "id", "spool: id must be [a-z0-9-]{1,64}");
    if (len > sp->max_bytes)
        return ho_error_set(err, HO_ETOOBIG, NULL,
                            "spool: item %s of %zu bytes is larger than the spool (%zu bytes)", id,
                            len, sp->max_bytes);
    spool_name(name, id, kind);
    spool_tmp_name(tmp, name);
    pthread_mutex_lock(&sp->lock);
    sync = sp->sync_each;
    pthread_mutex_unlock(&sp->lock);
    rc = spool_write_tmp(sp, tmp, data, len, sync, err);
    if (rc != HO_OK)
        return rc;

    pthread_mutex_lock(&sp->lock);
    if (renameat(sp->dirfd, tmp, sp->dirfd, name) != 0) {
        rc = ho_error_set(err, HO_EIO, NULL, "spool: cannot rename %s/%s: %s", sp->dir, tmp,
                          strerror(errno));
        pthread_mutex_unlock(&sp->lock);
        unlinkat(sp->dirfd, tmp, 0);
        return rc;
    }
    /*
     * The same item written again replaced its file: forget the old entry so
     * making room can neither count it twice nor unlink the new content.
     */
    spool_index_forget(sp, kind, id);
    dropped = spool_make_room(sp, 1, len);
    spool_index_add(sp, kind, id, len, sync);
    sp->unsynced = 1;
    total = sp->dropped;
    pthread_mutex_unlock(&sp->lock);

    if (dropped > 0) {
        spool_log_drops(sp, dropped, total);
        spool_save_dropped(sp);
    }
    return HO_OK;
}

void spool_sync_each(struct spool *sp, int on)
{
    pthread_mutex_lock(&sp->lock);
    sp->sync_each = on != 0;
    pthread_mutex_unlock(&sp->lock);
}

/* An item whose data spool_sync is to fsync: its file name, "<id>.<kind>". */
struct spool_pending {
    char name[SPOOL_NAME_MAX];
};

/* The items written without fsync, marked synced now; lock held. */
static struct spool_pending *spool_take_unsynced(struct spool *sp, size_t *n)
{
    struct spool_pending *p = NULL;
    size_t i, j, cap = 0;

    *n = 0;
    for (i = 0; i < sp->nkinds; i++) {
        struct spool_queue *q = &sp->kinds[i];

        for (j = 0; j < q->n; j++) {
            struct spool_entry *e = &q->e[q->head + j];

            if (e->synced)
                continue;
            if (*n == cap) {
                cap = cap == 0 ? 16 : cap * 2;
                p = xrealloc(p, cap * sizeof(*p));
            }
            spool_name(p[(*n)++].name, e->id, q->kind);
            e->synced = 1;
        }
    }
    return p;
}

/* Marks the items p[from..n) unsynced again (a sync failed); lock held. */
static void spool_untake(struct spool *sp, struct spool_pending *p, size_t from, size_t n)
{
    struct spool_queue *q;
    char *dot;
    size_t i, pos;
    int found;

    for (i = from; i < n; i++) {
        dot = strchr(p[i].name, '.'); /* ids and kinds have none */
        *dot = '\0';
        q = spool_queue(sp, dot + 1, 0);
        if (q == NULL)
            continue;
        pos = spool_queue_find(q, p[i].name, &found);
        if (found)
            q->e[q->head + pos].synced = 0;
    }
}

/* fsyncs one item's file; an item removed meanwhile (sent, dropped) is fine. */
static int spool_fsync_item(struct spool *sp, const char *name)
{
    int fd, rc;

    fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

enum ho_code spool_sync(struct spool *sp, struct ho_error *err)
{
    struct spool_pending *p;
    size_t i, n;
    int unsynced, saved;
    enum ho_code rc = HO_OK;

    pthread_mutex_lock(&sp->lock);
    p = spool_take_unsynced(sp, &n);
    unsynced = sp->unsynced;
    sp->unsynced = 0;
    pthread_mutex_unlock(&sp->lock);
    for (i = 0; i < n; i++) {
        if (spool_fsync_item(sp, p[i].name) != 0) {
            saved = errno;
            rc = ho_error_set(err, HO_EIO, NULL, "spool: cannot fsync %s/%s: %s", sp->dir,
                              p[i].name, strerror(saved));
            break;
        }
    }
    if (rc == HO_OK && (unsynced || n > 0))
        rc = spool_fsync_dir(sp, err);
    if (rc != HO_OK) {
        pthread_mutex_lock(&sp->lock);
        spool_untake(sp, p, i < n ? i : 0, n);
        sp->unsynced = 1;
        pthread_mutex_unlock(&sp->lock);
    }
    free(p);
    return rc;
}

/* Reads the file of (kind, id) into it; -1 (errno set) when it cannot. */
static int spool_read(struct spool *sp, const char *kind, const char *id, struct spool_item *it)
{
    char name[SPOOL_NAME_MAX];
    struct stat sb;
    char *data = NULL;
    size_t off = 0, size;
    ssize_t r;
    int fd, saved;

    spool_name(name, id, kind);
    fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (fstat(fd, &sb) != 0)
        goto fail;
    if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > (uint64_t)sp->max_bytes) {
        errno = EFBIG;
        goto fail;
    }
    size = (size_t)sb.st_size;
    data = xmalloc(size + 1);
    while (off < size) {
        r = read(fd, data + off, size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto fail;
        if (r == 0)
            break;
        off += (size_t)r;
    }
    close(fd);
    data[off] = '\0';
    it->kind = xstrdup(kind);
    it->id = xstrdup(id);
    it->data = data;
    it->len = off;
    return 0;
fail:
    saved = errno;
    free(data);
    close(fd);
    errno = saved;
    return -1;
}

/*
 * Copies the ids of up to max_items of q, oldest first, whose sizes fit
 * max_bytes (at least one); lock held. Returns how many.
 */
static size_t spool_snapshot(const struct spool_queue *q, size_t max_items, size_t max_bytes,
                             char **ids)
{
    size_t i, bytes = 0;

    for (i = 0; i < q->n && i < max_items; i++) {
        const struct spool_entry *e = &q->e[q->head + i];

        if (i > 0 && (e->size > max_bytes || bytes > max_bytes - e->size))
            break;
        bytes += e->size;
        ids[i] = xstrdup(e->id);
    }
    return i;
}

/*
 * One round of peek: reads the snapshot outside the lock; items that vanished
 * or cannot be read are dropped from the index. Returns how many were lost.
 */
static size_t spool_peek_round(struct spool *sp, const char *kind, size_t max_items,
                               size_t max_bytes, struct spool_item *out, size_t *got)
{
    struct spool_queue *q;
    char **ids = xcalloc(max_items, sizeof(*ids));
    size_t i, want = 0, lost = 0;
    int saved, forgot;

    pthread_mutex_lock(&sp->lock);
    q = spool_queue(sp, kind, 0);
    if (q != NULL)
        want = spool_snapshot(q, max_items, max_bytes, ids);
    pthread_mutex_unlock(&sp->lock);

    *got = 0;
    for (i = 0; i < want; i++) {
        if (spool_read(sp, kind, ids[i], &out[*got]) == 0) {
            (*got)++;
            continue;
        }
        /* removed meanwhile by the sender is fine; still indexed means the file is bad */
        saved = errno;
        pthread_mutex_lock(&sp->lock);
        forgot = spool_index_forget(sp, kind, ids[i]);
        pthread_mutex_unlock(&sp->lock);
        if (forgot) {
            errno = saved;
            log_warn("spool: item %s/%s.%s cannot be read; dropped from the index", sp->dir, ids[i],
                     kind);
            lost++;
        }
    }
    for (i = 0; i < want; i++)
        free(ids[i]);
    free(ids);
    return lost;
}

enum ho_code spool_peek(struct spool *sp, const char *kind, size_t max_items, size_t max_bytes,
                        struct spool_item **items, size_t *n)
{
    struct spool_item *out;
    size_t got = 0;

    *items = NULL;
    *n = 0;
    if (!spool_valid_word(kind))
        return HO_EINVAL;
    if (max_items == 0)
        return HO_OK;
    if (max_items > sp->max_items)
        max_items = sp->max_items;
    out = xcalloc(max_items, sizeof(*out));
    /* unreadable items shrink the answer; try again while that left it empty */
    while (spool_peek_round(sp, kind, max_items, max_bytes, out, &got) > 0 && got == 0)
        ;
    if (got == 0) {
        free(out);
        return HO_OK;
    }
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
    char name[SPOOL_NAME_MAX];
    int found;

    if (!spool_valid_word(kind) || !spool_valid_word(id))
        return HO_EINVAL;
    spool_name(name, id, kind);
    pthread_mutex_lock(&sp->lock);
    found = spool_index_forget(sp, kind, id);
    if (found && unlinkat(sp->dirfd, name, 0) != 0 && errno != ENOENT)
        log_warn("spool: cannot remove %s/%s", sp->dir, name);
    pthread_mutex_unlock(&sp->lock);
    return found ? HO_OK : HO_ENOENT;
}

size_t spool_depth(struct spool *sp)
{
    size_t n;

    pthread_mutex_lock(&sp->lock);
    n = sp->count;
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

enum ho_code spool_rescan(struct spool *sp, struct ho_error *err)
{
    enum ho_code rc;
    uint64_t n;

    pthread_mutex_lock(&sp->lock);
    rc = spool_scan(sp, 1, err);
    n = spool_make_room(sp, 0, 0);
    pthread_mutex_unlock(&sp->lock);
    if (n > 0) {
        spool_log_drops(sp, n, spool_dropped(sp));
        spool_save_dropped(sp);
    }
    return rc;
}

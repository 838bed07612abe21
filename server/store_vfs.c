/*
 * The writer connection's VFS (store_vfs.h): SQLite's default VFS with the
 * write-ahead log's writes gathered.
 *
 * SQLite appends a WAL frame with two writes, its 24-byte header and then the
 * page (https://sqlite.org/fileformat2.html#walformat), so a transaction that
 * changes 70 pages costs 140 system calls. Here the frames of a transaction
 * collect in a buffer while they follow one another in the file, and go out in
 * writes of 124 KiB (the most the unix VFS takes at once), five instead of 140:
 *   - after the page of a commit frame (a frame header whose "database size
 *     after commit" field is not zero): the commit's write error reaches SQLite
 *     as the error of that xWrite, as it would without the buffer;
 *   - before anything that must see the file as written: a write elsewhere in the
 *     log, a read, a size, a truncate, a sync, a close;
 *   - when the buffer is full;
 *   - at every shared-memory barrier of the same connection's database file:
 *     SQLite raises one in the middle of publishing a new WAL index header, so no
 *     other connection can see a frame that is still only here.
 * A process killed before a commit's frames went out loses that uncommitted
 * transaction only, as a crash in the middle of SQLite's own writes would.
 * Everything else is the default VFS's.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store_vfs.h"

#define VFS_NAME     "healops-wal"
#define WAL_BUF_SIZE (1024 * 1024) /* 128 frames of 8 KiB pages */
#define FRAME_HDR    24            /* bytes of a WAL frame header */
/* The unix VFS writes at most 128 KiB - 1 bytes a call (os_unix.c seekAndWriteFd). */
#define WRITE_MAX (124 * 1024)

struct vfs_file {
    sqlite3_file base;     /* pMethods: vfs_io */
    sqlite3_file *real;    /* the default VFS's file, in the same allocation */
    const char *db_name;   /* the database's name (both kinds): links a log to its file */
    struct vfs_file *wal;  /* a database file: its connection's log while open */
    struct vfs_file *db;   /* a log: its connection's database file */
    struct vfs_file *next; /* open database files of this VFS */
    int is_wal;
    int commit_next;   /* the next write is the page of a commit frame */
    int deferred_rc;   /* a flush at a barrier failed: the next call reports it */
    char *buf;         /* a log: WAL_BUF_SIZE bytes of frames not written yet */
    size_t len;        /* bytes in buf */
    sqlite3_int64 off; /* where buf[0] goes in the file */
};

static sqlite3_vfs vfs;
static sqlite3_vfs *base_vfs;
static sqlite3_io_methods vfs_io;
static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static struct vfs_file *open_dbs; /* under open_mu */

static struct vfs_file *file_of(sqlite3_file *f)
{
    return (struct vfs_file *)f;
}

/* Writes out what the log's buffer holds. */
static int wal_flush(struct vfs_file *f)
{
    size_t done = 0, n;
    int rc = SQLITE_OK;

    while (rc == SQLITE_OK && done < f->len) {
        n = f->len - done < WRITE_MAX ? f->len - done : WRITE_MAX;
        rc =
            f->real->pMethods->xWrite(f->real, f->buf + done, (int)n, f->off + (sqlite3_int64)done);
        done += n;
    }
    f->len = 0;
    return rc;
}

/* Flushes a log, or a database file's log; the first error a barrier kept, if any. */
static int file_flush(struct vfs_file *f)
{
    int rc = f->deferred_rc;

    f->deferred_rc = SQLITE_OK;
    if (rc == SQLITE_OK && f->is_wal)
        rc = wal_flush(f);
    return rc;
}

static int vfs_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 off)
{
    struct vfs_file *f = file_of(pf);
    int rc = file_flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, p, n, off);
}

/* Big-endian 32-bit field at p (the WAL's byte order for frame headers). */
static unsigned be32(const unsigned char *p)
{
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

static int vfs_write(sqlite3_file *pf, const void *p, int n, sqlite3_int64 off)
{
    struct vfs_file *f = file_of(pf);
    int rc, commit;

    if (!f->is_wal)
        return f->real->pMethods->xWrite(f->real, p, n, off);
    rc = f->deferred_rc;
    f->deferred_rc = SQLITE_OK;
    if (rc == SQLITE_OK && f->len > 0 &&
        (off != f->off + (sqlite3_int64)f->len || f->len + (size_t)n > WAL_BUF_SIZE))
        rc = wal_flush(f);
    if (rc != SQLITE_OK)
        return rc;
    if ((size_t)n > WRITE_MAX) { /* larger than any page: not a frame's part */
        f->commit_next = 0;
        return f->real->pMethods->xWrite(f->real, p, n, off);
    }
    if (f->len == 0)
        f->off = off;
    memcpy(f->buf + f->len, p, (size_t)n);
    f->len += (size_t)n;
    commit = f->commit_next;
    f->commit_next = n == FRAME_HDR && be32((const unsigned char *)p + 4) != 0;
    return commit ? wal_flush(f) : SQLITE_OK;
}

static int vfs_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    struct vfs_file *f = file_of(pf);
    int rc = file_flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int vfs_sync(sqlite3_file *pf, int flags)
{
    struct vfs_file *f = file_of(pf);
    int rc = file_flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int vfs_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
    struct vfs_file *f = file_of(pf);
    int rc = file_flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int vfs_lock(sqlite3_file *pf, int lock)
{
    struct vfs_file *f = file_of(pf);

    return f->real->pMethods->xLock(f->real, lock);
}

static int vfs_unlock(sqlite3_file *pf, int lock)
{
    struct vfs_file *f = file_of(pf);

    return f->real->pMethods->xUnlock(f->real, lock);
}

static int vfs_check_reserved(sqlite3_file *pf, int *out)
{
    struct vfs_file *f = file_of(pf);

    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int vfs_file_control(sqlite3_file *pf, int op, void *arg)
{
    struct vfs_file *f = file_of(pf);

    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int vfs_sector_size(sqlite3_file *pf)
{
    struct vfs_file *f = file_of(pf);

    return f->real->pMethods->xSectorSize(f->real);
}

static int vfs_device_characteristics(sqlite3_file *pf)
{
    struct vfs_file *f = file_of(pf);

    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int vfs_shm_map(sqlite3_file *pf, int page, int size, int extend, void volatile **out)
{
    struct vfs_file *f = file_of(pf);

    return f->real->pMethods->xShmMap(f->real, page, size, extend, out);
}

static int vfs_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
    struct vfs_file *f = file_of(pf);

    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

/* SQLite publishes a new WAL index header around this call: the log must be written by then. */
static void vfs_shm_barrier(sqlite3_file *pf)
{
    struct vfs_file *f = file_of(pf);
    int rc;

    if (f->wal != NULL && f->wal->len > 0) {
        rc = wal_flush(f->wal);
        if (rc != SQLITE_OK && f->wal->deferred_rc == SQLITE_OK)
            f->wal->deferred_rc = rc;
    }
    f->real->pMethods->xShmBarrier(f->real);
}

static int vfs_shm_unmap(sqlite3_file *pf, int del)
{
    struct vfs_file *f = file_of(pf);

    return f->real->pMethods->xShmUnmap(f->real, del);
}

static int vfs_fetch(sqlite3_file *pf, sqlite3_int64 off, int n, void **out)
{
    struct vfs_file *f = file_of(pf);

    if (f->real->pMethods->iVersion < 3) {
        *out = NULL;
        return SQLITE_OK;
    }
    return f->real->pMethods->xFetch(f->real, off, n, out);
}

static int vfs_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
    struct vfs_file *f = file_of(pf);

    return f->real->pMethods->iVersion < 3 ? SQLITE_OK
                                           : f->real->pMethods->xUnfetch(f->real, off, p);
}

/* Takes f out of the open list and out of its partner's link. */
static void file_unlink(struct vfs_file *f)
{
    struct vfs_file **pp;

    pthread_mutex_lock(&open_mu);
    if (f->is_wal && f->db != NULL)
        f->db->wal = NULL;
    if (!f->is_wal) {
        for (pp = &open_dbs; *pp != NULL; pp = &(*pp)->next)
            if (*pp == f) {
                *pp = f->next;
                break;
            }
        if (f->wal != NULL)
            f->wal->db = NULL;
    }
    pthread_mutex_unlock(&open_mu);
}

static int vfs_close(sqlite3_file *pf)
{
    struct vfs_file *f = file_of(pf);
    int rc = file_flush(f), rc2;

    file_unlink(f);
    rc2 = f->real->pMethods->xClose(f->real);
    free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

/* Links a new log to the open database file of the same connection, and back. */
static void file_link(struct vfs_file *f)
{
    struct vfs_file *d;

    pthread_mutex_lock(&open_mu);
    if (f->is_wal) {
        for (d = open_dbs; d != NULL; d = d->next)
            if (d->db_name == f->db_name) {
                d->wal = f;
                f->db = d;
                break;
            }
    } else {
        f->next = open_dbs;
        open_dbs = f;
    }
    pthread_mutex_unlock(&open_mu);
}

static int vfs_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *pf, int flags,
                    int *out_flags)
{
    struct vfs_file *f = file_of(pf);
    int rc;

    (void)v;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)(f + 1);
    f->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    if (f->is_wal) {
        f->buf = malloc(WAL_BUF_SIZE);
        if (f->buf == NULL)
            return SQLITE_NOMEM;
    }
    rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK || f->real->pMethods == NULL) {
        if (f->real->pMethods != NULL)
            f->real->pMethods->xClose(f->real);
        free(f->buf);
        f->buf = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    pf->pMethods = &vfs_io;
    if (name != NULL && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) != 0) {
        f->db_name = f->is_wal ? sqlite3_filename_database(name) : name;
        file_link(f);
    }
    return SQLITE_OK;
}

static void vfs_init(void)
{
    base_vfs = sqlite3_vfs_find(NULL);
    if (base_vfs == NULL || base_vfs->iVersion < 2)
        return;
    vfs = *base_vfs;
    vfs.szOsFile = (int)sizeof(struct vfs_file) + base_vfs->szOsFile;
    vfs.pNext = NULL;
    vfs.zName = VFS_NAME;
    vfs.xOpen = vfs_open;
    vfs_io = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = vfs_close,
        .xRead = vfs_read,
        .xWrite = vfs_write,
        .xTruncate = vfs_truncate,
        .xSync = vfs_sync,
        .xFileSize = vfs_file_size,
        .xLock = vfs_lock,
        .xUnlock = vfs_unlock,
        .xCheckReservedLock = vfs_check_reserved,
        .xFileControl = vfs_file_control,
        .xSectorSize = vfs_sector_size,
        .xDeviceCharacteristics = vfs_device_characteristics,
        .xShmMap = vfs_shm_map,
        .xShmLock = vfs_shm_lock,
        .xShmBarrier = vfs_shm_barrier,
        .xShmUnmap = vfs_shm_unmap,
        .xFetch = vfs_fetch,
        .xUnfetch = vfs_unfetch,
    };
    if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK)
        base_vfs = NULL;
}

const char *store_vfs_name(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, vfs_init);
    return base_vfs != NULL ? VFS_NAME : NULL;
}

/*
 * Building package bundles (DESIGN.md section 3), reproducibly in the sense of
 * reproducible-builds.org: the package folder is walked without following
 * symlinks, its entries sorted bytewise and written by libarchive as a pax
 * ("restricted": plain ustar headers unless a path needs more) tar under
 * NAME-VERSION/, owner 0:0 without names, mtime 0 or $SOURCE_DATE_EPOCH,
 * modes 0755/0644, gzip without timestamp or name. What the reader
 * (bundle.c) would refuse is refused here first, with the file named.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "bundle.h"
#include "bundle_impl.h"
#include "log.h"
#include "manifest.h"
#include "mem.h"
#include "parse.h"

/* A file system entry of the package folder. */
struct fentry {
    char *rel;  /* relative to the package folder */
    char *link; /* symlink target or NULL */
    int type;   /* AE_IFREG, AE_IFDIR, AE_IFLNK */
    int mode;
    int64_t size;
};

struct walk {
    struct fentry *e;
    size_t n;
    int64_t total;
    size_t prefix_len; /* strlen("NAME-VERSION/") */
    const char *root;  /* realpath of the package folder */
    char *skip[2];     /* root-level names left out: the bundle and its signature */
};

static int fentry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct fentry *)a)->rel, ((const struct fentry *)b)->rel);
}

static void walk_cleanup(struct walk *w)
{
    size_t i;

    for (i = 0; i < w->n; i++) {
        free(w->e[i].rel);
        free(w->e[i].link);
    }
    free(w->e);
    free(w->skip[0]);
    free(w->skip[1]);
}

static enum ho_code walk_error(struct ho_error *err, enum ho_code rc, const char *rel,
                               const char *what)
{
    char shown[BUNDLE_SHOWN];

    log_safe(shown, sizeof(shown), rel);
    return ho_error_set(err, rc, "bundle", "%s: %s", shown, what);
}

static enum ho_code walk_link(struct walk *w, int dirfd, const char *name, const char *rel,
                              char **target, struct ho_error *err)
{
    char buf[BUNDLE_MAX_PATH + 2], *p, *real;
    size_t n = strlen(w->root);
    ssize_t r;

    r = readlinkat(dirfd, name, buf, sizeof(buf) - 1);
    if (r < 0 || r > BUNDLE_MAX_PATH)
        return walk_error(err, HO_EINVAL, rel, "unreadable or over-long symbolic link");
    buf[r] = '\0';
    if (!bundle_link_inside(rel, buf))
        return walk_error(err, HO_EINVAL, rel,
                          "symbolic link points outside the package or is absolute");
    p = xasprintf("%s/%s", w->root, rel);
    real = realpath(p, NULL);
    free(p);
    if (real == NULL || strncmp(real, w->root, n) != 0 || (real[n] != '/' && real[n] != '\0')) {
        free(real);
        return walk_error(err, HO_EINVAL, rel,
                          "symbolic link points outside the package or to nothing");
    }
    free(real);
    *target = xstrdup(buf);
    return HO_OK;
}

static enum ho_code walk_dir(struct walk *w, int dirfd, const char *prefix, int depth,
                             struct ho_error *err);

static enum ho_code walk_one(struct walk *w, int dirfd, const char *name, const char *prefix,
                             int depth, struct ho_error *err)
{
    char rel[BUNDLE_MAX_PATH * 2 + 2];
    struct fentry f = {NULL, NULL, 0, 0, 0};
    enum ho_code rc = HO_OK;
    struct stat st;
    int sub;

    snprintf(rel, sizeof(rel), "%s%s%s", prefix, prefix[0] != '\0' ? "/" : "", name);
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return walk_error(err, HO_EIO, rel, strerror(errno));
    if (S_ISDIR(st.st_mode) &&
        (strcmp(name, ".git") == 0 || strcmp(name, ".hg") == 0 || strcmp(name, ".svn") == 0))
        return HO_OK;
    if (depth == 1 && S_ISREG(st.st_mode) &&
        (strcmp(name, w->skip[0]) == 0 || strcmp(name, w->skip[1]) == 0))
        return HO_OK;
    if (!bundle_name_printable(rel))
        return walk_error(err, HO_EINVAL, rel, "name has bytes other than printable ASCII");
    if (w->prefix_len + strlen(rel) + 1 > BUNDLE_MAX_PATH)
        return walk_error(err, HO_ETOOBIG, rel, "path longer than 255 bytes in the bundle");
    if (depth + 1 > BUNDLE_MAX_DEPTH)
        return walk_error(err, HO_ETOOBIG, rel, "deeper than 16 folders");
    if (w->n + 1 >= BUNDLE_MAX_ENTRIES)
        return walk_error(err, HO_ETOOBIG, rel, "more than 1000 entries");
    if (S_ISREG(st.st_mode)) {
        if (st.st_size > BUNDLE_MAX_FILE_BYTES)
            return walk_error(err, HO_ETOOBIG, rel, "file larger than 16 MiB");
        w->total += st.st_size;
        if (w->total > BUNDLE_MAX_TOTAL)
            return walk_error(err, HO_ETOOBIG, rel, "files larger than 64 MiB together");
        f.type = AE_IFREG;
        f.mode = (st.st_mode & 0111) != 0 ? 0755 : 0644;
        f.size = st.st_size;
    } else if (S_ISDIR(st.st_mode)) {
        f.type = AE_IFDIR;
        f.mode = 0755;
    } else if (S_ISLNK(st.st_mode)) {
        f.type = AE_IFLNK;
        f.mode = 0777;
        rc = walk_link(w, dirfd, name, rel, &f.link, err);
    } else {
        return walk_error(err, HO_EINVAL, rel,
                          "only files, folders and symbolic links can go in a bundle");
    }
    if (rc != HO_OK)
        return rc;
    f.rel = xstrdup(rel);
    if (w->n % 64 == 0)
        w->e = xrealloc(w->e, (w->n + 64) * sizeof(*w->e));
    w->e[w->n++] = f;
    if (f.type != AE_IFDIR)
        return HO_OK;
    sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return walk_error(err, HO_EIO, rel, strerror(errno));
    return walk_dir(w, sub, rel, depth + 1, err);
}

/* Collects the entries of the folder dirfd (taken: closed here). */
static enum ho_code walk_dir(struct walk *w, int dirfd, const char *prefix, int depth,
                             struct ho_error *err)
{
    enum ho_code rc = HO_OK;
    struct dirent *de;
    DIR *d = fdopendir(dirfd);

    if (d == NULL) {
        close(dirfd);
        return walk_error(err, HO_EIO, prefix[0] != '\0' ? prefix : ".", strerror(errno));
    }
    while (rc == HO_OK && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = walk_one(w, dirfd, de->d_name, prefix, depth, err);
    }
    closedir(d);
    return rc;
}

/* The compressed output, capped at BUNDLE_MAX_BYTES. */
struct bwriter {
    struct buf out;
    int too_big;
};

static la_ssize_t out_write(struct archive *a, void *ctx, const void *data, size_t n)
{
    struct bwriter *w = ctx;

    if (buf_append(&w->out, data, n) != HO_OK) {
        w->too_big = 1;
        archive_set_error(a, EFBIG, "the bundle is larger than %d bytes", BUNDLE_MAX_BYTES);
        return -1;
    }
    return (la_ssize_t)n;
}

static enum ho_code writer_failed(struct archive *a, const struct bwriter *w,
                                  struct ho_error *err, const char *what)
{
    const char *s = archive_error_string(a);

    if (w->too_big)
        return ho_error_set(err, HO_ETOOBIG, "bundle", "larger than the limit of %d bytes",
                            BUNDLE_MAX_BYTES);
    return ho_error_set(err, HO_EIO, "bundle", "%s: %s", what, s != NULL ? s : "?");
}

static enum ho_code source_date(int64_t *mtime, struct ho_error *err)
{
    const char *s = getenv("SOURCE_DATE_EPOCH");
    uint64_t v;

    *mtime = 0;
    if (s == NULL || s[0] == '\0')
        return HO_OK;
    if (parse_u64(s, 0, 8589934591ULL, &v) != HO_OK) /* 8^11 - 1: fits a ustar header */
        return ho_error_set(err, HO_EINVAL, "SOURCE_DATE_EPOCH", "not a Unix time in seconds");
    *mtime = (int64_t)v;
    return HO_OK;
}

/* Copies the file's bytes into the archive; it must still have the size seen. */
static enum ho_code add_file_data(struct archive *a, int rootfd, const struct fentry *f,
                                  struct ho_error *err)
{
    char *chunk = NULL;
    int64_t done = 0;
    enum ho_code rc = HO_OK;
    ssize_t r;
    int fd;

    fd = openat(rootfd, f->rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return walk_error(err, HO_EIO, f->rel, strerror(errno));
    chunk = xmalloc(BUNDLE_IO_CHUNK);
    while (rc == HO_OK && (r = read(fd, chunk, BUNDLE_IO_CHUNK)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = walk_error(err, HO_EIO, f->rel, strerror(errno));
            break;
        }
        done += r;
        if (done > f->size)
            rc = walk_error(err, HO_EIO, f->rel, "changed while building the bundle");
        else if (archive_write_data(a, chunk, (size_t)r) != r)
            rc = walk_error(err, HO_EIO, f->rel, "cannot add to the bundle");
    }
    if (rc == HO_OK && done != f->size)
        rc = walk_error(err, HO_EIO, f->rel, "changed while building the bundle");
    free(chunk);
    close(fd);
    return rc;
}

static enum ho_code add_entry(struct archive *a, const struct bwriter *w,
                              struct archive_entry *ae, int rootfd, const char *top,
                              const struct fentry *f, int64_t mtime, struct ho_error *err)
{
    char *path;
    enum ho_code rc = HO_OK;

    archive_entry_clear(ae);
    path = f != NULL ? xasprintf("%s/%s%s", top, f->rel, f->type == AE_IFDIR ? "/" : "")
                     : xasprintf("%s/", top);
    archive_entry_set_pathname(ae, path);
    archive_entry_set_filetype(ae, f != NULL ? (unsigned)f->type : AE_IFDIR);
    archive_entry_set_perm(ae, f != NULL ? (mode_t)f->mode : 0755);
    archive_entry_set_size(ae, f != NULL ? f->size : 0);
    archive_entry_set_uid(ae, 0);
    archive_entry_set_gid(ae, 0);
    archive_entry_set_mtime(ae, (time_t)mtime, 0);
    if (f != NULL && f->link != NULL)
        archive_entry_set_symlink(ae, f->link);
    if (archive_write_header(a, ae) != ARCHIVE_OK)
        rc = writer_failed(a, w, err, "cannot write the bundle");
    if (rc == HO_OK && f != NULL && f->type == AE_IFREG)
        rc = add_file_data(a, rootfd, f, err);
    free(path);
    return rc;
}

static enum ho_code write_bundle(const struct walk *w, int rootfd, const char *top, int64_t mtime,
                                 struct bwriter *out, struct ho_error *err)
{
    struct archive *a = archive_write_new();
    struct archive_entry *ae = archive_entry_new();
    enum ho_code rc = HO_OK;
    size_t i;

    if (a == NULL || ae == NULL)
        fatalx("bundle: libarchive: out of memory");
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
        archive_write_set_options(a, "gzip:!timestamp,gzip:compression-level=9") != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open2(a, out, NULL, out_write, NULL, NULL) != ARCHIVE_OK)
        rc = writer_failed(a, out, err, "cannot start the bundle");
    if (rc == HO_OK)
        rc = add_entry(a, out, ae, rootfd, top, NULL, mtime, err);
    for (i = 0; rc == HO_OK && i < w->n; i++)
        rc = add_entry(a, out, ae, rootfd, top, &w->e[i], mtime, err);
    if (rc == HO_OK && archive_write_close(a) != ARCHIVE_OK)
        rc = writer_failed(a, out, err, "cannot finish the bundle");
    archive_entry_free(ae);
    archive_write_free(a);
    return rc;
}

enum ho_code bundle_build(const char *dir, void **out, size_t *len, char **name_out,
                          struct ho_error *err)
{
    struct manifest m;
    struct walk w;
    struct bwriter b;
    char *top = NULL;
    int64_t mtime = 0;
    enum ho_code rc;
    int rootfd = -1;

    *out = NULL;
    *len = 0;
    if (name_out != NULL)
        *name_out = NULL;
    memset(&w, 0, sizeof(w));
    memset(&b, 0, sizeof(b));
    buf_init(&b.out, BUNDLE_MAX_BYTES);
    rc = manifest_load_dir(dir, &m, err);
    if (rc != HO_OK)
        return rc;
    rc = source_date(&mtime, err);
    if (rc != HO_OK)
        goto out;
    top = xasprintf("%s-%s", m.name, m.version);
    w.prefix_len = strlen(top) + 1;
    w.root = m.dir;
    w.skip[0] = xasprintf("%s.tar.gz", top);
    w.skip[1] = xasprintf("%s.tar.gz.sig", top);
    rootfd = open(m.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        rc = walk_error(err, HO_EIO, dir, strerror(errno));
        goto out;
    }
    rc = walk_dir(&w, dup(rootfd), "", 1, err);
    if (rc != HO_OK)
        goto out;
    qsort(w.e, w.n, sizeof(*w.e), fentry_cmp);
    rc = write_bundle(&w, rootfd, top, mtime, &b, err);
    if (rc != HO_OK)
        goto out;
    *len = b.out.len;
    *out = buf_take(&b.out);
    if (name_out != NULL)
        *name_out = xasprintf("%s.tar.gz", top);
out:
    if (rootfd >= 0)
        close(rootfd);
    buf_cleanup(&b.out);
    walk_cleanup(&w);
    free(top);
    manifest_cleanup(&m);
    return rc;
}

enum ho_code bundle_read_fd(int fd, const char *shown, size_t max, void **out, size_t *len,
                            struct ho_error *err)
{
    enum ho_code rc = HO_OK;
    struct buf b;
    char *chunk;
    ssize_t r;

    *out = NULL;
    *len = 0;
    buf_init(&b, max);
    chunk = xmalloc(BUNDLE_IO_CHUNK);
    while (rc == HO_OK && (r = read(fd, chunk, BUNDLE_IO_CHUNK)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = ho_error_set(err, HO_EIO, "", "%s: %s", shown, strerror(errno));
        else if (buf_append(&b, chunk, (size_t)r) != HO_OK)
            rc = ho_error_set(err, HO_ETOOBIG, "", "%s: larger than the limit of %zu bytes",
                              shown, max);
    }
    free(chunk);
    if (rc == HO_OK) {
        *len = b.len;
        *out = buf_take(&b);
    }
    buf_cleanup(&b);
    return rc;
}

enum ho_code bundle_read_file(const char *path, size_t max, void **out, size_t *len,
                              struct ho_error *err)
{
    char shown[BUNDLE_SHOWN];
    enum ho_code rc;
    struct stat st;
    int fd;

    *out = NULL;
    *len = 0;
    log_safe(shown, sizeof(shown), path);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return ho_error_set(err, errno == ENOENT ? HO_ENOENT : HO_EIO, "", "%s: %s", shown,
                            strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ho_error_set(err, HO_EINVAL, "", "%s: not a regular file", shown);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return ho_error_set(err, HO_ETOOBIG, "", "%s: larger than the limit of %zu bytes", shown,
                            max);
    }
    rc = bundle_read_fd(fd, shown, max, out, len, err);
    close(fd);
    return rc;
}

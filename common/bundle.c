/*
 * Package bundles (DESIGN.md section 3) with libarchive: a gzip-compressed
 * pax tar (POSIX.1-2001, "restricted": plain ustar headers unless a path
 * needs more) of the package folder under one top folder NAME-VERSION/.
 * This file reads them; bundle_build.c builds them.
 *
 * Reading treats the bytes as hostile. A first pass over the headers checks
 * every entry (printable ASCII relative paths without "." or "..", only files,
 * folders and symlinks that stay inside the package, no duplicates, the count,
 * size, path and depth limits) and finds the layout: manifest at the root
 * (flat) or under one top folder. Only then does extraction make the
 * destination and write each entry itself with openat(2) relative to it,
 * O_NOFOLLOW at every step and O_EXCL for files, so an entry can never write
 * through a link or outside the destination. Any failure removes it again.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

/* One checked archive entry. */
struct bentry {
    char *path;   /* normalised, relative to the archive root, no trailing '/' */
    char *link;   /* symlink target, or NULL */
    int type;     /* AE_IFREG, AE_IFDIR or AE_IFLNK */
    int mode;     /* normalised permission bits */
    int64_t size; /* regular files */
};

/* What the first pass learnt. */
struct bscan {
    struct bentry *e;
    size_t n;
    size_t prefix_len; /* strlen("TOP/") or 0 for a flat bundle */
    char *root_manifest; /* captured manifest texts (want_manifest) */
    size_t root_manifest_len;
    char *top_manifest;
    size_t top_manifest_len;
};

static void bscan_cleanup(struct bscan *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        free(s->e[i].path);
        free(s->e[i].link);
    }
    free(s->e);
    free(s->root_manifest);
    free(s->top_manifest);
    memset(s, 0, sizeof(*s));
}

static int bentry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct bentry *)a)->path, ((const struct bentry *)b)->path);
}

static enum ho_code entry_error(struct ho_error *err, enum ho_code rc, const char *path,
                                const char *what)
{
    char shown[BUNDLE_SHOWN];

    log_safe(shown, sizeof(shown), path != NULL ? path : "");
    return ho_error_set(err, rc, "bundle", "entry \"%s\": %s", shown, what);
}

int bundle_name_printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

/*
 * Normalises an entry name into out (BUNDLE_MAX_PATH + 1 bytes): leading "./"
 * and trailing '/' go; out is "" for the archive root itself. Refuses
 * absolute names, empty, "." and ".." components, non-printable bytes and
 * names past the path or depth limit.
 */
static enum ho_code path_normalise(const char *raw, char *out, struct ho_error *err)
{
    const char *p = raw, *c, *slash;
    size_t n, clen, depth = 0;

    if (raw == NULL || raw[0] == '\0')
        return entry_error(err, HO_EINVAL, "", "entry without a name");
    if (strlen(raw) > BUNDLE_MAX_PATH)
        return entry_error(err, HO_ETOOBIG, raw, "path longer than 255 bytes");
    if (!bundle_name_printable(raw))
        return entry_error(err, HO_EINVAL, raw, "path has bytes other than printable ASCII");
    if (raw[0] == '/')
        return entry_error(err, HO_EINVAL, raw, "absolute path");
    while (p[0] == '.' && p[1] == '/')
        for (p += 2; *p == '/';)
            p++;
    if (strcmp(p, ".") == 0)
        p += 1;
    n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    memcpy(out, p, n);
    out[n] = '\0';
    for (c = out; n > 0; c = slash + 1) {
        slash = strchr(c, '/');
        clen = slash != NULL ? (size_t)(slash - c) : strlen(c);

        if (clen == 0)
            return entry_error(err, HO_EINVAL, raw, "empty path component");
        if (clen == 2 && c[0] == '.' && c[1] == '.')
            return entry_error(err, HO_EINVAL, raw, "path leaves the package (\"..\")");
        if (clen == 1 && c[0] == '.')
            return entry_error(err, HO_EINVAL, raw, "\".\" inside the path");
        if (++depth > BUNDLE_MAX_DEPTH)
            return entry_error(err, HO_ETOOBIG, raw, "deeper than 16 folders");
        if (slash == NULL)
            break;
    }
    return HO_OK;
}

int bundle_link_inside(const char *link, const char *target)
{
    const char *c;
    long depth = 0;

    if (target[0] == '\0' || target[0] == '/' || strlen(target) > BUNDLE_MAX_PATH ||
        !bundle_name_printable(target))
        return 0;
    for (c = link; *c != '\0'; c++)
        if (*c == '/')
            depth++;
    for (c = target; *c != '\0';) {
        const char *slash = strchr(c, '/');
        size_t clen = slash != NULL ? (size_t)(slash - c) : strlen(c);

        if (clen == 2 && c[0] == '.' && c[1] == '.') {
            if (--depth < 0)
                return 0;
        } else if (!(clen == 0 || (clen == 1 && c[0] == '.'))) {
            depth++;
        }
        if (slash == NULL)
            break;
        c = slash + 1;
    }
    return 1;
}

/*
 * The tar stream is decompressed by a second libarchive reader (gzip filter,
 * raw format) and handed to the tar reader through gz_read, which counts the
 * unpacked bytes: however the archive is made (long runs of pax headers, say),
 * no more than BUNDLE_MAX_TAR bytes are ever inflated.
 */
#define BUNDLE_MAX_TAR ((int64_t)BUNDLE_MAX_TOTAL + (int64_t)BUNDLE_MAX_ENTRIES * 4096 + 65536)

struct breader {
    struct archive *raw; /* gzip -> bytes */
    struct archive *tar; /* bytes -> entries */
    char *chunk;
    int64_t total;       /* bytes inflated so far */
    int too_big;
};

static la_ssize_t gz_read(struct archive *a, void *ctx, const void **out)
{
    struct breader *r = ctx;
    la_ssize_t n = archive_read_data(r->raw, r->chunk, BUNDLE_IO_CHUNK);

    if (n < 0) {
        archive_set_error(a, EINVAL, "gzip: %s",
                          archive_error_string(r->raw) != NULL ? archive_error_string(r->raw)
                                                               : "corrupt data");
        return -1;
    }
    r->total += n;
    if (r->total > BUNDLE_MAX_TAR) {
        r->too_big = 1;
        archive_set_error(a, EFBIG, "the unpacked tar is larger than %lld bytes",
                          (long long)BUNDLE_MAX_TAR);
        return -1;
    }
    *out = r->chunk;
    return n;
}

static void breader_close(struct breader *r)
{
    if (r->tar != NULL)
        archive_read_free(r->tar);
    if (r->raw != NULL)
        archive_read_free(r->raw);
    free(r->chunk);
    memset(r, 0, sizeof(*r));
}

static enum ho_code breader_failed(struct breader *r, struct ho_error *err, const char *what)
{
    char shown[BUNDLE_SHOWN];
    struct archive *a = r->tar != NULL ? r->tar : r->raw;
    const char *s = a != NULL ? archive_error_string(a) : NULL;

    log_safe(shown, sizeof(shown), s != NULL ? s : "unknown error");
    return ho_error_set(err, r->too_big ? HO_ETOOBIG : HO_EINVAL, "bundle", "%s: %s", what,
                        shown);
}

/*
 * Inflates what follows the end of the tar (block padding) up to the end of
 * the gzip stream, so a stream cut or broken after the tar's end is refused
 * too. (libarchive does not check the gzip CRC-32: the bundle's integrity
 * rests on its SHA-256 and signature.)
 */
static enum ho_code breader_drain(struct breader *r, struct ho_error *err)
{
    la_ssize_t n;

    while ((n = archive_read_data(r->raw, r->chunk, BUNDLE_IO_CHUNK)) > 0) {
        r->total += n;
        if (r->total > BUNDLE_MAX_TAR) {
            r->too_big = 1;
            return ho_error_set(err, HO_ETOOBIG, "bundle",
                                "the unpacked tar is larger than %lld bytes",
                                (long long)BUNDLE_MAX_TAR);
        }
    }
    if (n < 0) {
        char shown[BUNDLE_SHOWN];
        const char *s = archive_error_string(r->raw);

        log_safe(shown, sizeof(shown), s != NULL ? s : "unknown error");
        return ho_error_set(err, HO_EINVAL, "bundle", "corrupt gzip data: %s", shown);
    }
    return HO_OK;
}

static enum ho_code breader_open(struct breader *r, const void *data, size_t len,
                                 struct ho_error *err)
{
    const unsigned char *b = data;
    struct archive_entry *ae;

    memset(r, 0, sizeof(*r));
    if (len > BUNDLE_MAX_BYTES)
        return ho_error_set(err, HO_ETOOBIG, "bundle", "larger than the limit of %d bytes",
                            BUNDLE_MAX_BYTES);
    if (len < 2 || b[0] != 0x1f || b[1] != 0x8b)
        return ho_error_set(err, HO_EINVAL, "bundle", "not a gzip-compressed tar archive");
    r->raw = archive_read_new();
    r->tar = archive_read_new();
    if (r->raw == NULL || r->tar == NULL)
        fatalx("bundle: archive_read_new: out of memory");
    r->chunk = xmalloc(BUNDLE_IO_CHUNK);
    if (archive_read_support_filter_gzip(r->raw) != ARCHIVE_OK ||
        archive_read_support_format_raw(r->raw) != ARCHIVE_OK ||
        archive_read_open_memory(r->raw, data, len) != ARCHIVE_OK ||
        archive_read_next_header(r->raw, &ae) != ARCHIVE_OK) {
        archive_read_free(r->tar);
        r->tar = NULL;
        breader_failed(r, err, "not a valid tar.gz");
        breader_close(r);
        return HO_EINVAL;
    }
    if (archive_read_support_format_tar(r->tar) != ARCHIVE_OK ||
        archive_read_open(r->tar, r, NULL, gz_read, NULL) != ARCHIVE_OK) {
        enum ho_code rc = breader_failed(r, err, "not a valid tar.gz");

        breader_close(r);
        return rc;
    }
    return HO_OK;
}

/* Reads the current entry's data (at most max bytes) into a new buffer. */
static enum ho_code read_entry_data(struct breader *br, const char *path, size_t max,
                                    char **out, size_t *len, struct ho_error *err)
{
    struct buf b;
    char chunk[4096];
    la_ssize_t r;

    buf_init(&b, max);
    while ((r = archive_read_data(br->tar, chunk, sizeof(chunk))) > 0) {
        if (buf_append(&b, chunk, (size_t)r) != HO_OK) {
            buf_cleanup(&b);
            return entry_error(err, HO_ETOOBIG, path, "larger than the manifest limit");
        }
    }
    if (r < 0) {
        buf_cleanup(&b);
        return breader_failed(br, err, "cannot read");
    }
    *len = b.len;
    *out = buf_take(&b);
    return HO_OK;
}

/* Checks one header and appends it to s; *norm gets the normalised path. */
static enum ho_code scan_entry(struct archive_entry *ae, struct bscan *s, int64_t *total,
                               char *norm, struct ho_error *err)
{
    const char *raw = archive_entry_pathname(ae);
    int type = (int)archive_entry_filetype(ae);
    struct bentry *e;
    enum ho_code rc;
    size_t i;

    rc = path_normalise(raw, norm, err);
    if (rc != HO_OK)
        return rc;
    if (archive_entry_hardlink(ae) != NULL)
        return entry_error(err, HO_EINVAL, raw, "hard links are not allowed");
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
        return entry_error(err, HO_EINVAL, raw,
                           "only files, folders and symbolic links are allowed");
    if (norm[0] == '\0') {
        if (type != AE_IFDIR)
            return entry_error(err, HO_EINVAL, raw, "the archive root is not a folder");
        return HO_OK;
    }
    if (s->n >= BUNDLE_MAX_ENTRIES)
        return entry_error(err, HO_ETOOBIG, raw, "more than 1000 entries");
    if (type == AE_IFREG && archive_entry_sparse_count(ae) > 0)
        return entry_error(err, HO_EINVAL, raw, "sparse files are not allowed");
    if (type == AE_IFREG &&
        (archive_entry_size(ae) < 0 || archive_entry_size(ae) > BUNDLE_MAX_FILE_BYTES))
        return entry_error(err, HO_ETOOBIG, raw, "file larger than 16 MiB");
    if (type == AE_IFREG) {
        *total += archive_entry_size(ae);
        if (*total > BUNDLE_MAX_TOTAL)
            return entry_error(err, HO_ETOOBIG, raw, "files larger than 64 MiB together");
    }
    if (type == AE_IFLNK && archive_entry_symlink(ae) == NULL)
        return entry_error(err, HO_EINVAL, raw, "symbolic link without a target");
    for (i = 0; i < s->n; i++)
        if (strcmp(s->e[i].path, norm) == 0)
            return entry_error(err, HO_EINVAL, raw, "appears twice");
    if (s->n % 64 == 0)
        s->e = xrealloc(s->e, (s->n + 64) * sizeof(*s->e));
    e = &s->e[s->n++];
    e->path = xstrdup(norm);
    e->link = type == AE_IFLNK ? xstrdup(archive_entry_symlink(ae)) : NULL;
    e->type = type;
    e->mode = type == AE_IFREG && (archive_entry_perm(ae) & 0111) == 0 ? 0644 : 0755;
    e->size = type == AE_IFREG ? archive_entry_size(ae) : 0;
    return HO_OK;
}

/* A regular file called healops-package.json at the root or one folder down is captured. */
static enum ho_code scan_capture(struct breader *br, struct bscan *s, const char *norm,
                                 struct ho_error *err)
{
    const struct bentry *e = &s->e[s->n - 1];
    const char *slash = strchr(norm, '/');
    char **slot = NULL;
    size_t *slot_len = NULL;

    if (e->type != AE_IFREG || strcmp(e->path, norm) != 0)
        return HO_OK;
    if (strcmp(norm, MANIFEST_FILE) == 0) {
        slot = &s->root_manifest;
        slot_len = &s->root_manifest_len;
    } else if (slash != NULL && strcmp(slash + 1, MANIFEST_FILE) == 0 && s->top_manifest == NULL) {
        slot = &s->top_manifest;
        slot_len = &s->top_manifest_len;
    }
    if (slot == NULL)
        return HO_OK;
    return read_entry_data(br, norm, MANIFEST_MAX_BYTES, slot, slot_len, err);
}

static const struct bentry *scan_find(const struct bscan *s, const char *path)
{
    struct bentry key = {(char *)(uintptr_t)path, NULL, 0, 0, 0};

    if (s->n == 0)
        return NULL;
    return bsearch(&key, s->e, s->n, sizeof(*s->e), bentry_cmp);
}

/* Layout: flat (manifest at the root) or everything under one top folder. */
static enum ho_code scan_layout(struct bscan *s, struct ho_error *err)
{
    const struct bentry *m;
    char top[BUNDLE_MAX_PATH + 2], *slash;
    size_t i, tlen;

    m = scan_find(s, MANIFEST_FILE);
    if (m != NULL) {
        s->prefix_len = 0;
        return m->type == AE_IFREG ? HO_OK
                                   : entry_error(err, HO_EINVAL, m->path, "is not a regular file");
    }
    if (s->n == 0)
        return ho_error_set(err, HO_EINVAL, "bundle", "empty archive: no " MANIFEST_FILE);
    snprintf(top, sizeof(top), "%s", s->e[0].path);
    slash = strchr(top, '/');
    if (slash != NULL)
        *slash = '\0';
    tlen = strlen(top);
    for (i = 0; i < s->n; i++) {
        const struct bentry *e = &s->e[i];

        if (strncmp(e->path, top, tlen) != 0 || (e->path[tlen] != '/' && e->path[tlen] != '\0'))
            return ho_error_set(err, HO_EINVAL, "bundle",
                                "no " MANIFEST_FILE " at the root, and the entries are not "
                                "all under one top folder");
        if (e->path[tlen] == '\0' && e->type != AE_IFDIR)
            return entry_error(err, HO_EINVAL, e->path, "the top folder is not a folder");
    }
    top[tlen] = '/';
    snprintf(top + tlen + 1, sizeof(top) - tlen - 1, "%s", MANIFEST_FILE);
    m = scan_find(s, top);
    if (m == NULL || m->type != AE_IFREG)
        return ho_error_set(err, HO_EINVAL, "bundle", "no " MANIFEST_FILE " in the bundle");
    s->prefix_len = tlen + 1;
    return HO_OK;
}

/*
 * Whole-archive rules once every entry is known (s->e sorted): no entry under
 * something that is not a folder, symlinks inside the package.
 */
static enum ho_code scan_links(const struct bscan *s, struct ho_error *err)
{
    char anc[BUNDLE_MAX_PATH + 1];
    const struct bentry *p;
    size_t i, k;

    for (i = 0; i < s->n; i++) {
        const struct bentry *e = &s->e[i];

        snprintf(anc, sizeof(anc), "%s", e->path);
        for (k = strlen(anc); k > 0; k--) {
            if (anc[k] != '/')
                continue;
            anc[k] = '\0';
            p = scan_find(s, anc);
            if (p != NULL && p->type != AE_IFDIR)
                return entry_error(err, HO_EINVAL, e->path,
                                   "lies under something that is not a folder");
        }
        if (e->type == AE_IFLNK && (strlen(e->path) <= s->prefix_len ||
                                    !bundle_link_inside(e->path + s->prefix_len, e->link)))
            return entry_error(err, HO_EINVAL, e->path,
                               "symbolic link points outside the package or is absolute");
    }
    return HO_OK;
}

/* First pass: every header checked, the layout found, the manifest captured if asked. */
static enum ho_code bundle_scan(const void *data, size_t len, int want_manifest, struct bscan *s,
                                struct ho_error *err)
{
    struct breader br;
    struct archive_entry *ae;
    char norm[BUNDLE_MAX_PATH + 1];
    size_t seen = 0;
    int64_t total = 0;
    enum ho_code rc;
    int r;

    memset(s, 0, sizeof(*s));
    rc = breader_open(&br, data, len, err);
    while (rc == HO_OK) {
        r = archive_read_next_header(br.tar, &ae);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            rc = breader_failed(&br, err, "not a valid tar.gz");
            break;
        }
        if (++seen > BUNDLE_MAX_ENTRIES + 1) {
            rc = ho_error_set(err, HO_ETOOBIG, "bundle", "more than 1000 entries");
            break;
        }
        rc = scan_entry(ae, s, &total, norm, err);
        if (rc == HO_OK && want_manifest && norm[0] != '\0')
            rc = scan_capture(&br, s, norm, err);
    }
    if (rc == HO_OK)
        rc = breader_drain(&br, err);
    breader_close(&br);
    if (rc == HO_OK && s->n > 0)
        qsort(s->e, s->n, sizeof(*s->e), bentry_cmp);
    if (rc == HO_OK)
        rc = scan_layout(s, err);
    if (rc == HO_OK)
        rc = scan_links(s, err);
    if (rc != HO_OK)
        bscan_cleanup(s);
    return rc;
}

enum ho_code bundle_read_manifest(const void *data, size_t len, char **json, size_t *json_len,
                                  struct ho_error *err)
{
    struct bscan s;
    enum ho_code rc;

    *json = NULL;
    *json_len = 0;
    ho_error_clear(err);
    rc = bundle_scan(data, len, 1, &s, err);
    if (rc != HO_OK)
        return rc;
    if (s.prefix_len == 0) {
        *json = s.root_manifest;
        *json_len = s.root_manifest_len;
        s.root_manifest = NULL;
    } else {
        *json = s.top_manifest;
        *json_len = s.top_manifest_len;
        s.top_manifest = NULL;
    }
    bscan_cleanup(&s);
    if (*json == NULL)
        return ho_error_set(err, HO_EINVAL, "bundle", "no " MANIFEST_FILE " in the bundle");
    return HO_OK;
}

/* A relative, non-shell executable of the manifest must be in the bundle, executable. */
static enum ho_code check_exec(const struct bscan *s, const struct manifest_exec *x,
                               const char *field, struct ho_error *err)
{
    char path[BUNDLE_MAX_PATH * 2 + 2], shown[BUNDLE_SHOWN];
    const char *rel;
    const struct bentry *e;
    int top = s->prefix_len > 0 ? (int)s->prefix_len - 1 : 0;

    if (x->argv == NULL || x->argv[0] == NULL || x->shell || x->argv[0][0] == '/')
        return HO_OK;
    rel = x->argv[0];
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    snprintf(path, sizeof(path), "%.*s%s%s", top, s->e[0].path, top > 0 ? "/" : "", rel);
    log_safe(shown, sizeof(shown), x->argv[0]);
    e = scan_find(s, path);
    if (e == NULL)
        return ho_error_set(err, HO_EINVAL, field, "%s: not in the bundle", shown);
    if (e->type == AE_IFDIR)
        return ho_error_set(err, HO_EINVAL, field, "%s: is a folder", shown);
    if (e->type == AE_IFREG && e->mode != 0755)
        return ho_error_set(err, HO_EINVAL, field, "%s: not executable in the bundle", shown);
    return HO_OK;
}

enum ho_code bundle_check(const void *data, size_t len, const struct manifest *m,
                          struct ho_error *err)
{
    char field[HO_ERROR_FIELD_MAX];
    struct bscan s;
    enum ho_code rc;
    size_t i;

    ho_error_clear(err);
    rc = bundle_scan(data, len, 0, &s, err);
    for (i = 0; rc == HO_OK && i < m->nchecks; i++) {
        snprintf(field, sizeof(field), MANIFEST_FILE ":checks[%zu].test.exec[0]", i);
        if (m->checks[i].test.kind == PROBE_EXEC)
            rc = check_exec(&s, &m->checks[i].test.exec, field, err);
        snprintf(field, sizeof(field), MANIFEST_FILE ":checks[%zu].repair.exec[0]", i);
        if (rc == HO_OK && m->checks[i].has_repair)
            rc = check_exec(&s, &m->checks[i].repair, field, err);
    }
    for (i = 0; rc == HO_OK && i < m->nstats; i++) {
        snprintf(field, sizeof(field), MANIFEST_FILE ":stats[%zu].exec[0]", i);
        rc = check_exec(&s, &m->stats[i].exec, field, err);
    }
    bscan_cleanup(&s);
    return rc;
}

/* ---- extraction ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        (void)rmdir(path);
    else
        (void)unlink(path);
    return 0;
}

/* Removes the folder tree path without following symlinks. */
static void remove_tree(const char *path)
{
    (void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Opens (making when missing) the folders of rel below rootfd, never
 * following a symlink; *base points at the last component. -1 on error.
 */
static int open_parent(int rootfd, char *rel, const char **base)
{
    char *c = rel, *slash;
    int fd = rootfd, nfd, made;

    while ((slash = strchr(c, '/')) != NULL) {
        *slash = '\0';
        made = mkdirat(fd, c, 0755) == 0;
        if (!made && errno != EEXIST)
            nfd = -1;
        else
            nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd >= 0 && made && fchmod(nfd, 0755) != 0) {
            close(nfd);
            nfd = -1;
        }
        *slash = '/';
        if (fd != rootfd)
            close(fd);
        if (nfd < 0)
            return -1;
        fd = nfd;
        c = slash + 1;
    }
    *base = c;
    return fd == rootfd ? dup(rootfd) : fd;
}

static enum ho_code write_file(struct breader *br, int dirfd, const char *base,
                               const struct bentry *e, struct ho_error *err)
{
    char *chunk = NULL;
    la_ssize_t r;
    int64_t done = 0;
    enum ho_code rc = HO_OK;
    int fd;

    fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return entry_error(err, HO_EIO, e->path, strerror(errno));
    chunk = xmalloc(BUNDLE_IO_CHUNK);
    while (rc == HO_OK && (r = archive_read_data(br->tar, chunk, BUNDLE_IO_CHUNK)) != 0) {
        if (r < 0) {
            rc = breader_failed(br, err, "cannot read");
            break;
        }
        done += r;
        if (done > e->size)
            rc = entry_error(err, HO_ETOOBIG, e->path, "more data than its header says");
        else if (write(fd, chunk, (size_t)r) != r)
            rc = entry_error(err, HO_EIO, e->path, "cannot write");
    }
    if (rc == HO_OK && fchmod(fd, (mode_t)e->mode) != 0)
        rc = entry_error(err, HO_EIO, e->path, strerror(errno));
    if (close(fd) != 0 && rc == HO_OK)
        rc = entry_error(err, HO_EIO, e->path, "cannot write");
    free(chunk);
    return rc;
}

static enum ho_code write_entry(struct breader *br, int rootfd, const struct bentry *e,
                                const char *rel, struct ho_error *err)
{
    char relbuf[BUNDLE_MAX_PATH + 1];
    const char *base = NULL;
    enum ho_code rc = HO_OK;
    struct stat st;
    int pfd, fd;

    snprintf(relbuf, sizeof(relbuf), "%s", rel);
    pfd = open_parent(rootfd, relbuf, &base);
    if (pfd < 0)
        return entry_error(err, HO_EIO, e->path, strerror(errno));
    if (e->type == AE_IFDIR) {
        if (mkdirat(pfd, base, 0755) != 0 &&
            (errno != EEXIST || fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
             !S_ISDIR(st.st_mode)))
            rc = entry_error(err, HO_EIO, e->path, "cannot make the folder");
        fd = rc == HO_OK ? openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
        if (rc == HO_OK && (fd < 0 || fchmod(fd, 0755) != 0))
            rc = entry_error(err, HO_EIO, e->path, "cannot make the folder");
        if (fd >= 0)
            close(fd);
    } else if (e->type == AE_IFLNK) {
        if (symlinkat(e->link, pfd, base) != 0)
            rc = entry_error(err, HO_EIO, e->path, strerror(errno));
    } else {
        rc = write_file(br, pfd, base, e, err);
    }
    close(pfd);
    return rc;
}

/* Second line of defence: every extracted symlink resolves to a real path inside dest. */
static enum ho_code check_links(const struct bscan *s, const char *dest, struct ho_error *err)
{
    char *root = realpath(dest, NULL), *p, *real;
    enum ho_code rc = HO_OK;
    size_t i, n;

    if (root == NULL)
        return ho_error_set(err, HO_EIO, "bundle", "cannot resolve the destination");
    n = strlen(root);
    for (i = 0; i < s->n && rc == HO_OK; i++) {
        if (s->e[i].type != AE_IFLNK)
            continue;
        p = xasprintf("%s/%s", root, s->e[i].path + s->prefix_len);
        real = realpath(p, NULL);
        if (real == NULL)
            rc = entry_error(err, HO_EINVAL, s->e[i].path,
                             "symbolic link to something not in the package");
        else if (strncmp(real, root, n) != 0 || (real[n] != '/' && real[n] != '\0'))
            rc = entry_error(err, HO_EINVAL, s->e[i].path,
                             "symbolic link points outside the package");
        free(real);
        free(p);
    }
    free(root);
    return rc;
}

/* Second pass: writes every entry below rootfd. */
static enum ho_code extract_entries(const void *data, size_t len, const struct bscan *s,
                                    int rootfd, struct ho_error *err)
{
    struct breader br;
    struct archive_entry *ae;
    char norm[BUNDLE_MAX_PATH + 1];
    const struct bentry *e;
    enum ho_code rc;
    int r;

    rc = breader_open(&br, data, len, err);
    while (rc == HO_OK) {
        r = archive_read_next_header(br.tar, &ae);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            rc = breader_failed(&br, err, "not a valid tar.gz");
            break;
        }
        rc = path_normalise(archive_entry_pathname(ae), norm, err);
        if (rc != HO_OK || norm[0] == '\0')
            continue;
        e = scan_find(s, norm);
        if (e == NULL || e->type != (int)archive_entry_filetype(ae))
            rc = entry_error(err, HO_EINVAL, norm, "changed between reads");
        else if (strlen(norm) > s->prefix_len)
            rc = write_entry(&br, rootfd, e, norm + s->prefix_len, err);
    }
    breader_close(&br);
    return rc;
}

enum ho_code bundle_extract(const void *data, size_t len, const char *dest, struct ho_error *err)
{
    struct bscan s;
    enum ho_code rc;
    char shown[BUNDLE_SHOWN];
    int rootfd = -1;

    ho_error_clear(err);
    rc = bundle_scan(data, len, 0, &s, err);
    if (rc != HO_OK)
        return rc;
    log_safe(shown, sizeof(shown), dest);
    if (mkdir(dest, 0755) != 0) {
        rc = ho_error_set(err, errno == EEXIST ? HO_EEXIST : HO_EIO, "bundle",
                          "cannot make %s: %s", shown, strerror(errno));
        bscan_cleanup(&s);
        return rc;
    }
    rootfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rootfd < 0 || fchmod(rootfd, 0755) != 0)
        rc = ho_error_set(err, HO_EIO, "bundle", "cannot open %s: %s", shown, strerror(errno));
    if (rc == HO_OK)
        rc = extract_entries(data, len, &s, rootfd, err);
    if (rc == HO_OK)
        rc = check_links(&s, dest, err);
    if (rootfd >= 0)
        close(rootfd);
    if (rc != HO_OK)
        remove_tree(dest);
    bscan_cleanup(&s);
    return rc;
}

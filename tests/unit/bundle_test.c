/*
 * Unit tests for common/bundle.c: build -> extract round trips of a real
 * package folder, byte-for-byte reproducibility, and the defensive reader
 * against hostile archives made here with libarchive's writer (or by hand
 * where the writer will not make them): escaping paths and links, hard links,
 * devices, duplicates, every limit, gzip bombs, corrupt and foreign input.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "bundle.h"
#include "manifest.h"
#include "mem.h"

#define MANIFEST_JSON                                                                              \
    "{\"name\":\"demo\",\"version\":\"1.2.3\",\"checks\":[{\"name\":\"demo.up\","                 \
    "\"test\":{\"exec\":[\"checks/up.test\"]},\"repair\":{\"exec\":[\"checks/up.repair\"]}}],"    \
    "\"stats\":[{\"name\":\"demo.load\",\"exec\":[\"stats/load.stats\"]}]}"

struct fixture {
    char dir[64];  /* temp folder of the test */
    char pkg[128]; /* dir/demo: a valid package folder */
    char out[128]; /* dir/out: extraction destination */
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void write_file(const char *dir, const char *rel, const char *text, mode_t mode)
{
    char *p = xasprintf("%s/%s", dir, rel);
    FILE *fp = fopen(p, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(p, mode), 0);
    free(p);
}

static void make_dir(const char *dir, const char *rel)
{
    char *p = xasprintf("%s/%s", dir, rel);

    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/bundle_test.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->pkg, sizeof(f->pkg), "%s/demo", f->dir);
    snprintf(f->out, sizeof(f->out), "%s/out", f->dir);
    umask(022);
    mkdir(f->pkg, 0755);
    write_file(f->pkg, "healops-package.json", MANIFEST_JSON, 0644);
    write_file(f->pkg, "README.md", "# demo\n", 0644);
    make_dir(f->pkg, "checks");
    make_dir(f->pkg, "stats");
    write_file(f->pkg, "checks/up.test", "#!/bin/sh\necho OK\n", 0755);
    write_file(f->pkg, "checks/up.repair", "#!/bin/sh\nexit 0\n", 0700);
    write_file(f->pkg, "stats/load.stats", "#!/bin/sh\necho demo.load 0 1\n", 0755);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static int exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static char *slurp(const char *path, size_t *len)
{
    void *data = NULL;
    struct ho_error err;

    assert_int_equal(bundle_read_file(path, 1 << 20, &data, len, &err), HO_OK);
    return data;
}

/* ---- archives made in the test ---- */

struct mem_out {
    unsigned char *data;
    size_t len;
};

static la_ssize_t mem_write(struct archive *a, void *ctx, const void *data, size_t n)
{
    struct mem_out *m = ctx;

    (void)a;
    m->data = xrealloc(m->data, m->len + n);
    memcpy(m->data + m->len, data, n);
    m->len += n;
    return (la_ssize_t)n;
}

/* One entry: 'f' file, 'd' folder, 'l' symlink, 'h' hard link, 'p' fifo, 'c' char device. */
struct hentry {
    const char *path;
    char type;
    const char *text;   /* file content, or symlink / hard link target */
    int64_t zero_bytes; /* a file of this many zero bytes instead of text */
};

#define MANIFEST_ENTRY(top) {top "/healops-package.json", 'f', MANIFEST_JSON, 0}
#define TOP_ENTRIES         {"demo-1.2.3/", 'd', NULL, 0}, MANIFEST_ENTRY("demo-1.2.3")

static void add_hentry(struct archive *a, const struct hentry *h)
{
    struct archive_entry *ae = archive_entry_new();
    static const unsigned types[] = {['f'] = AE_IFREG, ['d'] = AE_IFDIR, ['l'] = AE_IFLNK,
                                     ['h'] = AE_IFREG, ['p'] = AE_IFIFO, ['c'] = AE_IFCHR};

    archive_entry_set_pathname(ae, h->path);
    archive_entry_set_filetype(ae, types[(unsigned char)h->type]);
    archive_entry_set_perm(ae, h->type == 'd' ? 0755 : 0644);
    if (h->type == 'l')
        archive_entry_set_symlink(ae, h->text);
    if (h->type == 'h')
        archive_entry_set_hardlink(ae, h->text);
    if (h->type == 'c')
        archive_entry_set_rdev(ae, makedev(1, 3));
    if (h->type == 'f')
        archive_entry_set_size(ae, h->text != NULL ? (int64_t)strlen(h->text) : h->zero_bytes);
    assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
    /* no data for zero_bytes: finishing the entry pads it with zeros */
    if (h->type == 'f' && h->text != NULL)
        assert_int_equal(archive_write_data(a, h->text, strlen(h->text)),
                         (la_ssize_t)strlen(h->text));
    archive_entry_free(ae);
}

/* A tar.gz of the entries; *len bytes, caller frees. extra/nextra: more entries appended. */
static void *mk_tar(const struct hentry *e, size_t n, const struct hentry *extra, size_t nextra,
                    size_t *len)
{
    struct archive *a = archive_write_new();
    struct mem_out m = {NULL, 0};
    size_t i;

    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
    assert_int_equal(archive_write_open2(a, &m, NULL, mem_write, NULL, NULL), ARCHIVE_OK);
    for (i = 0; i < n; i++)
        add_hentry(a, &e[i]);
    for (i = 0; i < nextra; i++)
        add_hentry(a, &extra[i]);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    *len = m.len;
    return m.data;
}

/* A gzip stream of arbitrary bytes, written piecewise (libarchive's raw format). */
struct gzw {
    struct archive *a;
    struct mem_out m;
};

static void gzw_open(struct gzw *g)
{
    struct archive_entry *ae = archive_entry_new();

    memset(g, 0, sizeof(*g));
    g->a = archive_write_new();
    assert_int_equal(archive_write_set_format_raw(g->a), ARCHIVE_OK);
    assert_int_equal(archive_write_add_filter_gzip(g->a), ARCHIVE_OK);
    assert_int_equal(archive_write_set_bytes_in_last_block(g->a, 1), ARCHIVE_OK);
    assert_int_equal(archive_write_open2(g->a, &g->m, NULL, mem_write, NULL, NULL), ARCHIVE_OK);
    archive_entry_set_pathname(ae, "data");
    archive_entry_set_filetype(ae, AE_IFREG);
    assert_int_equal(archive_write_header(g->a, ae), ARCHIVE_OK);
    archive_entry_free(ae);
}

static void gzw_put(struct gzw *g, const void *data, size_t n)
{
    assert_int_equal(archive_write_data(g->a, data, n), (la_ssize_t)n);
}

static void *gzw_close(struct gzw *g, size_t *len)
{
    assert_int_equal(archive_write_close(g->a), ARCHIVE_OK);
    archive_write_free(g->a);
    *len = g->m.len;
    return g->m.data;
}

static void *mk_gzip(const void *data, size_t n, size_t *len)
{
    struct gzw g;

    gzw_open(&g);
    gzw_put(&g, data, n);
    return gzw_close(&g, len);
}

/*
 * Both readers refuse the archive with code rc, extraction leaves nothing
 * behind, and the message holds want (when not NULL).
 */
static void assert_refused(const struct fixture *f, const void *data, size_t len,
                           enum ho_code rc, const char *want)
{
    struct ho_error err;
    char *json = NULL;
    size_t jl = 99;

    memset(&err, 0, sizeof(err));
    assert_int_equal(bundle_extract(data, len, f->out, &err), rc);
    assert_false(exists(f->out));
    assert_string_equal(err.field, "bundle");
    if (want != NULL && strstr(err.msg, want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
    memset(&err, 0, sizeof(err));
    assert_int_equal(bundle_read_manifest(data, len, &json, &jl, &err), rc);
    assert_null(json);
    assert_int_equal(jl, 0);
}

static void refuse_entries(const struct fixture *f, const struct hentry *extra, size_t n,
                           enum ho_code rc, const char *want)
{
    static const struct hentry base[] = {TOP_ENTRIES};
    size_t len;
    void *tgz = mk_tar(base, 2, extra, n, &len);

    assert_refused(f, tgz, len, rc, want);
    free(tgz);
}

/* ---- build and extract ---- */

static void build(const struct fixture *f, void **out, size_t *len)
{
    struct ho_error err;
    char *name = NULL;

    memset(&err, 0, sizeof(err));
    if (bundle_build(f->pkg, out, len, &name, &err) != HO_OK)
        fail_msg("bundle_build: %s: %s", err.field, err.msg);
    assert_string_equal(name, "demo-1.2.3.tar.gz");
    free(name);
}

static void test_bundle_round_trip(void **state)
{
    struct fixture *f = *state;
    struct ho_error err;
    struct manifest m;
    struct stat st;
    void *tgz;
    char *json, *p, *text;
    size_t len, jl, tl;

    build(f, &tgz, &len);
    assert_true(len > 20 && len < 4096);
    assert_int_equal(bundle_read_manifest(tgz, len, &json, &jl, &err), HO_OK);
    assert_int_equal(jl, strlen(MANIFEST_JSON));
    assert_string_equal(json, MANIFEST_JSON);
    free(json);
    assert_int_equal(bundle_extract(tgz, len, f->out, &err), HO_OK);
    assert_int_equal(manifest_load_dir(f->out, &m, &err), HO_OK);
    assert_string_equal(m.name, "demo");
    assert_int_equal(m.nchecks, 1);
    assert_int_equal(bundle_check(tgz, len, &m, &err), HO_OK);
    manifest_cleanup(&m);
    p = xasprintf("%s/checks/up.test", f->out);
    text = slurp(p, &tl);
    assert_string_equal(text, "#!/bin/sh\necho OK\n");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    free(text);
    free(p);
    p = xasprintf("%s/checks/up.repair", f->out); /* 0700 at the source: normalised */
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    free(p);
    p = xasprintf("%s/README.md", f->out);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    free(p);
    assert_int_equal(stat(f->out, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    free(tgz);
}

static void test_bundle_extract_refuses_existing_dest(void **state)
{
    struct fixture *f = *state;
    struct ho_error err;
    void *tgz;
    size_t len;
    char *p;

    build(f, &tgz, &len);
    assert_int_equal(mkdir(f->out, 0700), 0);
    write_file(f->out, "keep", "x", 0644);
    assert_int_equal(bundle_extract(tgz, len, f->out, &err), HO_EEXIST);
    p = xasprintf("%s/keep", f->out);
    assert_true(exists(p)); /* a folder that was not ours is left alone */
    free(p);
    free(tgz);
}

static void test_bundle_build_reproducible(void **state)
{
    struct fixture *f = *state;
    struct timespec ts[2] = {{1000000000, 5}, {1234567890, 7}};
    void *a, *b, *c;
    size_t la, lb, lc;
    char *p;

    build(f, &a, &la);
    build(f, &b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    /* new mtimes, a different x mode and a different umask change nothing */
    p = xasprintf("%s/checks/up.test", f->pkg);
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    assert_int_equal(chmod(p, 0700), 0);
    free(p);
    assert_int_equal(utimensat(AT_FDCWD, f->pkg, ts, 0), 0);
    umask(077);
    build(f, &c, &lc);
    umask(022);
    assert_int_equal(la, lc);
    assert_memory_equal(a, c, la);
    /* gzip header: no name flag, mtime 0 */
    assert_int_equal(((unsigned char *)a)[3], 0);
    assert_memory_equal((unsigned char *)a + 4, "\0\0\0\0", 4);
    free(a);
    free(b);
    free(c);
}

/* Every entry of the bundle: owner 0:0, no names, mtime want_mtime, sorted. */
static void assert_entries_normal(const void *tgz, size_t len, int64_t want_mtime)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ae;
    char prev[512] = "";
    int n = 0;

    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, tgz, len), ARCHIVE_OK);
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        assert_int_equal(archive_entry_uid(ae), 0);
        assert_int_equal(archive_entry_gid(ae), 0);
        assert_true(archive_entry_uname(ae) == NULL || archive_entry_uname(ae)[0] == '\0');
        assert_true(archive_entry_gname(ae) == NULL || archive_entry_gname(ae)[0] == '\0');
        assert_int_equal(archive_entry_mtime(ae), want_mtime);
        assert_false(archive_entry_atime_is_set(ae));
        assert_false(archive_entry_ctime_is_set(ae));
        assert_true(strcmp(prev, archive_entry_pathname(ae)) < 0);
        snprintf(prev, sizeof(prev), "%s", archive_entry_pathname(ae));
        n++;
    }
    assert_int_equal(n, 8); /* top, README, checks/, 2 checks, manifest, stats/, 1 stat */
    archive_read_free(a);
}

static void test_bundle_build_normalised_entries(void **state)
{
    struct fixture *f = *state;
    struct ho_error err;
    void *tgz;
    size_t len;

    build(f, &tgz, &len);
    assert_entries_normal(tgz, len, 0);
    free(tgz);
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    build(f, &tgz, &len);
    assert_entries_normal(tgz, len, 1700000000);
    free(tgz);
    setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
    assert_int_equal(bundle_build(f->pkg, &tgz, &len, NULL, &err), HO_EINVAL);
    assert_string_equal(err.field, "SOURCE_DATE_EPOCH");
    unsetenv("SOURCE_DATE_EPOCH");
}

static void test_bundle_build_skips_vcs_and_output(void **state)
{
    struct fixture *f = *state;
    struct ho_error err;
    void *a, *b;
    size_t la, lb;
    char *p;

    build(f, &a, &la);
    make_dir(f->pkg, ".git");
    write_file(f->pkg, ".git/HEAD", "ref: refs/heads/main\n", 0644);
    p = xasprintf("%s/demo-1.2.3.tar.gz", f->pkg);
    write_file(f->pkg, "demo-1.2.3.tar.gz", "old bundle", 0644);
    write_file(f->pkg, "demo-1.2.3.tar.gz.sig", "old signature", 0644);
    build(f, &b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(b);
    free(p);
    /* an inside symlink is kept, and survives extraction */
    p = xasprintf("%s/checks/alias.test", f->pkg);
    assert_int_equal(symlink("up.test", p), 0);
    build(f, &b, &lb);
    assert_int_equal(bundle_extract(b, lb, f->out, &err), HO_OK);
    free(p);
    p = xasprintf("%s/checks/alias.test", f->out);
    assert_true(exists(p));
    free(p);
    free(a);
    free(b);
}

static void test_bundle_build_refuses_bad_folders(void **state)
{
    struct fixture *f = *state;
    struct ho_error err;
    void *tgz;
    size_t len;
    char *p;

    p = xasprintf("%s/checks/passwd", f->pkg);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    assert_int_equal(bundle_build(f->pkg, &tgz, &len, NULL, &err), HO_EINVAL);
    assert_non_null(strstr(err.msg, "outside"));
    unlink(p);
    assert_int_equal(symlink("../../../etc/passwd", p), 0);
    assert_int_equal(bundle_build(f->pkg, &tgz, &len, NULL, &err), HO_EINVAL);
    unlink(p);
    assert_int_equal(mkfifo(p, 0644), 0);
    assert_int_equal(bundle_build(f->pkg, &tgz, &len, NULL, &err), HO_EINVAL);
    assert_non_null(strstr(err.msg, "only files"));
    unlink(p);
    free(p);
    /* the manifest must validate */
    write_file(f->pkg, "healops-package.json", "{\"name\":\"demo\"}", 0644);
    assert_int_equal(bundle_build(f->pkg, &tgz, &len, NULL, &err), HO_EINVAL);
    assert_non_null(strstr(err.field, "healops-package.json"));
}

/* ---- hostile archives ---- */

static void test_bundle_refuses_absolute_path(void **state)
{
    const struct hentry e[] = {{"/tmp/bundle_test_abs", 'f', "x", 0}};

    refuse_entries(*state, e, 1, HO_EINVAL, "absolute");
    assert_false(exists("/tmp/bundle_test_abs"));
}

static void test_bundle_refuses_dotdot(void **state)
{
    struct fixture *f = *state;
    const struct hentry e1[] = {{"../x", 'f', "x", 0}};
    const struct hentry e2[] = {{"demo-1.2.3/a/../../x", 'f', "x", 0}};
    const struct hentry e3[] = {{"demo-1.2.3/./x", 'f', "x", 0}};
    char *p = xasprintf("%s/x", f->dir);

    refuse_entries(f, e1, 1, HO_EINVAL, "leaves the package");
    refuse_entries(f, e2, 1, HO_EINVAL, "leaves the package");
    refuse_entries(f, e3, 1, HO_EINVAL, NULL);
    assert_false(exists(p));
    free(p);
}

static void test_bundle_refuses_escaping_symlinks(void **state)
{
    const struct hentry abs[] = {{"demo-1.2.3/checks/pw", 'l', "/etc/passwd", 0}};
    const struct hentry up[] = {{"demo-1.2.3/checks/x", 'l', "../../x", 0}};
    const struct hentry top[] = {{"demo-1.2.3/x", 'l', "../demo-1.2.3/x", 0}};
    /* a link then a file written through it */
    const struct hentry via[] = {{"demo-1.2.3/l", 'l', "..", 0}, {"demo-1.2.3/l/x", 'f', "x", 0}};

    refuse_entries(*state, abs, 1, HO_EINVAL, "symbolic link");
    refuse_entries(*state, up, 1, HO_EINVAL, "symbolic link");
    refuse_entries(*state, top, 1, HO_EINVAL, "symbolic link");
    refuse_entries(*state, via, 2, HO_EINVAL, NULL);
}

static void test_bundle_refuses_dangling_symlink(void **state)
{
    struct fixture *f = *state;
    struct ho_error err;
    const struct hentry e[] = {{"demo-1.2.3/checks/", 'd', NULL, 0},
                               {"demo-1.2.3/checks/gone", 'l', "nothing-here", 0}};
    static const struct hentry base[] = {TOP_ENTRIES};
    size_t len;
    void *tgz = mk_tar(base, 2, e, 2, &len);

    assert_int_equal(bundle_extract(tgz, len, f->out, &err), HO_EINVAL);
    assert_false(exists(f->out));
    free(tgz);
}

static void test_bundle_refuses_links_and_devices(void **state)
{
    const struct hentry hard[] = {{"demo-1.2.3/h", 'h', "demo-1.2.3/healops-package.json", 0}};
    const struct hentry fifo[] = {{"demo-1.2.3/fifo", 'p', NULL, 0}};
    const struct hentry dev[] = {{"demo-1.2.3/null", 'c', NULL, 0}};

    refuse_entries(*state, hard, 1, HO_EINVAL, "hard link");
    refuse_entries(*state, fifo, 1, HO_EINVAL, "only files");
    refuse_entries(*state, dev, 1, HO_EINVAL, "only files");
}

static void test_bundle_refuses_duplicates(void **state)
{
    const struct hentry dup[] = {{"demo-1.2.3/a", 'f', "1", 0}, {"demo-1.2.3/a", 'f', "2", 0}};
    const struct hentry dirfile[] = {{"demo-1.2.3/a/", 'd', NULL, 0},
                                     {"demo-1.2.3/a", 'f', "2", 0}};
    const struct hentry under[] = {{"demo-1.2.3/a", 'f', "1", 0}, {"demo-1.2.3/a/b", 'f', "2", 0}};

    refuse_entries(*state, dup, 2, HO_EINVAL, "twice");
    refuse_entries(*state, dirfile, 2, HO_EINVAL, "twice");
    refuse_entries(*state, under, 2, HO_EINVAL, "not a folder");
}

static void test_bundle_refuses_too_many_entries(void **state)
{
    struct hentry *e = xcalloc(BUNDLE_MAX_ENTRIES, sizeof(*e));
    char **names = xcalloc(BUNDLE_MAX_ENTRIES, sizeof(*names));
    size_t i;

    for (i = 0; i < BUNDLE_MAX_ENTRIES; i++) {
        names[i] = xasprintf("demo-1.2.3/f%zu", i);
        e[i].path = names[i];
        e[i].type = 'f';
        e[i].text = "";
    }
    refuse_entries(*state, e, BUNDLE_MAX_ENTRIES, HO_ETOOBIG, "1000 entries");
    for (i = 0; i < BUNDLE_MAX_ENTRIES; i++)
        free(names[i]);
    free(names);
    free(e);
}

static void test_bundle_refuses_large_file(void **state)
{
    const struct hentry big[] = {{"demo-1.2.3/big", 'f', NULL, BUNDLE_MAX_FILE_BYTES + 1}};

    refuse_entries(*state, big, 1, HO_ETOOBIG, "16 MiB");
}

static void test_bundle_refuses_gzip_bomb(void **state)
{
    /* five files just under the per-file limit: 80 MiB of zeros in ~80 KiB */
    const struct hentry e[] = {{"demo-1.2.3/z1", 'f', NULL, BUNDLE_MAX_FILE_BYTES},
                               {"demo-1.2.3/z2", 'f', NULL, BUNDLE_MAX_FILE_BYTES},
                               {"demo-1.2.3/z3", 'f', NULL, BUNDLE_MAX_FILE_BYTES},
                               {"demo-1.2.3/z4", 'f', NULL, BUNDLE_MAX_FILE_BYTES},
                               {"demo-1.2.3/z5", 'f', NULL, BUNDLE_MAX_FILE_BYTES}};

    refuse_entries(*state, e, 5, HO_ETOOBIG, "64 MiB");
}

/* A ustar header block for name with typeflag and size (checksum filled in). */
static void ustar_header(unsigned char *h, const char *name, char type, size_t size)
{
    unsigned sum = 0;
    size_t i;

    memset(h, 0, 512);
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    snprintf((char *)h + 124, 12, "%011zo", size);
    memcpy(h + 136, "00000000000", 12);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    for (i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
}

static void test_bundle_refuses_special_header_bomb(void **state)
{
    /*
     * Every entry carries a 960 KiB GNU long-name header and declares no
     * data: the file sizes say 0 but the unpacked tar passes the cap.
     */
    const size_t body = 960 * 1024, n = 80;
    unsigned char h[512], end[1024];
    char *chunk = xcalloc(1, body), name[64];
    struct gzw g;
    size_t i, len;
    void *tgz;

    gzw_open(&g);
    ustar_header(h, "demo-1.2.3/healops-package.json", '0', 0);
    gzw_put(&g, h, sizeof(h));
    for (i = 0; i < n; i++) {
        ustar_header(h, "././@LongLink", 'L', body);
        gzw_put(&g, h, sizeof(h));
        snprintf(chunk, body, "demo-1.2.3/long%zu", i);
        gzw_put(&g, chunk, body);
        snprintf(name, sizeof(name), "demo-1.2.3/f%zu", i);
        ustar_header(h, name, '0', 0);
        gzw_put(&g, h, sizeof(h));
    }
    memset(end, 0, sizeof(end));
    gzw_put(&g, end, sizeof(end));
    tgz = gzw_close(&g, &len);
    free(chunk);
    assert_true(len < 1024 * 1024);
    assert_refused(*state, tgz, len, HO_ETOOBIG, "unpacked");
    free(tgz);
}

static void test_bundle_refuses_deep_and_long_paths(void **state)
{
    char deep[256] = "demo-1.2.3", longp[300];
    const struct hentry d[] = {{deep, 'f', "x", 0}};
    const struct hentry l[] = {{longp, 'f', "x", 0}};
    int i;

    for (i = 0; i < 16; i++)
        strcat(deep, "/d");
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    memcpy(longp, "demo-1.2.3/", 11);
    refuse_entries(*state, d, 1, HO_ETOOBIG, "deeper");
    refuse_entries(*state, l, 1, HO_ETOOBIG, "255");
}

static void test_bundle_refuses_corrupt_input(void **state)
{
    struct fixture *f = *state;
    const char *text = "just some text, not a tar archive at all\n";
    unsigned char *bad;
    void *tgz, *gz;
    size_t len, glen;

    build(f, &tgz, &len);
    assert_refused(f, tgz, len / 2, HO_EINVAL, NULL); /* truncated */
    bad = xmalloc(len);
    memcpy(bad, tgz, len);
    memset(bad + 20, 0x55, 40); /* corrupt deflate data */
    assert_refused(f, bad, len, HO_EINVAL, NULL);
    free(bad);
    gz = mk_gzip(text, strlen(text), &glen); /* gzip, but not a tar */
    assert_refused(f, gz, glen, HO_EINVAL, NULL);
    free(gz);
    assert_refused(f, text, strlen(text), HO_EINVAL, "gzip"); /* not even gzip */
    assert_refused(f, "", 0, HO_EINVAL, NULL);
    assert_refused(f, tgz, BUNDLE_MAX_BYTES + 1, HO_ETOOBIG, NULL); /* length checked first */
    free(tgz);
}

static void test_bundle_flat_archive_accepted(void **state)
{
    struct fixture *f = *state;
    const struct hentry dotted[] = {{"./", 'd', NULL, 0}, MANIFEST_ENTRY("."),
                                    {"./checks/", 'd', NULL, 0},
                                    {"./checks/up.test", 'f', "#!/bin/sh\n", 0}};
    const struct hentry plain[] = {{"healops-package.json", 'f', MANIFEST_JSON, 0},
                                   {"checks/up.test", 'f', "#!/bin/sh\n", 0}};
    struct ho_error err;
    char *json, *p;
    void *tgz;
    size_t len, jl;

    tgz = mk_tar(dotted, 4, NULL, 0, &len);
    assert_int_equal(bundle_read_manifest(tgz, len, &json, &jl, &err), HO_OK);
    assert_string_equal(json, MANIFEST_JSON);
    free(json);
    assert_int_equal(bundle_extract(tgz, len, f->out, &err), HO_OK);
    p = xasprintf("%s/checks/up.test", f->out);
    assert_true(exists(p));
    free(p);
    free(tgz);
    nftw(f->out, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    tgz = mk_tar(plain, 2, NULL, 0, &len);
    assert_int_equal(bundle_extract(tgz, len, f->out, &err), HO_OK);
    p = xasprintf("%s/healops-package.json", f->out);
    assert_true(exists(p));
    free(p);
    free(tgz);
}

static void test_bundle_refuses_missing_manifest(void **state)
{
    const struct hentry none[] = {{"demo-1.2.3/", 'd', NULL, 0},
                                  {"demo-1.2.3/README.md", 'f', "hi", 0}};
    const struct hentry two_tops[] = {MANIFEST_ENTRY("a"), MANIFEST_ENTRY("b")};
    const struct hentry deeper[] = {MANIFEST_ENTRY("a/b")};
    const struct hentry link[] = {{"healops-package.json", 'l', "README.md", 0},
                                  {"README.md", 'f', MANIFEST_JSON, 0}};
    size_t len;
    void *tgz;

    tgz = mk_tar(none, 2, NULL, 0, &len);
    assert_refused(*state, tgz, len, HO_EINVAL, "healops-package.json");
    free(tgz);
    tgz = mk_tar(two_tops, 2, NULL, 0, &len);
    assert_refused(*state, tgz, len, HO_EINVAL, "one top folder");
    free(tgz);
    tgz = mk_tar(deeper, 1, NULL, 0, &len);
    assert_refused(*state, tgz, len, HO_EINVAL, "healops-package.json");
    free(tgz);
    tgz = mk_tar(link, 2, NULL, 0, &len);
    assert_refused(*state, tgz, len, HO_EINVAL, "regular file");
    free(tgz);
}

static void test_bundle_check_names_missing_executable(void **state)
{
    struct fixture *f = *state;
    const struct hentry e[] = {{"demo-1.2.3/checks/up.test", 'f', "#!/bin/sh\n", 0},
                               {"demo-1.2.3/checks/up.repair", 'f', "#!/bin/sh\n", 0}};
    static const struct hentry base[] = {TOP_ENTRIES};
    struct ho_error err;
    struct manifest m;
    void *tgz;
    size_t len;

    (void)f;
    assert_int_equal(manifest_parse(MANIFEST_JSON, strlen(MANIFEST_JSON), &m, &err), HO_OK);
    tgz = mk_tar(base, 2, e, 2, &len);
    /* up.test is 0644 in this archive, and stats/load.stats is missing */
    assert_int_equal(bundle_check(tgz, len, &m, &err), HO_EINVAL);
    assert_string_equal(err.field, "healops-package.json:checks[0].test.exec[0]");
    assert_non_null(strstr(err.msg, "not executable"));
    free(tgz);
    manifest_cleanup(&m);
}

static void test_bundle_read_file_limits(void **state)
{
    struct fixture *f = *state;
    struct ho_error err;
    void *data;
    size_t len;
    char *p = xasprintf("%s/README.md", f->pkg);

    assert_int_equal(bundle_read_file(p, 7, &data, &len, &err), HO_OK);
    assert_int_equal(len, 7);
    free(data);
    assert_int_equal(bundle_read_file(p, 6, &data, &len, &err), HO_ETOOBIG);
    assert_null(data);
    assert_int_equal(bundle_read_file(f->pkg, 100, &data, &len, &err), HO_EINVAL);
    free(p);
    p = xasprintf("%s/none", f->pkg);
    assert_int_equal(bundle_read_file(p, 100, &data, &len, &err), HO_ENOENT);
    free(p);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_bundle_round_trip),
        T(test_bundle_extract_refuses_existing_dest),
        T(test_bundle_build_reproducible),
        T(test_bundle_build_normalised_entries),
        T(test_bundle_build_skips_vcs_and_output),
        T(test_bundle_build_refuses_bad_folders),
        T(test_bundle_refuses_absolute_path),
        T(test_bundle_refuses_dotdot),
        T(test_bundle_refuses_escaping_symlinks),
        T(test_bundle_refuses_dangling_symlink),
        T(test_bundle_refuses_links_and_devices),
        T(test_bundle_refuses_duplicates),
        T(test_bundle_refuses_too_many_entries),
        T(test_bundle_refuses_large_file),
        T(test_bundle_refuses_gzip_bomb),
        T(test_bundle_refuses_special_header_bomb),
        T(test_bundle_refuses_deep_and_long_paths),
        T(test_bundle_refuses_corrupt_input),
        T(test_bundle_flat_archive_accepted),
        T(test_bundle_refuses_missing_manifest),
        T(test_bundle_check_names_missing_executable),
        T(test_bundle_read_file_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

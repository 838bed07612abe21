/*
 * Package store and sync (DESIGN.md sections 3 and 5). Layout under
 * STATE_DIR/packages:
 *
 *   NAME/VERSION/       an extracted, verified bundle
 *   NAME/current        symlink to "VERSION": what runs
 *   NAME/previous       symlink to the version before (rollback target)
 *   .tmp/               downloads and extractions in progress, emptied at start
 *
 * A link is switched by making a new symlink beside it and rename(2)-ing it
 * over the old one, so a crash leaves either the old or the new link. A new
 * version is extracted in .tmp, validated there and renamed into place, so
 * NAME/VERSION only ever holds a complete, verified package. A package that
 * is no longer assigned has its current link renamed to previous: it stops
 * running, also after a restart, and its folder stays until the next switch.
 *
 * Locks: fs_lock serialises every change of the folders and links (the sync
 * thread installs while the scheduler thread loads); lock guards the small
 * shared state (generation, what runs, errors). fs_lock is taken first.
 * Downloads happen outside both.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "crypto.h"
#include "httpc.h"
#include "log.h"
#include "mem.h"
#include "pkglist.h"
#include "pkgsync.h"
#include "sign.h"
#include "unpack.h"


/* A recorded failure of one package version, reported in heartbeats. */
struct pkgsync_err {
    char *name;
    char *version;
    char *error;
    char sha256[CRYPTO_SHA256_HEX_LEN]; /* the announced bytes that failed */
    char *signature;                    /* as announced, may be NULL */
    int permanent; /* the same bytes and signature would fail again: not retried */
};

struct pkgsync {
    char *root; /* STATE_DIR/packages */
    char *tmp;  /* root/.tmp */
    struct sign_pubkey *const *keys;
    size_t nkeys;
    pthread_mutex_t fs_lock;
    pthread_mutex_t lock; /* guards the fields up to the sync-only ones */
    unsigned long gen;
    int changed;
    int running_known;
    struct pkgsync_item *running;
    size_t nrunning;
    struct pkgsync_err *errs;
    size_t nerrs;
    /* used by the syncing thread only */
    char etag[HTTPC_ETAG_MAX];
    int have_list;
    struct pkglist_entry *assigned;
    size_t nassigned;
};

/* ---- names, paths and links -------------------------------------------- */

static int pkgsync_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    if (remove(path) != 0 && errno != ENOENT)
        log_warn("packages: cannot remove %s (flag %d)", path, flag);
    return 0;
}

/* Removes path and everything below it; symlinks are removed, not followed. */
static void pkgsync_rm_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0)
            log_warn("packages: cannot remove %s", path);
        return;
    }
    nftw(path, pkgsync_rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void pkgsync_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return;
    if (fsync(fd) != 0)
        log_warn("packages: fsync %s", path);
    close(fd);
}

/* Reads NAME/which ("current" or "previous") into out; 0 when it names a version. */
static int pkgsync_link_read(struct pkgsync *ps, const char *name, const char *which,
                             char out[PKGLIST_VERSION_MAX + 1])
{
    char *path = xasprintf("%s/%s/%s", ps->root, name, which);
    ssize_t n = readlink(path, out, PKGLIST_VERSION_MAX + 1);

    free(path);
    if (n <= 0 || n > PKGLIST_VERSION_MAX) {
        out[0] = '\0';
        return -1;
    }
    out[n] = '\0';
    if (!pkglist_valid_version(out)) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* Points NAME/which at version: a new symlink renamed over the old one. */
static enum ho_code pkgsync_link_write(struct pkgsync *ps, const char *name, const char *which,
                                       const char *version, struct ho_error *err)
{
    char *dir = xasprintf("%s/%s", ps->root, name);
    char *tmp = xasprintf("%s/.%s.tmp", dir, which);
    char *path = xasprintf("%s/%s", dir, which);
    enum ho_code rc = HO_OK;

    if (unlink(tmp) != 0 && errno != ENOENT) {
        rc = ho_error_set(err, HO_EIO, NULL, "cannot remove %s: %s", tmp, strerror(errno));
    } else if (symlink(version, tmp) != 0) {
        rc = ho_error_set(err, HO_EIO, NULL, "cannot make %s: %s", tmp, strerror(errno));
    } else if (rename(tmp, path) != 0) {
        rc = ho_error_set(err, HO_EIO, NULL, "cannot switch %s: %s", path, strerror(errno));
        (void)unlink(tmp);
    } else {
        pkgsync_fsync_dir(dir);
    }
    free(dir);
    free(tmp);
    free(path);
    return rc;
}

static void pkgsync_link_remove(struct pkgsync *ps, const char *name, const char *which)
{
    char *path = xasprintf("%s/%s/%s", ps->root, name, which);

    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("packages: cannot remove %s", path);
    free(path);
}

/* 1 when pkgsync_set_running lists name at version (its folder must stay). */
static int pkgsync_is_running(struct pkgsync *ps, const char *name, const char *version)
{
    size_t i;
    int found = 0;

    pthread_mutex_lock(&ps->lock);
    for (i = 0; i < ps->nrunning && !found; i++)
        found = strcmp(ps->running[i].name, name) == 0 &&
                strcmp(ps->running[i].version, version) == 0;
    pthread_mutex_unlock(&ps->lock);
    return found;
}

/* Removes every version folder of name but current, previous and the running one. */
static void pkgsync_prune(struct pkgsync *ps, const char *name)
{
    char cur[PKGLIST_VERSION_MAX + 1], prev[PKGLIST_VERSION_MAX + 1], *dir, *path;
    struct dirent *de;
    DIR *dp;

    (void)pkgsync_link_read(ps, name, "current", cur);
    (void)pkgsync_link_read(ps, name, "previous", prev);
    dir = xasprintf("%s/%s", ps->root, name);
    dp = opendir(dir);
    while (dp != NULL && (de = readdir(dp)) != NULL) {
        if (!pkglist_valid_version(de->d_name) || strcmp(de->d_name, cur) == 0 ||
            strcmp(de->d_name, prev) == 0 || pkgsync_is_running(ps, name, de->d_name))
            continue;
        path = xasprintf("%s/%s", dir, de->d_name);
        log_info("packages: removing %s %s (older than current and previous)", name, de->d_name);
        pkgsync_rm_tree(path);
        free(path);
    }
    if (dp != NULL)
        closedir(dp);
    free(dir);
}

static void pkgsync_bump(struct pkgsync *ps)
{
    pthread_mutex_lock(&ps->lock);
    ps->gen++;
    pthread_mutex_unlock(&ps->lock);
}

/* ---- recorded errors ----------------------------------------------------- */

static void pkgsync_err_cleanup(struct pkgsync_err *e)
{
    free(e->name);
    free(e->version);
    free(e->error);
    free(e->signature);
    memset(e, 0, sizeof(*e));
}

/* Index of the error recorded for name, or nerrs. Called with lock held. */
static size_t pkgsync_err_find(struct pkgsync *ps, const char *name)
{
    size_t i;

    for (i = 0; i < ps->nerrs; i++) {
        if (strcmp(ps->errs[i].name, name) == 0)
            break;
    }
    return i;
}

/*
 * Records the failure of e for the heartbeat and logs it at warning, once: the
 * same error of the same version again is not logged.
 */
static void pkgsync_fail(struct pkgsync *ps, const struct pkgsync_entry *e, int permanent,
                         const struct ho_error *err)
{
    struct pkgsync_err *r;
    char text[PKGSYNC_MAX_ERROR], *msg;
    size_t i;

    if (err->field[0] != '\0')
        msg = xasprintf("%s: %s", err->field, err->msg);
    else
        msg = xstrdup(err->msg);
    if (strlen(msg) >= PKGSYNC_MAX_ERROR)
        msg[PKGSYNC_MAX_ERROR - 1] = '\0';
    for (i = 0; msg[i] != '\0'; i++) {
        if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] >= 0x7f)
            msg[i] = '?'; /* it may quote the bundle: plain printable text for the server */
    }
    pthread_mutex_lock(&ps->lock);
    i = pkgsync_err_find(ps, e->name);
    if (i < ps->nerrs && strcmp(ps->errs[i].version, e->version) == 0 &&
        strcmp(ps->errs[i].error, msg) == 0) {
        ps->errs[i].permanent = permanent;
        pthread_mutex_unlock(&ps->lock);
        free(msg);
        return;
    }
    if (i == ps->nerrs)
        ps->errs = xrealloc(ps->errs, ++ps->nerrs * sizeof(*ps->errs));
    else
        pkgsync_err_cleanup(&ps->errs[i]);
    r = &ps->errs[i];
    memset(r, 0, sizeof(*r));
    r->name = xstrdup(e->name);
    r->version = xstrdup(e->version);
    r->error = msg;
    if (e->sha256 != NULL)
        snprintf(r->sha256, sizeof(r->sha256), "%s", e->sha256);
    r->signature = xstrdup(e->signature);
    r->permanent = permanent;
    ps->changed = 1;
    pthread_mutex_unlock(&ps->lock);
    log_warnx("package %s %s: %s; the running version stays", e->name, e->version,
              log_safe(text, sizeof(text), msg));
}

static void pkgsync_clear_error(struct pkgsync *ps, const char *name)
{
    size_t i;

    pthread_mutex_lock(&ps->lock);
    i = pkgsync_err_find(ps, name);
    if (i < ps->nerrs) {
        pkgsync_err_cleanup(&ps->errs[i]);
        ps->errs[i] = ps->errs[--ps->nerrs];
        ps->changed = 1;
    }
    pthread_mutex_unlock(&ps->lock);
}

/* 1 when this exact assignment already failed for good (same bytes, same signature). */
static int pkgsync_failed_for_good(struct pkgsync *ps, const struct pkglist_entry *a)
{
    const struct pkgsync_err *r;
    size_t i;
    int skip = 0;

    pthread_mutex_lock(&ps->lock);
    i = pkgsync_err_find(ps, a->name);
    if (i < ps->nerrs) {
        r = &ps->errs[i];
        skip = r->permanent && strcmp(r->version, a->version) == 0 &&
               strcmp(r->sha256, a->sha256) == 0 &&
               ((r->signature == NULL && a->signature == NULL) ||
                (r->signature != NULL && a->signature != NULL &&
                 strcmp(r->signature, a->signature) == 0));
    }
    pthread_mutex_unlock(&ps->lock);
    return skip;
}

/* ---- opening ------------------------------------------------------------- */

enum ho_code pkgsync_new(const char *state_dir, struct sign_pubkey *const *keys, size_t nkeys,
                         struct pkgsync **out, struct ho_error *err)
{
    struct pkgsync *ps = xcalloc(1, sizeof(*ps));

    *out = NULL;
    ps->root = xasprintf("%s/%s", state_dir, PKGSYNC_DIR);
    ps->tmp = xasprintf("%s/.tmp", ps->root);
    ps->keys = keys;
    ps->nkeys = nkeys;
    pthread_mutex_init(&ps->fs_lock, NULL);
    pthread_mutex_init(&ps->lock, NULL);
    if (mkdir(ps->root, 0755) != 0 && errno != EEXIST) {
        ho_error_set(err, HO_EIO, "state_dir", "cannot create %s: %s", ps->root, strerror(errno));
        pkgsync_free(ps);
        return HO_EIO;
    }
    pkgsync_rm_tree(ps->tmp);
    if (mkdir(ps->tmp, 0700) != 0) {
        ho_error_set(err, HO_EIO, "state_dir", "cannot create %s: %s", ps->tmp, strerror(errno));
        pkgsync_free(ps);
        return HO_EIO;
    }
    *out = ps;
    return HO_OK;
}

void pkgsync_items_free(struct pkgsync_item *items, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(items[i].name);
        free(items[i].version);
        free(items[i].error);
    }
    free(items);
}

void pkgsync_free(struct pkgsync *ps)
{
    size_t i;

    if (ps == NULL)
        return;
    for (i = 0; i < ps->nerrs; i++)
        pkgsync_err_cleanup(&ps->errs[i]);
    free(ps->errs);
    pkgsync_items_free(ps->running, ps->nrunning);
    pkglist_free(ps->assigned, ps->nassigned);
    pthread_mutex_destroy(&ps->fs_lock);
    pthread_mutex_destroy(&ps->lock);
    free(ps->root);
    free(ps->tmp);
    free(ps);
}

/* ---- installing ---------------------------------------------------------- */

/* Checks the bundle bytes against the announced sha256 and a trusted signature. */
static enum ho_code pkgsync_verify(struct pkgsync *ps, const struct pkgsync_entry *e,
                                   const void *data, size_t len, struct ho_error *err)
{
    char sha[CRYPTO_SHA256_HEX_LEN];
    struct ho_error serr;
    enum ho_code rc;

    crypto_sha256_hex(data, len, sha);
    if (e->sha256 == NULL || strcmp(sha, e->sha256) != 0)
        return ho_error_set(err, HO_EINVAL, "sha256",
                            "bundle sha256 %s does not match the announced %.64s", sha,
                            e->sha256 != NULL ? e->sha256 : "(none)");
    if (ps->nkeys == 0)
        return ho_error_set(err, HO_EAUTH, "signature",
                            "no trusted publisher key is configured (--trust-key): "
                            "bundles cannot be verified");
    if (e->signature == NULL || e->signature[0] == '\0')
        return ho_error_set(err, HO_EAUTH, "signature", "unsigned bundle");
    ho_error_clear(&serr);
    rc = sign_verify(ps->keys, ps->nkeys, data, len, e->signature, NULL, &serr);
    if (rc == HO_EAUTH)
        return ho_error_set(err, HO_EAUTH, "signature",
                            "signature does not verify with any trusted key");
    if (rc != HO_OK)
        return ho_error_set(err, rc, "signature", "bad signature: %s", serr.msg);
    return HO_OK;
}

/*
 * Loads the manifest in dir and holds it to name and version. On success *m
 * is loaded (caller cleans up); on failure it is left clean.
 */
static enum ho_code pkgsync_load_dir(const char *dir, const char *name, const char *version,
                                     struct manifest *m, struct ho_error *err)
{
    enum ho_code rc;

    memset(m, 0, sizeof(*m));
    rc = manifest_load_dir(dir, m, err);
    if (rc != HO_OK)
        return rc;
    if (strcmp(m->name, name) != 0)
        rc = ho_error_set(err, HO_EINVAL, "healops-package.json:name",
                          "the bundle holds package \"%s\", not \"%s\"", m->name, name);
    else if (strcmp(m->version, version) != 0)
        rc = ho_error_set(err, HO_EINVAL, "healops-package.json:version",
                          "the bundle holds version \"%s\", not \"%s\"", m->version, version);
    if (rc != HO_OK)
        manifest_cleanup(m);
    return rc;
}

/*
 * Extracts the bundle into a new folder under .tmp and validates it there.
 * *work gets the work folder (remove it when done), *pkgdir the package folder
 * inside it.
 */
static enum ho_code pkgsync_unpack(struct pkgsync *ps, const struct pkgsync_entry *e,
                                   const void *data, size_t len, char **work, char **pkgdir,
                                   struct ho_error *err)
{
    struct manifest m;
    char *tmpl = xasprintf("%s/%s-%s.XXXXXX", ps->tmp, e->name, e->version);
    char *dest = NULL;
    enum ho_code rc;

    *work = NULL;
    *pkgdir = NULL;
    if (mkdtemp(tmpl) == NULL) {
        rc = ho_error_set(err, HO_EIO, NULL, "cannot create a folder in %s: %s", ps->tmp,
                          strerror(errno));
        free(tmpl);
        return rc;
    }
    *work = tmpl;
    dest = xasprintf("%s/pkg", tmpl);
    /* in healops-agent-unpack (unpack.h); strips the NAME-VERSION/ top folder */
    rc = unpack_bundle(data, len, dest, err);
    if (rc != HO_OK)
        goto out;
    rc = pkgsync_load_dir(dest, e->name, e->version, &m, err);
    if (rc != HO_OK)
        goto out;
    manifest_cleanup(&m);
    *pkgdir = dest;
    dest = NULL;
out:
    free(dest);
    return rc;
}

/* Makes version current (the old current becomes previous) and prunes. Holds fs_lock. */
static enum ho_code pkgsync_switch(struct pkgsync *ps, const char *name, const char *version,
                                   struct ho_error *err)
{
    char cur[PKGLIST_VERSION_MAX + 1];
    enum ho_code rc;

    if (pkgsync_link_read(ps, name, "current", cur) == 0 && strcmp(cur, version) != 0) {
        rc = pkgsync_link_write(ps, name, "previous", cur, err);
        if (rc != HO_OK)
            return rc;
    }
    rc = pkgsync_link_write(ps, name, "current", version, err);
    if (rc != HO_OK)
        return rc;
    pkgsync_prune(ps, name);
    pkgsync_bump(ps);
    log_info("package %s %s installed and current%s%s", name, version,
             cur[0] != '\0' && strcmp(cur, version) != 0 ? "; previous " : "",
             cur[0] != '\0' && strcmp(cur, version) != 0 ? cur : "");
    return HO_OK;
}

/* Moves the validated folder src to NAME/VERSION and switches to it. Holds fs_lock. */
static enum ho_code pkgsync_place(struct pkgsync *ps, const struct pkgsync_entry *e,
                                  const char *src, struct ho_error *err)
{
    char *dir = xasprintf("%s/%s", ps->root, e->name);
    char *dst = xasprintf("%s/%s", dir, e->version);
    enum ho_code rc = HO_OK;

    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = ho_error_set(err, HO_EIO, NULL, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    pkgsync_rm_tree(dst); /* a left-over that did not validate */
    if (rename(src, dst) != 0) {
        rc = ho_error_set(err, HO_EIO, NULL, "cannot move the package to %s: %s", dst,
                          strerror(errno));
        goto out;
    }
    pkgsync_fsync_dir(dir);
    rc = pkgsync_switch(ps, e->name, e->version, err);
out:
    free(dir);
    free(dst);
    return rc;
}

enum ho_code pkgsync_install(struct pkgsync *ps, const struct pkgsync_entry *e, const void *data,
                             size_t len, struct ho_error *err)
{
    char *work = NULL, *pkgdir = NULL;
    enum ho_code rc;

    if (!pkglist_valid_name(e->name))
        return ho_error_set(err, HO_EINVAL, "name", "not a package name");
    if (!pkglist_valid_version(e->version))
        return ho_error_set(err, HO_EINVAL, "version", "not a version");
    rc = pkgsync_verify(ps, e, data, len, err);
    if (rc != HO_OK)
        return rc;
    pthread_mutex_lock(&ps->fs_lock);
    rc = pkgsync_unpack(ps, e, data, len, &work, &pkgdir, err);
    if (rc == HO_OK)
        rc = pkgsync_place(ps, e, pkgdir, err);
    pthread_mutex_unlock(&ps->fs_lock);
    if (work != NULL)
        pkgsync_rm_tree(work);
    free(work);
    free(pkgdir);
    return rc;
}

/*
 * Switches to an already extracted NAME/VERSION (a rollout going back to the
 * previous version) when it still validates. HO_ENOENT when there is none
 * (the bundle must be downloaded); a folder that does not validate is removed.
 */
static enum ho_code pkgsync_reuse(struct pkgsync *ps, const struct pkglist_entry *a,
                                  struct ho_error *err)
{
    char *dir = xasprintf("%s/%s/%s", ps->root, a->name, a->version);
    struct manifest m;
    struct ho_error lerr;
    struct stat st;
    enum ho_code rc = HO_ENOENT;

    pthread_mutex_lock(&ps->fs_lock);
    if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
        ho_error_clear(&lerr);
        if (pkgsync_load_dir(dir, a->name, a->version, &m, &lerr) == HO_OK) {
            manifest_cleanup(&m);
            rc = pkgsync_switch(ps, a->name, a->version, err);
        } else {
            pkgsync_rm_tree(dir);
        }
    }
    pthread_mutex_unlock(&ps->fs_lock);
    free(dir);
    return rc;
}

/* ---- sync ---------------------------------------------------------------- */

/* Fetches the assignment list into ps->assigned; keeps the old one on 304. */
static enum ho_code pkgsync_fetch_list(struct pkgsync *ps, struct httpc *hc, const char *server,
                                       const char *token, struct ho_error *err)
{
    struct httpc_response resp = {0};
    struct pkglist_entry *a = NULL;
    size_t n = 0;
    char *url = xasprintf("%s/api/v1/agents/self/packages", server);
    enum ho_code rc;

    rc = httpc_request(hc, "GET", url, token, NULL, NULL, 0, ps->have_list ? ps->etag : NULL,
                       PKGSYNC_MAX_LIST_BYTES, &resp, err);
    free(url);
    if (rc != HO_OK)
        return rc;
    if (resp.status == 304 && ps->have_list) {
        rc = HO_OK;
    } else if (resp.status == 200) {
        rc = pkglist_parse(resp.body, resp.body_len, &a, &n, err);
        if (rc == HO_OK) {
            pkglist_free(ps->assigned, ps->nassigned);
            ps->assigned = a;
            ps->nassigned = n;
            ps->have_list = 1;
            memcpy(ps->etag, resp.etag, sizeof(ps->etag));
        }
    } else if (resp.status == 401 || resp.status == 403) {
        rc = ho_error_set(err, HO_EAUTH, "token", "server refused the agent token (%ld)",
                          resp.status);
    } else if (resp.status == 404) {
        rc = ho_error_set(err, HO_ENOENT, "server", "the server does not distribute packages");
    } else {
        rc = ho_error_set(err, HO_EIO, "server", "server answered %ld to the package list",
                          resp.status);
    }
    httpc_response_cleanup(&resp);
    return rc;
}

/* Downloads and installs assignment a; *permanent says whether retrying is useless. */
static enum ho_code pkgsync_fetch_install(struct pkgsync *ps, struct httpc *hc,
                                          const char *server, const char *token,
                                          const struct pkglist_entry *a,
                                          const struct pkgsync_entry *e, int *permanent,
                                          struct ho_error *err)
{
    struct httpc_response resp = {0};
    char *url = xasprintf("%s%s", server, a->url);
    enum ho_code rc;

    *permanent = 0;
    rc = httpc_request(hc, "GET", url, token, NULL, NULL, 0, NULL, BUNDLE_MAX_BYTES, &resp, err);
    free(url);
    if (rc == HO_ETOOBIG) {
        *permanent = 1;
        return ho_error_set(err, rc, "bundle", "bundle larger than %d bytes", BUNDLE_MAX_BYTES);
    }
    if (rc != HO_OK)
        return rc;
    if (resp.status != 200) {
        rc = ho_error_set(err, resp.status == 401 || resp.status == 403 ? HO_EAUTH : HO_EIO,
                          "bundle", "server answered %ld to the bundle download", resp.status);
    } else {
        rc = pkgsync_install(ps, e, resp.body, resp.body_len, err);
        *permanent = rc != HO_OK && rc != HO_EIO;
    }
    httpc_response_cleanup(&resp);
    return rc;
}

/* Makes assignment a current unless it is already. */
static void pkgsync_apply(struct pkgsync *ps, struct httpc *hc, const char *server,
                          const char *token, const struct pkglist_entry *a)
{
    struct pkgsync_entry e = {a->name, a->version, a->sha256, a->signature};
    char cur[PKGLIST_VERSION_MAX + 1];
    struct ho_error err;
    int permanent = 0, installed;
    enum ho_code rc;

    pthread_mutex_lock(&ps->fs_lock);
    installed = pkgsync_link_read(ps, a->name, "current", cur) == 0 &&
                strcmp(cur, a->version) == 0;
    pthread_mutex_unlock(&ps->fs_lock);
    if (installed) {
        pkgsync_clear_error(ps, a->name);
        return;
    }
    if (pkgsync_failed_for_good(ps, a))
        return;
    ho_error_clear(&err);
    rc = pkgsync_reuse(ps, a, &err);
    if (rc == HO_ENOENT) {
        ho_error_clear(&err);
        rc = pkgsync_fetch_install(ps, hc, server, token, a, &e, &permanent, &err);
    }
    if (rc == HO_OK)
        pkgsync_clear_error(ps, a->name);
    else
        pkgsync_fail(ps, &e, permanent, &err);
}

enum ho_code pkgsync_sync(struct pkgsync *ps, struct httpc *hc, const char *server,
                          const char *token, struct ho_error *err)
{
    const char **names;
    size_t i;
    enum ho_code rc;

    rc = pkgsync_fetch_list(ps, hc, server, token, err);
    if (rc != HO_OK)
        return rc;
    names = xcalloc(ps->nassigned + 1, sizeof(*names));
    for (i = 0; i < ps->nassigned; i++) {
        pkgsync_apply(ps, hc, server, token, &ps->assigned[i]);
        names[i] = ps->assigned[i].name;
    }
    pkgsync_retain(ps, names, ps->nassigned);
    free(names);
    return HO_OK;
}

/* ---- stopping and loading ------------------------------------------------ */

static int pkgsync_in(const char *name, const char *const *names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0)
            return 1;
    }
    return 0;
}

static int pkgsync_cmp_names(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int pkgsync_dir_filter(const struct dirent *de)
{
    return pkglist_valid_name(de->d_name);
}

/* The package folders of the store, sorted by name (caller frees with free_names). */
static size_t pkgsync_names(struct pkgsync *ps, struct dirent ***out)
{
    int n = scandir(ps->root, out, pkgsync_dir_filter, pkgsync_cmp_names);

    if (n < 0) {
        *out = NULL;
        return 0;
    }
    return (size_t)n;
}

static void pkgsync_free_names(struct dirent **d, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(d[i]);
    free(d);
}

void pkgsync_retain(struct pkgsync *ps, const char *const *names, size_t n)
{
    struct dirent **d = NULL;
    char cur[PKGLIST_VERSION_MAX + 1], *from, *to;
    size_t nd, i, k;

    pthread_mutex_lock(&ps->fs_lock);
    nd = pkgsync_names(ps, &d);
    for (i = 0; i < nd; i++) {
        if (pkgsync_in(d[i]->d_name, names, n) ||
            pkgsync_link_read(ps, d[i]->d_name, "current", cur) != 0)
            continue;
        from = xasprintf("%s/%s/current", ps->root, d[i]->d_name);
        to = xasprintf("%s/%s/previous", ps->root, d[i]->d_name);
        if (rename(from, to) != 0) {
            log_warn("packages: cannot stop %s (rename %s)", d[i]->d_name, from);
        } else {
            log_info("package %s %s is no longer assigned: stopped", d[i]->d_name, cur);
            pkgsync_bump(ps);
        }
        free(from);
        free(to);
    }
    pkgsync_free_names(d, nd);
    pthread_mutex_unlock(&ps->fs_lock);
    pthread_mutex_lock(&ps->lock);
    for (k = 0; k < ps->nerrs;) {
        if (pkgsync_in(ps->errs[k].name, names, n)) {
            k++;
            continue;
        }
        pkgsync_err_cleanup(&ps->errs[k]);
        ps->errs[k] = ps->errs[--ps->nerrs];
        ps->changed = 1;
    }
    pthread_mutex_unlock(&ps->lock);
}

/*
 * Loads NAME's current version into *m; when it does not load, reports it and
 * makes previous current (rollback) if that loads. 0 when *m is loaded.
 */
static int pkgsync_load_one(struct pkgsync *ps, const char *name, struct manifest *m)
{
    char cur[PKGLIST_VERSION_MAX + 1], prev[PKGLIST_VERSION_MAX + 1], *dir;
    struct pkgsync_entry e = {name, NULL, NULL, NULL};
    struct ho_error err, perr;
    enum ho_code rc;

    if (pkgsync_link_read(ps, name, "current", cur) != 0)
        return -1;
    dir = xasprintf("%s/%s/%s", ps->root, name, cur);
    ho_error_clear(&err);
    rc = pkgsync_load_dir(dir, name, cur, m, &err);
    free(dir);
    if (rc == HO_OK)
        return 0;
    e.version = cur;
    if (pkgsync_link_read(ps, name, "previous", prev) != 0 || strcmp(prev, cur) == 0) {
        pkgsync_fail(ps, &e, 0, &err);
        return -1;
    }
    dir = xasprintf("%s/%s/%s", ps->root, name, prev);
    ho_error_clear(&perr);
    rc = pkgsync_load_dir(dir, name, prev, m, &perr);
    free(dir);
    if (rc == HO_OK) {
        ho_error_clear(&perr);
        rc = pkgsync_link_write(ps, name, "current", prev, &perr);
    }
    if (rc != HO_OK) {
        manifest_cleanup(m);
        pkgsync_fail(ps, &e, 0, &err);
        return -1;
    }
    pkgsync_link_remove(ps, name, "previous");
    pkgsync_bump(ps);
    snprintf(err.msg + strlen(err.msg), sizeof(err.msg) - strlen(err.msg),
             "; rolled back to %s", prev);
    pkgsync_fail(ps, &e, 0, &err);
    return 0;
}

void pkgsync_load(struct pkgsync *ps, const struct manifest *local, size_t nlocal,
                  struct manifest ***out, size_t *n)
{
    struct dirent **d = NULL;
    struct manifest **pkgs;
    size_t nd, i, k;

    pthread_mutex_lock(&ps->fs_lock);
    nd = pkgsync_names(ps, &d);
    pkgs = xcalloc(nd + 1, sizeof(*pkgs));
    *n = 0;
    for (i = 0; i < nd; i++) {
        for (k = 0; k < nlocal && strcmp(local[k].name, d[i]->d_name) != 0; k++)
            ;
        if (k < nlocal) {
            log_debug("package %s: the --package-dir copy runs instead of the synced one",
                      d[i]->d_name);
            continue;
        }
        pkgs[*n] = xcalloc(1, sizeof(**pkgs));
        if (pkgsync_load_one(ps, d[i]->d_name, pkgs[*n]) == 0)
            (*n)++;
        else
            free(pkgs[*n]);
    }
    pkgsync_free_names(d, nd);
    pthread_mutex_unlock(&ps->fs_lock);
    *out = pkgs;
}

void pkgsync_manifests_free(struct manifest **m, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        manifest_cleanup(m[i]);
        free(m[i]);
    }
    free(m);
}

/* ---- what runs, for the heartbeat ---------------------------------------- */

unsigned long pkgsync_generation(struct pkgsync *ps)
{
    unsigned long g;

    pthread_mutex_lock(&ps->lock);
    g = ps->gen;
    pthread_mutex_unlock(&ps->lock);
    return g;
}

void pkgsync_set_running(struct pkgsync *ps, const struct manifest *const *pkgs, size_t n)
{
    struct pkgsync_item *items = xcalloc(n + 1, sizeof(*items));
    size_t i;
    int same;

    for (i = 0; i < n; i++) {
        items[i].name = xstrdup(pkgs[i]->name);
        items[i].version = xstrdup(pkgs[i]->version);
    }
    pthread_mutex_lock(&ps->lock);
    same = ps->running_known && ps->nrunning == n;
    for (i = 0; same && i < n; i++)
        same = strcmp(ps->running[i].name, items[i].name) == 0 &&
               strcmp(ps->running[i].version, items[i].version) == 0;
    pkgsync_items_free(ps->running, ps->nrunning);
    ps->running = items;
    ps->nrunning = n;
    ps->running_known = 1;
    if (!same)
        ps->changed = 1;
    pthread_mutex_unlock(&ps->lock);
}

static struct pkgsync_item *pkgsync_copy_items(const struct pkgsync_item *src, size_t n)
{
    struct pkgsync_item *out = xcalloc(n + 1, sizeof(*out));
    size_t i;

    for (i = 0; i < n; i++) {
        out[i].name = xstrdup(src[i].name);
        out[i].version = xstrdup(src[i].version);
        out[i].error = xstrdup(src[i].error);
    }
    return out;
}

int pkgsync_report(struct pkgsync *ps, struct pkgsync_item **running, size_t *nrunning,
                   struct pkgsync_item **errors, size_t *nerrors)
{
    size_t i;
    int known;

    pthread_mutex_lock(&ps->lock);
    known = ps->running_known;
    *running = known ? pkgsync_copy_items(ps->running, ps->nrunning) : NULL;
    *nrunning = known ? ps->nrunning : 0;
    *nerrors = ps->nerrs < PKGSYNC_MAX_REPORTED ? ps->nerrs : PKGSYNC_MAX_REPORTED;
    *errors = xcalloc(*nerrors + 1, sizeof(**errors));
    for (i = 0; i < *nerrors; i++) {
        (*errors)[i].name = xstrdup(ps->errs[i].name);
        (*errors)[i].version = xstrdup(ps->errs[i].version);
        (*errors)[i].error = xstrdup(ps->errs[i].error);
    }
    pthread_mutex_unlock(&ps->lock);
    return known;
}

int pkgsync_take_changed(struct pkgsync *ps)
{
    int c;

    pthread_mutex_lock(&ps->lock);
    c = ps->changed;
    ps->changed = 0;
    pthread_mutex_unlock(&ps->lock);
    return c;
}

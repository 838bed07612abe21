/*
 * libFuzzer target: package bundles (common/bundle.c). The bytes go to
 * bundle_read_manifest and to bundle_extract into a fresh folder under a
 * private temp folder, removed after each input. Invariants: an extraction
 * that succeeds has a manifest that bundle_read_manifest returns too, and
 * nothing ever appears in the temp folder beside the destination.
 */
#include <dirent.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char tmp[64];
static char dest[96];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(p);
    else
        unlink(p);
    return 0;
}

static void cleanup(void)
{
    if (tmp[0] != '\0')
        nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Only "out" (or nothing) may be in the temp folder. */
static void check_nothing_escaped(void)
{
    struct dirent *de;
    DIR *d = opendir(tmp);

    if (d == NULL)
        abort();
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            strcmp(de->d_name, "out") != 0)
            abort();
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ho_error err;
    char *json = NULL, *path;
    void *text = NULL;
    size_t len = 0, tlen = 0;
    enum ho_code mrc, xrc;

    if (tmp[0] == '\0') {
        snprintf(tmp, sizeof(tmp), "/tmp/fuzz_bundle.XXXXXX");
        if (mkdtemp(tmp) == NULL)
            abort();
        atexit(cleanup);
        snprintf(dest, sizeof(dest), "%s/out", tmp);
    }
    mrc = bundle_read_manifest(data, size, &json, &len, &err);
    if (mrc == HO_OK && (json == NULL || json[len] != '\0' || len > MANIFEST_MAX_BYTES))
        abort();
    xrc = bundle_extract(data, size, dest, &err);
    check_nothing_escaped();
    if (xrc == HO_OK) {
        if (mrc != HO_OK)
            abort();
        if (asprintf(&path, "%s/%s", dest, MANIFEST_FILE) < 0)
            abort();
        if (bundle_read_file(path, MANIFEST_MAX_BYTES, &text, &tlen, &err) != HO_OK ||
            tlen != len || memcmp(text, json, len) != 0)
            abort();
        free(text);
        free(path);
        nftw(dest, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    } else if (access(dest, F_OK) == 0) {
        abort(); /* a failed extraction leaves nothing */
    }
    free(json);
    return 0;
}

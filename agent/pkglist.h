/*
 * The assignment list the server gives an agent (GET
 * /api/v1/agents/self/packages, DESIGN.md section 5): parsed and validated
 * into records, and the name rules that make a package name and version safe
 * as folder names of the agent's package store.
 */
#ifndef HO_PKGLIST_H
#define HO_PKGLIST_H

#include <stddef.h>

#include "error.h"

#define PKGLIST_MAX_PACKAGES 256 /* assignments taken from one answer */
#define PKGLIST_NAME_MAX     64
#define PKGLIST_VERSION_MAX  64
#define PKGLIST_URL_MAX      512
#define PKGLIST_SIG_MAX      256

/* One assigned package version. */
struct pkglist_entry {
    char *name;      /* owned, pkglist_valid_name */
    char *version;   /* owned, pkglist_valid_version */
    char *sha256;    /* owned, 64 lowercase hex characters */
    char *signature; /* owned base64 text, NULL when unsigned */
    char *url;       /* owned bundle_url: a path under /api/v1/ */
};

/*
 * Parses {"packages": [...]} of len bytes into a new array *out of *n entries
 * (free with pkglist_free). Every field is checked; a name listed twice is an
 * error. err->field is the JSON path ("packages[2].sha256").
 */
enum ho_code pkglist_parse(const char *body, size_t len, struct pkglist_entry **out, size_t *n,
                           struct ho_error *err) HO_WUR;
void pkglist_free(struct pkglist_entry *e, size_t n);

/* 1 for a package name as the manifest allows it: [a-z0-9][a-z0-9._-]*, at most 64. */
int pkglist_valid_name(const char *s);
/*
 * 1 for a version usable as a folder name: a digit first (so never "current",
 * "previous" or a dot file), then [0-9A-Za-z.+-], at most 64.
 */
int pkglist_valid_version(const char *s);

#endif

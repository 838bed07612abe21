/*
 * Package bundles (DESIGN.md section 3): NAME-VERSION.tar.gz of a package
 * folder, built reproducibly and extracted defensively with libarchive.
 * Entries sit under one top folder NAME-VERSION/; extraction also accepts a
 * flat archive with the manifest at its root.
 */
#ifndef HO_BUNDLE_H
#define HO_BUNDLE_H

#include <stddef.h>

#include "error.h"

struct manifest;

#define BUNDLE_MAX_BYTES      (16 * 1024 * 1024) /* compressed bundle */
#define BUNDLE_MAX_ENTRIES    1000
#define BUNDLE_MAX_FILE_BYTES (16 * 1024 * 1024)
#define BUNDLE_MAX_TOTAL      (64 * 1024 * 1024) /* all files unpacked */
#define BUNDLE_MAX_PATH       255
#define BUNDLE_MAX_DEPTH      16

/*
 * Builds the bundle of package folder dir (its manifest must validate) into a
 * new buffer *out of *len bytes (caller frees). Entries are sorted, owned by
 * 0:0 with mtime 0 (or $SOURCE_DATE_EPOCH) and normalised modes; gzip without
 * timestamp: the same folder always gives the same bytes. *name_out (may be
 * NULL) gets "NAME-VERSION.tar.gz" (caller frees).
 */
enum ho_code bundle_build(const char *dir, void **out, size_t *len, char **name_out,
                          struct ho_error *err) HO_WUR;

/*
 * Extracts bundle bytes into dest, a folder that must not exist yet (made
 * 0755). Refuses absolute paths, "..", links out of the package, hard links,
 * devices, fifos, duplicate paths and anything past the limits above; on any
 * error dest is removed again and err names the entry.
 */
enum ho_code bundle_extract(const void *data, size_t len, const char *dest,
                            struct ho_error *err) HO_WUR;

/*
 * Reads the manifest text out of bundle bytes without extracting (*json of
 * *json_len bytes, NUL-terminated, caller frees), applying the same entry
 * checks as bundle_extract. For the server, which validates before storing.
 */
enum ho_code bundle_read_manifest(const void *data, size_t len, char **json, size_t *json_len,
                                  struct ho_error *err) HO_WUR;

/*
 * For the server, after manifest_parse of bundle_read_manifest's text: every
 * relative executable the manifest names (tests, repairs, stats) is in the
 * bundle and executable. err->field is "healops-package.json:checks[0]...".
 */
enum ho_code bundle_check(const void *data, size_t len, const struct manifest *m,
                          struct ho_error *err) HO_WUR;

/* Reads a whole file of at most max bytes into *out (caller frees). */
enum ho_code bundle_read_file(const char *path, size_t max, void **out, size_t *len,
                              struct ho_error *err) HO_WUR;
/*
 * The same from an open descriptor (a pipe too) to its end; shown names it in
 * errors. *out is NULL when nothing was read.
 */
enum ho_code bundle_read_fd(int fd, const char *shown, size_t max, void **out, size_t *len,
                            struct ho_error *err) HO_WUR;

#endif

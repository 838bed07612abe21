/*
 * Unpacking a package bundle in a process of its own. The daemon runs
 * healops-agent-unpack (agent/unpack_main.c) for every bundle it installs, so
 * that libarchive and what it links (libxml2, ICU, libstdc++) never load in the
 * long-running agent: they were 2.3 MB of its 15 MB resident. The helper applies
 * bundle_extract's checks (common/bundle.h) and reports a refusal as the
 * error bundle_extract gave, code and field included.
 */
#ifndef HO_UNPACK_H
#define HO_UNPACK_H

#include <stddef.h>

#include "error.h"

#define UNPACK_HELPER     "healops-agent-unpack"
#define UNPACK_TIMEOUT_MS 120000 /* one bundle, at most BUNDLE_MAX_TOTAL bytes written */

/*
 * Uses path as the helper from now on (tests, and a build tree run from elsewhere);
 * NULL goes back to the default: UNPACK_HELPER in the folder of the running
 * program (/proc/self/exe), where make and make install put it.
 */
void unpack_set_helper(const char *path);

/*
 * Extracts the bundle data (len bytes) into dest, which must not exist yet, by
 * running the helper with the bundle on its standard input. Errors: the
 * helper's own (what bundle_extract refused, with its code and field), or
 * HO_EIO when the helper is missing, could not start, was killed or timed out.
 */
enum ho_code unpack_bundle(const void *data, size_t len, const char *dest,
                           struct ho_error *err) HO_WUR;

#endif

/*
 * A bound on JSON nesting checked before any parser sees a body: cJSON
 * recurses once per level (up to its own limit of 1000), and none of our
 * documents needs more than a handful, so deeper input is refused early.
 */
#ifndef HO_JSONLIMIT_H
#define HO_JSONLIMIT_H

#include <stddef.h>

#define JSON_MAX_DEPTH 32

/*
 * Deepest nesting of arrays and objects in the n bytes at text (brackets inside
 * strings, with their escapes, do not count), or -1 as soon as it passes max.
 * It does not validate the JSON; the parser does that after.
 */
int json_depth(const char *text, size_t n, int max);

#endif

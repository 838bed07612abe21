/*
 * What bundle.c (reading, extraction) and bundle_build.c share; not for
 * other modules.
 */
#ifndef HO_BUNDLE_IMPL_H
#define HO_BUNDLE_IMPL_H

#define BUNDLE_IO_CHUNK (64 * 1024) /* bytes read or written at a time */
#define BUNDLE_SHOWN    160         /* an entry name in a message, escaped */

/* 1 when every byte of s is printable ASCII (0x20 to 0x7e). */
int bundle_name_printable(const char *s);

/*
 * 1 when symlink target, resolved by name from the folder holding the link
 * (link is relative to the package root), stays inside the package: relative,
 * never above the root, printable, at most BUNDLE_MAX_PATH bytes.
 */
int bundle_link_inside(const char *link, const char *target);

#endif

/*
 * The VFS of the store's writer connection: SQLite's default, with the writes of
 * a transaction's WAL frames gathered into one system call (store_vfs.c).
 */
#ifndef HO_STORE_VFS_H
#define HO_STORE_VFS_H

/* The VFS's name for sqlite3_open_v2, registered on first call; NULL: use the default. */
const char *store_vfs_name(void);

#endif

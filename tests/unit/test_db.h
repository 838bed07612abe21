/*
 * Helpers the unit suites share for their SQLite files in temporary folders.
 */
#ifndef HO_TEST_DB_H
#define HO_TEST_DB_H

#include <stdio.h>
#include <unistd.h>

/* Removes the database at path with its -wal and -shm files. */
static inline void test_db_unlink(const char *path)
{
    char p[256];

    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

/* Removes the database at path, its companions and then its folder dir. */
static inline void test_db_remove(const char *path, const char *dir)
{
    test_db_unlink(path);
    rmdir(dir);
}

#endif

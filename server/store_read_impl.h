/*
 * For the store_sqlite*.c files that run their own read-only queries on a
 * struct store_read connection (store_read.h). Nothing else includes it.
 */
#ifndef HO_STORE_READ_IMPL_H
#define HO_STORE_READ_IMPL_H

#include <sqlite3.h>

#include "store_read.h"

/* The read-only connection; for the thread that owns r. */
sqlite3 *store_read_db(struct store_read *r);

#endif

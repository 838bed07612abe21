/*
 * Files built into the server binary by deploy/embed.sh: the schema
 * migrations (schema/NNN_name.sql) and the dashboard assets (web/).
 */
#ifndef HO_EMBEDDED_H
#define HO_EMBEDDED_H

#include <stddef.h>

struct schema_migration {
    int version;      /* NNN of the file name */
    const char *name; /* file name */
    const char *sql;  /* NUL-terminated file content */
};
extern const struct schema_migration schema_migrations[];
extern const size_t schema_migrations_n; /* sorted by version */

struct web_asset {
    const char *path;          /* "/index.html" */
    const unsigned char *data; /* content (NUL-terminated too) */
    size_t len;
};
extern const struct web_asset web_assets[];
extern const size_t web_assets_n;

#endif

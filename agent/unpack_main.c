/*
 * healops-agent-unpack DEST: extracts the package bundle given on standard
 * input into DEST (which must not exist yet) with every check of
 * bundle_extract (common/bundle.h). healops-agent runs it for each bundle it
 * installs (agent/unpack.h), so that libarchive loads here and never in the
 * long-running agent.
 *
 * Exit status 0: extracted. 1: refused or failed; standard error holds one line
 * "CODE<TAB>FIELD<TAB>MESSAGE" (the ho_code number, the field at fault, what went
 * wrong), which the agent turns back into the error. 2: wrong usage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "bundle.h"
#include "error.h"

#define UNPACK_CHUNK 65536
#define UNPACK_USAGE                                                                               \
    "usage: healops-agent-unpack DEST < BUNDLE\n"                                                  \
    "Extracts a HealOps package bundle (tar.gz) into the new folder DEST.\n"                       \
    "healops-agent runs it for each package it installs; exit 0 extracted, 1 refused\n"            \
    "(\"CODE<TAB>FIELD<TAB>MESSAGE\" on standard error), 2 wrong usage.\n"

/* Prints s on stderr with tabs and line breaks made spaces, so the line stays one line. */
static void unpack_put(const char *s)
{
    for (; *s != '\0'; s++)
        fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, stderr);
}

static int unpack_fail(enum ho_code rc, const struct ho_error *err)
{
    fprintf(stderr, "%d\t", (int)rc);
    unpack_put(err->field);
    fputc('\t', stderr);
    unpack_put(err->msg);
    fputc('\n', stderr);
    return 1;
}

int main(int argc, char **argv)
{
    static char chunk[UNPACK_CHUNK];
    struct ho_error err;
    enum ho_code rc = HO_OK;
    struct buf b;
    ssize_t r;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("%s", UNPACK_USAGE);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '\0' || argv[1][0] == '-') {
        fprintf(stderr, "%s", UNPACK_USAGE);
        return 2;
    }
    ho_error_clear(&err);
    buf_init(&b, BUNDLE_MAX_BYTES);
    while (rc == HO_OK && (r = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = ho_error_set(&err, HO_EIO, "bundle", "reading the bundle: %s", strerror(errno));
        else if (buf_append(&b, chunk, (size_t)r) != HO_OK)
            rc = ho_error_set(&err, HO_ETOOBIG, "bundle", "bundle larger than %d bytes",
                              BUNDLE_MAX_BYTES);
    }
    if (rc == HO_OK && b.len == 0)
        rc = ho_error_set(&err, HO_EINVAL, "bundle", "the bundle is empty");
    if (rc == HO_OK)
        rc = bundle_extract(b.data, b.len, argv[1], &err);
    buf_cleanup(&b);
    return rc == HO_OK ? 0 : unpack_fail(rc, &err);
}

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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "error.h"

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
    struct ho_error err;
    enum ho_code rc;
    void *data = NULL;
    size_t len = 0;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("%s", UNPACK_USAGE);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '\0' || argv[1][0] == '-') {
        fprintf(stderr, "%s", UNPACK_USAGE);
        return 2;
    }
    ho_error_clear(&err);
    rc = bundle_read_fd(STDIN_FILENO, "the bundle on standard input", BUNDLE_MAX_BYTES, &data, &len,
                        &err);
    if (rc == HO_OK && len == 0)
        rc = ho_error_set(&err, HO_EINVAL, "bundle", "the bundle is empty");
    if (rc == HO_OK)
        rc = bundle_extract(data, len, argv[1], &err);
    free(data);
    return rc == HO_OK ? 0 : unpack_fail(rc, &err);
}

/*
 * For the suites whose code installs packages: bundles are unpacked by
 * healops-agent-unpack (agent/unpack.h), and make builds the suites into
 * BUILD/tests and that helper into BUILD.
 */
#ifndef HO_TEST_UNPACK_H
#define HO_TEST_UNPACK_H

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "unpack.h"

/* Points unpack_bundle at the helper of this suite's build; ignores SIGPIPE as the agent does. */
static inline void test_unpack_use_build_helper(void)
{
    char exe[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    signal(SIGPIPE, SIG_IGN); /* the runner writes the bundle to the helper's stdin */
    if (n <= 0)
        return;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    snprintf(path, sizeof(path), "%s/../%s", exe, UNPACK_HELPER);
    unpack_set_helper(path);
}

#endif

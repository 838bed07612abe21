/* libFuzzer target: the package manifest (manifest_parse). */
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct manifest m;
    struct ho_error err;

    if (manifest_parse((const char *)data, size, &m, &err) == HO_OK)
        manifest_cleanup(&m);
    return 0;
}

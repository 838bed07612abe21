/* libFuzzer target: a POST /runs envelope (run_batch_parse). */
#include <stddef.h>
#include <stdint.h>

#include "run.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run_batch b;
    struct ho_error err;

    if (run_batch_parse((const char *)data, size, RUN_MAX_BATCH, &b, &err) == HO_OK)
        run_batch_cleanup(&b);
    return 0;
}

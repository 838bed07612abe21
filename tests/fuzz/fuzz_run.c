/* libFuzzer target: one run object (common/json_run.c run_parse), and re-encoding
 * whatever parses must parse again to the same JSON. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "run.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run r, again;
    struct ho_error err;
    struct buf a, b;

    if (run_parse((const char *)data, size, &r, &err) != HO_OK)
        return 0;
    buf_init(&a, 64u * 1024 * 1024);
    buf_init(&b, 64u * 1024 * 1024);
    if (run_to_json(&r, &a) != HO_OK)
        abort();
    if (run_parse(a.data, a.len, &again, &err) != HO_OK)
        abort();
    if (run_to_json(&again, &b) != HO_OK || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
    run_cleanup(&again);
    run_cleanup(&r);
    buf_cleanup(&a);
    buf_cleanup(&b);
    return 0;
}

/* libFuzzer target: tcollector lines printed by stats collectors (agent/tcollector.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcollector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tcollector_opts o = {.now_ms = 1764000000000LL,
                                .max_metrics = 100,
                                .max_tags = RUN_MAX_TAGS - 2,
                                .truncated = size & 1};
    struct tcollector_result r;
    size_t i, k;

    tcollector_parse((const char *)data, size, &o, &r);
    if (r.n > o.max_metrics || r.n + r.bad != r.lines || (r.bad > 0) != (r.first_bad_lineno > 0) ||
        strlen(r.first_bad) >= sizeof(r.first_bad))
        abort();
    for (i = 0; i < r.n; i++) {
        const struct metric *m = &r.metrics[i];

        if (m->ntags > o.max_tags || strlen(m->name) == 0 || strlen(m->name) > RUN_MAX_NAME ||
            m->ts_ms < TCOLLECTOR_MIN_MS || m->value != m->value)
            abort();
        for (k = 0; k < m->ntags; k++) {
            if (strlen(m->tags[k].key) == 0 || strlen(m->tags[k].value) == 0)
                abort();
        }
    }
    tcollector_result_cleanup(&r);
    return 0;
}

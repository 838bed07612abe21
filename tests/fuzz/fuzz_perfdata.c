/* libFuzzer target: Nagios plugin output and perfdata (agent/nagios.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "nagios.h"
#include "run.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct metric *m = NULL;
    size_t n = 0, i;
    char *text = NULL;

    (void)nagios_parse((const char *)data, size, &text, &m, &n);
    if (n > RUN_MAX_METRICS)
        abort();
    for (i = 0; i < n; i++)
        metric_cleanup(&m[i]);
    free(m);
    free(text);
    return 0;
}

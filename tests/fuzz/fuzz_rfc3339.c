/* libFuzzer target: RFC 3339 times (query parameters, run timestamps) and numbers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[64], out[CLOCK_RFC3339_LEN], host[64];
    int64_t ms, back;
    uint64_t u;
    double d;
    int port;

    if (size >= sizeof(s))
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (clock_parse_rfc3339(s, &ms) == HO_OK) {
        /* what parses formats and parses back to the same instant */
        clock_format_rfc3339(ms, out);
        if (clock_parse_rfc3339(out, &back) != HO_OK || back != ms)
            abort();
    }
    (void)parse_u64(s, 0, UINT64_MAX, &u);
    (void)parse_double(s, &d);
    (void)parse_host_port(s, host, sizeof(host), &port);
    return 0;
}

/*
 * Nagios plugin output (Nagios plugin API, "Plugin Output" and "Performance
 * Data" in the Nagios Core developer guidelines): the exit code maps to a test
 * status, the first stdout line is the summary, and performance data after a
 * '|' becomes metrics.
 */
#ifndef HO_NAGIOS_H
#define HO_NAGIOS_H

#include <stddef.h>

#include "run.h"

/* 0 ok, 1 warning, 2 critical, anything else (3, 127, -1) unknown. */
enum test_status nagios_status(int exit_code);

/*
 * Parses plugin stdout "TEXT | PERF\nLONGTEXT | PERF\nPERF..." (len bytes; a
 * NUL ends it early). Sets *text to a new string (caller frees): the summary and
 * the long text without perfdata, blanks trimmed, at most RUN_MAX_OUTPUT bytes.
 * Appends one metric per perfdata item as nagios_perfdata_parse does and returns
 * the number of items skipped as bad. Never fails.
 */
size_t nagios_parse(const char *out, size_t len, char **text, struct metric **metrics,
                    size_t *nmetrics);

/*
 * Parses perfdata items separated by blanks or newlines:
 * 'label'=value[UOM];[warn];[crit];[min];[max] (a quoted label may hold spaces, '='
 * and '' for a quote). Each becomes a metric appended to *metrics (reallocated,
 * caller owns; *nmetrics grows): name = the trimmed label, tag "uom" when a unit
 * follows the value. Thresholds are not kept. A value "U" is skipped silently;
 * a malformed item, a label empty or over RUN_MAX_NAME bytes, or an item past
 * RUN_MAX_METRICS metrics in all is skipped and counted; returns that count.
 */
size_t nagios_perfdata_parse(const char *s, size_t len, struct metric **metrics, size_t *nmetrics);

#endif

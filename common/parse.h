/*
 * Bounded number parsing: the whole string must be a number within [min, max].
 */
#ifndef HO_PARSE_H
#define HO_PARSE_H

#include <stdint.h>

#include "error.h"

/* Parses a decimal unsigned integer in [min, max]; HO_EINVAL otherwise. */
enum ho_code parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) HO_WUR;
/* Parses a decimal signed integer in [min, max]; HO_EINVAL otherwise. */
enum ho_code parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) HO_WUR;
/* Parses a finite floating-point number; HO_EINVAL for junk, NaN or infinity. */
enum ho_code parse_double(const char *s, double *out) HO_WUR;
/* Parses "HOST:PORT" ("[v6]:port" too) into host (size hn) and port 1..65535. */
enum ho_code parse_host_port(const char *s, char *host, unsigned long hn, int *port) HO_WUR;

#endif

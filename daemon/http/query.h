/* SPDX-License-Identifier: MIT */
/* Go's parsing rules for pprof query parameters, so that odd values behave exactly as they do
 * against a Go server (pprof-compat.md 1.3). Pure functions. */
#ifndef PROFD_QUERY_H
#define PROFD_QUERY_H

#include <stdint.h>

/* strconv.Atoi: optional sign, decimal digits, must fit an int. Returns 0 or -EINVAL/-ERANGE;
 * *ret is set only on success. */
int query_atoi(const char *s, int *ret);
/* strconv.ParseInt(s, 10, 64). Returns 0 or -EINVAL/-ERANGE. */
int query_parse_int64(const char *s, int64_t *ret);
/* The `debug` parameter: Go's Atoi (64-bit), any error (or absence) means 0; values past int
 * are clamped to INT_MIN or INT_MAX, which compare with 0, 1 and 2 as Go's values do. */
int query_debug(const char *s);
/* The CPU `seconds` parameter: ParseInt; absent, garbage or <= 0 means def. */
int64_t query_cpu_seconds(const char *s, int64_t def);
/* strconv.ParseUint(s, 0, 64) as /symbol uses it: 0x/0X hex, 0o/0 octal, 0b binary, decimal,
 * underscores only between digits or right after a base prefix ("1_000", "0x_1f"), as in Go
 * literals. Returns 0 or -EINVAL/-ERANGE. */
int query_parse_uint_base0(const char *s, size_t len, uint64_t *ret);

#endif

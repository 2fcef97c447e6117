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
/* The `debug` parameter: Atoi, any error (or absence) means 0. */
int query_debug(const char *s);
/* The CPU `seconds` parameter: ParseInt; absent, garbage or <= 0 means def. */
int64_t query_cpu_seconds(const char *s, int64_t def);
/* strconv.ParseUint(s, 0, 64) as /symbol uses it: 0x/0X hex, 0o/0 octal, 0b binary, decimal,
 * underscores only between digits with a base prefix. Returns 0 or -EINVAL/-ERANGE. */
int query_parse_uint_base0(const char *s, size_t len, uint64_t *ret);

#endif

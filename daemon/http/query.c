// SPDX-License-Identifier: MIT
/* Go-compatible number parsing for query parameters. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "http/query.h"

int query_parse_int64(const char *s, int64_t *ret)
{
	bool neg = false;
	uint64_t v = 0, limit;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '+' || *s == '-') {
		neg = *s == '-';
		s++;
	}
	if (!*s)
		return -EINVAL;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (limit - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

int query_atoi(const char *s, int *ret)
{
	int64_t v;
	int err = query_parse_int64(s, &v);

	if (err)
		return err;
	if (v < INT_MIN || v > INT_MAX)
		return -ERANGE;
	*ret = (int)v;
	return 0;
}

int query_debug(const char *s)
{
	int v;

	return query_atoi(s, &v) == 0 ? v : 0;
}

int64_t query_cpu_seconds(const char *s, int64_t def)
{
	int64_t v;

	if (query_parse_int64(s, &v) != 0 || v <= 0)
		return def;
	return v;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

int query_parse_uint_base0(const char *s, size_t len, uint64_t *ret)
{
	const char *end = s + len;
	unsigned base = 10;
	bool prefixed = false, last_underscore = true;
	uint64_t v = 0;
	int digits = 0;

	if (!s || len == 0)
		return -EINVAL;
	if (len >= 2 && s[0] == '0') {
		char c = (char)(s[1] | 0x20);

		if (c == 'x' || c == 'o' || c == 'b') {
			base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
			s += 2;
			prefixed = true;
			last_underscore = false; /* Go allows an underscore right after the prefix */
		} else {
			base = 8;
			s += 1;
			prefixed = true;
			digits = 1; /* the leading 0 itself */
			last_underscore = false;
		}
	}
	for (; s < end; s++) {
		unsigned d;

		if (*s == '_') {
			if (!prefixed || last_underscore)
				return -EINVAL;
			last_underscore = true;
			continue;
		}
		d = (unsigned)digit_value(*s);
		if (d >= base)
			return -EINVAL;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
		digits++;
		last_underscore = false;
	}
	if (digits == 0 || (len > 0 && s[-1] == '_'))
		return -EINVAL;
	*ret = v;
	return 0;
}

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
	int64_t v;

	/* Go's int has 64 bits: debug=99999999999 is text there, so a value past C's int is
	 * clamped, which keeps every comparison with a small number Go's */
	if (query_parse_int64(s, &v) != 0)
		return 0;
	return v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
}

int64_t query_cpu_seconds(const char *s, int64_t def)
{
	int64_t v;

	if (query_parse_int64(s, &v) != 0 || v <= 0)
		return def;
	return v;
}

/* strconv.underscoreOK: underscores only between digits, or between a base prefix and a digit
 * ("1_000", "0x_1f", "0_17"; not "_1", "1__0", "1_"). */
static bool underscore_ok(const char *s, size_t n)
{
	char saw = '^'; /* '^' start, '0' digit or prefix, '_' underscore, '!' anything else */
	size_t i = 0;
	bool hex = false;

	if (n >= 2 && s[0] == '0' && ((s[1] | 0x20) == 'b' || (s[1] | 0x20) == 'o' || (s[1] | 0x20) == 'x')) {
		i = 2;
		saw = '0';
		hex = (s[1] | 0x20) == 'x';
	}
	for (; i < n; i++) {
		char l = (char)(s[i] | 0x20);

		if ((s[i] >= '0' && s[i] <= '9') || (hex && l >= 'a' && l <= 'f')) {
			saw = '0';
		} else if (s[i] == '_') {
			if (saw != '0')
				return false;
			saw = '_';
		} else {
			if (saw == '_')
				return false;
			saw = '!';
		}
	}
	return saw != '_';
}

/* As Go's ParseUint with base 0: the prefix needs a digit after it ("0x" alone is octal 0
 * followed by a bad digit), underscores are skipped and checked as a whole at the end. */
int query_parse_uint_base0(const char *s, size_t len, uint64_t *ret)
{
	const char *p = s, *end = s + len;
	unsigned base = 10;
	bool underscores = false;
	uint64_t v = 0;

	if (!s || len == 0)
		return -EINVAL;
	if (s[0] == '0') {
		char c = len >= 3 ? (char)(s[1] | 0x20) : '\0';

		if (c == 'x' || c == 'o' || c == 'b') {
			base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
			p += 2;
		} else {
			base = 8;
			p += 1;
		}
	}
	for (; p < end; p++) {
		char l = (char)(*p | 0x20);
		unsigned d;

		if (*p == '_') {
			underscores = true;
			continue;
		}
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (l >= 'a' && l <= 'z')
			d = (unsigned)(l - 'a' + 10);
		else
			return -EINVAL;
		if (d >= base)
			return -EINVAL;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	if (underscores && !underscore_ok(s, len))
		return -EINVAL;
	*ret = v;
	return 0;
}

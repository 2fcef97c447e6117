// SPDX-License-Identifier: MIT
/* Fuzzes the query parameter parsers (http/query.c) against a transliteration of Go's strconv
 * (ParseUint, ParseInt, Atoi on a 64-bit Go, underscoreOK), the parsers they promise to match:
 * for every input, success and value must be Go's. Error kinds (-EINVAL or -ERANGE) are not
 * compared: Go checks underscores after the digits, so "0x1__<overflow>" is a range error there
 * and a syntax error here, and every caller treats both alike. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>

#include "fuzz_util.h"
#include "http/query.h"

static unsigned char lower(unsigned char c)
{
	return c | ('x' - 'X');
}

/* strconv.underscoreOK: underscores only between digits, or between a base prefix and a digit. */
static bool go_underscore_ok(const char *s, size_t n)
{
	char saw = '^';
	size_t i = 0;
	bool hex = false;

	if (n >= 1 && (s[0] == '-' || s[0] == '+')) {
		s++;
		n--;
	}
	if (n >= 2 && s[0] == '0' && (lower(s[1]) == 'b' || lower(s[1]) == 'o' || lower(s[1]) == 'x')) {
		i = 2;
		saw = '0';
		hex = lower(s[1]) == 'x';
	}
	for (; i < n; i++) {
		if ((s[i] >= '0' && s[i] <= '9') || (hex && lower(s[i]) >= 'a' && lower(s[i]) <= 'f')) {
			saw = '0';
			continue;
		}
		if (s[i] == '_') {
			if (saw != '0')
				return false;
			saw = '_';
			continue;
		}
		if (saw == '_')
			return false;
		saw = '!';
	}
	return saw != '_';
}

/* strconv.ParseUint(s, base, 64) for base 0 or 10: true and *ret on success. */
static bool go_parse_uint(const char *s, size_t n, unsigned base, uint64_t *ret)
{
	const char *s0 = s;
	size_t n0 = n;
	bool base0 = base == 0, underscores = false;
	uint64_t v = 0, cutoff;

	if (n == 0)
		return false;
	if (base0) {
		base = 10;
		if (s[0] == '0') {
			if (n >= 3 && lower(s[1]) == 'b')
				base = 2, s += 2, n -= 2;
			else if (n >= 3 && lower(s[1]) == 'o')
				base = 8, s += 2, n -= 2;
			else if (n >= 3 && lower(s[1]) == 'x')
				base = 16, s += 2, n -= 2;
			else
				base = 8, s += 1, n -= 1;
		}
	}
	cutoff = UINT64_MAX / base + 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		unsigned d;
		uint64_t v1;

		if (c == '_' && base0) {
			underscores = true;
			continue;
		} else if (c >= '0' && c <= '9') {
			d = c - '0';
		} else if (lower(c) >= 'a' && lower(c) <= 'z') {
			d = lower(c) - 'a' + 10;
		} else {
			return false;
		}
		if (d >= base || v >= cutoff)
			return false;
		v *= base;
		v1 = v + d;
		if (v1 < v)
			return false;
		v = v1;
	}
	if (underscores && !go_underscore_ok(s0, n0))
		return false;
	*ret = v;
	return true;
}

/* strconv.ParseInt(s, 10, 64), which is also Atoi where int has 64 bits. */
static bool go_parse_int(const char *s, int64_t *ret)
{
	size_t n = strlen(s);
	bool neg = false;
	uint64_t u;

	if (n == 0)
		return false;
	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		s++;
		n--;
	}
	if (!go_parse_uint(s, n, 10, &u))
		return false;
	if ((!neg && u >= (uint64_t)1 << 63) || (neg && u > (uint64_t)1 << 63))
		return false;
	*ret = neg ? (int64_t)(0 - u) : (int64_t)u;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size); /* what a query value is: a C string */
	uint64_t u = 0, gu = 0;
	int64_t v = 0, gv = 0;
	int iv = 0;
	bool ok, gok;

	/* /symbol words: the raw bytes, NULs and all */
	ok = query_parse_uint_base0((const char *)data, size, &u) == 0;
	gok = go_parse_uint((const char *)data, size, 0, &gu);
	CHECK(ok == gok, "query_parse_uint_base0 disagrees with Go's ParseUint(s, 0, 64) on success");
	CHECK(!ok || u == gu, "query_parse_uint_base0 value differs from Go's");

	ok = query_parse_int64(s, &v) == 0;
	gok = go_parse_int(s, &gv);
	CHECK(ok == gok, "query_parse_int64 disagrees with Go's ParseInt(s, 10, 64) on success");
	CHECK(!ok || v == gv, "query_parse_int64 value differs from Go's");

	/* debug: Go compares Atoi's value (0 on error) with 0, 1 and 2 */
	iv = query_debug(s);
	if (!gok)
		gv = 0;
	CHECK((iv == 0) == (gv == 0) && (iv > 0) == (gv > 0) && (iv >= 2) == (gv >= 2) && (iv == 1) == (gv == 1),
	      "query_debug does not compare with 0, 1 and 2 as Go's Atoi value does");
	CHECK(gv < INT_MIN || gv > INT_MAX || iv == gv, "query_debug value differs from Go's Atoi");

	/* seconds: ParseInt, an error or a value <= 0 means the default */
	v = query_cpu_seconds(s, 30);
	CHECK(v == (gok && gv > 0 ? gv : 30), "query_cpu_seconds differs from Go");

	ok = query_atoi(s, &iv) == 0;
	CHECK(ok == (gok && gv >= INT_MIN && gv <= INT_MAX), "query_atoi: not Atoi within int");
	CHECK(!ok || iv == gv, "query_atoi value");
	free(s);
	return 0;
}

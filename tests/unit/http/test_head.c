// SPDX-License-Identifier: MIT
/* Request-head checks: what passes, what waits for more, and the status of what is refused,
 * including every way a head can be cut short (each prefix of a good head must wait). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/head.h"

static const struct http_head_limits lim = {
	.max_request_line = 64,
	.max_head = 256,
	.max_fields = 4,
	.max_body = 1000,
};

static int check(const char *s, struct http_head *h, char *why, size_t whylen)
{
	return http_head_check(s, strlen(s), &lim, h, why, whylen);
}

static void test_table(void **state)
{
	static const struct {
		const char *in;
		int want;          /* 1 whole, 0 more, else status */
		int64_t length;    /* with 1 */
		const char *why;   /* with a status: a word of the reason */
	} cases[] = {
		{ "GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\n\r\n", 1, -1, NULL },
		{ "GET / HTTP/1.0\r\n\r\n", 1, -1, NULL },
		{ "GET / HTTP/1.1\n\n", 1, -1, NULL },                 /* bare LF, as libmicrohttpd allows */
		{ "\r\n\r\nGET / HTTP/1.1\r\n\r\n", 1, -1, NULL },     /* leading blank lines are skipped */
		{ "POST /debug/pprof/symbol HTTP/1.1\r\nContent-Length: 12\r\n\r\n", 1, 12, NULL },
		{ "POST / HTTP/1.1\r\ncontent-length:  0 \r\n\r\n", 1, 0, NULL },
		{ "POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n", 1, 1000, NULL },
		{ "GET /?a=%20&b=\xff HTTP/1.1\r\n\r\n", 400, 0, "printable" },
		{ "GET /a\x80 HTTP/1.1\r\n\r\n", 400, 0, "printable" },
		{ "GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", 1, -1, NULL }, /* obs-text in a value */
		{ "GET / HTTP/1.2\r\n\r\n", 1, -1, NULL },             /* 1.x: what libmicrohttpd takes */
		{ "", 0, 0, NULL },
		{ "G", 0, 0, NULL },
		{ "GET /debug/pp", 0, 0, NULL },
		{ "GET / HTTP/1.1\r", 0, 0, NULL },
		{ "GET / HTTP/1.1\r\nHost: x\r\n", 0, 0, NULL },
		{ "GET / HTTP/1.1\r\nHost: x\r\n\r", 0, 0, NULL },
		/* malformed request lines: refused on the bytes that show it */
		{ "GARBAGE\r\n\r\n", 400, 0, "METHOD /path" },
		{ "\x16\x03\x01\x02\x00\x01", 400, 0, "METHOD /path" },  /* a TLS hello */
		{ "GET\r\n", 400, 0, "METHOD /path" },
		{ "GET  / HTTP/1.1\r\n\r\n", 400, 0, "path" },
		{ "GET http://x/ HTTP/1.1\r\n\r\n", 400, 0, "path" },
		{ "GET * HTTP/1.1\r\n\r\n", 400, 0, "path" },
		{ "GET / HTTP/1.1 \r\n\r\n", 400, 0, "METHOD /path" },
		{ "GET / FTP/1.1\r\n\r\n", 400, 0, "METHOD /path" },
		{ "GET / HTTP/11\r\n\r\n", 400, 0, "METHOD /path" },
		{ "GET /\x01 HTTP/1.1\r\n\r\n", 400, 0, "printable" },
		{ "GET / HTTP/1.1\rX\n\r\n", 400, 0, "METHOD /path" },
		{ "G(T / HTTP/1.1\r\n\r\n", 400, 0, "METHOD /path" },
		{ "GET / HTTP/2.0\r\n\r\n", 505, 0, "HTTP/1.1" },
		{ "GET / HTTP/0.9\r\n\r\n", 505, 0, "HTTP/1.1" },
		/* header fields */
		{ "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, 0, "Name: value" },
		{ "GET / HTTP/1.1\r\n: empty\r\n\r\n", 400, 0, "Name: value" },
		{ "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, 0, "token" },
		{ "GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n", 400, 0, "obs-fold" },
		{ "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400, 0, "control" },
		{ "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400, 0, "control" },
		{ "GET / HTTP/1.1\r\nA: \0\r\n\r\n", 0, 0, NULL }, /* strlen stops at the NUL: a prefix */
		{ "POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413, 0, "1000 bytes" },
		{ "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 413, 0, "1000 bytes" },
		{ "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, 0, "Content-Length" },
		{ "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400, 0, "Content-Length" },
		{ "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, 0, "Content-Length" },
		{ "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400, 0, "more than one" },
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411, 0, "Content-Length" },
		{ "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", 431, 0, "4 header fields" },
	};
	char why[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_head h;
		int r;

		why[0] = '\0';
		r = check(cases[i].in, &h, why, sizeof(why));
		if (r != cases[i].want)
			fail_msg("case %zu (%s): got %d, want %d (%s)", i, cases[i].in, r, cases[i].want, why);
		if (r == 1) {
			assert_int_equal(h.len, strlen(cases[i].in));
			assert_int_equal(h.content_length, cases[i].length);
		}
		if (r > 1 && !strstr(why, cases[i].why))
			fail_msg("case %zu: reason '%s' lacks '%s'", i, why, cases[i].why);
	}
}

/* Every prefix of a good head waits for more; none is refused. */
static void test_prefixes(void **state)
{
	static const char *good[] = {
		"POST /debug/pprof/symbol?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\n",
		"\r\nGET / HTTP/1.0\nA:b\n\n",
	};
	char why[256];

	for (size_t g = 0; g < sizeof(good) / sizeof(good[0]); g++) {
		size_t n = strlen(good[g]);
		struct http_head h;

		for (size_t k = 0; k < n; k++)
			if (http_head_check(good[g], k, &lim, &h, why, sizeof(why)) != 0)
				fail_msg("prefix %zu of head %zu not 0: %s", k, g, why);
		assert_int_equal(http_head_check(good[g], n, &lim, &h, why, sizeof(why)), 1);
		assert_int_equal(h.len, n);
	}
}

/* The body that follows a head is not part of it. */
static void test_body_follows(void **state)
{
	const char *s = "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET";
	struct http_head h;
	char why[64];

	assert_int_equal(http_head_check(s, strlen(s), &lim, &h, why, sizeof(why)), 1);
	assert_int_equal(h.len, strlen(s) - 6);
}

/* Sizes: a long request line is 414 as soon as it passes the limit, even unfinished; a long head
 * is 431, finished or not. */
static void test_sizes(void **state)
{
	char buf[1024], why[256];
	struct http_head h;
	int n;

	n = snprintf(buf, sizeof(buf), "GET /%0*d", 70, 0); /* no line end yet */
	assert_int_equal(http_head_check(buf, (size_t)n, &lim, &h, why, sizeof(why)), 414);
	assert_non_null(strstr(why, "64 bytes"));
	n = snprintf(buf, sizeof(buf), "GET /%0*d HTTP/1.1\r\n\r\n", 55, 0); /* 69 bytes: over */
	assert_int_equal(http_head_check(buf, (size_t)n, &lim, &h, why, sizeof(why)), 414);
	n = snprintf(buf, sizeof(buf), "GET /%0*d HTTP/1.1\r\n\r\n", 50, 0); /* 64 bytes: at */
	assert_int_equal(http_head_check(buf, (size_t)n, &lim, &h, why, sizeof(why)), 1);

	n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nA: %0*d", 300, 0); /* unfinished, over */
	assert_int_equal(http_head_check(buf, (size_t)n, &lim, &h, why, sizeof(why)), 431);
	assert_non_null(strstr(why, "256 bytes"));
	n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nA: %0*d\r\n\r\n", 240, 0); /* finished, over */
	assert_int_equal(http_head_check(buf, (size_t)n, &lim, &h, why, sizeof(why)), 431);
	n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nA: %0*d\r\n\r\n", 233, 0); /* 256: at */
	assert_int_equal(n, 256);
	assert_int_equal(http_head_check(buf, (size_t)n, &lim, &h, why, sizeof(why)), 1);
	memset(buf, '\n', 300); /* only blank lines */
	assert_int_equal(http_head_check(buf, 300, &lim, &h, why, sizeof(why)), 431);
}

static void test_status_text(void **state)
{
	assert_string_equal(http_status_text(408), "Request Timeout");
	assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
	assert_string_equal(http_status_text(299), "Error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_body_follows),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_status_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/* Request-head checks (head.h): one pass over what has arrived, from its first byte, so that a
 * partial head can be judged as early as it is wrong (a TLS hello or garbage is refused on its
 * first bytes, a too-long line as soon as it passes the limit). RFC 9112 section 3 and 5. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/head.h"

/* Content-Length digits beyond this are refused before they could overflow */
#define MAX_LENGTH_DIGITS 18
/* a method name is a token; none that profd or any client uses is longer */
#define MAX_METHOD 32

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int fail(int status, char *why, size_t whylen, const char *msg)
{
	snprintf(why, whylen, "%s", msg);
	return status;
}

/* for the limits: "... longer than %zu bytes" */
static int fail_limit(int status, char *why, size_t whylen, const char *fmt, size_t limit)
{
	snprintf(why, whylen, fmt, limit);
	return status;
}

#define BAD_LINE "malformed request line: expected METHOD /path HTTP/1.1"
#define TOO_LONG_BODY "request body larger than %zu bytes (profd's limit)"
#define TOO_LONG_HEAD "request head larger than %zu bytes (profd's limit)"

/* The request line s[0..n) without its line end; complete says whether the line end has come.
 * Returns 1 (complete and acceptable), 0 (acceptable so far) or a status. */
static int check_request_line(const char *s, size_t n, bool complete, const struct http_head_limits *lim,
			      char *why, size_t whylen)
{
	enum { METHOD, TARGET, VERSION } st = METHOD;
	static const char version[] = "HTTP/d.d";
	size_t target = 0, ver = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (st) {
		case METHOD:
			if (c == ' ' && i > 0) {
				st = TARGET;
				target = i + 1;
			} else if (!is_tchar(c) || i >= MAX_METHOD) {
				return fail(400, why, whylen, BAD_LINE);
			}
			break;
		case TARGET:
			if (i == target && c != '/')
				return fail(400, why, whylen,
					    "malformed request line: the target must be a path that starts with /");
			if (c == ' ' && i > target) {
				st = VERSION;
				ver = i + 1;
			} else if (c <= 0x20 || c >= 0x7f) {
				return fail(400, why, whylen,
					    "malformed request line: the target may hold only printable ASCII "
					    "(percent-encode the rest)");
			}
			break;
		case VERSION:
			if (i - ver >= sizeof(version) - 1 ||
			    (version[i - ver] == 'd' ? !(c >= '0' && c <= '9') : c != (unsigned char)version[i - ver]))
				return fail(400, why, whylen, BAD_LINE);
			break;
		}
	}
	if (n > lim->max_request_line)
		return fail_limit(414, why, whylen, "request line longer than %zu bytes (profd's limit)",
				  lim->max_request_line);
	if (!complete)
		return 0;
	if (st != VERSION || n - ver != sizeof(version) - 1)
		return fail(400, why, whylen, BAD_LINE);
	if (s[ver + 5] != '1')
		return fail(505, why, whylen, "profd speaks HTTP/1.1 (and 1.0) only");
	return 1;
}

/* "  value \t" -> the digits of a Content-Length, or a status. */
static int parse_length(const char *v, size_t n, const struct http_head_limits *lim, int64_t *ret, char *why,
			size_t whylen)
{
	size_t digits = 0;
	int64_t x = 0;

	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	for (; digits < n; digits++) {
		if (v[digits] < '0' || v[digits] > '9')
			return fail(400, why, whylen, "malformed Content-Length: expected a number of bytes");
		if (digits >= MAX_LENGTH_DIGITS)
			return fail_limit(413, why, whylen, TOO_LONG_BODY, lim->max_body);
		x = x * 10 + (v[digits] - '0');
	}
	if (digits == 0)
		return fail(400, why, whylen, "malformed Content-Length: expected a number of bytes");
	if ((uint64_t)x > lim->max_body)
		return fail_limit(413, why, whylen, TOO_LONG_BODY, lim->max_body);
	*ret = x;
	return 0;
}

static bool name_is(const char *name, size_t n, const char *want)
{
	return n == strlen(want) && strncasecmp(name, want, n) == 0;
}

int http_head_check(const char *buf, size_t len, const struct http_head_limits *lim, struct http_head *ret,
		    char *why, size_t whylen)
{
	const char *end;
	size_t pos = 0, n;
	unsigned fields = 0;
	bool have_length = false;
	int r;

	ret->len = 0;
	ret->content_length = -1;
	/* blank lines before the request line are skipped (RFC 9112 2.2) but count against the head */
	while (pos < len && (buf[pos] == '\n' || (buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n')))
		pos += buf[pos] == '\r' ? 2 : 1;
	if (pos > lim->max_head)
		return fail_limit(431, why, whylen, TOO_LONG_HEAD, lim->max_head);
	end = memchr(buf + pos, '\n', len - pos);
	n = end ? (size_t)(end - (buf + pos)) : len - pos;
	if (n > 0 && buf[pos + n - 1] == '\r')
		n--; /* the line's CR, or one whose LF is yet to come */
	r = check_request_line(buf + pos, n, end != NULL, lim, why, whylen);
	if (r != 1)
		return r;
	pos = (size_t)(end - buf) + 1;

	for (;;) {
		const char *line = buf + pos, *colon;

		end = memchr(line, '\n', len - pos);
		if (!end) {
			if (len > lim->max_head)
				return fail_limit(431, why, whylen, TOO_LONG_HEAD, lim->max_head);
			return 0;
		}
		n = (size_t)(end - line);
		pos += n + 1;
		if (pos > lim->max_head)
			return fail_limit(431, why, whylen, TOO_LONG_HEAD, lim->max_head);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t')
			return fail(400, why, whylen,
				    "malformed header field: a line that continues the one before (obs-fold) is not "
				    "accepted");
		colon = memchr(line, ':', n);
		if (!colon || colon == line)
			return fail(400, why, whylen, "malformed header field: expected Name: value");
		for (const char *c = line; c < colon; c++)
			if (!is_tchar((unsigned char)*c))
				return fail(400, why, whylen,
					    "malformed header field: the name must be a token, with no space before "
					    "the colon");
		for (const char *c = colon + 1; c < line + n; c++) {
			unsigned char u = (unsigned char)*c;

			if (u != '\t' && (u < 0x20 || u == 0x7f))
				return fail(400, why, whylen,
					    "malformed header field: control characters in a value");
		}
		if (++fields > lim->max_fields)
			return fail_limit(431, why, whylen, "more than %zu header fields (profd's limit)",
					  (size_t)lim->max_fields);
		if (name_is(line, (size_t)(colon - line), "Content-Length")) {
			if (have_length)
				return fail(400, why, whylen, "more than one Content-Length");
			have_length = true;
			r = parse_length(colon + 1, (size_t)(line + n - colon - 1), lim, &ret->content_length, why,
					 whylen);
			if (r)
				return r;
		} else if (name_is(line, (size_t)(colon - line), "Transfer-Encoding")) {
			return fail(411, why, whylen,
				    "a request body needs a Content-Length; Transfer-Encoding (chunked uploads) is not "
				    "accepted");
		}
	}
	ret->len = pos;
	return 1;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Error";
}

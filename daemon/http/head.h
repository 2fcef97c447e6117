/* SPDX-License-Identifier: MIT */
/* The request head (request line and header fields) as profd accepts it: checked whole, before
 * libmicrohttpd sees a byte, so that every request it refuses gets profd's own plain-text error
 * and libmicrohttpd never has to refuse one (its own error pages are HTML without Content-Type).
 * Stricter than libmicrohttpd on purpose: whatever passes here, it parses without complaint.
 * Pure functions, no I/O; thread-safe. */
#ifndef PROFD_HTTP_HEAD_H
#define PROFD_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>

struct http_head_limits {
	size_t max_request_line; /* longer: 414 */
	size_t max_head;         /* request line and header fields together; longer: 431 */
	unsigned max_fields;     /* more header fields: 431 */
	size_t max_body;         /* a larger Content-Length: 413 */
};

struct http_head {
	size_t len;             /* bytes of the head, up to and including its blank line */
	int64_t content_length; /* -1 when the request has no body */
};

/* Checks what has arrived of a request, buf[0..len). Returns 1 when a whole acceptable head is
 * there (*ret filled), 0 when more bytes are needed and nothing so far is wrong, or an HTTP
 * status: 400 (malformed), 411 (a body without Content-Length: Transfer-Encoding), 413, 414,
 * 431, 505 (not HTTP/1.x); then why holds one sentence for the response body. Leading blank
 * lines are skipped, as RFC 9112 allows; lines may end in CRLF or LF. */
int http_head_check(const char *buf, size_t len, const struct http_head_limits *lim, struct http_head *ret,
		    char *why, size_t whylen);

/* The reason phrase of an HTTP status profd sends ("Request Timeout"); "Error" if unknown. */
const char *http_status_text(int status);

#endif

/* SPDX-License-Identifier: MIT */
/* The HTTP layer: the listening socket, the limits on what clients may do, one thread per
 * request, and a single request handler supplied by the caller. Knows nothing of profiling.
 * Requests come in through the intake (intake.h: heads checked, cap, deadline), then
 * libmicrohttpd reads the body and writes the response. Every error profd sends, including the
 * intake's, is plain text with Content-Type and nosniff. One request per connection.
 * Limits: the time to send a whole request (head and body, counted from the accept), the
 * connection cap, the request line, head and body sizes, and the bytes of request bodies held
 * at once across all requests; no write timeout beyond libmicrohttpd's idle one (a long profile
 * is legitimate). Handlers may block (a 30 s CPU profile); they should poll
 * http_request__cancelled() and end early when it says so. */
#ifndef PROFD_HTTP_H
#define PROFD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

struct http_request {
	const char *method;   /* "GET", "HEAD", "POST", ... */
	const char *path;     /* decoded path without the query */
	const char *raw_query;/* the query string as sent, without '?'; "" if none */
	const char *body;     /* request body (POST), NUL-terminated; "" if none */
	size_t body_len;
	void *priv;           /* private to http.c */
};

/* The first value of a query (or urlencoded form) argument, decoded; NULL if absent. */
const char *http_request__arg(const struct http_request *req, const char *key);
/* true once the client has closed its connection or the server is shutting down. */
bool http_request__cancelled(const struct http_request *req);
/* true once the server is shutting down (then http_request__cancelled() is true as well). */
bool http_request__stopping(const struct http_request *req);

#define HTTP_MAX_HEADERS 4

struct http_response {
	int status;                /* default 200 */
	const char *content_type;  /* static string; default "text/plain; charset=utf-8" */
	bool unknown_length;       /* no body was made (HEAD): send no Content-Length */
	int nheaders;
	struct {
		const char *name;  /* static string */
		char value[256];
	} headers[HTTP_MAX_HEADERS];
	struct buf body;
};

/* Adds a header; silently ignores more than HTTP_MAX_HEADERS (a programming error). */
void http_response__header(struct http_response *resp, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Go's serveError shape: text/plain, X-Go-Pprof: 1, body = message + "\n". Replaces any body. */
void http_response__error(struct http_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

typedef void (*http_handler_fn)(void *ctx, const struct http_request *req, struct http_response *resp);

/* Request heads: what nginx allows by default (large_client_header_buffers 4 8k); Go's 1 MiB
 * is far more than any pprof client sends. */
#define HTTP_MAX_REQUEST_LINE (8u << 10)  /* longer: 414 */
#define HTTP_MAX_HEAD (32u << 10)         /* request line and header fields; longer: 431 */
#define HTTP_MAX_FIELDS 100               /* more header fields: 431 */

struct http_limits {
	unsigned max_connections;   /* open connections, counting those still sending a request */
	unsigned request_timeout_s; /* the whole request (head and body) within this of connecting,
				     * at any pace; also the idle limit while sending a response */
	size_t max_body;            /* largest accepted request body (413) */
	size_t max_bodies_total;    /* request bodies held at once, all requests together (503) */
};

struct http_server;

/* Binds host:port (numeric IPv4/IPv6 or "localhost") synchronously. port 0 picks a free port.
 * Returns a listening socket or -errno; *ret_errmsg names what failed for the user. */
int http_listen(const char *host, unsigned port, char *errmsg, size_t errmsg_len);
/* The address a listening socket is bound to, as "HOST:PORT" ("[::1]:PORT" for IPv6). */
int http_bound_address(int fd, char *out, size_t len);

/* Starts serving on listen_fd (taken over; closed by http_server__stop). Returns NULL and sets
 * errno on failure (then listen_fd is still the caller's). */
struct http_server *http_server__start(int listen_fd, const struct http_limits *limits, http_handler_fn fn,
				       void *ctx);
/* Stops accepting new connections; in-flight requests see http_request__cancelled() == true
 * and the call waits up to grace_ms for them to finish before closing everything. NULL-safe. */
void http_server__stop(struct http_server *srv, unsigned grace_ms);

#endif

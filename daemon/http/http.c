// SPDX-License-Identifier: MIT
/* HTTP layer: a listening socket bound synchronously by profd, the intake in front of it
 * (intake.c: connection cap, request deadline, heads checked), and libmicrohttpd behind it, one
 * thread per connection (handlers may block for a whole CPU profile), reading bodies within a
 * budget shared by all requests and writing responses. Knows nothing of what it serves.
 * Threading: the intake thread, MHD's polling thread, one thread per connection; the handler
 * runs on the connection's thread. `stopping`, `active` and `bodies` are shared atomics. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/log.h"
#include "http/http.h"
#include "http/intake.h"

/* libmicrohttpd's memory per connection: the head (at most HTTP_MAX_HEAD, checked by the
 * intake) and the response headers must fit, so that it never answers "too big" itself */
#define MHD_CONNECTION_MEMORY (4 * HTTP_MAX_HEAD)

struct http_server {
	struct MHD_Daemon *mhd;
	struct intake *intake;
	http_handler_fn fn;
	void *ctx;
	struct http_limits limits;
	volatile int stopping;
	int active;    /* requests in the handler or sending their response, atomic */
	size_t bodies; /* bytes reserved for request bodies, atomic */
};

/* Per-request state, created when MHD logs the URI (before headers are parsed). */
struct request_ctx {
	struct http_server *srv;
	struct MHD_Connection *conn;
	int fd;
	char *raw_uri;
	char *body;          /* NUL-terminated; body_len of reserved bytes have arrived */
	size_t body_len;
	size_t reserved;     /* counted in srv->bodies */
	bool started;
	bool handled;        /* counted in srv->active */
};

int http_listen(const char *host, unsigned port, char *errmsg, size_t errmsg_len)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, one = 1, err;
	const char *h = host;

	memset(&ss, 0, sizeof(ss));
	if (strcmp(h, "localhost") == 0)
		h = "127.0.0.1";
	if (inet_pton(AF_INET, h, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, h, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sslen = sizeof(*sin6);
	} else {
		snprintf(errmsg, errmsg_len, "'%s' is not a numeric IPv4 or IPv6 address or 'localhost'", host);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		snprintf(errmsg, errmsg_len, "cannot create a socket: %s", strerror(-err));
		return err;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) {
		err = -errno;
		if (err == -EADDRINUSE)
			snprintf(errmsg, errmsg_len,
				 "cannot listen on %s port %u: the port is already in use (choose another --addr port, "
				 "or port 0 for a free one)", host, port);
		else if (err == -EADDRNOTAVAIL)
			snprintf(errmsg, errmsg_len, "cannot listen on %s: that address is not on this host", host);
		else
			snprintf(errmsg, errmsg_len, "cannot listen on %s port %u: %s", host, port, strerror(-err));
		close(fd);
		return err;
	}
	if (listen(fd, 128) != 0) {
		err = -errno;
		snprintf(errmsg, errmsg_len, "cannot listen on %s port %u: %s", host, port, strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

int http_bound_address(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char ip[INET6_ADDRSTRLEN];

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0)
		return -errno;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(out, len, "%s:%u", ip, ntohs(sin->sin_port));
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%u", ip, ntohs(sin6->sin6_port));
	}
	return 0;
}

const char *http_request__arg(const struct http_request *req, const char *key)
{
	struct request_ctx *rc = req->priv;

	return MHD_lookup_connection_value(rc->conn, MHD_GET_ARGUMENT_KIND, key);
}

bool http_request__stopping(const struct http_request *req)
{
	struct request_ctx *rc = req->priv;

	return __atomic_load_n(&rc->srv->stopping, __ATOMIC_ACQUIRE);
}

bool http_request__cancelled(const struct http_request *req)
{
	struct request_ctx *rc = req->priv;
	const union MHD_ConnectionInfo *ci;
	struct pollfd pfd;
	char c;

	if (__atomic_load_n(&rc->srv->stopping, __ATOMIC_ACQUIRE))
		return true;
	ci = MHD_get_connection_info(rc->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return false;
	pfd.fd = ci->connect_fd;
	pfd.events = POLLIN | POLLRDHUP;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) <= 0)
		return false;
	if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))
		return true;
	/* readable: either a pipelined request (still there) or EOF (gone) */
	return recv(pfd.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

void http_response__header(struct http_response *resp, const char *name, const char *fmt, ...)
{
	va_list ap;

	for (int i = 0; i < resp->nheaders; i++) {
		if (strcasecmp(resp->headers[i].name, name) == 0) { /* replace */
			va_start(ap, fmt);
			vsnprintf(resp->headers[i].value, sizeof(resp->headers[i].value), fmt, ap);
			va_end(ap);
			return;
		}
	}
	if (resp->nheaders >= HTTP_MAX_HEADERS)
		return;
	resp->headers[resp->nheaders].name = name;
	va_start(ap, fmt);
	vsnprintf(resp->headers[resp->nheaders].value, sizeof(resp->headers[0].value), fmt, ap);
	va_end(ap);
	resp->nheaders++;
}

void http_response__error(struct http_response *resp, int status, const char *fmt, ...)
{
	va_list ap;
	int out = 0;

	resp->status = status;
	resp->content_type = "text/plain; charset=utf-8";
	for (int i = 0; i < resp->nheaders; i++) /* serveError deletes Content-Disposition */
		if (strcasecmp(resp->headers[i].name, "Content-Disposition") != 0)
			resp->headers[out++] = resp->headers[i];
	resp->nheaders = out;
	http_response__header(resp, "X-Go-Pprof", "1");
	buf_reset(&resp->body);
	va_start(ap, fmt);
	buf_vprintf(&resp->body, fmt, ap);
	va_end(ap);
	buf_putc(&resp->body, '\n');
}

static int connection_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	return ci ? ci->connect_fd : -1;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct request_ctx *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return NULL;
	rc->srv = cls;
	rc->conn = conn;
	rc->fd = connection_fd(conn);
	rc->raw_uri = strdup(uri ? uri : "");
	return rc;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request_ctx *rc = *con_cls;

	if (!rc)
		return;
	if (rc->handled)
		__atomic_sub_fetch(&rc->srv->active, 1, __ATOMIC_ACQ_REL);
	if (rc->reserved)
		__atomic_sub_fetch(&rc->srv->bodies, rc->reserved, __ATOMIC_ACQ_REL);
	free(rc->body);
	free(rc->raw_uri);
	free(rc);
	*con_cls = NULL;
}

/* The connection is about to be closed: the intake counts it no more. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
		intake__closed(srv->intake, connection_fd(conn));
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	return MHD_CONTENT_READER_END_OF_STREAM;
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct http_response *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len;
	char *data = buf_steal(&resp->body, &len);

	if (resp->unknown_length) {
		free(data);
		data = NULL;
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, no_body, NULL, NULL);
	} else {
		r = MHD_create_response_from_buffer(len, data ? data : (void *)"",
						    data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	}
	if (!r) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", resp->content_type ? resp->content_type
								      : "text/plain; charset=utf-8");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	/* one request per connection: every request goes through the intake's checks and deadline */
	MHD_add_response_header(r, "Connection", "close");
	for (int i = 0; i < resp->nheaders; i++)
		MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
	ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The head has been parsed: reserve the body's bytes from the budget all requests share. A
 * Content-Length is there for any body (the intake refuses Transfer-Encoding) and is at most
 * max_body (the intake answers 413 beyond). Returns 0 or the status to answer with. */
static int reserve_body(struct request_ctx *rc, struct http_response *resp)
{
	struct http_server *srv = rc->srv;
	const char *cl = MHD_lookup_connection_value(rc->conn, MHD_HEADER_KIND, "Content-Length");
	size_t n = cl ? strtoull(cl, NULL, 10) : 0, total;

	if (n == 0)
		return 0;
	if (n > srv->limits.max_body) { /* the intake let it through: cannot happen */
		http_response__error(resp, 413, "request body larger than %zu bytes (profd's limit)",
				     srv->limits.max_body);
		return 413;
	}
	total = __atomic_add_fetch(&srv->bodies, n, __ATOMIC_ACQ_REL);
	if (total > srv->limits.max_bodies_total) {
		__atomic_sub_fetch(&srv->bodies, n, __ATOMIC_ACQ_REL);
		http_response__error(resp, 503,
				     "too many request bodies at once: profd holds at most %zu MiB of them, all "
				     "requests together; retry later",
				     srv->limits.max_bodies_total >> 20);
		return 503;
	}
	rc->reserved = n;
	rc->body = malloc(n + 1);
	if (!rc->body) {
		http_response__error(resp, 503, "out of memory for a %zu-byte request body; retry later", n);
		return 503;
	}
	rc->body[0] = '\0';
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct http_server *srv = cls;
	struct request_ctx *rc = *con_cls;
	struct http_response resp;
	struct http_request req;
	const char *q;
	enum MHD_Result ret;

	if (!rc)
		return MHD_NO; /* out of memory at on_uri: drop the connection */
	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	if (!rc->started) {
		rc->started = true;
		if (reserve_body(rc, &resp) != 0) {
			ret = queue(conn, &resp); /* early: MHD reads no body and closes */
			buf_free(&resp.body);
			return ret;
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		if (n > rc->reserved - rc->body_len) /* more than its Content-Length: MHD never does this */
			return MHD_NO;
		memcpy(rc->body + rc->body_len, upload_data, n);
		rc->body_len += n;
		rc->body[rc->body_len] = '\0';
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* the whole request is here: no deadline from now on (a profile may take minutes) */
	intake__request_received(srv->intake, rc->fd);
	q = strchr(rc->raw_uri, '?');
	req.method = method;
	req.path = url;
	req.raw_query = q ? q + 1 : "";
	req.body = rc->body ? rc->body : "";
	req.body_len = rc->body_len;
	req.priv = rc;
	rc->handled = true;
	__atomic_add_fetch(&srv->active, 1, __ATOMIC_ACQ_REL);
	srv->fn(srv->ctx, &req, &resp);
	ret = queue(conn, &resp);
	buf_free(&resp.body);
	return ret;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	if (log_get_level() < LOG_DEBUG)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("http: %s", msg);
}

static int handoff(void *ctx, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct http_server *srv = ctx;

	return MHD_add_connection(srv->mhd, fd, addr, addrlen) == MHD_YES ? 0 : -EIO;
}

struct http_server *http_server__start(int listen_fd, const struct http_limits *limits, http_handler_fn fn,
				       void *ctx)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	struct intake_limits il = {
		.max_connections = limits->max_connections,
		.request_timeout_ms = limits->request_timeout_s * 1000,
		.head = {
			.max_request_line = HTTP_MAX_REQUEST_LINE,
			.max_head = HTTP_MAX_HEAD,
			.max_fields = HTTP_MAX_FIELDS,
			.max_body = limits->max_body,
		},
	};
	int err;

	if (!srv) {
		errno = ENOMEM;
		return NULL;
	}
	srv->fn = fn;
	srv->ctx = ctx;
	srv->limits = *limits;
	/* MHD's own connection limit is never the one that bites: the intake holds the cap, and
	 * connections it shut down may still be closing in MHD */
	srv->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
					    MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG,
				    0, NULL, NULL, on_request, srv,
				    MHD_OPTION_CONNECTION_LIMIT, limits->max_connections * 2 + 16,
				    MHD_OPTION_CONNECTION_TIMEOUT, limits->request_timeout_s,
				    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MHD_CONNECTION_MEMORY,
				    MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
				    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				    MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
				    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
				    MHD_OPTION_END);
	if (!srv->mhd) {
		free(srv);
		errno = EIO;
		return NULL;
	}
	srv->intake = intake__start(listen_fd, &il, handoff, srv);
	if (!srv->intake) {
		err = errno;
		MHD_stop_daemon(srv->mhd);
		free(srv);
		errno = err;
		return NULL;
	}
	return srv;
}

void http_server__stop(struct http_server *srv, unsigned grace_ms)
{
	struct timespec start, now;

	if (!srv)
		return;
	__atomic_store_n(&srv->stopping, 1, __ATOMIC_RELEASE);
	intake__stop(srv->intake); /* no new connections; those still sending a head are closed */
	/* in-flight requests see http_request__cancelled(); let them answer and send it */
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (__atomic_load_n(&srv->active, __ATOMIC_ACQUIRE) > 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= grace_ms)
			break;
		usleep(10000);
	}
	MHD_stop_daemon(srv->mhd);
	intake__free(srv->intake);
	free(srv);
}

/* SPDX-License-Identifier: MIT */
/* The front door: accepts connections, waits for each request head without a thread of its own
 * (one epoll thread for all), checks it (head.h) and only then hands the connection over (to
 * libmicrohttpd, in http.c). It enforces the limits that must hold whatever the pace of the
 * client:
 *  - the connection cap: at most max_connections open, counting those handed over;
 *  - the request time: a request (head and body) must have arrived within request_timeout_ms
 *    of the connection's accept, however slowly it trickles in; past that a connection still
 *    in its head gets 408 and is closed, one handed over is shut down;
 *  - at the cap, a new connection takes the place of the one that has been sending its request
 *    the longest (if for INTAKE_EVICT_MIN_AGE_MS or more), so slow clients cannot keep a quick
 *    one out; when none can give way, new ones wait in the listen backlog;
 *  - a head refused by head.h gets a plain-text error, then the connection is drained and closed.
 * One request per connection: the server must close each connection after its response.
 * Threading: one intake thread; intake__request_received() and intake__closed() may be called
 * from any thread. */
#ifndef PROFD_HTTP_INTAKE_H
#define PROFD_HTTP_INTAKE_H

#include <sys/socket.h>

#include "http/head.h"

/* a connection younger than this never gives way to a new one */
#define INTAKE_EVICT_MIN_AGE_MS 250

struct intake_limits {
	unsigned max_connections;
	unsigned request_timeout_ms;
	struct http_head_limits head;
};

/* Called on the intake thread with a connection whose head has arrived and passed. Returns 0
 * when the callee took the socket (then it calls intake__closed() right before closing it), or
 * -errno when it did not and closed it. */
typedef int (*intake_handoff_fn)(void *ctx, int fd, const struct sockaddr *addr, socklen_t addrlen);

struct intake;

/* Starts the intake thread on listen_fd (taken over, closed by intake__stop). Returns NULL and
 * sets errno on failure (then listen_fd is still the caller's). */
struct intake *intake__start(int listen_fd, const struct intake_limits *lim, intake_handoff_fn fn, void *ctx);
/* The request on fd has fully arrived: from now on it has no deadline and never gives way. */
void intake__request_received(struct intake *in, int fd);
/* The connection handed over on fd is about to be closed. */
void intake__closed(struct intake *in, int fd);
/* Stops accepting and ends the thread; closes the listening socket and the connections not
 * handed over. Those handed over stay open: their owner closes them, and may still call
 * intake__closed() until intake__free(). NULL-safe. */
void intake__stop(struct intake *in);
/* Stops (if not yet) and frees: call once the owner has closed every connection. NULL-safe. */
void intake__free(struct intake *in);

#endif

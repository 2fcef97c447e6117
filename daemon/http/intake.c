// SPDX-License-Identifier: MIT
/* The front door (intake.h): one epoll thread accepts, waits for request heads and enforces the
 * connection cap and the request deadline. A head is looked at with MSG_PEEK, so that the bytes
 * stay in the socket for libmicrohttpd to read; looks at a head that trickles in are spaced out
 * (doubling from LOOK_MIN_NS to LOOK_MAX_NS), so a client sending a byte at a time costs a few
 * dozen looks, not one per byte. Records are found by fd (by_fd) and listed densely (all).
 * Threading: the intake thread does everything but intake__request_received() and
 * intake__closed(), which the connection threads call; `mu` guards the records. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "http/intake.h"

#define LOOK_MIN_NS 5000000ll     /* 5 ms */
#define LOOK_MAX_NS 200000000ll   /* 200 ms */
/* after an error response: read and drop what the client still sends, so that closing with
 * unread bytes does not reset the connection before the client has read the response */
#define LINGER_NS 2000000000ll
#define LINGER_MAX_BYTES (1u << 20)
/* a connection shut down on its deadline whose owner never reported it closed is checked again
 * this often: if its fd no longer names the same socket, the record is dropped */
#define CUT_RECHECK_NS 5000000000ll
#define MAX_FDS (1u << 20)

enum phase {
	HEAD,      /* ours: waiting for the request head */
	LINGER,    /* ours: error sent, draining before close */
	HANDED,    /* the owner's: head passed, body may still be arriving (deadline runs) */
	RECEIVED,  /* the owner's: the request arrived whole (no deadline) */
	CUT,       /* the owner's: shut down on its deadline or to make room; closing */
};

struct conn {
	enum phase phase;
	int fd;
	ino_t ino;          /* fd numbers are reused; the socket's inode tells them apart */
	size_t slot;        /* index in all[] */
	int64_t accepted;   /* CLOCK_MONOTONIC ns */
	int64_t deadline;   /* HEAD, HANDED: the request's; LINGER: close; CUT: recheck */
	int64_t next_look;  /* HEAD: not before */
	int64_t look_gap;   /* HEAD: ns between looks */
	bool dirty;         /* HEAD, LINGER: bytes (or EOF) arrived since the last look */
	bool peer_closed;
	size_t drained;
	socklen_t addrlen;
	struct sockaddr_storage addr;
};

struct intake {
	int lfd, epfd, evfd;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	struct intake_limits lim;
	intake_handoff_fn handoff;
	void *ctx;
	struct conn **by_fd;
	size_t nfd;
	struct conn **all;
	size_t nall, cap_all;
	unsigned open;      /* records not CUT: what the connection cap counts */
	bool listening;     /* the listen socket is in the epoll set */
	bool stop;
	char *scratch;      /* max_head + 1 bytes, for looks and drains */
	size_t scratch_len;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void conn_free(struct intake *in, struct conn *c)
{
	size_t last = in->nall - 1;

	in->all[c->slot] = in->all[last];
	in->all[c->slot]->slot = c->slot;
	in->nall--;
	in->by_fd[c->fd] = NULL;
	if (c->phase != CUT)
		in->open--;
	free(c);
}

/* Closes a connection that is still ours. */
static void conn_close(struct intake *in, struct conn *c)
{
	epoll_ctl(in->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	conn_free(in, c);
}

/* Sends profd's plain-text error shape (the same as http_response__error's) and stops writing. */
static void send_error(int fd, int status, const char *why)
{
	char msg[768];
	int body = (int)strlen(why) + 1, n;

	n = snprintf(msg, sizeof(msg),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n"
		     "X-Go-Pprof: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s\n",
		     status, http_status_text(status), body, why);
	if (n > 0 && (size_t)n < sizeof(msg))
		(void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
}

/* Answers a head that will not be served, then drains the connection for a while. */
static void refuse(struct conn *c, int status, const char *why, int64_t now)
{
	log_debug("http: refusing a request with %d: %s", status, why);
	send_error(c->fd, status, why);
	c->phase = LINGER;
	c->deadline = now + LINGER_NS;
	c->dirty = true;
}

static void drain(struct intake *in, struct conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, in->scratch, in->scratch_len, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->dirty = false;
			return;
		}
		if (n <= 0 || (c->drained += (size_t)n) > LINGER_MAX_BYTES) {
			conn_close(in, c);
			return;
		}
	}
}

/* Shuts down a connection the owner holds, if fd still names its socket; the owner then sees
 * EOF and closes it. Returns false when the record was stale (and is gone). */
static bool cut(struct intake *in, struct conn *c, int64_t now)
{
	struct stat st;

	if (fstat(c->fd, &st) != 0 || st.st_ino != c->ino) {
		conn_free(in, c); /* closed without intake__closed(): its owner failed early */
		return false;
	}
	shutdown(c->fd, SHUT_RDWR);
	if (c->phase != CUT)
		in->open--;
	c->phase = CUT;
	c->deadline = now + CUT_RECHECK_NS;
	return true;
}

struct handoff {
	int fd;
	struct conn *c;
};

/* Looks at what has arrived of a head. Returns true when it passed: the caller hands it over. */
static bool look(struct intake *in, struct conn *c, int64_t now)
{
	struct http_head head;
	char why[256];
	ssize_t n;
	int r;

	n = recv(c->fd, in->scratch, in->scratch_len, MSG_PEEK | MSG_DONTWAIT);
	c->dirty = false;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return false;
	if (n <= 0) { /* gone before its request was whole */
		conn_close(in, c);
		return false;
	}
	r = http_head_check(in->scratch, (size_t)n, &in->lim.head, &head, why, sizeof(why));
	if (r == 1)
		return true;
	if (r > 1) {
		refuse(c, r, why, now);
		return false;
	}
	if (c->peer_closed) {
		conn_close(in, c);
		return false;
	}
	c->look_gap = c->look_gap ? c->look_gap * 2 : LOOK_MIN_NS;
	if (c->look_gap > LOOK_MAX_NS)
		c->look_gap = LOOK_MAX_NS;
	c->next_look = now + c->look_gap;
	return false;
}

static void time_out(struct intake *in, struct conn *c, int64_t now)
{
	char why[200];

	snprintf(why, sizeof(why),
		 "the request did not arrive in full within %u s of connecting (profd --request-timeout)",
		 (in->lim.request_timeout_ms + 999) / 1000);
	refuse(c, 408, why, now);
}

/* The connection that gives way at the cap: one draining after an error first, else the one
 * whose request has been arriving the longest, if it is old enough. NULL if none may. */
static struct conn *victim(struct intake *in, int64_t now)
{
	struct conn *best = NULL;

	for (size_t i = 0; i < in->nall; i++) {
		struct conn *c = in->all[i];

		if (c->phase == LINGER)
			return c;
		if ((c->phase == HEAD || c->phase == HANDED) &&
		    now - c->accepted >= INTAKE_EVICT_MIN_AGE_MS * 1000000ll &&
		    (!best || c->accepted < best->accepted))
			best = c;
	}
	return best;
}

static void evict(struct intake *in, struct conn *c, int64_t now)
{
	char why[200];

	if (c->phase == HANDED) {
		cut(in, c, now);
		return;
	}
	if (c->phase == HEAD) {
		snprintf(why, sizeof(why),
			 "profd is at its connection limit (%u, --max-connections) and this connection had been "
			 "sending its request the longest",
			 in->lim.max_connections);
		send_error(c->fd, 503, why);
	}
	conn_close(in, c);
}

static void listen_arm(struct intake *in, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.fd = in->lfd };

	if (in->listening == on)
		return;
	epoll_ctl(in->epfd, EPOLL_CTL_MOD, in->lfd, &ev);
	in->listening = on;
}

static void accept_some(struct intake *in, int64_t now)
{
	for (;;) {
		struct sockaddr_storage addr;
		socklen_t addrlen = sizeof(addr);
		struct epoll_event ev;
		struct conn *c;
		struct stat st;
		int fd;

		if (in->open >= in->lim.max_connections) {
			struct conn *v = victim(in, now);

			if (!v) {
				listen_arm(in, false); /* wait in the backlog until one closes or ages */
				return;
			}
			/* evict only when someone is waiting: accept first, then make room */
		}
		if (in->nall >= in->cap_all) {
			listen_arm(in, false);
			return;
		}
		fd = accept4(in->lfd, (struct sockaddr *)&addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_debug("http: accept failed: %s", strerror(errno));
			listen_arm(in, errno == EAGAIN || errno == EWOULDBLOCK);
			return;
		}
		listen_arm(in, true);
		if ((size_t)fd >= in->nfd || fstat(fd, &st) != 0 || !(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		if (in->by_fd[fd]) /* fd was closed without intake__closed(): that record is stale */
			conn_free(in, in->by_fd[fd]);
		if (in->open >= in->lim.max_connections) {
			struct conn *v = victim(in, now);

			if (v)
				evict(in, v, now);
		}
		c->phase = HEAD;
		c->fd = fd;
		c->ino = st.st_ino;
		c->accepted = now;
		c->deadline = now + (int64_t)in->lim.request_timeout_ms * 1000000;
		c->next_look = now;
		c->dirty = true;
		c->addrlen = addrlen;
		memcpy(&c->addr, &addr, addrlen);
		c->slot = in->nall;
		in->all[in->nall++] = c;
		in->by_fd[fd] = c;
		in->open++;
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		ev.data.fd = fd;
		if (epoll_ctl(in->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
			conn_close(in, c);
	}
}

/* One pass over every record: looks, drains, deadlines. Heads that passed go to out[]. */
static size_t visit(struct intake *in, int64_t now, struct handoff *out)
{
	size_t nout = 0;

	for (size_t i = 0; i < in->nall;) {
		struct conn *c = in->all[i];
		size_t before = in->nall;

		switch (c->phase) {
		case HEAD:
			if (c->dirty && now >= c->next_look && look(in, c, now)) {
				epoll_ctl(in->epfd, EPOLL_CTL_DEL, c->fd, NULL);
				c->phase = HANDED;
				out[nout].fd = c->fd;
				out[nout++].c = c;
			} else if (in->nall == before && c->phase == HEAD && now >= c->deadline) {
				time_out(in, c, now);
			}
			break;
		case LINGER:
			if (now >= c->deadline)
				conn_close(in, c);
			else if (c->dirty)
				drain(in, c);
			break;
		case HANDED:
			if (now >= c->deadline)
				cut(in, c, now);
			break;
		case CUT: /* still not reported closed: drop it if its fd names another file now */
			if (now >= c->deadline)
				cut(in, c, now);
			break;
		case RECEIVED:
			break;
		}
		if (in->nall == before) /* else all[i] now holds the last record: visit it too */
			i++;
	}
	return nout;
}

/* Milliseconds until something needs doing, at most 1 s. */
static int next_wake_ms(struct intake *in, int64_t now)
{
	int64_t next = now + 1000000000ll;

	if (!in->listening)
		next = now + 100000000ll; /* paused at the cap: see whether a connection aged enough */
	for (size_t i = 0; i < in->nall; i++) {
		const struct conn *c = in->all[i];

		if (c->phase == RECEIVED)
			continue;
		if (c->deadline < next)
			next = c->deadline;
		if (c->phase == HEAD && c->dirty && c->next_look < next)
			next = c->next_look;
		if (c->phase == LINGER && c->dirty)
			next = now;
	}
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

static void *intake_main(void *arg)
{
	struct intake *in = arg;
	struct epoll_event ev[64];
	struct handoff *ho = calloc(in->cap_all, sizeof(*ho));
	int timeout = 0;

	if (!ho) {
		log_error("http: out of memory; not accepting connections");
		return NULL;
	}
	for (;;) {
		int n = epoll_wait(in->epfd, ev, 64, timeout);
		int64_t now;
		size_t nho;

		pthread_mutex_lock(&in->mu);
		if (in->stop) {
			pthread_mutex_unlock(&in->mu);
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			struct conn *c;

			if (fd == in->lfd || fd == in->evfd) {
				uint64_t x;

				if (fd == in->evfd)
					(void)!read(in->evfd, &x, sizeof(x));
				continue;
			}
			c = (size_t)fd < in->nfd ? in->by_fd[fd] : NULL;
			if (!c || (c->phase != HEAD && c->phase != LINGER))
				continue;
			c->dirty = true;
			if (ev[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				c->peer_closed = true;
		}
		now = now_ns();
		nho = visit(in, now, ho);
		pthread_mutex_unlock(&in->mu);

		/* outside the lock: the owner may call intake__closed() before handoff returns */
		for (size_t i = 0; i < nho; i++) {
			struct conn *c = ho[i].c;

			if (in->handoff(in->ctx, ho[i].fd, (struct sockaddr *)&c->addr, c->addrlen) == 0)
				continue;
			pthread_mutex_lock(&in->mu);
			if (in->by_fd[ho[i].fd] == c) /* refused: the owner closed it */
				conn_free(in, c);
			pthread_mutex_unlock(&in->mu);
		}

		pthread_mutex_lock(&in->mu);
		now = now_ns();
		if (!in->stop)
			accept_some(in, now);
		timeout = next_wake_ms(in, now);
		pthread_mutex_unlock(&in->mu);
	}
	free(ho);
	return NULL;
}

static void intake_free(struct intake *in)
{
	if (in->epfd >= 0)
		close(in->epfd);
	if (in->evfd >= 0)
		close(in->evfd);
	for (size_t i = 0; i < in->nall; i++)
		free(in->all[i]);
	free(in->all);
	free(in->by_fd);
	free(in->scratch);
	pthread_mutex_destroy(&in->mu);
	free(in);
}

struct intake *intake__start(int listen_fd, const struct intake_limits *lim, intake_handoff_fn fn, void *ctx)
{
	struct intake *in = calloc(1, sizeof(*in));
	struct epoll_event ev = { .events = EPOLLIN };
	struct rlimit rl;
	int err;

	if (!in) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&in->mu, NULL);
	in->lfd = listen_fd;
	in->lim = *lim;
	in->handoff = fn;
	in->ctx = ctx;
	in->epfd = epoll_create1(EPOLL_CLOEXEC);
	in->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	in->nfd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : MAX_FDS;
	if (in->nfd > MAX_FDS)
		in->nfd = MAX_FDS;
	/* room for CUT records on their way out, beyond the cap */
	in->cap_all = (size_t)lim->max_connections * 2 + 16;
	in->by_fd = calloc(in->nfd, sizeof(*in->by_fd));
	in->all = calloc(in->cap_all, sizeof(*in->all));
	in->scratch_len = lim->head.max_head + 1;
	in->scratch = malloc(in->scratch_len);
	if (in->epfd < 0 || in->evfd < 0 || !in->by_fd || !in->all || !in->scratch) {
		err = in->epfd < 0 || in->evfd < 0 ? errno : ENOMEM;
		goto fail;
	}
	fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
	ev.data.fd = listen_fd;
	if (epoll_ctl(in->epfd, EPOLL_CTL_ADD, listen_fd, &ev) != 0) {
		err = errno;
		goto fail;
	}
	in->listening = true;
	ev.data.fd = in->evfd;
	if (epoll_ctl(in->epfd, EPOLL_CTL_ADD, in->evfd, &ev) != 0) {
		err = errno;
		goto fail;
	}
	err = pthread_create(&in->thread, NULL, intake_main, in);
	if (err)
		goto fail;
	in->thread_started = true;
	return in;
fail:
	intake_free(in);
	errno = err;
	return NULL;
}

void intake__request_received(struct intake *in, int fd)
{
	struct conn *c;

	if (!in || fd < 0)
		return;
	pthread_mutex_lock(&in->mu);
	c = (size_t)fd < in->nfd ? in->by_fd[fd] : NULL;
	if (c && c->phase == HANDED)
		c->phase = RECEIVED;
	pthread_mutex_unlock(&in->mu);
}

void intake__closed(struct intake *in, int fd)
{
	uint64_t one = 1;
	struct conn *c;

	if (!in || fd < 0)
		return;
	pthread_mutex_lock(&in->mu);
	c = (size_t)fd < in->nfd ? in->by_fd[fd] : NULL;
	if (c && (c->phase == HANDED || c->phase == RECEIVED || c->phase == CUT))
		conn_free(in, c);
	pthread_mutex_unlock(&in->mu);
	(void)!write(in->evfd, &one, sizeof(one)); /* a place freed up: accept again */
}

void intake__stop(struct intake *in)
{
	uint64_t one = 1;

	if (!in)
		return;
	pthread_mutex_lock(&in->mu);
	in->stop = true;
	pthread_mutex_unlock(&in->mu);
	(void)!write(in->evfd, &one, sizeof(one));
	if (in->thread_started)
		pthread_join(in->thread, NULL);
	in->thread_started = false;
	pthread_mutex_lock(&in->mu);
	if (in->lfd >= 0) {
		epoll_ctl(in->epfd, EPOLL_CTL_DEL, in->lfd, NULL);
		close(in->lfd);
		in->lfd = -1;
	}
	for (size_t i = 0; i < in->nall;) {
		struct conn *c = in->all[i];

		if (c->phase == HEAD || c->phase == LINGER)
			conn_close(in, c); /* the last record moved to i */
		else
			i++;
	}
	pthread_mutex_unlock(&in->mu);
}

void intake__free(struct intake *in)
{
	if (!in)
		return;
	intake__stop(in);
	intake_free(in);
}

// SPDX-License-Identifier: MIT
/* A slowloris for profd's tests: opens N connections to 127.0.0.1:PORT and sends each request one
 * byte every INTERVAL_MS, never finishing (mode head: the header block; mode body: the body of a
 * POST whose head is whole). Reports when the server closes each one and what it answered:
 *   connected N              once every connection is up (stdout, flushed)
 *   closed C of N; longest open X.X s; answers: 408 x3 503 x1 none x2
 * Ends when every connection is closed or after LIMIT_S seconds. Exit 0 unless it cannot start.
 * Usage: slow_client PORT N INTERVAL_MS LIMIT_S [head|body] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct slow {
	int fd;
	double opened, closed; /* seconds since start; closed < 0 while open */
	int status;            /* the status of what the server sent, 0 if nothing */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void mark_closed(struct slow *s, double t)
{
	close(s->fd);
	s->fd = -1;
	s->closed = t;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 5 ? argv[5] : "head";
	int port, n, interval_ms, limit_s, nopen = 0, counts[600] = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char head[256];
	struct slow *s;
	double t0, longest = 0, next_byte;

	if (argc < 5) {
		fprintf(stderr, "usage: slow_client PORT N INTERVAL_MS LIMIT_S [head|body]\n");
		return 2;
	}
	port = atoi(argv[1]);
	n = atoi(argv[2]);
	interval_ms = atoi(argv[3]);
	limit_s = atoi(argv[4]);
	signal(SIGPIPE, SIG_IGN);
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (strcmp(mode, "body") == 0)
		snprintf(head, sizeof(head),
			 "POST /debug/pprof/symbol HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n");
	else
		snprintf(head, sizeof(head), "GET /debug/pprof/cmdline HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
	s = calloc((size_t)n, sizeof(*s));
	if (!s)
		return 1;
	t0 = now_s();
	/* connect all at once, without blocking: a full listen backlog delays some */
	for (int i = 0; i < n; i++) {
		s[i].closed = -1;
		s[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (s[i].fd < 0 ||
		    (connect(s[i].fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 && errno != EINPROGRESS)) {
			perror("slow_client: connect");
			return 1;
		}
	}
	for (int left = n; left > 0 && now_s() - t0 < limit_s;) {
		left = 0;
		for (int i = 0; i < n; i++) {
			struct pollfd p = { .fd = s[i].fd, .events = POLLOUT };
			int err = 0;
			socklen_t len = sizeof(err);

			if (s[i].opened > 0 || s[i].fd < 0)
				continue;
			if (poll(&p, 1, 0) == 1) {
				getsockopt(s[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err) {
					fprintf(stderr, "slow_client: connection %d: %s\n", i, strerror(err));
					mark_closed(&s[i], now_s() - t0);
					continue;
				}
				s[i].opened = now_s() - t0;
				if (send(s[i].fd, head, strlen(head), MSG_NOSIGNAL) < 0)
					mark_closed(&s[i], now_s() - t0);
				nopen++;
			} else {
				left++;
			}
		}
		if (left)
			usleep(10000);
	}
	printf("connected %d\n", nopen);
	fflush(stdout);

	next_byte = now_s() - t0 + interval_ms / 1000.0;
	for (;;) {
		struct pollfd *p = calloc((size_t)n, sizeof(*p));
		double t = now_s() - t0;
		int open = 0, wait_ms;

		for (int i = 0; i < n; i++) {
			p[i].fd = s[i].fd;
			p[i].events = POLLIN;
			open += s[i].fd >= 0;
		}
		if (!open || t >= limit_s) {
			free(p);
			break;
		}
		wait_ms = (int)((next_byte - t) * 1000);
		poll(p, (nfds_t)n, wait_ms > 0 ? wait_ms : 0);
		t = now_s() - t0;
		for (int i = 0; i < n; i++) {
			char buf[4096];
			ssize_t r;

			if (s[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = recv(s[i].fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			if (r > 0) {
				buf[r] = '\0';
				if (!s[i].status && strncmp(buf, "HTTP/1.1 ", 9) == 0)
					s[i].status = atoi(buf + 9);
				continue;
			}
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			mark_closed(&s[i], t);
		}
		if (t >= next_byte) {
			for (int i = 0; i < n; i++)
				if (s[i].fd >= 0 && send(s[i].fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
				    errno != EAGAIN)
					mark_closed(&s[i], t);
			next_byte += interval_ms / 1000.0;
		}
		free(p);
	}

	int closed = 0, none = 0;

	for (int i = 0; i < n; i++) {
		if (s[i].opened <= 0)
			continue; /* never connected: said by "connected N" */
		if (s[i].closed >= 0) {
			closed++;
			if (s[i].closed - s[i].opened > longest)
				longest = s[i].closed - s[i].opened;
		} else if (now_s() - t0 - s[i].opened > longest) {
			longest = now_s() - t0 - s[i].opened;
		}
		if (s[i].status > 0 && s[i].status < 600)
			counts[s[i].status]++;
		else
			none++;
	}
	printf("closed %d of %d; longest open %.1f s; answers:", closed, n, longest);
	for (int c = 100; c < 600; c++)
		if (counts[c])
			printf(" %d x%d", c, counts[c]);
	printf(" none x%d\n", none);
	return 0;
}

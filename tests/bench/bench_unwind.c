// SPDX-License-Identifier: MIT
/* Unwinding cost per stack: parks a thread of tests/targets/unwind_chain in a known chain,
 * captures it once (ptrace_capture), then times unwinder__new, the first (cold) unwind and warm
 * unwinds of the same copy, next to eu-stack on the same thread. Prints numbers, asserts none.
 *   bench_unwind TARGET_EXE [iterations] */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sources/ptrace_capture.h"
#include "stacks/unwind.h"

#define STACK_BYTES (16 * 1024)
#define COLD_RUNS 7
#define TOOL_RUNS 5
#define WARM_BATCHES 21
#define REFRESH_RUNS 200

struct target {
	pid_t pid, tid;
	int in_fd, out_fd;
};

struct capture {
	struct thread_capture tc;
	struct unwind_regs regs;
	struct unwind_stack st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

/* Starts exe MODE ARG and waits for "ready TID ..." and for the thread to sit in read(2). */
static int target_start(struct target *t, const char *exe, const char *mode, const char *arg)
{
	char line[128], path[128], buf[64];
	size_t n = 0;
	int in[2], out[2];

	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -errno;
	t->pid = fork();
	if (t->pid < 0)
		return -errno;
	if (t->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl(exe, exe, mode, arg, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	t->in_fd = in[1];
	t->out_fd = out[0];
	while (n + 1 < sizeof(line)) {
		struct pollfd p = { .fd = t->out_fd, .events = POLLIN };

		if (poll(&p, 1, 10000) <= 0 || read(t->out_fd, &line[n], 1) != 1)
			return -ETIMEDOUT;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	if (sscanf(line, "ready %d", &t->tid) != 1)
		return -EPROTO;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)t->pid, (int)t->tid);
	for (int i = 0; i < 5000; i++) {
		int fd = open(path, O_RDONLY);
		ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		if (fd >= 0)
			close(fd);
		if (len > 2 && buf[0] == '0' && buf[1] == ' ')
			return 0;
		usleep(2000);
	}
	return -ETIMEDOUT;
}

static void target_stop(struct target *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	}
	close(t->in_fd);
	close(t->out_fd);
}

static int capture_thread(pid_t pid, pid_t tid, struct capture *c)
{
	int err = ptrace_capture_thread(pid, tid, STACK_BYTES, &c->tc, NULL);

	if (err)
		return err;
	c->regs = c->tc.regs;
	c->st = (struct unwind_stack){ .start = c->tc.stack_start, .data = c->tc.stack, .len = c->tc.stack_len };
	return 0;
}

/* Wall time of one `eu-stack -1 -p PID` (attach, report, unwind, symbolize, print). */
static uint64_t time_eu_stack(pid_t pid)
{
	char spid[32];
	uint64_t t0 = now_ns();
	pid_t child;
	int status;

	snprintf(spid, sizeof(spid), "%d", (int)pid);
	child = fork();
	if (child == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 1);
		dup2(devnull, 2);
		execlp("eu-stack", "eu-stack", "-1", "-p", spid, (char *)NULL);
		_exit(127);
	}
	if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return 0;
	return now_ns() - t0;
}

static int bench_one(const char *exe, const char *mode, const char *arg, long iters)
{
	uint64_t t_new[COLD_RUNS], t_cold[COLD_RUNS], t_tool[TOOL_RUNS], t_warm[WARM_BATCHES], pcs[256], t0, t1;
	uint64_t warm_med, warm_min, t_slow = 0, t_refresh;
	struct unwinder *slow;
	struct target t = { .in_fd = -1, .out_fd = -1 };
	struct capture *c = calloc(1, sizeof(*c));
	enum unwind_stop why = UNWIND_STOP_ERROR;
	struct unwinder *uw = NULL;
	int err, n = 0, tool_ok = 1;

	if (!c)
		return -ENOMEM;
	err = target_start(&t, exe, mode, arg);
	if (!err)
		err = capture_thread(t.pid, t.tid, c);
	if (err) {
		fprintf(stderr, "bench_unwind: cannot start and capture %s %s: %s\n", exe, mode, strerror(-err));
		goto cleanup;
	}
	for (int i = 0; i < COLD_RUNS; i++) {
		t0 = now_ns();
		uw = unwinder__new(t.pid);
		t1 = now_ns();
		if (!uw) {
			err = -errno;
			goto cleanup;
		}
		n = unwinder__unwind(uw, &c->regs, &c->st, pcs, 256, &why);
		t_cold[i] = now_ns() - t1;
		t_new[i] = t1 - t0;
		if (i < COLD_RUNS - 1) {
			unwinder__free(uw);
			uw = NULL;
		}
	}
	/* warm: batches, so that other load on the machine shows as spread, not as a mean */
	for (int b = 0; b < WARM_BATCHES; b++) {
		long per = iters / WARM_BATCHES > 0 ? iters / WARM_BATCHES : 1;

		t0 = now_ns();
		for (long i = 0; i < per; i++)
			n = unwinder__unwind(uw, &c->regs, &c->st, pcs, 256, &why);
		t_warm[b] = (now_ns() - t0) / (uint64_t)per;
	}
	/* refresh when nothing was mapped or unmapped: what a periodic dlopen check costs */
	t0 = now_ns();
	for (int i = 0; i < REFRESH_RUNS; i++)
		unwinder__refresh(uw);
	t_refresh = (now_ns() - t0) / REFRESH_RUNS;
	/* the same stack through libdwfl's own walk (what profd falls back to), for the ratio */
	setenv("PROFD_UNWIND_SLOW", "1", 1);
	slow = unwinder__new(t.pid);
	unsetenv("PROFD_UNWIND_SLOW");
	if (slow) {
		long per = iters / 20 > 0 ? iters / 20 : 1;

		unwinder__unwind(slow, &c->regs, &c->st, pcs, 256, &why);
		t0 = now_ns();
		for (long i = 0; i < per; i++)
			unwinder__unwind(slow, &c->regs, &c->st, pcs, 256, &why);
		t_slow = (now_ns() - t0) / (uint64_t)per;
		unwinder__free(slow);
	}
	for (int i = 0; i < TOOL_RUNS; i++) {
		t_tool[i] = time_eu_stack(t.pid);
		tool_ok = tool_ok && t_tool[i];
	}
	warm_med = median(t_warm, WARM_BATCHES);
	warm_min = t_warm[0]; /* sorted by median() */
	printf("%-7s %3d frames (%s)  new %6.1f us  cold %5.1f us  warm %5.2f us/stack (best batch %5.2f, %3.0f ns/frame)"
	       "  libdwfl walk %5.2f us  refresh %4.0f us",
	       mode, n, unwind_stop_name(why), median(t_new, COLD_RUNS) / 1e3, median(t_cold, COLD_RUNS) / 1e3,
	       warm_med / 1e3, warm_min / 1e3, (double)warm_med / n, t_slow / 1e3,
	       t_refresh / 1e3);
	if (tool_ok)
		printf("  | eu-stack -1 -p %5.2f ms (%.0fx new+cold)\n", median(t_tool, TOOL_RUNS) / 1e6,
		       (double)median(t_tool, TOOL_RUNS) /
			       (double)(median(t_new, COLD_RUNS) + median(t_cold, COLD_RUNS)));
	else
		printf("  | eu-stack: not available\n");
cleanup:
	unwinder__free(uw);
	if (t.pid > 0)
		target_stop(&t);
	thread_capture_release(&c->tc);
	free(c);
	return err;
}

int main(int argc, char **argv)
{
	long iters = argc > 2 ? atol(argv[2]) : 200000;

	if (argc < 2 || iters <= 0) {
		fprintf(stderr, "usage: %s TARGET_EXE [iterations]\n", argv[0]);
		return 2;
	}
	printf("unwind cost: medians of %d cold runs (new = maps + open + report modules); warm = median over %d\n"
	       "batches of %ld unwinds of one captured stack (target: < 5 us for ~10 frames); libdwfl walk =\n"
	       "the same stack through dwfl_getthread_frames (PROFD_UNWIND_SLOW=1, the fallback); refresh =\n"
	       "unwinder__refresh with no mapping change\n",
	       COLD_RUNS, WARM_BATCHES, iters / WARM_BATCHES);
	if (bench_one(argv[1], "qsort", NULL, iters) || bench_one(argv[1], "thread", NULL, iters) ||
	    bench_one(argv[1], "signal", NULL, iters) || bench_one(argv[1], "deep", "20", iters))
		return 1;
	return 0;
}

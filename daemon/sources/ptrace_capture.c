// SPDX-License-Identifier: MIT
/* One-thread-at-a-time capture with PTRACE_SEIZE + PTRACE_INTERRUPT (see ptrace_capture.h).
 * ptrace belongs to the tracer *thread*, and a tracee that never stops can only be released by
 * its tracer thread exiting. So every capture runs on one internal worker thread: callers hand it
 * a request under a process-wide lock; when a thread does not stop before the deadline, the worker
 * exits (the kernel then detaches it) and the next request starts a new worker. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <elf.h>

#include "proc/procmaps.h"
#include "proc/proctext.h"
#include "sources/ptrace_capture.h"

/* Poll waitpid(WNOHANG) with short sleeps in between until the deadline. Sleeping, not
 * spinning: the tracee may need this CPU to reach its stop, and a thread that slept is woken
 * promptly when it has work again (timer slack is 1 ns on the worker). Measured with CPU-bound
 * threads in the target: spinning or sched_yield made the pauses up to 50x longer. */
#define POLL_SLEEP_NS 10000l

struct capture_req {
	pid_t pid, tid;
	size_t stack_bytes;
	const struct procmaps *maps; /* to bound the copy at the end of the sp's mapping; may be NULL */
	unsigned int timeout_ms;
	struct thread_capture *ret;
	pid_t tracer;
	int err;
	bool done;
	bool worker_must_exit; /* a tracee may still be attached: only our exit releases it */
};

static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER; /* one capture at a time */
static pthread_mutex_t worker_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t worker_cv = PTHREAD_COND_INITIALIZER;
static pthread_t worker_thread;
static bool worker_running;
static struct capture_req *worker_req;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Reads "State:" and "TracerPid:" of one thread. Returns 0 or -errno (-ESRCH if gone). */
static int read_thread_status(pid_t pid, pid_t tid, char *ret_state, pid_t *ret_tracer)
{
	char path[64], text[4096];
	ssize_t n;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, text, sizeof(text) - 1);
	if (n < 0)
		err = errno == ENOENT ? -ESRCH : -errno;
	close(fd);
	if (err)
		return err;
	text[n] = '\0';
	proctext_status_state(text, ret_state, ret_tracer);
	return 0;
}

/* Why SEIZE failed with EPERM: a zombie (-ESRCH), another tracer (-EPERM + its pid), or no
 * privilege (-EPERM, tracer 0). */
static int explain_eperm(struct capture_req *req)
{
	char state;
	pid_t tracer;
	int err;

	err = read_thread_status(req->pid, req->tid, &state, &tracer);
	if (err)
		return err;
	if (state == 'Z' || state == 'X')
		return -ESRCH;
	req->tracer = tracer;
	return -EPERM;
}

static void regs_to_dwarf(const struct user_regs_struct *u, struct unwind_regs *r)
{
	r->r[0] = u->rax;
	r->r[1] = u->rdx;
	r->r[2] = u->rcx;
	r->r[3] = u->rbx;
	r->r[4] = u->rsi;
	r->r[5] = u->rdi;
	r->r[6] = u->rbp;
	r->r[7] = u->rsp;
	r->r[8] = u->r8;
	r->r[9] = u->r9;
	r->r[10] = u->r10;
	r->r[11] = u->r11;
	r->r[12] = u->r12;
	r->r[13] = u->r13;
	r->r[14] = u->r14;
	r->r[15] = u->r15;
	r->r[16] = u->rip;
}

/* Waits for the first stop after PTRACE_INTERRUPT. Returns 0 with *ret_status, -ESRCH if the
 * thread exited (it is then reaped and no longer attached), -ETIMEDOUT, or -errno. */
static int wait_for_stop(pid_t tid, uint64_t t0, unsigned int timeout_ms, int *ret_status)
{
	uint64_t deadline = t0 + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		int status;
		pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
		struct timespec ts = { 0, POLL_SLEEP_NS };

		if (r == tid) {
			if (WIFEXITED(status) || WIFSIGNALED(status))
				return -ESRCH;
			if (WIFSTOPPED(status)) {
				*ret_status = status;
				return 0;
			}
			continue;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* ECHILD: no longer our tracee, i.e. it is gone */
			return errno == ECHILD ? -ESRCH : -errno;
		}
		if (now_ns() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
}

/* The end of the mapping holding sp, or 0 when sp is in no mapping of maps. A binary search:
 * cheap enough to run during the stop. */
static uint64_t stack_end_for(const struct procmaps *maps, uint64_t sp)
{
	const struct procmaps_entry *e = maps ? procmaps_find(maps, sp) : NULL;

	return e ? e->end : 0;
}

/* The capture proper, on the worker thread. The stack buffer is allocated before the stop so
 * that the pause holds only syscalls. */
static void capture_on_worker(struct capture_req *req)
{
	struct thread_capture *c = req->ret;
	struct user_regs_struct uregs;
	struct iovec iov = { &uregs, sizeof(uregs) };
	uint8_t *stack = NULL;
	size_t want = 0;
	uint64_t t0;
	int status = 0, inject = 0, err;

	if (req->stack_bytes) {
		stack = malloc(req->stack_bytes);
		if (!stack) {
			req->err = -ENOMEM;
			return;
		}
	}

	/* no options: above all not PTRACE_O_EXITKILL, the target must outlive us */
	if (ptrace(PTRACE_SEIZE, req->tid, NULL, NULL) < 0) {
		err = -errno;
		if (err == -EPERM)
			err = explain_eperm(req);
		req->err = err;
		free(stack);
		return;
	}
	t0 = now_ns();
	/* Fails only if the thread is dying: then the wait below reaps it. */
	(void)ptrace(PTRACE_INTERRUPT, req->tid, NULL, NULL);
	err = wait_for_stop(req->tid, t0, req->timeout_ms, &status);
	if (err) {
		/* -ESRCH: already reaped, nothing attached. Anything else: still attached and not
		 * stopped, which only the exit of this thread can undo. */
		if (err != -ESRCH)
			req->worker_must_exit = true;
		req->err = err;
		free(stack);
		return;
	}
	/* A signal-delivery-stop (no event in the high bits) holds a dequeued signal: hand it back
	 * at detach so it is delivered with its siginfo. A group-stop or our interrupt trap is a
	 * PTRACE_EVENT_STOP; detaching from a group-stop leaves the thread group-stopped. */
	if (status >> 16 == 0)
		inject = WSTOPSIG(status);

	err = 0;
	if (ptrace(PTRACE_GETREGSET, req->tid, (void *)(uintptr_t)NT_PRSTATUS, &iov) < 0)
		err = -errno;
	if (!err && stack) {
		uint64_t sp = uregs.rsp;
		struct iovec local = { stack, req->stack_bytes };
		struct iovec remote = { (void *)(uintptr_t)sp, req->stack_bytes };
		uint64_t end;
		ssize_t n;

		want = req->stack_bytes;
		end = stack_end_for(req->maps, sp);
		if (end > sp && end - sp < want)
			remote.iov_len = local.iov_len = end - sp;
		/* partial at the first unmapped page; -EFAULT when sp itself is unmapped */
		n = process_vm_readv(req->pid, &local, 1, &remote, 1, 0);
		c->stack_len = n > 0 ? (size_t)n : 0;
		c->stack_start = sp;
	}
	if (ptrace(PTRACE_DETACH, req->tid, NULL, (void *)(uintptr_t)inject) < 0 && errno != ESRCH) {
		/* Cannot happen for a stopped tracee; be safe: let our exit release it. */
		req->worker_must_exit = true;
	}
	c->pause_ns = now_ns() - t0;
	if (err) {
		req->err = err == -ESRCH ? -ESRCH : err;
		free(stack);
		return;
	}
	regs_to_dwarf(&uregs, &c->regs);
	c->signal = inject;
	c->stack_wanted = want;
	if (stack && c->stack_len == 0) {
		free(stack);
		stack = NULL;
	} else if (stack && c->stack_len < req->stack_bytes) {
		uint8_t *shrunk = realloc(stack, c->stack_len);

		if (shrunk)
			stack = shrunk;
	}
	c->stack = stack;
	req->err = 0;
}

static void *worker_main(void *arg)
{
	sigset_t all;

	(void)arg;
	/* signals aimed at the daemon must not land on the tracer thread */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	prctl(PR_SET_TIMERSLACK, 1ul, 0, 0, 0);
	for (;;) {
		struct capture_req *req;
		bool must_exit;

		pthread_mutex_lock(&worker_mu);
		while (!worker_req)
			pthread_cond_wait(&worker_cv, &worker_mu);
		req = worker_req;
		pthread_mutex_unlock(&worker_mu);

		capture_on_worker(req);

		pthread_mutex_lock(&worker_mu);
		must_exit = req->worker_must_exit;
		req->done = true;
		worker_req = NULL;
		pthread_cond_broadcast(&worker_cv);
		pthread_mutex_unlock(&worker_mu);
		if (must_exit)
			return NULL; /* the kernel detaches whatever we still trace */
	}
}

/* fork() copies only the calling thread: the child has no worker, and must not wait for one. The
 * prepare handler takes capture_lock, so no capture is in flight across the fork. */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&capture_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&capture_lock);
}

static void atfork_child(void)
{
	worker_running = false;
	worker_req = NULL;
	/* the worker may have held worker_mu at the fork; it does not exist here */
	pthread_mutex_init(&worker_mu, NULL);
	pthread_cond_init(&worker_cv, NULL);
	pthread_mutex_unlock(&capture_lock);
}

static void register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static int run_request(struct capture_req *req)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int err;

	pthread_once(&once, register_atfork);
	pthread_mutex_lock(&capture_lock);
	if (!worker_running) {
		err = -pthread_create(&worker_thread, NULL, worker_main, NULL);
		if (err)
			goto cleanup;
		worker_running = true;
	}
	pthread_mutex_lock(&worker_mu);
	worker_req = req;
	pthread_cond_broadcast(&worker_cv);
	while (!req->done)
		pthread_cond_wait(&worker_cv, &worker_mu);
	pthread_mutex_unlock(&worker_mu);
	if (req->worker_must_exit) {
		pthread_join(worker_thread, NULL);
		worker_running = false;
	}
	err = req->err;
cleanup:
	pthread_mutex_unlock(&capture_lock);
	return err;
}

int ptrace_capture_thread_maps(pid_t pid, pid_t tid, size_t stack_bytes, const struct procmaps *maps,
			       unsigned int timeout_ms, struct thread_capture *ret, pid_t *ret_tracer)
{
	struct procmaps own = { 0 };
	struct capture_req req = { 0 };
	int err;

	if (pid <= 0 || tid <= 0 || !ret || stack_bytes > PTRACE_CAPTURE_MAX_STACK)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->tid = tid;
	if (ret_tracer)
		*ret_tracer = 0;
	/* read before the stop: a maps read costs far more than the whole pause */
	if (!maps && stack_bytes) {
		err = procmaps_read(pid, &own);
		if (err)
			return err;
		maps = &own;
	}
	req.pid = pid;
	req.tid = tid;
	req.stack_bytes = stack_bytes;
	req.maps = maps;
	req.timeout_ms = timeout_ms ? timeout_ms : PTRACE_CAPTURE_TIMEOUT_MS;
	req.ret = ret;
	err = run_request(&req);
	if (err) {
		if (err == -EPERM && ret_tracer)
			*ret_tracer = req.tracer;
		thread_capture_release(ret);
		ret->tid = tid;
	}
	procmaps_free(&own);
	return err;
}

int ptrace_capture_thread(pid_t pid, pid_t tid, size_t stack_bytes, struct thread_capture *ret,
			  pid_t *ret_tracer)
{
	return ptrace_capture_thread_maps(pid, tid, stack_bytes, NULL, 0, ret, ret_tracer);
}

void thread_capture_release(struct thread_capture *c)
{
	if (!c)
		return;
	free(c->stack);
	c->stack = NULL;
	c->stack_len = 0;
}

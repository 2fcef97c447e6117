// SPDX-License-Identifier: MIT
/* Thread dumps (see threads.h). A dump lists the threads (/proc/PID/task), then, with the task
 * iterator, walks them in the kernel: every thread off CPU comes back with its registers, kernel
 * frames and stack copy, and is unwound from the ring buffer at once. Threads that were on a CPU
 * (or ran while being read, or whose stack was deeper than the first, small copy) are walked
 * again, up to THREADS_ITER_RETRIES times. Whatever is left is captured as without the iterator,
 * one thread at a time: its /proc state (before stopping it, so the state is the undisturbed
 * one), a ptrace capture, the unwind of the copy (while the thread already runs again).
 * Only pcs are kept, so memory is bounded by THREADS_MAX_PER_DUMP * PROFD_MAX_FRAMES pcs.
 * Formatting happens afterwards. One dump at a time per source (src->mu). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/types.h>

#include "bpf/taskiter.h"
#include "pprof/pprof.h"
#include "proc/procmaps.h"
#include "proc/proctext.h"
#include "proc/target.h"
#include "sources/allocator.h"
#include "sources/ptrace_capture.h"
#include "sources/taskiter.h"
#include "sources/threads.h"
#include "stacks/complete.h"
#include "stacks/unwind.h"
#include "symbols/symbolize.h"

#define KSTACK_MAX_TEXT 4096 /* /proc/PID/task/TID/stack is bounded by the kernel; so are we */
/* A thread in uninterruptible sleep ('D') cannot stop before it wakes: usually within a few ms
 * (page-in, short I/O), maybe never (hung NFS, vfork parent). Give it this long, not the default,
 * so that a dump of many hung threads still ends in reasonable time. */
#define THREADS_D_TIMEOUT_MS 20
/* The task iterator's first walk copies at most this much of each stack: copying costs about
 * 2 us per page here, most threads' frames fit in a few KiB, and a thread whose unwind needs
 * more is walked again with the whole --stack-bytes. */
#define THREADS_ITER_FIRST_COPY (8u << 10)
/* Walks after the first, for the threads the last one could not read. */
#define THREADS_ITER_RETRIES 2

/* How a thread's stack was taken. */
enum capture_how {
	HOW_NONE = 0,
	HOW_ITER,   /* read by the task iterator, not stopped */
	HOW_PROC,   /* blocked in an EINTR-prone syscall: read through /proc, not stopped */
	HOW_PTRACE, /* stopped alone */
};

struct thread_rec {
	pid_t tid;
	char comm[64];
	char state;        /* /proc stat letter, '?' unknown */
	long syscall_nr;   /* -1: not blocked in a syscall, or unknown */
	char wchan[64];    /* "" unknown */
	char *kstack;      /* owned: "function+0xoff" lines, '\n'-terminated; NULL if unreadable */
	uint64_t *pcs;     /* owned: npcs user pcs, leaf first (samples.h convention) */
	int npcs;
	int err;           /* capture result: 0, -ETIMEDOUT, -EPERM, ... */
	pid_t tracer;      /* the thread tracing it, 0 if none (ptrace path: known with -EPERM only) */
	int signal;        /* signal the thread was delivering when stopped (re-injected) */
	enum capture_how how;
	bool truncated;    /* unwind needed more stack than the copy held */
	int walk_n;        /* what the walk gave (unwinder__unwind), for the rule of complete.h */
	enum unwind_stop walk_why;
	bool deeper;       /* read by the iterator's first, small copy: needs a walk with all of it */
	bool gone;         /* exited during the dump */
};

struct dump_stats {
	bool valid;
	size_t listed, captured, exited, timeouts, denied, not_captured, skipped, truncated;
	struct stack_tally stacks; /* captured threads' stacks by the rule of stacks/complete.h */
	size_t unstopped;  /* captured without stopping: iter + through /proc */
	size_t iter;       /* captured by the task iterator */
	size_t stopped;    /* captured with a ptrace stop */
	unsigned walks;    /* task iterator walks */
	uint64_t pause_med_ns, pause_max_ns, took_ns;
	int64_t time_nanos;
};

struct dump {
	struct thread_rec *recs;
	size_t n;
	struct dump_stats stats;
};

struct threads_source {
	const struct target *t;
	struct unwinder *uw;
	struct symbolizer *sym;
	size_t stack_bytes;
	struct taskiter *ti;  /* NULL: every thread is stopped */
	bool own_ti;          /* ti is this source's, not one shared by a set's sources */
	char ti_why[512];     /* why ti is NULL */
	pthread_mutex_t mu; /* one dump at a time; guards last, error and denied */
	struct dump_stats last;
	char error[512];
	char denied[512];   /* the last -EPERM's reason, kept across dumps for profile_explain() */
	bool denied_traced; /* ... and whether another tracer was the cause */
	threads_creator_fn creator_fn; /* "created by" trailers in debug=2; NULL: none */
	void *creator_ctx;
	bool go;            /* a Go program: its threads are not its goroutines, and dumps say so */
};

static const char *const syscall_names[] = {
	[0] = "read", [1] = "write", [2] = "open", [3] = "close", [4] = "stat", [5] = "fstat",
	[7] = "poll", [9] = "mmap", [16] = "ioctl", [17] = "pread64", [18] = "pwrite64",
	[19] = "readv", [20] = "writev", [22] = "pipe", [23] = "select", [24] = "sched_yield",
	[34] = "pause", [35] = "nanosleep", [40] = "sendfile", [41] = "socket", [42] = "connect",
	[43] = "accept", [44] = "sendto", [45] = "recvfrom", [46] = "sendmsg", [47] = "recvmsg",
	[56] = "clone", [57] = "fork", [58] = "vfork", [59] = "execve", [61] = "wait4",
	[62] = "kill", [65] = "semop", [68] = "msgsnd", [69] = "msgrcv", [72] = "fcntl",
	[73] = "flock", [74] = "fsync", [75] = "fdatasync", [101] = "ptrace",
	[128] = "rt_sigtimedwait", [130] = "rt_sigsuspend", [202] = "futex", [208] = "io_getevents",
	[220] = "semtimedop", [230] = "clock_nanosleep", [232] = "epoll_wait", [247] = "waitid",
	[257] = "openat", [270] = "pselect6", [271] = "ppoll", [281] = "epoll_pwait",
	[288] = "accept4", [299] = "recvmmsg", [307] = "sendmmsg", [426] = "io_uring_enter",
	[435] = "clone3", [441] = "epoll_pwait2", [449] = "futex_waitv",
};

const char *threads_syscall_name(long nr)
{
	if (nr < 0 || nr >= (long)(sizeof(syscall_names) / sizeof(syscall_names[0])))
		return NULL;
	return syscall_names[nr];
}

static const char *state_name(char s)
{
	switch (s) {
	case 'R': return "running";
	case 'S': return "sleeping";
	case 'D': return "disk wait";
	case 'T': return "stopped";
	case 't': return "tracing stop";
	case 'Z': return "zombie";
	case 'X': case 'x': return "dead";
	case 'I': return "idle";
	case 'P': return "parked";
	case 'W': return "waking";
	case 'K': return "wakekill";
	default: return "unknown";
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* State, name, syscall, wchan and kernel stack of one thread. Returns 0 or -ESRCH (gone). */
static int read_thread_info(pid_t pid, struct thread_rec *r)
{
	char path[96], text[KSTACK_MAX_TEXT];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, r->tid);
	n = proc_read_file(path, text, sizeof(text));
	if (n < 0)
		return (int)n == -ESRCH ? -ESRCH : (int)n;
	proctext_stat_comm(text, r->comm, sizeof(r->comm), &r->state);

	r->syscall_nr = -1;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, r->tid);
	if (proc_read_file(path, text, 128) > 0)
		r->syscall_nr = proctext_syscall_nr(text);
	if (r->syscall_nr < 0 || !threads_syscall_name(r->syscall_nr)) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", pid, r->tid);
		if (proc_read_file(path, r->wchan, sizeof(r->wchan)) <= 0 || !strcmp(r->wchan, "0"))
			r->wchan[0] = '\0';
	}
	/* a running thread has no kernel stack worth showing (and the read would race it) */
	if (r->state != 'R') {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stack", pid, r->tid);
		if (proc_read_file(path, text, sizeof(text)) > 0)
			r->kstack = proctext_kstack(text);
	}
	return 0;
}

static void dump_free(struct dump *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->recs[i].kstack);
		free(d->recs[i].pcs);
	}
	free(d->recs);
	d->recs = NULL;
	d->n = 0;
}

static int cmp_tid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The target's tids, main thread first, then ascending. Returns the count or -errno. */
static int list_tids(pid_t pid, pid_t **ret, size_t *ret_skipped)
{
	char path[64];
	struct dirent *de;
	pid_t *tids = NULL;
	size_t n = 0, alloc = 0;
	DIR *dir;

	*ret_skipped = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((de = readdir(dir))) {
		pid_t tid = (pid_t)strtol(de->d_name, NULL, 10);

		if (tid <= 0)
			continue;
		if (n == THREADS_MAX_PER_DUMP) {
			(*ret_skipped)++;
			continue;
		}
		if (n == alloc) {
			size_t na = alloc ? alloc * 2 : 256;
			pid_t *nt = realloc(tids, na * sizeof(*tids));

			if (!nt) {
				free(tids);
				closedir(dir);
				return -ENOMEM;
			}
			tids = nt;
			alloc = na;
		}
		tids[n++] = tid;
	}
	closedir(dir);
	if (n > 1)
		qsort(tids, n, sizeof(*tids), cmp_tid);
	for (size_t i = 0; i < n; i++) {
		if (tids[i] == pid) {
			memmove(tids + 1, tids, i * sizeof(*tids));
			tids[0] = pid;
			break;
		}
	}
	*ret = tids;
	return (int)n;
}

/* Syscalls that fail with EINTR, instead of restarting, when a ptrace stop interrupts them
 * (signal(7): "interruption by a stop signal"): epoll_wait, epoll_pwait, epoll_pwait2,
 * rt_sigtimedwait, semop, semtimedop, io_getevents, io_pgetevents, io_uring_enter. */
static bool stop_would_fail(long nr)
{
	switch (nr) {
	case 232: case 281: case 441: case 128: case 65: case 220: case 208: case 333: case 426:
		return true;
	default:
		return false;
	}
}

/* The blocked-syscall state of a thread: /proc/PID/task/TID/syscall ("nr args... sp pc") and
 * its context switch counts. Returns 0 or -errno. */
static int read_blocked(pid_t pid, pid_t tid, char *sc, size_t sc_len, long *ret_switches)
{
	char path[96], text[2048];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	n = proc_read_file(path, sc, sc_len);
	if (n < 0)
		return (int)n;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	n = proc_read_file(path, text, sizeof(text));
	if (n < 0)
		return (int)n;
	*ret_switches = proctext_status_switches(text);
	return 0;
}

/* A thread blocked in a syscall that a ptrace stop would make fail with EINTR is read without
 * stopping it: sp and pc from /proc/PID/task/TID/syscall, the stack copied while it stays
 * blocked (the same syscall line and no context switch before and after the copy prove it did
 * not run meanwhile). The other registers are unknown, so a frame whose CFA needs one (frame
 * pointer code) ends the walk. Returns the number of pcs, 0 when the thread did not stay
 * blocked (the caller then stops it as usual), or -errno. */
static int capture_blocked(struct threads_source *src, const struct procmaps *maps, pid_t tid,
			   uint64_t *pcs, enum unwind_stop *ret_why, size_t *ret_len, size_t *ret_wanted)
{
	char before[256], after[256];
	long sw_before, sw_after, nr;
	uint64_t sp, pc;
	const struct procmaps_entry *e;
	struct unwind_regs regs;
	struct unwind_stack stack;
	struct iovec local, remote;
	uint8_t *copy = NULL;
	size_t want = src->stack_bytes;
	ssize_t got;
	int err, n = 0;

	err = read_blocked(src->t->pid, tid, before, sizeof(before), &sw_before);
	if (err)
		return err;
	if (proctext_syscall(before, &nr, &sp, &pc) != 0 || !stop_would_fail(nr) || !sp || !pc)
		return 0;
	e = procmaps_find(maps, sp);
	if (e && e->end - sp < want)
		want = e->end - sp;
	copy = malloc(want ? want : 1);
	if (!copy)
		return -ENOMEM;
	local = (struct iovec){ copy, want };
	remote = (struct iovec){ (void *)(uintptr_t)sp, want };
	got = process_vm_readv(src->t->pid, &local, 1, &remote, 1, 0);
	err = read_blocked(src->t->pid, tid, after, sizeof(after), &sw_after);
	if (err || got <= 0 || strcmp(before, after) || sw_before != sw_after)
		goto cleanup; /* it ran meanwhile (or is gone): n = 0 */
	memset(&regs, 0, sizeof(regs));
	regs.r[UNWIND_REG_RSP] = sp;
	regs.r[UNWIND_REG_RIP] = pc;
	stack = (struct unwind_stack){ .start = sp, .data = copy, .len = (size_t)got };
	n = src->uw ? unwinder__unwind(src->uw, &regs, &stack, pcs, PROFD_MAX_FRAMES, ret_why) : -ENOSYS;
	if (n <= 0) {
		pcs[0] = sample_pc_exact(pc);
		n = 1;
	}
	*ret_len = (size_t)got;
	*ret_wanted = src->stack_bytes;
cleanup:
	free(copy);
	return n;
}

/* Keeps the n (if any) pcs of an unwound stack as r's. Returns 0 or -ENOMEM. */
static int keep_pcs(struct thread_rec *r, const uint64_t *pcs, int n)
{
	if (n <= 0)
		return 0;
	r->pcs = malloc((size_t)n * sizeof(*pcs));
	if (!r->pcs)
		return -ENOMEM;
	memcpy(r->pcs, pcs, (size_t)n * sizeof(*pcs));
	r->npcs = n;
	return 0;
}

/* Captures and unwinds one thread into r. Returns 0, or -ESRCH when it exited meanwhile. */
static int capture_one(struct threads_source *src, const struct procmaps *maps, struct thread_rec *r,
		       uint64_t *pcs, uint64_t *ret_pause)
{
	struct thread_capture cap;
	struct unwind_stack stack = { 0 };
	enum unwind_stop why = UNWIND_STOP_ERROR;
	int err, n;

	*ret_pause = 0;
	if (r->state == 'S' && stop_would_fail(r->syscall_nr)) {
		size_t len = 0, wanted = 0;

		n = capture_blocked(src, maps, r->tid, pcs, &why, &len, &wanted);
		if (n == -ESRCH)
			return -ESRCH;
		if (n > 0) {
			r->how = HOW_PROC;
			r->walk_n = n;
			r->walk_why = why;
			r->truncated = why == UNWIND_STOP_WINDOW && len >= wanted;
			goto keep;
		}
		/* it woke up: not in that syscall any more, a stop is harmless */
	}
	err = ptrace_capture_thread_maps(src->t->pid, r->tid, src->stack_bytes, maps,
					 r->state == 'D' ? THREADS_D_TIMEOUT_MS : 0, &cap, &r->tracer);
	if (err == -ESRCH)
		return -ESRCH;
	r->err = err;
	if (err)
		return 0;
	*ret_pause = cap.pause_ns;
	r->how = HOW_PTRACE;
	r->signal = cap.signal;
	stack.start = cap.stack_start;
	stack.data = cap.stack;
	stack.len = cap.stack_len;
	n = src->uw ? unwinder__unwind(src->uw, &cap.regs, &stack, pcs, PROFD_MAX_FRAMES, &why) : -ENOSYS;
	r->walk_n = n;
	r->walk_why = why;
	if (n <= 0 && cap.regs.r[UNWIND_REG_RIP]) {
		/* the leaf is known even when the walk failed */
		pcs[0] = sample_pc_exact(cap.regs.r[UNWIND_REG_RIP]);
		n = 1;
	}
	r->truncated = why == UNWIND_STOP_WINDOW && cap.stack_len >= cap.stack_wanted;
	thread_capture_release(&cap);
keep:
	return keep_pcs(r, pcs, n);
}

static void set_error_locked(struct threads_source *src, const struct dump *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct thread_rec *r = &d->recs[i];
		char path[64], comm[64] = "";

		if (r->err != -EPERM)
			continue;
		if (r->tracer <= 0) {
			snprintf(src->error, sizeof(src->error),
				 "operation not permitted (profd needs CAP_SYS_PTRACE, or root)");
		} else {
			snprintf(path, sizeof(path), "/proc/%d/comm", r->tracer);
			if (proc_read_file(path, comm, sizeof(comm)) > 0)
				comm[strcspn(comm, "\n")] = '\0';
			snprintf(src->error, sizeof(src->error),
				 "thread %d is already traced by process %d (%s); only one tracer is allowed: "
				 "detach it (quit gdb or strace) and retry", r->tid, r->tracer, comm[0] ? comm : "?");
		}
		memcpy(src->denied, src->error, sizeof(src->denied));
		src->denied_traced = r->tracer > 0;
		return;
	}
}

/* ---- the task iterator's walks ---- */

/* The record of tid: recs[0] is the main thread, the others ascend. NULL if not listed. */
static struct thread_rec *find_rec(struct dump *d, pid_t tid)
{
	size_t lo = 1, hi = d->n;

	if (d->n && d->recs[0].tid == tid)
		return &d->recs[0];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->recs[mid].tid == tid)
			return &d->recs[mid];
		if (d->recs[mid].tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* "func+0x1f/0x90 [mod]" names (as /proc/PID/stack prints them) -> "func+0x1f" lines, the text
 * proctext_kstack makes of /proc; an unnamed frame is its address. */
static char *kstack_from_names(const struct taskiter_thread *th)
{
	struct buf b;

	buf_init(&b, 64 * (size_t)th->nkframes + 1);
	for (int i = 0; i < th->nkframes; i++) {
		const char *name = th->knames[i];
		int err;

		if (name)
			err = buf_printf(&b, "%.*s\n", (int)strcspn(name, "/ \n"), name);
		else
			err = buf_printf(&b, "0x%llx\n", (unsigned long long)th->kframes[i]);
		if (err)
			break;
	}
	return b.len ? buf_steal(&b, NULL) : (buf_free(&b), NULL);
}

struct iter_walk {
	struct threads_source *src;
	struct dump *d;
	uint64_t *pcs; /* PROFD_MAX_FRAMES */
};

/* taskiter callback: one visited thread. Threads listed after the walk began are ignored (a
 * dump is of the threads listed at its start); read ones are unwound now, from the ring. */
static int on_iter_thread(void *ctx, const struct taskiter_thread *th)
{
	struct iter_walk *w = ctx;
	struct threads_source *src = w->src;
	struct thread_rec *r = find_rec(w->d, th->tid);
	enum unwind_stop why = UNWIND_STOP_ERROR;
	uint64_t *pcs = w->pcs;
	int n;

	if (!r || (r->how == HOW_ITER && !r->deeper) || !(th->flags & PROFD_TASKITER_F_READ))
		return 0;
	free(r->kstack);
	free(r->pcs);
	r->kstack = NULL;
	r->pcs = NULL;
	r->npcs = 0;
	snprintf(r->comm, sizeof(r->comm), "%s", th->comm);
	r->state = th->state;
	/* as /proc/PID/task/TID/syscall, which says "running" for a running thread */
	r->syscall_nr = th->state == 'R' ? -1 : th->syscall_nr;
	r->tracer = th->tracer;
	r->wchan[0] = '\0';
	if (th->state != 'R') {
		r->kstack = kstack_from_names(th);
		/* /proc/PID/wchan: the first frame outside the scheduler, which the kernel's stack
		 * walk of a sleeping task starts with */
		if ((r->syscall_nr < 0 || !threads_syscall_name(r->syscall_nr)) && th->nkframes && th->knames[0])
			snprintf(r->wchan, sizeof(r->wchan), "%.*s", (int)strcspn(th->knames[0], "+/ "), th->knames[0]);
	}
	n = src->uw ? unwinder__unwind(src->uw, &th->regs, &th->stack, pcs, PROFD_MAX_FRAMES, &why) : -ENOSYS;
	r->walk_n = n;
	r->walk_why = why;
	if (n <= 0 && th->regs.r[UNWIND_REG_RIP]) {
		pcs[0] = sample_pc_exact(th->regs.r[UNWIND_REG_RIP]);
		n = 1;
	}
	r->truncated = why == UNWIND_STOP_WINDOW && th->stack.len >= th->stack_wanted;
	r->deeper = r->truncated && th->stack_wanted < src->stack_bytes;
	r->how = HOW_ITER;
	return keep_pcs(r, pcs, n);
}

/* Reads every thread the iterator can: a first walk of all, then walks of those left over.
 * Threads still not read (or only in part) are left with how == HOW_NONE for the ptrace path.
 * Returns 0 or -ENOMEM; a walk that fails otherwise only leaves more threads to ptrace. */
static int iter_capture(struct threads_source *src, struct dump *d, uint64_t *pcs, unsigned *ret_walks)
{
	struct iter_walk w = { src, d, pcs };
	pid_t *left = NULL;
	int err = 0;

	*ret_walks = 0;
	if (!src->ti || d->n == 0)
		return 0;
	left = malloc(TASKITER_MAX_RETRY * sizeof(*left));
	if (!left)
		return -ENOMEM;
	err = taskiter__walk_pid(src->ti, src->t->pid, NULL, 0, THREADS_ITER_FIRST_COPY, on_iter_thread, &w);
	(*ret_walks)++;
	for (int pass = 0; pass < THREADS_ITER_RETRIES && err != -ENOMEM; pass++) {
		size_t nleft = 0;

		for (size_t i = 0; i < d->n && nleft < TASKITER_MAX_RETRY; i++)
			if (d->recs[i].how != HOW_ITER || d->recs[i].deeper)
				left[nleft++] = d->recs[i].tid;
		if (!nleft)
			break;
		err = taskiter__walk_pid(src->ti, src->t->pid, left, nleft, 0, on_iter_thread, &w);
		(*ret_walks)++;
	}
	/* a stack the first copy cut, and no walk could read again: ptrace takes all of it */
	for (size_t i = 0; i < d->n; i++) {
		struct thread_rec *r = &d->recs[i];

		if (r->how == HOW_ITER && r->deeper) {
			free(r->kstack);
			free(r->pcs);
			r->kstack = NULL;
			r->pcs = NULL;
			r->npcs = 0;
			r->how = HOW_NONE;
			r->deeper = false;
			r->truncated = false;
		}
	}
	free(left);
	return err == -ENOMEM ? err : 0;
}

/* Takes one dump under src->mu. Returns 0 or -errno (d is then empty). */
static int take_dump_locked(struct threads_source *src, struct dump *d)
{
	struct procmaps maps = { 0 };
	uint64_t *pcs = NULL, *pauses = NULL, t0 = now_ns();
	pid_t *tids = NULL, pid = src->t->pid;
	struct dump_stats *st = &d->stats;
	bool have_maps = false;
	size_t npauses = 0, kept = 0;
	int n, err = 0;

	memset(d, 0, sizeof(*d));
	src->error[0] = '\0';
	st->time_nanos = profd_now_nanos();
	if (!target_alive(src->t))
		return -ESRCH;
	/* new modules (dlopen) since the last dump */
	if (src->uw)
		unwinder__refresh(src->uw);
	if (src->sym)
		symbolizer__refresh(src->sym);
	n = list_tids(pid, &tids, &st->skipped);
	if (n < 0)
		return n;
	d->recs = calloc((size_t)n + 1, sizeof(*d->recs));
	pcs = malloc(PROFD_MAX_FRAMES * sizeof(*pcs));
	pauses = malloc(((size_t)n + 1) * sizeof(*pauses));
	if (!d->recs || !pcs || !pauses) {
		err = -ENOMEM;
		goto cleanup;
	}
	st->listed = (size_t)n;
	for (int i = 0; i < n; i++)
		d->recs[i].tid = tids[i];
	d->n = (size_t)n;
	err = iter_capture(src, d, pcs, &st->walks);
	if (err)
		goto cleanup;
	for (size_t i = 0; i < d->n; i++) {
		struct thread_rec *r = &d->recs[i];
		uint64_t pause = 0;

		if (r->how == HOW_ITER)
			continue;
		/* read before the first stop: a maps read costs far more than a pause */
		if (!have_maps) {
			err = procmaps_read(pid, &maps);
			if (err)
				goto cleanup;
			have_maps = true;
		}
		err = read_thread_info(pid, r);
		if (err == -ESRCH) {
			r->gone = true;
			continue;
		}
		if (!err && r->state != 'Z' && r->state != 'X' && r->state != 'x') {
			err = capture_one(src, &maps, r, pcs, &pause);
			if (err == -ESRCH) {
				r->gone = true;
				continue;
			}
		}
		if (err)
			goto cleanup;
		if (r->how == HOW_PTRACE)
			pauses[npauses++] = pause;
	}
	err = 0; /* a thread that exited last left its -ESRCH here */
	/* drop the threads that exited, keeping the order */
	for (size_t i = 0; i < d->n; i++) {
		struct thread_rec *r = &d->recs[i];

		if (r->gone) {
			free(r->kstack);
			free(r->pcs);
			st->exited++;
			continue;
		}
		d->recs[kept++] = *r;
		if (r->state == 'Z' || r->state == 'X' || r->state == 'x') {
			/* nothing to capture */
		} else if (r->how != HOW_NONE) {
			st->captured++;
			st->unstopped += r->how == HOW_ITER || r->how == HOW_PROC;
			st->iter += r->how == HOW_ITER;
			st->stopped += r->how == HOW_PTRACE;
			stack_tally__add(&st->stacks, r->walk_n, r->walk_why);
		} else {
			st->not_captured++;
			if (r->err == -ETIMEDOUT)
				st->timeouts++;
			else if (r->err == -EPERM)
				st->denied++;
		}
		if (r->truncated)
			st->truncated++;
	}
	d->n = kept;
	if (!target_alive(src->t)) {
		err = -ESRCH;
		goto cleanup;
	}
	if (st->captured == 0 && st->denied > 0) {
		set_error_locked(src, d);
		err = -EPERM;
		goto cleanup;
	}
	if (npauses) {
		qsort(pauses, npauses, sizeof(*pauses), cmp_u64);
		st->pause_med_ns = pauses[npauses / 2];
		st->pause_max_ns = pauses[npauses - 1];
	}
	st->took_ns = now_ns() - t0;
	st->valid = true;
	src->last = *st;
cleanup:
	if (err)
		dump_free(d);
	procmaps_free(&maps);
	free(tids);
	free(pcs);
	free(pauses);
	return err;
}

/* The comm with the characters that would break the header's shape replaced. */
static void sanitize_name(const char *in, char *out, size_t len)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < len; i++) {
		unsigned char c = (unsigned char)in[i];

		out[i] = (c < 0x20 || c == 0x7f || c == ']' || c == '"' || c == '\\') ? '_' : (char)c;
	}
	out[i] = '\0';
}

static int write_header(const struct thread_rec *r, struct buf *out)
{
	char name[64];
	const char *sc = threads_syscall_name(r->syscall_nr);
	int err;

	sanitize_name(r->comm, name, sizeof(name));
	if ((err = buf_printf(out, "goroutine %d [%s", r->tid, state_name(r->state))))
		return err;
	if (sc)
		err = buf_printf(out, ": %s", sc);
	else if (r->wchan[0])
		err = buf_printf(out, ": %s", r->wchan);
	else if (r->syscall_nr >= 0)
		err = buf_printf(out, ": syscall %ld", r->syscall_nr);
	if (err)
		return err;
	if (r->tracer > 0)
		err = buf_printf(out, ", traced by %d", r->tracer);
	else if (r->err == -ETIMEDOUT)
		err = buf_printf(out, ", stack not captured: did not stop within %d ms",
				 r->state == 'D' ? THREADS_D_TIMEOUT_MS : PTRACE_CAPTURE_TIMEOUT_MS);
	else if (r->err)
		err = buf_printf(out, ", stack not captured: %s", strerror(-r->err));
	if (!err && r->truncated)
		err = buf_puts(out, ", stack truncated");
	if (!err && r->signal)
		err = buf_printf(out, ", delivering signal %d", r->signal);
	if (!err)
		err = buf_printf(out, ", \"%s\"]:\n", name);
	return err;
}

static int write_kernel_frames(const char *kstack, struct buf *out)
{
	const char *line = kstack;
	int err = 0;

	while (line && *line && !err) {
		const char *end = strchr(line, '\n'), *plus;
		size_t len = end ? (size_t)(end - line) : strlen(line);

		plus = memchr(line, '+', len);
		if (plus)
			err = buf_printf(out, "%.*s(...)\n\t[kernel]:0 %.*s\n", (int)(plus - line), line,
					 (int)(len - (size_t)(plus - line)), plus);
		else
			err = buf_printf(out, "%.*s(...)\n\t[kernel]:0\n", (int)len, line);
		line = end ? end + 1 : NULL;
	}
	return err;
}

/* Two lines per frame, inlined frames expanded (innermost first). */
static int write_user_frame(struct symbolizer *sym, uint64_t pc, bool leaf, struct buf *out)
{
	struct sym_result res;
	uint64_t addr = pc - 1; /* samples.h: return addresses and exact pcs + 1 alike */
	uint64_t at = leaf ? addr : pc; /* Go's +0x is from the entry to the return address */
	int err;

	memset(&res, 0, sizeof(res));
	if (!sym || symbolizer__lookup(sym, addr, &res) < 0)
		res.nframes = 0;
	if (res.nframes == 0) {
		const struct sym_mapping *m = res.mapping;

		if (!m)
			return buf_printf(out, "0x%llx(...)\n\t??:0\n", (unsigned long long)at);
		return buf_printf(out, "0x%llx(...)\n\t%s:0 +0x%llx\n", (unsigned long long)at, m->filename,
				  (unsigned long long)(at - m->start + m->file_offset));
	}
	for (int k = 0; k < res.nframes; k++) {
		const struct sym_frame *f = &res.frames[k];
		const char *file = f->file ? f->file : res.mapping ? res.mapping->filename : "??";

		if (f->name || f->system_name)
			err = buf_printf(out, "%s(...)\n", f->name ? f->name : f->system_name);
		else
			err = buf_printf(out, "0x%llx(...)\n", (unsigned long long)at);
		if (err)
			return err;
		if (k + 1 < res.nframes || !f->func_start || f->func_start > at)
			err = buf_printf(out, "\t%s:%d\n", file, f->line);
		else
			err = buf_printf(out, "\t%s:%d +0x%llx\n", file, f->line,
					 (unsigned long long)(at - f->func_start));
		if (err)
			return err;
	}
	return 0;
}

void threads_source__set_creators(struct threads_source *src, threads_creator_fn fn, void *ctx)
{
	src->creator_fn = fn;
	src->creator_ctx = ctx;
}

/* Frames of the C library's thread creation, which a "created by" line skips. */
static bool creation_frame(const char *name)
{
	static const char *const names[] = { "clone", "clone3", "__clone", "__clone3", "__GI___clone",
					     "__GI___clone3", "__clone_internal", "__clone3_internal",
					     "create_thread", "pthread_create", "__pthread_create_2_1",
					     "__pthread_create", "pthread_create@@GLIBC_2.34",
					     "pthread_create@GLIBC_2.2.5", "__clone_internal_fallback" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Go's trailer for a thread created after profd attached:
 *   created by FUNCTION in goroutine TID
 *   \tFILE:LINE +0xOFFSET
 * FUNCTION: the innermost frame outside the module that made the clone syscall (the C library),
 * or, when every frame is in it (a static binary), outside the known creation functions. */
static int write_created_by(struct threads_source *src, int tid, struct buf *out)
{
	uint64_t pcs[64];
	char leaf_module[256] = "";
	int creator = 0, n, pick = -1, fallback = -1;
	struct sym_result res;

	n = src->creator_fn(src->creator_ctx, tid, pcs, 64, &creator);
	for (int pass = 0; pass < 2 && pick < 0; pass++) {
		for (int j = 0; j < n; j++) {
			uint64_t addr = pcs[j] - 1;
			const struct sym_frame *f;
			const char *name, *module;

			memset(&res, 0, sizeof(res));
			if (!src->sym || symbolizer__lookup(src->sym, addr, &res) < 0 || res.nframes == 0)
				continue;
			f = &res.frames[res.nframes - 1]; /* the function the pc is in, not an inlined one */
			name = f->name ? f->name : f->system_name;
			module = res.mapping ? res.mapping->filename : "";
			if (pass == 0) {
				if (j == 0) {
					snprintf(leaf_module, sizeof(leaf_module), "%s", module);
					continue;
				}
				if (fallback < 0 && name && !creation_frame(name) &&
				    !(f->system_name && creation_frame(f->system_name)))
					fallback = j;
				if (strcmp(module, leaf_module) != 0) {
					pick = j;
					break;
				}
			} else if (j == fallback) {
				pick = j;
				break;
			}
		}
	}
	if (pick < 0)
		return 0;
	memset(&res, 0, sizeof(res));
	if (symbolizer__lookup(src->sym, pcs[pick] - 1, &res) < 0 || res.nframes == 0)
		return 0;
	{
		const struct sym_frame *f = &res.frames[res.nframes - 1], *in = &res.frames[0];
		const char *name = f->name ? f->name : f->system_name ? f->system_name : "??";
		const char *file = in->file ? in->file : res.mapping ? res.mapping->filename : "??";
		uint64_t at = pcs[pick];

		if (!in->func_start || in->func_start > at || res.nframes > 1)
			return buf_printf(out, "created by %s in goroutine %d\n\t%s:%d\n", name, creator, file, in->line);
		return buf_printf(out, "created by %s in goroutine %d\n\t%s:%d +0x%llx\n", name, creator, file,
				  in->line, (unsigned long long)(at - in->func_start));
	}
}

/* Whether a pc of the dump falls in m. */
static bool dump_uses(const struct dump *d, const struct sym_mapping *m)
{
	for (size_t i = 0; i < d->n; i++)
		for (int j = 0; j < d->recs[i].npcs; j++)
			if (d->recs[i].pcs[j] - 1 >= m->start && d->recs[i].pcs[j] - 1 < m->limit)
				return true;
	return false;
}

/* Once, before the threads: the binaries of the dump's frames that have no symbol table, and
 * how to get their symbols (pprof_symbols_note), as a comment line Go's text parsers skip.
 * Returns 1 when it wrote the line, 0 when none lacks symbols, or -errno. */
static int write_symbols_note(struct threads_source *src, const struct dump *d, struct buf *out)
{
	const struct sym_mapping *list = NULL, **used = NULL;
	struct buf note = { 0 };
	size_t k = 0;
	int n = 0, err;

	if (!src->sym || symbolizer__mappings(src->sym, &list, &n) != 0 || n <= 0 || !list)
		return 0;
	used = calloc((size_t)n, sizeof(*used));
	if (!used)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		if (list[i].lacks_symbols && dump_uses(d, &list[i]))
			used[k++] = &list[i];
	err = pprof_symbols_note(used, k, &note);
	if (err > 0) {
		err = buf_printf(out, "# profd: %s\n", note.data);
		err = err < 0 ? err : 1;
	}
	buf_free(&note);
	free(used);
	return err;
}

/* A Go program's reader sees "goroutine N" and thinks of goroutine IDs: say, once per dump, that
 * they are its OS threads, and where its goroutines are. A comment line: Go's text parsers skip it. */
static int write_go_note(const struct threads_source *src, struct buf *out)
{
	if (!src->go)
		return 0;
	return buf_printf(out, "# profd: process %d (%s) is a Go program: each \"goroutine N\" below is one of its "
			  "OS threads (N is the thread ID), not a goroutine; its goroutines are served by its own "
			  "net/http/pprof (import _ \"net/http/pprof\", then /debug/pprof/goroutine?debug=2)\n",
			  (int)src->t->pid, src->t->comm);
}

static int write_debug2(struct threads_source *src, const struct dump *d, struct buf *out)
{
	int err = write_go_note(src, out), noted = 0;

	if (!err)
		err = noted = write_symbols_note(src, d, out);
	if (err >= 0)
		err = src->go || noted ? buf_putc(out, '\n') : 0;

	for (size_t i = 0; i < d->n && !err; i++) {
		const struct thread_rec *r = &d->recs[i];

		if (i > 0)
			err = buf_putc(out, '\n');
		if (!err)
			err = write_header(r, out);
		if (!err)
			err = write_kernel_frames(r->kstack, out);
		for (int j = 0; j < r->npcs && !err; j++)
			err = write_user_frame(src->sym, r->pcs[j], j == 0, out);
		if (!err && src->creator_fn)
			err = write_created_by(src, r->tid, out);
	}
	return err;
}

static int build_set(struct threads_source *src, const struct dump *d, struct profd_sample_set **ret)
{
	const struct dump_stats *st = &d->stats;
	struct profd_sample_set *set = sample_set__new(1);
	char line[512];
	int err = 0;

	*ret = NULL;
	if (!set)
		return -ENOMEM;
	set->types[0] = (struct profd_value_type){ "goroutine", "count" };
	set->period_type = (struct profd_value_type){ "goroutine", "count" };
	set->period = 1;
	set->time_nanos = st->time_nanos;
	for (size_t i = 0; i < d->n && !err; i++) {
		const int64_t one = 1;

		err = sample_set__add(set, d->recs[i].pcs, (uint32_t)d->recs[i].npcs, &one, NULL, 0);
	}
	if (err) {
		sample_set__free(set);
		return err;
	}
	sample_set__comment(set, "profd thread dump of pid %d: %zu threads listed, %zu captured, %zu exited "
			    "during the dump, %zu not stopped in time, %zu not permitted, %zu over the limit",
			    src->t->pid, st->listed, st->captured, st->exited, st->timeouts, st->denied,
			    st->skipped);
	if (src->ti)
		sample_set__comment(set, "%zu threads read from the kernel without stopping them (BPF task iterator, "
				    "%u walks), %zu stopped one at a time (on a CPU at every walk), %zu in a syscall "
				    "a stop would fail with EINTR read through /proc", st->iter, st->walks, st->stopped,
				    st->unstopped - st->iter);
	else
		sample_set__comment(set, "%zu threads stopped one at a time (ptrace: %s), %zu in a syscall a stop "
				    "would fail with EINTR (epoll_wait...) read through /proc without stopping them",
				    st->stopped, src->ti_why, st->unstopped);
	if (st->stopped)
		sample_set__comment(set, "each stopped thread was held alone: pause median %llu us, max %llu us; "
				    "dump took %llu ms", (unsigned long long)(st->pause_med_ns / 1000),
				    (unsigned long long)(st->pause_max_ns / 1000),
				    (unsigned long long)(st->took_ns / 1000000));
	else
		sample_set__comment(set, "no thread was stopped; dump took %llu ms",
				    (unsigned long long)(st->took_ns / 1000000));
	stack_tally__sentence(&st->stacks, "captured stacks", line, sizeof(line));
	sample_set__comment(set, "%s", line);
	sample_set__comment(set, "stack copy %zu bytes per thread; %zu stacks truncated by it",
			    src->stack_bytes, st->truncated);
	*ret = set;
	return 0;
}

int threads_source__snapshot(struct threads_source *src, struct profd_sample_set **ret)
{
	struct dump d;
	int err;

	if (!src || !ret)
		return -EINVAL;
	*ret = NULL;
	pthread_mutex_lock(&src->mu);
	err = take_dump_locked(src, &d);
	if (!err)
		err = build_set(src, &d, ret);
	dump_free(&d);
	pthread_mutex_unlock(&src->mu);
	return err;
}

/* debug=1: the note goes after Go's "goroutine profile: total N" line, written from out_len on. */
static int insert_after_header(const struct threads_source *src, struct buf *out, size_t out_len)
{
	struct buf note = { 0 };
	char *nl = memchr(out->data + out_len, '\n', out->len - out_len);
	size_t at, tail;
	int err;

	if (!nl)
		return 0;
	at = (size_t)(nl - out->data) + 1;
	err = write_go_note(src, &note);
	if (!err)
		err = buf_append(out, note.data, note.len); /* room, then move the records past it */
	if (!err) {
		tail = out->len - note.len - at;
		memmove(out->data + at + note.len, out->data + at, tail);
		memcpy(out->data + at, note.data, note.len);
	}
	buf_free(&note);
	return err;
}

int threads_source__dump_text(struct threads_source *src, int debug, struct buf *out)
{
	struct profd_sample_set *set = NULL;
	size_t out_len;
	struct dump d;
	int err;

	if (!src || !out || debug <= 0)
		return -EINVAL;
	out_len = out->len;
	pthread_mutex_lock(&src->mu);
	err = take_dump_locked(src, &d);
	if (err)
		goto cleanup;
	if (debug >= 2) {
		err = write_debug2(src, &d, out);
	} else {
		err = build_set(src, &d, &set);
		if (!err)
			err = pprof_write_count_text("goroutine", set, src->sym, out);
		if (!err && src->go)
			err = insert_after_header(src, out, out_len);
	}
	if (err && out->len != out_len) {
		out->len = out_len; /* leave the buffer as it was */
		out->data[out_len] = '\0';
	}
cleanup:
	sample_set__free(set);
	dump_free(&d);
	pthread_mutex_unlock(&src->mu);
	return err;
}

const char *threads_source__error(struct threads_source *src)
{
	return src ? src->error : "";
}

int threads_source__summary(struct threads_source *src, struct buf *out)
{
	struct dump_stats st;
	char line[512];
	int err;

	if (!src || !out)
		return -EINVAL;
	pthread_mutex_lock(&src->mu);
	st = src->last;
	pthread_mutex_unlock(&src->mu);
	if (!st.valid)
		return -ENODATA;
	stack_tally__sentence(&st.stacks, "captured stacks", line, sizeof(line));
	err = buf_printf(out, "pid %d: %zu threads, %zu captured (%zu without stopping, %zu stopped), %zu exited "
			 "during the dump, %zu not stopped in time, %zu truncated stacks; %s; ", src->t->pid,
			 st.listed, st.captured, st.unstopped, st.stopped, st.exited, st.timeouts, st.truncated, line);
	if (!err && st.stopped)
		err = buf_printf(out, "pause per stopped thread median %.1f us, max %.1f us; ",
				 (double)st.pause_med_ns / 1000.0, (double)st.pause_max_ns / 1000.0);
	else if (!err)
		err = buf_puts(out, "no thread stopped; ");
	if (!err)
		err = buf_printf(out, "dump took %.1f ms", (double)st.took_ns / 1e6);
	/* a set's sources share one method, which the set says once */
	if (!err && !src->ti && src->own_ti) {
		err = buf_puts(out, "; ");
		if (!err)
			err = threads_method_describe(NULL, src->ti_why, out);
	}
	return err;
}

int threads_method_describe(const struct taskiter *ti, const char *why, struct buf *out)
{
	if (ti)
		return buf_puts(out, "threads off CPU are read by a BPF task iterator without stopping them");
	return buf_printf(out, "every thread is stopped to be read (ptrace): %s", why);
}

static int profile_count(void *ctx)
{
	struct threads_source *src = ctx;

	return target_thread_count(src->t);
}

static int profile_snapshot(void *ctx, const struct profd_scope *scope, struct profd_sample_set **ret)
{
	return threads_source__snapshot(ctx, ret);
}

static int profile_write_text(void *ctx, const struct profd_scope *scope, int debug, struct buf *out)
{
	return threads_source__dump_text(ctx, debug, out);
}

static int profile_explain(void *ctx, int err, struct buf *out)
{
	struct threads_source *src = ctx;
	int ret = 0;

	if (err != -EPERM)
		return 0;
	pthread_mutex_lock(&src->mu);
	if (src->denied[0]) {
		buf_printf(out, "cannot stop the threads of process %d: %s", (int)src->t->pid, src->denied);
		ret = src->denied_traced ? -EBUSY : err;
	}
	pthread_mutex_unlock(&src->mu);
	return ret;
}

static int profile_status(void *ctx, struct buf *out)
{
	struct threads_source *src = ctx;
	int err = threads_source__summary(src, out);

	/* before the first dump: how dumps will be taken */
	if (err == -ENODATA)
		err = threads_method_describe(src->ti, src->ti_why, out);
	if (!err && src->go)
		err = buf_printf(out, "; a Go program: these are its OS threads, not its goroutines (those are in its "
				 "own net/http/pprof)");
	return err;
}

void threads_source__profile(struct threads_source *src, struct profd_profile *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->name = "goroutine";
	ret->description = "Stack traces of all current threads (each thread shown as a goroutine). "
			   "Use debug=2 as a query parameter to export in the same format as an unrecovered panic.";
	ret->ctx = src;
	ret->count = profile_count;
	ret->snapshot = profile_snapshot;
	ret->write_text = profile_write_text;
	ret->status = profile_status;
	ret->explain = profile_explain;
}

struct taskiter *threads_taskiter_new(pid_t pid, size_t stack_bytes, enum threads_method method, char *why,
				      size_t whylen)
{
	struct taskiter *ti = NULL;
	char reason[384];

	stack_bytes = stack_bytes ? stack_bytes : THREADS_DEFAULT_STACK_BYTES;
	if (method == THREADS_METHOD_PTRACE)
		snprintf(why, whylen, "the BPF task iterator is turned off (--thread-dump ptrace)");
	else if (stack_bytes > PROFD_TASKITER_MAX_STACK)
		snprintf(why, whylen, "the BPF task iterator copies at most %u stack bytes", PROFD_TASKITER_MAX_STACK);
	else if (taskiter__new(pid, stack_bytes, &ti, reason, sizeof(reason)))
		snprintf(why, whylen, "the BPF task iterator is unavailable: %s", reason);
	return ti;
}

static bool exe_is_go(pid_t pid)
{
	char path[64];
	bool go;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)proc_live_pid(pid));
	fd = proc_open_regular(path);
	if (fd < 0)
		return false;
	go = alloc_elf_is_go(fd);
	close(fd);
	return go;
}

static struct threads_source *source_new(const struct target *t, struct unwinder *uw, struct symbolizer *sym,
					 size_t stack_bytes)
{
	struct threads_source *src;

	if (!t || t->pid <= 0 || stack_bytes > PTRACE_CAPTURE_MAX_STACK) {
		errno = EINVAL;
		return NULL;
	}
	src = calloc(1, sizeof(*src));
	if (!src) {
		errno = ENOMEM;
		return NULL;
	}
	src->t = t;
	src->uw = uw;
	src->sym = sym;
	src->stack_bytes = stack_bytes ? stack_bytes : THREADS_DEFAULT_STACK_BYTES;
	src->go = exe_is_go(t->pid);
	pthread_mutex_init(&src->mu, NULL);
	return src;
}

struct threads_source *threads_source__new_method(const struct target *t, struct unwinder *uw,
						  struct symbolizer *sym, size_t stack_bytes,
						  enum threads_method method)
{
	struct threads_source *src;

	if (method != THREADS_METHOD_AUTO && method != THREADS_METHOD_PTRACE) {
		errno = EINVAL;
		return NULL;
	}
	src = source_new(t, uw, sym, stack_bytes);
	if (!src)
		return NULL;
	src->ti = threads_taskiter_new(t->pid, src->stack_bytes, method, src->ti_why, sizeof(src->ti_why));
	src->own_ti = true;
	return src;
}

struct threads_source *threads_source__new_shared(const struct target *t, struct unwinder *uw,
						  struct symbolizer *sym, size_t stack_bytes, struct taskiter *ti,
						  const char *why)
{
	struct threads_source *src = source_new(t, uw, sym, stack_bytes);

	if (!src)
		return NULL;
	src->ti = ti;
	if (!ti)
		snprintf(src->ti_why, sizeof(src->ti_why), "%s", why ? why : "");
	return src;
}

struct threads_source *threads_source__new(const struct target *t, struct unwinder *uw,
					   struct symbolizer *sym, size_t stack_bytes)
{
	return threads_source__new_method(t, uw, sym, stack_bytes, THREADS_METHOD_AUTO);
}

bool threads_source__iterator(const struct threads_source *src, const char **ret_why)
{
	if (ret_why)
		*ret_why = src && !src->ti ? src->ti_why : "";
	return src && src->ti;
}

void threads_source__free(struct threads_source *src)
{
	if (!src)
		return;
	if (src->own_ti)
		taskiter__free(src->ti);
	else
		taskiter__forget(src->ti, src->t->pid); /* a set drops a source when its process ends */
	pthread_mutex_destroy(&src->mu);
	free(src);
}

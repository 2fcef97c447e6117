// SPDX-License-Identifier: MIT
/* Fd profile source (see fd.h): owns bpf/fd.bpf.c, its ring buffer and the table of live
 * descriptors. Threads: the demand manager (demand.h) attaches at start-up (--fd always) or
 * at the first request, detaches after --fd-idle without one (demand), and drains the ring buffer (unwinding each creation); requests read the table; the set's
 * listener adds and drops processes. `lock` guards the skeleton, the ring buffer, the table
 * and the counters.
 *
 * Records are applied in ring order, which is the order the programs reserved them: a close is
 * reported at its entry, before the kernel frees the number, and a creation at its exit, after
 * the kernel installed it, so a number reused by another thread is always closed before it is
 * created again. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/types.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fd.skel.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/words.h"
#include "bpf/fd.h"
#include "pprof/pprof.h"
#include "proc/target.h"
#include "set/procs.h"
#include "sources/demand.h"
#include "sources/fd.h"
#include "sources/probeframes.h"
#include "sources/tgidmap.h"
#include "stacks/complete.h"
#include "stacks/unwind.h"
#include "symbols/frame.h"

#define POLL_MS 100
#define PROC_PID_INIT_INO 0xEFFFFFFCu
#define ENTRY_BUCKETS (1u << 16)
#define STACK_BUCKETS (1u << 14)
/* a close_range wider than this walks the process's entries instead of the numbers */
#define CLOSE_WALK 64

/* A distinct opening stack of one process (and syscall), with the descriptors open from it. */
struct fd_stack {
	uint64_t hash;
	uint64_t *pcs;
	int32_t pid;
	int32_t syscall; /* -1 for the synthetic stacks (before attach, unseen) */
	uint32_t nframes;
	uint32_t live;   /* descriptors open from it now; at 0 the stack is freed */
	uint32_t next;   /* hash chain or free list: index + 1, 0 ends it */
};

/* One live descriptor. */
struct fd_entry {
	int32_t pid, fd;
	uint32_t stack; /* index + 1 */
	uint32_t next;  /* hash chain or free list: index + 1 */
	uint64_t gen;   /* the record that created it (0: read from /proc) */
};

struct fd_source {
	struct procs *ps;
	bool multi;
	struct demand *demand;
	char what[96];
	uint64_t pidns_dev, pidns_ino;
	struct tgidmap tgids;

	pthread_mutex_t lock; /* everything below */
	struct fd_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[3];
	int stats_fd;
	bool said_no_stats;
	int64_t since;        /* CLOCK_REALTIME of the attach */
	int64_t attached_mono;
	uint64_t gen;         /* records applied */

	struct fd_entry *entries;
	uint32_t nentries, entries_cap, entry_free, live;
	uint32_t *entry_buckets;
	struct fd_stack *stacks;
	uint32_t nstacks, stacks_cap, stack_free, live_stacks;
	uint32_t *stack_buckets;

	/* counters since the attach */
	uint64_t creates, closes, execs, before, dropped_live, dropped_stacks, reconciled;
	struct stack_tally stacks_seen; /* creation stacks by the rule of stacks/complete.h */
	uint64_t prog_ns, prog_runs; /* of earlier attachments */
};

/* ---- pure parts ---- */

int fd_kind_of(const char *link, int is_dir)
{
	static const struct {
		const char *prefix;
		int kind;
	} kinds[] = {
		{ "socket:", SYM_SYNTHETIC_FD_SOCKET },
		{ "pipe:", SYM_SYNTHETIC_FD_PIPE },
		{ "anon_inode:[eventfd]", SYM_SYNTHETIC_FD_EVENTFD },
		{ "anon_inode:[eventpoll]", SYM_SYNTHETIC_FD_EPOLL },
		{ "anon_inode:[timerfd]", SYM_SYNTHETIC_FD_TIMERFD },
		{ "anon_inode:[signalfd]", SYM_SYNTHETIC_FD_SIGNALFD },
		{ "anon_inode:inotify", SYM_SYNTHETIC_FD_INOTIFY },
		{ "anon_inode:[pidfd]", SYM_SYNTHETIC_FD_PIDFD },
		{ "anon_inode:bpf", SYM_SYNTHETIC_FD_BPF },
		{ "anon_inode:[perf_event]", SYM_SYNTHETIC_FD_PERF_EVENT },
		{ "anon_inode:", SYM_SYNTHETIC_FD_ANON },
		{ "/dev/", SYM_SYNTHETIC_FD_DEVICE },
	};

	if (!link || !*link)
		return SYM_SYNTHETIC_FD_OTHER;
	if (is_dir && link[0] == '/')
		return SYM_SYNTHETIC_FD_DIRECTORY;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strncmp(link, kinds[i].prefix, strlen(kinds[i].prefix)) == 0)
			return kinds[i].kind;
	return SYM_SYNTHETIC_FD_FILE; /* a path, /memfd:x, a pidfd of older kernels' anon files */
}

const char *fd_syscall_name(int nr, char *buf, size_t len)
{
	static const struct {
		int nr;
		const char *name;
	} names[] = {
		{ PROFD_SYS_OPEN, "open" }, { PROFD_SYS_PIPE, "pipe" }, { PROFD_SYS_DUP, "dup" },
		{ PROFD_SYS_DUP2, "dup2" }, { PROFD_SYS_SOCKET, "socket" }, { PROFD_SYS_ACCEPT, "accept" },
		{ PROFD_SYS_SOCKETPAIR, "socketpair" }, { PROFD_SYS_FCNTL, "fcntl" }, { PROFD_SYS_CREAT, "creat" },
		{ PROFD_SYS_EPOLL_CREATE, "epoll_create" }, { PROFD_SYS_INOTIFY_INIT, "inotify_init" },
		{ PROFD_SYS_OPENAT, "openat" }, { PROFD_SYS_SIGNALFD, "signalfd" },
		{ PROFD_SYS_TIMERFD_CREATE, "timerfd_create" }, { PROFD_SYS_EVENTFD, "eventfd" },
		{ PROFD_SYS_ACCEPT4, "accept4" }, { PROFD_SYS_SIGNALFD4, "signalfd4" },
		{ PROFD_SYS_EVENTFD2, "eventfd2" }, { PROFD_SYS_EPOLL_CREATE1, "epoll_create1" },
		{ PROFD_SYS_DUP3, "dup3" }, { PROFD_SYS_PIPE2, "pipe2" }, { PROFD_SYS_INOTIFY_INIT1, "inotify_init1" },
		{ PROFD_SYS_PERF_EVENT_OPEN, "perf_event_open" }, { PROFD_SYS_FANOTIFY_INIT, "fanotify_init" },
		{ PROFD_SYS_OPEN_BY_HANDLE_AT, "open_by_handle_at" }, { PROFD_SYS_MEMFD_CREATE, "memfd_create" },
		{ PROFD_SYS_BPF, "bpf" }, { PROFD_SYS_USERFAULTFD, "userfaultfd" },
		{ PROFD_SYS_IO_URING_SETUP, "io_uring_setup" }, { PROFD_SYS_PIDFD_OPEN, "pidfd_open" },
		{ PROFD_SYS_OPENAT2, "openat2" }, { PROFD_SYS_PIDFD_GETFD, "pidfd_getfd" },
		{ PROFD_SYS_MEMFD_SECRET, "memfd_secret" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].nr == nr) {
			snprintf(buf, len, "%s", names[i].name);
			return buf;
		}
	}
	snprintf(buf, len, "syscall %d", nr);
	return buf;
}

/* ---- the table ---- */

static uint64_t stack_hash(int32_t pid, int32_t syscall, const uint64_t *pcs, uint32_t n)
{
	uint64_t h = 1469598103934665603ull ^ ((uint64_t)(uint32_t)pid << 32 | (uint32_t)syscall);

	for (uint32_t i = 0; i < n; i++) {
		h ^= pcs[i];
		h *= 1099511628211ull;
		h ^= h >> 29;
	}
	return h;
}

/* The stack record for (pid, syscall, pcs), created if needed, with one more live descriptor.
 * Returns its index + 1, or 0 when FD_MAX_STACKS are in use or out of memory. Caller holds lock. */
static uint32_t stack_ref(struct fd_source *f, int32_t pid, int32_t syscall, const uint64_t *pcs, uint32_t n)
{
	uint64_t h = stack_hash(pid, syscall, pcs, n);
	uint32_t *b = &f->stack_buckets[h & (STACK_BUCKETS - 1)], i;
	struct fd_stack *s;

	for (i = *b; i; i = f->stacks[i - 1].next) {
		s = &f->stacks[i - 1];
		if (s->hash == h && s->pid == pid && s->syscall == syscall && s->nframes == n &&
		    memcmp(s->pcs, pcs, n * sizeof(*pcs)) == 0) {
			s->live++;
			return i;
		}
	}
	if (f->stack_free) {
		i = f->stack_free;
		f->stack_free = f->stacks[i - 1].next;
	} else {
		if (f->nstacks >= FD_MAX_STACKS)
			return 0;
		if (f->nstacks == f->stacks_cap) {
			uint32_t cap = f->stacks_cap ? f->stacks_cap * 2 : 256;
			struct fd_stack *ns = realloc(f->stacks, cap * sizeof(*ns));

			if (!ns)
				return 0;
			f->stacks = ns;
			f->stacks_cap = cap;
		}
		i = ++f->nstacks;
	}
	s = &f->stacks[i - 1];
	s->pcs = malloc((n ? n : 1) * sizeof(*pcs));
	if (!s->pcs) {
		s->next = f->stack_free;
		f->stack_free = i;
		return 0;
	}
	memcpy(s->pcs, pcs, n * sizeof(*pcs));
	s->hash = h;
	s->pid = pid;
	s->syscall = syscall;
	s->nframes = n;
	s->live = 1;
	s->next = *b;
	*b = i;
	f->live_stacks++;
	return i;
}

/* One descriptor less from stack i (index + 1); the last one frees it. Caller holds lock. */
static void stack_unref(struct fd_source *f, uint32_t i)
{
	struct fd_stack *s = &f->stacks[i - 1];
	uint32_t *p;

	if (--s->live)
		return;
	for (p = &f->stack_buckets[s->hash & (STACK_BUCKETS - 1)]; *p && *p != i; p = &f->stacks[*p - 1].next)
		;
	if (*p == i)
		*p = s->next;
	free(s->pcs);
	s->pcs = NULL;
	s->next = f->stack_free;
	f->stack_free = i;
	f->live_stacks--;
}

static uint32_t entry_bucket(int32_t pid, int32_t fd)
{
	uint64_t h = ((uint64_t)(uint32_t)pid << 32 | (uint32_t)fd) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 48) & (ENTRY_BUCKETS - 1);
}

/* The link that points to (pid, fd)'s entry; *link is 0 when there is none. */
static uint32_t *entry_link(struct fd_source *f, int32_t pid, int32_t fd)
{
	uint32_t *p = &f->entry_buckets[entry_bucket(pid, fd)];

	while (*p && !(f->entries[*p - 1].pid == pid && f->entries[*p - 1].fd == fd))
		p = &f->entries[*p - 1].next;
	return p;
}

static void entry_unlink(struct fd_source *f, uint32_t *link)
{
	uint32_t i = *link;
	struct fd_entry *e = &f->entries[i - 1];

	*link = e->next;
	stack_unref(f, e->stack);
	e->pid = -1; /* free */
	e->next = f->entry_free;
	f->entry_free = i;
	f->live--;
}

/* (pid, fd) is open from stack (index + 1, referenced: the entry takes the reference, or drops
 * it when the table is full). Replaces what the number had (dup2 onto an open descriptor).
 * Caller holds lock. */
static void entry_set(struct fd_source *f, int32_t pid, int32_t fd, uint32_t stack, uint64_t gen)
{
	uint32_t *link = entry_link(f, pid, fd), i;
	struct fd_entry *e;

	if (*link) {
		e = &f->entries[*link - 1];
		stack_unref(f, e->stack);
		e->stack = stack;
		e->gen = gen;
		return;
	}
	if (f->entry_free) {
		i = f->entry_free;
		f->entry_free = f->entries[i - 1].next;
	} else {
		if (f->nentries >= FD_MAX_LIVE)
			goto full;
		if (f->nentries == f->entries_cap) {
			uint32_t cap = f->entries_cap ? f->entries_cap * 2 : 1024;
			struct fd_entry *ne = realloc(f->entries, cap * sizeof(*ne));

			if (!ne)
				goto full;
			f->entries = ne;
			f->entries_cap = cap;
		}
		i = ++f->nentries;
	}
	e = &f->entries[i - 1];
	e->pid = pid;
	e->fd = fd;
	e->stack = stack;
	e->gen = gen;
	e->next = *link;
	*link = i;
	f->live++;
	return;
full:
	f->dropped_live++;
	stack_unref(f, stack);
}

static void entry_drop(struct fd_source *f, int32_t pid, int32_t fd)
{
	uint32_t *link = entry_link(f, pid, fd);

	if (*link)
		entry_unlink(f, link);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return x < y ? -1 : x > y;
}

static bool holds(const int *open, size_t n, int fd)
{
	return bsearch(&fd, open, n, sizeof(*open), cmp_int) != NULL;
}

/* Drops pid's entries with lo <= fd <= hi whose gen is at most max_gen and, when open (sorted,
 * n) is given, whose number it does not hold. Walks the entries, not the buckets: a process
 * that ends costs what the table holds. Returns how many. Caller holds lock. */
static uint64_t drop_where(struct fd_source *f, int32_t pid, int32_t lo, int32_t hi, uint64_t max_gen,
			   const int *open, size_t n)
{
	uint64_t dropped = 0;

	for (uint32_t i = 0; i < f->nentries; i++) {
		const struct fd_entry *e = &f->entries[i];

		if (e->pid != pid || e->fd < lo || e->fd > hi || e->gen > max_gen || (open && holds(open, n, e->fd)))
			continue;
		entry_unlink(f, entry_link(f, pid, e->fd));
		dropped++;
	}
	return dropped;
}

/* ---- /proc/PID/fd ---- */

/* The descriptor numbers pid has open now, sorted, into *ret (the caller frees). Returns the
 * count, -ENOENT when the process is gone, or -errno. */
static int read_open_fds(pid_t pid, int **ret)
{
	char path[64];
	struct dirent *d;
	size_t n = 0, cap = 64;
	int *v = malloc(cap * sizeof(*v)), err = 0;
	DIR *dir;

	*ret = NULL;
	if (!v)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir) {
		err = -errno;
		free(v);
		return err;
	}
	while ((d = readdir(dir))) {
		char *end;
		long fd;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		fd = strtol(d->d_name, &end, 10);
		if (*end || fd < 0 || fd > INT_MAX)
			continue;
		if (n == cap) {
			int *nv = n >= FD_MAX_LIVE ? NULL : realloc(v, cap * 2 * sizeof(*v));

			if (!nv)
				break; /* bounded: the rest is not read */
			v = nv;
			cap *= 2;
		}
		v[n++] = (int)fd;
	}
	closedir(dir);
	qsort(v, n, sizeof(*v), cmp_int);
	*ret = v;
	return (int)n;
}

/* What /proc/PID/fd/N points to now ("" when it is gone), and whether it is a directory. */
static void read_link(pid_t pid, int fd, char *out, size_t len, int *is_dir)
{
	char path[64];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, out, len - 1);
	out[n > 0 ? n : 0] = '\0';
	*is_dir = n > 0 && out[0] == '/' && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The synthetic stack of a descriptor without a creation: [its kind, under]. */
static void synthetic_stack(pid_t pid, int fd, int under, uint64_t pcs[2])
{
	char link[PATH_MAX];
	int is_dir;

	read_link(pid, fd, link, sizeof(link), &is_dir);
	pcs[0] = sample_pc_exact(sym_synthetic_addr((enum sym_synthetic)fd_kind_of(link, is_dir)));
	pcs[1] = sample_pc_exact(sym_synthetic_addr((enum sym_synthetic)under));
}

/* Enters the descriptors pid has now that the table does not know as opened before profd
 * attached. Caller holds lock. */
static void add_before(struct fd_source *f, pid_t pid)
{
	int *open = NULL, n = read_open_fds(pid, &open);

	for (int i = 0; i < n; i++) {
		uint64_t pcs[2];
		uint32_t s;

		if (*entry_link(f, pid, open[i]))
			continue;
		synthetic_stack(pid, open[i], SYM_SYNTHETIC_FD_BEFORE_ATTACH, pcs);
		s = stack_ref(f, pid, -1, pcs, 2);
		if (!s) {
			f->dropped_stacks++;
			continue;
		}
		entry_set(f, pid, open[i], s, 0);
		f->before++;
	}
	free(open);
}

/* ---- the ring buffer ---- */

static void on_create(struct fd_source *f, const struct profd_fd_event *e, size_t size)
{
	const size_t hdr = offsetof(struct profd_fd_event, stack);
	uint64_t pcs[PROFD_MAX_FRAMES];
	enum unwind_stop why = UNWIND_STOP_ERROR;
	struct unwind_regs regs;
	struct unwind_stack stack = { 0 };
	struct probe_fix fix;
	struct proc *p;
	uint32_t s;
	int n = 0;

	if (size < hdr)
		return;
	f->creates += e->h.fd2 >= 0 ? 2 : 1;
	p = procs__get(f->ps, (pid_t)e->h.tgid);
	memcpy(regs.r, e->regs, sizeof(regs.r));
	stack.start = e->regs[UNWIND_REG_RSP];
	stack.data = e->stack;
	stack.len = e->h.stack_len < size - hdr ? e->h.stack_len : size - hdr;
	probe_fix_sample(&e->up, &regs, &stack, &fix);
	if (p && p->uw) {
		n = unwinder__unwind(p->uw, &regs, &stack, pcs, PROFD_MAX_FRAMES, &why);
		if (n < 0)
			n = 0;
	}
	proc__put(p);
	if (n == 0 && regs.r[UNWIND_REG_RIP]) {
		pcs[0] = sample_pc_exact(regs.r[UNWIND_REG_RIP]);
		n = 1;
	}
	if (fix.leaf_is_return && n > 0)
		pcs[0] = regs.r[UNWIND_REG_RIP];
	stack_tally__add(&f->stacks_seen, n, why);
	for (int k = 0; k < 2; k++) {
		int32_t fd = k ? e->h.fd2 : e->h.fd;

		if (fd < 0)
			continue;
		s = stack_ref(f, (int32_t)e->h.tgid, e->h.syscall, pcs, (uint32_t)n);
		if (!s) {
			f->dropped_stacks++;
			entry_drop(f, (int32_t)e->h.tgid, fd); /* the number is not what the table said */
			continue;
		}
		entry_set(f, (int32_t)e->h.tgid, fd, s, f->gen);
	}
}

/* The descriptors of pid still open after its exec are the ones /proc lists now: the ones it
 * closed since are closed in the table anyway, and ones it opened since come in later records. */
static void on_exec(struct fd_source *f, pid_t pid)
{
	int *open = NULL, n = read_open_fds(pid, &open);

	f->execs++;
	if (n >= 0)
		drop_where(f, pid, 0, INT32_MAX, UINT64_MAX, open, (size_t)n);
	else if (n == -ENOENT)
		drop_where(f, pid, 0, INT32_MAX, UINT64_MAX, NULL, 0);
	free(open);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct fd_source *f = ctx;
	const struct profd_fd_head *h = data;

	if (size < sizeof(*h))
		return 0;
	f->gen++;
	switch (h->kind) {
	case PROFD_FD_CREATE:
		on_create(f, data, size);
		break;
	case PROFD_FD_CLOSE:
		f->closes++;
		if (h->fd2 - h->fd < CLOSE_WALK)
			for (int32_t fd = h->fd; fd <= h->fd2; fd++)
				entry_drop(f, (int32_t)h->tgid, fd);
		else
			drop_where(f, (int32_t)h->tgid, h->fd, h->fd2, UINT64_MAX, NULL, 0);
		break;
	case PROFD_FD_EXEC:
		on_exec(f, (pid_t)h->tgid);
		break;
	}
	return 0;
}

/* ---- attachment (the demand manager's thread) ---- */

static void on_proc_came(void *ctx, struct proc *p)
{
	struct fd_source *f = ctx;

	pthread_mutex_lock(&f->lock);
	/* a process that joins the set later: what it has is what it had before profd followed it
	 * (its creations since its fork, already in the ring, replace these entries) */
	if (f->skel)
		add_before(f, p->target.pid);
	pthread_mutex_unlock(&f->lock);
}

static void on_proc_went(void *ctx, struct proc *p)
{
	struct fd_source *f = ctx;

	pthread_mutex_lock(&f->lock);
	if (f->rb)
		ring_buffer__consume(f->rb);
	drop_where(f, p->target.pid, 0, INT32_MAX, UINT64_MAX, NULL, 0);
	pthread_mutex_unlock(&f->lock);
}

/* BPF run time and runs of the attached programs so far. Caller holds lock. */
static void prog_cost(const struct fd_source *f, uint64_t *ns, uint64_t *runs)
{
	struct bpf_program *progs[3] = { f->skel->progs.on_sys_enter, f->skel->progs.on_sys_exit,
					 f->skel->progs.on_exec };

	*ns = 0;
	*runs = 0;
	for (int i = 0; i < 3; i++) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(bpf_program__fd(progs[i]), &info, &len) == 0) {
			*ns += info.run_time_ns;
			*runs += info.run_cnt;
		}
	}
}

static void teardown(struct fd_source *f)
{
	for (int i = 0; i < 3; i++) {
		bpf_link__destroy(f->links[i]);
		f->links[i] = NULL;
	}
	ring_buffer__free(f->rb);
	f->rb = NULL;
	fd_bpf__destroy(f->skel);
	f->skel = NULL;
	if (f->stats_fd >= 0)
		close(f->stats_fd);
	f->stats_fd = -1;
}

/* Empties the table. Caller holds lock. */
static void table_clear(struct fd_source *f)
{
	for (uint32_t i = 0; i < f->nstacks; i++)
		free(f->stacks[i].pcs);
	free(f->stacks);
	free(f->entries);
	f->stacks = NULL;
	f->entries = NULL;
	f->nstacks = f->stacks_cap = f->stack_free = f->live_stacks = 0;
	f->nentries = f->entries_cap = f->entry_free = f->live = 0;
	memset(f->entry_buckets, 0, ENTRY_BUCKETS * sizeof(*f->entry_buckets));
	memset(f->stack_buckets, 0, STACK_BUCKETS * sizeof(*f->stack_buckets));
}

static int fd_attach(void *ctx, char *err, size_t errlen)
{
	struct fd_source *f = ctx;
	const char *step = "open";
	struct proc **list = NULL;
	int r, n = 0;

	pthread_mutex_lock(&f->lock);
	table_clear(f);
	f->creates = f->closes = f->execs = f->before = f->dropped_live = f->dropped_stacks = 0;
	f->reconciled = f->prog_ns = f->prog_runs = 0;
	f->stacks_seen = (struct stack_tally){ 0 };
	f->skel = fd_bpf__open();
	if (!f->skel) {
		r = -errno;
		goto fail;
	}
	f->skel->rodata->pidns_dev = f->pidns_dev;
	f->skel->rodata->pidns_ino = f->pidns_ino;
	f->skel->rodata->stack_bytes = PROFD_FD_STACK_BYTES;
	f->skel->rodata->wakeup_bytes = FD_RING_BYTES / 4;
	r = bpf_map__set_max_entries(f->skel->maps.events, FD_RING_BYTES);
	if (!r)
		r = tgidmap__prepare(&f->tgids, f->skel->maps.tgids, f->skel->progs.on_fork,
				     (bool *)&f->skel->rodata->follow_forks, f->pidns_ino != 0);
	if (r)
		goto fail;
	step = "load";
	r = fd_bpf__load(f->skel);
	if (r)
		goto fail;
	step = "attach";
	f->rb = ring_buffer__new(bpf_map__fd(f->skel->maps.events), on_event, f, NULL);
	if (!f->rb) {
		r = -errno;
		goto fail;
	}
	/* the programs first, then the filter, then /proc: a descriptor created in between is in
	 * both, and its record (applied later) replaces the entry read from /proc */
	f->links[0] = bpf_program__attach(f->skel->progs.on_sys_enter);
	f->links[1] = bpf_program__attach(f->skel->progs.on_sys_exit);
	f->links[2] = bpf_program__attach(f->skel->progs.on_exec);
	if (!f->links[0] || !f->links[1] || !f->links[2]) {
		r = -errno;
		goto fail;
	}
	pthread_mutex_unlock(&f->lock);
	r = tgidmap__attach(&f->tgids, f->skel->maps.tgids, f->skel->progs.on_fork, "fd");
	pthread_mutex_lock(&f->lock);
	if (r < 0)
		goto fail;
	f->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (f->stats_fd < 0 && !f->said_no_stats) {
		f->said_no_stats = true;
		log_debug("fd: BPF run time statistics unavailable (%s)", strerror(errno));
	}
	f->since = profd_now_nanos();
	f->attached_mono = profd_mono_ns();
	n = procs__list(f->ps, &list);
	for (int i = 0; i < n; i++)
		if (!proc__exited(f->ps, list[i]))
			add_before(f, list[i]->target.pid);
	procs__list_free(list, n > 0 ? n : 0);
	pthread_mutex_unlock(&f->lock);
	return 0;

fail:
	pthread_mutex_unlock(&f->lock);
	tgidmap__detach(&f->tgids);
	pthread_mutex_lock(&f->lock);
	teardown(f);
	pthread_mutex_unlock(&f->lock);
	snprintf(err, errlen, "cannot %s the fd profile's BPF programs (sys_enter, sys_exit, sched_process_exec): "
		 "%s%s", step, strerror(-r),
		 r == -EPERM || r == -EACCES ? " (profd needs CAP_BPF and CAP_PERFMON, or root)" : "");
	return r;
}

static void fd_detach(void *ctx)
{
	struct fd_source *f = ctx;

	tgidmap__detach(&f->tgids);
	pthread_mutex_lock(&f->lock);
	if (f->rb)
		ring_buffer__consume(f->rb);
	if (f->skel) {
		uint64_t ns, runs;

		prog_cost(f, &ns, &runs);
		f->prog_ns += ns;
		f->prog_runs += runs;
	}
	teardown(f);
	/* what the table holds stops being true once nothing watches: a snapshot must not show it */
	table_clear(f);
	pthread_mutex_unlock(&f->lock);
}

static void fd_poll(void *ctx)
{
	struct fd_source *f = ctx;
	struct epoll_event ev;
	int fd = -1;

	pthread_mutex_lock(&f->lock);
	if (f->rb)
		fd = ring_buffer__epoll_fd(f->rb);
	pthread_mutex_unlock(&f->lock);
	/* only the manager detaches: rb lives across this wait */
	if (fd >= 0)
		epoll_wait(fd, &ev, 1, POLL_MS);
	pthread_mutex_lock(&f->lock);
	if (f->rb)
		ring_buffer__consume(f->rb);
	pthread_mutex_unlock(&f->lock);
}

static const struct demand_ops fd_demand_ops = {
	.attach = fd_attach,
	.detach = fd_detach,
	.poll = fd_poll,
};

static const struct word fd_modes[] = {
	{ "demand", FD_MODE_DEMAND },
	{ "always", FD_MODE_ALWAYS },
	{ "off", FD_MODE_OFF },
};

int fd_mode_parse(const char *s, enum fd_mode *ret, char *err, size_t errlen)
{
	int v, r = words_parse(s, fd_modes, sizeof(fd_modes) / sizeof(fd_modes[0]), "--fd", &v, err, errlen);

	if (r == 0)
		*ret = (enum fd_mode)v;
	return r;
}

int fd_source__new(struct procs *ps, const struct fd_config *cfg, struct fd_source **ret, char *err,
		   size_t errlen)
{
	struct procs_listener l = { .came = on_proc_came, .went = on_proc_went };
	struct fd_source *f;
	struct stat st;
	int r;

	*ret = NULL;
	f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	f->ps = ps;
	f->multi = procs__multi(ps);
	f->stats_fd = -1;
	pthread_mutex_init(&f->lock, NULL);
	if (stat("/proc/self/ns/pid", &st) == 0 && st.st_ino != PROC_PID_INIT_INO) {
		f->pidns_dev = (uint64_t)st.st_dev;
		f->pidns_ino = (uint64_t)st.st_ino;
	}
	f->entry_buckets = calloc(ENTRY_BUCKETS, sizeof(*f->entry_buckets));
	f->stack_buckets = calloc(STACK_BUCKETS, sizeof(*f->stack_buckets));
	if (!f->entry_buckets || !f->stack_buckets || tgidmap__init(&f->tgids, ps) < 0) {
		fd_source__free(f);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	l.ctx = f;
	/* before the attach: came() for the current members finds nothing attached (the attach
	 * reads them itself) */
	r = procs__listen(ps, &l);
	if (r < 0) {
		fd_source__free(f);
		snprintf(err, errlen, "too many listeners of the process set");
		return r;
	}
	snprintf(f->what, sizeof(f->what), "fd tracking of %s", procset__describe(procs__set(ps)));
	{
		struct demand_config dc = {
			.what = f->what,
			.idle_flag = "--fd-idle",
			.always = cfg->mode == FD_MODE_ALWAYS,
			.idle_ns = cfg->idle_ns > 0 ? cfg->idle_ns : FD_DEFAULT_IDLE_NS,
			.max_windows = 4,
		};

		r = demand__new(&dc, &fd_demand_ops, f, &f->demand, err, errlen);
	}
	if (r < 0) {
		fd_source__free(f);
		return r;
	}
	*ret = f;
	return 0;
}

void fd_source__free(struct fd_source *f)
{
	if (!f)
		return;
	procs__unlisten(f->ps, f);
	demand__free(f->demand); /* detaches first */
	tgidmap__fini(&f->tgids);
	pthread_mutex_lock(&f->lock);
	teardown(f);
	if (f->entry_buckets && f->stack_buckets)
		table_clear(f);
	pthread_mutex_unlock(&f->lock);
	free(f->entry_buckets);
	free(f->stack_buckets);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* ---- output ---- */

/* One descriptor of a view: its number and the stack it was opened from (index + 1; 0: open,
 * but not seen created, with kind its synthetic kind). */
struct fd_item {
	int32_t pid, fd;
	uint32_t stack;
};

/* The table checked against /proc for the processes in scope (scope_pid 0: all): entries of
 * numbers no longer open leave it (closed where no record says so, io_uring), and ret lists
 * every descriptor open, sorted by process and number, with its stack (0 for numbers open
 * that the table does not know). Caller holds lock. Returns the count or -ENOMEM; the caller
 * frees *ret. */
static int reconcile(struct fd_source *f, pid_t scope_pid, struct fd_item **ret)
{
	struct proc **list = NULL;
	struct fd_item *items = NULL;
	size_t nitems = 0, cap = 0;
	int n, r = 0;

	*ret = NULL;
	n = procs__list(f->ps, &list);
	if (n < 0)
		return n;
	for (int i = 0; i < n && r == 0; i++) {
		pid_t pid = list[i]->target.pid;
		int *open = NULL, nopen;
		uint64_t gen;

		if (proc__exited(f->ps, list[i]) || (scope_pid > 0 && pid != scope_pid))
			continue;
		if (f->rb)
			ring_buffer__consume(f->rb);
		nopen = read_open_fds(pid, &open);
		/* records reserved before the read are in the ring now: apply them, and judge only
		 * the entries they made (later ones may postdate the read) */
		gen = f->gen;
		if (f->rb)
			ring_buffer__consume(f->rb);
		if (nopen == -ENOENT) {
			drop_where(f, pid, 0, INT32_MAX, UINT64_MAX, NULL, 0);
			continue;
		}
		if (nopen < 0)
			continue;
		f->reconciled += drop_where(f, pid, 0, INT32_MAX, gen, open, (size_t)nopen);
		if (nitems + (size_t)nopen > cap) {
			size_t nc = (nitems + (size_t)nopen) * 2;
			struct fd_item *ni = realloc(items, nc * sizeof(*ni));

			if (!ni) {
				free(open);
				r = -ENOMEM;
				break;
			}
			items = ni;
			cap = nc;
		}
		for (int k = 0; k < nopen; k++) {
			uint32_t *link = entry_link(f, pid, open[k]);

			items[nitems++] = (struct fd_item){ .pid = pid, .fd = open[k],
							    .stack = *link ? f->entries[*link - 1].stack : 0 };
		}
		free(open);
	}
	procs__list_free(list, n);
	if (r < 0) {
		free(items);
		return r;
	}
	*ret = items;
	return (int)nitems;
}

static int cmp_item(const void *a, const void *b)
{
	const struct fd_item *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

/* What the table holds for the processes in scope, without /proc (a snapshot on a trigger: the
 * process may be gone, its descriptors with it, and what it had open is the point), sorted by
 * process and number. Caller holds lock. Returns the count or -ENOMEM; the caller frees *ret. */
static int held_items(struct fd_source *f, pid_t scope_pid, struct fd_item **ret)
{
	struct fd_item *items = malloc((f->live ? f->live : 1) * sizeof(*items));
	uint32_t n = 0;

	*ret = NULL;
	if (!items)
		return -ENOMEM;
	for (uint32_t i = 0; i < f->nentries && n < f->live; i++) {
		const struct fd_entry *e = &f->entries[i];

		if (e->pid < 0 || (scope_pid > 0 && e->pid != scope_pid))
			continue;
		items[n++] = (struct fd_item){ .pid = e->pid, .fd = e->fd, .stack = e->stack };
	}
	qsort(items, n, sizeof(*items), cmp_item);
	*ret = items;
	return (int)n;
}

static struct profd_sample_set *new_set(void)
{
	struct profd_sample_set *set = sample_set__new(1);

	if (!set)
		return NULL;
	set->max_samples = FD_MAX_STACKS * 2;
	set->types[0] = (struct profd_value_type){ "fds", "count" };
	set->period_type = (struct profd_value_type){ "fds", "count" };
	set->period = 1;
	set->default_sample_type = -1;
	return set;
}

/* The comments every fd profile carries. Caller holds lock. */
static void add_comments(struct fd_source *f, struct profd_sample_set *set, uint64_t unseen, bool started)
{
	uint64_t created = 0, lost = 0, create_ns = 0, ns = f->prog_ns, runs = f->prog_runs;
	char since[32];

	if (f->skel) {
		uint64_t n2, r2;

		created = f->skel->bss->created;
		lost = f->skel->bss->lost;
		create_ns = f->skel->bss->create_ns;
		prog_cost(f, &n2, &r2);
		ns += n2;
		runs += r2;
	}
	profd_format_utc(f->since, since, sizeof(since));
	if (started)
		sample_set__comment(set, "fd tracking started at %s by this request: every descriptor open now is "
				    "under \"" SYM_SYNTHETIC_FD_BEFORE_ATTACH_NAME "\"; those created from now on have "
				    "their stack: ask again later (tracking ends after --fd-idle without a request)", since);
	sample_set__comment(set, "profd fd: open file descriptors by the stack that opened them, from the syscall "
			    "tracepoints (eBPF: creations at sys_exit, close and close_range at sys_enter, exec), "
			    "since %s; the label `syscall` names the call; %" PRIu64 " descriptors open then are under "
			    "\"" SYM_SYNTHETIC_FD_BEFORE_ATTACH_NAME "\", by type", since, f->before);
	sample_set__comment(set, "fd cost: %" PRIu64 " descriptors created, %.0f ns each in the BPF program on "
			    "average (the record and its %d-byte stack copy); the programs ran %" PRIu64 " times (every "
			    "syscall on the machine passes a test of its number) for %.1f ms in all",
			    created, created ? (double)create_ns / (double)created : 0.0, PROFD_FD_STACK_BYTES, runs,
			    (double)ns / 1e6);
	if (unseen)
		sample_set__comment(set, "%" PRIu64 " open descriptors were not seen created (records lost, or "
				    "received: SCM_RIGHTS, pidfd_getfd of another process, io_uring): under \""
				    SYM_SYNTHETIC_FD_UNSEEN_NAME "\"", unseen);
	if (lost || f->dropped_live || f->dropped_stacks)
		sample_set__comment(set, "dropped at bounds: %" PRIu64 " records (ring buffer full), %" PRIu64
				    " descriptors (more than %u tracked), %" PRIu64 " (more than %u stacks)", lost,
				    f->dropped_live, FD_MAX_LIVE, f->dropped_stacks, FD_MAX_STACKS);
	if (stack_tally__short(&f->stacks_seen)) {
		char line[512];

		stack_tally__sentence(&f->stacks_seen, "creation stacks", line, sizeof(line));
		sample_set__comment(set, "%s", line);
	}
}

static int snapshot(struct fd_source *f, pid_t scope_pid, bool held, bool started, struct profd_sample_set **ret)
{
	struct profd_sample_set *set = new_set();
	struct procs_names nm = { 0 };
	struct fd_item *items = NULL;
	uint64_t unseen = 0;
	int n, r = 0;

	*ret = NULL;
	if (!set || (f->multi && (r = procs_names__get(f->ps, &nm)) < 0)) {
		sample_set__free(set);
		return r < 0 ? r : -ENOMEM;
	}
	pthread_mutex_lock(&f->lock);
	if (held && f->rb)
		ring_buffer__consume(f->rb);
	n = held ? held_items(f, scope_pid, &items) : reconcile(f, scope_pid, &items);
	if (n < 0)
		r = n;
	for (int i = 0; i < n && r == 0; i++) {
		const struct fd_item *it = &items[i];
		struct proc *p = f->multi ? procs_names__find(&nm, it->pid) : NULL;
		char sys[32];
		struct profd_label labels[3] = {
			{ .key = "pid", .num = it->pid },
			{ .key = "process", .str = p ? (char *)p->target.comm : "?" },
			{ .key = "syscall", .str = sys },
		};
		int64_t one = 1;
		uint64_t pcs[2];

		if (it->stack) {
			const struct fd_stack *s = &f->stacks[it->stack - 1];

			if (s->syscall >= 0) {
				fd_syscall_name(s->syscall, sys, sizeof(sys));
				r = sample_set__add(set, s->pcs, s->nframes, &one, f->multi ? labels : labels + 2,
						    f->multi ? 3 : 1);
			} else {
				r = sample_set__add(set, s->pcs, s->nframes, &one, labels, f->multi ? 2 : 0);
			}
		} else {
			unseen++;
			synthetic_stack(it->pid, it->fd, SYM_SYNTHETIC_FD_UNSEEN, pcs);
			r = sample_set__add(set, pcs, 2, &one, labels, f->multi ? 2 : 0);
		}
	}
	set->time_nanos = profd_now_nanos();
	add_comments(f, set, unseen, started);
	if (held)
		sample_set__comment(set, "the descriptors profd's table held (not checked against /proc: the process "
				    "may have ended)");
	pthread_mutex_unlock(&f->lock);
	procs_names__free(&nm);
	free(items);
	if (r < 0) {
		sample_set__free(set);
		return r;
	}
	*ret = set;
	return 0;
}

/* A request's part: the programs attached (demand: from now on, for --fd-idle). A triggered
 * snapshot (scope->held) attaches nothing: it takes what the table holds. */
static int want(struct fd_source *f, const struct profd_scope *scope, bool *ret_started)
{
	*ret_started = false;
	if (scope && scope->held)
		return 0;
	return demand__want(f->demand, false, ret_started);
}

static int prof_snapshot(void *ctx, const struct profd_scope *scope, struct profd_sample_set **ret)
{
	bool started;
	int r = want(ctx, scope, &started);

	*ret = NULL;
	if (r < 0)
		return r;
	return snapshot(ctx, scope ? scope->pid : 0, scope && scope->held, started, ret);
}

/* A copied stack for the text, written after the lock is released. */
struct text_item {
	int32_t pid, fd, syscall;
	uint32_t nframes;
	uint64_t *pcs; /* NULL: not seen created */
};

/* debug=1: every open descriptor of the processes in scope, by process and number: what it
 * points to now (readlink) and the stack that opened it, then profd's counters. */
static int write_text(struct fd_source *f, pid_t scope_pid, bool started, struct buf *out)
{
	struct profd_sample_set *notes = sample_set__new(1);
	struct procs_names nm = { 0 };
	struct fd_item *items = NULL;
	struct text_item *ti = NULL;
	uint64_t unseen = 0, before = 0;
	int n, r = 0, last_pid = -1;

	if (!notes)
		return -ENOMEM;
	r = procs_names__get(f->ps, &nm);
	if (r < 0) {
		sample_set__free(notes);
		return r;
	}
	pthread_mutex_lock(&f->lock);
	n = reconcile(f, scope_pid, &items);
	if (n < 0)
		r = n;
	ti = r == 0 ? calloc(n ? (size_t)n : 1, sizeof(*ti)) : NULL;
	if (r == 0 && !ti)
		r = -ENOMEM;
	for (int i = 0; i < n && r == 0; i++) {
		ti[i].pid = items[i].pid;
		ti[i].fd = items[i].fd;
		ti[i].syscall = -1;
		if (!items[i].stack) {
			unseen++;
			continue;
		}
		const struct fd_stack *s = &f->stacks[items[i].stack - 1];

		ti[i].syscall = s->syscall;
		ti[i].nframes = s->nframes;
		ti[i].pcs = malloc((s->nframes ? s->nframes : 1) * sizeof(uint64_t));
		if (!ti[i].pcs) {
			r = -ENOMEM;
			break;
		}
		memcpy(ti[i].pcs, s->pcs, s->nframes * sizeof(uint64_t));
		if (s->syscall < 0)
			before++;
	}
	if (r == 0)
		add_comments(f, notes, unseen, started);
	pthread_mutex_unlock(&f->lock);
	if (r == 0)
		r = buf_printf(out, "fd profile: %d open descriptors (%" PRIu64 " opened before profd attached, %"
			       PRIu64 " not seen created)\n", n, before, unseen);
	for (int i = 0; i < n && r >= 0; i++) {
		const struct text_item *t = &ti[i];
		char link[PATH_MAX], sys[32];
		int is_dir;

		if (t->pid != last_pid) {
			struct proc *p = procs_names__find(&nm, t->pid);

			r = buf_printf(out, "\n# pid %d (%s)\n", (int)t->pid, p ? p->target.comm : "?");
			last_pid = t->pid;
		}
		read_link(t->pid, t->fd, link, sizeof(link), &is_dir);
		if (r >= 0)
			r = buf_printf(out, "fd %d -> %s", (int)t->fd, link[0] ? link : "(closed since)");
		if (r < 0)
			break;
		if (!t->pcs) {
			r = buf_printf(out, "\n#\t%s\n", SYM_SYNTHETIC_FD_UNSEEN_NAME);
			continue;
		}
		if (t->syscall < 0) {
			r = buf_printf(out, "\n#\t%s\n", SYM_SYNTHETIC_FD_BEFORE_ATTACH_NAME);
			continue;
		}
		r = buf_printf(out, " (%s) @", fd_syscall_name(t->syscall, sys, sizeof(sys)));
		for (uint32_t k = 0; k < t->nframes && r >= 0; k++)
			r = buf_printf(out, " %#llx", (unsigned long long)t->pcs[k]);
		if (r >= 0)
			r = buf_putc(out, '\n');
		if (r >= 0)
			r = pprof_write_legacy_frames(t->pcs, t->nframes,
						      f->multi ? procs_names__sym(&nm, t->pid)
							       : procs_names_symbolizer(&nm, 0), out);
	}
	if (r >= 0)
		r = buf_puts(out, "\n# profd fd\n");
	for (int c = 0; c < notes->ncomments && r >= 0; c++)
		r = buf_printf(out, "# Note = %s\n", notes->comments[c]);
	pthread_mutex_lock(&f->lock);
	if (r >= 0)
		r = buf_printf(out, "# Created = %" PRIu64 "\n# CloseCalls = %" PRIu64 "\n# Execs = %" PRIu64
			       "\n# BeforeAttach = %" PRIu64 "\n# Reconciled = %" PRIu64 "\n# Lost = %llu\n"
			       "# DroppedDescriptors = %" PRIu64 "\n# DroppedStacks = %" PRIu64 "\n# Tracked = %u\n"
			       "# Stacks = %u\n",
			       f->creates, f->closes, f->execs, f->before, f->reconciled,
			       f->skel ? (unsigned long long)f->skel->bss->lost : 0ull, f->dropped_live,
			       f->dropped_stacks, f->live, f->live_stacks);
	pthread_mutex_unlock(&f->lock);
	for (int i = 0; ti && i < n; i++)
		free(ti[i].pcs);
	free(ti);
	free(items);
	procs_names__free(&nm);
	sample_set__free(notes);
	return r < 0 ? r : 0;
}

static int prof_text(void *ctx, const struct profd_scope *scope, int debug, struct buf *out)
{
	bool started;
	int r = want(ctx, scope, &started);

	(void)debug;
	if (r < 0)
		return r;
	return write_text(ctx, scope ? scope->pid : 0, started, out);
}

static int prof_count(void *ctx)
{
	struct fd_source *f = ctx;
	int n;

	pthread_mutex_lock(&f->lock);
	if (f->rb)
		ring_buffer__consume(f->rb);
	n = f->skel ? (int)f->live : -1; /* not attached: unknown, not 0 */
	pthread_mutex_unlock(&f->lock);
	return n;
}

static int prof_status(void *ctx, struct buf *out)
{
	struct fd_source *f = ctx;
	char since[32];

	pthread_mutex_lock(&f->lock);
	profd_format_utc(f->since, since, sizeof(since));
	if (!f->skel)
		buf_printf(out, "Not attached: the first fd request attaches its programs (syscall tracepoints: "
			   "while attached, every syscall on the machine takes the kernel's tracepoint path) until "
			   "--fd-idle passes without one.");
	else
		buf_printf(out, "Tracking since %s: %u descriptors open from %u stacks; %" PRIu64 " created, %.0f ns "
			   "each in BPF.", since, f->live, f->live_stacks, (uint64_t)f->skel->bss->created,
			   f->skel->bss->created ? (double)f->skel->bss->create_ns / (double)f->skel->bss->created
						 : 0.0);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* /metrics: per process, the descriptors the table holds (what /proc says is
 * profd_process_open_fds); the source's counters and cost. Reads no /proc directory. */
static int prof_metrics(void *ctx, const struct profd_scope *scope, struct metrics *m)
{
	struct fd_source *f = ctx;
	struct procs_names nm = { 0 };
	uint64_t created = 0, lost = 0, create_ns = 0, ns = 0, runs = 0;
	uint32_t *per = NULL;
	bool attached;
	int r = procs_names__get(f->ps, &nm);

	if (r < 0)
		return r;
	per = calloc(nm.n ? (size_t)nm.n : 1, sizeof(*per));
	if (!per) {
		procs_names__free(&nm);
		return -ENOMEM;
	}
	pthread_mutex_lock(&f->lock);
	if (f->rb)
		ring_buffer__consume(f->rb);
	for (uint32_t i = 0; f->skel && i < f->nentries; i++) {
		const struct fd_entry *e = &f->entries[i];
		int k;

		if (e->pid < 0)
			continue; /* on the free list */
		k = procs_names__index(&nm, e->pid);
		if (k >= 0)
			per[k]++;
	}
	if (f->skel) {
		created = f->skel->bss->created;
		lost = f->skel->bss->lost;
		create_ns = f->skel->bss->create_ns;
		prog_cost(f, &ns, &runs);
	}
	ns += f->prog_ns;
	attached = f->skel != NULL;
	pthread_mutex_unlock(&f->lock);
	for (int k = 0; k < nm.n; k++) {
		char pid[16];
		struct metric_label labels[2] = { { "pid", pid }, { "process", nm.list[k]->target.comm } };

		if (!attached || proc__exited(f->ps, nm.list[k]) ||
		    (scope && scope->pid > 0 && nm.list[k]->target.pid != scope->pid))
			continue;
		snprintf(pid, sizeof(pid), "%d", (int)nm.list[k]->target.pid);
		metrics__add(m, "profd_fd_tracked_descriptors", METRIC_GAUGE,
			     "Open descriptors of the process in profd's fd table (with their opening stack, or opened "
			     "before profd attached).", labels, 2, per[k]);
	}
	metrics__add(m, "profd_fd_created_total", METRIC_COUNTER,
		     "Descriptors the processes served created since the fd profile attached.", NULL, 0, (double)created);
	metrics__add(m, "profd_fd_lost_events_total", METRIC_COUNTER,
		     "fd profile records lost because its ring buffer was full.", NULL, 0, (double)lost);
	metrics__add(m, "profd_fd_dropped_total", METRIC_COUNTER,
		     "Descriptors not tracked because the fd table or its stacks were full.", NULL, 0,
		     (double)(f->dropped_live + f->dropped_stacks));
	metrics__add(m, "profd_fd_probe_cost_seconds_total", METRIC_COUNTER,
		     "Time the fd profile's BPF program spent on the descriptors created (record and stack copy).",
		     NULL, 0, (double)create_ns / 1e9);
	metrics__add(m, "profd_fd_bpf_seconds_total", METRIC_COUNTER,
		     "Run time of the fd profile's BPF programs on every syscall of the machine (0 where the kernel "
		     "does not count it).", NULL, 0, (double)ns / 1e9);
	free(per);
	procs_names__free(&nm);
	return 0;
}

void fd_source__provider(struct fd_source *f, struct profd_profile *ret)
{
	*ret = (struct profd_profile){
		.name = "fd",
		.description = "Open file descriptors by the stack that opened them (sockets, files, pipes, ...; "
			       "those open before profd attached under one frame, by type)",
		.ctx = f,
		.count = prof_count,
		.snapshot = prof_snapshot,
		.write_text = prof_text,
		.status = prof_status,
		.metrics = prof_metrics,
	};
}

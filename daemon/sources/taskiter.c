// SPDX-License-Identifier: MIT
/* The BPF task iterator behind thread dumps that stop no thread (see taskiter.h). One skeleton
 * and one ring buffer, whatever the number of processes walked; an iterator link bound to the
 * walked process's tgid where the kernel can (6.1+; made again when the next walk is of another
 * process, which costs one syscall), else one link that visits every task, the program keeping
 * the walked process's. A walk creates an iterator fd and reads it in batches: a read() of K
 * lines makes the kernel visit K threads of the target, whose records (at most K, sized so that
 * they fit) are then drained from the ring buffer. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "bpf/taskiter.h"
#include "sources/taskiter.h"
#include "taskiter.skel.h"

#define RING_MIN_BYTES (1u << 20)
#define RING_MAX_BYTES (64u << 20)
#define RING_RECORDS 32       /* records of the largest size the ring holds at once */
#define MAX_BATCH 4096        /* lines per read(): the seq_file buffer is 32 KiB */
#define PROC_PID_INIT_INO 0xEFFFFFFCu /* the initial PID namespace's inode (include/linux/proc_ns.h) */
/* Kernel frame names known here (and so not formatted again by the program): the capacity of
 * the ksym_named map. Kernel code has a few thousand sleeping points at most; once full, new
 * addresses are named by the program every time they are seen. Names are kept for the life of
 * the taskiter: a module unloaded and another loaded at the same address would keep the old one. */
#define KSYM_CACHE_SLOTS 16384 /* open addressing, at most half full */
#define KSYM_CACHE_MAX 8192

_Static_assert(TASKITER_MAX_KFRAMES == PROFD_TASKITER_MAX_KFRAMES, "kernel frame bound");

struct ksym_entry {
	uint64_t addr; /* 0: empty */
	char *name;
};

struct taskiter {
	pthread_mutex_t mu; /* one walk at a time */
	struct taskiter_bpf *skel;
	pid_t pid;              /* the process walks visit by default; 0: each walk names it */
	struct bpf_link *bound; /* visits bound_pid's threads only */
	pid_t bound_pid;
	struct bpf_link *any;   /* visits every task (kernels before 6.1, or binding failed) */
	bool can_bind;          /* false once the kernel refused a bound link's parameter */
	struct ring_buffer *rb;
	struct profd_taskiter_line *lines;
	size_t batch;       /* threads per read() */
	size_t rec_size;    /* bytes of one record */
	size_t stack_bytes;
	uint32_t gen;       /* retry generation of the last walk */
	struct ksym_entry *ksyms; /* KSYM_CACHE_SLOTS */
	size_t nksyms;
	/* the walk in progress */
	size_t copy_bytes;
	taskiter_fn fn;
	void *ctx;
	int fn_err;
	size_t visited;
};

/* ---- libbpf messages: kept quiet, the verifier's verdict kept for the reason ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[8192]; /* the last bytes libbpf printed during a load */
static size_t log_len;

static int capture_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg = NULL;
	int n;

	if (level == LIBBPF_DEBUG)
		return 0;
	n = vasprintf(&msg, fmt, ap);
	if (n <= 0) {
		free(msg);
		return 0;
	}
	/* the verifier log comes in one message and can be long: keep the tail, which has the verdict */
	if ((size_t)n >= sizeof(log_text)) {
		memcpy(log_text, msg + (size_t)n - (sizeof(log_text) - 1), sizeof(log_text) - 1);
		log_len = sizeof(log_text) - 1;
	} else {
		if (log_len + (size_t)n >= sizeof(log_text)) {
			size_t drop = log_len + (size_t)n - (sizeof(log_text) - 1);

			memmove(log_text, log_text + drop, log_len - drop);
			log_len -= drop;
		}
		memcpy(log_text + log_len, msg, (size_t)n);
		log_len += (size_t)n;
	}
	log_text[log_len] = '\0';
	free(msg);
	return 0;
}

/* Lines of the verifier log that are statistics or libbpf's framing, not the reason. */
static bool is_noise(const char *p, size_t n)
{
	static const char *const prefixes[] = {
		"processed ", "verification time", "stack depth", "libbpf: ", "-- ",
	};

	if (n == 0)
		return true;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(p, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

/* Why the load failed, in one line: the verifier's last word (the line before its statistics)
 * when it spoke, else libbpf's first message; "" when there is none. */
static void log_verdict(char *out, size_t len)
{
	const char *end = strstr(log_text, "-- END PROG LOAD LOG --");
	const char *p;

	out[0] = '\0';
	if (end) {
		for (p = end; p > log_text;) {
			const char *line_end = p - 1, *line = line_end;

			while (line > log_text && line[-1] != '\n')
				line--;
			if (!is_noise(line, (size_t)(line_end - line))) {
				snprintf(out, len, "%.*s", (int)(line_end - line), line);
				return;
			}
			p = line;
		}
		return;
	}
	p = strstr(log_text, "libbpf: ");
	if (p) {
		p += strlen("libbpf: ");
		snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
	}
}

/* ---- set-up ---- */

static void pidns_ino_of_self(__u64 *ret_ino)
{
	struct stat st;

	*ret_ino = 0;
	if (stat("/proc/self/ns/pid", &st) == 0 && st.st_ino != PROC_PID_INIT_INO)
		*ret_ino = (__u64)st.st_ino;
}

static size_t round_up8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static uint32_t ring_bytes(size_t rec_size)
{
	uint64_t want = (uint64_t)rec_size * RING_RECORDS;
	uint32_t sz = RING_MIN_BYTES;

	while (sz < want && sz < RING_MAX_BYTES)
		sz <<= 1;
	return sz;
}

/* The link that visits every task (made once); *ret (if not NULL) gets it. */
static int any_link(struct taskiter *ti, struct bpf_link **ret)
{
	if (!ti->any) {
		ti->any = bpf_program__attach_iter(ti->skel->progs.dump_thread, NULL);
		if (!ti->any)
			return -errno;
	}
	if (ret)
		*ret = ti->any;
	return 0;
}

/* The link a walk of pid reads: bound to pid's threads where the kernel can (6.1+; an older
 * one refuses the parameter, and is not asked again), else the one that visits every task, in
 * which the program's own tgid test does the filtering. */
static int link_for(struct taskiter *ti, pid_t pid, struct bpf_link **ret)
{
	union bpf_iter_link_info linfo;
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	struct bpf_link *l;

	if (ti->bound && ti->bound_pid == pid) {
		if (ret)
			*ret = ti->bound;
		return 0;
	}
	if (ti->can_bind) {
		memset(&linfo, 0, sizeof(linfo));
		linfo.task.pid = (__u32)pid;
		opts.link_info = &linfo;
		opts.link_info_len = sizeof(linfo);
		l = bpf_program__attach_iter(ti->skel->progs.dump_thread, &opts);
		if (l) {
			bpf_link__destroy(ti->bound);
			ti->bound = l;
			ti->bound_pid = pid;
			if (ret)
				*ret = l;
			return 0;
		}
		/* E2BIG, EINVAL: a kernel without the parameter; else (the process is gone) it may
		 * bind the next one */
		if (errno == E2BIG || errno == EINVAL)
			ti->can_bind = false;
	}
	return any_link(ti, ret);
}

static int load(struct taskiter *ti, pid_t pid, char *why, size_t whylen)
{
	const char *sim = secure_getenv("PROFD_TASKITER_SIMULATE");
	char verdict[256];
	uint32_t ring;
	int err;

	ti->skel = taskiter_bpf__open();
	if (!ti->skel) {
		err = -errno;
		snprintf(why, whylen, "cannot open the BPF object: %s", strerror(-err));
		return err;
	}
	ring = ring_bytes(ti->rec_size + 8);
	pidns_ino_of_self(&ti->skel->rodata->pidns_ino);
	ti->skel->rodata->stack_bytes = (__u32)ti->stack_bytes;
	ti->skel->rodata->simulate_reject = sim && !strcmp(sim, "reject");
	ti->skel->rodata->simulate_torn = sim && !strcmp(sim, "torn");
	err = bpf_map__set_max_entries(ti->skel->maps.records, ring);
	if (!err)
		err = bpf_map__set_max_entries(ti->skel->maps.retry_tids, TASKITER_MAX_RETRY);
	if (err) {
		snprintf(why, whylen, "cannot size its maps: %s", strerror(-err));
		return err;
	}
	err = taskiter_bpf__load(ti->skel);
	if (err) {
		log_verdict(verdict, sizeof(verdict));
		snprintf(why, whylen, "the kernel refused the program: %s%s%s%s (it needs kernel 5.18+ with BTF: "
			 "sleepable task iterators, bpf_copy_from_user_task)", strerror(-err),
			 verdict[0] ? " (\"" : "", verdict, verdict[0] ? "\")" : "");
		return err;
	}
	ti->can_bind = true;
	err = pid ? link_for(ti, pid, NULL) : 0;
	if (!err && !ti->any && !ti->bound)
		err = any_link(ti, NULL);
	if (err) {
		snprintf(why, whylen, "cannot attach the task iterator: %s", strerror(-err));
		return err;
	}
	ti->batch = ring / (round_up8(ti->rec_size) + 8) - 1;
	if (ti->batch > MAX_BATCH)
		ti->batch = MAX_BATCH;
	ti->lines = calloc(ti->batch, sizeof(*ti->lines));
	ti->ksyms = calloc(KSYM_CACHE_SLOTS, sizeof(*ti->ksyms));
	if (!ti->lines || !ti->ksyms) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int on_record(void *ctx, void *data, size_t size);

int taskiter__new(pid_t pid, size_t stack_bytes, struct taskiter **ret, char *why, size_t whylen)
{
	libbpf_print_fn_t old;
	struct taskiter *ti;
	int err;

	*ret = NULL;
	why[0] = '\0';
	if (pid < 0 || stack_bytes == 0 || stack_bytes > PROFD_TASKITER_MAX_STACK) {
		snprintf(why, whylen, "bad arguments");
		return -EINVAL;
	}
	ti = calloc(1, sizeof(*ti));
	if (!ti) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&ti->mu, NULL);
	ti->pid = pid;
	ti->stack_bytes = stack_bytes;
	ti->rec_size = sizeof(struct profd_taskiter_rec) + stack_bytes;

	pthread_mutex_lock(&log_mu);
	log_len = 0;
	log_text[0] = '\0';
	old = libbpf_set_print(capture_print);
	err = load(ti, pid, why, whylen);
	libbpf_set_print(old);
	pthread_mutex_unlock(&log_mu);
	if (!err) {
		ti->rb = ring_buffer__new(bpf_map__fd(ti->skel->maps.records), on_record, ti, NULL);
		if (!ti->rb) {
			err = -errno;
			snprintf(why, whylen, "cannot map its ring buffer: %s", strerror(-err));
		}
	}
	if (err) {
		taskiter__free(ti);
		return err;
	}
	*ret = ti;
	return 0;
}

void taskiter__free(struct taskiter *ti)
{
	if (!ti)
		return;
	ring_buffer__free(ti->rb);
	bpf_link__destroy(ti->bound);
	bpf_link__destroy(ti->any);
	taskiter_bpf__destroy(ti->skel);
	free(ti->lines);
	for (size_t i = 0; ti->ksyms && i < KSYM_CACHE_SLOTS; i++)
		free(ti->ksyms[i].name);
	free(ti->ksyms);
	pthread_mutex_destroy(&ti->mu);
	free(ti);
}

/* ---- walks ---- */

char taskiter_state_letter(uint32_t state, uint32_t exit_state)
{
	/* include/linux/sched.h: TASK_REPORT bits, TASK_IDLE, TASK_RTLOCK_WAIT */
	static const char letters[] = "RSDTtXZPI";
	uint32_t s = (state | exit_state) & 0x7f;
	int idx = 0;

	if ((state & 0x402) == 0x402)
		s = 0x80; /* TASK_REPORT_IDLE */
	if (state & 0x1000)
		s = 0x2;  /* waiting for an rtlock: shown as uninterruptible */
	while (s) {
		idx++;
		s >>= 1;
	}
	return letters[idx < (int)sizeof(letters) - 1 ? idx : 0];
}

static struct ksym_entry *ksym_slot(struct taskiter *ti, uint64_t addr)
{
	size_t i = (size_t)((addr * 0x9e3779b97f4a7c15ull) >> 50) & (KSYM_CACHE_SLOTS - 1);

	while (ti->ksyms[i].addr && ti->ksyms[i].addr != addr)
		i = (i + 1) & (KSYM_CACHE_SLOTS - 1);
	return &ti->ksyms[i];
}

/* Remembers a name the program formatted, and tells the program it need not format it again. */
static const char *ksym_learn(struct taskiter *ti, uint64_t addr, const char *name)
{
	struct ksym_entry *e = ksym_slot(ti, addr);
	__u64 key = addr;
	__u8 one = 1;

	if (e->addr || ti->nksyms >= KSYM_CACHE_MAX || !addr)
		return e->addr ? e->name : name;
	e->name = strdup(name);
	if (!e->name)
		return name;
	e->addr = addr;
	ti->nksyms++;
	bpf_map_update_elem(bpf_map__fd(ti->skel->maps.ksym_named), &key, &one, BPF_ANY);
	return e->name;
}

static void fill_knames(struct taskiter *ti, struct taskiter_thread *th, const struct profd_taskiter_rec *r)
{
	size_t off = 0, len = r->ktext_len < PROFD_TASKITER_KTEXT ? r->ktext_len : PROFD_TASKITER_KTEXT;

	for (int i = 0; i < th->nkframes; i++) {
		th->knames[i] = NULL;
		if (r->kframes_named & (1ull << i)) {
			const char *name = r->ktext + off;
			size_t n = strnlen(name, len - off);

			if (off >= len || n == len - off)
				continue; /* not terminated: the record is damaged, leave it unnamed */
			off += n + 1;
			th->knames[i] = ksym_learn(ti, r->kframes[i], name);
		} else {
			struct ksym_entry *e = ksym_slot(ti, r->kframes[i]);

			th->knames[i] = e->addr ? e->name : NULL;
		}
	}
}

static void fill_thread(struct taskiter_thread *th, const struct profd_taskiter_rec *r, size_t stack_avail)
{
	memset(th, 0, sizeof(*th));
	th->tid = (pid_t)r->tid;
	th->flags = r->flags;
	th->state = taskiter_state_letter(r->state, r->exit_state);
	th->syscall_nr = (long)r->syscall_nr;
	th->tracer = (pid_t)r->tracer;
	memcpy(th->comm, r->comm, PROFD_TASKITER_COMM_LEN);
	th->comm[PROFD_TASKITER_COMM_LEN] = '\0';
	th->switches = r->switches;
	if (!(r->flags & PROFD_TASKITER_F_READ))
		return;
	th->nkframes = (int)(r->nkframes < PROFD_TASKITER_MAX_KFRAMES ? r->nkframes : PROFD_TASKITER_MAX_KFRAMES);
	th->kframes = (const uint64_t *)r->kframes;
	memcpy(th->regs.r, r->regs, sizeof(th->regs.r));
	th->stack.start = r->regs[UNWIND_REG_RSP];
	th->stack.data = r->stack;
	th->stack.len = r->stack_len < stack_avail ? r->stack_len : stack_avail;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct taskiter *ti = ctx;
	const struct profd_taskiter_rec *r = data;
	struct taskiter_thread th;
	int err;

	if (size < sizeof(*r) || ti->fn_err)
		return 0;
	fill_thread(&th, r, size - sizeof(*r));
	if (r->flags & PROFD_TASKITER_F_READ)
		fill_knames(ti, &th, r);
	th.stack_wanted = ti->copy_bytes;
	ti->visited++;
	err = ti->fn(ti->ctx, &th);
	if (err < 0) {
		ti->fn_err = err;
		return err; /* stops the consume */
	}
	return 0;
}

void taskiter__forget(struct taskiter *ti, pid_t pid)
{
	if (!ti)
		return;
	pthread_mutex_lock(&ti->mu);
	if (ti->bound && ti->bound_pid == pid) {
		bpf_link__destroy(ti->bound);
		ti->bound = NULL;
		ti->bound_pid = 0;
	}
	pthread_mutex_unlock(&ti->mu);
}

/* Marks (gen != 0) or unmarks (gen == 0) the threads of a retry walk. */
static int mark_retry(struct taskiter *ti, const pid_t *only, size_t n, uint32_t gen)
{
	int fd = bpf_map__fd(ti->skel->maps.retry_tids);

	for (size_t i = 0; i < n; i++) {
		__u32 key = (__u32)only[i];
		int err = gen ? bpf_map_update_elem(fd, &key, &gen, BPF_ANY) : bpf_map_delete_elem(fd, &key);

		if (err && gen)
			return -errno;
	}
	return 0;
}

int taskiter__walk(struct taskiter *ti, const pid_t *only, size_t nonly, size_t copy_bytes, taskiter_fn fn,
		   void *ctx)
{
	return taskiter__walk_pid(ti, 0, only, nonly, copy_bytes, fn, ctx);
}

int taskiter__walk_pid(struct taskiter *ti, pid_t pid, const pid_t *only, size_t nonly, size_t copy_bytes,
		       taskiter_fn fn, void *ctx)
{
	size_t want = ti ? ti->batch * sizeof(*ti->lines) : 0;
	struct bpf_link *link;
	int fd = -1, err = 0;

	if (!ti || !fn || (only && !nonly) || pid < 0 || (!pid && !ti->pid))
		return -EINVAL;
	if (nonly > TASKITER_MAX_RETRY)
		return -E2BIG;
	if (!pid)
		pid = ti->pid;
	pthread_mutex_lock(&ti->mu);
	err = link_for(ti, pid, &link);
	if (err)
		goto cleanup;
	ti->skel->bss->target_tgid = (__u32)pid;
	ti->fn = fn;
	ti->ctx = ctx;
	ti->fn_err = 0;
	ti->visited = 0;
	if (only) {
		ti->gen = ti->gen + 1 ? ti->gen + 1 : 1;
		err = mark_retry(ti, only, nonly, ti->gen);
		if (err)
			goto cleanup;
	}
	ti->copy_bytes = copy_bytes && copy_bytes < ti->stack_bytes ? copy_bytes : ti->stack_bytes;
	ti->skel->bss->copy_bytes = (__u32)ti->copy_bytes;
	ti->skel->bss->retry_gen = only ? ti->gen : 0;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	for (;;) {
		ssize_t n = read(fd, ti->lines, want);

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		err = ring_buffer__consume(ti->rb);
		if (ti->fn_err) {
			err = ti->fn_err;
			break;
		}
		if (err < 0)
			break;
		err = 0;
		/* threads that found no room have no record: name them from their line */
		for (size_t i = 0; i < (size_t)n / sizeof(*ti->lines); i++) {
			struct taskiter_thread th;

			if (!(ti->lines[i].flags & PROFD_TASKITER_F_RING_FULL))
				continue;
			memset(&th, 0, sizeof(th));
			th.tid = (pid_t)ti->lines[i].tid;
			th.flags = ti->lines[i].flags;
			th.state = '?';
			th.syscall_nr = -1;
			ti->visited++;
			err = fn(ctx, &th);
			if (err < 0)
				break;
		}
		if (err < 0 || n == 0)
			break;
	}
cleanup:
	if (fd >= 0)
		close(fd);
	if (only)
		mark_retry(ti, only, nonly, 0);
	ti->skel->bss->retry_gen = 0;
	if (!err)
		err = (int)ti->visited;
	pthread_mutex_unlock(&ti->mu);
	return err;
}

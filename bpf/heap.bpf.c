// SPDX-License-Identifier: GPL-2.0
/* Heap sampling: uprobes on the allocator's entry points decide, per thread, with a byte countdown
 * drawn from an exponential distribution (mean `rate` bytes, as Go and tcmalloc do), which
 * allocations to sample. A sampled allocation sends its registers and the top of its stack to
 * user space; in inuse mode a return probe records its address in live_allocs, and frees of a
 * recorded address send a free event. Everything else is a few loads and stores per call. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "heap.h"
#include "uprobes.bpf.h"

#define PAGE 4096

/* Set by user space between open and load. */
const volatile __u64 rate = 524288;       /* mean bytes between samples; <= 1: every allocation */
const volatile bool track_live = true;    /* inuse mode: record addresses, follow frees */
const volatile bool noop = false;         /* benchmark: programs return at once (trap floor) */
const volatile __u64 wakeup_bytes = 1 << 20; /* wake the reader when this much data waits */
/* -ln(u) * rate for u evenly spread over (0, 1): one draw = one random index. */
const volatile __u64 exp_table[PROFD_HEAP_EXP_N];
/* profd's PID namespace when it is not the initial one: tgids are then read as seen from it */
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;

/* Per-thread sampling state; freed by the kernel with the thread. */
struct heap_thread {
	__s64 remaining;   /* bytes until the next sample */
	__u64 outer_sp;    /* sp at entry of a probed call that may call another one, 0 if none */
	__u64 outer_ret;   /* its return address (allocs mode: checks outer_sp is not stale) */
	__u64 pend_id;     /* sampled allocation waiting for its return (inuse mode), 0 if none */
	__u64 pend_size;
	__u64 pend_sp;     /* sp at its entry: the matching return has sp == pend_sp + 8 */
	__u64 pend_memptr; /* posix_memalign: where the result is stored */
	__u32 inited;
	__u32 pend_kind;
	__u32 outer_armed; /* the outer call's return probe is armed (its slot holds the trampoline) */
	__u32 pad;
};

/* key: the task; value: its sampling state */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct heap_thread);
} threads SEC(".maps");

/* key: a live sampled allocation (process, address); value: its id and size (bounded, drops
 * counted) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 20);
	__type(key, struct profd_heap_live_key);
	__type(value, struct profd_heap_live);
} live_allocs SEC(".maps");

/* key: a process whose allocator is probed; value: the text ranges of its allocator objects (a
 * return address inside them means a call from inside the allocator) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); /* resized by user space (--max-processes) */
	__type(key, __u32);
	__type(value, struct profd_heap_objs);
} objs SEC(".maps");

/* sampled allocations, frees of tracked ones */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* key 0: this CPU's buffer for building a sampled allocation event */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct profd_heap_alloc_event);
} scratch SEC(".maps");

/* key 0: 1 while a program builds an event in this CPU's scratch buffer. uprobe programs run
 * with migration disabled but may be preempted (CONFIG_PREEMPT): another task's sample on the
 * same CPU must not overwrite a half-built event; it is dropped and counted instead. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} scratch_busy SEC(".maps");

/* index: enum profd_heap_counter; value: count on this CPU */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFD_HEAP_CNT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* index: the probe's index in the plan (cookie bits 24..31); value: its entry hits on this CPU.
 * With the calibrated cost of one hit, what the probes cost the target (the budget). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFD_HEAP_MAX_PROBES);
	__type(key, __u32);
	__type(value, __u64);
} probe_hits SEC(".maps");

/* key 0: the last allocation id handed out */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} next_id SEC(".maps");

/* The calling process, as profd sees PIDs (its own namespace's, when that is not the host's). */
static __always_inline __u32 current_tgid(void)
{
	struct bpf_pidns_info ns;

	if (pidns_ino && bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)) == 0)
		return ns.tgid;
	return (__u32)(bpf_get_current_pid_tgid() >> 32);
}

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &which);

	if (v)
		*v += 1;
}

/* One entry hit of the probe named by the cookie. */
static __always_inline void count_hit(__u64 cookie)
{
	__u32 idx = (cookie >> PROFD_HEAP_COOKIE_PROBE_SHIFT) & 0xff;
	__u64 *v = bpf_map_lookup_elem(&probe_hits, &idx);

	if (v)
		*v += 1;
}

static __always_inline __u64 rb_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									      : BPF_RB_NO_WAKEUP;
}

static __always_inline __s64 draw_interval(void)
{
	return exp_table[bpf_get_prandom_u32() & (PROFD_HEAP_EXP_N - 1)];
}

static __always_inline void send_free(__u32 type, __u64 id, __u64 size)
{
	struct profd_heap_free_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(PROFD_HEAP_CNT_RB_FULL_FREE);
		return;
	}
	e->type = type;
	e->pad = 0;
	e->id = id;
	e->size = size;
	bpf_ringbuf_submit(e, rb_flags());
}

/* A tracked allocation at ptr ended (free, realloc): tell user space once. */
static __always_inline void untrack(__u64 ptr)
{
	struct profd_heap_live_key key = { .tgid = current_tgid(), .addr = ptr };
	struct profd_heap_live *v, copy;

	v = bpf_map_lookup_elem(&live_allocs, &key);
	if (!v)
		return;
	copy = *v;
	if (bpf_map_delete_elem(&live_allocs, &key) == 0)
		send_free(PROFD_HEAP_EV_FREE, copy.id, copy.size);
}

static __always_inline void copy_regs(struct profd_heap_alloc_event *e, struct pt_regs *ctx)
{
	e->regs[0] = ctx->ax;
	e->regs[1] = ctx->dx;
	e->regs[2] = ctx->cx;
	e->regs[3] = ctx->bx;
	e->regs[4] = ctx->si;
	e->regs[5] = ctx->di;
	e->regs[6] = ctx->bp;
	e->regs[7] = ctx->sp;
	e->regs[8] = ctx->r8;
	e->regs[9] = ctx->r9;
	e->regs[10] = ctx->r10;
	e->regs[11] = ctx->r11;
	e->regs[12] = ctx->r12;
	e->regs[13] = ctx->r13;
	e->regs[14] = ctx->r14;
	e->regs[15] = ctx->r15;
	e->regs[16] = ctx->ip;
}

/* Sends the sampled allocation; returns its id, or 0 if it could not be sent. The event is built
 * in a per-CPU scratch buffer and only the stack bytes actually copied go into the ring buffer
 * (usually a few KiB: the copy stops at the end of the thread's stack mapping). */
static __always_inline __u64 send_alloc(struct pt_regs *ctx, __u64 size, __u32 kind)
{
	struct profd_heap_alloc_event *e;
	__u64 sp = ctx->sp, *idp, id, total;
	__u32 zero = 0, len, first, off, rest, *busy;

	idp = bpf_map_lookup_elem(&next_id, &zero);
	e = bpf_map_lookup_elem(&scratch, &zero);
	busy = bpf_map_lookup_elem(&scratch_busy, &zero);
	if (!idp || !e || !busy)
		return 0;
	if (*busy) {
		count(PROFD_HEAP_CNT_RB_FULL);
		return 0;
	}
	*busy = 1;
	id = __sync_fetch_and_add(idp, 1) + 1;
	e->type = PROFD_HEAP_EV_ALLOC;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->tgid = current_tgid();
	e->id = id;
	e->size = size;
	e->kind = kind;
	copy_regs(e, ctx);
	/* posix_memalign -> malloc: the outer call's return address is the trampoline meanwhile */
	read_uprobe_state(bpf_get_current_task_btf(), &e->up);
	e->stack_start = sp;
	/* PROFD_HEAP_STACK_BYTES from sp, as many as the CPU sampler copies by default, page by
	 * page: a read crossing the end of the stack mapping would fail as a whole. The part of a
	 * page left at the end is read too: without it the copy stopped up to 4 KiB short, and
	 * stacks that deep lost their bottom frames (heap stacks one frame short of _start). */
	first = PAGE - (sp & (PAGE - 1));
	len = 0;
	if (bpf_probe_read_user(e->stack, first, (void *)sp) == 0) {
		bool end = false;

		len = first;
		for (int i = 0; i < PROFD_HEAP_STACK_BYTES / PAGE - 1; i++) {
			off = len;
			if (off > PROFD_HEAP_STACK_BYTES - PAGE)
				break;
			if (bpf_probe_read_user(e->stack + (off & (PROFD_HEAP_STACK_BYTES - 1)), PAGE,
						(void *)(sp + off))) {
				end = true; /* the end of the stack mapping */
				break;
			}
			len = off + PAGE;
		}
		off = len;
		rest = (PROFD_HEAP_STACK_BYTES - off) & (PAGE - 1);
		if (!end && off < PROFD_HEAP_STACK_BYTES && rest &&
		    bpf_probe_read_user(e->stack + (off & (PROFD_HEAP_STACK_BYTES - 1)), rest, (void *)(sp + off)) == 0)
			len = off + rest;
	} else {
		count(PROFD_HEAP_CNT_STACK_FAIL);
	}
	e->stack_len = len;
	total = offsetof(struct profd_heap_alloc_event, stack) + (len & (2 * PROFD_HEAP_STACK_BYTES - 1));
	if (total > sizeof(*e))
		total = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, total, rb_flags())) {
		count(PROFD_HEAP_CNT_RB_FULL);
		id = 0;
	}
	*busy = 0;
	return id;
}

static __always_inline bool in_obj(const struct profd_heap_objs *o, __u32 obj, __u64 addr)
{
	if (!o || obj >= PROFD_HEAP_MAX_OBJS)
		return false;
	return addr >= o->lo[obj] && addr < o->hi[obj];
}

extern bool bpf_session_is_return(void) __ksym __weak;

/* Entry of an allocation function. Returns true when its return must be seen (a sampled
 * allocation whose address goes into live_allocs). session: the uprobe-session program, whose
 * return runs only when asked for, so stack slots are not hijacked by unsampled calls. */
static __always_inline bool alloc_enter(struct pt_regs *ctx, bool session)
{
	__u64 cookie, sp, ptr = 0, size, ret = 0, slot, id;
	bool exact = track_live && !session; /* every return clears outer_sp */
	struct heap_thread *t;
	__u32 kind, obj;
	bool sampled;

	cookie = bpf_get_attach_cookie(ctx);
	kind = cookie & 0xff;
	obj = (cookie >> 8) & 0xff;
	sp = ctx->sp;
	count(PROFD_HEAP_CNT_CALLS);
	count_hit(cookie);
	t = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t) {
		count(PROFD_HEAP_CNT_NO_THREAD);
		return false;
	}
	/* Called by another probed function (posix_memalign(p, 16, n) calls malloc): counted there.
	 * Without exact returns, outer_sp may be stale: the outer call is still running only if
	 * its return address is still in its slot, or the slot was hijacked for a return: its own,
	 * or another tracer's (a return probe of anyone on this function makes the kernel hijack
	 * every call's return, sampled or not). */
	if (t->outer_sp && sp < t->outer_sp) {
		bpf_probe_read_user(&ret, sizeof(ret), (void *)sp);
		__u32 tgid = current_tgid();

		if (in_obj(bpf_map_lookup_elem(&objs, &tgid), obj, ret)) {
			slot = 0;
			if (!exact && !t->outer_armed)
				bpf_probe_read_user(&slot, sizeof(slot), (void *)t->outer_sp);
			if (exact || t->outer_armed || slot == t->outer_ret ||
			    (slot && slot == uprobe_trampoline(bpf_get_current_task_btf()))) {
				count(PROFD_HEAP_CNT_NESTED);
				return false;
			}
		}
		t->outer_sp = 0;
	}

	switch (kind) {
	case PROFD_HEAP_CALLOC:
		size = PT_REGS_PARM1(ctx) * PT_REGS_PARM2(ctx);
		break;
	case PROFD_HEAP_REALLOC:
		ptr = PT_REGS_PARM1(ctx);
		size = PT_REGS_PARM2(ctx);
		break;
	case PROFD_HEAP_REALLOCARRAY:
		ptr = PT_REGS_PARM1(ctx);
		size = PT_REGS_PARM2(ctx) * PT_REGS_PARM3(ctx);
		break;
	case PROFD_HEAP_MEMALIGN:
		size = PT_REGS_PARM2(ctx);
		break;
	case PROFD_HEAP_POSIX_MEMALIGN:
		size = PT_REGS_PARM3(ctx);
		break;
	default:
		size = PT_REGS_PARM1(ctx);
		break;
	}
	/* glibc's realloc(NULL, n) tail-jumps to malloc: counted by malloc's probe */
	if ((kind == PROFD_HEAP_REALLOC || kind == PROFD_HEAP_REALLOCARRAY) && !ptr &&
	    (cookie & PROFD_HEAP_COOKIE_TAIL))
		return false;
	/* calloc, realloc, memalign, ... may call another probed function (glibc's
	 * posix_memalign(p, 16, n) calls malloc); malloc-like ones do not, which keeps the
	 * hottest path free of user memory reads */
	if (kind != PROFD_HEAP_MALLOC) {
		t->outer_sp = sp;
		t->outer_armed = 0;
		if (!exact) {
			bpf_probe_read_user(&ret, sizeof(ret), (void *)sp);
			t->outer_ret = ret;
		}
	}
	/* realloc moves or frees the old block: it is no longer live at its old address */
	if (ptr && track_live)
		untrack(ptr);
	if (size == 0)
		return false;

	if (rate <= 1) {
		sampled = true;
	} else {
		if (!t->inited) {
			t->remaining = draw_interval();
			t->inited = 1;
		}
		if ((__s64)size >= t->remaining) {
			sampled = true;
			t->remaining = draw_interval();
		} else {
			sampled = false;
			t->remaining -= size;
		}
	}
	if (!sampled)
		return false;
	count(PROFD_HEAP_CNT_SAMPLED);
	id = send_alloc(ctx, size, kind);
	if (!id || !track_live)
		return false;
	if (t->pend_id) {
		count(PROFD_HEAP_CNT_PENDING_LOST);
		send_free(PROFD_HEAP_EV_UNTRACKED, t->pend_id, 0);
	}
	t->pend_id = id;
	t->pend_size = size;
	t->pend_sp = sp;
	t->pend_kind = kind;
	t->pend_memptr = kind == PROFD_HEAP_POSIX_MEMALIGN ? PT_REGS_PARM1(ctx) : 0;
	if (kind != PROFD_HEAP_MALLOC)
		t->outer_armed = 1;
	return true;
}

static __always_inline void alloc_return(struct pt_regs *ctx)
{
	struct profd_heap_live_key key = {};
	struct profd_heap_live v;
	struct heap_thread *t;
	__u64 sp, ptr;

	count(PROFD_HEAP_CNT_RETURNS);
	t = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, 0);
	if (!t)
		return;
	/* after `ret`, sp is 8 above the entry's: match the return to its entry */
	sp = ctx->sp - 8;
	if (t->outer_sp == sp) {
		t->outer_sp = 0;
		t->outer_armed = 0;
	}
	if (!t->pend_id || t->pend_sp != sp)
		return;
	ptr = PT_REGS_RC(ctx);
	if (t->pend_kind == PROFD_HEAP_POSIX_MEMALIGN) {
		if ((int)ptr != 0 || bpf_probe_read_user(&ptr, sizeof(ptr), (void *)t->pend_memptr))
			ptr = 0;
	}
	v.id = t->pend_id;
	v.size = t->pend_size;
	t->pend_id = 0;
	if (!ptr) {
		count(PROFD_HEAP_CNT_FAILED);
		send_free(PROFD_HEAP_EV_UNTRACKED, v.id, 0);
		return;
	}
	key.tgid = current_tgid();
	key.addr = ptr;
	if (bpf_map_update_elem(&live_allocs, &key, &v, BPF_ANY)) {
		count(PROFD_HEAP_CNT_LIVE_FULL);
		send_free(PROFD_HEAP_EV_UNTRACKED, v.id, 0);
	}
}

SEC("uprobe")
int on_alloc_enter(struct pt_regs *ctx)
{
	if (!noop)
		alloc_enter(ctx, false);
	return 0;
}

SEC("uretprobe")
int on_alloc_return(struct pt_regs *ctx)
{
	if (!noop)
		alloc_return(ctx);
	return 0;
}

/* Uprobe session (attached as BPF_TRACE_UPROBE_SESSION by user space): the entry returns 1 to
 * skip the return probe, which then costs nothing, for every call that was not sampled. */
SEC("uprobe")
int on_alloc_session(struct pt_regs *ctx)
{
	if (noop)
		return 1;
	if (bpf_session_is_return()) {
		alloc_return(ctx);
		return 0;
	}
	return alloc_enter(ctx, true) ? 0 : 1;
}

SEC("uprobe")
int on_free(struct pt_regs *ctx)
{
	__u64 ptr;

	if (noop)
		return 0;
	count(PROFD_HEAP_CNT_FREES);
	count_hit(bpf_get_attach_cookie(ctx));
	ptr = PT_REGS_PARM1(ctx);
	if (ptr)
		untrack(ptr);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

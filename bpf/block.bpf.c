// SPDX-License-Identifier: GPL-2.0
/* Off-CPU waits of the target's threads (the block profile). On sched_switch: a thread of the
 * set that leaves the CPU to sleep (not preempted) starts a wait; when it is switched in again
 * the wait ends, and Go's rule keeps it with probability min(1, d/rate), scaled. A kept wait
 * inside a syscall is reported at that syscall's exit, on the thread itself, where its user
 * registers and stack are still those of the wait's start (user code has not run since) and
 * can be read; a wait outside a syscall (a page fault) is reported at once, registers only.
 * Per-thread state lives in task storage, so it is bounded by the threads and freed with them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "block.h"
#include "stackcopy.h"
#include "uprobes.bpf.h"

#define ENOSYS 38

/* Tunables, set between open and load. */
const volatile bool follow_forks = false;   /* a set: new processes of its processes are followed */
const volatile __u64 pidns_dev = 0;         /* profd's PID namespace when not the initial one */
const volatile __u64 pidns_ino = 0;
const volatile __u64 rate = 10000000;       /* --block-rate, ns */
const volatile __u32 stack_bytes = 16384;   /* <= PROFD_BLOCK_MAX_STACK */
const volatile __u64 wakeup_bytes = 1 << 20;

/* Counters read by user space through the mmapped .bss. */
__u64 waits = 0;      /* waits of the target's threads that ended */
__u64 wait_ns = 0;    /* their total length */
__u64 sampled = 0;    /* waits kept by the rule */
__u64 lost = 0;       /* records dropped: ring buffer full */
__u64 no_storage = 0; /* waits not followed: task storage could not be created */

/* key: a PID (tgid) of the set; value: unused. Kept by user space and by on_fork. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); /* resized before load (PROFD_BLOCK_MAX_PROCS) */
	__type(key, __u32);
	__type(value, __u8);
} tgids SEC(".maps");

/* Per thread of the target: the wait in course and the kept waits not yet reported. */
struct wait_state {
	__u64 start_ns;    /* the wait began (0: the thread is not waiting) */
	__u64 count_milli; /* kept waits not yet reported (they share one syscall, one stack) */
	__u64 delay_ns;
	__u32 nwaits;
	__s32 syscall;     /* the syscall of the wait in course */
	__u32 tid, tgid;   /* as profd sees them (its PID namespace) */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct wait_state);
} wait_states SEC(".maps");

/* Records (struct profd_block_event), reserved whole and filled in place. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by user space before load */
} events SEC(".maps");


/* task_struct.state became __state in 5.14 */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___old *)t, state);
}

/* The current thread (prev at sched_switch) is the target's: its tid and tgid as profd sees them. */
static __always_inline bool current_in_set(__u32 *ret_tid, __u32 *ret_tgid)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = (__u32)(id >> 32), tid = (__u32)id;
	struct bpf_pidns_info ns;

	if (pidns_ino) {
		if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
			return false;
		tgid = ns.tgid;
		tid = ns.pid;
	}
	if (!bpf_map_lookup_elem(&tgids, &tgid))
		return false;
	*ret_tid = tid;
	*ret_tgid = tgid;
	return true;
}

/* Moves the pending waits of st into a record; with_stack: from the current thread's user
 * registers regs and its stack. */
static __always_inline void report(struct wait_state *st, struct task_struct *task, struct pt_regs *regs,
				   bool with_stack)
{
	struct profd_block_event *e;
	__u64 avail, flags;
	__u32 len = 0, sc = 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		st->nwaits = 0;
		st->count_milli = 0;
		st->delay_ns = 0;
		return;
	}
	e->count_milli = st->count_milli;
	e->delay_ns = st->delay_ns;
	e->nwaits = st->nwaits;
	e->tid = st->tid;
	e->tgid = st->tgid;
	e->syscall = st->syscall;
	e->flags = 0;
	st->nwaits = 0;
	st->count_milli = 0;
	st->delay_ns = 0;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	STACKCOPY_REGS(e->regs, regs);
	if (with_stack) {
		read_uprobe_state(task, &e->up);
		len = stackcopy_user_max(task, e->regs[7], e->stack, stack_bytes, PROFD_BLOCK_MAX_STACK, &sc);
		if (sc & PROFD_STACKCOPY_VMA_BUSY)
			e->flags |= PROFD_BLOCK_F_VMA_BUSY;
		if (sc & PROFD_STACKCOPY_SHORT)
			e->flags |= PROFD_BLOCK_F_STACK_SHORT;
	} else {
		e->up.tramp = 0;
		e->up.xol_vaddr = 0;
		e->up.nrets = 0;
		e->up.flags = 0;
		e->flags |= PROFD_BLOCK_F_NO_STACK;
	}
	e->stack_len = len;
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	flags = avail + sizeof(*e) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct wait_state *st;
	__u32 tid, tgid;
	__u64 now = 0, d;

	/* prev leaves the CPU: a wait starts if it goes to sleep (preempted or yielding threads stay
	 * runnable) and it is one of the target's (prev is the current task here) */
	if (!preempt && task_state(prev) != 0 && current_in_set(&tid, &tgid)) {
		st = bpf_task_storage_get(&wait_states, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (st) {
			struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(prev);

			now = bpf_ktime_get_ns();
			st->start_ns = now;
			st->tid = tid;
			st->tgid = tgid;
			/* in a syscall, ax holds -ENOSYS until it returns, orig_ax its number */
			st->syscall = regs && (long)regs->orig_ax >= 0 && (long)regs->ax == -ENOSYS
					      ? (__s32)regs->orig_ax : -1;
		} else {
			__sync_fetch_and_add(&no_storage, 1);
		}
	}

	/* next comes back: its wait ends */
	st = bpf_task_storage_get(&wait_states, next, 0, 0);
	if (!st || !st->start_ns)
		return 0;
	if (!now)
		now = bpf_ktime_get_ns();
	d = now - st->start_ns;
	st->start_ns = 0;
	__sync_fetch_and_add(&waits, 1);
	__sync_fetch_and_add(&wait_ns, d);
	if (!profd_block_keep(d, rate, bpf_get_prandom_u32()))
		return 0;
	__sync_fetch_and_add(&sampled, 1);
	profd_block_scale(d, rate, &st->count_milli, &st->delay_ns);
	st->nwaits++;
	/* not in a syscall: no exit will report it; the registers are next's saved user ones */
	if (st->syscall < 0) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(next);

		if (regs)
			report(st, next, regs, false);
	}
	return 0;
}

/* A thread with kept waits returns from their syscall: report them with its user stack. Runs at
 * every syscall exit on the machine while attached; a thread without state costs one load. */
SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct wait_state *st = bpf_task_storage_get(&wait_states, task, 0, 0);

	if (!st || !st->nwaits)
		return 0;
	report(st, task, regs, true);
	return 0;
}

/* A process of the set forks: its child is followed from its first instruction. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	if (!follow_forks || ctgid == ptgid || !bpf_map_lookup_elem(&tgids, &ptgid))
		return 0;
	bpf_map_update_elem(&tgids, &ctgid, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* Lock contention of the target's threads (the mutex profile), on the futex syscall tracepoints:
 * no uprobe, nothing on the uncontended path (native locks enter the kernel only when
 * contended). A thread of the set that waits for a lock (profd_mutex_classify in mutex.h) is a
 * waiter of its futex word from the call's entry to its exit. A thread that wakes the waiters
 * of a word (a contended unlock) marks the word with the wake's time in a ring of the word's
 * last wakes; one wake in `rate` is sampled (Go's SetMutexProfileFraction) and sends the waker's
 * user registers and stack under a fresh id. When a waiter returns, its wait is split at the
 * wakes of its word that happened meanwhile: the part before each sampled wake is charged to
 * it (the waiting that went on while that waker held the lock), and the rest, from the last wake
 * to the return, to the wake that ended the wait, with one contention. Go's meaning: the delay
 * waiters suffered, on the stack of the thread that released the lock. Bounded by LRU maps. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "mutex.h"
#include "stackcopy.h"
#include "tgids.bpf.h"
#include "uprobes.bpf.h"

/* Tunables, set between open and load. */
const volatile __u64 pidns_dev = 0;        /* profd's PID namespace when not the initial one */
const volatile __u64 pidns_ino = 0;
const volatile __u32 rate = 10;            /* --mutex-rate: one contended wake in rate is kept */
const volatile __u32 stack_bytes = 16384;  /* <= PROFD_MUTEX_MAX_STACK */
const volatile __u64 wakeup_bytes = 1 << 20;

/* Counters read by user space through the mmapped .bss. */
__u64 waits = 0;        /* lock waits of the target's threads that returned */
__u64 wait_ns = 0;      /* their total length */
__u64 other_waits = 0;  /* futex waits that are not lock waits (condition variables, ...) */
__u64 wakes = 0;        /* wakes of a word with waiters (contended unlocks) */
__u64 sampled = 0;      /* of them, kept */
__u64 charged_ns = 0;   /* waiting charged to a wake, sampled or not */
__u64 uncharged_ns = 0; /* waiting that no wake in a word's ring explains (woken otherwise, timed
			 * out, or more wakes meanwhile than the ring holds) */
__u64 lost = 0;         /* records dropped: ring buffer full */
__u64 no_slot = 0;      /* waits not followed: a map was full and its LRU entry busy */
__u64 next_id = 0;

/* Per thread (task storage: bounded by the threads, freed with them): its lock wait in course,
 * the futex word and its start; start_ns 0: none. */
struct call {
	__u64 uaddr;
	__u64 start_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct call);
} calls SEC(".maps");

/* key: a futex word of a process (its user address, the kernel tgid); value: its waiters in
 * course and the times and ids (0: not sampled) of its last PROFD_MUTEX_WAKES wakes, slot
 * seq % PROFD_MUTEX_WAKES being the next to write. */
struct word_key {
	__u64 uaddr;
	__u32 tgid;
	__u32 pad;
};

struct word {
	__u32 seq;
	__s32 nwait;
	__u64 t[PROFD_MUTEX_WAKES];
	__u64 id[PROFD_MUTEX_WAKES];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PROFD_MUTEX_MAX_WORDS);
	__type(key, struct word_key);
	__type(value, struct word);
} words SEC(".maps");

/* Records (struct profd_mutex_wake reserved whole; struct profd_mutex_charge copied). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by user space before load */
} events SEC(".maps");

/* The current thread is the set's: its tid and tgid as profd sees them, and the kernel's tgid. */
static __always_inline bool current_in_set(__u32 *ret_tid, __u32 *ret_tgid, __u32 *ret_ktgid)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = (__u32)(id >> 32), tid = (__u32)id;
	struct bpf_pidns_info ns;

	*ret_ktgid = tgid;
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

static __always_inline void flush_ring(void)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	if (avail >= wakeup_bytes)
		bpf_ringbuf_output(&events, &avail, 0, BPF_RB_FORCE_WAKEUP); /* a zero-length nudge */
}

/* Sends the current thread's user registers and stack as wake `id`. Returns 0 or -1 (full). */
static __always_inline int send_wake(__u64 id, __u32 tid, __u32 tgid, __u32 op)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct profd_mutex_wake *e;
	struct pt_regs regs;
	__u64 avail, flags;
	__u32 sflags = 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		return -1;
	}
	e->type = PROFD_MUTEX_EV_WAKE;
	e->flags = 0;
	e->id = id;
	e->tid = tid;
	e->tgid = tgid;
	e->op = op;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	/* the user registers saved at the syscall's entry */
	if (bpf_probe_read_kernel(&regs, sizeof(regs), (void *)bpf_task_pt_regs(task))) {
		__builtin_memset(e->regs, 0, sizeof(e->regs));
		e->stack_len = 0;
		e->flags |= PROFD_MUTEX_F_NO_STACK;
		e->up.nrets = 0;
		e->up.flags = 0;
		e->up.tramp = 0;
		e->up.xol_vaddr = 0;
	} else {
		STACKCOPY_REGS(e->regs, &regs);
		read_uprobe_state(task, &e->up);
		e->stack_len = stackcopy_user(task, regs.sp, e->stack, stack_bytes, &sflags);
		if (sflags & PROFD_STACKCOPY_VMA_BUSY)
			e->flags |= PROFD_MUTEX_F_VMA_BUSY;
		if (sflags & PROFD_STACKCOPY_SHORT)
			e->flags |= PROFD_MUTEX_F_STACK_SHORT;
		if (sflags & PROFD_STACKCOPY_NONE)
			e->flags |= PROFD_MUTEX_F_NO_STACK;
	}
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	flags = avail + sizeof(*e) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	return 0;
}

static __always_inline void send_charge(__u64 id, __u64 delay, __u32 count)
{
	struct profd_mutex_charge c = { .type = PROFD_MUTEX_EV_CHARGE, .count = count, .id = id, .delay_ns = delay };

	if (bpf_ringbuf_output(&events, &c, sizeof(c), BPF_RB_NO_WAKEUP))
		__sync_fetch_and_add(&lost, 1);
}

/* A thread of the set starts waiting for the lock at uaddr. */
static __always_inline void lock_wait_begins(__u64 uaddr, __u32 ktgid)
{
	struct word_key key = { .uaddr = uaddr, .tgid = ktgid };
	struct call *c;
	struct word *w;

	w = bpf_map_lookup_elem(&words, &key);
	if (!w) {
		struct word zero = {};

		bpf_map_update_elem(&words, &key, &zero, BPF_NOEXIST);
		w = bpf_map_lookup_elem(&words, &key);
		if (!w) {
			__sync_fetch_and_add(&no_slot, 1);
			return;
		}
	}
	c = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c) {
		__sync_fetch_and_add(&no_slot, 1);
		return;
	}
	c->uaddr = uaddr;
	c->start_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&w->nwait, 1);
}

/* A thread of the set wakes the waiters of uaddr: a contended unlock when the word has some. */
static __always_inline void wake(__u64 uaddr, __u32 tid, __u32 tgid, __u32 ktgid, __u32 op)
{
	struct word_key key = { .uaddr = uaddr, .tgid = ktgid };
	__u64 now = bpf_ktime_get_ns(), id = 0;
	struct word *w;
	__u32 seq;

	w = bpf_map_lookup_elem(&words, &key);
	if (!w || w->nwait <= 0)
		return;
	__sync_fetch_and_add(&wakes, 1);
	if (profd_mutex_keep(rate, bpf_get_prandom_u32())) {
		id = __sync_fetch_and_add(&next_id, 1) + 1;
		if (send_wake(id, tid, tgid, op) == 0)
			__sync_fetch_and_add(&sampled, 1);
		else
			id = 0;
	}
	seq = __sync_fetch_and_add(&w->seq, 1);
	/* the id first: a waiter that reads the new time reads the new id (x86 keeps store order) */
	w->id[seq & (PROFD_MUTEX_WAKES - 1)] = id;
	w->t[seq & (PROFD_MUTEX_WAKES - 1)] = now;
}

SEC("tracepoint/syscalls/sys_enter_futex")
int on_futex_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid, tgid, ktgid, op = (__u32)ctx->args[1], kind;
	__u64 uaddr = ctx->args[0];

	if (!current_in_set(&tid, &tgid, &ktgid))
		return 0;
	kind = profd_mutex_classify(op, (__u32)ctx->args[2]);
	if (kind == PROFD_MUTEX_LOCK_WAIT) {
		lock_wait_begins(uaddr, ktgid);
	} else if (kind == PROFD_MUTEX_WAKE) {
		wake(uaddr, tid, tgid, ktgid, op);
		/* FUTEX_WAKE_OP wakes the waiters of a second word too */
		if ((op & PROFD_FUTEX_CMD_MASK) == PROFD_FUTEX_WAKE_OP)
			wake(ctx->args[4], tid, tgid, ktgid, op);
	} else if ((op & PROFD_FUTEX_CMD_MASK) == PROFD_FUTEX_WAIT ||
		   (op & PROFD_FUTEX_CMD_MASK) == PROFD_FUTEX_WAIT_BITSET ||
		   (op & PROFD_FUTEX_CMD_MASK) == PROFD_FUTEX_WAIT_REQUEUE_PI) {
		__sync_fetch_and_add(&other_waits, 1);
	}
	return 0;
}

/* The current thread returns from a futex call (ret: its result); if it was a lock wait, split
 * the wait between the wakes of its word (see the top of the file). */
static __always_inline void call_returns(long ret)
{
	__u64 now, cursor, pend_id = 0, pend_ns = 0;
	__u32 lo, seq;
	struct word_key key = { .tgid = (__u32)(bpf_get_current_pid_tgid() >> 32) };
	struct call *cp, c;
	struct word *w;

	/* any thread's futex return comes here: one lookup in its own storage */
	cp = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0, 0);
	if (!cp || !cp->start_ns)
		return;
	c = *cp;
	cp->start_ns = 0;
	now = bpf_ktime_get_ns();
	__sync_fetch_and_add(&waits, 1);
	__sync_fetch_and_add(&wait_ns, now - c.start_ns);
	key.uaddr = c.uaddr;
	w = bpf_map_lookup_elem(&words, &key);
	if (!w)
		return;
	__sync_fetch_and_add(&w->nwait, -1);
	seq = *(volatile __u32 *)&w->seq;
	lo = seq > PROFD_MUTEX_WAKES ? seq - PROFD_MUTEX_WAKES : 0;
	cursor = c.start_ns;
	for (__u32 i = 0; i < PROFD_MUTEX_WAKES; i++) {
		__u32 k = lo + i, slot = k & (PROFD_MUTEX_WAKES - 1);
		__u64 t, wid;

		if (k >= seq)
			break;
		t = *(volatile __u64 *)&w->t[slot];
		wid = *(volatile __u64 *)&w->id[slot];
		if (t <= cursor || t > now)
			continue;
		if (i == 0 && lo > 0) {
			/* wakes before this one left the ring: their share is not known */
			__sync_fetch_and_add(&uncharged_ns, t - cursor);
			cursor = t;
			pend_id = wid;
			pend_ns = 0;
			continue;
		}
		if (pend_id)
			send_charge(pend_id, pend_ns, 0);
		__sync_fetch_and_add(&charged_ns, t - cursor);
		pend_id = wid;
		pend_ns = t - cursor;
		cursor = t;
	}
	if (cursor == c.start_ns || ret != 0) {
		/* not woken by a wake of the word (timed out, interrupted, the word had changed, or
		 * woken from elsewhere): the rest is nobody's */
		__sync_fetch_and_add(&uncharged_ns, now - cursor);
		if (pend_id)
			send_charge(pend_id, pend_ns, 0);
		return;
	}
	/* woken by the last wake: it ended this wait; the time until the return is its too */
	__sync_fetch_and_add(&charged_ns, now - cursor);
	if (pend_id)
		send_charge(pend_id, pend_ns + (now - cursor), 1);
	flush_ring();
}

SEC("tracepoint/syscalls/sys_exit_futex")
int on_futex_exit(struct trace_event_raw_sys_exit *ctx)
{
	call_returns(ctx->ret);
	return 0;
}

/* futex_waitv(2) (5.16+): a wait on one word is a wait like futex's (several words are an
 * event wait, left to the block profile); woken by futex(2)'s wakes. */
struct futex_waitv___profd {
	__u64 val;
	__u64 uaddr;
	__u32 flags;
	__u32 reserved;
};

SEC("tracepoint/syscalls/sys_enter_futex_waitv")
int on_futex_waitv_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid, tgid, ktgid;
	struct futex_waitv___profd v;

	if (!current_in_set(&tid, &tgid, &ktgid))
		return 0;
	if (ctx->args[1] != 1 || bpf_probe_read_user(&v, sizeof(v), (void *)ctx->args[0])) {
		__sync_fetch_and_add(&other_waits, 1);
		return 0;
	}
	if (profd_mutex_classify(PROFD_FUTEX_WAIT, (__u32)v.val) == PROFD_MUTEX_LOCK_WAIT)
		lock_wait_begins(v.uaddr, ktgid);
	else
		__sync_fetch_and_add(&other_waits, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_futex_waitv")
int on_futex_waitv_exit(struct trace_event_raw_sys_exit *ctx)
{
	/* futex_waitv returns the index of the word that woke it: 0 for the one word */
	call_returns(ctx->ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

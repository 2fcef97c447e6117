/* SPDX-License-Identifier: MIT */
/* Types, limits and the classification rule shared by bpf/mutex.bpf.c and
 * daemon/sources/mutex.c. Two kinds of ring-buffer record: a sampled contended wake (the waker's
 * user registers and the top of its user stack, under a fresh id), and a charge (ns of waiting
 * that a wake ended or that went on while its waker held the lock, against that wake's id). */
#ifndef PROFD_BPF_MUTEX_H
#define PROFD_BPF_MUTEX_H

#include "uprobes.h"

/* Largest user stack copy (PROFD_STACKCOPY_MAX in bpf/stackcopy.h). */
#define PROFD_MUTEX_MAX_STACK 32768
#define PROFD_MUTEX_NREGS 17
#define PROFD_MUTEX_COMM_LEN 16
/* Processes followed at once (the tgids map), as --max-processes bounds them. */
#define PROFD_MUTEX_MAX_PROCS 65536
/* Futex words with waiters followed at once (an LRU map: the least recently used word gives
 * way, e.g. one whose waiter was killed inside its wait). */
#define PROFD_MUTEX_MAX_WORDS 16384
/* The last wakes of a futex word that a waiter's time is split between (power of two). */
#define PROFD_MUTEX_WAKES 16
/* --mutex-rate bounds: 1 (every contended wake) to 1,000,000. */
#define PROFD_MUTEX_MAX_RATE 1000000u

/* futex(2) operations (linux/futex.h) */
#define PROFD_FUTEX_WAIT 0
#define PROFD_FUTEX_WAKE 1
#define PROFD_FUTEX_REQUEUE 3
#define PROFD_FUTEX_CMP_REQUEUE 4
#define PROFD_FUTEX_WAKE_OP 5
#define PROFD_FUTEX_LOCK_PI 6
#define PROFD_FUTEX_UNLOCK_PI 7
#define PROFD_FUTEX_WAIT_BITSET 9
#define PROFD_FUTEX_WAKE_BITSET 10
#define PROFD_FUTEX_WAIT_REQUEUE_PI 11
#define PROFD_FUTEX_CMP_REQUEUE_PI 12
#define PROFD_FUTEX_LOCK_PI2 13
#define PROFD_FUTEX_CMD_MASK 0x7f /* without FUTEX_PRIVATE_FLAG (128), FUTEX_CLOCK_REALTIME (256) */

/* What a futex call is, for the mutex profile. */
#define PROFD_MUTEX_OTHER 0     /* neither: a condition variable's or a semaphore's wait, ... */
#define PROFD_MUTEX_LOCK_WAIT 1 /* a thread waits for a lock that another holds */
#define PROFD_MUTEX_WAKE 2      /* a thread wakes the waiters of a word (a contended unlock) */

/* The rule, verified on glibc 2.36 (Debian 12) with strace: a lock's waiter sleeps while the
 * lock word says "held" (nonzero: glibc's mutexes and std::mutex wait with FUTEX_WAIT on 2, timed
 * mutex locks with FUTEX_WAIT_BITSET on 2, rwlocks and std::shared_mutex with FUTEX_WAIT_BITSET on
 * 2 or 3; PI mutexes use FUTEX_LOCK_PI); a condition variable's or a semaphore's waiter sleeps
 * while nothing is signalled (FUTEX_WAIT_BITSET on 0: pthread_cond_wait on __g_signals,
 * std::condition_variable, sem_wait) or is requeued to a PI mutex (FUTEX_WAIT_REQUEUE_PI). Any
 * wake of a word ends its waiters' waits. */
static inline int profd_mutex_classify(__u32 op, __u32 val)
{
	switch (op & PROFD_FUTEX_CMD_MASK) {
	case PROFD_FUTEX_WAIT:
	case PROFD_FUTEX_WAIT_BITSET:
		return val != 0 ? PROFD_MUTEX_LOCK_WAIT : PROFD_MUTEX_OTHER;
	case PROFD_FUTEX_LOCK_PI:
	case PROFD_FUTEX_LOCK_PI2:
		return PROFD_MUTEX_LOCK_WAIT;
	case PROFD_FUTEX_WAKE:
	case PROFD_FUTEX_WAKE_BITSET:
	case PROFD_FUTEX_WAKE_OP:
	case PROFD_FUTEX_UNLOCK_PI:
	case PROFD_FUTEX_REQUEUE:
	case PROFD_FUTEX_CMP_REQUEUE:
	case PROFD_FUTEX_CMP_REQUEUE_PI:
		return PROFD_MUTEX_WAKE;
	default:
		return PROFD_MUTEX_OTHER;
	}
}

/* Go's mutex sampling (runtime.SetMutexProfileFraction(rate)): one contended wake in `rate` on
 * average is kept; rand uniform over 32 bits. */
static inline int profd_mutex_keep(__u32 rate, __u32 rand)
{
	return rate <= 1 || rand % rate == 0;
}

/* profd_mutex_event.type */
#define PROFD_MUTEX_EV_WAKE 1   /* struct profd_mutex_wake */
#define PROFD_MUTEX_EV_CHARGE 2 /* struct profd_mutex_charge */

/* profd_mutex_wake.flags */
#define PROFD_MUTEX_F_VMA_BUSY 0x1    /* stack mapping end not looked up: found by retrying */
#define PROFD_MUTEX_F_STACK_SHORT 0x2 /* the copy stopped at the end of its mapping */
#define PROFD_MUTEX_F_NO_STACK 0x4    /* no stack bytes could be read */

/* Waiting charged to a sampled wake: waiters' time on its word between the wake before it and
 * it, and (count 1) the rest of the wait of a waiter it woke, until that waiter's return. */
struct profd_mutex_charge {
	__u32 type;
	__u32 count;    /* waits it ended: 1 or 0 */
	__u64 id;       /* the wake's id */
	__u64 delay_ns;
};

/* A sampled contended wake. Only offsetof(stack) + stack_len bytes carry data. */
struct profd_mutex_wake {
	__u32 type;
	__u32 flags;
	__u64 id;          /* > 0, unique while attached */
	__u32 tid;
	__u32 tgid;        /* the process (as profd sees PIDs): which member of the set */
	__u32 stack_len;   /* bytes in stack[], copied from regs[7] (rsp) upwards */
	__u32 op;          /* the futex operation */
	__u64 regs[PROFD_MUTEX_NREGS];
	char comm[PROFD_MUTEX_COMM_LEN];
	struct profd_uprobe_state up;
	__u8 stack[PROFD_MUTEX_MAX_STACK];
};

#endif

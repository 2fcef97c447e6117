/* SPDX-License-Identifier: MIT */
/* Types, limits and the sampling rule shared by bpf/block.bpf.c and daemon/sources/block.c: one
 * ring-buffer record per sampled off-CPU wait of the target (or several waits of one thread in
 * one syscall, which share one user stack), with the user registers and a copy of the top of
 * the user stack taken before the thread returned to user space. */
#ifndef PROFD_BPF_BLOCK_H
#define PROFD_BPF_BLOCK_H

/* Largest user stack copy; --block's stack bytes are at most this. */
#define PROFD_BLOCK_MAX_STACK 16384
/* x86_64 registers in DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip. */
#define PROFD_BLOCK_NREGS 17
#define PROFD_BLOCK_COMM_LEN 16
/* Processes followed at once (the tgids map), as --max-processes bounds them. */
#define PROFD_BLOCK_MAX_PROCS 65536
#define PROFD_BLOCK_PAGE 4096
/* --block-rate bounds, in ns: 1 (every wait) to 1 s; keeps the products below within 64 bits. */
#define PROFD_BLOCK_MAX_RATE 1000000000ull
/* Scaled counts are carried in thousandths (Go keeps them as floats). */
#define PROFD_BLOCK_MILLI 1000ull

#include "uprobes.h"

/* profd_block_event.flags */
#define PROFD_BLOCK_F_NO_STACK 0x1   /* the wait was not in a syscall: registers only, no stack */
#define PROFD_BLOCK_F_VMA_BUSY 0x2   /* stack mapping end not looked up (busy): found by retrying */
#define PROFD_BLOCK_F_STACK_SHORT 0x4 /* a read crossed the end of the mapping and was retried */

/* One record. Only offsetof(stack) + stack_len bytes carry data. */
struct profd_block_event {
	__u64 count_milli; /* Go's scaled contention count of the waits, in thousandths */
	__u64 delay_ns;    /* Go's scaled delay of the waits */
	__u32 nwaits;      /* sampled waits this record stands for */
	__u32 tid;
	__u32 tgid;        /* the process (as profd sees PIDs): which member of the set */
	__s32 syscall;     /* the syscall the thread waited in (x86_64 number); -1: none */
	__u32 flags;
	__u32 stack_len;   /* bytes in stack[], copied from regs[7] (rsp) upwards */
	__u64 regs[PROFD_BLOCK_NREGS];
	char comm[PROFD_BLOCK_COMM_LEN];
	struct profd_uprobe_state up;
	__u8 stack[PROFD_BLOCK_MAX_STACK];
};

/* Go's rule (runtime.blockevent): a wait of d ns is kept with probability min(1, d/rate); rand
 * is uniform over 32 bits. rate is 1..PROFD_BLOCK_MAX_RATE. */
static inline int profd_block_keep(__u64 d, __u64 rate, __u32 rand)
{
	if (d >= rate)
		return 1;
	/* rand / 2^32 < d / rate, in integers: rate < 2^30 and d < rate */
	return (__u64)rand * rate < (d << 32);
}

/* Go's scaling of a kept wait (runtime.saveblockevent): one below the rate stands for rate/d
 * waits and rate ns of delay; one at or above it for itself. Adds to *count_milli, *delay. */
static inline void profd_block_scale(__u64 d, __u64 rate, __u64 *count_milli, __u64 *delay)
{
	if (d < rate) {
		*count_milli += rate * PROFD_BLOCK_MILLI / (d ? d : 1);
		*delay += rate;
	} else {
		*count_milli += PROFD_BLOCK_MILLI;
		*delay += d;
	}
}

#endif

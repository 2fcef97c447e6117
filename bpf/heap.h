/* SPDX-License-Identifier: MIT */
/* Types and limits shared by bpf/heap.bpf.c and daemon/sources/heap.c: the ring-buffer events of sampled
 * allocations and frees, the probe kinds carried in attach cookies, and the drop counters. */
#ifndef PROFD_BPF_HEAP_H
#define PROFD_BPF_HEAP_H

/* Bytes of stack copied per sampled allocation (read page by page, so the copy stops at the end
 * of the thread's stack mapping). */
#define PROFD_HEAP_STACK_BYTES 16384
/* The event's buffer has one page of slack so the verifier can bound page-sized reads by a mask. */
#define PROFD_HEAP_STACK_BUF (PROFD_HEAP_STACK_BYTES + 4096)
/* Entries of the table of exponentially distributed sampling intervals (power of two). */
#define PROFD_HEAP_EXP_N 4096
/* Allocator objects whose text ranges identify calls made from inside the allocator. */
#define PROFD_HEAP_MAX_OBJS 8
#define PROFD_HEAP_NREGS 17

#include "uprobes.h"

/* Probes counted one by one (their hits cost the target: see probe_hits in heap.bpf.c). */
#define PROFD_HEAP_MAX_PROBES 64

/* Probe kinds, the low 8 bits of the attach cookie; bits 8..15 hold the object index and bits
 * 24..31 the probe's index in the plan (for probe_hits). */
enum profd_heap_kind {
	PROFD_HEAP_MALLOC = 0,     /* size = arg0 (malloc, valloc, pvalloc, mallocx, operator new) */
	PROFD_HEAP_CALLOC,         /* size = arg0 * arg1 */
	PROFD_HEAP_REALLOC,        /* ptr = arg0, size = arg1 (realloc, rallocx) */
	PROFD_HEAP_REALLOCARRAY,   /* ptr = arg0, size = arg1 * arg2 */
	PROFD_HEAP_MEMALIGN,       /* size = arg1 (memalign, aligned_alloc) */
	PROFD_HEAP_POSIX_MEMALIGN, /* *arg0 = result, size = arg2 */
	PROFD_HEAP_FREE,           /* ptr = arg0 (free, cfree, sdallocx, dallocx, operator delete) */
	PROFD_HEAP_KIND__COUNT,
};

/* Cookie bit: the function tail-jumps to another probed allocation function on some path; for
 * realloc kinds that path is realloc(NULL, n), so a NULL ptr is left to the callee's probe. */
#define PROFD_HEAP_COOKIE_TAIL (1u << 16)
#define PROFD_HEAP_COOKIE_PROBE_SHIFT 24

enum profd_heap_event_type {
	PROFD_HEAP_EV_ALLOC = 1,  /* a sampled allocation: struct profd_heap_alloc_event */
	PROFD_HEAP_EV_FREE,       /* a tracked allocation was freed: struct profd_heap_free_event */
	PROFD_HEAP_EV_UNTRACKED,  /* a sampled allocation will never be seen freed (failed, or a
				   * bound was hit): struct profd_heap_free_event, size 0 */
};

struct profd_heap_alloc_event {
	__u32 type;
	__u32 tid;
	__u32 tgid;         /* the process (as profd sees PIDs): which member of the set */
	__u32 pad;
	__u64 id;           /* unique per sampled allocation; frees refer to it */
	__u64 size;
	__u64 regs[PROFD_HEAP_NREGS]; /* DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip */
	__u64 stack_start;  /* address of stack[0] (= rsp) */
	__u32 stack_len;    /* bytes of stack[] that were copied */
	__u32 kind;
	struct profd_uprobe_state up; /* return addresses of outer probed calls, replaced meanwhile */
	__u8 stack[PROFD_HEAP_STACK_BUF];
};

struct profd_heap_free_event {
	__u32 type;
	__u32 pad;
	__u64 id;
	__u64 size;
};

/* Key of the live_allocs map: the address returned to the program, in its process (forked
 * workers hand out the same addresses). */
struct profd_heap_live_key {
	__u32 tgid;
	__u32 pad;
	__u64 addr;
};

/* Value of the objs map (key: a process): the text ranges of its allocator objects, so that a
 * call from inside the allocator is recognised (see the cookie's object index). */
struct profd_heap_objs {
	__u64 lo[PROFD_HEAP_MAX_OBJS];
	__u64 hi[PROFD_HEAP_MAX_OBJS];
};

/* Value of the live_allocs map (key: struct profd_heap_live_key). */
struct profd_heap_live {
	__u64 id;
	__u64 size;
};

/* Per-CPU counters (index into the counters map). */
enum profd_heap_counter {
	PROFD_HEAP_CNT_CALLS = 0,      /* allocation calls seen */
	PROFD_HEAP_CNT_FREES,          /* free calls seen */
	PROFD_HEAP_CNT_SAMPLED,        /* allocations sampled */
	PROFD_HEAP_CNT_NESTED,         /* calls made from inside another probed function, not counted twice */
	PROFD_HEAP_CNT_RB_FULL,        /* sampled allocation events lost: ring buffer full (or this
					* CPU's event buffer in use by a preempted program) */
	PROFD_HEAP_CNT_RB_FULL_FREE,   /* free / untracked events lost: ring buffer full */
	PROFD_HEAP_CNT_LIVE_FULL,      /* sampled allocations not tracked: live_allocs full */
	PROFD_HEAP_CNT_PENDING_LOST,   /* sampled allocation whose return was not seen (nested sample) */
	PROFD_HEAP_CNT_NO_THREAD,      /* thread state could not be created */
	PROFD_HEAP_CNT_STACK_FAIL,     /* stack could not be read at all */
	PROFD_HEAP_CNT_FAILED,         /* sampled allocation returned NULL / an error */
	PROFD_HEAP_CNT_RETURNS,        /* return probes run (each one a trap the target paid) */
	PROFD_HEAP_CNT__COUNT,
};

#endif

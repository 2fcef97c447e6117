/* SPDX-License-Identifier: MIT */
/* Types and limits shared by bpf/growth.bpf.c and daemon/sources/growth.c: one ring-buffer record
 * per sampled page fault of a process profd serves (the address, the bytes the fault was weighed with, the
 * user registers and the top of the user stack), and the per-CPU counters of every fault. */
#ifndef PROFD_BPF_GROWTH_H
#define PROFD_BPF_GROWTH_H

#include "uprobes.h"

/* Largest user stack copy (PROFD_STACKCOPY_MAX in bpf/stackcopy.h). */
#define PROFD_GROWTH_MAX_STACK 32768
#define PROFD_GROWTH_NREGS 17
/* Processes tracked at once (the tgids map), as --max-processes bounds them. */
#define PROFD_GROWTH_MAX_PROCS 65536
/* Entries of the table of exponentially distributed sampling intervals (power of two). */
#define PROFD_GROWTH_EXP_N 4096
#define PROFD_GROWTH_PAGE 4096ull
/* What one fault maps where a PMD transparent huge page can be used (x86_64). */
#define PROFD_GROWTH_HUGE (2ull << 20)

/* thp_mode: the kernel's setting for PMD-sized anonymous THP, as read at attach */
#define PROFD_GROWTH_THP_NEVER 0
#define PROFD_GROWTH_THP_MADVISE 1 /* only VMAs with MADV_HUGEPAGE (VM_HUGEPAGE) */
#define PROFD_GROWTH_THP_ALWAYS 2  /* every anonymous VMA but MADV_NOHUGEPAGE ones */

/* profd_growth_event.flags */
#define PROFD_GROWTH_F_HUGE 0x1        /* weighed 2 MiB: nothing mapped in its aligned 2 MiB, THP allowed */
#define PROFD_GROWTH_F_WRITE 0x2       /* a write (else a read or an instruction fetch) */
#define PROFD_GROWTH_F_SWAPIN 0x4      /* the page table held a swap (or migration) entry */
#define PROFD_GROWTH_F_NO_WALK 0x8     /* page tables not readable: weighed 4 KiB whatever it maps */
#define PROFD_GROWTH_F_VMA_BUSY 0x10   /* a THP candidate whose mapping could not be looked up */
#define PROFD_GROWTH_F_STACK_SHORT 0x20 /* the stack copy stopped at the end of its mapping */
#define PROFD_GROWTH_F_NO_STACK 0x40   /* no stack bytes could be read */

/* One sampled fault. Only offsetof(stack) + stack_len bytes go to the ring buffer. */
struct profd_growth_event {
	__u64 time_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 addr;      /* the faulting address */
	__u64 weight;    /* bytes the fault was weighed with when it was sampled (4 KiB or 2 MiB) */
	__u32 tid;
	__u32 flags;
	__u32 stack_len; /* bytes in stack[], copied from regs[7] (rsp) upwards */
	__u32 tgid;      /* the process (as profd sees PIDs): which member of the set */
	__u64 regs[PROFD_GROWTH_NREGS]; /* user registers at the fault (DWARF order) */
	struct profd_uprobe_state up;   /* what uprobes (profd's heap probes) had changed in the thread */
	__u8 stack[PROFD_GROWTH_MAX_STACK];
};

/* Per-CPU counters (growth_cpu.cnt in growth.bpf.c), summed by user space. */
enum profd_growth_counter {
	PROFD_GROWTH_CNT_FAULTS = 0, /* not-present faults of the target: first touches, swap-ins */
	PROFD_GROWTH_CNT_BYTES,      /* the bytes they were weighed with, in all */
	PROFD_GROWTH_CNT_HUGE,       /* of them, weighed 2 MiB */
	PROFD_GROWTH_CNT_SWAPIN,     /* of them, swap-ins (or migration waits) */
	PROFD_GROWTH_CNT_OTHER,      /* faults not counted: protection (copy-on-write, ...), races */
	PROFD_GROWTH_CNT_NUMA,       /* NUMA-balancing hint faults: nothing new, not counted */
	PROFD_GROWTH_CNT_SAMPLED,    /* faults sampled */
	PROFD_GROWTH_CNT_RB_FULL,    /* sampled faults lost: ring buffer full */
	PROFD_GROWTH_CNT_NO_WALK,    /* page tables could not be read: weighed 4 KiB */
	PROFD_GROWTH_CNT_VMA_BUSY,   /* THP candidates whose mapping was not looked up: 4 KiB */
	PROFD_GROWTH_CNT_TIMED,      /* faults of the target whose path was timed (one in 64) */
	PROFD_GROWTH_CNT_TIMED_NS,   /* their time in the program, the sample's copy left out (a
				      * stretch over 50 us, the vCPU descheduled, is not counted) */
	PROFD_GROWTH_CNT_SAMPLE_NS,  /* time spent sending samples (registers, stack, ring) */
	PROFD_GROWTH_CNT_SAMPLE_TIMED, /* samples whose sending was timed (not an outlier) */
	PROFD_GROWTH_CNT__COUNT,
};

/* The per-CPU value of growth.bpf.c's cpu_state map: the sampling countdown, the counters, and
 * two caches of what the last faults on this CPU walked to. The last PMD entry that pointed to a
 * page table: a fault in the same 2 MiB of the same mm reads it again (still that table iff
 * unchanged) and the PTE, two reads instead of four for growth that touches page by page. The
 * last mapping looked up for a THP decision: a fault inside its range reads its fields again
 * instead of looking it up (bpf_find_vma, with interrupts off, defers its unlock to a self-IPI). */
struct profd_growth_cpu {
	__s64 remaining; /* bytes until the next sample on this CPU */
	__u32 inited;
	__u32 tick;      /* faults of the target on this CPU: every 64th is timed */
	__u64 cnt[PROFD_GROWTH_CNT__COUNT];
	__u64 last_mm, last_range, last_pmd_at, last_pmd;
	__u64 last_vma, last_vma_start, last_vma_end, last_vma_mm;
};

/* calib_state (growth.bpf.c .bss): finding the kernel's direct map from profd's own fault */
#define PROFD_GROWTH_CALIB_NONE 0
#define PROFD_GROWTH_CALIB_OK 1
#define PROFD_GROWTH_CALIB_FAILED 2

#endif

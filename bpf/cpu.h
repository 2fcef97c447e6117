/* SPDX-License-Identifier: MIT */
/* Types and limits shared by bpf/cpu.bpf.c and daemon/sources/cpu.c: one ring-buffer record per CPU
 * sample of the target (registers, kernel frames, a copy of the top of the user stack). */
#ifndef PROFD_BPF_CPU_H
#define PROFD_BPF_CPU_H

/* Largest user stack copy; the --stack-bytes tunable is at most this. */
#define PROFD_CPU_MAX_STACK 32768
/* Kernel frames kept per sample (bpf_get_stack into a fixed array). */
#define PROFD_CPU_MAX_KFRAMES 64
/* x86_64 registers in DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip. */
#define PROFD_CPU_NREGS 17
#define PROFD_CPU_COMM_LEN 16
/* Processes sampled at once (the tgids map), as --max-processes bounds them. */
#define PROFD_CPU_MAX_PROCS 65536
/* Mappings end on page boundaries (x86_64: 4 KiB). */
#define PROFD_CPU_PAGE 4096

#include "uprobes.h"

/* profd_cpu_event.flags */
#define PROFD_CPU_F_KERNEL 0x1      /* the sample interrupted kernel code: kframes are valid */
#define PROFD_CPU_F_VMA_BUSY 0x2    /* stack mapping end not looked up (busy): found by retrying */
#define PROFD_CPU_F_STACK_SHORT 0x4 /* a read crossed the end of the mapping and was retried */
#define PROFD_CPU_F_NO_STACK 0x8    /* no stack bytes could be read */

/* One sample. Only offsetof(stack) + stack_len bytes are written to the ring buffer. */
struct profd_cpu_event {
	__u64 time_ns;     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 tid;
	__u32 tgid;        /* the process (as profd sees PIDs): which member of the set */
	__u32 flags;
	__u32 nkframes;    /* kernel frames, leaf first; kframes[0] is the interrupted ip */
	__u32 stack_len;   /* bytes in stack[], copied from regs[7] (rsp) upwards */
	__u64 regs[PROFD_CPU_NREGS]; /* user registers at the sample (DWARF order) */
	char comm[PROFD_CPU_COMM_LEN]; /* thread name */
	__u64 kframes[PROFD_CPU_MAX_KFRAMES];
	struct profd_uprobe_state up; /* what uprobes had changed in the thread's user state */
	__u8 stack[PROFD_CPU_MAX_STACK];
};

#endif

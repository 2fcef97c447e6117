/* SPDX-License-Identifier: MIT */
/* Types and limits shared by bpf/taskiter.bpf.c and daemon/sources/taskiter.c: one ring-buffer
 * record per thread of the target visited by the task iterator (its user registers as saved at
 * kernel entry, kernel frames, a copy of the top of its user stack), and the 8-byte line the
 * iterator's seq_file gets per thread, which paces the reads (one read() = a batch of threads). */
#ifndef PROFD_BPF_TASKITER_H
#define PROFD_BPF_TASKITER_H

/* Largest user stack copy (--stack-bytes is at most this). */
#define PROFD_TASKITER_MAX_STACK (1u << 20)
/* Kernel frames kept per thread (the depth /proc/PID/stack shows). */
#define PROFD_TASKITER_MAX_KFRAMES 64
/* x86_64 registers in DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip. */
#define PROFD_TASKITER_NREGS 17
#define PROFD_TASKITER_COMM_LEN 16
/* Mappings end on page boundaries (x86_64: 4 KiB). */
#define PROFD_TASKITER_PAGE 4096
/* Kernel frame names ("func+0x1f/0x90 [module]", as /proc/PID/stack prints them): at most this
 * many bytes per record, each name at most PROFD_TASKITER_KSYM_LEN with its NUL. */
#define PROFD_TASKITER_KTEXT 4096
#define PROFD_TASKITER_KSYM_LEN 256
/* PID namespace levels searched for profd's own (a container in a container is level 2). */
#define PROFD_TASKITER_MAX_NS_LEVEL 4

/* profd_taskiter_rec.flags and profd_taskiter_line.flags */
#define PROFD_TASKITER_F_READ 0x1        /* regs + stack read; the thread did not run meanwhile */
#define PROFD_TASKITER_F_ON_CPU 0x2      /* on a CPU when visited: not read */
#define PROFD_TASKITER_F_RAN 0x4         /* it ran while being read: the copy was thrown away */
#define PROFD_TASKITER_F_NO_USER 0x8     /* no user context (kernel or io_uring thread, exiting) */
#define PROFD_TASKITER_F_RING_FULL 0x10  /* no room in the ring buffer: no record was written */
#define PROFD_TASKITER_F_VMA_BUSY 0x20  /* its stack mapping could not be looked up now: not read */
#define PROFD_TASKITER_F_NO_STACK 0x40   /* no stack bytes could be copied */
#define PROFD_TASKITER_F_FAULT 0x80      /* the stack copy failed: not read */

/* One thread. The ring-buffer record is offsetof(stack) + the stack_bytes tunable long; stack_len
 * bytes of stack[] are valid. Fields other than tid and flags are meaningful with F_READ only,
 * except comm, state, exit_state, syscall_nr and tracer, which are always filled. */
struct profd_taskiter_rec {
	__u32 tid;         /* in profd's PID namespace */
	__u32 flags;
	__u32 state;       /* task->__state (TASK_INTERRUPTIBLE...) */
	__u32 exit_state;  /* EXIT_ZOMBIE, EXIT_DEAD or 0 */
	__u32 tracer;      /* the tracer thread (ptrace) in profd's PID namespace, 0 none */
	__u32 nkframes;    /* kernel frames, innermost first */
	__u32 stack_len;   /* bytes in stack[], copied from regs[7] (rsp) upwards */
	__u32 ktext_len;   /* bytes of ktext[] used */
	__u64 kframes_named; /* bit i: kframes[i]'s name is the next NUL-terminated string in ktext */
	__s64 syscall_nr;  /* orig_ax: the syscall it is in, -1 none (as /proc/PID/task/TID/syscall) */
	__u64 switches;    /* nvcsw + nivcsw when it was read */
	__u64 regs[PROFD_TASKITER_NREGS]; /* user registers saved at kernel entry (DWARF order) */
	char comm[PROFD_TASKITER_COMM_LEN];
	__u64 kframes[PROFD_TASKITER_MAX_KFRAMES];
	char ktext[PROFD_TASKITER_KTEXT];
	__u8 stack[];
};

/* What the iterator writes to its seq_file per visited thread of the target. */
struct profd_taskiter_line {
	__u32 tid;
	__u32 flags;
};

#endif

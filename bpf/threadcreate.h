/* SPDX-License-Identifier: MIT */
/* Types and limits shared by bpf/threadcreate.bpf.c and daemon/sources/threadcreate.c: one
 * ring-buffer record per thread created in the target (a clone with CLONE_THREAD), with the
 * creator's user registers and a copy of the top of its user stack. */
#ifndef PROFD_BPF_THREADCREATE_H
#define PROFD_BPF_THREADCREATE_H

#define PROFD_TC_MAX_STACK 16384
#define PROFD_TC_NREGS 17
#define PROFD_TC_COMM_LEN 16
#define PROFD_TC_MAX_PROCS 65536
#define PROFD_TC_PAGE 4096
#define PROFD_TC_CLONE_THREAD 0x00010000 /* CLONE_THREAD */

#include "uprobes.h"

#define PROFD_TC_F_VMA_BUSY 0x1    /* stack mapping end not looked up (busy): found by retrying */
#define PROFD_TC_F_STACK_SHORT 0x2 /* a read crossed the end of the mapping and was retried */

/* One creation. Only offsetof(stack) + stack_len bytes carry data. */
struct profd_tc_event {
	__u32 tid;       /* the creator */
	__u32 tgid;      /* its process, as profd sees PIDs */
	__u32 new_tid;   /* the new thread (the host's PID; 0 when profd is in another namespace) */
	__u32 flags;
	__u32 stack_len;
	__u32 pad;
	__u64 regs[PROFD_TC_NREGS]; /* the creator's user registers, in its clone syscall */
	char comm[PROFD_TC_COMM_LEN];
	struct profd_uprobe_state up;
	__u8 stack[PROFD_TC_MAX_STACK];
};

#endif

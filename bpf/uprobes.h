/* SPDX-License-Identifier: MIT */
/* Types and limits shared by the BPF programs that copy a thread's user stack (bpf/cpu.bpf.c,
 * bpf/heap.bpf.c) and the user side that unwinds it (daemon/sources/probeframes.c): what the
 * kernel's uprobes had changed in the thread's user state when the copy was taken. A return
 * probe replaces the return address of a probed call with the address of a trampoline until
 * the call returns; a probed instruction that cannot be emulated runs out of line, in a slot of
 * the same [uprobes] page. Both make a walk stop at that page unless undone. */
#ifndef PROFD_BPF_UPROBES_H
#define PROFD_BPF_UPROBES_H

/* Pending return probes copied per sample, innermost first (the kernel allows 64 per thread;
 * the innermost are the ones a stack copy of a few KiB holds). */
#define PROFD_UPROBE_MAX_RETS 16
/* Bytes of one out-of-line slot of the [uprobes] page (x86: UPROBE_XOL_SLOT_BYTES); slot 0
 * holds the return trampoline. */
#define PROFD_UPROBE_SLOT_BYTES 128

/* profd_uprobe_state.flags */
#define PROFD_UPROBE_F_NO_BTF 0x1    /* this kernel's BTF lacks the fields: nothing was read */
#define PROFD_UPROBE_F_TRUNCATED 0x2 /* more return probes were pending than were copied */

struct profd_uprobe_state {
	__u64 tramp;     /* the return trampoline (start of [uprobes]); 0: the process has none */
	__u64 xol_vaddr; /* the thread's out-of-line slot while it single-steps; 0: none */
	__u64 xol_orig;  /* the probed instruction whose copy runs in that slot */
	__u32 nrets;     /* entries of ret_slot / ret_orig */
	__u32 flags;     /* PROFD_UPROBE_F_* */
	/* pending return probes, innermost first: the stack slot that holds tramp instead of the
	 * return address (the probed function's sp at entry), and that return address */
	__u64 ret_slot[PROFD_UPROBE_MAX_RETS];
	__u64 ret_orig[PROFD_UPROBE_MAX_RETS];
	__u64 ret_func[PROFD_UPROBE_MAX_RETS]; /* the probe whose entry replaced it */
};

#endif

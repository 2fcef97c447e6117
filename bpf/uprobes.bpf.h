/* SPDX-License-Identifier: GPL-2.0 */
/* BPF side of bpf/uprobes.h, for programs that copy a thread's user stack: reads the current
 * thread's uprobe state (current->utask and mm->uprobes_state) with CO-RE. The fields exist under
 * these names from 4.x to 6.18 (return_instance gained and lost members around them); a kernel
 * without them (no CONFIG_UPROBES, a renamed field) gets PROFD_UPROBE_F_NO_BTF and the
 * program still loads: each read below sits behind a bpf_core_field_exists() that libbpf
 * resolves at load, so the verifier drops the reads it could not relocate. */
#ifndef PROFD_BPF_UPROBES_BPF_H
#define PROFD_BPF_UPROBES_BPF_H

#include "uprobes.h"

/* Fills st for task (the current task). Bounded: at most PROFD_UPROBE_MAX_RETS list steps. */
static __noinline void read_uprobe_state(struct task_struct *task, struct profd_uprobe_state *st)
{
	struct return_instance *ri;
	struct uprobe_task *ut;
	struct xol_area *area;
	__u32 n = 0;

	st->tramp = 0;
	st->xol_vaddr = 0;
	st->xol_orig = 0;
	st->nrets = 0;
	st->flags = 0;
	if (!task)
		return;
	if (!bpf_core_field_exists(task->utask) || !bpf_core_field_exists(struct uprobe_task, return_instances) ||
	    !bpf_core_field_exists(struct uprobe_task, xol_vaddr) || !bpf_core_field_exists(struct uprobe_task, vaddr) ||
	    !bpf_core_field_exists(struct return_instance, stack) ||
	    !bpf_core_field_exists(struct return_instance, orig_ret_vaddr) ||
	    !bpf_core_field_exists(struct return_instance, next) ||
	    !bpf_core_field_exists(struct return_instance, func) ||
	    !bpf_core_field_exists(struct mm_struct, uprobes_state) || !bpf_core_field_exists(struct xol_area, vaddr)) {
		st->flags = PROFD_UPROBE_F_NO_BTF;
		return;
	}
	ut = BPF_CORE_READ(task, utask);
	if (!ut)
		return; /* the thread never hit a uprobe */
	area = BPF_CORE_READ(task, mm, uprobes_state.xol_area);
	if (area)
		st->tramp = BPF_CORE_READ(area, vaddr);
	st->xol_vaddr = BPF_CORE_READ(ut, xol_vaddr);
	if (st->xol_vaddr)
		st->xol_orig = BPF_CORE_READ(ut, vaddr);
	ri = BPF_CORE_READ(ut, return_instances);
	for (int i = 0; i < PROFD_UPROBE_MAX_RETS && ri; i++) {
		st->ret_slot[i & (PROFD_UPROBE_MAX_RETS - 1)] = BPF_CORE_READ(ri, stack);
		st->ret_orig[i & (PROFD_UPROBE_MAX_RETS - 1)] = BPF_CORE_READ(ri, orig_ret_vaddr);
		st->ret_func[i & (PROFD_UPROBE_MAX_RETS - 1)] = BPF_CORE_READ(ri, func);
		ri = BPF_CORE_READ(ri, next);
		n++;
	}
	st->nrets = n;
	if (ri)
		st->flags |= PROFD_UPROBE_F_TRUNCATED;
}

/* The address the kernel writes over a return address to catch the return (the first slot of
 * the process's XOL area, the "[uprobes]" mapping); 0 if none or unknown. */
static __always_inline __u64 uprobe_trampoline(struct task_struct *task)
{
	struct xol_area *area;

	if (!task || !bpf_core_field_exists(struct mm_struct, uprobes_state) ||
	    !bpf_core_field_exists(struct xol_area, vaddr))
		return 0;
	area = BPF_CORE_READ(task, mm, uprobes_state.xol_area);
	return area ? BPF_CORE_READ(area, vaddr) : 0;
}

#endif

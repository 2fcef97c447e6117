/* SPDX-License-Identifier: GPL-2.0 */
/* For programs that copy a thread's user stack: a read that crosses the end of the stack mapping
 * fails as a whole, so the copy stops at the end of the mapping sp is in. */
#ifndef PROFD_BPF_VMA_BPF_H
#define PROFD_BPF_VMA_BPF_H

struct vma_end_ctx {
	__u64 end;
};

static long vma_end_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_end_ctx *c = data;

	c->end = vma->vm_end;
	return 0;
}

/* The end of task's mapping that addr is in: 0 and *end, or bpf_find_vma's error (-EBUSY: it
 * trylocks the mmap lock and needs a per-CPU irq_work another BPF program may hold; -ENOENT:
 * addr is in no mapping). */
static __always_inline long vma_end(struct task_struct *task, __u64 addr, __u64 *end)
{
	struct vma_end_ctx vc = {};
	long err = bpf_find_vma(task, addr, vma_end_cb, &vc, 0);

	*end = vc.end;
	return err;
}

#endif

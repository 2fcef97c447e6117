// SPDX-License-Identifier: GPL-2.0
/* Thread creation in the target (the threadcreate profile): on task_newtask, which runs in the
 * creator's context inside its clone syscall, a new task that shares its creator's thread group
 * (CLONE_THREAD) is reported with the creator's user registers and the top of its user stack.
 * A tracepoint, not a uprobe: the target pays nothing for anything but creating a thread. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "threadcreate.h"
#include "uprobes.bpf.h"

const volatile bool follow_forks = false;
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;

__u64 created = 0; /* threads created in the target */
__u64 lost = 0;    /* records dropped: ring buffer full */

/* key: a PID (tgid) of the set; value: unused. Kept by user space and by on_fork. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); /* resized before load */
	__type(key, __u32);
	__type(value, __u8);
} tgids SEC(".maps");

/* Records (struct profd_tc_event). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct vma_end_ctx {
	__u64 end;
};

static long vma_end_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_end_ctx *c = data;

	c->end = vma->vm_end;
	return 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(on_newtask, struct task_struct *task, __u64 clone_flags)
{
	__u64 id = bpf_get_current_pid_tgid(), sp;
	__u32 tgid = (__u32)(id >> 32), tid = (__u32)id, len;
	struct task_struct *cur = bpf_get_current_task_btf();
	struct vma_end_ctx vc = {};
	struct bpf_pidns_info ns;
	struct profd_tc_event *e;
	struct pt_regs *r;

	if (!(clone_flags & PROFD_TC_CLONE_THREAD))
		return 0;
	if (pidns_ino) {
		if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
			return 0;
		tgid = ns.tgid;
		tid = ns.pid;
	}
	if (!bpf_map_lookup_elem(&tgids, &tgid))
		return 0;
	__sync_fetch_and_add(&created, 1);
	r = (struct pt_regs *)bpf_task_pt_regs(cur);
	if (!r)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		return 0;
	}
	e->tid = tid;
	e->tgid = tgid;
	e->new_tid = pidns_ino ? 0 : BPF_CORE_READ(task, pid);
	e->flags = 0;
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->regs[0] = r->ax;  e->regs[1] = r->dx;  e->regs[2] = r->cx;   e->regs[3] = r->bx;
	e->regs[4] = r->si;  e->regs[5] = r->di;  e->regs[6] = r->bp;   e->regs[7] = r->sp;
	e->regs[8] = r->r8;  e->regs[9] = r->r9;  e->regs[10] = r->r10; e->regs[11] = r->r11;
	e->regs[12] = r->r12; e->regs[13] = r->r13; e->regs[14] = r->r14; e->regs[15] = r->r15;
	e->regs[16] = r->ip;
	read_uprobe_state(cur, &e->up);
	sp = e->regs[7];
	len = PROFD_TC_MAX_STACK - 1;
	if (bpf_find_vma(cur, sp, vma_end_cb, &vc, 0) == 0 && vc.end > sp) {
		if (vc.end - sp < len)
			len = vc.end - sp;
	} else {
		e->flags |= PROFD_TC_F_VMA_BUSY;
	}
	for (int i = 0; i < PROFD_TC_MAX_STACK / PROFD_TC_PAGE + 1; i++) {
		__u64 last_page;

		if (len > PROFD_TC_MAX_STACK - 1)
			len = PROFD_TC_MAX_STACK - 1;
		asm volatile("%[len] &= 0x3fff" : [len] "+r"(len));
		if (len == 0 || bpf_probe_read_user(e->stack, len, (void *)sp) == 0)
			break;
		e->flags |= PROFD_TC_F_STACK_SHORT;
		last_page = (sp + len - 1) & ~(__u64)(PROFD_TC_PAGE - 1);
		len = last_page > sp ? last_page - sp : 0;
	}
	e->stack_len = len;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* A process of the set forks: its child is followed from its first instruction. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	if (!follow_forks || ctgid == ptgid || !bpf_map_lookup_elem(&tgids, &ptgid))
		return 0;
	bpf_map_update_elem(&tgids, &ctgid, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

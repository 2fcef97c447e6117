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
#include "stackcopy.h"
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

SEC("tp_btf/task_newtask")
int BPF_PROG(on_newtask, struct task_struct *task, __u64 clone_flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = (__u32)(id >> 32), tid = (__u32)id, len, sc = 0;
	struct task_struct *cur = bpf_get_current_task_btf();
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
	STACKCOPY_REGS(e->regs, r);
	read_uprobe_state(cur, &e->up);
	len = stackcopy_user_max(cur, e->regs[7], e->stack, PROFD_TC_MAX_STACK - 1, PROFD_TC_MAX_STACK, &sc);
	if (sc & PROFD_STACKCOPY_VMA_BUSY)
		e->flags |= PROFD_TC_F_VMA_BUSY;
	if (sc & PROFD_STACKCOPY_SHORT)
		e->flags |= PROFD_TC_F_STACK_SHORT;
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

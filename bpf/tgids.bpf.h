/* SPDX-License-Identifier: GPL-2.0 */
/* The processes a program follows, for the programs that filter by process (cpu.bpf.c,
 * growth.bpf.c): a hash map of their PIDs (tgids), which user space keeps as the set changes
 * (daemon/sources/tgidmap.h), and a program on sched_process_fork that adds the new processes
 * of followed ones at their fork, so that a child is followed from its first instruction (the
 * set's scan would see it within a second: a short-lived child, or one that grows at once, would
 * be missed). Threads are not processes: a child that shares its parent's thread group is already
 * covered by its tgid. Include once, after vmlinux.h and the libbpf headers. */
#ifndef PROFD_BPF_TGIDS_BPF_H
#define PROFD_BPF_TGIDS_BPF_H

/* a new process forked by a followed one is followed (over a set, and when the tracepoint's PIDs
 * are profd's: not from another PID namespace); set between open and load */
const volatile bool follow_forks = false;

/* key: a PID (tgid) followed; value: unused. max_entries is set by user space before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} tgids SEC(".maps");

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

#endif

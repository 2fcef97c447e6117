// SPDX-License-Identifier: GPL-2.0
/* A tiny CO-RE program that profd loads (never attaches) at start-up: if the verifier accepts it
 * and its BTF relocations resolve against this kernel, BPF works here. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* key 0: the tgid the program saw (written only if ever attached; loading is the check) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} probe_seen SEC(".maps");

SEC("raw_tracepoint/sys_enter")
int on_sys_enter(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 key = 0;
	__u64 tgid = BPF_CORE_READ(task, tgid);

	bpf_map_update_elem(&probe_seen, &key, &tgid, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

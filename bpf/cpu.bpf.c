// SPDX-License-Identifier: GPL-2.0
/* CPU sampling of one process: attached to a software cpu-clock perf event on every CPU, this
 * program keeps only samples of the target's threads (by tgid, so threads created later are
 * covered) and sends their user registers, kernel frames and the top of the user stack to
 * user space through one ring buffer. Runs in the timer interrupt: no sleeping, bounded copies. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "cpu.h"
#include "stackcopy.h"
#include "tgids.bpf.h"
#include "uprobes.bpf.h"

_Static_assert(PROFD_CPU_MAX_STACK == PROFD_STACKCOPY_MAX, "the stack copy fills profd_cpu_event.stack");

/* Tunables, set between open and load. */
/* profd's PID namespace (stat of /proc/self/ns/pid) when it is not the initial one: target_tgid
 * is a PID in that namespace, and bpf_get_current_pid_tgid() would give the host's. 0: initial. */
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;
const volatile __u32 stack_bytes = 16384;     /* bytes of user stack to copy, <= PROFD_CPU_MAX_STACK */
const volatile __u64 wakeup_bytes = 1 << 20;  /* wake the reader once this much data waits */

/* Counters read by user space through the mmapped .bss. */
__u64 seen_samples = 0;  /* samples of the target */
__u64 lost_samples = 0;  /* samples dropped because the ring buffer was full */

/* Sample records (struct profd_cpu_event, truncated after the copied stack bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by user space before load */
} events SEC(".maps");

/* key: CPU number; value: the record being built on that CPU (too big for the BPF stack, and
 * a per-CPU array value cannot exceed 32 KiB). max_entries is set to the CPU count at load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct profd_cpu_event);
} scratch SEC(".maps");

SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = (__u32)(id >> 32), tid = (__u32)id;
	struct bpf_pidns_info ns;
	struct profd_cpu_event *e;
	struct task_struct *task;
	__u32 cpu, len, size, cflags = 0;
	__u64 avail, flags;
	long n;

	if (pidns_ino) {
		/* fails for tasks outside profd's namespace: they are not the target */
		if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
			return 0;
		tgid = ns.tgid;
		tid = ns.pid;
	}
	if (!bpf_map_lookup_elem(&tgids, &tgid))
		return 0;
	__sync_fetch_and_add(&seen_samples, 1);
	cpu = bpf_get_smp_processor_id();
	e = bpf_map_lookup_elem(&scratch, &cpu);
	if (!e)
		return 0;
	task = bpf_get_current_task_btf();
	e->time_ns = bpf_ktime_get_ns();
	e->tid = tid;
	e->tgid = tgid;
	e->flags = 0;
	e->nkframes = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	/* user addresses are in the lower half on x86_64 */
	if ((long)ctx->regs.ip >= 0) {
		STACKCOPY_REGS(e->regs, &ctx->regs);
	} else {
		/* In the kernel: the user registers are the ones saved at kernel entry. */
		struct pt_regs *ur = (struct pt_regs *)bpf_task_pt_regs(task);

		if (!ur)
			return 0;
		STACKCOPY_REGS(e->regs, ur);
		e->flags |= PROFD_CPU_F_KERNEL;
		n = bpf_get_stack(ctx, e->kframes, sizeof(e->kframes), 0);
		if (n > 0)
			e->nkframes = n / sizeof(__u64);
	}

	/* a sample inside a probed call, or in the probe machinery itself: what to undo */
	read_uprobe_state(task, &e->up);

	len = stackcopy_user(task, e->regs[7], e->stack, stack_bytes, &cflags);
	if (cflags & PROFD_STACKCOPY_VMA_BUSY)
		e->flags |= PROFD_CPU_F_VMA_BUSY;
	if (cflags & PROFD_STACKCOPY_SHORT)
		e->flags |= PROFD_CPU_F_STACK_SHORT;
	if (cflags & PROFD_STACKCOPY_NONE)
		e->flags |= PROFD_CPU_F_NO_STACK;
	e->stack_len = len;

	size = __builtin_offsetof(struct profd_cpu_event, stack) + len;
	if (size > sizeof(*e))
		return 0;
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	flags = avail + size >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, e, size, flags))
		__sync_fetch_and_add(&lost_samples, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

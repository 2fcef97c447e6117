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
#include "uprobes.bpf.h"
#include "vma.bpf.h"

/* Tunables, set between open and load. */
/* a new process forked by a sampled one is sampled from its first tick (the set follows it) */
const volatile bool follow_forks = false;
/* profd's PID namespace (stat of /proc/self/ns/pid) when it is not the initial one: target_tgid
 * is a PID in that namespace, and bpf_get_current_pid_tgid() would give the host's. 0: initial. */
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;
const volatile __u32 stack_bytes = 16384;     /* bytes of user stack to copy, <= PROFD_CPU_MAX_STACK */
const volatile __u64 wakeup_bytes = 1 << 20;  /* wake the reader once this much data waits */

/* Counters read by user space through the mmapped .bss. */
__u64 seen_samples = 0;  /* samples of the target */
__u64 lost_samples = 0;  /* samples dropped because the ring buffer was full */

/* key: a PID (tgid) of the set profd serves; value: unused. Kept by user space as the set
 * changes, and by on_fork for new processes of sampled ones. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); /* resized by user space before load (--max-processes) */
	__type(key, __u32);
	__type(value, __u8);
} tgids SEC(".maps");

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

#define COPY_REGS(e, r)                                                                              \
	do {                                                                                         \
		(e)->regs[0] = (r)->ax;  (e)->regs[1] = (r)->dx;  (e)->regs[2] = (r)->cx;            \
		(e)->regs[3] = (r)->bx;  (e)->regs[4] = (r)->si;  (e)->regs[5] = (r)->di;            \
		(e)->regs[6] = (r)->bp;  (e)->regs[7] = (r)->sp;  (e)->regs[8] = (r)->r8;            \
		(e)->regs[9] = (r)->r9;  (e)->regs[10] = (r)->r10; (e)->regs[11] = (r)->r11;         \
		(e)->regs[12] = (r)->r12; (e)->regs[13] = (r)->r13; (e)->regs[14] = (r)->r14;        \
		(e)->regs[15] = (r)->r15; (e)->regs[16] = (r)->ip;                                    \
	} while (0)

SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = (__u32)(id >> 32), tid = (__u32)id;
	struct bpf_pidns_info ns;
	struct profd_cpu_event *e;
	struct task_struct *task;
	__u64 vma_top = 0;
	__u32 cpu, len, size;
	__u64 sp, avail, flags;
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
		COPY_REGS(e, &ctx->regs);
	} else {
		/* In the kernel: the user registers are the ones saved at kernel entry. */
		struct pt_regs *ur = (struct pt_regs *)bpf_task_pt_regs(task);

		if (!ur)
			return 0;
		COPY_REGS(e, ur);
		e->flags |= PROFD_CPU_F_KERNEL;
		n = bpf_get_stack(ctx, e->kframes, sizeof(e->kframes), 0);
		if (n > 0)
			e->nkframes = n / sizeof(__u64);
	}

	/* a sample inside a probed call, or in the probe machinery itself: what to undo */
	read_uprobe_state(task, &e->up);

	/* A read that crosses the end of the stack mapping fails as a whole: copy at most up to the
	 * end of the mapping sp is in. bpf_find_vma needs the mmap lock (trylock) and a per-CPU
	 * irq_work that another BPF program in the same interrupt may hold (two profd instances):
	 * then step back one page at a time (mappings end on a page boundary) until a read works. */
	sp = e->regs[7];
	len = stack_bytes;
	if (vma_end(task, sp, &vma_top) == 0 && vma_top > sp) {
		if (vma_top - sp < len)
			len = vma_top - sp;
	} else {
		e->flags |= PROFD_CPU_F_VMA_BUSY;
	}
	for (int i = 0; i < PROFD_CPU_MAX_STACK / PROFD_CPU_PAGE + 1; i++) {
		__u64 last_page;

		if (len > PROFD_CPU_MAX_STACK - 1)
			len = PROFD_CPU_MAX_STACK - 1;
		/* a no-op on the clamped value, but a bound the verifier sees on the register the call
		 * uses (clang may test a copy of len and pass another) */
		asm volatile("%[len] &= 0x7fff" : [len] "+r"(len));
		if (len == 0 || bpf_probe_read_user(e->stack, len, (void *)sp) == 0)
			break;
		e->flags |= PROFD_CPU_F_STACK_SHORT;
		last_page = (sp + len - 1) & ~(__u64)(PROFD_CPU_PAGE - 1);
		len = last_page > sp ? last_page - sp : 0;
	}
	if (len == 0)
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

/* A process of the set forks: its child is in the set from its first instruction (a scan would
 * see it within a second; short-lived children would be missed). Threads are not processes:
 * a child that shares its parent's thread group is already covered by its tgid. */
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

// SPDX-License-Identifier: GPL-2.0
/* Descriptors of the processes profd serves (the fd profile): at the exit of a syscall that
 * creates descriptors (open, socket, pipe, dup, eventfd, ...: profd_fd_syscall_creates in fd.h)
 * a thread of the set reports the new descriptor with its user registers and the top of its
 * user stack, still those of the call (only rax, the result, changed); at the entry of close
 * and close_range, before the kernel releases them (so that a creation that reuses the number
 * is always reported after), it reports the range; an exec is reported for user space to read
 * what survived. User space keeps the table of live descriptors. Other processes' syscalls cost
 * a switch on the syscall number, and the followed syscalls a map lookup. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "fd.h"
#include "stackcopy.h"
#include "tgids.bpf.h"
#include "uprobes.bpf.h"

/* Tunables, set between open and load. */
const volatile __u64 pidns_dev = 0; /* profd's PID namespace when not the initial one */
const volatile __u64 pidns_ino = 0;
const volatile __u32 stack_bytes = PROFD_FD_STACK_BYTES;
const volatile __u64 wakeup_bytes = 1 << 20;

/* Counters read by user space through the mmapped .bss. */
__u64 created = 0;    /* descriptors the target created */
__u64 closes = 0;     /* close and close_range calls of the target */
__u64 lost = 0;       /* records dropped: ring buffer full */
__u64 create_ns = 0;  /* time the creation path took in the program, record and copy included */

/* Records: struct profd_fd_event for creations, struct profd_fd_head for the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by user space before load */
} events SEC(".maps");

/* The current thread belongs to a followed process: its tid and tgid as profd sees them. */
static __always_inline bool current_followed(__u32 *ret_tid, __u32 *ret_tgid)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = (__u32)(id >> 32), tid = (__u32)id;
	struct bpf_pidns_info ns;

	if (pidns_ino) {
		if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
			return false;
		tgid = ns.tgid;
		tid = ns.pid;
	}
	if (!bpf_map_lookup_elem(&tgids, &tgid))
		return false;
	*ret_tid = tid;
	*ret_tgid = tgid;
	return true;
}

#define TS_COMPAT 0x0002 /* x86 thread_info.status: in a 32-bit (ia32) syscall */

/* A 32-bit syscall numbers its calls otherwise (ia32 3 is read): not followed. */
static __always_inline bool in_compat_syscall(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (!bpf_core_field_exists(task->thread_info.status))
		return false;
	return BPF_CORE_READ(task, thread_info.status) & TS_COMPAT;
}

static __always_inline void submit(void *e, __u64 size)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	bpf_ringbuf_submit(e, avail + size >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void report_small(__u32 kind, __u32 tgid, __u32 tid, __s32 fd, __s32 fd2, __s32 nr)
{
	struct profd_fd_head *h = bpf_ringbuf_reserve(&events, sizeof(*h), 0);

	if (!h) {
		__sync_fetch_and_add(&lost, 1);
		return;
	}
	h->kind = kind;
	h->tgid = tgid;
	h->tid = tid;
	h->fd = fd;
	h->fd2 = fd2;
	h->syscall = nr;
	h->flags = 0;
	h->stack_len = 0;
	submit(h, sizeof(*h));
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	__u32 tid, tgid;
	__s32 first, last;

	if (id != PROFD_SYS_CLOSE && id != PROFD_SYS_CLOSE_RANGE)
		return 0;
	if (!current_followed(&tid, &tgid) || in_compat_syscall())
		return 0;
	first = (__s32)BPF_CORE_READ(regs, di);
	last = first;
	if (id == PROFD_SYS_CLOSE_RANGE) {
		unsigned long hi = BPF_CORE_READ(regs, si), fl = BPF_CORE_READ(regs, dx);

		/* only marks them close-on-exec: the exec reports what it closes */
		if (fl & PROFD_CLOSE_RANGE_CLOEXEC)
			return 0;
		last = hi > 0x7fffffff ? 0x7fffffff : (__s32)hi;
		if ((__u32)first > (__u32)last)
			return 0;
	}
	if (first < 0)
		return 0;
	__sync_fetch_and_add(&closes, 1);
	report_small(PROFD_FD_CLOSE, tgid, tid, first, last, (__s32)id);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = BPF_CORE_READ(regs, orig_ax);
	unsigned long a1 = BPF_CORE_READ(regs, di), a2 = BPF_CORE_READ(regs, si);
	struct task_struct *task;
	struct profd_fd_event *e;
	__s32 fd = (__s32)ret, fd2 = -1;
	__u32 tid, tgid, flags = 0, len;
	__u64 t0;

	if (ret < 0 || !profd_fd_syscall_creates(nr, a1, a2))
		return 0;
	if (!current_followed(&tid, &tgid) || in_compat_syscall())
		return 0;
	t0 = bpf_ktime_get_ns();
	/* dup2 onto itself changes nothing */
	if ((nr == PROFD_SYS_DUP2 || nr == PROFD_SYS_DUP3) && a1 == a2)
		return 0;
	if (nr == PROFD_SYS_PIPE || nr == PROFD_SYS_PIPE2 || nr == PROFD_SYS_SOCKETPAIR) {
		/* the pair was written to user memory: int[2] at the first (pipe) or fourth argument */
		unsigned long at = nr == PROFD_SYS_SOCKETPAIR ? BPF_CORE_READ(regs, r10) : a1;
		__s32 pair[2];

		if (bpf_probe_read_user(pair, sizeof(pair), (void *)at))
			return 0;
		fd = pair[0];
		fd2 = pair[1];
	}
	__sync_fetch_and_add(&created, fd2 >= 0 ? 2 : 1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		return 0;
	}
	task = bpf_get_current_task_btf();
	e->h.kind = PROFD_FD_CREATE;
	e->h.tgid = tgid;
	e->h.tid = tid;
	e->h.fd = fd;
	e->h.fd2 = fd2;
	e->h.syscall = (__s32)nr;
	STACKCOPY_REGS(e->regs, regs);
	read_uprobe_state(task, &e->up);
	len = stackcopy_user_max(task, e->regs[7], e->stack, stack_bytes, PROFD_FD_STACK_BYTES, &flags);
	e->h.flags = (flags & PROFD_STACKCOPY_VMA_BUSY ? PROFD_FD_F_VMA_BUSY : 0) |
		     (flags & PROFD_STACKCOPY_SHORT ? PROFD_FD_F_STACK_SHORT : 0) |
		     (flags & PROFD_STACKCOPY_NONE ? PROFD_FD_F_NO_STACK : 0);
	e->h.stack_len = len;
	submit(e, sizeof(*e));
	__sync_fetch_and_add(&create_ns, bpf_ktime_get_ns() - t0);
	return 0;
}

/* A followed process exec'ed: its close-on-exec descriptors were closed. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tid, tgid;

	if (!current_followed(&tid, &tgid))
		return 0;
	report_small(PROFD_FD_EXEC, tgid, tid, -1, -1, 59 /* execve */);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* Thread dumps without stopping threads: a sleepable task iterator over the target's threads.
 * For each thread that is not on a CPU, it copies the user registers saved at kernel entry
 * (bpf_task_pt_regs), its kernel frames and the top of its user stack (bpf_copy_from_user_task)
 * into a ring-buffer record; a thread that ran meanwhile is reported as such, never from a torn
 * copy. User space paces the walk: each read() of the iterator fd visits as many threads as its
 * size allows (8 bytes per thread), then it drains the ring buffer. Runs in read(): may sleep. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "taskiter.h"
#include "vma.bpf.h"

/* Kernel constants (include/linux/sched.h); stable since 4.14. */
#define PF_EXITING 0x00000004
#define PF_IO_WORKER 0x00000010
#define PF_KTHREAD 0x00200000
#define EBUSY 16

/* What makes a visited thread one to walk again (or stop) rather than report. */
#define NOT_READ (PROFD_TASKITER_F_NO_USER | PROFD_TASKITER_F_VMA_BUSY | PROFD_TASKITER_F_FAULT)

/* Tunables, set between open and load. */
/* profd's PID namespace (stat of /proc/self/ns/pid) when it is not the initial one: the PIDs
 * profd knows are the ones in that namespace, task->pid is the initial namespace's. 0: initial. */
const volatile __u64 pidns_ino = 0;
const volatile __u32 stack_bytes = 65536;   /* bytes of user stack to copy, <= PROFD_TASKITER_MAX_STACK */
/* Test hooks: make the program one the verifier refuses, as an old kernel would; or skip the
 * check that the thread did not run during its copy, to show that the tests see torn copies. */
const volatile __u32 simulate_reject = 0;
const volatile __u32 simulate_torn = 0;

/* Set by user space before each walk: the process whose threads it visits (in profd's PID
 * namespace; one program serves every process of a set), visit only the threads in retry_tids
 * whose value is retry_gen (0: every thread), and copy at most copy_bytes of stack (0: stack_bytes). */
__u32 target_tgid = 0;
__u32 retry_gen = 0;
__u32 copy_bytes = 0;

/* Records (struct profd_taskiter_rec + stack bytes), one per visited thread of the target. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by user space before load */
} records SEC(".maps");

/* key: tid; value: the retry_gen of the walk that should read it again. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} retry_tids SEC(".maps");

/* key: kernel address; value: unused. The addresses user space has a name for, so the program
 * does not format them again (a kernel symbol lookup costs microseconds). Filled by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u8);
} ksym_named SEC(".maps");

/* The PID of p in profd's namespace: numbers[] holds one per level, the initial one first.
 * 0 when p is not visible there. */
static __u32 ns_nr(struct pid *p)
{
	unsigned int level;

	if (!p)
		return 0;
	if (!pidns_ino)
		return (__u32)BPF_CORE_READ(p, numbers[0].nr);
	level = BPF_CORE_READ(p, level);
	for (int i = 0; i < PROFD_TASKITER_MAX_NS_LEVEL; i++) {
		struct pid_namespace *ns = NULL;
		int nr = 0;

		if (i > level)
			break;
		bpf_core_read(&ns, sizeof(ns), &p->numbers[i].ns);
		if (ns && BPF_CORE_READ(ns, ns.inum) == pidns_ino) {
			bpf_core_read(&nr, sizeof(nr), &p->numbers[i].nr);
			return (__u32)nr;
		}
	}
	return 0;
}

static __u32 task_tid(struct task_struct *t)
{
	return pidns_ino ? ns_nr(t->thread_pid) : (__u32)t->pid;
}

static __u32 task_tgid(struct task_struct *t)
{
	return pidns_ino ? ns_nr(t->group_leader->thread_pid) : (__u32)t->tgid;
}

/* On a CPU right now (CONFIG_SMP; on a uniprocessor only the reader itself runs). */
static int on_cpu(struct task_struct *t)
{
	if (bpf_core_field_exists(t->on_cpu))
		return t->on_cpu;
	return 0;
}

static __u64 switches(struct task_struct *t)
{
	return t->nvcsw + t->nivcsw;
}

/* min(v, max) in a form the verifier follows: clang may otherwise test one copy of v and pass
 * another (a 32-bit zero extension) to the helper, whose bound the verifier then does not know. */
static __always_inline __u64 clamp(__u64 v, __u64 max)
{
	asm volatile("if %[v] <= %[max] goto +1\n\t%[v] = %[max]" : [v] "+r"(v) : [max] "r"(max));
	return v;
}

/* bpf_loop callback for kernel frame i (a plain loop has too many paths for the verifier). The
 * running offset and the mask live in the record, not in the callback's context: values kept
 * there are tracked by the verifier, which would then walk every iteration apart. */
static long name_kframe(__u32 i, void *data)
{
	struct profd_taskiter_rec *r = *(struct profd_taskiter_rec **)data;
	__u64 addr, off = r->ktext_len;
	long n;

	if (i >= PROFD_TASKITER_MAX_KFRAMES || off > PROFD_TASKITER_KTEXT - PROFD_TASKITER_KSYM_LEN)
		return 1;
	addr = r->kframes[clamp(i, PROFD_TASKITER_MAX_KFRAMES - 1)];
	if (bpf_map_lookup_elem(&ksym_named, &addr))
		return 0;
	off = clamp(off, PROFD_TASKITER_KTEXT - PROFD_TASKITER_KSYM_LEN);
	n = bpf_snprintf(r->ktext + off, PROFD_TASKITER_KSYM_LEN, "%pB", &addr, sizeof(addr));
	if (n <= 0)
		return 1;
	if (n > PROFD_TASKITER_KSYM_LEN)
		n = PROFD_TASKITER_KSYM_LEN; /* cut: the name is still NUL-terminated */
	r->ktext_len = (__u32)(off + n);
	r->kframes_named |= 1ull << (i & 63);
	return 0;
}

/* Names the kernel frames user space does not know yet, as /proc/PID/stack would ("%pB"). */
static void name_kframes(struct profd_taskiter_rec *r)
{
	struct profd_taskiter_rec *ctx = r;

	r->ktext_len = 0;
	r->kframes_named = 0;
	bpf_loop(r->nkframes, name_kframe, &ctx, 0);
}

/* Copies registers, kernel frames and the stack of a thread that is off CPU into r. The caller
 * checks afterwards that it did not run meanwhile. */
static void read_thread(struct task_struct *task, struct profd_taskiter_rec *r)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	__u64 vma_top = 0;
	__u64 sp, len;
	long n, err;

	if (!regs) {
		r->flags |= PROFD_TASKITER_F_NO_USER;
		return;
	}
	r->regs[0] = regs->ax;
	r->regs[1] = regs->dx;
	r->regs[2] = regs->cx;
	r->regs[3] = regs->bx;
	r->regs[4] = regs->si;
	r->regs[5] = regs->di;
	r->regs[6] = regs->bp;
	r->regs[7] = regs->sp;
	r->regs[8] = regs->r8;
	r->regs[9] = regs->r9;
	r->regs[10] = regs->r10;
	r->regs[11] = regs->r11;
	r->regs[12] = regs->r12;
	r->regs[13] = regs->r13;
	r->regs[14] = regs->r14;
	r->regs[15] = regs->r15;
	r->regs[16] = regs->ip;
	r->syscall_nr = (__s64)regs->orig_ax;
	/* a kernel or io_uring thread has an all-zero user frame; user addresses are the lower half */
	if (!r->regs[16] || (__s64)r->regs[16] < 0) {
		r->flags |= PROFD_TASKITER_F_NO_USER;
		return;
	}

	n = bpf_get_task_stack(task, r->kframes, sizeof(r->kframes), 0);
	r->nkframes = n > 0 ? n / sizeof(__u64) : 0;
	name_kframes(r);

	/* A read that crosses the end of the stack mapping fails as a whole: copy at most up to the
	 * end of the mapping sp is in. bpf_find_vma only trylocks the mmap lock, and needs a per-CPU
	 * irq_work another BPF program may hold: when it is busy the thread is left for the next
	 * walk, not read with a guessed length; so is one whose copy failed (ptrace will say why).
	 * sp in no mapping: nothing to copy, as for ptrace. */
	sp = r->regs[7];
	len = copy_bytes && copy_bytes < stack_bytes ? copy_bytes : stack_bytes;
	err = vma_end(task, sp, &vma_top);
	if (err == -EBUSY) {
		r->flags |= PROFD_TASKITER_F_VMA_BUSY;
		return;
	}
	if (err || vma_top <= sp)
		len = 0;
	else if (vma_top - sp < len)
		len = vma_top - sp;
	len = clamp(len, stack_bytes);
	if (len && bpf_copy_from_user_task(r->stack, len, (void *)sp, task, 0)) {
		r->flags |= PROFD_TASKITER_F_FAULT;
		len = 0;
	}
	if (len == 0)
		r->flags |= PROFD_TASKITER_F_NO_STACK;
	r->stack_len = (__u32)len;
}

SEC("iter.s/task")
int dump_thread(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct profd_taskiter_line line = {};
	struct profd_taskiter_rec *r;
	__u64 sw0, sw1;
	__u32 tid, *gen, flags, st0;
	int cpu0, cpu1;

	if (simulate_reject) {
		/* a helper given NULL for its buffer: every verifier refuses this */
		bpf_copy_from_user_task(NULL, 8, NULL, task, 0);
		return 0;
	}
	if (!task || task_tgid(task) != target_tgid)
		return 0;
	tid = task_tid(task);
	if (retry_gen) {
		gen = bpf_map_lookup_elem(&retry_tids, &tid);
		if (!gen || *gen != retry_gen)
			return 0;
	}
	line.tid = tid;
	r = bpf_ringbuf_reserve(&records, sizeof(*r) + stack_bytes, 0);
	if (!r) {
		line.flags = PROFD_TASKITER_F_RING_FULL;
		bpf_seq_write(seq, &line, sizeof(line));
		return 0;
	}
	r->tid = tid;
	r->flags = 0;
	r->nkframes = 0;
	r->stack_len = 0;
	r->ktext_len = 0;
	r->kframes_named = 0;
	r->syscall_nr = -1;
	r->tracer = task->ptrace ? ns_nr(task->parent->thread_pid) : 0;
	bpf_probe_read_kernel(r->comm, sizeof(r->comm), &task->comm);

	/* The thread did not run between the two looks iff it was off CPU at both and was not
	 * switched out in between: to run it must be switched in, and to be off CPU again at the
	 * second look it must have been switched out, which counts nvcsw or nivcsw (before
	 * on_cpu is cleared). Its user registers, user stack and kernel stack are then those of
	 * one moment. A wakeup alone (the state changes, it has not run yet) does not matter. */
	cpu0 = on_cpu(task);
	sw0 = switches(task);
	st0 = task->__state;
	r->state = st0;
	r->exit_state = task->exit_state;
	r->switches = sw0;
	if (r->exit_state || (task->flags & (PF_EXITING | PF_KTHREAD | PF_IO_WORKER))) {
		r->flags |= PROFD_TASKITER_F_NO_USER;
	} else if (cpu0) {
		r->flags |= PROFD_TASKITER_F_ON_CPU;
	} else {
		read_thread(task, r);
		cpu1 = on_cpu(task);
		sw1 = switches(task);
		if ((cpu1 || sw1 != sw0) && !simulate_torn)
			r->flags |= PROFD_TASKITER_F_RAN;
		else if (!(r->flags & NOT_READ))
			r->flags |= PROFD_TASKITER_F_READ;
	}
	flags = r->flags;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	line.flags = flags;
	bpf_seq_write(seq, &line, sizeof(line));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

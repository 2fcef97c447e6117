// SPDX-License-Identifier: GPL-2.0
/* Memory growth of the processes profd serves (one, or a set: by tgid, as cpu.bpf.c): on the x86 user page-fault tracepoint (exceptions:
 * page_fault_user, as a BTF raw tracepoint: no tracefs needed), keeps the target's not-present
 * faults, the first touches of pages (and swap-ins), weighs each by the bytes it will map
 * (4 KiB, or 2 MiB where the page tables have nothing for the aligned 2 MiB and the mapping
 * allows a transparent huge page), and samples them by bytes, a mean of `rate` bytes between
 * samples (a per-CPU countdown drawn from an exponential distribution, as the heap sampler
 * does per thread). A sampled fault sends its user registers and the top of its user stack.
 * Runs with interrupts off at fault entry, before the fault is handled: bounded, no sleeping.
 *
 * To read the target's page tables the program needs the kernel's direct map (page_offset_base,
 * randomized, and not in kallsyms on kernels without CONFIG_KALLSYMS_ALL): on_fault_calibrate,
 * attached for a moment while profd touches a page of its own, finds it by walking the kernel
 * half of profd's page tables until a candidate base maps profd's top-level table onto itself. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "growth.h"
#include "stackcopy.h"
#include "tgids.bpf.h"
#include "uprobes.bpf.h"

/* x86 page-fault error code bits */
#define PF_PROT 0x1
#define PF_WRITE 0x2
/* x86 page-table entry bits */
#define PTE_PRESENT 0x1ull
#define PTE_PSE 0x80ull
#define PTE_PROTNONE 0x100ull /* not present, but a NUMA hint (or PROT_NONE) entry */
#define PUD_SIZE (1ull << 30)
#define PMD_SIZE (2ull << 20)
#define VM_HUGEPAGE 0x20000000ull
#define VM_NOHUGEPAGE 0x40000000ull
/* timed stretches longer than these are left out of the program's own cost */
#define TIMED_MAX_NS 50000ull
#define SAMPLE_MAX_NS 500000ull
#define MMF_DISABLE_THP 24 /* prctl(PR_SET_THP_DISABLE): MMF_DISABLE_THP_COMPLETELY since 6.18 */

/* Tunables, set between open and load. */
/* profd's PID namespace when it is not the initial one (as in cpu.bpf.c). 0: initial. */
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;
const volatile __u32 self_tgid = 0;        /* profd, for on_fault_calibrate */
const volatile __u64 rate = 1 << 20;       /* mean bytes between samples; <= 1: every fault */
const volatile __u32 stack_bytes = 16384;  /* user stack bytes copied per sample */
const volatile __u64 wakeup_bytes = 1 << 20;
const volatile __u32 thp_mode = PROFD_GROWTH_THP_NEVER;
const volatile __u32 levels5 = 0;          /* 5-level paging (la57) */
/* physical address bits of a page-table entry (below the CPU's physical address width) */
const volatile __u64 pfn_mask = 0x000ffffffffff000ull;
const volatile __u64 map_lowest = 0xffff888000000000ull; /* lowest possible direct map base */
const volatile __u32 calib_max_gb = 64;   /* candidates to try: the highest RAM address in GiB + 1 */
/* -ln(u) * rate for u evenly spread over (0, 1): one draw = one random index. */
const volatile __u64 exp_table[PROFD_GROWTH_EXP_N];

/* Set by on_fault_calibrate (or by user space from an earlier attach); read by on_fault. */
__u64 direct_map = 0;
__u32 calib_state = PROFD_GROWTH_CALIB_NONE;

/* Sample records (struct profd_growth_event, truncated after the copied stack bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by user space before load */
} events SEC(".maps");

/* key: CPU number; value: the record being built on that CPU (too big for the BPF stack and for
 * a per-CPU array). max_entries is set to the CPU count at load. Interrupts are off at fault
 * entry, so a CPU builds one record at a time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct profd_growth_event);
} scratch SEC(".maps");

/* key 0: this CPU's sampling countdown and counters (enum profd_growth_counter) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct profd_growth_cpu);
} cpu_state SEC(".maps");

/* ---- page tables ---- */

enum walk_result {
	WALK_FAILED = 0, /* not readable (no direct map, or a read failed) */
	WALK_PMD_NONE,   /* nothing mapped in the aligned 2 MiB: a THP may be used */
	WALK_PTE_NONE,   /* a first touch of a 4 KiB page */
	WALK_SWAP,       /* a swap (or migration) entry: the page comes back */
	WALK_NUMA,       /* a NUMA-balancing hint: the page is there */
	WALK_PRESENT,    /* already mapped: another thread won the race, nothing new */
};

static __always_inline int read_entry(__u64 table_phys, __u64 idx, __u64 *e)
{
	return bpf_probe_read_kernel(e, sizeof(*e), (void *)(direct_map + (table_phys & pfn_mask) + idx * 8));
}

/* What the target's page tables hold for addr, before the fault is handled. */
static __always_inline int walk_user(struct task_struct *task, __u64 addr, struct profd_growth_cpu *st)
{
	struct mm_struct *mm = task->mm;
	__u64 pgd, e, pmd_at;

	if (!direct_map || !mm)
		return WALK_FAILED;
	if (st->last_mm == (__u64)mm && st->last_range == addr >> 21 &&
	    bpf_probe_read_kernel(&e, sizeof(e), (void *)st->last_pmd_at) == 0 && e == st->last_pmd)
		goto pte;
	pgd = (__u64)mm->pgd;
	if (!pgd)
		return WALK_FAILED;
	if (levels5) {
		if (bpf_probe_read_kernel(&e, sizeof(e), (void *)(pgd + ((addr >> 48) & 511) * 8)))
			return WALK_FAILED;
		if (!(e & PTE_PRESENT))
			return WALK_PMD_NONE;
		if (read_entry(e, (addr >> 39) & 511, &e))
			return WALK_FAILED;
	} else if (bpf_probe_read_kernel(&e, sizeof(e), (void *)(pgd + ((addr >> 39) & 511) * 8))) {
		return WALK_FAILED;
	}
	if (!(e & PTE_PRESENT))
		return e ? WALK_FAILED : WALK_PMD_NONE;
	if (read_entry(e, (addr >> 30) & 511, &e)) /* pud */
		return WALK_FAILED;
	if (!(e & PTE_PRESENT))
		return e ? WALK_FAILED : WALK_PMD_NONE;
	if (e & PTE_PSE)
		return WALK_PRESENT;
	pmd_at = direct_map + (e & pfn_mask) + ((addr >> 21) & 511) * 8;
	if (bpf_probe_read_kernel(&e, sizeof(e), (void *)pmd_at))
		return WALK_FAILED;
	if (!e)
		return WALK_PMD_NONE;
	if (!(e & PTE_PRESENT))
		return e & PTE_PROTNONE ? WALK_NUMA : WALK_SWAP;
	if (e & PTE_PSE)
		return WALK_PRESENT;
	st->last_mm = (__u64)mm;
	st->last_range = addr >> 21;
	st->last_pmd_at = pmd_at;
	st->last_pmd = e;
pte:
	if (read_entry(e, (addr >> 12) & 511, &e))
		return WALK_FAILED;
	if (!e)
		return WALK_PTE_NONE;
	if (e & PTE_PRESENT)
		return WALK_PRESENT;
	return e & PTE_PROTNONE ? WALK_NUMA : WALK_SWAP;
}

struct thp_check {
	__u64 addr;
	__u64 vma, start, end, flags, ops;
};

static long thp_check_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct thp_check *c = data;

	c->vma = (__u64)vma;
	c->start = vma->vm_start;
	c->end = vma->vm_end;
	c->flags = vma->vm_flags;
	c->ops = (__u64)vma->vm_ops;
	return 0;
}

/* mm->flags is an unsigned long up to 6.17 and a bitmap (mm_flags_t) since: one flavor each, so
 * that CO-RE resolves the one this kernel has (a relocation of the other kind of field fails,
 * and on 6.1 made the whole program fail to load); the guard drops the other read at load. */
struct mm_struct___flags_word {
	unsigned long flags;
} __attribute__((preserve_access_index));
struct mm_struct___flags_bitmap {
	struct {
		unsigned long w[1];
	} flags;
} __attribute__((preserve_access_index));

/* The first word of mm's flags, 0 when neither layout is found. */
static __always_inline __u64 mm_flags_word(struct mm_struct *mm)
{
	__u64 v = 0;

	if (bpf_core_field_exists(((struct mm_struct___flags_word *)mm)->flags))
		bpf_probe_read_kernel(&v, sizeof(v), &((struct mm_struct___flags_word *)mm)->flags);
	else if (bpf_core_field_exists(((struct mm_struct___flags_bitmap *)mm)->flags))
		bpf_probe_read_kernel(&v, sizeof(v), &((struct mm_struct___flags_bitmap *)mm)->flags);
	return v;
}

/* May a fault at addr map a PMD THP in mapping c? Anonymous (no vm_ops: not a file, not shmem),
 * the aligned 2 MiB inside it, and the flags the THP setting asks for. */
static __always_inline int thp_decide(const struct thp_check *c, __u64 addr)
{
	__u64 start = addr & ~(PMD_SIZE - 1);

	if (c->ops || start < c->start || start + PMD_SIZE > c->end)
		return 0;
	if (c->flags & VM_NOHUGEPAGE)
		return 0;
	if (thp_mode == PROFD_GROWTH_THP_MADVISE && !(c->flags & VM_HUGEPAGE))
		return 0;
	return 1;
}

/* 1: a THP may be used, 0: not, -1: the mapping could not be looked up (mmap lock busy). */
static __always_inline int thp_allowed(struct task_struct *task, __u64 addr, struct profd_growth_cpu *st)
{
	struct thp_check c = { .addr = addr };
	struct mm_struct *mm = task->mm;
	struct vm_area_struct *vma;
	__u64 mmflags = 0, vmm = 0;

	if (thp_mode == PROFD_GROWTH_THP_NEVER || !mm)
		return 0;
	mmflags = mm_flags_word(mm);
	if (mmflags & (1ull << MMF_DISABLE_THP))
		return 0;
	/* The mapping of the last decision on this CPU, if addr is in its range: its fields read
	 * again (flags change in place with madvise). A mapping freed since reads as what it was,
	 * or as another: the weight is then a guess, which only sets the chance to be sampled
	 * (what a sampled fault mapped is read back by profd). */
	if (st->last_vma && st->last_vma_mm == (__u64)mm && addr >= st->last_vma_start && addr < st->last_vma_end) {
		vma = (struct vm_area_struct *)st->last_vma;
		if (!BPF_CORE_READ_INTO(&c.start, vma, vm_start) && !BPF_CORE_READ_INTO(&c.end, vma, vm_end) &&
		    !BPF_CORE_READ_INTO(&vmm, vma, vm_mm) && !BPF_CORE_READ_INTO(&c.flags, vma, vm_flags) &&
		    !BPF_CORE_READ_INTO(&c.ops, vma, vm_ops) && vmm == (__u64)mm && addr >= c.start && addr < c.end)
			return thp_decide(&c, addr);
	}
	if (bpf_find_vma(task, addr, thp_check_cb, &c, 0) != 0 || !c.vma)
		return -1;
	st->last_vma = c.vma;
	st->last_vma_start = c.start;
	st->last_vma_end = c.end;
	st->last_vma_mm = (__u64)mm;
	return thp_decide(&c, addr);
}

/* ---- the target's faults ---- */

/* The current task's process and thread IDs as profd sees them: in profd's PID namespace when
 * it is not the initial one. false for a task outside that namespace (not the target). */
static __always_inline bool current_ids(__u32 *ret_tgid, __u32 *ret_tid)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct bpf_pidns_info ns;

	if (pidns_ino) {
		if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
			return false;
		*ret_tgid = ns.tgid;
		*ret_tid = ns.pid;
		return true;
	}
	*ret_tgid = (__u32)(id >> 32);
	*ret_tid = (__u32)id;
	return true;
}

static __always_inline void send_sample(struct task_struct *task, __u64 addr, struct pt_regs *regs, __u64 weight,
					__u32 flags, __u32 tgid, __u32 tid, struct profd_growth_cpu *st)
{
	struct profd_growth_event *e;
	__u32 cpu = bpf_get_smp_processor_id(), size, cflags = 0;
	__u64 avail;

	e = bpf_map_lookup_elem(&scratch, &cpu);
	if (!e)
		return;
	e->time_ns = bpf_ktime_get_ns();
	e->addr = addr;
	e->weight = weight;
	e->tid = tid;
	e->tgid = tgid;
	STACKCOPY_REGS(e->regs, regs);
	/* a fault inside a probed allocator call (malloc writing into a fresh page): what the heap
	 * probes changed in the thread, for the unwinder to undo */
	read_uprobe_state(task, &e->up);
	e->stack_len = stackcopy_user_pages(e->regs[7], e->stack, stack_bytes, &cflags);
	if (cflags & PROFD_STACKCOPY_SHORT)
		flags |= PROFD_GROWTH_F_STACK_SHORT;
	if (cflags & PROFD_STACKCOPY_NONE)
		flags |= PROFD_GROWTH_F_NO_STACK;
	e->flags = flags;
	size = __builtin_offsetof(struct profd_growth_event, stack) + (e->stack_len & (PROFD_GROWTH_MAX_STACK - 1));
	if (size > sizeof(*e))
		return;
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	if (bpf_ringbuf_output(&events, e, size, avail + size >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP))
		st->cnt[PROFD_GROWTH_CNT_RB_FULL]++;
}

/* Classifies and weighs a fault of the target and runs the countdown. Returns true when it is
 * to be sampled (*weight and *flags say how). */
static __always_inline bool fault_path(struct task_struct *task, __u64 address, unsigned long error_code,
				       struct profd_growth_cpu *st, __u64 *weight, __u32 *flags)
{
	/* a protection fault (copy-on-write, a write to the zero page, a guard) maps nothing new
	 * into the address space: growth is counted at the first touch */
	if (error_code & PF_PROT) {
		st->cnt[PROFD_GROWTH_CNT_OTHER]++;
		return false;
	}
	switch (walk_user(task, address, st)) {
	case WALK_NUMA:
		st->cnt[PROFD_GROWTH_CNT_NUMA]++;
		return false;
	case WALK_PRESENT:
		st->cnt[PROFD_GROWTH_CNT_OTHER]++;
		return false;
	case WALK_FAILED:
		st->cnt[PROFD_GROWTH_CNT_NO_WALK]++;
		*flags |= PROFD_GROWTH_F_NO_WALK;
		break;
	case WALK_SWAP:
		st->cnt[PROFD_GROWTH_CNT_SWAPIN]++;
		*flags |= PROFD_GROWTH_F_SWAPIN;
		break;
	case WALK_PMD_NONE: {
		int thp = thp_allowed(task, address, st);

		if (thp > 0) {
			*weight = PROFD_GROWTH_HUGE;
			*flags |= PROFD_GROWTH_F_HUGE;
			st->cnt[PROFD_GROWTH_CNT_HUGE]++;
		} else if (thp < 0) {
			st->cnt[PROFD_GROWTH_CNT_VMA_BUSY]++;
			*flags |= PROFD_GROWTH_F_VMA_BUSY;
		}
		break;
	}
	default:
		break;
	}
	if (error_code & PF_WRITE)
		*flags |= PROFD_GROWTH_F_WRITE;
	st->cnt[PROFD_GROWTH_CNT_FAULTS]++;
	st->cnt[PROFD_GROWTH_CNT_BYTES] += *weight;

	/* byte sampling: a Poisson process over the bytes faulted in, as Go samples allocations */
	if (rate > 1) {
		if (!st->inited) {
			st->remaining = exp_table[bpf_get_prandom_u32() & (PROFD_GROWTH_EXP_N - 1)];
			st->inited = 1;
		}
		if ((__s64)*weight < st->remaining) {
			st->remaining -= *weight;
			return false;
		}
		st->remaining = exp_table[bpf_get_prandom_u32() & (PROFD_GROWTH_EXP_N - 1)];
	}
	st->cnt[PROFD_GROWTH_CNT_SAMPLED]++;
	return true;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(on_fault, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	struct task_struct *task;
	struct profd_growth_cpu *st;
	__u32 zero = 0, tgid, tid, flags = 0;
	__u64 weight = PROFD_GROWTH_PAGE, t0 = 0, t1;
	bool sample;

	if (!current_ids(&tgid, &tid) || !bpf_map_lookup_elem(&tgids, &tgid))
		return 0;
	st = bpf_map_lookup_elem(&cpu_state, &zero);
	if (!st)
		return 0;
	/* what the program costs the target, said in every profile: one fault in 64 timed on its
	 * common path, every sample's copy timed */
	if ((++st->tick & 63) == 0)
		t0 = bpf_ktime_get_ns();
	task = bpf_get_current_task_btf();
	sample = fault_path(task, address, error_code, st, &weight, &flags);
	/* a stretch far longer than the work is not the program's: the vCPU was descheduled by
	 * the host (interrupts off do not prevent that) or an NMI ran; left out */
	if (t0 && (t1 = bpf_ktime_get_ns() - t0) < TIMED_MAX_NS) {
		st->cnt[PROFD_GROWTH_CNT_TIMED]++;
		st->cnt[PROFD_GROWTH_CNT_TIMED_NS] += t1;
	}
	if (sample) {
		t0 = bpf_ktime_get_ns();
		send_sample(task, address, regs, weight, flags, tgid, tid, st);
		t1 = bpf_ktime_get_ns() - t0;
		st->cnt[PROFD_GROWTH_CNT_SAMPLE_NS] += t1 < SAMPLE_MAX_NS ? t1 : 0;
		st->cnt[PROFD_GROWTH_CNT_SAMPLE_TIMED] += t1 < SAMPLE_MAX_NS;
	}
	return 0;
}

/* ---- finding the direct map, on one of profd's own faults ---- */

struct calib {
	__u64 top;       /* the virtual address of profd's top-level page table (in the direct map) */
	__u64 top_entry; /* its entry that maps `top` itself */
	__u64 first;     /* the highest candidate base */
	__u64 found;
};

/* The physical address `virt` maps to, walking the kernel half with direct map base b, or ~0. */
static __always_inline __u64 walk_kernel(__u64 b, __u64 top_entry, __u64 virt)
{
	__u64 e = top_entry;

	if (levels5) {
		if (bpf_probe_read_kernel(&e, sizeof(e), (void *)(b + (e & pfn_mask) + ((virt >> 39) & 511) * 8)) ||
		    !(e & PTE_PRESENT))
			return ~0ull;
	}
	if (bpf_probe_read_kernel(&e, sizeof(e), (void *)(b + (e & pfn_mask) + ((virt >> 30) & 511) * 8)) ||
	    !(e & PTE_PRESENT))
		return ~0ull;
	if (e & PTE_PSE)
		return (e & pfn_mask & ~(PUD_SIZE - 1)) | (virt & (PUD_SIZE - 1));
	if (bpf_probe_read_kernel(&e, sizeof(e), (void *)(b + (e & pfn_mask) + ((virt >> 21) & 511) * 8)) ||
	    !(e & PTE_PRESENT))
		return ~0ull;
	if (e & PTE_PSE)
		return (e & pfn_mask & ~(PMD_SIZE - 1)) | (virt & (PMD_SIZE - 1));
	if (bpf_probe_read_kernel(&e, sizeof(e), (void *)(b + (e & pfn_mask) + ((virt >> 12) & 511) * 8)) ||
	    !(e & PTE_PRESENT))
		return ~0ull;
	return (e & pfn_mask) | (virt & 4095);
}

/* Candidate k: base = first - k GiB (the base is 1 GiB aligned, with or without randomization).
 * Right when walking `top` through it gives top - base. */
static long calib_try(__u64 k, void *data)
{
	struct calib *c = data;
	__u64 b = c->first - k * PUD_SIZE;

	if (b < map_lowest)
		return 1;
	if (walk_kernel(b, c->top_entry, c->top) == c->top - b) {
		c->found = b;
		return 1;
	}
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(on_fault_calibrate, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	struct task_struct *task;
	struct calib c = {};
	__u32 tgid, tid;
	__u64 top;


	if (calib_state != PROFD_GROWTH_CALIB_NONE || !current_ids(&tgid, &tid) || tgid != self_tgid)
		return 0;
	task = bpf_get_current_task_btf();
	top = (__u64)BPF_CORE_READ(task, mm, pgd);
	if (!top || bpf_probe_read_kernel(&c.top_entry, sizeof(c.top_entry),
					  (void *)(top + ((top >> (levels5 ? 48 : 39)) & 511) * 8)) ||
	    !(c.top_entry & PTE_PRESENT)) {
		calib_state = PROFD_GROWTH_CALIB_FAILED;
		return 0;
	}
	c.top = top;
	c.first = top & ~(PUD_SIZE - 1);
	bpf_loop(calib_max_gb, calib_try, &c, 0);
	if (c.found) {
		direct_map = c.found;
		calib_state = PROFD_GROWTH_CALIB_OK;
	} else {
		calib_state = PROFD_GROWTH_CALIB_FAILED;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

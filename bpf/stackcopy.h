/* SPDX-License-Identifier: GPL-2.0 */
/* What a sample of user code carries for the unwinder in user space (stacks/unwind.h), copied
 * the same way by every BPF source that takes one (cpu, growth, block, threadcreate): the user registers
 * in DWARF order, and the top of the user stack from sp up to the end of the stack's mapping.
 * BPF-only (vmlinux.h and the helpers must be included first); include it once per object. */
#ifndef PROFD_BPF_STACKCOPY_H
#define PROFD_BPF_STACKCOPY_H

/* The copy buffer's size: a power of two, so that a mask bounds every read for the verifier. */
#define PROFD_STACKCOPY_MAX 32768
/* Mappings end on page boundaries (x86_64: 4 KiB). */
#define PROFD_STACKCOPY_PAGE 4096

/* stackcopy_user() outcome bits */
#define PROFD_STACKCOPY_VMA_BUSY 0x1 /* the mapping's end was not looked up (busy): found by retrying */
#define PROFD_STACKCOPY_SHORT 0x2    /* a read crossed the end of the mapping and was retried */
#define PROFD_STACKCOPY_NONE 0x4     /* no stack bytes could be read */

/* x86_64 user registers in DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip. out is a
 * __u64[17]; r a struct pt_regs pointer (a program's context or a BTF pointer). */
#define STACKCOPY_REGS(out, r)                                                                       \
	do {                                                                                         \
		(out)[0] = (r)->ax;  (out)[1] = (r)->dx;  (out)[2] = (r)->cx;                        \
		(out)[3] = (r)->bx;  (out)[4] = (r)->si;  (out)[5] = (r)->di;                        \
		(out)[6] = (r)->bp;  (out)[7] = (r)->sp;  (out)[8] = (r)->r8;                        \
		(out)[9] = (r)->r9;  (out)[10] = (r)->r10; (out)[11] = (r)->r11;                     \
		(out)[12] = (r)->r12; (out)[13] = (r)->r13; (out)[14] = (r)->r14;                    \
		(out)[15] = (r)->r15; (out)[16] = (r)->ip;                                            \
	} while (0)

struct stackcopy_vma_end {
	__u64 end;
};

static long stackcopy_vma_end_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct stackcopy_vma_end *c = data;

	c->end = vma->vm_end;
	return 0;
}

/* Copies up to `want` bytes of task's user stack, from sp upwards, into buf (max bytes, a power
 * of two no larger than PROFD_STACKCOPY_MAX, given as a constant so that the mask below bounds
 * the read for the verifier). A read that crosses the end of the stack mapping fails as a whole:
 * copy at most up to the end of the mapping sp is in. bpf_find_vma needs the mmap lock (trylock)
 * and a per-CPU irq_work that another BPF program in the same interrupt may hold (two profd
 * instances): then step back one page at a time (mappings end on a page boundary) until a read
 * works. Returns the bytes copied; ORs PROFD_STACKCOPY_* into *flags. */
static __always_inline __u32 stackcopy_user_max(struct task_struct *task, __u64 sp, __u8 *buf, __u32 want,
						__u32 max, __u32 *flags)
{
	struct stackcopy_vma_end vc = {};
	__u32 len = want, mask = max - 1;

	if (bpf_find_vma(task, sp, stackcopy_vma_end_cb, &vc, 0) == 0 && vc.end > sp) {
		if (vc.end - sp < len)
			len = vc.end - sp;
	} else {
		*flags |= PROFD_STACKCOPY_VMA_BUSY;
	}
	for (int i = 0; i < PROFD_STACKCOPY_MAX / PROFD_STACKCOPY_PAGE + 1; i++) {
		__u64 last_page;

		if (len > mask)
			len = mask;
		/* a no-op on the clamped value, but a bound the verifier sees on the register the call
		 * uses (clang may test a copy of len and pass another); mask is a known constant */
		asm volatile("%[len] &= %[mask]" : [len] "+r"(len) : [mask] "r"(mask));
		if (len == 0 || bpf_probe_read_user(buf, len, (void *)sp) == 0)
			break;
		*flags |= PROFD_STACKCOPY_SHORT;
		last_page = (sp + len - 1) & ~(__u64)(PROFD_STACKCOPY_PAGE - 1);
		len = last_page > sp ? last_page - sp : 0;
	}
	if (len == 0)
		*flags |= PROFD_STACKCOPY_NONE;
	return len;
}

/* stackcopy_user_max() into a PROFD_STACKCOPY_MAX-byte buffer. */
static __always_inline __u32 stackcopy_user(struct task_struct *task, __u64 sp, __u8 *buf, __u32 want,
					    __u32 *flags)
{
	return stackcopy_user_max(task, sp, buf, want, PROFD_STACKCOPY_MAX, flags);
}

/* The same copy without looking the mapping up, for programs that run with interrupts off
 * (a fault's entry): there bpf_find_vma would defer its mmap unlock to an irq_work, a self-IPI
 * that costs more than the copy. Reads the rest of sp's page, then whole pages, until `want`
 * bytes or a read fails (the end of the stack mapping; one failed read, no retry). Returns the
 * bytes copied, at most want; ORs PROFD_STACKCOPY_* into *flags. */
static __always_inline __u32 stackcopy_user_pages(__u64 sp, __u8 *buf, __u32 want, __u32 *flags)
{
	/* in [1, PAGE]: every offset below is first + i pages, which the verifier bounds */
	__u32 first = PROFD_STACKCOPY_PAGE - (sp & (PROFD_STACKCOPY_PAGE - 1)), len;

	if (bpf_probe_read_user(buf, first, (void *)sp)) {
		*flags |= PROFD_STACKCOPY_NONE;
		return 0;
	}
	len = first;
	for (int i = 0; i < PROFD_STACKCOPY_MAX / PROFD_STACKCOPY_PAGE - 1; i++) {
		if (len >= want)
			break;
		if (bpf_probe_read_user(buf + first + i * PROFD_STACKCOPY_PAGE, PROFD_STACKCOPY_PAGE,
					(void *)(sp + first + i * PROFD_STACKCOPY_PAGE))) {
			*flags |= PROFD_STACKCOPY_SHORT;
			break;
		}
		len = first + (i + 1) * PROFD_STACKCOPY_PAGE;
	}
	return len < want ? len : want;
}

#endif

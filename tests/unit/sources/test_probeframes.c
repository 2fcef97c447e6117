// SPDX-License-Identifier: MIT
/* daemon/sources/probeframes.c on hand-made samples (no privileges, no target): return
 * addresses the uretprobe trampoline replaced are put back only where the copy still holds the
 * trampoline; a pc in the out-of-line slot or in either trampoline (int3 before 6.11, syscall
 * after) is moved to the probed instruction or to the caller; a kernel without the BTF fields
 * gets nothing repaired; kernel function names of uprobe handling are told from others; a
 * return address in flight is guessed only for the same thread, slot and probe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sources/probeframes.h"

#define TRAMP 0x7fffffffe000ull
#define START 0x7ffc00001000ull
#define NWORDS 16

struct sample {
	uint64_t words[NWORDS]; /* the stack copy, START upwards */
	struct unwind_stack stack;
	struct unwind_regs regs;
	struct profd_uprobe_state up;
	struct probe_fix fix;
};

static void sample_init(struct sample *s, uint64_t pc, uint64_t sp)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < NWORDS; i++)
		s->words[i] = 0x1000 + (uint64_t)i; /* not code, not the trampoline */
	s->stack = (struct unwind_stack){ .start = START, .data = (const uint8_t *)s->words, .len = sizeof(s->words) };
	s->regs.r[UNWIND_REG_RIP] = pc;
	s->regs.r[UNWIND_REG_RSP] = sp;
	s->up.tramp = TRAMP;
}

static void add_ret(struct sample *s, uint64_t slot, uint64_t orig, uint64_t func)
{
	s->up.ret_slot[s->up.nrets] = slot;
	s->up.ret_orig[s->up.nrets] = orig;
	s->up.ret_func[s->up.nrets] = func;
	s->up.nrets++;
}

static uint64_t word_at(int i)
{
	return START + 8 * (uint64_t)i;
}

/* posix_memalign -> malloc, and an outer probed call further up: the copy holds the trampoline
 * in two slots; a stale instance (the call longjmp'd away) and one outside the copy are left. */
static void test_hijacked_returns(void **state)
{
	struct sample s;

	(void)state;
	sample_init(&s, 0x7f0000001000, START);
	s.words[1] = TRAMP;
	s.words[6] = TRAMP;
	add_ret(&s, word_at(1), 0x555500001234, 0x7f0000001000);
	add_ret(&s, word_at(3), 0x555500005678, 0x7f0000002000); /* stale: word 3 is not the trampoline */
	add_ret(&s, word_at(6), 0x555500009abc, 0x7f0000003000);
	add_ret(&s, START + 0x10000, 0x5555000def00, 0x7f0000003000); /* beyond the copy */
	assert_int_equal(probe_fix_sample(&s.up, &s.regs, &s.stack, &s.fix), 2);
	assert_int_equal(s.fix.nwords, 2);
	assert_int_equal(s.fix.words[0].addr, word_at(1));
	assert_int_equal(s.fix.words[0].value, 0x555500001234);
	assert_int_equal(s.fix.words[1].addr, word_at(6));
	assert_int_equal(s.fix.words[1].value, 0x555500009abc);
	assert_ptr_equal(s.stack.words, s.fix.words);
	assert_int_equal(s.stack.nwords, 2);
	assert_false(s.fix.in_uprobes);
	assert_false(s.fix.leaf_is_return);
	/* the copy itself is left alone (it is the ring buffer's, read-only) */
	assert_int_equal(s.words[1], TRAMP);
	assert_int_equal(s.regs.r[UNWIND_REG_RIP], 0x7f0000001000);

	/* a thread that never hit a probe: nothing to do */
	sample_init(&s, 0x7f0000001000, START);
	s.up.tramp = 0;
	assert_int_equal(probe_fix_sample(&s.up, &s.regs, &s.stack, &s.fix), 0);
	assert_null(s.stack.words);
}

static void test_out_of_line_slot(void **state)
{
	struct sample s;

	(void)state;
	/* after the single step: the offset into the copy is the offset into the original */
	sample_init(&s, TRAMP + 2 * PROFD_UPROBE_SLOT_BYTES + 3, START);
	s.up.xol_vaddr = TRAMP + 2 * PROFD_UPROBE_SLOT_BYTES;
	s.up.xol_orig = 0x7f0000004560;
	assert_int_equal(probe_fix_sample(&s.up, &s.regs, &s.stack, &s.fix), 1);
	assert_int_equal(s.regs.r[UNWIND_REG_RIP], 0x7f0000004563);
	assert_int_equal(s.regs.r[UNWIND_REG_RSP], START);
	assert_true(s.fix.in_uprobes);
	assert_false(s.fix.leaf_is_return);

	/* another slot of the page than the thread's: in the probes, nothing known to undo */
	sample_init(&s, TRAMP + 5 * PROFD_UPROBE_SLOT_BYTES, START);
	assert_int_equal(probe_fix_sample(&s.up, &s.regs, &s.stack, &s.fix), 0);
	assert_true(s.fix.in_uprobes);
	assert_int_equal(s.regs.r[UNWIND_REG_RIP], TRAMP + 5 * PROFD_UPROBE_SLOT_BYTES);
}

static void test_trampoline(void **state)
{
	static const struct {
		const char *what;
		uint64_t off;      /* pc - TRAMP */
		int slot_word;     /* the pending return's slot, as a word index from START */
		bool pending;      /* still in the kernel's list */
		int sp_word;       /* sp, as a word index */
		bool repaired;
	} cases[] = {
		{ "int3 trampoline, trapped (6.1)", 1, 3, true, 4, true },
		{ "syscall trampoline, entry", 0, 3, true, 4, true },
		{ "syscall trampoline, after push %rax", 1, 3, true, 3, true },
		{ "syscall trampoline, at the syscall", 11, 3, true, 1, true },
		{ "syscall trampoline, in the syscall before handling", 13, 3, true, 1, true },
		{ "syscall trampoline, handled, at pop %r11", 13, 3, false, 1, true },
		{ "syscall trampoline, handled, at pop %rcx", 15, 3, false, 2, true },
		{ "syscall trampoline, handled, at ret", 16, 3, false, 3, true },
		{ "syscall trampoline, handled, mid-way: unknown", 5, 3, false, 1, false },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sample s;

		print_message("%s\n", cases[i].what);
		sample_init(&s, TRAMP + cases[i].off, word_at(cases[i].sp_word));
		if (cases[i].pending)
			add_ret(&s, word_at(cases[i].slot_word), 0x555500001234, 0x7f0000001000);
		else
			s.words[cases[i].slot_word] = 0x555500001234; /* the syscall put it back */
		/* an outer pending call further up is not the one returning */
		s.words[10] = TRAMP;
		add_ret(&s, word_at(10), 0x555500007777, 0x7f0000002000);
		probe_fix_sample(&s.up, &s.regs, &s.stack, &s.fix);
		assert_true(s.fix.in_uprobes);
		assert_int_equal(s.fix.leaf_is_return, cases[i].repaired);
		if (cases[i].repaired) {
			assert_int_equal(s.regs.r[UNWIND_REG_RIP], 0x555500001234);
			assert_int_equal(s.regs.r[UNWIND_REG_RSP], word_at(cases[i].slot_word) + 8);
		} else {
			assert_int_equal(s.regs.r[UNWIND_REG_RIP], TRAMP + cases[i].off);
		}
		/* the outer one is put back either way */
		assert_int_equal(s.fix.nwords, 1);
		assert_int_equal(s.fix.words[0].addr, word_at(10));
	}
}

static void test_no_btf(void **state)
{
	struct sample s;

	(void)state;
	sample_init(&s, TRAMP + 1, word_at(4));
	s.words[3] = TRAMP;
	add_ret(&s, word_at(3), 0x555500001234, 0x7f0000001000);
	s.up.flags = PROFD_UPROBE_F_NO_BTF;
	assert_int_equal(probe_fix_sample(&s.up, &s.regs, &s.stack, &s.fix), 0);
	assert_true(s.fix.no_btf);
	assert_int_equal(s.fix.nwords, 0);
	assert_int_equal(s.regs.r[UNWIND_REG_RIP], TRAMP + 1);
}

static void test_kernel_names(void **state)
{
	static const struct {
		const char *name;
		bool outermost, want;
	} cases[] = {
		{ "uprobe_notify_resume", false, true },
		{ "uprobe_notify_resume.cold", false, true },
		{ "handler_chain", false, true },
		{ "handler_chain.isra.0", false, true },
		{ "handle_swbp", false, true },
		{ "uprobe_dispatcher", false, true },
		{ "uretprobe_dispatcher", false, true },
		{ "uprobe_multi_link_handler", false, true },
		{ "__x64_sys_uretprobe", false, true },
		{ "arch_uprobe_skip_sstep", false, true },
		{ "asm_exc_int3", true, true },
		{ "asm_exc_int3", false, false }, /* an int3 taken in the kernel (kprobes, text poking) */
		{ "exc_int3", false, false },
		{ "irqentry_exit_to_user_mode", true, false },
		{ "do_syscall_64", false, false },
		{ "uprobe", false, false },
		{ "uprobe_notify_resumes", false, false },
		{ "", true, false },
		{ NULL, true, false },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(probe_kernel_name(cases[i].name, cases[i].outermost), cases[i].want);
	/* without a symbolizer nothing is named, so nothing is recognised */
	struct probe_frames *pf = probe_frames__new(NULL);
	uint64_t k[2] = { 0xffffffff81000000ull, 0xffffffff81000100ull };

	assert_non_null(pf);
	assert_false(probe_frames__match(pf, k, 2));
	assert_false(probe_frames__match(NULL, k, 2));
	probe_frames__free(pf);
	probe_frames__free(NULL);
}

/* The kernel wrote the trampoline at sp but has not recorded the return yet. */
static void test_in_flight(void **state)
{
	struct probe_frames *pf = probe_frames__new(NULL);
	struct sample seen, s;

	(void)state;
	assert_non_null(pf);
	/* earlier: malloc (probe 0x7f0000001000) pending at slot word 4, called from 0x555500001234 */
	sample_init(&seen, 0x7f0000009000, START);
	add_ret(&seen, word_at(4), 0x555500001234, 0x7f0000001000);
	probe_frames__learn(pf, 7, &seen.up, &seen.regs, &seen.stack, false);

	sample_init(&s, 0x7f0000001000, word_at(4));
	s.words[4] = TRAMP;
	probe_fix_sample(&s.up, &s.regs, &s.stack, &s.fix);
	assert_int_equal(s.fix.nwords, 0);
	assert_int_equal(probe_frames__in_flight(pf, 8, &s.up, &s.regs, &s.stack, &s.fix), 0); /* other thread */
	s.regs.r[UNWIND_REG_RIP] = 0x7f0000002000; /* another probe */
	assert_int_equal(probe_frames__in_flight(pf, 7, &s.up, &s.regs, &s.stack, &s.fix), 0);
	s.regs.r[UNWIND_REG_RIP] = 0x7f0000001000;
	assert_int_equal(probe_frames__in_flight(pf, 7, &s.up, &s.regs, &s.stack, &s.fix), 1);
	assert_int_equal(s.fix.nwords, 1);
	assert_int_equal(s.fix.words[0].addr, word_at(4));
	assert_int_equal(s.fix.words[0].value, 0x555500001234);
	assert_int_equal(s.stack.nwords, 1);
	/* not twice, and not where sp does not hold the trampoline */
	assert_int_equal(probe_frames__in_flight(pf, 7, &s.up, &s.regs, &s.stack, &s.fix), 0);
	s.words[4] = 0x1234;
	s.fix.nwords = 0;
	assert_int_equal(probe_frames__in_flight(pf, 7, &s.up, &s.regs, &s.stack, &s.fix), 0);

	/* learnt from a trap before the kernel replaced anything: the return address at sp, for
	 * that probe (the trap reports pc + 1 at first) */
	sample_init(&seen, 0x7f0000002001, word_at(6));
	seen.words[6] = 0x555500004444;
	probe_frames__learn(pf, 7, &seen.up, &seen.regs, &seen.stack, true);
	sample_init(&s, 0x7f0000002000, word_at(6));
	s.words[6] = TRAMP;
	assert_int_equal(probe_frames__in_flight(pf, 7, &s.up, &s.regs, &s.stack, &s.fix), 1);
	assert_int_equal(s.fix.words[0].value, 0x555500004444);
	/* not from a sample outside the probes */
	sample_init(&seen, 0x7f0000003000, word_at(8));
	seen.words[8] = 0x555500005555;
	probe_frames__learn(pf, 7, &seen.up, &seen.regs, &seen.stack, false);
	sample_init(&s, 0x7f0000003000, word_at(8));
	s.words[8] = TRAMP;
	assert_int_equal(probe_frames__in_flight(pf, 7, &s.up, &s.regs, &s.stack, &s.fix), 0);
	probe_frames__free(pf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hijacked_returns),
		cmocka_unit_test(test_out_of_line_slot),
		cmocka_unit_test(test_trampoline),
		cmocka_unit_test(test_no_btf),
		cmocka_unit_test(test_kernel_names),
		cmocka_unit_test(test_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

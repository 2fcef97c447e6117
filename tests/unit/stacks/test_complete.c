// SPDX-License-Identifier: MIT
/* The one rule of a complete stack (stacks/complete.h): which walks count as complete, the
 * reason each short one counts under, and the sentence every source prints, which never says
 * 0 when stacks were cut. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stacks/complete.h"

static void test_rule_table(void **state)
{
	static const struct {
		int n;
		int why;
		bool complete;
		enum unwind_stop counted;
	} cases[] = {
		{ 12, UNWIND_STOP_ROOT, true, UNWIND_STOP_ROOT },
		{ 1, UNWIND_STOP_ROOT, true, UNWIND_STOP_ROOT },
		/* a walk that gave nothing is never complete, whatever its reason says */
		{ 0, UNWIND_STOP_ROOT, false, UNWIND_STOP_ERROR },
		{ -22, UNWIND_STOP_ROOT, false, UNWIND_STOP_ERROR },
		{ 5, UNWIND_STOP_WINDOW, false, UNWIND_STOP_WINDOW },
		{ 5, UNWIND_STOP_NO_CFI, false, UNWIND_STOP_NO_CFI },
		{ 2, UNWIND_STOP_BAD_ADDR, false, UNWIND_STOP_BAD_ADDR },
		/* the depth bound cut the stack: it fell short too */
		{ 128, UNWIND_STOP_DEPTH, false, UNWIND_STOP_DEPTH },
		{ 3, UNWIND_STOP_ERROR, false, UNWIND_STOP_ERROR },
		{ 3, UNWIND_STOP_FRAME_POINTER, false, UNWIND_STOP_FRAME_POINTER },
		/* bad input */
		{ 3, UNWIND_STOP__COUNT, false, UNWIND_STOP_ERROR },
		{ 3, -1, false, UNWIND_STOP_ERROR },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(stack_complete(cases[i].n, (enum unwind_stop)cases[i].why), cases[i].complete);
		assert_int_equal(stack_short_reason(cases[i].n, (enum unwind_stop)cases[i].why), cases[i].counted);
	}
}

static void test_root_names(void **state)
{
	static const struct {
		const char *name;
		bool root;
	} cases[] = {
		{ "_start", true }, { "start_thread", true }, { "clone3", true }, { "__clone", true },
		{ "runtime.goexit", true }, { "runtime.goexit.abi0", true }, { "runtime.mstart", true },
		{ "runtime.mcall", true }, { "runtime.systemstack", true },
		{ "main", false }, { "__libc_start_main_impl", false }, { "__libc_start_call_main", false },
		{ "runtime.main", false }, { "runtime.goexit1", false }, { "_start2", false }, { "", false },
		{ NULL, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(stack_root_function(cases[i].name), cases[i].root);
}

static void test_tally_counts_every_reason(void **state)
{
	struct stack_tally t = { 0 }, u = { 0 };

	stack_tally__add(&t, 10, UNWIND_STOP_ROOT);
	stack_tally__add(&t, 10, UNWIND_STOP_ROOT);
	stack_tally__add(&t, 4, UNWIND_STOP_WINDOW);
	stack_tally__add(&t, 128, UNWIND_STOP_DEPTH);
	stack_tally__add(&t, 0, UNWIND_STOP_ROOT);
	stack_tally__add(NULL, 1, UNWIND_STOP_ROOT); /* NULL-safe */
	assert_int_equal(t.stacks, 5);
	assert_int_equal(stack_tally__short(&t), 3);
	assert_int_equal(t.short_by[UNWIND_STOP_WINDOW], 1);
	assert_int_equal(t.short_by[UNWIND_STOP_DEPTH], 1);
	assert_int_equal(t.short_by[UNWIND_STOP_ERROR], 1);
	assert_int_equal(t.short_by[UNWIND_STOP_ROOT], 0);

	stack_tally__add(&u, 2, UNWIND_STOP_BAD_ADDR);
	stack_tally__merge(&t, &u);
	assert_int_equal(t.stacks, 6);
	assert_int_equal(stack_tally__short(&t), 4);
	assert_int_equal(stack_tally__short(NULL), 0);
}

static void test_sentence(void **state)
{
	struct stack_tally t = { 0 };
	char out[512];

	/* nothing cut: says so, with the count */
	for (int i = 0; i < 7; i++)
		stack_tally__add(&t, 9, UNWIND_STOP_ROOT);
	assert_true(stack_tally__sentence(&t, "sampled stacks", out, sizeof(out)) > 0);
	assert_string_equal(out, "all 7 sampled stacks reached the thread's start");

	/* the postgres case of issue 13: some reached _start, others did not; every one that fell
	 * short is counted with its reason, and the sentence never says 0 */
	for (int i = 0; i < 5; i++)
		stack_tally__add(&t, 30, UNWIND_STOP_WINDOW);
	stack_tally__add(&t, 2, UNWIND_STOP_BAD_ADDR);
	assert_true(stack_tally__sentence(&t, "sampled stacks", out, sizeof(out)) > 0);
	assert_string_equal(out, "6 of 13 sampled stacks (46.2%) fell short of the thread's start: 5 stack_window "
				 "(the stack copy was too short), 1 bad_address (a return address outside any code)");

	/* cut to the buffer, always terminated, returns what it wanted */
	assert_true(stack_tally__sentence(&t, "stacks", out, 10) > 10);
	assert_int_equal(strlen(out), 9);

	/* bad input */
	assert_int_equal(stack_tally__sentence(NULL, "x", out, sizeof(out)), -EINVAL);
	assert_int_equal(stack_tally__sentence(&t, NULL, out, sizeof(out)), -EINVAL);
	assert_int_equal(stack_tally__sentence(&t, "x", NULL, 10), -EINVAL);
	assert_int_equal(stack_tally__sentence(&t, "x", out, 0), -EINVAL);
	assert_string_equal(stack_short_meaning(UNWIND_STOP__COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_table),
		cmocka_unit_test(test_root_names),
		cmocka_unit_test(test_tally_counts_every_reason),
		cmocka_unit_test(test_sentence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

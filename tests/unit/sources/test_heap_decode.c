// SPDX-License-Identifier: MIT
/* Probe placement decoding: the entries of real allocator functions (glibc 2.36, jemalloc 5.3)
 * and bad cases (argument overwritten, branch back into the skipped range, truncated input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sources/x86_decode.h"

#define B(...) ((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })

static void test_real_entries(void **state)
{
	/* glibc free: test %rdi,%rdi; je rel32; push %rbp -> probe the je at +3 */
	assert_int_equal(x86_probe_offset(B(0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0, 0, 0, 0x55, 0x48, 0x89, 0xe5),
					  X86_ARGS(1)), 3);
	/* glibc malloc: push %r12 -> the entry itself is emulated */
	assert_int_equal(x86_probe_offset(B(0x41, 0x54, 0x55, 0x53, 0x48, 0x89, 0xfb), X86_ARGS(1)), 0);
	/* glibc posix_memalign: cmpb $0,disp32(%rip); push %r12 -> +7 */
	assert_int_equal(x86_probe_offset(B(0x80, 0x3d, 0x01, 0x02, 0x14, 0x00, 0x00, 0x41, 0x54, 0x49, 0x89, 0xd4),
					  (1u << 0) | (1u << 2)), 7);
	/* jemalloc malloc: cmp $0x1000,%rdi; ja rel32 -> +7 */
	assert_int_equal(x86_probe_offset(B(0x48, 0x81, 0xff, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x87, 1, 0, 0, 0),
					  X86_ARGS(1)), 7);
	/* jemalloc _ZdlPvm: test %rdi,%rdi; je rel8 -> +3 */
	assert_int_equal(x86_probe_offset(B(0x48, 0x85, 0xff, 0x74, 0x13, 0x48, 0x83, 0xec, 0x08), X86_ARGS(1)), 3);
	/* jemalloc 5.3 free: nine loads/ALU ops on rax, rcx, rdx (rdi intact), then jne at +0x30 */
	assert_int_equal(x86_probe_offset(B(0x48, 0x89, 0xf8, 0x48, 0x8b, 0x15, 0x0e, 0x53, 0x0a, 0x00, 0x48, 0x89,
					    0xf9, 0x48, 0xc1, 0xe8, 0x1a, 0x48, 0x81, 0xe1, 0x00, 0x00, 0x00, 0xc0,
					    0x25, 0xf0, 0x00, 0x00, 0x00, 0x64, 0x48, 0x03, 0x04, 0x25, 0x00, 0x00,
					    0x00, 0x00, 0x48, 0x01, 0xd0, 0x48, 0x3b, 0x88, 0xb0, 0x01, 0x00, 0x00,
					    0x0f, 0x85, 0x8a, 0x00, 0x00, 0x00, 0x48, 0x89, 0xfe),
					  X86_ARGS(1)),
			 0x30);
	/* ...but not for a 3-argument function (rdx is argument 2) */
	assert_int_equal(x86_probe_offset(B(0x48, 0x89, 0xf8, 0x48, 0x8b, 0x15, 0x0e, 0x53, 0x0a, 0x00, 0x55),
					  X86_ARGS(3)),
			 0);
	/* endbr64; push %rbp -> +4 */
	assert_int_equal(x86_probe_offset(B(0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5), X86_ARGS(1)), 4);
}

static void test_refusals(void **state)
{
	/* mov %rsi,%rdi overwrites argument 0 before the push: stay at the entry */
	assert_int_equal(x86_probe_offset(B(0x48, 0x89, 0xf7, 0x55), X86_ARGS(1)), 0);
	/* mov %rdi,%rax is fine for a 1-argument function... */
	assert_int_equal(x86_probe_offset(B(0x48, 0x89, 0xf8, 0x55), X86_ARGS(1)), 3);
	/* ...but mov %rdi,%rdx is not when rdx is argument 2 (posix_memalign's size) */
	assert_int_equal(x86_probe_offset(B(0x48, 0x89, 0xfa, 0x55), (1u << 0) | (1u << 2)), 0);
	/* writes to callee-saved registers or rsp are never skipped */
	assert_int_equal(x86_probe_offset(B(0x48, 0x89, 0xfb, 0x55), X86_ARGS(1)), 0);
	assert_int_equal(x86_probe_offset(B(0x48, 0x83, 0xec, 0x08, 0x55), X86_ARGS(1)), 0);
	/* a branch later in the body lands on the probe site (+3): it would fire twice */
	assert_int_equal(x86_probe_offset(B(0x48, 0x85, 0xff, 0x74, 0x02, 0x90, 0x90, 0xeb, 0xfa), X86_ARGS(1)), 0);
	/* nothing emulated within X86_MAX_SKIP instructions */
	{
		uint8_t many[3 * (X86_MAX_SKIP + 1) + 1];

		for (int i = 0; i <= X86_MAX_SKIP; i++)
			memcpy(many + 3 * i, "\x48\x85\xff", 3);
		many[sizeof(many) - 1] = 0x55;
		assert_int_equal(x86_probe_offset(many, sizeof(many), X86_ARGS(1)), 0);
		/* one fewer test: the push is reached */
		assert_int_equal(x86_probe_offset(many + 3, sizeof(many) - 3, X86_ARGS(1)), 3 * X86_MAX_SKIP);
	}
	/* truncated input */
	assert_int_equal(x86_probe_offset(B(0x48, 0x85), X86_ARGS(1)), 0);
	assert_int_equal(x86_probe_offset(B(0x48, 0x85, 0xff), X86_ARGS(1)), 0);
	assert_int_equal(x86_emulated_len(B(0x0f, 0x84, 0, 0)), 0);
	assert_int_equal(x86_emulated_len(B(0xe9, 0, 0)), 0);
}

static void test_emulated_and_skippable(void **state)
{
	assert_int_equal(x86_emulated_len(B(0x55)), 1);
	assert_int_equal(x86_emulated_len(B(0x41, 0x57)), 2);
	assert_int_equal(x86_emulated_len(B(0xe8, 1, 2, 3, 4)), 5);
	assert_int_equal(x86_emulated_len(B(0x74, 0x10)), 2);
	assert_int_equal(x86_emulated_len(B(0x48, 0x85, 0xff)), 0);
	assert_int_equal(x86_skippable_len(B(0x48, 0x85, 0xff), X86_ARGS(1)), 3);
	assert_int_equal(x86_skippable_len(B(0x85, 0xff), X86_ARGS(1)), 2);
	/* mov disp32(%rip),%rdx: a load into a non-argument register */
	assert_int_equal(x86_skippable_len(B(0x48, 0x8b, 0x15, 1, 2, 3, 4), X86_ARGS(1)), 7);
	assert_int_equal(x86_skippable_len(B(0x48, 0x8b, 0x15, 1, 2, 3, 4), X86_ARGS(3)), 0);
	/* add $8,%rdi writes argument 0; add $8,%rax is fine */
	assert_int_equal(x86_skippable_len(B(0x48, 0x83, 0xc7, 0x08), X86_ARGS(1)), 0);
	assert_int_equal(x86_skippable_len(B(0x48, 0x83, 0xc0, 0x08), X86_ARGS(1)), 4);
	/* mov %rax,(%rdi): a store to memory is never skipped */
	assert_int_equal(x86_skippable_len(B(0x48, 0x89, 0x07), X86_ARGS(1)), 0);
	/* lea 0x10(%rdi),%rax; cmp 0x1b0(%rax),%rcx; add %fs:0,%rax (SIB, disp32) */
	assert_int_equal(x86_skippable_len(B(0x48, 0x8d, 0x47, 0x10), X86_ARGS(1)), 4);
	assert_int_equal(x86_skippable_len(B(0x48, 0x3b, 0x88, 0xb0, 0x01, 0x00, 0x00), X86_ARGS(1)), 7);
	assert_int_equal(x86_skippable_len(B(0x64, 0x48, 0x03, 0x04, 0x25, 0, 0, 0, 0), X86_ARGS(1)), 9);
	/* truncated SIB/displacement */
	assert_int_equal(x86_skippable_len(B(0x48, 0x3b, 0x88, 0xb0, 0x01), X86_ARGS(1)), 0);
	/* adc and rcl-style group members are refused */
	assert_int_equal(x86_skippable_len(B(0x48, 0x83, 0xd0, 0x01), X86_ARGS(1)), 0);
	assert_int_equal(x86_skippable_len(B(0x48, 0xc1, 0xd0, 0x01), X86_ARGS(1)), 0);
}

struct scan_ctx {
	int calls, jumps;
	int64_t last;
};

static void on_rel(void *ctx, size_t at, int64_t target, bool is_call)
{
	struct scan_ctx *c = ctx;

	if (is_call)
		c->calls++;
	else
		c->jumps++;
	c->last = target;
}

static void test_scan_rel32(void **state)
{
	struct scan_ctx c = { 0 };

	/* mov; mul; mov; jo +5; jmp -0x10 (glibc reallocarray's shape) */
	assert_int_equal(x86_scan_rel32(B(0x48, 0x89, 0xf0, 0x48, 0xf7, 0xe2, 0x48, 0x89, 0xc6, 0x70, 0x05, 0xe9,
					  0xf0, 0xff, 0xff, 0xff),
					on_rel, &c),
			 1);
	assert_int_equal(c.jumps, 1);
	assert_int_equal(c.calls, 0);
	assert_int_equal(c.last, 0); /* 11 + 5 - 16 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_entries),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_emulated_and_skippable),
		cmocka_unit_test(test_scan_rel32),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

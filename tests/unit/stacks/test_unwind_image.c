// SPDX-License-Identifier: MIT
/* unwinder__new_image(): the CFI walk over an ELF given as bytes, with no process behind it (the
 * seam the fuzzer uses). The image is this test's own executable, placed at a made-up address;
 * the stacks are built by hand from its symbols: at a function's first instruction the CFA is
 * rsp + 8 and the return address is the word at rsp. A range declared as code without CFI
 * (unwinder__add_code) stands for a JIT's code: frames there are walked by frame pointer. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "stacks/cfiscan.h"
#include "stacks/samples.h"
#include "stacks/unwind.h"
#include "targets.h"

#define START 0x10000000ull /* where the image is "mapped" (it is PIE: vaddr 0 lands here) */
#define STACK 0x7ff000000000ull
#define JIT 0x20000000ull /* "JIT code": executable, no module, no CFI */
#define JIT_SIZE 0x10000ull

static uint8_t *image;
static size_t image_size;

/* Two functions with CFI of their own (kept out of line, called by nobody). */
static __attribute__((noinline, used)) int unwind_image_leaf(int x)
{
	return x * 3 + 1;
}

static __attribute__((noinline, used)) int unwind_image_caller(int x)
{
	return unwind_image_leaf(x) + 2;
}

/* A function whose epilogue CFI, as gcc writes it in remember_state blocks, still says rbp is
 * saved at CFA - 16 after the pop that restored it: at unwind_popped_ret the slot lies below
 * rsp, outside any copy of the stack taken at the sample. */
__asm__(".text\n"
	".globl unwind_popped_fn\n"
	".type unwind_popped_fn, @function\n"
	"unwind_popped_fn:\n"
	".cfi_startproc\n"
	"push %rbp\n"
	".cfi_def_cfa_offset 16\n"
	".cfi_offset rbp, -16\n"
	"mov %rsp, %rbp\n"
	".cfi_def_cfa_register rbp\n"
	"nop\n"
	".cfi_remember_state\n"
	"pop %rbp\n"
	".cfi_def_cfa rsp, 8\n"
	".globl unwind_popped_ret\n"
	"unwind_popped_ret:\n"
	"ret\n"
	".cfi_restore_state\n"
	"nop\n"
	".cfi_endproc\n"
	".size unwind_popped_fn, .-unwind_popped_fn\n");

/* st_value of a function symbol of the image. */
static uint64_t sym_value(const char *name)
{
	Elf *elf = elf_memory((char *)image, image_size);
	Elf_Scn *scn = NULL;
	uint64_t v = 0;

	assert_non_null(elf);
	while ((scn = elf_nextscn(elf, scn)) && !v) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *n;

			if (gelf_getsym(d, (int)i, &s) && (n = elf_strptr(elf, sh.sh_link, s.st_name)) && !strcmp(n, name))
				v = s.st_value;
		}
	}
	elf_end(elf);
	assert_true(v != 0);
	return v;
}

static int setup(void **state)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	struct stat st;

	elf_version(EV_CURRENT);
	assert_true(fd >= 0 && fstat(fd, &st) == 0);
	image_size = (size_t)st.st_size;
	image = malloc(image_size);
	assert_non_null(image);
	assert_int_equal(read(fd, image, image_size), (ssize_t)image_size);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	free(image);
	return 0;
}

static int unwind(bool slow, uint64_t rip, const uint64_t *words, size_t nwords, uint64_t *pcs,
		  enum unwind_stop *why)
{
	struct unwinder *uw = unwinder__new_image(image, image_size, START, slow);
	struct unwind_regs regs = { 0 };
	struct unwind_stack st = { .start = STACK, .data = (const uint8_t *)words, .len = nwords * 8 };
	int n;

	assert_non_null(uw);
	assert_int_equal(unwinder__refresh(uw), 0); /* nothing to re-read, nothing lost */
	regs.r[UNWIND_REG_RIP] = rip;
	regs.r[UNWIND_REG_RSP] = STACK;
	n = unwinder__unwind(uw, &regs, &st, pcs, 16, why);
	unwinder__free(uw);
	return n;
}

static void test_walk(void **state)
{
	uint64_t leaf = START + sym_value("unwind_image_leaf");
	uint64_t caller = START + sym_value("unwind_image_caller");
	uint64_t pcs[16];
	enum unwind_stop why;

	for (int slow = 0; slow < 2; slow++) {
		/* leaf's entry, returning into caller's entry + 1 (looked up at pc - 1: caller's entry,
		 * whose CFA is rsp + 8: the next return address is one word up, past the copy) */
		uint64_t words[1] = { caller + 1 };
		uint64_t root[2] = { caller + 1, 0 };

		assert_int_equal(unwind(slow, leaf, words, 1, pcs, &why), 2);
		assert_true(pcs[0] == sample_pc_exact(leaf) && pcs[1] == caller + 1);
		assert_int_equal(why, UNWIND_STOP_WINDOW);
		/* the same with a 0 return address after it: the root of the stack */
		assert_int_equal(unwind(slow, leaf, root, 2, pcs, &why), 2);
		assert_int_equal(why, UNWIND_STOP_ROOT);
		/* a return address outside the image */
		words[0] = 0x1000;
		assert_int_equal(unwind(slow, leaf, words, 1, pcs, &why), 2);
		assert_int_equal(why, UNWIND_STOP_BAD_ADDR);
	}
}

static void test_bad_images(void **state)
{
	static const uint8_t junk[64] = "not an ELF file at all";

	errno = 0;
	assert_null(unwinder__new_image(junk, sizeof(junk), START, false));
	assert_int_equal(errno, ENOEXEC);
	assert_null(unwinder__new_image(NULL, 0, START, false));
	assert_int_equal(errno, EINVAL);
	assert_null(unwinder__new_image(image, image_size, UINT64_MAX - 10, false)); /* wraps */
	assert_int_equal(errno, EINVAL);
}

/* CFI naming register 50,000,000 (tests/targets/unwind_badcfi.S) is never handed to libdw, which
 * would allocate 1.6 GB to evaluate it: the walk stops at the first frame, 'no CFI'. */
static void test_hostile_cfi(void **state)
{
	char path[4200];
	uint8_t *bad;
	size_t size;
	struct stat st;
	int fd;
	Elf *elf;

	/* this test's own CFI, as compilers write it, passes */
	elf = elf_memory((char *)image, image_size);
	assert_int_equal(cfiscan_check(elf), CFISCAN_EH_OK | CFISCAN_DEBUG_OK);
	elf_end(elf);

	test_target_path(path, sizeof(path), "unwind_badcfi");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0 && fstat(fd, &st) == 0);
	size = (size_t)st.st_size;
	bad = malloc(size);
	assert_non_null(bad);
	assert_int_equal(read(fd, bad, size), (ssize_t)size);
	close(fd);
	elf = elf_memory((char *)bad, size);
	assert_int_equal(cfiscan_check(elf) & CFISCAN_EH_OK, 0);
	elf_end(elf);

	for (int slow = 0; slow < 2; slow++) {
		struct unwinder *uw = unwinder__new_image(bad, size, 0, slow);
		uint64_t words[4] = { 0x401000, 0, 0, 0 }, pcs[16], f;
		struct unwind_regs regs = { 0 };
		struct unwind_stack st2 = { .start = STACK, .data = (const uint8_t *)words, .len = sizeof(words) };
		enum unwind_stop why;
		Elf_Scn *scn = NULL;

		assert_non_null(uw);
		/* badcfi_f's address, from the symbol table */
		elf = elf_memory((char *)bad, size);
		f = 0;
		while ((scn = elf_nextscn(elf, scn)) && !f) {
			GElf_Shdr sh;
			Elf_Data *d;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !(d = elf_getdata(scn, NULL)))
				continue;
			for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
				GElf_Sym s;
				const char *n;

				if (gelf_getsym(d, (int)i, &s) && (n = elf_strptr(elf, sh.sh_link, s.st_name)) &&
				    !strcmp(n, "badcfi_f"))
					f = s.st_value;
			}
		}
		elf_end(elf);
		assert_true(f != 0);
		regs.r[UNWIND_REG_RIP] = f + 1; /* after the push: the rule with register 50,000,000 */
		regs.r[UNWIND_REG_RSP] = STACK;
		assert_int_equal(unwinder__unwind(uw, &regs, &st2, pcs, 16, &why), 1);
		assert_int_equal(why, UNWIND_STOP_NO_CFI);
		unwinder__free(uw);
	}
	free(bad);
}

/* Unwinds with [JIT, JIT + JIT_SIZE) declared as code without CFI when jit is true. */
static int unwind_fp(bool slow, bool jit, uint64_t rip, uint64_t rsp, uint64_t rbp, const uint64_t *words,
		     size_t nwords, uint64_t *pcs, enum unwind_stop *why)
{
	struct unwinder *uw = unwinder__new_image(image, image_size, START, slow);
	struct unwind_regs regs = { 0 };
	struct unwind_stack st = { .start = STACK, .data = (const uint8_t *)words, .len = nwords * 8 };
	int n;

	assert_non_null(uw);
	if (jit)
		assert_int_equal(unwinder__add_code(uw, JIT, JIT + JIT_SIZE), 0);
	regs.r[UNWIND_REG_RIP] = rip;
	regs.r[UNWIND_REG_RSP] = rsp;
	regs.r[UNWIND_REG_RBP] = rbp;
	n = unwinder__unwind(uw, &regs, &st, pcs, 16, why);
	unwinder__free(uw);
	return n;
}

/* Code without CFI between frames with CFI: the image's leaf returns into JIT frame A, A was
 * called by JIT frame B, B by the image's caller (at its entry: CFA rsp + 8), whose return
 * address is 0, the root. The frame-pointer chain: rbp -> [saved rbp][return address]. */
static void test_frame_pointer_walk(void **state)
{
	uint64_t leaf = START + sym_value("unwind_image_leaf");
	uint64_t caller = START + sym_value("unwind_image_caller");
	uint64_t pcs[16];
	enum unwind_stop why;

	for (int slow = 0; slow < 2; slow++) {
		uint64_t w[10] = {
			JIT + 0x110,                /* 0: leaf's return address, into A */
			0x11, 0x22,                 /* 1-2: A's locals */
			STACK + 7 * 8, JIT + 0x210, /* 3-4: A's frame (rbp = STACK + 24): B's rbp, into B */
			0x33, 0x44,                 /* 5-6: B's locals */
			0x1234, caller + 1,         /* 7-8: B's frame: the caller's rbp, into the caller */
			0,                          /* 9: the caller's return address: the root */
		};

		/* CFI (leaf) -> frame pointer (A, B) -> CFI (caller) -> root */
		assert_int_equal(unwind_fp(slow, true, leaf, STACK, STACK + 3 * 8, w, 10, pcs, &why), 4);
		assert_true(pcs[0] == sample_pc_exact(leaf));
		assert_true(pcs[1] == JIT + 0x110 && pcs[2] == JIT + 0x210 && pcs[3] == caller + 1);
		assert_int_equal(why, UNWIND_STOP_ROOT);
		/* the leaf in JIT code itself (its pc exact) */
		assert_int_equal(unwind_fp(slow, true, JIT + 0x50, STACK + 8, STACK + 3 * 8, w, 10, pcs, &why), 3);
		assert_true(pcs[0] == sample_pc_exact(JIT + 0x50) && pcs[1] == JIT + 0x210 && pcs[2] == caller + 1);
		assert_int_equal(why, UNWIND_STOP_ROOT);
		/* without the code range, A is in no executable mapping: as before, a bad address */
		assert_int_equal(unwind_fp(slow, false, leaf, STACK, STACK + 3 * 8, w, 10, pcs, &why), 2);
		assert_int_equal(why, UNWIND_STOP_BAD_ADDR);
		/* rbp 0 is the ABI's outermost frame: the root */
		assert_int_equal(unwind_fp(slow, true, JIT + 0x50, STACK + 8, 0, w, 10, pcs, &why), 1);
		assert_int_equal(why, UNWIND_STOP_ROOT);
		/* misaligned, or below rsp: not a frame */
		assert_int_equal(unwind_fp(slow, true, JIT + 0x50, STACK + 8, STACK + 3 * 8 + 4, w, 10, pcs, &why), 1);
		assert_int_equal(why, UNWIND_STOP_FRAME_POINTER);
		assert_int_equal(unwind_fp(slow, true, JIT + 0x50, STACK + 32, STACK + 3 * 8, w, 10, pcs, &why), 1);
		assert_int_equal(why, UNWIND_STOP_FRAME_POINTER);
		/* past the end of the copy: deeper than copied */
		assert_int_equal(unwind_fp(slow, true, JIT + 0x50, STACK + 8, STACK + 64 * 8, w, 10, pcs, &why), 1);
		assert_int_equal(why, UNWIND_STOP_WINDOW);
		/* a chain that goes back down the stack: B's saved rbp points below B's frame */
		w[3] = STACK + 3 * 8; /* A's frame names itself as B's */
		assert_int_equal(unwind_fp(slow, true, JIT + 0x50, STACK + 8, STACK + 3 * 8, w, 10, pcs, &why), 2);
		assert_int_equal(why, UNWIND_STOP_FRAME_POINTER);
		w[3] = STACK + 1 * 8; /* below A's frame */
		assert_int_equal(unwind_fp(slow, true, JIT + 0x50, STACK + 8, STACK + 3 * 8, w, 10, pcs, &why), 2);
		assert_int_equal(why, UNWIND_STOP_FRAME_POINTER);
		w[3] = STACK + 7 * 8;
		/* a return address in no executable mapping */
		w[4] = 0x1000;
		assert_int_equal(unwind_fp(slow, true, JIT + 0x50, STACK + 8, STACK + 3 * 8, w, 10, pcs, &why), 1);
		assert_int_equal(why, UNWIND_STOP_BAD_ADDR);
	}
}

/* The leaf at unwind_popped_ret returns into JIT code: its rbp, which the CFI says is in a slot
 * below the copy, is the one the pop restored, and the JIT frame is walked with it. */
static void test_popped_rbp(void **state)
{
	uint64_t ret = START + sym_value("unwind_popped_ret");
	uint64_t caller = START + sym_value("unwind_image_caller");
	uint64_t w[5] = { JIT + 0x110, 0x11, 0, caller + 1, 0 }; /* rbp = STACK + 16: [0][caller] */
	uint64_t pcs[16];
	enum unwind_stop why;

	assert_int_equal(unwind_fp(false, true, ret, STACK, STACK + 2 * 8, w, 5, pcs, &why), 3);
	assert_true(pcs[0] == sample_pc_exact(ret) && pcs[1] == JIT + 0x110 && pcs[2] == caller + 1);
	assert_int_equal(why, UNWIND_STOP_ROOT);
}

static void test_add_code(void **state)
{
	struct unwinder *uw = unwinder__new_image(image, image_size, START, false);

	assert_non_null(uw);
	assert_int_equal(unwinder__add_code(NULL, JIT, JIT + 1), -EINVAL);
	assert_int_equal(unwinder__add_code(uw, JIT, JIT), -EINVAL);                  /* empty */
	assert_int_equal(unwinder__add_code(uw, START, START + 16), -EINVAL);         /* the image's */
	assert_int_equal(unwinder__add_code(uw, JIT, JIT + JIT_SIZE), 0);
	assert_int_equal(unwinder__add_code(uw, JIT + 16, JIT + 32), -EINVAL);        /* overlaps */
	assert_int_equal(unwinder__add_code(uw, JIT - JIT_SIZE, JIT), 0);             /* before, adjacent */
	unwinder__free(uw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_bad_images),
		cmocka_unit_test(test_hostile_cfi),
		cmocka_unit_test(test_frame_pointer_walk),
		cmocka_unit_test(test_popped_rbp),
		cmocka_unit_test(test_add_code),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: MIT
/* unwinder__new_image(): the CFI walk over an ELF given as bytes, with no process behind it (the
 * seam the fuzzer uses). The image is this test's own executable, placed at a made-up address;
 * the stacks are built by hand from its symbols: at a function's first instruction the CFA is
 * rsp + 8 and the return address is the word at rsp. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_bad_images),
		cmocka_unit_test(test_hostile_cfi),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: MIT
/* .eh_frame function ranges (symbols/ehframe.c): hand-built CIEs and FDEs in the encodings
 * compilers emit (pcrel sdata4, absolute pointers, a personality before the FDE encoding, the
 * 64-bit length form), records that are cut, point at no CIE or use an augmentation that
 * cannot be skipped, the bound, bad arguments; then this test's own .eh_frame, whose range for
 * a function of this file must start at that function. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "symbols/ehframe.h"

/* A growable byte image of a section. */
struct img {
	uint8_t b[4096];
	size_t n;
};

static size_t put(struct img *im, uint64_t v, size_t len)
{
	size_t at = im->n;

	for (size_t i = 0; i < len; i++)
		im->b[im->n++] = (uint8_t)(v >> (8 * i));
	return at;
}

static void put_str(struct img *im, const char *s)
{
	memcpy(im->b + im->n, s, strlen(s) + 1);
	im->n += strlen(s) + 1;
}

/* A CIE with augmentation aug; for "zR" and "zPLR", enc is the FDE pointer encoding. Returns
 * its offset. */
static size_t cie(struct img *im, const char *aug, uint8_t enc)
{
	size_t at = put(im, 0, 4), body;

	body = im->n;
	put(im, 0, 4);  /* CIE id */
	put(im, 1, 1);  /* version */
	put_str(im, aug);
	put(im, 1, 1);  /* code alignment 1 */
	put(im, 0x78, 1); /* data alignment -8 */
	put(im, 16, 1); /* return address register */
	if (!strcmp(aug, "zR")) {
		put(im, 1, 1);
		put(im, enc, 1);
	} else if (!strcmp(aug, "zPLR")) {
		put(im, 7, 1);
		put(im, 0x03, 1);       /* personality: udata4, absolute */
		put(im, 0x12345678, 4);
		put(im, 0x1b, 1);       /* LSDA encoding */
		put(im, enc, 1);
	}
	while ((im->n - body) % 8 != 4) /* padding: DW_CFA_nop */
		put(im, 0, 1);
	memcpy(im->b + at, &(uint32_t){ (uint32_t)(im->n - body) }, 4);
	return at;
}

/* An FDE of the CIE at cie_at for [lo, lo + len), in encoding enc (pcrel sdata4 or absptr),
 * with the section at sec_addr. */
static void fde(struct img *im, size_t cie_at, uint8_t enc, uint64_t sec_addr, uint64_t lo, uint64_t len,
		bool aug_data)
{
	size_t at = put(im, 0, 4), body = im->n;

	put(im, body - cie_at, 4); /* distance back to the CIE */
	if (enc == 0x1b) {
		put(im, (uint64_t)(int64_t)(lo - (sec_addr + im->n)), 4);
		put(im, len, 4);
	} else {
		put(im, lo, 8);
		put(im, len, 8);
	}
	if (aug_data)
		put(im, 0, 1);
	memcpy(im->b + at, &(uint32_t){ (uint32_t)(im->n - body) }, 4);
}

static void test_pcrel_fdes_sorted(void **state)
{
	const uint64_t sec = 0x2000;
	struct img im = { .n = 0 };
	struct ehframe_range *r = NULL;
	size_t c = cie(&im, "zR", 0x1b);

	fde(&im, c, 0x1b, sec, 0x1290, 0x30, true);
	fde(&im, c, 0x1b, sec, 0x1260, 0x30, true);
	fde(&im, c, 0x1b, sec, 0x1260, 0x30, true); /* a duplicate */
	fde(&im, c, 0x1b, sec, 0x1100, 0, true);    /* empty: left out */
	put(&im, 0, 4);                             /* terminator */
	fde(&im, c, 0x1b, sec, 0x5000, 0x10, true); /* past it: not read */
	assert_int_equal(ehframe_parse(im.b, im.n, sec, EHFRAME_MAX_RANGES, &r), 2);
	assert_int_equal(r[0].lo, 0x1260);
	assert_int_equal(r[0].hi, 0x1290);
	assert_int_equal(r[1].lo, 0x1290);
	assert_int_equal(r[1].hi, 0x12c0);
	assert_ptr_equal(ehframe_find(r, 2, 0x1260), &r[0]);
	assert_ptr_equal(ehframe_find(r, 2, 0x128f), &r[0]);
	assert_ptr_equal(ehframe_find(r, 2, 0x1290), &r[1]);
	assert_null(ehframe_find(r, 2, 0x12c0)); /* past the last */
	assert_null(ehframe_find(r, 2, 0x125f)); /* before the first */
	assert_null(ehframe_find(NULL, 0, 0x1260));
	free(r);
}

static void test_other_encodings(void **state)
{
	struct img im = { .n = 0 };
	struct ehframe_range *r = NULL;
	size_t c1 = cie(&im, "", 0), c2, c3;

	fde(&im, c1, 0, 0, 0x401000, 0x80, false); /* no augmentation: absolute 8-byte pointers */
	c2 = cie(&im, "zPLR", 0x1b);               /* a personality and an LSDA before 'R' */
	fde(&im, c2, 0x1b, 0x10000, 0x402000, 0x40, true);
	c3 = cie(&im, "zX", 0);                    /* an augmentation nothing can skip */
	fde(&im, c3, 0, 0, 0x403000, 0x40, false);
	/* the 64-bit length form */
	put(&im, 0xffffffffu, 4);
	put(&im, 4 + 8 + 8, 8);
	put(&im, im.n - c1, 4); /* wrong on purpose: points before the section's start -> skipped */
	put(&im, 0x404000, 8);
	put(&im, 0x10, 8);
	assert_int_equal(ehframe_parse(im.b, im.n, 0x10000, EHFRAME_MAX_RANGES, &r), 2);
	assert_int_equal(r[0].lo, 0x401000);
	assert_int_equal(r[0].hi, 0x401080);
	assert_int_equal(r[1].lo, 0x402000);
	assert_int_equal(r[1].hi, 0x402040);
	free(r);
}

static void test_bad_input(void **state)
{
	struct img im = { .n = 0 };
	struct ehframe_range *r = (void *)1;
	size_t c = cie(&im, "zR", 0x1b), cut;

	assert_int_equal(ehframe_parse(im.b, 0, 0, 10, &r), 0);
	assert_null(r);
	assert_int_equal(ehframe_parse(NULL, 8, 0, 10, &r), -EINVAL);
	assert_int_equal(ehframe_parse(im.b, im.n, 0, 10, NULL), -EINVAL);
	/* an unknown pointer format in the CIE: its FDEs are skipped */
	im.n = 0;
	c = cie(&im, "zR", 0x0f);
	fde(&im, c, 0x1b, 0, 0x1000, 0x10, true);
	assert_int_equal(ehframe_parse(im.b, im.n, 0, 10, &r), 0);
	/* a record longer than the section: what came before stays */
	im.n = 0;
	c = cie(&im, "zR", 0x1b);
	fde(&im, c, 0x1b, 0, 0x1000, 0x10, true);
	cut = im.n;
	fde(&im, c, 0x1b, 0, 0x2000, 0x10, true);
	assert_int_equal(ehframe_parse(im.b, im.n - 3, 0, 10, &r), 1);
	assert_int_equal(r[0].lo, 0x1000);
	free(r);
	/* an FDE pointing at no CIE (past its own start) */
	im.n = cut;
	put(&im, 12, 4);
	put(&im, 0x7fffffff, 4);
	put(&im, 0, 8);
	assert_int_equal(ehframe_parse(im.b, im.n, 0, 10, &r), 1);
	free(r);
	/* the bound */
	im.n = 0;
	c = cie(&im, "zR", 0x1b);
	for (int i = 0; i < 20; i++)
		fde(&im, c, 0x1b, 0, 0x1000 + 0x100 * (uint64_t)i, 0x10, true);
	assert_int_equal(ehframe_parse(im.b, im.n, 0, 5, &r), 5);
	free(r);
}

__attribute__((noinline, noclone)) static int known_function(int x)
{
	__asm__ volatile("" : "+r"(x));
	return x * 3 + 1;
}

static int find_bias(struct dl_phdr_info *info, size_t size, void *arg)
{
	*(uint64_t *)arg = info->dlpi_addr; /* the first is the executable */
	return 1;
}

static void test_own_eh_frame(void **state)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	struct ehframe_range *r = NULL;
	const struct ehframe_range *hit;
	Elf_Scn *scn = NULL;
	uint64_t bias = 0, fn;
	size_t shstrndx;
	Elf *elf;
	int n = -1;

	assert_int_equal(known_function(1), 4);
	assert_true(fd >= 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	assert_non_null(elf);
	assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (gelf_getshdr(scn, &sh) && !strcmp(elf_strptr(elf, shstrndx, sh.sh_name), ".eh_frame") &&
		    (d = elf_rawdata(scn, NULL)))
			n = ehframe_parse(d->d_buf, d->d_size, sh.sh_addr, EHFRAME_MAX_RANGES, &r);
	}
	assert_true(n > 10);
	for (int i = 1; i < n; i++)
		assert_true(r[i - 1].lo < r[i].lo && r[i - 1].lo < r[i - 1].hi);
	dl_iterate_phdr(find_bias, &bias);
	fn = (uint64_t)(uintptr_t)&known_function - bias;
	hit = ehframe_find(r, (size_t)n, fn + 1);
	assert_non_null(hit);
	assert_int_equal(hit->lo, fn);
	free(r);
	elf_end(elf);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcrel_fdes_sorted),
		cmocka_unit_test(test_other_encodings),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_own_eh_frame),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

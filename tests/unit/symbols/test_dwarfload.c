// SPDX-License-Identifier: MIT
/* dwarfload: the in-memory image of a compressed debug file holds only the sections the
 * symbolizer reads, libdw reads it, and every bad or oversized input is refused with its own
 * error instead of a crash or an unbounded allocation. Inputs are the debug files that
 * tests/targets/symbolize.mk builds: sym_c_zstripped.debug (zlib) and sym_c_stripped.debug
 * (uncompressed). */
#include <dwarf.h>
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

#include "targets.h"

#include "symbols/dwarfload.h"

static char target_dir[4096];

/* A whole file in memory, as an ELF handle over a private copy the test may corrupt. */
struct file {
	char *bytes;
	size_t size;
	Elf *elf;
};

static void file_load(const char *name, struct file *f)
{
	char path[4200];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", target_dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	f->size = (size_t)st.st_size;
	f->bytes = malloc(f->size);
	assert_non_null(f->bytes);
	assert_int_equal(read(fd, f->bytes, f->size), (ssize_t)f->size);
	close(fd);
	f->elf = elf_memory(f->bytes, f->size);
	assert_non_null(f->elf);
}

static void file_free(struct file *f)
{
	elf_end(f->elf);
	free(f->bytes);
}

/* File offset and size of the named section of f. */
static void section_at(struct file *f, const char *want, size_t *ret_off, size_t *ret_size)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	assert_int_equal(elf_getshdrstrndx(f->elf, &shstrndx), 0);
	while ((scn = elf_nextscn(f->elf, scn))) {
		GElf_Shdr sh;

		assert_non_null(gelf_getshdr(scn, &sh));
		if (!strcmp(elf_strptr(f->elf, shstrndx, sh.sh_name), want)) {
			*ret_off = sh.sh_offset;
			*ret_size = sh.sh_size;
			return;
		}
	}
	fail_msg("no section %s", want);
}

/* Re-reads f after its bytes were changed in place. */
static void file_reopen(struct file *f)
{
	elf_end(f->elf);
	f->elf = elf_memory(f->bytes, f->size);
	assert_non_null(f->elf);
}

static bool image_has(struct dwarfload *dl, const char *want)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	assert_int_equal(elf_getshdrstrndx(dl->elf, &shstrndx), 0);
	while ((scn = elf_nextscn(dl->elf, scn))) {
		GElf_Shdr sh;

		assert_non_null(gelf_getshdr(scn, &sh));
		if (!strcmp(elf_strptr(dl->elf, shstrndx, sh.sh_name), want))
			return true;
	}
	return false;
}

static void test_inflates_what_is_read(void **state)
{
	struct dwarfload dl;
	struct file f;
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie;
	Dwarf_Half version;
	uint8_t unit_type;
	bool found = false;

	file_load("sym_c_zstripped.debug", &f);
	assert_int_equal(dwarfload_open(f.elf, NULL, SIZE_MAX, &dl), 0);
	assert_true(image_has(&dl, ".debug_info") && image_has(&dl, ".debug_line") && image_has(&dl, ".debug_abbrev"));
	/* location lists and aranges stay compressed in the file, and are counted */
	assert_false(image_has(&dl, ".debug_loclists"));
	assert_false(image_has(&dl, ".debug_aranges"));
	assert_true(dl.skipped > 0);
	/* the image is no longer needed in its source: libdw reads the unit from the image alone */
	file_free(&f);
	while (dwarf_get_units(dl.dwarf, cu, &cu, &version, &unit_type, &cudie, NULL) == 0) {
		const char *name = dwarf_diename(&cudie);

		if (name && strstr(name, "sym_c.c"))
			found = true;
	}
	assert_true(found);
	dwarfload_close(&dl);
	assert_null(dl.dwarf);
	dwarfload_close(&dl); /* twice, and NULL: no-ops */
	dwarfload_close(NULL);
}

/* A dwz-processed debug file: its alternate file is found next to it and loaded too; without
 * a path to look next to, it is left to libdw. */
static void test_dwz_alternate(void **state)
{
	char path[4300];
	struct dwarfload dl;
	struct file f;

	snprintf(path, sizeof(path), "%s/sym_dwz_c.debug", target_dir);
	if (access(path, R_OK) != 0) {
		fprintf(stderr, "SKIP test_dwz_alternate: %s was not built (dwz not found)\n", path);
		skip();
	}
	file_load("sym_dwz_c.debug", &f);
	assert_int_equal(dwarfload_open(f.elf, path, SIZE_MAX, &dl), 0);
	assert_non_null(dl.alt);
	assert_non_null(dl.alt->dwarf);
	assert_true(dwarf_getalt(dl.dwarf) == dl.alt->dwarf);
	dwarfload_close(&dl);
	assert_null(dl.alt);
	assert_int_equal(dwarfload_open(f.elf, NULL, SIZE_MAX, &dl), -EOPNOTSUPP);
	file_free(&f);
}

static void test_refusals(void **state)
{
	struct dwarfload dl;
	struct file f;

	/* nothing compressed: libdw maps it in place, no copy is worth making */
	file_load("sym_c_stripped.debug", &f);
	assert_int_equal(dwarfload_open(f.elf, NULL, SIZE_MAX, &dl), -EOPNOTSUPP);
	file_free(&f);
	/* no debug info at all */
	file_load("sym_c_zstripped", &f);
	assert_int_equal(dwarfload_open(f.elf, NULL, SIZE_MAX, &dl), -ENODATA);
	file_free(&f);
	/* more than the caller's bound */
	file_load("sym_c_zstripped.debug", &f);
	assert_int_equal(dwarfload_open(f.elf, NULL, 64, &dl), -EFBIG);
	assert_null(dl.dwarf);
	assert_null(dl.image);
	file_free(&f);
}

/* Loads sym_c_zstripped.debug with one section's compression header changed: its type (if
 * type), its size (set to size if it is large, else grown by size). */
static void load_edited(struct file *f, const char *section, uint32_t type, uint64_t size)
{
	Elf64_Chdr ch;
	size_t off, len;

	file_load("sym_c_zstripped.debug", f);
	section_at(f, section, &off, &len);
	assert_true(len >= sizeof(ch));
	memcpy(&ch, f->bytes + off, sizeof(ch));
	if (type)
		ch.ch_type = type;
	if (size > 1000)
		ch.ch_size = size;
	else
		ch.ch_size += size;
	memcpy(f->bytes + off, &ch, sizeof(ch));
	file_reopen(f);
}

static void test_corrupt_input(void **state)
{
	struct dwarfload dl;
	struct file f;
	size_t off, size;

	/* a damaged zlib stream (its checksum or its codes) */
	file_load("sym_c_zstripped.debug", &f);
	section_at(&f, ".debug_info", &off, &size);
	assert_true(size > sizeof(Elf64_Chdr) + 16);
	for (size_t i = sizeof(Elf64_Chdr) + 4; i < size; i += 7)
		f.bytes[off + i] ^= 0x5a;
	file_reopen(&f);
	assert_int_equal(dwarfload_open(f.elf, NULL, SIZE_MAX, &dl), -EBADMSG);
	file_free(&f);

	/* a header that claims a terabyte: refused by the bound before anything is allocated */
	load_edited(&f, ".debug_info", 0, 1ull << 40);
	assert_int_equal(dwarfload_open(f.elf, NULL, 512u << 20, &dl), -EFBIG);
	file_free(&f);

	/* a header that claims one byte more than the stream holds */
	load_edited(&f, ".debug_line", 0, 1);
	assert_int_equal(dwarfload_open(f.elf, NULL, SIZE_MAX, &dl), -EBADMSG);
	file_free(&f);

	/* a compression libdw would have to handle itself (zstd, or unknown) */
	load_edited(&f, ".debug_abbrev", 2, 0);
	assert_int_equal(dwarfload_open(f.elf, NULL, SIZE_MAX, &dl), -EOPNOTSUPP);
	file_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inflates_what_is_read),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_dwz_alternate),
		cmocka_unit_test(test_corrupt_input),
	};

	elf_version(EV_CURRENT);
	test_target_path(target_dir, sizeof(target_dir), "sym");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/* Fuzzes dwarfload (symbols/dwarfload.c) with mutated ELF files: the survey of debug sections,
 * their zlib headers and streams, the minimal ELF image built from them, and libdw opening it.
 * Checks: only the documented errors, nothing left behind after one, and an image libdw can
 * walk (units, names, line tables) after success. A dwz alternate file is looked for under a
 * directory that does not exist, and by build id under /usr/lib/debug (as a target could). */
#include <dwarf.h>
#include <errno.h>

#include "fuzz_util.h"
#include "symbols/dwarfload.h"

#define MAX_BYTES (8u << 20) /* every inflated byte is mapped and populated: keep runs fast */

static bool zeroed(const struct dwarfload *dl)
{
	static const struct dwarfload zero;

	return !memcmp(dl, &zero, sizeof(zero));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	struct dwarfload dl;
	Elf *elf;
	int err;

	CHECK(copy, "malloc");
	memcpy(copy, data, size);
	elf_version(EV_CURRENT);
	elf = elf_memory(copy, size);
	if (!elf) {
		free(copy);
		return 0;
	}
	err = dwarfload_open(elf, "/nonexistent/dir/fuzz.debug", MAX_BYTES, &dl);
	if (err) {
		CHECK(err == -EOPNOTSUPP || err == -ENODATA || err == -EFBIG || err == -EBADMSG || err == -ENOMEM,
		      "an error dwarfload_open does not document");
		CHECK(zeroed(&dl), "state left after an error");
	} else {
		Dwarf_CU *cu = NULL;
		Dwarf_Die cudie, subdie;
		Dwarf_Half version;
		uint8_t unit_type;
		int n = 0;

		CHECK(dl.dwarf && dl.elf && dl.image && dl.image_size > 0, "success without an image");
		CHECK(dl.image_size <= MAX_BYTES + (1u << 16), "an image past the bound");
		while (n++ < 64 && dwarf_get_units(dl.dwarf, cu, &cu, &version, &unit_type, &cudie, &subdie) == 0) {
			Dwarf_Lines *lines;
			size_t nlines;

			(void)dwarf_diename(&cudie);
			if (dwarf_getsrclines(&cudie, &lines, &nlines) == 0 && nlines > 0)
				(void)dwarf_onesrcline(lines, nlines / 2);
		}
		dwarfload_close(&dl);
		CHECK(zeroed(&dl), "state left after close");
	}
	dwarfload_close(&dl); /* again: a no-op */
	elf_end(elf);
	free(copy);
	return 0;
}

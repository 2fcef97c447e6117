/* SPDX-License-Identifier: MIT */
/* A libdw handle over only the debug sections symbolization reads. libdw 0.188 inflates every
 * compressed .debug_* section when it opens a file, location lists included; this inflates the
 * few the symbolizer needs with libdeflate into one private in-memory ELF image and opens that.
 * Not thread-safe by itself (libdw is not): callers hold the symbol cache lock. */
#ifndef PROFD_DWARFLOAD_H
#define PROFD_DWARFLOAD_H
#include <elfutils/libdw.h>
#include <gelf.h>
#include <stddef.h>

/* Where separate debug files live (libdwfl's default): .build-id/xx/rest.debug, debuglink
 * names under the binary's directory, dwz alternate files. */
#define DEBUG_FILE_ROOT "/usr/lib/debug"

struct dwarfload {
	Dwarf *dwarf;        /* over image; valid until dwarfload_close() */
	Elf *elf;
	void *image;         /* anonymous mapping of image_size bytes */
	size_t image_size;
	size_t skipped;      /* inflated bytes of the debug sections left out */
	struct dwarfload *alt; /* the dwz alternate file dwarf refers to, or NULL */
};

/* Opens the DWARF of src (an ELF file profd only reads; it is not kept), found at path (a dwz
 * alternate file named relative to it is looked for next to it). Returns 0 and fills *ret, or:
 *   -EOPNOTSUPP  libdw's own loader should open src: nothing is compressed (libdw maps it in place),
 *                or src needs what an image cannot carry (split units, relocations, GNU .zdebug
 *                sections, another class or byte order, zstd, a dwz alternate file not found);
 *   -ENODATA     src has no .debug_info;
 *   -EFBIG       the sections (with the alternate file's) would inflate to more than max_bytes;
 *   -EBADMSG     a compressed section is corrupt (its header or its zlib stream);
 *   -ENOMEM.
 * On error *ret is zeroed. */
int dwarfload_open(Elf *src, const char *path, size_t max_bytes, struct dwarfload *ret);
/* NULL-safe; releases everything dwarfload_open() made (the alternate file too) and zeroes *dl. */
void dwarfload_close(struct dwarfload *dl);

#endif

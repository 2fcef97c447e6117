/* SPDX-License-Identifier: MIT */
/* For the fuzz targets fed with ELF files: the addresses worth asking about, read with libelf
 * from a private copy (libelf may write to an image it converts, and the input is const). */
#ifndef PROFD_FUZZ_ELF_H
#define PROFD_FUZZ_ELF_H

#include <gelf.h>
#include <stdbool.h>

#include "fuzz_util.h"

#define FUZZ_ELF_MAX_FUNCS 24

struct fuzz_elf {
	uint16_t type;                         /* e_type */
	uint64_t exec_vaddr, exec_size;        /* the first executable PT_LOAD, 0 if none */
	int nfuncs;
	uint64_t func[FUZZ_ELF_MAX_FUNCS];     /* STT_FUNC st_value (.symtab, else .dynsym) */
	uint64_t func_size[FUZZ_ELF_MAX_FUNCS];
};

/* Fills *ret; false when libelf does not take the bytes as ELF. */
static inline bool fuzz_elf_read(const uint8_t *data, size_t size, struct fuzz_elf *ret)
{
	char *copy = malloc(size ? size : 1);
	Elf *elf;
	GElf_Ehdr eh;
	Elf_Scn *scn = NULL, *pick = NULL;
	size_t phnum;

	memset(ret, 0, sizeof(*ret));
	CHECK(copy, "malloc");
	memcpy(copy, data, size);
	elf_version(EV_CURRENT);
	elf = elf_memory(copy, size);
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh)) {
		if (elf)
			elf_end(elf);
		free(copy);
		return false;
	}
	ret->type = eh.e_type;
	if (elf_getphdrnum(elf, &phnum) == 0) {
		for (size_t i = 0; i < phnum && i < 64; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
				ret->exec_vaddr = ph.p_vaddr;
				ret->exec_size = ph.p_memsz;
				break;
			}
		}
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && (sh.sh_type == SHT_SYMTAB || (sh.sh_type == SHT_DYNSYM && !pick)))
			pick = scn;
	}
	if (pick) {
		GElf_Shdr sh;
		Elf_Data *d = elf_getdata(pick, NULL);

		if (d && gelf_getshdr(pick, &sh) && sh.sh_entsize) {
			for (size_t i = 1; i < sh.sh_size / sh.sh_entsize && i < 4096 && ret->nfuncs < FUZZ_ELF_MAX_FUNCS;
			     i++) {
				GElf_Sym s;

				if (!gelf_getsym(d, (int)i, &s))
					break;
				if (GELF_ST_TYPE(s.st_info) != STT_FUNC || !s.st_value)
					continue;
				ret->func[ret->nfuncs] = s.st_value;
				ret->func_size[ret->nfuncs++] = s.st_size;
			}
		}
	}
	elf_end(elf);
	free(copy);
	return true;
}

#endif

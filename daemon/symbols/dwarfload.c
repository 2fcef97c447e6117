// SPDX-License-Identifier: MIT
/* Opens a file's DWARF for symbolization without inflating what symbolization never reads.
 * libdw 0.188 inflates every compressed debug section in dwarf_begin_elf, with zlib, into buffers
 * grown by realloc; on libc6-dbg that is 45% of a cold symbolization, and a seventh of those bytes
 * are location lists nobody here reads. The sections the symbolizer does read are inflated with
 * libdeflate (2.7x zlib on this data) straight into one pre-faulted anonymous mapping laid out as
 * a minimal ELF file (header, section bytes, names, section headers), which libdw opens in place. */
#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <stdbool.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proc/target.h"
#include "symbols/dwarfload.h"

/* What the symbolizer reads: DIEs, their abbreviations and strings, line tables, address and
 * range lists (DWARF 4 and 5), type units that specifications may point into. Location lists,
 * macros, call frames, aranges and name indexes stay compressed on disk. */
static const char *const wanted[] = {
	".debug_info",   ".debug_abbrev",      ".debug_str",  ".debug_line",   ".debug_line_str",
	".debug_str_offsets", ".debug_addr", ".debug_rnglists", ".debug_ranges", ".debug_types",
};
#define NWANTED (sizeof(wanted) / sizeof(wanted[0]))
#define DATA_ALIGN 16

struct part {
	Elf_Scn *scn;
	const char *name;
	bool compressed;
	size_t size;         /* in the image: inflated size */
	size_t offset;       /* in the image */
	size_t name_off;     /* in the image's section name table */
};

static int wanted_index(const char *name)
{
	for (size_t i = 0; i < NWANTED; i++)
		if (!strcmp(name, wanted[i]))
			return (int)i;
	return -1;
}

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) & ~(a - 1);
}

struct survey {
	struct part parts[NWANTED];
	int n;
	size_t total;            /* bytes of the wanted sections, inflated */
	size_t skipped;
	const char *altlink;     /* .gnu_debugaltlink's bytes (dwz), NULL if none */
	size_t altlink_size;
	bool relocations;
};

/* Finds the wanted sections of src and their inflated sizes; refuses what libdw must open itself.
 * An alternate (dwz) file is taken whole, compressed or not; a file with nothing compressed is
 * left to libdw, which maps it in place. */
static int survey(Elf *src, size_t max_bytes, bool for_alt, struct survey *sv)
{
	struct part *parts = sv->parts;
	size_t shstrndx;
	bool any_compressed = false, has_info = false;
	Elf_Scn *scn = NULL;
	int n = 0;

	if (elf_getshdrstrndx(src, &shstrndx) != 0)
		return -ENODATA;
	while ((scn = elf_nextscn(src, scn))) {
		GElf_Shdr sh;
		GElf_Chdr ch;
		const char *name;
		size_t size;
		int w;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(src, shstrndx, sh.sh_name)))
			continue;
		if (sh.sh_type == SHT_REL || sh.sh_type == SHT_RELA)
			sv->relocations = true;
		if (!strncmp(name, ".zdebug", 7))
			return -EOPNOTSUPP;
		if (!strcmp(name, ".gnu_debugaltlink")) {
			Elf_Data *d = elf_getdata(scn, NULL);

			if (for_alt || !d || !d->d_buf || !d->d_size)
				return -EOPNOTSUPP;
			sv->altlink = d->d_buf;
			sv->altlink_size = d->d_size;
			continue;
		}
		if (strncmp(name, ".debug_", 7) || sh.sh_type == SHT_NOBITS)
			continue;
		size = sh.sh_size;
		if (sh.sh_flags & SHF_COMPRESSED) {
			if (!gelf_getchdr(scn, &ch))
				return -EBADMSG;
			if (ch.ch_type != ELFCOMPRESS_ZLIB)
				return -EOPNOTSUPP;
			size = ch.ch_size;
		}
		w = wanted_index(name);
		if (w < 0) {
			sv->skipped += size;
			continue;
		}
		if (n == (int)NWANTED) /* a name twice: libdw takes the first, so do we */
			continue;
		for (int i = 0; i < n; i++)
			if (!strcmp(parts[i].name, name))
				goto next;
		if (size > max_bytes || sv->total + size > max_bytes)
			return -EFBIG;
		sv->total += size;
		any_compressed |= (sh.sh_flags & SHF_COMPRESSED) != 0;
		has_info |= w == 0;
		parts[n++] = (struct part){ .scn = scn, .name = name, .size = size,
					    .compressed = (sh.sh_flags & SHF_COMPRESSED) != 0 };
next:;
	}
	if (!has_info)
		return -ENODATA;
	if (!any_compressed && !for_alt)
		return -EOPNOTSUPP;
	sv->n = n;
	return 0;
}

/* Copies or inflates one section's bytes to dst (exactly p->size bytes). */
static int fill(struct libdeflate_decompressor *inflater, const struct part *p, void *dst)
{
	Elf_Data *raw = elf_rawdata(p->scn, NULL);
	size_t hdr = sizeof(Elf64_Chdr);

	if (!raw || (!raw->d_buf && raw->d_size))
		return -EBADMSG;
	if (!p->compressed) {
		if (raw->d_size != p->size)
			return -EBADMSG;
		if (p->size) /* an empty section has no bytes: d_buf is NULL, memcpy's must not be */
			memcpy(dst, raw->d_buf, p->size);
		return 0;
	}
	if (raw->d_size < hdr)
		return -EBADMSG;
	/* exact size or failure: a stream shorter or longer than its header says is corrupt */
	if (libdeflate_zlib_decompress(inflater, (const char *)raw->d_buf + hdr, raw->d_size - hdr, dst, p->size,
				       NULL) != LIBDEFLATE_SUCCESS)
		return -EBADMSG;
	return 0;
}

/* Any split-DWARF unit means the rest lives in .dwo files found relative to the file's path,
 * which an in-memory image does not have. */
static bool has_split_units(Dwarf *dw)
{
	Dwarf_CU *cu = NULL;
	Dwarf_Half version;
	uint8_t unit_type;

	while (dwarf_get_units(dw, cu, &cu, &version, &unit_type, NULL, NULL) == 0)
		if (unit_type == DW_UT_skeleton || unit_type == DW_UT_split_compile || unit_type == DW_UT_split_type)
			return true;
	return false;
}

static int open_image(Elf *src, const char *path, size_t max_bytes, bool for_alt, struct dwarfload *ret);

static bool build_id_is(Elf *elf, const unsigned char *id, size_t len)
{
	const void *got;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &got);

	return n > 0 && (size_t)n == len && !memcmp(got, id, len);
}

/* The alternate file that .gnu_debugaltlink names (a file name, NUL, the file's build id): by
 * that name (relative names from src's directory), else in the build-id tree, as libdw looks.
 * Returns 0 with *ret set, or -errno. */
static int open_alt(const struct survey *sv, const char *path, size_t max_bytes, struct dwarfload **ret)
{
	const char *nul = memchr(sv->altlink, 0, sv->altlink_size), *slash;
	const unsigned char *id;
	char cand[2][4400];
	size_t idlen;
	int err = -ENOENT;

	*ret = NULL;
	if (!nul || nul == sv->altlink)
		return -EOPNOTSUPP;
	id = (const unsigned char *)nul + 1;
	idlen = sv->altlink_size - (size_t)(nul + 1 - sv->altlink);
	if (idlen < 8 || idlen > 64)
		return -EOPNOTSUPP;
	slash = path ? strrchr(path, '/') : NULL;
	if (sv->altlink[0] == '/')
		snprintf(cand[0], sizeof(cand[0]), "%s", sv->altlink);
	else if (slash)
		snprintf(cand[0], sizeof(cand[0]), "%.*s/%s", (int)(slash - path), path, sv->altlink);
	else
		cand[0][0] = '\0';
	{
		int k = snprintf(cand[1], sizeof(cand[1]), DEBUG_FILE_ROOT "/.build-id/%02x/", id[0]);

		for (size_t i = 1; i < idlen; i++)
			k += snprintf(cand[1] + k, sizeof(cand[1]) - (size_t)k, "%02x", id[i]);
		snprintf(cand[1] + k, sizeof(cand[1]) - (size_t)k, ".debug");
	}
	for (int c = 0; c < 2 && err == -ENOENT; c++) {
		/* the name comes from the file: not a FIFO to block on, not /dev/zero to read forever */
		int fd = cand[c][0] ? proc_open_regular(cand[c]) : -1;
		Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;

		if (elf && build_id_is(elf, id, idlen)) {
			*ret = calloc(1, sizeof(**ret));
			err = *ret ? open_image(elf, cand[c], max_bytes, true, *ret) : -ENOMEM;
			if (err) {
				free(*ret);
				*ret = NULL;
			}
		}
		if (elf)
			elf_end(elf);
		if (fd >= 0)
			close(fd);
	}
	return err;
}

int dwarfload_open(Elf *src, const char *path, size_t max_bytes, struct dwarfload *ret)
{
	return open_image(src, path, max_bytes, false, ret);
}

static int open_image(Elf *src, const char *path, size_t max_bytes, bool for_alt, struct dwarfload *ret)
{
	struct survey sv = { 0 };
	struct part *parts = sv.parts;
	struct libdeflate_decompressor *inflater = NULL;
	GElf_Ehdr eh;
	Elf64_Ehdr *out_eh;
	Elf64_Shdr *out_sh;
	size_t off, names_off, names_size = 1, shoff, size;
	char *image = MAP_FAILED;
	int n = 0, err;

	memset(ret, 0, sizeof(*ret));
	if (!gelf_getehdr(src, &eh))
		return -ENODATA;
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB))
		return -EOPNOTSUPP;
	err = survey(src, max_bytes, for_alt, &sv);
	/* an object file's debug sections need its relocations applied (dwz's output has none) */
	if (!err && eh.e_type == ET_REL && sv.relocations)
		err = -EOPNOTSUPP;
	if (err)
		return err;
	n = sv.n;
	if (sv.altlink) {
		/* dwz: strings and DIEs shared between files live in the alternate file */
		err = open_alt(&sv, path, max_bytes - sv.total, &ret->alt);
		if (err)
			return err == -EFBIG ? err : -EOPNOTSUPP;
	}
	ret->skipped = sv.skipped; /* not before: *ret stays zeroed on every error */

	off = sizeof(Elf64_Ehdr);
	for (int i = 0; i < n; i++) {
		off = align_up(off, DATA_ALIGN);
		parts[i].offset = off;
		off += parts[i].size;
		parts[i].name_off = names_size;
		names_size += strlen(parts[i].name) + 1;
	}
	names_off = off;
	names_size += sizeof(".shstrtab");
	shoff = align_up(names_off + names_size, 8);
	size = shoff + (size_t)(n + 2) * sizeof(Elf64_Shdr);

	/* populated at once: cheaper than a page fault per 4 KiB of inflated output */
	image = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (image == MAP_FAILED) {
		image = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	inflater = libdeflate_alloc_decompressor();
	if (!inflater) {
		err = -ENOMEM;
		goto cleanup;
	}
	out_sh = (Elf64_Shdr *)(image + shoff);
	for (int i = 0; i < n; i++) {
		err = fill(inflater, &parts[i], image + parts[i].offset);
		if (err)
			goto cleanup;
		memcpy(image + names_off + parts[i].name_off, parts[i].name, strlen(parts[i].name) + 1);
		out_sh[i + 1] = (Elf64_Shdr){
			.sh_name = (Elf64_Word)parts[i].name_off,
			.sh_type = SHT_PROGBITS,
			.sh_offset = parts[i].offset,
			.sh_size = parts[i].size,
			.sh_addralign = 1,
		};
	}
	memcpy(image + names_off + names_size - sizeof(".shstrtab"), ".shstrtab", sizeof(".shstrtab"));
	out_sh[n + 1] = (Elf64_Shdr){
		.sh_name = (Elf64_Word)(names_size - sizeof(".shstrtab")),
		.sh_type = SHT_STRTAB,
		.sh_offset = names_off,
		.sh_size = names_size,
		.sh_addralign = 1,
	};
	out_eh = (Elf64_Ehdr *)image;
	memcpy(out_eh->e_ident, eh.e_ident, EI_NIDENT);
	out_eh->e_type = eh.e_type;
	out_eh->e_machine = eh.e_machine;
	out_eh->e_version = EV_CURRENT;
	out_eh->e_flags = eh.e_flags;
	out_eh->e_ehsize = sizeof(Elf64_Ehdr);
	out_eh->e_shoff = shoff;
	out_eh->e_shentsize = sizeof(Elf64_Shdr);
	out_eh->e_shnum = (Elf64_Half)(n + 2);
	out_eh->e_shstrndx = (Elf64_Half)(n + 1);

	ret->image = image;
	ret->image_size = size;
	image = NULL;
	ret->elf = elf_memory(ret->image, size);
	if (!ret->elf) {
		err = -ENOMEM;
		goto cleanup;
	}
	ret->dwarf = dwarf_begin_elf(ret->elf, DWARF_C_READ, NULL);
	if (!ret->dwarf) {
		err = -ENODATA;
		goto cleanup;
	}
	if (ret->alt)
		dwarf_setalt(ret->dwarf, ret->alt->dwarf);
	if (has_split_units(ret->dwarf)) {
		err = -EOPNOTSUPP;
		goto cleanup;
	}
	err = 0;
cleanup:
	libdeflate_free_decompressor(inflater);
	if (image)
		munmap(image, size);
	if (err)
		dwarfload_close(ret);
	return err;
}

void dwarfload_close(struct dwarfload *dl)
{
	if (!dl)
		return;
	if (dl->dwarf)
		dwarf_end(dl->dwarf); /* before the alternate file it refers to */
	if (dl->elf)
		elf_end(dl->elf);
	if (dl->image)
		munmap(dl->image, dl->image_size);
	if (dl->alt) {
		dwarfload_close(dl->alt);
		free(dl->alt);
	}
	memset(dl, 0, sizeof(*dl));
}

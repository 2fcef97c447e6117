// SPDX-License-Identifier: MIT
/* Fuzzes the per-file symbol modules (symbols/symmod.c) with mutated ELF files, both ways a
 * target's file reaches them: as an in-memory image (symmod_get_image, the vDSO path: symbol
 * tables only) and as an open file (symmod_get_fd on a memfd: libdwfl, dwarfload's inflated
 * DWARF or libdw's own, the unit and subprogram indexes, dwarfscan, inlined chains, line
 * tables, demangling). Addresses asked: each function symbol's start and middle, and points of
 * the executable segment. Checks: frames within what was asked, names and files that are
 * strings, function starts at or below the address. Every module is dropped after each input. */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_elf.h"
#include "symbols/symmod.h"

static void check_frames(const struct sym_frame *f, int n, int max)
{
	CHECK(n >= 0 && n <= max, "more frames than asked for");
	for (int i = 0; i < n; i++) {
		/* strings are read to the end: ASan sees one that is not terminated or freed */
		if (f[i].name)
			(void)strlen(f[i].name);
		if (f[i].system_name)
			(void)strlen(f[i].system_name);
		if (f[i].file)
			(void)strlen(f[i].file);
	}
}

static void lookups(struct symmod *m, const struct fuzz_elf *e)
{
	struct sym_frame frames[SYM_MAX_INLINE];
	uint64_t addrs[2 * FUZZ_ELF_MAX_FUNCS + 4];
	int n = 0;

	for (int i = 0; i < e->nfuncs; i++) {
		addrs[n++] = e->func[i];
		addrs[n++] = e->func[i] + e->func_size[i] / 2;
	}
	for (int k = 0; k < 4; k++)
		addrs[n++] = e->exec_vaddr + e->exec_size * (uint64_t)k / 4;
	for (int i = 0; i < n; i++) {
		int got = symmod__lookup(m, addrs[i], frames, SYM_MAX_INLINE);

		if (got < 0)
			break; /* a load that failed stays failed */
		check_frames(frames, got, SYM_MAX_INLINE);
		got = symmod__lookup(m, addrs[i], frames, 1); /* only the outermost function */
		if (got > 0)
			check_frames(frames, got, 1);
	}
}

static void use(struct symmod *m, const struct fuzz_elf *e)
{
	bool f, fn, l, inl;
	int64_t c;

	CHECK(strlen(symmod__build_id(m)) <= 128, "build id");
	(void)symmod__offset_to_vaddr(m, 0, &c);
	(void)symmod__offset_to_vaddr(m, 0x1000, &c);
	if (symmod__load(m) == 0) {
		symmod__flags(m, &f, &fn, &l, &inl);
		(void)symmod__dwarf_source(m);
	}
	lookups(m, e);
	CHECK(symmod__load(m) == symmod__load(m), "load is not idempotent");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct fuzz_elf e;
	struct symmod *m = NULL;
	void *image;
	int fd, err;

	if (!init) {
		unsetenv("DEBUGINFOD_URLS"); /* no network: only local files */
		symcache_set_limit(64u << 20);
		init = true;
	}
	if (!fuzz_elf_read(data, size, &e))
		return 0;

	image = malloc(size);
	CHECK(image, "malloc");
	memcpy(image, data, size);
	err = symmod_get_image(image, size, "[fuzz]", &m); /* consumes image */
	if (!err) {
		use(m, &e);
		symmod__put(m);
	}

	fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
	CHECK(fd >= 0 && write(fd, data, size) == (ssize_t)size, "memfd");
	/* a path whose directory does not exist: no .gnu_debuglink file can be found next to it */
	err = symmod_get_fd(fd, "/nonexistent/dir/fuzz.elf", &m); /* consumes fd */
	if (!err) {
		use(m, &e);
		symmod__put(m);
	}
	symcache_flush();
	CHECK(symcache_count() == 0 && symcache_bytes() == 0, "the cache kept something");
	return 0;
}

// SPDX-License-Identifier: MIT
/* Per-ELF symbolization indexes and their process-wide cache. libdw's per-address helpers scan
 * the symbol table linearly and walk a whole compile unit per address (dwarf_getscopes), which
 * costs a millisecond per address on big units; instead we sort function symbols, top-level
 * subprogram ranges (descending into C++ namespaces and classes) and compile-unit ranges once,
 * then per address: one binary search, a descent through the inlined subroutines containing the
 * address (dwarf_haspc), and the CU's line table (binary search inside libdw). */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/log.h"
#include "proc/target.h"
#include "symbols/demangle.h"
#include "symbols/dwarfload.h"
#include "symbols/dwarfscan.h"
#include "symbols/ehframe.h"
#include "symbols/symmod.h"

#define MAX_LOADS 16
#define MAX_SCOPE_DEPTH 16   /* namespace/class nesting we descend into when indexing */
#define MAX_INLINE_DEPTH 64  /* DIE nesting we descend into per address */
#define BACKSCAN 16          /* entries checked below the binary search hit (nested ranges) */
#define DEMANGLE_CACHE_MAX (1u << 20)

struct modsym {
	uint64_t start, end; /* file addresses */
	const char *name;    /* borrowed from libelf's string table */
	char *demangled;     /* lazily, NULL if not yet or not mangled */
	uint8_t prio;        /* which of several names at one address to show */
	bool demangle_tried;
};

struct modrange {
	uint64_t lo, hi;     /* DWARF addresses, [lo, hi) */
	Dwarf_Die die;       /* the subprogram or CU: kept whole, dwarf_offdie costs a tree search */
	uint32_t cu;         /* index into units */
	int8_t inl_state;    /* subprograms: INL_* */
	uint32_t ninl;
	struct inl_node *inl; /* the inlined calls below the subprogram, built at first use */
};

/* One address range of an inlined call inside a subprogram, flattened out of the DIE tree so
 * that an address finds its chain with integer compares instead of a DIE walk. */
struct inl_node {
	uint64_t lo, hi;
	Dwarf_Die die;
	int32_t parent;      /* index of the enclosing call's first range, -1: the subprogram */
	int32_t depth;       /* 1 for calls directly in the subprogram */
};

enum { INL_UNKNOWN = 0, INL_NONE, INL_BUILT, INL_WALK /* too many nodes: walk the DIEs */ };

/* One compile unit. Its subprograms are indexed the first time an address falls in the unit's
 * ranges: a thread dump touches a few dozen of libc's 1,700 units, and walking every unit's
 * top-level DIEs (types, mostly) was a third of a cold lookup. */
struct modunit {
	Dwarf_Die die;       /* kept whole: dwarf_offdie costs a tree search */
	struct modrange *funcs; /* sorted, exactly nfuncs long */
	uint32_t nfuncs;
	bool indexed;
};

struct rangevec {
	struct modrange *v;
	size_t n, cap;
};
#define MAX_INL_NODES 65536

/* What die_info() found for one DIE (its abstract origin chain walked once): everything a
 * lookup asks of a frame's DIE, so that a repeated DIE costs one hash probe. */
struct nmentry {
	const void *die;     /* Dwarf_Die.addr: where the DIE's bytes are, unique per DIE */
	const char *name, *system_name;
	int start_line;
	bool has_linkage;    /* DW_AT_linkage_name (integrated) present */
	bool entry_ok;       /* dwarf_entrypc() succeeded, entry is its answer */
	bool call_done;      /* call_file/call_line computed (inlined calls, on demand) */
	uint64_t entry;
	const char *call_file;
	int call_line;
};

#define NAME_CACHE_MAX (1u << 20)

struct dmentry {
	const char *key;     /* pointer into .debug_str (stable while the Dwarf lives) */
	char *value;         /* demangled, or NULL: not demangleable */
};

struct load {
	uint64_t vaddr, offset, filesz;
	bool exec;
};

struct symmod {
	struct symmod *next, *prev;        /* all modules */
	struct symmod *lru_next, *lru_prev; /* unreferenced modules, oldest first */
	char *key;
	char build_id[2 * 64 + 1];
	int refs;
	size_t bytes;                      /* accounted for what load and index built */
	size_t base_bytes;                 /* accounted for the module itself */
	int state;                         /* 0 not loaded, 1 loaded, -errno failed */
	bool indexed;

	int fd;                            /* until loaded (libdwfl takes it) */
	char *path;
	void *image;                       /* in-memory ELF (vDSO) */
	size_t image_size;
	Elf *image_elf;

	struct load loads[MAX_LOADS];
	int nloads;

	Dwfl *dwfl;
	Dwfl_Module *dmod;
	Dwarf *dwarf;                      /* dl.dwarf, libdwfl's, or NULL */
	struct dwarfload dl;
	enum symmod_dwarf dwarf_source;
	uint64_t bias;                     /* libdwfl module address = file vaddr + bias */
	uint64_t dwbias;                   /* DWARF address = module address - dwbias */

	struct modsym *syms;
	size_t nsyms;
	struct rangevec cus;               /* unit ranges, sorted */
	struct rangevec funcs;             /* subprograms of units without ranges, indexed up front */
	struct rangevec scratch;           /* one unit's subprograms while they are indexed */
	struct modunit *units;
	size_t nunits, units_cap;
	struct dwarfscan scan;             /* raw sections for dwarfscan, if usable */
	bool scan_ok;
	struct dmentry *dm;                /* open addressing, power of two */
	size_t dm_cap, dm_n;
	struct nmentry *nm;                /* names per DIE, open addressing, power of two */
	size_t nm_cap, nm_n;

	bool has_functions, has_filenames, has_lines, has_inlines;
	bool lacks_symbols;                /* no .symtab, no DWARF, nothing beyond .dynsym */
	bool has_eh_frame;
	/* stripped code: .eh_frame's function ranges (ehframe.h), read at the first address
	 * nothing else names; "file+0xADDR" per range, made at its first lookup */
	int fde_state;                     /* 0 not read, 1 read, -errno failed */
	struct ehframe_range *fdes;
	char **fde_names;
	size_t nfdes;
};

static pthread_mutex_t cache_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct symmod *all_head;
static struct symmod *lru_head, *lru_tail;
static size_t cache_bytes, cache_limit = SYMCACHE_DEFAULT_LIMIT;
static int cache_count;

static char *debuginfo_path;
static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo, /* debuglink, .build-id dirs, debuginfod */
	.debuginfo_path = &debuginfo_path,
};

void symcache_lock(void)
{
	pthread_mutex_lock(&cache_mutex);
}

void symcache_unlock(void)
{
	pthread_mutex_unlock(&cache_mutex);
}

static void lru_remove(struct symmod *m)
{
	if (m->lru_prev)
		m->lru_prev->lru_next = m->lru_next;
	else if (lru_head == m)
		lru_head = m->lru_next;
	if (m->lru_next)
		m->lru_next->lru_prev = m->lru_prev;
	else if (lru_tail == m)
		lru_tail = m->lru_prev;
	m->lru_next = m->lru_prev = NULL;
}

static void lru_append(struct symmod *m)
{
	m->lru_prev = lru_tail;
	m->lru_next = NULL;
	if (lru_tail)
		lru_tail->lru_next = m;
	else
		lru_head = m;
	lru_tail = m;
}

/* Drops what load and index built; the module can be loaded again only if it kept its source. */
static void symmod_unload(struct symmod *m)
{
	for (size_t i = 0; i < m->nsyms; i++)
		free(m->syms[i].demangled);
	free(m->syms);
	m->syms = NULL;
	m->nsyms = 0;
	for (size_t i = 0; i < m->funcs.n; i++)
		free(m->funcs.v[i].inl);
	for (size_t u = 0; u < m->nunits; u++) {
		for (uint32_t i = 0; i < m->units[u].nfuncs; i++)
			free(m->units[u].funcs[i].inl);
		free(m->units[u].funcs);
	}
	free(m->units);
	m->units = NULL;
	m->nunits = m->units_cap = 0;
	free(m->funcs.v);
	free(m->cus.v);
	free(m->scratch.v);
	dwarfscan_free(&m->scan); /* before the DWARF it points into goes */
	m->scan_ok = false;
	m->funcs = m->cus = m->scratch = (struct rangevec){ 0 };
	for (size_t i = 0; i < m->dm_cap; i++)
		free(m->dm[i].value);
	free(m->dm);
	m->dm = NULL;
	m->dm_cap = m->dm_n = 0;
	free(m->nm);
	m->nm = NULL;
	m->nm_cap = m->nm_n = 0;
	if (m->dwfl)
		dwfl_end(m->dwfl);
	m->dwfl = NULL;
	m->dmod = NULL;
	dwarfload_close(&m->dl);
	m->dwarf = NULL;
	m->dwarf_source = SYMMOD_DWARF_NONE;
	m->indexed = false;
	m->has_functions = m->has_filenames = m->has_lines = m->has_inlines = false;
	for (size_t i = 0; m->fde_names && i < m->nfdes; i++)
		free(m->fde_names[i]);
	free(m->fde_names);
	free(m->fdes);
	m->fde_names = NULL;
	m->fdes = NULL;
	m->nfdes = 0;
	m->fde_state = 0;
	m->lacks_symbols = m->has_eh_frame = false;
	cache_bytes -= m->bytes;
	m->bytes = 0;
}

/* Frees a module that holds nothing loaded (never loaded, or unloaded). */
static void symmod_discard(struct symmod *m)
{
	if (m->image_elf)
		elf_end(m->image_elf);
	free(m->image);
	if (m->fd >= 0)
		close(m->fd);
	free(m->path);
	free(m->key);
	free(m);
}

static void symmod_destroy(struct symmod *m)
{
	size_t base_bytes = m->base_bytes;

	symmod_unload(m);
	lru_remove(m);
	if (m->prev)
		m->prev->next = m->next;
	else
		all_head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	symmod_discard(m);
	cache_bytes -= base_bytes;
	cache_count--;
}

/* Evicts unreferenced modules, oldest first, until `need` more bytes fit the limit. */
static bool cache_make_room(size_t need)
{
	while (cache_bytes + need > cache_limit && lru_head)
		symmod_destroy(lru_head);
	return cache_bytes + need <= cache_limit;
}

void symcache_set_limit(size_t bytes)
{
	symcache_lock();
	cache_limit = bytes ? bytes : SYMCACHE_DEFAULT_LIMIT;
	cache_make_room(0);
	symcache_unlock();
}

size_t symcache_bytes(void)
{
	size_t b;

	symcache_lock();
	b = cache_bytes;
	symcache_unlock();
	return b;
}

int symcache_count(void)
{
	int n;

	symcache_lock();
	n = cache_count;
	symcache_unlock();
	return n;
}

void symcache_flush(void)
{
	symcache_lock();
	while (lru_head)
		symmod_destroy(lru_head);
	symcache_unlock();
}

struct symmod *symmod__ref(struct symmod *m)
{
	if (m && m->refs++ == 0)
		lru_remove(m);
	return m;
}

void symmod__put(struct symmod *m)
{
	if (!m || --m->refs > 0)
		return;
	lru_append(m);
	cache_make_room(0);
}

const char *symmod__build_id(const struct symmod *m)
{
	return m->build_id;
}

/* Build id and PT_LOAD segments of an ELF. Returns 0 or -ENOEXEC. */
/* elf's GNU build id in lowercase hex into out (sizeof(struct symmod.build_id)), "" if none. */
static void build_id_hex(Elf *elf, char *out)
{
	const void *id = NULL;
	ssize_t idlen = dwelf_elf_gnu_build_id(elf, &id);

	out[0] = '\0';
	if (idlen > 0 && idlen <= 64)
		for (ssize_t i = 0; i < idlen; i++)
			snprintf(out + 2 * i, 3, "%02x", ((const unsigned char *)id)[i]);
}

static int read_elf_facts(Elf *elf, struct symmod *m)
{
	size_t phnum;

	if (elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &phnum) != 0)
		return -ENOEXEC;
	build_id_hex(elf, m->build_id);
	m->nloads = 0;
	for (size_t i = 0; i < phnum && m->nloads < MAX_LOADS; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		m->loads[m->nloads].vaddr = ph.p_vaddr;
		m->loads[m->nloads].offset = ph.p_offset;
		m->loads[m->nloads].filesz = ph.p_filesz;
		m->loads[m->nloads].exec = ph.p_flags & PF_X;
		m->nloads++;
	}
	return m->nloads ? 0 : -ENOEXEC;
}

static struct symmod *cache_find(const char *key)
{
	for (struct symmod *m = all_head; m; m = m->next)
		if (!strcmp(m->key, key))
			return m;
	return NULL;
}

/* Frees a module that never made it into the cache. */
/* Takes a new module (refs 0) into the cache and returns it referenced, or the cached twin. */
static int cache_insert(struct symmod *m, struct symmod **ret)
{
	struct symmod *old = cache_find(m->key);

	if (old) {
		symmod_discard(m);
		*ret = symmod__ref(old);
		return 0;
	}
	if (cache_count >= SYMCACHE_MAX_MODULES && lru_head)
		symmod_destroy(lru_head);
	if (cache_count >= SYMCACHE_MAX_MODULES) {
		symmod_discard(m);
		return -ENOSPC;
	}
	m->next = all_head;
	if (all_head)
		all_head->prev = m;
	all_head = m;
	cache_count++;
	m->base_bytes = sizeof(*m) + strlen(m->key) + strlen(m->path) + m->image_size;
	cache_bytes += m->base_bytes;
	*ret = symmod__ref(m);
	return 0;
}

int symmod_get_fd(int fd, const char *path, struct symmod **ret)
{
	struct symmod *m = NULL;
	struct stat st;
	Elf *elf = NULL;
	char buf[4200];
	int err;

	*ret = NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		return -ENOMEM;
	}
	m->fd = fd;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = read_elf_facts(elf, m);
	if (err)
		goto cleanup;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto cleanup;
	}
	/* files without a build id are told apart by identity and version */
	if (m->build_id[0])
		snprintf(buf, sizeof(buf), "b:%s", m->build_id);
	else
		snprintf(buf, sizeof(buf), "f:%llx:%llx:%llx:%lld.%ld:%s", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino, (unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec,
			 st.st_mtim.tv_nsec, path);
	m->key = strdup(buf);
	m->path = strdup(path);
	if (!m->key || !m->path) {
		err = -ENOMEM;
		goto cleanup;
	}
	elf_end(elf);
	return cache_insert(m, ret);
cleanup:
	if (elf)
		elf_end(elf);
	close(fd);
	free(m->key);
	free(m->path);
	free(m);
	return err;
}

int symmod_get_image(void *image, size_t size, const char *name, struct symmod **ret)
{
	struct symmod *m = NULL;
	char buf[256];
	int err;

	*ret = NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		free(image);
		return -ENOMEM;
	}
	m->fd = -1;
	m->image = image;
	m->image_size = size;
	elf_version(EV_CURRENT);
	m->image_elf = elf_memory(image, size);
	if (!m->image_elf) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = read_elf_facts(m->image_elf, m);
	if (err)
		goto cleanup;
	if (m->build_id[0]) {
		snprintf(buf, sizeof(buf), "m:%s:%s", name, m->build_id);
	} else {
		/* no build id: identify the image by a hash of its bytes (FNV-1a) */
		uint64_t h = 1469598103934665603ull;

		for (size_t i = 0; i < size; i++)
			h = (h ^ ((unsigned char *)image)[i]) * 1099511628211ull;
		snprintf(buf, sizeof(buf), "m:%s:%zx:%016llx", name, size, (unsigned long long)h);
	}
	m->key = strdup(buf);
	m->path = strdup(name);
	if (!m->key || !m->path) {
		err = -ENOMEM;
		goto cleanup;
	}
	return cache_insert(m, ret);
cleanup:
	if (m->image_elf)
		elf_end(m->image_elf);
	free(m->image);
	free(m->key);
	free(m->path);
	free(m);
	return err;
}

int symmod__offset_to_vaddr(const struct symmod *m, uint64_t off, int64_t *ret_c)
{
	const struct load *best = NULL;

	for (int i = 0; i < m->nloads; i++) {
		const struct load *l = &m->loads[i];
		uint64_t page_off = l->offset & ~(uint64_t)0xfff;

		/* the mapping offset is the segment's offset rounded down to a page */
		if (off < page_off || off >= l->offset + l->filesz)
			continue;
		if (!best || (l->exec && !best->exec))
			best = l;
	}
	if (!best)
		return -ENOENT;
	*ret_c = (int64_t)(best->vaddr - best->offset);
	return 0;
}

static int modsym_cmp(const void *a, const void *b)
{
	const struct modsym *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->prio != y->prio)
		return x->prio > y->prio ? -1 : 1;
	if (x->end != y->end)
		return x->end > y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int symtab_add(struct symmod *m, size_t *cap, const char *name, const GElf_Sym *s, uint64_t addr)
{
	int type = GELF_ST_TYPE(s->st_info), bind = GELF_ST_BIND(s->st_info);

	if (!name || !*name || (type != STT_FUNC && type != STT_GNU_IFUNC) || s->st_shndx == SHN_UNDEF || !addr)
		return 0;
	if (m->nsyms == *cap) {
		size_t ncap = *cap ? *cap * 2 : 1024;
		struct modsym *p = realloc(m->syms, ncap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		m->syms = p;
		*cap = ncap;
	}
	m->syms[m->nsyms++] = (struct modsym){
		.start = addr,
		.end = addr + s->st_size,
		.name = name,
		/* exported names (libc's memcpy, not __GI_memcpy) first, then by binding */
		.prio = (GELF_ST_VISIBILITY(s->st_other) == STV_DEFAULT ? 4 : 0) +
			(bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0),
	};
	return 0;
}

/* Sorts, keeps one symbol per address (the preferred binding), gives size-0 symbols the room up
 * to the next symbol. */
static void symtab_finish(struct symmod *m)
{
	size_t out = 0;

	if (!m->nsyms)
		return;
	qsort(m->syms, m->nsyms, sizeof(*m->syms), modsym_cmp);
	for (size_t i = 0; i < m->nsyms; i++) {
		if (out && m->syms[out - 1].start == m->syms[i].start)
			continue;
		m->syms[out++] = m->syms[i];
	}
	m->nsyms = out;
	for (size_t i = 0; i < m->nsyms; i++) {
		if (m->syms[i].end > m->syms[i].start)
			continue;
		m->syms[i].end = i + 1 < m->nsyms ? m->syms[i + 1].start : m->syms[i].start + 1;
	}
}

/* Symbols of an in-memory image: .symtab if present, else .dynsym. */
static int image_symtab(struct symmod *m)
{
	Elf_Scn *scn = NULL, *pick = NULL;
	GElf_Shdr sh, pick_sh;
	size_t cap = 0;
	Elf_Data *data;

	while ((scn = elf_nextscn(m->image_elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB || (sh.sh_type == SHT_DYNSYM && !pick)) {
			pick = scn;
			pick_sh = sh;
		}
	}
	if (!pick || !pick_sh.sh_entsize || !(data = elf_getdata(pick, NULL)))
		return 0;
	for (size_t i = 1; i < pick_sh.sh_size / pick_sh.sh_entsize; i++) {
		GElf_Sym s;
		const char *name;
		int err;

		if (!gelf_getsym(data, (int)i, &s))
			break;
		name = elf_strptr(m->image_elf, pick_sh.sh_link, s.st_name);
		err = symtab_add(m, &cap, name, &s, s.st_value);
		if (err)
			return err;
	}
	symtab_finish(m);
	return 0;
}

static int dwfl_symtab(struct symmod *m)
{
	int n = dwfl_module_getsymtab(m->dmod);
	size_t cap = 0;

	for (int i = 1; i < n; i++) {
		GElf_Sym s;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(m->dmod, i, &s, &addr, &shndx, NULL, NULL);
		int err;

		if (!name)
			continue;
		s.st_shndx = shndx == SHN_UNDEF ? SHN_UNDEF : 1;
		err = symtab_add(m, &cap, name, &s, addr >= m->bias ? addr - m->bias : 0);
		if (err)
			return err;
	}
	symtab_finish(m);
	return 0;
}

/* Bytes the loaded DWARF costs: uncompressed sizes of the debug sections. */
static size_t dwarf_bytes(Dwarf *dw)
{
	Elf *elf = dw ? dwarf_getelf(dw) : NULL;
	Elf_Scn *scn = NULL;
	size_t total = 0, shstrndx;

	if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || strncmp(name, ".debug_", 7))
			continue;
		if (sh.sh_flags & SHF_COMPRESSED) {
			GElf_Chdr ch;

			if (gelf_getchdr(scn, &ch))
				total += ch.ch_size;
		} else {
			total += sh.sh_size;
		}
	}
	return total;
}

static void dwarf_flags(struct symmod *m)
{
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie, subdie;
	uint8_t unit_type;
	Dwarf_Half version;
	int n = 0;

	if (!m->dwarf)
		return;
	while (dwarf_get_units(m->dwarf, cu, &cu, &version, &unit_type, &cudie, &subdie) == 0) {
		if (unit_type != DW_UT_compile)
			continue;
		m->has_functions = true;
		m->has_inlines = true;
		if (dwarf_hasattr(&cudie, DW_AT_stmt_list)) {
			m->has_lines = m->has_filenames = true;
			break;
		}
		if (++n > 64) /* a module with DWARF but no lines in 64 units has none worth claiming */
			break;
	}
}

static bool has_debug_info(Elf *elf)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (gelf_getshdr(scn, &sh) && sh.sh_type != SHT_NOBITS &&
		    (name = elf_strptr(elf, shstrndx, sh.sh_name)) && !strcmp(name, ".debug_info"))
			return true;
	}
	return false;
}

/* Whether elf is m's debug file: DWARF, and the same build id, or with none, the CRC that
 * .gnu_debuglink recorded (check_crc). */
static bool is_debug_file_of(const struct symmod *m, Elf *elf, bool check_crc, GElf_Word crc)
{
	char hex[sizeof(m->build_id)];
	size_t size;
	char *raw;

	if (elf_kind(elf) != ELF_K_ELF || !has_debug_info(elf))
		return false;
	if (m->build_id[0]) {
		build_id_hex(elf, hex);
		return !strcmp(hex, m->build_id);
	}
	raw = check_crc ? elf_rawfile(elf, &size) : NULL;
	return raw && crc32_z(0, (const unsigned char *)raw, size) == crc;
}

static Elf *open_debug_candidate(const struct symmod *m, const char *path, bool check_crc, GElf_Word crc,
				 int *ret_fd)
{
	int fd = proc_open_regular(path); /* a name the target controls: see proc_open_regular() */
	Elf *elf;

	if (fd < 0)
		return NULL;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && is_debug_file_of(m, elf, check_crc, crc)) {
		*ret_fd = fd;
		return elf;
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return NULL;
}

/* Length of the "/proc/PID/root" that starts path when the file lies under a target's own root
 * (a container: see symbolize.c), else 0. */
static size_t root_prefix_len(const char *path)
{
	const char *p = path + 6;

	if (strncmp(path, "/proc/", 6))
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == path + 6 || strncmp(p, "/root/", 6))
		return 0;
	return (size_t)(p + 5 - path);
}

/* The separate debug file of m found locally, in libdwfl's order: the build-id tree, then the
 * .gnu_debuglink name next to the file, in .debug/ and under the debug root. For a file in a
 * container, the container's debug root is tried before the host's. NULL if none (then libdwfl
 * looks again, debuginfod included). The path found is left in path. */
static Elf *find_debug_file(const struct symmod *m, Elf *main_elf, int *ret_fd, char *path, size_t path_len)
{
	size_t rootlen = root_prefix_len(m->path);
	const char *link, *slash, *dir;
	char root[64];
	GElf_Word crc = 0;
	int dirlen;
	Elf *elf;

	snprintf(root, sizeof(root), "%.*s", (int)(rootlen < sizeof(root) ? rootlen : 0), m->path);
	for (int r = root[0] ? 0 : 1; r < 2 && m->build_id[0]; r++) {
		snprintf(path, path_len, "%s" DEBUG_FILE_ROOT "/.build-id/%.2s/%s.debug", r == 0 ? root : "", m->build_id,
			 m->build_id + 2);
		if ((elf = open_debug_candidate(m, path, false, 0, ret_fd)))
			return elf;
	}
	link = dwelf_elf_gnu_debuglink(main_elf, &crc);
	slash = strrchr(m->path, '/');
	if (!link || !*link || strchr(link, '/') || !slash || slash - m->path > 4096)
		return NULL;
	dirlen = (int)(slash - m->path);
	/* the directory as the target sees it, for the debug roots */
	dir = m->path + strlen(root);
	for (int i = 0; i < 4; i++) {
		int n;

		if (i == 0)
			n = snprintf(path, path_len, "%.*s/%s", dirlen, m->path, link);
		else if (i == 1)
			n = snprintf(path, path_len, "%.*s/.debug/%s", dirlen, m->path, link);
		else if (i == 2 && root[0])
			n = snprintf(path, path_len, "%s" DEBUG_FILE_ROOT "%.*s/%s", root, (int)(slash - dir), dir, link);
		else if (i == 3)
			n = snprintf(path, path_len, DEBUG_FILE_ROOT "%.*s/%s", (int)(slash - dir), dir, link);
		else
			continue;
		if (n < 0 || (size_t)n >= path_len)
			continue;
		if ((elf = open_debug_candidate(m, path, true, crc, ret_fd)))
			return elf;
	}
	return NULL;
}

/* DWARF through dwarfload where it applies (compressed sections, found locally: the common
 * distribution case), else through libdwfl, which also asks debuginfod. */
static void load_dwarf(struct symmod *m, Elf *main_elf)
{
	Dwarf_Addr dwbias = 0;
	char path[4400];
	Elf *dbg = NULL;
	int fd = -1, err = -ENODATA;

	if (has_debug_info(main_elf))
		err = dwarfload_open(main_elf, m->path, cache_limit, &m->dl);
	else if ((dbg = find_debug_file(m, main_elf, &fd, path, sizeof(path))))
		err = dwarfload_open(dbg, path, cache_limit, &m->dl);
	if (dbg)
		elf_end(dbg);
	if (fd >= 0)
		close(fd);
	if (!err) {
		/* a separate debug file has the main file's addresses (prelink's shifts are history) */
		m->dwarf = m->dl.dwarf;
		m->dwbias = m->bias;
		m->dwarf_source = SYMMOD_DWARF_INFLATED;
		log_debug("symbolize: \"%s\": %zu KiB of debug sections inflated (%zu KiB of them a dwz file), "
			  "%zu KiB left compressed", m->path,
			  (m->dl.image_size + (m->dl.alt ? m->dl.alt->image_size : 0)) >> 10,
			  (m->dl.alt ? m->dl.alt->image_size : 0) >> 10, m->dl.skipped >> 10);
		return;
	}
	if (err == -EFBIG) {
		m->dwarf_source = SYMMOD_DWARF_TOO_BIG;
		log_debug("symbolize: \"%s\": debug info larger than the symbol cache bound (%zu MiB): symbols only",
			  m->path, cache_limit >> 20);
		return;
	}
	m->dwarf = dwfl_module_getdwarf(m->dmod, &dwbias);
	m->dwbias = dwbias;
	if (m->dwarf)
		m->dwarf_source = SYMMOD_DWARF_LIBDW;
}

/* The section of elf named name, or NULL. */
static Elf_Scn *find_section(Elf *elf, const char *name)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *sname;

		if (gelf_getshdr(scn, &sh) && (sname = elf_strptr(elf, shstrndx, sh.sh_name)) && !strcmp(sname, name))
			return scn;
	}
	return NULL;
}

/* Whether nothing but .dynsym names the file's functions: no .symtab in it, no DWARF found for
 * it, and libdwfl's table (which adds .gnu_debugdata's MiniDebugInfo and a debug file's
 * .symtab) holds no more than .dynsym. */
static bool lacks_symbols(struct symmod *m, Elf *elf)
{
	Elf_Scn *scn = NULL;
	size_t ndynsym = 0;
	int n;

	if (m->dwarf)
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			return false;
		if (sh.sh_type == SHT_DYNSYM && sh.sh_entsize)
			ndynsym = sh.sh_size / sh.sh_entsize;
	}
	n = dwfl_module_getsymtab(m->dmod);
	return n <= 0 || (size_t)n <= ndynsym;
}

/* Reads the FDE ranges of m's .eh_frame (once). */
static void fde_load(struct symmod *m)
{
	Dwarf_Addr bias = 0;
	Elf *elf = m->image ? m->image_elf : m->dmod ? dwfl_module_getelf(m->dmod, &bias) : NULL;
	Elf_Scn *scn = find_section(elf, ".eh_frame");
	struct ehframe_range *v = NULL;
	GElf_Shdr sh;
	Elf_Data *data;
	int n;

	m->fde_state = -ENOENT;
	if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS || !(data = elf_rawdata(scn, NULL)) ||
	    !data->d_buf)
		return;
	n = ehframe_parse(data->d_buf, data->d_size, sh.sh_addr, EHFRAME_MAX_RANGES, &v);
	if (n <= 0) {
		m->fde_state = n < 0 ? n : -ENOENT;
		return;
	}
	m->fde_names = calloc((size_t)n, sizeof(*m->fde_names));
	if (!m->fde_names) {
		free(v);
		m->fde_state = -ENOMEM;
		return;
	}
	m->fdes = v;
	m->nfdes = (size_t)n;
	m->fde_state = 1;
	m->bytes += m->nfdes * (sizeof(*m->fdes) + sizeof(*m->fde_names));
	cache_bytes += m->nfdes * (sizeof(*m->fdes) + sizeof(*m->fde_names));
}

/* Names vaddr, which no symbol or DWARF names, after the start of its function as .eh_frame
 * delimits it: "redis-server+0x4a3f0", the ELF virtual address of the function's first
 * instruction (what objdump, addr2line -e and gdb take). Returns 1 (frames[0] filled) or 0. */
static int fde_lookup(struct symmod *m, uint64_t vaddr, struct sym_frame *f)
{
	const struct ehframe_range *r;
	size_t i;

	if (!m->has_eh_frame)
		return 0;
	if (!m->fde_state)
		fde_load(m);
	if (m->fde_state != 1 || !(r = ehframe_find(m->fdes, m->nfdes, vaddr)))
		return 0;
	i = (size_t)(r - m->fdes);
	if (!m->fde_names[i]) {
		const char *path = m->path ? m->path : "?", *base = strrchr(path, '/');
		char *name = NULL;

		if (asprintf(&name, "%s+0x%llx", base ? base + 1 : path, (unsigned long long)r->lo) < 0)
			return 0;
		m->fde_names[i] = name;
		m->bytes += strlen(name) + 1;
		cache_bytes += strlen(name) + 1;
	}
	memset(f, 0, sizeof(*f));
	f->name = m->fde_names[i];
	f->system_name = m->fde_names[i];
	f->func_start = r->lo;
	return 1;
}

bool symmod__lacks_symbols(const struct symmod *m)
{
	return m && m->state == 1 && m->lacks_symbols;
}

int symmod__load(struct symmod *m)
{
	Dwarf_Addr bias = 0;
	Elf *elf;
	int err;

	if (m->state)
		return m->state < 0 ? m->state : 0;
	if (m->image) {
		err = image_symtab(m);
		if (err)
			goto fail;
		m->has_eh_frame = find_section(m->image_elf, ".eh_frame") != NULL;
		m->has_functions = m->nsyms > 0 || m->has_eh_frame;
		m->bytes = m->nsyms * sizeof(*m->syms);
	} else {
		m->dwfl = dwfl_begin(&dwfl_callbacks);
		if (!m->dwfl) {
			err = -ENOMEM;
			goto fail;
		}
		dwfl_report_begin(m->dwfl);
		/* base 0 relative to p_vaddr: module addresses are the file's own addresses (bias 0) */
		m->dmod = dwfl_report_elf(m->dwfl, m->path, m->path, m->fd, 0, true);
		if (!m->dmod) {
			err = -ENOEXEC;
			goto fail;
		}
		m->fd = -1; /* consumed by libdwfl */
		dwfl_report_end(m->dwfl, NULL, NULL);
		if (!(elf = dwfl_module_getelf(m->dmod, &bias))) {
			err = -ENOEXEC;
			goto fail;
		}
		m->bias = bias;
		load_dwarf(m, elf);
		err = dwfl_symtab(m);
		if (err)
			goto fail;
		m->has_eh_frame = find_section(elf, ".eh_frame") != NULL;
		m->lacks_symbols = lacks_symbols(m, elf);
		m->has_functions = m->nsyms > 0 || m->has_eh_frame;
		dwarf_flags(m);
		m->bytes = m->nsyms * sizeof(*m->syms) + dwarf_bytes(m->dwarf) +
			   (m->dl.alt ? m->dl.alt->image_size : 0);
	}
	cache_bytes += m->bytes;
	/* the module itself is referenced, so it is not a candidate for eviction here */
	if (!cache_make_room(0)) {
		err = -ENOMEM;
		goto fail;
	}
	m->state = 1;
	return 0;
fail:
	log_debug("symbolize: cannot load \"%s\": %s", m->path, strerror(-err));
	symmod_unload(m);
	m->state = err;
	return err;
}

enum symmod_dwarf symmod__dwarf_source(const struct symmod *m)
{
	return m && m->state == 1 ? m->dwarf_source : SYMMOD_DWARF_NONE;
}

void symmod__flags(const struct symmod *m, bool *has_functions, bool *has_filenames, bool *has_lines,
		   bool *has_inlines)
{
	bool ok = m && m->state == 1;

	*has_functions = ok && m->has_functions;
	*has_filenames = ok && m->has_filenames;
	*has_lines = ok && m->has_lines;
	*has_inlines = ok && m->has_inlines;
}

static int range_push(struct rangevec *vec, uint64_t lo, uint64_t hi, Dwarf_Die *die, uint32_t cu)
{
	if (lo >= hi || lo == 0) /* lo 0: a function the linker discarded */
		return 0;
	if (vec->n == vec->cap) {
		size_t ncap = vec->cap ? vec->cap * 2 : 256;
		struct modrange *p = realloc(vec->v, ncap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		vec->v = p;
		vec->cap = ncap;
	}
	vec->v[vec->n++] = (struct modrange){ .lo = lo, .hi = hi, .die = *die, .cu = cu };
	return 0;
}

/* Pushes die's address ranges; returns how many or -errno. */
static int die_ranges_push(Dwarf_Die *die, struct rangevec *vec, uint32_t cu)
{
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;
	int err, count = 0;

	while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
		err = range_push(vec, lo, hi, die, cu);
		if (err)
			return err;
		if (++count > 4096)
			break;
	}
	return count;
}

/* Subprograms with code among the children of die, descending into scopes C++ nests them in
 * (nested: the unit's language may nest functions in types or namespaces). */
static int index_scope(struct rangevec *out, uint32_t cu, Dwarf_Die *die, int depth, bool nested)
{
	Dwarf_Die child;
	int err;

	if (dwarf_child(die, &child) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&child);

		if (tag == DW_TAG_subprogram) {
			err = die_ranges_push(&child, out, cu);
			if (err < 0)
				return err;
		} else if (nested && depth < MAX_SCOPE_DEPTH && dwarfscan_is_scope((unsigned)tag)) {
			err = index_scope(out, cu, &child, depth + 1, nested);
			if (err)
				return err;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return 0;
}

/* C has no member functions: its many struct and union DIEs need not be walked for them. */
static bool lang_is_c(Dwarf_Die *cudie)
{
	switch (dwarf_srclang(cudie)) {
	case DW_LANG_C89:
	case DW_LANG_C:
	case DW_LANG_C99:
	case DW_LANG_C11:
		return true;
	default:
		return false;
	}
}

static int range_cmp(const void *a, const void *b)
{
	const struct modrange *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi > y->hi ? -1 : 1; /* the outer of two ranges first */
	return x->die.addr < y->die.addr ? -1 : x->die.addr > y->die.addr;
}

static size_t index_bytes(const struct symmod *m)
{
	return (m->cus.cap + m->funcs.cap + m->scratch.cap) * sizeof(struct modrange) +
	       m->units_cap * sizeof(*m->units);
}

/* Lists the compile units and their ranges. Units without ranges (rare: some assembler units)
 * have their subprograms indexed now, since no address leads to them later. */
static int build_index(struct symmod *m)
{
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie, subdie;
	uint8_t unit_type;
	Dwarf_Half version;
	size_t before = index_bytes(m), after;
	int err = 0;

	if (m->indexed || !m->dwarf)
		return 0;
	m->scan_ok = dwarfscan_init(m->dwarf, &m->scan) == 0;
	while (dwarf_get_units(m->dwarf, cu, &cu, &version, &unit_type, &cudie, &subdie) == 0) {
		uint32_t u = (uint32_t)m->nunits;

		if (unit_type != DW_UT_compile)
			continue;
		if (m->nunits == m->units_cap) {
			size_t ncap = m->units_cap ? m->units_cap * 2 : 256;
			struct modunit *p = realloc(m->units, ncap * sizeof(*p));

			if (!p) {
				err = -ENOMEM;
				break;
			}
			m->units = p;
			m->units_cap = ncap;
		}
		m->units[m->nunits++] = (struct modunit){ .die = cudie };
		err = die_ranges_push(&cudie, &m->cus, u);
		if (err == 0) {
			m->units[u].indexed = true;
			err = index_scope(&m->funcs, u, &cudie, 0, !lang_is_c(&cudie));
		}
		if (err < 0)
			break;
		err = 0;
	}
	if (m->funcs.n)
		qsort(m->funcs.v, m->funcs.n, sizeof(*m->funcs.v), range_cmp);
	if (m->cus.n)
		qsort(m->cus.v, m->cus.n, sizeof(*m->cus.v), range_cmp);
	after = index_bytes(m);
	m->bytes += after - before;
	cache_bytes += after - before;
	m->indexed = true;
	return err;
}

struct scan_ctx {
	struct rangevec *out;
	uint32_t cu;
};

static int scan_found(Dwarf_Die *die, const struct dwarfscan_pc *pc, void *arg)
{
	struct scan_ctx *c = arg;
	int n;

	switch (pc->kind) {
	case DWARFSCAN_PC_NONE:
		return 0; /* a declaration, or inlined only */
	case DWARFSCAN_PC_RANGE:
		return range_push(c->out, pc->lo, pc->hi, die, c->cu);
	default:
		n = die_ranges_push(die, c->out, c->cu);
		return n < 0 ? n : 0;
	}
}

/* Indexes unit u's subprograms (once; on failure the unit answers from its line table alone):
 * with dwarfscan, or with libdw where dwarfscan does not understand the unit. */
static void unit_index(struct symmod *m, uint32_t u)
{
	struct modunit *unit = &m->units[u];
	size_t before = index_bytes(m), after;
	struct scan_ctx ctx = { .out = &m->scratch, .cu = u };
	bool nested = !lang_is_c(&unit->die);
	int err = -EINVAL;

	unit->indexed = true;
	m->scratch.n = 0;
	if (m->scan_ok)
		err = dwarfscan_subprograms(&m->scan, &unit->die, nested, MAX_SCOPE_DEPTH, scan_found, &ctx);
	if (err == -EINVAL) {
		m->scratch.n = 0;
		index_scope(&m->scratch, u, &unit->die, 0, nested);
	}
	if (m->scratch.n) {
		unit->funcs = malloc(m->scratch.n * sizeof(*unit->funcs));
		if (unit->funcs) {
			memcpy(unit->funcs, m->scratch.v, m->scratch.n * sizeof(*unit->funcs));
			unit->nfuncs = (uint32_t)m->scratch.n;
			qsort(unit->funcs, unit->nfuncs, sizeof(*unit->funcs), range_cmp);
		}
	}
	after = index_bytes(m) + unit->nfuncs * sizeof(*unit->funcs);
	m->bytes += after - before;
	cache_bytes += after - before;
}

/* The range containing a, or NULL. Ranges are sorted by start; a few may nest. */
static const struct modrange *range_find(const struct modrange *r, size_t n, uint64_t a)
{
	size_t lo = 0, hi = n;

	if (!n || a < r[0].lo)
		return NULL;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (r[mid].lo <= a)
			lo = mid;
		else
			hi = mid;
	}
	for (size_t i = 0; i <= lo && i < BACKSCAN; i++)
		if (a < r[lo - i].hi)
			return &r[lo - i];
	return NULL;
}

static struct modsym *sym_find(struct symmod *m, uint64_t a)
{
	size_t lo = 0, hi = m->nsyms;

	if (!m->nsyms || a < m->syms[0].start)
		return NULL;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->syms[mid].start <= a)
			lo = mid;
		else
			hi = mid;
	}
	for (size_t i = 0; i <= lo && i < BACKSCAN; i++)
		if (a < m->syms[lo - i].end)
			return &m->syms[lo - i];
	return NULL;
}

/* The display name of a symbol: demangled, and without the "@GLIBC_2.2.5" version suffix that
 * compat symbols carry in .symtab (system_name keeps the raw symbol). */
static const char *sym_name(struct symmod *m, struct modsym *s)
{
	if (!s->demangle_tried) {
		const char *at = strchr(s->name, '@');

		s->demangle_tried = true;
		if (at && at != s->name) {
			char *base = strndup(s->name, at - s->name);

			s->demangled = base ? demangle(base) : NULL;
			if (s->demangled)
				free(base);
			else
				s->demangled = base;
		} else {
			s->demangled = demangle(s->name);
		}
		if (s->demangled) {
			m->bytes += strlen(s->demangled) + 1;
			cache_bytes += strlen(s->demangled) + 1;
		}
	}
	return s->demangled ? s->demangled : s->name;
}

/* A string derived from key (a demangled linkage name, an absolute source path), cached by
 * key's pointer, which is stable while the Dwarf lives: .debug_str, libdw's file tables. make()
 * returns a malloc'd string or NULL when key itself is the answer. */
static const char *derived(struct symmod *m, const char *key, char *(*make)(const char *key, const void *arg),
			   const void *arg)
{
	size_t h, mask;
	char *v;

	if (m->dm_n * 2 >= m->dm_cap) {
		size_t ncap = m->dm_cap ? m->dm_cap * 2 : 1024;
		struct dmentry *t;

		if (m->dm_n >= DEMANGLE_CACHE_MAX)
			goto lookup_only;
		t = calloc(ncap, sizeof(*t));
		if (!t)
			goto lookup_only;
		for (size_t i = 0; i < m->dm_cap; i++) {
			if (!m->dm[i].key)
				continue;
			h = ((uintptr_t)m->dm[i].key >> 3) * 0x9e3779b97f4a7c15ull;
			for (h &= ncap - 1; t[h].key; h = (h + 1) & (ncap - 1))
				;
			t[h] = m->dm[i];
		}
		free(m->dm);
		m->bytes += (ncap - m->dm_cap) * sizeof(*t);
		cache_bytes += (ncap - m->dm_cap) * sizeof(*t);
		m->dm = t;
		m->dm_cap = ncap;
	}
lookup_only:
	if (!m->dm_cap)
		return key;
	mask = m->dm_cap - 1;
	h = (((uintptr_t)key >> 3) * 0x9e3779b97f4a7c15ull) & mask;
	for (; m->dm[h].key; h = (h + 1) & mask)
		if (m->dm[h].key == key)
			return m->dm[h].value ? m->dm[h].value : key;
	if (m->dm_n * 2 >= m->dm_cap)
		return key; /* full (bound reached): answer with the mangled name */
	v = make(key, arg);
	m->dm[h].key = key;
	m->dm[h].value = v;
	m->dm_n++;
	if (v) {
		m->bytes += strlen(v) + 1;
		cache_bytes += strlen(v) + 1;
	}
	return v ? v : key;
}

static char *make_demangled(const char *key, const void *arg)
{
	return demangle(key);
}

static const char *dm_lookup(struct symmod *m, const char *key)
{
	if (strncmp(key, "_Z", 2) && strncmp(key, "__Z", 3) && strncmp(key, "_R", 2))
		return key;
	return derived(m, key, make_demangled, NULL);
}

/* DWARF 5 file names may be relative to the unit's compilation directory: join them, as
 * addr2line does, so that the path means something outside the build tree. */
static char *make_abs_path(const char *file, const void *arg)
{
	Dwarf_Attribute a;
	const char *dir;
	char *r;

	dir = dwarf_formstring(dwarf_attr((Dwarf_Die *)arg, DW_AT_comp_dir, &a));
	if (!dir || !*dir || asprintf(&r, "%s/%s", dir, file) < 0)
		return NULL;
	return r;
}

static const char *abs_path(struct symmod *m, Dwarf_Die *cudie, const char *file)
{
	if (!file || file[0] == '/')
		return file;
	return derived(m, file, make_abs_path, cudie);
}

/* The attributes die_info() wants, as dwarf_attr_integrate() would find each of them, gathered
 * in one pass over every DIE of the abstract origin / specification chain instead of one
 * pass per attribute and hop. */
enum { IA_LINKAGE, IA_MIPS_LINKAGE, IA_NAME, IA_DECL_LINE, IA_N };

struct integrate {
	Dwarf_Attribute found[IA_N], origin, spec;
	bool has[IA_N], has_origin, has_spec;
};

static int integrate_cb(Dwarf_Attribute *a, void *arg)
{
	struct integrate *it = arg;
	int k;

	switch (dwarf_whatattr(a)) {
	case DW_AT_linkage_name: k = IA_LINKAGE; break;
	case DW_AT_MIPS_linkage_name: k = IA_MIPS_LINKAGE; break;
	case DW_AT_name: k = IA_NAME; break;
	case DW_AT_decl_line: k = IA_DECL_LINE; break;
	case DW_AT_abstract_origin:
		if (!it->has_origin)
			it->origin = *a;
		it->has_origin = true;
		return DWARF_CB_OK;
	case DW_AT_specification:
		if (!it->has_spec)
			it->spec = *a;
		it->has_spec = true;
		return DWARF_CB_OK;
	default:
		return DWARF_CB_OK;
	}
	if (!it->has[k])
		it->found[k] = *a;
	it->has[k] = true;
	return DWARF_CB_OK;
}

static void integrate_all(Dwarf_Die *die, struct integrate *out)
{
	Dwarf_Die mem[2];
	int hop = 0;

	memset(out, 0, sizeof(*out));
	/* the same 16 DIEs dwarf_attr_integrate() would look at */
	for (int chain = 16; die && chain > 0; chain--, hop++) {
		struct integrate it = { 0 };
		bool all = true;

		if (dwarf_getattrs(die, integrate_cb, &it, 0) < 0)
			break;
		for (int k = 0; k < IA_N; k++) {
			if (!out->has[k] && it.has[k]) {
				out->found[k] = it.found[k];
				out->has[k] = true;
			}
			all = all && out->has[k];
		}
		if (all || (!it.has_origin && !it.has_spec))
			break;
		die = dwarf_formref_die(it.has_origin ? &it.origin : &it.spec, &mem[hop & 1]);
	}
}

static void die_info_uncached(struct symmod *m, Dwarf_Die *die, struct nmentry *e)
{
	struct integrate it;
	const char *linkage;
	Dwarf_Word line;
	Dwarf_Addr entry;

	integrate_all(die, &it);
	linkage = it.has[IA_LINKAGE] ? dwarf_formstring(&it.found[IA_LINKAGE]) : NULL;
	*e = (struct nmentry){ .die = die->addr, .has_linkage = linkage != NULL };
	if (!linkage && it.has[IA_MIPS_LINKAGE])
		linkage = dwarf_formstring(&it.found[IA_MIPS_LINKAGE]);
	if (linkage) {
		e->system_name = linkage;
		e->name = dm_lookup(m, linkage);
	} else {
		e->name = e->system_name = it.has[IA_NAME] ? dwarf_formstring(&it.found[IA_NAME]) : NULL;
	}
	if (it.has[IA_DECL_LINE] && dwarf_formudata(&it.found[IA_DECL_LINE], &line) == 0)
		e->start_line = (int)line;
	if (dwarf_entrypc(die, &entry) == 0) {
		e->entry_ok = true;
		e->entry = entry;
	}
}

static size_t nm_hash(const void *p, size_t mask)
{
	return (size_t)(((uintptr_t)p >> 2) * 0x9e3779b97f4a7c15ull >> 20) & mask;
}

/* Names, first line and entry of a function DIE; integrating attributes through abstract
 * origins and specifications costs several DIE reads, so the answer is kept per DIE. Returns the
 * cached entry, or scratch filled in when the cache is at its bound. */
static struct nmentry *die_info(struct symmod *m, Dwarf_Die *die, struct nmentry *scratch)
{
	size_t h;

	if (m->nm_n * 2 >= m->nm_cap && m->nm_n < NAME_CACHE_MAX) {
		size_t ncap = m->nm_cap ? m->nm_cap * 2 : 1024;
		struct nmentry *t = calloc(ncap, sizeof(*t));

		if (t) {
			for (size_t i = 0; i < m->nm_cap; i++) {
				if (!m->nm[i].die)
					continue;
				for (h = nm_hash(m->nm[i].die, ncap - 1); t[h].die; h = (h + 1) & (ncap - 1))
					;
				t[h] = m->nm[i];
			}
			free(m->nm);
			m->bytes += (ncap - m->nm_cap) * sizeof(*t);
			cache_bytes += (ncap - m->nm_cap) * sizeof(*t);
			m->nm = t;
			m->nm_cap = ncap;
		}
	}
	if (!m->nm_cap) {
		die_info_uncached(m, die, scratch);
		return scratch;
	}
	for (h = nm_hash(die->addr, m->nm_cap - 1); m->nm[h].die; h = (h + 1) & (m->nm_cap - 1))
		if (m->nm[h].die == die->addr)
			return &m->nm[h];
	die_info_uncached(m, die, scratch);
	if (m->nm_n * 2 >= m->nm_cap)
		return scratch; /* full at its bound: answer without remembering */
	m->nm[h] = *scratch;
	m->nm_n++;
	return &m->nm[h];
}

static bool has_pc_attrs(Dwarf_Die *die)
{
	return dwarf_hasattr(die, DW_AT_low_pc) || dwarf_hasattr(die, DW_AT_ranges);
}

/* Appends to chain the inlined subroutines containing a below die, outermost first. */
static int inline_descend(Dwarf_Die *die, Dwarf_Addr a, Dwarf_Die *chain, int n, int max, int depth, bool *seen)
{
	Dwarf_Die child;

	if (depth >= MAX_INLINE_DEPTH || dwarf_child(die, &child) != 0)
		return n;
	do {
		int tag = dwarf_tag(&child);

		if (tag == DW_TAG_inlined_subroutine || dwarfscan_is_block((unsigned)tag))
			*seen = true;
		if (tag == DW_TAG_inlined_subroutine) {
			if (dwarf_haspc(&child, a) == 1) {
				if (n < max)
					chain[n++] = child;
				return inline_descend(&child, a, chain, n, max, depth + 1, seen);
			}
		} else if (dwarfscan_is_block((unsigned)tag)) {
			/* blocks without addresses of their own may still hold inlined code */
			if (!has_pc_attrs(&child) || dwarf_haspc(&child, a) == 1) {
				int n2 = inline_descend(&child, a, chain, n, max, depth + 1, seen);

				if (n2 != n || has_pc_attrs(&child))
					return n2;
			}
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return n;
}

static const char *call_file(struct symmod *m, Dwarf_Die *cudie, Dwarf_Die *inl, int *ret_line)
{
	Dwarf_Attribute a;
	Dwarf_Word idx, line;
	Dwarf_Files *files;
	size_t nfiles;

	*ret_line = 0;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &a), &line) == 0)
		*ret_line = (int)line;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &a), &idx) != 0)
		return NULL;
	if (dwarf_getsrcfiles(cudie, &files, &nfiles) != 0 || idx >= nfiles)
		return NULL;
	return abs_path(m, cudie, dwarf_filesrc(files, idx, NULL, NULL));
}

/* call_file() of an inlined call DIE, kept in its die_info() entry. */
static const char *call_file_cached(struct symmod *m, Dwarf_Die *cudie, Dwarf_Die *inl, int *ret_line)
{
	struct nmentry scratch, *e = die_info(m, inl, &scratch);

	if (!e->call_done) {
		e->call_file = call_file(m, cudie, inl, &e->call_line);
		e->call_done = true;
	}
	*ret_line = e->call_line;
	return e->call_file;
}

static void line_at(struct symmod *m, Dwarf_Die *cudie, Dwarf_Addr a, struct sym_frame *f)
{
	Dwarf_Line *line = dwarf_getsrc_die(cudie, a);
	int lineno = 0;

	if (!line)
		return;
	f->file = abs_path(m, cudie, dwarf_linesrc(line, NULL, NULL));
	if (dwarf_lineno(line, &lineno) == 0)
		f->line = lineno;
}

struct inl_build {
	struct inl_node *nodes;
	size_t n, cap;
};

static int inl_push(struct inl_build *b, uint64_t lo, uint64_t hi, Dwarf_Die *die, int parent, int depth)
{
	if (b->n == MAX_INL_NODES)
		return -E2BIG;
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 16;
		struct inl_node *p = realloc(b->nodes, ncap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		b->nodes = p;
		b->cap = ncap;
	}
	b->nodes[b->n++] = (struct inl_node){ .lo = lo, .hi = hi, .die = *die, .parent = parent, .depth = depth };
	return 0;
}

/* Pushes the ranges of the inlined call die (made at depth, inside parent's range). */
static int inl_push_ranges(struct inl_build *b, Dwarf_Die *die, int parent, int depth)
{
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;
	int err, count = 0;

	while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0 && count++ < 4096) {
		err = inl_push(b, lo, hi, die, parent, depth + 1);
		if (err)
			return err;
	}
	return 0;
}

/* Collects the inlined calls below die (blocks are transparent). */
static int inl_collect(struct inl_build *b, Dwarf_Die *die, int parent, int depth)
{
	Dwarf_Die child;
	int err;

	if (depth >= MAX_INLINE_DEPTH || dwarf_child(die, &child) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&child);

		if (tag == DW_TAG_inlined_subroutine) {
			int first = (int)b->n;

			err = inl_push_ranges(b, &child, parent, depth);
			if (err)
				return err;
			if ((int)b->n > first) {
				err = inl_collect(b, &child, first, depth + 1);
				if (err)
					return err;
			}
		} else if (dwarfscan_is_block((unsigned)tag)) {
			err = inl_collect(b, &child, parent, depth);
			if (err)
				return err;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return 0;
}

static int inl_found(Dwarf_Die *die, const struct dwarfscan_pc *pc, int parent, int depth, int *ret_parent,
		     void *arg)
{
	struct inl_build *b = arg;
	int first = (int)b->n, err;

	if (pc->kind == DWARFSCAN_PC_NONE)
		return 0;
	if (pc->kind == DWARFSCAN_PC_RANGE)
		err = inl_push(b, pc->lo, pc->hi, die, parent, depth + 1); /* as dwarf_ranges: empty too */
	else
		err = inl_push_ranges(b, die, parent, depth);
	if (!err && (int)b->n > first)
		*ret_parent = first;
	return err;
}

static void inl_build_for(struct symmod *m, struct modrange *fr)
{
	struct inl_build b = { 0 };
	int err = -EINVAL;

	if (m->scan_ok)
		err = dwarfscan_inlines(&m->scan, &m->units[fr->cu].die, &fr->die, MAX_INLINE_DEPTH, inl_found, &b);
	if (err == -EINVAL) {
		b.n = 0;
		err = inl_collect(&b, &fr->die, -1, 0);
	}

	if (err || !b.n) {
		free(b.nodes);
		fr->inl_state = err ? INL_WALK : INL_NONE;
		return;
	}
	fr->inl = b.nodes;
	fr->ninl = (uint32_t)b.n;
	fr->inl_state = INL_BUILT;
	m->bytes += b.cap * sizeof(*b.nodes);
	cache_bytes += b.cap * sizeof(*b.nodes);
}

/* chain[0] is the subprogram; appends the inlined calls containing a, outermost first. */
static int inl_chain(const struct modrange *fr, Dwarf_Addr a, Dwarf_Die *chain, int max)
{
	int best = -1, depth = 0, n;

	for (uint32_t i = 0; i < fr->ninl; i++) {
		const struct inl_node *x = &fr->inl[i];

		if (x->lo <= a && a < x->hi && x->depth > depth) {
			best = (int)i;
			depth = x->depth;
		}
	}
	if (best < 0)
		return 1;
	n = depth + 1 < max ? depth + 1 : max;
	for (int i = best, k = depth; i >= 0 && k >= 1; i = fr->inl[i].parent, k--)
		if (k < n)
			chain[k] = fr->inl[i].die;
	return n;
}

int symmod__lookup(struct symmod *m, uint64_t vaddr, struct sym_frame *frames, int max)
{
	Dwarf_Die chain[MAX_INLINE_DEPTH], cudie, *cu = NULL;
	struct modrange *fr = NULL;
	const struct modrange *cr = NULL;
	struct modsym *s;
	Dwarf_Addr a;
	int err, n = 0;

	if (max <= 0)
		return 0;
	err = symmod__load(m);
	if (err)
		return err;
	if (m->dwarf && !m->indexed) {
		/* nothing of this module has been handed out yet: it can still be dropped */
		err = build_index(m);
		if (!err && !cache_make_room(0))
			err = -ENOMEM;
		if (err) {
			symmod_unload(m);
			m->state = err;
			return err;
		}
	}
	s = sym_find(m, vaddr);
	a = vaddr + m->bias - m->dwbias;
	if (m->dwarf) {
		cr = range_find(m->cus.v, m->cus.n, a);
		if (cr) {
			struct modunit *unit = &m->units[cr->cu];

			if (!unit->indexed) {
				unit_index(m, cr->cu);
				cache_make_room(0);
			}
			fr = (struct modrange *)range_find(unit->funcs, unit->nfuncs, a);
		}
		if (!fr)
			fr = (struct modrange *)range_find(m->funcs.v, m->funcs.n, a);
		if (fr) {
			bool seen = false;

			chain[0] = fr->die;
			cudie = m->units[fr->cu].die;
			cu = &cudie;
			n = 1;
			if (fr->inl_state == INL_UNKNOWN)
				inl_build_for(m, fr);
			if (fr->inl_state == INL_BUILT)
				n = inl_chain(fr, a, chain, MAX_INLINE_DEPTH);
			else if (fr->inl_state == INL_WALK)
				n = inline_descend(&chain[0], a, chain, 1, MAX_INLINE_DEPTH, 0, &seen);
		} else if (cr) {
			cudie = cr->die;
			cu = &cudie;
		}
	}
	if (n == 0) {
		/* no DWARF function: the symbol table names it, the CU's line table (if any) places it;
		 * without a symbol, the function .eh_frame says it is in */
		if (!s)
			return fde_lookup(m, vaddr, &frames[0]);
		memset(&frames[0], 0, sizeof(frames[0]));
		frames[0].system_name = s->name;
		frames[0].name = sym_name(m, s);
		frames[0].func_start = s->start;
		if (cu)
			line_at(m, cu, a, &frames[0]);
		return 1;
	}
	/* chain[0] is the subprogram, chain[n-1] the innermost inlined call; emit callee first.
	 * Past max frames, middle callers are left out: the innermost ones say where the time
	 * went, the outermost (the real function) links the location to its caller's. */
	for (int k = 0; k < n && k < max; k++) {
		int i = (k == max - 1) ? 0 : n - 1 - k;
		struct sym_frame *f = &frames[k];
		struct nmentry scratch, *e = die_info(m, &chain[i], &scratch);
		Dwarf_Addr entry = 0;

		memset(f, 0, sizeof(*f));
		f->name = e->name;
		f->system_name = e->system_name;
		f->start_line = e->start_line;
		if (i == 0) {
			/* the subprogram: its ELF symbol gives the raw name of clones (foo.part.0) */
			if (s && !e->has_linkage && s->start <= vaddr && vaddr < s->end)
				f->system_name = s->name;
			if (!f->name)
				f->name = s ? sym_name(m, s) : NULL;
			if (!f->system_name)
				f->system_name = s ? s->name : f->name;
		}
		if (e->entry_ok)
			entry = e->entry;
		else
			entry = i == 0 ? fr->lo : 0;
		if (entry)
			f->func_start = entry - m->bias + m->dwbias;
		if (i == n - 1)
			line_at(m, cu, a, f);
		else
			f->file = call_file_cached(m, cu, &chain[i + 1], &f->line);
	}
	return n < max ? n : max;
}

// SPDX-License-Identifier: MIT
/* Allocator detection and probe placement (see allocator.h). Reads the target's ELF objects with
 * libelf through /proc/PID/map_files, so deleted or replaced libraries are read as mapped. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc/procmaps.h"
#include "proc/target.h"
#include "sources/allocator.h"
#include "sources/x86_decode.h"

#define MAX_ELF_OBJS 512
#define MAX_NEEDED 64
#define MAX_BODY (64u << 10)

struct want {
	const char *name;
	int kind;
	bool cxx;     /* C++ operator: not probed when defined by the C++ runtime (it calls malloc) */
	bool symtab;  /* may be a local/static symbol (prefixed, statically linked allocators) */
};

enum { PFX_NONE, PFX_JE, PFX_RJEM };

static const struct want WANTS[] = {
	{ "malloc", PROFD_HEAP_MALLOC, false, false },
	{ "calloc", PROFD_HEAP_CALLOC, false, false },
	{ "realloc", PROFD_HEAP_REALLOC, false, false },
	{ "reallocarray", PROFD_HEAP_REALLOCARRAY, false, false },
	{ "free", PROFD_HEAP_FREE, false, false },
	{ "cfree", PROFD_HEAP_FREE, false, false },
	{ "posix_memalign", PROFD_HEAP_POSIX_MEMALIGN, false, false },
	{ "aligned_alloc", PROFD_HEAP_MEMALIGN, false, false },
	{ "memalign", PROFD_HEAP_MEMALIGN, false, false },
	{ "valloc", PROFD_HEAP_MALLOC, false, false },
	{ "pvalloc", PROFD_HEAP_MALLOC, false, false },
	/* jemalloc's non-standard API, plain and prefixed */
	{ "mallocx", PROFD_HEAP_MALLOC, false, false },
	{ "rallocx", PROFD_HEAP_REALLOC, false, false },
	{ "sdallocx", PROFD_HEAP_FREE, false, false },
	{ "dallocx", PROFD_HEAP_FREE, false, false },
	{ "je_malloc", PROFD_HEAP_MALLOC, false, true },
	{ "je_calloc", PROFD_HEAP_CALLOC, false, true },
	{ "je_realloc", PROFD_HEAP_REALLOC, false, true },
	{ "je_free", PROFD_HEAP_FREE, false, true },
	{ "je_posix_memalign", PROFD_HEAP_POSIX_MEMALIGN, false, true },
	{ "je_aligned_alloc", PROFD_HEAP_MEMALIGN, false, true },
	{ "je_memalign", PROFD_HEAP_MEMALIGN, false, true },
	{ "je_valloc", PROFD_HEAP_MALLOC, false, true },
	{ "je_mallocx", PROFD_HEAP_MALLOC, false, true },
	{ "je_rallocx", PROFD_HEAP_REALLOC, false, true },
	{ "je_sdallocx", PROFD_HEAP_FREE, false, true },
	{ "je_dallocx", PROFD_HEAP_FREE, false, true },
	{ "_rjem_malloc", PROFD_HEAP_MALLOC, false, true },
	{ "_rjem_calloc", PROFD_HEAP_CALLOC, false, true },
	{ "_rjem_realloc", PROFD_HEAP_REALLOC, false, true },
	{ "_rjem_free", PROFD_HEAP_FREE, false, true },
	{ "_rjem_posix_memalign", PROFD_HEAP_POSIX_MEMALIGN, false, true },
	{ "_rjem_aligned_alloc", PROFD_HEAP_MEMALIGN, false, true },
	{ "_rjem_memalign", PROFD_HEAP_MEMALIGN, false, true },
	{ "_rjem_mallocx", PROFD_HEAP_MALLOC, false, true },
	{ "_rjem_rallocx", PROFD_HEAP_REALLOC, false, true },
	{ "_rjem_sdallocx", PROFD_HEAP_FREE, false, true },
	{ "_rjem_dallocx", PROFD_HEAP_FREE, false, true },
	/* mimalloc's own API (the mimalloc Rust crate calls it directly) */
	{ "mi_malloc", PROFD_HEAP_MALLOC, false, true },
	{ "mi_zalloc", PROFD_HEAP_MALLOC, false, true },
	{ "mi_calloc", PROFD_HEAP_CALLOC, false, true },
	{ "mi_realloc", PROFD_HEAP_REALLOC, false, true },
	{ "mi_malloc_aligned", PROFD_HEAP_MALLOC, false, true },
	{ "mi_zalloc_aligned", PROFD_HEAP_MALLOC, false, true },
	{ "mi_realloc_aligned", PROFD_HEAP_REALLOC, false, true },
	{ "mi_free", PROFD_HEAP_FREE, false, true },
	/* C++ operators */
	{ "_Znwm", PROFD_HEAP_MALLOC, true, false },
	{ "_Znam", PROFD_HEAP_MALLOC, true, false },
	{ "_ZnwmRKSt9nothrow_t", PROFD_HEAP_MALLOC, true, false },
	{ "_ZnamRKSt9nothrow_t", PROFD_HEAP_MALLOC, true, false },
	{ "_ZnwmSt11align_val_t", PROFD_HEAP_MALLOC, true, false },
	{ "_ZnamSt11align_val_t", PROFD_HEAP_MALLOC, true, false },
	{ "_ZnwmSt11align_val_tRKSt9nothrow_t", PROFD_HEAP_MALLOC, true, false },
	{ "_ZnamSt11align_val_tRKSt9nothrow_t", PROFD_HEAP_MALLOC, true, false },
	{ "_ZdlPv", PROFD_HEAP_FREE, true, false },
	{ "_ZdaPv", PROFD_HEAP_FREE, true, false },
	{ "_ZdlPvm", PROFD_HEAP_FREE, true, false },
	{ "_ZdaPvm", PROFD_HEAP_FREE, true, false },
	{ "_ZdlPvRKSt9nothrow_t", PROFD_HEAP_FREE, true, false },
	{ "_ZdaPvRKSt9nothrow_t", PROFD_HEAP_FREE, true, false },
	{ "_ZdlPvSt11align_val_t", PROFD_HEAP_FREE, true, false },
	{ "_ZdaPvSt11align_val_t", PROFD_HEAP_FREE, true, false },
	{ "_ZdlPvmSt11align_val_t", PROFD_HEAP_FREE, true, false },
	{ "_ZdaPvmSt11align_val_t", PROFD_HEAP_FREE, true, false },
};
#define NWANTS (sizeof(WANTS) / sizeof(WANTS[0]))

/* Argument registers each kind reads at the probe. */
static unsigned kind_args(int kind)
{
	switch (kind) {
	case PROFD_HEAP_CALLOC:
	case PROFD_HEAP_REALLOC:
		return X86_ARGS(2);
	case PROFD_HEAP_REALLOCARRAY:
		return X86_ARGS(3);
	case PROFD_HEAP_MEMALIGN:
		return 1u << 1;
	case PROFD_HEAP_POSIX_MEMALIGN:
		return (1u << 0) | (1u << 2);
	default:
		return X86_ARGS(1);
	}
}

struct found {
	bool ok;
	GElf_Sym sym;
};

struct elfobj {
	const struct procmaps_entry *map; /* first mapping of the file */
	const struct procmaps_entry *xmap; /* first executable mapping */
	int fd;
	Elf *elf;
	GElf_Ehdr ehdr;
	uint64_t bias;
	uint64_t text_lo, text_hi;
	char soname[256];
	int nneeded;
	char *needed[MAX_NEEDED];
	int order;                 /* rank in lookup order */
	struct found found[NWANTS];
	int plan_obj;              /* index in plan->objs, -1 if none yet */
	/* PLT: got slot address -> symbol name, for forwarding checks */
	uint64_t plt_lo, plt_hi, pltsec_lo, pltsec_hi;
};

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static void obj_close(struct elfobj *o)
{
	for (int i = 0; i < o->nneeded; i++)
		free(o->needed[i]);
	if (o->elf)
		elf_end(o->elf);
	if (o->fd >= 0)
		close(o->fd);
}

static Elf_Scn *find_section(Elf *elf, const char *name, GElf_Shdr *ret)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return NULL;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		const char *n;

		if (!gelf_getshdr(scn, ret))
			continue;
		n = elf_strptr(elf, shstrndx, ret->sh_name);
		if (n && strcmp(n, name) == 0)
			return scn;
	}
	return NULL;
}

bool alloc_elf_is_go(int fd)
{
	GElf_Shdr sh;
	Elf_Scn *scn = NULL;
	Elf *elf;
	bool go = false;

	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return false;
	if (find_section(elf, ".go.buildinfo", &sh) || find_section(elf, ".note.go.buildid", &sh))
		go = true;
	while (!go && (scn = elf_nextscn(elf, scn)) != NULL) {
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *n;

			if (!gelf_getsym(d, (int)i, &s))
				break;
			n = elf_strptr(elf, sh.sh_link, s.st_name);
			if (n && strcmp(n, "runtime.main") == 0) {
				go = true;
				break;
			}
		}
	}
	elf_end(elf);
	return go;
}

static void read_dynamic(struct elfobj *o)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(o->elf, scn)) != NULL) {
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Dyn dyn;
			const char *n;

			if (!gelf_getdyn(d, (int)i, &dyn))
				break;
			if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_SONAME)
				continue;
			n = elf_strptr(o->elf, sh.sh_link, dyn.d_un.d_val);
			if (!n)
				continue;
			if (dyn.d_tag == DT_SONAME)
				snprintf(o->soname, sizeof(o->soname), "%s", n);
			else if (o->nneeded < MAX_NEEDED && (o->needed[o->nneeded] = strdup(n)) != NULL)
				o->nneeded++;
		}
	}
}

/* Defined functions of one symbol table that are in WANTS. */
static void scan_symbols(struct elfobj *o, bool symtab)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf32_Word want_type = symtab ? SHT_SYMTAB : SHT_DYNSYM;
	bool is_exe = o->order == 0;

	while ((scn = elf_nextscn(o->elf, scn)) != NULL) {
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != want_type)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *n;

			if (!gelf_getsym(d, (int)i, &s))
				break;
			if (s.st_shndx == SHN_UNDEF || GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_value == 0)
				continue;
			n = elf_strptr(o->elf, sh.sh_link, s.st_name);
			if (!n || (n[0] != 'm' && n[0] != 'c' && n[0] != 'r' && n[0] != 'f' && n[0] != 'p' &&
				   n[0] != 'a' && n[0] != 'v' && n[0] != 's' && n[0] != 'd' && n[0] != 'j' &&
				   n[0] != '_'))
				continue;
			for (size_t w = 0; w < NWANTS; w++) {
				if (o->found[w].ok || strcmp(n, WANTS[w].name) != 0)
					continue;
				/* a local symbol only counts in the executable or for prefixed allocators */
				if (symtab && GELF_ST_BIND(s.st_info) == STB_LOCAL && !is_exe && !WANTS[w].symtab)
					continue;
				if (symtab && !is_exe && !WANTS[w].symtab)
					continue;
				o->found[w].ok = true;
				o->found[w].sym = s;
			}
		}
	}
}

static int obj_open(pid_t pid, struct elfobj *o, const struct procmaps *maps)
{
	GElf_Phdr ph;
	size_t nph;
	GElf_Shdr sh;

	o->fd = procmaps_open_file(pid, o->map);
	if (o->fd < 0)
		return o->fd;
	o->elf = elf_begin(o->fd, ELF_C_READ_MMAP, NULL);
	if (!o->elf || elf_kind(o->elf) != ELF_K_ELF || !gelf_getehdr(o->elf, &o->ehdr))
		return -ENOEXEC;
	if (elf_getphdrnum(o->elf, &nph) != 0)
		return -ENOEXEC;
	/* load bias from the first executable mapping and the PT_LOAD it maps */
	for (size_t i = 0; i < nph; i++) {
		if (!gelf_getphdr(o->elf, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (o->xmap && (ph.p_offset & ~0xfffull) <= o->xmap->offset &&
		    o->xmap->offset < ph.p_offset + ph.p_filesz)
			o->bias = o->xmap->start - o->xmap->offset - (ph.p_vaddr - ph.p_offset);
	}
	if (o->ehdr.e_type == ET_EXEC)
		o->bias = 0;
	for (size_t i = 0; i < maps->n; i++) {
		const struct procmaps_entry *e = &maps->entries[i];

		if (!e->exec || strcmp(e->path, o->map->path) != 0)
			continue;
		if (!o->text_lo || e->start < o->text_lo)
			o->text_lo = e->start;
		if (e->end > o->text_hi)
			o->text_hi = e->end;
	}
	if (find_section(o->elf, ".plt", &sh)) {
		o->plt_lo = sh.sh_addr;
		o->plt_hi = sh.sh_addr + sh.sh_size;
	}
	if (find_section(o->elf, ".plt.sec", &sh)) {
		o->pltsec_lo = sh.sh_addr;
		o->pltsec_hi = sh.sh_addr + sh.sh_size;
	}
	read_dynamic(o);
	return 0;
}

/* Bytes of the function at vaddr: pointer into the mapped file, its file offset and length. */
static const uint8_t *func_bytes(struct elfobj *o, uint64_t vaddr, uint64_t size, uint64_t *ret_off,
				 size_t *ret_len)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(o->elf, scn)) != NULL) {
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS || !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		if (vaddr < sh.sh_addr || vaddr >= sh.sh_addr + sh.sh_size)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size != sh.sh_size)
			return NULL;
		*ret_off = sh.sh_offset + (vaddr - sh.sh_addr);
		*ret_len = size ? size : 16;
		if (*ret_len > MAX_BODY)
			*ret_len = MAX_BODY;
		if (vaddr - sh.sh_addr + *ret_len > sh.sh_size)
			*ret_len = sh.sh_size - (vaddr - sh.sh_addr);
		return (const uint8_t *)d->d_buf + (vaddr - sh.sh_addr);
	}
	return NULL;
}

/* The name of the symbol a PLT stub at vaddr jumps to, or NULL. */
static const char *plt_target_name(struct elfobj *o, uint64_t vaddr)
{
	const uint8_t *b;
	uint64_t off, got = 0;
	size_t len;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (!((vaddr >= o->plt_lo && vaddr < o->plt_hi) || (vaddr >= o->pltsec_lo && vaddr < o->pltsec_hi)))
		return NULL;
	b = func_bytes(o, vaddr, 16, &off, &len);
	if (!b)
		return NULL;
	for (size_t i = 0; i + 6 <= len; i++) {
		int32_t disp;

		if (b[i] == 0xff && b[i + 1] == 0x25) {
			memcpy(&disp, b + i + 2, 4);
			got = vaddr + i + 6 + (int64_t)disp;
			break;
		}
	}
	if (!got)
		return NULL;
	while ((scn = elf_nextscn(o->elf, scn)) != NULL) {
		Elf_Data *d, *symd;
		Elf_Scn *symscn;
		GElf_Shdr symsh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA)
			continue;
		d = elf_getdata(scn, NULL);
		symscn = elf_getscn(o->elf, sh.sh_link);
		if (!d || !symscn || !gelf_getshdr(symscn, &symsh))
			continue;
		symd = elf_getdata(symscn, NULL);
		for (size_t i = 0; symd && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Rela r;
			GElf_Sym s;

			if (!gelf_getrela(d, (int)i, &r))
				break;
			if (r.r_offset != got)
				continue;
			if (!gelf_getsym(symd, (int)GELF_R_SYM(r.r_info), &s))
				return NULL;
			return elf_strptr(o->elf, symsh.sh_link, s.st_name);
		}
	}
	return NULL;
}

struct fwd_ctx {
	struct elfobj *o;
	uint64_t base;       /* vaddr of body[0] */
	bool is_free;        /* looking for a free-like target (else an allocation function) */
	bool forwards;
};

static void check_fwd(void *ctx, size_t at, int64_t target, bool is_call)
{
	struct fwd_ctx *c = ctx;
	uint64_t t = c->base + (uint64_t)target;
	const char *n;

	if (is_call || c->forwards)
		return;
	/* frees: only a pure alias (operator delete = jmp free) counts; a fast path before the
	 * jump would otherwise go unseen */
	if (c->is_free && at > 4)
		return;
	/* direct tail jump to another allocation function of the same object */
	for (size_t w = 0; w < NWANTS; w++) {
		if (c->o->found[w].ok && (WANTS[w].kind == PROFD_HEAP_FREE) == c->is_free &&
		    c->o->found[w].sym.st_value == t &&
		    t != c->base) {
			c->forwards = true;
			return;
		}
	}
	n = plt_target_name(c->o, t);
	if (!n)
		return;
	for (size_t w = 0; w < NWANTS; w++) {
		if ((WANTS[w].kind == PROFD_HEAP_FREE) == c->is_free && strcmp(n, WANTS[w].name) == 0) {
			c->forwards = true;
			return;
		}
	}
}

static bool is_cxx_runtime(const struct elfobj *o)
{
	const char *b = o->soname[0] ? o->soname : base_name(o->map->path);

	return strncmp(b, "libstdc++", 9) == 0 || strncmp(b, "libc++", 6) == 0;
}

static void add_skipped(struct alloc_plan *plan, const char *name)
{
	size_t l = strlen(plan->skipped);

	plan->nskipped++;
	snprintf(plan->skipped + l, sizeof(plan->skipped) - l, "%s%s", l ? ", " : "", name);
}

static void add_trim(struct alloc_plan *plan, uint64_t lo, uint64_t hi)
{
	if (plan->ntrim < ALLOC_MAX_TRIM && hi > lo) {
		plan->trim[plan->ntrim].lo = lo;
		plan->trim[plan->ntrim].hi = hi;
		plan->ntrim++;
	}
}

static int plan_obj(struct alloc_plan *plan, struct elfobj *o)
{
	if (o->plan_obj >= 0)
		return o->plan_obj;
	if (plan->nobjs >= ALLOC_MAX_OBJS)
		return -ENOSPC;
	plan->objs[plan->nobjs].path = strdup(o->map->path);
	if (!plan->objs[plan->nobjs].path)
		return -ENOMEM;
	o->plan_obj = plan->nobjs++;
	plan->objs[o->plan_obj].text_lo = o->text_lo;
	plan->objs[o->plan_obj].text_hi = o->text_hi;
	return o->plan_obj;
}

void alloc_probe_path(const struct alloc_probe *p, pid_t pid, char *out, size_t len)
{
	snprintf(out, len, "/proc/%d/%s", (int)proc_live_pid(pid), p->path);
}

static int add_probe(pid_t pid, struct alloc_plan *plan, struct elfobj *o, size_t w)
{
	const GElf_Sym *s = &o->found[w].sym;
	struct alloc_probe *p;
	const uint8_t *body;
	uint64_t off;
	size_t len, delta = 0;
	bool forwards = false;
	int obj;

	/* aliases (memalign = aligned_alloc) are one function: probe it once */
	for (int i = 0; i < plan->nprobes; i++)
		if (plan->probes[i].addr == o->bias + s->st_value)
			return 0;
	body = func_bytes(o, s->st_value, s->st_size, &off, &len);
	if (!body)
		return -ENOEXEC;
	{
		struct fwd_ctx c = { .o = o, .base = s->st_value, .is_free = WANTS[w].kind == PROFD_HEAP_FREE };

		x86_scan_rel32(body, len, check_fwd, &c);
		forwards = c.forwards;
		/* a small function that tail-jumps to another allocation function is only a wrapper
		 * (reallocarray -> realloc, operator delete -> free): the callee's probe sees it */
		if (forwards && s->st_size && s->st_size <= 64) {
			add_skipped(plan, WANTS[w].name);
			add_trim(plan, o->bias + s->st_value, o->bias + s->st_value + s->st_size);
			return 0;
		}
	}
	if (plan->nprobes >= ALLOC_MAX_PROBES)
		return -ENOSPC;
	obj = plan_obj(plan, o);
	if (obj < 0)
		return obj;
	if (s->st_size)
		delta = x86_probe_offset(body, len, kind_args(WANTS[w].kind));
	p = &plan->probes[plan->nprobes];
	if (o->map->deleted) {
		if (asprintf(&p->path, "map_files/%llx-%llx", (unsigned long long)o->map->start,
			     (unsigned long long)o->map->end) < 0)
			p->path = NULL;
	} else if (asprintf(&p->path, "root%s", o->map->path) < 0) {
		p->path = NULL;
	}
	if (!p->path)
		return -ENOMEM;
	plan->nprobes++;
	snprintf(p->name, sizeof(p->name), "%s", WANTS[w].name);
	p->file_offset = off + delta;
	p->addr = o->bias + s->st_value;
	p->delta = (uint32_t)delta;
	p->stepped = delta >= len || x86_emulated_len(body + delta, len - delta) == 0;
	p->kind = WANTS[w].kind;
	p->obj = obj;
	p->tail_forwards = forwards;
	add_trim(plan, p->addr, p->addr + (s->st_size ? s->st_size : 1));
	return 0;
}

static int read_preload(pid_t pid, char *out, size_t len)
{
	char path[64], buf[65536];
	ssize_t n;
	int fd;

	out[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)proc_live_pid(pid));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	for (ssize_t i = 0; i < n;) {
		const char *v = buf + i;

		if (strncmp(v, "LD_PRELOAD=", 11) == 0) {
			snprintf(out, len, "%s", v + 11);
			break;
		}
		i += (ssize_t)strlen(v) + 1;
	}
	return 0;
}

static struct elfobj *match_name(struct elfobj *objs, int n, const char *name)
{
	for (int i = 0; i < n; i++) {
		if (!objs[i].elf)
			continue;
		/* LD_PRELOAD and DT_NEEDED name a soname or a symlink (libtcmalloc.so.4), maps shows
		 * the file behind it (libtcmalloc.so.4.5.10): compare sonames too */
		if (strcmp(objs[i].map->path, name) == 0 || strcmp(objs[i].soname, base_name(name)) == 0 ||
		    strcmp(base_name(objs[i].map->path), base_name(name)) == 0)
			return &objs[i];
	}
	return NULL;
}

/* Sorts objects into the dynamic linker's search order; returns the ordered pointers. */
static int lookup_order(pid_t pid, struct elfobj *objs, int n, const char *exe, struct elfobj **ord)
{
	char preload[4096], *save = NULL, *tok;
	int k = 0;
	struct elfobj *o;

	o = match_name(objs, n, exe);
	if (!o)
		for (int i = 0; i < n && !o; i++)
			if (objs[i].elf && objs[i].ehdr.e_type == ET_EXEC)
				o = &objs[i];
	if (o) {
		o->order = k;
		ord[k++] = o;
	}
	read_preload(pid, preload, sizeof(preload));
	for (tok = strtok_r(preload, ": \t", &save); tok; tok = strtok_r(NULL, ": \t", &save)) {
		o = match_name(objs, n, tok);
		if (o && o->order < 0) {
			o->order = k;
			ord[k++] = o;
		}
	}
	for (int q = 0; q < k; q++) {
		for (int j = 0; j < ord[q]->nneeded; j++) {
			o = match_name(objs, n, ord[q]->needed[j]);
			if (o && o->order < 0) {
				o->order = k;
				ord[k++] = o;
			}
		}
	}
	for (int i = 0; i < n; i++) { /* dlopen()ed objects last */
		if (objs[i].elf && objs[i].order < 0) {
			objs[i].order = k;
			ord[k++] = &objs[i];
		}
	}
	return k;
}

static void name_allocator(struct alloc_plan *plan, struct elfobj **ord, int n)
{
	for (int i = 0; i < n; i++) {
		struct elfobj *o = ord[i];
		bool has = false, je = false, tc = false, mi = false;

		for (size_t w = 0; w < NWANTS; w++) {
			if (!o->found[w].ok || WANTS[w].cxx)
				continue;
			has = true;
			if (strstr(WANTS[w].name, "allocx") || strncmp(WANTS[w].name, "je_", 3) == 0 ||
			    strncmp(WANTS[w].name, "_rjem_", 6) == 0)
				je = true;
			if (strncmp(WANTS[w].name, "mi_", 3) == 0)
				mi = true;
		}
		if (!has)
			continue;
		if (strstr(base_name(o->map->path), "tcmalloc"))
			tc = true;
		if (strstr(base_name(o->map->path), "mimalloc"))
			mi = true;
		snprintf(plan->allocator, sizeof(plan->allocator), "%s",
			 je ? "jemalloc" : tc ? "tcmalloc" : mi ? "mimalloc" :
			 (strncmp(base_name(o->map->path), "libc.so", 7) == 0 || o->order == 0) ? "glibc" : "unknown");
		free(plan->where);
		plan->where = strdup(o->map->path); /* NULL (no memory): described as "" */
		plan->is_static = o->order == 0;
		return;
	}
}

int alloc_plan_build(pid_t pid, struct alloc_plan *plan, char *err, size_t errlen)
{
	struct procmaps maps = { 0 };
	struct elfobj *objs = NULL, **ord = NULL;
	char exe[4096], path[64];
	ssize_t l;
	int n = 0, nord, r;

	alloc_plan_release(plan);
	snprintf(plan->allocator, sizeof(plan->allocator), "unknown");
	if (err && errlen)
		err[0] = 0;
	elf_version(EV_CURRENT);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)proc_live_pid(pid));
	l = readlink(path, exe, sizeof(exe) - 1);
	exe[l > 0 ? l : 0] = 0;
	if (l > 10 && strcmp(exe + l - 10, " (deleted)") == 0)
		exe[l - 10] = 0;
	r = procmaps_read(pid, &maps);
	if (r < 0) {
		if (err)
			snprintf(err, errlen, "cannot read /proc/%d/maps: %s", (int)pid, strerror(-r));
		return r;
	}
	objs = calloc(MAX_ELF_OBJS, sizeof(*objs));
	ord = calloc(MAX_ELF_OBJS, sizeof(*ord));
	if (!objs || !ord) {
		r = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < maps.n && n < MAX_ELF_OBJS; i++) {
		const struct procmaps_entry *e = &maps.entries[i];
		bool seen = false;

		if (!procmaps_entry_is_file(e))
			continue;
		for (int j = 0; j < n && !seen; j++) {
			if (strcmp(objs[j].map->path, e->path) == 0) {
				seen = true;
				if (e->exec && !objs[j].xmap)
					objs[j].xmap = e;
			}
		}
		if (seen)
			continue;
		objs[n].map = e;
		objs[n].xmap = e->exec ? e : NULL;
		objs[n].fd = -1;
		objs[n].order = -1;
		objs[n].plan_obj = -1;
		n++;
	}
	for (int i = 0; i < n; i++) {
		if (!objs[i].xmap || obj_open(pid, &objs[i], &maps) < 0) {
			if (objs[i].elf)
				elf_end(objs[i].elf);
			objs[i].elf = NULL;
		}
	}
	nord = lookup_order(pid, objs, n, exe, ord);
	if (nord > 0 && ord[0]->order == 0 && alloc_elf_is_go(ord[0]->fd)) {
		if (err)
			snprintf(err, errlen,
				 "pid %d (%s) is a Go program: Go has its own allocator and heap profiler "
				 "(net/http/pprof), and uretprobes corrupt Go stacks; heap probes refused",
				 (int)pid, exe);
		r = -EPROTONOSUPPORT;
		goto cleanup;
	}
	for (int i = 0; i < nord; i++) {
		scan_symbols(ord[i], false);
		scan_symbols(ord[i], true);
	}
	/* each name binds to its first definition in lookup order */
	for (size_t w = 0; w < NWANTS; w++) {
		for (int i = 0; i < nord; i++) {
			struct elfobj *o = ord[i];

			if (!o->found[w].ok)
				continue;
			if (WANTS[w].cxx && is_cxx_runtime(o)) {
				/* libstdc++'s operators call malloc/free: those probes see them */
				add_trim(plan, o->bias + o->found[w].sym.st_value,
					 o->bias + o->found[w].sym.st_value + o->found[w].sym.st_size);
			} else {
				r = add_probe(pid, plan, o, w);
				if (r < 0 && r != -ENOEXEC) {
					if (err)
						snprintf(err, errlen, "too many allocator functions or objects in pid %d",
							 (int)pid);
					goto cleanup;
				}
			}
			break;
		}
	}
	name_allocator(plan, ord, nord);
	/* a dedicated allocator library (not libc, not the executable): every leading frame inside
	 * it is the allocator's own, whichever entry point was probed */
	for (int i = 0; i < nord; i++) {
		struct elfobj *o = ord[i];
		const char *b = o->soname[0] ? o->soname : base_name(o->map->path);

		if (o->plan_obj >= 0 && o->order > 0 && strncmp(b, "libc.so", 7) != 0)
			add_trim(plan, o->text_lo, o->text_hi);
	}
	r = 0;
	if (plan->nprobes == 0) {
		if (err)
			snprintf(err, errlen,
				 "no allocator function (malloc, je_malloc, ...) found in pid %d (%s): a stripped "
				 "static binary has no symbols to probe",
				 (int)pid, exe);
		r = -ENOENT;
	}
cleanup:
	for (int i = 0; objs && i < n; i++)
		obj_close(&objs[i]);
	free(objs);
	free(ord);
	procmaps_free(&maps);
	return r;
}

void alloc_plan_release(struct alloc_plan *plan)
{
	for (int i = 0; i < plan->nprobes; i++)
		free(plan->probes[i].path);
	for (int i = 0; i < plan->nobjs; i++)
		free(plan->objs[i].path);
	free(plan->where);
	memset(plan, 0, sizeof(*plan));
}

int alloc_plan_describe(const struct alloc_plan *plan, char *out, size_t len)
{
	size_t used;
	int w;

	w = snprintf(out, len, "allocator: %s (%s%s), %d probes:", plan->allocator, base_name(plan->where ? plan->where : ""),
		     plan->is_static ? ", statically linked" : "", plan->nprobes);
	used = w > 0 ? (size_t)w : 0;
	for (int i = 0; i < plan->nprobes; i++) {
		char d[16] = "";

		if (plan->probes[i].delta)
			snprintf(d, sizeof(d), "+%u", plan->probes[i].delta);
		w = snprintf(out + (used < len ? used : len), used < len ? len - used : 0, " %s%s%s",
			     plan->probes[i].name, d, i + 1 < plan->nprobes ? "," : "");
		used += w > 0 ? (size_t)w : 0;
	}
	if (plan->nskipped) {
		w = snprintf(out + (used < len ? used : len), used < len ? len - used : 0,
			     "; not probed (forward to a probed function): %s", plan->skipped);
		used += w > 0 ? (size_t)w : 0;
	}
	return (int)used;
}

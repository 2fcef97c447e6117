// SPDX-License-Identifier: MIT
/* Per-file CFI shared across unwinders (cfifile.h). The registry is a list under one lock (it
 * holds at most CFIFILE_MAX_FILES, searched when a process maps a file for the first time); each
 * file has its own lock around libdw, which is not thread-safe on one object. Rules are built the
 * way libdwfl's unwinder finds CFI (.eh_frame, then .debug_frame of the file itself) and kept in a
 * direct-mapped cache per file that grows with use. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <gelf.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "stacks/cfifile.h"
#include "stacks/cfiscan.h"
#include "stacks/complete.h"

#define MAX_LOADS 16
#define MAX_BUILD_ID 64

struct load {
	uint64_t vaddr, memsz, offset, filesz;
	bool exec;
};

struct cfifile {
	struct cfifile *next, *prev;           /* every file */
	struct cfifile *idle_next, *idle_prev; /* unreferenced files, oldest first */
	int refs;
	/* identity */
	bool is_image;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	unsigned char build_id[MAX_BUILD_ID];
	size_t build_id_len;
	void *image;            /* an image's bytes (the Elf reads them), owned */
	size_t image_size;
	/* facts read at creation, immutable */
	uint16_t e_type;
	struct load loads[MAX_LOADS];
	int nloads;
	unsigned safe;          /* cfiscan_check() */
	/* under lock: libdw's state and the rules */
	pthread_mutex_t lock;
	Elf *elf;
	Dwarf_CFI *eh;          /* dwarf_getcfi_elf(), ours to end */
	Dwarf *dw;              /* for .debug_frame: dwarf_getcfi(dw) is the Dwarf's */
	Dwarf_CFI *dbg;
	bool eh_tried, dbg_tried;
	struct cfi_rule *rules; /* nrules (a power of two) entries, NULL until the first rule */
	size_t nrules, nbuilt;
	struct {
		uint64_t vaddr;
		int8_t root;    /* 0 unknown, 1 a root function, -1 not */
	} roots[CFIFILE_ROOT_CACHE];
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cfifile *all_head;
static struct cfifile *idle_head, *idle_tail;
static int nfiles, nidle;
static size_t rules_bytes; /* every file's rule cache, atomically */
static bool full_said;

/* true when expr_eval() in unwind.c evaluates every operation of ops (CFI comes from the target's
 * files: anything unexpected goes to libdwfl). */
static bool ops_supported(const Dwarf_Op *ops, size_t nops, bool cfa_allowed)
{
	for (size_t i = 0; i < nops; i++) {
		unsigned atom = ops[i].atom;

		if ((atom >= DW_OP_lit0 && atom <= DW_OP_lit31) || (atom >= DW_OP_breg0 && atom <= DW_OP_breg16) ||
		    (atom >= DW_OP_reg0 && atom <= DW_OP_reg16))
			continue;
		switch (atom) {
		case DW_OP_const1u: case DW_OP_const1s: case DW_OP_const2u: case DW_OP_const2s:
		case DW_OP_const4u: case DW_OP_const4s: case DW_OP_const8u: case DW_OP_const8s:
		case DW_OP_constu: case DW_OP_consts: case DW_OP_dup: case DW_OP_drop: case DW_OP_pick:
		case DW_OP_over: case DW_OP_swap: case DW_OP_rot: case DW_OP_deref: case DW_OP_deref_size:
		case DW_OP_abs: case DW_OP_neg: case DW_OP_not: case DW_OP_plus_uconst: case DW_OP_and:
		case DW_OP_minus: case DW_OP_mul: case DW_OP_or: case DW_OP_plus: case DW_OP_shl:
		case DW_OP_shr: case DW_OP_shra: case DW_OP_xor: case DW_OP_le: case DW_OP_ge: case DW_OP_eq:
		case DW_OP_lt: case DW_OP_gt: case DW_OP_ne: case DW_OP_nop: case DW_OP_stack_value:
			continue;
		case DW_OP_regx:
		case DW_OP_bregx:
			if (ops[i].number < UNWIND_NREGS)
				continue;
			return false;
		case DW_OP_call_frame_cfa:
			if (cfa_allowed)
				continue;
			return false;
		default:
			return false;
		}
	}
	return nops > 0;
}

/* true when libdwfl's expr_eval (elfutils 0.188) could give up on ops without freeing its
 * expression stack: an operation it does not know, or DW_OP_GNU_encoded_addr, after a push; or
 * a jump backwards, a loop it cuts at its step bound. libdwfl evaluates every register of a
 * frame it unwinds, so a frame holding such an expression anywhere must not reach it: found by
 * fuzz_unwind, which leaked on every sample through such CFI. */
static bool libdwfl_would_leak(const Dwarf_Op *ops, size_t nops)
{
	for (size_t i = 0; i < nops; i++) {
		unsigned atom = ops[i].atom;

		if ((atom >= DW_OP_lit0 && atom <= DW_OP_lit31) || (atom >= DW_OP_reg0 && atom <= DW_OP_reg31) ||
		    (atom >= DW_OP_breg0 && atom <= DW_OP_breg31))
			continue;
		switch (atom) {
		case DW_OP_addr: case DW_OP_const1u: case DW_OP_const1s: case DW_OP_const2u: case DW_OP_const2s:
		case DW_OP_const4u: case DW_OP_const4s: case DW_OP_const8u: case DW_OP_const8s: case DW_OP_constu:
		case DW_OP_consts: case DW_OP_regx: case DW_OP_bregx: case DW_OP_dup: case DW_OP_drop:
		case DW_OP_pick: case DW_OP_over: case DW_OP_swap: case DW_OP_rot: case DW_OP_deref:
		case DW_OP_deref_size: case DW_OP_abs: case DW_OP_neg: case DW_OP_not: case DW_OP_plus_uconst:
		case DW_OP_and: case DW_OP_div: case DW_OP_minus: case DW_OP_mod: case DW_OP_mul: case DW_OP_or:
		case DW_OP_plus: case DW_OP_shl: case DW_OP_shr: case DW_OP_shra: case DW_OP_xor: case DW_OP_le:
		case DW_OP_ge: case DW_OP_eq: case DW_OP_lt: case DW_OP_gt: case DW_OP_ne: case DW_OP_nop:
		case DW_OP_call_frame_cfa: case DW_OP_stack_value:
			continue;
		case DW_OP_bra:
		case DW_OP_skip:
			if ((int16_t)ops[i].number < 0)
				return true;
			continue;
		default:
			return true;
		}
	}
	return false;
}

static void rule_of_register(Dwarf_Frame *frame, int regno, struct reg_rule *rr, bool *fast, bool *leaky)
{
	Dwarf_Op mem[3], *ops;
	size_t nops;

	rr->kind = REG_UNDEF;
	if (dwarf_frame_register(frame, regno, mem, &ops, &nops) != 0)
		return; /* libdwfl leaves such a register unset as well */
	if (nops == 0) {
		if (ops == NULL)
			rr->kind = REG_SAME;
		return;
	}
	if (ops == mem) { /* the forms libdw spells out itself: offset(N), val_offset(N), register(R) */
		bool val = ops[nops - 1].atom == DW_OP_stack_value;
		size_t n = val ? nops - 1 : nops;

		if (n >= 1 && ops[0].atom == DW_OP_call_frame_cfa &&
		    (n == 1 || (n == 2 && ops[1].atom == DW_OP_plus_uconst))) {
			rr->kind = val ? REG_CFA_PLUS : REG_AT_CFA;
			rr->u.off = n == 2 ? (int64_t)ops[1].number : 0;
			return;
		}
		if (nops == 1 && ops[0].atom == DW_OP_regx && ops[0].number < UNWIND_NREGS) {
			rr->kind = REG_COPY;
			rr->u.reg = (uint8_t)ops[0].number;
			return;
		}
		*fast = false;
		return;
	}
	/* an expression, interned in the CFI's cache: it lives as long as the file */
	if (libdwfl_would_leak(ops, nops))
		*leaky = true;
	if (!ops_supported(ops, nops, true) || nops > UINT16_MAX) {
		*fast = false;
		return;
	}
	rr->kind = REG_EXPR;
	rr->u.ops = ops;
	rr->nops = (uint16_t)nops;
}

/* The file's CFI: pass 0 .eh_frame, pass 1 .debug_frame (of the file itself: no separate debug
 * file, no debuginfod round trip while samples wait). Under f->lock. */
static Dwarf_CFI *file_cfi(struct cfifile *f, int pass)
{
	if (pass == 0) {
		if (!f->eh_tried) {
			f->eh_tried = true;
			f->eh = dwarf_getcfi_elf(f->elf);
		}
		return f->eh;
	}
	if (!f->dbg_tried) {
		f->dbg_tried = true;
		f->dw = dwarf_begin_elf(f->elf, DWARF_C_READ, NULL);
		f->dbg = f->dw ? dwarf_getcfi(f->dw) : NULL;
	}
	return f->dbg;
}

/* Builds the rule at file address vaddr, and records what libdw says for the CFA and each
 * register. Rules with expressions the fast walker does not evaluate are marked not fast. */
static void rule_build(struct cfifile *f, uint64_t vaddr, struct cfi_rule *r)
{
	Dwarf_Frame *frame = NULL;
	Dwarf_Op *ops;
	size_t nops;
	bool leaky = false;
	int ra;

	memset(r, 0, sizeof(*r));
	r->valid = true;
	r->addr = vaddr;
	r->status = RULE_NO_CFI;
	/* CFI that failed cfiscan_check() never reaches libdw; nor the file's at all when its
	 * .eh_frame failed, since libdwfl's own walk would read that first */
	if (!(f->safe & CFISCAN_EH_OK))
		return;
	for (int pass = 0; pass < 2 && !frame; pass++) {
		Dwarf_CFI *cfi;

		if (pass == 1 && !(f->safe & CFISCAN_DEBUG_OK))
			break;
		cfi = file_cfi(f, pass);
		if (cfi && dwarf_cfi_addrframe(cfi, vaddr, &frame) != 0)
			frame = NULL;
	}
	if (!frame)
		return;
	r->status = RULE_OK;
	r->fast = true;
	ra = dwarf_frame_info(frame, NULL, NULL, &r->signal);
	if (ra != UNWIND_REG_RIP)
		r->fast = false;
	if (dwarf_frame_cfa(frame, &ops, &nops) != 0) {
		r->fast = false;
	} else if (nops == 0) {
		r->cfa_kind = CFA_UNDEF;
	} else if (nops == 1 && ops[0].atom == DW_OP_bregx && ops[0].number < UNWIND_NREGS) {
		/* ops points into frame: copy */
		r->cfa_kind = CFA_REG;
		r->cfa_reg = (uint8_t)ops[0].number;
		r->cfa_off = (int64_t)ops[0].number2;
	} else if (ops_supported(ops, nops, false) && nops <= UINT16_MAX) {
		r->cfa_kind = CFA_EXPR;
		r->cfa_ops = ops;
		r->cfa_nops = (uint16_t)nops;
	} else {
		leaky = libdwfl_would_leak(ops, nops);
		r->fast = false;
	}
	for (int regno = 0; regno < UNWIND_NREGS; regno++)
		rule_of_register(frame, regno, &r->regs[regno], &r->fast, &leaky);
	/* neither walk goes through such a frame: it is not CFI a compiler writes */
	if (leaky)
		r->status = RULE_NO_CFI;
	free(frame);
}

static size_t rule_slot(uint64_t vaddr, size_t n)
{
	return (size_t)((vaddr * 0x9e3779b97f4a7c15ull) >> 32) & (n - 1);
}

/* Grows the rule cache by four (up to CFIFILE_RULES_MAX) once half of it was built: a file
 * whose hot addresses are few costs a few KiB. Under f->lock. */
static void rules_grow(struct cfifile *f)
{
	size_t n = f->rules ? f->nrules * 4 : CFIFILE_RULES_MIN;
	struct cfi_rule *v;

	if (n > CFIFILE_RULES_MAX)
		return;
	if (__atomic_add_fetch(&rules_bytes, n * sizeof(*v), __ATOMIC_RELAXED) > CFIFILE_RULES_BUDGET ||
	    !(v = calloc(n, sizeof(*v)))) {
		__atomic_sub_fetch(&rules_bytes, n * sizeof(*v), __ATOMIC_RELAXED);
		return;
	}
	__atomic_sub_fetch(&rules_bytes, f->nrules * sizeof(*v), __ATOMIC_RELAXED);
	for (size_t i = 0; i < f->nrules; i++)
		if (f->rules[i].valid)
			v[rule_slot(f->rules[i].addr, n)] = f->rules[i];
	free(f->rules);
	f->rules = v;
	f->nrules = n;
	f->nbuilt = 0;
}

void cfifile__rule(struct cfifile *f, uint64_t vaddr, struct cfi_rule *ret)
{
	struct cfi_rule *r;

	pthread_mutex_lock(&f->lock);
	if (!f->rules || (f->nbuilt > f->nrules / 2 && f->nrules < CFIFILE_RULES_MAX))
		rules_grow(f);
	if (!f->rules) {
		rule_build(f, vaddr, ret); /* out of memory: uncached */
		pthread_mutex_unlock(&f->lock);
		return;
	}
	r = &f->rules[rule_slot(vaddr, f->nrules)];
	if (!r->valid || r->addr != vaddr) {
		rule_build(f, vaddr, r);
		f->nbuilt++;
	}
	*ret = *r;
	pthread_mutex_unlock(&f->lock);
}

/* The name of the function symbol holding vaddr in the symbol table of type (SHT_SYMTAB or
 * SHT_DYNSYM): one whose range holds it, else the nearest sizeless one below it; NULL if none.
 * Under f->lock. */
static const char *symbol_at(struct cfifile *f, uint64_t vaddr, GElf_Word type)
{
	const char *sized = NULL, *sizeless = NULL;
	uint64_t sizeless_at = 0;
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(f->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type || !sh.sh_entsize || !(d = elf_getdata(scn, NULL)))
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym s;
			int t;

			if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF || s.st_value > vaddr)
				continue;
			t = GELF_ST_TYPE(s.st_info);
			if (t != STT_FUNC && t != STT_NOTYPE && t != STT_GNU_IFUNC)
				continue;
			if (s.st_size && vaddr - s.st_value < s.st_size) {
				/* a global name wins over a local alias */
				if (!sized || GELF_ST_BIND(s.st_info) == STB_GLOBAL)
					sized = elf_strptr(f->elf, sh.sh_link, s.st_name);
			} else if (!s.st_size && (!sizeless || s.st_value > sizeless_at)) {
				sizeless = elf_strptr(f->elf, sh.sh_link, s.st_name);
				sizeless_at = s.st_value;
			}
		}
	}
	return sized ? sized : sizeless;
}

bool cfifile__root_function(struct cfifile *f, uint64_t vaddr)
{
	unsigned slot = (unsigned)((vaddr ^ (vaddr >> 7) ^ (vaddr >> 17)) % CFIFILE_ROOT_CACHE);
	const char *name;
	bool root;

	pthread_mutex_lock(&f->lock);
	if (f->roots[slot].root && f->roots[slot].vaddr == vaddr) {
		root = f->roots[slot].root > 0;
		pthread_mutex_unlock(&f->lock);
		return root;
	}
	name = symbol_at(f, vaddr, SHT_SYMTAB);
	if (!name)
		name = symbol_at(f, vaddr, SHT_DYNSYM);
	root = name && stack_root_function(name);
	f->roots[slot].vaddr = vaddr;
	f->roots[slot].root = root ? 1 : -1;
	pthread_mutex_unlock(&f->lock);
	return root;
}

int cfifile__place(const struct cfifile *f, const struct procmaps_entry *e, uint64_t *ret_bias, uint64_t *ret_low,
		   uint64_t *ret_high)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), bias = 0, low = UINT64_MAX, high = 0;
	int err = e ? -ENOEXEC : 0;

	/* the segment holding e's file offset maps p_offset to p_vaddr + bias. Two segments can
	 * share a file page (lld puts the first code page right after the read-only data, with
	 * p_vaddr = p_offset + 0x1000): the one whose permissions match the mapping is the one */
	for (int i = 0; e && i < f->nloads; i++) {
		const struct load *l = &f->loads[i];

		/* the kernel maps whole pages: the segment starts at p_offset rounded down */
		if (e->offset < (l->offset & ~(page - 1)) || e->offset >= l->offset + l->filesz)
			continue;
		if (err == 0 && !l->exec != !e->exec)
			continue; /* keep the first match unless this one has the mapping's permissions */
		bias = e->start - e->offset + l->offset - l->vaddr;
		err = 0;
		if (!l->exec == !e->exec)
			break;
	}
	/* an executable is at its link addresses; a mapping of it elsewhere is a copy of its code */
	if (e && f->e_type == ET_EXEC) {
		if (err == 0 && bias != 0)
			return -EEXIST;
		bias = 0;
		err = 0;
	}
	if (err)
		return err;
	for (int i = 0; i < f->nloads; i++) {
		const struct load *l = &f->loads[i];

		if ((l->vaddr & ~(page - 1)) < low)
			low = l->vaddr & ~(page - 1);
		if (l->vaddr + l->memsz > high)
			high = l->vaddr + l->memsz;
	}
	if (low >= high)
		return -ENOEXEC;
	*ret_bias = bias;
	*ret_low = low + bias;
	*ret_high = high + bias;
	return 0;
}

/* Reads what identifies the file and where its segments go. Returns 0 or -ENOEXEC (not an
 * x86-64 ELF: registers come in x86-64 DWARF numbering). */
static int read_facts(Elf *elf, struct cfifile *f)
{
	const void *id = NULL;
	GElf_Ehdr ehdr;
	size_t phnum;
	ssize_t idlen;

	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr) || ehdr.e_machine != EM_X86_64 ||
	    elf_getphdrnum(elf, &phnum) != 0)
		return -ENOEXEC;
	f->e_type = ehdr.e_type;
	for (size_t i = 0; i < phnum && f->nloads < MAX_LOADS; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		f->loads[f->nloads++] = (struct load){ ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz,
						       (ph.p_flags & PF_X) != 0 };
	}
	idlen = dwelf_elf_gnu_build_id(elf, &id);
	if (idlen > 0 && idlen <= MAX_BUILD_ID) {
		memcpy(f->build_id, id, (size_t)idlen);
		f->build_id_len = (size_t)idlen;
	}
	return f->nloads ? 0 : -ENOEXEC;
}

static void idle_remove(struct cfifile *f)
{
	if (f->idle_prev)
		f->idle_prev->idle_next = f->idle_next;
	else if (idle_head == f)
		idle_head = f->idle_next;
	else
		return; /* not idle */
	if (f->idle_next)
		f->idle_next->idle_prev = f->idle_prev;
	else
		idle_tail = f->idle_prev;
	f->idle_next = f->idle_prev = NULL;
	nidle--;
}

static void idle_append(struct cfifile *f)
{
	f->idle_prev = idle_tail;
	f->idle_next = NULL;
	if (idle_tail)
		idle_tail->idle_next = f;
	else
		idle_head = f;
	idle_tail = f;
	nidle++;
}

/* Frees a file no registry lists (never inserted, or just unlinked). */
static void file_free(struct cfifile *f)
{
	if (!f)
		return;
	if (f->eh)
		dwarf_cfi_end(f->eh);
	if (f->dw)
		dwarf_end(f->dw); /* ends f->dbg too */
	if (f->elf)
		elf_end(f->elf);
	free(f->image);
	if (f->rules)
		__atomic_sub_fetch(&rules_bytes, f->nrules * sizeof(*f->rules), __ATOMIC_RELAXED);
	free(f->rules);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Unlinks and frees an idle file. Under reg_lock. */
static void file_destroy(struct cfifile *f)
{
	idle_remove(f);
	if (f->prev)
		f->prev->next = f->next;
	else
		all_head = f->next;
	if (f->next)
		f->next->prev = f->prev;
	nfiles--;
	file_free(f);
}

static bool same_file(const struct cfifile *a, const struct cfifile *b)
{
	if (a->is_image || b->is_image)
		return a->is_image && b->is_image && a->image_size == b->image_size &&
		       !memcmp(a->image, b->image, a->image_size);
	if (a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec)
		return true;
	return a->build_id_len && a->build_id_len == b->build_id_len &&
	       !memcmp(a->build_id, b->build_id, a->build_id_len);
}

/* Under reg_lock. */
static struct cfifile *ref_locked(struct cfifile *f)
{
	if (f->refs++ == 0)
		idle_remove(f);
	return f;
}

/* Under reg_lock: f's twin, referenced, or NULL. */
static struct cfifile *find_twin(const struct cfifile *f, bool stat_only)
{
	for (struct cfifile *o = all_head; o; o = o->next) {
		if (stat_only ? (!o->is_image && o->dev == f->dev && o->ino == f->ino && o->size == f->size &&
				 o->mtime.tv_sec == f->mtime.tv_sec && o->mtime.tv_nsec == f->mtime.tv_nsec)
			      : same_file(o, f))
			return ref_locked(o);
	}
	return NULL;
}

/* Takes a new file (its facts read) into the registry, or hands out its twin and frees it. */
static int insert(struct cfifile *f, struct cfifile **ret)
{
	struct cfifile *twin;

	pthread_mutex_lock(&reg_lock);
	twin = find_twin(f, false);
	if (twin) {
		pthread_mutex_unlock(&reg_lock);
		file_free(f);
		*ret = twin;
		return 0;
	}
	while (nfiles >= CFIFILE_MAX_FILES && idle_head)
		file_destroy(idle_head);
	if (nfiles >= CFIFILE_MAX_FILES) {
		bool said = full_said;

		full_said = true;
		pthread_mutex_unlock(&reg_lock);
		file_free(f);
		if (!said)
			log_warn("unwind: %d files mapped at once by the processes served: the code of further ones "
				 "is walked by frame pointer only", CFIFILE_MAX_FILES);
		return -ENOSPC;
	}
	f->refs = 1;
	f->next = all_head;
	if (all_head)
		all_head->prev = f;
	all_head = f;
	nfiles++;
	pthread_mutex_unlock(&reg_lock);
	*ret = f;
	return 0;
}

static struct cfifile *file_new(void)
{
	struct cfifile *f = calloc(1, sizeof(*f));

	if (f)
		pthread_mutex_init(&f->lock, NULL);
	return f;
}

int cfifile_get_fd(int fd, struct cfifile **ret)
{
	struct cfifile *f, *twin;
	struct stat st;
	int err;

	*ret = NULL;
	if (fstat(fd, &st) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	f = file_new();
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	/* the usual case: another process maps the very same file */
	pthread_mutex_lock(&reg_lock);
	twin = find_twin(f, true);
	pthread_mutex_unlock(&reg_lock);
	if (twin) {
		close(fd);
		file_free(f);
		*ret = twin;
		return 0;
	}
	elf_version(EV_CURRENT);
	f->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	err = f->elf ? read_facts(f->elf, f) : -ENOEXEC;
	/* everything is read through the mapping from here on (or read in now if it could not be
	 * mapped): no descriptor is kept per file */
	if (!err && elf_cntl(f->elf, ELF_C_FDREAD) != 0)
		err = -EIO;
	close(fd);
	if (err) {
		file_free(f);
		return err;
	}
	f->safe = cfiscan_check(f->elf);
	return insert(f, ret);
}

int cfifile_get_image(const void *image, size_t size, struct cfifile **ret)
{
	struct cfifile *f;
	int err;

	*ret = NULL;
	if (!image || !size)
		return -EINVAL;
	f = file_new();
	if (!f || !(f->image = malloc(size))) {
		file_free(f);
		return -ENOMEM;
	}
	memcpy(f->image, image, size);
	f->image_size = size;
	f->is_image = true;
	elf_version(EV_CURRENT);
	f->elf = elf_memory(f->image, size);
	err = f->elf ? read_facts(f->elf, f) : -ENOEXEC;
	if (err) {
		file_free(f);
		return err;
	}
	f->safe = cfiscan_check(f->elf);
	return insert(f, ret);
}

struct cfifile *cfifile__ref(struct cfifile *f)
{
	if (!f)
		return NULL;
	pthread_mutex_lock(&reg_lock);
	ref_locked(f);
	pthread_mutex_unlock(&reg_lock);
	return f;
}

void cfifile__put(struct cfifile *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&reg_lock);
	if (--f->refs == 0) {
		idle_append(f);
		while (nidle > CFIFILE_IDLE_MAX)
			file_destroy(idle_head);
	}
	pthread_mutex_unlock(&reg_lock);
}

int cfifile_count(void)
{
	int n;

	pthread_mutex_lock(&reg_lock);
	n = nfiles;
	pthread_mutex_unlock(&reg_lock);
	return n;
}

int cfifile__refs(struct cfifile *f)
{
	int n;

	pthread_mutex_lock(&reg_lock);
	n = f->refs;
	pthread_mutex_unlock(&reg_lock);
	return n;
}

void cfifile_flush(void)
{
	pthread_mutex_lock(&reg_lock);
	while (idle_head)
		file_destroy(idle_head);
	pthread_mutex_unlock(&reg_lock);
}

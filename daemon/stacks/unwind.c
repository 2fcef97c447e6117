// SPDX-License-Identifier: MIT
/* DWARF CFI unwinder over copied stacks, on libdw 0.188. Per target only the layout: every
 * executable x86-64 ELF mapping (and the vDSO) as a module at its load bias, each pointing at its
 * file's CFI shared with every other process that maps the file (cfifile.h: one ELF, one CFI
 * parse, one rule cache per file, however many processes). A walker evaluates per-address rules
 * read once from libdw's CFI and cached by file address; a frame whose CFI uses an expression it
 * does not evaluate sends the sample through libdwfl's own walk (one fake thread: registers from
 * the sample, memory from the copy), with a Dwfl the target gets at its first such frame. A pc without CFI in executable memory (JIT code, a
 * file mapped a second time, assembly without CFI) is walked through its frame pointer, checked
 * at each step (inside the copy, above the previous frame, returning into executable memory),
 * and CFI takes over again at the first pc that has it; anything else ends the walk with a reason.
 * All public calls take uw->lock (libdwfl is not thread-safe). */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"
#include "proc/procmaps.h"
#include "proc/target.h"
#include "stacks/cfifile.h"
#include "stacks/complete.h"
#include "stacks/samples.h"
#include "stacks/unwind.h"

/* Bounds: modules per target, and the size of a vDSO image we are willing to copy. */
#define UNWIND_MAX_MODULES 8192
/* Bound on executable ranges (every executable mapping, JIT code included; as procmaps). */
#define UNWIND_MAX_CODE 65536
#define UNWIND_MAX_VDSO (1u << 20)
/* Rules this process walked through last, by runtime address (copies of its files' shared rules,
 * about 330 bytes each): a hot stack's frames without a lock each. Allocated at the first walk,
 * so a process never sampled costs nothing; cleared when its modules change. */
#define UNWIND_RULE_CACHE 32
/* As libdwfl: bound on a DWARF expression's stack. */
#define EXPR_STACK_MAX 256

/* Identity of one executable mapping, to tell cheaply whether the maps changed. */
struct exec_map {
	uint64_t start, end, offset, inode;
	uint32_t dev_major, dev_minor;
};

/* One file mapped by the target: where, and its shared CFI. */
struct module {
	uint64_t low, high;      /* [low, high): what its loadable segments span */
	uint64_t bias;           /* runtime address = file address + bias */
	struct cfifile *file;    /* referenced */
	uint64_t start, end, offset; /* the mapping it was found by (to open it again for libdwfl) */
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	char *path;
	bool vdso;
};

/* [start, end) of one executable mapping, with or without a module. */
struct code_range {
	uint64_t start, end;
};

/* Registers of one frame while walking; bit i of set: r[i] is known. */
struct regset {
	uint64_t r[UNWIND_NREGS];
	uint32_t set;
};

/* How a stretch of the walk ended: the stack is done, or the next frame needs libdwfl's walk,
 * or the last pc pushed has no CFI and its frame pointer is to be tried. */
enum segment_end { SEG_END, SEG_SLOW, SEG_FP };

struct unwinder {
	pthread_mutex_t lock;
	pid_t pid;
	Dwfl *dwfl;             /* libdwfl's walk, built at its first use; NULL until then */
	int dwfl_err;           /* <0: building it failed for these modules (not tried again) */
	int image_fd;           /* unwinder__new_image(): a memfd of the image, for libdwfl */
	const void *image_bytes; /* ... and its bytes, while unwinder__new_image() runs */
	size_t image_size;
	struct exec_map *execs; /* executable mappings last reported, in address order */
	size_t nexecs;
	struct module *mods;    /* in address order */
	size_t nmods;
	struct code_range *code; /* every executable mapping, in address order */
	size_t ncode;
	struct cfi_rule rule;   /* rule_get()'s answer when there is no cache */
	struct cfi_rule *rcache; /* UNWIND_RULE_CACHE entries (addr: the runtime address), or NULL */
	bool slow_only;         /* PROFD_UNWIND_SLOW=1: libdwfl's walk only (to compare) */
	bool image;             /* unwinder__new_image(): one module, no process behind it */
	/* the walk in progress (valid inside unwinder__unwind only) */
	const struct unwind_regs *regs;
	struct regset *seg_regs; /* libdwfl's walk starts from these registers */
	bool want_fp;            /* libdwfl's walk met a pc without CFI: seg_regs hold its frame's */
	bool seg_ret_minus1;     /* its first pc is a return address, handed to libdwfl minus 1 */
	const struct unwind_stack *stack;
	uint64_t *pcs;
	int n, max;
	bool next_exact;  /* the previous frame was a signal trampoline */
	bool window_miss; /* a read fell outside the stack copy since the last frame */
	enum unwind_stop why;
};

static const char *const stop_names[UNWIND_STOP__COUNT] = {
	[UNWIND_STOP_ROOT] = "root",
	[UNWIND_STOP_WINDOW] = "stack_window",
	[UNWIND_STOP_NO_CFI] = "no_cfi",
	[UNWIND_STOP_BAD_ADDR] = "bad_address",
	[UNWIND_STOP_DEPTH] = "depth",
	[UNWIND_STOP_ERROR] = "error",
	[UNWIND_STOP_FRAME_POINTER] = "frame_pointer",
};

const char *unwind_stop_name(enum unwind_stop why)
{
	if ((unsigned)why >= UNWIND_STOP__COUNT)
		return "unknown";
	return stop_names[why];
}

/* Every module is reported with its ELF already open, so libdwfl never has to find one; and
 * separate debug files are not searched (no .debug_frame from /usr/lib/debug, no debuginfod
 * round trip under the lock): .eh_frame, or .debug_frame in the mapped file itself, is the CFI. */
static int find_no_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		       char **file_name, Elf **elfp)
{
	return -1;
}

static int find_no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			     const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			     char **debuginfo_file_name)
{
	return -1;
}

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = find_no_elf,
	.find_debuginfo = find_no_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* The one fake thread: there is nothing to enumerate, get_thread hands out the sample. */
static pid_t next_thread(Dwfl *dwfl, void *dwfl_arg, void **thread_argp)
{
	return 0;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *dwfl_arg, void **thread_argp)
{
	*thread_argp = dwfl_arg;
	return true;
}

/* Replaces in the word read at addr the bytes that st->words say were something else. */
static void overlay_words(const struct unwind_stack *st, uint64_t addr, Dwarf_Word *result)
{
	uint8_t *out = (uint8_t *)result;

	for (size_t i = 0; i < st->nwords; i++) {
		const struct unwind_word *w = &st->words[i];

		if (w->addr == addr) { /* the usual case: a return address read where it was saved */
			*result = w->value;
			continue;
		}
		for (uint64_t b = 0; b < sizeof(*result); b++)
			if (addr + b - w->addr < sizeof(w->value))
				out[b] = (uint8_t)(w->value >> (8 * (addr + b - w->addr)));
	}
}

/* Stack reads are served from the copy only; anything else is a miss we remember, because
 * libdwfl turns an unreadable return address into "end of stack". */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *dwfl_arg)
{
	struct unwinder *uw = dwfl_arg;
	const struct unwind_stack *st = uw->stack;

	if (addr < st->start || addr - st->start > st->len || st->len - (addr - st->start) < sizeof(*result)) {
		uw->window_miss = true;
		return false;
	}
	memcpy(result, st->data + (addr - st->start), sizeof(*result));
	if (st->nwords)
		overlay_words(st, addr, result);
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
	struct unwinder *uw = thread_arg;
	const struct regset *rs = uw->seg_regs;

	if (!rs)
		return dwfl_thread_state_registers(thread, 0, UNWIND_NREGS, uw->regs->r);
	/* after a frame-pointer step only some registers are known: leave the others unset */
	for (int i = 0; i < UNWIND_NREGS; i++)
		if ((rs->set & (1u << i)) && !dwfl_thread_state_registers(thread, i, 1, &rs->r[i]))
			return false;
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

/* The module whose segments span addr, or NULL. */
static const struct module *module_at(const struct unwinder *uw, uint64_t addr)
{
	size_t lo = 0, hi = uw->nmods;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < uw->mods[mid].low)
			hi = mid;
		else if (addr >= uw->mods[mid].high)
			lo = mid + 1;
		else
			return &uw->mods[mid];
	}
	return NULL;
}

/* The rule for lookup address addr, from its file's cache or built now. Borrowed, valid until
 * the next call. */
static const struct cfi_rule *rule_get(struct unwinder *uw, uint64_t addr)
{
	const struct module *m;
	struct cfi_rule *r = &uw->rule;

	if (!uw->rcache)
		uw->rcache = calloc(UNWIND_RULE_CACHE, sizeof(*uw->rcache));
	if (uw->rcache) {
		r = &uw->rcache[(addr * 0x9e3779b97f4a7c15ull) >> 32 & (UNWIND_RULE_CACHE - 1)];
		if (r->valid && r->addr == addr)
			return r;
	}
	m = module_at(uw, addr);
	if (m) {
		cfifile__rule(m->file, addr - m->bias, r);
	} else {
		memset(r, 0, sizeof(*r));
		r->valid = true;
		r->status = RULE_BAD_ADDR;
	}
	r->addr = addr;
	return r;
}

/* Whether the function holding lookup address addr is a thread's root by its symbol
 * (stack_root_function: Go's runtime.goexit and runtime.mstart, _start, start_thread...): asked
 * of its file's symbol table (cfifile.h, cached per file), only for walks that ended otherwise. */
static bool root_by_name(struct unwinder *uw, uint64_t addr)
{
	const struct module *m = module_at(uw, addr);

	return m && cfifile__root_function(m->file, addr - m->bias);
}

static enum unwind_stop rule_stop(const struct cfi_rule *r)
{
	return r->status == RULE_BAD_ADDR ? UNWIND_STOP_BAD_ADDR : UNWIND_STOP_NO_CFI;
}

/* true when addr lies in an executable mapping (with or without a module). */
static bool in_code(const struct unwinder *uw, uint64_t addr)
{
	size_t lo = 0, hi = uw->ncode;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < uw->code[mid].start)
			hi = mid;
		else if (addr >= uw->code[mid].end)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* Called by libdwfl for each frame, leaf first, before it unwinds that frame. */
static int on_frame(Dwfl_Frame *state, void *arg)
{
	struct unwinder *uw = arg;
	/* the leaf and the frame a signal interrupted hold exact pcs; the others return addresses */
	bool exact = uw->next_exact;
	const struct cfi_rule *rule;
	Dwarf_Word rbp, rsp;
	Dwarf_Addr pc;

	uw->window_miss = false;
	if (!dwfl_frame_pc(state, &pc, NULL)) {
		uw->why = UNWIND_STOP_ERROR;
		return DWARF_CB_ABORT;
	}
	if (uw->seg_ret_minus1) { /* see walk_slow() */
		uw->seg_ret_minus1 = false;
		pc++;
	}
	if (uw->n >= uw->max) {
		uw->why = UNWIND_STOP_DEPTH;
		return DWARF_CB_ABORT;
	}
	/* a return address may sit just past the function (a call to a noreturn function): the
	 * call itself is at pc - 1. Without CFI libdwfl would guess with rbp: stop instead. */
	rule = rule_get(uw, exact ? pc : pc - 1);
	/* a trampoline's pc is where the kernel made the handler "return" to: exact as well */
	uw->pcs[uw->n++] = exact || rule->signal ? sample_pc_exact(pc) : pc;
	if (rule->status != RULE_OK) {
		uw->why = rule_stop(rule);
		/* code without CFI: hand the frame's registers to the frame-pointer step */
		if (in_code(uw, exact ? pc : pc - 1) && dwfl_frame_reg(state, UNWIND_REG_RBP, &rbp) == 0 &&
		    dwfl_frame_reg(state, UNWIND_REG_RSP, &rsp) == 0) {
			uw->seg_regs->r[UNWIND_REG_RBP] = rbp;
			uw->seg_regs->r[UNWIND_REG_RSP] = rsp;
			uw->seg_regs->r[UNWIND_REG_RIP] = pc;
			uw->seg_regs->set = 1u << UNWIND_REG_RBP | 1u << UNWIND_REG_RSP | 1u << UNWIND_REG_RIP;
			uw->want_fp = true;
		}
		return DWARF_CB_ABORT;
	}
	uw->next_exact = rule->signal;
	return DWARF_CB_OK;
}

/* The fast walker: the same unwinding as libdwfl's (frame_unwind.c), from cached per-address
 * rules instead of re-running the CFI program and re-evaluating the CFA for every register. */

static bool reg_get(const struct regset *rs, uint64_t regno, uint64_t *ret)
{
	if (regno >= UNWIND_NREGS || !(rs->set & (1u << regno)))
		return false;
	*ret = rs->r[regno];
	return true;
}

/* Evaluates a DWARF expression as libdwfl's expr_eval does: a result is a location (read from
 * the stack) when the expression pushed the CFA, unless it ends in DW_OP_stack_value. */
static bool expr_eval(struct unwinder *uw, const struct regset *rs, const Dwarf_Op *ops, size_t nops,
		      const uint64_t *cfa, uint64_t *ret)
{
	uint64_t st[EXPR_STACK_MAX], a, b, c;
	size_t sp = 0;
	bool location = false;

#define PUSH(v) do { if (sp == EXPR_STACK_MAX) return false; st[sp++] = (v); } while (0)
#define POP(v) do { if (sp == 0) return false; (v) = st[--sp]; } while (0)
	for (size_t i = 0; i < nops; i++) {
		const Dwarf_Op *op = &ops[i];
		unsigned atom = op->atom;

		if (atom >= DW_OP_lit0 && atom <= DW_OP_lit31) {
			PUSH(atom - DW_OP_lit0);
		} else if (atom >= DW_OP_reg0 && atom <= DW_OP_reg16) {
			if (!reg_get(rs, atom - DW_OP_reg0, &a))
				return false;
			PUSH(a);
		} else if (atom >= DW_OP_breg0 && atom <= DW_OP_breg16) {
			if (!reg_get(rs, atom - DW_OP_breg0, &a))
				return false;
			PUSH(a + op->number);
		} else {
			switch (atom) {
			case DW_OP_const1u: case DW_OP_const1s: case DW_OP_const2u: case DW_OP_const2s:
			case DW_OP_const4u: case DW_OP_const4s: case DW_OP_const8u: case DW_OP_const8s:
			case DW_OP_constu: case DW_OP_consts:
				PUSH(op->number);
				break;
			case DW_OP_regx:
				if (!reg_get(rs, op->number, &a))
					return false;
				PUSH(a);
				break;
			case DW_OP_bregx:
				if (!reg_get(rs, op->number, &a))
					return false;
				PUSH(a + op->number2);
				break;
			case DW_OP_dup: POP(a); PUSH(a); PUSH(a); break;
			case DW_OP_drop: POP(a); break;
			case DW_OP_pick:
				if (sp <= op->number)
					return false;
				a = st[sp - 1 - op->number];
				PUSH(a);
				break;
			case DW_OP_over: POP(a); POP(b); PUSH(b); PUSH(a); PUSH(b); break;
			case DW_OP_swap: POP(a); POP(b); PUSH(a); PUSH(b); break;
			case DW_OP_rot: POP(a); POP(b); POP(c); PUSH(a); PUSH(c); PUSH(b); break;
			case DW_OP_deref:
			case DW_OP_deref_size:
				POP(a);
				if (!memory_read(NULL, a, &a, uw))
					return false;
				if (atom == DW_OP_deref_size) {
					if (op->number > 8)
						return false;
					if (op->number < 8)
						a &= (1ull << (op->number * 8)) - 1;
				}
				PUSH(a);
				break;
			/* unsigned arithmetic throughout: the CFI is untrusted input, no UB on odd values */
			case DW_OP_abs: POP(a); PUSH((int64_t)a < 0 ? 0 - a : a); break;
			case DW_OP_neg: POP(a); PUSH(0 - a); break;
			case DW_OP_not: POP(a); PUSH(~a); break;
			case DW_OP_plus_uconst: POP(a); PUSH(a + op->number); break;
#define BIN(atom_, expr)                                                                                   \
	case atom_:                                                                                        \
		POP(b);                                                                                    \
		POP(a);                                                                                    \
		PUSH(expr);                                                                                \
		break;
			BIN(DW_OP_and, a & b)
			BIN(DW_OP_minus, a - b)
			BIN(DW_OP_mul, a * b)
			BIN(DW_OP_or, a | b)
			BIN(DW_OP_plus, a + b)
			BIN(DW_OP_shl, b < 64 ? a << b : 0)
			BIN(DW_OP_shr, b < 64 ? a >> b : 0)
			BIN(DW_OP_shra, (int64_t)a < 0 ? ~(~a >> (b < 64 ? b : 63)) : a >> (b < 64 ? b : 63))
			BIN(DW_OP_xor, a ^ b)
			BIN(DW_OP_le, (int64_t)a <= (int64_t)b)
			BIN(DW_OP_ge, (int64_t)a >= (int64_t)b)
			BIN(DW_OP_eq, (int64_t)a == (int64_t)b)
			BIN(DW_OP_lt, (int64_t)a < (int64_t)b)
			BIN(DW_OP_gt, (int64_t)a > (int64_t)b)
			BIN(DW_OP_ne, (int64_t)a != (int64_t)b)
#undef BIN
			case DW_OP_nop:
				break;
			case DW_OP_call_frame_cfa:
				if (!cfa)
					return false;
				PUSH(*cfa);
				location = true;
				break;
			case DW_OP_stack_value:
				location = false;
				break;
			default: /* ops_supported() let nothing else through */
				return false;
			}
		}
	}
	POP(a);
#undef PUSH
#undef POP
	if (location && !memory_read(NULL, a, &a, uw))
		return false;
	*ret = a;
	return true;
}

/* rbx, rbp, r12-r15: the registers a function must give back to its caller as it found them. */
static bool callee_saved(int regno)
{
	return regno == 3 || regno == UNWIND_REG_RBP || (regno >= 12 && regno <= 15);
}

/* Unwinds one frame: the caller's registers from the callee's by rule r. */
static void unwind_step(struct unwinder *uw, const struct cfi_rule *r, const struct regset *cur, struct regset *next)
{
	uint64_t cfa = 0, v = 0;
	bool cfa_ok = false, miss;

	if (r->cfa_kind == CFA_REG) {
		cfa_ok = reg_get(cur, r->cfa_reg, &cfa);
		cfa += (uint64_t)r->cfa_off;
	} else if (r->cfa_kind == CFA_EXPR) {
		cfa_ok = expr_eval(uw, cur, r->cfa_ops, r->cfa_nops, NULL, &cfa);
	}
	next->set = 0;
	for (int regno = 0; regno < UNWIND_NREGS; regno++) {
		const struct reg_rule *rr = &r->regs[regno];
		bool ok = false;

		switch (rr->kind) {
		case REG_UNDEF:
			break;
		case REG_SAME:
			ok = reg_get(cur, (uint64_t)regno, &v);
			break;
		case REG_AT_CFA:
			miss = uw->window_miss;
			ok = cfa_ok && memory_read(NULL, cfa + (uint64_t)rr->u.off, &v, uw);
			/* a save slot below the copy, i.e. below the sampled rsp: the epilogue already
			 * popped the register (gcc's CFI keeps "saved at CFA-16" for rbp after the pop
			 * in its remember_state blocks), so it holds its caller's value again */
			if (!ok && cfa_ok && callee_saved(regno) && cfa + (uint64_t)rr->u.off < uw->stack->start &&
			    reg_get(cur, (uint64_t)regno, &v)) {
				ok = true;
				uw->window_miss = miss;
			}
			break;
		case REG_CFA_PLUS:
			ok = cfa_ok;
			v = cfa + (uint64_t)rr->u.off;
			break;
		case REG_COPY:
			ok = reg_get(cur, rr->u.reg, &v);
			break;
		case REG_EXPR:
			ok = expr_eval(uw, cur, rr->u.ops, rr->nops, cfa_ok ? &cfa : NULL, &v);
			break;
		}
		if (ok) {
			next->r[regno] = v;
			next->set |= 1u << regno;
		}
	}
}

/* Walks on from the frame whose registers rs holds (its pc exact or a return address), with
 * cached rules, appending to pcs[*n..max). Returns SEG_END (*ret_why says why), SEG_SLOW when
 * that frame needs what only libdwfl evaluates (not pushed; rs holds its registers), or SEG_FP
 * when the last pc pushed has no CFI but lies in executable memory (rs holds its registers). */
static enum segment_end walk_fast(struct unwinder *uw, struct regset *rs, bool *exact, uint64_t *pcs, int max,
				  int *n, enum unwind_stop *ret_why)
{
	struct regset next;
	uint64_t pc;

	if (!reg_get(rs, UNWIND_REG_RIP, &pc)) {
		*ret_why = UNWIND_STOP_ERROR;
		return SEG_END;
	}
	for (;;) {
		const struct cfi_rule *rule;
		uint64_t addr = *exact ? pc : pc - 1;

		uw->window_miss = false;
		if (*n >= max) {
			*ret_why = UNWIND_STOP_DEPTH;
			return SEG_END;
		}
		rule = rule_get(uw, addr);
		if (rule->status == RULE_OK && !rule->fast)
			return SEG_SLOW;
		pcs[(*n)++] = *exact || rule->signal ? sample_pc_exact(pc) : pc;
		if (rule->status != RULE_OK) {
			*ret_why = rule_stop(rule);
			return in_code(uw, addr) ? SEG_FP : SEG_END;
		}
		unwind_step(uw, rule, rs, &next);
		*rs = next;
		/* an undefined or unreadable return address, or 0, ends the stack (as in libdwfl) */
		if (!reg_get(rs, UNWIND_REG_RIP, &pc) || pc == 0) {
			*ret_why = uw->window_miss ? UNWIND_STOP_WINDOW : UNWIND_STOP_ROOT;
			return SEG_END;
		}
		*exact = rule->signal;
	}
}

static int dwfl_ensure(struct unwinder *uw);

/* The same stretch of walk as walk_fast(), by libdwfl's own unwinder (one fake thread whose
 * registers are rs), for frames whose CFI walk_fast does not evaluate. */
static enum segment_end walk_slow(struct unwinder *uw, struct regset *rs, bool exact, uint64_t *pcs, int max,
				  int *n, enum unwind_stop *ret_why)
{
	int rc, start = *n;

	/* libdwfl takes its first frame's pc as exact (looks its CFI up at pc); a return address
	 * is looked up at pc - 1: hand it that, and on_frame() puts the 1 back */
	uw->seg_ret_minus1 = !exact;
	if (!exact)
		rs->r[UNWIND_REG_RIP]--;
	uw->seg_regs = rs;
	uw->pcs = pcs;
	uw->n = *n;
	uw->max = max;
	uw->next_exact = exact;
	uw->window_miss = false;
	uw->want_fp = false;
	uw->why = UNWIND_STOP_ERROR;
	rc = dwfl_ensure(uw) == 0 ? dwfl_getthread_frames(uw->dwfl, uw->pid, on_frame, uw) : -1;
	if (rc == DWARF_CB_ABORT) {
		*ret_why = uw->why;
	} else {
		/* 0: the return address became undefined (the outermost frame's CFI says so, or a
		 * read fell off the copy); -1: libdwfl failed on the next frame */
		*ret_why = uw->window_miss ? UNWIND_STOP_WINDOW : rc == 0 ? UNWIND_STOP_ROOT : UNWIND_STOP_ERROR;
		if (rc != 0 && uw->dwfl)
			log_debug("unwind pid %d: stopped after %d frames: %s", (int)uw->pid, uw->n,
				  dwfl_errmsg(-1));
	}
	*n = uw->n;
	uw->seg_regs = NULL;
	uw->seg_ret_minus1 = false;
	if (*n == start && start == 0) /* libdwfl refused the initial registers: still report the leaf */
		pcs[(*n)++] = sample_pc_exact(uw->regs->r[UNWIND_REG_RIP]);
	return rc == DWARF_CB_ABORT && uw->want_fp ? SEG_FP : SEG_END;
}

/* One frame-pointer step from the frame rs holds, a pc without CFI: rbp points at the saved
 * rbp, with the return address above it. Checked: rbp aligned and at or above rsp (the
 * caller's rsp is then above this frame's: frame addresses strictly increase along the chain),
 * both words inside the copy, and the return address in executable memory. On success rs
 * holds the caller's rbp, rsp and rip (nothing else is known) and returns true; else
 * *ret_why says which check failed (unchanged when rbp or rsp is unknown: the pc's own reason
 * stands; root when rbp is 0). */
static bool fp_step(struct unwinder *uw, struct regset *rs, enum unwind_stop *ret_why)
{
	uint64_t fp, sp, saved, ret;

	if (!reg_get(rs, UNWIND_REG_RBP, &fp) || !reg_get(rs, UNWIND_REG_RSP, &sp))
		return false;
	/* the ABI's mark of the outermost frame (_start clears rbp): the chain's end */
	if (fp == 0) {
		*ret_why = UNWIND_STOP_ROOT;
		return false;
	}
	if ((fp & 7) || fp < sp || fp + 16 < fp) {
		*ret_why = UNWIND_STOP_FRAME_POINTER;
		return false;
	}
	uw->window_miss = false;
	if (!memory_read(NULL, fp, &saved, uw) || !memory_read(NULL, fp + 8, &ret, uw)) {
		/* past the end of the copy: deeper than what was copied (below it: not a frame) */
		*ret_why = fp >= uw->stack->start ? UNWIND_STOP_WINDOW : UNWIND_STOP_FRAME_POINTER;
		return false;
	}
	if (ret == 0 || !in_code(uw, ret - 1)) {
		*ret_why = UNWIND_STOP_BAD_ADDR;
		return false;
	}
	rs->r[UNWIND_REG_RBP] = saved;
	rs->r[UNWIND_REG_RSP] = fp + 16;
	rs->r[UNWIND_REG_RIP] = ret;
	rs->set = 1u << UNWIND_REG_RBP | 1u << UNWIND_REG_RSP | 1u << UNWIND_REG_RIP;
	return true;
}

int unwinder__unwind(struct unwinder *uw, const struct unwind_regs *regs, const struct unwind_stack *stack,
		     uint64_t *pcs, int max, enum unwind_stop *ret_why)
{
	enum unwind_stop why = UNWIND_STOP_ERROR;
	struct regset rs;
	bool exact = true;
	int n = 0;

	if (!uw || !regs || !stack || !pcs || max <= 0 || !ret_why || (stack->len && !stack->data))
		return -EINVAL;
	if (regs->r[UNWIND_REG_RIP] == 0) {
		*ret_why = UNWIND_STOP_BAD_ADDR;
		return 0;
	}
	pthread_mutex_lock(&uw->lock);
	uw->regs = regs;
	uw->stack = stack;
	memcpy(rs.r, regs->r, sizeof(rs.r));
	rs.set = (1u << UNWIND_NREGS) - 1;
	/* stretches of CFI walk (cached rules, or libdwfl's for what those do not evaluate),
	 * joined by frame-pointer steps over code without CFI; each stretch adds a pc */
	for (bool fp_done = false;; fp_done = true) {
		enum segment_end end = uw->slow_only ? SEG_SLOW : walk_fast(uw, &rs, &exact, pcs, max, &n, &why);

		if (end == SEG_SLOW && !fp_done) {
			/* CFI all the way so far: libdwfl walks the sample from its leaf, as it did
			 * before frame pointers were followed (same answers from both walkers) */
			memcpy(rs.r, regs->r, sizeof(rs.r));
			rs.set = (1u << UNWIND_NREGS) - 1;
			exact = true;
			n = 0;
		}
		if (end == SEG_SLOW)
			end = walk_slow(uw, &rs, exact, pcs, max, &n, &why);
		if (end == SEG_END || !fp_step(uw, &rs, &why))
			break;
		exact = false;
	}
	/* a runtime's own root (Go's goroutines end at runtime.goexit, its threads at
	 * runtime.mstart) ends a stack as _start does; nothing calls a root, so a frame found
	 * past one is not a caller: dropped */
	if (why != UNWIND_STOP_ROOT && n > 0) {
		if (root_by_name(uw, pcs[n - 1] - 1)) {
			why = UNWIND_STOP_ROOT;
		} else if (n > 1 && root_by_name(uw, pcs[n - 2] - 1)) {
			n--;
			why = UNWIND_STOP_ROOT;
		}
	}
	uw->regs = NULL;
	uw->stack = NULL;
	uw->pcs = NULL;
	pthread_mutex_unlock(&uw->lock);
	*ret_why = why;
	return n;
}

/* The vDSO has no file: its image, copied out of the target. Returns its length and a malloc'd
 * copy in *ret, or -errno. */
static ssize_t vdso_read(pid_t pid, uint64_t start, uint64_t end, uint8_t **ret)
{
	size_t len = end - start;
	char path[64];
	uint8_t *buf;
	ssize_t got;
	int mem;

	if (end <= start || len > UNWIND_MAX_VDSO)
		return -E2BIG;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)proc_live_pid(pid));
	mem = open(path, O_RDONLY | O_CLOEXEC);
	got = mem < 0 ? -1 : pread(mem, buf, len, (off_t)start);
	if (got != (ssize_t)len) {
		int err = got < 0 ? -errno : -EIO;

		if (mem >= 0)
			close(mem);
		free(buf);
		return err;
	}
	close(mem);
	*ret = buf;
	return (ssize_t)len;
}

/* A memfd holding len bytes of data (libdwfl reads modules from files). Returns it or -errno. */
static int memfd_of(const char *name, const void *data, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return -EIO;
	}
	return fd;
}

static bool is_vdso(const struct procmaps_entry *e)
{
	return !strcmp(e->path, "[vdso]");
}

/* The mappings that can hold code: executable, backed by a file or the vDSO. */
static bool is_code(const struct procmaps_entry *e)
{
	return e->exec && (procmaps_entry_is_file(e) || is_vdso(e));
}

static void modules_free(struct module *mods, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cfifile__put(mods[i].file);
		free(mods[i].path);
	}
	free(mods);
}

/* A list of modules being built from a target's mappings. */
struct modlist {
	struct module *v;
	size_t n, cap;
};

static bool covered(const struct modlist *l, uint64_t addr)
{
	/* usually the module just added (the next segment of the same file) */
	if (l->n && addr >= l->v[l->n - 1].low && addr < l->v[l->n - 1].high)
		return true;
	for (size_t i = 0; i < l->n; i++)
		if (addr >= l->v[i].low && addr < l->v[i].high)
			return true;
	return false;
}

/* The file behind mapping e, shared: the module of the same mapping in old (the previous
 * layout) if there is one, else found by its identity (cfifile.h). */
static int file_of(struct unwinder *uw, const struct procmaps_entry *e, const struct module *old, size_t nold,
		   struct cfifile **ret)
{
	uint8_t *image = NULL;
	ssize_t len;
	int fd, err;

	for (size_t i = 0; i < nold; i++) {
		if (old[i].start == e->start && old[i].end == e->end && old[i].offset == e->offset &&
		    old[i].inode == e->inode && old[i].dev_major == e->dev_major && old[i].dev_minor == e->dev_minor &&
		    !strcmp(old[i].path, e->path)) {
			*ret = cfifile__ref(old[i].file);
			return 0;
		}
	}
	if (uw->image)
		return uw->image_bytes ? cfifile_get_image(uw->image_bytes, uw->image_size, ret) : -EINVAL;
	if (is_vdso(e)) {
		len = vdso_read(uw->pid, e->start, e->end, &image);
		if (len < 0)
			return (int)len;
		err = cfifile_get_image(image, (size_t)len, ret);
		free(image);
		return err;
	}
	fd = procmaps_open_file(uw->pid, e);
	if (fd < 0)
		return fd;
	return cfifile_get_fd(fd, ret);
}

/* Adds the module behind one code mapping, unless one already covers it. Returns 0 (added or
 * already there), or -errno when this mapping is not usable (the caller skips it: its pcs will
 * stop the walk with UNWIND_STOP_BAD_ADDR, or be walked by frame pointer). */
static int module_add(struct unwinder *uw, struct modlist *l, const struct procmaps_entry *e,
		      const struct module *old, size_t nold)
{
	struct module m = { .start = e->start, .end = e->end, .offset = e->offset, .inode = e->inode,
			    .dev_major = e->dev_major, .dev_minor = e->dev_minor, .vdso = is_vdso(e) };
	int err;

	if (covered(l, e->start))
		return 0;
	if (l->n >= UNWIND_MAX_MODULES)
		return -E2BIG;
	err = file_of(uw, e, old, nold, &m.file);
	if (err)
		return err;
	err = cfifile__place(m.file, e, &m.bias, &m.low, &m.high);
	if (err == -EEXIST && uw->image) {
		/* an image is "mapped" wherever the caller says: at its link addresses */
		err = cfifile__place(m.file, NULL, &m.bias, &m.low, &m.high);
	}
	if (err == -EEXIST)
		log_debug("unwind pid %d: %s mapped again at %#llx, away from its fixed address: code there is "
			  "walked by frame pointer", (int)uw->pid, e->path, (unsigned long long)e->start);
	if (!err && l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct module *v = realloc(l->v, cap * sizeof(*v));

		if (v) {
			l->v = v;
			l->cap = cap;
		} else {
			err = -ENOMEM;
		}
	}
	if (!err && !(m.path = strdup(e->path)))
		err = -ENOMEM;
	if (err) {
		cfifile__put(m.file);
		return err;
	}
	l->v[l->n++] = m;
	return 0;
}

static int cmp_module(const void *a, const void *b)
{
	const struct module *x = a, *y = b;

	return x->low < y->low ? -1 : x->low > y->low;
}

/* The modules of maps (sorted, overlaps dropped), reusing what uw's current ones hold. Returns 0
 * or -ENOEXEC when no mapping could be used. */
static int modules_build(struct unwinder *uw, const struct procmaps *maps, struct modlist *l)
{
	size_t k = 0;

	for (size_t i = 0; i < maps->n; i++)
		if (is_code(&maps->entries[i]))
			module_add(uw, l, &maps->entries[i], uw->mods, uw->nmods);
	qsort(l->v, l->n, sizeof(*l->v), cmp_module);
	for (size_t i = 0; i < l->n; i++) {
		if (k && l->v[i].low < l->v[k - 1].high) { /* overlaps the previous one: libdwfl refuses it too */
			cfifile__put(l->v[i].file);
			free(l->v[i].path);
			continue;
		}
		l->v[k++] = l->v[i];
	}
	l->n = k;
	return l->n > 0 ? 0 : -ENOEXEC;
}

/* libdwfl's walk over the target's modules, for frames whose CFI the fast walker does not
 * evaluate: built at the first such frame (each module's file opened again for libdwfl), kept
 * until the modules change. Returns 0 or -errno. Under uw->lock. */
static int dwfl_ensure(struct unwinder *uw)
{
	Dwfl *dwfl;

	if (uw->dwfl)
		return 0;
	if (uw->dwfl_err)
		return uw->dwfl_err;
	dwfl = dwfl_begin(&dwfl_callbacks);
	if (!dwfl)
		return uw->dwfl_err = -ENOMEM;
	dwfl_report_begin(dwfl);
	for (size_t i = 0; i < uw->nmods; i++) {
		const struct module *m = &uw->mods[i];
		struct procmaps_entry e = { .start = m->start, .end = m->end, .offset = m->offset, .exec = true,
					    .path = m->path };
		uint8_t *image = NULL;
		ssize_t len;
		int fd;

		if (uw->image) {
			fd = dup(uw->image_fd);
			fd = fd < 0 ? -errno : fd;
		} else if (m->vdso) {
			len = vdso_read(uw->pid, m->start, m->end, &image);
			fd = len < 0 ? (int)len : memfd_of("profd-vdso", image, (size_t)len);
			free(image);
		} else {
			fd = procmaps_open_file(uw->pid, &e);
		}
		if (fd < 0)
			continue;
		/* base = bias with add_p_vaddr: libdwfl adds each segment's p_vaddr to it; from here
		 * the module owns fd */
		if (!dwfl_report_elf(dwfl, m->path, m->path, fd, m->bias, true)) {
			log_debug("unwind pid %d: cannot report %s at %#llx: %s", (int)uw->pid, m->path,
				  (unsigned long long)m->start, dwfl_errmsg(-1));
			close(fd);
		}
	}
	/* no Elf given to dwfl_attach_state: libdwfl takes the architecture from the first module */
	if (dwfl_report_end(dwfl, NULL, NULL) != 0 || !dwfl_attach_state(dwfl, NULL, uw->pid, &thread_callbacks, uw)) {
		log_debug("unwind pid %d: libdwfl's walk not available: %s", (int)uw->pid, dwfl_errmsg(-1));
		dwfl_end(dwfl);
		return uw->dwfl_err = -ENOEXEC;
	}
	uw->dwfl = dwfl;
	return 0;
}

/* Replaces uw's modules by those of maps; on failure uw is unchanged. */
static int rebuild(struct unwinder *uw, const struct procmaps *maps)
{
	struct modlist l = { 0 };
	int err = modules_build(uw, maps, &l);

	if (err) {
		modules_free(l.v, l.n);
		return err;
	}
	modules_free(uw->mods, uw->nmods);
	uw->mods = l.v;
	uw->nmods = l.n;
	/* libdwfl's walk knew the old modules: built again when next needed */
	dwfl_end(uw->dwfl);
	uw->dwfl = NULL;
	uw->dwfl_err = 0;
	/* cached rules may name addresses that now belong to other code */
	if (uw->rcache)
		memset(uw->rcache, 0, UNWIND_RULE_CACHE * sizeof(*uw->rcache));
	return 0;
}

/* The code mappings of maps, as identities. Returns the count or -ENOMEM; *ret freed by caller. */
static ssize_t exec_maps_of(const struct procmaps *maps, struct exec_map **ret)
{
	struct exec_map *v;
	size_t n = 0;

	v = calloc(maps->n ? maps->n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < maps->n; i++) {
		const struct procmaps_entry *e = &maps->entries[i];

		if (!is_code(e))
			continue;
		v[n++] = (struct exec_map){ e->start, e->end, e->offset, e->inode, e->dev_major, e->dev_minor };
	}
	*ret = v;
	return (ssize_t)n;
}
/* Replaces uw's executable ranges by every executable mapping of maps (JIT code included),
 * whether or not a module covers it: where the frame-pointer walk may go. */
static int code_ranges_set(struct unwinder *uw, const struct procmaps *maps)
{
	struct code_range *code;
	size_t n = 0;

	code = calloc(maps->n ? maps->n : 1, sizeof(*code));
	if (!code)
		return -ENOMEM;
	for (size_t i = 0; i < maps->n && n < UNWIND_MAX_CODE; i++) {
		const struct procmaps_entry *e = &maps->entries[i];

		if (!e->exec || e->end <= e->start)
			continue;
		if (n && code[n - 1].end == e->start)
			code[n - 1].end = e->end; /* adjacent mappings (one file's segments) merge */
		else
			code[n++] = (struct code_range){ e->start, e->end };
	}
	free(uw->code);
	uw->code = code;
	uw->ncode = n;
	return 0;
}

int unwinder__add_code(struct unwinder *uw, uint64_t start, uint64_t end)
{
	struct code_range *code;
	size_t i;

	if (!uw || !uw->image || end <= start)
		return -EINVAL;
	if (uw->ncode >= UNWIND_MAX_CODE)
		return -E2BIG;
	code = realloc(uw->code, (uw->ncode + 1) * sizeof(*code));
	if (!code)
		return -ENOMEM;
	uw->code = code;
	for (i = 0; i < uw->ncode; i++) {
		if (start < code[i].end && code[i].start < end)
			return -EINVAL; /* overlaps a range already declared */
		if (start < code[i].start)
			break;
	}
	memmove(&code[i + 1], &code[i], (uw->ncode - i) * sizeof(*code));
	code[i] = (struct code_range){ start, end };
	uw->ncode++;
	return 0;
}

static int refresh_locked(struct unwinder *uw)
{
	struct procmaps maps = { 0 };
	struct exec_map *execs = NULL;
	ssize_t nexecs;
	int err;

	err = procmaps_read(uw->pid, &maps);
	if (err)
		return err;
	/* JIT code comes and goes without any file mapping changing: always re-read */
	err = code_ranges_set(uw, &maps);
	if (err)
		goto cleanup;
	nexecs = exec_maps_of(&maps, &execs);
	if (nexecs < 0) {
		err = (int)nexecs;
		goto cleanup;
	}
	if (uw->mods && (size_t)nexecs == uw->nexecs &&
	    (nexecs == 0 || !memcmp(execs, uw->execs, (size_t)nexecs * sizeof(*execs))))
		goto cleanup; /* nothing changed: the common case */
	/* mapped, unmapped or replaced (dlopen): the modules again, the unchanged ones reused */
	err = rebuild(uw, &maps);
	if (err)
		goto cleanup;
	free(uw->execs);
	uw->execs = execs;
	uw->nexecs = (size_t)nexecs;
	execs = NULL;
cleanup:
	free(execs);
	procmaps_free(&maps);
	return err;
}

int unwinder__refresh(struct unwinder *uw)
{
	int err;

	if (!uw)
		return -EINVAL;
	if (uw->image)
		return 0; /* one ELF image, no process: nothing can have changed */
	pthread_mutex_lock(&uw->lock);
	err = refresh_locked(uw);
	pthread_mutex_unlock(&uw->lock);
	return err;
}

static struct unwinder *unwinder_alloc(void)
{
	struct unwinder *uw = calloc(1, sizeof(*uw));

	if (!uw)
		return NULL;
	pthread_mutex_init(&uw->lock, NULL);
	uw->image_fd = -1;
	elf_version(EV_CURRENT);
	return uw;
}

struct unwinder *unwinder__new(pid_t pid)
{
	struct unwinder *uw;
	const char *slow;
	int err;

	if (pid <= 0) {
		errno = EINVAL;
		return NULL;
	}
	uw = unwinder_alloc();
	if (!uw) {
		errno = ENOMEM;
		return NULL;
	}
	uw->pid = pid;
	slow = getenv("PROFD_UNWIND_SLOW");
	uw->slow_only = slow && *slow && strcmp(slow, "0");
	err = refresh_locked(uw);
	if (err) {
		unwinder__free(uw);
		errno = -err;
		return NULL;
	}
	return uw;
}

struct unwinder *unwinder__new_image(const void *image, size_t size, uint64_t start, bool slow_only)
{
	struct procmaps_entry e = { .start = start, .end = start + size, .exec = true, .path = "[image]" };
	struct modlist l = { 0 };
	struct unwinder *uw = NULL;
	int err;

	if (!image || !size || start + size < start) {
		errno = EINVAL;
		return NULL;
	}
	uw = unwinder_alloc();
	if (!uw) {
		errno = ENOMEM;
		return NULL;
	}
	uw->image = true;
	uw->slow_only = slow_only;
	uw->image_bytes = image;
	uw->image_size = size;
	/* libdwfl's walk reads modules from files: a memfd is one */
	uw->image_fd = memfd_of("profd-image", image, size);
	if (uw->image_fd < 0) {
		err = uw->image_fd;
		goto fail;
	}
	/* one module, at its link addresses if its type says so */
	err = module_add(uw, &l, &e, NULL, 0);
	if (!err && !l.n)
		err = -ENOEXEC;
	if (err) {
		modules_free(l.v, l.n);
		goto fail;
	}
	uw->image_bytes = NULL; /* the caller's, borrowed while it was read */
	uw->mods = l.v;
	uw->nmods = l.n;
	err = unwinder__add_code(uw, start, start + size);
	/* libdwfl must take the image too (as it did when it held every module): its refusal is
	 * the caller's error at once, not a walk that fails later */
	if (!err)
		err = dwfl_ensure(uw);
	if (err)
		goto fail;
	return uw;
fail:
	unwinder__free(uw);
	errno = -err;
	return NULL;
}

void unwinder__free(struct unwinder *uw)
{
	if (!uw)
		return;
	dwfl_end(uw->dwfl);
	modules_free(uw->mods, uw->nmods);
	if (uw->image_fd >= 0)
		close(uw->image_fd);
	free(uw->execs);
	free(uw->code);
	free(uw->rcache);
	pthread_mutex_destroy(&uw->lock);
	free(uw);
}

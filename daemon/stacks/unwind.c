// SPDX-License-Identifier: MIT
/* DWARF CFI unwinder over copied stacks, on libdw 0.188. One Dwfl per target holds every
 * executable x86-64 ELF mapping (and the vDSO) as a module at its load bias. A walker evaluates
 * per-address rules read once from libdw's CFI and cached; a frame whose CFI uses an expression
 * it does not evaluate sends the sample through libdwfl's own walk (one fake thread: registers
 * from the sample, memory from the copy). A pc without CFI in executable memory (JIT code, a
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
#include "stacks/cfiscan.h"
#include "stacks/complete.h"
#include "stacks/samples.h"
#include "stacks/unwind.h"

/* Bounds: modules per target, and the size of a vDSO image we are willing to copy. */
#define UNWIND_MAX_MODULES 8192
/* Bound on executable ranges (every executable mapping, JIT code included; as procmaps). */
#define UNWIND_MAX_CODE 65536
#define UNWIND_MAX_VDSO (1u << 20)
/* Direct-mapped cache of per-address CFI rules (about 300 bytes each), cleared when modules change. */
#define RULE_CACHE_BITS 10
#define RULE_CACHE_SIZE (1u << RULE_CACHE_BITS)
/* Direct-mapped cache of "is the function at this address a thread root by name". */
#define ROOT_CACHE_SIZE 64
/* As libdwfl: bound on a DWARF expression's stack. */
#define EXPR_STACK_MAX 256

/* Identity of one executable mapping, to tell cheaply whether the maps changed. */
struct exec_map {
	uint64_t start, end, offset, inode;
	uint32_t dev_major, dev_minor;
};

/* How to get one register of the caller from the callee's frame at one address. */
enum reg_kind {
	REG_UNDEF,    /* unknown in the caller */
	REG_SAME,     /* unchanged */
	REG_AT_CFA,   /* saved at CFA + off */
	REG_CFA_PLUS, /* is CFA + off */
	REG_COPY,     /* is the callee's register reg */
	REG_EXPR,     /* a DWARF expression (libdw-owned ops) */
};

struct reg_rule {
	uint8_t kind;
	uint16_t nops;
	union {
		int64_t off;
		uint8_t reg;
		const Dwarf_Op *ops;
	} u;
};

enum rule_status { RULE_OK, RULE_NO_CFI, RULE_BAD_ADDR };
enum cfa_kind { CFA_UNDEF, CFA_REG, CFA_EXPR };

/* What the CFI says at one lookup address, cached: the fast walker's unit of work. */
struct cfi_rule {
	uint64_t addr;
	bool valid;
	bool fast;   /* every rule below is one walk_fast evaluates */
	bool signal; /* the FDE is a signal trampoline's */
	uint8_t status;
	uint8_t cfa_kind;
	uint8_t cfa_reg;
	uint16_t cfa_nops;
	int64_t cfa_off;
	const Dwarf_Op *cfa_ops;
	struct reg_rule regs[UNWIND_NREGS];
};

struct module_range {
	uint64_t low, high; /* [low, high) as libdwfl computed it from the program headers */
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
	Dwfl *dwfl;
	struct exec_map *execs; /* executable mappings last reported, in address order */
	size_t nexecs;
	struct module_range *mods;
	size_t nmods;
	struct code_range *code; /* every executable mapping, in address order */
	size_t ncode;
	struct cfi_rule *rules; /* RULE_CACHE_SIZE entries */
	struct {
		uint64_t addr;
		int8_t root; /* 0 unknown, 1 a root function, -1 not */
	} roots[ROOT_CACHE_SIZE];
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

/* true when expr_eval() evaluates every operation of ops (CFI comes from the target's files:
 * anything unexpected goes to libdwfl). */
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
	/* an expression, interned in the CFI's cache: it lives as long as the module */
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

/* Builds the rule for lookup address addr from the module's CFI, found the way libdwfl's own
 * unwinder finds it (.eh_frame, then .debug_frame), and records what libdw says for the CFA and
 * each register. Rules with expressions expr_eval() does not evaluate are marked not fast. */
static void rule_build(Dwfl *dwfl, uint64_t addr, struct cfi_rule *r)
{
	Dwfl_Module *mod = dwfl_addrmodule(dwfl, addr);
	Dwarf_Frame *frame = NULL;
	Dwarf_Op *ops;
	Dwarf_Addr bias;
	size_t nops;
	bool leaky = false;
	void **userdata;
	unsigned safe;
	int ra;

	memset(r, 0, sizeof(*r));
	r->valid = true;
	r->addr = addr;
	r->status = RULE_BAD_ADDR;
	if (!mod)
		return;
	r->status = RULE_NO_CFI;
	dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
	safe = userdata ? (unsigned)(uintptr_t)*userdata : 0;
	/* CFI that failed cfiscan_check() never reaches libdw; nor the module's at all when its
	 * .eh_frame failed, since libdwfl's own walk would read that first */
	if (!(safe & CFISCAN_EH_OK))
		return;
	for (int pass = 0; pass < 2 && !frame; pass++) {
		Dwarf_CFI *cfi;

		if (pass == 1 && !(safe & CFISCAN_DEBUG_OK))
			break;
		cfi = pass == 0 ? dwfl_module_eh_cfi(mod, &bias) : dwfl_module_dwarf_cfi(mod, &bias);

		if (cfi && dwarf_cfi_addrframe(cfi, addr - bias, &frame) != 0)
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

/* The rule for lookup address addr, from the direct-mapped cache or built now. Borrowed,
 * valid until the next call. */
static const struct cfi_rule *rule_get(struct unwinder *uw, uint64_t addr)
{
	struct cfi_rule *r = &uw->rules[(addr * 0x9e3779b97f4a7c15ull) >> (64 - RULE_CACHE_BITS)];

	if (!r->valid || r->addr != addr)
		rule_build(uw->dwfl, addr, r);
	return r;
}

static void rules_clear(struct unwinder *uw)
{
	memset(uw->rules, 0, RULE_CACHE_SIZE * sizeof(*uw->rules));
	memset(uw->roots, 0, sizeof(uw->roots));
}

/* Whether the function holding lookup address addr is a thread's root by its symbol
 * (stack_root_function: Go's runtime.goexit and runtime.mstart, _start, start_thread...).
 * libdwfl scans the module's symbol table: asked only of walks that ended otherwise, cached. */
static bool root_by_name(struct unwinder *uw, uint64_t addr)
{
	unsigned slot = (unsigned)((addr ^ (addr >> 7) ^ (addr >> 17)) % ROOT_CACHE_SIZE);
	Dwfl_Module *mod;
	const char *name = NULL;
	GElf_Off off;
	GElf_Sym sym;

	if (uw->roots[slot].root && uw->roots[slot].addr == addr)
		return uw->roots[slot].root > 0;
	mod = uw->dwfl ? dwfl_addrmodule(uw->dwfl, addr) : NULL;
	if (mod)
		name = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
	uw->roots[slot].addr = addr;
	uw->roots[slot].root = name && stack_root_function(name) ? 1 : -1;
	return uw->roots[slot].root > 0;
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
	rc = dwfl_getthread_frames(uw->dwfl, uw->pid, on_frame, uw);
	if (rc == DWARF_CB_ABORT) {
		*ret_why = uw->why;
	} else {
		/* 0: the return address became undefined (the outermost frame's CFI says so, or a
		 * read fell off the copy); -1: libdwfl failed on the next frame */
		*ret_why = uw->window_miss ? UNWIND_STOP_WINDOW : rc == 0 ? UNWIND_STOP_ROOT : UNWIND_STOP_ERROR;
		if (rc != 0)
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

/* The load bias of the ELF open on fd, mapped by e: where vaddr 0 of the file sits. The
 * PT_LOAD segment holding e's file offset maps p_offset to p_vaddr + bias. Two segments can
 * share a file page (lld puts the first code page right after the read-only data, with
 * p_vaddr = p_offset + 0x1000): the one whose permissions match the mapping is the one mapped. */
static int elf_load_bias(int fd, const struct procmaps_entry *e, uint64_t *ret_bias)
{
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	GElf_Ehdr ehdr;
	size_t phnum;
	int err = -ENOEXEC;

	if (!elf)
		return -ENOEXEC;
	/* registers come in x86-64 DWARF numbering: other code (a 32-bit process) cannot be walked */
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr) || ehdr.e_machine != EM_X86_64 ||
	    elf_getphdrnum(elf, &phnum) != 0)
		goto cleanup;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		/* the kernel maps whole pages: the segment starts at p_offset rounded down */
		if (e->offset < (ph.p_offset & ~(page - 1)) || e->offset >= ph.p_offset + ph.p_filesz)
			continue;
		if (err == 0 && !(ph.p_flags & PF_X) != !e->exec)
			continue; /* keep the first match unless this one has the mapping's permissions */
		*ret_bias = e->start - e->offset + ph.p_offset - ph.p_vaddr;
		err = 0;
		if (!(ph.p_flags & PF_X) == !e->exec)
			break;
	}
	/* an executable is at its link addresses. A mapping of it elsewhere is a copy of its
	 * code (V8 remaps node's embedded builtins): libdwfl takes an ET_EXEC at its addresses
	 * only, and refuses a second module over the first */
	if (ehdr.e_type == ET_EXEC) {
		err = err == 0 && *ret_bias != 0 ? -EEXIST : 0;
		if (!err)
			*ret_bias = 0;
	}
cleanup:
	elf_end(elf);
	return err;
}

/* The vDSO has no file: copy its image out of the target into a memfd libelf can map. */
static int vdso_open(pid_t pid, const struct procmaps_entry *e)
{
	size_t len = e->end - e->start;
	char path[64];
	uint8_t *buf = NULL;
	int mem = -1, fd = -1, err;
	ssize_t got;

	if (e->end <= e->start || len > UNWIND_MAX_VDSO)
		return -E2BIG;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)proc_live_pid(pid));
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0) {
		err = -errno;
		goto cleanup;
	}
	got = pread(mem, buf, len, (off_t)e->start);
	if (got != (ssize_t)len) {
		err = got < 0 ? -errno : -EIO;
		goto cleanup;
	}
	fd = memfd_create("profd-vdso", MFD_CLOEXEC);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len) {
		err = fd < 0 ? -errno : -EIO;
		goto cleanup;
	}
	err = fd;
	fd = -1;
cleanup:
	if (fd >= 0)
		close(fd);
	if (mem >= 0)
		close(mem);
	free(buf);
	return err;
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

static bool covered(const struct unwinder *uw, uint64_t addr)
{
	/* usually the module just reported (the next segment of the same file) */
	if (uw->nmods && addr >= uw->mods[uw->nmods - 1].low && addr < uw->mods[uw->nmods - 1].high)
		return true;
	for (size_t i = 0; i < uw->nmods; i++)
		if (addr >= uw->mods[i].low && addr < uw->mods[i].high)
			return true;
	return false;
}

/* Reports the ELF behind one executable mapping to dwfl, unless a module already covers it.
 * Returns 0 (reported or already there), or -errno when this mapping is not usable (the
 * caller skips it: its pcs will stop the walk with UNWIND_STOP_BAD_ADDR). */
static int report_fd(struct unwinder *uw, Dwfl *dwfl, const struct procmaps_entry *e, int fd);

static int report_mapping(struct unwinder *uw, Dwfl *dwfl, const struct procmaps_entry *e)
{
	int fd;

	if (covered(uw, e->start))
		return 0;
	if (uw->nmods >= UNWIND_MAX_MODULES)
		return -E2BIG;
	fd = is_vdso(e) ? vdso_open(uw->pid, e) : procmaps_open_file(uw->pid, e);
	if (fd < 0)
		return fd;
	return report_fd(uw, dwfl, e, fd);
}

/* Reports the ELF open on fd (consumed), mapped as e says. Returns 0 or -errno. */
static int report_fd(struct unwinder *uw, Dwfl *dwfl, const struct procmaps_entry *e, int fd)
{
	const char *name = e->path;
	Dwfl_Module *mod;
	Dwarf_Addr low, high, elf_bias;
	void **userdata;
	uint64_t bias = 0;
	Elf *elf;
	int err;

	err = elf_load_bias(fd, e, &bias);
	if (err == -EEXIST && uw->image) {
		bias = 0; /* an image is "mapped" wherever the caller says: at its link addresses */
		err = 0;
	}
	if (err == -EEXIST)
		log_debug("unwind pid %d: %s mapped again at %#llx, away from its fixed address: code there is "
			  "walked by frame pointer", (int)uw->pid, name, (unsigned long long)e->start);
	if (err < 0) {
		close(fd);
		return err;
	}
	/* base = bias with add_p_vaddr: libdwfl adds each segment's p_vaddr to it */
	mod = dwfl_report_elf(dwfl, name, name, fd, bias, true);
	if (!mod) {
		log_debug("unwind pid %d: cannot report %s at %#llx: %s", (int)uw->pid, name,
			  (unsigned long long)e->start, dwfl_errmsg(-1));
		close(fd);
		return -ENOEXEC;
	}
	/* from here the module owns fd */
	dwfl_module_info(mod, &userdata, &low, &high, NULL, NULL, NULL, NULL);
	/* which of its CFI sections libdw may read (cfiscan.h), kept as the module's userdata */
	elf = dwfl_module_getelf(mod, &elf_bias);
	*userdata = (void *)(uintptr_t)(elf ? cfiscan_check(elf) : 0);
	uw->mods[uw->nmods].low = low;
	uw->mods[uw->nmods].high = high;
	uw->nmods++;
	return 0;
}

static int report_all(struct unwinder *uw, Dwfl *dwfl, const struct procmaps *maps)
{
	for (size_t i = 0; i < maps->n; i++) {
		if (is_code(&maps->entries[i]))
			report_mapping(uw, dwfl, &maps->entries[i]);
	}
	return uw->nmods > 0 ? 0 : -ENOEXEC;
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

static bool exec_map_eq(const struct exec_map *a, const struct exec_map *b)
{
	return a->start == b->start && a->end == b->end && a->offset == b->offset && a->inode == b->inode &&
	       a->dev_major == b->dev_major && a->dev_minor == b->dev_minor;
}

/* true when every mapping of old is still in new (both in address order): only additions. */
static bool only_added(const struct exec_map *old, size_t nold, const struct exec_map *new, size_t nnew)
{
	size_t j = 0;

	for (size_t i = 0; i < nold; i++) {
		while (j < nnew && new[j].start < old[i].start)
			j++;
		if (j == nnew || !exec_map_eq(&old[i], &new[j]))
			return false;
	}
	return true;
}

/* Replaces uw's Dwfl by a fresh one holding the modules of maps; on failure uw is unchanged. */
static int rebuild(struct unwinder *uw, const struct procmaps *maps)
{
	struct module_range *old_mods = uw->mods;
	size_t old_nmods = uw->nmods;
	Dwfl *dwfl = NULL;
	int err;

	uw->mods = calloc(UNWIND_MAX_MODULES, sizeof(*uw->mods));
	uw->nmods = 0;
	dwfl = uw->mods ? dwfl_begin(&dwfl_callbacks) : NULL;
	if (!dwfl) {
		err = -ENOMEM;
		goto cleanup;
	}
	dwfl_report_begin(dwfl);
	err = report_all(uw, dwfl, maps);
	if (dwfl_report_end(dwfl, NULL, NULL) != 0 && !err)
		err = -ENOMEM;
	if (err)
		goto cleanup;
	/* no Elf given: libdwfl takes the architecture from the first module */
	if (!dwfl_attach_state(dwfl, NULL, uw->pid, &thread_callbacks, uw)) {
		log_debug("unwind pid %d: dwfl_attach_state: %s", (int)uw->pid, dwfl_errmsg(-1));
		err = -ENOEXEC;
		goto cleanup;
	}
	dwfl_end(uw->dwfl);
	uw->dwfl = dwfl;
	free(old_mods);
	return 0;
cleanup:
	dwfl_end(dwfl);
	free(uw->mods);
	uw->mods = old_mods;
	uw->nmods = old_nmods;
	return err;
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
	if (uw->dwfl && (size_t)nexecs == uw->nexecs &&
	    (nexecs == 0 || !memcmp(execs, uw->execs, (size_t)nexecs * sizeof(*execs))))
		goto cleanup; /* nothing changed: the common case, keep every warm CFI cache */
	if (uw->dwfl && only_added(uw->execs, uw->nexecs, execs, (size_t)nexecs)) {
		/* dlopen: add the new objects, keep the others */
		dwfl_report_begin_add(uw->dwfl);
		for (size_t i = 0; i < maps.n; i++) {
			if (is_code(&maps.entries[i]))
				report_mapping(uw, uw->dwfl, &maps.entries[i]);
		}
		if (dwfl_report_end(uw->dwfl, NULL, NULL) != 0)
			err = -ENOMEM;
	} else {
		/* something was unmapped or replaced: start over */
		err = rebuild(uw, &maps);
	}
	rules_clear(uw); /* cached rules may name addresses that now belong to other code */
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

struct unwinder *unwinder__new(pid_t pid)
{
	struct unwinder *uw;
	const char *slow;
	int err;

	if (pid <= 0) {
		errno = EINVAL;
		return NULL;
	}
	uw = calloc(1, sizeof(*uw));
	if (!uw) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&uw->lock, NULL);
	uw->pid = pid;
	slow = getenv("PROFD_UNWIND_SLOW");
	uw->slow_only = slow && *slow && strcmp(slow, "0");
	uw->rules = calloc(RULE_CACHE_SIZE, sizeof(*uw->rules));
	if (!uw->rules) {
		unwinder__free(uw);
		errno = ENOMEM;
		return NULL;
	}
	elf_version(EV_CURRENT);
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
	struct unwinder *uw = NULL;
	int fd = -1, err;

	if (!image || !size || start + size < start) {
		errno = EINVAL;
		return NULL;
	}
	uw = calloc(1, sizeof(*uw));
	if (!uw) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&uw->lock, NULL);
	uw->image = true;
	uw->slow_only = slow_only;
	uw->rules = calloc(RULE_CACHE_SIZE, sizeof(*uw->rules));
	uw->mods = calloc(1, sizeof(*uw->mods));
	uw->dwfl = uw->rules && uw->mods ? dwfl_begin(&dwfl_callbacks) : NULL;
	if (!uw->dwfl) {
		err = -ENOMEM;
		goto fail;
	}
	/* libdwfl reads modules from files: a memfd is one */
	fd = memfd_create("profd-image", MFD_CLOEXEC);
	if (fd < 0 || write(fd, image, size) != (ssize_t)size) {
		err = fd < 0 ? -errno : -EIO;
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	elf_version(EV_CURRENT);
	dwfl_report_begin(uw->dwfl);
	err = report_fd(uw, uw->dwfl, &e, fd);
	if (dwfl_report_end(uw->dwfl, NULL, NULL) != 0 && !err)
		err = -ENOMEM;
	if (!err)
		err = unwinder__add_code(uw, start, start + size);
	if (err)
		goto fail;
	if (!dwfl_attach_state(uw->dwfl, NULL, uw->pid, &thread_callbacks, uw)) {
		err = -ENOEXEC;
		goto fail;
	}
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
	free(uw->execs);
	free(uw->mods);
	free(uw->code);
	free(uw->rules);
	pthread_mutex_destroy(&uw->lock);
	free(uw);
}

// SPDX-License-Identifier: MIT
/* profd's uprobes in sampled stacks: repairs what they change in a copied sample, recognises
 * the kernel's uprobe handling in kernel frames. See probeframes.h. */
#include <stdlib.h>
#include <string.h>

#include "sources/probeframes.h"
#include "symbols/symbolize.h"

/* Direct-mapped cache of kernel frame verdicts: a sampler sees the same few hundred addresses. */
#define KCACHE_BITS 10
#define KCACHE_SIZE (1u << KCACHE_BITS)
/* Direct-mapped cache of pending returns by (thread, slot): a loop calls from the same sites at
 * the same depths. */
#define RECENT_BITS 10
#define RECENT_SIZE (1u << RECENT_BITS)

/* The x86-64 return trampoline that uses the uretprobe syscall (6.11+): push %rax; push %rcx;
 * push %r11; mov $335,%rax; syscall; uretprobe_syscall_check: pop %r11; pop %rcx; ret. The
 * syscall writes the real return address over the pushed %rax, which its ret then reads: from
 * these offsets on, the word holding the return address is this many words above sp. */
static const struct {
	uint8_t off, words;
} tramp_tail[] = {
	{ 13, 2 }, /* pop %r11 (also where the syscall returns: a sample in its exit path) */
	{ 15, 1 }, /* pop %rcx */
	{ 16, 0 }, /* ret */
};

static bool read_word(const struct unwind_stack *st, uint64_t addr, uint64_t *ret)
{
	if (addr < st->start || addr - st->start > st->len || st->len - (addr - st->start) < sizeof(*ret))
		return false;
	memcpy(ret, st->data + (addr - st->start), sizeof(*ret));
	return true;
}

/* For a pc in the return trampoline, at offset off: the return address it stands for and the
 * caller's sp after that return. */
static bool trampoline_caller(const struct profd_uprobe_state *up, const struct unwind_stack *st, uint64_t sp,
			      uint64_t off, uint64_t *ret_pc, uint64_t *ret_sp)
{
	uint32_t n = up->nrets < PROFD_UPROBE_MAX_RETS ? up->nrets : PROFD_UPROBE_MAX_RETS;
	uint64_t v;

	/* Still pending: the innermost return whose slot the trampoline's sp is next to. The int3
	 * trampoline (before 6.11, and wherever the syscall is not used) runs at sp = slot + 8; the
	 * syscall one pushes up to 3 words first (sp = slot + 8 ... slot - 16). */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t slot = up->ret_slot[i];

		if (slot + 8 >= sp && slot <= sp + 16) {
			*ret_pc = up->ret_orig[i];
			*ret_sp = slot + 8;
			return true;
		}
	}
	/* Already handled (the kernel dropped it from the list): the syscall trampoline's tail,
	 * where the return address is back on the stack. */
	for (size_t i = 0; i < sizeof(tramp_tail) / sizeof(tramp_tail[0]); i++) {
		uint64_t slot = sp + 8 * (uint64_t)tramp_tail[i].words;

		if (off == tramp_tail[i].off && read_word(st, slot, &v) && v && v != up->tramp) {
			*ret_pc = v;
			*ret_sp = slot + 8;
			return true;
		}
	}
	return false;
}

int probe_fix_sample(const struct profd_uprobe_state *up, struct unwind_regs *regs, struct unwind_stack *stack,
		     struct probe_fix *fix)
{
	uint64_t pc = regs->r[UNWIND_REG_RIP], sp = regs->r[UNWIND_REG_RSP], npc, nsp, v;
	uint32_t n = up->nrets < PROFD_UPROBE_MAX_RETS ? up->nrets : PROFD_UPROBE_MAX_RETS;
	int changes = 0;

	memset(fix, 0, sizeof(*fix));
	if (up->flags & PROFD_UPROBE_F_NO_BTF) {
		fix->no_btf = true;
		return 0;
	}
	if (up->xol_vaddr && pc - up->xol_vaddr < PROFD_UPROBE_SLOT_BYTES) {
		/* single-stepping a copy of the probed instruction: same length, same effect on the
		 * stack, so the offset into the copy is the offset into the original */
		regs->r[UNWIND_REG_RIP] = up->xol_orig + (pc - up->xol_vaddr);
		fix->in_uprobes = true;
		changes++;
	} else if (up->tramp && pc - up->tramp < PROFD_UPROBE_SLOT_BYTES) {
		fix->in_uprobes = true;
		if (trampoline_caller(up, stack, sp, pc - up->tramp, &npc, &nsp)) {
			regs->r[UNWIND_REG_RIP] = npc;
			regs->r[UNWIND_REG_RSP] = nsp;
			fix->leaf_is_return = true;
			changes++;
		}
	} else if (up->tramp && pc >= up->tramp && pc - up->tramp < 4096) {
		fix->in_uprobes = true; /* another slot of the page: nothing known to undo */
	}
	/* return addresses replaced by the trampoline, where the copy still holds the trampoline
	 * (a call that longjmp'd away leaves a stale entry whose slot now holds something else) */
	for (uint32_t i = 0; up->tramp && i < n; i++) {
		uint64_t slot = up->ret_slot[i];

		if (!read_word(stack, slot, &v) || v != up->tramp)
			continue;
		fix->words[fix->nwords++] = (struct unwind_word){ slot, up->ret_orig[i] };
		changes++;
	}
	if (fix->nwords) {
		stack->words = fix->words;
		stack->nwords = (size_t)fix->nwords;
	}
	return changes;
}

/* Functions that run only while the kernel handles a uprobe hit, under the names of 6.1 to
 * 6.18 (static ones may be inlined into a caller of the list: any one present is enough). */
static const char *const uprobe_funcs[] = {
	/* the trap taken (int3 at the probe, or the int3 return trampoline) and its handling */
	"uprobe_notify_resume", "handle_swbp", "handler_chain", "handle_trampoline",
	"uprobe_handle_trampoline", "handle_uretprobe_chain", "prepare_uretprobe",
	"arch_uretprobe_hijack_return_addr", "uprobe_pre_sstep_notifier", "arch_uprobe_exception_notify",
	/* the probed instruction emulated, or single-stepped out of line */
	"arch_uprobe_skip_sstep", "arch_uprobe_pre_xol", "arch_uprobe_post_xol", "handle_singlestep",
	"uprobe_post_sstep_notifier", "arch_uprobe_optimize",
	/* the BPF programs' dispatch: perf-event uprobes and uprobe-multi links (sessions) */
	"uprobe_dispatcher", "uretprobe_dispatcher", "__uprobe_perf_func", "uprobe_perf_func",
	"uretprobe_perf_func", "uprobe_prog_run", "uprobe_multi_link_handler", "uprobe_multi_link_ret_handler",
	/* the return trampoline's syscall (6.11+) and the optimised nop5 probe's (6.17+) */
	"__x64_sys_uretprobe", "__do_sys_uretprobe", "__x64_sys_uprobe", "__do_sys_uprobe",
};

bool probe_kernel_name(const char *name, bool outermost)
{
	size_t len;

	if (!name)
		return false;
	len = strcspn(name, "."); /* uprobe_notify_resume.cold, handler_chain.isra.0 */
	/* a breakpoint trap entered from user code: int3 is where uprobes trap (a debugger's
	 * breakpoint stops the thread, which then burns no CPU to sample) */
	if (outermost && len == strlen("asm_exc_int3") && !strncmp(name, "asm_exc_int3", len))
		return true;
	for (size_t i = 0; i < sizeof(uprobe_funcs) / sizeof(uprobe_funcs[0]); i++)
		if (strlen(uprobe_funcs[i]) == len && !strncmp(name, uprobe_funcs[i], len))
			return true;
	return false;
}

enum {
	KV_OTHER = 1,    /* named, not uprobe handling */
	KV_UPROBE = 2,   /* uprobe handling wherever it is */
	KV_ENTRY = 3,    /* uprobe handling when outermost (asm_exc_int3) */
};

struct kcache_entry {
	uint64_t addr;
	uint8_t verdict; /* 0: empty */
};

/* A pending return seen in a sample: thread, slot, probe, the return address it replaced. */
struct recent_ret {
	uint64_t slot, func, orig;
	uint32_t tid;
};

struct probe_frames {
	struct symbolizer *sym;
	struct kcache_entry cache[KCACHE_SIZE];
	struct recent_ret recent[RECENT_SIZE];
};

struct probe_frames *probe_frames__new(struct symbolizer *sym)
{
	struct probe_frames *pk = calloc(1, sizeof(*pk));

	if (pk)
		pk->sym = sym;
	return pk;
}

void probe_frames__free(struct probe_frames *pk)
{
	free(pk);
}

static uint8_t verdict_of(struct probe_frames *pk, uint64_t addr)
{
	struct kcache_entry *c = &pk->cache[(addr * 0x9e3779b97f4a7c15ull) >> (64 - KCACHE_BITS)];
	struct sym_result r;
	const char *name;

	if (c->verdict && c->addr == addr)
		return c->verdict;
	c->addr = addr;
	c->verdict = KV_OTHER;
	if (!pk->sym || symbolizer__lookup(pk->sym, addr, &r) || r.nframes == 0)
		return c->verdict;
	name = r.frames[0].name ? r.frames[0].name : r.frames[0].system_name;
	if (probe_kernel_name(name, false))
		c->verdict = KV_UPROBE;
	else if (probe_kernel_name(name, true))
		c->verdict = KV_ENTRY;
	return c->verdict;
}

bool probe_frames__match(struct probe_frames *pk, const uint64_t *kframes, int n)
{
	if (!pk)
		return false;
	for (int i = 0; i < n; i++) {
		/* return addresses point past the call: look up pc - 1 */
		uint8_t v = verdict_of(pk, i == 0 ? kframes[i] : kframes[i] - 1);

		if (v == KV_UPROBE || (v == KV_ENTRY && i == n - 1))
			return true;
	}
	return false;
}

static struct recent_ret *recent_slot(struct probe_frames *pk, uint32_t tid, uint64_t slot)
{
	return &pk->recent[((slot ^ ((uint64_t)tid << 40)) * 0x9e3779b97f4a7c15ull) >> (64 - RECENT_BITS)];
}

void probe_frames__learn(struct probe_frames *pk, uint32_t tid, const struct profd_uprobe_state *up,
			 const struct unwind_regs *regs, const struct unwind_stack *stack, bool in_probe)
{
	uint32_t n = up->nrets < PROFD_UPROBE_MAX_RETS ? up->nrets : PROFD_UPROBE_MAX_RETS;
	uint64_t sp = regs->r[UNWIND_REG_RSP], v;

	if (!pk || (up->flags & PROFD_UPROBE_F_NO_BTF))
		return;
	for (uint32_t i = 0; i < n; i++)
		*recent_slot(pk, tid, up->ret_slot[i]) =
			(struct recent_ret){ up->ret_slot[i], up->ret_func[i], up->ret_orig[i], tid };
	/* the trap before the kernel wrote the trampoline: the return address is still at sp */
	if (in_probe && up->tramp && read_word(stack, sp, &v) && v != up->tramp && v)
		*recent_slot(pk, tid, sp) = (struct recent_ret){ sp, regs->r[UNWIND_REG_RIP], v, tid };
}

int probe_frames__in_flight(struct probe_frames *pk, uint32_t tid, const struct profd_uprobe_state *up,
			    const struct unwind_regs *regs, struct unwind_stack *stack, struct probe_fix *fix)
{
	uint64_t sp = regs->r[UNWIND_REG_RSP], pc = regs->r[UNWIND_REG_RIP], v;
	const struct recent_ret *r;

	if (!pk || !up->tramp || fix->nwords >= PROFD_UPROBE_MAX_RETS || !read_word(stack, sp, &v) ||
	    v != up->tramp)
		return 0;
	for (int i = 0; i < fix->nwords; i++)
		if (fix->words[i].addr == sp)
			return 0; /* recorded: not in flight */
	/* the kernel records the probe's address as the return's function; the pc is still there */
	r = recent_slot(pk, tid, sp);
	/* a trap taken at the int3 reports pc + 1 until the kernel moves it back to the probe */
	if (r->tid != tid || r->slot != sp || (r->func != pc && r->func != pc + 1) || !r->orig)
		return 0;
	fix->words[fix->nwords++] = (struct unwind_word){ sp, r->orig };
	stack->words = fix->words;
	stack->nwords = (size_t)fix->nwords;
	return 1;
}

/* SPDX-License-Identifier: MIT */
/* profd's own uprobes (the heap source's allocator probes) in the stacks profd samples. While
 * they are attached the kernel traps on every probed call, may run the probed instruction out of
 * line in the [uprobes] page, and replaces the return address of a call whose return is probed
 * with a trampoline in that page until it returns. This module undoes the last two in a copied
 * sample (bpf/uprobes.h says what the kernel had changed), so that the walk reaches the thread's
 * root, and tells a sample taken inside the probe machinery (the trap, the handlers, the slot,
 * the trampoline) from one of the target's own code, so that the CPU profile shows profd's cost
 * as profd's: one frame "profd: allocator probe" (symbols/frame.h) under the probed function.
 * Not thread-safe: one caller at a time per struct probe_frames (a source's reader thread). */
#ifndef PROFD_PROBEFRAMES_H
#define PROFD_PROBEFRAMES_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/types.h>

#include "bpf/uprobes.h"
#include "stacks/unwind.h"

struct symbolizer;

/* What probe_fix_sample() found and changed. words[] backs the stack's overlay. */
struct probe_fix {
	struct unwind_word words[PROFD_UPROBE_MAX_RETS];
	int nwords;          /* return addresses put back */
	bool in_uprobes;     /* the pc was in the [uprobes] page: an out-of-line slot or the trampoline */
	bool leaf_is_return; /* the pc was the trampoline's: regs now hold the caller of the probed
			      * function at its return address (store the leaf caller style, not + 1) */
	bool no_btf;         /* the kernel's uprobe state could not be read: nothing was repaired */
};

/* Undoes in *regs and *stack what the uprobes described by up had changed when the sample was
 * taken: a pc in the thread's out-of-line slot becomes the probed instruction's; a pc in the
 * return trampoline becomes the return address it stands for, with the caller's sp; a stack word
 * that holds the trampoline in place of a pending call's return address is read as that
 * address (stack->words points at fix->words, which must outlive the unwinding). Returns the
 * number of changes (0: nothing to undo; up may describe a thread that never hit a uprobe). */
int probe_fix_sample(const struct profd_uprobe_state *up, struct unwind_regs *regs, struct unwind_stack *stack,
		     struct probe_fix *fix);

/* true when a kernel function of this name runs only for a uprobe hit (the trap, the handlers,
 * the single step, the return trampoline's syscall), on 6.1 to 6.18; outermost: it is the
 * outermost kernel frame (the entry from user mode: asm_exc_int3 counts only there, where it is
 * a breakpoint trap taken in user code). name may carry a ".cold"-like suffix. */
bool probe_kernel_name(const char *name, bool outermost);

struct probe_frames;

/* What a sampler knows about profd's probes across samples: kernel frame verdicts, and the
 * return addresses the trampoline replaced, recently seen per thread. Kernel frames are named
 * with sym (borrowed, outlives it; NULL: none are recognised). Returns NULL only when out of
 * memory. */
struct probe_frames *probe_frames__new(struct symbolizer *sym);
void probe_frames__free(struct probe_frames *pk); /* NULL-safe */
/* true when the kernel frames of a sample (leaf first, kframes[0] the interrupted instruction,
 * the others return addresses) are in uprobe handling of a trap taken in user code. Verdicts are
 * cached per address. */
bool probe_frames__match(struct probe_frames *pk, const uint64_t *kframes, int n);
/* Remembers, for probe_frames__in_flight(), the pending returns of up (thread tid), and when the
 * sample is inside the probe machinery (in_probe: the trap of a probe at regs' pc, before the
 * kernel replaced anything), the return address at sp, which a probe at function entry finds
 * there. */
void probe_frames__learn(struct probe_frames *pk, uint32_t tid, const struct profd_uprobe_state *up,
			 const struct unwind_regs *regs, const struct unwind_stack *stack, bool in_probe);
/* A sample taken while the kernel handles a probe's entry, after it wrote the trampoline over
 * the return address at sp but before it recorded the return (the kernel keeps the address in
 * a local meanwhile): the return address this thread's same probe had at the same sp when it
 * was last seen pending, added to fix's words (stack->words updated). A guess, right when the
 * call comes from the same site as last time: the caller keeps it only if the walk then reaches
 * the thread's root. Returns 1 when a word was added, else 0. */
int probe_frames__in_flight(struct probe_frames *pk, uint32_t tid, const struct profd_uprobe_state *up,
			    const struct unwind_regs *regs, struct unwind_stack *stack, struct probe_fix *fix);

#endif

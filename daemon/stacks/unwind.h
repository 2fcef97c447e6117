/* SPDX-License-Identifier: MIT */
/* DWARF CFI unwinding of a copied user stack (libdw), for samples taken from a process profd
 * does not control: registers + a window of stack bytes in, a list of pcs out (samples.h
 * convention: lookup address = pc - 1). Where a pc has no CFI but lies in executable memory
 * (JIT code, a second mapping of a file, hand-written assembly), the frame-pointer chain is
 * followed, checked at each step, until a pc with CFI takes over again. Modules come from the target's /proc/PID/maps and are
 * opened through /proc/PID/map_files so deleted or replaced binaries unwind correctly.
 * One unwinder per target; calls serialize on an internal lock. */
#ifndef PROFD_UNWIND_H
#define PROFD_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* x86_64 registers in DWARF numbering order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip. */
#define UNWIND_NREGS 17
enum { UNWIND_REG_RBP = 6, UNWIND_REG_RSP = 7, UNWIND_REG_RIP = 16 };

struct unwind_regs {
	uint64_t r[UNWIND_NREGS];
};

/* A word of the stack to read as another value than the copy holds: a return address that
 * was replaced while the sample was taken (by a return probe's trampoline) and what it was. */
struct unwind_word {
	uint64_t addr;
	uint64_t value;
};

/* A copy of the thread's stack taken at the sample: data[i] is the byte at address start + i,
 * except for the nwords words of words[] (may be NULL when nwords is 0), read as their value. */
struct unwind_stack {
	uint64_t start;
	const uint8_t *data;
	size_t len;
	const struct unwind_word *words;
	size_t nwords;
};

/* Why a walk ended. */
enum unwind_stop {
	UNWIND_STOP_ROOT = 0,  /* reached the thread's start (_start / clone / start_thread) */
	UNWIND_STOP_WINDOW,    /* needed stack bytes past the end of the copy */
	UNWIND_STOP_NO_CFI,    /* a pc with no CFI (and no usable frame pointer) */
	UNWIND_STOP_BAD_ADDR,  /* a pc outside any executable mapping */
	UNWIND_STOP_DEPTH,     /* hit the depth bound */
	UNWIND_STOP_ERROR,     /* any other libdw failure */
	UNWIND_STOP_FRAME_POINTER, /* code without CFI whose frame-pointer chain failed a check */
	UNWIND_STOP__COUNT,
};

const char *unwind_stop_name(enum unwind_stop why);

struct unwinder;

/* Returns NULL and sets errno on failure (ESRCH: process gone; ENOMEM). */
struct unwinder *unwinder__new(pid_t pid);
/* An unwinder over one ELF image held in memory (copied), as if its whole file were mapped
 * executable at start (file offset 0 there); no process behind it: tests and fuzzing feed the
 * CFI walk with it. slow_only: libdwfl's walk for every sample, as PROFD_UNWIND_SLOW=1.
 * Returns NULL and sets errno (EINVAL; ENOEXEC: not an x86-64 ELF libdwfl takes; ENOMEM). */
struct unwinder *unwinder__new_image(const void *image, size_t size, uint64_t start, bool slow_only);
void unwinder__free(struct unwinder *uw); /* NULL-safe */
/* Declares [start, end) of an image unwinder as executable code without CFI (as a JIT's code
 * region): frames there are walked through their frame pointers. Tests and fuzzing only.
 * Returns 0, -EINVAL (not an image unwinder, empty range) or -E2BIG (too many ranges). */
int unwinder__add_code(struct unwinder *uw, uint64_t start, uint64_t end);
/* Re-reads the target's mappings (dlopen, new JIT code). Returns 0 or -errno. */
int unwinder__refresh(struct unwinder *uw);
/* Unwinds one sample. Writes at most max pcs (leaf first; the leaf is regs rip, stored + 1).
 * Returns the number of pcs (>= 1 when rip is non-zero) or -errno; *ret_why says why it ended. */
int unwinder__unwind(struct unwinder *uw, const struct unwind_regs *regs, const struct unwind_stack *stack,
		     uint64_t *pcs, int max, enum unwind_stop *ret_why);

#endif

/* SPDX-License-Identifier: MIT */
/* What symbolization says about one address: a function frame, innermost first. Shared by the
 * per-process symbolizer (symbolize.h) and the per-file modules below it (symmod.h), so that the
 * lower layer need not include the higher one. */
#ifndef PROFD_SYMBOLS_FRAME_H
#define PROFD_SYMBOLS_FRAME_H

#include <stdint.h>

#define SYM_MAX_INLINE 16

/* Addresses that stand for one of profd's own steps in a target's stack rather than for code: a
 * range of x86-64's non-canonical hole (neither user nor kernel space, with 4- or 5-level page
 * tables), so no pc of a target ever falls in it. The symbolizer names each with no mapping and
 * no file; sample sets hold them as any other pc (SYM_SYNTHETIC_BASE + kind, stored + 1 as an
 * exact pc: see stacks/samples.h). */
#define SYM_SYNTHETIC_BASE 0xfe00000000000000ull
enum sym_synthetic {
	SYM_SYNTHETIC_ALLOC_PROBE = 1, /* profd's allocator probes: trap, handlers, trampoline */
	SYM_SYNTHETIC_BEFORE_ATTACH,   /* threadcreate: threads that existed when profd attached */
	SYM_SYNTHETIC_FD_BEFORE_ATTACH, /* fd: descriptors open when profd attached */
	SYM_SYNTHETIC_FD_UNSEEN,       /* fd: open, but their creation was not seen (lost, SCM_RIGHTS) */
	/* fd: what a descriptor without a stack is, the leaf under one of the two above */
	SYM_SYNTHETIC_FD_FILE,
	SYM_SYNTHETIC_FD_DIRECTORY,
	SYM_SYNTHETIC_FD_DEVICE,
	SYM_SYNTHETIC_FD_SOCKET,
	SYM_SYNTHETIC_FD_PIPE,
	SYM_SYNTHETIC_FD_EVENTFD,
	SYM_SYNTHETIC_FD_EPOLL,
	SYM_SYNTHETIC_FD_TIMERFD,
	SYM_SYNTHETIC_FD_SIGNALFD,
	SYM_SYNTHETIC_FD_INOTIFY,
	SYM_SYNTHETIC_FD_PIDFD,
	SYM_SYNTHETIC_FD_BPF,
	SYM_SYNTHETIC_FD_PERF_EVENT,
	SYM_SYNTHETIC_FD_ANON,         /* another anonymous inode */
	SYM_SYNTHETIC_FD_OTHER,        /* gone before it could be read */
	SYM_SYNTHETIC__COUNT,
};
/* What the profiles call them, e.g. "profd: allocator probe". */
#define SYM_SYNTHETIC_ALLOC_PROBE_NAME "profd: allocator probe"
#define SYM_SYNTHETIC_BEFORE_ATTACH_NAME "created before profd attached"
#define SYM_SYNTHETIC_FD_BEFORE_ATTACH_NAME "opened before profd attached"
#define SYM_SYNTHETIC_FD_UNSEEN_NAME "opened where profd did not see it"

static inline uint64_t sym_synthetic_addr(enum sym_synthetic kind)
{
	return SYM_SYNTHETIC_BASE + (uint64_t)kind;
}

/* The kind addr stands for, or 0 when it is a real address. */
static inline int sym_synthetic_kind(uint64_t addr)
{
	return addr > SYM_SYNTHETIC_BASE && addr < SYM_SYNTHETIC_BASE + SYM_SYNTHETIC__COUNT
		       ? (int)(addr - SYM_SYNTHETIC_BASE) : 0;
}

/* One frame of an address: the innermost (callee) first, the outermost caller last. Strings are
 * borrowed from the symbolizer's cache and stay valid until symbolizer__free() (entries are
 * reference counted and never evicted while a result referencing them is live). */
struct sym_frame {
	const char *name;        /* demangled name ("ns::Foo::bar(int)"), NULL if unknown */
	const char *system_name; /* raw symbol ("_ZN2ns3Foo3barEi"), NULL if unknown */
	const char *file;        /* source file, NULL if unknown */
	int line;                /* 0 if unknown */
	int start_line;          /* first line of the function, 0 if unknown */
	uint64_t func_start;     /* runtime address of the function's entry, 0 if unknown */
};

#endif

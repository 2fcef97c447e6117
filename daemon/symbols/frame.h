/* SPDX-License-Identifier: MIT */
/* What symbolization says about one address: a function frame, innermost first. Shared by the
 * per-process symbolizer (symbolize.h) and the per-file modules below it (symmod.h), so that the
 * lower layer need not include the higher one. */
#ifndef PROFD_SYMBOLS_FRAME_H
#define PROFD_SYMBOLS_FRAME_H

#include <stdint.h>

#define SYM_MAX_INLINE 16

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

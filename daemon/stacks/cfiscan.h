/* SPDX-License-Identifier: MIT */
/* Checks a module's call frame information before libdw evaluates any of it. libdw 0.188 grows a
 * frame's register table to the highest register number an instruction of the FDE (or its CIE)
 * names, up to 2^26 entries: gigabytes, allocated and cleared on every lookup of a pc in such an
 * FDE. A target's own .eh_frame could so make profd allocate and zero a gigabyte per sample
 * (found by fuzz_unwind). The check reads every CIE and FDE the way libdw finds them (entries in
 * order, FDEs through their CIE pointer and the .eh_frame_hdr table) and accepts a section only
 * if every instruction is one libdw knows, naming registers up to CFISCAN_MAX_REGNO.
 * Pure function of the ELF; thread-safe. */
#ifndef PROFD_CFISCAN_H
#define PROFD_CFISCAN_H

#include <gelf.h>

/* x86-64 DWARF numbers end at 125 (k7); 1024 register slots cost libdw 24 KiB. */
#define CFISCAN_MAX_REGNO 1023

enum {
	CFISCAN_EH_OK = 1,    /* .eh_frame (with .eh_frame_hdr) may be handed to libdw */
	CFISCAN_DEBUG_OK = 2, /* .debug_frame may be */
};

/* Which CFI sections of elf are safe for libdw: CFISCAN_* bits. A section that is absent counts
 * as safe (libdw finds nothing in it); CFI located without section headers (through
 * PT_GNU_EH_FRAME) is not checked and so not safe. */
unsigned cfiscan_check(Elf *elf);

#endif

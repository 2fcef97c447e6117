/* SPDX-License-Identifier: MIT */
/* One ELF file's call frame information, shared by every unwinder whose process maps it: the file
 * read once (mmapped, no descriptor kept), its CFI checked once (cfiscan.h), libdw's CFI of its
 * .eh_frame and .debug_frame, and the per-address rules the walker reads, cached by file address
 * (the same for every process, whatever its load bias). Files are found by identity: device,
 * inode, size and mtime of what the mapping holds, then GNU build id (a copy of a binary, or a
 * file replaced on disk by the same build, shares; another build is another entry); an image read
 * from memory (the vDSO) by its build id, else its bytes. Reference counted; a file no process
 * maps any more stays cached while fewer than CFIFILE_IDLE_MAX are idle (a replaced worker maps
 * it again at once), the oldest idle freed first. Its symbol table answers one question: whether
 * an address is in a thread's root function by name (complete.h). Thread-safe: a registry lock, and a lock per
 * file around libdw. */
#ifndef PROFD_CFIFILE_H
#define PROFD_CFIFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <elfutils/libdw.h>

#include "proc/procmaps.h"
#include "stacks/unwind.h"

/* Bounds: files known at once (referenced or idle), idle files kept, rules cached per file. */
#define CFIFILE_MAX_FILES 4096
#define CFIFILE_IDLE_MAX 32
#define CFIFILE_RULES_MIN 64
#define CFIFILE_RULES_MAX 4096
/* Bound on the rule caches of every file together: past it a file's cache stops growing (its
 * colliding addresses replace each other). */
#define CFIFILE_RULES_BUDGET (64u << 20)
#define CFIFILE_ROOT_CACHE 64

/* How to get one register of the caller from the callee's frame at one address. */
enum cfi_reg_kind {
	REG_UNDEF,    /* unknown in the caller */
	REG_SAME,     /* unchanged */
	REG_AT_CFA,   /* saved at CFA + off */
	REG_CFA_PLUS, /* is CFA + off */
	REG_COPY,     /* is the callee's register reg */
	REG_EXPR,     /* a DWARF expression (libdw-owned ops, alive while the file is referenced) */
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

/* What the CFI says at one address: the fast walker's unit of work. */
struct cfi_rule {
	uint64_t addr; /* file address */
	bool valid;
	bool fast;   /* every rule below is one the fast walker evaluates */
	bool signal; /* the FDE is a signal trampoline's */
	uint8_t status;
	uint8_t cfa_kind;
	uint8_t cfa_reg;
	uint16_t cfa_nops;
	int64_t cfa_off;
	const Dwarf_Op *cfa_ops;
	struct reg_rule regs[UNWIND_NREGS];
};

struct cfifile;

/* The file open at fd (always consumed). Returns 0 and a referenced file, or -errno (-ENOEXEC:
 * not an x86-64 ELF; -ENOSPC: CFIFILE_MAX_FILES referenced). */
int cfifile_get_fd(int fd, struct cfifile **ret);
/* The same for an ELF image in memory (copied; the vDSO). */
int cfifile_get_image(const void *image, size_t size, struct cfifile **ret);
struct cfifile *cfifile__ref(struct cfifile *f);
void cfifile__put(struct cfifile *f); /* NULL-safe */

/* Where mapping e of the file puts it (e NULL: at its link addresses, bias 0): *ret_bias (runtime address = file address + bias) and the
 * range [low, high) its loadable segments span there. Returns 0, -ENOEXEC (no segment holds e's
 * offset) or -EEXIST (a fixed-address executable mapped away from its addresses: a copy of its
 * code, as V8 makes of node's builtins). */
int cfifile__place(const struct cfifile *f, const struct procmaps_entry *e, uint64_t *ret_bias, uint64_t *ret_low,
		   uint64_t *ret_high);
/* The rule at file address vaddr, copied into *ret (its expressions stay valid while f is
 * referenced). */
void cfifile__rule(struct cfifile *f, uint64_t vaddr, struct cfi_rule *ret);

/* Whether the function holding file address vaddr is a thread's root by its symbol name
 * (stack_root_function, complete.h): the file's .symtab, else its .dynsym, as libdwfl looks a
 * symbol up. Cached per file (CFIFILE_ROOT_CACHE answers). */
bool cfifile__root_function(struct cfifile *f, uint64_t vaddr);

/* Files known (referenced or idle), and f's references: tests and the index's counters. */
int cfifile_count(void);
int cfifile__refs(struct cfifile *f);
/* Frees every idle file (tests). */
void cfifile_flush(void);

#endif

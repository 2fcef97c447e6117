/* SPDX-License-Identifier: MIT */
/* One ELF object (executable, library, vDSO image) prepared for fast symbolization: sorted
 * function symbols, sorted DWARF subprogram and compile-unit ranges, a demangled-name cache. Built
 * once and cached process-wide by GNU build id (else path, inode, size and mtime), reference
 * counted, with a memory bound: unreferenced modules are evicted LRU first.
 * Not thread-safe by itself: every call must hold symcache_lock() (libdw is not thread-safe). */
#ifndef PROFD_SYMMOD_H
#define PROFD_SYMMOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbols/frame.h"

/* Default bound on what the cache may hold (index arrays, names, loaded debug sections). */
#define SYMCACHE_DEFAULT_LIMIT (512u << 20)
#define SYMCACHE_MAX_MODULES 4096
/* Bounds on what one vDSO image read from a target may be. */
#define SYMMOD_MAX_IMAGE (1u << 20)

struct symmod;

void symcache_lock(void);
void symcache_unlock(void);
/* Sets the memory bound in bytes (0 restores the default); evicts unreferenced modules to fit. */
void symcache_set_limit(size_t bytes);
/* Current accounted bytes and number of cached modules (referenced or not). */
size_t symcache_bytes(void);
int symcache_count(void);
/* Frees every unreferenced module (tests, shutdown). */
void symcache_flush(void);

/* The module for the ELF file open at fd (always consumed). path is where the file lives as seen
 * by profd (used to find .gnu_debuglink files next to it). Returns 0 and a referenced module in
 * *ret, or -errno (-ENOEXEC: not ELF; -ENOSPC: cache full of referenced modules). */
int symmod_get_fd(int fd, const char *path, struct symmod **ret);
/* The module for an in-memory ELF image (the vDSO); image is always consumed (free()d). */
int symmod_get_image(void *image, size_t size, const char *name, struct symmod **ret);
struct symmod *symmod__ref(struct symmod *m);
void symmod__put(struct symmod *m); /* NULL-safe; at 0 references the module becomes evictable */

/* Lowercase hex GNU build id, "" if none. Borrowed, valid while referenced. */
const char *symmod__build_id(const struct symmod *m);
/* For a mapping of file offset off: the constant c with file_vaddr = (addr - start + off) + c.
 * Returns 0 or -ENOENT when no PT_LOAD segment covers off. */
int symmod__offset_to_vaddr(const struct symmod *m, uint64_t off, int64_t *ret_c);
/* Loads symbols and debug info (separate debug files, debuginfod). Idempotent. Returns 0 or
 * -errno (-ENOMEM also when the module does not fit the memory bound). */
int symmod__load(struct symmod *m);
/* Where a loaded module's DWARF came from: none, libdw's own loader (libdwfl: uncompressed,
 * debuginfod, dwz, split units), dwarfload's inflated image, or none because it would not fit the
 * cache bound (then functions come from the symbol table alone). */
enum symmod_dwarf { SYMMOD_DWARF_NONE, SYMMOD_DWARF_LIBDW, SYMMOD_DWARF_INFLATED, SYMMOD_DWARF_TOO_BIG };
enum symmod_dwarf symmod__dwarf_source(const struct symmod *m);
/* What the loaded module can answer (all false before a successful load). */
void symmod__flags(const struct symmod *m, bool *has_functions, bool *has_filenames, bool *has_lines,
		   bool *has_inlines);
/* Whether a loaded module's functions are named by nothing but .dynsym (no .symtab, no
 * .gnu_debugdata, no debug file or DWARF found): static functions are then named after their
 * .eh_frame range, "file+0xADDR". false before a successful load. */
bool symmod__lacks_symbols(const struct symmod *m);
/* Symbolizes file address vaddr: fills up to max frames callee first (func_start as file
 * addresses) and returns their number (0: unknown) or -errno. Strings are borrowed from m. */
int symmod__lookup(struct symmod *m, uint64_t vaddr, struct sym_frame *frames, int max);

#endif

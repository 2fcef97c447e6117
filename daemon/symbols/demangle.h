/* SPDX-License-Identifier: MIT */
/* Symbol demangling: C++ (Itanium ABI, through libstdc++'s __cxa_demangle), Rust legacy
 * (_ZN...17h<hash>E, hash dropped as binutils and rustc-demangle do) and Rust v0 (_R...), printed
 * the way binutils' addr2line -C prints them.
 * Pure functions, thread-safe. */
#ifndef PROFD_DEMANGLE_H
#define PROFD_DEMANGLE_H

#include <stddef.h>

/* Inputs longer than this are left mangled (bounds the demanglers' work). */
#define DEMANGLE_MAX_INPUT 4096

/* Returns the demangled form of sym in a malloc'd string (caller frees), or NULL when sym is not
 * a mangled name we understand, is malformed or too long, or memory ran out. */
char *demangle(const char *sym);
/* The Rust demanglers alone (exposed for tests): same contract as demangle(). */
char *demangle_rust_legacy(const char *sym);
char *demangle_rust_v0(const char *sym);

#endif

/* SPDX-License-Identifier: MIT */
/* Allocation-failure sweeps for unit tests: malloc, calloc, realloc and free are interposed so
 * that the Nth allocation fails (fail_after = N, counting from 0; -1 = none), and `live` counts
 * allocations not freed yet, `allocations` every attempt. Include it in one test file per
 * binary. Not under AddressSanitizer, which owns malloc and finds leaks itself: ALLOC_SWEEP
 * is defined only when the sweep is available. */
#ifndef PROFD_TEST_ALLOC_SWEEP_H
#define PROFD_TEST_ALLOC_SWEEP_H

#include <stdbool.h>
#include <stddef.h>

#ifndef __SANITIZE_ADDRESS__
#define ALLOC_SWEEP 1
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

static long fail_after = -1, live, allocations;

static bool alloc_fails(void)
{
	allocations++;
	return fail_after >= 0 && fail_after-- == 0;
}

void *malloc(size_t n)
{
	void *p = alloc_fails() ? NULL : __libc_malloc(n);

	live += p != NULL;
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p = alloc_fails() ? NULL : __libc_calloc(n, size);

	live += p != NULL;
	return p;
}

void *realloc(void *old, size_t n)
{
	void *p = alloc_fails() ? NULL : __libc_realloc(old, n);

	live += p != NULL && !old;
	return p;
}

void free(void *p)
{
	live -= p != NULL;
	__libc_free(p);
}
#endif

#endif
